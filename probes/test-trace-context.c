/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "trace-context.h"
#include "util.h"

static void test_trace_id_is_lowercase_hex_of_the_bytes(void **state) {
        const uint8_t b[16] = { 0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
                                0x47, 0x36 };
        char id[GP_TRACE_ID_LEN + 1];

        assert_int_equal(gp_trace_id_from_bytes(b, id), 0);
        assert_string_equal(id, "4bf92f3577b34da6a3ce929d0e0e4736");
}

static void test_all_zero_trace_id_is_refused(void **state) {
        const uint8_t zero[16] = {0};
        char id[GP_TRACE_ID_LEN + 1];

        assert_int_equal(gp_trace_id_from_bytes(zero, id), -EINVAL);
}

static void test_span_id_carries_the_session_index_so_sessions_differ(void **state) {
        const uint8_t zero[6] = {0};
        char a[GP_SPAN_ID_LEN + 1], b[GP_SPAN_ID_LEN + 1];

        assert_int_equal(gp_span_id_from_bytes(zero, 1, a), 0);
        assert_string_equal(a, "0000000000000001");  /* never all-zero, even from zero bytes */
        assert_int_equal(gp_span_id_from_bytes(zero, 10000, b), 0);
        assert_string_equal(b, "0000000000002710");
        assert_int_equal(gp_span_id_from_bytes(zero, 0, a), -EINVAL);
        assert_int_equal(gp_span_id_from_bytes(zero, 65536, a), -EINVAL);
}

static void test_new_ids_are_random_and_valid(void **state) {
        char t1[GP_TRACE_ID_LEN + 1], t2[GP_TRACE_ID_LEN + 1], s1[GP_SPAN_ID_LEN + 1], s2[GP_SPAN_ID_LEN + 1];
        char tp[GP_TRACEPARENT_LEN + 1];

        assert_int_equal(gp_trace_id_new(t1), 0);
        assert_int_equal(gp_trace_id_new(t2), 0);
        assert_string_not_equal(t1, t2);
        assert_int_equal(gp_span_id_new(1, s1), 0);
        assert_int_equal(gp_span_id_new(1, s2), 0);
        assert_string_not_equal(s1, s2);  /* 48 random bits: a collision here is a broken source */
        assert_int_equal(gp_traceparent_format(t1, s1, tp), 0);
        assert_true(gp_traceparent_valid(tp));
}

static void test_traceparent_is_w3c_version_00_sampled(void **state) {
        char tp[GP_TRACEPARENT_LEN + 1];

        assert_int_equal(gp_traceparent_format("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", tp), 0);
        assert_string_equal(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_int_equal(strlen(tp), GP_TRACEPARENT_LEN);
}

static void test_traceparent_format_refuses_bad_ids(void **state) {
        char tp[GP_TRACEPARENT_LEN + 1];

        assert_int_equal(gp_traceparent_format("00000000000000000000000000000000", "00f067aa0ba902b7", tp), -EINVAL);
        assert_int_equal(gp_traceparent_format("4bf92f3577b34da6a3ce929d0e0e4736", "0000000000000000", tp), -EINVAL);
        assert_int_equal(gp_traceparent_format("4BF92F3577B34DA6A3CE929D0E0E4736", "00f067aa0ba902b7", tp), -EINVAL);
        assert_int_equal(gp_traceparent_format("4bf92f3577b34da6a3ce929d0e0e473", "00f067aa0ba902b7", tp), -EINVAL);
        assert_int_equal(gp_traceparent_format(NULL, "00f067aa0ba902b7", tp), -EINVAL);
}

static void test_traceparent_valid_rejects_malformed(void **state) {
        static const char * const bad[] = {
                "",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",        /* no flags */
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     /* another version */
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",     /* zero trace id */
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",     /* zero span id */
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        };

        assert_true(gp_traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_false(gp_traceparent_valid(bad[i]));
        assert_false(gp_traceparent_valid(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_trace_id_is_lowercase_hex_of_the_bytes),
                cmocka_unit_test(test_all_zero_trace_id_is_refused),
                cmocka_unit_test(test_span_id_carries_the_session_index_so_sessions_differ),
                cmocka_unit_test(test_new_ids_are_random_and_valid),
                cmocka_unit_test(test_traceparent_is_w3c_version_00_sampled),
                cmocka_unit_test(test_traceparent_format_refuses_bad_ids),
                cmocka_unit_test(test_traceparent_valid_rejects_malformed),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
