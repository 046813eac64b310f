/* SPDX-License-Identifier: MIT */
/* The resolver against DNS servers made here: one that answers, one that never does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "dns.h"
#include "util.h"

#define MS(x) ((usec_t) (x) * USEC_PER_MSEC)

/* A UDP DNS server on 127.0.0.1: silent, or answering a.gp.test with 127.0.0.1 (AAAA: none)
 * and NXDOMAIN for any other name. */
typedef struct server {
        int fd;
        bool silent;
        atomic_bool stop;
        atomic_uint queries;
        pthread_t thread;
        char address[32];       /* "127.0.0.1:PORT" for gp_dns_set_servers */
} server;

static size_t reply(const uint8_t *q, size_t n, uint8_t *out) {
        size_t end = 12;
        bool known, a;

        while (end < n && q[end])
                end += q[end] + 1u;
        if (end + 5 > n)
                return 0;
        known = end - 12 == 10 && memcmp(q + 12, "\001a\002gp\004test", 10) == 0;
        a = q[end + 1] == 0 && q[end + 2] == 1;
        memcpy(out, q, end + 5);
        out[2] = 0x81;                                    /* QR, RD */
        out[3] = known ? 0x80 : 0x83;                     /* RA, NOERROR or NXDOMAIN */
        memset(out + 6, 0, 6);
        if (!known || !a)
                return end + 5;
        out[7] = 1;                                       /* one answer */
        memcpy(out + end + 5, (const uint8_t[]) { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1 }, 16);
        return end + 5 + 16;
}

static void *serve(void *userdata) {
        server *s = userdata;

        while (!atomic_load(&s->stop)) {
                uint8_t q[512], out[600];
                struct sockaddr_in peer;
                socklen_t len = sizeof(peer);
                ssize_t n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *) &peer, &len);
                size_t m;

                if (n <= 0)
                        continue;
                atomic_fetch_add(&s->queries, 1);
                if (s->silent)
                        continue;
                m = reply(q, (size_t) n, out);
                if (m > 0)
                        (void) sendto(s->fd, out, m, 0, (struct sockaddr *) &peer, len);
        }
        return NULL;
}

