/*
 * lmdb_internal.h — what the files of the LMDB backend share: the backend object, the batch
 * (one queued unit of writes, whatever interface built it), the op encoding and the key layout.
 * Nothing outside channels/lmdb includes it.
 *
 * Keys are fixed-width big-endian so LMDB order is numeric:
 *   events    log id (u32) + seq (u64)  -> format (u8) + CRC32C (u32) + ingest wall ms (u64)
 *                                          + ce_event_pack() bytes (lmdb_record.h)
 *   cursors   sub id (u32)              -> seq (u64): every event <= seq is done
 *   pending   sub id (u32) + seq (u64)  -> attempts (u32) + due ms (u64) + last status (i32)
 *                                          + the last failed answer's body excerpt (0..4 KiB)
 *   dead      sub id (u32) + seq (u64)  -> status (i32) + time ms (u64) + error text
 *   resources "kind/namespace/name"     -> the resource's JSON
 *   meta      name                      -> bytes (schema version, id counters, log records)
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
 * `map_lock` for writing only to resize. Zero-copy views inside a read call are therefore valid
 * for exactly that call.
 */
#ifndef HERALD_LMDB_INTERNAL_H
#define HERALD_LMDB_INTERNAL_H

#include "hd_lmdb.h"
#include "hd_metrics.h"
#include "lmdb_record.h"

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>

#define HD_LMDB_SCHEMA_VERSION 1u
#define HD_LMDB_META_SCHEMA "store.schema"
#define HD_LMDB_META_RECORDS "store.records" /* written at creation: every record has a crc */
#define HD_LMDB_META_TXN "store.txn"         /* commit counter, written by every fsync-mode txn */
#define HD_LMDB_META_LOG_PREFIX "store.broker." /* + decimal log id -> log_rec_t (BE) */

/* Bounds of one write transaction: at most this many batches ... */
#define HD_LMDB_GROUP_MAX_BATCHES 4096
/* ... and about this many bytes of values (LMDB's dirty-page list is bounded). */
#define HD_LMDB_GROUP_MAX_BYTES (64u << 20)
/* Bytes of a failed answer's body kept with a pending record (knativeerrordata). */
#define HD_LMDB_PENDING_BODY_MAX 4096u
/* Deletions by trim / drop / forget per transaction; the rest continues in the next. */
#define HD_LMDB_DELETE_CHUNK 4096

/* Returned by the op appliers: the op has work left for the next transaction. */
#define HD_LMDB_OP_MORE 1

/* ---- big-endian helpers ------------------------------------------------------------------ */

static inline void hd_lmdb__put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void hd_lmdb__put_u64(uint8_t *p, uint64_t v)
{
    hd_lmdb__put_u32(p, (uint32_t)(v >> 32));
    hd_lmdb__put_u32(p + 4, (uint32_t)v);
}

static inline uint32_t hd_lmdb__get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t hd_lmdb__get_u64(const uint8_t *p)
{
    return (uint64_t)hd_lmdb__get_u32(p) << 32 | hd_lmdb__get_u32(p + 4);
}

/* ---- a small u32 -> u64 open-addressing map (lmdb_writer.c) ------------------------------ */

typedef struct {
    uint32_t *keys;
    uint64_t *vals;
    uint8_t *used;
    size_t cap, n;
} hd_lmdb__u64map_t;

void hd_lmdb__u64map_free(hd_lmdb__u64map_t *m);
/* The value slot of k, or NULL when absent. */
uint64_t *hd_lmdb__u64map_get(const hd_lmdb__u64map_t *m, uint32_t k);
/* The value slot of k, inserted with `init` when absent; NULL when out of memory. */
uint64_t *hd_lmdb__u64map_put(hd_lmdb__u64map_t *m, uint32_t k, uint64_t init);
void hd_lmdb__u64map_clear(hd_lmdb__u64map_t *m);

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
} hd_lmdb__op_kind_t;

typedef struct {
    hd_lmdb__op_kind_t kind;
    uint32_t id;
    uint64_t seq; /* seq, or upto_seq for OP_TRIM */
    uint64_t arg; /* older_than_wall_ms for OP_TRIM; forget stage for OP_FORGET */
    char *skey;   /* owned: resource / meta name */
    uint8_t *val; /* owned */
    size_t vlen;
} hd_lmdb__op_t;

typedef struct {
    uint32_t id;
    uint64_t max_seq;
} hd_lmdb__touched_t;

/* Done callback of a batch (the same type as hd_evlog_done_fn and hd_state_done_fn). */
typedef void (*hd_lmdb__done_fn)(void *arg, hd_err_t status);

