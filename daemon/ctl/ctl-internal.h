/* SPDX-License-Identifier: MIT */
#pragma once

/* What gpprobectl's files share: the parsed arguments, the exit codes and the output helpers.
 * Internal to daemon/ctl/. */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "statusfile-read.h"
#include "util.h"

/* Open, closed, unknown: a gate's and a wait's answers; unknown is also what the other commands
 * exit with when they cannot read a status. */
#define EXIT_OPEN 0
#define EXIT_CLOSED 1
#define EXIT_UNKNOWN 2
#define EXIT_USAGE 64

#define MAX_AGE_INTERVALS 3

typedef struct gp_ctl_args {
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
        const char *file;         /* transcript --file */
        char **names;
        size_t n_names;
        const char *state_dir;    /* silence, unsilence: where NAME.silence is */
        usec_t silence_for;       /* 0: not given */
        const char *reason;
        /* Remote mode (ctl-remote.c): gpprobed's HTTPS API instead of the status directory. */
        const char *url;          /* NULL: local */
        const char *cacert, *cert, *key, *token_file;
        bool wait_run;            /* run --wait */
        /* gate --prometheus (ctl-prometheus.c) */
        const char *prometheus;
        unsigned min_hosts;       /* 0: not given */
        double min_host_ratio;    /* < 0: not given */
        usec_t lookback;          /* 0: the default */
} gp_ctl_args;

/* The commands (ctl-status.c, ctl-gate.c, ctl-wait.c, ctl-history.c). Each returns the exit code. */
int gp_ctl_status(const gp_ctl_args *a);
int gp_ctl_gate(const gp_ctl_args *a);
int gp_ctl_wait(const gp_ctl_args *a);
int gp_ctl_history(const gp_ctl_args *a);
int gp_ctl_silence(const gp_ctl_args *a);    /* ctl-silence.c */
int gp_ctl_unsilence(const gp_ctl_args *a);
int gp_ctl_transcript(const gp_ctl_args *a);  /* ctl-transcript.c */
int gp_ctl_run(const gp_ctl_args *a);                 /* ctl-run.c */
int gp_ctl_gate_prometheus(const gp_ctl_args *a);     /* ctl-prometheus.c */

/* ctl-remote.c: the status source seam. The status of probe name, from DIR/NAME.json or, with
 * --url, from GET /status (checked to be the probe named): the same reader either way, so a
 * command decides the same on the same document. *ret_where names the source (path or URL).
 * Errors as gp_status_file_load(), plus -EACCES (refused credentials), -ECONNREFUSED and the like
 * (transport), -EPROTO (an HTTP status that is not 200); the reason names the source. */
int gp_ctl_load_status(const gp_ctl_args *a, const char *name, gp_status_file **ret, char **ret_error);
/* Errors a wait cannot outlast: wrong credentials, a TLS certificate not trusted, the wrong probe. */
bool gp_ctl_error_is_permanent(int r);
/* The source, for messages and `status --json` ("path"): the path or the URL; NULL on ENOMEM. */
char *gp_ctl_source_name(const gp_ctl_args *a, const char *name);

typedef struct gp_ctl_reply {
        long status;              /* the HTTP status */
        char *body;               /* NUL-terminated */
        size_t len;
} gp_ctl_reply;
void gp_ctl_reply_done(gp_ctl_reply *r);
/* One HTTP request (GET, or POST without a body) to base + path, with --cacert, --cert/--key
 * and the bearer token of --token-file; bounded in size (max) and time. Any status is returned;
 * a transport failure is a negative errno with a reason naming the URL. */
int gp_ctl_http(const gp_ctl_args *a, const char *base, const char *method, const char *path, size_t max,
                gp_ctl_reply *ret, char **ret_error);

/* ctl-output.c */
/* Prints "gpprobectl[ COMMAND]: ..." and the hint to stderr; returns EXIT_USAGE. */
int gp_ctl_usage_error(const char *command, const char *fmt, ...) _printf_(2, 3);
/* The one line a gate or a wait ends with, on stdout; returns the exit code. */
int gp_ctl_verdict(int code, const char *name, const char *fmt, ...) _printf_(3, 4);
/* A note every later verdict line of this process ends with, in parentheses (a copy; NULL: none):
 * the silence a gate names without changing its answer. */
void gp_ctl_verdict_note(const char *note);
/* "silenced until TIME[ by WHO]: REASON" when sf names a silence in force at now, else NULL. */
char *gp_ctl_silence_note(const gp_status_file *sf, usec_t now);
char *gp_ctl_format_ago(char *buf, size_t len, usec_t t, usec_t now);
char *gp_ctl_format_ms(char *buf, size_t len, double ms);
char *gp_ctl_format_percent(char *buf, size_t len, double ratio);
/* DIR/NAME.json; NULL on ENOMEM. */
char *gp_ctl_status_path(const gp_ctl_args *a, const char *name);
/* Prints j (taking it) indented on stdout: 0, or EXIT_UNKNOWN when j is NULL or out of memory. */
int gp_ctl_dump_json(json_t *j);
