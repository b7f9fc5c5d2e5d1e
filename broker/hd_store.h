/*
 * hd_store.h — the durable store of heraldd: one LMDB environment under data_dir with the named
 * databases of DESIGN §4 (events, cursors, pending, dead, resources, meta).
 *
 * Writes: the loop thread fills a batch (hd_store_batch_*) and submits it; the single writer
 * thread drains its bounded queue, writes every queued batch in one transaction, commits (one
 * fsync for the whole group under durability fsync), then wakes the loop, which runs each
 * batch's callback. This is group commit: never one fsync per request.
 * Reads: read transactions on the loop thread; views are copied out unless an API says it hands
 * out a zero-copy view (then valid only inside the callback).
 *
 * Keys are fixed-width big-endian so LMDB order is numeric:
 *   events   broker id (u32) + seq (u64)   -> ingest wall ms (u64 BE) + ce_event_pack() bytes
 *   cursors  trigger id (u32)              -> seq (u64): every event <= seq is done
 *   pending  trigger id (u32) + seq (u64)  -> hd_store_pending_t
 *   dead     trigger id (u32) + seq (u64)  -> status (i32) + time ms (u64) + error text
 *   resources "kind/namespace/name"        -> the resource's JSON
 *   meta     name                          -> bytes (schema version, id counters)
 */
#ifndef HERALD_HD_STORE_H
#define HERALD_HD_STORE_H

#include "hd.h"

typedef enum {
    HD_DURABILITY_FSYNC, /* callback after the commit is on disk (default) */
    HD_DURABILITY_BATCH, /* callback after the commit; fsync every sync_interval_ms */
    HD_DURABILITY_NONE,  /* never fsync (tests, benchmarks of the rest) */
} hd_durability_t;

typedef struct {
    const char *data_dir;
    hd_durability_t durability;
    uint64_t sync_interval_ms;  /* batch mode */
    uint64_t map_size_initial;  /* bytes; grows automatically up to map_size_max */
    uint64_t map_size_max;
    size_t queue_max;           /* pending batches before submit answers HD_E_BUSY */
} hd_store_opts_t;

/* Opens (creates) the environment, checks the schema version, starts the writer thread.
 * Zero options take defaults: map_size_initial 64 MiB, map_size_max 8 GiB, queue_max 65536,
 * sync_interval_ms 10. The store's uv_async handle keeps `loop` alive only while submitted
 * batches await their callback, so uv_run returns once every callback has run.
 * One store per data_dir: the directory is locked (heraldd.lock) while open.
 * Errors: HD_E_IO (with a log line naming the path and the LMDB error; also when another
 * heraldd holds data_dir), HD_E_NOMEM, HD_E_STORE (data written by a newer heraldd: unknown
 * schema version; logged). */
hd_err_t hd_store_open(uv_loop_t *loop, const hd_store_opts_t *opts, hd_store_t **out);
/* Drains the queue (callbacks run, here), stops the writer, closes the environment and closes
 * the async handle (run the loop once more to finish closing it). Accepts NULL. */
void hd_store_close(hd_store_t *st);

/* ---- writes ---------------------------------------------------------------------------- */

typedef struct hd_store_batch hd_store_batch_t;

/* A new empty batch (owned by the caller until submitted). NULL when out of memory. */
hd_store_batch_t *hd_store_batch_new(hd_store_t *st);
/* Frees an unsubmitted batch. Accepts NULL. */
void hd_store_batch_free(hd_store_batch_t *b);

/* Appends an event to broker `broker_id`'s log. The sequence number is assigned now (the loop
 * thread owns the counters) and returned in *seq; it is durable only once the batch commits.
 * The event is packed now; the caller keeps ownership of `ev`. Errors: HD_E_NOMEM. */
hd_err_t hd_store_batch_event(hd_store_batch_t *b, uint32_t broker_id, const ce_event_t *ev,
                              uint64_t *seq);
