/* SPDX-License-Identifier: MIT */
/* gpprobectl: reads gpprobed's status files (SPEC section 5) for people and deploy gates. It never
 * talks to the daemon, and it fails closed: whatever it cannot read or trust is "unknown" (exit 2),
 * never "open". */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <sys/inotify.h>

#include "config.h"
#include "gp-build.h"
#include "statusfile-read.h"
#include "util.h"

#define EXIT_OPEN 0
#define EXIT_CLOSED 1
#define EXIT_UNKNOWN 2
#define EXIT_USAGE 64

#define DEFAULT_STATUS_DIR "/run/gpprobe"
#define DEFAULT_WAIT_TIMEOUT (10 * 60 * USEC_PER_SEC)
#define MAX_AGE_INTERVALS 3
/* While the status directory does not exist (the daemon not started yet), look again this often. */
#define DIR_RETRY_USEC (1 * USEC_PER_SEC)

enum {
        OPT_STATUS_DIR = 0x100,
        OPT_JSON,
        OPT_MAX_AGE,
        OPT_WINDOW,
        OPT_MIN_RATIO,
        OPT_REQUIRE_LAST_PASS,
        OPT_ALLOW_DEGRADED,
        OPT_PASSES,
        OPT_SINCE,
        OPT_TIMEOUT,
        OPT_LIMIT,
};
#define OPT_BIT(o) (1u << ((o) - OPT_STATUS_DIR))

typedef struct ctl_args {
        const char *command;
        const char *status_dir;
        bool json;
        usec_t max_age;           /* 0: MAX_AGE_INTERVALS × the file's interval */
        unsigned window;          /* 0: the file's window */
        double min_ratio;         /* < 0: not given */
        bool require_last_pass;
        bool allow_degraded;
        unsigned passes;          /* 0: not given */
        const char *since;
        usec_t timeout;
        unsigned limit;           /* 0: all */
        char **names;
        size_t n_names;
} ctl_args;

static void help(void) {
        printf("Usage: gpprobectl [--status-dir DIR] COMMAND ...\n"
               "\n"
               "Reads gpprobed's status files (DIR/NAME.json) for people and deploy gates.\n"
               "\n"
               "  status [NAME...] [--json]      one line per probe (every DIR/*.json without NAME)\n"
               "  gate NAME [--max-age DUR] [--window N] [--min-success-ratio R]\n"
               "            [--require-last-pass] [--allow-degraded]\n"
               "                                 exit 0 open, 1 closed, 2 unknown (missing, corrupt, stale)\n"
               "  wait NAME --passes N [--since now|RFC3339] [--timeout DUR] [--allow-degraded]\n"
               "                                 block until N consecutive passes of runs started since;\n"
               "                                 exit 0 reached, 1 failing or timed out, 2 no usable status\n"
               "  history NAME [--limit N] [--json]\n"
               "                                 the runs in the window, newest first\n"
               "\n"
               "      --status-dir DIR  default $GPPROBE_STATUS_DIR, else %s\n"
               "      --version         print the version\n"
               "  -h, --help            this text\n"
               "\n"
               "--max-age defaults to %d x the probe's interval; --min-success-ratio (0.95 or 95%%)\n"
               "defaults to 1 when only --window is given, and is not checked when neither is.\n"
               "Usage errors exit 64. See gpprobectl(1).\n", DEFAULT_STATUS_DIR, MAX_AGE_INTERVALS);
}

static int usage_error(const char *command, const char *fmt, ...) _printf_(2, 3);
static int usage_error(const char *command, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "gpprobectl%s%s: ", command ? " " : "", strempty(command));
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'gpprobectl --help'.\n");
        return EXIT_USAGE;
}

static int unknown_option(const char *command, char *argv[]) {
        if (optopt > 0 && optopt < 0x80)
                return usage_error(command, "unknown option '-%c'", optopt);
        return usage_error(command, "unknown option '%s'", argv[optind - 1]);
}

