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

/* Logging: one JSON object per line ({"ts":..,"level":..,"msg":..,k:v...}), or a human line
 * with hd_log_set_format(HD_LOG_TEXT). Any thread; a line is never split or interleaved.
 * Until hd_log_start each line is one write(2) to stderr. Once started, hd_log never blocks
 * and never does I/O: lines go into a bounded buffer (log_sink.c) that a writer thread drains
 * to stderr or a file; when it is full a line is dropped and counted (hd_log_dropped). Repeated
 * warnings and errors are summarised once started: of one level, message and subject (the pairs
 * other than numbers and "id"), the first HD_LOG_REPEAT_MAX in a window of
 * HD_LOG_REPEAT_WINDOW_S seconds are written, then one line "MSG: N more times in S s" with the
 * subject's pairs and "suppressed" and "window_s" numbers. */
typedef enum { HD_LOG_DEBUG, HD_LOG_INFO, HD_LOG_WARN, HD_LOG_ERROR } hd_log_level_t;
typedef enum { HD_LOG_JSON, HD_LOG_TEXT } hd_log_format_t;
#define HD_LOG_REPEAT_MAX 20
#define HD_LOG_REPEAT_WINDOW_S 10
void hd_log_set_format(hd_log_format_t f);
void hd_log_set_level(hd_log_level_t l);
hd_log_level_t hd_log_level(void);
/* msg is a plain message; the variadic part is key/value string pairs ending with NULL:
 * hd_log(HD_LOG_INFO, "broker ready", "namespace", ns, "broker", name, NULL). A key written
 * with HD_LOG_NUM("count") (a leading '#') marks a number: in JSON its value is written
 * unquoted when it is a JSON number ("count":3), quoted otherwise. */
void hd_log(hd_log_level_t level, const char *msg, ...);
#define HD_LOG_NUM(key) "#" key

/* Starts the writer thread: lines go to `path` (opened for append, created 0644) or, when
 * path is NULL or empty, to stderr. Errors: HD_E_IO (the file; errno set), HD_E_NOMEM. */
hd_err_t hd_log_start(const char *path);
/* Asks the writer to reopen its file (after a rotation). No effect on stderr. Any thread. */
void hd_log_reopen(void);
/* Writes what is buffered (waiting at most `wait_ms` for a reader that does not read), stops
 * the thread; later lines are written directly to stderr again. */
void hd_log_stop(unsigned wait_ms);
/* Lines dropped because the buffer was full, and repeated lines left out of the log for a
 * summary, since start. Any thread. */
uint64_t hd_log_dropped(void);
uint64_t hd_log_suppressed(void);

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
