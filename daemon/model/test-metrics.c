/* SPDX-License-Identifier: MIT */
/* The Prometheus text (metrics.c): exact output for a known state, label escaping, histograms. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "history.h"
#include "metrics.h"
#include "result.h"
#include "util.h"

#define MS(x) ((usec_t) (x) * USEC_PER_MSEC)
/* 2026-11-25T16:00:00Z */
#define T0 ((usec_t) 1795622400 * USEC_PER_SEC)

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
        snprintf(r->run_id, sizeof(r->run_id), "run-%u", run_counter);
        return r;
}

static void record(gp_history *h, gp_verdict v, const char *code, usec_t duration) {
        _cleanup_result_ gp_result *r = make_result(v, code, duration);

        assert_int_equal(gp_history_record(h, r, 3, 1, NULL), 0);
}

static void add_event(gp_session_result *s, const char *type, usec_t at, unsigned count) {
        gp_event_stat *e = realloc(s->events, (s->n_events + 1) * sizeof(*e));

        assert_non_null(e);
        s->events = e;
        e[s->n_events] = (gp_event_stat) { .type = strdup(type), .first_at = at, .count = count };
        assert_non_null(e[s->n_events].type);
        s->n_events++;
}

static char *render(const gp_metrics_input *in) {
        char *text = NULL;
        size_t len = 0;

        assert_int_equal(gp_metrics_render(in, &text, &len), 0);
        assert_non_null(text);
        assert_int_equal(len, strlen(text));
        return text;
}

static char *render_history(const gp_history *h, const gp_result *last) {
        return render(&(gp_metrics_input) {
                .name = "staging", .version = "0.1.0", .up = true, .interval = MS(60000), .history = h,
                .last = last,
        });
}

/* The lines of text starting with prefix, joined. */
static char *grep(const char *text, const char *prefix) {
        gp_buf b = {0};

        assert_int_equal(gp_buf_append(&b, "", 0), 0);
        for (const char *p = text; *p;) {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t) (nl - p) + 1 : strlen(p);

                if (startswith(p, prefix))
                        assert_int_equal(gp_buf_append(&b, p, n), 0);
                p += n;
        }
        return b.data;
}

static void assert_text(const char *got, const char *expected) {
        if (!streq(got, expected)) {
                fprintf(stderr, "--- expected\n%s--- got\n%s---\n", expected, got);
                fail();
        }
}

static void assert_contains(const char *text, const char *line) {
        if (!strstr(text, line)) {
                fprintf(stderr, "--- no line\n%s--- in\n%s---\n", line, text);
                fail();
        }
}

/* Three runs in the window, one more before it, and a last run with phases and events. */
static gp_history *known_state(gp_result **ret_last) {
        gp_history *h = gp_history_new(3);
        gp_result *last;

        assert_non_null(h);
        run_counter = 0;
        record(h, GP_VERDICT_PASS, NULL, MS(1180));
        record(h, GP_VERDICT_FAIL, "events.timeout", MS(30012));
        record(h, GP_VERDICT_DEGRADED, "slo.login", MS(2500));
        last = make_result(GP_VERDICT_PASS, NULL, MS(1210) + 400);
        last->phases[GP_PHASE_LOGIN] = MS(120) + 400;
        last->phases[GP_PHASE_WS_CONNECT] = MS(45) + 200;
        last->phases[GP_PHASE_FIRST_EVENT] = MS(310);
        last->phases[GP_PHASE_COMPLETE] = MS(1050);
        add_event(&last->sessions[0], "agent_started", MS(310), 1);
        add_event(&last->sessions[0], "agent_thinking", MS(420), 3);
        last->ws_dns = MS(2);
        last->sessions[0].ws_timing = (gp_ws_timing) { MS(1), MS(30), MS(12), 200 };
        last->login_cert = (gp_cert_expiry) { .leaf = 1796832000, .earliest = 1796832000 };
        last->ws_cert = (gp_cert_expiry) { .leaf = 1827000000, .earliest = 1796000000 };
        /* issue 12: frames at 310 420 600 800 1050 ms (gaps 110 180 200 250), partials the middle
         * three, events at 310 420 1050 (gaps 110 630) */
        gp_stream_start(&last->sessions[0].stream);
        gp_stream_frame(&last->sessions[0].stream, MS(310), 100, "agent_started", false);
        gp_stream_event(&last->sessions[0].stream, MS(310));
        gp_stream_frame(&last->sessions[0].stream, MS(420), 100, "agent_thinking", true);
        gp_stream_event(&last->sessions[0].stream, MS(420));
        gp_stream_frame(&last->sessions[0].stream, MS(600), 100, "agent_thinking", true);
        gp_stream_frame(&last->sessions[0].stream, MS(800), 100, "agent_thinking", true);
        gp_stream_frame(&last->sessions[0].stream, MS(1050), 100, "agent_completed", false);
        gp_stream_event(&last->sessions[0].stream, MS(1050));
        gp_stream_end(&last->sessions[0].stream, MS(1050));
        assert_int_equal(gp_history_record(h, last, 3, 1, NULL), 0);
        *ret_last = last;
        return h;
}

