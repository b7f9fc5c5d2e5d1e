/*
 * bench_codec.c — CPU cost of the SDK codecs per event: decode (which validates) and
 * decode+validate+encode, for a ~300-byte event in HTTP binary and structured mode, plus
 * Kafka binary and the storage pack/unpack. Prints ns per event; asserts nothing.
 *
 * Usage: bench_codec [seconds-per-case]   (default 1.0; each case also stops at 5M iterations)
 */
#include "herald/ce_http.h"
#include "herald/ce_json.h"
#include "herald/ce_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define H(n, v)                                                                                    \
    {                                                                                              \
        n, sizeof(n) - 1, v, sizeof(v) - 1                                                         \
    }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU time of this process: on a shared machine it is steadier than the wall clock. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char DATA[] = "{\"orderId\":\"8f14e45f-ceea-467f-a8b7-3c6b2f1d9a10\",\"customer\":"
                           "\"c-4711\",\"amount\":129.95,\"currency\":\"EUR\",\"items\":3}";

static ce_header_t bin_headers[] = {
    H("ce-specversion", "1.0"),
    H("ce-id", "b85d631a-101e-4e2e-a6d6-5d5d3c6e8c41"),
    H("ce-source", "/orders/eu-west/checkout"),
    H("ce-type", "com.example.order.created"),
    H("ce-time", "2024-05-01T12:34:56.789Z"),
    H("ce-subject", "order-8f14e45f"),
    H("ce-partitionkey", "c-4711"),
    H("content-type", "application/json"),
    H("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
};

static volatile size_t sink;

typedef int (*case_fn)(void *arg);

static void run(const char *name, case_fn fn, void *arg, double secs, size_t bytes)
{
    for (int i = 0; i < 1000; i++) /* warm-up */
        if (fn(arg) != 0) {
            printf("%-44s FAILED\n", name);
            return;
        }
    size_t iters = 0;
    double t0 = now(), t1 = t0, c0 = cpu_now();
    while (t1 - t0 < secs && iters < 5000000) {
        for (int i = 0; i < 1000; i++)
            fn(arg);
        iters += 1000;
        t1 = now();
    }
    double cpu_ns = (cpu_now() - c0) * 1e9 / (double)iters;
    double wall_ns = (t1 - t0) * 1e9 / (double)iters;
    printf("%-42s %7.0f ns cpu %7.0f ns wall %9.0f ev/s cpu  (%zu B, %zu it)\n", name, cpu_ns,
           wall_ns, 1e9 / cpu_ns, bytes, iters);
}

static int bin_decode(void *arg)
{
    ce_http_msg_t *m = arg;
    ce_event_t **evs;
    size_t n;
    if (ce_http_decode(m, &evs, &n, NULL) != CE_E_OK)
        return 1;
    sink += n;
    ce_event_free(evs[0]);
    free(evs);
    return 0;
}

static int roundtrip(ce_http_msg_t *m, ce_http_mode_t mode)
{
    ce_event_t **evs;
    size_t n;
    if (ce_http_decode(m, &evs, &n, NULL) != CE_E_OK)
        return 1;
    if (ce_event_validate(evs[0], NULL) != CE_E_OK)
        return 1;
    ce_http_out_t o;
    if (ce_http_encode(evs[0], mode, CE_HEADER_COMPAT, &o) != CE_E_OK)
        return 1;
    sink += o.body.len;
    ce_http_out_free(&o);
    ce_event_free(evs[0]);
    free(evs);
    return 0;
}

static int bin_roundtrip(void *arg)
{
    return roundtrip(arg, CE_HTTP_BINARY);
}
static int str_roundtrip(void *arg)
{
    return roundtrip(arg, CE_HTTP_STRUCTURED);
}

static int kafka_roundtrip(void *arg)
{
    ce_kafka_msg_t *m = arg;
    ce_event_t *ev;
    if (ce_kafka_decode(m, &ev, NULL) != CE_E_OK)
        return 1;
    ce_kafka_out_t o;
    if (ce_kafka_encode(ev, CE_KAFKA_BINARY, CE_KAFKA_KEY_PARTITIONKEY, &o) != CE_E_OK)
        return 1;
    sink += o.value.len;
    ce_kafka_out_free(&o);
    ce_event_free(ev);
    return 0;
}

typedef struct {
    uint8_t *buf;
    size_t len;
} packed_t;

static int unpack_case(void *arg)
{
    packed_t *p = arg;
    ce_event_t *ev;
    if (ce_event_unpack(p->buf, p->len, &ev, NULL) != CE_E_OK)
        return 1;
    sink += ce_event_attr_count(ev);
    ce_event_free(ev);
    return 0;
}

static int get_case(void *arg)
{
    const ce_event_t *ev = arg;
    const ce_value_t *a = ce_event_get(ev, "type", 4), *b = ce_event_get(ev, "partitionkey", 12);
    sink += a->len + b->len;
    return 0;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    if (secs <= 0)
        secs = 1.0;
    size_t nh = sizeof bin_headers / sizeof bin_headers[0];
    ce_http_msg_t bin = {bin_headers, nh, DATA, sizeof DATA - 1};
    size_t bin_bytes = bin.body_len;
    for (size_t i = 0; i < nh; i++)
        bin_bytes += bin_headers[i].name_len + bin_headers[i].value_len + 4;

    /* the same event in structured mode */
    ce_event_t **evs;
    size_t n;
    if (ce_http_decode(&bin, &evs, &n, NULL) != CE_E_OK) {
        fprintf(stderr, "sample event does not decode\n");
        return 1;
    }
    ce_http_out_t so;
    ce_http_encode(evs[0], CE_HTTP_STRUCTURED, CE_HEADER_COMPAT, &so);
    ce_http_msg_t str = {so.headers, so.header_count, so.body.data, so.body.len};

    ce_header_t kh[16];
    size_t nk = 0;
    ce_kafka_out_t ko;
    ce_kafka_encode(evs[0], CE_KAFKA_BINARY, CE_KAFKA_KEY_PARTITIONKEY, &ko);
    for (size_t i = 0; i < ko.header_count && nk < 16; i++)
        kh[nk++] = ko.headers[i];
    ce_kafka_msg_t km = {kh, nk, ko.key.data, ko.key.len, ko.value.data, ko.value.len};

    packed_t pk;
    ce_event_pack(evs[0], &pk.buf, &pk.len);

    printf("libherald-ce codec benchmark (%.1f s per case)\n", secs);
    run("http binary: decode+validate", bin_decode, &bin, secs, bin_bytes);
    run("http binary: decode+validate+encode", bin_roundtrip, &bin, secs, bin_bytes);
    run("http structured: decode+validate", bin_decode, &str, secs, so.body.len);
    run("http structured: decode+validate+encode", str_roundtrip, &str, secs, so.body.len);
    run("kafka binary: decode+validate+encode", kafka_roundtrip, &km, secs, ko.value.len);
    run("storage: unpack", unpack_case, &pk, secs, pk.len);
    run("ce_event_get x2 (type, partitionkey)", get_case, evs[0], secs, 0);

    free(pk.buf);
    ce_kafka_out_free(&ko);
    ce_http_out_free(&so);
    ce_event_free(evs[0]);
    free(evs);
    return 0;
}
