/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "histogram.h"
#include "json-util.h"
#include "util.h"

void gp_histogram_observe(uint64_t *buckets, usec_t *sum, const usec_t *bounds, size_t n, usec_t u) {
        size_t b = 0;

        while (b < n && u > bounds[b])
                b++;
        if (buckets[b] < INT64_MAX)
                buckets[b]++;
        *sum = u > INT64_MAX - *sum ? INT64_MAX : *sum + u;
}

json_t *gp_histogram_bounds_to_json(const usec_t *bounds, size_t n) {
        json_auto_t *a = json_array();

        if (!a)
                return NULL;
        for (size_t b = 0; b < n; b++)
                if (json_array_append_new(a, json_integer((json_int_t) bounds[b])) < 0)
                        return NULL;
        return TAKE_PTR(a);
}

json_t *gp_histogram_to_json(const uint64_t *buckets, size_t n, usec_t sum) {
        json_auto_t *o = json_object(), *a = json_array();

        if (!o || !a || gp_json_set_new(o, "buckets", json_incref(a)) < 0 ||
            gp_json_set_new(o, "sum_us", json_integer((json_int_t) sum)) < 0)
                return NULL;
        for (size_t b = 0; b <= n; b++)
                if (json_array_append_new(a, json_integer((json_int_t) buckets[b])) < 0)
                        return NULL;
        return TAKE_PTR(o);
}

bool gp_histogram_bounds_match(json_t *a, const usec_t *bounds, size_t n) {
        if (json_array_size(a) != n)
                return false;
        for (size_t b = 0; b < n; b++)
                if (!json_is_integer(json_array_get(a, b)) ||
                    json_integer_value(json_array_get(a, b)) != (json_int_t) bounds[b])
                        return false;
        return true;
}

static bool is_count(json_t *v) {
        return json_is_integer(v) && json_integer_value(v) >= 0;
}

int gp_histogram_from_json(json_t *o, const char *what, size_t n, uint64_t *ret_buckets, usec_t *ret_sum,
                           char *error, size_t size) {
        json_t *a;

        if (!json_is_object(o)) {
                snprintf(error, size, "invalid state file: %s: expected an object", what);
                return -EINVAL;
        }
        a = json_object_get(o, "buckets");
        if (!json_is_array(a) || json_array_size(a) != n + 1) {
                snprintf(error, size, "invalid state file: %s.buckets: expected an array of %zu counts", what, n + 1);
                return -EINVAL;
        }
        for (size_t b = 0; b <= n; b++)
                if (!is_count(json_array_get(a, b))) {
                        snprintf(error, size, "invalid state file: %s.buckets[%zu]: expected a non-negative integer",
                                 what, b);
                        return -EINVAL;
                }
        if (!is_count(json_object_get(o, "sum_us"))) {
                snprintf(error, size, "invalid state file: %s.sum_us: expected a non-negative integer", what);
                return -EINVAL;
        }
        for (size_t b = 0; b <= n; b++)
                ret_buckets[b] = (uint64_t) json_integer_value(json_array_get(a, b));
        *ret_sum = (usec_t) json_integer_value(json_object_get(o, "sum_us"));
        return 0;
}
