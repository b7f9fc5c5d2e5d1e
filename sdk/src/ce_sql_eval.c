/*
 * ce_sql_eval.c — evaluation of a compiled CESQL expression against an event: implicit casts
 * (spec §3.7), operators, LIKE matching, fail-fast error propagation (spec §4.1).
 *
 * Every node returns a value and an error kind. When an operand fails, the node stops and
 * returns the zero value of its own type with that error, so the first error reaches the top
 * (fail-fast, what the TCK assumes). Nothing is allocated here except by string functions.
 */
#include "ce_internal.h"
#include "ce_sql_internal.h"

#include <string.h>

/* ---- UTF-8 ---- */

size_t ce_sql__utf8_next(const char *s, size_t len, size_t i)
{
    unsigned char b = (unsigned char)s[i];
    size_t n = b < 0x80 ? 1 : b < 0xC2 ? 0 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : b < 0xF5 ? 4 : 0;
    if (n <= 1 || len - i < n)
        return i + 1;
    for (size_t k = 1; k < n; k++)
        if (((unsigned char)s[i + k] & 0xC0) != 0x80)
            return i + 1;
    return i + n;
}

size_t ce_sql__utf8_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

size_t ce_sql__utf8_offset(const char *s, size_t len, size_t k)
{
    size_t i = 0;
    while (k && i < len) {
        i = ce_sql__utf8_next(s, len, i);
        k--;
    }
    return i;
}

