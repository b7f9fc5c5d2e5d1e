/*
 * cmd_create.c — the kn-style resource commands: `herald broker|trigger|channel|subscription
 * create|update|delete NAME` (and `list`, `describe`, which run `get` and `describe`). create and
 * update build a manifest and POST it to the admin API's /apply, so the daemon checks it exactly
 * as it checks `herald apply -f`; --sink and the other destinations take kn's forms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"
#include "cli.h"
#include "util_io.h"

static const char *const USAGE_BROKER =
    "usage: herald broker create NAME [--class CLASS] [--dl-sink SINK] [-n NAMESPACE]\n"
    "       herald broker update NAME [--dl-sink SINK] [-n NAMESPACE]\n"
    "       herald broker delete NAME [-n NAMESPACE]\n"
    "       herald broker list [-n NAMESPACE | -A] [-o json|yaml]\n"
    "       herald broker describe NAME [-n NAMESPACE]\n"
    "\n"
    "Manages eventing.knative.dev/v1 Brokers as kn does. --class sets the\n"
    "eventing.knative.dev/broker.class annotation (Herald runs class Herald; Knative's\n"
    "MTChannelBasedBroker is taken as Herald). --dl-sink (also --sink-dead-letter) is the\n"
    "broker's spec.delivery.deadLetterSink.\n"
    "SINK is a URL (http://... or https://...), ksvc:NAME (a serving.knative.dev/v1 Service),\n"
    "broker:NAME (a Broker) or channel:NAME (a Channel, or the InMemoryChannel of that name),\n"
    "in the same namespace. The namespace is 'default' unless -n is given.\n";
static const char *const USAGE_TRIGGER =
    "usage: herald trigger create NAME --sink SINK [--broker BROKER] [--filter KEY=VALUE]...\n"
    "                             [--dl-sink SINK] [-n NAMESPACE]\n"
    "       herald trigger update NAME [--sink SINK] [--filter KEY=VALUE|KEY-]...\n"
    "                             [--dl-sink SINK] [-n NAMESPACE]\n"
    "       herald trigger delete NAME [-n NAMESPACE]\n"
    "       herald trigger list [-n NAMESPACE | -A] [-o json|yaml|wide]\n"
    "       herald trigger describe NAME [-n NAMESPACE]\n"
    "\n"
    "Manages eventing.knative.dev/v1 Triggers as kn does. --broker defaults to 'default'.\n"
    "Each --filter adds an exact attribute match to spec.filter.attributes (all must match);\n"
    "on update KEY=VALUE adds or replaces one and KEY- removes one, the others are kept.\n"
    "--sink (also -s) is the subscriber; --dl-sink the dead-letter sink.\n"
    "SINK is a URL (http://... or https://...), ksvc:NAME (a serving.knative.dev/v1 Service),\n"
    "broker:NAME (a Broker) or channel:NAME (a Channel, or the InMemoryChannel of that name),\n"
    "in the same namespace. The namespace is 'default' unless -n is given.\n";
static const char *const USAGE_CHANNEL =
    "usage: herald channel create NAME [--type channel|imc] [--dl-sink SINK] [-n NAMESPACE]\n"
    "       herald channel delete NAME [-n NAMESPACE]\n"
    "       herald channel list [-n NAMESPACE | -A] [-o json|yaml]\n"
    "       herald channel describe NAME [-n NAMESPACE]\n"
    "\n"
    "Manages channels as kn does: a messaging.knative.dev/v1 Channel (the default; Herald runs\n"
    "it as an InMemoryChannel) or, with --type imc, an InMemoryChannel. --dl-sink is its\n"
    "spec.delivery.deadLetterSink. The namespace is 'default' unless -n is given.\n";
static const char *const USAGE_SUBSCRIPTION =
    "usage: herald subscription create NAME --channel CHANNEL --sink SINK [--reply SINK]\n"
    "                                  [--dl-sink SINK] [-n NAMESPACE]\n"
    "       herald subscription update NAME [--sink SINK] [--reply SINK] [--dl-sink SINK]\n"
    "                                  [-n NAMESPACE]\n"
    "       herald subscription delete NAME [-n NAMESPACE]\n"
    "       herald subscription list [-n NAMESPACE | -A] [-o json|yaml]\n"
    "       herald subscription describe NAME [-n NAMESPACE]\n"
    "\n"
    "Manages messaging.knative.dev/v1 Subscriptions as kn does: --channel names a Channel or\n"
    "an InMemoryChannel of the namespace (whichever has that name), --sink (also -s) the "
    "subscriber, --reply (also\n"
    "--sink-reply) where the subscriber's replies go, --dl-sink (also --sink-dead-letter) the\n"
    "dead-letter sink.\n"
    "SINK is a URL (http://... or https://...), ksvc:NAME (a serving.knative.dev/v1 Service),\n"
    "broker:NAME (a Broker) or channel:NAME (a Channel, or the InMemoryChannel of that name),\n"
    "in the same namespace. The namespace is 'default' unless -n is given.\n";

/* What differs between the four kinds. */
typedef struct {
    const char *word;       /* the command: "trigger" */
    const char *kind;       /* "Trigger" */
    const char *api;        /* "eventing.knative.dev/v1" */
    const char *plural;     /* admin path: "triggers" */
    const char *alt_plural; /* also tried by delete/update when not found ("inmemorychannels") */
    const char *usage;
    bool updatable;
} kind_t;

