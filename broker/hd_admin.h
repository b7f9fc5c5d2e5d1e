/*
 * hd_admin.h — the admin API (DESIGN §7) on its own port (default 127.0.0.1:8081):
 *   GET/PUT/DELETE /apis/{group}/{version}/namespaces/{ns}/{plural}/{name}, list (without name,
 *   and /apis/{group}/{version}/{plural} across namespaces), POST /apply (YAML or JSON, one or
 *   many documents), GET /metrics (Prometheus text), GET /healthz, GET /ui/ (a web page),
 *   GET  /v1/brokers/{ns}/{name}/tail        live events as they are stored (chunked JSON lines)
 *   GET  /v1/triggers/{ns}/{name}/describe   status, backlog, in-flight, last errors
 *   GET  /v1/triggers/{ns}/{name}/dlq        dead letters; POST .../dlq/replay[?seq=N]
 *   POST /v1/triggers/{ns}/{name}/replay?from=SEQ|TIME
 *   POST /v1/brokers/{ns}/{name}/events      same as ingress, for `herald send`
 *   GET  /v1/brokers/{ns}/{name}/describe    address, log bounds, its triggers with backlogs
 *   GET  /v1/resources/{kind}[/{ns}[/{name}]]  list/get (and DELETE with a name) with a lenient
 *        kind: plural, singular, Kind or short name, any case (what `herald get` uses)
 * Answers: resources as Kubernetes-style JSON (lists as {"kind":"<Kind>List","items":[...]},
 * /apply as {"kind":"List","items":[...]}); errors as {"error": "..."}: 400 invalid input (the
 * message names the document and field, and a CESQL position), 404 unknown path or resource,
 * 405 wrong method (with Allow), 409 a trigger not bound to a broker, 503 store busy (with
 * Retry-After). Tail answers application/x-ndjson, one JSON-format event per line, starting
 * after the current end (or at ?from=SEQ); a client over the 1 MiB output high-water mark loses
 * events, counted in herald_tail_dropped_total{namespace,broker}; the stream ends when the
 * broker is deleted or the daemon stops.
 * Loop thread only.
 */
#ifndef HERALD_HD_ADMIN_H
#define HERALD_HD_ADMIN_H

#include "hd.h"
#include "hd_http.h"

/* The admin port's request handler (ctx is the hd_server_t). */
void hd_admin_handle(void *ctx, hd_http_req_t *req);

/* GET /ui/ (admin_ui.c): a self-contained HTML page (resources with their Ready reason, events
 * and rates per broker, trigger backlogs, a live tail) that reads the routes above from the
 * browser. Answers `req`. */
void hd_admin__ui(hd_http_req_t *req);

#endif /* HERALD_HD_ADMIN_H */
