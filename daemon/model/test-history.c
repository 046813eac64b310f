/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "history.h"
#include "result.h"
#include "util.h"

#define MS(x) ((usec_t) (x) * USEC_PER_MSEC)
/* 2026-11-25T16:00:00Z, plus microseconds so that a round trip must keep them. */
#define T0 ((usec_t) 1795622400 * USEC_PER_SEC + 123456)

static unsigned run_counter;

static gp_result *make_result(gp_verdict v, const char *code, usec_t duration) {
        gp_result *r = gp_result_new(1);

        assert_non_null(r);
        run_counter++;
        r->verdict = v;
        if (code)
                assert_non_null(r->code = strdup(code));
        r->duration = duration;
        r->started_at = T0 + run_counter * 60 * USEC_PER_SEC;
        r->finished_at = r->started_at + duration;
        snprintf(r->run_id, sizeof(r->run_id), "00000000-0000-4000-8000-%012u", run_counter);
        return r;
}

static const char *default_code(gp_verdict v) {
        return v == GP_VERDICT_FAIL ? "events.timeout" : v == GP_VERDICT_DEGRADED ? "slo.total" : NULL;
}

static gp_transition record_full(gp_history *h, gp_verdict v, usec_t duration, unsigned alert_after,
                                 unsigned recover_after) {
        _cleanup_result_ gp_result *r = make_result(v, default_code(v), duration);
        gp_transition t = (gp_transition) -1;

        assert_int_equal(gp_history_record(h, r, alert_after, recover_after, &t), 0);
        return t;
}

static gp_transition record(gp_history *h, gp_verdict v, unsigned alert_after, unsigned recover_after) {
        return record_full(h, v, MS(1000), alert_after, recover_after);
}

static gp_verdict verdict_of(char c) {
        return c == 'P' ? GP_VERDICT_PASS : c == 'D' ? GP_VERDICT_DEGRADED : GP_VERDICT_FAIL;
}

/* Feeds a script of runs (P pass, D degraded, F fail) and checks the transition after each one:
 * '.' none, 'A' alert raised, 'R' recovered. */
static void run_script(gp_history *h, const char *script, unsigned alert_after, unsigned recover_after,
                       const char *expected) {
        char got[128] = {0};

        assert_true(strlen(script) < sizeof(got));
        for (size_t i = 0; script[i]; i++) {
                gp_transition t = record(h, verdict_of(script[i]), alert_after, recover_after);
                got[i] = t == GP_TRANSITION_ALERT_RAISED ? 'A' : t == GP_TRANSITION_RECOVERED ? 'R' : '.';
        }
        assert_string_equal(got, expected);
}

static gp_history *new_history(unsigned capacity) {
        gp_history *h = gp_history_new(capacity);

        assert_non_null(h);
        return h;
}

static void test_alert_is_raised_when_failures_reach_alert_after(void **state) {
        gp_history *h = new_history(10);

        run_script(h, "FF", 3, 1, "..");
        assert_false(gp_history_alerting(h));
        assert_int_equal(gp_history_consecutive_failures(h), 2);
        run_script(h, "FF", 3, 1, "A.");
        assert_true(gp_history_alerting(h));
        assert_int_equal(gp_history_consecutive_failures(h), 4);
        assert_int_equal(gp_history_consecutive_passes(h), 0);
        gp_history_free(h);
}

static void test_alert_after_one_raises_on_the_first_failure(void **state) {
        gp_history *h = new_history(10);

        run_script(h, "PPF", 1, 1, "..A");
        assert_true(gp_history_alerting(h));
        gp_history_free(h);
}

static void test_alert_is_not_raised_again_while_alerting(void **state) {
        gp_history *h = new_history(10);

        run_script(h, "FFFFFPFFFPPF", 2, 3, ".A..........");
        assert_true(gp_history_alerting(h));
        gp_history_free(h);
}

static void test_recover_after_three_needs_three_consecutive_passes(void **state) {
        gp_history *h = new_history(10);

        run_script(h, "FPPFPP", 1, 3, "A.....");
        assert_true(gp_history_alerting(h));
        run_script(h, "PP", 1, 3, "R.");
        assert_false(gp_history_alerting(h));
        /* After recovering, the next failure raises a new alert. */
        run_script(h, "F", 1, 3, "A");
        gp_history_free(h);
}

static void test_degraded_counts_as_success_for_streaks_and_recovery(void **state) {
        gp_history *h = new_history(10);

        run_script(h, "FDFD", 2, 2, "....");
        assert_int_equal(gp_history_consecutive_passes(h), 1);
        assert_int_equal(gp_history_consecutive_failures(h), 0);
        run_script(h, "FFDD", 2, 2, ".A.R");
        assert_int_equal(gp_history_consecutive_passes(h), 2);
        gp_history_free(h);
}

static void test_pass_zeroes_the_failure_streak_and_failure_the_pass_streak(void **state) {
        gp_history *h = new_history(10);

        record(h, GP_VERDICT_PASS, 3, 1);
        record(h, GP_VERDICT_DEGRADED, 3, 1);
        assert_int_equal(gp_history_consecutive_passes(h), 2);
        assert_int_equal(gp_history_consecutive_failures(h), 0);
        record(h, GP_VERDICT_FAIL, 3, 1);
        assert_int_equal(gp_history_consecutive_passes(h), 0);
        assert_int_equal(gp_history_consecutive_failures(h), 1);
        record(h, GP_VERDICT_PASS, 3, 1);
        assert_int_equal(gp_history_consecutive_passes(h), 1);
        assert_int_equal(gp_history_consecutive_failures(h), 0);
        gp_history_free(h);
}

