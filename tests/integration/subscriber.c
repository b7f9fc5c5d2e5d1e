/*
 * subscriber.c — a small real HTTP/1.1 subscriber for integration tests and benches (libuv +
 * http-parser, keep-alive, 127.0.0.1 only). It answers every request according to its flags and
 * records what it received as JSON lines.
 *
 *   --port N              listen port (0 = a free one; the port is printed as "PORT n" on stdout
 *                         and written to --port-file)
 *   --port-file PATH      write the bound port there (atomically, via rename)
 *   --status CODE         status for every request (default 202)
 *   --script ID=C1,C2,... per event id (ce-id header, or "id" of a structured body): the n-th
 *                         request for that id gets Cn; later ones get --status. Repeatable.
 *   --script-all C1,C2,.. the n-th request overall gets Cn, then --status
 *   --delay-ms N          answer N ms after the request arrived
 *   --retry-after V       send "Retry-After: V" on 429 and 503 answers
 *   --body TEXT           body of non-reply answers (Content-Type text/plain)
 *   --reply-type T        on 200/201 answers, reply with a CloudEvent of type T (binary mode,
 *                         id "reply-<ce-id>", source "/subscriber", data {"n":<count>})
 *   --reply-structured    make that reply structured (application/cloudevents+json)
 *   --append TEXT         on 200/201 answers, reply with the received event itself, as Knative's
 *                         "appender" sample does: every ce-* attribute kept (binary mode), a new
 *                         id "<ce-id>-a", the same Content-Type; JSON object data gets its
 *                         "message" member M turned into M + TEXT (added as TEXT when absent),
 *                         any other data gets TEXT appended to the raw body. A structured request
 *                         is answered in binary mode too. With --reply-type T the reply's type
 *                         becomes T (the appender's TYPE setting).
 *   --pass-if SUBSTR      a Parallel filter: answer 200 with the received event unchanged (same
 *                         headers and body) when the body contains SUBSTR, else 202 with no body;
 *                         --script/--script-all codes still win over this choice
 *   --record FILE         append one JSON object per request: {"n","t_ms","inflight","method",
 *                         "path","headers":{lower-case name: value},"body","status"}
 *   --max-seconds N       exit after N seconds (default 300): every test run is bounded
 *   --close               answer with Connection: close
 *
 * --append and --pass-if take precedence over --reply-type's generated event and --body.
 *
 * "inflight" is the number of requests received and not yet answered, counting this one, so a
 * test can check a concurrency limit. SIGTERM/SIGINT exit cleanly (record file flushed).
 */
#include <cjson/cJSON.h>
#include <http_parser.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define MAX_HDRS 64
#define MAX_SCRIPTS 256
#define MAX_BODY (2 * 1024 * 1024)

typedef struct {
    char id[128];
    int codes[32];
    int ncodes;
    int seen;
} script_t;

static struct {
    int port;
    const char *port_file;
    int status;
    script_t scripts[MAX_SCRIPTS];
    int nscripts;
    int all_codes[64];
    int nall;
    long delay_ms;
    const char *retry_after;
    const char *body;
    const char *reply_type;
    int reply_structured;
    const char *append;
    const char *pass_if;
    FILE *record;
    long max_seconds;
    int close_conn;
    long count;
    long inflight;
    uv_loop_t *loop;
    uint64_t t0;
} g;

typedef struct conn {
    uv_tcp_t tcp;
    http_parser parser;
    char hname[MAX_HDRS][128];
    char *hval[MAX_HDRS];
    int nh;
    int last_value;
    char url[1024];
    char *body;
    size_t body_len;
    int pending; /* requests parsed, answer not yet written */
    int closed;
    int handle_closed;
} conn_t;

typedef struct {
    uv_timer_t timer;
    conn_t *c;
    int status;
    char id[128];
    long n;
    char *resp;      /* --append/--pass-if: header lines + blank line + body, or NULL */
    size_t resp_len; /* bytes in resp */
} answer_t;

/* A growing byte buffer for the answers that echo an event (sizes follow the request). */
typedef struct {
    char *p;
    size_t n, cap;
} buf_t;

static void bput(buf_t *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void bputs(buf_t *b, const char *s)
{
    bput(b, s, strlen(s));
}

static void bprintf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *tmp = malloc((size_t)n + 1);
    if (!tmp)
        abort();
    va_start(ap, fmt);
    vsnprintf(tmp, (size_t)n + 1, fmt, ap);
    va_end(ap);
    bput(b, tmp, (size_t)n);
    free(tmp);
}

static void conn_free(conn_t *c)
{
    for (int i = 0; i < c->nh; i++)
        free(c->hval[i]);
    free(c->body);
    free(c);
}

