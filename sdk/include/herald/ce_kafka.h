/*
 * ce_kafka.h — the CloudEvents Kafka protocol binding (v1.0.2) over a transport-neutral record.
 *
 * Pure functions over header arrays and bytes: no librdkafka here. The broker's Kafka source and
 * sink map rd_kafka_message_t / rd_kafka_headers_t onto ce_kafka_msg_t and back.
 *
 * Rules implemented (documented decisions marked *):
 * - Mode: a `content-type` header starting with application/cloudevents (any case) →
 *   structured, otherwise binary. Structured is JSON only (other formats and batch:
 *   CE_E_MEDIA_TYPE). * A record with neither `content-type` nor `ce_specversion` whose value
 *   is a JSON object is read as structured (headerless Kafka ≤ 0.10 producers).
 * - Binary: attributes in headers `ce_<name>` (keys matched case-insensitively, written lower
 *   case), values raw UTF-8 with NO percent-encoding; `content-type` ↔ datacontenttype
 *   (`ce_datacontenttype` is ignored on read, never written); the value is the data; a null
 *   value means no data, an empty non-null value is empty data. A duplicate attribute header
 *   is CE_E_DUPLICATE; `ce_foo-bar` (invalid name) is CE_E_NAME.
 * - Key: decoding never turns the key into an attribute. Encoding sets no key unless the
 *   opt-in CE_KAFKA_KEY_PARTITIONKEY mapper is chosen, which copies `partitionkey` unchanged
 *   into the key (the event itself is not changed).
 * - v0.3 records are mapped to 1.0 as in the HTTP binding.
 *
 * Threads: functions are reentrant; outputs are owned by the caller.
 */
#ifndef HERALD_CE_KAFKA_H
#define HERALD_CE_KAFKA_H

#include "herald/ce.h"
#include "herald/ce_http.h"
#include "herald/ce_json.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* A Kafka record as the binding sees it. All memory borrowed from the caller. */
typedef struct {
    const ce_header_t *headers; /* Kafka headers (keys and values as bytes) */
    size_t header_count;
    const void *key; /* NULL: the record has no key */
    size_t key_len;
    const void *value; /* NULL: null value (tombstone) */
    size_t value_len;
} ce_kafka_msg_t;

typedef enum { CE_KAFKA_BINARY, CE_KAFKA_STRUCTURED } ce_kafka_mode_t;

/* How the record key is produced when encoding. */
typedef enum {
    CE_KAFKA_KEY_NONE,         /* no key (the caller may set its own) */
    CE_KAFKA_KEY_PARTITIONKEY, /* key = value of the `partitionkey` extension, when present */
} ce_kafka_key_mapper_t;

/* The mode of a record, from its headers (see the rules above). */
ce_kafka_mode_t ce_kafka_mode(const ce_kafka_msg_t *msg);

/*
 * Decodes a record into a new validated event (*out, free with ce_event_free).
 * Errors: CE_E_MEDIA_TYPE (structured in another format), CE_E_MISSING (binary record without
 * the required ce_ headers: not a CloudEvent), CE_E_NAME, CE_E_DUPLICATE, CE_E_UTF8, CE_E_TYPE,
 * CE_E_SPECVERSION, every error of ce_json_decode, CE_E_NOMEM. err names the attribute.
 */
ce_err_t ce_kafka_decode(const ce_kafka_msg_t *msg, ce_event_t **out, ce_error_t *err);

/*
 * An encoded record: owned headers (pointing into `storage`), key and value.
 * Free with ce_kafka_out_free.
 */
typedef struct {
    ce_header_t *headers;
    size_t header_count;
    ce_buf_t storage; /* internal */
    bool has_key;     /* false: produce without a key */
    ce_buf_t key;
    bool value_null; /* true: produce a null value (binary event without data) */
    ce_buf_t value;
} ce_kafka_out_t;

/* Encodes `ev` (not validated here) as a record. Errors: CE_E_NOMEM, CE_E_ARG. */
ce_err_t ce_kafka_encode(const ce_event_t *ev, ce_kafka_mode_t mode, ce_kafka_key_mapper_t km,
                         ce_kafka_out_t *out);
/* Frees what ce_kafka_encode produced and zeroes it. Accepts NULL. */
void ce_kafka_out_free(ce_kafka_out_t *out);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* HERALD_CE_KAFKA_H */
