/* SPDX-License-Identifier: MIT */
#pragma once

/* When gpprobed warns in the journal that an endpoint's certificate expires soon
 * (CertExpiryWarn=): the first run that sees it within the window, then at most once a day per
 * endpoint, and at once again when the expiry changed (a new certificate, still short-lived).
 * Kept in memory: a restart warns again. Pure. */

#include <stdbool.h>
#include <stdint.h>

#include "time-util.h"

typedef enum gp_cert_endpoint {
        GP_CERT_LOGIN,
        GP_CERT_WEBSOCKET,
        _GP_CERT_ENDPOINT_MAX,
} gp_cert_endpoint;

typedef struct gp_cert_warn_state {
        int64_t warned_at[_GP_CERT_ENDPOINT_MAX];  /* seconds since the epoch; 0 = never */
        int64_t expiry[_GP_CERT_ENDPOINT_MAX];     /* what that warning said */
} gp_cert_warn_state;

/* "login", "websocket" */
const char *gp_cert_endpoint_to_string(gp_cert_endpoint e);

/* Whether to warn now (and if so, remembers it): expires_at (0 = unknown) is within window of
 * now (seconds since the epoch), window > 0, and no warning about the same expiry in the last
 * day. */
bool gp_cert_warn_due(gp_cert_warn_state *st, gp_cert_endpoint e, int64_t expires_at, int64_t now,
                      usec_t window);
