/*
 * resources.c — the control-plane registry (hd_resources.h): Knative-shaped resources applied
 * from manifests or the admin API, validated at apply time, persisted in the store's `resources`
 * database, with status.conditions recomputed whenever something they depend on changes.
 *
 * Brokers and triggers come alive here: a broker gets a stable id, an address and a router; a
 * trigger gets a compiled filter, a resolved subscriber and its effective delivery, and is put in
 * its broker's router and announced to the dispatcher once its broker exists. Other Knative kinds
 * are stored and listed, with Ready=False reason NotImplemented unless the module that runs them
 * sets their status (hd_resources_set_status).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hd_config.h"
#include "hd_flows.h"
#include "hd_http.h"
#include "hd_manifest.h"
#include "hd_map.h"
#include "hd_evlog.h"
#include "hd_state.h"
#include "hd_time.h"
#include "resources_internal.h"

#define ERRCAP 512
#define MAX_OBSERVERS 8

typedef struct rec rec_t;

typedef struct {
    hd_broker_t pub;
    rec_t *rec;
    hd_dest_t dls;
    char *dls_url; /* resolved broker DLS, owned */
    char why[400]; /* why not ready */
    char reason[48];
} brk_t;

typedef struct {
    hd_trigger_t pub;
    rec_t *rec;
    char *broker_name;            /* a trigger's broker, or a subscription's channel */
    const hd_kind_info_t *log_ki; /* Broker, or the channel's kind (Channel, InMemoryChannel) */
    hd_dest_t sub;                /* subscriptions: may be unset when reply is set */
    hd_dest_t reply;              /* subscriptions only */
    hd_dest_t dls;
    hd_delivery_t own; /* the trigger's own delivery; dead_letter_uri = dls_url */
    char *dls_url;     /* resolved own DLS */
    char *merged_dls;  /* pub.delivery.dead_letter_uri, owned */
    bool bound;        /* in the broker's router, announced to the observers */
} trg_t;

struct rec {
    hd_map_node_t node; /* in hd_resources_t.recs, under key */
    char *key;          /* plural/ns/name */
    const hd_kind_info_t *ki;
    char *ns, *name;
    uint32_t id; /* brokers and triggers */
    cJSON *obj;  /* full object, status included */
    brk_t *b;
    trg_t *t;
    cJSON *children; /* flows: the channels and subscriptions built for it (hd_flows_expand) */
    /* Status set by the module that runs an "other" kind (hd_resources_set_status). */
    bool ext_set, ext_ready;
    char *ext_reason, *ext_message, *ext_url;
};

typedef struct {
    const hd_resources_observer_t *obs;
    void *arg;
} observer_t;

struct hd_resources {
    hd_server_t *srv;
    hd_map_t recs; /* rec_t by key */
    rec_t **by_id; /* open addressing on id */
    size_t id_cap, id_count;
    uint32_t next_id;
    observer_t observers[MAX_OBSERVERS];
    size_t nobservers;
    bool loading;
    bool addr_final; /* broker addresses use the bound ingress port */
};

/* ---- small helpers ------------------------------------------------------------------------ */

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ---- the registry maps -------------------------------------------------------------------- */

static rec_t *rec_find(const hd_resources_t *r, const char *key)
{
    hd_map_node_t *n = hd_map_find(&r->recs, key, strlen(key));
    return n ? hd_container_of(n, rec_t, node) : NULL;
}

static hd_err_t rec_insert(hd_resources_t *r, rec_t *x)
{
    if (hd_map_reserve(&r->recs, 256) != HD_E_OK)
        return HD_E_NOMEM;
    hd_map_link(&r->recs, &x->node, x->key, strlen(x->key));
    return HD_E_OK;
}

static void rec_unlink(hd_resources_t *r, rec_t *x)
{
    hd_map_unlink(&r->recs, &x->node);
}

static hd_err_t id_put(hd_resources_t *r, rec_t *x)
{
    if ((r->id_count + 1) * 2 > r->id_cap) {
        size_t cap = r->id_cap ? r->id_cap * 2 : 256;
        rec_t **n = hd_calloc(cap, sizeof *n);
        if (!n)
            return HD_E_NOMEM;
        r->id_count = 0; /* tombstones are dropped here */
        for (size_t i = 0; i < r->id_cap; i++) {
            rec_t *e = r->by_id[i];
            if (!e || e == (rec_t *)r) /* empty or tombstone */
                continue;
            size_t j = (e->id * 2654435761u) & (cap - 1);
            while (n[j])
                j = (j + 1) & (cap - 1);
            n[j] = e;
            r->id_count++;
        }
        hd_free(r->by_id);
        r->by_id = n;
        r->id_cap = cap;
    }
    size_t j = (x->id * 2654435761u) & (r->id_cap - 1);
    while (r->by_id[j] && r->by_id[j] != (rec_t *)r)
        j = (j + 1) & (r->id_cap - 1);
    r->by_id[j] = x;
    r->id_count++;
    return HD_E_OK;
}

static rec_t *id_get(const hd_resources_t *r, uint32_t id)
{
    if (!r->id_cap)
        return NULL;
    size_t j = (id * 2654435761u) & (r->id_cap - 1);
    for (size_t n = 0; n < r->id_cap && r->by_id[j]; n++) {
        rec_t *e = r->by_id[j];
        if (e != (rec_t *)r && e->id == id)
            return e;
        j = (j + 1) & (r->id_cap - 1);
    }
    return NULL;
}

static void id_del(hd_resources_t *r, rec_t *x)
{
    if (!r->id_cap)
        return;
    size_t j = (x->id * 2654435761u) & (r->id_cap - 1);
    for (size_t n = 0; n < r->id_cap && r->by_id[j]; n++) {
        if (r->by_id[j] == x) {
            r->by_id[j] = (rec_t *)r; /* tombstone; counted until the next grow */
            return;
        }
        j = (j + 1) & (r->id_cap - 1);
    }
}

/* Calls fn for every record (the order is the hash order). fn may not insert or delete. */
static void each_rec(hd_resources_t *r, void (*fn)(hd_resources_t *r, rec_t *x, void *arg),
                     void *arg)
{
    for (size_t i = 0; i < r->recs.nbuckets; i++)
        for (hd_map_node_t *n = r->recs.buckets[i]; n; n = n->next)
            fn(r, hd_container_of(n, rec_t, node), arg);
}

static void make_key(char *buf, size_t cap, const char *plural, const char *ns, const char *name)
{
    snprintf(buf, cap, "%s/%s/%s", plural, ns, name);
}

/* ---- observers ---------------------------------------------------------------------------- */

/* Calls `cb` of every observer that set it. Observers may not register or unregister from inside
 * a call. */
#define TELL(r, cb, ...)                                                                           \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (r)->nobservers; i_++)                                            \
            if ((r)->observers[i_].obs->cb)                                                        \
                (r)->observers[i_].obs->cb((r)->observers[i_].arg, __VA_ARGS__);                   \
    } while (0)

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
        const char *t = jstr(c, "type"), *s = jstr(c, "status"), *rs = jstr(c, "reason");
        if (t && !strcmp(t, type) && s && !strcmp(s, ok ? "True" : "False") && rs &&
            !strcmp(rs, reason) && jstr(c, "lastTransitionTime"))
            ltt = jstr(c, "lastTransitionTime");
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

static long long obj_generation(const cJSON *obj)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "generation");
    return cJSON_IsNumber(g) ? (long long)g->valuedouble : 1;
}

/* Replaces obj.status with a new object built by the caller (takes ownership of st). */
static void set_status(rec_t *x, cJSON *st)
{
    cJSON_AddNumberToObject(st, "observedGeneration", (double)obj_generation(x->obj));
    if (x->id)
        cJSON_AddNumberToObject(st, "id", x->id);
    cJSON_DeleteItemFromObjectCaseSensitive(x->obj, "status");
    cJSON_AddItemToObject(x->obj, "status", st);
}

static const cJSON *old_status(const rec_t *x)
{
    return cJSON_GetObjectItemCaseSensitive(x->obj, "status");
}

static void broker_status(rec_t *x)
{
    brk_t *b = x->b;
    cJSON *st = cJSON_CreateObject();
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    const cJSON *old = old_status(x);
    char msg[400];
    if (b->pub.ready) {
        snprintf(msg, sizeof msg, "accepting events at %s", b->pub.address_url);
        add_condition(conds, old, "Ready", true, b->pub.channel ? "ChannelReady" : "BrokerReady",
                      msg);
        cJSON *addr = cJSON_AddObjectToObject(st, "address");
        cJSON_AddStringToObject(addr, "url", b->pub.address_url);
        if (b->dls_url)
            cJSON_AddStringToObject(st, "deadLetterSinkUri", b->dls_url);
    } else {
        add_condition(conds, old, "Ready", false, b->reason, b->why);
    }
    if (b->pub.channel)
        cJSON_AddArrayToObject(st, "subscribers"); /* filled by channel_subscriber */
    set_status(x, st);
}

static void trigger_status(rec_t *x, bool broker_ok, const char *broker_reason,
                           const char *broker_msg, const char *sub_msg, const char *dls_msg)
{
    trg_t *t = x->t;
    cJSON *st = cJSON_CreateObject();
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    const cJSON *old = old_status(x);
    if (t->pub.ready)
        add_condition(conds, old, "Ready", true, "TriggerReady", "delivering matching events");
    else if (!broker_ok)
        add_condition(conds, old, "Ready", false, broker_reason, broker_msg);
    else if (!t->pub.subscriber_uri)
        add_condition(conds, old, "Ready", false, "SubscriberResolveFailed", sub_msg);
    else
        add_condition(conds, old, "Ready", false, "DeadLetterSinkResolveFailed", dls_msg);
    add_condition(conds, old, "BrokerReady", broker_ok, broker_ok ? "BrokerReady" : broker_reason,
                  broker_ok ? "" : broker_msg);
    add_condition(conds, old, "SubscriberResolved", t->pub.subscriber_uri != NULL,
                  t->pub.subscriber_uri ? "SubscriberResolved" : "SubscriberResolveFailed",
                  t->pub.subscriber_uri ? "" : sub_msg);
    if (t->dls.set)
        add_condition(conds, old, "DeadLetterSinkResolved", t->dls_url != NULL,
                      t->dls_url ? "DeadLetterSinkResolved" : "DeadLetterSinkResolveFailed",
                      t->dls_url ? "" : dls_msg);
    if (t->pub.subscriber_uri)
        cJSON_AddStringToObject(st, "subscriberUri", t->pub.subscriber_uri);
    if (t->pub.delivery.dead_letter_uri)
        cJSON_AddStringToObject(st, "deadLetterSinkUri", t->pub.delivery.dead_letter_uri);
    set_status(x, st);
}

