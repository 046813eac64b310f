/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <sys/random.h>

#include "golden-path.h"
#include "http.h"
#include "jsonpath.h"
#include "matcher.h"
#include "template.h"
#include "url.h"
#include "ws.h"

#define LOGIN_MAX_REPLY (1024 * 1024)
#define WS_MAX_MESSAGE (16 * 1024 * 1024)
#define CLOSE_GRACE (2 * USEC_PER_SEC)  /* how long a close handshake may take after the verdict */

struct gp_engine {
        gp_http *http;
        gp_ws *ws;
        atomic_bool cancelled;
};

typedef enum session_state {
        S_IDLE,        /* failed before the WebSocket step, or not started */
        S_CONNECTING,
        S_WAIT_READY,
        S_SENDING,
        S_EVENTS,
        S_CLOSING,     /* verdict known; waiting for the connection to go */
        S_GONE,
} session_state;

typedef struct run run;

typedef struct session {
        run *run;
        gp_session_result *res;
        char thread_id[37];
        char *user;
        char *token;            /* secret */
        char *own_id;           /* correlation id */
        gp_matcher *matcher;
        gp_ws_conn *conn;
        session_state state;
        usec_t connect_start;
        usec_t t0;              /* request written */
        usec_t deadline;        /* of the current wait */
        unsigned seen_total;    /* expected/fail events counted so far */
        unsigned fail_seq;      /* order in which sessions failed, 0 = not failed */
} session;

struct run {
        gp_engine *engine;
        gp_config *cfg;
        gp_result *result;
        session *sessions;
        size_t n;
        usec_t start;           /* monotonic */
        usec_t deadline;        /* start + Timeout= */
        gp_trace_fn trace;
        void *trace_ud;
        gp_matcher_rules rules;
        unsigned fail_seq;
};

static void trace(run *r, const char *fmt, ...) _printf_(2, 3);
static void trace(run *r, const char *fmt, ...) {
        _cleanup_free_ char *line = NULL;
        va_list ap;

        if (!r->trace)
                return;
        va_start(ap, fmt);
        if (vasprintf(&line, fmt, ap) < 0)
                line = NULL;
        va_end(ap);
        if (line)
                r->trace(r->trace_ud, now_usec(CLOCK_MONOTONIC) - r->start, line);
}

/* A trace line of one session: prefixed "[3] " when Users > 1. */
static void strace(const session *s, const char *fmt, ...) _printf_(2, 3);

static void strace(const session *s, const char *fmt, ...) {
        _cleanup_free_ char *line = NULL;
        va_list ap;

        if (!s->run->trace)
                return;
        va_start(ap, fmt);
        if (vasprintf(&line, fmt, ap) < 0)
                line = NULL;
        va_end(ap);
        if (!line)
                return;
        if (s->run->n > 1)
                trace(s->run, "[%u] %s", s->res->index, line);
        else
                trace(s->run, "%s", line);
}

