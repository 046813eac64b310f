/* SPDX-License-Identifier: MIT */
/* StateFile= appended after each run (gp_history_append) and replayed on load. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "fileio.h"
#include "history.h"
#include "result.h"
#include "util.h"

#define T0 ((usec_t) 1795622400 * USEC_PER_SEC + 123456)
#define RUNS 12

typedef struct fixture {
        char dir[64];
        char *path, *other;
        char *saved[RUNS + 1];   /* gp_history_save's file after the snapshot and i appended runs */
        char *file;              /* the snapshot and RUNS appended runs */
        size_t file_len, doc_len;
} fixture;

static unsigned counter;

static void record(gp_history *h, char c) {
        _cleanup_result_ gp_result *r = gp_result_new(1);

        assert_non_null(r);
        counter++;
        r->verdict = c == 'P' ? GP_VERDICT_PASS : c == 'D' ? GP_VERDICT_DEGRADED : GP_VERDICT_FAIL;
        if (r->verdict != GP_VERDICT_PASS)
                assert_non_null(r->code = strdup(c == 'D' ? "slo.total" : counter % 2 ? "ws.closed" : "net.dns"));
        r->duration = 1000 * counter + 7;
        r->started_at = T0 + counter * 60 * USEC_PER_SEC;
        r->finished_at = r->started_at + r->duration;
        snprintf(r->run_id, sizeof(r->run_id), "run-%u", counter);
        assert_int_equal(gp_history_record(h, r, 3, 2, NULL), 0);
}

static char *read_all(const char *path, size_t *ret_len) {
        char *data = NULL;
        size_t len = 0;

        assert_int_equal(gp_read_full_file(path, 1 << 20, 0, &data, &len, NULL), 0);
        if (ret_len)
                *ret_len = len;
        return data;
}

static void write_all(const char *path, const char *data, size_t len) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
}

/* Every persisted figure, to the microsecond, without writing a file (fast enough for every cut
 * of a file): streaks, alert state, last times, totals, codes, histograms and the window. */
static char *saved(const gp_history *h, const char *unused) {
        gp_buf b = {0};

        assert_int_equal(gp_buf_printf(&b, "%u %u %d %" PRIu64 " %" PRIu64 " %u %u %u\n",
                                       gp_history_consecutive_failures(h), gp_history_consecutive_passes(h),
                                       gp_history_alerting(h), gp_history_last_pass_at(h),
                                       gp_history_last_failure_at(h), gp_history_runs_total(h, GP_VERDICT_PASS),
                                       gp_history_runs_total(h, GP_VERDICT_DEGRADED),
                                       gp_history_runs_total(h, GP_VERDICT_FAIL)), 0);
        for (size_t i = 0; i < gp_history_n_code_totals(h); i++) {
                const gp_code_total *c = gp_history_code_total(h, i);

                assert_int_equal(gp_buf_printf(&b, "%s %d %u\n", c->code, c->verdict, c->count), 0);
        }
        for (gp_verdict v = GP_VERDICT_PASS; v <= GP_VERDICT_FAIL; v++) {
                const gp_duration_histogram *d = gp_history_durations(h, v);

                if (!d)
                        continue;
                for (size_t i = 0; i <= GP_DURATION_BUCKETS; i++)
                        assert_int_equal(gp_buf_printf(&b, "%" PRIu64 " ", d->buckets[i]), 0);
                assert_int_equal(gp_buf_printf(&b, "sum %" PRIu64 "\n", d->sum), 0);
        }
        for (size_t i = 0; i < gp_history_size(h); i++) {
                const gp_history_entry *e = gp_history_get(h, i);

                assert_int_equal(gp_buf_printf(&b, "%s %" PRIu64 " %d %s %" PRIu64 " %s\n", e->run_id, e->started_at,
                                               e->verdict, strempty(e->code), e->duration, e->status_json), 0);
        }
        return b.data;
}

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));
        gp_history *h = gp_history_new(5);
        const char *script = "PFFFFPPDFDPP";

        assert_non_null(f);
        assert_non_null(h);
        /* tmpfs when there is one: the appends' fdatasync on a busy disk take seconds */
        snprintf(f->dir, sizeof(f->dir), "%s/test-history-append.XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
        assert_non_null(mkdtemp(f->dir));
        f->path = strdup_printf("%s/staging.state", f->dir);
        f->other = strdup_printf("%s/other.state", f->dir);
        record(h, 'P');
        record(h, 'F');
        f->saved[0] = saved(h, f->other);
        assert_int_equal(gp_history_save(h, f->path, NULL), 0);
        free(read_all(f->path, &f->doc_len));
        for (size_t i = 0; i < RUNS; i++) {
                record(h, script[i]);
                assert_int_equal(gp_history_append(h, f->path, NULL), 0);
                f->saved[i + 1] = saved(h, f->other);
        }
        f->file = read_all(f->path, &f->file_len);
        gp_history_free(h);
        *state = f;
        return 0;
}

/* Each test starts from the file made once by the group's setup (appends are synced: slow on a
 * busy disk). */
static int reset(void **state) {
        fixture *f = *state;

        write_all(f->path, f->file, f->file_len);
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        (void) unlink(f->path);
        (void) unlink(f->other);
        assert_int_equal(rmdir(f->dir), 0);
        for (size_t i = 0; i <= RUNS; i++)
                free(f->saved[i]);
        free(f->file);
        free(f->path);
        free(f->other);
        free(f);
        return 0;
}

