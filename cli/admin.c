/*
 * admin.c — the broker commands of `herald` (cli.h): apply, get, describe, delete, send, tail,
 * dlq and replay. They talk to heraldd's admin API over HTTP (libcurl) and print tables, YAML or
 * JSON. Exit codes per cli.h: 3 when the daemon cannot be reached (the message names the URL).
 */
#include <curl/curl.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "cli.h"
#include "util_io.h"

#define DEFAULT_ADMIN "http://127.0.0.1:8081"
#define MAX_RESPONSE (64u * 1024u * 1024u)
#define MAX_EXT 64

/* ---- options shared by every command ------------------------------------------------------- */

typedef struct {
    const char *admin;  /* base URL, no trailing slash */
    const char *ns;     /* -n, NULL when not given */
    const char *output; /* -o: NULL (table), json, yaml */
    const char *file;   /* -f */
    const char *pos[4]; /* positional arguments after the command */
    int npos;
    /* send */
    const char *type, *source, *id, *data, *ct, *subject;
    const char *ext[MAX_EXT];
    int next;
    /* dlq, replay, tail */
    const char *seq, *from;
    long count;
    bool help;
} opts_t;

static const char *const USAGE_APPLY =
    "usage: herald apply -f FILE|FOLDER|- [--admin URL]\n"
    "\n"
    "Creates or updates resources from Knative-style manifests: YAML (several documents\n"
    "separated by ---) or JSON (an object, an array, or a List). The whole file is checked\n"
    "first; if any document is invalid nothing is applied and the error names the document\n"
    "and the field (with the position inside a CESQL expression). A folder applies each of\n"
    "its .yaml, .yml and .json files in name order, each on its own.\n"
    "Prints one line per resource: its kind, namespace/name, generation and readiness.\n";
static const char *const USAGE_GET =
    "usage: herald get KIND [NAME] [-n NAMESPACE] [-o json|yaml] [--admin URL]\n"
    "\n"
    "Lists resources of a kind (brokers, triggers, pingsources, ...; plural, singular or\n"
    "short name, any case), in every namespace unless -n is given, or shows one by NAME\n"
    "(namespace 'default' unless -n). The table shows NAME, READY, REASON and the URL of a\n"
    "broker, or the BROKER and SUBSCRIBER of a trigger. -o prints the full objects.\n";
static const char *const USAGE_DESCRIBE =
    "usage: herald describe KIND NAME [-n NAMESPACE] [--admin URL]\n"
    "\n"
    "Shows a resource's status with what to do about it. For a trigger: its broker,\n"
    "subscriber, filter, effective delivery, cursor and backlog, in-flight deliveries,\n"
    "retries, dead letters and the last error. For a broker: its address, the events it\n"
    "holds and the backlog of each trigger.\n";
static const char *const USAGE_DELETE =
    "usage: herald delete KIND NAME [-n NAMESPACE] [--admin URL]\n"
    "\n"
    "Deletes one resource. Deleting a trigger forgets its cursor and dead letters; deleting a\n"
    "broker deletes its events and unbinds its triggers (they wait for a broker again).\n";
static const char *const USAGE_SEND =
    "usage: herald send NS/BROKER --type T --source S [--id I] [--data D] [--subject S]\n"
    "                   [--content-type CT] [--ext NAME=VALUE]... [--admin URL]\n"
    "       herald send NS/BROKER -f event.json|-\n"
    "\n"
    "Stores one event in a broker through the admin API (the same checks as the ingress).\n"
    "--id defaults to a random UUID; --data that parses as JSON is sent as JSON\n"
    "(application/json), anything else as text/plain unless --content-type says otherwise.\n"
    "-f reads an event in the CloudEvents JSON format. Prints the id of the accepted event.\n";
static const char *const USAGE_TAIL =
    "usage: herald tail NS/BROKER [--from SEQ] [--count N] [--admin URL]\n"
    "\n"
    "Prints the broker's events as they are stored, one JSON-format event per line, until\n"
    "interrupted (or after N events with --count). --from SEQ starts at an older event.\n"
    "A reader too slow to keep up loses events (counted in herald_tail_dropped_total).\n";
static const char *const USAGE_DLQ =
    "usage: herald dlq list TRIGGER [-n NAMESPACE] [-o json|yaml] [--admin URL]\n"
    "       herald dlq replay TRIGGER [--seq N] [-n NAMESPACE] [--admin URL]\n"
    "\n"
    "Dead letters are events a trigger gave up on when it has no dead-letter sink. 'list'\n"
    "shows them with the last error; 'replay' sends them (or only seq N) to the subscriber\n"
    "again.\n";
static const char *const USAGE_REPLAY =
    "usage: herald replay TRIGGER --from SEQ|TIME [-n NAMESPACE] [--admin URL]\n"
    "\n"
    "Delivers a trigger's events again from a sequence number or an RFC 3339 time\n"
    "(2026-01-02T15:04:05Z) on, as long as the broker still holds them.\n";

