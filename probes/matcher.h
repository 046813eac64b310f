/* SPDX-License-Identifier: MIT */
#pragma once

/* The event matcher: SPEC section 1 "Event matching semantics", exactly. Pure: frames in
 * (bytes plus the time they were read, relative to t=0 = request written), verdict out. */

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "result.h"
#include "time-util.h"

typedef struct gp_matcher_rules {
        const char *type_path;
        char * const *expect;          /* ordered; last is terminal; at least one */
        char * const *repeatable;
        char * const *fail;
        char * const *error_paths;
        char * const *correlate_paths;
        bool correlate_learned;        /* the session's id is the first one an expected event carries */
        char * const *end;             /* End= conditions (event-cond.h); empty: the last of expect ends */
        char * const *response_paths;
        char * const *response_error_paths; /* on the end event: an error a sub-agent reported */
        bool strict;
        const regex_t *response_regex; /* NULL: any non-empty response passes */
        const char *response_match;    /* source of response_regex, for reasons */
        const regex_t *response_reject;/* a response matching it is a placeholder: response.empty */
        const char *response_reject_src;
} gp_matcher_rules;

/* Returns the 1-based session index whose correlation id (given, or learned so far) is id, or
 * 0 when no session has it. */
typedef unsigned (*gp_session_lookup)(const char *id, void *userdata);

typedef enum gp_match_state {
        GP_MATCH_RUNNING,   /* keep reading */
        GP_MATCH_PASSED,    /* terminal event arrived, all checks passed */
        GP_MATCH_FAILED,    /* a code and a reason are set */
} gp_match_state;


typedef struct gp_matcher gp_matcher;

/* rules must outlive the matcher. own_id: the session's correlation id (${run_id} or
 * CorrelateWith= expanded), ignored when rules->correlate_learned; lookup (may be NULL) names
 * the session of a foreign id. NULL with errno EINVAL when a rule is invalid (an End=
 * condition that does not parse, no expected type, a bad TypePath=). */
gp_matcher *gp_matcher_new(const gp_matcher_rules *rules, const char *own_id, unsigned own_index,
                           gp_session_lookup lookup, void *userdata);
gp_matcher *gp_matcher_free(gp_matcher *m);  /* NULL-safe */
static inline void gp_matcher_freep(gp_matcher **m) {
        gp_matcher_free(*m);
}

/* Feeds one complete text message. Once the state is not RUNNING, further frames are ignored. */
gp_match_state gp_matcher_feed(gp_matcher *m, const char *data, size_t len, usec_t at);
/* A binary message: ignored and counted as malformed (events.malformed when Strict=yes). */
gp_match_state gp_matcher_feed_binary(gp_matcher *m, size_t len, usec_t at);

/* Ends a RUNNING matcher with events.timeout; waited is the deadline that passed. The reason
 * names the awaited type and what was seen, e.g.
 * "no tool_completed within 30s; saw agent_started agent_thinking tool_executing". */
void gp_matcher_timeout(gp_matcher *m, usec_t waited);

gp_match_state gp_matcher_state(const gp_matcher *m);
const char *gp_matcher_code(const gp_matcher *m);    /* e.g. "events.order"; NULL unless FAILED */
const char *gp_matcher_stage(const gp_matcher *m);   /* "events" or "response"; NULL unless FAILED */
const char *gp_matcher_reason(const gp_matcher *m);  /* NULL unless FAILED */
const char *gp_matcher_awaiting(const gp_matcher *m);/* next expected type not yet seen, or NULL */
const char *gp_matcher_response(const gp_matcher *m);/* the final response when PASSED, else NULL */
unsigned gp_matcher_foreign_session(const gp_matcher *m); /* crosstalk: the other session, or 0 */
const char *gp_matcher_own_id(const gp_matcher *m);  /* given, or learned; NULL while unknown */

size_t gp_matcher_n_events(const gp_matcher *m);     /* expected and fail types seen, in first-seen order */
const gp_event_stat *gp_matcher_event(const gp_matcher *m, size_t i);
usec_t gp_matcher_first_event_at(const gp_matcher *m);  /* first expected event; USEC_INFINITY if none */
usec_t gp_matcher_complete_at(const gp_matcher *m);     /* terminal event; USEC_INFINITY if none */
unsigned gp_matcher_n_ignored(const gp_matcher *m);     /* unlisted types ignored (Strict=no) */
unsigned gp_matcher_n_malformed(const gp_matcher *m);
/* The type (at TypePath=) of the frame fed last, cut to 63 bytes; NULL when it had none (binary,
 * not JSON, untyped). For the streaming figures. */
const char *gp_matcher_last_type(const gp_matcher *m);   /* non-JSON/untyped frames ignored */