/* A Subscription's status, as Knative shows it: Ready, ChannelReady, ReferencesResolved and
 * physicalSubscription with the resolved URIs. */
static void subscription_status(rec_t *x, bool chan_ok, const char *chan_reason,
                                const char *chan_msg, const char *refs_reason, const char *refs_msg)
{
    trg_t *t = x->t;
    cJSON *st = cJSON_CreateObject();
    cJSON *conds = cJSON_AddArrayToObject(st, "conditions");
    const cJSON *old = old_status(x);
    bool refs_ok = refs_reason == NULL;
    if (t->pub.ready)
        add_condition(conds, old, "Ready", true, "SubscriptionReady",
                      "delivering every event of the channel");
    else if (!chan_ok)
        add_condition(conds, old, "Ready", false, chan_reason, chan_msg);
    else
        add_condition(conds, old, "Ready", false, refs_ok ? "NotReady" : refs_reason, refs_msg);
    add_condition(conds, old, "ChannelReady", chan_ok, chan_ok ? "ChannelReady" : chan_reason,
                  chan_ok ? "" : chan_msg);
    add_condition(conds, old, "ReferencesResolved", refs_ok,
                  refs_ok ? "ReferencesResolved" : refs_reason, refs_ok ? "" : refs_msg);
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

static void other_status(rec_t *x)
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
static rec_t *flow_entry(hd_resources_t *r, const rec_t *flow)
{
    const cJSON *first = cJSON_GetArrayItem(flow->children, 0);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(first, "metadata");
    const hd_kind_info_t *ki = hd_resources_kind_lookup(jstr(first, "kind"));
    const char *name = jstr(md, "name");
    if (!ki || !name)
        return NULL;
    char key[600];
    make_key(key, sizeof key, ki->plural, flow->ns, name);
    return rec_find(r, key);
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
    if (!d->ref_kind)
        return hd_strdup(d->uri);
    char key[600];
    make_key(key, sizeof key, d->ref_kind->plural, d->ref_ns, d->ref_name);
    rec_t *x = rec_find(r, key);
    if (!x) {
        snprintf(why, cap, "%s \"%s/%s\" does not exist; it is resolved as soon as it is applied",
                 d->ref_kind->kind, d->ref_ns, d->ref_name);
        return NULL;
    }
    const char *base = NULL;
    rec_t *target = x;
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
           str_eq(a->dead_letter_uri, b->dead_letter_uri) && a->max_in_flight == b->max_in_flight &&
           a->ordering == b->ordering && a->header_strict == b->header_strict &&
           a->structured == b->structured;
}

/* Takes a trigger or subscription out of its log's router and tells the observers. `forget`:
 * its log is gone (or it is), so its cursor, pending and dead records go too (the dispatcher
 * owns them); otherwise they stay and delivery resumes from the cursor when it is bound again
 * (nothing is skipped meanwhile). An unbound one that is forgotten is told too, so its records
 * go although it was never delivering. */
static void trigger_unbind(hd_resources_t *r, trg_t *t, bool forget)
{
    if (t->bound) {
        hd_router_remove(t->pub.broker->router, &t->pub);
        TELL(r, trigger_removed, &t->pub, forget);
        t->bound = false;
        t->pub.broker = NULL;
    } else if (forget) {
        TELL(r, trigger_removed, &t->pub, true);
    }
}

/* Recomputes a trigger's or subscription's binding, resolutions, effective delivery and status,
 * telling the router and the observers what changed. */
static void trigger_refresh(hd_resources_t *r, rec_t *x, bool spec_changed)
{
    trg_t *t = x->t;
    bool is_sub = t->pub.subscription;
    char key[600];
    make_key(key, sizeof key, t->log_ki->plural, x->ns, t->broker_name);
    rec_t *bx = rec_find(r, key);
    brk_t *b = bx ? bx->b : NULL;
    bool broker_ok = b && b->pub.ready;
    char bmsg[800] = "", smsg[800] = "", rmsg[800] = "", dmsg[800] = "";
    const char *breason = is_sub ? "ChannelReady" : "BrokerReady";
    const char *lk = t->log_ki->kind;
    if (!b) {
        breason = is_sub ? "ChannelDoesNotExist" : "BrokerDoesNotExist";
        snprintf(bmsg, sizeof bmsg,
                 "%s \"%s/%s\" does not exist; apply it and this %s becomes ready", lk, x->ns,
                 t->broker_name, is_sub ? "subscription" : "trigger");
    } else if (!broker_ok) {
        breason = is_sub ? "ChannelNotReady" : "BrokerNotReady";
        snprintf(bmsg, sizeof bmsg, "%s \"%s/%s\" is not ready: %s", lk, x->ns, t->broker_name,
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
    if (t->dls.set && !dls)
        own.set &= ~(unsigned)HD_DLV_DLS;
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
    bool ready = broker_ok && sub && reply_ok && (!t->dls.set || dls);

    if (t->bound && (!ready || !b || t->pub.broker != &b->pub))
        trigger_unbind(r, t, !b || t->pub.broker != &b->pub);

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
            TELL(r, trigger_added, &t->pub);
        } else {
            t->pub.broker = NULL;
            t->pub.ready = false;
            hd_log(HD_LOG_ERROR, "trigger could not be routed (out of memory)", "namespace", x->ns,
                   "trigger", x->name, NULL);
        }
    } else if (t->bound && (changed || ready_changed)) {
        TELL(r, trigger_updated, &t->pub);
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
    } else if (t->dls.set && !dls) {
        rr = "DeadLetterSinkResolveFailed";
        rm = dmsg;
    }
    subscription_status(x, broker_ok, breason, bmsg, rr, rm);
}

static void refresh_one(hd_resources_t *r, rec_t *x, void *arg)
{
    (void)arg;
    if (x->t)
        trigger_refresh(r, x, false);
}

static void broker_refresh(hd_resources_t *r, rec_t *x)
{
    brk_t *b = x->b;
    char why[400] = "";
    hd_free(b->dls_url);
    b->dls_url = b->dls.set ? resolve_dest(r, &b->dls, NULL, why, sizeof why) : NULL;
    b->pub.delivery.dead_letter_uri = b->dls_url;
    if (b->dls.set && !b->dls_url)
        b->pub.delivery.set &= ~(unsigned)HD_DLV_DLS;
    else if (b->dls.set)
        b->pub.delivery.set |= HD_DLV_DLS;
    /* The class annotation: Herald (default) runs here; Knative's MT class is taken as Herald so
     * Knative YAML applies unchanged. */
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(x->obj, "metadata"), "annotations");
    const char *cls = b->pub.channel ? NULL : jstr(ann, "eventing.knative.dev/broker.class");
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(x->obj, "spec"), "channelTemplate");
    const char *tkind = x->ki == hd_resources_kind_lookup("Channel") ? jstr(tmpl, "kind") : NULL;
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
    } else if (b->dls.set && !b->dls_url) {
        b->pub.ready = false;
        snprintf(b->reason, sizeof b->reason, "DeadLetterSinkResolveFailed");
        snprintf(b->why, sizeof b->why, "%s", why);
    } else {
        b->pub.ready = true;
        b->reason[0] = b->why[0] = '\0';
    }
    broker_status(x);
}

static void refresh_brokers(hd_resources_t *r, rec_t *x, void *arg)
{
    (void)arg;
    if (x->b)
        broker_refresh(r, x);
    else if (x->ki->type == HD_RK_OTHER)
        other_status(x);
}

/* The Ready condition's message of a record ("" when none). */
static const char *ready_message(const rec_t *x)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(old_status(x), "conditions"))
    {
        const char *t = jstr(c, "type");
        if (t && !strcmp(t, "Ready"))
            return jstr(c, "message") ? jstr(c, "message") : "";
    }
    return "";
}

static bool rec_ready(const rec_t *x)
{
    return x->b ? x->b->pub.ready : x->t ? x->t->pub.ready : false;
}

/* Lists a subscription in its channel's status.subscribers, as Knative's channels do. */
static void channel_subscriber(hd_resources_t *r, rec_t *x, void *arg)
{
    (void)arg;
    if (!x->t || !x->t->pub.subscription)
        return;
    char key[600];
    make_key(key, sizeof key, x->t->log_ki->plural, x->ns, x->t->broker_name);
    rec_t *c = rec_find(r, key);
    cJSON *subs = c && c->b ? cJSON_GetObjectItemCaseSensitive(old_status(c), "subscribers") : NULL;
    cJSON *e = subs ? cJSON_CreateObject() : NULL;
    if (!e)
        return;
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(x->obj, "metadata");
    cJSON_AddStringToObject(e, "uid", jstr(md, "uid") ? jstr(md, "uid") : "");
    cJSON_AddStringToObject(e, "name", x->name);
    cJSON_AddNumberToObject(e, "observedGeneration", (double)obj_generation(x->obj));
    cJSON_AddStringToObject(e, "ready", x->t->pub.ready ? "True" : "False");
    if (!x->t->pub.ready)
        cJSON_AddStringToObject(e, "message", ready_message(x));
    cJSON_AddItemToArray(subs, e);
}

