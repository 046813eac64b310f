/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <strings.h>

#include "config-internal.h"
#include "util.h"


#define KEY(id, sec, nm, k, field, ...) \
        [id] = { .section = sec, .name = nm, .kind = k, .offset = offsetof(gp_config, field), __VA_ARGS__ }

#define DEFAULT_MESSAGE \
        "{\"type\":\"user_message\",\"payload\":{\"content\":\"${prompt}\",\"thread_id\":\"${thread_id}\"," \
        "\"run_id\":\"${run_id}\"}}"

/* SPEC section 4, in its order; the defaults are those the SPEC shows (its URLs and
 * credentials are examples, unset here). */
const key_def gp_config_keys[_K_MAX] = {
        KEY(K_PROBE_NAME, "Probe", "Name", KIND_STRING, name, .check = gp_check_probe_name,
            .flags = KEY_MANDATORY),
        KEY(K_PROBE_INTERVAL, "Probe", "Interval", KIND_DURATION, interval, .def = "60s",
            .flags = KEY_MANDATORY | KEY_POSITIVE),
        KEY(K_PROBE_JITTER, "Probe", "Jitter", KIND_JITTER, jitter, .def = "10%"),
        KEY(K_PROBE_TIMEOUT, "Probe", "Timeout", KIND_DURATION, timeout, .def = "60s",
            .flags = KEY_MANDATORY | KEY_POSITIVE),
        KEY(K_PROBE_USERS, "Probe", "Users", KIND_UNSIGNED, users, .min = 1, .max = 10000, .def = "1",
            .flags = KEY_MANDATORY),
        KEY(K_PROBE_ALERT_AFTER, "Probe", "AlertAfter", KIND_UNSIGNED, alert_after, .min = 1,
            .max = 1000000, .def = "3", .flags = KEY_MANDATORY),
        KEY(K_PROBE_RECOVER_AFTER, "Probe", "RecoverAfter", KIND_UNSIGNED, recover_after, .min = 1,
            .max = 1000000, .def = "1", .flags = KEY_MANDATORY),
        KEY(K_PROBE_TRACE_CONTEXT, "Probe", "TraceContext", KIND_BOOL, trace_context, .def = "yes",
            .flags = KEY_MANDATORY),
        KEY(K_PROBE_TRACE_STATE, "Probe", "TraceState", KIND_STRING, trace_state, .check = gp_check_tracestate),

        KEY(K_PREFLIGHT_URL, "Preflight", "URL", KIND_REPEATABLE, preflight_urls,
            .check = gp_check_http_url),
        KEY(K_PREFLIGHT_EXPECT_STATUS, "Preflight", "ExpectStatus", KIND_STATUS, preflight_expect_status,
            .min = 100, .max = 599, .def = "200", .flags = KEY_MANDATORY),

        KEY(K_LOGIN_URL, "Login", "URL", KIND_STRING, login_url, .check = gp_check_http_url),
        KEY(K_LOGIN_METHOD, "Login", "Method", KIND_STRING, login_method, .check = gp_check_http_token,
            .def = "POST", .flags = KEY_MANDATORY),
        KEY(K_LOGIN_HEADER, "Login", "Header", KIND_REPEATABLE, login_headers, .check = gp_check_header,
            .def = "Content-Type: application/json"),
        KEY(K_LOGIN_BODY, "Login", "Body", KIND_STRING, login_body, .check = gp_check_template,
            .def = "{\"email\":\"${user}\",\"password\":\"${password}\"}"),
        KEY(K_LOGIN_USER, "Login", "User", KIND_STRING, user, .check = gp_check_template),
        KEY(K_LOGIN_PASSWORD_CREDENTIAL, "Login", "PasswordCredential", KIND_STRING, password_credential,
            .check = gp_check_credential_name),
        KEY(K_LOGIN_PASSWORD_FILE, "Login", "PasswordFile", KIND_STRING, password_file,
            .check = gp_check_absolute_path),
        KEY(K_LOGIN_PASSWORD, "Login", "Password", KIND_SECRET, password, .check = gp_check_password),
        KEY(K_LOGIN_EXPECT_STATUS, "Login", "ExpectStatus", KIND_STATUS, login_expect_status, .min = 100,
            .max = 599, .def = "200", .flags = KEY_MANDATORY),
        KEY(K_LOGIN_TOKEN_PATH, "Login", "TokenPath", KIND_STRING, token_path, .check = gp_check_json_path,
            .def = "access_token", .flags = KEY_MANDATORY),
        KEY(K_LOGIN_TOKEN, "Login", "Token", KIND_SECRET, token, .check = gp_check_secret),
        KEY(K_LOGIN_CAPTURE, "Login", "Capture", KIND_REPEATABLE, login_captures, .check = gp_check_capture),
        KEY(K_LOGIN_CAPTURE_SECRET, "Login", "CaptureSecret", KIND_REPEATABLE, login_secret_captures,
            .check = gp_check_capture),

        KEY(K_WS_URL, "WebSocket", "URL", KIND_STRING, ws_url, .check = gp_check_ws_url),
        KEY(K_WS_AUTH, "WebSocket", "Auth", KIND_AUTH, ws_auth, .def = "subprotocol",
            .flags = KEY_MANDATORY),
        KEY(K_WS_SUBPROTOCOL, "WebSocket", "Subprotocol", KIND_LIST, subprotocols,
            .check = gp_check_template, .def = "jwt-auth jwt.${base64url:token}"),
        KEY(K_WS_QUERY_PARAM, "WebSocket", "QueryParam", KIND_STRING, query_param,
            .check = gp_check_query_param, .def = "token"),
        KEY(K_WS_HEADER, "WebSocket", "Header", KIND_REPEATABLE, ws_headers, .check = gp_check_header),
        KEY(K_WS_QUERY, "WebSocket", "Query", KIND_REPEATABLE, ws_query, .check = gp_check_query),
        KEY(K_WS_READY, "WebSocket", "Ready", KIND_LIST, ready, .check = gp_check_event_type,
            .def = "connection_established connect"),
        KEY(K_WS_READY_PATH, "WebSocket", "ReadyPath", KIND_LIST, ready_paths, .check = gp_check_json_path,
            .def = "data.event type"),
        KEY(K_WS_AUTH_FAIL, "WebSocket", "AuthFail", KIND_LIST, auth_fail, .check = gp_check_event_condition,
            .def = "authentication_error error_message[error_code=AUTH_FAILED] error_message[error_code=NO_TOKEN] "
                   "error_message[error_code=VALIDATION_FAILED]"),
        KEY(K_WS_REQUIRE_SUBPROTOCOL, "WebSocket", "RequireSubprotocol", KIND_BOOL, require_subprotocol,
            .def = "yes", .flags = KEY_MANDATORY),
        KEY(K_WS_IDENTITY_PATH, "WebSocket", "IdentityPath", KIND_LIST, identity_paths,
            .check = gp_check_json_path),
        KEY(K_WS_IDENTITY, "WebSocket", "Identity", KIND_STRING, identity, .check = gp_check_template),
        KEY(K_WS_CONNECT_TIMEOUT, "WebSocket", "ConnectTimeout", KIND_DURATION, connect_timeout,
            .def = "10s", .flags = KEY_MANDATORY | KEY_POSITIVE),

        KEY(K_REQUEST_MESSAGE, "Request", "Message", KIND_STRING, message, .check = gp_check_template,
            .def = DEFAULT_MESSAGE, .flags = KEY_MANDATORY),
        KEY(K_REQUEST_PROMPT, "Request", "Prompt", KIND_STRING, prompt, .def = "Reply with the word ready."),

        KEY(K_EVENTS_TYPE_PATH, "Events", "TypePath", KIND_STRING, type_path, .check = gp_check_json_path,
            .def = "type", .flags = KEY_MANDATORY),
        KEY(K_EVENTS_EXPECT, "Events", "Expect", KIND_LIST, expect, .check = gp_check_event_type,
            .def = "agent_started agent_thinking tool_executing tool_completed agent_completed"),
        KEY(K_EVENTS_REPEATABLE, "Events", "Repeatable", KIND_LIST, repeatable, .check = gp_check_event_type,
            .def = "agent_started agent_thinking tool_executing tool_completed agent_completed"),
        KEY(K_EVENTS_FAIL, "Events", "Fail", KIND_LIST, fail, .check = gp_check_event_type,
            .def = "agent_error agent_death error_message error"),
        KEY(K_EVENTS_ERROR_PATH, "Events", "ErrorPath", KIND_LIST, error_paths, .check = gp_check_json_path,
            .def = "data.error_message error_message payload.error_message error payload.message message"),
        KEY(K_EVENTS_STRICT, "Events", "Strict", KIND_BOOL, strict, .def = "no", .flags = KEY_MANDATORY),
        KEY(K_EVENTS_CORRELATE_PATH, "Events", "CorrelatePath", KIND_LIST, correlate_paths,
            .check = gp_check_json_path, .def = "run_id data.run_id payload.run_id"),
        KEY(K_EVENTS_CORRELATE, "Events", "Correlate", KIND_STRING, correlate, .check = gp_check_correlate,
            .def = "learned", .flags = KEY_MANDATORY),
        KEY(K_EVENTS_CORRELATE_WITH, "Events", "CorrelateWith", KIND_STRING, correlate_with,
            .check = gp_check_template, .def = "${run_id}", .flags = KEY_MANDATORY),
        KEY(K_EVENTS_END, "Events", "End", KIND_LIST, end, .check = gp_check_event_condition,
            .def = "agent_completed[payload.supervisor_result] agent_completed[data.supervisor_result] "
                   "agent_completed[supervisor_result]"),
        KEY(K_EVENTS_EVENT_TIMEOUT, "Events", "EventTimeout", KIND_DURATION, event_timeout, .def = "30s",
            .flags = KEY_MANDATORY | KEY_POSITIVE),
        KEY(K_EVENTS_RESPONSE_PATH, "Events", "ResponsePath", KIND_LIST, response_paths,
            .check = gp_check_json_path,
            .def = "payload.results.reporting.data.report final_response result data.result payload.result"),
        KEY(K_EVENTS_RESPONSE_MATCH, "Events", "ResponseMatch", KIND_STRING, response_match,
            .check = gp_check_regex),
        KEY(K_EVENTS_RESPONSE_REJECT, "Events", "ResponseReject", KIND_STRING, response_reject,
            .check = gp_check_regex, .def = "^[[:space:]]*(Task completed\\.?)?[[:space:]]*$"),
        KEY(K_EVENTS_RESPONSE_ERROR_PATH, "Events", "ResponseErrorPath", KIND_LIST, response_error_paths,
            .check = gp_check_json_path, .def = "payload.results.*.error"),
        /* Netra's incremental text: agent_thinking (reasoning at beta-17), partial_result and
         * stream_chunk (docs/netra.md, "Streaming"). */
        KEY(K_EVENTS_PARTIAL, "Events", "Partial", KIND_LIST, partial, .check = gp_check_event_type,
            .def = "agent_thinking reasoning partial_result stream_chunk"),
        KEY(K_EVENTS_STALL_TIMEOUT, "Events", "StallTimeout", KIND_DURATION, stall_timeout),

        KEY(K_SLO_LOGIN, "SLO", "Login", KIND_DURATION, slo_login, .def = "2s"),
        KEY(K_SLO_CONNECT, "SLO", "Connect", KIND_DURATION, slo_connect, .def = "2s"),
        KEY(K_SLO_FIRST_EVENT, "SLO", "FirstEvent", KIND_DURATION, slo_first_event, .def = "5s"),
        KEY(K_SLO_TOTAL, "SLO", "Total", KIND_DURATION, slo_total, .def = "30s"),
        KEY(K_SLO_SILENCE, "SLO", "Silence", KIND_DURATION, slo_silence),
        KEY(K_SLO_FIRST_PARTIAL, "SLO", "FirstPartial", KIND_DURATION, slo_first_partial),

        KEY(K_TLS_CA_FILE, "TLS", "CAFile", KIND_STRING, ca_file, .check = gp_check_absolute_path),
        KEY(K_TLS_INSECURE, "TLS", "Insecure", KIND_BOOL, insecure, .def = "no", .flags = KEY_MANDATORY),
        KEY(K_TLS_CLIENT_CERTIFICATE, "TLS", "ClientCertificate", KIND_STRING, client_certificate,
            .check = gp_check_absolute_path),
        KEY(K_TLS_CLIENT_KEY, "TLS", "ClientKey", KIND_STRING, client_key, .check = gp_check_absolute_path),
        KEY(K_TLS_CERT_EXPIRY_WARN, "TLS", "CertExpiryWarn", KIND_DURATION, cert_expiry_warn, .def = "14d",
            .flags = KEY_MANDATORY),

        KEY(K_OUTPUT_STATUS_FILE, "Output", "StatusFile", KIND_STRING, status_file,
            .check = gp_check_absolute_path),
        KEY(K_OUTPUT_STATE_FILE, "Output", "StateFile", KIND_STRING, state_file,
            .check = gp_check_absolute_path),
        KEY(K_OUTPUT_HISTORY, "Output", "History", KIND_UNSIGNED, history, .min = 1, .max = 100000,
            .def = "100", .flags = KEY_MANDATORY),
        KEY(K_OUTPUT_JOURNAL, "Output", "Journal", KIND_BOOL, journal, .def = "yes", .flags = KEY_MANDATORY),
        KEY(K_OUTPUT_METRICS_LISTEN, "Output", "MetricsListen", KIND_STRING, metrics_listen,
            .check = gp_check_listen),
        KEY(K_OUTPUT_METRICS_FILE, "Output", "MetricsFile", KIND_STRING, metrics_file,
            .check = gp_check_absolute_path),
        KEY(K_OUTPUT_TRANSCRIPTS, "Output", "Transcripts", KIND_UNSIGNED, transcripts, .min = 0, .max = 1000,
            .def = "20", .flags = KEY_MANDATORY),
        KEY(K_OUTPUT_TRANSCRIPT_REDACT, "Output", "TranscriptRedact", KIND_LIST, transcript_redact,
            .check = gp_check_json_path, .def = "access_token refresh_token id_token token password"),

        KEY(K_API_TLS_CERTIFICATE, "API", "TLSCertificate", KIND_STRING, api_tls_certificate,
            .check = gp_check_path_or_credential),
        KEY(K_API_TLS_KEY, "API", "TLSKey", KIND_STRING, api_tls_key, .check = gp_check_path_or_credential),
        KEY(K_API_CLIENT_CA, "API", "ClientCA", KIND_STRING, api_client_ca, .check = gp_check_path_or_credential),
        KEY(K_API_CLIENT_CRL, "API", "ClientCRL", KIND_STRING, api_client_crl,
            .check = gp_check_path_or_credential),
        KEY(K_API_TOKENS, "API", "Tokens", KIND_STRING, api_tokens, .check = gp_check_path_or_credential),
        KEY(K_API_METRICS_AUTH, "API", "MetricsAuth", KIND_BOOL, api_metrics_auth, .def = "yes",
            .flags = KEY_MANDATORY),
        KEY(K_API_MAX_REQUEST_BYTES, "API", "MaxRequestBytes", KIND_UNSIGNED, api_max_request_bytes, .min = 0,
            .max = 16 * 1024 * 1024, .def = "65536", .flags = KEY_MANDATORY),
        KEY(K_API_MAX_CONNECTIONS, "API", "MaxConnections", KIND_UNSIGNED, api_max_connections, .min = 1,
            .max = 1024, .def = "32", .flags = KEY_MANDATORY),
        KEY(K_API_RATE_LIMIT, "API", "RateLimit", KIND_UNSIGNED, api_rate_limit, .min = 0, .max = 1000000,
            .def = "0", .flags = KEY_MANDATORY),
};

