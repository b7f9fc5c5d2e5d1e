/*
 * test_lmdb_space.c — the room accounting of the LMDB backend (lmdb_space.c): the capacity
 * (store.map_size_max, or what the filesystem holds), the reserve that only trims, cursors and
 * progress writes may use, and the "full" state behind /readyz. The arithmetic is checked
 * directly; the behaviour on real LMDB files, with the capacity set by map_size_max so no
 * small filesystem is needed (tests/integration/store_full_heraldd.sh mounts one).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channels_test_util.h"
#include "lmdb_internal.h"

#define MIB (1024ull * 1024)
#define GIB (1024 * MIB)

/* ---- the arithmetic -------------------------------------------------------------------------- */

START_TEST(test_fs_cap)
{
    /* the file's blocks (data past LMDB's last page held for the reserve) + free - margin */
    ck_assert_uint_eq(hd_lmdb__space_fs_cap(10 * MIB, 12 * MIB, 8 * MIB), 19 * MIB);
    /* a sparse or compressed file counts as long as LMDB's last page */
    ck_assert_uint_eq(hd_lmdb__space_fs_cap(10 * MIB, 4 * MIB, 8 * MIB), 17 * MIB);
    /* an empty new store on a nearly full filesystem: no room at all, never an underflow */
    ck_assert_uint_eq(hd_lmdb__space_fs_cap(8192, 8192, 4096), 0);
    ck_assert_uint_eq(hd_lmdb__space_fs_cap(0, 0, 0), 0);
    /* statvfs unavailable (free taken as unbounded): no overflow */
    ck_assert_uint_eq(hd_lmdb__space_fs_cap(10 * MIB, 10 * MIB, UINT64_MAX),
                      UINT64_MAX - HD_LMDB_SPACE_MARGIN);
}
END_TEST

START_TEST(test_reserve)
{
    /* default: max(8 MiB, 2% of the capacity), at most 256 MiB ... */
    ck_assert_uint_eq(hd_lmdb__space_reserve(0, 100 * MIB), 8 * MIB);
    ck_assert_uint_eq(hd_lmdb__space_reserve(0, 8 * GIB), 8 * GIB / 50);
    ck_assert_uint_eq(hd_lmdb__space_reserve(0, 64 * 1024 * GIB), 256 * MIB);
    /* ... and never more than a quarter of it (a 20 MiB filesystem keeps 3/4 for events) */
    ck_assert_uint_eq(hd_lmdb__space_reserve(0, 20 * MIB), 5 * MIB);
    ck_assert_uint_eq(hd_lmdb__space_reserve(0, 0), 0);
    /* store.reserve_bytes, bounded the same way */
    ck_assert_uint_eq(hd_lmdb__space_reserve(1 * MIB, 100 * MIB), 1 * MIB);
    ck_assert_uint_eq(hd_lmdb__space_reserve(90 * MIB, 100 * MIB), 25 * MIB);
}
END_TEST

START_TEST(test_fits)
{
    hd_lmdb__space_t s = {.cap = 100 * MIB, .reserve = 10 * MIB, .used = 50 * MIB};
    ck_assert(hd_lmdb__space_fits(&s, 40 * MIB));      /* leaves exactly the reserve */
    ck_assert(!hd_lmdb__space_fits(&s, 40 * MIB + 1)); /* would eat into it */
    ck_assert(hd_lmdb__space_fits(&s, 0));
    s.used = 95 * MIB; /* already inside the reserve (trims used it): nothing fits */
    ck_assert(!hd_lmdb__space_fits(&s, 0));
    ck_assert(!hd_lmdb__space_fits(&s, UINT64_MAX)); /* no wrap-around */
    s.used = 101 * MIB;                              /* past the capacity (it shrank) */
    ck_assert(!hd_lmdb__space_fits(&s, 0));
    s.used = 50 * MIB;
    ck_assert(!hd_lmdb__space_fits(&s, UINT64_MAX - 10));
}
END_TEST

/* ---- on real files --------------------------------------------------------------------------- */

static hd_lmdb_opts_t small_store(void)
{
    hd_lmdb_opts_t o = opts_default(HD_DURABILITY_NONE);
    o.map_size_initial = 1 * MIB;
    o.map_size_max = 4 * MIB; /* the capacity: reserve 1 MiB (a quarter) by default */
    return o;
}

/* Appends 8 events of ~900 bytes per batch until one is refused; returns the batches stored. */
static int fill(uv_loop_t *loop, fx_t *st)
{
    char data[900];
    memset(data, 'f', sizeof(data) - 1);
    data[sizeof(data) - 1] = '\0';
    for (int i = 0; i < 100000; i++) {
        tb_t *b = tb_new(st);
        for (int k = 0; k < 8; k++)
            add_event(b, 1, "fill", data, NULL);
        hd_err_t e = submit_wait(loop, b);
        if (e != HD_E_OK) {
            ck_assert_int_eq(e, HD_E_FULL);
            return i;
        }
    }
    ck_abort_msg("never full");
    return -1;
}

/* Full: appends refused, hd_evlog_full true (so /readyz answers 503), while a cursor move and a
 * trim still commit in the reserve; once the trim freed pages the store is no longer full, with
 * no append needed to find out, and appends are accepted again. */
