/*
 * lmdb_writer.c — the LMDB backend's write path: batches, the bounded queue, the single writer
 * thread with group commit, staged acknowledgements under durability fsync, and the loop side
 * that runs the callbacks and the commit listeners.
 *
 * Durability
 *   fsync  MDB_NOMETASYNC, and acknowledgements one commit behind. An LMDB commit pwrites the
 *          data pages, fdatasyncs them, then pwrites the meta page; LMDB's default would write
 *          that meta page through an O_DSYNC descriptor, a second sync per commit. With
 *          MDB_NOMETASYNC the meta page of commit N reaches the disk with the fdatasync of
 *          commit N+1 (same file descriptor), so the batches of commit N are *staged* and their
 *          callbacks run once commit N+1 returned, or, when the writer is about to idle, after
 *          an explicit mdb_env_sync. Every fsync-mode transaction writes a meta counter so that
 *          LMDB never skips the sync of an empty commit. A power loss may undo the last
 *          (unacknowledged) commit, never an acknowledged one, and LMDB stays consistent (its
 *          ACI guarantee). MDB_NOSYNC with one explicit mdb_env_sync is not an option: it lets
 *          the meta page reach the disk before the data pages, which can corrupt the
 *          environment on power loss. Measurements of the alternatives: bench/RESULTS-ingest.md.
 *   batch  MDB_NOSYNC; callbacks right after commit; the writer calls mdb_env_sync(env, 1)
 *          every sync_interval_ms while there are unsynced commits. A power loss can lose (and,
 *          LMDB warns, corrupt) the last interval; a process crash loses nothing.
 *   none   MDB_NOSYNC, never synced by us (the page cache still survives a process crash).
 */
#include "lmdb_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- a small u32 -> u64 open-addressing map ---------------------------------------------- */

void hd_lmdb__u64map_free(hd_lmdb__u64map_t *m)
{
    hd_free(m->keys);
    hd_free(m->vals);
    hd_free(m->used);
    memset(m, 0, sizeof(*m));
}

static size_t u64map_slot(const hd_lmdb__u64map_t *m, uint32_t k)
{
    size_t i = (size_t)(k * 2654435761u) & (m->cap - 1);
    while (m->used[i] && m->keys[i] != k)
        i = (i + 1) & (m->cap - 1);
    return i;
}

uint64_t *hd_lmdb__u64map_get(const hd_lmdb__u64map_t *m, uint32_t k)
{
    if (!m->cap)
        return NULL;
    size_t i = u64map_slot(m, k);
    return m->used[i] ? &m->vals[i] : NULL;
}

uint64_t *hd_lmdb__u64map_put(hd_lmdb__u64map_t *m, uint32_t k, uint64_t init)
{
    if ((m->n + 1) * 2 > m->cap) {
        hd_lmdb__u64map_t g = {0};
        g.cap = m->cap ? m->cap * 2 : 16;
        g.keys = hd_calloc(g.cap, sizeof(*g.keys));
        g.vals = hd_calloc(g.cap, sizeof(*g.vals));
        g.used = hd_calloc(g.cap, 1);
        if (!g.keys || !g.vals || !g.used) {
            hd_lmdb__u64map_free(&g);
            return NULL;
        }
        for (size_t i = 0; i < m->cap; i++) {
            if (m->used[i]) {
                size_t j = u64map_slot(&g, m->keys[i]);
                g.used[j] = 1;
                g.keys[j] = m->keys[i];
                g.vals[j] = m->vals[i];
                g.n++;
            }
        }
        hd_lmdb__u64map_free(m);
        *m = g;
    }
    size_t i = u64map_slot(m, k);
    if (!m->used[i]) {
        m->used[i] = 1;
        m->keys[i] = k;
        m->vals[i] = init;
        m->n++;
    }
    return &m->vals[i];
}

