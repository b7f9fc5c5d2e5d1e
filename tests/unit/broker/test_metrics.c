/*
 * test_metrics.c — counters, gauges, histograms and their exact Prometheus text rendering.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hd_metrics.h"

static char *render(hd_metrics_t *m)
{
    size_t len = 0;
    char *text = hd_metrics_render(m, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    return text;
}

START_TEST(test_empty)
{
    hd_metrics_t *m = hd_metrics_new();
    char *t = render(m);
    ck_assert_str_eq(t, "");
    hd_free(t);
    hd_metrics_free(m);
}
END_TEST

START_TEST(test_counters_and_gauges_exact_text)
{
    hd_metrics_t *m = hd_metrics_new();
    const char *help = "Events received by ingress.";
    hd_metric_t *a = hd_metrics_counter(m, "herald_events_received_total", help,
                                        "namespace=\"default\",broker=\"b\",code=\"202\"");
    hd_metric_t *b = hd_metrics_counter(m, "herald_events_received_total", help,
                                        "namespace=\"default\",broker=\"b\",code=\"400\"");
    hd_metric_t *g =
        hd_metrics_gauge(m, "herald_backlog", "Events not yet delivered.", "trigger=\"t1\"");
    hd_metric_t *plain = hd_metrics_counter(m, "herald_drops_total", "Drops.", "");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    /* get-or-create returns the same handle */
    ck_assert_ptr_eq(hd_metrics_counter(m, "herald_events_received_total", help,
                                        "namespace=\"default\",broker=\"b\",code=\"202\""),
                     a);
    hd_metric_inc(a, 1);
    hd_metric_inc(a, 41);
    hd_metric_inc(b, 3);
    hd_metric_set(g, 17);
    hd_metric_set(g, -2);
    ck_assert_int_eq(hd_metric_value(a), 42);
    ck_assert_int_eq(hd_metric_value(g), -2);
    ck_assert_int_eq(hd_metric_value(plain), 0);
    char *t = render(m);
    ck_assert_str_eq(t, "# HELP herald_backlog Events not yet delivered.\n"
                        "# TYPE herald_backlog gauge\n"
                        "herald_backlog{trigger=\"t1\"} -2\n"
                        "# HELP herald_drops_total Drops.\n"
                        "# TYPE herald_drops_total counter\n"
                        "herald_drops_total 0\n"
                        "# HELP herald_events_received_total Events received by ingress.\n"
                        "# TYPE herald_events_received_total counter\n"
                        "herald_events_received_total{namespace=\"default\",broker=\"b\","
                        "code=\"202\"} 42\n"
                        "herald_events_received_total{namespace=\"default\",broker=\"b\","
                        "code=\"400\"} 3\n");
    hd_free(t);
    hd_metrics_free(m);
}
END_TEST

START_TEST(test_histogram_exact_text)
{
    hd_metrics_t *m = hd_metrics_new();
    hd_metric_t *h =
        hd_metrics_histogram(m, "herald_ingest_seconds", "Ingest latency.", "broker=\"b\"");
    hd_metric_observe(h, 0.0001); /* on the first bound: le="0.0001" */
    hd_metric_observe(h, 0.0003); /* 0.0005 */
    hd_metric_observe(h, 0.002);  /* 0.0025 */
    hd_metric_observe(h, 1.5);    /* 2.5 */
    hd_metric_observe(h, 100);    /* +Inf */
    ck_assert_int_eq(hd_metric_value(h), 5);
    char *t = render(m);
    ck_assert_str_eq(t, "# HELP herald_ingest_seconds Ingest latency.\n"
                        "# TYPE herald_ingest_seconds histogram\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"0.0001\"} 1\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"0.00025\"} 1\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"0.0005\"} 2\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"0.001\"} 2\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"0.0025\"} 3\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"0.005\"} 3\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"0.01\"} 3\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"0.025\"} 3\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"0.05\"} 3\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"0.1\"} 3\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"0.25\"} 3\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"0.5\"} 3\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"1\"} 3\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"2.5\"} 4\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"5\"} 4\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"10\"} 4\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"30\"} 4\n"
                        "herald_ingest_seconds_bucket{broker=\"b\",le=\"+Inf\"} 5\n"
                        "herald_ingest_seconds_sum{broker=\"b\"} 101.5024\n"
                        "herald_ingest_seconds_count{broker=\"b\"} 5\n");
    hd_free(t);
    hd_metrics_free(m);
}
END_TEST

