/*
 * test_delivery.c — the delivery decisions (hd_dispatch__decide, dispatch_internal.h) without a
 * socket or a loop: delivered answers, replies, a 200 that is not a CloudEvent, Knative's retry
 * table, attempts used up (dead-letter sink or dead table), Retry-After and its caps, the
 * dead-letter phase keeping the event pending, an unresolved subscriber, restored deliveries and
 * in-process stores.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_internal.h"

/* retry 3, exponential from 100 ms: retries wait 100, 200, 400 ms */
static hd_delivery_t settings(void)
{
    hd_delivery_t dl;
    memset(&dl, 0, sizeof dl);
    dl.retry = 3;
    dl.backoff_policy = HD_BACKOFF_EXPONENTIAL;
    dl.backoff_delay_ms = 100;
    return dl;
}

/* The facts after attempt `attempts` to a resolved subscriber answered `status`. */
static hd_dispatch__facts_t answered(int status, uint32_t attempts)
{
    return (hd_dispatch__facts_t){.what = HD_DISPATCH__FACT_ANSWER,
                                  .has_subscriber = true,
                                  .attempts = attempts,
                                  .status = status};
}

static hd_dispatch__decision_t decide(const hd_delivery_t *dl, hd_dispatch__facts_t f)
{
    return hd_dispatch__decide(dl, &f, 0);
}

START_TEST(any_2xx_without_a_reply_is_delivered)
{
    hd_delivery_t dl = settings();
    const int codes[] = {200, 201, 202, 204, 299};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        hd_dispatch__decision_t d = decide(&dl, answered(codes[i], 1));
        ck_assert_int_eq(d.action, HD_DISPATCH__DELIVERED);
        ck_assert(!d.failed);
    }
    /* 201 and 202 with a body that is not an event: still delivered (only 200 must be empty) */
    hd_dispatch__facts_t f = answered(201, 1);
    f.body_len = 12;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__DELIVERED);
    f = answered(202, 1);
    f.body_len = 12;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__DELIVERED);
}
END_TEST

START_TEST(a_cloudevent_in_a_200_or_201_is_a_reply)
{
    hd_delivery_t dl = settings();
    hd_dispatch__facts_t f = answered(200, 1);
    f.body_is_event = true;
    f.body_len = 40;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__REPLY);
    f.status = 201;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__REPLY);
    /* binary mode: the event may have an empty data */
    f.body_len = 0;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__REPLY);
    /* a 202 never carries a reply */
    f.status = 202;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__DELIVERED);
}
END_TEST

START_TEST(a_200_whose_body_is_not_a_cloudevent_fails_as_502)
{
    hd_delivery_t dl = settings();
    hd_dispatch__facts_t f = answered(200, 1);
    f.body_len = 5; /* "hello": a proxy's page */
    hd_dispatch__decision_t d = decide(&dl, f);
    ck_assert(d.failed);
    ck_assert_int_eq(d.status, 502);
    ck_assert_ptr_nonnull(d.why);
    ck_assert_int_eq(d.action, HD_DISPATCH__RETRY); /* 502 is retryable */
    ck_assert_uint_eq(d.delay_ms, 100);
    /* it said it was an event but did not decode as exactly one */
    f = answered(201, 2);
    f.body_is_event = true;
    f.reply_bad = true;
    d = decide(&dl, f);
    ck_assert(d.failed);
    ck_assert_int_eq(d.status, 502);
    ck_assert_int_eq(d.action, HD_DISPATCH__RETRY);
    ck_assert_uint_eq(d.delay_ms, 200);
    /* on the last attempt it goes where failures go */
    f = answered(200, 4);
    f.body_len = 5;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__TO_DEAD_TABLE);
    f.has_dls = true;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__TO_DEAD_LETTER);
}
END_TEST

