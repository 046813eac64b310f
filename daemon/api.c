/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sys/eventfd.h>

#include "api.h"
#include "config.h"
#include "ctl-internal.h"
#include "gate.h"
#include "statusfile-read.h"
#include "util.h"

#define AUTH_QUEUE 32
#define DIGEST 32

typedef struct kept_run {
        char id[GP_UUID_STRING_MAX];
        char *result;                  /* JSON object text */
} kept_run;

struct gp_api {
        int efd;
        pthread_mutex_t lock;          /* guards everything below */
        pthread_cond_t answered_cond;

        unsigned char (*digests)[DIGEST];
        size_t n_digests;

        char running[GP_UUID_STRING_MAX];  /* empty: no run in progress */
        kept_run runs[GP_API_RUNS_KEPT];   /* a ring; next is the oldest */
        size_t next_run;
        size_t kept_bytes;             /* of the results in runs[], at most GP_API_RUNS_KEPT_BYTES */

        char request[GP_UUID_STRING_MAX];  /* POST /run's, waiting for the loop; empty: none */
        bool request_taken;
        bool answered;
        int answer;
        unsigned request_gen;

        char *auth_queue[AUTH_QUEUE];
        size_t n_auth;
        unsigned suppressed;           /* dropped since the last one queued */
        usec_t period_start;
        unsigned in_period;
};

void gp_api_response_done(gp_api_response *r) {
        free(r->body);
        r->body = NULL;
}

static void wake(gp_api *a) {
        uint64_t one = 1;

        if (write(a->efd, &one, sizeof(one)) < 0) {
                /* only fails on counter overflow */
        }
}

int gp_api_new(gp_api **ret) {
        gp_api *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (a->efd < 0) {
                int r = -errno;
                free(a);
                return r;
        }
        pthread_mutex_init(&a->lock, NULL);
        pthread_cond_init(&a->answered_cond, NULL);
        *ret = a;
        return 0;
}

gp_api *gp_api_free(gp_api *a) {
        if (!a)
                return NULL;
        close(a->efd);
        free(a->digests);
        for (size_t i = 0; i < GP_API_RUNS_KEPT; i++)
                free(a->runs[i].result);
        for (size_t i = 0; i < a->n_auth; i++)
                free(a->auth_queue[i]);
        pthread_cond_destroy(&a->answered_cond);
        pthread_mutex_destroy(&a->lock);
        free(a);
        return NULL;
}

int gp_api_fd(const gp_api *a) {
        return a->efd;
}

static void digest(const char *data, size_t len, unsigned char out[DIGEST]) {
        unsigned int n = DIGEST;

        if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL))
                memset(out, 0, DIGEST);  /* matches no token: an all-zero digest is never stored */
}

int gp_api_set_tokens(gp_api *a, char * const *tokens) {
        unsigned char (*d)[DIGEST] = NULL, (*old)[DIGEST];
        size_t n = 0;

        for (char * const *t = tokens; t && *t; t++)
                n++;
        if (n > 0) {
                d = calloc(n, DIGEST);
                if (!d)
                        return -ENOMEM;
                for (size_t i = 0; i < n; i++)
                        digest(tokens[i], strlen(tokens[i]), d[i]);
        }
        pthread_mutex_lock(&a->lock);
        old = a->digests;
        a->digests = d;
        a->n_digests = n;
        pthread_mutex_unlock(&a->lock);
        free(old);
        return 0;
}

bool gp_api_have_tokens(gp_api *a) {
        bool have;

        pthread_mutex_lock(&a->lock);
        have = a->n_digests > 0;
        pthread_mutex_unlock(&a->lock);
        return have;
}

bool gp_api_token_valid(gp_api *a, const char *token, size_t len) {
        static const unsigned char zero[DIGEST];
        unsigned char d[DIGEST];
        unsigned match = 0;

        digest(token, len, d);
        pthread_mutex_lock(&a->lock);
        /* Every digest is compared: the time says neither which token matched nor whether one did. */
        for (size_t i = 0; i < a->n_digests; i++)
                match |= CRYPTO_memcmp(d, a->digests[i], DIGEST) == 0;
        pthread_mutex_unlock(&a->lock);
        return match && CRYPTO_memcmp(d, zero, DIGEST) != 0;
}

