/* SPDX-License-Identifier: MIT */
#include "cert-warn.h"
#include "util.h"

#define DAY (24 * 3600)

const char *gp_cert_endpoint_to_string(gp_cert_endpoint e) {
        static const char * const names[] = { [GP_CERT_LOGIN] = "login", [GP_CERT_WEBSOCKET] = "websocket" };

        return (size_t) e < ELEMENTSOF(names) ? names[e] : NULL;
}

bool gp_cert_warn_due(gp_cert_warn_state *st, gp_cert_endpoint e, int64_t expires_at, int64_t now,
                      usec_t window) {
        if ((size_t) e >= _GP_CERT_ENDPOINT_MAX || window == 0 || expires_at == 0 ||
            expires_at - now > (int64_t) (window / USEC_PER_SEC))
                return false;
        if (st->warned_at[e] != 0 && st->expiry[e] == expires_at && now - st->warned_at[e] < DAY)
                return false;
        st->warned_at[e] = now;
        st->expiry[e] = expires_at;
        return true;
}
