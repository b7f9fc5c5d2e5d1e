/*
 * ingress.c — heraldd's ingress end to end: a real heraldd (HERALDD_PATH) started on free
 * 127.0.0.1 ports with a generated config and a temp data dir, spoken to over HTTP.
 *
 * Covers every row of DESIGN §5's status table, the bounds of the HTTP server through the
 * daemon, 202 only once durable (every acknowledged event is read back from LMDB with the store
 * API after kill -9, also under concurrent load), a full store (503 + Retry-After, nothing
 * acknowledged lost), a clean SIGTERM shutdown (exit 0, which heraldd only returns when its loop
 * closed empty) and a bad config (exit 2 naming the key).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hd_lmdb.h"

typedef struct {
    char dir[256];
    char data[300];
    int port, admin_port;
    pid_t pid;
} daemon_t;

static daemon_t dm;
static char extra_manifest[1024]; /* written next to the broker when non-empty */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

typedef struct {
    int status;
    char head[4096];
    char body[4096];
} resp_t;

/* Reads one answer with a Content-Length body from a keep-alive connection (no pipelining, so
 * the buffer never holds more than one answer). Returns the status or -1. */
static int read_resp(int fd, resp_t *r)
{
    static _Thread_local char buf[16384]; /* the load tests read from several threads */
    size_t len = 0;
    r->status = -1;
    r->head[0] = r->body[0] = '\0';
    for (;;) {
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            char *cl = strcasestr(buf, "content-length:");
            size_t blen = cl && cl < end ? (size_t)atol(cl + 15) : 0;
            size_t hlen = (size_t)(end + 4 - buf);
            if (len >= hlen + blen) {
                r->status = atoi(buf + 9);
                snprintf(r->head, sizeof r->head, "%.*s", (int)hlen, buf);
                snprintf(r->body, sizeof r->body, "%.*s", (int)blen, end + 4);
                return r->status;
            }
        }
        if (len + 1 >= sizeof buf)
            return -1;
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            return -1;
        len += (size_t)n;
    }
}

/* One request on a new connection. headers: "Name: value\r\n" lines. */
static int http(int port, const char *method, const char *path, const char *headers,
                const char *body, size_t body_len, resp_t *r)
{
    int fd = connect_port(port);
    if (fd < 0)
        return -1;
    static _Thread_local char head[65536];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %zu\r\n%s\r\n", method,
                     path, body_len, headers ? headers : "");
    int st = -1;
    if (send_all(fd, head, (size_t)n) && send_all(fd, body, body_len))
        st = read_resp(fd, r);
    close(fd);
    return st;
}

