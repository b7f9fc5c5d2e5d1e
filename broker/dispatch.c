/*
 * dispatch.c — the dispatcher's API (hd_dispatch.h): open/close, the resources observer
 * callbacks that start and stop brokers and triggers, replay, DLQ replay and stats. Routing,
 * delivery and progress live in dispatch_route.c, dispatch_delivery.c and dispatch_progress.c
 * (dispatch_internal.h says which does what).
 *
 * After a restart every trigger starts from its cursor; routing restarts at the broker's
 * smallest cursor and each trigger skips events below its own start. Pending records come back
 * as deliveries with their remaining attempts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_internal.h"
#include "hd_config.h"
#include "hd_filter.h"

static void trigger_free(trigger_run_t *tr)
{
    hd_dispatch__q_clear(tr);
    hd_free(tr->q);
    hd_free(tr->replayed_dead_q);
    hd_free(tr->restored);
    hd_free(tr->ns);
    hd_free(tr->name);
    hd_free(tr->log_name);
    hd_free(tr->sub_uri);
    hd_free(tr->reply_uri);
    hd_free(tr->dls_uri);
    hd_free(tr);
}

/* ---- resources ------------------------------------------------------------------------ */

static void broker_run_free(broker_run_t *br)
{
    hd_free(br);
}

void hd_dispatch_broker_added(hd_dispatch_t *d, hd_broker_t *b)
{
    if (d == NULL || b == NULL || hd_dispatch__broker_by_id(d, b->id))
        return;
    broker_run_t *br = hd_calloc(1, sizeof *br);
    if (br == NULL) {
        hd_log(HD_LOG_ERROR, "dispatch: out of memory adding a broker", "broker", b->name, NULL);
        return;
    }
    br->d = d;
    br->b = b;
    br->id = b->id;
    br->last_seq = hd_evlog_last_seq(d->log, b->id);
    br->routed_next = br->last_seq + 1;
    br->unrouted = true;
    if (d->metrics) {
        br->m_ttl_drop = hd_metrics_counter(
            d->metrics, "herald_dropped_total", "Events dropped, by reason", "namespace", b->ns,
            b->channel ? "channel" : "broker", b->name, "reason", "ttl");
    }
    br->next = d->brokers;
    d->brokers = br;
}

static void trigger_stop(trigger_run_t *tr, bool forget);

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
    if (drop && d->metrics && b->ns && b->name) {
        /* deleted: every series naming it leaves /metrics, its triggers' ones too */
        hd_metrics_forget(d->metrics, "namespace", b->ns, b->channel ? "channel" : "broker",
                          b->name);
    }
    if (drop) {
        /* the broker or channel is deleted: its events go with it */
        hd_err_t rc = d->log ? hd_evlog_drop(d->log, b->id, drop_done, NULL) : HD_E_OK;
        if (rc != HD_E_OK)
            drop_done(NULL, rc);
    }
    broker_run_t *br = hd_dispatch__broker_by_id(d, b->id);
    if (br == NULL)
        return;
    while (br->triggers)
        trigger_stop(br->triggers, false);
    for (broker_run_t **pp = &d->brokers; *pp; pp = &(*pp)->next)
        if (*pp == br) {
            *pp = br->next;
            break;
        }
    for (broker_run_t **pp = &d->bwork; *pp; pp = &(*pp)->work_next)
        if (*pp == br) {
            *pp = br->work_next;
            break;
        }
    broker_run_free(br);
}

static void trigger_settings(trigger_run_t *tr, hd_trigger_t *t)
{
    tr->dl = t->delivery;
    hd_free(tr->sub_uri);
    hd_free(tr->dls_uri);
    hd_free(tr->reply_uri);
    tr->sub_uri = t->subscriber_uri ? hd_strdup(t->subscriber_uri) : NULL;
    tr->sub_log = t->subscriber_log;
    tr->reply_uri = t->reply_uri ? hd_strdup(t->reply_uri) : NULL;
    tr->reply_log = t->reply_log;
    tr->subscription = t->subscription;
    tr->dls_uri = t->delivery.dead_letter_uri ? hd_strdup(t->delivery.dead_letter_uri) : NULL;
    tr->dl.dead_letter_uri = NULL;
    uint32_t mif = tr->dl.max_in_flight ? tr->dl.max_in_flight : 100;
    size_t qcap = (size_t)mif * 2;
    if (qcap < HD_DISPATCH__QCAP_MIN)
        qcap = HD_DISPATCH__QCAP_MIN;
    if (qcap > HD_DISPATCH__QCAP_MAX)
        qcap = HD_DISPATCH__QCAP_MAX;
    if (tr->q == NULL)
        tr->qcap = qcap;
}

