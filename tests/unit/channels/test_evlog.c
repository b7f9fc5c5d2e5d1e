/*
 * test_evlog.c — the event-log interface (hd_evlog.h), exercised only through hd_evlog_t: append
 * and read back, per-log sequences, commit listeners, sequences never reused, retention by seq
 * and by age, time lookup. The backend is the fixture of channels_test_util.h (fx_open), so the
 * suite runs unchanged against any backend.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "channels_test_util.h"

START_TEST(test_append_read_back)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_opts_t o = opts_default(HD_DURABILITY_FSYNC);
    fx_t *st = fx_open(&loop, &o);

    ck_assert_uint_eq(hd_evlog_last_seq(st->log, 7), 0);
    ck_assert_uint_eq(hd_evlog_first_seq(st->log, 7), 0);
    uint64_t before = hd_wall_ms();
    tb_t *b = tb_new(st);
    uint64_t sa, sb, so, sc;
    add_event(b, 7, "a", "hello", &sa);
    add_event(b, 7, "b", NULL, &sb);
    add_event(b, 8, "other", NULL, &so);
    add_event(b, 7, "c", "x", &sc);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    ck_assert_uint_eq(sa, 1);
    ck_assert_uint_eq(sb, 2);
    ck_assert_uint_eq(so, 1); /* seqs are per broker */
    ck_assert_uint_eq(sc, 3);

    ck_assert_uint_eq(hd_evlog_last_seq(st->log, 7), 3);
    ck_assert_uint_eq(hd_evlog_first_seq(st->log, 7), 1);
    ck_assert_uint_eq(hd_evlog_count(st->log, 7), 3);
    ck_assert_uint_eq(hd_evlog_count(st->log, 8), 1);

    scan_t *s = calloc(1, sizeof(*s));
    ck_assert_int_eq(hd_evlog_read(st->log, 7, 0, 100, on_scan, s), HD_E_OK);
    ck_assert_int_eq(s->n, 3);
    ck_assert_uint_eq(s->seqs[0], 1);
    ck_assert_uint_eq(s->seqs[2], 3);
    ck_assert_str_eq(s->ids[0], "a");
    ck_assert_str_eq(s->ids[1], "b");
    ck_assert_str_eq(s->ids[2], "c");
    ck_assert_uint_ge(s->ingest[0], before);
    ck_assert_uint_le(s->ingest[0], hd_wall_ms());

    /* from_seq and max bound the scan */
    memset(s, 0, sizeof(*s));
    ck_assert_int_eq(hd_evlog_read(st->log, 7, 2, 1, on_scan, s), HD_E_OK);
    ck_assert_int_eq(s->n, 1);
    ck_assert_str_eq(s->ids[0], "b");
    free(s);

    ce_event_t *ev = NULL;
    ck_assert_int_eq(hd_evlog_get(st->log, 7, 1, &ev), HD_E_OK);
    const void *data;
    size_t len;
    ck_assert(ce_event_data(ev, &data, &len));
    ck_assert_uint_eq(len, 5);
    ck_assert_int_eq(memcmp(data, "hello", 5), 0);
    ce_event_free(ev);
    ck_assert_int_eq(hd_evlog_get(st->log, 7, 4, &ev), HD_E_NOTFOUND);
    ck_assert_int_eq(hd_evlog_get(st->log, 9, 1, &ev), HD_E_NOTFOUND);

    fx_close(&loop, st);
    rm_tmpdir();
}
END_TEST

/* Submits n batches of one event each while the writer is paused, so they form one group. */
typedef struct {
    int n;
    uint32_t broker[16];
    uint64_t seq[16];
    int callbacks_seen; /* callbacks already run when the listener ran */
    calls_t *calls;
} listen_t;

static void on_commit(void *arg, uint32_t broker, uint64_t last)
{
    listen_t *l = arg;
    ck_assert_int_lt(l->n, 16);
    l->broker[l->n] = broker;
    l->seq[l->n] = last;
    l->callbacks_seen = l->calls->n;
    l->n++;
}

START_TEST(test_commit_listeners)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_opts_t o = opts_default(HD_DURABILITY_NONE);
    fx_t *st = fx_open(&loop, &o);
    calls_t *calls = calloc(1, sizeof(*calls));
    listen_t l = {0};
    l.calls = calls;
    listen_t l2 = {0};
    l2.calls = calls;
    ck_assert_int_eq(hd_evlog_watch(st->log, on_commit, &l), HD_E_OK);
    ck_assert_int_eq(hd_evlog_watch(st->log, on_commit, &l2), HD_E_OK);
    hd_evlog_unwatch(st->log, on_commit, &l2);

    fx_pause(st, true);
    cb_arg_t a0 = {calls, 0}, a1 = {calls, 1}, a2 = {calls, 2};
    tb_t *b = tb_new(st);
    add_event(b, 3, "x", NULL, NULL);
    add_event(b, 3, "y", NULL, NULL);
    ck_assert_int_eq(tb_submit(b, on_done, &a0), HD_E_OK);
    b = tb_new(st);
    add_event(b, 4, "z", NULL, NULL);
    add_event(b, 3, "w", NULL, NULL);
    ck_assert_int_eq(tb_submit(b, on_done, &a1), HD_E_OK);
    b = tb_new(st); /* no events: no listener call of its own */
    ck_assert_int_eq(hd_evlog_txn_cursor(tb_ptxn(b), 9, 1), HD_E_OK);
    ck_assert_int_eq(tb_submit(b, on_done, &a2), HD_E_OK);
    fx_pause(st, false);
    run_loop(&loop);

    ck_assert_int_eq(calls->n, 3);
    ck_assert_int_eq(l.n, 2);
    ck_assert_int_eq(l.callbacks_seen, 3); /* listeners run after the callbacks */
    for (int i = 0; i < 2; i++) {
        if (l.broker[i] == 3)
            ck_assert_uint_eq(l.seq[i], 3);
        else if (l.broker[i] == 4)
            ck_assert_uint_eq(l.seq[i], 1);
        else
            ck_abort_msg("unexpected broker %u", l.broker[i]);
    }
    ck_assert_int_eq(l2.n, 0);
    free(calls);
    fx_close(&loop, st);
    rm_tmpdir();
}
END_TEST

