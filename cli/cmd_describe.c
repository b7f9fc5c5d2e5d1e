/*
 * cmd_describe.c — `herald describe`: a resource's status as a report: its conditions with
 * reasons and ages, and for a trigger or subscription its delivery state, saying plainly when
 * deliveries are failing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin_internal.h"
#include "cli.h"
#include "util_io.h"
#include "util_time.h"

static const char *const USAGE_DESCRIBE =
    "usage: herald describe KIND NAME [-n NAMESPACE] [--admin URL]\n"
    "\n"
    "Shows a resource's status with what to do about it. For a trigger: its age, broker,\n"
    "subscriber, filter (as YAML), effective delivery, cursor and backlog, in-flight\n"
    "deliveries, retries, dead letters and the last error, and a Failing line while its\n"
    "latest deliveries fail (since when, how many attempts, the last answer's status and\n"
    "body), even while it is Ready; for a subscription the same with its channel and reply\n"
    "instead of broker and filter. For a broker or a channel: its address, the events it\n"
    "holds and the backlog of each trigger or subscription. Other kinds show their readiness\n"
    "and spec. Every kind ends with its conditions: TYPE, STATUS, AGE (since the last\n"
    "change) and REASON. Ages read as kubectl's: 45s, 7m30s, 2h3m, 4d.\n";
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

/* Age: from metadata.creationTimestamp of the resource object. */
static void print_age(const cJSON *obj)
{
    const char *ts = cli__jstr(cli__jget(obj, "metadata", NULL), "creationTimestamp");
    if (!ts)
        return;
    char age[32];
    cli_age(ts, age, sizeof age);
    line("Age:", "%s (created %s)", age, ts);
}

/* The conditions of status.conditions as a table: TYPE, STATUS, AGE (since its last
 * transition), REASON (the messages are on the Ready line). */
static void print_conditions(const cJSON *obj)
{
    const cJSON *conds = cli__jget(cli__jget(obj, "status", NULL), "conditions", NULL);
    if (cJSON_GetArraySize(conds) == 0)
        return;
    puts("\nConditions:");
    cli_table_t t = {.ncols = 4};
    const char *hdr[] = {"  TYPE", "STATUS", "AGE", "REASON"};
    cli__table_row(&t, hdr);
    const cJSON *c;
    cJSON_ArrayForEach(c, conds)
    {
        char type[128], age[32] = "";
        snprintf(type, sizeof type, "  %s", cli__jstr(c, "type") ? cli__jstr(c, "type") : "?");
        if (cli__jstr(c, "lastTransitionTime"))
            cli_age(cli__jstr(c, "lastTransitionTime"), age, sizeof age);
        const char *row[] = {type, cli__jstr(c, "status"), age, cli__jstr(c, "reason")};
        cli__table_row(&t, row);
    }
    cli__table_print(&t);
}

/* "Failing: since <time> (<age> ago), N attempts, last answer 500: <body>" while the latest
 * deliveries fail (stats.failing of the daemon), whatever Ready says. */
static void print_failing(const cJSON *s)
{
    char answer[300];
    cli__last_answer(s, answer, sizeof answer, 200);
    const char *since = cli__jstr(s, "failingSince");
    double attempts = cli__jnum(s, "failedAttempts");
    char age[32] = "", when[96] = "";
    if (since) {
        cli_age(since, age, sizeof age);
        snprintf(when, sizeof when, " since %s (%s ago)", since, age);
    }
    bool http = cli__jnum(s, "lastStatus") > 0;
    line("Failing:", "failing%s, %.0f attempt%s, %s %s", when, attempts, attempts == 1 ? "" : "s",
         http ? "last answer" : "last error", *answer ? answer : "unknown");
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
    const cJSON *obj = cli__jget(o, "resource", NULL);
    line("Name:", "%s", name);
    line("Namespace:", "%s", ns);
    line("Kind:", "%s", kind);
    print_age(obj);
    print_ready(cli__jget(o, "ready", NULL));
    line(trigger ? "Broker:" : "Channel:", "%s",
         cli__jstr(o, log_member) ? cli__jstr(o, log_member) : "");
    line("Subscriber:", "%s",
         cli__jstr(o, "subscriberUri") ? cli__jstr(o, "subscriberUri") : "(unresolved)");
    if (trigger) {
        const cJSON *f = cli__jget(o, "filter", NULL);
        if (f && !cJSON_IsNull(f) && !(cJSON_IsObject(f) && !f->child)) {
            puts("Filter:");
            cli__yaml_node(stdout, f, 2, false);
        } else {
            line("Filter:", "(none: every event)");
        }
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
        if (cJSON_IsTrue(cli__jget(s, "failing", NULL))) {
            print_failing(s); /* says all a "Last error" line would */
        } else if (le && *le) {
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
    print_conditions(obj);
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
    print_age(cli__jget(o, "resource", NULL));
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
    print_conditions(cli__jget(o, "resource", NULL));
}

static void describe_other(const cJSON *obj)
{
    const cJSON *md = cli__jget(obj, "metadata", NULL);
    line("Name:", "%s", cli__jstr(md, "name") ? cli__jstr(md, "name") : "");
    line("Namespace:", "%s", cli__jstr(md, "namespace") ? cli__jstr(md, "namespace") : "");
    line("Kind:", "%s", cli__jstr(obj, "kind") ? cli__jstr(obj, "kind") : "");
    print_age(obj);
    print_ready(cli__ready_cond(obj));
    const cJSON *addr = cli__jget(obj, "status", "address");
    if (cli__jstr(addr, "url"))
        line("Address:", "%s", cli__jstr(addr, "url"));
    puts("Spec:");
    const cJSON *spec = cli__jget(obj, "spec", NULL);
    if (spec && spec->child)
        cli__yaml_node(stdout, spec, 2, false);
    print_conditions(obj);
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
