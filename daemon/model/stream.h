/* SPDX-License-Identifier: MIT */
#pragma once

/* Streaming quality (issue 12): what a session heard between the request (t=0) and the end of its
 * events, frame by frame, and the figures made of it (SPEC section 8, "Streaming quality"). Pure:
 * the probe feeds it times relative to t=0; the result, the journal and the metrics read the
 * figures. No clock, no I/O. */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "time-util.h"

/* Gaps kept per session for the p50 (the max and the count cover every gap). */
#define GP_STREAM_GAPS_MAX 1024
#define GP_STREAM_TYPE_MAX 64

typedef struct gp_stream_gaps {
        usec_t *v;              /* the first GP_STREAM_GAPS_MAX gaps (fewer on ENOMEM), in order */
        size_t n, allocated;
        uint64_t total;         /* every gap */
        usec_t max;
        usec_t last_at;         /* the previous frame or event; USEC_INFINITY = none yet */
} gp_stream_gaps;

typedef struct gp_stream {
        bool started;           /* the request was written: t=0 exists */
        bool ended;
        uint64_t frames;        /* every frame after t=0, text or binary, whatever it carried */
        uint64_t bytes;         /* their payload bytes */
        unsigned partials;      /* frames of a Partial= type */
        usec_t first_partial;   /* USEC_INFINITY = none */
        usec_t last_partial;
        gp_stream_gaps frame_gaps;  /* between consecutive frames */
        gp_stream_gaps event_gaps;  /* between consecutive expected events */
        usec_t last_frame;      /* 0 = the request */
        usec_t silence;         /* the longest time without a frame, from t=0 to the end */
        char silence_after[GP_STREAM_TYPE_MAX];  /* the type of the frame before it; "" = the request */
        char last_type[GP_STREAM_TYPE_MAX];      /* the last frame's type; "" = none yet */
} gp_stream;

/* The figures of one session's stream, or of a run's (gp_stream_figures_of over its sessions):
 * sums of the counts, the p50 of every gap pooled, the max of the maxima and of the silences,
 * the slowest first partial and the lowest partial rate, with the session each comes from. */
typedef struct gp_stream_figures {
        bool present;             /* some stream started */
        uint64_t frames, bytes;
        unsigned partials;
        usec_t frame_gap_p50, frame_gap_max;   /* USEC_INFINITY = fewer than two frames */
        usec_t event_gap_p50, event_gap_max;   /* USEC_INFINITY = fewer than two events */
        usec_t silence;
        const char *silence_after;             /* borrowed; "" = the request */
        usec_t first_partial;                  /* USEC_INFINITY = no partial */
        double partials_per_s;                 /* < 0: fewer than two partials */
        unsigned silence_session;              /* 1-based position in the list; 0 = none */
        unsigned first_partial_session;
        unsigned partials_per_s_session;
} gp_stream_figures;

void gp_stream_init(gp_stream *s);
void gp_stream_done(gp_stream *s);
/* t=0: the request was written. */
void gp_stream_start(gp_stream *s);
/* A frame of bytes at `at` (after t=0), its type at TypePath= (NULL: none, binary or not JSON),
 * and whether that type is a Partial= one. Never fails: a gap that cannot be kept (ENOMEM) still
 * counts in the max and the total. */
void gp_stream_frame(gp_stream *s, usec_t at, size_t bytes, const char *type, bool partial);
/* An expected (or Fail=) event arrived at `at`. */
void gp_stream_event(gp_stream *s, usec_t at);
/* The stream ended at `at` (the verdict, a deadline, a close): the silence since the last frame
 * counts. Later calls change nothing. */
void gp_stream_end(gp_stream *s, usec_t at);

/* Partials per second: (partials - 1) over the time from the first partial to the last; < 0
 * with fewer than two partials or no time between them. */
double gp_stream_partials_per_s(const gp_stream *s);

/* The figures over n streams (one for a session; the sessions in order for a run). -ENOMEM. */
int gp_stream_figures_of(const gp_stream * const *s, size_t n, gp_stream_figures *ret);

/* The `stream` object of SPEC section 8 (null when !present); with_sessions adds the
 * *_session members (a run of several sessions). NULL on ENOMEM. */
json_t *gp_stream_figures_to_json(const gp_stream_figures *f, bool with_sessions);
