/* SPDX-License-Identifier: MIT */
#pragma once

/* The OpenSSL side of certificate expiry, for probes/ws.c's verify callback. */

#include <openssl/x509.h>

#include "tls-expiry.h"

/* At the leaf (depth 0) of a verification: folds the leaf's notAfter and those of the chain the
 * server sent (X509_STORE_CTX_get0_untrusted) into e. Other depths are ignored. */
void gp_cert_expiry_from_store(gp_cert_expiry *e, X509_STORE_CTX *store);