/* A connection is freed once its handle is closed and no delayed answer still refers to it. */
static void conn_closed(uv_handle_t *h)
{
    conn_t *c = h->data;
    c->handle_closed = 1;
    if (c->pending == 0)
        conn_free(c);
}

static void conn_close(conn_t *c)
{
    if (!c->closed) {
        c->closed = 1;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
    }
}

static void json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\r')
            fputs("\\r", f);
        else if (ch == '\t')
            fputs("\\t", f);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static const char *hdr(conn_t *c, const char *name)
{
    for (int i = 0; i < c->nh; i++)
        if (strcasecmp(c->hname[i], name) == 0)
            return c->hval[i];
    return NULL;
}

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

static const char *reason(int s)
{
    switch (s) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

static void write_done(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void send_answer(answer_t *a)
{
    conn_t *c = a->c;
    g.inflight--;
    c->pending--;
    char *resp = a->resp;
    a->resp = NULL;
    if (c->closed) {
        free(resp);
        if (c->handle_closed && c->pending == 0)
            conn_free(c);
        return;
    }
    char *buf;
    int n;
    const char *conn_hdr = g.close_conn ? "Connection: close\r\n" : "";
    char extra[256] = "";
    if (g.retry_after && (a->status == 429 || a->status == 503))
        snprintf(extra, sizeof extra, "Retry-After: %s\r\n", g.retry_after);
    if (resp) {
        buf_t b = {0};
        bprintf(&b, "HTTP/1.1 %d %s\r\n%s%s", a->status, reason(a->status), conn_hdr, extra);
        bput(&b, resp, a->resp_len);
        buf = b.p;
        n = (int)b.n;
    } else {
        buf = malloc(8192);
        if (!buf)
            abort();
        if (g.reply_type && (a->status == 200 || a->status == 201)) {
            char data[64];
            int dl = snprintf(data, sizeof data, "{\"n\":%ld}", a->n);
            if (g.reply_structured) {
                char body[1024];
                int bl = snprintf(
                    body, sizeof body,
                    "{\"specversion\":\"1.0\",\"id\":\"reply-%s\",\"source\":\"/subscriber\","
                    "\"type\":\"%s\",\"datacontenttype\":\"application/json\",\"data\":%s}",
                    a->id, g.reply_type, data);
                n = snprintf(buf, 8192,
                             "HTTP/1.1 %d %s\r\n%s%sContent-Type: application/cloudevents+json\r\n"
                             "Content-Length: %d\r\n\r\n%s",
                             a->status, reason(a->status), conn_hdr, extra, bl, body);
            } else {
                n = snprintf(
                    buf, 8192,
                    "HTTP/1.1 %d %s\r\n%s%sce-specversion: 1.0\r\nce-id: reply-%s\r\n"
                    "ce-source: /subscriber\r\nce-type: %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n%s",
                    a->status, reason(a->status), conn_hdr, extra, a->id, g.reply_type, dl, data);
            }
        } else {
            const char *b = g.body ? g.body : "";
            n = snprintf(buf, 8192, "HTTP/1.1 %d %s\r\n%s%s%sContent-Length: %zu\r\n\r\n%s",
                         a->status, reason(a->status), conn_hdr, extra,
                         g.body ? "Content-Type: text/plain\r\n" : "", strlen(b), b);
        }
    }
    free(resp);
    uv_write_t *w = malloc(sizeof *w);
    w->data = buf;
    uv_buf_t ub = uv_buf_init(buf, (unsigned)n);
    if (uv_write(w, (uv_stream_t *)&c->tcp, &ub, 1, write_done) != 0) {
        free(buf);
        free(w);
    }
    if (g.close_conn)
        conn_close(c);
}

static void answer_timer(uv_timer_t *t)
{
    answer_t *a = t->data;
    send_answer(a);
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
}

/* The status for a request: a --script or --script-all code, else --pass-if's choice (200 when
 * the body contains SUBSTR, else 202), else --status. */
static int choose_status(const char *id, const char *body)
{
    int dflt = g.status;
    if (g.pass_if)
        dflt = body && strstr(body, g.pass_if) ? 200 : 202;
    for (int i = 0; i < g.nscripts; i++) {
        script_t *s = &g.scripts[i];
        if (strcmp(s->id, id) == 0) {
            int k = s->seen++;
            if (k < s->ncodes)
                return s->codes[k];
            return dflt;
        }
    }
    if (g.count - 1 < g.nall)
        return g.all_codes[g.count - 1];
    return dflt;
}

/* The event id: the ce-id header, or the "id" member of a structured body (a light scan). */
static void event_id(conn_t *c, char *out, size_t cap)
{
    const char *v = hdr(c, "ce-id");
    out[0] = '\0';
    if (v) {
        snprintf(out, cap, "%s", v);
        return;
    }
    if (c->body) {
        const char *p = strstr(c->body, "\"id\"");
        if (p) {
            p = strchr(p + 4, '"');
            if (p) {
                p++;
                const char *e = strchr(p, '"');
                if (e && (size_t)(e - p) < cap) {
                    memcpy(out, p, (size_t)(e - p));
                    out[e - p] = '\0';
                }
            }
        }
    }
}

/* Percent-encodes a header value as the CloudEvents HTTP binding asks: space, '"', '%' and bytes
 * outside printable ASCII. */
static void put_hvalue(buf_t *b, const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '%')
            bprintf(b, "%%%02X", *p);
        else
            bput(b, (const char *)p, 1);
    }
}

