/* SPDX-License-Identifier: MIT */
/* gpprobectl run: starts a run now, the post-deploy check that does not wait for the next interval.
 * Local: SIGUSR1 to the gpprobed whose pid the status file names (checked to be gpprobed), then the
 * status file's first run that started after the signal. Remote (--url): POST /run, then GET
 * /runs/ID until it is done. With --wait it exits with that run's verdict, like a gate: 0 pass
 * (degraded too with --allow-degraded), 1 fail or degraded, 2 no verdict (no daemon, refused,
 * timed out, a reply that is not the schema). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ctl-internal.h"
#include "fileio.h"

#define DEFAULT_RUN_TIMEOUT (10 * 60 * USEC_PER_SEC)
#define LOCAL_POLL_MSEC 100
#define REMOTE_POLL_MSEC 500
#define RUN_REPLY_MAX ((size_t) 4 * 1024 * 1024)

typedef struct run_outcome {
        const char *run_id;
        gp_sf_result result;
        const char *stage, *code, *reason;
        double duration_ms;       /* < 0: unknown */
} run_outcome;

static int run_verdict(const gp_ctl_args *a, const run_outcome *o) {
        char took[64];
        int code = o->result == GP_SF_PASS || (o->result == GP_SF_DEGRADED && a->allow_degraded) ? EXIT_OPEN
                                                                                                  : EXIT_CLOSED;

        gp_ctl_format_ms(took, sizeof(took), o->duration_ms);
        if (o->result == GP_SF_PASS)
                return gp_ctl_verdict(code, a->names[0], "run %s passed, took %s", strempty(o->run_id), took);
        return gp_ctl_verdict(code, a->names[0], "run %s %s%s%s%s, took %s: %s: %s%s", strempty(o->run_id),
                              o->result == GP_SF_FAIL ? "failed" : "degraded", o->stage ? " (stage " : "",
                              strempty(o->stage), o->stage ? ")" : "", took, o->code ? o->code : "-",
                              strempty(o->reason),
                              o->result == GP_SF_DEGRADED && !a->allow_degraded ? " (--allow-degraded accepts it)"
                                                                                : "");
}

static usec_t deadline_of(const gp_ctl_args *a) {
        return now_usec(CLOCK_MONOTONIC) + (a->timeout > 0 ? a->timeout : DEFAULT_RUN_TIMEOUT);
}

/* ---- local: SIGUSR1 ------------------------------------------------------------------------- */

/* The pid is the status file's; it must still be a gpprobed, not a pid reused since. */
static int check_daemon(long long pid, char **ret_error) {
        _cleanup_free_ char *path = NULL, *comm = NULL;
        size_t len = 0;
        int r;

        if (pid <= 1 || pid > INT32_MAX)
                return set_errorf(ret_error, "the status file names no daemon pid (%lld)", pid);
        path = strdup_printf("/proc/%lld/comm", pid);
        if (!path)
                return -ENOMEM;
        r = gp_read_full_file(path, 4096, 0, &comm, &len, NULL);
        if (r < 0)
                return set_errorf(ret_error, "gpprobed (pid %lld, from the status file) is not running", pid);
        comm[strcspn(comm, "\n")] = '\0';
        if (!streq(comm, "gpprobed"))
                return set_errorf(ret_error, "pid %lld from the status file is '%s', not gpprobed (stopped?)", pid,
                                  comm);
        return 0;
}

static int signal_daemon(long long pid, usec_t *ret_at, char **ret_error) {
        int r = check_daemon(pid, ret_error);

        if (r < 0)
                return r;
        /* Milliseconds, as the status file has them: a run started in the same millisecond counts. */
        *ret_at = now_usec(CLOCK_REALTIME) / USEC_PER_MSEC * USEC_PER_MSEC;
        if (kill((pid_t) pid, SIGUSR1) < 0)
                return set_errorf(ret_error, "cannot signal gpprobed (pid %lld): %s", pid, strerror(errno));
        return 0;
}

/* The first run in the history that started at or after `at`, or NULL. */
static const gp_sf_entry *run_since(const gp_status_file *sf, usec_t at) {
        for (size_t i = 0; i < sf->n_history; i++)
                if (sf->history[i].started_at >= at)
                        return &sf->history[i];
        return NULL;
}

