/*
 * config.c — heraldd's settings (hd_config.h). Everything is driven by `settings[]`: defaults,
 * the YAML file (nested maps or dotted keys), HERALD_* environment overrides, --help and
 * --print-config. A value is always parsed by the same function whatever its source.
 */
#include "hd_config.h"
#include "hd_time.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

typedef enum {
    T_STRING,   /* free text (paths) */
    T_LISTEN,   /* host:port */
    T_ENUM,     /* one of enum_names, stored as int */
    T_UINT,     /* plain integer */
    T_SIZE,     /* bytes: 1048576, 64KiB, 1MiB, 8GiB */
    T_DURATION, /* 10s, 100ms, PT0.5S; stored in ms */
    T_LIST,     /* list of strings (env: comma-separated) */
    T_MAP,      /* map of names to strings, kept as "name=value" items (env: a=x,b=y) */
} stype_t;

/* A T_LIST or T_MAP field is a char ** followed by its size_t count. */
#define LIST_ITEMS(cfg, s) ((char ***)((char *)(cfg) + (s)->off))
#define LIST_COUNT(cfg, s) ((size_t *)((char *)(cfg) + (s)->off + sizeof(char **)))
_Static_assert(offsetof(hd_config_t, manifest_count) ==
                   offsetof(hd_config_t, manifests) + sizeof(char **),
               "manifest_count follows manifests");
_Static_assert(offsetof(hd_config_t, service_count) ==
                   offsetof(hd_config_t, services) + sizeof(char **),
               "service_count follows services");

typedef struct {
    const char *key;
    stype_t type;
    size_t off;               /* into hd_config_t */
    const char *def;          /* default, in the same syntax as the file */
    uint64_t min, max;        /* bounds of T_UINT, T_SIZE, T_DURATION (ms) */
    const char *const *names; /* T_ENUM values, index = stored int */
    bool bare_ms;             /* T_DURATION: a bare number means milliseconds */
    const char *desc;
} setting_t;

static const char *const durability_names[] = {"fsync", "batch", "none", NULL};
static const char *const log_format_names[] = {"json", "text", NULL};
static const char *const log_level_names[] = {"debug", "info", "warn", "error", NULL};

#define OFF(f) offsetof(hd_config_t, f)
#define KIB 1024ull
#define MIB (1024ull * 1024)
#define GIB (1024ull * 1024 * 1024)
#define TIB (1024ull * 1024 * 1024 * 1024)
#define SEC 1000ull
#define DAY (86400ull * 1000)
#define STR_(x) #x
#define STR(x) STR_(x) /* a number macro as text, for the table's defaults */

