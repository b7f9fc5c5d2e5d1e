/*
 * hd_evlog.h — the event-log interface every log backend implements (LMDB, the embedded default;
 * later Kafka and NATS JetStream). A backend is a table of function pointers (hd_evlog_ops_t)
 * reached through the base struct hd_evlog_t that the backend embeds in its own; callers use
 * the inline wrappers below and never see a backend header.
 *
 * A log belongs to a broker (or channel) and is named by its numeric id, `log_id`; its events
 * carry increasing sequence numbers from 1, never reused. Consumer progress (a trigger's or
 * subscription's cursor, pending retries and dead letters) is named by `sub_id` and written in
 * progress transactions.
 *
 * Threads: every function is for the loop thread, and every callback runs on it.
 */
#ifndef HERALD_HD_EVLOG_H
#define HERALD_HD_EVLOG_H

#include "hd.h"

/* When an append's (or a transaction's) done callback runs. Declared here rather than in the
 * config or a backend header because it is the meaning of "done" in this interface: the config
 * chooses it and every backend interprets it, and neither needs to include the other. */
typedef enum {
    HD_DURABILITY_FSYNC, /* done once the write is on disk (default) */
    HD_DURABILITY_BATCH, /* done after the write; synced to disk every sync interval */
    HD_DURABILITY_NONE,  /* never synced by us (tests, benchmarks of the rest) */
} hd_durability_t;

typedef struct hd_evlog hd_evlog_t;
typedef struct hd_evlog_txn hd_evlog_txn_t;

/* Done callback of an append: status HD_E_OK with the sequence of the first appended event (the
 * others follow it one by one), or a failure with first_seq 0: HD_E_FULL (no room: nothing was
 * written), HD_E_IO, HD_E_STORE, HD_E_NOMEM. Loop thread. */
typedef void (*hd_evlog_append_fn)(void *arg, hd_err_t status, uint64_t first_seq);

/* Done callback of a progress transaction, trim or drop: HD_E_OK once committed (durable as the
 * durability mode says), or HD_E_FULL, HD_E_IO, HD_E_STORE, HD_E_NOMEM. Loop thread. */
typedef void (*hd_evlog_done_fn)(void *arg, hd_err_t status);

/* One event handed out by a read: `ev` is owned by the callback (free with ce_event_free), or
 * NULL when the stored record is corrupt (bad checksum, undecodable): it must never be
 * delivered; log->corrupt_why says why during the call. Out of memory while decoding stops the
 * read with HD_E_NOMEM instead. Return false to stop the read. */
typedef bool (*hd_evlog_event_fn)(void *arg, uint64_t seq, uint64_t ingest_wall_ms, ce_event_t *ev);

/* Told after every committed append, with the highest committed seq of the log it touched (a
 * commit may report several logs, one call each). Loop thread. */
typedef void (*hd_evlog_commit_fn)(void *arg, uint32_t log_id, uint64_t last_seq);

/* A pending retry record: the event failed at least once. */
typedef struct {
    uint32_t attempts;   /* attempts made so far */
    uint64_t due_ms;     /* wall-clock ms of the next attempt */
    int32_t last_status; /* HTTP status of the last attempt, or -1 for a network error */
    /* excerpt of the last failed answer's body (knativeerrordata of a later dead letter): copied
     * by txn_pending, borrowed for the length of a pending_scan callback; may be NULL / 0 */
    const char *body;
    size_t body_len;
} hd_evlog_pending_t;

typedef bool (*hd_evlog_pending_fn)(void *arg, uint32_t sub_id, uint64_t seq,
                                    const hd_evlog_pending_t *p);
/* `error` is borrowed, valid only during the callback, not NUL-terminated. */
typedef bool (*hd_evlog_dead_fn)(void *arg, uint32_t sub_id, uint64_t seq, int32_t status,
                                 uint64_t wall_ms, const char *error, size_t error_len);

