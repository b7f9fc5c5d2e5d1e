/*
 * dispatch.c — the dispatcher (hd_dispatch.h).
 *
 * Routing is lazy, so triggers that do not match cost nothing per event:
 *  - Each broker has `routed_next`: every event below it has been routed. On a commit the new
 *    events are read from the store ONCE, unpacked once (a shared, refcounted `evref_t`) and run
 *    through the broker's router, which only evaluates candidate triggers. A matching trigger
 *    gets the evref appended to its queue.
 *  - A trigger is "attached" while it follows the shared routing. When its queue is full (its
 *    subscriber is slow or down) it detaches: it remembers `next_seq` and later reads the store
 *    itself, in windows, as slots free up, evaluating only its own filter; when it reaches the
 *    broker's `routed_next` it attaches again. So a 1,000,000-event backlog costs a queue of at
 *    most QCAP events plus maxInFlight deliveries in memory, never the backlog.
 *  - A trigger's durable cursor is its low-water mark: one below the smallest event it still
 *    owes (queued, in flight or waiting for a retry), or its routing position when it owes
 *    nothing. Cursors are written in one batched store write every FLUSH_MS for the triggers
 *    whose mark moved because of a delivery, and for idle triggers (which follow the broker's
 *    routing without per-event work) every IDLE_CURSOR_MS. After a restart every trigger
 *    starts from its cursor; routing restarts at the broker's smallest cursor and each trigger
 *    skips events below its own start.
 *  - Retries keep their slot (so a failing subscriber gets at most maxInFlight events at once);
 *    each failed attempt writes a pending record (attempts, due time) so a restart resumes with
 *    the remaining attempts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hd_backoff.h"
#include "hd_config.h"
#include "hd_dispatch.h"
#include "hd_httpc.h"
#include "hd_ingress.h"
#include "hd_metrics.h"
#include "hd_evlog.h"
#include "hd_router.h"
#include "herald/ce_http.h"
#include "herald/ce_json.h"

#define FLUSH_MS 50
#define IDLE_CURSOR_MS 30000
#define WORK_BUDGET 4096 /* events read per loop turn by the work handle */
#define ROUTE_WINDOW 512 /* events per store scan */
#define QCAP_MIN 64
#define QCAP_MAX 4096
#define ERRDATA_MAX 1024 /* bytes of a failed answer's body kept for knativeerrordata */
#define RETRY_AFTER_CAP_MS (3600u * 1000u) /* bound on Retry-After when retryAfterMax is unset */
#define DLS_RETRY_CAP_MS (300u * 1000u)    /* bound on the wait between dead-letter attempts */
#define DEFAULT_TTL 255

typedef struct bstate bstate_t;
typedef struct tstate tstate_t;
typedef struct dlv dlv_t;

/* An event read from the store once and shared by every trigger that routes it. */
typedef struct evref {
    uint32_t refs;
    uint64_t seq;
    ce_event_t *ev;
    uint32_t keyhash;  /* FNV-1a of partitionkey; 0 when absent (the trigger-wide key) */
    bool enc_ok[2][2]; /* [structured][strict] */
    ce_http_out_t enc[2][2];
} evref_t;

struct dlv {
    tstate_t *ts;
    evref_t *e;     /* the event; NULL until loaded (restored pending records) */
    evref_t *dls_e; /* the event with knativeerror* added, in the dead-letter phase */
    uint64_t seq;
    uint32_t keyhash;
    uint32_t attempts; /* attempts made to the subscriber */
    uint32_t dls_attempts;
    bool extra; /* a dead letter replayed: not part of the low-water mark */
    bool to_dls;
    bool had_pending; /* a pending record was written */
    bool waiting;     /* waiting for a retry timer */
    bool in_ingest;   /* a reply or an in-process delivery is being stored */
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
    dlv_t *next, *prev;
};

typedef struct {
    int code;
    hd_metric_t *m;
} code_metric_t;

struct tstate {
    hd_dispatch_t *d;
    hd_trigger_t *t; /* borrowed until hd_dispatch_trigger_removed */
    bstate_t *b;
    uint32_t id;
    char *ns, *name;
    const char *kind_label; /* metric label name: "trigger" or "subscription" */
    /* settings snapshot (trigger_updated refreshes it) */
    hd_delivery_t dl;
    char *sub_uri;
    uint32_t sub_log; /* non-zero: deliver in process into this log */
    char *reply_uri;  /* subscriptions: where replies go (NULL: dropped, or reply_log) */
    uint32_t reply_log;
    bool subscription;
    char *dls_uri;
    /* routed, not yet dispatched: seq order */
    evref_t **q;
    size_t qh, qn, qcap;
    bool attached;
    uint64_t start_seq; /* attached: events below are skipped (restart, new trigger) */
    uint64_t next_seq;  /* detached: next event to read */
    bool in_work;
    tstate_t *work_next;
    /* extra queue: dead letters replayed */
    uint64_t *xq;
    size_t xn, xcap;
    /* restored pending seqs (sorted), skipped by routing */
    uint64_t *restored;
    size_t nrestored;
    /* deliveries (in flight, waiting for a retry, storing a reply) */
    dlv_t *dlvs;
    size_t nlive, ninflight, nwaiting;
    /* cursor */
    uint64_t cursor_stored;
    bool dirty; /* in the dispatcher's dirty list */
    tstate_t *dirty_next, *dirty_prev;
    /* stats */
    uint64_t delivered, failed, dead_lettered, dead;
    int last_status;
    char last_error[256];
    /* metrics */
    code_metric_t codes[16];
    size_t ncodes;
    hd_metric_t *m_latency, *m_backlog, *m_dls, *m_dead;
    hd_metric_t *m_reply_drop; /* subscriptions: replies with no reply destination */
    tstate_t *next;                /* in the broker's list */
    tstate_t *det_next, *det_prev; /* in the broker's list of detached triggers */
    bool removed;
    bool pumping, repump;
    bool maybe_dead; /* the dead table may hold records of this trigger */
};

struct bstate {
    hd_dispatch_t *d;
    hd_broker_t *b;
    uint32_t id;
    uint64_t routed_next;
    uint64_t last_seq;
    bool fresh; /* nothing routed since start: a trigger added now may lower routed_next */
    bool in_work;
    bstate_t *work_next;
    tstate_t *triggers;
    size_t ntriggers;
    tstate_t *detached; /* triggers reading the store for themselves */
    size_t ndetached;
    bstate_t *next;
    hd_metric_t *m_ttl_drop;
};

struct hd_dispatch {
    hd_server_t *srv;
    hd_dispatch_hooks_t hooks;
    hd_httpc_t *httpc;
    bool own_httpc;
    bstate_t *brokers;
    uv_timer_t flush_timer;
    uv_timer_t slow_timer;
    uv_idle_t work;
    bstate_t *bwork;
    tstate_t *twork, *twork_tail;
    tstate_t *dirty; /* triggers whose low-water mark may have moved */
    hd_evlog_txn_t *batch;
    size_t batch_ops;
    uint64_t last_idle_flush;
    uint64_t last_retention;
    int closing_handles;
    bool closed;
};

static void ts_pump(tstate_t *ts);
static void dlv_attempt(dlv_t *v);
static void work_schedule_t(hd_dispatch_t *d, tstate_t *ts);
static void work_schedule_b(hd_dispatch_t *d, bstate_t *bs);

/* ---- small helpers -------------------------------------------------------------------- */

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h ? h : 1;
}

static evref_t *evref_new(uint64_t seq, ce_event_t *ev)
{
    evref_t *e = hd_calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->refs = 1;
    e->seq = seq;
    e->ev = ev;
    const ce_value_t *pk = ce_event_get(ev, "partitionkey", 12);
    e->keyhash = pk ? fnv1a(pk->str, pk->len) : 0;
    return e;
}

static void evref_unref(evref_t *e)
{
    if (e == NULL || --e->refs > 0)
        return;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            if (e->enc_ok[i][j])
                ce_http_out_free(&e->enc[i][j]);
    ce_event_free(e->ev);
    hd_free(e);
}

static hd_evlog_txn_t *batch_get(hd_dispatch_t *d)
{
    if (d->batch == NULL)
        d->batch = hd_evlog_txn_new(d->srv->log);
    return d->batch;
}

static hd_metric_t *code_metric(tstate_t *ts, int code)
{
    for (size_t i = 0; i < ts->ncodes; i++)
        if (ts->codes[i].code == code)
            return ts->codes[i].m;
    hd_metrics_t *m = ts->d->srv->metrics;
    if (m == NULL || !ts->ns || !ts->name || ts->ncodes == sizeof ts->codes / sizeof ts->codes[0])
        return NULL;
    char code_s[16];
    if (code > 0)
        snprintf(code_s, sizeof code_s, "%d", code);
    else
        snprintf(code_s, sizeof code_s, "%s", code == -2 ? "timeout" : "network");
    hd_metric_t *h =
        hd_metrics_counter(m, "herald_dispatch_total", "Delivery attempts by trigger and answer",
                           "namespace", ts->ns, ts->kind_label, ts->name, "code", code_s);
    ts->codes[ts->ncodes].code = code;
    ts->codes[ts->ncodes].m = h;
    ts->ncodes++;
    return h;
}

