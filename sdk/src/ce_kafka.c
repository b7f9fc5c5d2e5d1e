/*
 * ce_kafka.c — the CloudEvents Kafka protocol binding (see ce_kafka.h for the rules).
 */
#include "herald/ce_kafka.h"

#include "ce_internal.h"

#include <string.h>

static const ce_header_t *find_hdr(const ce_kafka_msg_t *m, const char *lname, size_t *count)
{
    const ce_header_t *found = NULL;
    *count = 0;
    for (size_t i = 0; i < m->header_count; i++)
        if (ce__ieq(m->headers[i].name, m->headers[i].name_len, lname)) {
            if (!found)
                found = &m->headers[i];
            (*count)++;
        }
    return found;
}

static bool looks_like_json_object(const void *v, size_t n)
{
    const char *p = v;
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i < n && p[i] == '{';
}

ce_kafka_mode_t ce_kafka_mode(const ce_kafka_msg_t *msg)
{
    size_t n;
    const ce_header_t *ct = find_hdr(msg, "content-type", &n);
    if (ct) {
        const char *mt;
        size_t ml;
        ce__media_type(ct->value, ct->value_len, &mt, &ml);
        return ce__iprefix(mt, ml, "application/cloudevents") ? CE_KAFKA_STRUCTURED
                                                              : CE_KAFKA_BINARY;
    }
    if (!find_hdr(msg, "ce_specversion", &n) && msg->value &&
        looks_like_json_object(msg->value, msg->value_len))
        return CE_KAFKA_STRUCTURED;
    return CE_KAFKA_BINARY;
}

ce_err_t ce_kafka_decode(const ce_kafka_msg_t *msg, ce_event_t **out, ce_error_t *err)
{
    if (!msg || !out || (!msg->headers && msg->header_count) || (!msg->value && msg->value_len))
        return ce_error_set(err, CE_E_ARG, "invalid argument");
    size_t nct;
    const ce_header_t *ct = find_hdr(msg, "content-type", &nct);
    if (nct > 1)
        return ce_error_set(err, CE_E_DUPLICATE, "header 'content-type' given more than once");
    if (ce_kafka_mode(msg) == CE_KAFKA_STRUCTURED) {
        if (ct) {
            const char *mt;
            size_t ml;
            ce__media_type(ct->value, ct->value_len, &mt, &ml);
            if (!ce__ieq(mt, ml, "application/cloudevents+json"))
                return ce_error_set(err, CE_E_MEDIA_TYPE,
                                    "unsupported event format '%.*s' (only "
                                    "application/cloudevents+json; Kafka has no batch mode)",
                                    (int)(ml > 80 ? 80 : ml), mt);
        }
        if (!msg->value)
            return ce_error_set(err, CE_E_JSON, "structured record with a null value");
        return ce_json_decode(msg->value, msg->value_len, out, err);
    }
    ce_event_t *ev = ce_event_new();
    ce_err_t rc;
    if (!ev)
        return ce_error_set(err, CE_E_NOMEM, "out of memory");
    rc = ce__decode_binary_headers(msg->headers, msg->header_count, "ce_", false, false, ev, err);
    if (rc != CE_E_OK)
        goto fail;
    /* the content-type value is taken as is (no OWS trimming: Kafka headers are not HTTP) */
    rc = ce__finish_binary(ev, ct ? ct->value : NULL, ct ? ct->value_len : 0, msg->value,
                           msg->value_len, err);
    if (rc != CE_E_OK)
        goto fail;
    *out = ev;
    return CE_E_OK;
fail:
    ce_event_free(ev);
    return rc;
}

ce_err_t ce_kafka_encode(const ce_event_t *ev, ce_kafka_mode_t mode, ce_kafka_key_mapper_t km,
                         ce_kafka_out_t *out)
{
    if (!ev || !out || (mode != CE_KAFKA_BINARY && mode != CE_KAFKA_STRUCTURED))
        return CE_E_ARG;
    /* Kafka header values are bytes: written raw, never percent-encoded */
    static const ce__binding_t kafka = {"ce_", NULL, true,
                                        "application/cloudevents+json; charset=UTF-8"};
    ce_kafka_out_t o;
    memset(&o, 0, sizeof o);
    bool has_value;
    ce_err_t rc = ce__encode(ev, mode == CE_KAFKA_STRUCTURED, &kafka, &o.headers, &o.header_count,
                             &o.storage, &o.value, &has_value);
    if (rc != CE_E_OK)
        return rc;
    o.value_null = !has_value;
    if (km == CE_KAFKA_KEY_PARTITIONKEY) {
        const ce_value_t *pk = ce_event_get(ev, "partitionkey", 12);
        if (pk) {
            o.has_key = true;
            if ((rc = ce_buf_append(&o.key, pk->str, pk->len)) != CE_E_OK) {
                ce_kafka_out_free(&o);
                return rc;
            }
        }
    }
    *out = o;
    return CE_E_OK;
}

void ce_kafka_out_free(ce_kafka_out_t *out)
{
    if (!out)
        return;
    ce__free(out->headers);
    ce_buf_free(&out->storage);
    ce_buf_free(&out->key);
    ce_buf_free(&out->value);
    memset(out, 0, sizeof *out);
}