typedef struct {
    trigger_run_t *tr;
    uint64_t now;
} restore_ctx_t;

static bool restore_pending(void *arg, uint32_t tid, uint64_t seq, const hd_evlog_pending_t *p)
{
    (void)tid;
    restore_ctx_t *rc = arg;
    trigger_run_t *tr = rc->tr;
    uint64_t *nr = hd_realloc(tr->restored, (tr->nrestored + 1) * sizeof *nr);
    if (nr == NULL)
        return false;
    tr->restored = nr;
    nr[tr->nrestored++] = seq; /* scan order is seq order: stays sorted */
    delivery_t *v = hd_dispatch__delivery_new(tr, seq, NULL);
    if (v == NULL)
        return false;
    v->had_pending = true;
    v->last_status = p->last_status;
    if (p->body_len) {
        size_t n = p->body_len > HD_DISPATCH__ERRDATA_MAX ? HD_DISPATCH__ERRDATA_MAX : p->body_len;
        v->last_body = hd_malloc(n); /* out of memory loses only knativeerrordata */
        if (v->last_body) {
            memcpy(v->last_body, p->body, n);
            v->last_body_len = n;
        }
    }
    uint32_t subscriber_max = tr->dl.retry + 1;
    if (p->attempts > subscriber_max) {
        v->attempts = subscriber_max;
        v->dls_attempts = p->attempts - subscriber_max;
    } else {
        v->attempts = p->attempts;
    }
    uint64_t delay = p->due_ms > rc->now ? p->due_ms - rc->now : 0;
    if (v->dls_attempts > 0 && tr->dls_uri) {
        /* resume in the dead-letter phase: rebuild the extensions when the event is loaded */
        v->attempts = subscriber_max + 1;
    }
    hd_dispatch__delivery_schedule(v, delay);
    return true;
}

static void trigger_start(trigger_run_t *tr, hd_trigger_t *t)
{
    hd_dispatch_t *d = tr->d;
    if (t->broker == NULL)
        return;
    broker_run_t *br = hd_dispatch__broker_by_id(d, t->broker->id);
    if (br == NULL) {
        hd_dispatch_broker_added(d, t->broker);
        br = hd_dispatch__broker_by_id(d, t->broker->id);
    }
    if (br == NULL)
        return;
    tr->br = br;
    tr->next = br->triggers;
    br->triggers = tr;
    br->ntriggers++;
    uint64_t cursor;
    if (!hd_evlog_cursor_get(d->log, tr->id, &cursor)) {
        /* a new trigger: events from now on */
        cursor = br->last_seq;
        hd_evlog_txn_t *b = hd_dispatch__txn(d);
        if (b && hd_evlog_txn_cursor(b, tr->id, cursor) == HD_E_OK)
            d->batch_ops++;
    }
    tr->cursor_stored = cursor;
    tr->may_have_dead = hd_dispatch__first_dead(d, tr->id) != 0;
    restore_ctx_t rc = {.tr = tr, .now = hd_wall_ms()};
    hd_evlog_pending_scan(d->log, tr->id, restore_pending, &rc);
    uint64_t start = cursor + 1;
    /* a started trigger counts as attached until it says otherwise */
    tr->attached = true;
    tr->routed_mark = br->routed;
    if (start >= br->routed_next) {
        tr->start_seq = start;
    } else if (br->unrouted) {
        /* at startup: the broker re-routes from the smallest cursor, shared by all triggers */
        br->routed_next = start;
        tr->start_seq = start;
        hd_dispatch__schedule_broker_work(d, br);
    } else {
        tr->next_seq = start;
        hd_dispatch__set_attached(tr, false);
        hd_dispatch__schedule_trigger_work(d, tr);
    }
}

