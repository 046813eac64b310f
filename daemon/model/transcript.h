/* SPDX-License-Identifier: MIT */
#pragma once

/* A failure transcript: what happened in one run, session by session, bounded and already
 * redacted by the caller (the probe knows the secrets). Every HTTP step, the WebSocket upgrade,
 * every frame in both directions with its time relative to the run's start, the close, the
 * awaited event when a deadline passed, and the verdict. Pure data: the probe records, the
 * daemon writes it to the state directory, gpprobectl prints it (docs/spec.md section 8). */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "result.h"
#include "time-util.h"

#define GP_TRANSCRIPT_SCHEMA 1
/* Bytes kept of a reply body or a frame's data. */
#define GP_TRANSCRIPT_EXCERPT 256
/* Default bound of one session's entries (their text), and of a whole transcript. */
#define GP_TRANSCRIPT_SESSION_MAX (64 * 1024)
#define GP_TRANSCRIPT_TOTAL_MAX (1024 * 1024)

typedef struct gp_transcript gp_transcript;

/* sessions: Users=; t0: CLOCK_MONOTONIC of the run's start (entry times are relative to it). */
gp_transcript *gp_transcript_new(unsigned sessions, usec_t t0, size_t session_max, size_t total_max);
gp_transcript *gp_transcript_free(gp_transcript *t);  /* NULL-safe */
static inline void gp_transcript_freep(gp_transcript **t) {
        gp_transcript_free(*t);
}

/* Each records one entry of session idx (1..sessions) at the monotonic time `at`; text is
 * cut to GP_TRANSCRIPT_EXCERPT bytes (never inside a character) and made valid UTF-8. An entry
 * past the session's or the transcript's bound is counted as dropped instead. NULL-safe in t;
 * out of memory drops the entry. */
/* body (body_len bytes) is the reply's excerpt as the probe cleaned it; body_size the reply's size. */
void gp_transcript_http(gp_transcript *t, unsigned idx, usec_t at, const char *step, const char *method,
                        const char *url, long status, const gp_http_timing *timing, const char *error,
                        const char *body, size_t body_len, size_t body_size);
/* status: the HTTP status of the upgrade reply (101 when it succeeded, 0 when none came);
 * headers: the reply's headers kept, one "Name: value" a line, or NULL. */
void gp_transcript_upgrade(gp_transcript *t, unsigned idx, usec_t at, const char *url, long status,
                           const char *subprotocol, const char *headers, const char *error);
void gp_transcript_frame(gp_transcript *t, unsigned idx, usec_t at, bool incoming, const char *opcode, size_t size,
                         const char *data, size_t len);
void gp_transcript_close(gp_transcript *t, unsigned idx, usec_t at, const char *by, int code, const char *reason);
/* A marker: kind "await" (text: the awaited event when a deadline passed), "note", ... */
void gp_transcript_mark(gp_transcript *t, unsigned idx, usec_t at, const char *kind, const char *text);

/* The whole document: schema, name, the run's id, times, verdict, trace id, and the sessions
 * (each with its verdict from r). NULL on ENOMEM. */
json_t *gp_transcript_to_json(const gp_transcript *t, const gp_result *r, const char *name);

/* Where the daemon keeps the transcripts of cfg's probe: NAME.transcripts beside its StateFile=;
 * NULL when Transcripts=0, without a StateFile=, or on ENOMEM. Caller frees. */
char *gp_transcript_dir(const gp_config *c);

/* Whether s is a run id as gp_result makes them (a UUID in lower-case hex): a safe file name. */
bool gp_transcript_run_id_valid(const char *s);

/* What the probe records a text excerpt as: at most max bytes of s (len bytes), cut at a
 * character boundary, invalid UTF-8 and control characters as \xNN, "..." when cut. Caller
 * frees; NULL on ENOMEM. Pure. */
char *gp_transcript_excerpt(const char *s, size_t len, size_t max);
