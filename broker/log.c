/*
 * log.c — the log line: levels and format (atomics, any thread), JSON or text, escaping,
 * bounded length with valid JSON when cut, typed numbers (HD_LOG_NUM keys), and hd_log itself.
 * Where a line goes is log_sink.c's concern.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log_internal.h"

static atomic_int log_format = HD_LOG_JSON;
static atomic_int log_level = HD_LOG_INFO;

void hd_log_set_format(hd_log_format_t f)
{
    atomic_store(&log_format, (int)f);
}

void hd_log_set_level(hd_log_level_t l)
{
    atomic_store(&log_level, (int)l);
}

hd_log_level_t hd_log_level(void)
{
    return (hd_log_level_t)atomic_load(&log_level);
}

/* Room kept at the end for the closing of a JSON line ("...\"}\n") when truncating. */
#define LOG_TAIL_RESERVE 8

typedef hd_log__line_t linebuf_t;

static void lb_putn(linebuf_t *lb, const char *s, size_t n)
{
    size_t room = sizeof(lb->buf) - LOG_TAIL_RESERVE - lb->len;
    if (n > room) {
        n = room;
        lb->truncated = true;
    }
    memcpy(lb->buf + lb->len, s, n);
    lb->len += n;
}

static void lb_puts(linebuf_t *lb, const char *s)
{
    lb_putn(lb, s, strlen(s));
}

/* The letter of c's two-character JSON escape (RFC 8259 §7: \" \\ \n \r \t \b \f), or 0. */
static char json_short_escape(unsigned char c)
{
    switch (c) {
    case '"':
    case '\\':
        return (char)c;
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    default:
        return 0;
    }
}

/* Appends s as the inside of a JSON string: quotes, backslashes and control characters are
 * escaped; bytes >= 0x80 are passed through (UTF-8 stays UTF-8). Never splits an escape. */
static void lb_json_escaped(linebuf_t *lb, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)s; *p && !lb->truncated; p++) {
        char esc[7];
        size_t n;
        char letter = json_short_escape(*p);
        if (letter) {
            esc[0] = '\\';
            esc[1] = letter;
            n = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            n = 6;
        } else {
            esc[0] = (char)*p;
            n = 1;
        }
        size_t room = sizeof(lb->buf) - LOG_TAIL_RESERVE - lb->len;
        if (n > room) {
            lb->truncated = true;
            break;
        }
        memcpy(lb->buf + lb->len, esc, n);
        lb->len += n;
    }
}

/* Text format: control characters become spaces so a line stays one line. */
static void lb_text_clean(linebuf_t *lb, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p && !lb->truncated; p++) {
        char c = (*p < 0x20 || *p == 0x7f) ? ' ' : (char)*p;
        lb_putn(lb, &c, 1);
    }
}

/* Drops a UTF-8 sequence cut at the end of the buffer. */
static void utf8_trim(linebuf_t *lb)
{
    size_t i = lb->len, cont = 0;
    while (i > 0 && cont < 3 && ((unsigned char)lb->buf[i - 1] & 0xC0) == 0x80) {
        i--;
        cont++;
    }
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)lb->buf[i - 1];
    size_t want = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
    if (lead >= 0xC0 && cont < want)
        lb->len = i - 1;
}

/* Closes a JSON string value that was cut short (the reserve leaves room for this). */
static void json_close_truncated(linebuf_t *lb)
{
    utf8_trim(lb);
    memcpy(lb->buf + lb->len, "...\"", 4);
    lb->len += 4;
}

static const char *level_name(hd_log_level_t l)
{
    switch (l) {
    case HD_LOG_DEBUG:
        return "debug";
    case HD_LOG_INFO:
        return "info";
    case HD_LOG_WARN:
        return "warn";
    case HD_LOG_ERROR:
        return "error";
    }
    return "info";
}