static int post_binary(int port, const char *path, const char *id, resp_t *r)
{
    char h[512];
    snprintf(h, sizeof h,
             "Content-Type: application/json\r\nce-specversion: 1.0\r\nce-id: %s\r\n"
             "ce-source: /test\r\nce-type: com.example.test\r\n",
             id);
    return http(port, "POST", path, h, "{\"n\":1}", 7, r);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* Starts heraldd with the given extra config lines; waits until /readyz answers 200. */
static void daemon_start(const char *extra_config)
{
    char path[400], text[2048];
    snprintf(path, sizeof path, "%s/manifests", dm.dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/manifests/brokers.yaml", dm.dir);
    write_file(path, "apiVersion: eventing.knative.dev/v1\nkind: Broker\n"
                     "metadata:\n  name: b\n  namespace: t\n");
    if (extra_manifest[0]) {
        snprintf(path, sizeof path, "%s/manifests/extra.yaml", dm.dir);
        write_file(path, extra_manifest);
    }
    snprintf(path, sizeof path, "%s/herald.yaml", dm.dir);
    snprintf(text, sizeof text,
             "ingress:\n  listen: 127.0.0.1:%d\nadmin:\n  listen: 127.0.0.1:%d\n"
             "data_dir: %s\ndurability: fsync\nmanifests:\n  - %s/manifests\n"
             "log:\n  level: warn\n%s",
             dm.port, dm.admin_port, dm.data, dm.dir, extra_config ? extra_config : "");
    write_file(path, text);
    char log[400];
    snprintf(log, sizeof log, "%s/heraldd.log", dm.dir);
    dm.pid = fork();
    ck_assert_int_ge(dm.pid, 0);
    if (dm.pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 2);
        dup2(fd, 1);
        execl(HERALDD_PATH, "heraldd", "-c", path, (char *)NULL);
        _exit(127);
    }
    resp_t r;
    for (int i = 0; i < 800; i++) { /* 20 s: a loaded CI machine, sanitizers */
        if (http(dm.port, "GET", "/readyz", NULL, "", 0, &r) == 200)
            return;
        usleep(25000);
    }
    ck_abort_msg("heraldd did not become ready (see %s)", log);
}

/* SIGTERM (clean) or SIGKILL; returns the exit status (or 128+signal). */
static int daemon_stop(int sig)
{
    kill(dm.pid, sig);
    int st = 0;
    for (int i = 0; i < 1200; i++) { /* 30 s */
        if (waitpid(dm.pid, &st, WNOHANG) == dm.pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(25000);
    }
    kill(dm.pid, SIGKILL);
    waitpid(dm.pid, &st, 0);
    ck_abort_msg("heraldd did not stop within 30 s");
    return -1;
}

static void setup(void)
{
    snprintf(dm.dir, sizeof dm.dir, "/tmp/herald-ingress-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dm.dir));
    snprintf(dm.data, sizeof dm.data, "%s/data", dm.dir);
    dm.port = free_port();
    dm.admin_port = free_port();
    dm.pid = 0;
    extra_manifest[0] = '\0';
}

static void teardown(void)
{
    if (dm.pid > 0 && kill(dm.pid, 0) == 0) {
        kill(dm.pid, SIGKILL);
        waitpid(dm.pid, NULL, 0);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dm.dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dm.dir);
}

/* ---- reading the store back (heraldd is stopped) ----------------------------------------- */

typedef struct {
    char **ids;
    size_t n, cap;
} idset_t;

static bool collect_id(void *arg, uint64_t seq, uint64_t wall, ce_event_t *ev)
{
    (void)seq;
    (void)wall;
    idset_t *s = arg;
    ck_assert_ptr_nonnull(ev); /* every stored record decodes */
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->ids = realloc(s->ids, s->cap * sizeof *s->ids);
    }
    s->ids[s->n++] = strdup(ce_event_get_str(ev, "id"));
    ce_event_free(ev);
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every event id stored for any broker (ids 1..64), sorted. */
static idset_t stored_ids(void)
{
    idset_t s = {0};
    uv_loop_t loop;
    uv_loop_init(&loop);
    hd_lmdb_opts_t o = {.data_dir = dm.data, .durability = HD_DURABILITY_NONE};
    hd_lmdb_t *lm = NULL;
    ck_assert_int_eq(hd_lmdb_open(&loop, &o, &lm), HD_E_OK);
    for (uint32_t b = 0; b <= 64; b++)
        ck_assert_int_eq(hd_evlog_read(hd_lmdb_evlog(lm), b, 0, SIZE_MAX, collect_id, &s), HD_E_OK);
    hd_lmdb_close(lm);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    if (s.n)
        qsort(s.ids, s.n, sizeof *s.ids, cmp_str);
    return s;
}

static bool idset_has(const idset_t *s, const char *id)
{
    return s->n && bsearch(&id, s->ids, s->n, sizeof *s->ids, cmp_str) != NULL;
}

static void idset_free(idset_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->ids[i]);
    free(s->ids);
}

/* ---- tests ----------------------------------------------------------------------------- */

START_TEST(status_table)
{
    daemon_start("limits:\n  max_event_bytes: 4096\n  max_batch_events: 5\n");
    resp_t r;
    /* 202: binary, structured, batch */
    ck_assert_int_eq(post_binary(dm.port, "/t/b", "bin-1", &r), 202);
    const char *structured = "{\"specversion\":\"1.0\",\"id\":\"st-1\",\"source\":\"/s\","
                             "\"type\":\"t.t\",\"data\":{\"a\":1}}";
    ck_assert_int_eq(http(dm.port, "POST", "/t/b", "Content-Type: application/cloudevents+json\r\n",
                          structured, strlen(structured), &r),
                     202);
    const char *batch =
        "[{\"specversion\":\"1.0\",\"id\":\"ba-1\",\"source\":\"/s\",\"type\":\"t\"},"
        "{\"specversion\":\"1.0\",\"id\":\"ba-2\",\"source\":\"/s\",\"type\":\"t\"},"
        "{\"specversion\":\"1.0\",\"id\":\"ba-3\",\"source\":\"/s\",\"type\":\"t\"}]";
    ck_assert_int_eq(http(dm.port, "POST", "/t/b",
                          "Content-Type: application/cloudevents-batch+json\r\n", batch,
                          strlen(batch), &r),
                     202);

    /* 400 names the attribute */
    ck_assert_int_eq(http(dm.port, "POST", "/t/b",
                          "Content-Type: application/json\r\nce-specversion: 1.0\r\n"
                          "ce-source: /s\r\nce-type: t\r\n",
                          "{}", 2, &r),
                     400);
    ck_assert_ptr_nonnull(strcasestr(r.head, "content-type: application/json"));
    ck_assert_msg(strstr(r.body, "\"error\"") && strstr(r.body, "id"), "body: %s", r.body);
    ck_assert_int_eq(http(dm.port, "POST", "/t/b", "Content-Type: application/cloudevents+json\r\n",
                          "{\"id\":", 6, &r),
                     400);
    const char *badver = "{\"specversion\":\"0.1\",\"id\":\"x\",\"source\":\"/s\",\"type\":\"t\"}";
    ck_assert_int_eq(http(dm.port, "POST", "/t/b", "Content-Type: application/cloudevents+json\r\n",
                          badver, strlen(badver), &r),
                     400);
    ck_assert_msg(strstr(r.body, "specversion"), "body: %s", r.body);

    /* 404: unknown broker (JSON body), unknown channel (named), no route */
    ck_assert_int_eq(post_binary(dm.port, "/t/nope", "x", &r), 404);
    ck_assert_msg(strstr(r.body, "\"error\"") && strstr(r.body, "t/nope"), "body: %s", r.body);
    ck_assert_int_eq(post_binary(dm.port, "/t/channels/c", "x", &r), 404);
    ck_assert_msg(strstr(r.body, "no channel t/c"), "body: %s", r.body);
    ck_assert_int_eq(post_binary(dm.port, "/", "x", &r), 404);

    /* 405 with Allow, OPTIONS 200 with Allow and the webhook origin */
    ck_assert_int_eq(http(dm.port, "GET", "/t/b", NULL, "", 0, &r), 405);
    ck_assert_ptr_nonnull(strcasestr(r.head, "allow: POST, OPTIONS"));
    ck_assert_int_eq(http(dm.port, "PUT", "/t/b", NULL, "x", 1, &r), 405);
    ck_assert_int_eq(http(dm.port, "OPTIONS", "/t/b",
                          "WebHook-Request-Origin: sender.example.com\r\n", "", 0, &r),
                     200);
    ck_assert_ptr_nonnull(strcasestr(r.head, "allow: POST, OPTIONS"));
    ck_assert_ptr_nonnull(strcasestr(r.head, "webhook-allowed-origin: sender.example.com"));

    /* 413: body over max_event_bytes, batch over max_batch_events */
    char *big = malloc(5000);
    memset(big, 'a', 5000);
    big[0] = '"';
    big[4999] = '"';
    ck_assert_int_eq(http(dm.port, "POST", "/t/b",
                          "Content-Type: text/plain\r\nce-specversion: 1.0\r\nce-id: big\r\n"
                          "ce-source: /s\r\nce-type: t\r\n",
                          big, 5000, &r),
                     413);
    free(big);
    char batch6[2048] = "[";
    for (int i = 0; i < 6; i++)
        snprintf(batch6 + strlen(batch6), sizeof batch6 - strlen(batch6),
                 "%s{\"specversion\":\"1.0\",\"id\":\"six-%d\",\"source\":\"/s\",\"type\":\"t\"}",
                 i ? "," : "", i);
    strcat(batch6, "]");
    ck_assert_int_eq(http(dm.port, "POST", "/t/b",
                          "Content-Type: application/cloudevents-batch+json\r\n", batch6,
                          strlen(batch6), &r),
                     413);
    ck_assert_msg(strstr(r.body, "max_batch_events"), "body: %s", r.body);

    /* 415: structured in a format we do not read */
    ck_assert_int_eq(http(dm.port, "POST", "/t/b", "Content-Type: application/cloudevents+xml\r\n",
                          "<e/>", 4, &r),
                     415);

    /* health */
    ck_assert_int_eq(http(dm.port, "GET", "/healthz", NULL, "", 0, &r), 200);
    ck_assert_int_eq(http(dm.port, "GET", "/readyz", NULL, "", 0, &r), 200);

    /* bounds through the daemon: a 20 KiB header is 431 */
    char *hdr = malloc(21000);
    strcpy(hdr, "X-Big: ");
    memset(hdr + 7, 'h', 20000);
    strcpy(hdr + 20007, "\r\n");
    ck_assert_int_eq(http(dm.port, "POST", "/t/b", hdr, "", 0, &r), 431);
    free(hdr);

    /* the counters: 5 events accepted, the rejections by code */
    int fd = connect_port(dm.admin_port);
    ck_assert_int_ge(fd, 0);
    const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, get, strlen(get));
    static char m[1 << 20];
    size_t ml = 0;
    ssize_t n;
    while ((n = recv(fd, m + ml, sizeof m - 1 - ml, 0)) > 0)
        ml += (size_t)n;
    m[ml] = '\0';
    close(fd);
    ck_assert_msg(
        strstr(m, "herald_events_received_total{namespace=\"t\",broker=\"b\",code=\"202\"} 5"),
        "metrics: %.2000s", m);
    ck_assert_ptr_nonnull(
        strstr(m, "herald_events_received_total{namespace=\"t\",broker=\"b\",code=\"400\"} 3"));
    ck_assert_ptr_nonnull(strstr(m, "herald_ingest_latency_seconds"));

    ck_assert_int_eq(daemon_stop(SIGTERM), 0); /* exit 0 = the loop closed empty */
    idset_t s = stored_ids();
    ck_assert_uint_eq(s.n, 5);
    ck_assert(idset_has(&s, "bin-1") && idset_has(&s, "st-1") && idset_has(&s, "ba-2"));
    idset_free(&s);
}
END_TEST

/* The value of an unlabelled metric on the admin port's /metrics, or -1. */
static long long metric_value(const char *name)
{
    int fd = connect_port(dm.admin_port);
    if (fd < 0)
        return -1;
    const char *get = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, get, strlen(get));
    static char m[1 << 20];
    size_t ml = 0;
    ssize_t n;
    while (ml < sizeof m - 1 && (n = recv(fd, m + ml, sizeof m - 1 - ml, 0)) > 0)
        ml += (size_t)n;
    m[ml] = '\0';
    close(fd);
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    char *p = strstr(m, key);
    return p ? atoll(p + strlen(key)) : -1;
}

