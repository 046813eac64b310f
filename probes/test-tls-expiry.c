/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>

#include "tls-expiry.h"

static void test_openssl_printed_date_parses_as_utc(void **state) {
        int64_t t = 0;

        assert_int_equal(gp_cert_date_parse("Jan  2 03:04:05 2030 GMT", &t), 0);
        assert_int_equal(t, 1893553445);  /* date -u -d '2030-01-02 03:04:05' +%s */
        assert_int_equal(gp_cert_date_parse("Dec 31 23:59:59 2099 GMT", &t), 0);
        assert_int_equal(t, 4102444799);
}

static void test_other_dates_are_refused(void **state) {
        int64_t t = 42;

        assert_int_equal(gp_cert_date_parse("2030-01-02T03:04:05Z", &t), -EINVAL);
        assert_int_equal(gp_cert_date_parse("Jan  2 03:04:05 2030", &t), -EINVAL);  /* no zone */
        assert_int_equal(gp_cert_date_parse("Jan  2 03:04:05 2030 GMT trailing", &t), -EINVAL);
        assert_int_equal(gp_cert_date_parse("", &t), -EINVAL);
        assert_int_equal(gp_cert_date_parse(NULL, &t), -EINVAL);
        assert_int_equal(t, 42);  /* untouched on failure */
}

static void test_expiry_keeps_the_leaf_and_the_earliest(void **state) {
        gp_cert_expiry e = {0};

        gp_cert_expiry_note(&e, 2000, true);
        gp_cert_expiry_note(&e, 1500, false);  /* an intermediate that expires first */
        gp_cert_expiry_note(&e, 3000, false);
        assert_int_equal(e.leaf, 2000);
        assert_int_equal(e.earliest, 1500);
}

static void test_expiry_earliest_is_the_leaf_when_it_expires_first(void **state) {
        gp_cert_expiry e = {0};

        gp_cert_expiry_note(&e, 3000, false);
        gp_cert_expiry_note(&e, 1000, true);
        assert_int_equal(e.leaf, 1000);
        assert_int_equal(e.earliest, 1000);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_openssl_printed_date_parses_as_utc),
                cmocka_unit_test(test_other_dates_are_refused),
                cmocka_unit_test(test_expiry_keeps_the_leaf_and_the_earliest),
                cmocka_unit_test(test_expiry_earliest_is_the_leaf_when_it_expires_first),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
