/*
 * util_envelope.h — the JSON envelope `herald event decode --binding kafka|nats` reads: one
 * Kafka record or NATS message written as JSON, so that a raw message can be typed or piped in.
 *
 *   {"headers": {"ce_id": "1", ...} | [["ce_id", "1"], ...],
 *    "key": "k" | null,                 (kafka only)
 *    "topic": "t", "subject": "s",     (informative: kafka topic, nats subject)
 *    "value": "text" | null  or  "value_base64": "b64"}
 *
 * Any other member is an error (it is most likely a typo). Not thread-safe.
 */
#ifndef HERALD_CLI_UTIL_ENVELOPE_H
#define HERALD_CLI_UTIL_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>

#include "herald/ce.h"
#include "herald/ce_http.h"

typedef enum { CLI_BINDING_HTTP, CLI_BINDING_KAFKA, CLI_BINDING_NATS } cli_binding_t;

#define CLI_ENVELOPE_MAX_HEADERS 256

/* A parsed envelope. Every pointer is owned by the envelope (free with cli_envelope_free). */
typedef struct {
    ce_header_t headers[CLI_ENVELOPE_MAX_HEADERS];
    size_t header_count;
    const char *key; /* NULL when absent or null */
    size_t key_len;
    char *value; /* NULL when absent or null (a Kafka tombstone) */
    size_t value_len;
    void *root; /* internal: the cJSON tree the strings live in */
} cli_envelope_t;

/*
 * Parses the envelope for `binding` (kafka or nats) from `json` (`len` bytes).
 * Returns 0 (free *env with cli_envelope_free) or -1 with the reason in `err`.
 */
int cli_envelope_parse(const char *json, size_t len, cli_binding_t binding, cli_envelope_t *env,
                       char *err, size_t errsz);

/*
 * Decodes the event a parsed envelope carries with the SDK's Kafka or NATS binding.
 * Returns 0 and a new event in *out (free with ce_event_free) or -1 with the reason in `err`.
 */
int cli_envelope_decode(const cli_envelope_t *env, cli_binding_t binding, ce_event_t **out,
                        char *err, size_t errsz);

/* Frees what cli_envelope_parse allocated. Accepts NULL. */
void cli_envelope_free(cli_envelope_t *env);

/*
 * Sends `ev` (borrowed) to `url` with an HTTP POST in `mode` through the SDK's libcurl client,
 * waiting at most `timeout_ms`. Prints "event ID accepted by URL (STATUS)" on a 2xx, then the reply
 * event if the answer carries one. Returns CLI_OK on 2xx, CLI_INVALID (non-2xx or an invalid reply,
 * message on stderr) or CLI_UNREACHABLE. (cli/util_send.c)
 */
int cli_send_event(const char *url, const ce_event_t *ev, ce_http_mode_t mode,
                   ce_header_encoding_t enc, long timeout_ms);

#endif /* HERALD_CLI_UTIL_ENVELOPE_H */
