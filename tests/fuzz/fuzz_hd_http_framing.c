/*
 * fuzz_hd_http_framing.c — libFuzzer target of heraldd's HTTP request framing (http_framing.c):
 * arbitrary bytes go through the framer exactly as a connection feeds it, without a socket.
 * The first input byte picks a chunk size, so the same bytes are framed whole and in pieces and
 * both must give the same requests (method, path, query, headers, body), and both an error or
 * neither (which error may differ when a request has two problems: a URL past 8 KiB is seen in
 * pieces before a bad character after it).
 * Every request stays within its bounds, errors are statuses heraldd documents, and the body
 * budget returns to zero once the framer is freed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

#define MAX_BODY (64 * 1024)
#define BUDGET (96 * 1024)

typedef struct {
    uint64_t hash; /* of every request seen, in order */
    size_t requests;
    int error;
} outcome_t;

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h ^ n;
}

static void check_request(hd_http__framer_t *f, const hd_http_req_t *r, outcome_t *o)
{
    if (r->body_len > MAX_BODY || r->header_count > HD_HTTP__HEADER_COUNT_MAX ||
        r->path_len > HD_HTTP__URL_MAX || strlen(r->path) != r->path_len)
        __builtin_trap();
    if (*f->budget_used > BUDGET)
        __builtin_trap();
    uint64_t h = mix(o->hash, &r->method, sizeof r->method);
    h = mix(h, r->path, r->path_len);
    h = mix(h, r->query, strlen(r->query));
    for (size_t i = 0; i < r->header_count; i++) {
        h = mix(h, r->headers[i].name, r->headers[i].name_len);
        h = mix(h, r->headers[i].value, r->headers[i].value_len);
    }
    h = mix(h, r->body, r->body_len);
    o->hash = h;
    o->requests++;
}

static void run(const uint8_t *data, size_t size, size_t chunk, outcome_t *o)
{
    size_t used_budget = 0;
    hd_http__framer_t *f = malloc(sizeof *f);
    if (!f)
        return;
    hd_http__framer_init(f, MAX_BODY, &used_budget, BUDGET);
    memset(o, 0, sizeof *o);
    size_t off = 0;
    while (off < size && !o->error) {
        size_t end = chunk && off + chunk < size ? off + chunk : size;
        while (off < end && !o->error) {
            size_t used = 0;
            hd_http__frame_t r =
                hd_http__framer_feed(f, (const char *)data + off, end - off, &used);
            if (used > end - off)
                __builtin_trap();
            off += used;
            if (r == HD_HTTP__REQUEST) {
                hd_http_req_t req;
                hd_http__framer_build(f, &req);
                check_request(f, &req, o);
                hd_http__framer_reset_body(f);
            } else if (r == HD_HTTP__ERROR) {
                switch (f->err_status) {
                case 400:
                case 405:
                case 413:
                case 414:
                case 417:
                case 431:
                case 503:
                case 505:
                    break;
                default:
                    __builtin_trap();
                }
                if (!f->err_msg || !*f->err_msg)
                    __builtin_trap();
                o->error = f->err_status;
            } else if (r == HD_HTTP__NEED_MORE && off != end) {
                __builtin_trap(); /* NEED_MORE means every byte was taken */
            }
        }
    }
    hd_http__framer_free(f);
    free(f);
    if (used_budget != 0)
        __builtin_trap(); /* body bytes leaked from the budget */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = data[0] % 17 + 1;
    outcome_t whole, pieces;
    run(data + 1, size - 1, 0, &whole);
    run(data + 1, size - 1, chunk, &pieces);
    if (whole.requests != pieces.requests || whole.hash != pieces.hash ||
        !whole.error != !pieces.error)
        __builtin_trap(); /* framing must not depend on how the bytes arrive */
    return 0;
}
