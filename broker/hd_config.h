/*
 * hd_config.h — heraldd's settings. One declarative table (name, type, default, bounds,
 * description) drives the YAML file, the HERALD_* environment overrides (ingress.listen ->
 * HERALD_INGRESS_LISTEN), `heraldd --help` and `heraldd --print-config`. An unknown key or a bad
 * value stops startup with a message naming the key.
 */
#ifndef HERALD_HD_CONFIG_H
#define HERALD_HD_CONFIG_H

#include <stdio.h>

#include "hd.h"
#include "hd_evlog.h" /* hd_durability_t */

/* Defaults of retention.max_age and retention.interval, for the settings table and for modules
 * running without a config (tests). The table's text defaults are made from these numbers. */
#define HD_CONFIG_RETENTION_DAYS 7
#define HD_CONFIG_RETENTION_MS (HD_CONFIG_RETENTION_DAYS * 86400000ull)
#define HD_CONFIG_RETENTION_INTERVAL_S 10
#define HD_CONFIG_RETENTION_INTERVAL_MS (HD_CONFIG_RETENTION_INTERVAL_S * 1000ull)
/* Default of retention.min_age: delivered events stay replayable this long. */
#define HD_CONFIG_RETENTION_MIN_AGE "10m"

/* The longest name in `services:`: a Kubernetes namespace (63) + "/" + a Service name (253). */
#define HD_CONFIG_SERVICE_NAME_MAX 317

struct hd_config {
    char *ingress_listen;           /* ingress.listen, default 127.0.0.1:8080 */
    char *admin_listen;             /* admin.listen, default 127.0.0.1:8081 */
    char *data_dir;                 /* data_dir, default ./data */
    hd_durability_t durability;     /* durability: fsync | batch | none */
    uint64_t sync_interval_ms;      /* store.sync_interval_ms (batch mode), default 10 */
    uint64_t map_size_max;          /* store.map_size_max bytes, default 8 GiB */
    uint64_t store_queue_max;       /* store.queue_max batches, default 65536 */
    uint64_t store_reserve_bytes;   /* store.reserve_bytes, default 0: automatic */
    uint64_t max_event_bytes;       /* limits.max_event_bytes, default 1 MiB */
    uint64_t max_batch_events;      /* limits.max_batch_events, default 1000 */
    uint64_t max_connections;       /* limits.max_connections, default 10000 */
    uint64_t output_high_water;     /* limits.output_high_water bytes, default 512 KiB */
    uint64_t output_low_water;      /* limits.output_low_water bytes, default 128 KiB */
    uint64_t requests_per_turn;     /* limits.requests_per_turn, default 16 */
    uint64_t body_budget;           /* limits.body_budget bytes, default 256 MiB */
    uint64_t shutdown_drain_ms;     /* shutdown.drain, default 10 s */
    uint64_t retention_ms;          /* retention.max_age (duration), default 7 days */
    uint64_t retention_interval_ms; /* retention.interval, default 10 s */
    uint64_t retention_min_age_ms;  /* retention.min_age (duration), default 10 min */
    uint64_t delivery_pool_max;     /* delivery.max_connections_per_host, default 64 */
    char **manifests;               /* manifests: list of files or folders */
    size_t manifest_count;
    char **services; /* services: "name=URL" or "ns/name=URL" items (v1 Service addresses), each
                      * name at most HD_CONFIG_SERVICE_NAME_MAX characters */
    size_t service_count;
    hd_log_format_t log_format; /* log.format: json | text */
    hd_log_level_t log_level;   /* log.level: debug | info | warn | error */
    char *log_file;             /* log.file: NULL = stderr */
};

/* Fills `cfg` with defaults, then the YAML file at `path` (NULL: none), then the environment.
 * Errors: HD_E_CONFIG with `err` naming the key and the problem, also for a path that is a
 * directory, a file with no setting at all (blank or comments only: refused rather than run on
 * the defaults), and ingress.listen and admin.listen on one port. */
hd_err_t hd_config_load(hd_config_t *cfg, const char *path, char *err, size_t err_cap);
/* Same as hd_config_load with the file's content in memory (`len` bytes, need not be
 * NUL-terminated; empty: the defaults); `name` stands for the file name in messages. Borrowed
 * arguments. */
hd_err_t hd_config_load_buffer(hd_config_t *cfg, const char *name, const char *yaml, size_t len,
                               char *err, size_t err_cap);
/* Frees what the config owns (not the struct). */
void hd_config_free(hd_config_t *cfg);
/* Prints the effective configuration as YAML. */
void hd_config_print(const hd_config_t *cfg, FILE *out);
/* Prints every setting with its environment name, default and description. */
void hd_config_usage(FILE *out);

#endif /* HERALD_HD_CONFIG_H */
