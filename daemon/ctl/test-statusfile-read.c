/* SPDX-License-Identifier: MIT */
/* The status file reader: what gpprobectl trusts. Anything but a complete, well-typed schema-1
 * document is refused with a reason, and nothing makes it crash or read without bound. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "config.h"
#include "history.h"
#include "result.h"
#include "status.h"
#include "statusfile-read.h"
#include "util.h"

/* What gp_status_write produces (compact, one line), with a fail last run and three runs. */
static const char valid_doc[] =
        "{\"schema\": 1, \"name\": \"staging\", \"updated_at\": \"2026-11-25T16:00:00.123Z\","
        " \"daemon\": {\"version\": \"0.1.0\", \"pid\": 1234, \"started_at\": \"2026-11-25T15:00:00.000Z\","
        " \"interval_ms\": 60000},"
        " \"last\": {\"run_id\": \"3f1c6a52-5f0e-4a8e-9d0e-1b2c3d4e5f60\","
        " \"started_at\": \"2026-11-25T15:59:30.000Z\", \"finished_at\": \"2026-11-25T16:00:00.012Z\","
        " \"result\": \"fail\", \"stage\": \"events\", \"code\": \"events.timeout\","
        " \"reason\": \"no tool_completed within 30s; saw agent_started \xe2\x80\xa6\","
        " \"duration_ms\": 30012.4, \"users\": 1,"
        " \"phases_ms\": {\"preflight\": 3.1, \"login\": 120.4, \"ws_connect\": 45.2, \"first_event\": 310.0,"
        " \"complete\": null},"
        " \"events\": [{\"type\": \"agent_started\", \"at_ms\": 310.0, \"count\": 1}]},"
        " \"consecutive_failures\": 1, \"consecutive_passes\": 0, \"alerting\": false,"
        " \"last_pass_at\": \"2026-11-25T15:59:00.000Z\", \"last_failure_at\": \"2026-11-25T16:00:00.012Z\","
        " \"window\": {\"runs\": 3, \"pass\": 1, \"degraded\": 1, \"fail\": 1, \"success_ratio\": 0.666666666666667,"
        " \"duration_ms\": {\"p50\": 1210.0, \"p95\": 30012.4, \"p99\": 30012.4, \"max\": 30012.4}},"
        " \"history\": ["
        "{\"run_id\": \"a\", \"started_at\": \"2026-11-25T15:58:00.000Z\", \"result\": \"pass\", \"code\": null,"
        " \"duration_ms\": 1180.2},"
        "{\"run_id\": \"b\", \"started_at\": \"2026-11-25T15:59:00.000Z\", \"result\": \"degraded\","
        " \"code\": \"slo.login\", \"duration_ms\": 1210.0},"
        "{\"run_id\": \"c\", \"started_at\": \"2026-11-25T15:59:30.000Z\", \"result\": \"fail\","
        " \"code\": \"events.timeout\", \"duration_ms\": 30012.4}]}";

static json_t *load_valid(void) {
        json_t *j = json_loads(valid_doc, 0, NULL);

        assert_non_null(j);
        return j;
}

/* Parses a jansson document through its compact dump, as the daemon writes it. */
static int parse_json(const json_t *j, gp_status_file **ret, char **ret_error) {
        _cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);

        assert_non_null(s);
        return gp_status_file_parse(s, strlen(s), ret, ret_error);
}

static void expect_refused(const json_t *j, int error, const char *mention) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *err = NULL, *s = json_dumps(j, JSON_COMPACT);
        int r = parse_json(j, &sf, &err);

        if (r != error)
                fail_msg("expected %d, got %d (%s) for %s", error, r, strempty(err), s);
        assert_null(sf);
        assert_non_null(err);
        assert_null(strchr(err, '\n'));
        if (mention && !strstr(err, mention))
                fail_msg("'%s' does not mention '%s'", err, mention);
}