static void test_passes_without_an_alert_never_report_recovered(void **state) {
        gp_history *h = new_history(10);

        run_script(h, "PPPPDFPP", 3, 1, "........");
        assert_false(gp_history_alerting(h));
        gp_history_free(h);
}

static void test_alert_is_raised_when_alert_after_is_lowered_below_the_streak(void **state) {
        gp_history *h = new_history(10);

        /* A reload lowered AlertAfter= from 5 to 2 in the middle of a streak of 3. */
        run_script(h, "FFF", 5, 1, "...");
        run_script(h, "F", 2, 1, "A");
        gp_history_free(h);
}

static void test_cancelled_and_invalid_runs_are_rejected_and_change_nothing(void **state) {
        gp_history *h = new_history(10);
        _cleanup_result_ gp_result *cancelled = make_result(GP_VERDICT_CANCELLED, NULL, MS(5));
        _cleanup_result_ gp_result *bad_code = make_result(GP_VERDICT_FAIL, "net dns\n", MS(5));
        _cleanup_result_ gp_result *future = make_result(GP_VERDICT_PASS, NULL, MS(5));
        _cleanup_result_ gp_result *bad_id = make_result(GP_VERDICT_PASS, NULL, MS(5));
        _cleanup_result_ gp_result *ok = make_result(GP_VERDICT_FAIL, "net.dns", MS(5));
        gp_transition t = (gp_transition) 42;

        future->started_at = (usec_t) 253402300800ULL * USEC_PER_SEC; /* year 10000 */
        bad_id->run_id[3] = '\t';
        assert_int_equal(gp_history_record(h, cancelled, 3, 1, &t), -EINVAL);
        assert_int_equal(gp_history_record(h, bad_code, 3, 1, &t), -EINVAL);
        assert_int_equal(gp_history_record(h, future, 3, 1, &t), -EINVAL);
        assert_int_equal(gp_history_record(h, bad_id, 3, 1, &t), -EINVAL);
        assert_int_equal(gp_history_record(h, ok, 0, 1, &t), -EINVAL);
        assert_int_equal(gp_history_record(h, ok, 3, 0, &t), -EINVAL);
        assert_int_equal(gp_history_record(h, NULL, 3, 1, &t), -EINVAL);
        assert_int_equal(t, 42);
        assert_int_equal(gp_history_size(h), 0);
        assert_int_equal(gp_history_consecutive_failures(h), 0);
        assert_int_equal(gp_history_consecutive_passes(h), 0);
        assert_int_equal(gp_history_runs_total(h, GP_VERDICT_FAIL), 0);
        assert_int_equal(gp_history_runs_total(h, GP_VERDICT_CANCELLED), 0);
        assert_int_equal(gp_history_last_failure_at(h), 0);
        /* ret is optional. */
        assert_int_equal(gp_history_record(h, ok, 3, 1, NULL), 0);
        assert_int_equal(gp_history_size(h), 1);
        gp_history_free(h);
}

static void test_a_passed_run_is_recorded_without_a_code(void **state) {
        gp_history *h = new_history(10);
        _cleanup_result_ gp_result *r = make_result(GP_VERDICT_PASS, "leftover", MS(5));

        assert_int_equal(gp_history_record(h, r, 3, 1, NULL), 0);
        assert_null(gp_history_get(h, 0)->code);
        gp_history_free(h);
}

static void test_last_pass_and_failure_times_count_degraded_as_a_pass(void **state) {
        gp_history *h = new_history(10);
        _cleanup_result_ gp_result *p = make_result(GP_VERDICT_PASS, NULL, MS(10));
        _cleanup_result_ gp_result *d = make_result(GP_VERDICT_DEGRADED, "slo.login", MS(10));
        _cleanup_result_ gp_result *f = make_result(GP_VERDICT_FAIL, "net.dns", MS(10));

        assert_int_equal(gp_history_last_pass_at(h), 0);
        assert_int_equal(gp_history_last_failure_at(h), 0);
        assert_int_equal(gp_history_record(h, p, 3, 1, NULL), 0);
        assert_int_equal(gp_history_last_pass_at(h), p->finished_at);
        assert_int_equal(gp_history_last_failure_at(h), 0);
        assert_int_equal(gp_history_record(h, f, 3, 1, NULL), 0);
        assert_int_equal(gp_history_last_failure_at(h), f->finished_at);
        assert_int_equal(gp_history_last_pass_at(h), p->finished_at);
        assert_int_equal(gp_history_record(h, d, 3, 1, NULL), 0);
        assert_int_equal(gp_history_last_pass_at(h), d->finished_at);
        assert_int_equal(gp_history_last_failure_at(h), f->finished_at);
        gp_history_free(h);
}

static void test_runs_total_counts_every_verdict_beyond_the_window(void **state) {
        gp_history *h = new_history(2);

        run_script(h, "PPPDDFFFFF", 100, 1, "..........");
        assert_int_equal(gp_history_size(h), 2);
        assert_int_equal(gp_history_runs_total(h, GP_VERDICT_PASS), 3);
        assert_int_equal(gp_history_runs_total(h, GP_VERDICT_DEGRADED), 2);
        assert_int_equal(gp_history_runs_total(h, GP_VERDICT_FAIL), 5);
        gp_history_free(h);
}

static void assert_window_durations(const gp_history *h, const usec_t *expected, size_t n) {
        assert_int_equal(gp_history_size(h), n);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(gp_history_get(h, i)->duration, expected[i]);
        assert_null(gp_history_get(h, n));
}

