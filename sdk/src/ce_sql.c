/*
 * ce_sql.c — CESQL v1.0.0 lexer and parser: source text to an immutable expression tree.
 *
 * The lexer follows the ANTLR lexer of the spec (longest match, the sign belongs to an integer
 * literal, keywords case-insensitive); the parser is a precedence climber over the binding
 * strengths of spec §3.6, with AND/OR/XOR at one level grouped from the left (see ce_sql.h).
 */
#include "ce_internal.h"
#include "ce_sql_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- arena: every node and string of an expression lives in it ---- */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    max_align_t data[];
} chunk_t;

static void *arena_alloc(void **arena, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    chunk_t *c = *arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 4096 ? n : 4096;
        chunk_t *nc = ce__malloc(sizeof *nc + cap);
        if (!nc)
            return NULL;
        nc->next = c;
        nc->used = 0;
        nc->cap = cap;
        *arena = nc;
        c = nc;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(void *arena)
{
    chunk_t *c = arena;
    while (c) {
        chunk_t *next = c->next;
        ce__free(c);
        c = next;
    }
}

/* ---- lexer ---- */

typedef enum {
    T_EOF,
    T_INT,
    T_STR,
    T_WORD,
    T_LP,
    T_RP,
    T_COMMA,
    T_STAR,
    T_SLASH,
    T_PCT,
    T_PLUS,
    T_MINUS,
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_AND,
    T_OR,
    T_XOR,
    T_NOT,
    T_LIKE,
    T_EXISTS,
    T_IN,
    T_TRUE,
    T_FALSE,
} tok_kind_t;

typedef struct {
    uint8_t kind;
    size_t pos, len; /* span in the source */
    int32_t ival;
    bool has_digit, has_us, first_alpha;
} tok_t;

typedef struct {
    const char *src;
    size_t len;
    tok_t *toks;
    size_t ntoks, cap, i;
    void *arena;
    const ce_sql_funcs_t *funcs;
    ce_sql_parse_error_t *perr;
    bool failed, nomem;
    int depth;
    size_t mixed_logic; /* first AND/OR/XOR joining a different unparenthesised one */
} parser_t;

static void perr_set(parser_t *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void perr_set(parser_t *p, size_t pos, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    if (!p->perr)
        return;
    p->perr->position = pos;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->perr->message, sizeof p->perr->message, fmt, ap);
    va_end(ap);
}

static void nomem(parser_t *p)
{
    if (!p->failed) {
        perr_set(p, 0, "out of memory");
        p->nomem = true;
    }
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static const struct {
    const char *word;
    uint8_t kind;
} keywords[] = {
    {"and", T_AND},       {"or", T_OR}, {"xor", T_XOR},   {"not", T_NOT},     {"like", T_LIKE},
    {"exists", T_EXISTS}, {"in", T_IN}, {"true", T_TRUE}, {"false", T_FALSE},
};

static bool push_tok(parser_t *p, tok_t t)
{
    if (p->ntoks == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        tok_t *nt = ce__realloc(p->toks, cap * sizeof *nt);
        if (!nt) {
            nomem(p);
            return false;
        }
        p->toks = nt;
        p->cap = cap;
    }
    p->toks[p->ntoks++] = t;
    return true;
}

bool ce_sql__parse_int32(const char *s, size_t n, int32_t *out)
{
    bool neg = false;
    size_t i = 0;
    if (n && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return false;
    int64_t v = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
        if (v > (int64_t)INT32_MAX + 1)
            return false;
    }
    if (neg)
        v = -v;
    if (v < INT32_MIN || v > INT32_MAX)
        return false;
    *out = (int32_t)v;
    return true;
}

static bool lex(parser_t *p)
{
    const char *s = p->src;
    size_t n = p->len, i = 0;
    while (i < n) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            i++;
            continue;
        }
        tok_t t = {.pos = i};
        if (((c == '+' || c == '-') && i + 1 < n && is_digit(s[i + 1])) || is_digit(c) ||
            is_alpha(c) || c == '_') {
            /* An integer literal with its sign (longest match of the ANTLR lexer), or a word. */
            size_t j = i;
            bool sign = c == '+' || c == '-';
            if (sign)
                j++;
            while (j < n && (is_digit(s[j]) || is_alpha(s[j]) || s[j] == '_')) {
                if (is_digit(s[j]))
                    t.has_digit = true;
                else if (s[j] == '_')
                    t.has_us = true;
                j++;
            }
            bool digits_only = true;
            for (size_t k = sign ? i + 1 : i; k < j; k++)
                if (!is_digit(s[k]))
                    digits_only = false;
            if (sign && !digits_only) {
                /* "-10abc": the literal is "-10" and a word follows */
                j = i + 1;
                while (j < n && is_digit(s[j]))
                    j++;
                digits_only = true;
            }
            t.len = j - i;
            if (digits_only) {
                t.kind = T_INT;
                if (!ce_sql__parse_int32(s + i, t.len, &t.ival)) {
                    perr_set(p, i, "integer literal '%.*s' is outside the 32-bit range",
                             (int)(t.len > 40 ? 40 : t.len), s + i);
                    return false;
                }
            } else {
                t.kind = T_WORD;
                t.first_alpha = is_alpha(c);
                for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++)
                    if (ce__ieq(s + i, t.len, keywords[k].word))
                        t.kind = keywords[k].kind;
            }
            i = j;
        } else if (c == '\'' || c == '"') {
            size_t j = i + 1;
            for (;;) {
                if (j >= n) {
                    perr_set(p, i, "unterminated string literal");
                    return false;
                }
                if (s[j] == '\\') {
                    if (j + 1 >= n) {
                        perr_set(p, i, "unterminated string literal");
                        return false;
                    }
                    j += 2; /* any escape pair: only \' (\" in "...") unescapes, later */
                    continue;
                }
                if (s[j] == c)
                    break;
                j++;
            }
            t.kind = T_STR;
            t.len = j + 1 - i;
            i = j + 1;
        } else {
            t.len = 1;
            char d = i + 1 < n ? s[i + 1] : 0;
            switch (c) {
            case '(':
                t.kind = T_LP;
                break;
            case ')':
                t.kind = T_RP;
                break;
            case ',':
                t.kind = T_COMMA;
                break;
            case '*':
                t.kind = T_STAR;
                break;
            case '/':
                t.kind = T_SLASH;
                break;
            case '%':
                t.kind = T_PCT;
                break;
            case '+':
                t.kind = T_PLUS;
                break;
            case '-':
                t.kind = T_MINUS;
                break;
            case '=':
                t.kind = T_EQ;
                break;
            case '!':
                if (d != '=') {
                    perr_set(p, i, "unexpected character '!' (did you mean '!='?)");
                    return false;
                }
                t.kind = T_NE;
                t.len = 2;
                break;
            case '<':
                if (d == '=') {
                    t.kind = T_LE;
                    t.len = 2;
                } else if (d == '>') {
                    t.kind = T_NE;
                    t.len = 2;
                } else {
                    t.kind = T_LT;
                }
                break;
            case '>':
                if (d == '=') {
                    t.kind = T_GE;
                    t.len = 2;
                } else {
                    t.kind = T_GT;
                }
                break;
            default:
                if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f)
                    perr_set(p, i, "unexpected character '%c'", c);
                else
                    perr_set(p, i, "unexpected character (byte 0x%02x)", (unsigned char)c);
                return false;
            }
            i += t.len;
        }
        if (!push_tok(p, t))
            return false;
    }
    return push_tok(p, (tok_t){.kind = T_EOF, .pos = n});
}

