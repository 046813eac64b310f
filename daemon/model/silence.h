/* SPDX-License-Identifier: MIT */
#pragma once

/* Silences (maintenance windows, SPEC section 8 "issue 13 silences"): the small JSON file that
 * `gpprobectl silence` writes and gpprobed reads at start, when it changes and at each run.
 * Pure: bytes in, a validated silence or a one-line reason out; the text checks that both sides
 * apply to a reason given by a person. */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "time-util.h"

/* A silence file is about 200 bytes; anything larger is not one. */
#define GP_SILENCE_FILE_MAX ((size_t) 4096)
/* The longest silence, 7 days: --for and, with some slack for clocks, the file's until. */
#define GP_SILENCE_MAX_DURATION ((usec_t) 7 * 24 * 3600 * USEC_PER_SEC)
#define GP_SILENCE_CLOCK_SLACK ((usec_t) 300 * USEC_PER_SEC)
/* Bytes (UTF-8) of the reason and of who set it. */
#define GP_SILENCE_REASON_MAX 200
#define GP_SILENCE_BY_MAX 64

typedef struct gp_silence {
        usec_t until;          /* CLOCK_REALTIME: the silence ends then */
        usec_t created_at;     /* CLOCK_REALTIME; 0 when the file did not say */
        char *reason;          /* not empty, checked by gp_silence_text_check */
        char *by;              /* NULL when the file did not say */
} gp_silence;

gp_silence *gp_silence_free(gp_silence *s);  /* NULL-safe */
static inline void gp_silence_freep(gp_silence **s) {
        gp_silence_free(*s);
}
#define _cleanup_silence_ _cleanup_(gp_silence_freep)

/* A copy; NULL on ENOMEM or when s is NULL. */
gp_silence *gp_silence_copy(const gp_silence *s);
bool gp_silence_equal(const gp_silence *a, const gp_silence *b);  /* both NULL: true */

/* Free text from a person (a reason, a user name): valid UTF-8, 1 to max bytes, not only blanks,
 * no control character (C0, DEL, C1) and no line or paragraph separator, so that it stays one
 * line wherever it is written. -EINVAL with a reason naming `what` in *ret_error; -ENOMEM. */
int gp_silence_text_check(const char *what, const char *s, size_t max, char **ret_error);

/* Parses and validates len bytes (no NUL needed): one JSON object with "until" (RFC 3339) and
 * "reason", optionally "by" and "created_at" (RFC 3339), no other member; until at most
 * GP_SILENCE_MAX_DURATION + GP_SILENCE_CLOCK_SLACK after now (a silence already over is valid:
 * gp_silence_active says so). -EINVAL with a one-line reason; -EFBIG above GP_SILENCE_FILE_MAX;
 * -ENOMEM. */
int gp_silence_parse(const void *data, size_t len, usec_t now, gp_silence **ret, char **ret_error);

/* The file's contents: one line of JSON and "\n" (*ret_len without the NUL). NULL on ENOMEM or
 * when s is NULL. */
char *gp_silence_serialize(const gp_silence *s, size_t *ret_len);

/* {"until", "reason", "by", "created_at"} as in the file (by and created_at null when absent): the
 * status document's "silence". NULL on ENOMEM or when s is NULL. */
json_t *gp_silence_to_json(const gp_silence *s);

/* Where gpprobed reads the silence of probe `name`: NAME.silence in the directory of StateFile=
 * (state_file, which survives a reboot), else in that of StatusFile=. NULL on ENOMEM, or when
 * neither is given or name is empty. */
char *gp_silence_file_path(const char *state_file, const char *status_file, const char *name);

/* Whether s (may be NULL) silences the probe at now: now < until. */
static inline bool gp_silence_active(const gp_silence *s, usec_t now) {
        return s && now < s->until;
}
