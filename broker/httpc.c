/*
 * httpc.c — the outbound HTTP client (hd_httpc.h): keep-alive HTTP/1.1 over libuv framed by
 * http-parser for http://, libcurl multi-socket on the same loop for https://.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <http_parser.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hd_httpc.h"

#define MAX_RESP_HEADERS 64
#define MAX_RESP_HEADER_BYTES (16 * 1024)
#define READ_BUF 65536
#define HOST_MAX 256

typedef struct pool pool_t;
typedef struct conn conn_t;

enum call_state { CALL_QUEUED, CALL_ACTIVE, CALL_DEFERRED, CALL_CURL };

struct hd_httpc_call {
    hd_httpc_t *c;
    pool_t *p;
    conn_t *conn;
    enum call_state state;
    char *wire; /* the serialized request (head + body) */
    size_t wire_len;
    uint64_t timeout_ms;
    hd_httpc_done_fn cb;
    void *arg;
    hd_httpc_call_t *next, *prev; /* pool queue or deferred list */
    bool stale_retried;
    hd_err_t defer_err;
    const char *defer_msg;
    /* https */
    CURL *easy;
    struct curl_slist *slist;
    char *curl_body;
    size_t curl_body_len;
    struct curl_part *cp; /* answer buffers of an https call (allocated only for those) */
};

/* What an https call collects; kept apart so plain-HTTP calls stay small. */
struct curl_part {
    char hbuf[MAX_RESP_HEADER_BYTES];
    size_t hlen;
    ce_header_t hdrs[MAX_RESP_HEADERS];
    size_t hcount;
    bool trunc;
    char err[CURL_ERROR_SIZE];
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    hd_httpc_t *c;
    pool_t *p;
    hd_httpc_call_t *cur;
    conn_t *next_idle;
    int closing_handles; /* handles still to close before freeing */
    bool connected, reused, idle, closed, in_parse;
    bool got_bytes; /* some byte of the current answer arrived */
    bool msg_done;
    bool hdr_overflow;
    http_parser parser;
    /* response accumulation */
    char hbuf[MAX_RESP_HEADER_BYTES];
    size_t hlen;
    struct {
        size_t name_off, name_len, value_off, value_len;
    } hdr[MAX_RESP_HEADERS];
    size_t hcount;
    bool last_was_value;
    char *body;
    size_t body_len, body_cap;
    bool body_trunc;
    char *orphan_wire; /* wire of a cancelled call whose write is still pending */
    bool write_pending;
    uv_write_t wreq;
    uv_connect_t creq;
    conn_t *all_next, *all_prev; /* every connection of the pool */
    char errmsg[128];
    char rbuf[READ_BUF];
};

struct pool {
    pool_t *next;
    char host[HOST_MAX];
    int port;
    struct sockaddr_storage addr;
    bool addr_ok;
    size_t nconns;
    conn_t *all;
    conn_t *idle; /* LIFO: the most recently used connection is the warmest */
    size_t nidle;
    hd_httpc_call_t *qhead, *qtail;
    size_t qlen;
};

struct hd_httpc {
    uv_loop_t *loop;
    hd_httpc_opts_t opts;
    pool_t *pools;
    hd_httpc_call_t *curl_calls; /* https calls in flight (next/prev) */
    hd_httpc_call_t *deferred;   /* calls failed at start, completed on the next loop turn */
    uv_timer_t defer_timer;
    hd_httpc_stats_t st;
    http_parser_settings settings;
    /* https */
    CURLM *multi;
    uv_timer_t curl_timer;
    int closing_handles; /* connections, curl sockets and timers being closed */
    bool closing;
    char *ca_file;
};

typedef struct {
    uv_poll_t poll;
    curl_socket_t fd;
    hd_httpc_t *c;
} curl_sock_t;

/* One close in progress is over; the client is freed once it is closing and none is left. */
static void client_release(hd_httpc_t *c)
{
    if (--c->closing_handles == 0 && c->closing) {
        hd_free(c->ca_file);
        hd_free(c);
    }
}

static void conn_close(conn_t *cn);
static void pool_pump(hd_httpc_t *c, pool_t *p);
static void call_start_on(hd_httpc_call_t *call, conn_t *cn);

/* ---- small helpers -------------------------------------------------------------------- */

static void call_free(hd_httpc_call_t *call)
{
    if (call == NULL)
        return;
    hd_free(call->wire);
    if (call->slist)
        curl_slist_free_all(call->slist);
    hd_free(call->curl_body);
    hd_free(call->cp);
    hd_free(call);
}

static void fail_resp(hd_httpc_resp_t *r, hd_err_t err, const char *msg)
{
    memset(r, 0, sizeof *r);
    r->err = err;
    r->status = -1;
    r->error = msg;
}

