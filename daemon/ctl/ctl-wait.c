/* SPDX-License-Identifier: MIT */
/* gpprobectl wait: blocks until N consecutive passes of runs started since a time, watching the
 * status directory with inotify; gives up early when the passes cannot come before the timeout. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "ctl-internal.h"

#define DEFAULT_WAIT_TIMEOUT (10 * 60 * USEC_PER_SEC)
/* While the status directory does not exist (the daemon not started yet), look again this often. */
#define DIR_RETRY_USEC (1 * USEC_PER_SEC)
/* With --url there is nothing to watch: ask GET /status this often. */
#define REMOTE_POLL_USEC (1 * USEC_PER_SEC)

typedef struct waiter {
        const gp_ctl_args *args;
        const char *name;
        char *path;
        char *file;               /* NAME.json, as inotify names it */
        usec_t since;
        char since_str[32];
        usec_t deadline;          /* CLOCK_MONOTONIC */
        usec_t deadline_rt;       /* CLOCK_REALTIME, to compare with run times */
        int inotify_fd;
        int wd;                   /* < 0: the directory is not watched (yet) */
        bool valid;               /* the last look found a usable status file */
        char *error;              /* why not, when !valid */
        unsigned passes, runs;    /* as last reported */
        bool reported;
} waiter;

static usec_t add_sat(usec_t a, usec_t b) {
        return a > USEC_INFINITY - 1 - b ? USEC_INFINITY - 1 : a + b;
}

static void waiter_done(waiter *w) {
        free(w->path);
        free(w->file);
        free(w->error);
        if (w->inotify_fd >= 0)
                close(w->inotify_fd);
}

static void waiter_watch(waiter *w) {
        if (w->wd >= 0 || w->inotify_fd < 0)
                return;
        w->wd = inotify_add_watch(w->inotify_fd, w->args->status_dir,
                                  IN_MOVED_TO | IN_CLOSE_WRITE | IN_ONLYDIR | IN_DELETE_SELF | IN_MOVE_SELF);
}

/* Looks at the file once. Returns an exit code when the wait is over, -1 to go on waiting. */
static int waiter_check(waiter *w) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *err = NULL;
        const gp_sf_entry *reset = NULL;
        unsigned passes, runs, n = w->args->passes;
        char when[32], every[64];
        int r;

        r = gp_ctl_load_status(w->args, w->name, &sf, &err);
        if (w->args->url && gp_ctl_error_is_permanent(r))
                return gp_ctl_verdict(EXIT_UNKNOWN, w->name, "%s", err ? err : "out of memory");
        if (r < 0) {
                if (!w->error || !streq_ptr(w->error, err))
                        fprintf(stderr, "gpprobectl wait: %s (still waiting)\n", err ? err : "out of memory");
                free(w->error);
                w->error = TAKE_PTR(err);
                w->valid = false;
                return -1;
        }
        w->valid = true;
        free(w->error);
        w->error = NULL;
        gp_status_file_passes_since(sf, w->since, w->args->allow_degraded, &passes, &runs, &reset);
        if (!w->reported || passes != w->passes || runs != w->runs) {
                if (reset && passes == 0)
                        fprintf(stderr, "0/%u passes since %s (run started %s: %s %s%s)\n", n, w->since_str,
                                format_rfc3339(when, sizeof(when), reset->started_at),
                                gp_sf_result_to_string(reset->result), strempty(reset->code),
                                reset->result == GP_SF_DEGRADED ? "; --allow-degraded counts it" : "");
                else
                        fprintf(stderr, "%u/%u passes since %s\n", MIN(passes, n), n, w->since_str);
                w->passes = passes;
                w->runs = runs;
                w->reported = true;
        }
        if (passes >= n)
                return gp_ctl_verdict(EXIT_OPEN, w->name, "%u consecutive passes since %s", passes,
                                      w->since_str);
        if (reset) {
                /* The next run starts no earlier than an interval after the newest one. This assumes the
                 * schedule; a run started by hand (SIGUSR1) could be quicker, but not a whole streak. */
                usec_t newest = sf->history[sf->n_history - 1].started_at;
                usec_t earliest = newest + (usec_t) (n - passes) * sf->interval;

                if (earliest > w->deadline_rt)
                        return gp_ctl_verdict(EXIT_CLOSED, w->name,
                                              "run started %s was %s (%s); %u more passes at one per %s "
                                              "cannot finish before the timeout",
                                              format_rfc3339(when, sizeof(when), reset->started_at),
                                              gp_sf_result_to_string(reset->result), strempty(reset->code),
                                              n - passes, format_duration(every, sizeof(every), sf->interval));
        }
        return -1;
}

