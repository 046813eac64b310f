/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>

#include "fileio.h"
#include "report.h"
#include "util.h"

#define T0 ((usec_t) 1795622400 * USEC_PER_SEC) /* 2026-11-25T16:00:00Z */

typedef struct fixture {
        gp_config cfg;
        gp_daemon_info daemon;
        gp_history *h;
        gp_result *last;
} fixture;

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->cfg.name = (char *) "staging";
        f->daemon = gp_daemon_info_self(T0, 60 * USEC_PER_SEC);
        f->h = gp_history_new(10);
        f->last = gp_result_new(1);
        assert_non_null(f->h);
        assert_non_null(f->last);
        snprintf(f->last->run_id, sizeof(f->last->run_id), "run-1");
        f->last->verdict = GP_VERDICT_FAIL;
        f->last->stage = "events";
        assert_non_null(f->last->code = strdup("events.timeout"));
        f->last->started_at = T0 + USEC_PER_SEC;
        f->last->finished_at = T0 + 2 * USEC_PER_SEC;
        f->last->duration = 1210449;
        assert_int_equal(gp_history_record(f->h, f->last, 1, 1, NULL), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        gp_result_free(f->last);
        gp_history_free(f->h);
        free(f);
        return 0;
}

static void test_the_status_document_is_serialised_once_as_of_the_report_time(void **state) {
        fixture *f = *state;
        _cleanup_report_ gp_report *r = NULL;
        usec_t at = T0 + 3 * USEC_PER_SEC + 456789;
        json_auto_t *doc = gp_status_build(&f->cfg, &f->daemon, f->h, f->last, at);
        size_t len = 0;
        _cleanup_free_ char *line = gp_status_serialize(doc, &len);

        assert_int_equal(gp_report_new(&f->cfg, &f->daemon, f->h, f->last, at, &r), 0);
        assert_non_null(line);
        assert_int_equal(gp_blob_size(r->status), len);
        assert_memory_equal(gp_blob_data(r->status), line, len);
        assert_int_equal(gp_blob_data(r->status)[len - 1], '\n');
        assert_non_null(strstr(gp_blob_data(r->status), "\"updated_at\":\"2026-11-25T16:00:03.456Z\""));
        /* ms rounded once, to 0.1 ms: 1210.449 ms is 1210.4. */
        assert_non_null(strstr(gp_blob_data(r->status), "\"duration_ms\":1210.4,"));
}

/* GET /runs/ID answers with the run's "last" as the status file has it, without parsing it back. */
static void test_the_last_run_s_text_is_the_document_s_last_member(void **state) {
        fixture *f = *state;
        _cleanup_report_ gp_report *r = NULL, *none = NULL;
        json_auto_t *doc = gp_status_build(&f->cfg, &f->daemon, f->h, f->last, T0);
        _cleanup_free_ char *want = json_dumps(json_object_get(doc, "last"), GP_STATUS_DUMP_FLAGS);
        _cleanup_free_ char *member = NULL;

        assert_int_equal(gp_report_new(&f->cfg, &f->daemon, f->h, f->last, T0, &r), 0);
        assert_non_null(want);
        assert_non_null(r->last_json);
        assert_string_equal(r->last_json, want);
        member = strdup_printf("\"last\":%s,", want);
        assert_non_null(strstr(gp_blob_data(r->status), member));
        assert_int_equal(gp_report_new(&f->cfg, &f->daemon, f->h, NULL, T0, &none), 0);
        assert_null(none->last_json);
}

static void test_the_figures_are_the_history_s_at_the_time(void **state) {
        fixture *f = *state;
        _cleanup_report_ gp_report *r = NULL;

        assert_int_equal(gp_report_new(&f->cfg, &f->daemon, f->h, f->last, T0, &r), 0);
        assert_string_equal(r->name, "staging");
        assert_true(r->updated_at == T0);
        assert_int_equal(r->consecutive_failures, 1);
        assert_int_equal(r->consecutive_passes, 0);
        assert_true(r->alerting);
        assert_ptr_equal(r->last, f->last);
        assert_ptr_equal(r->history, f->h);
        assert_int_equal(r->daemon.pid, getpid());
        assert_true(r->daemon.interval == 60 * USEC_PER_SEC);
        assert_non_null(r->daemon.version);
}