typedef struct hd_lmdb__batch hd_lmdb__batch_t;
struct hd_lmdb__batch {
    hd_evlog_txn_t ptxn; /* the batch as a progress transaction */
    hd_state_txn_t stxn; /* the batch as a state transaction */
    hd_lmdb_t *lm;
    hd_lmdb__op_t *ops;
    size_t nops, cap;
    size_t op_next;              /* writer: first op not yet committed (chunked deletes) */
    hd_lmdb__touched_t *brokers; /* logs this batch appends to, with the highest seq */
    size_t nbrokers, bcap;
    uint64_t first_seq; /* first seq appended (0 when none) */
    size_t bytes;
    hd_lmdb__done_fn cb;
    hd_evlog_append_fn append_cb; /* instead of cb for an append: gets first_seq too */
    void *arg;
    hd_err_t status;
    bool refused;         /* writer: refused before writing (reserve); skipped, fails FULL */
    uint64_t need_commit; /* fsync mode: the commit that must be durable before the callback */
    hd_lmdb__batch_t *next;
};

typedef struct {
    hd_evlog_commit_fn fn;
    void *arg;
} hd_lmdb__listener_t;

struct hd_lmdb {
    hd_evlog_t evlog;
    hd_state_t state;
    uv_loop_t *loop;
    hd_lmdb_opts_t opts;
    char *data_dir;
    int lock_fd; /* flock'd heraldd.lock: one heraldd per data_dir */
    MDB_env *env;
    MDB_dbi db_events, db_cursors, db_pending, db_dead, db_resources, db_meta;

    /* loop thread: reads */
    MDB_txn *rtxn; /* reset between calls */
    int read_depth;
    pthread_rwlock_t map_lock;

    /* loop thread: sequence counters (log id -> next seq) */
    hd_lmdb__u64map_t next_seq;

    /* shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    hd_lmdb__batch_t *q_head, *q_tail;
    size_t q_len;
    hd_lmdb__batch_t *done_head, *done_tail;
    hd_lmdb__u64map_t hw_shared; /* highest seq assigned per log, not yet handed to the writer */
    bool stopping;

    /* writer thread */
    pthread_t writer;
    bool writer_started;
    hd_lmdb__batch_t *carry;      /* batches with chunked deletes still to do */
    hd_lmdb__u64map_t hw_pending; /* assigned high-waters to persist with the next commit */
    uint64_t last_sync_ms;
    bool unsynced;
    /* fsync mode (MDB_NOMETASYNC): finished batches wait in `staged`, in submit order, until
     * the commit that wrote them is durable. commit_no counts commits; durable_no is the last
     * one known to be on disk. */
    hd_lmdb__batch_t *staged_head, *staged_tail;
    uint64_t commit_no, durable_no;
    uint64_t zero_end; /* fsync mode: data.mdb is zero-filled up to here */
    bool zero_off;     /* no pre-zeroing (a zero write failed, or a file-size limit is set) */
    /* room accounting (lmdb_space.c), writer thread unless atomic */
    _Atomic bool space_full; /* appends refused for room: /readyz 503, retention runs early */
    uint64_t hold_end;       /* data.mdb's blocks are preallocated up to here */
    uint64_t hold_retry_ms;  /* no preallocation before this (the last one found no room) */
    bool hold_off;           /* no preallocation (unsupported, or a file-size limit is set) */
    uint64_t sum_appends, sum_other, sum_since; /* refusals not yet logged, since when (ms) */

    /* loop thread: events found corrupt on read (each reported once; lmdb_log.c) */
    bool legacy_ok; /* a store from before checksums: records without one are accepted */
    struct {
        uint32_t id;
        uint64_t seq;
    } corrupt_seen[256];
    size_t ncorrupt_seen;

    uv_async_t async;
    bool closing;
    size_t inflight; /* loop thread: submitted batches whose callback has not run */
    bool paused;     /* tests: the writer takes nothing from the queue (under mu) */

    hd_lmdb__listener_t *listeners;
    size_t nlisteners, lcap;

    /* statistics (relaxed atomics) */
    _Atomic uint64_t st_commits, st_batches, st_fsyncs, st_busy, st_full, st_other;
    _Atomic uint64_t st_corrupt;              /* distinct corrupt event records found on read */
    _Atomic uint64_t st_capacity, st_reserve; /* last measured (lmdb_space.c) */

    /* /metrics (loop thread) */
    hd_metrics_t *metrics;
    hd_metric_t *m_map_used, *m_map_size, *m_map_max, *m_queue, *m_commits, *m_batches, *m_fsyncs,
        *m_busy, *m_full, *m_other, *m_corrupt, *m_capacity, *m_reserve, *m_is_full;
};

/* Per-log record in meta, written by the writer in the same transaction as the events:
 * hw = highest seq ever assigned, last = highest seq committed, count = events stored. */
typedef struct {
    uint64_t hw, last, count;
} hd_lmdb__log_rec_t;

