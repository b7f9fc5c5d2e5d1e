/*
 * ce_client.c — blocking HTTP transport over libcurl (see ce_client.h).
 */
#include "herald/ce_client.h"

#include "ce_internal.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 10000L
#define DEFAULT_MAX_REPLY (1024u * 1024u)
#define MAX_REPLY_HEADERS 128
#define MAX_REPLY_HEADER_BYTES (64u * 1024u)

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static CURLcode g_curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
    g_curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct {
    ce_buf_t body;
    size_t max_body;
    bool too_large;
    bool nomem;
    /* reply headers: "name\0value\0" pairs in `hstore`, offsets in `hoff` */
    ce_buf_t hstore;
    size_t hoff[MAX_REPLY_HEADERS][4];
    size_t hcount;
} reply_t;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    reply_t *r = arg;
    size_t len = size * n;
    if (r->body.len + len > r->max_body) {
        r->too_large = true;
        return 0; /* aborts the transfer */
    }
    if (ce_buf_append(&r->body, p, len) != CE_E_OK) {
        r->nomem = true;
        return 0;
    }
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    reply_t *r = arg;
    size_t len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        r->hcount = 0; /* a new response (after 100 Continue): forget earlier headers */
        r->hstore.len = 0;
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon || r->hcount == MAX_REPLY_HEADERS || r->hstore.len + len > MAX_REPLY_HEADER_BYTES)
        return len; /* status line end, blank line, or over our bounds: ignored */
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    size_t *o = r->hoff[r->hcount];
    o[0] = r->hstore.len;
    o[1] = nl;
    if (ce_buf_append(&r->hstore, p, nl) != CE_E_OK ||
        ce_buf_append(&r->hstore, "", 1) != CE_E_OK) {
        r->nomem = true;
        return 0;
    }
    o[2] = r->hstore.len;
    o[3] = vl;
    if (ce_buf_append(&r->hstore, v, vl) != CE_E_OK ||
        ce_buf_append(&r->hstore, "", 1) != CE_E_OK) {
        r->nomem = true;
        return 0;
    }
    r->hcount++;
    return len;
}

static ce_err_t decode_reply(reply_t *r, ce_client_result_t *res)
{
    ce_header_t hs[MAX_REPLY_HEADERS];
    bool has_sv = false;
    for (size_t i = 0; i < r->hcount; i++) {
        hs[i].name = r->hstore.data + r->hoff[i][0];
        hs[i].name_len = r->hoff[i][1];
        hs[i].value = r->hstore.data + r->hoff[i][2];
        hs[i].value_len = r->hoff[i][3];
        if (ce__ieq(hs[i].name, hs[i].name_len, "ce-specversion"))
            has_sv = true;
    }
    if (r->body.len == 0 && !has_sv)
        return CE_E_OK; /* no reply */
    ce_http_msg_t m = {hs, r->hcount, r->body.data, r->body.len};
    ce_event_t **evs = NULL;
    size_t n = 0;
    ce_err_t rc = ce_http_decode(&m, &evs, &n, &res->reply_error);
    if (rc == CE_E_NOMEM)
        return rc;
    if (rc != CE_E_OK) {
        res->reply_err = rc;
        return CE_E_OK;
    }
    if (n == 1) {
        res->reply = evs[0];
        ce_events_free(evs, 0); /* the array only: the event is kept */
        return CE_E_OK;
    }
    ce_events_free(evs, n);
    res->reply_err = ce_error_set(&res->reply_error, CE_E_INVALID,
                                  "reply batch holds %zu events, expected one", n);
    return CE_E_OK;
}

/* Copies the start of a failed answer's body into dst (cap bytes with the NUL), cut back to a
 * UTF-8 character boundary and with control characters shown as spaces, for a one-line message. */
static void keep_error_body(char *dst, size_t cap, const char *body, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    if (n < len)
        while (n > 0 && ((unsigned char)body[n] & 0xC0) == 0x80)
            n--; /* body[n] continues a character: do not split it */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)body[i];
        dst[i] = (char)(c < 0x20 || c == 0x7F ? ' ' : c);
    }
    while (n > 0 && dst[n - 1] == ' ')
        n--;
    dst[n] = '\0';
}