/* The one table. Keep keys of one section together: --print-config nests them in order. */
static const setting_t settings[] = {
    {"ingress.listen", T_LISTEN, OFF(ingress_listen), "127.0.0.1:8080", 0, 0, NULL, false,
     "address of the event ingress (POST /{namespace}/{broker}); port 0 picks a free one"},
    {"admin.listen", T_LISTEN, OFF(admin_listen), "127.0.0.1:8081", 0, 0, NULL, false,
     "address of the admin API, /metrics and /ui/ (keep it on loopback)"},
    {"data_dir", T_STRING, OFF(data_dir), "./data", 0, 0, NULL, false,
     "directory of the LMDB environment (created if missing)"},
    {"durability", T_ENUM, OFF(durability), "fsync", 0, 0, durability_names, false,
     "fsync: 202 after the commit is on disk; batch: 202 after the commit, fsync every "
     "store.sync_interval_ms; none: never fsync (tests, benchmarks)"},
    {"store.sync_interval_ms", T_DURATION, OFF(sync_interval_ms), "10", 1, 60 * SEC, NULL, true,
     "fsync interval of durability batch (a bare number is milliseconds)"},
    {"store.map_size_max", T_SIZE, OFF(map_size_max), "8GiB", 1 * MIB, 64 * TIB, NULL, false,
     "cap of the LMDB map; it grows on demand up to this (or what the filesystem holds, if less), "
     "then ingress answers 503"},
    {"store.reserve_bytes", T_SIZE, OFF(store_reserve_bytes), "0", 0, 64 * TIB, NULL, false,
     "room kept for retention, cursor and progress writes: appends get 503 when they would "
     "leave less; 0: max(8MiB, 2% of the capacity) up to 256MiB (at most a quarter of it)"},
    {"store.queue_max", T_UINT, OFF(store_queue_max), "65536", 1, 16 * 1024 * 1024, NULL, false,
     "write batches waiting for the store writer before ingress answers 503"},
    {"limits.max_event_bytes", T_SIZE, OFF(max_event_bytes), "1MiB", 1 * KIB, 256 * MIB, NULL,
     false, "largest request body accepted by ingress (413 above)"},
    {"limits.max_batch_events", T_UINT, OFF(max_batch_events), "1000", 1, 1000000, NULL, false,
     "most events in one batched request (413 above)"},
    {"limits.max_connections", T_UINT, OFF(max_connections), "10000", 1, 1000000, NULL, false,
     "open ingress connections (further ones are accepted and closed)"},
    {"limits.output_high_water", T_SIZE, OFF(output_high_water), "512KiB", 4 * KIB, 1 * GIB, NULL,
     false, "unsent answer bytes of one connection above which heraldd stops reading it"},
    {"limits.output_low_water", T_SIZE, OFF(output_low_water), "128KiB", 1 * KIB, 1 * GIB, NULL,
     false, "reading a stopped connection resumes when its unsent answers fall to this"},
    {"limits.requests_per_turn", T_UINT, OFF(requests_per_turn), "16", 1, 100000, NULL, false,
     "pipelined requests of one connection handled before the other connections get a turn"},
    {"limits.body_budget", T_SIZE, OFF(body_budget), "256MiB", 1 * MIB, 64 * GIB, NULL, false,
     "request body bytes buffered at once by all connections; above it 503 + Retry-After"},
    {"shutdown.drain", T_DURATION, OFF(shutdown_drain_ms), "10s", 0, 3600 * SEC, NULL, false,
     "on SIGTERM/SIGINT, how long in-flight requests and deliveries may take to finish"},
    {"retention.max_age", T_DURATION, OFF(retention_ms), STR(HD_CONFIG_RETENTION_DAYS) "d", 1 * SEC,
     3650 * DAY, NULL, false,
     "events older than this are deleted even if a trigger has not consumed them"},
    {"retention.interval", T_DURATION, OFF(retention_interval_ms),
     STR(HD_CONFIG_RETENTION_INTERVAL_S) "s", 100, DAY, NULL, false, "how often retention runs"},
    {"retention.min_age", T_DURATION, OFF(retention_min_age_ms), HD_CONFIG_RETENTION_MIN_AGE, 0,
     3650 * DAY, NULL, false,
     "delivered events are kept at least this long, for herald replay and tail --from (0s: "
     "deleted once every trigger is done with them); a full store deletes them at once"},
    {"delivery.max_connections_per_host", T_UINT, OFF(delivery_pool_max), "64", 1, 65536, NULL,
     false, "keep-alive connections kept per subscriber host"},
    {"manifests", T_LIST, OFF(manifests), "", 0, 0, NULL, false,
     "files or folders of YAML/JSON manifests applied at startup (env: comma-separated)"},
    {"services", T_MAP, OFF(services), "", 0, 0, NULL, false,
     "addresses of Kubernetes Services named by `ref: {apiVersion: v1, kind: Service}`: "
     "name or namespace/name -> http(s) URL (env: a=URL,ns/b=URL)"},
    {"log.format", T_ENUM, OFF(log_format), "json", 0, 0, log_format_names, false,
     "json: one JSON object per line on stderr; text: human lines"},
    {"log.level", T_ENUM, OFF(log_level), "info", 0, 0, log_level_names, false,
     "lowest level logged (SIGUSR2 toggles debug)"},
    {"log.file", T_STRING, OFF(log_file), "", 0, 0, NULL, false,
     "append the log to this file instead of stderr (reopened on SIGHUP, for log rotation)"},
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* ---- error text -------------------------------------------------------------------------- */

static hd_err_t fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static hd_err_t fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return HD_E_CONFIG;
}