/* "step 1", "branch 0 filter", "entry channel": a child's role in its flow, from its name. */
static void child_role(const rec_t *flow, const char *child, char *buf, size_t cap)
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
static void flow_status(hd_resources_t *r, rec_t *x)
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
        const hd_kind_info_t *ki = hd_resources_kind_lookup(jstr(c, "kind"));
        const char *name = jstr(cJSON_GetObjectItemCaseSensitive(c, "metadata"), "name");
        if (!ki || !name)
            continue;
        char key[600], role[64];
        make_key(key, sizeof key, ki->plural, x->ns, name);
        rec_t *y = rec_find(r, key);
        bool ready = y && rec_ready(y);
        const char *why = !y ? "not created" : ready_message(y);
        cJSON *e = cJSON_CreateObject();
        cJSON *ref = cJSON_AddObjectToObject(e, ki->type == HD_RK_SUBSCRIPTION ? "subscription"
                                                                               : "channel");
        cJSON_AddStringToObject(ref, "apiVersion", jstr(c, "apiVersion"));
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
    rec_t *entry = flow_entry(r, x);
    if (entry && entry->b && entry->b->pub.ready) {
        cJSON *addr = cJSON_AddObjectToObject(st, "address");
        cJSON_AddStringToObject(addr, "url", entry->b->pub.address_url);
    }
    char okr[32];
    snprintf(okr, sizeof okr, "%sReady", x->ki->kind);
    add_condition(conds, old_status(x), "Ready", ok, ok ? okr : reason, ok ? "" : msg);
    set_status(x, st);
}

static void refresh_flows(hd_resources_t *r, rec_t *x, void *arg)
{
    (void)arg;
    if (x->ki->type == HD_RK_FLOW)
        flow_status(r, x);
}

/* Re-resolves everything that may depend on other resources: logs first (a destination may be
 * one), then their consumers, then what is built from them. */
static void refresh_all(hd_resources_t *r)
{
    each_rec(r, refresh_brokers, NULL);
    each_rec(r, refresh_one, NULL);
    each_rec(r, channel_subscriber, NULL);
    each_rec(r, refresh_flows, NULL);
}

static char *address_for(hd_resources_t *r, const char *ns, const char *name, bool channel);

static void readdress(hd_resources_t *r, rec_t *x, void *arg)
{
    bool *changed = arg;
    if (!x->b)
        return;
    char *u = address_for(r, x->ns, x->name, x->b->pub.channel);
    if (u && strcmp(u, x->b->pub.address_url)) {
        hd_free(x->b->pub.address_url);
        x->b->pub.address_url = u;
        *changed = true;
    } else {
        hd_free(u);
    }
}

/* The resources load before the ingress binds, so a configured port 0 is only known later:
 * once the ingress is up, every broker address is recomputed (and what refers to them). */
static void sync_addresses(hd_resources_t *r)
{
    if (r->addr_final || !r->srv || !r->srv->ingress)
        return;
    r->addr_final = true;
    bool changed = false;
    each_rec(r, readdress, &changed);
    if (changed)
        refresh_all(r);
}

/* ---- preparing (validation; no state change) ---------------------------------------------- */

typedef struct {
    const hd_kind_info_t *ki;
    char *ns, *name, *key;
    cJSON *obj; /* normalized object without status */
    uint32_t stored_id;
    hd_filter_t *filter;
    hd_dest_t sub, reply, dls;
    hd_delivery_t dlv;
    char *broker_name;            /* a trigger's broker or a subscription's channel */
    const hd_kind_info_t *log_ki; /* that log's kind */
    cJSON *children;              /* flows: what hd_flows_expand built */
    bool child;                   /* built by a flow: stored, not reported in apply's result */
} prep_t;

/* Where a document comes from: a user (admin API, manifest files), the store at start-up, or a
 * flow that builds it (the only writer of a flow's children). */
typedef enum { FROM_USER, FROM_STORE, FROM_FLOW } origin_t;

static void prep_free(prep_t *p)
{
    hd_free(p->ns);
    hd_free(p->name);
    hd_free(p->key);
    cJSON_Delete(p->obj);
    hd_filter_free(p->filter);
    hd_resources__dest_free(&p->sub);
    hd_resources__dest_free(&p->reply);
    hd_resources__dest_free(&p->dls);
    hd_free(p->broker_name);
    cJSON_Delete(p->children);
    memset(p, 0, sizeof *p);
}

static hd_err_t check_string_map(const cJSON *m, const char *path, char *err, size_t cap)
{
    if (!m || cJSON_IsNull(m))
        return HD_E_OK;
    if (!cJSON_IsObject(m)) {
        snprintf(err, cap, "%s: must be a map of strings", path);
        return HD_E_INVAL;
    }
    for (const cJSON *it = m->child; it; it = it->next)
        if (!cJSON_IsString(it)) {
            snprintf(err, cap, "%s.%s: value must be a string (quote it)", path, it->string);
            return HD_E_INVAL;
        }
    return HD_E_OK;
}

static hd_err_t prep_trigger(hd_resources_t *r, prep_t *p, const cJSON *spec, char *err, size_t cap)
{
    if (!cJSON_IsObject(spec)) {
        snprintf(err, cap, "spec: required (broker, subscriber, optional filter(s), delivery)");
        return HD_E_INVAL;
    }
    for (const cJSON *it = spec->child; it; it = it->next) {
        static const char *const known[] = {"broker",     "brokerRef", "filter", "filters",
                                            "subscriber", "delivery",  NULL};
        bool ok = false;
        for (const char *const *k = known; *k; k++)
            ok |= !strcmp(*k, it->string);
        if (!ok) {
            snprintf(err, cap,
                     "spec.%s: unknown field (known: broker, filter, filters, "
                     "subscriber, delivery)",
                     it->string);
            return HD_E_INVAL;
        }
    }
    const char *broker = jstr(spec, "broker");
    if (!broker) {
        const cJSON *bref = cJSON_GetObjectItemCaseSensitive(spec, "brokerRef");
        broker = jstr(bref, "name");
        const char *bns = jstr(bref, "namespace");
        if (bns && strcmp(bns, p->ns)) {
            snprintf(err, cap,
                     "spec.brokerRef.namespace: cross-namespace triggers are not "
                     "supported; put the trigger in namespace '%s'",
                     bns);
            return HD_E_INVAL;
        }
    }
    if (!broker || !hd_resources__dns_name_ok(broker)) {
        snprintf(err, cap, "spec.broker: required, the name of a Broker in namespace '%s'", p->ns);
        return HD_E_INVAL;
    }
    char key[600];
    make_key(key, sizeof key, "triggers", p->ns, p->name);
    rec_t *old = r ? rec_find(r, key) : NULL;
    if (old && old->t && strcmp(old->t->broker_name, broker)) {
        snprintf(err, cap,
                 "spec.broker: is immutable (was '%s'); delete the trigger and "
                 "create it again to move it",
                 old->t->broker_name);
        return HD_E_INVAL;
    }
    if (!(p->broker_name = hd_strdup(broker)))
        return HD_E_NOMEM;
    p->log_ki = hd_resources_kind_lookup("Broker");
    char ferr[ERRCAP - 8]; /* room for the "spec." prefix */
    hd_err_t rc = hd_filter_compile(cJSON_GetObjectItemCaseSensitive(spec, "filter"),
                                    cJSON_GetObjectItemCaseSensitive(spec, "filters"), &p->filter,
                                    ferr, sizeof ferr);
    if (rc) {
        snprintf(err, cap, "spec.%s", ferr);
        return rc;
    }
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(spec, "subscriber");
    if (!sub) {
        snprintf(err, cap, "spec.subscriber: required (uri, or ref to a Broker/Service/...)");
        return HD_E_INVAL;
    }
    if ((rc = hd_resources__dest_parse(sub, "spec.subscriber", p->ns, &p->sub, err, cap)))
        return rc;
    return hd_resources__delivery_parse(cJSON_GetObjectItemCaseSensitive(spec, "delivery"),
                                        "spec.delivery", p->ns, &p->dlv, &p->dls, err, cap);
}

/* Only these fields may appear in spec. */
static hd_err_t spec_fields(const cJSON *spec, const char *const *known, const char *list,
                            char *err, size_t cap)
{
    for (const cJSON *it = spec->child; it; it = it->next) {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = !strcmp(*k, it->string);
        if (!ok) {
            snprintf(err, cap, "spec.%s: unknown field (known: %s)", it->string, list);
            return HD_E_INVAL;
        }
    }
    return HD_E_OK;
}

static const cJSON *spec_of(const rec_t *x)
{
    return x ? cJSON_GetObjectItemCaseSensitive(x->obj, "spec") : NULL;
}

static rec_t *find_kind(hd_resources_t *r, const char *kind, const char *ns, const char *name)
{
    char key[600];
    make_key(key, sizeof key, hd_resources_kind_lookup(kind)->plural, ns, name);
    return r ? rec_find(r, key) : NULL;
}

/* A Channel (channelTemplate, immutable, default InMemoryChannel) or an InMemoryChannel. Both
 * are addressed as /{ns}/channels/{name}, so one name may not be both. `spec.subscribers` is
 * what a cluster's controller writes from the Subscriptions: accepted so exported manifests
 * apply, and ignored (Herald lists them in status.subscribers). */
