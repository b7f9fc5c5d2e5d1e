/*
 * flows.c — Sequence and Parallel expanded into the channels and subscriptions Knative builds
 * for them (hd_flows.h). Validation happens here, with paths in the flow's own terms
 * (spec.steps[1].ref.kind), so a user sees the field they wrote, not a generated child's.
 */
#include <stdio.h>
#include <string.h>

#include "hd_flows.h"
#include "resources_internal.h"

#define NAME_MAX_LEN 253

typedef struct {
    const char *kind; /* "Sequence" | "Parallel" */
    const char *ns, *name;
    const cJSON *tmpl; /* channelTemplate, or NULL for the default */
    cJSON *out;        /* the children array */
    hd_errs_t es;      /* every error found, "; "-separated in the caller's buffer */
} flow_t;

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool present(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return v && !cJSON_IsNull(v);
}

/* Only the keys in `allowed` (NULL-terminated) may appear in `o`: each other one is an error. */
static void check_fields(flow_t *f, const cJSON *o, const char *path, const char *const *allowed,
                         const char *list)
{
    for (const cJSON *it = o->child; it; it = it->next) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(it->string, *a);
        if (!ok)
            hd_resources__errf(&f->es, "%s.%s: unknown field (known: %s)", path, it->string, list);
    }
}

/* A DeliverySpec at `path` (absent or null: nothing to check). Only HD_E_NOMEM is returned;
 * errors go to f->es. */
static hd_err_t check_delivery(flow_t *f, const cJSON *dl, const char *path)
{
    if (!dl || cJSON_IsNull(dl))
        return HD_E_OK;
    char p[160];
    snprintf(p, sizeof p, "%s.delivery", path);
    hd_delivery_t d;
    hd_dest_t dls;
    memset(&dls, 0, sizeof dls);
    hd_err_t rc = hd_resources__delivery_parse(dl, p, f->ns, &d, &dls, &f->es);
    hd_resources__dest_free(&dls);
    return rc == HD_E_NOMEM ? rc : HD_E_OK;
}

/* A Destination (optionally with `delivery` beside it, as a Sequence step has): its shape, and
 * that it does not point back at this flow. Only HD_E_NOMEM is returned; errors go to f->es. */
static hd_err_t check_dest(flow_t *f, const cJSON *j, const char *path, bool with_delivery)
{
    if (!cJSON_IsObject(j)) {
        hd_resources__errf(&f->es, "%s: must be an object with 'uri' and/or 'ref'", path);
        return HD_E_OK;
    }
    cJSON *dest = cJSON_Duplicate(j, true);
    if (!dest)
        return HD_E_NOMEM;
    hd_err_t rc = HD_E_OK;
    if (with_delivery) {
        cJSON *dl = cJSON_DetachItemFromObjectCaseSensitive(dest, "delivery");
        rc = check_delivery(f, dl, path);
        cJSON_Delete(dl);
    }
    hd_dest_t d;
    if (rc != HD_E_NOMEM)
        rc = hd_resources__dest_parse(dest, path, f->ns, &d, &f->es);
    cJSON_Delete(dest);
    if (rc != HD_E_OK)
        return rc == HD_E_NOMEM ? rc : HD_E_OK;
    if (d.ref_kind && !strcmp(d.ref_kind->kind, f->kind) && !strcmp(d.ref_name, f->name) &&
        !strcmp(d.ref_ns, f->ns))
        hd_resources__errf(&f->es, "%s: refers to this %s itself: a cycle", path, f->kind);
    hd_resources__dest_free(&d);
    return HD_E_OK;
}

