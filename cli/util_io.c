/* util_io.c — bounded reads and the raw HTTP request parser of the `herald` CLI. */
#include "util_io.h"

#include <errno.h>
#include <http_parser.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

void cli_set_error(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

int cli_read_all(FILE *f, size_t max, char **out, size_t *len, char *err, size_t errsz)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        cli_set_error(err, errsz, "out of memory");
        return -1;
    }
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                cli_set_error(err, errsz, "input larger than %zu bytes", max);
                goto fail_read;
            }
            size_t ncap = cap * 2;
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                cli_set_error(err, errsz, "out of memory");
                goto fail_read;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                cli_set_error(err, errsz, "read failed: %s", strerror(errno));
                goto fail_read;
            }
            break;
        }
    }
    if (n > max) {
        cli_set_error(err, errsz, "input larger than %zu bytes", max);
        goto fail_read;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;

fail_read:
    free(buf);
    return -1;
}

int cli_read_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t errsz)
{
    if (!strcmp(path, "-"))
        return cli_read_all(stdin, max, out, len, err, errsz);
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_set_error(err, errsz, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char sub[200];
    int rc = cli_read_all(f, max, out, len, sub, sizeof sub);
    if (rc)
        cli_set_error(err, errsz, "%s: %s", path, sub);
    fclose(f);
    return rc;
}

/* State of one parse: the request being filled and what went wrong in a callback. */
typedef struct {
    cli_http_request_t *req;
    size_t url_len;
    size_t max_body;
    size_t body_cap;
    bool in_value; /* the last header callback was a value */
    bool complete;
    char why[160]; /* set by a callback that stopped the parser */
} parse_state_t;

static int on_url(http_parser *p, const char *at, size_t n)
{
    parse_state_t *st = p->data;
    if (st->url_len + n >= sizeof st->req->url) {
        snprintf(st->why, sizeof st->why, "request target longer than %zu bytes",
                 sizeof st->req->url - 1);
        return -1;
    }
    memcpy(st->req->url + st->url_len, at, n);
    st->url_len += n;
    st->req->url[st->url_len] = '\0';
    return 0;
}

/* The whole input is in one buffer, so a field split across callbacks is contiguous. */
static int on_header_field(http_parser *p, const char *at, size_t n)
{
    parse_state_t *st = p->data;
    cli_http_request_t *r = st->req;
    if (r->header_count > 0 && !st->in_value) {
        ce_header_t *h = &r->headers[r->header_count - 1];
        h->name_len += n;
        return 0;
    }
    if (r->header_count == CLI_MAX_HEADERS) {
        snprintf(st->why, sizeof st->why, "more than %d headers", CLI_MAX_HEADERS);
        return -1;
    }
    ce_header_t *h = &r->headers[r->header_count++];
    h->name = at;
    h->name_len = n;
    h->value = at + n; /* empty until on_header_value */
    h->value_len = 0;
    st->in_value = false;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    parse_state_t *st = p->data;
    ce_header_t *h = &st->req->headers[st->req->header_count - 1];
    if (!st->in_value) {
        h->value = at;
        h->value_len = 0;
    }
    h->value_len += n;
    st->in_value = true;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    parse_state_t *st = p->data;
    cli_http_request_t *r = st->req;
    if (r->body_len + n > st->max_body) {
        snprintf(st->why, sizeof st->why, "body larger than %zu bytes", st->max_body);
        return -1;
    }
    if (r->body_len + n + 1 > st->body_cap) {
        size_t cap = st->body_cap ? st->body_cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb) {
            snprintf(st->why, sizeof st->why, "out of memory");
            return -1;
        }
        r->body = nb;
        st->body_cap = cap;
    }
    memcpy(r->body + r->body_len, at, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p)
{
    parse_state_t *st = p->data;
    st->complete = true;
    /* Stop here so that bytes after the request are reported, not parsed as a second one. */
    http_parser_pause(p, 1);
    return 0;
}

int cli_http_request_parse(const char *buf, size_t len, size_t max_body, cli_http_request_t *req,
                           char *err, size_t errsz)
{
    memset(req, 0, sizeof *req);
    parse_state_t st = {.req = req, .max_body = max_body};
    http_parser_settings s;
    http_parser_settings_init(&s);
    s.on_url = on_url;
    s.on_header_field = on_header_field;
    s.on_header_value = on_header_value;
    s.on_body = on_body;
    s.on_message_complete = on_message_complete;
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    p.data = &st;

    if (len == 0) {
        cli_set_error(err, errsz, "empty input: expected an HTTP request");
        goto fail_parse;
    }
    /* Bound the head: the blank line ending it must come within CLI_MAX_HEADER_BYTES. */
    const char *end =
        memmem(buf, len < CLI_MAX_HEADER_BYTES + 4 ? len : CLI_MAX_HEADER_BYTES + 4, "\r\n\r\n", 4);
    if (!end && len > CLI_MAX_HEADER_BYTES) {
        cli_set_error(err, errsz, "request head larger than %zu bytes", CLI_MAX_HEADER_BYTES);
        goto fail_parse;
    }
    size_t used = http_parser_execute(&p, &s, buf, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&p);
    if (e != HPE_OK && e != HPE_PAUSED) {
        if (st.why[0])
            cli_set_error(err, errsz, "malformed HTTP request: %s", st.why);
        else
            cli_set_error(err, errsz, "malformed HTTP request: %s", http_errno_description(e));
        goto fail_parse;
    }
    if (!st.complete) {
        /* Signal EOF: a body without framing ends here; anything else is truncated. */
        http_parser_execute(&p, &s, NULL, 0);
        if (!st.complete) {
            cli_set_error(err, errsz, "incomplete HTTP request: input ended %s",
                          st.url_len == 0 || !end ? "before the end of the headers"
                                                  : "before the end of the body");
            goto fail_parse;
        }
    }
    for (size_t i = used; i < len; i++) {
        if (buf[i] != '\r' && buf[i] != '\n') {
            cli_set_error(err, errsz,
                          "unexpected data after the end of the HTTP request (%zu bytes)",
                          len - used);
            goto fail_parse;
        }
    }
    if (!req->body) {
        req->body = malloc(1);
        if (!req->body) {
            cli_set_error(err, errsz, "out of memory");
            goto fail_parse;
        }
        req->body[0] = '\0';
    }
    req->method = (int)p.method;
    return 0;

fail_parse:
    free(req->body);
    req->body = NULL;
    return -1;
}

void cli_http_request_free(cli_http_request_t *req)
{
    if (!req)
        return;
    free(req->body);
    req->body = NULL;
    req->body_len = 0;
}
