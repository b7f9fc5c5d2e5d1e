/*
 * cli.h — the `herald` command-line client: one entry point per command group. Each returns the
 * process exit code: 0 success, 1 the input or the answer was invalid (message on stderr as
 * "error: ..."), 2 usage error, 3 the daemon could not be reached.
 */
#ifndef HERALD_CLI_H
#define HERALD_CLI_H

enum { CLI_OK = 0, CLI_INVALID = 1, CLI_USAGE = 2, CLI_UNREACHABLE = 3 };

/* herald event decode|encode|send (cli/event.c) */
int cli_event(int argc, char **argv);
/* herald sql eval|check (cli/sql.c) */
int cli_sql(int argc, char **argv);
/* herald listen (cli/listen.c): a CloudEvents receiver printing each event */
int cli_listen(int argc, char **argv);
/* herald apply|get|describe|delete|send|tail|dlq|replay|version and broker|trigger|channel|
 * subscription (cli/admin_opts.c, cmd_*.c); argv[0] is the command */
int cli_admin(int argc, char **argv);

#endif