static void uuid4(char out[37]) {
        uint8_t b[16];

        if (getrandom(b, sizeof(b), 0) != sizeof(b))
                for (size_t i = 0; i < sizeof(b); i++)  /* getrandom cannot fail for 16 bytes; be safe */
                        b[i] = (uint8_t) (now_usec(CLOCK_MONOTONIC) >> (i % 8));
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static char *fmt_dur(char buf[32], usec_t u) {
        return format_duration(buf, 32, u);
}

static void session_fail(session *s, const char *stage, const char *code, const char *fmt, ...) _printf_(4, 5);
static void session_fail(session *s, const char *stage, const char *code, const char *fmt, ...) {
        _cleanup_free_ char *reason = NULL;
        va_list ap;

        if (s->res->verdict == GP_VERDICT_FAIL)
                return;
        va_start(ap, fmt);
        if (vasprintf(&reason, fmt, ap) < 0)
                reason = NULL;
        va_end(ap);
        gp_session_fail(s->res, stage, code, "%s", reason ? reason : code);
        s->fail_seq = ++s->run->fail_seq;
        strace(s, "FAIL %s (%s): %s", code, stage, strempty(reason));
}

static gp_template_vars session_vars(const session *s) {
        const gp_config *c = s->run->cfg;
        return (gp_template_vars) {
                .user = s->user,
                .password = c->password,
                .token = s->token ? s->token : c->token,
                .run_id = s->res->run_id,
                .thread_id = s->thread_id,
                .prompt = c->prompt,
                .name = c->name,
                .index = s->res->index,
        };
}

static int expand(session *s, const char *tmpl, gp_template_flags flags, char **ret) {
        gp_template_vars v = session_vars(s);
        _cleanup_free_ char *err = NULL;
        int r;

        if (!tmpl) {
                *ret = NULL;
                return 0;
        }
        r = gp_template_expand(tmpl, &v, flags, ret, &err);
        if (r < 0 && r != -ENOMEM)
                session_fail(s, "preflight", "internal", "template: %s", strempty(err));
        return r;
}

static int expand_list(session *s, char * const *l, char ***ret) {
        _cleanup_strv_free_ char **out = calloc(1, sizeof(char *));
        int r;

        if (!out)
                return -ENOMEM;
        STRV_FOREACH(i, l) {
                char *x = NULL;
                r = expand(s, *i, GP_TEMPLATE_PLAIN, &x);
                if (r < 0)
                        return r;
                r = strv_consume(&out, x);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static const char *transport_stage_code(const gp_http_reply *rep, const char *fallback) {
        if (streq(rep->error_code, "too_large") || streq(rep->error_code, "no_reply"))
                return fallback;
        return rep->error_code;
}

/* A printable, bounded excerpt of a server reply for a reason. */
static char *excerpt(const char *s, size_t len, size_t max) {
        gp_buf b = {0};

        for (size_t i = 0; i < len && i < max; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c >= 0x20 && c < 0x7f)
                        gp_buf_append(&b, &s[i], 1);
                else if (c == '\n' || c == '\r' || c == '\t')
                        gp_buf_append(&b, " ", 1);
                else
                        gp_buf_printf(&b, "\\x%02x", c);
        }
        if (len > max)
                gp_buf_append(&b, "...", 3);
        if (!b.data)
                return strdup("");
        return b.data;
}

/* ---- preflight ---------------------------------------------------------------------------- */

static int step_preflight(run *r) {
        const gp_config *c = r->cfg;
        size_t n_urls = strv_length(c->preflight_urls), n = 0;
        _cleanup_free_ gp_http_request *reqs = NULL;
        _cleanup_free_ gp_http_reply *reps = NULL;
        gp_tls_opts tls = { c->ca_file, c->insecure, c->client_certificate, c->client_key };
        usec_t t;
        int k;

        if (n_urls == 0)
                return 0;
        reqs = calloc(n_urls * r->n, sizeof(*reqs));
        reps = calloc(n_urls * r->n, sizeof(*reps));
        if (!reqs || !reps)
                return -ENOMEM;
        for (size_t i = 0; i < r->n; i++)
                for (size_t u = 0; u < n_urls; u++)
                        reqs[n++] = (gp_http_request) {
                                .url = c->preflight_urls[u], .method = "GET",
                                .max_reply = LOGIN_MAX_REPLY, .tls = &tls,
                        };
        t = now_usec(CLOCK_MONOTONIC);
        k = gp_http_perform(r->engine->http, reqs, reps, n, r->deadline);
        t = now_usec(CLOCK_MONOTONIC) - t;
        if (k < 0) {
                for (size_t i = 0; i < n; i++)
                        gp_http_reply_done(&reps[i]);
                return k;
        }
        for (size_t i = 0; i < n; i++) {
                session *s = &r->sessions[i / n_urls];
                const gp_http_reply *rep = &reps[i];
                char d[32];

                s->res->phases[GP_PHASE_PREFLIGHT] = t;
                if (rep->error_code)
                        session_fail(s, "preflight", transport_stage_code(rep, "preflight.status"),
                                     "preflight GET %s: %s", reqs[i].url, strempty(rep->error));
                else if (rep->status != c->preflight_expect_status)
                        session_fail(s, "preflight", "preflight.status", "preflight GET %s answered HTTP %ld (expected %ld)",
                                     reqs[i].url, rep->status, c->preflight_expect_status);
                else
                        strace(s, "preflight GET %s: HTTP %ld in %s", reqs[i].url, rep->status,
                               fmt_dur(d, rep->timing.total));
                gp_http_reply_done(&reps[i]);
        }
        return 0;
}

/* ---- login -------------------------------------------------------------------------------- */

static void check_login_reply(session *s, const gp_http_reply *rep) {
        const gp_config *c = s->run->cfg;
        json_error_t jerr;
        json_t *root;
        const char *token;
        char d[32];

        s->res->login_timing = rep->timing;
        s->res->have_login_timing = true;
        s->res->phases[GP_PHASE_LOGIN] = rep->timing.total;

        if (rep->error_code) {
                if (streq(rep->error_code, "too_large"))
                        session_fail(s, "login", "login.token", "login reply too large: %s", strempty(rep->error));
                else if (streq(rep->error_code, "no_reply"))
                        session_fail(s, "login", "login.status", "no HTTP reply to the login request: %s",
                                     strempty(rep->error));
                else
                        session_fail(s, "login", rep->error_code, "login %s: %s", c->login_url, strempty(rep->error));
                return;
        }
        if (rep->status != c->login_expect_status) {
                _cleanup_free_ char *body = excerpt(rep->body, rep->len, 120);
                session_fail(s, "login", "login.status", "login answered HTTP %ld (expected %ld): %s",
                             rep->status, c->login_expect_status, strempty(body));
                return;
        }
        root = json_loadb(rep->body, rep->len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                _cleanup_free_ char *body = excerpt(rep->body, rep->len, 60);
                session_fail(s, "login", "login.token", "login reply is not JSON (Content-Type %s; %s): %s",
                             rep->content_type ? rep->content_type : "none", jerr.text, strempty(body));
                return;
        }
        token = gp_json_path_get(root, c->token_path) ? json_string_value(gp_json_path_get(root, c->token_path)) : NULL;
        if (isempty(token)) {
                session_fail(s, "login", "login.token", "login reply has no non-empty string at %s", c->token_path);
                json_decref(root);
                return;
        }
        s->token = strdup(token);
        json_decref(root);
        if (!s->token) {
                session_fail(s, "login", "internal", "out of memory");
                return;
        }
        strace(s, "login %s %s: HTTP %ld in %s, token received", c->login_method, c->login_url, rep->status,
               fmt_dur(d, rep->timing.total));
}

static int step_login(run *r) {
        const gp_config *c = r->cfg;
        _cleanup_free_ gp_http_request *reqs = NULL;
        _cleanup_free_ gp_http_reply *reps = NULL;
        _cleanup_free_ session **who = NULL;
        char ***headers = NULL;
        char **bodies = NULL;
        gp_tls_opts tls = { c->ca_file, c->insecure, c->client_certificate, c->client_key };
        size_t n = 0;
        int k = 0;

        if (!c->login_url)
                return 0;  /* Token= instead of a login */
        reqs = calloc(r->n, sizeof(*reqs));
        reps = calloc(r->n, sizeof(*reps));
        who = calloc(r->n, sizeof(*who));
        headers = calloc(r->n, sizeof(*headers));
        bodies = calloc(r->n, sizeof(*bodies));
        if (!reqs || !reps || !who || !headers || !bodies) {
                k = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < r->n; i++) {
                session *s = &r->sessions[i];

                if (s->res->verdict == GP_VERDICT_FAIL)
                        continue;
                k = expand_list(s, c->login_headers, &headers[n]);
                if (k >= 0)
                        k = expand(s, c->login_body,
                                   gp_template_is_json(c->login_body) ? GP_TEMPLATE_JSON : GP_TEMPLATE_PLAIN, &bodies[n]);
                if (k == -ENOMEM)
                        goto out;
                if (k < 0)
                        continue;
                reqs[n] = (gp_http_request) {
                        .url = c->login_url, .method = c->login_method, .headers = headers[n],
                        .body = bodies[n], .max_reply = LOGIN_MAX_REPLY, .tls = &tls,
                };
                who[n++] = s;
        }
        k = gp_http_perform(r->engine->http, reqs, reps, n, r->deadline);
        if (k >= 0)
                for (size_t i = 0; i < n; i++)
                        check_login_reply(who[i], &reps[i]);
out:
        for (size_t i = 0; i < r->n; i++) {
                if (reps)
                        gp_http_reply_done(&reps[i]);
                if (headers)
                        strv_free(headers[i]);
                if (bodies)
                        secret_free(bodies[i]);  /* the body usually holds the password */
        }
        free(headers);
        free(bodies);
        return k;
}

/* ---- WebSocket ---------------------------------------------------------------------------- */

static void send_request(session *s) {
        const gp_config *c = s->run->cfg;
        _cleanup_free_ char *msg = NULL;
        int k;

        k = expand(s, c->message, gp_template_is_json(c->message) ? GP_TEMPLATE_JSON : GP_TEMPLATE_PLAIN, &msg);
        if (k < 0) {
                session_fail(s, "request", "internal", "expanding Message= failed");
                return;
        }
        k = gp_ws_send_text(s->conn, msg, strlen(msg));
        if (k < 0) {
                session_fail(s, "request", k == -ENOTCONN ? "ws.closed" : "internal", "sending the request failed: %s",
                             strerror(-k));
                return;
        }
        s->state = S_SENDING;
}

static void on_established(void *ud, const char *selected) {
        session *s = ud;
        const gp_config *c = s->run->cfg;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        char d[32];

        strace(s, "WebSocket established in %s%s%s", fmt_dur(d, now - s->connect_start),
               isempty(selected) ? "" : ", subprotocol ", strempty(selected));
        if (c->ready) {
                s->state = S_WAIT_READY;  /* the ConnectTimeout= deadline still runs */
                return;
        }
        s->res->phases[GP_PHASE_WS_CONNECT] = now - s->connect_start;
        send_request(s);
}

static bool is_ready_message(session *s, const char *data, size_t len) {
        json_t *root = json_loadb(data, len, 0, NULL);
        const char *type;
        bool ok;

        if (!root)
                return false;
        type = json_string_value(gp_json_path_get(root, s->run->cfg->type_path));
        ok = type && streq(type, s->run->cfg->ready);
        json_decref(root);
        return ok;
}

static void finish_events(session *s) {
        gp_match_state st = gp_matcher_state(s->matcher);
        char d[32];

        if (st == GP_MATCH_PASSED)
                strace(s, "response checks passed; complete at +%s", fmt_dur(d, gp_matcher_complete_at(s->matcher)));
        else if (st == GP_MATCH_FAILED)
                session_fail(s, gp_matcher_stage(s->matcher), gp_matcher_code(s->matcher), "%s",
                             strempty(gp_matcher_reason(s->matcher)));
        if (s->conn && gp_ws_conn_alive(s->conn)) {
                gp_ws_close(s->conn);
                s->state = S_CLOSING;
                s->deadline = now_usec(CLOCK_MONOTONIC) + CLOSE_GRACE;
        } else
                s->state = S_GONE;
}

/* What the matcher saw goes into the result whatever ended the session. */
static int collect_events(session *s) {
        if (!s->matcher)
                return 0;
        if (gp_matcher_first_event_at(s->matcher) != USEC_INFINITY)
                s->res->phases[GP_PHASE_FIRST_EVENT] = gp_matcher_first_event_at(s->matcher);
        if (gp_matcher_state(s->matcher) == GP_MATCH_PASSED)
                s->res->phases[GP_PHASE_COMPLETE] = gp_matcher_complete_at(s->matcher);
        return gp_session_take_events(s->res, s->matcher);
}

static unsigned seen_total(const gp_matcher *m) {
        unsigned t = 0;

        for (size_t i = 0; i < gp_matcher_n_events(m); i++)
                t += gp_matcher_event(m, i)->count;
        return t;
}

static void on_message(void *ud, const char *data, size_t len, bool binary, usec_t at) {
        session *s = ud;
        const gp_config *c = s->run->cfg;
        unsigned counts[32] = {0}, total;
        size_t n_before;
        gp_match_state st;

        if (s->state == S_WAIT_READY) {
                if (!binary && is_ready_message(s, data, len)) {
                        s->res->phases[GP_PHASE_WS_CONNECT] = at - s->connect_start;
                        strace(s, "ready: %s received", c->ready);
                        send_request(s);
                }
                return;
        }
        if (s->state != S_EVENTS)
                return;  /* before the request was written, or after the verdict */

        n_before = gp_matcher_n_events(s->matcher);
        for (size_t i = 0; i < n_before && i < ELEMENTSOF(counts); i++)
                counts[i] = gp_matcher_event(s->matcher, i)->count;
        st = binary ? gp_matcher_feed_binary(s->matcher, len, at - s->t0)
                    : gp_matcher_feed(s->matcher, data, len, at - s->t0);
        total = seen_total(s->matcher);
        if (total != s->seen_total) {
                size_t n = gp_matcher_n_events(s->matcher);
                char d[32];

                for (size_t i = 0; i < n; i++) {
                        const gp_event_stat *e = gp_matcher_event(s->matcher, i);
                        if (i >= n_before || (i < ELEMENTSOF(counts) && e->count != counts[i])) {
                                strace(s, "event %s at +%s%s", e->type, fmt_dur(d, at - s->t0),
                                       e->count > 1 ? " (repeat)" : "");
                                break;
                        }
                }
                s->seen_total = total;
                /* EventTimeout= is the longest wait for the next expected event. */
                s->deadline = MIN(at + c->event_timeout, s->run->deadline);
        }
        if (st != GP_MATCH_RUNNING)
                finish_events(s);
}

static void on_sent(void *ud, usec_t at) {
        session *s = ud;
        const gp_config *c = s->run->cfg;

        s->t0 = at;
        s->state = S_EVENTS;
        s->deadline = MIN(at + c->event_timeout, s->run->deadline);
        strace(s, "request sent (t=0)");
}

static const char *stage_of(const session *s) {
        switch (s->state) {
        case S_CONNECTING:
        case S_WAIT_READY:
                return "ws_connect";
        case S_SENDING:
                return "request";
        default:
                return "events";
        }
}

static char *seen_list(const session *s) {
        gp_buf b = {0};

        for (size_t i = 0; s->matcher && i < gp_matcher_n_events(s->matcher); i++)
                gp_buf_printf(&b, "%s%s", i ? " " : "", gp_matcher_event(s->matcher, i)->type);
        return b.data ? b.data : strdup("nothing");
}

static void on_failed(void *ud, const char *code, const char *reason) {
        session *s = ud;

        if (s->state == S_CLOSING || s->state == S_GONE)
                return;
        session_fail(s, stage_of(s), code, "%s", reason);
        s->state = S_CLOSING;
        s->deadline = now_usec(CLOCK_MONOTONIC) + CLOSE_GRACE;
}

static void on_closed(void *ud, int code, const char *reason) {
        session *s = ud;
        _cleanup_free_ char *seen = NULL;
        const char *awaiting;

        if (s->state == S_CLOSING || s->state == S_GONE)
                return;
        seen = seen_list(s);
        awaiting = s->matcher ? gp_matcher_awaiting(s->matcher) : NULL;
        session_fail(s, stage_of(s), "ws.closed", "connection closed (code %d%s%s) while waiting for %s; saw %s",
                     code, isempty(reason) ? "" : ": ", strempty(reason),
                     awaiting ? awaiting : (s->state == S_WAIT_READY ? s->run->cfg->ready : "the terminal event"),
                     strempty(seen));
        s->state = S_CLOSING;
        s->deadline = now_usec(CLOCK_MONOTONIC) + CLOSE_GRACE;
}

static void on_destroyed(void *ud) {
        session *s = ud;

        if (s->state != S_CLOSING && s->state != S_GONE)
                session_fail(s, stage_of(s), "ws.closed", "connection lost");
        s->state = S_GONE;
}

static const gp_ws_handler ws_handler = {
        .established = on_established,
        .message = on_message,
        .sent = on_sent,
        .failed = on_failed,
        .closed = on_closed,
        .destroyed = on_destroyed,
};

static unsigned lookup_session(const char *id, void *ud) {
        run *r = ud;

        for (size_t i = 0; i < r->n; i++)
                if (r->sessions[i].own_id && streq(r->sessions[i].own_id, id))
                        return (unsigned) i + 1;
        return 0;
}

/* Resolves once per run; prefers IPv4 like most clients on a dual-stack loopback. */
static int resolve(const char *host, int port, char *ret, size_t retlen, usec_t *ret_took, char **ret_error) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *pick = NULL;
        usec_t t = now_usec(CLOCK_MONOTONIC);
        char portstr[8];
        int k;

        snprintf(portstr, sizeof(portstr), "%d", port);
        k = getaddrinfo(host, portstr, &hints, &res);
        *ret_took = now_usec(CLOCK_MONOTONIC) - t;
        if (k != 0) {
                *ret_error = strdup_printf("cannot resolve %s: %s", host, gai_strerror(k));
                return -EHOSTUNREACH;
        }
        for (struct addrinfo *a = res; a; a = a->ai_next)
                if (a->ai_family == AF_INET) {
                        pick = a;
                        break;
                }
        if (!pick)
                pick = res;
        if (pick->ai_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *) pick->ai_addr)->sin_addr, ret, (socklen_t) retlen);
        else
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *) pick->ai_addr)->sin6_addr, ret, (socklen_t) retlen);
        freeaddrinfo(res);
        return 0;
}