static void check_template(flow_t *f)
{
    if (!f->tmpl)
        return;
    static const char *const fields[] = {"apiVersion", "kind", "spec", NULL};
    if (!cJSON_IsObject(f->tmpl)) {
        hd_resources__errf(&f->es,
                           "spec.channelTemplate: must be an object with apiVersion and kind");
        return;
    }
    check_fields(f, f->tmpl, "spec.channelTemplate", fields, "apiVersion, kind, spec");
    const char *api = jstr(f->tmpl, "apiVersion"), *kind = jstr(f->tmpl, "kind");
    if (!api || !*api)
        hd_resources__errf(&f->es, "spec.channelTemplate.apiVersion: required");
    if (!kind || (strcmp(kind, "InMemoryChannel") && strcmp(kind, "KafkaChannel")))
        hd_resources__errf(&f->es,
                           "spec.channelTemplate.kind: '%s' is not a channel kind Herald knows "
                           "(InMemoryChannel, KafkaChannel)",
                           kind ? kind : "");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(f->tmpl, "spec");
    if (spec && !cJSON_IsNull(spec) && !cJSON_IsObject(spec))
        hd_resources__errf(&f->es, "spec.channelTemplate.spec: must be an object");
}

/* apiVersion, kind, metadata {name, namespace, ownerReferences} of a child. */
static cJSON *child_new(flow_t *f, const char *api, const char *kind, const char *name)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *md = cJSON_AddObjectToObject(o, "metadata");
    cJSON *refs = cJSON_AddArrayToObject(md, "ownerReferences");
    cJSON *ref = cJSON_CreateObject();
    if (!o || !md || !refs || !ref) {
        cJSON_Delete(ref);
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToArray(refs, ref);
    if (!cJSON_AddStringToObject(o, "apiVersion", api) ||
        !cJSON_AddStringToObject(o, "kind", kind) || !cJSON_AddStringToObject(md, "name", name) ||
        !cJSON_AddStringToObject(md, "namespace", f->ns) ||
        !cJSON_AddStringToObject(ref, "apiVersion", "flows.knative.dev/v1") ||
        !cJSON_AddStringToObject(ref, "kind", f->kind) ||
        !cJSON_AddStringToObject(ref, "name", f->name) ||
        !cJSON_AddTrueToObject(ref, "controller") ||
        !cJSON_AddTrueToObject(ref, "blockOwnerDeletion")) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddItemToArray(f->out, o);
    return o;
}

static const char *tmpl_api(const flow_t *f)
{
    return f->tmpl ? jstr(f->tmpl, "apiVersion") : HD_FLOWS_DEFAULT_CHANNEL_API;
}

static const char *tmpl_kind(const flow_t *f)
{
    return f->tmpl ? jstr(f->tmpl, "kind") : HD_FLOWS_DEFAULT_CHANNEL_KIND;
}

static hd_err_t add_channel(flow_t *f, const char *name)
{
    cJSON *c = child_new(f, tmpl_api(f), tmpl_kind(f), name);
    if (!c)
        return HD_E_NOMEM;
    const cJSON *spec = f->tmpl ? cJSON_GetObjectItemCaseSensitive(f->tmpl, "spec") : NULL;
    cJSON *s = cJSON_IsObject(spec) ? cJSON_Duplicate(spec, true) : cJSON_CreateObject();
    if (!s)
        return HD_E_NOMEM;
    cJSON_AddItemToObject(c, "spec", s);
    return HD_E_OK;
}

/* A ref to one of this flow's channels. */
static cJSON *channel_ref(const flow_t *f, const char *name)
{
    cJSON *r = cJSON_CreateObject();
    if (!r || !cJSON_AddStringToObject(r, "apiVersion", tmpl_api(f)) ||
        !cJSON_AddStringToObject(r, "kind", tmpl_kind(f)) ||
        !cJSON_AddStringToObject(r, "name", name)) {
        cJSON_Delete(r);
        return NULL;
    }
    return r;
}

static cJSON *dest_to_channel(const flow_t *f, const char *name)
{
    cJSON *d = cJSON_CreateObject();
    cJSON *r = channel_ref(f, name);
    if (!d || !r) {
        cJSON_Delete(d);
        cJSON_Delete(r);
        return NULL;
    }
    if (!cJSON_AddStringToObject(r, "namespace", f->ns)) {
        cJSON_Delete(d);
        cJSON_Delete(r);
        return NULL;
    }
    cJSON_AddItemToObject(d, "ref", r);
    return d;
}

