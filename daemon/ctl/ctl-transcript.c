/* SPDX-License-Identifier: MIT */
/* gpprobectl transcript: a failed or degraded run's transcript (docs/spec.md section 8), for
 * people or as JSON. The status file DIR/NAME.json names the directory ("transcripts"); the files
 * there are the daemon's (mode 0600): root or the service user reads them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "ctl-internal.h"
#include "fileio.h"
#include "transcript.h"
#include "transcript-read.h"

/* The newest RUN_ID.json in dir (by modification time), or NULL (none, or dir unreadable:
 * *ret_errno). */
static char *newest_in(const char *dir, int *ret_errno) {
        DIR *d = opendir(dir);
        struct timespec best = {0};
        char *found = NULL;
        struct dirent *de;

        *ret_errno = 0;
        if (!d) {
                *ret_errno = errno;
                return NULL;
        }
        while ((de = readdir(d))) {
                size_t n = strlen(de->d_name);
                char id[37];
                struct stat st;

                if (n != 41 || !streq(de->d_name + 36, ".json"))
                        continue;
                memcpy(id, de->d_name, 36);
                id[36] = '\0';
                if (!gp_transcript_run_id_valid(id) || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISREG(st.st_mode))
                        continue;
                if (!found || st.st_mtim.tv_sec > best.tv_sec ||
                    (st.st_mtim.tv_sec == best.tv_sec && st.st_mtim.tv_nsec > best.tv_nsec)) {
                        free(found);
                        found = strdup_printf("%s/%s", dir, de->d_name);
                        best = st.st_mtim;
                }
        }
        closedir(d);
        return found;
}

/* The transcript file of NAME's run_id (NULL: the newest), or NULL with a message on stderr. */
static char *find_transcript(const gp_ctl_args *a, const char *name, const char *run_id) {
        _cleanup_status_file_ gp_status_file *sf = NULL;
        _cleanup_free_ char *path = gp_ctl_status_path(a, name), *err = NULL;
        const char *dir;
        char *found;
        int e;

        if (!path || gp_status_file_load(path, &sf, &err) < 0) {
                fprintf(stderr, "gpprobectl transcript: %s\n", err ? err : "out of memory");
                return NULL;
        }
        dir = json_string_value(json_object_get(sf->root, "transcripts"));
        if (isempty(dir)) {
                fprintf(stderr, "gpprobectl transcript: %s keeps no transcripts (Transcripts=0, or no StateFile=)\n",
                        name);
                return NULL;
        }
        if (run_id)
                return strdup_printf("%s/%s.json", dir, run_id);
        found = newest_in(dir, &e);
        if (!found)
                fprintf(stderr, "gpprobectl transcript: %s: %s\n", dir,
                        e == 0 || e == ENOENT ? "no transcript yet (only failed and degraded runs have one)" :
                        e == EACCES ? "permission denied (run as root or as the service user)" : strerror(e));
        return found;
}

int gp_ctl_transcript(const gp_ctl_args *a) {
        _cleanup_free_ char *path = NULL, *data = NULL, *err = NULL;
        const char *run_id = NULL;
        json_t *doc = NULL;
        size_t len = 0;
        int r;

        if (a->file) {
                if (a->n_names > 0)
                        return gp_ctl_usage_error("transcript", "takes either NAME [RUN_ID] or --file FILE");
                path = strdup(a->file);
        } else {
                if (a->n_names < 1 || a->n_names > 2)
                        return gp_ctl_usage_error("transcript", "expects a probe NAME and an optional RUN_ID");
                if (a->n_names == 2) {
                        run_id = a->names[1];
                        if (!gp_transcript_run_id_valid(run_id))
                                return gp_ctl_usage_error("transcript", "'%s' is not a run id (a UUID as the "
                                                          "status file and the journal show it)", run_id);
                }
                path = find_transcript(a, a->names[0], run_id);
                if (!path)
                        return EXIT_UNKNOWN;
        }
        if (!path)
                return EXIT_UNKNOWN;
        r = gp_read_full_file(path, GP_TRANSCRIPT_FILE_MAX, 0, &data, &len, NULL);
        if (r < 0) {
                fprintf(stderr, "gpprobectl transcript: %s: %s\n", path,
                        r == -ENOENT && run_id ? "no such transcript (only the newest failures are kept)" :
                        r == -EACCES ? "permission denied (run as root or as the service user)" :
                        r == -EFBIG ? "too large to be a transcript" : strerror(-r));
                return EXIT_UNKNOWN;
        }
        r = gp_transcript_parse(data, len, &doc, &err);
        if (r < 0) {
                fprintf(stderr, "gpprobectl transcript: %s: %s\n", path, err ? err : strerror(-r));
                return EXIT_UNKNOWN;
        }
        if (a->json)
                return gp_ctl_dump_json(doc);
        gp_transcript_print(doc, stdout);
        json_decref(doc);
        if (fflush(stdout) != 0)
                return EXIT_UNKNOWN;
        return 0;
}
