/* SPDX-License-Identifier: MIT */
/* The preflight and login steps: many sessions' requests at once through probes/http.c. */
#include <errno.h>

#include "golden-path-internal.h"
#include "jsonpath.h"

static const char *transport_stage_code(const gp_http_reply *rep, const char *fallback) {
        if (streq(rep->error_code, "too_large") || streq(rep->error_code, "no_reply"))
                return fallback;
        return rep->error_code;
}

/* ---- preflight ---------------------------------------------------------------------------- */

static void preflight_headers_free(char ***headers, size_t n) {
        for (size_t i = 0; headers && i < n; i++)
                strv_free(headers[i]);
        free(headers);
}

int gp_step_preflight(run *r) {
        const gp_config *c = r->cfg;
        size_t n_urls = strv_length(c->preflight_urls), n = 0;
        _cleanup_free_ gp_http_request *reqs = NULL;
        _cleanup_free_ gp_http_reply *reps = NULL;
        gp_tls_opts tls = { c->ca_file, c->insecure, c->client_certificate, c->client_key };
        char ***headers = NULL;
        usec_t t, start;
        int k;

        if (n_urls == 0)
                return 0;
        reqs = calloc(n_urls * r->n, sizeof(*reqs));
        reps = calloc(n_urls * r->n, sizeof(*reps));
        headers = calloc(r->n, sizeof(*headers));
        if (!reqs || !reps || !headers)
                goto oom;
        for (size_t i = 0; i < r->n; i++) {
                headers[i] = calloc(1, sizeof(char *));
                if (!headers[i] || gp_session_trace_headers(&r->sessions[i], &headers[i]) < 0)
                        goto oom;
                for (size_t u = 0; u < n_urls; u++)
                        reqs[n++] = (gp_http_request) {
                                .url = c->preflight_urls[u], .method = "GET", .headers = headers[i],
                                .max_reply = LOGIN_MAX_REPLY, .tls = &tls,
                        };
        }
        start = t = now_usec(CLOCK_MONOTONIC);
        k = gp_http_perform(r->engine->http, reqs, reps, n, gp_fd_budget(), r->deadline);
        t = now_usec(CLOCK_MONOTONIC) - t;
        if (k < 0) {
                for (size_t i = 0; i < n; i++)
                        gp_http_reply_done(&reps[i]);
                preflight_headers_free(headers, r->n);
                return k;
        }
        for (size_t i = 0; i < n; i++) {
                session *s = &r->sessions[i / n_urls];
                const gp_http_reply *rep = &reps[i];
                char d[32];

                s->res->phases[GP_PHASE_PREFLIGHT] = t;
                gp_tx_http(s, start, "preflight", "GET", reqs[i].url, rep);
                if (rep->error_code)
                        gp_fail_session(s, "preflight", transport_stage_code(rep, GP_CODE_PREFLIGHT_STATUS),
                                        "preflight GET %s: %s", reqs[i].url, strempty(rep->error));
                else if (rep->status != c->preflight_expect_status)
                        gp_fail_session(s, "preflight", GP_CODE_PREFLIGHT_STATUS,
                                        "preflight GET %s answered HTTP %ld (expected %ld)", reqs[i].url,
                                        rep->status, c->preflight_expect_status);
                else
                        gp_strace(s, "preflight GET %s: HTTP %ld in %s", reqs[i].url, rep->status,
                                  gp_fmt_dur(d, rep->timing.total));
                gp_http_reply_done(&reps[i]);
        }
        preflight_headers_free(headers, r->n);
        return 0;
oom:
        preflight_headers_free(headers, r->n);
        return -ENOMEM;
}

/* ---- login -------------------------------------------------------------------------------- */

