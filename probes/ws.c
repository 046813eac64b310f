/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <ev.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "codes.h"
#include "tls-openssl.h"
#include "util.h"
#include "ws.h"

/* One context for the process's whole life: creating a second one while a TLS handshake is in
 * flight breaks that handshake (a libwebsockets 4.1 global-state trap). Client TLS settings live
 * on a vhost, replaced between runs when they change.
 *
 * The context runs on a libev loop of ours (lws's libev event-lib plugin, a "foreign" loop):
 * lws 4.1's own loop poll()s every socket on every wakeup, O(connections) per frame at
 * Users=1000; libev's epoll backend wakes for the ready ones only. lws's timers (sul: its
 * timeouts, close handshakes) run from its libev idle watcher, started after every fd event, and
 * from its libev timer; but lws 4.1 re-arms that timer with ev_timer_start on a watcher already
 * active, which libev ignores, so a timer lws arms earlier than the one pending would wait for it
 * (checked: a 1 s lws_set_timeout fired after 5 s). lws_tick bounds that: while the loop runs it
 * wakes lws every LWS_TICK through lws_cancel_service (its event pipe is an fd on the loop), and
 * the idle pass that follows runs every timer due. gp_ws_wake_at is a libev timer of ours. */
struct gp_ws {
        struct lws_context *ctx;
        struct lws_vhost *vhost;
        char *vh_ca_file;
        char *vh_cert;
        char *vh_key;
        bool vh_insecure;
        struct ev_loop *loop;
        ev_timer wake_timer;
        ev_timer lws_tick;      /* repeats; fires only inside gp_ws_service (ev_run) */
        usec_t wake_when;       /* what wake_timer is armed for; USEC_INFINITY when not armed */
};

struct gp_ws_conn {
        gp_ws *ws;
        struct lws *wsi;
        const gp_ws_handler *handler;
        void *ud;
        char **headers;         /* may hold the token: freed with strv_free_secret() */
        size_t max_message;
        bool established;
        bool ended;             /* failed or closed was reported */
        bool close_requested;
        bool closing;
        int peer_close_code;
        char *peer_close_reason;
        int verify_error;       /* X509_V_ERR_*, first seen */
        int verify_depth;
        char *selected;  /* the server's Sec-WebSocket-Protocol; may hold the token */
        bool keep_headers;
        char *response_headers; /* the upgrade reply's, when keep_headers; may hold the token */
        int http_status;
        gp_buf rx;
        bool rx_binary;
        unsigned char *tx;      /* LWS_PRE headroom + message */
        size_t tx_len;
        usec_t t_start, t_tcp, t_tls, t_upgrade;  /* CLOCK_MONOTONIC; 0 = not yet (issue 12) */
        gp_cert_expiry cert;
};

/* See emit_log(). */
static _Thread_local char last_info[160];
/* SSL ex_data slot: set when the server sent a CertificateRequest (see on_tls_message). */
static int cert_request_index = -1;
/* SSL ex_data slot: CLOCK_MONOTONIC when the first ClientHello was written (TCP is up then). */
static int hello_index = -1;
_Static_assert(sizeof(uintptr_t) >= sizeof(usec_t), "a usec_t fits in ex_data's pointer");
static _Thread_local char rx_error[160];

static int protocol_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

/* lws gives each connection a receive buffer of rx_buffer_size: messages arrive in chunks of
 * that size and are put together in gp_ws_conn.rx anyway, so a small one costs a few more
 * callbacks for a big message and saves 60 KiB per connection (60 MB at Users=1000). */
static const struct lws_protocols protocols[] = {
        { .name = "gpprobe", .callback = protocol_cb, .rx_buffer_size = 4096, .tx_packet_size = 65536 },
        { .name = NULL }
};