START_TEST(each_202_waited_for_an_fsync)
{
    daemon_start(NULL);
    long long before = metric_value("herald_store_fsyncs_total");
    ck_assert_int_ge(before, 0);
    resp_t r;
    for (int i = 0; i < 20; i++) { /* one at a time: each 202 needs its own durable commit */
        char id[16];
        snprintf(id, sizeof id, "sync-%d", i);
        ck_assert_int_eq(post_binary(dm.port, "/t/b", id, &r), 202);
    }
    long long after = metric_value("herald_store_fsyncs_total");
    ck_assert_msg(after - before >= 20, "20 sequential 202s but only %lld fsyncs", after - before);
    ck_assert_int_eq(daemon_stop(SIGTERM), 0);
}
END_TEST

START_TEST(keep_alive_and_acked_survive_kill9)
{
    daemon_start(NULL);
    int fd = connect_port(dm.port);
    ck_assert_int_ge(fd, 0);
    resp_t r;
    for (int i = 0; i < 200; i++) {
        char req[512];
        int n = snprintf(req, sizeof req,
                         "POST /t/b HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                         "ce-specversion: 1.0\r\nce-id: ka-%d\r\nce-source: /s\r\nce-type: t\r\n"
                         "Content-Length: 5\r\n\r\nhello",
                         i);
        ck_assert(send_all(fd, req, (size_t)n));
        ck_assert_int_eq(read_resp(fd, &r), 202);
    }
    close(fd);
    /* kill -9 right after the last 202: each was acknowledged only once fsync'd */
    ck_assert_int_eq(daemon_stop(SIGKILL), 128 + SIGKILL);
    idset_t s = stored_ids();
    ck_assert_uint_eq(s.n, 200);
    for (int i = 0; i < 200; i++) {
        char id[32];
        snprintf(id, sizeof id, "ka-%d", i);
        ck_assert_msg(idset_has(&s, id), "missing %s", id);
    }
    idset_free(&s);
    /* restart on the same data: still serving, ids keep growing */
    daemon_start(NULL);
    ck_assert_int_eq(post_binary(dm.port, "/t/b", "after-restart", &r), 202);
    ck_assert_int_eq(daemon_stop(SIGTERM), 0);
    s = stored_ids();
    ck_assert_uint_eq(s.n, 201);
    idset_free(&s);
}
END_TEST

