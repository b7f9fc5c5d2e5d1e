/*
 * cmd_get.c — `herald get`: resources through heraldd's admin API as a table (-o wide adds the
 * age and, for triggers, whether deliveries are failing), YAML or JSON, once or watched (-w).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin_internal.h"
#include "cli.h"
#include "util_io.h"
#include "util_time.h"

static const char *const USAGE_GET =
    "usage: herald get KIND [NAME] [-n NAMESPACE | -A] [-o json|yaml|wide]\n"
    "                  [-w [--watch-timeout SECONDS]] [--admin URL]\n"
    "\n"
    "Lists resources of a kind (brokers, triggers, channels, subscriptions, sequences,\n"
    "parallels, pingsources, ...; plural, singular, Kind or short name such as ch or sub, any\n"
    "case) in namespace 'default' unless -n is given, in every namespace with -A\n"
    "(--all-namespaces), or shows one by NAME. The table shows NAME, READY, REASON and the URL\n"
    "of a broker, channel, sequence or parallel, the BROKER and SUBSCRIBER of a trigger, or\n"
    "the CHANNEL and SUBSCRIBER of a subscription.\n"
    "  -o wide   adds AGE and, for triggers and subscriptions, FAILING (True while the latest\n"
    "            deliveries fail) and LAST-ERROR (the last failing answer: status and body)\n"
    "  -o json   the full objects, indented by 4 spaces (a List when listing)\n"
    "  -o yaml   the full objects as YAML documents separated by ---\n"
    "  -w        watch: print the list, then a line for each object that changes, polling\n"
    "            every second, until interrupted (Ctrl-C) or --watch-timeout SECONDS pass.\n"
    "            A deleted object gets a last line with READY 'Deleted' (with -o json|yaml: its\n"
    "            last state with metadata.deletionTimestamp set).\n";
/* ---- get ----------------------------------------------------------------------------------- */

/* ---- get: the table's columns per kind ---- */

static const char *col_ready(const cJSON *it)
{
    const cJSON *rc = cli__ready_cond(it);
    return rc ? cli__jstr(rc, "status") : "Unknown";
}

static const char *col_reason(const cJSON *it)
{
    const cJSON *rc = cli__ready_cond(it);
    return rc ? cli__jstr(rc, "reason") : "";
}

static const char *col_url(const cJSON *it)
{
    return cli__jstr(cli__jget(it, "status", "address"), "url");
}

static const char *col_broker(const cJSON *it)
{
    return cli__jstr(cli__jget(it, "spec", NULL), "broker");
}

/* what the trigger resolved its subscriber to, else the URI its spec gives */
static const char *col_trigger_subscriber(const cJSON *it)
{
    const char *sub = cli__jstr(cli__jget(it, "status", NULL), "subscriberUri");
    return sub ? sub : cli__jstr(cli__jget(cli__jget(it, "spec", NULL), "subscriber", NULL), "uri");
}

static const char *col_channel(const cJSON *it)
{
    return cli__jstr(cli__jget(it, "spec", "channel"), "name");
}

static const char *col_subscription_subscriber(const cJSON *it)
{
    const char *sub = cli__jstr(cli__jget(it, "status", "physicalSubscription"), "subscriberUri");
    return sub ? sub : cli__jstr(cli__jget(cli__jget(it, "spec", NULL), "subscriber", NULL), "uri");
}

static const char *col_kind(const cJSON *it)
{
    return cli__jstr(it, "kind");
}

/* What a cell function gets: the item, and for -o wide the daemon's stats of a trigger or a
 * subscription (NULL otherwise); cells written into buf or borrowed from the item. */
typedef struct {
    const cJSON *item, *stats;
    char buf[256];
} cell_t;

typedef struct {
    const char *header;
    const char *(*cell)(cell_t *c); /* NULL prints empty */
} column_t;

#define ITEM_COL(fn)                                                                               \
    static const char *fn##_cell(cell_t *c)                                                        \
    {                                                                                              \
        return fn(c->item);                                                                        \
    }
ITEM_COL(col_ready)
ITEM_COL(col_reason)
ITEM_COL(col_url)
ITEM_COL(col_broker)
ITEM_COL(col_trigger_subscriber)
ITEM_COL(col_channel)
ITEM_COL(col_subscription_subscriber)
ITEM_COL(col_kind)

