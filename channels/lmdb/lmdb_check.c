/*
 * lmdb_check.c — `heraldd --check`: walks every database of a store and every record in it,
 * reports what it found, and modifies nothing.
 *
 * Before anything is mapped, data.mdb's size is compared with its meta pages (lmdb_guard.c).
 * Each database is then walked in a child process of its own: liblmdb trusts its B-tree pages,
 * and random bytes in a branch or leaf page can crash it; a child killed by a signal is reported
 * as a damaged database (and the other databases are still checked) instead of taking the check
 * down with it. Without a running heraldd the environment is opened MDB_RDONLY | MDB_NOLOCK, so
 * not even lock.mdb is written; while one runs (heraldd.lock is held) the check reads a
 * snapshot through LMDB's reader table like any reader.
 */
#include "lmdb_guard.h"
#include "lmdb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#define SHOW_MAX 20 /* problems listed per database; the rest are counted */

typedef struct {
    FILE *out;
    const char *db;
    uint64_t problems;
} walk_t;

static void problem(walk_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(walk_t *w, const char *fmt, ...)
{
    if (w->problems++ < SHOW_MAX) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(w->out, "  %s: ", w->db);
        vfprintf(w->out, fmt, ap);
        fputc('\n', w->out);
        va_end(ap);
    }
}

static bool printable(const void *p, size_t n)
{
    const uint8_t *s = p;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return n > 0;
}

typedef struct {
    uint32_t id;
    uint64_t first, last, n;
} log_seen_t;

static void walk_events(walk_t *w, MDB_txn *txn, MDB_cursor *c, MDB_dbi meta, bool legacy_ok)
{
    log_seen_t logs[256];
    size_t nlogs = 0, more_logs = 0;
    uint64_t n = 0, legacy = 0;
    MDB_val k, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        n++;
        if (k.mv_size != 12) {
            problem(w, "key of %zu bytes (want 12)", k.mv_size);
            continue;
        }
        uint32_t id = hd_lmdb__get_u32(k.mv_data);
        uint64_t seq = hd_lmdb__get_u64((uint8_t *)k.mv_data + 4), wall;
        ce_event_t *ev = NULL;
        bool nomem;
        const char *why = hd_lmdb__rec_decode(v.mv_data, v.mv_size, legacy_ok, &wall, &ev, &nomem);
        ce_event_free(ev);
        if (why)
            problem(w, "log %u seq %llu: %s", id, (unsigned long long)seq, why);
        else if (((const uint8_t *)v.mv_data)[0] == 0)
            legacy++;
        log_seen_t *l = nlogs ? &logs[nlogs - 1] : NULL;
        if (!l || l->id != id) {
            if (nlogs == sizeof(logs) / sizeof(logs[0])) {
                more_logs++;
                continue;
            }
            l = &logs[nlogs++];
            l->id = id;
            l->first = seq;
            l->n = 0;
        }
        l->last = seq;
        l->n++;
    }
    if (rc != MDB_NOTFOUND)
        problem(w, "walk stopped: %s", mdb_strerror(rc));
    fprintf(w->out, "events: %llu records in %zu logs", (unsigned long long)n, nlogs + more_logs);
    if (legacy)
        fprintf(w->out, " (%llu written before checksums, decoded only)",
                (unsigned long long)legacy);
    fprintf(w->out, "\n");
    for (size_t i = 0; i < nlogs; i++) {
        hd_lmdb__log_rec_t rec;
        bool have = hd_lmdb__log_rec_read(txn, meta, logs[i].id, &rec);
        fprintf(w->out, "  log %u: seq %llu..%llu, %llu events\n", logs[i].id,
                (unsigned long long)logs[i].first, (unsigned long long)logs[i].last,
                (unsigned long long)logs[i].n);
        if (!have)
            problem(w, "log %u: no record in meta", logs[i].id);
        else if (rec.last < logs[i].last || rec.hw < logs[i].last)
            problem(w, "log %u: meta says last seq %llu, events go to %llu", logs[i].id,
                    (unsigned long long)rec.last, (unsigned long long)logs[i].last);
        else if (rec.count != logs[i].n)
            problem(w, "log %u: meta counts %llu events, %llu stored", logs[i].id,
                    (unsigned long long)rec.count, (unsigned long long)logs[i].n);
    }
}

