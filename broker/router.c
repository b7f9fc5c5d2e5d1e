/*
 * router.c — the per-broker trigger index (hd_filter.h).
 *
 * A trigger whose filter requires an exact `type` goes into the type index under that value;
 * else one requiring an exact `source` goes into the source index; everything else goes into the
 * scan list. Matching an event looks up its type and its source (one hash probe each) and
 * evaluates only those candidates plus the scan list, so a trigger with exact type X is never
 * evaluated for an event of another type. Every trigger lives in exactly one place, hence is
 * reported at most once per event.
 */
#include <string.h>

#include "hd_filter.h"
#include "hd_map.h"
#include "hd_resources.h"
#include "hd_router.h"

typedef struct {
    struct hd_trigger **v;
    size_t n, cap;
} tvec_t;

typedef struct {
    hd_map_node_t node; /* in its tmap_t, under key */
    char *key;
    size_t key_len;
    tvec_t triggers;
} entry_t;

typedef hd_map_t tmap_t; /* entry_t by key */

struct hd_router {
    tmap_t by_type;
    tmap_t by_source;
    tvec_t scan;
    size_t count;
};

static hd_err_t tvec_push(tvec_t *v, struct hd_trigger *t)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        struct hd_trigger **nv = hd_realloc(v->v, cap * sizeof *nv);
        if (!nv)
            return HD_E_NOMEM;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = t;
    return HD_E_OK;
}

static bool tvec_remove(tvec_t *v, const struct hd_trigger *t)
{
    for (size_t i = 0; i < v->n; i++) {
        if (v->v[i] == t) {
            v->v[i] = v->v[--v->n];
            return true;
        }
    }
    return false;
}

static bool tvec_has(const tvec_t *v, const struct hd_trigger *t)
{
    for (size_t i = 0; i < v->n; i++)
        if (v->v[i] == t)
            return true;
    return false;
}

static entry_t *tmap_find(const tmap_t *m, const char *key, size_t len)
{
    hd_map_node_t *n = hd_map_find(m, key, len);
    return n ? hd_container_of(n, entry_t, node) : NULL;
}

static hd_err_t tmap_add(tmap_t *m, const char *key, size_t len, struct hd_trigger *t)
{
    entry_t *e = tmap_find(m, key, len);
    if (!e) {
        if (hd_map_reserve(m, 64))
            return HD_E_NOMEM;
        e = hd_calloc(1, sizeof *e);
        if (!e)
            return HD_E_NOMEM;
        e->key = hd_strndup(key, len);
        if (!e->key) {
            hd_free(e);
            return HD_E_NOMEM;
        }
        e->key_len = len;
        if (tvec_push(&e->triggers, t)) {
            hd_free(e->key);
            hd_free(e);
            return HD_E_NOMEM;
        }
        hd_map_link(m, &e->node, e->key, len);
        return HD_E_OK;
    }
    return tvec_push(&e->triggers, t);
}

static bool tmap_remove(tmap_t *m, const char *key, size_t len, const struct hd_trigger *t)
{
    entry_t *e = tmap_find(m, key, len);
    if (!e)
        return false;
    bool found = tvec_remove(&e->triggers, t);
    if (e->triggers.n == 0) {
        hd_map_unlink(m, &e->node);
        hd_free(e->triggers.v);
        hd_free(e->key);
        hd_free(e);
    }
    return found;
}

static void tmap_free(tmap_t *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        hd_map_node_t *n = m->buckets[i];
        while (n) {
            hd_map_node_t *next = n->next;
            entry_t *e = hd_container_of(n, entry_t, node);
            hd_free(e->triggers.v);
            hd_free(e->key);
            hd_free(e);
            n = next;
        }
    }
    hd_map_free(m);
}

hd_router_t *hd_router_new(void)
{
    return hd_calloc(1, sizeof(hd_router_t));
}

void hd_router_free(hd_router_t *r)
{
    if (!r)
        return;
    tmap_free(&r->by_type);
    tmap_free(&r->by_source);
    hd_free(r->scan.v);
    hd_free(r);
}

/* Where a trigger belongs: the type index, else the source index, else the scan list. */
static tmap_t *place(hd_router_t *r, const struct hd_trigger *t, const char **key, size_t *len)
{
    if (hd_filter_required_exact(t->filter, "type", key, len))
        return &r->by_type;
    if (hd_filter_required_exact(t->filter, "source", key, len))
        return &r->by_source;
    return NULL;
}

hd_err_t hd_router_add(hd_router_t *r, struct hd_trigger *t)
{
    const char *key = NULL;
    size_t len = 0;
    tmap_t *m = place(r, t, &key, &len);
    hd_err_t rc;
    if (m) {
        entry_t *e = tmap_find(m, key, len);
        if (e && tvec_has(&e->triggers, t))
            return HD_E_EXISTS;
        rc = tmap_add(m, key, len, t);
    } else {
        if (tvec_has(&r->scan, t))
            return HD_E_EXISTS;
        rc = tvec_push(&r->scan, t);
    }
    if (rc == HD_E_OK)
        r->count++;
    return rc;
}

void hd_router_remove(hd_router_t *r, struct hd_trigger *t)
{
    if (!r)
        return;
    const char *key = NULL;
    size_t len = 0;
    tmap_t *m = place(r, t, &key, &len);
    bool found = m ? tmap_remove(m, key, len, t) : tvec_remove(&r->scan, t);
    if (found)
        r->count--;
}

static void match_vec(const tvec_t *v, const ce_event_t *ev,
                      void (*fn)(void *arg, struct hd_trigger *t), void *arg)
{
    for (size_t i = 0; i < v->n; i++)
        if (hd_filter_match(v->v[i]->filter, ev))
            fn(arg, v->v[i]);
}

void hd_router_match(const hd_router_t *r, const ce_event_t *ev,
                     void (*fn)(void *arg, struct hd_trigger *t), void *arg)
{
    if (!r)
        return;
    const ce_value_t *type = ce_event_get(ev, "type", 4);
    if (type) {
        const entry_t *e = tmap_find(&r->by_type, type->str, type->len);
        if (e)
            match_vec(&e->triggers, ev, fn, arg);
    }
    const ce_value_t *source = ce_event_get(ev, "source", 6);
    if (source) {
        const entry_t *e = tmap_find(&r->by_source, source->str, source->len);
        if (e)
            match_vec(&e->triggers, ev, fn, arg);
    }
    match_vec(&r->scan, ev, fn, arg);
}

size_t hd_router_count(const hd_router_t *r)
{
    return r ? r->count : 0;
}

size_t hd_router_scan_count(const hd_router_t *r)
{
    return r ? r->scan.n : 0;
}
