/* SPDX-License-Identifier: MIT */
/* Streaming quality (stream.c): gaps, silences, partials, and a run's figures over its sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "history.h"
#include "json-util.h"
#include "stream-totals.h"
#include "stream.h"
#include "util.h"

#define MS(x) ((usec_t) (x) * USEC_PER_MSEC)

static void feed(gp_stream *s, const usec_t *at_ms, size_t n, const char *type, bool partial) {
        for (size_t i = 0; i < n; i++)
                gp_stream_frame(s, MS(at_ms[i]), 100, type, partial);
}

static void test_gaps_silence_and_counts_of_one_stream(void **state) {
        gp_stream s;
        gp_stream_figures f;
        const gp_stream *v[] = { &s };

        (void) state;
        gp_stream_init(&s);
        gp_stream_frame(&s, MS(5), 1, "ignored", false);  /* before t=0: not a frame of the run */
        gp_stream_start(&s);
        gp_stream_frame(&s, MS(300), 10, "agent_started", false);
        gp_stream_event(&s, MS(300));
        gp_stream_frame(&s, MS(400), 20, "agent_thinking", true);
        gp_stream_event(&s, MS(400));
        gp_stream_frame(&s, MS(1400), 30, "tool_executing", false);
        gp_stream_event(&s, MS(1400));
        gp_stream_frame(&s, MS(1500), 40, "agent_completed", false);
        gp_stream_event(&s, MS(1500));
        gp_stream_end(&s, MS(1500));
        gp_stream_frame(&s, MS(9000), 50, "late", false);  /* after the end: not counted */

        assert_int_equal(gp_stream_figures_of(v, 1, &f), 0);
        assert_true(f.present);
        assert_int_equal(f.frames, 4);
        assert_int_equal(f.bytes, 100);
        assert_int_equal(f.partials, 1);
        /* gaps 100, 1000, 100 ms: p50 100, max 1000 */
        assert_int_equal(f.frame_gap_p50, MS(100));
        assert_int_equal(f.frame_gap_max, MS(1000));
        assert_int_equal(f.event_gap_p50, MS(100));
        assert_int_equal(f.event_gap_max, MS(1000));
        /* the longest silence: 1000 ms after agent_thinking (longer than the 300 ms to the first) */
        assert_int_equal(f.silence, MS(1000));
        assert_string_equal(f.silence_after, "agent_thinking");
        assert_int_equal(f.first_partial, MS(400));
        assert_true(f.partials_per_s < 0);  /* one partial: no rate */
        assert_int_equal(f.silence_session, 1);
        gp_stream_done(&s);
}

static void test_silence_up_to_the_end_names_the_last_frame(void **state) {
        gp_stream s;
        gp_stream_figures f;
        const gp_stream *v[] = { &s };

        (void) state;
        gp_stream_init(&s);
        gp_stream_start(&s);
        gp_stream_frame(&s, MS(100), 1, "agent_started", false);
        gp_stream_frame(&s, MS(200), 1, "agent_thinking", true);
        gp_stream_end(&s, MS(3200));  /* a stall: nothing until the deadline */
        gp_stream_end(&s, MS(9999));  /* once */
        assert_int_equal(gp_stream_figures_of(v, 1, &f), 0);
        assert_int_equal(f.silence, MS(3000));
        assert_string_equal(f.silence_after, "agent_thinking");
        gp_stream_done(&s);
}