static void check_login_reply(session *s, const gp_http_reply *rep) {
        const gp_config *c = s->run->cfg;
        json_error_t jerr;
        json_t *root;
        const char *token;
        char d[32];

        s->res->login_timing = rep->timing;
        s->res->have_login_timing = true;
        s->res->phases[GP_PHASE_LOGIN] = rep->timing.total;
        if (rep->certs.earliest != 0 && s->run->result->login_cert.earliest == 0)
                s->run->result->login_cert = rep->certs;

        if (rep->error_code) {
                if (streq(rep->error_code, "too_large"))
                        gp_fail_session(s, "login", GP_CODE_LOGIN_TOKEN, "login reply too large: %s",
                                        strempty(rep->error));
                else if (streq(rep->error_code, "no_reply"))
                        gp_fail_session(s, "login", GP_CODE_LOGIN_STATUS, "no HTTP reply to the login request: %s",
                                        strempty(rep->error));
                else
                        gp_fail_session(s, "login", rep->error_code, "login %s: %s", c->login_url,
                                        strempty(rep->error));
                return;
        }
        if (rep->status != c->login_expect_status) {
                _cleanup_free_ char *body = gp_excerpt(s, rep->body, rep->len, 120);
                gp_fail_session(s, "login", GP_CODE_LOGIN_STATUS, "login answered HTTP %ld (expected %ld): %s",
                                rep->status, c->login_expect_status, strempty(body));
                return;
        }
        root = json_loadb(rep->body, rep->len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                _cleanup_free_ char *body = gp_excerpt(s, rep->body, rep->len, 60);
                gp_fail_session(s, "login", GP_CODE_LOGIN_TOKEN, "login reply is not JSON (Content-Type %s; %s): %s",
                                rep->content_type ? rep->content_type : "none", jerr.text, strempty(body));
                return;
        }
        token = gp_json_path_get(root, c->token_path) ? json_string_value(gp_json_path_get(root, c->token_path)) : NULL;
        if (isempty(token)) {
                gp_fail_session(s, "login", GP_CODE_LOGIN_TOKEN, "login reply has no non-empty string at %s",
                                c->token_path);
                json_decref(root);
                return;
        }
        s->token = strdup(token);
        if (!s->token) {
                json_decref(root);
                gp_fail_session(s, "login", GP_CODE_INTERNAL, "out of memory");
                return;
        }
        gp_strace(s, "login %s %s: HTTP %ld in %s, token received", c->login_method, c->login_url, rep->status,
                  gp_fmt_dur(d, rep->timing.total));
        if (gp_session_capture(s, root, c->login_captures, false, "the login reply", "login",
                               GP_CODE_LOGIN_TOKEN) < 0 ||
            gp_session_capture(s, root, c->login_secret_captures, true, "the login reply", "login",
                               GP_CODE_LOGIN_TOKEN) < 0)
                gp_fail_session(s, "login", GP_CODE_INTERNAL, "out of memory");
        json_decref(root);
}

/* One HTTP request for every session still running, concurrently: the login, or a [Step]. */
typedef struct http_round {
        const char *url;              /* a template when url_is_template */
        bool url_is_template;
        const char *method;
        char * const *headers;        /* templates */
        const char *body;             /* template, or NULL */
        /* Judges one session's reply; url is the expanded URL without its query. */
        void (*check)(session *s, const struct http_round *h, const char *url, const gp_http_reply *rep);
        const gp_step *step;          /* for check(), or NULL */
        bool want_certs;              /* the first request reports the endpoint's certificates */
        const char *name;
} http_round;

static int run_round(run *r, const http_round *h) {
        const gp_config *c = r->cfg;
        _cleanup_free_ gp_http_request *reqs = calloc(r->n, sizeof(*reqs));
        _cleanup_free_ gp_http_reply *reps = calloc(r->n, sizeof(*reps));
        _cleanup_free_ session **who = calloc(r->n, sizeof(*who));
        char ***headers = calloc(r->n, sizeof(*headers));
        char **bodies = calloc(r->n, sizeof(*bodies)), **urls = calloc(r->n, sizeof(*urls));
        gp_tls_opts tls = { c->ca_file, c->insecure, c->client_certificate, c->client_key };
        size_t n = 0;
        usec_t start;
        int k = 0;

        if (!reqs || !reps || !who || !headers || !bodies || !urls) {
                k = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < r->n; i++) {
                session *s = &r->sessions[i];

                if (s->res->verdict == GP_VERDICT_FAIL)
                        continue;
                k = h->url_is_template ? gp_expand(s, h->url, GP_TEMPLATE_URL, &urls[n])
                                       : (urls[n] = strdup(h->url)) ? 0 : -ENOMEM;
                if (k >= 0)
                        k = gp_expand_list(s, h->headers, &headers[n]);
                if (k >= 0)
                        k = gp_session_trace_headers(s, &headers[n]);
                if (k >= 0)
                        k = gp_expand(s, h->body,
                                      gp_template_is_json(h->body) ? GP_TEMPLATE_JSON : GP_TEMPLATE_PLAIN,
                                      &bodies[n]);
                if (k == -ENOMEM)
                        goto out;
                if (k < 0) {
                        k = 0;
                        continue;
                }
                reqs[n] = (gp_http_request) {
                        .url = urls[n], .method = h->method, .headers = headers[n], .body = bodies[n],
                        .max_reply = LOGIN_MAX_REPLY, .tls = &tls,
                        /* one login's certificates speak for the endpoint's */
                        .want_certs = h->want_certs && n == 0,
                };
                who[n++] = s;
        }
        start = now_usec(CLOCK_MONOTONIC);
        k = gp_http_perform(r->engine->http, reqs, reps, n, gp_fd_budget(), r->deadline);
        if (k >= 0)
                for (size_t i = 0; i < n; i++) {
                        /* the URL of a reason: without its query, which may carry a secret */
                        _cleanup_free_ char *bare = strndup(urls[i], strcspn(urls[i], "?"));

                        h->check(who[i], h, bare ? bare : "(out of memory)", &reps[i]);
                        /* after the check: the token it found is redacted too */
                        gp_tx_http(who[i], start, h->name, h->method, urls[i], &reps[i]);
                }
out:
        for (size_t i = 0; i < r->n; i++) {
                if (reps)
                        gp_http_reply_done(&reps[i]);
                if (headers)
                        strv_free_secret(headers[i]);  /* e.g. Authorization: Bearer <token> */
                if (bodies)
                        secret_free(bodies[i]);  /* the login body holds the password */
                if (urls)
                        secret_free(urls[i]);
        }
        free(headers);
        free(bodies);
        free(urls);
        return k;
}

