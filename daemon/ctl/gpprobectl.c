/* SPDX-License-Identifier: MIT */
/* gpprobectl: reads gpprobed's status files (SPEC section 5), or a gpprobed's HTTPS API (--url), or
 * Prometheus (gate --prometheus), for people and deploy gates; `run` asks the daemon for a run now.
 * It fails closed: whatever it cannot read or trust is "unknown" (exit 2), never "open". Only
 * silence/unsilence write: the one file gpprobed watches for them (ctl-silence.c). This file
 * parses the arguments and runs the command (ctl-<command>.c). */
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "ctl-internal.h"
#include "gate.h"
#include "gp-build.h"

#define DEFAULT_STATUS_DIR "/run/gpprobe"
#define DEFAULT_STATE_DIR "/var/lib/gpprobe"

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
        OPT_STATE_DIR,
        OPT_FOR,
        OPT_REASON,
        OPT_FILE,
        OPT_URL,
        OPT_CACERT,
        OPT_CERT,
        OPT_KEY,
        OPT_TOKEN_FILE,
        OPT_WAIT,
        OPT_PROMETHEUS,
        OPT_MIN_HOSTS,
        OPT_MIN_HOST_RATIO,
        OPT_LOOKBACK,
};
#define OPT_BIT(o) (1u << ((o) - OPT_STATUS_DIR))
/* Every command but gate --prometheus may read a remote gpprobed instead of the directory. */
#define OPT_REMOTE (OPT_BIT(OPT_URL) | OPT_BIT(OPT_CACERT) | OPT_BIT(OPT_CERT) | OPT_BIT(OPT_KEY) | \
                    OPT_BIT(OPT_TOKEN_FILE))

typedef struct ctl_verb {
        const char *name;
        int (*run)(const gp_ctl_args *a);
        unsigned options;         /* OPT_BIT()s of the options the command takes */
} ctl_verb;

static const ctl_verb verbs[] = {
        { "status", gp_ctl_status, OPT_BIT(OPT_JSON) },
        { "gate", gp_ctl_gate, OPT_BIT(OPT_MAX_AGE) | OPT_BIT(OPT_WINDOW) | OPT_BIT(OPT_MIN_RATIO) |
                               OPT_BIT(OPT_REQUIRE_LAST_PASS) | OPT_BIT(OPT_ALLOW_DEGRADED) |
                               OPT_BIT(OPT_PROMETHEUS) | OPT_BIT(OPT_MIN_HOSTS) | OPT_BIT(OPT_MIN_HOST_RATIO) |
                               OPT_BIT(OPT_LOOKBACK) },
        { "wait", gp_ctl_wait, OPT_BIT(OPT_PASSES) | OPT_BIT(OPT_SINCE) | OPT_BIT(OPT_TIMEOUT) |
                               OPT_BIT(OPT_ALLOW_DEGRADED) },
        { "history", gp_ctl_history, OPT_BIT(OPT_LIMIT) | OPT_BIT(OPT_JSON) },
        { "silence", gp_ctl_silence, OPT_BIT(OPT_STATE_DIR) | OPT_BIT(OPT_FOR) | OPT_BIT(OPT_REASON) },
        { "unsilence", gp_ctl_unsilence, OPT_BIT(OPT_STATE_DIR) },
        { "transcript", gp_ctl_transcript, OPT_BIT(OPT_FILE) | OPT_BIT(OPT_JSON) },
        { "run", gp_ctl_run, OPT_BIT(OPT_WAIT) | OPT_BIT(OPT_TIMEOUT) | OPT_BIT(OPT_ALLOW_DEGRADED) },
};