#define LOAD_THREADS 8
#define LOAD_MAX 200000

typedef struct {
    int tid;
    char (*acked)[24];
    atomic_size_t *nacked;
    atomic_bool *stop;
    size_t busy;        /* 503 answers */
    size_t busy_retry1; /* ... of which carried Retry-After: 1 */
    size_t other;       /* answers other than 202 and 503 */
} loader_t;

static void *load_thread(void *arg)
{
    loader_t *l = arg;
    int fd = connect_port(dm.port);
    if (fd < 0)
        return NULL;
    resp_t r;
    for (int i = 0; !atomic_load(l->stop); i++) {
        char id[24], req[512];
        snprintf(id, sizeof id, "L%d-%d", l->tid, i);
        int n = snprintf(req, sizeof req,
                         "POST /t/b HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "ce-specversion: 1.0\r\nce-id: %s\r\nce-source: /load\r\nce-type: t\r\n"
                         "Content-Length: 9\r\n\r\n{\"i\":123}",
                         id);
        if (!send_all(fd, req, (size_t)n) || read_resp(fd, &r) < 0)
            break; /* killed */
        if (r.status == 202) {
            size_t k = atomic_fetch_add(l->nacked, 1);
            if (k < LOAD_MAX)
                memcpy(l->acked[k], id, sizeof id);
        } else if (r.status == 503) {
            l->busy++;
            if (strcasestr(r.head, "\r\nretry-after: 1\r\n"))
                l->busy_retry1++;
        } else {
            l->other++;
        }
    }
    close(fd);
    return NULL;
}

