/*
 * hd_admin.h — the admin API (DESIGN §7) on its own port (default 127.0.0.1:8081):
 *   GET/PUT/DELETE /apis/{group}/{version}/namespaces/{ns}/{plural}/{name}, list (without name,
 *   and /apis/{group}/{version}/{plural} across namespaces), POST /apply (YAML or JSON, one or
 *   many documents), GET /metrics (Prometheus text), GET /healthz, GET /ui/ (a web page; GET /
 *   redirects there), GET /version ({"version", "commit"}),
 *   GET  /v1/resources/{kind}[/{ns}[/{name}]]  list/get (and DELETE with a name) with a lenient
 *        kind: plural, singular, Kind or short name, any case (what `herald get` uses)
 * and the operations on one event log (a broker; a channel behaves as one) or one consumer (a
 * trigger; a subscription behaves as one), behind the `herald` CLI:
 *   GET  /v1/{brokers|channels}/{ns}/{name}/tail       live events as they are stored
 *   POST /v1/{brokers|channels}/{ns}/{name}/events     same as the ingress, for `herald send`
 *   GET  /v1/{brokers|channels}/{ns}/{name}/describe   address, log bounds, its triggers (a
 *        channel: its subscriptions) with backlogs, under "triggers" in both cases
 *   GET  /v1/{triggers|subscriptions}/{ns}/{name}/describe   status, backlog, in-flight, last
 *        errors; a trigger has "broker" and "filter", a subscription "channel" and "reply"
 *   GET  /v1/{triggers|subscriptions}/{ns}/{name}/dlq  dead letters; POST .../dlq/replay[?seq=N]
 *   POST /v1/{triggers|subscriptions}/{ns}/{name}/replay?from=SEQ|TIME
 * Answers: resources as Kubernetes-style JSON (lists as {"kind":"<Kind>List","items":[...]},
 * /apply as {"kind":"List","items":[...]}); errors as {"error": "..."}: 400 invalid input (the
 * message names the document and field, and a CESQL position), 404 unknown path or resource
 * (naming its kind: `Channel "ns/name" not found`), 405 wrong method (with Allow), 409 a consumer
 * not bound to its log, 503 store busy (with Retry-After). Tail answers application/x-ndjson, one
 * JSON-format event per line, starting after the current end (or at ?from=SEQ); a client over the
 * 1 MiB output high-water mark loses events, counted in
 * herald_tail_dropped_total{namespace,broker|channel}; the stream ends when the broker or channel
 * is deleted or the daemon stops.
 * Loop thread only.
 */
#ifndef HERALD_HD_ADMIN_H
#define HERALD_HD_ADMIN_H

#include "hd.h"
#include "hd_http.h"

struct hd_ingress;

/*
 * What the admin API uses, and nothing else. Owned by main, which fills it before the admin port
 * starts and sets a field to NULL when the module it names closes (requests still waiting for a
 * commit and live tails outlive the listener); every pointer is borrowed. A NULL `res` answers
 * 503, a NULL `log` or `disp` makes the operations that need them answer 503 or 409, a NULL
 * `metrics` leaves /metrics answering 503.
 */
typedef struct {
    uv_loop_t *loop;            /* for the tail's broker-still-there timer */
    hd_resources_t *res;        /* the registry: resources, lookups, apply/delete */
    hd_dispatch_t *disp;        /* stats, replay, dead-letter replay */
    hd_evlog_t *log;            /* log bounds, dead letters, tail reads and commit watch */
    struct hd_ingress *ingress; /* POST .../events is answered by hd_ingress_post */
    hd_metrics_t *metrics;      /* GET /metrics, herald_tail_dropped_total */
    const bool *ready;          /* /readyz: true once the daemon is ready (main's flag) */
} hd_admin_ctx_t;

/* The admin port's request handler (ctx is the hd_admin_ctx_t, borrowed). */
void hd_admin_handle(void *ctx, hd_http_req_t *req);

#endif /* HERALD_HD_ADMIN_H */
