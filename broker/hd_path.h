/*
 * hd_path.h — splitting a request path into segments, without copying, for the routers of the
 * ingress and the admin API. Pure functions over memory; any thread.
 */
#ifndef HERALD_HD_PATH_H
#define HERALD_HD_PATH_H

#include "hd.h"

/* One segment of a path: `len` bytes at `s`, borrowed from the path (valid while it is). */
typedef struct {
    const char *s;
    size_t len;
} hd_path_seg_t;

/*
 * Splits the path (`len` bytes at `path`, need not be NUL-terminated) at every '/' into at most
 * `max` segments of segs. The path must start with '/'; "/" and "" have no segments. Empty
 * segments ("/a//b", and the one after a trailing '/') are kept with length 0, so a router that
 * wants names sees them and can refuse them. Returns the count, 0 when the path does not start
 * with '/', or max + 1 when there are more than `max` segments (segs then holds the first max).
 */
size_t hd_path_split(const char *path, size_t len, hd_path_seg_t *segs, size_t max);

/* True when the segment is exactly the NUL-terminated `lit`. */
bool hd_path_seg_is(const hd_path_seg_t *seg, const char *lit);

/* Copies the segment into buf (`cap` bytes) as a C string; false (buf unspecified) when it is
 * empty or does not fit. */
bool hd_path_seg_copy(const hd_path_seg_t *seg, char *buf, size_t cap);

#endif /* HERALD_HD_PATH_H */