static const char * const ws_auth_table[] = {
        [GP_WS_AUTH_SUBPROTOCOL] = "subprotocol",
        [GP_WS_AUTH_HEADER] = "header",
        [GP_WS_AUTH_QUERY] = "query",
        [GP_WS_AUTH_NONE] = "none",
};

const char *gp_ws_auth_to_string(gp_ws_auth a) {
        if ((size_t) a >= ELEMENTSOF(ws_auth_table))
                return NULL;
        return ws_auth_table[a];
}

int gp_config_key_lookup(const char *section, const char *name, const char **hint) {
        if (hint)
                *hint = NULL;
        for (size_t i = 0; i < _K_MAX; i++)
                if (streq(gp_config_keys[i].section, section) && streq(gp_config_keys[i].name, name))
                        return (int) i;
        if (hint)
                for (size_t i = 0; i < _K_MAX; i++)
                        if (streq(gp_config_keys[i].section, section) &&
                            strcaseeq(gp_config_keys[i].name, name))
                                *hint = gp_config_keys[i].name;
        return -1;
}

bool gp_config_section_known(const char *section) {
        for (size_t i = 0; i < _K_MAX; i++)
                if (streq(gp_config_keys[i].section, section))
                        return true;
        return false;
}

const char *gp_config_section_hint(const char *section) {
        for (size_t i = 0; i < _K_MAX; i++)
                if (strcaseeq(gp_config_keys[i].section, section))
                        return gp_config_keys[i].section;
        return NULL;
}

