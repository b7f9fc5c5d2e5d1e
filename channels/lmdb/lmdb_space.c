/*
 * lmdb_space.c — the LMDB backend's room accounting: how big the store may grow, the reserve
 * that only writes freeing room may use, the "full" state behind /readyz, and the rate-limited
 * log of refused appends.
 *
 * Why a reserve: LMDB is copy-on-write, so deleting events (retention), moving a cursor or
 * writing a pending record needs free pages too. A store that let appends take the last page
 * could never be trimmed again: every POST 503 forever, even after a restart. So appends are
 * refused (HD_E_FULL, ingress 503 + Retry-After) while they would leave less than `reserve`
 * bytes of room, and everything else (trims, drops, cursors, pending and dead records,
 * resources) may use it. Trims free pages, and appends that fit are accepted again, with no
 * restart and no operator action. The store is "full" (hd_evlog_full: /readyz 503, retention
 * runs early) from a refusal until an append needing HD_LMDB_SPACE_PROBE fits again.
 *
 * Capacity: the store may grow to store.map_size_max, but not past what the filesystem can
 * hold: data.mdb's blocks plus the filesystem's free space (statvfs), minus a margin for
 * lock.mdb and the filesystem's own metadata. Both limits are seen the same way, before
 * writing: LMDB's MDB_MAP_FULL at the map cap, and a short write (ENOSPC, reported as EIO by
 * LMDB) when the file cannot grow on disk. "Used" is LMDB's last page minus its free list
 * (pages freed by trims, reused before the file grows).
 *
 * Holding the reserve on disk: near full, the blocks past LMDB's last page are preallocated in
 * data.mdb (fallocate KEEP_SIZE, so the file's size does not change) up to the reserve, so
 * another program filling the same filesystem cannot take the room the trims need. Where the
 * filesystem cannot preallocate, the reserve is only counted.
 *
 * Without held blocks, a store whose filesystem another program filled could not commit even a
 * trim of one event: LMDB finds no reusable page and cannot grow the file (measured: retention
 * failed for good). A write that fails for room at commit anyway (the hold could not be made,
 * or LMDB grew the file where the estimate said it would reuse free pages) turns the store
 * full: retention runs every second (hd_evlog_full), and the writer rechecks the room every
 * second, writes or not, so it recovers as soon as trims or the filesystem free some.
 */
#include "lmdb_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#define MIB (1024ull * 1024)
/* At most one "store full" line per this many ms. */
#define SUMMARY_MS 5000
/* Blocks held ahead of the last page, at most (the reserve is counted in full either way). */
#define HOLD_MAX (16 * MIB)

/* ---- pure arithmetic (unit-tested) -------------------------------------------------------- */

uint64_t hd_lmdb__space_fs_cap(uint64_t file_end, uint64_t file_blocks, uint64_t fs_free)
{
    uint64_t have = file_blocks > file_end ? file_blocks : file_end;
    uint64_t total = have + fs_free < have ? UINT64_MAX : have + fs_free;
    return total > HD_LMDB_SPACE_MARGIN ? total - HD_LMDB_SPACE_MARGIN : 0;
}

uint64_t hd_lmdb__space_reserve(uint64_t configured, uint64_t cap)
{
    uint64_t r = configured;
    if (r == 0) {
        r = cap / 50;
        if (r < 8 * MIB)
            r = 8 * MIB;
        if (r > 256 * MIB)
            r = 256 * MIB;
    }
    if (r > cap / 4)
        r = cap / 4;
    return r;
}

bool hd_lmdb__space_fits(const hd_lmdb__space_t *s, uint64_t need)
{
    if (s->used >= s->cap)
        return false;
    uint64_t room = s->cap - s->used;
    return need <= room && room - need >= s->reserve;
}

/* ---- measuring ----------------------------------------------------------------------------- */

