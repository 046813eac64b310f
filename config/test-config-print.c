/* SPDX-License-Identifier: MIT */
/* gp_config_print: every key, redaction, and the round trip print -> parse -> equal config. */
#include <errno.h>
#include <stdlib.h>

#include "config-internal.h"
#include "test-config-util.h"
#include "util.h"

static int setup(void **state) {
        test_clean_env();
        return 0;
}

/* Replaces every occurrence of from by to. */
static char *replace_all(const char *s, const char *from, const char *to) {
        gp_buf b = { 0 };
        const char *p;

        assert_int_equal(gp_buf_append(&b, "", 0), 0);
        while ((p = strstr(s, from))) {
                assert_int_equal(gp_buf_append(&b, s, (size_t) (p - s)), 0);
                assert_int_equal(gp_buf_append(&b, to, strlen(to)), 0);
                s = p + strlen(from);
        }
        assert_int_equal(gp_buf_append(&b, s, strlen(s)), 0);
        return b.data;
}

/* Prints c, puts the secrets back, parses the text again and checks the result is equal. */
static void assert_round_trip(const gp_config *c, const char *password, const char *token) {
        _cleanup_free_ char *printed = print_to_string(c), *with_pw = NULL, *text = NULL, *again = NULL;
        gp_config *c2;

        with_pw = replace_all(printed, "\nPassword=(redacted)\n", password);
        text = replace_all(with_pw, "\nToken=(redacted)\n", token);
        c2 = parse_ok(text, NULL);
        if (!gp_config_equal(c, c2)) {
                fprintf(stderr, "round trip changed the configuration; printed:\n%s", text);
                fail();
        }
        /* And printing is a fixed point. */
        again = print_to_string(c2);
        assert_string_equal(printed, again);
        gp_config_unref(c2);
}

static void test_round_trip_of_every_key(void **state) {
        _cleanup_config_ gp_config *c = parse_ok(test_full_conf, NULL);

        assert_round_trip(c, "\nPassword=s3cret # not a comment\n", "\nToken=\n");
}

static void test_round_trip_of_defaults(void **state) {
        _cleanup_config_ gp_config *c = parse_ok(MINIMAL_CONF, NULL);

        assert_round_trip(c, "\nPassword=\n", "\nToken=tok-12345678\n");
}

static void test_round_trip_keeps_environment_defaults_implicit(void **state) {
        gp_config *c;

        setenv("RUNTIME_DIRECTORY", "/run/gpprobe", 1);
        setenv("STATE_DIRECTORY", "/var/lib/gpprobe", 1);
        c = parse_ok(MINIMAL_CONF "[Probe]\nJitter=\n[Events]\nFail=\nErrorPath=\n", NULL);
        assert_round_trip(c, "\nPassword=\n", "\nToken=tok-12345678\n");
        gp_config_unref(c);
        test_clean_env();
}

static void test_round_trip_of_odd_durations(void **state) {
        _cleanup_config_ gp_config *c = parse_ok(MINIMAL_CONF
                                                 "[Probe]\nInterval=1d 1h 1m 1s 1ms 1us\nJitter=0\n"
                                                 "Timeout=1.5s\n[SLO]\nLogin=0.000001s\nTotal=36h\n", NULL);
        _cleanup_free_ char *s = print_to_string(c);

        assert_non_null(strstr(s, "\nInterval=1d 1h 1min 1s 1ms 1us\n"));
        assert_non_null(strstr(s, "\nJitter=0\n"));
        assert_non_null(strstr(s, "\nTimeout=1s 500ms\n"));
        assert_non_null(strstr(s, "\nLogin=1us\n"));
        assert_non_null(strstr(s, "\nTotal=1d 12h\n"));
        assert_round_trip(c, "\nPassword=\n", "\nToken=tok-12345678\n");
}

static void test_print_shows_every_section_and_key(void **state) {
        _cleanup_config_ gp_config *c = parse_ok(test_full_conf, NULL);
        _cleanup_free_ char *s = print_to_string(c);
        const char *section_at = s;

        for (size_t k = 0; k < _K_MAX; k++) {
                _cleanup_free_ char *section = strdup_printf("\n[%s]\n", gp_config_keys[k].section);
                _cleanup_free_ char *key = strdup_printf("\n%s=", gp_config_keys[k].name);
                const char *p = strstr(s, section), *next;

                assert_non_null(p);
                assert_true(p >= section_at);  /* sections in order */
                section_at = p;
                next = strstr(p + 1, "\n[");
                p = strstr(p, key);
                assert_non_null(p);
                assert_true(!next || p < next);  /* the key is inside its section */
        }
}

static void test_print_values(void **state) {
        _cleanup_config_ gp_config *c = parse_ok(test_full_conf, NULL);
        _cleanup_free_ char *s = print_to_string(c);

        /* Repeatable keys: an empty assignment first, then one line each. */
        assert_non_null(strstr(s, "\n[Preflight]\nURL=\nURL=https://api.example.com/health\n"
                                  "URL=http://10.0.0.1:8080/ready?x=1\nExpectStatus=204\n"));
        assert_non_null(strstr(s, "\nHeader=\nHeader=Content-Type: application/x-www-form-urlencoded\n"
                                  "Header=X-Probe: ${name}-${index}\n"));
        assert_non_null(strstr(s, "\nExpect=start step done\n"));
        assert_non_null(strstr(s, "\nJitter=5s\n"));
        assert_non_null(strstr(s, "\nTimeout=1min 30s\n"));
        assert_non_null(strstr(s, "\nFirstEvent=\n"));
        assert_non_null(strstr(s, "\nAuth=query\n"));
        assert_non_null(strstr(s, "\nStrict=yes\n"));
        assert_non_null(strstr(s, "\nJournal=no\n"));
        assert_non_null(strstr(s, "\nStatusFile=/var/tmp/gp.json\n"));
}

