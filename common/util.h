/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define _pure_ __attribute__((pure))
#define _warn_unused_result_ __attribute__((warn_unused_result))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Takes ownership: returns the pointer and leaves NULL behind. */
#define TAKE_PTR(p)                              \
        __extension__ ({                         \
                __typeof__(p) _tp_ = (p);        \
                (p) = NULL;                      \
                _tp_;                            \
        })

#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)        \
        static inline void func##p(type *p) {          \
                if (*p)                                \
                        func(*p);                      \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closep(int *fd) {
        if (*fd >= 0)
                close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}
#define streq(a, b) (strcmp((a), (b)) == 0)
#define strcaseeq(a, b) (strcasecmp((a), (b)) == 0)

static inline bool isempty(const char *s) {
        return !s || !*s;
}

static inline const char *strempty(const char *s) {
        return s ? s : "";
}

/* A blank, as the configuration and its lists have them: a space or a tab. */
static inline bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* Nothing but blanks and line ends (or NULL). */
static inline bool is_blank_line(const char *s) {
        return !s || s[strspn(s, " \t\r\n")] == '\0';
}

/* How much of a value a diagnostic echoes back before it cuts it with "...". */
#define ECHO_MAX 60

/* What a secret is replaced with wherever it would show (--check-config, failure reasons). */
#define GP_REDACTED "(redacted)"

const char *startswith(const char *s, const char *prefix) _pure_;

/* Formatted allocation; returns NULL on allocation failure. */
char *strdup_printf(const char *fmt, ...) _printf_(1, 2);
char *strdup_vprintf(const char *fmt, va_list ap) _printf_(1, 0);

/* Sets *ret_error (when ret_error is not NULL) to a new formatted message. Returns -EINVAL, or
 * -ENOMEM when the message could not be made: `return set_errorf(ret_error, "...", ...);` */
int set_errorf(char **ret_error, const char *fmt, ...) _printf_(2, 3);

/* Frees and wipes a secret (password, token). NULL-safe. */
void secret_free(char *s);
static inline void secret_freep(char **s) {
        secret_free(*s);
}
#define _cleanup_secret_ _cleanup_(secret_freep)

/* NULL-terminated string vectors. */
typedef char **strv_t;
size_t strv_length(char * const *l) _pure_;
void strv_free(char **l);
static inline void strv_freep(char ***l) {
        strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
/* strv_free(), wiping each string first: for lists that may hold a secret (handshake headers
 * with "Authorization: Bearer <token>", subprotocols carrying the token). NULL-safe. */
void strv_free_secret(char **l);
static inline void strv_free_secretp(char ***l) {
        strv_free_secret(*l);
}
#define _cleanup_strv_free_secret_ _cleanup_(strv_free_secretp)
int strv_extend(char ***l, const char *value);           /* copies value; -ENOMEM */
int strv_consume(char ***l, char *value);                /* takes value, frees it on failure */
bool strv_contains(char * const *l, const char *s) _pure_;
char **strv_copy(char * const *l);
/* Splits on runs of blanks; NULL on ENOMEM. */
char **strv_split_blank(const char *s);
/* Same length and the same strings in the same order (NULL equals an empty list). */
bool strv_equal(char * const *a, char * const *b);
/* Joins with sep; NULL on ENOMEM. */
char *strv_join(char * const *l, const char *sep);
/* Sorts in strcmp order (file names: drop-ins, probes' status files). */
void strv_sort(char **l);

/* A NULL-terminated string list literal, for calls and tests. */
#define STRV_MAKE(...) ((char * const *) ((const char * const[]) { __VA_ARGS__, NULL }))

#define STRV_FOREACH(s, l) for (char * const *s = (l); s && *s; s++)

/* RFC 4648 section 5 base64url of the string s, without padding; NULL on ENOMEM. */
char *base64url_encode(const char *s);

/* A growable byte buffer, always NUL-terminated. */
typedef struct gp_buf {
        char *data;
        size_t len;
        size_t cap;
} gp_buf;
int gp_buf_append(gp_buf *b, const void *data, size_t len);  /* -ENOMEM */
int gp_buf_printf(gp_buf *b, const char *fmt, ...) _printf_(2, 3);
void gp_buf_reset(gp_buf *b);
void gp_buf_truncate(gp_buf *b, size_t len);  /* to len bytes, when shorter */
void gp_buf_free(gp_buf *b);
