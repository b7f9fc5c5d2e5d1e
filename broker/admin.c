/*
 * admin.c — the admin API of heraldd (hd_admin.h): resources in the Kubernetes URL layout,
 * apply, metrics, health, and the broker-specific endpoints behind the `herald` CLI (tail,
 * describe, dead letters, replay, send). Every error is JSON `{"error": "..."}` with a message a
 * user can act on; unknown paths are 404, wrong methods 405 with Allow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

#include "hd_admin.h"
#include "hd_dispatch.h"
#include "hd_ingress.h"
#include "hd_manifest.h"
#include "hd_metrics.h"
#include "hd_path.h"
#include "hd_resources.h"
#include "hd_evlog.h"
#include "hd_time.h"
#include "herald/ce_http.h"
#include "herald/ce_json.h"

#define MAX_SEGS 10
#define JSON_CT "Content-Type: application/json\r\n"
#define RETRY_AFTER "Retry-After: 1\r\n"
#define TAIL_BATCH 512
#define DLQ_LIMIT_MAX 10000

/* The value of query parameter `name` (copied, not percent-decoded except %3A and %2B, which
 * RFC 3339 times carry); false when absent. */
static bool query_get(const char *query, const char *name, char *buf, size_t cap)
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

static void respond_json(hd_http_req_t *req, int status, cJSON *body)
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

static void respond_err(hd_http_req_t *req, hd_err_t e, const char *msg)
{
    int st = status_of(e);
    hd_http_respond_error(req, st, st == 503 ? RETRY_AFTER : NULL, msg ? msg : hd_err_message(e));
}

/* Answers 404 with "<Kind> \"ns/name\" not found" (ns and name as the path gave them). */
static void respond_not_found(hd_http_req_t *req, const char *kind, const char *ns,
                              const char *name)
{
    char m[600]; /* room for the longest ns (127) and name (299) route_v1 accepts */
    snprintf(m, sizeof m, "%s \"%s/%s\" not found", kind, ns, name);
    hd_http_respond_error(req, 404, NULL, m);
}

static void method_not_allowed(hd_http_req_t *req, const char *allow)
{
    char h[128], m[128];
    snprintf(h, sizeof h, "Allow: %s\r\n", allow);
    snprintf(m, sizeof m, "method %s not allowed here (allowed: %s)",
             http_method_str((enum http_method)req->method), allow);
    hd_http_respond_error(req, 405, h, m);
}

/* ---- resources ---------------------------------------------------------------------------- */

typedef struct {
    hd_http_req_t *req;
    bool single; /* answer with the one object, not a List */
} apply_ctx_t;

static void apply_done(void *arg, hd_err_t status, cJSON *result, const char *error)
{
    apply_ctx_t *c = arg;
    if (status) {
        respond_err(c->req, status, error);
    } else if (c->single) {
        respond_json(c->req, 200, cJSON_GetArrayItem(result, 0));
    } else {
        cJSON *list = cJSON_CreateObject();
        cJSON_AddStringToObject(list, "apiVersion", "v1");
        cJSON_AddStringToObject(list, "kind", "List");
        cJSON_AddItemToObject(list, "items", cJSON_Duplicate(result, 1));
        respond_json(c->req, 200, list);
        cJSON_Delete(list);
    }
    hd_free(c);
}

static void do_apply(hd_server_t *srv, hd_http_req_t *req, const char *text, size_t len,
                     bool single)
{
    apply_ctx_t *c = hd_calloc(1, sizeof *c);
    if (!c) {
        respond_err(req, HD_E_NOMEM, NULL);
        return;
    }
    c->req = req;
    c->single = single;
    hd_resources_apply(srv->res, text, len, apply_done, c);
}

static void delete_done(void *arg, hd_err_t status, cJSON *result, const char *error)
{
    apply_ctx_t *c = arg;
    if (status)
        respond_err(c->req, status, error);
    else
        respond_json(c->req, 200, cJSON_GetArrayItem(result, 0));
    hd_free(c);
}

static void do_delete(hd_server_t *srv, hd_http_req_t *req, const char *kind, const char *ns,
                      const char *name)
{
    apply_ctx_t *c = hd_calloc(1, sizeof *c);
    if (!c) {
        respond_err(req, HD_E_NOMEM, NULL);
        return;
    }
    c->req = req;
    hd_resources_delete(srv->res, kind, ns, name, delete_done, c);
}

