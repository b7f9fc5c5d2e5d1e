/*
 * main.c — heraldd, the Herald broker daemon.
 *
 *   heraldd -c FILE [--print-config] [--check] [--log-format json|text] [--help]
 *
 * Loads the settings (hd_config.h; a bad file or value exits 2 with the message), opens the
 * store, the metrics, the outbound HTTP client, the resources (which apply the configured
 * manifests), the ingress state and the dispatcher (which then observes the resources), binds the
 * ingress port and gives the resources its address, binds the admin port and marks the server
 * ready. SIGHUP reloads the manifests and reopens log.file, SIGUSR1 logs a status line, SIGUSR2
 * toggles debug logging (ops_signal). SIGINT/SIGTERM (and SIGQUIT) stop it cleanly: stop accepting,
 * let requests already taken and deliveries already sent finish for at most shutdown.drain
 * (buffered requests get 503 + Retry-After), then drain the store (every request waiting for a
 * commit gets its answer), close every module, and check that the loop closes with no handle left.
 * A second signal skips the rest of the drain. Only main holds every module; each module got what
 * it uses at open and talks back through typed callbacks (the resources observer, the dispatcher's
 * ingest hook). There is no global state.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd.h"
#include "hd_admin.h"
#include "hd_config.h"
#include "hd_dispatch.h"
#include "hd_http.h"
#include "hd_httpc.h"
#include "hd_ingress.h"
#include "hd_metrics.h"
#include "hd_resources.h"
#include "hd_lmdb.h"

#ifndef HERALD_VERSION /* set by CMake */
#define HERALD_VERSION "unknown"
#define HERALD_COMMIT "unknown"
#endif

/* Every module of the daemon: main owns them and wires them; no module sees this. */
typedef struct {
    uv_loop_t *loop;
    hd_config_t *cfg;
    hd_evlog_t *log;   /* the event logs and consumer progress (hd_evlog.h) */
    hd_state_t *state; /* stored resources and counters (hd_state.h) */
    hd_resources_t *res;
    hd_dispatch_t *disp;
    hd_metrics_t *metrics;
    hd_httpc_t *httpc;
    hd_http_server_t *ingress;
    hd_http_server_t *admin;
    bool ready; /* /readyz: store open, manifests applied, listeners bound */
} server_t;

typedef struct {
    server_t srv;
    hd_config_t cfg;
    uv_signal_t sigint, sigterm;
    uv_signal_t sighup, sigusr1, sigusr2, sigquit; /* ops_signal: reload, status, debug, stop */
    const char *config_path;                       /* re-read by SIGHUP for its manifests */
    char data_dir_abs[PATH_MAX];                   /* the store's directory, absolute */
    uint64_t started_ms;
    hd_metric_t *log_dropped, *log_suppressed;
    uv_timer_t drain_timer; /* polls the shutdown drain */
    uint64_t drain_deadline;
    size_t body_used; /* request body bytes buffered by ingress and admin (limits.body_budget) */
    hd_metrics_t *metrics;      /* freed last, after every module that may update it */
    hd_metrics_process_t *proc; /* process_* and herald_build_info series */
    hd_ingress_t *ingress;      /* the ingress handler's state; freed after the store drained */
    hd_lmdb_t *lmdb;            /* the log and state backend behind srv.log and srv.state */
    hd_admin_ctx_t admin;       /* what the admin port uses; cleared as the modules close */
    bool stopping;              /* draining */
    bool finished;              /* the modules are closing */
} daemon_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: heraldd -c FILE [--print-config] [--check] [--log-format json|text] [--help]\n"
            "\n"
            "  -c, --config FILE     settings (YAML); HERALD_* environment variables override it\n"
            "      --print-config    print the effective settings as YAML and exit\n"
            "      --check           walk the store in data_dir, report, exit 0 clean, 1 problems\n"
            "                        found, 2 could not open (modifies nothing)\n"
            "      --log-format F    json (default) or text\n"
            "  -h, --help            this help and every setting\n"
            "\n"
            "Signals:\n"
            "  TERM, INT, QUIT       stop cleanly\n"
            "  HUP                   re-read `manifests:`, apply them, prune what the previous\n"
            "                        load applied and no manifest names any more (never what\n"
            "                        was applied through the admin API; nothing when a file is\n"
            "                        bad), and reopen log.file\n"
            "  USR1                  log a status line\n"
            "  USR2                  toggle debug logging\n"
            "\n"
            "Settings:\n");
    hd_config_usage(out);
}