/* ---- trigger queue -------------------------------------------------------------------- */

static bool q_full(const tstate_t *ts)
{
    return ts->qn >= ts->qcap;
}

static bool q_push(tstate_t *ts, evref_t *e)
{
    if (ts->q == NULL) {
        ts->q = hd_malloc(ts->qcap * sizeof *ts->q);
        if (ts->q == NULL)
            return false;
    }
    if (ts->qn >= ts->qcap)
        return false;
    ts->q[(ts->qh + ts->qn) % ts->qcap] = e;
    ts->qn++;
    e->refs++;
    return true;
}

static evref_t *q_at(const tstate_t *ts, size_t i)
{
    return ts->q[(ts->qh + i) % ts->qcap];
}

/* Removes entry i (0 = head), keeping the order of the others. */
static void q_remove(tstate_t *ts, size_t i)
{
    if (i == 0) {
        /* the common case (unordered, or the head's key is free): O(1) */
        ts->qh = (ts->qh + 1) % ts->qcap;
        if (--ts->qn == 0)
            ts->qh = 0;
        return;
    }
    for (size_t k = i; k + 1 < ts->qn; k++)
        ts->q[(ts->qh + k) % ts->qcap] = ts->q[(ts->qh + k + 1) % ts->qcap];
    ts->qn--;
    if (i == 0 && ts->qn == 0)
        ts->qh = 0;
}

static void q_clear(tstate_t *ts)
{
    for (size_t i = 0; i < ts->qn; i++)
        evref_unref(q_at(ts, i));
    ts->qn = 0;
    ts->qh = 0;
}

