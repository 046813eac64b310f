/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>

#include "template.h"
#include "util.h"

static const gp_template_vars vars = {
        .user = "probe@example.com",
        .password = "pa\"ss\\word",
        .token = "tok.en",
        .run_id = "11111111-2222-3333-4444-555555555555",
        .thread_id = "66666666-7777-8888-9999-000000000000",
        .prompt = "Reply with\nthe word \"ready\".",
        .name = "staging",
        .index = 7,
};

static char *expand(const char *tmpl, gp_template_flags flags) {
        char *out = NULL, *err = NULL;
        int r = gp_template_expand(tmpl, &vars, flags, &out, &err);

        if (r < 0)
                fprintf(stderr, "expanding '%s': %s\n", tmpl, strempty(err));
        assert_int_equal(r, 0);
        assert_null(err);
        return out;
}

static void assert_expands(const char *tmpl, gp_template_flags flags, const char *want) {
        _cleanup_free_ char *out = expand(tmpl, flags);
        assert_string_equal(out, want);
}

static void assert_expand_fails(const char *tmpl, const char *part) {
        char *out = (char *) "untouched", *err = NULL;

        assert_int_equal(gp_template_expand(tmpl, &vars, GP_TEMPLATE_PLAIN, &out, &err), -EINVAL);
        assert_string_equal(out, "untouched");
        assert_non_null(err);
        if (!strstr(err, part)) {
                fprintf(stderr, "'%s' does not contain '%s'\n", err, part);
                fail();
        }
        free(err);
}

static void assert_invalid(const char *tmpl, const char *part) {
        char *err = NULL;

        assert_int_equal(gp_template_validate(tmpl, &err), -EINVAL);
        assert_non_null(err);
        if (!strstr(err, part)) {
                fprintf(stderr, "'%s' does not contain '%s'\n", err, part);
                fail();
        }
        free(err);
        assert_expand_fails(tmpl, part);
}

static void test_each_variable_expands(void **state) {
        assert_expands("${user}", 0, "probe@example.com");
        assert_expands("${password}", 0, "pa\"ss\\word");
        assert_expands("${token}", 0, "tok.en");
        assert_expands("${run_id}", 0, vars.run_id);
        assert_expands("${thread_id}", 0, vars.thread_id);
        assert_expands("${prompt}", 0, vars.prompt);
        assert_expands("${name}", 0, "staging");
        assert_expands("${index}", 0, "7");
        assert_expands("u${index}-${name}@x", 0, "u7-staging@x");
        assert_expands("", 0, "");
        assert_expands("no variables", 0, "no variables");
}

static void test_dollar_dollar_is_a_literal_dollar(void **state) {
        assert_expands("$$", 0, "$");
        assert_expands("cost: $$5 $${user}", 0, "cost: $5 ${user}");
        assert_expands("$$$${user}", 0, "$${user}");
}

static void test_lone_dollar_is_literal(void **state) {
        assert_expands("a$b $ c$", 0, "a$b $ c$");
        assert_expands("^end$", 0, "^end$");
}

static void test_env_variable_expands_from_environment(void **state) {
        setenv("GP_TEST_HOST", "staging.example.com", 1);
        assert_int_equal(gp_template_validate("https://${env:GP_TEST_HOST}/", NULL), 0);
        assert_expands("https://${env:GP_TEST_HOST}/", 0, "https://staging.example.com/");
        assert_true(gp_template_uses("x ${env:GP_TEST_HOST}", "env:GP_TEST_HOST"));
        assert_false(gp_template_uses("x ${env:GP_TEST_HOST}", "env:OTHER"));
        unsetenv("GP_TEST_HOST");
        /* Unset when expanding (it was checked at load time): empty. */
        assert_expands("[${env:GP_TEST_HOST}]", 0, "[]");
}

static void test_unset_env_variable_is_invalid(void **state) {
        char *err = NULL;

        unsetenv("GP_TEST_UNSET");
        assert_int_equal(gp_template_validate("a ${env:GP_TEST_UNSET}", &err), -EINVAL);
        assert_string_equal(err, "environment variable GP_TEST_UNSET is not set (${env:GP_TEST_UNSET})");
        free(err);
}