static int session_connect(session *s, const gp_url *url, const char *address) {
        const gp_config *c = s->run->cfg;
        _cleanup_strv_free_ char **headers = NULL;
        _cleanup_strv_free_ char **protos = NULL;
        _cleanup_free_ char *proto_list = NULL, *err = NULL;
        gp_url u = *url;
        _cleanup_free_ char *path = NULL;
        const char *token = s->token ? s->token : c->token;
        gp_ws_target t;
        int k;

        path = strdup(url->path);
        if (!path)
                return -ENOMEM;
        u.path = path;
        k = expand_list(s, c->ws_headers, &headers);
        if (k < 0)
                return k == -ENOMEM ? k : 0;
        switch (c->ws_auth) {
        case GP_WS_AUTH_SUBPROTOCOL:
                k = expand_list(s, c->subprotocols, &protos);
                if (k < 0)
                        return k == -ENOMEM ? k : 0;
                proto_list = strv_join(protos, ", ");
                if (!proto_list)
                        return -ENOMEM;
                break;
        case GP_WS_AUTH_HEADER:
                k = strv_consume(&headers, strdup_printf("Authorization: Bearer %s", strempty(token)));
                if (k < 0)
                        return k;
                break;
        case GP_WS_AUTH_QUERY:
                k = gp_url_add_query(&u, c->query_param, strempty(token));
                if (k < 0)
                        return k;
                path = u.path;  /* gp_url_add_query replaced it */
                break;
        case GP_WS_AUTH_NONE:
                break;
        }

        t = (gp_ws_target) {
                .tls = url->tls,
                .address = address,
                .port = url->port,
                .host = url->host,
                .path = u.path,
                .subprotocols = proto_list,
                .headers = headers,
                .max_message = WS_MAX_MESSAGE,
        };
        s->connect_start = now_usec(CLOCK_MONOTONIC);
        s->deadline = MIN(s->connect_start + c->connect_timeout, s->run->deadline);
        s->state = S_CONNECTING;
        k = gp_ws_connect(s->run->engine->ws, &t, &ws_handler, s, &s->conn, &err);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                session_fail(s, "ws_connect", "net.connect", "%s", strempty(err));
                s->state = S_GONE;
        }
        if (proto_list)
                explicit_bzero(proto_list, strlen(proto_list));  /* holds the token */
        return 0;
}

