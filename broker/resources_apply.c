/*
 * resources_apply.c — apply and delete (resources_internal.h): every document is validated and
 * normalized first (prepare: nothing changes), then all are installed, a flow followed by the
 * channels and subscriptions it builds; the changes go to the state store in one transaction.
 * Deleting a log drops its events and its consumers' progress; deleting a flow deletes its
 * children.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_flows.h"
#include "hd_manifest.h"
#include "hd_time.h"
#include "resources_internal.h"

/* ---- preparing (validation; no state change) ---------------------------------------------- */

void hd_resources__prep_free(prep_t *p)
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
    const char *broker = hd_resources__jstr(spec, "broker");
    if (!broker) {
        const cJSON *bref = cJSON_GetObjectItemCaseSensitive(spec, "brokerRef");
        broker = hd_resources__jstr(bref, "name");
        const char *bns = hd_resources__jstr(bref, "namespace");
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
    char key[HD_RESOURCES__KEYCAP];
    hd_resources__key(key, sizeof key, "triggers", p->ns, p->name);
    record_t *old = r ? hd_resources__find(r, key) : NULL;
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
    char ferr[HD_RESOURCES__ERRCAP - 8]; /* room for the "spec." prefix */
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

static const cJSON *spec_of(const record_t *x)
{
    return x ? cJSON_GetObjectItemCaseSensitive(x->obj, "spec") : NULL;
}

static record_t *find_kind(hd_resources_t *r, const char *kind, const char *ns, const char *name)
{
    char key[HD_RESOURCES__KEYCAP];
    hd_resources__key(key, sizeof key, hd_resources_kind_lookup(kind)->plural, ns, name);
    return r ? hd_resources__find(r, key) : NULL;
}

/* A Channel (channelTemplate, immutable, default InMemoryChannel) or an InMemoryChannel. Both
 * are addressed as /{ns}/channels/{name}, so one name may not be both. `spec.subscribers` is
 * what a cluster's controller writes from the Subscriptions: accepted so exported manifests
 * apply, and ignored (Herald lists them in status.subscribers). */
static hd_err_t prep_channel(hd_resources_t *r, prep_t *p, const cJSON *spec, char *err, size_t cap)
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
        const char *tk = hd_resources__jstr(tmpl, "kind");
        const hd_kind_info_t *tki = hd_resources_kind_lookup(tk);
        if (!cJSON_IsObject(tmpl) || !tk || !hd_resources__jstr(tmpl, "apiVersion")) {
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
    const char *ck = hd_resources__jstr(ch, "kind"), *cn = hd_resources__jstr(ch, "name"),
               *cns = hd_resources__jstr(ch, "namespace");
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
    record_t *old = find_kind(r, "Subscription", p->ns, p->name);
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
        snprintf(err, cap,
                 "spec.subscriber: required unless spec.reply is set (uri, or ref to a "
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
static hd_err_t template_unchanged(const record_t *old, const cJSON *spec, char *err, size_t cap)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(spec_of(old), "channelTemplate");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(spec, "channelTemplate");
    if (!old || cJSON_Compare(a, b, 1) || (!a && !b))
        return HD_E_OK;
    snprintf(err, cap,
             "spec.channelTemplate: is immutable (was %s %s); delete the %s and create it again "
             "to change it (its stored events go with it)",
             a ? hd_resources__jstr(a, "kind") : "none",
             a ? hd_resources__jstr(a, "apiVersion") : "", old->ki->kind);
    return HD_E_INVAL;
}

/* Validates one document and builds its normalized object. FROM_STORE: loaded at start-up
 * (keeps uid, generation, creationTimestamp and id). */
hd_err_t hd_resources__prepare(hd_resources_t *r, const cJSON *doc, origin_t origin, prep_t *p,
                               char *err, size_t cap)
{
    bool stored = origin == FROM_STORE;
    memset(p, 0, sizeof *p);
    const char *api = hd_resources__jstr(doc, "apiVersion");
    const char *kind = hd_resources__jstr(doc, "kind");
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
    const char *name = hd_resources__jstr(md, "name");
    const char *ns = hd_resources__jstr(md, "namespace");
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
    record_t *old = r ? hd_resources__find(r, p->key) : NULL;
    const char *owner_kind, *owner_name;
    if (origin == FROM_USER && old && hd_flows_owner(old->obj, &owner_kind, &owner_name) &&
        find_kind(r, owner_kind, ns, owner_name)) {
        snprintf(err, cap, "%s \"%s/%s\" is built by %s \"%s/%s\"; change the %s instead", ki->kind,
                 ns, name, owner_kind, ns, owner_name, owner_kind);
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
    const char *src_uid = stored ? hd_resources__jstr(md, "uid") : hd_resources__jstr(omd, "uid");
    if (!src_uid) {
        hd_time_uuid_v4(uid);
        src_uid = uid;
    }
    cJSON_AddStringToObject(m, "uid", src_uid);
    const char *src_ts = stored ? hd_resources__jstr(md, "creationTimestamp")
                                : hd_resources__jstr(omd, "creationTimestamp");
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
        gen = hd_resources__generation(doc);
    } else if (old) {
        const cJSON *ospec = cJSON_GetObjectItemCaseSensitive(old->obj, "spec");
        gen = hd_resources__generation(old->obj);
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
    hd_resources__prep_free(p);
    return rc;
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
hd_err_t hd_resources__install(hd_resources_t *r, prep_t *p, record_t **out, bool *others_changed)
{
    record_t *x = hd_resources__find(r, p->key);
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
                x->b->pub.address_url = hd_resources__address(r, x->ns, x->name, channel);
            if (!x->b || !x->b->pub.router || !x->b->pub.address_url)
                goto nomem;
            x->b->rec = x;
            x->b->pub.channel = channel;
            x->b->pub.ns = x->ns;
            x->b->pub.name = x->name;
            x->b->pub.retention_ms = r->retention_ms;
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
        }
        if (hd_resources__link(r, x))
            goto nomem;
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
        broker_rec_t *b = x->b;
        hd_resources__dest_free(&b->dls);
        b->dls = p->dls;
        memset(&p->dls, 0, sizeof p->dls);
        b->pub.delivery = p->dlv;
        b->pub.delivery.dead_letter_uri = NULL;
        hd_resources__broker_refresh(r, x);
        if (created)
            HD_RESOURCES__TELL(r, broker_added, &b->pub);
        *others_changed = true;
    } else if (x->t) {
        consumer_rec_t *t = x->t;
        if (t->bound)
            hd_router_remove(t->pub.broker->router, &t->pub);
        hd_filter_free(t->pub.filter);
        t->pub.filter = p->filter;
        p->filter = NULL;
        if (t->bound && hd_router_add(t->pub.broker->router, &t->pub)) {
            /* cannot route it (out of memory): unbind fully so the dispatcher forgets it; the
             * refresh below tries to bind it again */
            HD_RESOURCES__TELL(r, trigger_removed, &t->pub, false);
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
        hd_resources__consumer_refresh(r, x, !created);
        if (t->pub.subscription)
            *others_changed = true; /* its channel lists it in status.subscribers */
    } else if (x->ki->type == HD_RK_FLOW) {
        cJSON_Delete(x->children);
        x->children = p->children;
        p->children = NULL;
        *others_changed = true; /* its status is computed once its children are in */
    } else {
        hd_resources__other_status(x);
        *others_changed = true;
    }
    hd_resources__prep_free(p);
    *out = x;
    return HD_E_OK;
nomem: /* only reached before the record was inserted */
    hd_resources__record_free(x);
    return HD_E_NOMEM;
}

static void persist(hd_state_txn_t *batch, record_t *x)
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
void hd_resources__finish(hd_resources_t *r, hd_state_txn_t *batch, cJSON *result,
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
    return (r->state && !r->loading) ? hd_state_txn_new(r->state) : NULL;
}

static void describe_doc(const cJSON *doc, int index, char *buf, size_t cap)
{
    const char *kind = hd_resources__jstr(doc, "kind");
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    const char *name = hd_resources__jstr(md, "name"), *ns = hd_resources__jstr(md, "namespace");
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
        hd_resources__prep_free(&ps->v[i]);
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
        char e[HD_RESOURCES__ERRCAP - 128]; /* room for the child's kind and name in err */
        hd_err_t rc = hd_resources__prepare(r, c, FROM_FLOW, p, e, sizeof e);
        if (rc) {
            ps->n--;
            snprintf(err, cap, "%s %s: %s", hd_resources__jstr(c, "kind"),
                     hd_resources__jstr(cJSON_GetObjectItemCaseSensitive(c, "metadata"), "name"),
                     e);
            return rc;
        }
        p->child = true;
    }
    return HD_E_OK;
}

/* True when the flow's new children include `key`. */
static bool children_have(const record_t *flow, const cJSON *children, const char *key)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, children)
    {
        const hd_kind_info_t *ki = hd_resources_kind_lookup(hd_resources__jstr(c, "kind"));
        char k[HD_RESOURCES__KEYCAP];
        hd_resources__key(
            k, sizeof k, ki ? ki->plural : "", flow->ns,
            hd_resources__jstr(cJSON_GetObjectItemCaseSensitive(c, "metadata"), "name"));
        if (!strcmp(k, key))
            return true;
    }
    return false;
}

