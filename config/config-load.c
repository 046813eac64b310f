/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "config-internal.h"
#include "fileio.h"
#include "util.h"

#define CONFIG_FILE_MAX ((size_t) 1024 * 1024)
#define SECRET_FILE_MAX ((size_t) 64 * 1024)
#define DROPINS_MAX 1024

typedef struct loaded_file {
        char *name;             /* as shown in diagnostics */
        char *text;
        size_t len;
        mode_t mode;
} loaded_file;

/* The text may hold secrets (Password=, Token=, a password file). */
static void loaded_file_done(loaded_file *f) {
        if (f->text)
                explicit_bzero(f->text, f->len);
        free(f->text);
        free(f->name);
        *f = (loaded_file) { 0 };
}

typedef struct loaded_files {
        loaded_file *items;
        size_t n;
} loaded_files;

static void loaded_files_done(loaded_files *l) {
        for (size_t i = 0; i < l->n; i++)
                loaded_file_done(&l->items[i]);
        free(l->items);
        *l = (loaded_files) { 0 };
}

/* strerror() is not thread-safe; the GNU strerror_r() returns the text. */
#define ERRNO_TEXT(e) strerror_r((e), (char[128]) { 0 }, 128)

/* Reads a whole regular file of at most max bytes into f (its text may be a secret). what names
 * it in messages ("the configuration file", "PasswordFile="...). Returns 0, 1 when masked (a
 * symlink to /dev/null, only when allow_masked), -ENOMEM, or -EINVAL with a diagnostic at
 * (diag_file, diag_line). */
static int read_file(const char *path, size_t max, bool allow_masked, gp_diags *d, const char *diag_file,
                     unsigned diag_line, const char *what, loaded_file *f) {
        struct stat st;
        int r;

        r = gp_read_full_file(path, max, GP_READ_SECRET | (allow_masked ? GP_READ_MASKED_OK : 0), &f->text,
                              &f->len, &st);
        if (r == 1 || r == -ENOMEM)
                return r;
        if (r == -EISDIR || r == -EBADFD)
                gp_diags_add(d, diag_file, diag_line, false, "cannot read %s %s: not a regular file", what,
                             path);
        else if (r == -EFBIG)
                gp_diags_add(d, diag_file, diag_line, false, "%s %s is too large (at most %zu bytes)", what,
                             path, max);
        else if (r < 0)
                gp_diags_add(d, diag_file, diag_line, false, "cannot read %s %s: %s", what, path,
                             ERRNO_TEXT(-r));
        if (r < 0)
                return -EINVAL;
        f->mode = st.st_mode;
        return 0;
}

static int append_file(loaded_files *l, const char *path, gp_diags *d) {
        loaded_file f = { 0 }, *items;
        int r;

        f.name = strdup(path);
        if (!f.name)
                return -ENOMEM;
        r = read_file(path, CONFIG_FILE_MAX, l->n > 0, d, path, 0, "configuration file", &f);
        if (r != 0) {
                loaded_file_done(&f);
                return r == 1 ? 0 : r;
        }
        items = realloc(l->items, (l->n + 1) * sizeof(loaded_file));
        if (!items) {
                loaded_file_done(&f);
                return -ENOMEM;
        }
        l->items = items;
        l->items[l->n++] = f;
        return 0;
}

/* path.d/ *.conf in strcmp order; hidden files are skipped, a missing directory is fine. */
static int read_dropins(loaded_files *l, const char *path, gp_diags *d) {
        _cleanup_free_ char *dir = strdup_printf("%s.d", path);
        _cleanup_strv_free_ char **names = NULL;
        DIR *dp;
        struct dirent *de;
        int r = 0;

        if (!dir)
                return -ENOMEM;
        dp = opendir(dir);
        if (!dp) {
                if (errno == ENOENT)
                        return 0;
                gp_diags_add(d, dir, 0, false, "cannot read the drop-in directory: %s", ERRNO_TEXT(errno));
                return -EINVAL;
        }
        names = calloc(1, sizeof(char *));
        while (names && r >= 0 && (de = readdir(dp))) {
                size_t n = strlen(de->d_name);
                if (de->d_name[0] == '.' || n <= 5 || !streq(de->d_name + n - 5, ".conf"))
                        continue;
                if (strv_length(names) >= DROPINS_MAX) {
                        gp_diags_add(d, dir, 0, false, "more than %d drop-ins", DROPINS_MAX);
                        r = -EINVAL;
                        break;
                }
                r = strv_extend(&names, de->d_name);
        }
        closedir(dp);
        if (!names)
                return -ENOMEM;
        if (r < 0)
                return r;
        strv_sort(names);

        STRV_FOREACH(n, names) {
                _cleanup_free_ char *p = strdup_printf("%s/%s", dir, *n);
                int q;

                if (!p)
                        return -ENOMEM;
                q = append_file(l, p, d);
                if (q == -ENOMEM)
                        return q;
                if (q < 0)
                        r = q;
        }
        return r;
}

