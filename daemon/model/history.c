/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdint.h>

#include "history-internal.h"

static bool verdict_is_recordable(gp_verdict v) {
        return v == GP_VERDICT_PASS || v == GP_VERDICT_DEGRADED || v == GP_VERDICT_FAIL;
}

/* Codes are stable identifiers (SPEC section 2): "net.dns", "slo.first_event". Checked the same
 * way when recording and when loading, so whatever is saved loads back. */
bool gp_history_code_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > GP_HISTORY_CODE_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      *p == '.' || *p == '_' || *p == '-'))
                        return false;
        return true;
}

/* Run ids are UUIDs; anything printable up to 36 bytes is accepted (tests use short ones). */
bool gp_history_run_id_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n > 36)
                return false;
        for (const char *p = s; *p; p++)
                if (*p < 0x21 || *p > 0x7e)
                        return false;
        return true;
}

static unsigned inc_sat(unsigned u) {
        return u == UINT_MAX ? u : u + 1;
}

gp_history *gp_history_new(unsigned capacity) {
        gp_history *h;

        if (capacity < 1 || capacity > GP_HISTORY_CAPACITY_MAX) {
                errno = EINVAL;
                return NULL;
        }
        h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->capacity = capacity;
        return h;
}

gp_history *gp_history_free(gp_history *h) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n; i++)
                gp_history_entry_done(gp_history_entry_at(h, i));
        free(h->entries);
        free(h->sorted);
        gp_history_totals_free(h);
        free(h);
        return NULL;
}

