/* SPDX-License-Identifier: MIT */
/* Every error of gp_config_parse: exact FILE:LINE and the key part of the message. */
#include <errno.h>
#include <stdlib.h>

#include "test-config-util.h"
#include "util.h"

/* MINIMAL_CONF is 4 lines: the first line after it is line 5. */
typedef struct error_case {
        const char *text;
        unsigned line;
        const char *part;
} error_case;

#define AFTER_MINIMAL(s) MINIMAL_CONF s

static void run_cases(const error_case *cases, size_t n) {
        for (size_t i = 0; i < n; i++)
                assert_error_at(cases[i].text, cases[i].line, cases[i].part, __FILE__, (int) i);
}
#define RUN_CASES(c) run_cases((c), ELEMENTSOF(c))

static int setup(void **state) {
        test_clean_env();
        return 0;
}

static void test_unknown_key_message_matches_spec(void **state) {
        static const char text[] =
                AFTER_MINIMAL("[Probe]\n"
                              "# a comment\n"
                              "Intervl=30s\n");
        gp_diags d = { 0 };
        _cleanup_free_ char *s = NULL;

        parse_fails(text, &d);
        s = diags_to_string(&d);
        assert_string_equal(s, "test.conf:7: unknown key 'Intervl' in section [Probe]\n");
        gp_diags_clear(&d);
}

static void test_syntax_errors(void **state) {
        static const error_case cases[] = {
                { AFTER_MINIMAL("[Nope]\nKey=1\n"), 5, "unknown section [Nope]" },
                { AFTER_MINIMAL("[probe]\n"), 5, "unknown section [probe] (did you mean [Probe]?)" },
                { AFTER_MINIMAL("[Probe]\ninterval=5s\n"), 6, "unknown key 'interval' in section [Probe] "
                                                             "(did you mean 'Interval'?)" },
                { AFTER_MINIMAL("[Probe]\nURL=x\n"), 6, "unknown key 'URL' in section [Probe]" },
                { "Interval=5s\n" MINIMAL_CONF, 1, "assignment to 'Interval' outside of any section" },
                { AFTER_MINIMAL("[Probe]\nInterval 5s\n"), 6, "the line has no '='" },
                { AFTER_MINIMAL("[Probe\n"), 5, "unterminated section header" },
                { AFTER_MINIMAL("[Probe] x\n"), 5, "unterminated section header" },
                { AFTER_MINIMAL("[]\n"), 5, "empty section name" },
                { AFTER_MINIMAL("[Probe]\n = 5s\n"), 6, "missing key name before '='" },
        };

        RUN_CASES(cases);
}

static void test_bad_bytes_are_errors_and_never_echoed(void **state) {
        static const char nul[] = MINIMAL_CONF "[Request]\nPrompt=se\0cret\n";
        static const char nul_comment[] = MINIMAL_CONF "# x\0y\n";
        const gp_config_source src[] = {
                { "test.conf", nul, sizeof(nul) - 1 },
                { "test.conf", nul_comment, sizeof(nul_comment) - 1 },
        };
        gp_diags d = { 0 };
        gp_config *c = NULL;

        for (size_t i = 0; i < ELEMENTSOF(src); i++) {
                assert_int_equal(gp_config_parse("test.conf", &src[i], 1, &c, &d), -EINVAL);
                assert_int_equal(d.n_errors, 1);
                assert_diag(&d, "test.conf", i == 0 ? 6 : 5, false, "NUL byte in line");
                gp_diags_clear(&d);
        }

        assert_error(AFTER_MINIMAL("[Request]\nPrompt=a\rb\n"), 6,
                     "control character 0x0d in line (column 9)");
        assert_error(AFTER_MINIMAL("[Request]\nPrompt=\x1b[31m\n"), 6, "control character 0x1b");
        assert_error(AFTER_MINIMAL("[Request]\nPrompt=caf\xe9\n"), 6, "invalid UTF-8 in line (column 11)");
        assert_error(AFTER_MINIMAL("[Request]\nPrompt=\xed\xa0\x80\n"), 6, "invalid UTF-8");
}

