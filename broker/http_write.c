/*
 * http_write.c — the answering side of the HTTP server (http_internal.h): the status line and
 * headers built without printf (the 202 of ingress is the hot path), the write queue (try the
 * socket first, queue a copy of the rest), hd_http_respond and the chunked streams of hd_http.h.
 *
 * Every byte queued and not yet written counts in the connection's unsent output; the server
 * stops reading a connection above the high-water mark (opts.output_high_water) and this file
 * tells it when the output fell below the low-water mark again (hd_http__output_drained).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http_internal.h"

#define STREAM_HIGH_WATER (1024 * 1024)

typedef struct {
    uv_write_t w;
    hd_http__conn_t *c;
    size_t len;
    char data[];
} write_req_t;

size_t hd_http__unsent(hd_http__conn_t *c)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

static void on_shutdown(uv_shutdown_t *sh, int status)
{
    (void)status;
    hd_free(sh);
}

bool hd_http__shutdown(hd_http__conn_t *c)
{
    uv_shutdown_t *sh = hd_malloc(sizeof *sh);
    if (!sh || uv_shutdown(sh, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        hd_free(sh);
        hd_http__conn_close(c);
        return false;
    }
    return true;
}

static void on_write_done(uv_write_t *w, int status)
{
    write_req_t *wr = hd_container_of(w, write_req_t, w);
    hd_http__conn_t *c = wr->c;
    hd_free(wr);
    c->writes_pending--;
    c->last_ms = uv_now(c->srv->loop); /* the client reads: not idle */
    if (status < 0) {
        hd_http__conn_close(c);
        return;
    }
    if (c->writes_pending == 0 && c->state == HD_HTTP__LINGER && !c->closing) {
        if (c->peer_eof || c->srv->closed) {
            hd_http__conn_close(c);
            return;
        }
        hd_http__shutdown(c);
        return;
    }
    if (c->out_paused && hd_http__unsent(c) <= c->srv->opts.output_low_water)
        hd_http__output_drained(c);
}

bool hd_http__write(hd_http__conn_t *c, const char *data, size_t len)
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
            hd_http__conn_close(c);
            return false;
        }
    }
    if (off == len)
        return true;
    write_req_t *wr = hd_malloc(sizeof *wr + (len - off));
    if (!wr) {
        hd_http__conn_close(c);
        return false;
    }
    wr->c = c;
    wr->len = len - off;
    memcpy(wr->data, data + off, wr->len);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)wr->len);
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write_done) != 0) {
        hd_free(wr);
        hd_http__conn_close(c);
        return false;
    }
    c->writes_pending++;
    return true;
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

bool hd_http__write_answer(hd_http__conn_t *c, int status, const char *extra, const char *body,
                           size_t body_len, bool closing, bool chunked)
{
    char stackbuf[2048];
    size_t extra_len = extra ? strlen(extra) : 0;
    size_t date_len;
    const char *date = date_header(c->srv, &date_len);
    size_t cap = 160 + date_len + extra_len + body_len;
    char *buf = cap <= sizeof stackbuf ? stackbuf : hd_malloc(cap);
    if (!buf) {
        hd_http__conn_close(c);
        return false;
    }
    /* "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n" without printf: this is the hot path */
    size_t len = 0;
    if (status < 100 || status > 999)
        status = 500;
    const char *rs = reason(status);
    size_t rlen = strlen(rs);
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
    } else if (c->fr.parser.http_major == 1 && c->fr.parser.http_minor == 0) {
        memcpy(buf + len, "Connection: keep-alive\r\n", 24);
        len += 24;
    }
    if (extra_len) {
        memcpy(buf + len, extra, extra_len);
        len += extra_len;
    }
    memcpy(buf + len, "\r\n", 2);
    len += 2;
    if (body_len && !c->head_method) {
        memcpy(buf + len, body, body_len);
        len += body_len;
    }
    bool ok = hd_http__write(c, buf, len);
    if (buf != stackbuf)
        hd_free(buf);
    return ok;
}

