/*
 * hd_http.h — the HTTP/1.1 server of heraldd (libuv + http-parser), shared by ingress and the
 * admin API.
 *
 * A request is handed to the handler once complete (head and body). The handler answers at once
 * or later (after a store commit) with hd_http_respond(); the connection reads no further request
 * until then (one request per connection at a time; pipelined ones wait in the read buffer).
 * Long-lived streaming answers (`herald tail`) use hd_http_stream_*.
 *
 * Bounds (overflow policy in brackets): request line and URL 8 KiB [414], 100 headers [431],
 * header bytes 16 KiB [431], body `max_body` [413, connection closed], bodies buffered by all
 * connections sharing `body_budget` [503 + Retry-After, closed], HTTP major version other than 1
 * [505], connections `max_conns` [accepted, closed and counted], file descriptors close to
 * RLIMIT_NOFILE [same], a connection's unsent answers above `output_high_water` [its reading
 * stops until they fall below `output_low_water`], pipelined requests handled per connection and
 * loop turn `requests_per_turn` [the rest waits for the next turn, so other connections get
 * theirs]. Loop thread only.
 */
#ifndef HERALD_HD_HTTP_H
#define HERALD_HD_HTTP_H

#include "hd.h"
#include "hd_metrics.h"
#include "herald/ce_http.h"

typedef struct hd_http_req hd_http_req_t;

/* A complete request. All pointers are borrowed and valid until hd_http_respond /
 * hd_http_stream_end is called for it. */
struct hd_http_req {
    int method;       /* enum http_method of http_parser.h */
    const char *path; /* NUL-terminated, without the query, not percent-decoded */
    size_t path_len;
    const char *query; /* NUL-terminated, "" when absent */
    ce_header_t *headers;
    size_t header_count;
    const char *body;
    size_t body_len;
    uint64_t received_ms; /* hd_now_ms() when the request was complete */
    void *user;           /* free for the handler */
};

/* Called once per complete request. */
typedef void (*hd_http_handler_fn)(void *ctx, hd_http_req_t *req);

typedef struct {
    const char *listen; /* "host:port"; port 0 picks a free one (see hd_http_server_port) */
    size_t max_body;    /* bytes */
    size_t max_conns;
    hd_http_handler_fn handler;
    void *ctx;
    uint64_t header_timeout_ms; /* a request's head and body must arrive within this [408 +
                                 * close]; 0 = 30 s. Checked once a second. */
    uint64_t idle_timeout_ms;   /* a keep-alive connection with nothing to do is closed after
                                 * this; 0 = 120 s. Checked once a second. */
    size_t output_high_water;   /* unsent answer bytes of a connection above which its reading
                                 * stops; 0 = HD_HTTP_OUTPUT_HIGH_WATER */
    size_t output_low_water;    /* reading resumes at or below this; 0 = a quarter of high */
    size_t requests_per_turn;   /* pipelined requests of a connection per loop turn; 0 = 16 */
    size_t body_budget;         /* request body bytes buffered at once by every connection
                                 * sharing body_budget_used; 0 = HD_HTTP_BODY_BUDGET */
    size_t *body_budget_used;   /* the shared counter (borrowed, outlives the server; main shares
                                 * one between ingress and admin); NULL = this server's own */
    hd_metrics_t *metrics;      /* herald_http_connections{listener} and
                                 * herald_http_connections_rejected_total{listener,reason};
                                 * borrowed, NULL = none */
    const char *name;           /* the listener label ("ingress", "admin"); copied */
} hd_http_server_opts_t;

#define HD_HTTP_OUTPUT_HIGH_WATER (512u * 1024u)
#define HD_HTTP_BODY_BUDGET (256u * 1024u * 1024u)

/* Binds and starts listening. Errors: HD_E_NET (bind failed; logged with the address). */
hd_err_t hd_http_server_start(uv_loop_t *loop, const hd_http_server_opts_t *opts,
                              hd_http_server_t **out);
/* The bound port (useful with port 0). */
int hd_http_server_port(const hd_http_server_t *s);
/* Starts a graceful shutdown: stops accepting; every request already with the handler is
 * answered as usual and its connection closed after the answer; the first complete request
 * waiting behind it, or buffered by an idle connection (read buffer or socket), is answered 503
 * with Retry-After and Connection: close; idle keep-alive connections close at once. Call
 * hd_http_server_stop when the drain time is over. Accepts NULL. */
void hd_http_server_drain(hd_http_server_t *s);
/* Number of connections still open (a drain is over when it reaches 0). */
size_t hd_http_server_connections(const hd_http_server_t *s);
/* Stops accepting and closes every connection; a connection whose request is still with the
 * handler is closed right after its answer (Connection: close), so requests waiting for a store
 * commit at shutdown still get it. Frees in the close callbacks. Accepts NULL. */
void hd_http_server_stop(hd_http_server_t *s);

/* Raises the soft RLIMIT_NOFILE toward `want` open files (up to the hard limit); logs a warning
 * naming both numbers when it cannot reach `want`. Returns the soft limit now in force. Call at
 * start, before listening. */
uint64_t hd_http_raise_fd_limit(uint64_t want);

/* Case-insensitive header lookup; returns a borrowed value (not NUL-terminated) or NULL. */
const char *hd_http_req_header(const hd_http_req_t *req, const char *name, size_t *len);

/*
 * Answers `req` with `status`, extra headers ("Name: value\r\n" lines, may be NULL) and a body.
 * Content-Length and Connection are added. Copies what it needs; after it returns `req` is gone.
 * Safe to call after the client went away (the answer is dropped).
 */
void hd_http_respond(hd_http_req_t *req, int status, const char *extra_headers, const char *body,
                     size_t body_len);
/* Answers with `{"error": message}` and Content-Type application/json. */
void hd_http_respond_error(hd_http_req_t *req, int status, const char *extra_headers,
                           const char *message);

/* Streaming answer (chunked): start, write chunks, end. A write returns HD_E_CLOSED once the
 * client went away (then call hd_http_stream_end) and HD_E_BUSY above the 1 MiB output high-water
 * mark (the caller drops and counts). */
void hd_http_stream_start(hd_http_req_t *req, int status, const char *extra_headers);
hd_err_t hd_http_stream_write(hd_http_req_t *req, const char *data, size_t len);
void hd_http_stream_end(hd_http_req_t *req);
/* Set a callback for when a streaming client disconnects (so the producer stops). */
void hd_http_stream_on_close(hd_http_req_t *req, void (*cb)(hd_http_req_t *req, void *arg),
                             void *arg);

#endif /* HERALD_HD_HTTP_H */