void gp_config_key_free(gp_config *c, key_id k) {
        switch (gp_config_keys[k].kind) {
        case KIND_STRING: {
                char **s = KEY_FIELD(c, k, char *);
                free(*s);
                *s = NULL;
                break;
        }
        case KIND_SECRET: {
                char **s = KEY_FIELD(c, k, char *);
                secret_free(*s);
                *s = NULL;
                break;
        }
        case KIND_LIST:
        case KIND_REPEATABLE: {
                char ***l = KEY_FIELD(c, k, char **);
                strv_free(*l);
                *l = NULL;
                break;
        }
        default:
                break;
        }
}

static int check_value(const key_def *d, const char *v, char **ret_msg) {
        return d->check ? d->check(v, ret_msg) : 0;
}

static int assign_list(gp_config *c, key_id k, const char *value, char **ret_msg) {
        const key_def *d = &gp_config_keys[k];
        _cleanup_strv_free_ char **l = NULL;
        char ***field = KEY_FIELD(c, k, char **);
        int r;

        if (d->kind == KIND_REPEATABLE) {
                r = check_value(d, value, ret_msg);
                if (r < 0)
                        return r;
                if (d->check == gp_check_header)
                        return gp_header_list_set(field, value);
                return strv_extend(field, value);
        }
        l = strv_split_blank(value);
        if (!l)
                return -ENOMEM;
        STRV_FOREACH(i, l) {
                r = check_value(d, *i, ret_msg);
                if (r < 0)
                        return r;
        }
        strv_free(*field);
        *field = TAKE_PTR(l);
        return 0;
}

