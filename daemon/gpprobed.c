/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sysexits.h>

#include "config.h"
#include "golden-path.h"
#include "history.h"
#include "manager.h"
#include "gp-build.h"
#include "result.h"
#include "status.h"
#include "transcripts.h"

/* --once exits 0, 1 or 2 with a verdict on staging. Everything else is the probe's own trouble,
 * with a code of its own (sysexits.h) so that a deploy script never reads it as "staging is
 * broken": 64 usage, 78 configuration, 71 the probe could not start or run (out of memory,
 * file descriptors, threads: no verdict), 74 a verdict that could not be written (stdout, an
 * explicit StatusFile=). */
#define EXIT_USAGE EX_USAGE
#define EXIT_OSERR EX_OSERR
#define EXIT_IOERR EX_IOERR
#define EXIT_CONFIG EX_CONFIG
#define DEFAULT_CONFIG GP_SYSCONFDIR "/gpprobe/gpprobe.conf"

typedef enum mode {
        MODE_DAEMON,
        MODE_ONCE,
        MODE_CHECK_CONFIG,
} mode;

/* Users=1000 holds a socket per session. systemd's default soft limit is 1024 (for select()
 * users; this process polls); the hard limit is the administrator's ceiling. Before the
 * engine exists: libwebsockets sizes its fd table from the limit when its context is made. */
static void raise_fd_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
                return;
        rl.rlim_cur = rl.rlim_max;
        (void) setrlimit(RLIMIT_NOFILE, &rl);
}

/* Process-wide allocator settings, made here only (libraries never touch them):
 * - The network thread would get a malloc arena of its own, and with Users=1000 the freed TLS
 *   state of one run sits in it beside the main arena's: one arena for all threads keeps the
 *   peak ~6 MB lower. The threads seldom allocate at the same time.
 * - A hostile server's big message (up to 16 MiB) grows one buffer by realloc. With glibc's
 *   dynamic threshold, freeing that mmap raises the threshold, the next big buffer comes from
 *   the arena, and the process keeps it: 15 MiB held for good after a second 100 MiB frame. A
 *   fixed threshold returns every big buffer when it is freed. */
static void tune_malloc(void) {
        (void) mallopt(M_ARENA_MAX, 1);
        (void) mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
}

static void help(void) {
        printf("Usage: gpprobed [--config FILE] [--once [--json] [--transcript FILE]] [--check-config] [--version]\n"
               "                [--help]\n"
               "\n"
               "Walks a product's golden path (login, WebSocket, agent events) on a schedule and\n"
               "reports each run to the journal, a status file, sd_notify and Prometheus.\n"
               "\n"
               "  -c, --config FILE   configuration (default %s; drop-ins FILE.d/*.conf)\n"
               "      --once          one run in the foreground: trace on stderr, result on stdout;\n"
               "                      exit 0 pass, 1 fail, 2 degraded; 71 could not run,\n"
               "                      74 could not write the result, 78 configuration\n"
               "      --json          with --once: the result as JSON on stdout\n"
               "      --transcript FILE\n"
               "                      with --once: what the run sent and heard, to FILE (mode\n"
               "                      0600), whatever the verdict\n"
               "      --check-config  validate, print the effective configuration (secrets redacted)\n"
               "      --version       print the version\n"
               "  -h, --help          this text\n"
               "\n"
               "See gpprobed(8) and gpprobe.conf(5).\n", DEFAULT_CONFIG);
}

static void trace_stderr(void *ud, usec_t at, const char *line) {
        fprintf(stderr, "[%8.3fs] %s\n", (double) at / USEC_PER_SEC, line);
}

static int load_config(const char *path, gp_config **ret) {
        gp_diags diags = {0};
        int r;

        r = gp_config_load(path, ret, &diags);
        gp_diags_print(&diags, stderr);
        gp_diags_clear(&diags);
        return r;
}

