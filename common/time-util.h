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
static inline double usec_to_ms(usec_t u) {
        return (double) u / 1000.0;
}
/* RFC 3339 UTC with milliseconds, e.g. 2026-11-25T16:00:00.123Z; buf >= 32 bytes. */
char *format_rfc3339(char *buf, size_t len, usec_t realtime);
/* Parses an RFC 3339 timestamp (Z or +hh:mm offset, optional fraction); -EINVAL. */
int parse_rfc3339(const char *s, usec_t *ret);
/* A short duration in the configuration's own notation: "500ms", "1.5s", "30s", "2min",
 * "1h 1min 30s" (millisecond precision); buf >= 32 bytes. */
char *format_duration(char *buf, size_t len, usec_t d);
