/* SPDX-License-Identifier: MIT */
/* gp_config_parse: every key, every default, drop-in semantics, printing and the round trip. */
#include <errno.h>
#include <stdlib.h>

#include "test-config-util.h"
#include "util.h"

static int setup(void **state) {
        test_clean_env();
        return 0;
}

static void assert_strv(char **l, const char *joined) {
        _cleanup_free_ char *s = strv_join(l, "|");
        assert_string_equal(s, joined);
}

static void test_every_key_is_parsed(void **state) {
        gp_diags d = { 0 };
        _cleanup_config_ gp_config *c = parse_ok(test_full_conf, &d);

        assert_string_equal(c->path, "test.conf");
        assert_string_equal(c->name, "prod-eu");
        assert_int_equal(c->interval, 120 * USEC_PER_SEC);
        assert_false(c->jitter_is_percent);
        assert_int_equal(c->jitter, 5 * USEC_PER_SEC);
        assert_int_equal(c->timeout, 90 * USEC_PER_SEC);
        assert_int_equal(c->users, 3);
        assert_int_equal(c->alert_after, 5);
        assert_int_equal(c->recover_after, 2);

        assert_strv(c->preflight_urls, "https://api.example.com/health|http://10.0.0.1:8080/ready?x=1");
        assert_int_equal(c->preflight_expect_status, 204);

        assert_string_equal(c->login_url, "https://auth.example.com/auth/login");
        assert_string_equal(c->login_method, "PUT");
        assert_strv(c->login_headers,
                    "Content-Type: application/x-www-form-urlencoded|X-Probe: ${name}-${index}");
        assert_string_equal(c->login_body, "user=${user}&pass=${password}");
        assert_string_equal(c->user, "probe+${index}@example.com");
        assert_null(c->password_credential);
        assert_null(c->password_file);
        assert_true(c->password_inline);
        assert_string_equal(c->password, "s3cret # not a comment");
        assert_int_equal(c->login_expect_status, 201);
        assert_string_equal(c->token_path, "data.jwt");
        assert_null(c->token);
        assert_strv(c->login_captures, "user_id=data.user.id");
        assert_strv(c->login_secret_captures, "refresh=data.refresh");

        assert_int_equal(c->n_steps, 1);
        assert_string_equal(c->steps[0].name, "ticket");
        assert_string_equal(c->steps[0].url, "https://auth.example.com/api/ticket?u=${user_id}");
        assert_string_equal(c->steps[0].method, "POST");
        assert_strv(c->steps[0].headers, "Authorization: Bearer ${token}");
        assert_string_equal(c->steps[0].body, "{\"for\":\"${user_id}\"}");
        assert_int_equal(c->steps[0].expect_status, 201);
        assert_strv(c->steps[0].captures, "ticket=ticket");
        assert_strv(c->steps[0].secret_captures, "t2=data.t");
        assert_int_equal(c->steps[0].line, 29);

        assert_string_equal(c->ws_url, "ws://[::1]:9000/socket");
        assert_int_equal(c->ws_auth, GP_WS_AUTH_QUERY);
        assert_strv(c->subprotocols, "chat.v2");
        assert_string_equal(c->query_param, "access_token");
        assert_strv(c->ws_headers, "Origin: https://app.example.com|Authorization: Bearer ${token}");
        assert_strv(c->ws_query, "ticket=${ticket}");
        assert_strv(c->ready, "hello|welcome");
        assert_strv(c->ready_paths, "data.event|type");
        assert_strv(c->auth_fail, "denied|error[code=401]");
        assert_false(c->require_subprotocol);
        assert_strv(c->identity_paths, "data.user_id");
        assert_string_equal(c->identity, "${user_id}");
        assert_int_equal(c->connect_timeout, 3500 * USEC_PER_MSEC);

        assert_string_equal(c->message, "[\"ask\",\"${prompt}\",\"${run_id}\",\"${thread_id}\"]");
        assert_string_equal(c->prompt, "Say \"pong\"; then #stop");

        assert_string_equal(c->type_path, "event.kind");
        assert_strv(c->expect, "start|step|done");
        assert_strv(c->repeatable, "step");
        assert_strv(c->fail, "oops");
        assert_strv(c->error_paths, "err.msg");
        assert_true(c->strict);
        assert_strv(c->correlate_paths, "meta.id|id");
        assert_string_equal(c->correlate_with, "probe-${run_id}");
        assert_false(c->correlate_learned);
        assert_strv(c->end, "done[result.final=true]");
        assert_string_equal(c->response_reject, "^placeholder$");
        assert_int_equal(regexec(&c->response_reject_regex, "placeholder", 0, NULL, 0), 0);
        assert_strv(c->response_error_paths, "results.*.error");
        assert_int_equal(c->event_timeout, 45 * USEC_PER_SEC);
        assert_strv(c->response_paths, "out.text");
        assert_string_equal(c->response_match, "^(ready|pong)[.!]?$");
        assert_int_equal(regexec(&c->response_regex, "pong!", 0, NULL, 0), 0);
        assert_int_not_equal(regexec(&c->response_regex, "not ready", 0, NULL, 0), 0);

        assert_int_equal(c->slo_login, 750 * USEC_PER_MSEC);
        assert_int_equal(c->slo_connect, USEC_PER_SEC);
        assert_int_equal(c->slo_first_event, 0);
        assert_int_equal(c->slo_total, 60 * USEC_PER_SEC);

        assert_string_equal(c->ca_file, "/etc/ssl/staging-ca.pem");
        assert_true(c->insecure);
        assert_string_equal(c->client_certificate, "/etc/gpprobe/client.pem");
        assert_string_equal(c->client_key, "/etc/gpprobe/client.key");

        assert_string_equal(c->status_file, "/var/tmp/gp.json");
        assert_true(c->status_file_explicit);
        assert_string_equal(c->state_file, "/var/lib/gp/gp.state");
        assert_true(c->state_file_explicit);
        assert_int_equal(c->history, 500);
        assert_false(c->journal);
        assert_string_equal(c->metrics_listen, "127.0.0.1:9477");
        assert_string_equal(c->metrics_file, "/var/lib/node_exporter/gpprobe.prom");

        /* Password= and Insecure=yes are allowed, with warnings. */
        assert_int_equal(d.n_errors, 0);
        assert_diag(&d, "test.conf", 23, true, "Password=");
        assert_diag(&d, "test.conf", 84, true, "Insecure=yes");
        gp_diags_clear(&d);
}

