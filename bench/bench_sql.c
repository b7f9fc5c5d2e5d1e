/*
 * bench_sql.c — time per evaluation of compiled CESQL filters against one event.
 *
 * usage: bench_sql [SECONDS_PER_FILTER]   (default 1.0, at most 30)
 * Each filter is compiled once and evaluated in a loop, bounded in time; the best of 20 rounds
 * is reported in ns of thread CPU time per evaluation (a loaded machine only makes some rounds
 * slower). Goal: <= 100 ns for the first filter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "herald/ce.h"
#include "herald/ce_sql.h"

/* Thread CPU time: time spent descheduled on a loaded machine does not count. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ce_event_t *make_event(void)
{
    ce_event_t *ev = ce_event_new();
    if (!ev)
        return NULL;
    static const char *const attrs[][2] = {
        {"specversion", "1.0"},
        {"id", "5c7f3c1e-9b1e-4c7a-8a53-3f1d2b7e9a10"},
        {"source", "/shop/eu/orders"},
        {"type", "com.example.order.created"},
        {"time", "2026-11-27T10:00:00Z"},
        {"subject", "order-12345"},
        {"datacontenttype", "application/json"},
        {"region", "eu"},
        {"priority", "7"},
    };
    for (size_t k = 0; k < sizeof attrs / sizeof attrs[0]; k++)
        if (ce_event_set(ev, attrs[k][0], attrs[k][1], strlen(attrs[k][1]), NULL) != CE_E_OK)
            goto fail;
    if (ce_event_set_bool(ev, "vip", false, NULL) != CE_E_OK ||
        ce_event_set_int(ev, "sampledrate", 10, NULL) != CE_E_OK)
        goto fail;
    return ev;
fail:
    ce_event_free(ev);
    return NULL;
}

static const struct {
    const char *what;
    const char *src;
} filters[] = {
    {"exact + prefix", "type = 'com.example.order.created' AND source LIKE '/shop/%'"},
    {"IN of 3 types", "type IN ('com.example.order.updated', 'com.example.order.deleted', "
                      "'com.example.order.created')"},
    {"contains + NOT suffix", "source LIKE '%/eu/%' AND NOT (type LIKE '%.test')"},
    {"casts + OR", "INT(priority) >= 5 OR vip = true OR sampledrate < 2"},
    {"UPPER (allocates)", "EXISTS region AND UPPER(region) = 'EU' AND LENGTH(subject) > 3"},
};

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    if (!(secs > 0) || secs > 30)
        secs = 1.0;
    ce_event_t *ev = make_event();
    if (!ev) {
        fprintf(stderr, "error: cannot build the event\n");
        return 1;
    }
    printf("%-24s %10s %8s  %s\n", "filter", "ns/eval", "matches", "expression");
    int rc = 0;
    for (size_t f = 0; f < sizeof filters / sizeof filters[0]; f++) {
        ce_sql_expr_t *e;
        ce_sql_parse_error_t perr;
        if (ce_sql_compile(filters[f].src, strlen(filters[f].src), &e, &perr) != CE_E_OK) {
            fprintf(stderr, "error: %s: position %zu: %s\n", filters[f].src, perr.position,
                    perr.message);
            rc = 1;
            continue;
        }
        bool m = ce_sql_matches(e, ev);
        double best = 1e30;
        for (int round = 0; round < 20; round++) {
            long n = 0, hits = 0;
            double t0 = now_s(), t1;
            /* bounded in time: check the clock every 4096 evaluations */
            do {
                for (int k = 0; k < 4096; k++)
                    hits += ce_sql_matches(e, ev);
                n += 4096;
                t1 = now_s();
            } while (t1 - t0 < secs / 20);
            double ns = (t1 - t0) * 1e9 / (double)n;
            if (ns < best)
                best = ns;
            if (hits != (m ? n : 0))
                rc = 1; /* results must be stable */
        }
        printf("%-24s %10.1f %8s  %s\n", filters[f].what, best, m ? "yes" : "no", filters[f].src);
        ce_sql_free(e);
    }
    /* baseline: one attribute lookup in the event model */
    long n = 0;
    size_t sink = 0;
    double t0 = now_s(), t1;
    do {
        for (int k = 0; k < 4096; k++) {
            const ce_value_t *v = ce_event_get(ev, "type", 4);
            sink += v ? v->len : 0;
        }
        n += 4096;
        t1 = now_s();
    } while (t1 - t0 < secs / 5);
    printf("%-24s %10.1f %8s  (ce_event_get \"type\", for reference; %zu)\n", "attribute lookup",
           (t1 - t0) * 1e9 / (double)n, "-", sink % 10);
    ce_event_free(ev);
    return rc;
}
