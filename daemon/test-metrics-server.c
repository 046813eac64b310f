/* SPDX-License-Identifier: MIT */
/* The MetricsListen= server (metrics-server.c) over real loopback sockets: routes, methods,
 * publishing, listening changes and the connection limit. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>
#include <libwebsockets.h>

#include "metrics-server.h"
#include "util.h"

typedef struct fixture {
        gp_metrics_server *s;
        int port;
} fixture;

/* The next report of the server, within 5 s. */
static void wait_report(gp_metrics_server *s, char **ret_address, char **ret_error) {
        struct pollfd p = { .fd = gp_metrics_server_fd(s), .events = POLLIN };

        for (int i = 0; i < 50; i++) {
                if (gp_metrics_server_take_report(s, ret_address, ret_error) == 0)
                        return;
                (void) poll(&p, 1, 100);
        }
        fail_msg("no report from the metrics server");
}

static int listen_and_wait(gp_metrics_server *s, const char *address) {
        _cleanup_free_ char *actual = NULL, *error = NULL;
        const char *colon;

        assert_int_equal(gp_metrics_server_listen(s, address), 0);
        wait_report(s, &actual, &error);
        if (error)
                fail_msg("listen %s: %s", address, error);
        assert_non_null(actual);
        colon = strrchr(actual, ':');
        assert_non_null(colon);
        return (int) strtol(colon + 1, NULL, 10);
}

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));
        char *err = NULL;

        assert_non_null(f);
        assert_int_equal(gp_metrics_server_new(&f->s, &err), 0);
        f->port = listen_and_wait(f->s, "127.0.0.1:0");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;

        gp_metrics_server_free(f->s);
        free(f);
        return 0;
}

static int connect_to(int port) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
        struct timeval tv = { .tv_sec = 5 };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        assert_int_equal(connect(fd, (struct sockaddr *) &a, sizeof(a)), 0);
        return fd;
}

static void send_all(int fd, const char *data) {
        size_t len = strlen(data);

        while (len > 0) {
                ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
                assert_true(n > 0);
                data += n;
                len -= (size_t) n;
        }
}

/* Everything the server sends until it closes (or 5 s pass). */
static char *read_all(int fd) {
        gp_buf b = {0};
        char buf[8192];
        ssize_t n;

        assert_int_equal(gp_buf_append(&b, "", 0), 0);
        while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
                assert_int_equal(gp_buf_append(&b, buf, (size_t) n), 0);
        return b.data;
}

/* One request with Connection: close; the whole answer. */
static char *request(int port, const char *method, const char *path) {
        _cleanup_free_ char *req = strdup_printf("%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", method,
                                                 path);
        _cleanup_close_ int fd = connect_to(port);

        send_all(fd, req);
        return read_all(fd);
}

static const char *body_of(const char *answer) {
        const char *p = strstr(answer, "\r\n\r\n");

        assert_non_null(p);
        return p + 4;
}

static void assert_has(const char *text, const char *part) {
        if (!strcasestr(text, part))
                fail_msg("'%s' not in:\n%s", part, text);
}

static void publish(gp_metrics_server *s, const char *metrics, const char *status) {
        gp_metrics_server_publish(s, metrics ? gp_blob_new(metrics, strlen(metrics)) : NULL,
                                  status ? gp_blob_new(status, strlen(status)) : NULL);
}

static void test_metrics_and_status_are_served_with_their_types(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *m = NULL, *st = NULL;

        publish(f->s, "gpprobe_up{probe=\"t\"} 1\n", "{\"schema\":1}\n");
        m = request(f->port, "GET", "/metrics");
        assert_has(m, "HTTP/1.1 200 OK\r\n");
        assert_has(m, "content-type: text/plain; version=0.0.4; charset=utf-8\r\n");
        assert_has(m, "content-length: 24\r\n");
        assert_string_equal(body_of(m), "gpprobe_up{probe=\"t\"} 1\n");
        st = request(f->port, "GET", "/status");
        assert_has(st, "content-type: application/json\r\n");
        assert_string_equal(body_of(st), "{\"schema\":1}\n");
}

static void test_head_answers_the_length_without_a_body(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *a = NULL;

        publish(f->s, "12345\n", "{}\n");
        a = request(f->port, "HEAD", "/metrics");
        assert_has(a, "HTTP/1.1 200 OK\r\n");
        assert_has(a, "content-length: 6\r\n");
        assert_string_equal(body_of(a), "");
}