/* ---- parser ---- */

enum { P_LOGIC = 1, P_CMP, P_ADD, P_MUL, P_IN, P_LIKE, P_UNARY };

static const tok_t *peek(parser_t *p)
{
    return &p->toks[p->i];
}

static const tok_t *peek2(parser_t *p)
{
    return &p->toks[p->i + 1 < p->ntoks ? p->i + 1 : p->i];
}

static const char *tok_desc(const tok_t *t)
{
    switch (t->kind) {
    case T_EOF:
        return "end of expression";
    case T_INT:
        return "integer literal";
    case T_STR:
        return "string literal";
    case T_WORD:
        return "identifier";
    case T_LP:
        return "'('";
    case T_RP:
        return "')'";
    case T_COMMA:
        return "','";
    case T_TRUE:
    case T_FALSE:
        return "boolean literal";
    default:
        return "operator";
    }
}

static void unexpected(parser_t *p, const tok_t *t, const char *wanted)
{
    if (t->kind == T_EOF)
        perr_set(p, t->pos, "unexpected end of expression, expected %s", wanted);
    else
        perr_set(p, t->pos, "unexpected %s '%.*s', expected %s", tok_desc(t),
                 (int)(t->len > 40 ? 40 : t->len), p->src + t->pos, wanted);
}

