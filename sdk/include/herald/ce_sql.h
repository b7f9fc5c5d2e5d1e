/*
 * ce_sql.h — CloudEvents SQL (CESQL) v1.0.0: compile an expression once, evaluate it against
 * many events.
 *
 * A compiled expression is immutable and may be shared between threads. Evaluation allocates
 * nothing unless a string function must build a new string. No I/O.
 */
#ifndef HERALD_CE_SQL_H
#define HERALD_CE_SQL_H

#include "herald/ce.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CESQL error kinds (spec §4): X(name, tck_name). */
#define CE_SQL_ERR_MAP(X)                                                                  \
    X(NONE, "none")                                                                        \
    X(PARSE, "parse")                                                                      \
    X(MATH, "math")                                                                        \
    X(CAST, "cast")                                                                        \
    X(MISSING_ATTRIBUTE, "missingAttribute")                                               \
    X(MISSING_FUNCTION, "missingFunction")                                                 \
    X(FUNCTION_EVALUATION, "functionEvaluation")                                           \
    X(GENERIC, "generic")

typedef enum {
#define CE__SQL_ERR_ENUM(name, tck) CE_SQL_ERR_##name,
    CE_SQL_ERR_MAP(CE__SQL_ERR_ENUM)
#undef CE__SQL_ERR_ENUM
} ce_sql_err_kind_t;

/* The TCK's name of an error kind ("missingAttribute"); never NULL. */
const char *ce_sql_err_kind_name(ce_sql_err_kind_t kind);

typedef enum { CE_SQL_BOOLEAN, CE_SQL_INTEGER, CE_SQL_STRING } ce_sql_type_t;

/*
 * A CESQL value. For CE_SQL_STRING, `s`/`len` is borrowed from the event or the expression, or
 * owned by the value when `owned` is set (free with ce_sql_value_clear).
 */
typedef struct {
    ce_sql_type_t type;
    bool b;
    int32_t i;
    const char *s;
    size_t len;
    bool owned;
} ce_sql_value_t;

/* Frees a string the value owns; leaves a Boolean false. Accepts NULL. */
void ce_sql_value_clear(ce_sql_value_t *v);

typedef struct ce_sql_expr ce_sql_expr_t;

/* Where and why parsing failed: byte offset into the source and a message. */
typedef struct {
    size_t position;
    char message[160];
} ce_sql_parse_error_t;

/*
 * Compiles `src` (`len` bytes). On success *out is a new expression (free with ce_sql_free).
 * Errors: CE_E_PARSE with perr filled (position and message), CE_E_NOMEM.
 */
ce_err_t ce_sql_compile(const char *src, size_t len, ce_sql_expr_t **out,
                        ce_sql_parse_error_t *perr);
/* Frees a compiled expression. Accepts NULL. */
void ce_sql_free(ce_sql_expr_t *expr);

/*
 * Evaluates `expr` against `ev` (fail-fast, spec §4.1). Always sets *result (the zero value of
 * the expression's type on error; clear it with ce_sql_value_clear) and returns the first error
 * kind, CE_SQL_ERR_NONE when there was none. Thread-safe for a shared expr.
 */
ce_sql_err_kind_t ce_sql_eval(const ce_sql_expr_t *expr, const ce_event_t *ev,
                              ce_sql_value_t *result);

/* Filter semantics: true only when the result is Boolean true with no error. */
bool ce_sql_matches(const ce_sql_expr_t *expr, const ce_event_t *ev);

#ifdef __cplusplus
}
#endif
#endif /* HERALD_CE_SQL_H */