static void walk_other(walk_t *w, MDB_cursor *c)
{
    uint64_t n = 0;
    MDB_val k, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        n++;
        const uint8_t *val = v.mv_data;
        if (strcmp(w->db, "cursors") == 0) {
            if (k.mv_size != 4 || v.mv_size != 8)
                problem(w, "record of %zu+%zu bytes (want 4+8)", k.mv_size, v.mv_size);
        } else if (strcmp(w->db, "pending") == 0) {
            if (k.mv_size != 12 || v.mv_size < 16 || v.mv_size > 16 + HD_LMDB_PENDING_BODY_MAX)
                problem(w, "record of %zu+%zu bytes (want 12 + 16..%u)", k.mv_size, v.mv_size,
                        16 + HD_LMDB_PENDING_BODY_MAX);
        } else if (strcmp(w->db, "dead") == 0) {
            if (k.mv_size != 12 || v.mv_size < 12)
                problem(w, "record of %zu+%zu bytes (want 12 + at least 12)", k.mv_size, v.mv_size);
        } else if (strcmp(w->db, "resources") == 0) {
            size_t e = v.mv_size;
            while (e > 0 && (val[e - 1] == '\n' || val[e - 1] == ' '))
                e--;
            if (!printable(k.mv_data, k.mv_size) || !memchr(k.mv_data, '/', k.mv_size))
                problem(w, "record %llu: key is not kind/namespace/name", (unsigned long long)n);
            else if (e < 2 || val[0] != '{' || val[e - 1] != '}' ||
                     !ce_utf8_valid((const char *)val, v.mv_size))
                problem(w, "%.*s: not a JSON object", (int)k.mv_size, (const char *)k.mv_data);
        } else if (strcmp(w->db, "meta") == 0) {
            if (!printable(k.mv_data, k.mv_size)) {
                problem(w, "record %llu: key is not printable", (unsigned long long)n);
            } else if (k.mv_size > strlen(HD_LMDB_META_LOG_PREFIX) &&
                       memcmp(k.mv_data, HD_LMDB_META_LOG_PREFIX,
                              strlen(HD_LMDB_META_LOG_PREFIX)) == 0 &&
                       v.mv_size != 24) {
                problem(w, "%.*s: %zu bytes (want 24)", (int)k.mv_size, (const char *)k.mv_data,
                        v.mv_size);
            }
        }
    }
    if (rc != MDB_NOTFOUND)
        problem(w, "walk stopped: %s", mdb_strerror(rc));
    fprintf(w->out, "%s: %llu records\n", w->db, (unsigned long long)n);
}

/* The child's work: opens the environment, walks one database. Exit status: problems > 0. */
static int walk_one(const char *data_dir, bool nolock, const char *db, FILE *out)
{
    walk_t w = {out, db, 0};
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi, meta;
    int rc = mdb_env_create(&env);
    if (!rc)
        rc = mdb_env_set_maxdbs(env, 8);
    if (!rc)
        rc = mdb_env_open(env, data_dir, MDB_RDONLY | MDB_NOTLS | (nolock ? MDB_NOLOCK : 0), 0600);
    if (!rc)
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        fprintf(out, "%s: cannot open the environment: %s\n", db, mdb_strerror(rc));
        return 2;
    }
    rc = mdb_dbi_open(txn, "meta", 0, &meta);
    if (rc) {
        fprintf(out, "%s: cannot open the meta database (%s): the main B-tree is damaged\n", db,
                mdb_strerror(rc));
        return 1;
    }
    rc = mdb_dbi_open(txn, db, 0, &dbi);
    if (rc) {
        problem(&w, "database missing (%s)", mdb_strerror(rc));
        fprintf(out, "%s: 0 records\n", db);
        return 1;
    }
    MDB_cursor *c;
    if (mdb_cursor_open(txn, dbi, &c) != 0) {
        fprintf(out, "%s: cannot open a cursor\n", db);
        return 1;
    }
    if (strcmp(db, "events") == 0) {
        MDB_val rk = {strlen(HD_LMDB_META_RECORDS), HD_LMDB_META_RECORDS}, rv;
        bool legacy_ok = mdb_get(txn, meta, &rk, &rv) == MDB_NOTFOUND;
        walk_events(&w, txn, c, meta, legacy_ok);
    } else {
        walk_other(&w, c);
    }
    if (w.problems > SHOW_MAX)
        fprintf(out, "  %s: ... and %llu more problems\n", db,
                (unsigned long long)(w.problems - SHOW_MAX));
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return w.problems ? 1 : 0;
}