static bool restored_has(const tstate_t *ts, uint64_t seq)
{
    size_t lo = 0, hi = ts->nrestored;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ts->restored[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ts->nrestored && ts->restored[lo] == seq;
}

/* Attaches a trigger to its broker's shared routing, or detaches it (it then reads the store
 * itself). Keeps the broker's list of detached triggers, so routing never walks all triggers. */
static void ts_set_attached(tstate_t *ts, bool attached)
{
    bstate_t *bs = ts->b;
    if (ts->attached == attached)
        return;
    ts->attached = attached;
    if (bs == NULL)
        return;
    if (!attached) {
        ts->det_prev = NULL;
        ts->det_next = bs->detached;
        if (bs->detached)
            bs->detached->det_prev = ts;
        bs->detached = ts;
        bs->ndetached++;
    } else {
        if (ts->det_prev)
            ts->det_prev->det_next = ts->det_next;
        else
            bs->detached = ts->det_next;
        if (ts->det_next)
            ts->det_next->det_prev = ts->det_prev;
        ts->det_next = ts->det_prev = NULL;
        bs->ndetached--;
    }
}

/* ---- low-water mark and cursors ------------------------------------------------------- */

/* Everything <= the returned seq is done for this trigger. */
static uint64_t ts_lwm(const tstate_t *ts)
{
    uint64_t m;
    if (ts->b == NULL)
        return ts->cursor_stored;
    if (ts->attached)
        m = ts->b->routed_next > ts->start_seq ? ts->b->routed_next : ts->start_seq;
    else
        m = ts->next_seq;
    if (ts->qn && q_at(ts, 0)->seq < m)
        m = q_at(ts, 0)->seq;
    for (const dlv_t *v = ts->dlvs; v; v = v->next)
        if (!v->extra && v->seq < m)
            m = v->seq;
    return m ? m - 1 : 0;
}

static void ts_mark_dirty(tstate_t *ts)
{
    if (ts->dirty)
        return;
    hd_dispatch_t *d = ts->d;
    ts->dirty = true;
    ts->dirty_prev = NULL;
    ts->dirty_next = d->dirty;
    if (d->dirty)
        d->dirty->dirty_prev = ts;
    d->dirty = ts;
}

static void ts_unmark_dirty(tstate_t *ts)
{
    if (!ts->dirty)
        return;
    hd_dispatch_t *d = ts->d;
    if (ts->dirty_prev)
        ts->dirty_prev->dirty_next = ts->dirty_next;
    else
        d->dirty = ts->dirty_next;
    if (ts->dirty_next)
        ts->dirty_next->dirty_prev = ts->dirty_prev;
    ts->dirty_next = ts->dirty_prev = NULL;
    ts->dirty = false;
}

static void ts_flush_cursor(tstate_t *ts)
{
    uint64_t lwm = ts_lwm(ts);
    ts_unmark_dirty(ts);
    if (lwm == ts->cursor_stored)
        return;
    hd_evlog_txn_t *b = batch_get(ts->d);
    if (b && hd_evlog_txn_cursor(b, ts->id, lwm) == HD_E_OK) {
        ts->cursor_stored = lwm;
        ts->d->batch_ops++;
    }
}

static void batch_done(void *arg, hd_err_t status)
{
    (void)arg;
    if (status != HD_E_OK)
        hd_log(HD_LOG_WARN, "dispatch: cursor/pending write failed", "error",
               hd_err_message(status), NULL);
}

static void batch_submit(hd_dispatch_t *d)
{
    if (d->batch == NULL)
        return;
    hd_evlog_txn_t *b = d->batch;
    d->batch = NULL;
    if (d->batch_ops == 0) {
        hd_evlog_txn_free(b);
        return;
    }
    d->batch_ops = 0;
    hd_err_t rc = hd_evlog_txn_submit(b, batch_done, d);
    if (rc != HD_E_OK) {
        /* the writes are lost: mark every trigger dirty so cursors are written again */
        hd_log(HD_LOG_WARN, "dispatch: store refused the cursor batch", "error", hd_err_message(rc),
               NULL);
        for (bstate_t *bs = d->brokers; bs; bs = bs->next)
            for (tstate_t *ts = bs->triggers; ts; ts = ts->next) {
                ts_mark_dirty(ts);
                ts->cursor_stored = UINT64_MAX;
            }
    }
}

static bool first_dead_fn(void *arg, uint32_t tid, uint64_t seq, int32_t status, uint64_t wall,
                          const char *error, size_t len)
{
    (void)tid;
    (void)status;
    (void)wall;
    (void)error;
    (void)len;
    *(uint64_t *)arg = seq;
    return false; /* seq order: the first is the smallest */
}

static void trim_done(void *arg, hd_err_t status)
{
    (void)arg;
    if (status != HD_E_OK)
        hd_log(HD_LOG_WARN, "dispatch: retention failed", "error", hd_err_message(status), NULL);
}

static void retention_run(hd_dispatch_t *d)
{
    hd_config_t *cfg = d->srv->cfg;
    uint64_t now = hd_wall_ms();
    for (bstate_t *bs = d->brokers; bs; bs = bs->next) {
        uint64_t ret =
            bs->b && bs->b->retention_ms
                ? bs->b->retention_ms
                : (cfg && cfg->retention_ms ? cfg->retention_ms : HD_CONFIG_RETENTION_MS);
        uint64_t upto = 0;
        if (bs->triggers) {
            upto = UINT64_MAX;
            for (tstate_t *ts = bs->triggers; ts; ts = ts->next) {
                uint64_t l = ts->cursor_stored == UINT64_MAX ? 0 : ts->cursor_stored;
                /* dead letters keep their events for `herald dlq replay` */
                uint64_t first_dead = 0;
                if (ts->maybe_dead) {
                    hd_evlog_dead_scan(d->srv->log, ts->id, first_dead_fn, &first_dead);
                    ts->maybe_dead = first_dead != 0;
                }
                if (first_dead && first_dead - 1 < l)
                    l = first_dead - 1;
                if (l < upto)
                    upto = l;
            }
        }
        uint64_t older = now > ret ? now - ret : 0;
        if (upto == 0 && older == 0)
            continue;
        if (hd_evlog_first_seq(d->srv->log, bs->id) == 0)
            continue;
        hd_err_t trc = hd_evlog_trim(d->srv->log, bs->id, upto, older, trim_done, d);
        if (trc != HD_E_OK)
            trim_done(d, trc);
    }
}

static void flush_cb(uv_timer_t *t)
{
    hd_dispatch_t *d = t->data;
    uint64_t now = hd_now_ms();
    bool idle_too = now - d->last_idle_flush >= IDLE_CURSOR_MS;
    if (idle_too)
        d->last_idle_flush = now;
    if (idle_too) {
        for (bstate_t *bs = d->brokers; bs; bs = bs->next)
            for (tstate_t *ts = bs->triggers; ts; ts = ts->next)
                ts_flush_cursor(ts);
    } else {
        while (d->dirty)
            ts_flush_cursor(d->dirty);
    }
    uint64_t interval = d->srv->cfg && d->srv->cfg->retention_interval_ms
                            ? d->srv->cfg->retention_interval_ms
                            : HD_CONFIG_RETENTION_INTERVAL_MS;
    if (now - d->last_retention >= interval) {
        d->last_retention = now;
        retention_run(d);
    }
    batch_submit(d);
}

/* ---- routing -------------------------------------------------------------------------- */

typedef struct {
    bstate_t *bs;
    evref_t *e;
    bool stop;
} route_ctx_t;

static void route_match(void *arg, hd_trigger_t *t)
{
    route_ctx_t *rc = arg;
    tstate_t *ts = t->dispatch;
    if (ts == NULL || ts->b != rc->bs || !ts->attached || rc->e->seq < ts->start_seq)
        return;
    if (ts->nrestored && restored_has(ts, rc->e->seq))
        return;
    if (q_full(ts) || !q_push(ts, rc->e)) {
        /* slow subscriber: read the store itself from here on */
        ts->next_seq = rc->e->seq;
        ts_set_attached(ts, false);
        return;
    }
    work_schedule_t(ts->d, ts);
}

static bool route_one(void *arg, uint64_t seq, uint64_t wall, ce_event_t *ev)
{
    (void)wall;
    route_ctx_t *rc = arg;
    bstate_t *bs = rc->bs;
    if (ev == NULL) {
        hd_log(HD_LOG_ERROR, "dispatch: corrupt event skipped", NULL);
        bs->routed_next = seq + 1;
        return true;
    }
    evref_t *e = evref_new(seq, ev);
    if (e == NULL) {
        ce_event_free(ev);
        rc->stop = true;
        return false;
    }
    rc->e = e;
    if (bs->b && bs->b->router)
        hd_router_match(bs->b->router, ev, route_match, rc);
    evref_unref(e);
    bs->routed_next = seq + 1;
    return true;
}

static size_t attached_count(const bstate_t *bs)
{
    return bs->ntriggers - bs->ndetached;
}

/* Routes up to `budget` events of a broker; returns the number read. */
static size_t broker_route(bstate_t *bs, size_t budget)
{
    hd_dispatch_t *d = bs->d;
    bs->fresh = false;
    if (bs->routed_next > bs->last_seq)
        return 0;
    if (attached_count(bs) == 0) {
        /* every trigger reads for itself: nothing to route */
        bs->routed_next = bs->last_seq + 1;
    } else {
        size_t n = bs->last_seq - bs->routed_next + 1;
        if (n > budget)
            n = budget;
        route_ctx_t rc = {.bs = bs};
        uint64_t before = bs->routed_next;
        uint64_t from = bs->routed_next;
        hd_err_t src = hd_evlog_read(d->srv->log, bs->id, from, n, route_one, &rc);
        if (rc.stop || src != HD_E_OK) {
            /* out of memory or a read error: try again on a later turn, never skip events */
            work_schedule_b(d, bs);
            return (size_t)(bs->routed_next - before) + 1;
        }
        if (bs->routed_next == before) {
            /* nothing stored there (trimmed): jump */
            uint64_t first = hd_evlog_first_seq(d->srv->log, bs->id);
            bs->routed_next = first > before ? first : bs->last_seq + 1;
            if (first == 0)
                bs->routed_next = bs->last_seq + 1;
        }
        budget = (size_t)(bs->routed_next - before);
    }
    /* detached triggers may now have room to catch up to the new routing position */
    for (tstate_t *ts = bs->detached; ts; ts = ts->det_next)
        if (!q_full(ts))
            work_schedule_t(d, ts);
    if (bs->routed_next <= bs->last_seq)
        work_schedule_b(d, bs);
    return budget;
}

typedef struct {
    tstate_t *ts;
    size_t read;
    bool stop; /* out of memory */
} scan_ctx_t;

static bool scan_one(void *arg, uint64_t seq, uint64_t wall, ce_event_t *ev)
{
    (void)wall;
    scan_ctx_t *sc = arg;
    tstate_t *ts = sc->ts;
    if (seq >= ts->b->routed_next || q_full(ts)) {
        ce_event_free(ev);
        return false;
    }
    sc->read++;
    ts->next_seq = seq + 1;
    if (ts->nrestored && restored_has(ts, seq)) {
        ce_event_free(ev);
        return true;
    }
    if (ev == NULL)
        return true;
    if (ts->t && hd_filter_match(ts->t->filter, ev)) {
        evref_t *e = evref_new(seq, ev);
        if (e == NULL) {
            ce_event_free(ev);
            ts->next_seq = seq;
            sc->stop = true;
            return false;
        }
        q_push(ts, e);
        evref_unref(e);
    } else {
        ce_event_free(ev);
    }
    return true;
}

/* A detached trigger reads the store from next_seq while its queue has room. */
static size_t trigger_scan(tstate_t *ts, size_t budget)
{
    bstate_t *bs = ts->b;
    size_t total = 0;
    while (!ts->attached && !q_full(ts) && total < budget) {
        if (ts->next_seq >= bs->routed_next) {
            if (ts->next_seq == bs->routed_next) {
                ts->start_seq = ts->next_seq;
                ts_set_attached(ts, true);
            }
            break;
        }
        uint64_t before = ts->next_seq;
        size_t n = bs->routed_next - ts->next_seq;
        if (n > ROUTE_WINDOW)
            n = ROUTE_WINDOW;
        scan_ctx_t sc = {.ts = ts};
        hd_err_t src =
            hd_evlog_read(ts->d->srv->log, bs->id, ts->next_seq, n, scan_one, &sc);
        total += sc.read ? sc.read : 1;
        if (sc.stop || src != HD_E_OK)
            break; /* out of memory or a read error: tried again by the trigger's next pump */
        if (ts->next_seq == before) {
            if (q_full(ts))
                break;
            /* nothing stored from there (trimmed): skip to what is kept */
            uint64_t first = hd_evlog_first_seq(ts->d->srv->log, bs->id);
            ts->next_seq = first > before ? first : bs->routed_next;
            if (first == 0)
                ts->next_seq = bs->routed_next;
        }
    }
    return total;
}

static void work_cb(uv_idle_t *h)
{
    hd_dispatch_t *d = h->data;
    size_t budget = WORK_BUDGET;
    while (budget > 0 && (d->bwork || d->twork)) {
        if (d->bwork) {
            bstate_t *bs = d->bwork;
            d->bwork = bs->work_next;
            bs->in_work = false;
            size_t n = broker_route(bs, budget);
            budget = n >= budget ? 0 : budget - n;
            continue;
        }
        tstate_t *ts = d->twork;
        d->twork = ts->work_next;
        if (d->twork == NULL)
            d->twork_tail = NULL;
        ts->in_work = false;
        if (ts->removed || ts->b == NULL)
            continue;
        if (!ts->attached) {
            size_t n = trigger_scan(ts, budget);
            budget = n >= budget ? 0 : budget - n;
            if (!ts->attached && !q_full(ts) && ts->next_seq < ts->b->routed_next)
                work_schedule_t(d, ts);
        }
        ts_pump(ts);
    }
    if (d->bwork == NULL && d->twork == NULL)
        uv_idle_stop(&d->work);
}

static void work_schedule_t(hd_dispatch_t *d, tstate_t *ts)
{
    if (ts->in_work || d->closed)
        return;
    ts->in_work = true;
    /* append: fairness between triggers */
    ts->work_next = NULL;
    if (d->twork == NULL)
        d->twork = ts;
    else
        d->twork_tail->work_next = ts;
    d->twork_tail = ts;
    uv_idle_start(&d->work, work_cb);
}

static void work_schedule_b(hd_dispatch_t *d, bstate_t *bs)
{
    if (bs->in_work || d->closed)
        return;
    bs->in_work = true;
    bs->work_next = d->bwork;
    d->bwork = bs;
    uv_idle_start(&d->work, work_cb);
}

static bstate_t *bstate_by_id(hd_dispatch_t *d, uint32_t id)
{
    for (bstate_t *bs = d->brokers; bs; bs = bs->next)
        if (bs->id == id)
            return bs;
    return NULL;
}

static void on_commit(void *arg, uint32_t broker_id, uint64_t last_seq)
{
    hd_dispatch_t *d = arg;
    bstate_t *bs = bstate_by_id(d, broker_id);
    if (bs == NULL)
        return;
    if (last_seq > bs->last_seq)
        bs->last_seq = last_seq;
    /* route now if the batch is small (latency), in the idle handle otherwise (fairness) */
    if (!bs->in_work && bs->last_seq - bs->routed_next < 256)
        broker_route(bs, 256);
    else
        work_schedule_b(d, bs);
}

/* ---- deliveries ----------------------------------------------------------------------- */

static void timer_closed(uv_handle_t *h)
{
    hd_free(h);
}

static void dlv_unlink_free(dlv_t *v)
{
    tstate_t *ts = v->ts;
    if (ts) {
        if (v->prev)
            v->prev->next = v->next;
        else
            ts->dlvs = v->next;
        if (v->next)
            v->next->prev = v->prev;
        ts->nlive--;
    }
    if (v->timer) {
        uv_timer_stop(v->timer);
        uv_close((uv_handle_t *)v->timer, timer_closed);
    }
    evref_unref(v->e);
    evref_unref(v->dls_e);
    if (v->reply_enc_ok)
        ce_http_out_free(&v->reply_enc);
    hd_free(v->last_body);
    hd_free(v);
}

static void ts_free(tstate_t *ts)
{
    q_clear(ts);
    hd_free(ts->q);
    hd_free(ts->xq);
    hd_free(ts->restored);
    hd_free(ts->ns);
    hd_free(ts->name);
    hd_free(ts->sub_uri);
    hd_free(ts->reply_uri);
    hd_free(ts->dls_uri);
    hd_free(ts);
}

/* The delivery is over (delivered, dead-lettered or dead): release its slot. */
static void dlv_done(dlv_t *v)
{
    tstate_t *ts = v->ts;
    hd_dispatch_t *d = ts->d;
    if (v->had_pending || v->extra) {
        hd_evlog_txn_t *b = batch_get(d);
        if (b) {
            if (v->had_pending && hd_evlog_txn_pending_del(b, ts->id, v->seq) == HD_E_OK)
                d->batch_ops++;
            if (v->extra && hd_evlog_txn_dead_del(b, ts->id, v->seq) == HD_E_OK)
                d->batch_ops++;
        }
    }
    dlv_unlink_free(v);
    ts_mark_dirty(ts);
    ts_pump(ts);
}

static void dlv_timer_cb(uv_timer_t *t)
{
    dlv_t *v = t->data;
    v->waiting = false;
    v->ts->nwaiting--;
    dlv_attempt(v);
}

static void dlv_schedule(dlv_t *v, uint64_t delay_ms)
{
    tstate_t *ts = v->ts;
    hd_dispatch_t *d = ts->d;
    if (v->timer == NULL) {
        v->timer = hd_malloc(sizeof *v->timer);
        if (v->timer == NULL) {
            delay_ms = 0; /* no timer: try again at once rather than lose the event */
        } else {
            uv_timer_init(d->srv->loop, v->timer);
            v->timer->data = v;
        }
    }
    hd_evlog_pending_t p = {
        .attempts = v->attempts + v->dls_attempts,
        .due_ms = hd_wall_ms() + delay_ms,
        .last_status = v->last_status,
    };
    hd_evlog_txn_t *b = batch_get(d);
    if (b && hd_evlog_txn_pending_put(b, ts->id, v->seq, &p) == HD_E_OK) {
        d->batch_ops++;
        v->had_pending = true;
    }
    v->waiting = true;
    ts->nwaiting++;
    if (v->timer) {
        uv_timer_start(v->timer, dlv_timer_cb, delay_ms, 0);
    } else {
        v->waiting = false;
        ts->nwaiting--;
        dlv_attempt(v);
    }
}

/* Final failure towards the subscriber: to the dead-letter sink, or to the dead table. */
static void dlv_final_failure(dlv_t *v)
{
    tstate_t *ts = v->ts;
    hd_dispatch_t *d = ts->d;
    if (ts->dls_uri) {
        v->to_dls = true;
        if (v->dls_e == NULL) {
            ce_event_t *ev = ce_event_clone(v->e->ev);
            evref_t *e = ev ? evref_new(v->seq, ev) : NULL;
            if (e == NULL) {
                ce_event_free(ev);
                dlv_schedule(v, 1000);
                return;
            }
            const char *dest = ts->sub_uri ? ts->sub_uri : "";
            ce_event_set(ev, "knativeerrordest", dest, strlen(dest), NULL);
            char code[16];
            snprintf(code, sizeof code, "%d", v->last_status > 0 ? v->last_status : 500);
            ce_event_set(ev, "knativeerrorcode", code, strlen(code), NULL);
            if (v->last_body_len) {
                /* out of memory loses only this attribute, not the dead letter */
                ce_buf_t enc = {0};
                if (ce_base64_encode(v->last_body, v->last_body_len, &enc) == CE_E_OK)
                    ce_event_set(ev, "knativeerrordata", enc.data, enc.len, NULL);
                ce_buf_free(&enc);
            }
            v->dls_e = e;
        }
        dlv_attempt(v);
        return;
    }
    /* no dead-letter sink: keep it in the dead table for `herald dlq` */
    char err[1400];
    int n;
    if (v->last_status > 0)
        n = snprintf(err, sizeof err, "HTTP %d: %.*s", v->last_status,
                     (int)(v->last_body_len > 1024 ? 1024 : v->last_body_len),
                     v->last_body ? v->last_body : "");
    else
        n = snprintf(err, sizeof err, "%s", v->last_err[0] ? v->last_err : "network error");
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof err)
        n = sizeof err - 1;
    hd_evlog_txn_t *b = batch_get(d);
    if (b && hd_evlog_txn_dead_put(b, ts->id, v->seq, v->last_status, err, (size_t)n) == HD_E_OK)
        d->batch_ops++;
    v->extra = false; /* the dead record was just rewritten; do not delete it */
    ts->maybe_dead = true;
    ts->dead++;
    hd_metric_inc(ts->m_dead, 1);
    char seqs[24];
    snprintf(seqs, sizeof seqs, "%llu", (unsigned long long)v->seq);
    hd_log(HD_LOG_WARN, "event dead after its last attempt (no dead-letter sink)", "namespace",
           ts->ns, "trigger", ts->name, "seq", seqs, "error", err, NULL);
    dlv_done(v);
}

