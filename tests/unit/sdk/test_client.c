/*
 * test_client.c — Check suite for the libcurl transport (ce_client.h) against a tiny real HTTP
 * server on 127.0.0.1 (a thread with a socket, a free port chosen by the kernel).
 */
#include "herald/ce_client.h"
#include "herald/ce_json.h"
#include "sdk_test_util.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* One canned exchange: the server records the request and sends `response` verbatim. */
typedef struct {
    int lfd;
    int port;
    const char *response; /* NULL: accept, read, then say nothing until the client goes away */
    char request[65536];
    size_t request_len;
    pthread_t thread;
} server_t;

static void *serve(void *arg)
{
    server_t *s = arg;
    struct pollfd pfd = {s->lfd, POLLIN, 0};
    if (poll(&pfd, 1, 5000) <= 0) /* bounded: never wait forever */
        return NULL;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    /* read headers, then Content-Length bytes of body */
    size_t want = 0;
    bool have_headers = false;
    for (;;) {
        struct pollfd cp = {fd, POLLIN, 0};
        if (poll(&cp, 1, 5000) <= 0)
            break;
        ssize_t n = read(fd, s->request + s->request_len, sizeof s->request - 1 - s->request_len);
        if (n <= 0)
            break;
        s->request_len += (size_t)n;
        s->request[s->request_len] = '\0';
        if (!have_headers) {
            char *end = strstr(s->request, "\r\n\r\n");
            if (!end)
                continue;
            have_headers = true;
            const char *cl = strcasestr(s->request, "\r\ncontent-length:");
            size_t body = cl ? strtoul(cl + 17, NULL, 10) : 0;
            want = (size_t)(end + 4 - s->request) + body;
        }
        if (s->request_len >= want)
            break;
    }
    if (s->response) {
        size_t len = strlen(s->response), off = 0;
        while (off < len) {
            ssize_t n = write(fd, s->response + off, len - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
    } else {
        /* silent: wait (bounded) for the client to give up */
        char c;
        struct pollfd cp = {fd, POLLIN, 0};
        if (poll(&cp, 1, 5000) > 0)
            (void)!read(fd, &c, 1);
    }
    close(fd);
    return NULL;
}

static server_t *server_start(const char *response)
{
    /* each test runs in its own process (CK_FORK): a small static pool is enough */
    static server_t pool[4];
    static size_t used;
    ck_assert_uint_lt(used, 4);
    server_t *s = &pool[used++];
    memset(s, 0, sizeof *s);
    s->response = response;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->lfd, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(s->lfd, 4), 0);
    socklen_t al = sizeof a;
    ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, serve, s), 0);
    return s;
}

static void server_stop(server_t *s)
{
    pthread_join(s->thread, NULL);
    close(s->lfd);
}

static char *url_of(const server_t *s, char *buf, size_t n)
{
    snprintf(buf, n, "http://127.0.0.1:%d/default/broker", s->port);
    return buf;
}

static ce_event_t *sample(void)
{
    ce_event_t *ev = tu_min_event();
    tu_set(ev, "subject", "a b");
    tu_set(ev, "datacontenttype", "text/plain");
    ce_event_set_data(ev, "hello", 5, false);
    return ev;
}

