/*
 * ce_sql_func.c — CESQL built-in functions (spec §3.5 plus INT/BOOL/STRING) and the registry of
 * user-defined functions.
 *
 * Built-ins get arguments already cast to their parameter types. String results are views into
 * an argument whenever possible (TRIM, LEFT, RIGHT, SUBSTRING, unchanged LOWER/UPPER); the
 * evaluator copies a view that would outlive its argument. Positions count code points.
 */
#include "ce_internal.h"
#include "ce_sql_internal.h"

#include <string.h>

#define S CE_SQL_STRING
#define I CE_SQL_INTEGER
#define B CE_SQL_BOOLEAN
#define A CE_SQL__ANY

static void view(ce_sql_value_t *out, const char *s, size_t len)
{
    *out = (ce_sql_value_t){.type = CE_SQL_STRING, .s = s, .len = len};
}

/* Decodes the code point at s[i] (valid UTF-8 assumed; an invalid byte decodes as itself). */
static uint32_t decode(const char *s, size_t len, size_t i, size_t *next)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t e = ce_sql__utf8_next(s, len, i);
    *next = e;
    switch (e - i) {
    case 2:
        return ((uint32_t)(u[i] & 0x1F) << 6) | (u[i + 1] & 0x3F);
    case 3:
        return ((uint32_t)(u[i] & 0x0F) << 12) | ((uint32_t)(u[i + 1] & 0x3F) << 6) |
               (u[i + 2] & 0x3F);
    case 4:
        return ((uint32_t)(u[i] & 0x07) << 18) | ((uint32_t)(u[i + 1] & 0x3F) << 12) |
               ((uint32_t)(u[i + 2] & 0x3F) << 6) | (u[i + 3] & 0x3F);
    default:
        return u[i];
    }
}

static size_t encode(uint32_t c, char *o)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | (c >> 6));
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | (c >> 12));
        o[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (c >> 18));
    o[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Simple case mappings of ASCII, Latin-1, Latin Extended-A, basic Greek and Cyrillic. None of
 * them makes the UTF-8 form longer. */
static uint32_t to_lower(uint32_t c)
{
    if (c < 0x80)
        return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
        return c + 32;
    if (c == 0x130)
        return 'i';
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return (c % 2 == 0) ? c + 1 : c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return (c % 2 == 1) ? c + 1 : c;
    if (c == 0x178)
        return 0xFF;
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2)
        return c + 32;
    if (c >= 0x410 && c <= 0x42F)
        return c + 32;
    if (c >= 0x400 && c <= 0x40F)
        return c + 80;
    return c;
}

static uint32_t to_upper(uint32_t c)
{
    if (c < 0x80)
        return (c >= 'a' && c <= 'z') ? c - 32 : c;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7)
        return c - 32;
    if (c == 0xFF)
        return 0x178;
    if (c == 0xB5)
        return 0x39C;
    if (c == 0x131)
        return 'I';
    if (c == 0x17F)
        return 'S';
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
        return (c % 2 == 1) ? c - 1 : c;
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
        return (c % 2 == 0) ? c - 1 : c;
    if (c >= 0x3B1 && c <= 0x3C9)
        return c == 0x3C2 ? 0x3A3 : c - 32;
    if (c >= 0x430 && c <= 0x44F)
        return c - 32;
    if (c >= 0x450 && c <= 0x45F)
        return c - 80;
    return c;
}

static ce_sql_err_kind_t map_case(const ce_sql_value_t *s, ce_sql_value_t *out,
                                  uint32_t (*map)(uint32_t))
{
    size_t i = 0, next;
    while (i < s->len && map(decode(s->s, s->len, i, &next)) == decode(s->s, s->len, i, &next))
        i = next;
    if (i == s->len) {
        view(out, s->s, s->len); /* unchanged: no allocation */
        return CE_SQL_ERR_NONE;
    }
    char *buf = ce__malloc(s->len + 1);
    if (!buf)
        return CE_SQL_ERR_GENERIC;
    memcpy(buf, s->s, i);
    size_t o = i;
    while (i < s->len) {
        size_t start = i;
        uint32_t c = decode(s->s, s->len, i, &next);
        if (next - start == 1 && (unsigned char)s->s[start] >= 0x80) {
            buf[o++] = s->s[start]; /* invalid byte: keep */
        } else {
            o += encode(map(c), buf + o);
        }
        i = next;
    }
    buf[o] = 0;
    *out = (ce_sql_value_t){.type = CE_SQL_STRING, .s = buf, .len = o, .owned = true};
    return CE_SQL_ERR_NONE;
}

static ce_sql_err_kind_t f_lower(void *ud, const ce_sql_value_t *a, size_t n, ce_sql_value_t *out)
{
    (void)ud, (void)n;
    return map_case(&a[0], out, to_lower);
}

