/* SPDX-License-Identifier: MIT */
#pragma once

/* What the golden-path files share: the engine, a run and its sessions. Internal to probes/. */

#include <stdatomic.h>

#include "golden-path.h"
#include "event-cond.h"
#include <jansson.h>
#include "http.h"
#include "matcher.h"
#include "template.h"
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
        gp_event_cond *auth_fail;  /* AuthFail= parsed */
        size_t n_auth_fail;
        unsigned fail_seq;
        size_t open_conns;      /* WebSocket connections not yet destroyed */
        size_t max_conns;       /* what RLIMIT_NOFILE leaves for them */
};

void trace(run *r, const char *fmt, ...) _printf_(2, 3);
/* A trace line of one session: prefixed "[3] " when Users > 1. */
void strace(const session *s, const char *fmt, ...) _printf_(2, 3);
char *fmt_dur(char buf[32], usec_t u);
/* Sockets a run may hold at once: the soft RLIMIT_NOFILE (gpprobed raised it to the hard one)
 * less a reserve for lws's pipe, the journal, the status files and libraries. */
size_t fd_budget(void);
/* Fails the session (first failure wins) and traces it. */
void session_fail(session *s, const char *stage, const char *code, const char *fmt, ...) _printf_(4, 5);
/* Expands a template with the session's variables; a bad template fails the session. */
int expand(session *s, const char *tmpl, gp_template_flags flags, char **ret);
int expand_list(session *s, char * const *l, char ***ret);
/* A printable, bounded excerpt of a server reply for a reason, without the run's secrets. */
char *excerpt(const session *s, const char *data, size_t len, size_t max);
/* A copy of len bytes of data (up to a NUL) with every form of the session's password and tokens
 * replaced by "(redacted)". NULL on ENOMEM. */
char *redact_secrets(const session *s, const char *data, size_t len);

/* Stores the values at a reply's Capture= paths (NAME=PATH) in the session; a missing one fails
 * the session with code, naming what. -ENOMEM, or 0 (the session may have failed). */
int session_capture(session *s, json_t *root, char * const *captures, bool secret, const char *what,
                    const char *stage, const char *code);
void session_captures_free(session *s);

/* The steps, in order; each skips sessions that already failed. -ENOMEM/-ECANCELED/-EIO. */
int step_preflight(run *r);
int step_login(run *r);
int step_http(run *r);     /* the [Step] sections */
int step_websocket(run *r);
/* Copies what the session's matcher saw (events, first_event and complete) into its result. */
int collect_events(session *s);
