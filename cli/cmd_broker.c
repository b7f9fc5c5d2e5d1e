/*
 * cmd_broker.c — `herald send|tail|dlq|replay`: events in and out of a broker, and the dead
 * letters and replays of a trigger, and the same for a channel and its subscriptions, through
 * heraldd's admin API.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin_internal.h"
#include "cli.h"
#include "herald/ce_json.h"
#include "util_event.h"
#include "util_io.h"

static const char *const USAGE_SEND =
    "usage: herald send [broker:|channel:]NS/NAME (-f FILE|- | --type T --source S [options])\n"
    "\n"
    "Stores one event in a broker (NS/NAME, NAME in -n's namespace, or broker:NS/NAME) or a\n"
    "channel (channel:NS/NAME) through the admin API, with the same checks as the ingress.\n"
    "Takes the options of `herald event send` that build the event:\n" CLI_EVENT_OPTIONS_HELP
    "  --admin URL       the daemon (default HERALD_ADMIN, else " CLI_ADMIN_DEFAULT ")\n"
    "Prints \"event ID accepted by broker NS/NAME (202)\", as `herald event send` does.\n";
static const char *const USAGE_TAIL =
    "usage: herald tail [broker:|channel:]NS/NAME [--from SEQ] [--count N] [--admin URL]\n"
    "\n"
    "Prints the events of a broker (NS/NAME or broker:NS/NAME) or a channel\n"
    "(channel:NS/NAME) as they are stored, one JSON-format event per line, until interrupted\n"
    "(or after N events with --count). --from SEQ starts at an older event: a first line on\n"
    "stderr says how many stored events come before the live ones, and which of those asked\n"
    "for are already gone (deleted by retention).\n"
    "A reader too slow to keep up loses events (counted in herald_tail_dropped_total).\n"
    "\n"
    "Retention: an event is deleted once every trigger (subscription) of its broker (channel)\n"
    "is done with it and it is older than retention.min_age, or once it is older than\n"
    "retention.max_age even if undelivered (heraldd --help lists both settings).\n";
static const char *const USAGE_DLQ =
    "usage: herald dlq list [trigger:|subscription:]NAME [-n NAMESPACE] [-o json|yaml]\n"
    "                       [--admin URL]\n"
    "       herald dlq replay [trigger:|subscription:]NAME [--seq N] [-n NAMESPACE]\n"
    "                         [--admin URL]\n"
    "\n"
    "Dead letters are events a trigger (NAME or trigger:NAME) or a subscription\n"
    "(subscription:NAME or sub:NAME) gave up on when it has no dead-letter sink. 'list' shows\n"
    "them with the last error; 'replay' sends them (or only seq N) to the subscriber again.\n";
static const char *const USAGE_REPLAY =
    "usage: herald replay [trigger:|subscription:]NAME --from SEQ|TIME [-n NAMESPACE]\n"
    "                     [--admin URL]\n"
    "\n"
    "Delivers the events of a trigger (NAME or trigger:NAME) or a subscription\n"
    "(subscription:NAME or sub:NAME) again from a sequence number or an RFC 3339 time\n"
    "(2026-01-02T15:04:05Z) on, as long as its broker or channel still holds them. Prints\n"
    "how many events are replayed (those its filter passes) and which of those asked for are\n"
    "already gone.\n"
    "\n"
    "Retention: an event is deleted once every trigger (subscription) of its broker (channel)\n"
    "is done with it and it is older than retention.min_age, or once it is older than\n"
    "retention.max_age even if undelivered. Raise retention.min_age (heraldd's settings) to\n"
    "replay further back.\n";

/* ---- targets ----------------------------------------------------------------------------- */

/* What send and tail address: an event log, by kind word, admin path segment and the word for
 * it in messages. */
typedef struct {
    const char *word;     /* "broker", "channel" */
    const char *endpoint; /* "brokers", "channels" */
} log_kind_t;

static const log_kind_t LOG_BROKER = {"broker", "brokers"};
static const log_kind_t LOG_CHANNEL = {"channel", "channels"};

/* What dlq and replay address: a consumer of a log. */
typedef struct {
    const char *word;     /* "trigger", "subscription" */
    const char *endpoint; /* "triggers", "subscriptions" */
    const char *log_word; /* what it reads: "broker", "channel" */
} consumer_kind_t;

static const consumer_kind_t CONSUMER_TRIGGER = {"trigger", "triggers", "broker"};
static const consumer_kind_t CONSUMER_SUBSCRIPTION = {"subscription", "subscriptions", "channel"};

/* Returns the rest of `arg` after `prefix`, or NULL when arg does not start with it. */
static const char *after(const char *arg, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(arg, prefix, n) ? NULL : arg + n;
}