/* Cursor of a trigger or subscription: every event <= seq is done. */
hd_err_t hd_store_batch_cursor(hd_store_batch_t *b, uint32_t trigger_id, uint64_t seq);

/* A pending retry record: the event failed at least once. */
typedef struct {
    uint32_t attempts;    /* attempts made so far */
    uint64_t due_ms;      /* wall-clock ms of the next attempt */
    int32_t last_status;  /* HTTP status of the last attempt, or -1 for a network error */
} hd_store_pending_t;
hd_err_t hd_store_batch_pending_put(hd_store_batch_t *b, uint32_t trigger_id, uint64_t seq,
                                    const hd_store_pending_t *p);
hd_err_t hd_store_batch_pending_del(hd_store_batch_t *b, uint32_t trigger_id, uint64_t seq);

/* A dead letter kept when no dead-letter sink is set: the last error. */
hd_err_t hd_store_batch_dead_put(hd_store_batch_t *b, uint32_t trigger_id, uint64_t seq,
                                 int32_t status, const char *error, size_t error_len);
hd_err_t hd_store_batch_dead_del(hd_store_batch_t *b, uint32_t trigger_id, uint64_t seq);

/* Resources (JSON text, copied). key is "kind/namespace/name". */
hd_err_t hd_store_batch_resource_put(hd_store_batch_t *b, const char *key, const char *json,
                                     size_t len);
hd_err_t hd_store_batch_resource_del(hd_store_batch_t *b, const char *key);
hd_err_t hd_store_batch_meta_put(hd_store_batch_t *b, const char *name, const void *val,
                                 size_t len);

/* Retention: delete broker_id's events with seq <= upto_seq, and those ingested before
 * older_than_wall_ms (0 = no age limit), never past upto_seq... (both bounds apply as "or"). */
hd_err_t hd_store_batch_trim(hd_store_batch_t *b, uint32_t broker_id, uint64_t upto_seq,
                             uint64_t older_than_wall_ms);
/* Deletes every record of a trigger (cursor, pending, dead): the trigger was deleted. */
hd_err_t hd_store_batch_forget_trigger(hd_store_batch_t *b, uint32_t trigger_id);

/*
 * Called on the loop thread once the batch is committed (and fsync'd under durability fsync),
 * or failed: HD_E_FULL (map full at its cap, or disk full: nothing of the batch was written;
 * batches that append events already fail when they would eat the last map_size_max/16 of the
 * map, kept so that retention and cursor moves can still commit), HD_E_IO. The batch is freed by
 * the store after the callback.
 */
typedef void (*hd_store_done_fn)(void *arg, hd_err_t status);

/*
 * Submits the batch (the store takes ownership, whatever the result). Errors, returned at once
 * with no callback: HD_E_BUSY when the queue is at queue_max (answer 503 with Retry-After),
 * HD_E_CLOSED when closing. The sequence numbers of a refused batch are not reused.
 */
hd_err_t hd_store_submit(hd_store_t *st, hd_store_batch_t *b, hd_store_done_fn cb, void *arg);

/* Listeners told after every committed batch that appended events, on the loop thread, with the
 * highest committed seq of each broker it touched (the dispatcher and `tail` use this). */
typedef void (*hd_store_commit_fn)(void *arg, uint32_t broker_id, uint64_t last_seq);
hd_err_t hd_store_on_commit(hd_store_t *st, hd_store_commit_fn fn, void *arg);
void hd_store_off_commit(hd_store_t *st, hd_store_commit_fn fn, void *arg);

/* ---- reads (loop thread) --------------------------------------------------------------- */

/* Highest committed seq of a broker (0 when its log is and always was empty). */
uint64_t hd_store_last_seq(hd_store_t *st, uint32_t broker_id);
/* Lowest seq still stored for a broker (0 when empty). */
uint64_t hd_store_first_seq(hd_store_t *st, uint32_t broker_id);
/* Number of events stored for a broker. */
uint64_t hd_store_event_count(hd_store_t *st, uint32_t broker_id);

