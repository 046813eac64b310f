/* SPDX-License-Identifier: MIT */
/* [Step] sections: HTTP calls between the login and the WebSocket, one section per step, in
 * order (like systemd-networkd's repeated [Route] sections). */
#include <errno.h>
#include <limits.h>

#include "config-internal.h"
#include "util.h"

typedef enum step_key {
        SK_NAME,
        SK_URL,
        SK_METHOD,
        SK_HEADER,
        SK_BODY,
        SK_EXPECT_STATUS,
        SK_CAPTURE,
        SK_CAPTURE_SECRET,
        _SK_MAX,
} step_key;

static const char * const step_keys[_SK_MAX] = {
        [SK_NAME] = "Name",
        [SK_URL] = "URL",
        [SK_METHOD] = "Method",
        [SK_HEADER] = "Header",
        [SK_BODY] = "Body",
        [SK_EXPECT_STATUS] = "ExpectStatus",
        [SK_CAPTURE] = "Capture",
        [SK_CAPTURE_SECRET] = "CaptureSecret",
};

static int check_step_name(const char *v, char **ret_msg) {
        size_t n = strlen(v);

        if (n == 0 || n > 64)
                return set_errorf(ret_msg, "invalid step name (1-64 characters)");
        for (const char *p = v; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr("-_.", *p)))
                        return set_errorf(ret_msg, "invalid step name '%.*s%s' (letters, digits, '-', '_', '.')",
                                          (int) MIN(n, (size_t) ECHO_MAX), v, n > ECHO_MAX ? "..." : "");
        return 0;
}

/* A step's URL is a template: its scheme and host must be literal, so that the URL is
 * checked here; ${...} may stand in the path and the query. */
static int check_step_url(const char *v, char **ret_msg) {
        const char *var = strstr(v, "${");
        const char *path = strchr(v + strcspn(v, ":") + (v[strcspn(v, ":")] ? 3 : 0), '/');
        _cleanup_free_ char *base = NULL;
        int r;

        if (var && (!path || var < path))
                return set_errorf(ret_msg, "a step's URL may use ${...} only in its path and query");
        base = strndup(v, path ? (size_t) (path - v) : strlen(v));
        if (!base)
                return -ENOMEM;
        r = gp_check_http_url(base, ret_msg);
        if (r < 0)
                return r;
        return gp_check_template(v, ret_msg);
}

static int step_set_string(char **field, const char *v) {
        char *s = strdup(v);

        if (!s)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 0;
}

int gp_config_step_start(gp_config *c, const char *file, unsigned line) {
        gp_step *steps = realloc(c->steps, (c->n_steps + 1) * sizeof(gp_step));

        if (!steps)
                return -ENOMEM;
        c->steps = steps;
        c->steps[c->n_steps] = (gp_step) { .expect_status = 200, .file = file, .line = line };
        c->steps[c->n_steps].method = strdup("GET");
        if (!c->steps[c->n_steps].method)
                return -ENOMEM;
        c->n_steps++;
        return 0;
}

static int step_key_lookup(const char *key, const char **hint) {
        *hint = NULL;
        for (size_t i = 0; i < _SK_MAX; i++)
                if (streq(step_keys[i], key))
                        return (int) i;
        for (size_t i = 0; i < _SK_MAX; i++)
                if (strcaseeq(step_keys[i], key))
                        *hint = step_keys[i];
        return -1;
}

static int step_assign_list(char ***field, const char *v, gp_value_check check, char **ret_msg) {
        int r;

        if (isempty(v)) {
                strv_free(*field);
                *field = NULL;
                return 0;
        }
        r = check(v, ret_msg);
        if (r < 0)
                return r;
        if (check == gp_check_header)
                return gp_header_list_set(field, v);
        return strv_extend(field, v);
}

