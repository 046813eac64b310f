/* SPDX-License-Identifier: MIT */
/* The physical floors of a golden-path run, measuring sticks for bench/cost.py, not peers.
 *
 * The floor ("x floor"): the two full TLS handshakes every client must do (the login endpoint
 * and the WebSocket endpoint), with certificate and host name verification, on fresh TCP
 * connections, with one SSL_CTX reused for the whole process, and nothing else: no HTTP, no
 * WebSocket, no JSON.
 *
 * The path floor (--path, "x path floor"): those handshakes plus the bytes a run must exchange
 * over them and the waits the server's pacing imposes, and nothing else:
 *
 *   login: POST the JSON credentials, read the reply (Content-Length), take access_token;
 *   WebSocket: the upgrade offering "jwt-auth, jwt.<token>", wait for connection_established,
 *   send the user_message, read frames until agent_completed, close with 1000 and read the
 *   server's close.
 *
 * Blocking sockets, one thread, no event loop, no JSON parser (strstr), no checks beyond the
 * two it needs to go on (the token, the event names): how much of a run is the run itself
 * rather than the client.
 *
 *   floor-tls --ca FILE --host NAME --port N [--path] [--login-path P] [--ws-path P]
 *             [--password PW] [--runs M] [--interval SECONDS]
 *
 * Exits 0 when every run verified its handshakes (and, with --path, got to agent_completed),
 * 1 otherwise (the reason on stderr). */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (64 * 1024)

typedef struct conn {
        int fd;
        SSL *ssl;
        unsigned char buf[BUF];
        size_t len;
} conn;

static int die(const char *what) {
        unsigned long e = ERR_get_error();

        fprintf(stderr, "floor-tls: %s%s%s\n", what, e ? ": " : "", e ? ERR_reason_error_string(e) : "");
        return -1;
}

static int open_conn(conn *c, SSL_CTX *ctx, const struct addrinfo *ai, const char *host) {
        int one = 1;

        c->len = 0;
        c->ssl = NULL;
        c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0)
                return die("connect");
        (void) setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->ssl = SSL_new(ctx);
        if (!c->ssl || !SSL_set_fd(c->ssl, c->fd) || !SSL_set_tlsext_host_name(c->ssl, host) ||
            !SSL_set1_host(c->ssl, host))
                return die("SSL_new");
        if (SSL_connect(c->ssl) != 1 || SSL_get_verify_result(c->ssl) != X509_V_OK)
                return die("handshake");
        return 0;
}

static void close_conn(conn *c) {
        if (c->ssl) {
                SSL_shutdown(c->ssl);
                SSL_free(c->ssl);
        }
        if (c->fd >= 0)
                close(c->fd);
        c->ssl = NULL;
        c->fd = -1;
}

static int send_all(conn *c, const void *data, size_t len) {
        return SSL_write(c->ssl, data, (int) len) == (int) len ? 0 : die("write");
}

/* More bytes into c->buf: -1 on error, end of stream or a full buffer. */
static int fill(conn *c) {
        int n;

        if (c->len >= BUF)
                return die("reply too large");
        n = SSL_read(c->ssl, c->buf + c->len, (int) (BUF - c->len));
        if (n <= 0)
                return die("read");
        c->len += (size_t) n;
        return 0;
}

static void consume(conn *c, size_t n) {
        memmove(c->buf, c->buf + n, c->len - n);
        c->len -= n;
}

/* The end of the HTTP head in c->buf (after "\r\n\r\n"), reading until it is there. */
static long read_head(conn *c) {
        for (;;) {
                unsigned char *end = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;

                if (end)
                        return (long) (end + 4 - c->buf);
                if (fill(c) < 0)
                        return -1;
        }
}

static const char *login_path = "/auth/login", *ws_path = "/ws";

