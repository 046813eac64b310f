/* SPDX-License-Identifier: MIT */
/* The WebSocket, request, events and response steps: every session's state machine, driven by
 * probes/ws.c callbacks and the deadlines checked between service calls. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>

#include "golden-path-internal.h"
#include "jsonpath.h"
#include "url.h"

#define WS_MAX_MESSAGE (16 * 1024 * 1024)
#define CLOSE_GRACE (2 * USEC_PER_SEC)  /* how long a close handshake may take after the verdict */

/* ---- WebSocket ---------------------------------------------------------------------------- */

/* The session's verdict is known: close its connection (within CLOSE_GRACE), or mark it gone. */
static void end_session(session *s) {
        if (s->conn && gp_ws_conn_alive(s->conn)) {
                gp_ws_close(s->conn);
                s->state = S_CLOSING;
                s->deadline = now_usec(CLOCK_MONOTONIC) + CLOSE_GRACE;
        } else
                s->state = S_GONE;
}

static void send_request(session *s) {
        const gp_config *c = s->run->cfg;
        _cleanup_free_ char *msg = NULL;
        int k;

        k = expand(s, c->message, gp_template_is_json(c->message) ? GP_TEMPLATE_JSON : GP_TEMPLATE_PLAIN, &msg);
        if (k < 0) {
                session_fail(s, "request", "internal", "expanding Message= failed");
                end_session(s);
                return;
        }
        k = gp_ws_send_text(s->conn, msg, strlen(msg));
        if (k < 0) {
                session_fail(s, "request", k == -ENOTCONN ? "ws.closed" : "internal", "sending the request failed: %s",
                             strerror(-k));
                end_session(s);
                return;
        }
        s->state = S_SENDING;
        s->deadline = MIN(now_usec(CLOCK_MONOTONIC) + c->connect_timeout, s->run->deadline);
}

static void on_established(void *ud, const char *selected) {
        session *s = ud;
        const gp_config *c = s->run->cfg;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        char d[32];

        _cleanup_free_ char *shown = isempty(selected) ? NULL : redact_secrets(s, selected, strlen(selected));

        strace(s, "WebSocket established in %s%s%s", fmt_dur(d, now - s->connect_start),
               shown ? ", subprotocol " : "", strempty(shown));
        if (s->offered_subprotocols && isempty(selected) && c->require_subprotocol) {
                /* RFC 6455 4.1: a client that offered subprotocols fails a handshake that selects
                 * none; browsers do, so the product's own frontend cannot connect. */
                session_fail(s, "ws_connect", "ws.upgrade",
                             "the server selected none of the offered subprotocols (browsers refuse this "
                             "upgrade; RequireSubprotocol=no accepts it)");
                end_session(s);
                return;
        }
        if (c->ready) {
                s->state = S_WAIT_READY;  /* the ConnectTimeout= deadline still runs */
                return;
        }
        s->res->phases[GP_PHASE_WS_CONNECT] = now - s->connect_start;
        s->state = S_READY;
        s->deadline = s->run->deadline;
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
                session_fail(s, "ws_connect", "ws.identity", "the welcome names no user (no string at IdentityPath=%s)",
                             strempty(paths));
                free(paths);
                return;
        }
        s->identity = strdup(v);
        if (!s->identity) {
                session_fail(s, "ws_connect", "internal", "out of memory");
                return;
        }
        if (!c->identity)
                return;
        if (expand(s, c->identity, GP_TEMPLATE_PLAIN, &s->identity_ours) < 0)
                return;
        if (!identity_matches(s->identity, strempty(s->identity_ours)))
                session_fail(s, "ws_connect", "ws.identity",
                             "the server ignored the probe's credentials: the welcome names user '%s', the login "
                             "made us '%s' (demo mode or a relaxed auth fallback?)", s->identity,
                             strempty(s->identity_ours));
        else
                strace(s, "the server knows us as %s", s->identity);
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

                        session_fail(s, "ws_connect", "ws.auth", "the server refused the credentials after the "
                                     "upgrade: %s%s%s", type, msg ? ": " : "", strempty(msg));
                        json_decref(root);
                        end_session(s);
                        return;
                }
        ready = s->state == S_WAIT_READY ? welcome_type(c, root) : NULL;
        if (ready && strv_contains(c->ready, ready)) {
                s->res->phases[GP_PHASE_WS_CONNECT] = at - s->connect_start;
                strace(s, "ready: %s received", ready);
                check_identity(s, root);
                if (s->res->verdict == GP_VERDICT_FAIL)
                        end_session(s);
                else {
                        s->state = S_READY;
                        s->deadline = s->run->deadline;
                }
        }
        json_decref(root);
}

