/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "escape.h"
#include "utf8.h"

static bool is_unreserved(unsigned char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '.' || c == '_' || c == '~';
}

int gp_buf_append_url_encoded(gp_buf *b, const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        int r = gp_buf_append(b, "", 0);  /* an empty value still makes b a string */

        for (const unsigned char *p = (const unsigned char *) s; r >= 0 && *p; p++) {
                char enc[3] = { '%', hex[*p >> 4], hex[*p & 0xf] };

                r = is_unreserved(*p) ? gp_buf_append(b, p, 1) : gp_buf_append(b, enc, sizeof(enc));
        }
        return r;
}

static int append_u(gp_buf *b, uint32_t c) {
        char esc[16];

        if (c >= 0x10000)
                snprintf(esc, sizeof(esc), "\\u%04x\\u%04x", 0xd800 + ((c - 0x10000) >> 10),
                         0xdc00 + ((c - 0x10000) & 0x3ff));
        else
                snprintf(esc, sizeof(esc), "\\u%04x", c);
        return gp_buf_append(b, esc, strlen(esc));
}

int gp_buf_append_json_escaped(gp_buf *b, const char *s, gp_json_escape_flags flags) {
        const char *p = s, *end = s + strlen(s);
        int r = gp_buf_append(b, "", 0);

        while (r >= 0 && p < end) {
                unsigned char c = (unsigned char) *p;
                uint32_t cp;
                size_t n;

                if (c == '"' || c == '\\') {
                        char esc[2] = { '\\', (char) c };
                        r = gp_buf_append(b, esc, sizeof(esc));
                } else if (c < 0x20)
                        r = append_u(b, c);
                else if (c >= 0x80 && (flags & GP_JSON_ESCAPE_ASCII)) {
                        n = gp_utf8_decode(p, (size_t) (end - p), &cp);
                        if (n == 0) {
                                n = 1;
                                cp = c;
                        }
                        r = append_u(b, cp);
                        p += n;
                        continue;
                } else
                        r = gp_buf_append(b, p, 1);
                p++;
        }
        return r;
}
