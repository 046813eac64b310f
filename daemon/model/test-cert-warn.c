/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cert-warn.h"

#define NOW ((int64_t) 1800000000)
#define DAYS(n) ((int64_t) (n) * 86400)
#define WINDOW ((usec_t) 14 * 86400 * USEC_PER_SEC)

static void test_warns_within_the_window_only(void **state) {
        gp_cert_warn_state st = {0};

        assert_false(gp_cert_warn_due(&st, GP_CERT_LOGIN, NOW + DAYS(15), NOW, WINDOW));
        assert_true(gp_cert_warn_due(&st, GP_CERT_LOGIN, NOW + DAYS(3), NOW, WINDOW));
        assert_true(gp_cert_warn_due(&st, GP_CERT_WEBSOCKET, NOW - DAYS(1), NOW, WINDOW));  /* expired */
}

static void test_window_zero_or_unknown_expiry_never_warns(void **state) {
        gp_cert_warn_state st = {0};

        assert_false(gp_cert_warn_due(&st, GP_CERT_LOGIN, NOW + DAYS(1), NOW, 0));
        assert_false(gp_cert_warn_due(&st, GP_CERT_LOGIN, 0, NOW, WINDOW));
}

static void test_once_a_day_per_endpoint(void **state) {
        gp_cert_warn_state st = {0};
        int64_t exp = NOW + DAYS(3);

        assert_true(gp_cert_warn_due(&st, GP_CERT_LOGIN, exp, NOW, WINDOW));
        assert_false(gp_cert_warn_due(&st, GP_CERT_LOGIN, exp, NOW + 60, WINDOW));
        assert_true(gp_cert_warn_due(&st, GP_CERT_WEBSOCKET, exp, NOW + 60, WINDOW));  /* its own */
        assert_false(gp_cert_warn_due(&st, GP_CERT_LOGIN, exp, NOW + DAYS(1) - 1, WINDOW));
        assert_true(gp_cert_warn_due(&st, GP_CERT_LOGIN, exp, NOW + DAYS(1), WINDOW));
}

static void test_a_new_certificate_warns_again_at_once(void **state) {
        gp_cert_warn_state st = {0};

        assert_true(gp_cert_warn_due(&st, GP_CERT_LOGIN, NOW + DAYS(3), NOW, WINDOW));
        assert_true(gp_cert_warn_due(&st, GP_CERT_LOGIN, NOW + DAYS(5), NOW + 60, WINDOW));
}

static void test_endpoint_names(void **state) {
        assert_string_equal(gp_cert_endpoint_to_string(GP_CERT_LOGIN), "login");
        assert_string_equal(gp_cert_endpoint_to_string(GP_CERT_WEBSOCKET), "websocket");
        assert_null(gp_cert_endpoint_to_string(_GP_CERT_ENDPOINT_MAX));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_warns_within_the_window_only),
                cmocka_unit_test(test_window_zero_or_unknown_expiry_never_warns),
                cmocka_unit_test(test_once_a_day_per_endpoint),
                cmocka_unit_test(test_a_new_certificate_warns_again_at_once),
                cmocka_unit_test(test_endpoint_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