/* Iterates broker events with seq >= from_seq, at most `max`. The callback gets a zero-copy view
 * of the packed event (valid only during the callback; unpack with ce_event_unpack) and returns
 * false to stop. Errors: HD_E_STORE. */
typedef bool (*hd_store_event_fn)(void *arg, uint64_t seq, uint64_t ingest_wall_ms,
                                  const uint8_t *packed, size_t len);
hd_err_t hd_store_events_scan(hd_store_t *st, uint32_t broker_id, uint64_t from_seq, size_t max,
                              hd_store_event_fn fn, void *arg);
/* One event, unpacked (free with ce_event_free). Errors: HD_E_NOTFOUND, HD_E_STORE. */
hd_err_t hd_store_event_get(hd_store_t *st, uint32_t broker_id, uint64_t seq, ce_event_t **out);
/* First seq whose ingest time is >= wall_ms (for `replay --from TIME`); last_seq+1 if none. */
uint64_t hd_store_seq_at_time(hd_store_t *st, uint32_t broker_id, uint64_t wall_ms);

/* Committed cursor of a trigger; false when none was ever written. */
bool hd_store_cursor_get(hd_store_t *st, uint32_t trigger_id, uint64_t *seq);

typedef bool (*hd_store_pending_fn)(void *arg, uint32_t trigger_id, uint64_t seq,
                                    const hd_store_pending_t *p);
/* Pending records of one trigger, in seq order. */
hd_err_t hd_store_pending_scan(hd_store_t *st, uint32_t trigger_id, hd_store_pending_fn fn,
                               void *arg);

typedef bool (*hd_store_dead_fn)(void *arg, uint32_t trigger_id, uint64_t seq, int32_t status,
                                 uint64_t wall_ms, const char *error, size_t error_len);
/* Dead letters of one trigger, in seq order. */
hd_err_t hd_store_dead_scan(hd_store_t *st, uint32_t trigger_id, hd_store_dead_fn fn, void *arg);

typedef bool (*hd_store_resource_fn)(void *arg, const char *key, const char *json, size_t len);
/* Every stored resource whose key starts with `prefix` ("" for all). */
hd_err_t hd_store_resources_scan(hd_store_t *st, const char *prefix, hd_store_resource_fn fn,
                                 void *arg);
/* A meta value copied into buf (at most cap bytes); returns its length, or -1 when absent. */
long hd_store_meta_get(hd_store_t *st, const char *name, void *buf, size_t cap);

/* Statistics for /metrics and `describe`: map size in use and its cap, queue depth, commits,
 * events per commit. */
typedef struct {
    uint64_t map_used, map_size, map_max; /* map_used: high-water mark of the data file */
    uint64_t queue_depth, commits, batches;
    uint64_t fsyncs; /* syncs to disk (fsync mode: one per commit, one more before idling) */
    uint64_t refused_busy; /* submits answered HD_E_BUSY (queue at queue_max) */
    uint64_t failed_full;  /* batches failed with HD_E_FULL (map at its cap, disk full) */
    uint64_t failed_other; /* batches failed otherwise (HD_E_IO, HD_E_STORE, HD_E_NOMEM) */
} hd_store_stats_t;
/* Any thread. */
void hd_store_stats(hd_store_t *st, hd_store_stats_t *out);

/* Publishes the statistics above on /metrics (herald_store_* gauges and counters, refreshed at
 * each render). hd_store_close detaches them; `m` must outlive the store. Loop thread.
 * Errors: HD_E_NOMEM. */
hd_err_t hd_store_metrics_attach(hd_store_t *st, hd_metrics_t *m);

/* Tests only: while paused the writer takes nothing from the queue (submits still queue up, and
 * answer HD_E_BUSY at queue_max), so a test can build a group deterministically. */
void hd_store__test_pause(hd_store_t *st, bool paused);

#endif /* HERALD_HD_STORE_H */
