/* SPDX-License-Identifier: MIT */
#pragma once

/* The codes of SPEC section 2, in one table: each code, the stages it is reported at, what it
 * means and whom it blames. The probes report them by these names, the metrics export every one
 * from the start, gpprobectl can explain them, and tests/integration/test_docs_codes.py fails
 * when docs/spec.md, docs/runbook.md, gpprobed(8) or docs/prometheus/README.md disagree with it.
 * Codes are stable strings: renaming one is a breaking change (SPEC). Pure data. */

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* The steps of SPEC section 1, as the `stage` of a result names them. */
typedef enum gp_stage {
        GP_STAGE_PREFLIGHT,
        GP_STAGE_LOGIN,
        GP_STAGE_STEP,
        GP_STAGE_WS_CONNECT,
        GP_STAGE_REQUEST,
        GP_STAGE_EVENTS,
        GP_STAGE_RESPONSE,
        _GP_STAGE_MAX,
} gp_stage;

/* "preflight", "login", "step", "ws_connect", "request", "events", "response"; NULL if invalid. */
const char *gp_stage_to_string(gp_stage s);

#define GP_STAGE_BIT(s) (1U << GP_STAGE_##s)
#define GP_STAGES_TRANSPORT \
        (GP_STAGE_BIT(PREFLIGHT) | GP_STAGE_BIT(LOGIN) | GP_STAGE_BIT(STEP) | GP_STAGE_BIT(WS_CONNECT))
#define GP_STAGES_WEBSOCKET (GP_STAGE_BIT(WS_CONNECT) | GP_STAGE_BIT(REQUEST) | GP_STAGE_BIT(EVENTS))
#define GP_STAGES_ANY ((1U << _GP_STAGE_MAX) - 1)

typedef enum gp_blame {
        GP_BLAME_STAGING,     /* staging did not do what a user needs */
        GP_BLAME_PROBE,       /* the probe itself failed: never blamed on staging */
} gp_blame;

typedef enum gp_code_kind {
        GP_CODE_FAILURE,      /* the code of a failed run */
        GP_CODE_DEGRADED,     /* the code of a degraded run: an [SLO] limit exceeded */
} gp_code_kind;

/* X(NAME, "code", kind, stages, blame, "meaning"): the table. A new code goes here, in the SPEC
 * and in the documents the test reads. */