static void env_name(const setting_t *s, char *buf, size_t cap)
{
    size_t n = snprintf(buf, cap, "HERALD_");
    for (const char *p = s->key; *p && n + 1 < cap; p++)
        buf[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    buf[n < cap ? n : cap - 1] = '\0';
}

static const setting_t *find_setting(const char *key)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

/* ---- value parsers ----------------------------------------------------------------------- */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/*
 * Reads the decimal digits at s (blanks before them skipped) into *out; returns the end of the
 * digits, or NULL when there is none or the number overflows uint64_t.
 */
static const char *scan_u64(const char *s, uint64_t *out)
{
    s = skip_ws(s);
    size_t n = strspn(s, "0123456789");
    return hd_parse_u64(s, n, out) ? s + n : NULL;
}

/* Parses a decimal integer; false on anything else or overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v;
    s = scan_u64(s, &v);
    if (!s || *skip_ws(s))
        return false;
    *out = v;
    return true;
}

/* Sizes: a number of bytes with an optional unit B, KiB, MiB, GiB, TiB (also K/M/G/T) or the
 * decimal kB, MB, GB, TB. */
static bool parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    if (!(s = scan_u64(s, &v)))
        return false;
    s = skip_ws(s);
    char unit[8];
    size_t n = 0;
    while (*s && *s != ' ' && *s != '\t' && n < sizeof(unit) - 1)
        unit[n++] = *s++;
    unit[n] = '\0';
    if (*skip_ws(s))
        return false;
    static const struct {
        const char *name;
        uint64_t mult;
    } units[] = {
        {"", 1},      {"B", 1},     {"K", KIB},      {"KiB", KIB},       {"M", MIB},
        {"MiB", MIB}, {"G", GIB},   {"GiB", GIB},    {"T", TIB},         {"TiB", TIB},
        {"kB", 1000}, {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000}, {"TB", 1000000000000ull}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].name) == 0) {
            if (v > UINT64_MAX / units[i].mult)
                return false;
            *out = v * units[i].mult;
            return true;
        }
    }
    return false;
}

/* host:port with host an IPv4 address, a [bracketed] IPv6 address or a DNS name. */
static bool parse_listen(const char *s, char *why, size_t why_cap)
{
    const char *colon;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            snprintf(why, why_cap, "an IPv6 address needs the form [addr]:port");
            return false;
        }
        char host[64];
        size_t hl = (size_t)(close - s - 1);
        struct sockaddr_in6 a6;
        if (hl == 0 || hl >= sizeof(host)) {
            snprintf(why, why_cap, "bad IPv6 address");
            return false;
        }
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        if (uv_ip6_addr(host, 0, &a6) != 0) {
            snprintf(why, why_cap, "bad IPv6 address '%s'", host);
            return false;
        }
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || colon == s) {
            snprintf(why, why_cap, "expected host:port");
            return false;
        }
        if (colon - s > 253) {
            snprintf(why, why_cap, "host name longer than 253 characters");
            return false;
        }
        for (const char *p = s; p < colon; p++) {
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-') {
                snprintf(why, why_cap, "bad host (IPv6 needs [brackets])");
                return false;
            }
        }
        /* All digits and dots: must be a real IPv4 address. */
        bool numeric = true;
        for (const char *p = s; p < colon; p++)
            if (!isdigit((unsigned char)*p) && *p != '.')
                numeric = false;
        if (numeric) {
            char host[32];
            size_t hl = (size_t)(colon - s);
            struct sockaddr_in a4;
            if (hl >= sizeof(host)) {
                snprintf(why, why_cap, "bad IPv4 address");
                return false;
            }
            memcpy(host, s, hl);
            host[hl] = '\0';
            if (uv_ip4_addr(host, 0, &a4) != 0) {
                snprintf(why, why_cap, "bad IPv4 address '%s'", host);
                return false;
            }
        }
    }
    uint64_t port;
    if (!parse_u64(colon + 1, &port) || port > 65535 || strchr(colon + 1, ' ')) {
        snprintf(why, why_cap, "port must be a number from 0 to 65535");
        return false;
    }
    return true;
}

static void free_list(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hd_free(items[i]);
    hd_free(items);
}

/* A `services:` name is a Kubernetes Service's: NAME or NAMESPACE/NAME, lower-case letters,
 * digits, '-' and '.', at most HD_CONFIG_SERVICE_NAME_MAX characters. (This also keeps
 * --print-config loadable: YAML refuses implicit keys over 1024 characters.) Returns NULL when
 * the name is valid, else what is wrong with it. */
static const char *service_name_problem(const char *name, size_t len)
{
    if (len == 0)
        return "the name is empty";
    if (len > HD_CONFIG_SERVICE_NAME_MAX)
        return "the name is longer than a Service name (NAME or NAMESPACE/NAME) may be";
    size_t slashes = 0;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (c == '/')
            slashes++;
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return "a Service name has only lower-case letters, digits, '-' and '.' (and one '/' "
                   "after the namespace)";
    }
    if (slashes > 1 || name[0] == '/' || name[len - 1] == '/')
        return "the name is NAME or NAMESPACE/NAME";
    return NULL;
}

/*
 * Sets one scalar setting from its text. `where` names the source for messages ("herald.yaml:3"
 * or "HERALD_INGRESS_LISTEN"). Errors: HD_E_CONFIG (message names the key), HD_E_NOMEM.
 */
