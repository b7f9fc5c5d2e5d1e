/*
 * time.c — durations, RFC 3339 timestamps and UUID v4 strings (hd_time.h). The RFC 3339 shape
 * is the SDK's rule (ce_value_check of a Timestamp), so the broker and the CloudEvents `time`
 * attribute accept the same texts.
 */
#include "hd_time.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SEC_MS 1000ull
#define DAY_MS (86400ull * 1000)

/*
 * Reads a decimal number with an optional fraction ('.' or ',') at p: the integer part into *ip,
 * the fraction in millionths into *micro (digits past the sixth are ignored), and whether there
 * was a fraction into *frac. Returns the end, or NULL when there is no leading digit, no digit
 * after the mark, or the integer overflows.
 */
static const char *scan_decimal(const char *p, uint64_t *ip, uint64_t *micro, bool *frac)
{
    if (!isdigit((unsigned char)*p))
        return NULL;
    uint64_t v = 0;
    for (; isdigit((unsigned char)*p); p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    uint64_t f = 0, scale = 100000;
    *frac = false;
    if (*p == '.' || *p == ',') {
        p++;
        if (!isdigit((unsigned char)*p))
            return NULL;
        for (; isdigit((unsigned char)*p); p++) {
            f += (uint64_t)(*p - '0') * scale;
            scale /= 10;
        }
        *frac = true;
    }
    *ip = v;
    *micro = f;
    return p;
}

/* Adds n units of `unit_ms` plus `micro` millionths of one unit to *acc; false on overflow. */
static bool add_ms(uint64_t *acc, uint64_t n, uint64_t micro, uint64_t unit_ms)
{
    if (n && unit_ms > UINT64_MAX / n)
        return false;
    uint64_t add = n * unit_ms;
    uint64_t part = (micro * unit_ms + 500000) / 1000000;
    if (part > UINT64_MAX - add || add + part > UINT64_MAX - *acc)
        return false;
    *acc += add + part;
    return true;
}

bool hd_time_iso_duration_parse(const char *s, uint64_t *ms)
{
    if (!s || !ms || (*s != 'P' && *s != 'p'))
        return false;
    const char *p = s + 1;
    uint64_t acc = 0;
    bool any = false, in_time = false, had_frac = false;
    int last_rank = -1;
    while (*p) {
        if (*p == 'T' || *p == 't') {
            if (in_time)
                return false;
            in_time = true;
            p++;
            if (!*p)
                return false;
            continue;
        }
        /* ISO 8601 allows a fraction only on the smallest component given */
        if (had_frac)
            return false;
        uint64_t n, micro;
        if (!(p = scan_decimal(p, &n, &micro, &had_frac)))
            return false;
        char u = (char)toupper((unsigned char)*p++);
        uint64_t unit;
        int rank;
        if (!in_time && u == 'W') {
            unit = 7 * DAY_MS, rank = 0;
        } else if (!in_time && u == 'D') {
            unit = DAY_MS, rank = 1;
        } else if (in_time && u == 'H') {
            unit = 3600 * SEC_MS, rank = 2;
        } else if (in_time && u == 'M') {
            unit = 60 * SEC_MS, rank = 3;
        } else if (in_time && u == 'S') {
            unit = SEC_MS, rank = 4;
        } else {
            return false; /* years and months have no fixed length */
        }
        if (rank <= last_rank)
            return false; /* out of order or repeated */
        last_rank = rank;
        if (!add_ms(&acc, n, micro, unit))
            return false;
        any = true;
    }
    if (!any)
        return false;
    *ms = acc;
    return true;
}

/* Go-style "1h30m", "100ms", "0.5s": one or more number+unit pairs. */
static bool go_duration_parse(const char *p, uint64_t *ms)
{
    uint64_t acc = 0;
    while (*p) {
        uint64_t n, micro;
        bool frac;
        if (!(p = scan_decimal(p, &n, &micro, &frac)))
            return false;
        uint64_t unit;
        if (strncmp(p, "ms", 2) == 0) {
            unit = 1, p += 2;
        } else if (*p == 's') {
            unit = SEC_MS, p++;
        } else if (*p == 'm') {
            unit = 60 * SEC_MS, p++;
        } else if (*p == 'h') {
            unit = 3600 * SEC_MS, p++;
        } else if (*p == 'd') {
            unit = DAY_MS, p++;
        } else {
            return false;
        }
        if (!add_ms(&acc, n, micro, unit))
            return false;
    }
    *ms = acc;
    return true;
}

bool hd_time_duration_parse(const char *s, uint64_t *ms)
{
    if (!s || !ms)
        return false;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (buf[0] == 'P' || buf[0] == 'p')
        return hd_time_iso_duration_parse(buf, ms);
    return go_duration_parse(buf, ms);
}

/* ---- RFC 3339 ----------------------------------------------------------------------------- */

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* Leap years in [1, y). */
static int64_t leaps_before(int64_t y)
{
    y -= 1;
    return y / 4 - y / 100 + y / 400;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; negative before 1970). */
static int64_t days_from_epoch(int y, int m, int d)
{
    static const int before_month[] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int64_t days = 365 * ((int64_t)y - 1970) + leaps_before(y) - leaps_before(1970);
    days += before_month[m - 1] + (leap && m > 2) + (d - 1);
    return days;
}

bool hd_time_rfc3339_parse(const char *s, uint64_t *ms)
{
    if (!s || !ms)
        return false;
    size_t n = strlen(s);
    if (ce_value_check(CE_TYPE_TIMESTAMP, s, n, NULL) != CE_E_OK)
        return false;
    /* the shape is known now: fixed positions up to the seconds */
    int64_t days = days_from_epoch(digits(s, 4), digits(s + 5, 2), digits(s + 8, 2));
    int64_t secs =
        days * 86400 + digits(s + 11, 2) * 3600 + digits(s + 14, 2) * 60 + digits(s + 17, 2);
    const char *p = s + 19;
    int64_t frac_ms = 0;
    if (*p == '.') {
        int scale = 100;
        for (p++; isdigit((unsigned char)*p); p++) {
            frac_ms += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (*p == '+' || *p == '-') {
        int64_t off = digits(p + 1, 2) * 3600 + digits(p + 4, 2) * 60;
        secs -= *p == '-' ? -off : off;
    }
    if (secs < 0)
        return false;
    *ms = (uint64_t)secs * 1000 + (uint64_t)frac_ms;
    return true;
}

void hd_time_rfc3339_format(uint64_t wall_ms, bool millis, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return;
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    buf[0] = '\0';
    if (!gmtime_r(&t, &tm))
        return;
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0) {
        buf[0] = '\0';
        return;
    }
    if (millis)
        snprintf(buf + n, cap - n, ".%03uZ", (unsigned)(wall_ms % 1000));
    else
        snprintf(buf + n, cap - n, "Z");
}

/* ---- UUID
 * ----------------------------------------------------------------------------------
 */

void hd_time_uuid_v4(char out[HD_TIME_UUID_MAX])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        uint64_t x = hd_wall_ms() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)out;
        for (int i = 0; i < 16; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            b[i] = (unsigned char)(x >> 56);
        }
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}
