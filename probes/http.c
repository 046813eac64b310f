/* SPDX-License-Identifier: MIT */
/* A batch of requests on the multi handle: each one's lookup (probes/dns.c) and then its
 * transfer (http-transfer.c), all within one deadline, ended early by gp_http_cancel. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>

#include "codes.h"
#include "http-internal.h"

/* How long past the deadline a transfer may run before it is failed without curl's word. */
#define BACKSTOP (100 * USEC_PER_MSEC)

struct gp_http {
        CURLM *multi;
        gp_dns *dns;
        atomic_bool cancelled;
};

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
        if (!h->multi || gp_dns_new(&h->dns) < 0)
                return gp_http_free(h);
        return h;
}

gp_http *gp_http_free(gp_http *h) {
        if (!h)
                return NULL;
        if (h->multi)
                curl_multi_cleanup(h->multi);
        gp_dns_free(h->dns);
        free(h);
        return NULL;
}

gp_dns *gp_http_dns(gp_http *h) {
        return h->dns;
}

void gp_http_cancel(gp_http *h) {
        atomic_store(&h->cancelled, true);
        gp_dns_cancel(h->dns);
        curl_multi_wakeup(h->multi);
}

void gp_http_reset_cancel(gp_http *h) {
        atomic_store(&h->cancelled, false);
        gp_dns_reset_cancel(h->dns);
}

/* The URL's host name as curl's connection will use it, and its port, for our lookup. No name
 * for an IP address (nothing to look up) or a URL curl will refuse by itself. -ENOMEM. */
static int url_host(const char *url, char **ret_host, long *ret_port) {
        CURLU *u = curl_url();
        char *host = NULL, *port = NULL;
        unsigned flags = 0;
        struct in_addr a;
        int k = 0;

        if (!u)
                return -ENOMEM;
#ifdef CURLU_PUNYCODE
        flags |= CURLU_PUNYCODE;  /* what curl resolves for an international name */
#endif
        if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_HOST, &host, flags) == CURLUE_OK &&
            curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
            host[0] != '[' && inet_pton(AF_INET, host, &a) != 1) {
                *ret_host = strdup(host);
                *ret_port = strtol(port, NULL, 10);
                if (!*ret_host)
                        k = -ENOMEM;
        }
        curl_free(host);
        curl_free(port);
        curl_url_cleanup(u);
        return k;
}

/* CURLOPT_RESOLVE's "host:port:addr,[v6addr],...": curl tries the addresses in turn. -ENOMEM. */
static int resolve_entry(gp_transfer *t) {
        gp_buf b = {0};
        int k = gp_buf_printf(&b, "%s:%ld:", t->host, t->port);

        STRV_FOREACH(a, t->dns.addresses) {
                bool v6 = strchr(*a, ':');

                if (k >= 0)
                        k = gp_buf_printf(&b, "%s%s%s%s", a == t->dns.addresses ? "" : ",", v6 ? "[" : "", *a,
                                          v6 ? "]" : "");
        }
        if (k >= 0)
                k = gp_slist_append(&t->resolve, b.data);
        gp_buf_free(&b);
        /* At Users=1000 a name of 1000 addresses would keep 30 MB of copies. */
        strv_free(TAKE_PTR(t->dns.addresses));
        return k;
}

/* A request that ends before curl runs it: its lookup failed or did not answer, or libcurl
 * refused an option. */
static void end_early(gp_transfer *t, const char *code, const char *reason) {
        t->done = true;
        t->reply->timing = (gp_http_timing) { .dns = t->dns.took, .total = t->dns.took };
        gp_http_reply_fail(t->reply, code, "%s", strempty(reason));
}

/* The requests of one gp_http_perform. */
typedef struct batch {
        gp_http *h;
        gp_transfer *ts;
        size_t n, next;
        size_t running;         /* started and not done: looking up, or in curl */
        size_t resolving;       /* of those, looking up */
        usec_t deadline;
} batch;

