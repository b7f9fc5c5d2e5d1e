/*
 * lmdb_guard.h — what is checked about data_dir and data.mdb before LMDB maps the file
 * (lmdb_guard.c), shared by the backend's open and `heraldd --check`. Any thread.
 */
#ifndef HERALD_LMDB_GUARD_H
#define HERALD_LMDB_GUARD_H

#include "hd.h"

#define HD_LMDB_MARKER "herald.id"
#define HD_LMDB_MARKER_VERSION 1u

typedef struct {
    uint64_t file_bytes;   /* size of data.mdb */
    uint64_t needed_bytes; /* (highest last page of the valid metas + 1) * page size */
    uint32_t page_size;
    uint64_t last_page, txnid; /* of the newer valid meta */
    int metas_valid;           /* 0, 1 or 2 */
} hd_lmdb__file_meta_t;

/* Reads the meta pages of the LMDB file `path` with pread. HD_E_OK when the file is at least as
 * long as they say; HD_E_NOTFOUND when missing or empty; HD_E_STORE when no meta is valid or
 * the file is short (needed_bytes > file_bytes); HD_E_IO. *why: a static reason, or NULL. */
hd_err_t hd_lmdb__file_meta(const char *path, hd_lmdb__file_meta_t *m, const char **why);

/* Before mdb_env_open: refuses (logged, HD_E_STORE or HD_E_IO) a short or unreadable data.mdb,
 * and a missing or empty one in a data_dir marked as initialised. *fresh: no store yet. */
hd_err_t hd_lmdb__precheck(const char *data_dir, bool *fresh);

/* Writes data_dir/herald.id when it is missing (synced with its directory). HD_E_IO (logged). */
hd_err_t hd_lmdb__mark(const char *data_dir);

#endif /* HERALD_LMDB_GUARD_H */
