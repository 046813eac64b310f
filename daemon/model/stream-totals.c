/* SPDX-License-Identifier: MIT */
/* The streaming histograms (issue 12): counted per recorded run, persisted in StateFile=, rendered
 * with the last run's streaming gauges for metrics.c. */
#include <errno.h>
#include <inttypes.h>

#include "json-util.h"
#include "metrics.h"
#include "histogram.h"
#include "stream-totals.h"

const usec_t gp_stream_bounds[GP_STREAM_BUCKETS] = {
        10 * USEC_PER_MSEC, 50 * USEC_PER_MSEC, 100 * USEC_PER_MSEC, 250 * USEC_PER_MSEC,
        500 * USEC_PER_MSEC, 1 * USEC_PER_SEC, 2 * USEC_PER_SEC, 5 * USEC_PER_SEC, 10 * USEC_PER_SEC,
        20 * USEC_PER_SEC, 30 * USEC_PER_SEC, 60 * USEC_PER_SEC,
};

static const char * const hist_table[_GP_STREAM_HIST_MAX] = {
        [GP_STREAM_HIST_FRAME_GAP] = "frame_gap",
        [GP_STREAM_HIST_SILENCE] = "silence",
        [GP_STREAM_HIST_FIRST_PARTIAL] = "first_partial",
};

const char *gp_stream_hist_to_string(gp_stream_hist k) {
        return (unsigned) k < ELEMENTSOF(hist_table) ? hist_table[k] : NULL;
}

static void observe(gp_stream_histogram *h, usec_t u) {
        gp_histogram_observe(h->buckets, &h->sum, gp_stream_bounds, GP_STREAM_BUCKETS, u);
}

void gp_stream_totals_count(gp_stream_totals *t, const gp_result *r) {
        usec_t silence = USEC_INFINITY, first_partial = USEC_INFINITY;

        for (size_t i = 0; i < r->n_sessions; i++) {
                const gp_stream *s = &r->sessions[i].stream;

                if (!s->started)
                        continue;
                for (size_t g = 0; g < s->frame_gaps.n; g++)
                        observe(&t->h[GP_STREAM_HIST_FRAME_GAP], s->frame_gaps.v[g]);
                if (silence == USEC_INFINITY || s->silence > silence)
                        silence = s->silence;
                if (s->first_partial != USEC_INFINITY &&
                    (first_partial == USEC_INFINITY || s->first_partial > first_partial))
                        first_partial = s->first_partial;
        }
        if (silence != USEC_INFINITY)
                observe(&t->h[GP_STREAM_HIST_SILENCE], silence);
        if (first_partial != USEC_INFINITY)
                observe(&t->h[GP_STREAM_HIST_FIRST_PARTIAL], first_partial);
}

/* ---- StateFile= ---------------------------------------------------------------------------- */

json_t *gp_stream_totals_to_json(const gp_stream_totals *t) {
        json_auto_t *o = json_object();

        if (!o || gp_json_set_new(o, "bounds_us", gp_histogram_bounds_to_json(gp_stream_bounds, GP_STREAM_BUCKETS)) < 0)
                return NULL;
        for (gp_stream_hist k = 0; k < _GP_STREAM_HIST_MAX; k++)
                if (gp_json_set_new(o, hist_table[k],
                                    gp_histogram_to_json(t->h[k].buckets, GP_STREAM_BUCKETS, t->h[k].sum)) < 0)
                        return NULL;
        return TAKE_PTR(o);
}

