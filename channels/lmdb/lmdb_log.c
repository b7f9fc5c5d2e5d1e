/*
 * lmdb_log.c — the LMDB backend's event logs (the `events` database and the per-log records in
 * `meta`): sequence assignment, append, read, bounds, time lookup, trim and drop, and the
 * hd_evlog_ops_t table of the backend.
 */
#include "lmdb_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void log_meta_key(char *buf, size_t cap, uint32_t id)
{
    snprintf(buf, cap, HD_LMDB_META_LOG_PREFIX "%u", id);
}

bool hd_lmdb__log_rec_read(MDB_txn *txn, MDB_dbi meta, uint32_t id, hd_lmdb__log_rec_t *rec)
{
    char name[40];
    log_meta_key(name, sizeof(name), id);
    MDB_val k = {strlen(name), name}, v;
    memset(rec, 0, sizeof(*rec));
    if (mdb_get(txn, meta, &k, &v) != 0 || v.mv_size < 24)
        return false;
    rec->hw = hd_lmdb__get_u64(v.mv_data);
    rec->last = hd_lmdb__get_u64((uint8_t *)v.mv_data + 8);
    rec->count = hd_lmdb__get_u64((uint8_t *)v.mv_data + 16);
    return true;
}

int hd_lmdb__log_rec_write(MDB_txn *txn, MDB_dbi meta, uint32_t id, const hd_lmdb__log_rec_t *rec)
{
    char name[40];
    uint8_t buf[24];
    log_meta_key(name, sizeof(name), id);
    hd_lmdb__put_u64(buf, rec->hw);
    hd_lmdb__put_u64(buf + 8, rec->last);
    hd_lmdb__put_u64(buf + 16, rec->count);
    MDB_val k = {strlen(name), name}, v = {sizeof(buf), buf};
    return mdb_put(txn, meta, &k, &v, 0);
}

/* Highest seq ever handed out for a log as far as the DB knows (loop thread). */
static uint64_t read_seq_floor(hd_lmdb_t *lm, uint32_t log_id);

/* Appends one event to log_id in batch b, assigning its seq now (the loop thread owns the
 * counters); it is durable only once the batch commits. Packs the event now (borrowed).
 * Errors: HD_E_INVAL (cannot be packed), HD_E_NOMEM. */
static hd_err_t batch_event(hd_lmdb__batch_t *b, uint32_t log_id, const ce_event_t *ev,
                            uint64_t *seq)
{
    if (!ev)
        return HD_E_INVAL;
    hd_lmdb_t *lm = b->lm;
    /* Make room first so that a seq, once assigned, always ends up in the batch. */
    if (b->nbrokers == b->bcap) {
        size_t nc = b->bcap ? b->bcap * 2 : 4;
        hd_lmdb__touched_t *n = hd_realloc(b->brokers, nc * sizeof(*n));
        if (!n)
            return HD_E_NOMEM;
        b->brokers = n;
        b->bcap = nc;
    }
    hd_lmdb__op_t *op = hd_lmdb__batch_op(b, OP_EVENT);
    if (!op)
        return HD_E_NOMEM;
    uint8_t *packed = NULL;
    size_t plen = 0;
    ce_err_t ce = ce_event_pack(ev, &packed, &plen);
    if (ce != CE_E_OK)
        return ce == CE_E_NOMEM ? HD_E_NOMEM : HD_E_INVAL;
    uint8_t *val = hd_malloc(HD_LMDB_REC_HDR + plen);
    if (!val) {
        free(packed);
        return HD_E_NOMEM;
    }
    memcpy(val + HD_LMDB_REC_HDR, packed, plen);
    free(packed);
    hd_lmdb__rec_seal(val, HD_LMDB_REC_HDR + plen, hd_wall_ms()); /* one CRC pass */

    uint64_t *next = hd_lmdb__u64map_get(&lm->next_seq, log_id);
    if (!next) {
        next = hd_lmdb__u64map_put(&lm->next_seq, log_id, read_seq_floor(lm, log_id) + 1);
        if (!next) {
            hd_free(val);
            return HD_E_NOMEM;
        }
    }
    uint64_t s = (*next)++;

    op->id = log_id;
    op->seq = s;
    op->val = val;
    op->vlen = HD_LMDB_REC_HDR + plen;
    b->nops++;
    b->bytes += op->vlen + 12;

    size_t i;
    for (i = 0; i < b->nbrokers; i++)
        if (b->brokers[i].id == log_id)
            break;
    if (i == b->nbrokers) {
        b->brokers[i].id = log_id;
        b->brokers[i].max_seq = 0;
        b->nbrokers++;
    }
    if (s > b->brokers[i].max_seq)
        b->brokers[i].max_seq = s;
    *seq = s;
    return HD_E_OK;
}

