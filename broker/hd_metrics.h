/*
 * hd_metrics.h — counters, gauges and latency histograms, rendered in Prometheus text format.
 * A metric is created (or found) once by name + label set and then updated through its handle,
 * which is cheap (relaxed atomics: any thread may update; create on the loop thread).
 */
#ifndef HERALD_HD_METRICS_H
#define HERALD_HD_METRICS_H

#include "hd.h"

typedef struct hd_metric hd_metric_t;

/* A new, empty registry (NULL when out of memory); free with hd_metrics_free, which accepts
 * NULL. Loop thread. */
hd_metrics_t *hd_metrics_new(void);
void hd_metrics_free(hd_metrics_t *m);

/*
 * Get-or-create a series. The labels follow the help text as key/value pairs, the keys
 * Prometheus label names ([a-zA-Z_][a-zA-Z0-9_]*) and the values any text, which is escaped
 * here (\\, \", newline): hd_metrics_counter(m, "herald_x_total", "Help.", "namespace", ns,
 * "trigger", name). Pass NULL for no labels; a trailing NULL after the pairs is allowed. A single
 * string instead of pairs is label text already in Prometheus form ("reason=\"busy\""), for
 * constant labels only: never put user data there. Arguments are borrowed. Returns a handle valid
 * until hd_metrics_free, or NULL when out of memory, on an invalid name or key, a key without a
 * value, or a name already used with another type (updates through NULL are ignored).
 */
#define hd_metrics_counter(m, name, help, ...)                                                     \
    hd_metrics__get((m), HD_METRIC_COUNTER, (name), (help),                                        \
                    (const char *const[]){__VA_ARGS__, NULL})
#define hd_metrics_gauge(m, name, help, ...)                                                       \
    hd_metrics__get((m), HD_METRIC_GAUGE, (name), (help), (const char *const[]){__VA_ARGS__, NULL})
/* Histogram of seconds, fixed buckets from 100 µs to 30 s. Labels as hd_metrics_counter. */
#define hd_metrics_histogram(m, name, help, ...)                                                   \
    hd_metrics__get((m), HD_METRIC_HISTOGRAM, (name), (help),                                      \
                    (const char *const[]){__VA_ARGS__, NULL})

/* Counters and gauges of millionths (values set in micro-units, rendered with six decimals):
 * seconds of CPU time, for example. Labels as hd_metrics_counter. */
#define hd_metrics_counter_micro(m, name, help, ...)                                               \
    hd_metrics__get((m), HD_METRIC_COUNTER_MICRO, (name), (help),                                  \
                    (const char *const[]){__VA_ARGS__, NULL})
#define hd_metrics_gauge_micro(m, name, help, ...)                                                 \
    hd_metrics__get((m), HD_METRIC_GAUGE_MICRO, (name), (help),                                    \
                    (const char *const[]){__VA_ARGS__, NULL})

typedef enum {
    HD_METRIC_COUNTER,
    HD_METRIC_GAUGE,
    HD_METRIC_HISTOGRAM,
    HD_METRIC_COUNTER_MICRO,
    HD_METRIC_GAUGE_MICRO,
} hd_metric_type_t;
/* The function behind the three macros above: `labels` is a NULL-terminated array of pairs (or
 * of one preformatted string), borrowed. Loop thread. */
hd_metric_t *hd_metrics__get(hd_metrics_t *m, hd_metric_type_t type, const char *name,
                             const char *help, const char *const *labels);

void hd_metric_inc(hd_metric_t *c, uint64_t n);
/* Sets a gauge; also sets a counter whose total is kept elsewhere (e.g. the store's commit count,
 * mirrored from a render callback). */
void hd_metric_set(hd_metric_t *g, int64_t v);
void hd_metric_observe(hd_metric_t *h, double seconds);
/* Current value of a counter or gauge (tests, describe). */
int64_t hd_metric_value(const hd_metric_t *m);

/*
 * Forgets every series whose labels include all the given key/value pairs (at most 4 pairs):
 * hd_metrics_forget(m, "namespace", ns, "trigger", name) when that trigger is deleted. A
 * forgotten series is not rendered (nor its family, once it has no other series) and its value
 * is zeroed; its handle stays valid, and it is rendered again once updated or got again (the
 * resource made again). Returns the number of series forgotten. Loop thread.
 */
#define hd_metrics_forget(m, ...) hd_metrics__forget((m), (const char *const[]){__VA_ARGS__, NULL})
size_t hd_metrics__forget(hd_metrics_t *m, const char *const *kv);

/* The process's own series, read from /proc at each render: process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
 * process_max_fds, process_start_time_seconds (Prometheus's standard names), and
 * herald_build_info{version,commit} 1 (broker/metrics_process.c). version and commit are
 * borrowed for the call. Errors: HD_E_INVAL, HD_E_NOMEM. Loop thread. */
typedef struct hd_metrics_process hd_metrics_process_t;
hd_err_t hd_metrics_process_open(hd_metrics_t *m, const char *version, const char *commit,
                                 hd_metrics_process_t **out);
/* Stops refreshing them (before the registry is freed). Accepts NULL. */
void hd_metrics_process_close(hd_metrics_process_t *p);

/* Renders every metric (grouped by name with HELP and TYPE lines; families sorted by name, series
 * by label text) into a new NUL-terminated string (free with hd_free) and its length; NULL when
 * out of memory. Gauges computed on demand are refreshed by the callbacks below, which run first.
 * A name already used with another type gives NULL from the get-or-create functions. */
char *hd_metrics_render(hd_metrics_t *m, size_t *len);
/* Registers a callback run just before rendering (to set backlog gauges, store stats...). */
hd_err_t hd_metrics_on_render(hd_metrics_t *m, void (*fn)(void *arg), void *arg);
/* Removes a callback registered with the same fn and arg (call it before arg goes away). */
void hd_metrics_off_render(hd_metrics_t *m, void (*fn)(void *arg), void *arg);

#endif /* HERALD_HD_METRICS_H */