static void do_list(hd_server_t *srv, hd_http_req_t *req, const hd_kind_info_t *ki, const char *ns)
{
    cJSON *items = hd_resources_list_json(srv->res, ki->plural, ns);
    if (!items) {
        respond_err(req, HD_E_NOMEM, NULL);
        return;
    }
    cJSON *list = cJSON_CreateObject();
    char api[128], kind[96];
    snprintf(api, sizeof api, "%s/%s", ki->group, ki->version);
    snprintf(kind, sizeof kind, "%sList", ki->kind);
    cJSON_AddStringToObject(list, "apiVersion", api);
    cJSON_AddStringToObject(list, "kind", kind);
    cJSON_AddItemToObject(list, "items", items);
    respond_json(req, 200, list);
    cJSON_Delete(list);
}

static void do_get(hd_server_t *srv, hd_http_req_t *req, const hd_kind_info_t *ki, const char *ns,
                   const char *name)
{
    cJSON *o = hd_resources_get_json(srv->res, ki->plural, ns, name);
    if (!o) {
        respond_not_found(req, ki->kind, ns, name);
        return;
    }
    respond_json(req, 200, o);
    cJSON_Delete(o);
}

/* PUT of one object at its URL: fills in kind/apiVersion/name/namespace when absent and refuses
 * a body that names another object. */
static void do_put(hd_server_t *srv, hd_http_req_t *req, const hd_kind_info_t *ki, const char *ns,
                   const char *name)
{
    cJSON *docs = NULL;
    char err[512];
    if (hd_manifest_parse(req->body, req->body_len, &docs, err, sizeof err)) {
        hd_http_respond_error(req, 400, NULL, err);
        return;
    }
    if (cJSON_GetArraySize(docs) != 1) {
        cJSON_Delete(docs);
        hd_http_respond_error(req, 400, NULL,
                              "PUT takes exactly one object; use POST /apply for "
                              "several");
        return;
    }
    cJSON *o = cJSON_GetArrayItem(docs, 0);
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "kind");
    if (!k) {
        cJSON_AddStringToObject(o, "kind", ki->kind);
    } else if (!cJSON_IsString(k) || strcmp(k->valuestring, ki->kind)) {
        cJSON_Delete(docs);
        snprintf(err, sizeof err, "kind: the body's kind does not match the URL (%s)", ki->kind);
        hd_http_respond_error(req, 400, NULL, err);
        return;
    }
    if (!cJSON_GetObjectItemCaseSensitive(o, "apiVersion")) {
        char api[128];
        snprintf(api, sizeof api, "%s/%s", ki->group, ki->version);
        cJSON_AddStringToObject(o, "apiVersion", api);
    }
    cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
    if (!md)
        md = cJSON_AddObjectToObject(o, "metadata");
    const char *fields[2] = {"name", "namespace"};
    const char *want[2] = {name, ns};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, fields[i]);
        if (!v) {
            cJSON_AddStringToObject(md, fields[i], want[i]);
        } else if (!cJSON_IsString(v) || strcmp(v->valuestring, want[i])) {
            cJSON_Delete(docs);
            snprintf(err, sizeof err, "metadata.%s: does not match the URL ('%s')", fields[i],
                     want[i]);
            hd_http_respond_error(req, 400, NULL, err);
            return;
        }
    }
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(docs);
    if (!text) {
        respond_err(req, HD_E_NOMEM, NULL);
        return;
    }
    do_apply(srv, req, text, strlen(text), true);
    free(text);
}

/* /apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}] and /apis/{group}/{version}/{plural} */
static void route_apis(hd_server_t *srv, hd_http_req_t *req, hd_path_seg_t *s, size_t n)
{
    char group[128], version[32], ns[128] = "", plural[64], name[300] = "";
    bool ok = n >= 4 && hd_path_seg_copy(&s[1], group, sizeof group) &&
              hd_path_seg_copy(&s[2], version, sizeof version);
    bool namespaced = ok && n >= 6 && hd_path_seg_is(&s[3], "namespaces");
    if (ok && namespaced)
        ok = hd_path_seg_copy(&s[4], ns, sizeof ns) &&
             hd_path_seg_copy(&s[5], plural, sizeof plural) &&
             (n == 6 || (n == 7 && hd_path_seg_copy(&s[6], name, sizeof name)));
    else if (ok)
        ok = n == 4 && hd_path_seg_copy(&s[3], plural, sizeof plural);
    const hd_kind_info_t *ki = ok ? hd_resources_kind_lookup(plural) : NULL;
    if (!ok || !ki || strcmp(ki->plural, plural) || strcmp(ki->group, group)) {
        char m[400];
        snprintf(m, sizeof m,
                 "no such resource path; use /apis/{group}/{version}/namespaces/{namespace}/"
                 "{plural}[/{name}], e.g. /apis/eventing.knative.dev/v1/namespaces/default/"
                 "triggers");
        hd_http_respond_error(req, 404, NULL, m);
        return;
    }
    if (!*name) {
        if (req->method != HTTP_GET) {
            method_not_allowed(req, "GET");
            return;
        }
        do_list(srv, req, ki, namespaced ? ns : NULL);
        return;
    }
    switch (req->method) {
    case HTTP_GET:
        do_get(srv, req, ki, ns, name);
        break;
    case HTTP_PUT:
        do_put(srv, req, ki, ns, name);
        break;
    case HTTP_DELETE:
        do_delete(srv, req, ki->plural, ns, name);
        break;
    default:
        method_not_allowed(req, "GET, PUT, DELETE");
    }
}