static int assign_string(gp_config *c, key_id k, const char *value, char **ret_msg) {
        const key_def *d = &gp_config_keys[k];
        char **field = KEY_FIELD(c, k, char *);
        char *s;
        int r;

        r = check_value(d, value, ret_msg);
        if (r < 0)
                return r;
        s = strdup(value);
        if (!s)
                return -ENOMEM;
        gp_config_key_free(c, k);
        *field = s;
        return 0;
}

static int assign_number(gp_config *c, key_id k, const char *value, char **ret_msg) {
        const key_def *d = &gp_config_keys[k];
        unsigned u;

        if (gp_parse_unsigned(value, 0, UINT_MAX, &u) < 0) {
                *ret_msg = strdup_printf("invalid number '%.*s%s' (%u-%u)", ECHO(value), d->min, d->max);
                return *ret_msg ? -EINVAL : -ENOMEM;
        }
        if (u < d->min || u > d->max) {
                *ret_msg = strdup_printf("%u is out of range (%u-%u)", u, d->min, d->max);
                return *ret_msg ? -EINVAL : -ENOMEM;
        }
        if (d->kind == KIND_STATUS)
                *KEY_FIELD(c, k, long) = (long) u;
        else
                *KEY_FIELD(c, k, unsigned) = u;
        return 0;
}

