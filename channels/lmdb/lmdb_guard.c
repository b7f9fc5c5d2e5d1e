/*
 * lmdb_guard.c — checks made before LMDB maps data.mdb, so that a damaged or replaced file is
 * refused with a message instead of crashing the process (SIGBUS on pages past the end of a
 * truncated file) or silently starting an empty store:
 *
 *  - the data_dir marker `herald.id` (format version, a random store id, creation time), written
 *    once when the store is created or first opened by this version. A data_dir holding it whose
 *    data.mdb is missing or empty is refused: LMDB would create a new, empty store there.
 *  - the two meta pages of data.mdb, read with pread (not mapped): the newer valid one names the
 *    last page in use; a file shorter than (last page + 1) * page size is refused.
 *
 * The meta layout read here is LMDB 0.9's on-disk format (lmdb.h MDB_DATA_VERSION 1; mdb.c
 * MDB_page and MDB_meta, native byte order): a 16-byte page header, then magic (u32), version
 * (u32), address (pointer), map size (size_t), two MDB_db of 48 bytes whose first u32 in the
 * free DB holds the page size, last page (size_t), txn id (size_t). 64-bit hosts only, which is
 * what heraldd builds for; a layout we do not recognise leaves the check to LMDB.
 */
#include "lmdb_guard.h"
#include "hd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MDB_MAGIC 0xBEEFC0DEu
#define META_OFF 16    /* page header */
#define META_BYTES 160 /* through mm_txnid */

_Static_assert(sizeof(size_t) == 8 && sizeof(void *) == 8, "LMDB meta layout: 64-bit only");

static bool parse_meta(const uint8_t *b, uint32_t *psize, uint64_t *last_pg, uint64_t *txnid)
{
    uint32_t magic, version;
    memcpy(&magic, b + META_OFF, 4);
    memcpy(&version, b + META_OFF + 4, 4);
    if (magic != MDB_MAGIC || version != 1)
        return false;
    memcpy(psize, b + META_OFF + 24, 4); /* mm_dbs[FREE_DBI].md_pad */
    memcpy(last_pg, b + META_OFF + 120, 8);
    memcpy(txnid, b + META_OFF + 128, 8);
    return *psize >= 512 && *psize <= (1u << 20) && (*psize & (*psize - 1)) == 0;
}

hd_err_t hd_lmdb__file_meta(const char *path, hd_lmdb__file_meta_t *m, const char **why)
{
    memset(m, 0, sizeof(*m));
    *why = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = errno == ENOENT ? "missing" : "cannot be opened";
        return errno == ENOENT ? HD_E_NOTFOUND : HD_E_IO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        *why = "cannot be read";
        return HD_E_IO;
    }
    m->file_bytes = (uint64_t)sb.st_size;
    if (sb.st_size == 0) {
        close(fd);
        *why = "empty (0 bytes)";
        return HD_E_NOTFOUND;
    }
    uint8_t b[META_BYTES];
    uint32_t ps0 = 0, ps1 = 0;
    uint64_t lp0 = 0, lp1 = 0, tx0 = 0, tx1 = 0;
    bool ok0 = pread(fd, b, sizeof(b), 0) == (ssize_t)sizeof(b) && parse_meta(b, &ps0, &lp0, &tx0);
    bool ok1 = false;
    if (ok0)
        ok1 = pread(fd, b, sizeof(b), (off_t)ps0) == (ssize_t)sizeof(b) &&
              parse_meta(b, &ps1, &lp1, &tx1) && ps1 == ps0;
    close(fd);
    if (!ok0 && !ok1) {
        *why = "no valid LMDB meta page (not an LMDB file, or its first page is damaged)";
        return HD_E_STORE;
    }
    bool use1 = ok1 && (!ok0 || tx1 > tx0);
    m->page_size = use1 ? ps1 : ps0;
    m->last_page = use1 ? lp1 : lp0;
    m->txnid = use1 ? tx1 : tx0;
    m->metas_valid = (ok0 ? 1 : 0) + (ok1 ? 1 : 0);
    /* both metas must fit: LMDB may fall back to the older one */
    uint64_t last = lp0 > lp1 ? lp0 : lp1;
    m->needed_bytes = (last + 1) * m->page_size;
    if (m->needed_bytes < 2ull * m->page_size)
        m->needed_bytes = 2ull * m->page_size;
    if (m->file_bytes < m->needed_bytes) {
        *why = "shorter than its meta page says (truncated)";
        return HD_E_STORE;
    }
    return HD_E_OK;
}