static void server_start(server *s, bool silent) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct timeval tv = { .tv_usec = 20000 };
        socklen_t len = sizeof(a);

        *s = (server) { .silent = silent };
        s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        assert_true(s->fd >= 0);
        assert_int_equal(setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        assert_int_equal(bind(s->fd, (struct sockaddr *) &a, sizeof(a)), 0);
        assert_int_equal(getsockname(s->fd, (struct sockaddr *) &a, &len), 0);
        snprintf(s->address, sizeof(s->address), "127.0.0.1:%u", ntohs(a.sin_port));
        assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_stop(server *s) {
        atomic_store(&s->stop, true);
        pthread_join(s->thread, NULL);
        close(s->fd);
}

static size_t open_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        size_t n = 0;

        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static gp_dns *new_dns(const server *s) {
        gp_dns *d = NULL;

        assert_int_equal(gp_dns_new(&d), 0);
        if (s)
                assert_int_equal(gp_dns_set_servers(d, s->address), 0);
        return d;
}

static void test_numeric_address_needs_no_server(void **state) {
        server s;
        gp_dns *d;
        gp_dns_answer a;

        server_start(&s, true);
        d = new_dns(&s);
        assert_int_equal(gp_dns_resolve(d, "192.0.2.7", now_usec(CLOCK_MONOTONIC) + MS(500), &a), 0);
        assert_true(a.done);
        assert_int_equal(a.error, 0);
        assert_string_equal(a.addresses[0], "192.0.2.7");
        assert_null(a.addresses[1]);
        assert_int_equal(atomic_load(&s.queries), 0);
        gp_dns_answer_done(&a);
        gp_dns_free(d);
        server_stop(&s);
}

static void test_answer_lists_the_servers_addresses(void **state) {
        server s;
        gp_dns *d;
        gp_dns_answer a;
        size_t fds = open_fds();

        server_start(&s, false);
        d = new_dns(&s);
        assert_int_equal(gp_dns_resolve(d, "a.gp.test", now_usec(CLOCK_MONOTONIC) + MS(2000), &a), 0);
        assert_true(a.done);
        assert_int_equal(a.error, 0);
        assert_null(a.reason);
        assert_string_equal(a.addresses[0], "127.0.0.1");
        assert_null(a.addresses[1]);
        assert_true(a.took < MS(1000));
        assert_true(atomic_load(&s.queries) >= 1);  /* A and AAAA */
        gp_dns_answer_done(&a);
        gp_dns_free(d);
        server_stop(&s);
        assert_int_equal(open_fds(), fds);  /* the round's sockets are closed */
}

static void test_unknown_name_fails_naming_the_host(void **state) {
        server s;
        gp_dns *d;
        gp_dns_answer a;

        server_start(&s, false);
        d = new_dns(&s);
        assert_int_equal(gp_dns_resolve(d, "nx.gp.test", now_usec(CLOCK_MONOTONIC) + MS(2000), &a), 0);
        assert_true(a.done);
        assert_int_equal(a.error, -EHOSTUNREACH);
        assert_non_null(strstr(a.reason, "cannot resolve nx.gp.test: "));
        assert_null(a.addresses);
        gp_dns_answer_done(&a);
        gp_dns_free(d);
        server_stop(&s);
}

static void test_silent_server_ends_at_the_deadline(void **state) {
        server s;
        gp_dns *d;
        gp_dns_answer a;
        usec_t t0 = now_usec(CLOCK_MONOTONIC), took;

        server_start(&s, true);
        d = new_dns(&s);
        assert_int_equal(gp_dns_resolve(d, "a.gp.test", t0 + MS(300), &a), -ETIMEDOUT);
        took = now_usec(CLOCK_MONOTONIC) - t0;
        assert_false(a.done);
        assert_true(took >= MS(300) && took < MS(400));
        assert_true(a.took >= MS(300) && a.took < MS(400));
        assert_true(atomic_load(&s.queries) >= 1);
        gp_dns_answer_done(&a);
        gp_dns_free(d);
        server_stop(&s);
}

static void *cancel_later(void *userdata) {
        usleep(100 * 1000);
        gp_dns_cancel(userdata);
        return NULL;
}

static void test_cancel_from_another_thread_ends_the_wait_until_reset(void **state) {
        server s;
        gp_dns *d;
        gp_dns_answer a;
        pthread_t t;
        usec_t t0, took;

        server_start(&s, true);
        d = new_dns(&s);
        t0 = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(pthread_create(&t, NULL, cancel_later, d), 0);
        assert_int_equal(gp_dns_resolve(d, "a.gp.test", t0 + MS(10000), &a), -ECANCELED);
        took = now_usec(CLOCK_MONOTONIC) - t0;
        pthread_join(t, NULL);
        assert_true(took >= MS(100) && took < MS(200));
        gp_dns_answer_done(&a);

        /* sticky: the next lookup does not start */
        assert_int_equal(gp_dns_resolve(d, "a.gp.test", now_usec(CLOCK_MONOTONIC) + MS(10000), &a), -ECANCELED);
        gp_dns_answer_done(&a);

        gp_dns_reset_cancel(d);
        t0 = now_usec(CLOCK_MONOTONIC);
        assert_int_equal(gp_dns_resolve(d, "a.gp.test", t0 + MS(100), &a), -ETIMEDOUT);
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 < MS(200));
        gp_dns_answer_done(&a);
        gp_dns_free(d);
        server_stop(&s);
}

/* The interface http.c drives from its own loop: several lookups of one round at once. */
static void test_round_of_lookups_from_the_callers_loop(void **state) {
        server s;
        gp_dns *d;
        gp_dns_answer a[3];
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + MS(2000);

        server_start(&s, false);
        d = new_dns(&s);
        assert_int_equal(gp_dns_start(d, "a.gp.test", &a[0]), 0);
        assert_int_equal(gp_dns_start(d, "nx.gp.test", &a[1]), 0);
        assert_int_equal(gp_dns_start(d, "::1", &a[2]), 0);
        assert_true(a[2].done);
        while (!(a[0].done && a[1].done) && now_usec(CLOCK_MONOTONIC) < deadline) {
                size_t n;
                const struct pollfd *fds = gp_dns_fds(d, &n);
                struct pollfd copy[16];
                usec_t wait = gp_dns_timeout(d);

                assert_true(n > 0 && n <= ELEMENTSOF(copy));
                assert_true(wait != USEC_INFINITY);
                memcpy(copy, fds, n * sizeof(*fds));
                assert_true(poll(copy, n, (int) MIN(wait / USEC_PER_MSEC + 1, (usec_t) 100)) >= 0);
                assert_int_equal(gp_dns_process(d, copy, n), 0);
        }
        assert_int_equal(a[0].error, 0);
        assert_string_equal(a[0].addresses[0], "127.0.0.1");
        assert_int_equal(a[1].error, -EHOSTUNREACH);
        assert_string_equal(a[2].addresses[0], "::1");
        assert_int_equal(gp_dns_timeout(d), USEC_INFINITY);
        gp_dns_end_round(d);
        for (size_t i = 0; i < ELEMENTSOF(a); i++)
                gp_dns_answer_done(&a[i]);
        gp_dns_free(d);
        server_stop(&s);
}

