/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>

#include "config-internal.h"
#include "event-cond.h"
#include "ini.h"
#include "template.h"
#include "util.h"

typedef struct parse_ctx {
        gp_config *cfg;
        gp_diags *diags;
        const char *main_file;
        size_t source;
        unsigned long seq;
        gp_key_where where[_K_MAX];
        gp_secret_line *secret_lines;
} parse_ctx;

void gp_diags_add(gp_diags *d, const char *file, unsigned line, bool warning, const char *fmt, ...) {
        _cleanup_free_ char *message = NULL, *f = NULL;
        gp_diag *items;
        va_list ap;

        if (!d)
                return;
        /* Counted even when it cannot be stored, so that a failure is never lost. */
        if (!warning)
                d->n_errors++;

        va_start(ap, fmt);
        if (vasprintf(&message, fmt, ap) < 0)
                message = NULL;
        va_end(ap);
        f = strdup(strempty(file));
        items = message && f ? realloc(d->items, (d->n + 1) * sizeof(gp_diag)) : NULL;
        if (!items) {
                d->oom = true;
                return;
        }
        d->items = items;
        d->items[d->n++] = (gp_diag) {
                .file = TAKE_PTR(f),
                .line = line,
                .warning = warning,
                .message = TAKE_PTR(message),
        };
}

void gp_diags_clear(gp_diags *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++) {
                free(d->items[i].file);
                free(d->items[i].message);
        }
        free(d->items);
        *d = (gp_diags) { 0 };
}

void gp_diags_print(const gp_diags *d, FILE *f) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++) {
                const gp_diag *g = &d->items[i];

                fputs(g->file, f);
                if (g->line > 0)
                        fprintf(f, ":%u", g->line);
                fprintf(f, ": %s%s\n", g->warning ? "warning: " : "", g->message);
        }
        if (d->oom)
                fputs("(some diagnostics were lost: out of memory)\n", f);
}

gp_config *gp_config_ref(gp_config *c) {
        if (c)
                __atomic_add_fetch(&c->refcount, 1, __ATOMIC_RELAXED);
        return c;
}

gp_config *gp_config_unref(gp_config *c) {
        if (!c || __atomic_sub_fetch(&c->refcount, 1, __ATOMIC_ACQ_REL) > 0)
                return NULL;
        if (c->response_match)
                regfree(&c->response_regex);
        if (c->response_reject)
                regfree(&c->response_reject_regex);
        gp_config_steps_free(c);
        free(c->api_tls_certificate_path);
        free(c->api_tls_key_path);
        free(c->api_client_ca_path);
        free(c->api_client_crl_path);
        strv_free_secret(c->api_token_list);
        for (size_t k = 0; k < _K_MAX; k++)
                gp_config_key_free(c, (key_id) k);
        free(c->path);
        free(c);
        return NULL;
}

bool gp_config_equal(const gp_config *a, const gp_config *b) {
        if (a == b)
                return true;
        if (!a || !b)
                return false;
        for (size_t k = 0; k < _K_MAX; k++)
                if (!gp_config_key_equal(a, b, (key_id) k))
                        return false;
        return gp_config_steps_equal(a, b) && a->status_file_explicit == b->status_file_explicit &&
               a->state_file_explicit == b->state_file_explicit && a->password_inline == b->password_inline;
}

usec_t gp_config_jitter_max(const gp_config *c) {
        if (!c->jitter_is_percent)
                return c->jitter;
        return c->interval / 100 * c->jitter_percent + c->interval % 100 * c->jitter_percent / 100;
}

usec_t gp_config_run_delay(const gp_config *c, uint64_t random) {
        usec_t max = gp_config_jitter_max(c);

        if (max == 0)
                return c->interval;
        /* max <= Interval=, a parsed duration far below UINT64_MAX: max + 1 cannot overflow,
         * and the modulo's bias (about max / 2^64) is negligible. */
        return c->interval + random % (max + 1);
}

