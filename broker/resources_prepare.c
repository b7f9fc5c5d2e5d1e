/*
 * resources_prepare.c — validating a document and building its normalized object (prepare, in
 * resources_internal.h), nothing in the registry changes: kind and apiVersion, top-level and
 * metadata fields, names, labels and annotations, each kind's spec (Trigger, Broker, Channel,
 * Subscription, Kubernetes v1 Service, flows), Herald's delivery annotations. Every error of a
 * document is reported ("; "-separated), with hints for the usual slips. A document loaded from the
 * store is checked as leniently as the apply that stored it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_flows.h"
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

static void check_string_map(const cJSON *m, const char *path, hd_errs_t *es)
{
    if (!m || cJSON_IsNull(m))
        return;
    if (!cJSON_IsObject(m)) {
        hd_resources__errf(es, "%s: must be a map of strings", path);
        return;
    }
    for (const cJSON *it = m->child; it; it = it->next)
        if (!cJSON_IsString(it))
            hd_resources__errf(es, "%s.%s: value must be a string (quote it)", path, it->string);
}

/* Only these fields may appear in spec: every unknown one is named. */
static void spec_fields(const cJSON *spec, const char *const *known, const char *list,
                        hd_errs_t *es)
{
    char err[HD_RESOURCES__ERRCAP];
    size_t len = 0, cap = sizeof err;
    int bad = 0;
    err[0] = '\0';
    for (const cJSON *it = spec->child; it; it = it->next) {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = !strcmp(*k, it->string);
        if (!ok && len < cap) {
            int w = snprintf(err + len, cap - len, "%sspec.%s", bad ? ", " : "", it->string);
            len += w > 0 ? (size_t)w : 0;
            bad++;
        }
    }
    if (!bad)
        return;
    if (len < cap)
        snprintf(err + len, cap - len, ": unknown field%s (known: %s)", bad > 1 ? "s" : "", list);
    hd_resources__errs_add(es, err);
}

/* spec.delivery of a Trigger, Broker, Channel or Subscription into p. Only HD_E_NOMEM is
 * returned; errors go to es. */
static hd_err_t delivery(const cJSON *spec, prep_t *p, hd_errs_t *es)
{
    hd_err_t rc = hd_resources__delivery_parse(cJSON_GetObjectItemCaseSensitive(spec, "delivery"),
                                               "spec.delivery", p->ns, &p->dlv, &p->dls, es);
    return rc == HD_E_NOMEM ? rc : HD_E_OK;
}

/* A Trigger. Each of its fields is checked and every error added to es. */
static hd_err_t prep_trigger(hd_resources_t *r, prep_t *p, const cJSON *spec, hd_errs_t *es)
{
    if (!cJSON_IsObject(spec)) {
        hd_resources__errs_add(es,
                               "spec: required (broker, subscriber, optional filter(s), delivery)");
        return HD_E_OK;
    }
    static const char *const known[] = {"broker",     "brokerRef", "filter", "filters",
                                        "subscriber", "delivery",  NULL};
    spec_fields(spec, known, "broker, filter, filters, subscriber, delivery", es);
    const char *broker = hd_resources__jstr(spec, "broker");
    if (!broker) {
        const cJSON *bref = cJSON_GetObjectItemCaseSensitive(spec, "brokerRef");
        broker = hd_resources__jstr(bref, "name");
        const char *bns = hd_resources__jstr(bref, "namespace");
        if (bns && strcmp(bns, p->ns))
            hd_resources__errf(es,
                               "spec.brokerRef.namespace: cross-namespace triggers are not "
                               "supported; put the trigger in namespace '%s'",
                               bns);
    }
    char key[HD_RESOURCES__KEYCAP];
    hd_resources__key(key, sizeof key, "triggers", p->ns, p->name);
    record_t *old = r ? hd_resources__find(r, key) : NULL;
    if (!broker || !hd_resources__dns_name_ok(broker))
        hd_resources__errf(es, "spec.broker: required, the name of a Broker in namespace '%s'",
                           p->ns);
    else if (old && old->t && strcmp(old->t->broker_name, broker))
        hd_resources__errf(es,
                           "spec.broker: is immutable (was '%s'); delete the trigger and "
                           "create it again to move it",
                           old->t->broker_name);
    else if (!(p->broker_name = hd_strdup(broker)))
        return HD_E_NOMEM;
    p->log_ki = hd_resources_kind_lookup("Broker");
    char ferr[HD_RESOURCES__ERRCAP - 8]; /* room for the "spec." prefix */
    hd_err_t rc = hd_filter_compile_opts(cJSON_GetObjectItemCaseSensitive(spec, "filter"),
                                         cJSON_GetObjectItemCaseSensitive(spec, "filters"),
                                         p->lenient, &p->filter, ferr, sizeof ferr);
    if (rc == HD_E_NOMEM)
        return rc;
    if (rc)
        hd_resources__errf(es, "spec.%s", ferr);
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(spec, "subscriber");
    if (!sub)
        hd_resources__errs_add(es,
                               "spec.subscriber: required (uri, or ref to a Broker/Service/...)");
    else if (hd_resources__dest_parse(sub, "spec.subscriber", p->ns, &p->sub, es) == HD_E_NOMEM)
        return HD_E_NOMEM;
    return delivery(spec, p, es);
}

