/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>

#include "time-util.h"
#include "uuid.h"

void gp_uuid4(char out[GP_UUID_STRING_MAX]) {
        uint8_t b[16];

        if (getrandom(b, sizeof(b), 0) != sizeof(b))
                for (size_t i = 0; i < sizeof(b); i++)  /* getrandom cannot fail for 16 bytes; be safe */
                        b[i] = (uint8_t) (now_usec(CLOCK_MONOTONIC) >> (i % 8));
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        snprintf(out, GP_UUID_STRING_MAX,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}
