/*
 * log_sink.c — where log lines go. Before hd_log_start (tests, the first lines of start-up) a
 * line is one write(2) to stderr. Once started, a line is copied into a bounded ring buffer under
 * a mutex and a writer thread drains it, so no thread that logs (the loop, the LMDB writer) ever
 * waits for the reader of stderr or for the disk: when the ring is full the line is dropped and
 * counted. The writer waits for its fd with poll() and writes at most PIPE_BUF at a time, so it
 * notices a stop even while nobody reads the pipe. It also owns the repeat summaries: the
 * first HD_LOG_REPEAT_MAX warnings or errors of one level, message and subject in a window are
 * written, the rest are counted and summarised in one line when the window ends.
 *
 * The sink is process-wide state, as stderr is.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log_internal.h"

#define RING_BYTES (256u * 1024) /* a few thousand lines */
_Static_assert(HD_LOG__LINE_MAX <= PIPE_BUF, "a line must fit one atomic pipe write");
#define REPEAT_SLOTS 64
#define REPEAT_MSG_MAX 160
#define REPEAT_FIELDS_MAX 256 /* the subject's pairs, "k\0v\0...", kept for the summary */
#define POLL_MS 100           /* how often a writer blocked on its reader checks for a stop */

typedef struct {
    uint64_t hash; /* 0: free */
    hd_log_level_t level;
    char msg[REPEAT_MSG_MAX];
    char fields[REPEAT_FIELDS_MAX];
    size_t nfields;    /* pairs in fields */
    uint64_t start_ms; /* start of the window */
    uint64_t count;    /* lines of this window */
    uint64_t suppressed;
} repeat_t;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;    /* the writer: lines queued, stop or reopen */
    pthread_cond_t drained; /* hd_log_stop: the ring is empty or the writer gave up */
    bool active;            /* the writer thread runs: lines go through the ring */
    bool stopping;
    pthread_t thread;
    char *ring;
    size_t head, used; /* bytes at [head - used, head) modulo RING_BYTES are queued */
    int fd;
    char *path; /* NULL: stderr */
    repeat_t repeats[REPEAT_SLOTS];
    uint64_t dropped_reported;
} sink = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
    .drained = PTHREAD_COND_INITIALIZER,
    .fd = STDERR_FILENO,
};

static atomic_bool reopen_wanted;
static atomic_bool abandon; /* hd_log_stop gave up waiting: the writer exits now */
static atomic_uint_least64_t dropped_total;
static atomic_uint_least64_t suppressed_total;

uint64_t hd_log_dropped(void)
{
    return atomic_load(&dropped_total);
}

uint64_t hd_log_suppressed(void)
{
    return atomic_load(&suppressed_total);
}

/* Writes the whole line, retrying on EINTR and short writes (the direct path). */
static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Copies a line into the ring, or counts it dropped. Under sink.mu. */
static void ring_push(const char *line, size_t len)
{
    if (RING_BYTES - sink.used < len) {
        atomic_fetch_add(&dropped_total, 1);
        return;
    }
    size_t first = RING_BYTES - sink.head < len ? RING_BYTES - sink.head : len;
    memcpy(sink.ring + sink.head, line, first);
    memcpy(sink.ring, line + first, len - first);
    sink.head = (sink.head + len) % RING_BYTES;
    sink.used += len;
    pthread_cond_signal(&sink.wake);
}

void hd_log__emit(const char *line, size_t len)
{
    pthread_mutex_lock(&sink.mu);
    if (sink.active) {
        ring_push(line, len);
        pthread_mutex_unlock(&sink.mu);
        return;
    }
    pthread_mutex_unlock(&sink.mu);
    write_all(STDERR_FILENO, line, len);
}

/* ---- repeat summaries ------------------------------------------------------------------- */

/* The pairs that name what a line is about: not numbers (HD_LOG_NUM), not an event's "id". A
 * run is one level, message and subject: "corrupt event skipped" of trigger t and of trigger t2
 * are two runs; the same of events 7 and 8 are one. */
