/* test_kafka_nats.c — Check suite for the Kafka and NATS bindings (ce_kafka.h, ce_nats.h). */
#include "herald/ce_kafka.h"
#include "herald/ce_nats.h"
#include "sdk_test_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H(n, v)                                                                                    \
    {                                                                                              \
        n, sizeof(n) - 1, v, sizeof(v) - 1                                                         \
    }
#define KREQ H("ce_specversion", "1.0"), H("ce_id", "1"), H("ce_source", "/s"), H("ce_type", "t")
#define NREQ H("ce-specversion", "1.0"), H("ce-id", "1"), H("ce-source", "/s"), H("ce-type", "t")
#define EURO "Euro \xe2\x82\xac \xf0\x9f\x98\x80"

static const char *hval(const ce_header_t *hs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (hs[i].name_len == strlen(name) && memcmp(hs[i].name, name, hs[i].name_len) == 0)
            return hs[i].value;
    return NULL;
}

static ce_event_t *kdec(const ce_header_t *hs, size_t n, const char *key, const char *value)
{
    ce_kafka_msg_t m = {hs, n, key, key ? strlen(key) : 0, value, value ? strlen(value) : 0};
    ce_event_t *ev = NULL;
    ce_error_t e = {0};
    ce_err_t rc = ce_kafka_decode(&m, &ev, &e);
    ck_assert_msg(rc == CE_E_OK, "%s: %s", ce_err_name(rc), e.message);
    return ev;
}

static ce_err_t kdec_err(const ce_header_t *hs, size_t n, const char *value, ce_error_t *e)
{
    ce_kafka_msg_t m = {hs, n, NULL, 0, value, value ? strlen(value) : 0};
    ce_event_t *ev = NULL;
    ce_err_t rc = ce_kafka_decode(&m, &ev, e);
    ck_assert_ptr_null(ev);
    return rc;
}

START_TEST(test_kafka_binary_decode)
{
    ce_header_t hs[] = {H("CE_SpecVersion", "1.0"),     H("ce_id", "1"),
                        H("ce_source", "/s"),           H("ce_type", "t"),
                        H("ce_subject", "a%20b " EURO), H("content-type", "application/json"),
                        H("ce_datacontenttype", "x/y"), H("traceparent", "00-abc")};
    ce_event_t *ev = kdec(hs, sizeof hs / sizeof hs[0], "the-key", "{\"a\":1}");
    ck_assert_str_eq(ce_event_get_str(ev, "subject"), "a%20b " EURO); /* no percent-decoding */
    ck_assert_str_eq(ce_event_get_str(ev, "datacontenttype"), "application/json");
    ck_assert_ptr_null(ce_event_get(ev, "partitionkey", 12)); /* key is not an attribute */
    const void *d;
    size_t n;
    ck_assert(ce_event_data(ev, &d, &n));
    ck_assert_mem_eq(d, "{\"a\":1}", 7);
    ce_event_free(ev);
    ce_header_t req[] = {KREQ};
    ev = kdec(req, 4, NULL, NULL); /* null value: no data */
    ck_assert(!ce_event_data(ev, NULL, NULL));
    ce_event_free(ev);
    ev = kdec(req, 4, NULL, ""); /* empty value: empty data */
    ck_assert(ce_event_data(ev, &d, &n));
    ck_assert_uint_eq(n, 0);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_kafka_decode_errors)
{
    ce_error_t e;
    ce_header_t dup[] = {KREQ, H("CE_ID", "2")};
    ck_assert_int_eq(kdec_err(dup, 5, NULL, &e), CE_E_DUPLICATE);
    ce_header_t bad[] = {KREQ, H("ce_foo_bar", "x")};
    ck_assert_int_eq(kdec_err(bad, 5, NULL, &e), CE_E_NAME);
    ck_assert_ptr_nonnull(strstr(e.message, "foo_bar"));
    ce_header_t miss[] = {H("ce_specversion", "1.0"), H("ce_id", "1")};
    ck_assert_int_eq(kdec_err(miss, 2, "plain bytes", &e), CE_E_MISSING);
    ck_assert_int_eq(kdec_err(NULL, 0, "not an event", &e), CE_E_MISSING);
    ce_header_t utf[] = {KREQ, H("ce_subject", "\xc0\xa0")};
    ck_assert_int_eq(kdec_err(utf, 5, NULL, &e), CE_E_UTF8);
    ce_header_t avro[] = {H("content-type", "application/cloudevents+avro")};
    ck_assert_int_eq(kdec_err(avro, 1, "{}", &e), CE_E_MEDIA_TYPE);
    ce_header_t batch[] = {H("content-type", "application/cloudevents-batch+json")};
    ck_assert_int_eq(kdec_err(batch, 1, "[]", &e), CE_E_MEDIA_TYPE);
}
END_TEST

