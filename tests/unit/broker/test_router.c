/* test_router.c — the per-broker trigger index: exact-type/source triggers are only evaluated
 * for their events, each match is reported once, and 10,000 triggers give exactly the matching
 * set. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_resources.h"
#include "hd_router.h"

static ce_event_t *mkev(const char *type, const char *source)
{
    ce_event_t *ev = ce_event_new();
    ck_assert_int_eq(ce_event_set(ev, "specversion", "1.0", 3, NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set(ev, "id", "1", 1, NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set(ev, "source", source, strlen(source), NULL), CE_E_OK);
    ck_assert_int_eq(ce_event_set(ev, "type", type, strlen(type), NULL), CE_E_OK);
    return ev;
}

static hd_filter_t *compile(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    hd_filter_t *f = NULL;
    char err[256];
    ck_assert_int_eq(hd_filter_compile(NULL, j, &f, err, sizeof err), HD_E_OK);
    cJSON_Delete(j);
    return f;
}

typedef struct {
    hd_trigger_t **hits;
    size_t n, cap;
} hits_t;

static void collect(void *arg, hd_trigger_t *t)
{
    hits_t *h = arg;
    ck_assert(h->n < h->cap);
    h->hits[h->n++] = t;
}

START_TEST(routes_by_type_source_and_scan)
{
    hd_router_t *r = hd_router_new();
    hd_trigger_t t[5];
    memset(t, 0, sizeof t);
    t[0].filter = compile("[{\"exact\":{\"type\":\"a\"}}]");
    t[1].filter = compile("[{\"exact\":{\"source\":\"s1\"}}]");
    t[2].filter = compile("[{\"prefix\":{\"type\":\"a\"}}]");
    t[3].filter = NULL; /* matches everything */
    t[4].filter = compile("[{\"exact\":{\"type\":\"a\",\"source\":\"s2\"}}]");
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(hd_router_add(r, &t[i]), HD_E_OK);
    ck_assert_int_eq(hd_router_add(r, &t[0]), HD_E_EXISTS);
    ck_assert_int_eq((int)hd_router_count(r), 5);
    ck_assert_int_eq((int)hd_router_scan_count(r), 2);

    hd_trigger_t *buf[8];
    hits_t h = {buf, 0, 8};
    ce_event_t *e = mkev("a", "s1");
    hd_router_match(r, e, collect, &h);
    /* t0 (type a), t1 (source s1), t2 (prefix a), t3 (all); not t4 (source s2) */
    ck_assert_int_eq((int)h.n, 4);
    bool seen[5] = {0};
    for (size_t i = 0; i < h.n; i++)
        seen[h.hits[i] - t] = true;
    ck_assert(seen[0] && seen[1] && seen[2] && seen[3] && !seen[4]);
    ce_event_free(e);

    h.n = 0;
    e = mkev("b", "s2");
    hd_router_match(r, e, collect, &h);
    ck_assert_int_eq((int)h.n, 1); /* only t3 */
    ck_assert_ptr_eq(h.hits[0], &t[3]);
    ce_event_free(e);

    hd_router_remove(r, &t[3]);
    hd_router_remove(r, &t[0]);
    hd_router_remove(r, &t[0]); /* twice is harmless */
    ck_assert_int_eq((int)hd_router_count(r), 3);
    h.n = 0;
    e = mkev("a", "s2");
    hd_router_match(r, e, collect, &h);
    ck_assert_int_eq((int)h.n, 2); /* t2, t4 */
    ce_event_free(e);
    for (int i = 0; i < 5; i++)
        hd_filter_free(t[i].filter);
    hd_router_free(r);
}
END_TEST

/* 10,000 triggers (80% on exact type, 10% on exact source, 10% scanned): for 200 events the
 * router reports exactly the triggers a brute-force filter check says match, each once. */
START_TEST(ten_thousand_triggers)
{
    enum { N = 10000 };
    hd_router_t *r = hd_router_new();
    hd_trigger_t *t = calloc(N, sizeof *t);
    ck_assert_ptr_nonnull(t);
    char json[256];
    for (int i = 0; i < N; i++) {
        if (i % 10 == 9) /* 10% unindexed: suffix on type */
            snprintf(json, sizeof json, "[{\"suffix\":{\"type\":\".%d\"}}]", i % 100);
        else if (i % 10 == 8) /* 10% indexed on source */
            snprintf(json, sizeof json, "[{\"exact\":{\"source\":\"src%d\"}}]", i % 50);
        else /* 80% indexed on type, 1000 distinct types */
            snprintf(json, sizeof json, "[{\"exact\":{\"type\":\"type.%d\"}}]", i % 1000);
        t[i].id = (uint32_t)i;
        t[i].filter = compile(json);
        ck_assert_int_eq(hd_router_add(r, &t[i]), HD_E_OK);
    }
    ck_assert_int_eq((int)hd_router_count(r), N);
    ck_assert_int_eq((int)hd_router_scan_count(r), N / 10);

    hd_trigger_t **buf = calloc(N, sizeof *buf);
    unsigned char *want = calloc(N, 1);
    for (int q = 0; q < 200; q++) {
        char type[32], source[32];
        snprintf(type, sizeof type, "type.%d", (q * 37) % 1100); /* some types match nothing */
        snprintf(source, sizeof source, "src%d", (q * 13) % 60);
        ce_event_t *e = mkev(type, source);
        size_t expected = 0;
        for (int i = 0; i < N; i++) {
            want[i] = hd_filter_match(t[i].filter, e);
            expected += want[i];
        }
        hits_t h = {buf, 0, N};
        hd_router_match(r, e, collect, &h);
        ck_assert_int_eq((int)h.n, (int)expected);
        for (size_t k = 0; k < h.n; k++) {
            uint32_t id = h.hits[k]->id;
            ck_assert_msg(want[id] == 1, "trigger %u reported twice or wrongly", id);
            want[id] = 2;
        }
        ce_event_free(e);
    }
    /* remove half, the rest still routes exactly */
    for (int i = 0; i < N; i += 2)
        hd_router_remove(r, &t[i]);
    ck_assert_int_eq((int)hd_router_count(r), N / 2);
    ce_event_t *e = mkev("type.1", "src1");
    hits_t h = {buf, 0, N};
    hd_router_match(r, e, collect, &h);
    size_t expected = 0;
    for (int i = 1; i < N; i += 2)
        expected += hd_filter_match(t[i].filter, e);
    ck_assert_int_eq((int)h.n, (int)expected);
    ck_assert(expected > 0);
    ce_event_free(e);
    for (int i = 0; i < N; i++)
        hd_filter_free(t[i].filter);
    hd_router_free(r);
    free(t);
    free(buf);
    free(want);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, routes_by_type_source_and_scan);
    tcase_add_test(tc, ten_thousand_triggers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
