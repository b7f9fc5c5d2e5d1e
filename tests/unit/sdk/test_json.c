/* test_json.c — Check suite for the JSON event format (ce_json.h). */
#include "herald/ce_json.h"
#include "sdk_test_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE "\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\""

static ce_event_t *dec_ok(const char *json)
{
    ce_event_t *ev = NULL;
    ce_error_t e = {0};
    ce_err_t rc = ce_json_decode(json, strlen(json), &ev, &e);
    ck_assert_msg(rc == CE_E_OK, "decode %s: %s (%s)", json, ce_err_name(rc), e.message);
    return ev;
}

static ce_err_t dec_err(const char *json, ce_error_t *e)
{
    ce_event_t *ev = NULL;
    ce_err_t rc = ce_json_decode(json, strlen(json), &ev, e);
    ck_assert_ptr_null(ev);
    return rc;
}

static void assert_data(const ce_event_t *ev, const char *want, bool is_json)
{
    const void *d;
    size_t n;
    ck_assert(ce_event_data(ev, &d, &n));
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_mem_eq(d, want, n);
    ck_assert_int_eq(ce_event_data_is_json(ev), is_json);
}

static char *enc(const ce_event_t *ev)
{
    ce_buf_t b = {0};
    ck_assert_int_eq(ce_json_encode(ev, &b), CE_E_OK);
    return b.data;
}

START_TEST(test_decode_minimal_and_attrs)
{
    ce_event_t *ev = dec_ok("{" BASE ",\"time\":\"2018-04-26T14:48:09+02:00\",\"subject\":\"s\","
                            "\"dataschema\":\"https://x/y\",\"myint\":-5,\"mybool\":false,"
                            "\"mystr\":\"a\\u00e9\\ud83d\\ude00\"}");
    ck_assert_str_eq(ce_event_get_str(ev, "time"), "2018-04-26T14:48:09+02:00");
    ck_assert_int_eq(ce_event_get(ev, "myint", 5)->type, CE_TYPE_INTEGER);
    ck_assert_int_eq(ce_event_get(ev, "myint", 5)->i, -5);
    ck_assert_int_eq(ce_event_get(ev, "mybool", 6)->type, CE_TYPE_BOOLEAN);
    ck_assert(!ce_event_get(ev, "mybool", 6)->b);
    ck_assert_str_eq(ce_event_get_str(ev, "mystr"), "a\xc3\xa9\xf0\x9f\x98\x80");
    ck_assert(!ce_event_data(ev, NULL, NULL));
    ce_event_free(ev);
}
END_TEST

START_TEST(test_data_kept_verbatim)
{
    ce_event_t *ev = dec_ok("{" BASE ",\"data\": {\"z\":1, \"a\":12345678901234567890123,"
                            "\"f\":1.50e3} }");
    assert_data(ev, "{\"z\":1, \"a\":12345678901234567890123,\"f\":1.50e3}", true);
    char *out = enc(ev);
    ck_assert_ptr_nonnull(
        strstr(out, "\"data\":{\"z\":1, \"a\":12345678901234567890123,\"f\":1.50e3}"));
    free(out);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_data_string_not_reparsed)
{
    /* JSON content type: a string stays a JSON string, it is not parsed as JSON again */
    ce_event_t *ev = dec_ok("{" BASE ",\"datacontenttype\":\"application/json\","
                            "\"data\":\"{\\\"a\\\":1}\"}");
    assert_data(ev, "\"{\\\"a\\\":1}\"", true);
    char *out = enc(ev);
    ck_assert_ptr_nonnull(strstr(out, "\"data\":\"{\\\"a\\\":1}\""));
    free(out);
    ce_event_free(ev);
    /* no content type: same */
    ev = dec_ok("{" BASE ",\"data\":\"I'm just a string\"}");
    assert_data(ev, "\"I'm just a string\"", true);
    ce_event_free(ev);
    /* non-JSON content type: the string's text, unquoted */
    ev = dec_ok("{" BASE ",\"datacontenttype\":\"text/plain\",\"data\":\"line\\nnext\"}");
    assert_data(ev, "line\nnext", false);
    out = enc(ev);
    ck_assert_ptr_nonnull(strstr(out, "\"data\":\"line\\nnext\""));
    free(out);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_data_null_vs_absent)
{
    ce_event_t *ev = dec_ok("{" BASE ",\"data\":null}");
    assert_data(ev, "null", true);
    char *out = enc(ev);
    ck_assert_ptr_nonnull(strstr(out, "\"data\":null"));
    free(out);
    ce_event_free(ev);
    ev = dec_ok("{" BASE "}");
    ck_assert(!ce_event_data(ev, NULL, NULL));
    out = enc(ev);
    ck_assert_ptr_null(strstr(out, "data"));
    free(out);
    ce_event_free(ev);
    /* null attribute = unset */
    ev = dec_ok("{" BASE ",\"subject\":null,\"myext\":null}");
    ck_assert_ptr_null(ce_event_get(ev, "subject", 7));
    ck_assert_ptr_null(ce_event_get(ev, "myext", 5));
    ce_event_free(ev);
}
END_TEST