/* Parses the options after argv[0] (the command). Returns CLI_OK or CLI_USAGE. */
static int parse_opts(int argc, char **argv, const char *usage, opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->admin = getenv("HERALD_ADMIN");
    if (!o->admin || !*o->admin)
        o->admin = DEFAULT_ADMIN;
    o->count = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            o->help = true;
            continue;
        }
        if (!strcmp(a, "--admin"))
            slot = &o->admin;
        else if (!strcmp(a, "-n") || !strcmp(a, "--namespace"))
            slot = &o->ns;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            slot = &o->output;
        else if (!strcmp(a, "-f") || !strcmp(a, "--filename"))
            slot = &o->file;
        else if (!strcmp(a, "--type"))
            slot = &o->type;
        else if (!strcmp(a, "--source"))
            slot = &o->source;
        else if (!strcmp(a, "--id"))
            slot = &o->id;
        else if (!strcmp(a, "--data"))
            slot = &o->data;
        else if (!strcmp(a, "--content-type"))
            slot = &o->ct;
        else if (!strcmp(a, "--subject"))
            slot = &o->subject;
        else if (!strcmp(a, "--seq"))
            slot = &o->seq;
        else if (!strcmp(a, "--from"))
            slot = &o->from;
        if (slot || !strcmp(a, "--ext") || !strcmp(a, "--count")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "error: %s needs a value\n%s", a, usage);
                return CLI_USAGE;
            }
            const char *v = argv[++i];
            if (slot) {
                *slot = v;
            } else if (!strcmp(a, "--ext")) {
                if (o->next == MAX_EXT || !strchr(v, '=') || v[0] == '=') {
                    fprintf(stderr, "error: --ext takes NAME=VALUE (at most %d)\n%s", MAX_EXT,
                            usage);
                    return CLI_USAGE;
                }
                o->ext[o->next++] = v;
            } else {
                char *end;
                o->count = strtol(v, &end, 10);
                if (*end || o->count < 1) {
                    fprintf(stderr, "error: --count takes a positive number\n%s", usage);
                    return CLI_USAGE;
                }
            }
            continue;
        }
        if (a[0] == '-' && a[1]) {
            fprintf(stderr, "error: unknown option '%s'\n%s", a, usage);
            return CLI_USAGE;
        }
        if (o->npos == 4) {
            fprintf(stderr, "error: too many arguments\n%s", usage);
            return CLI_USAGE;
        }
        o->pos[o->npos++] = a;
    }
    if (o->output && strcmp(o->output, "json") && strcmp(o->output, "yaml")) {
        fprintf(stderr, "error: -o takes json or yaml\n%s", usage);
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* ---- HTTP ------------------------------------------------------------------------------------ */

typedef struct {
    char *data;
    size_t len, cap;
    bool too_big;
} buf_t;

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    buf_t *b = arg;
    size_t len = size * n;
    if (b->len + len + 1 > MAX_RESPONSE) {
        b->too_big = true;
        return 0;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d)
            return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

typedef struct {
    long status;
    buf_t body;
} resp_t;

/* Sends one request to the admin API. Returns CLI_OK, or CLI_UNREACHABLE with a message. */
static int http(const opts_t *o, const char *method, const char *path, const char *body,
                size_t body_len, const char *content_type, resp_t *r)
{
    memset(r, 0, sizeof *r);
    size_t ul = strlen(o->admin) + strlen(path) + 1;
    char *url = malloc(ul);
    if (!url)
        return cli_error(CLI_INVALID, "out of memory");
    snprintf(url, ul, "%s%s", o->admin, path);
    CURL *c = curl_easy_init();
    if (!c) {
        free(url);
        return cli_error(CLI_INVALID, "cannot initialise libcurl");
    }
    struct curl_slist *h = NULL;
    char ct[200];
    if (content_type) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        h = curl_slist_append(h, ct);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else if (!strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    }
    CURLcode cc = curl_easy_perform(c);
    int rc = CLI_OK;
    if (cc != CURLE_OK) {
        if (r->body.too_big)
            rc = cli_error(CLI_INVALID, "the answer from %s is larger than %u bytes", o->admin,
                           MAX_RESPONSE);
        else
            rc = cli_error(CLI_UNREACHABLE,
                           "cannot reach heraldd at %s: %s (start it, or set "
                           "--admin / HERALD_ADMIN)",
                           o->admin, curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(url);
    if (rc)
        free(r->body.data);
    return rc;
}

/* Prints the error of a non-2xx answer ({"error": ...} or the raw body) and returns CLI_INVALID. */
static int answer_error(resp_t *r)
{
    cJSON *j = r->body.data ? cJSON_Parse(r->body.data) : NULL;
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (cJSON_IsString(e))
        cli_error(CLI_INVALID, "%s", e->valuestring);
    else
        cli_error(CLI_INVALID, "heraldd answered %ld%s%.*s", r->status, r->body.len ? ": " : "",
                  (int)(r->body.len > 300 ? 300 : r->body.len), r->body.data ? r->body.data : "");
    cJSON_Delete(j);
    return CLI_INVALID;
}

/* Runs a request and parses the JSON answer. On success *out is owned (cJSON_Delete). */
static int call_json(const opts_t *o, const char *method, const char *path, const char *body,
                     size_t len, const char *ct, cJSON **out)
{
    resp_t r;
    int rc = http(o, method, path, body, len, ct, &r);
    if (rc)
        return rc;
    if (r.status < 200 || r.status > 299) {
        rc = answer_error(&r);
        free(r.body.data);
        return rc;
    }
    *out = r.body.data ? cJSON_Parse(r.body.data) : NULL;
    free(r.body.data);
    if (!*out)
        return cli_error(CLI_INVALID, "heraldd answered %ld with a body that is not JSON",
                         r.status);
    return CLI_OK;
}

/* ---- output helpers ---------------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *jget(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

static double jnum(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const cJSON *ready_cond(const cJSON *obj)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, jget(obj, "status", "conditions"))
    {
        const char *t = jstr(c, "type");
        if (t && !strcmp(t, "Ready"))
            return c;
    }
    return NULL;
}

/* YAML scalars that must be quoted to stay strings. */
static bool yaml_needs_quotes(const char *s)
{
    static const char *const special[] = {"true",  "false", "True", "False", "TRUE",
                                          "FALSE", "null",  "Null", "NULL",  "~",
                                          "yes",   "no",    "on",   "off",   NULL};
    if (!*s)
        return true;
    for (const char *const *p = special; *p; p++)
        if (!strcmp(s, *p))
            return true;
    if (strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]))
        return true;
    if (isdigit((unsigned char)s[0]) ||
        ((s[0] == '-' || s[0] == '.') && isdigit((unsigned char)s[1])))
        return true;
    size_t n = strlen(s);
    if (s[n - 1] == ' ' || s[n - 1] == ':')
        return true;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < ' ' || (p[0] == ':' && p[1] == ' ') || (p[0] == ' ' && p[1] == '#'))
            return true;
    return false;
}