static hd_err_t lmdb_append(hd_evlog_t *log, uint32_t log_id, ce_event_t *const *evs, size_t n,
                            hd_evlog_append_fn done, void *arg)
{
    if (!log || (!evs && n))
        return HD_E_INVAL;
    hd_lmdb_t *lm = hd_container_of(log, hd_lmdb_t, evlog);
    hd_lmdb__batch_t *b = hd_lmdb__batch_new(lm);
    if (!b)
        return HD_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        uint64_t seq;
        hd_err_t e = batch_event(b, log_id, evs[i], &seq);
        if (e != HD_E_OK) {
            hd_lmdb__batch_free(b);
            return e;
        }
        if (i == 0)
            b->first_seq = seq;
    }
    b->append_cb = done;
    return hd_lmdb__submit(lm, b, NULL, arg);
}

/* A batch of one OP_TRIM op, submitted. */
static hd_err_t submit_trim(hd_evlog_t *log, uint32_t log_id, uint64_t upto_seq,
                            uint64_t older_than_wall_ms, hd_evlog_done_fn done, void *arg)
{
    if (!log)
        return HD_E_INVAL;
    hd_lmdb_t *lm = hd_container_of(log, hd_lmdb_t, evlog);
    hd_lmdb__batch_t *b = hd_lmdb__batch_new(lm);
    hd_lmdb__op_t *op = b ? hd_lmdb__batch_op(b, OP_TRIM) : NULL;
    if (!op) {
        hd_lmdb__batch_free(b);
        return HD_E_NOMEM;
    }
    op->id = log_id;
    op->seq = upto_seq;
    op->arg = older_than_wall_ms;
    b->nops++;
    return hd_lmdb__submit(lm, b, done, arg);
}

static hd_err_t lmdb_trim(hd_evlog_t *log, uint32_t log_id, uint64_t upto_seq,
                          uint64_t older_than_wall_ms, hd_evlog_done_fn done, void *arg)
{
    return submit_trim(log, log_id, upto_seq, older_than_wall_ms, done, arg);
}

/* The log's meta record stays: it keeps the high-water so its seqs are never reused. */
static hd_err_t lmdb_drop(hd_evlog_t *log, uint32_t log_id, hd_evlog_done_fn done, void *arg)
{
    return submit_trim(log, log_id, UINT64_MAX, 0, done, arg);
}

int hd_lmdb__apply_log_op(hd_lmdb_t *lm, MDB_txn *txn, hd_lmdb__op_t *op,
                          hd_lmdb__acct_list_t *acct, size_t *budget)
{
    hd_lmdb__acct_t *a = hd_lmdb__acct_for(acct, op->id);
    if (!a)
        return ENOMEM;
    if (op->kind == OP_TRIM)
        return hd_lmdb__delete_prefix(txn, lm->db_events, op->id, op->seq, op->arg, true, budget,
                                      &a->deleted);
    uint8_t kb[12];
    MDB_val k = {12, kb}, v = {op->vlen, op->val};
    hd_lmdb__put_u32(kb, op->id);
    hd_lmdb__put_u64(kb + 4, op->seq);
    int rc = mdb_put(txn, lm->db_events, &k, &v, MDB_NOOVERWRITE);
    if (rc == MDB_KEYEXIST) /* cannot happen with unique seqs; keep the newer bytes */
        return mdb_put(txn, lm->db_events, &k, &v, 0);
    if (rc)
        return rc;
    a->added++;
    if (op->seq > a->max_seq)
        a->max_seq = op->seq;
    return 0;
}

