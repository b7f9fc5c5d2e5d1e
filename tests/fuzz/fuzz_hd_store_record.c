/*
 * fuzz_hd_store_record.c — libFuzzer target for the store's event records (lmdb_record.h): the
 * format byte, the CRC32C and the packed event behind them, as read back from data.mdb.
 *
 * Each input is decoded as found (both with and without legacy records allowed), and once more
 * sealed with a correct checksum, so that the fuzzer reaches the event decoding behind the
 * checksum. Invariants (abort on violation): nothing reads past the input (ASan); a record that
 * decodes was sound by rec_check; flipping any one bit of a sealed record is always detected.
 */
#include "lmdb_record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void decode(const uint8_t *rec, size_t len, bool legacy_ok)
{
    uint64_t wall;
    ce_event_t *ev = NULL;
    bool nomem;
    const char *why = hd_lmdb__rec_decode(rec, len, legacy_ok, &wall, &ev, &nomem);
    if (!why != (ev != NULL))
        abort();
    const uint8_t *pack;
    size_t plen;
    if (!why && hd_lmdb__rec_check(rec, len, legacy_ok, &wall, &pack, &plen) != NULL)
        abort();
    ce_event_free(ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode(data, size, false);
    decode(data, size, true);
    if (size > 1 << 20)
        return 0;
    uint8_t *rec = malloc(HD_LMDB_REC_HDR + size);
    if (!rec)
        return 0;
    memcpy(rec + HD_LMDB_REC_HDR, data, size);
    hd_lmdb__rec_seal(rec, HD_LMDB_REC_HDR + size, 1234);
    decode(rec, HD_LMDB_REC_HDR + size, false);
    if (size > 0) {
        size_t bit = (size_t)data[0] * 7 % ((HD_LMDB_REC_HDR + size) * 8);
        rec[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        uint64_t wall;
        const uint8_t *pack;
        size_t plen;
        if (hd_lmdb__rec_check(rec, HD_LMDB_REC_HDR + size, false, &wall, &pack, &plen) == NULL)
            abort(); /* CRC32C detects every single-bit error */
    }
    free(rec);
    return 0;
}