START_TEST(test_data_base64)
{
    ce_event_t *ev = dec_ok("{" BASE ",\"datacontenttype\":\"application/octet-stream\","
                            "\"data_base64\":\"AAEC/w==\"}");
    const void *d;
    size_t n;
    ck_assert(ce_event_data(ev, &d, &n));
    ck_assert_uint_eq(n, 4);
    ck_assert_mem_eq(d, "\x00\x01\x02\xff", 4);
    ck_assert(!ce_event_data_is_json(ev));
    char *out = enc(ev);
    ck_assert_ptr_nonnull(strstr(out, "\"data_base64\":\"AAEC/w==\""));
    free(out);
    ce_event_free(ev);
    ce_error_t e;
    ck_assert_int_eq(dec_err("{" BASE ",\"data\":1,\"data_base64\":\"AA==\"}", &e), CE_E_INVALID);
    ck_assert_ptr_nonnull(strstr(e.message, "data_base64"));
    ck_assert_int_eq(dec_err("{" BASE ",\"data_base64\":\"AA=\"}", &e), CE_E_TYPE);
    ck_assert_int_eq(dec_err("{" BASE ",\"data_base64\":5}", &e), CE_E_TYPE);
    /* empty base64 is empty data, not absent data */
    ev = dec_ok("{" BASE ",\"data_base64\":\"\"}");
    ck_assert(ce_event_data(ev, &d, &n));
    ck_assert_uint_eq(n, 0);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_duplicates_rejected)
{
    ce_error_t e;
    ck_assert_int_eq(dec_err("{" BASE ",\"id\":\"2\"}", &e), CE_E_DUPLICATE);
    ck_assert_ptr_nonnull(strstr(e.message, "'id'"));
    ck_assert_int_eq(dec_err("{" BASE ",\"\\u0069d\":\"2\"}", &e), CE_E_DUPLICATE);
    ck_assert_int_eq(dec_err("{" BASE ",\"x\":null,\"x\":\"1\"}", &e), CE_E_DUPLICATE);
    ck_assert_int_eq(dec_err("{" BASE ",\"x\":1,\"x\":null}", &e), CE_E_DUPLICATE);
    ck_assert_int_eq(dec_err("{" BASE ",\"data\":1,\"data\":2}", &e), CE_E_DUPLICATE);
    /* duplicates inside data are data, not attributes */
    ce_event_t *ev = dec_ok("{" BASE ",\"data\":{\"a\":1,\"a\":2}}");
    ce_event_free(ev);
}
END_TEST

