/*
 * dispatch_internal.h — what the dispatcher's files share (hd_dispatch.h is the public side).
 * Only broker/dispatch*.c and the dispatcher's unit tests include it.
 *
 *  - dispatch.c           API, lifecycle, the resources observer callbacks, replay, DLQ, stats
 *  - dispatch_route.c     reading each commit once, routing, attach/detach, windowed catch-up
 *  - dispatch_delivery.c  attempts, answers, retries, dead-letter phase, replies, in-process hops
 *  - dispatch_decide.c    the delivery decisions as a pure step function (no loop, no socket)
 *  - dispatch_progress.c  trigger queue, low-water mark, cursor flush, progress transactions,
 *                         retention calls
 *
 * A "trigger" here is any cursor consumer (a Trigger or a Subscription) and a "broker" any log
 * with consumers (a Broker or a Channel). Everything is loop thread only, except
 * hd_dispatch__decide, which is pure.
 */
#ifndef HERALD_DISPATCH_INTERNAL_H
#define HERALD_DISPATCH_INTERNAL_H

#include "hd.h"
#include "hd_dispatch.h"
#include "hd_evlog.h"
#include "hd_httpc.h"
#include "hd_metrics.h"
#include "herald/ce_http.h"

#define HD_DISPATCH__FLUSH_MS 50
#define HD_DISPATCH__IDLE_CURSOR_MS 30000
/* how often retention runs while the store is full (hd_evlog_full), if more often than set */
#define HD_DISPATCH__FULL_RETENTION_MS 1000
#define HD_DISPATCH__WORK_BUDGET 4096 /* events read per loop turn by the work handle */
#define HD_DISPATCH__ROUTE_WINDOW 512 /* events per log read of a detached trigger */
#define HD_DISPATCH__QCAP_MIN 64
#define HD_DISPATCH__QCAP_MAX 4096
/* bytes of a failed answer's body kept for knativeerrordata and the dead table's error */
#define HD_DISPATCH__ERRDATA_MAX 1024
/* bound on Retry-After when the delivery's retryAfterMax is unset */
#define HD_DISPATCH__RETRY_AFTER_CAP_MS (3600u * 1000u)
/* bounds on the wait between dead-letter attempts */
#define HD_DISPATCH__DLS_RETRY_MIN_MS 1000u
#define HD_DISPATCH__DLS_RETRY_CAP_MS (300u * 1000u)
/* the wait between looks at an unresolved dead-letter sink, for an event that awaits it */
#define HD_DISPATCH__DLS_AWAIT_MS 2000u
/* the wait when an attempt cannot start for a local reason (unresolved subscriber, memory) */
#define HD_DISPATCH__LATER_MS 1000u
#define HD_DISPATCH__DEFAULT_TTL 255
/* events filtered to count one trigger's backlog (stats), and for all of them at one render of
 * /metrics; past these the backlog is an upper bound */
#define HD_DISPATCH__BACKLOG_SCAN 1000
#define HD_DISPATCH__BACKLOG_SCAN_RENDER 10000

typedef struct broker_run broker_run_t;
typedef struct trigger_run trigger_run_t;
typedef struct delivery delivery_t;

/* An event read from the log once and shared by every trigger that routes it (refcounted). */
typedef struct shared_event {
    uint32_t refs;
    uint64_t seq;
    ce_event_t *ev;
    uint32_t keyhash;  /* FNV-1a of partitionkey; 0 when absent (the trigger-wide key) */
    bool enc_ok[2][2]; /* [structured][strict] */
    ce_http_out_t enc[2][2];
} shared_event_t;

/* One event a trigger owes: in flight, waiting for a retry, or storing a reply. */
struct delivery {
    trigger_run_t *tr;     /* NULL once the trigger stopped while a store was pending */
    shared_event_t *e;     /* the event; NULL until loaded (restored pending records) */
    shared_event_t *dls_e; /* the event with knativeerror* added, in the dead-letter phase */
    uint64_t seq;
    uint32_t keyhash;
    uint32_t attempts; /* attempts made to the subscriber */
    uint32_t dls_attempts;
    bool replayed_dead;      /* a dead letter replayed: not part of the low-water mark */
    bool to_dls;             /* in the dead-letter phase */
    bool awaiting_dls;       /* in it, waiting for an unresolved sink (counted in the trigger) */
    bool had_pending;        /* a pending record was written */
    bool waiting;            /* waiting for a retry timer */
    bool in_ingest;          /* a reply or an in-process delivery is being stored */
    bool local;              /* an in-process delivery is being stored (counted as 202/503) */
    ce_http_out_t reply_enc; /* a subscription's reply being sent to its reply URI */
    bool reply_enc_ok;
    int last_status;
    char *last_body;
    size_t last_body_len;
    char last_err[128];
    hd_httpc_call_t *call;
    uv_timer_t *timer;
    uint64_t started_ms;
    delivery_t *next, *prev;
};

