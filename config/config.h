/* SPDX-License-Identifier: MIT */
#pragma once

/* The configuration: an immutable, refcounted snapshot of gpprobe.conf and its drop-ins
 * (SPEC section 4). Parsing is pure (gp_config_parse); gp_config_load adds the file I/O
 * and the secret loading. Durations are microseconds; 0 means "unset" for optional ones. */

#include <regex.h>
#include <stdbool.h>
#include <stdio.h>

#include "time-util.h"
#include "util.h"

/* The shortest password or Token= accepted (bytes). Failure reasons lose every occurrence of
 * a secret; one shorter than this would match inside host names and words and garble them
 * ("auth.e(redacted)ample.test"). The probe redacts a shorter secret the server gave (a
 * login token, a CaptureSecret= value) only where it stands alone. */
#define GP_SECRET_MIN 8

typedef enum gp_ws_auth {
        GP_WS_AUTH_SUBPROTOCOL,
        GP_WS_AUTH_HEADER,
        GP_WS_AUTH_QUERY,
        GP_WS_AUTH_NONE,
} gp_ws_auth;

const char *gp_ws_auth_to_string(gp_ws_auth a);

/* An HTTP step between the login and the WebSocket ([Step] sections, in order): the
 * frontend's own calls, such as the ticket a WebSocket connects with. */
typedef struct gp_step {
        char *name;                 /* for reasons and traces */
        char *url;                  /* template */
        char *method;
        char **headers;             /* strv of "Name: value" templates */
        char *body;                 /* template, or NULL */
        long expect_status;
        char **captures;            /* strv of "NAME=PATH" */
        char **secret_captures;     /* the same, values redacted like the token */
        unsigned line;              /* of the [Step] header, for diagnostics */
        const char *file;
} gp_step;

typedef struct gp_config {
        unsigned refcount;
        char *path;                 /* main file, as given */

        /* [Probe] */
        char *name;                 /* default: basename of path without .conf */
        usec_t interval;
        bool jitter_is_percent;
        unsigned jitter_percent;    /* when jitter_is_percent */
        usec_t jitter;              /* otherwise */
        usec_t timeout;
        unsigned users;
        unsigned alert_after;
        unsigned recover_after;

        /* [Preflight] */
        char **preflight_urls;      /* strv, may be empty */
        long preflight_expect_status;

        /* [Login] */
        char *login_url;            /* NULL when token is set and no login is configured */
        char *login_method;
        char **login_headers;       /* strv of "Name: value" templates */
        char *login_body;           /* template */
        char *user;                 /* template, may contain ${index} */
        char *password_credential;
        char *password_file;
        bool password_inline;       /* Password= was used (warned about) */
        char *password;             /* the resolved secret; never printed */
        long login_expect_status;
        char *token_path;
        char *token;                /* fixed token (secret); never printed */
        char **login_captures;      /* strv of "NAME=PATH" (Capture=) */
        char **login_secret_captures; /* CaptureSecret= */

        /* [Step] sections, in order */
        gp_step *steps;
        size_t n_steps;

        /* [WebSocket] */
        char *ws_url;
        gp_ws_auth ws_auth;
        char **subprotocols;        /* strv of templates */
        char *query_param;
        char **ws_headers;          /* strv of "Name: value" templates */
        char **ws_query;            /* strv of "name=template" added to the URL's query */
        char **ready;               /* welcome types to wait for (any), or NULL */
        char **ready_paths;         /* where the welcome's type is; NULL: TypePath= */
        char **auth_fail;           /* types that, before the request, mean ws.auth */
        bool require_subprotocol;   /* offered subprotocols: the server must select one */
        char **identity_paths;      /* in the welcome: who the server thinks we are */
        char *identity;             /* template: who we are (e.g. ${user_id}), or NULL */
        usec_t connect_timeout;

        /* [Request] */
        char *message;              /* template (JSON when it starts with { or [) */
        char *prompt;

        /* [Events] */
        char *type_path;
        char **expect;
        char **repeatable;
        char **fail;
        char **error_paths;
        bool strict;
        char **correlate_paths;
        char *correlate;            /* "learned" or "client" */
        bool correlate_learned;     /* Correlate=learned */
        char *correlate_with;       /* template */
        char **end;                 /* End= conditions: TYPE, TYPE[PATH] or TYPE[PATH=VALUE] */
        usec_t event_timeout;
        char **response_paths;
        char *response_match;       /* source text, or NULL */
        regex_t response_regex;     /* compiled when response_match != NULL */
        char *response_reject;      /* source text, or NULL */
        regex_t response_reject_regex;
        char **response_error_paths;
        char **partial;             /* types that carry partial text (streaming quality, issue 12) */
        usec_t stall_timeout;       /* no frame at all for this long: events.stall; 0 = off */

        /* [SLO]: 0 = no limit */
        usec_t slo_login;
        usec_t slo_connect;
        usec_t slo_first_event;
        usec_t slo_total;
        usec_t slo_silence;         /* the longest silence between frames */
        usec_t slo_first_partial;   /* the first frame of a Partial= type */

        /* [Probe] trace context (issue 12) */
        bool trace_context;         /* send traceparent (and TraceState=) on every request */
        char *trace_state;          /* the tracestate header's value, or NULL */

        /* [TLS] */
        char *ca_file;
        bool insecure;
        char *client_certificate;
        char *client_key;
        usec_t cert_expiry_warn;    /* warn when a certificate expires within it; 0 = never */

        /* [Output] */
        char *status_file;          /* resolved default when not explicit */
        bool status_file_explicit;
        char *state_file;           /* resolved default, or NULL when no STATE_DIRECTORY */
        bool state_file_explicit;
        unsigned history;
        bool journal;
        char *metrics_listen;       /* "host:port" or NULL */
        char *metrics_file;
        unsigned transcripts;       /* failure transcripts kept (issue 12); 0 = none recorded */
        char **transcript_redact;   /* JSON paths whose values transcripts never show */

        /* [API]: on the MetricsListen= server. Files as configured: absolute, or credential names */
        char *api_tls_certificate;
        char *api_tls_key;
        char *api_client_ca;
        char *api_client_crl;
        char *api_tokens;
        bool api_metrics_auth;      /* /metrics and /healthz need authentication when some is configured */
        unsigned api_max_request_bytes;
        unsigned api_max_connections;
        unsigned api_rate_limit;    /* requests per second per client address; 0: none */
        /* Resolved by gp_config_load: absolute paths, and the tokens (secrets, wiped when freed). */
        char *api_tls_certificate_path;
        char *api_tls_key_path;
        char *api_client_ca_path;
        char *api_client_crl_path;
        char **api_token_list;
} gp_config;