static int start_curl(batch *b, gp_transfer *t) {
        _cleanup_free_ char *err = NULL;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int k;

        if (t->host && resolve_entry(t) < 0)
                return -ENOMEM;
        t->easy = curl_easy_init();
        if (!t->easy)
                return -ENOMEM;
        k = gp_transfer_setup(t, b->deadline > now ? b->deadline - now : 1, &err);
        if (k == -EINVAL) {
                end_early(t, GP_CODE_INTERNAL, err);
                b->running--;
                return 0;
        }
        if (k < 0)
                return k;
        if (curl_multi_add_handle(b->h->multi, t->easy) != CURLM_OK)
                return -ENOMEM;
        return 0;
}

/* A request starts with its own lookup (as a new user's browser would), unless its host is an
 * address. */
static int start_transfer(batch *b, gp_transfer *t) {
        int k;

        b->running++;
        k = url_host(t->req->url, &t->host, &t->port);
        if (k < 0)
                return k;
        if (!t->host)
                return start_curl(b, t);
        k = gp_dns_start(b->h->dns, t->host, &t->dns);
        if (k < 0)
                return k;
        t->resolving = true;
        b->resolving++;
        return 0;
}

/* Hands the answered lookups to curl, or ends their requests; at the deadline, a lookup still
 * waiting ends its request as net.timeout. -ENOMEM. */
static int advance_lookups(batch *b) {
        usec_t now = now_usec(CLOCK_MONOTONIC);

        for (size_t i = 0; i < b->next && b->resolving > 0; i++) {
                gp_transfer *t = &b->ts[i];
                char d[32];
                int k;

                if (!t->resolving || (!t->dns.done && now < b->deadline))
                        continue;
                t->resolving = false;
                b->resolving--;
                if (t->dns.done && t->dns.error == -ENOMEM)
                        return -ENOMEM;
                if (t->dns.done && t->dns.error == 0) {
                        k = start_curl(b, t);
                        if (k < 0)
                                return k;
                        continue;
                }
                if (t->dns.done)
                        end_early(t, GP_CODE_NET_DNS, t->dns.reason);
                else {
                        _cleanup_free_ char *reason = NULL;

                        t->dns.took = now - t->dns.started;
                        reason = strdup_printf("DNS did not answer for %s before the deadline (waited %s)",
                                               t->host, format_duration(d, sizeof(d), t->dns.took));
                        if (!reason)
                                return -ENOMEM;
                        end_early(t, GP_CODE_NET_TIMEOUT, reason);
                }
                b->running--;
        }
        return 0;
}

static void end_transfer(gp_http *h, gp_transfer *t) {
        if (t->easy) {
                curl_multi_remove_handle(h->multi, t->easy);
                curl_easy_cleanup(t->easy);
                t->easy = NULL;
        }
        curl_slist_free_all(t->headers);
        t->headers = NULL;
        curl_slist_free_all(t->resolve);
        t->resolve = NULL;
        gp_buf_free(&t->body);
        free(t->host);
        t->host = NULL;
        gp_dns_answer_done(&t->dns);  /* answered: a lookup still waiting ends with the round */
}

static int advance_transfers(batch *b) {
        CURLMsg *msg;
        int still = 0;

        if (curl_multi_perform(b->h->multi, &still) != CURLM_OK)
                return -EIO;
        while ((msg = curl_multi_info_read(b->h->multi, &still))) {
                gp_transfer *t = NULL;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t) != CURLE_OK || !t)
                        return -EIO;
                gp_transfer_finish(t, msg->data.result);
                end_transfer(b->h, t);
                b->running--;
        }
        return 0;
}

