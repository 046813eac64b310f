/* SPDX-License-Identifier: MIT */
/* The matcher against the real product's shape (docs/netra.md): sub-agent cycles ended by an
 * End= condition, learned correlation ids, placeholder answers, sub-agent errors inside the
 * final result, "*" paths. */
#include <errno.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "matcher.h"
#include "util.h"

static char *expect[] = { "agent_started", "agent_thinking", "tool_executing", "tool_completed",
                          "agent_completed", NULL };
static char *all_repeat[] = { "agent_started", "agent_thinking", "tool_executing", "tool_completed",
                              "agent_completed", NULL };
static char *fail[] = { "agent_error", "agent_death", "error_message", "error", NULL };
static char *error_paths[] = { "data.error_message", "error_message", "message", NULL };
static char *correlate_paths[] = { "run_id", "data.run_id", "payload.run_id", NULL };
static char *end[] = { "agent_completed[payload.supervisor_result]", NULL };
static char *response_paths[] = { "payload.results.reporting.report", "final_response", NULL };
static char *result_errors[] = { "payload.results.*.error", NULL };

static gp_matcher_rules netra(void) {
        return (gp_matcher_rules) {
                .type_path = "type", .expect = expect, .repeatable = all_repeat, .fail = fail,
                .error_paths = error_paths, .correlate_paths = correlate_paths, .correlate_learned = true,
                .end = end, .response_paths = response_paths, .response_error_paths = result_errors,
        };
}

/* Session 2 has learned "run_B"; nobody else has an id. */
static unsigned lookup(const char *id, void *userdata) {
        return streq(id, "run_B") ? 2 : 0;
}

static gp_matcher *new_matcher(const gp_matcher_rules *r) {
        gp_matcher *m = gp_matcher_new(r, "ignored-when-learned", 1, lookup, NULL);

        assert_non_null(m);
        return m;
}

static gp_match_state feed(gp_matcher *m, const char *s) {
        return gp_matcher_feed(m, s, strlen(s), 1000);
}

#define EV(type, agent) "{\"type\":\"" type "\",\"payload\":{\"run_id\":\"run_A\",\"agent_name\":\"" agent "\"}}"
#define FINAL(results) \
        "{\"type\":\"agent_completed\",\"payload\":{\"run_id\":\"run_A\",\"supervisor_result\":\"completed\"," \
        "\"results\":" results "}}"
#define REPORT "{\"reporting\":{\"report\":\"ready: 3 savings found\"}}"

/* triage (no tool), data (tools), reporting (tools) */
static void feed_cycles(gp_matcher *m) {
        static const char * const frames[] = {
                EV("agent_started", "supervisor"), EV("agent_started", "triage"), EV("agent_thinking", "triage"),
                EV("agent_completed", "triage"),   EV("agent_started", "data"),   EV("agent_thinking", "data"),
                EV("tool_executing", "data"),      EV("tool_completed", "data"),  EV("agent_completed", "data"),
                EV("agent_started", "reporting"),  EV("tool_executing", "reporting"),
                EV("tool_completed", "reporting"), EV("agent_completed", "reporting"),
        };

        for (size_t i = 0; i < ELEMENTSOF(frames); i++)
                assert_int_equal(feed(m, frames[i]), GP_MATCH_RUNNING);
}

static void assert_failed(gp_matcher *m, const char *code, const char *reason) {
        assert_int_equal(gp_matcher_state(m), GP_MATCH_FAILED);
        assert_string_equal(gp_matcher_code(m), code);
        assert_string_equal(gp_matcher_reason(m), reason);
}

static void test_sub_agent_cycles_pass_at_the_supervisor_end(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        feed_cycles(m);
        assert_int_equal(feed(m, FINAL(REPORT)), GP_MATCH_PASSED);
        assert_string_equal(gp_matcher_response(m), "ready: 3 savings found");
        assert_string_equal(gp_matcher_own_id(m), "run_A");
        /* agent_completed arrived four times; first at the triage's end */
        assert_int_equal(gp_matcher_event(m, 2)->count, 4);
        assert_string_equal(gp_matcher_event(m, 2)->type, "agent_completed");
}

