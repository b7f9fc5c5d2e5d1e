/*
 * hd.c — the shared base of heraldd: error names and messages, the allocation wrapper (with a
 * fail-after counter for tests) and clocks. Logging is in log.c and log_sink.c.
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
