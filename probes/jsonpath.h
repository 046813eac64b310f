/* SPDX-License-Identifier: MIT */
#pragma once

/* Dotted JSON paths: "data.run_id", "items.0.text" (a segment of digits indexes an array
 * when the value there is an array, else it is an object key). Pure. */

#include <jansson.h>
#include <stdbool.h>

/* 0 when path is a non-empty sequence of non-empty segments separated by '.', else -EINVAL. */
int gp_json_path_validate(const char *path);

/* The value at path, or NULL. Borrowed reference. */
json_t *gp_json_path_get(json_t *root, const char *path);

/* The first string found at any of paths (in order); NULL if none. When non_empty, empty
 * strings are skipped. Borrowed from root. */
const char *gp_json_path_first_string(json_t *root, char * const *paths, bool non_empty);
