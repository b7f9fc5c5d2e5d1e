/*
 * store.c — heraldd's durable store on LMDB (hd_store.h).
 *
 * Threads
 *   loop thread   fills batches, assigns sequence numbers, submits, runs callbacks, reads.
 *   writer thread the only LMDB writer: takes every queued batch, writes them in one write
 *                 transaction, commits, hands the results back through `done` + uv_async_send.
 *
 * Map growth: mdb_env_set_mapsize() must not run while any transaction of this process is
 * active. The writer only resizes between its own transactions, and the loop's reads hold
 * `map_lock` for reading for the length of one read call (the read txn is renewed at the start
 * and reset at the end of the call, so no read txn is active outside a call). The writer takes
 * `map_lock` for writing only to resize. Zero-copy views handed to scan callbacks are therefore
 * valid for exactly the callback.
 *
 * Durability
 *   fsync  MDB_NOMETASYNC, and acknowledgements one commit behind. An LMDB commit pwrites
 *          the data pages, fdatasyncs them, then pwrites the meta page; LMDB's default would
 *          write that meta page through an O_DSYNC descriptor, a second sync per commit
 *          (~400 us vs ~225 us on the reference VM). With MDB_NOMETASYNC the meta page of
 *          commit N reaches the disk with the fdatasync of commit N+1 (same file descriptor),
 *          so the batches of commit N are *staged* and their callbacks run once commit N+1
 *          returned, or, when the writer is about to idle, after an explicit mdb_env_sync.
 *          Every fsync-mode transaction writes a meta counter so that LMDB never skips the
 *          sync of an empty commit. Under load that is one sync per group instead of two; when
 *          idle it is two, as before. A power loss may undo the last (unacknowledged) commit,
 *          never an acknowledged one, and LMDB stays consistent (its ACI guarantee).
 *          MDB_NOSYNC + one explicit mdb_env_sync was rejected: it lets the meta page reach the
 *          disk before the data pages, which can corrupt the environment on power loss.
 *          Pre-zeroing (prezero()): the writer keeps 2 MiB of real zero blocks past LMDB's last
 *          page, written 256 KiB at a time between transactions, so a commit's pages overwrite
 *          allocated blocks and its fdatasync needs no journal commit for a new size/extents
 *          (bench under load: mean fdatasync 0.51-0.71 ms -> 0.45 ms).
 *          Measured and not kept (bench/RESULTS-ingest.md, 2026-11-27): a sync thread that
 *          fdatasyncs commit N's meta page while the writer builds N+1 (acks one sync after
 *          the commit instead of one commit): the two concurrent fdatasyncs slow each other
 *          down (writer's 0.53 -> 0.73 ms) and the bench got no faster (0.37-0.40x vs 0.42x).
 *          LMDB's default (meta through O_DSYNC, ack right after the commit) was no better.
 *   batch  MDB_NOSYNC; callbacks right after commit; the writer calls mdb_env_sync(env, 1)
 *          every sync_interval_ms while there are unsynced commits. A power loss can lose (and,
 *          LMDB warns, corrupt) the last interval; a process crash loses nothing.
 *   none   MDB_NOSYNC, never synced by us (the page cache still survives a process crash).
 */
#include "hd_store.h"
#include "hd_metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define STORE_SCHEMA_VERSION 1u
#define META_SCHEMA "store.schema"
#define META_TXN "store.txn" /* commit counter, written by every fsync-mode transaction */
#define META_BROKER_PREFIX "store.broker." /* + decimal id -> broker_rec_t (BE) */

/* Bounds of one write transaction: at most this many batches ... */
#define GROUP_MAX_BATCHES 4096
/* ... and about this many bytes of values (LMDB's dirty-page list is bounded). */
#define GROUP_MAX_BYTES (64u << 20)
/* Deletions by retention / forget_trigger per transaction; the rest continues in the next. */
#define DELETE_CHUNK 4096

/* ---- big-endian helpers ------------------------------------------------------------------ */

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

/* ---- a small u32 -> u64 open-addressing map ---------------------------------------------- */

typedef struct {
    uint32_t *keys;
    uint64_t *vals;
    uint8_t *used;
    size_t cap, n;
} u64map_t;

static void u64map_free(u64map_t *m)
{
    hd_free(m->keys);
    hd_free(m->vals);
    hd_free(m->used);
    memset(m, 0, sizeof(*m));
}

static size_t u64map_slot(const u64map_t *m, uint32_t k)
{
    size_t i = (size_t)(k * 2654435761u) & (m->cap - 1);
    while (m->used[i] && m->keys[i] != k)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static uint64_t *u64map_get(const u64map_t *m, uint32_t k)
{
    if (!m->cap)
        return NULL;
    size_t i = u64map_slot(m, k);
    return m->used[i] ? &m->vals[i] : NULL;
}

/* Returns the value slot of k, inserted with `init` when absent; NULL when out of memory. */
static uint64_t *u64map_put(u64map_t *m, uint32_t k, uint64_t init)
{
    if ((m->n + 1) * 2 > m->cap) {
        u64map_t g = {0};
        g.cap = m->cap ? m->cap * 2 : 16;
        g.keys = hd_calloc(g.cap, sizeof(*g.keys));
        g.vals = hd_calloc(g.cap, sizeof(*g.vals));
        g.used = hd_calloc(g.cap, 1);
        if (!g.keys || !g.vals || !g.used) {
            u64map_free(&g);
            return NULL;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (m->used[i]) {
                size_t j = u64map_slot(&g, m->keys[i]);
                g.used[j] = 1;
                g.keys[j] = m->keys[i];
                g.vals[j] = m->vals[i];
                g.n++;
            }
        }
        u64map_free(m);
        *m = g;
    }
    size_t i = u64map_slot(m, k);
    if (!m->used[i]) {
        m->used[i] = 1;
        m->keys[i] = k;
        m->vals[i] = init;
        m->n++;
    }
    return &m->vals[i];
}

static void u64map_clear(u64map_t *m)
{
    if (m->cap)
        memset(m->used, 0, m->cap);
    m->n = 0;
}

/* ---- batches ----------------------------------------------------------------------------- */

typedef enum {
    OP_EVENT,
    OP_CURSOR,
    OP_PENDING_PUT,
    OP_PENDING_DEL,
    OP_DEAD_PUT,
    OP_DEAD_DEL,
    OP_RES_PUT,
    OP_RES_DEL,
    OP_META_PUT,
    OP_TRIM,
    OP_FORGET,
} op_kind_t;

typedef struct {
    op_kind_t kind;
    uint32_t id;
    uint64_t seq; /* seq, or upto_seq for OP_TRIM */
    uint64_t arg; /* older_than_wall_ms for OP_TRIM; forget stage for OP_FORGET */
    char *skey;   /* owned: resource / meta name */
    uint8_t *val; /* owned */
    size_t vlen;
} op_t;

typedef struct {
    uint32_t id;
    uint64_t max_seq;
} touched_t;

struct hd_store_batch {
    hd_store_t *st;
    op_t *ops;
    size_t nops, cap;
    size_t op_next;     /* writer: first op not yet committed (chunked deletes) */
    touched_t *brokers; /* brokers this batch appends to, with the highest seq */
    size_t nbrokers, bcap;
    size_t bytes;
    hd_store_done_fn cb;
    void *arg;
    hd_err_t status;
    bool refused;         /* writer: refused before writing (reserve); skipped, fails FULL */
    uint64_t need_commit; /* fsync mode: the commit that must be durable before the callback */
    hd_store_batch_t *next;
};

typedef struct {
    hd_store_commit_fn fn;
    void *arg;
} listener_t;

struct hd_store {
    uv_loop_t *loop;
    hd_store_opts_t opts;
    char *data_dir;
    int lock_fd; /* flock'd heraldd.lock: one heraldd per data_dir */
    MDB_env *env;
    MDB_dbi db_events, db_cursors, db_pending, db_dead, db_resources, db_meta;

    /* loop thread: reads */
    MDB_txn *rtxn; /* reset between calls */
    int read_depth;
    pthread_rwlock_t map_lock;

    /* loop thread: sequence counters (broker id -> next seq) */
    u64map_t next_seq;

    /* shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hd_store_batch_t *q_head, *q_tail;
    size_t q_len;
    hd_store_batch_t *done_head, *done_tail;
    u64map_t hw_shared; /* highest seq assigned per broker, not yet handed to the writer */
    bool stopping;

    /* writer thread */
    pthread_t writer;
    bool writer_started;
    hd_store_batch_t *carry; /* batches with chunked deletes still to do */
    u64map_t hw_pending;     /* assigned high-waters to persist with the next commit */
    uint64_t last_sync_ms;
    bool unsynced;
    /* fsync mode (MDB_NOMETASYNC): finished batches wait in `staged`, in submit order, until
     * the commit that wrote them is durable. commit_no counts commits; durable_no is the last
     * one known to be on disk. */
    hd_store_batch_t *staged_head, *staged_tail;
    uint64_t commit_no, durable_no;
    uint64_t zero_end; /* fsync mode: data.mdb is zero-filled up to here */
    bool zero_off;     /* no pre-zeroing (a zero write failed, or a file-size limit is set) */

    uv_async_t async;
    bool closing;
    size_t inflight; /* loop thread: submitted batches whose callback has not run */
    bool paused;     /* tests: the writer takes nothing from the queue (under mu) */

    listener_t *listeners;
    size_t nlisteners, lcap;

    /* statistics (relaxed atomics) */
    _Atomic uint64_t st_commits, st_batches, st_fsyncs, st_busy, st_full, st_other;

    /* /metrics (loop thread) */
    hd_metrics_t *metrics;
    hd_metric_t *m_map_used, *m_map_size, *m_map_max, *m_queue, *m_commits, *m_batches, *m_fsyncs,
        *m_busy, *m_full, *m_other;
};

/* Per-broker record in meta, written by the writer in the same transaction as the events:
 * hw = highest seq ever assigned, last = highest seq committed, count = events stored. */
typedef struct {
    uint64_t hw, last, count;
} broker_rec_t;

static hd_err_t err_from_mdb(int rc)
{
    switch (rc) {
    case 0:
        return HD_E_OK;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return HD_E_FULL; /* disk, quota or file-size limit: nothing was written */
    case ENOMEM:
        return HD_E_NOMEM;
    case EIO:
        return HD_E_IO;
    case MDB_NOTFOUND:
        return HD_E_NOTFOUND;
    default:
        return HD_E_STORE;
    }
}

static void broker_meta_key(char *buf, size_t cap, uint32_t id)
{
    snprintf(buf, cap, META_BROKER_PREFIX "%u", id);
}

static bool broker_rec_read(MDB_txn *txn, MDB_dbi meta, uint32_t id, broker_rec_t *rec)
{
    char name[40];
    broker_meta_key(name, sizeof(name), id);
    MDB_val k = {strlen(name), name}, v;
    memset(rec, 0, sizeof(*rec));
    if (mdb_get(txn, meta, &k, &v) != 0 || v.mv_size < 24)
        return false;
    rec->hw = get_u64(v.mv_data);
    rec->last = get_u64((uint8_t *)v.mv_data + 8);
    rec->count = get_u64((uint8_t *)v.mv_data + 16);
    return true;
}

static int broker_rec_write(MDB_txn *txn, MDB_dbi meta, uint32_t id, const broker_rec_t *rec)
{
    char name[40];
    uint8_t buf[24];
    broker_meta_key(name, sizeof(name), id);
    put_u64(buf, rec->hw);
    put_u64(buf + 8, rec->last);
    put_u64(buf + 16, rec->count);
    MDB_val k = {strlen(name), name}, v = {sizeof(buf), buf};
    return mdb_put(txn, meta, &k, &v, 0);
}

hd_store_batch_t *hd_store_batch_new(hd_store_t *st)
{
    hd_store_batch_t *b = hd_calloc(1, sizeof(*b));
    if (b)
        b->st = st;
    return b;
}

void hd_store_batch_free(hd_store_batch_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nops; i++) {
        hd_free(b->ops[i].skey);
        hd_free(b->ops[i].val);
    }
    hd_free(b->ops);
    hd_free(b->brokers);
    hd_free(b);
}

