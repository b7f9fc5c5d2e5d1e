/*
 * metrics.c — counters, gauges and histograms rendered in Prometheus text format 0.0.4
 * (hd_metrics.h).
 *
 * A series is a family (name, help, type) plus a label set. Series are found through a hash
 * table keyed by "name{labels}" and never freed before hd_metrics_free, so handles stay valid.
 * Updates are relaxed atomics on the series (any thread); creation and rendering take `mu`
 * (they are meant for the loop thread, the lock only makes a mistake harmless).
 */
#include "hd_metrics.h"
#include "hd_map.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Histogram upper bounds in seconds: 100 µs .. 30 s, then +Inf. */
static const double bucket_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                   0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
#define NBUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]))

typedef struct family family_t;

struct hd_metric {
    family_t *fam;
    char *labels;
    char *key;                              /* "name{labels}": hash key */
    hd_map_node_t node;                     /* in hd_metrics_t.table, under key */
    hd_metric_t *fnext;                     /* family list */
    _Atomic int64_t value;                  /* counter / gauge; histogram: count */
    _Atomic uint64_t buckets[NBUCKETS + 1]; /* not cumulative; last is +Inf */
    _Atomic uint64_t sum_ns;
    _Atomic bool hidden; /* forgotten (its resource deleted): not rendered until used again */
};

struct family {
    char *name;
    char *help;
    hd_metric_type_t type; /* *_MICRO types are counters/gauges of millionths */
    hd_metric_t *series;
    size_t nseries;
    family_t *next;
};

typedef struct {
    void (*fn)(void *arg);
    void *arg;
} render_cb_t;

struct hd_metrics {
    pthread_mutex_t mu;
    family_t *families;
    hd_map_t table; /* hd_metric_t by key */
    render_cb_t *cbs;
    size_t ncbs;
};

hd_metrics_t *hd_metrics_new(void)
{
    hd_metrics_t *m = hd_calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (hd_map_reserve(&m->table, 256) != HD_E_OK || pthread_mutex_init(&m->mu, NULL) != 0) {
        hd_map_free(&m->table);
        hd_free(m);
        return NULL;
    }
    return m;
}

void hd_metrics_free(hd_metrics_t *m)
{
    if (!m)
        return;
    family_t *f = m->families;
    while (f) {
        family_t *fn = f->next;
        hd_metric_t *s = f->series;
        while (s) {
            hd_metric_t *sn = s->fnext;
            hd_free(s->labels);
            hd_free(s->key);
            hd_free(s);
            s = sn;
        }
        hd_free(f->name);
        hd_free(f->help);
        hd_free(f);
        f = fn;
    }
    hd_map_free(&m->table);
    hd_free(m->cbs);
    pthread_mutex_destroy(&m->mu);
    hd_free(m);
}

