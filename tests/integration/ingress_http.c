/*
 * ingress_http.c — the HTTP server of heraldd (hd_http.h) over real sockets on 127.0.0.1: framing,
 * keep-alive, pipelining with one request in flight, Expect: 100-continue, chunked bodies, the
 * bounds (414, 431, 413, max_conns), half-closed and reset clients, answers after the client
 * left, streaming answers, and a clean stop (uv_loop_close == 0).
 *
 * Each test forks (CK_FORK); the server's loop runs in a thread of the test process and the test
 * talks to it with blocking sockets (every read has a timeout).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "hd_http.h"

#define MAX_BODY 4096

typedef struct {
    uv_loop_t loop;
    uv_async_t stop;
    uv_timer_t later; /* answers deferred requests */
    hd_http_server_t *srv;
    int port;
    pthread_t thread;
    hd_http_req_t *deferred[64];
    int ndeferred;
    int handled;
    int stream_closed;
    hd_http_req_t *stream_req;
    uv_timer_t stream_timer;
    int loop_close_rc;
} fixture_t;

static fixture_t fx;

static void answer(hd_http_req_t *req)
{
    char body[256];
    int n = snprintf(body, sizeof body, "%.*s %zu %s", (int)req->path_len, req->path, req->body_len,
                     req->query);
    hd_http_respond(req, 200, "X-Test: yes\r\n", body, (size_t)n);
}

static void on_later(uv_timer_t *t)
{
    (void)t;
    for (int i = 0; i < fx.ndeferred; i++)
        answer(fx.deferred[i]);
    fx.ndeferred = 0;
}

static void on_stream_tick(uv_timer_t *t)
{
    (void)t;
    if (!fx.stream_req)
        return;
    if (hd_http_stream_write(fx.stream_req, "tick\n", 5) == HD_E_CLOSED) {
        hd_http_stream_end(fx.stream_req);
        fx.stream_req = NULL;
        uv_timer_stop(&fx.stream_timer);
    }
}

static void on_stream_closed(hd_http_req_t *req, void *arg)
{
    (void)arg;
    fx.stream_closed++;
    if (fx.stream_req == req) {
        hd_http_stream_end(req);
        fx.stream_req = NULL;
        uv_timer_stop(&fx.stream_timer);
    }
}