/* Stops a trigger's runtime state (deliveries cancelled: they are redelivered from the
 * cursor). forget: also free the trigger_run_t (trigger removed). */
static void trigger_stop(trigger_run_t *tr, bool forget)
{
    hd_dispatch_t *d = tr->d;
    broker_run_t *br = tr->br;
    if (br) {
        hd_dispatch__flush_cursor(tr);
        hd_dispatch__set_attached(tr, true); /* leaves the detached list */
        for (trigger_run_t **pp = &br->triggers; *pp; pp = &(*pp)->next)
            if (*pp == tr) {
                *pp = tr->next;
                br->ntriggers--;
                break;
            }
    }
    if (tr->in_work) {
        trigger_run_t *prev = NULL;
        for (trigger_run_t **pp = &d->twork; *pp; prev = *pp, pp = &(*pp)->work_next)
            if (*pp == tr) {
                *pp = tr->work_next;
                if (d->twork_tail == tr)
                    d->twork_tail = prev;
                break;
            }
        tr->in_work = false;
    }
    while (tr->deliveries) {
        delivery_t *v = tr->deliveries;
        if (v->call) {
            hd_httpc_cancel(v->call);
            v->call = NULL;
        }
        if (v->waiting)
            tr->nwaiting--;
        if (v->in_ingest) {
            /* the store callback frees it */
            tr->deliveries = v->next;
            if (tr->deliveries)
                tr->deliveries->prev = NULL;
            tr->nlive--;
            v->tr = NULL;
            v->next = v->prev = NULL;
            continue;
        }
        hd_dispatch__delivery_free(v);
    }
    tr->ninflight = 0;
    if (br && tr->attached)
        tr->evaluated += br->routed - tr->routed_mark;
    hd_dispatch__q_clear(tr);
    tr->replayed_dead_n = 0;
    hd_free(tr->restored);
    tr->restored = NULL;
    tr->nrestored = 0;
    tr->br = NULL;
    tr->attached = false;
    hd_dispatch__unmark_dirty(tr);
    if (forget)
        trigger_free(tr);
}

void hd_dispatch_trigger_added(hd_dispatch_t *d, hd_trigger_t *t)
{
    if (d == NULL || t == NULL || t->dispatch)
        return;
    trigger_run_t *tr = hd_calloc(1, sizeof *tr);
    if (tr == NULL) {
        hd_log(HD_LOG_ERROR, "dispatch: out of memory adding a trigger", "trigger", t->name, NULL);
        return;
    }
    tr->d = d;
    tr->t = t;
    tr->id = t->id;
    tr->ns = hd_strdup(t->ns ? t->ns : "");
    tr->name = hd_strdup(t->name ? t->name : "");
    tr->kind_label = t->subscription ? "subscription" : "trigger";
    tr->log_label = t->subscription ? "channel" : "broker";
    tr->log_name = hd_strdup(t->broker && t->broker->name ? t->broker->name : "");
    trigger_settings(tr, t);
    hd_metrics_t *m = d->metrics;
    if (m && tr->ns && tr->name && tr->log_name) {
        /* every series of a trigger: namespace, broker (channel), trigger (subscription) */
        const char *ns = tr->ns, *ll = tr->log_label, *ln = tr->log_name, *kl = tr->kind_label;
        tr->m_latency = hd_metrics_histogram(m, "herald_dispatch_latency_seconds",
                                             "Time from sending an event to its answer",
                                             "namespace", ns, ll, ln, kl, tr->name);
        tr->m_backlog = hd_metrics_gauge(m, "herald_trigger_backlog",
                                         "Events the trigger matches and has not done yet (an "
                                         "upper bound past 1000 events left to filter)",
                                         "namespace", ns, ll, ln, kl, tr->name);
        tr->m_matched = hd_metrics_counter(m, "herald_trigger_events_matched_total",
                                           "Events of the broker the trigger's filter passed",
                                           "namespace", ns, ll, ln, kl, tr->name);
        tr->m_evaluated =
            hd_metrics_counter(m, "herald_trigger_events_evaluated_total",
                               "Events of the broker run through the trigger's filter (an event "
                               "the router's index rules out counts as evaluated)",
                               "namespace", ns, ll, ln, kl, tr->name);
        /* one family, two series: to="sink" (m_dls) and to="table" (m_dead) */
        const struct {
            const char *to;
            hd_metric_t **counter;
        } dead[] = {{"sink", &tr->m_dls}, {"table", &tr->m_dead}};
        for (size_t i = 0; i < sizeof dead / sizeof dead[0]; i++) {
            *dead[i].counter =
                hd_metrics_counter(m, "herald_dead_letter_total",
                                   "Events given up on: sent to the dead-letter "
                                   "sink or kept in the dead table",
                                   "namespace", ns, ll, ln, kl, tr->name, "to", dead[i].to);
        }
        tr->m_awaiting_dls = hd_metrics_gauge(
            m, "herald_trigger_awaiting_dead_letter_sink",
            "Events that exhausted their retries and wait, pending, for a dead-letter sink that "
            "does not resolve",
            "namespace", tr->ns, t->subscription ? "channel" : "broker",
            t->broker && t->broker->name ? t->broker->name : "", tr->kind_label, tr->name);
        if (t->subscription) {
            tr->m_reply_drop =
                hd_metrics_counter(m, "herald_dropped_total", "Events dropped, by reason",
                                   "namespace", ns, ll, ln, kl, tr->name, "reason", "no_reply");
        }
    }
    t->dispatch = tr;
    trigger_start(tr, t);
    hd_dispatch__pump(tr);
}