static void check_deadline(session *s, usec_t now) {
        const gp_config *c = s->run->cfg;
        char d[32];

        if (s->state == S_GONE || s->state == S_IDLE || now < s->deadline)
                return;
        switch (s->state) {
        case S_CONNECTING:
                session_fail(s, "ws_connect", "net.timeout", "no WebSocket handshake within %s",
                             fmt_dur(d, s->deadline - s->connect_start));
                break;
        case S_WAIT_READY:
                session_fail(s, "ws_connect", "events.timeout", "no %s within %s after connecting", c->ready,
                             fmt_dur(d, s->deadline - s->connect_start));
                break;
        case S_SENDING:
                session_fail(s, "request", "net.timeout", "the request could not be written within the deadline");
                break;
        case S_EVENTS:
                /* Which limit passed: the run's Timeout= or EventTimeout= since the last event. */
                gp_matcher_timeout(s->matcher, s->deadline == s->run->deadline ? c->timeout : c->event_timeout);
                finish_events(s);
                if (s->state == S_CLOSING)
                        return;  /* a close handshake gets its own grace period */
                break;
        case S_CLOSING:
                break;
        default:
                return;
        }
        if (s->conn)
                gp_ws_abort(s->conn);
        s->state = S_GONE;
}

static int step_websocket(run *r) {
        const gp_config *c = r->cfg;
        gp_tls_opts tls = { c->ca_file, c->insecure, c->client_certificate, c->client_key };
        _cleanup_free_ char *err = NULL;
        char address[INET6_ADDRSTRLEN];
        gp_url url = {0};
        usec_t took;
        size_t active = 0;
        int k;

        for (size_t i = 0; i < r->n; i++)
                if (r->sessions[i].res->verdict != GP_VERDICT_FAIL)
                        active++;
        if (active == 0)
                return 0;

        k = gp_url_parse(c->ws_url, &url, &err);
        if (k < 0) {
                for (size_t i = 0; i < r->n; i++)
                        session_fail(&r->sessions[i], "ws_connect", "internal", "%s", strempty(err));
                return k == -ENOMEM ? k : 0;
        }
        k = resolve(url.host, url.port, address, sizeof(address), &took, &err);
        if (k < 0) {
                for (size_t i = 0; i < r->n; i++)
                        session_fail(&r->sessions[i], "ws_connect", "net.dns", "%s", strempty(err));
                gp_url_done(&url);
                return 0;
        }
        k = gp_ws_use_tls(r->engine->ws, &tls, &err);
        if (k < 0) {
                for (size_t i = 0; i < r->n; i++)
                        session_fail(&r->sessions[i], "ws_connect", "tls.handshake", "%s", strempty(err));
                gp_url_done(&url);
                return 0;
        }
        trace(r, "WebSocket %s (%s port %d)", c->ws_url, address, url.port);

        for (size_t i = 0; i < r->n; i++) {
                session *s = &r->sessions[i];

                if (s->res->verdict == GP_VERDICT_FAIL)
                        continue;
                s->own_id = NULL;
                k = expand(s, c->correlate_with, GP_TEMPLATE_PLAIN, &s->own_id);
                if (k == -ENOMEM)
                        break;
                s->matcher = gp_matcher_new(&r->rules, s->own_id, s->res->index, lookup_session, r);
                if (!s->matcher) {
                        k = -ENOMEM;
                        break;
                }
                k = session_connect(s, &url, address);
                if (k < 0)
                        break;
        }
        gp_url_done(&url);
        if (k == -ENOMEM)
                return k;

        for (;;) {
                usec_t now = now_usec(CLOCK_MONOTONIC), next = USEC_INFINITY;
                bool busy = false;

                for (size_t i = 0; i < r->n; i++) {
                        session *s = &r->sessions[i];

                        if (atomic_load(&r->engine->cancelled) && s->conn && s->state != S_GONE) {
                                gp_ws_abort(s->conn);
                                s->state = S_GONE;
                        }
                        check_deadline(s, now);
                        if (s->state != S_GONE && s->state != S_IDLE) {
                                busy = true;
                                next = MIN(next, s->deadline);
                        }
                }
                if (!busy)
                        break;
                gp_ws_wake_at(r->engine->ws, next);
                if (gp_ws_service(r->engine->ws) < 0)
                        return -EIO;
        }
        return 0;
}