/* A diagnostic at the line where key k was last set, or at the main file when it was not. */
static void diag_key(parse_ctx *ctx, key_id k, bool warning, const char *fmt, ...) _printf_(4, 5);
static void diag_key(parse_ctx *ctx, key_id k, bool warning, const char *fmt, ...) {
        _cleanup_free_ char *m = NULL;
        const gp_key_where *w = &ctx->where[k];
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        if (!m) {
                gp_diags_add(ctx->diags, ctx->main_file, 0, warning, "out of memory");
                return;
        }
        if (w->line > 0)
                gp_diags_add(ctx->diags, w->file, w->line, warning, "%s", m);
        else
                gp_diags_add(ctx->diags, ctx->main_file, 0, warning, "%s", m);
}

/* Of two keys, the one assigned last (a key left at its default has seq 0). */
static key_id later(parse_ctx *ctx, key_id a, key_id b) {
        return ctx->where[b].seq > ctx->where[a].seq ? b : a;
}

#define STEP_SECTION "Step"

static bool on_section_known(const char *section, void *userdata) {
        return streq(section, STEP_SECTION) || gp_config_section_known(section);
}

static int on_section_start(const char *file, unsigned line, const char *section, void *userdata) {
        parse_ctx *ctx = userdata;

        if (!streq(section, STEP_SECTION))
                return 0;
        return gp_config_step_start(ctx->cfg, file, line);
}

static const char *on_section_hint(const char *section, void *userdata) {
        return strcaseeq(section, STEP_SECTION) ? STEP_SECTION : gp_config_section_hint(section);
}

static int on_assign(const char *file, unsigned line, const char *section, const char *key,
                     const char *value, void *userdata) {
        parse_ctx *ctx = userdata;
        _cleanup_free_ char *m = NULL;
        const char *hint;
        int k, r;

        if (streq(section, STEP_SECTION)) {
                r = gp_config_step_assign(ctx->cfg, key, value, &m);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        gp_diags_add(ctx->diags, file, line, false, "%s", strempty(m));
                return 0;
        }
        k = gp_config_key_lookup(section, key, &hint);
        if (k < 0) {
                gp_diags_add(ctx->diags, file, line, false, "unknown key '%.60s%s' in section [%s]%s%s%s",
                             key, strlen(key) > 60 ? "..." : "", section, hint ? " (did you mean '" : "",
                             strempty(hint), hint ? "'?)" : "");
                return 0;
        }
        r = gp_config_key_assign(ctx->cfg, (key_id) k, value, &m);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                gp_diags_add(ctx->diags, file, line, false, "%s: %s", key, m);
                return 0;
        }
        ctx->where[k] = (gp_key_where) { .file = file, .line = line, .seq = ++ctx->seq };
        if ((k == K_LOGIN_PASSWORD || k == K_LOGIN_TOKEN) && !isempty(value) && ctx->secret_lines &&
            ctx->secret_lines[ctx->source].line == 0)
                ctx->secret_lines[ctx->source] = (gp_secret_line) { .line = line, .key = (key_id) k };
        return 0;
}

static void check_events(parse_ctx *ctx) {
        gp_config *c = ctx->cfg;

        if (strv_length(c->expect) == 0)
                diag_key(ctx, K_EVENTS_EXPECT, false, "Expect= must list at least one event type");
        for (size_t i = 0; c->expect && c->expect[i]; i++)
                for (size_t j = 0; j < i; j++)
                        if (streq(c->expect[i], c->expect[j]))
                                diag_key(ctx, K_EVENTS_EXPECT, false,
                                         "event type '%s' is listed twice in Expect= (use Repeatable=)",
                                         c->expect[i]);
        STRV_FOREACH(t, c->fail)
                if (strv_contains(c->expect, *t))
                        diag_key(ctx, later(ctx, K_EVENTS_EXPECT, K_EVENTS_FAIL), false,
                                 "event type '%s' is in both Expect= and Fail=", *t);
        STRV_FOREACH(t, c->repeatable)
                if (c->expect && c->expect[0] && !strv_contains(c->expect, *t))
                        diag_key(ctx, later(ctx, K_EVENTS_EXPECT, K_EVENTS_REPEATABLE), false,
                                 "event type '%s' is in Repeatable= but not in Expect=", *t);
        if (strv_length(c->response_paths) == 0)
                diag_key(ctx, K_EVENTS_RESPONSE_PATH, false,
                         "ResponsePath= must list at least one JSON path");
        if (c->stall_timeout > c->event_timeout) {
                char st[64], et[64];

                diag_key(ctx, later(ctx, K_EVENTS_EVENT_TIMEOUT, K_EVENTS_STALL_TIMEOUT), false,
                         "StallTimeout=%s exceeds EventTimeout=%s: the wait for the next event would always "
                         "end first", gp_format_duration(st, sizeof(st), c->stall_timeout),
                         gp_format_duration(et, sizeof(et), c->event_timeout));
        }
        if (c->users > 1 && strv_length(c->correlate_paths) == 0)
                diag_key(ctx, K_PROBE_USERS, true,
                         "Users=%u but CorrelatePath= is empty: isolation between sessions is not checked",
                         c->users);
}

