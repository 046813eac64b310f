/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "util.h"

const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);
        return strncmp(s, prefix, l) == 0 ? s + l : NULL;
}

char *strdup_vprintf(const char *fmt, va_list ap) {
        char *s = NULL;

        return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

char *strdup_printf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        s = strdup_vprintf(fmt, ap);
        va_end(ap);
        return s;
}

int set_errorf(char **ret_error, const char *fmt, ...) {
        va_list ap;
        char *s;

        if (!ret_error)
                return -EINVAL;
        va_start(ap, fmt);
        s = strdup_vprintf(fmt, ap);
        va_end(ap);
        if (!s)
                return -ENOMEM;
        *ret_error = s;
        return -EINVAL;
}

void secret_free(char *s) {
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

size_t strv_length(char * const *l) {
        size_t n = 0;
        while (l && l[n])
                n++;
        return n;
}

void strv_free(char **l) {
        for (char **i = l; i && *i; i++)
                free(*i);
        free(l);
}

void strv_free_secret(char **l) {
        for (char **i = l; i && *i; i++)
                secret_free(*i);
        free(l);
}

int strv_consume(char ***l, char *value) {
        size_t n = strv_length(*l);
        char **nl;

        if (!value)
                return -ENOMEM;
        nl = realloc(*l, sizeof(char *) * (n + 2));
        if (!nl) {
                free(value);
                return -ENOMEM;
        }
        nl[n] = value;
        nl[n + 1] = NULL;
        *l = nl;
        return 0;
}

int strv_extend(char ***l, const char *value) {
        return strv_consume(l, strdup(value));
}

bool strv_contains(char * const *l, const char *s) {
        STRV_FOREACH(i, l)
                if (streq(*i, s))
                        return true;
        return false;
}

char **strv_copy(char * const *l) {
        char **c = calloc(strv_length(l) + 1, sizeof(char *));
        size_t n = 0;

        if (!c)
                return NULL;
        STRV_FOREACH(i, l) {
                c[n] = strdup(*i);
                if (!c[n]) {
                        strv_free(c);
                        return NULL;
                }
                n++;
        }
        return c;
}

char **strv_split_blank(const char *s) {
        char **l = calloc(1, sizeof(char *));
        const char *p = s;

        if (!l)
                return NULL;
        while (p && *p) {
                size_t n;

                p += strspn(p, " \t");
                n = strcspn(p, " \t");
                if (n == 0)
                        break;
                if (strv_consume(&l, strndup(p, n)) < 0) {
                        strv_free(l);
                        return NULL;
                }
                p += n;
        }
        return l;
}

char *strv_join(char * const *l, const char *sep) {
        gp_buf b = {0};
        bool first = true;

        if (gp_buf_append(&b, "", 0) < 0)
                return NULL;
        STRV_FOREACH(i, l) {
                if ((!first && gp_buf_append(&b, sep, strlen(sep)) < 0) ||
                    gp_buf_append(&b, *i, strlen(*i)) < 0) {
                        gp_buf_free(&b);
                        return NULL;
                }
                first = false;
        }
        return b.data;
}

static int cmp_strings(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

void strv_sort(char **l) {
        if (l)
                qsort(l, strv_length(l), sizeof(char *), cmp_strings);
}

int gp_buf_append(gp_buf *b, const void *data, size_t len) {
        if (b->len + len + 1 > b->cap) {
                size_t cap = MAX(b->cap * 2, b->len + len + 1);
                char *d;

                cap = MAX(cap, (size_t) 64);
                d = realloc(b->data, cap);
                if (!d)
                        return -ENOMEM;
                b->data = d;
                b->cap = cap;
        }
        if (len > 0)
                memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = '\0';
        return 0;
}

int gp_buf_printf(gp_buf *b, const char *fmt, ...) {
        va_list ap;
        _cleanup_free_ char *s = NULL;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0) {
                s = NULL;
                return -ENOMEM;
        }
        return gp_buf_append(b, s, (size_t) r);
}

bool strv_equal(char * const *a, char * const *b) {
        size_t n = strv_length(a);

        if (n != strv_length(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

void gp_buf_reset(gp_buf *b) {
        b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

void gp_buf_truncate(gp_buf *b, size_t len) {
        if (len < b->len) {
                b->len = len;
                b->data[len] = '\0';
        }
}

void gp_buf_free(gp_buf *b) {
        free(b->data);
        *b = (gp_buf) {0};
}

/* RFC 4648 section 5 (URL and file name safe), without padding, as browsers' clients send a
 * token inside a subprotocol name. */
char *base64url_encode(const char *s) {
        static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        const unsigned char *p = (const unsigned char *) s;
        size_t n = strlen(s), o = 0;
        char *out = malloc(n / 3 * 4 + 5);

        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t v = (uint32_t) p[i] << 16 | (i + 1 < n ? (uint32_t) p[i + 1] << 8 : 0) |
                             (i + 2 < n ? p[i + 2] : 0);

                out[o++] = a[v >> 18 & 63];
                out[o++] = a[v >> 12 & 63];
                if (i + 1 < n)
                        out[o++] = a[v >> 6 & 63];
                if (i + 2 < n)
                        out[o++] = a[v & 63];
        }
        out[o] = '\0';
        return out;
}
