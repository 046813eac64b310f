/* SPDX-License-Identifier: MIT */
/* One request's libcurl handle: its options (every result checked), its callbacks, and what
 * became of it as a SPEC section 2 code. */
#include <errno.h>
#include <openssl/ssl.h>
#include <pthread.h>

#include "codes.h"
#include "gp-build.h"
#include "http-internal.h"
#include "tls-openssl.h"

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata) {
        gp_transfer *t = userdata;
        size_t n = size * nmemb;

        if (t->body.len + n > t->max_reply) {
                t->too_large = true;
                return 0;  /* makes curl fail the transfer with CURLE_WRITE_ERROR */
        }
        if (gp_buf_append(&t->body, data, n) < 0)
                return 0;
        return n;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
        gp_transfer *t = userdata;
        return atomic_load(t->cancelled) ? 1 : 0;
}

static void on_tls_message(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                           void *arg) {
        gp_transfer *t = arg;

        if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
            ((const unsigned char *) buf)[0] == SSL3_MT_CERTIFICATE_REQUEST)
                t->cert_requested = true;
}

/* libcurl 7.88 makes an SSL_CTX for each connection: the transfer it is for, for on_verify. */
static int ctx_transfer = -1;
static pthread_once_t ctx_transfer_once = PTHREAD_ONCE_INIT;

static void make_ctx_transfer(void) {
        ctx_transfer = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* Once per depth of the server's chain, as the WebSocket side does (probes/ws.c): the expiry of
 * the leaf and of the chain the server sent, where CURLOPT_CERTINFO would print every
 * certificate as text (its PEM, extensions and key) to be parsed back for one date. OpenSSL's
 * verdict stands. */
static int on_verify(int ok, X509_STORE_CTX *store) {
        SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
        gp_transfer *t = ssl && ctx_transfer >= 0 ? SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_transfer) : NULL;

        if (t)
                gp_cert_expiry_from_store(&t->reply->certs, store);
        return ok;
}

/* A TLS connection idles while it waits for the server: without this each one holds a read and a
 * write buffer of ~16 KiB, 33 MB at Users=1000. libcurl here is built on OpenSSL (the probes
 * link it for the WebSocket side too). */
static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *userdata) {
        SSL_CTX *ctx = ssl_ctx;
        gp_transfer *t = userdata;

        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
        /* See classify(): whether the server asked for a client certificate. */
        SSL_CTX_set_msg_callback(ctx, on_tls_message);
        SSL_CTX_set_msg_callback_arg(ctx, userdata);
        if (t->req->want_certs) {
                (void) pthread_once(&ctx_transfer_once, make_ctx_transfer);
                if (ctx_transfer < 0 || !SSL_CTX_set_ex_data(ctx, ctx_transfer, t))
                        return CURLE_OUT_OF_MEMORY;
                /* libcurl set the mode (peer or none) just before: keep it */
                SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), on_verify);
        }
        return CURLE_OK;
}

static usec_t info_usec(CURL *easy, CURLINFO what) {
        curl_off_t v = 0;

        if (curl_easy_getinfo(easy, what, &v) != CURLE_OK || v < 0)
                return 0;
        return (usec_t) v;
}

static void collect_timing(gp_transfer *t) {
        usec_t dns = info_usec(t->easy, CURLINFO_NAMELOOKUP_TIME_T);
        usec_t conn = info_usec(t->easy, CURLINFO_CONNECT_TIME_T);
        usec_t tls = info_usec(t->easy, CURLINFO_APPCONNECT_TIME_T);
        usec_t first = info_usec(t->easy, CURLINFO_STARTTRANSFER_TIME_T);
        usec_t total = info_usec(t->easy, CURLINFO_TOTAL_TIME_T);
        gp_http_timing *tm = &t->reply->timing;

        /* curl's times are cumulative from its start, after our lookup (curl's own "lookup" is
         * a cache hit); report each phase on its own. */
        tm->dns = t->dns.took + dns;
        tm->connect = conn > dns ? conn - dns : 0;
        tm->tls = tls > conn ? tls - conn : 0;
        tm->first_byte = first > MAX(tls, conn) ? first - MAX(tls, conn) : 0;
        tm->total = t->dns.took + total;
}