static int assign_duration(gp_config *c, key_id k, const char *value, char **ret_msg) {
        const key_def *d = &gp_config_keys[k];
        usec_t u;
        int r = gp_parse_duration_full(value, &u);

        if (r == -ERANGE)
                *ret_msg = strdup_printf("duration '%.*s%s' is too large", ECHO(value));
        else if (r < 0)
                *ret_msg = strdup_printf("invalid duration '%.*s%s' (expected e.g. 500ms, 30s, 2min, "
                                         "1min 30s; a bare number is seconds)", ECHO(value));
        else if (u == 0 && (d->flags & KEY_POSITIVE)) {
                *ret_msg = strdup_printf("must be greater than 0");
                r = -EINVAL;
        } else {
                *KEY_FIELD(c, k, usec_t) = u;
                return 0;
        }
        return *ret_msg ? -EINVAL : -ENOMEM;
}

static int assign_jitter(gp_config *c, const char *value, char **ret_msg) {
        bool is_percent;
        unsigned pct;
        usec_t d;
        int r = gp_parse_jitter(value, &is_percent, &pct, &d);

        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                *ret_msg = strdup_printf("invalid jitter '%.*s%s' (expected a percentage 0%%-100%% of "
                                         "Interval= or a duration)", ECHO(value));
                return *ret_msg ? -EINVAL : -ENOMEM;
        }
        c->jitter_is_percent = is_percent;
        c->jitter_percent = pct;
        c->jitter = d;
        return 0;
}

