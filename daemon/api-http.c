/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <strings.h>

#include "api-http.h"
#include "util.h"

#define RATE_SLOTS 256
#define QUERY_ARGS_MAX 16

/* The handshake never fails on a client certificate: its verdict (SSL_get_verify_result) is
 * read at the request, so that a bad one is answered 401 and logged with its reason. */
static int accept_any(int preverify_ok, X509_STORE_CTX *ctx) {
        return 1;
}

int gp_api_http_load_client_ca(void *ssl_ctx, const gp_api_settings *s) {
        SSL_CTX *ctx = ssl_ctx;
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        STACK_OF(X509_NAME) *names;
        X509_LOOKUP *lookup;

        if (!s->client_ca)
                return 0;
        if (SSL_CTX_load_verify_locations(ctx, s->client_ca, NULL) != 1)
                return -1;
        names = SSL_load_client_CA_file(s->client_ca);
        if (names)
                SSL_CTX_set_client_CA_list(ctx, names);
        if (s->client_crl) {
                lookup = X509_STORE_add_lookup(store, X509_LOOKUP_file());
                if (!lookup || X509_load_crl_file(lookup, s->client_crl, X509_FILETYPE_PEM) <= 0)
                        return -1;
                X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
        SSL_CTX_set_verify_depth(ctx, 8);
        return 0;
}

struct lws_vhost *gp_api_http_tls_vhost(struct lws_context *ctx, const struct lws_protocols *protocols,
                                        const gp_api_settings *s, char **ret_error) {
        struct lws_context_creation_info vi = {0};
        struct lws_vhost *vh;
        static unsigned serial;
        char name[32];

        /* Checked here, so that the error names the file (lws would only log it). */
        const char *files[] = { s->tls_certificate, s->tls_key, s->client_ca, s->client_crl };
        const char *keys[] = { "TLSCertificate=", "TLSKey=", "ClientCA=", "ClientCRL=" };
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if (files[i] && access(files[i], R_OK) < 0) {
                        *ret_error = strdup_printf("%s %s: %s", keys[i], files[i], strerror(errno));
                        return NULL;
                }
        snprintf(name, sizeof(name), "gpprobe-api-%u", serial++);
        vi.port = CONTEXT_PORT_NO_LISTEN_SERVER;
        vi.protocols = protocols;
        vi.vhost_name = name;
        vi.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        vi.ssl_cert_filepath = s->tls_certificate;
        vi.ssl_private_key_filepath = s->tls_key;
        vi.ssl_cipher_list = NULL;
        /* HTTP/1.1 only: lws 4.1's HTTP/2 resets a POST without a body (curl's POST /run). */
        vi.alpn = "http/1.1";
        vi.keepalive_timeout = 5;
        vi.timeout_secs = 5;
        vi.timeout_secs_ah_idle = 5;
        vi.user = (void *) s;
        vh = lws_create_vhost(ctx, &vi);
        if (!vh)
                *ret_error = strdup_printf("cannot set up TLS with TLSCertificate=%s, TLSKey=%s%s%s%s%s "
                                           "(a certificate and key that do not match, or a file that is not PEM)",
                                           s->tls_certificate, s->tls_key, s->client_ca ? ", ClientCA=" : "",
                                           strempty(s->client_ca), s->client_crl ? ", ClientCRL=" : "",
                                           strempty(s->client_crl));
        return vh;
}

/* ---- rate limit: a token bucket per client address, the least recently seen replaced */

typedef struct rate_slot {
        char peer[64];
        double tokens;
        usec_t last;
} rate_slot;

struct gp_rate_table {
        rate_slot slots[RATE_SLOTS];
};

gp_rate_table *gp_rate_table_new(void) {
        return calloc(1, sizeof(gp_rate_table));
}

gp_rate_table *gp_rate_table_free(gp_rate_table *t) {
        free(t);
        return NULL;
}

bool gp_rate_allow(gp_rate_table *t, const char *peer, unsigned per_second, usec_t now) {
        rate_slot *slot = NULL, *oldest = &t->slots[0];

        if (per_second == 0 || !t)
                return true;
        for (size_t i = 0; i < RATE_SLOTS && !slot; i++) {
                if (streq(t->slots[i].peer, peer))
                        slot = &t->slots[i];
                else if (t->slots[i].last < oldest->last)
                        oldest = &t->slots[i];
        }
        if (!slot) {
                slot = oldest;
                snprintf(slot->peer, sizeof(slot->peer), "%s", peer);
                slot->tokens = per_second;
                slot->last = now;
        }
        slot->tokens = MIN((double) per_second,
                           slot->tokens + (double) (now - slot->last) * per_second / (double) USEC_PER_SEC);
        slot->last = now;
        if (slot->tokens < 1)
                return false;
        slot->tokens -= 1;
        return true;
}

/* ---- authentication */

static bool client_certificate(struct lws *wsi, const char **ret_error) {
        /* Over HTTP/2 the request is a stream: the TLS session is its network connection's. */
        SSL *ssl = lws_get_ssl(lws_get_network_wsi(wsi));
        X509 *peer;
        long v;

        *ret_error = NULL;
        if (!ssl)
                return false;
        peer = SSL_get_peer_certificate(ssl);
        if (!peer)
                return false;
        X509_free(peer);
        v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) {
                *ret_error = X509_verify_cert_error_string(v);
                return false;
        }
        return true;
}

