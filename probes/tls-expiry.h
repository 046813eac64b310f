/* SPDX-License-Identifier: MIT */
#pragma once

/* When the certificates of an endpoint expire: the leaf's notAfter and the earliest notAfter
 * of the certificates the server sent (leaf and intermediates). Pure. */

#include <stdbool.h>
#include <stdint.h>

#include "result.h"

/* Folds one certificate's notAfter (seconds since the epoch) into e. */
void gp_cert_expiry_note(gp_cert_expiry *e, int64_t not_after, bool leaf);

/* libcurl's CURLINFO_CERTINFO "Expire date:" value, as OpenSSL prints an ASN1_TIME
 * ("Jan  2 03:04:05 2030 GMT"), into seconds since the epoch. -EINVAL when it is not that. */
int gp_cert_date_parse(const char *s, int64_t *ret);
