/*
 * test_store_damage.c — a damaged store (issue #8 item 3) on real LMDB files: the record
 * checksum (CRC32C vector, every single-byte change detected, the legacy-record rule), a record
 * damaged on disk handed out as corrupt and never as an event (read and get, counted once), a
 * truncated data.mdb refused before it is mapped, an emptied or missing data.mdb refused in an
 * initialised data_dir, the pending record's body across a reopen, and `heraldd --check`'s
 * exit codes and report.
 */
#include <check.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "channels_test_util.h"
#include "lmdb_guard.h"
#include "lmdb_record.h"

START_TEST(test_crc32c_vector)
{
    ck_assert_uint_eq(hd_lmdb__crc32c(0, "123456789", 9), 0xE3069283u);
    char buf[1000];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (char)(i * 31 + 7);
    uint32_t whole = hd_lmdb__crc32c(0, buf, sizeof(buf));
    ck_assert_uint_eq(hd_lmdb__crc32c(hd_lmdb__crc32c(0, buf, 333), buf + 333, 667), whole);
    /* the instruction and the portable code agree, at every length and alignment */
    ck_assert_uint_eq(hd_lmdb__crc32c_sw(0, "123456789", 9), 0xE3069283u);
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof(buf); n += 37)
            ck_assert_uint_eq(hd_lmdb__crc32c(7, buf + off, n),
                              hd_lmdb__crc32c_sw(7, buf + off, n));
}
END_TEST

/* A sealed record of a real packed event; *len its size (free with free). */
static uint8_t *sealed_record(size_t *len)
{
    ce_event_t *ev = make_event("r1", "payload bytes");
    uint8_t *packed;
    size_t plen;
    ck_assert_int_eq(ce_event_pack(ev, &packed, &plen), CE_E_OK);
    ce_event_free(ev);
    uint8_t *rec = malloc(HD_LMDB_REC_HDR + plen);
    memcpy(rec + HD_LMDB_REC_HDR, packed, plen);
    free(packed);
    hd_lmdb__rec_seal(rec, HD_LMDB_REC_HDR + plen, 1700000000123ull);
    *len = HD_LMDB_REC_HDR + plen;
    return rec;
}

START_TEST(test_record_checksum)
{
    size_t len;
    uint8_t *rec = sealed_record(&len);
    uint64_t wall = 0;
    ce_event_t *ev = NULL;
    bool nomem;
    ck_assert_ptr_null(hd_lmdb__rec_decode(rec, len, false, &wall, &ev, &nomem));
    ck_assert_uint_eq(wall, 1700000000123ull);
    ck_assert_uint_eq(hd_lmdb__rec_wall(rec, len), 1700000000123ull);
    ck_assert_str_eq(ce_event_get_str(ev, "id"), "r1");
    ce_event_free(ev);
    /* any change of any byte is detected, and nothing is handed out */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            rec[i] ^= (uint8_t)(1u << bit);
            const char *why = hd_lmdb__rec_decode(rec, len, true, &wall, &ev, &nomem);
            ck_assert_msg(why != NULL, "byte %zu bit %d not detected", i, bit);
            ck_assert_ptr_null(ev);
            ck_assert(!nomem);
            rec[i] ^= (uint8_t)(1u << bit);
        }
    }
    /* truncated */
    ck_assert_ptr_nonnull(hd_lmdb__rec_decode(rec, len - 1, false, &wall, &ev, &nomem));
    ck_assert_ptr_nonnull(hd_lmdb__rec_decode(rec, 3, false, &wall, &ev, &nomem));
    /* a record without checksum (format byte 0) only in a store from before checksums */
    uint8_t *legacy = malloc(len);
    memcpy(legacy, rec + 5, len - 5); /* wall ms + packed: the old layout */
    ck_assert_str_eq(hd_lmdb__rec_decode(legacy, len - 5, false, &wall, &ev, &nomem),
                     "no checksum (format byte 0) in a store whose records all carry one");
    ck_assert_ptr_null(hd_lmdb__rec_decode(legacy, len - 5, true, &wall, &ev, &nomem));
    ck_assert_uint_eq(wall, 1700000000123ull);
    ce_event_free(ev);
    free(legacy);
    free(rec);
}
END_TEST

/* Flips one byte in every copy of `marker` in data_dir/data.mdb (stale copies in free page
 * space are harmless); returns how many were found. */
static int damage_marker(const char *marker)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/data.mdb", tmpdir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    uint8_t *buf = malloc((size_t)size);
    fseek(f, 0, SEEK_SET);
    ck_assert_int_eq(fread(buf, 1, (size_t)size, f), size);
    size_t ml = strlen(marker);
    int found = 0;
    for (long i = 0; i + (long)ml <= size; i++) {
        if (memcmp(buf + i, marker, ml) == 0) {
            fseek(f, i + (long)ml / 2, SEEK_SET);
            fputc('#', f);
            found++;
        }
    }
    fclose(f);
    free(buf);
    return found;
}

typedef struct {
    int n, nulls;
    uint64_t null_seq;
    const char *why;
    hd_evlog_t *log;
    char data[8][64];
} read_t;