/* The one line a gate or a wait ends with, on stdout; returns the exit code. */
static int verdict(int code, const char *name, const char *fmt, ...) _printf_(3, 4);
static int verdict(int code, const char *name, const char *fmt, ...) {
        va_list ap;

        printf("%s: %s: ", code == EXIT_OPEN ? "open" : code == EXIT_CLOSED ? "closed" : "unknown", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
        return code;
}

/* "12s ago", "1.5s ago", "350ms ago", "in 3s" (a clock ahead of ours). */
static char *format_ago(char *buf, size_t len, usec_t t, usec_t now) {
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

static char *format_ms(char *buf, size_t len, double ms) {
        if (ms < 0)
                snprintf(buf, len, "-");
        else
                format_duration(buf, len, (usec_t) llround(ms * (double) USEC_PER_MSEC));
        return buf;
}

/* Rounded down, so that 99.96% of successes never reads as 100%. */
static char *format_percent(char *buf, size_t len, double ratio) {
        double tenths = floor(ratio * 1000 + 1e-6);

        if (fmod(tenths, 10) == 0)
                snprintf(buf, len, "%.0f%%", tenths / 10);
        else
                snprintf(buf, len, "%.1f%%", tenths / 10);
        return buf;
}

/* "0.95", "1", "95%": a ratio in [0, 1]. */
static int parse_ratio(const char *s, double *ret) {
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

static bool name_is_valid(const char *name) {
        return !isempty(name) && name[0] != '.' && !strchr(name, '/') && strlen(name) <= 250;
}

static char *status_path(const ctl_args *a, const char *name) {
        return strdup_printf("%s/%s.json", a->status_dir, name);
}

static int parse_command_args(ctl_args *a, int argc, char *argv[], unsigned allowed) {
        static const struct option options[] = {
                { "status-dir", required_argument, NULL, OPT_STATUS_DIR },
                { "json", no_argument, NULL, OPT_JSON },
                { "max-age", required_argument, NULL, OPT_MAX_AGE },
                { "window", required_argument, NULL, OPT_WINDOW },
                { "min-success-ratio", required_argument, NULL, OPT_MIN_RATIO },
                { "require-last-pass", no_argument, NULL, OPT_REQUIRE_LAST_PASS },
                { "allow-degraded", no_argument, NULL, OPT_ALLOW_DEGRADED },
                { "passes", required_argument, NULL, OPT_PASSES },
                { "since", required_argument, NULL, OPT_SINCE },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                { "limit", required_argument, NULL, OPT_LIMIT },
                { "help", no_argument, NULL, 'h' },
                {0}
        };
        const char *cmd = a->command;
        int c, idx;

        optind = 0;  /* GNU: reinitialise for the command's own argv */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, &idx)) >= 0) {
                if (c >= OPT_STATUS_DIR && !(allowed & OPT_BIT(c)))
                        return usage_error(cmd, "--%s is not an option of %s", options[idx].name, cmd);
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case OPT_STATUS_DIR:
                        if (isempty(optarg))
                                return usage_error(cmd, "--status-dir needs a directory");
                        a->status_dir = optarg;
                        break;
                case OPT_JSON:
                        a->json = true;
                        break;
                case OPT_MAX_AGE:
                        if (gp_parse_duration(optarg, &a->max_age) < 0 || a->max_age == 0)
                                return usage_error(cmd, "--max-age: '%s' is not a positive duration "
                                                   "(e.g. 90s, 5min)", optarg);
                        break;
                case OPT_WINDOW:
                        if (gp_parse_unsigned(optarg, 1, 1000000, &a->window) < 0)
                                return usage_error(cmd, "--window: '%s' is not a number of runs >= 1", optarg);
                        break;
                case OPT_MIN_RATIO:
                        if (parse_ratio(optarg, &a->min_ratio) < 0)
                                return usage_error(cmd, "--min-success-ratio: '%s' is not a ratio between 0 "
                                                   "and 1 (e.g. 0.95 or 95%%)", optarg);
                        break;
                case OPT_REQUIRE_LAST_PASS:
                        a->require_last_pass = true;
                        break;
                case OPT_ALLOW_DEGRADED:
                        a->allow_degraded = true;
                        break;
                case OPT_PASSES:
                        if (gp_parse_unsigned(optarg, 1, 100000, &a->passes) < 0)
                                return usage_error(cmd, "--passes: '%s' is not a number >= 1", optarg);
                        break;
                case OPT_SINCE: {
                        usec_t t;
                        if (!streq(optarg, "now") && parse_rfc3339(optarg, &t) < 0)
                                return usage_error(cmd, "--since: '%s' is neither 'now' nor an RFC 3339 time "
                                                   "(e.g. 2026-11-25T16:00:00Z)", optarg);
                        a->since = optarg;
                        break;
                }
                case OPT_TIMEOUT:
                        if (gp_parse_duration(optarg, &a->timeout) < 0 || a->timeout == 0)
                                return usage_error(cmd, "--timeout: '%s' is not a positive duration", optarg);
                        break;
                case OPT_LIMIT:
                        if (gp_parse_unsigned(optarg, 1, UINT32_MAX, &a->limit) < 0)
                                return usage_error(cmd, "--limit: '%s' is not a number >= 1", optarg);
                        break;
                case ':':
                        return usage_error(cmd, "%s needs a value", argv[optind - 1]);
                default:
                        return unknown_option(cmd, argv);
                }
        }
        a->names = argv + optind;
        a->n_names = (size_t) (argc - optind);
        for (size_t i = 0; i < a->n_names; i++)
                if (!name_is_valid(a->names[i]))
                        return usage_error(cmd, "'%s' is not a probe name (no '/', no leading '.')",
                                           a->names[i]);
        return -1;  /* parsed: go on */
}

