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

/* Walks path from v; a "*" segment tries every member (in order) or element. Calls found for
 * each value reached until it returns true; buf collects the concrete path walked so far. */
typedef bool (*path_found_fn)(json_t *v, const char *concrete, void *ud);

static bool walk(json_t *v, const char *p, gp_buf *buf, path_found_fn found, void *ud) {
        size_t n = strcspn(p, "."), mark = buf->len;
        const char *rest = p[n] == '.' ? p + n + 1 : NULL;
        bool done = false;

        if (n == 1 && p[0] == '*' && (json_is_object(v) || json_is_array(v))) {
                void *it = json_object_iter(v);  /* NULL for an array */

                for (size_t i = 0; !done && (json_is_array(v) ? i < json_array_size(v) : it != NULL); i++) {
                        json_t *c;

                        if (it) {
                                gp_buf_printf(buf, "%s%s", mark ? "." : "", json_object_iter_key(it));
                                c = json_object_iter_value(it);
                                it = json_object_iter_next(v, it);
                        } else {
                                gp_buf_printf(buf, "%s%zu", mark ? "." : "", i);
                                c = json_array_get(v, i);
                        }
                        done = rest ? walk(c, rest, buf, found, ud) : found(c, buf->data, ud);
                        gp_buf_truncate(buf, mark);
                }
                return done;
        }
        v = child(v, p, n);
        if (!v)
                return false;
        gp_buf_printf(buf, "%s%.*s", mark ? "." : "", (int) n, p);
        done = rest ? walk(v, rest, buf, found, ud) : found(v, buf->data, ud);
        gp_buf_truncate(buf, mark);
        return done;
}

static bool take_first(json_t *v, const char *concrete, void *ud) {
        *(json_t **) ud = v;
        return true;
}

json_t *gp_json_path_get(json_t *root, const char *path) {
        json_t *v = root;

        if (!root || gp_json_path_validate(path) < 0)
                return NULL;
        if (strchr(path, '*')) {
                gp_buf buf = {0};
                json_t *hit = NULL;

                walk(root, path, &buf, take_first, &hit);
                gp_buf_free(&buf);
                return hit;
        }
        for (const char *p = path; v; p++) {
                size_t n = strcspn(p, ".");

                v = child(v, p, n);
                p += n;
                if (*p == '\0')
                        break;
        }
        return v;
}

typedef struct find_ctx {
        gp_json_path_pred pred;
        json_t *hit;
        char *concrete;
} find_ctx;

static bool take_matching(json_t *v, const char *concrete, void *ud) {
        find_ctx *f = ud;

        if (!f->pred(v))
                return false;
        f->hit = v;
        f->concrete = strdup(strempty(concrete));
        return true;
}

json_t *gp_json_path_find(json_t *root, char * const *paths, gp_json_path_pred pred, char **ret_path) {
        STRV_FOREACH(p, paths) {
                find_ctx f = { .pred = pred };
                gp_buf buf = {0};

                if (!root || gp_json_path_validate(*p) < 0)
                        continue;
                walk(root, *p, &buf, take_matching, &f);
                gp_buf_free(&buf);
                if (f.hit) {
                        if (ret_path)
                                *ret_path = f.concrete;
                        else
                                free(f.concrete);
                        return f.hit;
                }
        }
        if (ret_path)
                *ret_path = NULL;
        return NULL;
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

static bool value_equals(json_t *v, const char *want) {
        char buf[64];

        if (json_is_string(v))
                return streq(json_string_value(v), want);
        if (json_is_true(v))
                return streq(want, "true");
        if (json_is_false(v))
                return streq(want, "false");
        if (json_is_null(v))
                return streq(want, "null");
        if (json_is_integer(v)) {
                snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return streq(buf, want);
        }
        if (json_is_real(v)) {
                /* numerically: "3" matches 3.0, "0.1" matches 0.1 */
                char *end;
                double w = strtod(want, &end);

                return end != want && *end == '\0' && w == json_real_value(v);
        }
        return false;
}

bool gp_json_event_cond_holds(const gp_event_cond *c, json_t *root, const char *type) {
        json_t *v;

        if (!type || !streq(c->type, type))
                return false;
        if (!c->path)
                return true;
        v = gp_json_path_get(root, c->path);
        if (!v)
                return false;
        return c->value ? value_equals(v, c->value) : !json_is_null(v);
}