static void check_login(parse_ctx *ctx) {
        gp_config *c = ctx->cfg;
        unsigned n_sources = !!c->password_credential + !!c->password_file + !!c->password;

        if (!c->ws_url)
                diag_key(ctx, K_WS_URL, false, "[WebSocket] URL= is required");

        if (n_sources > 1) {
                key_id k = later(ctx, later(ctx, K_LOGIN_PASSWORD_CREDENTIAL, K_LOGIN_PASSWORD_FILE),
                                 K_LOGIN_PASSWORD);
                diag_key(ctx, k, false, "more than one password source: set only one of "
                         "PasswordCredential=, PasswordFile= and Password=");
        }
        if (c->token) {
                if (c->login_url) {
                        diag_key(ctx, K_LOGIN_URL, true,
                                 "[Login] URL= is ignored: Token= is set, so there is no login step");
                        gp_config_key_free(c, K_LOGIN_URL);
                }
        } else {
                if (!c->login_url)
                        diag_key(ctx, K_LOGIN_URL, false, "[Login] URL= is required (or set Token=)");
                if (!c->user)
                        diag_key(ctx, K_LOGIN_USER, false, "[Login] User= is required (or set Token=)");
                if (n_sources == 0)
                        diag_key(ctx, K_LOGIN_URL, false,
                                 "[Login] needs a password: set PasswordCredential=, PasswordFile= or "
                                 "Password= (or set Token=)");
        }
        c->password_inline = c->password != NULL;
        if (c->password_inline)
                diag_key(ctx, K_LOGIN_PASSWORD, true, "Password= keeps the secret in the configuration; "
                         "prefer PasswordCredential= (LoadCredential= in the unit) or PasswordFile=");
}

static void check_transport(parse_ctx *ctx) {
        gp_config *c = ctx->cfg;

        if (c->ws_auth == GP_WS_AUTH_QUERY && !c->query_param)
                diag_key(ctx, later(ctx, K_WS_AUTH, K_WS_QUERY_PARAM), false,
                         "Auth=query needs QueryParam=");
        if (c->ws_auth == GP_WS_AUTH_SUBPROTOCOL && strv_length(c->subprotocols) == 0)
                diag_key(ctx, later(ctx, K_WS_AUTH, K_WS_SUBPROTOCOL), false,
                         "Auth=subprotocol needs a non-empty Subprotocol=");
        if (c->client_certificate && !c->client_key)
                diag_key(ctx, K_TLS_CLIENT_CERTIFICATE, false, "ClientCertificate= needs ClientKey=");
        if (c->client_key && !c->client_certificate)
                diag_key(ctx, K_TLS_CLIENT_KEY, false, "ClientKey= needs ClientCertificate=");
        if (!!c->api_tls_certificate != !!c->api_tls_key)
                diag_key(ctx, c->api_tls_key ? K_API_TLS_KEY : K_API_TLS_CERTIFICATE, false,
                         "TLSCertificate= and TLSKey= go together");
        if (c->api_client_ca && !c->api_tls_certificate)
                diag_key(ctx, K_API_CLIENT_CA, false, "ClientCA= needs TLSCertificate= (client certificates need TLS)");
        if (c->api_client_crl && !c->api_client_ca)
                diag_key(ctx, K_API_CLIENT_CRL, false, "ClientCRL= needs ClientCA=");
        if (c->metrics_listen && !gp_listen_is_loopback(c->metrics_listen) &&
            (!c->api_tls_certificate || (!c->api_tokens && !c->api_client_ca)))
                diag_key(ctx, K_OUTPUT_METRICS_LISTEN, false,
                         "MetricsListen=%s is not a loopback address: it needs [API] TLSCertificate= and "
                         "Tokens= or ClientCA= (plain HTTP and no authentication only on loopback)",
                         c->metrics_listen);
        if (c->insecure)
                diag_key(ctx, K_TLS_INSECURE, true,
                         "Insecure=yes: TLS certificates and host names are not verified");
        if (!c->jitter_is_percent && c->jitter >= c->interval) {
                char j[64], i[64];
                diag_key(ctx, later(ctx, K_PROBE_JITTER, K_PROBE_INTERVAL), false,
                         "Jitter=%s must be shorter than Interval=%s",
                         gp_format_duration(j, sizeof(j), c->jitter),
                         gp_format_duration(i, sizeof(i), c->interval));
        }
}