static const char *col_age(cell_t *c)
{
    cli_age(cli__jstr(cli__jget(c->item, "metadata", NULL), "creationTimestamp"), c->buf,
            sizeof c->buf);
    return c->buf;
}

static const char *col_failing(cell_t *c)
{
    const cJSON *f = cli__jget(c->stats, "failing", NULL);
    return cJSON_IsBool(f) ? (cJSON_IsTrue(f) ? "True" : "False") : "";
}

static const char *col_last_error(cell_t *c)
{
    cli__last_answer(c->stats, c->buf, sizeof c->buf, 40);
    return c->buf;
}

#define KIND_MAX_COLS 4
/* The columns after NAMESPACE (all namespaces only) and NAME, by the items' Kind; `stats` names
 * the describe endpoint of the kinds whose -o wide shows delivery state. */
static const struct {
    const char *kind; /* NULL: any other kind */
    const char *stats;
    column_t cols[KIND_MAX_COLS];
} kind_columns[] = {
    {"Broker",
     NULL,
     {{"READY", col_ready_cell}, {"REASON", col_reason_cell}, {"URL", col_url_cell}}},
    {"Trigger",
     "triggers",
     {{"BROKER", col_broker_cell},
      {"SUBSCRIBER", col_trigger_subscriber_cell},
      {"READY", col_ready_cell},
      {"REASON", col_reason_cell}}},
    /* `get channels` lists every channel kind together: say which each is */
    {"Channel",
     NULL,
     {{"KIND", col_kind_cell},
      {"READY", col_ready_cell},
      {"REASON", col_reason_cell},
      {"URL", col_url_cell}}},
    {"InMemoryChannel",
     NULL,
     {{"KIND", col_kind_cell},
      {"READY", col_ready_cell},
      {"REASON", col_reason_cell},
      {"URL", col_url_cell}}},
    {"Subscription",
     "subscriptions",
     {{"READY", col_ready_cell},
      {"REASON", col_reason_cell},
      {"CHANNEL", col_channel_cell},
      {"SUBSCRIBER", col_subscription_subscriber_cell}}},
    {"Sequence",
     NULL,
     {{"READY", col_ready_cell}, {"REASON", col_reason_cell}, {"URL", col_url_cell}}},
    {"Parallel",
     NULL,
     {{"READY", col_ready_cell}, {"REASON", col_reason_cell}, {"URL", col_url_cell}}},
    {NULL, NULL, {{"READY", col_ready_cell}, {"REASON", col_reason_cell}}},
};

static const column_t wide_age = {"AGE", col_age};
static const column_t wide_failing[] = {{"FAILING", col_failing}, {"LAST-ERROR", col_last_error}};

/* The stats of one trigger or subscription from its describe endpoint (owned), or NULL. */
static cJSON *fetch_stats(const cli_opts_t *o, const char *endpoint, const cJSON *item)
{
    const cJSON *md = cli__jget(item, "metadata", NULL);
    const char *ns = cli__jstr(md, "namespace"), *name = cli__jstr(md, "name");
    if (!ns || !name || !cli__path_safe(ns) || !cli__path_safe(name))
        return NULL;
    char path[700];
    snprintf(path, sizeof path, "/v1/%s/%s/%s/describe", endpoint, ns, name);
    cli_resp_t r;
    if (cli__http(o, "GET", path, NULL, 0, NULL, &r))
        return NULL;
    cJSON *d = r.status == 200 && r.body.data ? cJSON_Parse(r.body.data) : NULL;
    free(r.body.data);
    cJSON *st = cJSON_DetachItemFromObjectCaseSensitive(d, "stats");
    cJSON_Delete(d);
    return st;
}