static hd_err_t prep_channel(hd_resources_t *r, prep_t *p, const cJSON *spec, char *err,
                             size_t cap)
{
    bool generic = !strcmp(p->ki->kind, "Channel");
    const char *other = generic ? "InMemoryChannel" : "Channel";
    if (find_kind(r, other, p->ns, p->name)) {
        snprintf(err, cap,
                 "metadata.name: %s \"%s/%s\" already exists and has the address "
                 ".../%s/channels/%s; choose another name",
                 other, p->ns, p->name, p->ns, p->name);
        return HD_E_INVAL;
    }
    if (!spec || cJSON_IsNull(spec))
        return HD_E_OK;
    if (!cJSON_IsObject(spec)) {
        snprintf(err, cap, "spec: must be an object");
        return HD_E_INVAL;
    }
    static const char *const known[] = {"channelTemplate", "delivery", "subscribers", NULL};
    static const char *const known_imc[] = {"delivery", "subscribers", NULL};
    hd_err_t rc = generic ? spec_fields(spec, known, "channelTemplate, delivery", err, cap)
                          : spec_fields(spec, known_imc, "delivery", err, cap);
    if (rc)
        return rc;
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(spec, "channelTemplate");
    if (tmpl && !cJSON_IsNull(tmpl)) {
        const char *tk = jstr(tmpl, "kind");
        const hd_kind_info_t *tki = hd_resources_kind_lookup(tk);
        if (!cJSON_IsObject(tmpl) || !tk || !jstr(tmpl, "apiVersion")) {
            snprintf(err, cap, "spec.channelTemplate: must be an object with apiVersion and kind");
            return HD_E_INVAL;
        }
        if (!tki || strcmp(tki->kind, tk) || !strcmp(tk, "Channel") ||
            (tki->type != HD_RK_CHANNEL && strcmp(tk, "KafkaChannel"))) {
            snprintf(err, cap,
                     "spec.channelTemplate.kind: '%s' is not a channel kind Herald knows "
                     "(InMemoryChannel, KafkaChannel)",
                     tk);
            return HD_E_INVAL;
        }
    }
    return hd_resources__delivery_parse(cJSON_GetObjectItemCaseSensitive(spec, "delivery"),
                                        "spec.delivery", p->ns, &p->dlv, &p->dls, err, cap);
}

/* A Channel's template with the default filled in (Knative's webhook does the same), so that
 * changing it is seen whether or not the first manifest spelled it out. */
static hd_err_t channel_default_template(cJSON *spec)
{
    if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(spec, "channelTemplate")))
        return HD_E_OK;
    cJSON_DeleteItemFromObjectCaseSensitive(spec, "channelTemplate");
    cJSON *t = cJSON_AddObjectToObject(spec, "channelTemplate");
    if (!t || !cJSON_AddStringToObject(t, "apiVersion", HD_FLOWS_DEFAULT_CHANNEL_API) ||
        !cJSON_AddStringToObject(t, "kind", HD_FLOWS_DEFAULT_CHANNEL_KIND))
        return HD_E_NOMEM;
    return HD_E_OK;
}

/* A Subscription: channel (same namespace, immutable), subscriber and/or reply, delivery. */
static hd_err_t prep_subscription(hd_resources_t *r, prep_t *p, const cJSON *spec, char *err,
                                  size_t cap)
{
    if (!cJSON_IsObject(spec)) {
        snprintf(err, cap, "spec: required (channel, subscriber, optional reply, delivery)");
        return HD_E_INVAL;
    }
    static const char *const known[] = {"channel", "subscriber", "reply", "delivery", NULL};
    hd_err_t rc = spec_fields(spec, known, "channel, subscriber, reply, delivery", err, cap);
    if (rc)
        return rc;
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(spec, "channel");
    const char *ck = jstr(ch, "kind"), *cn = jstr(ch, "name"), *cns = jstr(ch, "namespace");
    if (!cJSON_IsObject(ch) || !ck || !cn || !hd_resources__dns_name_ok(cn)) {
        snprintf(err, cap,
                 "spec.channel: required, a reference {apiVersion, kind, name} to a Channel or "
                 "InMemoryChannel in namespace '%s'",
                 p->ns);
        return HD_E_INVAL;
    }
    const hd_kind_info_t *cki = hd_resources_kind_lookup(ck);
    if (!cki || strcmp(cki->kind, ck) || cki->type != HD_RK_CHANNEL) {
        snprintf(err, cap,
                 "spec.channel.kind: '%s' is not a channel kind this heraldd runs (Channel, "
                 "InMemoryChannel)",
                 ck);
        return HD_E_INVAL;
    }
    if (cns && strcmp(cns, p->ns)) {
        snprintf(err, cap,
                 "spec.channel.namespace: a subscription must be in its channel's namespace "
                 "('%s')",
                 cns);
        return HD_E_INVAL;
    }
    rec_t *old = find_kind(r, "Subscription", p->ns, p->name);
    if (old && old->t && (old->t->log_ki != cki || strcmp(old->t->broker_name, cn))) {
        snprintf(err, cap,
                 "spec.channel: is immutable (was %s '%s'); delete the subscription and create "
                 "it again to move it",
                 old->t->log_ki->kind, old->t->broker_name);
        return HD_E_INVAL;
    }
    p->log_ki = cki;
    if (!(p->broker_name = hd_strdup(cn)))
        return HD_E_NOMEM;
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(spec, "subscriber");
    const cJSON *reply = cJSON_GetObjectItemCaseSensitive(spec, "reply");
    bool has_sub = sub && !cJSON_IsNull(sub), has_reply = reply && !cJSON_IsNull(reply);
    if (!has_sub && !has_reply) {
        snprintf(err, cap, "spec.subscriber: required unless spec.reply is set (uri, or ref to a "
                           "Broker, Channel, Service, ...)");
        return HD_E_INVAL;
    }
    if (has_sub &&
        (rc = hd_resources__dest_parse(sub, "spec.subscriber", p->ns, &p->sub, err, cap)))
        return rc;
    if (has_reply &&
        (rc = hd_resources__dest_parse(reply, "spec.reply", p->ns, &p->reply, err, cap)))
        return rc;
    return hd_resources__delivery_parse(cJSON_GetObjectItemCaseSensitive(spec, "delivery"),
                                        "spec.delivery", p->ns, &p->dlv, &p->dls, err, cap);
}

static hd_err_t prep_broker(prep_t *p, const cJSON *spec, char *err, size_t cap)
{
    if (!spec || cJSON_IsNull(spec))
        return HD_E_OK;
    if (!cJSON_IsObject(spec)) {
        snprintf(err, cap, "spec: must be an object");
        return HD_E_INVAL;
    }
    for (const cJSON *it = spec->child; it; it = it->next) {
        if (strcmp(it->string, "delivery") && strcmp(it->string, "config")) {
            snprintf(err, cap, "spec.%s: unknown field (known: config, delivery)", it->string);
            return HD_E_INVAL;
        }
    }
    return hd_resources__delivery_parse(cJSON_GetObjectItemCaseSensitive(spec, "delivery"),
                                        "spec.delivery", p->ns, &p->dlv, &p->dls, err, cap);
}

/* The template a flow or Channel had and the one it gets must be the same: its channels (and
 * the events they hold) were made of it. */
static hd_err_t template_unchanged(const rec_t *old, const cJSON *spec, char *err, size_t cap)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(spec_of(old), "channelTemplate");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(spec, "channelTemplate");
    if (!old || cJSON_Compare(a, b, 1) || (!a && !b))
        return HD_E_OK;
    snprintf(err, cap,
             "spec.channelTemplate: is immutable (was %s %s); delete the %s and create it again "
             "to change it (its stored events go with it)",
             a ? jstr(a, "kind") : "none", a ? jstr(a, "apiVersion") : "", old->ki->kind);
    return HD_E_INVAL;
}

/* Validates one document and builds its normalized object. FROM_STORE: loaded at start-up
 * (keeps uid, generation, creationTimestamp and id). */
