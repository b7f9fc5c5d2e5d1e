/*
 * cmd_resources.c — `herald apply|get|describe|delete`: resources through heraldd's admin API,
 * printed as tables, YAML or JSON, or as a status report (describe).
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "admin_internal.h"
#include "cli.h"
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
static const char *const USAGE_GET =
    "usage: herald get KIND [NAME] [-n NAMESPACE] [-o json|yaml] [--admin URL]\n"
    "\n"
    "Lists resources of a kind (brokers, triggers, channels, subscriptions, sequences,\n"
    "parallels, pingsources, ...; plural, singular, Kind or short name such as ch or sub, any\n"
    "case), in every namespace unless -n is given, or shows one by NAME (namespace 'default'\n"
    "unless -n). The table shows NAME, READY, REASON and the URL of a broker, channel,\n"
    "sequence or parallel, the BROKER and SUBSCRIBER of a trigger, or the CHANNEL and\n"
    "SUBSCRIBER of a subscription. -o prints the full objects.\n";
static const char *const USAGE_DESCRIBE =
    "usage: herald describe KIND NAME [-n NAMESPACE] [--admin URL]\n"
    "\n"
    "Shows a resource's status with what to do about it. For a trigger: its broker,\n"
    "subscriber, filter, effective delivery, cursor and backlog, in-flight deliveries,\n"
    "retries, dead letters and the last error; for a subscription the same with its channel\n"
    "and reply instead of broker and filter. For a broker or a channel: its address, the\n"
    "events it holds and the backlog of each trigger or subscription. Other kinds show their\n"
    "readiness and spec.\n";
static const char *const USAGE_DELETE =
    "usage: herald delete KIND NAME [-n NAMESPACE] [--admin URL]\n"
    "\n"
    "Deletes one resource. Deleting a trigger forgets its cursor and dead letters; deleting a\n"
    "broker deletes its events and unbinds its triggers (they wait for a broker again).\n";

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

typedef struct {
    const char *header;
    const char *(*cell)(const cJSON *item); /* borrowed from item; NULL prints empty */
} column_t;

#define KIND_MAX_COLS 4
/* The columns after NAMESPACE (all namespaces only) and NAME, by the items' Kind. */
static const struct {
    const char *kind; /* NULL: any other kind */
    column_t cols[KIND_MAX_COLS];
} kind_columns[] = {
    {"Broker", {{"READY", col_ready}, {"REASON", col_reason}, {"URL", col_url}}},
    {"Trigger",
     {{"BROKER", col_broker},
      {"SUBSCRIBER", col_trigger_subscriber},
      {"READY", col_ready},
      {"REASON", col_reason}}},
    /* `get channels` lists every channel kind together: say which each is */
    {"Channel",
     {{"KIND", col_kind}, {"READY", col_ready}, {"REASON", col_reason}, {"URL", col_url}}},
    {"InMemoryChannel",
     {{"KIND", col_kind}, {"READY", col_ready}, {"REASON", col_reason}, {"URL", col_url}}},
    {"Subscription",
     {{"READY", col_ready},
      {"REASON", col_reason},
      {"CHANNEL", col_channel},
      {"SUBSCRIBER", col_subscription_subscriber}}},
    {"Sequence", {{"READY", col_ready}, {"REASON", col_reason}, {"URL", col_url}}},
    {"Parallel", {{"READY", col_ready}, {"REASON", col_reason}, {"URL", col_url}}},
    {NULL, {{"READY", col_ready}, {"REASON", col_reason}}},
};

