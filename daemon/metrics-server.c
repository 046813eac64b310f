/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "api-http.h"
#include "metrics-server.h"
#include "metrics.h"
#include "time-util.h"
#include "util.h"

#define CHUNK 16384

struct gp_metrics_server {
        struct lws_context *ctx;
        pthread_t thread;
        bool started;
        int efd;
        atomic_bool quit;
        _Atomic usec_t beat;           /* CLOCK_MONOTONIC of the event loop's last heartbeat */

        pthread_mutex_t lock;          /* guards up to the next blank line */
        gp_blob *metrics, *status;
        char *want;                    /* the address asked for; NULL: nowhere */
        unsigned want_gen;
        bool have_report;
        char *report_address;
        char *report_error;

        struct lws_vhost *vhost;       /* plain HTTP; never listens itself */
        gp_api *api;
        gp_api_settings want_api;      /* under the lock */
        unsigned want_api_gen;

        /* The server thread's own. */
        gp_api_settings api_cur;
        unsigned applied_api_gen;
        struct lws_vhost *tls_vhost;   /* [API] TLSCertificate=: serves every connection */
        char *tls_error;               /* it could not be made: nothing is served */
        gp_rate_table *rates;
        int listen_fd;                 /* owned by listen_wsi */
        struct lws *listen_wsi;
        bool accepting;
        bool paused;                   /* out of descriptors: accept again after a pause */
        bool closing;                  /* the context is being destroyed */
        lws_sorted_usec_list_t resume;
        unsigned conns;
        unsigned applied_gen;
        char *last_error;
        bool retry_due;
        bool api_changed;              /* the listener must be made again, on the new vhost */
        lws_sorted_usec_list_t retry;
        unsigned char out[LWS_PRE + CHUNK];
};

/* One connection's response in progress: a body that is either static text or a blob's. */
typedef struct conn {
        gp_blob *ref;
        const char *data;
        size_t len, sent;
        bool close;
        const char *allow;             /* a 405's Allow: (static text); NULL: GET, HEAD */
} conn;

static void conn_reset(conn *c) {
        c->ref = gp_blob_unref(c->ref);
        c->data = NULL;
        c->len = c->sent = 0;
        c->allow = NULL;
}

static int finish(struct lws *wsi, conn *c) {
        bool close = c->close;

        conn_reset(c);
        if (close)
                return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Headers now; the body, if any, when the socket is writable. ref (taken over) holds data. */
static int respond(struct lws *wsi, conn *c, unsigned status, const char *type, gp_blob *ref,
                   const char *data, size_t len, bool head, bool close) {
        unsigned char buf[LWS_PRE + 512], *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;
        static const unsigned char no_store[] = "no-store", conn_close[] = "close", bearer[] = "Bearer", one[] = "1";
        const char *allow = c->allow ? c->allow : "GET, HEAD";

        conn_reset(c);
        c->ref = ref;
        c->data = data;
        c->len = len;
        c->close = close;
        if (lws_add_http_common_headers(wsi, status, type, len, &p, end) ||
            lws_add_http_header_by_name(wsi, (const unsigned char *) "cache-control:", no_store,
                                        sizeof(no_store) - 1, &p, end) ||
            (status == HTTP_STATUS_METHOD_NOT_ALLOWED &&
             lws_add_http_header_by_name(wsi, (const unsigned char *) "allow:", (const unsigned char *) allow,
                                         (int) strlen(allow), &p,
                                         end)) ||
            (status == 401 && lws_add_http_header_by_name(wsi, (const unsigned char *) "www-authenticate:", bearer,
                                                          sizeof(bearer) - 1, &p, end)) ||
            (status == 429 && lws_add_http_header_by_name(wsi, (const unsigned char *) "retry-after:", one,
                                                          sizeof(one) - 1, &p, end)) ||
            (close && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, conn_close,
                                                   sizeof(conn_close) - 1, &p, end)) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
                return -1;
        if (head || len == 0)
                return finish(wsi, c);
        /* A request with a body (another method) gets no writable callback before the body
         * is read, and the body is never read: a short answer goes out now, then the
         * connection closes (lws flushes what the socket did not take first). */
        if (close && len <= sizeof(buf) - LWS_PRE) {
                memcpy(buf + LWS_PRE, data, len);
                if (lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) < (int) len)
                        return -1;
                return finish(wsi, c);
        }
        lws_callback_on_writable(wsi);
        return 0;
}

