/*
 * lmdb_progress.c — the LMDB backend's consumer progress (the `cursors`, `pending` and `dead`
 * databases): progress transactions, and the cursor, pending and dead-letter reads.
 */
#include "lmdb_internal.h"

#include <errno.h>
#include <string.h>

/* The batch behind a progress transaction; NULL for NULL. */
static hd_lmdb__batch_t *batch_of(hd_evlog_txn_t *txn)
{
    return txn ? hd_container_of(txn, hd_lmdb__batch_t, ptxn) : NULL;
}

hd_evlog_txn_t *hd_lmdb__txn_new(hd_evlog_t *log)
{
    hd_lmdb__batch_t *b = log ? hd_lmdb__batch_new(hd_container_of(log, hd_lmdb_t, evlog)) : NULL;
    return b ? &b->ptxn : NULL;
}

void hd_lmdb__txn_free(hd_evlog_txn_t *txn)
{
    hd_lmdb__batch_free(batch_of(txn));
}

hd_err_t hd_lmdb__txn_cursor(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq)
{
    hd_lmdb__batch_t *b = batch_of(txn);
    hd_lmdb__op_t *op = b ? hd_lmdb__batch_op(b, OP_CURSOR) : NULL;
    if (!op)
        return b ? HD_E_NOMEM : HD_E_INVAL;
    op->id = sub_id;
    op->seq = seq;
    b->nops++;
    b->bytes += 12;
    return HD_E_OK;
}

/* A delete keyed by sub id + seq (pending or dead record). */
static hd_err_t batch_del_id_seq(hd_lmdb__batch_t *b, hd_lmdb__op_kind_t kind, uint32_t sub_id,
                                 uint64_t seq)
{
    hd_lmdb__op_t *op = b ? hd_lmdb__batch_op(b, kind) : NULL;
    if (!op)
        return b ? HD_E_NOMEM : HD_E_INVAL;
    op->id = sub_id;
    op->seq = seq;
    b->nops++;
    return HD_E_OK;
}

hd_err_t hd_lmdb__txn_pending(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq,
                              const hd_evlog_pending_t *p)
{
    hd_lmdb__batch_t *b = batch_of(txn);
    if (!b)
        return HD_E_INVAL;
    if (!p)
        return batch_del_id_seq(b, OP_PENDING_DEL, sub_id, seq);
    if (p->body_len > HD_LMDB_PENDING_BODY_MAX || (!p->body && p->body_len))
        return HD_E_INVAL;
    hd_lmdb__op_t *op = hd_lmdb__batch_op(b, OP_PENDING_PUT);
    uint8_t *v = op ? hd_malloc(16 + p->body_len) : NULL;
    if (!v)
        return HD_E_NOMEM;
    hd_lmdb__put_u32(v, p->attempts);
    hd_lmdb__put_u64(v + 4, p->due_ms);
    hd_lmdb__put_u32(v + 12, (uint32_t)p->last_status);
    if (p->body_len) /* records of 16 bytes (older heraldd) simply have no body */
        memcpy(v + 16, p->body, p->body_len);
    op->id = sub_id;
    op->seq = seq;
    op->val = v;
    op->vlen = 16 + p->body_len;
    b->nops++;
    b->bytes += op->vlen + 12;
    return HD_E_OK;
}

hd_err_t hd_lmdb__txn_dead_put(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq, int32_t status,
                               const char *error, size_t error_len)
{
    hd_lmdb__batch_t *b = batch_of(txn);
    if (!b || (!error && error_len))
        return HD_E_INVAL;
    hd_lmdb__op_t *op = hd_lmdb__batch_op(b, OP_DEAD_PUT);
    uint8_t *v = op ? hd_malloc(12 + error_len) : NULL;
    if (!v)
        return HD_E_NOMEM;
    hd_lmdb__put_u32(v, (uint32_t)status);
    hd_lmdb__put_u64(v + 4, hd_wall_ms());
    if (error_len)
        memcpy(v + 12, error, error_len);
    op->id = sub_id;
    op->seq = seq;
    op->val = v;
    op->vlen = 12 + error_len;
    b->nops++;
    b->bytes += op->vlen + 12;
    return HD_E_OK;
}

hd_err_t hd_lmdb__txn_dead_del(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq)
{
    return batch_del_id_seq(batch_of(txn), OP_DEAD_DEL, sub_id, seq);
}

hd_err_t hd_lmdb__txn_forget(hd_evlog_txn_t *txn, uint32_t sub_id)
{
    hd_lmdb__batch_t *b = batch_of(txn);
    hd_lmdb__op_t *op = b ? hd_lmdb__batch_op(b, OP_FORGET) : NULL;
    if (!op)
        return b ? HD_E_NOMEM : HD_E_INVAL;
    op->id = sub_id;
    b->nops++;
    return HD_E_OK;
}

hd_err_t hd_lmdb__txn_submit(hd_evlog_txn_t *txn, hd_evlog_done_fn done, void *arg)
{
    hd_lmdb__batch_t *b = batch_of(txn);
    if (!b)
        return HD_E_INVAL;
    return hd_lmdb__submit(b->lm, b, done, arg);
}

