/*
 * test_backoff.c — the dispatcher's pure parts: backoff schedule (exponential, linear, cap,
 * saturation), Knative's retry table, Retry-After (delta-seconds, HTTP-date, cap, junk).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hd_backoff.h"

static hd_delivery_t dlv(hd_backoff_policy_t p, uint64_t delay, uint64_t max)
{
    hd_delivery_t d;
    memset(&d, 0, sizeof d);
    d.backoff_policy = p;
    d.backoff_delay_ms = delay;
    d.backoff_max_ms = max;
    return d;
}

START_TEST(exponential_schedule_doubles_from_delay)
{
    hd_delivery_t d = dlv(HD_BACKOFF_EXPONENTIAL, 200, 0);
    /* Knative's worked example: 10 retries of 0.2 s exponential wait 0.2 ... 102.4 s */
    uint64_t want[] = {200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 102400};
    uint64_t total = 0;
    for (uint32_t k = 1; k <= 10; k++) {
        ck_assert_uint_eq(hd_backoff_delay_ms(&d, k), want[k - 1]);
        total += hd_backoff_delay_ms(&d, k);
    }
    ck_assert_uint_eq(total, 204600);
    ck_assert_uint_eq(hd_backoff_delay_ms(&d, 0), 0);
}
END_TEST

START_TEST(linear_schedule_grows_by_delay)
{
    hd_delivery_t d = dlv(HD_BACKOFF_LINEAR, 150, 0);
    ck_assert_uint_eq(hd_backoff_delay_ms(&d, 1), 150);
    ck_assert_uint_eq(hd_backoff_delay_ms(&d, 2), 300);
    ck_assert_uint_eq(hd_backoff_delay_ms(&d, 7), 1050);
}
END_TEST

START_TEST(backoff_max_caps_both_policies)
{
    hd_delivery_t e = dlv(HD_BACKOFF_EXPONENTIAL, 100, 1000);
    ck_assert_uint_eq(hd_backoff_delay_ms(&e, 4), 800);
    ck_assert_uint_eq(hd_backoff_delay_ms(&e, 5), 1000);
    ck_assert_uint_eq(hd_backoff_delay_ms(&e, 30), 1000);
    hd_delivery_t l = dlv(HD_BACKOFF_LINEAR, 100, 250);
    ck_assert_uint_eq(hd_backoff_delay_ms(&l, 2), 200);
    ck_assert_uint_eq(hd_backoff_delay_ms(&l, 3), 250);
}
END_TEST

START_TEST(backoff_saturates_instead_of_overflowing)
{
    hd_delivery_t e = dlv(HD_BACKOFF_EXPONENTIAL, 1000, 0);
    ck_assert_uint_eq(hd_backoff_delay_ms(&e, 64), UINT64_MAX);
    ck_assert_uint_eq(hd_backoff_delay_ms(&e, 100), UINT64_MAX);
    ck_assert_uint_eq(hd_backoff_delay_ms(&e, UINT32_MAX), UINT64_MAX);
    hd_delivery_t e2 = dlv(HD_BACKOFF_EXPONENTIAL, 1000, 3600000);
    ck_assert_uint_eq(hd_backoff_delay_ms(&e2, 200), 3600000);
    hd_delivery_t l = dlv(HD_BACKOFF_LINEAR, UINT64_MAX / 2, 0);
    ck_assert_uint_eq(hd_backoff_delay_ms(&l, 3), UINT64_MAX);
    hd_delivery_t z = dlv(HD_BACKOFF_EXPONENTIAL, 0, 0);
    ck_assert_uint_eq(hd_backoff_delay_ms(&z, 80), 0);
}
END_TEST

START_TEST(retry_table_matches_knative)
{
    int retried[] = {-1, 0, 404, 408, 409, 429, 500, 502, 503, 504, 599, 100, 600, 999};
    int not_retried[] = {200, 201, 202, 204, 299, 300, 301, 302, 307, 308,
                         400, 401, 403, 405, 410, 413, 415, 422, 451, 499};
    for (size_t i = 0; i < sizeof retried / sizeof retried[0]; i++)
        ck_assert_msg(hd_status_retryable(retried[i]), "%d should be retried", retried[i]);
    for (size_t i = 0; i < sizeof not_retried / sizeof not_retried[0]; i++)
        ck_assert_msg(!hd_status_retryable(not_retried[i]), "%d should not be retried",
                      not_retried[i]);
}
END_TEST

#define RA(s, now, max) hd_retry_after_ms((s), strlen(s), (now), (max))

START_TEST(retry_after_delta_seconds)
{
    ck_assert_uint_eq(RA("3", 0, 0), 3000);
    ck_assert_uint_eq(RA(" 120 ", 0, 0), 120000);
    ck_assert_uint_eq(RA("0", 0, 0), 0);
    ck_assert_uint_eq(RA("120", 0, 10000), 10000);
    ck_assert_uint_eq(RA("99999999999999999999999", 0, 60000), 60000);
}
END_TEST

START_TEST(retry_after_http_date)
{
    /* 1994-11-06 08:49:37 UTC = 784111777 s */
    uint64_t at = 784111777ull * 1000u;
    ck_assert_uint_eq(RA("Sun, 06 Nov 1994 08:49:37 GMT", at - 5000, 0), 5000);
    ck_assert_uint_eq(RA("Sunday, 06-Nov-94 08:49:37 GMT", at - 2000, 0), 2000);
    ck_assert_uint_eq(RA("Sun Nov  6 08:49:37 1994", at - 1000, 0), 1000);
    /* in the past: no wait */
    ck_assert_uint_eq(RA("Sun, 06 Nov 1994 08:49:37 GMT", at + 5000, 0), 0);
    /* capped */
    ck_assert_uint_eq(RA("Sun, 06 Nov 1994 08:49:37 GMT", at - 50000, 7000), 7000);
}
END_TEST

START_TEST(retry_after_junk_is_ignored)
{
    ck_assert_uint_eq(RA("", 0, 0), 0);
    ck_assert_uint_eq(RA("soon", 0, 0), 0);
    ck_assert_uint_eq(RA("12s", 0, 0), 0);
    ck_assert_uint_eq(RA("-5", 0, 0), 0);
    ck_assert_uint_eq(RA("1.5", 0, 0), 0);
    ck_assert_uint_eq(RA("Sun, 06 Nov 1994 08:49:37 PST", 0, 0), 0);
    ck_assert_uint_eq(RA("Sun, 36 Xyz 1994 08:49:37 GMT", 0, 0), 0);
    ck_assert_uint_eq(hd_retry_after_ms(NULL, 0, 0, 0), 0);
}
END_TEST

static Suite *backoff_suite(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, exponential_schedule_doubles_from_delay);
    tcase_add_test(tc, linear_schedule_grows_by_delay);
    tcase_add_test(tc, backoff_max_caps_both_policies);
    tcase_add_test(tc, backoff_saturates_instead_of_overflowing);
    tcase_add_test(tc, retry_table_matches_knative);
    tcase_add_test(tc, retry_after_delta_seconds);
    tcase_add_test(tc, retry_after_http_date);
    tcase_add_test(tc, retry_after_junk_is_ignored);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(backoff_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