static void get_table(const cJSON *items, bool all_ns)
{
    const char *kind = cli__jstr(cJSON_GetArrayItem(items, 0), "kind");
    size_t k = 0;
    while (kind_columns[k].kind && !(kind && !strcmp(kind, kind_columns[k].kind)))
        k++;
    const column_t *cols = kind_columns[k].cols;
    cli_table_t t = {0};
    const char *hdr[CLI_TABLE_MAX_COLS];
    int n = 0;
    if (all_ns)
        hdr[n++] = "NAMESPACE";
    hdr[n++] = "NAME";
    for (int c = 0; c < KIND_MAX_COLS && cols[c].header; c++)
        hdr[n++] = cols[c].header;
    t.ncols = n;
    cli__table_row(&t, hdr);
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        const char *row[CLI_TABLE_MAX_COLS];
        const cJSON *md = cli__jget(it, "metadata", NULL);
        n = 0;
        if (all_ns)
            row[n++] = cli__jstr(md, "namespace");
        row[n++] = cli__jstr(md, "name");
        for (int c = 0; c < KIND_MAX_COLS && cols[c].header; c++)
            row[n++] = cols[c].cell(it);
        cli__table_row(&t, row);
    }
    cli__table_print(&t);
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
    const char *kind = o.pos[0], *name = o.npos == 2 ? o.pos[1] : NULL;
    if (!cli__kind_safe(kind))
        return cli_error(CLI_USAGE, "'%s' is not a kind (brokers, triggers, ...)", kind);
    const char *ns = o.ns ? o.ns : (name ? "default" : NULL);
    if ((ns && !cli__path_safe(ns)) || (name && !cli__path_safe(name)))
        return cli_error(CLI_INVALID, "names are lower-case letters, digits, '-' and '.'");
    char path[700];
    if (name)
        snprintf(path, sizeof path, "/v1/resources/%s/%s/%s", kind, ns, name);
    else if (ns)
        snprintf(path, sizeof path, "/v1/resources/%s/%s", kind, ns);
    else
        snprintf(path, sizeof path, "/v1/resources/%s", kind);
    cJSON *res = NULL;
    if ((rc = cli__call_json(&o, "GET", path, NULL, 0, NULL, &res)))
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
        cli__print_objects(items, !single, o.output);
    } else if (cJSON_GetArraySize(items) == 0) {
        char k[64];
        cli__lower(kind, k, sizeof k);
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
    const char *m = cli__jstr(rc, "message");
    line("Ready:", "%s (%s)%s%s", cli__jstr(rc, "status") ? cli__jstr(rc, "status") : "?",
         cli__jstr(rc, "reason") ? cli__jstr(rc, "reason") : "", m && *m ? " " : "", m ? m : "");
}

static void print_delivery(const cJSON *d)
{
    line("Delivery:", "retry %.0f, %s backoff %.0f ms%s, timeout %.0f ms, maxInFlight %.0f, %s",
         cli__jnum(d, "retry"), cli__jstr(d, "backoffPolicy") ? cli__jstr(d, "backoffPolicy") : "?",
         cli__jnum(d, "backoffDelayMs"), cli__jnum(d, "backoffMaxMs") > 0 ? " (capped)" : "",
         cli__jnum(d, "timeoutMs"), cli__jnum(d, "maxInFlight"),
         cli__jstr(d, "ordering") ? cli__jstr(d, "ordering") : "unordered");
    line("Dead letters:", "%s",
         cli__jstr(d, "deadLetterSink") ? cli__jstr(d, "deadLetterSink")
                                        : "kept by heraldd (herald dlq)");
}

/* The kinds describe reports on from the daemon's runtime state: event logs with an address
 * (a broker, a channel) and their consumers (a trigger, a subscription). */
typedef enum { DESCRIBE_LOG, DESCRIBE_CONSUMER } describe_as_t;

static const struct {
    const char *kind, *plural, *singular, *shortname;
    const char *endpoint; /* /v1/{endpoint}/{ns}/{name}/describe */
    describe_as_t as;
    const char *log_member; /* a consumer: the member naming its log ("broker", "channel") */
} describe_kinds[] = {
    {"Broker", "brokers", "broker", "bk", "brokers", DESCRIBE_LOG, NULL},
    {"Channel", "channels", "channel", "ch", "channels", DESCRIBE_LOG, NULL},
    {"Trigger", "triggers", "trigger", "tr", "triggers", DESCRIBE_CONSUMER, "broker"},
    {"Subscription", "subscriptions", "subscription", "sub", "subscriptions", DESCRIBE_CONSUMER,
     "channel"},
};