START_TEST(test_kafka_structured_decode)
{
    const char *json = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\","
                       "\"partitionkey\":\"pk\",\"data\":{\"x\":1}}";
    ce_header_t hs[] = {H("Content-Type", "application/cloudevents+json; charset=UTF-8"),
                        H("ce_id", "ignored")};
    ce_kafka_msg_t m = {hs, 2, NULL, 0, json, strlen(json)};
    ck_assert_int_eq(ce_kafka_mode(&m), CE_KAFKA_STRUCTURED);
    ce_event_t *ev = kdec(hs, 2, NULL, json);
    ck_assert_str_eq(ce_event_get_str(ev, "id"), "1");
    ce_event_free(ev);
    /* headerless record holding a JSON event (Kafka <= 0.10) */
    ev = kdec(NULL, 0, NULL, json);
    ck_assert_str_eq(ce_event_get_str(ev, "partitionkey"), "pk");
    ce_event_free(ev);
}
END_TEST

START_TEST(test_kafka_encode)
{
    ce_event_t *ev = tu_min_event();
    tu_set(ev, "subject", EURO);
    tu_set(ev, "partitionkey", "customer-42");
    tu_set(ev, "datacontenttype", "text/plain");
    ce_kafka_out_t o;
    ck_assert_int_eq(ce_kafka_encode(ev, CE_KAFKA_BINARY, CE_KAFKA_KEY_NONE, &o), CE_E_OK);
    ck_assert_str_eq(hval(o.headers, o.header_count, "ce_subject"), EURO); /* raw UTF-8 */
    ck_assert_str_eq(hval(o.headers, o.header_count, "content-type"), "text/plain");
    ck_assert_ptr_null(hval(o.headers, o.header_count, "ce_datacontenttype"));
    ck_assert_str_eq(hval(o.headers, o.header_count, "ce_partitionkey"), "customer-42");
    ck_assert(!o.has_key);
    ck_assert(o.value_null); /* no data: tombstone */
    ce_kafka_out_free(&o);
    ck_assert_int_eq(ce_kafka_encode(ev, CE_KAFKA_BINARY, CE_KAFKA_KEY_PARTITIONKEY, &o), CE_E_OK);
    ck_assert(o.has_key);
    ck_assert_str_eq(o.key.data, "customer-42");
    ck_assert_str_eq(hval(o.headers, o.header_count, "ce_partitionkey"), "customer-42");
    ce_kafka_out_free(&o);
    ce_event_set_data(ev, "hi", 2, false);
    ck_assert_int_eq(ce_kafka_encode(ev, CE_KAFKA_STRUCTURED, CE_KAFKA_KEY_PARTITIONKEY, &o),
                     CE_E_OK);
    ck_assert(!o.value_null);
    ck_assert(o.has_key);
    ck_assert_ptr_nonnull(
        strstr(hval(o.headers, o.header_count, "content-type"), "application/cloudevents+json"));
    ck_assert_ptr_nonnull(strstr(o.value.data, "\"data\":\"hi\""));
    /* round trip through the decoder */
    ce_kafka_msg_t m = {o.headers, o.header_count, o.key.data,
                        o.key.len, o.value.data,   o.value.len};
    ce_event_t *back;
    ck_assert_int_eq(ce_kafka_decode(&m, &back, NULL), CE_E_OK);
    ck_assert_str_eq(ce_event_get_str(back, "subject"), EURO);
    ce_event_free(back);
    ce_kafka_out_free(&o);
    ck_assert_int_eq(ce_kafka_encode(ev, CE_KAFKA_BINARY, CE_KAFKA_KEY_PARTITIONKEY, &o), CE_E_OK);
    m = (ce_kafka_msg_t){
        o.headers,  o.header_count, o.key.data, o.key.len, o.value_null ? NULL : o.value.data,
        o.value.len};
    ck_assert_int_eq(ce_kafka_decode(&m, &back, NULL), CE_E_OK);
    ck_assert_str_eq(ce_event_get_str(back, "subject"), EURO);
    ck_assert_str_eq(ce_event_get_str(back, "datacontenttype"), "text/plain");
    ce_event_free(back);
    ce_kafka_out_free(&o);
    ce_kafka_out_free(NULL);
    ce_event_free(ev);
}
END_TEST

