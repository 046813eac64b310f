/* SPDX-License-Identifier: MIT */
/* gpprobectl's status source seam and its HTTP glue: a probe's status comes from DIR/NAME.json or,
 * with --url, from gpprobed's HTTPS API (GET /status), and either way goes through the same reader
 * (statusfile-read.c), so a gate decides the same on the same document. Fails closed: a transport
 * failure, a TLS failure, a refused token, a status other than 200 or a body that is not the schema
 * is an error naming the URL, never a status. The bearer token is read from a file, sent only in a
 * header, and wiped; it never reaches argv, stdout or stderr. */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-internal.h"
#include "fileio.h"

#define HTTP_CONNECT_TIMEOUT_MS 10000L
#define HTTP_TIMEOUT_MS 30000L
#define TOKEN_FILE_MAX ((size_t) 64 * 1024)

typedef struct sink {
        gp_buf buf;
        size_t max;
        bool too_large;
} sink;

static size_t on_data(char *data, size_t size, size_t n, void *userdata) {
        sink *s = userdata;

        if (s->buf.len + n > s->max) {
                s->too_large = true;
                return 0;
        }
        if (gp_buf_append(&s->buf, data, n) < 0)
                return 0;
        return n;
}

void gp_ctl_reply_done(gp_ctl_reply *r) {
        free(r->body);
        *r = (gp_ctl_reply) {0};
}

/* A server that echoes the token back (in an error message, say) must not get it printed. */
static void redact_token(gp_buf *body, const struct curl_slist *headers) {
        const char *token;
        char *p, *end;
        size_t n;

        if (!headers || !body->data)
                return;
        token = headers->data + strlen("Authorization: Bearer ");
        n = strlen(token);
        end = body->data + body->len;
        for (char *at = body->data; (p = memmem(at, (size_t) (end - at), token, n)); at = p + n)
                memset(p, '*', n);
}

static void slist_free_secret(struct curl_slist *l) {
        for (struct curl_slist *i = l; i; i = i->next)
                explicit_bzero(i->data, strlen(i->data));
        curl_slist_free_all(l);
}

/* The header with the token of --token-file (else $GPPROBECTL_TOKEN_FILE); *ret NULL without one. */
static int token_header(const gp_ctl_args *a, struct curl_slist **ret, char **ret_error) {
        const char *path = a->token_file ? a->token_file : getenv("GPPROBECTL_TOKEN_FILE");
        _cleanup_secret_ char *data = NULL, *header = NULL;
        size_t len = 0, n;
        int r;

        *ret = NULL;
        if (isempty(path))
                return 0;
        r = gp_read_full_file(path, TOKEN_FILE_MAX, GP_READ_SECRET, &data, &len, NULL);
        if (r < 0) {
                set_errorf(ret_error, "token file %s: %s", path,
                           r == -EBADFD || r == -EISDIR ? "not a regular file" : strerror(-r));
                return -ENOKEY;
        }
        n = strcspn(data, "\r\n");
        data[n] = '\0';
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) data[i] <= ' ' || (unsigned char) data[i] == 0x7f) {
                        set_errorf(ret_error, "token file %s: the token has a blank or control character", path);
                        return -ENOKEY;
                }
        if (n == 0) {
                set_errorf(ret_error, "token file %s: the first line is empty", path);
                return -ENOKEY;
        }
        header = strdup_printf("Authorization: Bearer %s", data);
        if (!header || !(*ret = curl_slist_append(NULL, header)))
                return -ENOMEM;
        return 0;
}

/* http:// only to loopback: a token or a status must not cross a network in clear text. Prometheus
 * (plain_ok) is often plain HTTP inside a network, and is asked nothing secret without a token. */
static int check_url(const char *url, bool plain_ok, char **ret_error) {
        CURLU *u = curl_url();
        char *scheme = NULL, *host = NULL;
        int r = 0;

        if (!u)
                return -ENOMEM;
        if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
            curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
                r = set_errorf(ret_error, "%s: not a URL (e.g. https://probe-host:9478)", url);
        else if (!streq(scheme, "https") && !streq(scheme, "http"))
                r = set_errorf(ret_error, "%s: not an https:// (or loopback http://) URL", url);
        else if (streq(scheme, "http") && !plain_ok && !streq(host, "localhost") && !startswith(host, "127.") &&
                 !streq(host, "[::1]"))
                r = set_errorf(ret_error, "%s: plain http:// only to loopback (no token or status in clear "
                               "text on a network); use https://", url);
        curl_free(scheme);
        curl_free(host);
        curl_url_cleanup(u);
        return r;
}

static int transport_error(CURLcode c, const char *url, const char *detail, const char *hint, char **ret_error) {
        const char *what = *detail ? detail : curl_easy_strerror(c);

        switch (c) {
        case CURLE_COULDNT_RESOLVE_HOST:
                set_errorf(ret_error, "%s: cannot resolve the host: %s", url, what);
                return -EHOSTUNREACH;
        case CURLE_COULDNT_CONNECT:
                set_errorf(ret_error, "%s: unreachable: %s%s", url, what, hint);
                return -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                set_errorf(ret_error, "%s: no answer in time: %s", url, what);
                return -ETIMEDOUT;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_CLIENTCERT:
                set_errorf(ret_error, "%s: TLS failure: %s", url, what);
                return -EKEYREJECTED;
        default:
                set_errorf(ret_error, "%s: %s", url, what);
                return -EIO;
        }
}