void hd_lmdb__u64map_clear(hd_lmdb__u64map_t *m)
{
    if (m->cap)
        memset(m->used, 0, m->cap);
    m->n = 0;
}
hd_lmdb__batch_t *hd_lmdb__batch_new(hd_lmdb_t *lm)
{
    hd_lmdb__batch_t *b = hd_calloc(1, sizeof(*b));
    if (b) {
        b->lm = lm;
        b->ptxn.log = &lm->evlog;
        b->stxn.st = &lm->state;
    }
    return b;
}

void hd_lmdb__batch_free(hd_lmdb__batch_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nops; i++) {
        hd_free(b->ops[i].skey);
        hd_free(b->ops[i].val);
    }
    hd_free(b->ops);
    hd_free(b->brokers);
    hd_free(b);
}

hd_lmdb__op_t *hd_lmdb__batch_op(hd_lmdb__batch_t *b, hd_lmdb__op_kind_t kind)
{
    if (b->nops == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 8;
        hd_lmdb__op_t *n = hd_realloc(b->ops, nc * sizeof(*n));
        if (!n)
            return NULL;
        b->ops = n;
        b->cap = nc;
    }
    hd_lmdb__op_t *op = &b->ops[b->nops];
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    return op;
}

hd_lmdb__acct_t *hd_lmdb__acct_for(hd_lmdb__acct_list_t *l, uint32_t id)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->a[i].id == id)
            return &l->a[i];
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        hd_lmdb__acct_t *n = hd_realloc(l->a, nc * sizeof(*n));
        if (!n)
            return NULL;
        l->a = n;
        l->cap = nc;
    }
    hd_lmdb__acct_t *a = &l->a[l->n++];
    memset(a, 0, sizeof(*a));
    a->id = id;
    return a;
}

int hd_lmdb__delete_prefix(MDB_txn *txn, MDB_dbi db, uint32_t id, uint64_t upto,
                           uint64_t older_than, bool events, size_t *budget, uint64_t *deleted)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db, &c);
    if (rc)
        return rc;
    uint8_t kb[12];
    hd_lmdb__put_u32(kb, id);
    hd_lmdb__put_u64(kb + 4, 0);
    for (;;) {
        MDB_val k = {sizeof(kb), kb}, v;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        if (k.mv_size != 12 || hd_lmdb__get_u32(k.mv_data) != id)
            break;
        if (events) {
            uint64_t seq = hd_lmdb__get_u64((uint8_t *)k.mv_data + 4);
            uint64_t ingest = hd_lmdb__rec_wall(v.mv_data, v.mv_size);
            if (!(seq <= upto || (older_than && ingest < older_than)))
                break;
        }
        if (*budget == 0) {
            rc = HD_LMDB_OP_MORE;
            break;
        }
        rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
        (*budget)--;
        (*deleted)++;
    }
    mdb_cursor_close(c);
    return rc;
}

/* Applies one op, through the file that owns its database. Returns 0, HD_LMDB_OP_MORE or an
 * LMDB error. */
static int apply_op(hd_lmdb_t *lm, MDB_txn *txn, hd_lmdb__op_t *op, hd_lmdb__acct_list_t *acct,
                    size_t *budget)
{
    switch (op->kind) {
    case OP_EVENT:
    case OP_TRIM:
        return hd_lmdb__apply_log_op(lm, txn, op, acct, budget);
    case OP_CURSOR:
    case OP_PENDING_PUT:
    case OP_PENDING_DEL:
    case OP_DEAD_PUT:
    case OP_DEAD_DEL:
    case OP_FORGET:
        return hd_lmdb__apply_progress_op(lm, txn, op, budget);
    case OP_RES_PUT:
    case OP_RES_DEL:
    case OP_META_PUT:
        return hd_lmdb__apply_state_op(lm, txn, op);
    }
    return EINVAL;
}
/*
 * Writes `n` batches in one transaction and commits. Batches whose chunked deletes did not
 * finish get *carried set (their op_next marks the resume point). Returns an LMDB error (the
 * transaction is then aborted and every batch's progress rolled back) or 0.
 */
