/*
 * bench_store.c — commit throughput of the LMDB log backend under group commit, through the
 * event-log interface (hd_evlog_append).
 *
 *   bench_store [-d fsync|batch|none] [-c in_flight] [-e events_per_batch] [-s seconds]
 *               [-b data_bytes] [-p dir]
 *
 * Keeps `in_flight` batches submitted at all times (like that many producers waiting for their
 * 202), each with `events_per_batch` events, and prints events/s, commits/s, batches per commit
 * and the submit-to-callback latency percentiles. Runs for a bounded time in a fresh temp dir.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hd_lmdb.h"

typedef struct {
    hd_lmdb_t *lm;
    hd_evlog_t *log;
    ce_event_t **evs; /* events_per_batch pointers to the one prototype event */
    int events_per_batch;
    const char *data;
    uint64_t deadline_ms;
    uint64_t done_events, done_batches, failed;
    uint64_t *lat_us;
    size_t nlat, caplat;
    int in_flight;
} bench_t;

typedef struct {
    bench_t *b;
    uint64_t t0_us;
} req_t;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static ce_event_t *proto;

static void submit_one(bench_t *b);

static void on_done(void *arg, hd_err_t status, uint64_t first_seq)
{
    (void)first_seq;
    req_t *r = arg;
    bench_t *b = r->b;
    b->in_flight--;
    if (status == HD_E_OK) {
        b->done_batches++;
        b->done_events += (uint64_t)b->events_per_batch;
        if (b->nlat < b->caplat)
            b->lat_us[b->nlat++] = now_us() - r->t0_us;
    } else {
        b->failed++;
    }
    free(r);
    if (hd_now_ms() < b->deadline_ms)
        submit_one(b);
}

static void submit_one(bench_t *b)
{
    req_t *r = malloc(sizeof(*r));
    r->b = b;
    r->t0_us = now_us();
    hd_err_t e = hd_evlog_append(b->log, 1, b->evs, (size_t)b->events_per_batch, on_done, r);
    if (e != HD_E_OK) {
        free(r);
        b->failed++;
        return;
    }
    b->in_flight++;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *dur = "fsync", *parent = "/tmp";
    int in_flight = 64, epb = 1, seconds = 5, data_bytes = 256, opt;
    while ((opt = getopt(argc, argv, "d:c:e:s:b:p:")) != -1) {
        switch (opt) {
        case 'd':
            dur = optarg;
            break;
        case 'c':
            in_flight = atoi(optarg);
            break;
        case 'e':
            epb = atoi(optarg);
            break;
        case 's':
            seconds = atoi(optarg);
            break;
        case 'b':
            data_bytes = atoi(optarg);
            break;
        case 'p':
            parent = optarg;
            break;
        default:
            fprintf(stderr,
                    "usage: %s [-d fsync|batch|none] [-c in_flight] [-e events_per_batch] "
                    "[-s seconds] [-b data_bytes] [-p dir]\n",
                    argv[0]);
            return 2;
        }
    }
    if (in_flight < 1 || epb < 1 || seconds < 1 || seconds > 600 || data_bytes < 0) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    hd_durability_t d = strcmp(dur, "none") == 0    ? HD_DURABILITY_NONE
                        : strcmp(dur, "batch") == 0 ? HD_DURABILITY_BATCH
                                                    : HD_DURABILITY_FSYNC;
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/herald-bench-store-XXXXXX", parent);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char *data = malloc((size_t)data_bytes + 1);
    memset(data, 'd', (size_t)data_bytes);
    data[data_bytes] = '\0';
    proto = ce_event_new();
    ce_event_set(proto, "specversion", "1.0", 3, NULL);
    ce_event_set(proto, "id", "bench-event-0001", 16, NULL);
    ce_event_set(proto, "source", "/bench/store", 12, NULL);
    ce_event_set(proto, "type", "dev.herald.bench", 16, NULL);
    ce_event_set_data(proto, data, (size_t)data_bytes, false);

    uv_loop_t loop;
    uv_loop_init(&loop);
    hd_lmdb_opts_t o = {.data_dir = dir,
                        .durability = d,
                        .sync_interval_ms = 10,
                        .map_size_initial = 64u << 20,
                        .map_size_max = 16ull << 30,
                        .queue_max = 65536};
    bench_t b = {0};
    if (hd_lmdb_open(&loop, &o, &b.lm) != HD_E_OK)
        return 1;
    b.log = hd_lmdb_evlog(b.lm);
    b.evs = malloc((size_t)epb * sizeof(*b.evs));
    for (int i = 0; i < epb; i++)
        b.evs[i] = proto;
    b.events_per_batch = epb;
    b.caplat = 4u << 20;
    b.lat_us = malloc(b.caplat * sizeof(uint64_t));
    b.deadline_ms = hd_now_ms() + (uint64_t)seconds * 1000;
    uint64_t t0 = now_us();
    for (int i = 0; i < in_flight; i++)
        submit_one(&b);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once the last callback ran */
    double secs = (double)(now_us() - t0) / 1e6;
    hd_lmdb_stats_t s;
    hd_lmdb_stats(b.lm, &s);
    qsort(b.lat_us, b.nlat, sizeof(uint64_t), cmp_u64);
    printf("durability=%s in_flight=%d events_per_batch=%d data_bytes=%d seconds=%.2f\n", dur,
           in_flight, epb, data_bytes, secs);
    printf("events/s=%.0f batches/s=%.0f commits/s=%.0f batches/commit=%.1f fsyncs=%llu "
           "failed=%llu\n",
           (double)b.done_events / secs, (double)b.done_batches / secs, (double)s.commits / secs,
           s.commits ? (double)s.batches / (double)s.commits : 0.0, (unsigned long long)s.fsyncs,
           (unsigned long long)b.failed);
    if (b.nlat)
        printf("latency_us p50=%llu p90=%llu p99=%llu max=%llu\n",
               (unsigned long long)b.lat_us[b.nlat / 2],
               (unsigned long long)b.lat_us[b.nlat * 9 / 10],
               (unsigned long long)b.lat_us[b.nlat * 99 / 100],
               (unsigned long long)b.lat_us[b.nlat - 1]);
    hd_lmdb_close(b.lm);
    free(b.evs);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    ce_event_free(proto);
    free(b.lat_us);
    free(data);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
