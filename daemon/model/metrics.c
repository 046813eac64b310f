/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>

#include "codes.h"
#include "metrics.h"
#include "stream-totals.h"
#include "util.h"

static const gp_verdict results[] = { GP_VERDICT_PASS, GP_VERDICT_DEGRADED, GP_VERDICT_FAIL };

/* A writer whose first allocation failure sticks: the rest becomes no-ops. */
typedef struct writer {
        gp_buf b;
        const char *probe;
        int error;
} writer;

static void put(writer *w, const char *s) {
        if (w->error == 0)
                w->error = gp_buf_append(&w->b, s, strlen(s));
}

static void putf(writer *w, const char *fmt, ...) _printf_(2, 3);
static void putf(writer *w, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        if (w->error)
                return;
        va_start(ap, fmt);
        s = strdup_vprintf(fmt, ap);
        va_end(ap);
        if (!s)
                w->error = -ENOMEM;
        else
                put(w, s);
}

int gp_metrics_escape_label(gp_buf *b, const char *value) {
        int r = gp_buf_append(b, "", 0);  /* an empty value still makes b a string */

        for (const char *p = value; r == 0 && *p;) {
                size_t n = strcspn(p, "\\\"\n");

                r = gp_buf_append(b, p, n);
                p += n;
                if (r == 0 && *p) {
                        r = gp_buf_append(b, *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : "\\n", 2);
                        p++;
                }
        }
        return r;
}