static bool name_valid(const char *n)
{
    if (!n || !*n)
        return false;
    for (const char *p = n; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(p > n && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static hd_metric_t *get_or_create(hd_metrics_t *m, hd_metric_type_t type, const char *name,
                                  const char *help, const char *labels)
{
    if (!m || !name_valid(name))
        return NULL;
    if (!labels)
        labels = "";
    if (!help)
        help = "";
    size_t klen = strlen(name) + strlen(labels) + 3;
    char *key = hd_malloc(klen);
    if (!key)
        return NULL;
    snprintf(key, klen, "%s{%s}", name, labels);

    pthread_mutex_lock(&m->mu);
    hd_metric_t *s;
    hd_map_node_t *found = hd_map_find(&m->table, key, strlen(key));
    if (found) {
        s = hd_container_of(found, hd_metric_t, node);
        hd_free(key);
        if (s->fam->type == type && atomic_load_explicit(&s->hidden, memory_order_relaxed))
            atomic_store_explicit(&s->hidden, false, memory_order_relaxed); /* used again */
        pthread_mutex_unlock(&m->mu);
        return s->fam->type == type ? s : NULL; /* one name, one type */
    }
    family_t *f;
    for (f = m->families; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (f && f->type != type)
        goto fail;
    bool new_family = !f;
    if (new_family) {
        f = hd_calloc(1, sizeof(*f));
        if (!f)
            goto fail;
        f->name = hd_strdup(name);
        f->help = hd_strdup(help);
        f->type = type;
        if (!f->name || !f->help) {
            hd_free(f->name);
            hd_free(f->help);
            hd_free(f);
            goto fail;
        }
    }
    s = hd_calloc(1, sizeof(*s));
    if (!s)
        goto fail_family;
    s->labels = hd_strdup(labels);
    if (!s->labels) {
        hd_free(s);
        goto fail_family;
    }
    s->key = key;
    s->fam = f;
    if (new_family) {
        f->next = m->families;
        m->families = f;
    }
    s->fnext = f->series;
    f->series = s;
    f->nseries++;
    (void)hd_map_reserve(&m->table, 256); /* a failed grow only makes chains longer */
    hd_map_link(&m->table, &s->node, s->key, strlen(s->key));
    pthread_mutex_unlock(&m->mu);
    return s;

fail_family:
    if (new_family) {
        hd_free(f->name);
        hd_free(f->help);
        hd_free(f);
    }
fail:
    pthread_mutex_unlock(&m->mu);
    hd_free(key);
    return NULL;
}

/* A label name: [a-zA-Z_][a-zA-Z0-9_]* (names starting "__" are Prometheus's; not checked). */
static bool label_name_valid(const char *n)
{
    if (!n || !*n)
        return false;
    for (const char *p = n; *p; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(p > n && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

/* Appends `s` escaped as a label value (text format 0.0.4: backslash, quote, newline). */
static char *escape_into(char *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') {
            *o++ = '\\';
            *o++ = *s;
        } else if (*s == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else {
            *o++ = *s;
        }
    }
    return o;
}

/* The label text of key/value pairs ('k="v",k2="v2"'), owned (hd_free); NULL when a key is
 * invalid, a value missing, or out of memory. */
static char *labels_text(const char *const *kv)
{
    size_t need = 1;
    size_t i = 0;
    for (; kv[i]; i += 2) {
        if (!label_name_valid(kv[i]) || !kv[i + 1])
            return NULL;
        need += strlen(kv[i]) + 2 * strlen(kv[i + 1]) + 4; /* k="v", with every byte escaped */
    }
    char *out = hd_malloc(need);
    if (!out)
        return NULL;
    char *o = out;
    for (i = 0; kv[i]; i += 2) {
        if (i)
            *o++ = ',';
        size_t kl = strlen(kv[i]);
        memcpy(o, kv[i], kl);
        o += kl;
        *o++ = '=';
        *o++ = '"';
        o = escape_into(o, kv[i + 1]);
        *o++ = '"';
    }
    *o = '\0';
    return out;
}

hd_metric_t *hd_metrics__get(hd_metrics_t *m, hd_metric_type_t type, const char *name,
                             const char *help, const char *const *labels)
{
    if (!labels || !labels[0])
        return get_or_create(m, type, name, help, "");
    if (!labels[1]) {
        /* one preformatted constant string; a lone key is a pair whose value is missing */
        if (*labels[0] && !strchr(labels[0], '='))
            return NULL;
        return get_or_create(m, type, name, help, labels[0]);
    }
    char *text = labels_text(labels);
    if (!text)
        return NULL;
    hd_metric_t *s = get_or_create(m, type, name, help, text);
    hd_free(text);
    return s;
}

/* An update brings a forgotten series back (a holder still using it is alive). */
static inline void unhide(hd_metric_t *s)
{
    if (atomic_load_explicit(&s->hidden, memory_order_relaxed))
        atomic_store_explicit(&s->hidden, false, memory_order_relaxed);
}

void hd_metric_inc(hd_metric_t *c, uint64_t n)
{
    if (c && c->fam->type != HD_METRIC_HISTOGRAM) {
        atomic_fetch_add_explicit(&c->value, (int64_t)n, memory_order_relaxed);
        unhide(c);
    }
}

void hd_metric_set(hd_metric_t *g, int64_t v)
{
    if (g && g->fam->type != HD_METRIC_HISTOGRAM) {
        atomic_store_explicit(&g->value, v, memory_order_relaxed);
        unhide(g);
    }
}

void hd_metric_observe(hd_metric_t *h, double seconds)
{
    if (!h || h->fam->type != HD_METRIC_HISTOGRAM)
        return;
    if (!(seconds >= 0)) /* negative or NaN: a clock step, count it as 0 */
        seconds = 0;
    size_t i = 0;
    while (i < NBUCKETS && seconds > bucket_le[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    double ns = seconds * 1e9 + 0.5;
    atomic_fetch_add_explicit(&h->sum_ns, ns >= 1.8e19 ? UINT64_MAX / 2 : (uint64_t)ns,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&h->value, 1, memory_order_relaxed);
    unhide(h);
}

int64_t hd_metric_value(const hd_metric_t *m)
{
    if (!m)
        return 0;
    return atomic_load_explicit(&((hd_metric_t *)m)->value, memory_order_relaxed);
}

/* Whether the label text `labels` holds the pair text `pair` (k="v", escaped) as a whole
 * element. Values cannot hold an unescaped quote, so a match is always a real pair. */
static bool labels_have(const char *labels, const char *pair, size_t plen)
{
    for (const char *p = labels; (p = strstr(p, pair)) != NULL; p++)
        if ((p == labels || p[-1] == ',') && (p[plen] == ',' || p[plen] == '\0'))
            return true;
    return false;
}

size_t hd_metrics__forget(hd_metrics_t *m, const char *const *kv)
{
    if (!m || !kv || !kv[0])
        return 0;
    /* each pair as its own label text, to look for in every series' labels */
    char *pairs[8];
    size_t np = 0;
    for (size_t i = 0; kv[i] && np < 8; i += 2) {
        const char *one[] = {kv[i], kv[i + 1], NULL};
        if (!kv[i + 1] || !(pairs[np] = labels_text(one))) {
            for (size_t k = 0; k < np; k++)
                hd_free(pairs[k]);
            return 0;
        }
        np++;
    }
    size_t n = 0;
    pthread_mutex_lock(&m->mu);
    for (family_t *f = m->families; f; f = f->next)
        for (hd_metric_t *s = f->series; s; s = s->fnext) {
            bool all = true;
            for (size_t k = 0; k < np && all; k++)
                all = labels_have(s->labels, pairs[k], strlen(pairs[k]));
            if (!all || atomic_load_explicit(&s->hidden, memory_order_relaxed))
                continue;
            /* kept (handles stay valid) but hidden, and zeroed for a resource made again */
            atomic_store_explicit(&s->hidden, true, memory_order_relaxed);
            atomic_store_explicit(&s->value, 0, memory_order_relaxed);
            atomic_store_explicit(&s->sum_ns, 0, memory_order_relaxed);
            for (size_t b = 0; b <= NBUCKETS; b++)
                atomic_store_explicit(&s->buckets[b], 0, memory_order_relaxed);
            n++;
        }
    pthread_mutex_unlock(&m->mu);
    for (size_t k = 0; k < np; k++)
        hd_free(pairs[k]);
    return n;
}

hd_err_t hd_metrics_on_render(hd_metrics_t *m, void (*fn)(void *arg), void *arg)
{
    if (!m || !fn)
        return HD_E_INVAL;
    pthread_mutex_lock(&m->mu);
    render_cb_t *n = hd_realloc(m->cbs, (m->ncbs + 1) * sizeof(*n));
    if (!n) {
        pthread_mutex_unlock(&m->mu);
        return HD_E_NOMEM;
    }
    n[m->ncbs].fn = fn;
    n[m->ncbs].arg = arg;
    m->cbs = n;
    m->ncbs++;
    pthread_mutex_unlock(&m->mu);
    return HD_E_OK;
}

void hd_metrics_off_render(hd_metrics_t *m, void (*fn)(void *arg), void *arg)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->ncbs; i++) {
        if (m->cbs[i].fn == fn && m->cbs[i].arg == arg) {
            memmove(&m->cbs[i], &m->cbs[i + 1], (m->ncbs - i - 1) * sizeof(*m->cbs));
            m->ncbs--;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
}

/* ---- rendering --------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} out_t;

static void out_reserve(out_t *o, size_t more)
{
    if (o->oom || o->len + more + 1 <= o->cap)
        return;
    size_t nc = o->cap ? o->cap : 4096;
    while (nc < o->len + more + 1)
        nc *= 2;
    char *n = hd_realloc(o->buf, nc);
    if (!n) {
        o->oom = true;
        return;
    }
    o->buf = n;
    o->cap = nc;
}

static void out_puts(out_t *o, const char *s)
{
    size_t n = strlen(s);
    out_reserve(o, n);
    if (o->oom)
        return;
    memcpy(o->buf + o->len, s, n + 1);
    o->len += n;
}

static void out_printf(out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(out_t *o, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        out_puts(o, tmp);
        return;
    }
    out_reserve(o, (size_t)n);
    if (o->oom)
        return;
    va_start(ap, fmt);
    vsnprintf(o->buf + o->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->len += (size_t)n;
}

/* HELP text escaping of the text format: backslash and newline. */
static void out_help(out_t *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            out_puts(o, "\\\\");
        else if (*s == '\n')
            out_puts(o, "\\n");
        else {
            char c[2] = {*s, 0};
            out_puts(o, c);
        }
    }
}

/* `name_suffix{labels[,extra]} ` */
static void out_series(out_t *o, const char *name, const char *suffix, const char *labels,
                       const char *extra)
{
    out_puts(o, name);
    out_puts(o, suffix);
    bool has_l = labels && *labels, has_e = extra && *extra;
    if (has_l || has_e) {
        out_puts(o, "{");
        if (has_l)
            out_puts(o, labels);
        if (has_l && has_e)
            out_puts(o, ",");
        if (has_e)
            out_puts(o, extra);
        out_puts(o, "}");
    }
    out_puts(o, " ");
}

static int cmp_family(const void *a, const void *b)
{
    return strcmp((*(family_t *const *)a)->name, (*(family_t *const *)b)->name);
}

static int cmp_series(const void *a, const void *b)
{
    return strcmp((*(hd_metric_t *const *)a)->labels, (*(hd_metric_t *const *)b)->labels);
}

static void render_family(out_t *o, family_t *f, hd_metric_t **tmp)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram", "counter", "gauge"};
    size_t n = 0;
    for (hd_metric_t *s = f->series; s; s = s->fnext)
        if (!atomic_load_explicit(&s->hidden, memory_order_relaxed))
            tmp[n++] = s;
    if (n == 0)
        return; /* every series forgotten: no family either */
    out_printf(o, "# HELP %s ", f->name);
    out_help(o, f->help);
    out_printf(o, "\n# TYPE %s %s\n", f->name, type_names[f->type]);
    qsort(tmp, n, sizeof(*tmp), cmp_series);
    for (size_t i = 0; i < n; i++) {
        hd_metric_t *s = tmp[i];
        long long v = (long long)atomic_load_explicit(&s->value, memory_order_relaxed);
        if (f->type == HD_METRIC_COUNTER_MICRO || f->type == HD_METRIC_GAUGE_MICRO) {
            out_series(o, f->name, "", s->labels, NULL);
            unsigned long long a = (unsigned long long)(v < 0 ? -v : v);
            out_printf(o, "%s%llu.%06llu\n", v < 0 ? "-" : "", a / 1000000u, a % 1000000u);
            continue;
        }
        if (f->type != HD_METRIC_HISTOGRAM) {
            out_series(o, f->name, "", s->labels, NULL);
            out_printf(o, "%lld\n", v);
            continue;
        }
        /* Read the buckets once; count is their total so the lines agree with each other. */
        uint64_t cum = 0;
        for (size_t b = 0; b <= NBUCKETS; b++) {
            cum += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
            char le[40];
            if (b < NBUCKETS)
                snprintf(le, sizeof(le), "le=\"%g\"", bucket_le[b]);
            else
                snprintf(le, sizeof(le), "le=\"+Inf\"");
            out_series(o, f->name, "_bucket", s->labels, le);
            out_printf(o, "%llu\n", (unsigned long long)cum);
        }
        uint64_t ns = atomic_load_explicit(&s->sum_ns, memory_order_relaxed);
        char sum[48];
        int sl = snprintf(sum, sizeof(sum), "%llu.%09llu", (unsigned long long)(ns / 1000000000u),
                          (unsigned long long)(ns % 1000000000u));
        while (sl > 0 && sum[sl - 1] == '0')
            sum[--sl] = '\0';
        if (sl > 0 && sum[sl - 1] == '.')
            sum[--sl] = '\0';
        out_series(o, f->name, "_sum", s->labels, NULL);
        out_printf(o, "%s\n", sum);
        out_series(o, f->name, "_count", s->labels, NULL);
        out_printf(o, "%llu\n", (unsigned long long)cum);
    }
}

char *hd_metrics_render(hd_metrics_t *m, size_t *len)
{
    if (!m)
        return NULL;
    /* The callbacks set gauges (through handles, maybe creating series): run them unlocked. */
    pthread_mutex_lock(&m->mu);
    size_t ncbs = m->ncbs;
    render_cb_t *cbs = ncbs ? hd_malloc(ncbs * sizeof(*cbs)) : NULL;
    if (cbs)
        memcpy(cbs, m->cbs, ncbs * sizeof(*cbs));
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; cbs && i < ncbs; i++)
        cbs[i].fn(cbs[i].arg);
    hd_free(cbs);

    out_t o = {0};
    pthread_mutex_lock(&m->mu);
    size_t nf = 0, maxs = 0;
    for (family_t *f = m->families; f; f = f->next) {
        nf++;
        if (f->nseries > maxs)
            maxs = f->nseries;
    }
    family_t **fams = hd_malloc((nf ? nf : 1) * sizeof(*fams));
    hd_metric_t **tmp = hd_malloc((maxs ? maxs : 1) * sizeof(*tmp));
    if (!fams || !tmp) {
        o.oom = true;
    } else {
        size_t i = 0;
        for (family_t *f = m->families; f; f = f->next)
            fams[i++] = f;
        qsort(fams, nf, sizeof(*fams), cmp_family);
        out_reserve(&o, 0);
        if (!o.oom)
            o.buf[0] = '\0';
        for (i = 0; i < nf && !o.oom; i++)
            render_family(&o, fams[i], tmp);
    }
    pthread_mutex_unlock(&m->mu);
    hd_free(fams);
    hd_free(tmp);
    if (o.oom) {
        hd_free(o.buf);
        return NULL;
    }
    if (len)
        *len = o.len;
    return o.buf;
}