static int respond_text(struct lws *wsi, conn *c, unsigned status, const char *text, bool head, bool close) {
        return respond(wsi, c, status, "text/plain; charset=utf-8", NULL, text, strlen(text), head, close);
}

static int respond_blob(gp_metrics_server *s, struct lws *wsi, conn *c, gp_blob **which, const char *type,
                        bool head) {
        gp_blob *b;

        pthread_mutex_lock(&s->lock);
        b = gp_blob_ref(*which);
        pthread_mutex_unlock(&s->lock);
        if (!b)
                return respond_text(wsi, c, HTTP_STATUS_SERVICE_UNAVAILABLE, "not ready yet\n", head, false);
        return respond(wsi, c, HTTP_STATUS_OK, type, b, gp_blob_data(b), gp_blob_size(b), head, false);
}

/* An API answer (api.h): its JSON body goes out as a blob. */
static int respond_api(struct lws *wsi, conn *c, gp_api_response *r, bool head, bool close) {
        gp_blob *b = gp_blob_new(r->body, strlen(r->body));
        unsigned status = r->status;

        c->allow = r->allow;
        gp_api_response_done(r);
        if (!b)
                return -1;
        return respond(wsi, c, status, "application/json", b, gp_blob_data(b), gp_blob_size(b), head, close);
}

static int on_api(gp_metrics_server *s, struct lws *wsi, conn *c, const char *path, bool post, bool head,
                  bool close) {
        gp_api_response r = {0};
        gp_blob *status;
        int k;

        pthread_mutex_lock(&s->lock);
        status = gp_blob_ref(s->status);
        pthread_mutex_unlock(&s->lock);
        k = gp_api_http_route(s->api, wsi, path, post, status, &r);
        gp_blob_unref(status);
        if (k == -ENOENT)
                return respond_text(wsi, c, HTTP_STATUS_NOT_FOUND, "not found\n", head, close);
        if (k < 0)
                return -1;
        return respond_api(wsi, c, &r, head, close);
}

