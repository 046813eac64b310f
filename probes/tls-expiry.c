/* SPDX-License-Identifier: MIT */
#include "tls-expiry.h"

void gp_cert_expiry_note(gp_cert_expiry *e, int64_t not_after, bool leaf) {
        if (leaf)
                e->leaf = not_after;
        if (e->earliest == 0 || not_after < e->earliest)
                e->earliest = not_after;
}