static hd_err_t set_value(hd_config_t *cfg, const setting_t *s, const char *v, const char *where,
                          char *err, size_t cap)
{
    char *field = (char *)cfg + s->off;
    char why[160] = "";
    uint64_t n = 0;
    /* The value as echoed in messages: long ones are cut so the key and reason still fit. */
    char vs[72];
    if (!ce_utf8_valid(v, strlen(v))) /* e.g. a "\ud800" escape in YAML, or a raw env value */
        return fail(err, cap, "%s: %s: not valid UTF-8", where, s->key);
    snprintf(vs, sizeof(vs), strlen(v) > 64 ? "%.60s..." : "%s", v);
    switch (s->type) {
    case T_STRING:
    case T_LISTEN: {
        if (!*v && s->type == T_STRING && !*s->def) { /* optional: empty means unset */
            hd_free(*(char **)field);
            *(char **)field = NULL;
            return HD_E_OK;
        }
        if (!*v)
            return fail(err, cap, "%s: %s: must not be empty", where, s->key);
        if (s->type == T_LISTEN && !parse_listen(v, why, sizeof(why)))
            return fail(err, cap, "%s: %s: bad address '%s': %s", where, s->key, vs, why);
        char *copy = hd_strdup(v);
        if (!copy)
            return HD_E_NOMEM;
        hd_free(*(char **)field);
        *(char **)field = copy;
        return HD_E_OK;
    }
    case T_ENUM:
        for (int i = 0; s->names[i]; i++) {
            if (strcmp(s->names[i], v) == 0) {
                *(int *)field = i;
                return HD_E_OK;
            }
        }
        {
            char opts[128] = "";
            for (int i = 0; s->names[i]; i++) {
                if (i)
                    strncat(opts, " | ", sizeof(opts) - strlen(opts) - 1);
                strncat(opts, s->names[i], sizeof(opts) - strlen(opts) - 1);
            }
            return fail(err, cap, "%s: %s: '%s' is not one of %s", where, s->key, vs, opts);
        }
    case T_UINT:
        if (!parse_u64(v, &n))
            return fail(err, cap, "%s: %s: '%s' is not a whole number", where, s->key, vs);
        break;
    case T_SIZE:
        if (!parse_size(v, &n))
            return fail(err, cap, "%s: %s: '%s' is not a size (bytes, or e.g. 64KiB, 1MiB, 8GiB)",
                        where, s->key, vs);
        break;
    case T_DURATION:
        if (!(s->bare_ms && parse_u64(v, &n)) && !hd_time_duration_parse(v, &n))
            return fail(err, cap,
                        "%s: %s: '%s' is not a duration (e.g. 100ms, 10s, 5m, 7d, PT0.5S, P1D)",
                        where, s->key, vs);
        break;
    case T_LIST:
    case T_MAP: {
        /* From the environment (or a scalar in the file): comma-separated, blanks trimmed. */
        char **items = NULL;
        size_t count = 0;
        const char *p = v;
        while (*p) {
            const char *end = strchr(p, ',');
            if (!end)
                end = p + strlen(p);
            const char *a = p, *b = end;
            while (a < b && isspace((unsigned char)*a))
                a++;
            while (b > a && isspace((unsigned char)b[-1]))
                b--;
            if (b > a) {
                char **ni = hd_realloc(items, (count + 1) * sizeof(*ni));
                char *it = ni ? hd_strndup(a, (size_t)(b - a)) : NULL;
                if (ni)
                    items = ni;
                if (!it) {
                    free_list(items, count);
                    return HD_E_NOMEM;
                }
                items[count++] = it;
            }
            p = *end ? end + 1 : end;
        }
        for (size_t i = 0; s->type == T_MAP && i < count; i++) {
            const char *eq = strchr(items[i], '=');
            if (!eq || eq == items[i] || !eq[1]) {
                free_list(items, count);
                return fail(err, cap, "%s: %s: '%s' is not name=URL", where, s->key, items[i]);
            }
            const char *why = service_name_problem(items[i], (size_t)(eq - items[i]));
            if (why) {
                free_list(items, count);
                return fail(err, cap, "%s: %s: entry %zu: %s", where, s->key, i + 1, why);
            }
        }
        free_list(*LIST_ITEMS(cfg, s), *LIST_COUNT(cfg, s));
        *LIST_ITEMS(cfg, s) = items;
        *LIST_COUNT(cfg, s) = count;
        return HD_E_OK;
    }
    }
    if (n < s->min || n > s->max) {
        if (s->type == T_DURATION)
            return fail(err, cap, "%s: %s: %s is out of bounds (%llu ms .. %llu ms)", where, s->key,
                        vs, (unsigned long long)s->min, (unsigned long long)s->max);
        return fail(err, cap, "%s: %s: %s is out of bounds (%llu .. %llu)", where, s->key, vs,
                    (unsigned long long)s->min, (unsigned long long)s->max);
    }
    *(uint64_t *)field = n;
    return HD_E_OK;
}

