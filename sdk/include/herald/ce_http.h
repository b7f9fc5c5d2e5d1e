/*
 * ce_http.h — the CloudEvents HTTP protocol binding over a transport-neutral message.
 *
 * Decoding decides the mode by Content-Type alone (batch, structured, else binary). Encoding
 * produces headers and a body for binary or structured mode. No sockets: the broker's server and
 * client, the CLI and libcurl all map their HTTP messages onto ce_http_msg_t.
 *
 * Documented choices of the binary-mode decoder:
 * - a `ce-datacontenttype` header is ignored (Content-Type is authoritative); never written;
 * - a `ce-` header whose remainder is not a valid attribute name (`ce-foo-bar`) is rejected
 *   with CE_E_NAME (the producer learns about it instead of losing the attribute);
 * - a repeated `ce-` header (names compared case-insensitively) is CE_E_DUPLICATE;
 * - all of specversion, id, source and type must be present (else CE_E_MISSING);
 * - no Content-Type means no datacontenttype; an empty body means no data;
 * - v0.3 messages are mapped to 1.0 (ce-schemaurl → dataschema).
 * Header values: decoded leniently — a quoted-string is undone first, each valid %XY decoded
 * once (either hex case), a '%' not followed by two hex digits kept as sent; invalid UTF-8
 * afterwards (overlong %C0%A0 included) is CE_E_UTF8 "... invalid UTF-8 after
 * percent-decoding"; control characters (a decoded %0A) then fail the String rule (CE_E_TYPE).
 */
#ifndef HERALD_CE_HTTP_H
#define HERALD_CE_HTTP_H

#include "herald/ce.h"
#include "herald/ce_json.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* A header: name and value, not NUL-terminated, borrowed from the caller. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} ce_header_t;

/* A transport-neutral HTTP message (request or response). All memory borrowed. */
typedef struct {
    const ce_header_t *headers;
    size_t header_count;
    const char *body;
    size_t body_len;
} ce_http_msg_t;

typedef enum { CE_HTTP_BINARY, CE_HTTP_STRUCTURED, CE_HTTP_BATCH } ce_http_mode_t;

/* How ce- header values are written: the spec's percent-encoding, or what the SDKs send. */
typedef enum {
    CE_HEADER_COMPAT, /* raw; only control characters percent-encoded (default for delivery) */
    CE_HEADER_STRICT, /* space, '"', '%' and everything outside U+0021-U+007E percent-encoded */
} ce_header_encoding_t;

/* The mode a message is in, from its Content-Type header alone. */
ce_http_mode_t ce_http_mode(const ce_http_msg_t *msg);

/*
 * Decodes a message in any mode into events. Binary and structured give one event, batch gives
 * zero or more. On success *out is a new array of *count new events (free them and the array
 * with ce_events_free(*out, *count)). ce- header values are decoded leniently (valid %XY
 * decoded, anything else kept as sent); invalid UTF-8 after decoding is CE_E_UTF8.
 * Errors: CE_E_MEDIA_TYPE (structured/batch in a format other than JSON: answer 415), and every
 * error of ce_json_decode and ce_event_validate; err names the attribute and the rule.
 */
ce_err_t ce_http_decode(const ce_http_msg_t *msg, ce_event_t ***out, size_t *count,
                        ce_error_t *err);

/*
 * An encoded message: owned headers and body. Free with ce_http_out_free.
 * Header names are lower case ("ce-id", "content-type").
 */
typedef struct {
    ce_header_t *headers; /* each name/value points into `storage` */
    size_t header_count;
    ce_buf_t storage; /* internal */
    ce_buf_t body;
} ce_http_out_t;

/* Encodes `ev` in binary or structured mode. Errors: CE_E_NOMEM, CE_E_ARG (batch mode). */
ce_err_t ce_http_encode(const ce_event_t *ev, ce_http_mode_t mode, ce_header_encoding_t enc,
                        ce_http_out_t *out);
/* Frees what ce_http_encode produced. Accepts NULL. */
void ce_http_out_free(ce_http_out_t *out);

/*
 * Percent-encodes one ce- header value into `out` in the given mode; decodes one leniently.
 * Decode errors: CE_E_UTF8.
 */
ce_err_t ce_http_header_encode(const char *v, size_t len, ce_header_encoding_t enc, ce_buf_t *out);
ce_err_t ce_http_header_decode(const char *v, size_t len, ce_buf_t *out, ce_error_t *err);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* HERALD_CE_HTTP_H */
