/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "escape.h"
#include "template.h"
#include "utf8.h"
#include "util.h"

/* Longest variable name echoed back in an error message. */
#define NAME_ECHO_MAX 40

typedef enum tvar {
        TVAR_USER,
        TVAR_PASSWORD,
        TVAR_TOKEN,
        TVAR_RUN_ID,
        TVAR_THREAD_ID,
        TVAR_PROMPT,
        TVAR_INDEX,
        TVAR_NAME,
        TVAR_TRACE_ID,
        TVAR_TRACEPARENT,
        TVAR_ENV,
        TVAR_CAPTURE,  /* a value captured from an earlier step's reply (Capture=) */
        _TVAR_INVALID = -1,
} tvar;

typedef enum ttransform {
        TRANSFORM_NONE,
        TRANSFORM_BASE64URL,  /* ${base64url:token}: RFC 4648 section 5, no padding */
} ttransform;

static const char * const tvar_names[] = {
        [TVAR_USER] = "user",
        [TVAR_PASSWORD] = "password",
        [TVAR_TOKEN] = "token",
        [TVAR_RUN_ID] = "run_id",
        [TVAR_THREAD_ID] = "thread_id",
        [TVAR_PROMPT] = "prompt",
        [TVAR_INDEX] = "index",
        [TVAR_NAME] = "name",
        [TVAR_TRACE_ID] = "trace_id",
        [TVAR_TRACEPARENT] = "traceparent",
};

/* One piece of a template: literal text, or a variable (env_name set for ${env:VAR}). */
typedef struct tpiece {
        const char *text;
        size_t len;
        bool is_var;
        tvar var;
        ttransform transform;
        char *env_name;      /* TVAR_ENV: the variable; TVAR_CAPTURE: the capture's name */
} tpiece;

typedef int (*piece_cb)(const tpiece *p, void *userdata, char **ret_error);

static bool env_name_valid(const char *s, size_t n) {
        if (n == 0 || !(s[0] == '_' || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
                      (s[i] >= '0' && s[i] <= '9')))
                        return false;
        return true;
}

bool gp_template_name_valid(const char *s, size_t n) {
        return env_name_valid(s, n);
}

bool gp_template_name_builtin(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(tvar_names); i++)
                if (streq(tvar_names[i], s))
                        return true;
        return false;
}

static int name_to_var(const char *name, size_t n, tpiece *p, char **ret_error) {
        const char *env = n >= 4 && strncmp(name, "env:", 4) == 0 ? name + 4 : NULL;
        int echo = (int) MIN(n, (size_t) NAME_ECHO_MAX);
        const char *more = n > NAME_ECHO_MAX ? "..." : "";
        static const char b64[] = "base64url:";

        if (n == 0)
                return set_errorf(ret_error, "empty variable name ${}");
        if (env) {
                if (!env_name_valid(env, n - 4))
                        return set_errorf(ret_error, "invalid environment variable name in ${%.*s%s}",
                                         echo, name, more);
                p->var = TVAR_ENV;
                p->env_name = strndup(env, n - 4);
                return p->env_name ? 0 : -ENOMEM;
        }
        if (n > strlen(b64) && strncmp(name, b64, strlen(b64)) == 0) {
                p->transform = TRANSFORM_BASE64URL;
                name += strlen(b64);
                n -= strlen(b64);
        }
        for (size_t i = 0; i < ELEMENTSOF(tvar_names); i++)
                if (strlen(tvar_names[i]) == n && strncmp(tvar_names[i], name, n) == 0) {
                        p->var = (tvar) i;
                        return 0;
                }
        if (!env_name_valid(name, n) || memchr(name, ':', n))
                return set_errorf(ret_error, "unknown variable ${%.*s%s}", echo, name - (p->transform ? strlen(b64) : 0),
                                 more);
        /* Any other name is a capture; the configuration checks that a step captures it. */
        p->var = TVAR_CAPTURE;
        p->env_name = strndup(name, n);
        return p->env_name ? 0 : -ENOMEM;
}

/* Splits tmpl into pieces. "$$" is a literal "$"; a "$" not followed by "{" or "$" is literal. */
static int template_walk(const char *tmpl, piece_cb cb, void *userdata, char **ret_error) {
        const char *p = tmpl, *lit = tmpl;
        int r;

        for (;;) {
                tpiece piece = { 0 };

                /* A lone '$' stays part of the literal text. */
                if (*p != '\0' && !(p[0] == '$' && (p[1] == '$' || p[1] == '{'))) {
                        p++;
                        continue;
                }
                if (p > lit) {
                        piece = (tpiece) { .text = lit, .len = (size_t) (p - lit) };
                        r = cb(&piece, userdata, ret_error);
                        if (r < 0)
                                return r;
                }
                if (*p == '\0')
                        return 0;
                if (p[1] == '$') {
                        piece = (tpiece) { .text = p, .len = 1 };
                        r = cb(&piece, userdata, ret_error);
                        if (r < 0)
                                return r;
                        p += 2;
                        lit = p;
                } else {
                        const char *name = p + 2, *end = strchr(name, '}');

                        if (!end) {
                                size_t n = strlen(name);
                                return set_errorf(ret_error, "unterminated ${%.*s%s (missing '}')",
                                                 (int) MIN(n, (size_t) NAME_ECHO_MAX), name,
                                                 n > NAME_ECHO_MAX ? "..." : "");
                        }
                        piece.is_var = true;
                        r = name_to_var(name, (size_t) (end - name), &piece, ret_error);
                        if (r >= 0)
                                r = cb(&piece, userdata, ret_error);
                        free(piece.env_name);
                        if (r < 0)
                                return r;
                        p = end + 1;
                        lit = p;
                }
        }
}

