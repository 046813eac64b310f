/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the files of config/: the table of keys (SPEC section 4) and the parser state. */

#include <stddef.h>

#include "config.h"
#include "values.h"


typedef enum key_id {
        K_PROBE_NAME,
        K_PROBE_INTERVAL,
        K_PROBE_JITTER,
        K_PROBE_TIMEOUT,
        K_PROBE_USERS,
        K_PROBE_ALERT_AFTER,
        K_PROBE_RECOVER_AFTER,
        K_PROBE_TRACE_CONTEXT,
        K_PROBE_TRACE_STATE,
        K_PREFLIGHT_URL,
        K_PREFLIGHT_EXPECT_STATUS,
        K_LOGIN_URL,
        K_LOGIN_METHOD,
        K_LOGIN_HEADER,
        K_LOGIN_BODY,
        K_LOGIN_USER,
        K_LOGIN_PASSWORD_CREDENTIAL,
        K_LOGIN_PASSWORD_FILE,
        K_LOGIN_PASSWORD,
        K_LOGIN_EXPECT_STATUS,
        K_LOGIN_TOKEN_PATH,
        K_LOGIN_TOKEN,
        K_LOGIN_CAPTURE,
        K_LOGIN_CAPTURE_SECRET,
        K_WS_URL,
        K_WS_AUTH,
        K_WS_SUBPROTOCOL,
        K_WS_QUERY_PARAM,
        K_WS_HEADER,
        K_WS_QUERY,
        K_WS_READY,
        K_WS_READY_PATH,
        K_WS_AUTH_FAIL,
        K_WS_REQUIRE_SUBPROTOCOL,
        K_WS_IDENTITY_PATH,
        K_WS_IDENTITY,
        K_WS_CONNECT_TIMEOUT,
        K_REQUEST_MESSAGE,
        K_REQUEST_PROMPT,
        K_EVENTS_TYPE_PATH,
        K_EVENTS_EXPECT,
        K_EVENTS_REPEATABLE,
        K_EVENTS_FAIL,
        K_EVENTS_ERROR_PATH,
        K_EVENTS_STRICT,
        K_EVENTS_CORRELATE_PATH,
        K_EVENTS_CORRELATE,
        K_EVENTS_CORRELATE_WITH,
        K_EVENTS_END,
        K_EVENTS_EVENT_TIMEOUT,
        K_EVENTS_RESPONSE_PATH,
        K_EVENTS_RESPONSE_MATCH,
        K_EVENTS_RESPONSE_REJECT,
        K_EVENTS_RESPONSE_ERROR_PATH,
        K_EVENTS_PARTIAL,
        K_EVENTS_STALL_TIMEOUT,
        K_SLO_LOGIN,
        K_SLO_CONNECT,
        K_SLO_FIRST_EVENT,
        K_SLO_TOTAL,
        K_SLO_SILENCE,
        K_SLO_FIRST_PARTIAL,
        K_TLS_CA_FILE,
        K_TLS_INSECURE,
        K_TLS_CLIENT_CERTIFICATE,
        K_TLS_CLIENT_KEY,
        K_TLS_CERT_EXPIRY_WARN,
        K_OUTPUT_STATUS_FILE,
        K_OUTPUT_STATE_FILE,
        K_OUTPUT_HISTORY,
        K_OUTPUT_JOURNAL,
        K_OUTPUT_METRICS_LISTEN,
        K_OUTPUT_METRICS_FILE,
        K_OUTPUT_TRANSCRIPTS,
        K_OUTPUT_TRANSCRIPT_REDACT,
        K_API_TLS_CERTIFICATE,
        K_API_TLS_KEY,
        K_API_CLIENT_CA,
        K_API_CLIENT_CRL,
        K_API_TOKENS,
        K_API_METRICS_AUTH,
        K_API_MAX_REQUEST_BYTES,
        K_API_MAX_CONNECTIONS,
        K_API_RATE_LIMIT,
        _K_MAX,
} key_id;