static void test_every_default(void **state) {
        _cleanup_config_ gp_config *c = parse_ok(MINIMAL_CONF, NULL);

        assert_string_equal(c->name, "test");
        assert_int_equal(c->interval, 60 * USEC_PER_SEC);
        assert_true(c->jitter_is_percent);
        assert_int_equal(c->jitter_percent, 10);
        assert_int_equal(c->jitter, 0);
        assert_int_equal(c->timeout, 60 * USEC_PER_SEC);
        assert_int_equal(c->users, 1);
        assert_int_equal(c->alert_after, 3);
        assert_int_equal(c->recover_after, 1);
        assert_int_equal(strv_length(c->preflight_urls), 0);
        assert_int_equal(c->preflight_expect_status, 200);
        assert_null(c->login_url);
        assert_string_equal(c->login_method, "POST");
        assert_strv(c->login_headers, "Content-Type: application/json");
        assert_string_equal(c->login_body, "{\"email\":\"${user}\",\"password\":\"${password}\"}");
        assert_null(c->user);
        assert_null(c->password_credential);
        assert_null(c->password_file);
        assert_false(c->password_inline);
        assert_null(c->password);
        assert_int_equal(c->login_expect_status, 200);
        assert_string_equal(c->token_path, "access_token");
        assert_string_equal(c->token, "tok-12345678");
        assert_int_equal(c->ws_auth, GP_WS_AUTH_SUBPROTOCOL);
        assert_strv(c->subprotocols, "jwt-auth|jwt.${base64url:token}");
        assert_string_equal(c->query_param, "token");
        assert_int_equal(strv_length(c->ws_headers), 0);
        assert_strv(c->ready, "connection_established|connect");
        assert_strv(c->ready_paths, "data.event|type");
        assert_strv(c->auth_fail, "authentication_error|error_message[error_code=AUTH_FAILED]|"
                                  "error_message[error_code=NO_TOKEN]|error_message[error_code=VALIDATION_FAILED]");
        assert_true(c->require_subprotocol);
        assert_null(c->identity_paths);
        assert_null(c->identity);
        assert_null(c->ws_query);
        assert_null(c->login_captures);
        assert_int_equal(c->n_steps, 0);
        assert_int_equal(c->connect_timeout, 10 * USEC_PER_SEC);
        assert_string_equal(c->message, "{\"type\":\"user_message\",\"payload\":{\"content\":\"${prompt}\","
                                        "\"thread_id\":\"${thread_id}\",\"run_id\":\"${run_id}\"}}");
        assert_string_equal(c->prompt, "Reply with the word ready.");
        assert_string_equal(c->type_path, "type");
        assert_strv(c->expect, "agent_started|agent_thinking|tool_executing|tool_completed|agent_completed");
        assert_strv(c->repeatable, "agent_started|agent_thinking|tool_executing|tool_completed|agent_completed");
        assert_true(c->correlate_learned);
        assert_strv(c->end, "agent_completed[payload.supervisor_result]|agent_completed[data.supervisor_result]|"
                            "agent_completed[supervisor_result]");
        assert_non_null(c->response_reject);
        assert_int_equal(regexec(&c->response_reject_regex, "Task completed", 0, NULL, 0), 0);
        assert_int_equal(regexec(&c->response_reject_regex, "  ", 0, NULL, 0), 0);
        assert_int_not_equal(regexec(&c->response_reject_regex, "Task completed: 3 rows", 0, NULL, 0), 0);
        assert_strv(c->fail, "agent_error|agent_death|error_message|error");
        assert_strv(c->error_paths, "data.error_message|error_message|payload.error_message|error|payload.message|message");
        assert_false(c->strict);
        assert_strv(c->correlate_paths, "run_id|data.run_id|payload.run_id");
        assert_string_equal(c->correlate_with, "${run_id}");
        assert_int_equal(c->event_timeout, 30 * USEC_PER_SEC);
        assert_strv(c->response_paths, "payload.results.reporting.data.report|final_response|result|data.result|payload.result");
        assert_strv(c->response_error_paths, "payload.results.*.error");
        assert_null(c->response_match);
        assert_int_equal(c->slo_login, 2 * USEC_PER_SEC);
        assert_int_equal(c->slo_connect, 2 * USEC_PER_SEC);
        assert_int_equal(c->slo_first_event, 5 * USEC_PER_SEC);
        assert_int_equal(c->slo_total, 30 * USEC_PER_SEC);
        assert_null(c->ca_file);
        assert_false(c->insecure);
        assert_null(c->client_certificate);
        assert_null(c->client_key);
        assert_string_equal(c->status_file, "/run/gpprobe/test.json");
        assert_false(c->status_file_explicit);
        assert_null(c->state_file);
        assert_false(c->state_file_explicit);
        assert_int_equal(c->history, 100);
        assert_true(c->journal);
        assert_null(c->metrics_listen);
        assert_null(c->metrics_file);
        assert_int_equal(gp_config_jitter_max(c), 6 * USEC_PER_SEC);
}

