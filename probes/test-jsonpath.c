/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "jsonpath.h"
#include "util.h"

static json_t *parse(const char *s) {
        json_t *j = json_loads(s, 0, NULL);

        assert_non_null(j);
        return j;
}

static void test_validate_accepts_dotted_paths(void **state) {
        assert_int_equal(gp_json_path_validate("type"), 0);
        assert_int_equal(gp_json_path_validate("data.run_id"), 0);
        assert_int_equal(gp_json_path_validate("items.0.text"), 0);
        assert_int_equal(gp_json_path_validate("a b.c-d"), 0);
}

static void test_validate_rejects_empty_segments(void **state) {
        assert_int_equal(gp_json_path_validate(NULL), -EINVAL);
        assert_int_equal(gp_json_path_validate(""), -EINVAL);
        assert_int_equal(gp_json_path_validate("."), -EINVAL);
        assert_int_equal(gp_json_path_validate(".a"), -EINVAL);
        assert_int_equal(gp_json_path_validate("a."), -EINVAL);
        assert_int_equal(gp_json_path_validate("a..b"), -EINVAL);
        assert_int_equal(gp_json_path_validate("a.b."), -EINVAL);
}

static void test_get_walks_nested_objects(void **state) {
        json_auto_t *j = parse("{\"type\":\"x\",\"data\":{\"run_id\":\"r1\",\"deep\":{\"k\":7}}}");

        assert_string_equal(json_string_value(gp_json_path_get(j, "type")), "x");
        assert_string_equal(json_string_value(gp_json_path_get(j, "data.run_id")), "r1");
        assert_int_equal(json_integer_value(gp_json_path_get(j, "data.deep.k")), 7);
        assert_ptr_equal(gp_json_path_get(j, "data"), json_object_get(j, "data"));
        assert_null(gp_json_path_get(j, "data.missing"));
        assert_null(gp_json_path_get(j, "missing.run_id"));
}

static void test_get_digit_segment_indexes_array(void **state) {
        json_auto_t *j = parse("{\"items\":[{\"text\":\"zero\"},{\"text\":\"one\"}],"
                               "\"m\":[[1,2],[3,\"x\"]]}");

        assert_string_equal(json_string_value(gp_json_path_get(j, "items.0.text")), "zero");
        assert_string_equal(json_string_value(gp_json_path_get(j, "items.1.text")), "one");
        assert_string_equal(json_string_value(gp_json_path_get(j, "m.1.1")), "x");
        assert_string_equal(json_string_value(gp_json_path_get(j, "items.01.text")), "one");
}

static void test_get_digit_segment_is_a_key_in_an_object(void **state) {
        json_auto_t *j = parse("{\"codes\":{\"0\":\"zero\",\"404\":\"not found\"}}");

        assert_string_equal(json_string_value(gp_json_path_get(j, "codes.0")), "zero");
        assert_string_equal(json_string_value(gp_json_path_get(j, "codes.404")), "not found");
        assert_null(gp_json_path_get(j, "codes.1"));
}

static void test_get_array_index_out_of_range_or_not_digits_is_null(void **state) {
        json_auto_t *j = parse("{\"items\":[\"a\",\"b\"]}");

        assert_null(gp_json_path_get(j, "items.2"));
        assert_null(gp_json_path_get(j, "items.99999999999999999999999999"));
        /* 2^64 and 2^64 + 1: an index that would wrap around to 0 or 1 */
        assert_null(gp_json_path_get(j, "items.18446744073709551616"));
        assert_null(gp_json_path_get(j, "items.18446744073709551617"));
        assert_null(gp_json_path_get(j, "items.-1"));
        assert_null(gp_json_path_get(j, "items.first"));
        assert_null(gp_json_path_get(j, "items.1x"));
}

static void test_get_through_a_scalar_is_null(void **state) {
        json_auto_t *j = parse("{\"type\":\"x\",\"n\":null,\"i\":3}");

        assert_null(gp_json_path_get(j, "type.length"));
        assert_null(gp_json_path_get(j, "n.x"));
        assert_null(gp_json_path_get(j, "i.0"));
        assert_true(json_is_null(gp_json_path_get(j, "n")));
}

static void test_get_invalid_path_or_root_is_null(void **state) {
        json_auto_t *j = parse("{\"\":{\"\":\"empty keys\"},\"a\":{\"b\":\"c\"}}");

        assert_null(gp_json_path_get(j, ""));
        assert_null(gp_json_path_get(j, "."));
        assert_null(gp_json_path_get(j, "a..b"));
        assert_null(gp_json_path_get(j, ".a"));
        assert_null(gp_json_path_get(j, "a."));
        assert_null(gp_json_path_get(j, NULL));
        assert_null(gp_json_path_get(NULL, "a.b"));
}

static void test_get_segment_matches_whole_keys_only(void **state) {
        json_auto_t *j = parse("{\"ab\":{\"c\":\"x\"},\"a\":{\"bc\":\"y\"}}");

        assert_string_equal(json_string_value(gp_json_path_get(j, "ab.c")), "x");
        assert_string_equal(json_string_value(gp_json_path_get(j, "a.bc")), "y");
        assert_null(gp_json_path_get(j, "a.b"));
        assert_null(gp_json_path_get(j, "abc"));
        assert_null(gp_json_path_get(j, "ab.cd"));
}

static void test_first_string_takes_the_first_path_holding_a_string(void **state) {
        json_auto_t *j = parse("{\"run_id\":5,\"data\":{\"run_id\":\"d\"},\"payload\":{\"run_id\":\"p\"}}");
        char *paths[] = { (char *) "missing", (char *) "run_id", (char *) "data.run_id",
                          (char *) "payload.run_id", NULL };

        assert_string_equal(gp_json_path_first_string(j, paths, false), "d");
}