/* Copies a Destination's fields (uri, ref, CACerts, audience), leaving out `delivery`. */
static cJSON *dest_copy(const cJSON *src)
{
    cJSON *d = cJSON_CreateObject();
    if (!d)
        return NULL;
    for (const cJSON *it = src->child; it; it = it->next) {
        if (!strcmp(it->string, "delivery"))
            continue;
        cJSON *c = cJSON_Duplicate(it, true);
        if (!c) {
            cJSON_Delete(d);
            return NULL;
        }
        cJSON_AddItemToObject(d, it->string, c);
    }
    return d;
}

/* A Subscription on channel `chan` to `subscriber` (NULL: none, events go straight to reply),
 * replying to `reply` (owned; NULL: none), with `delivery` (borrowed; NULL: none). */
static hd_err_t add_subscription(flow_t *f, const char *name, const char *chan,
                                 const cJSON *subscriber, cJSON *reply, const cJSON *delivery)
{
    cJSON *s = child_new(f, "messaging.knative.dev/v1", "Subscription", name);
    cJSON *spec = s ? cJSON_AddObjectToObject(s, "spec") : NULL;
    cJSON *ch = channel_ref(f, chan);
    if (!spec || !ch) {
        cJSON_Delete(ch);
        cJSON_Delete(reply);
        return HD_E_NOMEM;
    }
    cJSON_AddItemToObject(spec, "channel", ch);
    if (subscriber) {
        cJSON *sub = dest_copy(subscriber);
        if (!sub) {
            cJSON_Delete(reply);
            return HD_E_NOMEM;
        }
        cJSON_AddItemToObject(spec, "subscriber", sub);
    }
    if (reply)
        cJSON_AddItemToObject(spec, "reply", reply);
    if (delivery && !cJSON_IsNull(delivery)) {
        cJSON *d = cJSON_Duplicate(delivery, true);
        if (!d)
            return HD_E_NOMEM;
        cJSON_AddItemToObject(spec, "delivery", d);
    }
    return HD_E_OK;
}

static hd_err_t child_name(flow_t *f, char *buf, size_t cap, const char *suffix, int i)
{
    int n = i < 0 ? snprintf(buf, cap, "%s-%s", f->name, suffix)
                  : snprintf(buf, cap, "%s-%s-%d", f->name, suffix, i);
    if (n < 0 || (size_t)n >= cap || n > NAME_MAX_LEN)
        return hd_resources__errf(&f->es,
                                  "metadata.name: %zu characters is too long for the names of its "
                                  "channels (at most 253 with the -%s suffix)",
                                  strlen(f->name), suffix);
    return HD_E_OK;
}

static cJSON *spec_reply(const cJSON *spec)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(spec, "reply");
    return r && !cJSON_IsNull(r) ? dest_copy(r) : NULL;
}