ce_err_t ce_client_send(const char *url, const ce_event_t *ev, const ce_client_opts_t *opts,
                        ce_client_result_t *res, ce_error_t *err)
{
    static const ce_client_opts_t defaults = {0};
    if (!url || !ev || !res)
        return ce_error_set(err, CE_E_ARG, "invalid argument");
    if (!opts)
        opts = &defaults;
    if (opts->mode != CE_HTTP_BINARY && opts->mode != CE_HTTP_STRUCTURED)
        return ce_error_set(err, CE_E_ARG, "mode must be binary or structured");
    pthread_once(&g_curl_once, curl_init_once);
    if (g_curl_init_rc != CURLE_OK)
        return ce_error_set(err, CE_E_HTTP, "curl_global_init: %s",
                            curl_easy_strerror(g_curl_init_rc));

    ce_err_t rc;
    ce_http_out_t out;
    CURL *h = NULL;
    struct curl_slist *list = NULL;
    reply_t r;
    memset(&r, 0, sizeof r);
    r.max_body = opts->max_reply_bytes ? opts->max_reply_bytes : DEFAULT_MAX_REPLY;
    ce_client_result_t result;
    memset(&result, 0, sizeof result);

    if ((rc = ce_http_encode(ev, opts->mode, opts->header_encoding, &out)) != CE_E_OK)
        return ce_error_set(err, rc, "encoding the event: %s", ce_err_message(rc));
    h = curl_easy_init();
    if (!h) {
        rc = ce_error_set(err, CE_E_NOMEM, "curl_easy_init failed");
        goto done_encoded;
    }
    /* request headers: the encoded ones, the caller's, and no "Expect: 100-continue" */
    char line[8192];
    for (size_t i = 0; i < out.header_count; i++) {
        const ce_header_t *hd = &out.headers[i];
        if (hd->name_len + hd->value_len + 3 > sizeof line) {
            rc = ce_error_set(err, CE_E_TOO_LARGE, "header '%.*s' too long", (int)hd->name_len,
                              hd->name);
            goto done_curl;
        }
        snprintf(line, sizeof line, "%.*s: %.*s", (int)hd->name_len, hd->name, (int)hd->value_len,
                 hd->value);
        struct curl_slist *nl = curl_slist_append(list, line);
        if (!nl) {
            rc = ce_error_set(err, CE_E_NOMEM, "out of memory");
            goto done_curl;
        }
        list = nl;
    }
    for (size_t i = 0; i < opts->extra_header_count; i++) {
        struct curl_slist *nl = curl_slist_append(list, opts->extra_headers[i]);
        if (!nl) {
            rc = ce_error_set(err, CE_E_NOMEM, "out of memory");
            goto done_curl;
        }
        list = nl;
    }
    static const char *const fixed[] = {"Expect:", "Accept: */*"};
    for (size_t i = 0; i < 2; i++) {
        struct curl_slist *nl = curl_slist_append(list, fixed[i]);
        if (!nl) {
            rc = ce_error_set(err, CE_E_NOMEM, "out of memory");
            goto done_curl;
        }
        list = nl;
    }
    /* without a content-type curl would add application/x-www-form-urlencoded */
    bool has_ct = false;
    for (size_t i = 0; i < out.header_count; i++)
        has_ct |= ce__ieq(out.headers[i].name, out.headers[i].name_len, "content-type");
    if (!has_ct) {
        struct curl_slist *nl = curl_slist_append(list, "Content-Type:");
        if (!nl) {
            rc = ce_error_set(err, CE_E_NOMEM, "out of memory");
            goto done_curl;
        }
        list = nl;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, out.body.data ? out.body.data : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)out.body.len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "libherald-ce/0.1");
    CURLcode cc = curl_easy_perform(h);
    if (r.too_large) {
        rc = ce_error_set(err, CE_E_TOO_LARGE, "reply body larger than %zu bytes", r.max_body);
        goto done_curl;
    }
    if (r.nomem) {
        rc = ce_error_set(err, CE_E_NOMEM, "out of memory reading the reply");
        goto done_curl;
    }
    if (cc != CURLE_OK) {
        rc = ce_error_set(err, CE_E_HTTP, "%s: %s", curl_easy_strerror(cc),
                          errbuf[0] ? errbuf : url);
        goto done_curl;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &result.status);
    if (result.status >= 200 && result.status < 300 &&
        (rc = decode_reply(&r, &result)) != CE_E_OK) {
        rc = ce_error_set(err, rc, "out of memory decoding the reply");
        goto done_curl;
    }
    if ((result.status < 200 || result.status >= 300) && r.body.len > 0)
        keep_error_body(result.error_body, sizeof result.error_body, r.body.data, r.body.len);
    *res = result;
    rc = CE_E_OK;
done_curl:
    curl_slist_free_all(list);
    curl_easy_cleanup(h);
done_encoded:
    ce_http_out_free(&out);
    ce_buf_free(&r.body);
    ce_buf_free(&r.hstore);
    return rc;
}

void ce_client_result_clear(ce_client_result_t *res)
{
    if (!res)
        return;
    ce_event_free(res->reply);
    memset(res, 0, sizeof *res);
}
