/* SPDX-License-Identifier: MIT */
/* The pure value parsers: durations, booleans, numbers, jitter, and the value checks. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>

#include "config.h"
#include "util.h"
#include "values.h"

static void test_durations_in_systemd_syntax(void **state) {
        static const struct {
                const char *s;
                usec_t v;
        } ok[] = {
                { "500ms", 500 * USEC_PER_MSEC },
                { "30s", 30 * USEC_PER_SEC },
                { "2min", 120 * USEC_PER_SEC },
                { "1h", 3600 * USEC_PER_SEC },
                { "1min 30s", 90 * USEC_PER_SEC },
                { "1min30s", 90 * USEC_PER_SEC },
                { "90", 90 * USEC_PER_SEC },
                { "1.5", 1500 * USEC_PER_MSEC },
                { "1.25min", 75 * USEC_PER_SEC },
                { "0.5ms", 500 },
                { "1.0000001s", USEC_PER_SEC },
                { "0", 0 },
                { "1d", 86400 * USEC_PER_SEC },
                { "2hr", 7200 * USEC_PER_SEC },
                { "3m", 180 * USEC_PER_SEC },
                { "10us", 10 },
                { "7usec 3msec", 3007 },
                { "1 min", 60 * USEC_PER_SEC },
                { " 5s ", 5 * USEC_PER_SEC },
                { "1sec 1second 2seconds", 4 * USEC_PER_SEC },
                { "1minute 2minutes 1hour 1hours 1day 1days",
                  (3 * 60 + 2 * 3600 + 2 * 86400) * USEC_PER_SEC },
                { "18446744073709551614us", UINT64_MAX - 1 },
        };
        static const char * const bad[] = {
                "", " ", "-1s", "1x", "s", "1..5s", ".5s", "1.s", "1e3", "infinity", "5s -1s", "1 2 x",
                "1S", "1 M", "1,5s", "18446744073709551615us", "213503982336d", "99999999999999999999",
        };

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                usec_t v = 42;
                if (gp_parse_duration(ok[i].s, &v) < 0)
                        fail_msg("'%s' should parse", ok[i].s);
                if (v != ok[i].v)
                        fail_msg("'%s': %llu != %llu", ok[i].s, (unsigned long long) v,
                                 (unsigned long long) ok[i].v);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                usec_t v = 42;
                if (gp_parse_duration(bad[i], &v) != -EINVAL)
                        fail_msg("'%s' should be refused", bad[i]);
                assert_int_equal(v, 42);  /* untouched */
        }
}

static void test_duration_overflow_is_told_apart(void **state) {
        usec_t v;

        assert_int_equal(gp_parse_duration_full("213503982336d", &v), -ERANGE);
        assert_int_equal(gp_parse_duration_full("18446744073709551615us", &v), -ERANGE);
        assert_int_equal(gp_parse_duration_full("100000000000000000000", &v), -ERANGE);
        assert_int_equal(gp_parse_duration_full("10x", &v), -EINVAL);
}

static void test_format_duration_reads_back(void **state) {
        static const struct {
                usec_t v;
                const char *s;
        } known[] = {
                { 0, "0" },
                { 1, "1us" },
                { 500 * USEC_PER_MSEC, "500ms" },
                { 90 * USEC_PER_SEC, "1min 30s" },
                { 3600 * USEC_PER_SEC, "1h" },
                { 86400 * USEC_PER_SEC + 1, "1d 1us" },
        };
        uint64_t x = 88172645463325252ULL;
        char buf[64];

        for (size_t i = 0; i < ELEMENTSOF(known); i++)
                assert_string_equal(gp_format_duration(buf, sizeof(buf), known[i].v), known[i].s);
        /* Property: format then parse is the identity, over all magnitudes. */
        for (unsigned i = 0; i < 20000; i++) {
                usec_t v, back = 0;

                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v = x >> (i % 64);
                if (v == UINT64_MAX)
                        v--;
                gp_format_duration(buf, sizeof(buf), v);
                if (gp_parse_duration(buf, &back) < 0 || back != v)
                        fail_msg("%llu formatted as '%s' reads back as %llu", (unsigned long long) v, buf,
                                 (unsigned long long) back);
        }
}

static void test_booleans(void **state) {
        static const char * const yes[] = { "yes", "YES", "y", "true", "True", "t", "on", "1" };
        static const char * const no[] = { "no", "No", "n", "false", "f", "off", "OFF", "0" };
        static const char * const bad[] = { "", "2", "yess", "enable", " yes" };
        bool b;

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                b = false;
                assert_int_equal(gp_parse_bool(yes[i], &b), 0);
                assert_true(b);
        }
        for (size_t i = 0; i < ELEMENTSOF(no); i++) {
                b = true;
                assert_int_equal(gp_parse_bool(no[i], &b), 0);
                assert_false(b);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                b = true;
                assert_int_equal(gp_parse_bool(bad[i], &b), -EINVAL);
                assert_true(b);
        }
}

