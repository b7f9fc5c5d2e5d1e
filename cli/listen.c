/*
 * listen.c — `herald listen`: a CloudEvents receiver for a terminal, the sink the README's
 * examples deliver to. Accepts HTTP/1.1 POSTs on host:port (keep-alive, several connections at
 * once through poll(2)), decodes each with the SDK (binary, structured or batch mode), prints
 * every event readably as Knative's event-display does, and answers 202 (400 with the reason
 * when the request is not a valid event). Request framing: http-parser finds where a request
 * ends; cli_http_request_parse (util_io.c) then reads it, as for `herald event decode`.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin_internal.h"
#include "cli.h"
#include "herald/ce.h"
#include "herald/ce_http.h"
#include "util_io.h"

/* Bounds: connections served at once (more wait in the kernel's backlog) and bytes of one
 * request (larger is answered 413 and the connection closed). */
#define LISTEN_MAX_CONNS 64
#define LISTEN_MAX_REQUEST ((size_t)4 * 1024 * 1024)

static const char USAGE[] =
    "usage: herald listen [--port N] [--host ADDRESS] [--max-events N] [--max-seconds S]\n"
    "\n"
    "Receives CloudEvents over HTTP and prints each one as Knative's event-display does:\n"
    "\n"
    "  \xe2\x98\x81\xef\xb8\x8f  cloudevents.Event\n"
    "  Context Attributes,\n"
    "    specversion: 1.0\n"
    "    type: com.example.order.created\n"
    "    ...\n"
    "  Extensions,\n"
    "    ...\n"
    "  Data,\n"
    "    { \"JSON data\": \"pretty-printed\" }\n"
    "\n"
    "Binary, structured and batch mode are understood; each event is answered 202, a request\n"
    "that is not a valid event 400 with the reason (also printed on stderr). Point a trigger\n"
    "or a subscription at it: herald trigger create show --sink http://127.0.0.1:8090/\n"
    "\n"
    "  --port N         port to listen on (default 8090: heraldd has 8080 and 8081; 0 = any)\n"
    "  --host ADDRESS   address to bind (default 127.0.0.1; 0.0.0.0 for every interface)\n"
    "  --max-events N   exit after N events (default: run until interrupted)\n"
    "  --max-seconds S  exit after S seconds\n"
    "The line \"listening on http://HOST:PORT/\" goes to stderr once the port is open.\n";

typedef struct {
    int fd;
    char *buf; /* bytes received and not yet answered */
    size_t len, cap;
    size_t fed; /* bytes of buf given to the parser */
    http_parser parser;
    bool complete; /* the parser saw the end of a request */
} conn_t;

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static int on_complete(http_parser *p)
{
    ((conn_t *)p->data)->complete = true;
    http_parser_pause(p, 1); /* execute returns right after this request */
    return 0;
}

static const http_parser_settings framing = {.on_message_complete = on_complete};

static void conn_reset_parser(conn_t *c)
{
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    c->complete = false;
    c->fed = 0;
}

/* Writes all of buf (a blocking-enough loop on a socket that is writable most of the time). */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static void answer(int fd, int status, const char *reason, const char *text, bool close)
{
    char head[256];
    size_t tl = text ? strlen(text) : 0;
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n%s%s\r\n", status,
                     reason, tl, tl ? "Content-Type: text/plain\r\n" : "",
                     close ? "Connection: close\r\n" : "");
    write_all(fd, head, (size_t)n);
    if (tl)
        write_all(fd, text, tl);
}

/* ---- printing ---------------------------------------------------------------------------- */

