/*
 * test_log.c — where log lines go once the writer thread runs (log_sink.c): typed numbers,
 * repeat summaries, a reader that never reads (no thread waits, lines dropped and counted, the
 * stop still ends), a log file and its reopening after a rotation, and a flush at the stop.
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hd.h"

static char dir[64];

static void mkdir_tmp(void)
{
    snprintf(dir, sizeof dir, "/tmp/herald-log-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/* The lines of text whose "msg" is msg, parsed (caller frees the array and each item). */
static int lines_with(const char *text, const char *msg, cJSON **out, int max)
{
    int n = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        ck_assert_ptr_nonnull(e);
        char *line = strndup(p, (size_t)(e - p));
        cJSON *j = cJSON_Parse(line);
        ck_assert_msg(j != NULL, "not JSON: %s", line);
        free(line);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "msg");
        if (cJSON_IsString(m) && strstr(m->valuestring, msg) == m->valuestring && n < max)
            out[n++] = j;
        else
            cJSON_Delete(j);
        p = e + 1;
    }
    return n;
}

START_TEST(test_numbers_are_json_numbers)
{
    mkdir_tmp();
    char path[128];
    snprintf(path, sizeof path, "%s/log", dir);
    ck_assert_int_eq(hd_log_start(path), HD_E_OK);
    hd_log(HD_LOG_INFO, "numbers", HD_LOG_NUM("port"), "8080", HD_LOG_NUM("neg"), "-1.5e3",
           HD_LOG_NUM("bad"), "12abc", HD_LOG_NUM("lead0"), "012", "str", "42", NULL);
    hd_log_stop(1000);
    char *text = slurp(path);
    cJSON *l[1];
    ck_assert_int_eq(lines_with(text, "numbers", l, 1), 1);
    cJSON *v = cJSON_GetObjectItemCaseSensitive(l[0], "port");
    ck_assert(cJSON_IsNumber(v) && v->valuedouble == 8080);
    v = cJSON_GetObjectItemCaseSensitive(l[0], "neg");
    ck_assert(cJSON_IsNumber(v) && v->valuedouble == -1500);
    /* not a JSON number: still written, as a string */
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(l[0], "bad")->valuestring, "12abc");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(l[0], "lead0")->valuestring, "012");
    /* an unmarked key stays a string */
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(l[0], "str")->valuestring, "42");
    cJSON_Delete(l[0]);
    free(text);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(test_repeats_are_summarised)
{
    mkdir_tmp();
    char path[128];
    snprintf(path, sizeof path, "%s/log", dir);
    ck_assert_int_eq(hd_log_start(path), HD_E_OK);
    for (int i = 0; i < 350; i++)
        hd_log(HD_LOG_WARN, "dead-letter sink failed", "i", "x", NULL);
    hd_log(HD_LOG_ERROR, "dead-letter sink failed", NULL); /* another level: its own run */
    for (int i = 0; i < 50; i++)
        hd_log(HD_LOG_DEBUG, "not at this level", NULL);
    for (int i = 0; i < 50; i++)
        hd_log(HD_LOG_INFO, "info is never summarised", NULL);
    hd_log_set_level(HD_LOG_DEBUG);
    for (int i = 0; i < 50; i++)
        hd_log(HD_LOG_DEBUG, "debug is never summarised", NULL);
    hd_log_set_level(HD_LOG_INFO);
    ck_assert_uint_eq(hd_log_suppressed(), 350 - HD_LOG_REPEAT_MAX);
    hd_log_stop(1000); /* the summaries of open runs are written at the stop */
    char *text = slurp(path);
    cJSON *l[400];
    int n = lines_with(text, "dead-letter sink failed", l, 400);
    /* HD_LOG_REPEAT_MAX warn lines, one error line, one summary */
    ck_assert_int_eq(n, HD_LOG_REPEAT_MAX + 2);
    int summaries = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(l[i], "suppressed");
        if (s) {
            summaries++;
            ck_assert(cJSON_IsNumber(s));
            ck_assert_int_eq((int)s->valuedouble, 350 - HD_LOG_REPEAT_MAX);
            ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(l[i], "window_s")));
            ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(l[i], "level")->valuestring, "warn");
            ck_assert_ptr_nonnull(strstr(cJSON_GetObjectItemCaseSensitive(l[i], "msg")->valuestring,
                                         "dead-letter sink failed: 330 more times in "));
        }
        cJSON_Delete(l[i]);
    }
    ck_assert_int_eq(summaries, 1);
    ck_assert_int_eq(lines_with(text, "debug is never summarised", l, 400), 50);
    for (int i = 0; i < 50; i++)
        cJSON_Delete(l[i]);
    ck_assert_int_eq(lines_with(text, "info is never summarised", l, 400), 50);
    for (int i = 0; i < 50; i++)
        cJSON_Delete(l[i]);
    free(text);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* A run is one level, message and subject: another trigger is another run; another event id
 * or sequence number is the same run. The summary names the subject. */
