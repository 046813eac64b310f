/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "ini.h"
#include "utf8.h"
#include "util.h"

typedef struct ini_state {
        const char *file;
        const gp_ini_handler *h;
        void *userdata;
        gp_diags *diags;
        char *section;          /* current known section, or NULL */
        bool skipping;          /* inside an unknown section */
} ini_state;

static char *trim(char *s, size_t *len) {
        size_t n = *len;

        while (n > 0 && is_blank(*s)) {
                s++;
                n--;
        }
        while (n > 0 && is_blank(s[n - 1]))
                n--;
        s[n] = '\0';
        *len = n;
        return s;
}

/* Problems that make a line unusable, checked on the raw bytes. Never echoes the line: it
 * may hold a secret. */
static bool line_is_valid(ini_state *st, unsigned line, const char *s, size_t n) {
        size_t bad;

        if (memchr(s, '\0', n)) {
                gp_diags_add(st->diags, st->file, line, false, "NUL byte in line");
                return false;
        }
        for (size_t i = 0; i < n; i++)
                if (((unsigned char) s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
                        gp_diags_add(st->diags, st->file, line, false,
                                     "control character 0x%02x in line (column %zu)",
                                     (unsigned) (unsigned char) s[i], i + 1);
                        return false;
                }
        bad = gp_utf8_invalid_at(s, n);
        if (bad < n) {
                gp_diags_add(st->diags, st->file, line, false, "invalid UTF-8 in line (column %zu)",
                             bad + 1);
                return false;
        }
        return true;
}

static int handle_section(ini_state *st, unsigned line, char *s, size_t n) {
        const char *hint;

        free(st->section);
        st->section = NULL;
        st->skipping = true;

        if (s[n - 1] != ']') {
                gp_diags_add(st->diags, st->file, line, false, "unterminated section header (missing ']')");
                return 0;
        }
        s[n - 1] = '\0';
        s++;
        if (*s == '\0') {
                gp_diags_add(st->diags, st->file, line, false, "empty section name '[]'");
                return 0;
        }
        if (!st->h->section_known(s, st->userdata)) {
                hint = st->h->section_hint ? st->h->section_hint(s, st->userdata) : NULL;
                gp_diags_add(st->diags, st->file, line, false, "unknown section [%.*s%s]%s%s%s",
                             ECHO_MAX, s, strlen(s) > ECHO_MAX ? "..." : "",
                             hint ? " (did you mean [" : "", strempty(hint), hint ? "]?)" : "");
                return 0;
        }
        st->section = strdup(s);
        if (!st->section)
                return -ENOMEM;
        st->skipping = false;
        return st->h->section_start ? st->h->section_start(st->file, line, s, st->userdata) : 0;
}

static int handle_assignment(ini_state *st, unsigned line, char *s, size_t n) {
        char *eq = memchr(s, '=', n), *key, *value;
        size_t klen, vlen;

        if (!eq) {
                gp_diags_add(st->diags, st->file, line, false,
                             "expected '[Section]', 'Key=Value' or a comment; the line has no '='");
                return 0;
        }
        klen = (size_t) (eq - s);
        vlen = n - klen - 1;
        key = trim(s, &klen);
        value = trim(eq + 1, &vlen);
        if (klen == 0) {
                gp_diags_add(st->diags, st->file, line, false, "missing key name before '='");
                return 0;
        }
        if (st->skipping)
                return 0;
        if (!st->section) {
                gp_diags_add(st->diags, st->file, line, false,
                             "assignment to '%.*s%s' outside of any section", ECHO_MAX, key,
                             klen > ECHO_MAX ? "..." : "");
                return 0;
        }
        return st->h->assign(st->file, line, st->section, key, value, st->userdata);
}

static int handle_line(ini_state *st, unsigned line, const char *raw, size_t n, gp_buf *buf) {
        size_t lead = 0;
        char *s;
        int r;

        while (lead < n && is_blank(raw[lead]))
                lead++;
        if (lead < n && (raw[lead] == '#' || raw[lead] == ';')) {
                if (memchr(raw, '\0', n))
                        gp_diags_add(st->diags, st->file, line, false, "NUL byte in line");
                return 0;
        }
        if (!line_is_valid(st, line, raw, n))
                return 0;

        gp_buf_reset(buf);
        r = gp_buf_append(buf, raw, n);
        if (r < 0)
                return r;
        s = trim(buf->data, &n);
        if (n == 0)
                return 0;
        if (s[0] == '[')
                return handle_section(st, line, s, n);
        return handle_assignment(st, line, s, n);
}

int gp_ini_parse(const char *file, const char *text, size_t len, const gp_ini_handler *h,
                 void *userdata, gp_diags *diags) {
        ini_state st = { .file = file, .h = h, .userdata = userdata, .diags = diags };
        gp_buf buf = { 0 };
        size_t pos = 0;
        unsigned line = 0;
        int r = 0;

        if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
                pos = 3;

        while (pos < len && r >= 0) {
                const char *start = text + pos, *nl = memchr(start, '\n', len - pos);
                size_t n = nl ? (size_t) (nl - start) : len - pos;

                pos += n + (nl ? 1 : 0);
                line++;
                if (n > 0 && start[n - 1] == '\r')
                        n--;
                r = handle_line(&st, line, start, n, &buf);
                /* The line may have held a secret (Password=, Token=). */
                if (buf.data)
                        explicit_bzero(buf.data, buf.cap);
        }

        free(st.section);
        gp_buf_free(&buf);
        return r < 0 ? r : 0;
}