static bool subject_pair(const char *k, const char *v)
{
    return v && k[0] != '#' && strcmp(k, "id") != 0;
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (h ^ 0x1f) * 1099511628211ull; /* a separator, so "ab","c" != "a","bc" */
}

static uint64_t run_hash(hd_log_level_t level, const char *msg, const char *const *kv, size_t n)
{
    uint64_t h = fnv(1469598103934665603ull ^ (uint64_t)level, msg); /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        if (subject_pair(kv[2 * i], kv[2 * i + 1]))
            h = fnv(fnv(h, kv[2 * i]), kv[2 * i + 1]);
    return h ? h : 1;
}

/* Keeps the subject's pairs that fit, for the summary line. */
static void keep_fields(repeat_t *r, const char *const *kv, size_t n)
{
    size_t used = 0;
    r->nfields = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = kv[2 * i], *v = kv[2 * i + 1];
        if (!subject_pair(k, v))
            continue;
        size_t kl = strlen(k) + 1, vl = strlen(v) + 1;
        if (used + kl + vl > sizeof r->fields)
            break;
        memcpy(r->fields + used, k, kl);
        memcpy(r->fields + used + kl, v, vl);
        used += kl + vl;
        r->nfields++;
    }
}

/* Queues "MSG: N more times in S s" for a slot whose window ended, and frees the slot. Under
 * sink.mu. */
static void repeat_close(repeat_t *r, uint64_t now)
{
    if (r->suppressed) {
        uint64_t secs = (now - r->start_ms + 500) / 1000;
        char msg[REPEAT_MSG_MAX + 64], n[24], s[24];
        snprintf(msg, sizeof msg, "%s: %llu more times in %llu s", r->msg,
                 (unsigned long long)r->suppressed, (unsigned long long)secs);
        snprintf(n, sizeof n, "%llu", (unsigned long long)r->suppressed);
        snprintf(s, sizeof s, "%llu", (unsigned long long)secs);
        const char *kv[2 * (HD_LOG__PAIRS_MAX + 2)]; /* hd_log keeps at most that many pairs */
        size_t np = 0;
        const char *f = r->fields;
        for (size_t i = 0; i < r->nfields; i++, np++) {
            kv[2 * np] = f;
            f += strlen(f) + 1;
            kv[2 * np + 1] = f;
            f += strlen(f) + 1;
        }
        kv[2 * np] = HD_LOG_NUM("suppressed");
        kv[2 * np + 1] = n;
        np++;
        kv[2 * np] = HD_LOG_NUM("window_s");
        kv[2 * np + 1] = s;
        np++;
        static hd_log__line_t lb; /* under sink.mu: one at a time, off the small stacks */
        hd_log__format(&lb, r->level, msg, kv, np);
        ring_push(lb.buf, lb.len);
    }
    r->hash = 0;
}

static bool window_over(const repeat_t *r, uint64_t now)
{
    return now - r->start_ms >= HD_LOG_REPEAT_WINDOW_S * 1000ull;
}

bool hd_log__admit(hd_log_level_t level, const char *msg, const char *const *kv, size_t n)
{
    if (level < HD_LOG_WARN) /* debug is asked for; info is what was done (applied, deleted):
                              * every line. Floods are failures, warnings and errors. */
        return true;
    uint64_t h = run_hash(level, msg, kv, n), now = hd_now_ms();
    bool admit = true;
    pthread_mutex_lock(&sink.mu);
    if (!sink.active)
        goto out;
    repeat_t *slot = NULL, *free_slot = NULL;
    for (size_t i = 0; i < REPEAT_SLOTS; i++) {
        size_t k = (h + i) % REPEAT_SLOTS;
        repeat_t *r = &sink.repeats[k];
        if (r->hash == h && r->level == level && strncmp(r->msg, msg, REPEAT_MSG_MAX - 1) == 0) {
            slot = r;
            break;
        }
        if (r->hash && window_over(r, now))
            repeat_close(r, now);
        if (!r->hash && !free_slot)
            free_slot = r;
    }
    if (slot && window_over(slot, now)) {
        repeat_close(slot, now);
        free_slot = slot;
        slot = NULL;
    }
    if (!slot) {
        if (!free_slot)
            goto out; /* too many different messages at once: no summaries for this one */
        slot = free_slot;
        slot->hash = h;
        slot->level = level;
        snprintf(slot->msg, sizeof slot->msg, "%s", msg);
        keep_fields(slot, kv, n);
        slot->start_ms = now;
        slot->count = 0;
        slot->suppressed = 0;
    }
    if (++slot->count > HD_LOG_REPEAT_MAX) {
        slot->suppressed++;
        atomic_fetch_add(&suppressed_total, 1);
        admit = false;
    }
out:
    pthread_mutex_unlock(&sink.mu);
    return admit;
}