void gp_api_auth_failed(gp_api *a, const char *peer, const char *reason) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        char *line = NULL;

        pthread_mutex_lock(&a->lock);
        if (now - a->period_start >= GP_API_AUTH_LOG_PERIOD || a->period_start == 0) {
                a->period_start = now;
                a->in_period = 0;
        }
        if (a->in_period < GP_API_AUTH_LOG_BURST && a->n_auth < AUTH_QUEUE)
                line = strdup_printf("%s: %s", peer, reason);
        if (line) {
                a->auth_queue[a->n_auth++] = line;
                a->in_period++;
        } else
                a->suppressed++;
        pthread_mutex_unlock(&a->lock);
        if (line)
                wake(a);
}

int gp_api_take_auth_failure(gp_api *a, char **ret_line, unsigned *ret_suppressed) {
        int r = -EAGAIN;

        pthread_mutex_lock(&a->lock);
        if (a->n_auth > 0) {
                *ret_line = a->auth_queue[0];
                *ret_suppressed = a->suppressed;
                a->suppressed = 0;
                memmove(a->auth_queue, a->auth_queue + 1, --a->n_auth * sizeof(char *));
                r = 0;
        }
        pthread_mutex_unlock(&a->lock);
        return r;
}

void gp_api_settings_done(gp_api_settings *s) {
        free(s->tls_certificate);
        free(s->tls_key);
        free(s->client_ca);
        free(s->client_crl);
        *s = (gp_api_settings) {0};
}

static int dup_opt(char **dst, const char *src) {
        *dst = src ? strdup(src) : NULL;
        return !src || *dst ? 0 : -ENOMEM;
}

int gp_api_settings_copy(gp_api_settings *dst, const gp_api_settings *src) {
        *dst = *src;
        dst->tls_certificate = dst->tls_key = dst->client_ca = dst->client_crl = NULL;
        if (dup_opt(&dst->tls_certificate, src->tls_certificate) < 0 || dup_opt(&dst->tls_key, src->tls_key) < 0 ||
            dup_opt(&dst->client_ca, src->client_ca) < 0 || dup_opt(&dst->client_crl, src->client_crl) < 0) {
                gp_api_settings_done(dst);
                return -ENOMEM;
        }
        return 0;
}

/* ---- runs */

void gp_api_run_started(gp_api *a, const char *run_id) {
        pthread_mutex_lock(&a->lock);
        snprintf(a->running, sizeof(a->running), "%s", run_id);
        pthread_mutex_unlock(&a->lock);
}

void gp_api_run_finished(gp_api *a, const char *run_id, const char *result_json) {
        size_t len = result_json ? strlen(result_json) : 0;
        char *copy = result_json && len <= GP_API_RUNS_KEPT_BYTES ? strdup(result_json) : NULL;
        char *old[GP_API_RUNS_KEPT];
        size_t n_old = 0;

        pthread_mutex_lock(&a->lock);
        if (streq(a->running, run_id))
                a->running[0] = '\0';
        if (copy) {
                kept_run *k = &a->runs[a->next_run];

                /* The oldest go first, so that the results kept stay within the bound (a run of
                 * 1000 sessions is a megabyte): fewer than GP_API_RUNS_KEPT runs then answer. */
                for (size_t i = 0; i < GP_API_RUNS_KEPT && a->kept_bytes + len > GP_API_RUNS_KEPT_BYTES; i++) {
                        kept_run *o = &a->runs[(a->next_run + i) % GP_API_RUNS_KEPT];

                        if (o->result) {
                                a->kept_bytes -= strlen(o->result);
                                old[n_old++] = TAKE_PTR(o->result);
                        }
                }
                if (k->result) {
                        a->kept_bytes -= strlen(k->result);
                        old[n_old++] = TAKE_PTR(k->result);
                }
                snprintf(k->id, sizeof(k->id), "%s", run_id);
                k->result = copy;
                a->kept_bytes += len;
                a->next_run = (a->next_run + 1) % GP_API_RUNS_KEPT;
        }
        pthread_mutex_unlock(&a->lock);
        for (size_t i = 0; i < n_old; i++)
                free(old[i]);
}