int hd_lmdb__apply_progress_op(hd_lmdb_t *lm, MDB_txn *txn, hd_lmdb__op_t *op, size_t *budget)
{
    uint8_t kb[12];
    MDB_val k = {12, kb}, v = {op->vlen, op->val};
    int rc;
    hd_lmdb__put_u32(kb, op->id);
    hd_lmdb__put_u64(kb + 4, op->seq);
    switch (op->kind) {
    case OP_CURSOR: {
        uint8_t vb[8];
        hd_lmdb__put_u64(vb, op->seq);
        MDB_val ck = {4, kb}, cv = {8, vb};
        return mdb_put(txn, lm->db_cursors, &ck, &cv, 0);
    }
    case OP_PENDING_PUT:
        return mdb_put(txn, lm->db_pending, &k, &v, 0);
    case OP_DEAD_PUT:
        return mdb_put(txn, lm->db_dead, &k, &v, 0);
    case OP_PENDING_DEL:
    case OP_DEAD_DEL:
        rc = mdb_del(txn, op->kind == OP_PENDING_DEL ? lm->db_pending : lm->db_dead, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    case OP_FORGET: {
        uint64_t ignored = 0;
        /* arg is the stage: 0 cursor, 1 pending, 2 dead (kept across transactions). */
        if (op->arg == 0) {
            MDB_val ck = {4, kb};
            rc = mdb_del(txn, lm->db_cursors, &ck, NULL);
            if (rc && rc != MDB_NOTFOUND)
                return rc;
            op->arg = 1;
        }
        if (op->arg == 1) {
            rc = hd_lmdb__delete_prefix(txn, lm->db_pending, op->id, 0, 0, false, budget, &ignored);
            if (rc)
                return rc;
            op->arg = 2;
        }
        return hd_lmdb__delete_prefix(txn, lm->db_dead, op->id, 0, 0, false, budget, &ignored);
    }
    default:
        return EINVAL;
    }
}

bool hd_lmdb__cursor_get(hd_evlog_t *log, uint32_t sub_id, uint64_t *seq)
{
    hd_lmdb_t *lm = hd_container_of(log, hd_lmdb_t, evlog);
    MDB_txn *txn = hd_lmdb__read_begin(lm);
    if (!txn)
        return false;
    uint8_t kb[4];
    hd_lmdb__put_u32(kb, sub_id);
    MDB_val k = {4, kb}, v;
    bool found = mdb_get(txn, lm->db_cursors, &k, &v) == 0 && v.mv_size == 8;
    if (found && seq)
        *seq = hd_lmdb__get_u64(v.mv_data);
    hd_lmdb__read_end(lm, txn);
    return found;
}

/* Iterates keys sub(u32)+seq(u64) of db for one subscriber, calling each(). */
typedef bool (*rec_fn)(void *ctx, uint32_t id, uint64_t seq, const MDB_val *v);

static hd_err_t scan_sub(hd_lmdb_t *lm, MDB_dbi db, uint32_t id, rec_fn each, void *ctx)
{
    MDB_txn *txn = hd_lmdb__read_begin(lm);
    if (!txn)
        return HD_E_STORE;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db, &c);
    if (rc) {
        hd_lmdb__read_end(lm, txn);
        return HD_E_STORE;
    }
    uint8_t kb[12];
    hd_lmdb__put_u32(kb, id);
    hd_lmdb__put_u64(kb + 4, 0);
    MDB_val k = {12, kb}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size != 12 || hd_lmdb__get_u32(k.mv_data) != id)
            break;
        if (!each(ctx, id, hd_lmdb__get_u64((uint8_t *)k.mv_data + 4), &v))
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    hd_lmdb__read_end(lm, txn);
    return rc == 0 || rc == MDB_NOTFOUND ? HD_E_OK : HD_E_STORE;
}

typedef struct {
    hd_evlog_pending_fn pfn;
    hd_evlog_dead_fn dfn;
    void *arg;
} scan_ctx_t;

static bool each_pending(void *ctx, uint32_t id, uint64_t seq, const MDB_val *v)
{
    scan_ctx_t *sc = ctx;
    if (v->mv_size < 16)
        return true; /* not ours: skip */
    const uint8_t *p = v->mv_data;
    size_t blen = v->mv_size - 16;
    if (blen > HD_LMDB_PENDING_BODY_MAX)
        blen = HD_LMDB_PENDING_BODY_MAX; /* never trust a stored length */
    hd_evlog_pending_t rec = {hd_lmdb__get_u32(p), hd_lmdb__get_u64(p + 4),
                              (int32_t)hd_lmdb__get_u32(p + 12), blen ? (const char *)p + 16 : NULL,
                              blen};
    return sc->pfn(sc->arg, id, seq, &rec);
}

static bool each_dead(void *ctx, uint32_t id, uint64_t seq, const MDB_val *v)
{
    scan_ctx_t *sc = ctx;
    if (v->mv_size < 12)
        return true;
    const uint8_t *p = v->mv_data;
    return sc->dfn(sc->arg, id, seq, (int32_t)hd_lmdb__get_u32(p), hd_lmdb__get_u64(p + 4),
                   (const char *)p + 12, v->mv_size - 12);
}

hd_err_t hd_lmdb__pending_scan(hd_evlog_t *log, uint32_t sub_id, hd_evlog_pending_fn fn, void *arg)
{
    if (!log || !fn)
        return HD_E_INVAL;
    hd_lmdb_t *lm = hd_container_of(log, hd_lmdb_t, evlog);
    scan_ctx_t sc = {fn, NULL, arg};
    return scan_sub(lm, lm->db_pending, sub_id, each_pending, &sc);
}

hd_err_t hd_lmdb__dead_scan(hd_evlog_t *log, uint32_t sub_id, hd_evlog_dead_fn fn, void *arg)
{
    if (!log || !fn)
        return HD_E_INVAL;
    hd_lmdb_t *lm = hd_container_of(log, hd_lmdb_t, evlog);
    scan_ctx_t sc = {NULL, fn, arg};
    return scan_sub(lm, lm->db_dead, sub_id, each_dead, &sc);
}