static void conn_fail(gp_ws_conn *c, const char *code, const char *fmt, ...) _printf_(3, 4);
static void conn_fail(gp_ws_conn *c, const char *code, const char *fmt, ...) {
        _cleanup_free_ char *reason = NULL;
        va_list ap;

        if (c->ended)
                return;
        c->ended = true;
        va_start(ap, fmt);
        reason = strdup_vprintf(fmt, ap);
        va_end(ap);
        c->handler->failed(c->ud, code, reason ? reason : code);
}

static void conn_closed(gp_ws_conn *c) {
        if (c->ended)
                return;
        c->ended = true;
        if (c->peer_close_code > 0)
                c->handler->closed(c->ud, c->peer_close_code, strempty(c->peer_close_reason));
        else
                c->handler->closed(c->ud, 1006, "connection dropped without a close frame");
}

static void on_tls_message(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl,
                           void *arg) {
        if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
            ((const unsigned char *) buf)[0] == SSL3_MT_CERTIFICATE_REQUEST && cert_request_index >= 0)
                SSL_set_ex_data(ssl, cert_request_index, (void *) 1);
        if (write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
            ((const unsigned char *) buf)[0] == SSL3_MT_CLIENT_HELLO && hello_index >= 0 &&
            !SSL_get_ex_data(ssl, hello_index))
                SSL_set_ex_data(ssl, hello_index, (void *) (uintptr_t) now_usec(CLOCK_MONOTONIC));
}

/* Before the upgrade request goes out: TLS (if any) is done. */
static void mark_tls_done(gp_ws_conn *c, struct lws *wsi) {
        SSL *ssl = lws_get_ssl(wsi);
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (ssl && hello_index >= 0 && SSL_get_ex_data(ssl, hello_index)) {
                c->t_tcp = (usec_t) (uintptr_t) SSL_get_ex_data(ssl, hello_index);
                c->t_tls = now;
        } else if (!ssl)
                c->t_tcp = now;
}

static bool cert_requested(struct lws *wsi) {
        SSL *ssl = wsi ? lws_get_ssl(wsi) : NULL;

        return ssl && cert_request_index >= 0 && SSL_get_ex_data(ssl, cert_request_index);
}

/* The upgrade reply's headers as lws parsed them, but for cookies and credentials. */
static void keep_response_headers(gp_ws_conn *c, struct lws *wsi) {
        gp_buf b = {0};

        if (!c->keep_headers || !wsi || c->response_headers)
                return;
        c->http_status = (int) lws_http_client_http_response(wsi);
        for (int t = 0; t < (int) _WSI_TOKEN_CLIENT_SENT_PROTOCOLS; t++) {
                const char *name = (const char *) lws_token_to_string((enum lws_token_indexes) t);
                int n = lws_hdr_total_length(wsi, (enum lws_token_indexes) t);
                size_t k = name ? strlen(name) : 0;
                char *v;

                if (n <= 0 || k < 2 || name[0] == ':' || name[k - 1] != ':' || strstr(name, "cookie") ||
                    strstr(name, "authorization"))
                        continue;
                v = malloc((size_t) n + 1);
                if (v && lws_hdr_copy(wsi, v, n + 1, (enum lws_token_indexes) t) >= 0)
                        gp_buf_printf(&b, "%s%s %s", b.len ? "\n" : "", name, v);
                secret_free(v);
        }
        c->response_headers = b.data;
}

