/*
 * lmdb_state.c — the LMDB backend's local state (hd_state.h): the `resources` database and the
 * named values in `meta`, in the same environment and write queue as the logs.
 */
#include "lmdb_internal.h"

#include <string.h>

/* The batch behind a state transaction; NULL for NULL. */
static hd_lmdb__batch_t *batch_of(hd_state_txn_t *txn)
{
    return txn ? hd_container_of(txn, hd_lmdb__batch_t, stxn) : NULL;
}

static hd_state_txn_t *lmdb_state_txn_new(hd_state_t *state)
{
    hd_lmdb__batch_t *b =
        state ? hd_lmdb__batch_new(hd_container_of(state, hd_lmdb_t, state)) : NULL;
    return b ? &b->stxn : NULL;
}

static void lmdb_state_txn_free(hd_state_txn_t *txn)
{
    hd_lmdb__batch_free(batch_of(txn));
}

/* A keyed op with a string key and an optional copied value. */
static hd_err_t batch_keyed(hd_lmdb__batch_t *b, hd_lmdb__op_kind_t kind, const char *key,
                            const void *val, size_t len)
{
    if (!b || !key || !*key || strlen(key) > 500 || (!val && len))
        return HD_E_INVAL; /* LMDB's default max key size is 511 bytes */
    hd_lmdb__op_t *op = hd_lmdb__batch_op(b, kind);
    if (!op)
        return HD_E_NOMEM;
    op->skey = hd_strdup(key);
    if (!op->skey)
        return HD_E_NOMEM;
    if (kind != OP_RES_DEL) {
        op->val = hd_malloc(len);
        if (!op->val) {
            hd_free(op->skey);
            return HD_E_NOMEM;
        }
        if (len)
            memcpy(op->val, val, len);
        op->vlen = len;
    }
    b->nops++;
    b->bytes += strlen(key) + op->vlen;
    return HD_E_OK;
}

static hd_err_t lmdb_resource_put(hd_state_txn_t *txn, const char *key, const char *json,
                                  size_t len)
{
    return batch_keyed(batch_of(txn), OP_RES_PUT, key, json, len);
}

static hd_err_t lmdb_resource_del(hd_state_txn_t *txn, const char *key)
{
    return batch_keyed(batch_of(txn), OP_RES_DEL, key, NULL, 0);
}

static hd_err_t lmdb_meta_put(hd_state_txn_t *txn, const char *name, const void *val, size_t len)
{
    if (name && strncmp(name, "store.", 6) == 0)
        return HD_E_INVAL; /* reserved for the backend's own records */
    return batch_keyed(batch_of(txn), OP_META_PUT, name, val, len);
}

static hd_err_t lmdb_state_submit(hd_state_txn_t *txn, hd_state_done_fn done, void *arg)
{
    hd_lmdb__batch_t *b = batch_of(txn);
    if (!b)
        return HD_E_INVAL;
    return hd_lmdb__submit(b->lm, b, done, arg);
}

int hd_lmdb__apply_state_op(hd_lmdb_t *lm, MDB_txn *txn, hd_lmdb__op_t *op)
{
    MDB_val sk = {strlen(op->skey), op->skey}, v = {op->vlen, op->val};
    if (op->kind == OP_RES_DEL) {
        int rc = mdb_del(txn, lm->db_resources, &sk, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    return mdb_put(txn, op->kind == OP_RES_PUT ? lm->db_resources : lm->db_meta, &sk, &v, 0);
}

static hd_err_t lmdb_resources_scan(hd_state_t *state, const char *prefix, hd_state_resource_fn fn,
                                    void *arg)
{
    if (!state || !fn)
        return HD_E_INVAL;
    hd_lmdb_t *lm = hd_container_of(state, hd_lmdb_t, state);
    if (!prefix)
        prefix = "";
    size_t plen = strlen(prefix);
    MDB_txn *txn = hd_lmdb__read_begin(lm);
    if (!txn)
        return HD_E_STORE;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, lm->db_resources, &c);
    if (rc) {
        hd_lmdb__read_end(lm, txn);
        return HD_E_STORE;
    }
    MDB_val k = {plen, (void *)prefix}, v;
    rc = plen ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &v, MDB_FIRST);
    hd_err_t err = HD_E_OK;
    char *key = NULL;
    size_t keycap = 0;
    while (rc == 0) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            break;
        /* Keys are handed out NUL-terminated. */
        if (k.mv_size + 1 > keycap) {
            char *nk = hd_realloc(key, k.mv_size + 1);
            if (!nk) {
                err = HD_E_NOMEM;
                break;
            }
            key = nk;
            keycap = k.mv_size + 1;
        }
        memcpy(key, k.mv_data, k.mv_size);
        key[k.mv_size] = '\0';
        if (!fn(arg, key, v.mv_data, v.mv_size))
            break;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    hd_free(key);
    mdb_cursor_close(c);
    hd_lmdb__read_end(lm, txn);
    if (err)
        return err;
    return rc == 0 || rc == MDB_NOTFOUND ? HD_E_OK : HD_E_STORE;
}

static long lmdb_meta_get(hd_state_t *state, const char *name, void *buf, size_t cap)
{
    if (!state || !name)
        return -1;
    hd_lmdb_t *lm = hd_container_of(state, hd_lmdb_t, state);
    MDB_txn *txn = hd_lmdb__read_begin(lm);
    if (!txn)
        return -1;
    MDB_val k = {strlen(name), (void *)name}, v;
    long len = -1;
    if (mdb_get(txn, lm->db_meta, &k, &v) == 0) {
        len = (long)v.mv_size;
        if (buf)
            memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
    }
    hd_lmdb__read_end(lm, txn);
    return len;
}

const hd_state_ops_t hd_lmdb__state_ops = {
    .txn_new = lmdb_state_txn_new,
    .txn_free = lmdb_state_txn_free,
    .resource_put = lmdb_resource_put,
    .resource_del = lmdb_resource_del,
    .meta_put = lmdb_meta_put,
    .txn_submit = lmdb_state_submit,
    .resources_scan = lmdb_resources_scan,
    .meta_get = lmdb_meta_get,
};