static void test_silence_before_any_frame_is_after_the_request(void **state) {
        gp_stream s;
        gp_stream_figures f;
        const gp_stream *v[] = { &s };
        json_auto_t *o = NULL;

        (void) state;
        gp_stream_init(&s);
        gp_stream_start(&s);
        gp_stream_end(&s, MS(2000));
        assert_int_equal(gp_stream_figures_of(v, 1, &f), 0);
        assert_true(f.present);
        assert_int_equal(f.frames, 0);
        assert_int_equal(f.silence, MS(2000));
        assert_string_equal(f.silence_after, "");
        assert_int_equal(f.frame_gap_max, USEC_INFINITY);
        assert_int_equal(f.first_partial, USEC_INFINITY);
        o = gp_stream_figures_to_json(&f, false);
        assert_non_null(o);
        assert_true(json_is_null(json_object_get(o, "silence_after")));
        assert_true(json_is_null(json_object_get(o, "frame_gap_ms")));
        assert_true(json_is_null(json_object_get(o, "first_partial_ms")));
        assert_true(json_is_null(json_object_get(o, "partials_per_s")));
        assert_null(json_object_get(o, "longest_silence_session"));
        assert_true(json_real_value(json_object_get(o, "longest_silence_ms")) == 2000.0);
        gp_stream_done(&s);
}

static void test_partials_per_second_over_the_partials_span(void **state) {
        gp_stream s;
        const usec_t at[] = { 1000, 1250, 1500, 1750, 2000 };

        (void) state;
        gp_stream_init(&s);
        gp_stream_start(&s);
        feed(&s, at, ELEMENTSOF(at), "agent_thinking", true);
        /* 4 intervals in 1 s */
        assert_true(gp_stream_partials_per_s(&s) > 3.999 && gp_stream_partials_per_s(&s) < 4.001);
        gp_stream_done(&s);
}

static void test_a_stream_never_started_has_no_figures(void **state) {
        gp_stream s;
        gp_stream_figures f;
        const gp_stream *v[] = { &s };
        json_t *o;

        (void) state;
        gp_stream_init(&s);
        gp_stream_end(&s, MS(10));
        assert_int_equal(gp_stream_figures_of(v, 1, &f), 0);
        assert_false(f.present);
        o = gp_stream_figures_to_json(&f, true);
        assert_true(json_is_null(o));
        json_decref(o);
        gp_stream_done(&s);
}

static void test_run_figures_sum_counts_pool_p50_and_take_the_worst_session(void **state) {
        gp_stream a, b, c;
        const gp_stream *v[] = { &a, &b, &c };
        const usec_t fast[] = { 100, 200, 300, 400 };       /* gaps 100 100 100 */
        const usec_t slow[] = { 900, 1400, 3400 };          /* gaps 500 2000 */
        gp_stream_figures f;
        json_auto_t *o = NULL;

        (void) state;
        gp_stream_init(&a);
        gp_stream_init(&b);
        gp_stream_init(&c);  /* failed before the request: not started, ignored */
        gp_stream_start(&a);
        gp_stream_start(&b);
        feed(&a, fast, ELEMENTSOF(fast), "agent_thinking", true);
        feed(&b, slow, ELEMENTSOF(slow), "agent_thinking", true);
        gp_stream_end(&a, MS(400));
        gp_stream_end(&b, MS(3400));

        assert_int_equal(gp_stream_figures_of(v, 3, &f), 0);
        assert_int_equal(f.frames, 7);
        assert_int_equal(f.bytes, 700);
        assert_int_equal(f.partials, 7);
        /* pooled gaps 100 100 100 500 2000: p50 100 */
        assert_int_equal(f.frame_gap_p50, MS(100));
        assert_int_equal(f.frame_gap_max, MS(2000));
        assert_int_equal(f.silence, MS(2000));
        assert_int_equal(f.silence_session, 2);
        /* the slowest first partial, the lowest rate */
        assert_int_equal(f.first_partial, MS(900));
        assert_int_equal(f.first_partial_session, 2);
        assert_true(f.partials_per_s > 0.79 && f.partials_per_s < 0.81);  /* 2 in 2.5 s */
        assert_int_equal(f.partials_per_s_session, 2);

        o = gp_stream_figures_to_json(&f, true);
        assert_non_null(o);
        assert_int_equal(json_integer_value(json_object_get(o, "longest_silence_session")), 2);
        assert_int_equal(json_integer_value(json_object_get(o, "frames")), 7);
        assert_true(json_real_value(json_object_get(o, "partials_per_s")) == 0.8);
        assert_true(json_real_value(json_object_get(json_object_get(o, "frame_gap_ms"), "max")) == 2000.0);
        gp_stream_done(&a);
        gp_stream_done(&b);
        gp_stream_done(&c);
}