static hd_err_t prepare(hd_resources_t *r, const cJSON *doc, origin_t origin, prep_t *p, char *err,
                        size_t cap)
{
    bool stored = origin == FROM_STORE;
    memset(p, 0, sizeof *p);
    const char *api = jstr(doc, "apiVersion");
    const char *kind = jstr(doc, "kind");
    if (!kind) {
        snprintf(err, cap, "kind: required (one of %s)", hd_resources_kind_names());
        return HD_E_INVAL;
    }
    const hd_kind_info_t *ki = hd_resources_kind_lookup(kind);
    if (!ki || strcmp(ki->kind, kind)) {
        snprintf(err, cap, "kind: '%s' is not a kind Herald knows (one of %s)", kind,
                 hd_resources_kind_names());
        return HD_E_INVAL;
    }
    if (!api) {
        snprintf(err, cap, "apiVersion: required (%s/%s)", ki->group, ki->version);
        return HD_E_INVAL;
    }
    const char *slash = strchr(api, '/');
    if (!slash || (size_t)(slash - api) != strlen(ki->group) ||
        strncmp(api, ki->group, (size_t)(slash - api)) || !slash[1]) {
        snprintf(err, cap, "apiVersion: '%s' does not match kind %s (expected %s/%s)", api,
                 ki->kind, ki->group, ki->version);
        return HD_E_INVAL;
    }
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    const char *name = jstr(md, "name");
    const char *ns = jstr(md, "namespace");
    if (!name || !hd_resources__dns_name_ok(name)) {
        snprintf(err, cap, "metadata.name: %s%s%s", name ? "'" : "required", name ? name : "",
                 name ? "' is not a DNS-1123 name (lower-case letters, digits, "
                        "'-' and '.')"
                      : "");
        return HD_E_INVAL;
    }
    if (!ns)
        ns = "default";
    if (!hd_resources__dns_label_ok(ns)) {
        snprintf(err, cap, "metadata.namespace: '%s' is not a DNS-1123 label", ns);
        return HD_E_INVAL;
    }
    hd_err_t rc = HD_E_OK;
    if ((rc = check_string_map(cJSON_GetObjectItemCaseSensitive(md, "labels"), "metadata.labels",
                               err, cap)) ||
        (rc = check_string_map(cJSON_GetObjectItemCaseSensitive(md, "annotations"),
                               "metadata.annotations", err, cap)))
        return rc;
    p->ki = ki;
    p->ns = hd_strdup(ns);
    p->name = hd_strdup(name);
    p->key = hd_malloc(strlen(ki->plural) + strlen(ns) + strlen(name) + 3);
    if (!p->ns || !p->name || !p->key)
        goto nomem;
    sprintf(p->key, "%s/%s/%s", ki->plural, ns, name);
    rec_t *old = r ? rec_find(r, p->key) : NULL;
    const char *owner_kind, *owner_name;
    if (origin == FROM_USER && old && hd_flows_owner(old->obj, &owner_kind, &owner_name) &&
        find_kind(r, owner_kind, ns, owner_name)) {
        snprintf(err, cap, "%s \"%s/%s\" is built by %s \"%s/%s\"; change the %s instead",
                 ki->kind, ns, name, owner_kind, ns, owner_name, owner_kind);
        rc = HD_E_INVAL;
        goto fail;
    }
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(doc, "spec");
    if (ki->type == HD_RK_TRIGGER)
        rc = prep_trigger(r, p, spec, err, cap);
    else if (ki->type == HD_RK_BROKER)
        rc = prep_broker(p, spec, err, cap);
    else if (ki->type == HD_RK_CHANNEL)
        rc = prep_channel(r, p, spec, err, cap);
    else if (ki->type == HD_RK_SUBSCRIPTION)
        rc = prep_subscription(r, p, spec, err, cap);
    if (rc)
        goto fail;

    /* The normalized object. */
    const cJSON *omd = old ? cJSON_GetObjectItemCaseSensitive(old->obj, "metadata") : NULL;
    cJSON *o = p->obj = cJSON_CreateObject();
    if (!o)
        goto nomem;
    cJSON_AddStringToObject(o, "apiVersion", api);
    cJSON_AddStringToObject(o, "kind", ki->kind);
    cJSON *m = cJSON_AddObjectToObject(o, "metadata");
    cJSON_AddStringToObject(m, "name", name);
    cJSON_AddStringToObject(m, "namespace", ns);
    char uid[HD_TIME_UUID_MAX], ts[40];
    const char *src_uid = stored ? jstr(md, "uid") : jstr(omd, "uid");
    if (!src_uid) {
        hd_time_uuid_v4(uid);
        src_uid = uid;
    }
    cJSON_AddStringToObject(m, "uid", src_uid);
    const char *src_ts = stored ? jstr(md, "creationTimestamp") : jstr(omd, "creationTimestamp");
    if (!src_ts) {
        hd_time_rfc3339_format(hd_wall_ms(), false, ts, sizeof ts);
        src_ts = ts;
    }
    cJSON_AddStringToObject(m, "creationTimestamp", src_ts);
    long long gen = 1;
    cJSON *nspec = cJSON_IsObject(spec) ? cJSON_Duplicate(spec, 1) : cJSON_CreateObject();
    if (nspec && !strcmp(ki->kind, "Channel") && channel_default_template(nspec))
        goto nomem_spec;
    if (nspec && (ki->type == HD_RK_FLOW || !strcmp(ki->kind, "Channel")) && !stored &&
        (rc = template_unchanged(old, nspec, err, cap))) {
        cJSON_Delete(nspec);
        goto fail;
    }
    if (stored) {
        gen = obj_generation(doc);
    } else if (old) {
        const cJSON *ospec = cJSON_GetObjectItemCaseSensitive(old->obj, "spec");
        gen = obj_generation(old->obj);
        if (!ospec || !nspec || !cJSON_Compare(ospec, nspec, 1))
            gen++;
    }
    cJSON_AddNumberToObject(m, "generation", (double)gen);
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(md, "labels");
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(md, "annotations");
    if (cJSON_IsObject(labels))
        cJSON_AddItemToObject(m, "labels", cJSON_Duplicate(labels, 1));
    if (cJSON_IsObject(ann))
        cJSON_AddItemToObject(m, "annotations", cJSON_Duplicate(ann, 1));
    const cJSON *owners = cJSON_GetObjectItemCaseSensitive(md, "ownerReferences");
    if (cJSON_IsArray(owners))
        cJSON_AddItemToObject(m, "ownerReferences", cJSON_Duplicate(owners, 1));
    if (!nspec)
        goto nomem;
    cJSON_AddItemToObject(o, "spec", nspec);
    if (ki->type == HD_RK_FLOW && (rc = hd_flows_expand(o, &p->children, err, cap)))
        goto fail;
    if (stored) {
        const cJSON *id =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "status"), "id");
        if (cJSON_IsNumber(id))
            p->stored_id = (uint32_t)id->valuedouble;
        /* keep the old status so lastTransitionTime survives a restart */
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "status");
        if (st)
            cJSON_AddItemToObject(o, "status", cJSON_Duplicate(st, 1));
    }
    return HD_E_OK;
nomem_spec:
    cJSON_Delete(nspec);
nomem:
    snprintf(err, cap, "out of memory");
    rc = HD_E_NOMEM;
fail:
    prep_free(p);
    return rc;
}

/* ---- installing (state changes) ---------------------------------------------------------- */

/* http://HOST:PORT/{ns}/{broker}, or /{ns}/channels/{name} for a channel. */
static char *address_for(hd_resources_t *r, const char *ns, const char *name, bool channel)
{
    char host[300] = "127.0.0.1:8080";
    if (r->srv && r->srv->cfg && r->srv->cfg->ingress_listen)
        snprintf(host, sizeof host, "%s", r->srv->cfg->ingress_listen);
    if (r->srv && r->srv->ingress) {
        /* the bound port (the configured one may be 0) */
        char *colon = strrchr(host, ':');
        if (colon)
            snprintf(colon, sizeof host - (size_t)(colon - host), ":%d",
                     hd_http_server_port(r->srv->ingress));
    }
    size_t n = strlen(host) + strlen(ns) + strlen(name) + 32;
    char *u = hd_malloc(n);
    if (u)
        snprintf(u, n, "http://%s/%s/%s%s", host, ns, channel ? "channels/" : "", name);
    return u;
}

static void rec_free(rec_t *x)
{
    if (!x)
        return;
    if (x->b) {
        hd_router_free(x->b->pub.router);
        hd_free(x->b->pub.address_url);
        hd_free(x->b->dls_url);
        hd_resources__dest_free(&x->b->dls);
        hd_free(x->b);
    }
    if (x->t) {
        hd_filter_free(x->t->pub.filter);
        hd_free(x->t->pub.subscriber_uri);
        hd_free(x->t->broker_name);
        hd_resources__dest_free(&x->t->sub);
        hd_resources__dest_free(&x->t->reply);
        hd_resources__dest_free(&x->t->dls);
        hd_free(x->t->pub.reply_uri);
        hd_free(x->t->dls_url);
        hd_free(x->t->merged_dls);
        hd_free(x->t);
    }
    cJSON_Delete(x->obj);
    cJSON_Delete(x->children);
    hd_free(x->key);
    hd_free(x->ns);
    hd_free(x->name);
    hd_free(x->ext_reason);
    hd_free(x->ext_message);
    hd_free(x->ext_url);
    hd_free(x);
}

static uint32_t alloc_id(hd_resources_t *r, uint32_t stored)
{
    if (stored) {
        if (stored >= r->next_id)
            r->next_id = stored + 1;
        return stored;
    }
    return r->next_id++;
}

/* Installs a prepared document (consumes p). Sets *kind_changed when a non-trigger resource
 * changed (others may need re-resolving). */
static hd_err_t install(hd_resources_t *r, prep_t *p, rec_t **out, bool *others_changed)
{
    rec_t *x = rec_find(r, p->key);
    bool created = false;
    if (!x) {
        x = hd_calloc(1, sizeof *x);
        if (!x)
            return HD_E_NOMEM;
        x->ki = p->ki;
        x->key = p->key;
        x->ns = p->ns;
        x->name = p->name;
        p->key = p->ns = p->name = NULL;
        if (p->ki->type == HD_RK_BROKER || p->ki->type == HD_RK_CHANNEL) {
            bool channel = p->ki->type == HD_RK_CHANNEL;
            x->b = hd_calloc(1, sizeof *x->b);
            if (x->b)
                x->b->pub.router = hd_router_new();
            if (x->b)
                x->b->pub.address_url = address_for(r, x->ns, x->name, channel);
            if (!x->b || !x->b->pub.router || !x->b->pub.address_url)
                goto nomem;
            x->b->rec = x;
            x->b->pub.channel = channel;
            x->b->pub.ns = x->ns;
            x->b->pub.name = x->name;
            x->b->pub.retention_ms = HD_CONFIG_RETENTION_MS;
            if (r->srv && r->srv->cfg && r->srv->cfg->retention_ms)
                x->b->pub.retention_ms = r->srv->cfg->retention_ms;
        } else if (p->ki->type == HD_RK_TRIGGER || p->ki->type == HD_RK_SUBSCRIPTION) {
            x->t = hd_calloc(1, sizeof *x->t);
            if (!x->t)
                goto nomem;
            x->t->rec = x;
            x->t->pub.subscription = p->ki->type == HD_RK_SUBSCRIPTION;
            x->t->pub.ns = x->ns;
            x->t->pub.name = x->name;
        }
        if (x->b || x->t) {
            x->id = alloc_id(r, p->stored_id);
            if (x->b)
                x->b->pub.id = x->id;
            else
                x->t->pub.id = x->id;
            if (id_put(r, x))
                goto nomem;
        }
        if (rec_insert(r, x)) {
            id_del(r, x);
            goto nomem;
        }
        created = true;
    }
    /* keep the previous status around so transition times are preserved */
    cJSON *prev_status = cJSON_DetachItemFromObjectCaseSensitive(x->obj, "status");
    cJSON_Delete(x->obj);
    x->obj = p->obj;
    p->obj = NULL;
    if (prev_status && !cJSON_GetObjectItemCaseSensitive(x->obj, "status"))
        cJSON_AddItemToObject(x->obj, "status", prev_status);
    else
        cJSON_Delete(prev_status);

    if (x->b) {
        brk_t *b = x->b;
        hd_resources__dest_free(&b->dls);
        b->dls = p->dls;
        memset(&p->dls, 0, sizeof p->dls);
        b->pub.delivery = p->dlv;
        b->pub.delivery.dead_letter_uri = NULL;
        broker_refresh(r, x);
        if (created)
            TELL(r, broker_added, &b->pub);
        *others_changed = true;
    } else if (x->t) {
        trg_t *t = x->t;
        if (t->bound)
            hd_router_remove(t->pub.broker->router, &t->pub);
        hd_filter_free(t->pub.filter);
        t->pub.filter = p->filter;
        p->filter = NULL;
        if (t->bound && hd_router_add(t->pub.broker->router, &t->pub)) {
            /* cannot route it (out of memory): unbind fully so the dispatcher forgets it; the
             * refresh below tries to bind it again */
            TELL(r, trigger_removed, &t->pub, false);
            t->bound = false;
            t->pub.broker = NULL;
        }
        hd_free(t->broker_name);
        t->broker_name = p->broker_name;
        p->broker_name = NULL;
        t->log_ki = p->log_ki;
        hd_resources__dest_free(&t->sub);
        t->sub = p->sub;
        memset(&p->sub, 0, sizeof p->sub);
        hd_resources__dest_free(&t->reply);
        t->reply = p->reply;
        memset(&p->reply, 0, sizeof p->reply);
        hd_resources__dest_free(&t->dls);
        t->dls = p->dls;
        memset(&p->dls, 0, sizeof p->dls);
        t->own = p->dlv;
        trigger_refresh(r, x, !created);
        if (t->pub.subscription)
            *others_changed = true; /* its channel lists it in status.subscribers */
    } else if (x->ki->type == HD_RK_FLOW) {
        cJSON_Delete(x->children);
        x->children = p->children;
        p->children = NULL;
        *others_changed = true; /* its status is computed once its children are in */
    } else {
        other_status(x);
        *others_changed = true;
    }
    prep_free(p);
    *out = x;
    return HD_E_OK;
nomem: /* only reached before the record was inserted */
    rec_free(x);
    return HD_E_NOMEM;
}