static void defer_cb(uv_timer_t *t)
{
    hd_httpc_t *c = hd_container_of(t, hd_httpc_t, defer_timer);
    /* complete the whole list as it is now; callbacks may add to it again */
    hd_httpc_call_t *list = c->deferred;
    c->deferred = NULL;
    while (list) {
        hd_httpc_call_t *call = list;
        list = call->next;
        if (list)
            list->prev = NULL;
        hd_httpc_resp_t r;
        fail_resp(&r, call->defer_err, call->defer_msg);
        c->st.errors++;
        call->cb(call->arg, &r);
        call_free(call);
    }
    if (c->deferred)
        uv_timer_start(&c->defer_timer, defer_cb, 0, 0);
}

/* Completes `call` with an error on the next loop turn (never from inside the caller). */
static void call_defer(hd_httpc_call_t *call, hd_err_t err, const char *msg)
{
    hd_httpc_t *c = call->c;
    call->state = CALL_DEFERRED;
    call->defer_err = err;
    call->defer_msg = msg;
    call->conn = NULL;
    call->prev = NULL;
    call->next = c->deferred;
    if (c->deferred)
        c->deferred->prev = call;
    c->deferred = call;
    uv_timer_start(&c->defer_timer, defer_cb, 0, 0);
}

const char *hd_httpc_resp_header(const hd_httpc_resp_t *resp, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < resp->header_count; i++) {
        const ce_header_t *h = &resp->headers[i];
        if (h->name_len == nl && strncasecmp(h->name, name, nl) == 0) {
            if (len)
                *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

void hd_httpc_stats(const hd_httpc_t *c, hd_httpc_stats_t *out)
{
    *out = c->st;
    out->open_conns = out->idle_conns = out->queued = 0;
    for (pool_t *p = c->pools; p; p = p->next) {
        out->open_conns += p->nconns;
        out->idle_conns += p->nidle;
        out->queued += p->qlen;
    }
}

/* ---- response parsing (http-parser callbacks) ----------------------------------------- */

static int on_message_begin(http_parser *hp)
{
    conn_t *cn = hp->data;
    cn->hlen = 0;
    cn->hcount = 0;
    cn->last_was_value = false;
    cn->body_len = 0;
    cn->body_trunc = false;
    cn->hdr_overflow = false;
    return 0;
}

static int hdr_append(conn_t *cn, const char *at, size_t len)
{
    if (cn->hlen + len > sizeof cn->hbuf) {
        cn->hdr_overflow = true;
        return 1;
    }
    memcpy(cn->hbuf + cn->hlen, at, len);
    cn->hlen += len;
    return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
    conn_t *cn = hp->data;
    if (cn->hcount == 0 || cn->last_was_value) {
        if (cn->hcount == MAX_RESP_HEADERS) {
            cn->hdr_overflow = true;
            return 1;
        }
        cn->hdr[cn->hcount].name_off = cn->hlen;
        cn->hdr[cn->hcount].name_len = 0;
        cn->hdr[cn->hcount].value_off = cn->hlen;
        cn->hdr[cn->hcount].value_len = 0;
        cn->hcount++;
        cn->last_was_value = false;
    }
    if (hdr_append(cn, at, len))
        return 1;
    cn->hdr[cn->hcount - 1].name_len += len;
    return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
    conn_t *cn = hp->data;
    if (cn->hcount == 0)
        return 1;
    if (!cn->last_was_value) {
        cn->hdr[cn->hcount - 1].value_off = cn->hlen;
        cn->last_was_value = true;
    }
    if (hdr_append(cn, at, len))
        return 1;
    cn->hdr[cn->hcount - 1].value_len += len;
    return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
    conn_t *cn = hp->data;
    size_t max = cn->c->opts.max_body;
    if (cn->body_len >= max) {
        cn->body_trunc = true;
        return 0;
    }
    if (len > max - cn->body_len) {
        len = max - cn->body_len;
        cn->body_trunc = true;
    }
    if (cn->body_len + len > cn->body_cap) {
        size_t cap = cn->body_cap ? cn->body_cap : 1024;
        while (cap < cn->body_len + len)
            cap *= 2;
        if (cap > max)
            cap = max;
        char *nb = hd_realloc(cn->body, cap);
        if (nb == NULL) {
            cn->body_trunc = true;
            return 0;
        }
        cn->body = nb;
        cn->body_cap = cap;
    }
    memcpy(cn->body + cn->body_len, at, len);
    cn->body_len += len;
    return 0;
}

static int on_message_complete(http_parser *hp)
{
    conn_t *cn = hp->data;
    cn->msg_done = true;
    http_parser_pause(hp, 1);
    return 0;
}

/* ---- connections ---------------------------------------------------------------------- */

static void conn_handle_closed(uv_handle_t *h)
{
    conn_t *cn = h->data;
    if (--cn->closing_handles > 0)
        return;
    hd_httpc_t *c = cn->c;
    hd_free(cn->body);
    hd_free(cn->orphan_wire);
    hd_free(cn);
    client_release(c);
}

static void pool_remove_idle(pool_t *p, conn_t *cn)
{
    for (conn_t **pp = &p->idle; *pp; pp = &(*pp)->next_idle) {
        if (*pp == cn) {
            *pp = cn->next_idle;
            cn->next_idle = NULL;
            p->nidle--;
            cn->idle = false;
            return;
        }
    }
}

/* Closes the connection (its current call, if any, must have been detached or completed). */
static void conn_close(conn_t *cn)
{
    if (cn->closed)
        return;
    cn->closed = true;
    pool_t *p = cn->p;
    if (cn->idle)
        pool_remove_idle(p, cn);
    p->nconns--;
    if (cn->all_prev)
        cn->all_prev->all_next = cn->all_next;
    else
        p->all = cn->all_next;
    if (cn->all_next)
        cn->all_next->all_prev = cn->all_prev;
    cn->closing_handles = 2;
    cn->c->closing_handles++; /* released when both handles are closed */
    uv_close((uv_handle_t *)&cn->tcp, conn_handle_closed);
    uv_close((uv_handle_t *)&cn->timer, conn_handle_closed);
}

static void idle_timeout_cb(uv_timer_t *t)
{
    conn_t *cn = t->data;
    conn_close(cn);
}

/* Completes the current call of a connection with `r`, then reuses or closes the connection. */
static void conn_finish(conn_t *cn, hd_httpc_resp_t *r, bool keep)
{
    hd_httpc_call_t *call = cn->cur;
    hd_httpc_t *c = cn->c;
    pool_t *p = cn->p;
    cn->cur = NULL;
    uv_timer_stop(&cn->timer);
    if (keep && !cn->closed && !c->closing) {
        /* hand the warm connection to the next waiter, or park it */
        if (p->qhead) {
            hd_httpc_call_t *next = p->qhead;
            p->qhead = next->next;
            if (p->qhead)
                p->qhead->prev = NULL;
            else
                p->qtail = NULL;
            p->qlen--;
            cn->reused = true;
            c->st.reuses++;
            call_start_on(next, cn);
        } else {
            cn->idle = true;
            cn->next_idle = p->idle;
            p->idle = cn;
            p->nidle++;
            uv_timer_start(&cn->timer, idle_timeout_cb, c->opts.idle_timeout_ms, 0);
        }
    } else {
        conn_close(cn);
        pool_pump(c, p);
    }
    if (call) {
        if (r->err != HD_E_OK)
            c->st.errors++;
        call->conn = NULL;
        call->cb(call->arg, r);
        call_free(call);
    }
}

static void conn_fail(conn_t *cn, hd_err_t err, const char *msg)
{
    hd_httpc_call_t *call = cn->cur;
    /* A reused keep-alive connection the server had closed: try once more on a new one. */
    if (call && cn->reused && !cn->got_bytes && err == HD_E_NET && !call->stale_retried) {
        call->stale_retried = true;
        cn->c->st.stale_retries++;
        cn->cur = NULL;
        call->conn = NULL;
        pool_t *p = cn->p;
        conn_close(cn);
        /* front of the queue: it was already being served */
        call->state = CALL_QUEUED;
        call->prev = NULL;
        call->next = p->qhead;
        if (p->qhead)
            p->qhead->prev = call;
        else
            p->qtail = call;
        p->qhead = call;
        p->qlen++;
        pool_pump(cn->c, p);
        return;
    }
    hd_httpc_resp_t r;
    fail_resp(&r, err, msg);
    conn_finish(cn, &r, false);
}

static void req_timeout_cb(uv_timer_t *t)
{
    conn_t *cn = t->data;
    if (cn->cur == NULL)
        return;
    cn->c->st.timeouts++;
    hd_httpc_resp_t r;
    fail_resp(&r, HD_E_TIMEOUT, "timed out waiting for the answer");
    conn_finish(cn, &r, false);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    conn_t *cn = h->data;
    buf->base = cn->rbuf;
    buf->len = sizeof cn->rbuf;
}

static void deliver_response(conn_t *cn, bool force_close)
{
    ce_header_t hdrs[MAX_RESP_HEADERS];
    for (size_t i = 0; i < cn->hcount; i++) {
        hdrs[i].name = cn->hbuf + cn->hdr[i].name_off;
        hdrs[i].name_len = cn->hdr[i].name_len;
        hdrs[i].value = cn->hbuf + cn->hdr[i].value_off;
        hdrs[i].value_len = cn->hdr[i].value_len;
    }
    hd_httpc_resp_t r;
    memset(&r, 0, sizeof r);
    r.err = HD_E_OK;
    r.status = (int)cn->parser.status_code;
    r.headers = hdrs;
    r.header_count = cn->hcount;
    r.body = cn->body_len ? cn->body : "";
    r.body_len = cn->body_len;
    r.body_truncated = cn->body_trunc;
    bool keep = !force_close && http_should_keep_alive(&cn->parser) != 0;
    conn_finish(cn, &r, keep);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn_t *cn = s->data;
    if (cn->closed)
        return;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (cn->cur == NULL) {
            conn_close(cn); /* an idle connection the server closed */
            return;
        }
        if (nread == UV_EOF && cn->got_bytes) {
            /* an answer delimited by the end of the connection */
            http_parser_execute(&cn->parser, &cn->c->settings, NULL, 0);
            if (cn->msg_done) {
                deliver_response(cn, true);
                return;
            }
        }
        conn_fail(cn, HD_E_NET,
                  nread == UV_EOF ? "connection closed before the answer"
                                  : uv_strerror((int)nread));
        return;
    }
    if (cn->cur == NULL) {
        /* bytes nobody asked for (a pipelined or stray answer): not safe to keep */
        conn_close(cn);
        return;
    }
    cn->got_bytes = true;
    size_t n = http_parser_execute(&cn->parser, &cn->c->settings, buf->base, (size_t)nread);
    enum http_errno e = HTTP_PARSER_ERRNO(&cn->parser);
    if (cn->msg_done) {
        /* bytes after the answer (an unasked-for pipelined answer): deliver it, do not reuse */
        deliver_response(cn, n < (size_t)nread);
        return;
    }
    if (e != HPE_OK) {
        conn_fail(cn, HD_E_PROTO,
                  cn->hdr_overflow ? "answer headers over 64 headers or 16 KiB"
                                   : http_errno_description(e));
    }
}

static void write_cb(uv_write_t *w, int status)
{
    conn_t *cn = w->data;
    cn->write_pending = false;
    if (cn->orphan_wire) {
        hd_free(cn->orphan_wire);
        cn->orphan_wire = NULL;
    }
    if (status < 0 && !cn->closed && cn->cur)
        conn_fail(cn, HD_E_NET, uv_strerror(status));
}

/* Sends `call` on the connected `cn`. */
static void call_send(conn_t *cn)
{
    hd_httpc_call_t *call = cn->cur;
    uv_buf_t b = uv_buf_init(call->wire, (unsigned)call->wire_len);
    int n = uv_try_write((uv_stream_t *)&cn->tcp, &b, 1);
    if (n == (int)call->wire_len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        conn_fail(cn, HD_E_NET, uv_strerror(n));
        return;
    }
    if (n > 0) {
        b.base += n;
        b.len -= (unsigned)n;
    }
    cn->wreq.data = cn;
    cn->write_pending = true;
    int rc = uv_write(&cn->wreq, (uv_stream_t *)&cn->tcp, &b, 1, write_cb);
    if (rc < 0) {
        cn->write_pending = false;
        conn_fail(cn, HD_E_NET, uv_strerror(rc));
    }
}

static void call_start_on(hd_httpc_call_t *call, conn_t *cn)
{
    call->state = CALL_ACTIVE;
    call->conn = cn;
    call->next = call->prev = NULL;
    cn->cur = call;
    cn->got_bytes = false;
    cn->msg_done = false;
    http_parser_init(&cn->parser, HTTP_RESPONSE);
    cn->parser.data = cn;
    cn->c->st.requests++;
    if (call->timeout_ms)
        uv_timer_start(&cn->timer, req_timeout_cb, call->timeout_ms, 0);
    else
        uv_timer_stop(&cn->timer);
    if (cn->connected)
        call_send(cn);
}

static void connect_cb(uv_connect_t *req, int status)
{
    conn_t *cn = req->data;
    if (cn->closed)
        return;
    if (status < 0) {
        snprintf(cn->errmsg, sizeof cn->errmsg, "connect: %s", uv_strerror(status));
        cn->reused = false;
        conn_fail(cn, HD_E_NET, cn->errmsg);
        return;
    }
    cn->connected = true;
    uv_tcp_nodelay(&cn->tcp, 1);
    int rc = uv_read_start((uv_stream_t *)&cn->tcp, alloc_cb, read_cb);
    if (rc < 0) {
        conn_fail(cn, HD_E_NET, uv_strerror(rc));
        return;
    }
    if (cn->cur)
        call_send(cn);
}

/* Opens a new connection for `call`. */
static void conn_open(hd_httpc_t *c, pool_t *p, hd_httpc_call_t *call)
{
    conn_t *cn = hd_calloc(1, sizeof *cn);
    if (cn == NULL) {
        call_defer(call, HD_E_NOMEM, "out of memory");
        return;
    }
    cn->c = c;
    cn->p = p;
    uv_tcp_init(c->loop, &cn->tcp);
    uv_timer_init(c->loop, &cn->timer);
    cn->tcp.data = cn;
    cn->timer.data = cn;
    p->nconns++;
    cn->all_next = p->all;
    if (p->all)
        p->all->all_prev = cn;
    p->all = cn;
    c->st.connects++;
    call_start_on(call, cn);
    cn->creq.data = cn;
    int rc = uv_tcp_connect(&cn->creq, &cn->tcp, (const struct sockaddr *)&p->addr, connect_cb);
    if (rc < 0) {
        cn->cur = NULL;
        call->conn = NULL;
        conn_close(cn);
        call_defer(call, HD_E_NET, "connect failed");
    }
}

/* Serves waiting calls while the pool has idle connections or room for new ones. */
static void pool_pump(hd_httpc_t *c, pool_t *p)
{
    while (p->qhead && !c->closing) {
        conn_t *cn = p->idle;
        if (cn == NULL && p->nconns >= c->opts.max_conns_per_host)
            return;
        hd_httpc_call_t *call = p->qhead;
        p->qhead = call->next;
        if (p->qhead)
            p->qhead->prev = NULL;
        else
            p->qtail = NULL;
        p->qlen--;
        if (cn) {
            pool_remove_idle(p, cn);
            uv_timer_stop(&cn->timer);
            cn->reused = true;
            c->st.reuses++;
            call_start_on(call, cn);
        } else {
            conn_open(c, p, call);
        }
    }
}

static pool_t *pool_get(hd_httpc_t *c, const char *host, size_t host_len, int port)
{
    for (pool_t *p = c->pools; p; p = p->next)
        if (p->port == port && strlen(p->host) == host_len && memcmp(p->host, host, host_len) == 0)
            return p;
    if (host_len >= HOST_MAX)
        return NULL;
    pool_t *p = hd_calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    memcpy(p->host, host, host_len);
    p->host[host_len] = '\0';
    p->port = port;
    /* Numeric addresses need no resolution; names are resolved once per pool (subscribers are
     * usually 127.0.0.1 or localhost, answered from /etc/hosts without blocking on the network). */
    char h[HOST_MAX];
    snprintf(h, sizeof h, "%s", p->host);
    if (h[0] == '[') {
        size_t l = strlen(h);
        if (l > 2 && h[l - 1] == ']') {
            memmove(h, h + 1, l - 2);
            h[l - 2] = '\0';
        }
    }
    if (uv_ip4_addr(h, port, (struct sockaddr_in *)&p->addr) == 0 ||
        uv_ip6_addr(h, port, (struct sockaddr_in6 *)&p->addr) == 0) {
        p->addr_ok = true;
    } else {
        uv_getaddrinfo_t gai;
        struct addrinfo hints;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        char ps[16];
        snprintf(ps, sizeof ps, "%d", port);
        if (uv_getaddrinfo(c->loop, &gai, NULL, h, ps, &hints) == 0 && gai.addrinfo) {
            memcpy(&p->addr, gai.addrinfo->ai_addr, gai.addrinfo->ai_addrlen);
            p->addr_ok = true;
            uv_freeaddrinfo(gai.addrinfo);
        }
    }
    p->next = c->pools;
    c->pools = p;
    return p;
}

/* ---- https through libcurl multi-socket ----------------------------------------------- */

static void curl_list_remove(hd_httpc_t *c, hd_httpc_call_t *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else if (c->curl_calls == call)
        c->curl_calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->next = call->prev = NULL;
}

static void curl_check_done(hd_httpc_t *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        hd_httpc_call_t *call = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&call);
        CURLcode rc = m->data.result;
        curl_list_remove(c, call);
        curl_multi_remove_handle(c->multi, m->easy_handle);
        hd_httpc_resp_t r;
        if (rc == CURLE_OK) {
            long code = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            memset(&r, 0, sizeof r);
            r.status = (int)code;
            r.headers = call->cp->hdrs;
            r.header_count = call->cp->hcount;
            r.body = call->curl_body ? call->curl_body : "";
            r.body_len = call->curl_body_len;
            r.body_truncated = call->cp->trunc;
        } else {
            fail_resp(&r, rc == CURLE_OPERATION_TIMEDOUT ? HD_E_TIMEOUT : HD_E_NET,
                      call->cp->err[0] ? call->cp->err : curl_easy_strerror(rc));
            if (rc == CURLE_OPERATION_TIMEDOUT)
                c->st.timeouts++;
            c->st.errors++;
        }
        curl_easy_cleanup(m->easy_handle);
        call->easy = NULL;
        call->cb(call->arg, &r);
        call_free(call);
    }
}