static void help(void) {
        printf("Usage: gpprobectl [--status-dir DIR] COMMAND ...\n"
               "\n"
               "Reads gpprobed's status files (DIR/NAME.json) for people and deploy gates;\n"
               "silence and unsilence write or remove STATE_DIR/NAME.silence, which gpprobed watches.\n"
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
               "  silence NAME [--for DUR --reason TEXT]\n"
               "                                 a maintenance window (at most 7 days): runs go on, alerts\n"
               "                                 do not page, gates answer as before; alone: show it\n"
               "  unsilence NAME                 end it now\n"
               "  transcript NAME [RUN_ID] [--json]\n"
               "  transcript --file FILE [--json]\n"
               "                                 what a failed or degraded run did (the newest\n"
               "                                 without RUN_ID); as root or the service user\n"
               "  run NAME [--wait [--timeout DUR] [--allow-degraded]]\n"
               "                                 start a run now (SIGUSR1, or POST /run); with --wait\n"
               "                                 exit with its verdict: 0 pass, 1 fail, 2 unknown\n"
               "  gate NAME --prometheus URL [--min-hosts N | --min-ratio R] [--lookback DUR] ...\n"
               "                                 the gate per host from Prometheus, then across hosts\n"
               "\n"
               "      --status-dir DIR  default $GPPROBE_STATUS_DIR, else %s\n"
               "      --url URL         a remote gpprobed's API (https://host:port) instead of DIR,\n"
               "                        with --cacert FILE, --cert FILE --key FILE, --token-file FILE\n"
               "                        (default $GPPROBECTL_TOKEN_FILE)\n"
               "      --state-dir DIR   where silences are (NAME.silence): default $GPPROBE_STATE_DIR,\n"
               "                        else %s\n"
               "      --version         print the version\n"
               "  -h, --help            this text\n"
               "\n"
               "--max-age defaults to %d x the probe's interval; --min-success-ratio (0.95 or 95%%)\n"
               "defaults to 1 when only --window is given, and is not checked when neither is.\n"
               "Usage errors exit 64. See gpprobectl(1).\n", DEFAULT_STATUS_DIR, DEFAULT_STATE_DIR, MAX_AGE_INTERVALS);
}

static int unknown_option(const char *command, char *argv[]) {
        if (optopt > 0 && optopt < 0x80)
                return gp_ctl_usage_error(command, "unknown option '-%c'", optopt);
        return gp_ctl_usage_error(command, "unknown option '%s'", argv[optind - 1]);
}

/* A path option: given, not empty. */
static int set_path(const char *cmd, const char *opt, const char **ret) {
        if (isempty(optarg))
                return gp_ctl_usage_error(cmd, "--%s needs a value", opt);
        *ret = optarg;
        return -1;
}

static bool name_is_valid(const char *name) {
        return !isempty(name) && name[0] != '.' && !strchr(name, '/') && strlen(name) <= 250;
}

/* One option of a command; a is the command's (a->command). Returns -1 to go on, else the exit
 * code. */
