/*
 * hd_dispatch.h — the dispatcher: delivers each broker's events to the triggers whose filter
 * matches, at least once, with Knative's delivery contract (DESIGN §5): retries with backoff,
 * Retry-After, timeouts, dead-letter sink, replies re-ingested with the knativebrokerttl guard,
 * bounded in-flight per trigger, optional ordering per partitionkey.
 *
 * Progress is durable: a cursor per trigger (everything <= it is done), pending records for
 * events that failed at least once, dead records when no DLS is set. After a restart dispatch
 * resumes from those. Events are routed once per broker through hd_router_match, so 10,000
 * triggers with exact type filters cost about what one does.
 * Loop thread only.
 */
#ifndef HERALD_HD_DISPATCH_H
#define HERALD_HD_DISPATCH_H

#include "hd.h"
#include "hd_resources.h"

/* How the dispatcher stores events in a log of this heraldd without an HTTP hop: a trigger's
 * reply into its broker, a subscription's reply into a local channel, a delivery to a local
 * broker, channel or flow. main wires it to the ingress. */
typedef struct {
    /* Stores n events (borrowed) into log `log_id`, all or none, and calls done(arg, status) on
     * the loop thread once they are durable (HD_E_OK) or failed. Errors returned at once, with no
     * callback: HD_E_NOTFOUND (no such log), HD_E_BUSY, HD_E_NOMEM, HD_E_CLOSED. */
    hd_err_t (*ingest)(void *ctx, uint32_t log_id, ce_event_t *const *evs, size_t n,
                       void (*done)(void *arg, hd_err_t status), void *arg);
    void *ctx;
} hd_dispatch_hooks_t;

/* Settings from the configuration; a zero field takes its default. */
typedef struct {
    uint64_t retention_ms;          /* max age of events of a log whose broker or channel sets
                                     * none (retention.max_age; default HD_CONFIG_RETENTION_MS) */
    uint64_t retention_interval_ms; /* how often retention runs (retention.interval; default
                                     * HD_CONFIG_RETENTION_INTERVAL_MS) */
    uint64_t retention_min_age_ms;  /* events every consumer is done with are kept this long
                                     * (retention.min_age), for replay; 0 here means none (the
                                     * configuration's default is HD_CONFIG_RETENTION_MIN_AGE) */
} hd_dispatch_opts_t;

/* Creates the dispatcher on `loop` and registers it as a commit watcher of `log`. It delivers
 * over `httpc` and publishes its series in `metrics` (NULL: none); loop, log, httpc and metrics
 * are borrowed and must outlive it. `opts` (NULL: defaults) and `hooks` are copied. It learns of
 * brokers, channels, triggers and subscriptions through hd_dispatch_observer(), which main
 * registers with the registry. Errors: HD_E_INVAL (loop, log or httpc NULL), HD_E_NOMEM, and
 * the log's errors from watching it. *out is set only on success. */
hd_err_t hd_dispatch_open(uv_loop_t *loop, hd_evlog_t *log, hd_httpc_t *httpc,
                          hd_metrics_t *metrics, const hd_dispatch_opts_t *opts,
                          const hd_dispatch_hooks_t *hooks, hd_dispatch_t **out);
/* Shutdown, first step: no delivery starts any more (a retry whose timer fires waits too; its
 * pending record is stored), while attempts already sent go on and record their results as
 * usual (cursor, pending, dead-letter). Poll hd_dispatch_in_flight until it is 0 or the drain
 * time is over, then call hd_dispatch_close. Accepts NULL. */
void hd_dispatch_drain(hd_dispatch_t *d);
/* Deliveries with an HTTP attempt or an in-process store under way. 0 for NULL. */
size_t hd_dispatch_in_flight(const hd_dispatch_t *d);
/* Writes every trigger's cursor, then cancels timers and in-flight deliveries (those are
 * redelivered after restart). */
void hd_dispatch_close(hd_dispatch_t *d);