static const kind_t KINDS[] = {
    {"broker", "Broker", "eventing.knative.dev/v1", "brokers", NULL, NULL, true},
    {"trigger", "Trigger", "eventing.knative.dev/v1", "triggers", NULL, NULL, true},
    {"channel", "Channel", "messaging.knative.dev/v1", "channels", "inmemorychannels", NULL, false},
    {"subscription", "Subscription", "messaging.knative.dev/v1", "subscriptions", NULL, NULL, true},
};

static const char *usage_of(const kind_t *k)
{
    if (!strcmp(k->word, "broker"))
        return USAGE_BROKER;
    if (!strcmp(k->word, "trigger"))
        return USAGE_TRIGGER;
    if (!strcmp(k->word, "channel"))
        return USAGE_CHANNEL;
    return USAGE_SUBSCRIPTION;
}

/* ---- destinations ------------------------------------------------------------------------- */

static int fetch(const cli_opts_t *o, const char *plural, const char *ns, const char *name,
                 cJSON **out);

/* The kind of channel NAME is: "InMemoryChannel" when only an InMemoryChannel has that name,
 * else "Channel" (kn's default, also when neither exists yet). */
static const char *channel_kind(const cli_opts_t *o, const char *ns, const char *name)
{
    cJSON *c = NULL;
    if (fetch(o, "channels", ns, name, &c) == CLI_OK && c) {
        cJSON_Delete(c);
        return "Channel";
    }
    if (fetch(o, "inmemorychannels", ns, name, &c) == CLI_OK && c) {
        cJSON_Delete(c);
        return "InMemoryChannel";
    }
    return "Channel";
}

/* A Knative destination from kn's sink forms; NULL (message printed) when `s` is none of them.
 * channel:NAME names the channel of that name, whichever of Channel or InMemoryChannel it is. */
static cJSON *destination(const cli_opts_t *o, const char *ns, const char *flag, const char *s)
{
    static const struct {
        const char *prefix, *api, *kind;
    } refs[] = {
        {"ksvc:", "serving.knative.dev/v1", "Service"},
        {"broker:", "eventing.knative.dev/v1", "Broker"},
        {"channel:", "messaging.knative.dev/v1", "Channel"},
    };
    cJSON *d = cJSON_CreateObject();
    if (!d)
        return NULL;
    if (!strncmp(s, "http://", 7) || !strncmp(s, "https://", 8)) {
        cJSON_AddStringToObject(d, "uri", s);
        return d;
    }
    for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
        size_t n = strlen(refs[i].prefix);
        if (strncmp(s, refs[i].prefix, n))
            continue;
        if (!cli__path_safe(s + n))
            break;
        cJSON *ref = cJSON_AddObjectToObject(d, "ref");
        cJSON_AddStringToObject(ref, "apiVersion", refs[i].api);
        cJSON_AddStringToObject(ref, "kind",
                                strcmp(refs[i].kind, "Channel") ? refs[i].kind
                                                                : channel_kind(o, ns, s + n));
        cJSON_AddStringToObject(ref, "name", s + n);
        return d;
    }
    cJSON_Delete(d);
    cli_error(CLI_USAGE,
              "%s '%s': give a URL (http://... or https://...), ksvc:NAME, broker:NAME or "
              "channel:NAME",
              flag, s);
    return NULL;
}

/* Replaces obj[name] with `v` (owned); returns false when v is NULL. */
static bool put(cJSON *obj, const char *name, cJSON *v)
{
    if (!v)
        return false;
    if (cJSON_GetObjectItemCaseSensitive(obj, name))
        cJSON_ReplaceItemInObjectCaseSensitive(obj, name, v);
    else
        cJSON_AddItemToObject(obj, name, v);
    return true;
}

