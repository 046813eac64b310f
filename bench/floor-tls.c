/* SPDX-License-Identifier: MIT */
/* The physical floor of a golden-path run: the two full TLS handshakes every client must do
 * (the login endpoint and the WebSocket endpoint), with certificate and host name
 * verification, on fresh TCP connections, with one SSL_CTX reused for the whole process, and
 * nothing else: no HTTP, no WebSocket, no JSON. A measuring stick for bench/cost.py's "x floor"
 * columns, not a peer.
 *
 *   floor-tls --ca FILE --host NAME --port N [--runs M] [--interval SECONDS]
 *
 * Exits 0 when every handshake verified, 1 otherwise (the reason on stderr). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int handshake(SSL_CTX *ctx, const struct addrinfo *ai, const char *host) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0), ok = -1;
        SSL *ssl = NULL;

        if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
                fprintf(stderr, "floor-tls: connect: %s\n", strerror(errno));
                goto out;
        }
        ssl = SSL_new(ctx);
        if (!ssl || !SSL_set_fd(ssl, fd) || !SSL_set_tlsext_host_name(ssl, host) || !SSL_set1_host(ssl, host))
                goto out;
        if (SSL_connect(ssl) != 1 || SSL_get_verify_result(ssl) != X509_V_OK) {
                fprintf(stderr, "floor-tls: handshake: %s\n", ERR_reason_error_string(ERR_get_error()));
                goto out;
        }
        SSL_shutdown(ssl);  /* close_notify, as the clients send it */
        ok = 0;
out:
        SSL_free(ssl);
        if (fd >= 0)
                close(fd);
        return ok;
}

int main(int argc, char **argv) {
        const char *ca = NULL, *host = "localhost", *port = NULL;
        long runs = 1;
        double interval = 0;
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
        SSL_CTX *ctx;

        for (int i = 1; i + 1 < argc; i += 2) {
                if (!strcmp(argv[i], "--ca"))
                        ca = argv[i + 1];
                else if (!strcmp(argv[i], "--host"))
                        host = argv[i + 1];
                else if (!strcmp(argv[i], "--port"))
                        port = argv[i + 1];
                else if (!strcmp(argv[i], "--runs"))
                        runs = strtol(argv[i + 1], NULL, 10);
                else if (!strcmp(argv[i], "--interval"))
                        interval = strtod(argv[i + 1], NULL);
                else {
                        fprintf(stderr, "floor-tls: unknown option %s\n", argv[i]);
                        return 64;
                }
        }
        if (!ca || !port || runs < 1) {
                fprintf(stderr, "usage: floor-tls --ca FILE --host NAME --port N [--runs M] [--interval S]\n");
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
                if (handshake(ctx, ai, host) < 0 || handshake(ctx, ai, host) < 0)
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
