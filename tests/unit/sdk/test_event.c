/* test_event.c — Check suite for the event model (ce.h): types, names, validation, pack. */
#include "herald/ce.h"
#include "sdk_test_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_error_table)
{
    ck_assert_str_eq(ce_err_name(CE_E_OK), "OK");
    ck_assert_str_eq(ce_err_name(CE_E_SPECVERSION), "SPECVERSION");
    ck_assert_str_eq(ce_err_message(CE_E_NOMEM), "out of memory");
    ck_assert_str_eq(ce_err_name((ce_err_t)999), "UNKNOWN");
    ce_error_t e;
    ck_assert_int_eq(ce_error_set(&e, CE_E_TYPE, "attribute '%s': bad", "x"), CE_E_TYPE);
    ck_assert_int_eq(e.code, CE_E_TYPE);
    ck_assert_str_eq(e.message, "attribute 'x': bad");
    ck_assert_int_eq(ce_error_set(NULL, CE_E_IO, "x"), CE_E_IO);
}
END_TEST

START_TEST(test_required_attributes_named)
{
    static const char *req[] = {"specversion", "id", "source", "type"};
    for (size_t i = 0; i < 4; i++) {
        ce_event_t *ev = tu_min_event();
        ck_assert(ce_event_unset(ev, req[i]));
        ce_error_t e;
        ck_assert_int_eq(ce_event_validate(ev, &e), CE_E_MISSING);
        ck_assert_msg(strstr(e.message, req[i]) != NULL, "message '%s' names %s", e.message,
                      req[i]);
        /* empty is not present */
        ck_assert_int_eq(ce_event_set(ev, req[i], "", 0, NULL), CE_E_OK);
        ck_assert_int_eq(ce_event_validate(ev, &e), CE_E_MISSING);
        ck_assert_ptr_nonnull(strstr(e.message, "empty"));
        ce_event_free(ev);
    }
    ce_event_t *ev = tu_min_event();
    ck_assert_int_eq(ce_event_validate(ev, NULL), CE_E_OK);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_specversion_only_1_0)
{
    ce_event_t *ev = tu_min_event();
    ce_error_t e;
    ck_assert_int_eq(tu_set(ev, "specversion", "0.3"), CE_E_OK);
    ck_assert_int_eq(ce_event_validate(ev, &e), CE_E_SPECVERSION);
    ck_assert_ptr_nonnull(strstr(e.message, "specversion"));
    ck_assert_int_eq(tu_set(ev, "specversion", "1.0-rc1"), CE_E_OK);
    ck_assert_int_eq(ce_event_validate(ev, &e), CE_E_SPECVERSION);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_timestamp_kept_verbatim)
{
    ce_event_t *ev = tu_min_event();
    const char *ok[] = {"2018-04-26T14:48:09+02:00",      "2018-04-05T03:56:24Z",
                        "2018-04-05t03:56:24.123456789z", "2020-02-29T00:00:00-00:00",
                        "1985-04-12T23:20:50.52Z",        "1990-12-31T23:59:60Z"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ce_error_t e;
        ck_assert_msg(ce_event_set(ev, "time", ok[i], strlen(ok[i]), &e) == CE_E_OK, "%s: %s",
                      ok[i], e.message);
        ck_assert_str_eq(ce_event_get_str(ev, "time"), ok[i]);
        ck_assert_int_eq(ce_event_get(ev, "time", 4)->type, CE_TYPE_TIMESTAMP);
    }
    const char *bad[] = {"2018-13-01T00:00:00Z",
                         "2019-02-29T00:00:00Z",
                         "2018-04-05 03:56:24Z",
                         "2018-04-05T03:56:24",
                         "2018-04-05T24:00:00Z",
                         "2018-04-05T03:56:24.Z",
                         "2018-04-05T03:56:24+0200",
                         "yesterday",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ce_error_t e;
        ck_assert_msg(ce_event_set(ev, "time", bad[i], strlen(bad[i]), &e) == CE_E_TYPE, "%s",
                      bad[i]);
        ck_assert_ptr_nonnull(strstr(e.message, "'time'"));
        ck_assert_ptr_nonnull(strstr(e.message, "RFC 3339"));
    }
    /* the failed sets left the last good value */
    ck_assert_str_eq(ce_event_get_str(ev, "time"), "1990-12-31T23:59:60Z");
    ce_event_free(ev);
}
END_TEST