START_TEST(test_seq_never_reused)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_opts_t o = opts_default(HD_DURABILITY_NONE);
    o.queue_max = 1;
    fx_t *st = fx_open(&loop, &o);
    tb_t *b = tb_new(st);
    for (int i = 0; i < 5; i++)
        add_event(b, 1, "e", NULL, NULL);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    b = tb_new(st);
    tb_trim(b, 1, 5, 0);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    ck_assert_uint_eq(hd_evlog_count(st->log, 1), 0);
    ck_assert_uint_eq(hd_evlog_first_seq(st->log, 1), 0);
    ck_assert_uint_eq(hd_evlog_last_seq(st->log, 1), 5); /* the log was not always empty */

    /* A batch refused with BUSY spends its seqs (6, 7) too. */
    fx_pause(st, true);
    calls_t *calls = calloc(1, sizeof(*calls));
    cb_arg_t a = {calls, 0};
    b = tb_new(st);
    ck_assert_int_eq(hd_evlog_txn_cursor(tb_ptxn(b), 1, 1), HD_E_OK);
    ck_assert_int_eq(tb_submit(b, on_done, &a), HD_E_OK);
    b = tb_new(st);
    add_event(b, 1, "r", NULL, NULL);
    add_event(b, 1, "r", NULL, NULL);
    ck_assert_int_eq(tb_submit(b, on_done, &a), HD_E_BUSY);
    fx_pause(st, false);
    run_loop(&loop);
    ck_assert_int_eq(calls->n, 1);
    free(calls);
    fx_close(&loop, st);

    uv_loop_init(&loop);
    st = fx_open(&loop, &o);
    ck_assert_uint_eq(hd_evlog_last_seq(st->log, 1), 5);
    b = tb_new(st);
    uint64_t safter;
    add_event(b, 1, "after", NULL, &safter);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    ck_assert_uint_eq(safter, 8); /* 6 and 7 went to the refused batch */
    ck_assert_uint_eq(hd_evlog_first_seq(st->log, 1), 8);
    ck_assert_uint_eq(hd_evlog_last_seq(st->log, 1), 8);
    ck_assert_uint_eq(hd_evlog_count(st->log, 1), 1);
    fx_close(&loop, st);
    rm_tmpdir();
}
END_TEST

START_TEST(test_trim_by_seq_and_age)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_opts_t o = opts_default(HD_DURABILITY_NONE);
    fx_t *st = fx_open(&loop, &o);
    tb_t *b = tb_new(st);
    for (int i = 0; i < 10; i++)
        add_event(b, 1, "old", NULL, NULL);
    for (int i = 0; i < 3; i++)
        add_event(b, 2, "other broker", NULL, NULL);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    usleep(30 * 1000);
    uint64_t cut = hd_wall_ms();
    usleep(30 * 1000);
    b = tb_new(st);
    for (int i = 0; i < 10; i++)
        add_event(b, 1, "new", NULL, NULL);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    ck_assert_uint_eq(hd_evlog_seq_at_time(st->log, 1, cut), 11);
    ck_assert_uint_eq(hd_evlog_seq_at_time(st->log, 1, 0), 1);
    ck_assert_uint_eq(hd_evlog_seq_at_time(st->log, 1, hd_wall_ms() + 1000), 21);

    /* By seq: 1..4 go. */
    b = tb_new(st);
    tb_trim(b, 1, 4, 0);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    ck_assert_uint_eq(hd_evlog_first_seq(st->log, 1), 5);
    ck_assert_uint_eq(hd_evlog_count(st->log, 1), 16);

    /* By age: the rest of the old ones (5..10) go, the new ones stay. */
    b = tb_new(st);
    tb_trim(b, 1, 0, cut);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    ck_assert_uint_eq(hd_evlog_first_seq(st->log, 1), 11);
    ck_assert_uint_eq(hd_evlog_count(st->log, 1), 10);
    ck_assert_uint_eq(hd_evlog_last_seq(st->log, 1), 20);
    ck_assert_uint_eq(hd_evlog_count(st->log, 2), 3); /* untouched */
    fx_close(&loop, st);
    rm_tmpdir();
}
END_TEST

/* A trim larger than one deletion chunk finishes over several transactions before its callback,
 * while events submitted meanwhile still commit. */

static Suite *evlog_suite(void)
{
    Suite *s = suite_create("evlog");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_append_read_back);
    tcase_add_test(tc, test_commit_listeners);
    tcase_add_test(tc, test_seq_never_reused);
    tcase_add_test(tc, test_trim_by_seq_and_age);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(evlog_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