static ce_sql__node_t *new_node(parser_t *p, uint8_t kind, uint8_t stype, size_t pos)
{
    ce_sql__node_t *n = arena_alloc(&p->arena, sizeof *n);
    if (!n) {
        nomem(p);
        return NULL;
    }
    n->kind = kind;
    n->stype = stype;
    n->depth = 1;
    (void)pos;
    return n;
}

/* Sets n->depth from a child; fails when the tree grows deeper than CE_SQL_MAX_DEPTH. */
static bool add_child_depth(parser_t *p, ce_sql__node_t *n, const ce_sql__node_t *kid, size_t pos)
{
    if (kid->depth + 1 > n->depth)
        n->depth = (uint16_t)(kid->depth + 1);
    if (n->depth > CE_SQL_MAX_DEPTH) {
        perr_set(p, pos, "expression nested deeper than %d levels", CE_SQL_MAX_DEPTH);
        return false;
    }
    return true;
}

/* The value of a string literal token: quotes removed, \' (or \") unescaped, nothing else. */
static bool string_value(parser_t *p, const tok_t *t, const char **out, size_t *out_len)
{
    const char *s = p->src + t->pos;
    char q = s[0];
    size_t n = t->len - 2;
    char *buf = arena_alloc(&p->arena, n + 1);
    if (!buf) {
        nomem(p);
        return false;
    }
    size_t o = 0;
    for (size_t i = 1; i <= n; i++) {
        if (s[i] == '\\' && i + 1 <= n && s[i + 1] == q) {
            buf[o++] = q;
            i++;
        } else {
            buf[o++] = s[i];
        }
    }
    buf[o] = 0;
    *out = buf;
    *out_len = o;
    return true;
}

static bool compile_like(parser_t *p, ce_sql__node_t *n, const char *pat, size_t len)
{
    ce_sql__like_item_t *items = arena_alloc(&p->arena, (len + 1) * sizeof *items);
    char *lit = arena_alloc(&p->arena, len + 1);
    if (!items || !lit) {
        nomem(p);
        return false;
    }
    size_t ni = 0, o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = pat[i];
        uint8_t kind = 'l';
        if (c == '\\' && i + 1 < len && (pat[i + 1] == '%' || pat[i + 1] == '_')) {
            c = pat[++i];
        } else if (c == '%' || c == '_') {
            kind = (uint8_t)c;
        }
        if (kind == 'l') {
            if (ni && items[ni - 1].kind == 'l') {
                items[ni - 1].len++;
            } else {
                items[ni++] = (ce_sql__like_item_t){.kind = 'l', .s = lit + o, .len = 1};
            }
            lit[o++] = c;
        } else if (kind == '%' && ni && items[ni - 1].kind == '%') {
            continue; /* "%%" is "%" */
        } else {
            items[ni++] = (ce_sql__like_item_t){.kind = kind};
        }
    }
    n->like = items;
    n->nlike = ni;
    n->like_kind = LIKE_GENERAL;
#define K(i, k) (items[i].kind == (k))
    if (ni == 0) {
        n->like_kind = LIKE_EXACT;
        n->like_lit = "";
    } else if (ni == 1 && K(0, 'l')) {
        n->like_kind = LIKE_EXACT;
    } else if (ni == 1 && K(0, '%')) {
        n->like_kind = LIKE_PREFIX;
        n->like_lit = "";
    } else if (ni == 2 && K(0, 'l') && K(1, '%')) {
        n->like_kind = LIKE_PREFIX;
    } else if (ni == 2 && K(0, '%') && K(1, 'l')) {
        n->like_kind = LIKE_SUFFIX;
    } else if (ni == 3 && K(0, '%') && K(1, 'l') && K(2, '%')) {
        n->like_kind = LIKE_CONTAINS;
    }
