/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <syslog.h>

#include "journal.h"
#include "metrics-exporter.h"
#include "metrics-server.h"
#include "metrics.h"

#define HEARTBEAT_USEC (1 * USEC_PER_SEC)

struct gp_metrics_exporter {
        gp_metrics_server *server;
        sd_event_source *heartbeat;
        sd_event_source *reports;
        char *name;          /* the probe's, for log lines */
        char *listen;        /* MetricsListen= asked of the server */
        char *file;          /* MetricsFile= being written */
        char *file_error;    /* the last failure to write it, logged once */
        char *render_error;
        bool tls;            /* [API] TLSCertificate= */
};

static char *mfree(char *p) {
        free(p);
        return NULL;
}

#define LOG_FIELDS(x) ((gp_log_field[]) { { "GPPROBE_NAME", (x)->name }, { 0 } })

static int set_string(char **p, const char *v) {
        char *c = NULL;

        if (v && !(c = strdup(v)))
                return -ENOMEM;
        free(*p);
        *p = c;
        return 0;
}

int gp_metrics_exporter_new(gp_metrics_exporter **ret, char **ret_error) {
        gp_metrics_exporter *x = calloc(1, sizeof(*x));
        int r;

        if (!x)
                return -ENOMEM;
        r = gp_metrics_server_new(&x->server, ret_error);
        if (r < 0) {
                free(x);
                return r;
        }
        *ret = x;
        return 0;
}

static int on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata) {
        gp_metrics_exporter *x = userdata;

        gp_metrics_server_heartbeat(x->server, now_usec(CLOCK_MONOTONIC));
        if (sd_event_source_set_time_relative(s, HEARTBEAT_USEC) < 0 ||
            sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) < 0)
                gp_log(NULL, LOG_ERR, LOG_FIELDS(x), "%s: metrics: cannot re-arm the heartbeat timer",
                       x->name);
        return 0;
}

static int on_report(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        gp_metrics_exporter *x = userdata;
        _cleanup_free_ char *address = NULL, *error = NULL;

        if (gp_metrics_server_take_report(x->server, &address, &error) < 0)
                return 0;
        if (error)
                gp_log(NULL, LOG_ERR, LOG_FIELDS(x), "%s: MetricsListen=: %s; trying again every %ds",
                       x->name, error, GP_METRICS_RETRY_SECONDS);
        else if (address)
                gp_log(NULL, LOG_INFO, LOG_FIELDS(x), "%s: metrics served on %s://%s/metrics", x->name,
                       x->tls ? "https" : "http", address);
        else
                gp_log(NULL, LOG_INFO, LOG_FIELDS(x), "%s: metrics no longer served over HTTP", x->name);
        return 0;
}

int gp_metrics_exporter_attach(gp_metrics_exporter *x, sd_event *e) {
        int r;

        r = sd_event_add_time_relative(e, &x->heartbeat, CLOCK_MONOTONIC, HEARTBEAT_USEC,
                                       100 * USEC_PER_MSEC, on_heartbeat, x);
        if (r < 0)
                return r;
        return sd_event_add_io(e, &x->reports, gp_metrics_server_fd(x->server), EPOLLIN, on_report, x);
}

gp_metrics_exporter *gp_metrics_exporter_free(gp_metrics_exporter *x) {
        if (!x)
                return NULL;
        gp_metrics_server_free(x->server);
        sd_event_source_disable_unref(x->heartbeat);
        sd_event_source_disable_unref(x->reports);
        free(x->name);
        free(x->listen);
        free(x->file);
        free(x->file_error);
        free(x->render_error);
        free(x);
        return NULL;
}

static void apply_listen(gp_metrics_exporter *x, const char *want) {
        if (streq_ptr(want, x->listen))
                return;
        if (set_string(&x->listen, want) < 0 || gp_metrics_server_listen(x->server, want) < 0)
                gp_log(NULL, LOG_ERR, LOG_FIELDS(x), "%s: MetricsListen=: out of memory", x->name);
}