START_TEST(retryable_answers_wait_the_backoff)
{
    hd_delivery_t dl = settings();
    const int codes[] = {404, 408, 409, 429, 500, 502, 503, 504, 599};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        for (uint32_t k = 1; k <= 3; k++) {
            hd_dispatch__decision_t d = decide(&dl, answered(codes[i], k));
            ck_assert_int_eq(d.action, HD_DISPATCH__RETRY);
            ck_assert(d.failed);
            ck_assert_int_eq(d.status, codes[i]);
            ck_assert_uint_eq(d.delay_ms, 100u << (k - 1));
        }
    }
    dl.backoff_policy = HD_BACKOFF_LINEAR;
    ck_assert_uint_eq(decide(&dl, answered(500, 3)).delay_ms, 300);
}
END_TEST

START_TEST(non_retryable_answers_give_up_at_once)
{
    hd_delivery_t dl = settings();
    const int codes[] = {300, 301, 400, 401, 403, 405, 410, 413, 422};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        hd_dispatch__facts_t f = answered(codes[i], 1); /* three retries left */
        hd_dispatch__decision_t d = decide(&dl, f);
        ck_assert_int_eq(d.action, HD_DISPATCH__TO_DEAD_TABLE);
        ck_assert(d.failed);
        ck_assert_int_eq(d.status, codes[i]);
        f.has_dls = true;
        ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__TO_DEAD_LETTER);
    }
}
END_TEST

START_TEST(no_answer_is_retried_and_recorded_as_minus_one)
{
    hd_delivery_t dl = settings();
    hd_dispatch__facts_t f = {
        .what = HD_DISPATCH__FACT_FAILED, .has_subscriber = true, .attempts = 1, .status = -1};
    hd_dispatch__decision_t d = decide(&dl, f);
    ck_assert_int_eq(d.action, HD_DISPATCH__RETRY);
    ck_assert(d.failed);
    ck_assert_int_eq(d.status, -1);
    ck_assert_uint_eq(d.delay_ms, 100);
    f.status = 0; /* anything <= 0 is "no answer" */
    ck_assert_int_eq(decide(&dl, f).status, -1);
    f.attempts = 4;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__TO_DEAD_TABLE);
}
END_TEST

START_TEST(used_up_attempts_go_to_the_sink_else_the_dead_table)
{
    hd_delivery_t dl = settings();
    hd_dispatch__facts_t f = answered(500, 4); /* the first attempt and three retries */
    hd_dispatch__decision_t d = decide(&dl, f);
    ck_assert_int_eq(d.action, HD_DISPATCH__TO_DEAD_TABLE);
    ck_assert(d.failed);
    f.has_dls = true;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__TO_DEAD_LETTER);
    /* retry 0: the first failure is final */
    dl.retry = 0;
    f = answered(503, 1);
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__TO_DEAD_TABLE);
}
END_TEST

START_TEST(retry_after_is_honoured_when_longer_than_the_backoff)
{
    hd_delivery_t dl = settings();
    hd_dispatch__facts_t f = answered(429, 1);
    f.retry_after = "10";
    f.retry_after_len = 2;
    ck_assert_uint_eq(decide(&dl, f).delay_ms, 10000);
    f.status = 503;
    ck_assert_uint_eq(decide(&dl, f).delay_ms, 10000);
    /* shorter than the backoff: the backoff wins */
    dl.backoff_delay_ms = 20000;
    ck_assert_uint_eq(decide(&dl, f).delay_ms, 20000);
    dl.backoff_delay_ms = 100;
    /* only 429 and 503 are asked to wait */
    f.status = 500;
    ck_assert_uint_eq(decide(&dl, f).delay_ms, 100);
    /* an HTTP-date, relative to the wall clock passed in */
    f.status = 429;
    f.retry_after = "Sun, 06 Nov 1994 08:49:37 GMT";
    f.retry_after_len = strlen(f.retry_after);
    hd_dispatch__decision_t d = hd_dispatch__decide(&dl, &f, 784111777ull * 1000u - 7000);
    ck_assert_uint_eq(d.delay_ms, 7000);
    /* a Retry-After does not buy attempts: the last one still gives up */
    f = answered(429, 4);
    f.retry_after = "10";
    f.retry_after_len = 2;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__TO_DEAD_TABLE);
}
END_TEST