static void test_unsigned_with_range(void **state) {
        unsigned u = 7;

        assert_int_equal(gp_parse_unsigned("1", 1, 10, &u), 0);
        assert_int_equal(u, 1);
        assert_int_equal(gp_parse_unsigned("010", 1, 10, &u), 0);
        assert_int_equal(u, 10);
        assert_int_equal(gp_parse_unsigned("4294967295", 0, UINT32_MAX, &u), 0);
        assert_int_equal(u, UINT32_MAX);
        u = 7;
        assert_int_equal(gp_parse_unsigned("0", 1, 10, &u), -EINVAL);
        assert_int_equal(gp_parse_unsigned("11", 1, 10, &u), -EINVAL);
        assert_int_equal(gp_parse_unsigned("4294967296", 0, UINT32_MAX, &u), -EINVAL);
        assert_int_equal(gp_parse_unsigned("", 0, 10, &u), -EINVAL);
        assert_int_equal(gp_parse_unsigned("+1", 0, 10, &u), -EINVAL);
        assert_int_equal(gp_parse_unsigned("-1", 0, 10, &u), -EINVAL);
        assert_int_equal(gp_parse_unsigned(" 1", 0, 10, &u), -EINVAL);
        assert_int_equal(gp_parse_unsigned("1 ", 0, 10, &u), -EINVAL);
        assert_int_equal(u, 7);
}

static void test_jitter(void **state) {
        bool pct;
        unsigned p;
        usec_t d;

        assert_int_equal(gp_parse_jitter("10%", &pct, &p, &d), 0);
        assert_true(pct);
        assert_int_equal(p, 10);
        assert_int_equal(gp_parse_jitter("100%", &pct, &p, &d), 0);
        assert_int_equal(p, 100);
        assert_int_equal(gp_parse_jitter("2s", &pct, &p, &d), 0);
        assert_false(pct);
        assert_int_equal(d, 2 * USEC_PER_SEC);
        assert_int_equal(gp_parse_jitter("101%", &pct, &p, &d), -EINVAL);
        assert_int_equal(gp_parse_jitter("1.5%", &pct, &p, &d), -EINVAL);
        assert_int_equal(gp_parse_jitter("%", &pct, &p, &d), -EINVAL);
        assert_int_equal(gp_parse_jitter("x", &pct, &p, &d), -EINVAL);
}

static void assert_check(gp_value_check check, const char *v, bool valid) {
        char *m = NULL;
        int r = check(v, &m);

        if (valid && r != 0)
                fail_msg("'%s' should be valid: %s", v, strempty(m));
        if (!valid && (r != -EINVAL || !m))
                fail_msg("'%s' should be invalid", v);
        free(m);
}

static void test_url_checks(void **state) {
        static const char * const http_ok[] = {
                "https://a", "http://a.example.com:1/x?y=1#z", "https://[::1]:443/", "HTTPS://A.example.com",
                "http://10.0.0.1:65535", "https://host_name.internal/p%20q",
        };
        static const char * const http_bad[] = {
                "a.example.com", "https//a", "https://", "https://:80/", "ws://a", "https://a:99999",
                "https://a:1x/", "https://[]/", "https://a b", "https://u@a/", "https://a/${x}",
                "https://[::1]x/",
        };
        static const char * const ws_ok[] = { "ws://h", "wss://h:1/p?q=1", "WSS://[::1]/ws" };
        static const char * const ws_bad[] = { "http://h", "wss://h/#f", "wss:/h", "wss://" };

        for (size_t i = 0; i < ELEMENTSOF(http_ok); i++)
                assert_check(gp_check_http_url, http_ok[i], true);
        for (size_t i = 0; i < ELEMENTSOF(http_bad); i++)
                assert_check(gp_check_http_url, http_bad[i], false);
        for (size_t i = 0; i < ELEMENTSOF(ws_ok); i++)
                assert_check(gp_check_ws_url, ws_ok[i], true);
        for (size_t i = 0; i < ELEMENTSOF(ws_bad); i++)
                assert_check(gp_check_ws_url, ws_bad[i], false);
}

static void test_listen_checks(void **state) {
        assert_check(gp_check_listen, "127.0.0.1:9477", true);
        assert_check(gp_check_listen, "[::]:9477", true);
        assert_check(gp_check_listen, "[fe80::1%eth0]:80", true);
        assert_check(gp_check_listen, "localhost:1", true);
        assert_check(gp_check_listen, "localhost", false);
        assert_check(gp_check_listen, "[]:80", false);
        assert_check(gp_check_listen, "h:", false);
        assert_check(gp_check_listen, "h:-1", false);
}