static int write_txn(hd_lmdb_t *lm, hd_lmdb__batch_t **arr, size_t n, bool *carried)
{
    MDB_txn *txn = NULL;
    hd_lmdb__acct_list_t acct = {0};
    size_t budget = HD_LMDB_DELETE_CHUNK;
    size_t *saved_next = hd_malloc(n * sizeof(size_t));
    uint64_t *saved_forget = NULL;
    int rc;
    if (!saved_next)
        return ENOMEM;
    for (size_t i = 0; i < n; i++) {
        saved_next[i] = arr[i]->op_next;
        carried[i] = false;
    }
    /* Forget ops keep a stage across transactions; remember them to roll back too. */
    size_t nforget = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = arr[i]->op_next; j < arr[i]->nops; j++)
            nforget += arr[i]->ops[j].kind == OP_FORGET;
    if (nforget) {
        saved_forget = hd_malloc(nforget * sizeof(uint64_t));
        if (!saved_forget) {
            rc = ENOMEM;
            goto fail_alloc;
        }
        size_t f = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = arr[i]->op_next; j < arr[i]->nops; j++)
                if (arr[i]->ops[j].kind == OP_FORGET)
                    saved_forget[f++] = arr[i]->ops[j].arg;
    }

    rc = mdb_txn_begin(lm->env, NULL, 0, &txn);
    if (rc)
        goto fail_begin;
    for (size_t i = 0; i < n; i++) {
        hd_lmdb__batch_t *b = arr[i];
        while (!b->refused && b->op_next < b->nops) {
            rc = apply_op(lm, txn, &b->ops[b->op_next], &acct, &budget);
            if (rc == HD_LMDB_OP_MORE) {
                carried[i] = true;
                rc = 0;
                break;
            }
            if (rc)
                goto fail_txn;
            b->op_next++;
        }
    }
    /* High-waters of assigned seqs (including refused batches) go with this commit. */
    for (size_t i = 0; i < lm->hw_pending.cap; i++) {
        if (!lm->hw_pending.used[i])
            continue;
        hd_lmdb__acct_t *a = hd_lmdb__acct_for(&acct, lm->hw_pending.keys[i]);
        if (!a) {
            rc = ENOMEM;
            goto fail_txn;
        }
        a->hw = lm->hw_pending.vals[i];
    }
    for (size_t i = 0; i < acct.n; i++) {
        hd_lmdb__acct_t *a = &acct.a[i];
        hd_lmdb__log_rec_t rec;
        hd_lmdb__log_rec_read(txn, lm->db_meta, a->id, &rec);
        if (a->max_seq > rec.last)
            rec.last = a->max_seq;
        if (a->hw > rec.hw)
            rec.hw = a->hw;
        if (rec.last > rec.hw)
            rec.hw = rec.last;
        rec.count += a->added;
        rec.count = rec.count > a->deleted ? rec.count - a->deleted : 0;
        rc = hd_lmdb__log_rec_write(txn, lm->db_meta, a->id, &rec);
        if (rc)
            goto fail_txn;
    }
    if (lm->opts.durability == HD_DURABILITY_FSYNC) {
        /* LMDB skips the sync of a transaction that changed nothing; this write makes every
         * commit sync, which the staged acknowledgements rely on (see after_commit). */
        uint8_t nb[8];
        hd_lmdb__put_u64(nb, lm->commit_no + 1);
        MDB_val tk = {strlen(HD_LMDB_META_TXN), HD_LMDB_META_TXN}, tv = {8, nb};
        rc = mdb_put(txn, lm->db_meta, &tk, &tv, 0);
        if (rc)
            goto fail_txn;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc)
        goto fail_txn;
    hd_lmdb__u64map_clear(&lm->hw_pending);
    hd_free(acct.a);
    hd_free(saved_forget);
    hd_free(saved_next);
    return 0;