static void family(writer *w, const char *name, const char *type, const char *help) {
        putf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void label(writer *w, const char *key, const char *value) {
        putf(w, ",%s=\"", key);
        if (w->error == 0)
                w->error = gp_metrics_escape_label(&w->b, value);
        put(w, "\"");
}

static void begin(writer *w, const char *name) {
        putf(w, "%s{probe=\"", name);
        if (w->error == 0)
                w->error = gp_metrics_escape_label(&w->b, w->probe);
        put(w, "\"");
}

static void end(writer *w, const char *value) {
        putf(w, "} %s\n", value);
}

static void end_u(writer *w, uint64_t value) {
        putf(w, "} %" PRIu64 "\n", value);
}

/* Microseconds as exact decimal seconds: 120400 -> "0.1204", 2000000 -> "2". */
static const char *seconds(char *buf, size_t size, usec_t u) {
        size_t n;

        n = (size_t) snprintf(buf, size, "%" PRIu64 ".%06" PRIu64, u / USEC_PER_SEC, u % USEC_PER_SEC);
        while (n > 0 && buf[n - 1] == '0')
                buf[--n] = 0;
        if (n > 0 && buf[n - 1] == '.')
                buf[--n] = 0;
        return buf;
}

static void gauge_u(writer *w, const char *name, const char *help, uint64_t value) {
        family(w, name, "gauge", help);
        begin(w, name);
        end_u(w, value);
}

/* A family whose one sample is omitted when the value is unknown (present false). */
static void gauge_seconds(writer *w, const char *name, const char *help, bool present, usec_t value) {
        char buf[48];

        family(w, name, "gauge", help);
        if (!present)
                return;
        begin(w, name);
        end(w, seconds(buf, sizeof(buf), value));
}

static void write_process(writer *w, const gp_metrics_input *in) {
        char buf[48];

        gauge_u(w, "gpprobe_up", "1 while gpprobed runs; 0 in the MetricsFile= left by a clean stop.",
                in->up);
        family(w, "gpprobe_info", "gauge", "gpprobed's version, as a label; always 1.");
        begin(w, "gpprobe_info");
        label(w, "version", strempty(in->version));
        end(w, "1");
        gauge_seconds(w, "gpprobe_start_time_seconds", "When gpprobed started, in seconds since the epoch.",
                      in->started_at > 0, in->started_at);
        family(w, "gpprobe_interval_seconds", "gauge", "Interval= between the starts of two runs.");
        begin(w, "gpprobe_interval_seconds");
        end(w, seconds(buf, sizeof(buf), in->interval));
}

/* Issue 13: a silence holds back alerts, never the figures; the alert rules test this. */
static void write_silence(writer *w, usec_t until) {
        gauge_u(w, "gpprobe_silenced",
                "1 while a silence (gpprobectl silence, a maintenance window) is in force; alerts do not page.",
                until > 0);
        gauge_seconds(w, "gpprobe_silence_end_timestamp_seconds",
                      "When the silence in force ends, in seconds since the epoch; absent when not silenced.",
                      until > 0, until);
}

static void write_state(writer *w, const gp_history *h) {
        unsigned fails = gp_history_consecutive_failures(h), passes = gp_history_consecutive_passes(h);
        usec_t last_pass = gp_history_last_pass_at(h), last_fail = gp_history_last_failure_at(h);
        gp_window_stats ws;

        family(w, "gpprobe_success", "gauge",
               "1 if the last run succeeded (pass or degraded), 0 if it failed; "
               "absent before the first run.");
        if (fails > 0 || passes > 0) {
                begin(w, "gpprobe_success");
                end(w, fails > 0 ? "0" : "1");
        }
        gauge_u(w, "gpprobe_consecutive_failures", "Failed runs in a row, up to the last run.", fails);
        gauge_u(w, "gpprobe_consecutive_passes",
                "Successful (pass or degraded) runs in a row, up to the last run.", passes);
        gauge_u(w, "gpprobe_alerting", "1 from AlertAfter= failures in a row until RecoverAfter= successes.",
                gp_history_alerting(h));
        gauge_seconds(w, "gpprobe_last_run_timestamp_seconds",
                      "When the last recorded run finished, in seconds since the epoch.",
                      last_pass > 0 || last_fail > 0, MAX(last_pass, last_fail));
        gauge_seconds(w, "gpprobe_last_success_timestamp_seconds",
                      "When the last successful (pass or degraded) run finished, "
                      "in seconds since the epoch.",
                      last_pass > 0, last_pass);
        gauge_seconds(w, "gpprobe_last_failure_timestamp_seconds",
                      "When the last failed run finished, in seconds since the epoch.", last_fail > 0,
                      last_fail);

        gp_history_stats(h, &ws);
        gauge_u(w, "gpprobe_window_runs", "Runs in the window (History=) of the status file.", ws.runs);
        family(w, "gpprobe_window_success_ratio", "gauge",
               "Successful (pass or degraded) runs over runs in the window; absent while it is empty.");
        if (ws.runs > 0) {
                begin(w, "gpprobe_window_success_ratio");
                putf(w, "} %.6g\n", ws.success_ratio);
        }
}

static void code_sample(writer *w, const char *name, const char *code, uint64_t count) {
        begin(w, name);
        label(w, "code", code);
        end_u(w, count);
}

/* Every code of that kind in the table (codes.h) from the start, at 0, so that increase(...)
 * sees a code's first run (a series born at 1 has no increase); then the codes of runs v that
 * are not in the table (an "unknown", a newer daemon's in the state file), as they came. */
static void code_counters(writer *w, const char *name, const gp_history *h, gp_verdict v, gp_code_kind kind) {
        size_t n = 0;
        const gp_code_info *codes = gp_codes(&n);

        for (size_t i = 0; i < n; i++)
                if (codes[i].kind == kind)
                        code_sample(w, name, codes[i].code, gp_history_code_count(h, v, codes[i].code));
        for (size_t i = 0; i < gp_history_n_code_totals(h); i++) {
                const gp_code_total *t = gp_history_code_total(h, i);
                const gp_code_info *c = gp_code_lookup(t->code);

                if (t->verdict == v && !(c && c->kind == kind))
                        code_sample(w, name, t->code, t->count);
        }
}

static void write_totals(writer *w, const gp_metrics_input *in) {
        const gp_history *h = in->history;

        family(w, "gpprobe_runs_total", "counter", "Runs recorded, by result, since the state file began.");
        for (size_t i = 0; i < ELEMENTSOF(results); i++) {
                begin(w, "gpprobe_runs_total");
                label(w, "result", gp_verdict_to_string(results[i]));
                end_u(w, gp_history_runs_total(h, results[i]));
        }

        family(w, "gpprobe_failures_total", "counter", "Failed runs, by code, since the state file began.");
        code_counters(w, "gpprobe_failures_total", h, GP_VERDICT_FAIL, GP_CODE_FAILURE);
        family(w, "gpprobe_degraded_total", "counter",
               "Degraded runs, by the SLO exceeded (slo.<phase>), since the state file began.");
        code_counters(w, "gpprobe_degraded_total", h, GP_VERDICT_DEGRADED, GP_CODE_DEGRADED);

        family(w, "gpprobe_skipped_runs_total", "counter",
               "Scheduled runs skipped because the previous run overran Interval=, since gpprobed started.");
        begin(w, "gpprobe_skipped_runs_total");
        end_u(w, in->skipped);
}

static void write_histogram(writer *w, const gp_history *h) {
        char buf[48];

        family(w, "gpprobe_duration_seconds", "histogram",
               "Duration of runs, by result, since the state file began.");
        for (size_t i = 0; i < ELEMENTSOF(results); i++) {
                const gp_duration_histogram *d = gp_history_durations(h, results[i]);
                const char *result = gp_verdict_to_string(results[i]);
                uint64_t cumulative = 0;

                for (size_t b = 0; b <= GP_DURATION_BUCKETS; b++) {
                        cumulative += d->buckets[b];
                        begin(w, "gpprobe_duration_seconds_bucket");
                        label(w, "result", result);
                        if (b < GP_DURATION_BUCKETS)
                                label(w, "le", seconds(buf, sizeof(buf), gp_duration_bounds[b]));
                        else
                                label(w, "le", "+Inf");
                        end_u(w, cumulative);
                }
                begin(w, "gpprobe_duration_seconds_sum");
                label(w, "result", result);
                end(w, seconds(buf, sizeof(buf), d->sum));
                begin(w, "gpprobe_duration_seconds_count");
                label(w, "result", result);
                end_u(w, cumulative);
        }
}

/* Issue 12: the login's and the WebSocket connect's own phases, as more phase= values. */
static void write_sub_phases(writer *w, const gp_result *last) {
        const gp_session_result *s = last && last->n_sessions > 0 ? &last->sessions[0] : NULL;
        const struct {
                const char *phase;
                usec_t value;
        } sub[] = {
                { "login_dns", s && s->have_login_timing ? s->login_timing.dns : USEC_INFINITY },
                { "login_tcp", s && s->have_login_timing ? s->login_timing.connect : USEC_INFINITY },
                { "login_tls", s && s->have_login_timing ? s->login_timing.tls : USEC_INFINITY },
                { "login_first_byte", s && s->have_login_timing ? s->login_timing.first_byte : USEC_INFINITY },
                { "ws_dns", last ? last->ws_dns : USEC_INFINITY },
                { "ws_tcp", s ? s->ws_timing.connect : USEC_INFINITY },
                { "ws_tls", s ? s->ws_timing.tls : USEC_INFINITY },
                { "ws_upgrade", s ? s->ws_timing.upgrade : USEC_INFINITY },
                { "ws_ready", s ? s->ws_timing.ready : USEC_INFINITY },
        };
        char buf[48];

        for (size_t i = 0; i < ELEMENTSOF(sub); i++) {
                if (sub[i].value == USEC_INFINITY)
                        continue;
                begin(w, "gpprobe_phase_seconds");
                label(w, "phase", sub[i].phase);
                end(w, seconds(buf, sizeof(buf), sub[i].value));
        }
}

static void write_cert_expiry(writer *w, const gp_result *last) {
        const struct {
                const char *endpoint;
                const gp_cert_expiry *c;
        } eps[] = { { "login", last ? &last->login_cert : NULL }, { "websocket", last ? &last->ws_cert : NULL } };

        family(w, "gpprobe_tls_cert_expiry_timestamp_seconds", "gauge",
               "When the last run's endpoints' TLS certificates expire (notAfter), in seconds since the epoch: "
               "cert=leaf, and cert=earliest of the chain the server sent; absent when the run did not reach it.");
        for (size_t i = 0; i < ELEMENTSOF(eps); i++) {
                if (!eps[i].c || eps[i].c->earliest == 0)
                        continue;
                begin(w, "gpprobe_tls_cert_expiry_timestamp_seconds");
                label(w, "endpoint", eps[i].endpoint);
                label(w, "cert", "leaf");
                putf(w, "} %" PRId64 "\n", eps[i].c->leaf);
                begin(w, "gpprobe_tls_cert_expiry_timestamp_seconds");
                label(w, "endpoint", eps[i].endpoint);
                label(w, "cert", "earliest");
                putf(w, "} %" PRId64 "\n", eps[i].c->earliest);
        }
}

static void write_last(writer *w, const gp_result *last) {
        char buf[48];

        gauge_seconds(w, "gpprobe_last_duration_seconds", "Duration of the last run since gpprobed started.",
                      last != NULL, last ? last->duration : 0);

        family(w, "gpprobe_phase_seconds", "gauge",
               "The last run's phases (status file phases_ms); a phase that did not happen is absent.");
        for (gp_phase p = 0; last && p < _GP_PHASE_MAX; p++) {
                if (last->phases[p] == USEC_INFINITY)
                        continue;
                begin(w, "gpprobe_phase_seconds");
                label(w, "phase", gp_phase_to_string(p));
                end(w, seconds(buf, sizeof(buf), last->phases[p]));
        }
        write_sub_phases(w, last);

        /* As in the status file: with Users= > 1, the first session's events. */
        family(w, "gpprobe_event_seconds", "gauge",
               "When each event type first arrived in the last run, in seconds after the request was sent.");
        for (size_t i = 0; last && last->n_sessions > 0 && i < last->sessions[0].n_events; i++) {
                const gp_event_stat *e = &last->sessions[0].events[i];
                begin(w, "gpprobe_event_seconds");
                label(w, "event", e->type);
                end(w, seconds(buf, sizeof(buf), e->first_at));
        }
        family(w, "gpprobe_event_arrivals", "gauge",
               "How many times each event type arrived in the last run.");
        for (size_t i = 0; last && last->n_sessions > 0 && i < last->sessions[0].n_events; i++) {
                const gp_event_stat *e = &last->sessions[0].events[i];
                begin(w, "gpprobe_event_arrivals");
                label(w, "event", e->type);
                end_u(w, e->count);
        }
        write_cert_expiry(w, last);
}

int gp_metrics_render(const gp_metrics_input *in, char **ret, size_t *ret_len) {
        writer w = { .probe = in ? strempty(in->name) : "" };

        if (!in || !in->history || !ret)
                return -EINVAL;
        write_process(&w, in);
        write_state(&w, in->history);
        write_silence(&w, in->silenced_until);
        write_totals(&w, in);
        write_histogram(&w, in->history);
        write_last(&w, in->last);
        if (w.error == 0)
                w.error = gp_stream_metrics(&w.b, w.probe, gp_history_stream_totals(in->history), in->last);
        if (w.error == 0 && !w.b.data)
                w.error = gp_buf_append(&w.b, "", 0);
        if (w.error < 0) {
                gp_buf_free(&w.b);
                return w.error;
        }
        *ret = w.b.data;
        if (ret_len)
                *ret_len = w.b.len;
        return 0;
}