static void yaml_scalar(FILE *f, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        if (!yaml_needs_quotes(v->valuestring)) {
            fputs(v->valuestring, f);
            return;
        }
        /* a JSON string is a valid YAML double-quoted scalar */
        char *s = cJSON_PrintUnformatted(v);
        fputs(s ? s : "\"\"", f);
        free(s);
    } else if (cJSON_IsNumber(v)) {
        char *s = cJSON_PrintUnformatted(v);
        fputs(s ? s : "0", f);
        free(s);
    } else if (cJSON_IsTrue(v)) {
        fputs("true", f);
    } else if (cJSON_IsFalse(v)) {
        fputs("false", f);
    } else {
        fputs("null", f);
    }
}

static void yaml_node(FILE *f, const cJSON *v, int indent, bool in_seq);

static void yaml_key(FILE *f, const char *k)
{
    cJSON tmp = {0};
    tmp.type = cJSON_String;
    tmp.valuestring = (char *)k;
    yaml_scalar(f, &tmp);
}

/* Writes an object's members or an array's items starting on the current line (first item
 * right after a "- " when in_seq). */
static void yaml_node(FILE *f, const cJSON *v, int indent, bool in_seq)
{
    bool first = true;
    if (cJSON_IsObject(v)) {
        if (!v->child) {
            fputs("{}\n", f);
            return;
        }
        for (const cJSON *c = v->child; c; c = c->next) {
            if (!(first && in_seq))
                fprintf(f, "%*s", indent, "");
            first = false;
            yaml_key(f, c->string);
            fputc(':', f);
            if ((cJSON_IsObject(c) && c->child) || (cJSON_IsArray(c) && c->child)) {
                fputc('\n', f);
                yaml_node(f, c, cJSON_IsArray(c) ? indent : indent + 2, false);
            } else if (cJSON_IsObject(c)) {
                fputs(" {}\n", f);
            } else if (cJSON_IsArray(c)) {
                fputs(" []\n", f);
            } else {
                fputc(' ', f);
                yaml_scalar(f, c);
                fputc('\n', f);
            }
        }
    } else if (cJSON_IsArray(v)) {
        if (!v->child) {
            fputs("[]\n", f);
            return;
        }
        for (const cJSON *c = v->child; c; c = c->next) {
            if (!(first && in_seq))
                fprintf(f, "%*s", indent, "");
            first = false;
            fputs("- ", f);
            if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && c->child) {
                yaml_node(f, c, indent + 2, true);
            } else {
                yaml_scalar(f, c);
                fputc('\n', f);
            }
        }
    } else {
        yaml_scalar(f, v);
        fputc('\n', f);
    }
}

static void print_json(const cJSON *v)
{
    char *s = cJSON_Print(v);
    if (s) {
        puts(s);
        free(s);
    }
}

/* Prints objects as YAML documents (several separated by ---) or one JSON value. */
static void print_objects(const cJSON *items, bool as_list, const char *format)
{
    if (!strcmp(format, "json")) {
        if (as_list) {
            cJSON *l = cJSON_CreateObject();
            cJSON_AddStringToObject(l, "apiVersion", "v1");
            cJSON_AddStringToObject(l, "kind", "List");
            cJSON_AddItemToObject(l, "items", cJSON_Duplicate(items, 1));
            print_json(l);
            cJSON_Delete(l);
        } else {
            print_json(cJSON_GetArrayItem(items, 0));
        }
        return;
    }
    bool first = true;
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        if (!first)
            fputs("---\n", stdout);
        first = false;
        yaml_node(stdout, it, 0, false);
    }
}

/* A table: rows of cells, columns padded to their widest cell (3 spaces apart). */
#define MAX_COLS 8
typedef struct {
    int ncols;
    char **cells; /* row-major, owned */
    size_t nrows, cap;
} table_t;

static void table_row(table_t *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * (size_t)t->ncols * sizeof *c);
        if (!c)
            return;
        t->cells = c;
        t->cap = cap;
    }
    for (int i = 0; i < t->ncols; i++)
        t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = strdup(cells[i] ? cells[i] : "");
    t->nrows++;
}

static void table_print(table_t *t)
{
    size_t w[MAX_COLS] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            size_t n = s ? strlen(s) : 0;
            if (n > w[c])
                w[c] = n;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
            if (c + 1 == t->ncols)
                printf("%s\n", s ? s : "");
            else
                printf("%-*s   ", (int)w[c], s ? s : "");
        }
    }
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* Lower-case copy of a Kind for messages. */
static void lower(const char *s, char *out, size_t cap)
{
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
}

/* Checks a name for use in a URL path: DNS-1123 characters only. */
static bool path_safe(const char *s)
{
    if (!*s || strlen(s) > 253)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-' || *s == '.'))
            return false;
    return true;
}

static bool kind_safe(const char *s)
{
    if (!*s || strlen(s) > 60)
        return false;
    for (; *s; s++)
        if (!isalpha((unsigned char)*s))
            return false;
    return true;
}

/* ---- apply ----------------------------------------------------------------------------------- */

static void print_applied(const cJSON *obj, const char *verb)
{
    const char *kind = jstr(obj, "kind");
    const cJSON *md = jget(obj, "metadata", NULL);
    const cJSON *rc = ready_cond(obj);
    const char *st = jstr(rc, "status");
    bool ready = st && !strcmp(st, "True");
    printf("%s %s/%s %s", kind ? kind : "?", jstr(md, "namespace") ? jstr(md, "namespace") : "?",
           jstr(md, "name") ? jstr(md, "name") : "?", verb);
    if (cJSON_IsNumber(jget(md, "generation", NULL)))
        printf(" (generation %.0f)", jnum(md, "generation"));
    if (!rc)
        printf("\n");
    else if (ready)
        printf(": Ready\n");
    else
        printf(": not ready: %s: %s\n", jstr(rc, "reason") ? jstr(rc, "reason") : "Unknown",
               jstr(rc, "message") ? jstr(rc, "message") : "");
}

