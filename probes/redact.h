/* SPDX-License-Identifier: MIT */
#pragma once

/* What a failure transcript never shows: the values at configured JSON paths
 * ([Output] TranscriptRedact=, the dotted paths of jsonpath.h). Pure. */

#include <jansson.h>
#include <stddef.h>

/* Replaces every value at each of paths ("*" matches every member or element, not only the
 * first) with the string GP_REDACTED. Returns how many values it replaced. */
size_t gp_json_redact_paths(json_t *root, char * const *paths);

/* text (len bytes) as JSON with the values at paths redacted, compact; NULL when paths is empty,
 * text is not JSON, nothing was at the paths, or on ENOMEM (the caller keeps text). */
char *gp_json_text_redact_paths(const char *text, size_t len, char * const *paths);