static void test_window_evicts_the_oldest_run_when_full(void **state) {
        gp_history *h = new_history(3);
        gp_window_stats s;

        for (unsigned i = 1; i <= 5; i++)
                record_full(h, i == 1 ? GP_VERDICT_FAIL : GP_VERDICT_PASS, MS(i), 3, 1);
        assert_window_durations(h, (usec_t[]) { MS(3), MS(4), MS(5) }, 3);
        gp_history_stats(h, &s);
        assert_int_equal(s.runs, 3);
        assert_int_equal(s.fail, 0);
        assert_int_equal(s.max, MS(5));
        assert_int_equal(s.p50, MS(4));
        gp_history_free(h);
}

static void test_shrinking_the_capacity_keeps_the_newest_runs(void **state) {
        gp_history *h = new_history(4);
        gp_window_stats s;

        /* 6 runs into 4: the ring has wrapped before the shrink. */
        for (unsigned i = 1; i <= 6; i++)
                record_full(h, GP_VERDICT_PASS, MS(10 * i), 3, 1);
        assert_int_equal(gp_history_set_capacity(h, 2), 0);
        assert_window_durations(h, (usec_t[]) { MS(50), MS(60) }, 2);
        gp_history_stats(h, &s);
        assert_int_equal(s.p50, MS(50));
        assert_int_equal(s.max, MS(60));
        record_full(h, GP_VERDICT_PASS, MS(1), 3, 1);
        assert_window_durations(h, (usec_t[]) { MS(60), MS(1) }, 2);
        gp_history_free(h);
}

static void test_growing_the_capacity_keeps_every_run_and_fills_up(void **state) {
        gp_history *h = new_history(3);

        for (unsigned i = 1; i <= 5; i++)
                record_full(h, GP_VERDICT_PASS, MS(i), 3, 1);
        assert_int_equal(gp_history_set_capacity(h, 5), 0);
        assert_window_durations(h, (usec_t[]) { MS(3), MS(4), MS(5) }, 3);
        record_full(h, GP_VERDICT_PASS, MS(6), 3, 1);
        record_full(h, GP_VERDICT_PASS, MS(7), 3, 1);
        assert_window_durations(h, (usec_t[]) { MS(3), MS(4), MS(5), MS(6), MS(7) }, 5);
        record_full(h, GP_VERDICT_PASS, MS(8), 3, 1);
        assert_window_durations(h, (usec_t[]) { MS(4), MS(5), MS(6), MS(7), MS(8) }, 5);
        /* Same capacity: nothing changes. */
        assert_int_equal(gp_history_set_capacity(h, 5), 0);
        assert_window_durations(h, (usec_t[]) { MS(4), MS(5), MS(6), MS(7), MS(8) }, 5);
        gp_history_free(h);
}

static void test_capacity_out_of_range_is_rejected(void **state) {
        gp_history *h;

        assert_null(gp_history_new(0));
        assert_null(gp_history_new(100001));
        h = new_history(100000);
        gp_history_free(h);
        h = new_history(1);
        record_full(h, GP_VERDICT_PASS, MS(7), 3, 1);
        assert_int_equal(gp_history_set_capacity(h, 0), -EINVAL);
        assert_int_equal(gp_history_set_capacity(h, 100001), -EINVAL);
        assert_window_durations(h, (usec_t[]) { MS(7) }, 1);
        assert_null(gp_history_free(h));
        assert_null(gp_history_free(NULL));
}

static void test_percentiles_of_1_to_100_ms_use_the_nearest_rank(void **state) {
        gp_history *h = new_history(100);
        gp_window_stats s;

        /* Recorded out of order: 37 is coprime to 100, so i * 37 % 100 visits every value. */
        for (unsigned i = 0; i < 100; i++)
                record_full(h, GP_VERDICT_PASS, MS(i * 37 % 100 + 1), 3, 1);
        gp_history_stats(h, &s);
        assert_int_equal(s.runs, 100);
        assert_int_equal(s.p50, MS(50));
        assert_int_equal(s.p95, MS(95));
        assert_int_equal(s.p99, MS(99));
        assert_int_equal(s.max, MS(100));
        gp_history_free(h);
}

static void test_percentiles_of_ten_runs_round_the_rank_up(void **state) {
        gp_history *h = new_history(10);
        gp_window_stats s;

        for (unsigned i = 10; i >= 1; i--)
                record_full(h, GP_VERDICT_PASS, MS(i), 3, 1);
        gp_history_stats(h, &s);
        /* ranks ceil(5) = 5, ceil(9.5) = 10, ceil(9.9) = 10 */
        assert_int_equal(s.p50, MS(5));
        assert_int_equal(s.p95, MS(10));
        assert_int_equal(s.p99, MS(10));
        assert_int_equal(s.max, MS(10));
        gp_history_free(h);
}

static void test_percentiles_of_a_single_run_are_that_run(void **state) {
        gp_history *h = new_history(10);
        gp_window_stats s;

        record_full(h, GP_VERDICT_FAIL, 1234567, 3, 1);
        gp_history_stats(h, &s);
        assert_int_equal(s.runs, 1);
        assert_int_equal(s.p50, 1234567);
        assert_int_equal(s.p95, 1234567);
        assert_int_equal(s.p99, 1234567);
        assert_int_equal(s.max, 1234567);
        assert_true(s.success_ratio == 0.0);
        gp_history_free(h);
}

