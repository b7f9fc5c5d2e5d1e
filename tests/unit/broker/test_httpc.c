/*
 * test_httpc.c — the outbound HTTP client (hd_httpc.h) against a real socket server on
 * 127.0.0.1 run by a thread of this test: keep-alive reuse, the per-host connection bound,
 * answers framed by Content-Length, chunked and end-of-connection, Connection: close, stale
 * keep-alive connections retried once, timeouts, cancel, malformed and oversized answers, an
 * unasked-for extra answer, connection refused (http and https), bad URLs. Loops are closed
 * cleanly (uv_loop_close == 0).
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hd_httpc.h"

static int srv_fd, srv_port;
static atomic_int conns_accepted, conns_open, conns_max, requests_seen;

static void send_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void *conn_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    int open_now = atomic_fetch_add(&conns_open, 1) + 1;
    int m = atomic_load(&conns_max);
    while (open_now > m && !atomic_compare_exchange_weak(&conns_max, &m, open_now))
        ;
    char buf[65536];
    size_t have = 0;
    for (;;) {
        char *end;
        while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
            ssize_t r = recv(fd, buf + have, sizeof buf - have, 0);
            if (r <= 0)
                goto out;
            have += (size_t)r;
        }
        size_t head = (size_t)(end - buf) + 4;
        size_t clen = 0;
        char *cl = strcasestr(buf, "content-length:");
        if (cl && cl < end)
            clen = strtoul(cl + 15, NULL, 10);
        while (have < head + clen) {
            ssize_t r = recv(fd, buf + have, sizeof buf - have, 0);
            if (r <= 0)
                goto out;
            have += (size_t)r;
        }
        char path[128] = "";
        sscanf(buf, "%*s %127s", path);
        atomic_fetch_add(&requests_seen, 1);
        memmove(buf, buf + head + clen, have - head - clen);
        have -= head + clen;
        if (strcmp(path, "/ok") == 0) {
            const char *r = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
            send_all(fd, r, strlen(r));
        } else if (strcmp(path, "/body") == 0) {
            const char *r = "HTTP/1.1 200 OK\r\nX-Test: yes\r\nContent-Length: 5\r\n\r\nhello";
            send_all(fd, r, strlen(r));
        } else if (strcmp(path, "/chunked") == 0) {
            const char *r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n"
                            "2\r\nlo\r\n0\r\n\r\n";
            send_all(fd, r, strlen(r));
        } else if (strcmp(path, "/eof") == 0) {
            const char *r = "HTTP/1.1 200 OK\r\n\r\nbye";
            send_all(fd, r, strlen(r));
            goto out;
        } else if (strcmp(path, "/close") == 0) {
            const char *r =
                "HTTP/1.1 202 Accepted\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
            send_all(fd, r, strlen(r));
            goto out;
        } else if (strcmp(path, "/stale") == 0) {
            /* keep-alive promised, then the server drops the connection while it is idle */
            const char *r = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
            send_all(fd, r, strlen(r));
            usleep(50000);
            goto out;
        } else if (strcmp(path, "/slow") == 0) {
            usleep(200000);
            const char *r = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
            send_all(fd, r, strlen(r));
        } else if (strcmp(path, "/garbage") == 0) {
            const char *r = "NOT HTTP AT ALL\r\n\r\n";
            send_all(fd, r, strlen(r));
            goto out;
        } else if (strcmp(path, "/twice") == 0) {
            const char *r = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
                            "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n";
            send_all(fd, r, strlen(r));
        } else if (strcmp(path, "/big") == 0) {
            size_t n = 3u << 20;
            char h[128];
            int hl = snprintf(h, sizeof h, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
            send_all(fd, h, (size_t)hl);
            char *b = malloc(n);
            memset(b, 'x', n);
            send_all(fd, b, n);
            free(b);
        } else {
            const char *r = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
            send_all(fd, r, strlen(r));
        }
    }
out:
    atomic_fetch_sub(&conns_open, 1);
    close(fd);
    return NULL;
}

static void *accept_thread(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(srv_fd, NULL, NULL);
        if (fd < 0)
            return NULL;
        atomic_fetch_add(&conns_accepted, 1);
        pthread_t th;
        pthread_create(&th, NULL, conn_thread, (void *)(intptr_t)fd);
        pthread_detach(th);
    }
}

