/*
 * cmd_resources.c — `herald apply|delete`: resources from manifests through heraldd's admin API,
 * and their deletion by kind and name or by the manifests that made them (delete -f).
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin_internal.h"
#include "cli.h"
#include "manifest_ids.h"
#include "util_io.h"

static const char *const USAGE_APPLY =
    "usage: herald apply -f FILE|FOLDER|- [--admin URL]\n"
    "\n"
    "Creates or updates resources from Knative-style manifests: YAML (several documents\n"
    "separated by ---) or JSON (an object, an array, or a List). The whole file is checked\n"
    "first; if any document is invalid nothing is applied and the error names the document\n"
    "and the field (with the position inside a CESQL expression). A folder applies each of\n"
    "its .yaml, .yml and .json files in name order, each on its own.\n"
    "Prints one line per resource: its kind, namespace/name, generation and readiness.\n";
static const char *const USAGE_DELETE =
    "usage: herald delete KIND NAME [-n NAMESPACE] [--admin URL]\n"
    "       herald delete -f FILE|- [--admin URL]\n"
    "\n"
    "Deletes one resource, or every object a manifest file names (YAML documents or JSON, as\n"
    "`herald apply -f` reads them; by apiVersion, kind, metadata.namespace, default\n"
    "'default', and metadata.name), in file order; an object that is not there is reported\n"
    "and the others are still deleted (exit code 1). Deleting a trigger forgets its cursor\n"
    "and dead letters; deleting a broker deletes its events and unbinds its triggers (they\n"
    "wait for a broker again).\n";

/* ---- apply ----------------------------------------------------------------------------------- */

static void print_applied(const cJSON *obj, const char *verb)
{
    const char *kind = cli__jstr(obj, "kind");
    const cJSON *md = cli__jget(obj, "metadata", NULL);
    const cJSON *rc = cli__ready_cond(obj);
    const char *st = cli__jstr(rc, "status");
    bool ready = st && !strcmp(st, "True");
    printf("%s %s/%s %s", kind ? kind : "?",
           cli__jstr(md, "namespace") ? cli__jstr(md, "namespace") : "?",
           cli__jstr(md, "name") ? cli__jstr(md, "name") : "?", verb);
    if (cJSON_IsNumber(cli__jget(md, "generation", NULL)))
        printf(" (generation %.0f)", cli__jnum(md, "generation"));
    if (!rc)
        printf("\n");
    else if (ready)
        printf(": Ready\n");
    else
        printf(": not ready: %s: %s\n",
               cli__jstr(rc, "reason") ? cli__jstr(rc, "reason") : "Unknown",
               cli__jstr(rc, "message") ? cli__jstr(rc, "message") : "");
}

/* Applies one file (all of its documents or none). `label` prefixes errors (NULL: none). */
static int apply_file(const cli_opts_t *o, const char *path, const char *label)
{
    char *text = NULL, why[256];
    size_t len = 0;
    if (cli_read_file(path, CLI_MAX_INPUT, &text, &len, why, sizeof why))
        return cli_error(CLI_INVALID, "%s", why);
    cli_resp_t r;
    int rc = cli__http(o, "POST", "/apply", text, len, "application/yaml", &r);
    free(text);
    if (rc)
        return rc;
    cJSON *res = r.body.data ? cJSON_Parse(r.body.data) : NULL;
    if (r.status != 200) {
        const char *e = cli__jstr(res, "error");
        if (label)
            cli_error(CLI_INVALID, "%s: %s", label, e ? e : "the daemon refused the file");
        else if (e)
            cli_error(CLI_INVALID, "%s", e);
        else
            cli__answer_error(&r);
        cJSON_Delete(res);
        free(r.body.data);
        return CLI_INVALID;
    }
    free(r.body.data);
    if (!res)
        return cli_error(CLI_INVALID, "heraldd answered /apply with a body that is not JSON");
    const cJSON *it;
    cJSON_ArrayForEach(it, cli__jget(res, "items", NULL)) print_applied(it, "applied");
    cJSON_Delete(res);
    return CLI_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Applies every *.yaml, *.yml and *.json of a folder in name order, each file on its own (a bad
 * file is reported and the others are still applied). */
static int apply_dir(const cli_opts_t *o)
{
    DIR *d = opendir(o->file);
    if (!d)
        return cli_error(CLI_INVALID, "cannot read folder %s", o->file);
    char *names[1024];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < sizeof names / sizeof names[0]) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || !((l > 5 && !strcmp(de->d_name + l - 5, ".yaml")) ||
                                      (l > 4 && !strcmp(de->d_name + l - 4, ".yml")) ||
                                      (l > 5 && !strcmp(de->d_name + l - 5, ".json"))))
            continue;
        names[n] = malloc(strlen(o->file) + l + 2);
        if (!names[n])
            break;
        sprintf(names[n], "%s%s%s", o->file, o->file[strlen(o->file) - 1] == '/' ? "" : "/",
                de->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof names[0], name_cmp);
    int worst = CLI_OK;
    for (size_t i = 0; i < n; i++) {
        int rc = worst == CLI_UNREACHABLE ? CLI_UNREACHABLE : apply_file(o, names[i], names[i]);
        if (rc > worst)
            worst = rc;
        free(names[i]);
    }
    if (n == 0)
        return cli_error(CLI_INVALID, "no .yaml, .yml or .json files in %s", o->file);
    return worst;
}