/* ---- YAML -------------------------------------------------------------------------------- */

typedef struct {
    hd_config_t *cfg;
    yaml_document_t *doc;
    const char *path;
    char *err;
    size_t cap;
    bool seen[NSETTINGS];
} yload_t;

static hd_err_t load_map(yload_t *y, yaml_node_t *map, const char *prefix);

/* `services:` and other maps of names to strings: each pair becomes a "name=value" item. */
static hd_err_t load_string_map(yload_t *y, const setting_t *s, yaml_node_t *val, const char *where)
{
    if (val->type == YAML_SCALAR_NODE && !val->data.scalar.length)
        return HD_E_OK; /* `services:` with nothing after it */
    if (val->type != YAML_MAPPING_NODE)
        return fail(y->err, y->cap, "%s: %s: expected a map of name: URL", where, s->key);
    size_t count = 0, n = (size_t)(val->data.mapping.pairs.top - val->data.mapping.pairs.start);
    char **items = hd_calloc(n ? n : 1, sizeof(*items));
    if (!items)
        return HD_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, val->data.mapping.pairs.start[i].key);
        yaml_node_t *v = yaml_document_get_node(y->doc, val->data.mapping.pairs.start[i].value);
        if (!k || !v || k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE ||
            !k->data.scalar.length || !v->data.scalar.length ||
            strchr((const char *)k->data.scalar.value, '=')) {
            free_list(items, count);
            return fail(y->err, y->cap, "%s: %s: entry %zu must be name: URL (two strings)", where,
                        s->key, i + 1);
        }
        const char *why =
            service_name_problem((const char *)k->data.scalar.value, k->data.scalar.length);
        if (why) {
            free_list(items, count);
            return fail(y->err, y->cap, "%s: %s: entry %zu: %s", where, s->key, i + 1, why);
        }
        size_t len = k->data.scalar.length + v->data.scalar.length + 2;
        if (!(items[count] = hd_malloc(len))) {
            free_list(items, count);
            return HD_E_NOMEM;
        }
        snprintf(items[count++], len, "%s=%s", (const char *)k->data.scalar.value,
                 (const char *)v->data.scalar.value);
    }
    free_list(*LIST_ITEMS(y->cfg, s), *LIST_COUNT(y->cfg, s));
    *LIST_ITEMS(y->cfg, s) = items;
    *LIST_COUNT(y->cfg, s) = count;
    return HD_E_OK;
}

static hd_err_t load_value(yload_t *y, const char *key, yaml_node_t *val)
{
    char where[300];
    snprintf(where, sizeof(where), "%s:%lu", y->path, (unsigned long)val->start_mark.line + 1);
    const setting_t *s = find_setting(key);
    if (!s) {
        /* A section name: recurse into its map. */
        size_t kl = strlen(key);
        for (size_t i = 0; i < NSETTINGS; i++) {
            if (strncmp(settings[i].key, key, kl) == 0 && settings[i].key[kl] == '.') {
                if (val->type == YAML_MAPPING_NODE)
                    return load_map(y, val, key);
                return fail(y->err, y->cap, "%s: %s: expected a mapping of settings (e.g. %s)",
                            where, key, settings[i].key);
            }
        }
        return fail(y->err, y->cap, "%s: unknown setting '%s' (heraldd --help lists them)", where,
                    key);
    }
    size_t idx = (size_t)(s - settings);
    if (y->seen[idx])
        return fail(y->err, y->cap, "%s: %s is set twice", where, key);
    y->seen[idx] = true;
    if (s->type == T_LIST) {
        if (val->type == YAML_SCALAR_NODE) {
            const char *v = (const char *)val->data.scalar.value;
            /* `manifests:` with nothing after it is an empty list. */
            if (val->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                (!*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0))
                v = "";
            return set_value(y->cfg, s, v, where, y->err, y->cap);
        }
        if (val->type != YAML_SEQUENCE_NODE)
            return fail(y->err, y->cap, "%s: %s: expected a list", where, key);
        size_t count = 0,
               n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
        char **items = hd_calloc(n ? n : 1, sizeof(*items));
        if (!items)
            return HD_E_NOMEM;
        for (size_t i = 0; i < n; i++) {
            yaml_node_t *it = yaml_document_get_node(y->doc, val->data.sequence.items.start[i]);
            if (!it || it->type != YAML_SCALAR_NODE || !it->data.scalar.length) {
                free_list(items, count);
                return fail(y->err, y->cap, "%s: %s: item %zu must be a non-empty string", where,
                            key, i + 1);
            }
            if (!ce_utf8_valid((const char *)it->data.scalar.value, it->data.scalar.length)) {
                free_list(items, count);
                return fail(y->err, y->cap, "%s: %s: item %zu is not valid UTF-8", where, key,
                            i + 1);
            }
            items[count] = hd_strdup((const char *)it->data.scalar.value);
            if (!items[count]) {
                free_list(items, count);
                return HD_E_NOMEM;
            }
            count++;
        }
        free_list(y->cfg->manifests, y->cfg->manifest_count);
        y->cfg->manifests = items;
        y->cfg->manifest_count = count;
        return HD_E_OK;
    }
    if (s->type == T_MAP)
        return load_string_map(y, s, val, where);
    if (val->type != YAML_SCALAR_NODE)
        return fail(y->err, y->cap, "%s: %s: expected a single value", where, key);
    return set_value(y->cfg, s, (const char *)val->data.scalar.value, where, y->err, y->cap);
}

