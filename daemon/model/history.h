/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon's memory of past runs: the window of the last History= runs (percentiles, success
 * ratio), the streaks and the alert state (AlertAfter=/RecoverAfter=). Persisted in StateFile=
 * so a restart neither forgets a failing streak nor resets the window. No I/O except
 * gp_history_save/load. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "result.h"
#include "time-util.h"
#include "util.h"

typedef struct gp_history_entry {
        char run_id[37];
        usec_t started_at;       /* CLOCK_REALTIME */
        gp_verdict verdict;      /* PASS, DEGRADED or FAIL */
        char *code;              /* NULL on pass */
        usec_t duration;
        /* The entry as the status file's "history" array holds it, made once when the entry is
         * recorded or loaded (history-render.c), so that a status document costs no more than
         * copying the window's entries. */
        char *status_json;
        size_t status_json_len;
} gp_history_entry;

typedef enum gp_transition {
        GP_TRANSITION_NONE,
        GP_TRANSITION_ALERT_RAISED,   /* consecutive_failures reached AlertAfter= */
        GP_TRANSITION_RECOVERED,      /* while alerting, consecutive_passes reached RecoverAfter= */
} gp_transition;

typedef struct gp_window_stats {
        unsigned runs, pass, degraded, fail;
        double success_ratio;         /* (pass + degraded) / runs; 0 runs -> 0 */
        usec_t p50, p95, p99, max;    /* of durations in the window; USEC_INFINITY when no runs */
} gp_window_stats;

typedef struct gp_history gp_history;

gp_history *gp_history_new(unsigned capacity);
gp_history *gp_history_free(gp_history *h);
/* History= changed on reload: keeps the newest min(old, new) runs. -ENOMEM. */
int gp_history_set_capacity(gp_history *h, unsigned capacity);

/* Records a finished run (never a CANCELLED one: -EINVAL) and updates streaks and the alert
 * state: a degraded run counts as a success for streaks and ratio. Returns the transition. */
int gp_history_record(gp_history *h, const gp_result *r, unsigned alert_after, unsigned recover_after,
                      gp_transition *ret);

unsigned gp_history_consecutive_failures(const gp_history *h);
unsigned gp_history_consecutive_passes(const gp_history *h);
bool gp_history_alerting(const gp_history *h);
usec_t gp_history_last_pass_at(const gp_history *h);     /* CLOCK_REALTIME; 0 = never */
usec_t gp_history_last_failure_at(const gp_history *h);  /* 0 = never */
unsigned gp_history_runs_total(const gp_history *h, gp_verdict v); /* since the state began (persisted) */

/* gpprobe_duration_seconds: every recorded run's duration, by result, since the state began
 * (persisted). Buckets have these upper bounds (inclusive, Prometheus "le"), then +Inf. */
#define GP_DURATION_BUCKETS 10
extern const usec_t gp_duration_bounds[GP_DURATION_BUCKETS];
typedef struct gp_duration_histogram {
        uint64_t buckets[GP_DURATION_BUCKETS + 1]; /* runs per bucket, not cumulative; last: +Inf */
        usec_t sum;                                /* saturates at INT64_MAX */
} gp_duration_histogram;
/* NULL for a verdict that is never recorded (CANCELLED). */
const gp_duration_histogram *gp_history_durations(const gp_history *h, gp_verdict v);

/* Non-passing runs by code since the state began (persisted): failed runs by their code ("unknown"
 * when none), degraded runs by their slo.* code. At most GP_HISTORY_CODES_MAX distinct codes;
 * codes beyond are not counted. Sorted by verdict (DEGRADED first), then code. */
#define GP_HISTORY_CODES_MAX 128
typedef struct gp_code_total {
        char *code;
        gp_verdict verdict;      /* DEGRADED or FAIL */
        unsigned count;
} gp_code_total;
size_t gp_history_n_code_totals(const gp_history *h);
const gp_code_total *gp_history_code_total(const gp_history *h, size_t i);
unsigned gp_history_code_count(const gp_history *h, gp_verdict v, const char *code);

size_t gp_history_size(const gp_history *h);             /* runs in the window */
const gp_history_entry *gp_history_get(const gp_history *h, size_t i); /* 0 = oldest */
void gp_history_stats(const gp_history *h, gp_window_stats *ret);

/* The SPEC section 5 "history" array (oldest first) and "window" object. NULL on ENOMEM. */
json_t *gp_history_to_json(const gp_history *h);
/* One element of that array; NULL on ENOMEM. */
json_t *gp_history_entry_to_json(const gp_history_entry *e);
/* How the status document is dumped (status.c says why); each entry's status_json with them. */
#define GP_STATUS_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))
/* The "history" array as gp_history_to_json dumped with GP_STATUS_DUMP_FLAGS would write it,
 * byte for byte, from the entries' status_json: appended to b. -ENOMEM. */
int gp_history_status_array(const gp_history *h, gp_buf *b);
json_t *gp_window_to_json(const gp_history *h);

/* StateFile=: a JSON document {"schema":1, "consecutive_failures", ..., "entries":[...]} on one
 * line, written atomically (gp_write_atomic, mode 0600), then the runs gp_history_append added,
 * one per line. Load validates everything (the document, then each appended run, replayed) and
 * fails with -EINVAL and a message (never a crash) on a corrupt, truncated or future-schema
 * file; -ENOENT if absent. */
int gp_history_save(const gp_history *h, const char *path, char **ret_error);
/* The newest run appended to a StateFile= that gp_history_save wrote (never created here): one
 * line ({"run": ...}, the entry, finished_at and the alert state after it), fdatasync. O(1)
 * where a save is O(History=); load replays the lines. A crash mid-append leaves a last line
 * without its "\n", which load ignores. Negative errno, with a message naming the path. */
int gp_history_append(const gp_history *h, const char *path, char **ret_error);
int gp_history_load(gp_history *h, const char *path, char **ret_error);
