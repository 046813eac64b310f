/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "escape.h"
#include "util.h"

static char *url(const char *s) {
        gp_buf b = {0};

        assert_int_equal(gp_buf_append_url_encoded(&b, s), 0);
        return b.data;
}

static char *json(const char *s, gp_json_escape_flags flags) {
        gp_buf b = {0};

        assert_int_equal(gp_buf_append_json_escaped(&b, s, flags), 0);
        return b.data;
}

#define assert_escaped(got, want)                     \
        do {                                          \
                char *_g = (got);                     \
                assert_string_equal(_g, (want));      \
                free(_g);                             \
        } while (0)

static void test_url_encoding_keeps_only_the_unreserved_characters(void **state) {
        assert_escaped(url("AZaz09-._~"), "AZaz09-._~");
        assert_escaped(url("a b/c+d~"), "a%20b%2Fc%2Bd~");
        assert_escaped(url("?&=#%"), "%3F%26%3D%23%25");
        assert_escaped(url("\xc3\xa9\x01\x7f\xff"), "%C3%A9%01%7F%FF");
        assert_escaped(url(""), "");
}

static void test_url_encoding_appends_to_what_is_there(void **state) {
        gp_buf b = {0};

        assert_int_equal(gp_buf_append(&b, "q=", 2), 0);
        assert_int_equal(gp_buf_append_url_encoded(&b, "1 2"), 0);
        assert_string_equal(b.data, "q=1%202");
        gp_buf_free(&b);
}

static void test_json_escaping_escapes_quotes_backslashes_and_control_bytes(void **state) {
        assert_escaped(json("a\"b\\c", GP_JSON_ESCAPE_PLAIN), "a\\\"b\\\\c");
        assert_escaped(json("\n\t\x01\x1f", GP_JSON_ESCAPE_PLAIN), "\\u000a\\u0009\\u0001\\u001f");
        assert_escaped(json("\x7f/", GP_JSON_ESCAPE_PLAIN), "\x7f/");
        assert_escaped(json("", GP_JSON_ESCAPE_PLAIN), "");
}

static void test_json_escaping_keeps_utf8_unless_asked_for_ascii(void **state) {
        assert_escaped(json("caf\xc3\xa9 \xe2\x82\xac", GP_JSON_ESCAPE_PLAIN), "caf\xc3\xa9 \xe2\x82\xac");
        /* As Python's json.dumps writes them: lower-case hex, a surrogate pair past U+FFFF. */
        assert_escaped(json("caf\xc3\xa9 \xe2\x82\xac", GP_JSON_ESCAPE_ASCII), "caf\\u00e9 \\u20ac");
        assert_escaped(json("\xf0\x9f\x98\x80!", GP_JSON_ESCAPE_ASCII), "\\ud83d\\ude00!");
        assert_escaped(json("\"\n\xc3\xa9", GP_JSON_ESCAPE_ASCII), "\\\"\\u000a\\u00e9");
}

static void test_json_ascii_escaping_of_invalid_utf8_escapes_each_byte(void **state) {
        assert_escaped(json("a\xff" "b", GP_JSON_ESCAPE_ASCII), "a\\u00ffb");
        assert_escaped(json("\xc3", GP_JSON_ESCAPE_ASCII), "\\u00c3");
        assert_escaped(json("\xed\xa0\x80", GP_JSON_ESCAPE_ASCII), "\\u00ed\\u00a0\\u0080");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_url_encoding_keeps_only_the_unreserved_characters),
                cmocka_unit_test(test_url_encoding_appends_to_what_is_there),
                cmocka_unit_test(test_json_escaping_escapes_quotes_backslashes_and_control_bytes),
                cmocka_unit_test(test_json_escaping_keeps_utf8_unless_asked_for_ascii),
                cmocka_unit_test(test_json_ascii_escaping_of_invalid_utf8_escapes_each_byte),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
