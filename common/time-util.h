/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)
#define NSEC_PER_USEC ((usec_t) 1000ULL)
#define USEC_INFINITY ((usec_t) UINT64_MAX)

usec_t now_usec(clockid_t clock);
/* Milliseconds rounded to 0.1 ms (half up): the one rounding of every ms gpprobe reports (the
 * status file, --once --json, the journal's GPPROBE_*_MS fields). Not for USEC_INFINITY. */
double usec_to_ms(usec_t u);
/* A qsort() comparison of usec_t values, ascending. */
int usec_compare(const void *a, const void *b);
/* The nearest-rank percentile p (1..100) of n >= 1 values sorted ascending: the smallest value
 * such that at least p% of them are at or below it, i.e. the ceil(p/100 * n)-th smallest. Always
 * a value that was observed (no interpolation), so p99 of a few runs is their slowest; 1..100
 * gives p50 = 50, p95 = 95, p99 = 99. Integer arithmetic: no rounding surprises at exact ranks. */
usec_t usec_percentile(const usec_t *sorted, size_t n, unsigned p);
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-25T16:00:00.123Z; buf >= 32 bytes. */
char *format_rfc3339(char *buf, size_t len, usec_t realtime);
/* Parses an RFC 3339 timestamp (Z or +hh:mm offset, optional fraction); -EINVAL. */
int parse_rfc3339(const char *s, usec_t *ret);
/* A short duration in the configuration's own notation: "500ms", "1.5s", "30s", "2min",
 * "1h 1min 30s" (millisecond precision); buf >= 32 bytes. */
char *format_duration(char *buf, size_t len, usec_t d);