START_TEST(test_integer_rules)
{
    ce_event_t *ev = tu_min_event();
    ck_assert_int_eq(ce_event_set_typed(ev, "n", CE_TYPE_INTEGER, "2147483647", 10, NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_get(ev, "n", 1)->i, 2147483647);
    ck_assert_int_eq(ce_event_set_typed(ev, "n", CE_TYPE_INTEGER, "-2147483648", 11, NULL),
                     CE_E_OK);
    ck_assert_int_eq(ce_event_get(ev, "n", 1)->i, INT32_MIN);
    const char *bad[] = {"2147483648", "-2147483649", "5.0", "5e0",        "+5", "05",
                         "",           "-",           " 5",  "99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ce_error_t e;
        ck_assert_msg(ce_event_set_typed(ev, "n", CE_TYPE_INTEGER, bad[i], strlen(bad[i]), &e) ==
                          CE_E_TYPE,
                      "%s", bad[i]);
        ck_assert_ptr_nonnull(strstr(e.message, "Integer"));
    }
    ck_assert_int_eq(ce_event_set_int(ev, "m", -42, NULL), CE_E_OK);
    ck_assert_str_eq(ce_event_get_str(ev, "m"), "-42");
    ck_assert_int_eq(ce_event_get(ev, "m", 1)->type, CE_TYPE_INTEGER);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_set_str_plain_strings)
{
    ce_event_t *ev = ce_event_new();
    ce_error_t e;
    ck_assert_int_eq(ce_event_set_str(ev, "specversion", "1.0", NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set_str(ev, "id", "42", NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set_str(ev, "source", "/me", NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set_str(ev, "type", "com.example.x", NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_validate(ev, NULL), CE_E_OK);
    ck_assert_str_eq(ce_event_get_str(ev, "type"), "com.example.x");
    /* the same checks as the length-taking setter: a core attribute's type, a name's rule */
    ck_assert_int_eq(ce_event_set_str(ev, "time", "yesterday", &e), CE_E_TYPE);
    ck_assert_int_eq(ce_event_set_str(ev, "Bad-Name", "x", &e), CE_E_NAME);
    ck_assert_int_eq(ce_event_set_str(ev, "type", NULL, &e), CE_E_ARG);
    ck_assert_str_eq(ce_event_get_str(ev, "type"), "com.example.x");
    ce_event_free(ev);
}
END_TEST

START_TEST(test_boolean_case_sensitive)
{
    ce_event_t *ev = tu_min_event();
    ck_assert_int_eq(ce_event_set_typed(ev, "b", CE_TYPE_BOOLEAN, "true", 4, NULL), CE_E_OK);
    ck_assert(ce_event_get(ev, "b", 1)->b);
    ck_assert_int_eq(ce_event_set_typed(ev, "b", CE_TYPE_BOOLEAN, "false", 5, NULL), CE_E_OK);
    ck_assert(!ce_event_get(ev, "b", 1)->b);
    ck_assert_int_eq(ce_event_set_typed(ev, "b", CE_TYPE_BOOLEAN, "True", 4, NULL), CE_E_TYPE);
    ck_assert_int_eq(ce_event_set_typed(ev, "b", CE_TYPE_BOOLEAN, "TRUE", 4, NULL), CE_E_TYPE);
    ck_assert_int_eq(ce_event_set_typed(ev, "b", CE_TYPE_BOOLEAN, "1", 1, NULL), CE_E_TYPE);
    ck_assert_int_eq(ce_event_set_bool(ev, "c", true, NULL), CE_E_OK);
    ck_assert_str_eq(ce_event_get_str(ev, "c"), "true");
    ce_event_free(ev);
}
END_TEST

START_TEST(test_binary_type)
{
    ce_event_t *ev = tu_min_event();
    ck_assert_int_eq(ce_event_set_typed(ev, "bin", CE_TYPE_BINARY, "aGk=", 4, NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set_typed(ev, "bin", CE_TYPE_BINARY, "", 0, NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set_typed(ev, "bin", CE_TYPE_BINARY, "aGk", 3, NULL), CE_E_TYPE);
    ck_assert_int_eq(ce_event_set_typed(ev, "bin", CE_TYPE_BINARY, "a=Gk", 4, NULL), CE_E_TYPE);
    ck_assert_int_eq(ce_event_set_typed(ev, "bin", CE_TYPE_BINARY, "aG-_", 4, NULL), CE_E_TYPE);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_names)
{
    ck_assert(ce_attr_name_valid("abc123", 6));
    ck_assert(!ce_attr_name_valid("foo-bar", 7));
    ck_assert(!ce_attr_name_valid("Foo", 3));
    ck_assert(!ce_attr_name_valid("data", 4));
    ck_assert(!ce_attr_name_valid("data_base64", 11));
    ck_assert(!ce_attr_name_valid("", 0));
    ck_assert(ce_attr_name_valid("dataref", 7));
    /* more than 20 characters is a SHOULD, not a MUST */
    ck_assert(ce_attr_name_valid("averyveryverylongextensionname", 30));
    ce_event_t *ev = tu_min_event();
    ce_error_t e;
    ck_assert_int_eq(ce_event_set(ev, "foo-bar", "x", 1, &e), CE_E_NAME);
    ck_assert_ptr_nonnull(strstr(e.message, "foo-bar"));
    ck_assert_int_eq(ce_event_set(ev, "data", "x", 1, &e), CE_E_NAME);
    ck_assert_int_eq(ce_event_set_int(ev, "UPPER", 1, &e), CE_E_NAME);
    ck_assert_int_eq(ce_attr_core_type("source", 6), CE_TYPE_URI_REF);
    ck_assert_int_eq(ce_attr_core_type("dataschema", 10), CE_TYPE_URI);
    ck_assert_int_eq(ce_attr_core_type("time", 4), CE_TYPE_TIMESTAMP);
    ck_assert_int_eq(ce_attr_core_type("myext", 5), CE_TYPE_STRING);
    /* a core attribute's type is fixed */
    ck_assert_int_eq(ce_event_set_int(ev, "id", 5, NULL), CE_E_TYPE);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_string_rules)
{
    ce_event_t *ev = tu_min_event();
    ce_error_t e;
    ck_assert_int_eq(ce_event_set(ev, "subject", "a\nb", 3, &e), CE_E_TYPE);
    ck_assert_ptr_nonnull(strstr(e.message, "'subject'"));
    ck_assert_int_eq(ce_event_set(ev, "subject", "a\tb", 3, NULL), CE_E_TYPE);
    ck_assert_int_eq(ce_event_set(ev, "subject", "a\x7f", 2, NULL), CE_E_TYPE);
    ck_assert_int_eq(ce_event_set(ev, "subject", "\xc2\x85", 2, NULL), CE_E_TYPE);     /* NEL */
    ck_assert_int_eq(ce_event_set(ev, "subject", "\xef\xbf\xbe", 3, NULL), CE_E_TYPE); /* FFFE */
    ck_assert_int_eq(ce_event_set(ev, "subject", "\xef\xb7\x90", 3, NULL), CE_E_TYPE); /* FDD0 */
    ck_assert_int_eq(ce_event_set(ev, "subject", "\xed\xa0\x80", 3, &e), CE_E_UTF8);   /* D800 */
    ck_assert_ptr_nonnull(strstr(e.message, "UTF-8"));
    ck_assert_int_eq(ce_event_set(ev, "subject", "\xc0\xa0", 2, NULL), CE_E_UTF8); /* overlong */
    ck_assert_int_eq(ce_event_set(ev, "subject", "a\0b", 3, NULL), CE_E_TYPE);
    const char *ok = "Euro \xe2\x82\xac \xf0\x9f\x98\x80";
    ck_assert_int_eq(tu_set(ev, "subject", ok), CE_E_OK);
    ck_assert_str_eq(ce_event_get_str(ev, "subject"), ok);
    ck_assert_int_eq(tu_set(ev, "subject", ""), CE_E_OK);
    ck_assert_int_eq(ce_event_validate(ev, &e), CE_E_TYPE);
    ck_assert_ptr_nonnull(strstr(e.message, "subject"));
    ck_assert(ce_utf8_valid("\xf4\x8f\xbf\xbf", 4));
    ck_assert(!ce_utf8_valid("\xf4\x90\x80\x80", 4));
    ck_assert(!ce_utf8_valid("\xe2\x82", 2));
    ce_event_free(ev);
}
END_TEST

START_TEST(test_uri_rules)
{
    ce_event_t *ev = tu_min_event();
    const char *src_ok[] = {"/sensors/x",
                            "1-555-123-4567",
                            "urn:uuid:6e8bc430-9c3a-11d9-9669",
                            "https://example.com/a?b=c#d",
                            "//github.com/x",
                            "a%20b"};
    for (size_t i = 0; i < sizeof src_ok / sizeof src_ok[0]; i++)
        ck_assert_msg(tu_set(ev, "source", src_ok[i]) == CE_E_OK, "%s", src_ok[i]);
    const char *src_bad[] = {"a b", "1x:y", "100%", "%zz", ":nothing"};
    for (size_t i = 0; i < sizeof src_bad / sizeof src_bad[0]; i++) {
        ce_error_t e;
        ck_assert_msg(ce_event_set(ev, "source", src_bad[i], strlen(src_bad[i]), &e) == CE_E_TYPE,
                      "%s", src_bad[i]);
        ck_assert_ptr_nonnull(strstr(e.message, "'source'"));
    }
    ck_assert_int_eq(tu_set(ev, "dataschema", "https://example.com/schema.json"), CE_E_OK);
    ck_assert_int_eq(tu_set(ev, "dataschema", "/relative/schema"), CE_E_TYPE);
    ck_assert_int_eq(tu_set(ev, "dataschema", ""), CE_E_TYPE);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_value_check_public)
{
    ce_error_t e;
    ck_assert_int_eq(ce_value_check(CE_TYPE_INTEGER, "12", 2, &e), CE_E_OK);
    ck_assert_int_eq(ce_value_check(CE_TYPE_INTEGER, "1.5", 3, &e), CE_E_TYPE);
    ck_assert_int_eq(ce_value_check(CE_TYPE_URI, "x", 1, &e), CE_E_TYPE);
    ck_assert_int_eq(ce_value_check(CE_TYPE_STRING, "\xff", 1, &e), CE_E_UTF8);
}
END_TEST

START_TEST(test_attr_order_and_get)
{
    ce_event_t *ev = ce_event_new();
    ck_assert_int_eq(tu_set(ev, "zext", "1"), CE_E_OK);
    ck_assert_int_eq(tu_set(ev, "time", "2018-04-05T03:56:24Z"), CE_E_OK);
    ck_assert_int_eq(tu_set(ev, "type", "t"), CE_E_OK);
    ck_assert_int_eq(tu_set(ev, "aext", "2"), CE_E_OK);
    ck_assert_int_eq(tu_set(ev, "id", "i"), CE_E_OK);
    ck_assert_int_eq(tu_set(ev, "source", "s"), CE_E_OK);
    ck_assert_int_eq(tu_set(ev, "specversion", "1.0"), CE_E_OK);
    ck_assert_int_eq(tu_set(ev, "zext", "3"), CE_E_OK); /* replace keeps position */
    const char *want[] = {"specversion", "id", "source", "type", "time", "zext", "aext"};
    ck_assert_uint_eq(ce_event_attr_count(ev), 7);
    for (size_t i = 0; i < 7; i++) {
        const char *n;
        const ce_value_t *v;
        ce_event_attr_at(ev, i, &n, &v);
        ck_assert_str_eq(n, want[i]);
        ck_assert_ptr_eq(v, ce_event_get(ev, n, strlen(n)));
    }
    ck_assert_str_eq(ce_event_get_str(ev, "zext"), "3");
    ck_assert_ptr_null(ce_event_get(ev, "subject", 7));
    ck_assert_ptr_null(ce_event_get(ev, "ID", 2));
    ck_assert_ptr_null(ce_event_get(ev, "zex", 3));
    /* name_len is honoured: "idx" with length 2 is "id" */
    ck_assert_str_eq(ce_event_get(ev, "idx", 2)->str, "i");
    ck_assert(ce_event_unset(ev, "zext"));
    ck_assert(!ce_event_unset(ev, "zext"));
    ck_assert_uint_eq(ce_event_attr_count(ev), 6);
    ck_assert_str_eq(ce_event_get_str(ev, "aext"), "2");
    ce_event_free(ev);
}
END_TEST

START_TEST(test_get_does_not_allocate)
{
    ce_event_t *ev = tu_min_event();
    for (int i = 0; i < 20; i++) {
        char n[16];
        snprintf(n, sizeof n, "ext%d", i);
        ck_assert_int_eq(tu_set(ev, n, "v"), CE_E_OK);
    }
    tu_alloc_install(0); /* every allocation now fails */
    for (int k = 0; k < 1000; k++) {
        ck_assert_ptr_nonnull(ce_event_get(ev, "ext19", 5));
        ck_assert_ptr_nonnull(ce_event_get(ev, "type", 4));
        ck_assert_ptr_null(ce_event_get(ev, "nope", 4));
    }
    ck_assert_int_eq(tu_alloc_calls, 0);
    tu_alloc_restore();
    ce_event_free(ev);
}
END_TEST

START_TEST(test_data)
{
    ce_event_t *ev = tu_min_event();
    const void *d;
    size_t n;
    ck_assert(!ce_event_data(ev, &d, &n));
    ck_assert_int_eq(ce_event_set_data(ev, "", 0, false), CE_E_OK);
    ck_assert(ce_event_data(ev, &d, &n)); /* empty data differs from no data */
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(ce_event_set_data(ev, "null", 4, true), CE_E_OK);
    ck_assert(ce_event_data_is_json(ev));
    ce_event_clear_data(ev);
    ck_assert(!ce_event_data(ev, &d, &n));
    ck_assert(!ce_event_data_is_json(ev));
    ce_event_free(ev);
}
END_TEST

static ce_event_t *full_event(void)
{
    ce_event_t *ev = tu_min_event();
    tu_set(ev, "time", "2018-04-26T14:48:09+02:00");
    tu_set(ev, "subject", "sub");
    tu_set(ev, "datacontenttype", "application/json");
    tu_set(ev, "dataschema", "https://x/y");
    tu_set(ev, "ext1", "value");
    ce_event_set_int(ev, "num", -7, NULL);
    ce_event_set_bool(ev, "flag", true, NULL);
    ce_event_set_typed(ev, "bin", CE_TYPE_BINARY, "AAEC", 4, NULL);
    ce_event_set_data(ev, "{\"a\":1}", 7, true);
    return ev;
}

static void assert_events_equal(const ce_event_t *a, const ce_event_t *b)
{
    ck_assert_uint_eq(ce_event_attr_count(a), ce_event_attr_count(b));
    for (size_t i = 0; i < ce_event_attr_count(a); i++) {
        const char *n;
        const ce_value_t *va;
        ce_event_attr_at(a, i, &n, &va);
        const ce_value_t *vb = ce_event_get(b, n, strlen(n));
        ck_assert_ptr_nonnull(vb);
        ck_assert_int_eq(va->type, vb->type);
        ck_assert_str_eq(va->str, vb->str);
        ck_assert_int_eq(va->i, vb->i);
        ck_assert_int_eq(va->b, vb->b);
    }
    const void *da, *db;
    size_t la, lb;
    ck_assert_int_eq(ce_event_data(a, &da, &la), ce_event_data(b, &db, &lb));
    ck_assert_uint_eq(la, lb);
    if (la)
        ck_assert_mem_eq(da, db, la);
    ck_assert_int_eq(ce_event_data_is_json(a), ce_event_data_is_json(b));
}

START_TEST(test_clone)
{
    ce_event_t *ev = full_event();
    ce_event_t *c = ce_event_clone(ev);
    ck_assert_ptr_nonnull(c);
    assert_events_equal(ev, c);
    ce_event_free(ev);
    ck_assert_int_eq(ce_event_validate(c, NULL), CE_E_OK);
    ce_event_free(c);
    ce_event_free(NULL);
}
END_TEST

START_TEST(test_pack_roundtrip)
{
    ce_event_t *ev = full_event();
    uint8_t *buf, *buf2;
    size_t len, len2;
    ck_assert_int_eq(ce_event_pack(ev, &buf, &len), CE_E_OK);
    ck_assert_int_eq(ce_event_pack(ev, &buf2, &len2), CE_E_OK);
    ck_assert_uint_eq(len, len2);
    ck_assert_mem_eq(buf, buf2, len); /* deterministic */
    ce_event_t *back = NULL;
    ck_assert_int_eq(ce_event_unpack(buf, len, &back, NULL), CE_E_OK);
    assert_events_equal(ev, back);
    ck_assert_int_eq(ce_event_get(back, "num", 3)->i, -7);
    ce_event_free(back);
    /* every truncation is rejected, never read past len */
    for (size_t n = 0; n < len; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, buf, n);
        ce_error_t e;
        back = NULL;
        ck_assert_int_eq(ce_event_unpack(copy, n, &back, &e), CE_E_INVALID);
        ck_assert_ptr_null(back);
        free(copy);
    }
    /* flipping any byte never crashes; result is either an event or CE_E_INVALID */
    for (size_t i = 0; i < len; i++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, buf, len);
        copy[i] ^= 0x5a;
        back = NULL;
        ce_err_t rc = ce_event_unpack(copy, len, &back, NULL);
        ck_assert(rc == CE_E_OK || rc == CE_E_INVALID);
        if (rc == CE_E_OK)
            ce_event_free(back);
        free(copy);
    }
    free(buf);
    free(buf2);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_pack_no_data_vs_empty_data)
{
    ce_event_t *ev = tu_min_event();
    uint8_t *buf;
    size_t len;
    ce_event_t *back;
    ck_assert_int_eq(ce_event_pack(ev, &buf, &len), CE_E_OK);
    ck_assert_int_eq(ce_event_unpack(buf, len, &back, NULL), CE_E_OK);
    ck_assert(!ce_event_data(back, NULL, NULL));
    free(buf);
    ce_event_free(back);
    ce_event_set_data(ev, "", 0, false);
    ck_assert_int_eq(ce_event_pack(ev, &buf, &len), CE_E_OK);
    ck_assert_int_eq(ce_event_unpack(buf, len, &back, NULL), CE_E_OK);
    ck_assert(ce_event_data(back, NULL, NULL));
    free(buf);
    ce_event_free(back);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_nomem_paths)
{
    ce_event_t *ev = full_event();
    uint8_t *buf;
    size_t len;
    ck_assert_int_eq(ce_event_pack(ev, &buf, &len), CE_E_OK);
    int ok_at = -1;
    for (long n = 0; n < 200; n++) {
        tu_alloc_install(n);
        ce_event_t *back = NULL;
        ce_error_t e;
        ce_err_t rc = ce_event_unpack(buf, len, &back, &e);
        ce_event_t *c = ce_event_clone(ev);
        tu_alloc_restore();
        if (rc == CE_E_OK) {
            ce_event_free(back);
            if (ok_at < 0)
                ok_at = (int)n;
        } else {
            ck_assert_int_eq(rc, CE_E_NOMEM);
            ck_assert_ptr_null(back);
        }
        ce_event_free(c);
    }
    ck_assert_int_gt(ok_at, 0);
    tu_alloc_install(0);
    ck_assert_ptr_null(ce_event_new());
    ck_assert_int_eq(ce_event_set(ev, "subject", "x", 1, NULL), CE_E_NOMEM);
    ck_assert_int_eq(ce_event_pack(ev, &buf, &len) == CE_E_NOMEM, 1);
    tu_alloc_restore();
    ck_assert_str_eq(ce_event_get_str(ev, "subject"), "sub"); /* unchanged on failure */
    free(buf);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_extension_bound)
{
    ce_event_t *ev = tu_min_event();
    char n[16];
    for (int i = 0; i < CE_MAX_EXTENSIONS; i++) {
        snprintf(n, sizeof n, "x%d", i);
        ck_assert_int_eq(ce_event_set(ev, n, "v", 1, NULL), CE_E_OK);
    }
    ce_error_t e;
    ck_assert_int_eq(ce_event_set(ev, "onemore", "v", 1, &e), CE_E_TOO_LARGE);
    ck_assert_ptr_nonnull(strstr(e.message, "onemore"));
    ck_assert_int_eq(ce_event_set(ev, "x5", "w", 1, NULL), CE_E_OK); /* replacing still works */
    ck_assert_int_eq(tu_set(ev, "subject", "core attributes are not extensions"), CE_E_OK);
    ce_event_free(ev);
}
END_TEST

static Suite *event_suite(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_error_table);
    tcase_add_test(tc, test_required_attributes_named);
    tcase_add_test(tc, test_specversion_only_1_0);
    tcase_add_test(tc, test_timestamp_kept_verbatim);
    tcase_add_test(tc, test_integer_rules);
    tcase_add_test(tc, test_set_str_plain_strings);
    tcase_add_test(tc, test_boolean_case_sensitive);
    tcase_add_test(tc, test_binary_type);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_string_rules);
    tcase_add_test(tc, test_uri_rules);
    tcase_add_test(tc, test_value_check_public);
    tcase_add_test(tc, test_attr_order_and_get);
    tcase_add_test(tc, test_get_does_not_allocate);
    tcase_add_test(tc, test_data);
    tcase_add_test(tc, test_clone);
    tcase_add_test(tc, test_pack_roundtrip);
    tcase_add_test(tc, test_pack_no_data_vs_empty_data);
    tcase_add_test(tc, test_nomem_paths);
    tcase_add_test(tc, test_extension_bound);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(event_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