static int fail(char *error, size_t size, const char *fmt, ...) _printf_(3, 4);
static int fail(char *error, size_t size, const char *fmt, ...) {
        size_t n;
        va_list ap;

        n = (size_t) snprintf(error, size, "invalid state file: stream.");
        va_start(ap, fmt);
        vsnprintf(error + n, size - n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

int gp_stream_totals_from_json(gp_stream_totals *t, json_t *o, char *error, size_t size) {
        gp_stream_totals n = {0};
        json_t *bounds;
        int r;

        if (!o)
                return 0;
        if (!json_is_object(o))
                return fail(error, size, "%s", "expected an object");
        bounds = json_object_get(o, "bounds_us");
        if (!json_is_array(bounds))
                return fail(error, size, "%s", "bounds_us: expected an array");
        /* Other buckets (another version): the histograms start again, as after a counter reset. */
        if (!gp_histogram_bounds_match(bounds, gp_stream_bounds, GP_STREAM_BUCKETS))
                return 0;
        for (gp_stream_hist k = 0; k < _GP_STREAM_HIST_MAX; k++) {
                char what[32];

                snprintf(what, sizeof(what), "stream.%s", hist_table[k]);
                r = gp_histogram_from_json(json_object_get(o, hist_table[k]), what, GP_STREAM_BUCKETS, n.h[k].buckets,
                                           &n.h[k].sum, error, size);
                if (r < 0)
                        return r;
        }
        *t = n;
        return 0;
}

/* ---- metrics ------------------------------------------------------------------------------- */

/* Microseconds as exact decimal seconds, as metrics.c writes them. */
static const char *seconds(char *buf, size_t size, usec_t u) {
        size_t n = (size_t) snprintf(buf, size, "%" PRIu64 ".%06" PRIu64, u / USEC_PER_SEC, u % USEC_PER_SEC);

        while (n > 0 && buf[n - 1] == '0')
                buf[--n] = 0;
        if (n > 0 && buf[n - 1] == '.')
                buf[--n] = 0;
        return buf;
}

typedef struct out {
        gp_buf *b;
        const char *probe;
        int error;
} out;

static void putf(out *o, const char *fmt, ...) _printf_(2, 3);
static void putf(out *o, const char *fmt, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;

        if (o->error)
                return;
        va_start(ap, fmt);
        s = strdup_vprintf(fmt, ap);
        va_end(ap);
        o->error = s ? gp_buf_append(o->b, s, strlen(s)) : -ENOMEM;
}

/* name{probe="..."[,extra] value\n; extra is a ready-made label list or "". */
static void sample(out *o, const char *name, const char *extra, const char *value) {
        putf(o, "%s{probe=\"", name);
        if (o->error == 0)
                o->error = gp_metrics_escape_label(o->b, o->probe);
        putf(o, "\"%s} %s\n", extra, value);
}

static void family(out *o, const char *name, const char *type, const char *help) {
        putf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram(out *o, const char *name, const char *help, const gp_stream_histogram *h) {
        char buf[48], le[64], count[32], n[96];
        uint64_t cumulative = 0;

        family(o, name, "histogram", help);
        snprintf(n, sizeof(n), "%s_bucket", name);
        for (size_t b = 0; b <= GP_STREAM_BUCKETS; b++) {
                cumulative += h->buckets[b];
                snprintf(le, sizeof(le), ",le=\"%s\"",
                         b < GP_STREAM_BUCKETS ? seconds(buf, sizeof(buf), gp_stream_bounds[b]) : "+Inf");
                snprintf(count, sizeof(count), "%" PRIu64, cumulative);
                sample(o, n, le, count);
        }
        snprintf(n, sizeof(n), "%s_sum", name);
        sample(o, n, "", seconds(buf, sizeof(buf), h->sum));
        snprintf(n, sizeof(n), "%s_count", name);
        snprintf(count, sizeof(count), "%" PRIu64, cumulative);
        sample(o, n, "", count);
}

static void gauge_seconds(out *o, const char *name, const char *extra, usec_t u) {
        char buf[48];

        if (u != USEC_INFINITY)
                sample(o, name, extra, seconds(buf, sizeof(buf), u));
}

static void write_last(out *o, const gp_result *last) {
        gp_stream_figures f = {0};
        char buf[48];
        bool p;

        if (last && gp_result_stream_figures(last, &f) < 0) {
                o->error = -ENOMEM;
                return;
        }
        p = f.present;
        family(o, "gpprobe_stream_last_frames", "gauge",
               "Frames received after the request in the last run (every session); absent before one.");
        snprintf(buf, sizeof(buf), "%" PRIu64, f.frames);
        if (p)
                sample(o, "gpprobe_stream_last_frames", "", buf);
        family(o, "gpprobe_stream_last_bytes", "gauge", "Payload bytes of those frames.");
        snprintf(buf, sizeof(buf), "%" PRIu64, f.bytes);
        if (p)
                sample(o, "gpprobe_stream_last_bytes", "", buf);
        family(o, "gpprobe_stream_last_partials", "gauge", "Frames of a Partial= type in the last run.");
        snprintf(buf, sizeof(buf), "%u", f.partials);
        if (p)
                sample(o, "gpprobe_stream_last_partials", "", buf);
        family(o, "gpprobe_stream_last_longest_silence_seconds", "gauge",
               "The last run's longest time without a frame, from the request to the end (worst session).");
        gauge_seconds(o, "gpprobe_stream_last_longest_silence_seconds", "", p ? f.silence : USEC_INFINITY);
        family(o, "gpprobe_stream_last_first_partial_seconds", "gauge",
               "When the first partial arrived in the last run, after the request (slowest session); "
               "absent without one.");
        gauge_seconds(o, "gpprobe_stream_last_first_partial_seconds", "", p ? f.first_partial : USEC_INFINITY);
        family(o, "gpprobe_stream_last_partials_per_second", "gauge",
               "Partials per second in the last run (lowest session); absent with fewer than two.");
        snprintf(buf, sizeof(buf), "%.6g", f.partials_per_s);
        if (p && f.partials_per_s >= 0)
                sample(o, "gpprobe_stream_last_partials_per_second", "", buf);
        family(o, "gpprobe_stream_last_frame_gap_seconds", "gauge",
               "The last run's gaps between consecutive frames: stat p50 and max.");
        gauge_seconds(o, "gpprobe_stream_last_frame_gap_seconds", ",stat=\"p50\"", p ? f.frame_gap_p50 : USEC_INFINITY);
        gauge_seconds(o, "gpprobe_stream_last_frame_gap_seconds", ",stat=\"max\"", p ? f.frame_gap_max : USEC_INFINITY);
        family(o, "gpprobe_stream_last_event_gap_seconds", "gauge",
               "The last run's gaps between consecutive expected events: stat p50 and max.");
        gauge_seconds(o, "gpprobe_stream_last_event_gap_seconds", ",stat=\"p50\"", p ? f.event_gap_p50 : USEC_INFINITY);
        gauge_seconds(o, "gpprobe_stream_last_event_gap_seconds", ",stat=\"max\"", p ? f.event_gap_max : USEC_INFINITY);
}

int gp_stream_metrics(gp_buf *b, const char *probe, const gp_stream_totals *t, const gp_result *last) {
        out o = { .b = b, .probe = strempty(probe) };

        histogram(&o, "gpprobe_stream_frame_gap_seconds",
                  "Gaps between consecutive frames, every session of every recorded run, since the state "
                  "file began.", &t->h[GP_STREAM_HIST_FRAME_GAP]);
        histogram(&o, "gpprobe_stream_silence_seconds",
                  "Each recorded run's longest silence (no frame), since the state file began.",
                  &t->h[GP_STREAM_HIST_SILENCE]);
        histogram(&o, "gpprobe_stream_first_partial_seconds",
                  "Each recorded run's time to the first partial (slowest session), since the state file began.",
                  &t->h[GP_STREAM_HIST_FIRST_PARTIAL]);
        write_last(&o, last);
        return o.error;
}
