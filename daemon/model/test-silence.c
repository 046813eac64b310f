/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "silence.h"
#include "util.h"

#define T0 ((usec_t) 1795622400 * USEC_PER_SEC) /* 2026-11-25T16:00:00Z */

static int parse(const char *text, gp_silence **ret, char **ret_error) {
        return gp_silence_parse(text, strlen(text), T0, ret, ret_error);
}

/* The reason of a refusal, which must exist and contain want. */
static void assert_refused(const char *text, const char *want) {
        _cleanup_silence_ gp_silence *s = NULL;
        _cleanup_free_ char *err = NULL;

        assert_int_equal(parse(text, &s, &err), -EINVAL);
        assert_null(s);
        assert_non_null(err);
        if (!strstr(err, want))
                fail_msg("refusal of %s: got \"%s\", want \"%s\"", text, err, want);
}

static void test_a_full_file_is_read_with_every_member(void **state) {
        _cleanup_silence_ gp_silence *s = NULL;
        _cleanup_free_ char *err = NULL;

        assert_int_equal(parse("{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":\"deploy of v2 \xc3\xa9\","
                               "\"by\":\"alice\",\"created_at\":\"2026-11-25T16:00:00.000Z\"}", &s, &err), 0);
        assert_null(err);
        assert_int_equal(s->until, T0 + 1800 * USEC_PER_SEC);
        assert_int_equal(s->created_at, T0);
        assert_string_equal(s->reason, "deploy of v2 \xc3\xa9");
        assert_string_equal(s->by, "alice");
        assert_true(gp_silence_active(s, T0));
        assert_false(gp_silence_active(s, s->until));
        assert_false(gp_silence_active(NULL, T0));
}

static void test_by_and_created_at_are_optional(void **state) {
        _cleanup_silence_ gp_silence *s = NULL;

        assert_int_equal(parse("{\"reason\":\"x\",\"until\":\"2026-11-25T17:00:00+01:00\"}", &s, NULL), 0);
        assert_int_equal(s->until, T0);  /* the offset is honoured */
        assert_null(s->by);
        assert_int_equal(s->created_at, 0);
}

static void test_an_expired_silence_is_valid_and_not_active(void **state) {
        _cleanup_silence_ gp_silence *s = NULL;

        assert_int_equal(parse("{\"until\":\"2020-01-01T00:00:00Z\",\"reason\":\"old\"}", &s, NULL), 0);
        assert_false(gp_silence_active(s, T0));
}

static void test_bad_files_are_refused_with_a_reason(void **state) {
        assert_refused("", "not JSON");
        assert_refused("{\"until\":", "not JSON");
        assert_refused("[]", "not a JSON object");
        assert_refused("{\"reason\":\"x\"}", "\"until\" is missing");
        assert_refused("{\"until\":\"tomorrow\",\"reason\":\"x\"}", "\"until\" is not an RFC 3339 time");
        assert_refused("{\"until\":1795622400,\"reason\":\"x\"}", "\"until\" is not an RFC 3339 time");
        assert_refused("{\"until\":\"2026-11-25T16:30:00Z\"}", "\"reason\" is missing");
        assert_refused("{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":7}", "\"reason\" is not a string");
        assert_refused("{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":\"\"}", "\"reason\" is empty");
        assert_refused("{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":\"   \"}", "only blanks");
        assert_refused("{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":\"a\\nb\"}", "control character (U+000A");
        assert_refused("{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":\"a\\u001b[31m\"}", "U+001B");
        assert_refused("{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":\"a\\u0085\"}", "U+0085");
        assert_refused("{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":\"a\\u2028\"}", "U+2028");
        assert_refused("{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":\"x\",\"by\":null}", "\"by\" is not a string");
        assert_refused("{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":\"x\",\"created_at\":\"x\"}",
                       "\"created_at\" is not an RFC 3339 time");
        assert_refused("{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":\"x\",\"silent\":true}",
                       "unknown member \"silent\"");
        assert_refused("{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":\"x\",\"reason\":\"y\"}", "duplicate");
        /* More than 7 days ahead (and the slack for clocks) is no maintenance window. */
        assert_refused("{\"until\":\"2026-12-02T16:10:00Z\",\"reason\":\"x\"}", "more than 7 days ahead");
}

static void test_a_silence_of_seven_days_is_accepted(void **state) {
        _cleanup_silence_ gp_silence *s = NULL;

        assert_int_equal(parse("{\"until\":\"2026-12-02T16:00:00Z\",\"reason\":\"x\"}", &s, NULL), 0);
}

static void test_invalid_utf8_and_nul_are_refused(void **state) {
        static const char nul[] = "{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":\"a\\u0000b\"}";
        _cleanup_silence_ gp_silence *s = NULL;
        _cleanup_free_ char *err = NULL;

        assert_refused("{\"until\":\"2026-11-25T16:30:00Z\",\"reason\":\"\xff\"}", "not JSON");
        assert_int_equal(gp_silence_parse(nul, sizeof(nul) - 1, T0, &s, &err), -EINVAL);
        assert_null(s);
}

