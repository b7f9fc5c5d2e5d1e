/*
 * log_internal.h — what log.c (formatting, levels, hd_log) and log_sink.c (the bounded buffer,
 * its writer thread and the repeat summaries) share. Not for other modules: they use hd.h.
 */
#ifndef HERALD_LOG_INTERNAL_H
#define HERALD_LOG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "hd.h"

/* One log line is built in a fixed buffer; longer lines are cut with "..." so a line is always
 * bounded (and, written directly, a single write(2): PIPE_BUF-sized writes stay atomic). */
#define HD_LOG__LINE_MAX 4096 /* == PIPE_BUF on Linux: log_sink.c writes whole lines */
/* Most key/value pairs of one line; later ones are left out. */
#define HD_LOG__PAIRS_MAX 32

typedef struct {
    char buf[HD_LOG__LINE_MAX];
    size_t len;
    bool truncated;
} hd_log__line_t;

/* Builds one complete line (ending in '\n') of `level` and `msg` with `npairs` key/value pairs
 * kv[2i], kv[2i+1] (a NULL value is written as null and ends the pairs) in the current format.
 * Pure apart from the clock and the format setting; any thread. */
void hd_log__format(hd_log__line_t *lb, hd_log_level_t level, const char *msg,
                    const char *const *kv, size_t npairs);

/* The sink (log_sink.c). hd_log__admit: false when this line (level, msg and the pairs that
 * name its subject) is one of a run being summarised and must be left out. hd_log__emit: queues the
 * line (or writes it directly when the writer is not running); never blocks once started. Any
 * thread. */
bool hd_log__admit(hd_log_level_t level, const char *msg, const char *const *kv, size_t npairs);
void hd_log__emit(const char *line, size_t len);

#endif /* HERALD_LOG_INTERNAL_H */