/* /v1/resources/{kind}[/{ns}[/{name}]] — the same with a lenient kind (plural, singular, Kind,
 * short name; case-insensitive), for the CLI. */
static void route_resources(hd_server_t *srv, hd_http_req_t *req, hd_path_seg_t *s, size_t n)
{
    char kind[64], ns[128] = "", name[300] = "";
    if (n < 3 || n > 5 || !hd_path_seg_copy(&s[2], kind, sizeof kind) ||
        (n >= 4 && !hd_path_seg_copy(&s[3], ns, sizeof ns)) ||
        (n == 5 && !hd_path_seg_copy(&s[4], name, sizeof name))) {
        hd_http_respond_error(req, 404, NULL, "use /v1/resources/{kind}[/{namespace}[/{name}]]");
        return;
    }
    const hd_kind_info_t *ki = hd_resources_kind_lookup(kind);
    if (!ki) {
        char m[700];
        snprintf(m, sizeof m, "unknown kind '%s' (one of %s)", kind, hd_resources_kind_names());
        hd_http_respond_error(req, 404, NULL, m);
        return;
    }
    if (n < 5) {
        if (req->method != HTTP_GET) {
            method_not_allowed(req, "GET");
            return;
        }
        do_list(srv, req, ki, n == 4 ? ns : NULL);
        return;
    }
    if (req->method == HTTP_GET)
        do_get(srv, req, ki, ns, name);
    else if (req->method == HTTP_DELETE)
        do_delete(srv, req, ki->plural, ns, name);
    else
        method_not_allowed(req, "GET, DELETE");
}

/* ---- describe ------------------------------------------------------------------------------ */

static cJSON *ready_condition(const cJSON *obj)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(obj, "status"), "conditions"))
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");
        if (cJSON_IsString(t) && !strcmp(t->valuestring, "Ready"))
            return (cJSON *)c;
    }
    return NULL;
}

static cJSON *delivery_json(const hd_delivery_t *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "retry", d->retry);
    cJSON_AddStringToObject(o, "backoffPolicy",
                            d->backoff_policy == HD_BACKOFF_LINEAR ? "linear" : "exponential");
    cJSON_AddNumberToObject(o, "backoffDelayMs", (double)d->backoff_delay_ms);
    cJSON_AddNumberToObject(o, "backoffMaxMs", (double)d->backoff_max_ms);
    cJSON_AddNumberToObject(o, "timeoutMs", (double)d->timeout_ms);
    cJSON_AddNumberToObject(o, "retryAfterMaxMs", (double)d->retry_after_max_ms);
    if (d->dead_letter_uri)
        cJSON_AddStringToObject(o, "deadLetterSink", d->dead_letter_uri);
    cJSON_AddNumberToObject(o, "maxInFlight", d->max_in_flight);
    cJSON_AddStringToObject(o, "ordering",
                            d->ordering == HD_ORDER_ORDERED ? "ordered" : "unordered");
    cJSON_AddStringToObject(o, "headerEncoding", d->header_strict ? "strict" : "compat");
    cJSON_AddStringToObject(o, "format", d->structured ? "json" : "binary");
    return o;
}

static bool count_dead(void *arg, uint32_t tid, uint64_t seq, int32_t status, uint64_t wall_ms,
                       const char *error, size_t len)
{
    (void)tid, (void)seq, (void)status, (void)wall_ms, (void)error, (void)len;
    (*(uint64_t *)arg)++;
    return true;
}

