/* SPDX-License-Identifier: MIT */
#pragma once

/* The status file (SPEC section 5, schema 1) and atomic file writing. */

#include <jansson.h>
#include <sys/types.h>

#include "config.h"
#include "history.h"
#include "result.h"
#include "silence.h"

/* The status file's schema; gpprobectl reads this one and older ones. */
#define GP_STATUS_SCHEMA 1

typedef struct gp_daemon_info {
        const char *version;
        pid_t pid;
        usec_t started_at;    /* CLOCK_REALTIME */
        usec_t interval;
        const gp_silence *silence;  /* borrowed: the silence in force (active), or NULL */
} gp_daemon_info;

/* This process: its version and pid, with the start and Interval= given. */
gp_daemon_info gp_daemon_info_self(usec_t started_at, usec_t interval);

/* The whole status document as of updated_at (CLOCK_REALTIME); last may be NULL (no run yet:
 * "last": null). NULL on ENOMEM. */
json_t *gp_status_build(const gp_config *cfg, const gp_daemon_info *d, const gp_history *h,
                        const gp_result *last, usec_t updated_at);

/* gp_status_serialize(gp_status_build(...)), byte for byte, but the "history" array made of the
 * entries' serialisations kept in the history (history.h) rather than re-serialised: what the
 * daemon writes after every run. With ret_last, *ret_last is the text of "last" as it stands in
 * the document (NULL when last is NULL; the caller frees it). NULL with errno (ENOMEM, EINVAL). */
char *gp_status_render(const gp_config *cfg, const gp_daemon_info *d, const gp_history *h,
                       const gp_result *last, usec_t updated_at, size_t *ret_len, char **ret_last);

/* The document as the status file and /status carry it: compact, one line and "\n" (*ret_len
 * without the NUL). NULL on ENOMEM or when doc is NULL. */
char *gp_status_serialize(const json_t *doc, size_t *ret_len);

/* Writes data to path atomically: a temporary file in the same directory, fsync, fchmod(mode),
 * rename over path, fsync of the directory. Readers see the old or the new file, never a mix.
 * Negative errno, with a message naming the path in *ret_error. */
int gp_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char **ret_error);

/* A report made now (report.h), its status document written with gp_write_atomic(mode 0644):
 * for gpprobed --once, which has no other output to agree with. */
int gp_status_write(const char *path, const gp_config *cfg, const gp_daemon_info *d, const gp_history *h,
                    const gp_result *last, char **ret_error);
