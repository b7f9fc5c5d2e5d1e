/*
 * dispatch_backoff.c — the pure parts of the dispatcher (hd_backoff.h): the backoff calculator,
 * Knative's retry table and the Retry-After parser. No I/O, no loop: unit-tested directly.
 */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "hd_backoff.h"

uint64_t hd_backoff_delay_ms(const hd_delivery_t *dl, uint32_t k)
{
    if (dl == NULL || k == 0)
        return 0;
    uint64_t base = dl->backoff_delay_ms;
    uint64_t cap = dl->backoff_max_ms ? dl->backoff_max_ms : UINT64_MAX;
    uint64_t d;
    if (dl->backoff_policy == HD_BACKOFF_LINEAR) {
        /* delay * k, saturating */
        d = (base != 0 && k > UINT64_MAX / base) ? UINT64_MAX : base * k;
    } else {
        /* delay * 2^(k-1), saturating */
        uint32_t shift = k - 1;
        if (base == 0)
            d = 0;
        else if (shift >= 64 || base > (UINT64_MAX >> shift))
            d = UINT64_MAX;
        else
            d = base << shift;
    }
    return d > cap ? cap : d;
}

bool hd_status_retryable(int status)
{
    if (status <= 0)
        return true; /* network error, timeout, no answer */
    if (status >= 200 && status < 300)
        return false; /* delivered */
    if (status >= 300 && status < 400)
        return false; /* redirects are never followed and not retried */
    switch (status) {
    case 404: /* endpoint not there yet (e.g. a process still starting) */
    case 408:
    case 409:
    case 429:
        return true;
    default:
        break;
    }
    if (status >= 400 && status < 500)
        return false; /* 400, 401, 403 and every other 4xx */
    if (status >= 500 && status < 600)
        return true;
    return true; /* 1xx and codes outside the table: retryable, as the spec says */
}

/* Parses the IMF-fixdate form "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7), plus the two
 * obsolete forms (RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37
 * 1994"). Returns false when it is none of them. */
static bool parse_http_date(const char *s, size_t len, uint64_t *out_ms)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char wd[16], mon[4];
    int day, year, hh, mm, ss;
    char tz[8];
    int n = 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (sscanf(buf, "%15[A-Za-z], %d %3s %d %d:%d:%d %7s%n", wd, &day, mon, &year, &hh, &mm, &ss,
               tz, &n) == 8 &&
        (size_t)n == len) {
        /* IMF-fixdate */
    } else if (sscanf(buf, "%15[A-Za-z], %d-%3s-%d %d:%d:%d %7s%n", wd, &day, mon, &year, &hh, &mm,
                      &ss, tz, &n) == 8 &&
               (size_t)n == len) {
        if (year < 100)
            year += year < 70 ? 2000 : 1900;
    } else if (sscanf(buf, "%15[A-Za-z] %3s %d %d:%d:%d %d%n", wd, mon, &day, &hh, &mm, &ss, &year,
                      &n) == 7 &&
               (size_t)n == len) {
        strcpy(tz, "GMT");
    } else {
        return false;
    }
    if (strcmp(tz, "GMT") != 0 && strcmp(tz, "UTC") != 0)
        return false;
    const char *m = NULL;
    for (int i = 0; i < 12; i++)
        if (strncmp(months + 3 * i, mon, 3) == 0 && strlen(mon) == 3)
            m = months + 3 * i;
    if (m == NULL || day < 1 || day > 31 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 ||
        ss > 60 || year < 1970)
        return false;
    tm.tm_year = year - 1900;
    tm.tm_mon = (int)((m - months) / 3);
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    time_t t = timegm(&tm);
    if (t < 0)
        return false;
    *out_ms = (uint64_t)t * 1000u;
    return true;
}

uint64_t hd_retry_after_ms(const char *value, size_t len, uint64_t now_wall_ms,
                           uint64_t retry_after_max_ms)
{
    if (value == NULL)
        return 0;
    while (len > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        len--;
    }
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len == 0)
        return 0;
    uint64_t ms = 0;
    if (isdigit((unsigned char)value[0])) {
        /* delta-seconds: 1*DIGIT, nothing else */
        uint64_t secs = 0;
        for (size_t i = 0; i < len; i++) {
            if (!isdigit((unsigned char)value[i]))
                return 0;
            if (secs > (UINT64_MAX / 1000u - 9) / 10)
                secs = UINT64_MAX / 1000u; /* saturate; the cap below bounds it */
            else
                secs = secs * 10 + (uint64_t)(value[i] - '0');
        }
        ms = secs * 1000u;
    } else {
        uint64_t at;
        if (!parse_http_date(value, len, &at))
            return 0;
        ms = at > now_wall_ms ? at - now_wall_ms : 0;
    }
    if (retry_after_max_ms != 0 && ms > retry_after_max_ms)
        ms = retry_after_max_ms;
    return ms;
}
