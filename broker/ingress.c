/*
 * ingress.c — the data-plane front door of heraldd (hd_ingress.h, DESIGN §5).
 *
 * POST /{namespace}/{broker} in binary, structured or batch mode (decided by Content-Type in
 * ce_http_decode) is decoded, validated, appended to the broker's log in ONE store batch (a batch
 * request is stored atomically: all events or none) and answered 202 only from the store's
 * callback, i.e. after the group commit (and its fsync under durability fsync).
 *
 * Status table: 202 stored; 400 not a valid CloudEvent (body {"error": "..."} naming the
 * attribute and the rule); 404 unknown broker, or a channel/sink/service path (not available
 * yet); 405 other methods (Allow: POST, OPTIONS); 413 body over limits.max_event_bytes (the HTTP
 * server enforces it before reading the body) or a batch over limits.max_batch_events; 415 a
 * structured/batch body that is not JSON; 503 + Retry-After when the store queue is full
 * (HD_E_BUSY, Retry-After: 1), the store is full (HD_E_FULL, Retry-After: 30) or not ready yet;
 * 500 on a store I/O error. OPTIONS → 200 with Allow, and WebHook-Allowed-Origin when the
 * request carries WebHook-Request-Origin (CloudEvents webhook validation). 401/403 are not
 * answered: there is no ingress auth yet. 429 is not answered: there is no rate limit yet.
 *
 * knativebrokerttl: a broker's ingress refuses (400) an event whose knativebrokerttl is not an
 * integer or is <= 0, as Knative's broker ingress does, so a loop through an external hop (a
 * subscriber that POSTs back to the broker) ends; otherwise events are stored as sent. Channels
 * do not look at it. The dispatcher owns the rest of the loop guard: it sets/decrements
 * knativebrokerttl on replies before handing them to hd_ingest (and drops a reply whose TTL is
 * exhausted).
 *
 * Metrics: herald_events_received_total{namespace,broker,code} counts events (a batch request
 * adds its event count; a rejected request counts 1) for known brokers only — unknown paths are
 * not labelled (they would let any client create series). herald_ingest_latency_seconds
 * {namespace,broker} observes request-complete → answer for accepted requests. The handles are
 * cached per broker in hd_ingress_t, because a metric lookup formats labels and probes a locked
 * hash; hd_ingest (replies, sources: no request) looks them up each time.
 */
#include "hd_ingress.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_metrics.h"
#include "hd_evlog.h"
#include "hd_path.h"

#define RETRY_AFTER_BUSY "Retry-After: 1\r\n"
#define RETRY_AFTER_FULL "Retry-After: 30\r\n"
#define ALLOW_EVENT "Allow: POST, OPTIONS\r\n"

/* Answer codes whose counters are cached per broker. */
static const int cached_codes[] = {202, 400, 413, 415, 500, 503};
#define NCODES (sizeof cached_codes / sizeof cached_codes[0])

/* The metric handles of one broker. Entries live until hd_ingress_free (a request waiting for a
 * commit points at its entry even if the broker is deleted meanwhile); an hd_ingest entry is
 * standalone (`temp`) and freed with its request. */
typedef struct entry {
    struct entry *all_next; /* every entry of the ingress */
    struct entry *hnext;    /* hash chain by broker id */
    uint32_t id;
    char *ns, *name;
    const char *kind; /* metric label name: "broker" or "channel" */
    hd_metric_t *codes[NCODES];
    hd_metric_t *latency;
    bool temp;
} entry_t;

struct hd_ingress {
    hd_resources_t *res;   /* borrowed; NULL: every event path is 404 */
    hd_evlog_t *log;       /* borrowed; NULL: 503 */
    hd_metrics_t *metrics; /* borrowed; NULL: nothing counted */
    const bool *ready;     /* borrowed; NULL: always ready */
    hd_ingress_limits_t limits;
    entry_t *all;
    entry_t **table;
    size_t tcap, n;
};

/* One store batch waiting for its commit: an HTTP request, or an in-process hd_ingest. */
typedef struct {
    hd_ingress_t *in;
    entry_t *e;           /* the broker's metric handles */
    hd_http_req_t *req;   /* NULL for hd_ingest */
    hd_ingest_done_fn cb; /* hd_ingest only */
    void *arg;
    uint64_t start_ns; /* uv_hrtime() when the request reached the handler */
    size_t n;          /* events in the batch */
} pending_t;