static int on_request(gp_metrics_server *s, struct lws *wsi, conn *c, const char *path) {
        bool get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
        bool head = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
        bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
        bool open_path = streq(path, "/metrics") || streq(path, "/healthz");
        usec_t beat, now, age;
        char peer[64] = "", length[24] = "";
        unsigned long long body = 0;
        gp_api_response r = {0};
        bool close;

        lws_get_peer_simple(wsi, peer, sizeof(peer));
        if (lws_hdr_copy(wsi, length, sizeof(length), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
                body = strtoull(length, NULL, 10);
        /* lws gives a POST no writable callback before its body, which is never read: the
         * answer goes out at once (short), then the connection closes. */
        close = body > 0 || post;
        if (!gp_rate_allow(s->rates, peer, s->api_cur.rate_limit, now_usec(CLOCK_MONOTONIC)))
                return respond_text(wsi, c, 429, "too many requests\n", head, close);
        /* The body is never read: one over the limit is refused, and any other closes the
         * connection after the answer. */
        if (body > s->api_cur.max_request_bytes)
                return respond_text(wsi, c, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, "request body too large\n", false,
                                    true);
        if ((!open_path || s->api_cur.metrics_auth) &&
            !gp_api_http_authenticate(s->api, wsi, &s->api_cur, peer, &r))
                return r.body ? respond_api(wsi, c, &r, head, close) : -1;
        if (post && (streq(path, "/run") || startswith(path, "/runs/") || streq(path, "/gate")))
                return on_api(s, wsi, c, path, true, false, close);
        /* Another method may come with a body, never read: close after the answer. */
        if (!get && !head)
                return respond_text(wsi, c, HTTP_STATUS_METHOD_NOT_ALLOWED, "method not allowed\n", false,
                                    true);
        if (streq(path, "/metrics"))
                return respond_blob(s, wsi, c, &s->metrics, GP_METRICS_CONTENT_TYPE, head);
        if (streq(path, "/status"))
                return respond_blob(s, wsi, c, &s->status, "application/json", head);
        if (streq(path, "/healthz")) {
                beat = atomic_load(&s->beat);
                now = now_usec(CLOCK_MONOTONIC);
                age = now > beat ? now - beat : 0;
                if (age > GP_METRICS_HEARTBEAT_MAX_AGE_SECONDS * USEC_PER_SEC)
                        return respond_text(wsi, c, HTTP_STATUS_SERVICE_UNAVAILABLE, "event loop stalled\n",
                                            head, false);
                return respond_text(wsi, c, HTTP_STATUS_OK, "ok\n", head, false);
        }
        if (streq(path, "/"))
                return respond_text(wsi, c, HTTP_STATUS_OK,
                                    "gpprobed: /metrics /status /healthz /gate /run /runs/ID\n", head, false);
        return on_api(s, wsi, c, path, false, head, false);
}

static int on_writable(gp_metrics_server *s, struct lws *wsi, conn *c) {
        size_t n;
        bool final;

        if (!c->data)
                return 0;
        n = MIN(c->len - c->sent, (size_t) CHUNK);
        final = c->sent + n == c->len;
        /* lws_write wants LWS_PRE bytes of room before what it sends. */
        memcpy(s->out + LWS_PRE, c->data + c->sent, n);
        if (lws_write(wsi, s->out + LWS_PRE, n, final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < (int) n)
                return -1;
        c->sent += n;
        if (!final) {
                lws_callback_on_writable(wsi);
                return 0;
        }
        return finish(wsi, c);
}

static void connection_gone(gp_metrics_server *s, struct lws *wsi);

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
        gp_metrics_server *s = lws_context_user(lws_get_context(wsi));
        conn *c = user;

        switch (reason) {
        case LWS_CALLBACK_HTTP:
                return on_request(s, wsi, c, in ? in : "");
        case LWS_CALLBACK_HTTP_BODY:
                return 0;
        case LWS_CALLBACK_HTTP_WRITEABLE:
                return c ? on_writable(s, wsi, c) : 0;
        case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        case LWS_CALLBACK_CLOSED_HTTP:
                if (c)
                        conn_reset(c);
                return 0;
        case LWS_CALLBACK_WSI_DESTROY:
                connection_gone(s, wsi);
                return 0;
        case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
                return s && gp_api_http_load_client_ca(user, &s->api_cur) < 0 ? 1 : 0;
        default:
                return lws_callback_http_dummy(wsi, reason, user, in, len);
        }
}

/* ---- listening ------------------------------------------------------------------------------
 *
 * The listening socket is ours, adopted into lws as a plain descriptor: each accepted
 * connection is handed to the one server vhost, made at start and kept for the process's life.
 * A new MetricsListen= closes one socket and opens another at once (a listening vhost of lws
 * 4.1 keeps its port after lws_vhost_destroy), errors are precise, and the accept loop enforces
 * GP_METRICS_MAX_CONNECTIONS. */

static void report(gp_metrics_server *s, const char *address, const char *error) {
        uint64_t one = 1;

        pthread_mutex_lock(&s->lock);
        free(s->report_address);
        free(s->report_error);
        s->report_address = address ? strdup(address) : NULL;
        s->report_error = error ? strdup(error) : NULL;
        s->have_report = true;
        pthread_mutex_unlock(&s->lock);
        if (write(s->efd, &one, sizeof(one)) < 0) {
                /* only fails on counter overflow */
        }
}

static unsigned max_connections(const gp_metrics_server *s) {
        return s->api_cur.max_connections > 0 ? s->api_cur.max_connections : GP_METRICS_MAX_CONNECTIONS;
}

static void set_accepting(gp_metrics_server *s) {
        bool on = !s->paused && s->conns < max_connections(s);

        if (s->listen_wsi && !s->closing && on != s->accepting) {
                lws_rx_flow_control(s->listen_wsi, on);
                s->accepting = on;
        }
}

/* Once per accepted connection, marked by its opaque user data. */
static void connection_gone(gp_metrics_server *s, struct lws *wsi) {
        if (lws_get_opaque_user_data(wsi) != s)
                return;
        lws_set_opaque_user_data(wsi, NULL);
        s->conns--;
        set_accepting(s);
}

static void on_resume(lws_sorted_usec_list_t *sul) {
        gp_metrics_server *s = lws_container_of(sul, gp_metrics_server, resume);

        s->paused = false;
        set_accepting(s);
}

static void accept_all(gp_metrics_server *s) {
        while (s->conns < max_connections(s)) {
                int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                struct lws *wsi;

                if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
                        /* The listening socket stays readable: without a pause, a busy loop. */
                        s->paused = true;
                        lws_sul_schedule(s->ctx, 0, &s->resume, on_resume, LWS_US_PER_SEC);
                }
                if (fd < 0)
                        break;  /* EAGAIN, or a connection reset before it was accepted */
                /* closes fd when it fails */
                wsi = lws_adopt_socket_vhost(s->tls_vhost ? s->tls_vhost : s->vhost, fd);
                if (!wsi)
                        continue;
                lws_set_opaque_user_data(wsi, s);
                s->conns++;
        }
        set_accepting(s);
}

static int listen_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                           size_t len) {
        gp_metrics_server *s = lws_context_user(lws_get_context(wsi));

        switch (reason) {
        case LWS_CALLBACK_RAW_RX_FILE:
                accept_all(s);
                return 0;
        case LWS_CALLBACK_RAW_CLOSE_FILE:
                if (wsi == s->listen_wsi)
                        s->listen_wsi = NULL;
                return 0;

        default:
                return 0;
        }
}