/* One element per line: the whole text is longer than C99 promises a literal can be. */
static const char * const known_lines[] = {
                "# HELP gpprobe_up 1 while gpprobed runs; 0 in the MetricsFile= left by a clean stop.\n",
                "# TYPE gpprobe_up gauge\n",
                "gpprobe_up{probe=\"staging\"} 1\n",
                "# HELP gpprobe_info gpprobed's version, as a label; always 1.\n",
                "# TYPE gpprobe_info gauge\n",
                "gpprobe_info{probe=\"staging\",version=\"0.1.0\"} 1\n",
                "# HELP gpprobe_start_time_seconds When gpprobed started, in seconds since the epoch.\n",
                "# TYPE gpprobe_start_time_seconds gauge\n",
                "gpprobe_start_time_seconds{probe=\"staging\"} 1795622400.123\n",
                "# HELP gpprobe_interval_seconds Interval= between the starts of two runs.\n",
                "# TYPE gpprobe_interval_seconds gauge\n",
                "gpprobe_interval_seconds{probe=\"staging\"} 60\n",
                "# HELP gpprobe_success 1 if the last run succeeded (pass or degraded), 0 if it failed; "
                "absent before the first run.\n",
                "# TYPE gpprobe_success gauge\n",
                "gpprobe_success{probe=\"staging\"} 1\n",
                "# HELP gpprobe_consecutive_failures Failed runs in a row, up to the last run.\n",
                "# TYPE gpprobe_consecutive_failures gauge\n",
                "gpprobe_consecutive_failures{probe=\"staging\"} 0\n",
                "# HELP gpprobe_consecutive_passes Successful (pass or degraded) runs in a row, up to the "
                "last run.\n",
                "# TYPE gpprobe_consecutive_passes gauge\n",
                "gpprobe_consecutive_passes{probe=\"staging\"} 2\n",
                "# HELP gpprobe_alerting 1 from AlertAfter= failures in a row until RecoverAfter= "
                "successes.\n",
                "# TYPE gpprobe_alerting gauge\n",
                "gpprobe_alerting{probe=\"staging\"} 0\n",
                "# HELP gpprobe_last_run_timestamp_seconds When the last recorded run finished, in seconds "
                "since the epoch.\n",
                "# TYPE gpprobe_last_run_timestamp_seconds gauge\n",
                "gpprobe_last_run_timestamp_seconds{probe=\"staging\"} 1795622641.2104\n",
                "# HELP gpprobe_last_success_timestamp_seconds When the last successful (pass or degraded) "
                "run finished, in seconds since the epoch.\n",
                "# TYPE gpprobe_last_success_timestamp_seconds gauge\n",
                "gpprobe_last_success_timestamp_seconds{probe=\"staging\"} 1795622641.2104\n",
                "# HELP gpprobe_last_failure_timestamp_seconds When the last failed run finished, in "
                "seconds since the epoch.\n",
                "# TYPE gpprobe_last_failure_timestamp_seconds gauge\n",
                "gpprobe_last_failure_timestamp_seconds{probe=\"staging\"} 1795622550.012\n",
                "# HELP gpprobe_window_runs Runs in the window (History=) of the status file.\n",
                "# TYPE gpprobe_window_runs gauge\n",
                "gpprobe_window_runs{probe=\"staging\"} 3\n",
                "# HELP gpprobe_window_success_ratio Successful (pass or degraded) runs over runs in the "
                "window; absent while it is empty.\n",
                "# TYPE gpprobe_window_success_ratio gauge\n",
                "gpprobe_window_success_ratio{probe=\"staging\"} 0.666667\n",
                "# HELP gpprobe_silenced 1 while a silence (gpprobectl silence, a maintenance window) is in "
                "force; alerts do not page.\n",
                "# TYPE gpprobe_silenced gauge\n",
                "gpprobe_silenced{probe=\"staging\"} 0\n",
                "# HELP gpprobe_silence_end_timestamp_seconds When the silence in force ends, in seconds since "
                "the epoch; absent when not silenced.\n",
                "# TYPE gpprobe_silence_end_timestamp_seconds gauge\n",
                "# HELP gpprobe_runs_total Runs recorded, by result, since the state file began.\n",
                "# TYPE gpprobe_runs_total counter\n",
                "gpprobe_runs_total{probe=\"staging\",result=\"pass\"} 2\n",
                "gpprobe_runs_total{probe=\"staging\",result=\"degraded\"} 1\n",
                "gpprobe_runs_total{probe=\"staging\",result=\"fail\"} 1\n",
                "# HELP gpprobe_failures_total Failed runs, by code, since the state file began.\n",
                "# TYPE gpprobe_failures_total counter\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"preflight.status\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"net.dns\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"net.connect\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"net.timeout\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"tls.handshake\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"tls.verify\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"login.status\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"login.token\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"step.status\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"step.reply\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"ws.upgrade\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"ws.auth\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"ws.identity\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"ws.closed\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"ws.protocol\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"events.error\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"events.order\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"events.missing\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"events.timeout\"} 1\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"events.stall\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"events.unexpected\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"events.malformed\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"events.crosstalk\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"response.empty\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"response.mismatch\"} 0\n",
                "gpprobe_failures_total{probe=\"staging\",code=\"internal\"} 0\n",
                "# HELP gpprobe_degraded_total Degraded runs, by the SLO exceeded (slo.<phase>), since the "
                "state file began.\n",
                "# TYPE gpprobe_degraded_total counter\n",
                "gpprobe_degraded_total{probe=\"staging\",code=\"slo.login\"} 1\n",
                "gpprobe_degraded_total{probe=\"staging\",code=\"slo.connect\"} 0\n",
                "gpprobe_degraded_total{probe=\"staging\",code=\"slo.first_event\"} 0\n",
                "gpprobe_degraded_total{probe=\"staging\",code=\"slo.silence\"} 0\n",
                "gpprobe_degraded_total{probe=\"staging\",code=\"slo.first_partial\"} 0\n",
                "gpprobe_degraded_total{probe=\"staging\",code=\"slo.total\"} 0\n",
                "# HELP gpprobe_skipped_runs_total Scheduled runs skipped because the previous run overran "
                "Interval=, since gpprobed started.\n",
                "# TYPE gpprobe_skipped_runs_total counter\n",
                "gpprobe_skipped_runs_total{probe=\"staging\"} 2\n",
                "# HELP gpprobe_duration_seconds Duration of runs, by result, since the state file began.\n",
                "# TYPE gpprobe_duration_seconds histogram\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"0.1\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"0.25\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"0.5\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"1\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"2\"} 2\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"5\"} 2\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"10\"} 2\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"20\"} 2\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"30\"} 2\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"60\"} 2\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"+Inf\"} 2\n",
                "gpprobe_duration_seconds_sum{probe=\"staging\",result=\"pass\"} 2.3904\n",
                "gpprobe_duration_seconds_count{probe=\"staging\",result=\"pass\"} 2\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"0.1\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"0.25\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"0.5\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"1\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"2\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"5\"} 1\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"10\"} 1\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"20\"} 1\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"30\"} 1\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"60\"} 1\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"+Inf\"} 1\n",
                "gpprobe_duration_seconds_sum{probe=\"staging\",result=\"degraded\"} 2.5\n",
                "gpprobe_duration_seconds_count{probe=\"staging\",result=\"degraded\"} 1\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"0.1\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"0.25\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"0.5\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"1\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"2\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"5\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"10\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"20\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"30\"} 0\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"60\"} 1\n",
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"+Inf\"} 1\n",
                "gpprobe_duration_seconds_sum{probe=\"staging\",result=\"fail\"} 30.012\n",
                "gpprobe_duration_seconds_count{probe=\"staging\",result=\"fail\"} 1\n",
                "# HELP gpprobe_last_duration_seconds Duration of the last run since gpprobed started.\n",
                "# TYPE gpprobe_last_duration_seconds gauge\n",
                "gpprobe_last_duration_seconds{probe=\"staging\"} 1.2104\n",
                "# HELP gpprobe_phase_seconds The last run's phases (status file phases_ms); a phase that "
                "did not happen is absent.\n",
                "# TYPE gpprobe_phase_seconds gauge\n",
                "gpprobe_phase_seconds{probe=\"staging\",phase=\"login\"} 0.1204\n",
                "gpprobe_phase_seconds{probe=\"staging\",phase=\"ws_connect\"} 0.0452\n",
                "gpprobe_phase_seconds{probe=\"staging\",phase=\"first_event\"} 0.31\n",
                "gpprobe_phase_seconds{probe=\"staging\",phase=\"complete\"} 1.05\n",
                "gpprobe_phase_seconds{probe=\"staging\",phase=\"ws_dns\"} 0.002\n",
                "gpprobe_phase_seconds{probe=\"staging\",phase=\"ws_tcp\"} 0.001\n",
                "gpprobe_phase_seconds{probe=\"staging\",phase=\"ws_tls\"} 0.03\n",
                "gpprobe_phase_seconds{probe=\"staging\",phase=\"ws_upgrade\"} 0.012\n",
                "gpprobe_phase_seconds{probe=\"staging\",phase=\"ws_ready\"} 0.0002\n",
                "# HELP gpprobe_event_seconds When each event type first arrived in the last run, in "
                "seconds after the request was sent.\n",
                "# TYPE gpprobe_event_seconds gauge\n",
                "gpprobe_event_seconds{probe=\"staging\",event=\"agent_started\"} 0.31\n",
                "gpprobe_event_seconds{probe=\"staging\",event=\"agent_thinking\"} 0.42\n",
                "# HELP gpprobe_event_arrivals How many times each event type arrived in the last run.\n",
                "# TYPE gpprobe_event_arrivals gauge\n",
                "gpprobe_event_arrivals{probe=\"staging\",event=\"agent_started\"} 1\n",
                "gpprobe_event_arrivals{probe=\"staging\",event=\"agent_thinking\"} 3\n",
                "# HELP gpprobe_tls_cert_expiry_timestamp_seconds When the last run's endpoints' TLS certificates "
                "expire (notAfter), in seconds since the epoch: cert=leaf, and cert=earliest of the chain the "
                "server sent; absent when the run did not reach it.\n",
                "# TYPE gpprobe_tls_cert_expiry_timestamp_seconds gauge\n",
                "gpprobe_tls_cert_expiry_timestamp_seconds{probe=\"staging\",endpoint=\"login\",cert=\"leaf\"} "
                "1796832000\n",
                "gpprobe_tls_cert_expiry_timestamp_seconds{probe=\"staging\",endpoint=\"login\",cert=\"earliest\"} "
                "1796832000\n",
                "gpprobe_tls_cert_expiry_timestamp_seconds{probe=\"staging\",endpoint=\"websocket\",cert=\"leaf\"} "
                "1827000000\n",
                "gpprobe_tls_cert_expiry_timestamp_seconds{probe=\"staging\",endpoint=\"websocket\","
                "cert=\"earliest\"} 1796000000\n",
                NULL,
};

