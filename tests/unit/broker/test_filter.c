/* test_filter.c — trigger filter compilation and matching: every dialect, nesting, CESQL,
 * apply-time errors, and the dialect ⇔ CESQL equivalences of the TCK's
 * subscriptions_api_recreations. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hd_filter.h"

static ce_event_t *mkev(const char *type, const char *source, const char *id, const char *ext)
{
    ce_event_t *ev = ce_event_new();
    ck_assert_ptr_nonnull(ev);
    ck_assert_int_eq(ce_event_set(ev, "specversion", "1.0", 3, NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set(ev, "id", id, strlen(id), NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set(ev, "source", source, strlen(source), NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set(ev, "type", type, strlen(type), NULL), CE_E_OK);
    if (ext)
        ck_assert_int_eq(ce_event_set(ev, "myext", ext, strlen(ext), NULL), CE_E_OK);
    return ev;
}

/* Compiles `filters` JSON (or `filter` when legacy) and returns the filter (asserts success). */
static hd_filter_t *compile(const char *json, bool legacy)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_msg(j != NULL, "bad test JSON %s", json);
    hd_filter_t *f = NULL;
    char err[512] = "";
    hd_err_t rc = legacy ? hd_filter_compile(j, NULL, &f, err, sizeof err)
                         : hd_filter_compile(NULL, j, &f, err, sizeof err);
    ck_assert_msg(rc == HD_E_OK, "compile %s: %s", json, err);
    cJSON_Delete(j);
    return f;
}

static void compile_fails(const char *json, const char *expect)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    hd_filter_t *f = NULL;
    char err[512] = "";
    hd_err_t rc = hd_filter_compile(NULL, j, &f, err, sizeof err);
    cJSON_Delete(j);
    ck_assert_int_eq(rc, HD_E_INVAL);
    ck_assert_ptr_null(f);
    ck_assert_msg(strstr(err, expect), "error '%s' lacks '%s'", err, expect);
}

START_TEST(exact_prefix_suffix)
{
    ce_event_t *a = mkev("com.example.created", "https://example.com/x", "1", "customext");
    ce_event_t *b = mkev("com.example.deleted", "http://other", "2", NULL);
    hd_filter_t *f = compile("[{\"exact\":{\"type\":\"com.example.created\"}}]", false);
    ck_assert(hd_filter_match(f, a));
    ck_assert(!hd_filter_match(f, b));
    hd_filter_free(f);

    f = compile("[{\"prefix\":{\"source\":\"https://\"}}]", false);
    ck_assert(hd_filter_match(f, a));
    ck_assert(!hd_filter_match(f, b));
    hd_filter_free(f);

    f = compile("[{\"suffix\":{\"type\":\".deleted\"}}]", false);
    ck_assert(!hd_filter_match(f, a));
    ck_assert(hd_filter_match(f, b));
    hd_filter_free(f);

    /* a missing attribute never matches, whatever the dialect */
    f = compile("[{\"prefix\":{\"myext\":\"cust\"}}]", false);
    ck_assert(hd_filter_match(f, a));
    ck_assert(!hd_filter_match(f, b));
    hd_filter_free(f);

    /* several keys in one map: all must match */
    f = compile("[{\"exact\":{\"type\":\"com.example.created\",\"id\":\"2\"}}]", false);
    ck_assert(!hd_filter_match(f, a));
    ck_assert(!hd_filter_match(f, b));
    hd_filter_free(f);

    /* case-sensitive */
    f = compile("[{\"exact\":{\"type\":\"COM.example.created\"}}]", false);
    ck_assert(!hd_filter_match(f, a));
    hd_filter_free(f);

    /* exact/prefix/suffix allocate nothing: with every allocation failing they still work */
    f = compile("[{\"all\":[{\"exact\":{\"type\":\"com.example.created\"}},"
                "{\"prefix\":{\"source\":\"https\"}},{\"suffix\":{\"myext\":\"ext\"}}]}]",
                false);
    hd_alloc_fail_after(1);
    ck_assert(hd_filter_match(f, a));
    ck_assert(!hd_filter_match(f, b));
    hd_alloc_fail_after(0);
    hd_filter_free(f);
    ce_event_free(a);
    ce_event_free(b);
}
END_TEST