static void test_valid_document_reads_every_field(void **state) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *err = NULL;
        usec_t t;

        assert_int_equal(gp_status_file_parse(valid_doc, strlen(valid_doc), &sf, &err), 0);
        assert_null(err);
        assert_int_equal(sf->schema, 1);
        assert_string_equal(sf->name, "staging");
        assert_int_equal(parse_rfc3339("2026-11-25T16:00:00.123Z", &t), 0);
        assert_true(sf->updated_at == t);
        assert_string_equal(sf->daemon_version, "0.1.0");
        assert_int_equal(sf->daemon_pid, 1234);
        assert_true(sf->interval == 60 * USEC_PER_SEC);
        assert_true(sf->have_last);
        assert_int_equal(sf->last.result, GP_SF_FAIL);
        assert_string_equal(sf->last.stage, "events");
        assert_string_equal(sf->last.code, "events.timeout");
        assert_true(sf->last.duration_ms > 30012.3 && sf->last.duration_ms < 30012.5);
        assert_int_equal(sf->last.users, 1);
        assert_true(sf->last.finished_at - sf->last.started_at == 30012 * USEC_PER_MSEC);
        assert_int_equal(sf->consecutive_failures, 1);
        assert_false(sf->alerting);
        assert_true(sf->last_pass_at > 0 && sf->last_failure_at > sf->last_pass_at);
        assert_int_equal(sf->window_runs, 3);
        assert_int_equal(sf->n_history, 3);
        assert_int_equal(sf->history[0].result, GP_SF_PASS);
        assert_null(sf->history[0].code);
        assert_string_equal(sf->history[1].code, "slo.login");
        assert_string_equal(sf->history[2].run_id, "c");
        assert_true(sf->history[2].started_at == sf->last.started_at);
}

static void test_no_run_yet_is_valid_without_last(void **state) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *err = NULL;
        json_t *j = load_valid(), *w = json_object_get(j, "window");

        json_object_set_new(j, "last", json_null());
        json_object_set_new(j, "history", json_array());
        json_object_set_new(j, "last_pass_at", json_null());
        json_object_set_new(j, "last_failure_at", json_null());
        json_object_set_new(j, "consecutive_failures", json_integer(0));
        json_object_set_new(w, "runs", json_integer(0));
        json_object_set_new(w, "pass", json_integer(0));
        json_object_set_new(w, "degraded", json_integer(0));
        json_object_set_new(w, "fail", json_integer(0));
        json_object_set_new(w, "success_ratio", json_real(0));
        json_object_set_new(w, "duration_ms", json_pack("{s:n, s:n, s:n, s:n}", "p50", "p95", "p99", "max"));
        assert_int_equal(parse_json(j, &sf, &err), 0);
        assert_false(sf->have_last);
        assert_int_equal(sf->n_history, 0);
        assert_true(sf->last_pass_at == 0);
        json_decref(j);
}

/* The fields a reader relies on and the JSON types each may have. */
enum { T_STR = 1, T_INT = 2, T_REAL = 4, T_NULL = 8, T_BOOL = 16, T_ARR = 32, T_OBJ = 64 };
static const struct {
        const char *parent;   /* "" root, "daemon", "last", "window", "history" (its entry 1) */
        const char *key;
        unsigned types;
} fields[] = {
        { "", "schema", T_INT },
        { "", "name", T_STR },
        { "", "updated_at", T_STR },
        { "", "daemon", T_OBJ },
        { "", "last", T_OBJ | T_NULL },
        { "", "consecutive_failures", T_INT },
        { "", "consecutive_passes", T_INT },
        { "", "alerting", T_BOOL },
        { "", "last_pass_at", T_STR | T_NULL },
        { "", "last_failure_at", T_STR | T_NULL },
        { "", "window", T_OBJ },
        { "", "history", T_ARR },
        { "daemon", "version", T_STR | T_NULL },
        { "daemon", "pid", T_INT },
        { "daemon", "started_at", T_STR },
        { "daemon", "interval_ms", T_INT | T_REAL },
        { "last", "run_id", T_STR },
        { "last", "started_at", T_STR },
        { "last", "finished_at", T_STR },
        { "last", "result", T_STR },
        { "last", "stage", T_STR | T_NULL },
        { "last", "code", T_STR | T_NULL },
        { "last", "reason", T_STR | T_NULL },
        { "last", "duration_ms", T_INT | T_REAL | T_NULL },
        { "last", "users", T_INT },
        { "last", "phases_ms", T_OBJ },
        { "window", "runs", T_INT },
        { "window", "pass", T_INT },
        { "window", "degraded", T_INT },
        { "window", "fail", T_INT },
        { "window", "success_ratio", T_INT | T_REAL },
        { "window", "duration_ms", T_OBJ },
        { "history", "started_at", T_STR },
        { "history", "result", T_STR },
        { "history", "code", T_STR | T_NULL },
        { "history", "duration_ms", T_INT | T_REAL | T_NULL },
};

