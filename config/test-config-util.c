/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "test-config-util.h"
#include "util.h"

void test_clean_env(void) {
        unsetenv("RUNTIME_DIRECTORY");
        unsetenv("STATE_DIRECTORY");
        unsetenv("CREDENTIALS_DIRECTORY");
}

gp_config *parse_ok(const char *text, gp_diags *diags) {
        gp_config_source src = { .file = "test.conf", .text = text, .len = strlen(text) };
        gp_diags local = { 0 };
        gp_config *c = NULL;
        int r;

        r = gp_config_parse("test.conf", &src, 1, &c, diags ? diags : &local);
        if (r < 0)
                gp_diags_print(diags ? diags : &local, stderr);
        gp_diags_clear(&local);
        assert_int_equal(r, 0);
        assert_non_null(c);
        return c;
}

void parse_fails(const char *text, gp_diags *diags) {
        gp_config_source src = { .file = "test.conf", .text = text, .len = strlen(text) };
        gp_config *c = NULL;

        assert_int_equal(gp_config_parse("test.conf", &src, 1, &c, diags), -EINVAL);
        assert_null(c);
        assert_true(diags->n_errors > 0);
}

const gp_diag *find_diag(const gp_diags *d, const char *file, unsigned line, const char *part) {
        for (size_t i = 0; i < d->n; i++)
                if (streq(d->items[i].file, file) && d->items[i].line == line &&
                    strstr(d->items[i].message, part))
                        return &d->items[i];
        return NULL;
}

void assert_diag_at(const gp_diags *d, const char *file, unsigned line, bool warning, const char *part,
                    const char *src, int src_line) {
        const gp_diag *g = find_diag(d, file, line, part);

        if (!g || g->warning != warning) {
                fprintf(stderr, "%s:%d: expected %s at %s:%u containing '%s'; got:\n", src, src_line,
                        warning ? "a warning" : "an error", file, line, part);
                gp_diags_print(d, stderr);
                fail();
        }
}

void assert_error_at(const char *text, unsigned line, const char *part, const char *src, int src_line) {
        gp_diags d = { 0 };

        parse_fails(text, &d);
        if (d.n_errors != 1) {
                fprintf(stderr, "%s:%d: expected exactly one error, got %zu:\n", src, src_line, d.n_errors);
                gp_diags_print(&d, stderr);
                fail();
        }
        assert_diag_at(&d, "test.conf", line, false, part, src, src_line);
        gp_diags_clear(&d);
}

char *print_to_string(const gp_config *c) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        gp_config_print(c, f);
        assert_int_equal(fclose(f), 0);
        return buf;
}

char *diags_to_string(const gp_diags *d) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);

        assert_non_null(f);
        gp_diags_print(d, f);
        assert_int_equal(fclose(f), 0);
        return buf;
}

/* Every key set to a value other than its default. */
const char test_full_conf[] =
        "[Probe]\n"
        "Name=prod-eu\n"
        "Interval=2min\n"
        "Jitter=5s\n"
        "Timeout=1min 30s\n"
        "Users=3\n"
        "AlertAfter=5\n"
        "RecoverAfter=2\n"
        "\n"
        "[Preflight]\n"
        "URL=https://api.example.com/health\n"
        "URL=http://10.0.0.1:8080/ready?x=1\n"
        "ExpectStatus=204\n"
        "\n"
        "[Login]\n"
        "URL=https://auth.example.com/auth/login\n"
        "Method=PUT\n"
        "Header=\n"
        "Header=Content-Type: application/x-www-form-urlencoded\n"
        "Header=X-Probe: ${name}-${index}\n"
        "Body=user=${user}&pass=${password}\n"
        "User=probe+${index}@example.com\n"
        "Password=s3cret # not a comment\n"
        "ExpectStatus=201\n"
        "TokenPath=data.jwt\n"
        "Capture=user_id=data.user.id\n"
        "CaptureSecret=refresh=data.refresh\n"
        "\n"
        "[Step]\n"
        "Name=ticket\n"
        "URL=https://auth.example.com/api/ticket?u=${user_id}\n"
        "Method=POST\n"
        "Header=Authorization: Bearer ${token}\n"
        "Body={\"for\":\"${user_id}\"}\n"
        "ExpectStatus=201\n"
        "Capture=ticket=ticket\n"
        "CaptureSecret=t2=data.t\n"
        "\n"
        "[WebSocket]\n"
        "URL=ws://[::1]:9000/socket\n"
        "Auth=query\n"
        "Subprotocol=chat.v2\n"
        "QueryParam=access_token\n"
        "Header=Origin: https://app.example.com\n"
        "Header=Authorization: Bearer ${token}\n"
        "Query=ticket=${ticket}\n"
        "Ready=hello welcome\n"
        "ReadyPath=data.event type\n"
        "AuthFail=denied error[code=401]\n"
        "RequireSubprotocol=no\n"
        "IdentityPath=data.user_id\n"
        "Identity=${user_id}\n"
        "ConnectTimeout=3s 500ms\n"
        "\n"
        "[Request]\n"
        "Message=[\"ask\",\"${prompt}\",\"${run_id}\",\"${thread_id}\"]\n"
        "Prompt=Say \"pong\"; then #stop\n"
        "\n"
        "[Events]\n"
        "TypePath=event.kind\n"
        "Expect=start step done\n"
        "Repeatable=step\n"
        "Fail=oops\n"
        "ErrorPath=err.msg\n"
        "Strict=yes\n"
        "CorrelatePath=meta.id id\n"
        "Correlate=client\n"
        "CorrelateWith=probe-${run_id}\n"
        "End=done[result.final=true]\n"
        "EventTimeout=45s\n"
        "ResponsePath=out.text\n"
        "ResponseMatch=^(ready|pong)[.!]?$\n"
        "ResponseReject=^placeholder$\n"
        "ResponseErrorPath=results.*.error\n"
        "\n"
        "[SLO]\n"
        "Login=750ms\n"
        "Connect=1s\n"
        "FirstEvent=\n"
        "Total=1min\n"
        "\n"
        "[TLS]\n"
        "CAFile=/etc/ssl/staging-ca.pem\n"
        "Insecure=yes\n"
        "ClientCertificate=/etc/gpprobe/client.pem\n"
        "ClientKey=/etc/gpprobe/client.key\n"
        "\n"
        "[Output]\n"
        "StatusFile=/var/tmp/gp.json\n"
        "StateFile=/var/lib/gp/gp.state\n"
        "History=500\n"
        "Journal=no\n"
        "MetricsListen=127.0.0.1:9477\n"
        "MetricsFile=/var/lib/node_exporter/gpprobe.prom\n";

