/*
 * resources_status.c — status.conditions of every kind, resolution of destinations (a uri, or a
 * ref to a resource of this heraldd, reached in process when it is a log), the refresh passes
 * that re-resolve what depends on what changed, a channel's status.subscribers and a flow's
 * status (resources_internal.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_time.h"
#include "hd_path.h"
#include "resources_internal.h"

/* ---- status ------------------------------------------------------------------------------- */

/* Adds a condition, keeping lastTransitionTime when status and reason are unchanged. */
static void add_condition(cJSON *conds, const cJSON *old_status, const char *type, bool ok,
                          const char *reason, const char *message)
{
    char now[40];
    hd_time_rfc3339_format(hd_wall_ms(), false, now, sizeof now);
    const char *ltt = now;
    const cJSON *oc = cJSON_GetObjectItemCaseSensitive(old_status, "conditions");
    const cJSON *c;
    cJSON_ArrayForEach(c, oc)
    {
        const char *t = hd_resources__jstr(c, "type"), *s = hd_resources__jstr(c, "status"),
                   *rs = hd_resources__jstr(c, "reason");
        if (t && !strcmp(t, type) && s && !strcmp(s, ok ? "True" : "False") && rs &&
            !strcmp(rs, reason) && hd_resources__jstr(c, "lastTransitionTime"))
            ltt = hd_resources__jstr(c, "lastTransitionTime");
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "status", ok ? "True" : "False");
    cJSON_AddStringToObject(o, "reason", reason);
    if (message && *message)
        cJSON_AddStringToObject(o, "message", message);
    cJSON_AddStringToObject(o, "lastTransitionTime", ltt);
    cJSON_AddItemToArray(conds, o);
}

/* A condition that does not decide Ready (Knative's severity Warning when it is False). */
static void add_warning_condition(cJSON *conds, const cJSON *old_status, const char *type, bool ok,
                                  const char *reason, const char *message)
{
    add_condition(conds, old_status, type, ok, reason, message);
    if (!ok)
        cJSON_AddStringToObject(cJSON_GetArrayItem(conds, cJSON_GetArraySize(conds) - 1),
                                "severity", "Warning");
}

/* The DeadLetterSinkResolved condition of a log or consumer whose delivery has a sink. */
static void dls_condition(cJSON *conds, const cJSON *old, const char *url, const char *why)
{
    add_warning_condition(conds, old, "DeadLetterSinkResolved", url != NULL,
                          url ? "DeadLetterSinkResolved" : "DeadLetterSinkResolveFailed",
                          url           ? ""
                          : why && *why ? why
                                        : "the dead-letter sink does not resolve");
}

#define DLS_WAITING                                                                                \
    "; the dead-letter sink does not resolve: events that exhaust their retries stay pending "     \
    "until it does (stats.awaitingDeadLetterSink)"

long long hd_resources__generation(const cJSON *obj)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "generation");
    return cJSON_IsNumber(g) ? (long long)g->valuedouble : 1;
}

/* The Ready condition of a status, or NULL. */
static const cJSON *ready_condition(const cJSON *status)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(status, "conditions"))
    {
        const char *t = hd_resources__jstr(c, "type");
        if (t && !strcmp(t, "Ready"))
            return c;
    }
    return NULL;
}

/* Logs (info) a Ready condition that changed its status or reason. */
static void log_ready_change(const record_t *x, const cJSON *old_st, const cJSON *new_st)
{
    const cJSON *o = ready_condition(old_st), *n = ready_condition(new_st);
    const char *ns_ = n ? hd_resources__jstr(n, "status") : NULL;
    const char *nr = n ? hd_resources__jstr(n, "reason") : NULL;
    if (!ns_)
        return;
    const char *os = o ? hd_resources__jstr(o, "status") : NULL;
    const char *orr = o ? hd_resources__jstr(o, "reason") : NULL;
    if (os && !strcmp(os, ns_) && ((!orr && !nr) || (orr && nr && !strcmp(orr, nr))))
        return;
    const char *msg = hd_resources__jstr(n, "message");
    hd_log(HD_LOG_INFO, "resource status changed", "kind", x->ki->kind, "namespace", x->ns, "name",
           x->name, "ready", ns_, "reason", nr ? nr : "", "was", os ? os : "", "message",
           msg ? msg : "", NULL);
}

/* Replaces obj.status with a new object built by the caller (takes ownership of st). */
static void set_status(record_t *x, cJSON *st)
{
    cJSON_AddNumberToObject(st, "observedGeneration", (double)hd_resources__generation(x->obj));
    if (x->id)
        cJSON_AddNumberToObject(st, "id", x->id);
    log_ready_change(x, cJSON_GetObjectItemCaseSensitive(x->obj, "status"), st);
    cJSON_DeleteItemFromObjectCaseSensitive(x->obj, "status");
    cJSON_AddItemToObject(x->obj, "status", st);
}

static const cJSON *old_status(const record_t *x)
{
    return cJSON_GetObjectItemCaseSensitive(x->obj, "status");
}

