/*
 * hd.h — what every module of heraldd shares: the error table, the server context, logging and
 * the allocation wrapper.
 *
 * Threads: heraldd runs one libuv loop thread that owns all broker state, and one LMDB writer
 * thread (channels/lmdb/hd_lmdb.h). Unless a declaration says otherwise, a function is for the
 * loop thread.
 */
#ifndef HERALD_HD_H
#define HERALD_HD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "herald/ce.h"

/* The one error table of the daemon: X(name, message). */
#define HD_ERR_MAP(X)                                                                              \
    X(OK, "ok")                                                                                    \
    X(NOMEM, "out of memory")                                                                      \
    X(INVAL, "invalid argument")                                                                   \
    X(NOTFOUND, "not found")                                                                       \
    X(EXISTS, "already exists")                                                                    \
    X(BUSY, "overloaded, try again")                                                               \
    X(FULL, "store full")                                                                          \
    X(IO, "I/O error")                                                                             \
    X(STORE, "store error")                                                                        \
    X(CORRUPT, "corrupt record")                                                                   \
    X(CONFIG, "configuration error")                                                               \
    X(PARSE, "parse error")                                                                        \
    X(TIMEOUT, "timed out")                                                                        \
    X(CLOSED, "closed")                                                                            \
    X(NET, "network error")                                                                        \
    X(PROTO, "protocol error")                                                                     \
    X(TOOLARGE, "too large")

typedef enum {
#define HD__ERR_ENUM(name, msg) HD_E_##name,
    HD_ERR_MAP(HD__ERR_ENUM)
#undef HD__ERR_ENUM
        HD_E__COUNT
} hd_err_t;

/* Name ("BUSY") and message ("overloaded, try again") of an error; never NULL. Any thread. */
const char *hd_err_name(hd_err_t err);
const char *hd_err_message(hd_err_t err);

#define hd_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Allocation wrapper: every allocation of the daemon goes through these, so tests can make the
 * n-th allocation fail. Out of memory on the data path is an error, never an abort. Any thread. */
void *hd_malloc(size_t n);
void *hd_calloc(size_t n, size_t size);
void *hd_realloc(void *p, size_t n);
char *hd_strdup(const char *s);
char *hd_strndup(const char *s, size_t n);
void hd_free(void *p);
/* Tests: fail the n-th allocation from now (0 disables). */
void hd_alloc_fail_after(long n);

/* Parses `len` bytes of plain decimal digits (no sign, blanks or other characters) into *out.
 * False, *out unchanged, when empty, not all digits, or over UINT64_MAX. Any thread. */
bool hd_parse_u64(const char *s, size_t len, uint64_t *out);

/* Milliseconds of a monotonic clock, and of the wall clock (Unix epoch). Any thread. */
uint64_t hd_now_ms(void);
uint64_t hd_wall_ms(void);

/* Logging: one JSON object per line on stderr ({"ts":..,"level":..,"msg":..,k:v...}), or a
 * human line with hd_log_set_format(HD_LOG_TEXT). Any thread (one write(2) per line). */
typedef enum { HD_LOG_DEBUG, HD_LOG_INFO, HD_LOG_WARN, HD_LOG_ERROR } hd_log_level_t;
typedef enum { HD_LOG_JSON, HD_LOG_TEXT } hd_log_format_t;
void hd_log_set_format(hd_log_format_t f);
void hd_log_set_level(hd_log_level_t l);
/* msg is a plain message; the variadic part is key/value string pairs ending with NULL:
 * hd_log(HD_LOG_INFO, "broker ready", "namespace", ns, "broker", name, NULL); */
void hd_log(hd_log_level_t level, const char *msg, ...);

/* The modules' handles, declared once for every header that passes them. Modules receive the
 * handles they use at open; only main.c holds them all. */
typedef struct hd_config hd_config_t;
typedef struct hd_evlog hd_evlog_t;
typedef struct hd_state hd_state_t;
typedef struct hd_resources hd_resources_t;
typedef struct hd_dispatch hd_dispatch_t;
typedef struct hd_metrics hd_metrics_t;
typedef struct hd_http_server hd_http_server_t;
typedef struct hd_httpc hd_httpc_t;

#endif /* HERALD_HD_H */
