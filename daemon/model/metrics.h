/* SPDX-License-Identifier: MIT */
#pragma once

/* gpprobe's metrics (SPEC section 7) in the Prometheus text exposition format 0.0.4: a pure
 * function of the history and the last run, served on MetricsListen= and written to
 * MetricsFile=. Every metric family is listed in docs/prometheus/README.md. */

#include <stdbool.h>

#include "history.h"
#include "result.h"
#include "util.h"

#define GP_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct gp_metrics_input {
        const char *name;           /* the probe="..." label */
        const char *version;        /* gpprobe_info{version} */
        bool up;                    /* gpprobe_up: false only in the MetricsFile= left after a stop */
        usec_t started_at;          /* CLOCK_REALTIME of the daemon's start; 0 = unknown (omitted) */
        usec_t interval;            /* Interval= */
        const gp_history *history;  /* streaks, totals, histograms, window (restored from StateFile=) */
        const gp_result *last;      /* the last run since the daemon started, or NULL */
        unsigned skipped;           /* runs skipped since the daemon started */
        usec_t silenced_until;      /* CLOCK_REALTIME end of the silence in force; 0: not silenced */
} gp_metrics_input;

/* The whole exposition, NUL-terminated, in *ret (free()) with its length. -EINVAL, -ENOMEM. */
int gp_metrics_render(const gp_metrics_input *in, char **ret, size_t *ret_len);

/* A label value escaped for the text format (\\, \", \n) appended to b. -ENOMEM. */
int gp_metrics_escape_label(gp_buf *b, const char *value);