static cJSON *object_member(cJSON *obj, const char *name)
{
    cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsObject(m))
        return m;
    cJSON *n = cJSON_CreateObject();
    put(obj, name, n);
    return n;
}

/* Sets spec.delivery.deadLetterSink from --dl-sink. */
static bool set_dl_sink(const cli_opts_t *o, const char *ns, cJSON *spec)
{
    return !o->dl_sink || put(object_member(spec, "delivery"), "deadLetterSink",
                              destination(o, ns, "--dl-sink", o->dl_sink));
}

/* Applies --filter KEY=VALUE / KEY- to spec.filter.attributes. */
static void set_filters(cJSON *spec, const cli_opts_t *o)
{
    if (!o->nfilter)
        return;
    cJSON *attrs = object_member(object_member(spec, "filter"), "attributes");
    for (int i = 0; i < o->nfilter; i++) {
        const char *f = o->filter[i], *eq = strchr(f, '=');
        char key[256];
        if (!eq) { /* KEY- */
            snprintf(key, sizeof key, "%.*s", (int)(strlen(f) - 1), f);
            cJSON_DeleteItemFromObjectCaseSensitive(attrs, key);
            continue;
        }
        snprintf(key, sizeof key, "%.*s", (int)(eq - f), f);
        put(attrs, key, cJSON_CreateString(eq + 1));
    }
}

/* ---- the manifest ------------------------------------------------------------------------- */

/* Fills or changes `spec` from the options; returns CLI_OK or the exit code of an error. */
static int fill_spec(const kind_t *k, cJSON *spec, const cli_opts_t *o, const char *ns,
                     bool creating)
{
    const char *u = usage_of(k);
    bool trigger = !strcmp(k->word, "trigger"), sub = !strcmp(k->word, "subscription");
    if ((o->broker && !trigger) || (o->nfilter && !trigger) || (o->channel && !sub) ||
        (o->reply && !sub) || (o->klass && strcmp(k->word, "broker")) ||
        (o->sink && !trigger && !sub) || (o->type && strcmp(k->word, "channel"))) {
        fprintf(stderr, "error: an option that %s %s does not take\n%s", k->word,
                creating ? "create" : "update", u);
        return CLI_USAGE;
    }
    if (trigger) {
        if (creating)
            put(spec, "broker", cJSON_CreateString(o->broker ? o->broker : "default"));
        else if (o->broker)
            put(spec, "broker", cJSON_CreateString(o->broker));
        set_filters(spec, o);
    }
    if (sub && o->channel) {
        if (!cli__path_safe(o->channel))
            return cli_error(CLI_USAGE,
                             "--channel '%s': a channel name (lower-case letters, "
                             "digits, '-' and '.')",
                             o->channel);
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddStringToObject(ch, "apiVersion", "messaging.knative.dev/v1");
        cJSON_AddStringToObject(ch, "kind", channel_kind(o, ns, o->channel));
        cJSON_AddStringToObject(ch, "name", o->channel);
        put(spec, "channel", ch);
    }
    if (o->sink && !put(spec, "subscriber", destination(o, ns, "--sink", o->sink)))
        return CLI_USAGE;
    if (o->reply && !put(spec, "reply", destination(o, ns, "--reply", o->reply)))
        return CLI_USAGE;
    if (!set_dl_sink(o, ns, spec))
        return CLI_USAGE;
    if (creating && (trigger || sub) && !o->sink) {
        fprintf(stderr, "error: %s create needs --sink\n%s", k->word, u);
        return CLI_USAGE;
    }
    if (creating && sub && !o->channel) {
        fprintf(stderr, "error: subscription create needs --channel\n%s", u);
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* A new manifest {apiVersion, kind, metadata {name, namespace}, spec}. */
static cJSON *new_manifest(const char *api, const char *kind, const char *ns, const char *name)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "apiVersion", api);
    cJSON_AddStringToObject(m, "kind", kind);
    cJSON *md = cJSON_AddObjectToObject(m, "metadata");
    cJSON_AddStringToObject(md, "name", name);
    cJSON_AddStringToObject(md, "namespace", ns);
    cJSON_AddObjectToObject(m, "spec");
    return m;
}

/* The manifest of an existing object: what the daemon keeps of it (apiVersion, kind, name,
 * namespace, labels, annotations, spec), to change and apply again. */
