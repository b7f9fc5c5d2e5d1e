/*
 * lmdb_env.c — the LMDB backend's environment: open and close (data_dir lock, schema version,
 * the named databases), read transactions, map growth, pre-zeroing, and the statistics published
 * on /metrics. The room checks that refuse appends near the cap are in lmdb_space.c.
 */
#include "lmdb_guard.h"
#include "lmdb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

hd_err_t hd_lmdb__err(int rc)
{
    switch (rc) {
    case 0:
        return HD_E_OK;
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return HD_E_FULL; /* disk, quota or file-size limit: nothing was written */
    case ENOMEM:
        return HD_E_NOMEM;
    case EIO:
        return HD_E_IO;
    case MDB_NOTFOUND:
        return HD_E_NOTFOUND;
    default:
        return HD_E_STORE;
    }
}

/* Doubles the map (up to map_size_max). Returns true when it grew. Writer thread, no txn. */
bool hd_lmdb__grow_map(hd_lmdb_t *lm)
{
    MDB_envinfo info;
    if (mdb_env_info(lm->env, &info) != 0)
        return false;
    uint64_t cur = info.me_mapsize;
    if (cur >= lm->opts.map_size_max)
        return false;
    uint64_t want = cur * 2;
    if (want > lm->opts.map_size_max || want < cur)
        want = lm->opts.map_size_max;
    pthread_rwlock_wrlock(&lm->map_lock);
    int rc = mdb_env_set_mapsize(lm->env, (size_t)want);
    pthread_rwlock_unlock(&lm->map_lock);
    if (rc) {
        hd_log(HD_LOG_ERROR, "store: cannot grow the map", "path", lm->data_dir, "error",
               mdb_strerror(rc), NULL);
        return false;
    }
    char a[32], b[32];
    snprintf(a, sizeof(a), "%llu", (unsigned long long)cur);
    snprintf(b, sizeof(b), "%llu", (unsigned long long)want);
    hd_log(HD_LOG_INFO, "store: map grown", HD_LOG_NUM("from_bytes"), a, HD_LOG_NUM("to_bytes"), b,
           NULL);
    return true;
}

/*
 * fsync mode: keeps real zero blocks ahead of LMDB's last page in data.mdb, so that a commit's
 * pages overwrite allocated blocks instead of extending the file. An append makes fdatasync
 * commit the filesystem journal too (new size and extents); an overwrite only writes the data
 * and flushes the disk cache. Writer thread, between transactions: every byte past LMDB's last
 * page belongs to no committed or running transaction, so the zeros overwrite nothing live
 * (LMDB never reads past its last page, and sizes its map from the meta page, not the file).
 * The zeros need no sync of their own: the next commit's fdatasync carries them, like any data
 * it needs to read its pages back. Writes PREZERO_CHUNK at a time, bounded by the map size.
 */
#define PREZERO_AHEAD (2u << 20)
#define PREZERO_CHUNK (256u << 10)
void hd_lmdb__prezero(hd_lmdb_t *lm)
{
    static const uint8_t zeros[64 << 10];
    MDB_envinfo info;
    MDB_stat stat;
    int fd;
    if (lm->zero_off || mdb_env_info(lm->env, &info) != 0 || mdb_env_stat(lm->env, &stat) != 0 ||
        mdb_env_get_fd(lm->env, &fd) != 0)
        return;
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * stat.ms_psize;
    if (lm->zero_end >= used + PREZERO_AHEAD)
        return;
    uint64_t off = lm->zero_end > used ? lm->zero_end : used;
    uint64_t end = off + PREZERO_CHUNK;
    if (end > info.me_mapsize)
        end = info.me_mapsize;
    while (off < end) {
        size_t n = end - off < sizeof(zeros) ? (size_t)(end - off) : sizeof(zeros);
        ssize_t w = pwrite(fd, zeros, n, (off_t)off);
        if (w <= 0) {
            lm->zero_off = true; /* disk full or similar: LMDB reports its own errors */
            break;
        }
        off += (uint64_t)w;
    }
    lm->zero_end = off;
}

