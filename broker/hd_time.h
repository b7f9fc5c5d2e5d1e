/*
 * hd_time.h — the broker's one place for time text and identifiers: ISO 8601 and Go-style
 * durations, RFC 3339 timestamps (parse and format) and UUID v4 strings. Pure functions over
 * memory, no I/O except the random source of hd_time_uuid_v4; any thread.
 */
#ifndef HERALD_HD_TIME_H
#define HERALD_HD_TIME_H

#include "hd.h"

/* Room for the longest text hd_time_rfc3339_format writes, NUL included
 * ("2026-01-02T03:04:05.123Z"). */
#define HD_TIME_RFC3339_MAX 32
/* Room for a UUID string, NUL included ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"). */
#define HD_TIME_UUID_MAX 37

/*
 * Parses an ISO 8601 duration into milliseconds: P[nW][nD][T[nH][nM][nS]], upper or lower case.
 * Units must come in that order, each at most once; a fraction ("PT0.5S", "PT1,5M") is allowed
 * on the last component only and is rounded to the nearest millisecond. Years and months have
 * no fixed length and are refused, as are signs, exponents, "P", "PT" and overflow. `s` is
 * borrowed and NUL-terminated, without surrounding blanks. Returns false (and leaves *ms) when
 * malformed.
 */
bool hd_time_iso_duration_parse(const char *s, uint64_t *ms);

/*
 * Parses a configuration duration into milliseconds: an ISO 8601 duration as
 * hd_time_iso_duration_parse, or Go-style number+unit pairs with units ms, s, m, h, d ("10s",
 * "1h30m", "0.5s"). Blanks around the text are ignored. Returns false when malformed or on
 * overflow.
 */
bool hd_time_duration_parse(const char *s, uint64_t *ms);

/*
 * Parses an RFC 3339 date-time ("2026-01-02T03:04:05Z", "2026-01-02t03:04:05.123+01:00") into
 * Unix milliseconds, fraction truncated. The text is checked by the SDK's CloudEvents Timestamp
 * rule (ce_value_check: 'T' separator, days per month, offsets); a time before 1970 is
 * refused. `s` is borrowed and NUL-terminated. Returns false (and leaves *ms) when malformed.
 */
bool hd_time_rfc3339_parse(const char *s, uint64_t *ms);

/*
 * Writes `wall_ms` (Unix milliseconds) as RFC 3339 in UTC into buf (`cap` bytes, at least
 * HD_TIME_RFC3339_MAX for any time): "2026-01-02T03:04:05Z", or with `millis`
 * "2026-01-02T03:04:05.123Z". Always NUL-terminates when cap > 0.
 */
void hd_time_rfc3339_format(uint64_t wall_ms, bool millis, char *buf, size_t cap);

/*
 * Writes a random (version 4) UUID in lower-case hex with dashes into out (HD_TIME_UUID_MAX
 * bytes, NUL-terminated). Uses getrandom(2); when that fails, a generator seeded from the clock
 * and the process id, which is unique enough for resource uids but not secret.
 */
void hd_time_uuid_v4(char out[HD_TIME_UUID_MAX]);

#endif /* HERALD_HD_TIME_H */