static int b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* Decodes base64 (padding and unknown characters skipped) into b. */
static void b64_decode(buf_t *b, const char *s)
{
    unsigned acc = 0;
    int bits = 0;
    for (; *s; s++) {
        int v = b64val((unsigned char)*s);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            char ch = (char)((acc >> bits) & 0xff);
            bput(b, &ch, 1);
        }
    }
}

/* The appender's change to the data: JSON object data gets "message" += TEXT (set to TEXT when
 * absent or not a string); anything else gets TEXT appended to the raw bytes. */
static void append_data(buf_t *body)
{
    cJSON *j = body->n ? cJSON_ParseWithLength(body->p, body->n) : NULL;
    if (cJSON_IsObject(j)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
        buf_t msg = {0};
        if (cJSON_IsString(m))
            bputs(&msg, m->valuestring);
        bputs(&msg, g.append);
        cJSON *nm = cJSON_CreateString(msg.p);
        free(msg.p);
        if (m)
            cJSON_ReplaceItemInObjectCaseSensitive(j, "message", nm);
        else
            cJSON_AddItemToObject(j, "message", nm);
        char *out = cJSON_PrintUnformatted(j);
        if (!out)
            abort();
        body->n = 0;
        bputs(body, out);
        cJSON_free(out);
    } else {
        bputs(body, g.append);
    }
    cJSON_Delete(j);
}

/* The header lines of a binary-mode event built from a structured request (`j`, a JSON object)
 * and its data into body. Returns 0, or -1 when the body is not a structured event. */
static int from_structured(conn_t *c, buf_t *hdrs, buf_t *body, const char *new_id)
{
    cJSON *j = c->body ? cJSON_ParseWithLength(c->body, c->body_len) : NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return -1;
    }
    const char *ctype = NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        const char *k = it->string;
        if (strcmp(k, "data") == 0) {
            if (cJSON_IsString(it)) {
                bputs(body, it->valuestring);
            } else {
                char *out = cJSON_PrintUnformatted(it);
                if (!out)
                    abort();
                bputs(body, out);
                cJSON_free(out);
            }
            continue;
        }
        if (strcmp(k, "data_base64") == 0) {
            if (cJSON_IsString(it))
                b64_decode(body, it->valuestring);
            continue;
        }
        if (strcmp(k, "datacontenttype") == 0) {
            if (cJSON_IsString(it))
                ctype = it->valuestring;
            continue;
        }
        bprintf(hdrs, "ce-%s: ", k);
        if (strcmp(k, "id") == 0 && new_id)
            put_hvalue(hdrs, new_id);
        else if (strcmp(k, "type") == 0 && g.reply_type)
            put_hvalue(hdrs, g.reply_type);
        else if (cJSON_IsString(it))
            put_hvalue(hdrs, it->valuestring);
        else {
            char *out = cJSON_PrintUnformatted(it);
            if (!out)
                abort();
            put_hvalue(hdrs, out);
            cJSON_free(out);
        }
        bputs(hdrs, "\r\n");
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    if (!ctype && data && !cJSON_IsString(data))
        ctype = "application/json";
    if (ctype)
        bprintf(hdrs, "Content-Type: %s\r\n", ctype);
    cJSON_Delete(j);
    return 0;
}

/* Sets a->resp for --append and --pass-if answers with a 200 or 201 status: the received event
 * (--pass-if, as received) or its appended copy (--append, binary mode). */