static hd_err_t expand_sequence(flow_t *f, const cJSON *spec)
{
    static const char *const fields[] = {"steps", "channelTemplate", "reply", NULL};
    check_fields(f, spec, "spec", fields, "steps, channelTemplate, reply");
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(spec, "steps");
    if (!cJSON_IsArray(steps) || cJSON_GetArraySize(steps) == 0) {
        hd_resources__errf(&f->es, "spec.steps: a Sequence needs at least one step");
        steps = NULL;
    }
    int n = cJSON_GetArraySize(steps), i = 0;
    char path[64], name[NAME_MAX_LEN + 32], next[NAME_MAX_LEN + 32];
    hd_err_t rc = HD_E_OK;
    const cJSON *st;
    cJSON_ArrayForEach(st, steps)
    {
        snprintf(path, sizeof path, "spec.steps[%d]", i++);
        if ((rc = check_dest(f, st, path, true)))
            return rc;
    }
    if (present(spec, "reply") &&
        (rc = check_dest(f, cJSON_GetObjectItemCaseSensitive(spec, "reply"), "spec.reply", false)))
        return rc;
    if (n > 0) /* the longest of its channels' names */
        child_name(f, name, sizeof name, "kn-sequence", n - 1);
    if (f->es.n)
        return HD_E_INVAL;
    for (i = 0; i < n; i++) {
        if ((rc = child_name(f, name, sizeof name, "kn-sequence", i)) ||
            (rc = add_channel(f, name)))
            return rc;
    }
    i = 0;
    cJSON_ArrayForEach(st, steps)
    {
        child_name(f, name, sizeof name, "kn-sequence", i);
        cJSON *reply;
        if (i + 1 < n) {
            child_name(f, next, sizeof next, "kn-sequence", i + 1);
            if (!(reply = dest_to_channel(f, next)))
                return HD_E_NOMEM;
        } else {
            reply = spec_reply(spec);
            if (present(spec, "reply") && !reply)
                return HD_E_NOMEM;
        }
        rc = add_subscription(f, name, name, st, reply,
                              cJSON_GetObjectItemCaseSensitive(st, "delivery"));
        if (rc)
            return rc;
        i++;
    }
    return HD_E_OK;
}

static hd_err_t expand_parallel(flow_t *f, const cJSON *spec)
{
    static const char *const fields[] = {"branches", "channelTemplate", "reply", NULL};
    static const char *const bfields[] = {"filter", "subscriber", "reply", "delivery", NULL};
    check_fields(f, spec, "spec", fields, "branches, channelTemplate, reply");
    const cJSON *branches = cJSON_GetObjectItemCaseSensitive(spec, "branches");
    if (!cJSON_IsArray(branches) || cJSON_GetArraySize(branches) == 0) {
        hd_resources__errf(&f->es, "spec.branches: a Parallel needs at least one branch");
        branches = NULL;
    }
    char path[96], name[NAME_MAX_LEN + 32], entry[NAME_MAX_LEN + 32];
    int i = 0;
    hd_err_t rc = HD_E_OK;
    const cJSON *br;
    cJSON_ArrayForEach(br, branches)
    {
        snprintf(path, sizeof path, "spec.branches[%d]", i++);
        if (!cJSON_IsObject(br)) {
            hd_resources__errf(&f->es,
                               "%s: must be an object with subscriber, and optionally filter, "
                               "reply, delivery",
                               path);
            continue;
        }
        check_fields(f, br, path, bfields, "filter, subscriber, reply, delivery");
        if (!present(br, "subscriber"))
            hd_resources__errf(&f->es, "%s.subscriber: required: every branch needs a subscriber",
                               path);
        static const char *const parts[] = {"filter", "subscriber", "reply"};
        for (size_t k = 0; k < 3; k++) {
            if (!present(br, parts[k]))
                continue;
            char p[128];
            snprintf(p, sizeof p, "%s.%s", path, parts[k]);
            if ((rc = check_dest(f, cJSON_GetObjectItemCaseSensitive(br, parts[k]), p, false)))
                return rc;
        }
        if ((rc = check_delivery(f, cJSON_GetObjectItemCaseSensitive(br, "delivery"), path)))
            return rc;
    }
    if (present(spec, "reply") &&
        (rc = check_dest(f, cJSON_GetObjectItemCaseSensitive(spec, "reply"), "spec.reply", false)))
        return rc;
    int n = i;
    if (n > 0) { /* the longest of its children's names */
        char fname[NAME_MAX_LEN + 48];
        child_name(f, fname, sizeof fname, "kn-parallel-filter", n - 1);
    }
    if (f->es.n)
        return HD_E_INVAL;
    if ((rc = child_name(f, entry, sizeof entry, "kn-parallel", -1)) ||
        (rc = add_channel(f, entry)))
        return rc;
    for (i = 0; i < n; i++) {
        if ((rc = child_name(f, name, sizeof name, "kn-parallel", i)) ||
            (rc = add_channel(f, name)))
            return rc;
    }
    i = 0;
    cJSON_ArrayForEach(br, branches)
    {
        const cJSON *dl = cJSON_GetObjectItemCaseSensitive(br, "delivery");
        char fname[NAME_MAX_LEN + 48];
        child_name(f, name, sizeof name, "kn-parallel", i);
        if ((rc = child_name(f, fname, sizeof fname, "kn-parallel-filter", i)))
            return rc;
        cJSON *to_branch = dest_to_channel(f, name);
        if (!to_branch)
            return HD_E_NOMEM;
        const cJSON *filter = cJSON_GetObjectItemCaseSensitive(br, "filter");
        rc = add_subscription(f, fname, entry, filter && !cJSON_IsNull(filter) ? filter : NULL,
                              to_branch, dl);
        if (rc)
            return rc;
        cJSON *reply = present(br, "reply") ? spec_reply(br) : spec_reply(spec);
        if ((present(br, "reply") || present(spec, "reply")) && !reply)
            return HD_E_NOMEM;
        rc = add_subscription(f, name, name, cJSON_GetObjectItemCaseSensitive(br, "subscriber"),
                              reply, dl);
        if (rc)
            return rc;
        i++;
    }
    return HD_E_OK;
}

