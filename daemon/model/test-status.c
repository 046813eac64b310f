/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "config.h"
#include "history.h"
#include "result.h"
#include "status.h"
#include "util.h"

#define MS(x) ((usec_t) (x) * USEC_PER_MSEC)
#define T0 ((usec_t) 1795622400 * USEC_PER_SEC) /* 2026-11-25T16:00:00Z */

typedef struct fixture {
        char dir[64];
        char *path;
        gp_config cfg;
        gp_daemon_info daemon;
        gp_history *h;
} fixture;

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-status.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->path = strdup_printf("%s/staging.json", f->dir);
        assert_non_null(f->path);
        f->cfg.name = (char *) "staging";
        f->daemon = (gp_daemon_info) {
                .version = "0.1.0",
                .pid = 1234,
                .started_at = T0 + 42 * USEC_PER_MSEC,
                .interval = 60 * USEC_PER_SEC,
        };
        f->h = gp_history_new(100);
        assert_non_null(f->h);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        /* A test that made the directory read-only or filled it with a directory: undo. */
        (void) chmod(f->dir, 0700);
        assert_int_equal(nftw(f->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
        gp_history_free(f->h);
        free(f->path);
        free(f);
        return 0;
}

static gp_result *make_result(gp_verdict v, const char *code, usec_t started_at, usec_t duration) {
        gp_result *r = gp_result_new(1);

        assert_non_null(r);
        r->verdict = v;
        snprintf(r->run_id, sizeof(r->run_id), "5b1d4c1e-0000-4000-8000-%012llu",
                 (unsigned long long) (started_at / USEC_PER_SEC));
        r->started_at = started_at;
        r->finished_at = started_at + duration;
        r->duration = duration;
        if (code) {
                assert_non_null(r->code = strdup(code));
                r->stage = "events";
                assert_non_null(r->reason = strdup("no tool_completed within 30s; saw agent_started"));
        }
        r->phases[GP_PHASE_LOGIN] = 120400;
        r->phases[GP_PHASE_WS_CONNECT] = 45200;
        r->phases[GP_PHASE_FIRST_EVENT] = 310000;
        r->sessions[0].events = calloc(1, sizeof(gp_event_stat));
        assert_non_null(r->sessions[0].events);
        assert_non_null(r->sessions[0].events[0].type = strdup("agent_started"));
        r->sessions[0].events[0].first_at = 310000;
        r->sessions[0].events[0].count = 1;
        r->sessions[0].n_events = 1;
        return r;
}

static void record(fixture *f, const gp_result *r) {
        assert_int_equal(gp_history_record(f->h, r, 3, 1, NULL), 0);
}

/* Records pass, degraded, fail; returns the last one (the caller frees it). */
static gp_result *record_three_runs(fixture *f) {
        _cleanup_result_ gp_result *p = make_result(GP_VERDICT_PASS, NULL, T0 + 60 * USEC_PER_SEC, 1180249);
        _cleanup_result_ gp_result *d =
                make_result(GP_VERDICT_DEGRADED, "slo.total", T0 + 120 * USEC_PER_SEC, 31000000);
        gp_result *fl = make_result(GP_VERDICT_FAIL, "events.timeout", T0 + 180 * USEC_PER_SEC, 30012400);

        record(f, p);
        record(f, d);
        record(f, fl);
        return fl;
}

static char *read_text(const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        gp_buf b = {0};
        char chunk[4096];
        size_t n;

        assert_non_null(f);
        assert_int_equal(gp_buf_append(&b, "", 0), 0);
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                assert_int_equal(gp_buf_append(&b, chunk, n), 0);
        return b.data;
}

static unsigned count_temp_files(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        unsigned n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (de->d_name[0] == '.' && !streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static mode_t file_mode(const char *path) {
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        return st.st_mode & 07777;
}

static void test_status_before_any_run_has_null_last_and_an_empty_window(void **state) {
        fixture *f = *state;
        json_auto_t *o = gp_status_build(&f->cfg, &f->daemon, f->h, NULL, now_usec(CLOCK_REALTIME));
        json_t *w;

        assert_non_null(o);
        assert_true(json_is_null(json_object_get(o, "last")));
        assert_true(json_is_null(json_object_get(o, "last_pass_at")));
        assert_true(json_is_null(json_object_get(o, "last_failure_at")));
        assert_int_equal(json_integer_value(json_object_get(o, "consecutive_failures")), 0);
        assert_int_equal(json_integer_value(json_object_get(o, "consecutive_passes")), 0);
        assert_true(json_is_false(json_object_get(o, "alerting")));
        assert_int_equal(json_array_size(json_object_get(o, "history")), 0);
        w = json_object_get(o, "window");
        assert_int_equal(json_integer_value(json_object_get(w, "runs")), 0);
        assert_true(json_is_number(json_object_get(w, "success_ratio")));
        assert_true(json_is_null(json_object_get(json_object_get(w, "duration_ms"), "p50")));
        assert_true(json_is_null(json_object_get(json_object_get(w, "duration_ms"), "p95")));
        assert_true(json_is_null(json_object_get(json_object_get(w, "duration_ms"), "p99")));
        assert_true(json_is_null(json_object_get(json_object_get(w, "duration_ms"), "max")));
}

static void test_status_has_every_spec_field_in_spec_order_with_the_right_types(void **state) {
        static const struct {
                const char *key;
                json_type type;
        } fields[] = {
                { "schema", JSON_INTEGER },
                { "name", JSON_STRING },
                { "updated_at", JSON_STRING },
                { "daemon", JSON_OBJECT },
                { "last", JSON_OBJECT },
                { "consecutive_failures", JSON_INTEGER },
                { "consecutive_passes", JSON_INTEGER },
                { "alerting", JSON_TRUE },
                { "last_pass_at", JSON_STRING },
                { "last_failure_at", JSON_STRING },
                { "window", JSON_OBJECT },
                { "history", JSON_ARRAY },
                { "silence", JSON_NULL },
        };
        fixture *f = *state;
        _cleanup_result_ gp_result *last = NULL;
        json_auto_t *o = NULL;
        const char *key;
        json_t *v, *d, *w;
        size_t i = 0;

        last = record_three_runs(f);
        /* AlertAfter=1 for one more failure, so that "alerting" is true. */
        assert_int_equal(gp_history_record(f->h, last, 1, 1, NULL), 0);
        o = gp_status_build(&f->cfg, &f->daemon, f->h, last, now_usec(CLOCK_REALTIME));
        assert_non_null(o);
        json_object_foreach(o, key, v) {
                assert_true(i < ELEMENTSOF(fields));
                assert_string_equal(key, fields[i].key);
                if (json_typeof(v) != fields[i].type)
                        fail_msg("%s: type %d, expected %d", key, json_typeof(v), fields[i].type);
                i++;
        }
        assert_int_equal(i, ELEMENTSOF(fields));
        assert_int_equal(json_integer_value(json_object_get(o, "schema")), 1);
        assert_string_equal(json_string_value(json_object_get(o, "name")), "staging");
        assert_int_equal(json_integer_value(json_object_get(o, "consecutive_failures")), 2);

        d = json_object_get(o, "daemon");
        assert_int_equal(json_object_size(d), 4);
        assert_string_equal(json_string_value(json_object_get(d, "version")), "0.1.0");
        assert_int_equal(json_integer_value(json_object_get(d, "pid")), 1234);
        assert_string_equal(json_string_value(json_object_get(d, "started_at")), "2026-11-25T16:00:00.042Z");
        assert_true(json_is_real(json_object_get(d, "interval_ms")));
        assert_true(json_real_value(json_object_get(d, "interval_ms")) == 60000.0);

        w = json_object_get(o, "window");
        assert_int_equal(json_integer_value(json_object_get(w, "runs")), 4);
        assert_true(json_is_real(json_object_get(w, "success_ratio")));
        assert_true(json_real_value(json_object_get(w, "success_ratio")) == 0.5);
        assert_true(json_is_real(json_object_get(json_object_get(w, "duration_ms"), "p50")));

        v = json_array_get(json_object_get(o, "history"), 0);
        assert_true(json_is_string(json_object_get(v, "run_id")));
        assert_true(json_is_string(json_object_get(v, "started_at")));
        assert_string_equal(json_string_value(json_object_get(v, "result")), "pass");
        assert_true(json_is_null(json_object_get(v, "code")));
        assert_true(json_is_real(json_object_get(v, "duration_ms")));
}

static void test_status_names_the_silence_in_force(void **state) {
        fixture *f = *state;
        gp_silence s = { .until = T0 + 90 * USEC_PER_SEC, .reason = (char *) "deploy of v2", .by = (char *) "ops" };
        json_auto_t *o = NULL;
        json_t *j;

        f->daemon.silence = &s;
        o = gp_status_build(&f->cfg, &f->daemon, f->h, NULL, T0);
        assert_non_null(o);
        j = json_object_get(o, "silence");
        assert_true(json_is_object(j));
        assert_string_equal(json_string_value(json_object_get(j, "until")), "2026-11-25T16:01:30.000Z");
        assert_string_equal(json_string_value(json_object_get(j, "reason")), "deploy of v2");
        assert_string_equal(json_string_value(json_object_get(j, "by")), "ops");
        assert_true(json_is_null(json_object_get(j, "created_at")));
        f->daemon.silence = NULL;
}

static void test_status_times_are_rfc3339_utc_with_milliseconds(void **state) {
        fixture *f = *state;
        _cleanup_result_ gp_result *last = record_three_runs(f);
        json_auto_t *o = NULL;
        usec_t before, after, t;

        before = now_usec(CLOCK_REALTIME) / USEC_PER_MSEC * USEC_PER_MSEC;
        o = gp_status_build(&f->cfg, &f->daemon, f->h, last, now_usec(CLOCK_REALTIME));
        after = now_usec(CLOCK_REALTIME);
        assert_non_null(o);
        assert_int_equal(parse_rfc3339(json_string_value(json_object_get(o, "updated_at")), &t), 0);
        assert_true(t >= before && t <= after);
        json_decref(o);
        /* updated_at is the time given, not the clock's. */
        o = gp_status_build(&f->cfg, &f->daemon, f->h, last, 1796140800123456);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "updated_at")), "2026-12-01T16:00:00.123Z");
        assert_int_equal(strlen(json_string_value(json_object_get(o, "updated_at"))), 24);
        /* The degraded run was the last pass, the failed one the last failure; both as finished. */
        assert_string_equal(json_string_value(json_object_get(o, "last_pass_at")),
                            "2026-11-25T16:02:31.000Z");
        assert_string_equal(json_string_value(json_object_get(o, "last_failure_at")),
                            "2026-11-25T16:03:30.012Z");
}