#undef K
    if (n->like_kind != LIKE_GENERAL && !n->like_lit) {
        for (size_t i = 0; i < ni; i++)
            if (items[i].kind == 'l') {
                n->like_lit = items[i].s;
                n->like_lit_len = items[i].len;
            }
    }
    return true;
}

static ce_sql__node_t *parse_expr(parser_t *p, int minprec);

/* Parses "expr {, expr} )" after '(' into an arena array. Empty lists allowed when allow_empty. */
static bool parse_list(parser_t *p, bool allow_empty, ce_sql__node_t ***out, size_t *count,
                       size_t open_pos)
{
    ce_sql__node_t *stackbuf[16];
    ce_sql__node_t **tmp = stackbuf;
    size_t n = 0, cap = 16;
    bool ok = false;
    if (peek(p)->kind == T_EOF) {
        perr_set(p, open_pos, "unclosed '('");
        return false;
    }
    if (peek(p)->kind == T_RP) {
        if (!allow_empty) {
            perr_set(p, peek(p)->pos, "empty IN set: give at least one value");
            return false;
        }
        p->i++;
        *out = NULL;
        *count = 0;
        return true;
    }
    for (;;) {
        ce_sql__node_t *e = parse_expr(p, P_LOGIC);
        if (!e)
            goto done;
        if (n == cap) {
            size_t ncap = cap * 2;
            ce_sql__node_t **nt = ce__malloc(ncap * sizeof *nt);
            if (!nt) {
                nomem(p);
                goto done;
            }
            memcpy(nt, tmp, n * sizeof *nt);
            if (tmp != stackbuf)
                ce__free(tmp);
            tmp = nt;
            cap = ncap;
        }
        tmp[n++] = e;
        const tok_t *t = peek(p);
        if (t->kind == T_COMMA) {
            p->i++;
            continue;
        }
        if (t->kind == T_RP) {
            p->i++;
            break;
        }
        if (t->kind == T_EOF)
            perr_set(p, open_pos, "unclosed '(': expected ',' or ')' before the end");
        else
            unexpected(p, t, "',' or ')'");
        goto done;
    }
    ce_sql__node_t **arr = arena_alloc(&p->arena, n * sizeof *arr);
    if (!arr) {
        nomem(p);
        goto done;
    }
    memcpy(arr, tmp, n * sizeof *arr);
    *out = arr;
    *count = n;
    ok = true;
done:
    if (tmp != stackbuf)
        ce__free(tmp);
    return ok;
}

static bool valid_func_name(const tok_t *t)
{
    return t->first_alpha && !t->has_digit;
}

