/*
 * resources.c — the control-plane registry (hd_resources.h): the records of every resource, by
 * key (plural/ns/name) and by id, the lookups the data plane uses, the typed observers, and the
 * JSON the admin API lists. Applying and deleting is in resources_apply.c, conditions and
 * resolution in resources_status.c, loading in resources_load.c (resources_internal.h).
 *
 * Brokers and triggers come alive here: a broker gets a stable id, an address and a router; a
 * trigger gets a compiled filter, a resolved subscriber and its effective delivery, and is put in
 * its broker's router and announced to the observers once its broker exists. Other Knative kinds
 * are stored and listed, with Ready=False reason NotImplemented unless the module that runs them
 * sets their status (hd_resources_set_status).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hd_config.h"
#include "hd_map.h"
#include "resources_internal.h"

/* ---- the registry maps -------------------------------------------------------------------- */

/* Both maps start with this many buckets and double as they fill. */
#define FIRST_BUCKETS 256

record_t *hd_resources__find(const hd_resources_t *r, const char *key)
{
    hd_map_node_t *n = hd_map_find(&r->recs, key, strlen(key));
    return n ? hd_container_of(n, record_t, node) : NULL;
}

/* The by-id map keys a record by the bytes of its id (in memory only, so host byte order). */
static record_t *find_id(const hd_resources_t *r, uint32_t id)
{
    hd_map_node_t *n = hd_map_find(&r->by_id, (const char *)&id, sizeof id);
    return n ? hd_container_of(n, record_t, id_node) : NULL;
}

hd_err_t hd_resources__link(hd_resources_t *r, record_t *x)
{
    if (hd_map_reserve(&r->recs, FIRST_BUCKETS) != HD_E_OK ||
        (x->id && hd_map_reserve(&r->by_id, FIRST_BUCKETS) != HD_E_OK))
        return HD_E_NOMEM;
    hd_map_link(&r->recs, &x->node, x->key, strlen(x->key));
    if (x->id)
        hd_map_link(&r->by_id, &x->id_node, (const char *)&x->id, sizeof x->id);
    return HD_E_OK;
}

void hd_resources__unlink(hd_resources_t *r, record_t *x)
{
    hd_map_unlink(&r->recs, &x->node);
    if (x->id)
        hd_map_unlink(&r->by_id, &x->id_node);
}

void hd_resources__each(hd_resources_t *r, void (*fn)(hd_resources_t *r, record_t *x, void *arg),
                        void *arg)
{
    for (size_t i = 0; i < r->recs.nbuckets; i++)
        for (hd_map_node_t *n = r->recs.buckets[i]; n; n = n->next)
            fn(r, hd_container_of(n, record_t, node), arg);
}

void hd_resources__key(char *buf, size_t cap, const char *plural, const char *ns, const char *name)
{
    snprintf(buf, cap, "%s/%s/%s", plural, ns, name);
}

/* ---- observers ---------------------------------------------------------------------------- */

static void replay_broker(hd_resources_t *r, record_t *x, void *arg)
{
    (void)r;
    const observer_t *o = arg;
    if (x->b && o->obs->broker_added)
        o->obs->broker_added(o->arg, &x->b->pub);
}

static void replay_trigger(hd_resources_t *r, record_t *x, void *arg)
{
    (void)r;
    const observer_t *o = arg;
    if (x->t && x->t->bound && o->obs->trigger_added)
        o->obs->trigger_added(o->arg, &x->t->pub);
}

