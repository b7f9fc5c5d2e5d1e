/*
 * http_server.c — heraldd's HTTP/1.1 server (hd_http.h): listening, accepting and reading
 * connections, handing complete requests to the handler, back-pressure, timeouts and the
 * shutdown drain. The request framing is in http_framing.c, the answers in http_write.c
 * (http_internal.h says which does what).
 *
 * One connection = one hd_http__conn_t holding its uv_tcp_t (recovered with hd_container_of), a
 * fixed read buffer, the framer and the request handed to the handler. One request is in flight
 * per connection: once a request is complete the bytes after it stay in the read buffer until
 * the handler answered; reading goes on meanwhile (so resets and EOF are seen) until the read
 * buffer is full. A connection whose request is in flight is never freed: when the peer goes away
 * its socket is closed and the connection waits, marked dead, for hd_http_respond, which frees
 * it.
 *
 * Back-pressure, so that no client can make heraldd buffer without limit or hog the loop:
 *  - a connection whose unsent answers are above output_high_water stops being read and parsed
 *    (a client that pipelines and never reads fills its socket, then waits); reading and parsing
 *    resume once the write queue fell to output_low_water;
 *  - at most requests_per_turn pipelined requests of one connection are handled per loop turn;
 *    the rest waits in the read buffer for the `turn` idle handle, so every other connection is
 *    served in between;
 *  - request bodies count against a budget shared by the listeners (body_budget): a body that
 *    does not fit gets 503 + Retry-After and the connection closes (pausing instead could hold
 *    every connection with half a body forever).
 * Connections over max_conns, or whose descriptor is within FD_RESERVE of RLIMIT_NOFILE, are
 * accepted, closed and counted. Timeouts (header_timeout_ms, idle_timeout_ms, lingering close)
 * are enforced by a once-a-second sweep.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

#include "http_internal.h"

#define READ_BUF_SIZE (16 * 1024)
#define SWEEP_INTERVAL_MS 1000
#define HEADER_TIMEOUT_MS 30000
#define IDLE_TIMEOUT_MS 120000
#define LINGER_MS 2000
#define REQUESTS_PER_TURN 16
/* descriptors kept for the store, outbound deliveries and logs: a connection accepted above
 * RLIMIT_NOFILE - FD_RESERVE is closed and counted as reason="emfile" */
#define FD_RESERVE 64

typedef hd_http__conn_t conn_t;

static void process(conn_t *c);
static void read_start(conn_t *c);
static void on_turn(uv_idle_t *h);
static void server_maybe_free(hd_http_server_t *s);

/* ---- connection lifecycle --------------------------------------------------------------- */

static void ready_remove(conn_t *c)
{
    if (!c->in_ready)
        return;
    hd_http_server_t *s = c->srv;
    conn_t *prev = NULL;
    for (conn_t *x = s->ready; x; prev = x, x = x->ready_next) {
        if (x != c)
            continue;
        if (prev)
            prev->ready_next = x->ready_next;
        else
            s->ready = x->ready_next;
        if (s->ready_tail == x)
            s->ready_tail = prev;
        break;
    }
    c->ready_next = NULL;
    c->in_ready = false;
}

/* The connection has buffered requests for its next turn. */
static void schedule_turn(conn_t *c)
{
    hd_http_server_t *s = c->srv;
    if (c->in_ready || c->closing || s->closed)
        return;
    c->in_ready = true;
    c->ready_next = NULL;
    if (s->ready_tail)
        s->ready_tail->ready_next = c;
    else
        s->ready = c;
    s->ready_tail = c;
    uv_idle_start(&s->turn, on_turn);
}

static void conn_free(conn_t *c)
{
    hd_http_server_t *s = c->srv;
    hd_http__framer_free(&c->fr);
    hd_free(c->in);
    hd_free(c);
    s->nconns--;
    hd_metric_set(s->m_conns, (int64_t)s->nconns);
    server_maybe_free(s);
}

