/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>

#include "escape.h"
#include "url.h"
#include "util.h"

void gp_url_done(gp_url *u) {
        free(u->scheme);
        free(u->host);
        free(u->path);
        *u = (gp_url) {0};
}

static int fail(char **ret_error, const char *fmt, const char *s) _printf_(2, 0);
static int fail(char **ret_error, const char *fmt, const char *s) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        if (ret_error)
                *ret_error = strdup_printf(fmt, s);
#pragma GCC diagnostic pop
        return -EINVAL;
}

int gp_url_parse(const char *s, gp_url *ret, char **ret_error) {
        gp_url u = {0};
        const char *p, *host, *host_end, *rest;
        long port = 0;

        p = strstr(s, "://");
        if (!p || p == s)
                return fail(ret_error, "'%s' is not an absolute URL", s);
        u.scheme = strndup(s, (size_t) (p - s));
        if (!u.scheme)
                return -ENOMEM;
        for (char *c = u.scheme; *c; c++)
                *c = (char) tolower((unsigned char) *c);
        if (streq(u.scheme, "ws") || streq(u.scheme, "http"))
                port = 80;
        else if (streq(u.scheme, "wss") || streq(u.scheme, "https")) {
                port = 443;
                u.tls = true;
        } else {
                gp_url_done(&u);
                return fail(ret_error, "unsupported URL scheme in '%s'", s);
        }

        host = p + 3;
        if (strpbrk(host, "@"))  {
                const char *at = strchr(host, '@'), *slash = strchr(host, '/');
                if (!slash || at < slash) {
                        gp_url_done(&u);
                        return fail(ret_error, "credentials in URLs are not supported: '%s'", s);
                }
        }
        if (*host == '[') {
                host_end = strchr(host, ']');
                if (!host_end) {
                        gp_url_done(&u);
                        return fail(ret_error, "unterminated IPv6 literal in '%s'", s);
                }
                u.host = strndup(host + 1, (size_t) (host_end - host - 1));
                rest = host_end + 1;
        } else {
                host_end = host + strcspn(host, ":/?#");
                u.host = strndup(host, (size_t) (host_end - host));
                rest = host_end;
        }
        if (!u.host) {
                gp_url_done(&u);
                return -ENOMEM;
        }
        if (isempty(u.host)) {
                gp_url_done(&u);
                return fail(ret_error, "no host in URL '%s'", s);
        }
        if (*rest == ':') {
                char *end;
                errno = 0;
                port = strtol(rest + 1, &end, 10);
                if (errno || end == rest + 1 || port < 1 || port > 65535 || (*end && !strchr("/?#", *end))) {
                        gp_url_done(&u);
                        return fail(ret_error, "invalid port in URL '%s'", s);
                }
                rest = end;
        }
        u.port = (int) port;
        if (*rest == '#')
                rest = "";
        u.path = *rest == '/' ? strndup(rest, strcspn(rest, "#")) : strdup_printf("/%.*s", (int) strcspn(rest, "#"), rest);
        if (!u.path) {
                gp_url_done(&u);
                return -ENOMEM;
        }
        *ret = u;
        return 0;
}

int gp_url_add_query(gp_url *u, const char *name, const char *value) {
        gp_buf b = {0};
        int r;

        r = gp_buf_printf(&b, "%s%s%s=", u->path, strchr(u->path, '?') ? "&" : "?", name);
        if (r >= 0)
                r = gp_buf_append_url_encoded(&b, value);
        if (r < 0) {
                secret_free(b.data);  /* a query may carry the token or a ticket */
                return r;
        }
        secret_free(u->path);
        u->path = b.data;
        return 0;
}