static const struct lws_protocols protocols[] = {
        { "http", callback, sizeof(conn), 0, 0, NULL, 0 },
        { "gpprobe-listen", listen_callback, 0, 0, 0, NULL, 0 },
        { NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void close_listener(gp_metrics_server *s) {
        /* lws closes the adopted descriptor with the wsi, synchronously here. */
        if (s->listen_wsi)
                lws_set_timeout(s->listen_wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
        s->listen_wsi = NULL;
        s->listen_fd = -1;
}

/* "host:port" or "[v6]:port" into host and port (the configuration checked the syntax). */
static int split_address(const char *address, char **ret_host, char **ret_port) {
        const char *colon = strrchr(address, ':');
        char *host, *port;

        if (!colon)
                return -EINVAL;
        if (address[0] == '[')
                host = strndup(address + 1, (size_t) MAX(colon - address - 2, 0));
        else
                host = strndup(address, (size_t) (colon - address));
        port = strdup(colon + 1);
        if (!host || !port) {
                free(host);
                free(port);
                return -ENOMEM;
        }
        *ret_host = host;
        *ret_port = port;
        return 0;
}

static int listen_on(const struct addrinfo *ai, unsigned backlog) {
        _cleanup_close_ int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1, r;

        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, (int) backlog) < 0)
                return -errno;
        r = fd;
        fd = -1;
        return r;
}

/* Opens the listening socket for address; the name actually listened on in *ret_actual. */
static int open_listener(gp_metrics_server *s, const char *address, char **ret_actual, char **ret_error) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *ai = NULL;
        _cleanup_free_ char *host = NULL, *port = NULL;
        char numeric[NI_MAXHOST] = "", service[NI_MAXSERV] = "";
        struct sockaddr_storage sa;
        socklen_t salen = sizeof(sa);
        lws_sock_file_fd_type u;
        int r, fd;

        r = split_address(address, &host, &port);
        if (r < 0) {
                *ret_error = strdup_printf("invalid address %s", address);
                return r;
        }
        /* May block on DNS: this is the server's own thread. */
        r = getaddrinfo(host, port, &hints, &ai);
        if (r != 0) {
                *ret_error = strdup_printf("cannot resolve %s: %s", host, gai_strerror(r));
                return -EADDRNOTAVAIL;
        }
        /* A burst of clients waits in the kernel's queue rather than having its SYNs dropped. */
        fd = listen_on(ai, MAX(max_connections(s), GP_METRICS_LISTEN_BACKLOG));
        freeaddrinfo(ai);
        if (fd < 0) {
                *ret_error = strdup_printf("cannot listen on %s: %s", address, strerror(-fd));
                return fd;
        }
        if (getsockname(fd, (struct sockaddr *) &sa, &salen) == 0)
                (void) getnameinfo((struct sockaddr *) &sa, salen, numeric, sizeof(numeric), service,
                                   sizeof(service), NI_NUMERICHOST | NI_NUMERICSERV);
        u.filefd = fd;
        /* From here lws owns fd: it closes it when the adoption fails, or with the wsi. */
        s->listen_wsi = lws_adopt_descriptor_vhost(s->vhost, LWS_ADOPT_RAW_FILE_DESC, u, "gpprobe-listen",
                                                   NULL);
        if (!s->listen_wsi) {
                *ret_error = strdup_printf("cannot listen on %s: libwebsockets refused the socket", address);
                return -EIO;
        }
        s->listen_fd = fd;
        s->accepting = true;
        set_accepting(s);
        *ret_actual = strdup_printf(sa.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", numeric, service);
        return 0;
}

static void on_retry(lws_sorted_usec_list_t *sul) {
        gp_metrics_server *s = lws_container_of(sul, gp_metrics_server, retry);

        s->retry_due = true;
        /* Timers run before lws_service polls: without this the loop would sleep on. */
        lws_cancel_service(s->ctx);
}

/* In the server thread, between two lws_service calls. */
static void apply_listen(gp_metrics_server *s) {
        _cleanup_free_ char *want = NULL, *actual = NULL, *error = NULL;
        bool changed;
        unsigned gen;

        pthread_mutex_lock(&s->lock);
        gen = s->want_gen;
        changed = gen != s->applied_gen || s->api_changed;
        if (!changed && !s->retry_due) {
                pthread_mutex_unlock(&s->lock);
                return;
        }
        want = s->want ? strdup(s->want) : NULL;
        pthread_mutex_unlock(&s->lock);

        s->retry_due = false;
        s->api_changed = false;
        s->applied_gen = gen;
        lws_sul_cancel(&s->retry);
        if (changed)
                close_listener(s);
        if (!want) {
                if (changed)
                        report(s, NULL, NULL);
                free(s->last_error);
                s->last_error = NULL;
                return;
        }
        if (s->listen_wsi)
                return;
        /* TLS is configured but could not be set up: nothing is served, rather than plain HTTP. */
        if (s->tls_error)
                error = strdup(s->tls_error);
        if (s->tls_error || open_listener(s, want, &actual, &error) < 0)
                lws_sul_schedule(s->ctx, 0, &s->retry, on_retry, GP_METRICS_RETRY_SECONDS * LWS_US_PER_SEC);
        if (!error && !actual)
                error = strdup("out of memory");
        /* Report changes only: a retry that fails the same way again stays quiet. */
        if (changed || !streq_ptr(error, s->last_error))
                report(s, error ? want : actual, error);
        free(s->last_error);
        s->last_error = TAKE_PTR(error);
}

/* In the server thread: [API] settings, each time given (start, reload), with a new TLS vhost
 * that reads the certificate, key, CA and CRL files again; the old one goes with its
 * connections. A TLS vhost that could not be made is tried again with the listener. */
static void apply_api(gp_metrics_server *s) {
        gp_api_settings want = {0};
        struct lws_vhost *old;
        unsigned gen;
        int r;

        pthread_mutex_lock(&s->lock);
        gen = s->want_api_gen;
        if (gen == s->applied_api_gen && !(s->tls_error && s->retry_due)) {
                pthread_mutex_unlock(&s->lock);
                return;
        }
        r = gp_api_settings_copy(&want, &s->want_api);
        pthread_mutex_unlock(&s->lock);
        s->applied_api_gen = gen;
        if (r < 0)
                return;
        gp_api_settings_done(&s->api_cur);
        s->api_cur = want;
        free(s->tls_error);
        s->tls_error = NULL;
        old = s->tls_vhost;
        s->tls_vhost = NULL;
        if (s->api_cur.tls_certificate) {
                s->tls_vhost = gp_api_http_tls_vhost(s->ctx, protocols, &s->api_cur, &s->tls_error);
                if (!s->tls_vhost && !s->tls_error)
                        s->tls_error = strdup("cannot set up TLS: out of memory");
        }
        s->api_changed = true;
        close_listener(s);
        if (old)
                lws_vhost_destroy(old);
}

static void *thread_main(void *p) {
        gp_metrics_server *s = p;

        /* No nice value of its own: the shipped unit's SystemCallFilter=~@resources refuses
         * setpriority() (EPERM), so lowering this thread worked only where tests ran, never
         * under systemd; allowing the call would widen the filter for no guarantee. A flood
         * is bounded instead: 32 connections, then the kernel queues. */
        while (!atomic_load(&s->quit)) {
                apply_api(s);
                apply_listen(s);
                if (lws_service(s->ctx, 0) < 0)
                        break;
        }
        return NULL;
}

/* ---- the main loop's side -------------------------------------------------------------------- */

int gp_metrics_server_new(gp_metrics_server **ret, char **ret_error) {
        struct lws_context_creation_info info = {0};
        gp_metrics_server *s;
        sigset_t all, old;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        atomic_init(&s->beat, now_usec(CLOCK_MONOTONIC));
        s->listen_fd = -1;
        s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        s->api_cur.max_request_bytes = GP_METRICS_MAX_REQUEST_BYTES;
        s->rates = gp_rate_table_new();
        if (s->efd < 0 || !s->rates || gp_api_new(&s->api) < 0) {
                r = -errno;
                gp_metrics_server_free(s);
                return r;
        }

        /* lws's log level and emitter are process-wide: main() set them (gp_engine_setup_process).
         * No LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT: this context never touches OpenSSL's global
         * state, which a context created during a TLS handshake of another one would break. */
        info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
        info.port = CONTEXT_PORT_NO_LISTEN;
        info.user = s;
        /* Bounds the fds of this context: beyond, lws stops accepting until some close, and the
         * probe's own connections never lack a descriptor. */
        info.fd_limit_per_thread = GP_METRICS_MAX_CONNECTIONS_LIMIT + 4;
        info.max_http_header_data = GP_METRICS_MAX_HEADER_BYTES;
        info.max_http_header_pool = GP_METRICS_MAX_CONNECTIONS_LIMIT;
        info.timeout_secs = GP_METRICS_TIMEOUT_SECONDS;
        s->ctx = lws_create_context(&info);
        if (s->ctx) {
                struct lws_context_creation_info vi = {0};

                vi.port = CONTEXT_PORT_NO_LISTEN_SERVER;
                vi.protocols = protocols;
                vi.vhost_name = "gpprobe-metrics";
                vi.keepalive_timeout = GP_METRICS_TIMEOUT_SECONDS;
                vi.timeout_secs = GP_METRICS_TIMEOUT_SECONDS;
                vi.timeout_secs_ah_idle = GP_METRICS_TIMEOUT_SECONDS;
                s->vhost = lws_create_vhost(s->ctx, &vi);
        }
        if (!s->vhost) {
                gp_metrics_server_free(s);
                *ret_error = strdup("creating the libwebsockets context of the metrics server failed");
                return -EIO;
        }

        /* The thread inherits a mask with every signal blocked: sd-event reads them. */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = pthread_create(&s->thread, NULL, thread_main, s);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0) {
                gp_metrics_server_free(s);
                *ret_error = strdup_printf("cannot start the metrics server thread: %s", strerror(r));
                return -r;
        }
        s->started = true;
        *ret = s;
        return 0;
}

