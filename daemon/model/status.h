/* SPDX-License-Identifier: MIT */
#pragma once

/* The status file (SPEC section 5, schema 1) and atomic file writing. */

#include <jansson.h>
#include <sys/types.h>

#include "config.h"
#include "history.h"
#include "result.h"

typedef struct gp_daemon_info {
        const char *version;
        pid_t pid;
        usec_t started_at;    /* CLOCK_REALTIME */
        usec_t interval;
} gp_daemon_info;

/* The whole status document; last may be NULL (no run yet: "last": null). NULL on ENOMEM. */
json_t *gp_status_build(const gp_config *cfg, const gp_daemon_info *d, const gp_history *h,
                        const gp_result *last);

/* Writes data to path atomically: a temporary file in the same directory, fsync, fchmod(mode),
 * rename over path, fsync of the directory. Readers see the old or the new file, never a mix.
 * Negative errno, with a message naming the path in *ret_error. */
int gp_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char **ret_error);

/* gp_status_build + dump (compact, one line + "\n") + gp_write_atomic(mode 0644). */
int gp_status_write(const char *path, const gp_config *cfg, const gp_daemon_info *d, const gp_history *h,
                    const gp_result *last, char **ret_error);