START_TEST(legacy_attributes)
{
    ce_event_t *a = mkev("t1", "s1", "1", "v");
    ce_event_t *b = mkev("t1", "s2", "2", NULL);
    hd_filter_t *f = compile("{\"attributes\":{\"type\":\"t1\",\"source\":\"s1\"}}", true);
    ck_assert(hd_filter_match(f, a));
    ck_assert(!hd_filter_match(f, b));
    hd_filter_free(f);
    /* "" = any value, but the attribute must be present */
    f = compile("{\"attributes\":{\"myext\":\"\"}}", true);
    ck_assert(hd_filter_match(f, a));
    ck_assert(!hd_filter_match(f, b));
    hd_filter_free(f);
    /* no attributes: everything (NULL filter) */
    f = compile("{\"attributes\":{}}", true);
    ck_assert_ptr_null(f);
    ck_assert(hd_filter_match(f, b));
    ce_event_free(a);
    ce_event_free(b);
}
END_TEST

START_TEST(filters_win_over_filter)
{
    cJSON *filter = cJSON_Parse("{\"attributes\":{\"type\":\"nope\"}}");
    cJSON *filters = cJSON_Parse("[{\"exact\":{\"type\":\"t1\"}}]");
    hd_filter_t *f = NULL;
    char err[256];
    ck_assert_int_eq(hd_filter_compile(filter, filters, &f, err, sizeof err), HD_E_OK);
    ce_event_t *a = mkev("t1", "s", "1", NULL);
    ck_assert(hd_filter_match(f, a));
    hd_filter_free(f);
    /* an empty `filters` leaves `filter` in force */
    cJSON *empty = cJSON_CreateArray();
    ck_assert_int_eq(hd_filter_compile(filter, empty, &f, err, sizeof err), HD_E_OK);
    ck_assert_ptr_nonnull(f);
    ck_assert(!hd_filter_match(f, a));
    hd_filter_free(f);
    ck_assert_int_eq(hd_filter_compile(NULL, empty, &f, err, sizeof err), HD_E_OK);
    ck_assert_ptr_null(f); /* nothing at all: every event */
    cJSON_Delete(empty);
    ce_event_free(a);
    cJSON_Delete(filter);
    cJSON_Delete(filters);
}
END_TEST

