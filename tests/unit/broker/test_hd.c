/*
 * test_hd.c — the shared base of heraldd: error table, allocation wrapper with its fail-after
 * hook, clocks, and log lines (valid JSON, escaped, bounded, one line per write).
 */
#include <check.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hd.h"

START_TEST(test_errors)
{
    ck_assert_str_eq(hd_err_name(HD_E_OK), "OK");
    ck_assert_str_eq(hd_err_name(HD_E_BUSY), "BUSY");
    ck_assert_str_eq(hd_err_message(HD_E_BUSY), "overloaded, try again");
    ck_assert_str_eq(hd_err_name(HD_E_TOOLARGE), "TOOLARGE");
    ck_assert_str_eq(hd_err_message(HD_E_FULL), "store full");
    ck_assert_str_eq(hd_err_name(HD_E__COUNT), "UNKNOWN");
    ck_assert_str_eq(hd_err_name((hd_err_t)-1), "UNKNOWN");
    ck_assert_ptr_nonnull(hd_err_message((hd_err_t)12345));
    for (int e = 0; e < HD_E__COUNT; e++) {
        ck_assert_str_ne(hd_err_name((hd_err_t)e), "UNKNOWN");
        ck_assert_uint_gt(strlen(hd_err_message((hd_err_t)e)), 0);
    }
}
END_TEST

START_TEST(test_alloc_fail_after)
{
    hd_alloc_fail_after(3);
    void *a = hd_malloc(10), *b = hd_calloc(2, 8), *c = hd_malloc(10), *d = hd_malloc(10);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(c);    /* the third one */
    ck_assert_ptr_nonnull(d); /* only once */
    hd_free(a);
    hd_free(b);
    hd_free(d);

    char *s = hd_strdup("hello");
    ck_assert_str_eq(s, "hello");
    hd_alloc_fail_after(1);
    void *r = hd_realloc(s, 100);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(s, "hello"); /* a failed realloc leaves the block */
    hd_free(s);
    hd_alloc_fail_after(1);
    ck_assert_ptr_null(hd_strdup("x"));
    hd_alloc_fail_after(1);
    ck_assert_ptr_null(hd_strndup("xyz", 2));
    char *n = hd_strndup("xyz", 2);
    ck_assert_str_eq(n, "xy");
    hd_free(n);
    n = hd_strndup("ab", 10);
    ck_assert_str_eq(n, "ab");
    hd_free(n);
    ck_assert_ptr_null(hd_strdup(NULL));
    ck_assert_ptr_null(hd_calloc(SIZE_MAX / 2, 4)); /* overflow is an error, not a small block */
    ck_assert_ptr_null(hd_malloc(SIZE_MAX));
    ck_assert_ptr_null(hd_realloc(NULL, SIZE_MAX - 8));
    hd_free(NULL);

    /* 0 disables */
    hd_alloc_fail_after(2);
    hd_alloc_fail_after(0);
    for (int i = 0; i < 5; i++) {
        void *p = hd_malloc(1);
        ck_assert_ptr_nonnull(p);
        hd_free(p);
    }
    /* zero-size requests give a block that can be freed */
    void *z = hd_malloc(0);
    ck_assert_ptr_nonnull(z);
    hd_free(z);
}
END_TEST

START_TEST(test_parse_u64)
{
    uint64_t v = 7;
    ck_assert(hd_parse_u64("0", 1, &v) && v == 0);
    ck_assert(hd_parse_u64("18446744073709551615", 20, &v) && v == UINT64_MAX);
    ck_assert(hd_parse_u64("42abc", 2, &v) && v == 42); /* only len bytes are read */
    v = 7;
    ck_assert(!hd_parse_u64("18446744073709551616", 20, &v));
    ck_assert(!hd_parse_u64("", 0, &v));
    ck_assert(!hd_parse_u64(" 1", 2, &v));
    ck_assert(!hd_parse_u64("1 ", 2, &v));
    ck_assert(!hd_parse_u64("-1", 2, &v));
    ck_assert(!hd_parse_u64("+1", 2, &v));
    ck_assert(!hd_parse_u64("1.0", 3, &v));
    ck_assert_uint_eq(v, 7);
}
END_TEST