hd_err_t hd_resources_observe(hd_resources_t *r, const hd_resources_observer_t *obs, void *arg)
{
    if (r->nobservers == HD_RESOURCES__MAX_OBSERVERS)
        return HD_E_FULL;
    observer_t o = {obs, arg};
    r->observers[r->nobservers++] = o;
    hd_resources__each(r, replay_broker, &o);
    hd_resources__each(r, replay_trigger, &o);
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

/* ---- lookups ------------------------------------------------------------------------------ */

hd_broker_t *hd_resources_broker(hd_resources_t *r, const char *ns, size_t ns_len, const char *name,
                                 size_t name_len)
{
    char key[HD_RESOURCES__KEYCAP];
    if (ns_len + name_len + 10 > sizeof key)
        return NULL;
    memcpy(key, "brokers/", 8);
    memcpy(key + 8, ns, ns_len);
    key[8 + ns_len] = '/';
    memcpy(key + 9 + ns_len, name, name_len);
    key[9 + ns_len + name_len] = '\0';
    if (memchr(ns, '/', ns_len) || memchr(name, '/', name_len))
        return NULL;
    record_t *x = hd_resources__find(r, key);
    return x && x->b ? &x->b->pub : NULL;
}

hd_broker_t *hd_resources_broker_by_id(hd_resources_t *r, uint32_t id)
{
    record_t *x = find_id(r, id);
    return x && x->b ? &x->b->pub : NULL;
}

hd_trigger_t *hd_resources_trigger(hd_resources_t *r, const char *ns, const char *name)
{
    char key[HD_RESOURCES__KEYCAP];
    hd_resources__key(key, sizeof key, "triggers", ns, name);
    record_t *x = hd_resources__find(r, key);
    return x && x->t ? &x->t->pub : NULL;
}

hd_broker_t *hd_resources_channel(hd_resources_t *r, const char *ns, size_t ns_len,
                                  const char *name, size_t name_len)
{
    static const char *const plurals[] = {"inmemorychannels", "channels"};
    char key[HD_RESOURCES__KEYCAP];
    if (ns_len + name_len + 24 > sizeof key || memchr(ns, '/', ns_len) ||
        memchr(name, '/', name_len))
        return NULL;
    for (size_t i = 0; i < 2; i++) {
        snprintf(key, sizeof key, "%s/%.*s/%.*s", plurals[i], (int)ns_len, ns, (int)name_len, name);
        record_t *x = hd_resources__find(r, key);
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
    char key[HD_RESOURCES__KEYCAP];
    hd_resources__key(key, sizeof key, "subscriptions", ns, name);
    record_t *x = hd_resources__find(r, key);
    return x && x->t ? &x->t->pub : NULL;
}

hd_trigger_t *hd_resources_trigger_by_id(hd_resources_t *r, uint32_t id)
{
    record_t *x = find_id(r, id);
    return x && x->t ? &x->t->pub : NULL;
}

typedef struct {
    const hd_broker_t *b;
    void (*fn)(void *arg, hd_trigger_t *t);
    void *arg;
} each_trig_t;

static void each_trig(hd_resources_t *r, record_t *x, void *arg)
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
    hd_resources__each(r, each_trig, &e);
}

static void each_brk(hd_resources_t *r, record_t *x, void *arg)
{
    (void)r;
    void **a = arg;
    if (x->b)
        ((void (*)(void *, hd_broker_t *))a[0])(a[1], &x->b->pub);
}

void hd_resources_each_broker(hd_resources_t *r, void (*fn)(void *arg, hd_broker_t *b), void *arg)
{
    void *a[2] = {(void *)fn, arg};
    hd_resources__each(r, each_brk, a);
}

record_t *hd_resources__find_named(hd_resources_t *r, const hd_kind_info_t *ki, const char *ns,
                                   const char *name)
{
    char key[HD_RESOURCES__KEYCAP];
    hd_resources__key(key, sizeof key, ki->plural, ns, name);
    record_t *x = hd_resources__find(r, key);
    if (!x && ki->type == HD_RK_OTHER && !strcmp(ki->kind, "Service")) {
        /* "Service" names Knative's first; a Kubernetes v1 Service of that name is the other */
        hd_resources__key(key, sizeof key, hd_resources_kind_lookup("svc")->plural, ns, name);
        x = hd_resources__find(r, key);
    }
    return x;
}

cJSON *hd_resources_get_json(hd_resources_t *r, const char *plural, const char *ns,
                             const char *name)
{
    const hd_kind_info_t *ki = hd_resources_kind_lookup(plural);
    record_t *x = ki ? hd_resources__find_named(r, ki, ns, name) : NULL;
    return x ? cJSON_Duplicate(x->obj, 1) : NULL;
}

typedef struct {
    const hd_kind_info_t *ki;
    const char *ns;
    record_t **v;
    size_t n, cap;
} list_ctx_t;

static void list_one(hd_resources_t *r, record_t *x, void *arg)
{
    (void)r;
    list_ctx_t *l = arg;
    if ((l->ki && x->ki != l->ki) || (l->ns && strcmp(l->ns, x->ns)))
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        record_t **v = hd_realloc(l->v, cap * sizeof *v);
        if (!v)
            return;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
}

static int rec_cmp(const void *a, const void *b)
{
    const record_t *x = *(record_t *const *)a, *y = *(record_t *const *)b;
    int c = strcmp(x->ki->kind, y->ki->kind);
    if (!c)
        c = strcmp(x->ns, y->ns);
    if (!c)
        c = strcmp(x->name, y->name);
    return c;
}

cJSON *hd_resources_list_json(hd_resources_t *r, const char *plural, const char *ns)
{
    list_ctx_t l = {NULL, ns, NULL, 0, 0};
    if (plural && !(l.ki = hd_resources_kind_lookup(plural)))
        return NULL;
    hd_resources__each(r, list_one, &l);
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, rec_cmp);
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < l.n; i++)
        cJSON_AddItemToArray(arr, cJSON_Duplicate(l.v[i]->obj, 1));
    hd_free(l.v);
    return arr;
}
void hd_resources__record_free(record_t *x)
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

