/* SPDX-License-Identifier: MIT */
/* gpprobectl status: one line (or a JSON object) per probe, for people. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl-internal.h"

static int compare_names(const void *x, const void *y) {
        return strcmp(*(char * const *) x, *(char * const *) y);
}

static char **list_probes(const char *dir, int *ret_errno) {
        _cleanup_strv_free_ char **names = NULL;
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d) {
                *ret_errno = errno;
                return NULL;
        }
        while ((errno = 0, de = readdir(d))) {
                size_t n = strlen(de->d_name);

                /* The daemon's temporary files start with a dot or do not end in .json. */
                if (de->d_name[0] == '.' || n <= 5 || !streq(de->d_name + n - 5, ".json"))
                        continue;
                if (strv_consume(&names, strndup(de->d_name, n - 5)) < 0) {
                        closedir(d);
                        *ret_errno = ENOMEM;
                        return NULL;
                }
        }
        closedir(d);
        if (!names && !(names = calloc(1, sizeof(char *)))) {
                *ret_errno = ENOMEM;
                return NULL;
        }
        qsort(names, strv_length(names), sizeof(char *), compare_names);
        return TAKE_PTR(names);
}

/* "; SILENCED until ..." (issue 13), and nothing when no silence is in force. */
static void print_silence(const gp_status_file *sf, usec_t now) {
        _cleanup_free_ char *note = gp_ctl_silence_note(sf, now);

        if (note)
                printf("; SILENCED: %s", note);
}

static void print_status_line(const char *name, const gp_status_file *sf, usec_t now) {
        char ago[64], took[64], pct[16];

        if (!sf->have_last) {
                printf("%s: no run yet (daemon started %s)", name,
                       gp_ctl_format_ago(ago, sizeof(ago), sf->daemon_started_at, now));
                print_silence(sf, now);
                putchar('\n');
                return;
        }
        printf("%s: %s %s, took %s", name, gp_sf_result_to_string(sf->last.result),
               gp_ctl_format_ago(ago, sizeof(ago), sf->last.finished_at, now),
               gp_ctl_format_ms(took, sizeof(took), sf->last.duration_ms));
        if (sf->last.result != GP_SF_PASS)
                printf(" (%s: %s)", strempty(sf->last.code), strempty(sf->last.reason));
        printf("; %s of %u runs succeeded; %u consecutive failure%s%s",
               gp_ctl_format_percent(pct, sizeof(pct), sf->success_ratio), sf->window_runs,
               sf->consecutive_failures, sf->consecutive_failures == 1 ? "" : "s",
               sf->alerting ? "; ALERTING" : "");
        print_silence(sf, now);
        putchar('\n');
}

static json_t *time_or_null(usec_t t, bool set) {
        char buf[32];

        return set ? json_string(format_rfc3339(buf, sizeof(buf), t)) : json_null();
}

static json_t *string_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

static json_t *silence_json(const gp_status_file *sf, usec_t now) {
        if (!gp_status_file_silenced(sf, now))
                return json_null();
        return json_pack("{s:o, s:s, s:o}", "until", time_or_null(sf->silence_until, true), "reason",
                         sf->silence_reason, "by", string_or_null(sf->silence_by));
}

static json_t *status_json(const char *name, const char *path, const gp_status_file *sf, const char *error,
                           usec_t now) {
        const gp_sf_last *l = sf ? &sf->last : NULL;
        bool last = sf && sf->have_last;
        json_t *o;

        if (!sf)
                return json_pack("{s:s, s:s, s:b, s:s}", "name", name, "path", path, "valid", false,
                                 "error", strempty(error));
        o = json_pack("{s:s, s:s, s:b, s:n, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:f, s:I, s:I, "
                         "s:I, s:b}",
                         "name", name, "path", path, "valid", true, "error",
                         "updated_at", time_or_null(sf->updated_at, true),
                         "result", last ? json_string(gp_sf_result_to_string(l->result)) : json_null(),
                         "code", string_or_null(last ? l->code : NULL),
                         "reason", string_or_null(last ? l->reason : NULL),
                         "started_at", time_or_null(l->started_at, last),
                         "finished_at", time_or_null(l->finished_at, last),
                         "age_ms", last ? json_real(((double) now - (double) l->finished_at) / 1000.0)
                                        : json_null(),
                         "duration_ms", last && l->duration_ms >= 0 ? json_real(l->duration_ms) : json_null(),
                         "window_runs", json_integer(sf->window_runs),
                         "success_ratio", sf->success_ratio,
                         "consecutive_failures", (json_int_t) sf->consecutive_failures,
                         "consecutive_passes", (json_int_t) sf->consecutive_passes,
                         "interval_ms", (json_int_t) (sf->interval / USEC_PER_MSEC),
                         "alerting", sf->alerting);
        if (o && json_object_set_new(o, "silence", silence_json(sf, now)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

int gp_ctl_status(const gp_ctl_args *a) {
        _cleanup_strv_free_ char **scanned = NULL;
        char * const *names = a->names;
        size_t n = a->n_names;
        usec_t now = now_usec(CLOCK_REALTIME);
        json_t *array = NULL;
        bool bad = false;

        if (n == 0 && a->url) {
                /* One server, one probe: its name is in the document. */
                _cleanup_status_file_ gp_status_file *sf = NULL;
                _cleanup_free_ char *err = NULL;

                if (gp_ctl_load_status(a, NULL, &sf, &err) < 0) {
                        fprintf(stderr, "gpprobectl: %s\n", err ? err : "out of memory");
                        return EXIT_UNKNOWN;
                }
                if (strv_extend(&scanned, sf->name) < 0)
                        return EXIT_UNKNOWN;
                names = scanned;
                n = 1;
        } else if (n == 0) {
                int e = 0;

                scanned = list_probes(a->status_dir, &e);
                if (!scanned) {
                        fprintf(stderr, "gpprobectl: %s: %s\n", a->status_dir, strerror(e));
                        return EXIT_UNKNOWN;
                }
                names = scanned;
                n = strv_length(scanned);
                if (n == 0) {
                        fprintf(stderr, "gpprobectl: no status files in %s\n", a->status_dir);
                        bad = true;
                }
        }
        if (a->json && !(array = json_array()))
                return EXIT_UNKNOWN;
        for (size_t i = 0; i < n; i++) {
                _cleanup_status_file_ gp_status_file *sf = NULL;
                _cleanup_free_ char *path = gp_ctl_source_name(a, names[i]), *err = NULL;

                if (!path) {
                        json_decref(array);
                        return EXIT_UNKNOWN;
                }
                if (gp_ctl_load_status(a, names[i], &sf, &err) < 0)
                        bad = true;
                if (array)
                        json_array_append_new(array, status_json(names[i], path, sf, err, now));
                else if (!sf)
                        printf("%s: unknown: %s\n", names[i], err ? err : "out of memory");
                else
                        print_status_line(names[i], sf, now);
        }
        if (array && gp_ctl_dump_json(array) != 0)
                return EXIT_UNKNOWN;
        fflush(stdout);
        return bad ? EXIT_UNKNOWN : 0;
}
