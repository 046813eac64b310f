/* SPDX-License-Identifier: MIT */
/* StateFile=: the history across restarts. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fileio.h"
#include "history-internal.h"
#include "status.h"

#define STATE_SCHEMA 1
#define STATE_FILE_MAX ((size_t) 64 * 1024 * 1024)

/* Microseconds, unlike the status file's milliseconds: a restart restores the exact values. */
static json_t *state_time(usec_t t) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        char buf[64];
        struct tm tm;

        if (t == 0)
                return json_null();
        if (!gmtime_r(&sec, &tm))
                return NULL;
        snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned) (t % USEC_PER_SEC));
        return json_string(buf);
}

/* For a start time, 0 is the epoch, not "never" as for last_*_at: spelled out. */
static json_t *state_start_time(usec_t t) {
        return t ? state_time(t) : json_string("1970-01-01T00:00:00.000000Z");
}

static json_t *state_entry_to_json(const gp_history_entry *e) {
        json_auto_t *o = json_object();

        if (!o || gp_json_set_new(o, "run_id", json_string(e->run_id)) < 0 ||
            gp_json_set_new(o, "started_at", state_start_time(e->started_at)) < 0 ||
            gp_json_set_new(o, "result", json_string(gp_verdict_to_string(e->verdict))) < 0 ||
            gp_json_set_new(o, "code", gp_json_string_or_null(e->code)) < 0 ||
            gp_json_set_new(o, "duration_us", json_integer((json_int_t) e->duration)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static json_t *state_to_json(const gp_history *h) {
        json_auto_t *o = json_object(), *totals = json_object(), *entries = json_array();

        if (!o || !totals || !entries ||
            gp_json_set_new(o, "schema", json_integer(STATE_SCHEMA)) < 0 ||
            gp_json_set_new(o, "consecutive_failures", json_integer(h->consecutive_failures)) < 0 ||
            gp_json_set_new(o, "consecutive_passes", json_integer(h->consecutive_passes)) < 0 ||
            gp_json_set_new(o, "alerting", json_boolean(h->alerting)) < 0 ||
            gp_json_set_new(o, "last_pass_at", state_time(h->last_pass_at)) < 0 ||
            gp_json_set_new(o, "last_failure_at", state_time(h->last_failure_at)) < 0 ||
            gp_json_set_new(o, "runs_total", json_incref(totals)) < 0 ||
            gp_json_set_new(totals, "pass", json_integer(h->totals[GP_VERDICT_PASS])) < 0 ||
            gp_json_set_new(totals, "degraded", json_integer(h->totals[GP_VERDICT_DEGRADED])) < 0 ||
            gp_json_set_new(totals, "fail", json_integer(h->totals[GP_VERDICT_FAIL])) < 0 ||
            gp_json_set_new(o, "entries", json_incref(entries)) < 0)
                return NULL;
        for (size_t i = 0; i < h->n; i++)
                if (json_array_append_new(entries, state_entry_to_json(gp_history_entry_at(h, i))) < 0)
                        return NULL;
        if (gp_history_totals_to_json(h, o) < 0 ||
            gp_json_set_new(o, "stream", gp_stream_totals_to_json(&h->stream)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

int gp_history_save(const gp_history *h, const char *path, char **ret_error) {
        json_auto_t *o = state_to_json(h);
        size_t len = 0;
        _cleanup_free_ char *s = gp_json_dump_line(o, JSON_COMPACT, &len);

        if (!s) {
                set_errorf(ret_error, "%s: out of memory", path);
                return -ENOMEM;
        }
        return gp_write_atomic(path, s, len, 0600, ret_error);
}

/* One appended run: its entry as in "entries", when its outcome became known and the alert state
 * after it, all that replaying it on load needs (gp_history_push, then the alert state). A
 * persisted figure that cannot be derived from the entry (verdict, code, duration) must go in the
 * line too, as its value after the run, and replay must take it from the last line: otherwise a
 * restart loses it for the runs appended since the last full save. */
#define APPEND_KEY "{\"run\":"

int gp_history_append(const gp_history *h, const char *path, char **ret_error) {
        const gp_history_entry *e = h && h->n > 0 ? gp_history_entry_at(h, h->n - 1) : NULL;
        usec_t at;
        json_auto_t *o = json_object(), *run = NULL;
        _cleanup_free_ char *line = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        size_t len = 0;

        if (!e || !path)
                return -EINVAL;
        at = e->verdict == GP_VERDICT_FAIL ? h->last_failure_at : h->last_pass_at;
        run = state_entry_to_json(e);
        if (!o || !run || gp_json_set_new(run, "finished_at", state_start_time(at)) < 0 ||
            gp_json_set_new(run, "alerting", json_boolean(h->alerting)) < 0 ||
            gp_json_set_new(o, "run", json_incref(run)) < 0 ||
            /* the stream histograms after the run (issue 12): not derivable from the entry */
            gp_json_set_new(o, "stream", gp_stream_totals_to_json(&h->stream)) < 0 ||
            !(line = gp_json_dump_line(o, JSON_COMPACT, &len))) {
                set_errorf(ret_error, "%s: out of memory", path);
                return -ENOMEM;
        }
        /* Never created here: the file gp_history_save wrote, or nothing. */
        fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
        if (fd < 0 || fstat(fd, &st) < 0) {
                set_errorf(ret_error, "%s: cannot append to the state file: %s", path, strerror(errno));
                return -errno;
        }
        if (!S_ISREG(st.st_mode)) {
                set_errorf(ret_error, "%s: cannot append to the state file: not a regular file", path);
                return -EBADFD;
        }
        for (const char *p = line; len > 0;) {
                ssize_t n = write(fd, p, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        int k = n < 0 ? -errno : -EIO;

                        set_errorf(ret_error, "%s: cannot append to the state file: %s", path, strerror(-k));
                        return k;
                }
                p += n;
                len -= (size_t) n;
        }
        if (fdatasync(fd) < 0) {
                set_errorf(ret_error, "%s: cannot fdatasync the state file: %s", path, strerror(errno));
                return -errno;
        }
        return 0;
}

typedef struct reader {
        char error[256];
} reader;

static int fail(reader *rd, const char *fmt, ...) _printf_(2, 3);
static int fail(reader *rd, const char *fmt, ...) {
        size_t n;
        va_list ap;

        n = (size_t) snprintf(rd->error, sizeof(rd->error), "invalid state file: ");
        va_start(ap, fmt);
        vsnprintf(rd->error + n, sizeof(rd->error) - n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static int read_member(reader *rd, json_t *o, const char *where, const char *key, json_t **ret) {
        json_t *v = json_object_get(o, key);

        if (!v)
                return fail(rd, "%s%s: missing", where, key);
        *ret = v;
        return 0;
}

static int read_uint(reader *rd, json_t *o, const char *where, const char *key, unsigned *ret) {
        json_t *v = NULL;
        int r;

        r = read_member(rd, o, where, key, &v);
        if (r < 0)
                return r;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT_MAX)
                return fail(rd, "%s%s: expected an integer in 0..%u", where, key, UINT_MAX);
        *ret = (unsigned) json_integer_value(v);
        return 0;
}

static int read_time(reader *rd, json_t *o, const char *where, const char *key, bool nullable, usec_t *ret) {
        usec_t t;
        json_t *v = NULL;
        int r;

        r = read_member(rd, o, where, key, &v);
        if (r < 0)
                return r;
        if (nullable && json_is_null(v)) {
                *ret = 0;
                return 0;
        }
        if (!json_is_string(v) || parse_rfc3339(json_string_value(v), &t) < 0 || t >= GP_REALTIME_MAX)
                return fail(rd, "%s%s: expected an RFC 3339 time%s", where, key, nullable ? " or null" : "");
        *ret = t;
        return 0;
}

/* where: "entries[3]." or "line 2: run." */
static int read_entry(reader *rd, json_t *o, const char *where, gp_history_entry *ret) {
        gp_history_entry e = {0};
        const char *s;
        json_t *v = NULL;
        int r;

        if (!json_is_object(o))
                return fail(rd, "%.*s: expected an object", (int) strlen(where) - 1, where);

        r = read_member(rd, o, where, "run_id", &v);
        if (r < 0)
                return r;
        if (!json_is_string(v) || !gp_history_run_id_is_valid(json_string_value(v)))
                return fail(rd, "%srun_id: expected a string of at most 36 printable characters", where);
        s = json_string_value(v);
        memcpy(e.run_id, s, strlen(s));

        r = read_time(rd, o, where, "started_at", false, &e.started_at);
        if (r < 0)
                return r;

        r = read_member(rd, o, where, "result", &v);
        if (r < 0)
                return r;
        s = json_string_value(v);
        if (streq_ptr(s, "pass"))
                e.verdict = GP_VERDICT_PASS;
        else if (streq_ptr(s, "degraded"))
                e.verdict = GP_VERDICT_DEGRADED;
        else if (streq_ptr(s, "fail"))
                e.verdict = GP_VERDICT_FAIL;
        else
                return fail(rd, "%sresult: expected \"pass\", \"degraded\" or \"fail\"", where);

        r = read_member(rd, o, where, "code", &v);
        if (r < 0)
                return r;
        if (!json_is_null(v) && (!json_is_string(v) || !gp_history_code_is_valid(json_string_value(v))))
                return fail(rd, "%scode: expected a result code or null", where);
        if (!json_is_null(v) && e.verdict == GP_VERDICT_PASS)
                return fail(rd, "%scode: a passed run has no code", where);

        r = read_member(rd, o, where, "duration_us", &v);
        if (r < 0)
                return r;
        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return fail(rd, "%sduration_us: expected a non-negative integer", where);
        e.duration = (usec_t) json_integer_value(v);

        s = json_string_value(json_object_get(o, "code"));
        if (s) {
                e.code = strdup(s);
                if (!e.code)
                        return -ENOMEM;
        }
        *ret = e;
        return 0;
}

static int read_schema(reader *rd, json_t *root) {
        json_t *v = NULL;
        int r;

        r = read_member(rd, root, "", "schema", &v);
        if (r < 0)
                return r;
        if (!json_is_integer(v))
                return fail(rd, "schema: expected an integer");
        if (json_integer_value(v) > STATE_SCHEMA) {
                snprintf(rd->error, sizeof(rd->error),
                         "written by a newer gpprobe (state schema %" JSON_INTEGER_FORMAT
                         ", this version reads schema %d)", json_integer_value(v), STATE_SCHEMA);
                return -EINVAL;
        }
        if (json_integer_value(v) != STATE_SCHEMA)
                return fail(rd, "schema: unsupported value %" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 0;
}

static int read_entries(reader *rd, json_t *root, gp_history *h) {
        static const char * const names[] = { "pass", "degraded", "fail" };
        unsigned counts[ELEMENTSOF(names)] = {0};
        size_t n, keep;
        json_t *a = NULL;
        int r;

        r = read_member(rd, root, "", "entries", &a);
        if (r < 0)
                return r;
        if (!json_is_array(a))
                return fail(rd, "entries: expected an array");
        /* Every entry is validated; only the newest History= ones are kept. */
        n = json_array_size(a);
        keep = MIN(n, (size_t) h->capacity);
        r = gp_history_window_alloc(keep, &h->entries, &h->sorted);
        if (r < 0)
                return r;
        h->allocated = keep;
        for (size_t i = 0; i < n; i++) {
                gp_history_entry e;
                char where[48];

                snprintf(where, sizeof(where), "entries[%zu].", i);
                r = read_entry(rd, json_array_get(a, i), where, &e);
                if (r < 0)
                        return r;
                counts[e.verdict]++;
                if (i < n - keep) {
                        free(e.code);
                        continue;
                }
                r = gp_history_entry_render(&e);
                if (r < 0) {
                        gp_history_entry_done(&e);
                        return r;
                }
                h->entries[h->n++] = e;
        }
        gp_history_sort_durations(h);

        for (size_t v = 0; v < ELEMENTSOF(names); v++)
                if (h->totals[v] < counts[v])
                        return fail(rd, "runs_total.%s: %u is less than the %u such entries", names[v],
                                    h->totals[v], counts[v]);
        return 0;
}

static int state_from_json(reader *rd, json_t *root, gp_history *h) {
        json_t *v = NULL, *totals = NULL;
        int r;

        if (!json_is_object(root))
                return fail(rd, "expected a JSON object");
        r = read_schema(rd, root);
        if (r < 0)
                return r;
        if ((r = read_uint(rd, root, "", "consecutive_failures", &h->consecutive_failures)) < 0 ||
            (r = read_uint(rd, root, "", "consecutive_passes", &h->consecutive_passes)) < 0)
                return r;
        if (h->consecutive_failures > 0 && h->consecutive_passes > 0)
                return fail(rd, "consecutive_failures and consecutive_passes are both non-zero");
        r = read_member(rd, root, "", "alerting", &v);
        if (r < 0)
                return r;
        if (!json_is_boolean(v))
                return fail(rd, "alerting: expected true or false");
        h->alerting = json_is_true(v);
        if ((r = read_time(rd, root, "", "last_pass_at", true, &h->last_pass_at)) < 0 ||
            (r = read_time(rd, root, "", "last_failure_at", true, &h->last_failure_at)) < 0)
                return r;
        r = read_member(rd, root, "", "runs_total", &totals);
        if (r < 0)
                return r;
        if (!json_is_object(totals))
                return fail(rd, "runs_total: expected an object");
        if ((r = read_uint(rd, totals, "runs_total.", "pass", &h->totals[GP_VERDICT_PASS])) < 0 ||
            (r = read_uint(rd, totals, "runs_total.", "degraded", &h->totals[GP_VERDICT_DEGRADED])) < 0 ||
            (r = read_uint(rd, totals, "runs_total.", "fail", &h->totals[GP_VERDICT_FAIL])) < 0)
                return r;
        r = read_entries(rd, root, h);
        if (r < 0)
                return r;
        r = gp_history_totals_from_json(h, root, rd->error, sizeof(rd->error));
        if (r < 0)
                return r;
        return gp_stream_totals_from_json(&h->stream, json_object_get(root, "stream"), rd->error,
                                          sizeof(rd->error));
}

static int replay_line(reader *rd, gp_history *h, const char *line, size_t len, unsigned lineno) {
        json_auto_t *o = NULL;
        json_t *run = NULL, *v = NULL;
        gp_history_entry e;
        json_error_t jerr;
        char where[48];
        usec_t at;
        int r;

        o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(o))
                return fail(rd, "line %u: expected an appended run", lineno);
        snprintf(where, sizeof(where), "line %u: ", lineno);
        r = read_member(rd, o, where, "run", &run);
        if (r < 0)
                return r;
        snprintf(where, sizeof(where), "line %u: run.", lineno);
        if ((r = read_entry(rd, run, where, &e)) < 0)
                return r;
        if ((r = read_time(rd, run, where, "finished_at", false, &at)) < 0 ||
            (r = read_member(rd, run, where, "alerting", &v)) < 0 ||
            (!json_is_boolean(v) && (r = fail(rd, "%salerting: expected true or false", where)) < 0)) {
                free(e.code);
                return r;
        }
        r = gp_history_push(h, &e, at);
        if (r < 0)
                return r;
        h->alerting = json_is_true(v);
        /* The stream histograms as they were after this run; a line without them (written before
         * they existed) leaves the document's. */
        if (json_object_get(o, "stream")) {
                r = gp_stream_totals_from_json(&h->stream, json_object_get(o, "stream"), rd->error,
                                               sizeof(rd->error));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* What follows the document: nothing but white space (a file from gp_history_save), or "\n" and
 * one appended run per line (gp_history_append). A last line without its "\n" is an append cut
 * short by a crash, not yet part of the state: ignored. */
static int replay(reader *rd, gp_history *h, const char *p, const char *end) {
        unsigned lineno = 1;

        if (strspn(p, " \t\r\n") == (size_t) (end - p))
                return 0;
        if (*p != '\n')
                return fail(rd, "unexpected data after the document");
        for (p++; p < end; lineno++) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                int r;

                if (!nl) {
                        size_t n = (size_t) (end - p);

                        /* cut short: a prefix of an appended run, nothing else */
                        if (strncmp(p, APPEND_KEY, MIN(n, strlen(APPEND_KEY))) != 0)
                                return fail(rd, "line %u: expected an appended run", lineno + 1);
                        return 0;
                }
                r = replay_line(rd, h, p, (size_t) (nl - p), lineno + 1);
                if (r < 0)
                        return r;
                p = nl + 1;
        }
        return 0;
}

/* jansson quotes the offending input in its messages: keep the message on one printable line. */
static void sanitize(char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f)
                        *s = '?';
}

int gp_history_load(gp_history *h, const char *path, char **ret_error) {
        _cleanup_(gp_history_freep) gp_history *tmp = NULL;
        _cleanup_free_ char *data = NULL;
        json_auto_t *root = NULL;
        json_error_t jerr;
        reader rd = {{0}};
        gp_history swap;
        size_t len = 0;
        int r;

        if (!h || !path)
                return -EINVAL;
        r = gp_read_full_file(path, STATE_FILE_MAX, 0, &data, &len, NULL);
        if (r == -EFBIG) {
                set_errorf(ret_error, "%s: invalid state file: larger than %zu MiB", path,
                          STATE_FILE_MAX / 1024 / 1024);
                return -EINVAL;
        }
        if (r == -EBADFD) {
                set_errorf(ret_error, "%s: invalid state file: not a regular file", path);
                return -EINVAL;
        }
        if (r < 0) {
                set_errorf(ret_error, "%s: %s", path, strerror(-r));
                return r;
        }
        if (len == 0) {
                set_errorf(ret_error, "%s: invalid state file: empty", path);
                return -EINVAL;
        }
        root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &jerr);
        if (!root) {
                sanitize(jerr.text);
                set_errorf(ret_error, "%s: invalid state file: not JSON (line %d, column %d: %s)", path,
                          jerr.line, jerr.column, jerr.text);
                return -EINVAL;
        }

        tmp = gp_history_new(h->capacity);
        if (!tmp) {
                set_errorf(ret_error, "%s: out of memory", path);
                return -ENOMEM;
        }
        r = state_from_json(&rd, root, tmp);
        if (r >= 0)
                r = replay(&rd, tmp, data + jerr.position, data + len);
        if (r == -ENOMEM) {
                set_errorf(ret_error, "%s: out of memory", path);
                return r;
        }
        if (r < 0) {
                set_errorf(ret_error, "%s: %s", path, rd.error);
                return r;
        }

        swap = *h;
        *h = *tmp;
        *tmp = swap;
        return 0;
}
