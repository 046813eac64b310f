/* SPDX-License-Identifier: MIT */
#include "ctl-internal.h"
int gp_ctl_gate_prometheus(const gp_ctl_args *a) {
        (void) a;
        return EXIT_UNKNOWN;
}