typedef struct {
    int code;
    hd_metric_t *m;
} code_metric_t;

/* The runtime state of one Trigger or Subscription. */
struct trigger_run {
    hd_dispatch_t *d;
    hd_trigger_t *t; /* borrowed until hd_dispatch_trigger_removed */
    broker_run_t *br;
    uint32_t id;
    char *ns, *name;
    const char *kind_label; /* metric label name: "trigger" or "subscription" */
    const char *log_label;  /* metric label name of its log: "broker" or "channel" */
    char *log_name;         /* the name of its broker or channel (a metric label) */
    /* settings snapshot (trigger_updated refreshes it) */
    hd_delivery_t dl;
    char *sub_uri;
    uint32_t sub_log; /* non-zero: deliver in process into this log */
    char *reply_uri;  /* subscriptions: where replies go (NULL: dropped, or reply_log) */
    uint32_t reply_log;
    bool subscription;
    char *dls_uri;
    /* routed, not yet dispatched: a ring in seq order */
    shared_event_t **q;
    size_t q_head, q_len, qcap;
    bool attached;
    uint64_t start_seq; /* attached: events below are skipped (restart, new trigger) */
    uint64_t next_seq;  /* detached: next event to read */
    bool in_work;
    trigger_run_t *work_next;
    /* dead letters replayed (hd_dispatch_dlq_replay), pumped from the end */
    uint64_t *replayed_dead_q;
    size_t replayed_dead_n, replayed_dead_cap;
    /* restored pending seqs (sorted), skipped by routing */
    uint64_t *restored;
    size_t nrestored;
    /* deliveries (in flight, waiting for a retry, storing a reply) */
    delivery_t *deliveries;
    size_t nlive, ninflight, nwaiting;
    /* cursor */
    uint64_t cursor_stored;
    bool dirty; /* in the dispatcher's dirty list */
    trigger_run_t *dirty_next, *dirty_prev;
    /* stats */
    uint64_t delivered, failed, dead_lettered, dead;
    uint64_t awaiting_dls; /* deliveries with awaiting_dls */
    hd_metric_t *m_awaiting_dls;
    int last_status;
    char last_error[256];
    /* failing state of the subscriber: attempts to it since its last success (the dead-letter
     * phase is not counted: the subscriber already failed) */
    bool failing;
    uint64_t failing_since_ms; /* wall clock of the first failed attempt since the last success */
    uint64_t failed_attempts;  /* failed attempts since the last success */
    uint64_t last_attempt_ms;  /* wall clock of the last answered (or failed) attempt; 0: none */
    char last_body[HD_DISPATCH_BODY_EXCERPT + 1]; /* the last failing answer's body, sanitized */
    /* metrics */
    code_metric_t codes[16];
    size_t ncodes;
    hd_metric_t *m_latency, *m_backlog, *m_dls, *m_dead;
    hd_metric_t *m_reply_drop;            /* subscriptions: replies with no reply destination */
    hd_metric_t *m_matched, *m_evaluated; /* events its filter passed / was asked about */
    uint64_t evaluated;   /* events evaluated while detached, and while attached before the mark */
    uint64_t routed_mark; /* the broker's routed count when it last attached */
    trigger_run_t *next;  /* in the broker's list */
    trigger_run_t *det_next, *det_prev; /* in the broker's list of detached triggers */
    bool removed;
    bool pumping, repump;
    bool may_have_dead; /* the dead table may hold records of this trigger */
};

/* The runtime state of one Broker or Channel log. */
struct broker_run {
    hd_dispatch_t *d;
    hd_broker_t *b;
    uint32_t id;
    uint64_t routed_next;
    uint64_t last_seq;
    bool unrouted; /* nothing routed since start: a trigger added now may lower routed_next */
    bool in_work;
    broker_run_t *work_next;
    trigger_run_t *triggers;
    size_t ntriggers;
    trigger_run_t *detached; /* triggers reading the log for themselves */
    size_t ndetached;
    broker_run_t *next;
    uint64_t routed; /* events run through the router (each once): attached triggers' evaluated */
    hd_metric_t *m_ttl_drop;
};

struct hd_dispatch {
    uv_loop_t *loop;       /* borrowed */
    hd_evlog_t *log;       /* borrowed */
    hd_httpc_t *httpc;     /* borrowed */
    hd_metrics_t *metrics; /* borrowed; NULL: no series */
    uint64_t retention_ms, retention_interval_ms, retention_min_age_ms;
    hd_dispatch_hooks_t hooks;
    broker_run_t *brokers;
    uv_timer_t flush_timer;
    uv_idle_t work;
    broker_run_t *bwork;
    trigger_run_t *twork, *twork_tail;
    trigger_run_t *dirty; /* triggers whose low-water mark may have moved */
    hd_evlog_txn_t *batch;
    size_t batch_ops;
    uint64_t last_idle_flush;
    uint64_t last_retention;
    int closing_handles;
    bool closed;
    bool draining; /* hd_dispatch_drain: no new attempt starts */
};

