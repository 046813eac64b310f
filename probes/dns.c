/* SPDX-License-Identifier: MIT */
#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include "dns.h"
#include "util.h"

/* The files c-ares 1.18 reads when a channel starts (resolv.conf; where it has no "lookup"
 * line, the order of files and DNS from the others). /etc/hosts is read by every lookup. */
static const char *const CONFIG_FILES[] = { "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/svc.conf" };
#define N_CONFIG ELEMENTSOF(CONFIG_FILES)

/* What says a file changed: its identity, size and times, or the error that stat gave. */
typedef struct file_id {
        int error;
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime, ctime;
} file_id;

struct gp_dns {
        ares_channel channel;   /* kept from round to round while the configuration stays */
        file_id config[N_CONFIG];  /* the configuration files as the channel read them */
        char *resolv_conf;      /* tests: instead of /etc/resolv.conf */
        bool settings_changed;  /* gp_dns_set_servers or _set_resolv_conf since the channel started */
        unsigned channels;      /* how many were started: tests */
        bool in_round;
        char *servers;          /* tests: instead of resolv.conf's */
        struct pollfd *socks;   /* what c-ares waits on (its socket state callback) */
        size_t n_socks, n_alloc;
        bool lost_socket;       /* out of memory tracking one: lookups would wait in vain */
        size_t pending;         /* lookups of this round not answered yet */
        atomic_bool cancelled;
        int wake_fd;            /* an eventfd: gp_dns_cancel ends gp_dns_resolve's poll */
        bool library;           /* ares_library_init succeeded */
};

/* c-ares's argument for one lookup: the answer it fills in. */
typedef struct lookup {
        gp_dns *dns;
        gp_dns_answer *answer;
        char host[];
} lookup;

void gp_dns_answer_done(gp_dns_answer *a) {
        free(a->reason);
        strv_free(a->addresses);
        *a = (gp_dns_answer) {0};
}

int gp_dns_new(gp_dns **ret) {
        gp_dns *d = calloc(1, sizeof(*d));

        if (!d)
                return -ENOMEM;
        d->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (d->wake_fd < 0) {
                int k = -errno;
                free(d);
                return k;
        }
        /* Needed on Windows only, but the API asks for it; reference-counted by c-ares. */
        if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
                close(d->wake_fd);
                free(d);
                return -ENOMEM;
        }
        d->library = true;
        *ret = d;
        return 0;
}

gp_dns *gp_dns_free(gp_dns *d) {
        if (!d)
                return NULL;
        gp_dns_end_round(d);
        if (d->channel)
                ares_destroy(d->channel);
        if (d->library)
                ares_library_cleanup();
        close(d->wake_fd);
        free(d->socks);
        free(d->servers);
        free(d->resolv_conf);
        free(d);
        return NULL;
}

/* *field = a copy of value (NULL: none); the next round starts a new channel. -ENOMEM. */
static int set_setting(gp_dns *d, char **field, const char *value) {
        char *copy = NULL;

        if (value) {
                copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
        }
        free(*field);
        *field = copy;
        d->settings_changed = true;
        return 0;
}

int gp_dns_set_servers(gp_dns *d, const char *servers) {
        return set_setting(d, &d->servers, servers);
}

int gp_dns_set_resolv_conf(gp_dns *d, const char *path) {
        return set_setting(d, &d->resolv_conf, path);
}