/* ---- the run ------------------------------------------------------------------------------ */

static void judge_slo(run *r) {
        const gp_config *c = r->cfg;
        gp_result *res = r->result;
        struct {
                usec_t limit, value;
                const char *code, *stage, *what;
        } checks[] = {
                { c->slo_login, res->phases[GP_PHASE_LOGIN], "slo.login", "login", "login" },
                { c->slo_connect, res->phases[GP_PHASE_WS_CONNECT], "slo.connect", "ws_connect", "WebSocket connect" },
                { c->slo_first_event, res->phases[GP_PHASE_FIRST_EVENT], "slo.first_event", "events", "first event" },
                { c->slo_total, res->duration, "slo.total", NULL, "run" },
        };
        gp_buf reason = {0};

        for (size_t i = 0; i < ELEMENTSOF(checks); i++) {
                char v[32], l[32];

                if (checks[i].limit == 0 || checks[i].value == USEC_INFINITY || checks[i].value <= checks[i].limit)
                        continue;
                if (res->verdict != GP_VERDICT_DEGRADED) {
                        res->verdict = GP_VERDICT_DEGRADED;
                        res->code = strdup(checks[i].code);
                        res->stage = checks[i].stage;
                }
                gp_buf_printf(&reason, "%s%s took %s (SLO %s)", reason.len ? "; " : "", checks[i].what,
                              fmt_dur(v, checks[i].value), fmt_dur(l, checks[i].limit));
        }
        if (reason.data)
                res->reason = reason.data;
}

