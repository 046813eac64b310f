/* SPDX-License-Identifier: MIT */
/* The API's shared state (api.c) without a server: tokens, the runs kept, POST /run's hand-off
 * to a loop in another thread, the rate limit of logged failures, and /gate's parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>

#include "api.h"
#include "util.h"

/* Run ids are UUIDs: GET /runs/ID refuses anything else as unknown. */
#define R0 "00000000-0000-4000-8000-000000000000"

static json_t *body(const gp_api_response *r) {
        json_t *j = json_loads(r->body, 0, NULL);

        assert_non_null(j);
        return j;
}

static void test_tokens_match_exactly_and_are_replaced_as_a_whole(void **state) {
        gp_api *a = NULL;
        char *two[] = { (char *) "token-one-abcdef", (char *) "token-two-abcdef", NULL };
        char *one[] = { (char *) "token-one-abcdef", NULL };

        assert_int_equal(gp_api_new(&a), 0);
        assert_false(gp_api_have_tokens(a));
        assert_false(gp_api_token_valid(a, "", 0));
        assert_int_equal(gp_api_set_tokens(a, two), 0);
        assert_true(gp_api_have_tokens(a));
        assert_true(gp_api_token_valid(a, "token-one-abcdef", 16));
        assert_true(gp_api_token_valid(a, "token-two-abcdef", 16));
        assert_false(gp_api_token_valid(a, "token-two-abcde", 15));     /* a prefix */
        assert_false(gp_api_token_valid(a, "token-two-abcdefg", 17));   /* longer */
        assert_false(gp_api_token_valid(a, "TOKEN-TWO-ABCDEF", 16));
        assert_int_equal(gp_api_set_tokens(a, one), 0);                 /* two revoked */
        assert_false(gp_api_token_valid(a, "token-two-abcdef", 16));
        assert_true(gp_api_token_valid(a, "token-one-abcdef", 16));
        assert_int_equal(gp_api_set_tokens(a, NULL), 0);
        assert_false(gp_api_have_tokens(a));
        assert_false(gp_api_token_valid(a, "token-one-abcdef", 16));
        gp_api_free(a);
}

static void test_runs_are_running_then_done_and_the_oldest_is_forgotten(void **state) {
        gp_api_response r = {0};
        gp_api *a = NULL;
        char id[64];
        json_t *j;

        assert_int_equal(gp_api_new(&a), 0);
        gp_api_run_started(a, R0);
        assert_int_equal(gp_api_run_get(a, R0, &r), 0);
        assert_int_equal(r.status, 202);
        assert_string_equal(r.body, "{\"run_id\":\"" R0 "\",\"state\":\"running\"}");
        gp_api_response_done(&r);
        gp_api_run_finished(a, R0, "{\"result\":\"pass\",\"n\":0}");
        assert_int_equal(gp_api_run_get(a, R0, &r), 0);
        assert_int_equal(r.status, 200);
        j = body(&r);
        assert_string_equal(json_string_value(json_object_get(j, "state")), "done");
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "result"), "result")), "pass");
        json_decref(j);
        gp_api_response_done(&r);
        for (int i = 1; i <= GP_API_RUNS_KEPT; i++) {
                snprintf(id, sizeof(id), "%08x-0000-4000-8000-000000000000", (unsigned) i);
                gp_api_run_started(a, id);
                gp_api_run_finished(a, id, "{}");
        }
        assert_int_equal(gp_api_run_get(a, R0, &r), 0);
        assert_int_equal(r.status, 404);
        assert_string_equal(r.body, "{\"error\":\"unknown run\"}");
        gp_api_response_done(&r);
        assert_int_equal(gp_api_run_get(a, "00000001-0000-4000-8000-000000000000", &r), 0);
        assert_int_equal(r.status, 200);
        gp_api_response_done(&r);
        /* a cancelled run is forgotten; an id that is no run id is unknown */
        gp_api_run_started(a, "0000dead-0000-4000-8000-000000000000");
        gp_api_run_finished(a, "0000dead-0000-4000-8000-000000000000", NULL);
        assert_int_equal(gp_api_run_get(a, "0000dead-0000-4000-8000-000000000000", &r), 0);
        assert_int_equal(r.status, 404);
        gp_api_response_done(&r);
        assert_int_equal(gp_api_run_get(a, "../../etc/passwd", &r), 0);
        assert_int_equal(r.status, 404);
        gp_api_response_done(&r);
        gp_api_free(a);
}

static int run_status(gp_api *a, const char *id) {
        gp_api_response r = {0};
        int status;

        assert_int_equal(gp_api_run_get(a, id, &r), 0);
        status = r.status;
        gp_api_response_done(&r);
        return status;
}