static void test_all_errors_are_collected(void **state) {
        static const char text[] =
                "[Probe]\n"
                "Interval=soon\n"
                "Users=0\n"
                "Bogus=1\n"
                "[Nope]\n"
                "Ignored=1\n"
                "[Events]\n"
                "Strict=maybe\n";
        gp_diags d = { 0 };

        parse_fails(text, &d);
        assert_diag(&d, "test.conf", 2, false, "Interval: invalid duration 'soon'");
        assert_diag(&d, "test.conf", 3, false, "Users: 0 is out of range (1-10000)");
        assert_diag(&d, "test.conf", 4, false, "unknown key 'Bogus'");
        assert_diag(&d, "test.conf", 5, false, "unknown section [Nope]");
        assert_diag(&d, "test.conf", 8, false, "Strict: invalid boolean 'maybe'");
        assert_diag(&d, "test.conf", 0, false, "[WebSocket] URL= is required");
        assert_diag(&d, "test.conf", 0, false, "[Login] URL= is required");
        assert_diag(&d, "test.conf", 0, false, "[Login] User= is required");
        assert_diag(&d, "test.conf", 0, false, "[Login] needs a password");
        /* Keys of an unknown section are not reported one by one. */
        assert_null(find_diag(&d, "test.conf", 6, ""));
        assert_int_equal(d.n_errors, 9);
        gp_diags_clear(&d);
}

static void test_invalid_durations(void **state) {
        static const error_case cases[] = {
                { AFTER_MINIMAL("[Probe]\nInterval=abc\n"), 6, "Interval: invalid duration 'abc'" },
                { AFTER_MINIMAL("[Probe]\nInterval=-5s\n"), 6, "invalid duration '-5s'" },
                { AFTER_MINIMAL("[Probe]\nInterval=5 parsecs\n"), 6, "invalid duration '5 parsecs'" },
                { AFTER_MINIMAL("[Probe]\nInterval=99999999999999999999s\n"), 6, "is too large" },
                { AFTER_MINIMAL("[Probe]\nInterval=300000000d\n"), 6, "is too large" },
                { AFTER_MINIMAL("[Probe]\nInterval=0\n"), 6, "Interval: must be greater than 0" },
                { AFTER_MINIMAL("[Probe]\nTimeout=0s\n"), 6, "Timeout: must be greater than 0" },
                { AFTER_MINIMAL("[WebSocket]\nConnectTimeout=1.s\n"), 6,
                  "ConnectTimeout: invalid duration" },
                { AFTER_MINIMAL("[WebSocket]\nConnectTimeout=0\n"), 6,
                  "ConnectTimeout: must be greater than 0" },
                { AFTER_MINIMAL("[Events]\nEventTimeout=0ms\n"), 6, "EventTimeout: must be greater than 0" },
                { AFTER_MINIMAL("[Events]\nEventTimeout=30x\n"), 6, "EventTimeout: invalid duration" },
                { AFTER_MINIMAL("[SLO]\nLogin=fast\n"), 6, "Login: invalid duration 'fast'" },
                { AFTER_MINIMAL("[SLO]\nConnect=1s 2x\n"), 6, "Connect: invalid duration" },
                { AFTER_MINIMAL("[SLO]\nFirstEvent=s\n"), 6, "FirstEvent: invalid duration" },
                { AFTER_MINIMAL("[SLO]\nTotal=1h-1s\n"), 6, "Total: invalid duration" },
                { AFTER_MINIMAL("[SLO]\nSilence=soon\n"), 6, "Silence: invalid duration" },
                { AFTER_MINIMAL("[Events]\nStallTimeout=40s\n"), 6,
                  "StallTimeout=40s exceeds EventTimeout=30s: the wait for the next event would always end first" },
        };

        RUN_CASES(cases);
}

