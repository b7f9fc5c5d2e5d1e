/*
 * lmdb_record.h — the stored form of one event in the `events` database, and its checksum.
 *
 *   u8  format   HD_LMDB_REC_FORMAT (1)
 *   u32 crc      CRC32C (Castagnoli) of every byte after it, big-endian
 *   u64 wall ms  ingest time, big-endian
 *   ...          ce_event_pack() bytes
 *
 * Records written before checksums existed ("legacy") are the last two fields alone; their
 * first byte is the top byte of a millisecond time, always 0. They are accepted only in a store
 * created before checksums (no HD_LMDB_META_RECORDS in meta), and then only through the
 * bounds-checked ce_event_unpack. Everything here is pure (no LMDB), for the backend, the
 * `heraldd --check` walk, unit tests and the fuzz target. Any thread.
 */
#ifndef HERALD_LMDB_RECORD_H
#define HERALD_LMDB_RECORD_H

#include "herald/ce.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HD_LMDB_REC_FORMAT 1u
#define HD_LMDB_REC_HDR 13u   /* format + crc + wall ms */
#define HD_LMDB_REC_LEGACY 8u /* wall ms */

/* CRC32C of n bytes, continuing from `crc` (0 to start): the CPU's crc32 instruction where
 * there is one (x86-64 SSE4.2), else hd_lmdb__crc32c_sw. No allocation. */
uint32_t hd_lmdb__crc32c(uint32_t crc, const void *p, size_t n);
/* The same in portable C (slicing-by-8); tests compare the two. */
uint32_t hd_lmdb__crc32c_sw(uint32_t crc, const void *p, size_t n);

/* Seals a record of `len` bytes whose packed event is already at rec + HD_LMDB_REC_HDR: writes
 * the format byte, the ingest time and the checksum over both. len >= HD_LMDB_REC_HDR. */
void hd_lmdb__rec_seal(uint8_t *rec, size_t len, uint64_t wall_ms);

/* Checks a stored record without decoding the event: NULL when sound, with the ingest time and
 * the packed bytes (a view into rec), or a static reason ("checksum mismatch", ...). */
const char *hd_lmdb__rec_check(const uint8_t *rec, size_t len, bool legacy_ok, uint64_t *wall_ms,
                               const uint8_t **pack, size_t *pack_len);

/* Checks and decodes a record: NULL with *out (free with ce_event_free), or a static reason.
 * *nomem is set when the only problem was memory (the record itself may be sound). */
const char *hd_lmdb__rec_decode(const uint8_t *rec, size_t len, bool legacy_ok, uint64_t *wall_ms,
                                ce_event_t **out, bool *nomem);

/* The ingest time of a record of either format, without checking it (retention, time lookup):
 * 0 when too short to hold one. */
static inline uint64_t hd_lmdb__rec_wall(const void *rec, size_t len)
{
    const uint8_t *p = rec;
    size_t off = len >= HD_LMDB_REC_HDR && p[0] == HD_LMDB_REC_FORMAT ? 5 : 0;
    if (len < off + 8)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | p[off + i];
    return v;
}

#endif /* HERALD_LMDB_RECORD_H */
