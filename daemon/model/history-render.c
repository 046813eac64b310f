/* SPDX-License-Identifier: MIT */
/* The status file's "history" array, made from entries serialised once each (when recorded or
 * loaded) instead of the whole window re-serialised after every run. */
#include <errno.h>

#include "history-internal.h"

json_t *gp_history_entry_to_json(const gp_history_entry *e) {
        json_auto_t *o = json_object();
        char buf[32];

        if (!o ||
            gp_json_set_new(o, "run_id", json_string(e->run_id)) < 0 ||
            gp_json_set_new(o, "started_at", json_string(format_rfc3339(buf, sizeof(buf), e->started_at))) < 0 ||
            gp_json_set_new(o, "result", json_string(gp_verdict_to_string(e->verdict))) < 0 ||
            gp_json_set_new(o, "code", gp_json_string_or_null(e->code)) < 0 ||
            gp_json_set_new(o, "duration_ms", gp_json_ms(e->duration)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

int gp_history_entry_render(gp_history_entry *e) {
        json_auto_t *o = gp_history_entry_to_json(e);
        char *s = o ? json_dumps(o, GP_STATUS_DUMP_FLAGS) : NULL;

        if (!s)
                return -ENOMEM;
        free(e->status_json);
        e->status_json = s;
        e->status_json_len = strlen(s);
        return 0;
}

void gp_history_entry_done(gp_history_entry *e) {
        free(e->code);
        free(e->status_json);
        e->code = e->status_json = NULL;
}

int gp_history_status_array(const gp_history *h, gp_buf *b) {
        size_t need = 2;

        for (size_t i = 0; i < h->n; i++)
                need += gp_history_entry_at(h, i)->status_json_len + 1;
        /* One allocation: the whole array is appended below. */
        if (b->cap < b->len + need + 1) {
                char *p = realloc(b->data, b->len + need + 1);

                if (!p)
                        return -ENOMEM;
                b->data = p;
                b->cap = b->len + need + 1;
        }
        if (gp_buf_append(b, "[", 1) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < h->n; i++) {
                const gp_history_entry *e = gp_history_entry_at(h, i);

                if (!e->status_json ||
                    (i > 0 && gp_buf_append(b, ",", 1) < 0) ||
                    gp_buf_append(b, e->status_json, e->status_json_len) < 0)
                        return -ENOMEM;
        }
        return gp_buf_append(b, "]", 1);
}
