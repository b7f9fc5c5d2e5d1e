/*
 * receiver — a minimal CloudEvents receiver: accepts HTTP POSTs on 127.0.0.1:PORT, decodes each
 * request with libherald-ce (binary, structured or batch mode), prints every event as one JSON
 * line on stdout and answers 202 (400 with the reason when the request is not a CloudEvent).
 *
 *   receiver PORT [MAX-EVENTS]      # exits after MAX-EVENTS events when given
 *
 * The SDK has no HTTP server of its own; this example frames requests with http-parser over
 * blocking sockets, one connection at a time, which is enough to show the decoding. Build:
 *   cc receiver.c $(pkg-config --cflags --libs herald-ce) -lhttp_parser -o receiver
 */
#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <herald/ce.h>
#include <herald/ce_http.h>
#include <herald/ce_json.h>

enum { MAX_HEADERS = 64, MAX_HEAD = 16384, MAX_BODY = 1 << 20 };

typedef struct {
    char head[MAX_HEAD]; /* header names and values, each copied here as it arrives */
    size_t head_len;
    ce_header_t headers[MAX_HEADERS];
    size_t header_count;
    char *body;
    size_t body_len;
    int in_value; /* the last callback was a value (a new name starts a new header) */
    int complete;
    int too_large;
} request_t;

static char *keep(request_t *r, const char *at, size_t len)
{
    if (r->head_len + len > sizeof r->head) {
        r->too_large = 1;
        return NULL;
    }
    char *p = r->head + r->head_len;
    memcpy(p, at, len);
    r->head_len += len;
    return p;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    request_t *r = p->data;
    if (r->in_value || r->header_count == 0) {
        if (r->header_count == MAX_HEADERS)
            return r->too_large = 1;
        r->headers[r->header_count++] = (ce_header_t){.name = r->head + r->head_len};
        r->in_value = 0;
    }
    ce_header_t *h = &r->headers[r->header_count - 1];
    if (!keep(r, at, len)) /* pieces of one name arrive in order, so they stay contiguous */
        return 1;
    h->name_len += len;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    request_t *r = p->data;
    ce_header_t *h = &r->headers[r->header_count - 1];
    if (!r->in_value) {
        h->value = r->head + r->head_len;
        r->in_value = 1;
    }
    if (!keep(r, at, len))
        return 1;
    h->value_len += len;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    request_t *r = p->data;
    if (r->body_len + len > MAX_BODY)
        return r->too_large = 1;
    char *nb = realloc(r->body, r->body_len + len);
    if (!nb)
        return 1;
    r->body = nb;
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    return 0;
}

static int on_complete(http_parser *p)
{
    ((request_t *)p->data)->complete = 1;
    http_parser_pause(p, 1); /* one request per read loop; keep-alive is not needed here */
    return 0;
}

static void answer(int fd, const char *status, const char *body)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf,
                     "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n%s",
                     status, strlen(body), body);
    if (n > 0 && write(fd, buf, (size_t)n) < 0)
        perror("receiver: write");
}

/* Reads one request from fd, decodes it and prints its events. Returns events printed. */
static size_t serve(int fd)
{
    static http_parser_settings settings = {.on_header_field = on_header_field,
                                            .on_header_value = on_header_value,
                                            .on_body = on_body,
                                            .on_message_complete = on_complete};
    request_t *r = calloc(1, sizeof *r);
    if (!r)
        return 0;
    http_parser parser;
    http_parser_init(&parser, HTTP_REQUEST);
    parser.data = r;
    char buf[8192];
    while (!r->complete) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        size_t used = http_parser_execute(&parser, &settings, buf, (size_t)n);
        if (!r->complete && (used != (size_t)n || r->too_large)) {
            answer(fd, r->too_large ? "413 Content Too Large" : "400 Bad Request",
                   r->too_large ? "request too large\n" : "malformed HTTP request\n");
            break;
        }
    }
    size_t printed = 0;
    if (r->complete) {
        ce_http_msg_t msg = {.headers = r->headers,
                             .header_count = r->header_count,
                             .body = r->body,
                             .body_len = r->body_len};
        ce_event_t **events = NULL;
        size_t count = 0;
        ce_error_t err = {0};
        if (ce_http_decode(&msg, &events, &count, &err) != CE_E_OK) {
            char why[300];
            snprintf(why, sizeof why, "not a CloudEvent: %s\n", err.message);
            answer(fd, "400 Bad Request", why);
        } else {
            for (size_t i = 0; i < count; i++) {
                ce_buf_t json = {0};
                if (ce_json_encode(events[i], &json) == CE_E_OK) {
                    printf("%.*s\n", (int)json.len, json.data);
                    printed++;
                }
                ce_buf_free(&json);
            }
            ce_events_free(events, count);
            fflush(stdout);
            answer(fd, "202 Accepted", "");
        }
    }
    free(r->body);
    free(r);
    return printed;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: receiver PORT [MAX-EVENTS]\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long max = argc > 2 ? atol(argv[2]) : 0;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (port <= 0 || port > 65535 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(lfd, 16) != 0) {
        perror("receiver: listen");
        return 1;
    }
    fprintf(stderr, "receiver: listening on 127.0.0.1:%d\n", port);
    long seen = 0;
    while (max == 0 || seen < max) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        seen += (long)serve(fd);
        close(fd);
    }
    close(lfd);
    return 0;
}
