/*
 * dispatch_progress.c — what a trigger owes and what is durable (dispatch_internal.h): the
 * trigger queue, the low-water mark, the cursor flush, the progress transaction and the calls to
 * the log's retention.
 *
 * A trigger's durable cursor is its low-water mark: one below the smallest event it still owes
 * (queued, in flight or waiting for a retry), or its routing position when it owes nothing.
 * Cursors are written in one progress transaction every FLUSH_MS for the triggers whose mark
 * moved because of a delivery, and for idle triggers (which follow the broker's routing without
 * per-event work) every IDLE_CURSOR_MS.
 */
#include "dispatch_internal.h"

hd_evlog_txn_t *hd_dispatch__txn(hd_dispatch_t *d)
{
    if (d->batch == NULL)
        d->batch = hd_evlog_txn_new(d->log);
    return d->batch;
}

/* ---- corrupt records ------------------------------------------------------------------ */

void hd_dispatch__quarantine(trigger_run_t *tr, uint64_t seq, const char *why)
{
    hd_dispatch_t *d = tr->d;
    char err[200];
    int n = snprintf(err, sizeof err, "corrupt record in the store (%s); never delivered",
                     why ? why : "undecodable");
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof err)
        n = sizeof err - 1;
    /* in the same progress transaction as (or one before) the cursor that passes it */
    hd_evlog_txn_t *b = hd_dispatch__txn(d);
    if (b && hd_evlog_txn_dead_put(b, tr->id, seq, 0, err, (size_t)n) == HD_E_OK)
        d->batch_ops++;
    tr->may_have_dead = true;
    tr->dead++;
    hd_metric_inc(tr->m_dead, 1);
    char seqs[24];
    snprintf(seqs, sizeof seqs, "%llu", (unsigned long long)seq);
    const hd_broker_t *bk = tr->br ? tr->br->b : NULL;
    hd_log(HD_LOG_ERROR, "dispatch: corrupt event skipped (kept in the dead table)", "namespace",
           tr->ns, "broker", bk ? bk->name : "", "trigger", tr->name, HD_LOG_NUM("seq"), seqs,
           "reason", why ? why : "undecodable", NULL);
    hd_dispatch__mark_dirty(tr);
}

/* ---- trigger queue -------------------------------------------------------------------- */

bool hd_dispatch__q_push(trigger_run_t *tr, shared_event_t *e)
{
    if (tr->q == NULL) {
        tr->q = hd_malloc(tr->qcap * sizeof *tr->q);
        if (tr->q == NULL)
            return false;
    }
    if (tr->q_len >= tr->qcap)
        return false;
    tr->q[(tr->q_head + tr->q_len) % tr->qcap] = e;
    tr->q_len++;
    e->refs++;
    return true;
}

void hd_dispatch__q_remove(trigger_run_t *tr, size_t i)
{
    if (i == 0) {
        /* the common case (unordered, or the head's key is free): O(1) */
        tr->q_head = (tr->q_head + 1) % tr->qcap;
        if (--tr->q_len == 0)
            tr->q_head = 0;
        return;
    }
    for (size_t k = i; k + 1 < tr->q_len; k++)
        tr->q[(tr->q_head + k) % tr->qcap] = tr->q[(tr->q_head + k + 1) % tr->qcap];
    tr->q_len--;
    if (i == 0 && tr->q_len == 0)
        tr->q_head = 0;
}

void hd_dispatch__q_clear(trigger_run_t *tr)
{
    for (size_t i = 0; i < tr->q_len; i++)
        hd_dispatch__event_unref(hd_dispatch__q_at(tr, i));
    tr->q_len = 0;
    tr->q_head = 0;
}

