/*
 * admin_tail.c — GET /v1/{brokers|channels}/{ns}/{name}/tail of the admin API (hd_admin.h): the
 * events of one broker or channel as they are stored, one JSON-format event per line in a chunked
 * application/x-ndjson answer, from the current end or ?from=SEQ. It watches the log's commits
 * (hd_evlog_watch) and reads what each commit added; a client over the connection's output
 * high-water mark loses events, counted in herald_tail_dropped_total. A once-a-second timer ends
 * the stream when the broker or channel is deleted.
 *
 * The answer's headers say at once what a ?from= tail covers, before any event (so a client never
 * waits to learn that nothing is coming): X-Herald-Last-Seq (the last stored seq when the tail
 * started), X-Herald-First-Available (the first seq retention kept, 0 when none), X-Herald-From
 * (the first seq asked for), X-Herald-Gone (how many of the asked seqs retention deleted) and
 * X-Herald-Replayed (how many stored events are sent before the live ones).
 */
#include <stdio.h>
#include <string.h>

#include "admin_internal.h"
#include "hd_evlog.h"
#include "hd_metrics.h"
#include "herald/ce_json.h"

#define TAIL_BATCH 512

typedef struct {
    hd_admin_ctx_t *a;
    hd_http_req_t *req;
    uint32_t broker_id;
    uint64_t next_seq;
    uint64_t dropped;
    hd_metric_t *drops;
    bool closed;
    uv_timer_t timer; /* once a second: is the broker or channel still there? */
} tail_t;

static void tail_on_commit(void *arg, uint32_t broker_id, uint64_t last_seq);

static void tail_timer_closed(uv_handle_t *h)
{
    hd_free(hd_container_of((uv_timer_t *)h, tail_t, timer));
}

/* Stops producing for good; t is freed once its timer handle is closed. */
static void tail_finish(tail_t *t)
{
    if (t->closed)
        return;
    t->closed = true;
    if (t->a->log) /* NULL once the daemon closed the log, which forgot its watchers */
        hd_evlog_unwatch(t->a->log, tail_on_commit, t);
    uv_close((uv_handle_t *)&t->timer, tail_timer_closed);
}

/* A deleted broker or channel ends its tails (the client sees the end of the stream). */
static void tail_tick(uv_timer_t *h)
{
    tail_t *t = hd_container_of(h, tail_t, timer);
    if (t->closed)
        return;
    if (!t->a->res || !hd_resources_broker_by_id(t->a->res, t->broker_id)) {
        hd_http_stream_end(t->req);
        tail_finish(t);
    }
}

typedef struct {
    tail_t *t;
    ce_buf_t buf;
    bool gone;
} tail_scan_t;

static bool tail_event(void *arg, uint64_t seq, uint64_t ingest_ms, ce_event_t *ev)
{
    (void)ingest_ms;
    tail_scan_t *s = arg;
    tail_t *t = s->t;
    t->next_seq = seq + 1;
    if (ev == NULL)
        return true;
    s->buf.len = 0;
    ce_err_t ce = ce_json_encode(ev, &s->buf);
    ce_event_free(ev);
    if (ce || ce_buf_append(&s->buf, "\n", 1)) {
        t->dropped++;
        hd_metric_inc(t->drops, 1);
        return true;
    }
    hd_err_t e = hd_http_stream_write(t->req, s->buf.data, s->buf.len);
    if (e == HD_E_BUSY || e == HD_E_NOMEM) {
        /* slow reader over the high-water mark: drop this event for this client, count it */
        t->dropped++;
        hd_metric_inc(t->drops, 1);
    } else if (e) {
        s->gone = true;
        return false;
    }
    return true;
}