static int login(conn *c, const char *host, const char *port, const char *password, char *token, size_t size) {
        char req[1024], body[256];
        const char *cl, *at, *end;
        long head, n;
        int len;

        snprintf(body, sizeof(body), "{\"email\":\"probe1@example.com\",\"password\":\"%s\"}", password);
        len = snprintf(req, sizeof(req),
                       "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                       "Accept: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                       login_path, host, port, strlen(body), body);
        if (send_all(c, req, (size_t) len) < 0 || (head = read_head(c)) < 0)
                return -1;
        if (memcmp(c->buf, "HTTP/1.1 200", 12) != 0)
                return die("login: not 200");
        cl = memmem(c->buf, (size_t) head, "Content-Length:", 15);
        if (!cl)
                cl = memmem(c->buf, (size_t) head, "content-length:", 15);
        n = cl ? strtol(cl + 15, NULL, 10) : -1;
        if (n < 0 || head + n >= BUF)
                return die("login: no usable Content-Length");
        while ((long) c->len < head + n)
                if (fill(c) < 0)
                        return -1;
        c->buf[head + n] = '\0';
        at = strstr((char *) c->buf + head, "\"access_token\"");
        at = at ? strchr(at + 14, '"') : NULL;
        end = at ? strchr(at + 1, '"') : NULL;
        if (!end || (size_t) (end - at) > size)
                return die("login: no access_token");
        memcpy(token, at + 1, (size_t) (end - at - 1));
        token[end - at - 1] = '\0';
        return 0;
}

static void base64(const unsigned char *in, size_t n, char *out, bool url) {
        const char *abc = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                              : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t o = 0;

        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned) in[i] << 16 | (i + 1 < n ? (unsigned) in[i + 1] << 8 : 0) |
                             (i + 2 < n ? in[i + 2] : 0);

                out[o++] = abc[v >> 18 & 63];
                out[o++] = abc[v >> 12 & 63];
                if (i + 1 < n)
                        out[o++] = abc[v >> 6 & 63];
                else if (!url)
                        out[o++] = '=';
                if (i + 2 < n)
                        out[o++] = abc[v & 63];
                else if (!url)
                        out[o++] = '=';
        }
        out[o] = '\0';
}

/* One masked client frame. */
static int send_frame(conn *c, int opcode, const void *payload, size_t n) {
        unsigned char f[14 + 1024], mask[4];
        size_t h = 0;

        if (n > 1024 || RAND_bytes(mask, 4) != 1)
                return die("frame");
        f[h++] = (unsigned char) (0x80 | opcode);
        if (n < 126)
                f[h++] = (unsigned char) (0x80 | n);
        else {
                f[h++] = 0x80 | 126;
                f[h++] = (unsigned char) (n >> 8);
                f[h++] = (unsigned char) n;
        }
        memcpy(f + h, mask, 4);
        h += 4;
        for (size_t i = 0; i < n; i++)
                f[h + i] = ((const unsigned char *) payload)[i] ^ mask[i % 4];
        return send_all(c, f, h + n);
}

/* The next whole server frame at the start of c->buf (reading until it is there): its opcode,
 * its payload NUL-terminated in place; its size to consume in *ret_size. */
static int next_frame(conn *c, int *ret_op, char **ret_payload, size_t *ret_size) {
        for (;;) {
                size_t n, off = 2;

                if (c->len >= 2) {
                        n = c->buf[1] & 0x7f;
                        if (n == 126 && c->len >= 4) {
                                n = (size_t) c->buf[2] << 8 | c->buf[3];
                                off = 4;
                        } else if (n == 127 && c->len >= 10) {
                                n = 0;
                                for (int i = 2; i < 10; i++)
                                        n = n << 8 | c->buf[i];
                                off = 10;
                        }
                        if (n < 126 || off > 2) {
                                if (off + n + 1 > BUF)
                                        return die("frame too large");
                                if (c->len >= off + n) {
                                        /* the NUL goes where the next frame starts: keep its byte */
                                        *ret_op = c->buf[0] & 0x0f;
                                        *ret_payload = (char *) c->buf + off;
                                        *ret_size = off + n;
                                        return 0;
                                }
                        }
                }
                if (fill(c) < 0)
                        return -1;
        }
}

