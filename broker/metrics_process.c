/*
 * metrics_process.c — the process's own series in the metrics registry (hd_metrics.h): CPU time,
 * memory, file descriptors and start time under Prometheus's standard process_* names, read from
 * /proc/self at each render, and herald_build_info. Linux only; where /proc cannot be read the
 * series keep their last values.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "hd_metrics.h"

struct hd_metrics_process {
    hd_metrics_t *m;
    hd_metric_t *cpu, *rss, *vsz, *fds, *max_fds, *start;
    uint64_t start_s; /* computed once: it does not change */
};

/* The fields of /proc/self/stat after the command name (which may hold spaces and parentheses):
 * field 3 (state) is fields[0]. Returns how many were split, at most cap. */
static size_t stat_fields(char *buf, char **fields, size_t cap)
{
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    size_t n = 0;
    for (char *save = NULL, *t = strtok_r(p + 1, " \n", &save); t && n < cap;
         t = strtok_r(NULL, " \n", &save))
        fields[n++] = t;
    return n;
}

/* Seconds since the epoch when the system booted (btime of /proc/stat), 0 if unknown. */
static uint64_t boot_time_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long bt = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %llu", &bt) == 1)
            break;
    fclose(f);
    return bt;
}

static size_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* the directory's own descriptor */
}

static void process_render(void *arg)
{
    hd_metrics_process_t *p = arg;
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        char buf[1024];
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *fl[24];
        /* fields 14 utime, 15 stime, 22 starttime, 23 vsize, 24 rss (fl[k - 3]) */
        if (stat_fields(buf, fl, 24) >= 22 && tick > 0) {
            unsigned long long ut = strtoull(fl[11], NULL, 10), st = strtoull(fl[12], NULL, 10);
            hd_metric_set(p->cpu, (int64_t)((ut + st) * 1000000ull / (unsigned long long)tick));
            hd_metric_set(p->vsz, (int64_t)strtoull(fl[20], NULL, 10));
            hd_metric_set(p->rss, (int64_t)strtoull(fl[21], NULL, 10) * (page > 0 ? page : 4096));
            if (p->start_s == 0) {
                uint64_t bt = boot_time_s();
                if (bt)
                    p->start_s = bt + strtoull(fl[19], NULL, 10) / (unsigned long long)tick;
            }
        }
    }
    if (p->start_s)
        hd_metric_set(p->start, (int64_t)p->start_s);
    hd_metric_set(p->fds, (int64_t)count_fds());
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        hd_metric_set(p->max_fds, rl.rlim_cur == RLIM_INFINITY ? INT64_MAX : (int64_t)rl.rlim_cur);
}

hd_err_t hd_metrics_process_open(hd_metrics_t *m, const char *version, const char *commit,
                                 hd_metrics_process_t **out)
{
    if (!m || !out)
        return HD_E_INVAL;
    hd_metrics_process_t *p = hd_calloc(1, sizeof *p);
    if (!p)
        return HD_E_NOMEM;
    p->m = m;
    p->cpu = hd_metrics_counter_micro(m, "process_cpu_seconds_total",
                                      "Total user and system CPU time spent in seconds.", NULL);
    p->rss = hd_metrics_gauge(m, "process_resident_memory_bytes", "Resident memory size in bytes.",
                              NULL);
    p->vsz =
        hd_metrics_gauge(m, "process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL);
    p->fds = hd_metrics_gauge(m, "process_open_fds", "Number of open file descriptors.", NULL);
    p->max_fds =
        hd_metrics_gauge(m, "process_max_fds", "Maximum number of open file descriptors.", NULL);
    p->start = hd_metrics_gauge(m, "process_start_time_seconds",
                                "Start time of the process since unix epoch in seconds.", NULL);
    hd_metric_t *info = hd_metrics_gauge(
        m, "herald_build_info", "heraldd's version and the commit it was built from (always 1)",
        "version", version ? version : "unknown", "commit", commit ? commit : "unknown");
    if (!p->cpu || !p->rss || !p->vsz || !p->fds || !p->max_fds || !p->start || !info ||
        hd_metrics_on_render(m, process_render, p) != HD_E_OK) {
        hd_free(p);
        return HD_E_NOMEM;
    }
    hd_metric_set(info, 1);
    process_render(p);
    *out = p;
    return HD_E_OK;
}

void hd_metrics_process_close(hd_metrics_process_t *p)
{
    if (!p)
        return;
    hd_metrics_off_render(p->m, process_render, p);
    hd_free(p);
}
