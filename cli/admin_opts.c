/*
 * admin_opts.c — the option parser every broker command of `herald` shares, and cli_admin(),
 * which runs one of those commands (cli.h).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"
#include "cli.h"

/* Parses the options after argv[0] (the command). Returns CLI_OK or CLI_USAGE. */
int cli__parse_opts(int argc, char **argv, const char *usage, cli_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->admin = getenv("HERALD_ADMIN");
    if (!o->admin || !*o->admin)
        o->admin = CLI_ADMIN_DEFAULT;
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
                if (o->next == CLI_MAX_EXT || !strchr(v, '=') || v[0] == '=') {
                    fprintf(stderr, "error: --ext takes NAME=VALUE (at most %d)\n%s", CLI_MAX_EXT,
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

int cli_admin(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {{"apply", cli__cmd_apply},       {"get", cli__cmd_get},
                {"describe", cli__cmd_describe}, {"delete", cli__cmd_delete},
                {"send", cli__cmd_send},         {"tail", cli__cmd_tail},
                {"dlq", cli__cmd_dlq},           {"replay", cli__cmd_replay}};
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