static void dlv_failed(dlv_t *v, int status, const char *body, size_t body_len, const char *errtext,
                       uint64_t retry_after_ms)
{
    tstate_t *ts = v->ts;
    ts->failed++;
    ts->last_status = status > 0 ? status : -1;
    if (status > 0)
        snprintf(ts->last_error, sizeof ts->last_error, "HTTP %d", status);
    else
        snprintf(ts->last_error, sizeof ts->last_error, "%s", errtext ? errtext : "network");
    if (v->to_dls) {
        /* the dead-letter sink failed too: the event stays pending, tried again later */
        v->dls_attempts++;
        uint64_t delay = hd_backoff_delay_ms(&ts->dl, v->dls_attempts);
        if (delay < 1000)
            delay = 1000;
        if (delay > DLS_RETRY_CAP_MS)
            delay = DLS_RETRY_CAP_MS;
        if (retry_after_ms > delay)
            delay = retry_after_ms;
        hd_log(HD_LOG_WARN, "dead-letter sink failed; event kept pending", "namespace", ts->ns,
               "trigger", ts->name, "dls", ts->dls_uri, NULL);
        dlv_schedule(v, delay);
        return;
    }
    v->last_status = status > 0 ? status : -1;
    hd_free(v->last_body);
    v->last_body = NULL;
    v->last_body_len = 0;
    if (body_len) {
        size_t n = body_len > ERRDATA_MAX ? ERRDATA_MAX : body_len;
        v->last_body = hd_malloc(n);
        if (v->last_body) {
            memcpy(v->last_body, body, n);
            v->last_body_len = n;
        }
    }
    snprintf(v->last_err, sizeof v->last_err, "%s", errtext ? errtext : "");
    if (hd_status_retryable(status) && v->attempts <= ts->dl.retry) {
        uint64_t delay = hd_backoff_delay_ms(&ts->dl, v->attempts);
        if (retry_after_ms > delay)
            delay = retry_after_ms;
        dlv_schedule(v, delay);
        return;
    }
    dlv_final_failure(v);
}

/* An event stored in process (a reply, or a delivery to a local broker or channel). */
static void local_stored(void *arg, hd_err_t status)
{
    dlv_t *v = arg;
    v->in_ingest = false;
    if (v->ts == NULL) {
        dlv_unlink_free(v); /* the dispatcher or the trigger went away meanwhile */
        return;
    }
    if (v->local) {
        v->local = false;
        hd_metric_inc(code_metric(v->ts, status == HD_E_OK ? 202 : 503), 1);
        hd_metric_observe(v->ts->m_latency, (double)(hd_now_ms() - v->started_ms) / 1000.0);
    }
    if (status != HD_E_OK) {
        /* the spec: if storing the reply fails, the delivery fails and is retried */
        char why[96];
        snprintf(why, sizeof why, "storing the event in process failed: %s",
                 hd_err_message(status));
        dlv_failed(v, 503, NULL, 0, why, 0);
        return;
    }
    v->ts->delivered++;
    dlv_done(v);
}

/* Appends one event to a log of this heraldd through the ingest hook; local_stored finishes the
 * delivery. */
static void local_store(dlv_t *v, uint32_t log_id, ce_event_t *ev)
{
    hd_dispatch_t *d = v->ts->d;
    v->in_ingest = true;
    hd_err_t rc = d->hooks.ingest ? d->hooks.ingest(d->hooks.ctx, log_id, &ev, 1, local_stored, v)
                                  : HD_E_CLOSED;
    if (rc != HD_E_OK) {
        v->in_ingest = false;
        if (v->local) {
            v->local = false;
            hd_metric_inc(code_metric(v->ts, 503), 1);
        }
        char why[96];
        snprintf(why, sizeof why, "storing the event in process failed: %s", hd_err_message(rc));
        dlv_failed(v, rc == HD_E_NOTFOUND ? 404 : 503, NULL, 0, why, 0);
    }
}