static void test_an_empty_window_has_infinite_percentiles_and_null_json(void **state) {
        gp_history *h = new_history(10);
        json_auto_t *w = NULL;
        gp_window_stats s;

        gp_history_stats(h, &s);
        assert_int_equal(s.runs, 0);
        assert_true(s.success_ratio == 0.0);
        assert_int_equal(s.p50, USEC_INFINITY);
        assert_int_equal(s.p95, USEC_INFINITY);
        assert_int_equal(s.p99, USEC_INFINITY);
        assert_int_equal(s.max, USEC_INFINITY);
        w = gp_window_to_json(h);
        assert_non_null(w);
        assert_int_equal(json_integer_value(json_object_get(w, "runs")), 0);
        assert_true(json_is_number(json_object_get(w, "success_ratio")));
        assert_true(json_is_null(json_object_get(json_object_get(w, "duration_ms"), "p50")));
        assert_true(json_is_null(json_object_get(json_object_get(w, "duration_ms"), "max")));
        gp_history_free(h);
}

static void test_percentiles_follow_eviction(void **state) {
        gp_history *h = new_history(2);
        gp_window_stats s;

        record_full(h, GP_VERDICT_PASS, MS(100), 3, 1);
        record_full(h, GP_VERDICT_PASS, MS(2), 3, 1);
        record_full(h, GP_VERDICT_PASS, MS(2), 3, 1);
        gp_history_stats(h, &s);
        assert_int_equal(s.max, MS(2));
        assert_int_equal(s.p50, MS(2));
        gp_history_free(h);
}

static void test_success_ratio_counts_degraded_as_success(void **state) {
        gp_history *h = new_history(10);
        json_auto_t *w = NULL;
        gp_window_stats s;

        run_script(h, "PDFF", 10, 1, "....");
        gp_history_stats(h, &s);
        assert_int_equal(s.pass, 1);
        assert_int_equal(s.degraded, 1);
        assert_int_equal(s.fail, 2);
        assert_true(s.success_ratio == 0.5);
        w = gp_window_to_json(h);
        assert_true(json_real_value(json_object_get(w, "success_ratio")) == 0.5);
        gp_history_free(h);
}

static void test_history_json_lists_runs_oldest_first_with_spec_fields(void **state) {
        gp_history *h = new_history(10);
        _cleanup_result_ gp_result *p = make_result(GP_VERDICT_PASS, NULL, 1180249);
        _cleanup_result_ gp_result *f = make_result(GP_VERDICT_FAIL, "events.timeout", 30012400);
        json_auto_t *a = NULL;
        json_t *e;
        char buf[32];

        assert_int_equal(gp_history_record(h, p, 3, 1, NULL), 0);
        assert_int_equal(gp_history_record(h, f, 3, 1, NULL), 0);
        a = gp_history_to_json(h);
        assert_non_null(a);
        assert_int_equal(json_array_size(a), 2);

        e = json_array_get(a, 0);
        assert_int_equal(json_object_size(e), 5);
        assert_string_equal(json_string_value(json_object_get(e, "run_id")), p->run_id);
        assert_string_equal(json_string_value(json_object_get(e, "started_at")),
                            format_rfc3339(buf, sizeof(buf), p->started_at));
        assert_string_equal(json_string_value(json_object_get(e, "result")), "pass");
        assert_true(json_is_null(json_object_get(e, "code")));
        assert_true(json_real_value(json_object_get(e, "duration_ms")) == 1180.2);

        e = json_array_get(a, 1);
        assert_string_equal(json_string_value(json_object_get(e, "result")), "fail");
        assert_string_equal(json_string_value(json_object_get(e, "code")), "events.timeout");
        assert_true(json_real_value(json_object_get(e, "duration_ms")) == 30012.4);
        gp_history_free(h);
}

static void test_window_json_has_every_spec_field(void **state) {
        gp_history *h = new_history(10);
        json_auto_t *w = NULL;
        json_t *d;

        record_full(h, GP_VERDICT_PASS, 1210049, 3, 1);
        record_full(h, GP_VERDICT_DEGRADED, 1804200, 3, 1);
        record_full(h, GP_VERDICT_FAIL, 2950100, 3, 1);
        w = gp_window_to_json(h);
        assert_non_null(w);
        assert_int_equal(json_object_size(w), 6);
        assert_int_equal(json_integer_value(json_object_get(w, "runs")), 3);
        assert_int_equal(json_integer_value(json_object_get(w, "pass")), 1);
        assert_int_equal(json_integer_value(json_object_get(w, "degraded")), 1);
        assert_int_equal(json_integer_value(json_object_get(w, "fail")), 1);
        assert_true(json_is_real(json_object_get(w, "success_ratio")));
        d = json_object_get(w, "duration_ms");
        assert_int_equal(json_object_size(d), 4);
        assert_true(json_real_value(json_object_get(d, "p50")) == 1804.2);
        assert_true(json_real_value(json_object_get(d, "p95")) == 2950.1);
        assert_true(json_real_value(json_object_get(d, "p99")) == 2950.1);
        assert_true(json_real_value(json_object_get(d, "max")) == 2950.1);
        gp_history_free(h);
}

/* A deliberately naive model of the rules, checked against the implementation over random
 * sequences of runs and capacity changes. */
typedef struct model {
        unsigned capacity;
        gp_verdict verdicts[64];
        usec_t durations[64];
        size_t n;
        unsigned failures, passes;
        bool alerting;
} model;

static gp_transition model_record(model *m, gp_verdict v, usec_t d, unsigned aa, unsigned ra) {
        if (m->n == m->capacity) {
                memmove(m->verdicts, m->verdicts + 1, (m->n - 1) * sizeof(gp_verdict));
                memmove(m->durations, m->durations + 1, (m->n - 1) * sizeof(usec_t));
                m->n--;
        }
        m->verdicts[m->n] = v;
        m->durations[m->n++] = d;
        if (v == GP_VERDICT_FAIL) {
                m->failures++;
                m->passes = 0;
                if (!m->alerting && m->failures >= aa) {
                        m->alerting = true;
                        return GP_TRANSITION_ALERT_RAISED;
                }
        } else {
                m->passes++;
                m->failures = 0;
                if (m->alerting && m->passes >= ra) {
                        m->alerting = false;
                        return GP_TRANSITION_RECOVERED;
                }
        }
        return GP_TRANSITION_NONE;
}