static void marker_path(char *buf, size_t cap, const char *dir)
{
    snprintf(buf, cap, "%s/" HD_LMDB_MARKER, dir);
}

hd_err_t hd_lmdb__precheck(const char *data_dir, bool *fresh)
{
    char data[4200], marker[4200];
    snprintf(data, sizeof(data), "%s/data.mdb", data_dir);
    marker_path(marker, sizeof(marker), data_dir);
    bool marked = access(marker, F_OK) == 0;
    hd_lmdb__file_meta_t m;
    const char *why;
    hd_err_t e = hd_lmdb__file_meta(data, &m, &why);
    *fresh = false;
    if (e == HD_E_OK)
        return HD_E_OK;
    char fb[24], nb[24];
    snprintf(fb, sizeof(fb), "%llu", (unsigned long long)m.file_bytes);
    snprintf(nb, sizeof(nb), "%llu", (unsigned long long)m.needed_bytes);
    if (e == HD_E_NOTFOUND && !marked) {
        *fresh = true; /* a new store */
        return HD_E_OK;
    }
    if (e == HD_E_NOTFOUND) {
        hd_log(HD_LOG_ERROR,
               "store: data.mdb is missing or empty, but data_dir holds a store (herald.id); "
               "refusing to start an empty one (restore data.mdb from a backup, or remove "
               "herald.id to start afresh)",
               "path", data, HD_LOG_NUM("file_bytes"), fb, "marker", marker, NULL);
        return HD_E_STORE;
    }
    if (m.needed_bytes) {
        hd_log(HD_LOG_ERROR,
               "store: data.mdb is shorter than its meta page says (truncated?); "
               "refusing to open it",
               "path", data, HD_LOG_NUM("file_bytes"), fb, HD_LOG_NUM("needed_bytes"), nb, NULL);
        return HD_E_STORE;
    }
    hd_log(HD_LOG_ERROR, "store: data.mdb cannot be opened; refusing to start", "path", data,
           "reason", why, HD_LOG_NUM("file_bytes"), fb, NULL);
    return e == HD_E_IO ? HD_E_IO : HD_E_STORE;
}

hd_err_t hd_lmdb__mark(const char *data_dir)
{
    char marker[4200];
    marker_path(marker, sizeof(marker), data_dir);
    if (access(marker, F_OK) == 0)
        return HD_E_OK;
    uint8_t id[16];
    if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
        for (size_t i = 0; i < sizeof(id); i++, x = x * 6364136223846793005ull + 1)
            id[i] = (uint8_t)(x >> 56);
    }
    char hex[33];
    for (size_t i = 0; i < sizeof(id); i++)
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    char text[200];
    int n = snprintf(text, sizeof(text),
                     "herald-store %u\nid %s\ncreated %s\n"
                     "# data.mdb in this directory is a Herald store; do not delete it alone.\n",
                     HD_LMDB_MARKER_VERSION, hex, when);
    int fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
        close(fd);
        unlink(marker);
        goto fail;
    }
    close(fd);
    int dfd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return HD_E_OK;
fail:
    hd_log(HD_LOG_WARN, "store: cannot write the data_dir marker", "path", marker, "error",
           strerror(errno), NULL);
    return HD_E_IO;
}
