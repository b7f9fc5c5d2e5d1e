/*
 * dispatch_route.c — routing (dispatch_internal.h): each commit is read from the log once,
 * decoded once into a shared event and run through the broker's router, which only evaluates
 * candidate triggers; a matching trigger queues the shared event.
 *
 * A trigger is "attached" while it follows the shared routing. When its queue is full (its
 * subscriber is slow or down) it detaches: it remembers `next_seq` and later reads the log
 * itself, in windows, as slots free up, evaluating only its own filter; when it reaches the
 * broker's `routed_next` it attaches again. So a 1,000,000-event backlog costs a queue of at most
 * qcap events plus maxInFlight deliveries in memory, never the backlog.
 */
#include "dispatch_internal.h"
#include "hd_filter.h"
#include "hd_router.h"

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

shared_event_t *hd_dispatch__event_new(uint64_t seq, ce_event_t *ev)
{
    shared_event_t *e = hd_calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->refs = 1;
    e->seq = seq;
    e->ev = ev;
    const ce_value_t *pk = ce_event_get(ev, "partitionkey", 12);
    e->keyhash = pk ? fnv1a(pk->str, pk->len) : 0;
    return e;
}

void hd_dispatch__event_unref(shared_event_t *e)
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

/* Attaches a trigger to its broker's shared routing, or detaches it (it then reads the store
 * itself). Keeps the broker's list of detached triggers, so routing never walks all triggers. */
void hd_dispatch__set_attached(trigger_run_t *tr, bool attached)
{
    broker_run_t *br = tr->br;
    if (tr->attached == attached)
        return;
    tr->attached = attached;
    if (br == NULL)
        return;
    /* attached, its evaluated count follows the broker's routed count */
    if (attached)
        tr->routed_mark = br->routed;
    else
        tr->evaluated += br->routed - tr->routed_mark;
    if (!attached) {
        tr->det_prev = NULL;
        tr->det_next = br->detached;
        if (br->detached)
            br->detached->det_prev = tr;
        br->detached = tr;
        br->ndetached++;
    } else {
        if (tr->det_prev)
            tr->det_prev->det_next = tr->det_next;
        else
            br->detached = tr->det_next;
        if (tr->det_next)
            tr->det_next->det_prev = tr->det_prev;
        tr->det_next = tr->det_prev = NULL;
        br->ndetached--;
    }
}

/* ---- routing -------------------------------------------------------------------------- */

typedef struct {
    broker_run_t *br;
    shared_event_t *e;
    bool stop;
} route_ctx_t;

static void route_match(void *arg, hd_trigger_t *t)
{
    route_ctx_t *rc = arg;
    trigger_run_t *tr = t->dispatch; /* no lookup per event and matching trigger */
    if (tr == NULL || tr->br != rc->br || !tr->attached || rc->e->seq < tr->start_seq)
        return;
    if (tr->nrestored && hd_dispatch__restored_has(tr, rc->e->seq))
        return;
    hd_metric_inc(tr->m_matched, 1);
    if (hd_dispatch__q_full(tr) || !hd_dispatch__q_push(tr, rc->e)) {
        /* slow subscriber: read the store itself from here on */
        tr->next_seq = rc->e->seq;
        hd_dispatch__set_attached(tr, false);
        return;
    }
    hd_dispatch__schedule_trigger_work(tr->d, tr);
}

static bool route_one(void *arg, uint64_t seq, uint64_t wall, ce_event_t *ev)
{
    (void)wall;
    route_ctx_t *rc = arg;
    broker_run_t *br = rc->br;
    if (ev == NULL) {
        /* corrupt: every attached trigger that would have seen it keeps it as a dead record
         * (which ones its filter would match cannot be known); detached ones meet it in
         * scan_one */
        for (trigger_run_t *tr = br->triggers; tr; tr = tr->next)
            if (tr->attached && !tr->removed && seq >= tr->start_seq &&
                !(tr->nrestored && hd_dispatch__restored_has(tr, seq)))
                hd_dispatch__quarantine(tr, seq, br->d->log->corrupt_why);
        br->routed_next = seq + 1;
        return true;
    }
    shared_event_t *e = hd_dispatch__event_new(seq, ev);
    if (e == NULL) {
        ce_event_free(ev);
        rc->stop = true;
        return false;
    }
    rc->e = e;
    br->routed++;
    if (br->b && br->b->router)
        hd_router_match(br->b->router, ev, route_match, rc);
    hd_dispatch__event_unref(e);
    br->routed_next = seq + 1;
    return true;
}