static void build_echo(conn_t *c, answer_t *a)
{
    if (!(g.append || g.pass_if) || (a->status != 200 && a->status != 201))
        return;
    buf_t hdrs = {0}, body = {0};
    const char *ctype = hdr(c, "content-type");
    char new_id[160];
    snprintf(new_id, sizeof new_id, "%s-a", a->id);
    int structured = ctype && strncasecmp(ctype, "application/cloudevents+json", 28) == 0;
    if (g.append && structured && from_structured(c, &hdrs, &body, new_id) == 0) {
        append_data(&body);
    } else {
        for (int i = 0; i < c->nh; i++) {
            const char *k = c->hname[i];
            if (strncmp(k, "ce-", 3) != 0 && strcmp(k, "content-type") != 0)
                continue;
            const char *v = c->hval[i];
            if (g.append && strcmp(k, "ce-id") == 0)
                v = new_id;
            else if (g.append && g.reply_type && strcmp(k, "ce-type") == 0)
                v = g.reply_type;
            bprintf(&hdrs, "%s: %s\r\n", k, v);
        }
        if (c->body)
            bput(&body, c->body, c->body_len);
        if (g.append)
            append_data(&body);
    }
    bprintf(&hdrs, "Content-Length: %zu\r\n\r\n", body.n);
    if (body.n)
        bput(&hdrs, body.p, body.n);
    free(body.p);
    a->resp = hdrs.p;
    a->resp_len = hdrs.n;
}

static int on_message_begin(http_parser *p)
{
    conn_t *c = p->data;
    for (int i = 0; i < c->nh; i++)
        free(c->hval[i]);
    c->nh = 0;
    c->last_value = 0;
    c->url[0] = '\0';
    free(c->body);
    c->body = NULL;
    c->body_len = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    size_t l = strlen(c->url);
    if (l + len < sizeof c->url) {
        memcpy(c->url + l, at, len);
        c->url[l + len] = '\0';
    }
    return 0;
}

static int on_hfield(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (c->nh == 0 || c->last_value) {
        if (c->nh == MAX_HDRS)
            return 1;
        c->hname[c->nh][0] = '\0';
        c->hval[c->nh] = calloc(1, 1);
        c->nh++;
        c->last_value = 0;
    }
    char *n = c->hname[c->nh - 1];
    size_t l = strlen(n);
    for (size_t i = 0; i < len && l + 1 < sizeof c->hname[0]; i++)
        n[l++] = (char)((at[i] >= 'A' && at[i] <= 'Z') ? at[i] + 32 : at[i]);
    n[l] = '\0';
    return 0;
}

static int on_hvalue(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (c->nh == 0)
        return 1;
    c->last_value = 1;
    char *v = c->hval[c->nh - 1];
    size_t l = strlen(v);
    v = realloc(v, l + len + 1);
    memcpy(v + l, at, len);
    v[l + len] = '\0';
    c->hval[c->nh - 1] = v;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    conn_t *c = p->data;
    if (c->body_len + len > MAX_BODY)
        return 1;
    c->body = realloc(c->body, c->body_len + len + 1);
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    c->body[c->body_len] = '\0';
    return 0;
}

static int on_complete(http_parser *p)
{
    conn_t *c = p->data;
    g.count++;
    g.inflight++;
    c->pending++;
    answer_t *a = calloc(1, sizeof *a);
    a->c = c;
    a->n = g.count;
    event_id(c, a->id, sizeof a->id);
    a->status = choose_status(a->id, c->body);
    build_echo(c, a);
    if (g.record) {
        FILE *f = g.record;
        fprintf(
            f,
            "{\"n\":%ld,\"t_ms\":%llu,\"inflight\":%ld,\"status\":%d,\"method\":\"%s\",\"path\":",
            g.count, (unsigned long long)(now_ms() - g.t0), g.inflight, a->status,
            http_method_str((enum http_method)p->method));
        json_str(f, c->url, strlen(c->url));
        fputs(",\"headers\":{", f);
        for (int i = 0; i < c->nh; i++) {
            if (i)
                fputc(',', f);
            json_str(f, c->hname[i], strlen(c->hname[i]));
            fputc(':', f);
            json_str(f, c->hval[i], strlen(c->hval[i]));
        }
        fputs("},\"body\":", f);
        json_str(f, c->body ? c->body : "", c->body_len);
        fputs("}\n", f);
        fflush(f);
    }
    if (g.delay_ms > 0) {
        uv_timer_init(g.loop, &a->timer);
        a->timer.data = a;
        uv_timer_start(&a->timer, answer_timer, (uint64_t)g.delay_ms, 0);
    } else {
        send_answer(a);
        free(a);
    }
    return 0;
}

static http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_hfield,
    .on_header_value = on_hvalue,
    .on_body = on_body,
    .on_message_complete = on_complete,
};