/* Closes the windows that ended, and says how many lines were dropped since it last did. Under
 * sink.mu, from the writer. */
static void tick(uint64_t now)
{
    for (size_t i = 0; i < REPEAT_SLOTS; i++)
        if (sink.repeats[i].hash && window_over(&sink.repeats[i], now))
            repeat_close(&sink.repeats[i], now);
    uint64_t dropped = atomic_load(&dropped_total);
    if (dropped != sink.dropped_reported && sink.used < RING_BYTES / 2) {
        char n[24], t[24];
        snprintf(n, sizeof n, "%llu", (unsigned long long)(dropped - sink.dropped_reported));
        snprintf(t, sizeof t, "%llu", (unsigned long long)dropped);
        const char *kv[] = {HD_LOG_NUM("dropped"), n, HD_LOG_NUM("dropped_total"), t};
        static hd_log__line_t lb;
        hd_log__format(&lb, HD_LOG_WARN, "log lines dropped: the log's reader was too slow", kv, 2);
        ring_push(lb.buf, lb.len);
        sink.dropped_reported = dropped;
    }
}

/* ---- the writer thread ------------------------------------------------------------------ */

static int open_log(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

/* Writes part of p when the fd takes it within POLL_MS: bytes written, 0 when it did not take
 * any (a reader that does not read), -1 on an error that will not go away. */
static ssize_t write_some(int fd, const char *p, size_t n)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    int pr = poll(&pfd, 1, POLL_MS);
    if (pr == 0 || (pr < 0 && errno == EINTR))
        return 0;
    if (pr < 0 || (pfd.revents & (POLLERR | POLLNVAL)))
        return -1;
    /* n <= PIPE_BUF: POLLOUT on a pipe promises room for that much */
    ssize_t w = write(fd, p, n);
    if (w < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    return w;
}

static void *writer_main(void *arg)
{
    (void)arg;
    uint64_t next_tick = hd_now_ms() + 1000;
    pthread_mutex_lock(&sink.mu);
    for (;;) {
        if (atomic_exchange(&reopen_wanted, false) && sink.path) {
            int fd = open_log(sink.path);
            if (fd >= 0) {
                close(sink.fd);
                sink.fd = fd;
            } else {
                char line[512];
                int l = snprintf(line, sizeof line, "heraldd: cannot reopen the log file %s: %s\n",
                                 sink.path, strerror(errno));
                write_all(STDERR_FILENO, line, (size_t)l < sizeof line ? (size_t)l : 0);
            }
        }
        uint64_t now = hd_now_ms();
        if (now >= next_tick) {
            tick(now);
            next_tick = now + 1000;
        }
        if (atomic_load(&abandon))
            break;
        if (sink.used == 0) {
            pthread_cond_broadcast(&sink.drained);
            if (sink.stopping)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&sink.wake, &sink.mu, &ts);
            continue;
        }
        size_t tail = (sink.head + RING_BYTES - sink.used) % RING_BYTES;
        size_t len = sink.used < PIPE_BUF ? sink.used : PIPE_BUF;
        int fd = sink.fd;
        pthread_mutex_unlock(&sink.mu);
        /* Only this thread reads the queued bytes and nobody writes there until used shrinks.
         * One write(2) is whole lines of at most PIPE_BUF bytes (a line is at most
         * HD_LOG__LINE_MAX == PIPE_BUF): atomic on a pipe, never interleaved with other
         * writers of the same pipe, and never half a line when the writer gives up. */
        static char chunk[PIPE_BUF];
        size_t first = RING_BYTES - tail < len ? RING_BYTES - tail : len;
        memcpy(chunk, sink.ring + tail, first);
        memcpy(chunk + first, sink.ring, len - first);
        while (len > 0 && chunk[len - 1] != '\n')
            len--;
        ssize_t w = len ? write_some(fd, chunk, len) : -1;
        pthread_mutex_lock(&sink.mu);
        if (w > 0)
            sink.used -= (size_t)w;
        else if (w < 0)
            sink.used = 0; /* nowhere to write (closed or broken): do not spin on it */
    }
    pthread_cond_broadcast(&sink.drained);
    pthread_mutex_unlock(&sink.mu);
    return NULL;
}