static cJSON *manifest_of(const cJSON *obj)
{
    const cJSON *md = cli__jget(obj, "metadata", NULL);
    const char *api = cli__jstr(obj, "apiVersion"), *kind = cli__jstr(obj, "kind");
    cJSON *m = new_manifest(api ? api : "", kind ? kind : "", cli__jstr(md, "namespace"),
                            cli__jstr(md, "name"));
    cJSON *nmd = cJSON_GetObjectItemCaseSensitive(m, "metadata");
    static const char *const keep[] = {"labels", "annotations"};
    for (size_t i = 0; i < 2; i++) {
        const cJSON *v = cli__jget(md, keep[i], NULL);
        if (cJSON_IsObject(v))
            cJSON_AddItemToObject(nmd, keep[i], cJSON_Duplicate(v, 1));
    }
    const cJSON *spec = cli__jget(obj, "spec", NULL);
    if (cJSON_IsObject(spec))
        cJSON_ReplaceItemInObjectCaseSensitive(m, "spec", cJSON_Duplicate(spec, 1));
    return m;
}

/* ---- talking to the daemon ---------------------------------------------------------------- */

/* GETs the object; CLI_OK with *out set (owned) or NULL when it does not exist. */
static int fetch(const cli_opts_t *o, const char *plural, const char *ns, const char *name,
                 cJSON **out)
{
    *out = NULL;
    char path[700];
    snprintf(path, sizeof path, "/v1/resources/%s/%s/%s", plural, ns, name);
    cli_resp_t r;
    int rc = cli__http(o, "GET", path, NULL, 0, NULL, &r);
    if (rc)
        return rc;
    if (r.status == 404) {
        free(r.body.data);
        return CLI_OK;
    }
    if (r.status != 200) {
        rc = cli__answer_error(&r);
        free(r.body.data);
        return rc;
    }
    *out = r.body.data ? cJSON_Parse(r.body.data) : NULL;
    free(r.body.data);
    return *out ? CLI_OK : cli_error(CLI_INVALID, "heraldd answered with a body that is not JSON");
}

/* POSTs the manifest to /apply and prints kn's line, plus the reason when it is not Ready. */
static int apply(const cli_opts_t *o, const kind_t *k, cJSON *manifest, const char *ns,
                 const char *name, const char *verb)
{
    char *text = cJSON_PrintUnformatted(manifest);
    if (!text)
        return cli_error(CLI_INVALID, "out of memory");
    cJSON *res = NULL;
    int rc = cli__call_json(o, "POST", "/apply", text, strlen(text), "application/json", &res);
    free(text);
    if (rc)
        return rc;
    printf("%s '%s' %s in namespace '%s'.\n", k->kind, name, verb, ns);
    const cJSON *rcond = cli__ready_cond(cJSON_GetArrayItem(cli__jget(res, "items", NULL), 0));
    const char *st = cli__jstr(rcond, "status");
    if (rcond && st && strcmp(st, "True"))
        printf("  not ready yet: %s: %s\n",
               cli__jstr(rcond, "reason") ? cli__jstr(rcond, "reason") : "Unknown",
               cli__jstr(rcond, "message") ? cli__jstr(rcond, "message") : "");
    cJSON_Delete(res);
    return CLI_OK;
}

static int do_create(const cli_opts_t *o, const kind_t *k, const char *ns, const char *name)
{
    cJSON *existing = NULL;
    int rc = fetch(o, k->plural, ns, name, &existing);
    if (!rc && !existing && k->alt_plural)
        rc = fetch(o, k->alt_plural, ns, name, &existing);
    if (rc)
        return rc;
    if (existing) {
        cJSON_Delete(existing);
        return cli_error(CLI_INVALID, "%s '%s' already exists in namespace '%s'%s", k->kind, name,
                         ns, k->updatable ? " (use update to change it)" : "");
    }
    const char *kind = k->kind;
    if (o->type) {
        if (!strcmp(o->type, "imc") || !strcmp(o->type, "InMemoryChannel"))
            kind = "InMemoryChannel";
        else if (strcmp(o->type, "channel") && strcmp(o->type, "Channel"))
            return cli_error(CLI_USAGE, "--type '%s': channel or imc", o->type);
    }
    cJSON *m = new_manifest(k->api, kind, ns, name);
    cJSON *spec = cJSON_GetObjectItemCaseSensitive(m, "spec");
    if (o->klass)
        cJSON_AddStringToObject(
            cJSON_AddObjectToObject(cJSON_GetObjectItemCaseSensitive(m, "metadata"), "annotations"),
            "eventing.knative.dev/broker.class", o->klass);
    if (!(rc = fill_spec(k, spec, o, ns, true)))
        rc = apply(o, k, m, ns, name, "successfully created");
    cJSON_Delete(m);
    return rc;
}