/* A file left at the old path would be collected forever, frozen: it goes. */
static void apply_file(gp_metrics_exporter *x, const char *want) {
        if (streq_ptr(want, x->file))
                return;
        if (x->file && unlink(x->file) < 0 && errno != ENOENT)
                gp_log(NULL, LOG_WARNING, LOG_FIELDS(x), "%s: cannot remove the old MetricsFile= %s: %s",
                       x->name, x->file, strerror(errno));
        if (set_string(&x->file, want) < 0)
                gp_log(NULL, LOG_ERR, LOG_FIELDS(x), "%s: MetricsFile=: out of memory", x->name);
        x->file_error = mfree(x->file_error);
}

static void write_file(gp_metrics_exporter *x, const char *text, size_t len) {
        _cleanup_free_ char *err = NULL;

        if (gp_write_atomic(x->file, text, len, 0644, &err) < 0) {
                /* Once per distinct error, not once per run. */
                if (!streq_ptr(err, x->file_error))
                        gp_log(NULL, LOG_ERR, LOG_FIELDS(x), "%s: cannot write the MetricsFile=: %s",
                               x->name, strempty(err));
                free(x->file_error);
                x->file_error = err ? TAKE_PTR(err) : strdup("");
        } else if (x->file_error) {
                gp_log(NULL, LOG_INFO, LOG_FIELDS(x), "%s: MetricsFile= %s written again", x->name, x->file);
                x->file_error = mfree(x->file_error);
        }
}

void gp_metrics_exporter_update(gp_metrics_exporter *x, const gp_config *cfg, const gp_report *rep,
                                unsigned skipped, bool up) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        int r;

        if (!x)
                return;
        (void) set_string(&x->name, cfg->name);
        gp_metrics_server_heartbeat(x->server, now_usec(CLOCK_MONOTONIC));
        apply_listen(x, up ? cfg->metrics_listen : NULL);
        apply_file(x, cfg->metrics_file);
        if (!x->listen && !x->file)
                return;

        r = gp_metrics_render(&(gp_metrics_input) {
                        .name = rep->name, .version = rep->daemon.version, .up = up,
                        .started_at = rep->daemon.started_at, .interval = rep->daemon.interval,
                        .history = rep->history, .last = rep->last, .skipped = skipped,
                        .silenced_until = rep->daemon.silence ? rep->daemon.silence->until : 0,
                }, &text, &len);
        if (r < 0) {
                if (!x->render_error)
                        gp_log(NULL, LOG_ERR, LOG_FIELDS(x), "%s: cannot render the metrics: %s", x->name,
                               strerror(-r));
                free(x->render_error);
                x->render_error = strdup(strerror(-r));
                return;
        }
        x->render_error = mfree(x->render_error);
        if (x->file)
                write_file(x, text, len);
        if (x->listen)
                /* NULL blobs (no memory) make /metrics and /status answer 503 until the next run. */
                gp_metrics_server_publish(x->server, gp_blob_new(text, len), gp_blob_ref(rep->status));
}

void gp_metrics_exporter_configure_api(gp_metrics_exporter *x, const gp_config *cfg) {
        gp_api_settings set = {
                .tls_certificate = cfg->api_tls_certificate_path,
                .tls_key = cfg->api_tls_key_path,
                .client_ca = cfg->api_client_ca_path,
                .client_crl = cfg->api_client_crl_path,
                .metrics_auth = cfg->api_metrics_auth,
                .max_request_bytes = cfg->api_max_request_bytes,
                .max_connections = cfg->api_max_connections,
                .rate_limit = cfg->api_rate_limit,
        };

        if (!x)
                return;
        x->tls = set.tls_certificate != NULL;
        if (gp_api_set_tokens(gp_metrics_server_api(x->server), cfg->api_token_list) < 0 ||
            gp_metrics_server_configure_api(x->server, &set) < 0)
                gp_log(NULL, LOG_ERR, LOG_FIELDS(x), "%s: [API]: out of memory", cfg->name);
}

bool gp_metrics_exporter_listening(const gp_metrics_exporter *x) {
        return x && x->listen;
}

gp_api *gp_metrics_exporter_api(gp_metrics_exporter *x) {
        return x ? gp_metrics_server_api(x->server) : NULL;
}
