/* SPDX-License-Identifier: MIT */
/* The history's counters by code and duration histograms (history-totals.c), in memory and
 * through StateFile=. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "history.h"
#include "result.h"
#include "util.h"

#define MS(x) ((usec_t) (x) * USEC_PER_MSEC)
#define T0 ((usec_t) 1795622400 * USEC_PER_SEC)

typedef struct fixture {
        char dir[64];
        char *path;
        gp_history *h;
} fixture;

static unsigned run_counter;

static void record(gp_history *h, gp_verdict v, const char *code, usec_t duration) {
        _cleanup_result_ gp_result *r = gp_result_new(1);

        assert_non_null(r);
        run_counter++;
        r->verdict = v;
        if (code)
                assert_non_null(r->code = strdup(code));
        r->duration = duration;
        r->started_at = T0 + run_counter * 60 * USEC_PER_SEC;
        r->finished_at = r->started_at + duration;
        snprintf(r->run_id, sizeof(r->run_id), "run-%u", run_counter);
        assert_int_equal(gp_history_record(h, r, 3, 1, NULL), 0);
}

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-history-totals.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        assert_non_null(f->path = strdup_printf("%s/staging.state", f->dir));
        assert_non_null(f->h = gp_history_new(3));
        record(f->h, GP_VERDICT_PASS, NULL, MS(80));
        record(f->h, GP_VERDICT_FAIL, "net.dns", MS(3));
        record(f->h, GP_VERDICT_DEGRADED, "slo.login", MS(2500));
        record(f->h, GP_VERDICT_FAIL, "events.timeout", MS(30012));
        record(f->h, GP_VERDICT_FAIL, "net.dns", MS(4));
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        (void) unlink(f->path);
        assert_int_equal(rmdir(f->dir), 0);
        gp_history_free(f->h);
        free(f->path);
        free(f);
        return 0;
}

static void assert_histogram(const gp_duration_histogram *d, const uint64_t *buckets, usec_t sum) {
        assert_non_null(d);
        for (size_t b = 0; b <= GP_DURATION_BUCKETS; b++)
                assert_int_equal(d->buckets[b], buckets[b]);
        assert_int_equal(d->sum, sum);
}

static void assert_fixture_totals(const gp_history *h) {
        assert_int_equal(gp_history_n_code_totals(h), 3);
        assert_int_equal(gp_history_code_count(h, GP_VERDICT_FAIL, "net.dns"), 2);
        assert_int_equal(gp_history_code_count(h, GP_VERDICT_FAIL, "events.timeout"), 1);
        assert_int_equal(gp_history_code_count(h, GP_VERDICT_DEGRADED, "slo.login"), 1);
        assert_histogram(gp_history_durations(h, GP_VERDICT_PASS),
                         (const uint64_t[]) { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, MS(80));
        assert_histogram(gp_history_durations(h, GP_VERDICT_DEGRADED),
                         (const uint64_t[]) { 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0 }, MS(2500));
        assert_histogram(gp_history_durations(h, GP_VERDICT_FAIL),
                         (const uint64_t[]) { 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, MS(30019));
}

static void test_failures_and_degradations_are_counted_by_code_beyond_the_window(void **state) {
        fixture *f = *state;

        assert_int_equal(gp_history_size(f->h), 3);
        assert_fixture_totals(f->h);
        assert_int_equal(gp_history_code_count(f->h, GP_VERDICT_FAIL, "slo.login"), 0);
        assert_int_equal(gp_history_code_count(f->h, GP_VERDICT_PASS, NULL), 0);
        assert_null(gp_history_durations(f->h, GP_VERDICT_CANCELLED));
}

static void test_code_totals_are_sorted_degraded_first_then_by_code(void **state) {
        fixture *f = *state;
        const gp_code_total *t;

        record(f->h, GP_VERDICT_FAIL, "events.error", MS(1));
        assert_int_equal(gp_history_n_code_totals(f->h), 4);
        t = gp_history_code_total(f->h, 0);
        assert_string_equal(t->code, "slo.login");
        assert_int_equal(t->verdict, GP_VERDICT_DEGRADED);
        assert_string_equal(gp_history_code_total(f->h, 1)->code, "events.error");
        assert_string_equal(gp_history_code_total(f->h, 2)->code, "events.timeout");
        assert_string_equal(gp_history_code_total(f->h, 3)->code, "net.dns");
        assert_null(gp_history_code_total(f->h, 4));
}

/* Issue 11: a code lost to a failed strdup() was recorded, and counted, as "unknown". */
static void test_a_failure_without_a_code_is_refused_not_counted_as_unknown(void **state) {
        gp_history *h = gp_history_new(2);

        assert_non_null(h);
        for (gp_verdict v = GP_VERDICT_DEGRADED; v <= GP_VERDICT_FAIL; v++) {
                _cleanup_result_ gp_result *r = gp_result_new(1);

                assert_non_null(r);
                r->verdict = v;
                r->started_at = T0;
                r->finished_at = T0 + MS(1);
                snprintf(r->run_id, sizeof(r->run_id), "run-nocode-%d", (int) v);
                assert_int_equal(gp_history_record(h, r, 3, 1, NULL), -EINVAL);
        }
        assert_int_equal(gp_history_size(h), 0);
        assert_int_equal(gp_history_code_count(h, GP_VERDICT_FAIL, "unknown"), 0);
        assert_int_equal(gp_history_n_code_totals(h), 0);
        gp_history_free(h);
}