typedef enum key_kind {
        KIND_STRING,      /* char *; unset = NULL */
        KIND_SECRET,      /* char *; wiped when freed, never printed */
        KIND_LIST,        /* char **, blank-separated; an assignment replaces the list */
        KIND_REPEATABLE,  /* char **; an assignment appends one item, an empty one clears */
        KIND_DURATION,    /* usec_t; unset = 0 */
        KIND_UNSIGNED,    /* unsigned in [min, max] */
        KIND_STATUS,      /* long, an HTTP status in [min, max] */
        KIND_BOOL,
        KIND_AUTH,        /* gp_ws_auth */
        KIND_JITTER,      /* jitter_is_percent, jitter_percent, jitter */
} key_kind;

typedef enum key_flags {
        /* The key always has a value: an empty assignment restores the default. Without this
         * flag an empty assignment unsets the key (or empties the list). */
        KEY_MANDATORY = 1 << 0,
        KEY_POSITIVE = 1 << 1,    /* durations: 0 is refused */
} key_flags;

typedef struct key_def {
        const char *section;
        const char *name;
        key_kind kind;
        size_t offset;
        gp_value_check check;     /* strings and list items; NULL: anything */
        unsigned min, max;        /* KIND_UNSIGNED, KIND_STATUS */
        unsigned flags;
        const char *def;          /* default, in the configuration syntax; NULL: unset */
} key_def;

extern const key_def gp_config_keys[_K_MAX];

#define KEY_FIELD(c, k, type) ((type *) (void *) ((char *) (c) + gp_config_keys[k].offset))
#define KEY_FIELD_CONST(c, k, type) \
        ((const type *) (const void *) ((const char *) (c) + gp_config_keys[k].offset))

/* The key named name in section, or -1. hint (may be NULL) gets a close match (another
 * case) for an unknown key, or NULL. */
int gp_config_key_lookup(const char *section, const char *name, const char **hint);
bool gp_config_section_known(const char *section);
const char *gp_config_section_hint(const char *section);

/* Sets key k from its text value; an empty value resets it (see key_flags). 0, -ENOMEM, or
 * -EINVAL with *ret_msg set (the key is then unchanged). */
int gp_config_key_assign(gp_config *c, key_id k, const char *value, char **ret_msg);
/* Frees what key k owns in c (secrets wiped). */
void gp_config_key_free(gp_config *c, key_id k);
bool gp_config_key_equal(const gp_config *a, const gp_config *b, key_id k);
/* The value as it would be written in the configuration; NULL on ENOMEM. Secrets included:
 * the printer redacts them. */
char *gp_config_key_format(const gp_config *c, key_id k);

/* Where a key got its value: the last accepted assignment (line 0: never assigned). */
typedef struct gp_key_where {
        const char *file;       /* borrowed from the sources */
        unsigned line;
        unsigned long seq;      /* order of assignment, across files */
} gp_key_where;

/* The first secret (non-empty Password= or Token=) a source holds. */
typedef struct gp_secret_line {
        unsigned line;          /* 0: none */
        key_id key;
} gp_secret_line;

typedef struct gp_parse_info {
        gp_secret_line *secret_lines;   /* caller-allocated, one per source; filled */
        gp_key_where where[_K_MAX];     /* filled */
} gp_parse_info;

/* [Step] sections (config-steps.c). A [Step] header starts a step; its keys go to the last
 * one. gp_config_step_assign: 0, -ENOMEM, or -EINVAL with *ret_msg. */
int gp_config_step_start(gp_config *c, const char *file, unsigned line);
int gp_config_step_assign(gp_config *c, const char *key, const char *value, char **ret_msg);
void gp_config_steps_free(gp_config *c);
bool gp_config_steps_equal(const gp_config *a, const gp_config *b);
void gp_config_steps_print(const gp_config *c, FILE *f,
                           void (*print_header)(FILE *f, const char *key, const char *header));

/* gp_config_parse, plus what gp_config_load needs to check the files and load the secrets:
 * which file holds a secret, and where each key was set. info may be NULL. */
int gp_config_parse_full(const char *main_path, const gp_config_source *sources, size_t n_sources,
                         gp_config **ret, gp_diags *diags, gp_parse_info *info);

/* [API] (config-api.c). */
/* Resolves the [API] files (credential names through $CREDENTIALS_DIRECTORY) and reads Tokens=;
 * diagnostics at the keys' lines. 0, -EINVAL, -ENOMEM. */
int gp_config_load_api(gp_config *c, const gp_key_where *where, gp_diags *d);
