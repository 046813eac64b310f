/* SPDX-License-Identifier: MIT */
#pragma once

/* The HTTPS API's state shared by the main loop and the metrics server's thread (issue 13,
 * SPEC section 8 "HTTP API"): the accepted bearer tokens (as SHA-256 digests), the run in
 * progress and the results of the last GP_API_RUNS_KEPT runs, POST /run's hand-off to the
 * main loop, and the queue of authentication failures for the journal. Thread-safe; it never
 * logs (the manager does, from gp_api_fd()).
 *
 * POST /run: the server thread makes the run id, queues it and wakes the loop through the
 * eventfd; the loop starts the run with that id (gp_api_take_run_request, gp_api_answer_run)
 * and the server thread, which waited at most GP_API_RUN_WAIT_MSEC for the answer, replies. */

#include <stdbool.h>
#include <stddef.h>

#include "blob.h"
#include "time-util.h"
#include "uuid.h"

#define GP_API_RUNS_KEPT 100
#define GP_API_RUNS_KEPT_BYTES (4u * 1024 * 1024)  /* the kept results' text, at most */
#define GP_API_RUN_WAIT_MSEC 1000
#define GP_API_MAX_TOKENS 256
#define GP_API_AUTH_LOG_BURST 10      /* failures logged per GP_API_AUTH_LOG_PERIOD; the rest counted */
#define GP_API_AUTH_LOG_PERIOD (10 * USEC_PER_SEC)

typedef struct gp_api gp_api;

/* [API] as the server thread applies it (paths resolved by the configuration). */
typedef struct gp_api_settings {
        char *tls_certificate;   /* NULL: plain HTTP */
        char *tls_key;
        char *client_ca;         /* NULL: no client certificates */
        char *client_crl;
        bool metrics_auth;       /* /metrics and /healthz need authentication too */
        unsigned max_request_bytes;
        unsigned max_connections;
        unsigned rate_limit;     /* requests per second per client address; 0: none */
} gp_api_settings;

void gp_api_settings_done(gp_api_settings *s);
int gp_api_settings_copy(gp_api_settings *dst, const gp_api_settings *src);

/* One answer: the HTTP status and a JSON body (allocated). */
typedef struct gp_api_response {
        unsigned status;
        char *body;
        bool authenticate;          /* 401: WWW-Authenticate: Bearer */
        const char *allow;          /* 405: the methods the path takes (static text) */
} gp_api_response;

void gp_api_response_done(gp_api_response *r);

int gp_api_new(gp_api **ret);
gp_api *gp_api_free(gp_api *a);  /* NULL-safe */
/* Readable (EPOLLIN) when a run request or an authentication failure waits. */
int gp_api_fd(const gp_api *a);

/* ---- the main loop's side */
/* The tokens accepted from now on (NULL or empty: none); only their digests are kept. */
int gp_api_set_tokens(gp_api *a, char * const *tokens);
void gp_api_run_started(gp_api *a, const char *run_id);
/* result_json: the run's result object as in the status document's "last"; NULL when the run
 * was cancelled, or no API is served (then it is forgotten). The results of the last
 * GP_API_RUNS_KEPT runs are kept, the oldest dropped first past GP_API_RUNS_KEPT_BYTES. */
void gp_api_run_finished(gp_api *a, const char *run_id, const char *result_json);
/* The run id POST /run asked for; -EAGAIN when none waits. Clears the eventfd. */
int gp_api_take_run_request(gp_api *a, char ret_run_id[GP_UUID_STRING_MAX]);
/* 0: the run started with that id (after gp_api_run_started); -EBUSY: another run is in
 * progress (its id was given to gp_api_run_started); another negative errno: refused. */
void gp_api_answer_run(gp_api *a, int r);
/* The next queued authentication failure ("peer: reason"), and how many were dropped before
 * it by the rate limit; -EAGAIN when none. */
int gp_api_take_auth_failure(gp_api *a, char **ret_line, unsigned *ret_suppressed);

/* ---- the server thread's side */
bool gp_api_have_tokens(gp_api *a);
/* Compares the digest of token with every accepted one, all of them, in constant time. */
bool gp_api_token_valid(gp_api *a, const char *token, size_t len);
/* Queues "peer: reason" for the journal, at most GP_API_AUTH_LOG_BURST per period. */
void gp_api_auth_failed(gp_api *a, const char *peer, const char *reason);

/* GET /gate with its query arguments ("name=value", decoded; NULL-terminated) against the status
 * document (NULL: none yet). */
int gp_api_gate(gp_api *a, char * const *args, const gp_blob *status, usec_t now, gp_api_response *ret);
/* POST /run: waits at most about GP_API_RUN_WAIT_MSEC for the main loop. */
int gp_api_run(gp_api *a, gp_api_response *ret);
/* GET /runs/ID */
int gp_api_run_get(gp_api *a, const char *run_id, gp_api_response *ret);
/* {"error":"message"} with status. */
int gp_api_error(unsigned status, const char *message, gp_api_response *ret);