static int assign_simple(gp_config *c, key_id k, const char *value, char **ret_msg) {
        bool b;

        if (gp_config_keys[k].kind == KIND_BOOL) {
                if (gp_parse_bool(value, &b) < 0) {
                        *ret_msg = strdup_printf("invalid boolean '%.*s%s' (yes or no)", ECHO(value));
                        return *ret_msg ? -EINVAL : -ENOMEM;
                }
                *KEY_FIELD(c, k, bool) = b;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(ws_auth_table); i++)
                if (streq(ws_auth_table[i], value)) {
                        *KEY_FIELD(c, k, gp_ws_auth) = (gp_ws_auth) i;
                        return 0;
                }
        *ret_msg = strdup_printf("invalid value '%.*s%s' (subprotocol, header, query or none)", ECHO(value));
        return *ret_msg ? -EINVAL : -ENOMEM;
}

static void key_unset(gp_config *c, key_id k) {
        switch (gp_config_keys[k].kind) {
        case KIND_DURATION:
                *KEY_FIELD(c, k, usec_t) = 0;
                break;
        case KIND_JITTER:
                c->jitter_is_percent = false;
                c->jitter_percent = 0;
                c->jitter = 0;
                break;
        default:
                gp_config_key_free(c, k);
        }
}

int gp_config_key_assign(gp_config *c, key_id k, const char *value, char **ret_msg) {
        const key_def *d = &gp_config_keys[k];

        if (isempty(value)) {
                if ((d->flags & KEY_MANDATORY) && d->def)
                        return gp_config_key_assign(c, k, d->def, ret_msg);
                key_unset(c, k);
                return 0;
        }

        switch (d->kind) {
        case KIND_STRING:
        case KIND_SECRET:
                return assign_string(c, k, value, ret_msg);
        case KIND_LIST:
        case KIND_REPEATABLE:
                return assign_list(c, k, value, ret_msg);
        case KIND_DURATION:
                return assign_duration(c, k, value, ret_msg);
        case KIND_UNSIGNED:
        case KIND_STATUS:
                return assign_number(c, k, value, ret_msg);
        case KIND_JITTER:
                return assign_jitter(c, value, ret_msg);
        case KIND_BOOL:
        case KIND_AUTH:
                return assign_simple(c, k, value, ret_msg);
        }
        return -EINVAL;
}