/* issue 12: the streaming histograms and the last run's streaming gauges, after the rest. */
static const char * const known_stream_lines[] = {
        "# HELP gpprobe_stream_frame_gap_seconds Gaps between consecutive frames, every "
        "session of every recorded run, since the state file began.\n",
        "# TYPE gpprobe_stream_frame_gap_seconds histogram\n",
        "gpprobe_stream_frame_gap_seconds_bucket{probe=\"staging\",le=\"0.01\"} 0\n",
        "gpprobe_stream_frame_gap_seconds_bucket{probe=\"staging\",le=\"0.05\"} 0\n",
        "gpprobe_stream_frame_gap_seconds_bucket{probe=\"staging\",le=\"0.1\"} 0\n",
        "gpprobe_stream_frame_gap_seconds_bucket{probe=\"staging\",le=\"0.25\"} 4\n",
        "gpprobe_stream_frame_gap_seconds_bucket{probe=\"staging\",le=\"0.5\"} 4\n",
        "gpprobe_stream_frame_gap_seconds_bucket{probe=\"staging\",le=\"1\"} 4\n",
        "gpprobe_stream_frame_gap_seconds_bucket{probe=\"staging\",le=\"2\"} 4\n",
        "gpprobe_stream_frame_gap_seconds_bucket{probe=\"staging\",le=\"5\"} 4\n",
        "gpprobe_stream_frame_gap_seconds_bucket{probe=\"staging\",le=\"10\"} 4\n",
        "gpprobe_stream_frame_gap_seconds_bucket{probe=\"staging\",le=\"20\"} 4\n",
        "gpprobe_stream_frame_gap_seconds_bucket{probe=\"staging\",le=\"30\"} 4\n",
        "gpprobe_stream_frame_gap_seconds_bucket{probe=\"staging\",le=\"60\"} 4\n",
        "gpprobe_stream_frame_gap_seconds_bucket{probe=\"staging\",le=\"+Inf\"} 4\n",
        "gpprobe_stream_frame_gap_seconds_sum{probe=\"staging\"} 0.74\n",
        "gpprobe_stream_frame_gap_seconds_count{probe=\"staging\"} 4\n",
        "# HELP gpprobe_stream_silence_seconds Each recorded run's longest silence (no "
        "frame), since the state file began.\n",
        "# TYPE gpprobe_stream_silence_seconds histogram\n",
        "gpprobe_stream_silence_seconds_bucket{probe=\"staging\",le=\"0.01\"} 0\n",
        "gpprobe_stream_silence_seconds_bucket{probe=\"staging\",le=\"0.05\"} 0\n",
        "gpprobe_stream_silence_seconds_bucket{probe=\"staging\",le=\"0.1\"} 0\n",
        "gpprobe_stream_silence_seconds_bucket{probe=\"staging\",le=\"0.25\"} 0\n",
        "gpprobe_stream_silence_seconds_bucket{probe=\"staging\",le=\"0.5\"} 1\n",
        "gpprobe_stream_silence_seconds_bucket{probe=\"staging\",le=\"1\"} 1\n",
        "gpprobe_stream_silence_seconds_bucket{probe=\"staging\",le=\"2\"} 1\n",
        "gpprobe_stream_silence_seconds_bucket{probe=\"staging\",le=\"5\"} 1\n",
        "gpprobe_stream_silence_seconds_bucket{probe=\"staging\",le=\"10\"} 1\n",
        "gpprobe_stream_silence_seconds_bucket{probe=\"staging\",le=\"20\"} 1\n",
        "gpprobe_stream_silence_seconds_bucket{probe=\"staging\",le=\"30\"} 1\n",
        "gpprobe_stream_silence_seconds_bucket{probe=\"staging\",le=\"60\"} 1\n",
        "gpprobe_stream_silence_seconds_bucket{probe=\"staging\",le=\"+Inf\"} 1\n",
        "gpprobe_stream_silence_seconds_sum{probe=\"staging\"} 0.31\n",
        "gpprobe_stream_silence_seconds_count{probe=\"staging\"} 1\n",
        "# HELP gpprobe_stream_first_partial_seconds Each recorded run's time to the first "
        "partial (slowest session), since the state file began.\n",
        "# TYPE gpprobe_stream_first_partial_seconds histogram\n",
        "gpprobe_stream_first_partial_seconds_bucket{probe=\"staging\",le=\"0.01\"} 0\n",
        "gpprobe_stream_first_partial_seconds_bucket{probe=\"staging\",le=\"0.05\"} 0\n",
        "gpprobe_stream_first_partial_seconds_bucket{probe=\"staging\",le=\"0.1\"} 0\n",
        "gpprobe_stream_first_partial_seconds_bucket{probe=\"staging\",le=\"0.25\"} 0\n",
        "gpprobe_stream_first_partial_seconds_bucket{probe=\"staging\",le=\"0.5\"} 1\n",
        "gpprobe_stream_first_partial_seconds_bucket{probe=\"staging\",le=\"1\"} 1\n",
        "gpprobe_stream_first_partial_seconds_bucket{probe=\"staging\",le=\"2\"} 1\n",
        "gpprobe_stream_first_partial_seconds_bucket{probe=\"staging\",le=\"5\"} 1\n",
        "gpprobe_stream_first_partial_seconds_bucket{probe=\"staging\",le=\"10\"} 1\n",
        "gpprobe_stream_first_partial_seconds_bucket{probe=\"staging\",le=\"20\"} 1\n",
        "gpprobe_stream_first_partial_seconds_bucket{probe=\"staging\",le=\"30\"} 1\n",
        "gpprobe_stream_first_partial_seconds_bucket{probe=\"staging\",le=\"60\"} 1\n",
        "gpprobe_stream_first_partial_seconds_bucket{probe=\"staging\",le=\"+Inf\"} 1\n",
        "gpprobe_stream_first_partial_seconds_sum{probe=\"staging\"} 0.42\n",
        "gpprobe_stream_first_partial_seconds_count{probe=\"staging\"} 1\n",
        "# HELP gpprobe_stream_last_frames Frames received after the request in the last run "
        "(every session); absent before one.\n",
        "# TYPE gpprobe_stream_last_frames gauge\n",
        "gpprobe_stream_last_frames{probe=\"staging\"} 5\n",
        "# HELP gpprobe_stream_last_bytes Payload bytes of those frames.\n",
        "# TYPE gpprobe_stream_last_bytes gauge\n",
        "gpprobe_stream_last_bytes{probe=\"staging\"} 500\n",
        "# HELP gpprobe_stream_last_partials Frames of a Partial= type in the last run.\n",
        "# TYPE gpprobe_stream_last_partials gauge\n",
        "gpprobe_stream_last_partials{probe=\"staging\"} 3\n",
        "# HELP gpprobe_stream_last_longest_silence_seconds The last run's longest time "
        "without a frame, from the request to the end (worst session).\n",
        "# TYPE gpprobe_stream_last_longest_silence_seconds gauge\n",
        "gpprobe_stream_last_longest_silence_seconds{probe=\"staging\"} 0.31\n",
        "# HELP gpprobe_stream_last_first_partial_seconds When the first partial arrived in "
        "the last run, after the request (slowest session); absent without one.\n",
        "# TYPE gpprobe_stream_last_first_partial_seconds gauge\n",
        "gpprobe_stream_last_first_partial_seconds{probe=\"staging\"} 0.42\n",
        "# HELP gpprobe_stream_last_partials_per_second Partials per second in the last run "
        "(lowest session); absent with fewer than two.\n",
        "# TYPE gpprobe_stream_last_partials_per_second gauge\n",
        "gpprobe_stream_last_partials_per_second{probe=\"staging\"} 5.26316\n",
        "# HELP gpprobe_stream_last_frame_gap_seconds The last run's gaps between consecutive "
        "frames: stat p50 and max.\n",
        "# TYPE gpprobe_stream_last_frame_gap_seconds gauge\n",
        "gpprobe_stream_last_frame_gap_seconds{probe=\"staging\",stat=\"p50\"} 0.18\n",
        "gpprobe_stream_last_frame_gap_seconds{probe=\"staging\",stat=\"max\"} 0.25\n",
        "# HELP gpprobe_stream_last_event_gap_seconds The last run's gaps between consecutive "
        "expected events: stat p50 and max.\n",
        "# TYPE gpprobe_stream_last_event_gap_seconds gauge\n",
        "gpprobe_stream_last_event_gap_seconds{probe=\"staging\",stat=\"p50\"} 0.11\n",
        "gpprobe_stream_last_event_gap_seconds{probe=\"staging\",stat=\"max\"} 0.63\n",
        NULL,
};