static int config_exit(int r) {
        if (r == -ENOMEM) {
                fprintf(stderr, "gpprobed: out of memory\n");
                return EXIT_OSERR;
        }
        return EXIT_CONFIG;
}

static int print_human(const gp_result *res) {
        char d[32];

        format_duration(d, sizeof(d), res->duration);
        if (res->verdict == GP_VERDICT_PASS)
                printf("pass in %s\n", d);
        else
                printf("%s in %s: %s (stage %s): %s\n", gp_verdict_to_string(res->verdict), d, strempty(res->code),
                       res->stage ? res->stage : "-", strempty(res->reason));
        return 0;
}

/* --once writes a status file only when StatusFile= is set explicitly (SPEC section 3); its
 * history then holds this one run. -EIO when it was asked for and could not be written. */
static int once_write_status(const gp_config *cfg, gp_result *res) {
        _cleanup_free_ char *err = NULL;
        gp_daemon_info d = {
                .version = GP_VERSION,
                .pid = getpid(),
                .started_at = res->started_at,
                .interval = cfg->interval,
        };
        gp_history *h;
        int r = 0;

        if (!cfg->status_file_explicit || res->verdict == GP_VERDICT_CANCELLED)
                return 0;
        h = gp_history_new(cfg->history);
        if (!h || gp_history_record(h, res, cfg->alert_after, cfg->recover_after, NULL) < 0 ||
            gp_status_write(cfg->status_file, cfg, &d, h, res, &err) < 0) {
                fprintf(stderr, "gpprobed: cannot write the status file %s: %s\n", cfg->status_file,
                        err ? err : "out of memory");
                r = -EIO;
        }
        gp_history_free(h);
        return r;
}

/* --transcript FILE: the run's transcript whatever its verdict, for CI to archive. -EIO when it
 * could not be written. */
static int once_write_transcript(const char *file, const gp_config *cfg, const gp_result *res) {
        _cleanup_free_ char *err = NULL;

        if (!file || res->verdict == GP_VERDICT_CANCELLED)
                return 0;
        if (gp_transcript_write_file(file, res, cfg->name, &err) < 0) {
                fprintf(stderr, "gpprobed: cannot write the transcript: %s\n", err ? err : "out of memory");
                return -EIO;
        }
        return 0;
}

static int run_once(const char *path, bool json, const char *transcript) {
        _cleanup_config_ gp_config *cfg = NULL;
        _cleanup_result_ gp_result *res = NULL;
        _cleanup_free_ char *err = NULL;
        gp_engine *engine = NULL;
        int r, status_r;

        r = load_config(path, &cfg);
        if (r < 0)
                return config_exit(r);
        r = gp_engine_new(&engine, &err);
        if (r < 0) {
                fprintf(stderr, "gpprobed: cannot start: %s\n", err ? err : strerror(-r));
                return EXIT_OSERR;
        }
        gp_engine_set_transcripts(engine, transcript ? GP_ENGINE_TRANSCRIPTS_ALWAYS : GP_ENGINE_TRANSCRIPTS_NEVER);
        r = gp_engine_run(engine, cfg, trace_stderr, NULL, &res);
        gp_engine_free(engine);
        if (r < 0) {
                fprintf(stderr, "gpprobed: the run failed: %s\n", strerror(-r));
                return EXIT_OSERR;
        }
        status_r = once_write_status(cfg, res);
        if (once_write_transcript(transcript, cfg, res) < 0)
                status_r = -EIO;
        if (json) {
                json_t *o = gp_result_to_json(res);

                if (!o) {
                        fprintf(stderr, "gpprobed: out of memory\n");
                        return EXIT_OSERR;
                }
                if (json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) == 0)
                        fputc('\n', stdout);
                json_decref(o);
        } else
                print_human(res);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "gpprobed: cannot write the result to stdout: %s\n", strerror(errno));
                return EXIT_IOERR;
        }
        if (status_r < 0)
                return EXIT_IOERR;
        switch (res->verdict) {
        case GP_VERDICT_PASS:
                return 0;
        case GP_VERDICT_DEGRADED:
                return 2;
        default:
                return 1;
        }
}

