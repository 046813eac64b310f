/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "event-cond.h"
#include "util.h"

static bool blank_or_control(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] <= ' ' || s[i] == 0x7f)
                        return true;
        return false;
}

static bool path_valid(const char *p, size_t n) {
        size_t seg = 0;

        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (p[i] == '.') {
                        if (seg == 0)
                                return false;
                        seg = 0;
                } else
                        seg++;
        }
        return seg > 0;
}

int gp_event_cond_parse(const char *s, gp_event_cond *ret, char **ret_msg) {
        const char *open = strchr(s, '['), *eq;
        size_t n = strlen(s), type_len = open ? (size_t) (open - s) : n;
        int echo = (int) MIN(n, (size_t) ECHO_MAX);
        const char *more = n > ECHO_MAX ? "..." : "";
        gp_event_cond c = {0};

        if (type_len == 0 || blank_or_control(s, n) || memchr(s, ']', type_len))
                return set_errorf(ret_msg, "invalid event condition '%.*s%s' (expected TYPE, TYPE[PATH] or "
                                  "TYPE[PATH=VALUE])", echo, s, more);
        if (open) {
                const char *body = open + 1;
                size_t body_len = n - type_len - 1;

                if (body_len == 0 || s[n - 1] != ']' || memchr(body, '[', body_len - 1) ||
                    memchr(body, ']', body_len - 1))
                        return set_errorf(ret_msg, "invalid event condition '%.*s%s': a condition is "
                                          "TYPE[PATH] or TYPE[PATH=VALUE], ending with ']'", echo, s, more);
                body_len--;  /* the ']' */
                eq = memchr(body, '=', body_len);
                if (!path_valid(body, eq ? (size_t) (eq - body) : body_len))
                        return set_errorf(ret_msg, "invalid event condition '%.*s%s': invalid JSON path",
                                          echo, s, more);
                c.path = strndup(body, eq ? (size_t) (eq - body) : body_len);
                if (!c.path)
                        goto oom;
                if (eq) {
                        c.value = strndup(eq + 1, body_len - (size_t) (eq + 1 - body));
                        if (!c.value)
                                goto oom;
                }
        }
        c.type = strndup(s, type_len);
        if (!c.type)
                goto oom;
        *ret = c;
        return 0;
oom:
        gp_event_cond_done(&c);
        return -ENOMEM;
}

void gp_event_cond_done(gp_event_cond *c) {
        if (!c)
                return;
        free(c->type);
        free(c->path);
        free(c->value);
        *c = (gp_event_cond) {0};
}