/* Applies one file (all of its documents or none). `label` prefixes errors (NULL: none). */
static int apply_file(const opts_t *o, const char *path, const char *label)
{
    char *text = NULL, why[256];
    size_t len = 0;
    if (cli_read_file(path, CLI_MAX_INPUT, &text, &len, why, sizeof why))
        return cli_error(CLI_INVALID, "%s", why);
    resp_t r;
    int rc = http(o, "POST", "/apply", text, len, "application/yaml", &r);
    free(text);
    if (rc)
        return rc;
    cJSON *res = r.body.data ? cJSON_Parse(r.body.data) : NULL;
    if (r.status != 200) {
        const char *e = jstr(res, "error");
        if (label)
            cli_error(CLI_INVALID, "%s: %s", label, e ? e : "the daemon refused the file");
        else if (e)
            cli_error(CLI_INVALID, "%s", e);
        else
            answer_error(&r);
        cJSON_Delete(res);
        free(r.body.data);
        return CLI_INVALID;
    }
    free(r.body.data);
    if (!res)
        return cli_error(CLI_INVALID, "heraldd answered /apply with a body that is not JSON");
    const cJSON *it;
    cJSON_ArrayForEach(it, jget(res, "items", NULL)) print_applied(it, "applied");
    cJSON_Delete(res);
    return CLI_OK;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Applies every *.yaml, *.yml and *.json of a folder in name order, each file on its own (a bad
 * file is reported and the others are still applied). */
static int apply_dir(const opts_t *o)
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

static int cmd_apply(int argc, char **argv)
{
    opts_t o;
    int rc = parse_opts(argc, argv, USAGE_APPLY, &o);
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

/* ---- get ----------------------------------------------------------------------------------- */

static void get_table(const cJSON *items, bool all_ns)
{
    const cJSON *first = cJSON_GetArrayItem(items, 0);
    const char *kind = jstr(first, "kind");
    bool broker = kind && !strcmp(kind, "Broker"), trigger = kind && !strcmp(kind, "Trigger");
    table_t t = {0};
    const char *hdr[MAX_COLS];
    int n = 0;
    if (all_ns)
        hdr[n++] = "NAMESPACE";
    hdr[n++] = "NAME";
    if (trigger) {
        hdr[n++] = "BROKER";
        hdr[n++] = "SUBSCRIBER";
    }
    hdr[n++] = "READY";
    hdr[n++] = "REASON";
    if (broker)
        hdr[n++] = "URL";
    t.ncols = n;
    table_row(&t, hdr);
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        const char *row[MAX_COLS];
        const cJSON *md = jget(it, "metadata", NULL);
        const cJSON *rc = ready_cond(it);
        n = 0;
        if (all_ns)
            row[n++] = jstr(md, "namespace");
        row[n++] = jstr(md, "name");
        if (trigger) {
            row[n++] = jstr(jget(it, "spec", NULL), "broker");
            const char *sub = jstr(jget(it, "status", NULL), "subscriberUri");
            if (!sub)
                sub = jstr(jget(jget(it, "spec", NULL), "subscriber", NULL), "uri");
            row[n++] = sub;
        }
        row[n++] = rc ? jstr(rc, "status") : "Unknown";
        row[n++] = rc ? jstr(rc, "reason") : "";
        if (broker)
            row[n++] = jstr(jget(it, "status", "address"), "url");
        table_row(&t, row);
    }
    table_print(&t);
}

static int cmd_get(int argc, char **argv)
{
    opts_t o;
    int rc = parse_opts(argc, argv, USAGE_GET, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(USAGE_GET, stdout);
        return CLI_OK;
    }
    if (o.npos < 1 || o.npos > 2) {
        fprintf(stderr, "error: get takes KIND [NAME]\n%s", USAGE_GET);
        return CLI_USAGE;
    }
    const char *kind = o.pos[0], *name = o.npos == 2 ? o.pos[1] : NULL;
    if (!kind_safe(kind))
        return cli_error(CLI_USAGE, "'%s' is not a kind (brokers, triggers, ...)", kind);
    const char *ns = o.ns ? o.ns : (name ? "default" : NULL);
    if ((ns && !path_safe(ns)) || (name && !path_safe(name)))
        return cli_error(CLI_INVALID, "names are lower-case letters, digits, '-' and '.'");
    char path[700];
    if (name)
        snprintf(path, sizeof path, "/v1/resources/%s/%s/%s", kind, ns, name);
    else if (ns)
        snprintf(path, sizeof path, "/v1/resources/%s/%s", kind, ns);
    else
        snprintf(path, sizeof path, "/v1/resources/%s", kind);
    cJSON *res = NULL;
    if ((rc = call_json(&o, "GET", path, NULL, 0, NULL, &res)))
        return rc;
    cJSON *items;
    bool single = name != NULL;
    if (single) {
        items = cJSON_CreateArray();
        cJSON_AddItemToArray(items, res);
        res = NULL;
    } else {
        items = cJSON_DetachItemFromObjectCaseSensitive(res, "items");
    }
    if (o.output) {
        print_objects(items, !single, o.output);
    } else if (cJSON_GetArraySize(items) == 0) {
        char k[64];
        lower(kind, k, sizeof k);
        if (ns)
            fprintf(stderr, "No %s found in namespace %s.\n", k, ns);
        else
            fprintf(stderr, "No %s found.\n", k);
    } else {
        get_table(items, ns == NULL);
    }
    cJSON_Delete(items);
    cJSON_Delete(res);
    return CLI_OK;
}

/* ---- describe ------------------------------------------------------------------------------ */

static void line(const char *label, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line(const char *label, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%-14s", label);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
}

static void print_ready(const cJSON *rc)
{
    if (!rc) {
        line("Ready:", "Unknown");
        return;
    }
    const char *m = jstr(rc, "message");
    line("Ready:", "%s (%s)%s%s", jstr(rc, "status") ? jstr(rc, "status") : "?",
         jstr(rc, "reason") ? jstr(rc, "reason") : "", m && *m ? " " : "", m ? m : "");
}

static void print_delivery(const cJSON *d)
{
    line("Delivery:", "retry %.0f, %s backoff %.0f ms%s, timeout %.0f ms, maxInFlight %.0f, %s",
         jnum(d, "retry"), jstr(d, "backoffPolicy") ? jstr(d, "backoffPolicy") : "?",
         jnum(d, "backoffDelayMs"), jnum(d, "backoffMaxMs") > 0 ? " (capped)" : "",
         jnum(d, "timeoutMs"), jnum(d, "maxInFlight"),
         jstr(d, "ordering") ? jstr(d, "ordering") : "unordered");
    line("Dead letters:", "%s",
         jstr(d, "deadLetterSink") ? jstr(d, "deadLetterSink") : "kept by heraldd (herald dlq)");
}

static void describe_trigger(const cJSON *o, const char *ns, const char *name)
{
    line("Name:", "%s", name);
    line("Namespace:", "%s", ns);
    line("Kind:", "Trigger");
    print_ready(jget(o, "ready", NULL));
    line("Broker:", "%s", jstr(o, "broker") ? jstr(o, "broker") : "");
    line("Subscriber:", "%s", jstr(o, "subscriberUri") ? jstr(o, "subscriberUri") : "(unresolved)");
    const cJSON *f = jget(o, "filter", NULL);
    char *fs = f && !cJSON_IsNull(f) ? cJSON_PrintUnformatted(f) : NULL;
    line("Filter:", "%s", fs ? fs : "(none: every event)");
    free(fs);
    print_delivery(jget(o, "delivery", NULL));
    const cJSON *s = jget(o, "stats", NULL);
    if (cJSON_GetObjectItemCaseSensitive(s, "cursor")) {
        line("Progress:", "cursor %.0f of %.0f, backlog %.0f, in flight %.0f, pending retries %.0f",
             jnum(s, "cursor"), jnum(s, "brokerLastSeq"), jnum(s, "backlog"), jnum(s, "inFlight"),
             jnum(s, "pendingRetries"));
        line("Counters:", "delivered %.0f, failed attempts %.0f, dead-lettered %.0f, dead %.0f",
             jnum(s, "delivered"), jnum(s, "failed"), jnum(s, "deadLettered"), jnum(s, "dead"));
        const char *le = jstr(s, "lastError");
        if (le && *le) {
            double st = jnum(s, "lastStatus");
            if (st > 0)
                line("Last error:", "HTTP %.0f: %s", st, le);
            else
                line("Last error:", "%s", le);
        } else {
            line("Last error:", "none");
        }
    } else {
        line("Progress:", "not delivering until the trigger is Ready");
    }
    double dead = jnum(s, "deadLetters");
    if (dead > 0)
        line("Dead stored:", "%.0f (herald dlq list %s -n %s)", dead, name, ns);
    else
        line("Dead stored:", "0");
}

static void describe_broker(const cJSON *o, const char *ns, const char *name)
{
    line("Name:", "%s", name);
    line("Namespace:", "%s", ns);
    line("Kind:", "Broker");
    print_ready(jget(o, "ready", NULL));
    line("Address:", "%s", jstr(o, "address") ? jstr(o, "address") : "");
    print_delivery(jget(o, "delivery", NULL));
    const cJSON *s = jget(o, "stats", NULL);
    line("Events:", "%.0f stored (seq %.0f..%.0f)", jnum(s, "events"), jnum(s, "firstSeq"),
         jnum(s, "lastSeq"));
    line("Triggers:", "%.0f (%.0f evaluated for every event, the rest indexed on type/source)",
         jnum(s, "triggers"), jnum(s, "scannedTriggers"));
    const cJSON *tr = jget(o, "triggers", NULL);
    if (cJSON_GetArraySize(tr) > 0) {
        putchar('\n');
        table_t t = {.ncols = 4};
        const char *hdr[] = {"TRIGGER", "READY", "BACKLOG", "IN-FLIGHT"};
        table_row(&t, hdr);
        const cJSON *it;
        cJSON_ArrayForEach(it, tr)
        {
            char b[32], f[32];
            snprintf(b, sizeof b, "%.0f", jnum(it, "backlog"));
            snprintf(f, sizeof f, "%.0f", jnum(it, "inFlight"));
            const char *row[] = {jstr(it, "name"),
                                 cJSON_IsTrue(jget(it, "ready", NULL)) ? "True" : "False", b, f};
            table_row(&t, row);
        }
        table_print(&t);
    }
}

static void describe_other(const cJSON *obj)
{
    const cJSON *md = jget(obj, "metadata", NULL);
    line("Name:", "%s", jstr(md, "name") ? jstr(md, "name") : "");
    line("Namespace:", "%s", jstr(md, "namespace") ? jstr(md, "namespace") : "");
    line("Kind:", "%s", jstr(obj, "kind") ? jstr(obj, "kind") : "");
    print_ready(ready_cond(obj));
    const cJSON *addr = jget(obj, "status", "address");
    if (jstr(addr, "url"))
        line("Address:", "%s", jstr(addr, "url"));
    puts("Spec:");
    const cJSON *spec = jget(obj, "spec", NULL);
    if (spec && spec->child)
        yaml_node(stdout, spec, 2, false);
}

static int cmd_describe(int argc, char **argv)
{
    opts_t o;
    int rc = parse_opts(argc, argv, USAGE_DESCRIBE, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(USAGE_DESCRIBE, stdout);
        return CLI_OK;
    }
    if (o.npos != 2) {
        fprintf(stderr, "error: describe takes KIND NAME\n%s", USAGE_DESCRIBE);
        return CLI_USAGE;
    }
    const char *kind = o.pos[0], *name = o.pos[1], *ns = o.ns ? o.ns : "default";
    if (!kind_safe(kind))
        return cli_error(CLI_USAGE, "'%s' is not a kind (brokers, triggers, ...)", kind);
    if (!path_safe(ns) || !path_safe(name))
        return cli_error(CLI_INVALID, "names are lower-case letters, digits, '-' and '.'");
    bool trigger =
        !strcasecmp(kind, "trigger") || !strcasecmp(kind, "triggers") || !strcasecmp(kind, "tr");
    bool broker =
        !strcasecmp(kind, "broker") || !strcasecmp(kind, "brokers") || !strcasecmp(kind, "bk");
    char path[700];
    if (trigger || broker)
        snprintf(path, sizeof path, "/v1/%s/%s/%s/describe", trigger ? "triggers" : "brokers", ns,
                 name);
    else
        snprintf(path, sizeof path, "/v1/resources/%s/%s/%s", kind, ns, name);
    cJSON *res = NULL;
    if ((rc = call_json(&o, "GET", path, NULL, 0, NULL, &res)))
        return rc;
    if (trigger)
        describe_trigger(res, ns, name);
    else if (broker)
        describe_broker(res, ns, name);
    else
        describe_other(res);
    cJSON_Delete(res);
    return CLI_OK;
}

/* ---- delete -------------------------------------------------------------------------------- */

static int cmd_delete(int argc, char **argv)
{
    opts_t o;
    int rc = parse_opts(argc, argv, USAGE_DELETE, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(USAGE_DELETE, stdout);
        return CLI_OK;
    }
    if (o.npos != 2) {
        fprintf(stderr, "error: delete takes KIND NAME\n%s", USAGE_DELETE);
        return CLI_USAGE;
    }
    const char *ns = o.ns ? o.ns : "default";
    if (!kind_safe(o.pos[0]))
        return cli_error(CLI_USAGE, "'%s' is not a kind (brokers, triggers, ...)", o.pos[0]);
    if (!path_safe(ns) || !path_safe(o.pos[1]))
        return cli_error(CLI_INVALID, "names are lower-case letters, digits, '-' and '.'");
    char path[700];
    snprintf(path, sizeof path, "/v1/resources/%s/%s/%s", o.pos[0], ns, o.pos[1]);
    cJSON *res = NULL;
    if ((rc = call_json(&o, "DELETE", path, NULL, 0, NULL, &res)))
        return rc;
    const cJSON *md = jget(res, "metadata", NULL);
    printf("%s %s/%s deleted\n", jstr(res, "kind") ? jstr(res, "kind") : o.pos[0],
           jstr(md, "namespace") ? jstr(md, "namespace") : ns,
           jstr(md, "name") ? jstr(md, "name") : o.pos[1]);
    cJSON_Delete(res);
    return CLI_OK;
}

/* ---- send ----------------------------------------------------------------------------------- */

/* Splits "NS/NAME" (or "NAME" in -n's namespace, default "default"). */
static int split_target(const char *arg, const char *ns_opt, char *ns, size_t ncap, char *name,
                        size_t cap)
{
    const char *slash = strchr(arg, '/');
    if (slash) {
        snprintf(ns, ncap, "%.*s", (int)(slash - arg), arg);
        snprintf(name, cap, "%s", slash + 1);
    } else {
        snprintf(ns, ncap, "%s", ns_opt ? ns_opt : "default");
        snprintf(name, cap, "%s", arg);
    }
    if (!path_safe(ns) || !path_safe(name))
        return cli_error(CLI_INVALID,
                         "'%s' is not NAMESPACE/BROKER (lower-case letters, digits, '-' "
                         "and '.')",
                         arg);
    return CLI_OK;
}

static bool json_media_type(const char *ct)
{
    size_t n = strcspn(ct, ";");
    while (n && ct[n - 1] == ' ')
        n--;
    return n >= 4 && !strncasecmp(ct + n - 4, "json", 4) &&
           (n == 4 || ct[n - 5] == '/' || ct[n - 5] == '+');
}

static int cmd_send(int argc, char **argv)
{
    opts_t o;
    int rc = parse_opts(argc, argv, USAGE_SEND, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(USAGE_SEND, stdout);
        return CLI_OK;
    }
    if (o.npos != 1) {
        fprintf(stderr, "error: send takes NAMESPACE/BROKER\n%s", USAGE_SEND);
        return CLI_USAGE;
    }
    if (!o.file && (!o.type || !o.source)) {
        fprintf(stderr, "error: send needs --type and --source (or -f event.json)\n%s", USAGE_SEND);
        return CLI_USAGE;
    }
    if (o.file && (o.type || o.source || o.data || o.id || o.next || o.subject || o.ct)) {
        fprintf(stderr,
                "error: -f takes a whole event; do not combine it with attribute "
                "options\n%s",
                USAGE_SEND);
        return CLI_USAGE;
    }
    char ns[128], name[256];
    if ((rc = split_target(o.pos[0], o.ns, ns, sizeof ns, name, sizeof name)))
        return rc;
    char *body = NULL;
    size_t len = 0;
    char idbuf[37] = "";
    if (o.file) {
        char why[256];
        if (cli_read_file(o.file, CLI_MAX_INPUT, &body, &len, why, sizeof why))
            return cli_error(CLI_INVALID, "%s", why);
        cJSON *ev = cJSON_ParseWithLength(body, len);
        if (!ev) {
            free(body);
            return cli_error(CLI_INVALID,
                             "%s is not JSON (an event in the CloudEvents JSON format)", o.file);
        }
        snprintf(idbuf, sizeof idbuf, "%s", jstr(ev, "id") ? jstr(ev, "id") : "");
        cJSON_Delete(ev);
    } else {
        cJSON *ev = cJSON_CreateObject();
        const char *id = o.id;
        if (!id) {
            unsigned char b[16];
            if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
                cJSON_Delete(ev);
                return cli_error(CLI_INVALID, "cannot read random bytes for the id");
            }
            b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
            b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
            snprintf(idbuf, sizeof idbuf,
                     "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                     b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                     b[13], b[14], b[15]);
            id = idbuf;
        } else {
            snprintf(idbuf, sizeof idbuf, "%s", id);
        }
        cJSON_AddStringToObject(ev, "specversion", "1.0");
        cJSON_AddStringToObject(ev, "id", id);
        cJSON_AddStringToObject(ev, "source", o.source);
        cJSON_AddStringToObject(ev, "type", o.type);
        if (o.subject)
            cJSON_AddStringToObject(ev, "subject", o.subject);
        for (int i = 0; i < o.next; i++) {
            const char *eq = strchr(o.ext[i], '=');
            char k[64];
            snprintf(k, sizeof k, "%.*s", (int)(eq - o.ext[i]), o.ext[i]);
            if (cJSON_GetObjectItemCaseSensitive(ev, k)) {
                cJSON_Delete(ev);
                return cli_error(CLI_USAGE, "--ext %s: the attribute is already set", k);
            }
            cJSON_AddStringToObject(ev, k, eq + 1);
        }
        if (o.data) {
            cJSON *parsed = cJSON_Parse(o.data);
            const char *ct = o.ct ? o.ct : parsed ? "application/json" : "text/plain";
            cJSON_AddStringToObject(ev, "datacontenttype", ct);
            if (parsed && json_media_type(ct)) {
                cJSON_AddItemToObject(ev, "data", parsed);
            } else {
                cJSON_Delete(parsed);
                cJSON_AddStringToObject(ev, "data", o.data);
            }
        } else if (o.ct) {
            cJSON_AddStringToObject(ev, "datacontenttype", o.ct);
        }
        body = cJSON_PrintUnformatted(ev);
        cJSON_Delete(ev);
        if (!body)
            return cli_error(CLI_INVALID, "out of memory");
        len = strlen(body);
    }
    char path[600];
    snprintf(path, sizeof path, "/v1/brokers/%s/%s/events", ns, name);
    /* the admin answers as the ingress does: 202 with no body once the event is stored */
    resp_t r;
    rc = http(&o, "POST", path, body, len, "application/cloudevents+json", &r);
    free(body);
    if (rc)
        return rc;
    if (r.status < 200 || r.status > 299) {
        rc = answer_error(&r);
        free(r.body.data);
        return rc;
    }
    free(r.body.data);
    printf("event %s accepted by broker %s/%s\n", idbuf[0] ? idbuf : "(no id)", ns, name);
    return CLI_OK;
}

/* ---- tail ----------------------------------------------------------------------------------- */

typedef struct {
    long status;
    long left; /* events still to print, -1 = unlimited */
    bool stop;
    buf_t err; /* body of a non-200 answer */
} tail_ctx_t;

static size_t tail_write(char *p, size_t size, size_t n, void *arg)
{
    tail_ctx_t *t = arg;
    size_t len = size * n;
    if (t->status == 0)
        t->status = 200;
    if (t->status != 200)
        return on_body(p, size, n, &t->err);
    if (t->left < 0) {
        fwrite(p, 1, len, stdout);
        fflush(stdout);
        return len;
    }
    /* with --count: print whole lines until N were printed, then stop the transfer */
    for (size_t i = 0; i < len && t->left > 0; i++) {
        putchar(p[i]);
        if (p[i] == '\n' && --t->left == 0) {
            fflush(stdout);
            t->stop = true;
            return 0; /* aborts the transfer */
        }
    }
    fflush(stdout);
    return len;
}

static size_t tail_header(char *p, size_t size, size_t n, void *arg)
{
    tail_ctx_t *t = arg;
    int code;
    if (size * n > 9 && !strncmp(p, "HTTP/1.", 7) && sscanf(p + 9, "%d", &code) == 1)
        t->status = code;
    return size * n;
}

static int cmd_tail(int argc, char **argv)
{
    opts_t o;
    int rc = parse_opts(argc, argv, USAGE_TAIL, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(USAGE_TAIL, stdout);
        return CLI_OK;
    }
    if (o.npos != 1) {
        fprintf(stderr, "error: tail takes NAMESPACE/BROKER\n%s", USAGE_TAIL);
        return CLI_USAGE;
    }
    char ns[128], name[256];
    if ((rc = split_target(o.pos[0], o.ns, ns, sizeof ns, name, sizeof name)))
        return rc;
    char url[1200];
    snprintf(url, sizeof url, "%s/v1/brokers/%s/%s/tail", o.admin, ns, name);
    if (o.from) {
        for (const char *p = o.from; *p; p++)
            if (!isdigit((unsigned char)*p))
                return cli_error(CLI_USAGE, "--from takes a sequence number");
        size_t l = strlen(url);
        snprintf(url + l, sizeof url - l, "?from=%s", o.from);
    }
    CURL *c = curl_easy_init();
    if (!c)
        return cli_error(CLI_INVALID, "cannot initialise libcurl");
    tail_ctx_t t = {0};
    t.left = o.count;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tail_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, tail_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (t.stop)
        rc = CLI_OK;
    else if (t.status && t.status != 200) {
        resp_t r = {t.status, t.err};
        rc = answer_error(&r);
    } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
               cc == CURLE_OPERATION_TIMEDOUT || t.status == 0)
        rc = cli_error(CLI_UNREACHABLE,
                       "cannot reach heraldd at %s: %s (start it, or set --admin / "
                       "HERALD_ADMIN)",
                       o.admin, curl_easy_strerror(cc));
    else if (cc != CURLE_OK)
        rc =
            cli_error(CLI_INVALID, "the stream from %s ended: %s", o.admin, curl_easy_strerror(cc));
    else
        rc = CLI_OK; /* the daemon ended the stream (shutting down) */
    free(t.err.data);
    return rc;
}

/* ---- dlq and replay ------------------------------------------------------------------------ */

static int cmd_dlq(int argc, char **argv)
{
    opts_t o;
    int rc = parse_opts(argc, argv, USAGE_DLQ, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(USAGE_DLQ, stdout);
        return CLI_OK;
    }
    if (o.npos != 2 || (strcmp(o.pos[0], "list") && strcmp(o.pos[0], "replay"))) {
        fprintf(stderr, "error: dlq takes list|replay TRIGGER\n%s", USAGE_DLQ);
        return CLI_USAGE;
    }
    const char *ns = o.ns ? o.ns : "default", *name = o.pos[1];
    if (!path_safe(ns) || !path_safe(name))
        return cli_error(CLI_INVALID, "names are lower-case letters, digits, '-' and '.'");
    char path[700];
    cJSON *res = NULL;
    if (!strcmp(o.pos[0], "replay")) {
        if (o.seq) {
            for (const char *p = o.seq; *p; p++)
                if (!isdigit((unsigned char)*p))
                    return cli_error(CLI_USAGE, "--seq takes a sequence number");
            snprintf(path, sizeof path, "/v1/triggers/%s/%s/dlq/replay?seq=%s", ns, name, o.seq);
        } else {
            snprintf(path, sizeof path, "/v1/triggers/%s/%s/dlq/replay", ns, name);
        }
        if ((rc = call_json(&o, "POST", path, NULL, 0, NULL, &res)))
            return rc;
        double n = jnum(res, "replayed");
        printf("%.0f dead letter%s of trigger %s/%s sent for delivery again\n", n,
               n == 1 ? "" : "s", ns, name);
        cJSON_Delete(res);
        return CLI_OK;
    }
    snprintf(path, sizeof path, "/v1/triggers/%s/%s/dlq", ns, name);
    if ((rc = call_json(&o, "GET", path, NULL, 0, NULL, &res)))
        return rc;
    const cJSON *items = jget(res, "items", NULL);
    if (o.output) {
        if (!strcmp(o.output, "json"))
            print_json(items);
        else
            yaml_node(stdout, items, 0, false);
    } else if (cJSON_GetArraySize(items) == 0) {
        printf("No dead letters for trigger %s/%s.\n", ns, name);
    } else {
        table_t t = {.ncols = 6};
        const char *hdr[] = {"SEQ", "TIME", "STATUS", "ID", "TYPE", "ERROR"};
        table_row(&t, hdr);
        const cJSON *it;
        cJSON_ArrayForEach(it, items)
        {
            char seq[32], st[16];
            snprintf(seq, sizeof seq, "%.0f", jnum(it, "seq"));
            double s = jnum(it, "status");
            snprintf(st, sizeof st, "%s", s > 0 ? "" : "-");
            if (s > 0)
                snprintf(st, sizeof st, "%.0f", s);
            const cJSON *ev = jget(it, "event", NULL);
            const char *row[] = {seq,
                                 jstr(it, "time"),
                                 st,
                                 ev ? jstr(ev, "id") : "(trimmed)",
                                 ev ? jstr(ev, "type") : "",
                                 jstr(it, "error")};
            table_row(&t, row);
        }
        table_print(&t);
    }
    cJSON_Delete(res);
    return CLI_OK;
}

static int cmd_replay(int argc, char **argv)
{
    opts_t o;
    int rc = parse_opts(argc, argv, USAGE_REPLAY, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(USAGE_REPLAY, stdout);
        return CLI_OK;
    }
    if (o.npos != 1 || !o.from) {
        fprintf(stderr, "error: replay takes TRIGGER --from SEQ|TIME\n%s", USAGE_REPLAY);
        return CLI_USAGE;
    }
    const char *ns = o.ns ? o.ns : "default", *name = o.pos[0];
    if (!path_safe(ns) || !path_safe(name))
        return cli_error(CLI_INVALID, "names are lower-case letters, digits, '-' and '.'");
    /* the time goes into a query: escape what RFC 3339 may contain */
    char from[128];
    size_t k = 0;
    for (const char *p = o.from; *p && k + 4 < sizeof from; p++) {
        if (*p == '+') {
            memcpy(from + k, "%2B", 3);
            k += 3;
        } else if (*p == ':') {
            memcpy(from + k, "%3A", 3);
            k += 3;
        } else if (isalnum((unsigned char)*p) || *p == '-' || *p == '.') {
            from[k++] = *p;
        } else {
            return cli_error(CLI_USAGE, "--from takes a sequence number or an RFC 3339 time");
        }
    }
    from[k] = '\0';
    char path[800];
    snprintf(path, sizeof path, "/v1/triggers/%s/%s/replay?from=%s", ns, name, from);
    cJSON *res = NULL;
    if ((rc = call_json(&o, "POST", path, NULL, 0, NULL, &res)))
        return rc;
    printf("trigger %s/%s replays from seq %.0f (the broker's last is %.0f)\n", ns, name,
           jnum(res, "from"), jnum(res, "to"));
    cJSON_Delete(res);
    return CLI_OK;
}

int cli_admin(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"apply", cmd_apply},   {"get", cmd_get},      {"describe", cmd_describe},
                {"delete", cmd_delete}, {"send", cmd_send},    {"tail", cmd_tail},
                {"dlq", cmd_dlq},       {"replay", cmd_replay}};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = CLI_USAGE;
    bool found = false;
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (!strcmp(argv[0], cmds[i].name)) {
            rc = cmds[i].fn(argc, argv);
            found = true;
            break;
        }
    }
    if (!found)
        fprintf(stderr, "error: unknown command '%s'\n", argv[0]);
    curl_global_cleanup();
    return rc;
}