static void test_invalid_jitter(void **state) {
        static const error_case cases[] = {
                { AFTER_MINIMAL("[Probe]\nJitter=101%\n"), 6, "Jitter: invalid jitter '101%'" },
                { AFTER_MINIMAL("[Probe]\nJitter=-1%\n"), 6, "invalid jitter" },
                { AFTER_MINIMAL("[Probe]\nJitter=%\n"), 6, "invalid jitter" },
                { AFTER_MINIMAL("[Probe]\nJitter=lots\n"), 6, "invalid jitter" },
                { AFTER_MINIMAL("[Probe]\nInterval=10s\nJitter=10s\n"), 7,
                  "Jitter=10s must be shorter than Interval=10s" },
                { AFTER_MINIMAL("[Probe]\nJitter=2min\nInterval=1min\n"), 7,
                  "must be shorter than Interval=1min" },
        };

        RUN_CASES(cases);
}

static void test_numbers_out_of_range(void **state) {
        static const error_case cases[] = {
                { AFTER_MINIMAL("[Probe]\nUsers=0\n"), 6, "Users: 0 is out of range (1-10000)" },
                { AFTER_MINIMAL("[Probe]\nUsers=10001\n"), 6, "Users: 10001 is out of range" },
                { AFTER_MINIMAL("[Probe]\nUsers=-1\n"), 6, "Users: invalid number '-1'" },
                { AFTER_MINIMAL("[Probe]\nUsers=99999999999\n"), 6, "Users: invalid number" },
                { AFTER_MINIMAL("[Probe]\nUsers=2x\n"), 6, "Users: invalid number '2x'" },
                { AFTER_MINIMAL("[Probe]\nAlertAfter=0\n"), 6, "AlertAfter: 0 is out of range" },
                { AFTER_MINIMAL("[Probe]\nRecoverAfter=0\n"), 6, "RecoverAfter: 0 is out of range" },
                { AFTER_MINIMAL("[Output]\nHistory=0\n"), 6, "History: 0 is out of range (1-100000)" },
                { AFTER_MINIMAL("[Output]\nHistory=100001\n"), 6, "History: 100001 is out of range" },
                { AFTER_MINIMAL("[Preflight]\nExpectStatus=99\n"), 6,
                  "ExpectStatus: 99 is out of range (100-599)" },
                { AFTER_MINIMAL("[Login]\nExpectStatus=600\n"), 6, "ExpectStatus: 600 is out of range" },
                { AFTER_MINIMAL("[Login]\nExpectStatus=OK\n"), 6, "ExpectStatus: invalid number 'OK'" },
        };

        RUN_CASES(cases);
}

static void test_invalid_booleans_and_auth(void **state) {
        static const error_case cases[] = {
                { AFTER_MINIMAL("[Events]\nStrict=maybe\n"), 6, "Strict: invalid boolean 'maybe'" },
                { AFTER_MINIMAL("[TLS]\nInsecure=2\n"), 6, "Insecure: invalid boolean '2'" },
                { AFTER_MINIMAL("[Output]\nJournal=ja\n"), 6, "Journal: invalid boolean 'ja'" },
                { AFTER_MINIMAL("[WebSocket]\nAuth=cookie\n"), 6,
                  "Auth: invalid value 'cookie' (subprotocol, header, query or none)" },
                { AFTER_MINIMAL("[WebSocket]\nAuth=Header\n"), 6, "Auth: invalid value 'Header'" },
        };

        RUN_CASES(cases);
}

