/*
 * http_server.c — heraldd's HTTP/1.1 server (hd_http.h): libuv streams framed by http-parser.
 *
 * One connection = one conn_t holding its uv_tcp_t (recovered with hd_container_of), a fixed
 * read buffer, an arena for the URL and headers, a body buffer and the request handed to the
 * handler. One request is in flight per connection: once a request is complete the parser is
 * paused and the bytes after it stay in the read buffer until the handler answered; reading goes
 * on meanwhile (so resets and EOF are seen) until the read buffer is full, then stops
 * (high-water mark). A connection whose request is in flight is never freed: when the peer goes
 * away its socket is closed and the conn_t waits, marked dead, for hd_http_respond, which frees it.
 *
 * Bounds and their overflow policies (see hd_http.h): URL 8 KiB [414], 100 headers and 16 KiB of
 * header bytes [431], body max_body [413 + close; also before the body with Expect], malformed
 * [400 + close], connections max_conns [accept then close], a request's head and body within
 * header_timeout_ms (30 s) [408 + close] and keep-alive idle idle_timeout_ms (120 s) [closed], both
 * enforced by a once-a-second sweep, so a slow client cannot hold a connection forever. Connections
 * closed after an answer are shut down and drained for at most 2 s (lingering close) so the client
 * reads the answer instead of a reset.
 */
#include "hd_http.h"

#include <errno.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define URL_MAX (8 * 1024)
#define HEADER_BYTES_MAX (16 * 1024)
#define HEADER_COUNT_MAX 100
#define READ_BUF_SIZE (16 * 1024)
#define STREAM_HIGH_WATER (1024 * 1024)
#define SWEEP_INTERVAL_MS 1000
#define HEADER_TIMEOUT_MS 30000
#define IDLE_TIMEOUT_MS 120000
#define LINGER_MS 2000
#define BODY_KEEP_MAX (64 * 1024) /* body buffers above this are freed between requests */

typedef enum {
    CONN_IDLE,      /* waiting for (the rest of) a request */
    CONN_IN_FLIGHT, /* a complete request is with the handler */
    CONN_STREAMING, /* the handler answers with a chunked stream */
    CONN_LINGER,    /* answered and closing: write side shut, draining reads */
} conn_state_t;

typedef struct conn conn_t;

struct hd_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t sweep;
    hd_http_server_opts_t opts;
    int port;
    size_t nconns;
    conn_t *conns;    /* doubly linked list of live conn_t (dead ones are unlinked) */
    int handles_open; /* listener + sweep timer; the server is freed when both closed and no conn */
    bool stopping;
    time_t date_sec; /* second of the cached Date header */
    char date[48];   /* "Date: Fri, 27 Nov 2026 13:50:00 GMT\r\n" */
    size_t date_len;
};

struct conn {
    uv_tcp_t tcp;
    hd_http_server_t *srv;
    conn_t *prev, *next;
    http_parser parser;
    conn_state_t state;
    bool closing;      /* uv_close called */
    bool dead;         /* closed while a request was in flight: freed by respond */
    bool reading;      /* uv_read_start active */
    bool processing;   /* inside process(): respond must not re-enter it */
    bool peer_eof;     /* the client shut its write side */
    bool close_after;  /* close once the current answer is written */
    bool msg_complete; /* the parser delivered a complete request */
    bool in_request;   /* between message begin and message complete */
    int err_status;    /* status to answer for a framing error (0: none) */
    size_t writes_pending;
    uint64_t last_ms;  /* last activity (sweep) */
    uint64_t begin_ms; /* message begin (header timeout) */

    /* read buffer: [in_off, in_len) not parsed yet */
    char *in;
    size_t in_off, in_len;

    /* arena: URL then header names and values (offsets until the request is complete) */
    char *arena;
    size_t arena_len, arena_cap;
    size_t url_len, header_bytes;
    bool last_was_value;
    size_t nheaders;
    struct {
        size_t name_off, name_len, value_off, value_len;
    } hoff[HEADER_COUNT_MAX];
    ce_header_t headers[HEADER_COUNT_MAX];

