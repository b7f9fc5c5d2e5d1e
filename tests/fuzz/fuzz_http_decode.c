/*
 * fuzz_http_decode.c — libFuzzer target for the HTTP binding's decoder (and the Kafka and NATS
 * decoders, which share its header code).
 *
 * Input: header lines "Name: value\n" up to an empty line, then the body. Invariants checked
 * (abort on violation): a decoded event re-encodes in strict binary and in structured mode and
 * those messages decode again; Kafka and NATS encodings of it decode again.
 */
#include "herald/ce_http.h"
#include "herald/ce_kafka.h"
#include "herald/ce_nats.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 64

static void http_again(const ce_event_t *ev, ce_http_mode_t mode)
{
    ce_http_out_t o;
    if (ce_http_encode(ev, mode, CE_HEADER_STRICT, &o) != CE_E_OK)
        abort();
    ce_http_msg_t m = {o.headers, o.header_count, o.body.data, o.body.len};
    ce_event_t **evs = NULL;
    size_t n = 0;
    if (ce_http_decode(&m, &evs, &n, NULL) != CE_E_OK || n != 1)
        abort();
    ce_event_free(evs[0]);
    free(evs);
    ce_http_out_free(&o);
}

static void bindings_again(const ce_event_t *ev)
{
    for (int mode = 0; mode < 2; mode++) {
        ce_kafka_out_t ko;
        if (ce_kafka_encode(ev, (ce_kafka_mode_t)mode, CE_KAFKA_KEY_PARTITIONKEY, &ko) != CE_E_OK)
            abort();
        ce_kafka_msg_t km = {ko.headers,
                             ko.header_count,
                             ko.key.data,
                             ko.key.len,
                             ko.value_null ? NULL : ko.value.data,
                             ko.value.len};
        ce_event_t *k = NULL;
        if (ce_kafka_decode(&km, &k, NULL) != CE_E_OK)
            abort();
        ce_event_free(k);
        ce_kafka_out_free(&ko);
        ce_nats_out_t no;
        if (ce_nats_encode(ev, (ce_nats_mode_t)mode, CE_HEADER_STRICT, &no) != CE_E_OK)
            abort();
        ce_nats_msg_t nm = {no.headers, no.header_count, no.data.data, no.data.len};
        if (ce_nats_decode(&nm, &k, NULL) != CE_E_OK)
            abort();
        ce_event_free(k);
        ce_nats_out_free(&no);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    ce_header_t hs[MAX_HEADERS];
    size_t nh = 0;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if (eol == p) { /* empty line: body follows */
            p++;
            break;
        }
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon && nh < MAX_HEADERS) {
            hs[nh].name = p;
            hs[nh].name_len = (size_t)(colon - p);
            hs[nh].value = colon + 1;
            hs[nh].value_len = (size_t)(eol - colon - 1);
            nh++;
        }
        p = eol < end ? eol + 1 : end;
    }
    ce_http_msg_t msg = {hs, nh, p, (size_t)(end - p)};
    (void)ce_http_mode(&msg);
    ce_event_t **evs = NULL;
    size_t n = 0;
    ce_error_t err;
    if (ce_http_decode(&msg, &evs, &n, &err) == CE_E_OK) {
        for (size_t i = 0; i < n; i++) {
            http_again(evs[i], CE_HTTP_BINARY);
            http_again(evs[i], CE_HTTP_STRUCTURED);
            bindings_again(evs[i]);
            ce_event_free(evs[i]);
        }
        free(evs);
    }
    /* the same bytes as a Kafka record (ce- → treated as plain headers) and a NATS message */
    ce_kafka_msg_t km = {hs, nh, NULL, 0, p, (size_t)(end - p)};
    ce_event_t *ev = NULL;
    if (ce_kafka_decode(&km, &ev, &err) == CE_E_OK)
        ce_event_free(ev);
    ce_nats_msg_t nm = {hs, nh, p, (size_t)(end - p)};
    if (ce_nats_decode(&nm, &ev, &err) == CE_E_OK)
        ce_event_free(ev);
    /* header value coding on its own */
    ce_buf_t b = {0};
    if (ce_http_header_decode((const char *)data, size, &b, &err) == CE_E_OK) {
        ce_buf_t e = {0};
        if (ce_http_header_encode(b.data, b.len, CE_HEADER_STRICT, &e) != CE_E_OK)
            abort();
        ce_buf_t d = {0};
        /* strict encoding decodes back to the same bytes */
        if (ce_http_header_decode(e.data, e.len, &d, NULL) != CE_E_OK || d.len != b.len ||
            memcmp(d.data, b.data, b.len) != 0)
            abort();
        ce_buf_free(&d);
        ce_buf_free(&e);
    }
    ce_buf_free(&b);
    return 0;
}