fail_txn:
    if (txn)
        mdb_txn_abort(txn);
fail_begin:
    hd_free(acct.a);
    for (size_t i = 0, f = 0; i < n; i++) {
        arr[i]->op_next = saved_next[i];
        carried[i] = false;
        for (size_t j = arr[i]->op_next; j < arr[i]->nops; j++)
            if (arr[i]->ops[j].kind == OP_FORGET)
                arr[i]->ops[j].arg = saved_forget[f++];
    }
fail_alloc:
    hd_free(saved_forget);
    hd_free(saved_next);
    return rc;
}

/* Appends the chain first..last (last->next == NULL) to the `done` list the loop drains, in
 * order (writer thread; takes mu). */
static void done_append(hd_lmdb_t *lm, hd_lmdb__batch_t *first, hd_lmdb__batch_t *last)
{
    pthread_mutex_lock(&lm->mu);
    if (lm->done_tail)
        lm->done_tail->next = first;
    else
        lm->done_head = first;
    lm->done_tail = last;
    pthread_mutex_unlock(&lm->mu);
}

/* Moves a finished batch towards its callback (writer thread, mu not held): under durability
 * fsync to `staged` (released by release_staged once durable), otherwise straight to `done`. */
static void finish(hd_lmdb_t *lm, hd_lmdb__batch_t *b, hd_err_t status)
{
    b->status = status;
    b->next = NULL;
    if (lm->opts.durability == HD_DURABILITY_FSYNC) {
        /* A failed batch needs no sync, but keeps its place so callbacks stay in order. */
        b->need_commit = status == HD_E_OK ? lm->commit_no : 0;
        if (lm->staged_tail)
            lm->staged_tail->next = b;
        else
            lm->staged_head = b;
        lm->staged_tail = b;
        return;
    }
    done_append(lm, b, b);
}

static void after_commit(hd_lmdb_t *lm)
{
    atomic_fetch_add_explicit(&lm->st_commits, 1, memory_order_relaxed);
    lm->commit_no++;
    if (lm->opts.durability == HD_DURABILITY_FSYNC) {
        /* The commit fdatasync'd its data pages, and with them the meta page the previous
         * commit wrote without a sync (MDB_NOMETASYNC): that one is now durable. */
        atomic_fetch_add_explicit(&lm->st_fsyncs, 1, memory_order_relaxed);
        lm->durable_no = lm->commit_no - 1;
    } else if (lm->opts.durability == HD_DURABILITY_BATCH) {
        lm->unsynced = true;
    }
}

/* Hands the staged batches whose commit is durable to the loop, in order (writer thread). */
static void release_staged(hd_lmdb_t *lm)
{
    hd_lmdb__batch_t *first = lm->staged_head, *last = NULL;
    for (hd_lmdb__batch_t *b = first; b && b->need_commit <= lm->durable_no; b = b->next)
        last = b;
    if (!last)
        return;
    lm->staged_head = last->next;
    if (!lm->staged_head)
        lm->staged_tail = NULL;
    last->next = NULL;
    done_append(lm, first, last);
}

/* fsync mode: makes every commit durable now (the writer is about to idle). A failed sync
 * fails the batches that were waiting for it: their data may not be on disk. */
static void sync_staged(hd_lmdb_t *lm)
{
    if (!lm->staged_head)
        return;
    if (lm->durable_no < lm->commit_no) {
        int rc = mdb_env_sync(lm->env, 1);
        atomic_fetch_add_explicit(&lm->st_fsyncs, 1, memory_order_relaxed);
        if (rc) {
            hd_log(HD_LOG_ERROR, "store: sync failed", "path", lm->data_dir, "error",
                   mdb_strerror(rc), NULL);
            for (hd_lmdb__batch_t *b = lm->staged_head; b; b = b->next)
                if (b->need_commit > lm->durable_no && b->status == HD_E_OK)
                    b->status = HD_E_IO;
        }
        lm->durable_no = lm->commit_no;
    }
    release_staged(lm);
}
/* Writes a group; on failure isolates the bad batches by retrying them one by one.
 * Finished batches go to `done`; carried ones to lm->carry (in order). */