static void test_print_redacts_secrets(void **state) {
        gp_config *c = parse_ok(test_full_conf, NULL);
        char *s = print_to_string(c);

        assert_null(strstr(s, "s3cret"));
        assert_non_null(strstr(s, "\nPassword=(redacted)\n"));
        assert_non_null(strstr(s, "\nToken=\n"));
        /* A header that only refers to ${token} shows no secret. */
        assert_non_null(strstr(s, "\nHeader=Authorization: Bearer ${token}\n"));
        free(s);
        gp_config_unref(c);

        c = parse_ok(MINIMAL_CONF "[WebSocket]\nHeader=X-Api-Key: sk-live-1\nHeader=Cookie: sid=abc\n"
                     "Header=X-Auth-Token: ${env:HOME}\n"
                     "[Login]\nHeader=Authorization: Basic dXNlcjpwdw==\n", NULL);
        s = print_to_string(c);
        assert_null(strstr(s, "tok-12345678"));
        assert_non_null(strstr(s, "\nToken=(redacted)\n"));
        assert_null(strstr(s, "sk-live-1"));
        assert_non_null(strstr(s, "\nHeader=X-Api-Key: (redacted)\n"));
        assert_null(strstr(s, "sid=abc"));
        assert_non_null(strstr(s, "\nHeader=Cookie: (redacted)\n"));
        assert_non_null(strstr(s, "\nHeader=X-Auth-Token: ${env:HOME}\n"));
        assert_null(strstr(s, "dXNlcjpwdw=="));
        free(s);
        gp_config_unref(c);
}

/* --check-config shows the header list as sent: a line naming the default replaced it. */
static void test_print_shows_a_replaced_default_header_once(void **state) {
        _cleanup_config_ gp_config *c =
                parse_ok(MINIMAL_CONF "[Login]\nHeader=content-type: text/plain\n", NULL);
        _cleanup_free_ char *s = print_to_string(c);

        assert_non_null(strstr(s, "\nHeader=\nHeader=content-type: text/plain\nBody="));
        assert_null(strstr(s, "application/json\n"));
        assert_round_trip(c, "\nPassword=\n", "\nToken=tok-12345678\n");
}

static void test_print_shows_environment_defaults_as_comments(void **state) {
        _cleanup_config_ gp_config *c = parse_ok(MINIMAL_CONF, NULL);
        _cleanup_free_ char *s = print_to_string(c);

        assert_non_null(strstr(s, "\n# default: /run/gpprobe/test.json\nStatusFile=\n"));
        assert_non_null(strstr(s, "\n# default: none\nStateFile=\n"));
}

static void test_equal_compares_every_key_but_not_the_path(void **state) {
        gp_config_source a = { "a.conf", MINIMAL_CONF "[Probe]\nName=x\n", 0 };
        gp_config_source b = { "dir/b.conf", MINIMAL_CONF "[Probe]\nName=x\n", 0 };
        _cleanup_config_ gp_config *ca = NULL, *cb = NULL;
        gp_config *other;

        a.len = b.len = strlen(a.text);
        assert_int_equal(gp_config_parse(a.file, &a, 1, &ca, NULL), 0);
        assert_int_equal(gp_config_parse(b.file, &b, 1, &cb, NULL), 0);
        assert_true(gp_config_equal(ca, cb));
        assert_true(gp_config_equal(ca, ca));
        assert_false(gp_config_equal(ca, NULL));

        other = parse_ok(MINIMAL_CONF "[Probe]\nName=x\n[Events]\nStrict=yes\n", NULL);
        assert_false(gp_config_equal(ca, other));
        gp_config_unref(other);
        other = parse_ok("[Login]\nToken=other-token\n[WebSocket]\nURL=wss://api.example.com/ws\n"
                         "[Probe]\nName=x\n", NULL);
        assert_false(gp_config_equal(ca, other));
        gp_config_unref(other);
        other = parse_ok(MINIMAL_CONF "[Probe]\nName=x\n[Output]\nStatusFile=/run/gpprobe/x.json\n", NULL);
        assert_string_equal(other->status_file, ca->status_file);
        assert_false(gp_config_equal(ca, other));  /* explicit differs */
        gp_config_unref(other);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_round_trip_of_every_key, setup),
                cmocka_unit_test_setup(test_round_trip_of_defaults, setup),
                cmocka_unit_test_setup(test_round_trip_keeps_environment_defaults_implicit, setup),
                cmocka_unit_test_setup(test_round_trip_of_odd_durations, setup),
                cmocka_unit_test_setup(test_print_shows_every_section_and_key, setup),
                cmocka_unit_test_setup(test_print_values, setup),
                cmocka_unit_test_setup(test_print_redacts_secrets, setup),
                cmocka_unit_test_setup(test_print_shows_a_replaced_default_header_once, setup),
                cmocka_unit_test_setup(test_print_shows_environment_defaults_as_comments, setup),
                cmocka_unit_test_setup(test_equal_compares_every_key_but_not_the_path, setup),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
