/*
 * test_config.c — heraldd's settings: defaults, YAML (nested and dotted keys), environment
 * overrides, every kind of bad value naming its key, sizes, print/usage (durations: test_time.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hd_config.h"

static char path[256];

/* Writes `yaml` to a temp file whose name is left in `path`. */
static const char *yaml_file(const char *yaml)
{
    snprintf(path, sizeof(path), "/tmp/herald-config-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t len = strlen(yaml);
    ck_assert_int_eq(write(fd, yaml, len), (ssize_t)len);
    close(fd);
    return path;
}

/* Loads yaml (NULL: no file); returns the error and leaves the message in err. */
static hd_err_t load(hd_config_t *cfg, const char *yaml, char *err, size_t cap)
{
    const char *p = yaml ? yaml_file(yaml) : NULL;
    hd_err_t e = hd_config_load(cfg, p, err, cap);
    if (p)
        unlink(p);
    return e;
}

/* Expects a failure whose message contains every given fragment. */
static void expect_error(const char *yaml, const char *frag1, const char *frag2)
{
    hd_config_t cfg;
    char err[512];
    ck_assert_int_eq(load(&cfg, yaml, err, sizeof(err)), HD_E_CONFIG);
    ck_assert_msg(strstr(err, frag1), "'%s' not in '%s'", frag1, err);
    if (frag2)
        ck_assert_msg(strstr(err, frag2), "'%s' not in '%s'", frag2, err);
}

START_TEST(test_defaults)
{
    hd_config_t cfg;
    char err[256];
    ck_assert_int_eq(load(&cfg, NULL, err, sizeof(err)), HD_E_OK);
    ck_assert_str_eq(cfg.ingress_listen, "127.0.0.1:8080");
    ck_assert_str_eq(cfg.admin_listen, "127.0.0.1:8081");
    ck_assert_str_eq(cfg.data_dir, "./data");
    ck_assert_int_eq(cfg.durability, HD_DURABILITY_FSYNC);
    ck_assert_uint_eq(cfg.sync_interval_ms, 10);
    ck_assert_uint_eq(cfg.map_size_max, 8ull << 30);
    ck_assert_uint_eq(cfg.store_queue_max, 65536);
    ck_assert_uint_eq(cfg.max_event_bytes, 1 << 20);
    ck_assert_uint_eq(cfg.max_batch_events, 1000);
    ck_assert_uint_eq(cfg.max_connections, 10000);
    ck_assert_uint_eq(cfg.retention_ms, 7ull * 86400 * 1000);
    ck_assert_uint_eq(cfg.retention_interval_ms, 10000);
    /* the table's text defaults and the constants other modules fall back to agree */
    ck_assert_uint_eq(cfg.retention_ms, HD_CONFIG_RETENTION_MS);
    ck_assert_uint_eq(cfg.retention_interval_ms, HD_CONFIG_RETENTION_INTERVAL_MS);
    ck_assert_uint_eq(cfg.retention_min_age_ms, 10 * 60 * 1000); /* delivered events replayable */
    ck_assert_uint_eq(cfg.delivery_pool_max, 64);
    ck_assert_uint_eq(cfg.manifest_count, 0);
    ck_assert_int_eq(cfg.log_format, HD_LOG_JSON);
    ck_assert_int_eq(cfg.log_level, HD_LOG_INFO);
    hd_config_free(&cfg);
}
END_TEST

START_TEST(test_yaml_nested_and_dotted)
{
    hd_config_t cfg;
    char err[256];
    const char *yaml = "ingress:\n"
                       "  listen: 0.0.0.0:9090\n"
                       "admin.listen: \"[::1]:0\"\n"
                       "data_dir: /var/lib/herald\n"
                       "durability: batch\n"
                       "store:\n"
                       "  sync_interval_ms: 25\n"
                       "  map_size_max: 64MiB\n"
                       "  queue_max: 8\n"
                       "limits:\n"
                       "  max_event_bytes: 64KiB\n"
                       "  max_batch_events: 10\n"
                       "limits.max_connections: 5\n"
                       "retention:\n"
                       "  max_age: P1D\n"
                       "  interval: 1500ms\n"
                       "  min_age: 0s\n"
                       "delivery: {max_connections_per_host: 3}\n"
                       "manifests:\n"
                       "  - conf/examples\n"
                       "  - /etc/herald/extra.yaml\n"
                       "log:\n"
                       "  format: text\n"
                       "  level: debug\n";
    ck_assert_int_eq(load(&cfg, yaml, err, sizeof(err)), HD_E_OK);
    ck_assert_str_eq(cfg.ingress_listen, "0.0.0.0:9090");
    ck_assert_str_eq(cfg.admin_listen, "[::1]:0");
    ck_assert_str_eq(cfg.data_dir, "/var/lib/herald");
    ck_assert_int_eq(cfg.durability, HD_DURABILITY_BATCH);
    ck_assert_uint_eq(cfg.sync_interval_ms, 25);
    ck_assert_uint_eq(cfg.map_size_max, 64ull << 20);
    ck_assert_uint_eq(cfg.store_queue_max, 8);
    ck_assert_uint_eq(cfg.max_event_bytes, 64 << 10);
    ck_assert_uint_eq(cfg.max_batch_events, 10);
    ck_assert_uint_eq(cfg.max_connections, 5);
    ck_assert_uint_eq(cfg.retention_ms, 86400000);
    ck_assert_uint_eq(cfg.retention_interval_ms, 1500);
    ck_assert_uint_eq(cfg.retention_min_age_ms, 0); /* 0s: no minimum age */
    ck_assert_uint_eq(cfg.delivery_pool_max, 3);
    ck_assert_uint_eq(cfg.manifest_count, 2);
    ck_assert_str_eq(cfg.manifests[0], "conf/examples");
    ck_assert_str_eq(cfg.manifests[1], "/etc/herald/extra.yaml");
    ck_assert_int_eq(cfg.log_format, HD_LOG_TEXT);
    ck_assert_int_eq(cfg.log_level, HD_LOG_DEBUG);
    hd_config_free(&cfg);
}
END_TEST

START_TEST(test_shipped_conf_loads)
{
    hd_config_t cfg;
    char err[256];
    /* The repo's own conf/herald.yaml must load; found from this file's (absolute) path. */
    char p[512];
    snprintf(p, sizeof(p), "%s", __FILE__);
    char *cut = strstr(p, "tests/unit/broker/test_config.c");
    ck_assert_ptr_nonnull(cut);
    snprintf(cut, sizeof(p) - (size_t)(cut - p), "conf/herald.yaml");
    ck_assert_int_eq(hd_config_load(&cfg, p, err, sizeof(err)), HD_E_OK);
    ck_assert_str_eq(cfg.ingress_listen, "127.0.0.1:8080");
    ck_assert_uint_ge(cfg.manifest_count, 1);
    hd_config_free(&cfg);
}
END_TEST

START_TEST(test_env_overrides)
{
    setenv("HERALD_INGRESS_LISTEN", "127.0.0.1:1234", 1);
    setenv("HERALD_LIMITS_MAX_EVENT_BYTES", "2MiB", 1);
    setenv("HERALD_RETENTION_MAX_AGE", "36h", 1);
    setenv("HERALD_MANIFESTS", " a.yaml, dir/ ,,b.json ", 1);
    setenv("HERALD_DURABILITY", "none", 1);
    hd_config_t cfg;
    char err[256];
    /* the environment wins over the file */
    ck_assert_int_eq(
        load(&cfg, "ingress:\n  listen: 127.0.0.1:9\nmanifests: [x]\n", err, sizeof(err)), HD_E_OK);
    ck_assert_str_eq(cfg.ingress_listen, "127.0.0.1:1234");
    ck_assert_uint_eq(cfg.max_event_bytes, 2 << 20);
    ck_assert_uint_eq(cfg.retention_ms, 36ull * 3600 * 1000);
    ck_assert_int_eq(cfg.durability, HD_DURABILITY_NONE);
    ck_assert_uint_eq(cfg.manifest_count, 3);
    ck_assert_str_eq(cfg.manifests[0], "a.yaml");
    ck_assert_str_eq(cfg.manifests[1], "dir/");
    ck_assert_str_eq(cfg.manifests[2], "b.json");
    hd_config_free(&cfg);

    setenv("HERALD_STORE_QUEUE_MAX", "lots", 1);
    ck_assert_int_eq(load(&cfg, NULL, err, sizeof(err)), HD_E_CONFIG);
    ck_assert_ptr_nonnull(strstr(err, "HERALD_STORE_QUEUE_MAX"));
    ck_assert_ptr_nonnull(strstr(err, "store.queue_max"));
}
END_TEST

START_TEST(test_bad_values_name_the_key)
{
    expect_error("ingress:\n  lisen: 127.0.0.1:1\n", "unknown setting 'ingress.lisen'", ":2");
    expect_error("nope: 1\n", "unknown setting 'nope'", NULL);
    expect_error("ingress: 8080\n", "ingress: expected a mapping", "ingress.listen");
    expect_error("retention:\n  max_age: 10 parsecs\n", "retention.max_age", "not a duration");
    expect_error("retention.max_age: P1M\n", "retention.max_age", "not a duration");
    expect_error("retention.interval: 10\n", "retention.interval", "not a duration");
    expect_error("retention.interval: 1ms\n", "retention.interval", "out of bounds");
    expect_error("limits:\n  max_event_bytes: 1TiB\n", "limits.max_event_bytes", "out of bounds");
    expect_error("limits.max_event_bytes: 12 bananas\n", "limits.max_event_bytes", "not a size");
    expect_error("limits.max_event_bytes: 99999999999999999999999\n", "limits.max_event_bytes",
                 "not a size");
    expect_error("limits.max_batch_events: 0\n", "limits.max_batch_events", "out of bounds");
    expect_error("limits.max_batch_events: -5\n", "limits.max_batch_events", "whole number");
    expect_error("ingress.listen: localhost\n", "ingress.listen", "host:port");
    expect_error("ingress.listen: 127.0.0.1:70000\n", "ingress.listen", "port");
    expect_error("ingress.listen: 300.1.1.1:80\n", "ingress.listen", "IPv4");
    expect_error("admin.listen: \"::1:80\"\n", "admin.listen", "brackets");
    expect_error("admin.listen: \"[zz::1]:80\"\n", "admin.listen", "IPv6");
    expect_error("durability: sometimes\n", "durability", "fsync | batch | none");
    expect_error("log:\n  level: loud\n", "log.level", "debug | info | warn | error");
    expect_error("data_dir: \"\"\n", "data_dir", "empty");
    expect_error("manifests: {a: b}\n", "manifests", "list");
    expect_error("ingress:\n  listen: [1, 2]\n", "ingress.listen", "single value");
    expect_error("durability: fsync\ndurability: none\n", "durability", "twice");
    expect_error("- just\n- a list\n", "mapping", NULL);
    expect_error("ingress: {listen: \"127.0.0.1:1\"\n", "YAML error", NULL);
    hd_config_t cfg;
    char err[256];
    ck_assert_int_eq(hd_config_load(&cfg, "/nonexistent/herald.yaml", err, sizeof(err)),
                     HD_E_CONFIG);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/herald.yaml"));
}
END_TEST

START_TEST(test_empty_file_and_empty_list)
{
    hd_config_t cfg;
    char err[256];
    /* a settings file with no setting is refused, not run on the defaults (./data of the
     * working directory) */
    expect_error("", "settings file is empty", "data_dir");
    expect_error("# only a comment\n", "settings file is empty", NULL);
    expect_error("{}\n", "settings file is empty", NULL);
    ck_assert_int_eq(load(&cfg, "# only a comment\nmanifests:\n", err, sizeof(err)), HD_E_OK);
    ck_assert_uint_eq(cfg.manifest_count, 0);
    hd_config_free(&cfg);
    ck_assert_int_eq(load(&cfg, "manifests: one.yaml\n", err, sizeof(err)), HD_E_OK);
    ck_assert_uint_eq(cfg.manifest_count, 1);
    ck_assert_str_eq(cfg.manifests[0], "one.yaml");
    hd_config_free(&cfg);
}
END_TEST

START_TEST(test_config_is_a_directory)
{
    hd_config_t cfg;
    char err[256];
    char dir[] = "/tmp/herald-config-dir-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(hd_config_load(&cfg, dir, err, sizeof(err)), HD_E_CONFIG);
    rmdir(dir);
    ck_assert_msg(strstr(err, "is a directory") && strstr(err, dir), "%s", err);
    ck_assert_ptr_null(strstr(err, "YAML"));
}
END_TEST

START_TEST(test_ingress_and_admin_ports_differ)
{
    expect_error("ingress.listen: 127.0.0.1:9000\nadmin.listen: 127.0.0.1:9000\n", "same port 9000",
                 "admin.listen");
    expect_error("ingress.listen: 0.0.0.0:9000\nadmin.listen: 127.0.0.1:9000\n", "same port", NULL);
    expect_error("ingress.listen: \"[::1]:9000\"\nadmin.listen: \"[::]:9000\"\n", "same port",
                 NULL);
    hd_config_t cfg;
    char err[256];
    /* port 0 picks two free ports; two specific hosts may share a port number */
    ck_assert_int_eq(
        load(&cfg, "ingress.listen: 127.0.0.1:0\nadmin.listen: 127.0.0.1:0\n", err, sizeof err),
        HD_E_OK);
    hd_config_free(&cfg);
    ck_assert_int_eq(load(&cfg, "ingress.listen: 127.0.0.1:9000\nadmin.listen: 127.0.0.2:9000\n",
                          err, sizeof err),
                     HD_E_OK);
    hd_config_free(&cfg);
}
END_TEST

START_TEST(test_sizes)
{
    hd_config_t cfg;
    char err[256];
    struct {
        const char *s;
        uint64_t v;
    } ok[] = {{"1048576", 1048576}, {"64KiB", 65536}, {"1MiB", 1048576}, {"2 MiB", 2097152},
              {"1MB", 1000000},     {"4K", 4096},     {"1024B", 1024}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char yaml[128];
        snprintf(yaml, sizeof(yaml), "limits.max_event_bytes: %s\n", ok[i].s);
        ck_assert_msg(load(&cfg, yaml, err, sizeof(err)) == HD_E_OK, "%s: %s", ok[i].s, err);
        ck_assert_uint_eq(cfg.max_event_bytes, ok[i].v);
        hd_config_free(&cfg);
    }
}
END_TEST

/* --print-config output is valid YAML that loads back to the same settings. */
START_TEST(test_print_round_trip)
{
    hd_config_t cfg, again;
    char err[256];
    const char *yaml = "ingress.listen: 127.0.0.1:0\ndata_dir: \"/tmp/with \\\"quote\"\n"
                       "retention.max_age: 90m\nretention.interval: 1500ms\n"
                       "store.map_size_max: 3GiB\nlimits.max_event_bytes: 100000\n"
                       "manifests: [a, \"b c\"]\nlog.level: warn\ndurability: none\n";
    ck_assert_int_eq(load(&cfg, yaml, err, sizeof(err)), HD_E_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    hd_config_print(&cfg, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "ingress:\n  listen: \"127.0.0.1:0\"\n"));
    ck_assert_ptr_nonnull(strstr(text, "retention:\n  max_age: 90m\n  interval: 1500ms\n"));
    ck_assert_ptr_nonnull(strstr(text, "  map_size_max: 3GiB\n"));
    ck_assert_ptr_nonnull(strstr(text, "  max_event_bytes: 100000\n"));
    ck_assert_ptr_nonnull(strstr(text, "manifests:\n  - \"a\"\n  - \"b c\"\n"));
    ck_assert_int_eq(load(&again, text, err, sizeof(err)), HD_E_OK);
    ck_assert_str_eq(again.data_dir, "/tmp/with \"quote");
    ck_assert_str_eq(again.ingress_listen, cfg.ingress_listen);
    ck_assert_uint_eq(again.retention_ms, 90 * 60 * 1000);
    ck_assert_uint_eq(again.retention_interval_ms, 1500);
    ck_assert_uint_eq(again.map_size_max, 3ull << 30);
    ck_assert_uint_eq(again.max_event_bytes, 100000);
    ck_assert_uint_eq(again.manifest_count, 2);
    ck_assert_str_eq(again.manifests[1], "b c");
    ck_assert_int_eq(again.log_level, HD_LOG_WARN);
    ck_assert_int_eq(again.durability, HD_DURABILITY_NONE);
    hd_config_free(&again);
    hd_config_free(&cfg);
    free(text);
}
END_TEST

START_TEST(test_usage_lists_every_setting)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    hd_config_usage(f);
    fclose(f);
    const char *expect[] = {"ingress.listen",
                            "HERALD_INGRESS_LISTEN",
                            "admin.listen",
                            "HERALD_ADMIN_LISTEN",
                            "data_dir",
                            "HERALD_DATA_DIR",
                            "HERALD_STORE_MAP_SIZE_MAX",
                            "HERALD_LIMITS_MAX_EVENT_BYTES",
                            "HERALD_RETENTION_MAX_AGE",
                            "HERALD_MANIFESTS",
                            "HERALD_DELIVERY_MAX_CONNECTIONS_PER_HOST",
                            "HERALD_LOG_LEVEL",
                            "default: 8GiB",
                            "one of: fsync batch none",
                            NULL};
    for (size_t i = 0; expect[i]; i++)
        ck_assert_msg(strstr(text, expect[i]), "usage lacks '%s'", expect[i]);
    free(text);
}
END_TEST