static void count_received(hd_ingress_t *in, entry_t *e, int code, uint64_t n)
{
    if (!in->metrics)
        return;
    size_t slot = NCODES;
    for (size_t i = 0; i < NCODES; i++)
        if (cached_codes[i] == code)
            slot = i;
    if (slot < NCODES && e->codes[slot]) {
        hd_metric_inc(e->codes[slot], n);
        return;
    }
    char code_s[16];
    snprintf(code_s, sizeof code_s, "%d", code);
    hd_metric_t *m = hd_metrics_counter(in->metrics, "herald_events_received_total",
                                        "Events received by the ingress, by answer code",
                                        "namespace", e->ns, e->kind, e->name, "code", code_s);
    if (slot < NCODES && !e->temp)
        e->codes[slot] = m;
    hd_metric_inc(m, n);
}

static void observe_latency(hd_ingress_t *in, entry_t *e, uint64_t start_ns)
{
    if (!in->metrics)
        return;
    hd_metric_t *h = e->latency;
    if (!h) {
        h = hd_metrics_histogram(
            in->metrics, "herald_ingest_latency_seconds",
            "Time from a complete request to its answer (store commit included)", "namespace",
            e->ns, e->kind, e->name);
        if (!e->temp)
            e->latency = h;
    }
    hd_metric_observe(h, (double)(uv_hrtime() - start_ns) / 1e9);
}

/* A new entry for broker b, or NULL when out of memory. */
static entry_t *entry_new(const hd_broker_t *b, bool temp)
{
    entry_t *e = hd_calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->id = b->id;
    e->temp = temp;
    e->ns = hd_strdup(b->ns);
    e->name = hd_strdup(b->name);
    e->kind = b->channel ? "channel" : "broker";
    if (!e->ns || !e->name) {
        hd_free(e->ns);
        hd_free(e->name);
        hd_free(e);
        return NULL;
    }
    return e;
}

static void entry_free(entry_t *e)
{
    if (!e)
        return;
    hd_free(e->ns);
    hd_free(e->name);
    hd_free(e);
}

/* The cached entry of broker b, created on first use; NULL when out of memory. */
static entry_t *entry_get(hd_ingress_t *in, const hd_broker_t *b)
{
    if (in->tcap) {
        for (entry_t *e = in->table[b->id & (in->tcap - 1)]; e; e = e->hnext)
            if (e->id == b->id && strcmp(e->ns, b->ns) == 0 && strcmp(e->name, b->name) == 0)
                return e;
    }
    if (in->n + 1 > in->tcap / 2) { /* grow: keep chains short */
        size_t nc = in->tcap ? in->tcap * 2 : 16;
        entry_t **t = hd_calloc(nc, sizeof *t);
        if (!t)
            return NULL;
        for (entry_t *e = in->all; e; e = e->all_next) {
            e->hnext = t[e->id & (nc - 1)];
            t[e->id & (nc - 1)] = e;
        }
        hd_free(in->table);
        in->table = t;
        in->tcap = nc;
    }
    entry_t *e = entry_new(b, false);
    if (!e)
        return NULL;
    /* A renamed broker keeping its id leaves its old entry in the list (still referenced by
     * requests in flight); the new one goes first in the chain. */
    e->all_next = in->all;
    in->all = e;
    e->hnext = in->table[b->id & (in->tcap - 1)];
    in->table[b->id & (in->tcap - 1)] = e;
    in->n++;
    return e;
}

hd_err_t hd_ingress_new(hd_resources_t *res, hd_evlog_t *log, hd_metrics_t *metrics,
                        const bool *ready, const hd_ingress_limits_t *limits, hd_ingress_t **out)
{
    hd_ingress_t *in = hd_calloc(1, sizeof *in);
    if (!in)
        return HD_E_NOMEM;
    in->res = res;
    in->log = log;
    in->metrics = metrics;
    in->ready = ready;
    if (limits)
        in->limits = *limits;
    *out = in;
    return HD_E_OK;
}

void hd_ingress_free(hd_ingress_t *in)
{
    if (!in)
        return;
    for (entry_t *e = in->all, *next; e; e = next) {
        next = e->all_next;
        entry_free(e);
    }
    hd_free(in->table);
    hd_free(in);
}

/* HTTP status and extra headers for a store error. */
static int store_status(hd_err_t e, const char **extra)
{
    switch (e) {
    case HD_E_OK:
        *extra = NULL;
        return 202;
    case HD_E_BUSY:
    case HD_E_NOMEM:
    case HD_E_CLOSED:
        *extra = RETRY_AFTER_BUSY;
        return 503;
    case HD_E_FULL:
        *extra = RETRY_AFTER_FULL;
        return 503;
    default:
        *extra = NULL;
        return 500;
    }
}