/* Returns true when the file (or the directory itself) changed. */
static bool waiter_read_events(waiter *w) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool changed = false;
        ssize_t n;

        while ((n = read(w->inotify_fd, buf, sizeof(buf))) > 0)
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *e = (const struct inotify_event *) p;

                        if (e->mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
                                changed = true;
                        if (e->mask & IN_IGNORED)
                                w->wd = -1;  /* the directory went away: watch it again when it is back */
                        if (e->len > 0 && streq(e->name, w->file))
                                changed = true;
                        p += sizeof(struct inotify_event) + e->len;
                }
        return changed;
}

static int waiter_timeout(waiter *w) {
        if (!w->valid)
                return gp_ctl_verdict(EXIT_UNKNOWN, w->name, "timed out without a usable status: %s",
                                      w->error ? w->error : "no status file");
        return gp_ctl_verdict(EXIT_CLOSED, w->name, "timed out with %u/%u passes since %s", w->passes,
                              w->args->passes, w->since_str);
}

/* Looks at the file whenever inotify says it changed, until the wait is over; returns the exit code. */
static int waiter_loop(waiter *w) {
        int r;

        /* Watch first, then look: a rename between the two is not missed. */
        waiter_watch(w);
        r = waiter_check(w);
        while (r < 0) {
                struct pollfd p = { .fd = w->inotify_fd, .events = POLLIN };
                usec_t now = now_usec(CLOCK_MONOTONIC), left;
                int n;

                if (now >= w->deadline)
                        return waiter_timeout(w);
                left = w->deadline - now;
                if (w->args->url) {
                        (void) poll(NULL, 0, (int) (MIN(left, REMOTE_POLL_USEC) / USEC_PER_MSEC + 1));
                        r = waiter_check(w);
                        continue;
                }
                if (w->wd < 0)
                        left = MIN(left, DIR_RETRY_USEC);
                n = poll(&p, 1, (int) MIN(left / USEC_PER_MSEC + 1, (usec_t) INT32_MAX));
                if (n < 0 && errno != EINTR) {
                        fprintf(stderr, "gpprobectl wait: poll: %s\n", strerror(errno));
                        return EXIT_UNKNOWN;
                }
                if (w->wd < 0) {
                        waiter_watch(w);
                        if (w->wd >= 0 || !w->valid)
                                r = waiter_check(w);
                }
                if (r < 0 && n > 0 && waiter_read_events(w)) {
                        waiter_watch(w);
                        r = waiter_check(w);
                }
        }
        return r;
}

int gp_ctl_wait(const gp_ctl_args *a) {
        waiter w = { .args = a, .inotify_fd = -EBADF, .wd = -1 };
        usec_t timeout = a->timeout > 0 ? a->timeout : DEFAULT_WAIT_TIMEOUT;
        int r;

        if (a->n_names != 1)
                return gp_ctl_usage_error("wait", "expects exactly one probe NAME");
        if (a->passes == 0)
                return gp_ctl_usage_error("wait", "--passes N is required");
        w.name = a->names[0];
        w.since = now_usec(CLOCK_REALTIME);
        if (a->since && !streq(a->since, "now"))
                (void) parse_rfc3339(a->since, &w.since);  /* validated while parsing */
        format_rfc3339(w.since_str, sizeof(w.since_str), w.since);
        w.deadline = add_sat(now_usec(CLOCK_MONOTONIC), timeout);
        w.deadline_rt = add_sat(now_usec(CLOCK_REALTIME), timeout);
        w.path = gp_ctl_status_path(a, w.name);
        w.file = strdup_printf("%s.json", w.name);
        w.inotify_fd = a->url ? -EBADF : inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (!w.path || !w.file || (!a->url && w.inotify_fd < 0)) {
                fprintf(stderr, "gpprobectl wait: %s\n", strerror(w.inotify_fd < 0 ? errno : ENOMEM));
                waiter_done(&w);
                return EXIT_UNKNOWN;
        }
        r = waiter_loop(&w);
        waiter_done(&w);
        return r;
}
