/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "matcher.h"
#include "util.h"

static char *expect[] = { "agent_started", "agent_thinking", "tool_executing", "tool_completed",
                          "agent_completed", NULL };
static char *repeatable[] = { "agent_thinking", "tool_executing", "tool_completed", NULL };
static char *fail[] = { "agent_error", "agent_death", "error_message", "error", NULL };
static char *error_paths[] = { "data.error_message", "error_message", "message", NULL };
static char *correlate_paths[] = { "run_id", "data.run_id", "payload.run_id", NULL };
static char *response_paths[] = { "final_response", "result", "data.result", "payload.result", NULL };

/* The defaults of SPEC section 4. */
static const gp_matcher_rules defaults = {
        .type_path = "type",
        .expect = expect,
        .repeatable = repeatable,
        .fail = fail,
        .error_paths = error_paths,
        .correlate_paths = correlate_paths,
        .response_paths = response_paths,
};

static unsigned lookup_sessions(const char *id, void *userdata) {
        if (streq(id, "run-2"))
                return 2;
        if (streq(id, "run-3"))
                return 3;
        return 0;
}

static gp_matcher *new_matcher(const gp_matcher_rules *rules) {
        gp_matcher *m = gp_matcher_new(rules, "run-1", 1, lookup_sessions, NULL);

        assert_non_null(m);
        return m;
}

static gp_match_state feed(gp_matcher *m, const char *s, usec_t at) {
        return gp_matcher_feed(m, s, strlen(s), at);
}

#define EV(type) "{\"type\":\"" type "\",\"run_id\":\"run-1\"}"
#define DONE(response) \
        "{\"type\":\"agent_completed\",\"run_id\":\"run-1\",\"final_response\":\"" response "\"}"
#define MS(x) ((usec_t) (x) * USEC_PER_MSEC)

/* What the journal and the status file need: one printable line of valid UTF-8, bounded. */
static void assert_reason_printable(const char *r) {
        json_t *s;

        assert_non_null(r);
        assert_true(strlen(r) <= 300);
        for (const unsigned char *p = (const unsigned char *) r; *p; p++)
                assert_true(*p >= 0x20 && *p != 0x7f);
        s = json_string(r);
        assert_non_null(s);
        json_decref(s);
}

static void assert_failed(gp_matcher *m, const char *code, const char *stage, const char *reason) {
        assert_int_equal(gp_matcher_state(m), GP_MATCH_FAILED);
        assert_string_equal(gp_matcher_code(m), code);
        assert_string_equal(gp_matcher_stage(m), stage);
        assert_string_equal(gp_matcher_reason(m), reason);
        assert_null(gp_matcher_response(m));
        assert_reason_printable(gp_matcher_reason(m));
}

static void feed_golden_path_until_terminal(gp_matcher *m) {
        assert_int_equal(feed(m, EV("agent_started"), MS(100)), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, EV("agent_thinking"), MS(200)), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, EV("tool_executing"), MS(300)), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, EV("tool_completed"), MS(400)), GP_MATCH_RUNNING);
}

static void test_happy_path_passes_with_noise_ignored_and_counted(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        assert_int_equal(feed(m, "{\"type\":\"connection_established\"}", MS(1)), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, EV("agent_started"), MS(100)), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, "{\"type\":\"heartbeat\"}", MS(150)), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, EV("agent_thinking"), MS(200)), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, "{\"type\":\"pong\"}", MS(210)), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, "{\"type\":\"ack\",\"run_id\":\"run-1\"}", MS(220)), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, EV("tool_executing"), MS(300)), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, EV("tool_completed"), MS(400)), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, "{\"type\":\"heartbeat\"}", MS(450)), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, DONE("ready"), MS(500)), GP_MATCH_PASSED);

        assert_string_equal(gp_matcher_response(m), "ready");
        assert_int_equal(gp_matcher_n_ignored(m), 5);
        assert_int_equal(gp_matcher_n_malformed(m), 0);
        assert_int_equal(gp_matcher_n_events(m), 5);
        assert_null(gp_matcher_code(m));
        assert_null(gp_matcher_stage(m));
        assert_null(gp_matcher_reason(m));
        assert_null(gp_matcher_awaiting(m));
        assert_int_equal(gp_matcher_foreign_session(m), 0);
}

static void test_single_expected_type_is_terminal(void **state) {
        char *only[] = { "agent_completed", NULL };
        gp_matcher_rules r = defaults;
        _cleanup_(gp_matcher_freep) gp_matcher *m = NULL;

        r.expect = only;
        m = new_matcher(&r);
        assert_string_equal(gp_matcher_awaiting(m), "agent_completed");
        assert_int_equal(feed(m, DONE("ok"), MS(5)), GP_MATCH_PASSED);
}

static void test_repeatable_types_repeat_and_are_counted(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        feed(m, EV("agent_started"), MS(1));
        feed(m, EV("agent_thinking"), MS(2));
        feed(m, EV("agent_thinking"), MS(3));
        feed(m, EV("tool_executing"), MS(4));
        feed(m, EV("tool_completed"), MS(5));
        feed(m, EV("agent_thinking"), MS(6));
        feed(m, EV("tool_executing"), MS(7));
        assert_int_equal(feed(m, EV("tool_completed"), MS(8)), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, DONE("ready"), MS(9)), GP_MATCH_PASSED);

        assert_int_equal(gp_matcher_n_events(m), 5);
        assert_string_equal(gp_matcher_event(m, 1)->type, "agent_thinking");
        assert_int_equal(gp_matcher_event(m, 1)->count, 3);
        assert_int_equal(gp_matcher_event(m, 1)->first_at, MS(2));
        assert_int_equal(gp_matcher_event(m, 2)->count, 2);
        assert_int_equal(gp_matcher_event(m, 3)->count, 2);
        assert_int_equal(gp_matcher_event(m, 0)->count, 1);
}