/* Reserves a new op; NULL when out of memory. */
static op_t *batch_op(hd_store_batch_t *b, op_kind_t kind)
{
    if (b->nops == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 8;
        op_t *n = hd_realloc(b->ops, nc * sizeof(*n));
        if (!n)
            return NULL;
        b->ops = n;
        b->cap = nc;
    }
    op_t *op = &b->ops[b->nops];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    return op;
}

/* Highest seq ever handed out for a broker as far as the DB knows (loop thread). */
static uint64_t read_seq_floor(hd_store_t *st, uint32_t broker_id);

hd_err_t hd_store_batch_event(hd_store_batch_t *b, uint32_t broker_id, const ce_event_t *ev,
                              uint64_t *seq)
{
    if (!b || !ev)
        return HD_E_INVAL;
    hd_store_t *st = b->st;
    /* Make room first so that a seq, once assigned, always ends up in the batch. */
    if (b->nbrokers == b->bcap) {
        size_t nc = b->bcap ? b->bcap * 2 : 4;
        touched_t *n = hd_realloc(b->brokers, nc * sizeof(*n));
        if (!n)
            return HD_E_NOMEM;
        b->brokers = n;
        b->bcap = nc;
    }
    op_t *op = batch_op(b, OP_EVENT);
    if (!op)
        return HD_E_NOMEM;
    uint8_t *packed = NULL;
    size_t plen = 0;
    ce_err_t ce = ce_event_pack(ev, &packed, &plen);
    if (ce != CE_E_OK)
        return ce == CE_E_NOMEM ? HD_E_NOMEM : HD_E_INVAL;
    uint8_t *val = hd_malloc(8 + plen);
    if (!val) {
        free(packed);
        return HD_E_NOMEM;
    }
    put_u64(val, hd_wall_ms());
    memcpy(val + 8, packed, plen);
    free(packed);

    uint64_t *next = u64map_get(&st->next_seq, broker_id);
    if (!next) {
        next = u64map_put(&st->next_seq, broker_id, read_seq_floor(st, broker_id) + 1);
        if (!next) {
            hd_free(val);
            return HD_E_NOMEM;
        }
    }
    uint64_t s = (*next)++;

    op->id = broker_id;
    op->seq = s;
    op->val = val;
    op->vlen = 8 + plen;
    b->nops++;
    b->bytes += op->vlen + 12;

    size_t i;
    for (i = 0; i < b->nbrokers; i++)
        if (b->brokers[i].id == broker_id)
            break;
    if (i == b->nbrokers) {
        b->brokers[i].id = broker_id;
        b->brokers[i].max_seq = 0;
        b->nbrokers++;
    }
    if (s > b->brokers[i].max_seq)
        b->brokers[i].max_seq = s;
    if (seq)
        *seq = s;
    return HD_E_OK;
}

hd_err_t hd_store_batch_cursor(hd_store_batch_t *b, uint32_t trigger_id, uint64_t seq)
{
    op_t *op = b ? batch_op(b, OP_CURSOR) : NULL;
    if (!op)
        return b ? HD_E_NOMEM : HD_E_INVAL;
    op->id = trigger_id;
    op->seq = seq;
    b->nops++;
    b->bytes += 12;
    return HD_E_OK;
}

hd_err_t hd_store_batch_pending_put(hd_store_batch_t *b, uint32_t trigger_id, uint64_t seq,
                                    const hd_store_pending_t *p)
{
    if (!b || !p)
        return HD_E_INVAL;
    op_t *op = batch_op(b, OP_PENDING_PUT);
    uint8_t *v = op ? hd_malloc(16) : NULL;
    if (!v)
        return HD_E_NOMEM;
    put_u32(v, p->attempts);
    put_u64(v + 4, p->due_ms);
    put_u32(v + 12, (uint32_t)p->last_status);
    op->id = trigger_id;
    op->seq = seq;
    op->val = v;
    op->vlen = 16;
    b->nops++;
    b->bytes += 28;
    return HD_E_OK;
}

/* A delete keyed by trigger id + seq (pending or dead record). */
static hd_err_t batch_del_id_seq(hd_store_batch_t *b, op_kind_t kind, uint32_t trigger_id,
                                 uint64_t seq)
{
    op_t *op = b ? batch_op(b, kind) : NULL;
    if (!op)
        return b ? HD_E_NOMEM : HD_E_INVAL;
    op->id = trigger_id;
    op->seq = seq;
    b->nops++;
    return HD_E_OK;
}

hd_err_t hd_store_batch_pending_del(hd_store_batch_t *b, uint32_t trigger_id, uint64_t seq)
{
    return batch_del_id_seq(b, OP_PENDING_DEL, trigger_id, seq);
}

hd_err_t hd_store_batch_dead_put(hd_store_batch_t *b, uint32_t trigger_id, uint64_t seq,
                                 int32_t status, const char *error, size_t error_len)
{
    if (!b || (!error && error_len))
        return HD_E_INVAL;
    op_t *op = batch_op(b, OP_DEAD_PUT);
    uint8_t *v = op ? hd_malloc(12 + error_len) : NULL;
    if (!v)
        return HD_E_NOMEM;
    put_u32(v, (uint32_t)status);
    put_u64(v + 4, hd_wall_ms());
    if (error_len)
        memcpy(v + 12, error, error_len);
    op->id = trigger_id;
    op->seq = seq;
    op->val = v;
    op->vlen = 12 + error_len;
    b->nops++;
    b->bytes += op->vlen + 12;
    return HD_E_OK;
}

hd_err_t hd_store_batch_dead_del(hd_store_batch_t *b, uint32_t trigger_id, uint64_t seq)
{
    return batch_del_id_seq(b, OP_DEAD_DEL, trigger_id, seq);
}

/* A keyed op with a string key and an optional copied value. */
static hd_err_t batch_keyed(hd_store_batch_t *b, op_kind_t kind, const char *key, const void *val,
                            size_t len)
{
    if (!b || !key || !*key || strlen(key) > 500 || (!val && len))
        return HD_E_INVAL; /* LMDB's default max key size is 511 bytes */
    op_t *op = batch_op(b, kind);
    if (!op)
        return HD_E_NOMEM;
    op->skey = hd_strdup(key);
    if (!op->skey)
        return HD_E_NOMEM;
    if (kind != OP_RES_DEL) {
        op->val = hd_malloc(len);
        if (!op->val) {
            hd_free(op->skey);
            return HD_E_NOMEM;
        }
        if (len)
            memcpy(op->val, val, len);
        op->vlen = len;
    }
    b->nops++;
    b->bytes += strlen(key) + op->vlen;
    return HD_E_OK;
}

hd_err_t hd_store_batch_resource_put(hd_store_batch_t *b, const char *key, const char *json,
                                     size_t len)
{
    return batch_keyed(b, OP_RES_PUT, key, json, len);
}

hd_err_t hd_store_batch_resource_del(hd_store_batch_t *b, const char *key)
{
    return batch_keyed(b, OP_RES_DEL, key, NULL, 0);
}

hd_err_t hd_store_batch_meta_put(hd_store_batch_t *b, const char *name, const void *val, size_t len)
{
    if (name && strncmp(name, "store.", 6) == 0)
        return HD_E_INVAL; /* reserved for the store's own records */
    return batch_keyed(b, OP_META_PUT, name, val, len);
}