/* The fields a describe answer starts with; obj (borrowed) is the stored resource. */
static cJSON *describe_start(const char *kind, const char *ns, const char *name, uint32_t id,
                             const cJSON *obj)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", kind);
    cJSON_AddStringToObject(o, "namespace", ns);
    cJSON_AddStringToObject(o, "name", name);
    cJSON_AddNumberToObject(o, "id", id);
    cJSON *rc = ready_condition(obj);
    cJSON_AddItemToObject(o, "ready", rc ? cJSON_Duplicate(rc, 1) : cJSON_CreateNull());
    return o;
}

static void describe_trigger(hd_server_t *srv, hd_http_req_t *req, const char *ns, const char *name)
{
    hd_trigger_t *t = hd_resources_trigger(srv->res, ns, name);
    cJSON *obj = hd_resources_get_json(srv->res, "triggers", ns, name);
    if (!t || !obj) {
        cJSON_Delete(obj);
        respond_not_found(req, "Trigger", ns, name);
        return;
    }
    cJSON *o = describe_start("Trigger", ns, name, t->id, obj);
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    cJSON_AddItemToObject(o, "broker",
                          cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(spec, "broker"), 1));
    if (t->subscriber_uri)
        cJSON_AddStringToObject(o, "subscriberUri", t->subscriber_uri);
    else
        cJSON_AddNullToObject(o, "subscriberUri");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(spec, "filters");
    if (!f)
        f = cJSON_GetObjectItemCaseSensitive(spec, "filter");
    cJSON_AddItemToObject(o, "filter", f ? cJSON_Duplicate(f, 1) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "delivery", delivery_json(&t->delivery));
    cJSON *st = cJSON_AddObjectToObject(o, "stats");
    if (t->broker && srv->disp) {
        hd_dispatch_stats_t s;
        memset(&s, 0, sizeof s);
        hd_dispatch_trigger_stats(srv->disp, t, &s);
        cJSON_AddNumberToObject(st, "cursor", (double)s.cursor);
        cJSON_AddNumberToObject(st, "brokerLastSeq",
                                srv->log ? (double)hd_evlog_last_seq(srv->log, t->broker->id)
                                           : 0);
        cJSON_AddNumberToObject(st, "backlog", (double)s.backlog);
        cJSON_AddNumberToObject(st, "inFlight", (double)s.in_flight);
        cJSON_AddNumberToObject(st, "pendingRetries", (double)s.pending_retries);
        cJSON_AddNumberToObject(st, "delivered", (double)s.delivered);
        cJSON_AddNumberToObject(st, "failed", (double)s.failed);
        cJSON_AddNumberToObject(st, "deadLettered", (double)s.dead_lettered);
        cJSON_AddNumberToObject(st, "dead", (double)s.dead);
        cJSON_AddNumberToObject(st, "lastStatus", s.last_status);
        cJSON_AddStringToObject(st, "lastError", s.last_error);
    }
    uint64_t dead = 0;
    if (srv->log)
        hd_evlog_dead_scan(srv->log, t->id, count_dead, &dead);
    cJSON_AddNumberToObject(st, "deadLetters", (double)dead);
    cJSON_AddItemToObject(o, "resource", obj);
    respond_json(req, 200, o);
    cJSON_Delete(o);
}

typedef struct {
    hd_server_t *srv;
    cJSON *arr;
} brk_trig_ctx_t;

static void add_trigger_line(void *arg, hd_trigger_t *t)
{
    brk_trig_ctx_t *c = arg;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddBoolToObject(o, "ready", t->ready);
    if (c->srv->disp) {
        hd_dispatch_stats_t s;
        memset(&s, 0, sizeof s);
        hd_dispatch_trigger_stats(c->srv->disp, t, &s);
        cJSON_AddNumberToObject(o, "backlog", (double)s.backlog);
        cJSON_AddNumberToObject(o, "inFlight", (double)s.in_flight);
    }
    cJSON_AddItemToArray(c->arr, o);
}

