/* SPDX-License-Identifier: MIT */
#pragma once

/* The outcome of one golden-path run (SPEC section 5, the `last` object), and of each of its
 * sessions. Pure data: built by probes/golden-path*.c, read by the daemon's exporters and the
 * status file; links neither libcurl nor libwebsockets. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "stream.h"
#include "time-util.h"
#include "util.h"

/* One expected (or Fail=) event type as a session saw it. */
typedef struct gp_event_stat {
        char *type;
        usec_t first_at;     /* relative to t=0 */
        unsigned count;
} gp_event_stat;

typedef enum gp_verdict {
        GP_VERDICT_PASS,
        GP_VERDICT_DEGRADED,
        GP_VERDICT_FAIL,
        GP_VERDICT_CANCELLED, /* stopped by the daemon; never recorded */
} gp_verdict;

const char *gp_verdict_to_string(gp_verdict v);

typedef enum gp_phase {
        GP_PHASE_PREFLIGHT,
        GP_PHASE_LOGIN,
        GP_PHASE_WS_CONNECT,
        GP_PHASE_FIRST_EVENT,
        GP_PHASE_COMPLETE,
        _GP_PHASE_MAX,
} gp_phase;

/* "preflight", "login", "ws_connect", "first_event", "complete" */
const char *gp_phase_to_string(gp_phase p);

/* libcurl's view of the login request, each a duration of its own (not cumulative). */
typedef struct gp_http_timing {
        usec_t dns;
        usec_t connect;
        usec_t tls;
        usec_t first_byte;
        usec_t total;
} gp_http_timing;

/* An endpoint's certificates (SPEC section 8, issue 12): notAfter in seconds since the epoch of
 * the leaf, and the earliest of the chain the server sent; 0 when no handshake showed them. */
typedef struct gp_cert_expiry {
        int64_t leaf;
        int64_t earliest;
} gp_cert_expiry;

/* The WebSocket connect of one session, each phase a duration of its own (like
 * gp_http_timing): TCP connect, TLS handshake (USEC_INFINITY for ws://), the upgrade request
 * until the 101, and from the 101 until Ready= (0 without Ready=). USEC_INFINITY = did not
 * happen. */
typedef struct gp_ws_timing {
        usec_t connect;
        usec_t tls;
        usec_t upgrade;
        usec_t ready;
} gp_ws_timing;

typedef struct gp_session_result {
        unsigned index;               /* 1..Users */
        char run_id[37];
        char span_id[17];             /* W3C span id of its requests (hex), "" when none */
        gp_verdict verdict;           /* PASS or FAIL: SLOs are judged for the whole run */
        const char *stage;            /* static string, NULL when passed */
        char *code;
        char *reason;
        usec_t phases[_GP_PHASE_MAX]; /* USEC_INFINITY = did not happen */
        gp_http_timing login_timing;
        bool have_login_timing;
        gp_ws_timing ws_timing;
        gp_event_stat *events;
        size_t n_events;
        unsigned ignored;
        unsigned malformed;
        size_t response_len;
        usec_t t0_mono;               /* CLOCK_MONOTONIC when the request was written; 0 = never */
        gp_stream stream;             /* streaming quality (issue 12): frames, gaps, silences, partials */
} gp_session_result;

typedef struct gp_result {
        char run_id[37];
        usec_t started_at;            /* CLOCK_REALTIME */
        usec_t finished_at;           /* CLOCK_REALTIME */
        usec_t started_mono;          /* CLOCK_MONOTONIC, for scheduling */
        usec_t duration;              /* monotonic */
        gp_verdict verdict;
        const char *stage;            /* static string or NULL */
        char *code;
        char *reason;
        unsigned users;
        usec_t phases[_GP_PHASE_MAX]; /* Users=1: the session's; else the slowest session's */
        unsigned slowest[_GP_PHASE_MAX]; /* index of the session whose phase that is; 0 = none */
        usec_t ws_dns;                /* the WebSocket host's lookup, once per run; USEC_INFINITY = none */
        char trace_id[33];            /* W3C trace id of the run (hex), "" when none */
        gp_cert_expiry login_cert;    /* the login endpoint's certificates */
        gp_cert_expiry ws_cert;       /* the WebSocket endpoint's */
        gp_session_result *sessions;
        size_t n_sessions;
        char **warnings;              /* e.g. Insecure=yes; shown every run */
        bool mono_times;              /* JSON carries absolute CLOCK_MONOTONIC times (benchmarks) */
        struct gp_transcript *transcript; /* what happened (transcript.h), owned; NULL when not recorded */
        char *transcript_path;        /* where the daemon wrote it ("transcript" in JSON), or NULL */
} gp_result;

gp_result *gp_result_new(unsigned users);
gp_result *gp_result_free(gp_result *r); /* NULL-safe */
static inline void gp_result_freep(gp_result **r) {
        gp_result_free(*r);
}
#define _cleanup_result_ _cleanup_(gp_result_freep)

/* Sets verdict FAIL with stage, code and reason (printf-style), unless already failed. */
void gp_session_fail(gp_session_result *s, const char *stage, const char *code, const char *fmt, ...)
        _printf_(4, 5);

/* The `last` object of SPEC section 5. NULL on ENOMEM. */
json_t *gp_result_to_json(const gp_result *r);

/* The run's streaming figures over its sessions (stream.h). -ENOMEM. */
int gp_result_stream_figures(const gp_result *r, gp_stream_figures *ret);

/* A JSON number in ms with 0.1 ms precision, or null for USEC_INFINITY. */
json_t *gp_json_ms(usec_t u);
