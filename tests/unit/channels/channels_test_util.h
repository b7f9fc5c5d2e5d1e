/*
 * channels_test_util.h — shared by the channels suites: temp directories, events, the backend
 * fixture, and a test batch (tb_t) that groups appends, progress records and state records and
 * reports once when every part committed, so a test can write "one batch" through the
 * interfaces (hd_evlog.h, hd_state.h) and check the callback order.
 *
 * The backend under test is chosen in ONE place: fx_open. Everything else reaches it through
 * fx->log (hd_evlog_t) and fx->state (hd_state_t); only LMDB-specific tests touch fx->lm.
 */
#ifndef HERALD_CHANNELS_TEST_UTIL_H
#define HERALD_CHANNELS_TEST_UTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_evlog.h"
#include "hd_lmdb.h"
#include "hd_state.h"

static char tmpdir[256];

static inline void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/herald-channels-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static inline void rm_tmpdir(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static inline hd_lmdb_opts_t opts_default(hd_durability_t d)
{
    hd_lmdb_opts_t o = {0};
    o.data_dir = tmpdir;
    o.durability = d;
    o.sync_interval_ms = 5;
    o.map_size_initial = 1 << 20;
    o.map_size_max = 256u << 20;
    o.queue_max = 1024;
    return o;
}

static inline ce_event_t *make_event(const char *id, const char *data)
{
    ce_event_t *ev = ce_event_new();
    ck_assert_ptr_nonnull(ev);
    ck_assert_int_eq(ce_event_set(ev, "specversion", "1.0", 3, NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set(ev, "id", id, strlen(id), NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set(ev, "source", "/test", 5, NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set(ev, "type", "t.test", 6, NULL), CE_E_OK);
    if (data)
        ck_assert_int_eq(ce_event_set_data(ev, data, strlen(data), false), CE_E_OK);
    return ev;
}

/* ---- the fixture: the backend under test -------------------------------------------------- */

/* Options of the backend under test: data_dir, durability, bounds (queue_max). */
typedef hd_lmdb_opts_t fx_opts_t;

typedef struct {
    hd_lmdb_t *lm; /* LMDB-specific tests only */
    hd_evlog_t *log;
    hd_state_t *state;
} fx_t;

/* Opens the backend under test with `o` (its durability, data_dir and bounds); returns the
 * status and, on success, *out (free with fx_close). */
static inline hd_err_t fx_try_open(uv_loop_t *loop, const fx_opts_t *o, fx_t **out)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    ck_assert_ptr_nonnull(fx);
    hd_err_t e = hd_lmdb_open(loop, o, &fx->lm);
    if (e != HD_E_OK) {
        free(fx);
        return e;
    }
    fx->log = hd_lmdb_evlog(fx->lm);
    fx->state = hd_lmdb_state(fx->lm);
    *out = fx;
    return HD_E_OK;
}

static inline fx_t *fx_open(uv_loop_t *loop, const fx_opts_t *o)
{
    fx_t *fx = NULL;
    ck_assert_int_eq(fx_try_open(loop, o, &fx), HD_E_OK);
    return fx;
}

/* While paused the backend commits nothing: writes queue up (and meet the queue bound), so a
 * test can build a group deterministically. */
static inline void fx_pause(fx_t *fx, bool paused)
{
    hd_lmdb__test_pause(fx->lm, paused);
}

/* Closes the backend (its pending callbacks run), finishes the loop and closes it. */
static inline void fx_close(uv_loop_t *loop, fx_t *fx)
{
    hd_lmdb_close(fx->lm);
    free(fx);
    uv_run(loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(loop), 0);
}

/* ---- test batches ------------------------------------------------------------------------- */

#define TB_GROUPS 8
#define TB_EVENTS 2048

typedef struct {
    uint32_t log_id;
    ce_event_t **evs;
    uint64_t **seq_out; /* per event: where to write its seq once committed (NULL: nowhere) */
    size_t n;
} tb_group_t;

typedef struct {
    fx_t *fx;
    tb_group_t g[TB_GROUPS];
    size_t ng;
    struct {
        uint32_t log_id;
        uint64_t upto, older;
    } trims[4];
    size_t ntrims;
    hd_evlog_txn_t *ptxn;
    hd_state_txn_t *stxn;
    int left;        /* parts not yet done */
    hd_err_t status; /* the first failure of a part */
    void (*cb)(void *, hd_err_t);
    void *arg;
} tb_t;

static inline tb_t *tb_new(fx_t *fx)
{
    tb_t *b = calloc(1, sizeof(*b));
    ck_assert_ptr_nonnull(b);
    b->fx = fx;
    return b;
}

static inline hd_evlog_txn_t *tb_ptxn(tb_t *b)
{
    if (!b->ptxn)
        b->ptxn = hd_evlog_txn_new(b->fx->log);
    ck_assert_ptr_nonnull(b->ptxn);
    return b->ptxn;
}

static inline hd_state_txn_t *tb_stxn(tb_t *b)
{
    if (!b->stxn)
        b->stxn = hd_state_txn_new(b->fx->state);
    ck_assert_ptr_nonnull(b->stxn);
    return b->stxn;
}

/* Adds an event with id `id` for log `log_id`; *seq (if not NULL) gets its seq on commit. */
static inline void add_event(tb_t *b, uint32_t log_id, const char *id, const char *data,
                             uint64_t *seq)
{
    size_t i;
    for (i = 0; i < b->ng; i++)
        if (b->g[i].log_id == log_id)
            break;
    if (i == b->ng) {
        ck_assert_uint_lt(b->ng, TB_GROUPS);
        b->g[i].log_id = log_id;
        b->g[i].evs = calloc(TB_EVENTS, sizeof(ce_event_t *));
        b->g[i].seq_out = calloc(TB_EVENTS, sizeof(uint64_t *));
        ck_assert_ptr_nonnull(b->g[i].evs);
        b->ng++;
    }
    tb_group_t *g = &b->g[i];
    ck_assert_uint_lt(g->n, TB_EVENTS);
    g->evs[g->n] = make_event(id, data);
    g->seq_out[g->n] = seq;
    if (seq)
        *seq = 0;
    g->n++;
}

static inline void tb_trim(tb_t *b, uint32_t log_id, uint64_t upto, uint64_t older)
{
    ck_assert_uint_lt(b->ntrims, 4);
    b->trims[b->ntrims].log_id = log_id;
    b->trims[b->ntrims].upto = upto;
    b->trims[b->ntrims].older = older;
    b->ntrims++;
}

static inline void tb_free(tb_t *b)
{
    for (size_t i = 0; i < b->ng; i++) {
        for (size_t k = 0; k < b->g[i].n; k++)
            ce_event_free(b->g[i].evs[k]);
        free(b->g[i].evs);
        free(b->g[i].seq_out);
    }
    hd_evlog_txn_free(b->ptxn);
    hd_state_txn_free(b->stxn);
    free(b);
}

static inline void tb_part_done(tb_t *b, hd_err_t status)
{
    if (status != HD_E_OK && b->status == HD_E_OK)
        b->status = status;
    if (--b->left > 0)
        return;
    if (b->cb)
        b->cb(b->arg, b->status);
    tb_free(b);
}

typedef struct {
    tb_t *b;
    size_t group;
} tb_append_ctx_t;

static inline void tb_append_done(void *arg, hd_err_t status, uint64_t first_seq)
{
    tb_append_ctx_t *c = arg;
    tb_group_t *g = &c->b->g[c->group];
    if (status == HD_E_OK) {
        ck_assert_uint_gt(first_seq, 0);
        for (size_t k = 0; k < g->n; k++)
            if (g->seq_out[k])
                *g->seq_out[k] = first_seq + k;
    }
    tb_t *b = c->b;
    free(c);
    tb_part_done(b, status);
}

static inline void tb_done(void *arg, hd_err_t status)
{
    tb_part_done(arg, status);
}

/*
 * Submits every part, in order: the appends (one per log, in first-use order), the trims, the
 * progress transaction, the state transaction. cb runs once, after the last part, with the
 * first failure. Takes b whatever the result. Returns the error of a part refused at once when
 * no part was accepted (then no callback), else HD_E_OK (a later refusal becomes the status).
 */
static inline hd_err_t tb_submit(tb_t *b, void (*cb)(void *, hd_err_t), void *arg)
{
    b->cb = cb;
    b->arg = arg;
    b->left = 1; /* held until every part is submitted */
    hd_err_t first_err = HD_E_OK;
    int accepted = 0;
    for (size_t i = 0; i < b->ng; i++) {
        tb_append_ctx_t *c = malloc(sizeof(*c));
        c->b = b;
        c->group = i;
        b->left++;
        hd_err_t e =
            hd_evlog_append(b->fx->log, b->g[i].log_id, b->g[i].evs, b->g[i].n, tb_append_done, c);
        if (e != HD_E_OK) {
            free(c);
            b->left--;
            if (!first_err)
                first_err = e;
        } else {
            accepted++;
        }
    }
    for (size_t i = 0; i < b->ntrims; i++) {
        b->left++;
        hd_err_t e = hd_evlog_trim(b->fx->log, b->trims[i].log_id, b->trims[i].upto,
                                   b->trims[i].older, tb_done, b);
        if (e != HD_E_OK) {
            b->left--;
            if (!first_err)
                first_err = e;
        } else {
            accepted++;
        }
    }
    if (b->ptxn) {
        hd_evlog_txn_t *t = b->ptxn;
        b->ptxn = NULL;
        b->left++;
        hd_err_t e = hd_evlog_txn_submit(t, tb_done, b);
        if (e != HD_E_OK) {
            b->left--;
            if (!first_err)
                first_err = e;
        } else {
            accepted++;
        }
    }
    if (b->stxn) {
        hd_state_txn_t *t = b->stxn;
        b->stxn = NULL;
        b->left++;
        hd_err_t e = hd_state_txn_submit(t, tb_done, b);
        if (e != HD_E_OK) {
            b->left--;
            if (!first_err)
                first_err = e;
        } else {
            accepted++;
        }
    }
    if (accepted == 0 && first_err) {
        tb_free(b);
        return first_err;
    }
    if (first_err && b->status == HD_E_OK)
        b->status = first_err;
    tb_part_done(b, HD_E_OK); /* releases the hold: the callback runs when every part is done */
    return HD_E_OK;
}

/* ---- callback recorder -------------------------------------------------------------------- */

#define MAX_CALLS 20000
typedef struct {
    int n;
    int order[MAX_CALLS];
    hd_err_t status[MAX_CALLS];
} calls_t;

typedef struct {
    calls_t *calls;
    int index;
} cb_arg_t;

static inline void on_done(void *arg, hd_err_t status)
{
    cb_arg_t *a = arg;
    ck_assert_int_lt(a->calls->n, MAX_CALLS);
    a->calls->order[a->calls->n] = a->index;
    a->calls->status[a->calls->n] = status;
    a->calls->n++;
}

/* Runs the loop until every submitted write has its callback (the backend unrefs its handle). */
static inline void run_loop(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
}

/* Submits a batch and runs the loop until its callback; returns the status. */
static inline hd_err_t submit_wait(uv_loop_t *loop, tb_t *b)
{
    calls_t *calls = calloc(1, sizeof(*calls));
    cb_arg_t a = {calls, 0};
    hd_err_t err = tb_submit(b, on_done, &a);
    ck_assert_int_eq(err, HD_E_OK);
    run_loop(loop);
    ck_assert_int_eq(calls->n, 1);
    err = calls->status[0];
    free(calls);
    return err;
}

/* ---- reads -------------------------------------------------------------------------------- */

typedef struct {
    int n;
    uint64_t seqs[MAX_CALLS];
    char ids[64][32];
    uint64_t ingest[MAX_CALLS];
} scan_t;

static inline bool on_scan(void *arg, uint64_t seq, uint64_t ingest, ce_event_t *ev)
{
    scan_t *s = arg;
    ck_assert_ptr_nonnull(ev); /* every stored record decodes */
    if (s->n < 64)
        snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", ce_event_get_str(ev, "id"));
    ce_event_free(ev);
    s->seqs[s->n] = seq;
    s->ingest[s->n] = ingest;
    s->n++;
    return true;
}

#endif /* HERALD_CHANNELS_TEST_UTIL_H */