static void broker_status(record_t *x)
{
    broker_rec_t *b = x->b;
    cJSON *st = cJSON_CreateObject();
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    const cJSON *old = old_status(x);
    char msg[400];
    if (b->pub.ready) {
        snprintf(msg, sizeof msg, "accepting events at %s", b->pub.address_url);
        if (b->dls.set && !b->dls_url)
            snprintf(msg + strlen(msg), sizeof msg - strlen(msg), "%s", DLS_WAITING);
        add_condition(conds, old, "Ready", true, b->pub.channel ? "ChannelReady" : "BrokerReady",
                      msg);
        cJSON *addr = cJSON_AddObjectToObject(st, "address");
        cJSON_AddStringToObject(addr, "url", b->pub.address_url);
        if (b->dls_url)
            cJSON_AddStringToObject(st, "deadLetterSinkUri", b->dls_url);
    } else {
        add_condition(conds, old, "Ready", false, b->reason, b->why);
    }
    if (b->dls.set)
        dls_condition(conds, old, b->dls_url, b->dls_why);
    if (b->pub.channel)
        cJSON_AddArrayToObject(st, "subscribers"); /* filled by channel_subscriber */
    set_status(x, st);
}

/* An unresolved dead-letter sink does not stop delivery: Ready stays True (its message says
 * so) and DeadLetterSinkResolved=False carries severity Warning, as Knative marks a condition that
 * does not decide Ready. dls_msg: why the sink (own or inherited) does not resolve. */
static void trigger_status(record_t *x, bool broker_ok, const char *broker_reason,
                           const char *broker_msg, const char *sub_msg, const char *dls_msg)
{
    consumer_rec_t *t = x->t;
    cJSON *st = cJSON_CreateObject();
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    const cJSON *old = old_status(x);
    bool dls_waiting = t->pub.delivery.dead_letter_unresolved;
    if (t->pub.ready)
        add_condition(conds, old, "Ready", true, "TriggerReady",
                      dls_waiting ? "delivering matching events" DLS_WAITING
                                  : "delivering matching events");
    else if (!broker_ok)
        add_condition(conds, old, "Ready", false, broker_reason, broker_msg);
    else
        add_condition(conds, old, "Ready", false, "SubscriberResolveFailed", sub_msg);
    add_condition(conds, old, "BrokerReady", broker_ok, broker_ok ? "BrokerReady" : broker_reason,
                  broker_ok ? "" : broker_msg);
    add_condition(conds, old, "SubscriberResolved", t->pub.subscriber_uri != NULL,
                  t->pub.subscriber_uri ? "SubscriberResolved" : "SubscriberResolveFailed",
                  t->pub.subscriber_uri ? "" : sub_msg);
    if (t->pub.delivery.set & HD_DLV_DLS)
        dls_condition(conds, old, dls_waiting ? NULL : t->pub.delivery.dead_letter_uri, dls_msg);
    if (t->pub.subscriber_uri)
        cJSON_AddStringToObject(st, "subscriberUri", t->pub.subscriber_uri);
    if (t->pub.delivery.dead_letter_uri)
        cJSON_AddStringToObject(st, "deadLetterSinkUri", t->pub.delivery.dead_letter_uri);
    set_status(x, st);
}

/* A Subscription's status, as Knative shows it: Ready, ChannelReady, ReferencesResolved and
 * physicalSubscription with the resolved URIs. */
static void subscription_status(record_t *x, bool chan_ok, const char *chan_reason,
                                const char *chan_msg, const char *refs_reason, const char *refs_msg,
                                const char *dls_msg)
{
    consumer_rec_t *t = x->t;
    cJSON *st = cJSON_CreateObject();
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    const cJSON *old = old_status(x);
    bool refs_ok = refs_reason == NULL;
    bool dls_waiting = t->pub.delivery.dead_letter_unresolved;
    if (t->pub.ready)
        add_condition(conds, old, "Ready", true, "SubscriptionReady",
                      dls_waiting ? "delivering every event of the channel" DLS_WAITING
                                  : "delivering every event of the channel");
    else if (!chan_ok)
        add_condition(conds, old, "Ready", false, chan_reason, chan_msg);
    else
        add_condition(conds, old, "Ready", false, refs_ok ? "NotReady" : refs_reason, refs_msg);
    add_condition(conds, old, "ChannelReady", chan_ok, chan_ok ? "ChannelReady" : chan_reason,
                  chan_ok ? "" : chan_msg);
    add_condition(conds, old, "ReferencesResolved", refs_ok,
                  refs_ok ? "ReferencesResolved" : refs_reason, refs_ok ? "" : refs_msg);
    if (t->pub.delivery.set & HD_DLV_DLS)
        dls_condition(conds, old, dls_waiting ? NULL : t->pub.delivery.dead_letter_uri, dls_msg);
    cJSON *ps = cJSON_AddObjectToObject(st, "physicalSubscription");
    if (t->sub.set && t->pub.subscriber_uri)
        cJSON_AddStringToObject(ps, "subscriberUri", t->pub.subscriber_uri);
    const char *reply = t->sub.set ? t->pub.reply_uri : t->pub.subscriber_uri;
    if (reply)
        cJSON_AddStringToObject(ps, "replyUri", reply);
    if (t->pub.delivery.dead_letter_uri)
        cJSON_AddStringToObject(ps, "deadLetterSinkUri", t->pub.delivery.dead_letter_uri);
    set_status(x, st);
}

