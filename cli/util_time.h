/*
 * util_time.h — times as the `herald` CLI reads and prints them: RFC 3339 timestamps of the
 * admin API, ages as kubectl prints them ("45s", "5m", "2h3m", "4d"), and "now" for an event's
 * time attribute.
 */
#ifndef HERALD_CLI_UTIL_TIME_H
#define HERALD_CLI_UTIL_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" into seconds since the epoch (UTC).
 * Returns false when `s` is NULL or not such a time. */
bool cli_time_parse(const char *s, time_t *out);

/* Writes a duration of `secs` seconds the way kubectl prints ages: "45s" under 2 minutes,
 * "7m30s" under 10 minutes, "25m" under 3 hours, "5h20m" under 8 hours, "20h" under 2 days,
 * "3d4h" under 8 days, "12d" under 2 years, then "3y45d" / "9y". Negative is "0s". */
void cli_human_duration(double secs, char *out, size_t cap);

/* The age of an RFC 3339 time relative to now, as cli_human_duration; "<unknown>" when the time
 * is absent or invalid. */
void cli_age(const char *rfc3339, char *out, size_t cap);

/* The current time as RFC 3339 UTC with milliseconds ("2026-12-02T15:04:05.123Z"). */
void cli_now_rfc3339(char out[32]);

#endif /* HERALD_CLI_UTIL_TIME_H */