    char *body;
    size_t body_len, body_cap;

    hd_http_req_t req;
    void (*stream_close_cb)(hd_http_req_t *req, void *arg);
    void *stream_close_arg;
};

typedef struct {
    uv_write_t w;
    conn_t *c;
    size_t len;
    char data[];
} write_req_t;

static void conn_close(conn_t *c);
static void process(conn_t *c);
static void read_start(conn_t *c);
static void server_maybe_free(hd_http_server_t *s);

/* ---- helpers --------------------------------------------------------------------------- */

static conn_t *conn_of_req(hd_http_req_t *req)
{
    return hd_container_of(req, conn_t, req);
}

static void conn_free(conn_t *c)
{
    hd_http_server_t *s = c->srv;
    hd_free(c->in);
    hd_free(c->arena);
    hd_free(c->body);
    hd_free(c);
    s->nconns--;
    server_maybe_free(s);
}

static void unlink_conn(conn_t *c)
{
    hd_http_server_t *s = c->srv;
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
    if (c->state == CONN_IN_FLIGHT || c->state == CONN_STREAMING) {
        /* The handler still holds c->req: freed when it answers. */
        c->dead = true;
        if (c->state == CONN_STREAMING && c->stream_close_cb) {
            void (*cb)(hd_http_req_t *, void *) = c->stream_close_cb;
            c->stream_close_cb = NULL;
            cb(&c->req, c->stream_close_arg);
        }
        return;
    }
    conn_free(c);
}

static void conn_close(conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *sh, int status)
{
    (void)status;
    hd_free(sh);
}

/* Shuts the write side down (FIN after the queued writes); false when it failed (closed). */
static bool conn_shutdown(conn_t *c)
{
    uv_shutdown_t *sh = hd_malloc(sizeof *sh);
    if (!sh || uv_shutdown(sh, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        hd_free(sh);
        conn_close(c);
        return false;
    }
    return true;
}

static void on_write_done(uv_write_t *w, int status)
{
    write_req_t *wr = hd_container_of(w, write_req_t, w);
    conn_t *c = wr->c;
    hd_free(wr);
    c->writes_pending--;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->writes_pending == 0 && c->state == CONN_LINGER && !c->closing) {
        if (c->peer_eof || c->srv->stopping) {
            conn_close(c);
            return;
        }
        conn_shutdown(c);
    }
}

/* Writes bytes now if the socket takes them, else queues a copy. Returns false when the
 * connection failed (it is then being closed). */
static bool conn_write(conn_t *c, const char *data, size_t len)
{
    if (c->closing || len == 0)
        return !c->closing;
    size_t off = 0;
    if (c->writes_pending == 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n >= 0)
            off = (size_t)n;
        else if (n != UV_EAGAIN && n != UV_ENOSYS) {
            conn_close(c);
            return false;
        }
    }
    if (off == len)
        return true;
    write_req_t *wr = hd_malloc(sizeof *wr + (len - off));
    if (!wr) {
        conn_close(c);
        return false;
    }
    wr->c = c;
    wr->len = len - off;
    memcpy(wr->data, data + off, wr->len);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)wr->len);
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write_done) != 0) {
        hd_free(wr);
        conn_close(c);
        return false;
    }
    c->writes_pending++;
    return true;
}

/* The connection is done after its current answer: shut down once written, drain reads. */
static void conn_linger(conn_t *c)
{
    if (c->closing)
        return;
    c->state = CONN_LINGER;
    c->last_ms = uv_now(c->srv->loop);
    if (c->peer_eof || c->srv->stopping) {
        /* Nothing more will come (or we stop): close once the answer is out. */
        if (c->writes_pending == 0)
            conn_close(c);
        else
            c->close_after = true;
        return;
    }
    if (c->writes_pending == 0 && !conn_shutdown(c))
        return;
    if (!c->reading)
        read_start(c);
}