/* status */

static int compare_names(const void *x, const void *y) {
        return strcmp(*(char * const *) x, *(char * const *) y);
}

static char **list_probes(const char *dir, int *ret_errno) {
        _cleanup_strv_free_ char **names = NULL;
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d) {
                *ret_errno = errno;
                return NULL;
        }
        while ((errno = 0, de = readdir(d))) {
                size_t n = strlen(de->d_name);

                /* The daemon's temporary files start with a dot or do not end in .json. */
                if (de->d_name[0] == '.' || n <= 5 || !streq(de->d_name + n - 5, ".json"))
                        continue;
                if (strv_consume(&names, strndup(de->d_name, n - 5)) < 0) {
                        closedir(d);
                        *ret_errno = ENOMEM;
                        return NULL;
                }
        }
        closedir(d);
        if (!names && !(names = calloc(1, sizeof(char *)))) {
                *ret_errno = ENOMEM;
                return NULL;
        }
        qsort(names, strv_length(names), sizeof(char *), compare_names);
        return TAKE_PTR(names);
}

static void print_status_line(const char *name, const gp_status_file *sf, usec_t now) {
        char ago[64], took[64], pct[16];

        if (!sf->have_last) {
                printf("%s: no run yet (daemon started %s)\n", name,
                       format_ago(ago, sizeof(ago), sf->daemon_started_at, now));
                return;
        }
        printf("%s: %s %s, took %s", name, gp_sf_result_to_string(sf->last.result),
               format_ago(ago, sizeof(ago), sf->last.finished_at, now),
               format_ms(took, sizeof(took), sf->last.duration_ms));
        if (sf->last.result != GP_SF_PASS)
                printf(" (%s: %s)", strempty(sf->last.code), strempty(sf->last.reason));
        printf("; %s of %u runs succeeded; %u consecutive failure%s%s\n",
               format_percent(pct, sizeof(pct), sf->success_ratio), sf->window_runs, sf->consecutive_failures,
               sf->consecutive_failures == 1 ? "" : "s", sf->alerting ? "; ALERTING" : "");
}