static void curl_poll_cb(uv_poll_t *h, int status, int events)
{
    curl_sock_t *cs = h->data;
    hd_httpc_t *c = cs->c;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(c->multi, cs->fd, flags, &running);
    curl_check_done(c);
}

static void curl_sock_closed(uv_handle_t *h)
{
    curl_sock_t *cs = h->data;
    hd_httpc_t *c = cs->c;
    hd_free(cs);
    client_release(c);
}

static int curl_socket_fn(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)e;
    hd_httpc_t *c = userp;
    curl_sock_t *cs = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (cs) {
            uv_poll_stop(&cs->poll);
            c->closing_handles++;
            uv_close((uv_handle_t *)&cs->poll, curl_sock_closed);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    if (cs == NULL) {
        cs = hd_calloc(1, sizeof *cs);
        if (cs == NULL)
            return -1;
        cs->fd = s;
        cs->c = c;
        uv_poll_init_socket(c->loop, &cs->poll, s);
        cs->poll.data = cs;
        curl_multi_assign(c->multi, s, cs);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    uv_poll_start(&cs->poll, ev, curl_poll_cb);
    return 0;
}

static void curl_timer_cb(uv_timer_t *t)
{
    hd_httpc_t *c = hd_container_of(t, hd_httpc_t, curl_timer);
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    curl_check_done(c);
}

static int curl_timer_fn(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    hd_httpc_t *c = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&c->curl_timer);
    else
        uv_timer_start(&c->curl_timer, curl_timer_cb, (uint64_t)timeout_ms, 0);
    return 0;
}