static void ops_signals_close(daemon_t *d);

/* The second half of the shutdown, once the drain is over: closes in the order that lets every
 * waiting request be answered. Runs on the loop thread. */
static void daemon_finish(daemon_t *d)
{
    if (d->finished)
        return;
    d->finished = true;
    server_t *srv = &d->srv;
    size_t left = hd_dispatch_in_flight(srv->disp);
    if (left > 0) {
        char n[24];
        snprintf(n, sizeof n, "%zu", left);
        hd_log(HD_LOG_WARN,
               "shutdown drain over: deliveries still in flight are resent after the "
               "restart",
               HD_LOG_NUM("in_flight"), n, NULL);
    }
    uv_close((uv_handle_t *)&d->drain_timer, NULL);
    /* 1. the connections left close; those waiting for a commit stay until answered */
    hd_http_server_stop(srv->ingress);
    hd_http_server_stop(srv->admin);
    srv->ingress = srv->admin = NULL;
    /* 2. cursors written; deliveries still in flight stop (resent after restart) */
    hd_resources_unobserve(srv->res, hd_dispatch_observer(), srv->disp);
    hd_dispatch_close(srv->disp);
    srv->disp = d->admin.disp = NULL;
    /* 3. the store drains its queue: the callbacks answer the requests still waiting */
    hd_lmdb_close(d->lmdb);
    d->lmdb = NULL;
    srv->log = d->admin.log = NULL;
    srv->state = NULL;
    hd_resources_close(srv->res);
    srv->res = d->admin.res = NULL;
    hd_httpc_close(srv->httpc);
    srv->httpc = NULL;
    /* Nothing renders or counts any more. Modules finishing their close in the last loop turns
     * see no metrics (the dispatcher then frees itself instead of staying for a render callback
     * of a registry that is about to go). */
    srv->metrics = d->admin.metrics = NULL;
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    ops_signals_close(d);
}

static void on_drain_tick(uv_timer_t *t)
{
    daemon_t *d = t->data;
    server_t *srv = &d->srv;
    if ((hd_dispatch_in_flight(srv->disp) == 0 && hd_http_server_connections(srv->ingress) == 0 &&
         hd_http_server_connections(srv->admin) == 0) ||
        uv_now(srv->loop) >= d->drain_deadline)
        daemon_finish(d);
}

/* SIGTERM/SIGINT: stop accepting and let what was taken finish for at most shutdown.drain: the
 * requests with a handler get their answers, the deliveries sent get their results recorded; no
 * new delivery starts and buffered requests get 503 + Retry-After. A second signal, or the end of
 * the drain time, goes on with daemon_finish. Runs on the loop thread. */
static void daemon_stop(daemon_t *d)
{
    if (d->stopping) {
        daemon_finish(d);
        return;
    }
    d->stopping = true;
    server_t *srv = &d->srv;
    char ms[24];
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)d->cfg.shutdown_drain_ms);
    hd_log(HD_LOG_INFO, "shutting down: draining requests and deliveries", HD_LOG_NUM("drain_ms"),
           ms, NULL);
    srv->ready = false;
    hd_http_server_drain(srv->ingress);
    hd_http_server_drain(srv->admin);
    hd_dispatch_drain(srv->disp);
    d->drain_deadline = uv_now(srv->loop) + d->cfg.shutdown_drain_ms;
    uv_timer_init(srv->loop, &d->drain_timer);
    d->drain_timer.data = d;
    uv_timer_start(&d->drain_timer, on_drain_tick, 0, 20);
}

/* The dispatcher's in-process path into a log: the ingress stores it (hd_dispatch_hooks_t). */
static hd_err_t ingest_hook(void *ctx, uint32_t log_id, ce_event_t *const *evs, size_t n,
                            void (*done)(void *arg, hd_err_t status), void *arg)
{
    return hd_ingest_log(ctx, log_id, evs, n, done, arg);
}

/* The host:port that brokers and channels advertise: the configured listen address with the
 * port the ingress really bound (the configured one may be 0). */