hd_err_t hd_log_start(const char *path)
{
    pthread_mutex_lock(&sink.mu);
    bool running = sink.active;
    pthread_mutex_unlock(&sink.mu);
    if (running)
        return HD_E_INVAL;
    char *ring = hd_malloc(RING_BYTES);
    char *p = path && *path ? hd_strdup(path) : NULL;
    if (!ring || (path && *path && !p)) {
        hd_free(ring);
        hd_free(p);
        return HD_E_NOMEM;
    }
    int fd = STDERR_FILENO;
    if (p && (fd = open_log(p)) < 0) {
        int saved = errno;
        hd_free(ring);
        hd_free(p);
        errno = saved;
        return HD_E_IO;
    }
    pthread_mutex_lock(&sink.mu);
    sink.ring = ring;
    sink.path = p;
    sink.fd = fd;
    sink.head = sink.used = 0;
    sink.stopping = false;
    memset(sink.repeats, 0, sizeof sink.repeats);
    sink.dropped_reported = atomic_load(&dropped_total);
    atomic_store(&abandon, false);
    atomic_store(&reopen_wanted, false);
    sink.active = true;
    int rc = pthread_create(&sink.thread, NULL, writer_main, NULL);
    if (rc != 0)
        sink.active = false;
    pthread_mutex_unlock(&sink.mu);
    if (rc != 0) {
        if (p)
            close(fd);
        hd_free(ring);
        hd_free(p);
        sink.ring = sink.path = NULL;
        sink.fd = STDERR_FILENO;
        return HD_E_NOMEM;
    }
    return HD_E_OK;
}

void hd_log_reopen(void)
{
    atomic_store(&reopen_wanted, true);
    pthread_mutex_lock(&sink.mu);
    pthread_cond_signal(&sink.wake);
    pthread_mutex_unlock(&sink.mu);
}

void hd_log_stop(unsigned wait_ms)
{
    pthread_mutex_lock(&sink.mu);
    if (!sink.active) {
        pthread_mutex_unlock(&sink.mu);
        return;
    }
    uint64_t now = hd_now_ms();
    for (size_t i = 0; i < REPEAT_SLOTS; i++) /* the summaries of the runs still open */
        if (sink.repeats[i].hash)
            repeat_close(&sink.repeats[i], now);
    sink.stopping = true;
    pthread_cond_signal(&sink.wake);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (sink.used > 0) {
        if (pthread_cond_timedwait(&sink.drained, &sink.mu, &ts) == ETIMEDOUT)
            break;
    }
    atomic_store(&abandon, true); /* a reader that never read: what is left is lost */
    pthread_cond_signal(&sink.wake);
    pthread_mutex_unlock(&sink.mu);
    pthread_join(sink.thread, NULL);
    pthread_mutex_lock(&sink.mu);
    sink.active = false;
    if (sink.path)
        close(sink.fd);
    sink.fd = STDERR_FILENO;
    hd_free(sink.ring);
    hd_free(sink.path);
    sink.ring = sink.path = NULL;
    sink.head = sink.used = 0;
    pthread_mutex_unlock(&sink.mu);
}