static size_t attached_count(const broker_run_t *br)
{
    return br->ntriggers - br->ndetached;
}

/* Routes up to `budget` events of a broker; returns the number read. */
static size_t broker_route(broker_run_t *br, size_t budget)
{
    hd_dispatch_t *d = br->d;
    br->unrouted = false;
    if (br->routed_next > br->last_seq)
        return 0;
    if (attached_count(br) == 0) {
        /* every trigger reads for itself: nothing to route */
        br->routed_next = br->last_seq + 1;
    } else {
        size_t n = br->last_seq - br->routed_next + 1;
        if (n > budget)
            n = budget;
        route_ctx_t rc = {.br = br};
        uint64_t before = br->routed_next;
        uint64_t from = br->routed_next;
        hd_err_t src = hd_evlog_read(d->log, br->id, from, n, route_one, &rc);
        if (rc.stop || src != HD_E_OK) {
            /* out of memory or a read error: try again on a later turn, never skip events */
            hd_dispatch__schedule_broker_work(d, br);
            return (size_t)(br->routed_next - before) + 1;
        }
        if (br->routed_next == before) {
            /* nothing stored there (trimmed): jump */
            uint64_t first = hd_evlog_first_seq(d->log, br->id);
            br->routed_next = first > before ? first : br->last_seq + 1;
            if (first == 0)
                br->routed_next = br->last_seq + 1;
        }
        budget = (size_t)(br->routed_next - before);
    }
    /* detached triggers may now have room to catch up to the new routing position */
    for (trigger_run_t *tr = br->detached; tr; tr = tr->det_next)
        if (!hd_dispatch__q_full(tr))
            hd_dispatch__schedule_trigger_work(d, tr);
    if (br->routed_next <= br->last_seq)
        hd_dispatch__schedule_broker_work(d, br);
    return budget;
}

typedef struct {
    trigger_run_t *tr;
    size_t read;
    bool stop; /* out of memory */
} scan_ctx_t;

static bool scan_one(void *arg, uint64_t seq, uint64_t wall, ce_event_t *ev)
{
    (void)wall;
    scan_ctx_t *sc = arg;
    trigger_run_t *tr = sc->tr;
    if (seq >= tr->br->routed_next || hd_dispatch__q_full(tr)) {
        ce_event_free(ev);
        return false;
    }
    sc->read++;
    tr->next_seq = seq + 1;
    if (tr->nrestored && hd_dispatch__restored_has(tr, seq)) {
        ce_event_free(ev);
        return true;
    }
    if (ev == NULL) {
        hd_dispatch__quarantine(tr, seq, tr->d->log->corrupt_why);
        return true;
    }
    tr->evaluated++;
    if (tr->t && hd_filter_match(tr->t->filter, ev)) {
        hd_metric_inc(tr->m_matched, 1);
        shared_event_t *e = hd_dispatch__event_new(seq, ev);
        if (e == NULL) {
            ce_event_free(ev);
            tr->next_seq = seq;
            sc->stop = true;
            return false;
        }
        hd_dispatch__q_push(tr, e);
        hd_dispatch__event_unref(e);
    } else {
        ce_event_free(ev);
    }
    return true;
}

