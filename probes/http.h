/* SPDX-License-Identifier: MIT */
#pragma once

/* HTTP requests for the preflight, login and [Step]s, many at once (libcurl multi), each after
 * its own lookup (probes/dns.c). http.c and http-transfer.c are the only files that include
 * curl.h; library errors become SPEC section 2 codes there. */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "dns.h"
#include "result.h"
#include "time-util.h"

typedef struct gp_tls_opts {
        const char *ca_file;
        bool insecure;
        const char *client_certificate;
        const char *client_key;
} gp_tls_opts;

typedef struct gp_http_request {
        const char *url;
        const char *method;           /* "GET", "POST", ... */
        char * const *headers;        /* "Name: value", expanded */
        const char *body;             /* may be NULL; may hold a secret: wiped by the caller */
        size_t max_reply;             /* bytes; a longer reply fails the request */
        const gp_tls_opts *tls;
        bool want_certs;              /* fill gp_http_reply.certs (a verify callback) */
} gp_http_request;

typedef struct gp_http_reply {
        long status;                  /* 0 when no HTTP status line arrived */
        char *body;                   /* NUL-terminated */
        size_t len;
        char *content_type;
        gp_http_timing timing;
        gp_cert_expiry certs;         /* with want_certs, when the handshake showed them */
        /* On a transport failure: a SPEC code ("net.dns", "net.connect", "net.timeout",
         * "tls.handshake", "tls.verify", "internal" when libcurl refused an option) or
         * "too_large" / "no_reply" / "cancelled", and a reason. NULL code when an HTTP reply
         * arrived within bounds. */
        const char *error_code;
        char *error;
} gp_http_reply;

void gp_http_reply_done(gp_http_reply *r);

typedef struct gp_http gp_http;

gp_http *gp_http_new(void);
gp_http *gp_http_free(gp_http *h);

/* The engine's resolver: the requests' lookups and the WebSocket host's. It lives here because
 * the engine's cancellation already reaches gp_http_cancel, which cancels it too. */
gp_dns *gp_http_dns(gp_http *h);

/* Requests in flight at once by default; the others start as earlier ones finish. */
#define GP_HTTP_MAX_IN_FLIGHT 128

/* Performs the n requests concurrently (at most max_in_flight at a time, 0 for the default),
 * each on a fresh connection after a lookup of its own (c-ares; libcurl is handed the addresses
 * and tries them in turn), until all finished, the monotonic deadline passed (those still
 * running fail with net.timeout, a lookup too), or gp_http_cancel. Blocks the calling thread.
 * 0, or -ENOMEM / -ECANCELED / -EIO. */
int gp_http_perform(gp_http *h, const gp_http_request *reqs, gp_http_reply *replies, size_t n,
                    size_t max_in_flight, usec_t deadline);

/* Any thread: makes a running gp_http_perform return -ECANCELED soon. Sticky until reset. */
void gp_http_cancel(gp_http *h);
void gp_http_reset_cancel(gp_http *h);