typedef struct hd_evlog_ops {
    const char *name; /* the backend, for logs: "lmdb" */

    /* ---- the log of a broker or channel ---- */

    /* Appends n events (borrowed: encoded before the call returns) to `log_id`, in order; `done`
     * gets the first sequence once the events are durable (n == 0: HD_E_OK and first_seq 0,
     * in order with the other writes). Errors returned at once, with no
     * callback and nothing appended: HD_E_INVAL (an event that cannot be encoded),
     * HD_E_NOMEM, HD_E_BUSY (write queue at its bound: answer 503 with Retry-After),
     * HD_E_CLOSED. Sequences of a refused append are never handed out again. */
    hd_err_t (*append)(hd_evlog_t *log, uint32_t log_id, ce_event_t *const *evs, size_t n,
                       hd_evlog_append_fn done, void *arg);
    /* Reads committed events with seq >= from_seq, at most `max`, in seq order (see
     * hd_evlog_event_fn). Errors: HD_E_INVAL, HD_E_NOMEM, HD_E_STORE (a read error). */
    hd_err_t (*read)(hd_evlog_t *log, uint32_t log_id, uint64_t from_seq, size_t max,
                     hd_evlog_event_fn fn, void *arg);
    /* One event, owned by the caller (free with ce_event_free). Errors: HD_E_NOTFOUND,
     * HD_E_NOMEM, HD_E_CORRUPT (bad checksum or undecodable record: log->corrupt_why says why
     * until the next call), HD_E_STORE (read error). */
    hd_err_t (*get)(hd_evlog_t *log, uint32_t log_id, uint64_t seq, ce_event_t **out);
    /* Lowest seq still stored (0 when empty), highest committed seq (0 when the log is and
     * always was empty) and the number of events stored. Any pointer may be NULL. */
    void (*bounds)(hd_evlog_t *log, uint32_t log_id, uint64_t *first, uint64_t *last,
                   uint64_t *count);
    /* First seq whose ingest time is >= wall_ms (for `replay --from TIME`); last + 1 if none. */
    uint64_t (*seq_at_time)(hd_evlog_t *log, uint32_t log_id, uint64_t wall_ms);
    /* Adds a commit listener (hd_evlog_commit_fn); a listener may add or remove listeners from
     * inside its call. Errors: HD_E_INVAL, HD_E_NOMEM. */
    hd_err_t (*watch)(hd_evlog_t *log, hd_evlog_commit_fn fn, void *arg);
    /* Removes the listener registered with the same fn and arg (none: nothing happens). */
    void (*unwatch)(hd_evlog_t *log, hd_evlog_commit_fn fn, void *arg);
    /* Retention: deletes the events of `log_id` with seq <= upto_seq, and those ingested before
     * older_than_wall_ms (0 = no age limit); either bound suffices. `done` may be NULL. A no-op
     * where the backend's own retention governs. Errors at once as for append. */
    hd_err_t (*trim)(hd_evlog_t *log, uint32_t log_id, uint64_t upto_seq,
                     uint64_t older_than_wall_ms, hd_evlog_done_fn done, void *arg);
    /* Deletes every event of `log_id`: its broker or channel was deleted. The log's sequence
     * numbers are still never reused. `done` may be NULL. Errors at once as for append. */
    hd_err_t (*drop)(hd_evlog_t *log, uint32_t log_id, hd_evlog_done_fn done, void *arg);

    /* ---- consumer progress: grouped writes, committed together ---- */

    /* A new empty transaction, owned by the caller until submitted (or freed with txn_free).
     * NULL when out of memory. */
    hd_evlog_txn_t *(*txn_new)(hd_evlog_t *log);
    /* Frees an unsubmitted transaction. Accepts NULL. */
    void (*txn_free)(hd_evlog_txn_t *txn);
    /* Sets the cursor of `sub_id`: every event <= seq is done. Errors: HD_E_INVAL, HD_E_NOMEM. */
    hd_err_t (*txn_cursor)(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq);
    /* Writes (p copied) or, with p NULL, deletes the pending record of (sub_id, seq).
     * Errors: HD_E_INVAL, HD_E_NOMEM. */
    hd_err_t (*txn_pending)(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq,
                            const hd_evlog_pending_t *p);
    /* Writes a dead letter for (sub_id, seq) with the last status and error text (copied; time
     * is now). Errors: HD_E_INVAL, HD_E_NOMEM. */
    hd_err_t (*txn_dead_put)(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq, int32_t status,
                             const char *error, size_t error_len);
    /* Deletes the dead letter of (sub_id, seq), if any. Errors: HD_E_INVAL, HD_E_NOMEM. */
    hd_err_t (*txn_dead_del)(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq);
    /* Deletes every record of `sub_id` (cursor, pending, dead): it was deleted, or its log is
     * gone. Errors: HD_E_INVAL, HD_E_NOMEM. */
    hd_err_t (*txn_forget)(hd_evlog_txn_t *txn, uint32_t sub_id);
    /* Submits the transaction: the backend takes ownership whatever the result. `done` may be
     * NULL. Errors returned at once with no callback: HD_E_INVAL, HD_E_BUSY (write queue at its
     * bound), HD_E_CLOSED. */
    hd_err_t (*txn_submit)(hd_evlog_txn_t *txn, hd_evlog_done_fn done, void *arg);
    /* Committed cursor of `sub_id`; false when none was ever written. `seq` may be NULL. */
    bool (*cursor_get)(hd_evlog_t *log, uint32_t sub_id, uint64_t *seq);
    /* Pending records of `sub_id`, in seq order; fn returns false to stop. Errors: HD_E_INVAL,
     * HD_E_STORE. */
    hd_err_t (*pending_scan)(hd_evlog_t *log, uint32_t sub_id, hd_evlog_pending_fn fn, void *arg);
    /* Dead letters of `sub_id`, in seq order; fn returns false to stop. Errors: HD_E_INVAL,
     * HD_E_STORE. */
    hd_err_t (*dead_scan)(hd_evlog_t *log, uint32_t sub_id, hd_evlog_dead_fn fn, void *arg);

    /* ---- room ---- */

    /* True while appends are refused for lack of room (they fail HD_E_FULL) until trims free
     * some: /readyz answers 503 and retention runs early meanwhile. NULL: never full. */
    bool (*full)(hd_evlog_t *log);
} hd_evlog_ops_t;

