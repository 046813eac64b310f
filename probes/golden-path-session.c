/* SPDX-License-Identifier: MIT */
/* Every session's WebSocket state machine: the states and their deadlines, the connect slots,
 * the lockstep, and the loop that services lws until every session is gone. What a session
 * sends and hears is golden-path-ws.c's; its lws callbacks make the transitions below.
 *
 *   IDLE ─queue─▶ QUEUED ─connect─▶ CONNECTING ─upgraded─▶ WAIT_READY ─Ready= welcome─▶ READY
 *                                       └──────────upgraded, no Ready=────────────────▶ READY
 *   READY ─every session ready (lockstep)─▶ SENDING ─written─▶ EVENTS ─verdict─▶ CLOSING ─▶ GONE
 *
 * A failure in any state closes the connection (CLOSING, within CLOSE_GRACE) or, without one,
 * makes the session GONE; a passed deadline or a cancelled run aborts it (GONE). */
#include <errno.h>

#include "golden-path-internal.h"

/* ---- Transitions -------------------------------------------------------------------------- */

void gp_session_to_connecting(session *s) {
        s->connect_start = now_usec(CLOCK_MONOTONIC);
        s->deadline = MIN(s->connect_start + s->run->cfg->connect_timeout, s->run->deadline);
        s->state = S_CONNECTING;
}

void gp_session_to_wait_ready(session *s) {
        s->state = S_WAIT_READY;  /* the ConnectTimeout= deadline still runs */
}

void gp_session_to_ready(session *s) {
        s->state = S_READY;
        s->deadline = s->run->deadline;
}

void gp_session_to_sending(session *s) {
        s->state = S_SENDING;
        s->deadline = MIN(now_usec(CLOCK_MONOTONIC) + s->run->cfg->connect_timeout, s->run->deadline);
}

void gp_session_to_events(session *s, usec_t at) {
        s->state = S_EVENTS;
        gp_stream_start(&s->res->stream);
        s->stall_deadline = s->run->cfg->stall_timeout > 0 ? at + s->run->cfg->stall_timeout : USEC_INFINITY;
        gp_session_await_event(s, at);
}

/* EventTimeout= is the longest wait for the next expected event; StallTimeout= for any frame. */
void gp_session_await_event(session *s, usec_t at) {
        s->await_deadline = MIN(at + s->run->cfg->event_timeout, s->run->deadline);
        s->deadline = MIN(s->await_deadline, s->stall_deadline);
}

void gp_session_heard_frame(session *s, usec_t at, size_t len, const char *type, bool expected) {
        const gp_config *c = s->run->cfg;
        usec_t rel = at > s->t0 ? at - s->t0 : 0;
        bool partial = type && strv_contains(c->partial, type);
        _cleanup_free_ char *clean = NULL;

        /* A type nobody configured is the server's text: it may echo a secret. */
        if (type && !partial && !expected && !strv_contains(c->expect, type) && !strv_contains(c->fail, type)) {
                clean = gp_redact_secrets(s, type, strlen(type));
                type = clean ? clean : "(unlisted)";
        }
        gp_stream_frame(&s->res->stream, rel, len, type, partial);
        if (expected)
                gp_stream_event(&s->res->stream, rel);
        if (c->stall_timeout > 0) {
                s->stall_deadline = at + c->stall_timeout;
                s->deadline = MIN(s->await_deadline, s->stall_deadline);
        }
}

/* Leaving EVENTS ends the stream: the silence since the last frame counts up to now. */
static void leave_events(session *s) {
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (s->state == S_EVENTS)
                gp_stream_end(&s->res->stream, now > s->t0 ? now - s->t0 : 0);
}

void gp_session_to_closing(session *s) {
        leave_events(s);
        s->state = S_CLOSING;
        s->deadline = now_usec(CLOCK_MONOTONIC) + CLOSE_GRACE;
}

void gp_session_to_gone(session *s) {
        leave_events(s);
        s->state = S_GONE;
}

void gp_session_end(session *s) {
        if (s->conn && gp_ws_conn_alive(s->conn)) {
                gp_tx_close(s, "client", 1000, NULL);
                gp_ws_close(s->conn);
                gp_session_to_closing(s);
        } else
                gp_session_to_gone(s);
}

