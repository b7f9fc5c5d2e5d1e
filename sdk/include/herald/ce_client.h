/*
 * ce_client.h — an optional HTTP transport of libherald-ce (library herald_ce_client, libcurl):
 * send one event to a URL in binary or structured mode and read the reply event, if any.
 *
 * This is the one part of the SDK that does I/O. It is a blocking call, meant for producers,
 * tools and tests (the broker's hot path uses its own client on the loop). Redirects are never
 * followed (the CloudEvents webhook spec forbids it); every call has a total timeout.
 *
 * Threads: ce_client_send may be called from any thread, concurrently (each call uses its own
 * curl handle; libcurl's global init runs once, thread-safely).
 */
#ifndef HERALD_CE_CLIENT_H
#define HERALD_CE_CLIENT_H

#include "herald/ce.h"
#include "herald/ce_http.h"

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

/* Options of one send. A zeroed struct is valid: binary, compat headers, 10 s, 1 MiB. */
typedef struct {
    ce_http_mode_t mode;                  /* CE_HTTP_BINARY or CE_HTTP_STRUCTURED */
    ce_header_encoding_t header_encoding; /* ce- values in binary mode */
    long timeout_ms;                      /* whole exchange; 0 means 10000 */
    size_t max_reply_bytes;               /* reply body bound; 0 means 1 MiB */
    const char *const *extra_headers;     /* "Name: value" lines, borrowed; may be NULL */
    size_t extra_header_count;
} ce_client_opts_t;

/* What came back. Clear with ce_client_result_clear. */
typedef struct {
    long status;       /* HTTP status code */
    ce_event_t *reply; /* the reply event (owned), or NULL when the answer carried none */
    /*
     * CE_E_OK when there was no reply or it decoded; otherwise why a non-empty answer was not a
     * CloudEvent (reply is then NULL, reply_error holds the details). The caller decides what
     * that means (Knative treats a 200 with a non-event body as a failed delivery).
     */
    ce_err_t reply_err;
    ce_error_t reply_error;
    /*
     * For an answer outside 2xx: the start of its body (NUL-terminated, at most 511 bytes, cut
     * on a UTF-8 boundary), e.g. the broker's {"error": "..."} saying what it refused. "" else.
     */
    char error_body[512];
} ce_client_result_t;

/*
 * POSTs `ev` (borrowed) to `url`. On success (*res filled) the exchange completed, whatever the
 * status code. A 2xx answer with a non-empty body or a ce-specversion header is decoded as
 * binary, structured or (one-event) batch reply.
 * Errors: CE_E_ARG, CE_E_NOMEM, CE_E_HTTP (connection failed, timeout, protocol error: err
 * carries libcurl's message), CE_E_TOO_LARGE (reply body over max_reply_bytes).
 */
ce_err_t ce_client_send(const char *url, const ce_event_t *ev, const ce_client_opts_t *opts,
                        ce_client_result_t *res, ce_error_t *err);

/* Frees the reply and zeroes the result. Accepts NULL. */
void ce_client_result_clear(ce_client_result_t *res);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* HERALD_CE_CLIENT_H */