static void test_status_last_is_the_result_object(void **state) {
        fixture *f = *state;
        _cleanup_result_ gp_result *last = record_three_runs(f);
        json_auto_t *o = gp_status_build(&f->cfg, &f->daemon, f->h, last, now_usec(CLOCK_REALTIME));
        json_auto_t *expected = gp_result_to_json(last);
        json_t *l;

        assert_non_null(o);
        l = json_object_get(o, "last");
        assert_true(json_equal(l, expected));
        assert_string_equal(json_string_value(json_object_get(l, "code")), "events.timeout");
        assert_true(json_real_value(json_object_get(l, "duration_ms")) == 30012.4);
}

static void test_status_window_and_history_are_the_history_module_s(void **state) {
        fixture *f = *state;
        _cleanup_result_ gp_result *last = record_three_runs(f);
        json_auto_t *o = gp_status_build(&f->cfg, &f->daemon, f->h, last, now_usec(CLOCK_REALTIME));
        json_auto_t *w = gp_window_to_json(f->h), *h = gp_history_to_json(f->h);

        assert_non_null(o);
        assert_true(json_equal(json_object_get(o, "window"), w));
        assert_true(json_equal(json_object_get(o, "history"), h));
        assert_int_equal(json_array_size(h), 3);
}

static void test_status_file_parses_back_to_the_built_document(void **state) {
        fixture *f = *state;
        _cleanup_result_ gp_result *last = record_three_runs(f);
        _cleanup_free_ char *text = NULL, *err = NULL;
        json_auto_t *built = NULL, *read_back = NULL;
        json_error_t jerr;
        size_t len;

        /* 2 of 3 succeeded: a ratio with more digits than the file keeps. */
        assert_int_equal(gp_status_write(f->path, &f->cfg, &f->daemon, f->h, last, &err), 0);
        assert_null(err);
        built = gp_status_build(&f->cfg, &f->daemon, f->h, last, now_usec(CLOCK_REALTIME));
        assert_non_null(built);
        text = read_text(f->path);
        len = strlen(text);
        /* One line, terminated by a newline; short numbers. */
        assert_true(len > 0);
        assert_ptr_equal(strchr(text, '\n'), text + len - 1);
        assert_non_null(strstr(text, "\"duration_ms\":1180.2}"));
        assert_null(strstr(text, "00000000001"));
        assert_null(strstr(text, "99999999999"));

        read_back = json_loads(text, 0, &jerr);
        assert_non_null(read_back);
        assert_int_equal(json_object_del(read_back, "updated_at"), 0);
        assert_int_equal(json_object_del(built, "updated_at"), 0);
        if (!json_equal(read_back, built)) {
                _cleanup_free_ char *a = json_dumps(built, JSON_COMPACT | JSON_REAL_PRECISION(17));
                fail_msg("read back differs from built:\n%s\n%s", text, a);
        }
        assert_int_equal(file_mode(f->path), 0644);
        assert_int_equal(count_temp_files(f->dir), 0);
}

