/* SPDX-License-Identifier: MIT */
/* The failure transcript: entries and their times, excerpts that stay valid UTF-8, the bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "transcript.h"
#include "util.h"

#define T0 ((usec_t) 1000 * USEC_PER_SEC)

static gp_result *failed_result(void) {
        gp_result *r = gp_result_new(2);

        assert_non_null(r);
        memcpy(r->run_id, "0b7f0000-0000-4000-8000-000000000001", 37);
        r->verdict = GP_VERDICT_FAIL;
        r->code = strdup("events.timeout");
        r->stage = "events";
        r->reason = strdup("no tool_completed within 1s");
        gp_session_fail(&r->sessions[0], "events", "events.timeout", "no tool_completed within 1s");
        return r;
}

static void test_entries_in_order_with_relative_times(void **state) {
        _cleanup_(gp_transcript_freep) gp_transcript *t = gp_transcript_new(2, T0, 65536, 1 << 20);
        _cleanup_result_ gp_result *r = failed_result();
        gp_http_timing timing = { 100, 200, 300, 400, 1000 };
        json_t *doc, *s1, *e;

        assert_non_null(t);
        gp_transcript_http(t, 1, T0 + 1000, "login", "POST", "https://a.example/auth/login", 200, &timing, NULL,
                           "{\"access_token\":\"(redacted)\"}", 29, 512);
        gp_transcript_upgrade(t, 1, T0 + 5000, "wss://a.example/ws", 101, "jwt-auth", "server: sim\nupgrade: websocket",
                              NULL);
        gp_transcript_frame(t, 1, T0 + 6000, false, "text", 40, "{\"type\":\"user_message\"}", 24);
        gp_transcript_frame(t, 1, T0 + 9000, true, "text", 30, "{\"type\":\"agent_started\"}", 25);
        gp_transcript_mark(t, 1, T0 + 1009000, "await", "tool_completed");
        gp_transcript_close(t, 1, T0 + 1010000, "client", 1000, NULL);
        gp_transcript_frame(t, 3, T0, true, "text", 1, "x", 1);  /* no session 3: ignored */

        doc = gp_transcript_to_json(t, r, "staging");
        assert_non_null(doc);
        assert_int_equal(json_integer_value(json_object_get(doc, "schema")), 1);
        assert_string_equal(json_string_value(json_object_get(doc, "code")), "events.timeout");
        assert_int_equal(json_array_size(json_object_get(doc, "sessions")), 2);
        s1 = json_array_get(json_object_get(doc, "sessions"), 0);
        assert_string_equal(json_string_value(json_object_get(s1, "result")), "fail");
        assert_int_equal(json_array_size(json_object_get(s1, "entries")), 6);
        e = json_array_get(json_object_get(s1, "entries"), 0);
        assert_string_equal(json_string_value(json_object_get(e, "kind")), "http");
        assert_true(json_real_value(json_object_get(e, "t_ms")) == 1.0);
        assert_true(json_real_value(json_object_get(json_object_get(e, "ms"), "total")) == 1.0);
        assert_int_equal(json_integer_value(json_object_get(e, "size")), 512);
        e = json_array_get(json_object_get(s1, "entries"), 1);
        assert_int_equal(json_integer_value(json_object_get(e, "status")), 101);
        assert_string_equal(json_string_value(json_object_get(e, "headers")), "server: sim\nupgrade: websocket");
        e = json_array_get(json_object_get(s1, "entries"), 3);
        assert_string_equal(json_string_value(json_object_get(e, "dir")), "in");
        assert_true(json_real_value(json_object_get(e, "t_ms")) == 9.0);
        e = json_array_get(json_object_get(s1, "entries"), 4);
        assert_string_equal(json_string_value(json_object_get(e, "kind")), "await");
        assert_string_equal(json_string_value(json_object_get(e, "text")), "tool_completed");
        assert_int_equal(json_array_size(json_object_get(json_array_get(json_object_get(doc, "sessions"), 1),
                                                         "entries")), 0);
        json_decref(doc);
}

static void test_excerpt_is_bounded_valid_utf8(void **state) {
        char big[1000];
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        memset(big, 'x', sizeof big);
        a = gp_transcript_excerpt(big, sizeof big, 256);
        assert_int_equal(strlen(a), 256 + 3);
        assert_string_equal(a + 256, "...");
        b = gp_transcript_excerpt("ok\xff\x01\xc3\xa9", 6, 256);
        assert_string_equal(b, "ok\\xff\\x01\xc3\xa9");
        /* never cut inside a character */
        c = gp_transcript_excerpt("ab\xc3\xa9", 4, 3);
        assert_string_equal(c, "ab...");
}

