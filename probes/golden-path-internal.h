/* SPDX-License-Identifier: MIT */
#pragma once

/* What the golden-path files share: the engine, a run and its sessions. Internal to probes/. */

#include <stdatomic.h>

#include "codes.h"  /* the SPEC codes by name: GP_CODE_NET_DNS, ... */
#include "golden-path.h"
#include "event-cond.h"
#include <jansson.h>
#include "http.h"
#include "matcher.h"
#include "template.h"
#include "url.h"
#include "ws.h"

#define LOGIN_MAX_REPLY (1024 * 1024)
#define WS_MAX_MESSAGE (16 * 1024 * 1024)
#define CLOSE_GRACE (2 * USEC_PER_SEC)  /* how long a close handshake may take after the verdict */
/* WebSocket handshakes in flight at once: each holds ~70 KiB of TLS state and costs CPU that
 * delays the events of sessions already running. The others wait their turn; a session's
 * ws_connect time starts when its own connect does. */
#define WS_MAX_CONNECTING 128

struct gp_engine {
        gp_http *http;
        gp_ws *ws;
        atomic_bool cancelled;
        gp_engine_transcripts transcripts;
        char next_run_id[37];   /* gp_engine_set_run_id(): the next run's id; empty: a new one */
};

typedef enum session_state {
        S_IDLE,        /* failed before the WebSocket step, or not started */
        S_QUEUED,      /* waiting for a connect slot (WS_MAX_CONNECTING) */
        S_CONNECTING,
        S_WAIT_READY,
        S_READY,       /* connected (and Ready= seen): waits until every session is */
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
        char traceparent[56];   /* W3C traceparent of its requests; "" when getrandom failed */
        char *user;
        char *token;            /* secret */
        char *own_id;           /* correlation id */
        gp_template_capture *captures;  /* Capture= values of the login and the steps (owned) */
        size_t n_captures;
        char **secret_values;   /* CaptureSecret= values: redacted like the token */
        char *identity;         /* who the welcome says we are (IdentityPath=), or NULL */
        char *identity_ours;    /* who the login made us (Identity= expanded), or NULL */
        bool offered_subprotocols;
        gp_matcher *matcher;
        gp_ws_conn *conn;
        session_state state;
        usec_t connect_start;
        usec_t t0;              /* request written */
        usec_t deadline;        /* of the current wait */
        usec_t await_deadline;  /* EVENTS: the next expected event's (EventTimeout=, Timeout=) */
        usec_t stall_deadline;  /* EVENTS: the next frame's (StallTimeout=); USEC_INFINITY = off */
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
        const char *stage;      /* of the step under way: preflight, login, step, ws_connect */
        gp_trace_fn trace;
        void *trace_ud;
        gp_matcher_rules rules;
        gp_event_cond *auth_fail;  /* AuthFail= parsed */
        size_t n_auth_fail;
        unsigned fail_seq;
        size_t open_conns;      /* WebSocket connections not yet destroyed */
        size_t max_conns;       /* what RLIMIT_NOFILE leaves for them */
        struct tx_entry *tx;    /* the transcript's entries as recorded, until gp_tx_settle */
        size_t n_tx, n_tx_alloc, tx_bytes;
        bool tx_settled;
};

void gp_trace(run *r, const char *fmt, ...) _printf_(2, 3);
/* A trace line of one session: prefixed "[3] " when Users > 1. */
void gp_strace(const session *s, const char *fmt, ...) _printf_(2, 3);
char *gp_fmt_dur(char buf[32], usec_t u);
/* Sockets a run may hold at once: the soft RLIMIT_NOFILE (gpprobed raised it to the hard one)
 * less a reserve for lws's pipe, the journal, the status files and libraries. */
size_t gp_fd_budget(void);
/* Fails the session (first failure wins) and traces it: the reason without the run's secrets goes
 * into its result (the model's gp_session_fail). */
void gp_fail_session(session *s, const char *stage, const char *code, const char *fmt, ...) _printf_(4, 5);
/* Expands a template with the session's variables; a bad template fails the session. */
int gp_expand(session *s, const char *tmpl, gp_template_flags flags, char **ret);
/* The list expanded item by item; free it with strv_free_secret() (headers may hold the token). */
int gp_expand_list(session *s, char * const *l, char ***ret);
/* TraceContext=yes: appends "traceparent: <the session's>" and, with TraceState=, "tracestate:"
 * to a request's expanded headers, unless they already name that header (Header= wins).
 * -ENOMEM. */
int gp_session_trace_headers(const session *s, char ***headers);
/* The session's span id and traceparent, from the run's trace id (none without one). */
void gp_session_trace_init(session *s);
/* A printable, bounded excerpt of a server reply for a reason, without the run's secrets. */
char *gp_excerpt(const session *s, const char *data, size_t len, size_t max);
/* A copy of len bytes of data (up to a NUL) with every form of the session's password and tokens
 * replaced by "(redacted)". NULL on ENOMEM. */
