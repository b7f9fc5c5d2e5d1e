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

typedef struct {
    int n;
    uint64_t seq[8];
    hd_evlog_pending_t p[8];
    int32_t status[8];
    char error[8][32];
} progress_t;

static bool on_pending(void *arg, uint32_t sub_id, uint64_t seq, const hd_evlog_pending_t *p)
{
    (void)sub_id;
    progress_t *pr = arg;
    ck_assert_int_lt(pr->n, 8);
    pr->seq[pr->n] = seq;
    pr->p[pr->n++] = *p;
    return true;
}

static bool on_dead(void *arg, uint32_t sub_id, uint64_t seq, int32_t status, uint64_t wall_ms,
                    const char *error, size_t error_len)
{
    (void)sub_id, (void)wall_ms;
    progress_t *pr = arg;
    ck_assert_int_lt(pr->n, 8);
    pr->seq[pr->n] = seq;
    pr->status[pr->n] = status;
    snprintf(pr->error[pr->n++], sizeof pr->error[0], "%.*s", (int)error_len, error);
    return true;
}

/* A consumer's progress: cursor, pending retries and dead letters written in one transaction,
 * read back, deleted one by one, and forgotten all at once without touching another consumer. */
START_TEST(test_progress_records)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_opts_t o = opts_default(HD_DURABILITY_FSYNC);
    fx_t *st = fx_open(&loop, &o);
    tb_t *b = tb_new(st);
    hd_evlog_txn_t *t = tb_ptxn(b);
    hd_evlog_pending_t p = {.attempts = 2, .due_ms = 12345, .last_status = 503};
    ck_assert_int_eq(hd_evlog_txn_cursor(t, 5, 10), HD_E_OK);
    ck_assert_int_eq(hd_evlog_txn_pending_put(t, 5, 7, &p), HD_E_OK);
    ck_assert_int_eq(hd_evlog_txn_pending_put(t, 5, 3, &p), HD_E_OK);
    ck_assert_int_eq(hd_evlog_txn_dead_put(t, 5, 4, 500, "boom", 4), HD_E_OK);
    ck_assert_int_eq(hd_evlog_txn_cursor(t, 6, 1), HD_E_OK);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);

    uint64_t c = 0;
    ck_assert(hd_evlog_cursor_get(st->log, 5, &c));
    ck_assert_uint_eq(c, 10);
    ck_assert(!hd_evlog_cursor_get(st->log, 99, &c));
    progress_t pr = {0};
    ck_assert_int_eq(hd_evlog_pending_scan(st->log, 5, on_pending, &pr), HD_E_OK);
    ck_assert_int_eq(pr.n, 2);
    ck_assert_uint_eq(pr.seq[0], 3); /* in seq order */
    ck_assert_uint_eq(pr.seq[1], 7);
    ck_assert_uint_eq(pr.p[0].attempts, 2);
    ck_assert_uint_eq(pr.p[0].due_ms, 12345);
    ck_assert_int_eq(pr.p[0].last_status, 503);
    progress_t dd = {0};
    ck_assert_int_eq(hd_evlog_dead_scan(st->log, 5, on_dead, &dd), HD_E_OK);
    ck_assert_int_eq(dd.n, 1);
    ck_assert_uint_eq(dd.seq[0], 4);
    ck_assert_int_eq(dd.status[0], 500);
    ck_assert_str_eq(dd.error[0], "boom");

    b = tb_new(st);
    t = tb_ptxn(b);
    ck_assert_int_eq(hd_evlog_txn_pending_del(t, 5, 3), HD_E_OK);
    ck_assert_int_eq(hd_evlog_txn_dead_del(t, 5, 4), HD_E_OK);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    memset(&pr, 0, sizeof pr);
    hd_evlog_pending_scan(st->log, 5, on_pending, &pr);
    ck_assert_int_eq(pr.n, 1);
    ck_assert_uint_eq(pr.seq[0], 7);
    memset(&dd, 0, sizeof dd);
    hd_evlog_dead_scan(st->log, 5, on_dead, &dd);
    ck_assert_int_eq(dd.n, 0);

    b = tb_new(st);
    ck_assert_int_eq(hd_evlog_txn_forget(tb_ptxn(b), 5), HD_E_OK);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    ck_assert(!hd_evlog_cursor_get(st->log, 5, &c));
    memset(&pr, 0, sizeof pr);
    hd_evlog_pending_scan(st->log, 5, on_pending, &pr);
    ck_assert_int_eq(pr.n, 0);
    ck_assert(hd_evlog_cursor_get(st->log, 6, &c));
    ck_assert_uint_eq(c, 1);
    fx_close(&loop, st);
    rm_tmpdir();
}
END_TEST

static void on_dropped(void *arg, hd_err_t status)
{
    *(hd_err_t *)arg = status;
}

/* Reading a window, one event, and dropping a deleted broker's log: its events go, another
 * log's stay, and its sequence numbers are not handed out again. */
START_TEST(test_read_get_drop)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    fx_opts_t o = opts_default(HD_DURABILITY_NONE);
    fx_t *st = fx_open(&loop, &o);
    tb_t *b = tb_new(st);
    const char *ids[] = {"e1", "e2", "e3", "e4", "e5"};
    for (int i = 0; i < 5; i++)
        add_event(b, 9, ids[i], "payload", NULL);
    add_event(b, 10, "keep", NULL, NULL);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);

    scan_t s = {0};
    ck_assert_int_eq(hd_evlog_read(st->log, 9, 2, 2, on_scan, &s), HD_E_OK);
    ck_assert_int_eq(s.n, 2); /* at most max, from from_seq on */
    ck_assert_uint_eq(s.seqs[0], 2);
    ck_assert_str_eq(s.ids[1], "e3");
    ce_event_t *ev = NULL;
    ck_assert_int_eq(hd_evlog_get(st->log, 9, 4, &ev), HD_E_OK);
    ck_assert_str_eq(ce_event_get_str(ev, "id"), "e4");
    ce_event_free(ev);
    ck_assert_int_eq(hd_evlog_get(st->log, 9, 6, &ev), HD_E_NOTFOUND);

    hd_err_t dropped = HD_E__COUNT;
    ck_assert_int_eq(hd_evlog_drop(st->log, 9, on_dropped, &dropped), HD_E_OK);
    run_loop(&loop);
    ck_assert_int_eq(dropped, HD_E_OK);
    ck_assert_uint_eq(hd_evlog_count(st->log, 9), 0);
    ck_assert_uint_eq(hd_evlog_first_seq(st->log, 9), 0);
    ck_assert_int_eq(hd_evlog_get(st->log, 9, 4, &ev), HD_E_NOTFOUND);
    ck_assert_uint_eq(hd_evlog_count(st->log, 10), 1);
    uint64_t seq = 0;
    b = tb_new(st);
    add_event(b, 9, "after", NULL, &seq);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    ck_assert_uint_gt(seq, 5);
    fx_close(&loop, st);
    rm_tmpdir();
}
END_TEST

static Suite *evlog_suite(void)
{
    Suite *s = suite_create("evlog");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_append_read_back);
    tcase_add_test(tc, test_commit_listeners);
    tcase_add_test(tc, test_seq_never_reused);
    tcase_add_test(tc, test_trim_by_seq_and_age);
    tcase_add_test(tc, test_progress_records);
    tcase_add_test(tc, test_read_get_drop);
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
