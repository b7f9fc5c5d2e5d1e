/* test_http.c — Check suite for the HTTP protocol binding (ce_http.h). */
#include "herald/ce_http.h"
#include "sdk_test_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H(n, v)                                                                                    \
    {                                                                                              \
        n, sizeof(n) - 1, v, sizeof(v) - 1                                                         \
    }
#define REQ H("ce-specversion", "1.0"), H("ce-id", "1"), H("ce-source", "/s"), H("ce-type", "t")

static ce_http_msg_t msg_of(const ce_header_t *hs, size_t n, const char *body)
{
    ce_http_msg_t m = {hs, n, body, body ? strlen(body) : 0};
    return m;
}

static ce_event_t *dec1(const ce_header_t *hs, size_t n, const char *body)
{
    ce_http_msg_t m = msg_of(hs, n, body);
    ce_event_t **evs = NULL;
    size_t cnt = 0;
    ce_error_t e = {0};
    ce_err_t rc = ce_http_decode(&m, &evs, &cnt, &e);
    ck_assert_msg(rc == CE_E_OK, "%s: %s", ce_err_name(rc), e.message);
    ck_assert_uint_eq(cnt, 1);
    ce_event_t *ev = evs[0];
    free(evs);
    return ev;
}

static ce_err_t dec_err(const ce_header_t *hs, size_t n, const char *body, ce_error_t *e)
{
    ce_http_msg_t m = msg_of(hs, n, body);
    ce_event_t **evs = NULL;
    size_t cnt = 0;
    ce_err_t rc = ce_http_decode(&m, &evs, &cnt, e);
    ck_assert_ptr_null(evs);
    return rc;
}

static char *hdr_enc(const char *v, ce_header_encoding_t enc)
{
    ce_buf_t b = {0};
    ck_assert_int_eq(ce_http_header_encode(v, strlen(v), enc, &b), CE_E_OK);
    return b.data;
}

