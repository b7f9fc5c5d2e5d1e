/*
 * cli_manifest_ids_fuzz.c — libFuzzer target for `herald delete -f`'s manifest reader
 * (cli/manifest_ids.c): any bytes in, never a crash, a leak or a read out of bounds, and every
 * object it returns has its strings NUL-terminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest_ids.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cli_manifest_ids_t ids;
    char err[256];
    if (cli_manifest_ids((const char *)data, size, &ids, err, sizeof err) == 0) {
        size_t total = 0;
        for (size_t i = 0; i < ids.n; i++) {
            const char *s[] = {ids.v[i].api_version, ids.v[i].kind, ids.v[i].ns, ids.v[i].name};
            for (int k = 0; k < 4; k++)
                total += s[k] ? strlen(s[k]) : 0;
        }
        (void)total;
        cli_manifest_ids_free(&ids);
    } else if (!memchr(err, '\0', sizeof err)) {
        abort();
    }
    return 0;
}
