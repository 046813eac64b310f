/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as a status file, read as gpprobectl reads it. Checks that parsing
 * never crashes, that a refusal always has a reason, and that an accepted document is
 * self-consistent where the gate relies on it. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "silence.h"
#include "statusfile-read.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *error = NULL;
        const gp_sf_entry *reset = NULL;
        unsigned passes = 0, runs = 0;
        size_t n_runs = 0;
        double ratio = -1;
        int r;

        r = gp_status_file_parse(data, size, &sf, &error);
        if (r < 0) {
                if (sf || (r != -ENOMEM && !error))
                        abort();
                return 0;
        }
        if (!sf || error || sf->schema != GP_STATUS_SCHEMA || !sf->name || sf->interval == 0)
                abort();
        if ((size_t) sf->n_history > 0 && !sf->history)
                abort();
        for (size_t i = 0; i < sf->n_history; i++)
                if (gp_sf_result_to_string(sf->history[i].result) == NULL)
                        abort();
        if (sf->have_last && gp_sf_result_to_string(sf->last.result) == NULL)
                abort();
        /* A silence's text reaches a terminal: only what the daemon itself would accept. */
        if (sf->have_silence && (gp_silence_text_check("reason", sf->silence_reason, GP_SILENCE_REASON_MAX, NULL) < 0 ||
                                 (sf->silence_by && gp_silence_text_check("by", sf->silence_by, GP_SILENCE_BY_MAX,
                                                                          NULL) < 0)))
                abort();

        for (size_t n = 0; n <= sf->n_history + 1; n++) {
                r = gp_status_file_ratio(sf, n, &ratio, &n_runs);
                if (r == -ENODATA) {
                        if (sf->n_history != 0)
                                abort();
                        continue;
                }
                if (r < 0 || !(ratio >= 0 && ratio <= 1) || n_runs == 0 || n_runs > sf->n_history)
                        abort();
        }
        for (int allow = 0; allow < 2; allow++) {
                gp_status_file_passes_since(sf, 0, allow, &passes, &runs, &reset);
                if (passes > runs || runs > sf->n_history || (reset && passes == runs))
                        abort();
        }
        return 0;
}