START_TEST(kill9_under_load_loses_nothing_acked)
{
    daemon_start(NULL);
    char(*acked)[24] = calloc(LOAD_MAX, 24);
    atomic_size_t nacked = 0;
    atomic_bool stop = false;
    pthread_t th[LOAD_THREADS];
    loader_t ls[LOAD_THREADS];
    for (int i = 0; i < LOAD_THREADS; i++) {
        ls[i] = (loader_t){.tid = i, .acked = acked, .nacked = &nacked, .stop = &stop};
        pthread_create(&th[i], NULL, load_thread, &ls[i]);
    }
    usleep(1500000);
    kill(dm.pid, SIGKILL); /* mid-load: requests in flight, a commit maybe half done */
    atomic_store(&stop, true);
    for (int i = 0; i < LOAD_THREADS; i++)
        pthread_join(th[i], NULL);
    int st;
    waitpid(dm.pid, &st, 0);
    dm.pid = 0;
    size_t n = atomic_load(&nacked);
    ck_assert_uint_gt(n, 100);
    ck_assert_uint_le(n, LOAD_MAX);
    idset_t s = stored_ids();
    ck_assert_uint_ge(s.n, n); /* more may be stored: committed but not answered yet */
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(idset_has(&s, acked[i]), "acknowledged %s missing after kill -9", acked[i]);
    idset_free(&s);
    free(acked);
}
END_TEST