static void classify_connection_error(gp_ws_conn *c, struct lws *wsi, const char *msg) {
        int status = wsi ? (int) lws_http_client_http_response(wsi) : 0;

        if (status > 0)
                keep_response_headers(c, wsi);
        c->http_status = status;

        if (c->verify_error != 0)
                conn_fail(c, GP_CODE_TLS_VERIFY, "certificate verification failed: %s (depth %d)",
                          X509_verify_cert_error_string(c->verify_error), c->verify_depth);
        else if (status <= 0 && cert_requested(wsi))
                /* TLS 1.3 authenticates the client after the handshake looks done to the client: a
                 * server that refuses our certificate (or its absence) just ends the connection. */
                conn_fail(c, GP_CODE_TLS_HANDSHAKE, "the server asked for a client certificate and closed the connection "
                          "(%s): %s", c->ws->vh_cert ? "ClientCertificate= not accepted" :
                          "no ClientCertificate= configured", msg);
        else if (startswith(msg, "HS: ws upgrade") && status > 0)
                conn_fail(c, GP_CODE_WS_UPGRADE, "upgrade refused with HTTP %d", status);
        else if (startswith(msg, "HS: PROTOCOL malformed"))
                conn_fail(c, GP_CODE_WS_UPGRADE, "server selected a subprotocol that was not offered");
        else if (startswith(msg, "HS:"))
                conn_fail(c, GP_CODE_WS_UPGRADE, "bad upgrade reply (HTTP %d): %s", status, msg);
        else if (strstr(msg, "SSL") || strstr(msg, "ssl") || strstr(msg, "tls"))
                conn_fail(c, GP_CODE_TLS_HANDSHAKE, "TLS handshake failed: %s", msg);
        else if (strstr(msg, "Unable to connect") || strstr(msg, "connect"))
                conn_fail(c, GP_CODE_NET_CONNECT, "connection failed: %s", msg);
        else
                conn_fail(c, GP_CODE_WS_UPGRADE, "WebSocket handshake failed: %s", msg);
}

static int append_headers(gp_ws_conn *c, struct lws *wsi, unsigned char **p, size_t space) {
        unsigned char *end = *p + space;

        STRV_FOREACH(h, c->headers) {
                const char *colon = strchr(*h, ':');
                _cleanup_free_ char *name = NULL;
                const char *value;

                if (!colon)
                        continue;
                name = strndup(*h, (size_t) (colon - *h) + 1);  /* lws wants the colon */
                if (!name)
                        return -1;
                value = colon + 1 + strspn(colon + 1, " \t");
                if (lws_add_http_header_by_name(wsi, (const unsigned char *) name,
                                                (const unsigned char *) value, (int) strlen(value), p, end)) {
                        conn_fail(c, GP_CODE_WS_UPGRADE, "handshake headers too large");
                        return -1;
                }
        }
        return 0;
}

static int on_receive(gp_ws_conn *c, struct lws *wsi, const void *in, size_t len) {
        if (lws_is_first_fragment(wsi)) {
                gp_buf_reset(&c->rx);
                c->rx_binary = lws_frame_is_binary(wsi);
        }
        if (c->rx.len + len > c->max_message) {
                conn_fail(c, GP_CODE_WS_PROTOCOL, "message larger than the %zu byte limit", c->max_message);
                return -1;
        }
        if (gp_buf_append(&c->rx, in, len) < 0) {
                conn_fail(c, GP_CODE_INTERNAL, "out of memory reading a message");
                return -1;
        }
        if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
                c->handler->message(c->ud, c->rx.data ? c->rx.data : "", c->rx.len, c->rx_binary,
                                    now_usec(CLOCK_MONOTONIC));
                gp_buf_reset(&c->rx);
        }
        return 0;
}

static int on_writeable(gp_ws_conn *c, struct lws *wsi) {
        if (c->close_requested) {
                lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
                c->closing = true;
                return -1;
        }
        if (c->tx) {
                int n = lws_write(wsi, c->tx + LWS_PRE, c->tx_len, LWS_WRITE_TEXT);
                usec_t at = now_usec(CLOCK_MONOTONIC);

                free(c->tx);
                c->tx = NULL;
                if (n < 0) {
                        conn_fail(c, GP_CODE_WS_CLOSED, "writing the request failed");
                        return -1;
                }
                c->handler->sent(c->ud, at);
        }
        return 0;
}

