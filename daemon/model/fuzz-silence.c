/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as a silence file, read as gpprobed reads it (model/silence.h). Checks
 * that parsing never crashes, that a refusal always has a reason, that an accepted silence holds
 * only text a journal line can carry, and that writing it back reads back as the same silence. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "silence.h"
#include "util.h"

#define NOW ((usec_t) 1795622400 * USEC_PER_SEC) /* 2026-11-25T16:00:00Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_silence_ gp_silence *s = NULL, *again = NULL;
        _cleanup_free_ char *error = NULL, *text = NULL;
        size_t len = 0;
        int r;

        r = gp_silence_parse(data, size, NOW, &s, &error);
        if (r < 0) {
                if (s || (r != -ENOMEM && !error) || (r == -EFBIG) != (size > GP_SILENCE_FILE_MAX))
                        abort();
                return 0;
        }
        if (!s || error || s->until == 0 || s->until > NOW + GP_SILENCE_MAX_DURATION + GP_SILENCE_CLOCK_SLACK)
                abort();
        if (gp_silence_text_check("reason", s->reason, GP_SILENCE_REASON_MAX, NULL) < 0 ||
            (s->by && gp_silence_text_check("by", s->by, GP_SILENCE_BY_MAX, NULL) < 0))
                abort();
        text = gp_silence_serialize(s, &len);
        if (!text)
                return 0;  /* ENOMEM */
        if (len != strlen(text) || memchr(text, '\n', len) != text + len - 1)
                abort();
        /* Times are written to the millisecond: what was finer reads back rounded. */
        r = gp_silence_parse(text, len, NOW, &again, NULL);
        if (r == -ENOMEM)
                return 0;
        if (r < 0 || !streq(again->reason, s->reason) || !streq_ptr(again->by, s->by) ||
            again->until / USEC_PER_MSEC != s->until / USEC_PER_MSEC)
                abort();
        return 0;
}
