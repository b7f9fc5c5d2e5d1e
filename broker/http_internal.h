/*
 * http_internal.h — what the HTTP server's files share (hd_http.h is the public side). Only
 * broker/http_*.c and the HTTP fuzz target include it.
 *
 *  - http_framing.c  the request framer: bytes in, complete requests or an error status out,
 *                    with every bound of a request (URL, headers, body, body budget, version).
 *                    No I/O, no loop: the fuzz target drives it directly.
 *  - http_write.c    answers: the status line and headers, the write queue, hd_http_respond and
 *                    the chunked streams.
 *  - http_server.c   listening, accepting, reading, back-pressure (output high/low-water marks,
 *                    requests per loop turn), timeouts, the shutdown drain, connection metrics.
 *
 * Loop thread only (the framer: any thread, one framer per thread).
 */
#ifndef HERALD_HTTP_INTERNAL_H
#define HERALD_HTTP_INTERNAL_H

#include <http_parser.h>

#include "hd_http.h"
#include "hd_metrics.h"

#define HD_HTTP__URL_MAX (8 * 1024)
#define HD_HTTP__HEADER_BYTES_MAX (16 * 1024)
#define HD_HTTP__HEADER_COUNT_MAX 100
/* body buffers above this are freed between requests (kept ones count in the body budget) */
#define HD_HTTP__BODY_KEEP_MAX (16 * 1024)

/* ---- http_framing.c ------------------------------------------------------------------------ */

/* What hd_http__framer_feed stopped at. */
typedef enum {
    HD_HTTP__NEED_MORE, /* every byte consumed, no complete request yet */
    HD_HTTP__REQUEST,   /* a complete request: hd_http__framer_build, answer, then feed the rest */
    HD_HTTP__CONTINUE,  /* the head asks for "100 Continue": send it, then feed the rest */
    HD_HTTP__ERROR,     /* a bad or refused request: answer err_status + err_msg and close */
} hd_http__frame_t;

/* One connection's request framer: http-parser plus the request being collected. */
typedef struct {
    http_parser parser;
    size_t max_body;     /* body bound [413] */
    size_t *budget_used; /* body bytes buffered by every connection sharing the budget */
    size_t budget_max;   /* above it a body is refused [503 + Retry-After] */
    bool msg_complete;
    bool in_request;     /* between the first byte of a request and its end */
    bool began;          /* a request began during the last feed (the caller stamps the time) */
    int err_status;      /* HD_HTTP__ERROR: the status to answer */
    const char *err_msg; /* HD_HTTP__ERROR: what is wrong (static text) */
    bool err_retry;      /* HD_HTTP__ERROR: a temporary refusal (send Retry-After) */
    char *arena;         /* URL then header names and values */
    size_t arena_len, arena_cap;
    size_t url_len, header_bytes;
    bool last_was_value;
    size_t nheaders;
    struct {
        size_t name_off, name_len, value_off, value_len;
    } hoff[HD_HTTP__HEADER_COUNT_MAX];
    ce_header_t headers[HD_HTTP__HEADER_COUNT_MAX];
    char *body;
    size_t body_len, body_cap; /* body_cap bytes are counted in *budget_used */
} hd_http__framer_t;

/* Sets up a framer. budget_used (borrowed, outlives the framer) is shared by the connections
 * that share the budget; NULL: no budget. */
void hd_http__framer_init(hd_http__framer_t *f, size_t max_body, size_t *budget_used,
                          size_t budget_max);
/* Frees the framer's buffers and gives its body bytes back to the budget. */
void hd_http__framer_free(hd_http__framer_t *f);
/* Parses data[0, len) and stops at the first of: a complete request, a 100-continue head, an
 * error, or the end of the data. *consumed says how many bytes were used; the rest is fed again
 * after the caller handled what it stopped at. After HD_HTTP__ERROR the framer takes no more. */
hd_http__frame_t hd_http__framer_feed(hd_http__framer_t *f, const char *data, size_t len,
                                      size_t *consumed);
/* Fills `req` with the request just completed (pointers into the framer, valid until the next
 * feed or hd_http__framer_reset_body). */
void hd_http__framer_build(hd_http__framer_t *f, hd_http_req_t *req);
/* The request was answered: a body buffer above HD_HTTP__BODY_KEEP_MAX is freed. */
void hd_http__framer_reset_body(hd_http__framer_t *f);
/* Whether the last request wants the connection closed after its answer. */
bool hd_http__framer_keep_alive(const hd_http__framer_t *f);