/* Plain HTTP without authentication is allowed only where these say loopback ([API]). */
static void test_loopback_listen_addresses(void **state) {
        static const char * const loopback[] = { "127.0.0.1:9477", "127.8.9.10:1", "[::1]:9477", "localhost:80" };
        static const char * const other[] = { "0.0.0.0:9477", "[::]:9477", "10.0.0.1:80", "128.0.0.1:80",
                                              "localhost.example:80", "[::2]:1", "probe:9477", "nonsense" };

        for (size_t i = 0; i < ELEMENTSOF(loopback); i++)
                if (!gp_listen_is_loopback(loopback[i]))
                        fail_msg("%s is loopback", loopback[i]);
        for (size_t i = 0; i < ELEMENTSOF(other); i++)
                if (gp_listen_is_loopback(other[i]))
                        fail_msg("%s is not loopback", other[i]);
        assert_check(gp_check_path_or_credential, "/etc/gpprobe/api/cert.pem", true);
        assert_check(gp_check_path_or_credential, "api-cert", true);
        assert_check(gp_check_path_or_credential, "sub/dir", false);
        assert_check(gp_check_path_or_credential, "..", false);
}

static void test_header_and_path_checks(void **state) {
        assert_check(gp_check_header, "X-A: b", true);
        assert_check(gp_check_header, "X-A:b", true);
        assert_check(gp_check_header, "Authorization: Bearer ${token}", true);
        assert_check(gp_check_header, "X-A : b", false);
        assert_check(gp_check_header, "X(A): b", false);
        assert_check(gp_check_header, "X-A:  ", false);
        assert_check(gp_check_json_path, "a", true);
        assert_check(gp_check_json_path, "items.0.text", true);
        assert_check(gp_check_json_path, "", false);
        assert_check(gp_check_json_path, "a.", false);
        assert_check(gp_check_http_token, "PATCH", true);
        assert_check(gp_check_http_token, "", false);
        assert_check(gp_check_probe_name, "a-b_c.d9", true);
        assert_check(gp_check_probe_name, "a/b", false);
        assert_check(gp_check_credential_name, "..", false);
        assert_check(gp_check_credential_name, "staging-password", true);
}

static void test_tracestate_check_follows_w3c(void **state) {
        char big[600];

        assert_check(gp_check_tracestate, "gpprobe=t1", true);
        assert_check(gp_check_tracestate, "gpprobe=t1,rojo=00f067aa0ba902b7", true);
        assert_check(gp_check_tracestate, "a=b, c=d", true);
        assert_check(gp_check_tracestate, "no-equals", false);
        assert_check(gp_check_tracestate, "=value", false);
        assert_check(gp_check_tracestate, "key=", false);
        assert_check(gp_check_tracestate, "a=b,,c=d", false);
        assert_check(gp_check_tracestate, "a=b=c", false);
        assert_check(gp_check_tracestate, "a=b\x01", false);
        memset(big, 'a', sizeof(big) - 1);
        big[1] = '=';
        big[sizeof(big) - 1] = '\0';
        assert_check(gp_check_tracestate, big, false);  /* over 512 bytes */
        assert_check(gp_check_tracestate,
                     "a1=x,a2=x,a3=x,a4=x,a5=x,a6=x,a7=x,a8=x,a9=x,b1=x,b2=x,b3=x,b4=x,b5=x,b6=x,b7=x,b8=x,"
                     "b9=x,c1=x,c2=x,c3=x,c4=x,c5=x,c6=x,c7=x,c8=x,c9=x,d1=x,d2=x,d3=x,d4=x,d5=x,d6=x", false);
}

static void test_sensitive_headers(void **state) {
        assert_true(gp_header_is_sensitive("Authorization: x"));
        assert_true(gp_header_is_sensitive("proxy-authorization: x"));
        assert_true(gp_header_is_sensitive("Cookie: x"));
        assert_true(gp_header_is_sensitive("X-Api-Key: x"));
        assert_true(gp_header_is_sensitive("X-Session-Id: x"));
        assert_false(gp_header_is_sensitive("Content-Type: application/json"));
        assert_false(gp_header_is_sensitive("Origin: https://token.example.com"));
        assert_true(gp_header_value_is_template_only("Authorization: Bearer ${token}"));
        assert_true(gp_header_value_is_template_only("X-K: ${env:KEY}"));
        assert_false(gp_header_value_is_template_only("Authorization: Bearer abc"));
        assert_false(gp_header_value_is_template_only("Authorization: Bearer ${token}x"));
        assert_false(gp_header_value_is_template_only("X-K: ${env:KEY"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_durations_in_systemd_syntax),
                cmocka_unit_test(test_duration_overflow_is_told_apart),
                cmocka_unit_test(test_format_duration_reads_back),
                cmocka_unit_test(test_booleans),
                cmocka_unit_test(test_tracestate_check_follows_w3c),
                cmocka_unit_test(test_unsigned_with_range),
                cmocka_unit_test(test_jitter),
                cmocka_unit_test(test_url_checks),
                cmocka_unit_test(test_listen_checks),
                cmocka_unit_test(test_loopback_listen_addresses),
                cmocka_unit_test(test_header_and_path_checks),
                cmocka_unit_test(test_sensitive_headers),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
