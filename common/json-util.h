/* SPDX-License-Identifier: MIT */
#pragma once

/* Small jansson helpers for every document gpprobe writes (the status file, StateFile=, the
 * --once JSON, gpprobectl --json). Header-only: only code that links jansson includes it. */

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Adds v to o under key; v may be NULL (a failed allocation). -ENOMEM; v consumed either way. */
static inline int gp_json_set_new(json_t *o, const char *key, json_t *v) {
        return v && json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}

/* The document as one line ending in "\n", as gpprobe's files hold it (*ret_len without the NUL).
 * NULL on ENOMEM (or when o is NULL). */
static inline char *gp_json_dump_line(const json_t *o, size_t flags, size_t *ret_len) {
        char *s = o ? json_dumps(o, flags) : NULL, *line;
        size_t len;

        if (!s)
                return NULL;
        len = strlen(s);
        line = realloc(s, len + 2);
        if (!line) {
                free(s);
                return NULL;
        }
        memcpy(line + len, "\n", 2);
        if (ret_len)
                *ret_len = len + 1;
        return line;
}

/* The string, or JSON null for NULL. */
static inline json_t *gp_json_string_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}