static size_t curl_write_fn(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    hd_httpc_call_t *call = userdata;
    size_t len = size * nmemb, max = call->c->opts.max_body;
    size_t take = len;
    if (call->curl_body_len + take > max) {
        take = max - call->curl_body_len;
        call->cp->trunc = true;
    }
    if (take) {
        char *nb = hd_realloc(call->curl_body, call->curl_body_len + take);
        if (nb == NULL) {
            call->cp->trunc = true;
            return len;
        }
        call->curl_body = nb;
        memcpy(nb + call->curl_body_len, ptr, take);
        call->curl_body_len += take;
    }
    return len;
}

static size_t curl_header_fn(char *buf, size_t size, size_t nitems, void *userdata)
{
    hd_httpc_call_t *call = userdata;
    size_t len = size * nitems;
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        /* a new answer (e.g. after 100 Continue): forget earlier headers */
        call->cp->hlen = 0;
        call->cp->hcount = 0;
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (colon == NULL || call->cp->hcount == MAX_RESP_HEADERS ||
        call->cp->hlen + len > sizeof call->cp->hbuf)
        return len;
    size_t nlen = (size_t)(colon - buf);
    const char *v = colon + 1, *end = buf + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    char *dst = call->cp->hbuf + call->cp->hlen;
    memcpy(dst, buf, nlen);
    memcpy(dst + nlen, v, (size_t)(end - v));
    ce_header_t *h = &call->cp->hdrs[call->cp->hcount++];
    h->name = dst;
    h->name_len = nlen;
    h->value = dst + nlen;
    h->value_len = (size_t)(end - v);
    call->cp->hlen += nlen + (size_t)(end - v);
    return len;
}