static const cJSON *spec_of(const record_t *x)
{
    return x ? cJSON_GetObjectItemCaseSensitive(x->obj, "spec") : NULL;
}

record_t *hd_resources__find_kind(hd_resources_t *r, const char *kind, const char *ns,
                                  const char *name)
{
    char key[HD_RESOURCES__KEYCAP];
    hd_resources__key(key, sizeof key, hd_resources_kind_lookup(kind)->plural, ns, name);
    return r ? hd_resources__find(r, key) : NULL;
}

/* A Channel (channelTemplate, immutable, default InMemoryChannel) or an InMemoryChannel. Both
 * are addressed as /{ns}/channels/{name}, so one name may not be both. `spec.subscribers` is
 * what a cluster's controller writes from the Subscriptions: accepted so exported manifests
 * apply, and ignored (Herald lists them in status.subscribers). */
static hd_err_t prep_channel(hd_resources_t *r, prep_t *p, const cJSON *spec, hd_errs_t *es)
{
    bool generic = !strcmp(p->ki->kind, "Channel");
    const char *other = generic ? "InMemoryChannel" : "Channel";
    if (hd_resources__find_kind(r, other, p->ns, p->name))
        hd_resources__errf(es,
                           "metadata.name: %s \"%s/%s\" already exists and has the address "
                           ".../%s/channels/%s; choose another name",
                           other, p->ns, p->name, p->ns, p->name);
    if (!spec || cJSON_IsNull(spec))
        return HD_E_OK;
    if (!cJSON_IsObject(spec)) {
        hd_resources__errs_add(es, "spec: must be an object");
        return HD_E_OK;
    }
    static const char *const known[] = {"channelTemplate", "delivery", "subscribers", NULL};
    static const char *const known_imc[] = {"delivery", "subscribers", NULL};
    if (generic)
        spec_fields(spec, known, "channelTemplate, delivery", es);
    else
        spec_fields(spec, known_imc, "delivery", es);
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(spec, "channelTemplate");
    if (generic && tmpl && !cJSON_IsNull(tmpl)) {
        const char *tk = hd_resources__jstr(tmpl, "kind");
        const hd_kind_info_t *tki = hd_resources_kind_lookup(tk);
        if (!cJSON_IsObject(tmpl) || !tk || !hd_resources__jstr(tmpl, "apiVersion"))
            hd_resources__errs_add(
                es, "spec.channelTemplate: must be an object with apiVersion and kind");
        else if (!tki || strcmp(tki->kind, tk) || !strcmp(tk, "Channel") ||
                 (tki->type != HD_RK_CHANNEL && strcmp(tk, "KafkaChannel")))
            hd_resources__errf(es,
                               "spec.channelTemplate.kind: '%s' is not a channel kind Herald "
                               "knows (InMemoryChannel, KafkaChannel)",
                               tk);
    }
    return delivery(spec, p, es);
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
static hd_err_t prep_subscription(hd_resources_t *r, prep_t *p, const cJSON *spec, hd_errs_t *es)
{
    if (!cJSON_IsObject(spec)) {
        hd_resources__errs_add(es,
                               "spec: required (channel, subscriber, optional reply, delivery)");
        return HD_E_OK;
    }
    static const char *const known[] = {"channel", "subscriber", "reply", "delivery", NULL};
    spec_fields(spec, known, "channel, subscriber, reply, delivery", es);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(spec, "channel");
    const char *ck = hd_resources__jstr(ch, "kind"), *cn = hd_resources__jstr(ch, "name"),
               *cns = hd_resources__jstr(ch, "namespace");
    const hd_kind_info_t *cki = hd_resources_kind_lookup(ck);
    if (!cJSON_IsObject(ch) || !ck || !cn || !hd_resources__dns_name_ok(cn)) {
        hd_resources__errf(es,
                           "spec.channel: required, a reference {apiVersion, kind, name} to a "
                           "Channel or InMemoryChannel in namespace '%s'",
                           p->ns);
    } else if (!cki || strcmp(cki->kind, ck) || cki->type != HD_RK_CHANNEL) {
        hd_resources__errf(es,
                           "spec.channel.kind: '%s' is not a channel kind this heraldd runs "
                           "(Channel, InMemoryChannel)",
                           ck);
    } else {
        record_t *old = hd_resources__find_kind(r, "Subscription", p->ns, p->name);
        if (old && old->t && (old->t->log_ki != cki || strcmp(old->t->broker_name, cn)))
            hd_resources__errf(es,
                               "spec.channel: is immutable (was %s '%s'); delete the "
                               "subscription and create it again to move it",
                               old->t->log_ki->kind, old->t->broker_name);
        p->log_ki = cki;
        if (!(p->broker_name = hd_strdup(cn)))
            return HD_E_NOMEM;
    }
    if (cns && strcmp(cns, p->ns))
        hd_resources__errf(es,
                           "spec.channel.namespace: a subscription must be in its channel's "
                           "namespace ('%s')",
                           cns);
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(spec, "subscriber");
    const cJSON *reply = cJSON_GetObjectItemCaseSensitive(spec, "reply");
    bool has_sub = sub && !cJSON_IsNull(sub), has_reply = reply && !cJSON_IsNull(reply);
    if (!has_sub && !has_reply)
        hd_resources__errs_add(es, "spec.subscriber: required unless spec.reply is set (uri, or "
                                   "ref to a Broker, Channel, Service, ...)");
    if (has_sub &&
        hd_resources__dest_parse(sub, "spec.subscriber", p->ns, &p->sub, es) == HD_E_NOMEM)
        return HD_E_NOMEM;
    if (has_reply &&
        hd_resources__dest_parse(reply, "spec.reply", p->ns, &p->reply, es) == HD_E_NOMEM)
        return HD_E_NOMEM;
    return delivery(spec, p, es);
}

static hd_err_t prep_broker(prep_t *p, const cJSON *spec, hd_errs_t *es)
{
    if (!spec || cJSON_IsNull(spec))
        return HD_E_OK;
    if (!cJSON_IsObject(spec)) {
        hd_resources__errs_add(es, "spec: must be an object");
        return HD_E_OK;
    }
    static const char *const known[] = {"config", "delivery", NULL};
    spec_fields(spec, known, "config, delivery", es);
    return delivery(spec, p, es);
}

/* A Kubernetes v1 Service: Herald reads its address from the herald.dev/url annotation or an
 * ExternalName (externalName and ports); the other fields of a cluster's Service are accepted
 * so the same manifest applies, and not used. */
static void prep_service(prep_t *p, const cJSON *spec, hd_errs_t *es)
{
    const char *url = hd_resources__jstr(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p->obj_src, "metadata"),
                                         "annotations"),
        HD_RESOURCES_URL_ANNOTATION);
    if (url && !hd_resources__url_ok(url))
        hd_resources__errf(es,
                           "metadata.annotations.%s: '%s' is not an absolute http:// or https:// "
                           "URL with a host",
                           HD_RESOURCES_URL_ANNOTATION, url);
    if (!spec || cJSON_IsNull(spec))
        return;
    if (!cJSON_IsObject(spec)) {
        hd_resources__errs_add(es, "spec: must be an object");
        return;
    }
    static const char *const known[] = {"type",
                                        "externalName",
                                        "ports",
                                        "selector",
                                        "clusterIP",
                                        "clusterIPs",
                                        "sessionAffinity",
                                        "sessionAffinityConfig",
                                        "ipFamilies",
                                        "ipFamilyPolicy",
                                        "internalTrafficPolicy",
                                        "externalTrafficPolicy",
                                        "externalIPs",
                                        "loadBalancerIP",
                                        "loadBalancerClass",
                                        "loadBalancerSourceRanges",
                                        "publishNotReadyAddresses",
                                        "allocateLoadBalancerNodePorts",
                                        "healthCheckNodePort",
                                        "trafficDistribution",
                                        NULL};
    spec_fields(spec, known,
                "type, externalName, ports and the other fields of a Kubernetes Service", es);
    const char *type = hd_resources__jstr(spec, "type");
    const cJSON *tj = cJSON_GetObjectItemCaseSensitive(spec, "type");
    if (tj && (!type || (strcmp(type, "ClusterIP") && strcmp(type, "ExternalName") &&
                         strcmp(type, "NodePort") && strcmp(type, "LoadBalancer"))))
        hd_resources__errs_add(es, "spec.type: must be ClusterIP, ExternalName, NodePort or "
                                   "LoadBalancer");
    const cJSON *ports = cJSON_GetObjectItemCaseSensitive(spec, "ports");
    if (ports && !cJSON_IsArray(ports)) {
        hd_resources__errs_add(es, "spec.ports: must be a list of {name, port}");
        ports = NULL;
    }
    int i = 0;
    const cJSON *pt;
    cJSON_ArrayForEach(pt, ports)
    {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(pt, "port");
        if (!cJSON_IsNumber(n) || n->valuedouble != (double)(int)n->valuedouble ||
            n->valuedouble < 1 || n->valuedouble > 65535)
            hd_resources__errf(es, "spec.ports[%d].port: required, a port number from 1 to 65535",
                               i);
        i++;
    }
    if (type && !strcmp(type, "ExternalName")) {
        const char *host = hd_resources__jstr(spec, "externalName");
        if (!host || !hd_resources__dns_name_ok(host))
            hd_resources__errs_add(es, "spec.externalName: required with type ExternalName, a "
                                       "host name (e.g. localhost or display.example.com)");
    }
}

