/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <regex.h>
#include <strings.h>

#include "config.h"
#include "event-cond.h"
#include "template.h"
#include "util.h"
#include "values.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_alnum(char c) {
        return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 7230 tchar */
static bool is_tchar(char c) {
        return is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_token(const char *s, size_t n) {
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_tchar(s[i]))
                        return false;
        return true;
}

static bool has_blank_or_control(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s <= 0x20 || *s == 0x7f)
                        return true;
        return false;
}

static int check_url(const char *v, const char *scheme, char **ret_msg) {
        const char *rest, *host, *end, *port = NULL;
        size_t slen = strlen(scheme), secure;

        /* URLs are literal: expanding them per session would hide typos until run time. */
        if (strstr(v, "${"))
                return set_errorf(ret_msg, "URLs are not templates; '${' is not allowed in '%.*s%s'", ECHO(v));
        secure = strncasecmp(v, scheme, slen) == 0 && (v[slen] == 's' || v[slen] == 'S');
        if (strncasecmp(v, scheme, slen) != 0 || v[slen + secure] != ':')
                return set_errorf(ret_msg, "'%.*s%s' is not a %s:// or %ss:// URL", ECHO(v), scheme, scheme);
        rest = v + slen + secure + 1;
        if (!startswith(rest, "//"))
                return set_errorf(ret_msg, "'%.*s%s' is not a %s:// or %ss:// URL", ECHO(v), scheme, scheme);
        if (has_blank_or_control(v))
                return set_errorf(ret_msg, "URL '%.*s%s' contains a blank or a control character", ECHO(v));
        for (const char *p = v; *p; p++)
                if ((unsigned char) *p >= 0x80)
                        return set_errorf(ret_msg,
                                   "URL '%.*s%s' contains non-ASCII characters; percent-encode them",
                                   ECHO(v));

        host = rest + 2;
        end = host + strcspn(host, "/?#");
        if (memchr(host, '@', (size_t) (end - host)))
                /* They would be printed by --check-config and logged: use the secret keys. */
                return set_errorf(ret_msg, "credentials in URLs are not supported (URL '%.*s...')",
                           (int) (host - v), v);
        if (*host == '[') {
                const char *close = memchr(host, ']', (size_t) (end - host));
                if (!close || close == host + 1)
                        return set_errorf(ret_msg, "URL '%.*s%s' has an invalid IPv6 host", ECHO(v));
                for (const char *p = host + 1; p < close; p++)
                        if (!is_alnum(*p) && *p != ':' && *p != '.' && *p != '%')
                                return set_errorf(ret_msg, "URL '%.*s%s' has an invalid IPv6 host", ECHO(v));
                if (close + 1 < end) {
                        if (close[1] != ':')
                                return set_errorf(ret_msg, "URL '%.*s%s' has an invalid host", ECHO(v));
                        port = close + 2;
                }
        } else {
                const char *p;
                for (p = host; p < end && *p != ':'; p++)
                        if (!is_alnum(*p) && !strchr("-._~%", *p))
                                return set_errorf(ret_msg, "URL '%.*s%s' has an invalid host", ECHO(v));
                if (p == host)
                        return set_errorf(ret_msg, "URL '%.*s%s' has no host", ECHO(v));
                if (p < end)
                        port = p + 1;
        }
        if (port) {
                unsigned long pn = 0;
                const char *p;
                for (p = port; p < end && is_digit(*p) && pn <= 65535; p++)
                        pn = pn * 10 + (unsigned long) (*p - '0');
                if (p == port || p != end || pn < 1 || pn > 65535)
                        return set_errorf(ret_msg, "URL '%.*s%s' has an invalid port (1-65535)", ECHO(v));
        }
        return 0;
}

int gp_check_http_url(const char *v, char **ret_msg) {
        return check_url(v, "http", ret_msg);
}