/* Last key of `db` starting with the 4-byte id (12-byte keys); 0 when none. */
static uint64_t last_key_seq(MDB_txn *txn, MDB_dbi db, uint32_t id)
{
    MDB_cursor *c;
    if (mdb_cursor_open(txn, db, &c))
        return 0;
    uint8_t kb[12];
    uint64_t seq = 0;
    int rc;
    MDB_val k, v;
    if (id == UINT32_MAX) {
        rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    } else {
        hd_lmdb__put_u32(kb, id + 1);
        hd_lmdb__put_u64(kb + 4, 0);
        k.mv_size = 12;
        k.mv_data = kb;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        rc = rc == 0 ? mdb_cursor_get(c, &k, &v, MDB_PREV) : mdb_cursor_get(c, &k, &v, MDB_LAST);
    }
    if (rc == 0 && k.mv_size == 12 && hd_lmdb__get_u32(k.mv_data) == id)
        seq = hd_lmdb__get_u64((uint8_t *)k.mv_data + 4);
    mdb_cursor_close(c);
    return seq;
}

/* The log's record and the seq of its last stored event, read in one transaction; false when no
 * read transaction could be had. */
static bool log_rec_and_last(hd_lmdb_t *lm, uint32_t log_id, hd_lmdb__log_rec_t *rec,
                             uint64_t *last)
{
    MDB_txn *txn = hd_lmdb__read_begin(lm);
    if (!txn)
        return false;
    hd_lmdb__log_rec_read(txn, lm->db_meta, log_id, rec);
    *last = last_key_seq(txn, lm->db_events, log_id);
    hd_lmdb__read_end(lm, txn);
    return true;
}

static uint64_t read_seq_floor(hd_lmdb_t *lm, uint32_t log_id)
{
    hd_lmdb__log_rec_t rec;
    uint64_t last;
    if (!log_rec_and_last(lm, log_id, &rec, &last))
        return 0;
    uint64_t floor = rec.hw > rec.last ? rec.hw : rec.last;
    return last > floor ? last : floor;
}

static uint64_t last_seq(hd_lmdb_t *lm, uint32_t log_id)
{
    hd_lmdb__log_rec_t rec;
    uint64_t last;
    if (!log_rec_and_last(lm, log_id, &rec, &last))
        return 0;
    return last > rec.last ? last : rec.last;
}

static uint64_t first_seq(hd_lmdb_t *lm, uint32_t log_id)
{
    MDB_txn *txn = hd_lmdb__read_begin(lm);
    if (!txn)
        return 0;
    uint64_t seq = 0;
    MDB_cursor *c;
    if (mdb_cursor_open(txn, lm->db_events, &c) == 0) {
        uint8_t kb[12];
        hd_lmdb__put_u32(kb, log_id);
        hd_lmdb__put_u64(kb + 4, 0);
        MDB_val k = {12, kb}, v;
        if (mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size == 12 &&
            hd_lmdb__get_u32(k.mv_data) == log_id)
            seq = hd_lmdb__get_u64((uint8_t *)k.mv_data + 4);
        mdb_cursor_close(c);
    }
    hd_lmdb__read_end(lm, txn);
    return seq;
}

static uint64_t event_count(hd_lmdb_t *lm, uint32_t log_id)
{
    MDB_txn *txn = hd_lmdb__read_begin(lm);
    if (!txn)
        return 0;
    hd_lmdb__log_rec_t rec;
    hd_lmdb__log_rec_read(txn, lm->db_meta, log_id, &rec);
    hd_lmdb__read_end(lm, txn);
    return rec.count;
}