static json_t *parent_of(json_t *root, const char *parent) {
        if (streq(parent, ""))
                return root;
        if (streq(parent, "history"))
                return json_array_get(json_object_get(root, "history"), 1);
        return json_object_get(root, parent);
}

static void test_every_required_field_missing_is_refused_by_name(void **state) {
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                json_t *j = load_valid();

                assert_int_equal(json_object_del(parent_of(j, fields[i].parent), fields[i].key), 0);
                expect_refused(j, -EINVAL, fields[i].key);
                json_decref(j);
        }
}

static void test_every_field_with_a_wrong_type_is_refused(void **state) {
        static const struct {
                unsigned type;
                const char *json;
        } values[] = {
                { T_STR, "\"x\"" }, { T_INT, "7" }, { T_REAL, "7.5" }, { T_NULL, "null" },
                { T_BOOL, "true" }, { T_ARR, "[]" }, { T_OBJ, "{}" },
        };

        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                for (size_t k = 0; k < ELEMENTSOF(values); k++) {
                        json_t *j;

                        if (fields[i].types & values[k].type)
                                continue;
                        j = load_valid();
                        json_object_set_new(parent_of(j, fields[i].parent), fields[i].key,
                                            json_loads(values[k].json, JSON_DECODE_ANY, NULL));
                        expect_refused(j, -EINVAL, fields[i].key);
                        json_decref(j);
                }
}