static void check_login(session *s, const http_round *h, const char *url, const gp_http_reply *rep) {
        check_login_reply(s, rep);
}

int gp_step_login(run *r) {
        const gp_config *c = r->cfg;
        http_round h = {
                .url = c->login_url, .method = c->login_method, .headers = c->login_headers,
                .body = c->login_body, .check = check_login, .name = "login", .want_certs = true,
        };

        if (!c->login_url)
                return 0;  /* Token= instead of a login */
        return run_round(r, &h);
}

/* ---- [Step] sections ---------------------------------------------------------------------- */

static void check_step_reply(session *s, const gp_step *st, const char *name, const char *url,
                             const gp_http_reply *rep) {
        json_error_t jerr;
        json_t *root;
        char d[32], what[96];

        if (rep->error_code) {
                if (streq(rep->error_code, "too_large"))
                        gp_fail_session(s, "step", GP_CODE_STEP_REPLY, "%s: reply too large: %s", name,
                                        strempty(rep->error));
                else if (streq(rep->error_code, "no_reply"))
                        gp_fail_session(s, "step", GP_CODE_STEP_STATUS, "%s: no HTTP reply: %s", name,
                                        strempty(rep->error));
                else
                        gp_fail_session(s, "step", rep->error_code, "%s %s: %s", name, url, strempty(rep->error));
                return;
        }
        if (rep->status != st->expect_status) {
                _cleanup_free_ char *body = gp_excerpt(s, rep->body, rep->len, 120);
                gp_fail_session(s, "step", GP_CODE_STEP_STATUS, "%s %s %s answered HTTP %ld (expected %ld): %s",
                                name, st->method, url, rep->status, st->expect_status, strempty(body));
                return;
        }
        gp_strace(s, "%s %s %s: HTTP %ld in %s", name, st->method, url, rep->status,
                  gp_fmt_dur(d, rep->timing.total));
        if (!st->captures && !st->secret_captures)
                return;
        root = json_loadb(rep->body, rep->len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                _cleanup_free_ char *body = gp_excerpt(s, rep->body, rep->len, 60);
                gp_fail_session(s, "step", GP_CODE_STEP_REPLY, "%s reply is not JSON (Content-Type %s; %s): %s",
                                name, rep->content_type ? rep->content_type : "none", jerr.text, strempty(body));
                return;
        }
        snprintf(what, sizeof what, "the %s reply", name);
        if (gp_session_capture(s, root, st->captures, false, what, "step", GP_CODE_STEP_REPLY) < 0 ||
            gp_session_capture(s, root, st->secret_captures, true, what, "step", GP_CODE_STEP_REPLY) < 0)
                gp_fail_session(s, "step", GP_CODE_INTERNAL, "out of memory");
        json_decref(root);
}

static void check_step(session *s, const http_round *h, const char *url, const gp_http_reply *rep) {
        check_step_reply(s, h->step, h->name, url, rep);
}

int gp_step_http(run *r) {
        for (size_t i = 0; i < r->cfg->n_steps; i++) {
                const gp_step *st = &r->cfg->steps[i];
                char namebuf[32];
                http_round h = {
                        .url = st->url, .url_is_template = true, .method = st->method, .headers = st->headers,
                        .body = st->body, .check = check_step, .step = st, .name = gp_step_name(st, i, namebuf),
                };
                int k = run_round(r, &h);

                if (k < 0)
                        return k;
        }
        return 0;
}
