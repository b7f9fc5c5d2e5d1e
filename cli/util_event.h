/*
 * util_event.h — the one way the `herald` CLI builds an event from its command line, shared by
 * `herald send` (a broker, through the admin API) and `herald event send` (any URL): through
 * the SDK's typed setters and ce_event_validate, so both commands refuse the same inputs with
 * the same messages. Not thread-safe; the CLI is single-threaded.
 */
#ifndef HERALD_CLI_UTIL_EVENT_H
#define HERALD_CLI_UTIL_EVENT_H

#include <stddef.h>

#include "herald/ce.h"

/* Writes a random UUID v4 (36 characters and a NUL) into `out`. Returns 0, or -1 when the
 * kernel gives no random bytes. */
int cli_uuid_v4(char out[37]);

/*
 * An event as the command line gives it; every string is borrowed (argv). Either `file` (a
 * whole event in the CloudEvents JSON format, "-" for stdin) or `type` and `source` with the
 * optional attributes. `ext` holds ext_count "NAME=VALUE" strings (String extensions).
 */
typedef struct {
    const char *file;
    const char *type, *source, *id, *data, *ct, *subject, *time;
    const char *const *ext;
    size_t ext_count;
    const char *const *fields; /* "a.b=VALUE" (--field), building JSON data */
    size_t field_count;
} cli_event_args_t;

/*
 * Builds and validates the event of `a`. Without `file`: specversion 1.0, `id` or a random
 * UUID v4, `time` or now, the given attributes and extensions (setting an attribute twice is an
 * error); data from `fields` as kn-plugin-event builds it: each "a.b.c=VALUE" sets member c of
 * object b of object a of a JSON object, VALUE typed as true/false, a JSON number, or else a
 * string (datacontenttype application/json unless `ct` says otherwise); or
 * `data` with datacontenttype `ct`, else application/json when the whole of `data` is JSON,
 * else text/plain; the data is a JSON value only when it is JSON and the content type is a
 * JSON media type (ce_media_type_is_json), bytes otherwise.
 * Returns CLI_OK with *out owned (free with ce_event_free), or prints "error: ..." and returns
 * CLI_INVALID (bad file or attribute) or CLI_USAGE (an attribute given twice).
 */
int cli_build_event(const cli_event_args_t *a, ce_event_t **out);

/* Prints what `herald send` and `herald event send` both print once an event is accepted:
 * "event <id> accepted by <where> (<status>)". */
void cli_print_sent(const ce_event_t *ev, const char *where, long status);

/* The options both send commands take, for their --help. */
#define CLI_EVENT_OPTIONS_HELP                                                                     \
    "  -f FILE           the whole event in the JSON format (`-` reads stdin)\n"                   \
    "  --type, --source  required attributes when -f is not given\n"                               \
    "  --id ID           default: a random UUID v4\n"                                              \
    "  --time T          RFC 3339 (default: now)\n"                                                \
    "  --subject S       the subject attribute\n"                                                  \
    "  --data D          data; without --content-type it is application/json when D is\n"          \
    "                    valid JSON, text/plain otherwise\n"                                       \
    "  --field P=VALUE   builds JSON data: --field a.b=1 --field a.c=x gives\n"                    \
    "                    {\"a\":{\"b\":1,\"c\":\"x\"}}; true/false and numbers are typed, the\n"   \
    "                    rest are strings; repeatable (not with --data)\n"                         \
    "  --content-type CT the datacontenttype (also --datacontenttype)\n"                           \
    "  --ext NAME=VALUE  an extension attribute (String), repeatable\n"

#endif /* HERALD_CLI_UTIL_EVENT_H */
