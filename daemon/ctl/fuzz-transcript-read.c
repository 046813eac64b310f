/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as a transcript file. A refusal has a one-line reason; an accepted
 * document prints without crashing. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "transcript-read.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *err = NULL;
        json_t *doc = NULL;
        FILE *null;
        int r = gp_transcript_parse((const char *) data, size, &doc, &err);

        if (r == -ENOMEM)
                return 0;
        if (r < 0) {
                if (!err || strchr(err, '\n') || doc)
                        abort();
                return 0;
        }
        null = fopen("/dev/null", "w");
        if (!null)
                abort();
        gp_transcript_print(doc, null);
        fclose(null);
        json_decref(doc);
        return 0;
}