static void persist(hd_state_txn_t *batch, rec_t *x)
{
    if (!batch)
        return;
    char *json = cJSON_PrintUnformatted(x->obj);
    if (json) {
        hd_state_resource_put(batch, x->key, json, strlen(json));
        free(json);
    }
}

static void persist_meta(hd_resources_t *r, hd_state_txn_t *batch)
{
    if (!batch)
        return;
    unsigned char be[4] = {(unsigned char)(r->next_id >> 24), (unsigned char)(r->next_id >> 16),
                           (unsigned char)(r->next_id >> 8), (unsigned char)r->next_id};
    hd_state_meta_put(batch, "resources.next_id", be, sizeof be);
}

/* ---- apply / delete ----------------------------------------------------------------------- */

typedef struct {
    hd_resources_done_fn cb;
    void *arg;
    cJSON *result;
} done_ctx_t;

static void store_done(void *arg, hd_err_t status)
{
    done_ctx_t *c = arg;
    char msg[200] = "";
    if (status)
        snprintf(msg, sizeof msg, "the change is active but could not be stored: %s",
                 hd_err_message(status));
    if (c->cb)
        c->cb(c->arg, status, status ? NULL : c->result, status ? msg : NULL);
    cJSON_Delete(c->result);
    hd_free(c);
}

/* Submits the batch (or answers at once without a store). Takes result and batch. */
static void finish(hd_resources_t *r, hd_state_txn_t *batch, cJSON *result,
                   hd_resources_done_fn cb, void *arg)
{
    (void)r; /* the transaction knows its state */
    if (!batch) {
        if (cb)
            cb(arg, HD_E_OK, result, NULL);
        cJSON_Delete(result);
        return;
    }
    done_ctx_t *c = hd_calloc(1, sizeof *c);
    if (!c) {
        hd_state_txn_free(batch);
        if (cb)
            cb(arg, HD_E_NOMEM, NULL, "out of memory");
        cJSON_Delete(result);
        return;
    }
    c->cb = cb;
    c->arg = arg;
    c->result = result;
    hd_err_t rc = hd_state_txn_submit(batch, store_done, c);
    if (rc) {
        hd_free(c);
        char msg[200];
        snprintf(msg, sizeof msg, "store: %s", hd_err_message(rc));
        if (cb)
            cb(arg, rc, NULL, msg);
        cJSON_Delete(result);
    }
}

static hd_state_txn_t *new_batch(hd_resources_t *r)
{
    return (r->srv && r->srv->state && !r->loading) ? hd_state_txn_new(r->srv->state) : NULL;
}

static void describe_doc(const cJSON *doc, int index, char *buf, size_t cap)
{
    const char *kind = jstr(doc, "kind");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    const char *name = jstr(md, "name"), *ns = jstr(md, "namespace");
    if (kind && name)
        snprintf(buf, cap, "document %d (%s %s/%s)", index, kind, ns ? ns : "default", name);
    else
        snprintf(buf, cap, "document %d", index);
}

/* Prepared documents, in install order: each flow is followed by its children. */
typedef struct {
    prep_t *v;
    size_t n, cap;
} preps_t;

static prep_t *preps_push(preps_t *ps)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 8;
        prep_t *v = hd_realloc(ps->v, cap * sizeof *v);
        if (!v)
            return NULL;
        ps->v = v;
        ps->cap = cap;
    }
    return &ps->v[ps->n++];
}

static void preps_free(preps_t *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        prep_free(&ps->v[i]);
    hd_free(ps->v);
}

/* Prepares a flow's children after it (they are validated with the rest, before anything is
 * installed). */
static hd_err_t prep_children(hd_resources_t *r, preps_t *ps, size_t flow, char *err, size_t cap)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, ps->v[flow].children)
    {
        prep_t *p = preps_push(ps);
        if (!p) {
            snprintf(err, cap, "out of memory");
            return HD_E_NOMEM;
        }
        char e[ERRCAP];
        hd_err_t rc = prepare(r, c, FROM_FLOW, p, e, sizeof e);
        if (rc) {
            ps->n--;
            snprintf(err, cap, "%s %s: %s", jstr(c, "kind"),
                     jstr(cJSON_GetObjectItemCaseSensitive(c, "metadata"), "name"), e);
            return rc;
        }
        p->child = true;
    }
    return HD_E_OK;
}

/* True when the flow's new children include `key`. */
static bool children_have(const rec_t *flow, const cJSON *children, const char *key)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, children)
    {
        const hd_kind_info_t *ki = hd_resources_kind_lookup(jstr(c, "kind"));
        char k[600];
        make_key(k, sizeof k, ki ? ki->plural : "",
                 flow->ns, jstr(cJSON_GetObjectItemCaseSensitive(c, "metadata"), "name"));
        if (!strcmp(k, key))
            return true;
    }
    return false;
}

static void remove_rec(hd_resources_t *r, rec_t *x, hd_state_txn_t *batch);

/* The children a flow had and no longer has (fewer steps, another template) go. */
static void remove_stale_children(hd_resources_t *r, const char *flow_key, const cJSON *old,
                                  hd_state_txn_t *batch)
{
    rec_t *flow = rec_find(r, flow_key);
    const cJSON *c;
    cJSON_ArrayForEach(c, old)
    {
        const hd_kind_info_t *ki = hd_resources_kind_lookup(jstr(c, "kind"));
        const char *name = jstr(cJSON_GetObjectItemCaseSensitive(c, "metadata"), "name");
        if (!ki || !name || !flow)
            continue;
        char key[600];
        make_key(key, sizeof key, ki->plural, flow->ns, name);
        rec_t *y = rec_find(r, key);
        if (y && !children_have(flow, flow->children, key))
            remove_rec(r, y, batch);
    }
}

/* The synchronous part of apply: validates all, installs all. Returns the result array (owned)
 * and the batch to submit, or an error with err set. */
static hd_err_t apply_sync(hd_resources_t *r, const char *text, size_t len, cJSON **result,
                           hd_state_txn_t **batch_out, char *err, size_t cap)
{
    cJSON *docs = NULL;
    char perr[ERRCAP];
    hd_err_t rc = hd_manifest_parse(text, len, &docs, perr, sizeof perr);
    if (rc) {
        snprintf(err, cap, "%s", perr);
        return rc == HD_E_NOMEM ? rc : HD_E_INVAL;
    }
    int n = cJSON_GetArraySize(docs);
    if (n == 0) {
        cJSON_Delete(docs);
        snprintf(err, cap, "no documents found");
        return HD_E_INVAL;
    }
    preps_t ps = {0};
    int i = 0;
    const cJSON *doc;
    cJSON_ArrayForEach(doc, docs)
    {
        char e[ERRCAP];
        prep_t *p = preps_push(&ps);
        rc = p ? prepare(r, doc, FROM_USER, p, e, sizeof e) : HD_E_NOMEM;
        if (rc == HD_E_OK && p->children)
            rc = prep_children(r, &ps, ps.n - 1, e, sizeof e);
        else if (rc && p)
            ps.n--;
        if (rc) {
            char where[300];
            describe_doc(doc, i + 1, where, sizeof where);
            snprintf(err, cap, "%s: %s", where, rc == HD_E_NOMEM ? "out of memory" : e);
            preps_free(&ps);
            cJSON_Delete(docs);
            return rc;
        }
        i++;
    }
    cJSON_Delete(docs);
    hd_state_txn_t *batch = new_batch(r);
    cJSON *out = cJSON_CreateArray();
    rec_t **done = hd_calloc(ps.n, sizeof *done);
    bool *child = hd_calloc(ps.n, sizeof *child);
    bool others = false;
    rc = HD_E_OK;
    for (size_t k = 0; k < ps.n; k++) {
        prep_t *p = &ps.v[k];
        cJSON *old_children = NULL;
        char *flow_key = NULL;
        if (p->children) {
            rec_t *old = rec_find(r, p->key);
            old_children = old ? old->children : NULL;
            if (old)
                old->children = NULL; /* kept until the stale ones are removed */
            flow_key = hd_strdup(p->key);
        }
        if (child)
            child[k] = p->child;
        if (rc == HD_E_OK && done && child && out && (!p->children || flow_key))
            rc = install(r, p, &done[k], &others);
        else
            rc = HD_E_NOMEM;
        if (rc == HD_E_OK && old_children)
            remove_stale_children(r, flow_key, old_children, batch);
        cJSON_Delete(old_children);
        hd_free(flow_key);
    }
    preps_free(&ps);
    if (rc) {
        hd_free(done);
        hd_free(child);
        cJSON_Delete(out);
        hd_state_txn_free(batch);
        snprintf(err, cap, "out of memory (some documents may have been applied)");
        return rc;
    }
    if (others)
        refresh_all(r);
    for (size_t k = 0; k < ps.n; k++) {
        /* the same resource may appear twice; persist and report each document */
        persist(batch, done[k]);
        if (!child[k])
            cJSON_AddItemToArray(out, cJSON_Duplicate(done[k]->obj, 1));
    }
    persist_meta(r, batch);
    hd_free(done);
    hd_free(child);
    *result = out;
    *batch_out = batch;
    return HD_E_OK;
}

