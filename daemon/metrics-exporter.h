/* SPDX-License-Identifier: MIT */
#pragma once

/* The metrics exporter of the manager: renders the metrics (metrics.c) after each run, writes
 * MetricsFile=, and hands the metrics and the status document to the MetricsListen= server
 * (metrics-server.c). Logs like the rest of the manager layer. */

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "api.h"
#include "config.h"
#include "report.h"

typedef struct gp_metrics_exporter gp_metrics_exporter;

/* Creates the server's thread and libwebsockets context, listening nowhere yet. Call it
 * before the network thread starts: a context created while another one is in a TLS handshake
 * breaks that handshake (docs/architecture.md). */
int gp_metrics_exporter_new(gp_metrics_exporter **ret, char **ret_error);
/* The loop's heartbeat (for /healthz) and the server's listening reports. */
int gp_metrics_exporter_attach(gp_metrics_exporter *x, sd_event *e);
gp_metrics_exporter *gp_metrics_exporter_free(gp_metrics_exporter *x);

/* At start, after each run and after a reload: applies MetricsListen= and MetricsFile= of
 * cfg, renders the report's metrics, writes MetricsFile= and publishes /metrics and, as /status,
 * the report's status document (the status file's bytes). up=false once, at a clean stop: the
 * MetricsFile= left behind says gpprobe_up 0. */
void gp_metrics_exporter_update(gp_metrics_exporter *x, const gp_config *cfg, const gp_report *rep,
                                unsigned skipped, bool up);

/* [API] of cfg: the tokens now, TLS and the limits in the server thread (a new TLS setup: at
 * start and after a reload only). NULL-safe. */
void gp_metrics_exporter_configure_api(gp_metrics_exporter *x, const gp_config *cfg);
/* The HTTP API's state (api.h), for the manager's run requests; NULL when x is. */
gp_api *gp_metrics_exporter_api(gp_metrics_exporter *x);
/* Whether MetricsListen= is served (the API's requests can come). */
bool gp_metrics_exporter_listening(const gp_metrics_exporter *x);