/* The base of every backend object: the backend embeds it and recovers itself with
 * hd_container_of. */
struct hd_evlog {
    const hd_evlog_ops_t *ops;
    const char *corrupt_why; /* static text: why the last record handed out as corrupt was */
};

/* The base of every progress transaction (embedded likewise): the log it writes to. */
struct hd_evlog_txn {
    hd_evlog_t *log;
};

/* ---- wrappers: one per operation, same contract as the table entry ---------------------- */

static inline hd_err_t hd_evlog_append(hd_evlog_t *log, uint32_t log_id, ce_event_t *const *evs,
                                       size_t n, hd_evlog_append_fn done, void *arg)
{
    return log->ops->append(log, log_id, evs, n, done, arg);
}

static inline hd_err_t hd_evlog_read(hd_evlog_t *log, uint32_t log_id, uint64_t from_seq,
                                     size_t max, hd_evlog_event_fn fn, void *arg)
{
    return log->ops->read(log, log_id, from_seq, max, fn, arg);
}

static inline hd_err_t hd_evlog_get(hd_evlog_t *log, uint32_t log_id, uint64_t seq,
                                    ce_event_t **out)
{
    return log->ops->get(log, log_id, seq, out);
}

static inline void hd_evlog_bounds(hd_evlog_t *log, uint32_t log_id, uint64_t *first,
                                   uint64_t *last, uint64_t *count)
{
    log->ops->bounds(log, log_id, first, last, count);
}

/* Lowest seq still stored (0 when empty). */
static inline uint64_t hd_evlog_first_seq(hd_evlog_t *log, uint32_t log_id)
{
    uint64_t first = 0;
    log->ops->bounds(log, log_id, &first, NULL, NULL);
    return first;
}

/* Highest committed seq (0 when the log is and always was empty). */
static inline uint64_t hd_evlog_last_seq(hd_evlog_t *log, uint32_t log_id)
{
    uint64_t last = 0;
    log->ops->bounds(log, log_id, NULL, &last, NULL);
    return last;
}

