/* SPDX-License-Identifier: MIT */
/* gpprobectl history: the runs in a probe's window, newest first, as lines or as the writer's JSON. */
#include <stdio.h>

#include "ctl-internal.h"

int gp_ctl_history(const gp_ctl_args *a) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *err = NULL;
        json_t *array = NULL, *entries;
        size_t shown = 0;

        if (a->n_names != 1)
                return gp_ctl_usage_error("history", "expects exactly one probe NAME");
        if (gp_ctl_load_status(a, a->names[0], &sf, &err) < 0) {
                fprintf(stderr, "gpprobectl history: %s\n", err ? err : "out of memory");
                return EXIT_UNKNOWN;
        }
        entries = json_object_get(sf->root, "history");
        if (a->json && !(array = json_array()))
                return EXIT_UNKNOWN;
        for (size_t i = sf->n_history; i-- > 0 && (a->limit == 0 || shown < a->limit); shown++) {
                const gp_sf_entry *e = &sf->history[i];
                char when[32], took[64];

                if (array) {
                        /* Validated above: the writer's own object, as it wrote it. */
                        json_array_append(array, json_array_get(entries, i));
                        continue;
                }
                printf("%-24s  %-8s  %9s%s%s\n", format_rfc3339(when, sizeof(when), e->started_at),
                       gp_sf_result_to_string(e->result),
                       gp_ctl_format_ms(took, sizeof(took), e->duration_ms), e->code ? "  " : "",
                       strempty(e->code));
        }
        if (array)
                return gp_ctl_dump_json(array);
        fflush(stdout);
        return 0;
}
