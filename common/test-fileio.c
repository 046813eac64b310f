/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "fileio.h"
#include "util.h"

typedef struct fixture {
        char dir[64];
        char path[96];
} fixture;

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "/tmp/gp-test-fileio-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof(f->path), "%s/file", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        fixture *f = *state;
        struct stat st;

        if (lstat(f->path, &st) == 0 && S_ISDIR(st.st_mode))
                (void) rmdir(f->path);
        else
                (void) unlink(f->path);
        (void) rmdir(f->dir);
        free(f);
        return 0;
}

static void write_file(const char *path, const char *data, size_t len) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, len), (ssize_t) len);
        assert_int_equal(close(fd), 0);
}

static void test_a_file_within_the_bound_is_read_whole_and_nul_terminated(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        struct stat st;

        write_file(f->path, "0123456789", 10);
        assert_int_equal(gp_read_full_file(f->path, 10, 0, &data, &len, &st), 0);
        assert_int_equal(len, 10);
        assert_string_equal(data, "0123456789");
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 0777, 0640);
}

static void test_an_empty_file_reads_as_an_empty_string(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *data = NULL;
        size_t len = 99;

        write_file(f->path, "", 0);
        assert_int_equal(gp_read_full_file(f->path, 10, GP_READ_SECRET, &data, &len, NULL), 0);
        assert_int_equal(len, 0);
        assert_string_equal(data, "");
}

static void test_a_file_one_byte_over_the_bound_is_efbig_and_outputs_untouched(void **state) {
        fixture *f = *state;
        char *data = (char *) "untouched";
        size_t len = 7;

        write_file(f->path, "0123456789", 10);
        assert_int_equal(gp_read_full_file(f->path, 9, 0, &data, &len, NULL), -EFBIG);
        assert_string_equal(data, "untouched");
        assert_int_equal(len, 7);
}

static void test_a_large_sparse_file_is_refused_before_reading(void **state) {
        fixture *f = *state;
        char *data = NULL;
        size_t len = 0;
        int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, (off_t) 1024 * 1024 * 1024), 0);
        close(fd);
        assert_int_equal(gp_read_full_file(f->path, 1024, 0, &data, &len, NULL), -EFBIG);
        assert_null(data);
}

static void test_missing_directory_fifo_and_device_are_refused_without_blocking(void **state) {
        fixture *f = *state;
        char *data = NULL;
        size_t len = 0;

        assert_int_equal(gp_read_full_file(f->path, 10, 0, &data, &len, NULL), -ENOENT);
        assert_int_equal(mkfifo(f->path, 0600), 0);
        assert_int_equal(gp_read_full_file(f->path, 10, 0, &data, &len, NULL), -EBADFD);
        assert_int_equal(unlink(f->path), 0);
        assert_int_equal(mkdir(f->path, 0700), 0);
        assert_int_equal(gp_read_full_file(f->path, 10, 0, &data, &len, NULL), -EISDIR);
        assert_int_equal(gp_read_full_file("/dev/zero", 10, 0, &data, &len, NULL), -EBADFD);
        assert_null(data);
}

static void test_dev_null_is_masked_only_when_allowed(void **state) {
        char *data = NULL;
        size_t len = 5;

        assert_int_equal(gp_read_full_file("/dev/null", 10, 0, &data, &len, NULL), -EBADFD);
        assert_int_equal(gp_read_full_file("/dev/null", 10, GP_READ_MASKED_OK, &data, &len, NULL), 1);
        assert_null(data);
        assert_int_equal(len, 5);
}

static void test_secret_and_large_files_read_the_same_bytes(void **state) {
        fixture *f = *state;
        size_t n = 200000;
        _cleanup_free_ char *big = malloc(n), *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;

        assert_non_null(big);
        for (size_t i = 0; i < n; i++)
                big[i] = (char) ('a' + i % 26);
        write_file(f->path, big, n);
        assert_int_equal(gp_read_full_file(f->path, n, 0, &a, &la, NULL), 0);
        assert_int_equal(gp_read_full_file(f->path, n, GP_READ_SECRET, &b, &lb, NULL), 0);
        assert_int_equal(la, n);
        assert_int_equal(lb, n);
        assert_memory_equal(a, big, n);
        assert_memory_equal(b, big, n);
}

/* A /proc file says size 0 and has more: the same as a file that grew while it was read. */
static void test_a_file_larger_than_its_stat_is_read_and_still_bounded(void **state) {
        _cleanup_free_ char *data = NULL, *secret = NULL;
        size_t len = 0, slen = 0;

        assert_int_equal(gp_read_full_file("/proc/self/mountinfo", 1024 * 1024, 0, &data, &len, NULL), 0);
        assert_true(len > 64);
        assert_int_equal(strlen(data), len);
        assert_int_equal(gp_read_full_file("/proc/self/mountinfo", 1024 * 1024, GP_READ_SECRET, &secret, &slen,
                                           NULL), 0);
        assert_true(slen > 64);
        free(TAKE_PTR(data));
        assert_int_equal(gp_read_full_file("/proc/self/mountinfo", 16, 0, &data, &len, NULL), -EFBIG);
        assert_int_equal(gp_read_full_file("/proc/self/mountinfo", 16, GP_READ_SECRET, &data, &len, NULL), -EFBIG);
        assert_null(data);
}

static void test_invalid_arguments_are_einval(void **state) {
        char *data = NULL;
        size_t len = 0;

        assert_int_equal(gp_read_full_file(NULL, 10, 0, &data, &len, NULL), -EINVAL);
        assert_int_equal(gp_read_full_file("/dev/null", 10, 0, NULL, &len, NULL), -EINVAL);
        assert_int_equal(gp_read_full_file("/dev/null", SIZE_MAX, 0, &data, &len, NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_a_file_within_the_bound_is_read_whole_and_nul_terminated,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_an_empty_file_reads_as_an_empty_string, setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_file_one_byte_over_the_bound_is_efbig_and_outputs_untouched,
                                                setup, teardown),
                cmocka_unit_test_setup_teardown(test_a_large_sparse_file_is_refused_before_reading, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_directory_fifo_and_device_are_refused_without_blocking,
                                                setup, teardown),
                cmocka_unit_test(test_dev_null_is_masked_only_when_allowed),
                cmocka_unit_test_setup_teardown(test_secret_and_large_files_read_the_same_bytes, setup, teardown),
                cmocka_unit_test(test_a_file_larger_than_its_stat_is_read_and_still_bounded),
                cmocka_unit_test(test_invalid_arguments_are_einval),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