static void advertised_address(const char *listen, int port, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", listen ? listen : HD_RESOURCES_INGRESS_ADDRESS);
    char *colon = strrchr(buf, ':');
    if (colon)
        snprintf(colon, cap - (size_t)(colon - buf), ":%d", port);
}

static void on_signal(uv_signal_t *s, int signum)
{
    daemon_t *d = s->data;
    (void)signum;
    daemon_stop(d);
}

/* ---- the operator's signals: HUP reload, USR1 status, USR2 debug, QUIT stop ---------------- */

/* SIGHUP: the settings file is read again for its `manifests:` list (other settings need a
 * restart), every manifest is applied and what they no longer name is pruned
 * (hd_resources_reload_manifests); the log file, if any, is reopened (log rotation). */
static void reload(daemon_t *d)
{
    hd_log(HD_LOG_INFO, "SIGHUP: reloading the manifests and reopening the log", NULL);
    hd_log_reopen();
    if (d->config_path) {
        hd_config_t fresh;
        char err[512] = "";
        if (hd_config_load(&fresh, d->config_path, err, sizeof err) == HD_E_OK) {
            char **m = d->cfg.manifests;
            size_t n = d->cfg.manifest_count;
            d->cfg.manifests = fresh.manifests;
            d->cfg.manifest_count = fresh.manifest_count;
            fresh.manifests = m;
            fresh.manifest_count = n;
            hd_config_free(&fresh);
        } else {
            hd_log(HD_LOG_ERROR,
                   "SIGHUP: the settings file no longer loads; reloading the "
                   "manifests it named before",
                   "error", err, NULL);
        }
    }
    if (d->srv.res)
        hd_resources_reload_manifests(d->srv.res, (const char *const *)d->cfg.manifests,
                                      d->cfg.manifest_count);
}

static void count_broker(void *arg, hd_broker_t *b)
{
    (void)b;
    (*(size_t *)arg)++;
}

/* SIGUSR1: one line with the state of the daemon. */
static void status_line(daemon_t *d)
{
    size_t brokers = 0;
    int consumers = 0;
    if (d->srv.res) {
        hd_resources_each_broker(d->srv.res, count_broker, &brokers);
        cJSON *t = hd_resources_list_json(d->srv.res, "triggers", NULL);
        cJSON *s = hd_resources_list_json(d->srv.res, "subscriptions", NULL);
        consumers = cJSON_GetArraySize(t) + cJSON_GetArraySize(s);
        cJSON_Delete(t);
        cJSON_Delete(s);
    }
    char up[24], nb[24], nt[24], dr[24], su[24];
    snprintf(up, sizeof up, "%llu", (unsigned long long)((hd_now_ms() - d->started_ms) / 1000));
    snprintf(nb, sizeof nb, "%zu", brokers);
    snprintf(nt, sizeof nt, "%d", consumers);
    snprintf(dr, sizeof dr, "%llu", (unsigned long long)hd_log_dropped());
    snprintf(su, sizeof su, "%llu", (unsigned long long)hd_log_suppressed());
    hd_log(HD_LOG_INFO, "SIGUSR1: status", "ready", d->srv.ready ? "true" : "false",
           HD_LOG_NUM("uptime_s"), up, HD_LOG_NUM("brokers_and_channels"), nb,
           HD_LOG_NUM("triggers_and_subscriptions"), nt, HD_LOG_NUM("log_dropped_lines"), dr,
           HD_LOG_NUM("log_suppressed_lines"), su, "data_dir", d->data_dir_abs, NULL);
}

static void ops_signal(uv_signal_t *s, int signum)
{
    daemon_t *d = s->data;
    switch (signum) {
    case SIGHUP:
        reload(d);
        break;
    case SIGUSR1:
        status_line(d);
        break;
    case SIGUSR2:
        if (hd_log_level() == HD_LOG_DEBUG) {
            hd_log(HD_LOG_INFO, "SIGUSR2: debug logging off", NULL);
            hd_log_set_level(d->cfg.log_level == HD_LOG_DEBUG ? HD_LOG_INFO : d->cfg.log_level);
        } else {
            hd_log_set_level(HD_LOG_DEBUG);
            hd_log(HD_LOG_INFO, "SIGUSR2: debug logging on", NULL);
        }
        break;
    case SIGQUIT:
        hd_log(HD_LOG_INFO, "SIGQUIT: stopping as for SIGTERM", NULL);
        on_signal(s, SIGTERM);
        break;
    }
}