START_TEST(test_histogram_no_labels_and_help_escaping)
{
    hd_metrics_t *m = hd_metrics_new();
    hd_metric_t *h = hd_metrics_histogram(m, "lat_seconds", "a\\b\nc", "");
    hd_metric_observe(h, 0.05);
    hd_metric_observe(h, -1); /* a clock step: counted as 0 */
    char *t = render(m);
    ck_assert_ptr_nonnull(
        strstr(t, "# HELP lat_seconds a\\\\b\\nc\n# TYPE lat_seconds histogram\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nlat_seconds_bucket{le=\"0.0001\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nlat_seconds_bucket{le=\"0.05\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(t, "\nlat_seconds_sum 0.05\nlat_seconds_count 2\n"));
    hd_free(t);
    hd_metrics_free(m);
}
END_TEST

START_TEST(test_sum_line_labels)
{
    hd_metrics_t *m = hd_metrics_new();
    hd_metric_t *h = hd_metrics_histogram(m, "d_seconds", "D.", "trigger=\"t\"");
    hd_metric_observe(h, 2);
    char *t = render(m);
    ck_assert_ptr_nonnull(
        strstr(t, "\nd_seconds_sum{trigger=\"t\"} 2\nd_seconds_count{trigger=\"t\"} 1\n"));
    hd_free(t);
    hd_metrics_free(m);
}
END_TEST

START_TEST(test_label_pairs_are_escaped)
{
    hd_metrics_t *m = hd_metrics_new();
    /* a namespace and a trigger name carrying every character the text format escapes */
    hd_metric_t *c = hd_metrics_counter(m, "herald_dispatch_total", "D.", "namespace", "a\"b",
                                        "trigger", "c\\d\ne", "code", "202");
    ck_assert_ptr_nonnull(c);
    hd_metric_inc(c, 2);
    /* the same pairs find the same series; a trailing NULL is allowed */
    ck_assert_ptr_eq(hd_metrics_counter(m, "herald_dispatch_total", "D.", "namespace", "a\"b",
                                        "trigger", "c\\d\ne", "code", "202", NULL),
                     c);
    hd_metric_t *none = hd_metrics_gauge(m, "herald_plain", "P.", NULL);
    ck_assert_ptr_nonnull(none);
    hd_metric_set(none, 3);
    char *text = render(m);
    ck_assert_str_eq(
        text, "# HELP herald_dispatch_total D.\n"
              "# TYPE herald_dispatch_total counter\n"
              "herald_dispatch_total{namespace=\"a\\\"b\",trigger=\"c\\\\d\\ne\",code=\"202\"} 2\n"
              "# HELP herald_plain P.\n"
              "# TYPE herald_plain gauge\n"
              "herald_plain 3\n");
    hd_free(text);
    /* a bad key, or a key without its value, creates nothing */
    ck_assert_ptr_null(hd_metrics_counter(m, "herald_x_total", "X.", "bad key", "v"));
    ck_assert_ptr_null(hd_metrics_counter(m, "herald_x_total", "X.", "9k", "v"));
    ck_assert_ptr_null(hd_metrics_counter(m, "herald_x_total", "X.", "namespace"));
    ck_assert_ptr_null(hd_metrics_counter(m, "herald_x_total", "X.", "a", "1", "b", NULL));
    hd_metrics_free(m);
}
END_TEST

START_TEST(test_type_conflict_and_bad_names)
{
    hd_metrics_t *m = hd_metrics_new();
    ck_assert_ptr_nonnull(hd_metrics_counter(m, "x_total", "X.", "a=\"1\""));
    ck_assert_ptr_null(hd_metrics_gauge(m, "x_total", "X.", "a=\"1\""));
    ck_assert_ptr_null(hd_metrics_gauge(m, "x_total", "X.", "a=\"2\""));
    ck_assert_ptr_null(hd_metrics_counter(m, "9lives", "", ""));
    ck_assert_ptr_null(hd_metrics_counter(m, "has space", "", ""));
    ck_assert_ptr_null(hd_metrics_counter(m, "", "", ""));
    /* updates through NULL (out of memory at creation) are ignored */
    hd_metric_inc(NULL, 1);
    hd_metric_set(NULL, 1);
    hd_metric_observe(NULL, 1);
    ck_assert_int_eq(hd_metric_value(NULL), 0);
    char *t = render(m);
    ck_assert_str_eq(t, "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"1\"} 0\n");
    hd_free(t);
    hd_metrics_free(m);
}
END_TEST

typedef struct {
    hd_metrics_t *m;
    hd_metric_t *g;
    int calls;
} refresh_t;

static void refresh(void *arg)
{
    refresh_t *r = arg;
    r->calls++;
    hd_metric_set(r->g, 100 + r->calls);
    /* a callback may create series too */
    hd_metric_set(hd_metrics_gauge(r->m, "herald_store_map_bytes", "Map in use.", ""), 4096);
}

START_TEST(test_forget_hides_a_deleted_resources_series)
{
    hd_metrics_t *m = hd_metrics_new();
    hd_metric_t *t1 = hd_metrics_counter(m, "herald_dispatch_total", "Attempts.", "namespace", "ns",
                                         "broker", "b", "trigger", "t1", "code", "202");
    hd_metric_t *t10 = hd_metrics_counter(m, "herald_dispatch_total", "Attempts.", "namespace",
                                          "ns", "broker", "b", "trigger", "t10", "code", "202");
    hd_metric_t *lat = hd_metrics_histogram(m, "herald_dispatch_latency_seconds", "Latency.",
                                            "namespace", "ns", "broker", "b", "trigger", "t1");
    hd_metric_t *other = hd_metrics_gauge(m, "herald_trigger_backlog", "Backlog.", "namespace",
                                          "ns2", "broker", "b", "trigger", "t1");
    hd_metric_inc(t1, 3);
    hd_metric_inc(t10, 4);
    hd_metric_observe(lat, 0.5);
    hd_metric_set(other, 7);
    /* t1 of ns: its counter and its histogram go, the whole latency family with them; t10 (a
     * name t1 is a prefix of) and t1 of another namespace stay */
    ck_assert_uint_eq(hd_metrics_forget(m, "namespace", "ns", "trigger", "t1"), 2);
    char *t = render(m);
    ck_assert_ptr_null(strstr(t, "trigger=\"t1\",code"));
    ck_assert_ptr_null(strstr(t, "herald_dispatch_latency_seconds"));
    ck_assert_ptr_nonnull(strstr(t, "herald_dispatch_total{namespace=\"ns\",broker=\"b\","
                                    "trigger=\"t10\",code=\"202\"} 4\n"));
    ck_assert_ptr_nonnull(strstr(t, "herald_trigger_backlog{namespace=\"ns2\",broker=\"b\","
                                    "trigger=\"t1\"} 7\n"));
    hd_free(t);
    /* forgetting again finds nothing; the handle stays valid */
    ck_assert_uint_eq(hd_metrics_forget(m, "namespace", "ns", "trigger", "t1"), 0);
    /* the resource made again: the series comes back from zero */
    hd_metric_t *again = hd_metrics_counter(m, "herald_dispatch_total", "Attempts.", "namespace",
                                            "ns", "broker", "b", "trigger", "t1", "code", "202");
    ck_assert_ptr_eq(again, t1);
    ck_assert_int_eq(hd_metric_value(again), 0);
    hd_metric_inc(again, 1);
    t = render(m);
    ck_assert_ptr_nonnull(strstr(t, "trigger=\"t1\",code=\"202\"} 1\n"));
    hd_free(t);
    /* a broker deleted: every series naming it, its triggers' too */
    ck_assert_uint_eq(hd_metrics_forget(m, "namespace", "ns", "broker", "b"), 2);
    t = render(m);
    ck_assert_ptr_null(strstr(t, "namespace=\"ns\""));
    ck_assert_ptr_nonnull(strstr(t, "namespace=\"ns2\""));
    hd_free(t);
    /* an update through a held handle brings a series back */
    hd_metric_inc(t10, 1);
    t = render(m);
    ck_assert_ptr_nonnull(strstr(t, "trigger=\"t10\",code=\"202\"} 1\n"));
    hd_free(t);
    ck_assert_uint_eq(hd_metrics_forget(m, NULL), 0);
    hd_metrics_free(m);
}
END_TEST

START_TEST(test_micro_values_render_as_decimals)
{
    hd_metrics_t *m = hd_metrics_new();
    hd_metric_t *c = hd_metrics_counter_micro(m, "x_seconds_total", "Seconds.", NULL);
    hd_metric_set(c, 1500000);
    hd_metric_t *g = hd_metrics_gauge_micro(m, "y_ratio", "Ratio.", NULL);
    hd_metric_set(g, -250000);
    char *t = render(m);
    ck_assert_str_eq(t, "# HELP x_seconds_total Seconds.\n# TYPE x_seconds_total counter\n"
                        "x_seconds_total 1.500000\n"
                        "# HELP y_ratio Ratio.\n# TYPE y_ratio gauge\ny_ratio -0.250000\n");
    hd_free(t);
    hd_metrics_free(m);
}
END_TEST

/* The value of an unlabelled series in rendered text, -1 when absent. */
static double series_value(const char *text, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(text, key);
    return p ? strtod(p + strlen(key), NULL) : -1;
}

START_TEST(test_process_metrics_are_plausible)
{
    hd_metrics_t *m = hd_metrics_new();
    hd_metrics_process_t *p = NULL;
    ck_assert_int_eq(hd_metrics_process_open(m, "1.2.3", "abc123", &p), HD_E_OK);
    char *t = render(m);
    ck_assert_ptr_nonnull(strstr(t, "herald_build_info{version=\"1.2.3\",commit=\"abc123\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE process_cpu_seconds_total counter\n"));
    double cpu = series_value(t, "process_cpu_seconds_total");
    ck_assert(cpu >= 0 && cpu < 3600); /* present, in seconds */
    double rss = series_value(t, "process_resident_memory_bytes");
    ck_assert(rss > 100 * 1024 && rss < 64.0 * 1024 * 1024 * 1024);
    ck_assert(series_value(t, "process_virtual_memory_bytes") >= rss);
    double fds = series_value(t, "process_open_fds");
    ck_assert(fds >= 3 && fds < 10000); /* stdin, stdout, stderr at least */
    ck_assert(series_value(t, "process_max_fds") >= fds);
    double start = series_value(t, "process_start_time_seconds");
    double now = (double)time(NULL);
    ck_assert(start > now - 3600 && start <= now + 1);
    hd_free(t);
    hd_metrics_process_close(p);
    hd_metrics_free(m);
}
END_TEST

START_TEST(test_on_render_callbacks)
{
    hd_metrics_t *m = hd_metrics_new();
    refresh_t r = {m, hd_metrics_gauge(m, "herald_queue_depth", "Queue.", ""), 0};
    ck_assert_int_eq(hd_metrics_on_render(m, refresh, &r), HD_E_OK);
    char *t = render(m);
    ck_assert_int_eq(r.calls, 1);
    ck_assert_str_eq(t, "# HELP herald_queue_depth Queue.\n# TYPE herald_queue_depth gauge\n"
                        "herald_queue_depth 101\n"
                        "# HELP herald_store_map_bytes Map in use.\n"
                        "# TYPE herald_store_map_bytes gauge\nherald_store_map_bytes 4096\n");
    hd_free(t);
    t = render(m);
    ck_assert_int_eq(r.calls, 2);
    ck_assert_ptr_nonnull(strstr(t, "herald_queue_depth 102\n"));
    hd_free(t);
    hd_metrics_off_render(m, refresh, &r);
    t = render(m);
    ck_assert_int_eq(r.calls, 2); /* detached */
    ck_assert_ptr_nonnull(strstr(t, "herald_queue_depth 102\n"));
    hd_free(t);
    /* A counter mirrored from elsewhere can be set; a histogram cannot. */
    hd_metric_t *c = hd_metrics_counter(m, "mirrored_total", "M.", "");
    hd_metric_set(c, 77);
    ck_assert_int_eq(hd_metric_value(c), 77);
    hd_metrics_free(m);
}
END_TEST

#define THREADS 4
#define PER_THREAD 100000

static void *hammer(void *arg)
{
    hd_metric_t **h = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        hd_metric_inc(h[0], 1);
        hd_metric_observe(h[1], 0.001);
    }
    return NULL;
}

START_TEST(test_concurrent_updates_are_not_lost)
{
    hd_metrics_t *m = hd_metrics_new();
    hd_metric_t *h[2] = {hd_metrics_counter(m, "c_total", "C.", ""),
                         hd_metrics_histogram(m, "h_seconds", "H.", "")};
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, h), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(hd_metric_value(h[0]), THREADS * PER_THREAD);
    ck_assert_int_eq(hd_metric_value(h[1]), THREADS * PER_THREAD);
    char *text = render(m);
    ck_assert_ptr_nonnull(strstr(text, "h_seconds_count 400000\n"));
    ck_assert_ptr_nonnull(strstr(text, "h_seconds_sum 400\n"));
    hd_free(text);
    hd_metrics_free(m);
}
END_TEST

