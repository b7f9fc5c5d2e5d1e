/*
 * hd_admin.h — the admin API (DESIGN §7) on its own port (default 127.0.0.1:8081):
 *   GET/PUT/DELETE /apis/{group}/{version}/namespaces/{ns}/{plural}/{name}, list (without name,
 *   and /apis/{group}/{version}/{plural} across namespaces), POST /apply (YAML or JSON, one or
 *   many documents), GET /metrics (Prometheus text), GET /healthz,
 *   GET  /v1/brokers/{ns}/{name}/tail        live events as they are stored (chunked JSON lines)
 *   GET  /v1/triggers/{ns}/{name}/describe   status, backlog, in-flight, last errors
 *   GET  /v1/triggers/{ns}/{name}/dlq        dead letters; POST .../dlq/replay[?seq=N]
 *   POST /v1/triggers/{ns}/{name}/replay?from=SEQ|TIME
 *   POST /v1/brokers/{ns}/{name}/events      same as ingress, for `herald send`
 * Loop thread only.
 */
#ifndef HERALD_HD_ADMIN_H
#define HERALD_HD_ADMIN_H

#include "hd.h"
#include "hd_http.h"

/* The admin port's request handler (ctx is the hd_server_t). */
void hd_admin_handle(void *ctx, hd_http_req_t *req);

#endif /* HERALD_HD_ADMIN_H */