void hd_resources__other_status(record_t *x)
{
    cJSON *st = cJSON_CreateObject();
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    if (x->ext_set) {
        add_condition(conds, old_status(x), "Ready", x->ext_ready,
                      x->ext_reason ? x->ext_reason : (x->ext_ready ? "Ready" : "NotReady"),
                      x->ext_message);
        if (x->ext_url) {
            cJSON *addr = cJSON_AddObjectToObject(st, "address");
            cJSON_AddStringToObject(addr, "url", x->ext_url);
        }
    } else {
        char msg[300];
        snprintf(msg, sizeof msg,
                 "Herald stores %s resources but does not run them in this version; it is kept "
                 "so your manifests apply unchanged",
                 x->ki->kind);
        add_condition(conds, old_status(x), "Ready", false, "NotImplemented", msg);
    }
    set_status(x, st);
}

/* ---- resolution ------------------------------------------------------------------------- */

/* The record of a flow's entry channel (its address), or NULL. */
static record_t *flow_entry(hd_resources_t *r, const record_t *flow)
{
    const cJSON *first = cJSON_GetArrayItem(flow->children, 0);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(first, "metadata");
    const hd_kind_info_t *ki = hd_resources_kind_lookup(hd_resources__jstr(first, "kind"));
    const char *name = hd_resources__jstr(md, "name");
    if (!ki || !name)
        return NULL;
    char key[HD_RESOURCES__KEYCAP];
    hd_resources__key(key, sizeof key, ki->plural, flow->ns, name);
    return hd_resources__find(r, key);
}

/* The ready broker or channel called ns/name (ns_len and name_len bytes), or NULL. */
static broker_rec_t *ready_log(hd_resources_t *r, bool channel, const char *ns, size_t ns_len,
                               const char *name, size_t name_len)
{
    hd_broker_t *b = channel ? hd_resources_channel(r, ns, ns_len, name, name_len)
                             : hd_resources_broker(r, ns, ns_len, name, name_len);
    return b && b->ready ? hd_container_of(b, broker_rec_t, pub) : NULL;
}

/*
 * The log a `uri` names when it is one of this heraldd's own addresses, so that the hop goes in
 * process as for a `ref`: http://{ingress}/{ns}/{broker} and /{ns}/channels/{name}; Knative's
 * in-cluster names for the same, http://broker-ingress.knative-eventing.svc.cluster.local/{ns}/
 * {broker} and http://{name}-kn-channel.{ns}.svc.cluster.local/. 0 when it is none of them (the
 * uri is then used over HTTP as written).
 */
static uint32_t uri_local_log(hd_resources_t *r, const char *uri)
{
    static const char knative_ingress[] = "broker-ingress.knative-eventing.svc.cluster.local";
    if (strncmp(uri, "http://", 7))
        return 0;
    const char *host = uri + 7, *path = strchr(host, '/');
    size_t hlen = path ? (size_t)(path - host) : strlen(host);
    if (!path || !strcmp(path, "/")) {
        broker_rec_t *c = NULL;
        hd_broker_t *b = hd_resources_channel_by_host(r, host, hlen);
        if (b && b->ready)
            c = hd_container_of(b, broker_rec_t, pub);
        return c ? c->pub.id : 0;
    }
    bool ours = hlen == strlen(r->ingress_address) && !memcmp(host, r->ingress_address, hlen);
    bool knative = (hlen == sizeof knative_ingress - 1 ||
                    (hlen == sizeof knative_ingress + 2 && !memcmp(host + hlen - 3, ":80", 3))) &&
                   !strncmp(host, knative_ingress, sizeof knative_ingress - 1);
    if (!ours && !knative)
        return 0;
    hd_path_seg_t seg[4];
    size_t n = hd_path_split(path, strlen(path), seg, 3);
    broker_rec_t *b = NULL;
    if (n == 2 && seg[0].len && seg[1].len)
        b = ready_log(r, false, seg[0].s, seg[0].len, seg[1].s, seg[1].len);
    else if (ours && n == 3 && hd_path_seg_is(&seg[1], "channels") && seg[0].len && seg[2].len)
        b = ready_log(r, true, seg[0].s, seg[0].len, seg[2].s, seg[2].len);
    return b ? b->pub.id : 0;
}

/* ---- Kubernetes v1 Services ------------------------------------------------------------------ */

/* The three ways to give a v1 Service an address, after `what` (why it has none). */
static void service_help(char *why, size_t cap, const char *what, const char *ns, const char *name)
{
    snprintf(why, cap,
             "%s; give it an address in one of three ways: (1) apply it with the annotation "
             "herald.dev/url: {apiVersion: v1, kind: Service, metadata: {name: %s, namespace: %s, "
             "annotations: {herald.dev/url: \"http://127.0.0.1:9000/\"}}}; (2) apply it as type "
             "ExternalName: spec: {type: ExternalName, externalName: HOST, ports: [{name: http, "
             "port: 9000}]}; (3) map it in herald.yaml: services: {%s/%s: "
             "\"http://127.0.0.1:9000/\"}",
             what, name, ns, ns, name);
}

/* herald.yaml's services: entry for ns/name ("ns/name=" first, then "name="), or NULL. */
static const char *services_entry(const hd_resources_t *r, const char *ns, const char *name)
{
    size_t nl = strlen(ns), ml = strlen(name);
    const char *bare = NULL;
    for (size_t i = 0; i < r->service_count; i++) {
        const char *e = r->services[i];
        if (!strncmp(e, ns, nl) && e[nl] == '/' && !strncmp(e + nl + 1, name, ml) &&
            e[nl + 1 + ml] == '=')
            return e + nl + ml + 2;
        if (!bare && !strncmp(e, name, ml) && e[ml] == '=')
            bare = e + ml + 1;
    }
    return bare;
}