static void test_unknown_variable_is_named(void **state) {
        char *err = NULL;

        /* A name that is not built in may be a capture: the configuration checks it against the
         * Capture= names of earlier steps. */
        assert_int_equal(gp_template_validate("{\"email\":\"${usr}\"}", &err), 0);
        assert_int_equal(gp_template_check_captures("{\"email\":\"${usr}\"}", NULL, &err), -EINVAL);
        assert_string_equal(err, "unknown variable ${usr} (not built in, and no earlier step captures it with Capture=)");
        free(err);
        err = NULL;
        assert_int_equal(gp_template_check_captures("x ${usr} ${base64url:usr}", STRV_MAKE("usr"), &err), 0);
        assert_null(err);
        assert_invalid("${base64url:env:HOME}", "unknown variable ${base64url:env:HOME}");
        assert_invalid("${ user }", "unknown variable ${ user }");
        assert_invalid("${user${index}}", "unknown variable ${user${index}");
}

static void test_captures_and_base64url_expand(void **state) {
        static const gp_template_capture caps[] = { { "ticket", "t/k+1" }, { "user_id", "u-1" } };
        gp_template_vars v = { .token = "ab?", .captures = caps, .n_captures = 2 };
        char *out = NULL, *err = NULL;

        assert_int_equal(gp_template_expand("?ticket=${ticket}&u=${user_id}", &v, GP_TEMPLATE_URL, &out, &err), 0);
        assert_string_equal(out, "?ticket=t%2Fk%2B1&u=u-1");
        free(out);
        /* base64url without padding: "ab?" -> YWI_ ; one and two trailing bytes */
        assert_int_equal(gp_template_expand("jwt.${base64url:token}", &v, 0, &out, &err), 0);
        assert_string_equal(out, "jwt.YWI_");
        free(out);
        v.token = "a";
        assert_int_equal(gp_template_expand("${base64url:token}|${base64url:ticket}", &v, 0, &out, &err), 0);
        assert_string_equal(out, "YQ|dC9rKzE");
        free(out);
        /* a capture no step made expands to nothing (the configuration refuses such templates) */
        assert_int_equal(gp_template_expand("[${missing}]", &v, 0, &out, &err), 0);
        assert_string_equal(out, "[]");
        free(out);
        assert_true(gp_template_uses("a ${base64url:ticket}", "ticket"));
}

static void test_syntax_errors_are_named(void **state) {
        assert_invalid("abc ${user", "unterminated ${user");
        assert_invalid("${", "unterminated ${");
        assert_invalid("x ${}", "empty variable name ${}");
        assert_invalid("${env:}", "invalid environment variable name in ${env:}");
        assert_invalid("${env:1X}", "invalid environment variable name");
        assert_invalid("${env:A-B}", "invalid environment variable name");
}

static void test_long_unknown_name_is_shortened(void **state) {
        char tmpl[300], *err = NULL;

        snprintf(tmpl, sizeof(tmpl), "${%0250d}", 0);
        assert_int_equal(gp_template_validate(tmpl, &err), -EINVAL);
        assert_true(strlen(err) < 80);
        assert_non_null(strstr(err, "...}"));
        free(err);
}

static void test_json_flag_escapes_expansions_only(void **state) {
        assert_expands("{\"p\":\"${password}\",\"q\":\"${prompt}\"}", GP_TEMPLATE_JSON,
                       "{\"p\":\"pa\\\"ss\\\\word\",\"q\":\"Reply with\\u000athe word \\\"ready\\\".\"}");
        /* Literal text of the template is not touched. */
        assert_expands("{\"a\":\"\\n\"}", GP_TEMPLATE_JSON, "{\"a\":\"\\n\"}");
}