static ce_sql__node_t *parse_call(parser_t *p, const tok_t *name)
{
    size_t open_pos = peek(p)->pos;
    p->i++; /* '(' */
    if (!valid_func_name(name)) {
        perr_set(p, name->pos, "invalid function name '%.*s': letters and '_' only",
                 (int)(name->len > 40 ? 40 : name->len), p->src + name->pos);
        return NULL;
    }
    char *upper = arena_alloc(&p->arena, name->len + 1);
    if (!upper) {
        nomem(p);
        return NULL;
    }
    for (size_t k = 0; k < name->len; k++) {
        char c = p->src[name->pos + k];
        upper[k] = (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    ce_sql__node_t **args;
    size_t nargs;
    if (!parse_list(p, true, &args, &nargs, open_pos))
        return NULL;
    const ce_sql__fn_t *fn = ce_sql__builtin(upper, name->len, nargs);
    if (!fn && p->funcs)
        fn = ce_sql__user(p->funcs, upper, name->len, nargs);
    ce_sql__node_t *n;
    if (!fn) {
        /* Spec/TCK: a missing function or arity compiles and fails when evaluated. */
        n = new_node(p, N_NOFUNC, CE_SQL_BOOLEAN, name->pos);
    } else {
        n = new_node(p, N_CALL, fn->ret, name->pos);
        if (n) {
            ce_sql__fn_t *copy = arena_alloc(&p->arena, sizeof *copy);
            if (!copy) {
                nomem(p);
                return NULL;
            }
            *copy = *fn;
            copy->name = upper;
            n->fn = copy;
        }
    }
    if (!n)
        return NULL;
    n->name = upper;
    n->name_len = name->len;
    n->kids = args;
    n->nkids = nargs;
    for (size_t k = 0; k < nargs; k++)
        if (!add_child_depth(p, n, args[k], name->pos))
            return NULL;
    return n;
}

/* Attribute names are matched case-insensitively: folded to lower case (TCK: EXISTS SOURCE). */
static bool set_name(parser_t *p, ce_sql__node_t *n, const tok_t *id)
{
    char *lower = arena_alloc(&p->arena, id->len + 1);
    if (!lower) {
        nomem(p);
        return false;
    }
    for (size_t k = 0; k < id->len; k++)
        lower[k] = ce__lower(p->src[id->pos + k]);
    n->name = lower;
    n->name_len = id->len;
    return true;
}

static ce_sql__node_t *parse_prefix(parser_t *p)
{
    const tok_t *t = peek(p);
    ce_sql__node_t *n = NULL;
    switch (t->kind) {
    case T_INT:
        p->i++;
        n = new_node(p, N_LIT, CE_SQL_INTEGER, t->pos);
        if (n)
            n->lit = (ce_sql_value_t){.type = CE_SQL_INTEGER, .i = t->ival};
        return n;
    case T_TRUE:
    case T_FALSE:
        p->i++;
        n = new_node(p, N_LIT, CE_SQL_BOOLEAN, t->pos);
        if (n)
            n->lit = (ce_sql_value_t){.type = CE_SQL_BOOLEAN, .b = t->kind == T_TRUE};
        return n;
    case T_STR: {
        p->i++;
        n = new_node(p, N_LIT, CE_SQL_STRING, t->pos);
        if (!n)
            return NULL;
        n->lit.type = CE_SQL_STRING;
        if (!string_value(p, t, &n->lit.s, &n->lit.len))
            return NULL;
        return n;
    }
    case T_LP: {
        p->i++;
        ce_sql__node_t *e = parse_expr(p, P_LOGIC);
        if (!e)
            return NULL;
        if (peek(p)->kind != T_RP) {
            if (peek(p)->kind == T_EOF)
                perr_set(p, t->pos, "unclosed '('");
            else
                unexpected(p, peek(p), "')'");
            return NULL;
        }
        p->i++;
        e->paren = true;
        return e;
    }
    case T_NOT:
    case T_MINUS: {
        p->i++;
        /* The operand of a unary operator is a primary or another unary (spec §3.6). */
        ce_sql__node_t *e = parse_expr(p, P_UNARY);
        if (!e)
            return NULL;
        n = t->kind == T_NOT ? new_node(p, N_NOT, CE_SQL_BOOLEAN, t->pos)
                             : new_node(p, N_NEG, CE_SQL_INTEGER, t->pos);
        if (!n)
            return NULL;
        n->a = e;
        return add_child_depth(p, n, e, t->pos) ? n : NULL;
    }
    case T_EXISTS: {
        p->i++;
        const tok_t *id = peek(p);
        if (id->kind != T_WORD || id->has_us) {
            unexpected(p, id, "an attribute name after EXISTS");
            return NULL;
        }
        p->i++;
        n = new_node(p, N_EXISTS, CE_SQL_BOOLEAN, t->pos);
        return n && set_name(p, n, id) ? n : NULL;
    }
    case T_WORD: {
        p->i++;
        if (peek(p)->kind == T_LP)
            return parse_call(p, t);
        if (t->has_us) {
            perr_set(p, t->pos,
                     "invalid attribute name '%.*s': letters and digits only (or missing '(' "
                     "of a function call)",
                     (int)(t->len > 40 ? 40 : t->len), p->src + t->pos);
            return NULL;
        }
        n = new_node(p, N_ATTR, CE_SQL_BOOLEAN, t->pos);
        return n && set_name(p, n, t) ? n : NULL;
    }
    default:
        unexpected(p, t, "a value, an attribute, a function call, NOT, '-', EXISTS or '('");
        return NULL;
    }
}

static ce_sql__node_t *parse_expr(parser_t *p, int minprec)
{
    if (++p->depth > CE_SQL_MAX_DEPTH) {
        perr_set(p, peek(p)->pos, "expression nested deeper than %d levels", CE_SQL_MAX_DEPTH);
        return NULL;
    }
    ce_sql__node_t *left = parse_prefix(p);
    while (left) {
        const tok_t *t = peek(p);
        int prec;
        bool negated = false;
        uint8_t kind = 0, op = 0, stype = CE_SQL_BOOLEAN;
        switch (t->kind) {
        case T_AND:
            prec = P_LOGIC, kind = N_LOGIC, op = 'a';
            break;
        case T_OR:
            prec = P_LOGIC, kind = N_LOGIC, op = 'o';
            break;
        case T_XOR:
            prec = P_LOGIC, kind = N_LOGIC, op = 'x';
            break;
        case T_EQ:
            prec = P_CMP, kind = N_EQ;
            break;
        case T_NE:
            prec = P_CMP, kind = N_EQ, negated = true;
            break;
        case T_LT:
            prec = P_CMP, kind = N_CMP, op = '<';
            break;
        case T_LE:
            prec = P_CMP, kind = N_CMP, op = 'l';
            break;
        case T_GT:
            prec = P_CMP, kind = N_CMP, op = '>';
            break;
        case T_GE:
            prec = P_CMP, kind = N_CMP, op = 'g';
            break;
        case T_PLUS:
            prec = P_ADD, kind = N_ARITH, op = '+', stype = CE_SQL_INTEGER;
            break;
        case T_MINUS:
            prec = P_ADD, kind = N_ARITH, op = '-', stype = CE_SQL_INTEGER;
            break;
        case T_STAR:
            prec = P_MUL, kind = N_ARITH, op = '*', stype = CE_SQL_INTEGER;
            break;
        case T_SLASH:
            prec = P_MUL, kind = N_ARITH, op = '/', stype = CE_SQL_INTEGER;
            break;
        case T_PCT:
            prec = P_MUL, kind = N_ARITH, op = '%', stype = CE_SQL_INTEGER;
            break;
        case T_IN:
            prec = P_IN, kind = N_IN;
            break;
        case T_LIKE:
            prec = P_LIKE, kind = N_LIKE;
            break;
        case T_NOT:
            if (peek2(p)->kind == T_IN) {
                prec = P_IN, kind = N_IN, negated = true;
                break;
            }
            if (peek2(p)->kind == T_LIKE) {
                prec = P_LIKE, kind = N_LIKE, negated = true;
                break;
            }
            prec = 0;
            break;
        default:
            prec = 0;
            break;
        }
        if (prec == 0 || prec < minprec)
            break;
        p->i += (t->kind == T_NOT) ? 2 : 1;
        ce_sql__node_t *n = new_node(p, kind, stype, t->pos);
        if (!n)
            return NULL;
        n->op = op;
        n->neg = negated;
        n->a = left;
        if (!add_child_depth(p, n, left, t->pos))
            return NULL;
        if (kind == N_LIKE) {
            const tok_t *pt = peek(p);
            if (pt->kind != T_STR) {
                unexpected(p, pt, "a string literal pattern after LIKE");
                return NULL;
            }
            p->i++;
            const char *pat;
            size_t plen;
            if (!string_value(p, pt, &pat, &plen) || !compile_like(p, n, pat, plen))
                return NULL;
        } else if (kind == N_IN) {
            const tok_t *lp = peek(p);
            if (lp->kind != T_LP) {
                unexpected(p, lp, "'(' after IN");
                return NULL;
            }
            p->i++;
            if (!parse_list(p, false, &n->kids, &n->nkids, lp->pos))
                return NULL;
            for (size_t k = 0; k < n->nkids; k++)
                if (!add_child_depth(p, n, n->kids[k], t->pos))
                    return NULL;
        } else {
            /* Left-associative at every level, AND/OR/XOR included (spec §3.6 text). */
            ce_sql__node_t *right = parse_expr(p, prec + 1);
            if (!right)
                return NULL;
            n->b = right;
            if (kind == N_LOGIC && left->kind == N_LOGIC && !left->paren && left->op != op &&
                p->mixed_logic == SIZE_MAX)
                p->mixed_logic = t->pos;
            if (!add_child_depth(p, n, right, t->pos))
                return NULL;
        }
        left = n;
    }
    p->depth--;
    return left;
}

ce_err_t ce_sql_compile_with(const char *src, size_t len, const ce_sql_funcs_t *funcs,
                             ce_sql_expr_t **out, ce_sql_parse_error_t *perr)
{
    parser_t p = {.src = src, .len = len, .funcs = funcs, .perr = perr, .mixed_logic = SIZE_MAX};
    ce_sql_expr_t *e = NULL;
    if (perr) {
        perr->position = 0;
        perr->message[0] = 0;
    }
    if (!src && len) {
        perr_set(&p, 0, "no expression");
        goto fail;
    }
    if (!ce_sql__utf8_valid(src, len)) {
        size_t bad = 0;
        while (bad < len) {
            size_t nx = ce_sql__utf8_next(src, len, bad);
            if (!ce_sql__utf8_valid(src + bad, nx - bad))
                break;
            bad = nx;
        }
        perr_set(&p, bad, "invalid UTF-8");
        goto fail;
    }
    if (!lex(&p))
        goto fail;
    if (p.toks[0].kind == T_EOF) {
        perr_set(&p, 0, "empty expression");
        goto fail;
    }
    ce_sql__node_t *root = parse_expr(&p, P_LOGIC);
    if (!root)
        goto fail;
    if (peek(&p)->kind != T_EOF) {
        const tok_t *t = peek(&p);
        if (t->kind == T_INT && (p.src[t->pos] == '-' || p.src[t->pos] == '+'))
            perr_set(&p, t->pos,
                     "unexpected integer literal '%.*s' (a sign before a digit belongs to the "
                     "number: write '%c %.*s')",
                     (int)(t->len > 40 ? 40 : t->len), p.src + t->pos, p.src[t->pos],
                     (int)(t->len - 1 > 40 ? 40 : t->len - 1), p.src + t->pos + 1);
        else
            unexpected(&p, t, "an operator or the end of the expression");
        goto fail;
    }
    e = ce__malloc(sizeof *e);
    if (!e) {
        nomem(&p);
        goto fail;
    }
    e->root = root;
    e->arena = p.arena;
    e->mixed_logic = p.mixed_logic;
    ce__free(p.toks);
    *out = e;
    return CE_E_OK;
fail:
    ce__free(p.toks);
    arena_free(p.arena);
    return p.nomem ? CE_E_NOMEM : CE_E_PARSE;
}

ce_err_t ce_sql_compile(const char *src, size_t len, ce_sql_expr_t **out,
                        ce_sql_parse_error_t *perr)
{
    return ce_sql_compile_with(src, len, NULL, out, perr);
}

void ce_sql_free(ce_sql_expr_t *expr)
{
    if (!expr)
        return;
    arena_free(expr->arena);
    ce__free(expr);
}

size_t ce_sql_expr_mixed_logic(const ce_sql_expr_t *expr)
{
    return expr->mixed_logic;
}

ce_sql_type_t ce_sql_expr_type(const ce_sql_expr_t *expr)
{
    return (ce_sql_type_t)expr->root->stype;
}

const char *ce_sql_err_kind_name(ce_sql_err_kind_t kind)
{
    switch (kind) {
#define CE__SQL_ERR_NAME(name, tck)                                                                \
    case CE_SQL_ERR_##name:                                                                        \
        return tck;
        CE_SQL_ERR_MAP(CE__SQL_ERR_NAME)
#undef CE__SQL_ERR_NAME
    }
    return "unknown";
}