static const char *reason(int status)
{
    const char *r = http_status_str((enum http_status)status);
    return (r && strcmp(r, "<unknown>") != 0) ? r : "Unknown";
}

/* The Date header (RFC 9110 §6.6.1), formatted once per second. */
static const char *date_header(hd_http_server_t *s, size_t *len)
{
    time_t now = time(NULL);
    if (now != s->date_sec || s->date_len == 0) {
        struct tm tm;
        gmtime_r(&now, &tm);
        s->date_len = strftime(s->date, sizeof s->date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        s->date_sec = now;
    }
    *len = s->date_len;
    return s->date;
}

/* Writes a whole answer (head + body) into one buffer and sends it. A HEAD request gets the
 * head only (Content-Length still says the body's size). */
static bool write_answer(conn_t *c, int status, const char *extra, const char *body,
                         size_t body_len, bool closing, bool chunked)
{
    char stackbuf[2048];
    size_t extra_len = extra ? strlen(extra) : 0;
    size_t date_len;
    const char *date = date_header(c->srv, &date_len);
    size_t cap = 160 + date_len + extra_len + body_len;
    char *buf = cap <= sizeof stackbuf ? stackbuf : hd_malloc(cap);
    if (!buf) {
        conn_close(c);
        return false;
    }
    bool http10 = c->parser.http_major == 1 && c->parser.http_minor == 0;
    /* "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n" without printf: this is the hot path */
    size_t len = 0;
    const char *rs = reason(status);
    size_t rlen = strlen(rs);
    if (status < 100 || status > 999)
        status = 500;
    memcpy(buf, "HTTP/1.1 ", 9);
    buf[9] = (char)('0' + status / 100);
    buf[10] = (char)('0' + status / 10 % 10);
    buf[11] = (char)('0' + status % 10);
    buf[12] = ' ';
    memcpy(buf + 13, rs, rlen);
    len = 13 + rlen;
    if (chunked) {
        memcpy(buf + len, "\r\nTransfer-Encoding: chunked\r\n", 30);
        len += 30;
    } else {
        memcpy(buf + len, "\r\nContent-Length: ", 18);
        len += 18;
        char digits[24];
        size_t nd = 0;
        size_t v = body_len;
        do {
            digits[nd++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        while (nd)
            buf[len++] = digits[--nd];
        buf[len++] = '\r';
        buf[len++] = '\n';
    }
    memcpy(buf + len, date, date_len);
    len += date_len;
    if (closing) {
        memcpy(buf + len, "Connection: close\r\n", 19);
        len += 19;
    } else if (http10) {
        memcpy(buf + len, "Connection: keep-alive\r\n", 24);
        len += 24;
    }
    if (extra_len) {
        memcpy(buf + len, extra, extra_len);
        len += extra_len;
    }
    memcpy(buf + len, "\r\n", 2);
    len += 2;
    bool head_only = c->state != CONN_IDLE && c->parser.method == HTTP_HEAD;
    if (body_len && !head_only) {
        memcpy(buf + len, body, body_len);
        len += body_len;
    }
    bool ok = conn_write(c, buf, len);
    if (buf != stackbuf)
        hd_free(buf);
    return ok;
}

/* An error the server answers itself (framing, bounds): answer and close. */
static void answer_and_close(conn_t *c, int status)
{
    char body[96];
    int n = snprintf(body, sizeof body, "{\"error\": \"%s\"}", reason(status));
    c->state = CONN_IDLE;
    if (write_answer(c, status, "Content-Type: application/json\r\n", body, (size_t)n, true, false))
        conn_linger(c);
}

/* ---- reading --------------------------------------------------------------------------- */

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
    if (c->reading || c->closing)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
    else
        conn_close(c);
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
            if (c->state == CONN_IN_FLIGHT && !c->close_after) {
                /* Half-closed: answer the request, then close. */
                c->close_after = true;
                return;
            }
            if (c->state == CONN_LINGER && c->writes_pending > 0) {
                c->close_after = true;
                return;
            }
        }
        conn_close(c);
        return;
    }
    c->last_ms = uv_now(c->srv->loop);
    if (c->state == CONN_LINGER) {
        c->in_off = c->in_len = 0; /* discard */
        return;
    }
    c->in_len += (size_t)nread;
    if (c->state == CONN_IDLE)
        process(c);
    else if (c->in_len - c->in_off == READ_BUF_SIZE)
        read_stop(c); /* high-water mark: the client pipelines while a request is in flight */
}