/* ---- dispatch_route.c ---------------------------------------------------------------- */

/* A shared event for `ev` (takes ownership of ev) with one reference; NULL when out of memory
 * (ev is then still the caller's). */
shared_event_t *hd_dispatch__event_new(uint64_t seq, ce_event_t *ev);
/* Drops one reference; frees the event and its encodings with the last. Accepts NULL. */
void hd_dispatch__event_unref(shared_event_t *e);
/* Attaches a trigger to its broker's shared routing, or detaches it (it then reads the log
 * itself); keeps the broker's list of detached triggers. */
void hd_dispatch__set_attached(trigger_run_t *tr, bool attached);
/* Queues a trigger (catch-up read and pump) or a broker (routing) for the work handle. */
void hd_dispatch__schedule_trigger_work(hd_dispatch_t *d, trigger_run_t *tr);
void hd_dispatch__schedule_broker_work(hd_dispatch_t *d, broker_run_t *br);
/* The broker run of log `id`, NULL when the dispatcher does not know it. */
broker_run_t *hd_dispatch__broker_by_id(hd_dispatch_t *d, uint32_t id);
/* The log's commit watcher (arg: the hd_dispatch_t): routes the new events. */
void hd_dispatch__on_commit(void *arg, uint32_t log_id, uint64_t last_seq);

/* ---- dispatch_progress.c ------------------------------------------------------------- */

static inline bool hd_dispatch__q_full(const trigger_run_t *tr)
{
    return tr->q_len >= tr->qcap;
}

static inline shared_event_t *hd_dispatch__q_at(const trigger_run_t *tr, size_t i)
{
    return tr->q[(tr->q_head + i) % tr->qcap];
}

/* Appends a reference to `e` (the caller keeps its own); false when full or out of memory. */
bool hd_dispatch__q_push(trigger_run_t *tr, shared_event_t *e);
/* Removes entry i (0 = head) without dropping its reference, keeping the others' order. */
void hd_dispatch__q_remove(trigger_run_t *tr, size_t i);
/* Drops every queued event. */
void hd_dispatch__q_clear(trigger_run_t *tr);
/* Whether `seq` is a pending record restored at start (routing skips it). */
bool hd_dispatch__restored_has(const trigger_run_t *tr, uint64_t seq);
/* The trigger's low-water mark: everything <= it is done. */
uint64_t hd_dispatch__lwm(const trigger_run_t *tr);
/* The trigger's mark may have moved: its cursor is written at the next flush. */
void hd_dispatch__mark_dirty(trigger_run_t *tr);
void hd_dispatch__unmark_dirty(trigger_run_t *tr);
/* Adds the trigger's cursor to the progress transaction when its mark moved. */
void hd_dispatch__flush_cursor(trigger_run_t *tr);
/* The open progress transaction (cursors, pending, dead, forget), created on demand; NULL when
 * out of memory. Count each op added in d->batch_ops. */
hd_evlog_txn_t *hd_dispatch__txn(hd_dispatch_t *d);
/* Submits the progress transaction (a no-op when empty). */
void hd_dispatch__txn_submit(hd_dispatch_t *d);
/* The stored record of `seq` is corrupt (why: the log's reason): writes a dead record for the
 * trigger instead of a delivery, counts it and logs it with seq, broker and trigger. */
void hd_dispatch__quarantine(trigger_run_t *tr, uint64_t seq, const char *why);
/* The smallest dead seq of a trigger, 0 when it has none. */
uint64_t hd_dispatch__first_dead(hd_dispatch_t *d, uint32_t trigger_id);
/* The flush timer: dirty cursors every FLUSH_MS, all every IDLE_CURSOR_MS, then retention. */
void hd_dispatch__flush_cb(uv_timer_t *t);

/* ---- dispatch_delivery.c ------------------------------------------------------------- */

/* A delivery of `seq` linked into the trigger; takes the caller's reference to `e` (NULL: loaded
 * from the log at the first attempt). NULL when out of memory. */
delivery_t *hd_dispatch__delivery_new(trigger_run_t *tr, uint64_t seq, shared_event_t *e);
/* Writes a pending record and attempts again after delay_ms. */
void hd_dispatch__delivery_schedule(delivery_t *v, uint64_t delay_ms);
/* Unlinks and frees a delivery (its call must be cancelled already). */
void hd_dispatch__delivery_free(delivery_t *v);
/* Counts a delivery in (or out of) its trigger's awaitingDeadLetterSink. */
void hd_dispatch__set_awaiting_dls(delivery_t *v, bool awaiting);
/* Starts deliveries while the trigger has free slots. */
void hd_dispatch__pump(trigger_run_t *tr);