static void test_invalid_urls(void **state) {
        static const error_case cases[] = {
                { AFTER_MINIMAL("[Login]\nURL=ftp://a.example.com/\n"), 6,
                  "URL: 'ftp://a.example.com/' is not a http:// or https:// URL" },
                { AFTER_MINIMAL("[Login]\nURL=https:/a\n"), 6, "is not a http:// or https:// URL" },
                { AFTER_MINIMAL("[Login]\nURL=https:///path\n"), 6, "has no host" },
                { AFTER_MINIMAL("[Login]\nURL=https://a b/\n"), 6, "contains a blank" },
                { AFTER_MINIMAL("[Login]\nURL=https://a.example.com:0/\n"), 6, "invalid port" },
                { AFTER_MINIMAL("[Login]\nURL=https://a.example.com:70000/\n"), 6, "invalid port" },
                { AFTER_MINIMAL("[Login]\nURL=https://a.example.com:/\n"), 6, "invalid port" },
                { AFTER_MINIMAL("[Login]\nURL=https://user:pw@a.example.com/\n"), 6,
                  "credentials in URLs are not supported" },
                { AFTER_MINIMAL("[Login]\nURL=https://${env:HOME}/\n"), 6, "URLs are not templates" },
                { AFTER_MINIMAL("[Login]\nURL=https://\xc3\xa9.example.com/\n"), 6, "non-ASCII" },
                { AFTER_MINIMAL("[Preflight]\nURL=wss://a.example.com/\n"), 6,
                  "URL: 'wss://a.example.com/' is not a http://" },
                { AFTER_MINIMAL("[Preflight]\nURL=https://[::1/\n"), 6, "invalid IPv6 host" },
                { AFTER_MINIMAL("[WebSocket]\nURL=https://a.example.com/ws\n"), 6,
                  "is not a ws:// or wss:// URL" },
                { AFTER_MINIMAL("[WebSocket]\nURL=wss://a.example.com/ws#x\n"), 6,
                  "must not have a fragment" },
        };

        RUN_CASES(cases);
}

static void test_invalid_headers(void **state) {
        static const error_case cases[] = {
                { AFTER_MINIMAL("[Login]\nHeader=NoColon\n"), 6, "Header: expected 'Name: value'" },
                { AFTER_MINIMAL("[Login]\nHeader=Bad Name: x\n"), 6, "invalid header name 'Bad Name'" },
                { AFTER_MINIMAL("[Login]\nHeader=: x\n"), 6, "invalid header name ''" },
                { AFTER_MINIMAL("[WebSocket]\nHeader=X-Empty:\n"), 6,
                  "header 'X-Empty' has an empty value" },
                { AFTER_MINIMAL("[WebSocket]\nHeader=X-A: ${tokn}\n"), 6,
                  "Header: unknown variable ${tokn}" },
        };

        RUN_CASES(cases);
}

static void test_header_value_is_not_echoed(void **state) {
        gp_diags d = { 0 };
        _cleanup_free_ char *s = NULL;

        parse_fails(AFTER_MINIMAL("[Login]\nHeader=X Api: sk-live-secret\n"), &d);
        s = diags_to_string(&d);
        assert_null(strstr(s, "sk-live-secret"));
        gp_diags_clear(&d);
}

static void test_invalid_templates(void **state) {
        static const error_case cases[] = {
                { AFTER_MINIMAL("[Login]\nBody={\"email\":\"${usr}\"}\n"), 6,
                  "Body: unknown variable ${usr}" },
                { AFTER_MINIMAL("[Login]\nBody={\"email\":\"${user}\"\n"), 6, "Body: not valid JSON" },
                { AFTER_MINIMAL("[Login]\nUser=${user\n"), 6, "User: unterminated ${user" },
                { AFTER_MINIMAL("[Login]\nUser=${env:GP_TEST_SURELY_UNSET}\n"), 6,
                  "User: environment variable GP_TEST_SURELY_UNSET is not set" },
                { AFTER_MINIMAL("[WebSocket]\nSubprotocol=a ${x}\n"), 6,
                  "Subprotocol: unknown variable ${x}" },
                { AFTER_MINIMAL("[Request]\nMessage={\"a\":${prompt}}\n"), 6, "Message: not valid JSON" },
                { AFTER_MINIMAL("[Request]\nMessage=[\"${runid}\"]\n"), 6,
                  "Message: unknown variable ${runid}" },
                { AFTER_MINIMAL("[Events]\nCorrelateWith=${}\n"), 6, "CorrelateWith: empty variable name" },
        };

        RUN_CASES(cases);
}