/* A detached trigger reads the store from next_seq while its queue has room. */
static size_t trigger_scan(trigger_run_t *tr, size_t budget)
{
    broker_run_t *br = tr->br;
    size_t total = 0;
    while (!tr->attached && !hd_dispatch__q_full(tr) && total < budget) {
        if (tr->next_seq >= br->routed_next) {
            if (tr->next_seq == br->routed_next) {
                tr->start_seq = tr->next_seq;
                hd_dispatch__set_attached(tr, true);
            }
            break;
        }
        uint64_t before = tr->next_seq;
        size_t n = br->routed_next - tr->next_seq;
        if (n > HD_DISPATCH__ROUTE_WINDOW)
            n = HD_DISPATCH__ROUTE_WINDOW;
        scan_ctx_t sc = {.tr = tr};
        hd_err_t src = hd_evlog_read(tr->d->log, br->id, tr->next_seq, n, scan_one, &sc);
        total += sc.read ? sc.read : 1;
        if (sc.stop || src != HD_E_OK)
            break; /* out of memory or a read error: tried again by the trigger's next pump */
        if (tr->next_seq == before) {
            if (hd_dispatch__q_full(tr))
                break;
            /* nothing stored from there (trimmed): skip to what is kept */
            uint64_t first = hd_evlog_first_seq(tr->d->log, br->id);
            tr->next_seq = first > before ? first : br->routed_next;
            if (first == 0)
                tr->next_seq = br->routed_next;
        }
    }
    return total;
}

static void work_cb(uv_idle_t *h)
{
    hd_dispatch_t *d = h->data;
    size_t budget = HD_DISPATCH__WORK_BUDGET;
    while (budget > 0 && (d->bwork || d->twork)) {
        if (d->bwork) {
            broker_run_t *br = d->bwork;
            d->bwork = br->work_next;
            br->in_work = false;
            size_t n = broker_route(br, budget);
            budget = n >= budget ? 0 : budget - n;
            continue;
        }
        trigger_run_t *tr = d->twork;
        d->twork = tr->work_next;
        if (d->twork == NULL)
            d->twork_tail = NULL;
        tr->in_work = false;
        if (tr->removed || tr->br == NULL)
            continue;
        if (!tr->attached) {
            size_t n = trigger_scan(tr, budget);
            budget = n >= budget ? 0 : budget - n;
            if (!tr->attached && !hd_dispatch__q_full(tr) && tr->next_seq < tr->br->routed_next)
                hd_dispatch__schedule_trigger_work(d, tr);
        }
        hd_dispatch__pump(tr);
    }
    if (d->bwork == NULL && d->twork == NULL)
        uv_idle_stop(&d->work);
}

void hd_dispatch__schedule_trigger_work(hd_dispatch_t *d, trigger_run_t *tr)
{
    if (tr->in_work || d->closed)
        return;
    tr->in_work = true;
    /* append: fairness between triggers */
    tr->work_next = NULL;
    if (d->twork == NULL)
        d->twork = tr;
    else
        d->twork_tail->work_next = tr;
    d->twork_tail = tr;
    uv_idle_start(&d->work, work_cb);
}

void hd_dispatch__schedule_broker_work(hd_dispatch_t *d, broker_run_t *br)
{
    if (br->in_work || d->closed)
        return;
    br->in_work = true;
    br->work_next = d->bwork;
    d->bwork = br;
    uv_idle_start(&d->work, work_cb);
}

broker_run_t *hd_dispatch__broker_by_id(hd_dispatch_t *d, uint32_t id)
{
    for (broker_run_t *br = d->brokers; br; br = br->next)
        if (br->id == id)
            return br;
    return NULL;
}

void hd_dispatch__on_commit(void *arg, uint32_t broker_id, uint64_t last_seq)
{
    hd_dispatch_t *d = arg;
    broker_run_t *br = hd_dispatch__broker_by_id(d, broker_id);
    if (br == NULL)
        return;
    if (last_seq > br->last_seq)
        br->last_seq = last_seq;
    /* route now if the batch is small (latency), in the idle handle otherwise (fairness) */
    if (!br->in_work && br->last_seq - br->routed_next < 256)
        broker_route(br, 256);
    else
        hd_dispatch__schedule_broker_work(d, br);
}
