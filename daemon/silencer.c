/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <syslog.h>

#include "fileio.h"
#include "journal-ids.h"
#include "journal.h"
#include "silencer.h"
#include "util.h"

/* Identifies one version of the file, so that a bad or expired one is journaled once. */
typedef struct file_key {
        dev_t dev;
        ino_t ino;
        off_t size;
        struct timespec mtime;
} file_key;

struct gp_silencer {
        char *name;
        char *path;
        char *held_path;          /* PATH.held */
        bool held;
        const char *base;         /* into path: the file's name in its directory */
        gp_silence *current;      /* active when last read */
        file_key reported;        /* the last bad or expired version journaled */
        sd_event_source *watch;   /* inotify on the directory; NULL when it could not be watched */
        sd_event_source *expiry;  /* CLOCK_REALTIME, at current->until */
        gp_silencer_changed_t cb;
        void *userdata;
};

static file_key key_of(const struct stat *st) {
        return (file_key) { .dev = st->st_dev, .ino = st->st_ino, .size = st->st_size, .mtime = st->st_mtim };
}

static bool key_equal(const file_key *a, const file_key *b) {
        return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
               a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* Whether this version of the file is new to the journal (and now it is not). */
static bool report_once(gp_silencer *s, const struct stat *st) {
        file_key k = key_of(st);

        if (key_equal(&k, &s->reported))
                return false;
        s->reported = k;
        return true;
}

/* "NAME: WHAT until TIME[ by BY]: REASON" with the silence's fields. */
static void log_silence(const gp_silencer *s, const char *mid, const gp_silence *z, const char *what) {
        char until[32];

        format_rfc3339(until, sizeof(until), z->until);
        gp_log(mid, LOG_NOTICE,
               (gp_log_field[]) { { "GPPROBE_NAME", s->name }, { "GPPROBE_SILENCED_UNTIL", until },
                                  { "GPPROBE_SILENCE_REASON", z->reason }, { "GPPROBE_SILENCED_BY", z->by }, { 0 } },
               "%s: %s until %s%s%s: %s", s->name, what, until, z->by ? " by " : "", strempty(z->by), z->reason);
}

/* Removes the file whose silence is over, unless it was replaced since it was read. */
static void remove_expired(const gp_silencer *s, const struct stat *read_st) {
        struct stat now_st;

        if (stat(s->path, &now_st) < 0 || now_st.st_dev != read_st->st_dev || now_st.st_ino != read_st->st_ino)
                return;
        if (unlink(s->path) < 0 && errno != ENOENT)
                gp_log(NULL, LOG_WARNING, (gp_log_field[]) { { "GPPROBE_NAME", s->name }, { 0 } },
                       "%s: cannot remove the expired silence file %s: %s", s->name, s->path, strerror(errno));
}

/* The silence the file holds now: active, or NULL (none, bad, expired). */
static gp_silence *read_file(gp_silencer *s) {
        _cleanup_free_ char *data = NULL, *err = NULL;
        gp_silence *z = NULL;
        struct stat st;
        size_t len = 0;
        usec_t now = now_usec(CLOCK_REALTIME);
        int r;

        r = gp_read_full_file(s->path, GP_SILENCE_FILE_MAX, 0, &data, &len, &st);
        if (r == -ENOENT) {
                s->reported = (file_key) {0};
                return NULL;
        }
        if (r < 0) {
                /* Without a stat to tell versions apart, the same error is said once. */
                struct stat any = {0};
                if (stat(s->path, &any) < 0 || report_once(s, &any))
                        gp_log(NULL, LOG_WARNING, (gp_log_field[]) { { "GPPROBE_NAME", s->name }, { 0 } },
                               "%s: ignoring the silence file %s: %s", s->name, s->path,
                               r == -EFBIG ? "larger than 4096 bytes" : r == -EBADFD ? "not a regular file"
                                                                                      : strerror(-r));
                return NULL;
        }
        r = gp_silence_parse(data, len, now, &z, &err);
        if (r < 0) {
                if (report_once(s, &st))
                        gp_log(NULL, LOG_WARNING, (gp_log_field[]) { { "GPPROBE_NAME", s->name }, { 0 } },
                               "%s: ignoring the silence file %s: %s", s->name, s->path,
                               err ? err : "out of memory");
                return NULL;
        }
        if (gp_silence_active(z, now))
                return z;
        /* Over: said once (unless it is the one in force, which the caller says ended), removed. */
        if (report_once(s, &st) && !gp_silence_equal(z, s->current))
                log_silence(s, GP_MID_SILENCE_ENDED, z, "silence expired (found after its end); it was");
        remove_expired(s, &st);
        gp_silence_free(z);
        return NULL;
}

static void arm_expiry(gp_silencer *s) {
        if (!s->expiry)
                return;
        if (!s->current) {
                (void) sd_event_source_set_enabled(s->expiry, SD_EVENT_OFF);
                return;
        }
        if (sd_event_source_set_time(s->expiry, s->current->until) < 0 ||
            sd_event_source_set_enabled(s->expiry, SD_EVENT_ONESHOT) < 0)
                gp_log(NULL, LOG_ERR, NULL, "%s: cannot arm the silence's end; it is checked at each run", s->name);
}

static void refresh(gp_silencer *s, bool first) {
        _cleanup_silence_ gp_silence *old = NULL;
        gp_silence *now = read_file(s);

        if (gp_silence_equal(now, s->current)) {
                gp_silence_free(now);
                arm_expiry(s);
                return;
        }
        if (now)
                log_silence(s, GP_MID_SILENCED, now, s->current ? "silence replaced: silenced" : "silenced");
        else if (gp_silence_active(s->current, now_usec(CLOCK_REALTIME)))
                log_silence(s, GP_MID_SILENCE_ENDED, s->current, "silence lifted; it was");
        else
                log_silence(s, GP_MID_SILENCE_ENDED, s->current, "silence expired; it was");
        old = s->current;
        s->current = now;
        arm_expiry(s);
        if (!first && s->cb)
                s->cb(s, old, s->userdata);
}

void gp_silencer_refresh(gp_silencer *s) {
        if (s)
                refresh(s, false);
}

static int on_inotify(sd_event_source *src, const struct inotify_event *ev, void *userdata) {
        gp_silencer *s = userdata;

        /* The temporary files of gpprobectl and of editors have other names. */
        if ((ev->mask & IN_Q_OVERFLOW) || (ev->len > 0 && streq(ev->name, s->base)))
                refresh(s, false);
        return 0;
}

static int on_expiry(sd_event_source *src, uint64_t usec, void *userdata) {
        refresh(userdata, false);
        return 0;
}

int gp_silencer_new(sd_event *e, const char *name, const char *path, gp_silencer_changed_t cb, void *userdata,
                    gp_silencer **ret) {
        gp_silencer *s;
        _cleanup_free_ char *dir = NULL;
        const char *slash;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->name = strdup(name);
        s->path = strdup(path);
        s->held_path = strdup_printf("%s.held", path);
        slash = s->path ? strrchr(s->path, '/') : NULL;
        dir = slash ? strndup(s->path, (size_t) (slash - s->path)) : strdup(".");
        if (!s->name || !s->path || !s->held_path || !dir) {
                gp_silencer_free(s);
                return -ENOMEM;
        }
        s->base = slash ? slash + 1 : s->path;
        s->cb = cb;
        s->userdata = userdata;
        r = sd_event_add_time(e, &s->expiry, CLOCK_REALTIME, 0, 1, on_expiry, s);
        if (r < 0) {
                gp_silencer_free(s);
                return r;
        }
        (void) sd_event_source_set_enabled(s->expiry, SD_EVENT_OFF);
        r = sd_event_add_inotify(e, &s->watch, isempty(dir) ? "/" : dir,
                                 IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR, on_inotify,
                                 s);
        if (r < 0)
                gp_log(NULL, LOG_WARNING, (gp_log_field[]) { { "GPPROBE_NAME", name }, { 0 } },
                       "%s: cannot watch %s for silences (%s); the silence file %s is read at each run only",
                       name, isempty(dir) ? "/" : dir, strerror(-r), s->path);
        s->held = access(s->held_path, F_OK) == 0;
        refresh(s, true);
        *ret = s;
        return 0;
}

gp_silencer *gp_silencer_free(gp_silencer *s) {
        if (!s)
                return NULL;
        sd_event_source_disable_unref(s->watch);
        sd_event_source_disable_unref(s->expiry);
        gp_silence_free(s->current);
        free(s->name);
        free(s->path);
        free(s->held_path);
        free(s);
        return NULL;
}

const gp_silence *gp_silencer_current(const gp_silencer *s) {
        return s ? s->current : NULL;
}

const char *gp_silencer_path(const gp_silencer *s) {
        return s ? s->path : NULL;
}

bool gp_silencer_held(const gp_silencer *s) {
        return s && s->held;
}

void gp_silencer_set_held(gp_silencer *s, bool held) {
        int fd;

        if (!s || s->held == held)
                return;
        if (held) {
                fd = open(s->held_path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (fd < 0) {
                        gp_log(NULL, LOG_WARNING, (gp_log_field[]) { { "GPPROBE_NAME", s->name }, { 0 } },
                               "%s: cannot create %s (a restart would not know of the alert held back): %s",
                               s->name, s->held_path, strerror(errno));
                        return;
                }
                close(fd);
        } else if (unlink(s->held_path) < 0 && errno != ENOENT)
                gp_log(NULL, LOG_WARNING, (gp_log_field[]) { { "GPPROBE_NAME", s->name }, { 0 } },
                       "%s: cannot remove %s: %s", s->name, s->held_path, strerror(errno));
        s->held = held;
}