unsigned gp_dns_channels_started(const gp_dns *d) {
        return d->channels;
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable) {
        gp_dns *d = data;
        short events = (short) ((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
        size_t i;

        for (i = 0; i < d->n_socks && d->socks[i].fd != fd; i++)
                ;
        if (events == 0) {
                if (i < d->n_socks)
                        d->socks[i] = d->socks[--d->n_socks];
                return;
        }
        if (i == d->n_socks) {
                if (d->n_socks == d->n_alloc) {
                        size_t n = MAX(d->n_alloc * 2, (size_t) 8);
                        struct pollfd *more = realloc(d->socks, n * sizeof(*more));

                        if (!more) {
                                d->lost_socket = true;
                                return;
                        }
                        d->socks = more;
                        d->n_alloc = n;
                }
                d->n_socks++;
        }
        d->socks[i] = (struct pollfd) { .fd = fd, .events = events };
}

static const char *config_path(const gp_dns *d, size_t i) {
        return i == 0 && d->resolv_conf ? d->resolv_conf : CONFIG_FILES[i];
}

static void config_now(const gp_dns *d, file_id ret[N_CONFIG]) {
        for (size_t i = 0; i < N_CONFIG; i++) {
                struct stat st;

                if (stat(config_path(d, i), &st) < 0)
                        ret[i] = (file_id) { .error = errno };
                else
                        ret[i] = (file_id) { .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
                                             .mtime = st.st_mtim, .ctime = st.st_ctim };
        }
}

static bool same_file(const file_id *a, const file_id *b) {
        return a->error == b->error && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
               a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
               a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* The round's channel, when its first lookup starts: the one kept from the rounds before while
 * the resolver's configuration files are as it read them (four stat calls, where starting a
 * channel reads them all and more); else a new one. 0, -ENOMEM, or -EIO with a reason. */
static int begin_round(gp_dns *d, char **ret_reason) {
        struct ares_options o = { .sock_state_cb = on_sock_state, .sock_state_cb_data = d };
        int mask = ARES_OPT_SOCK_STATE_CB, s;
        file_id now[N_CONFIG];
        bool same = !d->settings_changed;

        if (d->in_round)
                return 0;
        config_now(d, now);
        for (size_t i = 0; same && i < N_CONFIG; i++)
                same = same_file(&now[i], &d->config[i]);
        if (d->channel && same) {
                d->in_round = true;
                return 0;
        }
        if (d->channel)
                ares_destroy(d->channel);
        d->channel = NULL;
        d->n_socks = 0;
        d->lost_socket = false;
        if (d->resolv_conf) {
                o.resolvconf_path = d->resolv_conf;
                mask |= ARES_OPT_RESOLVCONF;
        }
        s = ares_init_options(&d->channel, &o, mask);
        if (s == ARES_SUCCESS && d->servers)
                s = ares_set_servers_ports_csv(d->channel, d->servers);
        if (s == ARES_SUCCESS) {
                memcpy(d->config, now, sizeof(now));
                d->settings_changed = false;
                d->channels++;
                d->in_round = true;
                return 0;
        }
        if (d->channel)
                ares_destroy(d->channel);
        d->channel = NULL;
        if (s == ARES_ENOMEM)
                return -ENOMEM;
        *ret_reason = strdup_printf("the resolver could not start: %s", ares_strerror(s));
        return *ret_reason ? -EIO : -ENOMEM;
}

static int addresses_of(const struct ares_addrinfo *res, char ***ret) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));

        if (!l)
                return -ENOMEM;
        for (const struct ares_addrinfo_node *n = res ? res->nodes : NULL; n; n = n->ai_next) {
                char buf[INET6_ADDRSTRLEN];
                const void *addr;

                if (n->ai_family == AF_INET)
                        addr = &((const struct sockaddr_in *) n->ai_addr)->sin_addr;
                else if (n->ai_family == AF_INET6)
                        addr = &((const struct sockaddr_in6 *) n->ai_addr)->sin6_addr;
                else
                        continue;
                if (!inet_ntop(n->ai_family, addr, buf, sizeof(buf)) || strv_contains(l, buf))
                        continue;
                if (strv_extend(&l, buf) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static void fail(gp_dns_answer *a, const char *host, int error, const char *why) {
        a->done = true;
        a->error = error;
        if (error != -ENOMEM) {
                a->reason = strdup_printf("cannot resolve %s: %s", host, why);
                if (!a->reason)
                        a->error = -ENOMEM;
        }
}

static void on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res) {
        lookup *l = arg;
        gp_dns_answer *a = l->answer;

        l->dns->pending--;
        if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
                /* The round ended first: the caller stopped waiting, and the answer stays
                 * as it is (not done). */
                ares_freeaddrinfo(res);
                free(l);
                return;
        }
        a->took = now_usec(CLOCK_MONOTONIC) - a->started;
        if (status == ARES_ENOMEM)
                fail(a, l->host, -ENOMEM, NULL);
        else if (status != ARES_SUCCESS)
                fail(a, l->host, -EHOSTUNREACH, ares_strerror(status));
        else if (addresses_of(res, &a->addresses) < 0)
                fail(a, l->host, -ENOMEM, NULL);
        else if (!a->addresses[0])
                fail(a, l->host, -EHOSTUNREACH, "no IPv4 or IPv6 address");
        else
                a->done = true;
        ares_freeaddrinfo(res);
        free(l);
}