/* By definition: the smallest observed x with at least p% of the runs <= x. */
static usec_t model_percentile(const model *m, unsigned p) {
        usec_t best = USEC_INFINITY;

        for (size_t i = 0; i < m->n; i++) {
                size_t at_or_below = 0;

                for (size_t j = 0; j < m->n; j++)
                        at_or_below += m->durations[j] <= m->durations[i];
                if (at_or_below * 100 >= (size_t) p * m->n && m->durations[i] < best)
                        best = m->durations[i];
        }
        return best;
}

static void test_random_sequences_match_a_naive_model(void **state) {
        srand(4242);
        for (unsigned round = 0; round < 200; round++) {
                model m = { .capacity = 1 + (unsigned) rand() % 20 };
                gp_history *h = new_history(m.capacity);
                unsigned aa = 1 + (unsigned) rand() % 4, ra = 1 + (unsigned) rand() % 4;

                for (unsigned step = 0; step < 60; step++) {
                        gp_verdict v = (gp_verdict) (rand() % 3);
                        usec_t d = (usec_t) (rand() % 50) * 1000;
                        gp_window_stats s;

                        if (rand() % 15 == 0) {
                                unsigned c = 1 + (unsigned) rand() % 20;
                                if (c < m.n) {
                                        memmove(m.verdicts, m.verdicts + (m.n - c), c * sizeof(gp_verdict));
                                        memmove(m.durations, m.durations + (m.n - c), c * sizeof(usec_t));
                                        m.n = c;
                                }
                                m.capacity = c;
                                assert_int_equal(gp_history_set_capacity(h, c), 0);
                        }
                        assert_int_equal(record_full(h, v, d, aa, ra), model_record(&m, v, d, aa, ra));
                        assert_int_equal(gp_history_consecutive_failures(h), m.failures);
                        assert_int_equal(gp_history_consecutive_passes(h), m.passes);
                        assert_int_equal(gp_history_alerting(h), m.alerting);
                        assert_int_equal(gp_history_size(h), m.n);
                        for (size_t i = 0; i < m.n; i++) {
                                assert_int_equal(gp_history_get(h, i)->verdict, m.verdicts[i]);
                                assert_int_equal(gp_history_get(h, i)->duration, m.durations[i]);
                        }
                        gp_history_stats(h, &s);
                        assert_int_equal(s.p50, model_percentile(&m, 50));
                        assert_int_equal(s.p95, model_percentile(&m, 95));
                        assert_int_equal(s.p99, model_percentile(&m, 99));
                        assert_int_equal(s.max, model_percentile(&m, 100));
                }
                gp_history_free(h);
        }
}

/* StateFile= */

typedef struct fixture {
        char dir[64];
        char *path;
        gp_history *h;        /* a history with some state, to check that failed loads keep it */
} fixture;

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-history.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->path = strdup_printf("%s/staging.state", f->dir);
        assert_non_null(f->path);
        f->h = new_history(5);
        run_script(f->h, "PPDFFFPPD", 3, 2, ".....A.R.");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        assert_int_equal(nftw(f->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
        gp_history_free(f->h);
        free(f->path);
        free(f);
        return 0;
}

static void write_text(const char *path, const char *data, size_t len) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
}

static char *read_text(const char *path, size_t *ret_len) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char *buf = calloc(1, 1 << 20);
        size_t n;

        assert_non_null(f);
        assert_non_null(buf);
        n = fread(buf, 1, (1 << 20) - 1, f);
        if (ret_len)
                *ret_len = n;
        return buf;
}

/* Everything observable about a history, exactly (microseconds, not the JSON's milliseconds). */
static char *snapshot(const gp_history *h) {
        gp_buf b = {0};
        gp_window_stats s;

        gp_history_stats(h, &s);
        assert_int_equal(gp_buf_printf(&b, "streaks=%u/%u alerting=%d last_pass_at=%" PRIu64
                                       " last_failure_at=%" PRIu64 "\n",
                                       gp_history_consecutive_failures(h), gp_history_consecutive_passes(h),
                                       gp_history_alerting(h), gp_history_last_pass_at(h),
                                       gp_history_last_failure_at(h)), 0);
        assert_int_equal(gp_buf_printf(&b, "totals=%u/%u/%u\n", gp_history_runs_total(h, GP_VERDICT_PASS),
                                       gp_history_runs_total(h, GP_VERDICT_DEGRADED),
                                       gp_history_runs_total(h, GP_VERDICT_FAIL)), 0);
        assert_int_equal(gp_buf_printf(&b, "window=%u/%u/%u/%u/%.17g/%" PRIu64 "/%" PRIu64 "/%" PRIu64
                                       "/%" PRIu64 "\n", s.runs, s.pass, s.degraded, s.fail, s.success_ratio,
                                       s.p50, s.p95, s.p99, s.max), 0);
        for (size_t i = 0; i < gp_history_size(h); i++) {
                const gp_history_entry *e = gp_history_get(h, i);

                assert_int_equal(gp_buf_printf(&b, "%s %" PRIu64 " %d %s %" PRIu64 "\n", e->run_id,
                                               e->started_at, e->verdict, strempty(e->code), e->duration),
                                 0);
        }
        return b.data;
}

