/*
 * hd_httpc.h — the outbound HTTP client of heraldd (the dispatcher's transport).
 *
 * `http://` URLs go through a hand-written keep-alive HTTP/1.1 client on the libuv loop, framed
 * by http-parser (about 10 µs of CPU per request, against 34–51 µs for libcurl multi:
 * reference/http-client-bench.md). `https://` URLs go through libcurl multi-socket driven by the
 * same loop. Redirects are never followed.
 *
 * Connections are pooled per host:port, at most `max_conns_per_host` each [overflow: requests
 * wait in the pool's FIFO queue, which callers bound — the dispatcher by maxInFlight]. Idle
 * connections close after `idle_timeout_ms`. A request on a reused keep-alive connection that
 * the server had already closed (no byte of answer received) is retried once on a new
 * connection. The response body is kept up to `max_body` bytes [beyond: the rest is read and
 * discarded, resp.body_truncated is set]; response headers are bounded (64 headers, 16 KiB)
 * [beyond: HD_E_PROTO, connection closed].
 *
 * Every callback runs later on the loop thread, never from inside hd_httpc_request(). Loop thread
 * only.
 */
#ifndef HERALD_HD_HTTPC_H
#define HERALD_HD_HTTPC_H

#include "hd.h"
#include "herald/ce_http.h"

typedef struct {
    size_t max_conns_per_host; /* 0 = 64 (config delivery.max_connections_per_host) */
    uint64_t idle_timeout_ms;  /* 0 = 30 s */
    size_t max_body;           /* bytes of a response body kept; 0 = 1 MiB + 64 KiB */
    const char *ca_file;       /* https: PEM bundle of trusted CAs (copied); NULL = the system's */
} hd_httpc_opts_t;

/* Creates a client on `loop` (opts may be NULL for defaults). Errors: HD_E_NOMEM, HD_E_IO (libcurl
 * init failed). *out is owned by the caller: close with hd_httpc_close. */
hd_err_t hd_httpc_new(uv_loop_t *loop, const hd_httpc_opts_t *opts, hd_httpc_t **out);
/* Closes every connection and frees the client once its handles are closed (run the loop). The
 * callbacks of requests still outstanding are NOT called: cancel or forget them first. Accepts
 * NULL. */
void hd_httpc_close(hd_httpc_t *c);

/* A request. Everything is borrowed only during hd_httpc_request (copied). */
typedef struct {
    const char *method;         /* NULL = "POST" */
    const char *url;            /* http://host[:port][/path][?query] or https://... */
    const ce_header_t *headers; /* extra headers; Host, Content-Length and Connection are added */
    size_t header_count;
    const char *body;
    size_t body_len;
    uint64_t timeout_ms; /* whole attempt (connect, send, answer); 0 = none */
} hd_httpc_req_t;

/* The outcome. All pointers are borrowed and valid only during the callback. */
typedef struct {
    hd_err_t err;               /* HD_E_OK when an answer arrived; else HD_E_NET (connect
                                   refused, reset, closed early), HD_E_TIMEOUT, HD_E_PROTO
                                   (malformed answer), HD_E_NOMEM, HD_E_CLOSED */
    int status;                 /* HTTP status when err is HD_E_OK, else -1 */
    const ce_header_t *headers; /* response headers, names as sent */
    size_t header_count;
    const char *body; /* response body (at most max_body bytes) */
    size_t body_len;
    bool body_truncated;
    const char *error; /* human text when err != HD_E_OK ("connect: connection refused") */
} hd_httpc_resp_t;

typedef void (*hd_httpc_done_fn)(void *arg, const hd_httpc_resp_t *resp);

typedef struct hd_httpc_call hd_httpc_call_t;

/*
 * Starts a request; `cb` runs exactly once later unless the call is cancelled. *call (may be
 * NULL) receives a handle valid until the callback starts or hd_httpc_cancel returns.
 * Errors, returned at once with no callback: HD_E_INVAL (bad or unsupported URL), HD_E_NOMEM.
 */
hd_err_t hd_httpc_request(hd_httpc_t *c, const hd_httpc_req_t *req, hd_httpc_done_fn cb, void *arg,
                          hd_httpc_call_t **call);
/* Cancels a call whose callback has not run yet: the callback will not run. A connection with an
 * answer in flight is closed. */
void hd_httpc_cancel(hd_httpc_call_t *call);

/* Case-insensitive lookup in a response's headers; borrowed value (not NUL-terminated) or NULL. */
const char *hd_httpc_resp_header(const hd_httpc_resp_t *resp, const char *name, size_t *len);

typedef struct {
    uint64_t requests, connects, reuses, stale_retries, timeouts, errors;
    uint64_t open_conns, idle_conns, queued;
} hd_httpc_stats_t;
/* Counters since creation and current gauges. */
void hd_httpc_stats(const hd_httpc_t *c, hd_httpc_stats_t *out);

#endif /* HERALD_HD_HTTPC_H */