int gp_check_ws_url(const char *v, char **ret_msg) {
        int r = check_url(v, "ws", ret_msg);
        if (r < 0)
                return r;
        if (strchr(v, '#'))  /* RFC 6455 3. */
                return set_errorf(ret_msg, "WebSocket URL '%.*s%s' must not have a fragment ('#')", ECHO(v));
        return 0;
}

static int check_template_text(const char *v, char **ret_msg) {
        _cleanup_free_ char *err = NULL;
        int r = gp_template_validate(v, &err);

        if (r == -EINVAL)
                return set_errorf(ret_msg, "%s", err);
        return r;
}

int gp_check_header(const char *v, char **ret_msg) {
        size_t n = strcspn(v, ":");
        const char *value = v + n + 1;

        /* Only the name is echoed: a header value may be a credential. */
        if (v[n] != ':')
                return set_errorf(ret_msg, "expected 'Name: value', got no ':' in header");
        if (!is_token(v, n))
                return set_errorf(ret_msg, "invalid header name '%.*s%s' (RFC 7230 token characters only)",
                           (int) MIN(n, (size_t) ECHO_MAX), v, n > ECHO_MAX ? "..." : "");
        while (is_blank(*value))
                value++;
        if (!*value)
                return set_errorf(ret_msg, "header '%.*s' has an empty value", (int) MIN(n, (size_t) ECHO_MAX), v);
        return check_template_text(value, ret_msg);
}

/* W3C Trace Context tracestate: list-members key=value separated by commas, printable ASCII
 * without ',' and '=' in values, at most 32 members and 512 bytes (the spec's limits). */
int gp_check_tracestate(const char *v, char **ret_msg) {
        size_t members = 0;

        if (strlen(v) > 512)
                return set_errorf(ret_msg, "TraceState= is longer than 512 bytes");
        for (const char *m = v; *m; ) {
                size_t n = strcspn(m, ","), eq = strcspn(m, "=");

                while (n > 0 && is_blank(m[n - 1]))
                        n--;
                if (eq == 0 || eq >= n || eq + 1 == n)
                        return set_errorf(ret_msg, "TraceState= member %zu is not key=value", members + 1);
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) m[i] < 0x20 || (unsigned char) m[i] > 0x7e ||
                            (i > eq && m[i] == '='))
                                return set_errorf(ret_msg, "TraceState= member %zu has a character the W3C "
                                                  "tracestate does not allow", members + 1);
                if (++members > 32)
                        return set_errorf(ret_msg, "TraceState= has more than 32 members");
                m += strcspn(m, ",");
                if (*m == ',')
                        m += 1 + strspn(m + 1, " \t");
        }
        return 0;
}

int gp_check_http_token(const char *v, char **ret_msg) {
        if (!is_token(v, strlen(v)))
                return set_errorf(ret_msg, "invalid HTTP method '%.*s%s'", ECHO(v));
        return 0;
}

int gp_check_json_path(const char *v, char **ret_msg) {
        const char *p = v;

        for (;;) {
                size_t n = strcspn(p, ".");
                if (n == 0)
                        return set_errorf(ret_msg, "invalid JSON path '%.*s%s': empty segment", ECHO(v));
                p += n;
                if (!*p)
                        break;
                p++;
        }
        if (has_blank_or_control(v))
                return set_errorf(ret_msg, "invalid JSON path '%.*s%s': blanks are not allowed", ECHO(v));
        return 0;
}

int gp_check_event_type(const char *v, char **ret_msg) {
        if (!*v || has_blank_or_control(v))
                return set_errorf(ret_msg, "invalid event type '%.*s%s'", ECHO(v));
        return 0;
}

int gp_check_absolute_path(const char *v, char **ret_msg) {
        size_t n = strlen(v);

        if (v[0] != '/')
                return set_errorf(ret_msg, "'%.*s%s' is not an absolute path", ECHO(v));
        if (v[n - 1] == '/')
                return set_errorf(ret_msg, "'%.*s%s' names a directory, not a file", ECHO(v));
        return 0;
}

