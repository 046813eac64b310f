/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <stdint.h>

#include "utf8.h"

static bool is_continuation(unsigned char c) {
        return (c & 0xc0) == 0x80;
}

size_t gp_utf8_decode(const char *s, size_t n, uint32_t *ret) {
        const unsigned char *u = (const unsigned char *) s;
        uint32_t cp;
        size_t len;

        if (n == 0)
                return 0;
        if (u[0] < 0x80) {
                *ret = u[0];
                return 1;
        }
        if (u[0] >= 0xc2 && u[0] <= 0xdf) {
                len = 2;
                cp = u[0] & 0x1f;
        } else if (u[0] >= 0xe0 && u[0] <= 0xef) {
                len = 3;
                cp = u[0] & 0x0f;
        } else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
                len = 4;
                cp = u[0] & 0x07;
        } else
                return 0;
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if (!is_continuation(u[i]))
                        return 0;
                cp = (cp << 6) | (u[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret = cp;
        return len;
}

size_t gp_utf8_sequence(const char *s, size_t n) {
        uint32_t cp;

        return gp_utf8_decode(s, n, &cp);
}

size_t gp_utf8_invalid_at(const char *s, size_t n) {
        size_t i = 0;

        while (i < n) {
                size_t l = gp_utf8_sequence(s + i, n - i);
                if (l == 0)
                        return i;
                i += l;
        }
        return n;
}
