/* util_send.c — `herald event send`'s transport: the SDK's libcurl client (ce_client.h). */
#include <stdio.h>

#include "cli.h"
#include "herald/ce_client.h"
#include "herald/ce_json.h"
#include "util_envelope.h"
#include "util_event.h"

int cli_send_event(const char *url, const ce_event_t *ev, ce_http_mode_t mode,
                   ce_header_encoding_t enc, long timeout_ms)
{
    ce_client_opts_t opts = {.mode = mode, .header_encoding = enc, .timeout_ms = timeout_ms};
    ce_client_result_t res = {0};
    ce_error_t err = {0};
    ce_err_t rc = ce_client_send(url, ev, &opts, &res, &err);
    if (rc == CE_E_HTTP) {
        fprintf(stderr, "error: cannot reach %s: %s\n", url,
                err.message[0] ? err.message : ce_err_message(rc));
        return CLI_UNREACHABLE;
    }
    if (rc != CE_E_OK) {
        fprintf(stderr, "error: %s\n", err.message[0] ? err.message : ce_err_message(rc));
        return CLI_INVALID;
    }
    int out = CLI_OK;
    if (res.status < 200 || res.status > 299) {
        if (res.error_body[0])
            fprintf(stderr, "error: %s answered %ld: %s\n", url, res.status, res.error_body);
        else
            fprintf(stderr, "error: %s answered %ld\n", url, res.status);
        out = CLI_INVALID;
    } else {
        cli_print_sent(ev, url, res.status);
        if (res.reply) {
            ce_buf_t b = {0};
            if (ce_json_encode(res.reply, &b) == CE_E_OK) {
                fwrite(b.data, 1, b.len, stdout);
                fputc('\n', stdout);
            } else {
                fprintf(stderr, "error: out of memory\n");
                out = CLI_INVALID;
            }
            ce_buf_free(&b);
        } else if (res.reply_err != CE_E_OK && res.status != 202) {
            /* A 202's body is never a reply; any other 2xx body that is not an event is shown. */
            fprintf(stderr, "note: the answer's body is not a CloudEvent: %s\n",
                    res.reply_error.message[0] ? res.reply_error.message
                                               : ce_err_message(res.reply_err));
        }
    }
    ce_client_result_clear(&res);
    if (fflush(stdout) && out == CLI_OK) {
        fprintf(stderr, "error: cannot write to stdout\n");
        out = CLI_INVALID;
    }
    return out;
}