static json_t *time_or_null(usec_t t, bool set) {
        char buf[32];

        return set ? json_string(format_rfc3339(buf, sizeof(buf), t)) : json_null();
}

static json_t *string_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

static json_t *status_json(const char *name, const char *path, const gp_status_file *sf, const char *error,
                           usec_t now) {
        const gp_sf_last *l = sf ? &sf->last : NULL;
        bool last = sf && sf->have_last;

        if (!sf)
                return json_pack("{s:s, s:s, s:b, s:s}", "name", name, "path", path, "valid", false,
                                 "error", strempty(error));
        return json_pack("{s:s, s:s, s:b, s:n, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:f, s:I, s:I, "
                         "s:I, s:b}",
                         "name", name, "path", path, "valid", true, "error",
                         "updated_at", time_or_null(sf->updated_at, true),
                         "result", last ? json_string(gp_sf_result_to_string(l->result)) : json_null(),
                         "code", string_or_null(last ? l->code : NULL),
                         "reason", string_or_null(last ? l->reason : NULL),
                         "started_at", time_or_null(l->started_at, last),
                         "finished_at", time_or_null(l->finished_at, last),
                         "age_ms", last ? json_real(((double) now - (double) l->finished_at) / 1000.0)
                                        : json_null(),
                         "duration_ms", last && l->duration_ms >= 0 ? json_real(l->duration_ms) : json_null(),
                         "window_runs", json_integer(sf->window_runs),
                         "success_ratio", sf->success_ratio,
                         "consecutive_failures", (json_int_t) sf->consecutive_failures,
                         "consecutive_passes", (json_int_t) sf->consecutive_passes,
                         "interval_ms", (json_int_t) (sf->interval / USEC_PER_MSEC),
                         "alerting", sf->alerting);
}

static int dump_json(json_t *j) {
        if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) < 0) {
                json_decref(j);
                fprintf(stderr, "gpprobectl: out of memory\n");
                return EXIT_UNKNOWN;
        }
        putchar('\n');
        json_decref(j);
        return 0;
}

static int cmd_status(ctl_args *a) {
        _cleanup_strv_free_ char **scanned = NULL;
        char * const *names = a->names;
        size_t n = a->n_names;
        usec_t now = now_usec(CLOCK_REALTIME);
        json_t *array = NULL;
        bool bad = false;

        if (n == 0) {
                int e = 0;

                scanned = list_probes(a->status_dir, &e);
                if (!scanned) {
                        fprintf(stderr, "gpprobectl: %s: %s\n", a->status_dir, strerror(e));
                        return EXIT_UNKNOWN;
                }
                names = scanned;
                n = strv_length(scanned);
                if (n == 0) {
                        fprintf(stderr, "gpprobectl: no status files in %s\n", a->status_dir);
                        bad = true;
                }
        }
        if (a->json && !(array = json_array()))
                return EXIT_UNKNOWN;
        for (size_t i = 0; i < n; i++) {
                _cleanup_status_file_ gp_status_file *sf = NULL;
                _cleanup_free_ char *path = status_path(a, names[i]), *err = NULL;

                if (!path) {
                        json_decref(array);
                        return EXIT_UNKNOWN;
                }
                if (gp_status_file_load(path, &sf, &err) < 0)
                        bad = true;
                if (array)
                        json_array_append_new(array, status_json(names[i], path, sf, err, now));
                else if (!sf)
                        printf("%s: unknown: %s\n", names[i], err ? err : "out of memory");
                else
                        print_status_line(names[i], sf, now);
        }
        if (array && dump_json(array) != 0)
                return EXIT_UNKNOWN;
        fflush(stdout);
        return bad ? EXIT_UNKNOWN : 0;
}

/* gate */

