/* SPDX-License-Identifier: MIT */
#pragma once

/* The HTTPS API on the metrics server's thread (metrics-server.c): what a request needs beyond
 * routing — who the client is (bearer token or client certificate), the per-address rate
 * limit, the API's routes — and the TLS vhost's client-certificate store (ClientCA=,
 * ClientCRL=). The only other file of the daemon that includes libwebsockets.h. */

#include <libwebsockets.h>
#include <stdbool.h>

#include "api.h"
#include "blob.h"

/* A TLS vhost for the settings, or NULL with *ret_error. protocols[0] must pass
 * LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS to gp_api_http_load_client_ca. */
struct lws_vhost *gp_api_http_tls_vhost(struct lws_context *ctx, const struct lws_protocols *protocols,
                                        const gp_api_settings *s, char **ret_error);
/* Installs ClientCA= and ClientCRL= into the vhost's SSL_CTX (ssl_ctx); -1 when they fail. */
int gp_api_http_load_client_ca(void *ssl_ctx, const gp_api_settings *s);

typedef struct gp_rate_table gp_rate_table;
gp_rate_table *gp_rate_table_new(void);
gp_rate_table *gp_rate_table_free(gp_rate_table *t);
/* True when the client at peer may make one more request now. */
bool gp_rate_allow(gp_rate_table *t, const char *peer, unsigned per_second, usec_t now);

/* Whether the request on wsi is authenticated; when not, *ret is its 401 and the failure is
 * queued for the journal with peer. needed: false when nothing is configured to check. */
bool gp_api_http_authenticate(gp_api *api, struct lws *wsi, const gp_api_settings *s, const char *peer,
                              gp_api_response *ret);

/* Routes /gate, /run and /runs/ID; 0 with *ret set, -ENOENT for another path, -ENOMEM. */
int gp_api_http_route(gp_api *api, struct lws *wsi, const char *path, bool post, const gp_blob *status,
                      gp_api_response *ret);