static hd_err_t curl_start(hd_httpc_t *c, const hd_httpc_req_t *req, hd_httpc_call_t *call)
{
    call->cp = hd_calloc(1, sizeof *call->cp);
    if (call->cp == NULL)
        return HD_E_NOMEM;
    CURL *e = curl_easy_init();
    if (e == NULL)
        return HD_E_NOMEM;
    call->easy = e;
    call->state = CALL_CURL;
    struct curl_slist *sl = NULL;
    sl = curl_slist_append(sl, "Expect:");
    sl = curl_slist_append(sl, "Accept:");
    for (size_t i = 0; i < req->header_count && sl; i++) {
        const ce_header_t *h = &req->headers[i];
        char *line = hd_malloc(h->name_len + h->value_len + 3);
        if (line == NULL)
            break;
        memcpy(line, h->name, h->name_len);
        memcpy(line + h->name_len, ": ", 2);
        memcpy(line + h->name_len + 2, h->value, h->value_len);
        line[h->name_len + 2 + h->value_len] = '\0';
        struct curl_slist *n = curl_slist_append(sl, line);
        hd_free(line);
        if (n == NULL)
            break;
        sl = n;
    }
    call->slist = sl;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, call);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, sl);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method ? req->method : "POST");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->cp->err);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, curl_write_fn);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, curl_header_fn);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, call);
    if (req->timeout_ms)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    if (c->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        curl_easy_cleanup(e);
        call->easy = NULL;
        return HD_E_NOMEM;
    }
    c->st.requests++;
    call->prev = NULL;
    call->next = c->curl_calls;
    if (c->curl_calls)
        c->curl_calls->prev = call;
    c->curl_calls = call;
    return HD_E_OK;
}