static int parse_command_option(gp_ctl_args *a, int c, char *argv[]) {
        const char *cmd = a->command;

        switch (c) {
        case 'h':
                help();
                return 0;
        case OPT_STATUS_DIR:
                if (isempty(optarg))
                        return gp_ctl_usage_error(cmd, "--status-dir needs a directory");
                a->status_dir = optarg;
                break;
        case OPT_STATE_DIR:
                if (isempty(optarg))
                        return gp_ctl_usage_error(cmd, "--state-dir needs a directory");
                a->state_dir = optarg;
                break;
        case OPT_FOR:
                if (gp_parse_duration(optarg, &a->silence_for) < 0 || a->silence_for == 0)
                        return gp_ctl_usage_error(cmd, "--for: '%s' is not a positive duration (e.g. 30min, 2h)",
                                                  optarg);
                break;
        case OPT_REASON:
                a->reason = optarg;
                break;
        case OPT_JSON:
                a->json = true;
                break;
        case OPT_MAX_AGE:
                if (gp_parse_duration(optarg, &a->max_age) < 0 || a->max_age == 0)
                        return gp_ctl_usage_error(cmd, "--max-age: '%s' is not a positive duration "
                                                  "(e.g. 90s, 5min)", optarg);
                break;
        case OPT_WINDOW:
                if (gp_parse_unsigned(optarg, 1, 1000000, &a->window) < 0)
                        return gp_ctl_usage_error(cmd, "--window: '%s' is not a number of runs >= 1", optarg);
                break;
        case OPT_MIN_RATIO:
                if (gp_gate_parse_ratio(optarg, &a->min_ratio) < 0)
                        return gp_ctl_usage_error(cmd, "--min-success-ratio: '%s' is not a ratio between 0 "
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
                        return gp_ctl_usage_error(cmd, "--passes: '%s' is not a number >= 1", optarg);
                break;
        case OPT_SINCE: {
                usec_t t;
                if (!streq(optarg, "now") && parse_rfc3339(optarg, &t) < 0)
                        return gp_ctl_usage_error(cmd, "--since: '%s' is neither 'now' nor an RFC 3339 time "
                                                  "(e.g. 2026-11-25T16:00:00Z)", optarg);
                a->since = optarg;
                break;
        }
        case OPT_TIMEOUT:
                if (gp_parse_duration(optarg, &a->timeout) < 0 || a->timeout == 0)
                        return gp_ctl_usage_error(cmd, "--timeout: '%s' is not a positive duration", optarg);
                break;
        case OPT_LIMIT:
                if (gp_parse_unsigned(optarg, 1, UINT32_MAX, &a->limit) < 0)
                        return gp_ctl_usage_error(cmd, "--limit: '%s' is not a number >= 1", optarg);
                break;
        case OPT_FILE:
                if (isempty(optarg))
                        return gp_ctl_usage_error(cmd, "--file needs a file name");
                a->file = optarg;
                break;
        case OPT_URL:
                return set_path(cmd, "url", &a->url);
        case OPT_CACERT:
                return set_path(cmd, "cacert", &a->cacert);
        case OPT_CERT:
                return set_path(cmd, "cert", &a->cert);
        case OPT_KEY:
                return set_path(cmd, "key", &a->key);
        case OPT_TOKEN_FILE:
                return set_path(cmd, "token-file", &a->token_file);
        case OPT_WAIT:
                a->wait_run = true;
                break;
        case OPT_PROMETHEUS:
                return set_path(cmd, "prometheus", &a->prometheus);
        case OPT_MIN_HOSTS:
                if (gp_parse_unsigned(optarg, 1, 100000, &a->min_hosts) < 0)
                        return gp_ctl_usage_error(cmd, "--min-hosts: '%s' is not a number >= 1", optarg);
                break;
        case OPT_MIN_HOST_RATIO:
                if (gp_gate_parse_ratio(optarg, &a->min_host_ratio) < 0 || a->min_host_ratio == 0)
                        return gp_ctl_usage_error(cmd, "--min-ratio: '%s' is not a ratio above 0 and up to 1 "
                                                  "(e.g. 0.66 or 66%%)", optarg);
                break;
        case OPT_LOOKBACK:
                if (gp_parse_duration(optarg, &a->lookback) < 0 || a->lookback < USEC_PER_SEC)
                        return gp_ctl_usage_error(cmd, "--lookback: '%s' is not a duration of 1s or more", optarg);
                break;
        case ':':
                return gp_ctl_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default:
                return unknown_option(cmd, argv);
        }
        return -1;
}

/* What no single option can say alone. Returns -1 to go on, else the exit code. */
static int check_combinations(const gp_ctl_args *a) {
        const char *cmd = a->command;

        if (a->key && !a->cert)
                return gp_ctl_usage_error(cmd, "--key needs --cert");
        if ((a->cacert || a->cert || a->token_file) && !a->url && !a->prometheus)
                return gp_ctl_usage_error(cmd, "--cacert, --cert, --key and --token-file go with --url");
        if ((a->min_hosts > 0 || a->min_host_ratio >= 0 || a->lookback > 0) && !a->prometheus)
                return gp_ctl_usage_error(cmd, "--min-hosts, --min-ratio and --lookback go with --prometheus");
        if (a->prometheus && a->url)
                return gp_ctl_usage_error(cmd, "--prometheus and --url exclude each other");
        if (a->min_hosts > 0 && a->min_host_ratio >= 0)
                return gp_ctl_usage_error(cmd, "--min-hosts and --min-ratio exclude each other");
        if (a->prometheus && a->window > 0)
                return gp_ctl_usage_error(cmd, "--window counts runs, which Prometheus does not keep; "
                                          "--min-success-ratio alone checks each host's own window");
        if ((a->timeout > 0 || a->allow_degraded) && streq(cmd, "run") && !a->wait_run)
                return gp_ctl_usage_error(cmd, "--timeout and --allow-degraded go with --wait");
        return -1;
}

/* The command's own argv (argv[0] is its name): its options, then the probe names. Returns -1 to
 * go on, else the exit code. */
static int parse_command_args(gp_ctl_args *a, int argc, char *argv[], unsigned allowed) {
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
                { "state-dir", required_argument, NULL, OPT_STATE_DIR },
                { "for", required_argument, NULL, OPT_FOR },
                { "reason", required_argument, NULL, OPT_REASON },
                { "file", required_argument, NULL, OPT_FILE },
                { "url", required_argument, NULL, OPT_URL },
                { "cacert", required_argument, NULL, OPT_CACERT },
                { "cert", required_argument, NULL, OPT_CERT },
                { "key", required_argument, NULL, OPT_KEY },
                { "token-file", required_argument, NULL, OPT_TOKEN_FILE },
                { "wait", no_argument, NULL, OPT_WAIT },
                { "prometheus", required_argument, NULL, OPT_PROMETHEUS },
                { "min-hosts", required_argument, NULL, OPT_MIN_HOSTS },
                { "min-ratio", required_argument, NULL, OPT_MIN_HOST_RATIO },
                { "lookback", required_argument, NULL, OPT_LOOKBACK },
                { "help", no_argument, NULL, 'h' },
                {0}
        };
        int c, idx, r;

        optind = 0;  /* GNU: reinitialise for the command's own argv */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, &idx)) >= 0) {
                if (c >= OPT_STATUS_DIR && !(allowed & OPT_BIT(c)))
                        return gp_ctl_usage_error(a->command, "--%s is not an option of %s", options[idx].name,
                                                  a->command);
                r = parse_command_option(a, c, argv);
                if (r >= 0)
                        return r;
        }
        a->names = argv + optind;
        a->n_names = (size_t) (argc - optind);
        for (size_t i = 0; i < a->n_names; i++)
                if (!name_is_valid(a->names[i]))
                        return gp_ctl_usage_error(a->command, "'%s' is not a probe name (no '/', no leading '.')",
                                                  a->names[i]);
        return check_combinations(a);
}

