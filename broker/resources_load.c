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
    hd_log(HD_LOG_INFO, "resources loaded from the store", "count", cnt, NULL);
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
    const char *path = arg;
    if (status)
        hd_log(HD_LOG_ERROR, "manifest applied but not stored", "file", path, "error",
               error ? error : hd_err_message(status), NULL);
}

static hd_err_t apply_file(hd_resources_t *r, const char *path)
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
    hd_log(HD_LOG_INFO, "manifest applied", "file", path, "resources", n, NULL);
    hd_resources__finish(r, batch, result, startup_done, (void *)path);
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

static hd_err_t apply_path(hd_resources_t *r, const char *path)
{
    struct stat st;
    if (stat(path, &st)) {
        hd_log(HD_LOG_ERROR, "manifest path does not exist", "path", path, NULL);
        return HD_E_CONFIG;
    }
    if (!S_ISDIR(st.st_mode))
        return apply_file(r, path);
    DIR *d = opendir(path);
    if (!d)
        return HD_E_CONFIG;
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
        if (rc == HD_E_OK)
            rc = apply_path(r, names[i]);
        hd_free(names[i]);
    }
    hd_free(names);
    return rc;
}

hd_err_t hd_resources__load_manifests(hd_resources_t *r, const char *const *paths, size_t n)
{
    hd_err_t rc = HD_E_OK;
    for (size_t i = 0; i < n && rc == HD_E_OK; i++)
        rc = apply_path(r, paths[i]);
    return rc;
}