static int run_local(const gp_ctl_args *a) {
        const char *name = a->names[0];
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *err = NULL;
        usec_t at, deadline = deadline_of(a);
        bool resent = false;
        long long pid;

        if (gp_ctl_load_status(a, name, &sf, &err) < 0 || signal_daemon(sf->daemon_pid, &at, &err) < 0)
                return gp_ctl_verdict(EXIT_UNKNOWN, name, "%s", err ? err : "out of memory");
        pid = sf->daemon_pid;
        if (!a->wait_run) {
                printf("started: %s: SIGUSR1 sent to gpprobed (pid %lld)\n", name, pid);
                return 0;
        }
        for (;;) {
                const gp_sf_entry *e;

                (void) poll(NULL, 0, LOCAL_POLL_MSEC);
                sf = gp_status_file_free(sf);
                free(err);
                err = NULL;
                if (gp_ctl_load_status(a, name, &sf, &err) == 0) {
                        e = run_since(sf, at);
                        if (e) {
                                bool is_last = sf->have_last && streq_ptr(sf->last.run_id, e->run_id);
                                run_outcome o = {
                                        .run_id = e->run_id, .result = e->result, .code = e->code,
                                        .duration_ms = e->duration_ms,
                                        .stage = is_last ? sf->last.stage : NULL,
                                        .reason = is_last ? sf->last.reason : NULL,
                                };
                                return run_verdict(a, &o);
                        }
                        /* A run in progress when the signal came ignored it; it is over now: again. */
                        if (!resent && sf->have_last && sf->last.started_at < at && sf->last.finished_at >= at) {
                                resent = true;
                                if (signal_daemon(sf->daemon_pid, &at, &err) < 0)
                                        return gp_ctl_verdict(EXIT_UNKNOWN, name, "%s", err);
                        }
                }
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        return gp_ctl_verdict(EXIT_UNKNOWN, name,
                                              "timed out: no run started after SIGUSR1 to gpprobed (pid %lld)%s%s",
                                              pid, err ? ": " : "", strempty(err));
        }
}

/* ---- remote: POST /run, GET /runs/ID -------------------------------------------------------- */

