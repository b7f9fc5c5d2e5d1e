/*
 * sender — builds one CloudEvent with libherald-ce and POSTs it with the client library.
 *
 *   sender URL [TYPE] [DATA-JSON]
 *   sender http://127.0.0.1:8080/default/default com.example.order.created '{"order": 1}'
 *
 * Prints the answer's status (and the reply event, if any) and exits 0 on a 2xx answer.
 * Build against an installed SDK:
 *   cc sender.c $(pkg-config --cflags --libs herald-ce-client) -o sender
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <herald/ce.h>
#include <herald/ce_client.h>
#include <herald/ce_json.h>

static int fail(const char *what, const ce_error_t *err)
{
    fprintf(stderr, "sender: %s: %s\n", what, err->message);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4 || strcmp(argv[1], "--help") == 0) {
        fprintf(stderr, "usage: sender URL [TYPE] [DATA-JSON]\n");
        return 2;
    }
    const char *url = argv[1];
    const char *type = argc > 2 ? argv[2] : "com.example.sdk.hello";
    const char *data = argc > 3 ? argv[3] : "{\"hello\": \"world\"}";

    char id[32], now[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(id, sizeof id, "%lld-%ld", (long long)ts.tv_sec, ts.tv_nsec);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", gmtime(&ts.tv_sec));

    ce_error_t err = {0};
    ce_event_t *ev = ce_event_new();
    if (!ev)
        return 1;
    int rc = 1;
    if (ce_event_set_str(ev, "specversion", "1.0", &err) || ce_event_set_str(ev, "id", id, &err) ||
        ce_event_set_str(ev, "source", "/herald/sdk/examples/sender", &err) ||
        ce_event_set_str(ev, "type", type, &err) || ce_event_set_str(ev, "time", now, &err) ||
        ce_event_set_str(ev, "datacontenttype", "application/json", &err)) {
        rc = fail("attribute", &err);
        goto out;
    }
    if (ce_event_set_data(ev, data, strlen(data), true) != CE_E_OK) {
        fprintf(stderr, "sender: out of memory\n");
        goto out;
    }
    if (ce_event_validate(ev, &err) != CE_E_OK) {
        rc = fail("invalid event", &err);
        goto out;
    }

    ce_client_opts_t opts = {.mode = CE_HTTP_BINARY};
    ce_client_result_t res;
    if (ce_client_send(url, ev, &opts, &res, &err) != CE_E_OK) {
        rc = fail(url, &err);
        goto out;
    }
    printf("sent %s: %ld%s%s\n", id, res.status, res.error_body[0] ? " " : "", res.error_body);
    if (res.reply) {
        ce_buf_t json = {0};
        if (ce_json_encode(res.reply, &json) == CE_E_OK)
            printf("reply: %.*s\n", (int)json.len, json.data);
        ce_buf_free(&json);
    }
    rc = res.status >= 200 && res.status < 300 ? 0 : 1;
    ce_client_result_clear(&res);
out:
    ce_event_free(ev);
    return rc;
}
