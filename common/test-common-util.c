/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>

#include "blob.h"
#include "json-util.h"
#include "time-util.h"
#include "util.h"

static void test_blanks_and_blank_lines(void **state) {
        assert_true(is_blank(' '));
        assert_true(is_blank('\t'));
        assert_false(is_blank('\n'));
        assert_false(is_blank('x'));
        assert_true(is_blank_line(NULL));
        assert_true(is_blank_line(""));
        assert_true(is_blank_line(" \t\r\n"));
        assert_false(is_blank_line("  x\n"));
}

static void test_strv_sort_orders_by_strcmp(void **state) {
        _cleanup_strv_free_ char **l = NULL;

        strv_sort(NULL);
        assert_int_equal(strv_extend(&l, "b.conf"), 0);
        assert_int_equal(strv_extend(&l, "a.conf"), 0);
        assert_int_equal(strv_extend(&l, "B.conf"), 0);
        strv_sort(l);
        assert_true(strv_equal(l, STRV_MAKE("B.conf", "a.conf", "b.conf")));
}

static void test_ms_are_rounded_half_up_to_a_tenth(void **state) {
        assert_true(usec_to_ms(0) == 0.0);
        assert_true(usec_to_ms(1210449) == 1210.4);
        assert_true(usec_to_ms(1210450) == 1210.5);
        assert_true(usec_to_ms(49) == 0.0);
        assert_true(usec_to_ms(50) == 0.1);
        assert_true(usec_to_ms(USEC_PER_SEC) == 1000.0);
}

static void test_usec_sort_and_nearest_rank_percentiles(void **state) {
        usec_t v[] = { 30, 10, USEC_INFINITY - 1, 20, 10 };
        usec_t one = 7;

        qsort(v, ELEMENTSOF(v), sizeof(usec_t), usec_compare);
        assert_true(v[0] == 10 && v[1] == 10 && v[2] == 20 && v[3] == 30 && v[4] == USEC_INFINITY - 1);
        assert_true(usec_percentile(v, 5, 50) == 20);
        assert_true(usec_percentile(v, 5, 1) == 10);
        assert_true(usec_percentile(v, 5, 80) == 30);
        assert_true(usec_percentile(v, 5, 81) == USEC_INFINITY - 1);
        assert_true(usec_percentile(&one, 1, 99) == 7);
}

static void test_json_helpers_set_members_and_nulls(void **state) {
        json_t *o = json_object();
        _cleanup_free_ char *s = NULL;

        assert_non_null(o);
        assert_int_equal(gp_json_set_new(o, "a", gp_json_string_or_null("x")), 0);
        assert_int_equal(gp_json_set_new(o, "b", gp_json_string_or_null(NULL)), 0);
        assert_int_equal(gp_json_set_new(o, "c", NULL), -ENOMEM);
        s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(s, "{\"a\":\"x\",\"b\":null}");
        json_decref(o);
}

/* Moved here with blob.c from daemon/test-metrics-server.c. */
static void test_blobs_are_copies_with_a_terminating_nul(void **state) {
        char data[] = "abc";
        gp_blob *b = gp_blob_new(data, 2);

        assert_non_null(b);
        data[0] = 'x';
        assert_string_equal(gp_blob_data(b), "ab");
        assert_int_equal(gp_blob_size(b), 2);
        assert_ptr_equal(gp_blob_ref(b), b);
        assert_null(gp_blob_unref(b));
        assert_string_equal(gp_blob_data(b), "ab");
        assert_null(gp_blob_unref(b));
        assert_null(gp_blob_unref(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_blanks_and_blank_lines),
                cmocka_unit_test(test_strv_sort_orders_by_strcmp),
                cmocka_unit_test(test_ms_are_rounded_half_up_to_a_tenth),
                cmocka_unit_test(test_usec_sort_and_nearest_rank_percentiles),
                cmocka_unit_test(test_json_helpers_set_members_and_nulls),
                cmocka_unit_test(test_blobs_are_copies_with_a_terminating_nul),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