static ce_sql_err_kind_t f_upper(void *ud, const ce_sql_value_t *a, size_t n, ce_sql_value_t *out)
{
    (void)ud, (void)n;
    return map_case(&a[0], out, to_upper);
}

static ce_sql_err_kind_t f_length(void *ud, const ce_sql_value_t *a, size_t n, ce_sql_value_t *out)
{
    (void)ud, (void)n;
    size_t c = ce_sql__utf8_count(a[0].s, a[0].len);
    *out = (ce_sql_value_t){.type = CE_SQL_INTEGER, .i = c > INT32_MAX ? INT32_MAX : (int32_t)c};
    return CE_SQL_ERR_NONE;
}

/* Joins items with sep between them. */
static ce_sql_err_kind_t join(const char *sep, size_t seplen, const ce_sql_value_t *items, size_t n,
                              ce_sql_value_t *out)
{
    if (n == 0) {
        view(out, "", 0);
        return CE_SQL_ERR_NONE;
    }
    if (n == 1) {
        view(out, items[0].s, items[0].len);
        return CE_SQL_ERR_NONE;
    }
    size_t total = seplen * (n - 1);
    for (size_t k = 0; k < n; k++)
        total += items[k].len;
    char *buf = ce__malloc(total + 1);
    if (!buf)
        return CE_SQL_ERR_GENERIC;
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        if (k && seplen) {
            memcpy(buf + o, sep, seplen);
            o += seplen;
        }
        if (items[k].len)
            memcpy(buf + o, items[k].s, items[k].len);
        o += items[k].len;
    }
    buf[o] = 0;
    *out = (ce_sql_value_t){.type = CE_SQL_STRING, .s = buf, .len = o, .owned = true};
    return CE_SQL_ERR_NONE;
}

static ce_sql_err_kind_t f_concat(void *ud, const ce_sql_value_t *a, size_t n, ce_sql_value_t *out)
{
    (void)ud;
    return join("", 0, a, n, out);
}

static ce_sql_err_kind_t f_concat_ws(void *ud, const ce_sql_value_t *a, size_t n,
                                     ce_sql_value_t *out)
{
    (void)ud;
    return join(a[0].s, a[0].len, a + 1, n - 1, out);
}

