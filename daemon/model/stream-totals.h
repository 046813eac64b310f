/* SPDX-License-Identifier: MIT */
#pragma once

/* The streaming histograms (issue 12) kept in the history and persisted in StateFile= like the
 * duration histogram (history-totals.c): gpprobe_stream_frame_gap_seconds (every gap between
 * two frames of every session, as kept for the p50), gpprobe_stream_silence_seconds (each
 * recorded run's longest silence) and gpprobe_stream_first_partial_seconds (each recorded run's
 * first partial, the slowest session's; runs without one are not observed). Pure. */

#include <jansson.h>
#include <stdint.h>

#include "result.h"
#include "util.h"

#define GP_STREAM_BUCKETS 12
/* Upper bounds (inclusive, Prometheus "le"), then +Inf. */
extern const usec_t gp_stream_bounds[GP_STREAM_BUCKETS];

typedef enum gp_stream_hist {
        GP_STREAM_HIST_FRAME_GAP,
        GP_STREAM_HIST_SILENCE,
        GP_STREAM_HIST_FIRST_PARTIAL,
        _GP_STREAM_HIST_MAX,
} gp_stream_hist;

typedef struct gp_stream_histogram {
        uint64_t buckets[GP_STREAM_BUCKETS + 1];  /* observations per bucket, not cumulative */
        usec_t sum;                               /* saturates at INT64_MAX */
} gp_stream_histogram;

typedef struct gp_stream_totals {
        gp_stream_histogram h[_GP_STREAM_HIST_MAX];
} gp_stream_totals;

/* "frame_gap", "silence", "first_partial": the metric's middle and the state file's key. */
const char *gp_stream_hist_to_string(gp_stream_hist k);

/* The history's (history.c); persisted with it. */
typedef struct gp_history gp_history;
const gp_stream_totals *gp_history_stream_totals(const gp_history *h);

/* A recorded run's observations. Cannot fail. */
void gp_stream_totals_count(gp_stream_totals *t, const gp_result *r);

/* StateFile= member "stream": {"bounds_us": [...], "frame_gap": {"buckets": [...], "sum_us": N},
 * "silence": ..., "first_partial": ...}. NULL on ENOMEM. */
json_t *gp_stream_totals_to_json(const gp_stream_totals *t);
/* From that member; NULL (a state file from before issue 12) or other bounds leave zeros.
 * -EINVAL with a message in error ("invalid state file: stream...."). */
int gp_stream_totals_from_json(gp_stream_totals *t, json_t *o, char *error, size_t size);

/* The three histograms and the last run's gauges (gpprobe_stream_*) in the text format, appended
 * to b with the probe label. -ENOMEM. */
int gp_stream_metrics(gp_buf *b, const char *probe, const gp_stream_totals *t, const gp_result *last);