static int websocket(conn *c, const char *host, const char *port, const char *token) {
        unsigned char nonce[16], rid[16];
        char key[32], req[4096], msg[512], run_id[40];
        bool ready = false, done = false;
        long head;
        int len;

        if (RAND_bytes(nonce, sizeof(nonce)) != 1 || RAND_bytes(rid, sizeof(rid)) != 1)
                return die("random");
        base64(nonce, sizeof(nonce), key, false);
        len = snprintf(req, sizeof(req),
                       "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                       "Sec-WebSocket-Protocol: jwt-auth, jwt.%s\r\n\r\n",
                       ws_path, host, port, key, token);
        if (len >= (int) sizeof(req) || send_all(c, req, (size_t) len) < 0 || (head = read_head(c)) < 0)
                return -1;
        if (memcmp(c->buf, "HTTP/1.1 101", 12) != 0)
                return die("upgrade: not 101");
        consume(c, (size_t) head);
        snprintf(run_id, sizeof(run_id), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 rid[0], rid[1], rid[2], rid[3], rid[4], rid[5], rid[6], rid[7], rid[8], rid[9], rid[10],
                 rid[11], rid[12], rid[13], rid[14], rid[15]);
        while (!done) {
                char *payload, keep;
                size_t size;
                int op;

                if (next_frame(c, &op, &payload, &size) < 0)
                        return -1;
                keep = (char) c->buf[size];  /* the next frame's first byte, if any: size < BUF */
                c->buf[size] = '\0';
                if (op == 8)
                        return die("the server closed first");
                if (op == 1 && !ready && strstr(payload, "\"connection_established\"")) {
                        ready = true;
                        len = snprintf(msg, sizeof(msg),
                                       "{\"type\":\"user_message\",\"payload\":{\"content\":\"Reply with the word "
                                       "ready.\",\"thread_id\":\"%s\",\"run_id\":\"%s\"}}", run_id, run_id);
                        if (send_frame(c, 1, msg, (size_t) len) < 0)
                                return -1;
                } else if (op == 1 && ready && strstr(payload, "\"agent_completed\""))
                        done = true;
                c->buf[size] = (unsigned char) keep;
                consume(c, size);
        }
        if (send_frame(c, 8, "\x03\xe8", 2) < 0)
                return -1;
        for (;;) {  /* the server's close, as a clean close waits for it */
                char *payload;
                size_t size;
                int op;

                if (next_frame(c, &op, &payload, &size) < 0)
                        return -1;
                consume(c, size);
                if (op == 8)
                        return 0;
        }
}

int main(int argc, char **argv) {
        const char *ca = NULL, *host = "localhost", *port = NULL, *password = "s3cret-pass";
        const char **value[] = { &ca, &host, &port, &login_path, &ws_path, &password };
        static const char *const name[] = { "--ca", "--host", "--port", "--login-path", "--ws-path", "--password" };
        long runs = 1;
        double interval = 0;
        bool path = false;
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
        static conn c = { .fd = -1 };
        char token[4096];
        SSL_CTX *ctx;

        for (int i = 1; i < argc; i++) {
                size_t k = 0;

                if (!strcmp(argv[i], "--path")) {
                        path = true;
                        continue;
                }
                while (k < sizeof(name) / sizeof(name[0]) && strcmp(argv[i], name[k]))
                        k++;
                if (i + 1 >= argc) {
                        fprintf(stderr, "floor-tls: %s needs a value\n", argv[i]);
                        return 64;
                }
                if (k < sizeof(name) / sizeof(name[0]))
                        *value[k] = argv[++i];
                else if (!strcmp(argv[i], "--runs"))
                        runs = strtol(argv[++i], NULL, 10);
                else if (!strcmp(argv[i], "--interval"))
                        interval = strtod(argv[++i], NULL);
                else {
                        fprintf(stderr, "floor-tls: unknown option %s\n", argv[i]);
                        return 64;
                }
        }
        if (!ca || !port || runs < 1) {
                fprintf(stderr, "usage: floor-tls --ca FILE --host NAME --port N [--path] [--runs M] [--interval S]\n");
                return 64;
        }
        /* resolved once, as gpprobed resolves once per run: the floor is the handshakes */
        if (getaddrinfo(host, port, &hints, &ai) != 0) {
                fprintf(stderr, "floor-tls: cannot resolve %s\n", host);
                return 1;
        }
        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
                return 1;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        for (long r = 0; r < runs; r++) {
                /* the login endpoint, then the WebSocket endpoint */
                int k = open_conn(&c, ctx, ai, host);

                if (k == 0 && path)
                        k = login(&c, host, port, password, token, sizeof(token) - 1);
                close_conn(&c);
                if (k == 0)
                        k = open_conn(&c, ctx, ai, host);
                if (k == 0 && path)
                        k = websocket(&c, host, port, token);
                close_conn(&c);
                OPENSSL_cleanse(token, sizeof(token));
                if (k < 0)
                        return 1;
                if (interval > 0 && r + 1 < runs) {
                        struct timespec ts = { (time_t) interval, (long) ((interval - (time_t) interval) * 1e9) };
                        nanosleep(&ts, NULL);
                }
        }
        SSL_CTX_free(ctx);
        freeaddrinfo(ai);
        return 0;
}
