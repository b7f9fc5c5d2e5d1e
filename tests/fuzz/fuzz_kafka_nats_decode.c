/*
 * fuzz_kafka_nats_decode.c — libFuzzer target for the Kafka and NATS decoders on binary-safe
 * input: header names and values, the key and the value may hold any byte (NUL included), and
 * a record may have no key or a null value (a tombstone), which text-framed inputs cannot say.
 *
 * Input: u8 flags (bit 0: has key, bit 1: null value), u8 header count, then per header u8 name
 * length, name, u8 value length, value; then (with a key) u8 key length and key; the rest is the
 * value. Invariants (abort on violation): a decoded event re-encodes in both modes of its binding
 * and decodes again to an event with the same id, source and type.
 */
#include "herald/ce_kafka.h"
#include "herald/ce_nats.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 64

typedef struct {
    const uint8_t *p, *end;
} cursor_t;

/* Takes a u8-length-prefixed field; false when the input ends first. */
static int take(cursor_t *c, const char **s, size_t *len)
{
    if (c->p >= c->end)
        return 0;
    size_t n = *c->p++;
    if ((size_t)(c->end - c->p) < n)
        return 0;
    *s = (const char *)c->p;
    *len = n;
    c->p += n;
    return 1;
}

static void same_core(const ce_event_t *a, const ce_event_t *b)
{
    static const char *core[] = {"id", "source", "type"};
    for (size_t i = 0; i < 3; i++) {
        const char *x = ce_event_get_str(a, core[i]), *y = ce_event_get_str(b, core[i]);
        if (!x || !y || strcmp(x, y) != 0)
            abort();
    }
}

static void kafka_again(const ce_event_t *ev)
{
    for (int mode = 0; mode < 2; mode++) {
        ce_kafka_out_t o;
        if (ce_kafka_encode(ev, (ce_kafka_mode_t)mode, CE_KAFKA_KEY_PARTITIONKEY, &o) != CE_E_OK)
            abort();
        ce_kafka_msg_t m = {
            o.headers,  o.header_count, o.key.data, o.key.len, o.value_null ? NULL : o.value.data,
            o.value.len};
        ce_event_t *back = NULL;
        if (ce_kafka_decode(&m, &back, NULL) != CE_E_OK)
            abort();
        same_core(ev, back);
        ce_event_free(back);
        ce_kafka_out_free(&o);
    }
}

static void nats_again(const ce_event_t *ev)
{
    for (int mode = 0; mode < 2; mode++) {
        ce_nats_out_t o;
        if (ce_nats_encode(ev, (ce_nats_mode_t)mode, CE_HEADER_STRICT, &o) != CE_E_OK)
            abort();
        ce_nats_msg_t m = {o.headers, o.header_count, o.data.data, o.data.len};
        ce_event_t *back = NULL;
        if (ce_nats_decode(&m, &back, NULL) != CE_E_OK)
            abort();
        same_core(ev, back);
        ce_event_free(back);
        ce_nats_out_free(&o);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    cursor_t c = {data + 2, data + size};
    int has_key = data[0] & 1, null_value = data[0] & 2;
    size_t want = data[1] < MAX_HEADERS ? data[1] : MAX_HEADERS;
    ce_header_t hs[MAX_HEADERS];
    size_t nh = 0;
    while (nh < want) {
        ce_header_t *h = &hs[nh];
        if (!take(&c, &h->name, &h->name_len) || !take(&c, &h->value, &h->value_len))
            return 0;
        nh++;
    }
    const char *key = NULL;
    size_t key_len = 0;
    if (has_key && !take(&c, &key, &key_len))
        return 0;
    const char *value = null_value ? NULL : (const char *)c.p;
    size_t value_len = null_value ? 0 : (size_t)(c.end - c.p);

    ce_error_t err;
    ce_event_t *ev = NULL;
    ce_kafka_msg_t km = {hs, nh, key, key_len, value, value_len};
    if (ce_kafka_decode(&km, &ev, &err) == CE_E_OK) {
        kafka_again(ev);
        ce_event_free(ev);
    }
    ev = NULL;
    ce_nats_msg_t nm = {hs, nh, value, value_len};
    if (ce_nats_decode(&nm, &ev, &err) == CE_E_OK) {
        nats_again(ev);
        ce_event_free(ev);
    }
    return 0;
}