void hd_dispatch_trigger_updated(hd_dispatch_t *d, hd_trigger_t *t)
{
    if (d == NULL || t == NULL)
        return;
    trigger_run_t *tr = t->dispatch;
    if (tr == NULL) {
        hd_dispatch_trigger_added(d, t);
        return;
    }
    tr->t = t;
    trigger_settings(tr, t);
    broker_run_t *want = t->broker ? hd_dispatch__broker_by_id(d, t->broker->id) : NULL;
    if (tr->br == NULL || want != tr->br || t->broker == NULL) {
        trigger_stop(tr, false);
        trigger_start(tr, t);
    }
    hd_dispatch__pump(tr);
}

void hd_dispatch_trigger_removed(hd_dispatch_t *d, hd_trigger_t *t, bool delete_records)
{
    if (d == NULL || t == NULL)
        return;
    uint32_t id = t->id;
    trigger_run_t *tr = t->dispatch;
    if (tr) {
        tr->removed = true;
        trigger_stop(tr, true);
        t->dispatch = NULL;
    }
    /* deleted: its series leave /metrics (kept while it only waits for its broker) */
    if (delete_records && d->metrics && t->ns && t->name)
        hd_metrics_forget(d->metrics, "namespace", t->ns,
                          t->subscription ? "subscription" : "trigger", t->name);
    /* the dispatcher owns progress records: one that never ran may still have some */
    if (delete_records) {
        hd_evlog_txn_t *b = hd_dispatch__txn(d);
        if (b && hd_evlog_txn_forget(b, id) == HD_E_OK)
            d->batch_ops++;
        hd_dispatch__txn_submit(d);
    }
}

/* ---- backlog: the events a trigger matches and has not done ---------------------------- */

typedef struct {
    const trigger_run_t *tr;
    uint64_t matched, last_read;
    uint64_t *events; /* NULL, or counts every stored event read */
} backlog_scan_t;

static bool backlog_one(void *arg, uint64_t seq, uint64_t ingest_ms, ce_event_t *ev)
{
    (void)ingest_ms;
    backlog_scan_t *b = arg;
    const trigger_run_t *tr = b->tr;
    b->last_read = seq;
    if (b->events)
        (*b->events)++;
    /* a restored pending event is a delivery already; an undecodable one is never delivered */
    if (ev && !(tr->nrestored && hd_dispatch__restored_has(tr, seq)) &&
        (tr->t == NULL || hd_filter_match(tr->t->filter, ev)))
        b->matched++;
    ce_event_free(ev);
    return true;
}