bool ce_sql__utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char b = u[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if (b >= 0xC2 && b <= 0xDF)
            n = 2, cp = b & 0x1F, min = 0x80;
        else if (b >= 0xE0 && b <= 0xEF)
            n = 3, cp = b & 0x0F, min = 0x800;
        else if (b >= 0xF0 && b <= 0xF4)
            n = 4, cp = b & 0x07, min = 0x10000;
        else
            return false;
        if (len - i < n)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((u[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (u[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

/* ---- values and casts ---- */

void ce_sql_value_clear(ce_sql_value_t *v)
{
    if (!v)
        return;
    if (v->type == CE_SQL_STRING && v->owned)
        ce__free((void *)v->s);
    *v = (ce_sql_value_t){.type = CE_SQL_BOOLEAN};
}

ce_err_t ce_sql_value_set_string(ce_sql_value_t *v, const char *s, size_t len)
{
    char *copy = ce__malloc(len + 1);
    if (!copy)
        return CE_E_NOMEM;
    if (len)
        memcpy(copy, s, len);
    copy[len] = 0;
    *v = (ce_sql_value_t){.type = CE_SQL_STRING, .s = copy, .len = len, .owned = true};
    return CE_E_OK;
}

void ce_sql__zero(ce_sql_value_t *v, uint8_t type)
{
    if (type == CE_SQL_STRING)
        *v = (ce_sql_value_t){.type = CE_SQL_STRING, .s = "", .len = 0};
    else if (type == CE_SQL_INTEGER)
        *v = (ce_sql_value_t){.type = CE_SQL_INTEGER};
    else
        *v = (ce_sql_value_t){.type = CE_SQL_BOOLEAN};
}

/* Formats i in base 10 into buf (>= 12 bytes); returns the length. */
static size_t fmt_int(int32_t i, char *buf)
{
    char tmp[12];
    size_t n = 0, o = 0;
    uint32_t u = i < 0 ? (uint32_t)0 - (uint32_t)i : (uint32_t)i;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (i < 0)
        buf[o++] = '-';
    while (n)
        buf[o++] = tmp[--n];
    buf[o] = 0;
    return o;
}

ce_sql_err_kind_t ce_sql__cast(ce_sql_value_t *v, uint8_t to, char *numbuf)
{
    if (to == CE_SQL__ANY || v->type == to)
        return CE_SQL_ERR_NONE;
    switch (to) {
    case CE_SQL_STRING:
        if (v->type == CE_SQL_BOOLEAN) {
            bool b = v->b;
            *v = (ce_sql_value_t){
                .type = CE_SQL_STRING, .s = b ? "true" : "false", .len = b ? 4 : 5};
        } else {
            size_t n = fmt_int(v->i, numbuf);
            *v = (ce_sql_value_t){.type = CE_SQL_STRING, .s = numbuf, .len = n};
        }
        return CE_SQL_ERR_NONE;
    case CE_SQL_INTEGER:
        if (v->type == CE_SQL_BOOLEAN) {
            *v = (ce_sql_value_t){.type = CE_SQL_INTEGER, .i = v->b ? 1 : 0};
            return CE_SQL_ERR_NONE;
        } else {
            int32_t i = 0;
            bool ok = ce_sql__parse_int32(v->s, v->len, &i);
            ce_sql_value_clear(v);
            *v = (ce_sql_value_t){.type = CE_SQL_INTEGER, .i = ok ? i : 0};
            return ok ? CE_SQL_ERR_NONE : CE_SQL_ERR_CAST;
        }
    default: /* Boolean */
        if (v->type == CE_SQL_INTEGER) {
            *v = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = v->i != 0};
            return CE_SQL_ERR_NONE;
        } else {
            bool t = ce__ieq(v->s, v->len, "true"), f = ce__ieq(v->s, v->len, "false");
            ce_sql_value_clear(v);
            *v = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = t};
            return (t || f) ? CE_SQL_ERR_NONE : CE_SQL_ERR_CAST;
        }
    }
}

/* Two's-complement wrap of an int64 result to int32 (sdk-go's behaviour; no UB). */
static int32_t wrap32(int64_t v)
{
    uint32_t u = (uint32_t)(uint64_t)v;
    int32_t r;
    memcpy(&r, &u, sizeof r);
    return r;
}

static bool values_equal(const ce_sql_value_t *a, const ce_sql_value_t *b)
{
    switch (b->type) {
    case CE_SQL_BOOLEAN:
        return a->b == b->b;
    case CE_SQL_INTEGER:
        return a->i == b->i;
    default:
        return a->len == b->len && (a->len == 0 || memcmp(a->s, b->s, a->len) == 0);
    }
}

/* ---- LIKE ---- */

bool ce_sql__like_match(const ce_sql__node_t *n, const char *s, size_t len)
{
    const char *lit = n->like_lit;
    size_t L = n->like_lit_len;
    switch (n->like_kind) {
    case LIKE_EXACT:
        return len == L && (L == 0 || memcmp(s, lit, L) == 0);
    case LIKE_PREFIX:
        return len >= L && (L == 0 || memcmp(s, lit, L) == 0);
    case LIKE_SUFFIX:
        return len >= L && (L == 0 || memcmp(s + len - L, lit, L) == 0);
    case LIKE_CONTAINS:
        return L == 0 || (len >= L && memmem(s, len, lit, L) != NULL);
    default:
        break;
    }
    /*
     * Greedy matching with one backtrack point: on a mismatch, the last '%' takes one more
     * character and matching resumes after it. Literal runs compare bytes, which equals code
     * point comparison on valid UTF-8; '_' and the backtrack step advance one code point.
     * O(len * pattern) at worst, no recursion.
     */
    const ce_sql__like_item_t *it = n->like;
    size_t ni = n->nlike, pi = 0, ti = 0, star_pi = SIZE_MAX, star_ti = 0;
    for (;;) {
        if (pi < ni) {
            const ce_sql__like_item_t *x = &it[pi];
            if (x->kind == '%') {
                if (pi + 1 == ni)
                    return true; /* a trailing '%' takes the rest */
                star_pi = pi++;
                star_ti = ti;
                continue;
            }
            if (x->kind == '_') {
                if (ti < len) {
                    ti = ce_sql__utf8_next(s, len, ti);
                    pi++;
                    continue;
                }
            } else if (len - ti >= x->len && memcmp(s + ti, x->s, x->len) == 0) {
                ti += x->len;
                pi++;
                continue;
            }
        } else if (ti == len) {
            return true;
        }
        if (star_pi == SIZE_MAX || star_ti >= len)
            return false;
        star_ti = ce_sql__utf8_next(s, len, star_ti);
        ti = star_ti;
        pi = star_pi + 1;
    }
}

/* ---- evaluation ---- */

/* Casts only when the type differs (the common case needs no call). */
static inline ce_sql_err_kind_t cast_to(ce_sql_value_t *v, uint8_t to, char *numbuf)
{
    return (v->type == to || to == CE_SQL__ANY) ? CE_SQL_ERR_NONE : ce_sql__cast(v, to, numbuf);
}

/* Reads a String attribute directly: true with *s and *len set when n is an attribute that is
 * present and a String; *missing tells an absent one apart. */
static inline bool attr_string(const ce_sql__node_t *n, const ce_event_t *ev, const char **s,
                               size_t *len, bool *missing)
{
    const ce_value_t *v = ev ? ce_event_get(ev, n->name, n->name_len) : NULL;
    *missing = v == NULL;
    if (!v || v->type == CE_TYPE_INTEGER || v->type == CE_TYPE_BOOLEAN)
        return false;
    *s = v->str;
    *len = v->len;
    return true;
}

static ce_sql_err_kind_t eval(const ce_sql__node_t *n, const ce_event_t *ev, ce_sql_value_t *out);

/* Evaluates n and casts the value to `to`; on error *v is cleared. */
static ce_sql_err_kind_t eval_as(const ce_sql__node_t *n, const ce_event_t *ev, uint8_t to,
                                 ce_sql_value_t *v, char *numbuf)
{
    ce_sql_err_kind_t err = eval(n, ev, v);
    if (err == CE_SQL_ERR_NONE)
        err = cast_to(v, to, numbuf);
    if (err != CE_SQL_ERR_NONE)
        ce_sql_value_clear(v);
    return err;
}

/* True when p lies within [base, base + len]. */
static bool points_into(const char *p, const char *base, size_t len)
{
    return (uintptr_t)p >= (uintptr_t)base && (uintptr_t)p <= (uintptr_t)base + len;
}

#define CALL_STACK_ARGS 8

/* Not inlined: its argument arrays would otherwise bloat every frame of the recursive eval. */
static __attribute__((noinline)) ce_sql_err_kind_t
eval_call(const ce_sql__node_t *n, const ce_event_t *ev, ce_sql_value_t *out)
{
    const ce_sql__fn_t *fn = n->fn;
    ce_sql_value_t stack_args[CALL_STACK_ARGS];
    char stack_nb[CALL_STACK_ARGS][12];
    ce_sql_value_t *args = stack_args;
    char(*nb)[12] = stack_nb;
    size_t done = 0;
    ce_sql_err_kind_t err = CE_SQL_ERR_NONE;
    if (n->nkids > CALL_STACK_ARGS) {
        args = ce__malloc(n->nkids * sizeof *args);
        nb = ce__malloc(n->nkids * sizeof *nb);
        if (!args || !nb) {
            err = CE_SQL_ERR_GENERIC;
            goto fail;
        }
    }
    for (; done < n->nkids; done++) {
        uint8_t pt = done < fn->nfixed ? fn->params[done] : fn->var_type;
        err = eval_as(n->kids[done], ev, pt, &args[done], nb[done]);
        if (err != CE_SQL_ERR_NONE)
            goto fail;
    }
    ce_sql_value_t res;
    ce_sql__zero(&res, fn->ret);
    err = fn->fn(fn->ud, args, n->nkids, &res);
    if (err != CE_SQL_ERR_NONE && fn->user) {
        /* spec §3.5: a failing user function gives the zero value of its return type */
        ce_sql_value_clear(&res);
        ce_sql__zero(&res, fn->ret);
    } else if (err == CE_SQL_ERR_NONE && res.type != fn->ret) {
        char tmp[12];
        err = ce_sql__cast(&res, fn->ret, tmp);
        if (err == CE_SQL_ERR_NONE && res.s == tmp) {
            if (ce_sql_value_set_string(&res, tmp, res.len) != CE_E_OK)
                err = CE_SQL_ERR_GENERIC;
        }
        if (err != CE_SQL_ERR_NONE) {
            ce_sql_value_clear(&res);
            ce_sql__zero(&res, fn->ret);
        }
    }
    if (res.type == CE_SQL_STRING && !res.owned && res.len) {
        /* A view into an argument that dies with this call: copy it. */
        for (size_t k = 0; k < n->nkids; k++) {
            if (args[k].type == CE_SQL_STRING && (args[k].owned || args[k].s == nb[k]) &&
                points_into(res.s, args[k].s, args[k].len)) {
                if (ce_sql_value_set_string(&res, res.s, res.len) != CE_E_OK) {
                    ce_sql__zero(&res, fn->ret);
                    err = CE_SQL_ERR_GENERIC;
                }
                break;
            }
        }
    }
    for (size_t k = 0; k < n->nkids; k++)
        ce_sql_value_clear(&args[k]);
    if (args != stack_args) {
        ce__free(args);
        ce__free(nb);
    }
    *out = res;
    return err;
fail:
    for (size_t k = 0; k < done; k++)
        ce_sql_value_clear(&args[k]);
    if (args != stack_args)
        ce__free(args);
    if (nb != stack_nb)
        ce__free(nb);
    ce_sql__zero(out, n->stype);
    return err;
}

/*
 * Evaluates both operands of a binary node, left first (so an error on the left is the one
 * reported). On error both values are cleared.
 */
static ce_sql_err_kind_t eval_both(const ce_sql__node_t *n, const ce_event_t *ev, ce_sql_value_t *a,
                                   ce_sql_value_t *b)
{
    ce_sql_err_kind_t err = eval(n->a, ev, a);
    if (err) {
        ce_sql_value_clear(a);
        return err;
    }
    err = eval(n->b, ev, b);
    if (err) {
        ce_sql_value_clear(a);
        ce_sql_value_clear(b);
    }
    return err;
}

static ce_sql_err_kind_t eval(const ce_sql__node_t *n, const ce_event_t *ev, ce_sql_value_t *out)
{
    ce_sql_value_t a, b;
    char nba[12], nbb[12];
    ce_sql_err_kind_t err;

    switch ((ce_sql__kind_t)n->kind) {
    case N_LIT:
        *out = n->lit;
        return CE_SQL_ERR_NONE;

    case N_ATTR: {
        const ce_value_t *v = ev ? ce_event_get(ev, n->name, n->name_len) : NULL;
        if (!v) {
            ce_sql__zero(out, CE_SQL_BOOLEAN);
            return CE_SQL_ERR_MISSING_ATTRIBUTE;
        }
        if (v->type == CE_TYPE_INTEGER)
            *out = (ce_sql_value_t){.type = CE_SQL_INTEGER, .i = v->i};
        else if (v->type == CE_TYPE_BOOLEAN)
            *out = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = v->b};
        else
            *out = (ce_sql_value_t){.type = CE_SQL_STRING, .s = v->str, .len = v->len};
        return CE_SQL_ERR_NONE;
    }

    case N_EXISTS:
        *out = (ce_sql_value_t){.type = CE_SQL_BOOLEAN,
                                .b = ev && ce_event_get(ev, n->name, n->name_len) != NULL};
        return CE_SQL_ERR_NONE;

    case N_NOT:
        err = eval_as(n->a, ev, CE_SQL_BOOLEAN, &a, nba);
        if (err)
            goto fail;
        *out = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = !a.b};
        return CE_SQL_ERR_NONE;

    case N_NEG:
        err = eval_as(n->a, ev, CE_SQL_INTEGER, &a, nba);
        if (err)
            goto fail;
        *out = (ce_sql_value_t){.type = CE_SQL_INTEGER, .i = wrap32(-(int64_t)a.i)};
        return CE_SQL_ERR_NONE;

    case N_ARITH:
    case N_CMP: {
        /* Both operands are evaluated before any cast or division, so `1 / missing` reports
         * the missing attribute, not a division by zero (TCK). */
        if ((err = eval_both(n, ev, &a, &b)) != CE_SQL_ERR_NONE)
            goto fail;
        /* A cast to Integer frees an owned string; clear both in case the first cast failed. */
        err = cast_to(&a, CE_SQL_INTEGER, nba);
        if (!err)
            err = cast_to(&b, CE_SQL_INTEGER, nbb);
        if (err) {
            ce_sql_value_clear(&a);
            ce_sql_value_clear(&b);
            goto fail;
        }
        int64_t x = a.i, y = b.i, r = 0;
        if (n->kind == N_CMP) {
            bool c = n->op == '<' ? x < y : n->op == 'l' ? x <= y : n->op == '>' ? x > y : x >= y;
            *out = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = c};
            return CE_SQL_ERR_NONE;
        }
        switch (n->op) {
        case '+':
            r = x + y;
            break;
        case '-':
            r = x - y;
            break;
        case '*':
            r = x * y;
            break;
        case '/':
        case '%':
            if (y == 0) {
                err = CE_SQL_ERR_MATH;
                goto fail;
            }
            /* In int64, INT32_MIN / -1 is 2147483648 (wraps to INT32_MIN) and % -1 is 0:
             * no SIGFPE. C99 truncates toward zero; % takes the dividend's sign. */
            r = n->op == '/' ? x / y : x % y;
            break;
        }
        *out = (ce_sql_value_t){.type = CE_SQL_INTEGER, .i = wrap32(r)};
        return CE_SQL_ERR_NONE;
    }

    case N_EQ: {
        if (n->a->kind == N_ATTR && n->b->kind == N_LIT && n->b->lit.type == CE_SQL_STRING) {
            /* Fast path of `attr = 'literal'`: no value copies, no cast. */
            const char *s;
            size_t len;
            bool missing;
            if (attr_string(n->a, ev, &s, &len, &missing)) {
                bool eq = len == n->b->lit.len && (len == 0 || memcmp(s, n->b->lit.s, len) == 0);
                *out = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = eq != n->neg};
                return CE_SQL_ERR_NONE;
            }
            if (missing) {
                err = CE_SQL_ERR_MISSING_ATTRIBUTE;
                goto fail;
            }
        }
        if ((err = eval_both(n, ev, &a, &b)) != CE_SQL_ERR_NONE)
            goto fail;
        /* Ambiguous operator: the left side is cast to the right side's type (spec §3.7). */
        err = cast_to(&a, b.type, nba);
        bool eq = !err && values_equal(&a, &b);
        ce_sql_value_clear(&a);
        ce_sql_value_clear(&b);
        if (err)
            goto fail;
        *out = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = eq != n->neg};
        return CE_SQL_ERR_NONE;
    }

    case N_LOGIC: {
        err = eval_as(n->a, ev, CE_SQL_BOOLEAN, &a, nba);
        if (err)
            goto fail;
        /* AND and OR short-circuit (MUST); XOR always evaluates both sides. */
        if (n->op == 'a' && !a.b) {
            *out = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = false};
            return CE_SQL_ERR_NONE;
        }
        if (n->op == 'o' && a.b) {
            *out = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = true};
            return CE_SQL_ERR_NONE;
        }
        err = eval_as(n->b, ev, CE_SQL_BOOLEAN, &b, nbb);
        if (err)
            goto fail;
        bool r = n->op == 'x' ? a.b != b.b : b.b;
        *out = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = r};
        return CE_SQL_ERR_NONE;
    }

    case N_LIKE: {
        if (n->a->kind == N_ATTR) {
            const char *s;
            size_t len;
            bool missing;
            if (attr_string(n->a, ev, &s, &len, &missing)) {
                bool m = ce_sql__like_match(n, s, len);
                *out = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = m != n->neg};
                return CE_SQL_ERR_NONE;
            }
            if (missing) {
                err = CE_SQL_ERR_MISSING_ATTRIBUTE;
                goto fail;
            }
        }
        err = eval_as(n->a, ev, CE_SQL_STRING, &a, nba);
        if (err)
            goto fail;
        bool m = ce_sql__like_match(n, a.s, a.len);
        ce_sql_value_clear(&a);
        *out = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = m != n->neg};
        return CE_SQL_ERR_NONE;
    }

    case N_IN: {
        err = eval(n->a, ev, &a);
        if (err) {
            ce_sql_value_clear(&a);
            goto fail;
        }
        bool found = false;
        for (size_t k = 0; k < n->nkids && !found; k++) {
            const ce_sql__node_t *kid = n->kids[k];
            if (kid->kind == N_LIT && kid->lit.type == a.type) {
                found = values_equal(&kid->lit, &a); /* no copy, no cast */
                continue;
            }
            /* Each element is cast to the left side's type; the first match stops. */
            err = eval_as(kid, ev, a.type, &b, nbb);
            if (err) {
                ce_sql_value_clear(&a);
                goto fail;
            }
            found = values_equal(&b, &a);
            ce_sql_value_clear(&b);
        }
        ce_sql_value_clear(&a);
        *out = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = found != n->neg};
        return CE_SQL_ERR_NONE;
    }

    case N_CALL:
        return eval_call(n, ev, out);

    case N_NOFUNC:
        err = CE_SQL_ERR_MISSING_FUNCTION;
        goto fail;
    }
    err = CE_SQL_ERR_GENERIC;
fail:
    ce_sql__zero(out, n->stype);
    return err;
}

ce_sql_err_kind_t ce_sql_eval(const ce_sql_expr_t *expr, const ce_event_t *ev,
                              ce_sql_value_t *result)
{
    return eval(expr->root, ev, result);
}

bool ce_sql_matches(const ce_sql_expr_t *expr, const ce_event_t *ev)
{
    ce_sql_value_t v;
    ce_sql_err_kind_t err = eval(expr->root, ev, &v);
    bool ok = err == CE_SQL_ERR_NONE && v.type == CE_SQL_BOOLEAN && v.b;
    ce_sql_value_clear(&v);
    return ok;
}