hd_err_t hd_store_batch_trim(hd_store_batch_t *b, uint32_t broker_id, uint64_t upto_seq,
                             uint64_t older_than_wall_ms)
{
    op_t *op = b ? batch_op(b, OP_TRIM) : NULL;
    if (!op)
        return b ? HD_E_NOMEM : HD_E_INVAL;
    op->id = broker_id;
    op->seq = upto_seq;
    op->arg = older_than_wall_ms;
    b->nops++;
    return HD_E_OK;
}

hd_err_t hd_store_batch_forget_trigger(hd_store_batch_t *b, uint32_t trigger_id)
{
    op_t *op = b ? batch_op(b, OP_FORGET) : NULL;
    if (!op)
        return b ? HD_E_NOMEM : HD_E_INVAL;
    op->id = trigger_id;
    b->nops++;
    return HD_E_OK;
}

/* ---- the writer -------------------------------------------------------------------------- */

/* Per-transaction accounting of the brokers touched, merged into their meta records. */
typedef struct {
    uint32_t id;
    uint64_t max_seq, added, deleted, hw;
} acct_t;

typedef struct {
    acct_t *a;
    size_t n, cap;
} acct_list_t;

static acct_t *acct_for(acct_list_t *l, uint32_t id)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->a[i].id == id)
            return &l->a[i];
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        acct_t *n = hd_realloc(l->a, nc * sizeof(*n));
        if (!n)
            return NULL;
        l->a = n;
        l->cap = nc;
    }
    acct_t *a = &l->a[l->n++];
    memset(a, 0, sizeof(*a));
    a->id = id;
    return a;
}

#define OP_MORE 1 /* positive: the op has work left for the next transaction */

/* Deletes every key of `db` starting with the 4-byte prefix `id`, while `match` says so, up to
 * *budget deletions. Returns 0 when done, OP_MORE when the budget ran out, or an LMDB error. */
static int delete_prefix(MDB_txn *txn, MDB_dbi db, uint32_t id, uint64_t upto, uint64_t older_than,
                         bool events, size_t *budget, uint64_t *deleted)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db, &c);
    if (rc)
        return rc;
    uint8_t kb[12];
    put_u32(kb, id);
    put_u64(kb + 4, 0);
    for (;;) {
        MDB_val k = {sizeof(kb), kb}, v;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        if (k.mv_size != 12 || get_u32(k.mv_data) != id)
            break;
        if (events) {
            uint64_t seq = get_u64((uint8_t *)k.mv_data + 4);
            uint64_t ingest = v.mv_size >= 8 ? get_u64(v.mv_data) : 0;
            if (!(seq <= upto || (older_than && ingest < older_than)))
                break;
        }
        if (*budget == 0) {
            rc = OP_MORE;
            break;
        }
        rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
        (*budget)--;
        (*deleted)++;
    }
    mdb_cursor_close(c);
    return rc;
}

/* Applies one op. Returns 0, OP_MORE or an LMDB error. */
static int apply_op(hd_store_t *st, MDB_txn *txn, op_t *op, acct_list_t *acct, size_t *budget)
{
    uint8_t kb[12];
    MDB_val k = {12, kb}, v = {op->vlen, op->val};
    int rc;
    put_u32(kb, op->id);
    put_u64(kb + 4, op->seq);
    switch (op->kind) {
    case OP_EVENT: {
        acct_t *a = acct_for(acct, op->id);
        if (!a)
            return ENOMEM;
        rc = mdb_put(txn, st->db_events, &k, &v, MDB_NOOVERWRITE);
        if (rc == MDB_KEYEXIST) /* cannot happen with unique seqs; keep the newer bytes */
            return mdb_put(txn, st->db_events, &k, &v, 0);
        if (rc)
            return rc;
        a->added++;
        if (op->seq > a->max_seq)
            a->max_seq = op->seq;
        return 0;
    }
    case OP_CURSOR: {
        uint8_t vb[8];
        put_u64(vb, op->seq);
        MDB_val ck = {4, kb}, cv = {8, vb};
        return mdb_put(txn, st->db_cursors, &ck, &cv, 0);
    }
    case OP_PENDING_PUT:
        return mdb_put(txn, st->db_pending, &k, &v, 0);
    case OP_DEAD_PUT:
        return mdb_put(txn, st->db_dead, &k, &v, 0);
    case OP_PENDING_DEL:
    case OP_DEAD_DEL:
        rc = mdb_del(txn, op->kind == OP_PENDING_DEL ? st->db_pending : st->db_dead, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    case OP_RES_PUT:
    case OP_META_PUT: {
        MDB_val sk = {strlen(op->skey), op->skey};
        return mdb_put(txn, op->kind == OP_RES_PUT ? st->db_resources : st->db_meta, &sk, &v, 0);
    }
    case OP_RES_DEL: {
        MDB_val sk = {strlen(op->skey), op->skey};
        rc = mdb_del(txn, st->db_resources, &sk, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    case OP_TRIM: {
        acct_t *a = acct_for(acct, op->id);
        if (!a)
            return ENOMEM;
        return delete_prefix(txn, st->db_events, op->id, op->seq, op->arg, true, budget,
                             &a->deleted);
    }
    case OP_FORGET: {
        uint64_t ignored = 0;
        /* arg is the stage: 0 cursor, 1 pending, 2 dead (kept across transactions). */
        if (op->arg == 0) {
            MDB_val ck = {4, kb};
            rc = mdb_del(txn, st->db_cursors, &ck, NULL);
            if (rc && rc != MDB_NOTFOUND)
                return rc;
            op->arg = 1;
        }
        if (op->arg == 1) {
            rc = delete_prefix(txn, st->db_pending, op->id, 0, 0, false, budget, &ignored);
            if (rc)
                return rc;
            op->arg = 2;
        }
        return delete_prefix(txn, st->db_dead, op->id, 0, 0, false, budget, &ignored);
    }
    }
    return EINVAL;
}

/*
 * Writes `n` batches in one transaction and commits. Batches whose chunked deletes did not
 * finish get *carried set (their op_next marks the resume point). Returns an LMDB error (the
 * transaction is then aborted and every batch's progress rolled back) or 0.
 */
static int write_txn(hd_store_t *st, hd_store_batch_t **arr, size_t n, bool *carried)
{
    MDB_txn *txn = NULL;
    acct_list_t acct = {0};
    size_t budget = DELETE_CHUNK;
    size_t *saved_next = hd_malloc(n * sizeof(size_t));
    uint64_t *saved_forget = NULL;
    int rc;
    if (!saved_next)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        saved_next[i] = arr[i]->op_next;
        carried[i] = false;
    }
    /* Forget ops keep a stage across transactions; remember them to roll back too. */
    size_t nforget = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = arr[i]->op_next; j < arr[i]->nops; j++)
            nforget += arr[i]->ops[j].kind == OP_FORGET;
    if (nforget) {
        saved_forget = hd_malloc(nforget * sizeof(uint64_t));
        if (!saved_forget) {
            rc = ENOMEM;
            goto fail_alloc;
        }
        size_t f = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = arr[i]->op_next; j < arr[i]->nops; j++)
                if (arr[i]->ops[j].kind == OP_FORGET)
                    saved_forget[f++] = arr[i]->ops[j].arg;
    }

    rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc)
        goto fail_begin;
    for (size_t i = 0; i < n; i++) {
        hd_store_batch_t *b = arr[i];
        while (!b->refused && b->op_next < b->nops) {
            rc = apply_op(st, txn, &b->ops[b->op_next], &acct, &budget);
            if (rc == OP_MORE) {
                carried[i] = true;
                rc = 0;
                break;
            }
            if (rc)
                goto fail_txn;
            b->op_next++;
        }
    }
    /* High-waters of assigned seqs (including refused batches) go with this commit. */
    for (size_t i = 0; i < st->hw_pending.cap; i++) {
        if (!st->hw_pending.used[i])
            continue;
        acct_t *a = acct_for(&acct, st->hw_pending.keys[i]);
        if (!a) {
            rc = ENOMEM;
            goto fail_txn;
        }
        a->hw = st->hw_pending.vals[i];
    }
    for (size_t i = 0; i < acct.n; i++) {
        acct_t *a = &acct.a[i];
        broker_rec_t rec;
        broker_rec_read(txn, st->db_meta, a->id, &rec);
        if (a->max_seq > rec.last)
            rec.last = a->max_seq;
        if (a->hw > rec.hw)
            rec.hw = a->hw;
        if (rec.last > rec.hw)
            rec.hw = rec.last;
        rec.count += a->added;
        rec.count = rec.count > a->deleted ? rec.count - a->deleted : 0;
        rc = broker_rec_write(txn, st->db_meta, a->id, &rec);
        if (rc)
            goto fail_txn;
    }
    if (st->opts.durability == HD_DURABILITY_FSYNC) {
        /* LMDB skips the sync of a transaction that changed nothing; this write makes every
         * commit sync, which the staged acknowledgements rely on (see after_commit). */
        uint8_t nb[8];
        put_u64(nb, st->commit_no + 1);
        MDB_val tk = {strlen(META_TXN), META_TXN}, tv = {8, nb};
        rc = mdb_put(txn, st->db_meta, &tk, &tv, 0);
        if (rc)
            goto fail_txn;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc)
        goto fail_txn;
    u64map_clear(&st->hw_pending);
    hd_free(acct.a);
    hd_free(saved_forget);
    hd_free(saved_next);
    return 0;

fail_txn:
    if (txn)
        mdb_txn_abort(txn);
fail_begin:
    hd_free(acct.a);
    for (size_t i = 0, f = 0; i < n; i++) {
        arr[i]->op_next = saved_next[i];
        carried[i] = false;
        for (size_t j = arr[i]->op_next; j < arr[i]->nops; j++)
            if (arr[i]->ops[j].kind == OP_FORGET)
                arr[i]->ops[j].arg = saved_forget[f++];
    }