/* A trigger or a subscription: same JSON shape except "broker" / "channel" (and "filter" for a
 * trigger, "reply" for a subscription). */
static void describe_consumer(const cJSON *o, const char *kind, const char *log_member,
                              const char *ns, const char *name)
{
    bool trigger = !strcmp(kind, "Trigger");
    line("Name:", "%s", name);
    line("Namespace:", "%s", ns);
    line("Kind:", "%s", kind);
    print_ready(cli__jget(o, "ready", NULL));
    line(trigger ? "Broker:" : "Channel:", "%s",
         cli__jstr(o, log_member) ? cli__jstr(o, log_member) : "");
    line("Subscriber:", "%s",
         cli__jstr(o, "subscriberUri") ? cli__jstr(o, "subscriberUri") : "(unresolved)");
    if (trigger) {
        const cJSON *f = cli__jget(o, "filter", NULL);
        char *fs = f && !cJSON_IsNull(f) ? cJSON_PrintUnformatted(f) : NULL;
        line("Filter:", "%s", fs ? fs : "(none: every event)");
        free(fs);
    } else {
        const cJSON *r = cli__jget(o, "reply", NULL);
        char *rs = r && !cJSON_IsNull(r) && !cJSON_IsString(r) ? cJSON_PrintUnformatted(r) : NULL;
        line("Reply:", "%s",
             cJSON_IsString(r) ? r->valuestring
             : rs              ? rs
                               : "(none: replies are dropped)");
        free(rs);
    }
    print_delivery(cli__jget(o, "delivery", NULL));
    const cJSON *s = cli__jget(o, "stats", NULL);
    if (cJSON_GetObjectItemCaseSensitive(s, "cursor")) {
        line("Progress:", "cursor %.0f of %.0f, backlog %.0f, in flight %.0f, pending retries %.0f",
             cli__jnum(s, "cursor"), cli__jnum(s, "brokerLastSeq"), cli__jnum(s, "backlog"),
             cli__jnum(s, "inFlight"), cli__jnum(s, "pendingRetries"));
        line("Counters:", "delivered %.0f, failed attempts %.0f, dead-lettered %.0f, dead %.0f",
             cli__jnum(s, "delivered"), cli__jnum(s, "failed"), cli__jnum(s, "deadLettered"),
             cli__jnum(s, "dead"));
        const char *le = cli__jstr(s, "lastError");
        if (le && *le) {
            double st = cli__jnum(s, "lastStatus");
            if (st > 0 && strncmp(le, "HTTP ", 5) != 0)
                line("Last error:", "HTTP %.0f: %s", st, le);
            else
                line("Last error:", "%s", le);
        } else {
            line("Last error:", "none");
        }
    } else {
        line("Progress:", "not delivering until the %s is Ready",
             trigger ? "trigger" : "subscription");
    }
    double dead = cli__jnum(s, "deadLetters");
    if (dead > 0)
        line("Dead stored:", "%.0f (herald dlq list %s%s -n %s)", dead,
             trigger ? "" : "subscription:", name, ns);
    else
        line("Dead stored:", "0");
}

/* A broker or a channel: same JSON shape (a channel's consumers are its subscriptions, listed
 * under "triggers" as for a broker). */