static void test_invalid_json_paths_and_names(void **state) {
        static const error_case cases[] = {
                { AFTER_MINIMAL("[Login]\nTokenPath=data..token\n"), 6,
                  "TokenPath: invalid JSON path 'data..token'" },
                { AFTER_MINIMAL("[Events]\nTypePath=.type\n"), 6, "TypePath: invalid JSON path '.type'" },
                { AFTER_MINIMAL("[Events]\nTypePath=type.\n"), 6, "invalid JSON path 'type.'" },
                { AFTER_MINIMAL("[Events]\nTypePath=a b\n"), 6, "blanks are not allowed" },
                { AFTER_MINIMAL("[Events]\nErrorPath=ok a..b\n"), 6, "ErrorPath: invalid JSON path 'a..b'" },
                { AFTER_MINIMAL("[Events]\nCorrelatePath=.\n"), 6, "CorrelatePath: invalid JSON path '.'" },
                { AFTER_MINIMAL("[Events]\nResponsePath=x..\n"), 6, "ResponsePath: invalid JSON path" },
                { AFTER_MINIMAL("[Login]\nMethod=GE T\n"), 6, "Method: invalid HTTP method 'GE T'" },
                { AFTER_MINIMAL("[Login]\nPasswordCredential=../x\n"), 6, "invalid credential name '../x'" },
                { AFTER_MINIMAL("[Login]\nPasswordFile=secret.txt\n"), 6,
                  "PasswordFile: 'secret.txt' is not an absolute path" },
                { AFTER_MINIMAL("[TLS]\nCAFile=ca.pem\n"), 6, "CAFile: 'ca.pem' is not an absolute path" },
                { AFTER_MINIMAL("[Output]\nStatusFile=/run/gpprobe/\n"), 6, "names a directory" },
                { AFTER_MINIMAL("[Output]\nMetricsFile=x.prom\n"), 6,
                  "MetricsFile: 'x.prom' is not an absolute path" },
                { AFTER_MINIMAL("[Probe]\nName=my probe\n"), 6, "Name: invalid probe name 'my probe'" },
                { AFTER_MINIMAL("[Probe]\nName=.hidden\n"), 6, "Name: invalid probe name '.hidden'" },
                { AFTER_MINIMAL("[WebSocket]\nQueryParam=a&b\n"), 6,
                  "QueryParam: invalid query parameter name" },
                { AFTER_MINIMAL("[WebSocket]\nReadyPath=a..b\n"), 6, "ReadyPath: invalid JSON path 'a..b'" },
                { AFTER_MINIMAL("[Events]\nEnd=done[a..b]\n"), 6, "End: invalid event condition 'done[a..b]': invalid JSON path" },
                { AFTER_MINIMAL("[Events]\nEnd=done[x\n"), 6, "ending with ']'" },
                { AFTER_MINIMAL("[Events]\nCorrelate=server\n"), 6, "Correlate: invalid value 'server' (learned or client)" },
                { AFTER_MINIMAL("[Login]\nCapture=user\n"), 6, "Capture: invalid capture 'user'" },
                { AFTER_MINIMAL("[Login]\nCapture=token=access_token\n"), 6, "capture name 'token' is a built-in variable" },
                /* MINIMAL sets Token=: there is no login, so nothing it captures exists */
                { AFTER_MINIMAL("[Login]\nCapture=user_id=user.id\n[WebSocket]\nIdentityPath=data.user_id\n"
                                "Identity=${user_id}\n"), 9, "Identity: unknown variable ${user_id}" },
                { AFTER_MINIMAL("[Step]\nURL=https://a.example/t?u=${later}\nCapture=later=x\n"), 5,
                  "[Step]: unknown variable ${later}" },
                { AFTER_MINIMAL("[Step]\nName=bad name\nURL=https://a.example/\n"), 6, "invalid step name 'bad name'" },
                { AFTER_MINIMAL("[Step]\nName=t\n"), 5, "[Step] needs URL=" },
                { AFTER_MINIMAL("[Step]\nURL=https://${host}/x\nURL=https://a.example/\n"), 6, "only in its path and query" },
                { AFTER_MINIMAL("[Step]\nURL=https://a.example/\nExpectStatus=99\n"), 7, "invalid HTTP status '99'" },
                { AFTER_MINIMAL("[Step]\nURL=https://a.example/\nCapture=x=a\n[Step]\nURL=https://a.example/\n"
                                "Capture=x=b\n"), 8, "'x' is captured twice" },
                { AFTER_MINIMAL("[Step]\nURL=https://a.example/\nColour=red\n"), 7, "unknown key 'Colour' in section [Step]" },
                { AFTER_MINIMAL("[Events]\nEnd=tool_done\n"), 6, "event type 'tool_done' is not in Expect=" },
                { AFTER_MINIMAL("[WebSocket]\nIdentity=x\n"), 6, "Identity= needs IdentityPath=" },
                { AFTER_MINIMAL("[WebSocket]\nQuery=ticket\n"), 6, "Query: invalid query parameter 'ticket'" },
        };

        RUN_CASES(cases);
}