START_TEST(test_runs_are_per_subject)
{
    mkdir_tmp();
    char path[128];
    snprintf(path, sizeof path, "%s/log", dir);
    ck_assert_int_eq(hd_log_start(path), HD_E_OK);
    for (int tr = 0; tr < 2; tr++) {
        for (int i = 0; i < 30; i++) {
            char id[16], seq[16];
            snprintf(id, sizeof id, "e%d", i);
            snprintf(seq, sizeof seq, "%d", i);
            hd_log(HD_LOG_ERROR, "corrupt event skipped", "trigger", tr ? "t2" : "t", "id", id,
                   HD_LOG_NUM("seq"), seq, NULL);
        }
    }
    hd_log_stop(1000);
    char *text = slurp(path);
    cJSON *l[100];
    int n = lines_with(text, "corrupt event skipped", l, 100);
    ck_assert_int_eq(n, 2 * (HD_LOG_REPEAT_MAX + 1));
    int t2_lines = 0, summaries = 0;
    for (int i = 0; i < n; i++) {
        const char *tr = cJSON_GetObjectItemCaseSensitive(l[i], "trigger")->valuestring;
        if (!strcmp(tr, "t2"))
            t2_lines++;
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(l[i], "suppressed");
        if (s) {
            summaries++;
            ck_assert_int_eq((int)s->valuedouble, 30 - HD_LOG_REPEAT_MAX);
            ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(l[i], "id"));
        }
        cJSON_Delete(l[i]);
    }
    ck_assert_int_eq(t2_lines, HD_LOG_REPEAT_MAX + 1);
    ck_assert_int_eq(summaries, 2);
    free(text);
    unlink(path);
    rmdir(dir);
}
END_TEST

static void *log_many(void *arg)
{
    (void)arg;
    char pad[300];
    memset(pad, 'p', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    hd_log_set_level(HD_LOG_DEBUG);
    for (int i = 0; i < 20000; i++) /* debug: every line, no summary */
        hd_log(HD_LOG_DEBUG, "flood", "pad", pad, NULL);
    return NULL;
}

/* stderr on a pipe nobody reads: logging returns, lines are dropped and counted, and the stop
 * still ends (after its wait). On the direct path the logging thread would block for good. */
START_TEST(test_reader_that_never_reads)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    int saved = dup(2);
    dup2(p[1], 2);
    ck_assert_int_eq(hd_log_start(NULL), HD_E_OK);
    uint64_t before = hd_log_dropped();
    pthread_t t;
    pthread_create(&t, NULL, log_many, NULL);
    /* the thread must finish by itself: if hd_log blocked, the test times out here */
    pthread_join(t, NULL);
    ck_assert_uint_gt(hd_log_dropped() - before, 10000);
    hd_log_stop(300);
    dup2(saved, 2);
    close(saved);
    /* what reached the pipe is whole lines */
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    static char buf[1 << 17];
    ssize_t n = read(p[0], buf, sizeof buf);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(buf[n - 1], '\n');
    close(p[0]);
    close(p[1]);
}
END_TEST

START_TEST(test_log_file_reopened_after_rotation)
{
    mkdir_tmp();
    char path[128], rotated[140];
    snprintf(path, sizeof path, "%s/heraldd.log", dir);
    snprintf(rotated, sizeof rotated, "%s.1", path);
    ck_assert_int_eq(hd_log_start(path), HD_E_OK);
    hd_log(HD_LOG_INFO, "before rotation", NULL);
    for (int i = 0; i < 200 && access(path, F_OK) == 0; i++) {
        char *t = slurp(path);
        bool there = strstr(t, "before rotation") != NULL;
        free(t);
        if (there)
            break;
        usleep(10000);
    }
    ck_assert_int_eq(rename(path, rotated), 0);
    hd_log_reopen();
    for (int i = 0; i < 200 && access(path, F_OK) != 0; i++)
        usleep(10000);
    hd_log(HD_LOG_INFO, "after rotation", NULL);
    hd_log_stop(1000);
    char *a = slurp(rotated), *b = slurp(path);
    ck_assert_ptr_nonnull(strstr(a, "before rotation"));
    ck_assert_ptr_null(strstr(a, "after rotation"));
    ck_assert_ptr_nonnull(strstr(b, "after rotation")); /* flushed at the stop too */
    free(a);
    free(b);
    unlink(path);
    unlink(rotated);
    rmdir(dir);
    /* a file that cannot be opened is an error at start */
    ck_assert_int_eq(hd_log_start("/nonexistent-dir/heraldd.log"), HD_E_IO);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("sink");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_numbers_are_json_numbers);
    tcase_add_test(tc, test_repeats_are_summarised);
    tcase_add_test(tc, test_runs_are_per_subject);
    tcase_add_test(tc, test_reader_that_never_reads);
    tcase_add_test(tc, test_log_file_reopened_after_rotation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(log_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