/* ---- public API ----------------------------------------------------------------------- */

hd_err_t hd_httpc_new(uv_loop_t *loop, const hd_httpc_opts_t *opts, hd_httpc_t **out)
{
    hd_httpc_t *c = hd_calloc(1, sizeof *c);
    if (c == NULL)
        return HD_E_NOMEM;
    c->loop = loop;
    if (opts)
        c->opts = *opts;
    if (c->opts.max_conns_per_host == 0)
        c->opts.max_conns_per_host = 64;
    if (c->opts.idle_timeout_ms == 0)
        c->opts.idle_timeout_ms = 30000;
    if (c->opts.max_body == 0)
        c->opts.max_body = (1u << 20) + 65536;
    c->opts.ca_file = NULL;
    if (opts && opts->ca_file) {
        c->ca_file = hd_strdup(opts->ca_file);
        if (c->ca_file == NULL) {
            hd_free(c);
            return HD_E_NOMEM;
        }
    }
    http_parser_settings_init(&c->settings);
    c->settings.on_message_begin = on_message_begin;
    c->settings.on_header_field = on_header_field;
    c->settings.on_header_value = on_header_value;
    c->settings.on_body = on_body;
    c->settings.on_message_complete = on_message_complete;
    /* reference-counted and thread-safe in libcurl >= 7.84; undone in hd_httpc_close */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        hd_free(c->ca_file);
        hd_free(c);
        return HD_E_IO;
    }
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        curl_global_cleanup();
        hd_free(c->ca_file);
        hd_free(c);
        return HD_E_IO;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_fn);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, curl_timer_fn);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->opts.max_conns_per_host);
    uv_timer_init(loop, &c->defer_timer);
    uv_timer_init(loop, &c->curl_timer);
    *out = c;
    return HD_E_OK;
}

