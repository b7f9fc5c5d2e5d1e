/*
 * fuzz_ce_event_unpack.c — libFuzzer target for the compact storage form of an event
 * (ce_event_unpack), which the broker reads back from its store.
 *
 * Invariants checked (abort on violation): unpack never reads past the input (ASan); whatever
 * unpacks packs again to the very same bytes (pack is canonical) and unpacks to the same event.
 */
#include "herald/ce.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ce_event_t *ev = NULL;
    if (ce_event_unpack(data, size, &ev, NULL) != CE_E_OK)
        return 0;
    uint8_t *p = NULL;
    size_t n = 0;
    if (ce_event_pack(ev, &p, &n) != CE_E_OK)
        abort();
    ce_event_t *again = NULL;
    if (ce_event_unpack(p, n, &again, NULL) != CE_E_OK)
        abort();
    uint8_t *p2 = NULL;
    size_t n2 = 0;
    if (ce_event_pack(again, &p2, &n2) != CE_E_OK || n2 != n || memcmp(p, p2, n) != 0)
        abort();
    free(p);
    free(p2);
    ce_event_free(ev);
    ce_event_free(again);
    return 0;
}
