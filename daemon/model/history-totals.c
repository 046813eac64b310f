/* SPDX-License-Identifier: MIT */
/* Counters that only grow, kept for the metrics (gpprobe_failures_total, gpprobe_duration_seconds)
 * and persisted in StateFile= with the rest of the history, so a restart does not reset them. */
#include <errno.h>
#include <limits.h>

#include "histogram.h"
#include "history-internal.h"

const usec_t gp_duration_bounds[GP_DURATION_BUCKETS] = {
        100 * USEC_PER_MSEC, 250 * USEC_PER_MSEC, 500 * USEC_PER_MSEC, 1 * USEC_PER_SEC, 2 * USEC_PER_SEC,
        5 * USEC_PER_SEC, 10 * USEC_PER_SEC, 20 * USEC_PER_SEC, 30 * USEC_PER_SEC, 60 * USEC_PER_SEC,
};

static const char * const verdict_keys[] = {
        [GP_VERDICT_PASS] = "pass",
        [GP_VERDICT_DEGRADED] = "degraded",
        [GP_VERDICT_FAIL] = "fail",
};

static bool counted_by_code(gp_verdict v) {
        return v == GP_VERDICT_DEGRADED || v == GP_VERDICT_FAIL;
}

static const char *code_key(const char *code) {
        return code ? code : "unknown";
}

static int code_cmp(gp_verdict v, const char *code, const gp_code_total *t) {
        if (v != t->verdict)
                return v < t->verdict ? -1 : 1;
        return strcmp(code, t->code);
}

/* The index of (v, code), or where it would be inserted (*ret_found false). */
static size_t code_find(const gp_history *h, gp_verdict v, const char *code, bool *ret_found) {
        size_t lo = 0, hi = h->n_codes;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = code_cmp(v, code, &h->codes[mid]);

                if (c == 0) {
                        *ret_found = true;
                        return mid;
                }
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        *ret_found = false;
        return lo;
}

/* Adds (v, code) with count 0 unless present or the table is full. -ENOMEM. */
static int code_insert(gp_history *h, gp_verdict v, const char *code, unsigned count) {
        gp_code_total *a;
        bool found;
        size_t i = code_find(h, v, code, &found);
        char *s;

        if (found || h->n_codes >= GP_HISTORY_CODES_MAX)
                return 0;
        s = strdup(code);
        if (!s)
                return -ENOMEM;
        a = realloc(h->codes, (h->n_codes + 1) * sizeof(*a));
        if (!a) {
                free(s);
                return -ENOMEM;
        }
        h->codes = a;
        memmove(a + i + 1, a + i, (h->n_codes - i) * sizeof(*a));
        a[i] = (gp_code_total) { .code = s, .verdict = v, .count = count };
        h->n_codes++;
        return 0;
}

int gp_history_totals_prepare(gp_history *h, gp_verdict v, const char *code) {
        return counted_by_code(v) ? code_insert(h, v, code_key(code), 0) : 0;
}

void gp_history_totals_count(gp_history *h, gp_verdict v, const char *code, usec_t duration) {
        gp_duration_histogram *d;
        bool found;

        if (v > GP_VERDICT_FAIL)
                return;
        d = &h->durations[v];
        gp_histogram_observe(d->buckets, &d->sum, gp_duration_bounds, GP_DURATION_BUCKETS, duration);

        if (counted_by_code(v)) {
                size_t i = code_find(h, v, code_key(code), &found);
                if (found && h->codes[i].count < UINT_MAX)
                        h->codes[i].count++;
        }
}

void gp_history_totals_free(gp_history *h) {
        for (size_t i = 0; i < h->n_codes; i++)
                free(h->codes[i].code);
        free(h->codes);
        h->codes = NULL;
        h->n_codes = 0;
}

const gp_duration_histogram *gp_history_durations(const gp_history *h, gp_verdict v) {
        return v <= GP_VERDICT_FAIL ? &h->durations[v] : NULL;
}

size_t gp_history_n_code_totals(const gp_history *h) {
        return h->n_codes;
}

const gp_code_total *gp_history_code_total(const gp_history *h, size_t i) {
        return i < h->n_codes ? &h->codes[i] : NULL;
}

unsigned gp_history_code_count(const gp_history *h, gp_verdict v, const char *code) {
        bool found;
        size_t i = code_find(h, v, code_key(code), &found);

        return found ? h->codes[i].count : 0;
}

/* ---- StateFile= ---------------------------------------------------------------------------- */

