/* SPDX-License-Identifier: MIT */
#include "redact.h"
#include "util.h"

static size_t index_of(const char *seg, size_t n, bool *ok) {
        size_t i = 0;

        *ok = n > 0;
        for (size_t k = 0; *ok && k < n; k++) {
                if (seg[k] < '0' || seg[k] > '9' || i > (SIZE_MAX - 9) / 10)
                        *ok = false;
                else
                        i = i * 10 + (size_t) (seg[k] - '0');
        }
        return i;
}

/* Redacts the value at the segment p (n bytes) of v, or walks on to rest. */
static size_t redact_at(json_t *v, const char *p);

static size_t redact_child(json_t *parent, const char *key, size_t idx, json_t *c, const char *rest) {
        if (rest)
                return redact_at(c, rest);
        if (json_is_string(c) && streq(json_string_value(c), GP_REDACTED))
                return 0;
        if (key)
                return json_object_set_new(parent, key, json_string(GP_REDACTED)) == 0;
        return json_array_set_new(parent, idx, json_string(GP_REDACTED)) == 0;
}

static size_t redact_at(json_t *v, const char *p) {
        size_t n = strcspn(p, "."), count = 0, i;
        const char *rest = p[n] == '.' ? p + n + 1 : NULL;
        _cleanup_free_ char *key = NULL;
        bool ok;

        if (n == 0)
                return 0;
        if (n == 1 && p[0] == '*') {
                if (json_is_object(v)) {
                        const char *k;
                        json_t *c;
                        void *tmp;

                        json_object_foreach_safe(v, tmp, k, c)
                                count += redact_child(v, k, 0, c, rest);
                } else if (json_is_array(v))
                        for (i = 0; i < json_array_size(v); i++)
                                count += redact_child(v, NULL, i, json_array_get(v, i), rest);
                return count;
        }
        if (json_is_array(v)) {
                i = index_of(p, n, &ok);
                return ok && i < json_array_size(v) ? redact_child(v, NULL, i, json_array_get(v, i), rest) : 0;
        }
        if (!json_is_object(v))
                return 0;
        key = strndup(p, n);
        if (!key || !json_object_get(v, key))
                return 0;
        return redact_child(v, key, 0, json_object_get(v, key), rest);
}

size_t gp_json_redact_paths(json_t *root, char * const *paths) {
        size_t count = 0;

        STRV_FOREACH(p, paths)
                count += redact_at(root, *p);
        return count;
}

/* Whether text may hold a value at one of paths: the last segment of one, quoted as a key, is
 * in it (or the segment is "*" or an index, or a key may be escaped). Parsing every frame of a
 * passing run for nothing would be most of a transcript's cost. */
static bool may_match(const char *text, size_t len, char * const *paths) {
        if (memmem(text, len, "\\u", 2))
                return true;
        STRV_FOREACH(p, paths) {
                const char *last = strrchr(*p, '.') ? strrchr(*p, '.') + 1 : *p;
                size_t n = strlen(last);
                _cleanup_free_ char *quoted = NULL;

                if (streq(last, "*") || strspn(last, "0123456789") == n)
                        return true;
                quoted = strdup_printf("\"%s\"", last);
                if (!quoted || memmem(text, len, quoted, n + 2))
                        return true;
        }
        return false;
}

char *gp_json_text_redact_paths(const char *text, size_t len, char * const *paths) {
        json_t *root;
        char *out = NULL;

        if (!paths || !*paths || !text || !may_match(text, len, paths))
                return NULL;
        root = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!root)
                return NULL;
        if (gp_json_redact_paths(root, paths) > 0)
                out = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(root);
        return out;
}