static void alloc_cb(uv_handle_t *h, size_t s, uv_buf_t *b)
{
    (void)h;
    b->base = malloc(s);
    b->len = s;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    conn_t *c = s->data;
    if (n < 0) {
        conn_close(c);
    } else if (n > 0 && !c->closed) {
        size_t done = http_parser_execute(&c->parser, &settings, b->base, (size_t)n);
        if (c->parser.http_errno != HPE_OK || done != (size_t)n)
            conn_close(c);
    }
    free(b->base);
}

static void on_conn(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    conn_t *c = calloc(1, sizeof *c);
    uv_tcp_init(g.loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void on_signal(uv_signal_t *s, int sig)
{
    (void)sig;
    uv_stop(s->loop);
}

static void on_deadline(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void usage(void)
{
    fprintf(stderr, "usage: subscriber [--port N] [--port-file P] [--status C] [--script ID=C,C..]"
                    " [--script-all C,C..] [--delay-ms N] [--retry-after V] [--body T]"
                    " [--reply-type T] [--reply-structured] [--append TEXT] [--pass-if SUBSTR]"
                    " [--record FILE] [--max-seconds N] [--close]\n");
    exit(2);
}

static int parse_codes(const char *s, int *codes, int max)
{
    int n = 0;
    while (*s && n < max) {
        codes[n++] = atoi(s);
        const char *comma = strchr(s, ',');
        if (!comma)
            break;
        s = comma + 1;
    }
    return n;
}

int main(int argc, char **argv)
{
    g.status = 202;
    g.max_seconds = 300;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && (v || (usage(), 0)) && ++i)
        if (ARG("--port"))
            g.port = atoi(v);
        else if (ARG("--port-file"))
            g.port_file = v;
        else if (ARG("--status"))
            g.status = atoi(v);
        else if (ARG("--script")) {
            const char *eq = strrchr(v, '=');
            if (!eq || g.nscripts == MAX_SCRIPTS)
                usage();
            script_t *s = &g.scripts[g.nscripts++];
            snprintf(s->id, sizeof s->id, "%.*s", (int)(eq - v), v);
            s->ncodes = parse_codes(eq + 1, s->codes, 32);
        } else if (ARG("--script-all"))
            g.nall = parse_codes(v, g.all_codes, 64);
        else if (ARG("--delay-ms"))
            g.delay_ms = atol(v);
        else if (ARG("--retry-after"))
            g.retry_after = v;
        else if (ARG("--body"))
            g.body = v;
        else if (ARG("--reply-type"))
            g.reply_type = v;
        else if (ARG("--append"))
            g.append = v;
        else if (ARG("--pass-if"))
            g.pass_if = v;
        else if (strcmp(a, "--reply-structured") == 0)
            g.reply_structured = 1;
        else if (ARG("--record")) {
            g.record = fopen(v, "a");
            if (!g.record) {
                perror(v);
                return 1;
            }
        } else if (ARG("--max-seconds"))
            g.max_seconds = atol(v);
        else if (strcmp(a, "--close") == 0)
            g.close_conn = 1;
        else
            usage();
#undef ARG
    }
    signal(SIGPIPE, SIG_IGN);
    g.loop = uv_default_loop();
    g.t0 = now_ms();
    uv_tcp_t srv;
    uv_tcp_init(g.loop, &srv);
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", g.port, &addr);
    if (uv_tcp_bind(&srv, (const struct sockaddr *)&addr, 0) != 0 ||
        uv_listen((uv_stream_t *)&srv, 1024, on_conn) != 0) {
        fprintf(stderr, "subscriber: cannot listen on 127.0.0.1:%d\n", g.port);
        return 1;
    }
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    uv_tcp_getsockname(&srv, (struct sockaddr *)&ss, &sl);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    printf("PORT %d\n", port);
    fflush(stdout);
    if (g.port_file) {
        char tmp[1024];
        snprintf(tmp, sizeof tmp, "%s.tmp", g.port_file);
        FILE *f = fopen(tmp, "w");
        if (f) {
            fprintf(f, "%d\n", port);
            fclose(f);
            rename(tmp, g.port_file);
        }
    }
    uv_signal_t s1, s2;
    uv_signal_init(g.loop, &s1);
    uv_signal_start(&s1, on_signal, SIGTERM);
    uv_signal_init(g.loop, &s2);
    uv_signal_start(&s2, on_signal, SIGINT);
    uv_timer_t deadline;
    uv_timer_init(g.loop, &deadline);
    uv_timer_start(&deadline, on_deadline, (uint64_t)g.max_seconds * 1000u, 0);
    uv_run(g.loop, UV_RUN_DEFAULT);
    if (g.record)
        fclose(g.record);
    return 0;
}
