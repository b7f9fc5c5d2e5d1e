/*
 * hd_state.h — heraldd's local state that is not an event log: the stored resources (manifests
 * as applied) and small named values (id counters). It stays local whatever the log backend; the
 * LMDB backend implements it in the same environment as its logs.
 *
 * Writes are grouped in a state transaction and committed together; reads copy out.
 * Threads: every function is for the loop thread, and every callback runs on it.
 */
#ifndef HERALD_HD_STATE_H
#define HERALD_HD_STATE_H

#include "hd.h"

typedef struct hd_state hd_state_t;
typedef struct hd_state_txn hd_state_txn_t;

/* Done callback of a state transaction: HD_E_OK once committed, or HD_E_FULL, HD_E_IO,
 * HD_E_STORE, HD_E_NOMEM (nothing of it was written). Loop thread. */
typedef void (*hd_state_done_fn)(void *arg, hd_err_t status);

/* A stored resource: key "kind/namespace/name" (NUL-terminated) and its JSON, both borrowed and
 * valid only during the callback (json is not NUL-terminated). Return false to stop. */
typedef bool (*hd_state_resource_fn)(void *arg, const char *key, const char *json, size_t len);

typedef struct hd_state_ops {
    /* A new empty transaction, owned by the caller until submitted (or freed with txn_free).
     * NULL when out of memory. */
    hd_state_txn_t *(*txn_new)(hd_state_t *st);
    /* Frees an unsubmitted transaction. Accepts NULL. */
    void (*txn_free)(hd_state_txn_t *txn);
    /* Stores a resource's JSON (copied) under `key` ("kind/namespace/name", at most 500 bytes).
     * Errors: HD_E_INVAL, HD_E_NOMEM. */
    hd_err_t (*resource_put)(hd_state_txn_t *txn, const char *key, const char *json, size_t len);
    /* Deletes a stored resource, if any. Errors: HD_E_INVAL, HD_E_NOMEM. */
    hd_err_t (*resource_del)(hd_state_txn_t *txn, const char *key);
    /* Stores a named value (copied). Names starting with "store." are reserved for the backend.
     * Errors: HD_E_INVAL, HD_E_NOMEM. */
    hd_err_t (*meta_put)(hd_state_txn_t *txn, const char *name, const void *val, size_t len);
    /* Submits the transaction: the backend takes ownership whatever the result. `done` may be
     * NULL. Errors returned at once with no callback: HD_E_INVAL, HD_E_BUSY (write queue at its
     * bound), HD_E_CLOSED. */
    hd_err_t (*txn_submit)(hd_state_txn_t *txn, hd_state_done_fn done, void *arg);
    /* Every stored resource whose key starts with `prefix` ("" or NULL for all), in key order.
     * Errors: HD_E_INVAL, HD_E_NOMEM, HD_E_STORE. */
    hd_err_t (*resources_scan)(hd_state_t *st, const char *prefix, hd_state_resource_fn fn,
                               void *arg);
    /* A named value copied into buf (at most cap bytes); returns its length, or -1 when absent. */
    long (*meta_get)(hd_state_t *st, const char *name, void *buf, size_t cap);
} hd_state_ops_t;

/* The base the backend embeds in its own object. */
struct hd_state {
    const hd_state_ops_t *ops;
};

/* The base of every state transaction: the state it writes to. */
struct hd_state_txn {
    hd_state_t *st;
};

/* ---- wrappers: same contract as the table entry ----------------------------------------- */

static inline hd_state_txn_t *hd_state_txn_new(hd_state_t *st)
{
    return st->ops->txn_new(st);
}

/* Accepts NULL. */
static inline void hd_state_txn_free(hd_state_txn_t *txn)
{
    if (txn)
        txn->st->ops->txn_free(txn);
}

static inline hd_err_t hd_state_resource_put(hd_state_txn_t *txn, const char *key, const char *json,
                                             size_t len)
{
    return txn->st->ops->resource_put(txn, key, json, len);
}

static inline hd_err_t hd_state_resource_del(hd_state_txn_t *txn, const char *key)
{
    return txn->st->ops->resource_del(txn, key);
}

static inline hd_err_t hd_state_meta_put(hd_state_txn_t *txn, const char *name, const void *val,
                                         size_t len)
{
    return txn->st->ops->meta_put(txn, name, val, len);
}

static inline hd_err_t hd_state_txn_submit(hd_state_txn_t *txn, hd_state_done_fn done, void *arg)
{
    return txn->st->ops->txn_submit(txn, done, arg);
}

static inline hd_err_t hd_state_resources_scan(hd_state_t *st, const char *prefix,
                                               hd_state_resource_fn fn, void *arg)
{
    return st->ops->resources_scan(st, prefix, fn, arg);
}

static inline long hd_state_meta_get(hd_state_t *st, const char *name, void *buf, size_t cap)
{
    return st->ops->meta_get(st, name, buf, cap);
}

#endif /* HERALD_HD_STATE_H */