START_TEST(test_full_until_trimmed)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    hd_lmdb_opts_t o = small_store();
    fx_t *st = fx_open(&loop, &o);
    ck_assert(!hd_evlog_full(st->log));
    ck_assert_int_ge(fill(&loop, st), 10);
    ck_assert(hd_evlog_full(st->log));
    hd_lmdb_stats_t s;
    hd_lmdb_stats(st->lm, &s);
    ck_assert(s.full);
    ck_assert_uint_eq(s.capacity, 4 * MIB);
    ck_assert_uint_eq(s.reserve, 1 * MIB);
    /* used stops about a reserve short of the capacity */
    ck_assert_uint_le(s.map_used, 3 * MIB + 256 * 1024);
    ck_assert_uint_ge(s.map_used, 2 * MIB);

    uint64_t count = hd_evlog_count(st->log, 1);
    tb_t *b = tb_new(st);
    ck_assert_int_eq(hd_evlog_txn_cursor(tb_ptxn(b), 7, count), HD_E_OK);
    tb_trim(b, 1, hd_evlog_last_seq(st->log, 1) - 10, 0);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    ck_assert_uint_eq(hd_evlog_count(st->log, 1), 10);
    ck_assert(!hd_evlog_full(st->log));
    hd_lmdb_stats(st->lm, &s);
    ck_assert(!s.full);

    b = tb_new(st);
    add_event(b, 1, "again", "room again", NULL);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    fx_close(&loop, st);
    rm_tmpdir();
}
END_TEST

/* A store closed full is full from the moment it opens (a restart on a full disk: /readyz 503
 * at once), and recovers the same way once trimmed. */
START_TEST(test_reopened_full)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    hd_lmdb_opts_t o = small_store();
    fx_t *st = fx_open(&loop, &o);
    fill(&loop, st);
    fx_close(&loop, st);

    uv_loop_init(&loop);
    st = fx_open(&loop, &o);
    ck_assert(hd_evlog_full(st->log));
    tb_t *b = tb_new(st);
    tb_trim(b, 1, hd_evlog_last_seq(st->log, 1), 0);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    ck_assert(!hd_evlog_full(st->log));
    b = tb_new(st);
    add_event(b, 1, "after", "restart", NULL);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    fx_close(&loop, st);
    rm_tmpdir();
}
END_TEST

/* One append too big for the room left is refused, but the store is not full: smaller appends
 * still fit, and /readyz must not send every producer away for it. */
START_TEST(test_one_big_refusal_is_not_full)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    hd_lmdb_opts_t o = small_store();
    fx_t *st = fx_open(&loop, &o);
    size_t len = 2 * MIB;
    char *big = malloc(len + 1);
    memset(big, 'b', len);
    big[len] = '\0';
    tb_t *b = tb_new(st);
    add_event(b, 1, "big", big, NULL);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_FULL);
    ck_assert(!hd_evlog_full(st->log));
    b = tb_new(st);
    add_event(b, 1, "small", "fits", NULL);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    free(big);
    fx_close(&loop, st);
    rm_tmpdir();
}
END_TEST

/* store.reserve_bytes replaces the default: a smaller reserve lets the events use more. */
START_TEST(test_reserve_configured)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    hd_lmdb_opts_t o = small_store();
    fx_t *st = fx_open(&loop, &o);
    int dflt = fill(&loop, st);
    fx_close(&loop, st);
    rm_tmpdir();

    make_tmpdir();
    uv_loop_init(&loop);
    o = small_store();
    o.reserve_bytes = 256 * 1024;
    st = fx_open(&loop, &o);
    int more = fill(&loop, st);
    hd_lmdb_stats_t s;
    hd_lmdb_stats(st->lm, &s);
    ck_assert_uint_eq(s.reserve, 256 * 1024);
    ck_assert_int_gt(more, dflt);
    fx_close(&loop, st);
    rm_tmpdir();
}
END_TEST

/* The statistics are on /metrics. */
START_TEST(test_space_metrics)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    hd_lmdb_opts_t o = small_store();
    fx_t *st = fx_open(&loop, &o);
    hd_metrics_t *m = hd_metrics_new();
    ck_assert_int_eq(hd_lmdb_metrics_attach(st->lm, m), HD_E_OK);
    fill(&loop, st);
    size_t len;
    char *text = hd_metrics_render(m, &len);
    ck_assert_ptr_nonnull(strstr(text, "\nherald_store_capacity_bytes 4194304\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nherald_store_reserve_bytes 1048576\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nherald_store_full 1\n"));
    hd_free(text);
    fx_close(&loop, st);
    hd_metrics_free(m);
    rm_tmpdir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lmdb_space");
    TCase *tc = tcase_create("space");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_fs_cap);
    tcase_add_test(tc, test_reserve);
    tcase_add_test(tc, test_fits);
    tcase_add_test(tc, test_full_until_trimmed);
    tcase_add_test(tc, test_reopened_full);
    tcase_add_test(tc, test_one_big_refusal_is_not_full);
    tcase_add_test(tc, test_reserve_configured);
    tcase_add_test(tc, test_space_metrics);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
