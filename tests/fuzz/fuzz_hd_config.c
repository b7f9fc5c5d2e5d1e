/*
 * fuzz_hd_config.c — libFuzzer target of heraldd's settings loader (broker/config.c): any bytes
 * as the YAML file. A file that loads must print as YAML that loads back to the same settings;
 * the duration parser gets the input as a string too. Seeds: tests/fuzz/seeds/fuzz_hd_config/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_config.h"
#include "hd_time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    hd_config_t cfg, again;
    char err[512];
    if (hd_config_load_buffer(&cfg, "fuzz", (const char *)data, size, err, sizeof(err)) ==
        HD_E_OK) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f) {
            hd_config_print(&cfg, f);
            fclose(f);
            if (hd_config_load_buffer(&again, "printed", text, len, err, sizeof(err)) != HD_E_OK)
                abort(); /* --print-config must always load back */
            if (again.max_event_bytes != cfg.max_event_bytes ||
                again.retention_ms != cfg.retention_ms ||
                again.manifest_count != cfg.manifest_count ||
                strcmp(again.data_dir, cfg.data_dir) != 0 ||
                strcmp(again.ingress_listen, cfg.ingress_listen) != 0)
                abort();
            hd_config_free(&again);
            free(text);
        }
        hd_config_free(&cfg);
    }
    char s[128];
    size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
    memcpy(s, data, n);
    s[n] = '\0';
    uint64_t ms;
    (void)hd_time_duration_parse(s, &ms);
    return 0;
}