static void check_end(parse_ctx *ctx) {
        gp_config *c = ctx->cfg;

        c->correlate_learned = streq_ptr(c->correlate, "learned");
        if (ctx->where[K_EVENTS_END].line == 0) {
                /* The default End= speaks of agent_completed: with an Expect= without it, the
                 * last expected type ends the run, as it always did. */
                bool any = false;

                STRV_FOREACH(e, c->end)
                        if (strv_contains(c->expect, "agent_completed"))
                                any = true;
                if (!any)
                        gp_config_key_free(c, K_EVENTS_END);
        }
        STRV_FOREACH(e, c->end) {
                gp_event_cond cond = {0};

                if (gp_event_cond_parse(*e, &cond, NULL) < 0)
                        continue;  /* checked when assigned; only memory can fail here */
                if (!strv_contains(c->expect, cond.type))
                        diag_key(ctx, later(ctx, K_EVENTS_EXPECT, K_EVENTS_END), false,
                                 "End=%s: event type '%s' is not in Expect=", *e, cond.type);
                gp_event_cond_done(&cond);
        }
        if ((c->identity || c->identity_paths) && strv_length(c->ready) == 0)
                diag_key(ctx, later(ctx, K_WS_READY, c->identity ? K_WS_IDENTITY : K_WS_IDENTITY_PATH), false,
                         "the identity check reads the welcome: set Ready=");
        if (c->identity && strv_length(c->identity_paths) == 0)
                diag_key(ctx, K_WS_IDENTITY, false, "Identity= needs IdentityPath= (where the welcome names the user)");
}