static void warn_readable_secrets(const loaded_files *l, const gp_secret_line *secrets, gp_diags *d) {
        for (size_t i = 0; i < l->n; i++)
                if (secrets[i].line > 0 && (l->items[i].mode & 0044))
                        gp_diags_add(d, l->items[i].name, secrets[i].line, true,
                                     "this file holds %s= and is readable by group or others (mode %04o); "
                                     "chmod 0600 it, or use PasswordCredential=",
                                     gp_config_keys[secrets[i].key].name,
                                     (unsigned) (l->items[i].mode & 07777));
}

/* The secret is the first line of the file, without its line end. */
static int take_first_line(const loaded_file *f, char **ret) {
        const char *nl = memchr(f->text, '\n', f->len);
        size_t n = nl ? (size_t) (nl - f->text) : f->len;

        if (memchr(f->text, '\0', n))
                return -EINVAL;
        if (n > 0 && f->text[n - 1] == '\r')
                n--;
        if (n == 0)
                return -ENODATA;
        *ret = strndup(f->text, n);
        return *ret ? 0 : -ENOMEM;
}

static int load_secret_file(const char *path, const char *what, const gp_key_where *w, const char *main_file,
                            gp_diags *d, bool check_mode, char **ret) {
        const char *file = w->line > 0 ? w->file : main_file;
        loaded_file f = { 0 };
        int r;

        r = read_file(path, SECRET_FILE_MAX, false, d, file, w->line, what, &f);
        if (r < 0)
                return r;
        if (check_mode && (f.mode & 0044))
                gp_diags_add(d, file, w->line, true, "%s %s is readable by group or others (mode %04o)",
                             what, path, (unsigned) (f.mode & 07777));
        r = take_first_line(&f, ret);
        if (r == 0 && strlen(*ret) < GP_SECRET_MIN) {
                gp_diags_add(d, file, w->line, false, "%s %s: the secret is shorter than %d bytes: "
                             "failure reasons could not be redacted without garbling them", what, path,
                             GP_SECRET_MIN);
                secret_free(*ret);
                *ret = NULL;
                r = -EINVAL;
        } else if (r == -EINVAL)
                gp_diags_add(d, file, w->line, false, "%s %s: its first line contains a NUL byte", what,
                             path);
        else if (r == -ENODATA)
                gp_diags_add(d, file, w->line, false, "%s %s: its first line is empty", what, path);
        loaded_file_done(&f);
        return r == -ENOMEM ? r : r < 0 ? -EINVAL : 0;
}

static int load_password(gp_config *c, const gp_parse_info *info, gp_diags *d) {
        _cleanup_free_ char *path = NULL;
        const char *dir;
        char *secret = NULL;
        int r;

        if (c->password_credential) {
                const gp_key_where *w = &info->where[K_LOGIN_PASSWORD_CREDENTIAL];

                dir = getenv("CREDENTIALS_DIRECTORY");
                if (isempty(dir)) {
                        gp_diags_add(d, w->line > 0 ? w->file : c->path, w->line, false,
                                     "PasswordCredential=%s needs $CREDENTIALS_DIRECTORY, which is not set: "
                                     "pass the secret with LoadCredential=%s:/path/to/file (or "
                                     "LoadCredentialEncrypted=) in the service unit",
                                     c->password_credential, c->password_credential);
                        return -EINVAL;
                }
                path = strdup_printf("%s/%s", dir, c->password_credential);
                if (!path)
                        return -ENOMEM;
                r = load_secret_file(path, "credential", w, c->path, d, false, &secret);
        } else if (c->password_file)
                r = load_secret_file(c->password_file, "password file", &info->where[K_LOGIN_PASSWORD_FILE],
                                     c->path, d, true, &secret);
        else
                return 0;  /* inline Password=, or none (Token=) */
        if (r < 0)
                return r;
        secret_free(c->password);
        c->password = secret;
        return 0;
}

int gp_config_load(const char *path, gp_config **ret, gp_diags *diags) {
        _cleanup_(loaded_files_done) loaded_files files = { 0 };
        _cleanup_free_ gp_config_source *sources = NULL;
        _cleanup_free_ gp_parse_info *info = NULL;
        _cleanup_config_ gp_config *c = NULL;
        gp_diags local = { 0 }, *d = diags ? diags : &local;
        size_t errors_before = d->n_errors;
        int r;

        r = append_file(&files, path, d);
        if (r >= 0)
                r = read_dropins(&files, path, d);
        if (r == -ENOMEM || files.n == 0)
                goto finish;

        sources = calloc(files.n, sizeof(gp_config_source));
        info = calloc(1, sizeof(gp_parse_info));
        if (info)
                info->secret_lines = calloc(files.n, sizeof(gp_secret_line));
        if (!sources || !info || !info->secret_lines) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < files.n; i++)
                sources[i] = (gp_config_source) {
                        .file = files.items[i].name,
                        .text = files.items[i].text,
                        .len = files.items[i].len,
                };
        r = gp_config_parse_full(path, sources, files.n, &c, d, info);
        if (r != -ENOMEM)
                warn_readable_secrets(&files, info->secret_lines, d);
        if (r >= 0)
                r = load_password(c, info, d);
        if (r >= 0)
                r = gp_config_load_api(c, info->where, d);

finish:
        if (info)
                free(info->secret_lines);
        if (r != -ENOMEM && d->oom)
                r = -ENOMEM;
        if (r != -ENOMEM && d->n_errors > errors_before)
                r = -EINVAL;
        gp_diags_clear(&local);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}