static void client_handle_closed(uv_handle_t *h)
{
    client_release(h->data);
}

void hd_httpc_close(hd_httpc_t *c)
{
    if (c == NULL || c->closing)
        return;
    c->closing = true;
    c->closing_handles++; /* held until the end of this function */
    /* https transfers: forget them (their callbacks are not called) */
    while (c->curl_calls) {
        hd_httpc_call_t *call = c->curl_calls;
        c->curl_calls = call->next;
        curl_multi_remove_handle(c->multi, call->easy);
        curl_easy_cleanup(call->easy);
        call->easy = NULL;
        call_free(call);
    }
    for (pool_t *p = c->pools; p; p = p->next) {
        while (p->qhead) {
            hd_httpc_call_t *call = p->qhead;
            p->qhead = call->next;
            call_free(call);
        }
        p->qtail = NULL;
        p->qlen = 0;
        while (p->all) {
            conn_t *cn = p->all;
            if (cn->cur) {
                hd_httpc_call_t *call = cn->cur;
                cn->cur = NULL;
                if (cn->write_pending) {
                    cn->orphan_wire = call->wire;
                    call->wire = NULL;
                }
                call_free(call);
            }
            conn_close(cn);
        }
    }
    while (c->deferred) {
        hd_httpc_call_t *call = c->deferred;
        c->deferred = call->next;
        call_free(call);
    }
    c->defer_timer.data = c;
    c->curl_timer.data = c;
    c->closing_handles += 2;
    uv_close((uv_handle_t *)&c->defer_timer, client_handle_closed);
    uv_close((uv_handle_t *)&c->curl_timer, client_handle_closed);
    if (c->multi) {
        curl_multi_cleanup(c->multi);
        c->multi = NULL;
        curl_global_cleanup();
    }
    for (pool_t *p = c->pools; p;) {
        pool_t *next = p->next;
        hd_free(p);
        p = next;
    }
    c->pools = NULL;
    client_release(c);
}