static void test_a_cycle_end_does_not_end_the_run(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        assert_int_equal(feed(m, EV("agent_started", "triage")), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, EV("agent_thinking", "triage")), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, EV("agent_completed", "triage")), GP_MATCH_RUNNING);
        assert_null(gp_matcher_response(m));
        assert_string_equal(gp_matcher_awaiting(m), "tool_executing");
        gp_matcher_timeout(m, 30 * USEC_PER_SEC);
        assert_failed(m, "events.timeout", "no tool_executing within 30s; saw agent_started agent_thinking agent_completed");
}

static void test_run_without_tools_is_missing(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        assert_int_equal(feed(m, EV("agent_started", "triage")), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, EV("agent_thinking", "triage")), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, EV("agent_completed", "triage")), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, FINAL(REPORT)), GP_MATCH_FAILED);
        assert_failed(m, "events.missing", "agent_completed arrived but never saw tool_executing tool_completed");
}

static void test_only_the_final_event_is_missing_everything_else(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        assert_int_equal(feed(m, FINAL(REPORT)), GP_MATCH_FAILED);
        assert_failed(m, "events.missing",
                      "agent_completed arrived but never saw agent_started agent_thinking tool_executing tool_completed");
}

static void test_cycle_end_before_any_start_is_order(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        assert_int_equal(feed(m, EV("agent_completed", "triage")), GP_MATCH_FAILED);
        assert_failed(m, "events.order", "agent_completed arrived before agent_started");
}

static void test_first_appearances_still_follow_expect(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        assert_int_equal(feed(m, EV("agent_started", "data")), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, EV("tool_executing", "data")), GP_MATCH_FAILED);
        assert_failed(m, "events.order", "tool_executing arrived before agent_thinking");
}

static void test_end_value_conditions(void **state) {
        static char *end_eq[] = { "agent_completed[payload.supervisor_result=completed]", "done[n=3]",
                                  "done[ok=true]", NULL };
        static char *exp2[] = { "agent_completed", "done", NULL };
        gp_matcher_rules r = netra();
        gp_matcher *m;

        r.expect = exp2;
        r.end = end_eq;
        r.correlate_learned = false;
        r.correlate_paths = NULL;
        m = new_matcher(&r);
        /* another value does not end the run; the right one does */
        assert_int_equal(feed(m, "{\"type\":\"agent_completed\",\"payload\":{\"supervisor_result\":\"failed\"}}"),
                         GP_MATCH_RUNNING);
        assert_int_equal(feed(m, "{\"type\":\"done\",\"n\":3.0,\"final_response\":\"ok\"}"), GP_MATCH_PASSED);
        gp_matcher_free(m);

        m = new_matcher(&r);
        assert_int_equal(feed(m, "{\"type\":\"agent_completed\"}"), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, "{\"type\":\"done\",\"n\":4,\"ok\":\"yes\"}"), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, "{\"type\":\"done\",\"ok\":true,\"final_response\":\"ok\"}"), GP_MATCH_PASSED);
        gp_matcher_free(m);

        /* a null at the path is not present */
        r.end = end;
        m = new_matcher(&r);
        assert_int_equal(feed(m, "{\"type\":\"agent_completed\",\"payload\":{\"supervisor_result\":null}}"),
                         GP_MATCH_RUNNING);
        gp_matcher_free(m);
}

static void test_learned_id_then_another_run_is_crosstalk(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        assert_null(gp_matcher_own_id(m));
        assert_int_equal(feed(m, EV("agent_started", "triage")), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, "{\"type\":\"agent_thinking\",\"payload\":{\"run_id\":\"run_X\"}}"), GP_MATCH_FAILED);
        assert_failed(m, "events.crosstalk",
                      "agent_thinking carried unknown run_id run_X (expected run_A, learned from agent_started)");
        assert_int_equal(gp_matcher_foreign_session(m), 0);
}

