/*
 * hd.c — the shared base of heraldd: error names and messages, the allocation wrapper (with a
 * fail-after counter for tests), clocks and line-oriented logging to stderr.
 */
#include "hd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ---------------------------------------------------------------------------- */

static const char *const err_names[] = {
#define X(name, msg) #name,
    HD_ERR_MAP(X)
#undef X
};

static const char *const err_messages[] = {
#define X(name, msg) msg,
    HD_ERR_MAP(X)
#undef X
};

const char *hd_err_name(hd_err_t err)
{
    if ((int)err < 0 || err >= HD_E__COUNT)
        return "UNKNOWN";
    return err_names[err];
}

const char *hd_err_message(hd_err_t err)
{
    if ((int)err < 0 || err >= HD_E__COUNT)
        return "unknown error";
    return err_messages[err];
}

/* ---- allocation ------------------------------------------------------------------------ */

/* Countdown of allocations until one fails: 0 = disabled, n > 0 = the n-th allocation from
 * now fails (once). Process-wide test hook, the one deliberate piece of global state. */
static atomic_long alloc_fail_countdown;

void hd_alloc_fail_after(long n)
{
    atomic_store(&alloc_fail_countdown, n < 0 ? 0 : n);
}

/* True when this allocation must fail. */
static bool alloc_should_fail(void)
{
    long cur = atomic_load_explicit(&alloc_fail_countdown, memory_order_relaxed);
    while (cur > 0) {
        if (atomic_compare_exchange_weak(&alloc_fail_countdown, &cur, cur - 1))
            return cur == 1;
    }
    return false;
}

/* Larger requests are refused before reaching the allocator (sanitizers abort on them). */
#define ALLOC_MAX ((size_t)PTRDIFF_MAX)

void *hd_malloc(size_t n)
{
    if (alloc_should_fail() || n > ALLOC_MAX)
        return NULL;
    return malloc(n ? n : 1);
}

void *hd_calloc(size_t n, size_t size)
{
    if (alloc_should_fail())
        return NULL;
    if (n == 0 || size == 0)
        n = size = 1;
    if (n > ALLOC_MAX / size)
        return NULL; /* overflow: an error, checked here so no allocator ever sees it */
    return calloc(n, size);
}

void *hd_realloc(void *p, size_t n)
{
    if (alloc_should_fail() || n > ALLOC_MAX)
        return NULL;
    return realloc(p, n ? n : 1);
}

char *hd_strdup(const char *s)
{
    if (!s)
        return NULL;
    return hd_strndup(s, strlen(s));
}

char *hd_strndup(const char *s, size_t n)
{
    if (!s)
        return NULL;
    size_t len = strnlen(s, n);
    char *d = hd_malloc(len + 1);
    if (!d)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

bool hd_parse_u64(const char *s, size_t len, uint64_t *out)
{
    if (!s || len == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

void hd_free(void *p)
{
    free(p);
}

/* ---- clocks ---------------------------------------------------------------------------- */

uint64_t hd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t hd_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- logging --------------------------------------------------------------------------- */

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

/* One log line is built in a fixed buffer; longer lines are cut with "..." so a line is always
 * a single write(2) of bounded size (PIPE_BUF-sized writes stay atomic on pipes). */
#define LOG_LINE_MAX 4096

typedef struct {
    char buf[LOG_LINE_MAX];
    size_t len;
    bool truncated;
} linebuf_t;

/* Room kept at the end for the closing of a JSON line ("...\"}\n") when truncating. */
#define LOG_TAIL_RESERVE 8

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

/* Writes the whole line, retrying on EINTR and short writes. */
static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void hd_log(hd_log_level_t level, const char *msg, ...)
{
    if ((int)level < atomic_load_explicit(&log_level, memory_order_relaxed))
        return;
    bool json = atomic_load_explicit(&log_format, memory_order_relaxed) == HD_LOG_JSON;
    linebuf_t lb;
    lb.len = 0;
    lb.truncated = false;

    uint64_t now = hd_wall_ms();
    time_t secs = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char ts[80];
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(now % 1000));

    if (json) {
        lb_puts(&lb, "{\"ts\":\"");
        lb_puts(&lb, ts);
        lb_puts(&lb, "\",\"level\":\"");
        lb_puts(&lb, level_name(level));
        lb_puts(&lb, "\",\"msg\":\"");
        lb_json_escaped(&lb, msg ? msg : "");
        if (!lb.truncated)
            lb_puts(&lb, "\"");
    } else {
        lb_puts(&lb, ts);
        lb_puts(&lb, " ");
        const char *ln = level_name(level);
        lb_puts(&lb, ln);
        lb_puts(&lb, strlen(ln) < 5 ? "  " : " ");
        lb_text_clean(&lb, msg ? msg : "");
    }

    if (json && lb.truncated)
        json_close_truncated(&lb);

    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        if (lb.truncated)
            goto next; /* keep consuming the pairs; nothing more fits */
        if (json) {
            /* A pair that does not fit up to its value is dropped whole; a value cut short is
             * closed with "..." so the line stays valid JSON. */
            size_t mark = lb.len;
            lb_puts(&lb, ",\"");
            lb_json_escaped(&lb, k);
            lb_puts(&lb, v ? "\":\"" : "\":null");
            if (lb.truncated) {
                lb.len = mark;
                goto next;
            }
            if (v) {
                lb_json_escaped(&lb, v);
                if (lb.truncated)
                    json_close_truncated(&lb);
                else
                    lb_puts(&lb, "\"");
            }
        } else {
            lb_puts(&lb, " ");
            lb_text_clean(&lb, k);
            lb_puts(&lb, "=");
            if (!v) {
                lb_puts(&lb, "(null)");
            } else if (!*v || strpbrk(v, " \"=")) {
                lb_puts(&lb, "\"");
                lb_text_clean(&lb, v);
                lb_puts(&lb, "\"");
            } else {
                lb_text_clean(&lb, v);
            }
        }
    next:
        if (!v)
            break; /* a NULL value ends the list too: the next vararg is not ours to read */
    }
    va_end(ap);

    /* LOG_TAIL_RESERVE guarantees room for the tail. */
    if (json) {
        lb.buf[lb.len++] = '}';
    } else if (lb.truncated) {
        utf8_trim(&lb);
        memcpy(lb.buf + lb.len, "...", 3);
        lb.len += 3;
    }
    lb.buf[lb.len++] = '\n';
    write_all(STDERR_FILENO, lb.buf, lb.len);
}