static void test_a_file_too_large_is_efbig(void **state) {
        _cleanup_free_ char *big = calloc(1, GP_SILENCE_FILE_MAX + 2), *err = NULL;
        gp_silence *s = NULL;

        assert_non_null(big);
        memset(big, ' ', GP_SILENCE_FILE_MAX + 1);
        assert_int_equal(gp_silence_parse(big, GP_SILENCE_FILE_MAX + 1, T0, &s, &err), -EFBIG);
        assert_null(s);
        assert_non_null(err);
}

static void test_text_check_bounds_the_length_in_bytes(void **state) {
        char reason[GP_SILENCE_REASON_MAX + 2];
        _cleanup_free_ char *err = NULL;

        memset(reason, 'r', sizeof(reason) - 1);
        reason[sizeof(reason) - 1] = '\0';
        assert_int_equal(gp_silence_text_check("--reason", reason, GP_SILENCE_REASON_MAX, &err), -EINVAL);
        assert_string_equal(err, "--reason is longer than 200 bytes");
        reason[GP_SILENCE_REASON_MAX] = '\0';
        assert_int_equal(gp_silence_text_check("--reason", reason, GP_SILENCE_REASON_MAX, NULL), 0);
        assert_int_equal(gp_silence_text_check("--reason", "tab\there", 200, NULL), -EINVAL);
        assert_int_equal(gp_silence_text_check("--reason", NULL, 200, NULL), -EINVAL);
}

static void test_serialise_and_parse_back_are_the_same_silence(void **state) {
        gp_silence in = { .until = T0 + 60 * USEC_PER_SEC, .created_at = T0,
                          .reason = (char *) "a \"quoted\" \\ reason",
                          .by = (char *) "bob" };
        _cleanup_silence_ gp_silence *out = NULL, *copy = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len = 0;

        text = gp_silence_serialize(&in, &len);
        assert_non_null(text);
        assert_int_equal(len, strlen(text));
        assert_string_equal(text, "{\"until\":\"2026-11-25T16:01:00.000Z\",\"reason\":\"a \\\"quoted\\\" \\\\ reason\","
                                  "\"by\":\"bob\",\"created_at\":\"2026-11-25T16:00:00.000Z\"}\n");
        assert_int_equal(gp_silence_parse(text, len, T0, &out, NULL), 0);
        assert_true(gp_silence_equal(&in, out));
        copy = gp_silence_copy(out);
        assert_true(gp_silence_equal(copy, out));
        in.by = NULL;
        in.created_at = 0;
        free(text);
        text = gp_silence_serialize(&in, NULL);
        assert_string_equal(text,
                            "{\"until\":\"2026-11-25T16:01:00.000Z\",\"reason\":\"a \\\"quoted\\\" \\\\ reason\"}\n");
        assert_false(gp_silence_equal(&in, out));
        assert_true(gp_silence_equal(NULL, NULL));
        assert_false(gp_silence_equal(&in, NULL));
}

static void test_the_file_is_beside_the_state_file_else_the_status_file(void **state) {
        _cleanup_free_ char *a = gp_silence_file_path("/var/lib/gpprobe/staging.state", "/run/gpprobe/staging.json",
                                                      "staging");
        _cleanup_free_ char *b = gp_silence_file_path(NULL, "/run/gpprobe/x.json", "x");
        _cleanup_free_ char *c = gp_silence_file_path("", "x.json", "x");
        _cleanup_free_ char *d = gp_silence_file_path("/s.state", NULL, "x");

        assert_string_equal(a, "/var/lib/gpprobe/staging.silence");
        assert_string_equal(b, "/run/gpprobe/x.silence");
        assert_string_equal(c, "x.silence");
        assert_string_equal(d, "/x.silence");
        assert_null(gp_silence_file_path(NULL, NULL, "x"));
        assert_null(gp_silence_file_path("/a/b.state", NULL, ""));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_a_full_file_is_read_with_every_member),
                cmocka_unit_test(test_by_and_created_at_are_optional),
                cmocka_unit_test(test_an_expired_silence_is_valid_and_not_active),
                cmocka_unit_test(test_bad_files_are_refused_with_a_reason),
                cmocka_unit_test(test_a_silence_of_seven_days_is_accepted),
                cmocka_unit_test(test_invalid_utf8_and_nul_are_refused),
                cmocka_unit_test(test_a_file_too_large_is_efbig),
                cmocka_unit_test(test_text_check_bounds_the_length_in_bytes),
                cmocka_unit_test(test_serialise_and_parse_back_are_the_same_silence),
                cmocka_unit_test(test_the_file_is_beside_the_state_file_else_the_status_file),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