static bool is_ce_response(const hd_httpc_resp_t *r)
{
    size_t l;
    if (hd_httpc_resp_header(r, "ce-specversion", NULL))
        return true;
    const char *ct = hd_httpc_resp_header(r, "content-type", &l);
    return ct && l >= 24 && strncasecmp(ct, "application/cloudevents", 23) == 0;
}

/* The answer of a subscription's reply destination: the delivery is done only when it took the
 * reply (Knative retries the whole delivery otherwise). */
static void reply_answer(void *arg, const hd_httpc_resp_t *r)
{
    dlv_t *v = arg;
    tstate_t *ts = v->ts;
    v->call = NULL;
    ts->ninflight--;
    if (r->err == HD_E_OK && r->status >= 200 && r->status < 300) {
        ts->delivered++;
        dlv_done(v);
        return;
    }
    char why[160];
    snprintf(why, sizeof why, "the reply destination %s: %s", ts->reply_uri,
             r->err == HD_E_OK ? "refused the reply" : r->error);
    dlv_failed(v, r->err == HD_E_OK ? r->status : -1, r->body, r->body_len, why, 0);
}

/* Sends a subscription's reply to its reply URI (binary mode, the subscription's header
 * encoding). */
static void reply_send(dlv_t *v, ce_event_t *reply)
{
    tstate_t *ts = v->ts;
    if (v->reply_enc_ok) {
        ce_http_out_free(&v->reply_enc);
        v->reply_enc_ok = false;
    }
    if (ce_http_encode(reply, ts->dl.structured ? CE_HTTP_STRUCTURED : CE_HTTP_BINARY,
                       ts->dl.header_strict ? CE_HEADER_STRICT : CE_HEADER_COMPAT,
                       &v->reply_enc) != CE_E_OK) {
        dlv_failed(v, -1, NULL, 0, "the reply could not be encoded", 0);
        return;
    }
    v->reply_enc_ok = true;
    hd_httpc_req_t req = {
        .url = ts->reply_uri,
        .headers = v->reply_enc.headers,
        .header_count = v->reply_enc.header_count,
        .body = v->reply_enc.body.data,
        .body_len = v->reply_enc.body.len,
        .timeout_ms = ts->dl.timeout_ms ? ts->dl.timeout_ms : 30000,
    };
    ts->ninflight++;
    hd_err_t rc = hd_httpc_request(ts->d->httpc, &req, reply_answer, v, &v->call);
    if (rc != HD_E_OK) {
        ts->ninflight--;
        v->call = NULL;
        snprintf(v->last_err, sizeof v->last_err, "cannot send the reply: %s",
                 hd_err_message(rc));
        dlv_failed(v, -1, NULL, 0, v->last_err, 0);
    }
}

/* A 200/201 answer carrying a CloudEvent. A trigger's reply goes back into its broker with the
 * knativebrokerttl guard; a subscription's goes to its reply destination (in process or over
 * HTTP), or is dropped and counted when it has none, as Knative does. Returns false when the
 * answer is not a CloudEvent (a failed delivery). */
static bool handle_reply(dlv_t *v, const hd_httpc_resp_t *r)
{
    tstate_t *ts = v->ts;
    ce_http_msg_t msg = {.headers = r->headers,
                         .header_count = r->header_count,
                         .body = r->body,
                         .body_len = r->body_len};
    ce_event_t **evs = NULL;
    size_t n = 0;
    ce_error_t err;
    if (r->body_truncated || ce_http_decode(&msg, &evs, &n, &err) != CE_E_OK || n != 1) {
        if (evs) {
            for (size_t i = 0; i < n; i++)
                ce_event_free(evs[i]);
            free(evs);
        }
        return false;
    }
    ce_event_t *reply = evs[0];
    free(evs);
    /* the trace continues into the reply */
    const char *tp = ce_event_get_str(v->e->ev, "traceparent");
    if (tp && !ce_event_get(reply, "traceparent", 11)) {
        ce_event_set(reply, "traceparent", tp, strlen(tp), NULL);
        const char *tstate = ce_event_get_str(v->e->ev, "tracestate");
        if (tstate)
            ce_event_set(reply, "tracestate", tstate, strlen(tstate), NULL);
    }
    if (ts->subscription) {
        if (ts->reply_log) {
            local_store(v, ts->reply_log, reply);
        } else if (ts->reply_uri) {
            reply_send(v, reply);
        } else {
            hd_metric_inc(ts->m_reply_drop, 1);
            ts->delivered++;
            dlv_done(v);
        }
        ce_event_free(reply);
        return true;
    }
    int32_t ttl = DEFAULT_TTL;
    const ce_value_t *tv = ce_event_get(v->e->ev, "knativebrokerttl", 16);
    if (tv)
        ttl = tv->type == CE_TYPE_INTEGER ? tv->i : (int32_t)strtol(tv->str, NULL, 10);
    ttl -= 1;
    if (ttl <= 0) {
        hd_metric_inc(ts->b->m_ttl_drop, 1);
        hd_log(HD_LOG_WARN, "reply dropped: knativebrokerttl exhausted (event loop?)", "namespace",
               ts->ns, "trigger", ts->name, "id", ce_event_get_str(reply, "id"), NULL);
        ce_event_free(reply);
        ts->delivered++;
        dlv_done(v);
        return true;
    }
    ce_event_set_int(reply, "knativebrokerttl", ttl, NULL);
    if (ts->b->b == NULL) {
        ce_event_free(reply);
        ts->delivered++;
        dlv_done(v);
        return true;
    }
    local_store(v, ts->b->id, reply);
    ce_event_free(reply);
    return true;
}

static void dlv_answer(void *arg, const hd_httpc_resp_t *r)
{
    dlv_t *v = arg;
    tstate_t *ts = v->ts;
    v->call = NULL;
    ts->ninflight--;
    int code = r->err == HD_E_OK ? r->status : (r->err == HD_E_TIMEOUT ? -2 : -1);
    hd_metric_inc(code_metric(ts, code), 1);
    hd_metric_observe(ts->m_latency, (double)(hd_now_ms() - v->started_ms) / 1000.0);
    uint64_t ra = 0;
    if (r->err == HD_E_OK && (r->status == 429 || r->status == 503)) {
        size_t l;
        const char *h = hd_httpc_resp_header(r, "retry-after", &l);
        if (h) {
            uint64_t cap =
                ts->dl.retry_after_max_ms ? ts->dl.retry_after_max_ms : RETRY_AFTER_CAP_MS;
            ra = hd_retry_after_ms(h, l, hd_wall_ms(), cap);
        }
    }
    if (r->err != HD_E_OK) {
        dlv_failed(v, -1, NULL, 0, r->error, 0);
        return;
    }
    bool ok = r->status >= 200 && r->status < 300;
    if (v->to_dls) {
        if (ok) {
            ts->dead_lettered++;
            hd_metric_inc(ts->m_dls, 1);
            dlv_done(v);
        } else {
            dlv_failed(v, r->status, r->body, r->body_len, NULL, ra);
        }
        return;
    }
    if (!ok) {
        dlv_failed(v, r->status, r->body, r->body_len, NULL, ra);
        return;
    }
    if (r->status == 200 || r->status == 201) {
        bool ce = is_ce_response(r);
        if (ce || (r->status == 200 && r->body_len > 0)) {
            if (!ce || !handle_reply(v, r)) {
                /* a 200 whose body is not a CloudEvent: a proxy's page, not the subscriber's */
                dlv_failed(v, 502, r->body, r->body_len, "answer body is not a CloudEvent", 0);
            }
            return;
        }
    }
    ts->delivered++;
    dlv_done(v);
}