static void test_known_state_renders_exactly(void **state) {
        _cleanup_result_ gp_result *last = NULL;
        gp_history *h = known_state(&last);
        _cleanup_free_ char *text = render(&(gp_metrics_input) {
                .name = "staging", .version = "0.1.0", .up = true, .started_at = T0 + 123000,
                .interval = MS(60000), .history = h, .last = last, .skipped = 2,
        });

        _cleanup_free_ char *expected = NULL;
        gp_buf b = {0};

        for (size_t i = 0; known_lines[i]; i++)
                assert_int_equal(gp_buf_append(&b, known_lines[i], strlen(known_lines[i])), 0);
        for (size_t i = 0; known_stream_lines[i]; i++)
                assert_int_equal(gp_buf_append(&b, known_stream_lines[i], strlen(known_stream_lines[i])), 0);
        expected = b.data;
        assert_text(text, expected);
        gp_history_free(h);
}

static void test_label_values_escape_backslash_quote_and_newline(void **state) {
        gp_buf b = {0};

        assert_int_equal(gp_metrics_escape_label(&b, "a\"b\\c\nd"), 0);
        assert_string_equal(b.data, "a\\\"b\\\\c\\nd");
        gp_buf_reset(&b);
        assert_int_equal(gp_metrics_escape_label(&b, ""), 0);
        assert_string_equal(b.data, "");
        gp_buf_reset(&b);
        assert_int_equal(gp_metrics_escape_label(&b, "\\\\\n\n\"\""), 0);
        assert_string_equal(b.data, "\\\\\\\\\\n\\n\\\"\\\"");
        gp_buf_reset(&b);
        /* UTF-8 and other bytes pass as they are */
        assert_int_equal(gp_metrics_escape_label(&b, "caf\xc3\xa9 {x=1}, \t"), 0);
        assert_string_equal(b.data, "caf\xc3\xa9 {x=1}, \t");
        gp_buf_free(&b);
}