static void describe_log(const cJSON *o, const char *kind, const char *ns, const char *name)
{
    bool broker = !strcmp(kind, "Broker");
    line("Name:", "%s", name);
    line("Namespace:", "%s", ns);
    /* the daemon's answer says which channel kind it is (Channel, InMemoryChannel) */
    line("Kind:", "%s", cli__jstr(o, "kind") ? cli__jstr(o, "kind") : kind);
    print_ready(cli__jget(o, "ready", NULL));
    line("Address:", "%s", cli__jstr(o, "address") ? cli__jstr(o, "address") : "");
    print_delivery(cli__jget(o, "delivery", NULL));
    const cJSON *s = cli__jget(o, "stats", NULL);
    line("Events:", "%.0f stored (seq %.0f..%.0f)", cli__jnum(s, "events"),
         cli__jnum(s, "firstSeq"), cli__jnum(s, "lastSeq"));
    if (broker)
        line("Triggers:", "%.0f (%.0f evaluated for every event, the rest indexed on type/source)",
             cli__jnum(s, "triggers"), cli__jnum(s, "scannedTriggers"));
    else
        line("Subscribers:", "%.0f", cli__jnum(s, "triggers"));
    const cJSON *tr = cli__jget(o, "triggers", NULL);
    if (cJSON_GetArraySize(tr) > 0) {
        putchar('\n');
        cli_table_t t = {.ncols = 4};
        const char *hdr[] = {broker ? "TRIGGER" : "SUBSCRIPTION", "READY", "BACKLOG", "IN-FLIGHT"};
        cli__table_row(&t, hdr);
        const cJSON *it;
        cJSON_ArrayForEach(it, tr)
        {
            char b[32], f[32];
            snprintf(b, sizeof b, "%.0f", cli__jnum(it, "backlog"));
            snprintf(f, sizeof f, "%.0f", cli__jnum(it, "inFlight"));
            const char *row[] = {cli__jstr(it, "name"),
                                 cJSON_IsTrue(cli__jget(it, "ready", NULL)) ? "True" : "False", b,
                                 f};
            cli__table_row(&t, row);
        }
        cli__table_print(&t);
    }
}

static void describe_other(const cJSON *obj)
{
    const cJSON *md = cli__jget(obj, "metadata", NULL);
    line("Name:", "%s", cli__jstr(md, "name") ? cli__jstr(md, "name") : "");
    line("Namespace:", "%s", cli__jstr(md, "namespace") ? cli__jstr(md, "namespace") : "");
    line("Kind:", "%s", cli__jstr(obj, "kind") ? cli__jstr(obj, "kind") : "");
    print_ready(cli__ready_cond(obj));
    const cJSON *addr = cli__jget(obj, "status", "address");
    if (cli__jstr(addr, "url"))
        line("Address:", "%s", cli__jstr(addr, "url"));
    puts("Spec:");
    const cJSON *spec = cli__jget(obj, "spec", NULL);
    if (spec && spec->child)
        cli__yaml_node(stdout, spec, 2, false);
}

int cli__cmd_describe(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli__parse_opts(argc, argv, USAGE_DESCRIBE, &o);
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
    if (!cli__kind_safe(kind))
        return cli_error(CLI_USAGE, "'%s' is not a kind (brokers, triggers, ...)", kind);
    if (!cli__path_safe(ns) || !cli__path_safe(name))
        return cli_error(CLI_INVALID, "names are lower-case letters, digits, '-' and '.'");
    size_t k = 0, nk = sizeof describe_kinds / sizeof describe_kinds[0];
    while (k < nk && strcasecmp(kind, describe_kinds[k].kind) &&
           strcasecmp(kind, describe_kinds[k].plural) &&
           strcasecmp(kind, describe_kinds[k].singular) &&
           strcasecmp(kind, describe_kinds[k].shortname))
        k++;
    char path[700];
    if (k < nk)
        snprintf(path, sizeof path, "/v1/%s/%s/%s/describe", describe_kinds[k].endpoint, ns, name);
    else
        snprintf(path, sizeof path, "/v1/resources/%s/%s/%s", kind, ns, name);
    cJSON *res = NULL;
    if ((rc = cli__call_json(&o, "GET", path, NULL, 0, NULL, &res)))
        return rc;
    if (k == nk)
        describe_other(res);
    else if (describe_kinds[k].as == DESCRIBE_LOG)
        describe_log(res, describe_kinds[k].kind, ns, name);
    else
        describe_consumer(res, describe_kinds[k].kind, describe_kinds[k].log_member, ns, name);
    cJSON_Delete(res);
    return CLI_OK;
}

/* ---- delete -------------------------------------------------------------------------------- */

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
    if (o.npos != 2) {
        fprintf(stderr, "error: delete takes KIND NAME\n%s", USAGE_DELETE);
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