START_TEST(test_extension_types)
{
    ce_error_t e;
    ck_assert_int_eq(dec_err("{" BASE ",\"n\":5.0}", &e), CE_E_TYPE);
    ck_assert_ptr_nonnull(strstr(e.message, "5.0"));
    ck_assert_ptr_nonnull(strstr(e.message, "'n'"));
    ck_assert_int_eq(dec_err("{" BASE ",\"n\":5e0}", &e), CE_E_TYPE);
    ck_assert_int_eq(dec_err("{" BASE ",\"n\":2147483648}", &e), CE_E_TYPE);
    ck_assert_int_eq(dec_err("{" BASE ",\"n\":-2147483649}", &e), CE_E_TYPE);
    ck_assert_int_eq(dec_err("{" BASE ",\"n\":{}}", &e), CE_E_TYPE);
    ck_assert_int_eq(dec_err("{" BASE ",\"n\":[1]}", &e), CE_E_TYPE);
    ce_event_t *ev = dec_ok("{" BASE ",\"n\":-2147483648,\"m\":2147483647}");
    ck_assert_int_eq(ce_event_get(ev, "n", 1)->i, INT32_MIN);
    char *out = enc(ev);
    ck_assert_ptr_nonnull(strstr(out, "\"n\":-2147483648"));
    ck_assert_ptr_nonnull(strstr(out, "\"m\":2147483647"));
    free(out);
    ce_event_free(ev);
    /* core attributes must be strings */
    ck_assert_int_eq(
        dec_err("{\"specversion\":\"1.0\",\"id\":1,\"source\":\"/s\",\"type\":\"t\"}", &e),
        CE_E_TYPE);
    ck_assert_ptr_nonnull(strstr(e.message, "'id'"));
    ck_assert_int_eq(dec_err("{" BASE ",\"subject\":true}", &e), CE_E_TYPE);
    /* Boolean strings are strings, not booleans; case is preserved */
    ev = dec_ok("{" BASE ",\"flag\":\"True\"}");
    ck_assert_int_eq(ce_event_get(ev, "flag", 4)->type, CE_TYPE_STRING);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_names_and_required)
{
    ce_error_t e;
    ck_assert_int_eq(dec_err("{" BASE ",\"foo-bar\":\"x\"}", &e), CE_E_NAME);
    ck_assert_ptr_nonnull(strstr(e.message, "foo-bar"));
    ck_assert_int_eq(dec_err("{" BASE ",\"Foo\":\"x\"}", &e), CE_E_NAME);
    ck_assert_int_eq(dec_err("{\"specversion\":\"1.0\",\"id\":\"1\",\"type\":\"t\"}", &e),
                     CE_E_MISSING);
    ck_assert_ptr_nonnull(strstr(e.message, "'source'"));
    ck_assert_int_eq(dec_err("{\"specversion\":\"0.2\",\"id\":\"1\",\"source\":\"/s\",\"type\":"
                             "\"t\"}",
                             &e),
                     CE_E_SPECVERSION);
    ck_assert_int_eq(dec_err("{" BASE ",\"time\":\"2018-04-26 14:48:09\"}", &e), CE_E_TYPE);
    ck_assert_ptr_nonnull(strstr(e.message, "'time'"));
    ck_assert_int_eq(dec_err("{" BASE ",\"subject\":\"a\\nb\"}", &e), CE_E_TYPE);
    ck_assert_int_eq(dec_err("{" BASE ",\"subject\":\"\\ud800\"}", &e), CE_E_UTF8);
    ck_assert_int_eq(dec_err("{" BASE ",\"subject\":\"\xc0\xa0\"}", &e), CE_E_UTF8);
}
END_TEST