/* Runs of many sessions have results of megabytes: the oldest go first, so that the kept text
 * stays within GP_API_RUNS_KEPT_BYTES; a result larger than the bound is not kept at all. */
static void test_the_kept_results_are_bounded_in_bytes(void **state) {
        size_t big = GP_API_RUNS_KEPT_BYTES / 3;
        char *text = malloc(big + 1), id[64];
        gp_api *a = NULL;

        assert_non_null(text);
        memset(text, ' ', big);
        text[0] = '{';
        text[big - 1] = '}';
        text[big] = '\0';
        assert_int_equal(gp_api_new(&a), 0);
        for (unsigned i = 1; i <= 4; i++) {
                snprintf(id, sizeof(id), "%08x-0000-4000-8000-000000000000", i);
                gp_api_run_finished(a, id, text);
        }
        /* three fit; the fourth pushed the first out */
        assert_int_equal(run_status(a, "00000001-0000-4000-8000-000000000000"), 404);
        for (unsigned i = 2; i <= 4; i++) {
                snprintf(id, sizeof(id), "%08x-0000-4000-8000-000000000000", i);
                assert_int_equal(run_status(a, id), 200);
        }
        /* the three fill the bound to a byte: a small result pushes out the oldest alone */
        gp_api_run_finished(a, "00000005-0000-4000-8000-000000000000", "{}");
        assert_int_equal(run_status(a, "00000005-0000-4000-8000-000000000000"), 200);
        assert_int_equal(run_status(a, "00000002-0000-4000-8000-000000000000"), 404);
        assert_int_equal(run_status(a, "00000003-0000-4000-8000-000000000000"), 200);
        free(text);
        text = malloc(GP_API_RUNS_KEPT_BYTES + 2);
        assert_non_null(text);
        memset(text, ' ', GP_API_RUNS_KEPT_BYTES + 1);
        text[0] = '{';
        text[GP_API_RUNS_KEPT_BYTES] = '}';
        text[GP_API_RUNS_KEPT_BYTES + 1] = '\0';
        gp_api_run_finished(a, "00000006-0000-4000-8000-000000000000", text);
        assert_int_equal(run_status(a, "00000006-0000-4000-8000-000000000000"), 404);
        assert_int_equal(run_status(a, "00000005-0000-4000-8000-000000000000"), 200);
        free(text);
        gp_api_free(a);
}

typedef struct post {
        gp_api *a;
        gp_api_response r;
        int k;
} post;

static void *do_post(void *p) {
        post *x = p;

        x->k = gp_api_run(x->a, &x->r);
        return NULL;
}

/* The loop's side: waits for the request, then answers with answer (after run_started when 0). */
static void loop_answers(gp_api *a, int answer, char ret_id[GP_UUID_STRING_MAX]) {
        for (int i = 0; i < 2000; i++) {
                if (gp_api_take_run_request(a, ret_id) == 0) {
                        if (answer == 0)
                                gp_api_run_started(a, ret_id);
                        gp_api_answer_run(a, answer);
                        return;
                }
                usleep(1000);
        }
        fail_msg("no run request came");
}

static void test_post_run_is_started_by_the_loop_with_the_id_it_answers(void **state) {
        post x = {0};
        pthread_t t;
        char id[GP_UUID_STRING_MAX];
        json_t *j;

        assert_int_equal(gp_api_new(&x.a), 0);
        pthread_create(&t, NULL, do_post, &x);
        loop_answers(x.a, 0, id);
        pthread_join(t, NULL);
        assert_int_equal(x.k, 0);
        assert_int_equal(x.r.status, 202);
        j = body(&x.r);
        assert_string_equal(json_string_value(json_object_get(j, "run_id")), id);
        assert_string_equal(json_string_value(json_object_get(j, "state")), "running");
        assert_int_equal(strlen(id), 36);
        json_decref(j);
        gp_api_response_done(&x.r);

        /* now it runs: refused at once with its id, without asking the loop */
        assert_int_equal(gp_api_run(x.a, &x.r), 0);
        assert_int_equal(x.r.status, 409);
        j = body(&x.r);
        assert_string_equal(json_string_value(json_object_get(j, "run_id")), id);
        assert_string_equal(json_string_value(json_object_get(j, "error")), "run in progress");
        json_decref(j);
        gp_api_response_done(&x.r);
        gp_api_free(x.a);
}

