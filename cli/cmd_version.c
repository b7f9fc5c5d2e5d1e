/*
 * cmd_version.c — `herald version`: this client's version and commit, then the daemon's from the
 * admin API (GET /version, else the herald_build_info series of /metrics) when it answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"
#include "cli.h"
#include "util_io.h"

#ifndef HERALD_VERSION
#define HERALD_VERSION "unknown"
#endif
#ifndef HERALD_COMMIT
#define HERALD_COMMIT "unknown"
#endif

static const char *const USAGE_VERSION =
    "usage: herald version [--client] [-o json|yaml] [--admin URL]\n"
    "\n"
    "Prints the version and commit of this client and, when the daemon answers on the admin\n"
    "URL, of heraldd; when it does not, the client's and the error (exit code 3), as kubectl.\n"
    "--client prints the client's alone without asking the daemon.\n";

/* Copies the value of label `name` in a Prometheus series line into out; false when absent. */
static bool label(const char *line, const char *name, char *out, size_t cap)
{
    char key[64];
    snprintf(key, sizeof key, "%s=\"", name);
    const char *p = strstr(line, key);
    const char *eol = strchr(line, '\n');
    if (!p || (eol && p > eol))
        return false;
    p += strlen(key);
    const char *q = strchr(p, '"');
    if (!q || (eol && q > eol))
        return false;
    snprintf(out, cap, "%.*s", (int)(q - p), p);
    return true;
}

/* The daemon's version as {"version", "commit"}; NULL when it gives none. *reachable tells
 * whether it answered at all. */
static cJSON *server_version(const cli_opts_t *o, bool *reachable)
{
    *reachable = false;
    cli_resp_t r;
    if (cli__http(o, "GET", "/version", NULL, 0, NULL, &r) != CLI_OK)
        return NULL;
    *reachable = true;
    cJSON *v = r.status == 200 && r.body.data ? cJSON_Parse(r.body.data) : NULL;
    free(r.body.data);
    if (cli__jstr(v, "version"))
        return v;
    cJSON_Delete(v);
    /* an older daemon: the build-info series of its metrics */
    if (cli__http(o, "GET", "/metrics", NULL, 0, NULL, &r) != CLI_OK)
        return NULL;
    const char *line = r.body.data && r.status == 200 ? r.body.data : "";
    for (; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char ver[128], build[128];
        if (strncmp(line, "herald_build_info{", 18) || !label(line, "version", ver, sizeof ver))
            continue;
        v = cJSON_CreateObject();
        cJSON_AddStringToObject(v, "version", ver);
        if (label(line, "commit", build, sizeof build))
            cJSON_AddStringToObject(v, "commit", build);
        break;
    }
    free(r.body.data);
    return v;
}

int cli__cmd_version(int argc, char **argv)
{
    bool client_only = false;
    /* --client is this command's own flag: take it out before the shared parser */
    char *args[64];
    int n = 0;
    for (int i = 0; i < argc && n < 64; i++) {
        if (i > 0 && !strcmp(argv[i], "--client"))
            client_only = true;
        else
            args[n++] = argv[i];
    }
    cli_opts_t o;
    int rc = cli__parse_opts(n, args, USAGE_VERSION, &o);
    if (rc)
        return rc;
    if (o.help) {
        fputs(USAGE_VERSION, stdout);
        return CLI_OK;
    }
    if (o.npos || (o.output && !strcmp(o.output, "wide"))) {
        fprintf(stderr, "error: version takes no arguments\n%s", USAGE_VERSION);
        return CLI_USAGE;
    }
    bool reachable = false;
    cJSON *srv = client_only ? NULL : server_version(&o, &reachable);
    if (o.output) {
        cJSON *all = cJSON_CreateObject();
        cJSON *cv = cJSON_AddObjectToObject(all, "clientVersion");
        cJSON_AddStringToObject(cv, "version", HERALD_VERSION);
        cJSON_AddStringToObject(cv, "commit", HERALD_COMMIT);
        if (srv)
            cJSON_AddItemToObject(all, "serverVersion", cJSON_Duplicate(srv, 1));
        if (!strcmp(o.output, "json"))
            cli__print_json(all);
        else
            cli__yaml_node(stdout, all, 0, false);
        cJSON_Delete(all);
    } else {
        printf("Client Version: %s (commit %s)\n", HERALD_VERSION, HERALD_COMMIT);
        if (srv)
            printf("Server Version: %s (commit %s)\n", cli__jstr(srv, "version"),
                   cli__jstr(srv, "commit") ? cli__jstr(srv, "commit") : "unknown");
        else if (reachable)
            printf("Server Version: unknown (%s gives no version)\n", o.admin);
    }
    cJSON_Delete(srv);
    return client_only || reachable ? CLI_OK : CLI_UNREACHABLE;
}
