/* SPDX-License-Identifier: MIT */
/* gpprobectl gate: open (0), closed (1) or unknown (2) for a deploy, from one status file. Fails
 * closed: a status it cannot read or trust (missing, corrupt, stale) is unknown, never open. */
#include <stdio.h>

#include "ctl-internal.h"
#include "gate.h"

static int gate_decide(const gp_ctl_args *a, const char *name, const gp_status_file *sf, usec_t now) {
        gp_gate_options o = {
                .max_age = a->max_age,
                .window = a->window,
                .min_ratio = a->min_ratio,
                .require_last_pass = a->require_last_pass,
                .allow_degraded = a->allow_degraded,
        };
        _cleanup_free_ char *reason = NULL;
        gp_gate_verdict v;

        if (gp_gate_decide(sf, &o, now, &v, &reason) < 0)
                return gp_ctl_verdict(EXIT_UNKNOWN, name, "out of memory");
        return gp_ctl_verdict((int) v, name, "%s", reason);
}

int gp_ctl_gate(const gp_ctl_args *a) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *err = NULL, *silence = NULL;
        usec_t now = now_usec(CLOCK_REALTIME);
        int code;

        if (a->n_names != 1)
                return gp_ctl_usage_error("gate", "expects exactly one probe NAME");
        if (gp_ctl_load_status(a, a->names[0], &sf, &err) < 0)
                return gp_ctl_verdict(EXIT_UNKNOWN, a->names[0], "%s", err ? err : "out of memory");
        /* A silence changes no answer (issue 13): it is only named, so that nobody wonders why a
         * closed gate paged nobody. */
        silence = gp_ctl_silence_note(sf, now);
        gp_ctl_verdict_note(silence);
        code = gate_decide(a, a->names[0], sf, now);
        gp_ctl_verdict_note(NULL);
        return code;
}