START_TEST(test_many_series_and_nomem)
{
    hd_metrics_t *m = hd_metrics_new();
    char labels[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(labels, sizeof(labels), "trigger=\"t%04d\"", i);
        hd_metric_t *c = hd_metrics_counter(m, "d_total", "D.", labels);
        ck_assert_ptr_nonnull(c);
        hd_metric_inc(c, (uint64_t)i);
    }
    snprintf(labels, sizeof(labels), "trigger=\"t%04d\"", 1234);
    ck_assert_int_eq(hd_metric_value(hd_metrics_counter(m, "d_total", "D.", labels)), 1234);
    char *t = render(m);
    ck_assert_ptr_nonnull(
        strstr(t, "d_total{trigger=\"t0000\"} 0\nd_total{trigger=\"t0001\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(t, "d_total{trigger=\"t1999\"} 1999\n"));
    hd_free(t);
    /* Out of memory: creation gives NULL, rendering gives NULL, nothing breaks. */
    hd_alloc_fail_after(1);
    ck_assert_ptr_null(hd_metrics_counter(m, "new_total", "N.", ""));
    hd_alloc_fail_after(1);
    ck_assert_ptr_null(hd_metrics_render(m, NULL));
    hd_alloc_fail_after(0);
    t = render(m);
    ck_assert_ptr_null(strstr(t, "new_total"));
    hd_free(t);
    hd_metrics_free(m);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_counters_and_gauges_exact_text);
    tcase_add_test(tc, test_histogram_exact_text);
    tcase_add_test(tc, test_histogram_no_labels_and_help_escaping);
    tcase_add_test(tc, test_sum_line_labels);
    tcase_add_test(tc, test_label_pairs_are_escaped);
    tcase_add_test(tc, test_type_conflict_and_bad_names);
    tcase_add_test(tc, test_on_render_callbacks);
    tcase_add_test(tc, test_concurrent_updates_are_not_lost);
    tcase_add_test(tc, test_many_series_and_nomem);
    tcase_add_test(tc, test_forget_hides_a_deleted_resources_series);
    tcase_add_test(tc, test_micro_values_render_as_decimals);
    tcase_add_test(tc, test_process_metrics_are_plausible);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(metrics_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