int cli__cmd_apply(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli__parse_opts(argc, argv, USAGE_APPLY, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(USAGE_APPLY, stdout);
        return CLI_OK;
    }
    if (!o.file || o.npos) {
        fprintf(stderr, "error: apply takes -f FILE (or -f - for stdin)\n%s", USAGE_APPLY);
        return CLI_USAGE;
    }
    struct stat st;
    if (strcmp(o.file, "-") && !stat(o.file, &st) && S_ISDIR(st.st_mode))
        return apply_dir(&o);
    return apply_file(&o, o.file, NULL);
}

/* ---- delete -------------------------------------------------------------------------------- */

/* The admin path of one object of a manifest: /apis/{group}/{version}/namespaces/{ns}/{plural}/
 * {name} when apiVersion has a group, else the lenient /v1/resources/{kind}/{ns}/{name}. */
static bool object_path(const cli_manifest_id_t *id, const char *ns, char *path, size_t cap)
{
    const char *slash = strchr(id->api_version, '/');
    if (!slash) {
        snprintf(path, cap, "/v1/resources/%s/%s/%s", id->kind, ns, id->name);
        return true;
    }
    char plural[80];
    size_t kl = strlen(id->kind);
    if (kl + 3 > sizeof plural)
        return false;
    cli__lower(id->kind, plural, sizeof plural);
    if (kl > 1 && plural[kl - 1] == 'y')
        strcpy(plural + kl - 1, "ies");
    else
        strcpy(plural + kl, "s");
    for (const char *p = id->api_version; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '/'))
            return false;
    snprintf(path, cap, "/apis/%s/namespaces/%s/%s/%s", id->api_version, ns, plural, id->name);
    return true;
}

static int delete_file(const cli_opts_t *o)
{
    char *text = NULL, why[256];
    size_t len = 0;
    if (cli_read_file(o->file, CLI_MAX_INPUT, &text, &len, why, sizeof why))
        return cli_error(CLI_INVALID, "%s", why);
    cli_manifest_ids_t ids;
    int parsed = cli_manifest_ids(text, len, &ids, why, sizeof why);
    free(text);
    if (parsed)
        return cli_error(CLI_INVALID, "%s: %s", o->file, why);
    int worst = CLI_OK;
    for (size_t i = 0; i < ids.n && worst != CLI_UNREACHABLE; i++) {
        const cli_manifest_id_t *id = &ids.v[i];
        const char *ns = id->ns ? id->ns : "default";
        char path[800];
        if (!id->api_version || !id->kind || !id->name || !cli__kind_safe(id->kind) ||
            !cli__path_safe(ns) || !cli__path_safe(id->name) ||
            !object_path(id, ns, path, sizeof path)) {
            cli_error(CLI_INVALID,
                      "%s: object %zu has no valid apiVersion, kind and "
                      "metadata.name",
                      o->file, i + 1);
            worst = CLI_INVALID;
            continue;
        }
        cJSON *res = NULL;
        int rc = cli__call_json(o, "DELETE", path, NULL, 0, NULL, &res);
        if (rc == CLI_OK)
            printf("%s %s/%s deleted\n", id->kind, ns, id->name);
        cJSON_Delete(res);
        if (rc > worst)
            worst = rc;
    }
    cli_manifest_ids_free(&ids);
    return worst;
}

int cli__cmd_delete(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli__parse_opts(argc, argv, USAGE_DELETE, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(USAGE_DELETE, stdout);
        return CLI_OK;
    }
    if (o.file && !o.npos && !o.ns)
        return delete_file(&o);
    if (o.npos != 2 || o.file) {
        fprintf(stderr, "error: delete takes KIND NAME, or -f FILE\n%s", USAGE_DELETE);
        return CLI_USAGE;
    }
    const char *ns = o.ns ? o.ns : "default";
    if (!cli__kind_safe(o.pos[0]))
        return cli_error(CLI_USAGE, "'%s' is not a kind (brokers, triggers, ...)", o.pos[0]);
    if (!cli__path_safe(ns) || !cli__path_safe(o.pos[1]))
        return cli_error(CLI_INVALID, "names are lower-case letters, digits, '-' and '.'");
    char path[700];
    snprintf(path, sizeof path, "/v1/resources/%s/%s/%s", o.pos[0], ns, o.pos[1]);
    cJSON *res = NULL;
    if ((rc = cli__call_json(&o, "DELETE", path, NULL, 0, NULL, &res)))
        return rc;
    const cJSON *md = cli__jget(res, "metadata", NULL);
    printf("%s %s/%s deleted\n", cli__jstr(res, "kind") ? cli__jstr(res, "kind") : o.pos[0],
           cli__jstr(md, "namespace") ? cli__jstr(md, "namespace") : ns,
           cli__jstr(md, "name") ? cli__jstr(md, "name") : o.pos[1]);
    cJSON_Delete(res);
    return CLI_OK;
}
