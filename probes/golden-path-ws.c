/* SPDX-License-Identifier: MIT */
/* The WebSocket, request, events and response steps: what each session sends (the upgrade, the
 * request) and hears (the welcome, the events, the close), judged as probes/ws.c reports it. The
 * callbacks make the transitions of the session state machine (golden-path-session.c). */
#include <arpa/inet.h>
#include <errno.h>

#include "golden-path-internal.h"
#include "jsonpath.h"
#include "url.h"

/* ---- WebSocket ---------------------------------------------------------------------------- */

void gp_session_send_request(session *s) {
        const gp_config *c = s->run->cfg;
        _cleanup_free_ char *msg = NULL;
        int k;

        k = gp_expand(s, c->message, gp_template_is_json(c->message) ? GP_TEMPLATE_JSON : GP_TEMPLATE_PLAIN,
                      &msg);
        if (k < 0) {
                gp_fail_session(s, "request", "internal", "expanding Message= failed");
                gp_session_end(s);
                return;
        }
        k = gp_ws_send_text(s->conn, msg, strlen(msg));
        if (k >= 0)
                gp_tx_frame(s, now_usec(CLOCK_MONOTONIC), false, false, msg, strlen(msg));
        if (k < 0) {
                gp_fail_session(s, "request", k == -ENOTCONN ? "ws.closed" : "internal",
                                "sending the request failed: %s", strerror(-k));
                gp_session_end(s);
                return;
        }
        gp_session_to_sending(s);
}

/* What the connect showed (issue 12): its phases, and the run's WebSocket certificates (one
 * endpoint: the first session that saw them speaks for all). */
static void note_connect(session *s) {
        gp_cert_expiry *runs = &s->run->result->ws_cert;

        if (!s->conn)
                return;
        gp_ws_conn_timing(s->conn, &s->res->ws_timing);
        if (runs->earliest == 0)
                gp_ws_conn_cert_expiry(s->conn, runs);
}

/* ready: from the 101 until the session was ready (Ready= seen, or established without it). */
static void note_ready(session *s) {
        const gp_ws_timing *t = &s->res->ws_timing;
        usec_t before = 0, total = s->res->phases[GP_PHASE_WS_CONNECT];

        if (t->connect == USEC_INFINITY || t->upgrade == USEC_INFINITY || total == USEC_INFINITY)
                return;
        before = t->connect + (t->tls == USEC_INFINITY ? 0 : t->tls) + t->upgrade;
        s->res->ws_timing.ready = total > before ? total - before : 0;
}

static void on_established(void *ud, const char *selected) {
        session *s = ud;
        const gp_config *c = s->run->cfg;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        char d[32];

        _cleanup_free_ char *shown = isempty(selected) ? NULL : gp_redact_secrets(s, selected, strlen(selected));

        note_connect(s);
        gp_strace(s, "WebSocket established in %s%s%s", gp_fmt_dur(d, now - s->connect_start),
                  shown ? ", subprotocol " : "", strempty(shown));
        gp_tx_upgrade(s, selected, NULL);
        if (s->offered_subprotocols && isempty(selected) && c->require_subprotocol) {
                /* RFC 6455 4.1: a client that offered subprotocols fails a handshake that selects
                 * none; browsers do, so the product's own frontend cannot connect. */
                gp_fail_session(s, "ws_connect", "ws.upgrade",
                                "the server selected none of the offered subprotocols (browsers refuse this "
                                "upgrade; RequireSubprotocol=no accepts it)");
                gp_session_end(s);
                return;
        }
        if (c->ready) {
                gp_session_to_wait_ready(s);
                return;
        }
        s->res->phases[GP_PHASE_WS_CONNECT] = now - s->connect_start;
        note_ready(s);
        gp_session_to_ready(s);
}

/* The type of a message before the request: at ReadyPath= (the first string found), else at
 * TypePath=. Borrowed from root. */
static const char *welcome_type(const gp_config *c, json_t *root) {
        if (c->ready_paths)
                return gp_json_path_first_string(root, c->ready_paths, true);
        return json_string_value(gp_json_path_get(root, c->type_path));
}

/* A server that names another user than the one we logged in as ignored our credentials; its
 * value may be cut to a prefix followed by "..." (Netra shows 8 characters). */
static bool identity_matches(const char *server, const char *ours) {
        size_t n = strlen(server);

        if (streq(server, ours))
                return true;
        return n > 3 && streq(server + n - 3, "...") && n - 3 >= 4 && strncmp(server, ours, n - 3) == 0 &&
               strlen(ours) > n - 3;
}