int gp_check_credential_name(const char *v, char **ret_msg) {
        if (strchr(v, '/') || streq(v, ".") || streq(v, "..") || strlen(v) > 255 || has_blank_or_control(v))
                return set_errorf(ret_msg, "invalid credential name '%.*s%s'", ECHO(v));
        return 0;
}

int gp_check_probe_name(const char *v, char **ret_msg) {
        size_t n = strlen(v);

        /* It names files (NAME.json) and is a metrics label and a journal field. */
        if (n == 0 || n > 128 || v[0] == '.')
                return set_errorf(ret_msg, "invalid probe name '%.*s%s' (1-128 characters, not starting with '.')",
                           ECHO(v));
        for (const char *p = v; *p; p++)
                if (!is_alnum(*p) && !strchr("-_.", *p))
                        return set_errorf(ret_msg,
                                   "invalid probe name '%.*s%s' (letters, digits, '-', '_', '.' only)",
                                   ECHO(v));
        return 0;
}

int gp_check_template(const char *v, char **ret_msg) {
        static const gp_template_vars sample = {
                .user = "user", .password = "password", .token = "token", .run_id = "run",
                .thread_id = "thread", .prompt = "prompt", .name = "name", .index = 1,
        };
        _cleanup_free_ char *expanded = NULL, *err = NULL;
        json_error_t jerr;
        json_t *j;
        int r;

        r = check_template_text(v, ret_msg);
        if (r < 0 || !gp_template_is_json(v))
                return r;
        /* A JSON template must still be JSON once expanded. */
        r = gp_template_expand(v, &sample, GP_TEMPLATE_JSON, &expanded, &err);
        if (r == -EINVAL)
                return set_errorf(ret_msg, "%s", err);
        if (r < 0)
                return r;
        j = json_loads(expanded, 0, &jerr);
        if (!j) {
                /* jansson quotes the text "near" the error: it could be a literal secret. */
                char *near = strstr(jerr.text, " near ");
                if (near)
                        *near = '\0';
                return set_errorf(ret_msg, "not valid JSON (it starts with '%c'): %s at column %d",
                           *(v + strspn(v, " \t")), jerr.text, jerr.column);
        }
        json_decref(j);
        return 0;
}

int gp_check_capture(const char *v, char **ret_msg) {
        size_t n = strcspn(v, "=");
        _cleanup_free_ char *name = strndup(v, n);
        int r;

        if (!name)
                return -ENOMEM;
        if (v[n] != '=' || !gp_template_name_valid(v, n))
                return set_errorf(ret_msg, "invalid capture '%.*s%s' (expected NAME=JSON.PATH, NAME of letters, "
                                  "digits and '_')", ECHO(v));
        if (gp_template_name_builtin(name))
                return set_errorf(ret_msg, "capture name '%s' is a built-in variable (${%s})", name, name);
        r = gp_check_json_path(v + n + 1, ret_msg);
        return r;
}

int gp_check_query(const char *v, char **ret_msg) {
        size_t n = strcspn(v, "=");
        _cleanup_free_ char *name = strndup(v, n);
        int r;

        if (!name)
                return -ENOMEM;
        if (v[n] != '=' || n == 0)
                return set_errorf(ret_msg, "invalid query parameter '%.*s%s' (expected name=value, the value a "
                                  "template such as ${ticket})", ECHO(v));
        r = gp_check_query_param(name, ret_msg);
        if (r < 0)
                return r;
        return check_template_text(v + n + 1, ret_msg);
}

int gp_check_correlate(const char *v, char **ret_msg) {
        if (!streq(v, "learned") && !streq(v, "client"))
                return set_errorf(ret_msg, "invalid value '%.*s%s' (learned or client)", ECHO(v));
        return 0;
}

int gp_check_event_condition(const char *v, char **ret_msg) {
        gp_event_cond c = {0};
        int r = gp_event_cond_parse(v, &c, ret_msg);

        gp_event_cond_done(&c);
        return r;
}

