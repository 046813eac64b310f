/* SPDX-License-Identifier: MIT */
#pragma once

/* Name lookups that never block the network thread (c-ares): each is bounded by its caller's
 * deadline and ended at once by gp_dns_cancel, so that Timeout=, ConnectTimeout= and SIGTERM
 * hold whatever the DNS servers do. The only file that includes ares.h.
 *
 * A round is the lookups made between the first gp_dns_start and gp_dns_end_round; it closes
 * its sockets when it ends. Its channel is the previous round's unless /etc/resolv.conf,
 * /etc/nsswitch.conf, /etc/host.conf or /etc/svc.conf changed since that one read them (stat:
 * identity, size, times), so a changed resolver counts from the next round, as before, without
 * re-reading four files every run. /etc/hosts is read by every lookup. */

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "time-util.h"

typedef struct gp_dns gp_dns;

/* One lookup, filled in by the resolver. The caller owns it; it must stay where it is until it
 * is done or the round ended. */
typedef struct gp_dns_answer {
        bool done;
        int error;              /* 0, -EHOSTUNREACH (no such name; the servers failed, refused,
                                 * or gave up after their own retries), -ENOMEM */
        char *reason;           /* on failure: "cannot resolve HOST: why" */
        char **addresses;       /* on success: numeric, in the resolver's order (RFC 6724) */
        usec_t started;         /* CLOCK_MONOTONIC */
        usec_t took;            /* until the answer */
} gp_dns_answer;

void gp_dns_answer_done(gp_dns_answer *a);

int gp_dns_new(gp_dns **ret);
gp_dns *gp_dns_free(gp_dns *d);  /* NULL-safe; ends a round in progress */

/* Tests only: the servers ("127.0.0.1:5353,...") instead of /etc/resolv.conf's, from the next
 * round on; NULL restores them. -ENOMEM. */
int gp_dns_set_servers(gp_dns *d, const char *servers);

/* Tests only: the resolv.conf read instead of /etc/resolv.conf (and watched for changes), from
 * the next round on; NULL restores it. -ENOMEM. */
int gp_dns_set_resolv_conf(gp_dns *d, const char *path);

/* Tests only: how many channels were started (one, while the configuration stays). */
unsigned gp_dns_channels_started(const gp_dns *d);

/* Starts looking up host (a name, or a numeric address without brackets, answered at once).
 * The answer may be done on return (/etc/hosts). 0, or -ENOMEM. */
int gp_dns_start(gp_dns *d, const char *host, gp_dns_answer *a);

/* Waiting for answers from the caller's own loop: poll a copy of the sockets (fd and events;
 * valid until the next call into the resolver) for at most gp_dns_timeout (relative;
 * USEC_INFINITY when nothing is pending), then hand the copy with its revents to
 * gp_dns_process. -ENOMEM from gp_dns_process when the resolver lost track of a socket. */
const struct pollfd *gp_dns_fds(gp_dns *d, size_t *ret_n);
usec_t gp_dns_timeout(gp_dns *d);
int gp_dns_process(gp_dns *d, const struct pollfd *fds, size_t n);

/* Ends the round: a lookup still waiting stays not done; its sockets close. */
void gp_dns_end_round(gp_dns *d);

/* One lookup in a round of its own, waiting at most until the monotonic deadline: 0 (the answer
 * is done, success or not), -ETIMEDOUT (a->took is the time waited), -ECANCELED, -ENOMEM. */
int gp_dns_resolve(gp_dns *d, const char *host, usec_t deadline, gp_dns_answer *a);

/* Any thread: makes gp_dns_resolve return -ECANCELED at once. Sticky until reset. */
void gp_dns_cancel(gp_dns *d);
void gp_dns_reset_cancel(gp_dns *d);