/* Per-transaction accounting of the logs touched, merged into their meta records. */
typedef struct {
    uint32_t id;
    uint64_t max_seq, added, deleted, hw;
} hd_lmdb__acct_t;

typedef struct {
    hd_lmdb__acct_t *a;
    size_t n, cap;
} hd_lmdb__acct_list_t;

/* ---- lmdb_env.c: environment, reads, map growth, pre-zeroing, room ---------------------- */

/* Translates an LMDB or errno code at the module edge. */
hd_err_t hd_lmdb__err(int rc);
/* Starts a read call: returns a live read txn (the reusable one, or a fresh one when nested
 * inside another read call). Pair with hd_lmdb__read_end. NULL on error (logged). Loop thread. */
MDB_txn *hd_lmdb__read_begin(hd_lmdb_t *lm);
void hd_lmdb__read_end(hd_lmdb_t *lm, MDB_txn *txn);
/* Doubles the map (up to map_size_max). Returns true when it grew. Writer thread, no txn. */
bool hd_lmdb__grow_map(hd_lmdb_t *lm);
/* fsync mode: keeps real zero blocks ahead of LMDB's last page. Writer thread, no txn. */
void hd_lmdb__prezero(hd_lmdb_t *lm);
/* Whether an EIO for a batch of batch_bytes was really a full disk or a file-size limit. */
bool hd_lmdb__out_of_space(hd_lmdb_t *lm, size_t batch_bytes);

/* ---- lmdb_writer.c: batches, the queue, the writer, completion ------------------------- */

hd_lmdb__batch_t *hd_lmdb__batch_new(hd_lmdb_t *lm);
void hd_lmdb__batch_free(hd_lmdb__batch_t *b);
/* Reserves a new op at the end of b (not counted until the caller bumps nops); NULL when out
 * of memory. */
hd_lmdb__op_t *hd_lmdb__batch_op(hd_lmdb__batch_t *b, hd_lmdb__op_kind_t kind);
/* Submits a batch (takes ownership whatever the result). Errors at once, no callback:
 * HD_E_INVAL, HD_E_BUSY, HD_E_CLOSED. Loop thread. */
hd_err_t hd_lmdb__submit(hd_lmdb_t *lm, hd_lmdb__batch_t *b, hd_lmdb__done_fn cb, void *arg);
/* Deletes the keys of `db` starting with the 4-byte prefix `id` (12-byte keys), while they are
 * <= upto or older than older_than (events only: `events`), up to *budget deletions. Returns
 * 0 when done, HD_LMDB_OP_MORE when the budget ran out, or an LMDB error. Writer thread. */
int hd_lmdb__delete_prefix(MDB_txn *txn, MDB_dbi db, uint32_t id, uint64_t upto,
                           uint64_t older_than, bool events, size_t *budget, uint64_t *deleted);
hd_lmdb__acct_t *hd_lmdb__acct_for(hd_lmdb__acct_list_t *l, uint32_t id);
/* The writer thread's body (started by hd_lmdb_open). */
void *hd_lmdb__writer_main(void *arg);
/* Runs the callbacks of every finished batch, in submit order, then the commit listeners. */
void hd_lmdb__drain_done(hd_lmdb_t *lm);
void hd_lmdb__on_async(uv_async_t *h);
/* The commit listeners (hd_evlog_ops_t watch / unwatch). */
hd_err_t hd_lmdb__watch(hd_evlog_t *log, hd_evlog_commit_fn fn, void *arg);
void hd_lmdb__unwatch(hd_evlog_t *log, hd_evlog_commit_fn fn, void *arg);

/* ---- lmdb_log.c: events ------------------------------------------------------------------ */

extern const hd_evlog_ops_t hd_lmdb__evlog_ops;
/* Applies an OP_EVENT or OP_TRIM op. Returns 0, HD_LMDB_OP_MORE or an LMDB error. Writer. */
int hd_lmdb__apply_log_op(hd_lmdb_t *lm, MDB_txn *txn, hd_lmdb__op_t *op,
                          hd_lmdb__acct_list_t *acct, size_t *budget);
bool hd_lmdb__log_rec_read(MDB_txn *txn, MDB_dbi meta, uint32_t id, hd_lmdb__log_rec_t *rec);
int hd_lmdb__log_rec_write(MDB_txn *txn, MDB_dbi meta, uint32_t id, const hd_lmdb__log_rec_t *rec);

/* ---- lmdb_progress.c: cursors, pending, dead -------------------------------------------- */

/* Applies a cursor, pending, dead or forget op. Returns 0, HD_LMDB_OP_MORE or an LMDB error. */
int hd_lmdb__apply_progress_op(hd_lmdb_t *lm, MDB_txn *txn, hd_lmdb__op_t *op, size_t *budget);
hd_evlog_txn_t *hd_lmdb__txn_new(hd_evlog_t *log);
void hd_lmdb__txn_free(hd_evlog_txn_t *txn);
hd_err_t hd_lmdb__txn_cursor(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq);
hd_err_t hd_lmdb__txn_pending(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq,
                              const hd_evlog_pending_t *p);
