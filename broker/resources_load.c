/*
 * resources_load.c — what hd_resources_open reads (resources_internal.h): the resources stored
 * in the state (ids, uids, generations and status kept), then the configured manifest files and
 * folders (*.yaml, *.yml, *.json, in name order; an empty file is fine, a bad one stops start-up).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "resources_internal.h"

/* ---- the state store ------------------------------------------------------------------------ */

static bool load_one(void *arg, const char *key, const char *json, size_t len)
{
    hd_resources_t *r = arg;
    cJSON *doc = cJSON_ParseWithLength(json, len);
    char err[HD_RESOURCES__ERRCAP];
    prep_t p;
    if (!doc || hd_resources__prepare(r, doc, FROM_STORE, &p, err, sizeof err)) {
        hd_log(HD_LOG_ERROR, "stored resource could not be loaded; skipped", "key", key, "error",
               doc ? err : "malformed JSON", NULL);
        cJSON_Delete(doc);
        return true;
    }
    cJSON_Delete(doc);
    record_t *x;
    bool others = false;
    if (hd_resources__install(r, &p, &x, &others)) {
        hd_resources__prep_free(&p);
        hd_log(HD_LOG_ERROR, "out of memory loading resources", "key", key, NULL);
        return false;
    }
    return true;
}

hd_err_t hd_resources__load_state(hd_resources_t *r, hd_state_t *state)
{
    unsigned char be[4];
    if (hd_state_meta_get(state, "resources.next_id", be, sizeof be) == 4)
        r->next_id =
            ((uint32_t)be[0] << 24) | ((uint32_t)be[1] << 16) | ((uint32_t)be[2] << 8) | be[3];
    r->loading = true;
    hd_err_t rc = hd_state_resources_scan(state, "", load_one, r);
    r->loading = false;
    if (rc) {
        hd_log(HD_LOG_ERROR, "cannot read stored resources", "error", hd_err_message(rc), NULL);
        return HD_E_STORE;
    }
    hd_resources__refresh_all(r);
    char cnt[24];
    snprintf(cnt, sizeof cnt, "%zu", r->recs.count);
    hd_log(HD_LOG_INFO, "resources loaded from the store", HD_LOG_NUM("count"), cnt, NULL);
    return HD_E_OK;
}

/* ---- manifest files and folders ------------------------------------------------------------- */

static hd_err_t read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return HD_E_IO;
    size_t cap = 4096, n = 0;
    char *buf = hd_malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        if (cap >= (64u << 20)) { /* a manifest over 64 MiB is a mistake */
            hd_free(buf);
            buf = NULL;
            break;
        }
        char *nb = hd_realloc(buf, cap * 2);
        if (!nb) {
            hd_free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        hd_free(buf);
        return buf ? HD_E_IO : HD_E_TOOLARGE;
    }
    *out = buf;
    *len = n;
    return HD_E_OK;
}

static void startup_done(void *arg, hd_err_t status, cJSON *result, const char *error)
{
    (void)result;
    char *path = arg;
    if (status)
        hd_log(HD_LOG_ERROR, "manifest applied but not stored", "file", path ? path : "", "error",
               error ? error : hd_err_message(status), NULL);
    hd_free(path);
}

/* Keys (plural/ns/name) of what the manifest files applied. */
typedef struct {
    char **v;
    size_t n, cap;
    bool nomem;
} keys_t;

static void keys_add(keys_t *k, const char *key)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        char **v = hd_realloc(k->v, cap * sizeof *v);
        if (!v) {
            k->nomem = true;
            return;
        }
        k->v = v;
        k->cap = cap;
    }
    if (!(k->v[k->n] = hd_strdup(key)))
        k->nomem = true;
    else
        k->n++;
}

static bool keys_has(char *const *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], key))
            return true;
    return false;
}

/* Adds the key of every object of an apply result. */
static void keys_of_result(keys_t *k, const cJSON *result)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, result)
    {
        const hd_kind_info_t *ki = hd_resources_kind_lookup(hd_resources__jstr(o, "kind"));
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
        const char *ns = hd_resources__jstr(md, "namespace"),
                   *name = hd_resources__jstr(md, "name");
        if (!ki || !ns || !name)
            continue;
        char key[HD_RESOURCES__KEYCAP];
        hd_resources__key(key, sizeof key, ki->plural, ns, name);
        keys_add(k, key);
    }
}

/* A walk over the manifest paths: at start-up the first bad file stops it; a reload goes on. */
typedef struct {
    keys_t keys;
    bool keep_going;
    size_t failed;
} walk_t;