static void describe_broker(hd_server_t *srv, hd_http_req_t *req, const char *ns, const char *name)
{
    hd_broker_t *b = hd_resources_broker(srv->res, ns, strlen(ns), name, strlen(name));
    cJSON *obj = hd_resources_get_json(srv->res, "brokers", ns, name);
    if (!b || !obj) {
        cJSON_Delete(obj);
        respond_not_found(req, "Broker", ns, name);
        return;
    }
    cJSON *o = describe_start("Broker", ns, name, b->id, obj);
    cJSON_AddStringToObject(o, "address", b->address_url);
    hd_delivery_t eff; /* what a trigger that sets nothing gets */
    hd_delivery_merge(&eff, NULL, &b->delivery);
    cJSON_AddItemToObject(o, "delivery", delivery_json(&eff));
    cJSON *st = cJSON_AddObjectToObject(o, "stats");
    if (srv->log) {
        cJSON_AddNumberToObject(st, "firstSeq", (double)hd_evlog_first_seq(srv->log, b->id));
        cJSON_AddNumberToObject(st, "lastSeq", (double)hd_evlog_last_seq(srv->log, b->id));
        cJSON_AddNumberToObject(st, "events", (double)hd_evlog_count(srv->log, b->id));
    }
    cJSON_AddNumberToObject(st, "triggers", (double)hd_router_count(b->router));
    cJSON_AddNumberToObject(st, "scannedTriggers", (double)hd_router_scan_count(b->router));
    brk_trig_ctx_t c = {srv, cJSON_AddArrayToObject(o, "triggers")};
    hd_resources_each_trigger(srv->res, b, add_trigger_line, &c);
    cJSON_AddItemToObject(o, "resource", obj);
    respond_json(req, 200, o);
    cJSON_Delete(o);
}

/* ---- dead letters and replay -------------------------------------------------------------- */

typedef struct {
    hd_server_t *srv;
    hd_trigger_t *t;
    cJSON *arr;
    size_t n, limit;
} dlq_ctx_t;

static bool dlq_one(void *arg, uint32_t tid, uint64_t seq, int32_t status, uint64_t wall_ms,
                    const char *error, size_t len)
{
    (void)tid;
    dlq_ctx_t *c = arg;
    if (c->n >= c->limit)
        return false;
    cJSON *o = cJSON_CreateObject();
    char ts[40];
    hd_time_rfc3339_format(wall_ms, true, ts, sizeof ts);
    cJSON_AddNumberToObject(o, "seq", (double)seq);
    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddStringToObject(o, "time", ts);
    char *e = hd_strndup(error, len);
    cJSON_AddStringToObject(o, "error", e ? e : "");
    hd_free(e);
    ce_event_t *ev = NULL;
    if (c->t->broker && hd_evlog_get(c->srv->log, c->t->broker->id, seq, &ev) == HD_E_OK) {
        cJSON *eo = cJSON_AddObjectToObject(o, "event");
        const char *names[] = {"id", "source", "type", "time"};
        for (size_t i = 0; i < 4; i++) {
            const char *v = ce_event_get_str(ev, names[i]);
            if (v)
                cJSON_AddStringToObject(eo, names[i], v);
        }
        ce_event_free(ev);
    }
    cJSON_AddItemToArray(c->arr, o);
    c->n++;
    return true;
}

static hd_trigger_t *trigger_or_404(hd_server_t *srv, hd_http_req_t *req, const char *ns,
                                    const char *name, bool need_broker)
{
    hd_trigger_t *t = hd_resources_trigger(srv->res, ns, name);
    char m[600];
    if (!t) {
        respond_not_found(req, "Trigger", ns, name);
        return NULL;
    }
    if (need_broker && (!t->broker || !srv->disp || !srv->log)) {
        snprintf(m, sizeof m,
                 "Trigger \"%s/%s\" is not bound to a broker yet (see herald "
                 "describe trigger %s -n %s)",
                 ns, name, name, ns);
        hd_http_respond_error(req, 409, NULL, m);
        return NULL;
    }
    return t;
}

static void dlq_list(hd_server_t *srv, hd_http_req_t *req, const char *ns, const char *name)
{
    hd_trigger_t *t = trigger_or_404(srv, req, ns, name, false);
    if (!t)
        return;
    char lim[32];
    size_t limit = 1000;
    if (query_get(req->query, "limit", lim, sizeof lim)) {
        long v = strtol(lim, NULL, 10);
        if (v < 1 || v > DLQ_LIMIT_MAX) {
            hd_http_respond_error(req, 400, NULL, "limit: must be from 1 to 10000");
            return;
        }
        limit = (size_t)v;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "trigger", name);
    cJSON_AddStringToObject(o, "namespace", ns);
    dlq_ctx_t c = {srv, t, cJSON_AddArrayToObject(o, "items"), 0, limit};
    if (srv->log)
        hd_evlog_dead_scan(srv->log, t->id, dlq_one, &c);
    respond_json(req, 200, o);
    cJSON_Delete(o);
}

