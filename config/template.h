/* SPDX-License-Identifier: MIT */
#pragma once

/* ${...} templates (SPEC section 4): ${user} ${password} ${token} ${run_id} ${thread_id}
 * ${prompt} ${index} ${name} ${trace_id} ${traceparent} ${env:VAR}, ${NAME} for a value an earlier step captured
 * (Capture=NAME=PATH), and ${base64url:VAR} for any of them but env: encoded as RFC 4648
 * base64url without padding. "$$" is a literal "$". Pure. */

#include <stdbool.h>
#include <stddef.h>

typedef struct gp_template_capture {
        const char *name;
        const char *value;
} gp_template_capture;

typedef struct gp_template_vars {
        const char *user;
        const char *password;
        const char *token;
        const char *run_id;
        const char *thread_id;
        const char *prompt;
        const char *name;
        const char *trace_id;       /* the run's W3C trace id */
        const char *traceparent;    /* the session's traceparent header value */
        unsigned index;
        const gp_template_capture *captures;  /* what earlier steps captured */
        size_t n_captures;
} gp_template_vars;

typedef enum gp_template_flags {
        GP_TEMPLATE_PLAIN = 0,
        GP_TEMPLATE_JSON = 1 << 0,  /* every expansion JSON-string-escaped (no quotes added) */
        GP_TEMPLATE_URL = 1 << 1,   /* every expansion percent-encoded (RFC 3986 unreserved kept) */
} gp_template_flags;

/* A template is a JSON template when its first non-blank character is { or [. */
bool gp_template_is_json(const char *tmpl);

/* Checks syntax and variable names (and that ${env:VAR} is set). On error returns -EINVAL and
 * a message such as "unknown variable ${usr}" in *ret_error (caller frees). */
int gp_template_validate(const char *tmpl, char **ret_error);

/* Fails (-EINVAL, "${x} is not captured by an earlier step (Capture=)") when tmpl names a
 * capture that is not in known. */
int gp_template_check_captures(const char *tmpl, char * const *known, char **ret_error);

/* A capture's name: letters, digits and '_', not starting with a digit; and whether it is the
 * name of a built-in variable (which a capture may not take). */
bool gp_template_name_valid(const char *s, size_t n);
bool gp_template_name_builtin(const char *s);

/* True when tmpl references ${var} (var without ${}). */
bool gp_template_uses(const char *tmpl, const char *var);

/* Expands; 0, -ENOMEM, or -EINVAL with *ret_error set. A NULL variable expands to "". */
int gp_template_expand(const char *tmpl, const gp_template_vars *vars, gp_template_flags flags,
                       char **ret, char **ret_error);