/*
 * LMDB reports a short pwrite as EIO, which is what a full disk (or a file-size limit) gives
 * when the write starts with some room left. Tell that apart from a real I/O error by looking
 * at the room: free space, and RLIMIT_FSIZE against the file's size, each with the batch.
 */
bool hd_lmdb__out_of_space(hd_lmdb_t *lm, size_t batch_bytes)
{
    uint64_t need = (uint64_t)batch_bytes * 2 + (1u << 20);
    struct statvfs vfs;
    if (statvfs(lm->data_dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < need)
        return true;
    struct rlimit rl;
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/data.mdb", lm->data_dir);
    if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && stat(path, &sb) == 0 &&
        (uint64_t)sb.st_size + need > (uint64_t)rl.rlim_cur)
        return true;
    return false;
}

/* ---- reads ------------------------------------------------------------------------------- */

/* Starts a read call: returns a live read txn (the reusable one, or a fresh one when nested
 * inside another read call's callback). Pair with hd_lmdb__read_end. NULL on error. */
MDB_txn *hd_lmdb__read_begin(hd_lmdb_t *lm)
{
    pthread_rwlock_rdlock(&lm->map_lock);
    MDB_txn *txn = NULL;
    int rc;
    if (lm->read_depth == 0 && lm->rtxn) {
        rc = mdb_txn_renew(lm->rtxn);
        txn = rc ? NULL : lm->rtxn;
    } else {
        rc = mdb_txn_begin(lm->env, NULL, MDB_RDONLY, &txn);
        if (rc)
            txn = NULL;
    }
    if (!txn) {
        pthread_rwlock_unlock(&lm->map_lock);
        hd_log(HD_LOG_ERROR, "store: cannot start a read", "error", mdb_strerror(rc), NULL);
        return NULL;
    }
    lm->read_depth++;
    return txn;
}

void hd_lmdb__read_end(hd_lmdb_t *lm, MDB_txn *txn)
{
    lm->read_depth--;
    if (txn == lm->rtxn)
        mdb_txn_reset(txn);
    else
        mdb_txn_abort(txn);
    pthread_rwlock_unlock(&lm->map_lock);
}
void hd_lmdb_stats(hd_lmdb_t *lm, hd_lmdb_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!lm)
        return;
    /* mdb_env_info reads the meta pages inside the map: keep the map in place meanwhile. */
    pthread_rwlock_rdlock(&lm->map_lock);
    MDB_envinfo info;
    MDB_stat stat;
    if (mdb_env_info(lm->env, &info) == 0 && mdb_env_stat(lm->env, &stat) == 0) {
        out->map_size = info.me_mapsize;
        out->map_used = (uint64_t)(info.me_last_pgno + 1) * stat.ms_psize;
    }
    pthread_rwlock_unlock(&lm->map_lock);
    out->map_max = lm->opts.map_size_max;
    pthread_mutex_lock(&lm->mu);
    out->queue_depth = lm->q_len;
    pthread_mutex_unlock(&lm->mu);
    out->commits = atomic_load_explicit(&lm->st_commits, memory_order_relaxed);
    out->batches = atomic_load_explicit(&lm->st_batches, memory_order_relaxed);
    out->fsyncs = atomic_load_explicit(&lm->st_fsyncs, memory_order_relaxed);
    out->refused_busy = atomic_load_explicit(&lm->st_busy, memory_order_relaxed);
    out->failed_full = atomic_load_explicit(&lm->st_full, memory_order_relaxed);
    out->failed_other = atomic_load_explicit(&lm->st_other, memory_order_relaxed);
    out->corrupt_records = atomic_load_explicit(&lm->st_corrupt, memory_order_relaxed);
    out->capacity = atomic_load_explicit(&lm->st_capacity, memory_order_relaxed);
    out->reserve = atomic_load_explicit(&lm->st_reserve, memory_order_relaxed);
    out->full = atomic_load_explicit(&lm->space_full, memory_order_relaxed);
}