static void dlq_replay(hd_server_t *srv, hd_http_req_t *req, const char *ns, const char *name)
{
    hd_trigger_t *t = trigger_or_404(srv, req, ns, name, true);
    if (!t)
        return;
    char v[32];
    uint64_t seq = 0;
    if (query_get(req->query, "seq", v, sizeof v) &&
        (!hd_parse_u64(v, strlen(v), &seq) || seq == 0)) {
        hd_http_respond_error(req, 400, NULL, "seq: must be a positive integer");
        return;
    }
    size_t n = hd_dispatch_dlq_replay(srv->disp, t, seq);
    if (seq && n == 0) {
        char m[300];
        snprintf(m, sizeof m, "no dead letter with seq %llu for Trigger \"%s/%s\"",
                 (unsigned long long)seq, ns, name);
        hd_http_respond_error(req, 404, NULL, m);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "replayed", (double)n);
    respond_json(req, 200, o);
    cJSON_Delete(o);
}

static void replay(hd_server_t *srv, hd_http_req_t *req, const char *ns, const char *name)
{
    hd_trigger_t *t = trigger_or_404(srv, req, ns, name, true);
    if (!t)
        return;
    char from[80];
    uint64_t seq, ms;
    if (!query_get(req->query, "from", from, sizeof from)) {
        hd_http_respond_error(req, 400, NULL,
                              "from: required, a sequence number or an RFC 3339 time");
        return;
    }
    if (!hd_parse_u64(from, strlen(from), &seq)) {
        if (!hd_time_rfc3339_parse(from, &ms)) {
            char m[200];
            snprintf(m, sizeof m,
                     "from: '%s' is neither a sequence number nor an RFC 3339 time "
                     "(2026-01-02T15:04:05Z)",
                     from);
            hd_http_respond_error(req, 400, NULL, m);
            return;
        }
        seq = hd_evlog_seq_at_time(srv->log, t->broker->id, ms);
    }
    if (seq == 0)
        seq = 1;
    hd_err_t e = hd_dispatch_replay(srv->disp, t, seq);
    if (e == HD_E_NOTFOUND) {
        char m[300];
        snprintf(m, sizeof m, "seq %llu is no longer stored (retention); the first kept is %llu",
                 (unsigned long long)seq,
                 (unsigned long long)hd_evlog_first_seq(srv->log, t->broker->id));
        hd_http_respond_error(req, 404, NULL, m);
        return;
    }
    if (e) {
        respond_err(req, e, NULL);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "from", (double)seq);
    cJSON_AddNumberToObject(o, "to", (double)hd_evlog_last_seq(srv->log, t->broker->id));
    respond_json(req, 200, o);
    cJSON_Delete(o);
}

/* ---- send ----------------------------------------------------------------------------------- */

static void send_events(hd_server_t *srv, hd_http_req_t *req, const char *ns, const char *name)
{
    hd_broker_t *b = hd_resources_broker(srv->res, ns, strlen(ns), name, strlen(name));
    if (!b) {
        respond_not_found(req, "Broker", ns, name);
        return;
    }
    if (!srv->ingest) {
        hd_http_respond_error(req, 503, RETRY_AFTER, "the ingress is not running");
        return;
    }
    hd_ingress_post(srv->ingest, req, b);
}

/* ---- tail --------------------------------------------------------------------------------- */

typedef struct {
    hd_server_t *srv;
    hd_http_req_t *req;
    uint32_t broker_id;
    uint64_t next_seq;
    uint64_t dropped;
    hd_metric_t *drops;
    bool closed;
    uv_timer_t timer; /* once a second: is the broker still there? */
} tail_t;

static void tail_on_commit(void *arg, uint32_t broker_id, uint64_t last_seq);

static void tail_timer_closed(uv_handle_t *h)
{
    hd_free(hd_container_of((uv_timer_t *)h, tail_t, timer));
}

/* Stops producing for good; t is freed once its timer handle is closed. */
static void tail_finish(tail_t *t)
{
    if (t->closed)
        return;
    t->closed = true;
    hd_evlog_unwatch(t->srv->log, tail_on_commit, t);
    uv_close((uv_handle_t *)&t->timer, tail_timer_closed);
}

/* A deleted broker ends its tails (the client sees the end of the stream). */
static void tail_tick(uv_timer_t *h)
{
    tail_t *t = hd_container_of(h, tail_t, timer);
    if (t->closed)
        return;
    if (!t->srv->res || !hd_resources_broker_by_id(t->srv->res, t->broker_id)) {
        hd_http_stream_end(t->req);
        tail_finish(t);
    }
}