gp_metrics_server *gp_metrics_server_free(gp_metrics_server *s) {
        if (!s)
                return NULL;
        if (s->started) {
                atomic_store(&s->quit, true);
                lws_cancel_service(s->ctx);
                pthread_join(s->thread, NULL);
        }
        /* The thread is gone: its part of s is ours now. */
        s->closing = true;
        close_listener(s);
        if (s->ctx)
                lws_context_destroy(s->ctx);
        if (s->efd >= 0)
                close(s->efd);
        gp_api_free(s->api);
        gp_rate_table_free(s->rates);
        gp_api_settings_done(&s->want_api);
        gp_api_settings_done(&s->api_cur);
        free(s->tls_error);
        gp_blob_unref(s->metrics);
        gp_blob_unref(s->status);
        free(s->want);
        free(s->report_address);
        free(s->report_error);
        free(s->last_error);
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}

int gp_metrics_server_listen(gp_metrics_server *s, const char *address) {
        char *copy = NULL;

        if (address) {
                copy = strdup(address);
                if (!copy)
                        return -ENOMEM;
        }
        pthread_mutex_lock(&s->lock);
        free(s->want);
        s->want = copy;
        s->want_gen++;
        pthread_mutex_unlock(&s->lock);
        lws_cancel_service(s->ctx);
        return 0;
}