/*
 * Splits "[broker:|channel:]NS/NAME" (or NAME in -n's namespace, default "default") into *kind,
 * ns and name. Returns CLI_OK, or CLI_INVALID with the message printed.
 */
static int split_target(const char *arg, const char *ns_opt, const log_kind_t **kind, char *ns,
                        size_t ncap, char *name, size_t cap)
{
    const char *rest;
    *kind = &LOG_BROKER;
    if ((rest = after(arg, "channel:")))
        *kind = &LOG_CHANNEL;
    else if (!(rest = after(arg, "broker:")))
        rest = arg;
    const char *slash = strchr(rest, '/');
    if (slash) {
        snprintf(ns, ncap, "%.*s", (int)(slash - rest), rest);
        snprintf(name, cap, "%s", slash + 1);
    } else {
        snprintf(ns, ncap, "%s", ns_opt ? ns_opt : "default");
        snprintf(name, cap, "%s", rest);
    }
    if (!cli__path_safe(ns) || !cli__path_safe(name)) {
        if (*kind == &LOG_CHANNEL)
            return cli_error(CLI_INVALID,
                             "'%s' is not channel:NAMESPACE/CHANNEL (lower-case letters, digits, "
                             "'-' and '.')",
                             arg);
        return cli_error(CLI_INVALID,
                         "'%s' is not NAMESPACE/BROKER (lower-case letters, digits, '-' "
                         "and '.')",
                         arg);
    }
    return CLI_OK;
}

/* Splits "[trigger:|subscription:|sub:]NAME" into *kind and the name (borrowed from arg). */
static const char *split_consumer(const char *arg, const consumer_kind_t **kind)
{
    const char *rest;
    *kind = &CONSUMER_SUBSCRIPTION;
    if ((rest = after(arg, "subscription:")) || (rest = after(arg, "sub:")))
        return rest;
    *kind = &CONSUMER_TRIGGER;
    return (rest = after(arg, "trigger:")) ? rest : arg;
}

/* ---- send ----------------------------------------------------------------------------------- */

int cli__cmd_send(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli__parse_opts(argc, argv, USAGE_SEND, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(USAGE_SEND, stdout);
        return CLI_OK;
    }
    if (o.npos != 1) {
        fprintf(stderr, "error: send takes NAMESPACE/BROKER or channel:NAMESPACE/CHANNEL\n%s",
                USAGE_SEND);
        return CLI_USAGE;
    }
    if (!o.file && (!o.type || !o.source)) {
        fprintf(stderr, "error: send needs --type and --source (or -f event.json)\n%s", USAGE_SEND);
        return CLI_USAGE;
    }
    if (o.file && (o.type || o.source || o.data || o.id || o.next || o.subject || o.ct || o.time ||
                   o.nfield)) {
        fprintf(stderr,
                "error: -f takes a whole event; do not combine it with attribute "
                "options\n%s",
                USAGE_SEND);
        return CLI_USAGE;
    }
    char ns[128], name[256];
    const log_kind_t *lk;
    if ((rc = split_target(o.pos[0], o.ns, &lk, ns, sizeof ns, name, sizeof name)))
        return rc;
    cli_event_args_t a = {.file = o.file,
                          .type = o.type,
                          .source = o.source,
                          .id = o.id,
                          .data = o.data,
                          .ct = o.ct,
                          .subject = o.subject,
                          .time = o.time,
                          .ext = o.ext,
                          .ext_count = (size_t)o.next,
                          .fields = o.field,
                          .field_count = (size_t)o.nfield};
    ce_event_t *ev = NULL;
    if ((rc = cli_build_event(&a, &ev)))
        return rc;
    ce_buf_t body = {0};
    if (ce_json_encode(ev, &body) != CE_E_OK) {
        ce_buf_free(&body);
        ce_event_free(ev);
        return cli_error(CLI_INVALID, "out of memory");
    }
    char path[600];
    snprintf(path, sizeof path, "/v1/%s/%s/%s/events", lk->endpoint, ns, name);
    /* the admin answers as the ingress does: 202 with no body once the event is stored */
    cli_resp_t r;
    rc = cli__http(&o, "POST", path, body.data, body.len, "application/cloudevents+json", &r);
    ce_buf_free(&body);
    if (rc == CLI_OK) {
        if (r.status < 200 || r.status > 299)
            rc = cli__answer_error(&r);
        else {
            char where[512];
            snprintf(where, sizeof where, "%s %s/%s", lk->word, ns, name);
            cli_print_sent(ev, where, r.status);
        }
        free(r.body.data);
    }
    ce_event_free(ev);
    return rc;
}

/* ---- tail ----------------------------------------------------------------------------------- */

typedef struct {
    long status;
    long left; /* events still to print, -1 = unlimited */
    bool stop;
    cli_buf_t err; /* body of a non-200 answer */
    /* --from: what heraldd's headers say the tail covers, told on stderr before any event */
    const char *target; /* "broker shop/b" */
    bool from, has_info;
    unsigned long long last, first, start, gone, replayed;
} tail_ctx_t;