/* A run id as the server gives it: something safe in a URL path and on a terminal. */
static bool run_id_is_valid(const char *id) {
        size_t n = strlen(id);

        return n > 0 && n <= 128 && strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

/* The reply's JSON object, or NULL with a reason. */
static json_t *reply_json(const char *url, const gp_ctl_reply *rep, char **ret_error) {
        json_error_t e;
        json_t *j = json_loadb(rep->body, rep->len, JSON_REJECT_DUPLICATES, &e);

        if (!j || !json_is_object(j)) {
                json_decref(j);
                set_errorf(ret_error, "%s: HTTP %ld with a reply that is not a JSON object", url, rep->status);
                return NULL;
        }
        return j;
}

static const char *string_at(json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

/* A reply's run id, checked. */
static const char *reply_run_id(const char *url, json_t *j, char **ret_error) {
        const char *id = string_at(j, "run_id");

        if (!id || !run_id_is_valid(id)) {
                set_errorf(ret_error, "%s: the reply has no valid \"run_id\"", url);
                return NULL;
        }
        return id;
}

/* POST /run. 0 with the run's id in *ret_id; 1 with the id of the run in progress (409); < 0. */
static int post_run(const gp_ctl_args *a, char **ret_id, char **ret_error) {
        _cleanup_(gp_ctl_reply_done) gp_ctl_reply rep = {0};
        _cleanup_free_ char *url = strdup_printf("%s/run", a->url);
        json_t *j;
        const char *id;
        int r;

        if (!url)
                return -ENOMEM;
        r = gp_ctl_http(a, a->url, "POST", "/run", RUN_REPLY_MAX, &rep, ret_error);
        if (r < 0)
                return r;
        if (rep.status == 401 || rep.status == 403)
                return set_errorf(ret_error, "%s: HTTP %ld: the server refused the credentials", url, rep.status);
        if (rep.status != 202 && rep.status != 409)
                return set_errorf(ret_error, "%s: HTTP %ld instead of 202 or 409", url, rep.status);
        j = reply_json(url, &rep, ret_error);
        if (!j)
                return -EPROTO;
        id = reply_run_id(url, j, ret_error);
        if (id && !(*ret_id = strdup(id)))
                r = -ENOMEM;
        json_decref(j);
        if (!id)
                return -EPROTO;
        return r < 0 ? r : rep.status == 409;
}

/* The "result" of a done run: the schema of the status file's "last" (what a verdict needs). */
static int parse_result(const char *url, json_t *res, const char *id, run_outcome *ret, char **ret_error) {
        const char *result = string_at(res, "result");
        json_t *d = json_object_get(res, "duration_ms");

        if (!json_is_object(res) || !result)
                return set_errorf(ret_error, "%s: a done run without a \"result\" object", url);
        if (streq(result, "pass"))
                ret->result = GP_SF_PASS;
        else if (streq(result, "degraded"))
                ret->result = GP_SF_DEGRADED;
        else if (streq(result, "fail"))
                ret->result = GP_SF_FAIL;
        else
                return set_errorf(ret_error, "%s: result.result is not pass, degraded or fail", url);
        if (!streq_ptr(string_at(res, "run_id"), id))
                return set_errorf(ret_error, "%s: the result is of another run than %s", url, id);
        if (ret->result != GP_SF_PASS && !string_at(res, "code"))
                return set_errorf(ret_error, "%s: a %s run without a code", url, result);
        ret->run_id = id;
        ret->stage = string_at(res, "stage");
        ret->code = string_at(res, "code");
        ret->reason = string_at(res, "reason");
        ret->duration_ms = json_is_number(d) ? json_number_value(d) : -1;
        return 0;
}

/* GET /runs/ID until done: 0 and the verdict's exit code in *ret_exit, or < 0 with a reason. A
 * failure to reach the server is retried until the deadline; anything else ends the wait. */
static int await_run(const gp_ctl_args *a, const char *id, usec_t deadline, bool report, int *ret_exit,
                     char **ret_error) {
        _cleanup_free_ char *path = strdup_printf("/runs/%s", id), *url = strdup_printf("%s/runs/%s", a->url, id);

        if (!path || !url)
                return -ENOMEM;
        for (;;) {
                _cleanup_(gp_ctl_reply_done) gp_ctl_reply rep = {0};
                _cleanup_(json_decrefp) json_t *j = NULL;
                run_outcome o = {0};
                int r;

                free(*ret_error);
                *ret_error = NULL;
                r = gp_ctl_http(a, a->url, "GET", path, RUN_REPLY_MAX, &rep, ret_error);
                if (r < 0 && gp_ctl_error_is_permanent(r))
                        return r;
                if (r == 0) {
                        if (rep.status == 404)
                                return set_errorf(ret_error, "%s: HTTP 404: the server knows no run %s", url, id);
                        if (rep.status != 200 && rep.status != 202)
                                return set_errorf(ret_error, "%s: HTTP %ld instead of 200 or 202", url, rep.status);
                        j = reply_json(url, &rep, ret_error);
                        if (!j)
                                return -EPROTO;
                        if (!streq_ptr(string_at(j, "run_id"), id))
                                return set_errorf(ret_error, "%s: the reply is about another run", url);
                        if (rep.status == 200) {
                                if (!streq_ptr(string_at(j, "state"), "done"))
                                        return set_errorf(ret_error, "%s: HTTP 200 but \"state\" is not \"done\"", url);
                                r = parse_result(url, json_object_get(j, "result"), id, &o, ret_error);
                                if (r < 0)
                                        return r;
                                *ret_exit = report ? run_verdict(a, &o) : 0;
                                return 0;
                        }
                        if (!streq_ptr(string_at(j, "state"), "running"))
                                return set_errorf(ret_error, "%s: HTTP 202 but \"state\" is not \"running\"", url);
                }
                if (now_usec(CLOCK_MONOTONIC) >= deadline) {
                        _cleanup_free_ char *why = TAKE_PTR(*ret_error);
                        return set_errorf(ret_error, "timed out waiting for run %s%s%s", id, why ? ": " : "",
                                          strempty(why));
                }
                (void) poll(NULL, 0, REMOTE_POLL_MSEC);
        }
}

static int run_remote(const gp_ctl_args *a) {
        const char *name = a->names[0];
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *err = NULL, *id = NULL;
        usec_t deadline = deadline_of(a);
        int r, code = EXIT_UNKNOWN;

        /* The right server for this probe, and credentials it takes, before anything starts. */
        if (gp_ctl_load_status(a, name, &sf, &err) < 0)
                return gp_ctl_verdict(EXIT_UNKNOWN, name, "%s", err ? err : "out of memory");
        r = post_run(a, &id, &err);
        if (r == 1 && !a->wait_run)
                return gp_ctl_verdict(EXIT_UNKNOWN, name, "not started: run %s is in progress", id);
        if (r == 1) {
                /* One at a time: wait for the run in progress (its result is not ours), then ask again. */
                fprintf(stderr, "gpprobectl run: run %s is in progress; waiting for it to finish\n", id);
                r = await_run(a, id, deadline, false, &code, &err);
                free(id);
                id = NULL;
                if (r == 0) {
                        r = post_run(a, &id, &err);
                        if (r == 1)
                                return gp_ctl_verdict(EXIT_UNKNOWN, name,
                                                      "not started: another run (%s) began first", id);
                }
        }
        if (r < 0)
                return gp_ctl_verdict(EXIT_UNKNOWN, name, "%s", err ? err : "out of memory");
        if (!a->wait_run) {
                printf("started: %s: run %s\n", name, id);
                return 0;
        }
        r = await_run(a, id, deadline, true, &code, &err);
        if (r < 0)
                return gp_ctl_verdict(EXIT_UNKNOWN, name, "%s", err ? err : "out of memory");
        return code;
}

int gp_ctl_run(const gp_ctl_args *a) {
        if (a->n_names != 1)
                return gp_ctl_usage_error("run", "expects exactly one probe NAME");
        return a->url ? run_remote(a) : run_local(a);
}