/* The events tr matches and has not done: what it owes (deliveries, queued, replayed dead
 * letters) plus the matching events past its reading position. At most *budget events are read
 * and filtered (the budget is decreased); past it every event counts (an upper bound) and *exact
 * becomes false. */
static uint64_t backlog_of(hd_dispatch_t *d, const trigger_run_t *tr, uint64_t *budget, bool *exact)
{
    *exact = true;
    uint64_t n = tr->q_len + tr->replayed_dead_n + tr->nlive;
    broker_run_t *br = tr->br;
    if (br == NULL)
        return n;
    uint64_t pos = tr->attached
                       ? (br->routed_next > tr->start_seq ? br->routed_next : tr->start_seq)
                       : tr->next_seq;
    uint64_t first = hd_evlog_first_seq(d->log, br->id);
    if (first == 0 || pos > br->last_seq)
        return n; /* nothing stored past its position */
    if (pos < first)
        pos = first; /* trimmed: never delivered, never owed */
    uint64_t left = br->last_seq - pos + 1;
    const hd_filter_t *f = tr->t ? tr->t->filter : NULL;
    if (f == NULL && tr->nrestored == 0)
        return n + left; /* no filter: every stored event (a few may be gaps: an upper bound) */
    uint64_t want = left < *budget ? left : *budget;
    backlog_scan_t b = {.tr = tr, .last_read = pos - 1};
    if (want > 0 && hd_evlog_read(d->log, br->id, pos, (size_t)want, backlog_one, &b) != HD_E_OK) {
        *exact = false;
        return n + left;
    }
    *budget -= want;
    n += b.matched;
    if (b.last_read < br->last_seq && want < left) {
        *exact = false;
        n += br->last_seq - b.last_read;
    }
    return n;
}

/* ---- replay, stats -------------------------------------------------------------------- */

hd_err_t hd_dispatch_replay(hd_dispatch_t *d, hd_trigger_t *t, uint64_t from_seq,
                            hd_dispatch_replay_info_t *info)
{
    if (d == NULL || t == NULL || t->dispatch == NULL)
        return HD_E_INVAL;
    trigger_run_t *tr = t->dispatch;
    if (tr->br == NULL)
        return HD_E_INVAL;
    if (from_seq == 0)
        from_seq = 1;
    uint64_t first = 0, last = 0, count = 0;
    hd_evlog_bounds(d->log, tr->br->id, &first, &last, &count);
    if (last < tr->br->last_seq)
        last = tr->br->last_seq;
    hd_dispatch_replay_info_t ri = {.from = from_seq, .last = last, .first_available = first};
    /* what retention deleted of the range: below the first kept seq, or all when none is kept */
    uint64_t kept_from = first ? first : last + 1;
    if (from_seq < kept_from)
        ri.gone = (kept_from <= last + 1 ? kept_from : last + 1) - from_seq;
    uint64_t start = from_seq > first ? from_seq : first;
    if (first && start <= last) {
        /* count what will be read and delivered again, filtering at most a bounded window */
        backlog_scan_t b = {.tr = tr, .last_read = start - 1};
        uint64_t left = last - start + 1, want = left;
        if (want > HD_DISPATCH_REPLAY_COUNT)
            want = HD_DISPATCH_REPLAY_COUNT;
        ri.replayed_exact = true;
        b.events = &ri.events;
        if (hd_evlog_read(d->log, tr->br->id, start, (size_t)want, backlog_one, &b) != HD_E_OK)
            b.last_read = start - 1;
        ri.replayed = b.matched;
        if (b.last_read < last) {
            ri.replayed_exact = false;
            ri.replayed += last - b.last_read;
            ri.events += last - b.last_read;
        }
        if (ri.events > count)
            ri.events = count;
    } else {
        ri.replayed_exact = true;
    }
    if (ri.gone) {
        char f[24], g[24];
        snprintf(f, sizeof f, "%llu", (unsigned long long)first);
        snprintf(g, sizeof g, "%llu", (unsigned long long)ri.gone);
        hd_log(HD_LOG_WARN, "replay: events below the first kept seq are gone (retention)",
               "trigger", tr->name, HD_LOG_NUM("first_kept_seq"), f, HD_LOG_NUM("gone"), g, NULL);
    }
    if (info)
        *info = ri;
    if (from_seq < start)
        from_seq = start;
    hd_dispatch__q_clear(tr);
    tr->next_seq = from_seq;
    hd_dispatch__set_attached(tr, false);
    hd_dispatch__mark_dirty(tr);
    hd_dispatch__schedule_trigger_work(d, tr);
    return HD_E_OK;
}

