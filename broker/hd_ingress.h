/*
 * hd_ingress.h — the data-plane front door: POST /{namespace}/{broker} and
 * /{namespace}/channels/{name} (or any path with a channel's in-cluster Host) in binary,
 * structured and batch mode, with every status of DESIGN §5, and the in-process ingest path used
 * by replies and sources (no HTTP hop). 202 is sent only after the store committed (and fsync'd).
 * Loop thread only.
 */
#ifndef HERALD_HD_INGRESS_H
#define HERALD_HD_INGRESS_H

#include "hd.h"
#include "hd_http.h"
#include "hd_resources.h"

/* /readyz's body while the store refuses appends for lack of room (ingress and admin port). */
#define HD_INGRESS_STORE_FULL "store full: appends refused until retention frees room\n"

/* The ingress's own state: what it stores into and counts with, and a cache of its per-broker
 * metric handles (so the hot path does no metric lookup). One per ingress port. */
typedef struct hd_ingress hd_ingress_t;

/* Bounds of one request (0: not checked here). */
typedef struct {
    uint64_t max_event_bytes;  /* body bytes, also enforced by the HTTP server [413] */
    uint64_t max_batch_events; /* events in one batch request [413] */
} hd_ingress_limits_t;

/* Creates the ingress state. Every pointer is borrowed and must outlive it:
 *   res      where addresses are looked up (NULL: every event path answers 404)
 *   log      where events are appended (NULL: 503); it must stay open while *ready is true
 *   metrics  herald_events_received_total and herald_ingest_latency_seconds (NULL: not counted)
 *   ready    the daemon's readiness, read at every request: false answers 503 and /readyz 503
 *            (NULL: always ready); /readyz answers 503 too while the log is full
 *            (hd_evlog_full), with HD_INGRESS_STORE_FULL as its body
 *   limits   copied; NULL: no limits
 * Errors: HD_E_NOMEM. *out is owned by the caller: free with hd_ingress_free once the log is
 * closed (requests waiting for a commit use it until then). */
hd_err_t hd_ingress_new(hd_resources_t *res, hd_evlog_t *log, hd_metrics_t *metrics,
                        const bool *ready, const hd_ingress_limits_t *limits, hd_ingress_t **out);
/* Frees the ingress state. Accepts NULL. */
void hd_ingress_free(hd_ingress_t *in);

/* The ingress port's request handler (ctx is the hd_ingress_t). */
void hd_ingress_handle(void *ctx, hd_http_req_t *req);

/* Answers a POST of events to broker b (borrowed) exactly as the ingress port does: decode,
 * limits, the store, metrics and every status code (202 after the commit, 400, 413, 415, 500,
 * 503 with Retry-After). The admin API's POST /v1/brokers/{ns}/{name}/events uses it too. The
 * answer may come later, from the store's commit; req stays valid until then (hd_http.h). */
void hd_ingress_post(hd_ingress_t *in, hd_http_req_t *req, hd_broker_t *b);

/* Called when an in-process ingest is durable (HD_E_OK) or failed (HD_E_BUSY, HD_E_FULL...). */
typedef void (*hd_ingest_done_fn)(void *arg, hd_err_t status);
/* Stores events into broker b (borrowed) through the ingress `in`, atomically (all or none); the
 * events stay the caller's (packed before this returns). knativebrokerttl is neither set nor
 * checked here (the dispatcher guards replies). Counts them in herald_events_received_total.
 * Errors returned at once (no callback): HD_E_BUSY (store queue full or not ready), HD_E_NOMEM,
 * HD_E_CLOSED, HD_E_INVAL. */
hd_err_t hd_ingest(hd_ingress_t *in, hd_broker_t *b, ce_event_t *const *evs, size_t n,
                   hd_ingest_done_fn cb, void *arg);

/* hd_ingest into the broker or channel whose log is `log_id` (the dispatcher's in-process hop).
 * Errors as hd_ingest, and HD_E_NOTFOUND when no broker or channel has that log. */
hd_err_t hd_ingest_log(hd_ingress_t *in, uint32_t log_id, ce_event_t *const *evs, size_t n,
                       hd_ingest_done_fn cb, void *arg);

#endif /* HERALD_HD_INGRESS_H */