bool gp_template_is_json(const char *tmpl) {
        if (!tmpl)
                return false;
        tmpl += strspn(tmpl, " \t\r\n");
        return *tmpl == '{' || *tmpl == '[';
}

static int validate_piece(const tpiece *p, void *userdata, char **ret_error) {
        if (p->is_var && p->var == TVAR_ENV && !getenv(p->env_name))
                return set_errorf(ret_error, "environment variable %s is not set (${env:%s})",
                                 p->env_name, p->env_name);
        return 0;
}

int gp_template_validate(const char *tmpl, char **ret_error) {
        return template_walk(tmpl, validate_piece, NULL, ret_error);
}

typedef struct uses_ctx {
        const char *var;
        bool found;
} uses_ctx;

static int uses_piece(const tpiece *p, void *userdata, char **ret_error) {
        uses_ctx *u = userdata;

        if (!p->is_var)
                return 0;
        if (p->var == TVAR_ENV) {
                const char *e = startswith(u->var, "env:");
                if (e && streq(e, p->env_name))
                        u->found = true;
        } else if (p->var == TVAR_CAPTURE) {
                if (streq(p->env_name, u->var))
                        u->found = true;
        } else if (streq(tvar_names[p->var], u->var))
                u->found = true;
        return 0;
}

typedef struct names_ctx {
        char * const *known;
        const char *unknown_name;
} names_ctx;

static int names_piece(const tpiece *p, void *userdata, char **ret_error) {
        names_ctx *x = userdata;

        if (p->is_var && p->var == TVAR_CAPTURE && !strv_contains(x->known, p->env_name))
                return set_errorf(ret_error, "unknown variable ${%s} (not built in, and no earlier step captures it "
                                  "with Capture=)", p->env_name);
        return 0;
}

int gp_template_check_captures(const char *tmpl, char * const *known, char **ret_error) {
        names_ctx x = { .known = known };

        if (!tmpl)
                return 0;
        return template_walk(tmpl, names_piece, &x, ret_error);
}

bool gp_template_uses(const char *tmpl, const char *var) {
        uses_ctx u = { .var = var };

        if (!tmpl || !var)
                return false;
        /* A syntax error ends the walk; what was seen before it still counts. */
        (void) template_walk(tmpl, uses_piece, &u, NULL);
        return u.found;
}

typedef struct expand_ctx {
        const gp_template_vars *vars;
        gp_template_flags flags;
        gp_buf out;
} expand_ctx;

static const char *capture_value(const gp_template_vars *v, const char *name) {
        for (size_t i = 0; i < v->n_captures; i++)
                if (streq(v->captures[i].name, name))
                        return v->captures[i].value;
        return NULL;
}

static int expand_piece(const tpiece *p, void *userdata, char **ret_error) {
        expand_ctx *x = userdata;
        const gp_template_vars *v = x->vars;
        _cleanup_(secret_freep) char *encoded = NULL;  /* may encode the token */
        char index[16];
        const char *value = NULL;

        if (!p->is_var)
                return gp_buf_append(&x->out, p->text, p->len);

        switch (p->var) {
        case TVAR_USER:      value = v->user; break;
        case TVAR_PASSWORD:  value = v->password; break;
        case TVAR_TOKEN:     value = v->token; break;
        case TVAR_RUN_ID:    value = v->run_id; break;
        case TVAR_THREAD_ID: value = v->thread_id; break;
        case TVAR_PROMPT:    value = v->prompt; break;
        case TVAR_NAME:      value = v->name; break;
        case TVAR_TRACE_ID:  value = v->trace_id; break;
        case TVAR_TRACEPARENT: value = v->traceparent; break;
        case TVAR_ENV:       value = getenv(p->env_name); break;
        case TVAR_CAPTURE:   value = capture_value(v, p->env_name); break;
        case TVAR_INDEX:
                snprintf(index, sizeof(index), "%u", v->index);
                value = index;
                break;
        default:
                return -EINVAL;
        }
        value = strempty(value);
        if (p->transform == TRANSFORM_BASE64URL) {
                encoded = base64url_encode(value);
                if (!encoded)
                        return -ENOMEM;
                value = encoded;
        }

        if (x->flags & GP_TEMPLATE_URL)
                return gp_buf_append_url_encoded(&x->out, value);
        if (x->flags & GP_TEMPLATE_JSON) {
                /* Never echo the value: it may be the password. */
                if (gp_utf8_invalid_at(value, strlen(value)) != strlen(value)) {
                        if (p->var == TVAR_ENV)
                                return set_errorf(ret_error, "the value of ${env:%s} is not valid UTF-8",
                                                 p->env_name);
                        return set_errorf(ret_error, "the value of ${%s} is not valid UTF-8",
                                         p->var == TVAR_CAPTURE ? p->env_name : tvar_names[p->var]);
                }
                return gp_buf_append_json_escaped(&x->out, value, GP_JSON_ESCAPE_PLAIN);
        }
        return gp_buf_append(&x->out, value, strlen(value));
}

int gp_template_expand(const char *tmpl, const gp_template_vars *vars, gp_template_flags flags,
                       char **ret, char **ret_error) {
        static const gp_template_vars no_vars = { 0 };
        expand_ctx x = { .vars = vars ? vars : &no_vars, .flags = flags };
        int r;

        r = gp_buf_append(&x.out, "", 0);
        if (r >= 0)
                r = template_walk(tmpl, expand_piece, &x, ret_error);
        if (r < 0) {
                /* The buffer may hold the expanded password. */
                if (x.out.data)
                        explicit_bzero(x.out.data, x.out.cap);
                gp_buf_free(&x.out);
                return r;
        }
        *ret = x.out.data;
        return 0;
}
