/* SPDX-License-Identifier: MIT */
/* The gate's decision (gate.h), moved here from ctl-gate.c unchanged in its wording, so that
 * gpprobed's GET /gate answers with the same verdicts and the same reasons. */
#include <errno.h>
#include <math.h>

#include "ctl-internal.h"
#include "gate.h"

const char *gp_gate_verdict_to_string(gp_gate_verdict v) {
        return v == GP_GATE_OPEN ? "open" : v == GP_GATE_CLOSED ? "closed" : "unknown";
}

static int verdict(gp_gate_verdict v, gp_gate_verdict *ret, char **ret_reason, const char *fmt, ...)
        _printf_(4, 5);
static int verdict(gp_gate_verdict v, gp_gate_verdict *ret, char **ret_reason, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        *ret_reason = strdup_vprintf(fmt, ap);
        va_end(ap);
        if (!*ret_reason)
                return -ENOMEM;
        *ret = v;
        return 0;
}

int gp_gate_decide(const gp_status_file *sf, const gp_gate_options *o, usec_t now, gp_gate_verdict *ret,
                   char **ret_reason) {
        const gp_sf_last *l = &sf->last;
        usec_t max_age = o->max_age > 0 ? o->max_age : MAX_AGE_INTERVALS * sf->interval;
        char ago[64], lim[64], took[64], pct[16], want[16];
        bool check_ratio = o->window > 0 || o->min_ratio >= 0;
        double min_ratio = o->min_ratio >= 0 ? o->min_ratio : 1.0;
        double ratio = sf->success_ratio;
        size_t runs = sf->window_runs;

        format_duration(lim, sizeof(lim), max_age);
        if (!sf->have_last)
                return verdict(GP_GATE_UNKNOWN, ret, ret_reason, "no run yet (daemon started %s)",
                               gp_ctl_format_ago(ago, sizeof(ago), sf->daemon_started_at, now));
        /* Both ways: a status from the future is as untrustworthy as an old one. */
        if ((now > sf->updated_at ? now - sf->updated_at : sf->updated_at - now) > max_age)
                return verdict(GP_GATE_UNKNOWN, ret, ret_reason,
                               "status updated %s, not within --max-age %s (is gpprobed running?)",
                               gp_ctl_format_ago(ago, sizeof(ago), sf->updated_at, now), lim);
        if ((now > l->finished_at ? now - l->finished_at : l->finished_at - now) > max_age)
                return verdict(GP_GATE_UNKNOWN, ret, ret_reason, "last run finished %s, not within --max-age %s",
                               gp_ctl_format_ago(ago, sizeof(ago), l->finished_at, now), lim);
        gp_ctl_format_ago(ago, sizeof(ago), l->finished_at, now);
        if (sf->alerting)
                return verdict(GP_GATE_CLOSED, ret, ret_reason,
                               "alerting after %u consecutive failures; last run %s %s: %s: %s",
                               sf->consecutive_failures, gp_sf_result_to_string(l->result), ago,
                               strempty(l->code), strempty(l->reason));
        if (o->require_last_pass && l->result == GP_SF_FAIL)
                return verdict(GP_GATE_CLOSED, ret, ret_reason, "last run failed %s (stage %s): %s: %s", ago,
                               l->stage ? l->stage : "-", strempty(l->code), strempty(l->reason));
        if (o->require_last_pass && l->result == GP_SF_DEGRADED && !o->allow_degraded)
                return verdict(GP_GATE_CLOSED, ret, ret_reason,
                               "last run degraded %s: %s: %s (--allow-degraded accepts it)",
                               ago, strempty(l->code), strempty(l->reason));
        if (check_ratio) {
                if (o->window > 0 && gp_status_file_ratio(sf, o->window, &ratio, &runs) < 0)
                        return verdict(GP_GATE_UNKNOWN, ret, ret_reason,
                                       "no runs in the history to compute a success ratio");
                if (runs == 0)
                        return verdict(GP_GATE_UNKNOWN, ret, ret_reason,
                                       "no runs in the window to compute a success ratio");
                /* The epsilon keeps 19/20 from falling below 0.95 by a rounding error. */
                if (ratio + 1e-9 < min_ratio)
                        return verdict(GP_GATE_CLOSED, ret, ret_reason,
                                       "success ratio %s over the last %zu runs is below %s",
                                       gp_ctl_format_percent(pct, sizeof(pct), ratio), runs,
                                       gp_ctl_format_percent(want, sizeof(want), min_ratio));
        }
        return verdict(GP_GATE_OPEN, ret, ret_reason,
                       "last run %s %s, took %s; %s of the last %zu runs succeeded; not alerting",
                       gp_sf_result_to_string(l->result), ago, gp_ctl_format_ms(took, sizeof(took), l->duration_ms),
                       gp_ctl_format_percent(pct, sizeof(pct), ratio), runs);
}

int gp_gate_parse_ratio(const char *s, double *ret) {
        size_t n = strspn(s, "0123456789.");
        bool percent = s[n] == '%' && s[n + 1] == '\0';
        _cleanup_free_ char *num = NULL;
        char *end;
        double v;

        if (n == 0 || (s[n] != '\0' && !percent) || !(s[0] >= '0' && s[0] <= '9'))
                return -EINVAL;
        num = strndup(s, n);
        if (!num)
                return -ENOMEM;
        errno = 0;
        v = strtod(num, &end);
        if (errno != 0 || *end != '\0' || !isfinite(v))
                return -EINVAL;
        if (percent)
                v /= 100;
        if (v < 0 || v > 1)
                return -ERANGE;
        *ret = v;
        return 0;
}
