/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "tls-expiry.h"

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
                cmocka_unit_test(test_expiry_keeps_the_leaf_and_the_earliest),
                cmocka_unit_test(test_expiry_earliest_is_the_leaf_when_it_expires_first),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
