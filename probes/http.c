/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/ssl.h>

#include "gp-build.h"
#include "http.h"
#include "util.h"

struct gp_http {
        CURLM *multi;
        atomic_bool cancelled;
};

typedef struct transfer {
        CURL *easy;
        struct curl_slist *headers;
        gp_http_reply *reply;
        gp_buf body;
        size_t max_reply;
        atomic_bool *cancelled;
        bool too_large;
        bool done;
        bool cert_requested;    /* the server sent a TLS CertificateRequest */
        bool client_cert;       /* ClientCertificate= is set */
        char errbuf[CURL_ERROR_SIZE];
} transfer;

void gp_http_reply_done(gp_http_reply *r) {
        free(r->body);
        free(r->content_type);
        free(r->error);
        *r = (gp_http_reply) {0};
}

gp_http *gp_http_new(void) {
        gp_http *h;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return NULL;
        h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->multi = curl_multi_init();
        if (!h->multi) {
                free(h);
                return NULL;
        }
        return h;
}

gp_http *gp_http_free(gp_http *h) {
        if (!h)
                return NULL;
        curl_multi_cleanup(h->multi);
        free(h);
        return NULL;
}

void gp_http_cancel(gp_http *h) {
        atomic_store(&h->cancelled, true);
        curl_multi_wakeup(h->multi);
}

void gp_http_reset_cancel(gp_http *h) {
        atomic_store(&h->cancelled, false);
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata) {
        transfer *t = userdata;
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
        transfer *t = userdata;
        return atomic_load(t->cancelled) ? 1 : 0;
}

static void on_tls_message(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                           void *arg) {
        transfer *t = arg;

        if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
            ((const unsigned char *) buf)[0] == SSL3_MT_CERTIFICATE_REQUEST)
                t->cert_requested = true;
}

/* A TLS connection idles while it waits for the server: without this each one holds a read and a
 * write buffer of ~16 KiB, 33 MB at Users=1000. libcurl here is built on OpenSSL (the probes
 * link it for the WebSocket side too). */