fail_alloc:
    hd_free(saved_forget);
    hd_free(saved_next);
    return rc;
}

/* Doubles the map (up to map_size_max). Returns true when it grew. Writer thread, no txn. */
static bool grow_map(hd_store_t *st)
{
    MDB_envinfo info;
    if (mdb_env_info(st->env, &info) != 0)
        return false;
    uint64_t cur = info.me_mapsize;
    if (cur >= st->opts.map_size_max)
        return false;
    uint64_t want = cur * 2;
    if (want > st->opts.map_size_max || want < cur)
        want = st->opts.map_size_max;
    pthread_rwlock_wrlock(&st->map_lock);
    int rc = mdb_env_set_mapsize(st->env, (size_t)want);
    pthread_rwlock_unlock(&st->map_lock);
    if (rc) {
        hd_log(HD_LOG_ERROR, "store: cannot grow the map", "path", st->data_dir, "error",
               mdb_strerror(rc), NULL);
        return false;
    }
    char a[32], b[32];
    snprintf(a, sizeof(a), "%llu", (unsigned long long)cur);
    snprintf(b, sizeof(b), "%llu", (unsigned long long)want);
    hd_log(HD_LOG_INFO, "store: map grown", "from_bytes", a, "to_bytes", b, NULL);
    return true;
}

/* Appends the chain first..last (last->next == NULL) to the `done` list the loop drains, in
 * order (writer thread; takes mu). */
static void done_append(hd_store_t *st, hd_store_batch_t *first, hd_store_batch_t *last)
{
    pthread_mutex_lock(&st->mu);
    if (st->done_tail)
        st->done_tail->next = first;
    else
        st->done_head = first;
    st->done_tail = last;
    pthread_mutex_unlock(&st->mu);
}

/* Moves a finished batch towards its callback (writer thread, mu not held): under durability
 * fsync to `staged` (released by release_staged once durable), otherwise straight to `done`. */
static void finish(hd_store_t *st, hd_store_batch_t *b, hd_err_t status)
{
    b->status = status;
    b->next = NULL;
    if (st->opts.durability == HD_DURABILITY_FSYNC) {
        /* A failed batch needs no sync, but keeps its place so callbacks stay in order. */
        b->need_commit = status == HD_E_OK ? st->commit_no : 0;
        if (st->staged_tail)
            st->staged_tail->next = b;
        else
            st->staged_head = b;
        st->staged_tail = b;
        return;
    }
    done_append(st, b, b);
}

static void after_commit(hd_store_t *st)
{
    atomic_fetch_add_explicit(&st->st_commits, 1, memory_order_relaxed);
    st->commit_no++;
    if (st->opts.durability == HD_DURABILITY_FSYNC) {
        /* The commit fdatasync'd its data pages, and with them the meta page the previous
         * commit wrote without a sync (MDB_NOMETASYNC): that one is now durable. */
        atomic_fetch_add_explicit(&st->st_fsyncs, 1, memory_order_relaxed);
        st->durable_no = st->commit_no - 1;
    } else if (st->opts.durability == HD_DURABILITY_BATCH) {
        st->unsynced = true;
    }
}

/* Hands the staged batches whose commit is durable to the loop, in order (writer thread). */
static void release_staged(hd_store_t *st)
{
    hd_store_batch_t *first = st->staged_head, *last = NULL;
    for (hd_store_batch_t *b = first; b && b->need_commit <= st->durable_no; b = b->next)
        last = b;
    if (!last)
        return;
    st->staged_head = last->next;
    if (!st->staged_head)
        st->staged_tail = NULL;
    last->next = NULL;
    done_append(st, first, last);
}

/* fsync mode: makes every commit durable now (the writer is about to idle). A failed sync
 * fails the batches that were waiting for it: their data may not be on disk. */
static void sync_staged(hd_store_t *st)
{
    if (!st->staged_head)
        return;
    if (st->durable_no < st->commit_no) {
        int rc = mdb_env_sync(st->env, 1);
        atomic_fetch_add_explicit(&st->st_fsyncs, 1, memory_order_relaxed);
        if (rc) {
            hd_log(HD_LOG_ERROR, "store: sync failed", "path", st->data_dir, "error",
                   mdb_strerror(rc), NULL);
            for (hd_store_batch_t *b = st->staged_head; b; b = b->next)
                if (b->need_commit > st->durable_no && b->status == HD_E_OK)
                    b->status = HD_E_IO;
        }
        st->durable_no = st->commit_no;
    }
    release_staged(st);
}

/*
 * fsync mode: keeps real zero blocks ahead of LMDB's last page in data.mdb, so that a commit's
 * pages overwrite allocated blocks instead of extending the file. An append makes fdatasync
 * commit the filesystem journal too (new size and extents); an overwrite only writes the data
 * and flushes the disk cache. Writer thread, between transactions: every byte past LMDB's last
 * page belongs to no committed or running transaction, so the zeros overwrite nothing live
 * (LMDB never reads past its last page, and sizes its map from the meta page, not the file).
 * The zeros need no sync of their own: the next commit's fdatasync carries them, like any data
 * it needs to read its pages back. Writes PREZERO_CHUNK at a time, bounded by the map size.
 */
#define PREZERO_AHEAD (2u << 20)
#define PREZERO_CHUNK (256u << 10)
static void prezero(hd_store_t *st)
{
    static const uint8_t zeros[64 << 10];
    MDB_envinfo info;
    MDB_stat stat;
    int fd;
    if (st->zero_off || mdb_env_info(st->env, &info) != 0 || mdb_env_stat(st->env, &stat) != 0 ||
        mdb_env_get_fd(st->env, &fd) != 0)
        return;
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize;
    if (st->zero_end >= used + PREZERO_AHEAD)
        return;
    uint64_t off = st->zero_end > used ? st->zero_end : used;
    uint64_t end = off + PREZERO_CHUNK;
    if (end > info.me_mapsize)
        end = info.me_mapsize;
    while (off < end) {
        size_t n = end - off < sizeof(zeros) ? (size_t)(end - off) : sizeof(zeros);
        ssize_t w = pwrite(fd, zeros, n, (off_t)off);
        if (w <= 0) {
            st->zero_off = true; /* disk full or similar: LMDB reports its own errors */
            break;
        }
        off += (uint64_t)w;
    }
    st->zero_end = off;
}

/*
 * LMDB reports a short pwrite as EIO, which is what a full disk (or a file-size limit) gives
 * when the write starts with some room left. Tell that apart from a real I/O error by looking
 * at the room: free space, and RLIMIT_FSIZE against the file's size, each with the batch.
 */
static bool out_of_space(hd_store_t *st, size_t batch_bytes)
{
    uint64_t need = (uint64_t)batch_bytes * 2 + (1u << 20);
    struct statvfs vfs;
    if (statvfs(st->data_dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < need)
        return true;
    struct rlimit rl;
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/data.mdb", st->data_dir);
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && stat(path, &sb) == 0 &&
        (uint64_t)sb.st_size + need > (uint64_t)rl.rlim_cur)
        return true;
    return false;
}

/* Bytes kept free at the cap for what frees room (retention, cursor moves, deletes): they need
 * pages too (copy-on-write), so a store full of events could otherwise never be trimmed. */
static uint64_t map_reserve(const hd_store_t *st)
{
    uint64_t r = st->opts.map_size_max / 16;
    if (r < (128u << 10))
        r = 128u << 10;
    if (r > (64u << 20))
        r = 64u << 20;
    if (r > st->opts.map_size_max / 4)
        r = st->opts.map_size_max / 4;
    return r;
}

/* Pages on LMDB's free list (reusable), counted from its free-page DB. Writer thread. */
static uint64_t free_pages(hd_store_t *st)
{
    MDB_txn *txn;
    MDB_cursor *c;
    uint64_t n = 0;
    if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn))
        return 0;
    if (mdb_cursor_open(txn, 0 /* FREE_DBI */, &c) == 0) {
        MDB_val k, v;
        int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        while (rc == 0) {
            /* each value is an ID list: a count, then the page numbers */
            if (v.mv_size >= sizeof(size_t))
                n += *(const size_t *)v.mv_data;
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    return n;
}

/*
 * Marks refused (to fail with HD_E_FULL in their turn) the batches of the group whose appends
 * would eat into the reserve below map_size_max; returns the group size (unchanged). Cheap unless
 * near the cap, where the free list is counted too. Writer thread.
 */
static size_t refuse_appends_over_reserve(hd_store_t *st, hd_store_batch_t **arr, size_t n)
{
    uint64_t limit = st->opts.map_size_max - map_reserve(st);
    MDB_envinfo info;
    MDB_stat stat;
    if (mdb_env_info(st->env, &info) != 0 || mdb_env_stat(st->env, &stat) != 0)
        return n;
    uint64_t pages = (uint64_t)info.me_last_pgno + 1;
    uint64_t used = pages * stat.ms_psize, run = 0;
    bool exact = false;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        hd_store_batch_t *b = arr[i];
        if (b->nbrokers == 0 || b->op_next > 0) {
            arr[kept++] = b;
            continue;
        }
        /* B-tree pages are at most half empty after splits: count twice the payload. */
        if (used + 2 * (run + b->bytes) > limit && !exact) {
            uint64_t fp = free_pages(st);
            used = (pages > fp ? pages - fp : 0) * stat.ms_psize;
            exact = true;
        }
        if (used + 2 * (run + b->bytes) > limit) {
            hd_log(HD_LOG_WARN, "store: full, appends refused until retention frees room", "path",
                   st->data_dir, NULL);
            b->refused = true; /* fails in its turn, so callbacks keep their order */
            arr[kept++] = b;
            continue;
        }
        run += b->bytes;
        arr[kept++] = b;
    }
    return kept;
}

