/* SPDX-License-Identifier: MIT */
/* gp_config_load: files, drop-ins, limits, and the secrets. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "test-config-util.h"
#include "util.h"

#define LOGIN_CONF(source)                                \
        "[Login]\n"                                       \
        "URL=https://auth.example.com/auth/login\n"       \
        "User=probe@example.com\n"                        \
        source "\n"                                       \
        "[WebSocket]\n"                                   \
        "URL=wss://api.example.com/ws\n"

typedef struct fixture {
        char dir[64];
        char *main;             /* dir/gp.conf */
} fixture;

static char *path_in(const fixture *f, const char *name) {
        char *p = strdup_printf("%s/%s", f->dir, name);
        assert_non_null(p);
        return p;
}

static void write_file(const fixture *f, const char *name, const char *text, mode_t mode) {
        _cleanup_free_ char *p = path_in(f, name);
        FILE *o = fopen(p, "we");

        assert_non_null(o);
        assert_int_equal(fwrite(text, 1, strlen(text), o), strlen(text));
        assert_int_equal(fclose(o), 0);
        assert_int_equal(chmod(p, mode), 0);
}

static void make_dir(const fixture *f, const char *name) {
        _cleanup_free_ char *p = path_in(f, name);
        assert_int_equal(mkdir(p, 0700), 0);
}