static hd_err_t load_map(yload_t *y, yaml_node_t *map, const char *prefix)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(y->doc, p->value);
        if (!k || !v || k->type != YAML_SCALAR_NODE)
            return fail(y->err, y->cap, "%s: keys must be plain names", y->path);
        char key[256];
        int n = snprintf(key, sizeof(key), "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                         (const char *)k->data.scalar.value);
        if (n < 0 || (size_t)n >= sizeof(key))
            return fail(y->err, y->cap, "%s:%lu: key too long", y->path,
                        (unsigned long)k->start_mark.line + 1);
        hd_err_t e = load_value(y, key, v);
        if (e)
            return e;
    }
    return HD_E_OK;
}

/* Parses YAML from `f` (a file) or `buf`/`len` (memory); `path` names the source in messages. */
static hd_err_t load_yaml(hd_config_t *cfg, const char *path, FILE *f, const char *buf, size_t len,
                          char *err, size_t cap)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    hd_err_t e = HD_E_OK;
    if (!yaml_parser_initialize(&parser))
        return HD_E_NOMEM;
    if (f)
        yaml_parser_set_input_file(&parser, f);
    else
        yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        e = fail(err, cap, "%s:%lu: YAML error: %s", path,
                 (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "malformed");
        goto done_parser;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    bool empty = !root || (root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0) ||
                 (root->type == YAML_MAPPING_NODE &&
                  root->data.mapping.pairs.top == root->data.mapping.pairs.start);
    if (empty && !f) {
        /* in memory (tests, tools): nothing given is the defaults */
    } else if (empty) {
        /* Most likely a mistake (a truncated or wrong file): running on the defaults would put
         * a new, empty store in ./data of whatever the working directory is. */
        e = fail(err, cap,
                 "%s: the settings file is empty (no setting at all); give at least data_dir, "
                 "or run heraldd without -c to use the defaults",
                 path);
    } else {
        if (root->type != YAML_MAPPING_NODE) {
            e = fail(err, cap, "%s: the settings must be a mapping (key: value)", path);
        } else {
            yload_t *y = hd_calloc(1, sizeof(*y));
            if (!y) {
                e = HD_E_NOMEM;
            } else {
                y->cfg = cfg;
                y->doc = &doc;
                y->path = path;
                y->err = err;
                y->cap = cap;
                e = load_map(y, root, NULL);
                hd_free(y);
            }
        }
    }
    yaml_document_delete(&doc);
done_parser:
    yaml_parser_delete(&parser);
    return e;
}

static hd_err_t load_file(hd_config_t *cfg, const char *path, char *err, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, cap, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return fail(err, cap, "config %s is a directory, not a settings file", path);
    }
    hd_err_t e = load_yaml(cfg, path, f, NULL, 0, err, cap);
    fclose(f);
    return e;
}

/* ---- checks across settings ----------------------------------------------------------- */

/* Splits a valid listen address into its host (without brackets) and port. */
static void split_listen(const char *l, char *host, size_t cap, unsigned long *port)
{
    const char *colon = strrchr(l, ':');
    const char *h = l;
    size_t hl = (size_t)(colon - l);
    if (l[0] == '[') {
        h++;
        hl -= 2;
    }
    snprintf(host, cap, "%.*s", (int)hl, h);
    *port = strtoul(colon + 1, NULL, 10);
}

static bool wildcard_host(const char *h)
{
    return !strcmp(h, "0.0.0.0") || !strcmp(h, "::") || !strcmp(h, "0:0:0:0:0:0:0:0");
}