static int gate_decide(const ctl_args *a, const char *name, const gp_status_file *sf, usec_t now) {
        const gp_sf_last *l = &sf->last;
        usec_t max_age = a->max_age > 0 ? a->max_age : MAX_AGE_INTERVALS * sf->interval;
        char ago[64], lim[64], took[64], pct[16], want[16];
        bool check_ratio = a->window > 0 || a->min_ratio >= 0;
        double min_ratio = a->min_ratio >= 0 ? a->min_ratio : 1.0;
        double ratio = sf->success_ratio;
        size_t runs = sf->window_runs;

        format_duration(lim, sizeof(lim), max_age);
        if (!sf->have_last)
                return verdict(EXIT_UNKNOWN, name, "no run yet (daemon started %s)",
                               format_ago(ago, sizeof(ago), sf->daemon_started_at, now));
        /* Both ways: a status from the future is as untrustworthy as an old one. */
        if ((now > sf->updated_at ? now - sf->updated_at : sf->updated_at - now) > max_age)
                return verdict(EXIT_UNKNOWN, name, "status updated %s, not within --max-age %s (is gpprobed running?)",
                               format_ago(ago, sizeof(ago), sf->updated_at, now), lim);
        if ((now > l->finished_at ? now - l->finished_at : l->finished_at - now) > max_age)
                return verdict(EXIT_UNKNOWN, name, "last run finished %s, not within --max-age %s",
                               format_ago(ago, sizeof(ago), l->finished_at, now), lim);
        format_ago(ago, sizeof(ago), l->finished_at, now);
        if (sf->alerting)
                return verdict(EXIT_CLOSED, name, "alerting after %u consecutive failures; last run %s %s: %s: %s",
                               sf->consecutive_failures, gp_sf_result_to_string(l->result), ago,
                               strempty(l->code), strempty(l->reason));
        if (a->require_last_pass && l->result == GP_SF_FAIL)
                return verdict(EXIT_CLOSED, name, "last run failed %s (stage %s): %s: %s", ago,
                               l->stage ? l->stage : "-", strempty(l->code), strempty(l->reason));
        if (a->require_last_pass && l->result == GP_SF_DEGRADED && !a->allow_degraded)
                return verdict(EXIT_CLOSED, name, "last run degraded %s: %s: %s (--allow-degraded accepts it)",
                               ago, strempty(l->code), strempty(l->reason));
        if (check_ratio) {
                if (a->window > 0 && gp_status_file_ratio(sf, a->window, &ratio, &runs) < 0)
                        return verdict(EXIT_UNKNOWN, name, "no runs in the history to compute a success ratio");
                if (runs == 0)
                        return verdict(EXIT_UNKNOWN, name, "no runs in the window to compute a success ratio");
                /* The epsilon keeps 19/20 from falling below 0.95 by a rounding error. */
                if (ratio + 1e-9 < min_ratio)
                        return verdict(EXIT_CLOSED, name, "success ratio %s over the last %zu runs is below %s",
                                       format_percent(pct, sizeof(pct), ratio), runs,
                                       format_percent(want, sizeof(want), min_ratio));
        }
        return verdict(EXIT_OPEN, name, "last run %s %s, took %s; %s of the last %zu runs succeeded; not alerting",
                       gp_sf_result_to_string(l->result), ago, format_ms(took, sizeof(took), l->duration_ms),
                       format_percent(pct, sizeof(pct), ratio), runs);
}

static int cmd_gate(ctl_args *a) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *path = NULL, *err = NULL;

        if (a->n_names != 1)
                return usage_error("gate", "expects exactly one probe NAME");
        path = status_path(a, a->names[0]);
        if (!path)
                return EXIT_UNKNOWN;
        if (gp_status_file_load(path, &sf, &err) < 0)
                return verdict(EXIT_UNKNOWN, a->names[0], "%s", err ? err : "out of memory");
        return gate_decide(a, a->names[0], sf, now_usec(CLOCK_REALTIME));
}