static void remove_rec(hd_resources_t *r, record_t *x, hd_state_txn_t *batch);

/* The children a flow had and no longer has (fewer steps, another template) go. */
static void remove_stale_children(hd_resources_t *r, const char *flow_key, const cJSON *old,
                                  hd_state_txn_t *batch)
{
    record_t *flow = hd_resources__find(r, flow_key);
    const cJSON *c;
    cJSON_ArrayForEach(c, old)
    {
        const hd_kind_info_t *ki = hd_resources_kind_lookup(hd_resources__jstr(c, "kind"));
        const char *name =
            hd_resources__jstr(cJSON_GetObjectItemCaseSensitive(c, "metadata"), "name");
        if (!ki || !name || !flow)
            continue;
        char key[HD_RESOURCES__KEYCAP];
        hd_resources__key(key, sizeof key, ki->plural, flow->ns, name);
        record_t *y = hd_resources__find(r, key);
        if (y && !children_have(flow, flow->children, key))
            remove_rec(r, y, batch);
    }
}

/* The synchronous part of apply: validates all, installs all. Returns the result array (owned)
 * and the batch to submit, or an error with err set. */
hd_err_t hd_resources__apply_sync(hd_resources_t *r, const char *text, size_t len, cJSON **result,
                                  hd_state_txn_t **batch_out, char *err, size_t cap)
{
    cJSON *docs = NULL;
    char perr[HD_RESOURCES__ERRCAP];
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
        char e[HD_RESOURCES__ERRCAP];
        prep_t *p = preps_push(&ps);
        rc = p ? hd_resources__prepare(r, doc, FROM_USER, p, e, sizeof e) : HD_E_NOMEM;
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
    record_t **done = hd_calloc(ps.n, sizeof *done);
    bool *child = hd_calloc(ps.n, sizeof *child);
    bool others = false;
    rc = HD_E_OK;
    for (size_t k = 0; k < ps.n; k++) {
        prep_t *p = &ps.v[k];
        cJSON *old_children = NULL;
        char *flow_key = NULL;
        if (p->children) {
            record_t *old = hd_resources__find(r, p->key);
            old_children = old ? old->children : NULL;
            if (old)
                old->children = NULL; /* kept until the stale ones are removed */
            flow_key = hd_strdup(p->key);
        }
        if (child)
            child[k] = p->child;
        if (rc == HD_E_OK && done && child && out && (!p->children || flow_key))
            rc = hd_resources__install(r, p, &done[k], &others);
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
        hd_resources__refresh_all(r);
    for (size_t k = 0; k < ps.n; k++) {
        /* the same resource may appear twice; persist and report each document */
        persist(batch, done[k]);
        if (!child[k])
            cJSON_AddItemToArray(out, cJSON_Duplicate(done[k]->obj, 1));
        char gen[24];
        snprintf(gen, sizeof gen, "%lld", hd_resources__generation(done[k]->obj));
        hd_log(HD_LOG_INFO, "resource applied", "kind", done[k]->ki->kind, "namespace", done[k]->ns,
               "name", done[k]->name, HD_LOG_NUM("generation"), gen, NULL);
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
    char err[HD_RESOURCES__ERRCAP * 2];
    cJSON *result = NULL;
    hd_state_txn_t *batch = NULL;
    hd_err_t rc = hd_resources__apply_sync(r, text, len, &result, &batch, err, sizeof err);
    if (rc) {
        if (cb)
            cb(arg, rc, NULL, err);
        return;
    }
    hd_resources__finish(r, batch, result, cb, arg);
}

typedef struct {
    record_t *bx;
} unbind_ctx_t;

/* A broker or channel is being deleted: every trigger or subscription naming it forgets its
 * records (they point into the deleted log), bound or not. */
static void unbind_of_broker(hd_resources_t *r, record_t *x, void *arg)
{
    unbind_ctx_t *u = arg;
    if (x->t && x->t->log_ki == u->bx->ki && !strcmp(x->ns, u->bx->ns) &&
        !strcmp(x->t->broker_name, u->bx->name))
        hd_resources__unbind(r, x->t, true);
}

/* Deletes a record: a trigger's progress, a log's events (and its consumers' progress), a flow's
 * children. The record is freed; the caller refreshes what may depend on it. */
static void remove_rec(hd_resources_t *r, record_t *x, hd_state_txn_t *batch)
{
    hd_resources__unlink(r, x);
    if (x->t) {
        hd_resources__unbind(r, x->t, true);
    } else if (x->b) {
        unbind_ctx_t u = {x};
        hd_resources__each(r, unbind_of_broker, &u);
        HD_RESOURCES__TELL(r, broker_removed, &x->b->pub, true);
    } else if (x->children) {
        const cJSON *c;
        cJSON_ArrayForEach(c, x->children)
        {
            const hd_kind_info_t *ki = hd_resources_kind_lookup(hd_resources__jstr(c, "kind"));
            const char *name =
                hd_resources__jstr(cJSON_GetObjectItemCaseSensitive(c, "metadata"), "name");
            char key[HD_RESOURCES__KEYCAP];
            hd_resources__key(key, sizeof key, ki ? ki->plural : "", x->ns, name ? name : "");
            record_t *y = hd_resources__find(r, key);
            if (y)
                remove_rec(r, y, batch);
        }
    }
    if (batch)
        hd_state_resource_del(batch, x->key);
    hd_resources__record_free(x);
}

void hd_resources_delete(hd_resources_t *r, const char *plural, const char *ns, const char *name,
                         hd_resources_done_fn cb, void *arg)
{
    const hd_kind_info_t *ki = hd_resources_kind_lookup(plural);
    char msg[600];
    if (!ki) {
        snprintf(msg, sizeof msg, "unknown kind '%s' (one of %s)", plural,
                 hd_resources_kind_names());
        if (cb)
            cb(arg, HD_E_INVAL, NULL, msg);
        return;
    }
    char key[HD_RESOURCES__KEYCAP];
    hd_resources__key(key, sizeof key, ki->plural, ns, name);
    record_t *x = hd_resources__find(r, key);
    if (!x) {
        snprintf(msg, sizeof msg, "%s \"%s/%s\" not found", ki->kind, ns, name);
        if (cb)
            cb(arg, HD_E_NOTFOUND, NULL, msg);
        return;
    }
    const char *okind, *oname;
    if (hd_flows_owner(x->obj, &okind, &oname) && find_kind(r, okind, ns, oname)) {
        snprintf(msg, sizeof msg, "%s \"%s/%s\" is built by %s \"%s/%s\"; delete the %s instead",
                 ki->kind, ns, name, okind, ns, oname, okind);
        if (cb)
            cb(arg, HD_E_INVAL, NULL, msg);
        return;
    }
    hd_state_txn_t *batch = new_batch(r);
    cJSON *result = cJSON_CreateArray();
    if (result)
        cJSON_AddItemToArray(result, cJSON_Duplicate(x->obj, 1));
    hd_log(HD_LOG_INFO, "resource deleted", "kind", ki->kind, "namespace", ns, "name", name, NULL);
    remove_rec(r, x, batch);
    hd_resources__refresh_all(r);
    hd_resources__finish(r, batch, result, cb, arg);
}