static int protocol_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
        gp_ws_conn *c = wsi ? lws_get_opaque_user_data(wsi) : NULL;

        if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS) {
                /* Once per client SSL_CTX (user), with a stand-in wsi: see classify_connection_error(). */
                SSL_CTX_set_msg_callback(user, on_tls_message);
                return 0;
        }
        if (!c)
                return 0;

        switch (reason) {
        case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
                /* user is the X509_STORE_CTX, len is preverify_ok; once per chain depth. */
                gp_cert_expiry_from_store(&c->cert, user);
                if (len == 0 && c->verify_error == 0) {
                        c->verify_error = X509_STORE_CTX_get_error(user);
                        c->verify_depth = X509_STORE_CTX_get_error_depth(user);
                }
                return 0;
        case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
                mark_tls_done(c, wsi);
                return append_headers(c, wsi, (unsigned char **) in, len);
        case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
                c->t_upgrade = now_usec(CLOCK_MONOTONIC);
                /* The headers are gone by ESTABLISHED: read the server's choice now. */
                /* As long as the token it may carry (a JWT is often 500+ bytes). */
                secret_free(c->selected);
                c->selected = calloc(1, (size_t) MAX(lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL), 0) + 1);
                if (!c->selected)
                        return -1;
                if (lws_hdr_copy(wsi, c->selected, lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) + 1,
                                 WSI_TOKEN_PROTOCOL) < 0)
                        c->selected[0] = '\0';
                keep_response_headers(c, wsi);
                return 0;
        case LWS_CALLBACK_CLIENT_ESTABLISHED:
                c->established = true;
                c->handler->established(c->ud, strempty(c->selected));
                return 0;
        case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
                char msg[256];
                snprintf(msg, sizeof(msg), "%.*s", in ? (int) MIN(len ? len : strlen(in), 200) : 0,
                         in ? (const char *) in : "");
                classify_connection_error(c, wsi, msg);
                return 0;
        }
        case LWS_CALLBACK_CLIENT_RECEIVE:
                return on_receive(c, wsi, in, len);
        case LWS_CALLBACK_CLIENT_WRITEABLE:
                return on_writeable(c, wsi);
        case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
                if (len >= 2 && in) {
                        const unsigned char *b = in;
                        c->peer_close_code = (b[0] << 8) | b[1];
                        free(c->peer_close_reason);
                        c->peer_close_reason = strndup((const char *) b + 2, MIN(len - 2, (size_t) 123));
                } else
                        c->peer_close_code = 1005;  /* a close frame without a code */
                return 0;
        case LWS_CALLBACK_CLIENT_CLOSED:
                if (rx_error[0] && c->peer_close_code == 0)
                        conn_fail(c, GP_CODE_WS_PROTOCOL, "invalid WebSocket framing from the server: %s", rx_error);
                rx_error[0] = '\0';
                if (!c->closing)
                        conn_closed(c);
                c->ended = true;
                return 0;
        case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
                if (!c->established)
                        conn_fail(c, GP_CODE_WS_UPGRADE, "connection closed during the WebSocket handshake");
                return 0;
        case LWS_CALLBACK_WSI_DESTROY:
                c->wsi = NULL;
                if (!c->ended)
                        conn_fail(c, c->established ? GP_CODE_WS_CLOSED : GP_CODE_WS_UPGRADE, "connection lost");
                c->handler->destroyed(c->ud);
                return 0;
        default:
                return 0;
        }
}

/* libwebsockets 4.1 reports invalid framing from the server only in its log: the parser logs
 * what was wrong ("illegal opcode", "rsv bits", "bad utf8", ...), then "client_rx_sm exited,
 * DROPPING", then closes the connection as if the peer had dropped it, synchronously within the
 * same service call. The log hook keeps that detail for the CLIENT_CLOSED that follows. */

static bool show_log;  /* GPPROBE_LWS_DEBUG=1; set once, by gp_ws_log_setup() */