/* The first line of a tail --from, on stderr: the stored events coming, and the gone ones. */
static void tail_info(const tail_ctx_t *t)
{
    if (t->start > t->last)
        fprintf(stderr,
                "tail of %s from seq %llu: nothing stored there yet (the last is %llu); "
                "waiting for new events\n",
                t->target, t->start, t->last);
    else
        fprintf(stderr,
                "tail of %s from seq %llu: %llu stored event%s (up to seq %llu), then new "
                "ones\n",
                t->target, t->start, t->replayed, t->replayed == 1 ? "" : "s", t->last);
    if (t->gone && t->first)
        fprintf(stderr,
                "seq %llu..%llu already gone: deleted by retention (the first kept is "
                "%llu)\n",
                t->start, t->start + t->gone - 1, t->first);
    else if (t->gone)
        fprintf(stderr, "seq %llu..%llu already gone: deleted by retention (none is kept)\n",
                t->start, t->start + t->gone - 1);
}

static size_t tail_write(char *p, size_t size, size_t n, void *arg)
{
    tail_ctx_t *t = arg;
    size_t len = size * n;
    if (t->status == 0)
        t->status = 200;
    if (t->status != 200)
        return cli__buf_write(p, size, n, &t->err);
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
    size_t len = size * n;
    if (len > 9 && !strncmp(p, "HTTP/1.", 7) && sscanf(p + 9, "%d", &code) == 1)
        t->status = code;
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {{"x-herald-last-seq:", offsetof(tail_ctx_t, last)},
                  {"x-herald-first-available:", offsetof(tail_ctx_t, first)},
                  {"x-herald-from:", offsetof(tail_ctx_t, start)},
                  {"x-herald-gone:", offsetof(tail_ctx_t, gone)},
                  {"x-herald-replayed:", offsetof(tail_ctx_t, replayed)}};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        size_t nl = strlen(fields[i].name);
        if (len > nl && !strncasecmp(p, fields[i].name, nl)) {
            *(unsigned long long *)((char *)t + fields[i].off) = strtoull(p + nl, NULL, 10);
            t->has_info = true;
        }
    }
    /* the end of the headers: say what the stream covers before the first event */
    if (len <= 2 && t->status == 200 && t->from && t->has_info)
        tail_info(t);
    return len;
}