static void on_stored(void *arg, hd_err_t status, uint64_t first_seq)
{
    (void)first_seq;
    pending_t *p = arg;
    const char *extra;
    int code = store_status(status, &extra);
    count_received(p->in, p->e, code, code == 202 ? p->n : 1);
    if (p->req) {
        if (code == 202) {
            hd_http_respond(p->req, 202, NULL, NULL, 0);
            observe_latency(p->in, p->e, p->start_ns);
        } else {
            char msg[128];
            snprintf(msg, sizeof msg, "store: %s", hd_err_message(status));
            hd_http_respond_error(p->req, code, extra, msg);
        }
    } else if (p->cb) {
        if (status == HD_E_OK)
            observe_latency(p->in, p->e, p->start_ns);
        p->cb(p->arg, status);
    }
    if (p->e->temp)
        entry_free(p->e);
    hd_free(p);
}

/* /readyz: the daemon says it is ready (store open, manifests applied, listeners bound); it
 * answers 503 too while the store refuses appends for lack of room (hd_evlog_full). */
static bool flag_ready(const hd_ingress_t *in)
{
    return !in->ready || *in->ready;
}

/* Events can be stored now. */
static bool is_ready(const hd_ingress_t *in)
{
    return in->log && flag_ready(in);
}

/* Appends the events to the broker's log; on_stored answers. Errors returned at once
 * (nothing appended, p not consumed): HD_E_INVAL, HD_E_NOMEM, HD_E_BUSY, HD_E_CLOSED. */
static hd_err_t store_events(hd_ingress_t *in, const hd_broker_t *b, ce_event_t *const *evs,
                             size_t n, pending_t *p)
{
    if (!is_ready(in))
        return HD_E_BUSY;
    return hd_evlog_append(in->log, b->id, evs, n, on_stored, p);
}

static void answer_options(hd_http_req_t *req)
{
    char extra[400];
    size_t olen = 0;
    const char *origin = hd_http_req_header(req, "WebHook-Request-Origin", &olen);
    if (origin && olen > 0 && olen <= 255)
        snprintf(extra, sizeof extra,
                 ALLOW_EVENT "WebHook-Allowed-Origin: %.*s\r\nWebHook-Allowed-Rate: *\r\n",
                 (int)olen, origin);
    else
        snprintf(extra, sizeof extra, ALLOW_EVENT);
    hd_http_respond(req, 200, extra, NULL, 0);
}

static void free_events(ce_event_t **evs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ce_event_free(evs[i]);
    free(evs);
}

/*
 * W3C trace context sent as plain HTTP headers (what tracing middleware and Knative's own
 * senders add) becomes the event's traceparent/tracestate extension when the event does not
 * carry one, so the trace survives the store and reaches subscribers and replies. A value that
 * is not a valid attribute string is left out (the event itself is fine).
 */
static void adopt_trace_headers(const hd_http_req_t *req, ce_event_t **evs, size_t n)
{
    static const char *const names[] = {"traceparent", "tracestate"};
    for (size_t k = 0; k < 2; k++) {
        size_t len;
        const char *v = hd_http_req_header(req, names[k], &len);
        if (!v || len == 0)
            continue;
        for (size_t i = 0; i < n; i++)
            if (!ce_event_get(evs[i], names[k], strlen(names[k])))
                (void)ce_event_set(evs[i], names[k], v, len, NULL);
    }
}

static bool ttl_ok(const ce_event_t *ev, char *msg, size_t cap);