static void test_bad_values_of_the_right_type_are_refused(void **state) {
        static const struct {
                const char *parent, *key, *json, *mention;
        } cases[] = {
                { "", "schema", "0", "schema" },
                { "", "schema", "-1", "schema" },
                { "", "updated_at", "\"yesterday\"", "updated_at" },
                { "", "updated_at", "\"2026-11-25 16:00\"", "updated_at" },
                { "", "consecutive_failures", "-1", "consecutive_failures" },
                { "", "consecutive_failures", "4294967296", "consecutive_failures" },
                { "", "last_pass_at", "\"\"", "last_pass_at" },
                { "daemon", "interval_ms", "0", "interval_ms" },
                { "daemon", "interval_ms", "-60000", "interval_ms" },
                { "daemon", "pid", "-5", "pid" },
                { "last", "result", "\"PASS\"", "result" },
                { "last", "result", "\"cancelled\"", "result" },
                { "last", "users", "0", "users" },
                { "last", "duration_ms", "-1.5", "duration_ms" },
                { "last", "finished_at", "\"\"", "finished_at" },
                { "window", "runs", "4", "window" },
                { "window", "success_ratio", "0.9", "success_ratio" },
                { "window", "success_ratio", "1.5", "success_ratio" },
                { "window", "duration_ms", "{\"p50\": \"fast\"}", "p50" },
                { "history", "result", "\"ok\"", "history[1].result" },
                { "history", "started_at", "\"2026-13-01T00:00:00Z\"", "history[1].started_at" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_t *j = load_valid();

                json_object_set_new(parent_of(j, cases[i].parent), cases[i].key,
                                    json_loads(cases[i].json, JSON_DECODE_ANY, NULL));
                expect_refused(j, -EINVAL, cases[i].mention);
                json_decref(j);
        }
}

static void test_truncated_at_every_byte_never_validates(void **state) {
        size_t len = strlen(valid_doc);

        for (size_t n = 0; n < len; n++) {
                gp_status_file *sf = NULL;
                char *err = NULL;
                /* An exact-size heap copy: ASan catches a read past the cut. */
                char *copy = malloc(n ? n : 1);
                int r;

                assert_non_null(copy);
                memcpy(copy, valid_doc, n);
                r = gp_status_file_parse(copy, n, &sf, &err);
                if (r != -EINVAL)
                        fail_msg("a document cut at byte %zu of %zu gave %d", n, len, r);
                assert_null(sf);
                assert_non_null(err);
                free(err);
                free(copy);
        }
}

static void test_truncated_file_says_truncated(void **state) {
        gp_status_file *sf = NULL;
        _cleanup_free_ char *err = NULL;

        assert_int_equal(gp_status_file_parse(valid_doc, 100, &sf, &err), -EINVAL);
        assert_non_null(strstr(err, "truncated"));
        free(TAKE_PTR(err));
        assert_int_equal(gp_status_file_parse("", 0, &sf, &err), -EINVAL);
        assert_string_equal(err, "empty file");
}

static void test_newer_schema_is_refused_as_newer(void **state) {
        json_t *j = load_valid();

        json_object_set_new(j, "schema", json_integer(2));
        expect_refused(j, -EPROTONOSUPPORT, "newer gpprobe");
        /* A newer schema may change everything else: it is refused before anything else is read. */
        json_object_del(j, "name");
        json_object_set_new(j, "last", json_string("different now"));
        expect_refused(j, -EPROTONOSUPPORT, "schema 2");
        json_object_set_new(j, "schema", json_real(1.0));
        expect_refused(j, -EINVAL, "schema");
        json_object_set_new(j, "schema", json_string("1"));
        expect_refused(j, -EINVAL, "schema");
        json_decref(j);
}

static void test_huge_input_is_refused_before_parsing(void **state) {
        size_t len = GP_STATUS_FILE_MAX + 1;
        char *big = malloc(len);
        gp_status_file *sf = NULL;
        char *err = NULL;

        assert_non_null(big);
        memset(big, ' ', len);
        assert_int_equal(gp_status_file_parse(big, len, &sf, &err), -EFBIG);
        assert_null(sf);
        assert_non_null(strstr(err, "too large"));
        free(err);
        free(big);
}

static char *temp_path(const char *name) {
        const char *tmp = getenv("TMPDIR");
        char *dir = strdup_printf("%s/test-statusfile-XXXXXX", isempty(tmp) ? "/tmp" : tmp);
        char *p;

        assert_non_null(dir);
        assert_non_null(mkdtemp(dir));
        p = strdup_printf("%s/%s", dir, name);
        free(dir);
        return p;
}

static void remove_temp(char *path) {
        char *slash = strrchr(path, '/');

        (void) unlink(path);
        *slash = '\0';
        (void) rmdir(path);
        free(path);
}

/* The bounded reader itself: common/test-fileio.c. */
static void test_files_are_read_with_a_bound(void **state) {
        char *path = temp_path("staging.json");
        _cleanup_free_ char *err = NULL;
        int fd;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);

        /* Larger than 16 MiB (sparse, so cheap): refused without reading it all. */
        assert_int_equal(ftruncate(fd, (off_t) GP_STATUS_FILE_MAX + 1), 0);
        close(fd);
        {
                gp_status_file *sf = NULL;
                assert_int_equal(gp_status_file_load(path, &sf, &err), -EFBIG);
                assert_null(sf);
                assert_non_null(strstr(err, path));
                assert_non_null(strstr(err, "too large"));
        }
        remove_temp(path);
}

static void test_fifo_directory_and_missing_file_are_refused_without_blocking(void **state) {
        char *path = temp_path("staging.json");
        gp_status_file *sf = NULL;
        char *err = NULL;

        assert_int_equal(gp_status_file_load(path, &sf, &err), -ENOENT);
        assert_non_null(strstr(err, path));
        free(err);

        assert_int_equal(mkfifo(path, 0600), 0);
        assert_int_equal(gp_status_file_load(path, &sf, &err), -EINVAL);
        assert_non_null(strstr(err, "not a regular file"));
        free(err);
        assert_int_equal(unlink(path), 0);

        assert_int_equal(mkdir(path, 0700), 0);
        assert_true(gp_status_file_load(path, &sf, &err) < 0);
        assert_null(sf);
        free(err);
        assert_int_equal(rmdir(path), 0);
        remove_temp(path);
}

