/* SPDX-License-Identifier: MIT */
#pragma once

/* When the certificates of an endpoint expire: the leaf's notAfter and the earliest notAfter
 * of the certificates the server sent (leaf and intermediates). Pure. */

#include <stdbool.h>
#include <stdint.h>

#include "result.h"

/* Folds one certificate's notAfter (seconds since the epoch) into e. */
void gp_cert_expiry_note(gp_cert_expiry *e, int64_t not_after, bool leaf);