void gp_session_finish_events(session *s) {
        gp_match_state st = gp_matcher_state(s->matcher);
        char d[32];

        if (st == GP_MATCH_PASSED) {
                /* The stream ends with the end event, not with our closing of it. */
                gp_stream_end(&s->res->stream, s->res->stream.last_frame);
                gp_strace(s, "response checks passed; complete at +%s",
                          gp_fmt_dur(d, gp_matcher_complete_at(s->matcher)));
        }
        else if (st == GP_MATCH_FAILED)
                gp_fail_session(s, gp_matcher_stage(s->matcher), gp_matcher_code(s->matcher), "%s",
                                strempty(gp_matcher_reason(s->matcher)));
        gp_session_end(s);
}

/* No wait for the connection to go: a deadline passed, or the run was cancelled. */
static void session_abort(session *s) {
        if (s->conn && gp_ws_conn_alive(s->conn))
                gp_tx_mark(s, "abort", "the probe dropped the connection");
        if (s->conn)
                gp_ws_abort(s->conn);
        gp_session_to_gone(s);
}

/* ---- Queue -------------------------------------------------------------------------------- */

static unsigned lookup_session(const char *id, void *ud) {
        run *r = ud;

        for (size_t i = 0; i < r->n; i++) {
                const char *own = r->sessions[i].matcher ? gp_matcher_own_id(r->sessions[i].matcher) : NULL;

                if (own && streq(own, id))
                        return (unsigned) i + 1;
        }
        return 0;
}

/* IDLE → QUEUED: the session gets its matcher and waits for a connect slot. A Correlate= template
 * that fails leaves it IDLE (failed). -ENOMEM. */
static int session_queue(session *s) {
        run *r = s->run;
        int k;

        s->own_id = NULL;
        k = gp_expand(s, r->cfg->correlate_with, GP_TEMPLATE_PLAIN, &s->own_id);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return 0;
        s->matcher = gp_matcher_new(&r->rules, s->own_id, s->res->index, lookup_session, r);
        if (!s->matcher)
                return -ENOMEM;
        s->state = S_QUEUED;
        s->deadline = r->deadline;
        return 0;
}