/* ---- open / close ------------------------------------------------------------------------- */

/* herald.yaml's services: each item "name=URL" or "ns/name=URL" with an http(s) URL. */
static hd_err_t copy_services(hd_resources_t *r, const char *const *items, size_t n)
{
    if (!(r->services = hd_calloc(n, sizeof *r->services)))
        return HD_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(items[i], '=');
        const char *slash = eq ? memchr(items[i], '/', (size_t)(eq - items[i])) : NULL;
        if (!eq || !hd_resources__url_ok(eq + 1) ||
            (slash && memchr(slash + 1, '/', (size_t)(eq - slash - 1)))) {
            hd_log(HD_LOG_ERROR,
                   "services: each entry is name or namespace/name: an http:// or https:// URL",
                   "entry", items[i], NULL);
            return HD_E_CONFIG;
        }
        if (!(r->services[r->service_count++] = hd_strdup(items[i])))
            return HD_E_NOMEM;
    }
    return HD_E_OK;
}

hd_err_t hd_resources_open(const hd_resources_opts_t *opts, hd_state_t *state, hd_resources_t **out)
{
    static const hd_resources_opts_t defaults = {0};
    if (!opts)
        opts = &defaults;
    hd_resources_t *r = hd_calloc(1, sizeof *r);
    if (!r)
        return HD_E_NOMEM;
    r->state = state;
    r->next_id = 1;
    r->retention_ms = opts->retention_ms ? opts->retention_ms : HD_CONFIG_RETENTION_MS;
    r->ingress_address =
        hd_strdup(opts->ingress_address ? opts->ingress_address : HD_RESOURCES_INGRESS_ADDRESS);
    hd_err_t rc = r->ingress_address ? HD_E_OK : HD_E_NOMEM;
    if (rc == HD_E_OK && opts->service_count)
        rc = copy_services(r, opts->services, opts->service_count);
    if (rc == HD_E_OK && state)
        rc = hd_resources__load_state(r, state);
    if (rc == HD_E_OK)
        rc = hd_resources__load_manifests(r, opts->manifests, opts->manifest_count);
    if (rc) {
        hd_resources_close(r);
        return rc;
    }
    *out = r;
    return HD_E_OK;
}

static void close_one(hd_resources_t *r, record_t *x, void *arg)
{
    (void)arg;
    if (x->t && x->t->bound) {
        hd_router_remove(x->t->pub.broker->router, &x->t->pub);
        HD_RESOURCES__TELL(r, trigger_removed, &x->t->pub, false);
        x->t->bound = false;
    }
}

void hd_resources_close(hd_resources_t *r)
{
    if (!r)
        return;
    hd_resources__each(r, close_one, NULL);
    for (size_t i = 0; i < r->recs.nbuckets; i++) {
        hd_map_node_t *n = r->recs.buckets[i];
        while (n) {
            hd_map_node_t *next = n->next;
            record_t *x = hd_container_of(n, record_t, node);
            if (x->b)
                HD_RESOURCES__TELL(r, broker_removed, &x->b->pub, false);
            hd_resources__record_free(x);
            n = next;
        }
    }
    hd_map_free(&r->recs);
    hd_map_free(&r->by_id);
    hd_resources__manifest_keys_free(r);
    hd_free(r->ingress_address);
    for (size_t i = 0; i < r->service_count; i++)
        hd_free(r->services[i]);
    hd_free(r->services);
    hd_free(r);
}
