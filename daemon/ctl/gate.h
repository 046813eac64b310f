/* SPDX-License-Identifier: MIT */
#pragma once

/* The deploy gate's decision: open, closed or unknown, with the one-line reason, from a parsed
 * status document. Pure. Shared by `gpprobectl gate` and gpprobed's `GET /gate`, so that both
 * answer the same question the same way. Fails closed: what cannot be trusted is unknown. */

#include <stdbool.h>

#include "statusfile-read.h"

/* The values are gpprobectl gate's exit codes. */
typedef enum gp_gate_verdict {
        GP_GATE_OPEN = 0,
        GP_GATE_CLOSED = 1,
        GP_GATE_UNKNOWN = 2,
} gp_gate_verdict;

typedef struct gp_gate_options {
        usec_t max_age;           /* 0: MAX_AGE_INTERVALS (ctl-internal.h) × the document's interval */
        unsigned window;          /* 0: the document's window */
        double min_ratio;         /* < 0: not given */
        bool require_last_pass;
        bool allow_degraded;
} gp_gate_options;

const char *gp_gate_verdict_to_string(gp_gate_verdict v);

/* The verdict and its reason (newly allocated) as of now (CLOCK_REALTIME). -ENOMEM. */
int gp_gate_decide(const gp_status_file *sf, const gp_gate_options *o, usec_t now, gp_gate_verdict *ret,
                   char **ret_reason);

/* "0.95", "1", "95%": a ratio in [0, 1]. -EINVAL, -ERANGE, -ENOMEM. */
int gp_gate_parse_ratio(const char *s, double *ret);