static int unauthorized(gp_api *api, const char *peer, const char *why, gp_api_response *ret) {
        gp_api_auth_failed(api, peer, why);
        if (gp_api_error(401, why, ret) < 0)
                return -ENOMEM;
        ret->authenticate = true;
        return 0;
}

bool gp_api_http_authenticate(gp_api *api, struct lws *wsi, const gp_api_settings *s, const char *peer,
                              gp_api_response *ret) {
        bool tokens = gp_api_have_tokens(api);
        char auth[1100];
        const char *cert_error, *token;
        _cleanup_free_ char *why = NULL;
        int n;

        if (!tokens && !s->client_ca)
                return true;
        if (s->client_ca && client_certificate(wsi, &cert_error))
                return true;
        if (s->client_ca && cert_error) {
                why = strdup_printf("client certificate rejected: %s", cert_error);
                unauthorized(api, peer, why ? why : "client certificate rejected", ret);
                return false;
        }
        n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
        if (n <= 0) {
                unauthorized(api, peer, tokens ? "no bearer token" : "no client certificate", ret);
                return false;
        }
        if (n >= (int) sizeof(auth) || lws_hdr_copy(wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION) < 0 ||
            strncasecmp(auth, "Bearer ", 7) != 0) {
                unauthorized(api, peer, "Authorization is not a bearer token", ret);
                explicit_bzero(auth, sizeof(auth));
                return false;
        }
        token = auth + 7;
        while (*token == ' ')
                token++;
        if (tokens && gp_api_token_valid(api, token, strlen(token))) {
                explicit_bzero(auth, sizeof(auth));
                return true;
        }
        explicit_bzero(auth, sizeof(auth));
        unauthorized(api, peer, "wrong bearer token", ret);
        return false;
}

/* ---- routes */

static int method_not_allowed(const char *allow, gp_api_response *ret) {
        int r = gp_api_error(405, "method not allowed", ret);

        ret->allow = allow;
        return r;
}

int gp_api_http_route(gp_api *api, struct lws *wsi, const char *path, bool post, const gp_blob *status,
                      gp_api_response *ret) {
        const char *id;

        if (streq(path, "/gate")) {
                char buf[QUERY_ARGS_MAX][256], *args[QUERY_ARGS_MAX + 1] = { NULL };
                size_t n = 0;

                if (post)
                        return method_not_allowed("GET, HEAD", ret);
                for (int i = 0; lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i) > 0; i++) {
                        if (n == QUERY_ARGS_MAX)
                                return gp_api_error(400, "too many parameters", ret);
                        if (lws_hdr_copy_fragment(wsi, buf[n], sizeof(buf[n]), WSI_TOKEN_HTTP_URI_ARGS, i) < 0)
                                return gp_api_error(400, "a parameter is too long", ret);
                        args[n] = buf[n];
                        n++;
                }
                return gp_api_gate(api, args, status, now_usec(CLOCK_REALTIME), ret);
        }
        if (streq(path, "/run"))
                return post ? gp_api_run(api, ret) : method_not_allowed("POST", ret);
        id = startswith(path, "/runs/");
        if (id)
                return post ? method_not_allowed("GET, HEAD", ret) : gp_api_run_get(api, id, ret);
        return -ENOENT;
}