static char *hdr_dec(const char *v, ce_err_t want)
{
    ce_buf_t b = {0};
    ce_error_t e;
    ck_assert_int_eq(ce_http_header_decode(v, strlen(v), &b, &e), want);
    if (want == CE_E_UTF8)
        ck_assert_ptr_nonnull(strstr(e.message, "invalid UTF-8"));
    if (want != CE_E_OK) {
        ck_assert(b.len == 0);
        ce_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* Asserts that v encodes to want in mode enc. */
static void expect_enc(const char *v, ce_header_encoding_t enc, const char *want)
{
    char *s = hdr_enc(v, enc);
    ck_assert_str_eq(s, want);
    free(s);
}

/* Asserts that v decodes (without error) to want. */
static void expect_dec(const char *v, const char *want)
{
    char *s = hdr_dec(v, CE_E_OK);
    ck_assert_str_eq(s, want);
    free(s);
}

static const char *hval(const ce_http_out_t *o, const char *name)
{
    for (size_t i = 0; i < o->header_count; i++)
        if (o->headers[i].name_len == strlen(name) &&
            memcmp(o->headers[i].name, name, o->headers[i].name_len) == 0)
            return o->headers[i].value;
    return NULL;
}

START_TEST(test_mode_detection)
{
    struct {
        const char *ct;
        ce_http_mode_t mode;
    } cases[] = {
        {"application/cloudevents-batch+json", CE_HTTP_BATCH},
        {"Application/CloudEvents-Batch+JSON; charset=utf-8", CE_HTTP_BATCH},
        {"application/cloudevents+json", CE_HTTP_STRUCTURED},
        {" application/cloudevents+json ; charset=UTF-8", CE_HTTP_STRUCTURED},
        {"application/cloudevents+avro", CE_HTTP_STRUCTURED},
        {"application/json", CE_HTTP_BINARY},
        {"text/plain", CE_HTTP_BINARY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ce_header_t h = {"Content-Type", 12, cases[i].ct, strlen(cases[i].ct)};
        ce_http_msg_t m = {&h, 1, NULL, 0};
        ck_assert_msg(ce_http_mode(&m) == cases[i].mode, "%s", cases[i].ct);
    }
    ce_http_msg_t none = {NULL, 0, NULL, 0};
    ck_assert_int_eq(ce_http_mode(&none), CE_HTTP_BINARY);
}
END_TEST

START_TEST(test_percent_encode_strict_and_compat)
{
    expect_enc("Euro \xe2\x82\xac \xf0\x9f\x98\x80", CE_HEADER_STRICT,
               "Euro%20%E2%82%AC%20%F0%9F%98%80");
    expect_enc("100% \"sure\"", CE_HEADER_STRICT, "100%25%20%22sure%22");
    expect_enc("a\x7f\t~!", CE_HEADER_STRICT, "a%7F%09~!");
    expect_enc("{\"othervalue\": 5}\n", CE_HEADER_COMPAT, "{\"othervalue\": 5}%0A");
    expect_enc("{\"othervalue\": 5}\n", CE_HEADER_STRICT, "{%22othervalue%22:%205}%0A");
    expect_enc("Euro \xe2\x82\xac 100%", CE_HEADER_COMPAT, "Euro \xe2\x82\xac 100%");
    expect_enc("a\xc2\x85z\x7f", CE_HEADER_COMPAT, "a%C2%85z%7F");
    expect_enc("", CE_HEADER_STRICT, "");
}
END_TEST

START_TEST(test_percent_decode_lenient)
{
    expect_dec("Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro \xe2\x82\xac \xf0\x9f\x98\x80");
    expect_dec("%e2%82%ac%41", "\xe2\x82\xac"
                               "A"); /* lower-case hex, needless encoding */
    expect_dec("100%", "100%");
    expect_dec("%zz%4%", "%zz%4%");
    expect_dec("%2541", "%41");                     /* decoded exactly once */
    expect_dec("\"a \\\"b\\\" %20\"", "a \"b\"  "); /* quoted-string first, then percent */
    expect_dec("  padded\t", "padded");
    hdr_dec("%C0%A0", CE_E_UTF8); /* overlong space */
    hdr_dec("%FF", CE_E_UTF8);
    hdr_dec("%ED%A0%80", CE_E_UTF8); /* surrogate */
    hdr_dec("\xe2\x82", CE_E_UTF8);  /* raw truncated */
}
END_TEST

START_TEST(test_binary_decode)
{
    ce_header_t hs[] = {H("CE-SpecVersion", "1.0"),
                        H("Ce-Id", "A%20B"),
                        H("ce-source", "/mycontext"),
                        H("ce-type", "com.example"),
                        H("ce-time", "2018-04-05T03:56:24+02:00"),
                        H("ce-myflag", "True"),
                        H("ce-comment", "100%"),
                        H("Content-Type", " application/json; charset=utf-8 "),
                        H("User-Agent", "x"),
                        H("ce-datacontenttype", "text/ignored")};
    ce_event_t *ev = dec1(hs, sizeof hs / sizeof hs[0], "{\"a\":1}");
    ck_assert_str_eq(ce_event_get_str(ev, "id"), "A B");
    ck_assert_str_eq(ce_event_get_str(ev, "time"), "2018-04-05T03:56:24+02:00");
    ck_assert_str_eq(ce_event_get_str(ev, "myflag"), "True");
    ck_assert_int_eq(ce_event_get(ev, "myflag", 6)->type, CE_TYPE_STRING);
    ck_assert_str_eq(ce_event_get_str(ev, "comment"), "100%");
    ck_assert_str_eq(ce_event_get_str(ev, "datacontenttype"), "application/json; charset=utf-8");
    ck_assert_ptr_null(ce_event_get(ev, "useragent", 9));
    const void *d;
    size_t n;
    ck_assert(ce_event_data(ev, &d, &n));
    ck_assert_uint_eq(n, 7);
    ck_assert_mem_eq(d, "{\"a\":1}", 7);
    ce_event_free(ev);
    /* empty body: no data; no Content-Type: no datacontenttype (no implied JSON) */
    ce_header_t req[] = {REQ};
    ev = dec1(req, 4, NULL);
    ck_assert(!ce_event_data(ev, NULL, NULL));
    ck_assert_ptr_null(ce_event_get(ev, "datacontenttype", 15));
    ce_event_free(ev);
}
END_TEST

START_TEST(test_binary_decode_errors)
{
    ce_error_t e;
    static const char *req[] = {"specversion", "id", "source", "type"};
    for (int k = 0; k < 4; k++) {
        ce_header_t hs[] = {REQ};
        hs[k].name = "x-other";
        hs[k].name_len = 7;
        ck_assert_int_eq(dec_err(hs, 4, "body", &e), CE_E_MISSING);
        ck_assert_ptr_nonnull(strstr(e.message, req[k]));
    }
    ce_header_t dup[] = {REQ, H("CE-ID", "2")};
    ck_assert_int_eq(dec_err(dup, 5, NULL, &e), CE_E_DUPLICATE);
    ck_assert_ptr_nonnull(strstr(e.message, "'id'"));
    ce_header_t bad[] = {REQ, H("ce-foo-bar", "x")};
    ck_assert_int_eq(dec_err(bad, 5, NULL, &e), CE_E_NAME);
    ck_assert_ptr_nonnull(strstr(e.message, "foo-bar"));
    ce_header_t nl[] = {REQ, H("ce-comexampleextension2", "{\"othervalue\": 5}%0A")};
    ck_assert_int_eq(dec_err(nl, 5, NULL, &e), CE_E_TYPE);
    ck_assert_ptr_nonnull(strstr(e.message, "comexampleextension2"));
    ce_header_t raw_nl[] = {REQ, H("ce-comexampleextension2", "{\"othervalue\": 5}\n")};
    ck_assert_int_eq(dec_err(raw_nl, 5, NULL, &e), CE_E_TYPE);
    ce_header_t ovl[] = {REQ, H("ce-subject", "a%C0%A0b")};
    ck_assert_int_eq(dec_err(ovl, 5, NULL, &e), CE_E_UTF8);
    ck_assert_ptr_nonnull(strstr(e.message, "invalid UTF-8"));
    ck_assert_ptr_nonnull(strstr(e.message, "subject"));
    ce_header_t sv[] = {H("ce-specversion", "2.0"), H("ce-id", "1"), H("ce-source", "/s"),
                        H("ce-type", "t")};
    ck_assert_int_eq(dec_err(sv, 4, NULL, &e), CE_E_SPECVERSION);
    ce_header_t tm[] = {REQ, H("ce-time", "yesterday")};
    ck_assert_int_eq(dec_err(tm, 5, NULL, &e), CE_E_TYPE);
    ck_assert_ptr_nonnull(strstr(e.message, "'time'"));
    ce_header_t ct2[] = {REQ, H("content-type", "a/b"), H("Content-Type", "c/d")};
    ck_assert_int_eq(dec_err(ct2, 6, NULL, &e), CE_E_DUPLICATE);
}
END_TEST

START_TEST(test_binary_v03_mapped)
{
    ce_header_t hs[] = {H("ce-specversion", "0.3"), H("ce-id", "1"), H("ce-source", "/s"),
                        H("ce-type", "t"), H("ce-schemaurl", "https://x/s")};
    ce_event_t *ev = dec1(hs, 5, NULL);
    ck_assert_str_eq(ce_event_get_str(ev, "specversion"), "1.0");
    ck_assert_str_eq(ce_event_get_str(ev, "dataschema"), "https://x/s");
    ce_event_free(ev);
}
END_TEST

START_TEST(test_structured_and_batch_decode)
{
    const char *body = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
                       "\"data\":{\"x\":1}}";
    ce_header_t hs[] = {H("content-type", "application/cloudevents+json; charset=utf-8"),
                        H("ce-id", "ignored"), H("ce-foo-bar", "ignored too")};
    ce_event_t *ev = dec1(hs, 3, body);
    ck_assert_str_eq(ce_event_get_str(ev, "id"), "1");
    ck_assert(ce_event_data_is_json(ev));
    ce_event_free(ev);
    ce_error_t e;
    ce_header_t avro[] = {H("content-type", "application/cloudevents+avro")};
    ck_assert_int_eq(dec_err(avro, 1, body, &e), CE_E_MEDIA_TYPE);
    ce_header_t xbatch[] = {H("content-type", "application/cloudevents-batch+xml")};
    ck_assert_int_eq(dec_err(xbatch, 1, "[]", &e), CE_E_MEDIA_TYPE);
    ce_header_t bh[] = {H("Content-Type", "application/cloudevents-batch+json")};
    ce_http_msg_t m = msg_of(bh, 1, "[]");
    ce_event_t **evs;
    size_t n = 99;
    ck_assert_int_eq(ce_http_decode(&m, &evs, &n, &e), CE_E_OK);
    ck_assert_uint_eq(n, 0);
    free(evs);
    char batch[512];
    snprintf(batch, sizeof batch, "[%s,%s]", body, body);
    m = msg_of(bh, 1, batch);
    ck_assert_int_eq(ce_http_decode(&m, &evs, &n, &e), CE_E_OK);
    ck_assert_uint_eq(n, 2);
    ce_event_free(evs[0]);
    ce_event_free(evs[1]);
    free(evs);
    ce_header_t sh[] = {H("content-type", "application/cloudevents+json")};
    ck_assert_int_eq(dec_err(sh, 1, "{\"id\":\"1\"", &e), CE_E_JSON);
    ck_assert_int_eq(dec_err(sh, 1, NULL, &e), CE_E_JSON);
}
END_TEST

START_TEST(test_binary_encode)
{
    ce_event_t *ev = tu_min_event();
    tu_set(ev, "subject", "Euro \xe2\x82\xac \xf0\x9f\x98\x80");
    tu_set(ev, "datacontenttype", "text/plain; charset=utf-8");
    tu_set(ev, "time", "2018-04-05T03:56:24.000+02:00");
    ce_event_set_int(ev, "num", 5, NULL);
    ce_event_set_data(ev, "hello", 5, false);
    ce_http_out_t o;
    ck_assert_int_eq(ce_http_encode(ev, CE_HTTP_BINARY, CE_HEADER_STRICT, &o), CE_E_OK);
    ck_assert_str_eq(hval(&o, "ce-subject"), "Euro%20%E2%82%AC%20%F0%9F%98%80");
    ck_assert_str_eq(hval(&o, "ce-specversion"), "1.0");
    ck_assert_str_eq(hval(&o, "ce-time"), "2018-04-05T03:56:24.000+02:00");
    ck_assert_str_eq(hval(&o, "ce-num"), "5");
    ck_assert_str_eq(hval(&o, "content-type"), "text/plain; charset=utf-8");
    ck_assert_ptr_null(hval(&o, "ce-datacontenttype"));
    ck_assert_uint_eq(o.body.len, 5);
    ck_assert_mem_eq(o.body.data, "hello", 5);
    /* and back */
    ce_http_msg_t m = {o.headers, o.header_count, o.body.data, o.body.len};
    ce_event_t **evs;
    size_t n;
    ck_assert_int_eq(ce_http_decode(&m, &evs, &n, NULL), CE_E_OK);
    ck_assert_str_eq(ce_event_get_str(evs[0], "subject"), "Euro \xe2\x82\xac \xf0\x9f\x98\x80");
    ck_assert_str_eq(ce_event_get_str(evs[0], "num"), "5");
    ce_event_free(evs[0]);
    free(evs);
    ce_http_out_free(&o);
    ck_assert_int_eq(ce_http_encode(ev, CE_HTTP_BINARY, CE_HEADER_COMPAT, &o), CE_E_OK);
    ck_assert_str_eq(hval(&o, "ce-subject"), "Euro \xe2\x82\xac \xf0\x9f\x98\x80");
    ce_http_out_free(&o);
    ck_assert_int_eq(ce_http_encode(ev, CE_HTTP_BATCH, CE_HEADER_COMPAT, &o), CE_E_ARG);
    ce_event_free(ev);
    ce_http_out_free(NULL);
}
END_TEST

START_TEST(test_binary_encode_json_data)
{
    /* JSON-format data translated to binary: a string stays quoted, implied content type written */
    const char *in = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
                     "\"data\":\"I'm just a string\"}";
    ce_event_t *ev;
    ck_assert_int_eq(ce_json_decode(in, strlen(in), &ev, NULL), CE_E_OK);
    ce_http_out_t o;
    ck_assert_int_eq(ce_http_encode(ev, CE_HTTP_BINARY, CE_HEADER_STRICT, &o), CE_E_OK);
    ck_assert_str_eq(hval(&o, "content-type"), "application/json");
    ck_assert_str_eq(o.body.data, "\"I'm just a string\"");
    ce_http_out_free(&o);
    ce_event_free(ev);
    in = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\",\"data\":null}";
    ck_assert_int_eq(ce_json_decode(in, strlen(in), &ev, NULL), CE_E_OK);
    ck_assert_int_eq(ce_http_encode(ev, CE_HTTP_BINARY, CE_HEADER_STRICT, &o), CE_E_OK);
    ck_assert_str_eq(o.body.data, "null");
    ce_http_out_free(&o);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_structured_encode)
{
    ce_event_t *ev = tu_min_event();
    ce_event_set_data(ev, "{\"k\":[1,2]}", 11, true);
    ce_http_out_t o;
    ck_assert_int_eq(ce_http_encode(ev, CE_HTTP_STRUCTURED, CE_HEADER_STRICT, &o), CE_E_OK);
    ck_assert_uint_eq(o.header_count, 1);
    ck_assert_str_eq(hval(&o, "content-type"), "application/cloudevents+json");
    ck_assert_ptr_nonnull(strstr(o.body.data, "\"data\":{\"k\":[1,2]}"));
    ce_http_msg_t m = {o.headers, o.header_count, o.body.data, o.body.len};
    ck_assert_int_eq(ce_http_mode(&m), CE_HTTP_STRUCTURED);
    ce_event_t **evs;
    size_t n;
    ck_assert_int_eq(ce_http_decode(&m, &evs, &n, NULL), CE_E_OK);
    ck_assert_str_eq(ce_event_get_str(evs[0], "source"), "/src");
    ce_event_free(evs[0]);
    free(evs);
    ce_http_out_free(&o);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_decode_nomem)
{
    ce_header_t hs[] = {REQ, H("ce-time", "2018-04-05T03:56:24Z"), H("ce-ext", "a%20b"),
                        H("content-type", "text/plain")};
    const char *sbody = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}";
    ce_header_t sh[] = {H("content-type", "application/cloudevents+json")};
    for (int mode = 0; mode < 2; mode++) {
        int first_ok = -1;
        for (long k = 0; k < 80; k++) {
            ce_http_msg_t m = mode ? msg_of(sh, 1, sbody) : msg_of(hs, 7, "data");
            tu_alloc_install(k);
            ce_event_t **evs = NULL;
            size_t n = 0;
            ce_error_t e;
            ce_err_t rc = ce_http_decode(&m, &evs, &n, &e);
            ce_http_out_t o;
            ce_err_t rc2 = rc == CE_E_OK
                               ? ce_http_encode(evs[0], CE_HTTP_BINARY, CE_HEADER_STRICT, &o)
                               : CE_E_NOMEM;
            tu_alloc_restore();
            if (rc2 == CE_E_OK)
                ce_http_out_free(&o);
            else
                ck_assert_int_eq(rc2, CE_E_NOMEM);
            if (rc == CE_E_OK) {
                if (first_ok < 0)
                    first_ok = (int)k;
                ce_event_free(evs[0]);
                free(evs);
            } else {
                ck_assert_msg(rc == CE_E_NOMEM, "k=%ld %s %s", k, ce_err_name(rc), e.message);
                ck_assert_ptr_null(evs);
            }
        }
        ck_assert_int_gt(first_ok, 0);
    }
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("http");
    tcase_add_test(tc, test_mode_detection);
    tcase_add_test(tc, test_percent_encode_strict_and_compat);
    tcase_add_test(tc, test_percent_decode_lenient);
    tcase_add_test(tc, test_binary_decode);
    tcase_add_test(tc, test_binary_decode_errors);
    tcase_add_test(tc, test_binary_v03_mapped);
    tcase_add_test(tc, test_structured_and_batch_decode);
    tcase_add_test(tc, test_binary_encode);
    tcase_add_test(tc, test_binary_encode_json_data);
    tcase_add_test(tc, test_structured_encode);
    tcase_add_test(tc, test_decode_nomem);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(http_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
