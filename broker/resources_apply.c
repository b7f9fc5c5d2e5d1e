/*
 * resources_apply.c — apply and delete (resources_internal.h): every document is validated and
 * normalized first (prepare, in resources_prepare.c: nothing changes), then all are installed, a
 * flow followed by the channels and subscriptions it builds; the changes go to the state store in
 * one transaction.
 * Deleting a log drops its events and its consumers' progress; deleting a flow deletes its
 * children.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_flows.h"
#include "hd_manifest.h"
#include "resources_internal.h"

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
    } else if (x->ki->type == HD_RK_SERVICE) {
        hd_resources__service_refresh(r, x);
        *others_changed = true;
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
 * installed); every child's errors are reported, each under its kind and name. */
static hd_err_t prep_children(hd_resources_t *r, preps_t *ps, size_t flow, char *err, size_t cap)
{
    hd_errs_t es = {err, cap, 0, 0};
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
        if (rc == HD_E_NOMEM) {
            ps->n--;
            snprintf(err, cap, "out of memory");
            return rc;
        }
        if (rc) {
            ps->n--;
            hd_resources__errf(
                &es, "%s %s: %s", hd_resources__jstr(c, "kind"),
                hd_resources__jstr(cJSON_GetObjectItemCaseSensitive(c, "metadata"), "name"), e);
            continue;
        }
        p->child = true;
    }
    return es.n ? HD_E_INVAL : HD_E_OK;
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
    /* Every document is checked, and every error of every document reported, one line per
     * document; the same kind, namespace and name twice in one apply is an error too. */
    preps_t ps = {0};
    int i = 0, bad = 0;
    size_t elen = 0;
    hd_err_t worst = HD_E_OK;
    err[0] = '\0';
    const cJSON *doc;
    cJSON_ArrayForEach(doc, docs)
    {
        if (worst == HD_E_NOMEM)
            break;
        char e[HD_RESOURCES__ERRCAP];
        size_t at = ps.n;
        prep_t *p = preps_push(&ps);
        rc = p ? hd_resources__prepare(r, doc, FROM_USER, p, e, sizeof e) : HD_E_NOMEM;
        for (size_t k = 0; rc == HD_E_OK && k < at; k++) {
            if (!ps.v[k].child && !strcmp(ps.v[k].key, p->key)) {
                snprintf(e, sizeof e,
                         "the same %s as document %d (%s/%s): each namespace/name of a kind may "
                         "appear once in one apply (the last would silently win); remove one",
                         p->ki->kind, ps.v[k].doc, p->ns, p->name);
                rc = HD_E_INVAL;
            }
        }
        if (rc == HD_E_OK) {
            p->doc = i + 1;
            if (p->children)
                rc = prep_children(r, &ps, at, e, sizeof e);
        }
        if (rc && p)
            while (ps.n > at) /* this document and the children built so far */
                hd_resources__prep_free(&ps.v[--ps.n]);
        if (rc) {
            char where[300];
            describe_doc(doc, i + 1, where, sizeof where);
            if (elen < cap) {
                int w = snprintf(err + elen, cap - elen, "%s%s: %s", bad ? "\n" : "", where,
                                 rc == HD_E_NOMEM ? "out of memory" : e);
                elen += w > 0 ? (size_t)w : 0;
            }
            bad++;
            if (rc == HD_E_NOMEM || worst == HD_E_OK)
                worst = rc;
        }
        i++;
    }
    cJSON_Delete(docs);
    if (worst) {
        if (worst == HD_E_NOMEM && !bad)
            snprintf(err, cap, "out of memory");
        preps_free(&ps);
        return worst;
    }
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
    char err[HD_RESOURCES__APPLY_ERRCAP];
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
    record_t *x = hd_resources__find_named(r, ki, ns, name);
    if (!x) {
        snprintf(msg, sizeof msg, "%s \"%s/%s\" not found", ki->kind, ns, name);
        if (cb)
            cb(arg, HD_E_NOTFOUND, NULL, msg);
        return;
    }
    const char *okind, *oname;
    if (hd_flows_owner(x->obj, &okind, &oname) && hd_resources__find_kind(r, okind, ns, oname)) {
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