static void check_identity(session *s, json_t *root) {
        const gp_config *c = s->run->cfg;
        const char *v;
        char *paths;

        if (!c->identity_paths)
                return;
        v = gp_json_path_first_string(root, c->identity_paths, true);
        if (!v) {
                paths = strv_join(c->identity_paths, " ");
                gp_fail_session(s, "ws_connect", "ws.identity",
                                "the welcome names no user (no string at IdentityPath=%s)", strempty(paths));
                free(paths);
                return;
        }
        s->identity = strdup(v);
        if (!s->identity) {
                gp_fail_session(s, "ws_connect", "internal", "out of memory");
                return;
        }
        if (!c->identity)
                return;
        if (gp_expand(s, c->identity, GP_TEMPLATE_PLAIN, &s->identity_ours) < 0)
                return;
        if (!identity_matches(s->identity, strempty(s->identity_ours)))
                gp_fail_session(s, "ws_connect", "ws.identity",
                                "the server ignored the probe's credentials: the welcome names user '%s', the "
                                "login made us '%s' (demo mode or a relaxed auth fallback?)", s->identity,
                                strempty(s->identity_ours));
        else
                gp_strace(s, "the server knows us as %s", s->identity);
}

/* Before the request: the server's welcome, or its refusal of our credentials. */
static void on_welcome_message(session *s, const char *data, size_t len, usec_t at) {
        const gp_config *c = s->run->cfg;
        json_t *root = json_loadb(data, len, 0, NULL);
        const char *type, *ready;

        if (!root)
                return;
        type = json_string_value(gp_json_path_get(root, c->type_path));
        for (size_t i = 0; i < s->run->n_auth_fail; i++)
                if (gp_json_event_cond_holds(&s->run->auth_fail[i], root, type)) {
                        const char *msg = gp_json_path_first_string(root, c->error_paths, true);

                        gp_fail_session(s, "ws_connect", "ws.auth", "the server refused the credentials after the "
                                        "upgrade: %s%s%s", type, msg ? ": " : "", strempty(msg));
                        json_decref(root);
                        gp_session_end(s);
                        return;
                }
        ready = s->state == S_WAIT_READY ? welcome_type(c, root) : NULL;
        if (ready && strv_contains(c->ready, ready)) {
                s->res->phases[GP_PHASE_WS_CONNECT] = at - s->connect_start;
                note_ready(s);
                gp_strace(s, "ready: %s received", ready);
                check_identity(s, root);
                if (s->res->verdict == GP_VERDICT_FAIL)
                        gp_session_end(s);
                else
                        gp_session_to_ready(s);
        }
        json_decref(root);
}

/* Copies the matcher's events and counters into the session's result. -ENOMEM. */
static int take_events(gp_session_result *s, const gp_matcher *m) {
        size_t n = gp_matcher_n_events(m);
        const char *response = gp_matcher_response(m);

        s->events = calloc(n ? n : 1, sizeof(gp_event_stat));
        if (!s->events)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const gp_event_stat *e = gp_matcher_event(m, i);
                s->events[i] = *e;
                s->events[i].type = strdup(e->type);
                if (!s->events[i].type)
                        return -ENOMEM;
                s->n_events = i + 1;
        }
        s->ignored = gp_matcher_n_ignored(m);
        s->malformed = gp_matcher_n_malformed(m);
        s->response_len = response ? strlen(response) : 0;
        return 0;
}

/* What the matcher saw goes into the result whatever ended the session. */
int gp_collect_events(session *s) {
        if (!s->matcher)
                return 0;
        if (gp_matcher_first_event_at(s->matcher) != USEC_INFINITY)
                s->res->phases[GP_PHASE_FIRST_EVENT] = gp_matcher_first_event_at(s->matcher);
        if (gp_matcher_state(s->matcher) == GP_MATCH_PASSED)
                s->res->phases[GP_PHASE_COMPLETE] = gp_matcher_complete_at(s->matcher);
        return take_events(s->res, s->matcher);
}

static unsigned seen_total(const gp_matcher *m) {
        unsigned t = 0;

        for (size_t i = 0; i < gp_matcher_n_events(m); i++)
                t += gp_matcher_event(m, i)->count;
        return t;
}

/* Traces the first event type whose count differs from counts (taken before the message) or that
 * is new since then (n_before types). */
