/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "jsonpath.h"
#include "util.h"

int gp_json_path_validate(const char *path) {
        if (isempty(path))
                return -EINVAL;
        for (const char *p = path;; p++) {
                /* a segment starts at p: it must not be empty */
                if (*p == '.' || *p == '\0')
                        return -EINVAL;
                p += strcspn(p, ".");
                if (*p == '\0')
                        return 0;
        }
}

/* A segment of digits only, as an array index; false when it is not one or does not fit. */
static bool parse_index(const char *seg, size_t n, size_t *ret) {
        size_t i = 0;

        for (size_t k = 0; k < n; k++) {
                if (seg[k] < '0' || seg[k] > '9')
                        return false;
                if (i > (SIZE_MAX - 9) / 10)
                        return false;
                i = i * 10 + (size_t) (seg[k] - '0');
        }
        *ret = i;
        return true;
}

static json_t *object_getn(json_t *o, const char *key, size_t n) {
#if JANSSON_VERSION_HEX >= 0x020e00
        return json_object_getn(o, key, n);
#else
        /* jansson < 2.14 has no json_object_getn() */
        _cleanup_free_ char *k = strndup(key, n);

        return k ? json_object_get(o, k) : NULL;
#endif
}

static json_t *child(json_t *v, const char *seg, size_t n) {
        size_t i;

        if (json_is_array(v))
                return parse_index(seg, n, &i) ? json_array_get(v, i) : NULL;
        if (json_is_object(v))
                return object_getn(v, seg, n);
        return NULL;
}

json_t *gp_json_path_get(json_t *root, const char *path) {
        json_t *v = root;

        if (!root || gp_json_path_validate(path) < 0)
                return NULL;
        for (const char *p = path; v; p++) {
                size_t n = strcspn(p, ".");

                v = child(v, p, n);
                p += n;
                if (*p == '\0')
                        break;
        }
        return v;
}

const char *gp_json_path_first_string(json_t *root, char * const *paths, bool non_empty) {
        STRV_FOREACH(p, paths) {
                json_t *v = gp_json_path_get(root, *p);

                if (!json_is_string(v))
                        continue;
                if (non_empty && json_string_length(v) == 0)
                        continue;
                return json_string_value(v);
        }
        return NULL;
}