START_TEST(test_clocks)
{
    uint64_t m0 = hd_now_ms(), w0 = hd_wall_ms();
    ck_assert_uint_le(w0 / 1000 - (uint64_t)time(NULL) + 1, 2);
    usleep(50 * 1000);
    uint64_t m1 = hd_now_ms();
    ck_assert_uint_ge(m1 - m0, 50);
    ck_assert_uint_lt(m1 - m0, 5000);
    for (int i = 0; i < 1000; i++) {
        uint64_t a = hd_now_ms(), b = hd_now_ms();
        ck_assert_uint_le(a, b);
    }
}
END_TEST

/* Redirects stderr to a fresh temp file (O_APPEND) and returns its path. */
static char logpath[64];
static int saved_stderr = -1;

static void capture_start(void)
{
    snprintf(logpath, sizeof(logpath), "/tmp/herald-log-XXXXXX");
    int fd = mkstemp(logpath);
    ck_assert_int_ge(fd, 0);
    close(fd);
    fd = open(logpath, O_WRONLY | O_APPEND);
    saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

/* Restores stderr and returns the captured text (free()). */
static char *capture_end(void)
{
    dup2(saved_stderr, 2);
    close(saved_stderr);
    FILE *f = fopen(logpath, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    unlink(logpath);
    return buf;
}

/* Parses line number i (0-based) of text as JSON. */
static cJSON *json_line(const char *text, int i)
{
    const char *p = text;
    for (int k = 0; k < i; k++) {
        p = strchr(p, '\n');
        ck_assert_ptr_nonnull(p);
        p++;
    }
    const char *e = strchr(p, '\n');
    ck_assert_ptr_nonnull(e);
    char *line = strndup(p, (size_t)(e - p));
    cJSON *j = cJSON_Parse(line);
    ck_assert_msg(j != NULL, "not JSON: %s", line);
    free(line);
    return j;
}

static const char *jstr(cJSON *j, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    ck_assert_msg(cJSON_IsString(v), "no string %s", k);
    return v->valuestring;
}

START_TEST(test_log_json)
{
    capture_start();
    hd_log(HD_LOG_INFO, "broker \"ready\"\n\tnext\x01", "namespace", "default", "path", "C:\\data",
           NULL);
    hd_log(HD_LOG_DEBUG, "hidden at the default level", NULL);
    hd_log(HD_LOG_ERROR, "with null", "key", NULL);
    hd_log_set_level(HD_LOG_DEBUG);
    hd_log(HD_LOG_DEBUG, "shown now", NULL);
    hd_log_set_level(HD_LOG_ERROR);
    hd_log(HD_LOG_WARN, "hidden again", NULL);
    char *text = capture_end();

    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 3);
    cJSON *j = json_line(text, 0);
    ck_assert_str_eq(jstr(j, "level"), "info");
    ck_assert_str_eq(jstr(j, "msg"), "broker \"ready\"\n\tnext\x01");
    ck_assert_str_eq(jstr(j, "namespace"), "default");
    ck_assert_str_eq(jstr(j, "path"), "C:\\data");
    const char *ts = jstr(j, "ts");
    ck_assert_uint_eq(strlen(ts), 24); /* 2026-11-27T13:35:26.123Z */
    ck_assert_int_eq(ts[10], 'T');
    ck_assert_int_eq(ts[23], 'Z');
    cJSON_Delete(j);
    j = json_line(text, 1);
    ck_assert_str_eq(jstr(j, "level"), "error");
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "key")));
    cJSON_Delete(j);
    j = json_line(text, 2);
    ck_assert_str_eq(jstr(j, "msg"), "shown now");
    ck_assert_str_eq(jstr(j, "level"), "debug");
    cJSON_Delete(j);
    free(text);
}
END_TEST

START_TEST(test_log_json_escape_forms)
{
    /* the exact escapes: two-character ones where JSON has them, \u00XX for the other control
     * characters and DEL, UTF-8 passed through */
    capture_start();
    hd_log(HD_LOG_WARN, "q\" b\\ n\n r\r t\t b\b f\f 01\x01 1f\x1f del\x7f \xe2\x82\xac", NULL);
    char *text = capture_end();
    ck_assert_msg(strstr(text, "\"msg\":\"q\\\" b\\\\ n\\n r\\r t\\t b\\b f\\f 01\\u0001 "
                               "1f\\u001f del\\u007f \xe2\x82\xac\"") != NULL,
                  "got %s", text);
    free(text);
}
END_TEST