#ifdef SUBSCRIBER
/* The ids a subscriber recorded (its --record file: one JSON object per request). */
static idset_t delivered_ids(const char *record)
{
    idset_t s = {0};
    FILE *f = fopen(record, "r");
    if (!f)
        return s;
    static char line[65536];
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "\"ce-id\":\"");
        if (!p)
            continue;
        p += 9;
        char *q = strchr(p, '"');
        if (!q)
            continue;
        if (s.n == s.cap) {
            s.cap = s.cap ? s.cap * 2 : 1024;
            s.ids = realloc(s.ids, s.cap * sizeof *s.ids);
        }
        s.ids[s.n++] = strndup(p, (size_t)(q - p));
    }
    fclose(f);
    if (s.n)
        qsort(s.ids, s.n, sizeof *s.ids, cmp_str);
    return s;
}

START_TEST(kill9_under_load_then_every_acked_event_delivered)
{
    char portfile[400], record[400];
    snprintf(portfile, sizeof portfile, "%s/sub.port", dm.dir);
    snprintf(record, sizeof record, "%s/sub.jsonl", dm.dir);
    pid_t sub = fork();
    ck_assert_int_ge(sub, 0);
    if (sub == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execl(SUBSCRIBER, "subscriber", "--port", "0", "--port-file", portfile, "--record", record,
              "--status", "202", "--max-seconds", "120", (char *)NULL);
        _exit(127);
    }
    int sub_port = 0;
    for (int i = 0; i < 200 && sub_port == 0; i++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &sub_port) != 1)
                sub_port = 0;
            fclose(f);
        }
        if (!sub_port)
            usleep(25000);
    }
    ck_assert_int_gt(sub_port, 0);
    snprintf(extra_manifest, sizeof extra_manifest,
             "apiVersion: eventing.knative.dev/v1\nkind: Trigger\n"
             "metadata:\n  name: all\n  namespace: t\nspec:\n  broker: b\n"
             "  subscriber:\n    uri: http://127.0.0.1:%d/\n"
             "  delivery:\n    retry: 10\n    backoffDelay: PT0.1S\n",
             sub_port);
    daemon_start(NULL);

    char(*acked)[24] = calloc(LOAD_MAX, 24);
    atomic_size_t nacked = 0;
    atomic_bool stop = false;
    pthread_t th[LOAD_THREADS];
    loader_t ls[LOAD_THREADS];
    for (int i = 0; i < LOAD_THREADS; i++) {
        ls[i] = (loader_t){.tid = i, .acked = acked, .nacked = &nacked, .stop = &stop};
        pthread_create(&th[i], NULL, load_thread, &ls[i]);
    }
    usleep(1500000);
    kill(dm.pid, SIGKILL); /* mid-load and mid-delivery */
    atomic_store(&stop, true);
    for (int i = 0; i < LOAD_THREADS; i++)
        pthread_join(th[i], NULL);
    waitpid(dm.pid, NULL, 0);
    size_t n = atomic_load(&nacked);
    ck_assert_uint_gt(n, 100);

    /* restart: delivery resumes from the durable cursor; every 202'd event arrives (at least
     * once; duplicates of events delivered but not yet recorded are allowed) */
    daemon_start(NULL);
    size_t missing = n;
    const char *first_missing = NULL;
    for (int round = 0; round < 600 && missing; round++) { /* up to 60 s */
        usleep(100000);
        idset_t d = delivered_ids(record);
        missing = 0;
        first_missing = NULL;
        for (size_t i = 0; i < n; i++)
            if (!idset_has(&d, acked[i])) {
                missing++;
                if (!first_missing)
                    first_missing = acked[i];
            }
        idset_free(&d);
    }
    ck_assert_msg(missing == 0, "%zu of %zu acknowledged events never delivered (e.g. %s)", missing,
                  n, first_missing ? first_missing : "");
    ck_assert_int_eq(daemon_stop(SIGTERM), 0);
    kill(sub, SIGTERM);
    waitpid(sub, NULL, 0);
    free(acked);
}
END_TEST
#endif