typedef struct {
    trigger_run_t *tr;
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
    trigger_run_t *tr = c->tr;
    if (c->seq && seq != c->seq)
        return true;
    for (size_t i = 0; i < tr->replayed_dead_n; i++)
        if (tr->replayed_dead_q[i] == seq)
            return true;
    for (delivery_t *v = tr->deliveries; v; v = v->next)
        if (v->replayed_dead && v->seq == seq)
            return true;
    if (tr->replayed_dead_n == tr->replayed_dead_cap) {
        size_t cap = tr->replayed_dead_cap ? tr->replayed_dead_cap * 2 : 64;
        uint64_t *nx = hd_realloc(tr->replayed_dead_q, cap * sizeof *nx);
        if (nx == NULL)
            return false;
        tr->replayed_dead_q = nx;
        tr->replayed_dead_cap = cap;
    }
    /* pumped from the end: keep seq order by inserting at the front */
    memmove(tr->replayed_dead_q + 1, tr->replayed_dead_q,
            tr->replayed_dead_n * sizeof *tr->replayed_dead_q);
    tr->replayed_dead_q[0] = seq;
    tr->replayed_dead_n++;
    c->n++;
    return c->seq == 0;
}

size_t hd_dispatch_dlq_replay(hd_dispatch_t *d, hd_trigger_t *t, uint64_t seq)
{
    if (d == NULL || t == NULL || t->dispatch == NULL)
        return 0;
    trigger_run_t *tr = t->dispatch;
    if (tr->br == NULL)
        return 0;
    dlq_ctx_t c = {.tr = tr, .seq = seq};
    hd_evlog_dead_scan(d->log, tr->id, dlq_collect, &c);
    hd_dispatch__pump(tr);
    return c.n;
}

void hd_dispatch_trigger_stats(hd_dispatch_t *d, const hd_trigger_t *t, hd_dispatch_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (d == NULL || t == NULL || t->dispatch == NULL)
        return;
    trigger_run_t *tr = t->dispatch;
    uint64_t lwm = hd_dispatch__lwm(tr);
    out->cursor = tr->cursor_stored == UINT64_MAX ? lwm : tr->cursor_stored;
    uint64_t budget = HD_DISPATCH__BACKLOG_SCAN;
    out->backlog = backlog_of(d, tr, &budget, &out->backlog_exact);
    out->in_flight = tr->ninflight;
    out->pending_retries = tr->nwaiting;
    out->delivered = tr->delivered;
    out->failed = tr->failed;
    out->dead_lettered = tr->dead_lettered;
    out->dead = tr->dead;
    out->awaiting_dead_letter_sink = tr->awaiting_dls;
    out->last_status = tr->last_status;
    snprintf(out->last_error, sizeof out->last_error, "%s", tr->last_error);
    out->failing = tr->failing;
    out->failing_since_ms = tr->failing ? tr->failing_since_ms : 0;
    out->failed_attempts = tr->failed_attempts;
    out->last_attempt_ms = tr->last_attempt_ms;
    snprintf(out->last_body, sizeof out->last_body, "%s", tr->last_body);
}