static void test_status_write_without_a_config_fails_cleanly(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *err = NULL;

        assert_int_equal(gp_status_write(f->path, NULL, &f->daemon, f->h, NULL, &err), -EINVAL);
        assert_non_null(err);
        assert_null(gp_status_build(&f->cfg, NULL, f->h, NULL, 0));
        assert_int_equal(access(f->path, F_OK), -1);
}

static void test_atomic_write_mode_ignores_the_umask(void **state) {
        static const mode_t umasks[] = { 077, 000, 022, 0777 };
        fixture *f = *state;
        _cleanup_free_ char *state_path = strdup_printf("%s/staging.state", f->dir);

        for (size_t i = 0; i < ELEMENTSOF(umasks); i++) {
                mode_t old = umask(umasks[i]);

                assert_int_equal(gp_status_write(f->path, &f->cfg, &f->daemon, f->h, NULL, NULL), 0);
                assert_int_equal(gp_write_atomic(state_path, "{}\n", 3, 0600, NULL), 0);
                assert_int_equal(gp_history_save(f->h, state_path, NULL), 0);
                umask(old);
                assert_int_equal(file_mode(f->path), 0644);
                assert_int_equal(file_mode(state_path), 0600);
        }
        assert_int_equal(count_temp_files(f->dir), 0);
}