static void test_name_from_bad_file_name_is_an_error(void **state) {
        gp_config_source src = { "/etc/gpprobe/my probe.conf", MINIMAL_CONF, strlen(MINIMAL_CONF) };
        gp_diags d = { 0 };
        gp_config *c = NULL;

        assert_int_equal(gp_config_parse(src.file, &src, 1, &c, &d), -EINVAL);
        assert_diag(&d, src.file, 0, false, "cannot use the file name as the probe name");
        gp_diags_clear(&d);
}

static void test_invalid_regex_and_listen(void **state) {
        static const error_case cases[] = {
                { AFTER_MINIMAL("[Events]\nResponseMatch=(ready\n"), 6,
                  "ResponseMatch: invalid regular expression '(ready': " },
                { AFTER_MINIMAL("[Events]\nResponseMatch=a{2,1}\n"), 6, "invalid regular expression" },
                /* regcomp would take gigabytes for these (fuzz-config) */
                { AFTER_MINIMAL("[Events]\nResponseMatch=^re(a|b>++++++++++++++++++++++++++++++++++++++++++\n"), 6,
                  "too complex" },
                { AFTER_MINIMAL("[Events]\nResponseMatch=((a{99}){99}){99}\n"), 6, "too complex" },
                { AFTER_MINIMAL("[Events]\nResponseMatch=(a{99}){99}{99}\n"), 6, "too complex" },
                { AFTER_MINIMAL("[Output]\nMetricsListen=9477\n"), 6,
                  "MetricsListen: invalid listen address '9477'" },
                { AFTER_MINIMAL("[Output]\nMetricsListen=:9477\n"), 6, "no host" },
                { AFTER_MINIMAL("[Output]\nMetricsListen=localhost:0\n"), 6, "port 1-65535" },
                { AFTER_MINIMAL("[Output]\nMetricsListen=localhost:65536\n"), 6, "port 1-65535" },
                { AFTER_MINIMAL("[Output]\nMetricsListen=::1:9477\n"), 6, "put IPv6 addresses in []" },
                { AFTER_MINIMAL("[Output]\nMetricsListen=[::1:9477\n"), 6, "unbalanced" },
                { AFTER_MINIMAL("[Output]\nMetricsListen=a/b:1\n"), 6, "bad host" },
        };

        RUN_CASES(cases);
}