static void expect_bytes_refused(const char *data, size_t len) {
        gp_status_file *sf = NULL;
        char *err = NULL;

        assert_int_equal(gp_status_file_parse(data, len, &sf, &err), -EINVAL);
        assert_null(sf);
        assert_non_null(err);
        free(err);
}

/* Replaces the first occurrence of what in the valid document. */
static char *valid_with(const char *what, const char *with, size_t with_len) {
        const char *p = strstr(valid_doc, what);
        gp_buf b = {0};

        assert_non_null(p);
        assert_int_equal(gp_buf_append(&b, valid_doc, (size_t) (p - valid_doc)), 0);
        assert_int_equal(gp_buf_append(&b, with, with_len), 0);
        assert_int_equal(gp_buf_append(&b, p + strlen(what), strlen(p + strlen(what))), 0);
        return b.data;
}

static void test_non_utf8_and_nul_bytes_are_refused(void **state) {
        static const char * const bad[] = {
                "\xff\xfe", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x80", "\x80",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *doc = valid_with("saw agent_started", bad[i], strlen(bad[i]));
                expect_bytes_refused(doc, strlen(doc));
        }
        {
                _cleanup_free_ char *doc = valid_with("saw agent_started", "a\0b", 3);
                expect_bytes_refused(doc, strlen(valid_doc) - strlen("saw agent_started") + 3);
        }
        {
                _cleanup_free_ char *doc = valid_with("saw agent_started", "\\u0000", 6);
                expect_bytes_refused(doc, strlen(doc));
        }
        {
                /* A valid document followed by a NUL and more: not one document. */
                char doc[sizeof(valid_doc) + 8];
                memcpy(doc, valid_doc, sizeof(valid_doc));
                memcpy(doc + sizeof(valid_doc), "{}\n", 3);
                expect_bytes_refused(doc, sizeof(valid_doc) + 3);
        }
}

static void test_nested_garbage_and_foreign_json_are_refused(void **state) {
        static const char * const bad[] = {
                "null", "1", "\"schema\"", "[]", "[{\"schema\": 1}]", "{}", "{\"schema\": 1}",
                "{\"schema\": 1, \"schema\": 1}", "{\"a\":", "{\"a\": [1, 2,]}", "{'schema': 1}",
                "\n\n   ", "{\"schema\": 1e999}", "{\"schema\": 99999999999999999999999}",
        };
        const size_t depth = 200000;
        char *deep = malloc(depth * 5);
        unsigned seed = 1;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                expect_bytes_refused(bad[i], strlen(bad[i]));

        /* Deeper than any parser stack should go: refused, not a stack overflow. */
        assert_non_null(deep);
        memset(deep, '[', depth);
        memset(deep + depth, ']', depth);
        expect_bytes_refused(deep, depth * 2);
        for (size_t i = 0; i < depth; i++)
                memcpy(deep + 5 * i, "{\"a\":", 5);
        expect_bytes_refused(deep, depth * 5);

        /* Random bytes, and the valid document with random bytes flipped: never a crash, and a
         * flipped document either parses or is refused with a reason. */
        for (int round = 0; round < 2000; round++) {
                size_t len = strlen(valid_doc);
                char *doc = malloc(len);
                gp_status_file *sf = NULL;
                char *err = NULL;
                int r;

                assert_non_null(doc);
                memcpy(doc, valid_doc, len);
                for (int k = 0; k < 1 + round % 4; k++) {
                        seed = seed * 1103515245u + 12345u;
                        doc[(seed >> 8) % len] = (char) (seed >> 20);
                }
                r = gp_status_file_parse(doc, len, &sf, &err);
                assert_true(r == 0 || r == -EINVAL || r == -EPROTONOSUPPORT);
                assert_true((r == 0) == (sf != NULL));
                assert_true((r == 0) == (err == NULL));
                gp_status_file_free(sf);
                free(err);
                free(doc);
        }
        free(deep);

        /* Trailing garbage after a valid document. */
        {
                _cleanup_free_ char *doc = strdup_printf("%s}", valid_doc);
                expect_bytes_refused(doc, strlen(doc));
        }
}