/* Adds the names of a list of NAME=PATH captures to *names; a name captured twice is an error. */
static int add_captures(parse_ctx *ctx, char ***names, char * const *captures, const char *file, unsigned line,
                        key_id k) {
        STRV_FOREACH(cap, captures) {
                _cleanup_free_ char *name = strndup(*cap, strcspn(*cap, "="));
                int r;

                if (!name)
                        return -ENOMEM;
                if (strv_contains(*names, name)) {
                        if (file)
                                gp_diags_add(ctx->diags, file, line, false, "'%s' is captured twice", name);
                        else
                                diag_key(ctx, k, false, "'%s' is captured twice", name);
                        continue;
                }
                r = strv_extend(names, name);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void check_template_captures(parse_ctx *ctx, const char *tmpl, char * const *names, const char *file,
                                    unsigned line, key_id k) {
        _cleanup_free_ char *err = NULL;

        if (gp_template_check_captures(tmpl, names, &err) != -EINVAL)
                return;
        if (file)
                gp_diags_add(ctx->diags, file, line, false, "[Step]: %s", err);
        else
                diag_key(ctx, k, false, "%s: %s", gp_config_keys[k].name, err);
}

static void check_template_list_captures(parse_ctx *ctx, char * const *l, char * const *names, key_id k) {
        STRV_FOREACH(t, l)
                check_template_captures(ctx, *t, names, NULL, 0, k);
}

/* Every ${NAME} that is not built in must be captured by an earlier step: the login (for the
 * steps and what follows), or an earlier [Step]. */
static int check_captures(parse_ctx *ctx) {
        gp_config *c = ctx->cfg;
        _cleanup_strv_free_ char **names = NULL;
        int r;

        check_template_captures(ctx, c->user, NULL, NULL, 0, K_LOGIN_USER);
        check_template_captures(ctx, c->login_body, NULL, NULL, 0, K_LOGIN_BODY);
        check_template_list_captures(ctx, c->login_headers, NULL, K_LOGIN_HEADER);
        /* With Token= there is no login: its captures never happen. */
        r = c->token ? 0 : add_captures(ctx, &names, c->login_captures, NULL, 0, K_LOGIN_CAPTURE);
        if (r >= 0 && !c->token)
                r = add_captures(ctx, &names, c->login_secret_captures, NULL, 0, K_LOGIN_CAPTURE_SECRET);
        for (size_t i = 0; r >= 0 && i < c->n_steps; i++) {
                const gp_step *s = &c->steps[i];

                if (!s->url)
                        gp_diags_add(ctx->diags, s->file, s->line, false, "[Step] needs URL=");
                check_template_captures(ctx, s->url, names, s->file, s->line, K_LOGIN_URL);
                check_template_captures(ctx, s->body, names, s->file, s->line, K_LOGIN_URL);
                STRV_FOREACH(h, s->headers)
                        check_template_captures(ctx, *h, names, s->file, s->line, K_LOGIN_URL);
                r = add_captures(ctx, &names, s->captures, s->file, s->line, K_LOGIN_URL);
                if (r >= 0)
                        r = add_captures(ctx, &names, s->secret_captures, s->file, s->line, K_LOGIN_URL);
        }
        if (r < 0)
                return r;
        check_template_list_captures(ctx, c->subprotocols, names, K_WS_SUBPROTOCOL);
        check_template_list_captures(ctx, c->ws_headers, names, K_WS_HEADER);
        STRV_FOREACH(q, c->ws_query)
                check_template_captures(ctx, strchr(*q, '=') + 1, names, NULL, 0, K_WS_QUERY);
        check_template_captures(ctx, c->identity, names, NULL, 0, K_WS_IDENTITY);
        check_template_captures(ctx, c->message, names, NULL, 0, K_REQUEST_MESSAGE);
        check_template_captures(ctx, c->correlate_with, names, NULL, 0, K_EVENTS_CORRELATE_WITH);
        if (c->token && (c->login_captures || c->login_secret_captures))
                diag_key(ctx, K_LOGIN_CAPTURE, true, "Capture= is ignored: Token= is set, so there is no login step");
        return 0;
}

/* The first directory of a systemd *_DIRECTORY variable (they may hold several, ':'-separated). */
static char *directory_file(const char *env, const char *name, const char *suffix) {
        const char *dir = getenv(env);
        size_t n;

        if (isempty(dir))
                return NULL;
        n = strcspn(dir, ":");
        while (n > 1 && dir[n - 1] == '/')
                n--;
        return strdup_printf("%.*s/%s%s", (int) n, dir, name, suffix);
}

static int resolve_defaults(parse_ctx *ctx) {
        gp_config *c = ctx->cfg;
        _cleanup_free_ char *m = NULL;
        int r;

        if (!c->name) {
                const char *base = strrchr(c->path, '/') ? strrchr(c->path, '/') + 1 : c->path;
                size_t n = strlen(base);

                if (n > 5 && streq(base + n - 5, ".conf"))
                        n -= 5;
                c->name = strndup(base, n);
                if (!c->name)
                        return -ENOMEM;
                r = gp_check_probe_name(c->name, &m);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        gp_diags_add(ctx->diags, ctx->main_file, 0, false,
                                     "cannot use the file name as the probe name: %s; "
                                     "set Name= in [Probe]", m);
                        return 0;
                }
        }

        c->status_file_explicit = c->status_file != NULL;
        if (!c->status_file) {
                c->status_file = directory_file("RUNTIME_DIRECTORY", c->name, ".json");
                if (!c->status_file)
                        c->status_file = strdup_printf("/run/gpprobe/%s.json", c->name);
                if (!c->status_file)
                        return -ENOMEM;
        }
        c->state_file_explicit = c->state_file != NULL;
        if (!c->state_file && !isempty(getenv("STATE_DIRECTORY"))) {
                c->state_file = directory_file("STATE_DIRECTORY", c->name, ".state");
                if (!c->state_file)
                        return -ENOMEM;
        }
        return 0;
}

static int compile_regex(parse_ctx *ctx) {
        gp_config *c = ctx->cfg;
        int r;

        if (c->response_match) {
                r = regcomp(&c->response_regex, c->response_match, REG_EXTENDED);
                if (r != 0) {
                        /* Checked when assigned: only memory can fail here. */
                        gp_config_key_free(c, K_EVENTS_RESPONSE_MATCH);
                        gp_config_key_free(c, K_EVENTS_RESPONSE_REJECT);
                        return -ENOMEM;
                }
        }
        if (c->response_reject) {
                r = regcomp(&c->response_reject_regex, c->response_reject, REG_EXTENDED | REG_NOSUB);
                if (r != 0) {
                        gp_config_key_free(c, K_EVENTS_RESPONSE_REJECT);
                        return -ENOMEM;
                }
        }
        return 0;
}

int gp_config_parse_full(const char *main_path, const gp_config_source *sources, size_t n_sources,
                         gp_config **ret, gp_diags *diags, gp_parse_info *info) {
        static const gp_ini_handler handler = {
                .section_known = on_section_known,
                .section_hint = on_section_hint,
                .section_start = on_section_start,
                .assign = on_assign,
        };
        gp_diags local = { 0 };
        parse_ctx ctx = {
                .diags = diags ? diags : &local,
                .main_file = main_path,
                .secret_lines = info ? info->secret_lines : NULL,
        };
        size_t errors_before = ctx.diags->n_errors;
        _cleanup_config_ gp_config *c = NULL;
        int r = 0;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->refcount = 1;
        c->path = strdup(main_path);
        if (!c->path)
                return -ENOMEM;
        ctx.cfg = c;

        for (size_t k = 0; k < _K_MAX && r >= 0; k++)
                if (gp_config_keys[k].def) {
                        _cleanup_free_ char *m = NULL;
                        r = gp_config_key_assign(c, (key_id) k, gp_config_keys[k].def, &m);
                        assert(r != -EINVAL);
                }
        if (ctx.secret_lines)
                memset(ctx.secret_lines, 0, n_sources * sizeof(gp_secret_line));
        for (size_t i = 0; i < n_sources && r >= 0; i++) {
                ctx.source = i;
                r = gp_ini_parse(sources[i].file, sources[i].text, sources[i].len, &handler, &ctx,
                                 ctx.diags);
        }
        if (r >= 0) {
                check_events(&ctx);
                check_end(&ctx);
                r = check_captures(&ctx);
        }
        if (r >= 0) {
                check_login(&ctx);
                check_transport(&ctx);
                r = resolve_defaults(&ctx);
        }
        if (r >= 0 && ctx.diags->n_errors == errors_before)
                r = compile_regex(&ctx);
        else {
                /* Not compiled: the free must not regfree() them. */
                gp_config_key_free(c, K_EVENTS_RESPONSE_MATCH);
                gp_config_key_free(c, K_EVENTS_RESPONSE_REJECT);
        }

        if (r >= 0 && ctx.diags->oom)
                r = -ENOMEM;
        if (r >= 0 && ctx.diags->n_errors > errors_before)
                r = -EINVAL;
        gp_diags_clear(&local);
        if (info)
                memcpy(info->where, ctx.where, sizeof(ctx.where));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

int gp_config_parse(const char *main_path, const gp_config_source *sources, size_t n_sources,
                    gp_config **ret, gp_diags *diags) {
        return gp_config_parse_full(main_path, sources, n_sources, ret, diags, NULL);
}