/* An ExternalName Service's URL: its host and the port named http (else the first port; 443 or
 * a port named https means https). */
static char *external_name_url(const cJSON *spec)
{
    const char *host = hd_resources__jstr(spec, "externalName");
    if (!host)
        return NULL;
    const cJSON *ports = cJSON_GetObjectItemCaseSensitive(spec, "ports");
    const cJSON *pick = cJSON_GetArrayItem(ports, 0), *p;
    cJSON_ArrayForEach(p, ports)
    {
        const char *pn = hd_resources__jstr(p, "name");
        if (pn && !strcmp(pn, "http")) {
            pick = p;
            break;
        }
    }
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(pick, "port");
    const char *pname = hd_resources__jstr(pick, "name");
    int n = cJSON_IsNumber(port) ? (int)port->valuedouble : 80;
    bool tls = n == 443 || (pname && !strcmp(pname, "https"));
    size_t cap = strlen(host) + 32;
    char *u = hd_malloc(cap);
    if (!u)
        return NULL;
    if (n == (tls ? 443 : 80))
        snprintf(u, cap, "%s://%s", tls ? "https" : "http", host);
    else
        snprintf(u, cap, "%s://%s:%d", tls ? "https" : "http", host, n);
    return u;
}

char *hd_resources__service_url(hd_resources_t *r, const record_t *x, const char *ns,
                                const char *name, char *why, size_t cap)
{
    const cJSON *spec = x ? cJSON_GetObjectItemCaseSensitive(x->obj, "spec") : NULL;
    const cJSON *ann = x ? cJSON_GetObjectItemCaseSensitive(
                               cJSON_GetObjectItemCaseSensitive(x->obj, "metadata"), "annotations")
                         : NULL;
    const char *url = hd_resources__jstr(ann, HD_RESOURCES_URL_ANNOTATION);
    if (url)
        return hd_strdup(url);
    const char *type = hd_resources__jstr(spec, "type");
    if (type && !strcmp(type, "ExternalName"))
        return external_name_url(spec);
    if ((url = services_entry(r, ns, name)))
        return hd_strdup(url);
    char what[600];
    if (x)
        snprintf(what, sizeof what,
                 "Service \"%s/%s\" (v1) has no address Herald can reach (Herald runs no pods)", ns,
                 name);
    else
        snprintf(what, sizeof what, "Service \"%s/%s\" (v1) does not exist", ns, name);
    service_help(why, cap, what, ns, name);
    return NULL;
}

/* A v1 Service's status: Ready with status.address.url when it has an address. */
static void service_status(hd_resources_t *r, record_t *x)
{
    cJSON *st = cJSON_CreateObject();
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    char why[800] = "";
    char *url = hd_resources__service_url(r, x, x->ns, x->name, why, sizeof why);
    if (url) {
        char msg[600];
        snprintf(msg, sizeof msg, "events for it go to %s", url);
        add_condition(conds, old_status(x), "Ready", true, "AddressResolved", msg);
        cJSON *addr = cJSON_AddObjectToObject(st, "address");
        cJSON_AddStringToObject(addr, "url", url);
    } else {
        add_condition(conds, old_status(x), "Ready", false, "AddressNotResolved", why);
    }
    hd_free(url);
    set_status(x, st);
}

void hd_resources__service_refresh(hd_resources_t *r, record_t *x)
{
    service_status(r, x);
}

/* A ref to a v1 Service (x its record, or NULL): its address, in process when it is one of this
 * heraldd's own log addresses. */
static char *resolve_service(hd_resources_t *r, const hd_dest_t *d, const record_t *x,
                             uint32_t *log, char *why, size_t cap)
{
    char *base = hd_resources__service_url(r, x, d->ref_ns, d->ref_name, why, cap);
    char *u = base ? hd_resources__url_join(base, d->uri) : NULL;
    if (base && !u)
        snprintf(why, cap, "out of memory");
    hd_free(base);
    if (u && log)
        *log = uri_local_log(r, u);
    return u;
}

/* A ref to a Knative Service: it resolves once Knative Serving runs it (a module sets its
 * address); until then, how to deliver to a Kubernetes v1 Service instead. */
static void ksvc_help(char *why, size_t cap, const char *ns, const char *name, bool exists)
{
    char what[600];
    snprintf(what, sizeof what,
             "Knative Service \"%s/%s\" (serving.knative.dev/v1) %s: this heraldd does not run "
             "Knative Serving, so it resolves only once Serving runs it. To deliver now, refer "
             "to a Kubernetes Service instead (ref: {apiVersion: v1, kind: Service, name: %s})",
             ns, name, exists ? "has no address" : "does not exist", name);
    service_help(why, cap, what, ns, name);
}

/* Resolves a destination to a URL (owned) or NULL with `why`. *log (may be NULL) becomes the id
 * of the broker or channel when the destination is one of this heraldd's own logs, reached in
 * process; 0 otherwise. */