static void test_gaps_beyond_the_kept_ones_still_count_in_the_max(void **state) {
        gp_stream s;
        gp_stream_figures f;
        const gp_stream *v[] = { &s };

        (void) state;
        gp_stream_init(&s);
        gp_stream_start(&s);
        for (usec_t i = 0; i <= GP_STREAM_GAPS_MAX + 10; i++)
                gp_stream_frame(&s, MS(i), 1, "agent_thinking", false);
        gp_stream_frame(&s, MS(GP_STREAM_GAPS_MAX + 5000), 1, "agent_completed", false);
        assert_int_equal(s.frame_gaps.n, GP_STREAM_GAPS_MAX);
        assert_int_equal(s.frame_gaps.total, GP_STREAM_GAPS_MAX + 11);
        assert_int_equal(gp_stream_figures_of(v, 1, &f), 0);
        assert_int_equal(f.frame_gap_p50, MS(1));
        assert_int_equal(f.frame_gap_max, MS(4990));
        gp_stream_done(&s);
}

static void test_a_long_type_is_cut_at_a_character_boundary(void **state) {
        gp_stream s;
        char type[200];
        json_auto_t *o = NULL;
        gp_stream_figures f;
        const gp_stream *v[] = { &s };

        (void) state;
        /* "é" (2 bytes) repeated: a cut at 63 bytes would split one */
        for (size_t i = 0; i + 2 < sizeof(type); i += 2)
                memcpy(type + i, "\xc3\xa9", 2), type[i + 2] = 0;
        gp_stream_init(&s);
        gp_stream_start(&s);
        gp_stream_frame(&s, MS(10), 1, type, false);
        gp_stream_end(&s, MS(5000));
        assert_true(strlen(s.last_type) < GP_STREAM_TYPE_MAX && strlen(s.last_type) % 2 == 0);
        assert_int_equal(gp_stream_figures_of(v, 1, &f), 0);
        o = gp_stream_figures_to_json(&f, false);
        assert_non_null(o);  /* valid UTF-8, so jansson took it */
        assert_string_equal(json_string_value(json_object_get(o, "silence_after")), s.last_type);
        gp_stream_done(&s);
}

/* A recorded run with one session's stream: frames at the given ms, then the end. */
static gp_result *run_with_frames(const usec_t *at_ms, size_t n, usec_t end_ms) {
        static unsigned counter;
        gp_result *r = gp_result_new(1);

        assert_non_null(r);
        r->verdict = GP_VERDICT_PASS;
        r->started_at = (usec_t) 1795622400 * USEC_PER_SEC + ++counter * USEC_PER_SEC;
        r->finished_at = r->started_at + MS(end_ms);
        r->duration = MS(end_ms);
        snprintf(r->run_id, sizeof(r->run_id), "run-%u", counter);
        gp_stream_start(&r->sessions[0].stream);
        feed(&r->sessions[0].stream, at_ms, n, "agent_thinking", true);
        gp_stream_end(&r->sessions[0].stream, MS(end_ms));
        return r;
}