bool gp_config_key_equal(const gp_config *a, const gp_config *b, key_id k) {
        switch (gp_config_keys[k].kind) {
        case KIND_STRING:
        case KIND_SECRET:
                return streq_ptr(*KEY_FIELD_CONST(a, k, char *), *KEY_FIELD_CONST(b, k, char *));
        case KIND_LIST:
        case KIND_REPEATABLE:
                return strv_equal(*KEY_FIELD_CONST(a, k, strv_t), *KEY_FIELD_CONST(b, k, strv_t));
        case KIND_DURATION:
                return *KEY_FIELD_CONST(a, k, usec_t) == *KEY_FIELD_CONST(b, k, usec_t);
        case KIND_UNSIGNED:
                return *KEY_FIELD_CONST(a, k, unsigned) == *KEY_FIELD_CONST(b, k, unsigned);
        case KIND_STATUS:
                return *KEY_FIELD_CONST(a, k, long) == *KEY_FIELD_CONST(b, k, long);
        case KIND_BOOL:
                return *KEY_FIELD_CONST(a, k, bool) == *KEY_FIELD_CONST(b, k, bool);
        case KIND_AUTH:
                return *KEY_FIELD_CONST(a, k, gp_ws_auth) == *KEY_FIELD_CONST(b, k, gp_ws_auth);
        case KIND_JITTER:
                return a->jitter_is_percent == b->jitter_is_percent &&
                       a->jitter_percent == b->jitter_percent && a->jitter == b->jitter;
        }
        return false;
}

char *gp_config_key_format(const gp_config *c, key_id k) {
        char buf[64];

        switch (gp_config_keys[k].kind) {
        case KIND_STRING:
        case KIND_SECRET:
                return strdup(strempty(*KEY_FIELD_CONST(c, k, char *)));
        case KIND_LIST:
        case KIND_REPEATABLE:
                return strv_join(*KEY_FIELD_CONST(c, k, strv_t), " ");
        case KIND_DURATION: {
                usec_t u = *KEY_FIELD_CONST(c, k, usec_t);
                /* 0 is "unset" for the optional durations; the mandatory ones are never 0. */
                return strdup(u == 0 ? "" : gp_format_duration(buf, sizeof(buf), u));
        }
        case KIND_UNSIGNED:
                return strdup_printf("%u", *KEY_FIELD_CONST(c, k, unsigned));
        case KIND_STATUS:
                return strdup_printf("%ld", *KEY_FIELD_CONST(c, k, long));
        case KIND_BOOL:
                return strdup(*KEY_FIELD_CONST(c, k, bool) ? "yes" : "no");
        case KIND_AUTH:
                return strdup(strempty(gp_ws_auth_to_string(*KEY_FIELD_CONST(c, k, gp_ws_auth))));
        case KIND_JITTER:
                if (c->jitter_is_percent)
                        return strdup_printf("%u%%", c->jitter_percent);
                return strdup(gp_format_duration(buf, sizeof(buf), c->jitter));
        }
        return NULL;
}