int gp_api_take_run_request(gp_api *a, char ret_run_id[GP_UUID_STRING_MAX]) {
        uint64_t v;
        int r = -EAGAIN;

        if (read(a->efd, &v, sizeof(v)) < 0) {
                /* EAGAIN: nothing written since the last read */
        }
        pthread_mutex_lock(&a->lock);
        if (a->request[0] && !a->request_taken) {
                memcpy(ret_run_id, a->request, GP_UUID_STRING_MAX);
                a->request_taken = true;
                r = 0;
        }
        pthread_mutex_unlock(&a->lock);
        return r;
}

void gp_api_answer_run(gp_api *a, int r) {
        pthread_mutex_lock(&a->lock);
        if (a->request_taken && !a->answered) {
                a->answered = true;
                a->answer = r;
                pthread_cond_broadcast(&a->answered_cond);
        }
        pthread_mutex_unlock(&a->lock);
}

static int respond_json(unsigned status, json_t *j, gp_api_response *ret) {
        char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;

        json_decref(j);
        if (!body)
                return -ENOMEM;
        *ret = (gp_api_response) { .status = status, .body = body };
        return 0;
}

int gp_api_error(unsigned status, const char *message, gp_api_response *ret) {
        return respond_json(status, json_pack("{s:s}", "error", message), ret);
}

static int conflict(const char *running, gp_api_response *ret) {
        return respond_json(409, json_pack("{s:s,s:s}", "error", "run in progress", "run_id", running), ret);
}

int gp_api_run(gp_api *a, gp_api_response *ret) {
        char id[GP_UUID_STRING_MAX], running[GP_UUID_STRING_MAX];
        struct timespec until;
        bool answered;
        int answer;

        gp_uuid4(id);
        pthread_mutex_lock(&a->lock);
        if (a->running[0]) {
                memcpy(running, a->running, sizeof(running));
                pthread_mutex_unlock(&a->lock);
                return conflict(running, ret);
        }
        memcpy(a->request, id, sizeof(id));
        a->request_taken = a->answered = false;
        pthread_mutex_unlock(&a->lock);
        wake(a);

        /* The loop answers within a turn: it never blocks. Once it took the request, the answer
         * comes; until then, GP_API_RUN_WAIT_MSEC at most. */
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += GP_API_RUN_WAIT_MSEC / 1000;
        pthread_mutex_lock(&a->lock);
        while (!a->answered)
                if (pthread_cond_timedwait(&a->answered_cond, &a->lock, &until) == ETIMEDOUT) {
                        if (!a->request_taken)
                                break;
                        until.tv_sec += 1;  /* taken: the answer is on its way */
                }
        answered = a->answered;
        answer = a->answer;
        a->request[0] = '\0';
        a->request_taken = a->answered = false;
        memcpy(running, a->running, sizeof(running));
        pthread_mutex_unlock(&a->lock);

        if (!answered)
                return gp_api_error(503, "the daemon did not take the request in time", ret);
        if (answer == -EBUSY && running[0])
                return conflict(running, ret);
        if (answer < 0)
                return gp_api_error(503, answer == -ESHUTDOWN ? "the daemon is stopping" : "cannot start a run",
                                    ret);
        return respond_json(202, json_pack("{s:s,s:s}", "run_id", id, "state", "running"), ret);
}

static bool run_id_is_valid(const char *id) {
        size_t n = strlen(id);

        return n > 0 && n < GP_UUID_STRING_MAX && strspn(id, "0123456789abcdef-") == n;
}

int gp_api_run_get(gp_api *a, const char *run_id, gp_api_response *ret) {
        _cleanup_free_ char *result = NULL;
        bool running = false;

        if (run_id_is_valid(run_id)) {
                pthread_mutex_lock(&a->lock);
                running = streq(a->running, run_id);
                for (size_t i = 0; !running && !result && i < GP_API_RUNS_KEPT; i++)
                        if (a->runs[i].result && streq(a->runs[i].id, run_id))
                                result = strdup(a->runs[i].result);
                pthread_mutex_unlock(&a->lock);
        }
        if (running)
                return respond_json(202, json_pack("{s:s,s:s}", "run_id", run_id, "state", "running"), ret);
        if (!result)
                return gp_api_error(404, "unknown run", ret);
        /* The result is the loop's own serialisation of "last": spliced in as it is. */
        ret->body = strdup_printf("{\"run_id\":\"%s\",\"state\":\"done\",\"result\":%s}", run_id, result);
        ret->status = 200;
        ret->authenticate = false;
        return ret->body ? 0 : -ENOMEM;
}

