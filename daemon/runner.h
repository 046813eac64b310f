/* SPDX-License-Identifier: MIT */
#pragma once

/* The network thread: owns the process's gp_engine (one libwebsockets context, one libcurl multi
 * handle) for the daemon's whole life and runs one golden path at a time, so the sd-event loop
 * in the main thread never blocks on the network. Results come back through an eventfd. */

#include "config.h"
#include "result.h"

typedef struct gp_runner gp_runner;

/* Starts the thread and waits until its engine exists. Block the daemon's signals before. */
int gp_runner_new(gp_runner **ret, char **ret_error);
/* Cancels any run, stops and joins the thread. NULL-safe. */
gp_runner *gp_runner_free(gp_runner *r);

/* Readable (EPOLLIN) when a result is ready. */
int gp_runner_fd(const gp_runner *r);

/* Starts a run with cfg (a reference is taken) whose id is run_id (NULL: a random one).
 * -EBUSY while one runs. */
int gp_runner_start(gp_runner *r, gp_config *cfg, const char *run_id);
bool gp_runner_busy(const gp_runner *r);
/* Ends the run in flight soon; its result is CANCELLED. */
void gp_runner_cancel(gp_runner *r);
/* The finished run's result (ownership moves to the caller), or NULL; -ENOMEM in *ret_errno
 * when the run could not produce one. Clears the eventfd. */
gp_result *gp_runner_take(gp_runner *r, int *ret_errno);
