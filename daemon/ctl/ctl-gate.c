/* SPDX-License-Identifier: MIT */
/* gpprobectl gate: open (0), closed (1) or unknown (2) for a deploy, from one status file. Fails
 * closed: a status it cannot read or trust (missing, corrupt, stale) is unknown, never open. */
#include <stdio.h>

#include "ctl-internal.h"

static int gate_decide(const gp_ctl_args *a, const char *name, const gp_status_file *sf, usec_t now) {
        const gp_sf_last *l = &sf->last;
        usec_t max_age = a->max_age > 0 ? a->max_age : MAX_AGE_INTERVALS * sf->interval;
        char ago[64], lim[64], took[64], pct[16], want[16];
        bool check_ratio = a->window > 0 || a->min_ratio >= 0;
        double min_ratio = a->min_ratio >= 0 ? a->min_ratio : 1.0;
        double ratio = sf->success_ratio;
        size_t runs = sf->window_runs;

        format_duration(lim, sizeof(lim), max_age);
        if (!sf->have_last)
                return gp_ctl_verdict(EXIT_UNKNOWN, name, "no run yet (daemon started %s)",
                                      gp_ctl_format_ago(ago, sizeof(ago), sf->daemon_started_at, now));
        /* Both ways: a status from the future is as untrustworthy as an old one. */
        if ((now > sf->updated_at ? now - sf->updated_at : sf->updated_at - now) > max_age)
                return gp_ctl_verdict(EXIT_UNKNOWN, name,
                                      "status updated %s, not within --max-age %s (is gpprobed running?)",
                                      gp_ctl_format_ago(ago, sizeof(ago), sf->updated_at, now), lim);
        if ((now > l->finished_at ? now - l->finished_at : l->finished_at - now) > max_age)
                return gp_ctl_verdict(EXIT_UNKNOWN, name, "last run finished %s, not within --max-age %s",
                                      gp_ctl_format_ago(ago, sizeof(ago), l->finished_at, now), lim);
        gp_ctl_format_ago(ago, sizeof(ago), l->finished_at, now);
        if (sf->alerting)
                return gp_ctl_verdict(EXIT_CLOSED, name,
                                      "alerting after %u consecutive failures; last run %s %s: %s: %s",
                                      sf->consecutive_failures, gp_sf_result_to_string(l->result), ago,
                                      strempty(l->code), strempty(l->reason));
        if (a->require_last_pass && l->result == GP_SF_FAIL)
                return gp_ctl_verdict(EXIT_CLOSED, name, "last run failed %s (stage %s): %s: %s", ago,
                                      l->stage ? l->stage : "-", strempty(l->code), strempty(l->reason));
        if (a->require_last_pass && l->result == GP_SF_DEGRADED && !a->allow_degraded)
                return gp_ctl_verdict(EXIT_CLOSED, name,
                                      "last run degraded %s: %s: %s (--allow-degraded accepts it)",
                                      ago, strempty(l->code), strempty(l->reason));
        if (check_ratio) {
                if (a->window > 0 && gp_status_file_ratio(sf, a->window, &ratio, &runs) < 0)
                        return gp_ctl_verdict(EXIT_UNKNOWN, name,
                                              "no runs in the history to compute a success ratio");
                if (runs == 0)
                        return gp_ctl_verdict(EXIT_UNKNOWN, name,
                                              "no runs in the window to compute a success ratio");
                /* The epsilon keeps 19/20 from falling below 0.95 by a rounding error. */
                if (ratio + 1e-9 < min_ratio)
                        return gp_ctl_verdict(EXIT_CLOSED, name,
                                              "success ratio %s over the last %zu runs is below %s",
                                              gp_ctl_format_percent(pct, sizeof(pct), ratio), runs,
                                              gp_ctl_format_percent(want, sizeof(want), min_ratio));
        }
        return gp_ctl_verdict(EXIT_OPEN, name,
                              "last run %s %s, took %s; %s of the last %zu runs succeeded; not alerting",
                              gp_sf_result_to_string(l->result), ago,
                              gp_ctl_format_ms(took, sizeof(took), l->duration_ms),
                              gp_ctl_format_percent(pct, sizeof(pct), ratio), runs);
}

int gp_ctl_gate(const gp_ctl_args *a) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *err = NULL;

        if (a->n_names != 1)
                return gp_ctl_usage_error("gate", "expects exactly one probe NAME");
        if (gp_ctl_load_status(a, a->names[0], &sf, &err) < 0)
                return gp_ctl_verdict(EXIT_UNKNOWN, a->names[0], "%s", err ? err : "out of memory");
        return gate_decide(a, a->names[0], sf, now_usec(CLOCK_REALTIME));
}