static char *resolve_dest(hd_resources_t *r, const hd_dest_t *d, uint32_t *log, char *why,
                          size_t cap)
{
    if (log)
        *log = 0;
    if (!d->set)
        return NULL;
    if (!d->ref_kind && log)
        *log = uri_local_log(r, d->uri);
    if (!d->ref_kind)
        return hd_strdup(d->uri);
    char key[HD_RESOURCES__KEYCAP];
    hd_resources__key(key, sizeof key, d->ref_kind->plural, d->ref_ns, d->ref_name);
    record_t *x = hd_resources__find(r, key);
    if (d->ref_kind->type == HD_RK_SERVICE)
        return resolve_service(r, d, x, log, why, cap);
    bool ksvc = !strcmp(d->ref_kind->kind, "Service") && d->ref_kind->type == HD_RK_OTHER;
    if (ksvc && (!x || !x->ext_set || !x->ext_url)) {
        ksvc_help(why, cap, d->ref_ns, d->ref_name, x != NULL);
        return NULL;
    }
    if (!x) {
        snprintf(why, cap, "%s \"%s/%s\" does not exist; it is resolved as soon as it is applied",
                 d->ref_kind->kind, d->ref_ns, d->ref_name);
        return NULL;
    }
    const char *base = NULL;
    record_t *target = x;
    if (x->ki->type == HD_RK_FLOW) {
        target = flow_entry(r, x);
        if (!target || !target->b) {
            snprintf(why, cap, "%s \"%s/%s\" has no channel yet", x->ki->kind, d->ref_ns,
                     d->ref_name);
            return NULL;
        }
    }
    if (target->b) {
        if (!target->b->pub.ready) {
            snprintf(why, cap, "%s \"%s/%s\" is not ready: %s", target->ki->kind, target->ns,
                     target->name, target->b->why);
            return NULL;
        }
        base = target->b->pub.address_url;
        /* a path below the address is another endpoint: only the address itself is the log */
        if (log && (!d->uri || !*d->uri || !strcmp(d->uri, "/")))
            *log = target->id;
    } else if (x->ext_set && x->ext_url) {
        base = x->ext_url;
    } else {
        snprintf(why, cap, "%s \"%s/%s\" has no address (%s)", d->ref_kind->kind, d->ref_ns,
                 d->ref_name,
                 x->ext_set ? "not ready" : "this kind does not run in Herald yet; use a uri");
        return NULL;
    }
    char *u = hd_resources__url_join(base, d->uri);
    if (!u) {
        snprintf(why, cap, "out of memory");
        if (log)
            *log = 0;
    }
    return u;
}

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static bool delivery_eq(const hd_delivery_t *a, const hd_delivery_t *b)
{
    return a->set == b->set && a->retry == b->retry && a->backoff_policy == b->backoff_policy &&
           a->backoff_delay_ms == b->backoff_delay_ms && a->backoff_max_ms == b->backoff_max_ms &&
           a->timeout_ms == b->timeout_ms && a->retry_after_max_ms == b->retry_after_max_ms &&
           str_eq(a->dead_letter_uri, b->dead_letter_uri) &&
           a->dead_letter_unresolved == b->dead_letter_unresolved &&
           a->max_in_flight == b->max_in_flight && a->ordering == b->ordering &&
           a->header_strict == b->header_strict && a->structured == b->structured;
}

/* Takes a trigger or subscription out of its log's router and tells the observers. `forget`:
 * its log is gone (or it is), so its cursor, pending and dead records go too (the dispatcher
 * owns them); otherwise they stay and delivery resumes from the cursor when it is bound again
 * (nothing is skipped meanwhile). An unbound one that is forgotten is told too, so records it
 * kept from an earlier binding (or a run before a restart) go although it is not delivering; but
 * only once: a subscription whose channel was deleted, then deleted itself, is forgotten once. */
void hd_resources__unbind(hd_resources_t *r, consumer_rec_t *t, bool forget)
{
    if (t->bound) {
        hd_router_remove(t->pub.broker->router, &t->pub);
        HD_RESOURCES__TELL(r, trigger_removed, &t->pub, forget);
        t->bound = false;
        t->pub.broker = NULL;
    } else if (forget && !t->forgotten) {
        HD_RESOURCES__TELL(r, trigger_removed, &t->pub, true);
    }
    t->forgotten |= forget;
}

/* Recomputes a trigger's or subscription's binding, resolutions, effective delivery and status,
 * telling the router and the observers what changed. */