/* Pages on LMDB's free list (reusable), counted from its free-page DB. */
static uint64_t free_pages(hd_lmdb_t *lm)
{
    MDB_txn *txn;
    MDB_cursor *c;
    uint64_t n = 0;
    if (mdb_txn_begin(lm->env, NULL, MDB_RDONLY, &txn))
        return 0;
    if (mdb_cursor_open(txn, 0 /* FREE_DBI */, &c) == 0) {
        MDB_val k, v;
        int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        while (rc == 0) {
            /* each value is an ID list: a count, then the page numbers */
            if (v.mv_size >= sizeof(size_t))
                n += *(const size_t *)v.mv_data;
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    return n;
}

/* Fills *s. `exact` counts LMDB's free list too (a walk of its free-page DB: only near full);
 * otherwise `used` is the last page's end, an upper bound. Writer thread (or open, before it).
 * False when LMDB cannot say. */
static bool measure(hd_lmdb_t *lm, bool exact, hd_lmdb__space_t *s)
{
    MDB_envinfo info;
    MDB_stat st;
    int fd;
    if (mdb_env_info(lm->env, &info) != 0 || mdb_env_stat(lm->env, &st) != 0 ||
        mdb_env_get_fd(lm->env, &fd) != 0)
        return false;
    uint64_t pages = (uint64_t)info.me_last_pgno + 1;
    s->file_end = pages * st.ms_psize;
    uint64_t blocks = 0, fs_free = UINT64_MAX;
    struct stat sb;
    if (fstat(fd, &sb) == 0)
        blocks = (uint64_t)sb.st_blocks * 512;
    struct statvfs vfs;
    if (fstatvfs(fd, &vfs) == 0)
        fs_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    s->map_max = lm->opts.map_size_max;
    s->fs_cap = hd_lmdb__space_fs_cap(s->file_end, blocks, fs_free);
    s->cap = s->fs_cap < s->map_max ? s->fs_cap : s->map_max;
    s->reserve = hd_lmdb__space_reserve(lm->opts.reserve_bytes, s->cap);
    s->used = s->file_end;
    if (exact) {
        uint64_t fp = free_pages(lm);
        s->used = (pages > fp ? pages - fp : 0) * st.ms_psize;
    }
    atomic_store_explicit(&lm->st_capacity, s->cap, memory_order_relaxed);
    atomic_store_explicit(&lm->st_reserve, s->reserve, memory_order_relaxed);
    return true;
}

/* ---- holding the reserve on disk ------------------------------------------------------------ */

/* Near full, preallocates data.mdb's blocks past LMDB's last page up to the reserve (at most
 * HOLD_MAX), without changing the file's size. LMDB's writes there then need no new blocks. */
static void hold(hd_lmdb_t *lm, const hd_lmdb__space_t *s)
{
    if (lm->hold_off)
        return;
    uint64_t room = s->cap > s->file_end ? s->cap - s->file_end : 0;
    if (room >= 4 * s->reserve)
        return; /* far from full: nothing to hold yet */
    uint64_t want = s->reserve < HOLD_MAX ? s->reserve : HOLD_MAX;
    if (s->file_end + want > s->map_max)
        want = s->map_max > s->file_end ? s->map_max - s->file_end : 0;
    if (want == 0 || lm->hold_end >= s->file_end + want / 2)
        return;
    uint64_t now = hd_now_ms();
    int fd;
    if (now < lm->hold_retry_ms || mdb_env_get_fd(lm->env, &fd) != 0)
        return;
    if (fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)s->file_end, (off_t)want) == 0) {
        lm->hold_end = s->file_end + want;
        return;
    }
    if (errno == EOPNOTSUPP || errno == ENOSYS) {
        lm->hold_off = true;
        hd_log(HD_LOG_INFO,
               "store: the filesystem cannot preallocate; the reserve is counted, "
               "not held on disk",
               "path", lm->data_dir, NULL);
    } else {
        lm->hold_retry_ms = now + 1000; /* no room for it now: try again later */
    }
}

/* ---- the full state and its log ------------------------------------------------------------ */

static void u64s(char *buf, size_t cap, uint64_t v)
{
    snprintf(buf, cap, "%llu", (unsigned long long)v);
}

/* One line for the refusals counted since the last line. */
static void summary(hd_lmdb_t *lm, uint64_t now)
{
    if (lm->sum_appends || lm->sum_other) {
        char n[24], o[24], secs[24];
        u64s(n, sizeof n, lm->sum_appends);
        u64s(o, sizeof o, lm->sum_other);
        u64s(secs, sizeof secs, (now - lm->sum_since + 500) / 1000);
        hd_log(HD_LOG_WARN, "store full: appends refused", "path", lm->data_dir,
               HD_LOG_NUM("refused"), n, HD_LOG_NUM("seconds"), secs,
               HD_LOG_NUM("other_writes_failed"), o, NULL);
    }
    lm->sum_appends = lm->sum_other = 0;
    lm->sum_since = now;
}

static void set_full(hd_lmdb_t *lm, const hd_lmdb__space_t *s)
{
    atomic_store_explicit(&lm->space_full, true, memory_order_relaxed);
    lm->sum_since = hd_now_ms(); /* this line counts as one: the summary follows in 5 s */
    char cap[24], used[24], res[24];
    u64s(cap, sizeof cap, s ? s->cap : 0);
    u64s(used, sizeof used, s ? s->used : 0);
    u64s(res, sizeof res, s ? s->reserve : 0);
    hd_log(HD_LOG_WARN, "store full: appends refused until retention frees room", "path",
           lm->data_dir, HD_LOG_NUM("capacity_bytes"), cap, HD_LOG_NUM("used_bytes"), used,
           HD_LOG_NUM("reserve_bytes"), res, NULL);
}

static void clear_full(hd_lmdb_t *lm, const hd_lmdb__space_t *s)
{
    atomic_store_explicit(&lm->space_full, false, memory_order_relaxed);
    char n[24], cap[24], used[24];
    u64s(n, sizeof n, lm->sum_appends);
    u64s(cap, sizeof cap, s->cap);
    u64s(used, sizeof used, s->used);
    hd_log(HD_LOG_INFO, "store: room again, appends accepted", "path", lm->data_dir,
           HD_LOG_NUM("refused_since_last_report"), n, HD_LOG_NUM("capacity_bytes"), cap,
           HD_LOG_NUM("used_bytes"), used, NULL);
    lm->sum_appends = lm->sum_other = 0;
    lm->sum_since = hd_now_ms();
}