/* True when s is a JSON number (RFC 8259 §6): -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(const char *s)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return false;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

/* One key/value pair in JSON. A pair that does not fit up to its value is dropped whole; a
 * value cut short is closed with "..." so the line stays valid JSON. */
static void json_pair(linebuf_t *lb, const char *k, const char *v)
{
    bool num = k[0] == '#';
    if (num)
        k++;
    num = num && v && json_number(v);
    size_t mark = lb->len;
    lb_puts(lb, ",\"");
    lb_json_escaped(lb, k);
    lb_puts(lb, !v ? "\":null" : num ? "\":" : "\":\"");
    if (lb->truncated) {
        lb->len = mark;
        return;
    }
    if (!v)
        return;
    if (num) {
        lb_puts(lb, v);
        if (lb->truncated) /* a number is never cut: the pair goes */
            lb->len = mark;
        return;
    }
    lb_json_escaped(lb, v);
    if (lb->truncated)
        json_close_truncated(lb);
    else
        lb_puts(lb, "\"");
}

static void text_pair(linebuf_t *lb, const char *k, const char *v)
{
    if (k[0] == '#')
        k++;
    lb_puts(lb, " ");
    lb_text_clean(lb, k);
    lb_puts(lb, "=");
    if (!v) {
        lb_puts(lb, "(null)");
    } else if (!*v || strpbrk(v, " \"=")) {
        lb_puts(lb, "\"");
        lb_text_clean(lb, v);
        lb_puts(lb, "\"");
    } else {
        lb_text_clean(lb, v);
    }
}

void hd_log__format(linebuf_t *lb, hd_log_level_t level, const char *msg, const char *const *kv,
                    size_t npairs)
{
    bool json = atomic_load_explicit(&log_format, memory_order_relaxed) == HD_LOG_JSON;
    lb->len = 0;
    lb->truncated = false;

    uint64_t now = hd_wall_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[80];
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(now % 1000));

    if (json) {
        lb_puts(lb, "{\"ts\":\"");
        lb_puts(lb, ts);
        lb_puts(lb, "\",\"level\":\"");
        lb_puts(lb, level_name(level));
        lb_puts(lb, "\",\"msg\":\"");
        lb_json_escaped(lb, msg ? msg : "");
        if (!lb->truncated)
            lb_puts(lb, "\"");
        else
            json_close_truncated(lb);
    } else {
        lb_puts(lb, ts);
        lb_puts(lb, " ");
        const char *ln = level_name(level);
        lb_puts(lb, ln);
        lb_puts(lb, strlen(ln) < 5 ? "  " : " ");
        lb_text_clean(lb, msg ? msg : "");
    }

    for (size_t i = 0; i < npairs && !lb->truncated; i++) {
        const char *k = kv[2 * i], *v = kv[2 * i + 1];
        if (json)
            json_pair(lb, k, v);
        else
            text_pair(lb, k, v);
    }

    /* LOG_TAIL_RESERVE guarantees room for the tail. */
    if (json) {
        lb->buf[lb->len++] = '}';
    } else if (lb->truncated) {
        utf8_trim(lb);
        memcpy(lb->buf + lb->len, "...", 3);
        lb->len += 3;
    }
    lb->buf[lb->len++] = '\n';
}

void hd_log(hd_log_level_t level, const char *msg, ...)
{
    if ((int)level < atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    const char *kv[2 * HD_LOG__PAIRS_MAX];
    size_t n = 0;
    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        if (n < HD_LOG__PAIRS_MAX) {
            kv[2 * n] = k;
            kv[2 * n + 1] = v;
            n++;
        }
        if (!v)
            break; /* a NULL value ends the list too: the next vararg is not ours to read */
    }
    va_end(ap);
    if (!hd_log__admit(level, msg ? msg : "", kv, n))
        return;
    hd_log__line_t lb;
    hd_log__format(&lb, level, msg, kv, n);
    hd_log__emit(lb.buf, lb.len);
}
