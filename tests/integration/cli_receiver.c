/*
 * cli_receiver.c — a one-purpose HTTP/1.1 receiver for the `herald event send` tests. Listens on
 * 127.0.0.1 (a free port, written to --port-file), serves --count requests, one per connection:
 * each raw request is appended to --dump, and the bytes of --reply (a complete raw HTTP response)
 * are written back. Exits after --count requests or --timeout seconds, whichever comes first.
 */
#include <arpa/inet.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_REQUEST (4u * 1024u * 1024u)

static int on_complete(http_parser *p)
{
    *(bool *)p->data = true;
    return 0;
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char *buf = malloc(MAX_REQUEST);
    size_t n = buf ? fread(buf, 1, MAX_REQUEST, f) : 0;
    fclose(f);
    if (!buf)
        return -1;
    *out = buf;
    *len = n;
    return 0;
}

int main(int argc, char **argv)
{
    const char *port_file = NULL, *dump = NULL, *reply = NULL;
    int count = 1, timeout = 20;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port-file"))
            port_file = argv[i + 1];
        else if (!strcmp(argv[i], "--dump"))
            dump = argv[i + 1];
        else if (!strcmp(argv[i], "--reply"))
            reply = argv[i + 1];
        else if (!strcmp(argv[i], "--count"))
            count = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--timeout"))
            timeout = atoi(argv[i + 1]);
    }
    if (!port_file || !dump || !reply) {
        fprintf(stderr, "usage: cli_receiver --port-file F --dump F --reply F [--count N] "
                        "[--timeout S]\n");
        return 2;
    }
    char *answer = NULL;
    size_t answer_len = 0;
    if (read_file(reply, &answer, &answer_len)) {
        perror(reply);
        return 1;
    }
    alarm((unsigned)timeout); /* bounded: never outlives a broken test */
    signal(SIGPIPE, SIG_IGN);

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 16) ||
        getsockname(ls, (struct sockaddr *)&a, &alen)) {
        perror("listen");
        return 1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
    FILE *pf = fopen(tmp, "w");
    if (!pf)
        return 1;
    fprintf(pf, "%d\n", ntohs(a.sin_port));
    fclose(pf);
    rename(tmp, port_file); /* atomic: the test never reads a half-written port */

    char *buf = malloc(MAX_REQUEST);
    if (!buf)
        return 1;
    for (int served = 0; served < count; served++) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            continue;
        http_parser_settings s;
        http_parser_settings_init(&s);
        s.on_message_complete = on_complete;
        http_parser p;
        http_parser_init(&p, HTTP_REQUEST);
        bool done = false;
        p.data = &done;
        size_t n = 0;
        while (!done && n < MAX_REQUEST) {
            ssize_t got = read(c, buf + n, MAX_REQUEST - n);
            if (got <= 0)
                break;
            size_t used = http_parser_execute(&p, &s, buf + n, (size_t)got);
            n += (size_t)got;
            if (HTTP_PARSER_ERRNO(&p) != HPE_OK || used != (size_t)got)
                break;
        }
        FILE *df = fopen(dump, "ab");
        if (df) {
            fwrite(buf, 1, n, df);
            fclose(df);
        }
        if (done) {
            size_t off = 0;
            while (off < answer_len) {
                ssize_t w = write(c, answer + off, answer_len - off);
                if (w <= 0)
                    break;
                off += (size_t)w;
            }
        }
        close(c);
    }
    close(ls);
    free(buf);
    free(answer);
    return 0;
}