/* ---- parser callbacks ------------------------------------------------------------------ */

static bool arena_append(conn_t *c, const char *p, size_t n)
{
    if (c->arena_len + n + 1 > c->arena_cap) {
        size_t cap = c->arena_cap ? c->arena_cap : 1024;
        while (cap < c->arena_len + n + 1)
            cap *= 2;
        char *a = hd_realloc(c->arena, cap);
        if (!a)
            return false;
        c->arena = a;
        c->arena_cap = cap;
    }
    memcpy(c->arena + c->arena_len, p, n);
    c->arena_len += n;
    return true;
}

static int on_message_begin(http_parser *p)
{
    conn_t *c = p->data;
    c->arena_len = c->url_len = c->header_bytes = 0;
    c->nheaders = 0;
    c->last_was_value = false;
    c->body_len = 0;
    c->in_request = true;
    c->begin_ms = uv_now(c->srv->loop);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    if (c->url_len + n > URL_MAX) {
        c->err_status = 414;
        return -1;
    }
    c->url_len += n;
    if (!arena_append(c, at, n)) {
        c->err_status = 503;
        return -1;
    }
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    if (c->nheaders == 0 && !c->last_was_value && c->header_bytes == 0) {
        /* first header: terminate the URL */
        if (!arena_append(c, "", 1)) {
            c->err_status = 503;
            return -1;
        }
    }
    if (c->nheaders == 0 || c->last_was_value) {
        if (c->nheaders == HEADER_COUNT_MAX) {
            c->err_status = 431;
            return -1;
        }
        c->hoff[c->nheaders].name_off = c->arena_len;
        c->hoff[c->nheaders].name_len = 0;
        c->hoff[c->nheaders].value_off = 0;
        c->hoff[c->nheaders].value_len = 0;
        c->nheaders++;
        c->last_was_value = false;
    }
    c->header_bytes += n;
    if (c->header_bytes > HEADER_BYTES_MAX) {
        c->err_status = 431;
        return -1;
    }
    if (!arena_append(c, at, n)) {
        c->err_status = 503;
        return -1;
    }
    c->hoff[c->nheaders - 1].name_len += n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    if (c->nheaders == 0)
        return 0;
    if (!c->last_was_value) {
        c->hoff[c->nheaders - 1].value_off = c->arena_len;
        c->last_was_value = true;
    }
    c->header_bytes += n;
    if (c->header_bytes > HEADER_BYTES_MAX) {
        c->err_status = 431;
        return -1;
    }
    if (!arena_append(c, at, n)) {
        c->err_status = 503;
        return -1;
    }
    c->hoff[c->nheaders - 1].value_len += n;
    return 0;
}

/* Finds a header among the offsets collected so far (before the request is complete). */
static bool find_hoff(conn_t *c, const char *name, const char **v, size_t *vlen)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < c->nheaders; i++) {
        if (c->hoff[i].name_len == nlen &&
            strncasecmp(c->arena + c->hoff[i].name_off, name, nlen) == 0) {
            *v = c->arena + c->hoff[i].value_off;
            *vlen = c->hoff[i].value_len;
            return true;
        }
    }
    return false;
}