static void test_save_then_load_restores_everything(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *before = NULL, *after = NULL, *err = NULL;
        gp_history *h = new_history(5);

        before = snapshot(f->h);
        assert_int_equal(gp_history_save(f->h, f->path, &err), 0);
        assert_null(err);
        assert_int_equal(gp_history_load(h, f->path, &err), 0);
        assert_null(err);
        after = snapshot(h);
        assert_string_equal(after, before);
        assert_true(gp_history_alerting(h) == gp_history_alerting(f->h));

        /* The restored state goes on as if there had been no restart. */
        for (unsigned i = 0; i < 3; i++) {
                _cleanup_result_ gp_result *r = make_result(GP_VERDICT_FAIL, "ws.closed", MS(20 + i));
                gp_transition a, b;

                assert_int_equal(gp_history_record(f->h, r, 3, 2, &a), 0);
                assert_int_equal(gp_history_record(h, r, 3, 2, &b), 0);
                assert_int_equal(a, i == 2 ? GP_TRANSITION_ALERT_RAISED : GP_TRANSITION_NONE);
                assert_int_equal(b, a);
        }
        free(before);
        free(after);
        before = snapshot(f->h);
        after = snapshot(h);
        assert_string_equal(after, before);
        gp_history_free(h);
}

static void test_save_then_load_restores_an_alert_and_an_empty_window(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *before = NULL, *after = NULL;
        gp_history *a = new_history(3), *b = new_history(3);

        before = snapshot(a);
        assert_int_equal(gp_history_save(a, f->path, NULL), 0);
        assert_int_equal(gp_history_load(b, f->path, NULL), 0);
        after = snapshot(b);
        assert_string_equal(after, before);
        assert_int_equal(gp_history_last_pass_at(b), 0);

        run_script(a, "FFFFF", 1, 3, "A....");
        assert_int_equal(gp_history_save(a, f->path, NULL), 0);
        assert_int_equal(gp_history_load(b, f->path, NULL), 0);
        assert_true(gp_history_alerting(b));
        assert_int_equal(gp_history_consecutive_failures(b), 5);
        run_script(b, "PPP", 1, 3, "..R");
        gp_history_free(a);
        gp_history_free(b);
}

static void test_save_writes_one_line_with_mode_0600(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *text = NULL;
        struct stat st;
        size_t len;
        mode_t old = umask(000);

        assert_int_equal(gp_history_save(f->h, f->path, NULL), 0);
        umask(old);
        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        text = read_text(f->path, &len);
        assert_true(len > 0);
        assert_ptr_equal(strchr(text, '\n'), text + len - 1);
}

static void test_load_into_a_smaller_window_keeps_the_newest_runs(void **state) {
        fixture *f = *state;
        gp_history *h = new_history(2);

        assert_int_equal(gp_history_save(f->h, f->path, NULL), 0);
        assert_int_equal(gp_history_load(h, f->path, NULL), 0);
        assert_int_equal(gp_history_size(h), 2);
        assert_string_equal(gp_history_get(h, 0)->run_id, gp_history_get(f->h, 3)->run_id);
        assert_string_equal(gp_history_get(h, 1)->run_id, gp_history_get(f->h, 4)->run_id);
        /* Totals cover every run since the state began, not only the window. */
        assert_int_equal(gp_history_runs_total(h, GP_VERDICT_PASS), 4);
        assert_int_equal(gp_history_runs_total(h, GP_VERDICT_FAIL), 3);
        gp_history_free(h);
}

/* Loads path into f->h, expects err and a one-line message naming the path and containing what;
 * f->h must be unchanged. */
static void assert_load_fails(fixture *f, int err, const char *what) {
        _cleanup_free_ char *before = snapshot(f->h), *after = NULL, *msg = NULL;

        assert_int_equal(gp_history_load(f->h, f->path, &msg), err);
        assert_non_null(msg);
        if (!strstr(msg, f->path) || (what && !strstr(msg, what)) || strchr(msg, '\n'))
                fail_msg("unexpected message: %s", msg);
        after = snapshot(f->h);
        assert_string_equal(after, before);
}

static void test_load_of_a_missing_file_is_enoent_and_changes_nothing(void **state) {
        fixture *f = *state;

        assert_load_fails(f, -ENOENT, NULL);
}

static void test_load_rejects_an_empty_file(void **state) {
        fixture *f = *state;

        write_text(f->path, "", 0);
        assert_load_fails(f, -EINVAL, "empty");
}

static void test_load_rejects_every_truncation_of_a_valid_file(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *full = NULL;
        size_t len;

        assert_int_equal(gp_history_save(f->h, f->path, NULL), 0);
        full = read_text(f->path, &len);
        /* Without its final "\n" the document is still complete: stop before that. */
        for (size_t n = 1; n + 1 < len; n++) {
                write_text(f->path, full, n);
                assert_load_fails(f, -EINVAL, "invalid state file");
        }
}

static void test_load_rejects_garbage_and_binary_data(void **state) {
        fixture *f = *state;
        static const char binary[] = "{\"schema\":1\0\xff\xfe\x01}";
        char random_bytes[4096];

        write_text(f->path, "garbage\n", 8);
        assert_load_fails(f, -EINVAL, "not JSON");
        write_text(f->path, binary, sizeof(binary));
        assert_load_fails(f, -EINVAL, "not JSON");
        write_text(f->path, "[1,2,3]", 7);
        assert_load_fails(f, -EINVAL, "expected a JSON object");
        write_text(f->path, "{\"schema\":1,\"schema\":1}", 23);
        assert_load_fails(f, -EINVAL, "not JSON");
        srand(7);
        for (unsigned i = 0; i < 50; i++) {
                for (size_t j = 0; j < sizeof(random_bytes); j++)
                        random_bytes[j] = (char) rand();
                write_text(f->path, random_bytes, 1 + (size_t) rand() % sizeof(random_bytes));
                assert_load_fails(f, -EINVAL, "invalid state file");
        }
}

