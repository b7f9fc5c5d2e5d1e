/*
 * test_map.c — the broker's shared hash map (hd_map.h): lookups by exact key bytes, growth by
 * doubling that keeps every node findable, unlinking, an allocation failure that leaves the map
 * as it was, and the hash values (the registries' hash order depends on them).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_map.h"

typedef struct {
    int value;
    hd_map_node_t node;
    char key[32];
} item_t;

static item_t *find(const hd_map_t *m, const char *key)
{
    hd_map_node_t *n = hd_map_find(m, key, strlen(key));
    return n ? hd_container_of(n, item_t, node) : NULL;
}

START_TEST(hash_values)
{
    /*
     * FNV-1a's step and prime, from the offset basis 1469598103934665603 the three registries
     * used before they shared this map (not the published 14695981039346656037): pinned so the
     * resources' hash order stays as it was.
     */
    ck_assert_uint_eq(hd_map_hash("", 0), 0x14650fb0739d0383ull);
    ck_assert_uint_eq(hd_map_hash("a", 1), 0x44bd8ad473cd9906ull);
    ck_assert_uint_eq(hd_map_hash("foobar", 6), 0x88fad7c0a8ff07f2ull);
}
END_TEST

START_TEST(link_find_unlink)
{
    hd_map_t m = {0};
    ck_assert_ptr_null(hd_map_find(&m, "x", 1)); /* no buckets yet */
    enum { N = 1000 };
    item_t *items = calloc(N, sizeof *items);
    ck_assert_ptr_nonnull(items);
    for (int i = 0; i < N; i++) {
        items[i].value = i;
        snprintf(items[i].key, sizeof items[i].key, "brokers/ns/b%d", i);
        ck_assert_int_eq(hd_map_reserve(&m, 16), HD_E_OK);
        hd_map_link(&m, &items[i].node, items[i].key, strlen(items[i].key));
        ck_assert_uint_eq(m.count, (size_t)i + 1);
        ck_assert_uint_ge(m.nbuckets, m.count);
    }
    ck_assert_uint_eq(m.nbuckets, 1024); /* 16 doubled six times */
    for (int i = 0; i < N; i++) {
        char k[32];
        snprintf(k, sizeof k, "brokers/ns/b%d", i);
        item_t *it = find(&m, k);
        ck_assert_ptr_nonnull(it);
        ck_assert_int_eq(it->value, i);
    }
    /* exact bytes: a prefix, a longer key and another case are other keys */
    ck_assert_ptr_null(find(&m, "brokers/ns/b"));
    ck_assert_ptr_null(find(&m, "brokers/ns/b10000"));
    ck_assert_ptr_null(find(&m, "BROKERS/ns/b1"));
    ck_assert_ptr_nonnull(hd_map_find(&m, "brokers/ns/b12", 13)); /* a length-bounded key */
    ck_assert_int_eq(hd_container_of(hd_map_find(&m, "brokers/ns/b12", 13), item_t, node)->value,
                     1);

    ck_assert(hd_map_unlink(&m, &items[7].node));
    ck_assert(!hd_map_unlink(&m, &items[7].node)); /* not linked any more */
    ck_assert_ptr_null(find(&m, "brokers/ns/b7"));
    ck_assert_ptr_nonnull(find(&m, "brokers/ns/b8"));
    ck_assert_uint_eq(m.count, N - 1);
    /* every node is reached once by walking the buckets */
    size_t seen = 0;
    for (size_t i = 0; i < m.nbuckets; i++)
        for (hd_map_node_t *n = m.buckets[i]; n; n = n->next)
            seen++;
    ck_assert_uint_eq(seen, N - 1);
    hd_map_free(&m);
    ck_assert_ptr_null(m.buckets);
    ck_assert_uint_eq(m.nbuckets, 0);
    ck_assert_uint_eq(m.count, 0);
    hd_map_free(NULL);
    free(items);
}
END_TEST

START_TEST(failed_growth_leaves_the_map_usable)
{
    hd_map_t m = {0};
    item_t items[5];
    memset(items, 0, sizeof items);
    hd_alloc_fail_after(1);
    ck_assert_int_eq(hd_map_reserve(&m, 4), HD_E_NOMEM);
    hd_alloc_fail_after(0);
    ck_assert_uint_eq(m.nbuckets, 0);
    for (int i = 0; i < 4; i++) {
        snprintf(items[i].key, sizeof items[i].key, "k%d", i);
        ck_assert_int_eq(hd_map_reserve(&m, 4), HD_E_OK);
        hd_map_link(&m, &items[i].node, items[i].key, strlen(items[i].key));
    }
    ck_assert_uint_eq(m.nbuckets, 4);
    hd_alloc_fail_after(1);
    ck_assert_int_eq(hd_map_reserve(&m, 4), HD_E_NOMEM); /* full: would double, cannot */
    hd_alloc_fail_after(0);
    ck_assert_uint_eq(m.nbuckets, 4);
    /* linking anyway only makes a chain longer */
    snprintf(items[4].key, sizeof items[4].key, "k4");
    hd_map_link(&m, &items[4].node, items[4].key, 2);
    for (int i = 0; i < 5; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        ck_assert_ptr_eq(find(&m, k), &items[i]);
    }
    ck_assert_int_eq(hd_map_reserve(&m, 4), HD_E_OK);
    ck_assert_uint_eq(m.nbuckets, 8);
    for (int i = 0; i < 5; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%d", i);
        ck_assert_ptr_eq(find(&m, k), &items[i]);
    }
    hd_map_free(&m);
}
END_TEST

static Suite *map_suite(void)
{
    Suite *s = suite_create("map");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, hash_values);
    tcase_add_test(tc, link_find_unlink);
    tcase_add_test(tc, failed_growth_leaves_the_map_usable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(map_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