static void trace_new_event(const session *s, const unsigned counts[], size_t n_counts, size_t n_before,
                            usec_t at) {
        size_t n = gp_matcher_n_events(s->matcher);
        char d[32];

        for (size_t i = 0; i < n; i++) {
                const gp_event_stat *e = gp_matcher_event(s->matcher, i);
                if (i >= n_before || (i < n_counts && e->count != counts[i])) {
                        gp_strace(s, "event %s at +%s%s", e->type, gp_fmt_dur(d, at - s->t0),
                                  e->count > 1 ? " (repeat)" : "");
                        break;
                }
        }
}

static void on_message(void *ud, const char *data, size_t len, bool binary, usec_t at) {
        session *s = ud;
        unsigned counts[32] = {0}, total;
        size_t n_before;
        gp_match_state st;

        gp_tx_frame(s, at, true, binary, data, len);
        if (s->state == S_WAIT_READY || s->state == S_READY) {
                if (!binary)
                        on_welcome_message(s, data, len, at);
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
        gp_session_heard_frame(s, at, len, binary ? NULL : gp_matcher_last_type(s->matcher),
                               total != s->seen_total);
        if (total != s->seen_total) {
                trace_new_event(s, counts, ELEMENTSOF(counts), n_before, at);
                s->seen_total = total;
                gp_session_await_event(s, at);
        }
        if (st != GP_MATCH_RUNNING)
                gp_session_finish_events(s);
}

static void on_sent(void *ud, usec_t at) {
        session *s = ud;

        s->t0 = at;
        s->res->t0_mono = at;
        gp_session_to_events(s, at);
        gp_strace(s, "request sent (t=0)");
        gp_tx_mark(s, "t0", "the request was written: t=0 of the events' times");
}

static char *seen_list(const session *s) {
        gp_buf b = {0};

        for (size_t i = 0; s->matcher && i < gp_matcher_n_events(s->matcher); i++)
                gp_buf_printf(&b, "%s%s", i ? " " : "", gp_matcher_event(s->matcher, i)->type);
        return b.data ? b.data : strdup("nothing");
}

void gp_session_stall(session *s) {
        const gp_stream *st = &s->res->stream;
        const char *awaiting = gp_matcher_awaiting(s->matcher);
        _cleanup_free_ char *seen = seen_list(s);
        char d[32], at[32];

        if (!awaiting)  /* every kind arrived; the end did not */
                awaiting = s->run->cfg->end && s->run->cfg->end[0] ? s->run->cfg->end[0] : "the terminal event";
        if (st->frames == 0)
                gp_fail_session(s, "events", GP_CODE_EVENTS_STALL,
                                "no frame at all for %s (StallTimeout=) since the request, while waiting for %s; "
                                "saw nothing", gp_fmt_dur(d, s->run->cfg->stall_timeout), awaiting);
        else
                gp_fail_session(s, "events", GP_CODE_EVENTS_STALL,
                                "no frame at all for %s (StallTimeout=) after %s at +%s, while waiting for %s; "
                                "saw %s", gp_fmt_dur(d, s->run->cfg->stall_timeout),
                                st->last_type[0] ? st->last_type : "an untyped frame",
                                gp_fmt_dur(at, st->last_frame), awaiting, strempty(seen));
}

static void on_failed(void *ud, const char *code, const char *reason) {
        session *s = ud;

        if (s->state == S_CLOSING || s->state == S_GONE)
                return;
        note_connect(s);  /* a refused upgrade still showed its certificates */
        if (s->state == S_CONNECTING)
                gp_tx_upgrade(s, NULL, reason);
        gp_fail_session(s, gp_session_stage(s), code, "%s", reason);
        gp_session_to_closing(s);
}

static void on_closed(void *ud, int code, const char *reason) {
        session *s = ud;
        _cleanup_free_ char *seen = NULL;
        const char *awaiting;

        gp_tx_close(s, code == 1006 ? "network" : "server", code, reason);
        if (s->state == S_CLOSING || s->state == S_GONE)
                return;
        if (code == 1008 && (s->state == S_WAIT_READY || s->state == S_READY)) {
                /* Policy violation before the request: how servers that authenticate after the
                 * upgrade refuse a token (RFC 6455 7.4.1). */
                gp_fail_session(s, "ws_connect", "ws.auth", "the server refused the credentials after the upgrade: "
                                "close 1008%s%s", isempty(reason) ? "" : ": ", strempty(reason));
                gp_session_to_closing(s);
                return;
        }
        seen = seen_list(s);
        awaiting = s->matcher ? gp_matcher_awaiting(s->matcher) : NULL;
        gp_fail_session(s, gp_session_stage(s), "ws.closed", "connection closed (code %d%s%s) while waiting for %s; saw %s",
                        code, isempty(reason) ? "" : ": ", strempty(reason),
                        awaiting ? awaiting :
                        s->state == S_WAIT_READY ? s->run->cfg->ready[0] :
                        s->state == S_READY ? "the other sessions to connect" : "the terminal event",
                        strempty(seen));
        gp_session_to_closing(s);
}

static void on_destroyed(void *ud) {
        session *s = ud;

        s->run->open_conns--;
        if (s->state != S_CLOSING && s->state != S_GONE)
                gp_fail_session(s, gp_session_stage(s), "ws.closed", "connection lost");
        gp_session_to_gone(s);
}

static const gp_ws_handler ws_handler = {
        .established = on_established,
        .message = on_message,
        .sent = on_sent,
        .failed = on_failed,
        .closed = on_closed,
        .destroyed = on_destroyed,
};

/* Resolves once per run; prefers IPv4 like most clients on a dual-stack loopback. */
/* Of the addresses, the first IPv4 one, else the first. */
static const char *pick_address(char * const *addresses) {
        STRV_FOREACH(a, addresses)
                if (!strchr(*a, ':'))
                        return *a;
        return addresses[0];
}

/* The run's one lookup of the WebSocket host (the sessions share it; lws gets the address), on
 * the engine's resolver: bounded by ConnectTimeout= and the run's Timeout=, ended at once by
 * gp_engine_cancel, and measured (ws_ms.dns). 0 with the address; -EHOSTUNREACH when it failed
 * every session (net.dns, or net.timeout when DNS did not answer); -ECANCELED, -ENOMEM. */
static int resolve(run *r, const char *host, char *ret, size_t retlen) {
        const gp_config *c = r->cfg;
        usec_t deadline = MIN(now_usec(CLOCK_MONOTONIC) + c->connect_timeout, r->deadline);
        _cleanup_free_ char *reason = NULL;
        const char *code = GP_CODE_NET_DNS;
        gp_dns_answer a;
        char d[32];
        int k;

        k = gp_dns_resolve(gp_http_dns(r->engine->http), host, deadline, &a);
        r->result->ws_dns = a.took;
        if (k == 0 && a.error == 0) {
                snprintf(ret, retlen, "%s", pick_address(a.addresses));
                gp_trace(r, "looked up %s in %s: %s%s", host, gp_fmt_dur(d, a.took), ret,
                         a.addresses[1] ? " (the first IPv4 address of several)" : "");
                gp_dns_answer_done(&a);
                return 0;
        }
        if (k == -ETIMEDOUT) {
                code = GP_CODE_NET_TIMEOUT;
                reason = deadline == r->deadline
                        ? strdup_printf("DNS did not answer for %s before the run's Timeout= (%s)", host,
                                        gp_fmt_dur(d, c->timeout))
                        : strdup_printf("DNS did not answer for %s within %s (ConnectTimeout=)", host,
                                        gp_fmt_dur(d, c->connect_timeout));
        } else if (k == 0 && a.error != -ENOMEM)
                reason = strdup(strempty(a.reason));
        gp_dns_answer_done(&a);
        if (k < 0 && k != -ETIMEDOUT)
                return k;
        if (!reason)
                return -ENOMEM;
        for (size_t i = 0; i < r->n; i++)
                gp_fail_session(&r->sessions[i], "ws_connect", code, "%s", reason);
        return -EHOSTUNREACH;
}

/* Query=: parameters added to the upgrade URL (u->path stays valid, replaced or not). -ENOMEM, 1
 * when a template failed the session, else 0. */
static int upgrade_query(session *s, gp_url *u) {
        STRV_FOREACH(q, s->run->cfg->ws_query) {
                _cleanup_free_ char *name = strndup(*q, strcspn(*q, "="));
                _cleanup_(secret_freep) char *value = NULL;
                int k;

                if (!name)
                        return -ENOMEM;
                k = gp_expand(s, *q + strlen(name) + 1, GP_TEMPLATE_PLAIN, &value);
                if (k < 0)
                        return k == -ENOMEM ? k : 1;
                k = gp_url_add_query(u, name, value);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* Auth=: the token as offered subprotocols (*ret_protos), a header or a query parameter (u->path
 * stays valid, replaced or not). -ENOMEM, 1 when a template failed the session, else 0. */
static int upgrade_auth(session *s, gp_url *u, char ***headers, char **ret_protos) {
        const gp_config *c = s->run->cfg;
        const char *token = s->token ? s->token : c->token;
        _cleanup_strv_free_secret_ char **protos = NULL;
        int k;

        switch (c->ws_auth) {
        case GP_WS_AUTH_SUBPROTOCOL:
                k = gp_expand_list(s, c->subprotocols, &protos);
                if (k < 0)
                        return k == -ENOMEM ? k : 1;
                *ret_protos = strv_join(protos, ", ");
                if (!*ret_protos)
                        return -ENOMEM;
                s->offered_subprotocols = true;
                break;
        case GP_WS_AUTH_HEADER:
                k = strv_consume(headers, strdup_printf("Authorization: Bearer %s", strempty(token)));
                if (k < 0)
                        return k;
                break;
        case GP_WS_AUTH_QUERY:
                k = gp_url_add_query(u, c->query_param, strempty(token));
                if (k < 0)
                        return k;
                break;
        case GP_WS_AUTH_NONE:
                break;
        }
        return 0;
}

int gp_session_connect(session *s, const gp_url *url, const char *address) {
        const gp_config *c = s->run->cfg;
        _cleanup_strv_free_secret_ char **headers = NULL;
        _cleanup_(secret_freep) char *proto_list = NULL;  /* holds the token */
        _cleanup_free_ char *err = NULL;
        gp_url u = *url;
        _cleanup_(secret_freep) char *path = NULL;  /* may hold ?token= or ?ticket= */
        gp_ws_target t;
        int k;

        path = strdup(url->path);
        if (!path)
                return -ENOMEM;
        u.path = path;
        k = gp_expand_list(s, c->ws_headers, &headers);
        if (k < 0)
                return k == -ENOMEM ? k : 0;
        k = gp_session_trace_headers(s, &headers);
        if (k < 0)
                return k;
        k = upgrade_query(s, &u);
        if (k == 0)
                k = upgrade_auth(s, &u, &headers, &proto_list);
        path = u.path;  /* gp_url_add_query replaces it */
        if (k != 0)
                return k < 0 ? k : 0;

        t = (gp_ws_target) {
                .tls = url->tls,
                .address = address,
                .port = url->port,
                .host = url->host,
                .path = u.path,
                .subprotocols = proto_list,
                .headers = headers,
                .max_message = WS_MAX_MESSAGE,
                .keep_headers = s->run->result->transcript != NULL,
        };
        if (s->run->open_conns >= s->run->max_conns) {
                /* lws would report the failed socket() as a lost connection, blaming staging. */
                gp_fail_session(s, "ws_connect", "internal",
                                "out of file descriptors: %zu WebSockets open and RLIMIT_NOFILE leaves room for "
                                "%zu (raise LimitNOFILE=)", s->run->open_conns, s->run->max_conns);
                gp_session_to_gone(s);
                return 0;
        }
        gp_session_to_connecting(s);
        k = gp_ws_connect(s->run->engine->ws, &t, &ws_handler, s, &s->conn, &err);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                gp_fail_session(s, "ws_connect", "net.connect", "%s", strempty(err));
                gp_session_to_gone(s);
        } else
                s->run->open_conns++;
        return 0;
}

int gp_step_websocket(run *r) {
        const gp_config *c = r->cfg;
        gp_tls_opts tls = { c->ca_file, c->insecure, c->client_certificate, c->client_key };
        _cleanup_free_ char *err = NULL;
        char address[INET6_ADDRSTRLEN];
        gp_url url = {0};
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
                        gp_fail_session(&r->sessions[i], "ws_connect", "internal", "%s", strempty(err));
                return k == -ENOMEM ? k : 0;
        }
        k = resolve(r, url.host, address, sizeof(address));
        if (k < 0) {
                gp_url_done(&url);
                return k == -EHOSTUNREACH ? 0 : k;
        }
        k = gp_ws_use_tls(r->engine->ws, &tls, &err);
        if (k < 0) {
                for (size_t i = 0; i < r->n; i++)
                        gp_fail_session(&r->sessions[i], "ws_connect", "tls.handshake", "%s", strempty(err));
                gp_url_done(&url);
                return 0;
        }
        gp_trace(r, "WebSocket %s (%s port %d)", c->ws_url, address, url.port);
        r->max_conns = gp_fd_budget();

        k = gp_sessions_run(r, &url, address);
        gp_url_done(&url);
        return k;
}