static int fold(run *r) {
        gp_result *res = r->result;
        session *first = NULL;
        unsigned failed = 0;

        for (size_t i = 0; i < r->n; i++) {
                session *s = &r->sessions[i];

                if (collect_events(s) < 0)
                        return -ENOMEM;

                if (s->res->verdict == GP_VERDICT_FAIL) {
                        failed++;
                        if (!first || s->fail_seq < first->fail_seq)
                                first = s;
                }
                for (size_t p = 0; p < _GP_PHASE_MAX; p++)
                        if (s->res->phases[p] != USEC_INFINITY &&
                            (res->phases[p] == USEC_INFINITY || s->res->phases[p] > res->phases[p]))
                                res->phases[p] = s->res->phases[p];
        }
        if (first) {
                res->verdict = GP_VERDICT_FAIL;
                res->stage = first->res->stage;
                res->code = strdup(strempty(first->res->code));
                if (r->n > 1)
                        res->reason = strdup_printf("session %u: %s%s", first->res->index, strempty(first->res->reason),
                                                    failed > 1 ? " (and more sessions failed)" : "");
                else
                        res->reason = strdup(strempty(first->res->reason));
        } else
                res->verdict = GP_VERDICT_PASS;
        return 0;
}

static void run_free(run *r) {
        for (size_t i = 0; i < r->n; i++) {
                session *s = &r->sessions[i];

                gp_ws_conn_free(s->conn);
                gp_matcher_free(s->matcher);
                free(s->user);
                secret_free(s->token);
                free(s->own_id);
        }
        free(r->sessions);
}