typedef struct {
    tail_t *t;
    ce_buf_t buf;
    bool gone;
} tail_scan_t;

static bool tail_event(void *arg, uint64_t seq, uint64_t ingest_ms, ce_event_t *ev)
{
    (void)ingest_ms;
    tail_scan_t *s = arg;
    tail_t *t = s->t;
    t->next_seq = seq + 1;
    if (ev == NULL)
        return true;
    s->buf.len = 0;
    ce_err_t ce = ce_json_encode(ev, &s->buf);
    ce_event_free(ev);
    if (ce || ce_buf_append(&s->buf, "\n", 1)) {
        t->dropped++;
        hd_metric_inc(t->drops, 1);
        return true;
    }
    hd_err_t e = hd_http_stream_write(t->req, s->buf.data, s->buf.len);
    if (e == HD_E_BUSY || e == HD_E_NOMEM) {
        /* slow reader over the high-water mark: drop this event for this client, count it */
        t->dropped++;
        hd_metric_inc(t->drops, 1);
    } else if (e) {
        s->gone = true;
        return false;
    }
    return true;
}

static void tail_on_commit(void *arg, uint32_t broker_id, uint64_t last_seq)
{
    tail_t *t = arg;
    if (t->closed || broker_id != t->broker_id || last_seq < t->next_seq)
        return;
    tail_scan_t s = {t, {0}, false};
    while (!s.gone && t->next_seq <= last_seq) {
        uint64_t before = t->next_seq;
        if (hd_evlog_read(t->srv->log, t->broker_id, t->next_seq, TAIL_BATCH, tail_event,
                                 &s) != HD_E_OK)
            break;
        if (t->next_seq == before) /* nothing stored there any more (trimmed) */
            t->next_seq = last_seq + 1;
    }
    ce_buf_free(&s.buf);
    /* if the client went away (s.gone), its close callback ends the stream and frees t */
}

static void tail_closed(hd_http_req_t *req, void *arg)
{
    hd_http_stream_end(req);
    tail_finish(arg);
}

static void tail(hd_server_t *srv, hd_http_req_t *req, const char *ns, const char *name)
{
    hd_broker_t *b = hd_resources_broker(srv->res, ns, strlen(ns), name, strlen(name));
    if (!b) {
        respond_not_found(req, "Broker", ns, name);
        return;
    }
    if (!srv->log) {
        hd_http_respond_error(req, 503, NULL, "no store");
        return;
    }
    tail_t *t = hd_calloc(1, sizeof *t);
    if (!t) {
        respond_err(req, HD_E_NOMEM, NULL);
        return;
    }
    t->srv = srv;
    t->req = req;
    t->broker_id = b->id;
    t->next_seq = hd_evlog_last_seq(srv->log, b->id) + 1;
    char from[32];
    uint64_t f;
    if (query_get(req->query, "from", from, sizeof from) && hd_parse_u64(from, strlen(from), &f) &&
        f > 0)
        t->next_seq = f;
    t->drops = srv->metrics ? hd_metrics_counter(srv->metrics, "herald_tail_dropped_total",
                                                 "Events not written to a slow tail client "
                                                 "(over its output high-water mark)",
                                                 "namespace", ns, "broker", name)
                            : NULL;
    if (!srv->loop || uv_timer_init(srv->loop, &t->timer)) {
        hd_free(t);
        respond_err(req, HD_E_NOMEM, "cannot start a tail");
        return;
    }
    if (hd_evlog_watch(srv->log, tail_on_commit, t)) {
        t->closed = true;
        uv_close((uv_handle_t *)&t->timer, tail_timer_closed);
        respond_err(req, HD_E_NOMEM, NULL);
        return;
    }
    uv_unref((uv_handle_t *)&t->timer); /* never keeps the loop alive on its own */
    uv_timer_start(&t->timer, tail_tick, 1000, 1000);
    hd_http_stream_start(req, 200,
                         "Content-Type: application/x-ndjson\r\nCache-Control: no-cache\r\n");
    hd_http_stream_on_close(req, tail_closed, t);
    /* events already stored from ?from= on are sent now */
    uint64_t last = hd_evlog_last_seq(srv->log, b->id);
    if (last >= t->next_seq)
        tail_on_commit(t, b->id, last);
}

/* ---- the router ---------------------------------------------------------------------------- */

