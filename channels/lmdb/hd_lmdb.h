/*
 * hd_lmdb.h — the LMDB backend of the event log (hd_evlog.h) and of the local state
 * (hd_state.h): one LMDB environment under data_dir with the named databases of DESIGN §4
 * (events, cursors, pending, dead, resources, meta). Only main.c, tests and benchmarks include
 * this header; everything else reaches the backend through hd_evlog_t and hd_state_t.
 *
 * Writes: every append, progress and state transaction becomes a batch on one bounded queue;
 * the single writer thread writes every queued batch in one LMDB transaction, commits (one
 * fsync for the whole group under durability fsync), then wakes the loop, which runs each
 * batch's callback in submit order. This is group commit: never one fsync per request.
 * Reads: read transactions on the loop thread, copied out.
 */
#ifndef HERALD_HD_LMDB_H
#define HERALD_HD_LMDB_H

#include "hd.h"
#include "hd_evlog.h"
#include "hd_state.h"

typedef struct hd_lmdb hd_lmdb_t;

typedef struct {
    const char *data_dir;
    hd_durability_t durability;
    uint64_t sync_interval_ms; /* batch mode */
    uint64_t map_size_initial; /* bytes; grows automatically up to map_size_max */
    uint64_t map_size_max;
    size_t queue_max; /* queued batches before a submit answers HD_E_BUSY */
    /* Bytes kept for trims, cursors and progress writes: appends are refused (HD_E_FULL) when
     * they would leave less below the capacity, min(map_size_max, what the filesystem holds).
     * 0: max(8 MiB, 2% of the capacity) up to 256 MiB; at most a quarter of the capacity. */
    uint64_t reserve_bytes;
} hd_lmdb_opts_t;

/* Opens (creates) the environment, checks the schema version, starts the writer thread.
 * Zero options take defaults: map_size_initial 64 MiB, map_size_max 8 GiB, queue_max 65536,
 * sync_interval_ms 10. The backend's uv_async handle keeps `loop` alive only while submitted
 * batches await their callback, so uv_run returns once every callback has run.
 * One backend per data_dir: the directory is locked (heraldd.lock) while open.
 * Errors: HD_E_INVAL, HD_E_IO (with a log line naming the path and the LMDB error; also when
 * another heraldd holds data_dir), HD_E_NOMEM, HD_E_STORE (data written by a newer heraldd:
 * unknown schema version; logged). Loop thread. */
hd_err_t hd_lmdb_open(uv_loop_t *loop, const hd_lmdb_opts_t *opts, hd_lmdb_t **out);
/* Drains the queue (callbacks run, here), stops the writer, closes the environment and closes
 * the async handle (run the loop once more to finish closing it). The hd_evlog_t and hd_state_t
 * of the backend are invalid afterwards. Accepts NULL. Loop thread. */
void hd_lmdb_close(hd_lmdb_t *lm);

/* The event log and the local state of the backend, valid until hd_lmdb_close. */
hd_evlog_t *hd_lmdb_evlog(hd_lmdb_t *lm);
hd_state_t *hd_lmdb_state(hd_lmdb_t *lm);

/* Statistics for /metrics and `describe`: map size in use and its cap, queue depth, commits,
 * batches per commit, the capacity, the reserve and whether the store is full. */
typedef struct {
    uint64_t map_used, map_size, map_max; /* map_used: high-water mark of the data file */
    uint64_t queue_depth, commits, batches;
    uint64_t fsyncs;       /* syncs to disk (fsync mode: one per commit, one more before idling) */
    uint64_t refused_busy; /* submits answered HD_E_BUSY (queue at queue_max) */
    uint64_t failed_full;  /* batches failed with HD_E_FULL (map at its cap, disk full) */
    uint64_t failed_other; /* batches failed otherwise (HD_E_IO, HD_E_STORE, HD_E_NOMEM) */
    uint64_t corrupt_records; /* event records found corrupt on read (bad checksum, undecodable) */
    uint64_t capacity;        /* min(map_max, what the filesystem holds), last measured */
    uint64_t reserve;         /* of capacity, kept for trims, cursors and progress writes */
    bool full;                /* appends are refused for lack of room */
} hd_lmdb_stats_t;
/* Fills *out (zeros for a NULL backend). Any thread. */
void hd_lmdb_stats(hd_lmdb_t *lm, hd_lmdb_stats_t *out);

/* Publishes the statistics above on /metrics (herald_store_* gauges and counters, refreshed at
 * each render). hd_lmdb_close detaches them; `m` must outlive the backend. Loop thread.
 * Errors: HD_E_INVAL (already attached), HD_E_NOMEM. */
hd_err_t hd_lmdb_metrics_attach(hd_lmdb_t *lm, hd_metrics_t *m);

/* `heraldd --check`: walks every database of the store in data_dir and every record (checksums,
 * decoding, sizes, the per-log records in meta), writes a report to `out` and modifies nothing.
 * Returns 0 clean, 1 problems found (including a database that crashes liblmdb: each is walked
 * in a child process), 2 the store could not be opened (missing, empty, short, no valid meta).
 * Not on the loop: it forks. */
int hd_lmdb_check(const char *data_dir, FILE *out);

/* Tests only: while paused the writer takes nothing from the queue (submits still queue up, and
 * answer HD_E_BUSY at queue_max), so a test can build a group deterministically. Any thread. */
void hd_lmdb__test_pause(hd_lmdb_t *lm, bool paused);

#endif /* HERALD_HD_LMDB_H */