static void handler(void *ctx, hd_http_req_t *req)
{
    (void)ctx;
    fx.handled++;
    if (strncmp(req->path, "/later", 6) == 0) {
        /* answered 150 ms later, after the client may have gone */
        if (fx.ndeferred < 64)
            fx.deferred[fx.ndeferred++] = req;
        if (!uv_is_active((uv_handle_t *)&fx.later))
            uv_timer_start(&fx.later, on_later, 150, 0);
        return;
    }
    if (strcmp(req->path, "/stream") == 0) {
        hd_http_stream_start(req, 200, "Content-Type: text/plain\r\n");
        hd_http_stream_on_close(req, on_stream_closed, NULL);
        hd_http_stream_write(req, "hello\n", 6);
        fx.stream_req = req;
        uv_timer_start(&fx.stream_timer, on_stream_tick, 20, 20);
        return;
    }
    if (strcmp(req->path, "/error") == 0) {
        hd_http_respond_error(req, 400, NULL, "attribute 'id': \"bad\"");
        return;
    }
    if (strcmp(req->path, "/header") == 0) {
        size_t len = 0;
        const char *v = hd_http_req_header(req, "X-Echo", &len);
        hd_http_respond(req, 200, NULL, v ? v : "none", v ? len : 4);
        return;
    }
    answer(req);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void on_stop(uv_async_t *a)
{
    (void)a;
    hd_http_server_stop(fx.srv);
    /* answers after stop must be safe (dropped) and free their connections */
    on_later(NULL);
    if (fx.stream_req) {
        hd_http_stream_end(fx.stream_req);
        fx.stream_req = NULL;
    }
    uv_close((uv_handle_t *)&fx.later, NULL);
    uv_close((uv_handle_t *)&fx.stream_timer, NULL);
    uv_close((uv_handle_t *)&fx.stop, NULL);
}

static void *loop_thread(void *arg)
{
    (void)arg;
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    uv_walk(&fx.loop, close_walk, NULL); /* nothing should be left; counted by loop_close */
    uv_run(&fx.loop, UV_RUN_DEFAULT);
    fx.loop_close_rc = uv_loop_close(&fx.loop);
    return NULL;
}

static void start_server_timeouts(size_t max_conns, uint64_t header_ms, uint64_t idle_ms)
{
    memset(&fx, 0, sizeof fx);
    ck_assert_int_eq(uv_loop_init(&fx.loop), 0);
    uv_async_init(&fx.loop, &fx.stop, on_stop);
    uv_timer_init(&fx.loop, &fx.later);
    uv_timer_init(&fx.loop, &fx.stream_timer);
    hd_http_server_opts_t o = {.listen = "127.0.0.1:0",
                               .max_body = MAX_BODY,
                               .max_conns = max_conns,
                               .handler = handler,
                               .ctx = NULL,
                               .header_timeout_ms = header_ms,
                               .idle_timeout_ms = idle_ms};
    ck_assert_int_eq(hd_http_server_start(&fx.loop, &o, &fx.srv), HD_E_OK);
    fx.port = hd_http_server_port(fx.srv);
    ck_assert_int_gt(fx.port, 0);
    pthread_create(&fx.thread, NULL, loop_thread, NULL);
}

static void start_server(size_t max_conns)
{
    start_server_timeouts(max_conns, 0, 0);
}

static void stop_server(void)
{
    uv_async_send(&fx.stop);
    pthread_join(fx.thread, NULL);
    ck_assert_int_eq(fx.loop_close_rc, 0);
}

static int connect_fd(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the server may close early (bounds) */
        p += w;
        n -= (size_t)w;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Reads one response (head + Content-Length body, or chunked until the 0 chunk) into buf.
 * Returns the status, or -1 when the connection closed / timed out first. */
static int read_response(int fd, char *buf, size_t cap, char **body)
{
    size_t len = 0;
    for (;;) {
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            int status = atoi(buf + 9);
            if (status == 100) { /* interim: drop it and go on */
                size_t used = (size_t)(end + 4 - buf);
                memmove(buf, end + 4, len - used);
                len -= used;
                continue;
            }
            char *cl = strcasestr(buf, "content-length:");
            if (cl && cl < end) {
                size_t want = (size_t)(end + 4 - buf) + (size_t)atol(cl + 15);
                if (len >= want) {
                    if (body)
                        *body = end + 4;
                    return status;
                }
            } else if (strstr(end, "\r\n0\r\n\r\n") || strncmp(end + 4, "0\r\n\r\n", 5) == 0) {
                if (body)
                    *body = end + 4;
                return status;
            }
        }
        if (len + 1 >= cap)
            return -2;
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
    }
}

/* True when the server closed the connection (EOF or reset) within the read timeout. */
static bool closed_by_server(int fd)
{
    char b[256];
    for (;;) {
        ssize_t n = recv(fd, b, sizeof b, 0);
        if (n == 0)
            return true;
        if (n < 0)
            return errno == ECONNRESET;
    }
}

START_TEST(keep_alive_two_requests)
{
    start_server(100);
    int fd = connect_fd();
    char buf[4096], *body;
    send_str(fd, "POST /a/b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, &body), 200);
    ck_assert_ptr_nonnull(strstr(buf, "X-Test: yes\r\n"));
    ck_assert_ptr_null(strcasestr(buf, "connection: close"));
    ck_assert_str_eq(body, "/a/b 5 x=1");
    ck_assert_ptr_nonnull(strstr(buf, "\r\nDate: "));
    ck_assert_ptr_nonnull(strstr(buf, " GMT\r\n"));
    /* HEAD: the head (with the body's Content-Length) and no body */
    send_str(fd, "HEAD /head HTTP/1.1\r\nHost: h\r\n\r\n");
    char hb[1024];
    ssize_t n = recv(fd, hb, sizeof hb - 1, 0);
    ck_assert_int_gt(n, 0);
    hb[n] = '\0';
    ck_assert_ptr_nonnull(strstr(hb, "Content-Length: 8\r\n"));
    ck_assert_str_eq(strstr(hb, "\r\n\r\n"), "\r\n\r\n");
    send_str(fd, "GET /second HTTP/1.1\r\nHost: h\r\n\r\n");
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, &body), 200);
    ck_assert_str_eq(body, "/second 0 ");
    close(fd);
    stop_server();
    ck_assert_int_eq(fx.handled, 3);
}
END_TEST

START_TEST(pipelined_requests_answered_in_order)
{
    start_server(100);
    int fd = connect_fd();
    char buf[8192], *body;
    /* three requests in one write; the first is answered late, the others wait for it */
    send_str(fd, "POST /later1 HTTP/1.1\r\nContent-Length: 1\r\n\r\nx"
                 "POST /p2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nxy"
                 "GET /p3 HTTP/1.1\r\n\r\n");
    size_t len = 0;
    while (len < sizeof buf - 1 && !strstr(buf, "/p3 0 ")) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        ck_assert_int_gt(n, 0);
        len += (size_t)n;
        buf[len] = '\0';
    }
    char *a = strstr(buf, "\r\n\r\n/later1 1 "), *b = strstr(buf, "\r\n\r\n/p2 2 "),
         *c = strstr(buf, "\r\n\r\n/p3 0 ");
    ck_assert(a && b && c && a < b && b < c);
    (void)body;
    close(fd);
    stop_server();
}
END_TEST