START_TEST(test_log_long_lines_stay_valid)
{
    /* Values far over the line bound, with escapes and multibyte UTF-8 around the cut. */
    size_t n = 20000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i += 4)
        memcpy(big + i, i % 8 ? "\xe2\x82\xac\"" : "ab\\\n", 4); /* euro sign, quote */
    big[n] = '\0';
    capture_start();
    hd_log(HD_LOG_WARN, big, "k", "v", NULL);
    hd_log(HD_LOG_WARN, "m", "big", big, "after", "x", NULL);
    for (int pad = 0; pad < 12; pad++) {
        char key[32];
        snprintf(key, sizeof(key), "k%.*s", pad, "xxxxxxxxxxxx");
        hd_log(HD_LOG_WARN, "m", key, big + 4096 - 4 * pad, NULL);
        hd_log(HD_LOG_WARN, big + 3000 + 4 * pad, key, "value", NULL);
    }
    hd_log_set_format(HD_LOG_TEXT);
    hd_log(HD_LOG_WARN, "text", "big", big, NULL);
    char *text = capture_end();
    int lines = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        ck_assert_ptr_nonnull(e);
        ck_assert_uint_le((size_t)(e - p) + 1, 4096);
        ck_assert(ce_utf8_valid(p, (size_t)(e - p)));
        if (lines < 26) {
            cJSON *j = json_line(p, 0);
            ck_assert_str_eq(jstr(j, "level"), "warn");
            cJSON_Delete(j);
        } else {
            ck_assert_int_eq(strncmp(e - 3, "...", 3), 0);
        }
        lines++;
        p = e + 1;
    }
    ck_assert_int_eq(lines, 27);
    cJSON *j = json_line(text, 1);
    const char *v = jstr(j, "big");
    ck_assert_int_eq(strncmp(v, "ab\\\n", 4), 0);
    ck_assert_int_eq(strcmp(v + strlen(v) - 3, "..."), 0);
    ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(j, "after")); /* no room left */
    cJSON_Delete(j);
    free(text);
    free(big);
}
END_TEST

START_TEST(test_log_text)
{
    hd_log_set_format(HD_LOG_TEXT);
    capture_start();
    hd_log(HD_LOG_ERROR, "cannot bind\nnow", "addr", "127.0.0.1:80", "why", "in use", "e", "",
           NULL);
    char *text = capture_end();
    /* 2026-11-27T13:35:26.123Z error cannot bind now addr=127.0.0.1:80 why="in use" e="" */
    ck_assert_ptr_nonnull(
        strstr(text, "Z error cannot bind now addr=127.0.0.1:80 why=\"in use\" e=\"\"\n"));
    ck_assert_ptr_eq(strchr(text, '\n'), text + strlen(text) - 1);
    free(text);
}
END_TEST

#define LOG_THREADS 4
#define LOG_LINES 2000

static void *log_thread(void *arg)
{
    char id[16];
    snprintf(id, sizeof(id), "%d", (int)(intptr_t)arg);
    char pad[600];
    memset(pad, 'p', sizeof(pad) - 1);
    pad[sizeof(pad) - 1] = '\0';
    for (int i = 0; i < LOG_LINES; i++)
        hd_log(HD_LOG_INFO, "concurrent", "thread", id, "pad", pad, NULL);
    return NULL;
}

START_TEST(test_log_lines_never_interleave)
{
    capture_start();
    pthread_t t[LOG_THREADS];
    for (int i = 0; i < LOG_THREADS; i++)
        pthread_create(&t[i], NULL, log_thread, (void *)(intptr_t)i);
    for (int i = 0; i < LOG_THREADS; i++)
        pthread_join(t[i], NULL);
    char *text = capture_end();
    int lines = 0;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        ck_assert_ptr_nonnull(e);
        cJSON *j = json_line(p, 0);
        ck_assert_str_eq(jstr(j, "msg"), "concurrent");
        ck_assert_uint_eq(strlen(jstr(j, "pad")), 599);
        cJSON_Delete(j);
        lines++;
        p = e + 1;
    }
    ck_assert_int_eq(lines, LOG_THREADS * LOG_LINES);
    free(text);
}
END_TEST

static Suite *hd_suite(void)
{
    Suite *s = suite_create("hd");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_alloc_fail_after);
    tcase_add_test(tc, test_parse_u64);
    tcase_add_test(tc, test_clocks);
    tcase_add_test(tc, test_log_json);
    tcase_add_test(tc, test_log_json_escape_forms);
    tcase_add_test(tc, test_log_long_lines_stay_valid);
    tcase_add_test(tc, test_log_text);
    tcase_add_test(tc, test_log_lines_never_interleave);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hd_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