static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *userdata) {
        SSL_CTX_set_mode((SSL_CTX *) ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
        /* See classify(): whether the server asked for a client certificate. */
        SSL_CTX_set_msg_callback((SSL_CTX *) ssl_ctx, on_tls_message);
        SSL_CTX_set_msg_callback_arg((SSL_CTX *) ssl_ctx, userdata);
        return CURLE_OK;
}

static usec_t info_usec(CURL *easy, CURLINFO what) {
        curl_off_t v = 0;

        if (curl_easy_getinfo(easy, what, &v) != CURLE_OK || v < 0)
                return 0;
        return (usec_t) v;
}

static void collect_timing(transfer *t) {
        usec_t dns = info_usec(t->easy, CURLINFO_NAMELOOKUP_TIME_T);
        usec_t conn = info_usec(t->easy, CURLINFO_CONNECT_TIME_T);
        usec_t tls = info_usec(t->easy, CURLINFO_APPCONNECT_TIME_T);
        usec_t first = info_usec(t->easy, CURLINFO_STARTTRANSFER_TIME_T);
        usec_t total = info_usec(t->easy, CURLINFO_TOTAL_TIME_T);
        gp_http_timing *tm = &t->reply->timing;

        /* curl's times are cumulative from the start; report each phase on its own. */
        tm->dns = dns;
        tm->connect = conn > dns ? conn - dns : 0;
        tm->tls = tls > conn ? tls - conn : 0;
        tm->first_byte = first > MAX(tls, conn) ? first - MAX(tls, conn) : 0;
        tm->total = total;
}

static void set_error(gp_http_reply *r, const char *code, const char *fmt, ...) _printf_(3, 4);
static void set_error(gp_http_reply *r, const char *code, const char *fmt, ...) {
        va_list ap;

        r->error_code = code;
        free(r->error);
        va_start(ap, fmt);
        if (vasprintf(&r->error, fmt, ap) < 0)
                r->error = NULL;
        va_end(ap);
}

static void classify(transfer *t, CURLcode rc) {
        gp_http_reply *r = t->reply;
        const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc);

        switch (rc) {
        case CURLE_OK:
                return;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                set_error(r, "net.dns", "%s", detail);
                return;
        case CURLE_COULDNT_CONNECT:
                set_error(r, "net.connect", "%s", detail);
                return;
        case CURLE_OPERATION_TIMEDOUT:
                set_error(r, "net.timeout", "%s", detail);
                return;
        case CURLE_PEER_FAILED_VERIFICATION:
                set_error(r, "tls.verify", "%s", detail);
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
                set_error(r, "tls.handshake", "%s", detail);
                return;
        case CURLE_WRITE_ERROR:
                if (t->too_large) {
                        set_error(r, "too_large", "reply larger than the %zu byte limit", t->max_reply);
                        return;
                }
                break;
        case CURLE_ABORTED_BY_CALLBACK:
                set_error(r, "cancelled", "cancelled");
                return;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
                /* TLS 1.3 authenticates the client after the handshake looks done to libcurl: a
                 * server that refuses our certificate (or its absence) just ends the connection,
                 * and the request gets no reply. */
                if (t->cert_requested) {
                        set_error(r, "tls.handshake", "the server asked for a client certificate and closed the "
                                  "connection (%s): %s", t->client_cert ? "ClientCertificate= not accepted" :
                                  "no ClientCertificate= configured", detail);
                        return;
                }
                set_error(r, "no_reply", "%s", detail);
                return;
        case CURLE_PARTIAL_FILE:
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_BAD_CONTENT_ENCODING:
                set_error(r, "no_reply", "%s", detail);
                return;
        default:
                break;
        }
        set_error(r, "no_reply", "%s (curl error %d)", detail, (int) rc);
}

static int setup(transfer *t, const gp_http_request *req, usec_t timeout) {
        const gp_tls_opts *tls = req->tls;
        CURL *e = t->easy;
        long ms = (long) MAX(timeout / USEC_PER_MSEC, (usec_t) 1);

        STRV_FOREACH(h, req->headers) {
                struct curl_slist *n = curl_slist_append(t->headers, *h);
                if (!n)
                        return -ENOMEM;
                t->headers = n;
        }
        /* curl would add "Expect: 100-continue" for large bodies: a real browser does not. */
        {
                struct curl_slist *n = curl_slist_append(t->headers, "Expect:");
                if (!n)
                        return -ENOMEM;
                t->headers = n;
        }

        if (curl_easy_setopt(e, CURLOPT_URL, req->url) != CURLE_OK)
                return -EINVAL;
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body) {
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(req->body));
        } else if (strcaseeq(req->method, "GET"))
                curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        else if (strcaseeq(req->method, "HEAD"))
                curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "gpprobe/" GP_VERSION);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, t);
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
        curl_easy_setopt(e, CURLOPT_PRIVATE, t);
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ms);
        /* Each run walks the path like a new user: its own DNS lookup, TCP and TLS handshake. */
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
        curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
        /* A redirect on login is an answer to report (login.status), not to follow. */
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) req->max_reply);
        /* Bodies and replies are small JSON; curl's default buffers per transfer (16 KiB to
         * receive, 64 KiB to send) are 80 MB at Users=1000. Larger ones still pass, in more
         * reads and writes. 16 KiB is the smallest send buffer curl takes. */
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
        curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
        curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, t);
        if (tls) {
                /* libcurl caches the parsed trust store across connections only without a CA
                 * directory, and Debian's libcurl sets one by default: every connection would
                 * parse the whole bundle again (~30 ms of CPU each). The bundle file holds the
                 * same certificates. */
                curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
                if (tls->ca_file)
                        curl_easy_setopt(e, CURLOPT_CAINFO, tls->ca_file);
                if (tls->insecure) {
                        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
                        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
                }
                if (tls->client_certificate) {
                        t->client_cert = true;
                        curl_easy_setopt(e, CURLOPT_SSLCERT, tls->client_certificate);
                        curl_easy_setopt(e, CURLOPT_SSLKEY, tls->client_key);
                }
        }
        return 0;
}