static void test_repeated_non_repeatable_is_order_error(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        feed(m, EV("agent_started"), MS(1));
        assert_int_equal(feed(m, EV("agent_started"), MS(2)), GP_MATCH_FAILED);
        assert_failed(m, "events.order", "events", "agent_started repeated (not Repeatable=)");
        assert_int_equal(gp_matcher_event(m, 0)->count, 2);
}

static void test_middle_type_before_its_predecessor_is_order_error(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        feed(m, EV("agent_started"), MS(1));
        assert_int_equal(feed(m, EV("tool_executing"), MS(2)), GP_MATCH_FAILED);
        assert_failed(m, "events.order", "events", "tool_executing arrived before agent_thinking");
}

static void test_repeatable_type_first_appearance_out_of_order_is_order_error(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        feed(m, EV("agent_started"), MS(1));
        feed(m, EV("agent_thinking"), MS(2));
        assert_int_equal(feed(m, EV("tool_completed"), MS(3)), GP_MATCH_FAILED);
        assert_failed(m, "events.order", "events", "tool_completed arrived before tool_executing");
}

static void test_first_expected_type_not_first_is_order_error(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        assert_int_equal(feed(m, EV("agent_thinking"), MS(1)), GP_MATCH_FAILED);
        assert_failed(m, "events.order", "events", "agent_thinking arrived before agent_started");
}

static void test_terminal_with_missing_types_is_missing_not_order(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        feed(m, EV("agent_started"), MS(1));
        feed(m, EV("agent_thinking"), MS(2));
        assert_int_equal(feed(m, DONE("ready"), MS(3)), GP_MATCH_FAILED);
        assert_failed(m, "events.missing", "events",
                      "agent_completed arrived but never saw tool_executing tool_completed");
        assert_int_equal(gp_matcher_complete_at(m), MS(3));
}

static void test_terminal_first_lists_every_missing_type_in_order(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        assert_int_equal(feed(m, DONE("ready"), MS(3)), GP_MATCH_FAILED);
        assert_failed(m, "events.missing", "events",
                      "agent_completed arrived but never saw agent_started agent_thinking tool_executing "
                      "tool_completed");
}

