/* SPDX-License-Identifier: MIT */
#pragma once

/* Whole-file reading with a bound: the one reader of the configuration and its secret files,
 * StateFile= and the status files gpprobectl reads. */

#include <stddef.h>
#include <sys/stat.h>

typedef enum gp_read_flags {
        /* The contents are a secret: every buffer left behind (a partial read, a smaller buffer
         * outgrown, a failure) is wiped before it is freed. */
        GP_READ_SECRET = 1 << 0,
        /* A link to /dev/null (a masked drop-in, as systemd has it) is not an error: returns 1,
         * the outputs untouched. */
        GP_READ_MASKED_OK = 1 << 1,
} gp_read_flags;

/* Reads the whole regular file at path, at most max bytes, into a NUL-terminated buffer
 * (*ret_data, to free(); its length in *ret_len), without ever blocking: opened with O_NONBLOCK,
 * so a FIFO or a device planted under the name is refused rather than waited on. A file that
 * grows past max while it is read is refused too. ret_st (may be NULL) receives its stat.
 * Returns 0; 1 (see GP_READ_MASKED_OK); -EISDIR; -EBADFD for any other file that is not
 * regular; -EFBIG when it is larger than max; -ENOMEM; or the errno of open, fstat or read.
 * The outputs are untouched on failure. */
int gp_read_full_file(const char *path, size_t max, gp_read_flags flags, char **ret_data, size_t *ret_len,
                      struct stat *ret_st);