START_TEST(expect_100_continue)
{
    start_server(100);
    int fd = connect_fd();
    char buf[4096];
    send_str(fd, "POST /e HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    send_str(fd, "abcd");
    char *body;
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, &body), 200);
    ck_assert_str_eq(body, "/e 4 ");
    /* too large: 413 before the body is sent, and the connection is closed */
    char req[256];
    snprintf(req, sizeof req,
             "POST /e HTTP/1.1\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
             MAX_BODY + 1);
    send_str(fd, req);
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, NULL), 413);
    ck_assert_ptr_nonnull(strcasestr(buf, "connection: close"));
    ck_assert(closed_by_server(fd));
    close(fd);
    stop_server();
}
END_TEST

START_TEST(chunked_request_body)
{
    start_server(100);
    int fd = connect_fd();
    char buf[4096], *body;
    send_str(fd, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    usleep(20000);
    send_str(fd, "6\r\n world\r\n0\r\n\r\n");
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, &body), 200);
    ck_assert_str_eq(body, "/c 11 ");
    /* a chunked body over max_body: 413 and closed */
    send_str(fd, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    char chunk[1100];
    memset(chunk, 'z', sizeof chunk);
    for (int i = 0; i < 5; i++) {
        send_str(fd, "400\r\n");
        send_all(fd, chunk, 1024);
        send_str(fd, "\r\n");
    }
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, NULL), 413);
    ck_assert(closed_by_server(fd));
    close(fd);
    stop_server();
}
END_TEST

START_TEST(bounds_url_headers_body)
{
    start_server(100);
    char buf[8192];
    size_t big = 9000;
    char *s = malloc(big + 200);

    int fd = connect_fd(); /* URL over 8 KiB */
    strcpy(s, "GET /");
    memset(s + 5, 'u', big);
    strcpy(s + 5 + big, " HTTP/1.1\r\n\r\n");
    send_str(fd, s);
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, NULL), 414);
    ck_assert(closed_by_server(fd));
    close(fd);

    fd = connect_fd(); /* one header of 17 KiB */
    send_str(fd, "GET /h HTTP/1.1\r\nX-Big: ");
    char *v = malloc(17 * 1024);
    memset(v, 'v', 17 * 1024);
    send_all(fd, v, 17 * 1024);
    send_str(fd, "\r\n\r\n");
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, NULL), 431);
    close(fd);
    free(v);

    fd = connect_fd(); /* 101 headers */
    send_str(fd, "GET /h HTTP/1.1\r\n");
    for (int i = 0; i < 101; i++) {
        char h[32];
        snprintf(h, sizeof h, "X-H%d: 1\r\n", i);
        send_str(fd, h);
    }
    send_str(fd, "\r\n");
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, NULL), 431);
    close(fd);

    fd = connect_fd(); /* 100 headers are fine */
    send_str(fd, "GET /header HTTP/1.1\r\n");
    for (int i = 0; i < 99; i++) {
        char h[32];
        snprintf(h, sizeof h, "X-H%d: 1\r\n", i);
        send_str(fd, h);
    }
    send_str(fd, "X-Echo: found\r\n\r\n");
    char *body;
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, &body), 200);
    ck_assert_str_eq(body, "found");
    close(fd);

    fd = connect_fd(); /* Content-Length over max_body */
    snprintf(s, big, "POST /b HTTP/1.1\r\nContent-Length: %d\r\n\r\n", MAX_BODY + 1);
    send_str(fd, s);
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, NULL), 413);
    close(fd);

    fd = connect_fd(); /* malformed */
    send_str(fd, "HELLO WORLD\r\n\r\n");
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, NULL), 400);
    ck_assert(closed_by_server(fd));
    close(fd);
    free(s);

    fd = connect_fd(); /* still serving */
    send_str(fd, "GET /ok HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, &body), 200);
    close(fd);
    stop_server();
}
END_TEST