static int check_config(const char *path) {
        _cleanup_config_ gp_config *cfg = NULL;
        int r = load_config(path, &cfg);

        if (r < 0)
                return config_exit(r);
        gp_config_print(cfg, stdout);
        return 0;
}

static int run_daemon(const char *path) {
        _cleanup_config_ gp_config *cfg = NULL;
        gp_manager *m = NULL;
        int r;

        r = load_config(path, &cfg);
        if (r < 0)
                return config_exit(r);
        r = gp_manager_new(path, cfg, &m);
        if (r < 0) {
                fprintf(stderr, "gpprobed: cannot start: %s\n", strerror(-r));
                return EXIT_OSERR;
        }
        r = gp_manager_run(m);
        gp_manager_free(m);
        if (r < 0) {
                fprintf(stderr, "gpprobed: event loop failed: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        return r;
}

int main(int argc, char *argv[]) {
        enum { ARG_ONCE = 0x100, ARG_JSON, ARG_CHECK, ARG_VERSION, ARG_TRANSCRIPT };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "once", no_argument, NULL, ARG_ONCE },
                { "json", no_argument, NULL, ARG_JSON },
                { "transcript", required_argument, NULL, ARG_TRANSCRIPT },
                { "check-config", no_argument, NULL, ARG_CHECK },
                { "version", no_argument, NULL, ARG_VERSION },
                { "help", no_argument, NULL, 'h' },
                {0}
        };
        const char *path = DEFAULT_CONFIG;
        mode m = MODE_DAEMON;
        const char *transcript = NULL;
        bool json = false;
        int c;

        /* The password and tokens live in this process's memory: never in a core dump. */
        (void) prctl(PR_SET_DUMPABLE, 0);

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        path = optarg;
                        break;
                case ARG_ONCE:
                        if (m == MODE_CHECK_CONFIG)
                                goto conflict;
                        m = MODE_ONCE;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case ARG_TRANSCRIPT:
                        if (isempty(optarg)) {
                                fprintf(stderr, "gpprobed: --transcript needs a file name\n");
                                return EXIT_USAGE;
                        }
                        transcript = optarg;
                        break;
                case ARG_CHECK:
                        if (m == MODE_ONCE)
                                goto conflict;
                        m = MODE_CHECK_CONFIG;
                        break;
                case ARG_VERSION:
                        printf("gpprobed %s\n", GP_VERSION);
                        return 0;
                case 'h':
                        help();
                        return 0;
                default:
                        fprintf(stderr, "Try 'gpprobed --help'.\n");
                        return EXIT_USAGE;
                }
        if (optind < argc) {
                fprintf(stderr, "gpprobed: unexpected argument '%s'\nTry 'gpprobed --help'.\n", argv[optind]);
                return EXIT_USAGE;
        }
        if (json && m != MODE_ONCE) {
                fprintf(stderr, "gpprobed: --json goes with --once\n");
                return EXIT_USAGE;
        }
        if (transcript && m != MODE_ONCE) {
                fprintf(stderr, "gpprobed: --transcript goes with --once\n");
                return EXIT_USAGE;
        }

        /* Process-wide settings, once, before any thread or library context exists. */
        raise_fd_limit();
        tune_malloc();
        gp_engine_setup_process();
        switch (m) {
        case MODE_ONCE:
                return run_once(path, json, transcript);
        case MODE_CHECK_CONFIG:
                return check_config(path);
        case MODE_DAEMON:
                break;
        }
        return run_daemon(path);

conflict:
        fprintf(stderr, "gpprobed: --once and --check-config exclude each other\n");
        return EXIT_USAGE;
}
