/* SPDX-License-Identifier: MIT */
#pragma once

/* A Prometheus histogram as the history keeps it across restarts: counts per bucket (not
 * cumulative; n bounds, then the +Inf bucket) and the sum. One home for what the run durations
 * (history-totals.c) and the stream figures (stream-totals.c) both do with theirs: count an
 * observation, and persist it in StateFile= ({"buckets": [...], "sum_us": N}, the bounds beside
 * them as "bounds_us"). Pure. */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "time-util.h"

/* u into the first bucket whose bound it does not exceed (buckets has n + 1 counts); the counts
 * and the sum saturate at INT64_MAX. */
void gp_histogram_observe(uint64_t *buckets, usec_t *sum, const usec_t *bounds, size_t n, usec_t u);

json_t *gp_histogram_bounds_to_json(const usec_t *bounds, size_t n);  /* NULL on ENOMEM */
json_t *gp_histogram_to_json(const uint64_t *buckets, size_t n, usec_t sum);  /* NULL on ENOMEM */

/* Whether a persisted "bounds_us" is exactly these bounds (other ones: another version's). */
bool gp_histogram_bounds_match(json_t *a, const usec_t *bounds, size_t n);
/* o as {"buckets": [n + 1 counts], "sum_us": N}: 0, or -EINVAL with "invalid state file: WHAT...:
 * why" in error. The outputs are untouched on failure. */
int gp_histogram_from_json(json_t *o, const char *what, size_t n, uint64_t *ret_buckets, usec_t *ret_sum,
                           char *error, size_t size);