START_TEST(test_v03_mapped)
{
    ce_event_t *ev =
        dec_ok("{\"specversion\":\"0.3\",\"id\":\"1\",\"source\":\"/s\",\"type\":"
               "\"t\",\"schemaurl\":\"https://x/s\",\"datacontentencoding\":\"base64\","
               "\"datacontenttype\":\"text/plain\",\"data\":\"aGk=\"}");
    ck_assert_str_eq(ce_event_get_str(ev, "specversion"), "1.0");
    ck_assert_str_eq(ce_event_get_str(ev, "dataschema"), "https://x/s");
    ck_assert_ptr_null(ce_event_get(ev, "schemaurl", 9));
    ck_assert_ptr_null(ce_event_get(ev, "datacontentencoding", 19));
    assert_data(ev, "hi", false);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_malformed)
{
    const char *bad[] = {"",
                         "[]",
                         "{",
                         "{\"id\"}",
                         "{\"id\":}",
                         "{" BASE "} x",
                         "{" BASE ",}",
                         "{" BASE ",\"data\":tru}",
                         "{" BASE ",\"data\":01}",
                         "null",
                         "{" BASE ",\"data\":\"\x01\"}",
                         "{'id':'1'}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ce_error_t e;
        ce_err_t rc = dec_err(bad[i], &e);
        ck_assert_msg(rc == CE_E_JSON, "%s -> %s", bad[i], ce_err_name(rc));
    }
    /* deep nesting is an error, not a crash */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 200);
    size_t n = (size_t)sprintf(deep, "{" BASE ",\"data\":");
    memset(deep + n, '[', depth);
    memset(deep + n + depth, ']', depth);
    strcpy(deep + n + 2 * depth, "}");
    ce_event_t *ev = NULL;
    ck_assert_int_eq(ce_json_decode(deep, strlen(deep), &ev, NULL), CE_E_JSON);
    free(deep);
}
END_TEST

START_TEST(test_batch)
{
    ce_event_t **evs;
    size_t n;
    ce_error_t e;
    ck_assert_int_eq(ce_json_decode_batch(" [ ] ", 5, &evs, &n, &e), CE_E_OK);
    ck_assert_uint_eq(n, 0);
    free(evs);
    const char *two = "[{" BASE "},{" BASE ",\"datacontenttype\":\"text/plain\",\"data\":\"x\"}]";
    ck_assert_int_eq(ce_json_decode_batch(two, strlen(two), &evs, &n, &e), CE_E_OK);
    ck_assert_uint_eq(n, 2);
    assert_data(evs[1], "x", false);
    ce_buf_t b = {0};
    ck_assert_int_eq(ce_json_encode_batch((const ce_event_t *const *)evs, n, &b), CE_E_OK);
    ce_event_t **again;
    size_t n2;
    ck_assert_int_eq(ce_json_decode_batch(b.data, b.len, &again, &n2, &e), CE_E_OK);
    ck_assert_uint_eq(n2, 2);
    for (size_t i = 0; i < n; i++) {
        ce_event_free(evs[i]);
        ce_event_free(again[i]);
    }
    free(evs);
    free(again);
    ce_buf_free(&b);
    const char *mixed = "[{" BASE "},{\"specversion\":\"0.3\",\"id\":\"1\",\"source\":\"/s\","
                        "\"type\":\"t\"}]";
    ck_assert_int_eq(ce_json_decode_batch(mixed, strlen(mixed), &evs, &n, &e), CE_E_SPECVERSION);
    ck_assert_ptr_nonnull(strstr(e.message, "specversion"));
    const char *bad1 = "[{" BASE "},{\"specversion\":\"1.0\"}]";
    ck_assert_int_eq(ce_json_decode_batch(bad1, strlen(bad1), &evs, &n, &e), CE_E_MISSING);
    ck_assert_ptr_nonnull(strstr(e.message, "batch event 1"));
    ck_assert_int_eq(ce_json_decode_batch("{" BASE "}", strlen("{" BASE "}"), &evs, &n, &e),
                     CE_E_JSON);
    ck_assert_int_eq(ce_json_decode_batch("[1]", 3, &evs, &n, &e), CE_E_JSON);
    ck_assert_int_eq(ce_json_decode_batch("[", 1, &evs, &n, &e), CE_E_JSON);
    ck_assert_int_eq(ce_json_decode_batch("[{" BASE "},]", strlen("[{" BASE "},]"), &evs, &n, &e),
                     CE_E_JSON);
}
END_TEST

