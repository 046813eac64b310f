/* SPDX-License-Identifier: MIT */
/* secret_free() and strv_free_secret() wipe what they free (issue 11: the handshake headers
 * holding "Authorization: Bearer <token>" were freed as they were). Checked inside free()
 * itself, the last moment the memory is ours to read: this program is linked with
 * -Wl,--wrap=free, which routes the frees of common/ (not libc's or cmocka's own) through
 * __wrap_free(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util.h"

void __real_free(void *p);
void __wrap_free(void *p);

#define WATCH_MAX 8

static uintptr_t watched[WATCH_MAX];
static size_t watched_len[WATCH_MAX];
static size_t n_watched;
static unsigned wiped, not_wiped;

void __wrap_free(void *p) {
        for (size_t i = 0; p && i < n_watched; i++)
                if ((uintptr_t) p == watched[i]) {
                        const unsigned char *b = p;
                        bool zero = true;

                        for (size_t k = 0; k < watched_len[i]; k++)
                                zero = zero && b[k] == 0;
                        if (zero)
                                wiped++;
                        else
                                not_wiped++;
                        watched[i] = 0;
                }
        __real_free(p);
}

static void watch(const char *s) {
        assert_true(n_watched < WATCH_MAX);
        watched[n_watched] = (uintptr_t) s;
        watched_len[n_watched++] = strlen(s);
}

static int reset(void **state) {
        n_watched = 0;
        wiped = not_wiped = 0;
        return 0;
}

static char **bearer_headers(void) {
        char **l = NULL;

        assert_int_equal(strv_extend(&l, "Origin: https://app.example.com"), 0);
        assert_int_equal(strv_extend(&l, "Authorization: Bearer tok.secret-123456"), 0);
        watch(l[0]);
        watch(l[1]);
        return l;
}

static void test_strv_free_secret_wipes_every_string(void **state) {
        strv_free_secret(bearer_headers());
        assert_int_equal(wiped, 2);
        assert_int_equal(not_wiped, 0);
}

/* The check can fail: plain strv_free() leaves the token in the freed memory. */
static void test_strv_free_leaves_them_as_they_were(void **state) {
        strv_free(bearer_headers());
        assert_int_equal(wiped, 0);
        assert_int_equal(not_wiped, 2);
}

static void test_secret_free_wipes_the_string(void **state) {
        char *s = strdup("/ws?ticket=t-123456&token=tok.secret-123456");

        assert_non_null(s);
        watch(s);
        secret_free(s);
        assert_int_equal(wiped, 1);
        assert_int_equal(not_wiped, 0);
}

static void test_null_and_empty_are_fine(void **state) {
        char **empty = calloc(1, sizeof(char *));

        assert_non_null(empty);
        strv_free_secret(NULL);
        strv_free_secret(empty);
        secret_free(NULL);
        assert_int_equal(wiped + not_wiped, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_strv_free_secret_wipes_every_string, reset),
                cmocka_unit_test_setup(test_strv_free_leaves_them_as_they_were, reset),
                cmocka_unit_test_setup(test_secret_free_wipes_the_string, reset),
                cmocka_unit_test_setup(test_null_and_empty_are_fine, reset),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