void hd_resources__consumer_refresh(hd_resources_t *r, record_t *x, bool spec_changed)
{
    consumer_rec_t *t = x->t;
    bool is_sub = t->pub.subscription;
    char key[HD_RESOURCES__KEYCAP];
    hd_resources__key(key, sizeof key, t->log_ki->plural, x->ns, t->broker_name);
    record_t *bx = hd_resources__find(r, key);
    broker_rec_t *b = bx ? bx->b : NULL;
    bool broker_ok = b && b->pub.ready;
    char bmsg[1200] = "", smsg[1200] = "", rmsg[1200] = "", dmsg[1200] = "";
    const char *breason = is_sub ? "ChannelReady" : "BrokerReady";
    const char *lk = t->log_ki->kind;
    if (!b) {
        breason = is_sub ? "ChannelDoesNotExist" : "BrokerDoesNotExist";
        snprintf(bmsg, sizeof bmsg,
                 "%s \"%s/%s\" does not exist; apply it and this %s becomes ready", lk, x->ns,
                 t->broker_name, is_sub ? "subscription" : "trigger");
    } else if (!broker_ok) {
        breason = is_sub ? "ChannelNotReady" : "BrokerNotReady";
        snprintf(bmsg, sizeof bmsg, "%s \"%s/%s\" is not ready: %.500s", lk, x->ns, t->broker_name,
                 b->why);
    }
    uint32_t sub_log = 0, reply_log = 0;
    char *sub = NULL, *reply = NULL;
    if (t->sub.set) {
        sub = resolve_dest(r, &t->sub, &sub_log, smsg, sizeof smsg);
        if (t->reply.set)
            reply = resolve_dest(r, &t->reply, &reply_log, rmsg, sizeof rmsg);
    } else {
        /* a subscription with only a reply forwards every event to it: the reply is where it
         * delivers (Knative's rule) */
        sub = resolve_dest(r, &t->reply, &sub_log, smsg, sizeof smsg);
    }
    char *dls = t->dls.set ? resolve_dest(r, &t->dls, NULL, dmsg, sizeof dmsg) : NULL;

    hd_delivery_t own = t->own;
    own.dead_letter_uri = dls;
    /* an own sink that does not resolve is waited for, not replaced by the broker's */
    own.dead_letter_unresolved = t->dls.set && !dls;
    hd_delivery_t merged;
    hd_delivery_merge(&merged, &own, b ? &b->pub.delivery : NULL);
    char *mdls = merged.dead_letter_uri ? hd_strdup(merged.dead_letter_uri) : NULL;
    merged.dead_letter_uri = mdls;

    bool changed = spec_changed || !str_eq(sub, t->pub.subscriber_uri) ||
                   sub_log != t->pub.subscriber_log || !str_eq(reply, t->pub.reply_uri) ||
                   reply_log != t->pub.reply_log || !str_eq(mdls, t->merged_dls) ||
                   !delivery_eq(&merged, &t->pub.delivery);
    bool reply_ok = !t->sub.set || !t->reply.set || reply;
    /* Only a ready one is bound (routed and dispatched): the dispatcher never sees one without
     * a subscriber, and one that loses it keeps its cursor and catches up. */
    bool ready = broker_ok && sub && reply_ok; /* an unresolved sink does not stop delivery */
    if (!t->dls.set && merged.dead_letter_unresolved && b)
        snprintf(dmsg, sizeof dmsg, "%s \"%s/%s\": %.700s", lk, x->ns, t->broker_name, b->dls_why);

    if (t->bound && (!ready || !b || t->pub.broker != &b->pub))
        hd_resources__unbind(r, t, !b || t->pub.broker != &b->pub);

    hd_free(t->pub.subscriber_uri);
    t->pub.subscriber_uri = sub;
    t->pub.subscriber_log = sub_log;
    hd_free(t->pub.reply_uri);
    t->pub.reply_uri = reply;
    t->pub.reply_log = reply_log;
    hd_free(t->dls_url);
    t->dls_url = dls;
    hd_free(t->merged_dls);
    t->merged_dls = mdls;
    t->pub.delivery = merged;
    bool ready_changed = t->pub.ready != ready;
    t->pub.ready = ready;

    if (!t->bound && ready) {
        t->pub.broker = &b->pub;
        if (hd_router_add(b->pub.router, &t->pub) == HD_E_OK) {
            t->bound = true;
            t->forgotten = false;
            HD_RESOURCES__TELL(r, trigger_added, &t->pub);
        } else {
            t->pub.broker = NULL;
            t->pub.ready = false;
            hd_log(HD_LOG_ERROR, "trigger could not be routed (out of memory)", "namespace", x->ns,
                   "trigger", x->name, NULL);
        }
    } else if (t->bound && (changed || ready_changed)) {
        HD_RESOURCES__TELL(r, trigger_updated, &t->pub);
    }
    if (!is_sub) {
        trigger_status(x, broker_ok, breason, bmsg, smsg, dmsg);
        return;
    }
    const char *rr = NULL, *rm = "";
    if (!sub) {
        rr = t->sub.set ? "SubscriberResolveFailed" : "ReplyResolveFailed";
        rm = smsg;
    } else if (!reply_ok) {
        rr = "ReplyResolveFailed";
        rm = rmsg;
    }
    subscription_status(x, broker_ok, breason, bmsg, rr, rm, dmsg);
}

static void refresh_one(hd_resources_t *r, record_t *x, void *arg)
{
    (void)arg;
    if (x->t)
        hd_resources__consumer_refresh(r, x, false);
}

