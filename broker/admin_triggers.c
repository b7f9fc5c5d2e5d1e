/*
 * admin_triggers.c — the operations of the admin API on one object (hd_admin.h), behind `herald
 * describe|send|dlq|replay`: describe a broker or channel (address, log bounds, its consumers
 * with their backlogs), POST events into one (the ingress's own path, hd_ingress_post), and
 * describe, list and replay the dead letters of, and replay a trigger or subscription. A channel
 * answers as a broker does and a subscription as a trigger does, with the same JSON shapes: only
 * the member naming the log ("broker" / "channel") and a trigger's "filter" / a subscription's
 * "reply" differ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"
#include "hd_dispatch.h"
#include "hd_evlog.h"
#include "hd_ingress.h"
#include "hd_router.h"
#include "hd_time.h"

#define DLQ_LIMIT_MAX 10000

hd_broker_t *hd_admin__log_lookup(hd_admin_ctx_t *a, const hd_admin__kind_t *k, const char *ns,
                                  const char *name)
{
    return k->channel ? hd_resources_channel(a->res, ns, strlen(ns), name, strlen(name))
                      : hd_resources_broker(a->res, ns, strlen(ns), name, strlen(name));
}

static hd_trigger_t *consumer_lookup(hd_admin_ctx_t *a, const hd_admin__kind_t *k, const char *ns,
                                     const char *name)
{
    return k->channel ? hd_resources_subscription(a->res, ns, name)
                      : hd_resources_trigger(a->res, ns, name);
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

/* An RFC 3339 time member, or null for 0 (never). */
static void add_time(cJSON *o, const char *name, uint64_t wall_ms)
{
    char ts[40];
    if (wall_ms == 0) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    hd_time_rfc3339_format(wall_ms, true, ts, sizeof ts);
    cJSON_AddStringToObject(o, name, ts);
}

/* The failing state of a trigger or subscription (the contract k-cli and the UI read):
 * failing, failingSince, failedAttempts, lastBody, lastAttemptAt. */
