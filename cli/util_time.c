/* util_time.c — RFC 3339 times and kubectl-style ages (util_time.h). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "util_time.h"

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool cli_time_parse(const char *s, time_t *out)
{
    int y, mo, d, h, mi, se;
    if (!s || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &se))
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om))
            return false;
        off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return false;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = se};
    *out = timegm(&tm) - off;
    return true;
}

void cli_human_duration(double secs, char *out, size_t cap)
{
    long s = secs < 0 ? 0 : (long)secs;
    long m = s / 60, h = s / 3600, d = s / 86400, y = d / 365;
    if (s < 120)
        snprintf(out, cap, "%lds", s);
    else if (m < 10)
        s % 60 ? snprintf(out, cap, "%ldm%lds", m, s % 60) : snprintf(out, cap, "%ldm", m);
    else if (h < 3)
        snprintf(out, cap, "%ldm", m);
    else if (h < 8)
        m % 60 ? snprintf(out, cap, "%ldh%ldm", h, m % 60) : snprintf(out, cap, "%ldh", h);
    else if (d < 2)
        snprintf(out, cap, "%ldh", h);
    else if (d < 8)
        h % 24 ? snprintf(out, cap, "%ldd%ldh", d, h % 24) : snprintf(out, cap, "%ldd", d);
    else if (y < 2)
        snprintf(out, cap, "%ldd", d);
    else if (y < 8)
        d % 365 ? snprintf(out, cap, "%ldy%ldd", y, d % 365) : snprintf(out, cap, "%ldy", y);
    else
        snprintf(out, cap, "%ldy", y);
}

void cli_age(const char *rfc3339, char *out, size_t cap)
{
    time_t t;
    if (!cli_time_parse(rfc3339, &t)) {
        snprintf(out, cap, "<unknown>");
        return;
    }
    cli_human_duration(difftime(time(NULL), t), out, cap);
}

void cli_now_rfc3339(char out[32])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}
