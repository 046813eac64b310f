/* SPDX-License-Identifier: MIT */
/* The code table's own rules. With --json, prints the table for tests/integration/
 * test_docs_codes.py, which holds the documents to it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>

#include "codes.h"
#include "json-util.h"
#include "util.h"

static bool code_is_well_formed(const char *s) {
        const char *dot = strchr(s, '.');

        if (!*s || s[strspn(s, "abcdefghijklmnopqrstuvwxyz_.")] != '\0')
                return false;
        return !dot || (dot > s && dot[1] && !strchr(dot + 1, '.'));
}

static void test_every_code_is_unique_well_formed_and_found(void **state) {
        size_t n = 0;
        const gp_code_info *t = gp_codes(&n);

        assert_true(n >= 29);
        for (size_t i = 0; i < n; i++) {
                assert_true(code_is_well_formed(t[i].code));
                assert_false(isempty(t[i].meaning));
                assert_ptr_equal(gp_code_lookup(t[i].code), &t[i]);
                for (size_t j = i + 1; j < n; j++)
                        assert_string_not_equal(t[i].code, t[j].code);
        }
        assert_null(gp_code_lookup("net.dn"));
        assert_null(gp_code_lookup("unknown"));
        assert_null(gp_code_lookup(""));
        assert_null(gp_code_lookup(NULL));
}

static void test_names_are_the_table_codes(void **state) {
        assert_string_equal(GP_CODE_NET_DNS, "net.dns");
        assert_string_equal(GP_CODE_EVENTS_CROSSTALK, "events.crosstalk");
        assert_string_equal(GP_CODE_SLO_FIRST_EVENT, "slo.first_event");
        assert_string_equal(GP_CODE_INTERNAL, "internal");
        assert_non_null(gp_code_lookup(GP_CODE_PREFLIGHT_STATUS));
}

static void test_degraded_codes_are_the_slo_codes(void **state) {
        size_t n = 0;
        const gp_code_info *t = gp_codes(&n);

        for (size_t i = 0; i < n; i++)
                assert_int_equal(t[i].kind == GP_CODE_DEGRADED, startswith(t[i].code, "slo.") != NULL);
}

static void test_only_internal_blames_the_probe(void **state) {
        size_t n = 0;
        const gp_code_info *t = gp_codes(&n);

        for (size_t i = 0; i < n; i++)
                assert_int_equal(t[i].blame == GP_BLAME_PROBE, streq(t[i].code, "internal"));
}

static void test_stages_are_valid_and_named(void **state) {
        size_t n = 0;
        const gp_code_info *t = gp_codes(&n);

        for (size_t i = 0; i < n; i++) {
                assert_int_equal(t[i].stages & ~GP_STAGES_ANY, 0);
                /* Every code but slo.total names at least one stage. */
                assert_int_equal(t[i].stages == 0, streq(t[i].code, "slo.total"));
        }
        for (gp_stage s = 0; s < _GP_STAGE_MAX; s++)
                assert_non_null(gp_stage_to_string(s));
        assert_string_equal(gp_stage_to_string(GP_STAGE_WS_CONNECT), "ws_connect");
        assert_null(gp_stage_to_string(_GP_STAGE_MAX));
        assert_int_equal(gp_code_lookup("login.token")->stages, GP_STAGE_BIT(LOGIN));
}

static json_t *stages_to_json(unsigned stages) {
        json_t *a = json_array();

        for (gp_stage s = 0; a && s < _GP_STAGE_MAX; s++)
                if (stages & (1U << s))
                        json_array_append_new(a, json_string(gp_stage_to_string(s)));
        return a;
}

static int print_json(void) {
        size_t n = 0;
        const gp_code_info *t = gp_codes(&n);
        json_t *a = json_array();
        char *s;

        for (size_t i = 0; a && i < n; i++) {
                json_t *o = json_object();

                if (!o || gp_json_set_new(o, "code", json_string(t[i].code)) < 0 ||
                    gp_json_set_new(o, "kind",
                                    json_string(t[i].kind == GP_CODE_DEGRADED ? "degraded" : "failure")) < 0 ||
                    gp_json_set_new(o, "stages", stages_to_json(t[i].stages)) < 0 ||
                    gp_json_set_new(o, "blame", json_string(t[i].blame == GP_BLAME_PROBE ? "probe" : "staging")) < 0 ||
                    gp_json_set_new(o, "meaning", json_string(t[i].meaning)) < 0 ||
                    json_array_append_new(a, o) < 0)
                        return 1;
        }
        s = a ? json_dumps(a, JSON_INDENT(2)) : NULL;
        json_decref(a);
        if (!s)
                return 1;
        puts(s);
        free(s);
        return 0;
}

int main(int argc, char *argv[]) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_code_is_unique_well_formed_and_found),
                cmocka_unit_test(test_names_are_the_table_codes),
                cmocka_unit_test(test_degraded_codes_are_the_slo_codes),
                cmocka_unit_test(test_only_internal_blames_the_probe),
                cmocka_unit_test(test_stages_are_valid_and_named),
        };

        if (argc == 2 && streq(argv[1], "--json"))
                return print_json();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