static void test_every_label_value_is_escaped(void **state) {
        _cleanup_result_ gp_result *last = make_result(GP_VERDICT_PASS, NULL, MS(5));
        gp_history *h = gp_history_new(3);
        _cleanup_free_ char *text = NULL, *events = NULL;

        assert_non_null(h);
        add_event(&last->sessions[0], "we\"ird\\ty\npe", MS(1), 1);
        assert_int_equal(gp_history_record(h, last, 3, 1, NULL), 0);
        text = render(&(gp_metrics_input) {
                .name = "st\"ag\\ing\n", .version = "1.0\"", .up = true, .history = h, .last = last,
        });
        assert_contains(text, "gpprobe_up{probe=\"st\\\"ag\\\\ing\\n\"} 1\n");
        assert_contains(text, "gpprobe_info{probe=\"st\\\"ag\\\\ing\\n\",version=\"1.0\\\"\"} 1\n");
        events = grep(text, "gpprobe_event_seconds{");
        assert_text(events, "gpprobe_event_seconds{probe=\"st\\\"ag\\\\ing\\n\","
                            "event=\"we\\\"ird\\\\ty\\npe\"} 0.001\n");
        /* no raw newline inside a sample: every line is a comment or ends with a value */
        for (const char *p = text; *p; p = strchr(p, '\n') + 1)
                assert_true(*p == '#' || startswith(p, "gpprobe_"));
        gp_history_free(h);
}