/* One operation on a named broker or trigger: /v1/{brokers|triggers}/{ns}/{name}/{op}[/{sub}]. */
typedef struct {
    bool triggers;     /* on a trigger, else on a broker */
    const char *op;    /* the 5th segment */
    const char *sub;   /* the 6th segment, or NULL for a 5-segment path */
    int method;        /* enum http_method, as in hd_http_req_t */
    const char *allow; /* the Allow header of a 405 */
    void (*fn)(hd_server_t *srv, hd_http_req_t *req, const char *ns, const char *name);
} v1_op_t;

static const v1_op_t v1_ops[] = {
    {false, "tail", NULL, HTTP_GET, "GET", tail},
    {false, "events", NULL, HTTP_POST, "POST", send_events},
    {false, "describe", NULL, HTTP_GET, "GET", describe_broker},
    {true, "describe", NULL, HTTP_GET, "GET", describe_trigger},
    {true, "dlq", NULL, HTTP_GET, "GET", dlq_list},
    {true, "dlq", "replay", HTTP_POST, "POST", dlq_replay},
    {true, "replay", NULL, HTTP_POST, "POST", replay},
};

static void route_v1(hd_server_t *srv, hd_http_req_t *req, hd_path_seg_t *s, size_t n)
{
    if (n >= 2 && hd_path_seg_is(&s[1], "resources")) {
        route_resources(srv, req, s, n);
        return;
    }
    char ns[128], name[300];
    bool brokers = n >= 5 && hd_path_seg_is(&s[1], "brokers");
    bool triggers = n >= 5 && hd_path_seg_is(&s[1], "triggers");
    if ((brokers || triggers) && hd_path_seg_copy(&s[2], ns, sizeof ns) &&
        hd_path_seg_copy(&s[3], name, sizeof name)) {
        for (size_t i = 0; i < sizeof v1_ops / sizeof v1_ops[0]; i++) {
            const v1_op_t *o = &v1_ops[i];
            if (o->triggers != triggers || n != (o->sub ? 6u : 5u) ||
                !hd_path_seg_is(&s[4], o->op) || (o->sub && !hd_path_seg_is(&s[5], o->sub)))
                continue;
            if (req->method != o->method)
                method_not_allowed(req, o->allow);
            else
                o->fn(srv, req, ns, name);
            return;
        }
    }
    hd_http_respond_error(req, 404, NULL, "unknown admin path (see hd_admin.h or herald --help)");
}

void hd_admin_handle(void *ctx, hd_http_req_t *req)
{
    hd_server_t *srv = ctx;
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
            method_not_allowed(req, "GET, HEAD");
            return;
        }
        bool ok = hd_path_seg_is(&s[0], "healthz") || srv->ready;
        hd_http_respond(req, ok ? 200 : 503, "Content-Type: text/plain\r\n",
                        ok ? "ok\n" : "not ready\n", ok ? 3 : 10);
        return;
    }
    if (n == 1 && hd_path_seg_is(&s[0], "metrics")) {
        if (req->method != HTTP_GET) {
            method_not_allowed(req, "GET");
            return;
        }
        size_t len = 0;
        char *text = srv->metrics ? hd_metrics_render(srv->metrics, &len) : NULL;
        if (!text) {
            respond_err(req, HD_E_NOMEM, "metrics unavailable");
            return;
        }
        hd_http_respond(req, 200, "Content-Type: text/plain; version=0.0.4\r\n", text, len);
        hd_free(text);
        return;
    }
    if (n == 1 && hd_path_seg_is(&s[0], "ui")) {
        if (req->method != HTTP_GET) {
            method_not_allowed(req, "GET");
            return;
        }
        hd_admin__ui(req);
        return;
    }
    if (n == 1 && hd_path_seg_is(&s[0], "apply")) {
        if (req->method != HTTP_POST) {
            method_not_allowed(req, "POST");
            return;
        }
        if (!srv->res) {
            respond_err(req, HD_E_BUSY, "resources not loaded yet");
            return;
        }
        do_apply(srv, req, req->body ? req->body : "", req->body_len, false);
        return;
    }
    if (!srv->res) {
        respond_err(req, HD_E_BUSY, "resources not loaded yet");
        return;
    }
    if (n >= 1 && hd_path_seg_is(&s[0], "apis")) {
        route_apis(srv, req, s, n);
        return;
    }
    if (n >= 1 && hd_path_seg_is(&s[0], "v1")) {
        route_v1(srv, req, s, n);
        return;
    }
    hd_http_respond_error(req, 404, NULL,
                          "unknown admin path: try /apis/..., /apply, /metrics, /healthz, "
                          "/v1/resources/{kind}");
}