static void finish_events(session *s) {
        gp_match_state st = gp_matcher_state(s->matcher);
        char d[32];

        if (st == GP_MATCH_PASSED)
                strace(s, "response checks passed; complete at +%s", fmt_dur(d, gp_matcher_complete_at(s->matcher)));
        else if (st == GP_MATCH_FAILED)
                session_fail(s, gp_matcher_stage(s->matcher), gp_matcher_code(s->matcher), "%s",
                             strempty(gp_matcher_reason(s->matcher)));
        end_session(s);
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
int collect_events(session *s) {
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

static void on_message(void *ud, const char *data, size_t len, bool binary, usec_t at) {
        session *s = ud;
        const gp_config *c = s->run->cfg;
        unsigned counts[32] = {0}, total;
        size_t n_before;
        gp_match_state st;

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
        s->res->t0_mono = at;
        s->state = S_EVENTS;
        s->deadline = MIN(at + c->event_timeout, s->run->deadline);
        strace(s, "request sent (t=0)");
}

static const char *stage_of(const session *s) {
        switch (s->state) {
        case S_CONNECTING:
        case S_WAIT_READY:
                return "ws_connect";
        case S_READY:
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
        if (code == 1008 && (s->state == S_WAIT_READY || s->state == S_READY)) {
                /* Policy violation before the request: how servers that authenticate after the
                 * upgrade refuse a token (RFC 6455 7.4.1). */
                session_fail(s, "ws_connect", "ws.auth", "the server refused the credentials after the upgrade: "
                             "close 1008%s%s", isempty(reason) ? "" : ": ", strempty(reason));
                s->state = S_CLOSING;
                s->deadline = now_usec(CLOCK_MONOTONIC) + CLOSE_GRACE;
                return;
        }
        seen = seen_list(s);
        awaiting = s->matcher ? gp_matcher_awaiting(s->matcher) : NULL;
        session_fail(s, stage_of(s), "ws.closed", "connection closed (code %d%s%s) while waiting for %s; saw %s",
                     code, isempty(reason) ? "" : ": ", strempty(reason),
                     awaiting ? awaiting :
                     s->state == S_WAIT_READY ? s->run->cfg->ready[0] :
                     s->state == S_READY ? "the other sessions to connect" : "the terminal event",
                     strempty(seen));
        s->state = S_CLOSING;
        s->deadline = now_usec(CLOCK_MONOTONIC) + CLOSE_GRACE;
}

static void on_destroyed(void *ud) {
        session *s = ud;

        s->run->open_conns--;
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

        for (size_t i = 0; i < r->n; i++) {
                const char *own = r->sessions[i].matcher ? gp_matcher_own_id(r->sessions[i].matcher) : NULL;

                if (own && streq(own, id))
                        return (unsigned) i + 1;
        }
        return 0;
}

/* Whether two sessions are one user to the server: the same name in full, or, when the server
 * cuts names short (so distinct users can look alike), the same user after the login too. */
static bool same_user(const session *a, const session *b) {
        size_t n = strlen(a->identity);

        if (!streq(a->identity, b->identity))
                return false;
        if (n < 3 || !streq(a->identity + n - 3, "..."))
                return true;
        return a->identity_ours && b->identity_ours && streq(a->identity_ours, b->identity_ours);
}

/* Sessions the server takes for one user share their events (it sends to every connection of
 * a user): such a run cannot show isolation, whatever arrives. */
static void check_shared_identity(run *r) {
        for (size_t i = 0; i < r->n; i++) {
                session *s = &r->sessions[i];

                if (s->state != S_READY || !s->identity)
                        continue;
                for (size_t j = 0; j < i; j++) {
                        const session *o = &r->sessions[j];

                        if (!o->identity || !same_user(o, s) ||
                            (o->state != S_READY && o->res->verdict == GP_VERDICT_FAIL))
                                continue;
                        session_fail(s, "ws_connect", "ws.identity",
                                     "sessions %u and %u are one user to the server ('%s'): their isolation cannot "
                                     "be checked (each session needs its own User=, e.g. probe${index}@...)",
                                     o->res->index, s->res->index, s->identity);
                        end_session(s);
                        break;
                }
        }
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
        STRV_FOREACH(q, c->ws_query) {
                _cleanup_free_ char *name = strndup(*q, strcspn(*q, "="));
                _cleanup_(secret_freep) char *value = NULL;

                if (!name)
                        return -ENOMEM;
                k = expand(s, *q + strlen(name) + 1, GP_TEMPLATE_PLAIN, &value);
                if (k < 0)
                        return k == -ENOMEM ? k : 0;
                k = gp_url_add_query(&u, name, value);
                if (k < 0)
                        return k;
                path = u.path;  /* gp_url_add_query replaced it */
        }
        switch (c->ws_auth) {
        case GP_WS_AUTH_SUBPROTOCOL:
                k = expand_list(s, c->subprotocols, &protos);
                if (k < 0)
                        return k == -ENOMEM ? k : 0;
                proto_list = strv_join(protos, ", ");
                if (!proto_list)
                        return -ENOMEM;
                s->offered_subprotocols = true;
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
        if (s->run->open_conns >= s->run->max_conns) {
                /* lws would report the failed socket() as a lost connection, blaming staging. */
                session_fail(s, "ws_connect", "internal",
                             "out of file descriptors: %zu WebSockets open and RLIMIT_NOFILE leaves room for %zu "
                             "(raise LimitNOFILE=)", s->run->open_conns, s->run->max_conns);
                s->state = S_GONE;
                return 0;
        }
        s->connect_start = now_usec(CLOCK_MONOTONIC);
        s->deadline = MIN(s->connect_start + c->connect_timeout, s->run->deadline);
        s->state = S_CONNECTING;
        k = gp_ws_connect(s->run->engine->ws, &t, &ws_handler, s, &s->conn, &err);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                session_fail(s, "ws_connect", "net.connect", "%s", strempty(err));
                s->state = S_GONE;
        } else
                s->run->open_conns++;
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
        case S_QUEUED:
                session_fail(s, "ws_connect", "net.timeout",
                             "the run's Timeout= (%s) passed before this session's connect could start",
                             fmt_dur(d, c->timeout));
                break;
        case S_CONNECTING:
                session_fail(s, "ws_connect", "net.timeout", "no WebSocket handshake within %s",
                             fmt_dur(d, s->deadline - s->connect_start));
                break;
        case S_WAIT_READY:
                session_fail(s, "ws_connect", "events.timeout", "no %s within %s after connecting", c->ready[0],
                             fmt_dur(d, s->deadline - s->connect_start));
                break;
        case S_READY:
                session_fail(s, "request", "net.timeout",
                             "the run's Timeout= (%s) passed while waiting for the other sessions to connect",
                             fmt_dur(d, c->timeout));
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

int step_websocket(run *r) {
        const gp_config *c = r->cfg;
        gp_tls_opts tls = { c->ca_file, c->insecure, c->client_certificate, c->client_key };
        _cleanup_free_ char *err = NULL;
        char address[INET6_ADDRSTRLEN];
        gp_url url = {0};
        usec_t took;
        size_t active = 0, next_queued = 0;
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
        r->max_conns = fd_budget();

        for (size_t i = 0; i < r->n; i++) {
                session *s = &r->sessions[i];

                if (s->res->verdict == GP_VERDICT_FAIL)
                        continue;
                s->own_id = NULL;
                k = expand(s, c->correlate_with, GP_TEMPLATE_PLAIN, &s->own_id);
                if (k == -ENOMEM)
                        goto out;
                if (k < 0)
                        continue;
                s->matcher = gp_matcher_new(&r->rules, s->own_id, s->res->index, lookup_session, r);
                if (!s->matcher) {
                        k = -ENOMEM;
                        goto out;
                }
                s->state = S_QUEUED;
                s->deadline = r->deadline;
        }

        for (;;) {
                usec_t now = now_usec(CLOCK_MONOTONIC), next = USEC_INFINITY;
                size_t connecting = 0, unready = 0, ready = 0;
                bool busy = false;

                for (size_t i = 0; i < r->n; i++) {
                        session *s = &r->sessions[i];

                        if (atomic_load(&r->engine->cancelled) && s->state != S_GONE && s->state != S_IDLE) {
                                if (s->conn)
                                        gp_ws_abort(s->conn);
                                s->state = S_GONE;
                        }
                        check_deadline(s, now);
                        if (s->state == S_CONNECTING)
                                connecting++;
                        if (s->state == S_QUEUED || s->state == S_CONNECTING || s->state == S_WAIT_READY)
                                unready++;
                        else if (s->state == S_READY)
                                ready++;
                        if (s->state != S_GONE && s->state != S_IDLE) {
                                busy = true;
                                next = MIN(next, s->deadline);
                        }
                }
                /* Sessions connect in index order, WS_MAX_CONNECTING at a time. */
                for (; next_queued < r->n && connecting < WS_MAX_CONNECTING; next_queued++) {
                        session *s = &r->sessions[next_queued];

                        if (s->state != S_QUEUED)
                                continue;
                        k = session_connect(s, &url, address);
                        if (k < 0)
                                goto out;
                        if (s->state == S_QUEUED)
                                s->state = S_GONE;  /* failed before connecting (a template) */
                        else if (s->state == S_CONNECTING) {
                                connecting++;
                                next = MIN(next, s->deadline);
                        }
                }
                /* Lockstep: every request goes out once every session is connected, so all
                 * sessions run at once (isolation is checked between live sessions) and no
                 * handshake competes with the reading of events. */
                if (unready == 0 && ready > 0) {
                        if (c->identity_paths && r->n > 1)
                                check_shared_identity(r);
                        for (size_t i = 0; i < r->n; i++)
                                if (r->sessions[i].state == S_READY)
                                        send_request(&r->sessions[i]);
                        continue;  /* their deadlines changed */
                }
                if (!busy)
                        break;
                gp_ws_wake_at(r->engine->ws, next);
                if (gp_ws_service(r->engine->ws) < 0) {
                        k = -EIO;
                        goto out;
                }
        }
        k = 0;
out:
        gp_url_done(&url);
        return k;
}
