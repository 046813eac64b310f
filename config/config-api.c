/* SPDX-License-Identifier: MIT */
/* [API]: the files of the HTTPS API, as paths or systemd credentials, and the bearer tokens. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "config-internal.h"
#include "fileio.h"
#include "util.h"

#define TOKENS_FILE_MAX ((size_t) 64 * 1024)
#define TOKEN_MAX 1024
#define TOKENS_MAX 256

int gp_check_path_or_credential(const char *v, char **ret_msg) {
        return v[0] == '/' ? gp_check_absolute_path(v, ret_msg) : gp_check_credential_name(v, ret_msg);
}

bool gp_listen_is_loopback(const char *address) {
        const char *colon = strrchr(address, ':');
        _cleanup_free_ char *host = NULL;
        struct in6_addr a6;
        struct in_addr a4;

        if (!colon)
                return false;
        if (address[0] == '[')
                host = strndup(address + 1, (size_t) MAX(colon - address - 2, 0));
        else
                host = strndup(address, (size_t) (colon - address));
        if (!host)
                return false;
        if (streq(host, "localhost"))
                return true;
        if (inet_pton(AF_INET, host, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) == 127;
        return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static const char *where_file(const gp_config *c, const gp_key_where *w) {
        return w->line > 0 ? w->file : c->path;
}

/* An absolute path as it is; a credential name under $CREDENTIALS_DIRECTORY. */
static int resolve(gp_config *c, key_id k, const char *value, const gp_key_where *where, gp_diags *d,
                   char **ret) {
        const gp_key_where *w = &where[k];
        const char *dir;

        if (!value)
                return 0;
        if (value[0] == '/') {
                *ret = strdup(value);
                return *ret ? 0 : -ENOMEM;
        }
        dir = getenv("CREDENTIALS_DIRECTORY");
        if (isempty(dir)) {
                gp_diags_add(d, where_file(c, w), w->line, false,
                             "%s=%s names a credential but $CREDENTIALS_DIRECTORY is not set: pass it with "
                             "LoadCredential=%s:/path/to/file in the service unit, or give an absolute path",
                             gp_config_keys[k].name, value, value);
                return -EINVAL;
        }
        *ret = strdup_printf("%s/%s", dir, value);
        return *ret ? 0 : -ENOMEM;
}

/* One token per line; blank lines and lines starting with '#' are skipped. */
static int parse_tokens(gp_config *c, const char *path, const char *text, size_t len, const gp_key_where *w,
                        gp_diags *d) {
        _cleanup_strv_free_secret_ char **list = NULL;
        size_t n = 0, line = 0;

        for (const char *p = text, *end = text + len; p < end; ) {
                const char *nl = memchr(p, '\n', (size_t) (end - p)), *e = nl ? nl : end, *s = p;
                char **grown;

                line++;
                p = nl ? nl + 1 : end;
                while (s < e && is_blank(*s))
                        s++;
                while (e > s && (is_blank(e[-1]) || e[-1] == '\r'))
                        e--;
                if (s == e || *s == '#')
                        continue;
                if (memchr(s, '\0', (size_t) (e - s)) || (size_t) (e - s) > TOKEN_MAX ||
                    (size_t) (e - s) < GP_SECRET_MIN) {
                        gp_diags_add(d, where_file(c, w), w->line, false,
                                     "Tokens= %s, line %zu: a token must be %d to %d bytes without NUL", path,
                                     line, GP_SECRET_MIN, TOKEN_MAX);
                        return -EINVAL;
                }
                for (const char *q = s; q < e; q++)
                        if ((unsigned char) *q <= ' ' || *q == 0x7f) {
                                gp_diags_add(d, where_file(c, w), w->line, false,
                                             "Tokens= %s, line %zu: a token cannot contain blanks or control "
                                             "characters", path, line);
                                return -EINVAL;
                        }
                if (n == TOKENS_MAX) {
                        gp_diags_add(d, where_file(c, w), w->line, false, "Tokens= %s: more than %d tokens",
                                     path, TOKENS_MAX);
                        return -EINVAL;
                }
                grown = realloc(list, (n + 2) * sizeof(char *));
                if (!grown)
                        return -ENOMEM;
                list = grown;
                list[n] = strndup(s, (size_t) (e - s));
                list[n + 1] = NULL;
                if (!list[n])
                        return -ENOMEM;
                n++;
        }
        if (n == 0) {
                gp_diags_add(d, where_file(c, w), w->line, false, "Tokens= %s holds no token", path);
                return -EINVAL;
        }
        strv_free_secret(c->api_token_list);
        c->api_token_list = TAKE_PTR(list);
        return 0;
}

static int load_tokens(gp_config *c, const gp_key_where *where, gp_diags *d) {
        const gp_key_where *w = &where[K_API_TOKENS];
        _cleanup_free_ char *path = NULL;
        char *text = NULL;
        struct stat st;
        size_t len = 0;
        int r;

        r = resolve(c, K_API_TOKENS, c->api_tokens, where, d, &path);
        if (r < 0 || !path)
                return r;
        r = gp_read_full_file(path, TOKENS_FILE_MAX, GP_READ_SECRET, &text, &len, &st);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                gp_diags_add(d, where_file(c, w), w->line, false, "cannot read Tokens= %s: %s", path,
                             strerror(-r));
                return -EINVAL;
        }
        if (c->api_tokens[0] == '/' && (st.st_mode & 0044))
                gp_diags_add(d, where_file(c, w), w->line, true, "Tokens= %s is readable by group or others "
                             "(mode %04o)", path, (unsigned) (st.st_mode & 07777));
        r = parse_tokens(c, path, text, len, w, d);
        explicit_bzero(text, len);
        free(text);
        return r;
}

int gp_config_load_api(gp_config *c, const gp_key_where *where, gp_diags *d) {
        int r;

        if ((r = resolve(c, K_API_TLS_CERTIFICATE, c->api_tls_certificate, where, d, &c->api_tls_certificate_path)) < 0 ||
            (r = resolve(c, K_API_TLS_KEY, c->api_tls_key, where, d, &c->api_tls_key_path)) < 0 ||
            (r = resolve(c, K_API_CLIENT_CA, c->api_client_ca, where, d, &c->api_client_ca_path)) < 0 ||
            (r = resolve(c, K_API_CLIENT_CRL, c->api_client_crl, where, d, &c->api_client_crl_path)) < 0)
                return r;
        return load_tokens(c, where, d);
}