static void ops_signals_start(daemon_t *d, uv_loop_t *loop)
{
    uv_signal_t *h[] = {&d->sighup, &d->sigusr1, &d->sigusr2, &d->sigquit};
    int sig[] = {SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT};
    for (size_t i = 0; i < 4; i++) {
        uv_signal_init(loop, h[i]);
        h[i]->data = d;
        uv_signal_start(h[i], ops_signal, sig[i]);
    }
}

static void ops_signals_close(daemon_t *d)
{
    uv_close((uv_handle_t *)&d->sighup, NULL);
    uv_close((uv_handle_t *)&d->sigusr1, NULL);
    uv_close((uv_handle_t *)&d->sigusr2, NULL);
    uv_close((uv_handle_t *)&d->sigquit, NULL);
}

/* /metrics: what the log left out. */
static void log_metrics(void *arg)
{
    daemon_t *d = arg;
    hd_metric_set(d->log_dropped, (int64_t)hd_log_dropped());
    hd_metric_set(d->log_suppressed, (int64_t)hd_log_suppressed());
}

static void walk_report(uv_handle_t *h, void *arg)
{
    (void)arg;
    hd_log(HD_LOG_WARN, "handle still open at exit", "type", uv_handle_type_name(h->type), NULL);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"print-config", no_argument, NULL, 'p'},
        {"check", no_argument, NULL, 'k'},        {"log-format", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *log_format = NULL;
    bool print_config = false, check = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'p':
            print_config = true;
            break;
        case 'k':
            check = true;
            break;
        case 'f':
            log_format = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "heraldd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (log_format && strcmp(log_format, "json") != 0 && strcmp(log_format, "text") != 0) {
        fprintf(stderr, "heraldd: --log-format must be json or text, not '%s'\n", log_format);
        return 2;
    }

    static daemon_t d; /* owned by main for the whole run; static only to keep it off the stack */
    server_t *srv = &d.srv;
    char err[512] = "";
    if (hd_config_load(&d.cfg, config_path, err, sizeof err) != HD_E_OK) {
        fprintf(stderr, "heraldd: %s\n", err[0] ? err : "bad configuration");
        return 2;
    }
    if (print_config) {
        hd_config_print(&d.cfg, stdout);
        hd_config_free(&d.cfg);
        return 0;
    }
    hd_log_set_format(log_format ? (strcmp(log_format, "text") == 0 ? HD_LOG_TEXT : HD_LOG_JSON)
                                 : d.cfg.log_format);
    hd_log_set_level(d.cfg.log_level);
    if (check) {
        /* walks the store and modifies nothing: 0 clean, 1 problems, 2 could not open */
        int crc = hd_lmdb_check(d.cfg.data_dir, stdout);
        hd_config_free(&d.cfg);
        return crc;
    }
    d.config_path = config_path;
    d.started_ms = hd_now_ms();
    /* from here on no thread waits for the log's reader (log_sink.c) */
    if (hd_log_start(d.cfg.log_file) != HD_E_OK) {
        fprintf(stderr, "heraldd: log.file: cannot open %s: %s\n", d.cfg.log_file, strerror(errno));
        hd_config_free(&d.cfg);
        return 2;
    }

    int rc = 1;
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) {
        hd_log(HD_LOG_ERROR, "cannot create the event loop", NULL);
        hd_log_stop(2000);
        hd_config_free(&d.cfg);
        return 1;
    }
    srv->loop = &loop;
    srv->cfg = &d.cfg;

    srv->metrics = d.metrics = hd_metrics_new();
    if (!srv->metrics) {
        hd_log(HD_LOG_ERROR, "out of memory", NULL);
        goto fail_metrics;
    }
    if (hd_metrics_process_open(srv->metrics, HERALD_VERSION, HERALD_COMMIT, &d.proc) != HD_E_OK)
        hd_log(HD_LOG_WARN, "process metrics not published on /metrics (out of memory)", NULL);
    d.log_dropped =
        hd_metrics_counter(srv->metrics, "herald_log_dropped_lines_total",
                           "Log lines dropped because the log's reader was too slow.", NULL);
    d.log_suppressed =
        hd_metrics_counter(srv->metrics, "herald_log_suppressed_lines_total",
                           "Repeated log lines left out and counted in a summary line.", NULL);
    hd_metrics_on_render(srv->metrics, log_metrics, &d);
    hd_lmdb_opts_t so = {
        .data_dir = d.cfg.data_dir,
        .durability = d.cfg.durability,
        .sync_interval_ms = d.cfg.sync_interval_ms,
        .map_size_initial = 0,
        .map_size_max = d.cfg.map_size_max,
        .queue_max = (size_t)d.cfg.store_queue_max,
        .reserve_bytes = d.cfg.store_reserve_bytes,
    };
    hd_err_t e = hd_lmdb_open(&loop, &so, &d.lmdb);
    if (e != HD_E_OK) {
        /* the store logged why; only what it cannot say is added here */
        if (e == HD_E_NOMEM)
            hd_log(HD_LOG_ERROR, "cannot open the store: out of memory", "data_dir", d.cfg.data_dir,
                   NULL);
        goto fail_store;
    }
    if (!realpath(d.cfg.data_dir, d.data_dir_abs))
        snprintf(d.data_dir_abs, sizeof d.data_dir_abs, "%s", d.cfg.data_dir);
    hd_log(HD_LOG_INFO, "store opened", "data_dir", d.data_dir_abs, NULL);
    srv->log = hd_lmdb_evlog(d.lmdb);
    srv->state = hd_lmdb_state(d.lmdb);
    if (hd_lmdb_metrics_attach(d.lmdb, srv->metrics) != HD_E_OK)
        hd_log(HD_LOG_WARN, "store statistics not published on /metrics (out of memory)", NULL);
    hd_httpc_opts_t co = {.max_conns_per_host = (size_t)d.cfg.delivery_pool_max};
    e = hd_httpc_new(&loop, &co, &srv->httpc);
    if (e != HD_E_OK) {
        hd_log(HD_LOG_ERROR, "cannot create the HTTP client", "error", hd_err_message(e), NULL);
        goto fail_httpc;
    }
    hd_resources_opts_t ro = {
        .ingress_address = d.cfg.ingress_listen, /* its port is set once the ingress is bound */
        .retention_ms = d.cfg.retention_ms,
        .manifests = (const char *const *)d.cfg.manifests,
        .manifest_count = d.cfg.manifest_count,
        .services = (const char *const *)d.cfg.services,
        .service_count = d.cfg.service_count,
    };
    e = hd_resources_open(&ro, srv->state, &srv->res);
    if (e != HD_E_OK) {
        hd_log(HD_LOG_ERROR, "cannot load the resources", "error", hd_err_message(e), NULL);
        goto fail_resources;
    }
    hd_ingress_limits_t lim = {.max_event_bytes = d.cfg.max_event_bytes,
                               .max_batch_events = d.cfg.max_batch_events};
    if (hd_ingress_new(srv->res, srv->log, srv->metrics, &srv->ready, &lim, &d.ingress) !=
        HD_E_OK) {
        hd_log(HD_LOG_ERROR, "out of memory", NULL);
        goto fail_ingress_new;
    }
    hd_dispatch_hooks_t hooks = {.ingest = ingest_hook, .ctx = d.ingress};
    hd_dispatch_opts_t dopts = {.retention_ms = d.cfg.retention_ms,
                                .retention_interval_ms = d.cfg.retention_interval_ms,
                                .retention_min_age_ms = d.cfg.retention_min_age_ms};
    e = hd_dispatch_open(&loop, srv->log, srv->httpc, srv->metrics, &dopts, &hooks, &srv->disp);
    if (e != HD_E_OK) {
        hd_log(HD_LOG_ERROR, "cannot start the dispatcher", "error", hd_err_message(e), NULL);
        goto fail_dispatch;
    }
    /* the dispatcher learns every broker, channel, trigger and subscription (replayed now) */
    if (hd_resources_observe(srv->res, hd_dispatch_observer(), srv->disp) != HD_E_OK)
        goto fail_ingress;
    /* descriptors: every connection of both listeners, the reserve the HTTP server keeps, and
     * the store, deliveries and logs */
    hd_http_raise_fd_limit(d.cfg.max_connections + 256 + 64 + d.cfg.delivery_pool_max + 256);
    hd_http_server_opts_t io = {
        .listen = d.cfg.ingress_listen,
        .max_body = (size_t)d.cfg.max_event_bytes,
        .max_conns = (size_t)d.cfg.max_connections,
        .handler = hd_ingress_handle,
        .ctx = d.ingress,
        .output_high_water = (size_t)d.cfg.output_high_water,
        .output_low_water = (size_t)d.cfg.output_low_water,
        .requests_per_turn = (size_t)d.cfg.requests_per_turn,
        .body_budget = (size_t)d.cfg.body_budget,
        .body_budget_used = &d.body_used,
        .metrics = srv->metrics,
        .name = "ingress",
    };
    if (hd_http_server_start(&loop, &io, &srv->ingress) != HD_E_OK)
        goto fail_ingress;
    char advertised[300];
    advertised_address(d.cfg.ingress_listen, hd_http_server_port(srv->ingress), advertised,
                       sizeof advertised);
    if (hd_resources_set_ingress_address(srv->res, advertised) != HD_E_OK)
        goto fail_admin;
    d.admin = (hd_admin_ctx_t){
        .loop = &loop,
        .res = srv->res,
        .disp = srv->disp,
        .log = srv->log,
        .ingress = d.ingress,
        .metrics = srv->metrics,
        .ready = &srv->ready,
    };
    /* the admin port shares the ingress's output marks, per-turn bound and body budget */
    hd_http_server_opts_t ao = io;
    ao.listen = d.cfg.admin_listen;
    /* it takes manifests and `herald send` batches: same bound as events, but never below 1 MiB */
    ao.max_body = d.cfg.max_event_bytes > (1u << 20) ? (size_t)d.cfg.max_event_bytes : 1u << 20;
    ao.max_conns = 256;
    ao.handler = hd_admin_handle;
    ao.ctx = &d.admin;
    ao.name = "admin";
    if (hd_http_server_start(&loop, &ao, &srv->admin) != HD_E_OK)
        goto fail_admin;

    uv_signal_init(&loop, &d.sigint);
    uv_signal_init(&loop, &d.sigterm);
    d.sigint.data = d.sigterm.data = &d;
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    ops_signals_start(&d, &loop);
    signal(SIGPIPE, SIG_IGN);

    srv->ready = true;
    {
        char ingress_port[16], admin_port[16];
        snprintf(ingress_port, sizeof ingress_port, "%d", hd_http_server_port(srv->ingress));
        snprintf(admin_port, sizeof admin_port, "%d", hd_http_server_port(srv->admin));
        hd_log(HD_LOG_INFO, "heraldd ready", "ingress", d.cfg.ingress_listen,
               HD_LOG_NUM("ingress_port"), ingress_port, "admin", d.cfg.admin_listen,
               HD_LOG_NUM("admin_port"), admin_port, "data_dir", d.data_dir_abs, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    /* daemon_stop ran; let the close callbacks finish */
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = 0;
    goto done;

fail_admin:
    hd_http_server_stop(srv->ingress);
fail_ingress:
    hd_resources_unobserve(srv->res, hd_dispatch_observer(), srv->disp);
    hd_dispatch_close(srv->disp);
fail_dispatch:
fail_ingress_new:
    hd_resources_close(srv->res);
fail_resources:
    hd_httpc_close(srv->httpc);
fail_httpc:
    hd_lmdb_close(d.lmdb);
fail_store:
    srv->metrics = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
done:
    hd_ingress_free(d.ingress);
    hd_metrics_process_close(d.proc);
    hd_metrics_free(d.metrics);
fail_metrics:
    if (uv_loop_close(&loop) != 0) {
        uv_walk(&loop, walk_report, NULL);
        hd_log(HD_LOG_ERROR, "event loop not empty at exit", NULL);
        if (rc == 0)
            rc = 1;
    } else if (rc == 0) {
        hd_log(HD_LOG_INFO, "stopped cleanly", NULL);
    }
    hd_log_stop(2000); /* a reader that does not read gets 2 s, then the rest is lost */
    hd_config_free(&d.cfg);
    return rc;
}