hd_err_t hd_flows_expand(const cJSON *flow, cJSON **children, char *err, size_t cap)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(flow, "metadata");
    flow_t f = {
        .kind = jstr(flow, "kind"),
        .ns = jstr(md, "namespace"),
        .name = jstr(md, "name"),
        .es = {err, cap, 0, 0},
    };
    *children = NULL;
    if (!f.kind || (strcmp(f.kind, "Sequence") && strcmp(f.kind, "Parallel")))
        return hd_resources__errf(&f.es, "kind: '%s' is not a flow (Sequence, Parallel)",
                                  f.kind ? f.kind : "");
    if (!f.ns || !f.name)
        return hd_resources__errf(&f.es, "metadata: name and namespace are required");
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(flow, "spec");
    if (!cJSON_IsObject(spec))
        return hd_resources__errf(&f.es, "spec: required, an object");
    const cJSON *tmpl = cJSON_GetObjectItemCaseSensitive(spec, "channelTemplate");
    f.tmpl = tmpl && !cJSON_IsNull(tmpl) ? tmpl : NULL;
    check_template(&f); /* its errors are reported with the steps' or branches' */
    if (!(f.out = cJSON_CreateArray()))
        return HD_E_NOMEM;
    hd_err_t rc =
        !strcmp(f.kind, "Sequence") ? expand_sequence(&f, spec) : expand_parallel(&f, spec);
    if (rc == HD_E_OK && f.es.n)
        rc = HD_E_INVAL;
    if (rc != HD_E_OK) {
        cJSON_Delete(f.out);
        if (rc == HD_E_NOMEM)
            snprintf(err, cap, "out of memory");
        return rc;
    }
    *children = f.out;
    return HD_E_OK;
}

bool hd_flows_entry_channel(const char *kind, const char *name, char *buf, size_t cap)
{
    int n;
    if (kind && !strcmp(kind, "Sequence"))
        n = snprintf(buf, cap, "%s-kn-sequence-0", name);
    else if (kind && !strcmp(kind, "Parallel"))
        n = snprintf(buf, cap, "%s-kn-parallel", name);
    else
        return false;
    return n >= 0 && (size_t)n < cap;
}

bool hd_flows_owner(const cJSON *obj, const char **kind, const char **name)
{
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
    const cJSON *refs = cJSON_GetObjectItemCaseSensitive(md, "ownerReferences");
    const cJSON *r;
    cJSON_ArrayForEach(r, refs)
    {
        const char *k = jstr(r, "kind"), *n = jstr(r, "name");
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "controller")) || !k || !n)
            continue;
        if (strcmp(k, "Sequence") && strcmp(k, "Parallel"))
            continue;
        if (kind)
            *kind = k;
        if (name)
            *name = n;
        return true;
    }
    return false;
}
