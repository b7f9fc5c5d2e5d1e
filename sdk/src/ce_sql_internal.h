/*
 * ce_sql_internal.h — the compiled form of a CESQL expression, shared by the parser
 * (ce_sql.c), the evaluator (ce_sql_eval.c) and the function library (ce_sql_func.c).
 * Not installed.
 */
#ifndef HERALD_CE_SQL_INTERNAL_H
#define HERALD_CE_SQL_INTERNAL_H

#include "herald/ce_sql.h"

#include <stddef.h>
#include <stdint.h>

/* Parameter type "any" (INT/BOOL/STRING take any type): no implicit cast. */
#define CE_SQL__ANY 3
/* Most parameters a function may declare. */
#define CE_SQL__MAX_PARAMS 16

typedef struct {
    const char *name; /* upper case, NUL-terminated */
    size_t name_len;
    ce_sql_fn_t fn;
    void *ud;
    uint8_t ret;                        /* ce_sql_type_t */
    uint8_t nfixed;                     /* fixed parameters */
    bool variadic;                      /* then any number of var_type */
    bool user;                          /* user-defined: an error gives the zero value */
    uint8_t var_type;                   /* ce_sql_type_t or CE_SQL__ANY */
    uint8_t params[CE_SQL__MAX_PARAMS]; /* nfixed entries */
} ce_sql__fn_t;

/* Looks up a built-in by upper-case name and arity; NULL when there is none. */
const ce_sql__fn_t *ce_sql__builtin(const char *name, size_t len, size_t arity);
/* True when some built-in has this (upper-case) name. */
bool ce_sql__builtin_name(const char *name, size_t len);
/* Looks up a user function by upper-case name and arity; NULL when there is none. */
const ce_sql__fn_t *ce_sql__user(const ce_sql_funcs_t *funcs, const char *name, size_t len,
                                 size_t arity);

typedef enum {
    N_LIT,
    N_ATTR,
    N_EXISTS,
    N_NOT,
    N_NEG,
    N_ARITH,  /* op: '*', '/', '%', '+', '-' */
    N_CMP,    /* op: '<', 'l' (<=), '>', 'g' (>=) */
    N_EQ,     /* neg: != / <> */
    N_LOGIC,  /* op: 'a', 'o', 'x' */
    N_LIKE,   /* neg: NOT LIKE */
    N_IN,     /* neg: NOT IN */
    N_CALL,   /* fn resolved */
    N_NOFUNC, /* unknown function or arity: false + missingFunction */
} ce_sql__kind_t;

/* One item of a compiled LIKE pattern. */
typedef struct {
    uint8_t kind; /* 'l' literal run, '_' one code point, '%' any run */
    const char *s;
    size_t len;
} ce_sql__like_item_t;

typedef enum {
    LIKE_GENERAL,
    LIKE_EXACT,
    LIKE_PREFIX,
    LIKE_SUFFIX,
    LIKE_CONTAINS
} ce_sql__like_kind_t;

typedef struct ce_sql__node ce_sql__node_t;
struct ce_sql__node {
    uint8_t kind; /* ce_sql__kind_t */
    uint8_t op;
    uint8_t stype; /* static result type; Boolean for attributes and missing functions */
    bool neg;
    bool paren;            /* written in parentheses */
    uint16_t depth;        /* height of the subtree, bounded by CE_SQL_MAX_DEPTH */
    ce_sql__node_t *a, *b; /* operands */
    ce_sql_value_t lit;    /* N_LIT (string borrowed from the expression's arena) */
    const char *name;      /* N_ATTR, N_EXISTS (lower case); N_NOFUNC (upper case) */
    size_t name_len;
    ce_sql__node_t **kids; /* N_IN items, N_CALL arguments */
    size_t nkids;
    const ce_sql__fn_t *fn;    /* N_CALL (copy in the arena) */
    ce_sql__like_item_t *like; /* N_LIKE */
    size_t nlike;
    uint8_t like_kind;    /* ce_sql__like_kind_t */
    const char *like_lit; /* the literal of EXACT/PREFIX/SUFFIX/CONTAINS */
    size_t like_lit_len;
};

struct ce_sql_expr {
    ce_sql__node_t *root;
    size_t mixed_logic; /* ce_sql_expr_mixed_logic() */
    void *arena;        /* chunk list, freed with the expression */
};

/* LIKE matching of s[0..len) against a compiled pattern (anchored, by code point). */
bool ce_sql__like_match(const ce_sql__node_t *n, const char *s, size_t len);

/*
 * Parses [+-]?[0-9]+ at s[0..n) (borrowed) as an int32: integer literals (ce_sql.c) and the
 * String → Integer cast (ce_sql_eval.c) share it. False on anything else or out of range.
 */
bool ce_sql__parse_int32(const char *s, size_t n, int32_t *out);

/* UTF-8 helpers (robust on invalid input: an invalid byte counts as one character). */
size_t ce_sql__utf8_next(const char *s, size_t len, size_t i);
size_t ce_sql__utf8_count(const char *s, size_t len);
/* Byte offset of the k-th character (k clamped to the length). */
size_t ce_sql__utf8_offset(const char *s, size_t len, size_t k);
bool ce_sql__utf8_valid(const char *s, size_t len);

/* Casts *v in place to `to` (a ce_sql_type_t); numbuf (>= 12 bytes) backs Integer→String. */
ce_sql_err_kind_t ce_sql__cast(ce_sql_value_t *v, uint8_t to, char *numbuf);
/* Zero value of a type. */
void ce_sql__zero(ce_sql_value_t *v, uint8_t type);

#endif /* HERALD_CE_SQL_INTERNAL_H */
