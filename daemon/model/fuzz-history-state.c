/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as a StateFile=, loaded as the daemon loads it at start. The bytes
 * go to a memfd read through /proc/self/fd, so the real loader (bounded read included) runs.
 * Checks that loading never crashes, that a refusal has a one-line reason and leaves the history
 * as it was, and that an accepted state is consistent and goes on recording runs. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "history.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_stats(const gp_history *h) {
        gp_window_stats st;
        json_t *j;

        gp_history_stats(h, &st);
        if (st.runs != gp_history_size(h) || st.pass + st.degraded + st.fail != st.runs)
                abort();
        if (st.runs > 0 && !(st.p50 <= st.p95 && st.p95 <= st.p99 && st.p99 <= st.max))
                abort();
        if (!(st.success_ratio >= 0 && st.success_ratio <= 1))
                abort();
        for (size_t i = 0; i < gp_history_size(h); i++) {
                const gp_history_entry *e = gp_history_get(h, i);

                /* A failed run may lack a code (counted as "unknown"); a passing one never has one. */
                if (!e || (e->verdict == GP_VERDICT_PASS && e->code))
                        abort();
        }
        j = gp_history_to_json(h);
        if (!j)
                abort();
        json_decref(j);
        j = gp_window_to_json(h);
        if (!j)
                abort();
        json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static int fd = -1;
        static char path[64];
        gp_history *h;
        char *error = NULL;
        gp_result res = {0};
        gp_transition tr;
        int r;

        if (fd < 0) {
                fd = memfd_create("fuzz-state", MFD_CLOEXEC);
                if (fd < 0)
                        abort();
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        }
        if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t) size)
                abort();

        h = gp_history_new(10);
        if (!h)
                abort();
        r = gp_history_load(h, path, &error);
        if (r < 0) {
                if (r != -ENOMEM && (!error || strchr(error, '\n')))
                        abort();
                if (gp_history_size(h) != 0 || gp_history_consecutive_failures(h) != 0)
                        abort();
        } else {
                if (error || gp_history_size(h) > 10)
                        abort();
                if (gp_history_consecutive_failures(h) > 0 && gp_history_consecutive_passes(h) > 0)
                        abort();
        }
        free(error);
        check_stats(h);

        /* The loaded state goes on: a failing run, then a passing one. */
        res.verdict = GP_VERDICT_FAIL;
        res.code = (char *) "net.connect";
        res.duration = 1000;
        if (gp_history_record(h, &res, 3, 1, &tr) < 0 || gp_history_consecutive_failures(h) == 0)
                abort();
        res.verdict = GP_VERDICT_PASS;
        res.code = NULL;
        if (gp_history_record(h, &res, 3, 1, &tr) < 0 || gp_history_consecutive_passes(h) != 1 ||
            gp_history_alerting(h))
                abort();
        check_stats(h);
        gp_history_free(h);
        return 0;
}