static void add_failing_state(cJSON *st, const hd_dispatch_stats_t *s)
{
    cJSON_AddBoolToObject(st, "failing", s->failing);
    add_time(st, "failingSince", s->failing ? s->failing_since_ms : 0);
    cJSON_AddNumberToObject(st, "failedAttempts", (double)s->failed_attempts);
    cJSON_AddStringToObject(st, "lastBody", s->last_body);
    add_time(st, "lastAttemptAt", s->last_attempt_ms);
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

/* A subscription's reply: the URI it resolved to; while unresolved, what its spec names (so
 * describe does not say "no reply" for a reply that is only not there yet); null without one. */
static cJSON *reply_json(const hd_trigger_t *t, const cJSON *spec)
{
    if (t->reply_uri)
        return cJSON_CreateString(t->reply_uri);
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(spec, "reply");
    /* with a reply and no subscriber, every event is forwarded to the reply: the registry resolved
     * it as the subscriber */
    if (r && t->subscriber_uri && !cJSON_GetObjectItemCaseSensitive(spec, "subscriber"))
        return cJSON_CreateString(t->subscriber_uri);
    return r ? cJSON_Duplicate(r, 1) : cJSON_CreateNull();
}

void hd_admin__describe_consumer(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                                 const char *ns, const char *name)
{
    hd_trigger_t *t = consumer_lookup(a, k, ns, name);
    cJSON *obj = hd_resources_get_json(a->res, k->plural, ns, name);
    if (!t || !obj) {
        cJSON_Delete(obj);
        hd_admin__respond_not_found(req, k->kind, ns, name);
        return;
    }
    cJSON *o = describe_start(k->kind, ns, name, t->id, obj);
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
    if (k->channel) {
        const cJSON *ch = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(spec, "channel"), "name");
        cJSON_AddItemToObject(o, "channel",
                              cJSON_IsString(ch) ? cJSON_CreateString(ch->valuestring)
                                                 : cJSON_CreateNull());
    } else {
        cJSON_AddItemToObject(o, "broker",
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(spec, "broker"), 1));
    }
    if (t->subscriber_uri)
        cJSON_AddStringToObject(o, "subscriberUri", t->subscriber_uri);
    else
        cJSON_AddNullToObject(o, "subscriberUri");
    if (k->channel) {
        cJSON_AddItemToObject(o, "reply", reply_json(t, spec));
    } else {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(spec, "filters");
        if (!f)
            f = cJSON_GetObjectItemCaseSensitive(spec, "filter");
        cJSON_AddItemToObject(o, "filter", f ? cJSON_Duplicate(f, 1) : cJSON_CreateNull());
    }
    cJSON_AddItemToObject(o, "delivery", delivery_json(&t->delivery));
    cJSON *st = cJSON_AddObjectToObject(o, "stats");
    if (t->broker && a->disp) {
        hd_dispatch_stats_t s;
        memset(&s, 0, sizeof s);
        hd_dispatch_trigger_stats(a->disp, t, &s);
        cJSON_AddNumberToObject(st, "cursor", (double)s.cursor);
        /* the last seq of its log, a broker's or a channel's: one name for both shapes */
        cJSON_AddNumberToObject(st, "brokerLastSeq",
                                a->log ? (double)hd_evlog_last_seq(a->log, t->broker->id) : 0);
        cJSON_AddNumberToObject(st, "backlog", (double)s.backlog);
        cJSON_AddBoolToObject(st, "backlogExact", s.backlog_exact);
        cJSON_AddNumberToObject(st, "inFlight", (double)s.in_flight);
        cJSON_AddNumberToObject(st, "pendingRetries", (double)s.pending_retries);
        cJSON_AddNumberToObject(st, "delivered", (double)s.delivered);
        cJSON_AddNumberToObject(st, "failed", (double)s.failed);
        cJSON_AddNumberToObject(st, "deadLettered", (double)s.dead_lettered);
        cJSON_AddNumberToObject(st, "dead", (double)s.dead);
        cJSON_AddNumberToObject(st, "awaitingDeadLetterSink", (double)s.awaiting_dead_letter_sink);
        /* 0: no HTTP answer (a network error, a timeout) or no failure yet */
        cJSON_AddNumberToObject(st, "lastStatus", s.last_status > 0 ? s.last_status : 0);
        cJSON_AddStringToObject(st, "lastError", s.last_error);
        add_failing_state(st, &s);
    }
    uint64_t dead = 0;
    if (a->log)
        hd_evlog_dead_scan(a->log, t->id, count_dead, &dead);
    cJSON_AddNumberToObject(st, "deadLetters", (double)dead);
    cJSON_AddItemToObject(o, "resource", obj);
    hd_admin__respond_json(req, 200, o);
    cJSON_Delete(o);
}

typedef struct {
    hd_admin_ctx_t *a;
    const hd_broker_t *b;
    cJSON *arr;
} consumer_lines_t;

static void add_consumer_line(void *arg, hd_trigger_t *t)
{
    consumer_lines_t *c = arg;
    /* a broker lists its triggers, a channel its subscriptions, never the other kind */
    if (t->subscription != c->b->channel)
        return;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", t->name);
    cJSON_AddBoolToObject(o, "ready", t->ready);
    if (c->a->disp) {
        hd_dispatch_stats_t s;
        memset(&s, 0, sizeof s);
        hd_dispatch_trigger_stats(c->a->disp, t, &s);
        cJSON_AddNumberToObject(o, "backlog", (double)s.backlog);
        cJSON_AddNumberToObject(o, "inFlight", (double)s.in_flight);
    }
    cJSON_AddItemToArray(c->arr, o);
}

/* The stored resource of a broker or channel (owned; NULL when absent) and its Kind: a channel
 * is a Channel or an InMemoryChannel, looked up in the order hd_resources_channel uses. */