static json_t *codes_to_json(const gp_history *h, gp_verdict v) {
        json_auto_t *o = json_object();

        if (!o)
                return NULL;
        for (size_t i = 0; i < h->n_codes; i++)
                if (h->codes[i].verdict == v &&
                    gp_json_set_new(o, h->codes[i].code, json_integer(h->codes[i].count)) < 0)
                        return NULL;
        return TAKE_PTR(o);
}

static json_t *durations_to_json(const gp_history *h) {
        json_auto_t *o = json_object();

        if (!o ||
            gp_json_set_new(o, "bounds_us", gp_histogram_bounds_to_json(gp_duration_bounds, GP_DURATION_BUCKETS)) < 0)
                return NULL;
        for (gp_verdict v = GP_VERDICT_PASS; v <= GP_VERDICT_FAIL; v++)
                if (gp_json_set_new(o, verdict_keys[v], gp_histogram_to_json(h->durations[v].buckets,
                                                                             GP_DURATION_BUCKETS,
                                                                             h->durations[v].sum)) < 0)
                        return NULL;
        return TAKE_PTR(o);
}

int gp_history_totals_to_json(const gp_history *h, json_t *state) {
        if (gp_json_set_new(state, "failures_total", codes_to_json(h, GP_VERDICT_FAIL)) < 0 ||
            gp_json_set_new(state, "degraded_total", codes_to_json(h, GP_VERDICT_DEGRADED)) < 0 ||
            gp_json_set_new(state, "durations", durations_to_json(h)) < 0)
                return -ENOMEM;
        return 0;
}

static int fail(char *error, size_t size, const char *fmt, ...) _printf_(3, 4);
static int fail(char *error, size_t size, const char *fmt, ...) {
        size_t n;
        va_list ap;

        n = (size_t) snprintf(error, size, "invalid state file: ");
        va_start(ap, fmt);
        vsnprintf(error + n, size - n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static bool is_count(json_t *v, json_int_t max) {
        return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= max;
}

static int codes_from_json(gp_history *h, json_t *state, gp_verdict v, const char *key, char *error,
                           size_t size) {
        json_t *o = json_object_get(state, key), *n;
        const char *code;
        int r;

        if (!o)
                return 0;
        if (!json_is_object(o))
                return fail(error, size, "%s: expected an object", key);
        json_object_foreach(o, code, n) {
                if (!gp_history_code_is_valid(code))
                        return fail(error, size, "%s: invalid code", key);
                if (!is_count(n, UINT_MAX))
                        return fail(error, size, "%s.%s: expected an integer in 0..%u", key, code, UINT_MAX);
                if (h->n_codes >= GP_HISTORY_CODES_MAX)
                        return fail(error, size, "%s: more than %u codes", key, GP_HISTORY_CODES_MAX);
                r = code_insert(h, v, code, (unsigned) json_integer_value(n));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int durations_from_json(gp_history *h, json_t *state, char *error, size_t size) {
        gp_duration_histogram d[GP_VERDICT_FAIL + 1];
        json_t *o = json_object_get(state, "durations"), *bounds;
        int r;

        if (!o)
                return 0;
        if (!json_is_object(o))
                return fail(error, size, "durations: expected an object");
        bounds = json_object_get(o, "bounds_us");
        if (!json_is_array(bounds))
                return fail(error, size, "durations.bounds_us: expected an array");
        /* Other buckets (another version): the histograms start again, as after a counter reset. */
        if (!gp_histogram_bounds_match(bounds, gp_duration_bounds, GP_DURATION_BUCKETS))
                return 0;
        for (gp_verdict v = GP_VERDICT_PASS; v <= GP_VERDICT_FAIL; v++) {
                char what[32];

                snprintf(what, sizeof(what), "durations.%s", verdict_keys[v]);
                r = gp_histogram_from_json(json_object_get(o, verdict_keys[v]), what, GP_DURATION_BUCKETS,
                                           d[v].buckets, &d[v].sum, error, size);
                if (r < 0)
                        return r;
        }
        memcpy(h->durations, d, sizeof(d));
        return 0;
}

int gp_history_totals_from_json(gp_history *h, json_t *state, char *error, size_t size) {
        int r;

        r = codes_from_json(h, state, GP_VERDICT_FAIL, "failures_total", error, size);
        if (r < 0)
                return r;
        r = codes_from_json(h, state, GP_VERDICT_DEGRADED, "degraded_total", error, size);
        if (r < 0)
                return r;
        return durations_from_json(h, state, error, size);
}