/* The global options, the command and its arguments. Returns -1 to go on with *ret_verb, else the
 * exit code (--help, --version, a usage error). */
static int parse_argv(int argc, char *argv[], gp_ctl_args *a, const ctl_verb **ret_verb) {
        static const struct option options[] = {
                { "status-dir", required_argument, NULL, 'd' },
                { "state-dir", required_argument, NULL, 'S' },
                /* The remote options before the command too, like --status-dir. */
                { "url", required_argument, NULL, OPT_URL },
                { "cacert", required_argument, NULL, OPT_CACERT },
                { "cert", required_argument, NULL, OPT_CERT },
                { "key", required_argument, NULL, OPT_KEY },
                { "token-file", required_argument, NULL, OPT_TOKEN_FILE },
                { "version", no_argument, NULL, 'V' },
                { "help", no_argument, NULL, 'h' },
                {0}
        };
        int c, r;

        a->status_dir = getenv("GPPROBE_STATUS_DIR");
        if (isempty(a->status_dir))
                a->status_dir = DEFAULT_STATUS_DIR;
        a->state_dir = getenv("GPPROBE_STATE_DIR");
        if (isempty(a->state_dir))
                a->state_dir = DEFAULT_STATE_DIR;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0)
                switch (c) {
                case 'd':
                        if (isempty(optarg))
                                return gp_ctl_usage_error(NULL, "--status-dir needs a directory");
                        a->status_dir = optarg;
                        break;
                case 'S':
                        if (isempty(optarg))
                                return gp_ctl_usage_error(NULL, "--state-dir needs a directory");
                        a->state_dir = optarg;
                        break;
                case OPT_URL:
                case OPT_CACERT:
                case OPT_CERT:
                case OPT_KEY:
                case OPT_TOKEN_FILE:
                        a->command = NULL;
                        r = parse_command_option(a, c, argv);
                        if (r >= 0)
                                return r;
                        break;
                case 'V':
                        printf("gpprobectl %s\n", GP_VERSION);
                        return 0;
                case 'h':
                        help();
                        return 0;
                case ':':
                        return gp_ctl_usage_error(NULL, "%s needs a value", argv[optind - 1]);
                default:
                        return unknown_option(NULL, argv);
                }
        if (optind >= argc)
                return gp_ctl_usage_error(NULL, "missing COMMAND (status, gate, wait, history, run, silence, unsilence, transcript)");
        a->command = argv[optind];
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                if (!streq(a->command, verbs[i].name))
                        continue;
                r = parse_command_args(a, argc - optind, argv + optind,
                                       verbs[i].options | OPT_BIT(OPT_STATUS_DIR) | OPT_REMOTE);
                if (r < 0)
                        *ret_verb = &verbs[i];
                return r;
        }
        return gp_ctl_usage_error(NULL, "unknown command '%s'", a->command);
}

int main(int argc, char *argv[]) {
        gp_ctl_args a = { .min_ratio = -1, .min_host_ratio = -1 };
        const ctl_verb *verb = NULL;
        int r;

        r = parse_argv(argc, argv, &a, &verb);
        if (r >= 0)
                return r;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                fprintf(stderr, "gpprobectl: libcurl could not be initialised\n");
                return EXIT_UNKNOWN;
        }
        if (a.prometheus)
                r = gp_ctl_gate_prometheus(&a);
        else
                r = verb->run(&a);
        curl_global_cleanup();
        return r;
}