static void test_event_lists(void **state) {
        static const error_case cases[] = {
                { AFTER_MINIMAL("[Events]\nExpect=\n"), 6, "Expect= must list at least one event type" },
                { AFTER_MINIMAL("[Events]\nExpect=a b a\nRepeatable=\n"), 6,
                  "'a' is listed twice in Expect=" },
                { AFTER_MINIMAL("[Events]\nExpect=a b\nRepeatable=\nFail=x b\n"), 8,
                  "event type 'b' is in both Expect= and Fail=" },
                { AFTER_MINIMAL("[Events]\nFail=agent_completed\n"), 6,
                  "event type 'agent_completed' is in both Expect= and Fail=" },
                { AFTER_MINIMAL("[Events]\nRepeatable=tool_executing heartbeat\n"), 6,
                  "event type 'heartbeat' is in Repeatable= but not in Expect=" },
                { AFTER_MINIMAL("[Events]\nRepeatable=a\nExpect=b c\n"), 7,
                  "'a' is in Repeatable= but not in Expect=" },
                { AFTER_MINIMAL("[Events]\nResponsePath=\n"), 6,
                  "ResponsePath= must list at least one JSON path" },
        };

        RUN_CASES(cases);
}

static void test_required_keys_point_at_main_file(void **state) {
        static const error_case cases[] = {
                { "[Login]\nToken=t-123456\n", 0, "[WebSocket] URL= is required" },
                { "[WebSocket]\nURL=ws://h/\n[Login]\nUser=u\nPassword=p-123456\n", 0,
                  "[Login] URL= is required (or set Token=)" },
                { "[WebSocket]\nURL=ws://h/\n[Login]\nURL=http://h/\nPassword=p-123456\n", 0,
                  "[Login] User= is required" },
                { "[WebSocket]\nURL=ws://h/\n[Login]\nURL=http://h/\nUser=u\n", 4,
                  "[Login] needs a password" },
        };

        RUN_CASES(cases);
}

static void test_cross_key_rules(void **state) {
        static const error_case cases[] = {
                { "[WebSocket]\nURL=ws://h/\n[Login]\nURL=http://h/\nUser=u\nPasswordCredential=c\n"
                  "PasswordFile=/p\n", 7, "more than one password source" },
                { "[WebSocket]\nURL=ws://h/\n[Login]\nPassword=p-123456\nURL=http://h/\nUser=u\n"
                  "PasswordCredential=c\n"
                  "Token=t-123456\n", 7, "more than one password source" },
                { AFTER_MINIMAL("[WebSocket]\nAuth=query\nQueryParam=\n"), 7,
                  "Auth=query needs QueryParam=" },
                { AFTER_MINIMAL("[WebSocket]\nQueryParam=\nAuth=query\n"), 7,
                  "Auth=query needs QueryParam=" },
                { AFTER_MINIMAL("[WebSocket]\nSubprotocol=\n"), 6,
                  "Auth=subprotocol needs a non-empty Subprotocol=" },
                { AFTER_MINIMAL("[TLS]\nClientCertificate=/c.pem\n"), 6,
                  "ClientCertificate= needs ClientKey=" },
                { AFTER_MINIMAL("[TLS]\nClientKey=/c.key\n"), 6, "ClientKey= needs ClientCertificate=" },
        };

        RUN_CASES(cases);
}

static void test_errors_name_the_dropin(void **state) {
        static const char dropin[] = "[Probe]\n\nUsers=none\n";
        const gp_config_source src[] = {
                { "/etc/gpprobe/p.conf", MINIMAL_CONF, strlen(MINIMAL_CONF) },
                { "/etc/gpprobe/p.conf.d/10-users.conf", dropin, strlen(dropin) },
        };
        gp_diags d = { 0 };
        gp_config *c = NULL;
        _cleanup_free_ char *s = NULL;

        assert_int_equal(gp_config_parse(src[0].file, src, 2, &c, &d), -EINVAL);
        s = diags_to_string(&d);
        assert_string_equal(s, "/etc/gpprobe/p.conf.d/10-users.conf:3: "
                               "Users: invalid number 'none' (1-10000)\n");
        gp_diags_clear(&d);
}

