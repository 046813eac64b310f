/* SPDX-License-Identifier: MIT */
#pragma once

/* Just enough URL parsing to open a WebSocket: scheme://host[:port][/path][?query]. Pure. */

#include <stdbool.h>

typedef struct gp_url {
        char *scheme;       /* lower-case: "ws", "wss", "http", "https" */
        char *host;         /* without the brackets of an IPv6 literal */
        int port;           /* explicit, or the scheme's default */
        char *path;         /* path and query, at least "/" */
        bool tls;           /* wss or https */
} gp_url;

/* 0, or -EINVAL with a message in *ret_error (caller frees). */
int gp_url_parse(const char *s, gp_url *ret, char **ret_error);
void gp_url_done(gp_url *u);

/* Appends name=value (value percent-encoded) to the query. -ENOMEM. */
int gp_url_add_query(gp_url *u, const char *name, const char *value);