static int do_update(const cli_opts_t *o, const kind_t *k, const char *ns, const char *name)
{
    if (!k->updatable)
        return cli_error(CLI_USAGE, "a %s has nothing to update; delete and create it", k->word);
    if (o->klass)
        return cli_error(CLI_USAGE, "--class cannot change: a broker's class is immutable");
    cJSON *existing = NULL;
    int rc = fetch(o, k->plural, ns, name, &existing);
    if (rc)
        return rc;
    if (!existing)
        return cli_error(CLI_INVALID, "%s '%s' not found in namespace '%s'", k->kind, name, ns);
    cJSON *m = manifest_of(existing);
    cJSON_Delete(existing);
    if (!(rc = fill_spec(k, cJSON_GetObjectItemCaseSensitive(m, "spec"), o, ns, false)))
        rc = apply(o, k, m, ns, name, "updated");
    cJSON_Delete(m);
    return rc;
}

static int do_delete(const cli_opts_t *o, const kind_t *k, const char *ns, const char *name)
{
    for (int pass = 0; pass < 2; pass++) {
        const char *plural = pass ? k->alt_plural : k->plural;
        if (!plural)
            break;
        char path[700];
        snprintf(path, sizeof path, "/v1/resources/%s/%s/%s", plural, ns, name);
        cli_resp_t r;
        int rc = cli__http(o, "DELETE", path, NULL, 0, NULL, &r);
        if (rc)
            return rc;
        if (r.status == 404 && k->alt_plural && !pass) {
            free(r.body.data);
            continue;
        }
        if (r.status < 200 || r.status > 299) {
            rc = cli__answer_error(&r);
            free(r.body.data);
            return rc;
        }
        free(r.body.data);
        printf("%s '%s' deleted in namespace '%s'.\n", k->kind, name, ns);
        return CLI_OK;
    }
    return cli_error(CLI_INVALID, "%s '%s' not found in namespace '%s'", k->kind, name, ns);
}

/* `herald KIND list|describe ...` runs `herald get|describe KIND ...` with the same options. */
static int redirect(int argc, char **argv, const char *cmd, const kind_t *k)
{
    char **v = calloc((size_t)argc + 1, sizeof *v);
    if (!v)
        return cli_error(CLI_INVALID, "out of memory");
    v[0] = (char *)cmd;
    v[1] = (char *)k->word;
    int n = 2;
    bool skipped = false;
    for (int i = 1; i < argc; i++) {
        if (!skipped && (!strcmp(argv[i], "list") || !strcmp(argv[i], "describe"))) {
            skipped = true;
            continue;
        }
        v[n++] = argv[i];
    }
    int rc = !strcmp(cmd, "get") ? cli__cmd_get(n, v) : cli__cmd_describe(n, v);
    free(v);
    return rc;
}

int cli__cmd_kind(int argc, char **argv)
{
    const kind_t *k = NULL;
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (!strcmp(argv[0], KINDS[i].word))
            k = &KINDS[i];
    if (!k)
        return cli_error(CLI_USAGE, "unknown command '%s'", argv[0]);
    const char *u = usage_of(k);
    /* the verb is the first argument that is not an option */
    const char *verb = argc > 1 && argv[1][0] != '-' ? argv[1] : NULL;
    if (verb && (!strcmp(verb, "list") || !strcmp(verb, "ls")))
        return redirect(argc, argv, "get", k);
    if (verb && !strcmp(verb, "describe"))
        return redirect(argc, argv, "describe", k);
    cli_opts_t o;
    int rc = cli__parse_opts(argc, argv, u, &o);
    if (rc)
        return rc;
    if (o.help || (o.npos == 1 && !strcmp(o.pos[0], "help"))) {
        fputs(u, stdout);
        return CLI_OK;
    }
    if (o.npos != 2 ||
        (strcmp(o.pos[0], "create") && strcmp(o.pos[0], "update") && strcmp(o.pos[0], "delete"))) {
        fprintf(stderr, "error: %s takes create|update|delete NAME (or list, describe)\n%s",
                k->word, u);
        return CLI_USAGE;
    }
    if (o.all_ns || o.output || o.watch) {
        fprintf(stderr, "error: -A, -o and -w are options of list\n%s", u);
        return CLI_USAGE;
    }
    const char *ns = o.ns ? o.ns : "default", *name = o.pos[1];
    if (!cli__path_safe(ns) || !cli__path_safe(name))
        return cli_error(CLI_INVALID, "names are lower-case letters, digits, '-' and '.'");
    if (!strcmp(o.pos[0], "create"))
        return do_create(&o, k, ns, name);
    if (!strcmp(o.pos[0], "update"))
        return do_update(&o, k, ns, name);
    return do_delete(&o, k, ns, name);
}