bool hd_dispatch__restored_has(const trigger_run_t *tr, uint64_t seq)
{
    size_t lo = 0, hi = tr->nrestored;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tr->restored[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < tr->nrestored && tr->restored[lo] == seq;
}

/* ---- low-water mark and cursors ------------------------------------------------------- */

/* Everything <= the returned seq is done for this trigger. */
uint64_t hd_dispatch__lwm(const trigger_run_t *tr)
{
    uint64_t m;
    if (tr->br == NULL)
        return tr->cursor_stored;
    if (tr->attached)
        m = tr->br->routed_next > tr->start_seq ? tr->br->routed_next : tr->start_seq;
    else
        m = tr->next_seq;
    if (tr->q_len && hd_dispatch__q_at(tr, 0)->seq < m)
        m = hd_dispatch__q_at(tr, 0)->seq;
    for (const delivery_t *v = tr->deliveries; v; v = v->next)
        if (!v->replayed_dead && v->seq < m)
            m = v->seq;
    return m ? m - 1 : 0;
}

void hd_dispatch__mark_dirty(trigger_run_t *tr)
{
    if (tr->dirty)
        return;
    hd_dispatch_t *d = tr->d;
    tr->dirty = true;
    tr->dirty_prev = NULL;
    tr->dirty_next = d->dirty;
    if (d->dirty)
        d->dirty->dirty_prev = tr;
    d->dirty = tr;
}

void hd_dispatch__unmark_dirty(trigger_run_t *tr)
{
    if (!tr->dirty)
        return;
    hd_dispatch_t *d = tr->d;
    if (tr->dirty_prev)
        tr->dirty_prev->dirty_next = tr->dirty_next;
    else
        d->dirty = tr->dirty_next;
    if (tr->dirty_next)
        tr->dirty_next->dirty_prev = tr->dirty_prev;
    tr->dirty_next = tr->dirty_prev = NULL;
    tr->dirty = false;
}

void hd_dispatch__flush_cursor(trigger_run_t *tr)
{
    uint64_t lwm = hd_dispatch__lwm(tr);
    hd_dispatch__unmark_dirty(tr);
    if (lwm == tr->cursor_stored)
        return;
    hd_evlog_txn_t *b = hd_dispatch__txn(tr->d);
    if (b && hd_evlog_txn_cursor(b, tr->id, lwm) == HD_E_OK) {
        tr->cursor_stored = lwm;
        tr->d->batch_ops++;
    }
}

static void batch_done(void *arg, hd_err_t status)
{
    (void)arg;
    if (status != HD_E_OK)
        hd_log(HD_LOG_WARN, "dispatch: cursor/pending write failed", "error",
               hd_err_message(status), NULL);
}

void hd_dispatch__txn_submit(hd_dispatch_t *d)
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
        for (broker_run_t *br = d->brokers; br; br = br->next)
            for (trigger_run_t *tr = br->triggers; tr; tr = tr->next) {
                hd_dispatch__mark_dirty(tr);
                tr->cursor_stored = UINT64_MAX;
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

uint64_t hd_dispatch__first_dead(hd_dispatch_t *d, uint32_t trigger_id)
{
    uint64_t first = 0;
    hd_evlog_dead_scan(d->log, trigger_id, first_dead_fn, &first);
    return first;
}

static void trim_done(void *arg, hd_err_t status)
{
    (void)arg;
    if (status != HD_E_OK)
        hd_log(HD_LOG_WARN, "dispatch: retention failed", "error", hd_err_message(status), NULL);
}

static void retention_run(hd_dispatch_t *d)
{
    uint64_t now = hd_wall_ms();
    bool full = hd_evlog_full(d->log);
    for (broker_run_t *br = d->brokers; br; br = br->next) {
        uint64_t ret = br->b && br->b->retention_ms ? br->b->retention_ms : d->retention_ms;
        uint64_t upto = 0;
        if (br->triggers) {
            upto = UINT64_MAX;
            for (trigger_run_t *tr = br->triggers; tr; tr = tr->next) {
                uint64_t l = tr->cursor_stored == UINT64_MAX ? 0 : tr->cursor_stored;
                /* dead letters keep their events for `herald dlq replay` */
                uint64_t first_dead = 0;
                if (tr->may_have_dead) {
                    first_dead = hd_dispatch__first_dead(d, tr->id);
                    tr->may_have_dead = first_dead != 0;
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
        if (hd_evlog_first_seq(d->log, br->id) == 0)
            continue;
        if (upto && d->retention_min_age_ms && !full) {
            /* consumed events younger than retention.min_age stay, for replay; but a full
             * store gives them up: accepting new events matters more than replaying old ones */
            uint64_t young = now > d->retention_min_age_ms ? now - d->retention_min_age_ms : 0;
            uint64_t first_young = hd_evlog_seq_at_time(d->log, br->id, young);
            if (first_young - 1 < upto)
                upto = first_young - 1;
        }
        hd_err_t trc = hd_evlog_trim(d->log, br->id, upto, older, trim_done, d);
        if (trc != HD_E_OK)
            trim_done(d, trc);
    }
}

void hd_dispatch__flush_cb(uv_timer_t *t)
{
    hd_dispatch_t *d = t->data;
    uint64_t now = hd_now_ms();
    bool idle_too = now - d->last_idle_flush >= HD_DISPATCH__IDLE_CURSOR_MS;
    if (idle_too)
        d->last_idle_flush = now;
    if (idle_too) {
        for (broker_run_t *br = d->brokers; br; br = br->next)
            for (trigger_run_t *tr = br->triggers; tr; tr = tr->next)
                hd_dispatch__flush_cursor(tr);
    } else {
        while (d->dirty)
            hd_dispatch__flush_cursor(d->dirty);
    }
    /* A full store refuses appends until trims free room: retention runs every second then. */
    uint64_t every = d->retention_interval_ms;
    if (every > HD_DISPATCH__FULL_RETENTION_MS && hd_evlog_full(d->log))
        every = HD_DISPATCH__FULL_RETENTION_MS;
    if (now - d->last_retention >= every) {
        d->last_retention = now;
        retention_run(d);
    }
    hd_dispatch__txn_submit(d);
}
