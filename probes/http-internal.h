/* SPDX-License-Identifier: MIT */
#pragma once

/* What the two halves of the HTTP client share: http.c runs a batch of requests (their lookups,
 * the multi loop, cancellation), http-transfer.c one request's libcurl handle (its options and
 * callbacks, its outcome as a SPEC code). The only files that include curl.h. Internal to
 * probes/. */

#include <curl/curl.h>
#include <stdatomic.h>

#include "http.h"
#include "tls-expiry.h"
#include "util.h"

typedef struct gp_transfer {
        const gp_http_request *req;
        CURL *easy;
        struct curl_slist *headers;
        struct curl_slist *resolve;  /* CURLOPT_RESOLVE: "host:port:addr,..." from our lookup */
        gp_http_reply *reply;
        gp_buf body;
        size_t max_reply;
        atomic_bool *cancelled;
        char *host;             /* the URL's host name to look up; NULL: numeric, or none found */
        long port;
        gp_dns_answer dns;
        bool resolving;         /* the lookup is under way; curl has not started */
        bool too_large;
        bool done;
        bool cert_requested;    /* the server sent a TLS CertificateRequest */
        bool client_cert;       /* ClientCertificate= is set */
        CURLcode setopt_rc;     /* the first option libcurl refused, and its name */
        const char *setopt_name;
        char errbuf[CURL_ERROR_SIZE];
} gp_transfer;

/* The request's options on t->easy, t->resolve included, timing out after timeout. 0, -ENOMEM,
 * or -EINVAL with the option libcurl refused in *ret_error. */
int gp_transfer_setup(gp_transfer *t, usec_t timeout, char **ret_error);
/* When curl is done with it: the reply's status, body and times, and the outcome as a code. */
void gp_transfer_finish(gp_transfer *t, CURLcode rc);

/* A failed reply: its code and reason (printf-style). */
void gp_http_reply_fail(gp_http_reply *r, const char *code, const char *fmt, ...) _printf_(3, 4);
/* curl_slist_append that leaves *l as it was on failure. -ENOMEM. */
int gp_slist_append(struct curl_slist **l, const char *s);