static void test_json_escapes_every_control_character(void **state) {
        gp_template_vars v = { .user = "\x01\t\r\x1f\x7f" };
        char *out = NULL;

        assert_int_equal(gp_template_expand("${user}", &v, GP_TEMPLATE_JSON, &out, NULL), 0);
        assert_string_equal(out, "\\u0001\\u0009\\u000d\\u001f\x7f");
        free(out);
}

static void test_json_passes_valid_utf8_and_refuses_invalid(void **state) {
        gp_template_vars v = { .user = "Zoë 日本 😀", .password = "bad\xff", .token = "\xc0\xaf" };
        char *out = NULL, *err = NULL;

        assert_int_equal(gp_template_expand("${user}", &v, GP_TEMPLATE_JSON, &out, NULL), 0);
        assert_string_equal(out, "Zoë 日本 😀");
        free(out);

        out = NULL;
        assert_int_equal(gp_template_expand("${password}", &v, GP_TEMPLATE_JSON, &out, &err), -EINVAL);
        assert_null(out);
        /* Names the variable, never shows the value. */
        assert_string_equal(err, "the value of ${password} is not valid UTF-8");
        free(err);

        assert_int_equal(gp_template_expand("${token}", &v, GP_TEMPLATE_JSON, &out, &err), -EINVAL);
        assert_string_equal(err, "the value of ${token} is not valid UTF-8");
        free(err);

        /* Without the JSON flag bytes pass as they are. */
        assert_int_equal(gp_template_expand("${password}", &v, 0, &out, NULL), 0);
        assert_string_equal(out, "bad\xff");
        free(out);
}

static void test_url_flag_percent_encodes(void **state) {
        gp_template_vars v = { .user = "a b&c=d/é~._-", .token = "x+y" };
        char *out = NULL;

        assert_int_equal(gp_template_expand("/ws?u=${user}&t=${token}", &v, GP_TEMPLATE_URL, &out, NULL), 0);
        assert_string_equal(out, "/ws?u=a%20b%26c%3Dd%2F%C3%A9~._-&t=x%2By");
        free(out);
}

static void test_null_variables_expand_empty(void **state) {
        char *out = NULL;

        assert_int_equal(gp_template_expand("[${user}|${password}|${token}|${index}]", NULL, 0, &out, NULL),
                         0);
        assert_string_equal(out, "[|||0]");
        free(out);
}

static void test_is_json(void **state) {
        assert_true(gp_template_is_json("{\"a\":1}"));
        assert_true(gp_template_is_json("  \t[1]"));
        assert_false(gp_template_is_json("a={}"));
        assert_false(gp_template_is_json(""));
        assert_false(gp_template_is_json(NULL));
}

static void test_uses(void **state) {
        assert_true(gp_template_uses("Bearer ${token}", "token"));
        assert_false(gp_template_uses("Bearer $${token}", "token"));
        assert_false(gp_template_uses("${tokens}", "token"));
        assert_true(gp_template_uses("u${index}@x", "index"));
        assert_false(gp_template_uses("user", "user"));
        assert_false(gp_template_uses(NULL, "user"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_each_variable_expands),
                cmocka_unit_test(test_dollar_dollar_is_a_literal_dollar),
                cmocka_unit_test(test_lone_dollar_is_literal),
                cmocka_unit_test(test_env_variable_expands_from_environment),
                cmocka_unit_test(test_unset_env_variable_is_invalid),
                cmocka_unit_test(test_unknown_variable_is_named),
                cmocka_unit_test(test_syntax_errors_are_named),
                cmocka_unit_test(test_captures_and_base64url_expand),
                cmocka_unit_test(test_long_unknown_name_is_shortened),
                cmocka_unit_test(test_json_flag_escapes_expansions_only),
                cmocka_unit_test(test_json_escapes_every_control_character),
                cmocka_unit_test(test_json_passes_valid_utf8_and_refuses_invalid),
                cmocka_unit_test(test_url_flag_percent_encodes),
                cmocka_unit_test(test_null_variables_expand_empty),
                cmocka_unit_test(test_is_json),
                cmocka_unit_test(test_uses),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
