/*
 * sdk_test_util.h — helpers shared by the SDK's Check suites (header-only, static functions).
 *
 * A failing allocator: after fail_after successful allocations every allocation fails, so
 * tests can walk n = 0, 1, 2, ... until the operation succeeds and assert that every earlier
 * run returned CE_E_NOMEM cleanly.
 */
#ifndef HERALD_SDK_TEST_UTIL_H
#define HERALD_SDK_TEST_UTIL_H

#include "herald/ce.h"

#include <stdlib.h>
#include <string.h>

static long tu_alloc_left = -1; /* -1: never fail */
static long tu_alloc_calls;

static void *tu_malloc(size_t n)
{
    tu_alloc_calls++;
    if (tu_alloc_left == 0)
        return NULL;
    if (tu_alloc_left > 0)
        tu_alloc_left--;
    return malloc(n);
}
static void *tu_realloc(void *p, size_t n)
{
    tu_alloc_calls++;
    if (tu_alloc_left == 0)
        return NULL;
    if (tu_alloc_left > 0)
        tu_alloc_left--;
    return realloc(p, n);
}
static void tu_free(void *p)
{
    free(p);
}

/* Installs the counting allocator; fail_after < 0 never fails. */
static inline void tu_alloc_install(long fail_after)
{
    static const ce_allocator_t a = {tu_malloc, tu_realloc, tu_free};
    tu_alloc_left = fail_after;
    tu_alloc_calls = 0;
    ce_set_allocator(&a);
}

static inline void tu_alloc_restore(void)
{
    ce_set_allocator(NULL);
    tu_alloc_left = -1;
}

/* A valid minimal event; caller frees. */
static inline ce_event_t *tu_min_event(void)
{
    ce_event_t *ev = ce_event_new();
    if (!ev)
        return NULL;
    ce_event_set(ev, "specversion", "1.0", 3, NULL);
    ce_event_set(ev, "id", "1", 1, NULL);
    ce_event_set(ev, "source", "/src", 4, NULL);
    ce_event_set(ev, "type", "t", 1, NULL);
    return ev;
}

/* Sets a NUL-terminated string attribute (asserting helpers live in each suite). */
static inline ce_err_t tu_set(ce_event_t *ev, const char *name, const char *value)
{
    return ce_event_set(ev, name, value, strlen(value), NULL);
}

#endif
