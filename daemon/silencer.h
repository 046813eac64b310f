/* SPDX-License-Identifier: MIT */
#pragma once

/* The silence of one probe (issue 13): the file `gpprobectl silence` writes (model/silence.h),
 * read at start, whenever it changes (inotify on its directory), when the silence in force
 * expires (a CLOCK_REALTIME timer) and at each run (gp_silencer_refresh). It journals a silence
 * that begins, is replaced, is lifted or expires, and a bad file (once per version of it); it
 * removes a file whose silence is over. */

#include <systemd/sd-event.h>

#include "silence.h"

typedef struct gp_silencer gp_silencer;

/* Called after the silence in force changed; old is the previous one (or NULL), valid only
 * during the call; gp_silencer_current() is the new one. */
typedef void (*gp_silencer_changed_t)(gp_silencer *s, const gp_silence *old, void *userdata);

/* Watches path for probe name; reads it once before returning (the callback is not called for
 * that first read). -ENOMEM, or the errno of sd-event. A directory that cannot be watched is
 * not an error: the file is then read at each run only (and the journal says so). */
int gp_silencer_new(sd_event *e, const char *name, const char *path, gp_silencer_changed_t cb, void *userdata,
                    gp_silencer **ret);
gp_silencer *gp_silencer_free(gp_silencer *s);  /* NULL-safe */

/* Reads the file again now; calls back when the silence in force changed. */
void gp_silencer_refresh(gp_silencer *s);

/* The silence in force, or NULL (also for s NULL). Lives until the next refresh. */
const gp_silence *gp_silencer_current(const gp_silencer *s);
const char *gp_silencer_path(const gp_silencer *s);

/* Whether an alert entry is being held back by a silence: the empty file PATH.held, so that a
 * restarted daemon knows to raise it (and not to raise twice one already raised). Setting it
 * touches the file system only when it changes; a failure is journaled. */
bool gp_silencer_held(const gp_silencer *s);
void gp_silencer_set_held(gp_silencer *s, bool held);