/* Builds the table of `items` (header first); keys[i] is row i+1's namespace/name (owned). */
static void build_table(const cli_opts_t *o, const cJSON *items, bool all_ns, bool wide,
                        cli_table_t *t, char ***keys)
{
    const char *kind = cli__jstr(cJSON_GetArrayItem(items, 0), "kind");
    size_t k = 0;
    while (kind_columns[k].kind && !(kind && !strcmp(kind, kind_columns[k].kind)))
        k++;
    column_t cols[CLI_TABLE_MAX_COLS];
    int nc = 0;
    for (int c = 0; c < KIND_MAX_COLS && kind_columns[k].cols[c].header; c++)
        cols[nc++] = kind_columns[k].cols[c];
    bool stats = wide && kind_columns[k].stats;
    if (wide)
        cols[nc++] = wide_age;
    if (stats) {
        cols[nc++] = wide_failing[0];
        cols[nc++] = wide_failing[1];
    }
    memset(t, 0, sizeof *t);
    const char *hdr[CLI_TABLE_MAX_COLS];
    int n = 0;
    if (all_ns)
        hdr[n++] = "NAMESPACE";
    hdr[n++] = "NAME";
    for (int c = 0; c < nc; c++)
        hdr[n++] = cols[c].header;
    t->ncols = n;
    cli__table_row(t, hdr);
    *keys = calloc((size_t)cJSON_GetArraySize(items) + 1, sizeof **keys);
    size_t row = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        const char *cells[CLI_TABLE_MAX_COLS];
        cell_t cv[CLI_TABLE_MAX_COLS];
        cJSON *st = stats ? fetch_stats(o, kind_columns[k].stats, it) : NULL;
        const cJSON *md = cli__jget(it, "metadata", NULL);
        n = 0;
        if (all_ns)
            cells[n++] = cli__jstr(md, "namespace");
        cells[n++] = cli__jstr(md, "name");
        for (int c = 0; c < nc; c++) {
            cv[c].item = it;
            cv[c].stats = st;
            cv[c].buf[0] = '\0';
            cells[n++] = cols[c].cell(&cv[c]);
        }
        cli__table_row(t, cells);
        if (*keys) {
            char key[512];
            snprintf(key, sizeof key, "%s/%s",
                     cli__jstr(md, "namespace") ? cli__jstr(md, "namespace") : "",
                     cli__jstr(md, "name") ? cli__jstr(md, "name") : "");
            (*keys)[row++] = strdup(key);
        }
        cJSON_Delete(st);
    }
}

static void free_keys(char **keys)
{
    for (size_t i = 0; keys && keys[i]; i++)
        free(keys[i]);
    free(keys);
}

/* ---- get -w: what changed since the last poll ---- */

typedef struct {
    char *key, *sig; /* namespace/name and what was printed for it */
    char **cells;    /* the table row printed for it, NULL with -o json|yaml */
    int ncells;
} seen_t;

typedef struct {
    seen_t *v;
    size_t n;
} seen_set_t;

static const char *seen_sig(const seen_set_t *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].key, key))
            return s->v[i].sig;
    return NULL;
}