static int ms_ceil(usec_t u) {
        return (int) MIN((u + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT_MAX);
}

/* Waits for curl's sockets, the lookups' sockets, or gp_http_cancel: at most 1 s and until the
 * backstop; while lookups wait, at most until the deadline or c-ares's next retry. */
static int wait_io(batch *b, usec_t now) {
        _cleanup_free_ struct curl_waitfd *w = NULL;
        _cleanup_free_ struct pollfd *p = NULL;
        usec_t wait = MIN(b->deadline + BACKSTOP - now, USEC_PER_SEC);
        const struct pollfd *dns;
        size_t n_dns;
        int numfds = 0;

        dns = gp_dns_fds(b->h->dns, &n_dns);
        if (b->resolving == 0)
                n_dns = 0;  /* a stray datagram on an idle socket must not wake us in a loop */
        w = calloc(n_dns + 1, sizeof(*w));
        p = calloc(n_dns + 1, sizeof(*p));
        if (!w || !p)
                return -ENOMEM;
        if (b->resolving > 0)
                wait = MIN(wait, MIN(b->deadline > now ? b->deadline - now : 0, gp_dns_timeout(b->h->dns)));
        for (size_t i = 0; i < n_dns; i++) {
                p[i] = (struct pollfd) { .fd = dns[i].fd, .events = dns[i].events };
                w[i] = (struct curl_waitfd) {
                        .fd = dns[i].fd,
                        .events = (short) (((dns[i].events & POLLIN) ? CURL_WAIT_POLLIN : 0) |
                                           ((dns[i].events & POLLOUT) ? CURL_WAIT_POLLOUT : 0)),
                };
        }
        if (curl_multi_poll(b->h->multi, w, (unsigned) n_dns, ms_ceil(wait), &numfds) != CURLM_OK)
                return -EIO;
        if (b->resolving == 0)
                return 0;
        /* curl reports neither POLLERR nor POLLHUP of these (a DNS server's port unreachable):
         * ask again, without waiting. */
        if (n_dns > 0 && poll(p, n_dns, 0) < 0 && errno != EINTR)
                return -errno;
        return gp_dns_process(b->h->dns, p, n_dns);
}

int gp_http_perform(gp_http *h, const gp_http_request *reqs, gp_http_reply *replies, size_t n,
                    size_t max_in_flight, usec_t deadline) {
        batch b = { .h = h, .n = n, .deadline = deadline };
        int r = 0;

        if (max_in_flight == 0 || max_in_flight > GP_HTTP_MAX_IN_FLIGHT)
                max_in_flight = GP_HTTP_MAX_IN_FLIGHT;

        b.ts = calloc(n ? n : 1, sizeof(gp_transfer));
        if (!b.ts)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                replies[i] = (gp_http_reply) {0};
                b.ts[i].req = &reqs[i];
                b.ts[i].reply = &replies[i];
                b.ts[i].max_reply = reqs[i].max_reply;
                b.ts[i].cancelled = &h->cancelled;
        }

        for (;;) {
                usec_t now;

                /* Each request's times start when it starts (with its lookup), so the window only
                 * bounds the work and memory in flight (a TLS handshake holds ~70 KiB). */
                while (b.running < max_in_flight && b.next < n) {
                        r = start_transfer(&b, &b.ts[b.next++]);
                        if (r < 0)
                                goto out;
                }
                if (atomic_load(&h->cancelled)) {
                        r = -ECANCELED;
                        break;
                }
                r = advance_lookups(&b);
                if (r >= 0)
                        r = advance_transfers(&b);
                if (r < 0)
                        break;
                if (b.running == 0 && b.next == n)
                        break;
                if (b.running < max_in_flight && b.next < n)
                        continue;  /* start more before waiting */
                now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline + BACKSTOP) {
                        /* curl enforces the deadline itself; this is only a backstop. */
                        for (size_t i = 0; i < n; i++)
                                if (!b.ts[i].done) {
                                        gp_http_reply_fail(&replies[i], GP_CODE_NET_TIMEOUT,
                                                           "no reply before the deadline");
                                        b.ts[i].done = true;
                                }
                        break;
                }
                r = wait_io(&b, now);
                if (r < 0)
                        break;
        }

out:
        gp_dns_end_round(h->dns);  /* before the answers of lookups still waiting go */
        for (size_t i = 0; i < n; i++)
                end_transfer(h, &b.ts[i]);
        free(b.ts);
        return r;
}