static void unlink_conn(conn_t *c)
{
    hd_http_server_t *s = c->srv;
    ready_remove(c);
    if (c->prev)
        c->prev->next = c->next;
    else if (s->conns == c)
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void on_conn_closed(uv_handle_t *h)
{
    conn_t *c = hd_container_of((uv_tcp_t *)h, conn_t, tcp);
    unlink_conn(c);
    if (c->state == HD_HTTP__IN_FLIGHT || c->state == HD_HTTP__STREAMING) {
        /* The handler still holds c->req: freed when it answers. */
        c->dead = true;
        if (c->state == HD_HTTP__STREAMING && c->stream_close_cb) {
            void (*cb)(hd_http_req_t *, void *) = c->stream_close_cb;
            c->stream_close_cb = NULL;
            cb(&c->req, c->stream_close_arg);
        }
        return;
    }
    conn_free(c);
}

void hd_http__conn_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    ready_remove(c);
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

void hd_http__conn_linger(conn_t *c)
{
    if (c->closing)
        return;
    ready_remove(c);
    c->state = HD_HTTP__LINGER;
    c->last_ms = uv_now(c->srv->loop);
    if (c->peer_eof || c->srv->closed) {
        /* Nothing more will come (or we stop now): close once the answer is out. A draining
         * server lingers as usual, so that clients read their answers, not a reset. */
        if (c->writes_pending == 0)
            hd_http__conn_close(c);
        else
            c->close_after = true;
        return;
    }
    if (c->writes_pending == 0 && !hd_http__shutdown(c))
        return;
    c->out_paused = false;
    read_start(c);
}

/* ---- reading ---------------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn_t *c = hd_container_of((uv_tcp_t *)h, conn_t, tcp);
    if (c->in_off == c->in_len) {
        c->in_off = c->in_len = 0;
    } else if (c->in_off > 0 && READ_BUF_SIZE - c->in_len < READ_BUF_SIZE / 4) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(READ_BUF_SIZE - c->in_len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void read_start(conn_t *c)
{
    if (c->reading || c->closing || c->peer_eof || c->srv->closed)
        return;
    if (c->in_len - c->in_off == READ_BUF_SIZE)
        return; /* full: the parser must take bytes first */
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
    else
        hd_http__conn_close(c);
}

static void read_stop(conn_t *c)
{
    if (!c->reading)
        return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    conn_t *c = hd_container_of((uv_tcp_t *)st, conn_t, tcp);
    if (nread == 0)
        return;
    if (nread < 0) {
        read_stop(c);
        if (nread == UV_EOF) {
            c->peer_eof = true;
            if (c->state == HD_HTTP__IN_FLIGHT && !c->close_after) {
                /* Half-closed: answer the request, then close. */
                c->close_after = true;
                return;
            }
            if (c->state == HD_HTTP__LINGER && c->writes_pending > 0) {
                c->close_after = true;
                return;
            }
            if (c->state == HD_HTTP__IDLE && c->in_off < c->in_len) {
                /* requests still buffered (waiting for their turn): answer them first */
                schedule_turn(c);
                return;
            }
        }
        hd_http__conn_close(c);
        return;
    }
    c->last_ms = uv_now(c->srv->loop);
    if (c->state == HD_HTTP__LINGER) {
        c->in_off = c->in_len = 0; /* discard */
        return;
    }
    c->in_len += (size_t)nread;
    if (c->state == HD_HTTP__IDLE && !c->in_ready && !c->out_paused)
        process(c);
    else if (c->in_len - c->in_off == READ_BUF_SIZE)
        read_stop(c); /* the read buffer is full: the parser takes bytes first */
}

/* ---- handing requests ------------------------------------------------------------------- */