/* wait */

typedef struct waiter {
        const ctl_args *args;
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
        if (w->wd >= 0)
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

        if (gp_status_file_load(w->path, &sf, &err) < 0) {
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
                return verdict(EXIT_OPEN, w->name, "%u consecutive passes since %s", passes, w->since_str);
        if (reset) {
                /* The next run starts no earlier than an interval after the newest one. This assumes the
                 * schedule; a run started by hand (SIGUSR1) could be quicker, but not a whole streak. */
                usec_t newest = sf->history[sf->n_history - 1].started_at;
                usec_t earliest = newest + (usec_t) (n - passes) * sf->interval;

                if (earliest > w->deadline_rt)
                        return verdict(EXIT_CLOSED, w->name,
                                       "run started %s was %s (%s); %u more passes at one per %s cannot finish "
                                       "before the timeout", format_rfc3339(when, sizeof(when), reset->started_at),
                                       gp_sf_result_to_string(reset->result), strempty(reset->code), n - passes,
                                       format_duration(every, sizeof(every), sf->interval));
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
                return verdict(EXIT_UNKNOWN, w->name, "timed out without a usable status: %s",
                               w->error ? w->error : "no status file");
        return verdict(EXIT_CLOSED, w->name, "timed out with %u/%u passes since %s", w->passes, w->args->passes,
                       w->since_str);
}

static int cmd_wait(ctl_args *a) {
        waiter w = { .args = a, .inotify_fd = -EBADF, .wd = -1 };
        usec_t timeout = a->timeout > 0 ? a->timeout : DEFAULT_WAIT_TIMEOUT;
        int r = -1;

        if (a->n_names != 1)
                return usage_error("wait", "expects exactly one probe NAME");
        if (a->passes == 0)
                return usage_error("wait", "--passes N is required");
        w.name = a->names[0];
        w.since = now_usec(CLOCK_REALTIME);
        if (a->since && !streq(a->since, "now"))
                (void) parse_rfc3339(a->since, &w.since);  /* validated while parsing */
        format_rfc3339(w.since_str, sizeof(w.since_str), w.since);
        w.deadline = add_sat(now_usec(CLOCK_MONOTONIC), timeout);
        w.deadline_rt = add_sat(now_usec(CLOCK_REALTIME), timeout);
        w.path = status_path(a, w.name);
        w.file = strdup_printf("%s.json", w.name);
        w.inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (!w.path || !w.file || w.inotify_fd < 0) {
                fprintf(stderr, "gpprobectl wait: %s\n", strerror(w.inotify_fd < 0 ? errno : ENOMEM));
                waiter_done(&w);
                return EXIT_UNKNOWN;
        }
        /* Watch first, then look: a rename between the two is not missed. */
        waiter_watch(&w);
        r = waiter_check(&w);
        while (r < 0) {
                struct pollfd p = { .fd = w.inotify_fd, .events = POLLIN };
                usec_t now = now_usec(CLOCK_MONOTONIC), left;
                int n;

                if (now >= w.deadline) {
                        r = waiter_timeout(&w);
                        break;
                }
                left = w.deadline - now;
                if (w.wd < 0)
                        left = MIN(left, DIR_RETRY_USEC);
                n = poll(&p, 1, (int) MIN(left / USEC_PER_MSEC + 1, (usec_t) INT32_MAX));
                if (n < 0 && errno != EINTR) {
                        fprintf(stderr, "gpprobectl wait: poll: %s\n", strerror(errno));
                        r = EXIT_UNKNOWN;
                        break;
                }
                if (w.wd < 0) {
                        waiter_watch(&w);
                        if (w.wd >= 0 || !w.valid)
                                r = waiter_check(&w);
                }
                if (r < 0 && n > 0 && waiter_read_events(&w)) {
                        waiter_watch(&w);
                        r = waiter_check(&w);
                }
        }
        waiter_done(&w);
        return r;
}

/* history */

static int cmd_history(ctl_args *a) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *path = NULL, *err = NULL;
        json_t *array = NULL, *entries;
        size_t shown = 0;

        if (a->n_names != 1)
                return usage_error("history", "expects exactly one probe NAME");
        path = status_path(a, a->names[0]);
        if (!path)
                return EXIT_UNKNOWN;
        if (gp_status_file_load(path, &sf, &err) < 0) {
                fprintf(stderr, "gpprobectl history: %s\n", err ? err : "out of memory");
                return EXIT_UNKNOWN;
        }
        entries = json_object_get(sf->root, "history");
        if (a->json && !(array = json_array()))
                return EXIT_UNKNOWN;
        for (size_t i = sf->n_history; i-- > 0 && (a->limit == 0 || shown < a->limit); shown++) {
                const gp_sf_entry *e = &sf->history[i];
                char when[32], took[64];

                if (array) {
                        /* Validated above: the writer's own object, as it wrote it. */
                        json_array_append(array, json_array_get(entries, i));
                        continue;
                }
                printf("%-24s  %-8s  %9s%s%s\n", format_rfc3339(when, sizeof(when), e->started_at),
                       gp_sf_result_to_string(e->result), format_ms(took, sizeof(took), e->duration_ms),
                       e->code ? "  " : "", strempty(e->code));
        }
        if (array)
                return dump_json(array);
        fflush(stdout);
        return 0;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "status-dir", required_argument, NULL, 'd' },
                { "version", no_argument, NULL, 'V' },
                { "help", no_argument, NULL, 'h' },
                {0}
        };
        static const struct {
                const char *name;
                int (*run)(ctl_args *a);
                unsigned options;
        } commands[] = {
                { "status", cmd_status, OPT_BIT(OPT_JSON) },
                { "gate", cmd_gate, OPT_BIT(OPT_MAX_AGE) | OPT_BIT(OPT_WINDOW) | OPT_BIT(OPT_MIN_RATIO) |
                                    OPT_BIT(OPT_REQUIRE_LAST_PASS) | OPT_BIT(OPT_ALLOW_DEGRADED) },
                { "wait", cmd_wait, OPT_BIT(OPT_PASSES) | OPT_BIT(OPT_SINCE) | OPT_BIT(OPT_TIMEOUT) |
                                    OPT_BIT(OPT_ALLOW_DEGRADED) },
                { "history", cmd_history, OPT_BIT(OPT_LIMIT) | OPT_BIT(OPT_JSON) },
        };
        ctl_args a = { .min_ratio = -1 };
        int c;

        a.status_dir = getenv("GPPROBE_STATUS_DIR");
        if (isempty(a.status_dir))
                a.status_dir = DEFAULT_STATUS_DIR;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (c) {
                case 'd':
                        if (isempty(optarg))
                                return usage_error(NULL, "--status-dir needs a directory");
                        a.status_dir = optarg;
                        break;
                case 'V':
                        printf("gpprobectl %s\n", GP_VERSION);
                        return 0;
                case 'h':
                        help();
                        return 0;
                case ':':
                        return usage_error(NULL, "%s needs a value", argv[optind - 1]);
                default:
                        return unknown_option(NULL, argv);
                }
        if (optind >= argc)
                return usage_error(NULL, "missing COMMAND (status, gate, wait, history)");
        a.command = argv[optind];
        for (size_t i = 0; i < ELEMENTSOF(commands); i++) {
                int r;

                if (!streq(a.command, commands[i].name))
                        continue;
                r = parse_command_args(&a, argc - optind, argv + optind,
                                       commands[i].options | OPT_BIT(OPT_STATUS_DIR));
                if (r >= 0)
                        return r;
                return commands[i].run(&a);
        }
        return usage_error(NULL, "unknown command '%s'", a.command);
}