/* Loads path into a fresh window of 5; NULL and the message in *ret_error when refused. */
static char *load_and_save(fixture *f, char **ret_error) {
        gp_history *h = gp_history_new(5);
        char *s = NULL;

        assert_non_null(h);
        if (gp_history_load(h, f->path, ret_error) == 0)
                s = saved(h, f->other);
        gp_history_free(h);
        return s;
}

static void test_appended_runs_load_back_exactly_as_recorded(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *got = load_and_save(f, NULL);
        size_t lines = 0;

        for (size_t i = 0; i < f->file_len; i++)
                lines += f->file[i] == '\n';
        assert_int_equal(lines, 1 + RUNS);
        assert_non_null(got);
        /* window, streaks, the alert raised and cleared, totals, codes, histograms, times */
        assert_string_equal(got, f->saved[RUNS]);
}

/* A crash mid-append leaves a prefix of the last line: the state before that run. Any cut inside
 * the document itself is refused, as before. */
static void test_every_cut_loads_the_runs_whole_before_it_or_is_refused(void **state) {
        fixture *f = *state;

        for (size_t n = 1; n < f->file_len; n++) {
                _cleanup_free_ char *got = NULL, *err = NULL;
                size_t whole = 0;

                write_all(f->path, f->file, n);
                got = load_and_save(f, &err);
                if (n + 1 < f->doc_len) {
                        if (got || !strstr(err, "invalid state file"))
                                fail_msg("a cut at %zu of the document loaded", n);
                        continue;
                }
                for (size_t i = f->doc_len; i < n; i++)
                        whole += f->file[i] == '\n';
                if (!got)
                        fail_msg("a cut at %zu (%zu runs whole) was refused: %s", n, whole, err);
                assert_string_equal(got, f->saved[whole]);
        }
}

static void test_a_bad_appended_line_is_refused_naming_it(void **state) {
        fixture *f = *state;
        static const char *const bad[] = {
                "garbage\n", "{\"run\":{}}\n", "{\"run\":1}\n", "{}\n", "[1]\n", "{\"run\":{\"run_id\":\"x\"}}",
                "xyz", "\"run\"",
        };
        _cleanup_free_ char *good = NULL;
        const char *line;
        size_t len;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *text = strdup_printf("%.*s%s", (int) f->doc_len, f->file, bad[i]);
                _cleanup_free_ char *got = NULL, *err = NULL;

                write_all(f->path, text, strlen(text));
                got = load_and_save(f, &err);
                /* the cut-short prefix of a run line is the one tail let through */
                if (i == 5) {
                        assert_non_null(got);
                        assert_string_equal(got, f->saved[0]);
                        continue;
                }
                if (got || !strstr(err, "invalid state file: line 2"))
                        fail_msg("%s: %s", bad[i], got ? "loaded" : err);
        }
        /* a run whose fields are wrong, and one with a pass carrying a code */
        line = strchr(f->file + f->doc_len, '\n') + 1;
        len = (size_t) (line - f->file);
        good = strdup_printf("%.*s{\"run\":{\"run_id\":\"r\",\"started_at\":\"2026-11-25T16:00:00.000000Z\","
                             "\"result\":\"pass\",\"code\":\"net.dns\",\"duration_us\":5,"
                             "\"finished_at\":\"2026-11-25T16:00:00.000000Z\",\"alerting\":false}}\n", (int) len, f->file);
        write_all(f->path, good, strlen(good));
        {
                _cleanup_free_ char *got = NULL, *err = NULL;

                got = load_and_save(f, &err);
                assert_null(got);
                assert_non_null(strstr(err, "line 3: run.code: a passed run has no code"));
        }
}

static void test_append_needs_the_saved_file_and_a_run(void **state) {
        fixture *f = *state;
        gp_history *h = gp_history_new(5);
        _cleanup_free_ char *err = NULL;
        struct stat st;

        assert_non_null(h);
        assert_int_equal(gp_history_append(h, f->path, NULL), -EINVAL);  /* no run yet */
        record(h, 'P');
        assert_int_equal(unlink(f->path), 0);
        assert_int_equal(gp_history_append(h, f->path, &err), -ENOENT);
        assert_non_null(strstr(err, f->path));
        assert_int_equal(stat(f->path, &st), -1);
        gp_history_free(h);
}

/* gp_history_save after appends rewrites one line: the compaction. */
static void test_a_save_compacts_the_appended_runs(void **state) {
        fixture *f = *state;
        gp_history *h = gp_history_new(5);
        _cleanup_free_ char *text = NULL;
        size_t len;

        assert_non_null(h);
        assert_int_equal(gp_history_load(h, f->path, NULL), 0);
        assert_int_equal(gp_history_save(h, f->path, NULL), 0);
        text = read_all(f->path, &len);
        assert_ptr_equal(strchr(text, '\n'), text + len - 1);
        gp_history_free(h);
        h = gp_history_new(5);
        assert_non_null(h);
        assert_int_equal(gp_history_load(h, f->path, NULL), 0);
        {
                _cleanup_free_ char *got = saved(h, NULL);

                assert_string_equal(got, f->saved[RUNS]);
        }
        gp_history_free(h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_appended_runs_load_back_exactly_as_recorded, reset),
                cmocka_unit_test_setup(test_every_cut_loads_the_runs_whole_before_it_or_is_refused, reset),
                cmocka_unit_test_setup(test_a_bad_appended_line_is_refused_naming_it, reset),
                cmocka_unit_test_setup(test_append_needs_the_saved_file_and_a_run, reset),
                cmocka_unit_test_setup(test_a_save_compacts_the_appended_runs, reset),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