static void test_name_defaults_to_basename_without_conf(void **state) {
        static const struct {
                const char *path, *name;
        } cases[] = {
                { "/etc/gpprobe/staging-eu.conf", "staging-eu" },
                { "relative/dir/probe.v2.conf", "probe.v2" },
                { "noext", "noext" },
                { "/etc/x.config", "x.config" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                gp_config_source src = {
                        .file = cases[i].path, .text = MINIMAL_CONF, .len = strlen(MINIMAL_CONF),
                };
                _cleanup_config_ gp_config *c = NULL;

                assert_int_equal(gp_config_parse(cases[i].path, &src, 1, &c, NULL), 0);
                assert_string_equal(c->name, cases[i].name);
                assert_string_equal(c->path, cases[i].path);
        }
}

static void test_output_defaults_follow_systemd_directories(void **state) {
        gp_config *c;

        setenv("RUNTIME_DIRECTORY", "/run/gpprobe-a/:/run/other", 1);
        setenv("STATE_DIRECTORY", "/var/lib/gpprobe", 1);
        c = parse_ok(MINIMAL_CONF "[Probe]\nName=eu\n", NULL);
        assert_string_equal(c->status_file, "/run/gpprobe-a/eu.json");
        assert_false(c->status_file_explicit);
        assert_string_equal(c->state_file, "/var/lib/gpprobe/eu.state");
        assert_false(c->state_file_explicit);
        gp_config_unref(c);

        /* An explicit value wins; an empty assignment goes back to the default. */
        c = parse_ok(MINIMAL_CONF "[Output]\nStatusFile=/tmp/s.json\nStateFile=/tmp/x\nStateFile=\n", NULL);
        assert_string_equal(c->status_file, "/tmp/s.json");
        assert_true(c->status_file_explicit);
        assert_string_equal(c->state_file, "/var/lib/gpprobe/test.state");
        assert_false(c->state_file_explicit);
        gp_config_unref(c);

        setenv("RUNTIME_DIRECTORY", "", 1);
        unsetenv("STATE_DIRECTORY");
        c = parse_ok(MINIMAL_CONF, NULL);
        assert_string_equal(c->status_file, "/run/gpprobe/test.json");
        assert_null(c->state_file);
        gp_config_unref(c);
        test_clean_env();
}

static void test_dropins_apply_in_order_and_empty_assignment_resets_lists(void **state) {
        static const char main_conf[] =
                MINIMAL_CONF
                "[Probe]\nInterval=10s\n"
                "[Preflight]\nURL=https://a.example.com/\n"
                "[Login]\nHeader=X-A: 1\n";
        static const char dropin1[] =
                "[Probe]\nInterval=20s\n"
                "[Preflight]\nURL=https://b.example.com/\n"
                "[WebSocket]\nHeader=X-W: 1\n";
        static const char dropin2[] =
                "[Probe]\nInterval=30s\n"
                "[Login]\nHeader=\nHeader=X-B: 2\n"
                "[WebSocket]\nHeader=X-V: 2\n";
        const gp_config_source src[] = {
                { "main.conf", main_conf, sizeof(main_conf) - 1 },
                { "main.conf.d/a.conf", dropin1, sizeof(dropin1) - 1 },
                { "main.conf.d/b.conf", dropin2, sizeof(dropin2) - 1 },
        };
        _cleanup_config_ gp_config *c = NULL;

        assert_int_equal(gp_config_parse("main.conf", src, ELEMENTSOF(src), &c, NULL), 0);
        assert_int_equal(c->interval, 30 * USEC_PER_SEC);                 /* last wins */
        assert_strv(c->preflight_urls, "https://a.example.com/|https://b.example.com/");  /* accumulate */
        assert_strv(c->login_headers, "X-B: 2");                          /* reset, then one */
        assert_strv(c->ws_headers, "X-W: 1|X-V: 2");                     /* other names accumulate */
        assert_string_equal(c->name, "main");
}

/* Issue 11: uncommenting the shipped "Header=Content-Type: application/json" sent it twice. */
static void test_header_of_an_earlier_name_replaces_it_case_insensitively(void **state) {
        _cleanup_config_ gp_config *shipped = parse_ok(
                MINIMAL_CONF "[Login]\nHeader=Content-Type: application/json\n", NULL);
        _cleanup_config_ gp_config *c = parse_ok(
                MINIMAL_CONF
                "[Login]\nHeader=content-type: text/plain\nHeader=X-A: 1\nHeader=X-AB: 2\nHeader=x-a: 3\n"
                "[WebSocket]\nHeader=Origin: a\nHeader=ORIGIN: b\nHeader=X-Origin: c\n"
                "[Step]\nURL=https://api.example.com/t\nHeader=Accept: a\nHeader=X-B: 1\nHeader=accept: b\n",
                NULL);

        assert_strv(shipped->login_headers, "Content-Type: application/json");
        /* In place: the default's position, the later line's spelling and value. */
        assert_strv(c->login_headers, "content-type: text/plain|x-a: 3|X-AB: 2");
        assert_strv(c->ws_headers, "ORIGIN: b|X-Origin: c");
        assert_int_equal(c->n_steps, 1);
        assert_strv(c->steps[0].headers, "accept: b|X-B: 1");
}

static void test_header_in_a_dropin_replaces_the_main_files(void **state) {
        static const char main_conf[] = MINIMAL_CONF "[WebSocket]\nHeader=Origin: https://a.example.com\n";
        static const char dropin[] = "[WebSocket]\nHeader=origin: https://b.example.com\n";
        const gp_config_source src[] = {
                { "main.conf", main_conf, sizeof(main_conf) - 1 },
                { "main.conf.d/a.conf", dropin, sizeof(dropin) - 1 },
        };
        _cleanup_config_ gp_config *c = NULL;

        assert_int_equal(gp_config_parse("main.conf", src, ELEMENTSOF(src), &c, NULL), 0);
        assert_strv(c->ws_headers, "origin: https://b.example.com");
}

static void test_empty_assignment_unsets_or_restores_default(void **state) {
        _cleanup_config_ gp_config *c = parse_ok(
                MINIMAL_CONF
                "[Probe]\nInterval=5s\nInterval=\nJitter=\nUsers=4\nUsers=\nName=x\nName=\n"
                "[Login]\nMethod=GET\nMethod=\nBody=\nHeader=\n"
                "[WebSocket]\nReady=\nConnectTimeout=\n"
                "[Events]\nFail=\nStrict=yes\nStrict=\nEventTimeout=\nCorrelateWith=\nCorrelatePath=\n"
                "[SLO]\nLogin=\nTotal=\n"
                "[Output]\nHistory=7\nHistory=\nMetricsListen=127.0.0.1:1\nMetricsListen=\n", NULL);

        /* Keys that always have a value go back to their default. */
        assert_int_equal(c->interval, 60 * USEC_PER_SEC);
        assert_int_equal(c->connect_timeout, 10 * USEC_PER_SEC);
        assert_int_equal(c->event_timeout, 30 * USEC_PER_SEC);
        assert_int_equal(c->users, 1);
        assert_string_equal(c->name, "test");
        assert_string_equal(c->login_method, "POST");
        assert_false(c->strict);
        assert_string_equal(c->correlate_with, "${run_id}");
        assert_int_equal(c->history, 100);
        /* Optional keys are unset, lists are empty. */
        assert_false(c->jitter_is_percent);
        assert_int_equal(gp_config_jitter_max(c), 0);
        assert_null(c->login_body);
        assert_int_equal(strv_length(c->login_headers), 0);
        assert_null(c->ready);
        assert_int_equal(strv_length(c->fail), 0);
        assert_int_equal(strv_length(c->correlate_paths), 0);
        assert_int_equal(c->slo_login, 0);
        assert_int_equal(c->slo_total, 0);
        assert_null(c->metrics_listen);
}

static void test_comments_blanks_crlf_and_bom(void **state) {
        static const char text[] =
                "\xef\xbb\xbf# comment\r\n"
                "; another comment\r\n"
                "   # indented comment\r\n"
                "\r\n"
                "  [Probe]  \r\n"
                "   Interval   =   7s   \r\n"
                "\t\r\n"
                "[Events]\r\n"
                "ResponseMatch=^a#b;c$\r\n"
                "[Login]\r\n"
                "Token=t-123456\r\n"
                "[WebSocket]\r\n"
                "URL=wss://h/ws";  /* no final newline */
        _cleanup_config_ gp_config *c = parse_ok(text, NULL);

        assert_int_equal(c->interval, 7 * USEC_PER_SEC);
        assert_string_equal(c->response_match, "^a#b;c$");
        assert_string_equal(c->ws_url, "wss://h/ws");
}

static void test_jitter_accepts_percent_or_duration(void **state) {
        gp_config *c = parse_ok(MINIMAL_CONF "[Probe]\nInterval=1min\nJitter=50%\n", NULL);
        assert_true(c->jitter_is_percent);
        assert_int_equal(c->jitter_percent, 50);
        assert_int_equal(gp_config_jitter_max(c), 30 * USEC_PER_SEC);
        gp_config_unref(c);

        c = parse_ok(MINIMAL_CONF "[Probe]\nJitter=0%\n", NULL);
        assert_true(c->jitter_is_percent);
        assert_int_equal(gp_config_jitter_max(c), 0);
        gp_config_unref(c);

        c = parse_ok(MINIMAL_CONF "[Probe]\nJitter=1500ms\n", NULL);
        assert_false(c->jitter_is_percent);
        assert_int_equal(gp_config_jitter_max(c), 1500 * USEC_PER_MSEC);
        gp_config_unref(c);
}

/* Issue 11: the daemon drew its delay with a copy of the jitter formula that dropped
 * Interval= % 100 (Interval=199us, Jitter=10%: at most 10us, not 19us); it now calls this. */
static void test_run_delay_is_interval_plus_a_draw_up_to_the_jitter(void **state) {
        gp_config *c = parse_ok(MINIMAL_CONF "[Probe]\nInterval=199us\nJitter=10%\n", NULL);

        assert_int_equal(gp_config_jitter_max(c), 19);
        assert_int_equal(gp_config_run_delay(c, 0), 199);
        assert_int_equal(gp_config_run_delay(c, 18), 199 + 18);
        assert_int_equal(gp_config_run_delay(c, 19), 199 + 19);
        assert_int_equal(gp_config_run_delay(c, 20), 199);           /* wraps: [0, 19] */
        assert_true(gp_config_run_delay(c, UINT64_MAX) <= 199 + 19);
        gp_config_unref(c);

        c = parse_ok(MINIMAL_CONF "[Probe]\nInterval=1min\nJitter=100%\n", NULL);
        assert_int_equal(gp_config_run_delay(c, 60 * USEC_PER_SEC), 2 * 60 * USEC_PER_SEC);
        assert_int_equal(gp_config_run_delay(c, 60 * USEC_PER_SEC + 1), 60 * USEC_PER_SEC);
        gp_config_unref(c);

        c = parse_ok(MINIMAL_CONF "[Probe]\nInterval=10s\nJitter=0\n", NULL);
        assert_int_equal(gp_config_run_delay(c, 12345), 10 * USEC_PER_SEC);  /* no jitter */
        gp_config_unref(c);
}

static void test_token_makes_login_optional_and_ignores_login_url(void **state) {
        gp_diags d = { 0 };
        gp_config *c = parse_ok(MINIMAL_CONF "[Login]\nURL=https://auth.example.com/login\n", &d);

        assert_null(c->login_url);
        assert_int_equal(d.n_errors, 0);
        assert_diag(&d, "test.conf", 6, true, "Token= is set");
        gp_config_unref(c);
        gp_diags_clear(&d);
}

static void test_login_with_credential_needs_no_secret_at_parse_time(void **state) {
        gp_diags d = { 0 };
        _cleanup_config_ gp_config *c = parse_ok(
                "[Login]\nURL=https://a.example.com/login\nUser=u@example.com\nPasswordCredential=pw\n"
                "[WebSocket]\nURL=wss://a.example.com/ws\n", &d);

        assert_string_equal(c->password_credential, "pw");
        assert_null(c->password);
        assert_false(c->password_inline);
        assert_int_equal(d.n, 0);  /* no warnings either */
}

static void test_many_users_without_correlation_warns(void **state) {
        gp_diags d = { 0 };
        _cleanup_config_ gp_config *c = NULL;

        c = parse_ok(MINIMAL_CONF "[Probe]\nUsers=2\n[Events]\nCorrelatePath=\n", &d);

        assert_diag(&d, "test.conf", 6, true, "isolation");
        gp_diags_clear(&d);
}

static void test_very_long_value_is_kept(void **state) {
        static const char head[] = MINIMAL_CONF "[Request]\nPrompt=";
        size_t n = 512 * 1024;
        _cleanup_free_ char *text = malloc(sizeof(head) + n);
        gp_config *c;

        assert_non_null(text);
        memcpy(text, head, sizeof(head) - 1);
        memset(text + sizeof(head) - 1, 'x', n);
        text[sizeof(head) - 1 + n] = '\0';
        c = parse_ok(text, NULL);
        assert_int_equal(strlen(c->prompt), n);
        gp_config_unref(c);
}

static void test_ref_and_unref(void **state) {
        gp_config *c = parse_ok(MINIMAL_CONF, NULL);

        assert_ptr_equal(gp_config_ref(c), c);
        assert_int_equal(c->refcount, 2);
        assert_null(gp_config_unref(c));
        assert_int_equal(c->refcount, 1);
        assert_null(gp_config_unref(c));
        assert_null(gp_config_unref(NULL));
        assert_null(gp_config_ref(NULL));
}

static void test_ws_auth_to_string(void **state) {
        assert_string_equal(gp_ws_auth_to_string(GP_WS_AUTH_SUBPROTOCOL), "subprotocol");
        assert_string_equal(gp_ws_auth_to_string(GP_WS_AUTH_HEADER), "header");
        assert_string_equal(gp_ws_auth_to_string(GP_WS_AUTH_QUERY), "query");
        assert_string_equal(gp_ws_auth_to_string(GP_WS_AUTH_NONE), "none");
        assert_null(gp_ws_auth_to_string((gp_ws_auth) 42));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_every_key_is_parsed, setup),
                cmocka_unit_test_setup(test_every_default, setup),
                cmocka_unit_test_setup(test_name_defaults_to_basename_without_conf, setup),
                cmocka_unit_test_setup(test_output_defaults_follow_systemd_directories, setup),
                cmocka_unit_test_setup(test_dropins_apply_in_order_and_empty_assignment_resets_lists, setup),
                cmocka_unit_test_setup(test_header_of_an_earlier_name_replaces_it_case_insensitively, setup),
                cmocka_unit_test_setup(test_header_in_a_dropin_replaces_the_main_files, setup),
                cmocka_unit_test_setup(test_empty_assignment_unsets_or_restores_default, setup),
                cmocka_unit_test_setup(test_comments_blanks_crlf_and_bom, setup),
                cmocka_unit_test_setup(test_jitter_accepts_percent_or_duration, setup),
                cmocka_unit_test_setup(test_run_delay_is_interval_plus_a_draw_up_to_the_jitter, setup),
                cmocka_unit_test_setup(test_token_makes_login_optional_and_ignores_login_url, setup),
                cmocka_unit_test_setup(test_login_with_credential_needs_no_secret_at_parse_time, setup),
                cmocka_unit_test_setup(test_many_users_without_correlation_warns, setup),
                cmocka_unit_test_setup(test_very_long_value_is_kept, setup),
                cmocka_unit_test_setup(test_ref_and_unref, setup),
                cmocka_unit_test_setup(test_ws_auth_to_string, setup),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