char *gp_redact_secrets(const session *s, const char *data, size_t len);

/* Stores the values at a reply's Capture= paths (NAME=PATH) in the session; a missing one fails
 * the session with code, naming what. -ENOMEM, or 0 (the session may have failed). */
int gp_session_capture(session *s, json_t *root, char * const *captures, bool secret, const char *what,
                       const char *stage, const char *code);
void gp_session_captures_free(session *s);

/* The stage a session is at, for its failures and the templates it expands: the HTTP step
 * under way (S_IDLE), else ws_connect, request or events by its state. */
const char *gp_session_stage(const session *s);

/* The steps, in order; each skips sessions that already failed. -ENOMEM/-ECANCELED/-EIO. */
int gp_step_preflight(run *r);
int gp_step_login(run *r);
int gp_step_http(run *r);     /* the [Step] sections */
int gp_step_websocket(run *r);
/* Copies what the session's matcher saw (events, first_event and complete) into its result. */
int gp_collect_events(session *s);

/* golden-path-transcript.c: the run's failure transcript (daemon/model/transcript.h), recorded
 * as it happens when the run keeps one, else no-ops. What is recorded is kept as it came until
 * gp_tx_settle, which makes the entries only when the verdict keeps the transcript. Every text
 * is redacted then: the password, the tokens and CaptureSecret= values in all their forms (the
 * run's, all known by then), and the TranscriptRedact= paths. */
/* The run's recording when it keeps one (the engine's setting, else Transcripts= and a
 * StateFile=), else NULL (also on ENOMEM). */
struct gp_transcript *gp_tx_new(const gp_engine *e, const gp_config *cfg, usec_t start);
/* A reply to a request of the round that started at `at`; url without its query. */
void gp_tx_http(session *s, usec_t at, const char *step, const char *method, const char *url,
                const gp_http_reply *rep);
/* The upgrade: established (error NULL) or refused, with what the connection kept of the reply. */
void gp_tx_upgrade(session *s, const char *selected, const char *error);
void gp_tx_frame(session *s, usec_t at, bool incoming, bool binary, const char *data, size_t len);
void gp_tx_close(session *s, const char *by, int code, const char *reason);
/* A note of kind (e.g. "fail", "abort") at now; text is redacted. */
void gp_tx_mark(session *s, const char *kind, const char *text);
/* The session failed: "CODE (stage): reason" (reason already redacted). */
void gp_tx_fail(session *s, const char *code, const char *stage, const char *reason);
/* The session's deadline passed: what its state was waiting for ("await"). */
void gp_tx_await(session *s);
/* Once the run's verdict is known: the transcript's entries made and kept (a failed or degraded
 * run, or the engine's GP_ENGINE_TRANSCRIPTS_ALWAYS), or the transcript dropped; what was recorded
 * is zeroed and freed. Later entries are made at once. Also what run_free calls, to free. */
void gp_tx_settle(run *r);

/* golden-path-ws.c: what a session sends. QUEUED → CONNECTING: the upgrade request (headers,
 * Query=, the token) goes out; a session that cannot connect fails and is GONE (one whose
 * templates fail stays QUEUED). -ENOMEM, else 0. */
int gp_session_connect(session *s, const gp_url *url, const char *address);
/* READY → SENDING: writes the Message= request. */
void gp_session_send_request(session *s);
/* EVENTS: StallTimeout= passed without a frame: fails the session (events.stall), naming the
 * silence, the last frame's type and what it awaited. */
void gp_session_stall(session *s);

/* golden-path-session.c: every session's state machine. The transitions set the state and the
 * deadline of its next wait; golden-path-ws.c makes them as lws reports. */
void gp_session_to_connecting(session *s);         /* ConnectTimeout= starts */
void gp_session_to_wait_ready(session *s);         /* upgraded, Ready= awaited */
void gp_session_to_ready(session *s);              /* waits until every session is */
void gp_session_to_sending(session *s);
void gp_session_to_events(session *s, usec_t at);  /* the request was written at `at` */
void gp_session_await_event(session *s, usec_t at);  /* an expected event came at `at` */
/* EVENTS: a frame of len bytes came at `at`, of type (NULL: none) and an expected event or not:
 * the streaming figures, and StallTimeout= starts again. */
void gp_session_heard_frame(session *s, usec_t at, size_t len, const char *type, bool expected);
void gp_session_to_closing(session *s);            /* the connection goes, within CLOSE_GRACE */
void gp_session_to_gone(session *s);
/* The verdict is known: closes the connection (CLOSING), or GONE without a live one. */
void gp_session_end(session *s);
/* The matcher's verdict (passed, or failed with its stage, code and reason) ends the session. */
void gp_session_finish_events(session *s);
/* Queues every session still running, then connects, releases and services them until every
 * one is gone. -ENOMEM/-EIO. */
int gp_sessions_run(run *r, const gp_url *url, const char *address);