/* A diagnostic: FILE:LINE: message. line 0 means "the file as a whole". */
typedef struct gp_diag {
        char *file;
        unsigned line;
        bool warning;
        char *message;
} gp_diag;

typedef struct gp_diags {
        gp_diag *items;
        size_t n;
        size_t n_errors;
        bool oom;                   /* a diagnostic was lost to an allocation failure */
} gp_diags;

void gp_diags_add(gp_diags *d, const char *file, unsigned line, bool warning, const char *fmt, ...)
        _printf_(5, 6);
void gp_diags_clear(gp_diags *d);
/* Prints "FILE:LINE: message" (and "warning: " for warnings), one per line. */
void gp_diags_print(const gp_diags *d, FILE *f);

/* One input file of the configuration: its name (for diagnostics) and text. */
typedef struct gp_config_source {
        const char *file;
        const char *text;
        size_t len;
} gp_config_source;

/* Pure: parses and validates sources (main file first, drop-ins after, in order). Resolves
 * defaults that depend on the environment through getenv (RUNTIME_DIRECTORY, STATE_DIRECTORY,
 * ${env:VAR}). Does not load secrets from files. Returns 0, or -EINVAL with diagnostics
 * (errors and warnings both go to diags). */
int gp_config_parse(const char *main_path, const gp_config_source *sources, size_t n_sources,
                    gp_config **ret, gp_diags *diags);

/* Reads path and path.d/ (*.conf, lexical order), parses, validates, then loads the password
 * (from $CREDENTIALS_DIRECTORY/PasswordCredential, PasswordFile (first line), or inline).
 * Warns when the file holding Password= is readable by others. -EINVAL on any error.
 * Each file is at most 1 MiB; drop-ins whose name starts with '.' are skipped, and a drop-in
 * that is a symlink to /dev/null is masked (ignored). A secret file is at most 64 KiB; its
 * first line, without "\n" or "\r\n", is the secret. -ENOMEM when out of memory. */
int gp_config_load(const char *path, gp_config **ret, gp_diags *diags);

gp_config *gp_config_ref(gp_config *c);
gp_config *gp_config_unref(gp_config *c);  /* NULL-safe; wipes secrets on the last unref */
static inline void gp_config_unrefp(gp_config **c) {
        gp_config_unref(*c);
}
#define _cleanup_config_ _cleanup_(gp_config_unrefp)

/* Prints the effective configuration in the INI format, every key, secrets as "(redacted)".
 * Repeatable keys start with an empty assignment ("Header="), so the output read back replaces
 * the defaults; StatusFile=/StateFile= defaults resolved from the environment appear as a
 * "# default: PATH" comment above an empty assignment (they stay implicit when read back).
 * Header values that look like credentials (Authorization, Cookie, *token*, *key*, ...) are
 * redacted unless they are only ${...} variables, e.g. "Bearer ${token}". Reading the output
 * back (with the secrets put back) gives an equal configuration (gp_config_equal). */
void gp_config_print(const gp_config *c, FILE *f);

/* True when a and b configure the same probe (every key, secrets included; path ignored).
 * Lets a reload tell "unchanged" from "changed". */
bool gp_config_equal(const gp_config *a, const gp_config *b);

/* The largest random delay added to Interval=: Jitter= as a duration, or its percentage of
 * Interval=. */
usec_t gp_config_jitter_max(const gp_config *c);
/* The time from one scheduled run to the next: Interval= plus a uniform delay in
 * [0, gp_config_jitter_max()], drawn from random (any 64 random bits). */
usec_t gp_config_run_delay(const gp_config *c, uint64_t random);

/* A step's name for reasons: Name=, or "step N" (1-based) in buf. */
const char *gp_step_name(const gp_step *s, size_t index, char buf[32]);

/* Parsers used by the config and by gpprobectl; pure, return 0 or -EINVAL. */
int gp_parse_duration(const char *s, usec_t *ret);           /* "500ms", "1min 30s", "2h" */
int gp_parse_bool(const char *s, bool *ret);                 /* yes/no/true/false/on/off/1/0 */
int gp_parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *ret);
/* "127.0.0.1:9477", "[::1]:9477", "localhost:9477": an address only this host reaches. */
bool gp_listen_is_loopback(const char *address);
/* Formats d so that gp_parse_duration reads back the same value: "1min 30s", "500ms", "0".
 * buf >= 64 bytes. Returns buf. */
char *gp_format_duration(char *buf, size_t len, usec_t d);