static void emit_log(int level, const char *line) {
        if (show_log)
                fprintf(stderr, "lws: %s", line);
        if (strstr(line, "client_rx_sm exited"))
                snprintf(rx_error, sizeof(rx_error), "%s", last_info[0] ? last_info : "invalid frame");
        else if (level == LLL_INFO || level == LLL_ERR || level == LLL_WARN) {
                const char *msg = strstr(line, "]: ") ? strstr(line, "]: ") + 3 : line;

                /* Not hexdumps of the payload ("0000: 7B 22 ...", "(hexdump: zero length)"). */
                if (is_blank_line(msg) || startswith(msg, "(hexdump") ||
                    (strspn(msg, "0123456789ABCDEF") == 4 && msg[4] == ':'))
                        return;
                snprintf(last_info, sizeof(last_info), "%.*s", (int) strcspn(msg, "\r\n"), msg);
        }
}

void gp_ws_log_setup(void) {
        show_log = !isempty(getenv("GPPROBE_LWS_DEBUG"));
        /* No NOTICE: the banners every context prints at creation. */
        lws_set_log_level(LLL_ERR | LLL_WARN | LLL_INFO | (show_log ? LLL_NOTICE : 0), emit_log);
}

#define LWS_TICK 0.05  /* s: the most an lws timer is late when no fd event comes */

static void lws_tick_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        gp_ws *ws = lws_container_of(w, gp_ws, lws_tick);

        lws_cancel_service(ws->ctx);
}

static void wake_cb(struct ev_loop *loop, ev_timer *w, int revents) {
        gp_ws *ws = lws_container_of(w, gp_ws, wake_timer);

        ws->wake_when = USEC_INFINITY;  /* firing is all it does: gp_ws_service returns */
}

int gp_ws_new(gp_ws **ret, char **ret_error) {
        struct lws_context_creation_info info = {0};
        void *foreign[1];
        gp_ws *ws;

        ws = calloc(1, sizeof(*ws));
        if (!ws)
                return -ENOMEM;
        if (cert_request_index < 0)
                cert_request_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        if (hello_index < 0)
                hello_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        ws->wake_when = USEC_INFINITY;
        /* epoll, and the process's signal mask left alone (the daemon's main thread owns signals). */
        ws->loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOSIGMASK | EVFLAG_NOENV);
        if (!ws->loop) {
                free(ws);
                *ret_error = strdup("creating the event loop (libev, epoll) failed");
                return -EIO;
        }
        ev_init(&ws->wake_timer, wake_cb);
        ev_timer_init(&ws->lws_tick, lws_tick_cb, LWS_TICK, LWS_TICK);
        foreign[0] = ws->loop;
        info.foreign_loops = foreign;
        /* RFC 6455 8.1: a text message that is not UTF-8 fails the connection. lws checks it only
         * when asked, on the context ("utf8 error" in its log, then the drop: ws.protocol). */
        info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                       LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_LIBEV;
        info.port = CONTEXT_PORT_NO_LISTEN;
        info.pt_serv_buf_size = 32768;       /* room for big tokens in handshake headers */
        info.max_http_header_data = 16384;
        ws->ctx = lws_create_context(&info);
        if (!ws->ctx) {
                ev_loop_destroy(ws->loop);
                free(ws);
                /* Debian's lws loads its libev support as a plugin (libwebsockets-evlib-ev). */
                *ret_error = strdup("creating the libwebsockets context failed (is lws's libev "
                                    "event-lib plugin installed? libwebsockets-evlib-ev)");
                return -EIO;
        }
        ev_timer_start(ws->loop, &ws->lws_tick);
        *ret = ws;
        return 0;
}

static void vhost_drop(gp_ws *ws) {
        if (ws->vhost)
                lws_vhost_destroy(ws->vhost);
        ws->vhost = NULL;
        free(ws->vh_ca_file);
        free(ws->vh_cert);
        free(ws->vh_key);
        ws->vh_ca_file = ws->vh_cert = ws->vh_key = NULL;
}

