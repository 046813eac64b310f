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
} gp_ctl_args;

/* The commands (ctl-status.c, ctl-gate.c, ctl-wait.c, ctl-history.c). Each returns the exit code. */
int gp_ctl_status(const gp_ctl_args *a);
int gp_ctl_gate(const gp_ctl_args *a);
int gp_ctl_wait(const gp_ctl_args *a);
int gp_ctl_history(const gp_ctl_args *a);
int gp_ctl_silence(const gp_ctl_args *a);    /* ctl-silence.c */
int gp_ctl_unsilence(const gp_ctl_args *a);
int gp_ctl_transcript(const gp_ctl_args *a);  /* ctl-transcript.c */

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