hd_err_t hd_lmdb__txn_dead_put(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq, int32_t status,
                               const char *error, size_t error_len);
hd_err_t hd_lmdb__txn_dead_del(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq);
hd_err_t hd_lmdb__txn_forget(hd_evlog_txn_t *txn, uint32_t sub_id);
hd_err_t hd_lmdb__txn_submit(hd_evlog_txn_t *txn, hd_evlog_done_fn done, void *arg);
bool hd_lmdb__cursor_get(hd_evlog_t *log, uint32_t sub_id, uint64_t *seq);
hd_err_t hd_lmdb__pending_scan(hd_evlog_t *log, uint32_t sub_id, hd_evlog_pending_fn fn, void *arg);
hd_err_t hd_lmdb__dead_scan(hd_evlog_t *log, uint32_t sub_id, hd_evlog_dead_fn fn, void *arg);

/* ---- lmdb_state.c: resources, meta ------------------------------------------------------ */

extern const hd_state_ops_t hd_lmdb__state_ops;
/* Applies a resource or meta op. Returns 0 or an LMDB error. Writer thread. */
int hd_lmdb__apply_state_op(hd_lmdb_t *lm, MDB_txn *txn, hd_lmdb__op_t *op);

/* ---- lmdb_space.c: capacity, the reserve for writes that free room, the full state ------- */

/* Kept below the filesystem's free space when capping the store: lock.mdb, heraldd.lock, the
 * filesystem's own metadata. */
#define HD_LMDB_SPACE_MARGIN (1u << 20)
/* The store is full (/readyz 503) while an append needing this many bytes would not fit above
 * the reserve (an append of n bytes needs 2n: B-tree pages are at least half full). */
#define HD_LMDB_SPACE_PROBE (256u << 10)

/* One measurement of the room, in bytes. */
typedef struct {
    uint64_t map_max;  /* store.map_size_max */
    uint64_t fs_cap;   /* what the filesystem can hold for data.mdb (hd_lmdb__space_fs_cap) */
    uint64_t cap;      /* the store's capacity: min(map_max, fs_cap) */
    uint64_t reserve;  /* of cap, kept for trims, cursors, progress and state writes */
    uint64_t file_end; /* end of LMDB's last page */
    uint64_t used;     /* file_end minus LMDB's free list (when counted) */
} hd_lmdb__space_t;

/* What the filesystem can hold for data.mdb: its allocated bytes (at least file_end) plus the
 * filesystem's free bytes, minus HD_LMDB_SPACE_MARGIN. Pure. */
uint64_t hd_lmdb__space_fs_cap(uint64_t file_end, uint64_t file_blocks, uint64_t fs_free);
/* The reserve: `configured` (store.reserve_bytes), or 0 for max(8 MiB, 2% of cap) up to
 * 256 MiB; never more than a quarter of cap. Pure. */
uint64_t hd_lmdb__space_reserve(uint64_t configured, uint64_t cap);
/* Whether `need` more bytes leave at least the reserve below the capacity. Pure. */
bool hd_lmdb__space_fits(const hd_lmdb__space_t *s, uint64_t need);

/* At open, before the writer starts: warns when the filesystem holds less than map_size_max,
 * and starts full when it is. Loop thread. */
void hd_lmdb__space_open(hd_lmdb_t *lm);
/* Marks refused (to fail with HD_E_FULL in their turn) the batches of the group whose appends
 * would eat into the reserve; returns the group size (unchanged). Near full, also holds the
 * reserve's blocks on disk. Writer thread, no txn. */
size_t hd_lmdb__refuse_appends_over_reserve(hd_lmdb_t *lm, hd_lmdb__batch_t **arr, size_t n);
/* Batch b failed with HD_E_FULL at commit: the store turns full, and the failure is counted in
 * its rate-limited log summary instead of a line of its own. Writer thread, no txn. */
void hd_lmdb__space_failed(hd_lmdb_t *lm, hd_lmdb__batch_t *b);
/* After a commit: while full, checks whether appends fit again. Writer thread, no txn. */
void hd_lmdb__space_committed(hd_lmdb_t *lm);
/* The writer idled a second while full: rechecks the room (space freed on the filesystem, or
 * trims) and writes the refusal summary when due. Writer thread, no txn. */
void hd_lmdb__space_tick(hd_lmdb_t *lm);
/* hd_evlog_ops_t.full: appends are refused for lack of room. Any thread. */
bool hd_lmdb__full(hd_evlog_t *log);

#endif /* HERALD_LMDB_INTERNAL_H */
