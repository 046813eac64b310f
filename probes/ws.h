/* SPDX-License-Identifier: MIT */
#pragma once

/* WebSocket client sessions on the process's single libwebsockets context. The only file that
 * includes libwebsockets.h; lws outcomes become SPEC section 2 codes here. Every function but
 * gp_ws_wake must be called from the thread that services the context. */

#include <stdbool.h>
#include <stddef.h>

#include "http.h"
#include "time-util.h"

typedef struct gp_ws gp_ws;
typedef struct gp_ws_conn gp_ws_conn;

typedef struct gp_ws_target {
        bool tls;
        const char *address;        /* numeric address to connect to (resolved by the caller) */
        int port;
        const char *host;           /* Host header, TLS SNI and the name the certificate must match */
        const char *path;           /* path and query */
        const char *subprotocols;   /* "a, b" offered in Sec-WebSocket-Protocol, or NULL */
        char * const *headers;      /* extra "Name: value" handshake headers, expanded */
        size_t max_message;         /* a larger message fails the session with ws.protocol */
        bool keep_headers;          /* keep the upgrade reply's headers (gp_ws_conn_response_headers) */
} gp_ws_target;

/* What a connection reports, always in this order: established? message* (closed | failed)?
 * destroyed. `at` is CLOCK_MONOTONIC when the message was complete. */
typedef struct gp_ws_handler {
        void (*established)(void *ud, const char *selected_protocol);
        void (*message)(void *ud, const char *data, size_t len, bool binary, usec_t at);
        void (*sent)(void *ud, usec_t at);
        /* Before established: code is net.connect, tls.handshake, tls.verify or ws.upgrade.
         * After: ws.protocol (bad framing, oversized message). */
        void (*failed)(void *ud, const char *code, const char *reason);
        /* The connection ended after established: close_code 1006 when no close frame came. */
        void (*closed)(void *ud, int close_code, const char *reason);
        void (*destroyed)(void *ud);
} gp_ws_handler;

/* libwebsockets' log level and emitter, process-wide for every context (the metrics server's
 * too): for main() to set once, through gp_engine_setup_process(), before any context exists.
 * The emitter keeps lws's report of invalid framing for ws.protocol; GPPROBE_LWS_DEBUG=1 also
 * prints lws's log on stderr. gp_ws_new never sets them. */
void gp_ws_log_setup(void);

int gp_ws_new(gp_ws **ret, char **ret_error);
gp_ws *gp_ws_free(gp_ws *ws);

/* Makes the TLS settings current: reuses the client vhost when they did not change, else
 * replaces it. Call only when no connection is open. */
int gp_ws_use_tls(gp_ws *ws, const gp_tls_opts *tls, char **ret_error);

/* Starts a connection. Outcomes arrive through handler while gp_ws_service runs. */
int gp_ws_connect(gp_ws *ws, const gp_ws_target *t, const gp_ws_handler *handler, void *ud,
                  gp_ws_conn **ret, char **ret_error);
/* Queues one text message; `sent` reports when it was written. -EBUSY if one is queued. */
int gp_ws_send_text(gp_ws_conn *c, const char *data, size_t len);
/* Starts a normal close (1000); `closed` and `destroyed` follow. */
void gp_ws_close(gp_ws_conn *c);
/* Drops the connection now; `destroyed` is delivered before this returns. */
void gp_ws_abort(gp_ws_conn *c);
bool gp_ws_conn_alive(const gp_ws_conn *c);
/* The connect's phases so far (issue 12): TCP connect (until the ClientHello was written, or
 * until the upgrade request for ws://), TLS handshake (until the upgrade request; USEC_INFINITY
 * for ws://), upgrade (until the 101); ready is left to the caller. USEC_INFINITY = not yet. */
void gp_ws_conn_timing(const gp_ws_conn *c, gp_ws_timing *ret);
/* The server's certificates as the verification saw them; zeros without one. */
void gp_ws_conn_cert_expiry(const gp_ws_conn *c, gp_cert_expiry *ret);
/* With keep_headers, once the upgrade reply came (by established, or failed): its headers but
 * cookies and credentials, "name: value" a line; NULL before or without. The HTTP status of that
 * reply (0 when none came). For the failure transcript; the caller redacts. */
const char *gp_ws_conn_response_headers(const gp_ws_conn *c);
int gp_ws_conn_http_status(const gp_ws_conn *c);
gp_ws_conn *gp_ws_conn_free(gp_ws_conn *c);  /* aborts it first if still alive */

/* Runs the context until something happened (an fd event, a timer, a wake). */
int gp_ws_service(gp_ws *ws);
/* Makes gp_ws_service return no later than the monotonic time `when`. */
void gp_ws_wake_at(gp_ws *ws, usec_t when);
/* Any thread: makes gp_ws_service return soon. */
void gp_ws_wake(gp_ws *ws);