static void store_render(void *arg)
{
    hd_lmdb_t *lm = arg;
    hd_lmdb_stats_t s;
    hd_lmdb_stats(lm, &s);
    hd_metric_set(lm->m_map_used, (int64_t)s.map_used);
    hd_metric_set(lm->m_map_size, (int64_t)s.map_size);
    hd_metric_set(lm->m_map_max, (int64_t)s.map_max);
    hd_metric_set(lm->m_queue, (int64_t)s.queue_depth);
    hd_metric_set(lm->m_commits, (int64_t)s.commits);
    hd_metric_set(lm->m_batches, (int64_t)s.batches);
    hd_metric_set(lm->m_fsyncs, (int64_t)s.fsyncs);
    hd_metric_set(lm->m_busy, (int64_t)s.refused_busy);
    hd_metric_set(lm->m_full, (int64_t)s.failed_full);
    hd_metric_set(lm->m_other, (int64_t)s.failed_other);
    hd_metric_set(lm->m_corrupt, (int64_t)s.corrupt_records);
    hd_metric_set(lm->m_capacity, (int64_t)s.capacity);
    hd_metric_set(lm->m_reserve, (int64_t)s.reserve);
    hd_metric_set(lm->m_is_full, s.full ? 1 : 0);
}

hd_err_t hd_lmdb_metrics_attach(hd_lmdb_t *lm, hd_metrics_t *m)
{
    if (!lm || !m || lm->metrics)
        return HD_E_INVAL;
    static const char *const refused = "Write batches the store refused or failed, by reason.";
    lm->m_map_used =
        hd_metrics_gauge(m, "herald_store_map_used_bytes", "Bytes of the LMDB map in use.", "");
    lm->m_map_size = hd_metrics_gauge(m, "herald_store_map_size_bytes",
                                      "Current size of the LMDB map (it grows on demand).", "");
    lm->m_map_max = hd_metrics_gauge(m, "herald_store_map_max_bytes",
                                     "Cap of the LMDB map (store.map_size_max).", "");
    lm->m_queue = hd_metrics_gauge(m, "herald_store_queue_depth",
                                   "Write batches waiting for the store writer.", "");
    lm->m_commits = hd_metrics_counter(m, "herald_store_commits_total",
                                       "Write transactions committed (group commits).", "");
    lm->m_batches =
        hd_metrics_counter(m, "herald_store_batches_total", "Write batches committed.", "");
    lm->m_fsyncs =
        hd_metrics_counter(m, "herald_store_fsyncs_total", "Syncs of the store to disk.", "");
    lm->m_busy = hd_metrics_counter(m, "herald_store_refused_total", refused, "reason=\"busy\"");
    lm->m_full = hd_metrics_counter(m, "herald_store_refused_total", refused, "reason=\"full\"");
    lm->m_other = hd_metrics_counter(m, "herald_store_refused_total", refused, "reason=\"error\"");
    lm->m_corrupt =
        hd_metrics_counter(m, "herald_store_corrupt_records_total",
                           "Event records found corrupt on read (never delivered).", "");
    lm->m_capacity = hd_metrics_gauge(
        m, "herald_store_capacity_bytes",
        "Bytes the store may grow to: store.map_size_max, or less when the filesystem holds less.",
        "");
    lm->m_reserve = hd_metrics_gauge(m, "herald_store_reserve_bytes",
                                     "Bytes of the capacity kept for trims, cursors and progress "
                                     "writes (store.reserve_bytes).",
                                     "");
    lm->m_is_full = hd_metrics_gauge(
        m, "herald_store_full", "1 while appends are refused for lack of room (/readyz 503).", "");
    if (!lm->m_map_used || !lm->m_map_size || !lm->m_map_max || !lm->m_queue || !lm->m_commits ||
        !lm->m_batches || !lm->m_fsyncs || !lm->m_busy || !lm->m_full || !lm->m_other ||
        !lm->m_corrupt || !lm->m_capacity || !lm->m_reserve || !lm->m_is_full)
        return HD_E_NOMEM;
    hd_err_t e = hd_metrics_on_render(m, store_render, lm);
    if (e == HD_E_OK)
        lm->metrics = m;
    return e;
}

