/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <sys/random.h>
#include <sys/resource.h>

#include "escape.h"
#include "golden-path-internal.h"
#include "jsonpath.h"
#include "trace-context.h"
#include "uuid.h"

void gp_trace(run *r, const char *fmt, ...) {
        _cleanup_free_ char *line = NULL;
        va_list ap;

        if (!r->trace)
                return;
        va_start(ap, fmt);
        line = strdup_vprintf(fmt, ap);
        va_end(ap);
        if (line)
                r->trace(r->trace_ud, now_usec(CLOCK_MONOTONIC) - r->start, line);
}

void gp_strace(const session *s, const char *fmt, ...) {
        _cleanup_free_ char *line = NULL;
        va_list ap;

        if (!s->run->trace)
                return;
        va_start(ap, fmt);
        line = strdup_vprintf(fmt, ap);
        va_end(ap);
        if (!line)
                return;
        if (s->run->n > 1)
                gp_trace(s->run, "[%u] %s", s->res->index, line);
        else
                gp_trace(s->run, "%s", line);
}

size_t gp_fd_budget(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
                return SIZE_MAX;
        return rl.rlim_cur > 64 ? (size_t) rl.rlim_cur - 64 : 1;
}

char *gp_fmt_dur(char buf[32], usec_t u) {
        return format_duration(buf, 32, u);
}

/* ---- secrets in what servers say ----------------------------------------------------------
 * A server may echo what it was sent: FastAPI's 422 quotes the login body, password included; an
 * agent error may quote the token. Reasons go to stderr, the journal, the status file and
 * alerts, so every reason (and every reply excerpt, before it is cut) loses the run's secrets:
 * as sent, as JSON or a URL would encode them, and a prefix of one cut off by "...". */

#define REDACTED GP_REDACTED

/* As a JSON body carries it: UTF-8 as is, or (ascii) \uXXXX as Python's json.dumps writes it. */
static void json_escape_to(gp_buf *b, const char *v, bool ascii) {
        (void) gp_buf_append_json_escaped(b, v, ascii ? GP_JSON_ESCAPE_ASCII : GP_JSON_ESCAPE_PLAIN);
}

static void url_escape_to(gp_buf *b, const char *v) {
        (void) gp_buf_append_url_encoded(b, v);
}

/* Replaces each occurrence of v in *text, then a tail of v's prefix (3 bytes or more) cut off
 * right before an ellipsis. With whole, only where it stands alone (no letter, digit or
 * non-ASCII byte next to it): a secret shorter than GP_SECRET_MIN (one the server gave; the
 * configuration refuses them) would otherwise cut into host names and words. */