int cli__cmd_tail(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli__parse_opts(argc, argv, USAGE_TAIL, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(USAGE_TAIL, stdout);
        return CLI_OK;
    }
    if (o.npos != 1) {
        fprintf(stderr, "error: tail takes NAMESPACE/BROKER or channel:NAMESPACE/CHANNEL\n%s",
                USAGE_TAIL);
        return CLI_USAGE;
    }
    char ns[128], name[256];
    const log_kind_t *lk;
    if ((rc = split_target(o.pos[0], o.ns, &lk, ns, sizeof ns, name, sizeof name)))
        return rc;
    char url[1200];
    snprintf(url, sizeof url, "%s/v1/%s/%s/%s/tail", o.admin, lk->endpoint, ns, name);
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
    char target[600];
    snprintf(target, sizeof target, "%s %s/%s", lk->word, ns, name);
    t.target = target;
    t.from = o.from != NULL;
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
        cli_resp_t r = {t.status, t.err};
        rc = cli__answer_error(&r);
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

int cli__cmd_dlq(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli__parse_opts(argc, argv, USAGE_DLQ, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(USAGE_DLQ, stdout);
        return CLI_OK;
    }
    if (o.npos != 2 || (strcmp(o.pos[0], "list") && strcmp(o.pos[0], "replay"))) {
        fprintf(stderr, "error: dlq takes list|replay TRIGGER or subscription:NAME\n%s", USAGE_DLQ);
        return CLI_USAGE;
    }
    const consumer_kind_t *ck;
    const char *ns = o.ns ? o.ns : "default", *name = split_consumer(o.pos[1], &ck);
    if (!cli__path_safe(ns) || !cli__path_safe(name))
        return cli_error(CLI_INVALID, "names are lower-case letters, digits, '-' and '.'");
    char path[700];
    cJSON *res = NULL;
    if (!strcmp(o.pos[0], "replay")) {
        if (o.seq) {
            for (const char *p = o.seq; *p; p++)
                if (!isdigit((unsigned char)*p))
                    return cli_error(CLI_USAGE, "--seq takes a sequence number");
            snprintf(path, sizeof path, "/v1/%s/%s/%s/dlq/replay?seq=%s", ck->endpoint, ns, name,
                     o.seq);
        } else {
            snprintf(path, sizeof path, "/v1/%s/%s/%s/dlq/replay", ck->endpoint, ns, name);
        }
        if ((rc = cli__call_json(&o, "POST", path, NULL, 0, NULL, &res)))
            return rc;
        double n = cli__jnum(res, "replayed");
        printf("%.0f dead letter%s of %s %s/%s sent for delivery again\n", n, n == 1 ? "" : "s",
               ck->word, ns, name);
        cJSON_Delete(res);
        return CLI_OK;
    }
    snprintf(path, sizeof path, "/v1/%s/%s/%s/dlq", ck->endpoint, ns, name);
    if ((rc = cli__call_json(&o, "GET", path, NULL, 0, NULL, &res)))
        return rc;
    const cJSON *items = cli__jget(res, "items", NULL);
    if (o.output && strcmp(o.output, "wide")) {
        if (!strcmp(o.output, "json"))
            cli__print_json(items);
        else
            cli__yaml_node(stdout, items, 0, false);
    } else if (cJSON_GetArraySize(items) == 0) {
        printf("No dead letters for %s %s/%s.\n", ck->word, ns, name);
    } else {
        cli_table_t t = {.ncols = 6};
        const char *hdr[] = {"SEQ", "TIME", "STATUS", "ID", "TYPE", "ERROR"};
        cli__table_row(&t, hdr);
        const cJSON *it;
        cJSON_ArrayForEach(it, items)
        {
            char seq[32], st[16];
            snprintf(seq, sizeof seq, "%.0f", cli__jnum(it, "seq"));
            double s = cli__jnum(it, "status");
            snprintf(st, sizeof st, "%s", s > 0 ? "" : "-");
            if (s > 0)
                snprintf(st, sizeof st, "%.0f", s);
            const cJSON *ev = cli__jget(it, "event", NULL);
            const char *row[] = {seq,
                                 cli__jstr(it, "time"),
                                 st,
                                 ev ? cli__jstr(ev, "id") : "(trimmed)",
                                 ev ? cli__jstr(ev, "type") : "",
                                 cli__jstr(it, "error")};
            cli__table_row(&t, row);
        }
        cli__table_print(&t);
    }
    cJSON_Delete(res);
    return CLI_OK;
}

int cli__cmd_replay(int argc, char **argv)
{
    cli_opts_t o;
    int rc = cli__parse_opts(argc, argv, USAGE_REPLAY, &o);
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
    const consumer_kind_t *ck;
    const char *ns = o.ns ? o.ns : "default", *name = split_consumer(o.pos[0], &ck);
    if (!cli__path_safe(ns) || !cli__path_safe(name))
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
    snprintf(path, sizeof path, "/v1/%s/%s/%s/replay?from=%s", ck->endpoint, ns, name, from);
    cJSON *res = NULL;
    if ((rc = cli__call_json(&o, "POST", path, NULL, 0, NULL, &res)))
        return rc;
    double from_seq = cli__jnum(res, "from"), to = cli__jnum(res, "to");
    if (!cJSON_GetObjectItemCaseSensitive(res, "replayed")) {
        /* an older heraldd: no counts */
        printf("%s %s/%s replays from seq %.0f (the %s's last is %.0f)\n", ck->word, ns, name,
               from_seq, ck->log_word, to);
    } else {
        double replayed = cli__jnum(res, "replayed"), events = cli__jnum(res, "events"),
               gone = cli__jnum(res, "gone"), first = cli__jnum(res, "firstAvailable");
        bool exact = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(res, "replayedExact"));
        double start = from_seq + gone;
        if (start > to)
            printf("%s %s/%s: 0 events replayed (nothing stored from seq %.0f on; the %s's last "
                   "is %.0f)\n",
                   ck->word, ns, name, start, ck->log_word, to);
        else if (replayed == events && exact)
            printf("%s %s/%s: %.0f event%s replayed (seq %.0f..%.0f)\n", ck->word, ns, name,
                   replayed, replayed == 1 ? "" : "s", start, to);
        else
            printf("%s %s/%s: %s%.0f event%s replayed (seq %.0f..%.0f: %.0f stored, %s)\n",
                   ck->word, ns, name, exact ? "" : "at most ", replayed, replayed == 1 ? "" : "s",
                   start, to, events,
                   exact ? "the others do not match its filter"
                         : "only the first 10000 were filtered");
        if (gone > 0 && first > 0)
            printf("seq %.0f..%.0f already gone: deleted by retention (the first kept is %.0f; "
                   "retention.min_age keeps delivered events longer)\n",
                   from_seq, from_seq + gone - 1, first);
        else if (gone > 0)
            printf("seq %.0f..%.0f already gone: deleted by retention (the %s keeps no events; "
                   "retention.min_age keeps delivered events longer)\n",
                   from_seq, from_seq + gone - 1, ck->log_word);
    }
    cJSON_Delete(res);
    return CLI_OK;
}