static void test_bucket_bounds_are_inclusive_and_long_runs_land_in_inf(void **state) {
        gp_history *h = gp_history_new(10);

        assert_non_null(h);
        record(h, GP_VERDICT_PASS, NULL, MS(100));             /* le 0.1 */
        record(h, GP_VERDICT_PASS, NULL, MS(100) + 1);         /* le 0.25 */
        record(h, GP_VERDICT_PASS, NULL, 0);                   /* le 0.1 */
        record(h, GP_VERDICT_PASS, NULL, MS(60000));           /* le 60 */
        record(h, GP_VERDICT_PASS, NULL, MS(60000) + 1);       /* +Inf */
        assert_histogram(gp_history_durations(h, GP_VERDICT_PASS),
                         (const uint64_t[]) { 2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1 },
                         MS(100) * 2 + 1 + MS(60000) * 2 + 1);
        gp_history_free(h);
}

static void test_the_bounds_are_increasing_seconds_scale(void **state) {
        assert_int_equal(gp_duration_bounds[0], MS(100));
        assert_int_equal(gp_duration_bounds[GP_DURATION_BUCKETS - 1], MS(60000));
        for (size_t b = 1; b < GP_DURATION_BUCKETS; b++)
                assert_true(gp_duration_bounds[b] > gp_duration_bounds[b - 1]);
}

static void test_codes_beyond_the_limit_are_not_counted_but_runs_are_recorded(void **state) {
        gp_history *h = gp_history_new(5);
        char code[32];

        assert_non_null(h);
        for (unsigned i = 0; i < GP_HISTORY_CODES_MAX + 3; i++) {
                snprintf(code, sizeof(code), "c.%03u", i);
                record(h, GP_VERDICT_FAIL, code, MS(1));
        }
        assert_int_equal(gp_history_n_code_totals(h), GP_HISTORY_CODES_MAX);
        assert_int_equal(gp_history_runs_total(h, GP_VERDICT_FAIL), GP_HISTORY_CODES_MAX + 3);
        assert_int_equal(gp_history_code_count(h, GP_VERDICT_FAIL, "c.000"), 1);
        snprintf(code, sizeof(code), "c.%03u", GP_HISTORY_CODES_MAX);
        assert_int_equal(gp_history_code_count(h, GP_VERDICT_FAIL, code), 0);
        gp_history_free(h);
}

static gp_history *load(fixture *f, int expected, const char *message) {
        gp_history *h = gp_history_new(3);
        _cleanup_free_ char *err = NULL;

        assert_non_null(h);
        assert_int_equal(gp_history_load(h, f->path, &err), expected);
        if (message) {
                assert_non_null(err);
                if (!strstr(err, message))
                        fail_msg("error '%s' does not contain '%s'", err, message);
        }
        return h;
}