static void on_render(void *arg)
{
    hd_dispatch_t *d = arg;
    uint64_t budget = HD_DISPATCH__BACKLOG_SCAN_RENDER; /* shared by every trigger */
    for (broker_run_t *br = d->brokers; br; br = br->next)
        for (trigger_run_t *tr = br->triggers; tr; tr = tr->next) {
            bool exact;
            uint64_t scan = budget < HD_DISPATCH__BACKLOG_SCAN ? budget : HD_DISPATCH__BACKLOG_SCAN;
            uint64_t before = scan;
            hd_metric_set(tr->m_backlog, (int64_t)backlog_of(d, tr, &scan, &exact));
            budget -= before - scan;
            hd_metric_set(
                tr->m_evaluated,
                (int64_t)(tr->evaluated + (tr->attached ? br->routed - tr->routed_mark : 0)));
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

hd_err_t hd_dispatch_open(uv_loop_t *loop, hd_evlog_t *log, hd_httpc_t *httpc,
                          hd_metrics_t *metrics, const hd_dispatch_opts_t *opts,
                          const hd_dispatch_hooks_t *hooks, hd_dispatch_t **out)
{
    if (loop == NULL || log == NULL || httpc == NULL || out == NULL)
        return HD_E_INVAL;
    hd_dispatch_t *d = hd_calloc(1, sizeof *d);
    if (d == NULL)
        return HD_E_NOMEM;
    d->loop = loop;
    d->log = log;
    d->httpc = httpc;
    d->metrics = metrics;
    d->retention_ms = opts && opts->retention_ms ? opts->retention_ms : HD_CONFIG_RETENTION_MS;
    d->retention_interval_ms = opts && opts->retention_interval_ms
                                   ? opts->retention_interval_ms
                                   : HD_CONFIG_RETENTION_INTERVAL_MS;
    d->retention_min_age_ms = opts ? opts->retention_min_age_ms : 0;
    if (hooks)
        d->hooks = *hooks;
    hd_err_t rc = hd_evlog_watch(log, hd_dispatch__on_commit, d);
    if (rc != HD_E_OK) {
        hd_free(d);
        return rc;
    }
    uv_timer_init(loop, &d->flush_timer);
    uv_idle_init(loop, &d->work);
    d->flush_timer.data = d->work.data = d;
    d->last_idle_flush = d->last_retention = hd_now_ms();
    uv_timer_start(&d->flush_timer, hd_dispatch__flush_cb, HD_DISPATCH__FLUSH_MS,
                   HD_DISPATCH__FLUSH_MS);
    if (metrics)
        hd_metrics_on_render(metrics, on_render, d);
    *out = d;
    return HD_E_OK;
}

static void disp_handle_closed(uv_handle_t *h)
{
    hd_dispatch_t *d = h->data;
    if (--d->closing_handles == 0)
        hd_free(d);
}

void hd_dispatch_drain(hd_dispatch_t *d)
{
    if (d)
        d->draining = true;
}

size_t hd_dispatch_in_flight(const hd_dispatch_t *d)
{
    size_t n = 0;
    for (const broker_run_t *br = d ? d->brokers : NULL; br; br = br->next)
        for (const trigger_run_t *tr = br->triggers; tr; tr = tr->next) {
            n += tr->ninflight;
            for (const delivery_t *v = tr->deliveries; v; v = v->next)
                n += v->in_ingest;
        }
    return n;
}

void hd_dispatch_close(hd_dispatch_t *d)
{
    if (d == NULL)
        return;
    hd_evlog_unwatch(d->log, hd_dispatch__on_commit, d);
    if (d->metrics)
        hd_metrics_off_render(d->metrics, on_render, d);
    /* each trigger writes its last cursor (in-flight deliveries still count as owed), then its
     * deliveries are cancelled: they are redelivered after the restart */
    while (d->brokers) {
        broker_run_t *br = d->brokers;
        d->brokers = br->next;
        while (br->triggers) {
            trigger_run_t *tr = br->triggers;
            hd_trigger_t *t = tr->t;
            tr->removed = true;
            trigger_stop(tr, true);
            if (t)
                t->dispatch = NULL;
        }
        broker_run_free(br);
    }
    hd_dispatch__txn_submit(d);
    d->closed = true;
    d->closing_handles = 2;
    uv_close((uv_handle_t *)&d->flush_timer, disp_handle_closed);
    uv_close((uv_handle_t *)&d->work, disp_handle_closed);
}