/* Writes a group; on failure isolates the bad batches by retrying them one by one.
 * Finished batches go to `done`; carried ones to st->carry (in order). */
static void write_group(hd_store_t *st, hd_store_batch_t **arr, size_t n, bool *carried)
{
    int rc;
    if (n == 1 && arr[0]->refused) {
        carried[0] = false;
        atomic_fetch_add_explicit(&st->st_full, 1, memory_order_relaxed);
        finish(st, arr[0], HD_E_FULL);
        return;
    }
    for (;;) {
        rc = write_txn(st, arr, n, carried);
        if (rc == MDB_MAP_FULL && grow_map(st))
            continue;
        break;
    }
    if (rc == 0) {
        after_commit(st);
        hd_store_batch_t **ctail = &st->carry;
        while (*ctail)
            ctail = &(*ctail)->next;
        for (size_t i = 0; i < n; i++) {
            if (carried[i]) {
                arr[i]->next = NULL;
                *ctail = arr[i];
                ctail = &arr[i]->next;
            } else if (arr[i]->refused) {
                atomic_fetch_add_explicit(&st->st_full, 1, memory_order_relaxed);
                finish(st, arr[i], HD_E_FULL);
            } else {
                atomic_fetch_add_explicit(&st->st_batches, 1, memory_order_relaxed);
                finish(st, arr[i], HD_E_OK);
            }
        }
        return;
    }
    if (n > 1) {
        for (size_t i = 0; i < n; i++)
            write_group(st, &arr[i], 1, &carried[i]);
        return;
    }
    hd_err_t e = err_from_mdb(rc);
    if (e == HD_E_NOTFOUND)
        e = HD_E_STORE;
    if (rc == EIO && out_of_space(st, arr[0]->bytes))
        e = HD_E_FULL;
    hd_log(e == HD_E_FULL ? HD_LOG_WARN : HD_LOG_ERROR, "store: batch not written", "path",
           st->data_dir, "error", mdb_strerror(rc), "status", hd_err_message(e), NULL);
    atomic_fetch_add_explicit(e == HD_E_FULL ? &st->st_full : &st->st_other, 1,
                              memory_order_relaxed);
    finish(st, arr[0], e);
}

static uint64_t deadline_ms_to_timespec(uint64_t due, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t now = hd_now_ms();
    uint64_t wait = due > now ? due - now : 0;
    ts->tv_sec += (time_t)(wait / 1000);
    ts->tv_nsec += (long)(wait % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
    return wait;
}

static void batch_sync(hd_store_t *st)
{
    int rc = mdb_env_sync(st->env, 1);
    if (rc)
        hd_log(HD_LOG_ERROR, "store: sync failed", "path", st->data_dir, "error", mdb_strerror(rc),
               NULL);
    atomic_fetch_add_explicit(&st->st_fsyncs, 1, memory_order_relaxed);
    st->unsynced = false;
    st->last_sync_ms = hd_now_ms();
}

static void *writer_main(void *arg)
{
    hd_store_t *st = arg;
    hd_store_batch_t **arr = hd_malloc(GROUP_MAX_BATCHES * sizeof(*arr));
    bool *carried = hd_malloc(GROUP_MAX_BATCHES * sizeof(*carried));
    if (!arr || !carried) {
        /* Cannot work without the group arrays: fail every batch as it comes. */
        hd_free(arr);
        hd_free(carried);
        arr = NULL;
    }
    st->last_sync_ms = hd_now_ms();
    for (;;) {
        pthread_mutex_lock(&st->mu);
        while (((!st->q_head && !st->carry) || st->paused) && !st->stopping) {
            if (st->unsynced) {
                uint64_t due = st->last_sync_ms + st->opts.sync_interval_ms;
                struct timespec ts;
                if (deadline_ms_to_timespec(due, &ts) == 0) {
                    pthread_mutex_unlock(&st->mu);
                    batch_sync(st);
                    pthread_mutex_lock(&st->mu);
                    continue;
                }
                pthread_cond_timedwait(&st->cv, &st->mu, &ts);
            } else {
                pthread_cond_wait(&st->cv, &st->mu);
            }
        }
        if (!st->q_head && !st->carry && st->stopping) {
            pthread_mutex_unlock(&st->mu);
            break;
        }
        /* Take the carried batches first, then the queue, within the group bounds. */
        size_t n = 0, bytes = 0;
        while (st->carry && n < GROUP_MAX_BATCHES && arr) {
            arr[n++] = st->carry;
            st->carry = st->carry->next;
        }
        while (st->q_head && (n == 0 || (n < GROUP_MAX_BATCHES && bytes < GROUP_MAX_BYTES))) {
            hd_store_batch_t *b = st->q_head;
            st->q_head = b->next;
            if (!st->q_head)
                st->q_tail = NULL;
            st->q_len--;
            if (!arr) {
                pthread_mutex_unlock(&st->mu);
                finish(st, b, HD_E_NOMEM);
                pthread_mutex_lock(&st->mu);
                continue;
            }
            arr[n++] = b;
            bytes += b->bytes;
        }
        /* Assigned high-waters handed over by the loop. */
        bool hw_ok = true;
        for (size_t i = 0; i < st->hw_shared.cap; i++) {
            if (!st->hw_shared.used[i])
                continue;
            uint64_t *p = u64map_put(&st->hw_pending, st->hw_shared.keys[i], 0);
            if (!p) {
                hw_ok = false;
                break;
            }
            if (st->hw_shared.vals[i] > *p)
                *p = st->hw_shared.vals[i];
        }
        if (hw_ok)
            u64map_clear(&st->hw_shared);
        pthread_mutex_unlock(&st->mu);

        /* Appends may not eat the reserve kept for retention near the cap. */
        if (n > 0)
            n = refuse_appends_over_reserve(st, arr, n);
        uint64_t commits_before = st->commit_no;
        if (n > 0 && st->opts.durability == HD_DURABILITY_FSYNC)
            prezero(st);
        if (n > 0)
            write_group(st, arr, n, carried);

        if (st->opts.durability == HD_DURABILITY_FSYNC) {
            release_staged(st);
            /* Nothing more to write, or this group committed nothing (every batch failed): no
             * next commit is sure to carry the last meta page to disk, so sync now. */
            pthread_mutex_lock(&st->mu);
            bool idle = (!st->q_head && !st->carry) || st->paused;
            pthread_mutex_unlock(&st->mu);
            if (idle || st->commit_no == commits_before)
                sync_staged(st);
        }
        if (st->opts.durability == HD_DURABILITY_BATCH && st->unsynced &&
            hd_now_ms() - st->last_sync_ms >= st->opts.sync_interval_ms)
            batch_sync(st);
        uv_async_send(&st->async);
    }
    /* Seqs handed out by batches that were refused at the end must still never be reused. */
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < st->hw_shared.cap; i++) {
        uint64_t *p =
            st->hw_shared.used[i] ? u64map_put(&st->hw_pending, st->hw_shared.keys[i], 0) : NULL;
        if (p && st->hw_shared.vals[i] > *p)
            *p = st->hw_shared.vals[i];
    }
    u64map_clear(&st->hw_shared);
    pthread_mutex_unlock(&st->mu);
    if (st->hw_pending.n > 0 && write_txn(st, NULL, 0, NULL) == 0)
        after_commit(st);
    if (st->unsynced)
        batch_sync(st);
    if (st->opts.durability == HD_DURABILITY_FSYNC && st->durable_no < st->commit_no) {
        if (mdb_env_sync(st->env, 1) == 0)
            atomic_fetch_add_explicit(&st->st_fsyncs, 1, memory_order_relaxed);
        st->durable_no = st->commit_no;
    }
    sync_staged(st);
    hd_free(arr);
    hd_free(carried);
    return NULL;
}

/* ---- the loop side ----------------------------------------------------------------------- */

/* Runs the callbacks of every finished batch, in submit order, then the commit listeners. */
static void drain_done(hd_store_t *st)
{
    pthread_mutex_lock(&st->mu);
    hd_store_batch_t *list = st->done_head;
    st->done_head = st->done_tail = NULL;
    pthread_mutex_unlock(&st->mu);
    if (!list)
        return;

    touched_t *agg = NULL;
    size_t nagg = 0, aggcap = 0;
    for (hd_store_batch_t *b = list; b; b = b->next) {
        if (b->status != HD_E_OK)
            continue;
        for (size_t i = 0; i < b->nbrokers; i++) {
            size_t j;
            for (j = 0; j < nagg; j++)
                if (agg[j].id == b->brokers[i].id)
                    break;
            if (j == nagg) {
                if (nagg == aggcap) {
                    size_t nc = aggcap ? aggcap * 2 : 8;
                    touched_t *nn = hd_realloc(agg, nc * sizeof(*nn));
                    if (!nn)
                        break; /* listeners miss these; the next commit tells them */
                    agg = nn;
                    aggcap = nc;
                }
                agg[nagg].id = b->brokers[i].id;
                agg[nagg].max_seq = 0;
                nagg++;
            }
            if (b->brokers[i].max_seq > agg[j].max_seq)
                agg[j].max_seq = b->brokers[i].max_seq;
        }
    }
    while (list) {
        hd_store_batch_t *b = list;
        list = b->next;
        /* The async handle keeps the loop alive only while batches are in flight. */
        if (st->inflight > 0 && --st->inflight == 0 && !st->closing)
            uv_unref((uv_handle_t *)&st->async);
        if (b->cb)
            b->cb(b->arg, b->status);
        hd_store_batch_free(b);
    }
    for (size_t j = 0; j < nagg; j++) {
        /* Index loop: a listener may add or remove listeners. */
        for (size_t i = 0; i < st->nlisteners; i++)
            if (st->listeners[i].fn)
                st->listeners[i].fn(st->listeners[i].arg, agg[j].id, agg[j].max_seq);
    }
    hd_free(agg);
}