static void test_histograms_count_recorded_runs_and_survive_the_state_file(void **state) {
        const usec_t at[] = { 30, 90, 1590 };  /* gaps 60 1500; silence 1500; first partial 30 */
        char path[] = "/tmp/test-stream-state.XXXXXX";
        gp_history *h = gp_history_new(5), *back = gp_history_new(5);
        _cleanup_result_ gp_result *r = run_with_frames(at, ELEMENTSOF(at), 1590);
        const gp_stream_totals *t;
        _cleanup_free_ char *err = NULL;
        int fd;

        (void) state;
        assert_non_null(h);
        assert_non_null(back);
        assert_int_equal(gp_history_record(h, r, 3, 1, NULL), 0);
        t = gp_history_stream_totals(h);
        /* 60 ms in (50, 100], 1500 ms in (1, 2] s */
        assert_int_equal(t->h[GP_STREAM_HIST_FRAME_GAP].buckets[2], 1);
        assert_int_equal(t->h[GP_STREAM_HIST_FRAME_GAP].buckets[6], 1);
        assert_int_equal(t->h[GP_STREAM_HIST_FRAME_GAP].sum, MS(1560));
        assert_int_equal(t->h[GP_STREAM_HIST_SILENCE].buckets[6], 1);
        assert_int_equal(t->h[GP_STREAM_HIST_FIRST_PARTIAL].buckets[0], 0);
        assert_int_equal(t->h[GP_STREAM_HIST_FIRST_PARTIAL].buckets[1], 1);  /* 30 ms in (10, 50] */

        fd = mkstemp(path);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(gp_history_save(h, path, NULL), 0);
        assert_int_equal(gp_history_load(back, path, &err), 0);
        assert_memory_equal(gp_history_stream_totals(back), t, sizeof(*t));
        unlink(path);
        gp_history_free(h);
        gp_history_free(back);
}

static void test_a_state_file_without_stream_loads_and_a_bad_one_is_refused(void **state) {
        const char *old = "{\"schema\":1,\"consecutive_failures\":0,\"consecutive_passes\":1,"
                          "\"alerting\":false,\"last_pass_at\":null,\"last_failure_at\":null,"
                          "\"runs_total\":{\"pass\":1,\"degraded\":0,\"fail\":0},\"entries\":[]}\n";
        gp_stream_totals t = {0}, zero = {0};
        char error[256] = "";
        json_auto_t *bad = json_pack("{s:[i], s:{}}", "bounds_us", 1, "silence");
        json_auto_t *good = NULL;
        char path[] = "/tmp/test-stream-state.XXXXXX";
        gp_history *h = gp_history_new(5);
        _cleanup_free_ char *err = NULL;
        FILE *f;
        int fd;

        (void) state;
        fd = mkstemp(path);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        fputs(old, f);
        fclose(f);
        assert_int_equal(gp_history_load(h, path, &err), 0);
        assert_memory_equal(gp_history_stream_totals(h), &zero, sizeof(zero));
        unlink(path);
        gp_history_free(h);

        /* other bounds: a reset, not an error */
        assert_int_equal(gp_stream_totals_from_json(&t, bad, error, sizeof(error)), 0);
        assert_memory_equal(&t, &zero, sizeof(zero));
        /* the right bounds, a broken histogram: refused, named */
        t.h[0].buckets[0] = 7;
        good = gp_stream_totals_to_json(&t);
        assert_non_null(good);
        json_object_set_new(json_object_get(good, "silence"), "sum_us", json_integer(-1));
        assert_int_equal(gp_stream_totals_from_json(&t, good, error, sizeof(error)), -EINVAL);
        assert_string_equal(error, "invalid state file: stream.silence.sum_us: expected a non-negative integer");
        json_decref(good);
        good = json_string("x");
        assert_int_equal(gp_stream_totals_from_json(&t, good, error, sizeof(error)), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_gaps_silence_and_counts_of_one_stream),
                cmocka_unit_test(test_silence_up_to_the_end_names_the_last_frame),
                cmocka_unit_test(test_silence_before_any_frame_is_after_the_request),
                cmocka_unit_test(test_partials_per_second_over_the_partials_span),
                cmocka_unit_test(test_a_stream_never_started_has_no_figures),
                cmocka_unit_test(test_run_figures_sum_counts_pool_p50_and_take_the_worst_session),
                cmocka_unit_test(test_gaps_beyond_the_kept_ones_still_count_in_the_max),
                cmocka_unit_test(test_a_long_type_is_cut_at_a_character_boundary),
                cmocka_unit_test(test_histograms_count_recorded_runs_and_survive_the_state_file),
                cmocka_unit_test(test_a_state_file_without_stream_loads_and_a_bad_one_is_refused),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