static void test_bounds_drop_and_count(void **state) {
        _cleanup_(gp_transcript_freep) gp_transcript *t = gp_transcript_new(1, T0, 2000, 1 << 20);
        _cleanup_result_ gp_result *r = gp_result_new(1);
        char data[200];
        json_t *doc, *s;
        size_t kept;

        memset(data, 'y', sizeof data);
        for (int i = 0; i < 100; i++)
                gp_transcript_frame(t, 1, T0 + (usec_t) i, true, "text", sizeof data, data, sizeof data);
        doc = gp_transcript_to_json(t, r, "n");
        s = json_array_get(json_object_get(doc, "sessions"), 0);
        kept = json_array_size(json_object_get(s, "entries"));
        assert_true(kept > 0 && kept < 100);
        assert_int_equal(json_integer_value(json_object_get(s, "dropped")), 100 - (json_int_t) kept);
        assert_true(json_dumpb(json_object_get(s, "entries"), NULL, 0, JSON_COMPACT) <= 2000 + kept);
        json_decref(doc);
}

static void test_total_bound_across_sessions(void **state) {
        _cleanup_(gp_transcript_freep) gp_transcript *t = gp_transcript_new(10, T0, 65536, 3000);
        _cleanup_result_ gp_result *r = gp_result_new(10);
        char data[200];
        json_t *doc;
        size_t total = 0;

        memset(data, 'z', sizeof data);
        for (unsigned s = 1; s <= 10; s++)
                for (int i = 0; i < 5; i++)
                        gp_transcript_frame(t, s, T0, true, "text", sizeof data, data, sizeof data);
        doc = gp_transcript_to_json(t, r, "n");
        for (size_t i = 0; i < 10; i++)
                total += json_dumpb(json_object_get(json_array_get(json_object_get(doc, "sessions"), i), "entries"),
                                    NULL, 0, JSON_COMPACT);
        assert_true(total <= 3000 + 10 * 2);
        assert_true(json_integer_value(json_object_get(json_array_get(json_object_get(doc, "sessions"), 9),
                                                       "dropped")) == 5);
        json_decref(doc);
}

static void test_null_transcript_is_a_no_op(void **state) {
        gp_transcript_frame(NULL, 1, 0, true, "text", 1, "x", 1);
        gp_transcript_http(NULL, 1, 0, NULL, NULL, NULL, 0, NULL, NULL, NULL, 0, 0);
        gp_transcript_upgrade(NULL, 1, 0, NULL, 0, NULL, NULL, NULL);
        assert_null(gp_transcript_to_json(NULL, NULL, NULL));
        assert_null(gp_transcript_free(NULL));
}

static void test_dir_beside_the_state_file(void **state) {
        gp_config c = { .name = (char *) "staging", .state_file = (char *) "/var/lib/gpprobe/staging.state",
                        .transcripts = 20 };
        _cleanup_free_ char *d = gp_transcript_dir(&c);

        assert_string_equal(d, "/var/lib/gpprobe/staging.transcripts");
        c.transcripts = 0;
        assert_null(gp_transcript_dir(&c));
        c.transcripts = 1;
        c.state_file = NULL;
        assert_null(gp_transcript_dir(&c));
}

static void test_run_id_is_a_safe_file_name(void **state) {
        assert_true(gp_transcript_run_id_valid("0b7f0000-0000-4000-8000-000000000001"));
        assert_false(gp_transcript_run_id_valid("../../../../etc/passwd-0000-0000-000"));
        assert_false(gp_transcript_run_id_valid("0b7f0000-0000-4000-8000-00000000000"));
        assert_false(gp_transcript_run_id_valid("0B7F0000-0000-4000-8000-000000000001"));
        assert_false(gp_transcript_run_id_valid("0b7f0000x0000-4000-8000-000000000001"));
        assert_false(gp_transcript_run_id_valid(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_entries_in_order_with_relative_times),
                cmocka_unit_test(test_excerpt_is_bounded_valid_utf8),
                cmocka_unit_test(test_bounds_drop_and_count),
                cmocka_unit_test(test_total_bound_across_sessions),
                cmocka_unit_test(test_null_transcript_is_a_no_op),
                cmocka_unit_test(test_dir_beside_the_state_file),
                cmocka_unit_test(test_run_id_is_a_safe_file_name),
        };

        return cmocka_run_group_tests_name("transcript", tests, NULL, NULL);
}
