/* SPDX-License-Identifier: MIT */
#pragma once

/* UTF-8 checks shared by the INI reader, the template expander and the matcher's reasons. Pure. */

#include <stdint.h>

#include <stddef.h>

/* Length of the valid UTF-8 sequence starting at s (at most n bytes available), or 0 when the
 * bytes there are not valid UTF-8 (overlong forms, surrogates and values past U+10FFFF are
 * invalid). A NUL byte is a valid one-byte sequence. */
size_t gp_utf8_sequence(const char *s, size_t n);

/* gp_utf8_sequence, also giving the code point of a valid sequence in *ret. */
size_t gp_utf8_decode(const char *s, size_t n, uint32_t *ret);

/* Offset of the first invalid byte, or n when all of s is valid. */
size_t gp_utf8_invalid_at(const char *s, size_t n);