static void hand(conn_t *c)
{
    hd_http_server_t *s = c->srv;
    c->head_method = c->fr.parser.method == HTTP_HEAD;
    if (s->stopping) {
        c->in_off = c->in_len;
        hd_http__answer_and_close(c, 503, "heraldd is shutting down; send the request again", true);
        return;
    }
    hd_http__framer_build(&c->fr, &c->req);
    c->req.received_ms = hd_now_ms();
    c->state = HD_HTTP__IN_FLIGHT;
    c->last_ms = uv_now(s->loop);
    if (!hd_http__framer_keep_alive(&c->fr))
        c->close_after = true;
    s->opts.handler(s->opts.ctx, &c->req);
}

/* Parses buffered bytes and hands complete requests to the handler while none is in flight,
 * at most requests_per_turn of them, and only while the unsent output is below the high-water
 * mark. */
static void process(conn_t *c)
{
    if (c->processing || c->closing)
        return;
    hd_http_server_t *s = c->srv;
    c->processing = true;
    size_t handled = 0;
    while (!c->closing && c->state == HD_HTTP__IDLE && c->in_off < c->in_len) {
        if (hd_http__unsent(c) > s->opts.output_high_water) {
            /* the client does not read its answers: read and parse nothing more from it */
            c->out_paused = true;
            read_stop(c);
            break;
        }
        if (handled == s->opts.requests_per_turn) {
            schedule_turn(c); /* the others first */
            break;
        }
        size_t used;
        hd_http__frame_t r =
            hd_http__framer_feed(&c->fr, c->in + c->in_off, c->in_len - c->in_off, &used);
        c->in_off += used;
        if (c->fr.began) {
            c->fr.began = false;
            c->begin_ms = uv_now(s->loop);
        }
        if (r == HD_HTTP__CONTINUE) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            hd_http__write(c, cont, sizeof cont - 1);
        } else if (r == HD_HTTP__ERROR) {
            c->in_off = c->in_len;
            hd_http__answer_and_close(c, c->fr.err_status, c->fr.err_msg, c->fr.err_retry);
        } else if (r == HD_HTTP__REQUEST) {
            handled++;
            hand(c); /* answered synchronously: go on with buffered bytes */
        }
    }
    c->processing = false;
    if (c->closing || c->state != HD_HTTP__IDLE)
        return;
    if (c->in_off == c->in_len && !c->fr.in_request && (c->peer_eof || s->stopping)) {
        hd_http__conn_linger(c); /* nothing more will be answered: close once written */
        return;
    }
    if (!c->out_paused)
        read_start(c);
}

/* The idle handle: each connection waiting for a turn handles its next requests. */
static void on_turn(uv_idle_t *h)
{
    hd_http_server_t *s = h->data;
    conn_t *list = s->ready;
    s->ready = s->ready_tail = NULL;
    while (list) {
        conn_t *c = list;
        list = c->ready_next;
        c->ready_next = NULL;
        c->in_ready = false;
        process(c); /* may schedule it again, at the tail */
    }
    if (!s->ready)
        uv_idle_stop(h);
}

void hd_http__output_drained(conn_t *c)
{
    c->out_paused = false;
    if (c->closing || c->state != HD_HTTP__IDLE)
        return;
    if (c->in_off < c->in_len)
        schedule_turn(c);
    else
        read_start(c);
}

/* The request was answered: go on with the connection (or free it if it died meanwhile). */
void hd_http__request_done(conn_t *c)
{
    c->stream_close_cb = NULL;
    if (c->dead) {
        conn_free(c);
        return;
    }
    c->state = HD_HTTP__IDLE;
    hd_http__framer_reset_body(&c->fr);
    c->last_ms = uv_now(c->srv->loop);
    if (c->closing)
        return;
    if (c->close_after || c->srv->closed) {
        c->close_after = false;
        hd_http__conn_linger(c);
        return;
    }
    if (!c->processing)
        process(c); /* a request buffered behind (503 when draining), or linger */
}

/* ---- accepting ------------------------------------------------------------------------- */