/* The template a flow or Channel had and the one it gets must be the same: its channels (and
 * the events they hold) were made of it. */
static void template_unchanged(const record_t *old, const cJSON *spec, hd_errs_t *es)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(spec_of(old), "channelTemplate");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(spec, "channelTemplate");
    if (!old || cJSON_Compare(a, b, 1) || (!a && !b))
        return;
    const char *ak = a ? hd_resources__jstr(a, "kind") : NULL;
    const char *aa = a ? hd_resources__jstr(a, "apiVersion") : NULL;
    hd_resources__errf(es,
                       "spec.channelTemplate: is immutable (was %s %s); delete the %s and create "
                       "it again to change it (its stored events go with it)",
                       ak ? ak : "none", aa ? aa : "", old->ki->kind);
}

/* Herald's delivery fields that Knative's DeliverySpec does not have, as annotations, so a
 * manifest that uses them still applies on a cluster (which ignores them): the annotation
 * herald.dev/delivery.FIELD takes the value the field takes in spec.delivery; spec.delivery, when
 * it sets the same field, wins. */
#define DELIVERY_ANNOTATION "herald.dev/delivery."
static hd_err_t delivery_annotations(const cJSON *ann, prep_t *p, hd_errs_t *es)
{
    static const struct {
        const char *field;
        unsigned bit;
    } fields[] = {{"backoffMax", HD_DLV_BACKOFF_MAX},
                  {"maxInFlight", HD_DLV_MAX_IN_FLIGHT},
                  {"ordering", HD_DLV_ORDERING},
                  {"headerEncoding", HD_DLV_HEADER_ENC}};
    const size_t plen = sizeof DELIVERY_ANNOTATION - 1;
    cJSON *d = NULL;
    for (const cJSON *it = cJSON_IsObject(ann) ? ann->child : NULL; it; it = it->next) {
        if (strncmp(it->string, DELIVERY_ANNOTATION, plen) || !cJSON_IsString(it))
            continue;
        const char *f = it->string + plen;
        size_t i = 0;
        while (i < sizeof fields / sizeof fields[0] && strcmp(fields[i].field, f))
            i++;
        if (i == sizeof fields / sizeof fields[0]) {
            hd_resources__errf(es,
                               "metadata.annotations.%s: unknown (known: " DELIVERY_ANNOTATION
                               "backoffMax, maxInFlight, ordering, headerEncoding)",
                               it->string);
            continue;
        }
        if (!d && !(d = cJSON_CreateObject()))
            return HD_E_NOMEM;
        const char *v = it->valuestring;
        char *end = NULL;
        long long n = strtoll(v, &end, 10);
        cJSON *val = fields[i].bit == HD_DLV_MAX_IN_FLIGHT && *v && end && !*end
                         ? cJSON_CreateNumber((double)n)
                         : cJSON_CreateString(v);
        if (!val) {
            cJSON_Delete(d);
            return HD_E_NOMEM;
        }
        cJSON_AddItemToObject(d, f, val);
    }
    if (!d)
        return HD_E_OK;
    hd_delivery_t a;
    hd_dest_t none;
    hd_err_t rc = hd_resources__delivery_parse(d, "metadata.annotations.herald.dev/delivery", p->ns,
                                               &a, &none, es);
    cJSON_Delete(d);
    if (rc)
        return rc == HD_E_NOMEM ? rc : HD_E_OK;
    hd_delivery_t *o = &p->dlv;
    unsigned add = a.set & ~o->set;
    if (add & HD_DLV_BACKOFF_MAX)
        o->backoff_max_ms = a.backoff_max_ms;
    if (add & HD_DLV_MAX_IN_FLIGHT)
        o->max_in_flight = a.max_in_flight;
    if (add & HD_DLV_ORDERING)
        o->ordering = a.ordering;
    if (add & HD_DLV_HEADER_ENC)
        o->header_strict = a.header_strict;
    o->set |= add;
    return HD_E_OK;
}

