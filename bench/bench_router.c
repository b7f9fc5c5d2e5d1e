/*
 * bench_router.c — cost of routing one event through a broker's triggers (hd_router_match)
 * against evaluating every trigger's filter (what a router without an index does), for N
 * triggers of which 80% filter on an exact type, 10% on an exact source and 10% need a scan.
 *
 *   build/bench/bench_router [N_TRIGGERS] [N_EVENTS] [SCAN_PCT]  (defaults 10000, 200000, 10)
 * SCAN_PCT of the triggers filter with a suffix (not indexable), the same share on an exact
 * source, the rest on an exact type.
 * Prints ns per event for both, and the speed-up. Not a test: nothing is asserted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hd_resources.h"
#include "hd_router.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void count(void *arg, hd_trigger_t *t)
{
    (void)t;
    (*(size_t *)arg)++;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    int events = argc > 2 ? atoi(argv[2]) : 200000;
    int scan_pct = argc > 3 ? atoi(argv[3]) : 10;
    if (n < 10 || events < 1 || scan_pct < 0 || scan_pct > 50) {
        fprintf(stderr, "usage: bench_router [N_TRIGGERS>=10] [N_EVENTS>=1] [SCAN_PCT 0..50]\n");
        return 2;
    }
    hd_router_t *r = hd_router_new();
    hd_trigger_t *t = calloc((size_t)n, sizeof *t);
    char json[256], err[256];
    for (int i = 0; i < n; i++) {
        if (i % 100 < scan_pct)
            snprintf(json, sizeof json, "[{\"suffix\":{\"type\":\".%d\"}}]", i % 100);
        else if (i % 100 < 2 * scan_pct)
            snprintf(json, sizeof json, "[{\"exact\":{\"source\":\"/src/%d\"}}]", i % 500);
        else
            snprintf(
                json, sizeof json,
                "[{\"exact\":{\"type\":\"com.example.t%d\"}},{\"prefix\":{\"source\":\"/src\"}}]",
                i % (n / 2));
        cJSON *j = cJSON_Parse(json);
        if (hd_filter_compile(NULL, j, &t[i].filter, err, sizeof err) != HD_E_OK) {
            fprintf(stderr, "compile: %s\n", err);
            return 1;
        }
        cJSON_Delete(j);
        hd_router_add(r, &t[i]);
    }
    enum { NEV = 1024 };
    ce_event_t *ev[NEV];
    for (int i = 0; i < NEV; i++) {
        char type[64], src[64];
        snprintf(type, sizeof type, "com.example.t%d", (i * 7919) % n);
        snprintf(src, sizeof src, "/src/%d", (i * 31) % 1000);
        ev[i] = ce_event_new();
        ce_event_set(ev[i], "specversion", "1.0", 3, NULL);
        ce_event_set(ev[i], "id", "1", 1, NULL);
        ce_event_set(ev[i], "type", type, strlen(type), NULL);
        ce_event_set(ev[i], "source", src, strlen(src), NULL);
    }
    size_t hits_router = 0, hits_scan = 0;
    uint64_t t0 = now_ns();
    for (int k = 0; k < events; k++)
        hd_router_match(r, ev[k % NEV], count, &hits_router);
    uint64_t t1 = now_ns();
    int scan_events = events / 100 > 0 ? events / 100 : 1; /* the scan is slow: fewer rounds */
    for (int k = 0; k < scan_events; k++)
        for (int i = 0; i < n; i++)
            hits_scan += hd_filter_match(t[i].filter, ev[k % NEV]);
    uint64_t t2 = now_ns();
    double ns_router = (double)(t1 - t0) / events, ns_scan = (double)(t2 - t1) / scan_events;
    printf("triggers %d (scan list %zu), events %d\n", n, hd_router_scan_count(r), events);
    printf("router:        %10.0f ns/event  (%.2f matches/event)\n", ns_router,
           (double)hits_router / events);
    printf("evaluate all:  %10.0f ns/event  (%.2f matches/event)\n", ns_scan,
           (double)hits_scan / scan_events);
    printf("speed-up:      %10.1fx\n", ns_scan / ns_router);
    for (int i = 0; i < NEV; i++)
        ce_event_free(ev[i]);
    for (int i = 0; i < n; i++)
        hd_filter_free(t[i].filter);
    hd_router_free(r);
    free(t);
    return 0;
}
