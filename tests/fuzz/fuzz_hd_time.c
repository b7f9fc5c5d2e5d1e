/*
 * fuzz_hd_time.c — libFuzzer target of the daemon's small text parsers: ISO 8601 and Go-style
 * durations, RFC 3339 times (a parsed time formats back to text that parses to the same time),
 * decimal numbers, URL path splitting, and a channel's in-cluster Host name. Any input must give
 * an answer, never a crash, an overflow or a read past its end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hd.h"
#include "hd_path.h"
#include "hd_resources.h"
#include "hd_time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1); /* the parsers take NUL-terminated text */
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    uint64_t ms;
    (void)hd_time_iso_duration_parse(s, &ms);
    (void)hd_time_duration_parse(s, &ms);
    if (hd_time_rfc3339_parse(s, &ms)) {
        char buf[64];
        uint64_t back;
        hd_time_rfc3339_format(ms, true, buf, sizeof buf);
        if (!hd_time_rfc3339_parse(buf, &back) || back != ms)
            __builtin_trap(); /* what we print must read back the same */
    }
    uint64_t n;
    (void)hd_parse_u64((const char *)data, size, &n);
    hd_path_seg_t segs[8];
    size_t k = hd_path_split((const char *)data, size, segs, 7);
    for (size_t i = 0; i < k && i < 7; i++) {
        char seg[32];
        if (segs[i].s < (const char *)data || segs[i].s + segs[i].len > (const char *)data + size)
            __builtin_trap();
        (void)hd_path_seg_copy(&segs[i], seg, sizeof seg);
    }
    /* an empty registry: every Host name is looked up and none is found */
    hd_resources_t *r = NULL;
    if (hd_resources_open(NULL, NULL, &r) == HD_E_OK) {
        if (hd_resources_channel_by_host(r, (const char *)data, size))
            __builtin_trap();
        hd_resources_close(r);
    }
    free(s);
    return 0;
}