static cJSON *log_resource(hd_admin_ctx_t *a, const hd_admin__kind_t *k, const char *ns,
                           const char *name, const char **kind)
{
    static const struct {
        const char *plural, *kind;
    } channels[] = {{"inmemorychannels", "InMemoryChannel"}, {"channels", "Channel"}};
    *kind = k->kind;
    if (!k->channel)
        return hd_resources_get_json(a->res, k->plural, ns, name);
    for (size_t i = 0; i < sizeof channels / sizeof channels[0]; i++) {
        cJSON *obj = hd_resources_get_json(a->res, channels[i].plural, ns, name);
        if (obj) {
            *kind = channels[i].kind;
            return obj;
        }
    }
    return NULL;
}

void hd_admin__describe_log(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                            const char *ns, const char *name)
{
    hd_broker_t *b = hd_admin__log_lookup(a, k, ns, name);
    const char *kind;
    cJSON *obj = b ? log_resource(a, k, ns, name, &kind) : NULL;
    if (!b || !obj) {
        cJSON_Delete(obj);
        hd_admin__respond_not_found(req, k->kind, ns, name);
        return;
    }
    cJSON *o = describe_start(kind, ns, name, b->id, obj);
    cJSON_AddStringToObject(o, "address", b->address_url);
    hd_delivery_t eff; /* what a trigger or subscription that sets nothing gets */
    hd_delivery_merge(&eff, NULL, &b->delivery);
    cJSON_AddItemToObject(o, "delivery", delivery_json(&eff));
    cJSON *st = cJSON_AddObjectToObject(o, "stats");
    if (a->log) {
        cJSON_AddNumberToObject(st, "firstSeq", (double)hd_evlog_first_seq(a->log, b->id));
        cJSON_AddNumberToObject(st, "lastSeq", (double)hd_evlog_last_seq(a->log, b->id));
        cJSON_AddNumberToObject(st, "events", (double)hd_evlog_count(a->log, b->id));
    }
    /* a channel's subscriptions are counted and listed under the broker's names */
    cJSON_AddNumberToObject(st, "triggers", (double)hd_router_count(b->router));
    cJSON_AddNumberToObject(st, "scannedTriggers", (double)hd_router_scan_count(b->router));
    consumer_lines_t c = {a, b, cJSON_AddArrayToObject(o, "triggers")};
    hd_resources_each_trigger(a->res, b, add_consumer_line, &c);
    cJSON_AddItemToObject(o, "resource", obj);
    hd_admin__respond_json(req, 200, o);
    cJSON_Delete(o);
}

/* ---- send ----------------------------------------------------------------------------------- */

void hd_admin__events(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                      const char *ns, const char *name)
{
    hd_broker_t *b = hd_admin__log_lookup(a, k, ns, name);
    if (!b) {
        hd_admin__respond_not_found(req, k->kind, ns, name);
        return;
    }
    if (!a->ingress) {
        hd_http_respond_error(req, 503, HD_ADMIN__RETRY_AFTER, "the ingress is not running");
        return;
    }
    hd_ingress_post(a->ingress, req, b);
}

/* ---- dead letters and replay -------------------------------------------------------------- */

