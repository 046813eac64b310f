/* SPDX-License-Identifier: MIT */
#pragma once

/* gpprobed's structured log (SPEC section 6): entries go to the journal when Journal=yes and
 * journald listens, and to stderr unless stderr already is the journal. */

#include <stdbool.h>

#include "report.h"

typedef struct gp_log_field {
        const char *name;      /* e.g. "GPPROBE_NAME" */
        const char *value;
} gp_log_field;

/* Whether entries also go to the journal; set from Journal= at start and on reload. */
void gp_log_set_journal(bool on);

/* One entry: MESSAGE_ID (may be NULL), PRIORITY, extra fields (NULL-terminated by name),
 * and the message. */
void gp_log(const char *message_id, int priority, const gp_log_field *fields, const char *fmt, ...)
        _printf_(4, 5);

/* The entry of the report's run (rep->last, not NULL), with every GPPROBE_* field. */
void gp_log_run(const gp_report *rep);

/* Alert raised / recovered, after gp_log_run of the run that caused it. */
void gp_log_transition(const gp_report *rep, gp_transition t);

/* A certificate of the endpoint ("login", "websocket") expires within CertExpiryWarn= (issue 12). */
void gp_log_cert_expiring(const gp_report *rep, const char *endpoint, const gp_cert_expiry *c, usec_t now);

/* "STATUS=" for sd_notify after a run, e.g. "pass in 1.21s; 14 in a row". */
char *gp_status_line(const gp_report *rep);