static void test_save_then_load_restores_the_totals(void **state) {
        fixture *f = *state;
        gp_history *h;

        assert_int_equal(gp_history_save(f->h, f->path, NULL), 0);
        h = load(f, 0, NULL);
        assert_fixture_totals(h);
        /* and they go on counting */
        record(h, GP_VERDICT_FAIL, "net.dns", MS(1));
        assert_int_equal(gp_history_code_count(h, GP_VERDICT_FAIL, "net.dns"), 3);
        gp_history_free(h);
}

static json_t *saved(fixture *f) {
        json_t *doc;

        assert_int_equal(gp_history_save(f->h, f->path, NULL), 0);
        doc = json_load_file(f->path, 0, NULL);
        assert_non_null(doc);
        return doc;
}

static void write_doc(fixture *f, json_t *doc) {
        assert_int_equal(json_dump_file(doc, f->path, JSON_COMPACT), 0);
}

/* json_object_get along a path of keys. */
static json_t *at(json_t *o, const char *k1, const char *k2, const char *k3) {
        o = json_object_get(o, k1);
        if (k2)
                o = json_object_get(o, k2);
        if (k3)
                o = json_object_get(o, k3);
        return o;
}

static void test_the_state_file_names_codes_and_buckets(void **state) {
        fixture *f = *state;
        json_auto_t *doc = saved(f);

        assert_int_equal(json_integer_value(at(doc, "failures_total", "net.dns", NULL)), 2);
        assert_int_equal(json_integer_value(at(doc, "degraded_total", "slo.login", NULL)), 1);
        assert_int_equal(json_array_size(at(doc, "durations", "bounds_us", NULL)), GP_DURATION_BUCKETS);
        assert_int_equal(json_integer_value(json_array_get(at(doc, "durations", "bounds_us", NULL), 0)),
                         100000);
        assert_int_equal(json_integer_value(at(doc, "durations", "fail", "sum_us")), 30019000);
}

static void test_a_state_file_from_before_the_totals_loads_with_zeros(void **state) {
        fixture *f = *state;
        json_auto_t *doc = saved(f);
        gp_history *h;

        json_object_del(doc, "failures_total");
        json_object_del(doc, "degraded_total");
        json_object_del(doc, "durations");
        write_doc(f, doc);
        h = load(f, 0, NULL);
        assert_int_equal(gp_history_runs_total(h, GP_VERDICT_FAIL), 3);
        assert_int_equal(gp_history_n_code_totals(h), 0);
        assert_int_equal(gp_history_durations(h, GP_VERDICT_FAIL)->sum, 0);
        assert_int_equal(gp_history_durations(h, GP_VERDICT_FAIL)->buckets[0], 0);
        gp_history_free(h);
}

static void test_other_bucket_bounds_restart_the_histograms_and_keep_the_codes(void **state) {
        fixture *f = *state;
        json_auto_t *doc = saved(f);
        gp_history *h;

        json_array_set_new(at(doc, "durations", "bounds_us", NULL), 0, json_integer(50000));
        write_doc(f, doc);
        h = load(f, 0, NULL);
        assert_int_equal(gp_history_code_count(h, GP_VERDICT_FAIL, "net.dns"), 2);
        assert_int_equal(gp_history_durations(h, GP_VERDICT_PASS)->buckets[0], 0);
        assert_int_equal(gp_history_durations(h, GP_VERDICT_FAIL)->sum, 0);
        gp_history_free(h);
}

typedef void (*mutation)(json_t *doc);

