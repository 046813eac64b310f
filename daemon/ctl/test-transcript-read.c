/* SPDX-License-Identifier: MIT */
/* gpprobectl's side of a transcript: what the daemon writes reads back; junk is refused with a
 * reason; the rendering shows times, directions and the awaited event. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "transcript.h"
#include "transcript-read.h"
#include "util.h"

#define T0 ((usec_t) 5 * USEC_PER_SEC)

static char *sample(void) {
        gp_transcript *t = gp_transcript_new(1, T0, 65536, 1 << 20);
        gp_result *r = gp_result_new(1);
        json_t *doc;
        char *text;

        memcpy(r->run_id, "11111111-2222-4333-8444-555555555555", 37);
        r->verdict = GP_VERDICT_FAIL;
        r->code = strdup("events.timeout");
        r->stage = "events";
        r->reason = strdup("no tool_completed within 1s");
        gp_transcript_http(t, 1, T0 + 2000, "login", "POST", "https://a.example/auth/login", 200, NULL, NULL,
                           "{}", 2, 2);
        gp_transcript_frame(t, 1, T0 + 12500, true, "text", 25, "{\"type\":\"agent_started\"}", 25);
        gp_transcript_frame(t, 1, T0 + 10000, false, "text", 7, "{\"a\":1}", 7);
        gp_transcript_mark(t, 1, T0 + 1012500, "await", "tool_completed");
        gp_transcript_close(t, 1, T0 + 1013000, "server", 1011, "boom");
        doc = gp_transcript_to_json(t, r, "staging");
        text = json_dumps(doc, JSON_INDENT(2));
        json_decref(doc);
        gp_transcript_free(t);
        gp_result_free(r);
        return text;
}

static void test_written_transcript_reads_back_and_prints(void **state) {
        _cleanup_free_ char *text = sample(), *out = NULL, *err = NULL;
        json_t *doc = NULL;
        size_t n = 0;
        FILE *f;

        assert_int_equal(gp_transcript_parse(text, strlen(text), &doc, &err), 0);
        f = open_memstream(&out, &n);
        gp_transcript_print(doc, f);
        fclose(f);
        json_decref(doc);
        assert_non_null(strstr(out, "staging run 11111111-2222-4333-8444-555555555555"));
        assert_non_null(strstr(out, "events.timeout (events): no tool_completed within 1s"));
        assert_non_null(strstr(out, "      +2.000 ms  HTTP login POST https://a.example/auth/login -> 200"));
        assert_non_null(strstr(out, "     +12.500 ms  << text 25 B  {\"type\":\"agent_started\"}"));
        assert_non_null(strstr(out, "     +10.000 ms  >> text 7 B"));
        assert_non_null(strstr(out, "  +1012.500 ms  --> the deadline passed here, awaiting tool_completed"));
        assert_non_null(strstr(out, "CLOSE by server 1011: boom"));
}

static void test_junk_is_refused_with_a_reason(void **state) {
        static const char * const junk[] = {
                "", "{", "[]", "{\"schema\":2}", "{\"schema\":1,\"name\":\"x\",\"run_id\":\"r\",\"result\":\"fail\"}",
                "{\"schema\":1,\"name\":\"x\",\"run_id\":\"r\",\"result\":\"fail\",\"sessions\":[{\"index\":1}]}",
                "{\"schema\":1,\"name\":\"x\",\"run_id\":\"r\",\"result\":\"fail\",\"sessions\":[{\"index\":1,"
                "\"result\":\"fail\",\"entries\":[{\"kind\":\"frame\"}]}]}",
                "{\"schema\":1,\"schema\":1}",
        };

        for (size_t i = 0; i < ELEMENTSOF(junk); i++) {
                _cleanup_free_ char *err = NULL;
                json_t *doc = NULL;

                assert_int_equal(gp_transcript_parse(junk[i], strlen(junk[i]), &doc, &err), -EINVAL);
                assert_null(doc);
                assert_non_null(strstr(err, "not a gpprobe transcript"));
                assert_null(strchr(err, '\n'));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_written_transcript_reads_back_and_prints),
                cmocka_unit_test(test_junk_is_refused_with_a_reason),
        };

        return cmocka_run_group_tests_name("transcript-read", tests, NULL, NULL);
}
