/*
 * http_framing.c — the HTTP/1.1 request framer (http_internal.h): http-parser callbacks that
 * collect one request at a time (URL and headers in an arena, the body in its own buffer) and
 * enforce a request's bounds. No I/O: the connection feeds bytes and acts on what the feed
 * stopped at (a request, a 100-continue head, an error).
 *
 * Bounds [answer]: URL 8 KiB [414], 100 headers and 16 KiB of header bytes [431], body max_body
 * [413; checked on Content-Length before the body arrives], bodies buffered by every connection
 * sharing the budget above budget_max [503 + Retry-After], an HTTP major version other than 1
 * [505], a CONNECT upgrade [405], anything else malformed [400]. HTTP/1.x with x > 1 is served as
 * HTTP/1.1 (RFC 9110 §6.2).
 */
#include <string.h>
#include <strings.h>

#include "http_internal.h"

static int fail(hd_http__framer_t *f, int status, const char *msg, bool retry)
{
    f->err_status = status;
    f->err_msg = msg;
    f->err_retry = retry;
    return -1;
}

static int fail_nomem(hd_http__framer_t *f)
{
    return fail(f, 503, "heraldd is out of memory; retry later", true);
}

static bool arena_append(hd_http__framer_t *f, const char *p, size_t n)
{
    if (f->arena_len + n + 1 > f->arena_cap) {
        size_t cap = f->arena_cap ? f->arena_cap : 1024;
        while (cap < f->arena_len + n + 1)
            cap *= 2;
        char *a = hd_realloc(f->arena, cap);
        if (!a)
            return false;
        f->arena = a;
        f->arena_cap = cap;
    }
    memcpy(f->arena + f->arena_len, p, n);
    f->arena_len += n;
    return true;
}

/* Grows the body buffer to `cap` bytes within the budget. Returns 0 or the parser's -1. */
static int body_reserve(hd_http__framer_t *f, size_t cap)
{
    if (cap <= f->body_cap)
        return 0;
    size_t more = cap - f->body_cap;
    if (f->budget_used && *f->budget_used + more > f->budget_max)
        return fail(f, 503,
                    "request bodies buffered by heraldd are above limits.body_budget; retry later",
                    true);
    char *b = hd_realloc(f->body, cap);
    if (!b)
        return fail_nomem(f);
    f->body = b;
    f->body_cap = cap;
    if (f->budget_used)
        *f->budget_used += more;
    return 0;
}

static void body_release(hd_http__framer_t *f)
{
    if (f->budget_used)
        *f->budget_used -= f->body_cap;
    hd_free(f->body);
    f->body = NULL;
    f->body_cap = 0;
}

static int on_message_begin(http_parser *p)
{
    hd_http__framer_t *f = p->data;
    f->arena_len = f->url_len = f->header_bytes = 0;
    f->nheaders = 0;
    f->last_was_value = false;
    f->body_len = 0;
    f->in_request = true;
    f->began = true;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    hd_http__framer_t *f = p->data;
    if (f->url_len + n > HD_HTTP__URL_MAX)
        return fail(f, 414, "request line longer than 8 KiB", false);
    f->url_len += n;
    if (!arena_append(f, at, n))
        return fail_nomem(f);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    hd_http__framer_t *f = p->data;
    if (f->nheaders == 0 && !f->last_was_value && f->header_bytes == 0) {
        /* first header: terminate the URL */
        if (!arena_append(f, "", 1))
            return fail_nomem(f);
    }
    if (f->nheaders == 0 || f->last_was_value) {
        if (f->nheaders == HD_HTTP__HEADER_COUNT_MAX)
            return fail(f, 431, "more than 100 header fields", false);
        f->hoff[f->nheaders].name_off = f->arena_len;
        f->hoff[f->nheaders].name_len = 0;
        f->hoff[f->nheaders].value_off = 0;
        f->hoff[f->nheaders].value_len = 0;
        f->nheaders++;
        f->last_was_value = false;
    }
    f->header_bytes += n;
    if (f->header_bytes > HD_HTTP__HEADER_BYTES_MAX)
        return fail(f, 431, "header fields longer than 16 KiB in all", false);
    if (!arena_append(f, at, n))
        return fail_nomem(f);
    f->hoff[f->nheaders - 1].name_len += n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    hd_http__framer_t *f = p->data;
    if (f->nheaders == 0)
        return 0;
    if (!f->last_was_value) {
        f->hoff[f->nheaders - 1].value_off = f->arena_len;
        f->last_was_value = true;
    }
    f->header_bytes += n;
    if (f->header_bytes > HD_HTTP__HEADER_BYTES_MAX)
        return fail(f, 431, "header fields longer than 16 KiB in all", false);
    if (!arena_append(f, at, n))
        return fail_nomem(f);
    f->hoff[f->nheaders - 1].value_len += n;
    return 0;
}

/* Finds a header among the offsets collected so far (before the request is complete). */
static bool find_hoff(hd_http__framer_t *f, const char *name, const char **v, size_t *vlen)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < f->nheaders; i++) {
        if (f->hoff[i].name_len == nlen &&
            strncasecmp(f->arena + f->hoff[i].name_off, name, nlen) == 0) {
            *v = f->arena + f->hoff[i].value_off;
            *vlen = f->hoff[i].value_len;
            return true;
        }
    }
    return false;
}