static void server_start(void)
{
    srv_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(srv_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(srv_fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(srv_fd, 128), 0);
    socklen_t l = sizeof a;
    getsockname(srv_fd, (struct sockaddr *)&a, &l);
    srv_port = ntohs(a.sin_port);
    pthread_t th;
    pthread_create(&th, NULL, accept_thread, NULL);
    pthread_detach(th);
}

/* ---- client side ----------------------------------------------------------------------- */

typedef struct {
    int done;
    hd_err_t err;
    int status;
    char body[64];
    size_t body_len;
    bool trunc;
    char xtest[16];
} result_t;

static void on_done(void *arg, const hd_httpc_resp_t *r)
{
    result_t *res = arg;
    res->done++;
    res->err = r->err;
    res->status = r->status;
    res->body_len = r->body_len;
    res->trunc = r->body_truncated;
    snprintf(res->body, sizeof res->body, "%.*s", (int)(r->body_len < 63 ? r->body_len : 63),
             r->body ? r->body : "");
    size_t l;
    const char *x = hd_httpc_resp_header(r, "x-test", &l);
    if (x)
        snprintf(res->xtest, sizeof res->xtest, "%.*s", (int)l, x);
}

static uv_loop_t loop;
static hd_httpc_t *cli;

static void setup(void)
{
    server_start();
    uv_loop_init(&loop);
    hd_httpc_opts_t o = {.max_conns_per_host = 2, .idle_timeout_ms = 2000};
    ck_assert_int_eq(hd_httpc_new(&loop, &o, &cli), HD_E_OK);
}

static void teardown_loop(void)
{
    hd_httpc_close(cli);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

static void url(char *buf, size_t cap, const char *path)
{
    snprintf(buf, cap, "http://127.0.0.1:%d%s", srv_port, path);
}

static void run_until(result_t *r, int n, int timeout_ms)
{
    uint64_t end = hd_now_ms() + (uint64_t)timeout_ms;
    while (r->done < n && hd_now_ms() < end)
        uv_run(&loop, UV_RUN_NOWAIT), usleep(200);
}

static void post(const char *path, result_t *r, uint64_t timeout)
{
    char u[128];
    url(u, sizeof u, path);
    ce_header_t h[] = {{"ce-id", 5, "1", 1}, {"Content-Type", 12, "application/json", 16}};
    hd_httpc_req_t req = {.url = u,
                          .headers = h,
                          .header_count = 2,
                          .body = "{}",
                          .body_len = 2,
                          .timeout_ms = timeout};
    ck_assert_int_eq(hd_httpc_request(cli, &req, on_done, r, NULL), HD_E_OK);
}

START_TEST(keep_alive_reuses_one_connection)
{
    setup();
    for (int i = 0; i < 20; i++) {
        result_t r = {0};
        post("/ok", &r, 2000);
        ck_assert_int_eq(r.done, 0); /* never called back from inside the request */
        run_until(&r, 1, 2000);
        ck_assert_int_eq(r.done, 1);
        ck_assert_int_eq(r.err, HD_E_OK);
        ck_assert_int_eq(r.status, 202);
    }
    ck_assert_int_eq(atomic_load(&conns_accepted), 1);
    hd_httpc_stats_t st;
    hd_httpc_stats(cli, &st);
    ck_assert_uint_eq(st.requests, 20);
    ck_assert_uint_eq(st.reuses, 19);
    teardown_loop();
}
END_TEST

START_TEST(bodies_headers_chunked_and_eof_framing)
{
    setup();
    result_t a = {0}, b = {0}, c = {0};
    post("/body", &a, 2000);
    run_until(&a, 1, 2000);
    ck_assert_int_eq(a.status, 200);
    ck_assert_str_eq(a.body, "hello");
    ck_assert_str_eq(a.xtest, "yes");
    post("/chunked", &b, 2000);
    run_until(&b, 1, 2000);
    ck_assert_int_eq(b.status, 200);
    ck_assert_str_eq(b.body, "hello");
    post("/eof", &c, 2000);
    run_until(&c, 1, 2000);
    ck_assert_int_eq(c.err, HD_E_OK);
    ck_assert_str_eq(c.body, "bye");
    teardown_loop();
}
END_TEST

START_TEST(pool_bound_per_host_queues_the_rest)
{
    setup();
    result_t r = {0};
    uint64_t t0 = hd_now_ms();
    for (int i = 0; i < 6; i++)
        post("/slow", &r, 5000);
    hd_httpc_stats_t st;
    hd_httpc_stats(cli, &st);
    ck_assert_uint_eq(st.queued, 4);
    run_until(&r, 6, 5000);
    ck_assert_int_eq(r.done, 6);
    ck_assert_int_eq(r.status, 202);
    ck_assert_int_le(atomic_load(&conns_max), 2);
    ck_assert_int_eq(atomic_load(&conns_accepted), 2);
    ck_assert_uint_ge(hd_now_ms() - t0, 590); /* 3 rounds of 200 ms on 2 connections */
    teardown_loop();
}
END_TEST

START_TEST(connection_close_and_stale_keepalive_are_handled)
{
    setup();
    result_t a = {0};
    post("/close", &a, 2000);
    run_until(&a, 1, 2000);
    ck_assert_int_eq(a.status, 202);
    result_t b = {0};
    post("/stale", &b, 2000);
    run_until(&b, 1, 2000);
    ck_assert_int_eq(b.status, 202);
    usleep(150000); /* the server drops the idle connection meanwhile */
    uv_run(&loop, UV_RUN_NOWAIT);
    result_t c = {0};
    post("/ok", &c, 2000);
    run_until(&c, 1, 2000);
    ck_assert_int_eq(c.err, HD_E_OK);
    ck_assert_int_eq(c.status, 202);
    teardown_loop();
}
END_TEST

START_TEST(stale_connection_found_on_send_is_retried_once)
{
    setup();
    result_t b = {0};
    post("/stale", &b, 2000);
    run_until(&b, 1, 2000);
    /* the server closes 50 ms later; send before the client saw the FIN would race, so send
     * right after it closed without running the loop: the write or the read fails, and the
     * request moves to a new connection */
    usleep(120000);
    result_t c = {0};
    post("/ok", &c, 2000);
    run_until(&c, 1, 2000);
    ck_assert_int_eq(c.err, HD_E_OK);
    ck_assert_int_eq(c.status, 202);
    ck_assert_int_eq(atomic_load(&conns_accepted), 2);
    hd_httpc_stats_t st;
    hd_httpc_stats(cli, &st);
    ck_assert_uint_eq(st.stale_retries, 1);
    teardown_loop();
}
END_TEST

START_TEST(timeout_fails_the_call_and_closes_the_connection)
{
    setup();
    result_t r = {0};
    uint64_t t0 = hd_now_ms();
    post("/slow", &r, 50);
    run_until(&r, 1, 2000);
    ck_assert_int_eq(r.err, HD_E_TIMEOUT);
    ck_assert_int_eq(r.status, -1);
    ck_assert_uint_lt(hd_now_ms() - t0, 190);
    hd_httpc_stats_t st;
    hd_httpc_stats(cli, &st);
    ck_assert_uint_eq(st.timeouts, 1);
    teardown_loop();
}
END_TEST

START_TEST(cancel_means_no_callback)
{
    setup();
    result_t r = {0};
    char u[128];
    url(u, sizeof u, "/slow");
    hd_httpc_req_t req = {.url = u, .body = "", .timeout_ms = 2000};
    hd_httpc_call_t *a, *b;
    ck_assert_int_eq(hd_httpc_request(cli, &req, on_done, &r, &a), HD_E_OK);
    ck_assert_int_eq(hd_httpc_request(cli, &req, on_done, &r, &b), HD_E_OK);
    result_t q = {0};
    hd_httpc_call_t *c3;
    ck_assert_int_eq(hd_httpc_request(cli, &req, on_done, &q, &c3), HD_E_OK); /* queued */
    hd_httpc_cancel(a);
    hd_httpc_cancel(c3);
    run_until(&r, 1, 2000);
    uint64_t end = hd_now_ms() + 400;
    while (hd_now_ms() < end)
        uv_run(&loop, UV_RUN_NOWAIT), usleep(500);
    ck_assert_int_eq(r.done, 1); /* only b */
    ck_assert_int_eq(q.done, 0);
    teardown_loop();
}
END_TEST

START_TEST(malformed_extra_and_oversized_answers)
{
    setup();
    result_t g = {0};
    post("/garbage", &g, 2000);
    run_until(&g, 1, 2000);
    ck_assert_int_eq(g.err, HD_E_PROTO);
    result_t t = {0};
    post("/twice", &t, 2000);
    run_until(&t, 1, 2000);
    ck_assert_int_eq(t.status, 202);
    /* the stray second answer must not be taken as the answer to the next request */
    result_t n = {0};
    post("/body", &n, 2000);
    run_until(&n, 1, 2000);
    ck_assert_int_eq(n.status, 200);
    ck_assert_str_eq(n.body, "hello");
    result_t big = {0};
    post("/big", &big, 5000);
    run_until(&big, 1, 5000);
    ck_assert_int_eq(big.status, 200);
    ck_assert(big.trunc);
    ck_assert_uint_eq(big.body_len, (1u << 20) + 65536);
    teardown_loop();
}
END_TEST

START_TEST(refused_and_bad_urls)
{
    setup();
    /* a port that was free a moment ago */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    int port = ntohs(a.sin_port);
    close(s);
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", port);
    result_t r = {0};
    hd_httpc_req_t req = {.url = u, .timeout_ms = 2000};
    ck_assert_int_eq(hd_httpc_request(cli, &req, on_done, &r, NULL), HD_E_OK);
    run_until(&r, 1, 2000);
    ck_assert_int_eq(r.err, HD_E_NET);
    snprintf(u, sizeof u, "https://127.0.0.1:%d/", port);
    result_t h = {0};
    ck_assert_int_eq(hd_httpc_request(cli, &req, on_done, &h, NULL), HD_E_OK);
    run_until(&h, 1, 3000);
    ck_assert_int_eq(h.done, 1);
    ck_assert_int_eq(h.err, HD_E_NET);
    const char *bad[] = {"ftp://x/", "not a url", "http://", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        req.url = bad[i];
        ck_assert_int_eq(hd_httpc_request(cli, &req, on_done, &r, NULL), HD_E_INVAL);
    }
    teardown_loop();
}
END_TEST

/* https: a real TLS server (nginx with a certificate made for 127.0.0.1 by the openssl CLI),
 * reached through libcurl multi-socket on our loop. */
START_TEST(https_through_libcurl_on_the_loop)
{
    char dir[] = "/tmp/herald-httpc-tls-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s/key.pem -out %s/cert.pem "
             "-days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             dir, dir);
    ck_assert_msg(system(cmd) == 0, "openssl could not make a certificate");
    /* a free port */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &l);
    int port = ntohs(a.sin_port);
    close(s);
    char conf[600];
    snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
    FILE *f = fopen(conf, "w");
    fprintf(f,
            "worker_processes 1; pid %s/nginx.pid; error_log %s/error.log warn;\n"
            "events { worker_connections 64; }\n"
            "http { access_log off; client_body_temp_path %s;\n"
            "  server { listen 127.0.0.1:%d ssl; ssl_certificate %s/cert.pem;\n"
            "    ssl_certificate_key %s/key.pem;\n"
            "    location /ok { return 202; }\n"
            "    location /body { return 200 'hello'; } } }\n",
            dir, dir, dir, port, dir, dir);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        execlp("nginx", "nginx", "-c", conf, "-p", dir, "-g", "daemon off;", (char *)NULL);
        _exit(127);
    }
    bool up = false;
    for (int i = 0; i < 200 && !up; i++) {
        int t = socket(AF_INET, SOCK_STREAM, 0);
        a.sin_port = htons((uint16_t)port);
        up = connect(t, (struct sockaddr *)&a, sizeof a) == 0;
        close(t);
        if (!up)
            usleep(20000);
    }
    ck_assert_msg(up, "nginx (Debian nginx-light) did not start");

    uv_loop_init(&loop);
    char ca[600];
    snprintf(ca, sizeof ca, "%s/cert.pem", dir);
    hd_httpc_opts_t o = {.ca_file = ca};
    ck_assert_int_eq(hd_httpc_new(&loop, &o, &cli), HD_E_OK);
    char u[128];
    snprintf(u, sizeof u, "https://127.0.0.1:%d/ok", port);
    ce_header_t h[] = {{"ce-id", 5, "1", 1}};
    hd_httpc_req_t req = {
        .url = u, .headers = h, .header_count = 1, .body = "{}", .body_len = 2, .timeout_ms = 5000};
    result_t r1 = {0}, r2 = {0};
    ck_assert_int_eq(hd_httpc_request(cli, &req, on_done, &r1, NULL), HD_E_OK);
    run_until(&r1, 1, 5000);
    ck_assert_int_eq(r1.err, HD_E_OK);
    ck_assert_int_eq(r1.status, 202);
    snprintf(u, sizeof u, "https://127.0.0.1:%d/body", port);
    ck_assert_int_eq(hd_httpc_request(cli, &req, on_done, &r2, NULL), HD_E_OK);
    run_until(&r2, 1, 5000);
    ck_assert_int_eq(r2.status, 200);
    ck_assert_str_eq(r2.body, "hello");
    /* a cancelled https call never calls back */
    result_t r3 = {0};
    hd_httpc_call_t *call;
    ck_assert_int_eq(hd_httpc_request(cli, &req, on_done, &r3, &call), HD_E_OK);
    hd_httpc_cancel(call);
    hd_httpc_close(cli);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    ck_assert_int_eq(r3.done, 0);

    /* without our CA the certificate is not trusted: a network error, never a silent success */
    uv_loop_init(&loop);
    ck_assert_int_eq(hd_httpc_new(&loop, NULL, &cli), HD_E_OK);
    result_t r4 = {0};
    ck_assert_int_eq(hd_httpc_request(cli, &req, on_done, &r4, NULL), HD_E_OK);
    run_until(&r4, 1, 5000);
    ck_assert_int_eq(r4.err, HD_E_NET);
    teardown_loop();

    kill(pid, SIGQUIT);
    waitpid(pid, NULL, 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* Out of memory on the data path fails the one request (at once or through its callback),
 * never the process, never a lost callback, never a leak (ASan build). */
START_TEST(allocation_failures_fail_one_request)
{
    setup();
    int refused = 0, passed = 0;
    for (long n = 1; n <= 12; n++) {
        result_t r = {0};
        char u[128];
        url(u, sizeof u, "/body");
        hd_httpc_req_t req = {.url = u, .body = "{}", .body_len = 2, .timeout_ms = 2000};
        hd_alloc_fail_after(n);
        hd_err_t rc = hd_httpc_request(cli, &req, on_done, &r, NULL);
        if (rc == HD_E_NOMEM) {
            refused++;
            hd_alloc_fail_after(0);
            continue;
        }
        ck_assert_int_eq(rc, HD_E_OK);
        run_until(&r, 1, 3000);
        hd_alloc_fail_after(0);
        ck_assert_int_eq(r.done, 1);
        if (r.err == HD_E_OK && r.status == 200)
            passed++;
    }
    ck_assert_int_gt(refused, 0);
    ck_assert_int_gt(passed, 0);
    /* and the client still works */
    result_t ok = {0};
    post("/body", &ok, 2000);
    run_until(&ok, 1, 2000);
    ck_assert_int_eq(ok.status, 200);
    ck_assert_str_eq(ok.body, "hello");
    teardown_loop();
}
END_TEST

static Suite *httpc_suite(void)
{
    Suite *s = suite_create("httpc");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, keep_alive_reuses_one_connection);
    tcase_add_test(tc, bodies_headers_chunked_and_eof_framing);
    tcase_add_test(tc, pool_bound_per_host_queues_the_rest);
    tcase_add_test(tc, connection_close_and_stale_keepalive_are_handled);
    tcase_add_test(tc, stale_connection_found_on_send_is_retried_once);
    tcase_add_test(tc, timeout_fails_the_call_and_closes_the_connection);
    tcase_add_test(tc, cancel_means_no_callback);
    tcase_add_test(tc, malformed_extra_and_oversized_answers);
    tcase_add_test(tc, refused_and_bad_urls);
    tcase_add_test(tc, https_through_libcurl_on_the_loop);
    tcase_add_test(tc, allocation_failures_fail_one_request);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(httpc_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
