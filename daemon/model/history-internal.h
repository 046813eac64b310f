/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by history.c (the window, streaks, alert state) and history-state.c (StateFile=). Not for
 * other modules: they use history.h. */

#include <jansson.h>

#include "history.h"
#include "stream-totals.h"
#include "json-util.h"
#include "util.h"

#define GP_HISTORY_CAPACITY_MAX 100000U
#define GP_HISTORY_CODE_MAX 128
/* RFC 3339 needs a four-digit year: 10000-01-01T00:00:00Z. */
#define GP_REALTIME_MAX ((usec_t) 253402300800ULL * USEC_PER_SEC)

/* The window is a ring of up to capacity entries, the oldest at head. Until it is full it stays
 * linear (head == 0), so it can grow on demand instead of allocating History= entries up front.
 * sorted holds the same durations in ascending order (insert and remove are a memmove), so
 * gp_history_stats() never allocates and cannot fail. */
struct gp_history {
        unsigned capacity;
        gp_history_entry *entries;
        usec_t *sorted;
        size_t n, head, allocated;

        unsigned consecutive_failures;
        unsigned consecutive_passes;
        bool alerting;
        usec_t last_pass_at;
        usec_t last_failure_at;
        unsigned totals[GP_VERDICT_FAIL + 1];
        gp_duration_histogram durations[GP_VERDICT_FAIL + 1];
        gp_code_total *codes;    /* history-totals.c */
        size_t n_codes;
        gp_stream_totals stream; /* stream-totals.c (issue 12) */
};

static inline gp_history_entry *gp_history_entry_at(const gp_history *h, size_t i) {
        return &h->entries[(h->head + i) % h->capacity];
}

static inline void gp_history_freep(gp_history **h) {
        gp_history_free(*h);
}

/* What record accepts is exactly what load accepts, so whatever is saved loads back. */
bool gp_history_code_is_valid(const char *s);
bool gp_history_run_id_is_valid(const char *s);

/* history-render.c: the entry's status_json, from gp_history_entry_to_json (-ENOMEM), and what an
 * entry owns, freed. */
int gp_history_entry_render(gp_history_entry *e);
void gp_history_entry_done(gp_history_entry *e);

/* Adds a checked entry (its code taken over, freed on error) to the window and counts it (totals,
 * histograms, streaks, last_*_at = at), leaving the alert state to the caller: what recording a
 * run and replaying an appended one share. -ENOMEM, changing nothing. */
int gp_history_push(gp_history *h, gp_history_entry *e, usec_t at);

/* Both arrays with room for n (at least 1) entries. -ENOMEM. */
int gp_history_window_alloc(size_t n, gp_history_entry **ret_entries, usec_t **ret_sorted);
/* Fills sorted from a linear window (head == 0). */
void gp_history_sort_durations(gp_history *h);

/* history-totals.c: the counters by code and the duration histograms. Prepare may fail (-ENOMEM)
 * and changes nothing visible; count then cannot fail. */
int gp_history_totals_prepare(gp_history *h, gp_verdict v, const char *code);
void gp_history_totals_count(gp_history *h, gp_verdict v, const char *code, usec_t duration);
void gp_history_totals_free(gp_history *h);
/* StateFile= members "failures_total", "degraded_total" and "durations"; all optional on load (a
 * state file from before them loads with zeros). Load: -EINVAL with a message in error. */
int gp_history_totals_to_json(const gp_history *h, json_t *state);
int gp_history_totals_from_json(gp_history *h, json_t *state, char *error, size_t size);