static void test_histogram_buckets_are_cumulative_with_sum_and_count(void **state) {
        gp_history *h = gp_history_new(100);
        static const usec_t durations[] = { 0, MS(100), MS(101), MS(499), MS(999), MS(1000), MS(7500),
                                            MS(59999), MS(60000), MS(60001), MS(3600000) };
        _cleanup_free_ char *text = NULL, *pass = NULL;

        assert_non_null(h);
        for (size_t i = 0; i < ELEMENTSOF(durations); i++)
                record(h, GP_VERDICT_PASS, NULL, durations[i]);
        record(h, GP_VERDICT_FAIL, "net.dns", MS(2));
        text = render_history(h, NULL);
        pass = grep(text, "gpprobe_duration_seconds_");
        assert_text(pass,
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"0.1\"} 2\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"0.25\"} 3\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"0.5\"} 4\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"1\"} 6\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"2\"} 6\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"5\"} 6\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"10\"} 7\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"20\"} 7\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"30\"} 7\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"60\"} 9\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"pass\",le=\"+Inf\"} 11\n"
                "gpprobe_duration_seconds_sum{probe=\"staging\",result=\"pass\"} 3790.199\n"
                "gpprobe_duration_seconds_count{probe=\"staging\",result=\"pass\"} 11\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"0.1\"} 0\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"0.25\"} 0\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"0.5\"} 0\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"1\"} 0\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"2\"} 0\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"5\"} 0\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"10\"} 0\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"20\"} 0\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"30\"} 0\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"60\"} 0\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"degraded\",le=\"+Inf\"} 0\n"
                "gpprobe_duration_seconds_sum{probe=\"staging\",result=\"degraded\"} 0\n"
                "gpprobe_duration_seconds_count{probe=\"staging\",result=\"degraded\"} 0\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"0.1\"} 1\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"0.25\"} 1\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"0.5\"} 1\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"1\"} 1\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"2\"} 1\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"5\"} 1\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"10\"} 1\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"20\"} 1\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"30\"} 1\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"60\"} 1\n"
                "gpprobe_duration_seconds_bucket{probe=\"staging\",result=\"fail\",le=\"+Inf\"} 1\n"
                "gpprobe_duration_seconds_sum{probe=\"staging\",result=\"fail\"} 0.002\n"
                "gpprobe_duration_seconds_count{probe=\"staging\",result=\"fail\"} 1\n");
        gp_history_free(h);
}

static void test_before_any_run_samples_without_a_value_are_absent(void **state) {
        gp_history *h = gp_history_new(3);
        _cleanup_free_ char *text = NULL, *samples = NULL;

        assert_non_null(h);
        text = render_history(h, NULL);
        /* every family is declared, so that a scrape always lists the same names */
        assert_contains(text, "# TYPE gpprobe_success gauge\n# HELP gpprobe_consecutive_failures ");
        assert_contains(text, "# TYPE gpprobe_phase_seconds gauge\n# HELP gpprobe_event_seconds ");
        assert_null(strstr(text, "gpprobe_success{"));
        assert_null(strstr(text, "gpprobe_start_time_seconds{"));
        assert_null(strstr(text, "gpprobe_last_run_timestamp_seconds{"));
        assert_null(strstr(text, "gpprobe_last_success_timestamp_seconds{"));
        assert_null(strstr(text, "gpprobe_last_failure_timestamp_seconds{"));
        assert_null(strstr(text, "gpprobe_window_success_ratio{"));
        assert_null(strstr(text, "gpprobe_last_duration_seconds{"));
        assert_null(strstr(text, "gpprobe_phase_seconds{"));
        assert_null(strstr(text, "gpprobe_event_seconds{"));
        samples = grep(text, "gpprobe_runs_total{");
        assert_text(samples, "gpprobe_runs_total{probe=\"staging\",result=\"pass\"} 0\n"
                             "gpprobe_runs_total{probe=\"staging\",result=\"degraded\"} 0\n"
                             "gpprobe_runs_total{probe=\"staging\",result=\"fail\"} 0\n");
        assert_contains(text, "gpprobe_failures_total{probe=\"staging\",code=\"net.dns\"} 0\n");
        assert_contains(text, "gpprobe_consecutive_failures{probe=\"staging\"} 0\n");
        gp_history_free(h);
}