static int setup(void **state) {
        fixture *f = calloc(1, sizeof(fixture));

        assert_non_null(f);
        test_clean_env();
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-config-load.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        f->main = path_in(f, "gp.conf");
        *state = f;
        return 0;
}

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static int teardown(void **state) {
        fixture *f = *state;

        assert_int_equal(nftw(f->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0);
        free(f->main);
        free(f);
        test_clean_env();
        return 0;
}

static gp_config *load_ok(const fixture *f, gp_diags *d) {
        gp_config *c = NULL;
        int r = gp_config_load(f->main, &c, d);

        if (r < 0)
                gp_diags_print(d, stderr);
        assert_int_equal(r, 0);
        return c;
}

static void load_fails(const fixture *f, gp_diags *d) {
        gp_config *c = (gp_config *) 0x1;

        assert_int_equal(gp_config_load(f->main, &c, d), -EINVAL);
        assert_ptr_equal(c, (gp_config *) 0x1);
}

static void test_dropins_are_read_in_lexical_order(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *masked = NULL;
        gp_diags d = { 0 };
        gp_config *c;

        write_file(f, "gp.conf", MINIMAL_CONF "[Probe]\nInterval=10s\n[Preflight]\nURL=https://a/\n", 0600);
        make_dir(f, "gp.conf.d");
        write_file(f, "gp.conf.d/2-b.conf", "[Probe]\nInterval=30s\n[Preflight]\nURL=https://c/\n", 0644);
        write_file(f, "gp.conf.d/10-a.conf", "[Probe]\nInterval=20s\n[Preflight]\nURL=https://b/\n", 0644);
        write_file(f, "gp.conf.d/99-z.conf.bak", "[Probe]\nInterval=99s\n", 0644);
        write_file(f, "gp.conf.d/.hidden.conf", "[Probe]\nInterval=98s\n", 0644);
        write_file(f, "gp.conf.d/README", "not a config", 0644);
        masked = path_in(f, "gp.conf.d/50-masked.conf");
        assert_int_equal(symlink("/dev/null", masked), 0);

        c = load_ok(f, &d);
        assert_int_equal(c->interval, 30 * USEC_PER_SEC);
        assert_int_equal(strv_length(c->preflight_urls), 3);
        assert_string_equal(c->preflight_urls[0], "https://a/");
        assert_string_equal(c->preflight_urls[1], "https://b/");
        assert_string_equal(c->preflight_urls[2], "https://c/");
        assert_string_equal(c->name, "gp");
        assert_string_equal(c->path, f->main);
        assert_int_equal(d.n, 0);
        gp_config_unref(c);
}

static void test_missing_main_file_is_an_error_naming_it(void **state) {
        fixture *f = *state;
        gp_diags d = { 0 };

        load_fails(f, &d);
        assert_int_equal(d.n_errors, 1);
        assert_diag(&d, f->main, 0, false, "cannot read configuration file");
        assert_diag(&d, f->main, 0, false, "No such file or directory");
        gp_diags_clear(&d);
}

static void test_directory_is_not_a_configuration(void **state) {
        fixture *f = *state;
        gp_diags d = { 0 };

        make_dir(f, "gp.conf");
        load_fails(f, &d);
        assert_diag(&d, f->main, 0, false, "not a regular file");
        gp_diags_clear(&d);
}

static void test_oversized_file_is_refused(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *big = malloc(1024 * 1024 + 2);
        _cleanup_free_ char *dropin = path_in(f, "gp.conf.d/big.conf");
        gp_diags d = { 0 };

        assert_non_null(big);
        memset(big, '#', 1024 * 1024 + 1);
        big[1024 * 1024 + 1] = '\0';
        write_file(f, "gp.conf", MINIMAL_CONF, 0600);
        make_dir(f, "gp.conf.d");
        write_file(f, "gp.conf.d/big.conf", big, 0600);
        load_fails(f, &d);
        assert_int_equal(d.n_errors, 1);
        assert_diag(&d, dropin, 0, false, "is too large");
        gp_diags_clear(&d);
}

static void test_dropin_path_that_is_a_file_is_an_error(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *dir = path_in(f, "gp.conf.d");
        gp_diags d = { 0 };

        write_file(f, "gp.conf", MINIMAL_CONF, 0600);
        write_file(f, "gp.conf.d", "x", 0600);
        load_fails(f, &d);
        assert_diag(&d, dir, 0, false, "cannot read the drop-in directory");
        gp_diags_clear(&d);
}

static void test_errors_of_every_file_are_collected(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *dropin = path_in(f, "gp.conf.d/a.conf");
        _cleanup_free_ char *subdir = path_in(f, "gp.conf.d/dir.conf");
        gp_diags d = { 0 };

        write_file(f, "gp.conf", MINIMAL_CONF "[Probe]\nUsers=0\n", 0600);
        make_dir(f, "gp.conf.d");
        make_dir(f, "gp.conf.d/dir.conf");
        write_file(f, "gp.conf.d/a.conf", "[Probe]\nTimeout=never\n", 0600);
        load_fails(f, &d);
        assert_diag(&d, f->main, 6, false, "Users: 0 is out of range");
        assert_diag(&d, dropin, 2, false, "Timeout: invalid duration 'never'");
        assert_diag(&d, subdir, 0, false, "not a regular file");
        assert_int_equal(d.n_errors, 3);
        gp_diags_clear(&d);
}

static void test_password_credential_is_read_from_credentials_directory(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *creds = path_in(f, "creds"), *printed = NULL;
        gp_diags d = { 0 };
        gp_config *c;

        write_file(f, "gp.conf", LOGIN_CONF("PasswordCredential=staging-password"), 0644);
        make_dir(f, "creds");
        write_file(f, "creds/staging-password", "hunter22\n", 0400);
        setenv("CREDENTIALS_DIRECTORY", creds, 1);

        c = load_ok(f, &d);
        assert_string_equal(c->password, "hunter22");
        assert_false(c->password_inline);
        assert_int_equal(d.n, 0);
        printed = print_to_string(c);
        assert_null(strstr(printed, "hunter22"));
        assert_non_null(strstr(printed,
                               "\nPasswordCredential=staging-password\nPasswordFile=\nPassword=\n"));
        gp_config_unref(c);
}

static void test_password_credential_without_credentials_directory_is_an_error(void **state) {
        fixture *f = *state;
        gp_diags d = { 0 };

        write_file(f, "gp.conf", LOGIN_CONF("PasswordCredential=staging-password"), 0644);
        load_fails(f, &d);
        assert_int_equal(d.n_errors, 1);
        assert_diag(&d, f->main, 4, false, "needs $CREDENTIALS_DIRECTORY, which is not set");
        assert_diag(&d, f->main, 4, false, "LoadCredential=staging-password:");
        gp_diags_clear(&d);
}

static void test_missing_credential_is_an_error(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *creds = path_in(f, "creds");
        gp_diags d = { 0 };

        write_file(f, "gp.conf", LOGIN_CONF("PasswordCredential=nope"), 0644);
        make_dir(f, "creds");
        setenv("CREDENTIALS_DIRECTORY", creds, 1);
        load_fails(f, &d);
        assert_diag(&d, f->main, 4, false, "cannot read credential");
        gp_diags_clear(&d);
}

static void test_password_file_first_line_is_the_secret(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *pw = path_in(f, "pw"), *conf = NULL;
        gp_diags d = { 0 };
        gp_config *c;

        conf = strdup_printf(LOGIN_CONF("PasswordFile=%s"), pw);
        write_file(f, "gp.conf", conf, 0644);
        write_file(f, "pw", "line one\r\nline two\n", 0600);
        c = load_ok(f, &d);
        assert_string_equal(c->password, "line one");
        assert_int_equal(d.n, 0);
        gp_config_unref(c);

        /* No line end at all; readable by others: a warning. */
        write_file(f, "pw", "only-one", 0644);
        c = load_ok(f, &d);
        assert_string_equal(c->password, "only-one");
        assert_diag(&d, f->main, 4, true, "is readable by group or others (mode 0644)");
        gp_config_unref(c);
        gp_diags_clear(&d);
}

static void test_password_file_with_empty_first_line_is_an_error(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *pw = path_in(f, "pw"), *conf = NULL;
        gp_diags d = { 0 };
        FILE *o;

        conf = strdup_printf(LOGIN_CONF("PasswordFile=%s"), pw);
        write_file(f, "gp.conf", conf, 0600);
        write_file(f, "pw", "\nsecond\n", 0600);
        load_fails(f, &d);
        assert_diag(&d, f->main, 4, false, "its first line is empty");
        gp_diags_clear(&d);

        o = fopen(pw, "we");
        assert_non_null(o);
        assert_int_equal(fwrite("a\0b\n", 1, 4, o), 4);
        assert_int_equal(fclose(o), 0);
        load_fails(f, &d);
        assert_diag(&d, f->main, 4, false, "contains a NUL byte");
        gp_diags_clear(&d);

        unlink(pw);
        load_fails(f, &d);
        assert_diag(&d, f->main, 4, false, "cannot read password file");
        gp_diags_clear(&d);
}

static void test_inline_password_in_readable_file_warns(void **state) {
        fixture *f = *state;
        gp_diags d = { 0 };
        gp_config *c;

        write_file(f, "gp.conf", LOGIN_CONF("Password=hunter22"), 0644);
        c = load_ok(f, &d);
        assert_string_equal(c->password, "hunter22");
        assert_true(c->password_inline);
        assert_diag(&d, f->main, 4, true, "keeps the secret in the configuration");
        assert_diag(&d, f->main, 4, true, "holds Password= and is readable by group or others (mode 0644)");
        assert_int_equal(d.n, 2);
        gp_config_unref(c);
        gp_diags_clear(&d);

        write_file(f, "gp.conf", LOGIN_CONF("Password=hunter22"), 0600);
        c = load_ok(f, &d);
        assert_int_equal(d.n, 1);  /* only the inline warning */
        gp_config_unref(c);
        gp_diags_clear(&d);
}

static void test_token_in_readable_dropin_warns(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *dropin = path_in(f, "gp.conf.d/token.conf");
        gp_diags d = { 0 };
        gp_config *c;

        write_file(f, "gp.conf", "[WebSocket]\nURL=ws://h/\n", 0644);
        make_dir(f, "gp.conf.d");
        write_file(f, "gp.conf.d/token.conf", "[Login]\n\nToken=abc-1234\n", 0640);
        c = load_ok(f, &d);
        assert_string_equal(c->token, "abc-1234");
        assert_diag(&d, dropin, 3, true, "holds Token= and is readable by group or others (mode 0640)");
        gp_config_unref(c);
        gp_diags_clear(&d);
}

/* Issue 11: a one-character password turned a DNS failure's reason into
 * "https://auth.e(redacted)ample.test/...". Under GP_SECRET_MIN bytes, every source is refused
 * at FILE:LINE, naming the file or credential, and the value is never shown. */
static void test_secret_shorter_than_8_bytes_is_refused_naming_its_source(void **state) {
        fixture *f = *state;
        _cleanup_free_ char *pw = path_in(f, "pw"), *creds = path_in(f, "creds"), *conf = NULL,
                            *dropin = path_in(f, "gp.conf.d/token.conf"), *msg = NULL;
        gp_diags d = { 0 };
        gp_config *c;

        write_file(f, "gp.conf", LOGIN_CONF("Password=seven-7"), 0600);
        load_fails(f, &d);
        assert_diag(&d, f->main, 4, false, "shorter than 8 bytes (not shown)");
        msg = diags_to_string(&d);
        assert_null(strstr(msg, "seven-7"));
        gp_diags_clear(&d);

        write_file(f, "gp.conf", "[WebSocket]\nURL=ws://h/\n", 0600);
        make_dir(f, "gp.conf.d");
        write_file(f, "gp.conf.d/token.conf", "[Login]\n\nToken=e\n", 0600);
        load_fails(f, &d);
        assert_diag(&d, dropin, 3, false, "shorter than 8 bytes (not shown)");
        gp_diags_clear(&d);
        unlink(dropin);

        conf = strdup_printf(LOGIN_CONF("PasswordFile=%s"), pw);
        write_file(f, "gp.conf", conf, 0600);
        write_file(f, "pw", "e\n", 0600);
        load_fails(f, &d);
        free(msg);
        msg = strdup_printf("password file %s: the secret is shorter than 8 bytes", pw);
        assert_diag(&d, f->main, 4, false, msg);
        gp_diags_clear(&d);

        /* The shortest allowed. */
        write_file(f, "pw", "8-bytes!\n", 0600);
        c = load_ok(f, &d);
        assert_string_equal(c->password, "8-bytes!");
        gp_config_unref(c);
        gp_diags_clear(&d);

        write_file(f, "gp.conf", LOGIN_CONF("PasswordCredential=staging-password"), 0600);
        make_dir(f, "creds");
        write_file(f, "creds/staging-password", "x\n", 0400);
        setenv("CREDENTIALS_DIRECTORY", creds, 1);
        load_fails(f, &d);
        free(msg);
        msg = strdup_printf("credential %s/staging-password: the secret is shorter than 8 bytes", creds);
        assert_diag(&d, f->main, 4, false, msg);
        gp_diags_clear(&d);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                TEST(test_dropins_are_read_in_lexical_order),
                TEST(test_missing_main_file_is_an_error_naming_it),
                TEST(test_directory_is_not_a_configuration),
                TEST(test_oversized_file_is_refused),
                TEST(test_dropin_path_that_is_a_file_is_an_error),
                TEST(test_errors_of_every_file_are_collected),
                TEST(test_password_credential_is_read_from_credentials_directory),
                TEST(test_password_credential_without_credentials_directory_is_an_error),
                TEST(test_missing_credential_is_an_error),
                TEST(test_password_file_first_line_is_the_secret),
                TEST(test_password_file_with_empty_first_line_is_an_error),
                TEST(test_inline_password_in_readable_file_warns),
                TEST(test_token_in_readable_dropin_warns),
                TEST(test_secret_shorter_than_8_bytes_is_refused_naming_its_source),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
