/*
 * admin_resources.c — the resource endpoints of the admin API (hd_admin.h): the Kubernetes URL
 * layout (/apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}]: list, get, PUT, DELETE),
 * POST /apply, and /v1/resources/{kind}[/{ns}[/{name}]] with a lenient kind for the CLI. The
 * registry (hd_resources.h) does the work; this file maps URLs and answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <http_parser.h>

#include "admin_internal.h"
#include "hd_manifest.h"

typedef struct {
    hd_http_req_t *req;
    bool single; /* answer with the one object, not a List */
} apply_ctx_t;

static void apply_done(void *arg, hd_err_t status, cJSON *result, const char *error)
{
    apply_ctx_t *c = arg;
    if (status) {
        hd_admin__respond_err(c->req, status, error);
    } else if (c->single) {
        hd_admin__respond_json(c->req, 200, cJSON_GetArrayItem(result, 0));
    } else {
        cJSON *list = cJSON_CreateObject();
        cJSON_AddStringToObject(list, "apiVersion", "v1");
        cJSON_AddStringToObject(list, "kind", "List");
        cJSON_AddItemToObject(list, "items", cJSON_Duplicate(result, 1));
        hd_admin__respond_json(c->req, 200, list);
        cJSON_Delete(list);
    }
    hd_free(c);
}

void hd_admin__apply(hd_admin_ctx_t *a, hd_http_req_t *req, const char *text, size_t len,
                     bool single)
{
    apply_ctx_t *c = hd_calloc(1, sizeof *c);
    if (!c) {
        hd_admin__respond_err(req, HD_E_NOMEM, NULL);
        return;
    }
    c->req = req;
    c->single = single;
    hd_resources_apply(a->res, text, len, apply_done, c);
}

static void delete_done(void *arg, hd_err_t status, cJSON *result, const char *error)
{
    apply_ctx_t *c = arg;
    if (status)
        hd_admin__respond_err(c->req, status, error);
    else
        hd_admin__respond_json(c->req, 200, cJSON_GetArrayItem(result, 0));
    hd_free(c);
}

static void do_delete(hd_admin_ctx_t *a, hd_http_req_t *req, const char *kind, const char *ns,
                      const char *name)
{
    apply_ctx_t *c = hd_calloc(1, sizeof *c);
    if (!c) {
        hd_admin__respond_err(req, HD_E_NOMEM, NULL);
        return;
    }
    c->req = req;
    hd_resources_delete(a->res, kind, ns, name, delete_done, c);
}

static void do_list(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_kind_info_t *ki, const char *ns)
{
    cJSON *items = hd_resources_list_json(a->res, ki->plural, ns);
    if (!items) {
        hd_admin__respond_err(req, HD_E_NOMEM, NULL);
        return;
    }
    cJSON *list = cJSON_CreateObject();
    char api[128], kind[96];
    snprintf(api, sizeof api, "%s/%s", ki->group, ki->version);
    snprintf(kind, sizeof kind, "%sList", ki->kind);
    cJSON_AddStringToObject(list, "apiVersion", api);
    cJSON_AddStringToObject(list, "kind", kind);
    cJSON_AddItemToObject(list, "items", items);
    hd_admin__respond_json(req, 200, list);
    cJSON_Delete(list);
}

/* `herald get channels` lists every channel whatever its kind (Channel, InMemoryChannel), as the
 * issue of flows asks: a Sequence's InMemoryChannels show there. The Kubernetes-style path
 * .../channels stays exact (Channel objects only), as a cluster's API server has it. */
static void list_channels(hd_admin_ctx_t *a, hd_http_req_t *req, const char *ns)
{
    cJSON *items = hd_resources_list_json(a->res, "channels", ns);
    cJSON *imcs = hd_resources_list_json(a->res, "inmemorychannels", ns);
    cJSON *list = cJSON_CreateObject();
    if (!items || !imcs || !list) {
        cJSON_Delete(items);
        cJSON_Delete(imcs);
        cJSON_Delete(list);
        hd_admin__respond_err(req, HD_E_NOMEM, NULL);
        return;
    }
    while (cJSON_GetArraySize(imcs) > 0)
        cJSON_AddItemToArray(items, cJSON_DetachItemFromArray(imcs, 0));
    cJSON_Delete(imcs);
    cJSON_AddStringToObject(list, "apiVersion", "v1");
    cJSON_AddStringToObject(list, "kind", "List");
    cJSON_AddItemToObject(list, "items", items);
    hd_admin__respond_json(req, 200, list);
    cJSON_Delete(list);
}

static void do_get(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_kind_info_t *ki, const char *ns,
                   const char *name)
{
    cJSON *o = hd_resources_get_json(a->res, ki->plural, ns, name);
    if (!o) {
        hd_admin__respond_not_found(req, ki->kind, ns, name);
        return;
    }
    hd_admin__respond_json(req, 200, o);
    cJSON_Delete(o);
}

/* PUT of one object at its URL: fills in kind/apiVersion/name/namespace when absent and refuses
 * a body that names another object. */
static void do_put(hd_admin_ctx_t *a, hd_http_req_t *req, const hd_kind_info_t *ki, const char *ns,
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
        hd_admin__respond_err(req, HD_E_NOMEM, NULL);
        return;
    }
    hd_admin__apply(a, req, text, strlen(text), true);
    free(text);
}

/* /apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}] and /apis/{group}/{version}/{plural} */
void hd_admin__route_apis(hd_admin_ctx_t *a, hd_http_req_t *req, hd_path_seg_t *s, size_t n)
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
            hd_admin__method_not_allowed(req, "GET");
            return;
        }
        do_list(a, req, ki, namespaced ? ns : NULL);
        return;
    }
    switch (req->method) {
    case HTTP_GET:
        do_get(a, req, ki, ns, name);
        break;
    case HTTP_PUT:
        do_put(a, req, ki, ns, name);
        break;
    case HTTP_DELETE:
        do_delete(a, req, ki->plural, ns, name);
        break;
    default:
        hd_admin__method_not_allowed(req, "GET, PUT, DELETE");
    }
}

/* /v1/resources/{kind}[/{ns}[/{name}]] — the same with a lenient kind (plural, singular, Kind,
 * short name; case-insensitive), for the CLI. */
void hd_admin__route_resources(hd_admin_ctx_t *a, hd_http_req_t *req, hd_path_seg_t *s, size_t n)
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
            hd_admin__method_not_allowed(req, "GET");
            return;
        }
        if (!strcmp(ki->kind, "Channel"))
            list_channels(a, req, n == 4 ? ns : NULL);
        else
            do_list(a, req, ki, n == 4 ? ns : NULL);
        return;
    }
    if (req->method == HTTP_GET)
        do_get(a, req, ki, ns, name);
    else if (req->method == HTTP_DELETE)
        do_delete(a, req, ki->plural, ns, name);
    else
        hd_admin__method_not_allowed(req, "GET, DELETE");
}