#define GP_CODE_TABLE(X) \
        X(PREFLIGHT_STATUS, "preflight.status", GP_CODE_FAILURE, GP_STAGE_BIT(PREFLIGHT), GP_BLAME_STAGING, \
          "a preflight URL answered with another status") \
        X(NET_DNS, "net.dns", GP_CODE_FAILURE, GP_STAGES_TRANSPORT, GP_BLAME_STAGING, \
          "name resolution failed") \
        X(NET_CONNECT, "net.connect", GP_CODE_FAILURE, GP_STAGES_TRANSPORT, GP_BLAME_STAGING, \
          "TCP connect refused or unreachable") \
        X(NET_TIMEOUT, "net.timeout", GP_CODE_FAILURE, GP_STAGES_TRANSPORT | GP_STAGE_BIT(REQUEST), \
          GP_BLAME_STAGING, "no answer within the deadline") \
        X(TLS_HANDSHAKE, "tls.handshake", GP_CODE_FAILURE, GP_STAGES_TRANSPORT, GP_BLAME_STAGING, \
          "TLS handshake failed") \
        X(TLS_VERIFY, "tls.verify", GP_CODE_FAILURE, GP_STAGES_TRANSPORT, GP_BLAME_STAGING, \
          "certificate not trusted, expired, or wrong host name") \
        X(LOGIN_STATUS, "login.status", GP_CODE_FAILURE, GP_STAGE_BIT(LOGIN), GP_BLAME_STAGING, \
          "login answered an unexpected HTTP status") \
        X(LOGIN_TOKEN, "login.token", GP_CODE_FAILURE, GP_STAGE_BIT(LOGIN), GP_BLAME_STAGING, \
          "login reply is not JSON, too large, or has no string at TokenPath= (or a Capture= path)") \
        X(STEP_STATUS, "step.status", GP_CODE_FAILURE, GP_STAGE_BIT(STEP), GP_BLAME_STAGING, \
          "a [Step] answered an unexpected HTTP status (or none)") \
        X(STEP_REPLY, "step.reply", GP_CODE_FAILURE, GP_STAGE_BIT(STEP), GP_BLAME_STAGING, \
          "a [Step] reply is not JSON, too large, or has no value at a Capture= path") \
        X(WS_UPGRADE, "ws.upgrade", GP_CODE_FAILURE, GP_STAGE_BIT(WS_CONNECT), GP_BLAME_STAGING, \
          "the server refused the WebSocket upgrade, or selected none of the offered subprotocols") \
        X(WS_AUTH, "ws.auth", GP_CODE_FAILURE, GP_STAGE_BIT(WS_CONNECT), GP_BLAME_STAGING, \
          "after the upgrade, before the request, the server refused the credentials") \
        X(WS_IDENTITY, "ws.identity", GP_CODE_FAILURE, GP_STAGE_BIT(WS_CONNECT), GP_BLAME_STAGING, \
          "the welcome names another user than Identity=, names none, or two sessions are one user") \
        X(WS_CLOSED, "ws.closed", GP_CODE_FAILURE, GP_STAGES_WEBSOCKET, GP_BLAME_STAGING, \
          "the connection closed before the terminal event") \
        X(WS_PROTOCOL, "ws.protocol", GP_CODE_FAILURE, GP_STAGES_WEBSOCKET, GP_BLAME_STAGING, \
          "invalid WebSocket framing from the server, or a message over the size limit") \
        X(EVENTS_ERROR, "events.error", GP_CODE_FAILURE, GP_STAGE_BIT(EVENTS), GP_BLAME_STAGING, \
          "a Fail= event arrived, or the end event reports an error at ResponseErrorPath=") \
        X(EVENTS_ORDER, "events.order", GP_CODE_FAILURE, GP_STAGE_BIT(EVENTS), GP_BLAME_STAGING, \
          "an expected event out of order, or repeated when not Repeatable=") \
        X(EVENTS_MISSING, "events.missing", GP_CODE_FAILURE, GP_STAGE_BIT(EVENTS), GP_BLAME_STAGING, \
          "the end event arrived before all expected kinds") \
        X(EVENTS_TIMEOUT, "events.timeout", GP_CODE_FAILURE, GP_STAGE_BIT(WS_CONNECT) | GP_STAGE_BIT(EVENTS), \
          GP_BLAME_STAGING, "EventTimeout= or Timeout= passed while waiting (for an event, or Ready=)") \
        X(EVENTS_STALL, "events.stall", GP_CODE_FAILURE, GP_STAGE_BIT(EVENTS), GP_BLAME_STAGING, \
          "no frame at all for StallTimeout= while the run awaited events: the agent hung") \
        X(EVENTS_UNEXPECTED, "events.unexpected", GP_CODE_FAILURE, GP_STAGE_BIT(EVENTS), GP_BLAME_STAGING, \
          "Strict=yes and an unlisted type arrived") \
        X(EVENTS_MALFORMED, "events.malformed", GP_CODE_FAILURE, GP_STAGE_BIT(EVENTS), GP_BLAME_STAGING, \
          "Strict=yes and a frame was not JSON or had no type") \
        X(EVENTS_CROSSTALK, "events.crosstalk", GP_CODE_FAILURE, GP_STAGE_BIT(EVENTS), GP_BLAME_STAGING, \
          "an event carried another session's (or an unknown) correlation id") \
        X(RESPONSE_EMPTY, "response.empty", GP_CODE_FAILURE, GP_STAGE_BIT(RESPONSE), GP_BLAME_STAGING, \
          "the end event had no non-empty response, or only a placeholder matching ResponseReject=") \
        X(RESPONSE_MISMATCH, "response.mismatch", GP_CODE_FAILURE, GP_STAGE_BIT(RESPONSE), GP_BLAME_STAGING, \
          "the response did not match ResponseMatch=") \
        X(SLO_LOGIN, "slo.login", GP_CODE_DEGRADED, GP_STAGE_BIT(LOGIN), GP_BLAME_STAGING, \
          "the login exceeded [SLO] Login=") \
        X(SLO_CONNECT, "slo.connect", GP_CODE_DEGRADED, GP_STAGE_BIT(WS_CONNECT), GP_BLAME_STAGING, \
          "the WebSocket connect exceeded [SLO] Connect=") \
        X(SLO_FIRST_EVENT, "slo.first_event", GP_CODE_DEGRADED, GP_STAGE_BIT(EVENTS), GP_BLAME_STAGING, \
          "the first event exceeded [SLO] FirstEvent=") \
        X(SLO_SILENCE, "slo.silence", GP_CODE_DEGRADED, GP_STAGE_BIT(EVENTS), GP_BLAME_STAGING, \
          "the longest silence between frames exceeded [SLO] Silence=") \
        X(SLO_FIRST_PARTIAL, "slo.first_partial", GP_CODE_DEGRADED, GP_STAGE_BIT(EVENTS), GP_BLAME_STAGING, \
          "the first partial (a Partial= type) exceeded [SLO] FirstPartial=") \
        X(SLO_TOTAL, "slo.total", GP_CODE_DEGRADED, 0, GP_BLAME_STAGING, \
          "the whole run exceeded [SLO] Total=") \
        X(INTERNAL, "internal", GP_CODE_FAILURE, GP_STAGES_ANY, GP_BLAME_PROBE, \
          "the probe itself failed (out of memory, a bug); never blamed on staging")

/* The names to report codes by: GP_CODE_NET_DNS is "net.dns", and so on. */
#define _GP_CODE_NAME(name, code, ...) static const char GP_CODE_##name[] _unused_ = code;
GP_CODE_TABLE(_GP_CODE_NAME)
#undef _GP_CODE_NAME

typedef struct gp_code_info {
        const char *code;
        gp_code_kind kind;
        unsigned stages;      /* GP_STAGE_BIT()s of the stages it is reported at; 0: none (slo.total) */
        gp_blame blame;
        const char *meaning;  /* one line, as SPEC section 2 has it */
} gp_code_info;

/* The table in SPEC order; n in *ret_n. */
const gp_code_info *gp_codes(size_t *ret_n);
/* The entry of a code, or NULL for a string that is not one. */
const gp_code_info *gp_code_lookup(const char *code);