static void test_post_run_while_the_loop_started_another_is_409_and_unanswered_is_503(void **state) {
        post x = {0};
        pthread_t t;
        char id[GP_UUID_STRING_MAX];
        usec_t t0;

        assert_int_equal(gp_api_new(&x.a), 0);
        pthread_create(&t, NULL, do_post, &x);
        /* the loop started a scheduled run just before it took the request */
        for (int i = 0; i < 2000 && gp_api_take_run_request(x.a, id) < 0; i++)
                usleep(1000);
        gp_api_run_started(x.a, "scheduled-run");
        gp_api_answer_run(x.a, -EBUSY);
        pthread_join(t, NULL);
        assert_int_equal(x.r.status, 409);
        assert_non_null(strstr(x.r.body, "\"scheduled-run\""));
        gp_api_response_done(&x.r);
        gp_api_run_finished(x.a, "scheduled-run", "{}");

        /* a loop that never takes the request: 503 after about GP_API_RUN_WAIT_MSEC */
        t0 = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(gp_api_run(x.a, &x.r), 0);
        assert_int_equal(x.r.status, 503);
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 < 3 * GP_API_RUN_WAIT_MSEC * USEC_PER_MSEC);
        gp_api_response_done(&x.r);
        /* and that stale request is not started later */
        assert_int_equal(gp_api_take_run_request(x.a, id), -EAGAIN);
        gp_api_free(x.a);
}

static void test_authentication_failures_are_queued_at_most_ten_per_period(void **state) {
        gp_api *a = NULL;
        unsigned suppressed = 0, taken = 0, total = 0;
        char *line;

        assert_int_equal(gp_api_new(&a), 0);
        for (int i = 0; i < 25; i++)
                gp_api_auth_failed(a, "192.0.2.7", "wrong bearer token");
        while (gp_api_take_auth_failure(a, &line, &suppressed) == 0) {
                assert_string_equal(line, "192.0.2.7: wrong bearer token");
                free(line);
                total += suppressed;
                taken++;
        }
        assert_int_equal(taken, GP_API_AUTH_LOG_BURST);
        assert_int_equal(total, 25 - GP_API_AUTH_LOG_BURST);
        gp_api_free(a);
}

static void test_gate_parameters_are_checked_and_no_status_is_unknown(void **state) {
        static const char * const bad[] = { "max_age=soon", "max_age=0", "window=0", "window=x",
                                             "min_success_ratio=1.5", "require_last_pass=2",
                                             "allow_degraded=", "colour=red", "max_age" };
        gp_api_response r = {0};
        gp_api *a = NULL;
        json_t *j;

        assert_int_equal(gp_api_new(&a), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *args[] = { (char *) bad[i], NULL };
                assert_int_equal(gp_api_gate(a, args, NULL, 0, &r), 0);
                if (r.status != 400)
                        fail_msg("%s: %u %s", bad[i], r.status, r.body);
                gp_api_response_done(&r);
        }
        {
                char *twice[] = { (char *) "window=2", (char *) "window=3", NULL };
                assert_int_equal(gp_api_gate(a, twice, NULL, 0, &r), 0);
                assert_int_equal(r.status, 400);
                assert_non_null(strstr(r.body, "given twice"));
                gp_api_response_done(&r);
        }
        {
                char *good[] = { (char *) "max_age=5min", (char *) "window=20", (char *) "min_success_ratio=95%",
                                 (char *) "require_last_pass=1", (char *) "allow_degraded=0", NULL };
                gp_blob *junk = gp_blob_new("{\"schema\":", 10);
                assert_int_equal(gp_api_gate(a, good, NULL, 0, &r), 0);
                assert_int_equal(r.status, 503);
                j = body(&r);
                assert_string_equal(json_string_value(json_object_get(j, "verdict")), "unknown");
                json_decref(j);
                gp_api_response_done(&r);
                assert_int_equal(gp_api_gate(a, good, junk, 0, &r), 0);
                assert_int_equal(r.status, 503);
                assert_non_null(strstr(r.body, "unreadable"));
                gp_api_response_done(&r);
                gp_blob_unref(junk);
        }
        gp_api_free(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_tokens_match_exactly_and_are_replaced_as_a_whole),
                cmocka_unit_test(test_runs_are_running_then_done_and_the_oldest_is_forgotten),
                cmocka_unit_test(test_the_kept_results_are_bounded_in_bytes),
                cmocka_unit_test(test_post_run_is_started_by_the_loop_with_the_id_it_answers),
                cmocka_unit_test(test_post_run_while_the_loop_started_another_is_409_and_unanswered_is_503),
                cmocka_unit_test(test_authentication_failures_are_queued_at_most_ten_per_period),
                cmocka_unit_test(test_gate_parameters_are_checked_and_no_status_is_unknown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
