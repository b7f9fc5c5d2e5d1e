/*
 * cli_http_request_fuzz.c — libFuzzer target for the CLI's raw HTTP request parser
 * (cli/util_io.c, used by `herald event decode`) followed by the SDK's HTTP binding decode:
 * any bytes in, never a crash, a leak or a read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "herald/ce_http.h"
#include "util_io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The parser requires the input to outlive the request: keep a private copy. */
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    cli_http_request_t *req = malloc(sizeof *req);
    char err[256];
    if (req && cli_http_request_parse(buf, size, 1u << 20, req, err, sizeof err) == 0) {
        ce_http_msg_t msg = {req->headers, req->header_count, req->body, req->body_len};
        ce_event_t **evs = NULL;
        size_t n = 0;
        if (ce_http_decode(&msg, &evs, &n, NULL) == CE_E_OK) {
            for (size_t i = 0; i < n; i++)
                ce_event_free(evs[i]);
            free(evs);
        }
        cli_http_request_free(req);
    }
    free(req);
    free(buf);
    return 0;
}