static void on_async(uv_async_t *h)
{
    drain_done(hd_container_of(h, hd_store_t, async));
}

static void on_async_closed(uv_handle_t *h)
{
    hd_store_t *st = hd_container_of((uv_async_t *)h, hd_store_t, async);
    hd_free(st->listeners);
    hd_free(st);
}

hd_err_t hd_store_submit(hd_store_t *st, hd_store_batch_t *b, hd_store_done_fn cb, void *arg)
{
    if (!st || !b) {
        hd_store_batch_free(b);
        return HD_E_INVAL;
    }
    b->cb = cb;
    b->arg = arg;
    b->next = NULL;
    b->op_next = 0;
    hd_err_t err = HD_E_OK;
    pthread_mutex_lock(&st->mu);
    /* The seqs of this batch are spent whatever happens: hand the high-water to the writer so
     * they are never handed out again, even after a restart. */
    for (size_t i = 0; i < b->nbrokers; i++) {
        uint64_t *p = u64map_put(&st->hw_shared, b->brokers[i].id, 0);
        if (p && b->brokers[i].max_seq > *p)
            *p = b->brokers[i].max_seq;
    }
    if (st->stopping || st->closing) {
        err = HD_E_CLOSED;
    } else if (st->q_len >= st->opts.queue_max) {
        err = HD_E_BUSY;
    } else {
        if (st->q_tail)
            st->q_tail->next = b;
        else
            st->q_head = b;
        st->q_tail = b;
        st->q_len++;
        pthread_cond_signal(&st->cv);
    }
    pthread_mutex_unlock(&st->mu);
    if (err == HD_E_OK && st->inflight++ == 0)
        uv_ref((uv_handle_t *)&st->async);
    if (err != HD_E_OK) {
        if (err == HD_E_BUSY)
            atomic_fetch_add_explicit(&st->st_busy, 1, memory_order_relaxed);
        hd_store_batch_free(b);
    }
    return err;
}

hd_err_t hd_store_on_commit(hd_store_t *st, hd_store_commit_fn fn, void *arg)
{
    if (!st || !fn)
        return HD_E_INVAL;
    for (size_t i = 0; i < st->nlisteners; i++) {
        if (!st->listeners[i].fn) {
            st->listeners[i].fn = fn;
            st->listeners[i].arg = arg;
            return HD_E_OK;
        }
    }
    if (st->nlisteners == st->lcap) {
        size_t nc = st->lcap ? st->lcap * 2 : 4;
        listener_t *n = hd_realloc(st->listeners, nc * sizeof(*n));
        if (!n)
            return HD_E_NOMEM;
        st->listeners = n;
        st->lcap = nc;
    }
    st->listeners[st->nlisteners].fn = fn;
    st->listeners[st->nlisteners].arg = arg;
    st->nlisteners++;
    return HD_E_OK;
}

void hd_store_off_commit(hd_store_t *st, hd_store_commit_fn fn, void *arg)
{
    if (!st)
        return;
    /* Slots are cleared, not compacted, so a drain iterating over them stays valid. */
    for (size_t i = 0; i < st->nlisteners; i++) {
        if (st->listeners[i].fn == fn && st->listeners[i].arg == arg) {
            st->listeners[i].fn = NULL;
            st->listeners[i].arg = NULL;
            return;
        }
    }
}

void hd_store__test_pause(hd_store_t *st, bool paused)
{
    pthread_mutex_lock(&st->mu);
    st->paused = paused;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

/* ---- reads ------------------------------------------------------------------------------- */

/* Starts a read call: returns a live read txn (the reusable one, or a fresh one when nested
 * inside another read call's callback). Pair with read_end. NULL on error. */
static MDB_txn *read_begin(hd_store_t *st)
{
    pthread_rwlock_rdlock(&st->map_lock);
    MDB_txn *txn = NULL;
    int rc;
    if (st->read_depth == 0 && st->rtxn) {
        rc = mdb_txn_renew(st->rtxn);
        txn = rc ? NULL : st->rtxn;
    } else {
        rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
        if (rc)
            txn = NULL;
    }
    if (!txn) {
        pthread_rwlock_unlock(&st->map_lock);
        hd_log(HD_LOG_ERROR, "store: cannot start a read", "error", mdb_strerror(rc), NULL);
        return NULL;
    }
    st->read_depth++;
    return txn;
}

static void read_end(hd_store_t *st, MDB_txn *txn)
{
    st->read_depth--;
    if (txn == st->rtxn)
        mdb_txn_reset(txn);
    else
        mdb_txn_abort(txn);
    pthread_rwlock_unlock(&st->map_lock);
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
        put_u32(kb, id + 1);
        put_u64(kb + 4, 0);
        k.mv_size = 12;
        k.mv_data = kb;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        rc = rc == 0 ? mdb_cursor_get(c, &k, &v, MDB_PREV) : mdb_cursor_get(c, &k, &v, MDB_LAST);
    }
    if (rc == 0 && k.mv_size == 12 && get_u32(k.mv_data) == id)
        seq = get_u64((uint8_t *)k.mv_data + 4);
    mdb_cursor_close(c);
    return seq;
}

static uint64_t read_seq_floor(hd_store_t *st, uint32_t broker_id)
{
    MDB_txn *txn = read_begin(st);
    if (!txn)
        return 0;
    broker_rec_t rec;
    broker_rec_read(txn, st->db_meta, broker_id, &rec);
    uint64_t last = last_key_seq(txn, st->db_events, broker_id);
    read_end(st, txn);
    uint64_t floor = rec.hw > rec.last ? rec.hw : rec.last;
    return last > floor ? last : floor;
}

uint64_t hd_store_last_seq(hd_store_t *st, uint32_t broker_id)
{
    MDB_txn *txn = read_begin(st);
    if (!txn)
        return 0;
    broker_rec_t rec;
    broker_rec_read(txn, st->db_meta, broker_id, &rec);
    uint64_t last = last_key_seq(txn, st->db_events, broker_id);
    read_end(st, txn);
    return last > rec.last ? last : rec.last;
}

uint64_t hd_store_first_seq(hd_store_t *st, uint32_t broker_id)
{
    MDB_txn *txn = read_begin(st);
    if (!txn)
        return 0;
    uint64_t seq = 0;
    MDB_cursor *c;
    if (mdb_cursor_open(txn, st->db_events, &c) == 0) {
        uint8_t kb[12];
        put_u32(kb, broker_id);
        put_u64(kb + 4, 0);
        MDB_val k = {12, kb}, v;
        if (mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) == 0 && k.mv_size == 12 &&
            get_u32(k.mv_data) == broker_id)
            seq = get_u64((uint8_t *)k.mv_data + 4);
        mdb_cursor_close(c);
    }
    read_end(st, txn);
    return seq;
}

uint64_t hd_store_event_count(hd_store_t *st, uint32_t broker_id)
{
    MDB_txn *txn = read_begin(st);
    if (!txn)
        return 0;
    broker_rec_t rec;
    broker_rec_read(txn, st->db_meta, broker_id, &rec);
    read_end(st, txn);
    return rec.count;
}

hd_err_t hd_store_events_scan(hd_store_t *st, uint32_t broker_id, uint64_t from_seq, size_t max,
                              hd_store_event_fn fn, void *arg)
{
    if (!st || !fn)
        return HD_E_INVAL;
    MDB_txn *txn = read_begin(st);
    if (!txn)
        return HD_E_STORE;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, st->db_events, &c);
    if (rc) {
        read_end(st, txn);
        return HD_E_STORE;
    }
    uint8_t kb[12];
    put_u32(kb, broker_id);
    put_u64(kb + 4, from_seq);
    MDB_val k = {12, kb}, v;
    size_t n = 0;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && n < max) {
        if (k.mv_size != 12 || get_u32(k.mv_data) != broker_id)
            break;
        if (v.mv_size < 8) {
            rc = MDB_CORRUPTED;
            break;
        }
        n++;
        if (!fn(arg, get_u64((uint8_t *)k.mv_data + 4), get_u64(v.mv_data),
                (const uint8_t *)v.mv_data + 8, v.mv_size - 8))
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    read_end(st, txn);
    return rc == 0 || rc == MDB_NOTFOUND ? HD_E_OK : HD_E_STORE;
}

hd_err_t hd_store_event_get(hd_store_t *st, uint32_t broker_id, uint64_t seq, ce_event_t **out)
{
    if (!st || !out)
        return HD_E_INVAL;
    MDB_txn *txn = read_begin(st);
    if (!txn)
        return HD_E_STORE;
    uint8_t kb[12];
    put_u32(kb, broker_id);
    put_u64(kb + 4, seq);
    MDB_val k = {12, kb}, v;
    hd_err_t err;
    int rc = mdb_get(txn, st->db_events, &k, &v);
    if (rc == MDB_NOTFOUND) {
        err = HD_E_NOTFOUND;
    } else if (rc || v.mv_size < 8) {
        err = HD_E_STORE;
    } else {
        ce_event_t *ev = NULL;
        ce_err_t ce = ce_event_unpack((const uint8_t *)v.mv_data + 8, v.mv_size - 8, &ev, NULL);
        err = ce == CE_E_OK ? HD_E_OK : ce == CE_E_NOMEM ? HD_E_NOMEM : HD_E_STORE;
        if (!err)
            *out = ev;
    }
    read_end(st, txn);
    return err;
}