static void dlv_attempt(dlv_t *v)
{
    tstate_t *ts = v->ts;
    hd_dispatch_t *d = ts->d;
    if (v->e == NULL) {
        ce_event_t *ev = NULL;
        hd_err_t rc = hd_evlog_get(d->srv->log, ts->b->id, v->seq, &ev);
        if (rc == HD_E_OK && (v->e = evref_new(v->seq, ev)) != NULL)
            v->keyhash = v->e->keyhash;
        if (rc != HD_E_OK || v->e == NULL) {
            ce_event_free(ev);
            if (rc == HD_E_NOTFOUND) {
                /* trimmed by retention: nothing left to deliver */
                hd_log(HD_LOG_WARN, "pending event no longer stored; dropped", "namespace", ts->ns,
                       "trigger", ts->name, NULL);
                dlv_done(v);
            } else {
                dlv_schedule(v, 1000);
            }
            return;
        }
    }
    if (v->to_dls && ts->dls_uri == NULL) {
        /* the dead-letter sink was removed meanwhile: keep it in the dead table instead */
        v->to_dls = false;
        dlv_final_failure(v);
        return;
    }
    if (!v->to_dls && v->attempts > ts->dl.retry) {
        /* restored after a restart with no attempt left */
        dlv_final_failure(v);
        return;
    }
    if (!v->to_dls && ts->sub_uri == NULL) {
        /* the subscriber became unresolvable: wait for it without using up an attempt */
        dlv_schedule(v, 1000);
        return;
    }
    if (!v->to_dls && ts->sub_log) {
        /* a broker, channel or flow of this heraldd: stored in process, no HTTP hop */
        v->attempts++;
        v->started_ms = hd_now_ms();
        v->local = true;
        local_store(v, ts->sub_log, v->e->ev);
        return;
    }
    evref_t *e = v->to_dls ? v->dls_e : v->e;
    int mode = ts->dl.structured ? 1 : 0, strict = ts->dl.header_strict ? 1 : 0;
    if (!e->enc_ok[mode][strict]) {
        if (ce_http_encode(e->ev, mode ? CE_HTTP_STRUCTURED : CE_HTTP_BINARY,
                           strict ? CE_HEADER_STRICT : CE_HEADER_COMPAT,
                           &e->enc[mode][strict]) != CE_E_OK) {
            dlv_schedule(v, 1000);
            return;
        }
        e->enc_ok[mode][strict] = true;
    }
    ce_http_out_t *o = &e->enc[mode][strict];
    ce_header_t stack_hdrs[64];
    ce_header_t *hdrs = stack_hdrs;
    if (o->header_count + 4 > sizeof stack_hdrs / sizeof stack_hdrs[0]) {
        hdrs = hd_malloc((o->header_count + 4) * sizeof *hdrs);
        if (hdrs == NULL) {
            dlv_schedule(v, 1000);
            return;
        }
    }
    size_t nh = 0;
    for (size_t i = 0; i < o->header_count; i++)
        hdrs[nh++] = o->headers[i];
    hdrs[nh++] = (ce_header_t){"Prefer", 6, "reply", 5};
    hdrs[nh++] = (ce_header_t){"Kn-Namespace", 12, ts->ns, strlen(ts->ns)};
    const ce_value_t *tp = ce_event_get(e->ev, "traceparent", 11);
    if (tp)
        hdrs[nh++] = (ce_header_t){"traceparent", 11, tp->str, tp->len};
    const ce_value_t *tst = ce_event_get(e->ev, "tracestate", 10);
    if (tst)
        hdrs[nh++] = (ce_header_t){"tracestate", 10, tst->str, tst->len};
    hd_httpc_req_t req = {
        .url = v->to_dls ? ts->dls_uri : ts->sub_uri,
        .headers = hdrs,
        .header_count = nh,
        .body = o->body.data,
        .body_len = o->body.len,
        .timeout_ms = ts->dl.timeout_ms ? ts->dl.timeout_ms : 30000,
    };
    if (!v->to_dls)
        v->attempts++;
    v->started_ms = hd_now_ms();
    ts->ninflight++;
    hd_err_t rc = req.url ? hd_httpc_request(d->httpc, &req, dlv_answer, v, &v->call) : HD_E_INVAL;
    if (hdrs != stack_hdrs)
        hd_free(hdrs); /* the request was serialized: headers are no longer needed */
    if (rc != HD_E_OK) {
        ts->ninflight--;
        v->call = NULL;
        /* a bad URL cannot improve by retrying now; keep the event and try later */
        snprintf(v->last_err, sizeof v->last_err, "cannot send: %s", hd_err_message(rc));
        dlv_failed(v, -1, NULL, 0, v->last_err, 0);
    }
}

static dlv_t *dlv_new(tstate_t *ts, uint64_t seq, evref_t *e)
{
    dlv_t *v = hd_calloc(1, sizeof *v);
    if (v == NULL)
        return NULL;
    v->ts = ts;
    v->seq = seq;
    v->e = e;
    v->keyhash = e ? e->keyhash : 0;
    v->next = ts->dlvs;
    if (ts->dlvs)
        ts->dlvs->prev = v;
    ts->dlvs = v;
    ts->nlive++;
    return v;
}

static bool key_busy(const tstate_t *ts, uint32_t key)
{
    for (const dlv_t *v = ts->dlvs; v; v = v->next)
        if (!v->extra && v->keyhash == key)
            return true;
    return false;
}

/* Starts deliveries while the trigger has free slots. */
static void ts_pump_once(tstate_t *ts);

static void ts_pump(tstate_t *ts)
{
    if (ts->removed || ts->b == NULL || ts->d->closed)
        return;
    if (ts->sub_uri == NULL)
        return; /* unresolved subscriber (Ready=False): events wait, the cursor holds */
    if (ts->pumping) {
        /* a delivery finished synchronously inside the loop below: it loops again */
        ts->repump = true;
        return;
    }
    ts->pumping = true;
    do {
        ts->repump = false;
        ts_pump_once(ts);
    } while (ts->repump && !ts->removed && ts->b != NULL && !ts->d->closed);
    ts->pumping = false;
}

static void ts_pump_once(tstate_t *ts)
{
    uint32_t max = ts->dl.max_in_flight ? ts->dl.max_in_flight : 100;
    while (ts->nlive < max && ts->xn > 0) {
        uint64_t seq = ts->xq[--ts->xn];
        dlv_t *v = dlv_new(ts, seq, NULL);
        if (v == NULL)
            return;
        v->extra = true;
        dlv_attempt(v);
    }
    bool ordered = ts->dl.ordering == HD_ORDER_ORDERED;
    size_t i = 0;
    while (ts->nlive < max && i < ts->qn) {
        evref_t *e = q_at(ts, i);
        if (ordered && key_busy(ts, e->keyhash)) {
            if (++i >= 256)
                break; /* bound the walk; the rest waits for a slot anyway */
            continue;
        }
        q_remove(ts, i);
        dlv_t *v = dlv_new(ts, e->seq, e); /* takes the queue's reference */
        if (v == NULL) {
            evref_unref(e);
            break;
        }
        ts_mark_dirty(ts);
        dlv_attempt(v);
    }
    if (!ts->attached && !q_full(ts) && ts->next_seq < ts->b->routed_next)
        work_schedule_t(ts->d, ts);
}

/* ---- resources ------------------------------------------------------------------------ */

static void bstate_free(bstate_t *bs)
{
    hd_free(bs);
}

void hd_dispatch_broker_added(hd_dispatch_t *d, hd_broker_t *b)
{
    if (d == NULL || b == NULL || b->dispatch)
        return;
    bstate_t *bs = hd_calloc(1, sizeof *bs);
    if (bs == NULL) {
        hd_log(HD_LOG_ERROR, "dispatch: out of memory adding a broker", "broker", b->name, NULL);
        return;
    }
    bs->d = d;
    bs->b = b;
    bs->id = b->id;
    bs->last_seq = hd_evlog_last_seq(d->srv->log, b->id);
    bs->routed_next = bs->last_seq + 1;
    bs->fresh = true;
    if (d->srv->metrics) {
        bs->m_ttl_drop = hd_metrics_counter(d->srv->metrics, "herald_dropped_total",
                                            "Events dropped, by reason", "namespace", b->ns,
                                            b->channel ? "channel" : "broker", b->name, "reason",
                                            "ttl");
    }
    bs->next = d->brokers;
    d->brokers = bs;
    b->dispatch = bs;
}

static void ts_stop(tstate_t *ts, bool forget);

static void drop_done(void *arg, hd_err_t status)
{
    (void)arg;
    if (status != HD_E_OK)
        hd_log(HD_LOG_WARN, "cannot delete the events of a deleted broker or channel", "error",
               hd_err_message(status), NULL);
}

void hd_dispatch_broker_removed(hd_dispatch_t *d, hd_broker_t *b, bool drop)
{
    if (d == NULL || b == NULL)
        return;
    if (drop) {
        /* the broker or channel is deleted: its events go with it */
        hd_err_t rc = d->srv->log ? hd_evlog_drop(d->srv->log, b->id, drop_done, NULL) : HD_E_OK;
        if (rc != HD_E_OK)
            drop_done(NULL, rc);
    }
    if (b->dispatch == NULL)
        return;
    bstate_t *bs = b->dispatch;
    while (bs->triggers)
        ts_stop(bs->triggers, false);
    for (bstate_t **pp = &d->brokers; *pp; pp = &(*pp)->next)
        if (*pp == bs) {
            *pp = bs->next;
            break;
        }
    for (bstate_t **pp = &d->bwork; *pp; pp = &(*pp)->work_next)
        if (*pp == bs) {
            *pp = bs->work_next;
            break;
        }
    b->dispatch = NULL;
    bstate_free(bs);
}

