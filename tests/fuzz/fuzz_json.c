/*
 * fuzz_json.c — libFuzzer target for the JSON event format (one event and batch).
 *
 * Invariants checked (abort on violation): whatever decodes re-encodes and decodes again with
 * the same attributes; pack/unpack of a decoded event gives it back.
 */
#include "herald/ce_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check_same(const ce_event_t *a, const ce_event_t *b)
{
    size_t n = ce_event_attr_count(a);
    if (n != ce_event_attr_count(b))
        abort();
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const ce_value_t *va;
        ce_event_attr_at(a, i, &name, &va);
        const ce_value_t *vb = ce_event_get(b, name, strlen(name));
        if (!vb || vb->len != va->len || memcmp(vb->str, va->str, va->len) != 0)
            abort();
    }
}

static void roundtrip(const ce_event_t *ev)
{
    ce_buf_t b = {0};
    if (ce_json_encode(ev, &b) != CE_E_OK)
        abort();
    ce_event_t *again = NULL;
    if (ce_json_decode(b.data, b.len, &again, NULL) != CE_E_OK)
        abort();
    check_same(ev, again);
    ce_event_free(again);
    ce_buf_free(&b);
    uint8_t *packed;
    size_t plen;
    if (ce_event_pack(ev, &packed, &plen) != CE_E_OK)
        abort();
    ce_event_t *un = NULL;
    if (ce_event_unpack(packed, plen, &un, NULL) != CE_E_OK)
        abort();
    check_same(ev, un);
    ce_event_free(un);
    free(packed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ce_event_t *ev = NULL;
    ce_error_t err;
    if (ce_json_decode((const char *)data, size, &ev, &err) == CE_E_OK) {
        roundtrip(ev);
        ce_event_free(ev);
    }
    ce_event_t **evs = NULL;
    size_t n = 0;
    if (ce_json_decode_batch((const char *)data, size, &evs, &n, &err) == CE_E_OK) {
        ce_buf_t b = {0};
        if (ce_json_encode_batch((const ce_event_t *const *)evs, n, &b) != CE_E_OK)
            abort();
        ce_event_t **again = NULL;
        size_t m = 0;
        if (ce_json_decode_batch(b.data, b.len, &again, &m, NULL) != CE_E_OK || m != n)
            abort();
        for (size_t i = 0; i < n; i++) {
            check_same(evs[i], again[i]);
            ce_event_free(evs[i]);
            ce_event_free(again[i]);
        }
        free(evs);
        free(again);
        ce_buf_free(&b);
    }
    return 0;
}
