/* SPDX-License-Identifier: MIT */
#pragma once

/* The one percent-encoder and the one JSON string escaper: the templates' expansions, the query
 * parameters of URLs and the forms of a secret that redaction looks for all use these. Pure. */

#include "util.h"

/* RFC 3986 percent-encoding: the unreserved characters (ALPHA DIGIT - . _ ~) as they are, every
 * other byte as %XX (upper-case hex). -ENOMEM. */
int gp_buf_append_url_encoded(gp_buf *b, const char *s);

typedef enum gp_json_escape_flags {
        GP_JSON_ESCAPE_PLAIN = 0,
        /* Every non-ASCII code point as \uXXXX (a surrogate pair past U+FFFF), as Python's
         * json.dumps writes it; a byte that is not part of valid UTF-8 as \u00XX. */
        GP_JSON_ESCAPE_ASCII = 1 << 0,
} gp_json_escape_flags;

/* The inside of a JSON string (no quotes added): '"' and '\' escaped with a backslash, control
 * bytes (below 0x20) as \u00xx, anything else as it is unless flags say otherwise. -ENOMEM. */
int gp_buf_append_json_escaped(gp_buf *b, const char *s, gp_json_escape_flags flags);