gp_ws *gp_ws_free(gp_ws *ws) {
        if (!ws)
                return NULL;
        ev_timer_stop(ws->loop, &ws->wake_timer);
        ev_timer_stop(ws->loop, &ws->lws_tick);
        vhost_drop(ws);
        lws_context_destroy(ws->ctx);  /* a foreign loop: lws leaves it to us */
        ev_loop_destroy(ws->loop);
        free(ws);
        return NULL;
}

static char *strdup_or_null(const char *s) {
        return s ? strdup(s) : NULL;
}

int gp_ws_use_tls(gp_ws *ws, const gp_tls_opts *tls, char **ret_error) {
        struct lws_context_creation_info info = {0};

        if (ws->vhost && streq_ptr(ws->vh_ca_file, tls->ca_file) && streq_ptr(ws->vh_cert, tls->client_certificate) &&
            streq_ptr(ws->vh_key, tls->client_key) && ws->vh_insecure == tls->insecure)
                return 0;
        vhost_drop(ws);

        info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        /* CAFile= replaces the system trust store, as it does for the login (libcurl); loading
         * the system store is also ~60 ms of CPU per vhost. */
        if (tls->ca_file)
                info.options |= LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
        info.port = CONTEXT_PORT_NO_LISTEN;
        info.protocols = protocols;
        info.vhost_name = "gpprobe-client";
        info.client_ssl_ca_filepath = tls->ca_file;
        info.client_ssl_cert_filepath = tls->client_certificate;
        info.client_ssl_private_key_filepath = tls->client_key;
        /* lws's own stage timeouts would end a slow handshake with a misleading reason; the
         * golden path enforces ConnectTimeout= and Timeout= itself. */
        info.timeout_secs = 24 * 3600;
        ws->vhost = lws_create_vhost(ws->ctx, &info);
        if (!ws->vhost) {
                *ret_error = strdup_printf("setting up TLS failed (CAFile=%s, ClientCertificate=%s)",
                                           strempty(tls->ca_file), strempty(tls->client_certificate));
                return -EIO;
        }
        ws->vh_ca_file = strdup_or_null(tls->ca_file);
        ws->vh_cert = strdup_or_null(tls->client_certificate);
        ws->vh_key = strdup_or_null(tls->client_key);
        ws->vh_insecure = tls->insecure;
        return 0;
}