/* ---- open / close ------------------------------------------------------------------------ */

static void on_async_closed(uv_handle_t *h)
{
    hd_lmdb_t *lm = hd_container_of((uv_async_t *)h, hd_lmdb_t, async);
    hd_free(lm->listeners);
    hd_free(lm);
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf))
        return ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return errno;
            buf[i] = c;
        }
    }
    return 0;
}

/* Opens the named databases and checks (or writes) the schema version. */
static hd_err_t open_dbs(hd_lmdb_t *lm)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(lm->env, NULL, 0, &txn);
    if (rc)
        goto fail;
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"events", &lm->db_events},       {"cursors", &lm->db_cursors},
               {"pending", &lm->db_pending},     {"dead", &lm->db_dead},
               {"resources", &lm->db_resources}, {"meta", &lm->db_meta}};
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
        rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
        if (rc)
            goto fail_txn;
    }
    MDB_val k = {strlen(HD_LMDB_META_SCHEMA), HD_LMDB_META_SCHEMA}, v;
    rc = mdb_get(txn, lm->db_meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        uint8_t vb[4];
        hd_lmdb__put_u32(vb, HD_LMDB_SCHEMA_VERSION);
        v.mv_size = 4;
        v.mv_data = vb;
        rc = mdb_put(txn, lm->db_meta, &k, &v, 0);
        /* a new store: every event record it will hold carries a checksum */
        MDB_val rk = {strlen(HD_LMDB_META_RECORDS), HD_LMDB_META_RECORDS};
        uint8_t rb[1] = {HD_LMDB_REC_FORMAT};
        MDB_val rv = {1, rb};
        if (!rc)
            rc = mdb_put(txn, lm->db_meta, &rk, &rv, 0);
        if (rc)
            goto fail_txn;
    } else if (rc) {
        goto fail_txn;
    } else {
        uint32_t ver = v.mv_size == 4 ? hd_lmdb__get_u32(v.mv_data) : UINT32_MAX;
        if (ver != HD_LMDB_SCHEMA_VERSION) {
            char have[16], want[16];
            snprintf(have, sizeof(have), "%u", ver);
            snprintf(want, sizeof(want), "%u", HD_LMDB_SCHEMA_VERSION);
            hd_log(HD_LOG_ERROR,
                   ver > HD_LMDB_SCHEMA_VERSION
                       ? "store: data was written by a newer heraldd (unknown schema version)"
                       : "store: unsupported schema version",
                   "path", lm->data_dir, HD_LOG_NUM("schema_version"), have,
                   HD_LOG_NUM("supported"), want, NULL);
            mdb_txn_abort(txn);
            return HD_E_STORE;
        }
    }
    MDB_val rk = {strlen(HD_LMDB_META_RECORDS), HD_LMDB_META_RECORDS}, rv;
    lm->legacy_ok = mdb_get(txn, lm->db_meta, &rk, &rv) == MDB_NOTFOUND;
    rc = mdb_txn_commit(txn);
    if (rc)
        goto fail;
    return HD_E_OK;
fail_txn:
    mdb_txn_abort(txn);
fail:
    hd_log(HD_LOG_ERROR, "store: cannot open the databases", "path", lm->data_dir, "error",
           mdb_strerror(rc), NULL);
    return hd_lmdb__err(rc) == HD_E_NOMEM ? HD_E_NOMEM : HD_E_IO;
}