/* ---- dispatch_decide.c: the delivery decisions, a pure step function ----------------- */

/* What just happened to a delivery. */
typedef enum {
    HD_DISPATCH__FACT_READY,  /* no attempt running: about to attempt (first time, after a wait,
                               * after a restart) */
    HD_DISPATCH__FACT_ANSWER, /* the subscriber or the dead-letter sink answered over HTTP */
    HD_DISPATCH__FACT_STORED, /* the reply destination or an in-process log took the event */
    HD_DISPATCH__FACT_FAILED, /* no usable answer: network error, timeout, cannot send, storing
                               * in process failed, the reply destination refused */
} hd_dispatch__fact_t;

/* The facts about one delivery that the decisions depend on; borrowed, never kept. */
typedef struct {
    hd_dispatch__fact_t what;
    bool to_dls;             /* the delivery is in its dead-letter phase */
    bool has_dls;            /* the trigger has a dead-letter sink */
    bool dls_unresolved;     /* it has one that does not resolve yet: wait for it */
    bool has_subscriber;     /* the subscriber is resolved */
    uint32_t attempts;       /* attempts made to the subscriber, counting the one answered */
    uint32_t dls_attempts;   /* failed attempts to the dead-letter sink before this fact */
    int status;              /* ANSWER: the HTTP status; FAILED: the status to record (the reply
                              * destination's, 503 or 404 from storing; <= 0: no answer) */
    bool body_is_event;      /* ANSWER: ce-specversion or application/cloudevents* (looked at only
                              * for 200 and 201) */
    bool reply_bad;          /* ANSWER: it claimed a CloudEvent but is not exactly one event */
    size_t body_len;         /* ANSWER */
    const char *retry_after; /* ANSWER: the Retry-After header of a 429 or 503, NULL if none */
    size_t retry_after_len;
} hd_dispatch__facts_t;

/* What to do next. */
typedef enum {
    HD_DISPATCH__SEND,           /* attempt now: the subscriber, or the sink when to_dls */
    HD_DISPATCH__WAIT,           /* attempt again after delay_ms without using an attempt */
    HD_DISPATCH__DELIVERED,      /* done: the subscriber (and the reply path) took it */
    HD_DISPATCH__DEAD_LETTERED,  /* done: the dead-letter sink took it */
    HD_DISPATCH__REPLY,          /* forward the answer's event, then decide on STORED/FAILED */
    HD_DISPATCH__RETRY,          /* a failed attempt: attempt again after delay_ms, kept pending
                                  * (in the dead-letter phase it counts one more dls attempt) */
    HD_DISPATCH__TO_DEAD_LETTER, /* attempts used up: build the dead letter and send it */
    HD_DISPATCH__TO_DEAD_TABLE,  /* attempts used up and no sink: keep it for `herald dlq` */
} hd_dispatch__action_t;

typedef struct {
    hd_dispatch__action_t action;
    uint64_t delay_ms; /* WAIT, RETRY */
    bool failed;       /* the fact is a failed attempt: count it and record `status` */
    int status;        /* when failed: the status to record, -1 for no answer, 502 for a 200
                        * whose body is not a CloudEvent */
    const char *why;   /* when failed for a reason the status does not say; static, or NULL */
} hd_dispatch__decision_t;

/* The delivery contract in one place: given the trigger's delivery settings (dl; its
 * dead_letter_uri is ignored, facts->has_dls says), the facts and the wall clock (for an
 * HTTP-date Retry-After), returns what to do. Pure: no I/O, any thread.
 *  - 2xx is delivered; a 200/201 carrying a CloudEvent is a reply; a 200 with a body that is
 *    not one is a failure recorded as 502 (a proxy's page, not the subscriber's answer).
 *  - A failure is retried while hd_status_retryable and attempts <= dl->retry, after
 *    hd_backoff_delay_ms or the Retry-After of a 429/503 (capped by retryAfterMax, else an
 *    hour) when longer; then the dead-letter sink when set, else the dead table.
 *  - In the dead-letter phase a failure keeps the event pending: the backoff of the dls
 *    attempt bounded to [1 s, 5 min], or a longer Retry-After. A sink removed meanwhile sends it
 *    to the dead table.
 *  - An unresolved subscriber is waited for (1 s) without using an attempt.
 *  - Attempts used up while the sink is set but unresolved: the dead-letter phase starts and
 *    waits (DLS_AWAIT_MS at a time, kept pending) until the sink resolves; never the dead table. */
hd_dispatch__decision_t hd_dispatch__decide(const hd_delivery_t *dl,
                                            const hd_dispatch__facts_t *facts,
                                            uint64_t now_wall_ms);

#endif /* HERALD_DISPATCH_INTERNAL_H */