static void m_failures_not_object(json_t *doc) {
        json_object_set_new(doc, "failures_total", json_array());
}
static void m_bad_code(json_t *doc) {
        json_object_set_new(json_object_get(doc, "failures_total"), "bad code!", json_integer(1));
}
static void m_negative_count(json_t *doc) {
        json_object_set_new(json_object_get(doc, "degraded_total"), "slo.login", json_integer(-1));
}
static void m_count_not_integer(json_t *doc) {
        json_object_set_new(json_object_get(doc, "failures_total"), "net.dns", json_string("2"));
}
static void m_durations_not_object(json_t *doc) {
        json_object_set_new(doc, "durations", json_integer(1));
}
static void m_bounds_missing(json_t *doc) {
        json_object_del(json_object_get(doc, "durations"), "bounds_us");
}
static void m_histogram_missing(json_t *doc) {
        json_object_del(json_object_get(doc, "durations"), "degraded");
}
static void m_buckets_short(json_t *doc) {
        json_array_remove(at(doc, "durations", "fail", "buckets"), 0);
}
static void m_bucket_negative(json_t *doc) {
        json_array_set_new(at(doc, "durations", "pass", "buckets"), 3, json_integer(-5));
}
static void m_sum_real(json_t *doc) {
        json_object_set_new(at(doc, "durations", "pass", NULL), "sum_us", json_real(1.5));
}

static void test_load_rejects_invalid_totals_and_keeps_the_old_state(void **state) {
        fixture *f = *state;
        static const struct {
                mutation m;
                const char *message;
        } cases[] = {
                { m_failures_not_object, "failures_total: expected an object" },
                { m_bad_code, "failures_total: invalid code" },
                { m_negative_count, "degraded_total.slo.login: expected an integer" },
                { m_count_not_integer, "failures_total.net.dns: expected an integer" },
                { m_durations_not_object, "durations: expected an object" },
                { m_bounds_missing, "durations.bounds_us: expected an array" },
                { m_histogram_missing, "durations.degraded: expected an object" },
                { m_buckets_short, "durations.fail.buckets: expected an array of 11 counts" },
                { m_bucket_negative, "durations.pass.buckets[3]: expected a non-negative integer" },
                { m_sum_real, "durations.pass.sum_us: expected a non-negative integer" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_auto_t *doc = saved(f);
                gp_history *h = gp_history_new(3);
                _cleanup_free_ char *err = NULL;

                assert_non_null(h);
                record(h, GP_VERDICT_FAIL, "ws.closed", MS(7));
                cases[i].m(doc);
                write_doc(f, doc);
                assert_int_equal(gp_history_load(h, f->path, &err), -EINVAL);
                assert_non_null(err);
                if (!strstr(err, cases[i].message))
                        fail_msg("case %zu: error '%s' does not contain '%s'", i, err, cases[i].message);
                assert_int_equal(gp_history_n_code_totals(h), 1);
                assert_int_equal(gp_history_code_count(h, GP_VERDICT_FAIL, "ws.closed"), 1);
                assert_int_equal(gp_history_durations(h, GP_VERDICT_FAIL)->sum, MS(7));
                gp_history_free(h);
        }
}

static void test_load_rejects_more_codes_than_the_limit(void **state) {
        fixture *f = *state;
        json_auto_t *doc = saved(f);
        json_t *codes = json_object_get(doc, "failures_total");
        char code[32];

        for (unsigned i = 0; i < GP_HISTORY_CODES_MAX; i++) {
                snprintf(code, sizeof(code), "c.%03u", i);
                json_object_set_new(codes, code, json_integer(1));
        }
        write_doc(f, doc);
        gp_history_free(load(f, -EINVAL, "failures_total: more than 128 codes"));
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_failures_and_degradations_are_counted_by_code_beyond_the_window),
                T(test_code_totals_are_sorted_degraded_first_then_by_code),
                cmocka_unit_test(test_a_failure_without_a_code_is_refused_not_counted_as_unknown),
                cmocka_unit_test(test_bucket_bounds_are_inclusive_and_long_runs_land_in_inf),
                cmocka_unit_test(test_the_bounds_are_increasing_seconds_scale),
                cmocka_unit_test(test_codes_beyond_the_limit_are_not_counted_but_runs_are_recorded),
                T(test_save_then_load_restores_the_totals),
                T(test_the_state_file_names_codes_and_buckets),
                T(test_a_state_file_from_before_the_totals_loads_with_zeros),
                T(test_other_bucket_bounds_restart_the_histograms_and_keep_the_codes),
                T(test_load_rejects_invalid_totals_and_keeps_the_old_state),
                T(test_load_rejects_more_codes_than_the_limit),
        };
#undef T

        return cmocka_run_group_tests(tests, NULL, NULL);
}