static hd_err_t apply_file(hd_resources_t *r, const char *path, walk_t *w)
{
    char *text;
    size_t len;
    hd_err_t rc = read_file(path, &text, &len);
    if (rc) {
        hd_log(HD_LOG_ERROR, "cannot read manifest", "file", path, "error", strerror(errno), NULL);
        return HD_E_CONFIG;
    }
    char err[HD_RESOURCES__APPLY_ERRCAP];
    cJSON *result = NULL;
    hd_state_txn_t *batch = NULL;
    rc = hd_resources__apply_sync(r, text, len, &result, &batch, err, sizeof err);
    hd_free(text);
    if (rc) {
        if (rc == HD_E_INVAL && !strcmp(err, "no documents found")) {
            return HD_E_OK; /* an empty file is fine */
        }
        hd_log(HD_LOG_ERROR, "bad manifest", "file", path, "error", err, NULL);
        return rc == HD_E_NOMEM ? rc : HD_E_CONFIG;
    }
    char n[16];
    snprintf(n, sizeof n, "%d", cJSON_GetArraySize(result));
    hd_log(HD_LOG_INFO, "manifest applied", "file", path, HD_LOG_NUM("resources"), n, NULL);
    keys_of_result(&w->keys, result);
    hd_resources__finish(r, batch, result, startup_done, hd_strdup(path));
    return HD_E_OK;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool manifest_ext(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' &&
           ((n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml")) ||
            (n > 5 && !strcmp(name + n - 5, ".json")));
}

/* Counts a failed file of a reload. */
static hd_err_t counted(walk_t *w, hd_err_t e)
{
    if (e && w->keep_going)
        w->failed++;
    return e;
}

static hd_err_t apply_path(hd_resources_t *r, const char *path, walk_t *w)
{
    struct stat st;
    if (stat(path, &st)) {
        hd_log(HD_LOG_ERROR, "manifest path does not exist", "path", path, NULL);
        return counted(w, HD_E_CONFIG);
    }
    if (!S_ISDIR(st.st_mode))
        return counted(w, apply_file(r, path, w));
    DIR *d = opendir(path);
    if (!d)
        return counted(w, HD_E_CONFIG);
    char **names = NULL;
    size_t n = 0, cap = 0;
    hd_err_t rc = HD_E_OK;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!manifest_ext(de->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = hd_realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = HD_E_NOMEM;
                break;
            }
            names = nn;
        }
        size_t l = strlen(path) + strlen(de->d_name) + 2;
        if (!(names[n] = hd_malloc(l))) {
            rc = HD_E_NOMEM;
            break;
        }
        snprintf(names[n++], l, "%s/%s", path, de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, str_cmp);
    for (size_t i = 0; i < n; i++) {
        if (rc == HD_E_OK || (w->keep_going && rc != HD_E_NOMEM)) {
            hd_err_t e = apply_path(r, names[i], w);
            if (e && rc == HD_E_OK)
                rc = e;
        }
        hd_free(names[i]);
    }
    hd_free(names);
    if (rc == HD_E_NOMEM)
        w->keys.nomem = true; /* a reload then prunes nothing */
    return rc;
}

/* Keeps the keys of what this load applied as what the next reload may prune. */
static void keep_keys(hd_resources_t *r, keys_t *k)
{
    hd_resources__manifest_keys_free(r);
    r->manifest_keys = k->v;
    r->manifest_nkeys = k->n;
    memset(k, 0, sizeof *k);
}

void hd_resources__manifest_keys_free(hd_resources_t *r)
{
    for (size_t i = 0; i < r->manifest_nkeys; i++)
        hd_free(r->manifest_keys[i]);
    hd_free(r->manifest_keys);
    r->manifest_keys = NULL;
    r->manifest_nkeys = 0;
}

hd_err_t hd_resources__load_manifests(hd_resources_t *r, const char *const *paths, size_t n)
{
    walk_t w = {0};
    hd_err_t rc = HD_E_OK;
    for (size_t i = 0; i < n && rc == HD_E_OK; i++)
        rc = apply_path(r, paths[i], &w);
    keep_keys(r, &w.keys);
    return rc;
}

static void pruned(void *arg, hd_err_t status, cJSON *result, const char *error)
{
    (void)result;
    char *key = arg;
    if (status)
        hd_log(HD_LOG_ERROR, "resource no longer in the manifests could not be pruned", "resource",
               key, "error", error ? error : hd_err_message(status), NULL);
    hd_free(key);
}

size_t hd_resources_reload_manifests(hd_resources_t *r, const char *const *paths, size_t n)
{
    walk_t w = {.keep_going = true};
    for (size_t i = 0; i < n; i++)
        apply_path(r, paths[i], &w);
    size_t npruned = 0;
    if (w.failed || w.keys.nomem) {
        /* What a bad file defined is unknown: prune nothing, and keep pruning what the last load
         * applied at the next reload. */
        for (size_t i = 0; i < r->manifest_nkeys; i++)
            if (!keys_has(w.keys.v, w.keys.n, r->manifest_keys[i]))
                keys_add(&w.keys, r->manifest_keys[i]);
        hd_log(HD_LOG_WARN, "a manifest failed: nothing pruned", NULL);
    } else {
        for (size_t i = 0; i < r->manifest_nkeys; i++) {
            const char *key = r->manifest_keys[i];
            if (keys_has(w.keys.v, w.keys.n, key))
                continue;
            /* plural/ns/name */
            char buf[HD_RESOURCES__KEYCAP];
            snprintf(buf, sizeof buf, "%s", key);
            char *s1 = strchr(buf, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
            if (!s2 || !hd_resources__find(r, key))
                continue; /* already deleted through the admin API */
            *s1 = *s2 = '\0';
            hd_log(HD_LOG_INFO, "pruning a resource no longer in the manifests", "resource", key,
                   NULL);
            hd_resources_delete(r, buf, s1 + 1, s2 + 1, pruned, hd_strdup(key));
            npruned++;
        }
    }
    char a[24], p[24], f[24];
    snprintf(a, sizeof a, "%zu", w.keys.n);
    snprintf(p, sizeof p, "%zu", npruned);
    snprintf(f, sizeof f, "%zu", w.failed);
    hd_log(w.failed ? HD_LOG_WARN : HD_LOG_INFO, "manifests reloaded", HD_LOG_NUM("resources"), a,
           HD_LOG_NUM("pruned"), p, HD_LOG_NUM("failed_files"), f, NULL);
    size_t failed = w.failed;
    keep_keys(r, &w.keys);
    return failed;
}