static void finish(transfer *t, CURLcode rc) {
        gp_http_reply *r = t->reply;
        const char *ct = NULL;

        t->done = true;
        curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r->status);
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

static int start_transfer(gp_http *h, transfer *t, const gp_http_request *req, usec_t deadline) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        t->easy = curl_easy_init();
        if (!t->easy)
                return -ENOMEM;
        r = setup(t, req, deadline > now ? deadline - now : 1);
        if (r < 0)
                return r;
        if (curl_multi_add_handle(h->multi, t->easy) != CURLM_OK)
                return -ENOMEM;
        return 0;
}

static void end_transfer(gp_http *h, transfer *t) {
        if (t->easy) {
                curl_multi_remove_handle(h->multi, t->easy);
                curl_easy_cleanup(t->easy);
                t->easy = NULL;
        }
        curl_slist_free_all(t->headers);
        t->headers = NULL;
        gp_buf_free(&t->body);
}

int gp_http_perform(gp_http *h, const gp_http_request *reqs, gp_http_reply *replies, size_t n,
                    size_t max_in_flight, usec_t deadline) {
        transfer *ts;
        size_t running = 0, next = 0;
        int r = 0;

        if (max_in_flight == 0 || max_in_flight > GP_HTTP_MAX_IN_FLIGHT)
                max_in_flight = GP_HTTP_MAX_IN_FLIGHT;

        ts = calloc(n ? n : 1, sizeof(transfer));
        if (!ts)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                replies[i] = (gp_http_reply) {0};
                ts[i].reply = &replies[i];
                ts[i].max_reply = reqs[i].max_reply;
                ts[i].cancelled = &h->cancelled;
        }

        for (;;) {
                int still = 0, numfds = 0;
                CURLMsg *msg;
                usec_t now;

                /* Each request's times start when it starts, so the window only bounds the
                 * work and memory in flight (a TLS handshake holds ~70 KiB). */
                while (running < max_in_flight && next < n) {
                        r = start_transfer(h, &ts[next], &reqs[next], deadline);
                        if (r < 0)
                                goto out;
                        next++;
                        running++;
                }
                if (running == 0)
                        break;
                if (atomic_load(&h->cancelled)) {
                        r = -ECANCELED;
                        break;
                }
                if (curl_multi_perform(h->multi, &still) != CURLM_OK) {
                        r = -EIO;
                        break;
                }
                while ((msg = curl_multi_info_read(h->multi, &still))) {
                        transfer *t = NULL;

                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
                        finish(t, msg->data.result);
                        end_transfer(h, t);
                        running--;
                }
                if (running == 0 && next == n)
                        break;
                if (running < max_in_flight && next < n)
                        continue;  /* start more before waiting */
                now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline + 100 * USEC_PER_MSEC) {
                        /* curl enforces the deadline itself; this is only a backstop. */
                        for (size_t i = 0; i < n; i++)
                                if (!ts[i].done) {
                                        set_error(&replies[i], "net.timeout", "no reply before the deadline");
                                        ts[i].done = true;
                                }
                        break;
                }
                if (curl_multi_poll(h->multi, NULL, 0,
                                    (int) MIN((deadline + 100 * USEC_PER_MSEC - now) / USEC_PER_MSEC + 1, 1000ULL),
                                    &numfds) != CURLM_OK) {
                        r = -EIO;
                        break;
                }
        }

out:
        for (size_t i = 0; i < n; i++)
                end_transfer(h, &ts[i]);
        free(ts);
        return r;
}