START_TEST(retry_after_is_capped)
{
    hd_delivery_t dl = settings();
    hd_dispatch__facts_t f = answered(503, 1);
    f.retry_after = "100000";
    f.retry_after_len = 6;
    /* no retryAfterMax: bounded at an hour */
    ck_assert_uint_eq(decide(&dl, f).delay_ms, 3600u * 1000u);
    dl.retry_after_max_ms = 5000;
    ck_assert_uint_eq(decide(&dl, f).delay_ms, 5000);
}
END_TEST

START_TEST(dead_letter_sink_answers)
{
    hd_delivery_t dl = settings();
    hd_dispatch__facts_t f = answered(202, 4);
    f.to_dls = true;
    f.has_dls = true;
    hd_dispatch__decision_t d = decide(&dl, f);
    ck_assert_int_eq(d.action, HD_DISPATCH__DEAD_LETTERED);
    ck_assert(!d.failed);
    /* the sink's 200 with an event is no reply */
    f.status = 200;
    f.body_is_event = true;
    f.body_len = 30;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__DEAD_LETTERED);
}
END_TEST

START_TEST(dead_letter_sink_failures_keep_the_event_pending)
{
    hd_delivery_t dl = settings();
    /* every failure of the sink, retryable or not, however many: wait and try again */
    const int codes[] = {400, 404, 500, 503};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        hd_dispatch__facts_t f = answered(codes[i], 4);
        f.to_dls = true;
        f.has_dls = true;
        f.dls_attempts = 1000;
        hd_dispatch__decision_t d = decide(&dl, f);
        ck_assert_int_eq(d.action, HD_DISPATCH__RETRY);
        ck_assert(d.failed);
        ck_assert_int_eq(d.status, codes[i]);
    }
    hd_dispatch__facts_t f = {.what = HD_DISPATCH__FACT_FAILED,
                              .to_dls = true,
                              .has_dls = true,
                              .has_subscriber = true,
                              .attempts = 4,
                              .status = -1};
    /* the first wait is at least a second (the backoff says 100 ms) */
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__RETRY);
    ck_assert_uint_eq(decide(&dl, f).delay_ms, 1000);
    /* then the backoff of the sink's attempt count: 100 ms * 2^4 = 1.6 s */
    f.dls_attempts = 4;
    ck_assert_uint_eq(decide(&dl, f).delay_ms, 1600);
    /* bounded at five minutes */
    f.dls_attempts = 40;
    ck_assert_uint_eq(decide(&dl, f).delay_ms, 300u * 1000u);
    /* unless the sink asks for longer */
    f = answered(503, 4);
    f.to_dls = true;
    f.has_dls = true;
    f.dls_attempts = 40;
    f.retry_after = "600";
    f.retry_after_len = 3;
    ck_assert_uint_eq(decide(&dl, f).delay_ms, 600u * 1000u);
}
END_TEST

START_TEST(an_unresolved_sink_is_waited_for_never_the_dead_table)
{
    hd_delivery_t dl = settings();
    /* attempts used up while the sink is set but unresolved: the dead-letter phase, not the
     * dead table */
    hd_dispatch__facts_t f = answered(500, 4);
    f.dls_unresolved = true;
    hd_dispatch__decision_t d = decide(&dl, f);
    ck_assert_int_eq(d.action, HD_DISPATCH__TO_DEAD_LETTER);
    ck_assert(d.failed);
    f = answered(400, 1);
    f.dls_unresolved = true;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__TO_DEAD_LETTER);
    /* in that phase it waits, pending, as long as the sink does not resolve */
    f = (hd_dispatch__facts_t){.what = HD_DISPATCH__FACT_READY,
                               .to_dls = true,
                               .dls_unresolved = true,
                               .has_subscriber = true,
                               .attempts = 4};
    d = decide(&dl, f);
    ck_assert_int_eq(d.action, HD_DISPATCH__WAIT);
    ck_assert_uint_eq(d.delay_ms, HD_DISPATCH__DLS_AWAIT_MS);
    ck_assert(!d.failed);
    /* once it resolves the dead letter is sent */
    f.dls_unresolved = false;
    f.has_dls = true;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__SEND);
    /* restored after a restart with no attempt left: the same */
    f = (hd_dispatch__facts_t){.what = HD_DISPATCH__FACT_READY,
                               .dls_unresolved = true,
                               .has_subscriber = true,
                               .attempts = 4};
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__TO_DEAD_LETTER);
}
END_TEST