static void test_atomic_write_replaces_the_content_and_leaves_no_temp_files(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *a = NULL, *b = NULL, *empty = NULL;

        assert_int_equal(gp_write_atomic(f->path, "first version, longer\n", 22, 0644, NULL), 0);
        a = read_text(f->path);
        assert_string_equal(a, "first version, longer\n");
        assert_int_equal(gp_write_atomic(f->path, "second\n", 7, 0644, NULL), 0);
        b = read_text(f->path);
        assert_string_equal(b, "second\n");
        assert_int_equal(gp_write_atomic(f->path, NULL, 0, 0644, NULL), 0);
        empty = read_text(f->path);
        assert_string_equal(empty, "");
        assert_int_equal(count_temp_files(f->dir), 0);
}

static void test_atomic_write_writes_large_data_completely(void **state) {
        fixture *f = *state;
        size_t len = 8 * 1024 * 1024 + 17;
        _cleanup_free_ char *data = malloc(len + 1), *back = NULL;

        assert_non_null(data);
        for (size_t i = 0; i < len; i++)
                data[i] = (char) ('a' + i % 26);
        data[len] = 0;
        assert_int_equal(gp_write_atomic(f->path, data, len, 0644, NULL), 0);
        back = read_text(f->path);
        assert_int_equal(strlen(back), len);
        assert_memory_equal(back, data, len);
}

