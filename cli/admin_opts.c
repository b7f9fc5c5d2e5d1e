/*
 * admin_opts.c — the option parser every broker command of `herald` shares, and cli_admin(),
 * which runs one of those commands (cli.h).
 */
#include <curl/curl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"
#include "cli.h"

/* The options that take a value: long name, short name (or NULL), and where the value goes. */
typedef enum { SLOT_STR, SLOT_EXT, SLOT_FIELD, SLOT_FILTER, SLOT_COUNT, SLOT_WATCH_TIMEOUT } slot_t;

typedef struct {
    const char *name, *alias;
    size_t off; /* offsetof the const char * member (SLOT_STR) */
    slot_t slot;
} value_opt_t;

#define STR(n, a, m)                                                                               \
    {                                                                                              \
        n, a, offsetof(cli_opts_t, m), SLOT_STR                                                    \
    }
static const value_opt_t value_opts[] = {
    STR("--admin", NULL, admin),
    STR("--namespace", "-n", ns),
    STR("--output", "-o", output),
    STR("--filename", "-f", file),
    STR("--type", NULL, type),
    STR("--source", NULL, source),
    STR("--id", NULL, id),
    STR("--data", NULL, data),
    STR("--content-type", "--datacontenttype", ct),
    STR("--subject", NULL, subject),
    STR("--time", NULL, time),
    STR("--seq", NULL, seq),
    STR("--from", NULL, from),
    STR("--broker", NULL, broker),
    STR("--channel", NULL, channel),
    STR("--sink", "-s", sink),
    STR("--reply", "--sink-reply", reply),
    STR("--dl-sink", "--sink-dead-letter", dl_sink),
    STR("--class", NULL, klass),
    {"--ext", NULL, 0, SLOT_EXT},
    {"--field", NULL, 0, SLOT_FIELD},
    {"--filter", NULL, 0, SLOT_FILTER},
    {"--count", NULL, 0, SLOT_COUNT},
    {"--watch-timeout", NULL, 0, SLOT_WATCH_TIMEOUT},
};
#undef STR

/* Matches `a` against one name: "--name" (value in the next argument) or "--name=value". */
static bool opt_match(const char *a, const char *name, const char **inline_val)
{
    size_t n = strlen(name);
    if (strncmp(a, name, n))
        return false;
    if (a[n] == '\0') {
        *inline_val = NULL;
        return true;
    }
    if (a[n] == '=') {
        *inline_val = a + n + 1;
        return true;
    }
    return false;
}

static int store_value(cli_opts_t *o, const value_opt_t *vo, const char *v, const char *usage)
{
    switch (vo->slot) {
    case SLOT_STR:
        *(const char **)((char *)o + vo->off) = v;
        return CLI_OK;
    case SLOT_EXT:
        if (o->next == CLI_MAX_EXT || !strchr(v, '=') || v[0] == '=') {
            fprintf(stderr, "error: --ext takes NAME=VALUE (at most %d)\n%s", CLI_MAX_EXT, usage);
            return CLI_USAGE;
        }
        o->ext[o->next++] = v;
        return CLI_OK;
    case SLOT_FIELD:
        if (o->nfield == CLI_MAX_MULTI || !strchr(v, '=') || v[0] == '=') {
            fprintf(stderr, "error: --field takes PATH=VALUE, e.g. a.b=1 (at most %d)\n%s",
                    CLI_MAX_MULTI, usage);
            return CLI_USAGE;
        }
        o->field[o->nfield++] = v;
        return CLI_OK;
    case SLOT_FILTER: {
        size_t l = strlen(v);
        bool remove = l > 1 && v[l - 1] == '-' && !strchr(v, '=');
        if (o->nfilter == CLI_MAX_MULTI || (!remove && (!strchr(v, '=') || v[0] == '='))) {
            fprintf(stderr,
                    "error: --filter takes ATTRIBUTE=VALUE (or ATTRIBUTE- to remove it; at "
                    "most %d)\n%s",
                    CLI_MAX_MULTI, usage);
            return CLI_USAGE;
        }
        o->filter[o->nfilter++] = v;
        return CLI_OK;
    }
    case SLOT_COUNT: {
        char *end;
        o->count = strtol(v, &end, 10);
        if (!*v || *end || o->count < 1) {
            fprintf(stderr, "error: --count takes a positive number\n%s", usage);
            return CLI_USAGE;
        }
        return CLI_OK;
    }
    case SLOT_WATCH_TIMEOUT: {
        char *end;
        o->watch_timeout = strtod(v, &end);
        if (!*v || *end || !(o->watch_timeout > 0) || o->watch_timeout > 86400) {
            fprintf(stderr, "error: --watch-timeout takes seconds (0 < S <= 86400)\n%s", usage);
            return CLI_USAGE;
        }
        return CLI_OK;
    }
    }
    return CLI_USAGE;
}