static void test_first_string_non_empty_skips_empty_strings(void **state) {
        json_auto_t *j = parse("{\"final_response\":\"\",\"result\":\"done\"}");
        char *paths[] = { (char *) "final_response", (char *) "result", NULL };

        assert_string_equal(gp_json_path_first_string(j, paths, false), "");
        assert_string_equal(gp_json_path_first_string(j, paths, true), "done");
}

static void test_first_string_none_found_is_null(void **state) {
        json_auto_t *j = parse("{\"a\":1,\"b\":[\"x\"],\"c\":\"\"}");
        char *paths[] = { (char *) "a", (char *) "b", (char *) "c", (char *) "a..b", NULL };
        char *none[] = { NULL };

        assert_null(gp_json_path_first_string(j, paths, true));
        assert_null(gp_json_path_first_string(j, none, false));
        assert_null(gp_json_path_first_string(j, NULL, false));
        assert_null(gp_json_path_first_string(NULL, paths, false));
}

static bool is_string(json_t *v) {
        return json_is_string(v);
}

static void test_star_segment_tries_members_and_elements_in_order(void **state) {
        json_t *root = json_loads("{\"results\":{\"triage\":{\"x\":1},\"data\":{\"error\":\"boom\"},"
                                  "\"reporting\":{\"error\":\"late\"}},\"list\":[{\"t\":1},{\"t\":\"two\"}]}",
                                  0, NULL);
        char *where = NULL;

        assert_non_null(root);
        assert_string_equal(json_string_value(gp_json_path_get(root, "results.*.error")), "boom");
        assert_int_equal(json_integer_value(gp_json_path_get(root, "list.*.t")), 1);
        assert_string_equal(json_string_value(gp_json_path_find(root, STRV_MAKE("list.*.t"), is_string, &where)), "two");
        assert_string_equal(where, "list.1.t");
        free(where);
        assert_non_null(gp_json_path_find(root, STRV_MAKE("nothing.*", "results.*.error"), is_string, &where));
        assert_string_equal(where, "results.data.error");
        free(where);
        assert_null(gp_json_path_find(root, STRV_MAKE("results.*.nope"), is_string, &where));
        assert_null(where);
        /* "*" through a scalar, and a trailing "*", take what is there */
        assert_null(gp_json_path_get(root, "results.data.error.*"));
        assert_non_null(gp_json_path_get(root, "results.*"));
        json_decref(root);
}

static void test_event_conditions_parse_and_hold(void **state) {
        json_t *root = json_loads("{\"type\":\"agent_completed\",\"payload\":{\"supervisor_result\":\"completed\","
                                  "\"n\":3,\"f\":0.1,\"z\":null}}", JSON_DECODE_INT_AS_REAL, NULL);
        static const struct { const char *cond; bool holds; } cases[] = {
                { "agent_completed", true },
                { "agent_started", false },
                { "agent_completed[payload.supervisor_result]", true },
                { "agent_completed[payload.supervisor_result=completed]", true },
                { "agent_completed[payload.supervisor_result=failed]", false },
                { "agent_completed[payload.n=3]", true },
                { "agent_completed[payload.n=3.0]", true },
                { "agent_completed[payload.n=4]", false },
                { "agent_completed[payload.f=0.1]", true },
                { "agent_completed[payload.f=0.10]", true },
                { "agent_completed[payload.f=x]", false },
                { "agent_completed[payload.z]", false },
                { "agent_completed[payload.z=null]", true },
                { "agent_completed[payload.missing]", false },
                { "agent_completed[payload.*]", true },
        };
        static const char * const bad[] = { "", "[x]", "a[", "a[]", "a[b", "a[b]c", "a[.b]", "a[b..c=1]", "a[[b]]",
                                            "a b", "a]" };

        assert_non_null(root);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                gp_event_cond c = {0};
                char *msg = NULL;

                assert_int_equal(gp_event_cond_parse(cases[i].cond, &c, &msg), 0);
                if (gp_json_event_cond_holds(&c, root, "agent_completed") != cases[i].holds)
                        fail_msg("%s: expected %d", cases[i].cond, cases[i].holds);
                assert_false(gp_json_event_cond_holds(&c, root, NULL));
                gp_event_cond_done(&c);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                gp_event_cond c = {0};
                char *msg = NULL;

                if (gp_event_cond_parse(bad[i], &c, &msg) != -EINVAL)
                        fail_msg("'%s' was accepted", bad[i]);
                assert_non_null(strstr(msg, "invalid event condition"));
                free(msg);
        }
        json_decref(root);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_validate_accepts_dotted_paths),
                cmocka_unit_test(test_validate_rejects_empty_segments),
                cmocka_unit_test(test_get_walks_nested_objects),
                cmocka_unit_test(test_get_digit_segment_indexes_array),
                cmocka_unit_test(test_get_digit_segment_is_a_key_in_an_object),
                cmocka_unit_test(test_get_array_index_out_of_range_or_not_digits_is_null),
                cmocka_unit_test(test_get_through_a_scalar_is_null),
                cmocka_unit_test(test_get_invalid_path_or_root_is_null),
                cmocka_unit_test(test_get_segment_matches_whole_keys_only),
                cmocka_unit_test(test_first_string_takes_the_first_path_holding_a_string),
                cmocka_unit_test(test_first_string_non_empty_skips_empty_strings),
                cmocka_unit_test(test_first_string_none_found_is_null),
                cmocka_unit_test(test_star_segment_tries_members_and_elements_in_order),
                cmocka_unit_test(test_event_conditions_parse_and_hold),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