static void test_success_is_zero_after_a_failure_and_one_after_a_degraded_run(void **state) {
        gp_history *h = gp_history_new(3);
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        assert_non_null(h);
        record(h, GP_VERDICT_FAIL, "net.connect", MS(3));
        a = render_history(h, NULL);
        assert_contains(a, "gpprobe_success{probe=\"staging\"} 0\n");
        assert_contains(a, "gpprobe_consecutive_failures{probe=\"staging\"} 1\n");
        assert_contains(a, "gpprobe_failures_total{probe=\"staging\",code=\"net.connect\"} 1\n");
        record(h, GP_VERDICT_DEGRADED, "slo.total", MS(31000));
        b = render_history(h, NULL);
        assert_contains(b, "gpprobe_success{probe=\"staging\"} 1\n");
        assert_contains(b, "gpprobe_degraded_total{probe=\"staging\",code=\"slo.total\"} 1\n");
        assert_contains(b, "gpprobe_window_success_ratio{probe=\"staging\"} 0.5\n");
        record(h, GP_VERDICT_FAIL, "net.connect", MS(3));
        record(h, GP_VERDICT_FAIL, "net.connect", MS(3));
        record(h, GP_VERDICT_FAIL, "net.connect", MS(3));
        c = render_history(h, NULL);
        assert_contains(c, "gpprobe_alerting{probe=\"staging\"} 1\n");
        assert_contains(c, "gpprobe_window_success_ratio{probe=\"staging\"} 0\n");
        assert_contains(c, "gpprobe_consecutive_failures{probe=\"staging\"} 3\n");
        gp_history_free(h);
}

static void test_codes_outside_the_spec_list_are_exported_after_it(void **state) {
        gp_history *h = gp_history_new(3);
        _cleanup_free_ char *text = NULL, *failures = NULL, *degraded = NULL;

        assert_non_null(h);
        record(h, GP_VERDICT_FAIL, "zz.new", MS(3));
        record(h, GP_VERDICT_DEGRADED, "slo.preflight", MS(3));
        text = render_history(h, NULL);
        failures = grep(text, "gpprobe_failures_total{");
        assert_int_equal(strlen(failures) > 0, true);
        assert_contains(failures, "code=\"internal\"} 0\n"
                                  "gpprobe_failures_total{probe=\"staging\",code=\"zz.new\"} 1\n");
        degraded = grep(text, "gpprobe_degraded_total{");
        assert_contains(degraded, "code=\"slo.total\"} 0\n"
                                  "gpprobe_degraded_total{probe=\"staging\",code=\"slo.preflight\"} 1\n");
        gp_history_free(h);
}

static void test_phases_that_did_not_happen_are_absent(void **state) {
        _cleanup_result_ gp_result *last = make_result(GP_VERDICT_FAIL, "net.connect", MS(3));
        gp_history *h = gp_history_new(3);
        _cleanup_free_ char *text = NULL, *phases = NULL;

        assert_non_null(h);
        last->phases[GP_PHASE_PREFLIGHT] = 1500;
        last->phases[GP_PHASE_LOGIN] = 0;
        assert_int_equal(gp_history_record(h, last, 3, 1, NULL), 0);
        text = render_history(h, last);
        phases = grep(text, "gpprobe_phase_seconds{");
        assert_text(phases, "gpprobe_phase_seconds{probe=\"staging\",phase=\"preflight\"} 0.0015\n"
                            "gpprobe_phase_seconds{probe=\"staging\",phase=\"login\"} 0\n");
        assert_contains(text, "gpprobe_last_duration_seconds{probe=\"staging\"} 0.003\n");
        gp_history_free(h);
}

static void test_with_several_users_events_are_the_first_session_s(void **state) {
        gp_result *last = gp_result_new(2);
        gp_history *h = gp_history_new(3);
        _cleanup_free_ char *text = NULL, *events = NULL;

        assert_non_null(last);
        assert_non_null(h);
        snprintf(last->run_id, sizeof(last->run_id), "multi");
        last->verdict = GP_VERDICT_PASS;
        last->started_at = T0;
        last->finished_at = T0 + MS(900);
        last->duration = MS(900);
        add_event(&last->sessions[0], "agent_completed", MS(800), 1);
        add_event(&last->sessions[1], "agent_completed", MS(850), 1);
        assert_int_equal(gp_history_record(h, last, 3, 1, NULL), 0);
        text = render_history(h, last);
        events = grep(text, "gpprobe_event_");
        assert_text(events, "gpprobe_event_seconds{probe=\"staging\",event=\"agent_completed\"} 0.8\n"
                            "gpprobe_event_arrivals{probe=\"staging\",event=\"agent_completed\"} 1\n");
        gp_result_free(last);
        gp_history_free(h);
}