/* ---- the gate */

static int parse_bool01(const char *v, bool *ret) {
        if (streq(v, "1") || streq(v, "true") || streq(v, "yes"))
                *ret = true;
        else if (streq(v, "0") || streq(v, "false") || streq(v, "no"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

/* At most 60 bytes of what the client sent, in printable ASCII (the rest '?'): safe to echo in JSON. */
static char *echo(const char *s, size_t n) {
        char *c = strndup(s, MIN(n, (size_t) 60));

        for (char *p = c; p && *p; p++)
                if (*p < 0x20 || *p > 0x7e)
                        *p = '?';
        return c;
}

/* The query into options; a message for a 400 otherwise. */
static int parse_gate_args(char * const *args, gp_gate_options *o, char **ret_error) {
        unsigned seen = 0;

        for (char * const *p = args; p && *p; p++) {
                static const char * const names[] = { "max_age", "window", "min_success_ratio",
                                                       "require_last_pass", "allow_degraded" };
                const char *eq = strchr(*p, '='), *v = eq ? eq + 1 : "";
                size_t n = eq ? (size_t) (eq - *p) : strlen(*p), i;
                int r = -EINVAL;

                for (i = 0; i < ELEMENTSOF(names); i++)
                        if (strlen(names[i]) == n && strncmp(*p, names[i], n) == 0)
                                break;
                if (i == ELEMENTSOF(names)) {
                        _cleanup_free_ char *e = echo(*p, n);
                        *ret_error = strdup_printf("unknown parameter '%s'", strempty(e));
                        return -EINVAL;
                }
                if (seen & (1u << i)) {
                        *ret_error = strdup_printf("parameter %s given twice", names[i]);
                        return -EINVAL;
                }
                seen |= 1u << i;
                switch (i) {
                case 0:
                        r = gp_parse_duration(v, &o->max_age) < 0 || o->max_age == 0 ? -EINVAL : 0;
                        break;
                case 1:
                        r = gp_parse_unsigned(v, 1, 1000000, &o->window);
                        break;
                case 2:
                        r = gp_gate_parse_ratio(v, &o->min_ratio);
                        break;
                case 3:
                        r = parse_bool01(v, &o->require_last_pass);
                        break;
                case 4:
                        r = parse_bool01(v, &o->allow_degraded);
                        break;
                }
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        _cleanup_free_ char *e = echo(v, strlen(v));
                        *ret_error = strdup_printf("invalid %s '%s'", names[i], strempty(e));
                        return -EINVAL;
                }
        }
        return 0;
}

int gp_api_gate(gp_api *a, char * const *args, const gp_blob *status, usec_t now, gp_api_response *ret) {
        static const unsigned codes[] = { [GP_GATE_OPEN] = 200, [GP_GATE_CLOSED] = 412, [GP_GATE_UNKNOWN] = 503 };
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *err = NULL, *reason = NULL;
        gp_gate_options o = { .min_ratio = -1 };
        gp_gate_verdict v = GP_GATE_UNKNOWN;
        char at[64];
        int r;

        r = parse_gate_args(args, &o, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return gp_api_error(400, err ? err : "invalid parameter", ret);
        if (!status)
                reason = strdup("no status yet");
        else if (gp_status_file_parse(gp_blob_data(status), gp_blob_size(status), &sf, &err) < 0)
                reason = strdup_printf("the status document is unreadable: %s", err ? err : "out of memory");
        else if (gp_gate_decide(sf, &o, now, &v, &reason) < 0)
                return -ENOMEM;
        if (!reason)
                return -ENOMEM;
        if (sf) {
                /* A silence changes no answer (issue 13), as with gpprobectl gate: it is only named. */
                _cleanup_free_ char *note = gp_ctl_silence_note(sf, now), *named = NULL;

                if (note) {
                        named = strdup_printf("%s (%s)", reason, note);
                        if (!named)
                                return -ENOMEM;
                        free(reason);
                        reason = TAKE_PTR(named);
                }
        }
        return respond_json(codes[v], json_pack("{s:s,s:s,s:s?,s:s}", "verdict", gp_gate_verdict_to_string(v),
                                                "reason", reason, "name", sf ? sf->name : NULL,
                                                "checked_at", format_rfc3339(at, sizeof(at), now)),
                            ret);
}