typedef struct {
    hd_admin_ctx_t *a;
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
    if (c->t->broker && hd_evlog_get(c->a->log, c->t->broker->id, seq, &ev) == HD_E_OK) {
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

/* The trigger or subscription ns/name, or NULL after answering 404 (absent) or, with need_log,
 * 409 (not bound to its broker or channel, or the daemon is stopping). */
static hd_trigger_t *consumer_or_404(hd_admin_ctx_t *a, hd_http_req_t *req,
                                     const hd_admin__kind_t *k, const char *ns, const char *name,
                                     bool need_log)
{
    hd_trigger_t *t = consumer_lookup(a, k, ns, name);
    char m[900];
    if (!t) {
        hd_admin__respond_not_found(req, k->kind, ns, name);
        return NULL;
    }
    if (need_log && (!t->broker || !a->disp || !a->log)) {
        snprintf(m, sizeof m,
                 "%s \"%s/%s\" is not bound to a %s yet (see herald "
                 "describe %s %s -n %s)",
                 k->kind, ns, name, k->channel ? "channel" : "broker",
                 k->channel ? "subscription" : "trigger", name, ns);
        hd_http_respond_error(req, 409, NULL, m);
        return NULL;
    }
    return t;
}

void hd_admin__dlq_list(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                        const char *ns, const char *name)
{
    hd_trigger_t *t = consumer_or_404(a, req, k, ns, name, false);
    if (!t)
        return;
    char lim[32];
    size_t limit = 1000;
    if (hd_admin__query_get(req->query, "limit", lim, sizeof lim)) {
        long v = strtol(lim, NULL, 10);
        if (v < 1 || v > DLQ_LIMIT_MAX) {
            hd_http_respond_error(req, 400, NULL, "limit: must be from 1 to 10000");
            return;
        }
        limit = (size_t)v;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, k->channel ? "subscription" : "trigger", name);
    cJSON_AddStringToObject(o, "namespace", ns);
    dlq_ctx_t c = {a, t, cJSON_AddArrayToObject(o, "items"), 0, limit};
    if (a->log)
        hd_evlog_dead_scan(a->log, t->id, dlq_one, &c);
    hd_admin__respond_json(req, 200, o);
    cJSON_Delete(o);
}

void hd_admin__dlq_replay(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                          const char *ns, const char *name)
{
    hd_trigger_t *t = consumer_or_404(a, req, k, ns, name, true);
    if (!t)
        return;
    char v[32];
    uint64_t seq = 0;
    if (hd_admin__query_get(req->query, "seq", v, sizeof v) &&
        (!hd_parse_u64(v, strlen(v), &seq) || seq == 0)) {
        hd_http_respond_error(req, 400, NULL, "seq: must be a positive integer");
        return;
    }
    size_t n = hd_dispatch_dlq_replay(a->disp, t, seq);
    if (seq && n == 0) {
        char m[600];
        snprintf(m, sizeof m, "no dead letter with seq %llu for %s \"%s/%s\"",
                 (unsigned long long)seq, k->kind, ns, name);
        hd_http_respond_error(req, 404, NULL, m);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "replayed", (double)n);
    hd_admin__respond_json(req, 200, o);
    cJSON_Delete(o);
}

void hd_admin__replay(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_admin__kind_t *k,
                      const char *ns, const char *name)
{
    hd_trigger_t *t = consumer_or_404(a, req, k, ns, name, true);
    if (!t)
        return;
    char from[80];
    uint64_t seq, ms;
    if (!hd_admin__query_get(req->query, "from", from, sizeof from)) {
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
        seq = hd_evlog_seq_at_time(a->log, t->broker->id, ms);
    }
    if (seq == 0)
        seq = 1;
    hd_dispatch_replay_info_t ri;
    hd_err_t e = hd_dispatch_replay(a->disp, t, seq, &ri);
    if (e) {
        hd_admin__respond_err(req, e, NULL);
        return;
    }
    /* what is replayed, and what retention already deleted of what was asked (never a wait:
     * the answer comes at once, the deliveries follow) */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "from", (double)ri.from);
    cJSON_AddNumberToObject(o, "to", (double)ri.last);
    cJSON_AddNumberToObject(o, "firstAvailable", (double)ri.first_available);
    cJSON_AddNumberToObject(o, "gone", (double)ri.gone);
    cJSON_AddNumberToObject(o, "events", (double)ri.events);
    cJSON_AddNumberToObject(o, "replayed", (double)ri.replayed);
    cJSON_AddBoolToObject(o, "replayedExact", ri.replayed_exact);
    hd_admin__respond_json(req, 200, o);
    cJSON_Delete(o);
}