static bool printable_text(const char *s, size_t n)
{
    if (!ce_utf8_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
            return false;
    return true;
}

/* Data, indented by two spaces: JSON pretty-printed, text as it is, other bytes as a count. */
static void print_data(const ce_event_t *ev)
{
    const void *d;
    size_t n;
    if (!ce_event_data(ev, &d, &n))
        return;
    puts("Data,");
    cJSON *j = NULL;
    const char *ct = ce_event_get_str(ev, "datacontenttype");
    if (ce_event_data_is_json(ev) || !ct || ce_media_type_is_json(ct, strlen(ct)))
        j = cJSON_ParseWithLength(d, n);
    if (j) {
        fputs("  ", stdout);
        cli__json_write(stdout, j, 2, "  ");
        putchar('\n');
        cJSON_Delete(j);
    } else if (printable_text(d, n)) {
        fputs("  ", stdout);
        for (size_t i = 0; i < n; i++) {
            putchar(((const char *)d)[i]);
            if (((const char *)d)[i] == '\n' && i + 1 < n)
                fputs("  ", stdout);
        }
        putchar('\n');
    } else {
        printf("  (%zu bytes of binary data)\n", n);
    }
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void print_event(const ce_event_t *ev)
{
    /* the context attributes in event-display's order, then extensions by name */
    static const char *const core[] = {"specversion", "type", "source",     "subject",
                                       "id",          "time", "dataschema", "datacontenttype"};
    puts("\xe2\x98\x81\xef\xb8\x8f  cloudevents.Event\nContext Attributes,");
    for (size_t i = 0; i < sizeof core / sizeof core[0]; i++) {
        const char *v = ce_event_get_str(ev, core[i]);
        if (v)
            printf("  %s: %s\n", core[i], v);
    }
    size_t n = ce_event_attr_count(ev), next = 0;
    const char **ext = calloc(n ? n : 1, sizeof *ext);
    for (size_t i = 0; ext && i < n; i++) {
        const char *name;
        const ce_value_t *v;
        ce_event_attr_at(ev, i, &name, &v);
        bool is_core = false;
        for (size_t k = 0; k < sizeof core / sizeof core[0]; k++)
            is_core = is_core || !strcmp(name, core[k]);
        if (!is_core)
            ext[next++] = name;
    }
    if (next) {
        qsort(ext, next, sizeof *ext, name_cmp);
        puts("Extensions,");
        for (size_t i = 0; i < next; i++)
            printf("  %s: %s\n", ext[i], ce_event_get_str(ev, ext[i]));
    }
    free(ext);
    print_data(ev);
    fflush(stdout);
}

/* ---- requests ------------------------------------------------------------------------------ */

/* Handles the complete request in c->buf[0..end); returns how many events it printed. */
static long handle_request(conn_t *c, size_t end, bool close)
{
    cli_http_request_t *req = malloc(sizeof *req);
    char why[300];
    if (!req) {
        answer(c->fd, 500, "Internal Server Error", "out of memory\n", close);
        return 0;
    }
    if (cli_http_request_parse(c->buf, end, LISTEN_MAX_REQUEST, req, why, sizeof why)) {
        fprintf(stderr, "error: bad request: %s\n", why);
        answer(c->fd, 400, "Bad Request", why, close);
        free(req);
        return 0;
    }
    long printed = 0;
    if (req->method != HTTP_POST) {
        answer(c->fd, 405, "Method Not Allowed", "send events with POST\n", close);
    } else {
        ce_http_msg_t msg = {req->headers, req->header_count, req->body, req->body_len};
        ce_event_t **evs = NULL;
        size_t count = 0;
        ce_error_t err = {0};
        if (ce_http_decode(&msg, &evs, &count, &err) != CE_E_OK) {
            snprintf(why, sizeof why, "not a valid CloudEvent: %s\n",
                     err.message[0] ? err.message : ce_err_message(err.code));
            fprintf(stderr, "error: %s", why);
            answer(c->fd, 400, "Bad Request", why, close);
        } else {
            for (size_t i = 0; i < count; i++) {
                print_event(evs[i]);
                ce_event_free(evs[i]);
                printed++;
            }
            free(evs);
            answer(c->fd, 202, "Accepted", NULL, close);
        }
    }
    cli_http_request_free(req);
    free(req);
    return printed;
}

/* Reads what is there and answers every complete request. Returns the events printed, or
 * -1 - (the events printed) when the connection is to be closed. */
static long conn_read(conn_t *c)
{
    if (c->cap - c->len < 65536) {
        size_t cap = c->cap ? c->cap * 2 : 65536;
        if (cap > LISTEN_MAX_REQUEST + 65536)
            cap = LISTEN_MAX_REQUEST + 65536;
        char *b = cap > c->cap ? realloc(c->buf, cap) : NULL;
        if (!b || cap == c->len) {
            answer(c->fd, 413, "Content Too Large", "request too large\n", true);
            return -1;
        }
        c->buf = b;
        c->cap = cap;
    }
    ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0)
        return -1;
    c->len += (size_t)n;
    long printed = 0;
    while (c->fed < c->len) {
        size_t used = http_parser_execute(&c->parser, &framing, c->buf + c->fed, c->len - c->fed);
        c->fed += used;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (!c->complete) {
            if (e != HPE_OK) {
                char m[200];
                snprintf(m, sizeof m, "malformed HTTP request: %s\n", http_errno_description(e));
                answer(c->fd, 400, "Bad Request", m, true);
                return -1 - printed;
            }
            if (c->len > LISTEN_MAX_REQUEST) {
                answer(c->fd, 413, "Content Too Large", "request too large\n", true);
                return -1 - printed;
            }
            return printed;
        }
        bool keep = http_should_keep_alive(&c->parser);
        printed += handle_request(c, c->fed, !keep);
        if (!keep)
            return -1 - printed; /* closed after the answer */
        memmove(c->buf, c->buf + c->fed, c->len - c->fed);
        c->len -= c->fed;
        conn_reset_parser(c);
    }
    return printed;
}

static void conn_close(conn_t *c)
{
    close(c->fd);
    free(c->buf);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* Opens the listening socket; prints the error and returns -1 when it cannot. */
static int open_listener(const char *host, const char *port, int *bound)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g)
        return cli_error(-1, "cannot listen on %s:%s: %s", host, port, gai_strerror(g));
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 128)) {
        cli_error(-1, "cannot listen on %s:%s: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                            : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static bool positive(const char *s, double *out, bool integer)
{
    char *end;
    *out = integer ? (double)strtol(s, &end, 10) : strtod(s, &end);
    return *s && !*end && *out > 0;
}

int cli_listen(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port = "8090";
    double max_events = 0, max_seconds = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(USAGE, stdout);
            return CLI_OK;
        }
        static const char *const names[] = {"--port", "--host", "--max-events", "--max-seconds"};
        int which = -1;
        for (int k = 0; k < 4 && which < 0; k++) {
            size_t l = strlen(names[k]);
            if (!strncmp(a, names[k], l) && (a[l] == '=' || !a[l])) {
                which = k;
                v = a[l] == '=' ? a + l + 1 : (i + 1 < argc ? argv[++i] : NULL);
            }
        }
        if (which < 0) {
            fprintf(stderr, "error: unknown argument '%s'\n%s", a, USAGE);
            return CLI_USAGE;
        }
        double num;
        if (!v || (which == 0 && strcmp(v, "0") && !(positive(v, &num, true) && num < 65536)) ||
            (which == 2 && !positive(v, &max_events, true)) ||
            (which == 3 && !positive(v, &max_seconds, false))) {
            fprintf(stderr, "error: %s needs %s\n%s", names[which],
                    which == 1   ? "an address"
                    : which == 0 ? "a port (0..65535)"
                                 : "a positive number",
                    USAGE);
            return CLI_USAGE;
        }
        if (which == 0)
            port = v;
        else if (which == 1)
            host = v;
    }
    int bound = 0;
    int lfd = open_listener(host, port, &bound);
    if (lfd < 0)
        return CLI_INVALID;
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "listening on http://%s%s%s:%d/\n", strchr(host, ':') ? "[" : "", host,
            strchr(host, ':') ? "]" : "", bound);
    conn_t conns[LISTEN_MAX_CONNS];
    for (int i = 0; i < LISTEN_MAX_CONNS; i++)
        conns[i] = (conn_t){.fd = -1};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long events = 0;
    while (!stop_flag && !(max_events > 0 && events >= (long)max_events)) {
        struct pollfd p[LISTEN_MAX_CONNS + 1];
        int idx[LISTEN_MAX_CONNS + 1], np = 0, open = 0;
        for (int i = 0; i < LISTEN_MAX_CONNS; i++)
            if (conns[i].fd >= 0) {
                p[np] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
                idx[np++] = i;
                open++;
            }
        if (open < LISTEN_MAX_CONNS) { /* at the bound, new connections wait in the backlog */
            p[np] = (struct pollfd){.fd = lfd, .events = POLLIN};
            idx[np++] = -1;
        }
        int timeout = 1000;
        if (max_seconds > 0) {
            struct timespec t;
            clock_gettime(CLOCK_MONOTONIC, &t);
            double left = max_seconds -
                          ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9);
            if (left <= 0)
                break;
            if (left * 1000 < timeout)
                timeout = (int)(left * 1000) + 1;
        }
        int r = poll(p, (nfds_t)np, timeout);
        if (r < 0 && errno != EINTR)
            break;
        for (int k = 0; r > 0 && k < np; k++) {
            if (!p[k].revents)
                continue;
            if (idx[k] < 0) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                for (int i = 0; fd >= 0 && i < LISTEN_MAX_CONNS; i++)
                    if (conns[i].fd < 0) {
                        conns[i] = (conn_t){.fd = fd};
                        conn_reset_parser(&conns[i]);
                        fd = -1;
                    }
                if (fd >= 0)
                    close(fd);
                continue;
            }
            conn_t *c = &conns[idx[k]];
            long got = conn_read(c);
            if (got < 0) {
                events += -1 - got;
                conn_close(c);
            } else {
                events += got;
            }
        }
    }
    for (int i = 0; i < LISTEN_MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            conn_close(&conns[i]);
    close(lfd);
    return CLI_OK;
}