int gp_metrics_server_fd(const gp_metrics_server *s) {
        return s->efd;
}

int gp_metrics_server_take_report(gp_metrics_server *s, char **ret_address, char **ret_error) {
        uint64_t v;

        if (read(s->efd, &v, sizeof(v)) < 0) {
                /* EAGAIN: nothing was written since the last read */
        }
        pthread_mutex_lock(&s->lock);
        if (!s->have_report) {
                pthread_mutex_unlock(&s->lock);
                return -EAGAIN;
        }
        s->have_report = false;
        *ret_address = TAKE_PTR(s->report_address);
        *ret_error = TAKE_PTR(s->report_error);
        pthread_mutex_unlock(&s->lock);
        return 0;
}

void gp_metrics_server_publish(gp_metrics_server *s, gp_blob *metrics, gp_blob *status) {
        gp_blob *old_metrics, *old_status;

        pthread_mutex_lock(&s->lock);
        old_metrics = s->metrics;
        old_status = s->status;
        s->metrics = metrics;
        s->status = status;
        pthread_mutex_unlock(&s->lock);
        /* The last reference may be ours: freed outside the lock. */
        gp_blob_unref(old_metrics);
        gp_blob_unref(old_status);
}

void gp_metrics_server_heartbeat(gp_metrics_server *s, usec_t now) {
        atomic_store(&s->beat, now);
}

int gp_metrics_server_configure_api(gp_metrics_server *s, const gp_api_settings *settings) {
        gp_api_settings copy;

        if (gp_api_settings_copy(&copy, settings) < 0)
                return -ENOMEM;
        pthread_mutex_lock(&s->lock);
        gp_api_settings_done(&s->want_api);
        s->want_api = copy;
        s->want_api_gen++;
        pthread_mutex_unlock(&s->lock);
        lws_cancel_service(s->ctx);
        return 0;
}

gp_api *gp_metrics_server_api(gp_metrics_server *s) {
        return s->api;
}