static bool on_read(void *arg, uint64_t seq, uint64_t ingest, ce_event_t *ev)
{
    (void)ingest;
    read_t *r = arg;
    if (!ev) {
        r->nulls++;
        r->null_seq = seq;
        r->why = r->log->corrupt_why;
    } else {
        const void *d = "";
        size_t dl;
        if (!ce_event_data(ev, &d, &dl))
            dl = 0;
        snprintf(r->data[r->n % 8], sizeof(r->data[0]), "%.*s", (int)dl, (const char *)d);
        ce_event_free(ev);
    }
    r->n++;
    return true;
}

static void write_three(uv_loop_t *loop)
{
    hd_lmdb_opts_t o = opts_default(HD_DURABILITY_FSYNC);
    fx_t *st = fx_open(loop, &o);
    tb_t *b = tb_new(st);
    add_event(b, 1, "a", "first-event-payload-0001", NULL);
    add_event(b, 1, "b", "second-event-payload-0002", NULL);
    add_event(b, 1, "c", "third-event-payload-0003", NULL);
    ck_assert_int_eq(submit_wait(loop, b), HD_E_OK);
    fx_close(loop, st); /* closes the loop too: open it again */
    uv_loop_init(loop);
}

START_TEST(test_damaged_record_never_handed_out)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    write_three(&loop);
    ck_assert_int_ge(damage_marker("second-event-payload-0002"), 1);

    hd_lmdb_opts_t o = opts_default(HD_DURABILITY_FSYNC);
    fx_t *st = fx_open(&loop, &o);
    read_t r = {.log = st->log};
    ck_assert_int_eq(hd_evlog_read(st->log, 1, 1, 10, on_read, &r), HD_E_OK);
    ck_assert_int_eq(r.n, 3);
    ck_assert_int_eq(r.nulls, 1);
    ck_assert_uint_eq(r.null_seq, 2);
    ck_assert_str_eq(r.why, "checksum mismatch");
    ck_assert_str_eq(r.data[0], "first-event-payload-0001");
    ck_assert_str_eq(r.data[2], "third-event-payload-0003");
    ce_event_t *ev = NULL;
    ck_assert_int_eq(hd_evlog_get(st->log, 1, 2, &ev), HD_E_CORRUPT);
    ck_assert_ptr_null(ev);
    ck_assert_int_eq(hd_evlog_get(st->log, 1, 3, &ev), HD_E_OK);
    ce_event_free(ev);
    /* counted once, however often it is read */
    ck_assert_int_eq(hd_evlog_read(st->log, 1, 1, 10, on_read, &r), HD_E_OK);
    hd_lmdb_stats_t s;
    hd_lmdb_stats(st->lm, &s);
    ck_assert_uint_eq(s.corrupt_records, 1);

    /* --check finds it, names it, and changes nothing */
    fx_close(&loop, st);
    FILE *out = tmpfile();
    ck_assert_int_eq(hd_lmdb_check(tmpdir, out), 1);
    char text[4096] = "";
    rewind(out);
    ck_assert_uint_gt(fread(text, 1, sizeof(text) - 1, out), 0);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(text, "log 1 seq 2: checksum mismatch"));
    ck_assert_ptr_nonnull(strstr(text, "events: 3 records in 1 logs"));
    ck_assert_ptr_nonnull(strstr(text, "check: problems found"));
    rm_tmpdir();
}
END_TEST

static long file_size(const char *name)
{
    char path[300];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

START_TEST(test_short_file_refused)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    write_three(&loop);
    FILE *out = tmpfile();
    ck_assert_int_eq(hd_lmdb_check(tmpdir, out), 0);
    fclose(out);

    char path[300];
    snprintf(path, sizeof(path), "%s/data.mdb", tmpdir);
    hd_lmdb__file_meta_t m;
    const char *why;
    ck_assert_int_eq(hd_lmdb__file_meta(path, &m, &why), HD_E_OK);
    ck_assert_uint_ge(m.file_bytes, m.needed_bytes);
    ck_assert_int_eq(m.metas_valid, 2);
    ck_assert_int_eq(truncate(path, (off_t)(m.needed_bytes / 4)), 0);

    hd_lmdb_opts_t o = opts_default(HD_DURABILITY_FSYNC);
    fx_t *st = NULL;
    ck_assert_int_eq(fx_try_open(&loop, &o, &st), HD_E_STORE); /* not SIGBUS */
    ck_assert_ptr_null(st);
    out = tmpfile();
    ck_assert_int_eq(hd_lmdb_check(tmpdir, out), 2);
    fclose(out);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    rm_tmpdir();
}
END_TEST

