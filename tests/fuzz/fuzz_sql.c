/*
 * fuzz_sql.c — libFuzzer target for the CESQL compiler and evaluator: any bytes are compiled
 * (with one user function registered); what compiles is evaluated twice against a fixed event.
 * Never a crash, a leak, UB or a read out of bounds; evaluation is deterministic; a String
 * result is valid UTF-8; a parse error has a position inside the input and a message.
 *
 * Run (HERALD_FUZZ=ON): build/tests/fuzz_sql -max_total_time=300 -dict=tests/fuzz/fuzz_sql.dict
 *                       tests/fuzz/seeds/fuzz_sql
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "herald/ce.h"
#include "herald/ce_sql.h"

static ce_event_t *event;
static ce_sql_funcs_t *funcs;

static ce_sql_err_kind_t fn_pad(void *ud, const ce_sql_value_t *a, size_t n, ce_sql_value_t *out)
{
    (void)ud;
    if (n < 1 || a[0].len > 64)
        return CE_SQL_ERR_FUNCTION_EVALUATION;
    char buf[80];
    memcpy(buf, a[0].s, a[0].len);
    memcpy(buf + a[0].len, "!!", 2);
    return ce_sql_value_set_string(out, buf, a[0].len + 2) == CE_E_OK ? CE_SQL_ERR_NONE
                                                                      : CE_SQL_ERR_GENERIC;
}

static void setup(void)
{
    event = ce_event_new();
    static const char *const attrs[][2] = {
        {"specversion", "1.0"},
        {"id", "fuzz-1"},
        {"source", "/shop/eu"},
        {"type", "com.example.order.created"},
        {"subject", "Straße 日本"},
        {"time", "2018-04-26T14:48:09+02:00"},
        {"hop", "5"},
        {"myext", "abc%_\\x"},
    };
    for (size_t k = 0; k < sizeof attrs / sizeof attrs[0]; k++)
        if (ce_event_set(event, attrs[k][0], attrs[k][1], strlen(attrs[k][1]), NULL) != CE_E_OK)
            abort();
    if (ce_event_set_int(event, "myint", INT32_MIN, NULL) != CE_E_OK ||
        ce_event_set_int(event, "ten", 10, NULL) != CE_E_OK ||
        ce_event_set_bool(event, "mybool", true, NULL) != CE_E_OK)
        abort();
    funcs = ce_sql_funcs_new();
    const ce_sql_type_t s[] = {CE_SQL_STRING};
    if (!funcs || ce_sql_funcs_add(funcs, "PAD", CE_SQL_STRING, s, 1, true, fn_pad, NULL))
        abort();
}

static bool same(const ce_sql_value_t *a, const ce_sql_value_t *b)
{
    if (a->type != b->type)
        return false;
    if (a->type == CE_SQL_BOOLEAN)
        return a->b == b->b;
    if (a->type == CE_SQL_INTEGER)
        return a->i == b->i;
    return a->len == b->len && (a->len == 0 || !memcmp(a->s, b->s, a->len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!event)
        setup();
    ce_sql_expr_t *e = NULL;
    ce_sql_parse_error_t perr;
    ce_err_t rc = ce_sql_compile_with((const char *)data, size, funcs, &e, &perr);
    if (rc != CE_E_OK) {
        if (rc != CE_E_PARSE || perr.position > size || !perr.message[0])
            abort();
        return 0;
    }
    ce_sql_value_t v1, v2;
    ce_sql_err_kind_t k1 = ce_sql_eval(e, event, &v1);
    ce_sql_err_kind_t k2 = ce_sql_eval(e, event, &v2);
    if (k1 != k2 || !same(&v1, &v2))
        abort();
    if (v1.type == CE_SQL_STRING && !ce_utf8_valid(v1.s, v1.len))
        abort();
    bool m = ce_sql_matches(e, event);
    if (m != (k1 == CE_SQL_ERR_NONE && v1.type == CE_SQL_BOOLEAN && v1.b))
        abort();
    /* NULL event: every attribute is missing, EXISTS is false */
    ce_sql_value_t v3;
    ce_sql_eval(e, NULL, &v3);
    ce_sql_value_clear(&v1);
    ce_sql_value_clear(&v2);
    ce_sql_value_clear(&v3);
    ce_sql_free(e);
    return 0;
}