/* Ingest time of the first event of broker with seq >= s: true and *seq_out and *t when found. */
static bool first_at_or_after(MDB_cursor *c, uint32_t id, uint64_t s, uint64_t *seq_out,
                              uint64_t *t)
{
    uint8_t kb[12];
    put_u32(kb, id);
    put_u64(kb + 4, s);
    MDB_val k = {12, kb}, v;
    if (mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) != 0 || k.mv_size != 12 ||
        get_u32(k.mv_data) != id || v.mv_size < 8)
        return false;
    *seq_out = get_u64((uint8_t *)k.mv_data + 4);
    *t = get_u64(v.mv_data);
    return true;
}

uint64_t hd_store_seq_at_time(hd_store_t *st, uint32_t broker_id, uint64_t wall_ms)
{
    uint64_t first = hd_store_first_seq(st, broker_id);
    uint64_t last = hd_store_last_seq(st, broker_id);
    if (first == 0)
        return last + 1;
    MDB_txn *txn = read_begin(st);
    if (!txn)
        return last + 1;
    MDB_cursor *c;
    uint64_t result = last + 1;
    if (mdb_cursor_open(txn, st->db_events, &c) == 0) {
        /* P(s): the first event at or after s was ingested at or after wall_ms (or none is
         * left). Ingest times grow with seq, so P is monotone: binary search its first s. */
        uint64_t lo = first, hi = last + 1, s, t;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            if (!first_at_or_after(c, broker_id, mid, &s, &t) || t >= wall_ms)
                hi = mid;
            else
                lo = mid + 1;
        }
        if (first_at_or_after(c, broker_id, lo, &s, &t))
            result = s;
        mdb_cursor_close(c);
    }
    read_end(st, txn);
    return result;
}

bool hd_store_cursor_get(hd_store_t *st, uint32_t trigger_id, uint64_t *seq)
{
    MDB_txn *txn = read_begin(st);
    if (!txn)
        return false;
    uint8_t kb[4];
    put_u32(kb, trigger_id);
    MDB_val k = {4, kb}, v;
    bool found = mdb_get(txn, st->db_cursors, &k, &v) == 0 && v.mv_size == 8;
    if (found && seq)
        *seq = get_u64(v.mv_data);
    read_end(st, txn);
    return found;
}

/* Iterates keys trigger(u32)+seq(u64) of db for one trigger, calling each(). */
typedef bool (*rec_fn)(void *ctx, uint32_t id, uint64_t seq, const MDB_val *v);

static hd_err_t scan_trigger(hd_store_t *st, MDB_dbi db, uint32_t id, rec_fn each, void *ctx)
{
    MDB_txn *txn = read_begin(st);
    if (!txn)
        return HD_E_STORE;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db, &c);
    if (rc) {
        read_end(st, txn);
        return HD_E_STORE;
    }
    uint8_t kb[12];
    put_u32(kb, id);
    put_u64(kb + 4, 0);
    MDB_val k = {12, kb}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (k.mv_size != 12 || get_u32(k.mv_data) != id)
            break;
        if (!each(ctx, id, get_u64((uint8_t *)k.mv_data + 4), &v))
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    read_end(st, txn);
    return rc == 0 || rc == MDB_NOTFOUND ? HD_E_OK : HD_E_STORE;
}

typedef struct {
    hd_store_pending_fn pfn;
    hd_store_dead_fn dfn;
    void *arg;
} scan_ctx_t;

static bool each_pending(void *ctx, uint32_t id, uint64_t seq, const MDB_val *v)
{
    scan_ctx_t *sc = ctx;
    if (v->mv_size < 16)
        return true; /* not ours: skip */
    const uint8_t *p = v->mv_data;
    hd_store_pending_t rec = {get_u32(p), get_u64(p + 4), (int32_t)get_u32(p + 12)};
    return sc->pfn(sc->arg, id, seq, &rec);
}

static bool each_dead(void *ctx, uint32_t id, uint64_t seq, const MDB_val *v)
{
    scan_ctx_t *sc = ctx;
    if (v->mv_size < 12)
        return true;
    const uint8_t *p = v->mv_data;
    return sc->dfn(sc->arg, id, seq, (int32_t)get_u32(p), get_u64(p + 4), (const char *)p + 12,
                   v->mv_size - 12);
}

hd_err_t hd_store_pending_scan(hd_store_t *st, uint32_t trigger_id, hd_store_pending_fn fn,
                               void *arg)
{
    if (!st || !fn)
        return HD_E_INVAL;
    scan_ctx_t sc = {fn, NULL, arg};
    return scan_trigger(st, st->db_pending, trigger_id, each_pending, &sc);
}

hd_err_t hd_store_dead_scan(hd_store_t *st, uint32_t trigger_id, hd_store_dead_fn fn, void *arg)
{
    if (!st || !fn)
        return HD_E_INVAL;
    scan_ctx_t sc = {NULL, fn, arg};
    return scan_trigger(st, st->db_dead, trigger_id, each_dead, &sc);
}

hd_err_t hd_store_resources_scan(hd_store_t *st, const char *prefix, hd_store_resource_fn fn,
                                 void *arg)
{
    if (!st || !fn)
        return HD_E_INVAL;
    if (!prefix)
        prefix = "";
    size_t plen = strlen(prefix);
    MDB_txn *txn = read_begin(st);
    if (!txn)
        return HD_E_STORE;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, st->db_resources, &c);
    if (rc) {
        read_end(st, txn);
        return HD_E_STORE;
    }
    MDB_val k = {plen, (void *)prefix}, v;
    rc = plen ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &v, MDB_FIRST);
    hd_err_t err = HD_E_OK;
    char *key = NULL;
    size_t keycap = 0;
    while (rc == 0) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        /* Keys are handed out NUL-terminated. */
        if (k.mv_size + 1 > keycap) {
            char *nk = hd_realloc(key, k.mv_size + 1);
            if (!nk) {
                err = HD_E_NOMEM;
                break;
            }
            key = nk;
            keycap = k.mv_size + 1;
        }
        memcpy(key, k.mv_data, k.mv_size);
        key[k.mv_size] = '\0';
        if (!fn(arg, key, v.mv_data, v.mv_size))
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    hd_free(key);
    mdb_cursor_close(c);
    read_end(st, txn);
    if (err)
        return err;
    return rc == 0 || rc == MDB_NOTFOUND ? HD_E_OK : HD_E_STORE;
}

long hd_store_meta_get(hd_store_t *st, const char *name, void *buf, size_t cap)
{
    if (!st || !name)
        return -1;
    MDB_txn *txn = read_begin(st);
    if (!txn)
        return -1;
    MDB_val k = {strlen(name), (void *)name}, v;
    long len = -1;
    if (mdb_get(txn, st->db_meta, &k, &v) == 0) {
        len = (long)v.mv_size;
        if (buf)
            memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
    }
    read_end(st, txn);
    return len;
}

void hd_store_stats(hd_store_t *st, hd_store_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!st)
        return;
    /* mdb_env_info reads the meta pages inside the map: keep the map in place meanwhile. */
    pthread_rwlock_rdlock(&st->map_lock);
    MDB_envinfo info;
    MDB_stat stat;
    if (mdb_env_info(st->env, &info) == 0 && mdb_env_stat(st->env, &stat) == 0) {
        out->map_size = info.me_mapsize;
        out->map_used = (uint64_t)(info.me_last_pgno + 1) * stat.ms_psize;
    }
    pthread_rwlock_unlock(&st->map_lock);
    out->map_max = st->opts.map_size_max;
    pthread_mutex_lock(&st->mu);
    out->queue_depth = st->q_len;
    pthread_mutex_unlock(&st->mu);
    out->commits = atomic_load_explicit(&st->st_commits, memory_order_relaxed);
    out->batches = atomic_load_explicit(&st->st_batches, memory_order_relaxed);
    out->fsyncs = atomic_load_explicit(&st->st_fsyncs, memory_order_relaxed);
    out->refused_busy = atomic_load_explicit(&st->st_busy, memory_order_relaxed);
    out->failed_full = atomic_load_explicit(&st->st_full, memory_order_relaxed);
    out->failed_other = atomic_load_explicit(&st->st_other, memory_order_relaxed);
}

static void store_render(void *arg)
{
    hd_store_t *st = arg;
    hd_store_stats_t s;
    hd_store_stats(st, &s);
    hd_metric_set(st->m_map_used, (int64_t)s.map_used);
    hd_metric_set(st->m_map_size, (int64_t)s.map_size);
    hd_metric_set(st->m_map_max, (int64_t)s.map_max);
    hd_metric_set(st->m_queue, (int64_t)s.queue_depth);
    hd_metric_set(st->m_commits, (int64_t)s.commits);
    hd_metric_set(st->m_batches, (int64_t)s.batches);
    hd_metric_set(st->m_fsyncs, (int64_t)s.fsyncs);
    hd_metric_set(st->m_busy, (int64_t)s.refused_busy);
    hd_metric_set(st->m_full, (int64_t)s.failed_full);
    hd_metric_set(st->m_other, (int64_t)s.failed_other);
}