static bool is_numeric(const char *host) {
        unsigned char buf[sizeof(struct in6_addr)];

        return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

int gp_dns_start(gp_dns *d, const char *host, gp_dns_answer *a) {
        struct ares_addrinfo_hints hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
        _cleanup_free_ char *reason = NULL;
        lookup *l;
        int k;

        *a = (gp_dns_answer) { .started = now_usec(CLOCK_MONOTONIC) };
        /* c-ares 1.18 asks the servers about a numeric address too: no lookup, as with libcurl. */
        if (is_numeric(host)) {
                a->done = true;
                if (strv_extend(&a->addresses, host) < 0)
                        return -ENOMEM;
                return 0;
        }
        k = begin_round(d, &reason);
        if (k == -ENOMEM)
                return k;
        if (k < 0) {
                fail(a, host, -EHOSTUNREACH, reason);
                return a->error == -ENOMEM ? -ENOMEM : 0;
        }
        l = malloc(sizeof(*l) + strlen(host) + 1);
        if (!l)
                return -ENOMEM;
        *l = (lookup) { .dns = d, .answer = a };
        memcpy(l->host, host, strlen(host) + 1);
        d->pending++;
        ares_getaddrinfo(d->channel, host, NULL, &hints, on_answer, l);  /* may answer at once */
        return 0;
}

const struct pollfd *gp_dns_fds(gp_dns *d, size_t *ret_n) {
        *ret_n = d->n_socks;
        return d->socks;
}

usec_t gp_dns_timeout(gp_dns *d) {
        struct timeval tv;

        if (!d->in_round || d->pending == 0 || !ares_timeout(d->channel, NULL, &tv))
                return USEC_INFINITY;
        return (usec_t) tv.tv_sec * USEC_PER_SEC + (usec_t) tv.tv_usec;
}

int gp_dns_process(gp_dns *d, const struct pollfd *fds, size_t n) {
        if (!d->in_round)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (fds[i].revents)
                        ares_process_fd(d->channel,
                                        fds[i].revents & (POLLIN | POLLERR | POLLHUP) ? fds[i].fd : ARES_SOCKET_BAD,
                                        fds[i].revents & POLLOUT ? fds[i].fd : ARES_SOCKET_BAD);
        ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  /* its retries and timeouts */
        return d->lost_socket ? -ENOMEM : 0;
}

void gp_dns_end_round(gp_dns *d) {
        if (!d->in_round)
                return;
        /* Calls on_answer for every lookup still waiting; with none left, c-ares closes the
         * channel's sockets (no ARES_FLAG_STAYOPEN). The channel stays for the next round. */
        ares_cancel(d->channel);
        d->in_round = false;
        d->n_socks = 0;
        d->pending = 0;
}

static int poll_timeout_ms(usec_t u) {
        return u == USEC_INFINITY ? -1 : (int) MIN((u + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT_MAX);
}

static int wait_round(gp_dns *d, usec_t deadline, const gp_dns_answer *a) {
        while (!a->done) {
                _cleanup_free_ struct pollfd *fds = calloc(d->n_socks + 1, sizeof(*fds));
                usec_t now = now_usec(CLOCK_MONOTONIC);
                size_t n;
                int k;

                if (!fds)
                        return -ENOMEM;
                if (atomic_load(&d->cancelled))
                        return -ECANCELED;
                if (now >= deadline)
                        return -ETIMEDOUT;
                n = d->n_socks;
                for (size_t i = 0; i < n; i++)
                        fds[i] = (struct pollfd) { .fd = d->socks[i].fd, .events = d->socks[i].events };
                fds[n] = (struct pollfd) { .fd = d->wake_fd, .events = POLLIN };
                if (poll(fds, n + 1, poll_timeout_ms(MIN(deadline - now, gp_dns_timeout(d)))) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (fds[n].revents && !atomic_load(&d->cancelled)) {
                        eventfd_t v;
                        (void) eventfd_read(d->wake_fd, &v);  /* a cancel already reset */
                }
                k = gp_dns_process(d, fds, n);
                if (k < 0)
                        return k;
        }
        return 0;
}

int gp_dns_resolve(gp_dns *d, const char *host, usec_t deadline, gp_dns_answer *a) {
        int k;

        *a = (gp_dns_answer) { .started = now_usec(CLOCK_MONOTONIC) };
        if (atomic_load(&d->cancelled))
                return -ECANCELED;
        k = gp_dns_start(d, host, a);
        if (k == 0)
                k = wait_round(d, deadline, a);
        if (!a->done)
                a->took = now_usec(CLOCK_MONOTONIC) - a->started;
        gp_dns_end_round(d);
        return k;
}

void gp_dns_cancel(gp_dns *d) {
        atomic_store(&d->cancelled, true);
        (void) eventfd_write(d->wake_fd, 1);
}

void gp_dns_reset_cancel(gp_dns *d) {
        eventfd_t v;

        (void) eventfd_read(d->wake_fd, &v);
        atomic_store(&d->cancelled, false);
}