static void redact_one(char **text, const char *v, bool whole) {
        static const char word[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
#define IS_WORD(c) ((unsigned char) (c) >= 0x80 || ((c) != '\0' && strchr(word, (c))))
        size_t n = strlen(v);
        gp_buf out = {0};
        const char *p, *hit, *from;

        if (n == 0 || !*text)
                return;
        p = from = *text;
        while ((hit = strstr(from, v))) {
                from = hit + 1;
                if (whole && ((hit > *text && IS_WORD(hit[-1])) || IS_WORD(hit[n])))
                        continue;
                gp_buf_append(&out, p, (size_t) (hit - p));
                gp_buf_append(&out, REDACTED, strlen(REDACTED));
                p = from = hit + n;
        }
        if (p == *text)
                gp_buf_free(&out);
        else {
                gp_buf_append(&out, p, strlen(p));
                if (!out.data)
                        return;  /* out of memory: the caller drops the text */
                free(*text);
                *text = out.data;
        }
        for (char *dots = strstr(*text, "..."); dots; dots = strstr(dots + 3, "..."))
                for (size_t k = MIN(n - 1, (size_t) (dots - *text)); k >= 3; k--)
                        if (memcmp(dots - k, v, k) == 0 &&
                            (!whole || dots - k == *text || !IS_WORD(dots[-(ptrdiff_t) k - 1]))) {
                                memcpy(dots - k, "...", 3);
                                memmove(dots - k + 3, dots + 3, strlen(dots + 3) + 1);
                                dots -= k;
                                break;
                        }
#undef IS_WORD
}

char *gp_redact_secrets(const session *s, const char *data, size_t len) {
        const gp_config *c = s->run->cfg;
        size_t n_extra = strv_length(s->secret_values);
        const char *fixed[] = { c->password, s->token, c->token };
        char *text = strndup(data, len);

        for (size_t i = 0; text && i < ELEMENTSOF(fixed) + n_extra; i++) {
                const char *secret = i < ELEMENTSOF(fixed) ? fixed[i] : s->secret_values[i - ELEMENTSOF(fixed)];
                const char *secrets[] = { secret };
                gp_buf forms[4] = {{0}};
                char *b64;
                bool whole;

                if (isempty(secrets[0]))
                        continue;
                whole = strlen(secrets[0]) < GP_SECRET_MIN;
                json_escape_to(&forms[0], secrets[0], false);
                json_escape_to(&forms[1], secrets[0], true);
                url_escape_to(&forms[2], secrets[0]);
                /* as a subprotocol carries it: jwt.<base64url> */
                b64 = base64url_encode(secrets[0]);
                if (b64) {
                        gp_buf_append(&forms[3], b64, strlen(b64));
                        secret_free(b64);
                }
                redact_one(&text, secrets[0], whole);
                for (size_t f = 0; f < ELEMENTSOF(forms); f++) {
                        if (text && forms[f].data && !streq(forms[f].data, secrets[0]))
                                redact_one(&text, forms[f].data, whole);
                        if (forms[f].data)
                                explicit_bzero(forms[f].data, forms[f].len);
                        gp_buf_free(&forms[f]);
                }
        }
        return text;
}

void gp_fail_session(session *s, const char *stage, const char *code, const char *fmt, ...) {
        _cleanup_free_ char *reason = NULL;
        va_list ap;

        if (s->res->verdict == GP_VERDICT_FAIL)
                return;
        va_start(ap, fmt);
        reason = strdup_vprintf(fmt, ap);
        va_end(ap);
        if (reason) {
                char *clean = gp_redact_secrets(s, reason, strlen(reason));

                free(reason);
                reason = clean;  /* NULL on ENOMEM: the reason is then the code alone */
        }
        gp_session_fail(s->res, stage, code, "%s", reason ? reason : code);
        s->fail_seq = ++s->run->fail_seq;
        gp_strace(s, "FAIL %s (%s): %s", code, stage, strempty(reason));
        gp_tx_fail(s, code, stage, reason);
}

static gp_template_vars session_vars(const session *s) {
        const gp_config *c = s->run->cfg;
        return (gp_template_vars) {
                .user = s->user,
                .password = c->password,
                .token = s->token ? s->token : c->token,
                .run_id = s->res->run_id,
                .thread_id = s->thread_id,
                .prompt = c->prompt,
                .name = c->name,
                .trace_id = s->run->result->trace_id,
                .traceparent = s->traceparent,
                .index = s->res->index,
                .captures = s->captures,
                .n_captures = s->n_captures,
        };
}

/* A captured value as text: a string as it is, a number or a boolean as JSON writes it. */
static char *capture_text(json_t *v) {
        if (json_is_string(v))
                return strdup(json_string_value(v));
        if (json_is_number(v) || json_is_boolean(v))
                return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        return NULL;
}

int gp_session_capture(session *s, json_t *root, char * const *captures, bool secret, const char *what,
                       const char *stage, const char *code) {
        STRV_FOREACH(cap, captures) {
                const char *path = strchr(*cap, '=') + 1;
                _cleanup_free_ char *name = strndup(*cap, (size_t) (path - 1 - *cap));
                json_t *v = gp_json_path_get(root, path);
                gp_template_capture *more;
                char *value;

                if (!name)
                        return -ENOMEM;
                value = v ? capture_text(v) : NULL;
                if (!value || isempty(value)) {
                        if (v && !value && (json_is_string(v) || json_is_number(v) || json_is_boolean(v)))
                                return -ENOMEM;
                        free(value);
                        gp_fail_session(s, stage, code, "%s has no %s at %s (Capture=%s)", what,
                                        !v ? "value" : "string or number", path, name);
                        return 0;
                }
                if (secret && strv_extend(&s->secret_values, value) < 0) {
                        secret_free(value);
                        return -ENOMEM;
                }
                more = realloc(s->captures, (s->n_captures + 1) * sizeof(*more));
                if (!more) {
                        secret_free(value);
                        return -ENOMEM;
                }
                s->captures = more;
                s->captures[s->n_captures++] = (gp_template_capture) { .name = TAKE_PTR(name), .value = value };
                gp_strace(s, "captured %s from %s%s", s->captures[s->n_captures - 1].name, what,
                          secret ? " (secret)" : "");
        }
        return 0;
}

void gp_session_captures_free(session *s) {
        for (size_t i = 0; i < s->n_captures; i++) {
                free((char *) s->captures[i].name);
                secret_free((char *) s->captures[i].value);
        }
        free(s->captures);
        s->captures = NULL;
        s->n_captures = 0;
        STRV_FOREACH(v, s->secret_values)
                explicit_bzero(*v, strlen(*v));
        strv_free(s->secret_values);
        s->secret_values = NULL;
}

int gp_expand(session *s, const char *tmpl, gp_template_flags flags, char **ret) {
        gp_template_vars v = session_vars(s);
        _cleanup_free_ char *err = NULL;
        int r;

        if (!tmpl) {
                *ret = NULL;
                return 0;
        }
        r = gp_template_expand(tmpl, &v, flags, ret, &err);
        if (r < 0 && r != -ENOMEM)
                gp_fail_session(s, gp_session_stage(s), "internal", "template: %s", strempty(err));
        return r;
}

int gp_expand_list(session *s, char * const *l, char ***ret) {
        _cleanup_strv_free_secret_ char **out = calloc(1, sizeof(char *));  /* may hold the token */
        int r;

        if (!out)
                return -ENOMEM;
        STRV_FOREACH(i, l) {
                char *x = NULL;
                r = gp_expand(s, *i, GP_TEMPLATE_PLAIN, &x);
                if (r < 0)
                        return r;
                r = strv_consume(&out, x);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        return 0;
}


char *gp_excerpt(const session *sess, const char *data, size_t len, size_t max) {
        _cleanup_free_ char *clean = gp_redact_secrets(sess, data, len);
        const char *s = clean;
        gp_buf b = {0};

        if (!clean)
                return NULL;
        len = strlen(clean);  /* a NUL in a reply ends the excerpt */

        for (size_t i = 0; i < len && i < max; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c >= 0x20 && c < 0x7f)
                        gp_buf_append(&b, &s[i], 1);
                else if (c == '\n' || c == '\r' || c == '\t')
                        gp_buf_append(&b, " ", 1);
                else
                        gp_buf_printf(&b, "\\x%02x", c);
        }
        if (len > max)
                gp_buf_append(&b, "...", 3);
        if (!b.data)
                return strdup("");
        return b.data;
}

/* ---- the run ------------------------------------------------------------------------------ */

/* A degraded or failed result always has its code: without one (ENOMEM) the run has no
 * verdict to record, and the caller reports -ENOMEM instead of a code-less failure. */
static int judge_slo(run *r) {
        const gp_config *c = r->cfg;
        gp_result *res = r->result;
        gp_stream_figures sf;

        if (gp_result_stream_figures(res, &sf) < 0)
                return -ENOMEM;
        struct {
                usec_t limit, value;
                const char *code, *stage, *what;
                unsigned session;  /* the slowest one, named when Users > 1 */
        } checks[] = {
                { c->slo_login, res->phases[GP_PHASE_LOGIN], GP_CODE_SLO_LOGIN, "login", "login",
                  res->slowest[GP_PHASE_LOGIN] },
                { c->slo_connect, res->phases[GP_PHASE_WS_CONNECT], GP_CODE_SLO_CONNECT, "ws_connect",
                  "WebSocket connect", res->slowest[GP_PHASE_WS_CONNECT] },
                { c->slo_first_event, res->phases[GP_PHASE_FIRST_EVENT], GP_CODE_SLO_FIRST_EVENT, "events",
                  "first event", res->slowest[GP_PHASE_FIRST_EVENT] },
                { c->slo_total, res->duration, GP_CODE_SLO_TOTAL, NULL, "run", 0 },
                /* issue 12: streaming quality */
                { c->slo_silence, sf.present ? sf.silence : USEC_INFINITY, GP_CODE_SLO_SILENCE, "events",
                  "longest silence", sf.silence_session },
                { c->slo_first_partial, sf.first_partial, GP_CODE_SLO_FIRST_PARTIAL, "events", "first partial",
                  sf.first_partial_session },
        };
        gp_buf reason = {0};

        for (size_t i = 0; i < ELEMENTSOF(checks); i++) {
                char v[32], l[32];

                if (checks[i].limit == 0 || checks[i].value == USEC_INFINITY || checks[i].value <= checks[i].limit)
                        continue;
                if (res->verdict != GP_VERDICT_DEGRADED) {
                        res->verdict = GP_VERDICT_DEGRADED;
                        res->code = strdup(checks[i].code);
                        res->stage = checks[i].stage;
                        if (!res->code) {
                                gp_buf_free(&reason);
                                return -ENOMEM;
                        }
                }
                gp_buf_printf(&reason, "%s%s took %s (SLO %s)", reason.len ? "; " : "", checks[i].what,
                              gp_fmt_dur(v, checks[i].value), gp_fmt_dur(l, checks[i].limit));
                if (r->n > 1 && checks[i].session > 0)
                        gp_buf_printf(&reason, " in session %u", checks[i].session);
        }
        if (reason.data)
                res->reason = reason.data;
        return 0;
}

static int fold(run *r) {
        gp_result *res = r->result;
        session *first = NULL;
        unsigned failed = 0;

        for (size_t i = 0; i < r->n; i++) {
                session *s = &r->sessions[i];

                if (gp_collect_events(s) < 0)
                        return -ENOMEM;

                if (s->res->verdict == GP_VERDICT_FAIL) {
                        failed++;
                        if (!first || s->fail_seq < first->fail_seq)
                                first = s;
                }
                for (size_t p = 0; p < _GP_PHASE_MAX; p++)
                        if (s->res->phases[p] != USEC_INFINITY &&
                            (res->phases[p] == USEC_INFINITY || s->res->phases[p] > res->phases[p])) {
                                res->phases[p] = s->res->phases[p];
                                res->slowest[p] = s->res->index;
                        }
        }
        if (first) {
                /* gp_session_fail() could not copy the session's code (ENOMEM). */
                if (!first->res->code)
                        return -ENOMEM;
                res->verdict = GP_VERDICT_FAIL;
                res->stage = first->res->stage;
                res->code = strdup(first->res->code);
                if (!res->code)
                        return -ENOMEM;
                if (r->n > 1)
                        res->reason = failed > 1
                                ? strdup_printf("session %u: %s (and %u more of %zu sessions failed)", first->res->index,
                                                strempty(first->res->reason), failed - 1, r->n)
                                : strdup_printf("session %u: %s", first->res->index, strempty(first->res->reason));
                else
                        res->reason = strdup(strempty(first->res->reason));
        } else
                res->verdict = GP_VERDICT_PASS;
        return 0;
}

static void run_free(run *r) {
        if (!r->tx_settled && r->result)
                gp_tx_settle(r);  /* ENOMEM on the way: nothing is kept */
        for (size_t i = 0; i < r->n; i++) {
                session *s = &r->sessions[i];

                gp_ws_conn_free(s->conn);
                gp_matcher_free(s->matcher);
                free(s->user);
                secret_free(s->token);
                free(s->own_id);
                free(s->identity);
                free(s->identity_ours);
                gp_session_captures_free(s);
        }
        free(r->sessions);
        for (size_t i = 0; i < r->n_auth_fail; i++)
                gp_event_cond_done(&r->auth_fail[i]);
        free(r->auth_fail);
}

int gp_engine_run(gp_engine *e, gp_config *cfg, gp_trace_fn trace_fn, void *ud, gp_result **ret) {
        run r = {
                .engine = e, .cfg = cfg, .trace = trace_fn, .trace_ud = ud, .n = cfg->users,
                .rules = {
                        .type_path = cfg->type_path,
                        .expect = cfg->expect,
                        .repeatable = cfg->repeatable,
                        .fail = cfg->fail,
                        .error_paths = cfg->error_paths,
                        .correlate_paths = cfg->correlate_paths,
                        .correlate_learned = cfg->correlate_learned,
                        .end = cfg->end,
                        .response_paths = cfg->response_paths,
                        .response_error_paths = cfg->response_error_paths,
                        .strict = cfg->strict,
                        .response_regex = cfg->response_match ? &cfg->response_regex : NULL,
                        .response_match = cfg->response_match,
                        .response_reject = cfg->response_reject ? &cfg->response_reject_regex : NULL,
                        .response_reject_src = cfg->response_reject,
                },
        };
        static const struct {
                const char *stage;
                int (*fn)(run *r);
        } steps[] = {
                { "preflight", gp_step_preflight },
                { "login", gp_step_login },
                { "step", gp_step_http },
                { "ws_connect", gp_step_websocket },  /* and request, events: see gp_expand() */
        };
        gp_result *res;
        int k = 0;

        res = gp_result_new(cfg->users);
        r.sessions = calloc(cfg->users, sizeof(session));
        if (!res || !r.sessions) {
                gp_result_free(res);
                free(r.sessions);
                return -ENOMEM;
        }
        r.result = res;
        r.auth_fail = calloc(strv_length(cfg->auth_fail) + 1, sizeof(gp_event_cond));
        if (!r.auth_fail) {
                run_free(&r);
                gp_result_free(res);
                return -ENOMEM;
        }
        STRV_FOREACH(a, cfg->auth_fail)
                if (gp_event_cond_parse(*a, &r.auth_fail[r.n_auth_fail], NULL) == 0)
                        r.n_auth_fail++;
        res->mono_times = !isempty(getenv("GPPROBE_MONO_TIMES"));
        res->started_at = now_usec(CLOCK_REALTIME);
        r.start = res->started_mono = now_usec(CLOCK_MONOTONIC);
        r.deadline = r.start + cfg->timeout;
        res->transcript = gp_tx_new(e, cfg, r.start);
        if (cfg->insecure)
                strv_extend(&res->warnings, "TLS certificate verification is off (Insecure=yes)");
        if (gp_trace_id_new(res->trace_id) < 0)
                res->trace_id[0] = '\0';  /* no trace context this run rather than a guessable one */

        for (size_t i = 0; i < r.n; i++) {
                session *s = &r.sessions[i];
                gp_template_vars v = { .index = (unsigned) i + 1, .name = cfg->name };
                _cleanup_free_ char *err = NULL;

                s->run = &r;
                s->res = &res->sessions[i];
                gp_uuid4(s->res->run_id);
                gp_uuid4(s->thread_id);
                gp_session_trace_init(s);
                if (cfg->user && gp_template_expand(cfg->user, &v, GP_TEMPLATE_PLAIN, &s->user, &err) < 0)
                        gp_fail_session(s, "login", GP_CODE_INTERNAL, "expanding User= failed: %s", strempty(err));
        }
        if (r.n == 1)
                memcpy(res->run_id, res->sessions[0].run_id, sizeof(res->run_id));
        else
                gp_uuid4(res->run_id);
        if (e->next_run_id[0]) {
                /* The daemon chose it (POST /run answers with it): the run and, alone, its session. */
                memcpy(res->run_id, e->next_run_id, sizeof(res->run_id));
                if (r.n == 1)
                        memcpy(res->sessions[0].run_id, e->next_run_id, sizeof(res->run_id));
                e->next_run_id[0] = '\0';
        }
        gp_trace(&r, "run %s: %u user%s, timeout %s, trace %s", res->run_id, cfg->users, cfg->users == 1 ? "" : "s",
                 gp_fmt_dur((char[32]) {0}, cfg->timeout), res->trace_id[0] ? res->trace_id : "none");
        if (cfg->insecure)
                gp_trace(&r, "warning: TLS certificate verification is off (Insecure=yes)");

        for (size_t i = 0; k >= 0 && i < ELEMENTSOF(steps); i++) {
                r.stage = steps[i].stage;
                k = steps[i].fn(&r);
        }

        res->duration = now_usec(CLOCK_MONOTONIC) - r.start;
        res->finished_at = now_usec(CLOCK_REALTIME);
        if (atomic_load(&e->cancelled) || k == -ECANCELED) {
                res->verdict = GP_VERDICT_CANCELLED;
                res->code = NULL;
                k = 0;
        } else if (k == -ENOMEM) {
                run_free(&r);
                gp_result_free(res);
                return k;
        } else {
                if (fold(&r) < 0) {
                        run_free(&r);
                        gp_result_free(res);
                        return -ENOMEM;
                }
                if (k < 0 && res->verdict != GP_VERDICT_FAIL) {
                        res->verdict = GP_VERDICT_FAIL;
                        res->code = strdup(GP_CODE_INTERNAL);
                        res->reason = strdup_printf("the probe failed: %s", strerror(-k));
                }
                if ((res->verdict == GP_VERDICT_FAIL && !res->code) ||
                    (res->verdict == GP_VERDICT_PASS && judge_slo(&r) < 0)) {
                        run_free(&r);
                        gp_result_free(res);
                        return -ENOMEM;
                }
        }
        {
                gp_stream_figures sf;
                char d[32], fp[32];

                if (gp_result_stream_figures(res, &sf) == 0 && sf.present)
                        gp_trace(&r, "stream: %" PRIu64 " frames, %" PRIu64 " bytes, %u partials (first at +%s); "
                                 "longest silence %s after %s", sf.frames, sf.bytes, sf.partials,
                                 sf.first_partial == USEC_INFINITY ? "-" : gp_fmt_dur(fp, sf.first_partial),
                                 gp_fmt_dur(d, sf.silence), isempty(sf.silence_after) ? "the request" : sf.silence_after);
                gp_trace(&r, "result: %s%s%s in %s", gp_verdict_to_string(res->verdict),
                         res->code ? " " : "", strempty(res->code), gp_fmt_dur(d, res->duration));
        }
        gp_tx_settle(&r);
        run_free(&r);
        /* A run of many sessions leaves a heap of freed TLS state behind: give it back rather
         * than keep the peak until the next run. Not worth the page faults for a few. */
        if (cfg->users > 16)
                malloc_trim(0);
        *ret = res;
        return 0;
}

int gp_engine_new(gp_engine **ret, char **ret_error) {
        gp_engine *e = calloc(1, sizeof(*e));
        int k;

        if (!e)
                return -ENOMEM;
        e->http = gp_http_new();
        if (!e->http) {
                free(e);
                *ret_error = strdup("initializing libcurl failed");
                return -EIO;
        }
        k = gp_ws_new(&e->ws, ret_error);
        if (k < 0) {
                gp_http_free(e->http);
                free(e);
                return k;
        }
        *ret = e;
        return 0;
}

void gp_engine_setup_process(void) {
        gp_ws_log_setup();
}

gp_engine *gp_engine_free(gp_engine *e) {
        if (!e)
                return NULL;
        gp_ws_free(e->ws);
        gp_http_free(e->http);
        free(e);
        return NULL;
}

void gp_engine_reset_cancel(gp_engine *e) {
        atomic_store(&e->cancelled, false);
        gp_http_reset_cancel(e->http);
}

void gp_engine_set_run_id(gp_engine *e, const char *run_id) {
        snprintf(e->next_run_id, sizeof(e->next_run_id), "%s", strempty(run_id));
}

void gp_engine_cancel(gp_engine *e) {
        atomic_store(&e->cancelled, true);
        gp_http_cancel(e->http);
        gp_ws_wake(e->ws);
}