/* Parses the options after argv[0] (the command). Returns CLI_OK or CLI_USAGE. */
int cli__parse_opts(int argc, char **argv, const char *usage, cli_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->admin = getenv("HERALD_ADMIN");
    if (!o->admin || !*o->admin)
        o->admin = CLI_ADMIN_DEFAULT;
    o->count = -1;
    bool no_more_opts = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!no_more_opts && a[0] == '-' && a[1]) {
            if (!strcmp(a, "--")) {
                no_more_opts = true;
                continue;
            }
            if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
                o->help = true;
                continue;
            }
            if (!strcmp(a, "-A") || !strcmp(a, "--all-namespaces")) {
                o->all_ns = true;
                continue;
            }
            if (!strcmp(a, "-w") || !strcmp(a, "--watch")) {
                o->watch = true;
                continue;
            }
            const value_opt_t *vo = NULL;
            const char *v = NULL;
            for (size_t k = 0; k < sizeof value_opts / sizeof value_opts[0] && !vo; k++)
                if (opt_match(a, value_opts[k].name, &v) ||
                    (value_opts[k].alias && opt_match(a, value_opts[k].alias, &v)))
                    vo = &value_opts[k];
            if (!vo) {
                fprintf(stderr, "error: unknown option '%s'\n%s", a, usage);
                return CLI_USAGE;
            }
            if (!v) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "error: %s needs a value\n%s", a, usage);
                    return CLI_USAGE;
                }
                v = argv[++i];
            }
            int rc = store_value(o, vo, v, usage);
            if (rc)
                return rc;
            continue;
        }
        if (o->npos == 4) {
            fprintf(stderr, "error: too many arguments\n%s", usage);
            return CLI_USAGE;
        }
        o->pos[o->npos++] = a;
    }
    if (o->output && strcmp(o->output, "json") && strcmp(o->output, "yaml") &&
        strcmp(o->output, "wide")) {
        fprintf(stderr, "error: -o takes json, yaml or wide\n%s", usage);
        return CLI_USAGE;
    }
    if (o->all_ns && o->ns) {
        fprintf(stderr, "error: -A and -n exclude each other\n%s", usage);
        return CLI_USAGE;
    }
    /* --admin http://host/ names the same daemon as --admin http://host */
    static char admin[1024];
    size_t al = strlen(o->admin);
    if (al > 1 && al < sizeof admin && o->admin[al - 1] == '/') {
        memcpy(admin, o->admin, al - 1);
        admin[al - 1] = '\0';
        o->admin = admin;
    }
    return CLI_OK;
}

int cli_admin(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"apply", cli__cmd_apply},    {"get", cli__cmd_get},       {"describe", cli__cmd_describe},
        {"delete", cli__cmd_delete},  {"send", cli__cmd_send},     {"tail", cli__cmd_tail},
        {"dlq", cli__cmd_dlq},        {"replay", cli__cmd_replay}, {"broker", cli__cmd_kind},
        {"trigger", cli__cmd_kind},   {"channel", cli__cmd_kind},  {"subscription", cli__cmd_kind},
        {"version", cli__cmd_version}};
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