/* Index of the first element of sorted[0..n) that is > v (upper) or >= v (lower). */
static size_t sorted_bound(const usec_t *sorted, size_t n, usec_t v, bool upper) {
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (sorted[mid] < v || (upper && sorted[mid] == v))
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static void sorted_insert(gp_history *h, usec_t v) {
        size_t i = sorted_bound(h->sorted, h->n, v, true);

        memmove(h->sorted + i + 1, h->sorted + i, (h->n - i) * sizeof(usec_t));
        h->sorted[i] = v;
}

static void sorted_remove(gp_history *h, usec_t v) {
        size_t i = sorted_bound(h->sorted, h->n, v, false);

        memmove(h->sorted + i, h->sorted + i + 1, (h->n - i - 1) * sizeof(usec_t));
}

void gp_history_sort_durations(gp_history *h) {
        for (size_t i = 0; i < h->n; i++)
                h->sorted[i] = h->entries[i].duration;
        qsort(h->sorted, h->n, sizeof(usec_t), usec_compare);
}

/* Replaces h's arrays with the given ones, holding n entries (taken over). */
static void window_set(gp_history *h, gp_history_entry *entries, usec_t *sorted, size_t n) {
        free(h->entries);
        free(h->sorted);
        h->entries = entries;
        h->sorted = sorted;
        h->n = h->allocated = n;
        h->head = 0;
        gp_history_sort_durations(h);
}

int gp_history_window_alloc(size_t n, gp_history_entry **ret_entries, usec_t **ret_sorted) {
        gp_history_entry *e;
        usec_t *s;

        /* calloc(0) may return NULL: always ask for at least one element. */
        e = calloc(MAX(n, 1u), sizeof(gp_history_entry));
        s = calloc(MAX(n, 1u), sizeof(usec_t));
        if (!e || !s) {
                free(e);
                free(s);
                return -ENOMEM;
        }
        *ret_entries = e;
        *ret_sorted = s;
        return 0;
}

int gp_history_set_capacity(gp_history *h, unsigned capacity) {
        gp_history_entry *entries;
        usec_t *sorted;
        size_t keep, drop;
        int r;

        if (!h || capacity < 1 || capacity > GP_HISTORY_CAPACITY_MAX)
                return -EINVAL;
        if (capacity == h->capacity)
                return 0;
        keep = MIN(h->n, (size_t) capacity);
        drop = h->n - keep;
        r = gp_history_window_alloc(keep, &entries, &sorted);
        if (r < 0)
                return r;
        for (size_t i = 0; i < drop; i++)
                gp_history_entry_done(gp_history_entry_at(h, i));
        for (size_t i = 0; i < keep; i++)
                entries[i] = *gp_history_entry_at(h, drop + i);
        window_set(h, entries, sorted, keep);
        h->capacity = capacity;
        return 0;
}

/* Makes room for one more entry while the window is not full yet. */
static int window_reserve(gp_history *h) {
        gp_history_entry *e;
        usec_t *s;
        size_t n;

        if (h->n < h->allocated || h->n == h->capacity)
                return 0;
        n = MIN((size_t) h->capacity, MAX((size_t) 16, h->allocated * 2));
        e = realloc(h->entries, n * sizeof(gp_history_entry));
        if (!e)
                return -ENOMEM;
        h->entries = e;
        s = realloc(h->sorted, n * sizeof(usec_t));
        if (!s)
                return -ENOMEM;
        h->sorted = s;
        h->allocated = n;
        return 0;
}

static void window_push(gp_history *h, gp_history_entry *e) {
        if (h->n == h->capacity) {
                gp_history_entry *oldest = gp_history_entry_at(h, 0);

                sorted_remove(h, oldest->duration);
                gp_history_entry_done(oldest);
                h->head = (h->head + 1) % h->capacity;
                h->n--;
        }
        sorted_insert(h, e->duration);
        *gp_history_entry_at(h, h->n) = *e;
        h->n++;
}

int gp_history_push(gp_history *h, gp_history_entry *e, usec_t at) {
        gp_verdict v = e->verdict;
        int k;

        k = window_reserve(h);
        if (k >= 0)
                k = gp_history_entry_render(e);
        if (k >= 0)
                k = gp_history_totals_prepare(h, v, e->code);
        if (k < 0) {
                gp_history_entry_done(e);
                return k;
        }
        window_push(h, e);
        e = gp_history_entry_at(h, h->n - 1);

        /* A degraded run passed (only an SLO was exceeded): it counts as a pass here, as it does
         * for the streaks and success_ratio. */
        h->totals[v] = inc_sat(h->totals[v]);
        gp_history_totals_count(h, v, e->code, e->duration);
        if (v == GP_VERDICT_FAIL) {
                h->consecutive_failures = inc_sat(h->consecutive_failures);
                h->consecutive_passes = 0;
                h->last_failure_at = at;
        } else {
                h->consecutive_passes = inc_sat(h->consecutive_passes);
                h->consecutive_failures = 0;
                h->last_pass_at = at;
        }
        return 0;
}

int gp_history_record(gp_history *h, const gp_result *r, unsigned alert_after, unsigned recover_after,
                      gp_transition *ret) {
        gp_history_entry e = {0};
        gp_transition t = GP_TRANSITION_NONE;
        int k;

        if (!h || !r || alert_after < 1 || recover_after < 1 || !verdict_is_recordable(r->verdict))
                return -EINVAL;
        /* Whatever is recorded must save and load back: same checks as the loader. A failed or
         * degraded run without its code (an ENOMEM the probe reports as such) is no verdict:
         * counted, it would blame a code "unknown". */
        if (r->verdict != GP_VERDICT_PASS && (!r->code || !gp_history_code_is_valid(r->code)))
                return -EINVAL;
        if (strnlen(r->run_id, sizeof(r->run_id)) == sizeof(r->run_id) ||
            !gp_history_run_id_is_valid(r->run_id))
                return -EINVAL;
        if (r->started_at >= GP_REALTIME_MAX || r->finished_at >= GP_REALTIME_MAX || r->duration > INT64_MAX)
                return -EINVAL;

        if (r->verdict != GP_VERDICT_PASS && r->code) {
                e.code = strdup(r->code);
                if (!e.code)
                        return -ENOMEM;
        }
        memcpy(e.run_id, r->run_id, strlen(r->run_id));
        e.started_at = r->started_at;
        e.verdict = r->verdict;
        e.duration = r->duration;
        /* The time a run's outcome became known; a run without finished_at falls back to its
         * start. */
        k = gp_history_push(h, &e, r->finished_at ? r->finished_at : r->started_at);
        if (k < 0)
                return k;
        gp_stream_totals_count(&h->stream, r);
        if (r->verdict == GP_VERDICT_FAIL) {
                if (!h->alerting && h->consecutive_failures >= alert_after) {
                        h->alerting = true;
                        t = GP_TRANSITION_ALERT_RAISED;
                }
        } else if (h->alerting && h->consecutive_passes >= recover_after) {
                h->alerting = false;
                t = GP_TRANSITION_RECOVERED;
        }
        if (ret)
                *ret = t;
        return 0;
}

const gp_stream_totals *gp_history_stream_totals(const gp_history *h) {
        return &h->stream;
}

unsigned gp_history_consecutive_failures(const gp_history *h) {
        return h->consecutive_failures;
}

unsigned gp_history_consecutive_passes(const gp_history *h) {
        return h->consecutive_passes;
}

bool gp_history_alerting(const gp_history *h) {
        return h->alerting;
}

usec_t gp_history_last_pass_at(const gp_history *h) {
        return h->last_pass_at;
}

usec_t gp_history_last_failure_at(const gp_history *h) {
        return h->last_failure_at;
}

unsigned gp_history_runs_total(const gp_history *h, gp_verdict v) {
        return verdict_is_recordable(v) ? h->totals[v] : 0;
}

size_t gp_history_size(const gp_history *h) {
        return h->n;
}

const gp_history_entry *gp_history_get(const gp_history *h, size_t i) {
        return i < h->n ? gp_history_entry_at(h, i) : NULL;
}

void gp_history_stats(const gp_history *h, gp_window_stats *ret) {
        gp_window_stats s = {
                .p50 = USEC_INFINITY,
                .p95 = USEC_INFINITY,
                .p99 = USEC_INFINITY,
                .max = USEC_INFINITY,
        };

        for (size_t i = 0; i < h->n; i++)
                switch (gp_history_entry_at(h, i)->verdict) {
                case GP_VERDICT_PASS:
                        s.pass++;
                        break;
                case GP_VERDICT_DEGRADED:
                        s.degraded++;
                        break;
                default:
                        s.fail++;
                        break;
                }
        s.runs = (unsigned) h->n;
        if (h->n > 0) {
                s.success_ratio = (double) (s.pass + s.degraded) / (double) s.runs;
                s.p50 = usec_percentile(h->sorted, h->n, 50);
                s.p95 = usec_percentile(h->sorted, h->n, 95);
                s.p99 = usec_percentile(h->sorted, h->n, 99);
                s.max = h->sorted[h->n - 1];
        }
        *ret = s;
}

json_t *gp_history_to_json(const gp_history *h) {
        json_auto_t *a = json_array();

        if (!a)
                return NULL;
        for (size_t i = 0; i < h->n; i++)
                if (json_array_append_new(a, gp_history_entry_to_json(gp_history_entry_at(h, i))) < 0)
                        return NULL;
        return TAKE_PTR(a);
}

/* The status file is dumped with 15 significant digits (so that 1210.4 is not written as
 * 1210.4000000000001); a ratio is stored as the double its 15-digit form reads back as, so the
 * file parses back to exactly the document that was built. */
static double round_15_digits(double v) {
        char buf[32];

        snprintf(buf, sizeof(buf), "%.15g", v);
        return strtod(buf, NULL);
}

json_t *gp_window_to_json(const gp_history *h) {
        json_auto_t *o = json_object(), *d = json_object();
        gp_window_stats s;

        if (!o || !d)
                return NULL;
        gp_history_stats(h, &s);
        if (gp_json_set_new(o, "runs", json_integer(s.runs)) < 0 ||
            gp_json_set_new(o, "pass", json_integer(s.pass)) < 0 ||
            gp_json_set_new(o, "degraded", json_integer(s.degraded)) < 0 ||
            gp_json_set_new(o, "fail", json_integer(s.fail)) < 0 ||
            gp_json_set_new(o, "success_ratio", json_real(round_15_digits(s.success_ratio))) < 0 ||
            gp_json_set_new(o, "duration_ms", json_incref(d)) < 0 ||
            gp_json_set_new(d, "p50", gp_json_ms(s.p50)) < 0 ||
            gp_json_set_new(d, "p95", gp_json_ms(s.p95)) < 0 ||
            gp_json_set_new(d, "p99", gp_json_ms(s.p99)) < 0 ||
            gp_json_set_new(d, "max", gp_json_ms(s.max)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

