/* SPDX-License-Identifier: MIT */
#pragma once

/* The daemon: one sd-event loop in the main thread (signals, the run timer, the watchdog), the
 * network thread for runs, and the exporters after each run. */

#include "config.h"

typedef struct gp_manager gp_manager;

int gp_manager_new(const char *config_path, gp_config *cfg, gp_manager **ret);
gp_manager *gp_manager_free(gp_manager *m);
/* Runs until SIGTERM/SIGINT; returns the exit code (0) or a negative errno. */
int gp_manager_run(gp_manager *m);