static ce_event_t *ndec(const ce_header_t *hs, size_t n, const char *data)
{
    ce_nats_msg_t m = {hs, n, data, data ? strlen(data) : 0};
    ce_event_t *ev = NULL;
    ce_error_t e = {0};
    ce_err_t rc = ce_nats_decode(&m, &ev, &e);
    ck_assert_msg(rc == CE_E_OK, "%s: %s", ce_err_name(rc), e.message);
    return ev;
}

START_TEST(test_nats_mode_and_decode)
{
    ce_header_t bin[] = {NREQ, H("ce-datacontenttype", "text/plain"), H("ce-subject", "a%20b"),
                         H("Content-Type", "ignored/when-ce-dct")};
    ce_nats_msg_t m = {bin, 7, "x", 1};
    ck_assert_int_eq(ce_nats_mode(&m), CE_NATS_BINARY);
    ce_event_t *ev = ndec(bin, 7, "payload");
    ck_assert_str_eq(ce_event_get_str(ev, "datacontenttype"), "text/plain");
    ck_assert_str_eq(ce_event_get_str(ev, "subject"), "a b");
    ce_event_free(ev);
    /* plain content-type accepted when ce-datacontenttype is absent */
    ce_header_t bin2[] = {NREQ, H("content-type", "application/xml")};
    ev = ndec(bin2, 5, "<a/>");
    ck_assert_str_eq(ce_event_get_str(ev, "datacontenttype"), "application/xml");
    ce_event_free(ev);
    /* no headers: structured */
    const char *json = "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}";
    m = (ce_nats_msg_t){NULL, 0, json, strlen(json)};
    ck_assert_int_eq(ce_nats_mode(&m), CE_NATS_STRUCTURED);
    ev = ndec(NULL, 0, json);
    ce_event_free(ev);
    ce_header_t sh[] = {H("Content-Type", "application/cloudevents+json")};
    ev = ndec(sh, 1, json);
    ce_event_free(ev);
    ce_error_t e;
    ce_header_t avro[] = {H("content-type", "application/cloudevents+avro")};
    m = (ce_nats_msg_t){avro, 1, json, strlen(json)};
    ce_event_t *none = NULL;
    ck_assert_int_eq(ce_nats_decode(&m, &none, &e), CE_E_MEDIA_TYPE);
    ce_header_t dup[] = {NREQ, H("CE-ID", "x")};
    m = (ce_nats_msg_t){dup, 5, NULL, 0};
    ck_assert_int_eq(ce_nats_decode(&m, &none, &e), CE_E_DUPLICATE);
    m = (ce_nats_msg_t){NULL, 0, "not json", 8};
    ck_assert_int_eq(ce_nats_decode(&m, &none, &e), CE_E_JSON);
    ck_assert_ptr_null(none);
}
END_TEST