int gp_check_query_param(const char *v, char **ret_msg) {
        for (const char *p = v; *p; p++)
                if (!is_alnum(*p) && !strchr("-._~", *p))
                        return set_errorf(ret_msg,
                                   "invalid query parameter name '%.*s%s' (letters, digits, '-._~')",
                                   ECHO(v));
        return 0;
}

int gp_check_listen(const char *v, char **ret_msg) {
        const char *colon = strrchr(v, ':'), *host = v, *hend;
        unsigned port;

        if (!colon || gp_parse_unsigned(colon + 1, 1, 65535, &port) < 0)
                return set_errorf(ret_msg, "invalid listen address '%.*s%s': expected host:port or [IPv6]:port "
                           "with a port 1-65535", ECHO(v));
        hend = colon;
        if (*v == '[') {
                if (hend[-1] != ']' || hend - v < 3)
                        return set_errorf(ret_msg, "invalid listen address '%.*s%s': unbalanced '['", ECHO(v));
                for (const char *p = v + 1; p < hend - 1; p++)
                        if (!is_alnum(*p) && *p != ':' && *p != '.' && *p != '%')
                                return set_errorf(ret_msg, "invalid listen address '%.*s%s': bad IPv6 address",
                                           ECHO(v));
                return 0;
        }
        if (host == hend)
                return set_errorf(ret_msg, "invalid listen address '%.*s%s': no host (use 0.0.0.0 or [::])",
                           ECHO(v));
        for (const char *p = host; p < hend; p++) {
                if (*p == ':')
                        return set_errorf(ret_msg, "invalid listen address '%.*s%s': put IPv6 addresses in []",
                                   ECHO(v));
                if (!is_alnum(*p) && *p != '.' && *p != '-' && *p != '_')
                        return set_errorf(ret_msg, "invalid listen address '%.*s%s': bad host", ECHO(v));
        }
        return 0;
}

/* glibc's regcomp copies the operand of every repetition before it builds the automaton
 * (x{2,5}: five copies, x+: two), so nested or stacked repetitions cost exponential memory:
 * "a++++...+" or "((a{99}){99}){99}" took over 2 GiB (found by fuzz-config). This bounds the
 * nodes it would build, without building them; a regex for a one-word response needs few. */
#define REGEX_MAX_NODES 20000.0

static const char *skip_bracket(const char *p) {  /* p after '['; returns the ']' or the end */
        if (*p == '^')
                p++;
        if (*p == ']')
                p++;
        for (; *p && *p != ']'; p++)
                if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
                        const char *end = strchr(p + 2, p[1]);

                        while (end && end[1] != ']')
                                end = strchr(end + 1, p[1]);
                        if (!end)
                                return p + strlen(p);
                        p = end + 1;
                }
        return p;
}

static double regex_nodes(const char *p) {
        /* Per open group: the nodes of its finished elements, and of the last one (which a
         * following repetition applies to). */
        double sum[64] = {0}, last[64] = {0};
        size_t depth = 0;

        for (; *p; p++) {
                double atom = 1;
                unsigned long m = 0, n = 0;
                char *end;

                switch (*p) {
                case '*':
                case '?':
                        last[depth] += 1;
                        continue;
                case '+':
                        last[depth] = 2 * last[depth] + 1;
                        continue;
                case '{':
                        if (!is_digit(p[1]))
                                break;
                        m = n = strtoul(p + 1, &end, 10);
                        if (*end == ',') {
                                end++;
                                /* {m,}: m copies and a starred one */
                                n = is_digit(*end) ? strtoul(end, &end, 10) : m + 1;
                        }
                        if (*end != '}')
                                break;
                        last[depth] = last[depth] * (double) MAX(MAX(m, n), 1UL) + 1;
                        p = end;
                        continue;
                case '|':
                        sum[depth] += last[depth] + 1;
                        last[depth] = 0;
                        continue;
                case '(':
                        if (depth + 1 >= ELEMENTSOF(sum))
                                return REGEX_MAX_NODES + 1;
                        sum[depth] += last[depth];
                        last[depth] = 0;
                        depth++;
                        sum[depth] = last[depth] = 0;
                        continue;
                case ')':
                        if (depth == 0)
                                break;
                        atom = sum[depth] + last[depth] + 1;
                        depth--;
                        sum[depth] += last[depth];
                        last[depth] = atom;
                        continue;
                case '[':
                        p = skip_bracket(p + 1);
                        if (!*p)
                                p--;
                        break;
                case '\\':
                        if (p[1])
                                p++;
                        break;
                default:
                        break;
                }
                sum[depth] += last[depth];
                last[depth] = atom;
                if (sum[depth] + last[depth] > REGEX_MAX_NODES)
                        return REGEX_MAX_NODES + 1;
        }
        while (depth > 0) {  /* unbalanced: regcomp refuses it, after building what came before */
                last[depth - 1] += sum[depth] + last[depth];
                depth--;
        }
        return sum[0] + last[0];
}