static void write_group(hd_lmdb_t *lm, hd_lmdb__batch_t **arr, size_t n, bool *carried)
{
    int rc;
    if (n == 1 && arr[0]->refused) {
        carried[0] = false;
        atomic_fetch_add_explicit(&lm->st_full, 1, memory_order_relaxed);
        finish(lm, arr[0], HD_E_FULL);
        return;
    }
    for (;;) {
        rc = write_txn(lm, arr, n, carried);
        if (rc == MDB_MAP_FULL && hd_lmdb__grow_map(lm))
            continue;
        break;
    }
    if (rc == 0) {
        after_commit(lm);
        hd_lmdb__space_committed(lm); /* before the callbacks: they see the new full state */
        hd_lmdb__batch_t **ctail = &lm->carry;
        while (*ctail)
            ctail = &(*ctail)->next;
        for (size_t i = 0; i < n; i++) {
            if (carried[i]) {
                arr[i]->next = NULL;
                *ctail = arr[i];
                ctail = &arr[i]->next;
            } else if (arr[i]->refused) {
                atomic_fetch_add_explicit(&lm->st_full, 1, memory_order_relaxed);
                finish(lm, arr[i], HD_E_FULL);
            } else {
                atomic_fetch_add_explicit(&lm->st_batches, 1, memory_order_relaxed);
                finish(lm, arr[i], HD_E_OK);
            }
        }
        return;
    }
    if (n > 1) {
        for (size_t i = 0; i < n; i++)
            write_group(lm, &arr[i], 1, &carried[i]);
        return;
    }
    hd_err_t e = hd_lmdb__err(rc);
    if (e == HD_E_NOTFOUND)
        e = HD_E_STORE;
    if (rc == EIO && hd_lmdb__out_of_space(lm, arr[0]->bytes))
        e = HD_E_FULL;
    if (e == HD_E_FULL) {
        /* the store turns full; counted in its rate-limited summary, not logged each */
        hd_lmdb__space_failed(lm, arr[0]);
    } else {
        hd_log(HD_LOG_ERROR, "store: batch not written", "path", lm->data_dir, "error",
               mdb_strerror(rc), "status", hd_err_message(e), NULL);
    }
    atomic_fetch_add_explicit(e == HD_E_FULL ? &lm->st_full : &lm->st_other, 1,
                              memory_order_relaxed);
    finish(lm, arr[0], e);
}

static uint64_t deadline_ms_to_timespec(uint64_t due, struct timespec *ts)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t now = hd_now_ms();
    uint64_t wait = due > now ? due - now : 0;
    ts->tv_sec += (time_t)(wait / 1000);
    ts->tv_nsec += (long)(wait % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
    return wait;
}

static void batch_sync(hd_lmdb_t *lm)
{
    int rc = mdb_env_sync(lm->env, 1);
    if (rc)
        hd_log(HD_LOG_ERROR, "store: sync failed", "path", lm->data_dir, "error", mdb_strerror(rc),
               NULL);
    atomic_fetch_add_explicit(&lm->st_fsyncs, 1, memory_order_relaxed);
    lm->unsynced = false;
    lm->last_sync_ms = hd_now_ms();
}