static void lmdb_bounds(hd_evlog_t *log, uint32_t log_id, uint64_t *first, uint64_t *last,
                        uint64_t *count)
{
    hd_lmdb_t *lm = hd_container_of(log, hd_lmdb_t, evlog);
    if (first)
        *first = first_seq(lm, log_id);
    if (last)
        *last = last_seq(lm, log_id);
    if (count)
        *count = event_count(lm, log_id);
}

/* A corrupt event record: logged and counted once per record (a ring of the last ones reported;
 * several consumers read the same record), and named to the caller through corrupt_why. */
static void note_corrupt(hd_lmdb_t *lm, uint32_t log_id, uint64_t seq, const char *why)
{
    lm->evlog.corrupt_why = why;
    size_t n = lm->ncorrupt_seen < 256 ? lm->ncorrupt_seen : 256;
    for (size_t i = 0; i < n; i++)
        if (lm->corrupt_seen[i].id == log_id && lm->corrupt_seen[i].seq == seq)
            return;
    lm->corrupt_seen[lm->ncorrupt_seen % 256].id = log_id;
    lm->corrupt_seen[lm->ncorrupt_seen % 256].seq = seq;
    lm->ncorrupt_seen++;
    atomic_fetch_add_explicit(&lm->st_corrupt, 1, memory_order_relaxed);
    char ids[16], seqs[24];
    snprintf(ids, sizeof(ids), "%u", log_id);
    snprintf(seqs, sizeof(seqs), "%llu", (unsigned long long)seq);
    hd_log(HD_LOG_ERROR, "store: corrupt event record; it will not be delivered", "path",
           lm->data_dir, HD_LOG_NUM("log_id"), ids, HD_LOG_NUM("seq"), seqs, "reason", why, NULL);
}

/* The packed bytes are decoded here, inside the read call: the view they come from is valid
 * only until the read txn ends, and the packed format stays private to this backend. */
static hd_err_t lmdb_read(hd_evlog_t *log, uint32_t log_id, uint64_t from_seq, size_t max,
                          hd_evlog_event_fn fn, void *arg)
{
    if (!log || !fn)
        return HD_E_INVAL;
    hd_lmdb_t *lm = hd_container_of(log, hd_lmdb_t, evlog);
    MDB_txn *txn = hd_lmdb__read_begin(lm);
    if (!txn)
        return HD_E_STORE;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, lm->db_events, &c);
    if (rc) {
        hd_lmdb__read_end(lm, txn);
        return HD_E_STORE;
    }
    uint8_t kb[12];
    hd_lmdb__put_u32(kb, log_id);
    hd_lmdb__put_u64(kb + 4, from_seq);
    MDB_val k = {12, kb}, v;
    size_t n = 0;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && n < max) {
        if (k.mv_size != 12 || hd_lmdb__get_u32(k.mv_data) != log_id)
            break;
        uint64_t seq = hd_lmdb__get_u64((uint8_t *)k.mv_data + 4), wall = 0;
        ce_event_t *ev = NULL;
        bool nomem;
        const char *why =
            hd_lmdb__rec_decode(v.mv_data, v.mv_size, lm->legacy_ok, &wall, &ev, &nomem);
        if (nomem) {
            mdb_cursor_close(c);
            hd_lmdb__read_end(lm, txn);
            return HD_E_NOMEM; /* never hand a sound record out as corrupt */
        }
        if (why)
            note_corrupt(lm, log_id, seq, why); /* the callback sees it as NULL */
        n++;
        if (!fn(arg, seq, wall, ev))
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    hd_lmdb__read_end(lm, txn);
    return rc == 0 || rc == MDB_NOTFOUND ? HD_E_OK : HD_E_STORE;
}

