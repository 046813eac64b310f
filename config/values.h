/* SPDX-License-Identifier: MIT */
#pragma once

/* Checks of single configuration values. Pure (apart from getenv for ${env:VAR}). Each
 * returns 0, -ENOMEM, or -EINVAL with a message in *ret_msg (caller frees) that names the
 * problem. The messages echo the value (shortened), except where it may be a secret. */

#include <stdbool.h>

#include "time-util.h"

/* printf arguments for "%.*s%s": a value shortened to ECHO_MAX bytes and "..." */
#define ECHO(v) (int) MIN(strlen(v), (size_t) ECHO_MAX), (v), (strlen(v) > ECHO_MAX ? "..." : "")

typedef int (*gp_value_check)(const char *v, char **ret_msg);

int gp_check_http_url(const char *v, char **ret_msg);
int gp_check_ws_url(const char *v, char **ret_msg);
int gp_check_header(const char *v, char **ret_msg);
int gp_check_tracestate(const char *v, char **ret_msg);   /* W3C tracestate: key=value[,key=value] */        /* "Name: value", value a template */
int gp_check_http_token(const char *v, char **ret_msg);    /* an HTTP method */
int gp_check_json_path(const char *v, char **ret_msg);
int gp_check_event_type(const char *v, char **ret_msg);
int gp_check_absolute_path(const char *v, char **ret_msg);
int gp_check_credential_name(const char *v, char **ret_msg);
/* An absolute path, or a credential name (no '/'): [API]'s files (config-api.c). */
int gp_check_path_or_credential(const char *v, char **ret_msg);
int gp_check_probe_name(const char *v, char **ret_msg);
int gp_check_template(const char *v, char **ret_msg);      /* JSON templates must stay JSON */
int gp_check_query_param(const char *v, char **ret_msg);
int gp_check_capture(const char *v, char **ret_msg);       /* NAME=JSON.PATH, NAME not built in */
int gp_check_query(const char *v, char **ret_msg);         /* name=template */
int gp_check_correlate(const char *v, char **ret_msg);     /* learned | client */
int gp_check_event_condition(const char *v, char **ret_msg); /* TYPE, TYPE[PATH], TYPE[PATH=VALUE] */
int gp_check_listen(const char *v, char **ret_msg);
int gp_check_regex(const char *v, char **ret_msg);
int gp_check_password(const char *v, char **ret_msg);      /* GP_SECRET_MIN bytes or more; never echoed */
int gp_check_secret(const char *v, char **ret_msg);        /* the same, without blanks */

/* Like gp_parse_duration, but tells overflow (-ERANGE) from syntax errors (-EINVAL). */
int gp_parse_duration_full(const char *s, usec_t *ret);

/* Jitter=: "N%" (0..100) or a duration. */
int gp_parse_jitter(const char *s, bool *ret_is_percent, unsigned *ret_percent, usec_t *ret_duration);

/* True for header names whose values are credentials (Authorization, Cookie, *token*, ...). */
bool gp_header_is_sensitive(const char *header);
/* True when a header value holds nothing but an optional scheme word and ${...} variables,
 * e.g. "Bearer ${token}": printing it shows no secret. */
bool gp_header_value_is_template_only(const char *header);
/* Adds a checked "Name: value" to a header list as `curl -H` does: an entry of the same name
 * (case-insensitively; a default or an earlier line) is replaced in place, else it is
 * appended. 0 or -ENOMEM (the list unchanged). */
int gp_header_list_set(char ***l, const char *header);