static void test_load_rejects_an_oversized_file_without_reading_it(void **state) {
        fixture *f = *state;
        _cleanup_close_ int fd = open(f->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 64 * 1024 * 1024 + 1), 0);
        assert_load_fails(f, -EINVAL, "larger than 64 MiB");
}

static void test_load_rejects_a_directory_and_a_fifo(void **state) {
        fixture *f = *state;

        assert_int_equal(mkdir(f->path, 0700), 0);
        assert_load_fails(f, -EISDIR, NULL);
        assert_int_equal(rmdir(f->path), 0);
        assert_int_equal(mkfifo(f->path, 0600), 0);
        assert_load_fails(f, -EINVAL, "not a regular file");
}

/* Saves f->h, sets the member at dotted path (array indexes as numbers) to the JSON value (NULL:
 * removes it), writes the document back. */
static void save_mutated(fixture *f, const char *path, const char *value) {
        _cleanup_strv_free_ char **parts = NULL;
        _cleanup_free_ char *dotted = strdup(path), *text = NULL;
        json_auto_t *doc = NULL;
        json_t *parent;
        size_t n;

        assert_int_equal(gp_history_save(f->h, f->path, NULL), 0);
        doc = json_load_file(f->path, 0, NULL);
        assert_non_null(doc);
        for (char *p = dotted; *p; p++)
                if (*p == '.')
                        *p = ' ';
        parts = strv_split_blank(dotted);
        n = strv_length(parts);
        parent = doc;
        for (size_t i = 0; i + 1 < n; i++)
                parent = json_is_array(parent) ? json_array_get(parent, strtoul(parts[i], NULL, 10))
                                               : json_object_get(parent, parts[i]);
        assert_non_null(parent);
        if (json_is_array(parent)) {
                assert_non_null(value);
                assert_int_equal(json_array_set_new(parent, strtoul(parts[n - 1], NULL, 10),
                                                    json_loads(value, JSON_DECODE_ANY, NULL)), 0);
        } else if (value) {
                json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);

                assert_int_equal(json_object_set_new(parent, parts[n - 1], v), 0);
        } else
                assert_int_equal(json_object_del(parent, parts[n - 1]), 0);
        text = json_dumps(doc, JSON_COMPACT);
        write_text(f->path, text, strlen(text));
}

static void test_load_rejects_wrong_types_and_missing_fields(void **state) {
        static const struct {
                const char *path, *value, *message;
        } cases[] = {
                { "schema", "\"1\"", "schema: expected an integer" },
                { "schema", "1.0", "schema: expected an integer" },
                { "schema", NULL, "schema: missing" },
                { "schema", "0", "schema: unsupported" },
                { "consecutive_failures", "-1", "consecutive_failures: expected an integer" },
                { "consecutive_failures", "4294967296", "consecutive_failures: expected an integer" },
                { "consecutive_failures", "\"3\"", "consecutive_failures: expected an integer" },
                { "consecutive_passes", "null", "consecutive_passes: expected an integer" },
                { "consecutive_passes", NULL, "consecutive_passes: missing" },
                { "alerting", "1", "alerting: expected true or false" },
                { "alerting", NULL, "alerting: missing" },
                { "last_pass_at", "0", "last_pass_at: expected an RFC 3339 time or null" },
                { "last_failure_at", NULL, "last_failure_at: missing" },
                { "runs_total", "[]", "runs_total: expected an object" },
                { "runs_total.degraded", "true", "runs_total.degraded: expected an integer" },
                { "runs_total.fail", NULL, "runs_total.fail: missing" },
                { "entries", "{}", "entries: expected an array" },
                { "entries", NULL, "entries: missing" },
                { "entries.2", "\"pass\"", "entries[2]: expected an object" },
                { "entries.0.run_id", "7", "entries[0].run_id: expected a string" },
                { "entries.0.run_id", "\"0123456789012345678901234567890123456\"", "entries[0].run_id" },
                { "entries.0.run_id", "\"a b\"", "entries[0].run_id" },
                { "entries.1.started_at", "1795622400", "entries[1].started_at: expected an RFC 3339 time" },
                { "entries.1.started_at", "null", "entries[1].started_at: expected an RFC 3339 time" },
                { "entries.4.code", "42", "entries[4].code: expected a result code or null" },
                { "entries.4.code", "\"\"", "entries[4].code: expected a result code or null" },
                { "entries.4.code", "\"net dns\"", "entries[4].code: expected a result code or null" },
                { "entries.4.code", NULL, "entries[4].code: missing" },
                { "entries.3.duration_us", "-5", "entries[3].duration_us: expected a non-negative integer" },
                { "entries.3.duration_us", "1.5", "entries[3].duration_us: expected a non-negative" },
                { "entries.3.result", NULL, "entries[3].result: missing" },
        };
        fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                save_mutated(f, cases[i].path, cases[i].value);
                assert_load_fails(f, -EINVAL, cases[i].message);
        }
}

static void test_load_rejects_a_newer_schema_saying_so(void **state) {
        fixture *f = *state;

        save_mutated(f, "schema", "2");
        assert_load_fails(f, -EINVAL, "written by a newer gpprobe");
}