static void free_handle(uv_handle_t *h)
{
    hd_free(h);
}

/* Accepts the pending connection and closes it at once: the kernel queue must not fill with
 * connections we cannot serve. */
static void accept_and_drop(hd_http_server_t *s)
{
    uv_tcp_t *t = hd_malloc(sizeof *t);
    if (t && uv_tcp_init(s->loop, t) == 0) {
        (void)uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)t);
        uv_close((uv_handle_t *)t, free_handle);
    } else {
        hd_free(t);
    }
}

static void on_connection(uv_stream_t *ls, int status)
{
    hd_http_server_t *s = hd_container_of((uv_tcp_t *)ls, hd_http_server_t, listener);
    if (status == UV_EMFILE || status == UV_ENFILE) {
        hd_metric_inc(s->m_rej_emfile, 1);
        return;
    }
    if (status < 0 || s->stopping)
        return;
    if (s->nconns >= s->opts.max_conns) {
        hd_metric_inc(s->m_rej_limit, 1);
        accept_and_drop(s);
        return;
    }
    conn_t *c = hd_calloc(1, sizeof *c);
    char *in = c ? hd_malloc(READ_BUF_SIZE) : NULL;
    if (!c || !in || uv_tcp_init(s->loop, &c->tcp) != 0) {
        hd_free(c);
        hd_free(in);
        accept_and_drop(s);
        return;
    }
    c->in = in;
    c->srv = s;
    hd_http__framer_init(&c->fr, s->opts.max_body,
                         s->opts.body_budget_used ? s->opts.body_budget_used : &s->body_used,
                         s->opts.body_budget);
    s->nconns++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        hd_http__conn_close(c);
        return;
    }
    uv_os_fd_t fd;
    struct rlimit rl;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        rl.rlim_cur != RLIM_INFINITY && (rlim_t)fd + FD_RESERVE >= rl.rlim_cur) {
        /* nearly out of descriptors: keep the rest for the store and the deliveries */
        hd_metric_inc(s->m_rej_emfile, 1);
        hd_http__conn_close(c);
        return;
    }
    hd_metric_set(s->m_conns, (int64_t)s->nconns);
    uv_tcp_nodelay(&c->tcp, 1);
    c->last_ms = uv_now(s->loop);
    read_start(c);
}

static void on_sweep(uv_timer_t *t)
{
    hd_http_server_t *s = hd_container_of(t, hd_http_server_t, sweep);
    uint64_t now = uv_now(s->loop);
    for (conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        if (c->state == HD_HTTP__LINGER && now - c->last_ms > LINGER_MS)
            hd_http__conn_close(c);
        else if (c->state == HD_HTTP__IDLE && c->fr.in_request &&
                 now - c->begin_ms > s->opts.header_timeout_ms)
            hd_http__answer_and_close(c, 408, "the request did not arrive in time", false);
        else if (c->state == HD_HTTP__IDLE && !c->fr.in_request && !c->in_ready &&
                 now - c->last_ms > s->opts.idle_timeout_ms)
            /* idle, or stopped for its output and reading none of it for that long */
            hd_http__conn_close(c);
    }
}

static void server_maybe_free(hd_http_server_t *s)
{
    if (s->closed && s->handles_open == 0 && s->nconns == 0) {
        hd_free((char *)s->opts.listen);
        hd_free((char *)s->opts.name);
        hd_free(s);
    }
}

static void on_server_handle_closed(uv_handle_t *h)
{
    hd_http_server_t *s = h->data;
    s->handles_open--;
    server_maybe_free(s);
}