/* JSON-escapes `message` into {"error": "..."}; returns the length. */
static size_t error_body(char *body, size_t cap, const char *message)
{
    static const char pre[] = "{\"error\": \"";
    size_t n = sizeof pre - 1;
    memcpy(body, pre, n);
    for (const unsigned char *p = (const unsigned char *)(message ? message : "");
         *p && n < cap - 16; p++) {
        if (*p == '"' || *p == '\\') {
            body[n++] = '\\';
            body[n++] = (char)*p;
        } else if (*p < 0x20) {
            n += (size_t)snprintf(body + n, cap - n, "\\u%04x", *p);
        } else {
            body[n++] = (char)*p;
        }
    }
    memcpy(body + n, "\"}", 2);
    return n + 2;
}

void hd_http__answer_and_close(hd_http__conn_t *c, int status, const char *message, bool retry)
{
    char body[640];
    size_t n = error_body(body, sizeof body, message ? message : reason(status));
    c->state = HD_HTTP__IDLE;
    c->head_method = false;
    const char *hdrs = retry ? "Content-Type: application/json\r\nRetry-After: 1\r\n"
                             : "Content-Type: application/json\r\n";
    if (hd_http__write_answer(c, status, hdrs, body, n, true, false))
        hd_http__conn_linger(c);
}

/* ---- hd_http.h: answering ---------------------------------------------------------------- */

static hd_http__conn_t *conn_of_req(hd_http_req_t *req)
{
    return hd_container_of(req, hd_http__conn_t, req);
}

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

void hd_http_respond(hd_http_req_t *req, int status, const char *extra_headers, const char *body,
                     size_t body_len)
{
    hd_http__conn_t *c = conn_of_req(req);
    if (c->state != HD_HTTP__IN_FLIGHT && c->state != HD_HTTP__STREAMING)
        return; /* answered twice: ignore */
    if (!c->dead && !c->closing) {
        /* draining: the last answer of the connection says close; one with a request buffered
         * behind does not, that request gets the 503 that closes */
        bool closing =
            c->close_after || c->srv->closed || (c->srv->stopping && c->in_off == c->in_len);
        hd_http__write_answer(c, status, extra_headers, body, body_len, closing, false);
    }
    hd_http__request_done(c);
}

void hd_http_respond_error(hd_http_req_t *req, int status, const char *extra_headers,
                           const char *message)
{
    char body[640];
    size_t n = error_body(body, sizeof body, message);
    char hdrs[1024];
    snprintf(hdrs, sizeof hdrs, "Content-Type: application/json\r\n%s",
             extra_headers ? extra_headers : "");
    hd_http_respond(req, status, hdrs, body, n);
}

void hd_http_stream_start(hd_http_req_t *req, int status, const char *extra_headers)
{
    hd_http__conn_t *c = conn_of_req(req);
    if (c->state != HD_HTTP__IN_FLIGHT)
        return;
    c->state = HD_HTTP__STREAMING;
    if (!c->dead && !c->closing)
        hd_http__write_answer(c, status, extra_headers, NULL, 0, c->close_after, true);
}

hd_err_t hd_http_stream_write(hd_http_req_t *req, const char *data, size_t len)
{
    hd_http__conn_t *c = conn_of_req(req);
    if (c->state != HD_HTTP__STREAMING || c->dead || c->closing)
        return HD_E_CLOSED;
    if (len == 0)
        return HD_E_OK;
    if (hd_http__unsent(c) > STREAM_HIGH_WATER)
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
    bool ok = hd_http__write(c, buf, total);
    if (buf != stackbuf)
        hd_free(buf);
    return ok ? HD_E_OK : HD_E_CLOSED;
}

void hd_http_stream_end(hd_http_req_t *req)
{
    hd_http__conn_t *c = conn_of_req(req);
    if (c->state != HD_HTTP__STREAMING)
        return;
    if (!c->dead && !c->closing)
        hd_http__write(c, "0\r\n\r\n", 5);
    hd_http__request_done(c);
}

void hd_http_stream_on_close(hd_http_req_t *req, void (*cb)(hd_http_req_t *req, void *arg),
                             void *arg)
{
    hd_http__conn_t *c = conn_of_req(req);
    c->stream_close_cb = cb;
    c->stream_close_arg = arg;
}