static void seen_free(seen_set_t *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
        free(s->v[i].sig);
        for (int c = 0; s->v[i].cells && c < s->v[i].ncells; c++)
            free(s->v[i].cells[c]);
        free(s->v[i].cells);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* Prints one row of ncols cells padded to widths w (widened when a cell is longer). */
static void print_cells(char *const *cells, int ncols, size_t *w)
{
    for (int c = 0; c < ncols; c++) {
        const char *s = cells[c] ? cells[c] : "";
        if (strlen(s) > w[c])
            w[c] = strlen(s);
        if (c + 1 == ncols)
            printf("%s\n", s);
        else
            printf("%-*s   ", (int)w[c], s);
    }
}

static void print_row(cli_table_t *t, size_t r, size_t *w)
{
    print_cells(&t->cells[r * (size_t)t->ncols], t->ncols, w);
}

/* A copy of table row r (owned), or NULL when out of memory. */
static char **row_copy(const cli_table_t *t, size_t r)
{
    char **cells = calloc((size_t)t->ncols, sizeof *cells);
    for (int c = 0; cells && c < t->ncols; c++) {
        const char *s = t->cells[r * (size_t)t->ncols + (size_t)c];
        cells[c] = strdup(s ? s : "");
    }
    return cells;
}

/* The last line of an object that went: its last row with READY "Deleted" and no REASON (which
 * said why it was not ready), or with -o json|yaml its last state with
 * metadata.deletionTimestamp, as Kubernetes marks an object being deleted. */
static void print_deleted(const cli_opts_t *o, const seen_t *s, int ready_col, int reason_col,
                          size_t *w, bool *header_done)
{
    if (!s->cells) {
        cJSON *obj = cJSON_Parse(s->sig);
        cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
        if (!cJSON_IsObject(md)) {
            cJSON_Delete(obj);
            return;
        }
        char now[32];
        cli_now_rfc3339(now);
        cJSON_DeleteItemFromObjectCaseSensitive(md, "deletionTimestamp");
        cJSON_AddStringToObject(md, "deletionTimestamp", now);
        cJSON *one = cJSON_CreateArray();
        cJSON_AddItemToArray(one, obj);
        if (!strcmp(o->output, "yaml") && *header_done)
            fputs("---\n", stdout);
        cli__print_objects(one, false, o->output);
        cJSON_Delete(one);
        *header_done = true;
        return;
    }
    char *cells[CLI_TABLE_MAX_COLS];
    for (int c = 0; c < s->ncells; c++)
        cells[c] = c == ready_col ? "Deleted" : c == reason_col ? "" : s->cells[c];
    print_cells(cells, s->ncells, w);
}

static void free_table(cli_table_t *t)
{
    for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Fetches the list (or the one object) at `path` into a JSON array (owned). `gone_ok`: the one
 * object not found is an empty array, not an error. */
static int fetch_items(const cli_opts_t *o, const char *path, bool single, bool gone_ok,
                       cJSON **items)
{
    cli_resp_t r;
    int rc = cli__http(o, "GET", path, NULL, 0, NULL, &r);
    if (rc)
        return rc;
    if (single && gone_ok && r.status == 404) {
        free(r.body.data);
        *items = cJSON_CreateArray();
        return CLI_OK;
    }
    if (r.status < 200 || r.status > 299) {
        rc = cli__answer_error(&r);
        free(r.body.data);
        return rc;
    }
    cJSON *res = r.body.data ? cJSON_Parse(r.body.data) : NULL;
    free(r.body.data);
    if (!res)
        return cli_error(CLI_INVALID, "heraldd answered %ld with a body that is not JSON",
                         r.status);
    if (single) {
        *items = cJSON_CreateArray();
        cJSON_AddItemToArray(*items, res);
        return CLI_OK;
    }
    *items = cJSON_DetachItemFromObjectCaseSensitive(res, "items");
    cJSON_Delete(res);
    if (!cJSON_IsArray(*items)) {
        cJSON_Delete(*items);
        *items = cJSON_CreateArray();
    }
    return CLI_OK;
}

/*
 * Polls `path` every second: the first answer is printed whole, then each object whose row (or,
 * with -o json|yaml, whose object) differs from the last poll is printed again. Ends after
 * --watch-timeout, on an error answer, or when interrupted.
 */
static int watch(const cli_opts_t *o, const char *path, bool single, bool all_ns)
{
    double end = o->watch_timeout > 0 ? now_s() + o->watch_timeout : 0;
    bool wide = o->output && !strcmp(o->output, "wide");
    bool objects = o->output && !wide;
    seen_set_t prev = {0};
    size_t w[CLI_TABLE_MAX_COLS] = {0};
    bool header_done = false;
    int ready_col = -1, reason_col = -1; /* the table's, once printed */
    int rc = CLI_OK;
    for (;;) {
        cJSON *items = NULL;
        /* the one object watched may go (a last line says so) and come back */
        if ((rc = fetch_items(o, path, single, prev.n > 0 || header_done, &items)))
            break;
        cli_table_t t = {0};
        char **keys = NULL;
        seen_set_t cur = {calloc((size_t)cJSON_GetArraySize(items) + 1, sizeof(seen_t)), 0};
        if (cJSON_GetArraySize(items) > 0)
            build_table(o, items, all_ns, wide, &t, &keys);
        if (!header_done && t.nrows > 0 && !objects) {
            for (size_t r = 0; r < t.nrows; r++)
                for (int c = 0; c < t.ncols; c++) {
                    const char *s = t.cells[r * (size_t)t.ncols + (size_t)c];
                    if (s && strlen(s) > w[c])
                        w[c] = strlen(s);
                }
            print_row(&t, 0, w);
            header_done = true;
            for (int c = 0; c < t.ncols; c++) {
                if (!strcmp(t.cells[c], "READY"))
                    ready_col = c;
                else if (!strcmp(t.cells[c], "REASON"))
                    reason_col = c;
            }
        }
        size_t i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, items)
        {
            char *sig;
            if (objects) {
                sig = cJSON_PrintUnformatted(it);
            } else {
                size_t len = 1;
                for (int c = 0; c < t.ncols; c++)
                    len += strlen(t.cells[(i + 1) * (size_t)t.ncols + (size_t)c]) + 1;
                sig = calloc(1, len);
                for (int c = 0; sig && c < t.ncols; c++) {
                    strcat(sig, t.cells[(i + 1) * (size_t)t.ncols + (size_t)c]);
                    strcat(sig, "\t");
                }
            }
            const char *key = keys && keys[i] ? keys[i] : "";
            const char *old = seen_sig(&prev, key);
            if (sig && (!old || strcmp(old, sig))) {
                if (objects) {
                    cJSON *one = cJSON_CreateArray();
                    cJSON_AddItemReferenceToArray(one, (cJSON *)it);
                    if (!strcmp(o->output, "yaml") && header_done)
                        fputs("---\n", stdout);
                    cli__print_objects(one, false, o->output);
                    cJSON_Delete(one);
                    header_done = true;
                } else {
                    print_row(&t, i + 1, w);
                }
            }
            if (cur.v && sig) {
                cur.v[cur.n].key = strdup(key);
                cur.v[cur.n].cells = objects ? NULL : row_copy(&t, i + 1);
                cur.v[cur.n].ncells = cur.v[cur.n].cells ? t.ncols : 0;
                cur.v[cur.n++].sig = sig;
            } else {
                free(sig);
            }
            i++;
        }
        for (size_t k = 0; k < prev.n; k++)
            if (!seen_sig(&cur, prev.v[k].key))
                print_deleted(o, &prev.v[k], ready_col, reason_col, w, &header_done);
        fflush(stdout);
        free_keys(keys);
        free_table(&t);
        cJSON_Delete(items);
        seen_free(&prev);
        prev = cur;
        double left = end > 0 ? end - now_s() : 1;
        if (left <= 0)
            break;
        double nap = left < 1 ? left : 1;
        struct timespec ts = {(time_t)nap, (long)((nap - (time_t)nap) * 1e9)};
        nanosleep(&ts, NULL);
    }
    seen_free(&prev);
    return rc;
}

int cli__cmd_get(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli__parse_opts(argc, argv, USAGE_GET, &o);
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
    if (o.watch_timeout > 0 && !o.watch) {
        fprintf(stderr, "error: --watch-timeout goes with -w\n%s", USAGE_GET);
        return CLI_USAGE;
    }
    const char *kind = o.pos[0], *name = o.npos == 2 ? o.pos[1] : NULL;
    if (!cli__kind_safe(kind))
        return cli_error(CLI_USAGE, "'%s' is not a kind (brokers, triggers, ...)", kind);
    if (name && o.all_ns)
        return cli_error(CLI_USAGE, "-A lists every namespace; give one NAME with -n instead");
    /* like kubectl: namespace 'default' unless -n, every namespace with -A */
    const char *ns = o.ns ? o.ns : o.all_ns ? NULL : "default";
    if ((ns && !cli__path_safe(ns)) || (name && !cli__path_safe(name)))
        return cli_error(CLI_INVALID, "names are lower-case letters, digits, '-' and '.'");
    char path[700];
    if (name)
        snprintf(path, sizeof path, "/v1/resources/%s/%s/%s", kind, ns, name);
    else if (ns)
        snprintf(path, sizeof path, "/v1/resources/%s/%s", kind, ns);
    else
        snprintf(path, sizeof path, "/v1/resources/%s", kind);
    bool single = name != NULL;
    if (o.watch)
        return watch(&o, path, single, ns == NULL);
    cJSON *items = NULL;
    if ((rc = fetch_items(&o, path, single, false, &items)))
        return rc;
    bool wide = o.output && !strcmp(o.output, "wide");
    if (o.output && !wide) {
        cli__print_objects(items, !single, o.output);
    } else if (cJSON_GetArraySize(items) == 0) {
        char k[64];
        cli__lower(kind, k, sizeof k);
        if (ns)
            fprintf(stderr, "No %s found in namespace %s.\n", k, ns);
        else
            fprintf(stderr, "No %s found.\n", k);
    } else {
        cli_table_t t;
        char **keys = NULL;
        build_table(&o, items, ns == NULL, wide, &t, &keys);
        cli__table_print(&t);
        free_keys(keys);
    }
    cJSON_Delete(items);
    return CLI_OK;
}
