/*
 * admin_internal.h — what the files of `herald`'s broker commands share (internal to cli/):
 * the parsed options (admin_opts.c), the admin-API client over libcurl (admin_http.c), the
 * JSON accessors, YAML/JSON printers and tables (print.c), and the commands themselves
 * (cmd_resources.c: apply, get, describe, delete; cmd_broker.c: send, tail, dlq, replay).
 * Every command returns an exit code of cli.h. Single-threaded, like the whole CLI.
 */
#ifndef HERALD_CLI_ADMIN_INTERNAL_H
#define HERALD_CLI_ADMIN_INTERNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CLI_ADMIN_DEFAULT "http://127.0.0.1:8081"
/* Largest admin answer read into memory (overflow policy: the command fails with "error: ..."). */
#define CLI_MAX_RESPONSE (64u * 1024u * 1024u)
/* Most --ext options of one `herald send` (more is a usage error). */
#define CLI_MAX_EXT 64

/* ---- options (admin_opts.c) ---------------------------------------------------------------- */

/* Most --filter and --field options of one command (more is a usage error). */
#define CLI_MAX_MULTI 64

/* The options of every broker command; strings borrow argv (or the environment). Every option
 * taking a value is accepted as `--opt value` and as `--opt=value`. */
typedef struct {
    const char *admin;  /* base URL, no trailing slash */
    const char *ns;     /* -n, NULL when not given */
    const char *output; /* -o: NULL (table), json, yaml, wide */
    const char *file;   /* -f */
    const char *pos[4]; /* positional arguments after the command */
    int npos;
    bool all_ns; /* -A, --all-namespaces */
    /* get -w */
    bool watch;
    double watch_timeout; /* --watch-timeout seconds, 0 = until interrupted */
    /* send (and `channel create --type`) */
    const char *type, *source, *id, *data, *ct, *subject, *time;
    const char *ext[CLI_MAX_EXT];
    int next;
    const char *field[CLI_MAX_MULTI]; /* --field a.b=VALUE */
    int nfield;
    /* broker/trigger/channel/subscription create|update */
    const char *broker, *channel, *sink, *reply, *dl_sink, *klass;
    const char *filter[CLI_MAX_MULTI]; /* --filter KEY=VALUE or KEY- */
    int nfilter;
    /* dlq, replay, tail */
    const char *seq, *from;
    long count; /* --count, -1 when not given */
    bool help;
} cli_opts_t;

/*
 * Parses the options after argv[0] (the command) into *o; the admin URL comes from --admin, else
 * HERALD_ADMIN, else CLI_ADMIN_DEFAULT. Returns CLI_OK, or CLI_USAGE after printing the error and
 * `usage` on stderr.
 */
int cli__parse_opts(int argc, char **argv, const char *usage, cli_opts_t *o);

/* ---- the admin API over HTTP (admin_http.c) ---------------------------------------------- */

/* A response body read into memory: `data` is NUL-terminated and owned (free with free()). */
typedef struct {
    char *data;
    size_t len, cap;
    bool too_big; /* the body passed CLI_MAX_RESPONSE and the transfer was stopped */
} cli_buf_t;

/* A libcurl write callback appending to the cli_buf_t `arg`; returns 0 (stop) past the bound or
 * out of memory. */
size_t cli__buf_write(char *p, size_t size, size_t n, void *arg);

/* An HTTP answer: status and body (owned by the caller: free body.data). */
typedef struct {
    long status;
    cli_buf_t body;
} cli_resp_t;

/*
 * Sends one request to o->admin + `path` (`body` of `body_len` bytes and `content_type`, both
 * optional). Returns CLI_OK with *r filled whatever the status (free r->body.data), or
 * CLI_UNREACHABLE / CLI_INVALID after printing the error (nothing to free).
 */
int cli__http(const cli_opts_t *o, const char *method, const char *path, const char *body,
              size_t body_len, const char *content_type, cli_resp_t *r);

/* Prints the error of a non-2xx answer ({"error": ...} or the raw body); returns CLI_INVALID.
 * Borrows r. */
int cli__answer_error(cli_resp_t *r);