static void test_unknown_members_are_ignored_for_forward_compatibility(void **state) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *err = NULL;
        json_t *j = load_valid();

        json_object_set_new(j, "metrics", json_pack("{s:[[[[{}]]]]}", "x"));
        json_object_set_new(json_object_get(j, "last"), "sessions", json_array());
        json_object_del(json_array_get(json_object_get(j, "history"), 0), "run_id");
        assert_int_equal(parse_json(j, &sf, &err), 0);
        assert_null(sf->history[0].run_id);
        json_decref(j);
}

static void test_a_silence_is_read_and_checked_like_the_daemon_does(void **state) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        json_t *j = load_valid();
        usec_t until;

        /* Absent (an older daemon) and null: none. */
        assert_int_equal(parse_json(j, &sf, NULL), 0);
        assert_false(sf->have_silence);
        sf = gp_status_file_free(sf);
        json_object_set_new(j, "silence", json_null());
        assert_int_equal(parse_json(j, &sf, NULL), 0);
        assert_false(sf->have_silence);
        sf = gp_status_file_free(sf);

        json_object_set_new(j, "silence", json_pack("{s:s, s:s, s:s, s:n}", "until", "2026-11-25T16:30:00.000Z",
                                                    "reason", "deploy of v2", "by", "alice", "created_at"));
        assert_int_equal(parse_json(j, &sf, NULL), 0);
        assert_true(sf->have_silence);
        assert_int_equal(parse_rfc3339("2026-11-25T16:30:00Z", &until), 0);
        assert_int_equal(sf->silence_until, until);
        assert_string_equal(sf->silence_reason, "deploy of v2");
        assert_string_equal(sf->silence_by, "alice");
        assert_true(gp_status_file_silenced(sf, until - 1));
        assert_false(gp_status_file_silenced(sf, until));

        json_object_set_new(j, "silence", json_string("yes"));
        expect_refused(j, -EINVAL, "silence: expected an object or null");
        json_object_set_new(j, "silence", json_pack("{s:s}", "reason", "x"));
        expect_refused(j, -EINVAL, "silence.until: missing");
        json_object_set_new(j, "silence", json_pack("{s:s, s:s}", "until", "2026-11-25T16:30:00Z", "reason",
                                                    "\x1b[2J"));
        expect_refused(j, -EINVAL, "silence.reason contains a control character");
        json_object_set_new(j, "silence", json_pack("{s:s, s:s, s:i}", "until", "2026-11-25T16:30:00Z", "reason", "x",
                                                    "by", 3));
        expect_refused(j, -EINVAL, "silence.by: expected a string or null");
        json_decref(j);
}

static gp_status_file *parse_history(const char *results, usec_t step) {
        gp_status_file *sf = NULL;
        char *err = NULL;
        json_t *j = load_valid(), *h = json_array(), *w = json_object_get(j, "window");
        unsigned n[3] = {0};
        size_t count = strlen(results);

        for (size_t i = 0; i < count; i++) {
                char when[32];
                const char *res = results[i] == 'p' ? "pass" : results[i] == 'd' ? "degraded" : "fail";

                n[results[i] == 'p' ? 0 : results[i] == 'd' ? 1 : 2]++;
                format_rfc3339(when, sizeof(when), (1000 + i * step) * USEC_PER_SEC);
                json_array_append_new(h, json_pack("{s:s, s:s, s:s?, s:f}", "started_at", when, "result", res,
                                                   "code", results[i] == 'f' ? "net.dns" : NULL,
                                                   "duration_ms", 10.0));
        }
        json_object_set_new(j, "history", h);
        json_object_set_new(w, "runs", json_integer((json_int_t) count));
        json_object_set_new(w, "pass", json_integer(n[0]));
        json_object_set_new(w, "degraded", json_integer(n[1]));
        json_object_set_new(w, "fail", json_integer(n[2]));
        json_object_set_new(w, "success_ratio", json_real((double) (n[0] + n[1]) / (double) count));
        assert_int_equal(parse_json(j, &sf, &err), 0);
        json_decref(j);
        return sf;
}