/* The dispatcher's side of hd_resources_observer_t (arg: the hd_dispatch_t); a static table. */
const hd_resources_observer_t *hd_dispatch_observer(void);

/* The observer's callbacks, also callable directly (tests). A new trigger starts at its stored
 * cursor, or at its broker's current end when it has none (events from now on). */
void hd_dispatch_broker_added(hd_dispatch_t *d, hd_broker_t *b);
/* `drop`: the broker or channel is deleted, so its events are deleted too. */
void hd_dispatch_broker_removed(hd_dispatch_t *d, hd_broker_t *b, bool drop);
void hd_dispatch_trigger_added(hd_dispatch_t *d, hd_trigger_t *t);
/* Filter, subscriber or delivery changed; in-flight attempts finish under the old settings. */
void hd_dispatch_trigger_updated(hd_dispatch_t *d, hd_trigger_t *t);
/* Called before the trigger is freed: drops its runtime state and (delete=true) its records,
 * also when it never ran. */
void hd_dispatch_trigger_removed(hd_dispatch_t *d, hd_trigger_t *t, bool delete_records);

/* What a replay covers, for its answer. */
typedef struct {
    uint64_t from;            /* the first seq asked for (1 when 0 was asked) */
    uint64_t last;            /* the log's last seq: the replay runs up to it */
    uint64_t first_available; /* the first seq retention kept; 0: nothing stored */
    uint64_t gone;            /* seqs asked for that retention deleted: from..from+gone-1 */
    uint64_t events;          /* events stored in the range (read again by the trigger) */
    uint64_t replayed;        /* of those, the ones its filter passes: delivered again */
    bool replayed_exact; /* false: more than HD_DISPATCH_REPLAY_COUNT events to filter, replayed
                          * counts the rest unfiltered (an upper bound) */
} hd_dispatch_replay_info_t;
#define HD_DISPATCH_REPLAY_COUNT 10000

/* Re-delivers a trigger's events from `from_seq` on (replay): what retention kept of them, the
 * deleted ones said in info (may be NULL). Errors: HD_E_INVAL (the trigger is not running). */
hd_err_t hd_dispatch_replay(hd_dispatch_t *d, hd_trigger_t *t, uint64_t from_seq,
                            hd_dispatch_replay_info_t *info);
/* Moves dead letters of a trigger back to delivery: one seq, or all when seq is 0. Returns the
 * number moved. */
size_t hd_dispatch_dlq_replay(hd_dispatch_t *d, hd_trigger_t *t, uint64_t seq);

/* Bytes of a failing answer's body kept for stats (lastBody). */
#define HD_DISPATCH_BODY_EXCERPT 200

typedef struct {
    uint64_t cursor;    /* committed cursor */
    uint64_t backlog;   /* events the trigger matches and has not done yet (see backlog_exact) */
    bool backlog_exact; /* false: more events were left to filter than a stats call evaluates;
                         * backlog is then an upper bound (the unevaluated ones all counted) */
    uint64_t in_flight;
    uint64_t pending_retries;
    uint64_t delivered, failed, dead_lettered, dead;
    uint64_t awaiting_dead_letter_sink; /* exhausted their retries; wait for an unresolved sink */
    int last_status;      /* status of the last failed attempt, -1 network error, 0 none */
    char last_error[256]; /* "" when none */
    /* the subscriber's failing state: its latest attempt failed and none succeeded since */
    bool failing;
    uint64_t failing_since_ms; /* wall clock; 0 when not failing */
    uint64_t failed_attempts;  /* failed attempts since the last success */
    uint64_t last_attempt_ms;  /* wall clock of the latest attempt's outcome; 0: none yet */
    char last_body[HD_DISPATCH_BODY_EXCERPT + 1]; /* excerpt of the last failing answer's body
                                                   * (valid UTF-8, no control characters) */
} hd_dispatch_stats_t;
void hd_dispatch_trigger_stats(hd_dispatch_t *d, const hd_trigger_t *t, hd_dispatch_stats_t *out);

#endif /* HERALD_HD_DISPATCH_H */