static void test_secret_values_are_never_echoed(void **state) {
        gp_diags d = { 0 };
        _cleanup_free_ char *s = NULL;

        parse_fails("[Login]\nToken=abc def-SECRET\n[WebSocket]\nURL=ws://h/\n", &d);
        s = diags_to_string(&d);
        assert_string_equal(s, "test.conf:2: Token: the value contains blanks (not shown: it is a secret)\n"
                               "test.conf: [Login] URL= is required (or set Token=)\n"
                               "test.conf: [Login] User= is required (or set Token=)\n"
                               "test.conf: [Login] needs a password: set PasswordCredential=, PasswordFile= "
                               "or Password= (or set Token=)\n");
        gp_diags_clear(&d);
}

static void test_diags_print_format(void **state) {
        gp_diags d = { 0 };
        _cleanup_free_ char *s = NULL;

        gp_diags_add(&d, "a.conf", 3, false, "bad %s", "thing");
        gp_diags_add(&d, "a.conf", 0, false, "whole file");
        gp_diags_add(&d, "b.conf", 9, true, "careful");
        assert_int_equal(d.n, 3);
        assert_int_equal(d.n_errors, 2);
        s = diags_to_string(&d);
        assert_string_equal(s, "a.conf:3: bad thing\na.conf: whole file\nb.conf:9: warning: careful\n");
        gp_diags_clear(&d);
        assert_int_equal(d.n, 0);
        gp_diags_add(NULL, "x", 1, false, "ignored");
        gp_diags_print(NULL, stderr);
}

static void test_failed_parse_leaves_ret_untouched(void **state) {
        gp_config_source src = { "t.conf", "[Probe]\nUsers=0\n", 16 };
        gp_config *c = (gp_config *) 0x1;

        assert_int_equal(gp_config_parse("t.conf", &src, 1, &c, NULL), -EINVAL);
        assert_ptr_equal(c, (gp_config *) 0x1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_unknown_key_message_matches_spec, setup),
                cmocka_unit_test_setup(test_syntax_errors, setup),
                cmocka_unit_test_setup(test_bad_bytes_are_errors_and_never_echoed, setup),
                cmocka_unit_test_setup(test_all_errors_are_collected, setup),
                cmocka_unit_test_setup(test_invalid_durations, setup),
                cmocka_unit_test_setup(test_invalid_jitter, setup),
                cmocka_unit_test_setup(test_numbers_out_of_range, setup),
                cmocka_unit_test_setup(test_invalid_booleans_and_auth, setup),
                cmocka_unit_test_setup(test_invalid_urls, setup),
                cmocka_unit_test_setup(test_invalid_headers, setup),
                cmocka_unit_test_setup(test_header_value_is_not_echoed, setup),
                cmocka_unit_test_setup(test_invalid_templates, setup),
                cmocka_unit_test_setup(test_invalid_json_paths_and_names, setup),
                cmocka_unit_test_setup(test_name_from_bad_file_name_is_an_error, setup),
                cmocka_unit_test_setup(test_invalid_regex_and_listen, setup),
                cmocka_unit_test_setup(test_event_lists, setup),
                cmocka_unit_test_setup(test_required_keys_point_at_main_file, setup),
                cmocka_unit_test_setup(test_cross_key_rules, setup),
                cmocka_unit_test_setup(test_errors_name_the_dropin, setup),
                cmocka_unit_test_setup(test_secret_values_are_never_echoed, setup),
                cmocka_unit_test_setup(test_diags_print_format, setup),
                cmocka_unit_test_setup(test_failed_parse_leaves_ret_untouched, setup),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