void hd_ingress_post(hd_ingress_t *in, hd_http_req_t *req, hd_broker_t *b)
{
    uint64_t start_ns = uv_hrtime();
    const hd_ingress_limits_t *lim = &in->limits;
    entry_t *me = entry_get(in, b);
    if (!me) {
        hd_http_respond_error(req, 503, RETRY_AFTER_BUSY, "out of memory");
        return;
    }

    if (!is_ready(in)) {
        count_received(in, me, 503, 1);
        hd_http_respond_error(req, 503, RETRY_AFTER_BUSY, "not ready yet");
        return;
    }
    if (lim->max_event_bytes && req->body_len > lim->max_event_bytes) {
        count_received(in, me, 413, 1);
        char msg[128];
        snprintf(msg, sizeof msg, "body of %zu bytes is over limits.max_event_bytes (%llu)",
                 req->body_len, (unsigned long long)lim->max_event_bytes);
        hd_http_respond_error(req, 413, NULL, msg);
        return;
    }

    ce_http_msg_t msg = {.headers = req->headers,
                         .header_count = req->header_count,
                         .body = req->body,
                         .body_len = req->body_len};
    ce_event_t **evs = NULL;
    size_t n = 0;
    ce_error_t err = {0};
    ce_err_t ce = ce_http_decode(&msg, &evs, &n, &err);
    if (ce != CE_E_OK) {
        int code = ce == CE_E_MEDIA_TYPE  ? 415
                   : ce == CE_E_TOO_LARGE ? 413
                   : ce == CE_E_NOMEM     ? 503
                                          : 400;
        count_received(in, me, code, 1);
        hd_http_respond_error(req, code, code == 503 ? RETRY_AFTER_BUSY : NULL,
                              err.message[0] ? err.message : ce_err_message(ce));
        return;
    }
    if (lim->max_batch_events && n > lim->max_batch_events) {
        char m[128];
        snprintf(m, sizeof m, "batch of %zu events is over limits.max_batch_events (%llu)", n,
                 (unsigned long long)lim->max_batch_events);
        free_events(evs, n);
        count_received(in, me, 413, 1);
        hd_http_respond_error(req, 413, NULL, m);
        return;
    }
    for (size_t i = 0; !b->channel && i < n; i++) {
        char m[200];
        if (!ttl_ok(evs[i], m, sizeof m)) {
            free_events(evs, n);
            count_received(in, me, 400, 1);
            hd_http_respond_error(req, 400, NULL, m);
            return;
        }
    }
    adopt_trace_headers(req, evs, n);
    if (n == 0) { /* an empty batch: nothing to store */
        free(evs);
        count_received(in, me, 202, 0);
        hd_http_respond(req, 202, NULL, NULL, 0);
        return;
    }
    pending_t *p = hd_malloc(sizeof *p);
    if (!p) {
        free_events(evs, n);
        count_received(in, me, 503, 1);
        hd_http_respond_error(req, 503, RETRY_AFTER_BUSY, "out of memory");
        return;
    }
    p->in = in;
    p->e = me;
    p->req = req;
    p->cb = NULL;
    p->arg = NULL;
    p->start_ns = start_ns;
    p->n = n;
    hd_err_t e = store_events(in, b, evs, n, p);
    free_events(evs, n); /* packed by the store: ours to free now */
    if (e != HD_E_OK) {
        hd_free(p);
        const char *extra;
        int code = store_status(e, &extra);
        count_received(in, me, code, 1);
        hd_http_respond_error(req, code, extra, hd_err_message(e));
    }
}

/* Knative's ingress rule: an event whose knativebrokerttl is present must carry a positive integer.
 * False with msg set otherwise. */
static bool ttl_ok(const ce_event_t *ev, char *msg, size_t cap)
{
    const ce_value_t *v = ce_event_get(ev, "knativebrokerttl", 16);
    if (!v)
        return true;
    long long ttl;
    if (v->type == CE_TYPE_INTEGER) {
        ttl = v->i;
    } else {
        char *end = NULL;
        const char *s = v->str ? v->str : "";
        ttl = strtoll(s, &end, 10);
        if (!*s || !end || *end) {
            snprintf(msg, cap, "knativebrokerttl: '%.60s' is not an integer", s);
            return false;
        }
    }
    if (ttl <= 0) {
        snprintf(msg, cap,
                 "knativebrokerttl is %lld: the event has used up its hops through brokers "
                 "(an event loop?); it is refused, as Knative's broker ingress does",
                 ttl);
        return false;
    }
    return true;
}

/* A broker's or channel's address: POST stores, OPTIONS answers, anything else is 405. */
static void event_path(hd_ingress_t *in, hd_http_req_t *req, hd_broker_t *b)
{
    if (req->method == HTTP_OPTIONS) {
        answer_options(req);
        return;
    }
    if (req->method != HTTP_POST) {
        hd_http_respond_error(req, 405, ALLOW_EVENT, "method not allowed: use POST");
        return;
    }
    hd_ingress_post(in, req, b);
}