static void server_metrics(hd_http_server_t *s)
{
    hd_metrics_t *m = s->opts.metrics;
    if (!m)
        return;
    const char *name = s->opts.name;
    s->m_conns = hd_metrics_gauge(m, "herald_http_connections",
                                  "Open HTTP connections, by listener", "listener", name);
    static const char help[] = "HTTP connections accepted and closed at once, by listener and "
                               "reason (limit: limits.max_connections; emfile: out of file "
                               "descriptors)";
    s->m_rej_limit = hd_metrics_counter(m, "herald_http_connections_rejected_total", help,
                                        "listener", name, "reason", "limit");
    s->m_rej_emfile = hd_metrics_counter(m, "herald_http_connections_rejected_total", help,
                                         "listener", name, "reason", "emfile");
    hd_metric_set(s->m_conns, 0);
}

static void server_free_now(hd_http_server_t *s)
{
    hd_free((char *)s->opts.listen);
    hd_free((char *)s->opts.name);
    hd_free(s);
}

hd_err_t hd_http_server_start(uv_loop_t *loop, const hd_http_server_opts_t *opts,
                              hd_http_server_t **out)
{
    hd_http_server_t *s = hd_calloc(1, sizeof *s);
    if (!s)
        return HD_E_NOMEM;
    s->loop = loop;
    s->opts = *opts;
    s->opts.listen = hd_strdup(opts->listen ? opts->listen : "127.0.0.1:0");
    s->opts.name = hd_strdup(opts->name ? opts->name : "http");
    if (!s->opts.listen || !s->opts.name) {
        server_free_now(s);
        return HD_E_NOMEM;
    }
    if (s->opts.max_conns == 0)
        s->opts.max_conns = 10000;
    if (s->opts.header_timeout_ms == 0)
        s->opts.header_timeout_ms = HEADER_TIMEOUT_MS;
    if (s->opts.idle_timeout_ms == 0)
        s->opts.idle_timeout_ms = IDLE_TIMEOUT_MS;
    if (s->opts.output_high_water == 0)
        s->opts.output_high_water = HD_HTTP_OUTPUT_HIGH_WATER;
    if (s->opts.output_low_water == 0 || s->opts.output_low_water > s->opts.output_high_water)
        s->opts.output_low_water = s->opts.output_high_water / 4;
    if (s->opts.requests_per_turn == 0)
        s->opts.requests_per_turn = REQUESTS_PER_TURN;
    if (s->opts.body_budget == 0)
        s->opts.body_budget = HD_HTTP_BODY_BUDGET;

    /* host:port, host may be [v6] */
    char host[256];
    const char *l = s->opts.listen;
    const char *colon = strrchr(l, ':');
    int port = colon ? atoi(colon + 1) : -1;
    size_t hlen = colon ? (size_t)(colon - l) : 0;
    if (hlen >= 2 && l[0] == '[' && l[hlen - 1] == ']') {
        l++;
        hlen -= 2;
    }
    if (!colon || port < 0 || port > 65535 || hlen == 0 || hlen >= sizeof host) {
        hd_log(HD_LOG_ERROR, "bad listen address (want host:port)", "listen", s->opts.listen, NULL);
        server_free_now(s);
        return HD_E_NET;
    }
    memcpy(host, l, hlen);
    host[hlen] = '\0';
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        hd_log(HD_LOG_ERROR, "bad listen host", "listen", s->opts.listen, NULL);
        server_free_now(s);
        return HD_E_NET;
    }
    int rc = uv_tcp_init(loop, &s->listener);
    if (rc == 0) {
        s->listener.data = s;
        s->handles_open++;
        rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    }
    if (rc != 0) {
        hd_log(HD_LOG_ERROR, "cannot listen", "listen", s->opts.listen, "error", uv_strerror(rc),
               NULL);
        s->stopping = s->closed = true;
        if (s->handles_open)
            uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
        else
            server_free_now(s);
        return HD_E_NET;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
    s->port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                                          : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    uv_timer_init(loop, &s->sweep);
    s->sweep.data = s;
    s->handles_open++;
    uv_timer_start(&s->sweep, on_sweep, SWEEP_INTERVAL_MS, SWEEP_INTERVAL_MS);
    uv_unref((uv_handle_t *)&s->sweep);
    uv_idle_init(loop, &s->turn);
    s->turn.data = s;
    s->handles_open++; /* started by schedule_turn, stopped by on_turn when nobody waits */
    server_metrics(s);
    *out = s;
    return HD_E_OK;
}

