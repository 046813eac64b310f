/* SPDX-License-Identifier: MIT */
/* gpprobectl silence / unsilence (issue 13): a maintenance window, as the file STATE_DIR/NAME.silence
 * that gpprobed watches (model/silence.h). gpprobectl only writes or removes the file; the daemon
 * notices within a second, journals it and shows it in the status file and the metrics. A silence
 * holds back the alert entry and the shipped pages, never the figures or a gate's answer. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <unistd.h>

#include "ctl-internal.h"
#include "fileio.h"
#include "silence.h"

static char *silence_path(const gp_ctl_args *a, const char *name) {
        return strdup_printf("%s/%s.silence", a->state_dir, name);
}

/* Who silences: the user behind sudo, else this one; NULL when unknown or not printable. */
static char *who(void) {
        const char *sudo = getenv("SUDO_USER");
        const struct passwd *pw;
        char *by;

        if (!isempty(sudo))
                by = strdup(sudo);
        else if ((pw = getpwuid(getuid())))
                by = strdup(pw->pw_name);
        else
                by = strdup_printf("uid %u", (unsigned) getuid());
        if (by && gp_silence_text_check("by", by, GP_SILENCE_BY_MAX, NULL) < 0) {
                free(by);
                return NULL;
        }
        return by;
}

/* A probe without a status file may be a misspelt name: said, not refused (the daemon may not
 * have written it yet). */
static void warn_unknown_probe(const gp_ctl_args *a, const char *name) {
        _cleanup_free_ char *status = gp_ctl_status_path(a, name);

        if (status && access(status, F_OK) < 0 && errno == ENOENT)
                fprintf(stderr, "gpprobectl: warning: no status file %s: is '%s' the probe's name?\n", status, name);
}

static void print_silence(const char *name, const gp_silence *z, usec_t now) {
        char until[32], left[64];

        printf("%s: silenced until %s (%s)%s%s: %s\n", name, format_rfc3339(until, sizeof(until), z->until),
               gp_ctl_format_ago(left, sizeof(left), z->until, now), z->by ? " by " : "", strempty(z->by), z->reason);
}

/* `silence NAME` alone: the silence in the file. 0 (silenced or not), 2 when unreadable or bad. */
static int show(const gp_ctl_args *a, const char *name, const char *path) {
        _cleanup_free_ char *data = NULL, *err = NULL;
        _cleanup_silence_ gp_silence *z = NULL;
        usec_t now = now_usec(CLOCK_REALTIME);
        size_t len = 0;
        int r;

        r = gp_read_full_file(path, GP_SILENCE_FILE_MAX, 0, &data, &len, NULL);
        if (r == -ENOENT) {
                printf("%s: not silenced\n", name);
                return 0;
        }
        if (r < 0) {
                fprintf(stderr, "gpprobectl silence: %s: %s\n", path,
                        r == -EBADFD ? "not a regular file" : strerror(-r));
                return EXIT_UNKNOWN;
        }
        r = gp_silence_parse(data, len, now, &z, &err);
        if (r < 0) {
                fprintf(stderr, "gpprobectl silence: %s: invalid, gpprobed ignores it: %s\n", path,
                        err ? err : "out of memory");
                return EXIT_UNKNOWN;
        }
        if (!gp_silence_active(z, now)) {
                char until[32];
                printf("%s: not silenced (the silence until %s has ended)\n", name,
                       format_rfc3339(until, sizeof(until), z->until));
                return 0;
        }
        print_silence(name, z, now);
        return 0;
}

int gp_ctl_silence(const gp_ctl_args *a) {
        _cleanup_free_ char *path = NULL, *err = NULL, *data = NULL, *by = NULL;
        usec_t now = now_usec(CLOCK_REALTIME);
        gp_silence z;
        size_t len = 0;
        char d[64];

        if (a->n_names != 1)
                return gp_ctl_usage_error("silence", "expects exactly one probe NAME");
        if (!a->silence_for != !a->reason)
                return gp_ctl_usage_error("silence", "--for and --reason go together (neither: show the silence)");
        path = silence_path(a, a->names[0]);
        if (!path)
                return EXIT_UNKNOWN;
        if (!a->silence_for)
                return show(a, a->names[0], path);
        if (a->silence_for > GP_SILENCE_MAX_DURATION)
                return gp_ctl_usage_error("silence", "--for: '%s' is longer than 7 days",
                                          format_duration(d, sizeof(d), a->silence_for));
        if (gp_silence_text_check("--reason", a->reason, GP_SILENCE_REASON_MAX, &err) < 0)
                return gp_ctl_usage_error("silence", "%s", err ? err : "out of memory");

        by = who();
        z = (gp_silence) { .until = now + a->silence_for, .created_at = now, .reason = (char *) a->reason, .by = by };
        data = gp_silence_serialize(&z, &len);
        if (!data)
                return EXIT_UNKNOWN;
        /* 0644: gpprobed reads it as its own user (and root's files as nobody under PrivateUsers=). */
        if (gp_write_atomic(path, data, len, 0644, &err) < 0) {
                fprintf(stderr, "gpprobectl silence: %s\n", err ? err : "out of memory");
                return EXIT_CLOSED;
        }
        warn_unknown_probe(a, a->names[0]);
        print_silence(a->names[0], &z, now);
        return 0;
}

int gp_ctl_unsilence(const gp_ctl_args *a) {
        _cleanup_free_ char *path = NULL;

        if (a->n_names != 1)
                return gp_ctl_usage_error("unsilence", "expects exactly one probe NAME");
        path = silence_path(a, a->names[0]);
        if (!path)
                return EXIT_UNKNOWN;
        if (unlink(path) < 0) {
                if (errno == ENOENT) {
                        printf("%s: not silenced\n", a->names[0]);
                        return 0;
                }
                fprintf(stderr, "gpprobectl unsilence: %s: %s\n", path, strerror(errno));
                return EXIT_CLOSED;
        }
        printf("%s: silence lifted\n", a->names[0]);
        return 0;
}
