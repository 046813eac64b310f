/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>

#include "url.h"
#include "util.h"

static void test_wss_default_port_and_path(void **state) {
        gp_url u = {0};

        assert_int_equal(gp_url_parse("wss://api.example.com", &u, NULL), 0);
        assert_string_equal(u.scheme, "wss");
        assert_string_equal(u.host, "api.example.com");
        assert_int_equal(u.port, 443);
        assert_string_equal(u.path, "/");
        assert_true(u.tls);
        gp_url_done(&u);
}

static void test_ws_explicit_port_path_and_query_kept(void **state) {
        gp_url u = {0};

        assert_int_equal(gp_url_parse("WS://h:8080/ws/chat?x=1#frag", &u, NULL), 0);
        assert_string_equal(u.scheme, "ws");
        assert_int_equal(u.port, 8080);
        assert_string_equal(u.path, "/ws/chat?x=1");
        assert_false(u.tls);
        gp_url_done(&u);
}

static void test_ipv6_literal_loses_its_brackets(void **state) {
        gp_url u = {0};

        assert_int_equal(gp_url_parse("wss://[::1]:9443/ws", &u, NULL), 0);
        assert_string_equal(u.host, "::1");
        assert_int_equal(u.port, 9443);
        gp_url_done(&u);
}

static void test_query_only_gets_a_root_path(void **state) {
        gp_url u = {0};

        assert_int_equal(gp_url_parse("ws://h?a=b", &u, NULL), 0);
        assert_string_equal(u.path, "/?a=b");
        gp_url_done(&u);
}

static void test_invalid_urls_are_rejected_with_a_message(void **state) {
        static const char * const bad[] = {
                "api.example.com/ws", "ftp://h/x", "wss://", "wss://h:0/", "wss://h:70000/", "wss://h:12a/",
                "wss://[::1/ws", "wss://user:pw@h/ws", "://h",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                gp_url u = {0};
                char *err = NULL;

                assert_int_equal(gp_url_parse(bad[i], &u, &err), -EINVAL);
                assert_non_null(err);
                free(err);
        }
}

static void test_query_parameter_is_percent_encoded_and_appended(void **state) {
        gp_url u = {0};

        assert_int_equal(gp_url_parse("wss://h/ws", &u, NULL), 0);
        assert_int_equal(gp_url_add_query(&u, "token", "a b/c+d~"), 0);
        assert_string_equal(u.path, "/ws?token=a%20b%2Fc%2Bd~");
        assert_int_equal(gp_url_add_query(&u, "x", "1"), 0);
        assert_string_equal(u.path, "/ws?token=a%20b%2Fc%2Bd~&x=1");
        gp_url_done(&u);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_wss_default_port_and_path),
                cmocka_unit_test(test_ws_explicit_port_path_and_query_kept),
                cmocka_unit_test(test_ipv6_literal_loses_its_brackets),
                cmocka_unit_test(test_query_only_gets_a_root_path),
                cmocka_unit_test(test_invalid_urls_are_rejected_with_a_message),
                cmocka_unit_test(test_query_parameter_is_percent_encoded_and_appended),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
