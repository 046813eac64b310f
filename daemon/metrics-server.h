/* SPDX-License-Identifier: MIT */
#pragma once

/* MetricsListen=: a small HTTP/1.1 server on libwebsockets' server role, in a thread of its own
 * with a libwebsockets context of its own, so that no request, however many or however slow,
 * delays a probe run or the event loop.
 *
 *   GET|HEAD /metrics   the last published metrics text (text/plain; version=0.0.4)
 *   GET|HEAD /status    the last published status document (application/json)
 *   GET|HEAD /healthz   200 "ok" while the event loop's heartbeat is fresh, else 503
 *   GET|HEAD /          a short index; any other path 404; any other method 405
 *
 * The main loop publishes immutable, refcounted buffers (gp_blob) after each run; the server
 * thread takes a reference for each response, so a publish never waits for a slow client. */

#include <stdbool.h>
#include <stddef.h>

#include "api.h"
#include "blob.h"
#include "time-util.h"

#define GP_METRICS_MAX_CONNECTIONS 32     /* more wait in the kernel's accept queue (MaxConnections=) */
#define GP_METRICS_MAX_CONNECTIONS_LIMIT 1024  /* the most MaxConnections= may say */
#define GP_METRICS_LISTEN_BACKLOG 256     /* connections the kernel queues beyond those */
#define GP_METRICS_MAX_REQUEST_BYTES 65536  /* a bigger request body is refused (MaxRequestBytes=) */
#define GP_METRICS_MAX_HEADER_BYTES 4096  /* a bigger request head is refused */
#define GP_METRICS_TIMEOUT_SECONDS 5      /* for a request head, and for an idle keep-alive */
#define GP_METRICS_RETRY_SECONDS 10       /* between attempts to listen when it failed */
#define GP_METRICS_HEARTBEAT_MAX_AGE_SECONDS 5

typedef struct gp_metrics_server gp_metrics_server;

/* Creates the libwebsockets context (never asked to initialize OpenSSL: it serves plain HTTP)
 * and starts the thread, listening nowhere yet. Call it before the network thread makes its
 * first TLS handshake (see docs/architecture.md). All signals are blocked in the thread. */
int gp_metrics_server_new(gp_metrics_server **ret, char **ret_error);
/* Stops and joins the thread, closes every connection. NULL-safe. */
gp_metrics_server *gp_metrics_server_free(gp_metrics_server *s);

/* Listen on "host:port" or "[v6]:port" (a host name is resolved in the server thread), or
 * nowhere (NULL). Asynchronous: the outcome comes through gp_metrics_server_fd(). While it
 * cannot listen, the thread retries every GP_METRICS_RETRY_SECONDS. */
int gp_metrics_server_listen(gp_metrics_server *s, const char *address);

/* Readable (EPOLLIN) when the listening state changed; then call take_report. */
int gp_metrics_server_fd(const gp_metrics_server *s);
/* The last outcome: *ret_error NULL and the address listened on in *ret_address, or why not
 * (a message naming the address) and the address asked for; *ret_address NULL when told to
 * listen nowhere. Both to free(). -EAGAIN when nothing new. Clears the fd. */
int gp_metrics_server_take_report(gp_metrics_server *s, char **ret_address, char **ret_error);

/* Replaces what /metrics and /status serve; takes over the references given (NULL: 503 until a
 * later publish). Never blocks on the server thread beyond a pointer swap. */
void gp_metrics_server_publish(gp_metrics_server *s, gp_blob *metrics, gp_blob *status);

/* The event loop was alive at now (CLOCK_MONOTONIC; called from a timer of the loop). */
void gp_metrics_server_heartbeat(gp_metrics_server *s, usec_t now);

/* [API] (SPEC section 8, HTTP API): TLS, authentication and limits, applied in the server thread
 * (a new TLS vhost each call: call it at start and on reload only). */
int gp_metrics_server_configure_api(gp_metrics_server *s, const gp_api_settings *settings);
/* The API's shared state: run requests and authentication failures for the main loop. */
gp_api *gp_metrics_server_api(gp_metrics_server *s);
