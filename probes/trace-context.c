/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "trace-context.h"

static void hex(const uint8_t *b, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[b[i] >> 4];
                out[2 * i + 1] = digits[b[i] & 0xf];
        }
        out[2 * n] = '\0';
}

/* n lowercase hex digits, not all '0'. */
static bool id_valid(const char *s, size_t n) {
        bool nonzero = false;

        for (size_t i = 0; i < n; i++) {
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
                nonzero = nonzero || s[i] != '0';
        }
        return nonzero;
}

int gp_trace_id_from_bytes(const uint8_t b[16], char ret[GP_TRACE_ID_LEN + 1]) {
        static const uint8_t zero[16];

        if (memcmp(b, zero, sizeof(zero)) == 0)
                return -EINVAL;
        hex(b, 16, ret);
        return 0;
}

int gp_span_id_from_bytes(const uint8_t b[6], unsigned index, char ret[GP_SPAN_ID_LEN + 1]) {
        uint8_t full[8];

        if (index == 0 || index > 0xffff)
                return -EINVAL;
        memcpy(full, b, 6);
        full[6] = (uint8_t) (index >> 8);
        full[7] = (uint8_t) (index & 0xff);
        hex(full, sizeof(full), ret);
        return 0;
}

static int random_bytes(uint8_t *b, size_t n) {
        ssize_t k = getrandom(b, n, 0);  /* <= 256 bytes: never short once the pool is ready */

        if (k < 0)
                return -errno;
        return (size_t) k == n ? 0 : -EIO;
}

int gp_trace_id_new(char ret[GP_TRACE_ID_LEN + 1]) {
        uint8_t b[16];
        int k;

        do {
                k = random_bytes(b, sizeof(b));
                if (k < 0)
                        return k;
        } while (gp_trace_id_from_bytes(b, ret) < 0);
        return 0;
}

int gp_span_id_new(unsigned index, char ret[GP_SPAN_ID_LEN + 1]) {
        uint8_t b[6];
        int k = random_bytes(b, sizeof(b));

        return k < 0 ? k : gp_span_id_from_bytes(b, index, ret);
}

int gp_traceparent_format(const char *trace_id, const char *span_id, char ret[GP_TRACEPARENT_LEN + 1]) {
        if (!trace_id || !span_id || strlen(trace_id) != GP_TRACE_ID_LEN || strlen(span_id) != GP_SPAN_ID_LEN ||
            !id_valid(trace_id, GP_TRACE_ID_LEN) || !id_valid(span_id, GP_SPAN_ID_LEN))
                return -EINVAL;
        snprintf(ret, GP_TRACEPARENT_LEN + 1, "00-%s-%s-01", trace_id, span_id);
        return 0;
}

bool gp_traceparent_valid(const char *s) {
        if (!s || strlen(s) != GP_TRACEPARENT_LEN)
                return false;
        return strncmp(s, "00-", 3) == 0 && id_valid(s + 3, GP_TRACE_ID_LEN) && s[35] == '-' &&
               id_valid(s + 36, GP_SPAN_ID_LEN) && s[52] == '-' &&
               ((s[53] >= '0' && s[53] <= '9') || (s[53] >= 'a' && s[53] <= 'f')) &&
               ((s[54] >= '0' && s[54] <= '9') || (s[54] >= 'a' && s[54] <= 'f'));
}