void *hd_lmdb__writer_main(void *arg)
{
    hd_lmdb_t *lm = arg;
    hd_lmdb__batch_t **arr = hd_malloc(HD_LMDB_GROUP_MAX_BATCHES * sizeof(*arr));
    bool *carried = hd_malloc(HD_LMDB_GROUP_MAX_BATCHES * sizeof(*carried));
    if (!arr || !carried) {
        /* Cannot work without the group arrays: fail every batch as it comes. */
        hd_free(arr);
        hd_free(carried);
        arr = NULL;
    }
    lm->last_sync_ms = hd_now_ms();
    for (;;) {
        pthread_mutex_lock(&lm->mu);
        while (((!lm->q_head && !lm->carry) || lm->paused) && !lm->stopping) {
            if (lm->unsynced) {
                uint64_t due = lm->last_sync_ms + lm->opts.sync_interval_ms;
                struct timespec ts;
                if (deadline_ms_to_timespec(due, &ts) == 0) {
                    pthread_mutex_unlock(&lm->mu);
                    batch_sync(lm);
                    pthread_mutex_lock(&lm->mu);
                    continue;
                }
                pthread_cond_timedwait(&lm->cv, &lm->mu, &ts);
            } else if (atomic_load_explicit(&lm->space_full, memory_order_relaxed)) {
                /* Full: recheck the room every second, writes or not. */
                struct timespec ts;
                deadline_ms_to_timespec(hd_now_ms() + 1000, &ts);
                if (pthread_cond_timedwait(&lm->cv, &lm->mu, &ts) == ETIMEDOUT) {
                    pthread_mutex_unlock(&lm->mu);
                    hd_lmdb__space_tick(lm);
                    pthread_mutex_lock(&lm->mu);
                }
            } else {
                pthread_cond_wait(&lm->cv, &lm->mu);
            }
        }
        if (!lm->q_head && !lm->carry && lm->stopping) {
            pthread_mutex_unlock(&lm->mu);
            break;
        }
        /* Take the carried batches first, then the queue, within the group bounds. */
        size_t n = 0, bytes = 0;
        while (lm->carry && n < HD_LMDB_GROUP_MAX_BATCHES && arr) {
            arr[n++] = lm->carry;
            lm->carry = lm->carry->next;
        }
        while (lm->q_head &&
               (n == 0 || (n < HD_LMDB_GROUP_MAX_BATCHES && bytes < HD_LMDB_GROUP_MAX_BYTES))) {
            hd_lmdb__batch_t *b = lm->q_head;
            lm->q_head = b->next;
            if (!lm->q_head)
                lm->q_tail = NULL;
            lm->q_len--;
            if (!arr) {
                pthread_mutex_unlock(&lm->mu);
                finish(lm, b, HD_E_NOMEM);
                pthread_mutex_lock(&lm->mu);
                continue;
            }
            arr[n++] = b;
            bytes += b->bytes;
        }
        /* Assigned high-waters handed over by the loop. */
        bool hw_ok = true;
        for (size_t i = 0; i < lm->hw_shared.cap; i++) {
            if (!lm->hw_shared.used[i])
                continue;
            uint64_t *p = hd_lmdb__u64map_put(&lm->hw_pending, lm->hw_shared.keys[i], 0);
            if (!p) {
                hw_ok = false;
                break;
            }
            if (lm->hw_shared.vals[i] > *p)
                *p = lm->hw_shared.vals[i];
        }
        if (hw_ok)
            hd_lmdb__u64map_clear(&lm->hw_shared);
        pthread_mutex_unlock(&lm->mu);

        /* Appends may not eat the reserve kept for retention near the cap. */
        if (n > 0)
            n = hd_lmdb__refuse_appends_over_reserve(lm, arr, n);
        uint64_t commits_before = lm->commit_no;
        if (n > 0 && lm->opts.durability == HD_DURABILITY_FSYNC)
            hd_lmdb__prezero(lm);
        if (n > 0)
            write_group(lm, arr, n, carried);

        if (lm->opts.durability == HD_DURABILITY_FSYNC) {
            release_staged(lm);
            /* Nothing more to write, or this group committed nothing (every batch failed): no
             * next commit is sure to carry the last meta page to disk, so sync now. */
            pthread_mutex_lock(&lm->mu);
            bool idle = (!lm->q_head && !lm->carry) || lm->paused;
            pthread_mutex_unlock(&lm->mu);
            if (idle || lm->commit_no == commits_before)
                sync_staged(lm);
        }
        if (lm->opts.durability == HD_DURABILITY_BATCH && lm->unsynced &&
            hd_now_ms() - lm->last_sync_ms >= lm->opts.sync_interval_ms)
            batch_sync(lm);
        uv_async_send(&lm->async);
    }
    /* Seqs handed out by batches that were refused at the end must still never be reused. */
    pthread_mutex_lock(&lm->mu);
    for (size_t i = 0; i < lm->hw_shared.cap; i++) {
        uint64_t *p = lm->hw_shared.used[i]
                          ? hd_lmdb__u64map_put(&lm->hw_pending, lm->hw_shared.keys[i], 0)
                          : NULL;
        if (p && lm->hw_shared.vals[i] > *p)
            *p = lm->hw_shared.vals[i];
    }
    hd_lmdb__u64map_clear(&lm->hw_shared);
    pthread_mutex_unlock(&lm->mu);
    if (lm->hw_pending.n > 0 && write_txn(lm, NULL, 0, NULL) == 0)
        after_commit(lm);
    if (lm->unsynced)
        batch_sync(lm);
    if (lm->opts.durability == HD_DURABILITY_FSYNC && lm->durable_no < lm->commit_no) {
        if (mdb_env_sync(lm->env, 1) == 0)
            atomic_fetch_add_explicit(&lm->st_fsyncs, 1, memory_order_relaxed);
        lm->durable_no = lm->commit_no;
    }
    sync_staged(lm);
    hd_free(arr);
    hd_free(carried);
    return NULL;
}
/* ---- the loop side ----------------------------------------------------------------------- */