int gp_ws_connect(gp_ws *ws, const gp_ws_target *t, const gp_ws_handler *handler, void *ud,
                  gp_ws_conn **ret, char **ret_error) {
        struct lws_client_connect_info cc = {0};
        gp_ws_conn *c;

        if (!ws->vhost) {
                *ret_error = strdup("internal: no client vhost");
                return -EINVAL;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->ws = ws;
        c->handler = handler;
        c->ud = ud;
        c->max_message = t->max_message;
        c->t_start = now_usec(CLOCK_MONOTONIC);
        c->keep_headers = t->keep_headers;
        c->headers = strv_copy(t->headers);
        if (!c->headers) {
                free(c);
                return -ENOMEM;
        }

        cc.context = ws->ctx;
        cc.vhost = ws->vhost;
        cc.address = t->address;
        cc.port = t->port;
        cc.host = t->host;
        cc.origin = t->host;
        cc.path = t->path;
        cc.protocol = t->subprotocols;
        cc.local_protocol_name = "gpprobe";
        cc.alpn = "http/1.1";
        cc.opaque_user_data = c;
        cc.pwsi = &c->wsi;
        if (t->tls) {
                cc.ssl_connection = LCCSCF_USE_SSL;
                if (ws->vh_insecure)
                        cc.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                                             LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
        }
        if (!lws_client_connect_via_info(&cc)) {
                /* Failures inside connect_via_info produce no callback at all. */
                c->wsi = NULL;
                strv_free_secret(c->headers);
                free(c);
                *ret_error = strdup_printf("could not start a connection to %s port %d", t->address, t->port);
                return -ECONNREFUSED;
        }
        *ret = c;
        return 0;
}

int gp_ws_send_text(gp_ws_conn *c, const char *data, size_t len) {
        if (c->tx)
                return -EBUSY;
        if (!c->wsi)
                return -ENOTCONN;
        c->tx = malloc(LWS_PRE + len);
        if (!c->tx)
                return -ENOMEM;
        memcpy(c->tx + LWS_PRE, data, len);
        c->tx_len = len;
        lws_callback_on_writable(c->wsi);
        return 0;
}

void gp_ws_close(gp_ws_conn *c) {
        if (!c->wsi || c->close_requested)
                return;
        c->close_requested = true;
        c->ended = true;
        lws_callback_on_writable(c->wsi);
}

void gp_ws_abort(gp_ws_conn *c) {
        if (!c->wsi)
                return;
        c->ended = true;
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

const char *gp_ws_conn_response_headers(const gp_ws_conn *c) {
        return c ? c->response_headers : NULL;
}

int gp_ws_conn_http_status(const gp_ws_conn *c) {
        return c ? c->http_status : 0;
}

bool gp_ws_conn_alive(const gp_ws_conn *c) {
        return c && c->wsi;
}

static usec_t span(usec_t from, usec_t to) {
        return from == 0 || to == 0 || to < from ? USEC_INFINITY : to - from;
}

void gp_ws_conn_timing(const gp_ws_conn *c, gp_ws_timing *ret) {
        *ret = (gp_ws_timing) {
                .connect = span(c->t_start, c->t_tcp),
                .tls = span(c->t_tcp, c->t_tls),
                .upgrade = span(c->t_tls ? c->t_tls : c->t_tcp, c->t_upgrade),
                .ready = USEC_INFINITY,
        };
}

void gp_ws_conn_cert_expiry(const gp_ws_conn *c, gp_cert_expiry *ret) {
        *ret = c->cert;
}

gp_ws_conn *gp_ws_conn_free(gp_ws_conn *c) {
        if (!c)
                return NULL;
        if (c->wsi) {
                gp_ws_abort(c);
                if (c->wsi)  /* still not gone: detach so late callbacks find nothing */
                        lws_set_opaque_user_data(c->wsi, NULL);
        }
        strv_free_secret(c->headers);  /* "Authorization: Bearer <token>" with Auth=header */
        secret_free(c->selected);
        secret_free(c->response_headers);
        free(c->peer_close_reason);
        gp_buf_free(&c->rx);
        free(c->tx);
        free(c);
        return NULL;
}

int gp_ws_service(gp_ws *ws) {
        rx_error[0] = '\0';
        /* One pass: waits for a ready fd or timer, runs its watchers (lws's, ours), returns.
         * ev_run returns nonzero while watchers are active, so its result says nothing here. */
        (void) ev_run(ws->loop, EVRUN_ONCE);
        return 0;
}

void gp_ws_wake_at(gp_ws *ws, usec_t when) {
        usec_t now;

        if (when == ws->wake_when)
                return;
        ev_timer_stop(ws->loop, &ws->wake_timer);
        ws->wake_when = when;
        if (when == USEC_INFINITY)
                return;
        /* libev times timers from its cached loop time: refresh it, or a wake armed after a long
         * pass of callbacks fires that much early. */
        ev_now_update(ws->loop);
        now = now_usec(CLOCK_MONOTONIC);
        ev_timer_set(&ws->wake_timer, when > now ? (ev_tstamp) (when - now) / 1e6 : 0., 0.);
        ev_timer_start(ws->loop, &ws->wake_timer);
}

void gp_ws_wake(gp_ws *ws) {
        lws_cancel_service(ws->ctx);
}