static char *enc_bytes(const char *ct, const char *data)
{
    ce_event_t *ev = tu_min_event();
    if (ct)
        tu_set(ev, "datacontenttype", ct);
    ce_event_set_data(ev, data, strlen(data), false);
    char *out = enc(ev);
    ce_event_free(ev);
    return out;
}

START_TEST(test_json_content_type_detection)
{
    struct {
        const char *ct;
        bool json;
    } cases[] = {{"application/json", true},
                 {"application/json; charset=utf-8", true},
                 {"APPLICATION/JSON", true},
                 {"text/json", true},
                 {"application/ld+json", true},
                 {"application/cloudevents+json", true},
                 {"application/vnd.api+json ; x=y", true},
                 {"application/json-seq", false},
                 {"application/jsonx", false},
                 {"application/octet-stream", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = enc_bytes(cases[i].ct, "{\"a\":1}");
        if (cases[i].json)
            ck_assert_msg(strstr(out, "\"data\":{\"a\":1}") != NULL, "%s: %s", cases[i].ct, out);
        else
            ck_assert_msg(strstr(out, "\"data_base64\":\"eyJhIjoxfQ==\"") != NULL, "%s: %s",
                          cases[i].ct, out);
        free(out);
    }
    /* JSON content type but the bytes are not JSON: base64, never broken JSON */
    char *out = enc_bytes("application/json", "{not json");
    ck_assert_ptr_nonnull(strstr(out, "data_base64"));
    free(out);
}
END_TEST

START_TEST(test_encode_data_rules)
{
    /* text: a JSON string */
    char *out = enc_bytes("text/plain; charset=utf-8", "Hello, \xf0\x9f\x8c\x8e!\n");
    ck_assert_ptr_nonnull(strstr(out, "\"data\":\"Hello, \xf0\x9f\x8c\x8e!\\n\""));
    free(out);
    out = enc_bytes("application/xml", "<a>\"x\"</a>");
    ck_assert_ptr_nonnull(strstr(out, "\"data\":\"<a>\\\"x\\\"</a>\""));
    free(out);
    /* text that is not UTF-8: base64 */
    out = enc_bytes("text/plain", "\xff\xfe");
    ck_assert_ptr_nonnull(strstr(out, "\"data_base64\":\"//4=\""));
    free(out);
    /* no content type with bytes: base64 and no invented datacontenttype */
    out = enc_bytes(NULL, "abc");
    ck_assert_ptr_nonnull(strstr(out, "\"data_base64\":\"YWJj\""));
    ck_assert_ptr_null(strstr(out, "datacontenttype"));
    free(out);
}
END_TEST

START_TEST(test_roundtrip_all_types)
{
    const char *in = "{\"specversion\":\"1.0\",\"id\":\"A 234-1234-1234\",\"source\":"
                     "\"/mycontext\",\"type\":\"com.example\",\"datacontenttype\":\"text/xml\","
                     "\"dataschema\":\"https://s/x\",\"subject\":\"s \\\"q\\\"\",\"time\":"
                     "\"2018-04-05t17:31:00.5z\",\"ext\":\"v\",\"n\":42,\"b\":true,"
                     "\"data\":\"<much wow=\\\"xml\\\"/>\"}";
    ce_event_t *ev = dec_ok(in);
    char *out = enc(ev);
    ck_assert_str_eq(out, in);
    free(out);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_decode_nomem)
{
    const char *in = "{" BASE ",\"time\":\"2018-04-05T17:31:00Z\",\"ext\":\"v\",\"n\":42,"
                     "\"data\":{\"a\":[1,2,3]}}";
    int first_ok = -1;
    for (long n = 0; n < 100; n++) {
        tu_alloc_install(n);
        ce_event_t *ev = NULL;
        ce_error_t e;
        ce_err_t rc = ce_json_decode(in, strlen(in), &ev, &e);
        ce_buf_t b = {0};
        ce_err_t rc2 = ev ? ce_json_encode(ev, &b) : CE_E_OK;
        tu_alloc_restore();
        if (rc == CE_E_OK) {
            if (first_ok < 0)
                first_ok = (int)n;
            ck_assert(rc2 == CE_E_OK || rc2 == CE_E_NOMEM);
            ce_event_free(ev);
        } else {
            ck_assert_msg(rc == CE_E_NOMEM, "n=%ld rc=%s", n, ce_err_name(rc));
            ck_assert_ptr_null(ev);
            ck_assert_ptr_nonnull(strstr(e.message, "out of memory"));
        }
        ce_buf_free(&b);
    }
    ck_assert_int_gt(first_ok, 0);
    /* batch too */
    const char *batch = "[{" BASE "},{" BASE "}]";
    for (long n = 0; n < 40; n++) {
        tu_alloc_install(n);
        ce_event_t **evs = NULL;
        size_t cnt = 0;
        ce_err_t rc = ce_json_decode_batch(batch, strlen(batch), &evs, &cnt, NULL);
        tu_alloc_restore();
        ck_assert(rc == CE_E_OK || rc == CE_E_NOMEM);
        if (rc == CE_E_OK) {
            for (size_t i = 0; i < cnt; i++)
                ce_event_free(evs[i]);
            free(evs);
        }
    }
}
END_TEST

START_TEST(test_buf)
{
    ce_buf_t b = {0};
    ck_assert_int_eq(ce_buf_append(&b, "ab", 2), CE_E_OK);
    ck_assert_int_eq(ce_buf_append(&b, "cd", 2), CE_E_OK);
    ck_assert_str_eq(b.data, "abcd");
    tu_alloc_install(0);
    char big[200] = {0};
    ck_assert_int_eq(ce_buf_append(&b, big, sizeof big), CE_E_NOMEM);
    tu_alloc_restore();
    ck_assert_uint_eq(b.len, 4);
    ce_buf_free(&b);
    ce_buf_free(NULL);
}
END_TEST

START_TEST(test_base64)
{
    /* RFC 4648 §10 vectors, both ways */
    static const char *const vec[][2] = {{"", ""},
                                         {"f", "Zg=="},
                                         {"fo", "Zm8="},
                                         {"foo", "Zm9v"},
                                         {"foob", "Zm9vYg=="},
                                         {"fooba", "Zm9vYmE="},
                                         {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        ce_buf_t b = {0};
        ck_assert_int_eq(ce_base64_encode(vec[i][0], strlen(vec[i][0]), &b), CE_E_OK);
        ck_assert_uint_eq(b.len, strlen(vec[i][1]));
        ck_assert(b.len == 0 || memcmp(b.data, vec[i][1], b.len) == 0);
        b.len = 0;
        ck_assert_int_eq(ce_base64_decode(vec[i][1], strlen(vec[i][1]), &b), CE_E_OK);
        ck_assert_uint_eq(b.len, strlen(vec[i][0]));
        ck_assert(b.len == 0 || memcmp(b.data, vec[i][0], b.len) == 0);
        ce_buf_free(&b);
    }
    /* all 256 byte values, and the result is appended after what the buffer held */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    ce_buf_t enc = {0}, dec = {0};
    ck_assert_int_eq(ce_base64_encode(all, sizeof all, &enc), CE_E_OK);
    ck_assert_uint_eq(enc.len, 344);
    ck_assert_int_eq(ce_buf_append(&dec, "x", 1), CE_E_OK);
    ck_assert_int_eq(ce_base64_decode(enc.data, enc.len, &dec), CE_E_OK);
    ck_assert_uint_eq(dec.len, 257);
    ck_assert_int_eq(dec.data[0], 'x');
    ck_assert_int_eq(memcmp(dec.data + 1, all, sizeof all), 0);
    /* strict: unpadded, whitespace, URL alphabet, data after padding, '=' too early */
    static const char *const bad[] = {"Zg",       "Zg=",  "Zm9v\n", "Zm9v Yg==", "-_-_",
                                      "Zg==Zg==", "Z===", "=Zm9",   "Zm=v"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(ce_base64_decode(bad[i], strlen(bad[i]), &dec) == CE_E_TYPE, "%s", bad[i]);
        ck_assert_uint_eq(dec.len, 257); /* left as it was */
    }
    ck_assert_int_eq(ce_base64_decode(NULL, 4, &dec), CE_E_ARG);
    ck_assert_int_eq(ce_base64_decode("Zm9v", 4, NULL), CE_E_ARG);
    ck_assert_int_eq(ce_base64_encode(NULL, 1, &dec), CE_E_ARG);
    ce_buf_free(&enc);
    ce_buf_free(&dec);
}
END_TEST

START_TEST(test_member_bound)
{
    /* 1001 null members: bounded, not quadratic */
    ce_buf_t b = {0};
    ce_buf_append(&b, "{" BASE, strlen("{" BASE));
    for (int i = 0; i <= CE_MAX_EXTENSIONS; i++) {
        char m[32];
        int n = snprintf(m, sizeof m, ",\"n%d\":null", i);
        ce_buf_append(&b, m, (size_t)n);
    }
    ce_buf_append(&b, "}", 1);
    ce_event_t *ev = NULL;
    ce_error_t e;
    ck_assert_int_eq(ce_json_decode(b.data, b.len, &ev, &e), CE_E_TOO_LARGE);
    ce_buf_free(&b);
}
END_TEST

/* The public media-type rule, including the inputs where the CLI's older rules disagreed. */
START_TEST(test_media_type_is_json)
{
    struct {
        const char *ct;
        bool json;
    } cases[] = {{"application/json", true},
                 {"Application/JSON", true},
                 {"text/json", true},
                 {"application/ld+json", true},
                 {"application/cloudevents+json; charset=utf-8", true},
                 {" application/json \t; q=1", true},
                 {"application/json\t", true},
                 {"application/json-seq", false},
                 {"application/jsonx", false},
                 {"application/x-json", false},
                 {"application/+json", false},
                 {"/json", false},
                 {"json", false},
                 {"foo+json", false},
                 {"", false},
                 {"text/plain", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(ce_media_type_is_json(cases[i].ct, strlen(cases[i].ct)) == cases[i].json,
                      "'%s' should be %s", cases[i].ct, cases[i].json ? "JSON" : "not JSON");
    /* the length bounds the value: no NUL needed, nothing read past len */
    ck_assert(ce_media_type_is_json("application/jsonXYZ", 16));
    ck_assert(!ce_media_type_is_json("application/json", 15));
    ck_assert(!ce_media_type_is_json(NULL, 0));
}
END_TEST

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("json");
    tcase_add_test(tc, test_decode_minimal_and_attrs);
    tcase_add_test(tc, test_data_kept_verbatim);
    tcase_add_test(tc, test_data_string_not_reparsed);
    tcase_add_test(tc, test_data_null_vs_absent);
    tcase_add_test(tc, test_data_base64);
    tcase_add_test(tc, test_duplicates_rejected);
    tcase_add_test(tc, test_extension_types);
    tcase_add_test(tc, test_names_and_required);
    tcase_add_test(tc, test_v03_mapped);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_batch);
    tcase_add_test(tc, test_json_content_type_detection);
    tcase_add_test(tc, test_media_type_is_json);
    tcase_add_test(tc, test_encode_data_rules);
    tcase_add_test(tc, test_roundtrip_all_types);
    tcase_add_test(tc, test_decode_nomem);
    tcase_add_test(tc, test_buf);
    tcase_add_test(tc, test_base64);
    tcase_add_test(tc, test_member_bound);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
