/* SPDX-License-Identifier: MIT */
#pragma once

/* One report per run (and one at start, after a reload and at a stop): what the daemon says
 * about the probe, made once and fanned out to the status file, /status, the journal, STATUS=
 * and the metrics, so that every output carries the same updated_at, the same status document
 * (serialised once, byte for byte) and the same figures. Immutable once made. Pure. */

#include <stdbool.h>

#include "blob.h"
#include "config.h"
#include "history.h"
#include "result.h"
#include "status.h"

typedef struct gp_report {
        const char *name;              /* Name= of the configuration it was made with */
        usec_t updated_at;             /* CLOCK_REALTIME: when it was made */
        gp_daemon_info daemon;
        /* Borrowed: the report lives no longer than the loop turn that made it, and nothing
         * records a run meanwhile. What outlives it is the status blob, refcounted. */
        const gp_result *last;         /* the last run since the daemon started; NULL before it */
        const gp_history *history;     /* with last recorded */
        unsigned consecutive_failures;
        unsigned consecutive_passes;
        bool alerting;
        gp_blob *status;               /* the status document: one line of JSON and "\n" */
        char *last_json;               /* "last" as it stands in status; NULL before the first run */
} gp_report;

/* -EINVAL (cfg, d or h missing), -ENOMEM. */
int gp_report_new(const gp_config *cfg, const gp_daemon_info *d, const gp_history *h, const gp_result *last,
                  usec_t updated_at, gp_report **ret);
gp_report *gp_report_free(gp_report *r);  /* NULL-safe */
static inline void gp_report_freep(gp_report **r) {
        gp_report_free(*r);
}
#define _cleanup_report_ _cleanup_(gp_report_freep)

/* The status document written atomically (mode 0644) to path; the message names the path. */
int gp_report_write_status(const gp_report *r, const char *path, char **ret_error);