static const char *const doc_fields[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
/* metadata a user writes, and what Kubernetes sets (so `kubectl get -o yaml` output applies) */
static const char *const metadata_fields[] = {"name",
                                              "namespace",
                                              "labels",
                                              "annotations",
                                              "uid",
                                              "resourceVersion",
                                              "generation",
                                              "creationTimestamp",
                                              "managedFields",
                                              "selfLink",
                                              "finalizers",
                                              "ownerReferences",
                                              "deletionTimestamp",
                                              "deletionGracePeriodSeconds",
                                              NULL};

/* Names every member of o not in known ("metadata.lables: unknown field ..."), with a hint for
 * the usual slips. */
static void unknown_fields(const cJSON *o, const char *prefix, const char *const *known,
                           const char *list, hd_errs_t *es)
{
    static const struct {
        const char *slip, *hint;
    } hints[] = {{"label", "labels"},
                 {"lables", "labels"},
                 {"annotation", "annotations"},
                 {"ns", "namespace"},
                 {"namespaces", "namespace"},
                 {"Name", "name"},
                 {"Namespace", "namespace"},
                 {"specs", "spec"},
                 {"Spec", "spec"},
                 {"metdata", "metadata"},
                 {"meta", "metadata"},
                 {"apiversion", "apiVersion"},
                 {"Kind", "kind"}};
    if (!cJSON_IsObject(o))
        return;
    for (const cJSON *it = o->child; it; it = it->next) {
        bool ok = false;
        for (const char *const *k = known; *k && !ok; k++)
            ok = !strcmp(*k, it->string);
        if (ok)
            continue;
        const char *hint = NULL;
        for (size_t i = 0; i < sizeof hints / sizeof hints[0] && !hint; i++)
            if (!strcmp(hints[i].slip, it->string))
                hint = hints[i].hint;
        char one[600];
        if (!strcmp(it->string, "generateName"))
            snprintf(one, sizeof one,
                     "metadata.generateName: not supported; give metadata.name instead");
        else if (hint)
            snprintf(one, sizeof one, "%s%s: unknown field (did you mean %s%s?)", prefix,
                     it->string, prefix, hint);
        else
            snprintf(one, sizeof one, "%s%s: unknown field (known: %s)", prefix, it->string, list);
        hd_resources__errs_add(es, one);
    }
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
    const hd_kind_info_t *ki = hd_resources_kind_for(api, kind);
    if (!ki || strcmp(ki->kind, kind)) {
        snprintf(err, cap, "kind: '%s' is not a kind Herald knows (one of %s)", kind,
                 hd_resources_kind_names());
        return HD_E_INVAL;
    }
    /* From here every error of the document is collected, "; "-separated. */
    hd_errs_t es = {err, cap, 0, 0};
    char one[HD_RESOURCES__ERRCAP];
    char served[200];
    if (!api) {
        snprintf(one, sizeof one, "apiVersion: required (%s)",
                 hd_resources_kind_versions(ki, served, sizeof served));
        hd_resources__errs_add(&es, one);
    } else if (!hd_resources__api_matches(api, ki) &&
               !(stored && !strncmp(api, ki->group, strlen(ki->group)) &&
                 api[strlen(ki->group)] == '/')) { /* stored by an older apply: group only */
        snprintf(one, sizeof one, "apiVersion: '%s' does not serve kind %s (served: %s)", api,
                 ki->kind, hd_resources_kind_versions(ki, served, sizeof served));
        hd_resources__errs_add(&es, one);
    }
    if (!stored)
        unknown_fields(doc, "", doc_fields, "apiVersion, kind, metadata, spec", &es);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
    if (md && !cJSON_IsObject(md))
        hd_resources__errs_add(&es, "metadata: must be a map (name, namespace, labels, ...)");
    else if (!stored)
        unknown_fields(md, "metadata.", metadata_fields,
                       "name, namespace, labels, annotations, and what Kubernetes sets: uid, "
                       "resourceVersion, generation, creationTimestamp, ...",
                       &es);
    const char *name = hd_resources__jstr(md, "name");
    const char *ns = hd_resources__jstr(md, "namespace");
    if (!name || !hd_resources__dns_name_ok(name)) {
        snprintf(one, sizeof one, "metadata.name: %s%s%s", name ? "'" : "required",
                 name ? name : "",
                 name ? "' is not a DNS-1123 name (lower-case letters, digits, "
                        "'-' and '.')"
                      : "");
        hd_resources__errs_add(&es, one);
        name = "invalid-name"; /* the rest is still checked */
    }
    if (!ns)
        ns = "default";
    if (!hd_resources__dns_label_ok(ns)) {
        snprintf(one, sizeof one, "metadata.namespace: '%s' is not a DNS-1123 label", ns);
        hd_resources__errs_add(&es, one);
        ns = "default";
    }
    hd_err_t rc = HD_E_OK;
    check_string_map(cJSON_GetObjectItemCaseSensitive(md, "labels"), "metadata.labels", &es);
    check_string_map(cJSON_GetObjectItemCaseSensitive(md, "annotations"), "metadata.annotations",
                     &es);
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
        hd_resources__find_kind(r, owner_kind, ns, owner_name)) {
        snprintf(one, sizeof one, "%s \"%s/%s\" is built by %s \"%s/%s\"; change the %s instead",
                 ki->kind, ns, name, owner_kind, ns, owner_name, owner_kind);
        hd_resources__errs_add(&es, one);
    }
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(doc, "spec");
    p->obj_src = doc;
    p->lenient = stored;
    /* Each kind's checks add every error they find to es (only HD_E_NOMEM is returned); a flow's
     * spec is checked when its children are built, below. */
    if (ki->type == HD_RK_SERVICE)
        prep_service(p, spec, &es);
    else if (ki->type == HD_RK_TRIGGER)
        rc = prep_trigger(r, p, spec, &es);
    else if (ki->type == HD_RK_BROKER)
        rc = prep_broker(p, spec, &es);
    else if (ki->type == HD_RK_CHANNEL)
        rc = prep_channel(r, p, spec, &es);
    else if (ki->type == HD_RK_SUBSCRIPTION)
        rc = prep_subscription(r, p, spec, &es);
    if (rc == HD_E_OK && (ki->type == HD_RK_BROKER || ki->type == HD_RK_TRIGGER ||
                          ki->type == HD_RK_CHANNEL || ki->type == HD_RK_SUBSCRIPTION))
        rc = delivery_annotations(cJSON_GetObjectItemCaseSensitive(md, "annotations"), p, &es);
    if (rc == HD_E_NOMEM)
        goto nomem;

    /* The normalized object (built even when errors were found, so the checks that need it add
     * theirs to the same answer). */
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
    if (nspec && (ki->type == HD_RK_FLOW || !strcmp(ki->kind, "Channel")) && !stored)
        template_unchanged(old, nspec, &es);
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
    if (ki->type == HD_RK_FLOW) {
        rc = hd_flows_expand(o, &p->children, one, sizeof one);
        if (rc == HD_E_NOMEM)
            goto nomem;
        if (rc)
            hd_resources__errs_add(&es, one);
    }
    if (es.n) {
        rc = HD_E_INVAL;
        goto fail;
    }
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