static void test_ratio_over_the_newest_runs(void **state) {
        _cleanup_status_file_ gp_status_file *sf = parse_history("ffpdpp", 60);
        double ratio;
        size_t runs;

        assert_int_equal(gp_status_file_ratio(sf, 4, &ratio, &runs), 0);
        assert_int_equal(runs, 4);
        assert_true(ratio == 1.0);  /* degraded counts as success */
        assert_int_equal(gp_status_file_ratio(sf, 5, &ratio, &runs), 0);
        assert_true(ratio == 0.8);
        assert_int_equal(gp_status_file_ratio(sf, 0, &ratio, &runs), 0);
        assert_int_equal(runs, 6);
        assert_int_equal(gp_status_file_ratio(sf, 100, &ratio, &runs), 0);
        assert_int_equal(runs, 6);
}

static void test_passes_since_count_the_newest_streak_after_since(void **state) {
        _cleanup_status_file_ gp_status_file *sf = parse_history("ppfpdpp", 60);
        const gp_sf_entry *reset;
        unsigned passes, runs;

        /* Everything: the streak after the fail, where degraded breaks it unless allowed. */
        gp_status_file_passes_since(sf, 0, false, &passes, &runs, &reset);
        assert_int_equal(passes, 2);
        assert_int_equal(runs, 7);
        assert_ptr_equal(reset, &sf->history[4]);
        gp_status_file_passes_since(sf, 0, true, &passes, &runs, &reset);
        assert_int_equal(passes, 4);
        assert_ptr_equal(reset, &sf->history[2]);
        /* Since the fourth run: no failure among them with degraded allowed. */
        gp_status_file_passes_since(sf, (1000 + 3 * 60) * USEC_PER_SEC, true, &passes, &runs, &reset);
        assert_int_equal(passes, 4);
        assert_int_equal(runs, 4);
        assert_null(reset);
        /* A since after every run: nothing yet. */
        gp_status_file_passes_since(sf, 999999 * USEC_PER_SEC, false, &passes, &runs, &reset);
        assert_int_equal(passes, 0);
        assert_int_equal(runs, 0);
        assert_null(reset);
}

/* The contract with the writer: whatever gp_status_build/gp_status_write produce, the reader
 * accepts, and reads back the same values. */

#define T0 ((usec_t) 1795622400 * USEC_PER_SEC) /* 2026-11-25T16:00:00Z */

static gp_result *writer_result(gp_verdict v, const char *code, usec_t started_at, usec_t duration) {
        gp_result *r = gp_result_new(1);

        assert_non_null(r);
        r->verdict = v;
        snprintf(r->run_id, sizeof(r->run_id), "5b1d4c1e-0000-4000-8000-%012llu",
                 (unsigned long long) (started_at / USEC_PER_SEC % 1000000000000ULL));
        r->started_at = started_at;
        r->finished_at = started_at + duration;
        r->duration = duration;
        if (code) {
                assert_non_null(r->code = strdup(code));
                r->stage = "events";
                assert_non_null(r->reason = strdup("no tool_completed within 30s; saw agent_started \xe2\x80\xa6"));
        }
        r->phases[GP_PHASE_LOGIN] = 120400;
        return r;
}

static gp_status_file *write_and_read(const gp_history *h, const gp_result *last, usec_t interval) {
        gp_config cfg = { .name = (char *) "staging" };
        gp_daemon_info d = { .version = "0.1.0", .pid = 1234, .started_at = T0, .interval = interval };
        char *path = temp_path("staging.json");
        gp_status_file *sf = NULL;
        _cleanup_free_ char *err = NULL;

        assert_int_equal(gp_status_write(path, &cfg, &d, h, last, &err), 0);
        if (gp_status_file_load(path, &sf, &err) < 0)
                fail_msg("the reader refuses what the writer wrote: %s", err);
        remove_temp(path);
        return sf;
}