int hd_http_server_port(const hd_http_server_t *s)
{
    return s ? s->port : -1;
}

size_t hd_http_server_connections(const hd_http_server_t *s)
{
    return s ? s->nconns : 0;
}

/* Bytes the kernel received on the connection and nobody read yet. */
static size_t kernel_unread(conn_t *c)
{
    uv_os_fd_t fd;
    int n = 0;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 || ioctl(fd, FIONREAD, &n) != 0 || n < 0)
        return 0;
    return (size_t)n;
}

void hd_http_server_drain(hd_http_server_t *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = true;
    uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    for (conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->closing)
            continue;
        if (c->state == HD_HTTP__IN_FLIGHT) {
            /* answered as usual, then a request buffered behind gets 503 (request_done) */
            if (c->in_off == c->in_len)
                c->close_after = true;
        } else if (c->state == HD_HTTP__STREAMING) {
            hd_http__conn_close(c); /* `herald tail`: its producer stops in the close callback */
        } else if (c->state == HD_HTTP__IDLE) {
            if (c->in_off < c->in_len)
                schedule_turn(c); /* buffered: the next complete request gets 503 */
            else if (c->out_paused || (!c->fr.in_request && kernel_unread(c) == 0))
                hd_http__conn_linger(c); /* nothing more to answer: close once written */
            /* else: a request is arriving; it gets 503 once complete (or the header timeout,
             * or hd_http_server_stop) */
        }
    }
}

void hd_http_server_stop(hd_http_server_t *s)
{
    if (!s || s->closed)
        return;
    if (!s->stopping) {
        s->stopping = true;
        uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    }
    s->closed = true;
    uv_close((uv_handle_t *)&s->sweep, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->turn, on_server_handle_closed);
    s->ready = s->ready_tail = NULL;
    for (conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        c->in_ready = false;
        c->ready_next = NULL;
        if (c->closing)
            continue;
        if (c->state == HD_HTTP__IN_FLIGHT) {
            /* its answer is still coming (e.g. from the store's drain): send it, then close */
            c->close_after = true;
            read_stop(c);
        } else if (c->state == HD_HTTP__LINGER && c->writes_pending > 0) {
            read_stop(c); /* closed by on_write_done once the answer is out */
        } else {
            hd_http__conn_close(c);
        }
    }
}

uint64_t hd_http_raise_fd_limit(uint64_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= want)
        return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
    rlim_t target =
        (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want) ? (rlim_t)want : rl.rlim_max;
    if (target > rl.rlim_cur) {
        struct rlimit nr = {.rlim_cur = target, .rlim_max = rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &nr) == 0)
            rl.rlim_cur = target;
    }
    if (rl.rlim_cur < want) {
        char wants[24], got[24], hard[24];
        snprintf(wants, sizeof wants, "%llu", (unsigned long long)want);
        snprintf(got, sizeof got, "%llu", (unsigned long long)rl.rlim_cur);
        snprintf(hard, sizeof hard, "%llu", (unsigned long long)rl.rlim_max);
        hd_log(HD_LOG_WARN,
               "cannot raise the open-file limit to what limits.max_connections needs; "
               "connections beyond it are refused (herald_http_connections_rejected_total"
               "{reason=\"emfile\"}): raise the hard limit (ulimit -Hn, LimitNOFILE=) or lower "
               "limits.max_connections",
               HD_LOG_NUM("wanted"), wants, HD_LOG_NUM("soft_limit"), got, HD_LOG_NUM("hard_limit"),
               hard, NULL);
    }
    return (uint64_t)rl.rlim_cur;
}