START_TEST(ready_sends_waits_or_gives_up)
{
    hd_delivery_t dl = settings();
    hd_dispatch__facts_t f = {.what = HD_DISPATCH__FACT_READY, .has_subscriber = true};
    hd_dispatch__decision_t d = decide(&dl, f);
    ck_assert_int_eq(d.action, HD_DISPATCH__SEND);
    ck_assert(!d.failed);
    /* an unresolved subscriber is waited for without using an attempt */
    f.has_subscriber = false;
    f.attempts = 2;
    d = decide(&dl, f);
    ck_assert_int_eq(d.action, HD_DISPATCH__WAIT);
    ck_assert_uint_eq(d.delay_ms, 1000);
    ck_assert(!d.failed);
    /* restored after a restart with no attempt left */
    f.has_subscriber = true;
    f.attempts = 4;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__TO_DEAD_TABLE);
    f.has_dls = true;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__TO_DEAD_LETTER);
    /* the dead-letter phase sends to the sink, even with the subscriber unresolved */
    f.to_dls = true;
    f.has_subscriber = false;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__SEND);
    /* ... unless the sink was removed meanwhile */
    f.has_dls = false;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__TO_DEAD_TABLE);
}
END_TEST

START_TEST(in_process_stores_and_reply_destinations)
{
    hd_delivery_t dl = settings();
    hd_dispatch__facts_t f = {
        .what = HD_DISPATCH__FACT_STORED, .has_subscriber = true, .attempts = 1};
    hd_dispatch__decision_t d = decide(&dl, f);
    ck_assert_int_eq(d.action, HD_DISPATCH__DELIVERED);
    ck_assert(!d.failed);
    /* storing failed (503), no such log (404), the reply destination refused (400) */
    f.what = HD_DISPATCH__FACT_FAILED;
    f.status = 503;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__RETRY);
    f.status = 404;
    ck_assert_int_eq(decide(&dl, f).action, HD_DISPATCH__RETRY);
    f.status = 400;
    d = decide(&dl, f);
    ck_assert_int_eq(d.action, HD_DISPATCH__TO_DEAD_TABLE);
    ck_assert_int_eq(d.status, 400);
    /* a Retry-After is an answer's: a failed store has none */
    f.status = 503;
    f.retry_after = "60";
    f.retry_after_len = 2;
    ck_assert_uint_eq(decide(&dl, f).delay_ms, 100);
}
END_TEST

static Suite *delivery_suite(void)
{
    Suite *s = suite_create("delivery");
    TCase *tc = tcase_create("decide");
    tcase_add_test(tc, any_2xx_without_a_reply_is_delivered);
    tcase_add_test(tc, a_cloudevent_in_a_200_or_201_is_a_reply);
    tcase_add_test(tc, a_200_whose_body_is_not_a_cloudevent_fails_as_502);
    tcase_add_test(tc, retryable_answers_wait_the_backoff);
    tcase_add_test(tc, non_retryable_answers_give_up_at_once);
    tcase_add_test(tc, no_answer_is_retried_and_recorded_as_minus_one);
    tcase_add_test(tc, used_up_attempts_go_to_the_sink_else_the_dead_table);
    tcase_add_test(tc, retry_after_is_honoured_when_longer_than_the_backoff);
    tcase_add_test(tc, retry_after_is_capped);
    tcase_add_test(tc, dead_letter_sink_answers);
    tcase_add_test(tc, dead_letter_sink_failures_keep_the_event_pending);
    tcase_add_test(tc, ready_sends_waits_or_gives_up);
    tcase_add_test(tc, an_unresolved_sink_is_waited_for_never_the_dead_table);
    tcase_add_test(tc, in_process_stores_and_reply_destinations);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(delivery_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