hd_err_t hd_lmdb_open(uv_loop_t *loop, const hd_lmdb_opts_t *opts, hd_lmdb_t **out)
{
    if (!loop || !opts || !opts->data_dir || !out)
        return HD_E_INVAL;
    hd_err_t err = HD_E_NOMEM;
    int rc;
    hd_lmdb_t *lm = hd_calloc(1, sizeof(*lm));
    if (!lm)
        return HD_E_NOMEM;
    lm->evlog.ops = &hd_lmdb__evlog_ops;
    lm->state.ops = &hd_lmdb__state_ops;
    lm->loop = loop;
    lm->lock_fd = -1;
    lm->opts = *opts;
    lm->data_dir = hd_strdup(opts->data_dir);
    if (!lm->data_dir)
        goto fail_dir;
    lm->opts.data_dir = lm->data_dir;
    if (lm->opts.map_size_max == 0)
        lm->opts.map_size_max = (uint64_t)8 << 30;
    if (lm->opts.map_size_initial == 0)
        lm->opts.map_size_initial = (uint64_t)64 << 20;
    if (lm->opts.map_size_initial > lm->opts.map_size_max)
        lm->opts.map_size_initial = lm->opts.map_size_max;
    if (lm->opts.queue_max == 0)
        lm->opts.queue_max = 65536;
    if (lm->opts.durability == HD_DURABILITY_BATCH && lm->opts.sync_interval_ms == 0)
        lm->opts.sync_interval_ms = 10;

    /* Reader preference (glibc's default, made explicit): a read call nested in a scan callback
     * takes the read lock again and must not queue behind a waiting resize. */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_READER_NP);
    rc = pthread_rwlock_init(&lm->map_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    if (rc != 0)
        goto fail_rwlock;
    if (pthread_mutex_init(&lm->mu, NULL) != 0)
        goto fail_mutex;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&lm->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        goto fail_cond;

    err = HD_E_IO;
    rc = mkdir_p(lm->data_dir);
    if (rc) {
        hd_log(HD_LOG_ERROR, "store: cannot create the data directory", "path", lm->data_dir,
               "error", strerror(rc), NULL);
        goto fail_env;
    }
    /* LMDB allows several processes, but the seq counters and the single-writer design do not:
     * refuse a second heraldd (or a second open in this process) on the same data_dir. */
    char lock_path[4200];
    snprintf(lock_path, sizeof(lock_path), "%s/heraldd.lock", lm->data_dir);
    lm->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lm->lock_fd < 0) {
        hd_log(HD_LOG_ERROR, "store: cannot create the lock file", "path", lock_path, "error",
               strerror(errno), NULL);
        goto fail_env;
    }
    if (flock(lm->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        hd_log(HD_LOG_ERROR, "store: data_dir is in use by another heraldd", "path", lm->data_dir,
               "error", strerror(errno), NULL);
        goto fail_lock;
    }
    /* before LMDB maps the file: a short file would SIGBUS, an emptied one start afresh */
    bool fresh;
    err = hd_lmdb__precheck(lm->data_dir, &fresh);
    if (err)
        goto fail_lock;
    err = HD_E_IO;
    rc = mdb_env_create(&lm->env);
    if (rc)
        goto fail_env_log;
    mdb_env_set_maxdbs(lm->env, 8);
    mdb_env_set_mapsize(lm->env, (size_t)lm->opts.map_size_initial);
    unsigned flags = MDB_NOTLS;
    if (lm->opts.durability != HD_DURABILITY_FSYNC)
        flags |= MDB_NOSYNC;
    else
        flags |= MDB_NOMETASYNC; /* one sync per commit; acknowledgements are staged */
    rc = mdb_env_open(lm->env, lm->data_dir, flags, 0600);
    if (rc)
        goto fail_open;
    /* A new data.mdb must survive a power loss as a directory entry too, not only its data. */
    int dfd = open(lm->data_dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    int dead = 0;
    mdb_reader_check(lm->env, &dead);
    err = open_dbs(lm);
    if (err)
        goto fail_dbs;
    hd_lmdb__mark(lm->data_dir); /* from now on an emptied data.mdb is refused */
    if (fresh)
        hd_log(HD_LOG_INFO, "store: new store created", "path", lm->data_dir, NULL);
    rc = mdb_txn_begin(lm->env, NULL, MDB_RDONLY, &lm->rtxn);
    if (rc)
        goto fail_open;
    mdb_txn_reset(lm->rtxn);

    rc = uv_async_init(loop, &lm->async, hd_lmdb__on_async);
    if (rc) {
        err = HD_E_IO;
        goto fail_async;
    }
    /* Zeros past a file-size limit would raise SIGXFSZ: no pre-zeroing then. */
    struct rlimit fsz;
    lm->zero_off = getrlimit(RLIMIT_FSIZE, &fsz) != 0 || fsz.rlim_cur != RLIM_INFINITY;
    hd_lmdb__space_open(lm);
    rc = pthread_create(&lm->writer, NULL, hd_lmdb__writer_main, lm);
    if (rc) {
        /* The async handle is closed by its own callback, which frees lm: undo by hand. */
        lm->closing = true;
        mdb_txn_abort(lm->rtxn);
        mdb_env_close(lm->env);
        close(lm->lock_fd);
        pthread_cond_destroy(&lm->cv);
        pthread_mutex_destroy(&lm->mu);
        pthread_rwlock_destroy(&lm->map_lock);
        hd_free(lm->data_dir);
        uv_close((uv_handle_t *)&lm->async, on_async_closed);
        return HD_E_NOMEM;
    }
    lm->writer_started = true;
    uv_unref((uv_handle_t *)&lm->async);
    *out = lm;
    return HD_E_OK;

fail_async:
    mdb_txn_abort(lm->rtxn);
    goto fail_dbs;
fail_open:
    err = rc == ENOMEM ? HD_E_NOMEM : HD_E_IO;
fail_env_log:
    if (err == HD_E_IO || err == HD_E_NOMEM)
        hd_log(HD_LOG_ERROR, "store: cannot open the environment", "path", lm->data_dir, "error",
               mdb_strerror(rc), NULL);
fail_dbs:
    if (lm->env)
        mdb_env_close(lm->env);
fail_lock:
    close(lm->lock_fd);
fail_env:
    pthread_cond_destroy(&lm->cv);
fail_cond:
    pthread_mutex_destroy(&lm->mu);
fail_mutex:
    pthread_rwlock_destroy(&lm->map_lock);
fail_rwlock:
    hd_free(lm->data_dir);
fail_dir:
    hd_free(lm);
    return err;
}

void hd_lmdb_close(hd_lmdb_t *lm)
{
    if (!lm || lm->closing)
        return;
    pthread_mutex_lock(&lm->mu);
    lm->stopping = true;
    pthread_cond_signal(&lm->cv);
    pthread_mutex_unlock(&lm->mu);
    if (lm->writer_started)
        pthread_join(lm->writer, NULL);
    /* Every batch is now in `done`: run the callbacks here, on the loop thread. Batches
     * submitted from these callbacks are refused with HD_E_CLOSED. */
    hd_lmdb__drain_done(lm);
    lm->closing = true;
    hd_metrics_off_render(lm->metrics, store_render, lm);
    if (lm->rtxn)
        mdb_txn_abort(lm->rtxn);
    mdb_env_close(lm->env);
    close(lm->lock_fd); /* releases the flock */
    hd_lmdb__u64map_free(&lm->next_seq);
    hd_lmdb__u64map_free(&lm->hw_shared);
    hd_lmdb__u64map_free(&lm->hw_pending);
    pthread_cond_destroy(&lm->cv);
    pthread_mutex_destroy(&lm->mu);
    pthread_rwlock_destroy(&lm->map_lock);
    hd_free(lm->data_dir);
    /* lm itself is freed by the async handle's close callback. */
    uv_close((uv_handle_t *)&lm->async, on_async_closed);
}

hd_evlog_t *hd_lmdb_evlog(hd_lmdb_t *lm)
{
    return lm ? &lm->evlog : NULL;
}

hd_state_t *hd_lmdb_state(hd_lmdb_t *lm)
{
    return lm ? &lm->state : NULL;
}