static void test_fail_event_message_from_each_error_path(void **state) {
        static const struct {
                const char *frame;
                const char *reason;
        } cases[] = {
                { "{\"type\":\"agent_error\",\"data\":{\"error_message\":\"tool crashed\"},"
                  "\"message\":\"m\"}",
                  "agent_error: tool crashed" },
                { "{\"type\":\"agent_death\",\"error_message\":\"worker died\",\"message\":\"m\"}",
                  "agent_death: worker died" },
                { "{\"type\":\"error\",\"message\":\"rate limited\"}", "error: rate limited" },
                { "{\"type\":\"error_message\",\"data\":{\"error_message\":\"\"},\"message\":\"later\"}",
                  "error_message: later" },
                { "{\"type\":\"agent_error\",\"data\":{\"error_message\":42}}", "agent_error (no message)" },
                { "{\"type\":\"agent_error\"}", "agent_error (no message)" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

                assert_int_equal(feed(m, cases[i].frame, MS(7)), GP_MATCH_FAILED);
                assert_failed(m, "events.error", "events", cases[i].reason);
        }
}

static void test_fail_event_ends_run_and_is_recorded(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        feed(m, EV("agent_started"), MS(1));
        assert_int_equal(feed(m, "{\"type\":\"agent_error\",\"message\":\"boom\\nline 2\"}", MS(9)),
                         GP_MATCH_FAILED);
        assert_failed(m, "events.error", "events", "agent_error: boom\\nline 2");
        assert_int_equal(gp_matcher_n_events(m), 2);
        assert_string_equal(gp_matcher_event(m, 1)->type, "agent_error");
        assert_int_equal(gp_matcher_event(m, 1)->first_at, MS(9));
        assert_int_equal(gp_matcher_first_event_at(m), MS(1));
        assert_int_equal(gp_matcher_complete_at(m), USEC_INFINITY);
}

static void test_own_correlation_id_at_root_data_or_payload_passes(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        feed(m, "{\"type\":\"agent_started\",\"run_id\":\"run-1\"}", MS(1));
        feed(m, "{\"type\":\"agent_thinking\",\"data\":{\"run_id\":\"run-1\"}}", MS(2));
        feed(m, "{\"type\":\"tool_executing\",\"payload\":{\"run_id\":\"run-1\"}}", MS(3));
        feed(m, "{\"type\":\"tool_completed\"}", MS(4));
        assert_int_equal(feed(m, "{\"type\":\"agent_completed\",\"data\":{\"result\":\"ok\"}}", MS(5)),
                         GP_MATCH_PASSED);
        assert_string_equal(gp_matcher_response(m), "ok");
}

static void test_foreign_id_at_root_data_or_payload_is_crosstalk(void **state) {
        static const char *frames[] = {
                "{\"type\":\"agent_thinking\",\"run_id\":\"run-9\"}",
                "{\"type\":\"agent_thinking\",\"data\":{\"run_id\":\"run-9\"}}",
                "{\"type\":\"agent_thinking\",\"payload\":{\"run_id\":\"run-9\"}}",
        };

        for (size_t i = 0; i < ELEMENTSOF(frames); i++) {
                _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

                feed(m, EV("agent_started"), MS(1));
                assert_int_equal(feed(m, frames[i], MS(2)), GP_MATCH_FAILED);
                assert_failed(m, "events.crosstalk", "events",
                              "agent_thinking carried unknown run_id run-9 (expected run-1)");
                assert_int_equal(gp_matcher_foreign_session(m), 0);
        }
}

static void test_foreign_id_of_known_session_names_it(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        feed(m, EV("agent_started"), MS(1));
        assert_int_equal(feed(m, "{\"type\":\"agent_thinking\",\"data\":{\"run_id\":\"run-3\"}}", MS(2)),
                         GP_MATCH_FAILED);
        assert_failed(m, "events.crosstalk", "events",
                      "agent_thinking carried run_id run-3 of session 3 (this is session 1)");
        assert_int_equal(gp_matcher_foreign_session(m), 3);
}

static void test_foreign_id_without_lookup_is_unknown(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = gp_matcher_new(&defaults, "run-1", 1, NULL, NULL);

        assert_non_null(m);
        assert_int_equal(feed(m, "{\"type\":\"agent_started\",\"run_id\":\"run-3\"}", MS(2)),
                         GP_MATCH_FAILED);
        assert_failed(m, "events.crosstalk", "events",
                      "agent_started carried unknown run_id run-3 (expected run-1)");
        assert_int_equal(gp_matcher_foreign_session(m), 0);
}

static void test_crosstalk_is_checked_on_ignored_and_untyped_frames(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *a = new_matcher(&defaults);
        _cleanup_(gp_matcher_freep) gp_matcher *b = new_matcher(&defaults);

        assert_int_equal(feed(a, "{\"type\":\"heartbeat\",\"run_id\":\"run-2\"}", MS(2)), GP_MATCH_FAILED);
        assert_failed(a, "events.crosstalk", "events",
                      "heartbeat carried run_id run-2 of session 2 (this is session 1)");
        assert_int_equal(gp_matcher_foreign_session(a), 2);

        assert_int_equal(feed(b, "{\"payload\":{\"run_id\":\"x\\ty\"}}", MS(2)), GP_MATCH_FAILED);
        assert_failed(b, "events.crosstalk", "events",
                      "a frame without a type carried unknown run_id x\\ty (expected run-1)");
        assert_int_equal(gp_matcher_n_malformed(b), 0);
}

static void test_first_correlation_path_holding_a_string_wins(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        /* root wins over a foreign data.run_id; a non-string root run_id does not count */
        assert_int_equal(feed(m, "{\"type\":\"agent_started\",\"run_id\":\"run-1\","
                                 "\"data\":{\"run_id\":\"run-2\"}}", MS(1)),
                         GP_MATCH_RUNNING);
        assert_int_equal(feed(m, "{\"type\":\"agent_thinking\",\"run_id\":7,"
                                 "\"data\":{\"run_id\":\"run-2\"}}", MS(2)),
                         GP_MATCH_FAILED);
        assert_string_equal(gp_matcher_code(m), "events.crosstalk");
        assert_int_equal(gp_matcher_foreign_session(m), 2);
}

static void test_without_own_id_correlation_is_skipped(void **state) {
        static const char frame[] = "{\"type\":\"agent_started\",\"run_id\":\"run-2\"}";
        _cleanup_(gp_matcher_freep) gp_matcher *a = gp_matcher_new(&defaults, NULL, 1, lookup_sessions,
                                                                   NULL);
        _cleanup_(gp_matcher_freep) gp_matcher *b = gp_matcher_new(&defaults, "", 1, lookup_sessions, NULL);

        assert_non_null(a);
        assert_non_null(b);
        assert_int_equal(feed(a, frame, MS(1)), GP_MATCH_RUNNING);
        assert_int_equal(feed(b, frame, MS(1)), GP_MATCH_RUNNING);
}

static void test_strict_unlisted_type_is_unexpected(void **state) {
        gp_matcher_rules r = defaults;
        _cleanup_(gp_matcher_freep) gp_matcher *m = NULL;

        r.strict = true;
        m = new_matcher(&r);
        feed(m, EV("agent_started"), MS(1));
        assert_int_equal(feed(m, "{\"type\":\"agent_mood\"}", MS(2)), GP_MATCH_FAILED);
        assert_failed(m, "events.unexpected", "events", "unexpected event type 'agent_mood' (Strict=yes)");
        assert_int_equal(gp_matcher_n_ignored(m), 0);
}

static void test_strict_malformed_frame_fails_quoting_it(void **state) {
        static const struct {
                const char *type_path;
                const char *frame;
                const char *reason;
        } cases[] = {
                { "type", "hello\tworld\n", "frame is not JSON (Strict=yes): 'hello\\tworld\\n'" },
                { "type", "[1,2]", "frame is not a JSON object (Strict=yes): '[1,2]'" },
                { "type", "\"agent_started\"",
                  "frame is not a JSON object (Strict=yes): '\"agent_started\"'" },
                { "type", "{\"type\":5}", "frame has no string at type (Strict=yes): '{\"type\":5}'" },
                { "data.type", "{\"type\":\"agent_started\"}",
                  "frame has no string at data.type (Strict=yes): '{\"type\":\"agent_started\"}'" },
                { "kind", "{\"type\":\"agent_started\",\"pad\":\"0123456789012345678901234567890123456789"
                  "0123456789012345678901234567890123456789\"}",
                  "frame has no string at kind (Strict=yes): '{\"type\":\"agent_started\",\"pad\":\""
                  "0123456789012345678901234567890123456789012345678...'" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                gp_matcher_rules r = defaults;
                _cleanup_(gp_matcher_freep) gp_matcher *m = NULL;

                r.strict = true;
                r.type_path = cases[i].type_path;
                m = new_matcher(&r);
                assert_int_equal(feed(m, cases[i].frame, MS(1)), GP_MATCH_FAILED);
                assert_failed(m, "events.malformed", "events", cases[i].reason);
                assert_int_equal(gp_matcher_n_malformed(m), 0);
        }
}

static void test_strict_malformed_quote_escapes_nul_and_invalid_utf8(void **state) {
        static const char frame[] = "{\"t\xff\":\x01\x00\xc3\xa9\xe2\x80\xa8\xc2\x85}";
        gp_matcher_rules r = defaults;
        _cleanup_(gp_matcher_freep) gp_matcher *m = NULL;

        r.strict = true;
        m = new_matcher(&r);
        assert_int_equal(gp_matcher_feed(m, frame, sizeof(frame) - 1, MS(1)), GP_MATCH_FAILED);
        assert_failed(m, "events.malformed", "events",
                      "frame is not JSON (Strict=yes): '{\"t\\xff\":\\x01\\x00\xc3\xa9\\u2028\\u0085}'");
}

static void test_strict_malformed_quote_escapes_overlong_surrogate_and_cut_sequences(void **state) {
        static const char frame[] = "{\xc0\xaf\xed\xa0\x80\xf8\xf4\x90\x80\x80\xe2\x82";
        /* exactly sized, so that reading past the cut sequence at the end is caught by ASan */
        _cleanup_free_ char *data = malloc(sizeof(frame) - 1);
        gp_matcher_rules r = defaults;
        _cleanup_(gp_matcher_freep) gp_matcher *m = NULL;

        assert_non_null(data);
        memcpy(data, frame, sizeof(frame) - 1);
        r.strict = true;
        m = new_matcher(&r);
        assert_int_equal(gp_matcher_feed(m, data, sizeof(frame) - 1, MS(1)), GP_MATCH_FAILED);
        assert_failed(m, "events.malformed", "events",
                      "frame is not JSON (Strict=yes): "
                      "'{\\xc0\\xaf\\xed\\xa0\\x80\\xf8\\xf4\\x90\\x80\\x80\\xe2\\x82'");
}

static void test_strict_malformed_quote_never_splits_a_character(void **state) {
        char frame[128];
        gp_matcher_rules r = defaults;
        _cleanup_(gp_matcher_freep) gp_matcher *m = NULL;
        const char *reason;

        /* 79 ASCII bytes, then a 2-byte character across the 80-byte limit */
        memset(frame, 'a', 79);
        memcpy(frame + 79, "\xc3\xa9zz", 4);
        r.strict = true;
        m = new_matcher(&r);
        assert_int_equal(gp_matcher_feed(m, frame, 83, MS(1)), GP_MATCH_FAILED);
        reason = gp_matcher_reason(m);
        assert_reason_printable(reason);
        assert_non_null(strstr(reason, "aaaa...'"));
        assert_null(strchr(reason, '\xc3'));
}

static void test_malformed_frames_are_ignored_and_counted(void **state) {
        static const char *frames[] = {
                "", "not json", "{\"type\":\"agent_started\"", "[]", "42", "null", "\"agent_started\"",
                "{}", "{\"type\":null}", "{\"type\":{\"name\":\"agent_started\"}}",
                "{\"data\":{\"type\":\"x\"}}",
                "{\"type\":\"agent_st\xff\"}", "{\"type\":\"agent_started\\u0000\"}",
        };
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        for (size_t i = 0; i < ELEMENTSOF(frames); i++)
                assert_int_equal(feed(m, frames[i], MS(i)), GP_MATCH_RUNNING);
        /* a NUL byte inside the frame: the frame is len bytes, not a C string */
        assert_int_equal(gp_matcher_feed(m, "{\"type\":\"agent_started\"}\0", 25, MS(20)), GP_MATCH_RUNNING);
        assert_int_equal(gp_matcher_n_malformed(m), ELEMENTSOF(frames) + 1);
        assert_int_equal(gp_matcher_n_ignored(m), 0);
        assert_int_equal(gp_matcher_n_events(m), 0);
        assert_int_equal(gp_matcher_first_event_at(m), USEC_INFINITY);
        assert_int_equal(feed(m, EV("agent_started"), MS(30)), GP_MATCH_RUNNING);
}

static void test_frame_data_is_read_by_length_only(void **state) {
        const char buf[] = EV("agent_started") "garbage";
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        assert_int_equal(gp_matcher_feed(m, buf, strlen(EV("agent_started")), MS(1)), GP_MATCH_RUNNING);
        assert_int_equal(gp_matcher_n_events(m), 1);
        assert_int_equal(gp_matcher_n_malformed(m), 0);
}

static void test_hostile_frames_are_malformed_not_fatal(void **state) {
        const size_t depth = 100000, huge = 4 * 1024 * 1024;
        _cleanup_free_ char *deep = malloc(2 * depth + 1);
        _cleanup_free_ char *big = malloc(huge);
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);
        int n;

        assert_non_null(deep);
        assert_non_null(big);
        memset(deep, '[', depth);
        memset(deep + depth, ']', depth);
        deep[2 * depth] = '\0';
        assert_int_equal(feed(m, deep, MS(1)), GP_MATCH_RUNNING);
        deep[0] = '{';
        assert_int_equal(feed(m, deep, MS(2)), GP_MATCH_RUNNING);

        /* a valid 4 MiB event is still an event */
        n = snprintf(big, huge, "{\"type\":\"agent_started\",\"pad\":\"");
        memset(big + n, 'x', huge - (size_t) n - 2);
        memcpy(big + huge - 2, "\"}", 2);
        assert_int_equal(gp_matcher_feed(m, big, huge, MS(3)), GP_MATCH_RUNNING);
        assert_int_equal(gp_matcher_n_malformed(m), 2);
        assert_int_equal(gp_matcher_n_events(m), 1);
}

static void test_binary_frame_is_malformed(void **state) {
        gp_matcher_rules r = defaults;
        _cleanup_(gp_matcher_freep) gp_matcher *lax = new_matcher(&defaults);
        _cleanup_(gp_matcher_freep) gp_matcher *strict = NULL;

        assert_int_equal(gp_matcher_feed_binary(lax, 12, MS(1)), GP_MATCH_RUNNING);
        assert_int_equal(gp_matcher_n_malformed(lax), 1);

        r.strict = true;
        strict = new_matcher(&r);
        assert_int_equal(gp_matcher_feed_binary(strict, 12, MS(1)), GP_MATCH_FAILED);
        assert_failed(strict, "events.malformed", "events", "binary frame of 12 bytes (Strict=yes)");
}

static void test_empty_response_is_response_empty(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        feed_golden_path_until_terminal(m);
        assert_int_equal(feed(m, "{\"type\":\"agent_completed\",\"final_response\":\"\",\"result\":3}",
                              MS(500)), GP_MATCH_FAILED);
        assert_failed(m, "response.empty", "response",
                      "agent_completed carried no response (no non-empty string at "
                      "ResponsePath=final_response result data.result payload.result)");
        assert_int_equal(gp_matcher_complete_at(m), MS(500));
}

static void test_response_is_first_non_empty_string_at_response_paths(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        feed_golden_path_until_terminal(m);
        assert_int_equal(feed(m, "{\"type\":\"agent_completed\",\"final_response\":\"\",\"result\":{},"
                                 "\"payload\":{\"result\":\"from payload\"}}", MS(500)), GP_MATCH_PASSED);
        assert_string_equal(gp_matcher_response(m), "from payload");
}

static void test_response_regex_mismatch_fails_quoting_both(void **state) {
        gp_matcher_rules r = defaults;
        _cleanup_(gp_matcher_freep) gp_matcher *m = NULL;
        regex_t re;

        assert_int_equal(regcomp(&re, "^ready\\.?$", REG_EXTENDED | REG_NOSUB), 0);
        r.response_regex = &re;
        r.response_match = "^ready\\.?$";
        m = new_matcher(&r);
        feed_golden_path_until_terminal(m);
        assert_int_equal(feed(m, DONE("I cannot do that.\\nSorry"), MS(500)), GP_MATCH_FAILED);
        assert_failed(m, "response.mismatch", "response",
                      "response 'I cannot do that.\\nSorry' does not match '^ready\\.?$'");
        regfree(&re);
}

static void test_response_regex_mismatch_quotes_at_most_80_bytes(void **state) {
        gp_matcher_rules r = defaults;
        _cleanup_(gp_matcher_freep) gp_matcher *m = NULL;
        regex_t re;

        assert_int_equal(regcomp(&re, "^ready$", REG_EXTENDED | REG_NOSUB), 0);
        r.response_regex = &re;
        r.response_match = "^ready$";
        m = new_matcher(&r);
        feed_golden_path_until_terminal(m);
        assert_int_equal(feed(m, DONE("0123456789012345678901234567890123456789"
                                      "0123456789012345678901234567890123456789ABCDEF"), MS(500)),
                         GP_MATCH_FAILED);
        assert_failed(m, "response.mismatch", "response",
                      "response '0123456789012345678901234567890123456789"
                      "0123456789012345678901234567890123456789...' does not match '^ready$'");
        regfree(&re);
}

static void test_response_regex_match_passes(void **state) {
        gp_matcher_rules r = defaults;
        _cleanup_(gp_matcher_freep) gp_matcher *m = NULL;
        regex_t re;

        assert_int_equal(regcomp(&re, "^ready\\.?$", REG_EXTENDED | REG_NOSUB), 0);
        r.response_regex = &re;
        r.response_match = "^ready\\.?$";
        m = new_matcher(&r);
        feed_golden_path_until_terminal(m);
        assert_int_equal(feed(m, DONE("ready."), MS(500)), GP_MATCH_PASSED);
        assert_string_equal(gp_matcher_response(m), "ready.");
        regfree(&re);
}

static void test_timeout_reason_names_awaited_and_seen(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        feed(m, EV("agent_started"), MS(1));
        feed(m, EV("agent_thinking"), MS(2));
        feed(m, EV("agent_thinking"), MS(3));
        feed(m, EV("tool_executing"), MS(4));
        assert_string_equal(gp_matcher_awaiting(m), "tool_completed");
        gp_matcher_timeout(m, 30 * USEC_PER_SEC);
        assert_failed(m, "events.timeout", "events",
                      "no tool_completed within 30s; saw agent_started agent_thinking tool_executing");
}

static void test_timeout_before_any_event_saw_nothing(void **state) {
        static const struct {
                usec_t waited;
                const char *reason;
        } cases[] = {
                { 1500 * USEC_PER_MSEC, "no agent_started within 1.5s; saw nothing" },
                { 500 * USEC_PER_MSEC, "no agent_started within 500ms; saw nothing" },
                { 120 * USEC_PER_SEC, "no agent_started within 2min; saw nothing" },
                { 90 * USEC_PER_SEC, "no agent_started within 1min 30s; saw nothing" },
                { 3630500 * USEC_PER_MSEC, "no agent_started within 1h 30.5s; saw nothing" },
                { 250, "no agent_started within 250us; saw nothing" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

                feed(m, "{\"type\":\"heartbeat\"}", MS(1));
                gp_matcher_timeout(m, cases[i].waited);
                assert_failed(m, "events.timeout", "events", cases[i].reason);
        }
}

static void test_times_are_recorded_in_first_seen_order(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        assert_int_equal(gp_matcher_first_event_at(m), USEC_INFINITY);
        assert_int_equal(gp_matcher_complete_at(m), USEC_INFINITY);
        feed(m, "{\"type\":\"connection_established\"}", MS(5));
        feed(m, EV("agent_started"), MS(310));
        feed(m, EV("agent_thinking"), MS(400));
        feed(m, EV("tool_executing"), MS(900));
        feed(m, EV("agent_thinking"), MS(950));
        feed(m, EV("tool_completed"), MS(1200));
        feed(m, DONE("ready"), MS(1500));

        assert_int_equal(gp_matcher_first_event_at(m), MS(310));
        assert_int_equal(gp_matcher_complete_at(m), MS(1500));
        assert_int_equal(gp_matcher_n_events(m), 5);
        for (size_t i = 0; i < 5; i++)
                assert_string_equal(gp_matcher_event(m, i)->type, expect[i]);
        assert_int_equal(gp_matcher_event(m, 0)->first_at, MS(310));
        assert_int_equal(gp_matcher_event(m, 1)->first_at, MS(400));
        assert_int_equal(gp_matcher_event(m, 1)->count, 2);
        assert_int_equal(gp_matcher_event(m, 2)->first_at, MS(900));
        assert_int_equal(gp_matcher_event(m, 3)->first_at, MS(1200));
        assert_int_equal(gp_matcher_event(m, 4)->first_at, MS(1500));
        assert_null(gp_matcher_event(m, 5));
}

static void test_awaiting_is_the_first_expected_type_not_yet_seen(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);

        assert_string_equal(gp_matcher_awaiting(m), "agent_started");
        feed(m, EV("agent_started"), MS(1));
        assert_string_equal(gp_matcher_awaiting(m), "agent_thinking");
        feed(m, EV("agent_thinking"), MS(2));
        feed(m, EV("tool_executing"), MS(3));
        feed(m, EV("tool_completed"), MS(4));
        assert_string_equal(gp_matcher_awaiting(m), "agent_completed");
}

static void test_feeds_after_the_end_are_ignored(void **state) {
        _cleanup_(gp_matcher_freep) gp_matcher *passed = new_matcher(&defaults);
        _cleanup_(gp_matcher_freep) gp_matcher *failed = new_matcher(&defaults);

        feed_golden_path_until_terminal(passed);
        assert_int_equal(feed(passed, DONE("ready"), MS(5)), GP_MATCH_PASSED);
        assert_int_equal(feed(passed, "{\"type\":\"agent_error\",\"message\":\"late\"}", MS(6)),
                         GP_MATCH_PASSED);
        assert_int_equal(feed(passed, "{\"type\":\"heartbeat\"}", MS(7)), GP_MATCH_PASSED);
        assert_int_equal(feed(passed, "junk", MS(8)), GP_MATCH_PASSED);
        assert_int_equal(gp_matcher_feed_binary(passed, 3, MS(9)), GP_MATCH_PASSED);
        gp_matcher_timeout(passed, USEC_PER_SEC);
        assert_int_equal(gp_matcher_state(passed), GP_MATCH_PASSED);
        assert_string_equal(gp_matcher_response(passed), "ready");
        assert_int_equal(gp_matcher_n_events(passed), 5);
        assert_int_equal(gp_matcher_n_ignored(passed), 0);
        assert_int_equal(gp_matcher_n_malformed(passed), 0);

        assert_int_equal(feed(failed, EV("agent_thinking"), MS(1)), GP_MATCH_FAILED);
        assert_int_equal(feed(failed, EV("agent_started"), MS(2)), GP_MATCH_FAILED);
        assert_int_equal(feed(failed, "{\"type\":\"agent_error\"}", MS(3)), GP_MATCH_FAILED);
        gp_matcher_timeout(failed, USEC_PER_SEC);
        assert_failed(failed, "events.order", "events", "agent_thinking arrived before agent_started");
        assert_int_equal(gp_matcher_n_events(failed), 1);
}

static void test_reason_is_bounded_and_printable(void **state) {
        _cleanup_free_ char *frame = malloc(20000);
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&defaults);
        const char *r;
        int n;

        assert_non_null(frame);
        n = snprintf(frame, 20000, "{\"type\":\"agent_error\",\"message\":\"");
        for (int i = 0; i < 2000; i++)
                n += snprintf(frame + n, 20000 - (size_t) n, "\\u0007\xe2\x82\xac");
        n += snprintf(frame + n, 20000 - (size_t) n, "\"}");
        assert_int_equal(gp_matcher_feed(m, frame, (size_t) n, MS(1)), GP_MATCH_FAILED);
        r = gp_matcher_reason(m);
        assert_reason_printable(r);
        assert_true(startswith(r, "agent_error: \\x07\xe2\x82\xac\\x07"));
        assert_string_equal(r + strlen(r) - 3, "...");
        assert_true(strlen(r) > 280);
}

