/* SPDX-License-Identifier: MIT */
#pragma once

/* Dotted JSON paths: "data.run_id", "items.0.text" (a segment of digits indexes an array
 * when the value there is an array, else it is an object key), "payload.results.*.error" (a
 * segment "*" is every member of an object, in document order, or every element of an
 * array: the first value found wins). Pure. */

#include <jansson.h>
#include <stdbool.h>

#include "event-cond.h"

/* 0 when path is a non-empty sequence of non-empty segments separated by '.', else -EINVAL. */
int gp_json_path_validate(const char *path);

/* The value at path (with "*": the first one found), or NULL. Borrowed reference. */
json_t *gp_json_path_get(json_t *root, const char *path);

/* The first string found at any of paths (in order); NULL if none. When non_empty, empty
 * strings are skipped. Borrowed from root. */
const char *gp_json_path_first_string(json_t *root, char * const *paths, bool non_empty);

typedef bool (*gp_json_path_pred)(json_t *v);

/* The first value, at any of paths in order (each "*" tried in document order), for which
 * pred is true; NULL if none. ret_path (may be NULL) gets the concrete path of the value
 * ("payload.results.data.error"), or NULL; caller frees. Borrowed from root. */
json_t *gp_json_path_find(json_t *root, char * const *paths, gp_json_path_pred pred, char **ret_path);

/* Whether an event of type (NULL: none) whose JSON is root satisfies c (event-cond.h). */
bool gp_json_event_cond_holds(const gp_event_cond *c, json_t *root, const char *type);