static void ts_settings(tstate_t *ts, hd_trigger_t *t)
{
    ts->dl = t->delivery;
    hd_free(ts->sub_uri);
    hd_free(ts->dls_uri);
    hd_free(ts->reply_uri);
    ts->sub_uri = t->subscriber_uri ? hd_strdup(t->subscriber_uri) : NULL;
    ts->sub_log = t->subscriber_log;
    ts->reply_uri = t->reply_uri ? hd_strdup(t->reply_uri) : NULL;
    ts->reply_log = t->reply_log;
    ts->subscription = t->subscription;
    ts->dls_uri = t->delivery.dead_letter_uri ? hd_strdup(t->delivery.dead_letter_uri) : NULL;
    ts->dl.dead_letter_uri = NULL;
    uint32_t mif = ts->dl.max_in_flight ? ts->dl.max_in_flight : 100;
    size_t qcap = (size_t)mif * 2;
    if (qcap < QCAP_MIN)
        qcap = QCAP_MIN;
    if (qcap > QCAP_MAX)
        qcap = QCAP_MAX;
    if (ts->q == NULL)
        ts->qcap = qcap;
}

typedef struct {
    tstate_t *ts;
    uint64_t now;
} restore_ctx_t;

static bool restore_pending(void *arg, uint32_t tid, uint64_t seq, const hd_evlog_pending_t *p)
{
    (void)tid;
    restore_ctx_t *rc = arg;
    tstate_t *ts = rc->ts;
    uint64_t *nr = hd_realloc(ts->restored, (ts->nrestored + 1) * sizeof *nr);
    if (nr == NULL)
        return false;
    ts->restored = nr;
    nr[ts->nrestored++] = seq; /* scan order is seq order: stays sorted */
    dlv_t *v = dlv_new(ts, seq, NULL);
    if (v == NULL)
        return false;
    v->had_pending = true;
    v->last_status = p->last_status;
    uint32_t subscriber_max = ts->dl.retry + 1;
    if (p->attempts > subscriber_max) {
        v->attempts = subscriber_max;
        v->dls_attempts = p->attempts - subscriber_max;
    } else {
        v->attempts = p->attempts;
    }
    uint64_t delay = p->due_ms > rc->now ? p->due_ms - rc->now : 0;
    if (v->dls_attempts > 0 && ts->dls_uri) {
        /* resume in the dead-letter phase: rebuild the extensions when the event is loaded */
        v->attempts = subscriber_max + 1;
    }
    dlv_schedule(v, delay);
    return true;
}

static void ts_start(tstate_t *ts, hd_trigger_t *t)
{
    hd_dispatch_t *d = ts->d;
    if (t->broker == NULL)
        return;
    if (t->broker->dispatch == NULL)
        hd_dispatch_broker_added(d, t->broker);
    bstate_t *bs = t->broker->dispatch;
    if (bs == NULL)
        return;
    ts->b = bs;
    ts->next = bs->triggers;
    bs->triggers = ts;
    bs->ntriggers++;
    uint64_t cursor;
    if (!hd_evlog_cursor_get(d->srv->log, ts->id, &cursor)) {
        /* a new trigger: events from now on */
        cursor = bs->last_seq;
        hd_evlog_txn_t *b = batch_get(d);
        if (b && hd_evlog_txn_cursor(b, ts->id, cursor) == HD_E_OK)
            d->batch_ops++;
    }
    ts->cursor_stored = cursor;
    uint64_t first_dead = 0;
    hd_evlog_dead_scan(d->srv->log, ts->id, first_dead_fn, &first_dead);
    ts->maybe_dead = first_dead != 0;
    restore_ctx_t rc = {.ts = ts, .now = hd_wall_ms()};
    hd_evlog_pending_scan(d->srv->log, ts->id, restore_pending, &rc);
    uint64_t start = cursor + 1;
    /* a started trigger counts as attached until it says otherwise */
    ts->attached = true;
    if (start >= bs->routed_next) {
        ts->start_seq = start;
    } else if (bs->fresh) {
        /* at startup: the broker re-routes from the smallest cursor, shared by all triggers */
        bs->routed_next = start;
        ts->start_seq = start;
        work_schedule_b(d, bs);
    } else {
        ts->next_seq = start;
        ts_set_attached(ts, false);
        work_schedule_t(d, ts);
    }
}

/* Stops a trigger's runtime state (deliveries cancelled: they are redelivered from the
 * cursor). forget: also free the tstate (trigger removed). */
static void ts_stop(tstate_t *ts, bool forget)
{
    hd_dispatch_t *d = ts->d;
    bstate_t *bs = ts->b;
    if (bs) {
        ts_flush_cursor(ts);
        ts_set_attached(ts, true); /* leaves the detached list */
        for (tstate_t **pp = &bs->triggers; *pp; pp = &(*pp)->next)
            if (*pp == ts) {
                *pp = ts->next;
                bs->ntriggers--;
                break;
            }
    }
    if (ts->in_work) {
        tstate_t *prev = NULL;
        for (tstate_t **pp = &d->twork; *pp; prev = *pp, pp = &(*pp)->work_next)
            if (*pp == ts) {
                *pp = ts->work_next;
                if (d->twork_tail == ts)
                    d->twork_tail = prev;
                break;
            }
        ts->in_work = false;
    }
    while (ts->dlvs) {
        dlv_t *v = ts->dlvs;
        if (v->call) {
            hd_httpc_cancel(v->call);
            v->call = NULL;
        }
        if (v->waiting)
            ts->nwaiting--;
        if (v->in_ingest) {
            /* the store callback frees it */
            ts->dlvs = v->next;
            if (ts->dlvs)
                ts->dlvs->prev = NULL;
            ts->nlive--;
            v->ts = NULL;
            v->next = v->prev = NULL;
            continue;
        }
        dlv_unlink_free(v);
    }
    ts->ninflight = 0;
    q_clear(ts);
    ts->xn = 0;
    hd_free(ts->restored);
    ts->restored = NULL;
    ts->nrestored = 0;
    ts->b = NULL;
    ts->attached = false;
    ts_unmark_dirty(ts);
    if (forget)
        ts_free(ts);
}

void hd_dispatch_trigger_added(hd_dispatch_t *d, hd_trigger_t *t)
{
    if (d == NULL || t == NULL || t->dispatch)
        return;
    tstate_t *ts = hd_calloc(1, sizeof *ts);
    if (ts == NULL) {
        hd_log(HD_LOG_ERROR, "dispatch: out of memory adding a trigger", "trigger", t->name, NULL);
        return;
    }
    ts->d = d;
    ts->t = t;
    ts->id = t->id;
    ts->ns = hd_strdup(t->ns ? t->ns : "");
    ts->name = hd_strdup(t->name ? t->name : "");
    ts->kind_label = t->subscription ? "subscription" : "trigger";
    ts_settings(ts, t);
    hd_metrics_t *m = d->srv->metrics;
    if (m && ts->ns && ts->name) {
        ts->m_latency = hd_metrics_histogram(m, "herald_dispatch_latency_seconds",
                                             "Time from sending an event to its answer",
                                             "namespace", ts->ns, ts->kind_label, ts->name);
        ts->m_backlog = hd_metrics_gauge(m, "herald_trigger_backlog",
                                         "Events of the broker not yet done for the trigger",
                                         "namespace", ts->ns, ts->kind_label, ts->name);
        /* one family, two series: to="sink" (m_dls) and to="table" (m_dead) */
        const struct {
            const char *to;
            hd_metric_t **counter;
        } dead[] = {{"sink", &ts->m_dls}, {"table", &ts->m_dead}};
        for (size_t i = 0; i < sizeof dead / sizeof dead[0]; i++) {
            *dead[i].counter =
                hd_metrics_counter(m, "herald_dead_letter_total",
                                   "Events given up on: sent to the dead-letter "
                                   "sink or kept in the dead table",
                                   "namespace", ts->ns, ts->kind_label, ts->name, "to", dead[i].to);
        }
        if (t->subscription) {
            ts->m_reply_drop =
                hd_metrics_counter(m, "herald_dropped_total", "Events dropped, by reason",
                                   "namespace", ts->ns, ts->kind_label, ts->name, "reason",
                                   "no_reply");
        }
    }
    t->dispatch = ts;
    ts_start(ts, t);
    ts_pump(ts);
}

void hd_dispatch_trigger_updated(hd_dispatch_t *d, hd_trigger_t *t)
{
    if (d == NULL || t == NULL)
        return;
    tstate_t *ts = t->dispatch;
    if (ts == NULL) {
        hd_dispatch_trigger_added(d, t);
        return;
    }
    ts->t = t;
    ts_settings(ts, t);
    bstate_t *want = t->broker ? t->broker->dispatch : NULL;
    if (ts->b == NULL || want != ts->b || t->broker == NULL) {
        ts_stop(ts, false);
        ts_start(ts, t);
    }
    ts_pump(ts);
}