static void tail_on_commit(void *arg, uint32_t broker_id, uint64_t last_seq)
{
    tail_t *t = arg;
    if (t->closed || broker_id != t->broker_id || last_seq < t->next_seq)
        return;
    tail_scan_t s = {t, {0}, false};
    while (!s.gone && t->next_seq <= last_seq) {
        uint64_t before = t->next_seq;
        if (hd_evlog_read(t->a->log, t->broker_id, t->next_seq, TAIL_BATCH, tail_event, &s) !=
            HD_E_OK)
            break;
        if (t->next_seq == before) /* nothing stored there any more (trimmed) */
            t->next_seq = last_seq + 1;
    }
    ce_buf_free(&s.buf);
    /* if the client went away (s.gone), its close callback ends the stream and frees t */
}

static void tail_closed(hd_http_req_t *req, void *arg)
{
    hd_http_stream_end(req);
    tail_finish(arg);
}

void hd_admin__tail(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                    const char *ns, const char *name)
{
    hd_broker_t *b = hd_admin__log_lookup(a, k, ns, name);
    if (!b) {
        hd_admin__respond_not_found(req, k->kind, ns, name);
        return;
    }
    if (!a->log) {
        hd_http_respond_error(req, 503, NULL, "no store");
        return;
    }
    tail_t *t = hd_calloc(1, sizeof *t);
    if (!t) {
        hd_admin__respond_err(req, HD_E_NOMEM, NULL);
        return;
    }
    t->a = a;
    t->req = req;
    t->broker_id = b->id;
    uint64_t first = 0, last = 0, count = 0;
    hd_evlog_bounds(a->log, b->id, &first, &last, &count);
    t->next_seq = last + 1;
    char from[32];
    uint64_t f;
    bool has_from = hd_admin__query_get(req->query, "from", from, sizeof from);
    if (has_from && (!hd_parse_u64(from, strlen(from), &f) || f == 0)) {
        hd_free(t);
        hd_http_respond_error(req, 400, NULL, "from: must be a positive sequence number");
        return;
    }
    if (has_from)
        t->next_seq = f;
    /* what the asked range holds: gone (deleted by retention), then stored events to replay */
    uint64_t kept_from = first ? first : last + 1, gone = 0, replayed = 0;
    if (has_from && f < kept_from)
        gone = (kept_from < last + 1 ? kept_from : last + 1) - f;
    if (has_from && first && f <= last) {
        uint64_t start = f > first ? f : first;
        replayed = last - start + 1;
        if (replayed > count)
            replayed = count; /* gaps inside the kept range */
    }
    char hdrs[400];
    snprintf(hdrs, sizeof hdrs,
             "Content-Type: application/x-ndjson\r\nCache-Control: no-cache\r\n"
             "X-Herald-Last-Seq: %llu\r\nX-Herald-First-Available: %llu\r\n"
             "X-Herald-From: %llu\r\nX-Herald-Gone: %llu\r\nX-Herald-Replayed: %llu\r\n",
             (unsigned long long)last, (unsigned long long)first, (unsigned long long)t->next_seq,
             (unsigned long long)gone, (unsigned long long)replayed);
    t->drops = a->metrics
                   ? hd_metrics_counter(a->metrics, "herald_tail_dropped_total",
                                        "Events not written to a slow tail client "
                                        "(over its output high-water mark)",
                                        "namespace", ns, k->channel ? "channel" : "broker", name)
                   : NULL;
    if (!a->loop || uv_timer_init(a->loop, &t->timer)) {
        hd_free(t);
        hd_admin__respond_err(req, HD_E_NOMEM, "cannot start a tail");
        return;
    }
    if (hd_evlog_watch(a->log, tail_on_commit, t)) {
        t->closed = true;
        uv_close((uv_handle_t *)&t->timer, tail_timer_closed);
        hd_admin__respond_err(req, HD_E_NOMEM, NULL);
        return;
    }
    uv_unref((uv_handle_t *)&t->timer); /* never keeps the loop alive on its own */
    uv_timer_start(&t->timer, tail_tick, 1000, 1000);
    hd_http_stream_start(req, 200, hdrs);
    hd_http_stream_on_close(req, tail_closed, t);
    /* events already stored from ?from= on are sent now */
    last = hd_evlog_last_seq(a->log, b->id);
    if (last >= t->next_seq)
        tail_on_commit(t, b->id, last);
}