static void test_learned_id_of_another_session_names_it(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        assert_int_equal(feed(m, EV("agent_started", "triage")), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, "{\"type\":\"tool_executing\",\"run_id\":\"run_B\"}"), GP_MATCH_FAILED);
        assert_failed(m, "events.crosstalk", "tool_executing carried run_id run_B of session 2 (this is session 1)");
        assert_int_equal(gp_matcher_foreign_session(m), 2);
}

static void test_learning_an_id_another_session_learned_is_crosstalk(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        assert_int_equal(feed(m, "{\"type\":\"agent_started\",\"payload\":{\"run_id\":\"run_B\"}}"), GP_MATCH_FAILED);
        assert_failed(m, "events.crosstalk", "agent_started carried run_id run_B that session 2 learned first "
                                             "(this is session 1): two sessions were given one run");
        assert_int_equal(gp_matcher_foreign_session(m), 2);
}

static void test_only_expected_events_teach_the_id(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        /* an unlisted frame with an id before any expected event: ignored, teaches nothing */
        assert_int_equal(feed(m, "{\"type\":\"thread_created\",\"run_id\":\"run_Z\"}"), GP_MATCH_RUNNING);
        assert_null(gp_matcher_own_id(m));
        assert_int_equal(feed(m, EV("agent_started", "triage")), GP_MATCH_RUNNING);
        assert_string_equal(gp_matcher_own_id(m), "run_A");
        /* once learned, every frame with an id must carry it, listed or not */
        assert_int_equal(feed(m, "{\"type\":\"heartbeat\",\"run_id\":\"run_Z\"}"), GP_MATCH_FAILED);
        assert_string_equal(gp_matcher_code(m), "events.crosstalk");
}

static void test_client_mode_keeps_the_given_id(void **state) {
        gp_matcher_rules r = netra();
        gp_matcher *m;

        r.correlate_learned = false;
        m = gp_matcher_new(&r, "run_A", 1, lookup, NULL);
        assert_non_null(m);
        assert_string_equal(gp_matcher_own_id(m), "run_A");
        assert_int_equal(feed(m, "{\"type\":\"agent_started\",\"run_id\":\"run_Q\"}"), GP_MATCH_FAILED);
        assert_failed(m, "events.crosstalk", "agent_started carried unknown run_id run_Q (expected run_A)");
        gp_matcher_free(m);
}

static void test_fail_event_mid_run_is_error_though_the_server_carries_on(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        assert_int_equal(feed(m, EV("agent_started", "data")), GP_MATCH_RUNNING);
        assert_int_equal(feed(m, "{\"type\":\"agent_error\",\"data\":{\"run_id\":\"run_A\",\"error_message\":\"quota\"}}"),
                         GP_MATCH_FAILED);
        assert_failed(m, "events.error", "agent_error: quota");
        /* what the workflow sends afterwards changes nothing */
        assert_int_equal(feed(m, EV("agent_completed", "data")), GP_MATCH_FAILED);
        assert_int_equal(feed(m, FINAL(REPORT)), GP_MATCH_FAILED);
        assert_failed(m, "events.error", "agent_error: quota");
}

static void test_sub_agent_error_inside_the_final_result_is_error(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        feed_cycles(m);
        assert_int_equal(feed(m, FINAL("{\"data\":{\"error\":\"timeout querying metrics\"},"
                                       "\"optimization\":{\"error\":null},\"reporting\":{\"report\":\"ok\"}}")),
                         GP_MATCH_FAILED);
        assert_failed(m, "events.error",
                      "agent_completed reports an error at payload.results.data.error: timeout querying metrics");
}

static void test_empty_errors_inside_the_final_result_pass(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        feed_cycles(m);
        assert_int_equal(feed(m, FINAL("{\"data\":{\"error\":\"\"},\"optimization\":{\"error\":false},"
                                       "\"actions\":{\"error\":{}},\"reporting\":{\"report\":\"ok\",\"error\":[]}}")),
                         GP_MATCH_PASSED);
}

static void test_an_error_object_is_quoted_as_json(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        feed_cycles(m);
        assert_int_equal(feed(m, FINAL("{\"data\":{\"error\":{\"type\":\"Timeout\"}}}")), GP_MATCH_FAILED);
        assert_failed(m, "events.error",
                      "agent_completed reports an error at payload.results.data.error: {\"type\":\"Timeout\"}");
}

