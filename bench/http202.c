/*
 * http202.c — heraldd's HTTP server (hd_http.h) with a handler that answers 202 at once: the
 * HTTP layer alone, for bench/ingest.sh --bare (no decode, no store). Binds 127.0.0.1 only.
 *
 *   http202 PORT
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "hd_http.h"

static void answer(void *ctx, hd_http_req_t *req)
{
    (void)ctx;
    hd_http_respond(req, 202, NULL, NULL, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    hd_http_server_stop(s->data);
    uv_close((uv_handle_t *)s, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: http202 PORT\n");
        return 2;
    }
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", atoi(argv[1]));
    uv_loop_t loop;
    uv_loop_init(&loop);
    hd_http_server_opts_t o = {
        .listen = listen, .max_body = 1 << 20, .max_conns = 10000, .handler = answer};
    hd_http_server_t *s;
    if (hd_http_server_start(&loop, &o, &s) != HD_E_OK)
        return 1;
    uv_signal_t sig;
    uv_signal_init(&loop, &sig);
    sig.data = s;
    uv_signal_start(&sig, on_signal, SIGTERM);
    uv_run(&loop, UV_RUN_DEFAULT);
    return uv_loop_close(&loop) == 0 ? 0 : 1;
}