int gp_config_step_assign(gp_config *c, const char *key, const char *v, char **ret_msg) {
        gp_step *s = c->n_steps > 0 ? &c->steps[c->n_steps - 1] : NULL;
        const char *hint;
        unsigned status;
        int k = step_key_lookup(key, &hint), r;

        if (k < 0)
                return set_errorf(ret_msg, "unknown key '%.*s%s' in section [Step]%s%s%s", ECHO_MAX, key,
                                  strlen(key) > ECHO_MAX ? "..." : "", hint ? " (did you mean '" : "",
                                  strempty(hint), hint ? "'?)" : "");
        if (!s)
                return -EINVAL;
        switch ((step_key) k) {
        case SK_NAME:
                if (isempty(v)) {
                        free(s->name);
                        s->name = NULL;
                        return 0;
                }
                r = check_step_name(v, ret_msg);
                return r < 0 ? r : step_set_string(&s->name, v);
        case SK_URL:
                r = check_step_url(v, ret_msg);
                return r < 0 ? r : step_set_string(&s->url, v);
        case SK_METHOD:
                if (isempty(v))
                        return step_set_string(&s->method, "GET");
                r = gp_check_http_token(v, ret_msg);
                return r < 0 ? r : step_set_string(&s->method, v);
        case SK_HEADER:
                return step_assign_list(&s->headers, v, gp_check_header, ret_msg);
        case SK_BODY:
                if (isempty(v)) {
                        free(s->body);
                        s->body = NULL;
                        return 0;
                }
                r = gp_check_template(v, ret_msg);
                return r < 0 ? r : step_set_string(&s->body, v);
        case SK_EXPECT_STATUS:
                if (isempty(v)) {
                        s->expect_status = 200;
                        return 0;
                }
                if (gp_parse_unsigned(v, 100, 599, &status) < 0)
                        return set_errorf(ret_msg, "invalid HTTP status '%.*s%s' (100-599)",
                                          (int) MIN(strlen(v), (size_t) ECHO_MAX), v,
                                          strlen(v) > ECHO_MAX ? "..." : "");
                s->expect_status = (long) status;
                return 0;
        case SK_CAPTURE:
                return step_assign_list(&s->captures, v, gp_check_capture, ret_msg);
        case SK_CAPTURE_SECRET:
                return step_assign_list(&s->secret_captures, v, gp_check_capture, ret_msg);
        case _SK_MAX:
                break;
        }
        return -EINVAL;
}

void gp_config_steps_free(gp_config *c) {
        for (size_t i = 0; i < c->n_steps; i++) {
                gp_step *s = &c->steps[i];

                free(s->name);
                free(s->url);
                free(s->method);
                strv_free(s->headers);
                free(s->body);
                strv_free(s->captures);
                strv_free(s->secret_captures);
        }
        free(c->steps);
        c->steps = NULL;
        c->n_steps = 0;
}

bool gp_config_steps_equal(const gp_config *a, const gp_config *b) {
        if (a->n_steps != b->n_steps)
                return false;
        for (size_t i = 0; i < a->n_steps; i++) {
                const gp_step *x = &a->steps[i], *y = &b->steps[i];

                if (!streq_ptr(x->name, y->name) || !streq_ptr(x->url, y->url) || !streq_ptr(x->method, y->method) ||
                    !streq_ptr(x->body, y->body) || x->expect_status != y->expect_status ||
                    !strv_equal(x->headers, y->headers) || !strv_equal(x->captures, y->captures) ||
                    !strv_equal(x->secret_captures, y->secret_captures))
                        return false;
        }
        return true;
}

static void print_list(FILE *f, const char *key, char * const *l) {
        STRV_FOREACH(i, l)
                fprintf(f, "%s=%s\n", key, *i);
}

void gp_config_steps_print(const gp_config *c, FILE *f, void (*print_header)(FILE *, const char *, const char *)) {
        for (size_t i = 0; i < c->n_steps; i++) {
                const gp_step *s = &c->steps[i];

                fprintf(f, "\n[Step]\n");
                fprintf(f, "Name=%s\nURL=%s\nMethod=%s\n", strempty(s->name), strempty(s->url), strempty(s->method));
                STRV_FOREACH(h, s->headers)
                        print_header(f, "Header", *h);
                fprintf(f, "Body=%s\nExpectStatus=%ld\n", strempty(s->body), s->expect_status);
                print_list(f, "Capture", s->captures);
                print_list(f, "CaptureSecret", s->secret_captures);
        }
}

const char *gp_step_name(const gp_step *s, size_t index, char buf[32]) {
        if (s->name)
                return s->name;
        snprintf(buf, 32, "step %zu", index + 1);
        return buf;
}
