/* SPDX-License-Identifier: MIT */
#pragma once

/* A systemd-style INI reader. Pure: bytes in, callbacks out, problems as diagnostics.
 *
 * We do not use libinih: its inline-comment handling would cut values at ';' or '#' (JSON
 * templates and regexes contain them), and Debian builds it without the option that passes
 * line numbers to handlers, which we need for FILE:LINE errors.
 *
 * Rules: "[Section]" lines; "Key=Value" with blanks around key and value trimmed; a line whose
 * first non-blank character is '#' or ';' is a comment (a '#' inside a value is part of it);
 * blank lines are ignored; CRLF line ends and a leading UTF-8 BOM are accepted. There is no
 * quoting and no line continuation: a value is the rest of the line, byte for byte. A NUL
 * byte, a control character other than TAB, or invalid UTF-8 makes the line an error. */

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef struct gp_ini_handler {
        /* Whether a section exists; keys of an unknown section are skipped silently after
         * the one error about the section. */
        bool (*section_known)(const char *section, void *userdata);
        /* A close match for an unknown section (e.g. another case), or NULL. */
        const char *(*section_hint)(const char *section, void *userdata);
        /* Optional: a known section's header line (a section may appear several times, e.g.
         * one [Step] per step); returns -ENOMEM or 0. */
        int (*section_start)(const char *file, unsigned line, const char *section, void *userdata);
        /* One assignment; returns -ENOMEM or 0 (problems go to diags). */
        int (*assign)(const char *file, unsigned line, const char *section, const char *key,
                      const char *value, void *userdata);
} gp_ini_handler;

/* Reads one file's text. Returns 0 or -ENOMEM; every problem is added to diags. */
int gp_ini_parse(const char *file, const char *text, size_t len, const gp_ini_handler *h,
                 void *userdata, gp_diags *diags);
