/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/sysmacros.h>

#include "fileio.h"
#include "util.h"

static bool is_dev_null(const struct stat *st) {
        return S_ISCHR(st->st_mode) && major(st->st_rdev) == 1 && minor(st->st_rdev) == 3;
}

static void buf_free(char *buf, size_t len, gp_read_flags flags) {
        if (buf && (flags & GP_READ_SECRET))
                explicit_bzero(buf, len);
        free(buf);
}

/* A bigger buffer holding the len bytes read; a secret's old buffer is wiped, never realloc'd. */
static int buf_grow(char **buf, size_t len, size_t cap, gp_read_flags flags) {
        char *p;

        if (!(flags & GP_READ_SECRET)) {
                p = realloc(*buf, cap);
                if (!p)
                        return -ENOMEM;
                *buf = p;
                return 0;
        }
        p = malloc(cap);
        if (!p)
                return -ENOMEM;
        memcpy(p, *buf, len);
        buf_free(*buf, len, flags);
        *buf = p;
        return 0;
}

/* Reads fd to its end into a buffer of cap bytes, grown up to max + 2: one byte more than max,
 * to see a file that grew past it, and the NUL. */
static int read_all(int fd, size_t max, size_t cap, gp_read_flags flags, char **ret, size_t *ret_len) {
        char *buf = malloc(cap);
        size_t len = 0;
        int r = 0;

        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n;

                if (len + 1 == cap) {
                        if (len > max) {
                                r = -EFBIG;
                                break;
                        }
                        r = buf_grow(&buf, len, MIN(cap * 2, max + 2), flags);
                        if (r < 0)
                                break;
                        cap = MIN(cap * 2, max + 2);
                }
                n = read(fd, buf + len, cap - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        if (r == 0 && len > max)
                r = -EFBIG;
        if (r < 0) {
                buf_free(buf, len, flags);
                return r;
        }
        buf[len] = '\0';
        *ret = buf;
        *ret_len = len;
        return 0;
}

int gp_read_full_file(const char *path, size_t max, gp_read_flags flags, char **ret_data, size_t *ret_len,
                      struct stat *ret_st) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        char *data = NULL;
        size_t len = 0;
        int r;

        if (!path || !ret_data || !ret_len || max > SIZE_MAX / 2)
                return -EINVAL;
        /* O_NONBLOCK: a FIFO put in place of the file must not hang the reader. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((flags & GP_READ_MASKED_OK) && is_dev_null(&st))
                return 1;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        r = read_all(fd, max, (size_t) st.st_size + 2, flags, &data, &len);
        if (r < 0)
                return r;
        *ret_data = data;
        *ret_len = len;
        if (ret_st)
                *ret_st = st;
        return 0;
}