static void test_load_rejects_bad_time_strings(void **state) {
        static const char * const bad[] = {
                "\"\"", "\"yesterday\"", "\"2026-11-25\"", "\"2026-11-25T16:00:00\"",
                "\"2026-13-01T00:00:00Z\"",
                "\"2026-11-25T25:00:00Z\"", "\"2026-11-25T16:00:00.Z\"", "\"2026-11-25T16:00:00Zjunk\"",
                "\"1969-12-31T23:59:59Z\"", "\"2026-11-25T16:00:00+2:00\"",
        };
        fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                save_mutated(f, "entries.0.started_at", bad[i]);
                assert_load_fails(f, -EINVAL, "entries[0].started_at");
                save_mutated(f, "last_pass_at", bad[i]);
                assert_load_fails(f, -EINVAL, "last_pass_at");
        }
        /* Offsets are accepted and converted. */
        save_mutated(f, "last_failure_at", "\"2026-11-25T17:00:00.5+01:00\"");
        assert_int_equal(gp_history_load(f->h, f->path, NULL), 0);
        assert_int_equal(gp_history_last_failure_at(f->h), (usec_t) 1795622400 * USEC_PER_SEC + 500000);
}

static void test_load_rejects_unknown_verdicts(void **state) {
        static const char * const bad[] = { "\"cancelled\"", "\"PASS\"", "\"ok\"", "\"\"", "0", "null" };
        fixture *f = *state;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                save_mutated(f, "entries.2.result", bad[i]);
                assert_load_fails(f, -EINVAL,
                                  "entries[2].result: expected \"pass\", \"degraded\" or \"fail\"");
        }
}

static void test_load_rejects_inconsistent_state(void **state) {
        fixture *f = *state;

        save_mutated(f, "consecutive_failures", "2");
        assert_load_fails(f, -EINVAL, "both non-zero");
        /* The window holds F F P P D. */
        save_mutated(f, "runs_total.fail", "1");
        assert_load_fails(f, -EINVAL, "runs_total.fail: 1 is less than the 2 such entries");
        save_mutated(f, "entries.2.code", "\"net.dns\"");
        assert_load_fails(f, -EINVAL, "entries[2].code: a passed run has no code");
}

static void test_load_ignores_unknown_fields(void **state) {
        fixture *f = *state;
        gp_history *h = new_history(5);

        save_mutated(f, "comment", "\"added by a later schema-1 writer\"");
        assert_int_equal(gp_history_load(h, f->path, NULL), 0);
        save_mutated(f, "entries.0.extra", "[1]");
        assert_int_equal(gp_history_load(h, f->path, NULL), 0);
        assert_int_equal(gp_history_size(h), 5);
        gp_history_free(h);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_alert_is_raised_when_failures_reach_alert_after),
                cmocka_unit_test(test_alert_after_one_raises_on_the_first_failure),
                cmocka_unit_test(test_alert_is_not_raised_again_while_alerting),
                cmocka_unit_test(test_recover_after_three_needs_three_consecutive_passes),
                cmocka_unit_test(test_degraded_counts_as_success_for_streaks_and_recovery),
                cmocka_unit_test(test_pass_zeroes_the_failure_streak_and_failure_the_pass_streak),
                cmocka_unit_test(test_passes_without_an_alert_never_report_recovered),
                cmocka_unit_test(test_alert_is_raised_when_alert_after_is_lowered_below_the_streak),
                cmocka_unit_test(test_cancelled_and_invalid_runs_are_rejected_and_change_nothing),
                cmocka_unit_test(test_a_passed_run_is_recorded_without_a_code),
                cmocka_unit_test(test_last_pass_and_failure_times_count_degraded_as_a_pass),
                cmocka_unit_test(test_runs_total_counts_every_verdict_beyond_the_window),
                cmocka_unit_test(test_window_evicts_the_oldest_run_when_full),
                cmocka_unit_test(test_shrinking_the_capacity_keeps_the_newest_runs),
                cmocka_unit_test(test_growing_the_capacity_keeps_every_run_and_fills_up),
                cmocka_unit_test(test_capacity_out_of_range_is_rejected),
                cmocka_unit_test(test_percentiles_of_1_to_100_ms_use_the_nearest_rank),
                cmocka_unit_test(test_percentiles_of_ten_runs_round_the_rank_up),
                cmocka_unit_test(test_percentiles_of_a_single_run_are_that_run),
                cmocka_unit_test(test_an_empty_window_has_infinite_percentiles_and_null_json),
                cmocka_unit_test(test_percentiles_follow_eviction),
                cmocka_unit_test(test_success_ratio_counts_degraded_as_success),
                cmocka_unit_test(test_history_json_lists_runs_oldest_first_with_spec_fields),
                cmocka_unit_test(test_window_json_has_every_spec_field),
                cmocka_unit_test(test_random_sequences_match_a_naive_model),
                T(test_save_then_load_restores_everything),
                T(test_save_then_load_restores_an_alert_and_an_empty_window),
                T(test_save_writes_one_line_with_mode_0600),
                T(test_load_into_a_smaller_window_keeps_the_newest_runs),
                T(test_load_of_a_missing_file_is_enoent_and_changes_nothing),
                T(test_load_rejects_an_empty_file),
                T(test_load_rejects_every_truncation_of_a_valid_file),
                T(test_load_rejects_garbage_and_binary_data),
                T(test_load_rejects_an_oversized_file_without_reading_it),
                T(test_load_rejects_a_directory_and_a_fifo),
                T(test_load_rejects_wrong_types_and_missing_fields),
                T(test_load_rejects_a_newer_schema_saying_so),
                T(test_load_rejects_bad_time_strings),
                T(test_load_rejects_unknown_verdicts),
                T(test_load_rejects_inconsistent_state),
                T(test_load_ignores_unknown_fields),
        };
#undef T

        return cmocka_run_group_tests(tests, NULL, NULL);
}
