/* test_manifest.c — manifest parsing: YAML typing, multi-document streams, JSON forms, errors. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hd_manifest.h"
#include "hd_resources.h"

static cJSON *parse_ok(const char *text)
{
    cJSON *out = NULL;
    char err[256] = "";
    hd_err_t rc = hd_manifest_parse(text, strlen(text), &out, err, sizeof err);
    ck_assert_msg(rc == HD_E_OK, "parse failed: %s", err);
    ck_assert_ptr_nonnull(out);
    return out;
}

static void parse_fail(const char *text, const char *expect_in_err)
{
    cJSON *out = NULL;
    char err[256] = "";
    hd_err_t rc = hd_manifest_parse(text, strlen(text), &out, err, sizeof err);
    ck_assert_int_ne(rc, HD_E_OK);
    ck_assert_ptr_null(out);
    ck_assert_msg(strstr(err, expect_in_err), "error '%s' lacks '%s'", err, expect_in_err);
}

START_TEST(yaml_multi_document)
{
    cJSON *a = parse_ok("apiVersion: eventing.knative.dev/v1\n"
                        "kind: Broker\n"
                        "metadata:\n  name: default\n  namespace: ns1\n"
                        "---\n"
                        "apiVersion: eventing.knative.dev/v1\n"
                        "kind: Trigger\n"
                        "metadata: {name: t1}\n"
                        "spec:\n  broker: default\n"
                        "  filters:\n  - exact: {type: a.b}\n  - cesql: \"source LIKE 'x%'\"\n"
                        "---\n"
                        "# an empty document is skipped\n"
                        "...\n");
    ck_assert_int_eq(cJSON_GetArraySize(a), 2);
    cJSON *b = cJSON_GetArrayItem(a, 0);
    ck_assert_str_eq(cJSON_GetObjectItem(b, "kind")->valuestring, "Broker");
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(b, "metadata"), "namespace")->valuestring, "ns1");
    cJSON *t = cJSON_GetArrayItem(a, 1);
    cJSON *filters = cJSON_GetObjectItem(cJSON_GetObjectItem(t, "spec"), "filters");
    ck_assert_int_eq(cJSON_GetArraySize(filters), 2);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(filters, 1), "cesql")->valuestring,
                     "source LIKE 'x%'");
    cJSON_Delete(a);
}
END_TEST

START_TEST(yaml_scalar_typing)
{
    cJSON *a = parse_ok("i: 3\nneg: -7\nhex: 0x1F\nf: 0.5\nq: \"3\"\nsq: '10'\nb: true\n"
                        "B: FALSE\nyes: yes\nn: ~\ne:\nt: 2018-04-05T17:31:00Z\nv: 1.0.2\n"
                        "blk: |\n  line\n");
    cJSON *d = cJSON_GetArrayItem(a, 0);
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(d, "i")));
    ck_assert_int_eq(cJSON_GetObjectItem(d, "i")->valueint, 3);
    ck_assert_int_eq(cJSON_GetObjectItem(d, "neg")->valueint, -7);
    ck_assert_int_eq(cJSON_GetObjectItem(d, "hex")->valueint, 31);
    ck_assert(cJSON_GetObjectItem(d, "f")->valuedouble == 0.5);
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(d, "q")));
    ck_assert_str_eq(cJSON_GetObjectItem(d, "sq")->valuestring, "10");
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(d, "b")));
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(d, "B")));
    /* YAML 1.2 core schema, as Kubernetes: `yes` is a string */
    ck_assert_str_eq(cJSON_GetObjectItem(d, "yes")->valuestring, "yes");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(d, "n")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(d, "e")));
    ck_assert_str_eq(cJSON_GetObjectItem(d, "t")->valuestring, "2018-04-05T17:31:00Z");
    ck_assert_str_eq(cJSON_GetObjectItem(d, "v")->valuestring, "1.0.2");
    ck_assert_str_eq(cJSON_GetObjectItem(d, "blk")->valuestring, "line\n");
    cJSON_Delete(a);
}
END_TEST

START_TEST(yaml_anchors_and_list_kind)
{
    cJSON *a = parse_ok("base: &d {retry: 3}\nother: *d\n");
    cJSON *d = cJSON_GetArrayItem(a, 0);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(d, "other"), "retry")->valueint, 3);
    cJSON_Delete(a);

    a = parse_ok("kind: List\nitems:\n- kind: Broker\n- kind: Trigger\n---\nkind: Broker\n");
    ck_assert_int_eq(cJSON_GetArraySize(a), 3);
    ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 1), "kind")->valuestring, "Trigger");
    cJSON_Delete(a);
}
END_TEST

START_TEST(json_forms)
{
    cJSON *a = parse_ok("  {\"kind\":\"Broker\",\"metadata\":{\"name\":\"b\"}}");
    ck_assert_int_eq(cJSON_GetArraySize(a), 1);
    cJSON_Delete(a);
    a = parse_ok("[{\"kind\":\"Broker\"},{\"kind\":\"Trigger\"}]");
    ck_assert_int_eq(cJSON_GetArraySize(a), 2);
    cJSON_Delete(a);
    a = parse_ok("{\"kind\":\"List\",\"items\":[{\"kind\":\"Broker\"},{\"kind\":\"Trigger\"},"
                 "{\"kind\":\"Trigger\"}]}");
    ck_assert_int_eq(cJSON_GetArraySize(a), 3);
    cJSON_Delete(a);
}
END_TEST

START_TEST(errors_name_document_and_line)
{
    parse_fail("kind: Broker\n---\nkind: Trigger\nspec: [a, b\n", "document 2");
    parse_fail("a: 1\na: 2\n", "duplicate key 'a'");
    parse_fail("- 1\n- 2\n", "not an object");
    parse_fail("{\"kind\": \"Broker\",}", "malformed JSON");
    parse_fail("x: *nope\n", "unknown alias");
    parse_fail("kind: List\nitems: 3\n", "items");
}
END_TEST

START_TEST(alias_bomb_bounded)
{
    /* Each level doubles: 2^30 nodes if expanded naively. */
    char buf[4096];
    size_t off = (size_t)snprintf(buf, sizeof buf, "a0: &a0 [x, x]\n");
    for (int i = 1; i < 30; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "a%d: &a%d [*a%d, *a%d]\n", i, i,
                                i - 1, i - 1);
    parse_fail(buf, "nodes");
}
END_TEST

START_TEST(deep_nesting_bounded)
{
    char buf[1024];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        buf[n++] = '[';
    buf[n] = '\0';
    cJSON *out = NULL;
    char err[256];
    /* YAML flow (leading '[' is taken as JSON first; either way it must fail cleanly) */
    ck_assert_int_ne(hd_manifest_parse(buf, n, &out, err, sizeof err), HD_E_OK);
    n = 0;
    n += (size_t)snprintf(buf, sizeof buf, "k: ");
    for (int i = 0; i < 100; i++)
        buf[n++] = '[';
    buf[n] = '\0';
    parse_fail(buf, "document 1");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("manifest");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, yaml_multi_document);
    tcase_add_test(tc, yaml_scalar_typing);
    tcase_add_test(tc, yaml_anchors_and_list_kind);
    tcase_add_test(tc, json_forms);
    tcase_add_test(tc, errors_name_document_and_line);
    tcase_add_test(tc, alias_bomb_bounded);
    tcase_add_test(tc, deep_nesting_bounded);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
