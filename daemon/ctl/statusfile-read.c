/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <math.h>

#include "fileio.h"
#include "silence.h"
#include "statusfile-read.h"
#include "util.h"

static const char * const result_table[] = {
        [GP_SF_PASS] = "pass",
        [GP_SF_DEGRADED] = "degraded",
        [GP_SF_FAIL] = "fail",
};

const char *gp_sf_result_to_string(gp_sf_result r) {
        return (size_t) r < ELEMENTSOF(result_table) ? result_table[r] : "unknown";
}

gp_status_file *gp_status_file_free(gp_status_file *sf) {
        if (!sf)
                return NULL;
        json_decref(sf->root);
        free(sf->history);
        free(sf);
        return NULL;
}

static int fail(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int fail(char **ret_error, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                *ret_error = strdup_vprintf(fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static int fail_errno(char **ret_error, const char *path, int r) {
        fail(ret_error, "%s: %s", path, strerror(-r));
        return r;
}

static const char *type_name(const json_t *v) {
        if (!v)
                return "nothing";
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
        case JSON_REAL:
                return "a number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        default:
                return "null";
        }
}

/* Field accessors: where is the dotted prefix of the member ("", "last.", "history[3]."). */

static int get(const json_t *o, const char *where, const char *key, json_t **ret, char **err) {
        json_t *v = json_object_get(o, key);

        if (!v)
                return fail(err, "%s%s: missing", where, key);
        *ret = v;
        return 0;
}

static int get_object(const json_t *o, const char *where, const char *key, json_t **ret, char **err) {
        json_t *v = NULL;
        int r = get(o, where, key, &v, err);

        if (r < 0)
                return r;
        if (!json_is_object(v))
                return fail(err, "%s%s: expected an object, got %s", where, key, type_name(v));
        *ret = v;
        return 0;
}

static int get_string(const json_t *o, const char *where, const char *key, bool nullable, bool required,
                      const char **ret, char **err) {
        json_t *v = json_object_get(o, key);

        if (!v && !required) {
                *ret = NULL;
                return 0;
        }
        if (!v)
                return fail(err, "%s%s: missing", where, key);
        if (nullable && json_is_null(v)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return fail(err, "%s%s: expected a string%s, got %s", where, key, nullable ? " or null" : "",
                            type_name(v));
        *ret = json_string_value(v);
        return 0;
}

static int get_uint(const json_t *o, const char *where, const char *key, unsigned min, unsigned *ret,
                    char **err) {
        json_t *v = NULL;
        int r = get(o, where, key, &v, err);

        if (r < 0)
                return r;
        if (!json_is_integer(v))
                return fail(err, "%s%s: expected an integer, got %s", where, key, type_name(v));
        if (json_integer_value(v) < (json_int_t) min || json_integer_value(v) > (json_int_t) UINT_MAX)
                return fail(err, "%s%s: %" JSON_INTEGER_FORMAT " is out of range", where, key,
                            json_integer_value(v));
        *ret = (unsigned) json_integer_value(v);
        return 0;
}

/* A non-negative number of milliseconds; null gives -1 when nullable. */
static int get_ms(const json_t *o, const char *where, const char *key, bool nullable, double *ret, char **err) {
        json_t *v = NULL;
        int r = get(o, where, key, &v, err);

        if (r < 0)
                return r;
        if (nullable && json_is_null(v)) {
                *ret = -1;
                return 0;
        }
        if (!json_is_number(v))
                return fail(err, "%s%s: expected a number%s, got %s", where, key, nullable ? " or null" : "",
                            type_name(v));
        if (!isfinite(json_number_value(v)) || json_number_value(v) < 0)
                return fail(err, "%s%s: expected a non-negative number", where, key);
        *ret = json_number_value(v);
        return 0;
}

static int get_time(const json_t *o, const char *where, const char *key, bool nullable, usec_t *ret, char **err) {
        json_t *v = NULL;
        int r = get(o, where, key, &v, err);

        if (r < 0)
                return r;
        if (nullable && json_is_null(v)) {
                *ret = 0;
                return 0;
        }
        if (!json_is_string(v) || parse_rfc3339(json_string_value(v), ret) < 0)
                return fail(err, "%s%s: expected an RFC 3339 time%s", where, key, nullable ? " or null" : "");
        return 0;
}

static int get_result(const json_t *o, const char *where, gp_sf_result *ret, char **err) {
        const char *s;
        int r = get_string(o, where, "result", false, true, &s, err);

        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(result_table); i++)
                if (streq(s, result_table[i])) {
                        *ret = (gp_sf_result) i;
                        return 0;
                }
        return fail(err, "%sresult: expected \"pass\", \"degraded\" or \"fail\"", where);
}

static int parse_daemon(const json_t *root, gp_status_file *sf, char **err) {
        json_t *d = NULL;
        double interval_ms = 0;
        int r;

        if ((r = get_object(root, "", "daemon", &d, err)) < 0 ||
            (r = get_string(d, "daemon.", "version", true, true, &sf->daemon_version, err)) < 0 ||
            (r = get_time(d, "daemon.", "started_at", false, &sf->daemon_started_at, err)) < 0 ||
            (r = get_ms(d, "daemon.", "interval_ms", false, &interval_ms, err)) < 0)
                return r;
        if (!json_is_integer(json_object_get(d, "pid")) || json_integer_value(json_object_get(d, "pid")) < 0)
                return fail(err, "daemon.pid: expected a non-negative integer");
        sf->daemon_pid = json_integer_value(json_object_get(d, "pid"));
        /* A gate's default --max-age derives from it: zero or absurd is corrupt, not "never stale". */
        if (interval_ms < 1 || interval_ms > 366.0 * 86400 * 1000)
                return fail(err, "daemon.interval_ms: out of range");
        sf->interval = (usec_t) (interval_ms * (double) USEC_PER_MSEC);
        return 0;
}

static int parse_last(const json_t *root, gp_status_file *sf, char **err) {
        gp_sf_last *l = &sf->last;
        json_t *o = NULL, *phases = NULL;
        int r;

        if ((r = get(root, "", "last", &o, err)) < 0)
                return r;
        if (json_is_null(o))
                return 0;
        if (!json_is_object(o))
                return fail(err, "last: expected an object or null, got %s", type_name(o));
        if ((r = get_string(o, "last.", "run_id", false, true, &l->run_id, err)) < 0 ||
            (r = get_time(o, "last.", "started_at", false, &l->started_at, err)) < 0 ||
            (r = get_time(o, "last.", "finished_at", false, &l->finished_at, err)) < 0 ||
            (r = get_result(o, "last.", &l->result, err)) < 0 ||
            (r = get_string(o, "last.", "stage", true, true, &l->stage, err)) < 0 ||
            (r = get_string(o, "last.", "code", true, true, &l->code, err)) < 0 ||
            (r = get_string(o, "last.", "reason", true, true, &l->reason, err)) < 0 ||
            (r = get_ms(o, "last.", "duration_ms", true, &l->duration_ms, err)) < 0 ||
            (r = get_uint(o, "last.", "users", 1, &l->users, err)) < 0 ||
            (r = get_object(o, "last.", "phases_ms", &phases, err)) < 0)
                return r;
        sf->have_last = true;
        return 0;
}

static int parse_window(const json_t *root, gp_status_file *sf, char **err) {
        json_t *w = NULL, *v, *d = NULL;
        const char *key;
        double expect;
        int r;

        if ((r = get_object(root, "", "window", &w, err)) < 0 ||
            (r = get_uint(w, "window.", "runs", 0, &sf->window_runs, err)) < 0 ||
            (r = get_uint(w, "window.", "pass", 0, &sf->window_pass, err)) < 0 ||
            (r = get_uint(w, "window.", "degraded", 0, &sf->window_degraded, err)) < 0 ||
            (r = get_uint(w, "window.", "fail", 0, &sf->window_fail, err)) < 0 ||
            (r = get_ms(w, "window.", "success_ratio", false, &sf->success_ratio, err)) < 0 ||
            (r = get_object(w, "window.", "duration_ms", &d, err)) < 0)
                return r;
        json_object_foreach(d, key, v)
                if (!json_is_number(v) && !json_is_null(v))
                        return fail(err, "window.duration_ms.%s: expected a number or null", key);
        if ((unsigned long long) sf->window_pass + sf->window_degraded + sf->window_fail != sf->window_runs)
                return fail(err, "window: pass + degraded + fail is not runs");
        expect = sf->window_runs ? (double) (sf->window_pass + sf->window_degraded) / sf->window_runs : 0;
        if (sf->success_ratio > 1 || fabs(sf->success_ratio - expect) > 0.006)
                return fail(err, "window.success_ratio: %g does not match the counts (%g)", sf->success_ratio,
                            expect);
        return 0;
}

static int parse_history(const json_t *root, gp_status_file *sf, char **err) {
        json_t *a = NULL, *o;
        size_t i;
        int r;

        if ((r = get(root, "", "history", &a, err)) < 0)
                return r;
        if (!json_is_array(a))
                return fail(err, "history: expected an array, got %s", type_name(a));
        if (json_array_size(a) == 0)
                return 0;
        sf->history = calloc(json_array_size(a), sizeof(gp_sf_entry));
        if (!sf->history)
                return -ENOMEM;
        json_array_foreach(a, i, o) {
                gp_sf_entry *e = &sf->history[i];
                char where[48];

                snprintf(where, sizeof(where), "history[%zu].", i);
                if (!json_is_object(o))
                        return fail(err, "history[%zu]: expected an object, got %s", i, type_name(o));
                if ((r = get_string(o, where, "run_id", false, false, &e->run_id, err)) < 0 ||
                    (r = get_time(o, where, "started_at", false, &e->started_at, err)) < 0 ||
                    (r = get_result(o, where, &e->result, err)) < 0 ||
                    (r = get_string(o, where, "code", true, true, &e->code, err)) < 0 ||
                    (r = get_ms(o, where, "duration_ms", true, &e->duration_ms, err)) < 0)
                        return r;
                sf->n_history = i + 1;
        }
        return 0;
}

/* "silence": absent (an older daemon) or null, else {until, reason, by, created_at} with the
 * daemon's own checks of the text, which a terminal then prints. */
static int parse_silence(const json_t *root, gp_status_file *sf, char **err) {
        const json_t *o = json_object_get(root, "silence");
        _cleanup_free_ char *why = NULL;
        int r;

        if (!o || json_is_null(o))
                return 0;
        if (!json_is_object(o))
                return fail(err, "silence: expected an object or null, got %s", type_name(o));
        if ((r = get_time(o, "silence.", "until", false, &sf->silence_until, err)) < 0 ||
            (r = get_string(o, "silence.", "reason", false, true, &sf->silence_reason, err)) < 0 ||
            (r = get_string(o, "silence.", "by", true, false, &sf->silence_by, err)) < 0)
                return r;
        if (gp_silence_text_check("reason", sf->silence_reason, GP_SILENCE_REASON_MAX, &why) < 0 ||
            (sf->silence_by && gp_silence_text_check("by", sf->silence_by, GP_SILENCE_BY_MAX, &why) < 0))
                return fail(err, "silence.%s", why ? why : "reason: out of memory");
        sf->have_silence = true;
        return 0;
}

static int parse_root(gp_status_file *sf, char **err) {
        json_t *root = sf->root, *v = NULL;
        int r;

        if (!json_is_object(root))
                return fail(err, "expected a JSON object, got %s", type_name(root));
        if ((r = get(root, "", "schema", &v, err)) < 0)
                return r;
        if (!json_is_integer(v) || json_integer_value(v) < 1)
                return fail(err, "schema: expected a positive integer");
        if (json_integer_value(v) > GP_STATUS_SCHEMA) {
                fail(err, "schema %" JSON_INTEGER_FORMAT ": written by a newer gpprobe (this one reads schema %d)",
                     json_integer_value(v), GP_STATUS_SCHEMA);
                return -EPROTONOSUPPORT;
        }
        sf->schema = (unsigned) json_integer_value(v);

        if ((r = get_string(root, "", "name", false, true, &sf->name, err)) < 0 ||
            (r = get_time(root, "", "updated_at", false, &sf->updated_at, err)) < 0 ||
            (r = parse_daemon(root, sf, err)) < 0 ||
            (r = parse_last(root, sf, err)) < 0 ||
            (r = get_uint(root, "", "consecutive_failures", 0, &sf->consecutive_failures, err)) < 0 ||
            (r = get_uint(root, "", "consecutive_passes", 0, &sf->consecutive_passes, err)) < 0)
                return r;
        v = json_object_get(root, "alerting");
        if (!json_is_boolean(v))
                return fail(err, "alerting: %s", v ? "expected a boolean" : "missing");
        sf->alerting = json_is_true(v);
        if ((r = get_time(root, "", "last_pass_at", true, &sf->last_pass_at, err)) < 0 ||
            (r = get_time(root, "", "last_failure_at", true, &sf->last_failure_at, err)) < 0 ||
            (r = parse_window(root, sf, err)) < 0 ||
            (r = parse_history(root, sf, err)) < 0 ||
            (r = parse_silence(root, sf, err)) < 0)
                return r;
        if (sf->have_last && sf->n_history == 0)
                return fail(err, "history: empty although there was a run");
        return 0;
}

int gp_status_file_parse(const void *data, size_t len, gp_status_file **ret, char **ret_error) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        json_error_t jerr;
        int r;

        if (len > GP_STATUS_FILE_MAX) {
                fail(ret_error, "too large (%zu bytes, at most %zu)", len, GP_STATUS_FILE_MAX);
                return -EFBIG;
        }
        if (len == 0)
                return fail(ret_error, "empty file");
        sf = calloc(1, sizeof(*sf));
        if (!sf)
                return -ENOMEM;
        sf->root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!sf->root) {
                if (json_error_code(&jerr) == json_error_out_of_memory)
                        return -ENOMEM;
                if (json_error_code(&jerr) == json_error_premature_end_of_input)
                        return fail(ret_error, "truncated JSON (ends at line %d, column %d)", jerr.line,
                                    jerr.column);
                return fail(ret_error, "not valid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                            jerr.text);
        }
        r = parse_root(sf, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(sf);
        return 0;
}

int gp_status_file_load(const char *path, gp_status_file **ret, char **ret_error) {
        _cleanup_free_ char *data = NULL, *err = NULL;
        size_t len = 0;
        int r;

        /* Never blocks: a FIFO planted under the name must not hang a deploy gate. */
        r = gp_read_full_file(path, GP_STATUS_FILE_MAX, 0, &data, &len, NULL);
        if (r == -EISDIR || r == -EBADFD)
                return fail(ret_error, "%s: not a regular file", path);
        if (r == -EFBIG) {
                fail(ret_error, "%s: too large (more than %zu bytes)", path, GP_STATUS_FILE_MAX);
                return r;
        }
        if (r < 0)
                return fail_errno(ret_error, path, r);
        r = gp_status_file_parse(data, len, ret, &err);
        if (r < 0 && ret_error)
                *ret_error = strdup_printf("%s: %s", path, err ? err : strerror(-r));
        return r;
}

int gp_status_file_ratio(const gp_status_file *sf, size_t n, double *ret_ratio, size_t *ret_runs) {
        size_t ok = 0;

        if (n == 0 || n > sf->n_history)
                n = sf->n_history;
        if (n == 0)
                return -ENODATA;
        for (size_t i = sf->n_history - n; i < sf->n_history; i++)
                if (sf->history[i].result != GP_SF_FAIL)
                        ok++;
        *ret_ratio = (double) ok / (double) n;
        *ret_runs = n;
        return 0;
}

void gp_status_file_passes_since(const gp_status_file *sf, usec_t since, bool allow_degraded,
                                 unsigned *ret_passes, unsigned *ret_runs, const gp_sf_entry **ret_reset) {
        const gp_sf_entry *reset = NULL;
        unsigned passes = 0, runs = 0;

        for (size_t i = sf->n_history; i-- > 0;) {
                const gp_sf_entry *e = &sf->history[i];
                bool counts = e->result == GP_SF_PASS || (allow_degraded && e->result == GP_SF_DEGRADED);

                if (e->started_at < since)
                        continue;
                runs++;
                if (reset)
                        continue;
                if (counts)
                        passes++;
                else
                        reset = e;
        }
        *ret_passes = passes;
        *ret_runs = runs;
        *ret_reset = reset;
}
