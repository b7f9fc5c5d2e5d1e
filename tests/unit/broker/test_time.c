/*
 * test_time.c — hd_time.h: ISO 8601 and Go-style durations, RFC 3339 parse and format, UUID v4.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_time.h"

typedef struct {
    const char *s;
    uint64_t ms;
} dur_case_t;

START_TEST(iso_durations)
{
    static const dur_case_t ok[] = {
        {"PT0.5S", 500},       {"PT1M30S", 90000},
        {"P1DT1H", 90000000},  {"PT0S", 0},
        {"PT1S", 1000},        {"P1D", 86400000},
        {"PT1H2M3S", 3723000}, {"P2W", 1209600000},
        {"pt10s", 10000},      {"PT0.001S", 1},
        {"PT0.0005S", 1},      {"PT1,5M", 90000},
        {"PT1.5H", 5400000},   {"P1W1DT1H1M1.25S", 694861250},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t ms = 12345;
        ck_assert_msg(hd_time_iso_duration_parse(ok[i].s, &ms), "'%s' refused", ok[i].s);
        ck_assert_msg(ms == ok[i].ms, "'%s' gave %llu", ok[i].s, (unsigned long long)ms);
    }
    static const char *const bad[] = {
        "",
        "P",
        "PT",
        "P1DT",
        "5s",
        "PT-1S",
        "PT+1S",
        "PT1X",
        "P1M",
        "P1Y",
        "PT1S1S",
        "PT1H1H",
        "PT1S1M",
        "P1DP1D",
        "PT1HT1M",
        "P1D1W",
        "PT.5S",
        "PT1.S",
        "PT1e3S",
        "PT0.5M1S",
        "PT1",
        "T1S",
        " PT1S",
        "PT1S ",
        "PT99999999999999999999S",
        "P9999999999999999W",
        NULL,
    };
    for (size_t i = 0; bad[i]; i++) {
        uint64_t ms = 12345;
        ck_assert_msg(!hd_time_iso_duration_parse(bad[i], &ms), "'%s' accepted", bad[i]);
        ck_assert_msg(ms == 12345, "'%s' changed the output", bad[i]);
    }
    uint64_t ms;
    ck_assert(!hd_time_iso_duration_parse(NULL, &ms));
    ck_assert(!hd_time_iso_duration_parse("PT1S", NULL));
}
END_TEST

START_TEST(config_durations)
{
    static const dur_case_t ok[] = {
        {"10s", 10000},      {"100ms", 100},     {"5m", 300000},        {"2h", 7200000},
        {"7d", 604800000},   {"1h30m", 5400000}, {"0.5s", 500},         {"PT1S", 1000},
        {"PT0.5S", 500},     {"P1D", 86400000},  {"PT1H2M3S", 3723000}, {"P1DT1H", 90000000},
        {"P2W", 1209600000}, {"pt10s", 10000},   {" 3s ", 3000},        {"PT0.001S", 1},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t ms;
        ck_assert_msg(hd_time_duration_parse(ok[i].s, &ms), "'%s' refused", ok[i].s);
        ck_assert_msg(ms == ok[i].ms, "'%s' gave %llu", ok[i].s, (unsigned long long)ms);
    }
    static const char *const bad[] = {
        "",       "10",     "s",    "10x",    "P",
        "PT",     "P1M",    "P1Y",  "1.s",    "-1s",
        "PT1S1M", "PT1H1H", "P1DT", "PT1S1S", "999999999999999999999d",
        NULL};
    for (size_t i = 0; bad[i]; i++) {
        uint64_t ms;
        ck_assert_msg(!hd_time_duration_parse(bad[i], &ms), "'%s' accepted", bad[i]);
    }
}
END_TEST

START_TEST(rfc3339_parse)
{
    static const dur_case_t ok[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2026-01-02T15:04:05Z", 1767366245000ull},
        {"2026-01-02t15:04:05.123z", 1767366245123ull},
        {"2026-01-02T16:04:05.1239+01:00", 1767366245123ull},
        {"2026-01-02T14:34:05-00:30", 1767366245000ull},
        {"2024-02-29T00:00:00Z", 1709164800000ull},
        {"2000-03-01T00:00:00Z", 951868800000ull},
        {"2100-12-31T23:59:59Z", 4133980799000ull},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t ms = 1;
        ck_assert_msg(hd_time_rfc3339_parse(ok[i].s, &ms), "'%s' refused", ok[i].s);
        ck_assert_msg(ms == ok[i].ms, "'%s' gave %llu", ok[i].s, (unsigned long long)ms);
    }
    static const char *const bad[] = {
        "2026-01-02 15:04:05Z", /* space separator */
        "2026-02-30T00:00:00Z", /* no 30 February */
        "2025-02-29T00:00:00Z", /* not a leap year */
        "2026-04-31T00:00:00Z", /* April has 30 days */
        "2026-13-01T00:00:00Z",
        "2026-01-02T24:00:00Z",
        "2026-01-02T15:04:05",
        "2026-01-02T15:04:05.Z",
        "2026-01-02T15:04:05+0100",
        "2026-01-02T15:04:05Zjunk",
        "1969-12-31T23:59:59Z", /* before the epoch */
        "1970-01-01T00:30:00+01:00",
        "yesterday",
        "",
        NULL,
    };
    for (size_t i = 0; bad[i]; i++) {
        uint64_t ms = 7;
        ck_assert_msg(!hd_time_rfc3339_parse(bad[i], &ms), "'%s' accepted", bad[i]);
        ck_assert_uint_eq(ms, 7);
    }
}
END_TEST

START_TEST(rfc3339_format)
{
    char buf[HD_TIME_RFC3339_MAX];
    hd_time_rfc3339_format(1767366245123ull, false, buf, sizeof buf);
    ck_assert_str_eq(buf, "2026-01-02T15:04:05Z");
    hd_time_rfc3339_format(1767366245123ull, true, buf, sizeof buf);
    ck_assert_str_eq(buf, "2026-01-02T15:04:05.123Z");
    hd_time_rfc3339_format(5, true, buf, sizeof buf);
    ck_assert_str_eq(buf, "1970-01-01T00:00:00.005Z");
    /* what it writes, it reads back */
    uint64_t ms;
    hd_time_rfc3339_format(1709164800042ull, true, buf, sizeof buf);
    ck_assert(hd_time_rfc3339_parse(buf, &ms));
    ck_assert_uint_eq(ms, 1709164800042ull);
}
END_TEST

START_TEST(uuid_v4)
{
    char a[HD_TIME_UUID_MAX], b[HD_TIME_UUID_MAX];
    hd_time_uuid_v4(a);
    hd_time_uuid_v4(b);
    ck_assert_uint_eq(strlen(a), 36);
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            ck_assert_int_eq(a[i], '-');
        else
            ck_assert_msg(strchr("0123456789abcdef", a[i]) && a[i], "%s", a);
    }
    ck_assert_int_eq(a[14], '4');                 /* version */
    ck_assert_ptr_nonnull(strchr("89ab", a[19])); /* RFC 4122 variant */
    ck_assert_str_ne(a, b);
}
END_TEST

static Suite *time_suite(void)
{
    Suite *s = suite_create("time");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, iso_durations);
    tcase_add_test(tc, config_durations);
    tcase_add_test(tc, rfc3339_parse);
    tcase_add_test(tc, rfc3339_format);
    tcase_add_test(tc, uuid_v4);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(time_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