void hd_dispatch_trigger_removed(hd_dispatch_t *d, hd_trigger_t *t, bool delete_records)
{
    if (d == NULL || t == NULL)
        return;
    uint32_t id = t->id;
    tstate_t *ts = t->dispatch;
    if (ts) {
        ts->removed = true;
        ts_stop(ts, true);
        t->dispatch = NULL;
    }
    /* the dispatcher owns progress records: one that never ran may still have some */
    if (delete_records) {
        hd_evlog_txn_t *b = batch_get(d);
        if (b && hd_evlog_txn_forget(b, id) == HD_E_OK)
            d->batch_ops++;
        batch_submit(d);
    }
}

/* ---- replay, stats -------------------------------------------------------------------- */

hd_err_t hd_dispatch_replay(hd_dispatch_t *d, hd_trigger_t *t, uint64_t from_seq)
{
    if (d == NULL || t == NULL || t->dispatch == NULL)
        return HD_E_INVAL;
    tstate_t *ts = t->dispatch;
    if (ts->b == NULL)
        return HD_E_INVAL;
    if (from_seq == 0)
        from_seq = 1;
    uint64_t first = hd_evlog_first_seq(d->srv->log, ts->b->id);
    if (first == 0 || from_seq < first) {
        if (first == 0 && from_seq > ts->b->last_seq)
            goto ok; /* nothing to replay, nothing lost */
        char f[24];
        snprintf(f, sizeof f, "%llu", (unsigned long long)first);
        hd_log(HD_LOG_WARN, "replay: events below the first kept seq are gone", "trigger", ts->name,
               "first_kept_seq", f, NULL);
        return HD_E_NOTFOUND;
    }
ok:
    q_clear(ts);
    ts->next_seq = from_seq;
    ts_set_attached(ts, false);
    ts_mark_dirty(ts);
    work_schedule_t(d, ts);
    return HD_E_OK;
}

typedef struct {
    tstate_t *ts;
    uint64_t seq;
    size_t n;
} dlq_ctx_t;

static bool dlq_collect(void *arg, uint32_t tid, uint64_t seq, int32_t status, uint64_t wall,
                        const char *error, size_t len)
{
    (void)tid;
    (void)status;
    (void)wall;
    (void)error;
    (void)len;
    dlq_ctx_t *c = arg;
    tstate_t *ts = c->ts;
    if (c->seq && seq != c->seq)
        return true;
    for (size_t i = 0; i < ts->xn; i++)
        if (ts->xq[i] == seq)
            return true;
    for (dlv_t *v = ts->dlvs; v; v = v->next)
        if (v->extra && v->seq == seq)
            return true;
    if (ts->xn == ts->xcap) {
        size_t cap = ts->xcap ? ts->xcap * 2 : 64;
        uint64_t *nx = hd_realloc(ts->xq, cap * sizeof *nx);
        if (nx == NULL)
            return false;
        ts->xq = nx;
        ts->xcap = cap;
    }
    /* pumped from the end: keep seq order by inserting at the front */
    memmove(ts->xq + 1, ts->xq, ts->xn * sizeof *ts->xq);
    ts->xq[0] = seq;
    ts->xn++;
    c->n++;
    return c->seq == 0;
}

size_t hd_dispatch_dlq_replay(hd_dispatch_t *d, hd_trigger_t *t, uint64_t seq)
{
    if (d == NULL || t == NULL || t->dispatch == NULL)
        return 0;
    tstate_t *ts = t->dispatch;
    if (ts->b == NULL)
        return 0;
    dlq_ctx_t c = {.ts = ts, .seq = seq};
    hd_evlog_dead_scan(d->srv->log, ts->id, dlq_collect, &c);
    ts_pump(ts);
    return c.n;
}

void hd_dispatch_trigger_stats(hd_dispatch_t *d, const hd_trigger_t *t, hd_dispatch_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (d == NULL || t == NULL || t->dispatch == NULL)
        return;
    tstate_t *ts = t->dispatch;
    uint64_t lwm = ts_lwm(ts);
    out->cursor = ts->cursor_stored == UINT64_MAX ? lwm : ts->cursor_stored;
    uint64_t last = ts->b ? ts->b->last_seq : 0;
    out->backlog = last > lwm ? last - lwm : 0;
    out->in_flight = ts->ninflight;
    out->pending_retries = ts->nwaiting;
    out->delivered = ts->delivered;
    out->failed = ts->failed;
    out->dead_lettered = ts->dead_lettered;
    out->dead = ts->dead;
    out->last_status = ts->last_status;
    snprintf(out->last_error, sizeof out->last_error, "%s", ts->last_error);
}

static void on_render(void *arg)
{
    hd_dispatch_t *d = arg;
    for (bstate_t *bs = d->brokers; bs; bs = bs->next)
        for (tstate_t *ts = bs->triggers; ts; ts = ts->next) {
            uint64_t lwm = ts_lwm(ts);
            hd_metric_set(ts->m_backlog, (int64_t)(bs->last_seq > lwm ? bs->last_seq - lwm : 0));
        }
}

/* ---- open / close --------------------------------------------------------------------- */

/* The observer table main registers with the registry: the typed callbacks above. */
static void obs_broker_added(void *arg, hd_broker_t *b)
{
    hd_dispatch_broker_added(arg, b);
}

static void obs_broker_removed(void *arg, hd_broker_t *b, bool drop)
{
    hd_dispatch_broker_removed(arg, b, drop);
}

static void obs_trigger_added(void *arg, hd_trigger_t *t)
{
    hd_dispatch_trigger_added(arg, t);
}

static void obs_trigger_updated(void *arg, hd_trigger_t *t)
{
    hd_dispatch_trigger_updated(arg, t);
}

static void obs_trigger_removed(void *arg, hd_trigger_t *t, bool forget)
{
    hd_dispatch_trigger_removed(arg, t, forget);
}

const hd_resources_observer_t *hd_dispatch_observer(void)
{
    static const hd_resources_observer_t obs = {
        .broker_added = obs_broker_added,
        .broker_removed = obs_broker_removed,
        .trigger_added = obs_trigger_added,
        .trigger_updated = obs_trigger_updated,
        .trigger_removed = obs_trigger_removed,
    };
    return &obs;
}

hd_err_t hd_dispatch_open(hd_server_t *srv, const hd_dispatch_hooks_t *hooks, hd_dispatch_t **out)
{
    hd_dispatch_t *d = hd_calloc(1, sizeof *d);
    if (d == NULL)
        return HD_E_NOMEM;
    d->srv = srv;
    if (hooks)
        d->hooks = *hooks;
    d->httpc = srv->httpc;
    if (d->httpc == NULL) {
        hd_httpc_opts_t o = {.max_conns_per_host =
                                 srv->cfg ? (size_t)srv->cfg->delivery_pool_max : 0};
        hd_err_t rc = hd_httpc_new(srv->loop, &o, &d->httpc);
        if (rc != HD_E_OK) {
            hd_free(d);
            return rc;
        }
        d->own_httpc = true;
    }
    hd_err_t rc = hd_evlog_watch(srv->log, on_commit, d);
    if (rc != HD_E_OK) {
        if (d->own_httpc)
            hd_httpc_close(d->httpc);
        hd_free(d);
        return rc;
    }
    uv_timer_init(srv->loop, &d->flush_timer);
    uv_timer_init(srv->loop, &d->slow_timer);
    uv_idle_init(srv->loop, &d->work);
    d->flush_timer.data = d->slow_timer.data = d->work.data = d;
    d->last_idle_flush = d->last_retention = hd_now_ms();
    uv_timer_start(&d->flush_timer, flush_cb, FLUSH_MS, FLUSH_MS);
    if (srv->metrics)
        hd_metrics_on_render(srv->metrics, on_render, d);
    *out = d;
    return HD_E_OK;
}

static void disp_handle_closed(uv_handle_t *h)
{
    hd_dispatch_t *d = h->data;
    if (--d->closing_handles == 0)
        hd_free(d);
}

void hd_dispatch_close(hd_dispatch_t *d)
{
    if (d == NULL)
        return;
    hd_evlog_unwatch(d->srv->log, on_commit, d);
    if (d->srv->metrics)
        hd_metrics_off_render(d->srv->metrics, on_render, d);
    /* each trigger writes its last cursor (in-flight deliveries still count as owed), then its
     * deliveries are cancelled: they are redelivered after the restart */
    while (d->brokers) {
        bstate_t *bs = d->brokers;
        d->brokers = bs->next;
        while (bs->triggers) {
            tstate_t *ts = bs->triggers;
            hd_trigger_t *t = ts->t;
            ts->removed = true;
            ts_stop(ts, true);
            if (t)
                t->dispatch = NULL;
        }
        if (bs->b)
            bs->b->dispatch = NULL;
        bstate_free(bs);
    }
    batch_submit(d);
    d->closed = true;
    if (d->own_httpc)
        hd_httpc_close(d->httpc);
    d->closing_handles = 3;
    uv_close((uv_handle_t *)&d->flush_timer, disp_handle_closed);
    uv_close((uv_handle_t *)&d->slow_timer, disp_handle_closed);
    uv_close((uv_handle_t *)&d->work, disp_handle_closed);
}