hd_err_t hd_store_metrics_attach(hd_store_t *st, hd_metrics_t *m)
{
    if (!st || !m || st->metrics)
        return HD_E_INVAL;
    static const char *const refused = "Write batches the store refused or failed, by reason.";
    st->m_map_used =
        hd_metrics_gauge(m, "herald_store_map_used_bytes", "Bytes of the LMDB map in use.", "");
    st->m_map_size = hd_metrics_gauge(m, "herald_store_map_size_bytes",
                                      "Current size of the LMDB map (it grows on demand).", "");
    st->m_map_max = hd_metrics_gauge(m, "herald_store_map_max_bytes",
                                     "Cap of the LMDB map (store.map_size_max).", "");
    st->m_queue = hd_metrics_gauge(m, "herald_store_queue_depth",
                                   "Write batches waiting for the store writer.", "");
    st->m_commits = hd_metrics_counter(m, "herald_store_commits_total",
                                       "Write transactions committed (group commits).", "");
    st->m_batches =
        hd_metrics_counter(m, "herald_store_batches_total", "Write batches committed.", "");
    st->m_fsyncs =
        hd_metrics_counter(m, "herald_store_fsyncs_total", "Syncs of the store to disk.", "");
    st->m_busy = hd_metrics_counter(m, "herald_store_refused_total", refused, "reason=\"busy\"");
    st->m_full = hd_metrics_counter(m, "herald_store_refused_total", refused, "reason=\"full\"");
    st->m_other = hd_metrics_counter(m, "herald_store_refused_total", refused, "reason=\"error\"");
    if (!st->m_map_used || !st->m_map_size || !st->m_map_max || !st->m_queue || !st->m_commits ||
        !st->m_batches || !st->m_fsyncs || !st->m_busy || !st->m_full || !st->m_other)
        return HD_E_NOMEM;
    hd_err_t e = hd_metrics_on_render(m, store_render, st);
    if (e == HD_E_OK)
        st->metrics = m;
    return e;
}

/* ---- open / close ------------------------------------------------------------------------ */

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf))
        return ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return errno;
            buf[i] = c;
        }
    }
    return 0;
}

/* Opens the named databases and checks (or writes) the schema version. */
static hd_err_t open_dbs(hd_store_t *st)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc)
        goto fail;
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"events", &st->db_events},       {"cursors", &st->db_cursors},
               {"pending", &st->db_pending},     {"dead", &st->db_dead},
               {"resources", &st->db_resources}, {"meta", &st->db_meta}};
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
        rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
        if (rc)
            goto fail_txn;
    }
    MDB_val k = {strlen(META_SCHEMA), META_SCHEMA}, v;
    rc = mdb_get(txn, st->db_meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        uint8_t vb[4];
        put_u32(vb, STORE_SCHEMA_VERSION);
        v.mv_size = 4;
        v.mv_data = vb;
        rc = mdb_put(txn, st->db_meta, &k, &v, 0);
        if (rc)
            goto fail_txn;
    } else if (rc) {
        goto fail_txn;
    } else {
        uint32_t ver = v.mv_size == 4 ? get_u32(v.mv_data) : UINT32_MAX;
        if (ver != STORE_SCHEMA_VERSION) {
            char have[16], want[16];
            snprintf(have, sizeof(have), "%u", ver);
            snprintf(want, sizeof(want), "%u", STORE_SCHEMA_VERSION);
            hd_log(HD_LOG_ERROR,
                   ver > STORE_SCHEMA_VERSION
                       ? "store: data was written by a newer heraldd (unknown schema version)"
                       : "store: unsupported schema version",
                   "path", st->data_dir, "schema_version", have, "supported", want, NULL);
            mdb_txn_abort(txn);
            return HD_E_STORE;
        }
    }
    rc = mdb_txn_commit(txn);
    if (rc)
        goto fail;
    return HD_E_OK;
fail_txn:
    mdb_txn_abort(txn);
fail:
    hd_log(HD_LOG_ERROR, "store: cannot open the databases", "path", st->data_dir, "error",
           mdb_strerror(rc), NULL);
    return err_from_mdb(rc) == HD_E_NOMEM ? HD_E_NOMEM : HD_E_IO;
}

hd_err_t hd_store_open(uv_loop_t *loop, const hd_store_opts_t *opts, hd_store_t **out)
{
    if (!loop || !opts || !opts->data_dir || !out)
        return HD_E_INVAL;
    hd_err_t err = HD_E_NOMEM;
    int rc;
    hd_store_t *st = hd_calloc(1, sizeof(*st));
    if (!st)
        return HD_E_NOMEM;
    st->loop = loop;
    st->lock_fd = -1;
    st->opts = *opts;
    st->data_dir = hd_strdup(opts->data_dir);
    if (!st->data_dir)
        goto fail_dir;
    st->opts.data_dir = st->data_dir;
    if (st->opts.map_size_max == 0)
        st->opts.map_size_max = (uint64_t)8 << 30;
    if (st->opts.map_size_initial == 0)
        st->opts.map_size_initial = (uint64_t)64 << 20;
    if (st->opts.map_size_initial > st->opts.map_size_max)
        st->opts.map_size_initial = st->opts.map_size_max;
    if (st->opts.queue_max == 0)
        st->opts.queue_max = 65536;
    if (st->opts.durability == HD_DURABILITY_BATCH && st->opts.sync_interval_ms == 0)
        st->opts.sync_interval_ms = 10;

    /* Reader preference (glibc's default, made explicit): a read call nested in a scan callback
     * takes the read lock again and must not queue behind a waiting resize. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_READER_NP);
    rc = pthread_rwlock_init(&st->map_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    if (rc != 0)
        goto fail_rwlock;
    if (pthread_mutex_init(&st->mu, NULL) != 0)
        goto fail_mutex;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&st->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        goto fail_cond;

    err = HD_E_IO;
    rc = mkdir_p(st->data_dir);
    if (rc) {
        hd_log(HD_LOG_ERROR, "store: cannot create the data directory", "path", st->data_dir,
               "error", strerror(rc), NULL);
        goto fail_env;
    }
    /* LMDB allows several processes, but the seq counters and the single-writer design do not:
     * refuse a second heraldd (or a second open in this process) on the same data_dir. */
    char lock_path[4200];
    snprintf(lock_path, sizeof(lock_path), "%s/heraldd.lock", st->data_dir);
    st->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (st->lock_fd < 0) {
        hd_log(HD_LOG_ERROR, "store: cannot create the lock file", "path", lock_path, "error",
               strerror(errno), NULL);
        goto fail_env;
    }
    if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        hd_log(HD_LOG_ERROR, "store: data_dir is in use by another heraldd", "path", st->data_dir,
               "error", strerror(errno), NULL);
        goto fail_lock;
    }
    rc = mdb_env_create(&st->env);
    if (rc)
        goto fail_env_log;
    mdb_env_set_maxdbs(st->env, 8);
    mdb_env_set_mapsize(st->env, (size_t)st->opts.map_size_initial);
    unsigned flags = MDB_NOTLS;
    if (st->opts.durability != HD_DURABILITY_FSYNC)
        flags |= MDB_NOSYNC;
    else
        flags |= MDB_NOMETASYNC; /* one sync per commit; acknowledgements are staged */
    rc = mdb_env_open(st->env, st->data_dir, flags, 0600);
    if (rc)
        goto fail_open;
    /* A new data.mdb must survive a power loss as a directory entry too, not only its data. */
    int dfd = open(st->data_dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    int dead = 0;
    mdb_reader_check(st->env, &dead);
    err = open_dbs(st);
    if (err)
        goto fail_dbs;
    rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->rtxn);
    if (rc)
        goto fail_open;
    mdb_txn_reset(st->rtxn);

    rc = uv_async_init(loop, &st->async, on_async);
    if (rc) {
        err = HD_E_IO;
        goto fail_async;
    }
    /* Zeros past a file-size limit would raise SIGXFSZ: no pre-zeroing then. */
    struct rlimit fsz;
    st->zero_off = getrlimit(RLIMIT_FSIZE, &fsz) != 0 || fsz.rlim_cur != RLIM_INFINITY;
    rc = pthread_create(&st->writer, NULL, writer_main, st);
    if (rc) {
        /* The async handle is closed by its own callback, which frees st: undo by hand. */
        st->closing = true;
        mdb_txn_abort(st->rtxn);
        mdb_env_close(st->env);
        close(st->lock_fd);
        pthread_cond_destroy(&st->cv);
        pthread_mutex_destroy(&st->mu);
        pthread_rwlock_destroy(&st->map_lock);
        hd_free(st->data_dir);
        uv_close((uv_handle_t *)&st->async, on_async_closed);
        return HD_E_NOMEM;
    }
    st->writer_started = true;
    uv_unref((uv_handle_t *)&st->async);
    *out = st;
    return HD_E_OK;

fail_async:
    mdb_txn_abort(st->rtxn);
    goto fail_dbs;
fail_open:
    err = rc == ENOMEM ? HD_E_NOMEM : HD_E_IO;
fail_env_log:
    if (err == HD_E_IO || err == HD_E_NOMEM)
        hd_log(HD_LOG_ERROR, "store: cannot open the environment", "path", st->data_dir, "error",
               mdb_strerror(rc), NULL);
fail_dbs:
    if (st->env)
        mdb_env_close(st->env);
fail_lock:
    close(st->lock_fd);
fail_env:
    pthread_cond_destroy(&st->cv);
fail_cond:
    pthread_mutex_destroy(&st->mu);
fail_mutex:
    pthread_rwlock_destroy(&st->map_lock);
fail_rwlock:
    hd_free(st->data_dir);
fail_dir:
    hd_free(st);
    return err;
}

void hd_store_close(hd_store_t *st)
{
    if (!st || st->closing)
        return;
    pthread_mutex_lock(&st->mu);
    st->stopping = true;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    if (st->writer_started)
        pthread_join(st->writer, NULL);
    /* Every batch is now in `done`: run the callbacks here, on the loop thread. Batches
     * submitted from these callbacks are refused with HD_E_CLOSED. */
    drain_done(st);
    st->closing = true;
    hd_metrics_off_render(st->metrics, store_render, st);
    if (st->rtxn)
        mdb_txn_abort(st->rtxn);
    mdb_env_close(st->env);
    close(st->lock_fd); /* releases the flock */
    u64map_free(&st->next_seq);
    u64map_free(&st->hw_shared);
    u64map_free(&st->hw_pending);
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    pthread_rwlock_destroy(&st->map_lock);
    hd_free(st->data_dir);
    /* st itself is freed by the async handle's close callback. */
    uv_close((uv_handle_t *)&st->async, on_async_closed);
}
