/*
 * ce_nats.c — the CloudEvents NATS protocol binding (see ce_nats.h for the rules).
 */
#include "herald/ce_nats.h"

#include "ce_internal.h"

#include <string.h>

static const ce_header_t *find_hdr(const ce_nats_msg_t *m, const char *lname)
{
    for (size_t i = 0; i < m->header_count; i++)
        if (ce__ieq(m->headers[i].name, m->headers[i].name_len, lname))
            return &m->headers[i];
    return NULL;
}

ce_nats_mode_t ce_nats_mode(const ce_nats_msg_t *msg)
{
    return find_hdr(msg, "ce-specversion") ? CE_NATS_BINARY : CE_NATS_STRUCTURED;
}

ce_err_t ce_nats_decode(const ce_nats_msg_t *msg, ce_event_t **out, ce_error_t *err)
{
    if (!msg || !out || (!msg->headers && msg->header_count) || (!msg->data && msg->data_len))
        return ce_error_set(err, CE_E_ARG, "invalid argument");
    const ce_header_t *ct = find_hdr(msg, "content-type");
    if (ce_nats_mode(msg) == CE_NATS_STRUCTURED) {
        if (ct) {
            const char *mt;
            size_t ml;
            ce__media_type(ct->value, ct->value_len, &mt, &ml);
            if (ce__iprefix(mt, ml, "application/cloudevents") &&
                !ce__ieq(mt, ml, "application/cloudevents+json"))
                return ce_error_set(err, CE_E_MEDIA_TYPE,
                                    "unsupported event format '%.*s' (only "
                                    "application/cloudevents+json; NATS has no batch mode)",
                                    (int)(ml > 80 ? 80 : ml), mt);
        }
        return ce_json_decode(msg->data ? msg->data : "", msg->data_len, out, err);
    }
    ce_event_t *ev = ce_event_new();
    ce_err_t rc;
    if (!ev)
        return ce_error_set(err, CE_E_NOMEM, "out of memory");
    rc = ce__decode_binary_headers(msg->headers, msg->header_count, "ce-", true, true, ev, err);
    if (rc != CE_E_OK)
        goto fail;
    const char *ctv = NULL;
    size_t ctl = 0;
    if (ct && !ce_event_get(ev, "datacontenttype", 15)) {
        ctv = ct->value;
        ctl = ct->value_len;
        ce__trim_ows(&ctv, &ctl);
    }
    rc = ce__finish_binary(ev, ctv, ctl, msg->data_len ? msg->data : NULL, msg->data_len, err);
    if (rc != CE_E_OK)
        goto fail;
    *out = ev;
    return CE_E_OK;
fail:
    ce_event_free(ev);
    return rc;
}

ce_err_t ce_nats_encode(const ce_event_t *ev, ce_nats_mode_t mode, ce_header_encoding_t enc,
                        ce_nats_out_t *out)
{
    if (!ev || !out || (mode != CE_NATS_BINARY && mode != CE_NATS_STRUCTURED))
        return CE_E_ARG;
    /* NATS has no content-type of its own: datacontenttype travels as ce-datacontenttype */
    const ce__binding_t nats = {"ce-", &enc, false, "application/cloudevents+json"};
    ce_nats_out_t o;
    memset(&o, 0, sizeof o);
    bool has_data;
    ce_err_t rc = ce__encode(ev, mode == CE_NATS_STRUCTURED, &nats, &o.headers, &o.header_count,
                             &o.storage, &o.data, &has_data);
    if (rc != CE_E_OK)
        return rc;
    *out = o;
    return CE_E_OK;
}

void ce_nats_out_free(ce_nats_out_t *out)
{
    if (!out)
        return;
    ce__free(out->headers);
    ce_buf_free(&out->storage);
    ce_buf_free(&out->data);
    memset(out, 0, sizeof *out);
}