static void test_healthz_is_ok_while_the_heartbeat_is_fresh(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *a = NULL;

        gp_metrics_server_heartbeat(f->s, now_usec(CLOCK_MONOTONIC));
        a = request(f->port, "GET", "/healthz");
        assert_has(a, "HTTP/1.1 200 OK\r\n");
        assert_string_equal(body_of(a), "ok\n");
}

static void test_healthz_is_503_when_the_loop_stopped_beating(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *a = NULL, *b = NULL;

        gp_metrics_server_heartbeat(f->s, now_usec(CLOCK_MONOTONIC) - 6 * USEC_PER_SEC);
        a = request(f->port, "GET", "/healthz");
        assert_has(a, "HTTP/1.1 503 ");
        assert_string_equal(body_of(a), "event loop stalled\n");
        gp_metrics_server_heartbeat(f->s, now_usec(CLOCK_MONOTONIC) - 4 * USEC_PER_SEC);
        b = request(f->port, "GET", "/healthz");
        assert_has(b, "HTTP/1.1 200 OK\r\n");
}

static void test_nothing_published_yet_is_503(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *a = NULL;

        a = request(f->port, "GET", "/metrics");
        assert_has(a, "HTTP/1.1 503 ");
}

static void test_unknown_paths_are_404_and_the_root_lists_the_paths(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        a = request(f->port, "GET", "/metrics/x");
        assert_has(a, "HTTP/1.1 404 ");
        b = request(f->port, "GET", "/favicon.ico");
        assert_has(b, "HTTP/1.1 404 ");
        c = request(f->port, "GET", "/");
        assert_has(c, "HTTP/1.1 200 ");
        assert_has(body_of(c), "/metrics");
}

static void test_other_methods_are_405_and_the_body_is_never_read(void **state) {
        fixture *f = *state;
        static const char * const methods[] = { "POST", "PUT", "DELETE", "PATCH", "OPTIONS" };

        publish(f->s, "m 1\n", "{}\n");
        for (size_t i = 0; i < ELEMENTSOF(methods); i++) {
                _cleanup_free_ char *a = request(f->port, methods[i], "/metrics");
                assert_has(a, "HTTP/1.1 405 ");
                assert_has(a, "allow: GET, HEAD\r\n");
                assert_has(a, "connection: close\r\n");
        }
        {
                /* A big announced body: over GP_METRICS_MAX_REQUEST_BYTES, refused at once as too
                 * large (before the method), and the connection closes. */
                _cleanup_close_ int fd = connect_to(f->port);
                _cleanup_free_ char *a = NULL;

                send_all(fd, "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 100000000\r\n\r\nxxxx");
                a = read_all(fd);
                assert_has(a, "HTTP/1.1 413 ");
                assert_has(a, "connection: close\r\n");
        }
}

static void test_a_body_larger_than_a_chunk_arrives_whole_and_keep_alive_works(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *big = malloc(100001), *a = NULL;
        _cleanup_close_ int fd = -1;

        assert_non_null(big);
        for (size_t i = 0; i < 100000; i++)
                big[i] = (char) ('a' + i % 26);
        big[100000] = 0;
        publish(f->s, big, "{}\n");
        fd = connect_to(f->port);
        send_all(fd, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHost: t\r\n"
                     "Connection: close\r\n\r\n");
        a = read_all(fd);
        assert_has(a, "content-length: 100000\r\n");
        assert_non_null(strstr(a, big));
        assert_has(strstr(a, big) + 100000, "HTTP/1.1 200 OK\r\n");
        assert_has(strstr(a, big) + 100000, "\r\n\r\nok\n");
}