START_TEST(test_send_binary_202)
{
    server_t *s = server_start("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
    char url[128];
    ce_event_t *ev = sample();
    ce_client_opts_t o = {
        .mode = CE_HTTP_BINARY, .header_encoding = CE_HEADER_STRICT, .timeout_ms = 3000};
    const char *extra[] = {"Kn-Namespace: default"};
    o.extra_headers = extra;
    o.extra_header_count = 1;
    ce_client_result_t res;
    ce_error_t e;
    ck_assert_int_eq(ce_client_send(url_of(s, url, sizeof url), ev, &o, &res, &e), CE_E_OK);
    server_stop(s);
    ck_assert_int_eq(res.status, 202);
    ck_assert_ptr_null(res.reply);
    ck_assert_int_eq(res.reply_err, CE_E_OK);
    /* what the server saw */
    ck_assert_ptr_nonnull(strstr(s->request, "POST /default/broker HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strcasestr(s->request, "\r\nce-id: 1\r\n"));
    ck_assert_ptr_nonnull(strcasestr(s->request, "\r\nce-subject: a%20b\r\n"));
    ck_assert_ptr_nonnull(strcasestr(s->request, "\r\ncontent-type: text/plain\r\n"));
    ck_assert_ptr_nonnull(strcasestr(s->request, "\r\nKn-Namespace: default\r\n"));
    ck_assert_ptr_null(strcasestr(s->request, "Expect:"));
    ck_assert_ptr_nonnull(strstr(s->request, "\r\n\r\nhello"));
    ce_client_result_clear(&res);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_send_structured)
{
    server_t *s = server_start("HTTP/1.1 204 No Content\r\n\r\n");
    char url[128];
    ce_event_t *ev = sample();
    ce_client_opts_t o = {.mode = CE_HTTP_STRUCTURED, .timeout_ms = 3000};
    ce_client_result_t res;
    ck_assert_int_eq(ce_client_send(url_of(s, url, sizeof url), ev, &o, &res, NULL), CE_E_OK);
    server_stop(s);
    ck_assert_int_eq(res.status, 204);
    ck_assert_ptr_nonnull(strcasestr(s->request, "content-type: application/cloudevents+json"));
    ck_assert_ptr_null(strcasestr(s->request, "\r\nce-id:"));
    const char *body = strstr(s->request, "\r\n\r\n") + 4;
    ce_event_t *back;
    ck_assert_int_eq(ce_json_decode(body, strlen(body), &back, NULL), CE_E_OK);
    ck_assert_str_eq(ce_event_get_str(back, "subject"), "a b");
    ce_event_free(back);
    ce_client_result_clear(&res);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_reply_binary)
{
    server_t *s = server_start("HTTP/1.1 200 OK\r\nce-specversion: 1.0\r\nce-id: r1\r\n"
                               "ce-source: /reply\r\nce-type: reply.type\r\nCe-Subject: x%20y\r\n"
                               "Content-Type: application/json\r\nContent-Length: 7\r\n\r\n"
                               "{\"r\":1}");
    char url[128];
    ce_event_t *ev = sample();
    ce_client_result_t res;
    ce_error_t e;
    ck_assert_int_eq(ce_client_send(url_of(s, url, sizeof url), ev, NULL, &res, &e), CE_E_OK);
    server_stop(s);
    ck_assert_int_eq(res.status, 200);
    ck_assert_ptr_nonnull(res.reply);
    ck_assert_str_eq(ce_event_get_str(res.reply, "id"), "r1");
    ck_assert_str_eq(ce_event_get_str(res.reply, "subject"), "x y");
    ck_assert_str_eq(ce_event_get_str(res.reply, "datacontenttype"), "application/json");
    const void *d;
    size_t n;
    ck_assert(ce_event_data(res.reply, &d, &n));
    ck_assert_mem_eq(d, "{\"r\":1}", 7);
    ce_client_result_clear(&res);
    ck_assert_ptr_null(res.reply);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_reply_structured)
{
    static const char body[] = "{\"specversion\":\"1.0\",\"id\":\"r2\",\"source\":\"/r\","
                               "\"type\":\"t\",\"data\":[1,2]}";
    char resp[512];
    snprintf(resp, sizeof resp,
             "HTTP/1.1 200 OK\r\nContent-Type: application/cloudevents+json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    server_t *s = server_start(resp);
    char url[128];
    ce_event_t *ev = sample();
    ce_client_result_t res;
    ck_assert_int_eq(ce_client_send(url_of(s, url, sizeof url), ev, NULL, &res, NULL), CE_E_OK);
    server_stop(s);
    ck_assert_ptr_nonnull(res.reply);
    ck_assert_str_eq(ce_event_get_str(res.reply, "id"), "r2");
    ck_assert(ce_event_data_is_json(res.reply));
    ce_client_result_clear(&res);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_reply_not_an_event)
{
    server_t *s = server_start("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                               "Content-Length: 13\r\n\r\n<html>x</html>");
    char url[128];
    ce_event_t *ev = sample();
    ce_client_result_t res;
    ck_assert_int_eq(ce_client_send(url_of(s, url, sizeof url), ev, NULL, &res, NULL), CE_E_OK);
    server_stop(s);
    ck_assert_int_eq(res.status, 200);
    ck_assert_ptr_null(res.reply);
    ck_assert_int_eq(res.reply_err, CE_E_MISSING);
    ck_assert_ptr_nonnull(strstr(res.reply_error.message, "required attribute missing"));
    ce_client_result_clear(&res);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_status_500_and_redirect_not_followed)
{
    server_t *s = server_start("HTTP/1.1 500 Oops\r\nContent-Length: 4\r\n\r\nfail");
    char url[128];
    ce_event_t *ev = sample();
    ce_client_result_t res;
    ck_assert_int_eq(ce_client_send(url_of(s, url, sizeof url), ev, NULL, &res, NULL), CE_E_OK);
    server_stop(s);
    ck_assert_int_eq(res.status, 500);
    ck_assert_ptr_null(res.reply);
    ck_assert_str_eq(res.error_body, "fail"); /* what the server said is kept for the user */
    ce_client_result_clear(&res);
    s = server_start("HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:1/\r\n"
                     "Content-Length: 0\r\n\r\n");
    ck_assert_int_eq(ce_client_send(url_of(s, url, sizeof url), ev, NULL, &res, NULL), CE_E_OK);
    server_stop(s);
    ck_assert_int_eq(res.status, 307);
    ck_assert_str_eq(res.error_body, "");
    ce_client_result_clear(&res);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_timeout)
{
    server_t *s = server_start(NULL);
    char url[128];
    ce_event_t *ev = sample();
    ce_client_opts_t o = {.timeout_ms = 300};
    ce_client_result_t res;
    ce_error_t e;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert_int_eq(ce_client_send(url_of(s, url, sizeof url), ev, &o, &res, &e), CE_E_HTTP);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    ck_assert_msg(secs < 3.0, "timeout took %.2f s", secs);
    ck_assert_ptr_nonnull(strcasestr(e.message, "timeout"));
    server_stop(s);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_connection_refused)
{
    /* a port that was free a moment ago and has no listener now */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    ce_event_t *ev = sample();
    ce_client_result_t res;
    ce_error_t e;
    ck_assert_int_eq(ce_client_send(url, ev, NULL, &res, &e), CE_E_HTTP);
    ck_assert_int_eq(ce_client_send(NULL, ev, NULL, &res, &e), CE_E_ARG);
    ce_client_opts_t batch = {.mode = CE_HTTP_BATCH};
    ck_assert_int_eq(ce_client_send(url, ev, &batch, &res, &e), CE_E_ARG);
    ce_event_free(ev);
}
END_TEST

START_TEST(test_reply_too_large)
{
    static char resp[8192];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4000\r\n\r\n");
    memset(resp + n, 'x', 4000);
    resp[n + 4000] = '\0';
    server_t *s = server_start(resp);
    char url[128];
    ce_event_t *ev = sample();
    ce_client_opts_t o = {.max_reply_bytes = 1000, .timeout_ms = 3000};
    ce_client_result_t res;
    ce_error_t e;
    ck_assert_int_eq(ce_client_send(url_of(s, url, sizeof url), ev, &o, &res, &e), CE_E_TOO_LARGE);
    server_stop(s);
    ce_event_free(ev);
}
END_TEST

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("http");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_send_binary_202);
    tcase_add_test(tc, test_send_structured);
    tcase_add_test(tc, test_reply_binary);
    tcase_add_test(tc, test_reply_structured);
    tcase_add_test(tc, test_reply_not_an_event);
    tcase_add_test(tc, test_status_500_and_redirect_not_followed);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_connection_refused);
    tcase_add_test(tc, test_reply_too_large);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
