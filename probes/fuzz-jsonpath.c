/* SPDX-License-Identifier: MIT */
/* libFuzzer target: dotted JSON paths. Input: a path, '\n', then a JSON document (any value).
 * Checks that lookups never crash, that an invalid path finds nothing, that a path walks exactly
 * the segments it names (the prefix up to each '.' finds the parent container), and that
 * first_string agrees with get. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "jsonpath.h"
#include "redact.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *nl = memchr(data, '\n', size);
        _cleanup_free_ char *path = NULL;
        json_t *root, *v;
        char *paths[3];
        const char *s;
        bool valid, redactable;

        if (!nl)
                return 0;
        path = strndup((const char *) data, (size_t) (nl - (const char *) data));
        if (!path)
                return 0;
        valid = gp_json_path_validate(path) == 0;
        if (valid != (path[0] && path[0] != '.' && path[strlen(path) - 1] != '.' && !strstr(path, "..")))
                abort();

        root = json_loadb(nl + 1, size - (size_t) (nl + 1 - (const char *) data), JSON_DECODE_ANY, NULL);
        v = gp_json_path_get(root, path);
        if (!valid && v)
                abort();
        if (v) {
                /* Every proper prefix ending before a '.' must resolve to an array or object. */
                for (char *dot = strchr(path, '.'); dot; dot = strchr(dot + 1, '.')) {
                        json_t *parent;
                        bool wild;

                        *dot = '\0';
                        /* A "*" prefix names the first of several values, not necessarily the one
                         * the whole path went through. */
                        wild = strchr(path, '*');
                        parent = wild ? NULL : gp_json_path_get(root, path);
                        *dot = '.';
                        if (!wild && !json_is_object(parent) && !json_is_array(parent))
                                abort();
                }
        }

        paths[0] = path;
        paths[1] = "type";
        paths[2] = NULL;
        s = gp_json_path_first_string(root, paths, false);
        if (json_is_string(v) && s != json_string_value(v))
                abort();
        if (s && !json_is_string(v) && s != json_string_value(gp_json_path_get(root, "type")))
                abort();
        s = gp_json_path_first_string(root, paths, true);
        if (s && *s == '\0')
                abort();
        paths[1] = NULL;
        redactable = v && !(json_is_string(v) && streq(json_string_value(v), GP_REDACTED));
        if ((gp_json_redact_paths(root, paths) > 0) != redactable && !strchr(path, '*'))
                abort();
        v = gp_json_path_get(root, path);  /* the old v may be gone */
        if (v && !(json_is_string(v) && streq(json_string_value(v), GP_REDACTED)))
                abort();
        json_decref(root);
        return 0;
}