void hd_resources_apply(hd_resources_t *r, const char *text, size_t len, hd_resources_done_fn cb,
                        void *arg)
{
    sync_addresses(r);
    char err[ERRCAP * 2];
    cJSON *result = NULL;
    hd_state_txn_t *batch = NULL;
    hd_err_t rc = apply_sync(r, text, len, &result, &batch, err, sizeof err);
    if (rc) {
        if (cb)
            cb(arg, rc, NULL, err);
        return;
    }
    finish(r, batch, result, cb, arg);
}

typedef struct {
    rec_t *bx;
} unbind_ctx_t;

/* A broker or channel is being deleted: every trigger or subscription naming it forgets its
 * records (they point into the deleted log), bound or not. */
static void unbind_of_broker(hd_resources_t *r, rec_t *x, void *arg)
{
    unbind_ctx_t *u = arg;
    if (x->t && x->t->log_ki == u->bx->ki && !strcmp(x->ns, u->bx->ns) &&
        !strcmp(x->t->broker_name, u->bx->name))
        trigger_unbind(r, x->t, true);
}

/* Deletes a record: a trigger's progress, a log's events (and its consumers' progress), a flow's
 * children. The record is freed; the caller refreshes what may depend on it. */
static void remove_rec(hd_resources_t *r, rec_t *x, hd_state_txn_t *batch)
{
    rec_unlink(r, x);
    if (x->id)
        id_del(r, x);
    if (x->t) {
        trigger_unbind(r, x->t, true);
    } else if (x->b) {
        unbind_ctx_t u = {x};
        each_rec(r, unbind_of_broker, &u);
        TELL(r, broker_removed, &x->b->pub, true);
    } else if (x->children) {
        const cJSON *c;
        cJSON_ArrayForEach(c, x->children)
        {
            const hd_kind_info_t *ki = hd_resources_kind_lookup(jstr(c, "kind"));
            const char *name = jstr(cJSON_GetObjectItemCaseSensitive(c, "metadata"), "name");
            char key[600];
            make_key(key, sizeof key, ki ? ki->plural : "", x->ns, name ? name : "");
            rec_t *y = rec_find(r, key);
            if (y)
                remove_rec(r, y, batch);
        }
    }
    if (batch)
        hd_state_resource_del(batch, x->key);
    rec_free(x);
}

void hd_resources_delete(hd_resources_t *r, const char *plural, const char *ns, const char *name,
                         hd_resources_done_fn cb, void *arg)
{
    sync_addresses(r);
    const hd_kind_info_t *ki = hd_resources_kind_lookup(plural);
    char msg[600];
    if (!ki) {
        snprintf(msg, sizeof msg, "unknown kind '%s' (one of %s)", plural,
                 hd_resources_kind_names());
        if (cb)
            cb(arg, HD_E_INVAL, NULL, msg);
        return;
    }
    char key[600];
    make_key(key, sizeof key, ki->plural, ns, name);
    rec_t *x = rec_find(r, key);
    if (!x) {
        snprintf(msg, sizeof msg, "%s \"%s/%s\" not found", ki->kind, ns, name);
        if (cb)
            cb(arg, HD_E_NOTFOUND, NULL, msg);
        return;
    }
    const char *okind, *oname;
    if (hd_flows_owner(x->obj, &okind, &oname) && find_kind(r, okind, ns, oname)) {
        snprintf(msg, sizeof msg,
                 "%s \"%s/%s\" is built by %s \"%s/%s\"; delete the %s instead", ki->kind, ns,
                 name, okind, ns, oname, okind);
        if (cb)
            cb(arg, HD_E_INVAL, NULL, msg);
        return;
    }
    hd_state_txn_t *batch = new_batch(r);
    cJSON *result = cJSON_CreateArray();
    if (result)
        cJSON_AddItemToArray(result, cJSON_Duplicate(x->obj, 1));
    remove_rec(r, x, batch);
    refresh_all(r);
    finish(r, batch, result, cb, arg);
}

/* ---- lookups ------------------------------------------------------------------------------ */

hd_broker_t *hd_resources_broker(hd_resources_t *r, const char *ns, size_t ns_len, const char *name,
                                 size_t name_len)
{
    sync_addresses(r); /* one branch once the ingress is bound */
    char key[600];
    if (ns_len + name_len + 10 > sizeof key)
        return NULL;
    memcpy(key, "brokers/", 8);
    memcpy(key + 8, ns, ns_len);
    key[8 + ns_len] = '/';
    memcpy(key + 9 + ns_len, name, name_len);
    key[9 + ns_len + name_len] = '\0';
    if (memchr(ns, '/', ns_len) || memchr(name, '/', name_len))
        return NULL;
    rec_t *x = rec_find(r, key);
    return x && x->b ? &x->b->pub : NULL;
}

hd_broker_t *hd_resources_broker_by_id(hd_resources_t *r, uint32_t id)
{
    rec_t *x = id_get(r, id);
    return x && x->b ? &x->b->pub : NULL;
}

hd_trigger_t *hd_resources_trigger(hd_resources_t *r, const char *ns, const char *name)
{
    char key[600];
    make_key(key, sizeof key, "triggers", ns, name);
    rec_t *x = rec_find(r, key);
    return x && x->t ? &x->t->pub : NULL;
}

hd_broker_t *hd_resources_channel(hd_resources_t *r, const char *ns, size_t ns_len,
                                  const char *name, size_t name_len)
{
    sync_addresses(r);
    static const char *const plurals[] = {"inmemorychannels", "channels"};
    char key[600];
    if (ns_len + name_len + 24 > sizeof key || memchr(ns, '/', ns_len) ||
        memchr(name, '/', name_len))
        return NULL;
    for (size_t i = 0; i < 2; i++) {
        snprintf(key, sizeof key, "%s/%.*s/%.*s", plurals[i], (int)ns_len, ns, (int)name_len,
                 name);
        rec_t *x = rec_find(r, key);
        if (x && x->b)
            return &x->b->pub;
    }
    return NULL;
}

hd_broker_t *hd_resources_channel_by_host(hd_resources_t *r, const char *host, size_t len)
{
    static const char suffix[] = "-kn-channel.";
    const char *colon = memchr(host, ':', len);
    if (colon)
        len = (size_t)(colon - host);
    const char *sfx = NULL;
    for (const char *p = host; p + sizeof suffix - 1 <= host + len; p++)
        if (!memcmp(p, suffix, sizeof suffix - 1))
            sfx = p; /* the last one: a channel's own name may contain the suffix */
    if (!sfx || sfx == host)
        return NULL;
    const char *ns = sfx + sizeof suffix - 1;
    const char *dot = memchr(ns, '.', (size_t)(host + len - ns));
    size_t ns_len = dot ? (size_t)(dot - ns) : (size_t)(host + len - ns);
    /* {ns} alone, or {ns}.svc[.cluster.local] */
    if (dot) {
        size_t rest = (size_t)(host + len - dot);
        if (!(rest == 4 && !memcmp(dot, ".svc", 4)) &&
            !(rest == 18 && !strncasecmp(dot, ".svc.cluster.local", 18)))
            return NULL;
    }
    if (!ns_len)
        return NULL;
    return hd_resources_channel(r, ns, ns_len, host, (size_t)(sfx - host));
}

hd_trigger_t *hd_resources_subscription(hd_resources_t *r, const char *ns, const char *name)
{
    char key[600];
    make_key(key, sizeof key, "subscriptions", ns, name);
    rec_t *x = rec_find(r, key);
    return x && x->t ? &x->t->pub : NULL;
}

hd_trigger_t *hd_resources_trigger_by_id(hd_resources_t *r, uint32_t id)
{
    rec_t *x = id_get(r, id);
    return x && x->t ? &x->t->pub : NULL;
}

typedef struct {
    const hd_broker_t *b;
    void (*fn)(void *arg, hd_trigger_t *t);
    void *arg;
} each_trig_t;

static void each_trig(hd_resources_t *r, rec_t *x, void *arg)
{
    (void)r;
    each_trig_t *e = arg;
    if (x->t && x->t->bound && x->t->pub.broker == e->b)
        e->fn(e->arg, &x->t->pub);
}

void hd_resources_each_trigger(hd_resources_t *r, const hd_broker_t *b,
                               void (*fn)(void *arg, hd_trigger_t *t), void *arg)
{
    each_trig_t e = {b, fn, arg};
    each_rec(r, each_trig, &e);
}

static void each_brk(hd_resources_t *r, rec_t *x, void *arg)
{
    (void)r;
    void **a = arg;
    if (x->b)
        ((void (*)(void *, hd_broker_t *))a[0])(a[1], &x->b->pub);
}

void hd_resources_each_broker(hd_resources_t *r, void (*fn)(void *arg, hd_broker_t *b), void *arg)
{
    void *a[2] = {(void *)fn, arg};
    each_rec(r, each_brk, a);
}

cJSON *hd_resources_get_json(hd_resources_t *r, const char *plural, const char *ns,
                             const char *name)
{
    sync_addresses(r);
    const hd_kind_info_t *ki = hd_resources_kind_lookup(plural);
    if (!ki)
        return NULL;
    char key[600];
    make_key(key, sizeof key, ki->plural, ns, name);
    rec_t *x = rec_find(r, key);
    return x ? cJSON_Duplicate(x->obj, 1) : NULL;
}

