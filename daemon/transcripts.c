/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "status.h"
#include "transcript.h"
#include "transcripts.h"
#include "util.h"

int gp_transcript_write_file(const char *path, const gp_result *res, const char *name, char **ret_error) {
        json_t *doc = gp_transcript_to_json(res->transcript, res, name);
        _cleanup_free_ char *text = NULL;
        int r;

        if (!res->transcript) {
                set_errorf(ret_error, "%s: the run recorded no transcript", path);
                return -ENODATA;
        }
        text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        json_decref(doc);
        if (!text) {
                set_errorf(ret_error, "%s: out of memory", path);
                return -ENOMEM;
        }
        r = gp_write_atomic(path, text, strlen(text), 0600, ret_error);
        return r;
}

typedef struct tx_file {
        char *name;
        struct timespec mtime;
} tx_file;

static int cmp_newest_first(const void *a, const void *b) {
        const tx_file *x = a, *y = b;

        if (x->mtime.tv_sec != y->mtime.tv_sec)
                return x->mtime.tv_sec > y->mtime.tv_sec ? -1 : 1;
        if (x->mtime.tv_nsec != y->mtime.tv_nsec)
                return x->mtime.tv_nsec > y->mtime.tv_nsec ? -1 : 1;
        return strcmp(y->name, x->name);
}

/* RUN_ID.json, as this daemon names them: nothing else in DIR is touched. */
static bool is_transcript_name(const char *n) {
        char id[37];

        if (strlen(n) != 36 + 5 || !streq(n + 36, ".json"))
                return false;
        memcpy(id, n, 36);
        id[36] = '\0';
        return gp_transcript_run_id_valid(id);
}

int gp_transcripts_prune(const char *dir, unsigned keep) {
        DIR *d = opendir(dir);
        tx_file *files = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        int r = 0;

        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                struct stat st;

                if (!is_transcript_name(de->d_name) || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode))
                        continue;
                if (n == cap) {
                        tx_file *more = realloc(files, (cap = cap ? 2 * cap : 32) * sizeof(*files));

                        if (!more) {
                                r = -ENOMEM;
                                break;
                        }
                        files = more;
                }
                files[n].name = strdup(de->d_name);
                if (!files[n].name) {
                        r = -ENOMEM;
                        break;
                }
                files[n++].mtime = st.st_mtim;
        }
        if (r == 0 && n > keep) {
                qsort(files, n, sizeof(*files), cmp_newest_first);
                for (size_t i = keep; i < n; i++)
                        (void) unlinkat(dirfd(d), files[i].name, 0);
        }
        for (size_t i = 0; i < n; i++)
                free(files[i].name);
        free(files);
        closedir(d);
        return r;
}

int gp_transcripts_save(const gp_config *cfg, gp_result *res, char **ret_error) {
        _cleanup_free_ char *dir = NULL, *path = NULL;
        int r = 0;

        if (!res->transcript || res->verdict == GP_VERDICT_PASS || res->verdict == GP_VERDICT_CANCELLED)
                goto done;
        dir = gp_transcript_dir(cfg);
        if (!dir)
                goto done;  /* Transcripts=0 since the run started, or no StateFile= */
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
                r = -errno;
                set_errorf(ret_error, "cannot create %s: %s", dir, strerror(-r));
                goto done;
        }
        path = strdup_printf("%s/%s.json", dir, res->run_id);
        if (!path) {
                r = -ENOMEM;
                set_errorf(ret_error, "out of memory");
                goto done;
        }
        r = gp_transcript_write_file(path, res, cfg->name, ret_error);
        if (r < 0)
                goto done;
        res->transcript_path = TAKE_PTR(path);
        r = gp_transcripts_prune(dir, cfg->transcripts);
        if (r < 0)
                set_errorf(ret_error, "cannot remove old transcripts in %s: %s", dir, strerror(-r));
done:
        res->transcript = gp_transcript_free(res->transcript);
        return r;
}