static void test_up_is_zero_when_stopped(void **state) {
        gp_history *h = gp_history_new(3);
        _cleanup_free_ char *text = NULL;

        assert_non_null(h);
        text = render(&(gp_metrics_input) { .name = "x", .up = false, .history = h });
        assert_contains(text, "gpprobe_up{probe=\"x\"} 0\n");
        assert_contains(text, "gpprobe_info{probe=\"x\",version=\"\"} 1\n");
        gp_history_free(h);
}

static void test_timestamps_keep_microseconds_and_drop_trailing_zeros(void **state) {
        gp_history *h = gp_history_new(3);
        _cleanup_result_ gp_result *r = make_result(GP_VERDICT_PASS, NULL, 0);
        _cleanup_free_ char *text = NULL;

        assert_non_null(h);
        r->finished_at = T0 + 1;
        assert_int_equal(gp_history_record(h, r, 3, 1, NULL), 0);
        text = render(&(gp_metrics_input) { .name = "x", .up = true, .started_at = T0, .history = h,
                                            .interval = 1500 });
        assert_contains(text, "gpprobe_last_success_timestamp_seconds{probe=\"x\"} 1795622400.000001\n");
        assert_contains(text, "gpprobe_start_time_seconds{probe=\"x\"} 1795622400\n");
        assert_contains(text, "gpprobe_interval_seconds{probe=\"x\"} 0.0015\n");
        gp_history_free(h);
}

/* Each family is declared once, HELP then TYPE, before any of its samples; histogram samples
 * use the _bucket/_sum/_count names of their family. */
static void test_every_sample_follows_its_family_declaration(void **state) {
        _cleanup_result_ gp_result *last = NULL;
        gp_history *h = known_state(&last);
        _cleanup_free_ char *text = render_history(h, last);
        _cleanup_strv_free_ char **declared = NULL;
        char name[128], type[32], current[128] = "";

        for (const char *p = text; *p; p = strchr(p, '\n') + 1) {
                if (sscanf(p, "# HELP %127s", name) == 1) {
                        assert_false(strv_contains(declared, name));
                        assert_int_equal(strv_extend(&declared, name), 0);
                        snprintf(current, sizeof(current), "%s", name);
                        continue;
                }
                if (sscanf(p, "# TYPE %127s %31s", name, type) == 2) {
                        assert_string_equal(name, current);
                        continue;
                }
                assert_true(startswith(p, current));
                if (streq(type, "histogram")) {
                        const char *rest = p + strlen(current);
                        assert_true(startswith(rest, "_bucket{") || startswith(rest, "_sum{") ||
                                    startswith(rest, "_count{"));
                } else
                        assert_int_equal(p[strlen(current)], '{');
        }
        assert_true(strv_length(declared) >= 22);
        gp_history_free(h);
}

static void test_render_rejects_missing_inputs(void **state) {
        char *text = NULL;

        assert_int_equal(gp_metrics_render(NULL, &text, NULL), -EINVAL);
        assert_int_equal(gp_metrics_render(&(gp_metrics_input) { .name = "x" }, &text, NULL), -EINVAL);
        assert_null(text);
}

static void test_a_silence_is_exported_with_its_end(void **state) {
        _cleanup_result_ gp_result *last = NULL;
        gp_history *h = known_state(&last);
        _cleanup_free_ char *text = render(&(gp_metrics_input) {
                .name = "staging", .version = "0.1.0", .up = true, .interval = MS(60000), .history = h,
                .last = last, .silenced_until = T0 + 1800 * USEC_PER_SEC + 500 * USEC_PER_MSEC,
        });

        assert_contains(text, "gpprobe_silenced{probe=\"staging\"} 1\n");
        assert_contains(text, "gpprobe_silence_end_timestamp_seconds{probe=\"staging\"} 1795624200.5\n");
        /* The figures are the same as without the silence: it holds back alerts, not the truth. */
        assert_contains(text, "gpprobe_consecutive_failures{probe=\"staging\"} 0\n");
        assert_contains(text, "gpprobe_window_runs{probe=\"staging\"} 3\n");
        gp_history_free(h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_known_state_renders_exactly),
                cmocka_unit_test(test_a_silence_is_exported_with_its_end),
                cmocka_unit_test(test_label_values_escape_backslash_quote_and_newline),
                cmocka_unit_test(test_every_label_value_is_escaped),
                cmocka_unit_test(test_histogram_buckets_are_cumulative_with_sum_and_count),
                cmocka_unit_test(test_before_any_run_samples_without_a_value_are_absent),
                cmocka_unit_test(test_success_is_zero_after_a_failure_and_one_after_a_degraded_run),
                cmocka_unit_test(test_codes_outside_the_spec_list_are_exported_after_it),
                cmocka_unit_test(test_phases_that_did_not_happen_are_absent),
                cmocka_unit_test(test_with_several_users_events_are_the_first_session_s),
                cmocka_unit_test(test_up_is_zero_when_stopped),
                cmocka_unit_test(test_timestamps_keep_microseconds_and_drop_trailing_zeros),
                cmocka_unit_test(test_every_sample_follows_its_family_declaration),
                cmocka_unit_test(test_render_rejects_missing_inputs),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