START_TEST(test_emptied_store_refused)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    write_three(&loop);
    ck_assert_int_gt(file_size(HD_LMDB_MARKER), 0);
    char path[300];
    snprintf(path, sizeof(path), "%s/data.mdb", tmpdir);
    ck_assert_int_eq(truncate(path, 0), 0);

    hd_lmdb_opts_t o = opts_default(HD_DURABILITY_FSYNC);
    fx_t *st = NULL;
    ck_assert_int_eq(fx_try_open(&loop, &o, &st), HD_E_STORE);
    ck_assert_int_eq(file_size("data.mdb"), 0); /* not recreated */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(fx_try_open(&loop, &o, &st), HD_E_STORE);
    ck_assert_int_eq(file_size("data.mdb"), -1);
    FILE *out = tmpfile();
    ck_assert_int_eq(hd_lmdb_check(tmpdir, out), 2);
    fclose(out);

    /* the operator's way out: remove the marker to start afresh */
    char marker[300];
    snprintf(marker, sizeof(marker), "%s/" HD_LMDB_MARKER, tmpdir);
    ck_assert_int_eq(unlink(marker), 0);
    st = fx_open(&loop, &o);
    ck_assert_uint_eq(hd_evlog_last_seq(st->log, 1), 0);
    fx_close(&loop, st);
    ck_assert_int_gt(file_size(HD_LMDB_MARKER), 0);
    rm_tmpdir();
}
END_TEST

/* A store from before checksums (no store.records in meta) holding one record of the old
 * layout: it is read (decoded only); new records get checksums. In a store created with
 * checksums the same record is corrupt. */
START_TEST(test_legacy_records)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    write_three(&loop);
    for (int drop_marker = 1; drop_marker >= 0; drop_marker--) {
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi meta, events;
        ck_assert_int_eq(mdb_env_create(&env), 0);
        mdb_env_set_maxdbs(env, 8);
        ck_assert_int_eq(mdb_env_open(env, tmpdir, 0, 0600), 0);
        ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
        ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
        ck_assert_int_eq(mdb_dbi_open(txn, "events", 0, &events), 0);
        MDB_val mk = {13, "store.records"};
        if (drop_marker) {
            ck_assert_int_eq(mdb_del(txn, meta, &mk, NULL), 0);
        } else {
            uint8_t one[1] = {1};
            MDB_val mv = {1, one};
            ck_assert_int_eq(mdb_put(txn, meta, &mk, &mv, 0), 0);
        }
        /* seq 2 rewritten in the old layout: wall ms + packed event */
        size_t len;
        uint8_t *rec = sealed_record(&len);
        uint8_t kb[12] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2};
        MDB_val k = {12, kb}, v = {len - 5, rec + 5};
        ck_assert_int_eq(mdb_put(txn, events, &k, &v, 0), 0);
        ck_assert_int_eq(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
        free(rec);

        hd_lmdb_opts_t o = opts_default(HD_DURABILITY_FSYNC);
        fx_t *st = fx_open(&loop, &o);
        read_t r = {.log = st->log};
        ck_assert_int_eq(hd_evlog_read(st->log, 1, 1, 10, on_read, &r), HD_E_OK);
        ck_assert_int_eq(r.n, 3);
        ck_assert_int_eq(r.nulls, drop_marker ? 0 : 1);
        if (drop_marker)
            ck_assert_str_eq(r.data[1], "payload bytes");
        fx_close(&loop, st);
        uv_loop_init(&loop);
    }
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    rm_tmpdir();
}
END_TEST

typedef struct {
    int n;
    char body[64];
    size_t body_len;
} pend_t;

static bool on_pend(void *arg, uint32_t sub_id, uint64_t seq, const hd_evlog_pending_t *p)
{
    (void)sub_id;
    (void)seq;
    pend_t *pp = arg;
    pp->n++;
    pp->body_len = p->body_len;
    snprintf(pp->body, sizeof(pp->body), "%.*s", (int)p->body_len, p->body ? p->body : "");
    return true;
}

START_TEST(test_pending_body_survives_reopen)
{
    make_tmpdir();
    uv_loop_t loop;
    uv_loop_init(&loop);
    hd_lmdb_opts_t o = opts_default(HD_DURABILITY_FSYNC);
    fx_t *st = fx_open(&loop, &o);
    tb_t *b = tb_new(st);
    hd_evlog_pending_t p = {2, 12345, 500, "kaputt", 6};
    ck_assert_int_eq(hd_evlog_txn_pending_put(tb_ptxn(b), 9, 4, &p), HD_E_OK);
    ck_assert_int_eq(submit_wait(&loop, b), HD_E_OK);
    fx_close(&loop, st);

    uv_loop_init(&loop);
    st = fx_open(&loop, &o);
    pend_t got = {0};
    ck_assert_int_eq(hd_evlog_pending_scan(st->log, 9, on_pend, &got), HD_E_OK);
    ck_assert_int_eq(got.n, 1);
    ck_assert_uint_eq(got.body_len, 6);
    ck_assert_str_eq(got.body, "kaputt");
    fx_close(&loop, st);
    rm_tmpdir();
}
END_TEST

static Suite *damage_suite(void)
{
    Suite *s = suite_create("store_damage");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_crc32c_vector);
    tcase_add_test(tc, test_record_checksum);
    tcase_add_test(tc, test_damaged_record_never_handed_out);
    tcase_add_test(tc, test_short_file_refused);
    tcase_add_test(tc, test_emptied_store_refused);
    tcase_add_test(tc, test_pending_body_survives_reopen);
    tcase_add_test(tc, test_legacy_records);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(damage_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