void hd_ingress_handle(void *ctx, hd_http_req_t *req)
{
    hd_ingress_t *in = ctx;
    /* Knative's in-cluster channel host ({name}-kn-channel.{ns}.svc.cluster.local): any path */
    size_t hlen = 0;
    const char *host = hd_http_req_header(req, "Host", &hlen);
    if (host && hlen > 12 && in->res) {
        hd_broker_t *c = hd_resources_channel_by_host(in->res, host, hlen);
        if (c) {
            event_path(in, req, c);
            return;
        }
    }
    hd_path_seg_t segs[3];
    size_t n = hd_path_split(req->path, req->path_len, segs, 2);

    if (n == 1 && (hd_path_seg_is(&segs[0], "healthz") || hd_path_seg_is(&segs[0], "readyz"))) {
        if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
            hd_http_respond_error(req, 405, "Allow: GET, HEAD\r\n", "method not allowed");
            return;
        }
        bool health = hd_path_seg_is(&segs[0], "healthz");
        bool ok = health || flag_ready(in);
        const char *body = ok ? "ok\n" : "not ready\n";
        if (ok && !health && hd_evlog_full(in->log)) {
            /* a full store refuses appends: load balancers should send producers elsewhere */
            ok = false;
            body = HD_INGRESS_STORE_FULL;
        }
        hd_http_respond(req, ok ? 200 : 503, "Content-Type: text/plain\r\n", body, strlen(body));
        return;
    }
    if (n == 2 && segs[0].len > 0 && segs[1].len > 0) {
        hd_broker_t *b =
            in->res ? hd_resources_broker(in->res, segs[0].s, segs[0].len, segs[1].s, segs[1].len)
                    : NULL;
        if (!b) {
            char m[200];
            snprintf(m, sizeof m, "no broker %.*s/%.*s", (int)(segs[0].len > 80 ? 80 : segs[0].len),
                     segs[0].s, (int)(segs[1].len > 80 ? 80 : segs[1].len), segs[1].s);
            hd_http_respond_error(req, 404, NULL, m);
            return;
        }
        event_path(in, req, b);
        return;
    }
    hd_path_seg_t s3[4];
    size_t n3 = hd_path_split(req->path, req->path_len, s3, 3);
    if (n3 == 3 && hd_path_seg_is(&s3[1], "channels") && s3[0].len > 0 && s3[2].len > 0) {
        hd_broker_t *c =
            in->res ? hd_resources_channel(in->res, s3[0].s, s3[0].len, s3[2].s, s3[2].len) : NULL;
        if (!c) {
            char m[200];
            snprintf(m, sizeof m, "no channel %.*s/%.*s", (int)(s3[0].len > 80 ? 80 : s3[0].len),
                     s3[0].s, (int)(s3[2].len > 80 ? 80 : s3[2].len), s3[2].s);
            hd_http_respond_error(req, 404, NULL, m);
            return;
        }
        event_path(in, req, c);
        return;
    }
    if (n3 >= 2 && (hd_path_seg_is(&s3[1], "sinks") || hd_path_seg_is(&s3[1], "services"))) {
        char m[128];
        snprintf(m, sizeof m, "%.*s are not available yet in this version of heraldd",
                 (int)s3[1].len, s3[1].s);
        hd_http_respond_error(req, 404, NULL, m);
        return;
    }
    hd_http_respond_error(req, 404, NULL,
                          "not found: events go to POST /{namespace}/{broker} or "
                          "/{namespace}/channels/{channel}");
}

hd_err_t hd_ingest(hd_ingress_t *in, hd_broker_t *b, ce_event_t *const *evs, size_t n,
                   hd_ingest_done_fn cb, void *arg)
{
    if (!in || !b || (n > 0 && !evs))
        return HD_E_INVAL;
    pending_t *p = hd_malloc(sizeof *p);
    entry_t *en = p ? entry_new(b, true) : NULL;
    if (!en) {
        hd_free(p);
        return HD_E_NOMEM;
    }
    p->in = in;
    p->e = en;
    p->req = NULL;
    p->cb = cb;
    p->arg = arg;
    p->start_ns = uv_hrtime();
    p->n = n;
    hd_err_t e = store_events(in, b, evs, n, p);
    if (e != HD_E_OK) {
        const char *extra;
        count_received(in, en, store_status(e, &extra), 1);
        entry_free(en);
        hd_free(p);
    }
    return e;
}

hd_err_t hd_ingest_log(hd_ingress_t *in, uint32_t log_id, ce_event_t *const *evs, size_t n,
                       hd_ingest_done_fn cb, void *arg)
{
    hd_broker_t *b = in->res ? hd_resources_broker_by_id(in->res, log_id) : NULL;
    if (!b)
        return HD_E_NOTFOUND;
    return hd_ingest(in, b, evs, n, cb, arg);
}