static void test_atomic_write_failing_rename_keeps_the_target_and_no_temp_file(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *inner = strdup_printf("%s/keep", f->path), *err = NULL, *back = NULL;

        /* rename(2) cannot replace a non-empty directory, whoever we are. */
        assert_int_equal(mkdir(f->path, 0755), 0);
        assert_int_equal(gp_write_atomic(inner, "kept\n", 5, 0644, NULL), 0);
        assert_true(gp_write_atomic(f->path, "new\n", 4, 0644, &err) < 0);
        assert_non_null(err);
        if (!strstr(err, f->path) || !strstr(err, "rename") || strchr(err, '\n'))
                fail_msg("unexpected message: %s", err);
        back = read_text(inner);
        assert_string_equal(back, "kept\n");
        assert_int_equal(count_temp_files(f->dir), 0);
}

static void test_atomic_write_failing_write_keeps_the_old_content(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *err = NULL, *back = NULL;
        char big[4096];
        struct rlimit old, small;
        void (*old_handler)(int);

        assert_int_equal(gp_write_atomic(f->path, "old\n", 4, 0644, NULL), 0);
        memset(big, 'x', sizeof(big));
        /* A file size limit makes the first write short and the next one fail with EFBIG. */
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        small = old;
        small.rlim_cur = 100;
        old_handler = signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
        assert_int_equal(gp_write_atomic(f->path, big, sizeof(big), 0644, &err), -EFBIG);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        signal(SIGXFSZ, old_handler);
        assert_non_null(err);
        if (!strstr(err, f->path) || !strstr(err, "write"))
                fail_msg("unexpected message: %s", err);
        back = read_text(f->path);
        assert_string_equal(back, "old\n");
        assert_int_equal(file_mode(f->path), 0644);
        assert_int_equal(count_temp_files(f->dir), 0);
}

static void test_atomic_write_into_a_missing_directory_names_the_path(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *path = strdup_printf("%s/missing/staging.json", f->dir), *err = NULL;

        assert_int_equal(gp_write_atomic(path, "x", 1, 0644, &err), -ENOENT);
        assert_non_null(err);
        if (!strstr(err, path))
                fail_msg("unexpected message: %s", err);
}

static void test_atomic_write_rejects_a_directory_name(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *path = strdup_printf("%s/", f->dir), *err = NULL;

        assert_true(gp_write_atomic(path, "x", 1, 0644, &err) < 0);
        assert_non_null(err);
        assert_int_equal(gp_write_atomic("", "x", 1, 0644, NULL), -EINVAL);
        assert_int_equal(count_temp_files(f->dir), 0);
}

static void test_atomic_write_of_a_bare_name_writes_in_the_current_directory(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *cwd = get_current_dir_name(), *back = NULL, *path = NULL;

        assert_non_null(cwd);
        assert_int_equal(chdir(f->dir), 0);
        assert_int_equal(gp_write_atomic("bare.json", "bare\n", 5, 0644, NULL), 0);
        assert_int_equal(chdir(cwd), 0);
        path = strdup_printf("%s/bare.json", f->dir);
        back = read_text(path);
        assert_string_equal(back, "bare\n");
        assert_int_equal(count_temp_files(f->dir), 0);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_status_before_any_run_has_null_last_and_an_empty_window),
                T(test_status_has_every_spec_field_in_spec_order_with_the_right_types),
                T(test_status_times_are_rfc3339_utc_with_milliseconds),
                T(test_status_names_the_silence_in_force),
                T(test_status_last_is_the_result_object),
                T(test_status_window_and_history_are_the_history_module_s),
                T(test_status_file_parses_back_to_the_built_document),
                T(test_status_write_without_a_config_fails_cleanly),
                T(test_atomic_write_mode_ignores_the_umask),
                T(test_atomic_write_replaces_the_content_and_leaves_no_temp_files),
                T(test_atomic_write_writes_large_data_completely),
                T(test_atomic_write_failing_rename_keeps_the_target_and_no_temp_file),
                T(test_atomic_write_failing_write_keeps_the_old_content),
                T(test_atomic_write_into_a_missing_directory_names_the_path),
                T(test_atomic_write_rejects_a_directory_name),
                T(test_atomic_write_of_a_bare_name_writes_in_the_current_directory),
        };
#undef T

        return cmocka_run_group_tests(tests, NULL, NULL);
}
