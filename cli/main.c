/* herald — the command-line client of Herald. Dispatches to the command groups of cli.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *out)
{
    fputs("usage: herald <command> [options]\n"
          "\n"
          "Events (offline):\n"
          "  event decode   read a raw HTTP request / Kafka / NATS message, print the event(s) as "
          "JSON\n"
          "  event encode   read an event in JSON format, print the HTTP request it becomes\n"
          "  event send     send an event to a URL and print the status and any reply event\n"
          "  sql eval       evaluate a CloudEvents SQL expression against an event\n"
          "  sql check      check a CloudEvents SQL expression, with the position of any error\n"
          "  listen         receive events over HTTP and print each one (an event display)\n"
          "\n"
          "Broker (talks to heraldd's admin API: --admin URL or HERALD_ADMIN,\n"
          "default http://127.0.0.1:8081):\n"
          "  apply -f FILE|-            create or update resources from YAML/JSON manifests\n"
          "  get KIND [NAME] [-n NS|-A] [-o json|yaml|wide] [-w]\n"
          "  describe KIND NAME [-n NS] conditions, backlog, in-flight, failing deliveries\n"
          "  delete KIND NAME [-n NS] | delete -f FILE\n"
          "  broker|trigger|channel|subscription create|update|delete|list|describe NAME\n"
          "                             kn's commands: --sink URL|ksvc:N|broker:N|channel:N, ...\n"
          "  send [channel:]NS/NAME ... send an event to a broker (or a channel)\n"
          "  tail [channel:]NS/NAME     stream a broker's (or channel's) events as stored\n"
          "  dlq list|replay [sub:]NAME dead letters of a trigger (or a subscription)\n"
          "  replay [sub:]NAME --from TIME|SEQ\n"
          "  version                    this client's version, and heraldd's\n"
          "\n"
          "The namespace is 'default' unless -n (or -A, every namespace, where it applies).\n"
          "Every command takes --help. Exit codes: 0 success, 1 invalid input or answer,\n"
          "2 usage error, 3 daemon unreachable.\n",
          out);
}

int main(int argc, char **argv)
{
    /* `herald --admin URL <command> ...`: the global form of --admin, as kubectl users type it.
     * It only sets HERALD_ADMIN, which every broker command reads. */
    while (argc >= 2 && (!strcmp(argv[1], "--admin") || !strncmp(argv[1], "--admin=", 8))) {
        const char *url = argv[1][7] == '=' ? argv[1] + 8 : NULL;
        int used = 1;
        if (!url) {
            if (argc < 3) {
                fputs("error: --admin needs a URL\n", stderr);
                return CLI_USAGE;
            }
            url = argv[2];
            used = 2;
        }
        if (setenv("HERALD_ADMIN", url, 1) != 0) {
            perror("error: setenv");
            return CLI_USAGE;
        }
        argv[used] = argv[0];
        argv += used;
        argc -= used;
    }
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(cmd, "event"))
        return cli_event(argc - 1, argv + 1);
    if (!strcmp(cmd, "sql"))
        return cli_sql(argc - 1, argv + 1);
    if (!strcmp(cmd, "listen"))
        return cli_listen(argc - 1, argv + 1);
    if (!strcmp(cmd, "--version"))
        cmd = argv[1] = "version";
    static const char *const admin_cmds[] = {
        "apply",  "get",    "describe", "delete",       "send",    "tail",   "dlq",
        "replay", "broker", "trigger",  "subscription", "version", "channel"};
    for (size_t i = 0; i < sizeof admin_cmds / sizeof admin_cmds[0]; i++)
        if (!strcmp(cmd, admin_cmds[i]))
            return cli_admin(argc - 1, argv + 1);
    fprintf(stderr, "error: unknown command '%s' (see herald --help)\n", cmd);
    return CLI_USAGE;
}