hd_err_t hd_httpc_request(hd_httpc_t *c, const hd_httpc_req_t *req, hd_httpc_done_fn cb, void *arg,
                          hd_httpc_call_t **callp)
{
    if (c == NULL || req == NULL || req->url == NULL || cb == NULL || c->closing)
        return HD_E_INVAL;
    struct http_parser_url u;
    http_parser_url_init(&u);
    size_t ulen = strlen(req->url);
    if (http_parser_parse_url(req->url, ulen, 0, &u) != 0 || !(u.field_set & (1 << UF_SCHEMA)) ||
        !(u.field_set & (1 << UF_HOST)))
        return HD_E_INVAL;
    const char *scheme = req->url + u.field_data[UF_SCHEMA].off;
    size_t slen = u.field_data[UF_SCHEMA].len;
    bool https = slen == 5 && strncasecmp(scheme, "https", 5) == 0;
    if (!https && !(slen == 4 && strncasecmp(scheme, "http", 4) == 0))
        return HD_E_INVAL;
    hd_httpc_call_t *call = hd_calloc(1, sizeof *call);
    if (call == NULL)
        return HD_E_NOMEM;
    call->c = c;
    call->cb = cb;
    call->arg = arg;
    call->timeout_ms = req->timeout_ms;
    if (https) {
        hd_err_t rc = curl_start(c, req, call);
        if (rc != HD_E_OK) {
            call_free(call);
            return rc;
        }
        if (callp)
            *callp = call;
        return HD_E_OK;
    }
    const char *host = req->url + u.field_data[UF_HOST].off;
    size_t host_len = u.field_data[UF_HOST].len;
    int port = (u.field_set & (1 << UF_PORT)) ? u.port : 80;
    /* the host as it appears in the URL, brackets included for IPv6 */
    const char *hstart = host, *hend = host + host_len;
    if (hstart > req->url && hstart[-1] == '[' && *hend == ']') {
        hstart--;
        hend++;
    }
    const char *path = "/";
    size_t path_len = 1;
    if (u.field_set & (1 << UF_PATH)) {
        path = req->url + u.field_data[UF_PATH].off;
        path_len = u.field_data[UF_PATH].len;
        if (u.field_set & (1 << UF_QUERY))
            path_len =
                u.field_data[UF_QUERY].off + u.field_data[UF_QUERY].len - u.field_data[UF_PATH].off;
    }
    pool_t *p = pool_get(c, hstart, (size_t)(hend - hstart), port);
    if (p == NULL) {
        call_free(call);
        return HD_E_NOMEM;
    }
    /* serialize once: request line, headers, body */
    const char *method = req->method ? req->method : "POST";
    size_t need = strlen(method) + path_len + 64 + (size_t)(hend - hstart) + req->body_len + 64;
    for (size_t i = 0; i < req->header_count; i++)
        need += req->headers[i].name_len + req->headers[i].value_len + 4;
    char *w = hd_malloc(need);
    if (w == NULL) {
        call_free(call);
        return HD_E_NOMEM;
    }
    size_t off = 0;
#define PUT(s, n)                                                                                  \
    do {                                                                                           \
        memcpy(w + off, (s), (n));                                                                 \
        off += (n);                                                                                \
    } while (0)
    PUT(method, strlen(method));
    PUT(" ", 1);
    PUT(path, path_len);
    PUT(" HTTP/1.1\r\nHost: ", 17);
    PUT(hstart, (size_t)(hend - hstart));
    if (u.field_set & (1 << UF_PORT)) {
        char ps[16];
        int pl = snprintf(ps, sizeof ps, ":%d", port);
        PUT(ps, (size_t)pl);
    }
    PUT("\r\n", 2);
    for (size_t i = 0; i < req->header_count; i++) {
        const ce_header_t *h = &req->headers[i];
        PUT(h->name, h->name_len);
        PUT(": ", 2);
        PUT(h->value, h->value_len);
        PUT("\r\n", 2);
    }
    char cl[48];
    int cll = snprintf(cl, sizeof cl, "Content-Length: %zu\r\n\r\n", req->body_len);
    PUT(cl, (size_t)cll);
    if (req->body_len)
        PUT(req->body, req->body_len);
#undef PUT
    call->wire = w;
    call->wire_len = off;
    call->p = p;
    if (callp)
        *callp = call;
    if (!p->addr_ok) {
        call_defer(call, HD_E_NET, "cannot resolve the host");
        return HD_E_OK;
    }
    /* queue, then serve: keeps FIFO order with earlier waiters */
    call->state = CALL_QUEUED;
    call->prev = p->qtail;
    call->next = NULL;
    if (p->qtail)
        p->qtail->next = call;
    else
        p->qhead = call;
    p->qtail = call;
    p->qlen++;
    pool_pump(c, p);
    return HD_E_OK;
}

void hd_httpc_cancel(hd_httpc_call_t *call)
{
    if (call == NULL)
        return;
    hd_httpc_t *c = call->c;
    switch (call->state) {
    case CALL_QUEUED: {
        pool_t *p = call->p;
        if (call->prev)
            call->prev->next = call->next;
        else
            p->qhead = call->next;
        if (call->next)
            call->next->prev = call->prev;
        else
            p->qtail = call->prev;
        p->qlen--;
        call_free(call);
        break;
    }
    case CALL_DEFERRED:
        if (call->prev)
            call->prev->next = call->next;
        else
            c->deferred = call->next;
        if (call->next)
            call->next->prev = call->prev;
        call_free(call);
        break;
    case CALL_ACTIVE: {
        conn_t *cn = call->conn;
        cn->cur = NULL;
        if (cn->write_pending) {
            /* the write still reads the buffer: the connection frees it */
            cn->orphan_wire = call->wire;
            call->wire = NULL;
        }
        pool_t *p = cn->p;
        conn_close(cn);
        call_free(call);
        pool_pump(c, p);
        break;
    }
    case CALL_CURL:
        curl_list_remove(c, call);
        if (call->easy) {
            curl_multi_remove_handle(c->multi, call->easy);
            curl_easy_cleanup(call->easy);
        }
        call_free(call);
        break;
    }
}