static int on_headers_complete(http_parser *p)
{
    hd_http__framer_t *f = p->data;
    if (f->nheaders == 0 && !arena_append(f, "", 1)) /* terminate the URL */
        return fail_nomem(f);
    if (p->http_major != 1)
        return fail(f, 505, "HTTP version not supported: heraldd speaks HTTP/1.0 and HTTP/1.1",
                    false);
    bool has_len = (p->flags & F_CONTENTLENGTH) != 0;
    if (has_len && p->content_length > f->max_body)
        return fail(f, 413, "request body larger than the limit (limits.max_event_bytes)", false);
    if (has_len && body_reserve(f, (size_t)p->content_length) != 0)
        return -1;
    const char *v;
    size_t vlen;
    if (p->http_minor >= 1 && find_hoff(f, "expect", &v, &vlen)) {
        if (vlen == 12 && strncasecmp(v, "100-continue", 12) == 0) {
            if (!has_len || p->content_length > 0)
                http_parser_pause(p, 1); /* the caller sends 100 Continue */
        } else {
            return fail(f, 417, "unsupported Expect header (only 100-continue is)", false);
        }
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    hd_http__framer_t *f = p->data;
    if (f->body_len + n > f->max_body)
        return fail(f, 413, "request body larger than the limit (limits.max_event_bytes)", false);
    if (f->body_len + n > f->body_cap) {
        size_t cap = f->body_cap ? f->body_cap : 1024;
        while (cap < f->body_len + n)
            cap *= 2;
        if (cap > f->max_body)
            cap = f->max_body;
        if (body_reserve(f, cap) != 0)
            return -1;
    }
    memcpy(f->body + f->body_len, at, n);
    f->body_len += n;
    return 0;
}

static int on_message_complete(http_parser *p)
{
    hd_http__framer_t *f = p->data;
    f->msg_complete = true;
    f->in_request = false;
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

void hd_http__framer_init(hd_http__framer_t *f, size_t max_body, size_t *budget_used,
                          size_t budget_max)
{
    memset(f, 0, sizeof *f);
    http_parser_init(&f->parser, HTTP_REQUEST);
    f->parser.data = f;
    f->max_body = max_body;
    f->budget_used = budget_used;
    f->budget_max = budget_max;
}

void hd_http__framer_free(hd_http__framer_t *f)
{
    body_release(f);
    hd_free(f->arena);
    f->arena = NULL;
    f->arena_cap = f->arena_len = 0;
}

hd_http__frame_t hd_http__framer_feed(hd_http__framer_t *f, const char *data, size_t len,
                                      size_t *consumed)
{
    *consumed = 0;
    if (f->err_status)
        return HD_HTTP__ERROR;
    size_t n = http_parser_execute(&f->parser, &parser_settings, data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&f->parser);
    *consumed = n;
    if (e == HPE_PAUSED) {
        http_parser_pause(&f->parser, 0);
        if (!f->msg_complete)
            return HD_HTTP__CONTINUE;
    } else if (e != HPE_OK) {
        *consumed = len;
        if (!f->err_status) {
            f->err_status = 400;
            f->err_msg = http_errno_description(e);
        }
        return HD_HTTP__ERROR;
    }
    if (f->msg_complete) {
        f->msg_complete = false;
        if (f->parser.upgrade && f->parser.method == HTTP_CONNECT) {
            f->err_status = 405;
            f->err_msg = "CONNECT is not supported";
            return HD_HTTP__ERROR;
        }
        return HD_HTTP__REQUEST;
    }
    if (n < len) {
        /* the parser refused bytes without an error: treat them as malformed */
        f->err_status = 400;
        f->err_msg = "malformed request";
        *consumed = len;
        return HD_HTTP__ERROR;
    }
    return HD_HTTP__NEED_MORE;
}

void hd_http__framer_build(hd_http__framer_t *f, hd_http_req_t *r)
{
    char *url = f->arena;
    for (size_t i = 0; i < f->nheaders; i++) {
        f->headers[i].name = f->arena + f->hoff[i].name_off;
        f->headers[i].name_len = f->hoff[i].name_len;
        f->headers[i].value = f->hoff[i].value_len ? f->arena + f->hoff[i].value_off : "";
        f->headers[i].value_len = f->hoff[i].value_len;
    }
    char *q = memchr(url, '?', f->url_len);
    memset(r, 0, sizeof *r);
    r->method = f->parser.method;
    r->path = url;
    if (q) {
        *q = '\0';
        r->path_len = (size_t)(q - url);
        r->query = q + 1;
    } else {
        r->path_len = f->url_len;
        r->query = "";
    }
    r->headers = f->headers;
    r->header_count = f->nheaders;
    r->body = f->body_len ? f->body : "";
    r->body_len = f->body_len;
}

void hd_http__framer_reset_body(hd_http__framer_t *f)
{
    if (f->body_cap > HD_HTTP__BODY_KEEP_MAX)
        body_release(f);
}

bool hd_http__framer_keep_alive(const hd_http__framer_t *f)
{
    return http_should_keep_alive(&f->parser) != 0;
}