/*
 * Runs a request and parses the 2xx JSON answer. On CLI_OK *out is owned (cJSON_Delete);
 * otherwise the error was printed and the exit code is returned.
 */
int cli__call_json(const cli_opts_t *o, const char *method, const char *path, const char *body,
                   size_t len, const char *ct, cJSON **out);

/* ---- JSON accessors and printers (print.c); every cJSON argument may be NULL ------------ */

/* Member `name` of `o` when it is a string (borrowed), else NULL. */
const char *cli__jstr(const cJSON *o, const char *name);
/* Member `a` of `o`, then its member `b` when b is not NULL (borrowed; NULL when absent). */
const cJSON *cli__jget(const cJSON *o, const char *a, const char *b);
/* Member `name` of `o` when it is a number, else 0. */
double cli__jnum(const cJSON *o, const char *name);
/* The "Ready" entry of a resource's status.conditions (borrowed), or NULL. */
const cJSON *cli__ready_cond(const cJSON *obj);

/*
 * The last failing answer in the stats of a trigger or a subscription, for a person: "500: <the
 * body's first `body_max` bytes, one line>" from lastStatus and lastBody, else lastError (a
 * network error); "" when there is none. Writes into out (cap bytes).
 */
void cli__last_answer(const cJSON *stats, char *out, size_t cap, size_t body_max);

/* Writes `v` as block YAML at `indent` spaces; when in_seq the first line continues a "- ". */
void cli__yaml_node(FILE *f, const cJSON *v, int indent, bool in_seq);
/* Writes `v` as JSON with `width` spaces per level, "key": value, every line after the first
 * starting with `prefix` (kubectl: width 4, prefix ""). */
void cli__json_write(FILE *f, const cJSON *v, int width, const char *prefix);
/* Prints `v` as JSON indented by 4 spaces, as kubectl does, and a newline on stdout. */
void cli__print_json(const cJSON *v);
/* Prints the array `items` as YAML documents separated by --- (format "yaml"), or as JSON
 * (format "json"): a v1 List when as_list, else the first item alone. */
void cli__print_objects(const cJSON *items, bool as_list, const char *format);

/* A table: rows of cells, columns padded to their widest cell (3 spaces apart). */
#define CLI_TABLE_MAX_COLS 12
typedef struct {
    int ncols;    /* set before the first row, at most CLI_TABLE_MAX_COLS */
    char **cells; /* row-major, owned */
    size_t nrows, cap;
} cli_table_t;

/* Appends a row of t->ncols cells (copied; NULL prints empty). Out of memory drops the row. */
void cli__table_row(cli_table_t *t, const char *const *cells);
/* Prints the table on stdout and frees its cells (t can be reused after zeroing). */
void cli__table_print(cli_table_t *t);

/* Lower-case copy of `s` into out (cap bytes, truncated, NUL-terminated), for messages. */
void cli__lower(const char *s, char *out, size_t cap);
/* True when `s` can go into a URL path: DNS-1123 characters (a-z, 0-9, '-', '.'), 1..253. */
bool cli__path_safe(const char *s);
/* True when `s` looks like a kind name: 1..60 ASCII letters. */
bool cli__kind_safe(const char *s);

/* ---- the commands: argv[0] is the command name; return an exit code of cli.h ------------ */

int cli__cmd_apply(int argc, char **argv);    /* cmd_resources.c */
int cli__cmd_get(int argc, char **argv);      /* cmd_resources.c */
int cli__cmd_describe(int argc, char **argv); /* cmd_resources.c */
int cli__cmd_delete(int argc, char **argv);   /* cmd_resources.c */
int cli__cmd_send(int argc, char **argv);     /* cmd_broker.c */
int cli__cmd_tail(int argc, char **argv);     /* cmd_broker.c */
int cli__cmd_dlq(int argc, char **argv);      /* cmd_broker.c */
int cli__cmd_replay(int argc, char **argv);   /* cmd_broker.c */
/* herald broker|trigger|channel|subscription create|update|delete NAME (cmd_create.c) */
int cli__cmd_kind(int argc, char **argv);
int cli__cmd_version(int argc, char **argv); /* cmd_version.c */

#endif /* HERALD_CLI_ADMIN_INTERNAL_H */
