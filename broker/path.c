/*
 * path.c — request path segments (hd_path.h).
 */
#include "hd_path.h"

#include <string.h>

size_t hd_path_split(const char *path, size_t len, hd_path_seg_t *segs, size_t max)
{
    if (len < 2 || path[0] != '/')
        return 0;
    size_t n = 0, i = 1;
    /* i == len after a trailing '/' yields the empty last segment */
    while (i <= len) {
        size_t start = i;
        while (i < len && path[i] != '/')
            i++;
        if (n == max)
            return max + 1;
        segs[n].s = path + start;
        segs[n].len = i - start;
        n++;
        i++;
    }
    return n;
}

bool hd_path_seg_is(const hd_path_seg_t *seg, const char *lit)
{
    size_t l = strlen(lit);
    return seg->len == l && memcmp(seg->s, lit, l) == 0;
}

bool hd_path_seg_copy(const hd_path_seg_t *seg, char *buf, size_t cap)
{
    if (seg->len == 0 || seg->len >= cap)
        return false;
    memcpy(buf, seg->s, seg->len);
    buf[seg->len] = '\0';
    return true;
}