static hd_err_t lmdb_get(hd_evlog_t *log, uint32_t log_id, uint64_t seq, ce_event_t **out)
{
    if (!log || !out)
        return HD_E_INVAL;
    hd_lmdb_t *lm = hd_container_of(log, hd_lmdb_t, evlog);
    MDB_txn *txn = hd_lmdb__read_begin(lm);
    if (!txn)
        return HD_E_STORE;
    uint8_t kb[12];
    hd_lmdb__put_u32(kb, log_id);
    hd_lmdb__put_u64(kb + 4, seq);
    MDB_val k = {12, kb}, v;
    hd_err_t err;
    int rc = mdb_get(txn, lm->db_events, &k, &v);
    if (rc == MDB_NOTFOUND) {
        err = HD_E_NOTFOUND;
    } else if (rc) {
        err = HD_E_STORE;
    } else {
        ce_event_t *ev = NULL;
        uint64_t wall;
        bool nomem;
        const char *why =
            hd_lmdb__rec_decode(v.mv_data, v.mv_size, lm->legacy_ok, &wall, &ev, &nomem);
        err = !why ? HD_E_OK : nomem ? HD_E_NOMEM : HD_E_CORRUPT;
        if (why && !nomem)
            note_corrupt(lm, log_id, seq, why);
        if (!err)
            *out = ev;
    }
    hd_lmdb__read_end(lm, txn);
    return err;
}

/* Ingest time of the first event of broker with seq >= s: true and *seq_out and *t when found. */
static bool first_at_or_after(MDB_cursor *c, uint32_t id, uint64_t s, uint64_t *seq_out,
                              uint64_t *t)
{
    uint8_t kb[12];
    hd_lmdb__put_u32(kb, id);
    hd_lmdb__put_u64(kb + 4, s);
    MDB_val k = {12, kb}, v;
    if (mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) != 0 || k.mv_size != 12 ||
        hd_lmdb__get_u32(k.mv_data) != id)
        return false;
    *seq_out = hd_lmdb__get_u64((uint8_t *)k.mv_data + 4);
    *t = hd_lmdb__rec_wall(v.mv_data, v.mv_size);
    return true;
}

static uint64_t lmdb_seq_at_time(hd_evlog_t *log, uint32_t log_id, uint64_t wall_ms)
{
    hd_lmdb_t *lm = hd_container_of(log, hd_lmdb_t, evlog);
    uint64_t first = first_seq(lm, log_id);
    uint64_t last = last_seq(lm, log_id);
    if (first == 0)
        return last + 1;
    MDB_txn *txn = hd_lmdb__read_begin(lm);
    if (!txn)
        return last + 1;
    MDB_cursor *c;
    uint64_t result = last + 1;
    if (mdb_cursor_open(txn, lm->db_events, &c) == 0) {
        /* P(s): the first event at or after s was ingested at or after wall_ms (or none is
         * left). Ingest times grow with seq, so P is monotone: binary search its first s. */
        uint64_t lo = first, hi = last + 1, s, t;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (!first_at_or_after(c, log_id, mid, &s, &t) || t >= wall_ms)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (first_at_or_after(c, log_id, lo, &s, &t))
            result = s;
        mdb_cursor_close(c);
    }
    hd_lmdb__read_end(lm, txn);
    return result;
}

const hd_evlog_ops_t hd_lmdb__evlog_ops = {
    .name = "lmdb",
    .append = lmdb_append,
    .read = lmdb_read,
    .get = lmdb_get,
    .bounds = lmdb_bounds,
    .seq_at_time = lmdb_seq_at_time,
    .watch = hd_lmdb__watch,
    .unwatch = hd_lmdb__unwatch,
    .trim = lmdb_trim,
    .drop = lmdb_drop,
    .txn_new = hd_lmdb__txn_new,
    .txn_free = hd_lmdb__txn_free,
    .txn_cursor = hd_lmdb__txn_cursor,
    .txn_pending = hd_lmdb__txn_pending,
    .txn_dead_put = hd_lmdb__txn_dead_put,
    .txn_dead_del = hd_lmdb__txn_dead_del,
    .txn_forget = hd_lmdb__txn_forget,
    .txn_submit = hd_lmdb__txn_submit,
    .cursor_get = hd_lmdb__cursor_get,
    .pending_scan = hd_lmdb__pending_scan,
    .dead_scan = hd_lmdb__dead_scan,
    .full = hd_lmdb__full,
};