void hd_resources__broker_refresh(hd_resources_t *r, record_t *x)
{
    broker_rec_t *b = x->b;
    hd_free(b->dls_url);
    b->dls_why[0] = '\0';
    b->dls_url = b->dls.set ? resolve_dest(r, &b->dls, NULL, b->dls_why, sizeof b->dls_why) : NULL;
    b->pub.delivery.dead_letter_uri = b->dls_url;
    /* a sink that does not resolve does not stop the broker: its triggers deliver, and events
     * that exhaust their retries wait for the sink (hd_delivery_t.dead_letter_unresolved) */
    b->pub.delivery.dead_letter_unresolved = b->dls.set && !b->dls_url;
    if (b->dls.set)
        b->pub.delivery.set |= HD_DLV_DLS;
    /* The class annotation: Herald (default) runs here; Knative's MT class is taken as Herald so
     * Knative YAML applies unchanged. */
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(x->obj, "metadata"), "annotations");
    const char *cls =
        b->pub.channel ? NULL : hd_resources__jstr(ann, "eventing.knative.dev/broker.class");
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(x->obj, "spec"), "channelTemplate");
    const char *tkind =
        x->ki == hd_resources_kind_lookup("Channel") ? hd_resources__jstr(tmpl, "kind") : NULL;
    if (tkind && strcmp(tkind, "InMemoryChannel")) {
        b->pub.ready = false;
        snprintf(b->reason, sizeof b->reason, "ChannelTemplateNotSupported");
        snprintf(b->why, sizeof b->why,
                 "channel kind '%s' is not available in this heraldd (use InMemoryChannel, the "
                 "default, which Herald stores durably)",
                 tkind);
    } else if (cls && strcmp(cls, "Herald") && strcmp(cls, "MTChannelBasedBroker")) {
        b->pub.ready = false;
        snprintf(b->reason, sizeof b->reason, "BrokerClassNotSupported");
        snprintf(b->why, sizeof b->why,
                 "broker class '%s' is not available in this heraldd (use Herald, the default)",
                 cls);
    } else {
        b->pub.ready = true;
        b->reason[0] = b->why[0] = '\0';
    }
    broker_status(x);
}

static void refresh_brokers(hd_resources_t *r, record_t *x, void *arg)
{
    (void)arg;
    if (x->b)
        hd_resources__broker_refresh(r, x);
    else if (x->ki->type == HD_RK_SERVICE)
        service_status(r, x);
    else if (x->ki->type == HD_RK_OTHER)
        hd_resources__other_status(x);
}

/* The Ready condition's message of a record ("" when none). */
static const char *ready_message(const record_t *x)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(old_status(x), "conditions"))
    {
        const char *t = hd_resources__jstr(c, "type");
        if (t && !strcmp(t, "Ready"))
            return hd_resources__jstr(c, "message") ? hd_resources__jstr(c, "message") : "";
    }
    return "";
}

static bool rec_ready(const record_t *x)
{
    return x->b ? x->b->pub.ready : x->t ? x->t->pub.ready : false;
}

/* Lists a subscription in its channel's status.subscribers, as Knative's channels do. */
static void channel_subscriber(hd_resources_t *r, record_t *x, void *arg)
{
    (void)arg;
    if (!x->t || !x->t->pub.subscription)
        return;
    char key[HD_RESOURCES__KEYCAP];
    hd_resources__key(key, sizeof key, x->t->log_ki->plural, x->ns, x->t->broker_name);
    record_t *c = hd_resources__find(r, key);
    cJSON *subs = c && c->b ? cJSON_GetObjectItemCaseSensitive(old_status(c), "subscribers") : NULL;
    cJSON *e = subs ? cJSON_CreateObject() : NULL;
    if (!e)
        return;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(x->obj, "metadata");
    cJSON_AddStringToObject(e, "uid",
                            hd_resources__jstr(md, "uid") ? hd_resources__jstr(md, "uid") : "");
    cJSON_AddStringToObject(e, "name", x->name);
    cJSON_AddNumberToObject(e, "observedGeneration", (double)hd_resources__generation(x->obj));
    cJSON_AddStringToObject(e, "ready", x->t->pub.ready ? "True" : "False");
    if (!x->t->pub.ready)
        cJSON_AddStringToObject(e, "message", ready_message(x));
    cJSON_AddItemToArray(subs, e);
}

/* "step 1", "branch 0 filter", "entry channel": a child's role in its flow, from its name. */
static void child_role(const record_t *flow, const char *child, char *buf, size_t cap)
{
    size_t n = strlen(flow->name);
    const char *rest = strncmp(child, flow->name, n) ? child : child + n;
    if (!strncmp(rest, "-kn-sequence-", 13))
        snprintf(buf, cap, "step %s", rest + 13);
    else if (!strncmp(rest, "-kn-parallel-filter-", 20))
        snprintf(buf, cap, "branch %s filter", rest + 20);
    else if (!strncmp(rest, "-kn-parallel-", 13))
        snprintf(buf, cap, "branch %s", rest + 13);
    else
        snprintf(buf, cap, "entry channel");
}

/* A Sequence's or Parallel's status: Ready when every channel and subscription built for it is,
 * else the first that is not, by its role; the address is its entry channel's. */