static void test_a_publish_during_a_slow_download_keeps_the_old_buffer_alive(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *big = malloc(4000001), *rest = NULL, *now = NULL;
        _cleanup_close_ int fd = -1;
        gp_buf whole = {0};
        const char *body;
        char buf[100];
        ssize_t n;

        assert_non_null(big);
        memset(big, 'x', 4000000);
        big[4000000] = 0;
        publish(f->s, big, "{}\n");
        fd = connect_to(f->port);
        send_all(fd, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        n = recv(fd, buf, sizeof(buf), 0);
        assert_true(n > 0);
        /* replaced while the first client is still reading the old one */
        publish(f->s, "new 1\n", "{}\n");
        now = request(f->port, "GET", "/metrics");
        assert_string_equal(body_of(now), "new 1\n");
        rest = read_all(fd);
        assert_int_equal(gp_buf_append(&whole, buf, (size_t) n), 0);
        assert_int_equal(gp_buf_append(&whole, rest, strlen(rest)), 0);
        body = body_of(whole.data);
        assert_int_equal(strlen(body), 4000000);
        assert_int_equal(strspn(body, "x"), 4000000);
        gp_buf_free(&whole);
}

static void test_listening_moves_to_another_port_and_stops(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *a = NULL, *address = NULL, *error = NULL;
        int port, fd;
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) f->port) };

        publish(f->s, "m 1\n", "{}\n");
        port = listen_and_wait(f->s, "localhost:0");
        assert_int_not_equal(port, f->port);
        a = request(port, "GET", "/metrics");
        assert_string_equal(body_of(a), "m 1\n");
        /* the old port is closed at once */
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        assert_int_equal(connect(fd, (struct sockaddr *) &sa, sizeof(sa)), -1);
        assert_int_equal(errno, ECONNREFUSED);
        close(fd);

        assert_int_equal(gp_metrics_server_listen(f->s, NULL), 0);
        wait_report(f->s, &address, &error);
        assert_null(address);
        assert_null(error);
}

static void test_an_address_in_use_is_reported_with_its_reason(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *want = strdup_printf("127.0.0.1:%d", f->port), *address = NULL, *error = NULL;
        gp_metrics_server *other = NULL;
        char *err = NULL;

        assert_int_equal(gp_metrics_server_new(&other, &err), 0);
        assert_int_equal(gp_metrics_server_listen(other, want), 0);
        wait_report(other, &address, &error);
        assert_string_equal(address, want);
        assert_non_null(error);
        assert_has(error, "address already in use");
        gp_metrics_server_free(other);
}

static void test_a_host_that_does_not_resolve_is_reported(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *address = NULL, *error = NULL;

        assert_int_equal(gp_metrics_server_listen(f->s, "no-such-host.invalid:9477"), 0);
        wait_report(f->s, &address, &error);
        assert_non_null(error);
        assert_has(error, "cannot resolve no-such-host.invalid");
}

static void test_connections_beyond_the_limit_wait_until_others_close(void **state) {
        fixture *f = *state;
        int idle[GP_METRICS_MAX_CONNECTIONS];
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *a = NULL;
        struct pollfd p;

        publish(f->s, "m 1\n", "{}\n");
        for (size_t i = 0; i < ELEMENTSOF(idle); i++)
                idle[i] = connect_to(f->port);
        fd = connect_to(f->port);  /* the kernel's accept queue takes it */
        send_all(fd, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        p = (struct pollfd) { .fd = fd, .events = POLLIN };
        assert_int_equal(poll(&p, 1, 500), 0);  /* not accepted: no answer */
        for (size_t i = 0; i < ELEMENTSOF(idle); i++)
                close(idle[i]);
        a = read_all(fd);
        assert_string_equal(body_of(a), "m 1\n");
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        const struct CMUnitTest tests[] = {
                T(test_metrics_and_status_are_served_with_their_types),
                T(test_head_answers_the_length_without_a_body),
                T(test_healthz_is_ok_while_the_heartbeat_is_fresh),
                T(test_healthz_is_503_when_the_loop_stopped_beating),
                T(test_nothing_published_yet_is_503),
                T(test_unknown_paths_are_404_and_the_root_lists_the_paths),
                T(test_other_methods_are_405_and_the_body_is_never_read),
                T(test_a_body_larger_than_a_chunk_arrives_whole_and_keep_alive_works),
                T(test_a_publish_during_a_slow_download_keeps_the_old_buffer_alive),
                T(test_listening_moves_to_another_port_and_stops),
                T(test_an_address_in_use_is_reported_with_its_reason),
                T(test_a_host_that_does_not_resolve_is_reported),
                T(test_connections_beyond_the_limit_wait_until_others_close),
        };
#undef T

        /* A main() sets lws's process-wide log level, as gpprobed's does: no banners. */
        lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