static void test_new_rejects_invalid_rules(void **state) {
        char *none[] = { NULL };
        gp_matcher_rules r = defaults;

        assert_null(gp_matcher_new(NULL, "run-1", 1, NULL, NULL));
        r.expect = none;
        assert_null(gp_matcher_new(&r, "run-1", 1, NULL, NULL));
        assert_int_equal(errno, EINVAL);
        r = defaults;
        r.type_path = "data..type";
        assert_null(gp_matcher_new(&r, "run-1", 1, NULL, NULL));
}

static void test_free_is_null_safe(void **state) {
        gp_matcher *m = NULL;

        assert_null(gp_matcher_free(NULL));
        gp_matcher_freep(&m);
        m = new_matcher(&defaults);
        assert_null(gp_matcher_free(m));
}

/* A small deterministic fuzzer: mutated and random frames never crash the matcher and leave it in
 * a consistent state. The real fuzz target lives elsewhere; this keeps the invariants in CI. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void) {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

static unsigned lookup_random(const char *id, void *userdata) {
        return streq(id, "run-2") ? 2 : 0;
}

static void assert_consistent(gp_matcher *m, gp_match_state s) {
        const char *code = gp_matcher_code(m);

        assert_int_equal(gp_matcher_state(m), s);
        assert_true(gp_matcher_n_events(m) <= strv_length(expect) + strv_length(fail));
        for (size_t i = 0; i < gp_matcher_n_events(m); i++) {
                const gp_event_stat *e = gp_matcher_event(m, i);

                assert_true(e->count >= 1);
                assert_true(strv_contains(expect, e->type) || strv_contains(fail, e->type));
                if (i > 0)
                        assert_true(gp_matcher_event(m, i - 1)->first_at <= e->first_at);
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(gp_matcher_event(m, j)->type, e->type);
        }
        switch (s) {
        case GP_MATCH_RUNNING:
                assert_null(code);
                assert_null(gp_matcher_reason(m));
                assert_null(gp_matcher_response(m));
                assert_non_null(gp_matcher_awaiting(m));
                assert_int_equal(gp_matcher_complete_at(m), USEC_INFINITY);
                break;
        case GP_MATCH_PASSED:
                assert_null(code);
                assert_null(gp_matcher_awaiting(m));
                assert_true(!isempty(gp_matcher_response(m)));
                assert_true(gp_matcher_first_event_at(m) <= gp_matcher_complete_at(m));
                assert_int_not_equal(gp_matcher_complete_at(m), USEC_INFINITY);
                break;
        case GP_MATCH_FAILED:
                assert_non_null(code);
                assert_string_equal(gp_matcher_stage(m),
                                    startswith(code, "response.") ? "response" : "events");
                assert_reason_printable(gp_matcher_reason(m));
                if (gp_matcher_foreign_session(m) > 0)
                        assert_string_equal(code, "events.crosstalk");
                break;
        }
}

static size_t random_frame(char *buf, size_t size) {
        static const char *seeds[] = {
                EV("agent_started"), EV("agent_thinking"), EV("tool_executing"), EV("tool_completed"),
                DONE("ready"), DONE(""), "{\"type\":\"heartbeat\"}", "{\"type\":\"pong\"}",
                "{\"type\":\"agent_error\",\"data\":{\"error_message\":\"boom\"}}",
                "{\"type\":\"agent_thinking\",\"data\":{\"run_id\":\"run-2\"}}",
                "{\"type\":\"agent_thinking\",\"payload\":{\"run_id\":\"zz\"}}",
                "{\"type\":\"agent_mood\",\"run_id\":\"run-1\"}", "[{\"type\":\"agent_started\"}]",
                "{\"type\":\"agent_completed\",\"data\":{\"result\":\"r\\u00e9sum\\u00e9\"}}",
        };
        const char *seed = seeds[rng() % ELEMENTSOF(seeds)];
        size_t len = strlen(seed);

        memcpy(buf, seed, len);
        switch (rng() % 4) {
        case 0: /* as is */
                break;
        case 1: /* flip some bytes */
                for (unsigned k = rng() % 4 + 1; k > 0; k--)
                        buf[rng() % len] = (char) rng();
                break;
        case 2: /* truncate */
                len = rng() % len;
                break;
        case 3: /* pure noise */
                len = rng() % size;
                for (size_t i = 0; i < len; i++)
                        buf[i] = (char) rng();
                break;
        }
        return len;
}