static int on_headers_complete(http_parser *p)
{
    conn_t *c = p->data;
    hd_http_server_t *s = c->srv;
    if (c->nheaders == 0 && !arena_append(c, "", 1)) { /* terminate the URL */
        c->err_status = 503;
        return -1;
    }
    bool has_len = (p->flags & F_CONTENTLENGTH) != 0;
    if (has_len && p->content_length > s->opts.max_body) {
        c->err_status = 413;
        return -1;
    }
    if (has_len && p->content_length > c->body_cap) {
        char *b = hd_realloc(c->body, (size_t)p->content_length);
        if (!b) {
            c->err_status = 503;
            return -1;
        }
        c->body = b;
        c->body_cap = (size_t)p->content_length;
    }
    const char *v;
    size_t vlen;
    if (p->http_major == 1 && p->http_minor >= 1 && find_hoff(c, "expect", &v, &vlen)) {
        if (vlen == 12 && strncasecmp(v, "100-continue", 12) == 0) {
            if (has_len && p->content_length == 0)
                return 0;
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            conn_write(c, cont, sizeof cont - 1);
        } else {
            c->err_status = 417;
            return -1;
        }
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    conn_t *c = p->data;
    if (c->body_len + n > c->srv->opts.max_body) {
        c->err_status = 413;
        return -1;
    }
    if (c->body_len + n > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 1024;
        while (cap < c->body_len + n)
            cap *= 2;
        if (cap > c->srv->opts.max_body)
            cap = c->srv->opts.max_body;
        char *b = hd_realloc(c->body, cap);
        if (!b) {
            c->err_status = 503;
            return -1;
        }
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, n);
    c->body_len += n;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    conn_t *c = p->data;
    c->msg_complete = true;
    c->in_request = false;
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Builds c->req from the collected offsets (the arena no longer moves). */
static void build_request(conn_t *c)
{
    hd_http_req_t *r = &c->req;
    char *url = c->arena;
    for (size_t i = 0; i < c->nheaders; i++) {
        c->headers[i].name = c->arena + c->hoff[i].name_off;
        c->headers[i].name_len = c->hoff[i].name_len;
        c->headers[i].value = c->hoff[i].value_len ? c->arena + c->hoff[i].value_off : "";
        c->headers[i].value_len = c->hoff[i].value_len;
    }
    char *q = memchr(url, '?', c->url_len);
    memset(r, 0, sizeof *r);
    r->method = c->parser.method;
    r->path = url;
    if (q) {
        *q = '\0';
        r->path_len = (size_t)(q - url);
        r->query = q + 1;
    } else {
        r->path_len = c->url_len;
        r->query = "";
    }
    r->headers = c->headers;
    r->header_count = c->nheaders;
    r->body = c->body_len ? c->body : "";
    r->body_len = c->body_len;
    r->received_ms = hd_now_ms();
}

/* Parses buffered bytes and hands complete requests to the handler while none is in flight. */
static void process(conn_t *c)
{
    if (c->processing)
        return;
    c->processing = true;
    while (!c->closing && c->state == CONN_IDLE && c->in_off < c->in_len) {
        size_t avail = c->in_len - c->in_off;
        size_t n = http_parser_execute(&c->parser, &parser_settings, c->in + c->in_off, avail);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
        } else if (e != HPE_OK) {
            c->in_off = c->in_len;
            answer_and_close(c, c->err_status ? c->err_status : 400);
            break;
        }
        c->in_off += n;
        if (c->msg_complete) {
            c->msg_complete = false;
            if (c->parser.upgrade && c->parser.method == HTTP_CONNECT) {
                answer_and_close(c, 405);
                break;
            }
            build_request(c);
            c->state = CONN_IN_FLIGHT;
            c->last_ms = uv_now(c->srv->loop);
            if (!http_should_keep_alive(&c->parser))
                c->close_after = true;
            c->srv->opts.handler(c->srv->opts.ctx, &c->req);
            continue; /* answered synchronously: go on with buffered bytes */
        }
        if (n < avail && e == HPE_OK)
            break; /* the parser refused bytes without an error: should not happen */
    }
    c->processing = false;
    if (!c->closing && c->state == CONN_IDLE && !c->reading && !c->peer_eof)
        read_start(c);
}

/* ---- accepting ------------------------------------------------------------------------- */

static void free_handle(uv_handle_t *h)
{
    hd_free(h);
}

static void on_connection(uv_stream_t *ls, int status)
{
    hd_http_server_t *s = hd_container_of((uv_tcp_t *)ls, hd_http_server_t, listener);
    if (status < 0 || s->stopping)
        return;
    conn_t *c = hd_calloc(1, sizeof *c);
    char *in = c ? hd_malloc(READ_BUF_SIZE) : NULL;
    if (!c || !in) {
        /* accept and drop: the kernel queue must not fill with connections we cannot serve */
        hd_free(c);
        hd_free(in);
        uv_tcp_t *t = hd_malloc(sizeof *t);
        if (t && uv_tcp_init(s->loop, t) == 0) {
            if (uv_accept(ls, (uv_stream_t *)t) == 0) {
            }
            uv_close((uv_handle_t *)t, free_handle);
        } else {
            hd_free(t);
        }
        return;
    }
    c->in = in;
    c->srv = s;
    s->nconns++;
    if (uv_tcp_init(s->loop, &c->tcp) != 0) {
        hd_free(c->in);
        hd_free(c);
        s->nconns--;
        return;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    if (s->nconns > s->opts.max_conns) {
        /* over max_conns: accepted then closed at once */
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
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
        if (c->state == CONN_LINGER && now - c->last_ms > LINGER_MS)
            conn_close(c);
        else if (c->state == CONN_IDLE && c->in_request &&
                 now - c->begin_ms > s->opts.header_timeout_ms)
            answer_and_close(c, 408);
        else if (c->state == CONN_IDLE && !c->in_request &&
                 now - c->last_ms > s->opts.idle_timeout_ms)
            conn_close(c);
    }
}

static void server_maybe_free(hd_http_server_t *s)
{
    if (s->stopping && s->handles_open == 0 && s->nconns == 0) {
        hd_free((char *)s->opts.listen);
        hd_free(s);
    }
}

static void on_server_handle_closed(uv_handle_t *h)
{
    hd_http_server_t *s = h->data;
    s->handles_open--;
    server_maybe_free(s);
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
    if (!s->opts.listen) {
        hd_free(s);
        return HD_E_NOMEM;
    }
    if (s->opts.max_conns == 0)
        s->opts.max_conns = 10000;
    if (s->opts.header_timeout_ms == 0)
        s->opts.header_timeout_ms = HEADER_TIMEOUT_MS;
    if (s->opts.idle_timeout_ms == 0)
        s->opts.idle_timeout_ms = IDLE_TIMEOUT_MS;

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
        hd_free((char *)s->opts.listen);
        hd_free(s);
        return HD_E_NET;
    }
    memcpy(host, l, hlen);
    host[hlen] = '\0';
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        hd_log(HD_LOG_ERROR, "bad listen host", "listen", s->opts.listen, NULL);
        hd_free((char *)s->opts.listen);
        hd_free(s);
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
        s->stopping = true;
        if (s->handles_open)
            uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
        else
            server_maybe_free(s);
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
    *out = s;
    return HD_E_OK;
}

int hd_http_server_port(const hd_http_server_t *s)
{
    return s ? s->port : -1;
}

void hd_http_server_stop(hd_http_server_t *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = true;
    uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->sweep, on_server_handle_closed);
    for (conn_t *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->state == CONN_IN_FLIGHT) {
            /* its answer is still coming (e.g. from the store's drain): send it, then close */
            c->close_after = true;
            read_stop(c);
        } else if (c->state == CONN_LINGER && c->writes_pending > 0) {
            read_stop(c); /* closed by on_write_done once the answer is out */
        } else {
            conn_close(c);
        }
    }
}