/* A write refused before writing (s: the exact measurement) or failed for room at commit (s
 * NULL). The store turns full (with a line giving the numbers) when a probe-sized append would
 * not fit either, or at once after a failed commit: a single append too big for the room left
 * does not make it full. Refusals are summarised in at most one line per SUMMARY_MS. */
static void refused(hd_lmdb_t *lm, const hd_lmdb__space_t *s, bool append)
{
    if (!atomic_load_explicit(&lm->space_full, memory_order_relaxed)) {
        hd_lmdb__space_t m;
        bool at_commit = !s;
        if (!s && measure(lm, true, &m))
            s = &m;
        if (at_commit || !s || !hd_lmdb__space_fits(s, HD_LMDB_SPACE_PROBE))
            set_full(lm, s);
    }
    if (append)
        lm->sum_appends++;
    else
        lm->sum_other++;
    uint64_t now = hd_now_ms();
    if (now - lm->sum_since >= SUMMARY_MS)
        summary(lm, now);
}

/* While full: the store stops being full once a probe-sized append fits above the reserve. */
static void recheck(hd_lmdb_t *lm)
{
    hd_lmdb__space_t s;
    if (!atomic_load_explicit(&lm->space_full, memory_order_relaxed) || !measure(lm, true, &s))
        return;
    if (hd_lmdb__space_fits(&s, HD_LMDB_SPACE_PROBE)) {
        clear_full(lm, &s);
        return;
    }
    uint64_t now = hd_now_ms();
    if (now - lm->sum_since >= SUMMARY_MS)
        summary(lm, now);
}

/* ---- the writer's entry points ------------------------------------------------------------- */

void hd_lmdb__space_open(hd_lmdb_t *lm)
{
    /* Blocks preallocated past a file-size limit would raise SIGXFSZ: none then. */
    struct rlimit fsz;
    lm->hold_off = getrlimit(RLIMIT_FSIZE, &fsz) != 0 || fsz.rlim_cur != RLIM_INFINITY;
    hd_lmdb__space_t s;
    if (!measure(lm, true, &s))
        return;
    if (s.fs_cap < s.map_max) {
        char max[24], fs[24], res[24];
        u64s(max, sizeof max, s.map_max);
        u64s(fs, sizeof fs, s.fs_cap);
        u64s(res, sizeof res, s.reserve);
        hd_log(HD_LOG_WARN,
               "store: the filesystem holds less than store.map_size_max; the store is capped at "
               "what it holds",
               "path", lm->data_dir, HD_LOG_NUM("map_size_max_bytes"), max,
               HD_LOG_NUM("filesystem_bytes"), fs, HD_LOG_NUM("reserve_bytes"), res, NULL);
    }
    if (!hd_lmdb__space_fits(&s, HD_LMDB_SPACE_PROBE))
        set_full(lm, &s);
}

size_t hd_lmdb__refuse_appends_over_reserve(hd_lmdb_t *lm, hd_lmdb__batch_t **arr, size_t n)
{
    size_t i = 0;
    while (i < n && (arr[i]->nbrokers == 0 || arr[i]->op_next > 0))
        i++;
    hd_lmdb__space_t s;
    if (i == n || !measure(lm, false, &s))
        return n; /* no append in the group (cursor flushes, trims): nothing to check */
    hold(lm, &s);
    bool exact = false;
    uint64_t run = 0;
    for (; i < n; i++) {
        hd_lmdb__batch_t *b = arr[i];
        if (b->nbrokers == 0 || b->op_next > 0)
            continue; /* not an append: it may use the reserve */
        /* B-tree pages are at most half empty after splits: count twice the payload. */
        uint64_t need = 2 * (run + b->bytes);
        if (!hd_lmdb__space_fits(&s, need) && !exact)
            exact = measure(lm, true, &s);
        if (!hd_lmdb__space_fits(&s, need)) {
            b->refused = true; /* fails in its turn, so callbacks keep their order */
            refused(lm, &s, true);
            continue;
        }
        run += b->bytes;
    }
    return n;
}

void hd_lmdb__space_failed(hd_lmdb_t *lm, hd_lmdb__batch_t *b)
{
    refused(lm, NULL, b->nbrokers > 0);
}

void hd_lmdb__space_committed(hd_lmdb_t *lm)
{
    recheck(lm);
}

void hd_lmdb__space_tick(hd_lmdb_t *lm)
{
    recheck(lm);
}

bool hd_lmdb__full(hd_evlog_t *log)
{
    hd_lmdb_t *lm = hd_container_of(log, hd_lmdb_t, evlog);
    return atomic_load_explicit(&lm->space_full, memory_order_relaxed);
}