START_TEST(test_nomem_is_an_error)
{
    /* Every allocation failing in turn gives HD_E_NOMEM, never a crash or a leak (ASan). */
    for (long n = 1; n < 40; n++) {
        hd_config_t cfg;
        char err[256];
        const char *p = yaml_file("ingress.listen: 127.0.0.1:1\nmanifests: [a, b, c]\n");
        hd_alloc_fail_after(n);
        hd_err_t e = hd_config_load(&cfg, p, err, sizeof(err));
        hd_alloc_fail_after(0);
        unlink(p);
        if (e == HD_E_OK) {
            ck_assert_uint_eq(cfg.manifest_count, 3);
            hd_config_free(&cfg);
        } else {
            ck_assert_int_eq(e, HD_E_NOMEM);
        }
    }
}
END_TEST

/* Found by fuzz_hd_config: long values must print whole. */
START_TEST(test_services_map)
{
    hd_config_t cfg;
    char err[256];
    const char *yaml = "services:\n"
                       "  event-display: \"http://127.0.0.1:8090/\"\n"
                       "  shop/orders: http://orders.example.com:8080/in\n";
    ck_assert_int_eq(hd_config_load_buffer(&cfg, "y", yaml, strlen(yaml), err, sizeof(err)),
                     HD_E_OK);
    ck_assert_uint_eq(cfg.service_count, 2);
    ck_assert_str_eq(cfg.services[0], "event-display=http://127.0.0.1:8090/");
    ck_assert_str_eq(cfg.services[1], "shop/orders=http://orders.example.com:8080/in");
    /* --print-config writes a map that loads back the same */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    hd_config_print(&cfg, f);
    fclose(f);
    ck_assert_msg(strstr(text, "services:\n  \"event-display\": \"http://127.0.0.1:8090/\"\n"),
                  "%s", text);
    hd_config_t again;
    ck_assert_int_eq(hd_config_load_buffer(&again, "p", text, len, err, sizeof(err)), HD_E_OK);
    ck_assert_uint_eq(again.service_count, 2);
    ck_assert_str_eq(again.services[1], "shop/orders=http://orders.example.com:8080/in");
    hd_config_free(&again);
    free(text);
    hd_config_free(&cfg);
    /* the environment: comma-separated name=URL */
    setenv("HERALD_SERVICES", "a=http://h:1/,ns/b=http://h:2/", 1);
    ck_assert_int_eq(hd_config_load_buffer(&cfg, "y", "", 0, err, sizeof(err)), HD_E_OK);
    unsetenv("HERALD_SERVICES");
    ck_assert_uint_eq(cfg.service_count, 2);
    ck_assert_str_eq(cfg.services[1], "ns/b=http://h:2/");
    hd_config_free(&cfg);
    /* a list or a value that is not a string is refused, naming the key */
    const char *bad = "services:\n  - http://h:1/\n";
    ck_assert_int_eq(hd_config_load_buffer(&cfg, "y", bad, strlen(bad), err, sizeof(err)),
                     HD_E_CONFIG);
    ck_assert_msg(strstr(err, "services: expected a map of name: URL"), "%s", err);
    hd_config_free(&cfg);
    /* a name that cannot be a Service's is refused, in the file and in the environment (found
     * by fuzz_hd_config: a key of tabs printed by --print-config as \x09 passed 1024 characters,
     * and YAML refuses implicit keys that long, so the printed settings did not load back) */
    char longer[HD_CONFIG_SERVICE_NAME_MAX + 80];
    memset(longer, 'a', HD_CONFIG_SERVICE_NAME_MAX + 1);
    strcpy(longer + HD_CONFIG_SERVICE_NAME_MAX + 1, "=http://h:1/");
    setenv("HERALD_SERVICES", longer, 1);
    ck_assert_int_eq(hd_config_load_buffer(&cfg, "y", "", 0, err, sizeof(err)), HD_E_CONFIG);
    unsetenv("HERALD_SERVICES");
    ck_assert_msg(strstr(err, "entry 1: the name is longer than a Service name"), "%s", err);
    hd_config_free(&cfg);
    char doc[HD_CONFIG_SERVICE_NAME_MAX + 80];
    snprintf(doc, sizeof doc, "services:\n  %.*s: http://h:1/\n", HD_CONFIG_SERVICE_NAME_MAX + 1,
             longer);
    ck_assert_int_eq(hd_config_load_buffer(&cfg, "y", doc, strlen(doc), err, sizeof(err)),
                     HD_E_CONFIG);
    ck_assert_msg(strstr(err, "entry 1: the name is longer than a Service name"), "%s", err);
    hd_config_free(&cfg);
    /* a name with characters no Service name has (a tab printed as \x09 grows fourfold) */
    const char *tab = "services:\n  \"shop/or\\tders\": http://h:1/\n";
    ck_assert_int_eq(hd_config_load_buffer(&cfg, "y", tab, strlen(tab), err, sizeof(err)),
                     HD_E_CONFIG);
    ck_assert_msg(strstr(err, "only lower-case letters, digits"), "%s", err);
    hd_config_free(&cfg);
    /* the longest name loads and prints back */
    snprintf(doc, sizeof doc, "services:\n  %.*s: http://h:1/\n", HD_CONFIG_SERVICE_NAME_MAX,
             longer);
    ck_assert_int_eq(hd_config_load_buffer(&cfg, "y", doc, strlen(doc), err, sizeof(err)), HD_E_OK);
    hd_config_free(&cfg);
}
END_TEST

