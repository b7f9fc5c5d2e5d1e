/*
 * ce_json.h — the CloudEvents JSON event format (one event and batch), decode and encode.
 * Pure functions over memory; no I/O.
 *
 * Decoding: duplicate member names are CE_E_DUPLICATE; a JSON number is an Integer extension
 * only when it is an int32 without fraction or exponent (`5.0` is CE_E_TYPE); core attributes
 * must be JSON strings; `null` unsets an attribute; `"data": null` is explicit null data (the
 * 4 bytes `null`, JSON), different from no `data`; the `data` value's text is kept byte for
 * byte (a JSON string stays a quoted JSON string, never parsed again); with a non-JSON
 * datacontenttype a string `data` becomes its UTF-8 text. specversion "0.3" events are mapped
 * to 1.0 (schemaurl → dataschema, datacontentencoding base64 → data bytes); other versions are
 * CE_E_SPECVERSION. A batch must share one specversion as sent.
 * Encoding: JSON data (or bytes with a JSON datacontenttype that parse as JSON) → `data` value;
 * text types (text/..., xml) with UTF-8 bytes → `data` string; anything else → `data_base64`
 * (and no datacontenttype is invented). "JSON" media types are x/json and x/y+json, parameters
 * and case ignored (text/json and application/ld+json count, application/json-seq does not).
 */
#ifndef HERALD_CE_JSON_H
#define HERALD_CE_JSON_H

#include "herald/ce.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* A growable output buffer. Owned by the caller; free `data` with free(). */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} ce_buf_t;

/* Appends bytes; returns CE_E_NOMEM on failure (buffer left unchanged). */
ce_err_t ce_buf_append(ce_buf_t *b, const void *p, size_t n);
/* Frees the buffer's memory and zeroes it. Accepts NULL. */
void ce_buf_free(ce_buf_t *b);

/*
 * Base64 as CloudEvents uses it (RFC 4648 §4: standard alphabet, padded), for the JSON format's
 * data_base64 and for Binary attributes, whose ce_value_t.str is the base64 text.
 * ce_base64_encode appends the encoding of the n bytes at in to out; ce_base64_decode appends
 * the bytes that in[0..n) encodes, strictly: padding required, no whitespace or line breaks.
 * `in` is borrowed; out is the caller's (on error it is left as it was).
 * Errors: CE_E_ARG (out NULL, or in NULL with n > 0), CE_E_TYPE (decode: not valid base64),
 * CE_E_NOMEM. Any thread, on buffers it owns.
 */
ce_err_t ce_base64_encode(const void *in, size_t n, ce_buf_t *out);
ce_err_t ce_base64_decode(const char *in, size_t n, ce_buf_t *out);

/*
 * True when the Content-Type value `ct` (`len` bytes, need not be NUL-terminated) names a JSON
 * media type: type/json or type/subtype+json with a non-empty type and subtype, parameters
 * after ';' and surrounding spaces or tabs ignored, any case. text/json and
 * application/ld+json count; application/json-seq, "json" without a type and "/json" do not.
 * This is the rule the JSON format's encoder and decoder use for `data`. NULL is false.
 * Pure; any thread.
 */
bool ce_media_type_is_json(const char *ct, size_t len);

/*
 * Decodes one JSON-format event from `json` (`len` bytes). The event is validated. On success
 * *out is a new event (free with ce_event_free).
 * Errors: CE_E_JSON (malformed, or not an object), CE_E_MISSING, CE_E_TYPE, CE_E_NAME,
 * CE_E_DUPLICATE, CE_E_SPECVERSION, CE_E_INVALID (both data and data_base64), CE_E_NOMEM.
 */
ce_err_t ce_json_decode(const char *json, size_t len, ce_event_t **out, ce_error_t *err);

/*
 * Decodes a batch (a JSON array of events; `[]` is valid). On success *out is a new array of
 * *count new events (free each with ce_event_free, then the array with free()); the whole batch
 * fails when one event is invalid (err says which index).
 */
ce_err_t ce_json_decode_batch(const char *json, size_t len, ce_event_t ***out, size_t *count,
                              ce_error_t *err);

/* Appends the JSON-format encoding of `ev` to `out`. Errors: CE_E_NOMEM. */
ce_err_t ce_json_encode(const ce_event_t *ev, ce_buf_t *out);
/* Appends a batch (JSON array) of `n` events to `out`. Errors: CE_E_NOMEM. */
ce_err_t ce_json_encode_batch(const ce_event_t *const *evs, size_t n, ce_buf_t *out);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* HERALD_CE_JSON_H */
