/* SPDX-License-Identifier: MIT */
#pragma once

/* The reader side of the status file (SPEC section 5, schema 1), for gpprobectl. Pure: bytes in,
 * a validated document or a one-line reason out. Everything a gate decides on is checked for
 * presence and type, so that a truncated, corrupt or foreign file is refused, never guessed at. */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "status.h"      /* GP_STATUS_SCHEMA: the newest schema, the one the daemon writes */
#include "time-util.h"

/* A status file is a few tens of KiB; anything this large is not one. */
#define GP_STATUS_FILE_MAX ((size_t) 16 * 1024 * 1024)

typedef enum gp_sf_result {
        GP_SF_PASS,
        GP_SF_DEGRADED,
        GP_SF_FAIL,
} gp_sf_result;

const char *gp_sf_result_to_string(gp_sf_result r);

/* One "history" entry. Strings point into the document and live as long as it. */
typedef struct gp_sf_entry {
        const char *run_id;       /* NULL when absent */
        usec_t started_at;        /* CLOCK_REALTIME */
        gp_sf_result result;
        const char *code;         /* NULL for null */
        double duration_ms;       /* < 0 for null */
} gp_sf_entry;

typedef struct gp_sf_last {
        const char *run_id;
        usec_t started_at;
        usec_t finished_at;
        gp_sf_result result;
        const char *stage;        /* NULL for null */
        const char *code;
        const char *reason;
        double duration_ms;       /* < 0 for null */
        unsigned users;
} gp_sf_last;

typedef struct gp_status_file {
        json_t *root;             /* owns every string below */
        unsigned schema;
        const char *name;
        usec_t updated_at;

        const char *daemon_version; /* NULL for null */
        long long daemon_pid;
        usec_t daemon_started_at;
        usec_t interval;          /* daemon.interval_ms, > 0 */

        bool have_last;           /* false: "last": null, no run yet */
        gp_sf_last last;

        unsigned consecutive_failures;
        unsigned consecutive_passes;
        bool alerting;
        usec_t last_pass_at;      /* 0 for null (never) */
        usec_t last_failure_at;

        unsigned window_runs, window_pass, window_degraded, window_fail;
        double success_ratio;

        gp_sf_entry *history;     /* as in the file: oldest first */
        size_t n_history;

        /* Issue 13: the silence the daemon had in force ("silence", absent from older daemons). */
        bool have_silence;        /* false: null or absent */
        usec_t silence_until;
        const char *silence_reason;
        const char *silence_by;   /* NULL for null */
} gp_status_file;

gp_status_file *gp_status_file_free(gp_status_file *sf); /* NULL-safe */
static inline void gp_status_file_freep(gp_status_file **sf) {
        gp_status_file_free(*sf);
}
#define _cleanup_status_file_ _cleanup_(gp_status_file_freep)

/* Parses and validates len bytes (no NUL needed). -EINVAL with a one-line reason in *ret_error
 * (newly allocated, may be NULL on ENOMEM) for anything but a valid schema-1 document;
 * -EPROTONOSUPPORT for a newer schema; -EFBIG above GP_STATUS_FILE_MAX; -ENOMEM. */
int gp_status_file_parse(const void *data, size_t len, gp_status_file **ret, char **ret_error);

/* gp_read_full_file(path, GP_STATUS_FILE_MAX) + gp_status_file_parse; the reason names the path.
 * A FIFO, device or directory under the name is refused (-EINVAL) without blocking; -EFBIG when
 * the file is larger. */
int gp_status_file_load(const char *path, gp_status_file **ret, char **ret_error);

/* Whether the file names a silence that is still in force at now (it may have ended since the
 * daemon wrote it). */
static inline bool gp_status_file_silenced(const gp_status_file *sf, usec_t now) {
        return sf->have_silence && now < sf->silence_until;
}

/* Success ratio (degraded counts as success) over the newest n history entries (all when n is 0
 * or larger than the history). -ENODATA when there are none. */
int gp_status_file_ratio(const gp_status_file *sf, size_t n, double *ret_ratio, size_t *ret_runs);

/* Consecutive successes among the newest runs that started at or after since: the count since the
 * newest run that did not count (a fail, or a degraded run unless allow_degraded). *ret_runs is the
 * number of runs since `since`; *ret_reset the newest non-counting one among them, or NULL. */
void gp_status_file_passes_since(const gp_status_file *sf, usec_t since, bool allow_degraded,
                                 unsigned *ret_passes, unsigned *ret_runs, const gp_sf_entry **ret_reset);