/* Half of the frames walk the golden path, so that runs also pass; the rest are mutated or noise. */
static size_t next_frame(char *buf, size_t size, size_t *golden_next) {
        static const char *golden[] = { EV("agent_started"), EV("agent_thinking"), EV("tool_executing"),
                                        EV("tool_completed"), DONE("ready") };
        size_t len;

        if (rng() % 2)
                return random_frame(buf, size);
        len = strlen(golden[*golden_next]);
        memcpy(buf, golden[*golden_next], len);
        *golden_next = (*golden_next + 1) % ELEMENTSOF(golden);
        return len;
}

static void test_random_frames_never_crash_and_state_stays_consistent(void **state) {
        static const char *codes[] = { "events.order", "events.missing", "events.error", "events.crosstalk",
                                       "events.unexpected", "events.malformed", "events.timeout",
                                       "response.empty" };
        unsigned passed = 0, hits[ELEMENTSOF(codes)] = { 0 };
        gp_matcher_rules strict = defaults;

        strict.strict = true;
        for (unsigned run = 0; run < 3000; run++) {
                _cleanup_(gp_matcher_freep) gp_matcher *m =
                        gp_matcher_new(rng() % 2 ? &strict : &defaults, rng() % 8 ? "run-1" : NULL, 1,
                                       rng() % 2 ? lookup_random : NULL, NULL);
                gp_match_state s = GP_MATCH_RUNNING;
                size_t golden_next = 0;
                usec_t at = 0;

                assert_non_null(m);
                for (unsigned f = rng() % 40; f > 0; f--) {
                        gp_match_state before = s;
                        unsigned ignored = gp_matcher_n_ignored(m), malformed = gp_matcher_n_malformed(m);
                        char buf[256];
                        size_t len = next_frame(buf, sizeof buf, &golden_next);

                        at += rng() % USEC_PER_SEC;
                        s = rng() % 16 == 0 ? gp_matcher_feed_binary(m, len, at)
                                            : gp_matcher_feed(m, buf, len, at);
                        assert_consistent(m, s);
                        if (before != GP_MATCH_RUNNING) {
                                assert_int_equal(s, before);
                                assert_int_equal(gp_matcher_n_ignored(m), ignored);
                                assert_int_equal(gp_matcher_n_malformed(m), malformed);
                        }
                }
                if (s == GP_MATCH_RUNNING) {
                        gp_matcher_timeout(m, rng() % (300 * USEC_PER_SEC));
                        s = GP_MATCH_FAILED;
                }
                assert_consistent(m, s);
                passed += s == GP_MATCH_PASSED;
                for (size_t i = 0; i < ELEMENTSOF(codes); i++)
                        hits[i] += streq_ptr(gp_matcher_code(m), codes[i]);
        }
        /* the generator must reach every ending, or it tests little */
        assert_true(passed > 0);
        for (size_t i = 0; i < ELEMENTSOF(codes); i++)
                if (hits[i] == 0)
                        fail_msg("no random run ended with %s", codes[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_happy_path_passes_with_noise_ignored_and_counted),
                cmocka_unit_test(test_single_expected_type_is_terminal),
                cmocka_unit_test(test_repeatable_types_repeat_and_are_counted),
                cmocka_unit_test(test_repeated_non_repeatable_is_order_error),
                cmocka_unit_test(test_middle_type_before_its_predecessor_is_order_error),
                cmocka_unit_test(test_repeatable_type_first_appearance_out_of_order_is_order_error),
                cmocka_unit_test(test_first_expected_type_not_first_is_order_error),
                cmocka_unit_test(test_terminal_with_missing_types_is_missing_not_order),
                cmocka_unit_test(test_terminal_first_lists_every_missing_type_in_order),
                cmocka_unit_test(test_fail_event_message_from_each_error_path),
                cmocka_unit_test(test_fail_event_ends_run_and_is_recorded),
                cmocka_unit_test(test_own_correlation_id_at_root_data_or_payload_passes),
                cmocka_unit_test(test_foreign_id_at_root_data_or_payload_is_crosstalk),
                cmocka_unit_test(test_foreign_id_of_known_session_names_it),
                cmocka_unit_test(test_foreign_id_without_lookup_is_unknown),
                cmocka_unit_test(test_crosstalk_is_checked_on_ignored_and_untyped_frames),
                cmocka_unit_test(test_first_correlation_path_holding_a_string_wins),
                cmocka_unit_test(test_without_own_id_correlation_is_skipped),
                cmocka_unit_test(test_strict_unlisted_type_is_unexpected),
                cmocka_unit_test(test_strict_malformed_frame_fails_quoting_it),
                cmocka_unit_test(test_strict_malformed_quote_escapes_nul_and_invalid_utf8),
                cmocka_unit_test(test_strict_malformed_quote_escapes_overlong_surrogate_and_cut_sequences),
                cmocka_unit_test(test_strict_malformed_quote_never_splits_a_character),
                cmocka_unit_test(test_malformed_frames_are_ignored_and_counted),
                cmocka_unit_test(test_frame_data_is_read_by_length_only),
                cmocka_unit_test(test_hostile_frames_are_malformed_not_fatal),
                cmocka_unit_test(test_binary_frame_is_malformed),
                cmocka_unit_test(test_empty_response_is_response_empty),
                cmocka_unit_test(test_response_is_first_non_empty_string_at_response_paths),
                cmocka_unit_test(test_response_regex_mismatch_fails_quoting_both),
                cmocka_unit_test(test_response_regex_mismatch_quotes_at_most_80_bytes),
                cmocka_unit_test(test_response_regex_match_passes),
                cmocka_unit_test(test_timeout_reason_names_awaited_and_seen),
                cmocka_unit_test(test_timeout_before_any_event_saw_nothing),
                cmocka_unit_test(test_times_are_recorded_in_first_seen_order),
                cmocka_unit_test(test_awaiting_is_the_first_expected_type_not_yet_seen),
                cmocka_unit_test(test_feeds_after_the_end_are_ignored),
                cmocka_unit_test(test_reason_is_bounded_and_printable),
                cmocka_unit_test(test_new_rejects_invalid_rules),
                cmocka_unit_test(test_free_is_null_safe),
                cmocka_unit_test(test_random_frames_never_crash_and_state_stays_consistent),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