/* ---- connections (http_server.c) ----------------------------------------------------------- */

typedef enum {
    HD_HTTP__IDLE,      /* waiting for (the rest of) a request */
    HD_HTTP__IN_FLIGHT, /* a complete request is with the handler */
    HD_HTTP__STREAMING, /* the handler answers with a chunked stream */
    HD_HTTP__LINGER,    /* answered and closing: write side shut, draining reads */
} hd_http__state_t;

typedef struct hd_http__conn hd_http__conn_t;

struct hd_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweep;
    uv_idle_t turn; /* active while connections wait for their next turn */
    hd_http_server_opts_t opts;
    int port;
    size_t nconns;
    hd_http__conn_t *conns; /* doubly linked list of live connections (dead ones unlinked) */
    hd_http__conn_t *ready; /* connections with buffered requests waiting for a turn */
    hd_http__conn_t *ready_tail;
    int handles_open; /* listener, sweep, turn: the server is freed when all closed and no conn */
    bool stopping;    /* hd_http_server_stop: draining */
    bool closed;      /* hd_http_server_close: nothing more is read */
    size_t body_used; /* the budget's counter when opts.body_budget_used is NULL */
    hd_metric_t *m_conns, *m_rej_limit, *m_rej_emfile;
    time_t date_sec; /* second of the cached Date header */
    char date[48];   /* "Date: Fri, 27 Nov 2026 13:50:00 GMT\r\n" */
    size_t date_len;
};

struct hd_http__conn {
    uv_tcp_t tcp;
    hd_http_server_t *srv;
    hd_http__conn_t *prev, *next;
    hd_http__conn_t *ready_next;
    hd_http__framer_t fr;
    hd_http__state_t state;
    bool closing;     /* uv_close called */
    bool dead;        /* closed while a request was in flight: freed by respond */
    bool reading;     /* uv_read_start active */
    bool processing;  /* inside process(): respond must not re-enter it */
    bool peer_eof;    /* the client shut its write side */
    bool close_after; /* close once the current answer is written */
    bool in_ready;    /* in the server's ready list */
    bool out_paused;  /* reading stopped: unsent output above the high-water mark */
    bool head_method; /* the request being answered is a HEAD */
    size_t writes_pending;
    uint64_t last_ms;  /* last activity (sweep) */
    uint64_t begin_ms; /* request begin (header timeout) */
    char *in;          /* read buffer: [in_off, in_len) not parsed yet */
    size_t in_off, in_len;
    hd_http_req_t req;
    void (*stream_close_cb)(hd_http_req_t *req, void *arg);
    void *stream_close_arg;
};

/* Closes the connection (idempotent); freed in the close callback. */
void hd_http__conn_close(hd_http__conn_t *c);
/* Done after the current answer: shut the write side once written, drain reads, close. */
void hd_http__conn_linger(hd_http__conn_t *c);
/* The request was answered: next request, or linger/close, or free when it died meanwhile. */
void hd_http__request_done(hd_http__conn_t *c);
/* Output fell below the low-water mark (called by the write path): resume reading. */
void hd_http__output_drained(hd_http__conn_t *c);

/* ---- http_write.c -------------------------------------------------------------------------- */

/* Writes bytes now if the socket takes them, else queues a copy. false when the connection
 * failed (it is then being closed). */
bool hd_http__write(hd_http__conn_t *c, const char *data, size_t len);
/* Shuts the write side down (FIN after the queued writes); false when that failed (the
 * connection is then being closed). */
bool hd_http__shutdown(hd_http__conn_t *c);
/* Bytes queued on the socket and not yet written. */
size_t hd_http__unsent(hd_http__conn_t *c);
/* Writes a whole answer (head + body). closing: Connection: close. */
bool hd_http__write_answer(hd_http__conn_t *c, int status, const char *extra, const char *body,
                           size_t body_len, bool closing, bool chunked);
/* An answer the server gives itself (framing error, bound, shutdown): a JSON error naming the
 * problem, Connection: close, then linger. retry: add Retry-After. */
void hd_http__answer_and_close(hd_http__conn_t *c, int status, const char *message, bool retry);

#endif /* HERALD_HTTP_INTERNAL_H */