static void flow_status(hd_resources_t *r, record_t *x)
{
    cJSON *st = cJSON_CreateObject();
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    cJSON *chs = cJSON_AddArrayToObject(st, "channelStatuses");
    cJSON *subs = cJSON_AddArrayToObject(st, "subscriptionStatuses");
    bool ok = true;
    const char *reason = "";
    char msg[900] = "";
    const cJSON *c;
    cJSON_ArrayForEach(c, x->children)
    {
        const hd_kind_info_t *ki = hd_resources_kind_lookup(hd_resources__jstr(c, "kind"));
        const char *name =
            hd_resources__jstr(cJSON_GetObjectItemCaseSensitive(c, "metadata"), "name");
        if (!ki || !name)
            continue;
        char key[HD_RESOURCES__KEYCAP], role[64];
        hd_resources__key(key, sizeof key, ki->plural, x->ns, name);
        record_t *y = hd_resources__find(r, key);
        bool ready = y && rec_ready(y);
        const char *why = !y ? "not created" : ready_message(y);
        cJSON *e = cJSON_CreateObject();
        cJSON *ref =
            cJSON_AddObjectToObject(e, ki->type == HD_RK_SUBSCRIPTION ? "subscription" : "channel");
        cJSON_AddStringToObject(ref, "apiVersion", hd_resources__jstr(c, "apiVersion"));
        cJSON_AddStringToObject(ref, "kind", ki->kind);
        cJSON_AddStringToObject(ref, "name", name);
        cJSON_AddStringToObject(ref, "namespace", x->ns);
        cJSON *rd = cJSON_AddObjectToObject(e, "ready");
        cJSON_AddStringToObject(rd, "type", "Ready");
        cJSON_AddStringToObject(rd, "status", ready ? "True" : "False");
        if (!ready)
            cJSON_AddStringToObject(rd, "message", why);
        cJSON_AddItemToArray(ki->type == HD_RK_SUBSCRIPTION ? subs : chs, e);
        if (!ready && ok) {
            ok = false;
            reason = ki->type == HD_RK_SUBSCRIPTION ? "SubscriptionsNotReady" : "ChannelsNotReady";
            child_role(x, name, role, sizeof role);
            snprintf(msg, sizeof msg, "%s (%s %s/%s): %s", role, ki->kind, x->ns, name, why);
        }
    }
    record_t *entry = flow_entry(r, x);
    if (entry && entry->b && entry->b->pub.ready) {
        cJSON *addr = cJSON_AddObjectToObject(st, "address");
        cJSON_AddStringToObject(addr, "url", entry->b->pub.address_url);
    }
    char okr[32];
    snprintf(okr, sizeof okr, "%sReady", x->ki->kind);
    add_condition(conds, old_status(x), "Ready", ok, ok ? okr : reason, ok ? "" : msg);
    set_status(x, st);
}

static void refresh_flows(hd_resources_t *r, record_t *x, void *arg)
{
    (void)arg;
    if (x->ki->type == HD_RK_FLOW)
        flow_status(r, x);
}

/* Re-resolves everything that may depend on other resources: logs first (a destination may be
 * one), then their consumers, then what is built from them. */
void hd_resources__refresh_all(hd_resources_t *r)
{
    hd_resources__each(r, refresh_brokers, NULL);
    hd_resources__each(r, refresh_one, NULL);
    hd_resources__each(r, channel_subscriber, NULL);
    hd_resources__each(r, refresh_flows, NULL);
}

/* ---- addresses ---------------------------------------------------------------------------- */

static void readdress(hd_resources_t *r, record_t *x, void *arg)
{
    bool *changed = arg;
    if (!x->b)
        return;
    char *u = hd_resources__address(r, x->ns, x->name, x->b->pub.channel);
    if (u && strcmp(u, x->b->pub.address_url)) {
        hd_free(x->b->pub.address_url);
        x->b->pub.address_url = u;
        *changed = true;
    } else {
        hd_free(u);
    }
}

hd_err_t hd_resources_set_ingress_address(hd_resources_t *r, const char *host_port)
{
    char *a = hd_strdup(host_port);
    if (!a)
        return HD_E_NOMEM;
    hd_free(r->ingress_address);
    r->ingress_address = a;
    bool changed = false;
    hd_resources__each(r, readdress, &changed);
    if (changed)
        hd_resources__refresh_all(r);
    return HD_E_OK;
}

char *hd_resources__address(hd_resources_t *r, const char *ns, const char *name, bool channel)
{
    const char *host = r->ingress_address;
    size_t n = strlen(host) + strlen(ns) + strlen(name) + 32;
    char *u = hd_malloc(n);
    if (u)
        snprintf(u, n, "http://%s/%s/%s%s", host, ns, channel ? "channels/" : "", name);
    return u;
}

/* ---- the status of kinds other modules run ------------------------------------------------ */

hd_err_t hd_resources_set_status(hd_resources_t *r, const char *kind, const char *ns,
                                 const char *name, bool ready, const char *reason,
                                 const char *message, const char *address_url)
{
    const hd_kind_info_t *ki = hd_resources_kind_lookup(kind);
    if (!ki || ki->type != HD_RK_OTHER)
        return HD_E_INVAL;
    char key[HD_RESOURCES__KEYCAP];
    hd_resources__key(key, sizeof key, ki->plural, ns, name);
    record_t *x = hd_resources__find(r, key);
    if (!x)
        return HD_E_NOTFOUND;
    char *rs = reason ? hd_strdup(reason) : NULL, *ms = message ? hd_strdup(message) : NULL;
    char *us = address_url ? hd_strdup(address_url) : NULL;
    if ((reason && !rs) || (message && !ms) || (address_url && !us)) {
        hd_free(rs);
        hd_free(ms);
        hd_free(us);
        return HD_E_NOMEM;
    }
    bool addr_changed = !str_eq(us, x->ext_url) || x->ext_ready != ready || !x->ext_set;
    hd_free(x->ext_reason);
    hd_free(x->ext_message);
    hd_free(x->ext_url);
    x->ext_set = true;
    x->ext_ready = ready;
    x->ext_reason = rs;
    x->ext_message = ms;
    x->ext_url = us;
    hd_resources__other_status(x);
    if (addr_changed)
        hd_resources__refresh_all(r);
    return HD_E_OK;
}
