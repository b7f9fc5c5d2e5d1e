/*
 * ce_sql.h — CloudEvents SQL (CESQL) v1.0.0: compile an expression once, evaluate it against
 * many events.
 *
 * A compiled expression is immutable and may be shared between threads. Evaluation allocates
 * nothing unless a string function must build a new string. No I/O.
 *
 * Choices where the spec is silent or the SDKs disagree (sdk/CESQL.md says the same, with
 * examples):
 *  - AND, OR and XOR share one precedence level and group from the LEFT, as the normative text
 *    of spec §3.6 says: `a AND b OR c` is `(a AND b) OR c`. (The .g4 grammar marks the rule
 *    right-associative and sdk-go/sdk-java parse `a AND (b OR c)`; with a=false, c=true we give
 *    true, they give false.) Parenthesise mixed chains to be portable.
 *  - AND and OR short-circuit (the right side is not evaluated, so raises no error); XOR always
 *    evaluates both sides. Evaluation is fail-fast (spec §4.1): the first error stops it.
 *  - Integer overflow wraps (two's complement, computed in int64 and truncated, as sdk-go):
 *    2147483647 + 1 = -2147483648, -(-2147483648) = -2147483648, INT32_MIN / -1 = INT32_MIN,
 *    INT32_MIN % -1 = 0. Only ABS(-2147483648) raises an error (2147483647 + math, spec).
 *    Division and modulo by zero give 0 + math; `/` truncates toward zero, `%` takes the sign
 *    of the dividend.
 *  - Integer literals follow the ANTLR lexer: the sign belongs to the literal when a digit
 *    follows it directly, so `4-1` is two literals in a row (parse error) while `4 - 1` is 3,
 *    `--10` is -(-10) and `-2147483648` is one literal. Literals outside int32: parse error.
 *  - Keywords, TRUE/FALSE and function names are case-insensitive; attribute names are folded
 *    to lower case (`EXISTS SOURCE` is `EXISTS source`). AND OR XOR NOT LIKE EXISTS IN TRUE
 *    FALSE are reserved. Attribute names are [A-Za-z0-9]+, function names [A-Za-z][A-Za-z_]*.
 *  - String literals: '...' or "..."; the only escape is \' inside '...' (\" inside "...");
 *    any other backslash stays, with the character after it ('ab\c' is 4 characters).
 *    Doubled quotes ('it''s') are not an escape. In LIKE patterns \% and \_ are literal, a
 *    backslash before anything else is a literal backslash; matching is anchored.
 *  - Strings are UTF-8 and handled by code point (LENGTH, LEFT, RIGHT, SUBSTRING, LIKE `_`).
 *    An expression that is not valid UTF-8 is a parse error.
 *  - LOWER/UPPER map ASCII, Latin-1 Supplement, Latin Extended-A, basic Greek (U+0391-U+03A9,
 *    U+03B1-U+03C9, final sigma) and basic Cyrillic (U+0400-U+045F) by simple (1:1) case
 *    mapping; every other character is left as is (ß stays ß).
 *  - TRIM removes the Unicode White_Space characters U+0009-000D, 0020, 0085, 00A0, 1680,
 *    2000-200A, 2028, 2029, 202F, 205F, 3000 at both ends.
 *  - IN casts each element to the type of the left operand, in order, and stops at the first
 *    match; an element that cannot be cast (e.g. `1 IN ('x')`) is a cast error.
 *  - INT(x), BOOL(x), STRING(x) are built in (the TCK uses them); IS_INT/IS_BOOL are not.
 *  - A function that does not exist, or is called with an arity it does not have, compiles and
 *    gives false + missingFunction when evaluated (the TCK requires it).
 *  - Expressions may nest at most CE_SQL_MAX_DEPTH levels (parse error beyond), which bounds
 *    the recursion of compiling and evaluating (well under 1 MiB of stack).
 */
#ifndef HERALD_CE_SQL_H
#define HERALD_CE_SQL_H

#include "herald/ce.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* CESQL error kinds (spec §4): X(name, tck_name). */
#define CE_SQL_ERR_MAP(X)                                                                          \
    X(NONE, "none")                                                                                \
    X(PARSE, "parse")                                                                              \
    X(MATH, "math")                                                                                \
    X(CAST, "cast")                                                                                \
    X(MISSING_ATTRIBUTE, "missingAttribute")                                                       \
    X(MISSING_FUNCTION, "missingFunction")                                                         \
    X(FUNCTION_EVALUATION, "functionEvaluation")                                                   \
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
/* Sets *v to an owned copy of s[0..len) (SDK allocator). Errors: CE_E_NOMEM (v untouched). */
ce_err_t ce_sql_value_set_string(ce_sql_value_t *v, const char *s, size_t len);

