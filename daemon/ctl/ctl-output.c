/* SPDX-License-Identifier: MIT */
/* What every gpprobectl command prints with: usage errors, the verdict line, times, durations,
 * ratios and JSON. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

#include "ctl-internal.h"

int gp_ctl_usage_error(const char *command, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "gpprobectl%s%s: ", command ? " " : "", strempty(command));
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'gpprobectl --help'.\n");
        return EXIT_USAGE;
}

/* What the verdict lines of this process end with (gp_ctl_verdict_note), or NULL. */
static char *verdict_note = NULL;

void gp_ctl_verdict_note(const char *note) {
        free(verdict_note);
        verdict_note = note ? strdup(note) : NULL;
}

int gp_ctl_verdict(int code, const char *name, const char *fmt, ...) {
        va_list ap;

        printf("%s: %s: ", code == EXIT_OPEN ? "open" : code == EXIT_CLOSED ? "closed" : "unknown", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        if (verdict_note)
                printf(" (%s)", verdict_note);
        putchar('\n');
        fflush(stdout);
        return code;
}

/* "12s ago", "1.5s ago", "350ms ago", "in 3s" (a clock ahead of ours). */
char *gp_ctl_format_ago(char *buf, size_t len, usec_t t, usec_t now) {
        usec_t delta = t > now ? t - now : now - t;
        char d[64];

        if (delta >= 60 * USEC_PER_SEC)
                delta -= delta % USEC_PER_SEC;
        else if (delta >= USEC_PER_SEC)
                delta -= delta % (100 * USEC_PER_MSEC);
        else
                delta -= delta % USEC_PER_MSEC;
        format_duration(d, sizeof(d), delta);
        snprintf(buf, len, t > now ? "in %s" : "%s ago", d);
        return buf;
}

char *gp_ctl_format_ms(char *buf, size_t len, double ms) {
        if (ms < 0)
                snprintf(buf, len, "-");
        else
                format_duration(buf, len, (usec_t) llround(ms * (double) USEC_PER_MSEC));
        return buf;
}

/* Rounded down, so that 99.96% of successes never reads as 100%. */
char *gp_ctl_format_percent(char *buf, size_t len, double ratio) {
        double tenths = floor(ratio * 1000 + 1e-6);

        if (fmod(tenths, 10) == 0)
                snprintf(buf, len, "%.0f%%", tenths / 10);
        else
                snprintf(buf, len, "%.1f%%", tenths / 10);
        return buf;
}

char *gp_ctl_silence_note(const gp_status_file *sf, usec_t now) {
        char until[32];

        if (!gp_status_file_silenced(sf, now))
                return NULL;
        return strdup_printf("silenced until %s%s%s: %s", format_rfc3339(until, sizeof(until), sf->silence_until),
                             sf->silence_by ? " by " : "", strempty(sf->silence_by), sf->silence_reason);
}

char *gp_ctl_status_path(const gp_ctl_args *a, const char *name) {
        return strdup_printf("%s/%s.json", a->status_dir, name);
}

int gp_ctl_dump_json(json_t *j) {
        if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) < 0) {
                json_decref(j);
                fprintf(stderr, "gpprobectl: out of memory\n");
                return EXIT_UNKNOWN;
        }
        putchar('\n');
        json_decref(j);
        return 0;
}