void gp_http_reply_fail(gp_http_reply *r, const char *code, const char *fmt, ...) {
        va_list ap;

        r->error_code = code;
        free(r->error);
        va_start(ap, fmt);
        if (vasprintf(&r->error, fmt, ap) < 0)
                r->error = NULL;
        va_end(ap);
}

static void classify(gp_transfer *t, CURLcode rc) {
        gp_http_reply *r = t->reply;
        const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);

        switch (rc) {
        case CURLE_OK:
                return;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                gp_http_reply_fail(r, GP_CODE_NET_DNS, "%s", detail);
                return;
        case CURLE_COULDNT_CONNECT:
                gp_http_reply_fail(r, GP_CODE_NET_CONNECT, "%s", detail);
                return;
        case CURLE_OPERATION_TIMEDOUT:
                gp_http_reply_fail(r, GP_CODE_NET_TIMEOUT, "%s", detail);
                return;
        case CURLE_PEER_FAILED_VERIFICATION:
                gp_http_reply_fail(r, GP_CODE_TLS_VERIFY, "%s", detail);
                return;
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_USE_SSL_FAILED:
        case CURLE_SSL_SHUTDOWN_FAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CLIENTCERT:
                /* A certificate that fails verification is CURLE_PEER_FAILED_VERIFICATION. */
                gp_http_reply_fail(r, GP_CODE_TLS_HANDSHAKE, "%s", detail);
                return;
        case CURLE_WRITE_ERROR:
                if (t->too_large) {
                        gp_http_reply_fail(r, "too_large", "reply larger than the %zu byte limit", t->max_reply);
                        return;
                }
                break;
        case CURLE_ABORTED_BY_CALLBACK:
                gp_http_reply_fail(r, "cancelled", "cancelled");
                return;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
                /* TLS 1.3 authenticates the client after the handshake looks done to libcurl: a
                 * server that refuses our certificate (or its absence) just ends the connection,
                 * and the request gets no reply. */
                if (t->cert_requested) {
                        gp_http_reply_fail(r, GP_CODE_TLS_HANDSHAKE, "the server asked for a client certificate and "
                                           "closed the connection (%s): %s", t->client_cert ?
                                           "ClientCertificate= not accepted" : "no ClientCertificate= configured",
                                           detail);
                        return;
                }
                gp_http_reply_fail(r, "no_reply", "%s", detail);
                return;
        case CURLE_PARTIAL_FILE:
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_BAD_CONTENT_ENCODING:
                gp_http_reply_fail(r, "no_reply", "%s", detail);
                return;
        default:
                break;
        }
        gp_http_reply_fail(r, "no_reply", "%s (curl error %d)", detail, (int) rc);
}

/* Every option's result counts: the first one libcurl refuses (a libcurl built without a
 * feature, a bad value) fails the request, naming the option. */
#define easy_set(t, opt, val) setopt_checked((t), #opt, curl_easy_setopt((t)->easy, opt, val))

static void setopt_checked(gp_transfer *t, const char *name, CURLcode rc) {
        if (rc != CURLE_OK && t->setopt_rc == CURLE_OK) {
                t->setopt_rc = rc;
                t->setopt_name = name;
        }
}

int gp_slist_append(struct curl_slist **l, const char *s) {
        struct curl_slist *n = curl_slist_append(*l, s);

        if (!n)
                return -ENOMEM;
        *l = n;
        return 0;
}