/* Deepest nesting of an expression tree (operators, parentheses, calls) that compiles. */
#define CE_SQL_MAX_DEPTH 512

typedef struct ce_sql_expr ce_sql_expr_t;

/*
 * A user-defined function (spec §3.5). `args` are already cast to the declared parameter types
 * (borrowed, valid during the call only). Set *result to a value of the declared return type:
 * a string may be borrowed from an argument or static, or owned (made with
 * ce_sql_value_set_string; the library frees it). Return CE_SQL_ERR_NONE, or an error kind
 * (normally CE_SQL_ERR_FUNCTION_EVALUATION): the call then yields the zero value of its return type
 * plus that error. Called from any thread that evaluates; must be thread-safe if expressions are
 * shared.
 */
typedef ce_sql_err_kind_t (*ce_sql_fn_t)(void *ud, const ce_sql_value_t *args, size_t nargs,
                                         ce_sql_value_t *result);

/* A set of user-defined functions, used when compiling. Not thread-safe while being filled. */
typedef struct ce_sql_funcs ce_sql_funcs_t;

/* Returns a new empty set (free with ce_sql_funcs_free), or NULL when out of memory. */
ce_sql_funcs_t *ce_sql_funcs_new(void);
/* Frees the set. Expressions compiled with it stay valid (they copy what they use). */
void ce_sql_funcs_free(ce_sql_funcs_t *funcs);
/*
 * Adds function `name` ([A-Za-z][A-Za-z_]*, case-insensitive) returning `ret`, with `nparams`
 * parameter types (`params` borrowed, copied). When `variadic` is set the last parameter type
 * repeats zero or more times (so nparams >= 1 and nparams - 1 fixed arguments). Overloads are
 * chosen by name and arity; spec §3.5: at most one variadic overload per name, and its fixed
 * count must exceed every other overload's arity. `ud` is passed to fn unchanged (borrowed).
 * Errors: CE_E_NAME (bad name), CE_E_DUPLICATE (same name and arity exists, or a built-in of
 * that name), CE_E_ARG (variadic rule broken, nparams too large (> 16) or NULL fn), CE_E_NOMEM.
 */
ce_err_t ce_sql_funcs_add(ce_sql_funcs_t *funcs, const char *name, ce_sql_type_t ret,
                          const ce_sql_type_t *params, size_t nparams, bool variadic,
                          ce_sql_fn_t fn, void *ud);

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
/*
 * As ce_sql_compile, resolving function names also in `funcs` (borrowed during the call; may be
 * NULL). The expression keeps copies of the function descriptors it uses.
 */
ce_err_t ce_sql_compile_with(const char *src, size_t len, const ce_sql_funcs_t *funcs,
                             ce_sql_expr_t **out, ce_sql_parse_error_t *perr);
/* The static type of the expression's value (Boolean for a bare attribute, whose type is only
 * known per event, and for a call of a missing function). */
ce_sql_type_t ce_sql_expr_type(const ce_sql_expr_t *expr);
/*
 * Byte offset of the first AND/OR/XOR that joins a different one without parentheses
 * (`a AND b OR c`: the position of OR), or SIZE_MAX when there is none. Such chains are
 * evaluated left to right here but grouped from the right by sdk-go/sdk-java: callers should
 * warn (herald sql check/eval do, the admin API may).
 */
size_t ce_sql_expr_mixed_logic(const ce_sql_expr_t *expr);
/* Frees a compiled expression. Accepts NULL. */
void ce_sql_free(ce_sql_expr_t *expr);

/*
 * Evaluates `expr` against `ev` (fail-fast, spec §4.1). Always sets *result and returns the first
 * error kind, CE_SQL_ERR_NONE when there was none. On error the value is the one the failing
 * node returns: the zero value of the expression's type, except when the top-level node is a
 * function that returns a value with its error (LEFT('abc', -2) is 'abc' + functionEvaluation,
 * ABS(-2147483648) is 2147483647 + math). A string result may borrow from `ev` (valid until the
 * event is changed or freed) or from `expr`, or be owned: always ce_sql_value_clear it.
 * Errors that are not CESQL's own (out of memory in a string function) are CE_SQL_ERR_GENERIC.
 * `ev` may be NULL: every attribute is then missing (EXISTS gives false).
 * Thread-safe for a shared expr.
 */
ce_sql_err_kind_t ce_sql_eval(const ce_sql_expr_t *expr, const ce_event_t *ev,
                              ce_sql_value_t *result);

/* Filter semantics: true only when the result is Boolean true with no error. */
bool ce_sql_matches(const ce_sql_expr_t *expr, const ce_event_t *ev);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* HERALD_CE_SQL_H */