/* Unicode White_Space (PropList.txt). */
static bool is_white(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static ce_sql_err_kind_t f_trim(void *ud, const ce_sql_value_t *a, size_t n, ce_sql_value_t *out)
{
    (void)ud, (void)n;
    const char *s = a[0].s;
    size_t len = a[0].len, b = 0, e = len, next;
    while (b < len && is_white(decode(s, len, b, &next)))
        b = next;
    while (e > b) {
        size_t p = e - 1;
        while (p > b && ((unsigned char)s[p] & 0xC0) == 0x80)
            p--;
        if (ce_sql__utf8_next(s, len, p) != e || !is_white(decode(s, len, p, &next)))
            break;
        e = p;
    }
    view(out, s + b, e - b);
    return CE_SQL_ERR_NONE;
}

static ce_sql_err_kind_t f_left(void *ud, const ce_sql_value_t *a, size_t n, ce_sql_value_t *out)
{
    (void)ud, (void)n;
    if (a[1].i < 0) {
        view(out, a[0].s, a[0].len); /* TCK: the string itself + functionEvaluation */
        return CE_SQL_ERR_FUNCTION_EVALUATION;
    }
    view(out, a[0].s, ce_sql__utf8_offset(a[0].s, a[0].len, (size_t)a[1].i));
    return CE_SQL_ERR_NONE;
}

static ce_sql_err_kind_t f_right(void *ud, const ce_sql_value_t *a, size_t n, ce_sql_value_t *out)
{
    (void)ud, (void)n;
    if (a[1].i < 0) {
        view(out, a[0].s, a[0].len);
        return CE_SQL_ERR_FUNCTION_EVALUATION;
    }
    size_t count = ce_sql__utf8_count(a[0].s, a[0].len);
    if ((size_t)a[1].i >= count) {
        view(out, a[0].s, a[0].len);
        return CE_SQL_ERR_NONE;
    }
    size_t off = ce_sql__utf8_offset(a[0].s, a[0].len, count - (size_t)a[1].i);
    view(out, a[0].s + off, a[0].len - off);
    return CE_SQL_ERR_NONE;
}

/*
 * SUBSTRING(s, pos[, len]): pos counts from 1, or from the end when negative; pos 0 gives ""
 * with no error; |pos| beyond the length, or len < 0, gives "" + functionEvaluation; a len past
 * the end is clamped.
 */
static ce_sql_err_kind_t f_substring(void *ud, const ce_sql_value_t *a, size_t n,
                                     ce_sql_value_t *out)
{
    (void)ud;
    const char *s = a[0].s;
    size_t len = a[0].len;
    int64_t count = (int64_t)ce_sql__utf8_count(s, len), pos = a[1].i;
    view(out, "", 0);
    if (pos == 0)
        return CE_SQL_ERR_NONE;
    if (pos > count || pos < -count)
        return CE_SQL_ERR_FUNCTION_EVALUATION;
    int64_t start = pos > 0 ? pos - 1 : count + pos, end = count;
    if (n == 3) {
        if (a[2].i < 0)
            return CE_SQL_ERR_FUNCTION_EVALUATION;
        if (start + a[2].i < end)
            end = start + a[2].i;
    }
    size_t b = ce_sql__utf8_offset(s, len, (size_t)start);
    size_t e = b + ce_sql__utf8_offset(s + b, len - b, (size_t)(end - start));
    view(out, s + b, e - b);
    return CE_SQL_ERR_NONE;
}

static ce_sql_err_kind_t f_abs(void *ud, const ce_sql_value_t *a, size_t n, ce_sql_value_t *out)
{
    (void)ud, (void)n;
    if (a[0].i == INT32_MIN) {
        *out = (ce_sql_value_t){.type = CE_SQL_INTEGER, .i = INT32_MAX}; /* spec: + MathError */
        return CE_SQL_ERR_MATH;
    }
    *out = (ce_sql_value_t){.type = CE_SQL_INTEGER, .i = a[0].i < 0 ? -a[0].i : a[0].i};
    return CE_SQL_ERR_NONE;
}

static ce_sql_err_kind_t cast_fn(const ce_sql_value_t *a, uint8_t to, ce_sql_value_t *out)
{
    char nb[12];
    ce_sql_value_t v = a[0];
    v.owned = false; /* the argument keeps ownership */
    ce_sql_err_kind_t err = ce_sql__cast(&v, to, nb);
    if (err != CE_SQL_ERR_NONE) {
        ce_sql__zero(out, to);
        return err;
    }
    if (v.type == CE_SQL_STRING && v.s == nb)
        return ce_sql_value_set_string(out, nb, v.len) == CE_E_OK ? CE_SQL_ERR_NONE
                                                                  : CE_SQL_ERR_GENERIC;
    *out = v;
    return CE_SQL_ERR_NONE;
}

static ce_sql_err_kind_t f_int(void *ud, const ce_sql_value_t *a, size_t n, ce_sql_value_t *out)
{
    (void)ud, (void)n;
    return cast_fn(a, CE_SQL_INTEGER, out);
}

static ce_sql_err_kind_t f_bool(void *ud, const ce_sql_value_t *a, size_t n, ce_sql_value_t *out)
{
    (void)ud, (void)n;
    return cast_fn(a, CE_SQL_BOOLEAN, out);
}

static ce_sql_err_kind_t f_string(void *ud, const ce_sql_value_t *a, size_t n, ce_sql_value_t *out)
{
    (void)ud, (void)n;
    return cast_fn(a, CE_SQL_STRING, out);
}

#define FN(nm, f, r, nf, va, vt, ...)                                                              \
    {                                                                                              \
        .name = nm, .name_len = sizeof nm - 1, .fn = f, .ret = r, .nfixed = nf, .variadic = va,    \
        .var_type = vt, .params = {                                                                \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

static const ce_sql__fn_t builtins[] = {
    FN("LENGTH", f_length, I, 1, false, 0, S),
    FN("CONCAT", f_concat, S, 0, true, S, 0),
    FN("CONCAT_WS", f_concat_ws, S, 1, true, S, S),
    FN("LOWER", f_lower, S, 1, false, 0, S),
    FN("UPPER", f_upper, S, 1, false, 0, S),
    FN("TRIM", f_trim, S, 1, false, 0, S),
    FN("LEFT", f_left, S, 2, false, 0, S, I),
    FN("RIGHT", f_right, S, 2, false, 0, S, I),
    FN("SUBSTRING", f_substring, S, 2, false, 0, S, I),
    FN("SUBSTRING", f_substring, S, 3, false, 0, S, I, I),
    FN("ABS", f_abs, I, 1, false, 0, I),
    FN("INT", f_int, I, 1, false, 0, A),
    FN("BOOL", f_bool, B, 1, false, 0, A),
    FN("STRING", f_string, S, 1, false, 0, A),
};

/* Overload resolution (spec §3.5): an exact fixed arity first, else the variadic overload. */
static const ce_sql__fn_t *resolve(const ce_sql__fn_t *fns, size_t count, const char *name,
                                   size_t len, size_t arity)
{
    const ce_sql__fn_t *var = NULL;
    for (size_t k = 0; k < count; k++) {
        const ce_sql__fn_t *f = &fns[k];
        if (f->name_len != len || memcmp(f->name, name, len) != 0)
            continue;
        if (!f->variadic && f->nfixed == arity)
            return f;
        if (f->variadic && arity >= f->nfixed)
            var = f;
    }
    return var;
}

const ce_sql__fn_t *ce_sql__builtin(const char *name, size_t len, size_t arity)
{
    return resolve(builtins, sizeof builtins / sizeof builtins[0], name, len, arity);
}

bool ce_sql__builtin_name(const char *name, size_t len)
{
    for (size_t k = 0; k < sizeof builtins / sizeof builtins[0]; k++)
        if (builtins[k].name_len == len && memcmp(builtins[k].name, name, len) == 0)
            return true;
    return false;
}

/* ---- user-defined functions ---- */

struct ce_sql_funcs {
    ce_sql__fn_t *fns;
    size_t count, cap;
};

ce_sql_funcs_t *ce_sql_funcs_new(void)
{
    ce_sql_funcs_t *f = ce__malloc(sizeof *f);
    if (f)
        *f = (ce_sql_funcs_t){0};
    return f;
}

void ce_sql_funcs_free(ce_sql_funcs_t *funcs)
{
    if (!funcs)
        return;
    for (size_t k = 0; k < funcs->count; k++)
        ce__free((void *)funcs->fns[k].name);
    ce__free(funcs->fns);
    ce__free(funcs);
}

const ce_sql__fn_t *ce_sql__user(const ce_sql_funcs_t *funcs, const char *name, size_t len,
                                 size_t arity)
{
    return resolve(funcs->fns, funcs->count, name, len, arity);
}

ce_err_t ce_sql_funcs_add(ce_sql_funcs_t *funcs, const char *name, ce_sql_type_t ret,
                          const ce_sql_type_t *params, size_t nparams, bool variadic,
                          ce_sql_fn_t fn, void *ud)
{
    if (!funcs || !name || !fn || nparams > CE_SQL__MAX_PARAMS || (variadic && nparams == 0) ||
        (nparams && !params) || (unsigned)ret > CE_SQL_STRING)
        return CE_E_ARG;
    size_t len = strlen(name);
    if (len == 0 || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
        return CE_E_NAME;
    char upper[64];
    if (len >= sizeof upper)
        return CE_E_NAME;
    for (size_t k = 0; k < len; k++) {
        char c = name[k];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 32);
        else if (!((c >= 'A' && c <= 'Z') || c == '_'))
            return CE_E_NAME;
        upper[k] = c;
    }
    upper[len] = 0;
    if (ce_sql__builtin_name(upper, len))
        return CE_E_DUPLICATE;
    size_t nfixed = variadic ? nparams - 1 : nparams;
    for (size_t k = 0; k < nparams; k++)
        if ((unsigned)params[k] > CE_SQL_STRING)
            return CE_E_ARG;
    /* spec §3.5: one variadic overload, with more fixed arguments than any other overload */
    for (size_t k = 0; k < funcs->count; k++) {
        const ce_sql__fn_t *o = &funcs->fns[k];
        if (o->name_len != len || memcmp(o->name, upper, len) != 0)
            continue;
        if (variadic && o->variadic)
            return CE_E_ARG;
        if (!variadic && !o->variadic && o->nfixed == nfixed)
            return CE_E_DUPLICATE;
        if ((variadic && o->nfixed >= nfixed) || (o->variadic && nfixed >= o->nfixed))
            return CE_E_ARG;
    }
    if (funcs->count == funcs->cap) {
        size_t cap = funcs->cap ? funcs->cap * 2 : 8;
        ce_sql__fn_t *nf = ce__realloc(funcs->fns, cap * sizeof *nf);
        if (!nf)
            return CE_E_NOMEM;
        funcs->fns = nf;
        funcs->cap = cap;
    }
    char *nm = ce__strndup(upper, len);
    if (!nm)
        return CE_E_NOMEM;
    ce_sql__fn_t *f = &funcs->fns[funcs->count++];
    *f = (ce_sql__fn_t){.name = nm,
                        .name_len = len,
                        .fn = fn,
                        .ud = ud,
                        .ret = (uint8_t)ret,
                        .nfixed = (uint8_t)nfixed,
                        .variadic = variadic,
                        .user = true};
    for (size_t k = 0; k < nfixed; k++)
        f->params[k] = (uint8_t)params[k];
    if (variadic)
        f->var_type = (uint8_t)params[nparams - 1];
    return CE_E_OK;
}