static int sessions_queue(run *r) {
        for (size_t i = 0; i < r->n; i++) {
                int k;

                if (r->sessions[i].res->verdict == GP_VERDICT_FAIL)
                        continue;
                k = session_queue(&r->sessions[i]);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* ---- Deadlines ---------------------------------------------------------------------------- */

/* What a passed deadline means in each state. Each returns true when the session is over (its
 * connection is aborted), false when it has moved on. */

static bool deadline_queued(session *s) {
        char d[32];

        gp_fail_session(s, "ws_connect", "net.timeout",
                        "the run's Timeout= (%s) passed before this session's connect could start",
                        gp_fmt_dur(d, s->run->cfg->timeout));
        return true;
}

static bool deadline_connecting(session *s) {
        char d[32];

        gp_fail_session(s, "ws_connect", "net.timeout", "no WebSocket handshake within %s",
                        gp_fmt_dur(d, s->deadline - s->connect_start));
        return true;
}

static bool deadline_wait_ready(session *s) {
        char d[32];

        gp_fail_session(s, "ws_connect", "events.timeout", "no %s within %s after connecting",
                        s->run->cfg->ready[0], gp_fmt_dur(d, s->deadline - s->connect_start));
        return true;
}

static bool deadline_ready(session *s) {
        char d[32];

        gp_fail_session(s, "request", "net.timeout",
                        "the run's Timeout= (%s) passed while waiting for the other sessions to connect",
                        gp_fmt_dur(d, s->run->cfg->timeout));
        return true;
}

static bool deadline_sending(session *s) {
        gp_fail_session(s, "request", "net.timeout", "the request could not be written within the deadline");
        return true;
}

static bool deadline_events(session *s) {
        const gp_config *c = s->run->cfg;

        if (s->stall_deadline <= s->await_deadline) {
                gp_session_stall(s);
                gp_session_end(s);
                return s->state != S_CLOSING;
        }
        /* Which limit passed: the run's Timeout= or EventTimeout= since the last event. */
        gp_matcher_timeout(s->matcher, s->await_deadline == s->run->deadline ? c->timeout : c->event_timeout);
        gp_session_finish_events(s);
        return s->state != S_CLOSING;  /* a close handshake gets its own grace period */
}

static bool deadline_closing(session *s) {
        (void) s;
        return true;
}

static bool (* const deadline_passed[])(session *s) = {
        [S_QUEUED] = deadline_queued,
        [S_CONNECTING] = deadline_connecting,
        [S_WAIT_READY] = deadline_wait_ready,
        [S_READY] = deadline_ready,
        [S_SENDING] = deadline_sending,
        [S_EVENTS] = deadline_events,
        [S_CLOSING] = deadline_closing,
        [S_GONE] = NULL,  /* as S_IDLE: no deadline */
};

static void check_deadline(session *s, usec_t now) {
        if (!deadline_passed[s->state] || now < s->deadline)
                return;
        gp_tx_await(s);
        if (deadline_passed[s->state](s))
                session_abort(s);
}

/* ---- Connect slots and lockstep ----------------------------------------------------------- */

/* What the loop needs to know of the sessions after the deadlines were checked. */
typedef struct tally {
        size_t connecting;      /* CONNECTING: holding a connect slot */
        size_t unready;         /* QUEUED, CONNECTING or WAIT_READY */
        size_t ready;           /* READY */
        bool busy;              /* any session neither IDLE nor GONE */
        usec_t next;            /* the nearest deadline */
} tally;

static void tally_add(tally *t, const session *s) {
        if (s->state == S_CONNECTING)
                t->connecting++;
        if (s->state == S_QUEUED || s->state == S_CONNECTING || s->state == S_WAIT_READY)
                t->unready++;
        else if (s->state == S_READY)
                t->ready++;
        if (s->state != S_GONE && s->state != S_IDLE) {
                t->busy = true;
                t->next = MIN(t->next, s->deadline);
        }
}

/* A cancelled run aborts every session; then the deadlines. */
static tally sessions_check(run *r, usec_t now) {
        tally t = { .next = USEC_INFINITY };

        for (size_t i = 0; i < r->n; i++) {
                session *s = &r->sessions[i];

                if (atomic_load(&r->engine->cancelled) && s->state != S_GONE && s->state != S_IDLE)
                        session_abort(s);
                check_deadline(s, now);
                tally_add(&t, s);
        }
        return t;
}

/* QUEUED → CONNECTING in index order, WS_MAX_CONNECTING at a time; *next_queued is where the
 * queue goes on. -ENOMEM. */
static int sessions_connect(run *r, const gp_url *url, const char *address, size_t *next_queued, tally *t) {
        for (; *next_queued < r->n && t->connecting < WS_MAX_CONNECTING; (*next_queued)++) {
                session *s = &r->sessions[*next_queued];
                int k;

                if (s->state != S_QUEUED)
                        continue;
                k = gp_session_connect(s, url, address);
                if (k < 0)
                        return k;
                if (s->state == S_QUEUED)
                        gp_session_to_gone(s);  /* failed before connecting (a template) */
                else if (s->state == S_CONNECTING) {
                        t->connecting++;
                        t->next = MIN(t->next, s->deadline);
                }
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
                        gp_fail_session(s, "ws_connect", "ws.identity",
                                        "sessions %u and %u are one user to the server ('%s'): their "
                                        "isolation cannot be checked (each session needs its own User=, "
                                        "e.g. probe${index}@...)", o->res->index, s->res->index, s->identity);
                        gp_session_end(s);
                        break;
                }
        }
}

/* READY → SENDING, every session at once: the lockstep. All sessions run together (isolation is
 * checked between live sessions) and no handshake competes with the reading of events. */
static void sessions_release(run *r) {
        if (r->cfg->identity_paths && r->n > 1)
                check_shared_identity(r);
        for (size_t i = 0; i < r->n; i++)
                if (r->sessions[i].state == S_READY)
                        gp_session_send_request(&r->sessions[i]);
}

/* ---- The loop ----------------------------------------------------------------------------- */

int gp_sessions_run(run *r, const gp_url *url, const char *address) {
        size_t next_queued = 0;
        int k;

        k = sessions_queue(r);
        if (k < 0)
                return k;
        for (;;) {
                tally t = sessions_check(r, now_usec(CLOCK_MONOTONIC));

                k = sessions_connect(r, url, address, &next_queued, &t);
                if (k < 0)
                        return k;
                if (t.unready == 0 && t.ready > 0) {
                        sessions_release(r);
                        continue;  /* their deadlines changed */
                }
                if (!t.busy)
                        return 0;
                gp_ws_wake_at(r->engine->ws, t.next);
                if (gp_ws_service(r->engine->ws) < 0)
                        return -EIO;
        }
}

const char *gp_session_stage(const session *s) {
        switch (s->state) {
        case S_IDLE:
                return s->run->stage ? s->run->stage : "preflight";
        case S_QUEUED:
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
