/*
 * test_path.c — hd_path.h: splitting request paths into segments.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "hd_path.h"

static size_t split(const char *path, hd_path_seg_t *segs, size_t max)
{
    return hd_path_split(path, strlen(path), segs, max);
}

START_TEST(split_segments)
{
    hd_path_seg_t s[4];
    ck_assert_uint_eq(split("/ns/broker", s, 4), 2);
    ck_assert(hd_path_seg_is(&s[0], "ns"));
    ck_assert(hd_path_seg_is(&s[1], "broker"));
    ck_assert(!hd_path_seg_is(&s[1], "brokers"));
    ck_assert(!hd_path_seg_is(&s[1], "broke"));
    ck_assert_uint_eq(split("/healthz", s, 4), 1);
    ck_assert(hd_path_seg_is(&s[0], "healthz"));
    ck_assert_uint_eq(split("/", s, 4), 0);
    ck_assert_uint_eq(split("", s, 4), 0);
    ck_assert_uint_eq(split("ns/broker", s, 4), 0); /* not absolute */
}
END_TEST

START_TEST(split_keeps_empty_segments)
{
    hd_path_seg_t s[4];
    ck_assert_uint_eq(split("/a//b", s, 4), 3);
    ck_assert_uint_eq(s[1].len, 0);
    ck_assert(hd_path_seg_is(&s[2], "b"));
    ck_assert_uint_eq(split("/a/b/", s, 4), 3);
    ck_assert_uint_eq(s[2].len, 0);
    ck_assert_uint_eq(split("//", s, 4), 2);
}
END_TEST

START_TEST(split_bounds)
{
    hd_path_seg_t s[2];
    ck_assert_uint_eq(split("/a/b", s, 2), 2);
    ck_assert_uint_eq(split("/a/b/c", s, 2), 3); /* max + 1: too many */
    ck_assert(hd_path_seg_is(&s[1], "b"));
    /* only len bytes are read: the query after the path is not a segment */
    const char *p = "/x/y?z=/w";
    ck_assert_uint_eq(hd_path_split(p, 4, s, 2), 2);
    ck_assert(hd_path_seg_is(&s[1], "y"));
}
END_TEST

START_TEST(seg_copy)
{
    hd_path_seg_t s[3];
    char buf[4];
    ck_assert_uint_eq(split("/abc/abcd/", s, 3), 3);
    ck_assert(hd_path_seg_copy(&s[0], buf, sizeof buf));
    ck_assert_str_eq(buf, "abc");
    ck_assert(!hd_path_seg_copy(&s[1], buf, sizeof buf)); /* no room for the NUL */
    ck_assert(!hd_path_seg_copy(&s[2], buf, sizeof buf)); /* empty */
}
END_TEST

static Suite *path_suite(void)
{
    Suite *s = suite_create("path");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, split_segments);
    tcase_add_test(tc, split_keeps_empty_segments);
    tcase_add_test(tc, split_bounds);
    tcase_add_test(tc, seg_copy);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(path_suite());
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