START_TEST(sigterm_under_load_is_clean)
{
    daemon_start(NULL);
    char(*acked)[24] = calloc(LOAD_MAX, 24);
    atomic_size_t nacked = 0;
    atomic_bool stop = false;
    pthread_t th[LOAD_THREADS];
    loader_t ls[LOAD_THREADS];
    for (int i = 0; i < LOAD_THREADS; i++) {
        ls[i] = (loader_t){.tid = i, .acked = acked, .nacked = &nacked, .stop = &stop};
        pthread_create(&th[i], NULL, load_thread, &ls[i]);
    }
    usleep(1000000);
    /* clean stop mid-load: waiting requests are answered, the loop closes empty (exit 0) */
    int rc = daemon_stop(SIGTERM);
    atomic_store(&stop, true);
    for (int i = 0; i < LOAD_THREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(rc, 0);
    size_t n = atomic_load(&nacked);
    ck_assert_uint_gt(n, 100);
    idset_t s = stored_ids();
    ck_assert_uint_ge(s.n, n);
    for (size_t i = 0; i < n && i < LOAD_MAX; i++)
        ck_assert_msg(idset_has(&s, acked[i]), "acknowledged %s missing after SIGTERM", acked[i]);
    idset_free(&s);
    free(acked);
}
END_TEST

START_TEST(store_queue_full_is_503_retry_after_1)
{
    /* a store queue of one batch: concurrent producers overflow it while a commit runs */
    daemon_start("store:\n  queue_max: 1\n");
    char(*acked)[24] = calloc(LOAD_MAX, 24);
    atomic_size_t nacked = 0;
    atomic_bool stop = false;
    pthread_t th[LOAD_THREADS];
    loader_t ls[LOAD_THREADS];
    for (int i = 0; i < LOAD_THREADS; i++) {
        ls[i] = (loader_t){.tid = i, .acked = acked, .nacked = &nacked, .stop = &stop};
        pthread_create(&th[i], NULL, load_thread, &ls[i]);
    }
    usleep(1500000);
    atomic_store(&stop, true);
    size_t busy = 0, retry1 = 0, other = 0;
    for (int i = 0; i < LOAD_THREADS; i++) {
        pthread_join(th[i], NULL);
        busy += ls[i].busy;
        retry1 += ls[i].busy_retry1;
        other += ls[i].other;
    }
    size_t n = atomic_load(&nacked);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_gt(busy, 0);
    ck_assert_uint_eq(retry1, busy);
    ck_assert_uint_eq(other, 0);
    ck_assert_int_eq(daemon_stop(SIGTERM), 0);
    /* every 202 is stored; no refused event is */
    idset_t s = stored_ids();
    ck_assert_uint_eq(s.n, n);
    for (size_t i = 0; i < n && i < LOAD_MAX; i++)
        ck_assert_msg(idset_has(&s, acked[i]), "acknowledged %s missing", acked[i]);
    idset_free(&s);
    free(acked);
}
END_TEST

START_TEST(store_full_is_503_with_retry_after)
{
    daemon_start("store:\n  map_size_max: 4194304\n");
    resp_t r;
    static char body[60000];
    memset(body, 'x', sizeof body);
    int accepted = 0, full = 0;
    char ids[400][16];
    for (int i = 0; i < 400 && full < 3; i++) {
        char h[512];
        snprintf(ids[accepted], sizeof ids[0], "full-%d", i);
        snprintf(h, sizeof h,
                 "Content-Type: application/octet-stream\r\nce-specversion: 1.0\r\n"
                 "ce-id: full-%d\r\nce-source: /s\r\nce-type: t\r\n",
                 i);
        int stc = http(dm.port, "POST", "/t/b", h, body, sizeof body, &r);
        if (stc == 202) {
            accepted++;
        } else {
            ck_assert_int_eq(stc, 503);
            ck_assert_ptr_nonnull(strcasestr(r.head, "retry-after:"));
            full++;
        }
    }
    ck_assert_int_gt(accepted, 0);
    ck_assert_int_eq(full, 3);
    /* still alive and answering */
    ck_assert_int_eq(http(dm.port, "GET", "/healthz", NULL, "", 0, &r), 200);
    ck_assert_int_eq(daemon_stop(SIGTERM), 0);
    idset_t s = stored_ids();
    ck_assert_uint_eq(s.n, (size_t)accepted);
    for (int i = 0; i < accepted; i++)
        ck_assert_msg(idset_has(&s, ids[i]), "missing %s", ids[i]);
    idset_free(&s);
}
END_TEST

START_TEST(connection_limit)
{
    daemon_start("limits:\n  max_connections: 4\n");
    int fds[4];
    resp_t r;
    for (int i = 0; i < 4; i++) {
        fds[i] = connect_port(dm.port);
        ck_assert_int_ge(fds[i], 0);
        const char *g = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        send_all(fds[i], g, strlen(g));
        ck_assert_int_eq(read_resp(fds[i], &r), 200);
    }
    int extra = connect_port(dm.port);
    ck_assert_int_ge(extra, 0);
    char b[64];
    ssize_t n = recv(extra, b, sizeof b, 0); /* accepted then closed */
    ck_assert_int_le(n, 0);
    close(extra);
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    usleep(100000);
    ck_assert_int_eq(post_binary(dm.port, "/t/b", "after-limit", &r), 202);
    ck_assert_int_eq(daemon_stop(SIGTERM), 0);
}
END_TEST

START_TEST(bad_config_exits_2)
{
    char path[400], log[400];
    snprintf(path, sizeof path, "%s/bad.yaml", dm.dir);
    snprintf(log, sizeof log, "%s/bad.log", dm.dir);
    write_file(path, "ingress:\n  listen: 127.0.0.1:1\nno_such_key: 1\n");
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT, 0600);
        dup2(fd, 2);
        execl(HERALDD_PATH, "heraldd", "-c", path, (char *)NULL);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 2);
    FILE *f = fopen(log, "r");
    char text[1024] = "";
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    ck_assert_msg(strstr(text, "no_such_key"), "stderr: %s", text);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ingress");
    TCase *tc = tcase_create("heraldd");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, status_table);
    tcase_add_test(tc, each_202_waited_for_an_fsync);
    tcase_add_test(tc, keep_alive_and_acked_survive_kill9);
    tcase_add_test(tc, kill9_under_load_loses_nothing_acked);
    tcase_add_test(tc, sigterm_under_load_is_clean);
#ifdef SUBSCRIBER
    tcase_add_test(tc, kill9_under_load_then_every_acked_event_delivered);
#endif
    tcase_add_test(tc, store_queue_full_is_503_retry_after_1);
    tcase_add_test(tc, store_full_is_503_with_retry_after);
    tcase_add_test(tc, connection_limit);
    tcase_add_test(tc, bad_config_exits_2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