START_TEST(test_print_long_values)
{
    char yaml[1200], dir[1001];
    memset(dir, 'd', 1000);
    dir[0] = '/';
    dir[1000] = '\0';
    snprintf(yaml, sizeof(yaml), "data_dir: %s\n", dir);
    hd_config_t cfg, again;
    char err[256];
    ck_assert_int_eq(hd_config_load_buffer(&cfg, "y", yaml, strlen(yaml), err, sizeof(err)),
                     HD_E_OK);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    hd_config_print(&cfg, f);
    fclose(f);
    ck_assert_int_eq(hd_config_load_buffer(&again, "p", text, len, err, sizeof(err)), HD_E_OK);
    ck_assert_str_eq(again.data_dir, dir);
    hd_config_free(&again);
    hd_config_free(&cfg);
    free(text);
    char host[300];
    memset(host, 'h', 260);
    snprintf(host + 260, sizeof(host) - 260, ":80");
    snprintf(yaml, sizeof(yaml), "ingress.listen: %s\n", host);
    ck_assert_int_eq(hd_config_load_buffer(&cfg, "y", yaml, strlen(yaml), err, sizeof(err)),
                     HD_E_CONFIG);
    ck_assert_ptr_nonnull(strstr(err, "253"));
}
END_TEST

START_TEST(test_load_buffer)
{
    hd_config_t cfg;
    char err[256];
    const char text[] = "log.level: warn\nlimits.max_batch_events: 12345";
    /* only the first line is given: the buffer need not be NUL-terminated */
    ck_assert_int_eq(hd_config_load_buffer(&cfg, "inline", text, 15, err, sizeof(err)), HD_E_OK);
    ck_assert_int_eq(cfg.log_level, HD_LOG_WARN);
    ck_assert_uint_eq(cfg.max_batch_events, 1000);
    hd_config_free(&cfg);
    ck_assert_int_eq(hd_config_load_buffer(&cfg, "inline", "bogus: 1\n", 9, err, sizeof(err)),
                     HD_E_CONFIG);
    ck_assert_ptr_nonnull(strstr(err, "inline:1: unknown setting 'bogus'"));
    ck_assert_int_eq(hd_config_load_buffer(&cfg, "inline", NULL, 0, err, sizeof(err)), HD_E_OK);
    ck_assert_str_eq(cfg.data_dir, "./data");
    hd_config_free(&cfg);
}
END_TEST