START_TEST(max_connections)
{
    start_server(2);
    char buf[1024];
    int a = connect_fd(), b = connect_fd();
    send_str(a, "GET /1 HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(read_response(a, buf, sizeof buf, NULL), 200);
    send_str(b, "GET /2 HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(read_response(b, buf, sizeof buf, NULL), 200);
    int c = connect_fd(); /* third: accepted then closed */
    ck_assert(closed_by_server(c));
    close(c);
    close(a); /* a slot frees up */
    usleep(50000);
    int d = connect_fd();
    send_str(d, "GET /4 HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(read_response(d, buf, sizeof buf, NULL), 200);
    close(b);
    close(d);
    stop_server();
}
END_TEST

START_TEST(half_closed_client_gets_answer)
{
    start_server(100);
    int fd = connect_fd();
    char buf[1024], *body;
    send_str(fd, "POST /later-half HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    shutdown(fd, SHUT_WR);
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, &body), 200);
    ck_assert_str_eq(body, "/later-half 3 ");
    ck_assert(closed_by_server(fd));
    close(fd);
    stop_server();
}
END_TEST

START_TEST(client_gone_before_answer)
{
    start_server(100);
    for (int i = 0; i < 10; i++) {
        int fd = connect_fd();
        send_str(fd, "POST /later-gone HTTP/1.1\r\nContent-Length: 1\r\n\r\nz");
        if (i % 2) { /* reset */
            struct linger l = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        close(fd);
    }
    usleep(400000); /* the deferred answers go to connections that are gone */
    int fd = connect_fd();
    char buf[1024];
    send_str(fd, "GET /after HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, NULL), 200);
    close(fd);
    stop_server();
    ck_assert_int_eq(fx.handled, 11);
}
END_TEST

START_TEST(http10_closes_and_error_body)
{
    start_server(100);
    int fd = connect_fd();
    char buf[1024], *body;
    send_str(fd, "GET /error HTTP/1.0\r\n\r\n");
    ck_assert_int_eq(read_response(fd, buf, sizeof buf, &body), 400);
    ck_assert_ptr_nonnull(strcasestr(buf, "content-type: application/json"));
    ck_assert_str_eq(body, "{\"error\": \"attribute 'id': \\\"bad\\\"\"}");
    ck_assert(closed_by_server(fd));
    close(fd);
    stop_server();
}
END_TEST

START_TEST(streaming_answer_and_disconnect)
{
    start_server(100);
    int fd = connect_fd();
    char buf[4096];
    send_str(fd, "GET /stream HTTP/1.1\r\n\r\n");
    size_t len = 0;
    while (len < sizeof buf - 1 && !strstr(buf, "tick\n")) {
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        ck_assert_int_gt(n, 0);
        len += (size_t)n;
        buf[len] = '\0';
    }
    ck_assert_ptr_nonnull(strcasestr(buf, "transfer-encoding: chunked"));
    ck_assert_ptr_nonnull(strstr(buf, "6\r\nhello\n\r\n"));
    close(fd);
    usleep(200000);
    stop_server();
    ck_assert_int_eq(fx.stream_closed, 1);
}
END_TEST

START_TEST(stop_with_requests_in_flight)
{
    start_server(100);
    int fds[5];
    for (int i = 0; i < 5; i++) {
        fds[i] = connect_fd();
        send_str(fds[i], "POST /later-stop HTTP/1.1\r\nContent-Length: 1\r\n\r\nq");
    }
    usleep(50000);
    stop_server();                /* asserts uv_loop_close == 0 after the late answers */
    for (int i = 0; i < 5; i++) { /* each waiting request got its answer, then the close */
        char buf[1024], *body;
        ck_assert_int_eq(read_response(fds[i], buf, sizeof buf, &body), 200);
        ck_assert_str_eq(body, "/later-stop 1 ");
        ck_assert_ptr_nonnull(strcasestr(buf, "connection: close"));
        ck_assert(closed_by_server(fds[i]));
        close(fds[i]);
    }
}
END_TEST

START_TEST(slow_clients_time_out)
{
    start_server_timeouts(100, 300, 300);
    char buf[1024];
    int head = connect_fd(); /* a head that never ends: 408, closed */
    send_str(head, "POST /slow HTTP/1.1\r\nContent-Le");
    int body = connect_fd(); /* a body that never ends: 408, closed */
    send_str(body, "POST /slow HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    int idle = connect_fd(); /* one answered request, then nothing: closed */
    send_str(idle, "GET /idle HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(read_response(idle, buf, sizeof buf, NULL), 200);
    ck_assert_int_eq(read_response(head, buf, sizeof buf, NULL), 408);
    ck_assert(closed_by_server(head));
    ck_assert_int_eq(read_response(body, buf, sizeof buf, NULL), 408);
    ck_assert(closed_by_server(body));
    ck_assert(closed_by_server(idle));
    close(head);
    close(body);
    close(idle);
    stop_server();
    ck_assert_int_eq(fx.handled, 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ingress_http");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, keep_alive_two_requests);
    tcase_add_test(tc, pipelined_requests_answered_in_order);
    tcase_add_test(tc, expect_100_continue);
    tcase_add_test(tc, chunked_request_body);
    tcase_add_test(tc, bounds_url_headers_body);
    tcase_add_test(tc, max_connections);
    tcase_add_test(tc, half_closed_client_gets_answer);
    tcase_add_test(tc, client_gone_before_answer);
    tcase_add_test(tc, http10_closes_and_error_body);
    tcase_add_test(tc, streaming_answer_and_disconnect);
    tcase_add_test(tc, stop_with_requests_in_flight);
    tcase_add_test(tc, slow_clients_time_out);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