int gp_engine_run(gp_engine *e, gp_config *cfg, gp_trace_fn trace_fn, void *ud, gp_result **ret) {
        run r = {
                .engine = e, .cfg = cfg, .trace = trace_fn, .trace_ud = ud, .n = cfg->users,
                .rules = {
                        .type_path = cfg->type_path,
                        .expect = cfg->expect,
                        .repeatable = cfg->repeatable,
                        .fail = cfg->fail,
                        .error_paths = cfg->error_paths,
                        .correlate_paths = cfg->correlate_paths,
                        .response_paths = cfg->response_paths,
                        .strict = cfg->strict,
                        .response_regex = cfg->response_match ? &cfg->response_regex : NULL,
                        .response_match = cfg->response_match,
                },
        };
        gp_result *res;
        int k = 0;

        res = gp_result_new(cfg->users);
        r.sessions = calloc(cfg->users, sizeof(session));
        if (!res || !r.sessions) {
                gp_result_free(res);
                free(r.sessions);
                return -ENOMEM;
        }
        r.result = res;
        res->started_at = now_usec(CLOCK_REALTIME);
        r.start = res->started_mono = now_usec(CLOCK_MONOTONIC);
        r.deadline = r.start + cfg->timeout;
        if (cfg->insecure)
                strv_extend(&res->warnings, "TLS certificate verification is off (Insecure=yes)");

        for (size_t i = 0; i < r.n; i++) {
                session *s = &r.sessions[i];
                gp_template_vars v = { .index = (unsigned) i + 1, .name = cfg->name };
                _cleanup_free_ char *err = NULL;

                s->run = &r;
                s->res = &res->sessions[i];
                uuid4(s->res->run_id);
                uuid4(s->thread_id);
                if (cfg->user && gp_template_expand(cfg->user, &v, GP_TEMPLATE_PLAIN, &s->user, &err) < 0)
                        session_fail(s, "login", "internal", "expanding User= failed: %s", strempty(err));
        }
        if (r.n == 1)
                memcpy(res->run_id, res->sessions[0].run_id, sizeof(res->run_id));
        else
                uuid4(res->run_id);
        trace(&r, "run %s: %u user%s, timeout %s", res->run_id, cfg->users, cfg->users == 1 ? "" : "s",
              fmt_dur((char[32]) {0}, cfg->timeout));
        if (cfg->insecure)
                trace(&r, "warning: TLS certificate verification is off (Insecure=yes)");

        k = step_preflight(&r);
        if (k >= 0)
                k = step_login(&r);
        if (k >= 0)
                k = step_websocket(&r);

        res->duration = now_usec(CLOCK_MONOTONIC) - r.start;
        res->finished_at = now_usec(CLOCK_REALTIME);
        if (atomic_load(&e->cancelled) || k == -ECANCELED) {
                res->verdict = GP_VERDICT_CANCELLED;
                res->code = NULL;
                k = 0;
        } else if (k == -ENOMEM) {
                run_free(&r);
                gp_result_free(res);
                return k;
        } else {
                if (fold(&r) < 0) {
                        run_free(&r);
                        gp_result_free(res);
                        return -ENOMEM;
                }
                if (k < 0 && res->verdict != GP_VERDICT_FAIL) {
                        res->verdict = GP_VERDICT_FAIL;
                        res->code = strdup("internal");
                        res->reason = strdup_printf("the probe failed: %s", strerror(-k));
                }
                if (res->verdict == GP_VERDICT_PASS)
                        judge_slo(&r);
        }
        {
                char d[32];
                trace(&r, "result: %s%s%s in %s", gp_verdict_to_string(res->verdict), res->code ? " " : "",
                      strempty(res->code), fmt_dur(d, res->duration));
        }
        run_free(&r);
        *ret = res;
        return 0;
}

int gp_engine_new(gp_engine **ret, char **ret_error) {
        gp_engine *e = calloc(1, sizeof(*e));
        int k;

        if (!e)
                return -ENOMEM;
        e->http = gp_http_new();
        if (!e->http) {
                free(e);
                *ret_error = strdup("initializing libcurl failed");
                return -EIO;
        }
        k = gp_ws_new(&e->ws, ret_error);
        if (k < 0) {
                gp_http_free(e->http);
                free(e);
                return k;
        }
        *ret = e;
        return 0;
}

gp_engine *gp_engine_free(gp_engine *e) {
        if (!e)
                return NULL;
        gp_ws_free(e->ws);
        gp_http_free(e->http);
        free(e);
        return NULL;
}

void gp_engine_reset_cancel(gp_engine *e) {
        atomic_store(&e->cancelled, false);
        gp_http_reset_cancel(e->http);
}

void gp_engine_cancel(gp_engine *e) {
        atomic_store(&e->cancelled, true);
        gp_http_cancel(e->http);
        gp_ws_wake(e->ws);
}
