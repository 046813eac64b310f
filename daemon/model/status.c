/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "gp-build.h"
#include "json-util.h"
#include "report.h"
#include "status.h"
#include "transcript.h"
#include "util.h"

/* 15 significant digits: 1210.4 stays "1210.4" (the default 17 writes 1210.4000000000001). Every
 * number in the document has at most 15 (gp_json_ms rounds to 0.1 ms; the window rounds its
 * ratio), so the file still parses back to exactly the document built. */
#define STATUS_DUMP_FLAGS GP_STATUS_DUMP_FLAGS

gp_daemon_info gp_daemon_info_self(usec_t started_at, usec_t interval) {
        return (gp_daemon_info) {
                .version = GP_VERSION,
                .pid = getpid(),
                .started_at = started_at,
                .interval = interval,
        };
}

char *gp_status_serialize(const json_t *doc, size_t *ret_len) {
        return gp_json_dump_line(doc, STATUS_DUMP_FLAGS, ret_len);
}

static json_t *time_or_null(usec_t t) {
        char buf[32];

        return t == 0 ? json_null() : json_string(format_rfc3339(buf, sizeof(buf), t));
}

static json_t *daemon_to_json(const gp_daemon_info *d) {
        json_auto_t *o = json_object();
        char buf[32];

        if (!o ||
            gp_json_set_new(o, "version", gp_json_string_or_null(d->version)) < 0 ||
            gp_json_set_new(o, "pid", json_integer(d->pid)) < 0 ||
            gp_json_set_new(o, "started_at", json_string(format_rfc3339(buf, sizeof(buf), d->started_at))) < 0 ||
            gp_json_set_new(o, "interval_ms", gp_json_ms(d->interval)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

/* "transcripts": where the failure transcripts are kept (gpprobectl transcript), when they are. */
static int transcripts_to_json(json_t *o, const gp_config *cfg) {
        _cleanup_free_ char *dir = gp_transcript_dir(cfg);

        return dir ? gp_json_set_new(o, "transcripts", json_string(dir)) : 0;
}

/* What gp_status_render puts in place of the "history" array and the "last" object, then
 * replaces: strings no document holds ("\u0001" escaped in them). */
#define HISTORY_SPLICE "\001gpprobe-history\001"
#define HISTORY_SPLICE_DUMPED "\"history\":\"\\u0001gpprobe-history\\u0001\""
#define LAST_SPLICE "\001gpprobe-last\001"
#define LAST_SPLICE_DUMPED "\"last\":\"\\u0001gpprobe-last\\u0001\""

static json_t *status_build(const gp_config *cfg, const gp_daemon_info *d, const gp_history *h,
                            const gp_result *last, usec_t updated_at, bool whole) {
        json_auto_t *o = NULL;
        char buf[32];

        if (!cfg || !d || !h) {
                errno = EINVAL;
                return NULL;
        }
        o = json_object();
        if (!o ||
            gp_json_set_new(o, "schema", json_integer(GP_STATUS_SCHEMA)) < 0 ||
            gp_json_set_new(o, "name", json_string(strempty(cfg->name))) < 0 ||
            gp_json_set_new(o, "updated_at", json_string(format_rfc3339(buf, sizeof(buf), updated_at))) < 0 ||
            gp_json_set_new(o, "daemon", daemon_to_json(d)) < 0 ||
            gp_json_set_new(o, "last", !last ? json_null() : whole ? gp_result_to_json(last) : json_string(LAST_SPLICE)) < 0 ||
            gp_json_set_new(o, "consecutive_failures", json_integer(gp_history_consecutive_failures(h))) < 0 ||
            gp_json_set_new(o, "consecutive_passes", json_integer(gp_history_consecutive_passes(h))) < 0 ||
            gp_json_set_new(o, "alerting", json_boolean(gp_history_alerting(h))) < 0 ||
            gp_json_set_new(o, "last_pass_at", time_or_null(gp_history_last_pass_at(h))) < 0 ||
            gp_json_set_new(o, "last_failure_at", time_or_null(gp_history_last_failure_at(h))) < 0 ||
            gp_json_set_new(o, "window", gp_window_to_json(h)) < 0 ||
            gp_json_set_new(o, "history", whole ? gp_history_to_json(h) : json_string(HISTORY_SPLICE)) < 0 ||
            gp_json_set_new(o, "silence", d->silence ? gp_silence_to_json(d->silence) : json_null()) < 0 ||
            transcripts_to_json(o, cfg) < 0) {
                errno = ENOMEM;
                return NULL;
        }
        return TAKE_PTR(o);
}

json_t *gp_status_build(const gp_config *cfg, const gp_daemon_info *d, const gp_history *h,
                        const gp_result *last, usec_t updated_at) {
        return status_build(cfg, d, h, last, updated_at, true);
}

/* Where the member dumped as `marker` ("key":"...") starts in text, after its key; NULL when it is
 * not there exactly once (cannot happen: each marker is written once, escaped as above). */
static const char *splice_at(const char *text, const char *marker) {
        const char *at = strstr(text, marker);

        if (!at || strstr(at + 1, marker))
                return NULL;
        return at + (strchr(marker, ':') - marker) + 1;
}

/* Appends the text from *rest up to `at` (where a marker's value starts), then `with` in its
 * place (NULL: the history's array), and moves *rest past the marker's value. -ENOMEM. */
static int splice_member(gp_buf *b, const char **rest, const char *at, const char *marker, const char *with,
                         const gp_history *h) {
        if (gp_buf_append(b, *rest, (size_t) (at - *rest)) < 0 ||
            (with ? gp_buf_append(b, with, strlen(with)) : gp_history_status_array(h, b)) < 0)
                return -ENOMEM;
        *rest = at + strlen(marker) - (size_t) (strchr(marker, ':') + 1 - marker);
        return 0;
}

char *gp_status_render(const gp_config *cfg, const gp_daemon_info *d, const gp_history *h,
                       const gp_result *last, usec_t updated_at, size_t *ret_len, char **ret_last) {
        json_auto_t *doc = NULL, *lo = NULL;
        _cleanup_free_ char *skeleton = NULL, *last_text = NULL;
        const char *hist, *lat = NULL, *rest;
        size_t len = 0;
        gp_buf b = {0};

        if (!cfg || !d || !h) {
                errno = EINVAL;
                return NULL;
        }
        if (last) {
                /* "last" is dumped on its own, once: the run's own text for GET /runs/ID, and
                 * the same bytes as part of the whole document */
                lo = gp_result_to_json(last);
                last_text = lo ? json_dumps(lo, STATUS_DUMP_FLAGS) : NULL;
                if (!last_text) {
                        errno = ENOMEM;
                        return NULL;
                }
        }
        doc = status_build(cfg, d, h, last, updated_at, false);
        skeleton = doc ? gp_status_serialize(doc, &len) : NULL;
        if (!skeleton)
                return NULL;
        hist = splice_at(skeleton, HISTORY_SPLICE_DUMPED);
        if (last)
                lat = splice_at(skeleton, LAST_SPLICE_DUMPED);
        /* cannot happen: "last" comes before "history" (status_build's order) */
        if (!hist || (last && (!lat || lat > hist))) {
                errno = EINVAL;
                return NULL;
        }
        rest = skeleton;
        if ((lat && splice_member(&b, &rest, lat, LAST_SPLICE_DUMPED, last_text, h) < 0) ||
            splice_member(&b, &rest, hist, HISTORY_SPLICE_DUMPED, NULL, h) < 0 ||
            gp_buf_append(&b, rest, len - (size_t) (rest - skeleton)) < 0) {
                gp_buf_free(&b);
                errno = ENOMEM;
                return NULL;
        }
        if (ret_len)
                *ret_len = b.len;
        if (ret_last)
                *ret_last = TAKE_PTR(last_text);
        return b.data;
}

static int write_all(int fd, const void *data, size_t len) {
        const char *p = data;

        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Splits path into its directory ("." when none) and its last component. */
static int split_path(const char *path, char **ret_dir, const char **ret_base) {
        const char *slash = strrchr(path, '/');
        char *dir;

        if (slash && !slash[1])
                return -EISDIR;
        if (!slash)
                dir = strdup(".");
        else if (slash == path)
                dir = strdup("/");
        else
                dir = strndup(path, (size_t) (slash - path));
        if (!dir)
                return -ENOMEM;
        *ret_dir = dir;
        *ret_base = slash ? slash + 1 : path;
        return 0;
}

static int fsync_directory(const char *dir) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        /* Some file systems cannot fsync a directory; the rename is done by then anyway. */
        if (fsync(fd) < 0 && errno != EINVAL)
                return -errno;
        return 0;
}

/* The temporary file: written, given its mode, flushed, closed. The caller unlinks it on error. */
static int write_temp(int fd, const void *data, size_t len, mode_t mode, const char **ret_what) {
        int r;

        r = write_all(fd, data, len);
        if (r < 0) {
                *ret_what = "write the temporary file";
                return r;
        }
        /* fchmod, not the mode given at creation: the umask must not change it. */
        if (fchmod(fd, mode) < 0) {
                *ret_what = "set the mode of the temporary file";
                return -errno;
        }
        if (fsync(fd) < 0) {
                *ret_what = "fsync the temporary file";
                return -errno;
        }
        return 0;
}

int gp_write_atomic(const char *path, const void *data, size_t len, mode_t mode, char **ret_error) {
        _cleanup_free_ char *dir = NULL, *tmp = NULL;
        const char *base = NULL, *what = NULL;
        int fd, r;

        if (isempty(path) || (!data && len > 0)) {
                set_errorf(ret_error, "%s: invalid arguments", strempty(path));
                return -EINVAL;
        }
        r = split_path(path, &dir, &base);
        if (r == -ENOMEM) {
                set_errorf(ret_error, "%s: out of memory", path);
                return r;
        }
        if (r < 0) {
                set_errorf(ret_error, "%s: not a file name", path);
                return r;
        }
        tmp = strdup_printf("%s/.%s.XXXXXX", dir, base);
        if (!tmp) {
                set_errorf(ret_error, "%s: out of memory", path);
                return -ENOMEM;
        }
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
                set_errorf(ret_error, "%s: cannot create a temporary file in %s: %s", path, dir,
                          strerror(-r));
                return r;
        }
        r = write_temp(fd, data, len, mode, &what);
        if (close(fd) < 0 && r == 0) {
                r = -errno;
                what = "close the temporary file";
        }
        if (r == 0 && rename(tmp, path) < 0) {
                r = -errno;
                what = "rename the temporary file over it";
        }
        if (r < 0) {
                (void) unlink(tmp);
                set_errorf(ret_error, "%s: cannot %s: %s", path, what, strerror(-r));
                return r;
        }
        r = fsync_directory(dir);
        if (r < 0) {
                set_errorf(ret_error, "%s: written, but cannot fsync directory %s: %s", path, dir,
                          strerror(-r));
                return r;
        }
        return 0;
}

int gp_status_write(const char *path, const gp_config *cfg, const gp_daemon_info *d, const gp_history *h,
                    const gp_result *last, char **ret_error) {
        _cleanup_report_ gp_report *r = NULL;
        int k;

        k = gp_report_new(cfg, d, h, last, now_usec(CLOCK_REALTIME), &r);
        if (k < 0) {
                set_errorf(ret_error, "%s: %s", strempty(path), k == -EINVAL ? "invalid arguments" : "out of memory");
                return k;
        }
        return gp_report_write_status(r, path, ret_error);
}