static void test_the_status_file_holds_the_report_s_bytes(void **state) {
        fixture *f = *state;
        _cleanup_report_ gp_report *r = NULL;
        char dir[] = "/tmp/test-report.XXXXXX";
        _cleanup_free_ char *path = NULL, *data = NULL, *err = NULL;
        size_t len = 0;

        assert_non_null(mkdtemp(dir));
        path = strdup_printf("%s/staging.json", dir);
        assert_int_equal(gp_report_new(&f->cfg, &f->daemon, f->h, NULL, T0, &r), 0);
        assert_int_equal(gp_report_write_status(r, path, &err), 0);
        assert_int_equal(gp_read_full_file(path, 1024 * 1024, 0, &data, &len, NULL), 0);
        assert_int_equal(len, gp_blob_size(r->status));
        assert_memory_equal(data, gp_blob_data(r->status), len);
        assert_non_null(strstr(data, "\"last\":null"));
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

static void assert_render_equals_build(fixture *f, const gp_history *h, const gp_result *last, usec_t at) {
        json_auto_t *doc = gp_status_build(&f->cfg, &f->daemon, h, last, at);
        size_t len = 0, rlen = 0;
        _cleanup_free_ char *built = gp_status_serialize(doc, &len);
        _cleanup_free_ char *rendered = gp_status_render(&f->cfg, &f->daemon, h, last, at, &rlen, NULL);

        assert_non_null(built);
        assert_non_null(rendered);
        if (len != rlen || memcmp(built, rendered, len) != 0)
                fail_msg("rendered:\n%s\nbuilt:\n%s", rendered, built);
}

/* The daemon's status file splices the entries' cached serialisations into the document: the
 * same bytes as serialising the whole document, empty, filling, full and turning, after a
 * shrink and after a load. */
static void test_the_rendered_document_is_the_built_one_byte_for_byte(void **state) {
        fixture *f = *state;
        gp_history *h = gp_history_new(3);
        char dir[] = "/tmp/test-report.XXXXXX";
        _cleanup_free_ char *path = NULL;

        assert_non_null(h);
        assert_render_equals_build(f, h, NULL, T0);
        for (unsigned i = 0; i < 8; i++) {
                gp_result *r = gp_result_new(1);

                assert_non_null(r);
                snprintf(r->run_id, sizeof(r->run_id), "run-\"%u\\", i);
                r->verdict = i % 3 == 0 ? GP_VERDICT_PASS : i % 3 == 1 ? GP_VERDICT_DEGRADED : GP_VERDICT_FAIL;
                if (r->verdict != GP_VERDICT_PASS)
                        assert_non_null(r->code = strdup(i % 3 == 1 ? "slo.total" : "ws.closed"));
                r->started_at = T0 + i * 1234567;
                r->finished_at = r->started_at + 1000;
                r->duration = 1000 + i * 333333;
                assert_int_equal(gp_history_record(h, r, 2, 1, NULL), 0);
                assert_render_equals_build(f, h, r, T0 + i);
                gp_result_free(r);
        }
        assert_int_equal(gp_history_set_capacity(h, 2), 0);
        assert_render_equals_build(f, h, f->last, T0);
        assert_non_null(mkdtemp(dir));
        path = strdup_printf("%s/staging.state", dir);
        assert_int_equal(gp_history_save(h, path, NULL), 0);
        gp_history_free(h);
        h = gp_history_new(5);
        assert_non_null(h);
        assert_int_equal(gp_history_load(h, path, NULL), 0);
        assert_int_equal(gp_history_size(h), 2);
        assert_render_equals_build(f, h, f->last, T0);
        gp_history_free(h);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(rmdir(dir), 0);
}

static void test_missing_inputs_are_einval(void **state) {
        fixture *f = *state;
        gp_report *r = NULL;

        assert_int_equal(gp_report_new(NULL, &f->daemon, f->h, NULL, T0, &r), -EINVAL);
        assert_int_equal(gp_report_new(&f->cfg, NULL, f->h, NULL, T0, &r), -EINVAL);
        assert_int_equal(gp_report_new(&f->cfg, &f->daemon, NULL, NULL, T0, &r), -EINVAL);
        assert_null(r);
        assert_null(gp_report_free(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_the_status_document_is_serialised_once_as_of_the_report_time,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_the_last_run_s_text_is_the_document_s_last_member, setup, teardown),
                cmocka_unit_test_setup_teardown(test_the_figures_are_the_history_s_at_the_time, setup, teardown),
                cmocka_unit_test_setup_teardown(test_the_status_file_holds_the_report_s_bytes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_the_rendered_document_is_the_built_one_byte_for_byte,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_inputs_are_einval, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
