/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "report.h"
#include "util.h"

int gp_report_new(const gp_config *cfg, const gp_daemon_info *d, const gp_history *h, const gp_result *last,
                  usec_t updated_at, gp_report **ret) {
        _cleanup_report_ gp_report *r = NULL;
        _cleanup_free_ char *line = NULL;
        size_t len = 0;

        if (!cfg || !d || !h || !ret)
                return -EINVAL;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        *r = (gp_report) {
                .name = strempty(cfg->name),
                .updated_at = updated_at,
                .daemon = *d,
                .last = last,
                .history = h,
                .consecutive_failures = gp_history_consecutive_failures(h),
                .consecutive_passes = gp_history_consecutive_passes(h),
                .alerting = gp_history_alerting(h),
        };
        line = gp_status_render(cfg, d, h, last, updated_at, &len, &r->last_json);
        r->status = line ? gp_blob_new(line, len) : NULL;
        if (!r->status)
                return -ENOMEM;
        *ret = TAKE_PTR(r);
        return 0;
}

gp_report *gp_report_free(gp_report *r) {
        if (!r)
                return NULL;
        gp_blob_unref(r->status);
        free(r->last_json);
        free(r);
        return NULL;
}

int gp_report_write_status(const gp_report *r, const char *path, char **ret_error) {
        return gp_write_atomic(path, gp_blob_data(r->status), gp_blob_size(r->status), 0644, ret_error);
}