typedef struct {
    const hd_kind_info_t *ki;
    const char *ns;
    rec_t **v;
    size_t n, cap;
} list_ctx_t;

static void list_one(hd_resources_t *r, rec_t *x, void *arg)
{
    (void)r;
    list_ctx_t *l = arg;
    if ((l->ki && x->ki != l->ki) || (l->ns && strcmp(l->ns, x->ns)))
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        rec_t **v = hd_realloc(l->v, cap * sizeof *v);
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
}

static int rec_cmp(const void *a, const void *b)
{
    const rec_t *x = *(rec_t *const *)a, *y = *(rec_t *const *)b;
    int c = strcmp(x->ki->kind, y->ki->kind);
    if (!c)
        c = strcmp(x->ns, y->ns);
    if (!c)
        c = strcmp(x->name, y->name);
    return c;
}

cJSON *hd_resources_list_json(hd_resources_t *r, const char *plural, const char *ns)
{
    sync_addresses(r);
    list_ctx_t l = {NULL, ns, NULL, 0, 0};
    if (plural && !(l.ki = hd_resources_kind_lookup(plural)))
        return NULL;
    each_rec(r, list_one, &l);
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, rec_cmp);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < l.n; i++)
        cJSON_AddItemToArray(arr, cJSON_Duplicate(l.v[i]->obj, 1));
    hd_free(l.v);
    return arr;
}

/* ---- observers and the modules that run other kinds --------------------------------------- */

static void replay_broker(hd_resources_t *r, rec_t *x, void *arg)
{
    (void)r;
    const observer_t *o = arg;
    if (x->b && o->obs->broker_added)
        o->obs->broker_added(o->arg, &x->b->pub);
}

static void replay_trigger(hd_resources_t *r, rec_t *x, void *arg)
{
    (void)r;
    const observer_t *o = arg;
    if (x->t && x->t->bound && o->obs->trigger_added)
        o->obs->trigger_added(o->arg, &x->t->pub);
}

hd_err_t hd_resources_observe(hd_resources_t *r, const hd_resources_observer_t *obs, void *arg)
{
    if (r->nobservers == MAX_OBSERVERS)
        return HD_E_FULL;
    observer_t o = {obs, arg};
    r->observers[r->nobservers++] = o;
    each_rec(r, replay_broker, &o);
    each_rec(r, replay_trigger, &o);
    return HD_E_OK;
}

void hd_resources_unobserve(hd_resources_t *r, const hd_resources_observer_t *obs, void *arg)
{
    for (size_t i = 0; i < r->nobservers; i++) {
        if (r->observers[i].obs == obs && r->observers[i].arg == arg) {
            r->observers[i] = r->observers[--r->nobservers];
            return;
        }
    }
}

hd_err_t hd_resources_set_status(hd_resources_t *r, const char *kind, const char *ns,
                                 const char *name, bool ready, const char *reason,
                                 const char *message, const char *address_url)
{
    const hd_kind_info_t *ki = hd_resources_kind_lookup(kind);
    if (!ki || ki->type != HD_RK_OTHER)
        return HD_E_INVAL;
    char key[600];
    make_key(key, sizeof key, ki->plural, ns, name);
    rec_t *x = rec_find(r, key);
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
    other_status(x);
    if (addr_changed)
        refresh_all(r);
    return HD_E_OK;
}

/* ---- open / close ------------------------------------------------------------------------- */

static bool load_one(void *arg, const char *key, const char *json, size_t len)
{
    hd_resources_t *r = arg;
    cJSON *doc = cJSON_ParseWithLength(json, len);
    char err[ERRCAP];
    prep_t p;
    if (!doc || prepare(r, doc, FROM_STORE, &p, err, sizeof err)) {
        hd_log(HD_LOG_ERROR, "stored resource could not be loaded; skipped", "key", key, "error",
               doc ? err : "malformed JSON", NULL);
        cJSON_Delete(doc);
        return true;
    }
    cJSON_Delete(doc);
    rec_t *x;
    bool others = false;
    if (install(r, &p, &x, &others)) {
        prep_free(&p);
        hd_log(HD_LOG_ERROR, "out of memory loading resources", "key", key, NULL);
        return false;
    }
    return true;
}

static hd_err_t read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return HD_E_IO;
    size_t cap = 4096, n = 0;
    char *buf = hd_malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        if (cap >= (64u << 20)) { /* a manifest over 64 MiB is a mistake */
            hd_free(buf);
            buf = NULL;
            break;
        }
        char *nb = hd_realloc(buf, cap * 2);
        if (!nb) {
            hd_free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        hd_free(buf);
        return buf ? HD_E_IO : HD_E_TOOLARGE;
    }
    *out = buf;
    *len = n;
    return HD_E_OK;
}

static void startup_done(void *arg, hd_err_t status, cJSON *result, const char *error)
{
    (void)result;
    const char *path = arg;
    if (status)
        hd_log(HD_LOG_ERROR, "manifest applied but not stored", "file", path, "error",
               error ? error : hd_err_message(status), NULL);
}

static hd_err_t apply_file(hd_resources_t *r, const char *path)
{
    char *text;
    size_t len;
    hd_err_t rc = read_file(path, &text, &len);
    if (rc) {
        hd_log(HD_LOG_ERROR, "cannot read manifest", "file", path, "error", strerror(errno), NULL);
        return HD_E_CONFIG;
    }
    char err[ERRCAP * 2];
    cJSON *result = NULL;
    hd_state_txn_t *batch = NULL;
    rc = apply_sync(r, text, len, &result, &batch, err, sizeof err);
    hd_free(text);
    if (rc) {
        if (rc == HD_E_INVAL && !strcmp(err, "no documents found")) {
            return HD_E_OK; /* an empty file is fine */
        }
        hd_log(HD_LOG_ERROR, "bad manifest", "file", path, "error", err, NULL);
        return rc == HD_E_NOMEM ? rc : HD_E_CONFIG;
    }
    char n[16];
    snprintf(n, sizeof n, "%d", cJSON_GetArraySize(result));
    hd_log(HD_LOG_INFO, "manifest applied", "file", path, "resources", n, NULL);
    finish(r, batch, result, startup_done, (void *)path);
    return HD_E_OK;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool manifest_ext(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' &&
           ((n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml")) ||
            (n > 5 && !strcmp(name + n - 5, ".json")));
}

static hd_err_t apply_path(hd_resources_t *r, const char *path)
{
    struct stat st;
    if (stat(path, &st)) {
        hd_log(HD_LOG_ERROR, "manifest path does not exist", "path", path, NULL);
        return HD_E_CONFIG;
    }
    if (!S_ISDIR(st.st_mode))
        return apply_file(r, path);
    DIR *d = opendir(path);
    if (!d)
        return HD_E_CONFIG;
    char **names = NULL;
    size_t n = 0, cap = 0;
    hd_err_t rc = HD_E_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!manifest_ext(de->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = hd_realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = HD_E_NOMEM;
                break;
            }
            names = nn;
        }
        size_t l = strlen(path) + strlen(de->d_name) + 2;
        if (!(names[n] = hd_malloc(l))) {
            rc = HD_E_NOMEM;
            break;
        }
        snprintf(names[n++], l, "%s/%s", path, de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, str_cmp);
    for (size_t i = 0; i < n; i++) {
        if (rc == HD_E_OK)
            rc = apply_path(r, names[i]);
        hd_free(names[i]);
    }
    hd_free(names);
    return rc;
}

hd_err_t hd_resources_open(hd_server_t *srv, const char *const *manifest_paths, size_t n,
                           hd_resources_t **out)
{
    hd_resources_t *r = hd_calloc(1, sizeof *r);
    if (!r)
        return HD_E_NOMEM;
    r->srv = srv;
    r->next_id = 1;
    hd_err_t rc = HD_E_OK;
    if (srv && srv->state) {
        unsigned char be[4];
        if (hd_state_meta_get(srv->state, "resources.next_id", be, sizeof be) == 4)
            r->next_id =
                ((uint32_t)be[0] << 24) | ((uint32_t)be[1] << 16) | ((uint32_t)be[2] << 8) | be[3];
        r->loading = true;
        rc = hd_state_resources_scan(srv->state, "", load_one, r);
        r->loading = false;
        if (rc) {
            hd_log(HD_LOG_ERROR, "cannot read stored resources", "error", hd_err_message(rc), NULL);
            hd_resources_close(r);
            return HD_E_STORE;
        }
        refresh_all(r);
        char cnt[24];
        snprintf(cnt, sizeof cnt, "%zu", r->recs.count);
        hd_log(HD_LOG_INFO, "resources loaded from the store", "count", cnt, NULL);
    }
    for (size_t i = 0; i < n && rc == HD_E_OK; i++)
        rc = apply_path(r, manifest_paths[i]);
    if (rc) {
        hd_resources_close(r);
        return rc;
    }
    *out = r;
    return HD_E_OK;
}

static void close_one(hd_resources_t *r, rec_t *x, void *arg)
{
    (void)arg;
    if (x->t && x->t->bound) {
        hd_router_remove(x->t->pub.broker->router, &x->t->pub);
        TELL(r, trigger_removed, &x->t->pub, false);
        x->t->bound = false;
    }
}

void hd_resources_close(hd_resources_t *r)
{
    if (!r)
        return;
    each_rec(r, close_one, NULL);
    for (size_t i = 0; i < r->recs.nbuckets; i++) {
        hd_map_node_t *n = r->recs.buckets[i];
        while (n) {
            hd_map_node_t *next = n->next;
            rec_t *x = hd_container_of(n, rec_t, node);
            if (x->b)
                TELL(r, broker_removed, &x->b->pub, false);
            rec_free(x);
            n = next;
        }
    }
    hd_map_free(&r->recs);
    hd_free(r->by_id);
    hd_free(r);
}