/* A round that ends with a lookup still waiting leaves its answer not done, and frees it. */
static void test_ending_the_round_abandons_what_waits(void **state) {
        server s;
        gp_dns *d;
        gp_dns_answer a;

        server_start(&s, true);
        d = new_dns(&s);
        assert_int_equal(gp_dns_start(d, "a.gp.test", &a), 0);
        assert_false(a.done);
        gp_dns_end_round(d);
        assert_false(a.done);
        assert_int_equal(gp_dns_timeout(d), USEC_INFINITY);
        gp_dns_answer_done(&a);
        gp_dns_free(d);
        server_stop(&s);
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
        assert_int_equal(fclose(f), 0);
}

static void resolve_a(gp_dns *d) {
        gp_dns_answer a;

        assert_int_equal(gp_dns_resolve(d, "a.gp.test", now_usec(CLOCK_MONOTONIC) + MS(2000), &a), 0);
        assert_true(a.done);
        assert_int_equal(a.error, 0);
        assert_string_equal(a.addresses[0], "127.0.0.1");
        gp_dns_answer_done(&a);
}

/* One channel from run to run while the resolver's files stay as they were; a changed file (or
 * server list) gives the next round a new one; no round leaves a socket open. */
static void test_the_channel_is_kept_until_the_resolver_configuration_changes(void **state) {
        char dir[] = "/tmp/test-dns.XXXXXX";
        _cleanup_free_ char *conf = NULL;
        server s;
        gp_dns *d;
        size_t fds;

        assert_non_null(mkdtemp(dir));
        conf = strdup_printf("%s/resolv.conf", dir);
        write_file(conf, "nameserver 127.0.0.1\n");
        server_start(&s, false);
        d = new_dns(&s);
        assert_int_equal(gp_dns_set_resolv_conf(d, conf), 0);
        fds = open_fds();
        resolve_a(d);
        assert_int_equal(gp_dns_channels_started(d), 1);
        resolve_a(d);
        resolve_a(d);
        assert_int_equal(gp_dns_channels_started(d), 1);
        assert_int_equal(open_fds(), fds);
        write_file(conf, "nameserver 127.0.0.1\noptions ndots:2\n");
        resolve_a(d);
        assert_int_equal(gp_dns_channels_started(d), 2);
        resolve_a(d);
        assert_int_equal(gp_dns_channels_started(d), 2);
        assert_int_equal(unlink(conf), 0);  /* gone: c-ares's defaults, and our server list */
        resolve_a(d);
        assert_int_equal(gp_dns_channels_started(d), 3);
        assert_int_equal(gp_dns_set_servers(d, s.address), 0);
        resolve_a(d);
        assert_int_equal(gp_dns_channels_started(d), 4);
        assert_int_equal(open_fds(), fds);
        gp_dns_free(d);
        server_stop(&s);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_numeric_address_needs_no_server),
                cmocka_unit_test(test_answer_lists_the_servers_addresses),
                cmocka_unit_test(test_unknown_name_fails_naming_the_host),
                cmocka_unit_test(test_silent_server_ends_at_the_deadline),
                cmocka_unit_test(test_cancel_from_another_thread_ends_the_wait_until_reset),
                cmocka_unit_test(test_round_of_lookups_from_the_callers_loop),
                cmocka_unit_test(test_ending_the_round_abandons_what_waits),
                cmocka_unit_test(test_the_channel_is_kept_until_the_resolver_configuration_changes),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