/* ---- answering ------------------------------------------------------------------------- */

const char *hd_http_req_header(const hd_http_req_t *req, const char *name, size_t *len)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < req->header_count; i++) {
        const ce_header_t *h = &req->headers[i];
        if (h->name_len == nlen && strncasecmp(h->name, name, nlen) == 0) {
            if (len)
                *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

/* The request is answered: go on with the connection (or free it if it died meanwhile). */
static void request_done(conn_t *c)
{
    c->stream_close_cb = NULL;
    if (c->dead) {
        conn_free(c);
        return;
    }
    c->state = CONN_IDLE;
    if (c->body_cap > BODY_KEEP_MAX) {
        hd_free(c->body);
        c->body = NULL;
        c->body_cap = 0;
    }
    c->last_ms = uv_now(c->srv->loop);
    if (c->closing)
        return;
    if (c->close_after || c->srv->stopping) {
        c->close_after = false;
        conn_linger(c);
        return;
    }
    if (!c->processing)
        process(c);
}

void hd_http_respond(hd_http_req_t *req, int status, const char *extra_headers, const char *body,
                     size_t body_len)
{
    conn_t *c = conn_of_req(req);
    if (c->state != CONN_IN_FLIGHT && c->state != CONN_STREAMING)
        return; /* answered twice: ignore */
    if (!c->dead && !c->closing) {
        bool closing = c->close_after || c->srv->stopping;
        write_answer(c, status, extra_headers, body, body_len, closing, false);
    }
    request_done(c);
}

void hd_http_respond_error(hd_http_req_t *req, int status, const char *extra_headers,
                           const char *message)
{
    /* JSON-escape the message */
    char body[640];
    size_t n = 0;
    const char *pre = "{\"error\": \"";
    memcpy(body, pre, strlen(pre));
    n = strlen(pre);
    for (const unsigned char *p = (const unsigned char *)(message ? message : "");
         *p && n < sizeof body - 16; p++) {
        if (*p == '"' || *p == '\\') {
            body[n++] = '\\';
            body[n++] = (char)*p;
        } else if (*p < 0x20) {
            n += (size_t)snprintf(body + n, sizeof body - n, "\\u%04x", *p);
        } else {
            body[n++] = (char)*p;
        }
    }
    memcpy(body + n, "\"}", 2);
    n += 2;
    char hdrs[1024];
    snprintf(hdrs, sizeof hdrs, "Content-Type: application/json\r\n%s",
             extra_headers ? extra_headers : "");
    hd_http_respond(req, status, hdrs, body, n);
}

void hd_http_stream_start(hd_http_req_t *req, int status, const char *extra_headers)
{
    conn_t *c = conn_of_req(req);
    if (c->state != CONN_IN_FLIGHT)
        return;
    c->state = CONN_STREAMING;
    if (!c->dead && !c->closing)
        write_answer(c, status, extra_headers, NULL, 0, c->close_after, true);
}

hd_err_t hd_http_stream_write(hd_http_req_t *req, const char *data, size_t len)
{
    conn_t *c = conn_of_req(req);
    if (c->state != CONN_STREAMING || c->dead || c->closing)
        return HD_E_CLOSED;
    if (len == 0)
        return HD_E_OK;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > STREAM_HIGH_WATER)
        return HD_E_BUSY;
    char head[24];
    int n = snprintf(head, sizeof head, "%zx\r\n", len);
    size_t total = (size_t)n + len + 2;
    char stackbuf[4096];
    char *buf = total <= sizeof stackbuf ? stackbuf : hd_malloc(total);
    if (!buf)
        return HD_E_NOMEM;
    memcpy(buf, head, (size_t)n);
    memcpy(buf + n, data, len);
    memcpy(buf + n + len, "\r\n", 2);
    bool ok = conn_write(c, buf, total);
    if (buf != stackbuf)
        hd_free(buf);
    return ok ? HD_E_OK : HD_E_CLOSED;
}

void hd_http_stream_end(hd_http_req_t *req)
{
    conn_t *c = conn_of_req(req);
    if (c->state != CONN_STREAMING)
        return;
    if (!c->dead && !c->closing)
        conn_write(c, "0\r\n\r\n", 5);
    request_done(c);
}

void hd_http_stream_on_close(hd_http_req_t *req, void (*cb)(hd_http_req_t *req, void *arg),
                             void *arg)
{
    conn_t *c = conn_of_req(req);
    c->stream_close_cb = cb;
    c->stream_close_arg = arg;
}