int gp_check_regex(const char *v, char **ret_msg) {
        regex_t re;
        char err[256];
        int r;

        if (regex_nodes(v) > REGEX_MAX_NODES)
                return set_errorf(ret_msg, "regular expression '%.*s%s' too complex: its repetitions would expand "
                           "to more than %.0f nodes", ECHO(v), REGEX_MAX_NODES);
        r = regcomp(&re, v, REG_EXTENDED);

        if (r == 0) {
                regfree(&re);
                return 0;
        }
        if (r == REG_ESPACE)
                return -ENOMEM;
        regerror(r, &re, err, sizeof(err));
        return set_errorf(ret_msg, "invalid regular expression '%.*s%s': %s", ECHO(v), err);
}

int gp_check_password(const char *v, char **ret_msg) {
        if (strlen(v) < GP_SECRET_MIN)
                return set_errorf(ret_msg, "the secret is shorter than %d bytes (not shown): failure "
                                  "reasons could not be redacted without garbling them", GP_SECRET_MIN);
        return 0;
}

int gp_check_secret(const char *v, char **ret_msg) {
        if (has_blank_or_control(v))
                return set_errorf(ret_msg, "the value contains blanks (not shown: it is a secret)");
        return gp_check_password(v, ret_msg);
}

bool gp_header_is_sensitive(const char *header) {
        static const char * const words[] = { "authorization", "cookie", "token", "secret",
                                              "password", "apikey", "api-key", "auth", "session" };
        size_t n = strcspn(header, ":");

        for (size_t i = 0; i < ELEMENTSOF(words); i++) {
                size_t w = strlen(words[i]);
                for (size_t j = 0; j + w <= n; j++)
                        if (strncasecmp(header + j, words[i], w) == 0)
                                return true;
        }
        return false;
}

bool gp_header_value_is_template_only(const char *header) {
        const char *p = strchr(header, ':');

        if (!p)
                return false;
        p++;
        while (is_blank(*p))
                p++;
        /* An optional scheme word: "Bearer ${token}", "Basic ${env:CREDS}". */
        {
                const char *w = p;
                while (is_alnum(*w))
                        w++;
                if (w > p && is_blank(*w)) {
                        while (is_blank(*w))
                                w++;
                        if (startswith(w, "${"))
                                p = w;
                }
        }
        while (*p) {
                if (is_blank(*p)) {
                        p++;
                } else if (startswith(p, "${")) {
                        const char *end = strchr(p, '}');
                        if (!end)
                                return false;
                        p = end + 1;
                } else
                        return false;
        }
        return true;
}

int gp_header_list_set(char ***l, const char *header) {
        size_t n = strcspn(header, ":");

        for (char **i = *l; i && *i; i++)
                if (strncasecmp(*i, header, n) == 0 && (*i)[n] == ':') {
                        char *s = strdup(header);

                        if (!s)
                                return -ENOMEM;
                        /* The value replaced may be a literal credential. */
                        secret_free(*i);
                        *i = s;
                        return 0;
                }
        return strv_extend(l, header);
}