/* Found by fuzz_hd_config: a YAML escape gives a C1 control character (U+0081), which YAML
 * does not allow raw; --print-config must escape it so the printed config loads back. A lone
 * surrogate escape cannot become a valid UTF-8 value and is refused with the key named. */
START_TEST(test_print_escapes_what_yaml_forbids_raw)
{
    const char yaml[] = "data_dir: \"/a\\x81b\\x7fc\\uFFFEd\\u00e9\"\n";
    hd_config_t cfg, again;
    char err[256];
    ck_assert_int_eq(hd_config_load_buffer(&cfg, "y", yaml, strlen(yaml), err, sizeof(err)),
                     HD_E_OK);
    ck_assert_str_eq(cfg.data_dir, "/a\xc2\x81"
                                   "b\x7f"
                                   "c\xef\xbf\xbe"
                                   "d\xc3\xa9");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    hd_config_print(&cfg, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "data_dir: \"/a\\u0081b\\x7fc\\ufffed\xc3\xa9\""));
    ck_assert_int_eq(hd_config_load_buffer(&again, "p", text, len, err, sizeof(err)), HD_E_OK);
    ck_assert_str_eq(again.data_dir, cfg.data_dir);
    hd_config_free(&again);
    hd_config_free(&cfg);
    free(text);
    const char bad[] = "data_dir: \"/a\\ud800\"\n";
    hd_err_t e = hd_config_load_buffer(&cfg, "y", bad, strlen(bad), err, sizeof(err));
    if (e == HD_E_OK) { /* libyaml may refuse the escape itself; if it passes, it is valid */
        ck_assert(ce_utf8_valid(cfg.data_dir, strlen(cfg.data_dir)));
        hd_config_free(&cfg);
    } else {
        ck_assert_int_eq(e, HD_E_CONFIG);
    }
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_yaml_nested_and_dotted);
    tcase_add_test(tc, test_shipped_conf_loads);
    tcase_add_test(tc, test_env_overrides);
    tcase_add_test(tc, test_bad_values_name_the_key);
    tcase_add_test(tc, test_empty_file_and_empty_list);
    tcase_add_test(tc, test_config_is_a_directory);
    tcase_add_test(tc, test_ingress_and_admin_ports_differ);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_print_round_trip);
    tcase_add_test(tc, test_usage_lists_every_setting);
    tcase_add_test(tc, test_nomem_is_an_error);
    tcase_add_test(tc, test_load_buffer);
    tcase_add_test(tc, test_print_long_values);
    tcase_add_test(tc, test_print_escapes_what_yaml_forbids_raw);
    tcase_add_test(tc, test_services_map);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
