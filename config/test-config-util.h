/* SPDX-License-Identifier: MIT */
#pragma once

/* Helpers shared by the configuration tests (cmocka). */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config.h"

/* The smallest valid configuration (a fixed token: no login step). */
#define MINIMAL_CONF \
        "[Login]\n" \
        "Token=tok-12345678\n" \
        "[WebSocket]\n" \
        "URL=wss://api.example.com/ws\n"

/* Every key set to a value other than its default (inline Password=s3cret # not a comment). */
extern const char test_full_conf[];

/* Unsets the variables that change defaults (RUNTIME_DIRECTORY, ...). */
void test_clean_env(void);

/* Parses text as the single file "test.conf"; fails the test on error. */
gp_config *parse_ok(const char *text, gp_diags *diags);
/* Parses text as "test.conf" and expects -EINVAL; diags get the problems. */
void parse_fails(const char *text, gp_diags *diags);

/* The diagnostic at exactly file:line whose message contains part, or NULL. */
const gp_diag *find_diag(const gp_diags *d, const char *file, unsigned line, const char *part);
/* Fails the test unless such an error (warning: a warning) exists. */
#define assert_diag(d, file, line, warning, part) \
        assert_diag_at((d), (file), (line), (warning), (part), __FILE__, __LINE__)
void assert_diag_at(const gp_diags *d, const char *file, unsigned line, bool warning, const char *part,
                    const char *src, int src_line);
/* Parses text and asserts exactly one error, at test.conf:line, containing part. */
#define assert_error(text, line, part) assert_error_at((text), (line), (part), __FILE__, __LINE__)
void assert_error_at(const char *text, unsigned line, const char *part, const char *src, int src_line);

/* gp_config_print into a string. */
char *print_to_string(const gp_config *c);
/* gp_diags_print into a string. */
char *diags_to_string(const gp_diags *d);
