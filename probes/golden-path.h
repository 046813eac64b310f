/* SPDX-License-Identifier: MIT */
#pragma once

/* One golden-path run (SPEC section 1) for Users= sessions: preflight, login, WebSocket,
 * request, events, response. Knows nothing of the daemon. */

#include "config.h"
#include "result.h"

typedef struct gp_engine gp_engine;

/* A step-by-step trace line: `at` is the time since the run started. Called on the thread
 * running gp_engine_run. */
typedef void (*gp_trace_fn)(void *ud, usec_t at, const char *line);

/* The process-wide settings of the libraries under the engine, which the engine never makes
 * itself: main() calls this once, before any thread or libwebsockets context exists (the metrics
 * server's included). Today libwebsockets' log level and emitter (gp_ws_log_setup). */
void gp_engine_setup_process(void);

/* Which runs record a failure transcript (daemon/model/transcript.h) into their result: by the
 * configuration (Transcripts= above 0 and a StateFile= beside which the daemon keeps them; the
 * default), every run, or none. */
typedef enum gp_engine_transcripts {
        GP_ENGINE_TRANSCRIPTS_CONFIG,
        GP_ENGINE_TRANSCRIPTS_ALWAYS,
        GP_ENGINE_TRANSCRIPTS_NEVER,
} gp_engine_transcripts;

void gp_engine_set_transcripts(gp_engine *e, gp_engine_transcripts t);

/* Creates the process's network machinery (one libwebsockets context, one libcurl multi
 * handle). Create it once, before any run; use it from one thread. */
int gp_engine_new(gp_engine **ret, char **ret_error);
gp_engine *gp_engine_free(gp_engine *e);

/* Runs the golden path once with cfg; blocks the calling thread for at most Timeout= (plus a
 * bounded close). Always produces a result unless out of memory (-ENOMEM). */
int gp_engine_run(gp_engine *e, gp_config *cfg, gp_trace_fn trace, void *ud, gp_result **ret);

/* The id of the next run (a UUID the caller made, GP_UUID_STRING_MAX), instead of a random
 * one; NULL: random again. Same thread as gp_engine_run. */
void gp_engine_set_run_id(gp_engine *e, const char *run_id);

/* Any thread: ends the run in flight, or the next one, as CANCELLED; sticky until reset. */
void gp_engine_cancel(gp_engine *e);
/* Clears a cancellation; call before a run that must not inherit one. */
void gp_engine_reset_cancel(gp_engine *e);