static void test_placeholder_answer_is_empty(void **state) {
        gp_matcher_rules r = netra();
        regex_t re;
        gp_matcher *m;

        assert_int_equal(regcomp(&re, "^[[:space:]]*(Task completed\\.?)?[[:space:]]*$", REG_EXTENDED | REG_NOSUB), 0);
        r.response_reject = &re;
        r.response_reject_src = "^Task completed$";
        m = new_matcher(&r);
        feed_cycles(m);
        assert_int_equal(feed(m, "{\"type\":\"agent_completed\",\"final_response\":\"Task completed\","
                                 "\"payload\":{\"run_id\":\"run_A\",\"supervisor_result\":\"completed\",\"results\":{}}}"),
                         GP_MATCH_FAILED);
        assert_failed(m, "response.empty",
                      "agent_completed carried the placeholder 'Task completed', not an answer (ResponseReject=^Task completed$)");
        assert_string_equal(gp_matcher_stage(m), "response");
        gp_matcher_free(m);

        /* the report, where users read it, wins over the placeholder */
        m = new_matcher(&r);
        feed_cycles(m);
        assert_int_equal(feed(m, "{\"type\":\"agent_completed\",\"final_response\":\"Task completed\","
                                 "\"payload\":{\"run_id\":\"run_A\",\"supervisor_result\":\"completed\",\"results\":"
                                 REPORT "}}"),
                         GP_MATCH_PASSED);
        assert_string_equal(gp_matcher_response(m), "ready: 3 savings found");
        gp_matcher_free(m);
        regfree(&re);
}

static void test_every_kind_then_timeout_awaits_the_end(void **state) {
        gp_matcher_rules r = netra();
        _cleanup_(gp_matcher_freep) gp_matcher *m = new_matcher(&r);

        feed_cycles(m);
        assert_null(gp_matcher_awaiting(m));
        gp_matcher_timeout(m, 30 * USEC_PER_SEC);
        assert_failed(m, "events.timeout",
                      "no agent_completed[payload.supervisor_result] within 30s; saw agent_started agent_thinking "
                      "agent_completed tool_executing tool_completed");
}

static void test_invalid_end_condition_is_refused(void **state) {
        static char *bad[] = { "agent_completed[", NULL };
        gp_matcher_rules r = netra();

        r.end = bad;
        errno = 0;
        assert_null(gp_matcher_new(&r, NULL, 1, NULL, NULL));
        assert_int_equal(errno, EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sub_agent_cycles_pass_at_the_supervisor_end),
                cmocka_unit_test(test_a_cycle_end_does_not_end_the_run),
                cmocka_unit_test(test_run_without_tools_is_missing),
                cmocka_unit_test(test_only_the_final_event_is_missing_everything_else),
                cmocka_unit_test(test_cycle_end_before_any_start_is_order),
                cmocka_unit_test(test_first_appearances_still_follow_expect),
                cmocka_unit_test(test_end_value_conditions),
                cmocka_unit_test(test_learned_id_then_another_run_is_crosstalk),
                cmocka_unit_test(test_learned_id_of_another_session_names_it),
                cmocka_unit_test(test_learning_an_id_another_session_learned_is_crosstalk),
                cmocka_unit_test(test_only_expected_events_teach_the_id),
                cmocka_unit_test(test_client_mode_keeps_the_given_id),
                cmocka_unit_test(test_fail_event_mid_run_is_error_though_the_server_carries_on),
                cmocka_unit_test(test_sub_agent_error_inside_the_final_result_is_error),
                cmocka_unit_test(test_empty_errors_inside_the_final_result_pass),
                cmocka_unit_test(test_an_error_object_is_quoted_as_json),
                cmocka_unit_test(test_placeholder_answer_is_empty),
                cmocka_unit_test(test_every_kind_then_timeout_awaits_the_end),
                cmocka_unit_test(test_invalid_end_condition_is_refused),
        };

        return cmocka_run_group_tests_name("matcher-cycles", tests, NULL, NULL);
}