START_TEST(nested_all_any_not)
{
    /* type is a or b, AND NOT source s2, AND (myext present via prefix "" is invalid, so use any)
     */
    hd_filter_t *f =
        compile("[{\"any\":[{\"exact\":{\"type\":\"a\"}},{\"exact\":{\"type\":\"b\"}}]},"
                "{\"not\":{\"exact\":{\"source\":\"s2\"}}},"
                "{\"any\":[{\"all\":[{\"prefix\":{\"id\":\"x\"}},"
                "{\"suffix\":{\"id\":\"9\"}}]},{\"not\":{\"prefix\":{\"id\":\"x\"}}}]}]",
                false);
    struct {
        const char *type, *source, *id;
        bool want;
    } cases[] = {
        {"a", "s1", "1", true},  {"b", "s1", "x9", true},  {"c", "s1", "1", false},
        {"a", "s2", "1", false}, {"a", "s1", "x8", false}, {"b", "s3", "x19", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ce_event_t *e = mkev(cases[i].type, cases[i].source, cases[i].id, NULL);
        ck_assert_msg(hd_filter_match(f, e) == cases[i].want, "case %zu", i);
        ce_event_free(e);
    }
    hd_filter_free(f);
}
END_TEST

START_TEST(cesql_semantics)
{
    ce_event_t *a = mkev("com.x", "https://s", "1", "abc");
    ce_event_t *b = mkev("com.y", "https://s", "2", NULL);
    hd_filter_t *f = compile("[{\"cesql\":\"type = 'com.x' AND source LIKE 'https://%'\"}]", false);
    ck_assert(hd_filter_match(f, a));
    ck_assert(!hd_filter_match(f, b));
    hd_filter_free(f);
    /* an evaluation error (missing attribute) is no match, not a match */
    f = compile("[{\"cesql\":\"myext = 'abc' OR TRUE\"}]", false);
    ck_assert(hd_filter_match(f, a));
    hd_filter_free(f);
    f = compile("[{\"cesql\":\"NOT (myext = 'zzz')\"}]", false);
    ck_assert(hd_filter_match(f, a));
    ck_assert(!hd_filter_match(f, b)); /* missing attribute: error => false, even under NOT */
    hd_filter_free(f);
    /* a cast error is no match */
    f = compile("[{\"cesql\":\"INT(myext) > 1\"}]", false);
    ck_assert(!hd_filter_match(f, a));
    hd_filter_free(f);
    /* `sql` is accepted as the Subscriptions API spelling */
    f = compile("[{\"sql\":\"id = '2'\"}]", false);
    ck_assert(hd_filter_match(f, b));
    hd_filter_free(f);
    ce_event_free(a);
    ce_event_free(b);
}
END_TEST

START_TEST(apply_time_errors)
{
    compile_fails("[{\"regex\":{\"type\":\"a\"}}]", "unknown filter dialect 'regex'");
    compile_fails("[{\"exact\":{\"\":\"a\"}}]", "filters[0].exact: attribute name is empty");
    compile_fails("[{\"exact\":{\"type\":\"\"}}]", "filters[0].exact.type: value is empty");
    compile_fails("[{\"prefix\":{\"Type\":\"a\"}}]", "attribute name 'Type' is invalid");
    compile_fails("[{\"exact\":{\"type\":\"a\"},\"suffix\":{\"type\":\"b\"}}]",
                  "exactly one dialect");
    compile_fails("[{\"all\":[]}]", "filters[0].all: must be a non-empty list");
    compile_fails("[{\"any\":[{\"exact\":{\"type\":\"a\"}},{\"bogus\":1}]}]",
                  "filters[0].any[1]: unknown filter dialect 'bogus'");
    compile_fails("[{\"not\":{\"not\":{\"exact\":{\"type\":[1]}}}}]",
                  "filters[0].not.not.exact.type: value must be a string");
    compile_fails("[{\"exact\":{\"type\":\"a\"}},{\"cesql\":\"type = \"}]",
                  "filters[1].cesql: invalid CESQL expression at position");
    compile_fails("[{\"cesql\":\"\"}]", "non-empty CESQL");
    compile_fails("{\"exact\":{}}", "filters: must be a list");
}
END_TEST

START_TEST(cesql_error_position)
{
    cJSON *j = cJSON_Parse("[{\"cesql\":\"type = 'a' AND AND x\"}]");
    hd_filter_t *f = NULL;
    char err[512];
    ck_assert_int_eq(hd_filter_compile(NULL, j, &f, err, sizeof err), HD_E_INVAL);
    /* the position is reported and the expression is shown split at it */
    ck_assert_msg(strstr(err, "position "), "%s", err);
    ck_assert_msg(strstr(err, ">>>"), "%s", err);
    cJSON_Delete(j);
}
END_TEST

START_TEST(required_exact)
{
    hd_filter_t *f = compile("[{\"exact\":{\"source\":\"s\"}},{\"all\":[{\"exact\":{\"type\":"
                             "\"t\"}}]}]",
                             false);
    const char *v;
    size_t n;
    ck_assert(hd_filter_required_exact(f, "type", &v, &n));
    ck_assert_int_eq((int)n, 1);
    ck_assert(!memcmp(v, "t", 1));
    ck_assert(hd_filter_required_exact(f, "source", &v, &n));
    hd_filter_free(f);
    /* under any/not an exact value is not required */
    f = compile("[{\"any\":[{\"exact\":{\"type\":\"t\"}},{\"exact\":{\"type\":\"u\"}}]}]", false);
    ck_assert(!hd_filter_required_exact(f, "type", &v, &n));
    hd_filter_free(f);
    f = compile("{\"attributes\":{\"type\":\"t\",\"x\":\"y\"}}", true);
    ck_assert(hd_filter_required_exact(f, "type", &v, &n));
    hd_filter_free(f);
}
END_TEST

/* subscriptions_api_recreations.yaml: each dialect has a CESQL recreation; both must agree. */
START_TEST(dialects_equal_their_cesql_recreations)
{
    static const struct {
        const char *dialect, *sql;
    } pairs[] = {
        {"[{\"prefix\":{\"source\":\"https://\"}}]", "source LIKE 'https://%'"},
        {"[{\"prefix\":{\"myext\":\"custom\"}}]", "myext LIKE 'custom%'"},
        {"[{\"suffix\":{\"type\":\".error\"}}]", "type LIKE '%.error'"},
        {"[{\"suffix\":{\"myext\":\"ext\"}}]", "myext LIKE '%ext'"},
        {"[{\"exact\":{\"id\":\"myId\"}}]", "id = 'myId'"},
        {"[{\"exact\":{\"myext\":\"customext\"}}]", "myext = 'customext'"},
        {"[{\"prefix\":{\"id\":\"my\"}},{\"suffix\":{\"source\":\".ca\"}}]",
         "id LIKE 'my%' AND source LIKE '%.ca'"},
        {"[{\"any\":[{\"prefix\":{\"id\":\"my\"}},{\"suffix\":{\"source\":\".ca\"}}]}]",
         "id LIKE 'my%' OR source LIKE '%.ca'"},
        {"[{\"any\":[{\"all\":[{\"exact\":{\"id\":\"myId\"}},{\"suffix\":{\"type\":\".success\"}}]}"
         ","
         "{\"all\":[{\"exact\":{\"id\":\"notmyId\"}},{\"prefix\":{\"source\":\"http://\"}},"
         "{\"suffix\":{\"type\":\".warning\"}}]}]}]",
         "(id = 'myId' AND type LIKE '%.success') OR (id = 'notmyId' AND source LIKE 'http://%' "
         "AND type LIKE '%.warning')"},
    };
    static const char *const ids[] = {"myId", "notmyId", "x"};
    static const char *const sources[] = {"https://example.com", "http://example.com",
                                          "http://www.some-website.ca"};
    static const char *const types[] = {"com.github.error", "example.event.success",
                                        "example.event.warning"};
    static const char *const exts[] = {NULL, "customext", "other"};
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        hd_filter_t *d = compile(pairs[p].dialect, false);
        char sqljson[512];
        cJSON *s = cJSON_CreateArray();
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "cesql", pairs[p].sql);
        cJSON_AddItemToArray(s, o);
        char *sj = cJSON_PrintUnformatted(s);
        snprintf(sqljson, sizeof sqljson, "%s", sj);
        free(sj);
        cJSON_Delete(s);
        hd_filter_t *q = compile(sqljson, false);
        int agree = 0;
        for (size_t i = 0; i < 3; i++)
            for (size_t j = 0; j < 3; j++)
                for (size_t k = 0; k < 3; k++)
                    for (size_t e = 0; e < 3; e++) {
                        ce_event_t *ev = mkev(types[k], sources[j], ids[i], exts[e]);
                        bool a = hd_filter_match(d, ev), b = hd_filter_match(q, ev);
                        ck_assert_msg(a == b, "pair %zu (%s) disagrees on id=%s source=%s type=%s",
                                      p, pairs[p].sql, ids[i], sources[j], types[k]);
                        agree += a;
                        ce_event_free(ev);
                    }
        ck_assert_msg(agree > 0, "pair %zu never matched: the check would be vacuous", p);
        hd_filter_free(d);
        hd_filter_free(q);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("filter");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, exact_prefix_suffix);
    tcase_add_test(tc, legacy_attributes);
    tcase_add_test(tc, filters_win_over_filter);
    tcase_add_test(tc, nested_all_any_not);
    tcase_add_test(tc, cesql_semantics);
    tcase_add_test(tc, apply_time_errors);
    tcase_add_test(tc, cesql_error_position);
    tcase_add_test(tc, required_exact);
    tcase_add_test(tc, dialects_equal_their_cesql_recreations);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