/* The ingress and the admin API cannot share a port (port 0 picks two free ones). */
static hd_err_t check_ports(const hd_config_t *cfg, char *err, size_t cap)
{
    char hi[300], ha[300];
    unsigned long pi, pa;
    split_listen(cfg->ingress_listen, hi, sizeof hi, &pi);
    split_listen(cfg->admin_listen, ha, sizeof ha, &pa);
    if (pi != 0 && pi == pa && (!strcmp(hi, ha) || wildcard_host(hi) || wildcard_host(ha)))
        return fail(err, cap,
                    "ingress.listen (%s) and admin.listen (%s) use the same port %lu: give the "
                    "admin API a port of its own",
                    cfg->ingress_listen, cfg->admin_listen, pi);
    return HD_E_OK;
}

/* ---- public ------------------------------------------------------------------------------ */

/* Defaults, then the YAML source (file `path`, or `buf` when path is NULL and buf is not), then
 * the environment. */
static hd_err_t load_all(hd_config_t *cfg, const char *path, const char *name, const char *buf,
                         size_t len, char *err, size_t err_cap)
{
    if (!cfg)
        return HD_E_INVAL;
    if (err && err_cap)
        err[0] = '\0';
    memset(cfg, 0, sizeof(*cfg));
    hd_err_t e = HD_E_OK;
    for (size_t i = 0; i < NSETTINGS && !e; i++) {
        char where[96];
        snprintf(where, sizeof(where), "default of %s", settings[i].key);
        e = set_value(cfg, &settings[i], settings[i].def, where, err, err_cap);
    }
    if (!e && path)
        e = load_file(cfg, path, err, err_cap);
    else if (!e && buf)
        e = load_yaml(cfg, name ? name : "(config)", NULL, buf, len, err, err_cap);
    for (size_t i = 0; i < NSETTINGS && !e; i++) {
        char name[96];
        env_name(&settings[i], name, sizeof(name));
        const char *v = getenv(name);
        if (v)
            e = set_value(cfg, &settings[i], v, name, err, err_cap);
    }
    if (!e)
        e = check_ports(cfg, err, err_cap);
    if (e) {
        if (e == HD_E_NOMEM && err && err_cap && !err[0])
            snprintf(err, err_cap, "out of memory while reading the settings");
        hd_config_free(cfg);
    }
    return e;
}

hd_err_t hd_config_load(hd_config_t *cfg, const char *path, char *err, size_t err_cap)
{
    return load_all(cfg, path, NULL, NULL, 0, err, err_cap);
}

hd_err_t hd_config_load_buffer(hd_config_t *cfg, const char *name, const char *yaml, size_t len,
                               char *err, size_t err_cap)
{
    return load_all(cfg, NULL, name, yaml ? yaml : "", yaml ? len : 0, err, err_cap);
}

void hd_config_free(hd_config_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < NSETTINGS; i++) {
        if (settings[i].type == T_STRING || settings[i].type == T_LISTEN) {
            char **f = (char **)((char *)cfg + settings[i].off);
            hd_free(*f);
            *f = NULL;
        }
    }
    free_list(cfg->manifests, cfg->manifest_count);
    cfg->manifests = NULL;
    cfg->manifest_count = 0;
    free_list(cfg->services, cfg->service_count);
    cfg->services = NULL;
    cfg->service_count = 0;
}

/* Writes a YAML double-quoted scalar. Everything YAML does not allow raw in a document is
 * escaped, so the output always loads back: C0 controls and DEL, the C1 controls U+0080-U+009F
 * (UTF-8 C2 80..C2 9F) and the noncharacters U+FFFE/U+FFFF. Values are valid UTF-8 (libyaml
 * and the environment loader checked them), so multi-byte sequences are otherwise copied. */
static void print_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7F)
            fprintf(out, "\\x%02x", *p);
        else if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
            fprintf(out, "\\u%04x", p[1]);
            p++;
        } else if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
            /* U+2028/U+2029 are line breaks to YAML: written raw, a reload folds them */
            fprintf(out, "\\u%04x", 0x2028 + (p[2] - 0xA8));
            p += 2;
        } else if (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) {
            fprintf(out, "\\u%04x", 0xFFFE + (p[2] - 0xBE));
            p += 2;
        } else
            fputc(*p, out);
    }
    fputc('"', out);
}

