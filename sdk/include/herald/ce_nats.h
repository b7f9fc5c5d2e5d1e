/*
 * ce_nats.h — the CloudEvents NATS protocol binding over a transport-neutral message.
 *
 * Pure functions over header arrays and bytes: no cnats here. Structured mode is the v1.0.2
 * binding; binary mode is the unreleased main-branch text (spec PR #1016, NATS ≥ 2.2 headers).
 *
 * Rules implemented (documented decisions marked *):
 * - Mode (as sdk-go's JetStream binding): binary when a `ce-specversion` header is present
 *   (any case); otherwise structured JSON. * A structured message whose Content-Type is
 *   application/cloudevents+<other than json> is CE_E_MEDIA_TYPE; a message with no headers
 *   at all is structured (every structured-only producer sends that).
 * - Binary: every attribute, datacontenttype included, in a `ce-<name>` header; values use the
 *   HTTP binding's percent-encoding (decoded leniently, encoded strict or compat). * When
 *   `ce-datacontenttype` is absent a plain `content-type` header is accepted as
 *   datacontenttype. The payload is the data; an empty payload means no data.
 * - Structured encoding writes `content-type: application/cloudevents+json` and the JSON event.
 * - v0.3 messages are mapped to 1.0 as in the HTTP binding.
 *
 * Threads: functions are reentrant; outputs are owned by the caller.
 */
#ifndef HERALD_CE_NATS_H
#define HERALD_CE_NATS_H

#include "herald/ce.h"
#include "herald/ce_http.h"
#include "herald/ce_json.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* A NATS message as the binding sees it. All memory borrowed from the caller. */
typedef struct {
    const ce_header_t *headers; /* NULL/0 for core NATS without headers */
    size_t header_count;
    const void *data; /* the payload */
    size_t data_len;
} ce_nats_msg_t;

typedef enum { CE_NATS_BINARY, CE_NATS_STRUCTURED } ce_nats_mode_t;

/* The mode of a message: binary iff a ce-specversion header is present. */
ce_nats_mode_t ce_nats_mode(const ce_nats_msg_t *msg);

/*
 * Decodes a message into a new validated event (*out, free with ce_event_free).
 * Errors: as ce_http_decode for one event (CE_E_MEDIA_TYPE, CE_E_MISSING, CE_E_NAME,
 * CE_E_DUPLICATE, CE_E_UTF8, CE_E_TYPE, CE_E_SPECVERSION, CE_E_JSON, CE_E_NOMEM).
 */
ce_err_t ce_nats_decode(const ce_nats_msg_t *msg, ce_event_t **out, ce_error_t *err);

/* An encoded message: owned headers (pointing into `storage`) and payload. */
typedef struct {
    ce_header_t *headers;
    size_t header_count;
    ce_buf_t storage; /* internal */
    ce_buf_t data;
} ce_nats_out_t;

/*
 * Encodes `ev` in binary (ce- headers, values encoded with `enc`) or structured mode.
 * Errors: CE_E_NOMEM, CE_E_ARG.
 */
ce_err_t ce_nats_encode(const ce_event_t *ev, ce_nats_mode_t mode, ce_header_encoding_t enc,
                        ce_nats_out_t *out);
/* Frees what ce_nats_encode produced and zeroes it. Accepts NULL. */
void ce_nats_out_free(ce_nats_out_t *out);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* HERALD_CE_NATS_H */