int gp_ctl_http(const gp_ctl_args *a, const char *base, const char *method, const char *path, size_t max,
                gp_ctl_reply *ret, char **ret_error) {
        _cleanup_free_ char *url = NULL, *shown = NULL;
        struct curl_slist *headers = NULL;
        char detail[CURL_ERROR_SIZE] = "";
        sink s = { .max = max };
        size_t n = strlen(base);
        CURLcode c;
        CURL *h;
        long status = 0;
        int r;

        while (n > 0 && base[n - 1] == '/')
                n--;
        url = strdup_printf("%.*s%s", (int) n, base, path);
        /* Messages name the URL without its query (Prometheus' is long, and says nothing new). */
        shown = url ? strndup(url, strcspn(url, "?")) : NULL;
        if (!shown)
                return -ENOMEM;
        r = token_header(a, &headers, ret_error);
        if (r < 0)
                return r;
        r = check_url(url, !headers && a->prometheus && streq(base, a->prometheus), ret_error);
        if (r < 0) {
                slist_free_secret(headers);
                return r;
        }
        h = curl_easy_init();
        if (!h) {
                slist_free_secret(headers);
                return -ENOMEM;
        }
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, HTTP_CONNECT_TIMEOUT_MS);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, HTTP_TIMEOUT_MS);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, detail);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "gpprobectl");
        if (streq(method, "POST")) {
                curl_easy_setopt(h, CURLOPT_POST, 1L);
                curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
                curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
        }
        if (headers)
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        if (a->cacert)
                curl_easy_setopt(h, CURLOPT_CAINFO, a->cacert);
        if (a->cert)
                curl_easy_setopt(h, CURLOPT_SSLCERT, a->cert);
        if (a->key)
                curl_easy_setopt(h, CURLOPT_SSLKEY, a->key);
        c = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(h);
        redact_token(&s.buf, headers);
        slist_free_secret(headers);
        if (s.too_large) {
                gp_buf_free(&s.buf);
                set_errorf(ret_error, "%s: the reply is larger than %zu bytes", shown, max);
                return -EFBIG;
        }
        if (c != CURLE_OK) {
                gp_buf_free(&s.buf);
                return transport_error(c, shown, detail,
                                       a->url && streq(base, a->url) ? " (is gpprobed running with its API on?)" : "",
                                       ret_error);
        }
        if (gp_buf_append(&s.buf, "", 0) < 0) {  /* an empty body still gets its NUL */
                gp_buf_free(&s.buf);
                return -ENOMEM;
        }
        *ret = (gp_ctl_reply) { .status = status, .body = s.buf.data, .len = s.buf.len };
        return 0;
}

/* A status other than the one expected, as an error: 401/403 are the credentials (permanent). */
static int status_error(const char *url, const gp_ctl_reply *rep, char **ret_error) {
        char excerpt[121];
        size_t n = 0;

        for (size_t i = 0; i < rep->len && n < sizeof(excerpt) - 1; i++)
                excerpt[n++] = rep->body[i] >= ' ' && rep->body[i] < 0x7f ? rep->body[i] : ' ';
        excerpt[n] = '\0';
        if (rep->status == 401 || rep->status == 403) {
                set_errorf(ret_error, "%s: HTTP %ld: the server refused the credentials (--token-file, "
                           "--cert/--key)", url, rep->status);
                return -EACCES;
        }
        set_errorf(ret_error, "%s: HTTP %ld instead of 200%s%s", url, rep->status, n ? ": " : "", excerpt);
        return -EPROTO;
}

int gp_ctl_load_status(const gp_ctl_args *a, const char *name, gp_status_file **ret, char **ret_error) {
        _cleanup_(gp_ctl_reply_done) gp_ctl_reply rep = {0};
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *path = NULL, *url = NULL, *err = NULL;
        int r;

        if (!a->url) {
                path = gp_ctl_status_path(a, name);
                if (!path)
                        return -ENOMEM;
                return gp_status_file_load(path, ret, ret_error);
        }
        url = gp_ctl_source_name(a, name);
        if (!url)
                return -ENOMEM;
        r = gp_ctl_http(a, a->url, "GET", "/status", GP_STATUS_FILE_MAX, &rep, ret_error);
        if (r < 0)
                return r;
        if (rep.status != 200)
                return status_error(url, &rep, ret_error);
        r = gp_status_file_parse(rep.body, rep.len, &sf, &err);
        if (r < 0) {
                if (ret_error)
                        *ret_error = strdup_printf("%s: %s", url, err ? err : strerror(-r));
                return r;
        }
        if (name && !streq(sf->name, name)) {
                set_errorf(ret_error, "%s: the server's probe is '%s', not '%s'", url, sf->name, name);
                return -ESRCH;
        }
        *ret = TAKE_PTR(sf);
        return 0;
}

bool gp_ctl_error_is_permanent(int r) {
        return r == -EACCES || r == -EKEYREJECTED || r == -ENOKEY || r == -ESRCH;
}

char *gp_ctl_source_name(const gp_ctl_args *a, const char *name) {
        size_t n;

        if (!a->url)
                return gp_ctl_status_path(a, name);
        n = strlen(a->url);
        while (n > 0 && a->url[n - 1] == '/')
                n--;
        return strdup_printf("%.*s/status", (int) n, a->url);
}