/* Number of events stored. */
static inline uint64_t hd_evlog_count(hd_evlog_t *log, uint32_t log_id)
{
    uint64_t count = 0;
    log->ops->bounds(log, log_id, NULL, NULL, &count);
    return count;
}

static inline uint64_t hd_evlog_seq_at_time(hd_evlog_t *log, uint32_t log_id, uint64_t wall_ms)
{
    return log->ops->seq_at_time(log, log_id, wall_ms);
}

static inline hd_err_t hd_evlog_watch(hd_evlog_t *log, hd_evlog_commit_fn fn, void *arg)
{
    return log->ops->watch(log, fn, arg);
}

static inline void hd_evlog_unwatch(hd_evlog_t *log, hd_evlog_commit_fn fn, void *arg)
{
    log->ops->unwatch(log, fn, arg);
}

/* Appends are refused for lack of room (see hd_evlog_ops_t.full). Accepts NULL (false). */
static inline bool hd_evlog_full(hd_evlog_t *log)
{
    return log && log->ops->full && log->ops->full(log);
}

static inline hd_err_t hd_evlog_trim(hd_evlog_t *log, uint32_t log_id, uint64_t upto_seq,
                                     uint64_t older_than_wall_ms, hd_evlog_done_fn done, void *arg)
{
    return log->ops->trim(log, log_id, upto_seq, older_than_wall_ms, done, arg);
}

static inline hd_err_t hd_evlog_drop(hd_evlog_t *log, uint32_t log_id, hd_evlog_done_fn done,
                                     void *arg)
{
    return log->ops->drop(log, log_id, done, arg);
}

static inline hd_evlog_txn_t *hd_evlog_txn_new(hd_evlog_t *log)
{
    return log->ops->txn_new(log);
}

/* Accepts NULL. */
static inline void hd_evlog_txn_free(hd_evlog_txn_t *txn)
{
    if (txn)
        txn->log->ops->txn_free(txn);
}

static inline hd_err_t hd_evlog_txn_cursor(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq)
{
    return txn->log->ops->txn_cursor(txn, sub_id, seq);
}

static inline hd_err_t hd_evlog_txn_pending_put(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq,
                                                const hd_evlog_pending_t *p)
{
    return p ? txn->log->ops->txn_pending(txn, sub_id, seq, p) : HD_E_INVAL;
}

static inline hd_err_t hd_evlog_txn_pending_del(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq)
{
    return txn->log->ops->txn_pending(txn, sub_id, seq, NULL);
}

static inline hd_err_t hd_evlog_txn_dead_put(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq,
                                             int32_t status, const char *error, size_t error_len)
{
    return txn->log->ops->txn_dead_put(txn, sub_id, seq, status, error, error_len);
}

static inline hd_err_t hd_evlog_txn_dead_del(hd_evlog_txn_t *txn, uint32_t sub_id, uint64_t seq)
{
    return txn->log->ops->txn_dead_del(txn, sub_id, seq);
}

static inline hd_err_t hd_evlog_txn_forget(hd_evlog_txn_t *txn, uint32_t sub_id)
{
    return txn->log->ops->txn_forget(txn, sub_id);
}

static inline hd_err_t hd_evlog_txn_submit(hd_evlog_txn_t *txn, hd_evlog_done_fn done, void *arg)
{
    return txn->log->ops->txn_submit(txn, done, arg);
}

static inline bool hd_evlog_cursor_get(hd_evlog_t *log, uint32_t sub_id, uint64_t *seq)
{
    return log->ops->cursor_get(log, sub_id, seq);
}

static inline hd_err_t hd_evlog_pending_scan(hd_evlog_t *log, uint32_t sub_id,
                                             hd_evlog_pending_fn fn, void *arg)
{
    return log->ops->pending_scan(log, sub_id, fn, arg);
}

static inline hd_err_t hd_evlog_dead_scan(hd_evlog_t *log, uint32_t sub_id, hd_evlog_dead_fn fn,
                                          void *arg)
{
    return log->ops->dead_scan(log, sub_id, fn, arg);
}

#endif /* HERALD_HD_EVLOG_H */