int gp_transfer_setup(gp_transfer *t, usec_t timeout, char **ret_error) {
        const gp_http_request *req = t->req;
        const gp_tls_opts *tls = req->tls;
        long ms = (long) MAX(timeout / USEC_PER_MSEC, (usec_t) 1);

        STRV_FOREACH(h, req->headers)
                if (gp_slist_append(&t->headers, *h) < 0)
                        return -ENOMEM;
        /* curl would add "Expect: 100-continue" for large bodies: a real browser does not. */
        if (gp_slist_append(&t->headers, "Expect:") < 0)
                return -ENOMEM;

        easy_set(t, CURLOPT_URL, req->url);
        /* libcurl never looks a name up itself: it connects to what our lookup found. */
        if (t->resolve)
                easy_set(t, CURLOPT_RESOLVE, t->resolve);
        easy_set(t, CURLOPT_PROTOCOLS_STR, "http,https");
        easy_set(t, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body) {
                easy_set(t, CURLOPT_POSTFIELDS, req->body);
                easy_set(t, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(req->body));
        } else if (strcaseeq(req->method, "GET"))
                easy_set(t, CURLOPT_HTTPGET, 1L);
        else if (strcaseeq(req->method, "HEAD"))
                easy_set(t, CURLOPT_NOBODY, 1L);
        easy_set(t, CURLOPT_HTTPHEADER, t->headers);
        easy_set(t, CURLOPT_USERAGENT, "gpprobe/" GP_VERSION);
        easy_set(t, CURLOPT_WRITEFUNCTION, on_write);
        easy_set(t, CURLOPT_WRITEDATA, t);
        easy_set(t, CURLOPT_XFERINFOFUNCTION, on_progress);
        easy_set(t, CURLOPT_XFERINFODATA, t);
        easy_set(t, CURLOPT_NOPROGRESS, 0L);
        easy_set(t, CURLOPT_ERRORBUFFER, t->errbuf);
        easy_set(t, CURLOPT_PRIVATE, t);
        easy_set(t, CURLOPT_NOSIGNAL, 1L);
        easy_set(t, CURLOPT_TIMEOUT_MS, ms);
        easy_set(t, CURLOPT_CONNECTTIMEOUT_MS, ms);
        /* Each run walks the path like a new user: its own DNS lookup, TCP and TLS handshake. */
        easy_set(t, CURLOPT_FRESH_CONNECT, 1L);
        easy_set(t, CURLOPT_FORBID_REUSE, 1L);
        easy_set(t, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
        /* A redirect on login is an answer to report (login.status), not to follow. */
        easy_set(t, CURLOPT_FOLLOWLOCATION, 0L);
        easy_set(t, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) req->max_reply);
        /* Bodies and replies are small JSON; curl's default buffers per transfer (16 KiB to
         * receive, 64 KiB to send) are 80 MB at Users=1000. Larger ones still pass, in more
         * reads and writes. 16 KiB is the smallest send buffer curl takes. */
        easy_set(t, CURLOPT_BUFFERSIZE, 4096L);
        easy_set(t, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
        easy_set(t, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        easy_set(t, CURLOPT_SSL_CTX_DATA, t);
        if (tls) {
                /* libcurl caches the parsed trust store across connections only without a CA
                 * directory, and Debian's libcurl sets one by default: every connection would
                 * parse the whole bundle again (~30 ms of CPU each). The bundle file holds the
                 * same certificates. */
                easy_set(t, CURLOPT_CAPATH, NULL);
                if (tls->ca_file)
                        easy_set(t, CURLOPT_CAINFO, tls->ca_file);
                if (tls->insecure) {
                        easy_set(t, CURLOPT_SSL_VERIFYPEER, 0L);
                        easy_set(t, CURLOPT_SSL_VERIFYHOST, 0L);
                }
                if (tls->client_certificate) {
                        t->client_cert = true;
                        easy_set(t, CURLOPT_SSLCERT, tls->client_certificate);
                        easy_set(t, CURLOPT_SSLKEY, tls->client_key);
                }
        }
        if (t->setopt_rc == CURLE_OUT_OF_MEMORY)
                return -ENOMEM;
        if (t->setopt_rc != CURLE_OK) {
                *ret_error = strdup_printf("libcurl refused %s: %s", t->setopt_name,
                                           curl_easy_strerror(t->setopt_rc));
                return *ret_error ? -EINVAL : -ENOMEM;
        }
        return 0;
}

void gp_transfer_finish(gp_transfer *t, CURLcode rc) {
        gp_http_reply *r = t->reply;
        const char *ct = NULL;

        t->done = true;
        if (curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r->status) != CURLE_OK)
                r->status = 0;
        if (curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
                r->content_type = strdup(ct);
        collect_timing(t);
        if (rc == CURLE_FILESIZE_EXCEEDED) {
                t->too_large = true;
                rc = CURLE_WRITE_ERROR;
        }
        classify(t, rc);
        if (!r->error_code) {
                r->body = t->body.data ? TAKE_PTR(t->body.data) : strdup("");
                r->len = t->body.len;
        }
}