void hd_lmdb__drain_done(hd_lmdb_t *lm)
{
    pthread_mutex_lock(&lm->mu);
    hd_lmdb__batch_t *list = lm->done_head;
    lm->done_head = lm->done_tail = NULL;
    pthread_mutex_unlock(&lm->mu);
    if (!list)
        return;

    hd_lmdb__touched_t *agg = NULL;
    size_t nagg = 0, aggcap = 0;
    for (hd_lmdb__batch_t *b = list; b; b = b->next) {
        if (b->status != HD_E_OK)
            continue;
        for (size_t i = 0; i < b->nbrokers; i++) {
            size_t j;
            for (j = 0; j < nagg; j++)
                if (agg[j].id == b->brokers[i].id)
                    break;
            if (j == nagg) {
                if (nagg == aggcap) {
                    size_t nc = aggcap ? aggcap * 2 : 8;
                    hd_lmdb__touched_t *nn = hd_realloc(agg, nc * sizeof(*nn));
                    if (!nn)
                        break; /* listeners miss these; the next commit tells them */
                    agg = nn;
                    aggcap = nc;
                }
                agg[nagg].id = b->brokers[i].id;
                agg[nagg].max_seq = 0;
                nagg++;
            }
            if (b->brokers[i].max_seq > agg[j].max_seq)
                agg[j].max_seq = b->brokers[i].max_seq;
        }
    }
    while (list) {
        hd_lmdb__batch_t *b = list;
        list = b->next;
        /* The async handle keeps the loop alive only while batches are in flight. */
        if (lm->inflight > 0 && --lm->inflight == 0 && !lm->closing)
            uv_unref((uv_handle_t *)&lm->async);
        if (b->append_cb)
            b->append_cb(b->arg, b->status, b->status == HD_E_OK ? b->first_seq : 0);
        else if (b->cb)
            b->cb(b->arg, b->status);
        hd_lmdb__batch_free(b);
    }
    for (size_t j = 0; j < nagg; j++) {
        /* Index loop: a listener may add or remove listeners. */
        for (size_t i = 0; i < lm->nlisteners; i++)
            if (lm->listeners[i].fn)
                lm->listeners[i].fn(lm->listeners[i].arg, agg[j].id, agg[j].max_seq);
    }
    hd_free(agg);
}