START_TEST(test_nats_encode)
{
    ce_event_t *ev = tu_min_event();
    tu_set(ev, "subject", EURO);
    ce_event_set_data(ev, "{\"a\":1}", 7, true);
    ce_nats_out_t o;
    ck_assert_int_eq(ce_nats_encode(ev, CE_NATS_BINARY, CE_HEADER_STRICT, &o), CE_E_OK);
    ck_assert_str_eq(hval(o.headers, o.header_count, "ce-subject"),
                     "Euro%20%E2%82%AC%20%F0%9F%98%80");
    /* implied JSON content type written explicitly, as ce-datacontenttype */
    ck_assert_str_eq(hval(o.headers, o.header_count, "ce-datacontenttype"), "application/json");
    ck_assert_ptr_null(hval(o.headers, o.header_count, "content-type"));
    ck_assert_str_eq(o.data.data, "{\"a\":1}");
    ce_nats_msg_t m = {o.headers, o.header_count, o.data.data, o.data.len};
    ce_event_t *back;
    ck_assert_int_eq(ce_nats_decode(&m, &back, NULL), CE_E_OK);
    ck_assert_str_eq(ce_event_get_str(back, "subject"), EURO);
    ce_event_free(back);
    ce_nats_out_free(&o);
    tu_set(ev, "datacontenttype", "application/json");
    ck_assert_int_eq(ce_nats_encode(ev, CE_NATS_STRUCTURED, CE_HEADER_STRICT, &o), CE_E_OK);
    ck_assert_str_eq(hval(o.headers, o.header_count, "content-type"),
                     "application/cloudevents+json");
    m = (ce_nats_msg_t){o.headers, o.header_count, o.data.data, o.data.len};
    ck_assert_int_eq(ce_nats_mode(&m), CE_NATS_STRUCTURED);
    ck_assert_int_eq(ce_nats_decode(&m, &back, NULL), CE_E_OK);
    ck_assert_str_eq(ce_event_get_str(back, "subject"), EURO);
    ck_assert(ce_event_data_is_json(back));
    ce_event_free(back);
    ce_nats_out_free(&o);
    ce_nats_out_free(NULL);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_bindings_nomem)
{
    ce_header_t hs[] = {KREQ, H("ce_ext", "v"), H("content-type", "text/plain")};
    ce_header_t nh[] = {NREQ, H("ce-ext", "v%20w")};
    for (long k = 0; k < 60; k++) {
        tu_alloc_install(k);
        ce_kafka_msg_t km = {hs, 6, NULL, 0, "data", 4};
        ce_nats_msg_t nm = {nh, 5, "data", 4};
        ce_event_t *a = NULL, *b = NULL;
        ce_err_t r1 = ce_kafka_decode(&km, &a, NULL);
        ce_err_t r2 = ce_nats_decode(&nm, &b, NULL);
        ce_kafka_out_t ko;
        ce_nats_out_t no;
        ce_err_t r3 = a ? ce_kafka_encode(a, CE_KAFKA_BINARY, CE_KAFKA_KEY_NONE, &ko) : CE_E_NOMEM;
        ce_err_t r4 = b ? ce_nats_encode(b, CE_NATS_BINARY, CE_HEADER_COMPAT, &no) : CE_E_NOMEM;
        tu_alloc_restore();
        ck_assert(r1 == CE_E_OK || r1 == CE_E_NOMEM);
        ck_assert(r2 == CE_E_OK || r2 == CE_E_NOMEM);
        ck_assert(r3 == CE_E_OK || r3 == CE_E_NOMEM);
        ck_assert(r4 == CE_E_OK || r4 == CE_E_NOMEM);
        if (r3 == CE_E_OK)
            ce_kafka_out_free(&ko);
        if (r4 == CE_E_OK)
            ce_nats_out_free(&no);
        ce_event_free(a);
        ce_event_free(b);
    }
}
END_TEST

static Suite *bindings_suite(void)
{
    Suite *s = suite_create("kafka_nats");
    TCase *k = tcase_create("kafka");
    tcase_add_test(k, test_kafka_binary_decode);
    tcase_add_test(k, test_kafka_decode_errors);
    tcase_add_test(k, test_kafka_structured_decode);
    tcase_add_test(k, test_kafka_encode);
    suite_add_tcase(s, k);
    TCase *n = tcase_create("nats");
    tcase_add_test(n, test_nats_mode_and_decode);
    tcase_add_test(n, test_nats_encode);
    tcase_add_test(n, test_bindings_nomem);
    suite_add_tcase(s, n);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bindings_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