int hd_lmdb_check(const char *data_dir, FILE *out)
{
    char data[4200], marker[4200], lock[4200];
    snprintf(data, sizeof(data), "%s/data.mdb", data_dir);
    snprintf(marker, sizeof(marker), "%s/" HD_LMDB_MARKER, data_dir);
    snprintf(lock, sizeof(lock), "%s/heraldd.lock", data_dir);
    bool marked = access(marker, F_OK) == 0;
    fprintf(out, "store: %s (%s)\n", data_dir,
            marked ? "marked initialised by herald.id" : "no herald.id marker");

    hd_lmdb__file_meta_t m;
    const char *why;
    hd_err_t e = hd_lmdb__file_meta(data, &m, &why);
    if (e != HD_E_OK) {
        fprintf(out, "data.mdb: %s: %s (file %llu bytes", data, why ? why : hd_err_message(e),
                (unsigned long long)m.file_bytes);
        if (m.needed_bytes)
            fprintf(out, ", its meta page says %llu", (unsigned long long)m.needed_bytes);
        fprintf(out, ")\ncheck: could not open the store\n");
        return 2;
    }
    fprintf(out,
            "data.mdb: %llu bytes, page size %u, last page %llu (needs %llu bytes), txn %llu, "
            "%d of 2 meta pages valid\n",
            (unsigned long long)m.file_bytes, m.page_size, (unsigned long long)m.last_page,
            (unsigned long long)m.needed_bytes, (unsigned long long)m.txnid, m.metas_valid);
    uint64_t problems = m.metas_valid == 2 ? 0 : 1;

    /* heraldd holds heraldd.lock while it runs: then read through LMDB's reader table */
    bool nolock = true;
    int lfd = open(lock, O_RDWR | O_CLOEXEC);
    if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) != 0) {
        nolock = false;
        fprintf(out, "note: a heraldd is running on this data_dir; checking a snapshot\n");
    }

    static const char *const dbs[] = {"events", "cursors", "pending", "dead", "resources", "meta"};
    bool could_not_open = false;
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
        fflush(out);
        pid_t pid = fork();
        if (pid < 0) {
            fprintf(out, "%s: cannot fork: %s\n", dbs[i], strerror(errno));
            problems++;
            continue;
        }
        if (pid == 0) {
            int r = walk_one(data_dir, nolock, dbs[i], out);
            fflush(out);
            _exit(r);
        }
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        if (WIFSIGNALED(st)) {
            fprintf(out,
                    "%s: liblmdb crashed reading it (signal %d, %s): its B-tree pages are "
                    "damaged\n",
                    dbs[i], WTERMSIG(st), strsignal(WTERMSIG(st)));
            problems++;
        } else if (WIFEXITED(st) && WEXITSTATUS(st) == 2) {
            could_not_open = true;
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            problems++;
        }
    }
    if (lfd >= 0)
        close(lfd); /* releases the flock, if taken */
    if (could_not_open && problems == 0) {
        fprintf(out, "check: could not open the store\n");
        return 2;
    }
    if (problems) {
        fprintf(out, "check: problems found\n");
        return 1;
    }
    fprintf(out, "check: clean\n");
    return 0;
}