/* A size or duration in the largest unit that divides it exactly. */
static void format_value(const setting_t *s, const hd_config_t *cfg, char *buf, size_t cap)
{
    const char *field = (const char *)cfg + s->off;
    uint64_t v = s->type == T_UINT || s->type == T_SIZE || s->type == T_DURATION
                     ? *(const uint64_t *)field
                     : 0;
    switch (s->type) {
    case T_SIZE: {
        static const struct {
            const char *u;
            uint64_t m;
        } u[] = {{"TiB", TIB}, {"GiB", GIB}, {"MiB", MIB}, {"KiB", KIB}};
        for (size_t i = 0; i < 4; i++) {
            if (v && v % u[i].m == 0) {
                snprintf(buf, cap, "%llu%s", (unsigned long long)(v / u[i].m), u[i].u);
                return;
            }
        }
        snprintf(buf, cap, "%llu", (unsigned long long)v);
        return;
    }
    case T_DURATION: {
        static const struct {
            const char *u;
            uint64_t m;
        } u[] = {{"d", DAY}, {"h", 3600 * SEC}, {"m", 60 * SEC}, {"s", SEC}};
        for (size_t i = 0; i < 4; i++) {
            if (v && v % u[i].m == 0) {
                snprintf(buf, cap, "%llu%s", (unsigned long long)(v / u[i].m), u[i].u);
                return;
            }
        }
        snprintf(buf, cap, "%llums", (unsigned long long)v);
        return;
    }
    case T_UINT:
        snprintf(buf, cap, "%llu", (unsigned long long)v);
        return;
    case T_ENUM:
        snprintf(buf, cap, "%s", s->names[*(const int *)field]);
        return;
    default:
        snprintf(buf, cap, "%s", *(char *const *)field ? *(char *const *)field : "");
        return;
    }
}

void hd_config_print(const hd_config_t *cfg, FILE *out)
{
    char section[64] = "";
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting_t *s = &settings[i];
        const char *dot = strchr(s->key, '.');
        const char *leaf = s->key;
        const char *indent = "";
        if (dot) {
            size_t sl = (size_t)(dot - s->key);
            if (strlen(section) != sl || strncmp(section, s->key, sl) != 0) {
                snprintf(section, sizeof(section), "%.*s", (int)sl, s->key);
                fprintf(out, "%s:\n", section);
            }
            leaf = dot + 1;
            indent = "  ";
        } else {
            section[0] = '\0';
        }
        fprintf(out, "%s%s:", indent, leaf);
        if (s->type == T_LIST) {
            if (cfg->manifest_count == 0)
                fprintf(out, " []\n");
            else
                fputc('\n', out);
            for (size_t j = 0; j < cfg->manifest_count; j++) {
                fprintf(out, "%s  - ", indent);
                print_quoted(out, cfg->manifests[j]);
                fputc('\n', out);
            }
            continue;
        }
        if (s->type == T_MAP) {
            fprintf(out, "%s\n", cfg->service_count ? "" : " {}");
            for (size_t j = 0; j < cfg->service_count; j++) {
                const char *eq = strchr(cfg->services[j], '=');
                fprintf(out, "%s  ", indent);
                char *k = hd_strndup(cfg->services[j], (size_t)(eq - cfg->services[j]));
                print_quoted(out, k ? k : "");
                hd_free(k);
                fputs(": ", out);
                print_quoted(out, eq + 1);
                fputc('\n', out);
            }
            continue;
        }
        fputc(' ', out);
        if (s->type == T_STRING || s->type == T_LISTEN) {
            /* Strings are printed whole, never through a fixed buffer. */
            const char *v = *(char *const *)((const char *)cfg + s->off);
            print_quoted(out, v ? v : "");
        } else {
            char buf[64];
            format_value(s, cfg, buf, sizeof(buf));
            fputs(buf, out);
        }
        fputc('\n', out);
    }
}

void hd_config_usage(FILE *out)
{
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting_t *s = &settings[i];
        char env[96];
        env_name(s, env, sizeof(env));
        fprintf(out, "  %-36s %s\n", s->key, env);
        fprintf(out, "      %s\n", s->desc);
        if (s->type == T_ENUM) {
            fprintf(out, "      one of:");
            for (int j = 0; s->names[j]; j++)
                fprintf(out, " %s", s->names[j]);
            fputc('\n', out);
        }
        if (s->type == T_UINT || s->type == T_SIZE)
            fprintf(out, "      bounds: %llu .. %llu\n", (unsigned long long)s->min,
                    (unsigned long long)s->max);
        if (s->type == T_DURATION)
            fprintf(out, "      bounds: %llu ms .. %llu ms\n", (unsigned long long)s->min,
                    (unsigned long long)s->max);
        fprintf(out, "      default: %s\n", *s->def ? s->def : "(none)");
    }
}