void hd_lmdb__on_async(uv_async_t *h)
{
    hd_lmdb__drain_done(hd_container_of(h, hd_lmdb_t, async));
}

hd_err_t hd_lmdb__submit(hd_lmdb_t *lm, hd_lmdb__batch_t *b, hd_lmdb__done_fn cb, void *arg)
{
    if (!lm || !b) {
        hd_lmdb__batch_free(b);
        return HD_E_INVAL;
    }
    b->cb = cb;
    b->arg = arg;
    b->next = NULL;
    b->op_next = 0;
    hd_err_t err = HD_E_OK;
    pthread_mutex_lock(&lm->mu);
    /* The seqs of this batch are spent whatever happens: hand the high-water to the writer so
     * they are never handed out again, even after a restart. */
    for (size_t i = 0; i < b->nbrokers; i++) {
        uint64_t *p = hd_lmdb__u64map_put(&lm->hw_shared, b->brokers[i].id, 0);
        if (p && b->brokers[i].max_seq > *p)
            *p = b->brokers[i].max_seq;
    }
    if (lm->stopping || lm->closing) {
        err = HD_E_CLOSED;
    } else if (lm->q_len >= lm->opts.queue_max) {
        err = HD_E_BUSY;
    } else {
        if (lm->q_tail)
            lm->q_tail->next = b;
        else
            lm->q_head = b;
        lm->q_tail = b;
        lm->q_len++;
        pthread_cond_signal(&lm->cv);
    }
    pthread_mutex_unlock(&lm->mu);
    if (err == HD_E_OK && lm->inflight++ == 0)
        uv_ref((uv_handle_t *)&lm->async);
    if (err != HD_E_OK) {
        if (err == HD_E_BUSY)
            atomic_fetch_add_explicit(&lm->st_busy, 1, memory_order_relaxed);
        hd_lmdb__batch_free(b);
    }
    return err;
}

hd_err_t hd_lmdb__watch(hd_evlog_t *log, hd_evlog_commit_fn fn, void *arg)
{
    if (!log || !fn)
        return HD_E_INVAL;
    hd_lmdb_t *lm = hd_container_of(log, hd_lmdb_t, evlog);
    for (size_t i = 0; i < lm->nlisteners; i++) {
        if (!lm->listeners[i].fn) {
            lm->listeners[i].fn = fn;
            lm->listeners[i].arg = arg;
            return HD_E_OK;
        }
    }
    if (lm->nlisteners == lm->lcap) {
        size_t nc = lm->lcap ? lm->lcap * 2 : 4;
        hd_lmdb__listener_t *n = hd_realloc(lm->listeners, nc * sizeof(*n));
        if (!n)
            return HD_E_NOMEM;
        lm->listeners = n;
        lm->lcap = nc;
    }
    lm->listeners[lm->nlisteners].fn = fn;
    lm->listeners[lm->nlisteners].arg = arg;
    lm->nlisteners++;
    return HD_E_OK;
}

void hd_lmdb__unwatch(hd_evlog_t *log, hd_evlog_commit_fn fn, void *arg)
{
    if (!log)
        return;
    hd_lmdb_t *lm = hd_container_of(log, hd_lmdb_t, evlog);
    /* Slots are cleared, not compacted, so a drain iterating over them stays valid. */
    for (size_t i = 0; i < lm->nlisteners; i++) {
        if (lm->listeners[i].fn == fn && lm->listeners[i].arg == arg) {
            lm->listeners[i].fn = NULL;
            lm->listeners[i].arg = NULL;
            return;
        }
    }
}

void hd_lmdb__test_pause(hd_lmdb_t *lm, bool paused)
{
    pthread_mutex_lock(&lm->mu);
    lm->paused = paused;
    pthread_cond_signal(&lm->cv);
    pthread_mutex_unlock(&lm->mu);
}