static void test_reads_what_the_daemon_writes(void **state) {
        gp_history *h = gp_history_new(100);
        gp_status_file *sf;
        static const struct {
                gp_verdict v;
                const char *code;
                usec_t duration;
        } runs[] = {
                { GP_VERDICT_PASS, NULL, 1180249 },
                { GP_VERDICT_DEGRADED, "slo.total", 31000000 },
                { GP_VERDICT_FAIL, "events.timeout", 30012400 },
        };
        gp_result *last = NULL;

        assert_non_null(h);
        /* Just started: no run yet. */
        sf = write_and_read(h, NULL, 60 * USEC_PER_SEC);
        assert_false(sf->have_last);
        assert_int_equal(sf->n_history, 0);
        assert_true(sf->interval == 60 * USEC_PER_SEC);
        gp_status_file_free(sf);

        for (size_t i = 0; i < ELEMENTSOF(runs); i++) {
                gp_result_free(last);
                last = writer_result(runs[i].v, runs[i].code, T0 + (i + 1) * 60 * USEC_PER_SEC, runs[i].duration);
                assert_int_equal(gp_history_record(h, last, 3, 1, NULL), 0);
                sf = write_and_read(h, last, 60 * USEC_PER_SEC);
                assert_true(sf->have_last);
                assert_int_equal(sf->n_history, i + 1);
                assert_true(sf->last.started_at == last->started_at);
                /* RFC 3339 with milliseconds */
                assert_true(sf->last.finished_at == last->finished_at - last->finished_at % USEC_PER_MSEC);
                assert_string_equal(sf->last.run_id, last->run_id);
                assert_true(sf->history[i].started_at == last->started_at);
                assert_int_equal(sf->window_runs, i + 1);
                gp_status_file_free(sf);
        }
        sf = write_and_read(h, last, 1500 * USEC_PER_MSEC);
        assert_int_equal(sf->last.result, GP_SF_FAIL);
        assert_string_equal(sf->last.code, "events.timeout");
        assert_true(sf->last.duration_ms > 30012.3 && sf->last.duration_ms < 30012.5);
        assert_int_equal(sf->history[1].result, GP_SF_DEGRADED);
        assert_string_equal(sf->history[1].code, "slo.total");
        assert_null(sf->history[0].code);
        assert_int_equal(sf->consecutive_failures, 1);
        assert_true(sf->success_ratio > 0.666 && sf->success_ratio < 0.667);
        assert_true(sf->interval == 1500 * USEC_PER_MSEC);
        gp_status_file_free(sf);

        /* Alerting after AlertAfter=3 failures. */
        for (int i = 0; i < 2; i++) {
                gp_result_free(last);
                last = writer_result(GP_VERDICT_FAIL, "net.dns", T0 + (10 + i) * 60 * USEC_PER_SEC, 5000);
                assert_int_equal(gp_history_record(h, last, 3, 1, NULL), 0);
        }
        sf = write_and_read(h, last, 60 * USEC_PER_SEC);
        assert_true(sf->alerting);
        assert_int_equal(sf->consecutive_failures, 3);
        gp_status_file_free(sf);
        gp_result_free(last);
        gp_history_free(h);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_document_reads_every_field),
                cmocka_unit_test(test_no_run_yet_is_valid_without_last),
                cmocka_unit_test(test_every_required_field_missing_is_refused_by_name),
                cmocka_unit_test(test_every_field_with_a_wrong_type_is_refused),
                cmocka_unit_test(test_bad_values_of_the_right_type_are_refused),
                cmocka_unit_test(test_truncated_at_every_byte_never_validates),
                cmocka_unit_test(test_truncated_file_says_truncated),
                cmocka_unit_test(test_newer_schema_is_refused_as_newer),
                cmocka_unit_test(test_huge_input_is_refused_before_parsing),
                cmocka_unit_test(test_files_are_read_with_a_bound),
                cmocka_unit_test(test_fifo_directory_and_missing_file_are_refused_without_blocking),
                cmocka_unit_test(test_non_utf8_and_nul_bytes_are_refused),
                cmocka_unit_test(test_nested_garbage_and_foreign_json_are_refused),
                cmocka_unit_test(test_unknown_members_are_ignored_for_forward_compatibility),
                cmocka_unit_test(test_a_silence_is_read_and_checked_like_the_daemon_does),
                cmocka_unit_test(test_ratio_over_the_newest_runs),
                cmocka_unit_test(test_passes_since_count_the_newest_streak_after_since),
                cmocka_unit_test(test_reads_what_the_daemon_writes),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
