/* SPDX-License-Identifier: MIT */
#pragma once

/* An event condition, as End= and AuthFail= write it: "TYPE" (any event of that type),
 * "TYPE[PATH]" (one whose JSON has a value other than null at PATH) or "TYPE[PATH=VALUE]"
 * (one whose value at PATH is the string VALUE, or a number, true, false or null written so).
 * PATH is a dotted JSON path ("*" segments allowed). Pure: parsing only; probes/matcher.c
 * evaluates conditions against frames. */

#include <stddef.h>

typedef struct gp_event_cond {
        char *type;
        char *path;     /* NULL: the type alone */
        char *value;    /* NULL: the path being present is enough */
} gp_event_cond;

/* 0, -ENOMEM, or -EINVAL with a message naming the problem in *ret_msg (caller frees). */
int gp_event_cond_parse(const char *s, gp_event_cond *ret, char **ret_msg);
void gp_event_cond_done(gp_event_cond *c);
