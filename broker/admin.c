/*
 * admin.c — the router of the admin API (hd_admin.h): splits the path, answers health and
 * metrics itself, and hands every other path to its endpoint group: resources
 * (admin_resources.c), the operations on one broker, channel, trigger or subscription
 * (admin_triggers.c), the live tail (admin_tail.c) and the web page (admin_ui.c). Also the answer
 * helpers they share. Every error is JSON `{"error": "..."}` with a message a user can act on;
 * unknown paths are 404, wrong methods 405 with Allow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "admin_internal.h"
#include "hd_evlog.h"
#include "hd_ingress.h"
#include "hd_metrics.h"

#define MAX_SEGS 10
#define JSON_CT "Content-Type: application/json\r\n"
#ifndef HERALD_VERSION /* set by CMakeLists.txt */
#define HERALD_VERSION "unknown"
#define HERALD_COMMIT "unknown"
#endif

/* ---- answers -------------------------------------------------------------------------------- */

bool hd_admin__query_get(const char *query, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = query;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && !strncmp(p, name, nl) && p[nl] == '=') {
            size_t o = 0;
            for (size_t i = nl + 1; i < len && o + 1 < cap; i++) {
                if (p[i] == '%' && i + 2 < len && !strncasecmp(p + i, "%3A", 3)) {
                    buf[o++] = ':';
                    i += 2;
                } else if (p[i] == '%' && i + 2 < len && !strncasecmp(p + i, "%2B", 3)) {
                    buf[o++] = '+';
                    i += 2;
                } else {
                    buf[o++] = p[i];
                }
            }
            buf[o] = '\0';
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

void hd_admin__respond_json(hd_http_req_t *req, int status, const cJSON *body)
{
    char *s = body ? cJSON_PrintUnformatted(body) : NULL;
    if (!s) {
        hd_http_respond_error(req, 500, NULL, "out of memory");
        return;
    }
    size_t n = strlen(s);
    /* a trailing newline makes curl output readable */
    char *t = realloc(s, n + 2);
    if (t) {
        s = t;
        s[n++] = '\n';
        s[n] = '\0';
    }
    hd_http_respond(req, status, JSON_CT, s, n);
    free(s);
}

static int status_of(hd_err_t e)
{
    switch (e) {
    case HD_E_OK:
        return 200;
    case HD_E_INVAL:
    case HD_E_PARSE:
        return 400;
    case HD_E_NOTFOUND:
        return 404;
    case HD_E_EXISTS:
        return 409;
    case HD_E_TOOLARGE:
        return 413;
    default:
        return 503;
    }
}

void hd_admin__respond_err(hd_http_req_t *req, hd_err_t e, const char *msg)
{
    int st = status_of(e);
    if (st != 503 && msg && strlen(msg) > 500) {
        /* apply reports every error of every document: more than the HTTP server's error body
         * holds */
        cJSON *o = cJSON_CreateObject();
        if (o && cJSON_AddStringToObject(o, "error", msg)) {
            hd_admin__respond_json(req, st, o);
            cJSON_Delete(o);
            return;
        }
        cJSON_Delete(o);
    }
    hd_http_respond_error(req, st, st == 503 ? HD_ADMIN__RETRY_AFTER : NULL,
                          msg ? msg : hd_err_message(e));
}

void hd_admin__respond_not_found(hd_http_req_t *req, const char *kind, const char *ns,
                                 const char *name)
{
    char m[600]; /* room for the longest ns (127) and name (299) route_v1 accepts */
    snprintf(m, sizeof m, "%s \"%s/%s\" not found", kind, ns, name);
    hd_http_respond_error(req, 404, NULL, m);
}

void hd_admin__method_not_allowed(hd_http_req_t *req, const char *allow)
{
    char h[128], m[128];
    snprintf(h, sizeof h, "Allow: %s\r\n", allow);
    snprintf(m, sizeof m, "method %s not allowed here (allowed: %s)",
             http_method_str((enum http_method)req->method), allow);
    hd_http_respond_error(req, 405, h, m);
}

/* ---- /v1/{brokers|channels|triggers|subscriptions}/{ns}/{name}/{op} ----------------------- */

static const hd_admin__kind_t v1_kinds[] = {
    {"brokers", "Broker", true, false},
    {"channels", "Channel", true, true},
    {"triggers", "Trigger", false, false},
    {"subscriptions", "Subscription", false, true},
};

/* One operation: on a log (a broker or channel) or a consumer (a trigger or subscription). */
typedef struct {
    bool log;          /* on a broker or channel, else on a trigger or subscription */
    const char *op;    /* the 5th segment */
    const char *sub;   /* the 6th segment, or NULL for a 5-segment path */
    int method;        /* enum http_method, as in hd_http_req_t */
    const char *allow; /* the Allow header of a 405 */
    hd_admin__op_fn fn;
} v1_op_t;

static const v1_op_t v1_ops[] = {
    {true, "tail", NULL, HTTP_GET, "GET", hd_admin__tail},
    {true, "events", NULL, HTTP_POST, "POST", hd_admin__events},
    {true, "describe", NULL, HTTP_GET, "GET", hd_admin__describe_log},
    {false, "describe", NULL, HTTP_GET, "GET", hd_admin__describe_consumer},
    {false, "dlq", NULL, HTTP_GET, "GET", hd_admin__dlq_list},
    {false, "dlq", "replay", HTTP_POST, "POST", hd_admin__dlq_replay},
    {false, "replay", NULL, HTTP_POST, "POST", hd_admin__replay},
};

static void route_v1(hd_admin_ctx_t *a, hd_http_req_t *req, hd_path_seg_t *s, size_t n)
{
    if (n >= 2 && hd_path_seg_is(&s[1], "resources")) {
        hd_admin__route_resources(a, req, s, n);
        return;
    }
    const hd_admin__kind_t *k = NULL;
    for (size_t i = 0; n >= 5 && i < sizeof v1_kinds / sizeof v1_kinds[0] && !k; i++)
        if (hd_path_seg_is(&s[1], v1_kinds[i].plural))
            k = &v1_kinds[i];
    char ns[128], name[300];
    if (k && hd_path_seg_copy(&s[2], ns, sizeof ns) && hd_path_seg_copy(&s[3], name, sizeof name)) {
        for (size_t i = 0; i < sizeof v1_ops / sizeof v1_ops[0]; i++) {
            const v1_op_t *o = &v1_ops[i];
            if (o->log != k->log || n != (o->sub ? 6u : 5u) || !hd_path_seg_is(&s[4], o->op) ||
                (o->sub && !hd_path_seg_is(&s[5], o->sub)))
                continue;
            if (req->method != o->method)
                hd_admin__method_not_allowed(req, o->allow);
            else
                o->fn(a, req, k, ns, name);
            return;
        }
    }
    hd_http_respond_error(req, 404, NULL, "unknown admin path (see hd_admin.h or herald --help)");
}

/* ---- the router ------------------------------------------------------------------------------ */

void hd_admin_handle(void *ctx, hd_http_req_t *req)
{
    hd_admin_ctx_t *a = ctx;
    hd_path_seg_t s[MAX_SEGS];
    /* directory-style URLs (/ui/, /v1/brokers/) name the same resource */
    size_t len = req->path_len;
    if (len > 1 && req->path[len - 1] == '/')
        len--;
    size_t n = hd_path_split(req->path, len, s, MAX_SEGS);
    if (n > MAX_SEGS) {
        hd_http_respond_error(req, 404, NULL, "path has too many segments");
        return;
    }
    if (n == 1 && (hd_path_seg_is(&s[0], "healthz") || hd_path_seg_is(&s[0], "readyz"))) {
        if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
            hd_admin__method_not_allowed(req, "GET, HEAD");
            return;
        }
        bool health = hd_path_seg_is(&s[0], "healthz");
        bool ok = health || (a->ready && *a->ready);
        const char *body = ok ? "ok\n" : "not ready\n";
        if (ok && !health && hd_evlog_full(a->log)) {
            ok = false; /* as the ingress's /readyz */
            body = HD_INGRESS_STORE_FULL;
        }
        hd_http_respond(req, ok ? 200 : 503, "Content-Type: text/plain\r\n", body, strlen(body));
        return;
    }
    if (n == 1 && hd_path_seg_is(&s[0], "metrics")) {
        if (req->method != HTTP_GET) {
            hd_admin__method_not_allowed(req, "GET");
            return;
        }
        size_t len = 0;
        char *text = a->metrics ? hd_metrics_render(a->metrics, &len) : NULL;
        if (!text) {
            hd_admin__respond_err(req, HD_E_NOMEM, "metrics unavailable");
            return;
        }
        hd_http_respond(req, 200, "Content-Type: text/plain; version=0.0.4\r\n", text, len);
        hd_free(text);
        return;
    }
    if (len == 1 && req->path[0] == '/') {
        hd_admin__root(req);
        return;
    }
    if (n == 1 && hd_path_seg_is(&s[0], "version")) { /* `herald version` */
        if (req->method != HTTP_GET) {
            hd_admin__method_not_allowed(req, "GET");
            return;
        }
        static const char body[] =
            "{\"version\":\"" HERALD_VERSION "\",\"commit\":\"" HERALD_COMMIT "\"}\n";
        hd_http_respond(req, 200, JSON_CT, body, sizeof body - 1);
        return;
    }
    if ((n == 1 || n == 2) && hd_path_seg_is(&s[0], "ui")) {
        hd_admin__ui(req, n == 2 ? s[1].s : NULL, n == 2 ? s[1].len : 0);
        return;
    }
    if (n == 1 && hd_path_seg_is(&s[0], "apply")) {
        if (req->method != HTTP_POST) {
            hd_admin__method_not_allowed(req, "POST");
            return;
        }
        if (!a->res) {
            hd_admin__respond_err(req, HD_E_BUSY, "resources not loaded yet");
            return;
        }
        hd_admin__apply(a, req, req->body ? req->body : "", req->body_len, false);
        return;
    }
    if (!a->res) {
        hd_admin__respond_err(req, HD_E_BUSY, "resources not loaded yet");
        return;
    }
    if (n >= 1 && hd_path_seg_is(&s[0], "apis")) {
        hd_admin__route_apis(a, req, s, n);
        return;
    }
    if (n >= 1 && hd_path_seg_is(&s[0], "v1")) {
        route_v1(a, req, s, n);
        return;
    }
    hd_http_respond_error(req, 404, NULL,
                          "unknown admin path: try /apis/..., /apply, /metrics, /healthz, "
                          "/v1/resources/{kind}");
}
