/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "transcript.h"
#include "utf8.h"
#include "util.h"

typedef struct tx_session {
        json_t *entries;
        size_t bytes;
        unsigned dropped;
} tx_session;

struct gp_transcript {
        usec_t t0;
        size_t session_max, total_max, bytes;
        tx_session *sessions;
        unsigned n;
};

gp_transcript *gp_transcript_new(unsigned sessions, usec_t t0, size_t session_max, size_t total_max) {
        gp_transcript *t = calloc(1, sizeof(*t));

        if (!t)
                return NULL;
        t->sessions = calloc(sessions ? sessions : 1, sizeof(tx_session));
        if (!t->sessions) {
                free(t);
                return NULL;
        }
        t->n = sessions;
        t->t0 = t0;
        t->session_max = session_max;
        t->total_max = total_max;
        for (unsigned i = 0; i < sessions; i++) {
                t->sessions[i].entries = json_array();
                if (!t->sessions[i].entries)
                        return gp_transcript_free(t);
        }
        return t;
}

gp_transcript *gp_transcript_free(gp_transcript *t) {
        if (!t)
                return NULL;
        for (unsigned i = 0; i < t->n; i++)
                json_decref(t->sessions[i].entries);
        free(t->sessions);
        free(t);
        return NULL;
}

char *gp_transcript_excerpt(const char *s, size_t len, size_t max) {
        gp_buf b = {0};

        gp_buf_append(&b, "", 0);
        for (size_t i = 0, k; s && i < len; i += k) {
                uint32_t c;

                k = gp_utf8_decode(s + i, len - i, &c);
                if (i + MAX(k, (size_t) 1) > max) {
                        gp_buf_append(&b, "...", 3);
                        break;
                }
                if (k == 0) {
                        k = 1;
                        gp_buf_printf(&b, "\\x%02x", (unsigned char) s[i]);
                } else if (c < 0x20 && c != '\n' && c != '\t')
                        gp_buf_printf(&b, "\\x%02x", (unsigned) c);
                else
                        gp_buf_append(&b, s + i, k);
        }
        return b.data;
}

/* The entry's size as the bound counts it: its serialised length. */
static size_t entry_bytes(json_t *e) {
        size_t n = json_dumpb(e, NULL, 0, JSON_COMPACT);
        return n > 0 ? n : 64;
}

static json_t *entry_new(const gp_transcript *t, usec_t at, const char *kind) {
        return json_pack("{s:o,s:s}", "t_ms", gp_json_ms(at >= t->t0 ? at - t->t0 : 0), "kind", kind);
}

static void add(gp_transcript *t, unsigned idx, json_t *e) {
        tx_session *s;
        size_t n;

        if (!t || idx == 0 || idx > t->n || !e) {
                json_decref(e);
                return;
        }
        s = &t->sessions[idx - 1];
        n = entry_bytes(e);
        if (s->bytes + n > t->session_max || t->bytes + n > t->total_max) {
                s->dropped++;
                json_decref(e);
                return;
        }
        if (json_array_append_new(s->entries, e) < 0) {  /* it took e either way */
                s->dropped++;
                return;
        }
        s->bytes += n;
        t->bytes += n;
}

static void set_text_max(json_t *e, const char *key, const char *s, size_t len, size_t max) {
        char *x;

        if (!e || !s)
                return;
        x = gp_transcript_excerpt(s, len, max);
        if (x)
                json_object_set_new(e, key, json_string(x));
        free(x);
}

static void set_text(json_t *e, const char *key, const char *s, size_t len) {
        set_text_max(e, key, s, len, GP_TRANSCRIPT_EXCERPT);
}

static void set_str(json_t *e, const char *key, const char *s) {
        if (s)
                set_text(e, key, s, strlen(s));
}

void gp_transcript_http(gp_transcript *t, unsigned idx, usec_t at, const char *step, const char *method,
                        const char *url, long status, const gp_http_timing *timing, const char *error,
                        const char *body, size_t body_len, size_t body_size) {
        json_t *e;

        if (!t)
                return;
        e = entry_new(t, at, "http");
        set_str(e, "step", step);
        set_str(e, "method", method);
        set_str(e, "url", url);
        if (e && status > 0)
                json_object_set_new(e, "status", json_integer(status));
        if (e && timing)
                json_object_set_new(e, "ms", json_pack("{s:o,s:o,s:o,s:o,s:o}", "dns", gp_json_ms(timing->dns),
                                                       "connect", gp_json_ms(timing->connect), "tls",
                                                       gp_json_ms(timing->tls), "first_byte",
                                                       gp_json_ms(timing->first_byte), "total",
                                                       gp_json_ms(timing->total)));
        set_str(e, "error", error);
        if (e && body) {
                set_text(e, "body", body, body_len);
                json_object_set_new(e, "size", json_integer((json_int_t) body_size));
        }
        add(t, idx, e);
}

void gp_transcript_upgrade(gp_transcript *t, unsigned idx, usec_t at, const char *url, long status,
                           const char *subprotocol, const char *headers, const char *error) {
        json_t *e;

        if (!t)
                return;
        e = entry_new(t, at, "upgrade");
        set_str(e, "url", url);
        if (e && status > 0)
                json_object_set_new(e, "status", json_integer(status));
        set_str(e, "subprotocol", subprotocol);
        if (e && headers)  /* a longer excerpt: a dozen headers */
                set_text_max(e, "headers", headers, strlen(headers), 4 * GP_TRANSCRIPT_EXCERPT);
        set_str(e, "error", error);
        add(t, idx, e);
}

void gp_transcript_frame(gp_transcript *t, unsigned idx, usec_t at, bool incoming, const char *opcode, size_t size,
                         const char *data, size_t len) {
        json_t *e;

        if (!t)
                return;
        e = entry_new(t, at, "frame");
        if (e) {
                json_object_set_new(e, "dir", json_string(incoming ? "in" : "out"));
                json_object_set_new(e, "opcode", json_string(opcode));
                json_object_set_new(e, "size", json_integer((json_int_t) size));
        }
        set_text(e, "data", data, len);
        add(t, idx, e);
}

void gp_transcript_close(gp_transcript *t, unsigned idx, usec_t at, const char *by, int code, const char *reason) {
        json_t *e;

        if (!t)
                return;
        e = entry_new(t, at, "close");
        set_str(e, "by", by);
        if (e && code > 0)
                json_object_set_new(e, "code", json_integer(code));
        set_str(e, "reason", reason);
        add(t, idx, e);
}

void gp_transcript_mark(gp_transcript *t, unsigned idx, usec_t at, const char *kind, const char *text) {
        json_t *e;

        if (!t)
                return;
        e = entry_new(t, at, kind);
        set_str(e, "text", text);
        add(t, idx, e);
}

typedef struct tx_sorted {
        double t;
        size_t i;
        json_t *e;
} tx_sorted;

static int cmp_entry(const void *a, const void *b) {
        const tx_sorted *x = a, *y = b;

        if (x->t != y->t)
                return x->t < y->t ? -1 : 1;
        return x->i < y->i ? -1 : x->i > y->i;
}

/* The entries in time order (stable): an HTTP step is recorded when its reply was judged, with
 * the time its request started. A new array; NULL on ENOMEM. */
static json_t *entries_in_order(json_t *entries) {
        size_t n = json_array_size(entries);
        tx_sorted *v = calloc(n ? n : 1, sizeof(*v));
        json_t *out = json_array();

        for (size_t i = 0; v && i < n; i++)
                v[i] = (tx_sorted) { json_number_value(json_object_get(json_array_get(entries, i), "t_ms")), i,
                                     json_array_get(entries, i) };
        if (v)
                qsort(v, n, sizeof(*v), cmp_entry);
        for (size_t i = 0; v && out && i < n; i++)
                if (json_array_append(out, v[i].e) < 0) {
                        json_decref(out);
                        out = NULL;
                }
        free(v);
        if (!v) {
                json_decref(out);
                return NULL;
        }
        return out;
}

static json_t *str_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

json_t *gp_transcript_to_json(const gp_transcript *t, const gp_result *r, const char *name) {
        char started[64];
        json_t *doc, *sessions;

        if (!t || !r)
                return NULL;
        sessions = json_array();
        for (unsigned i = 0; sessions && i < t->n; i++) {
                const gp_session_result *s = i < r->n_sessions ? &r->sessions[i] : NULL;
                json_t *entries = entries_in_order(t->sessions[i].entries);
                json_t *o = entries ? json_pack("{s:I,s:s,s:o,s:o,s:o,s:o,s:I,s:o}", "index", (json_int_t) i + 1,
                                                "result", s ? gp_verdict_to_string(s->verdict) : "fail", "code",
                                                str_or_null(s ? s->code : NULL), "stage",
                                                str_or_null(s ? s->stage : NULL), "reason",
                                                str_or_null(s ? s->reason : NULL), "entries", entries, "dropped",
                                                (json_int_t) t->sessions[i].dropped, "span_id",
                                                str_or_null(s && s->span_id[0] ? s->span_id : NULL))
                                    : NULL;

                if (!o || json_array_append_new(sessions, o) < 0) {
                        json_decref(sessions);
                        return NULL;
                }
        }
        if (!sessions)
                return NULL;
        doc = json_pack("{s:i,s:s,s:s,s:o,s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "schema", GP_TRANSCRIPT_SCHEMA, "name",
                        strempty(name), "run_id", r->run_id, "trace_id", str_or_null(r->trace_id[0] ? r->trace_id : NULL),
                        "started_at",
                        format_rfc3339(started, sizeof started, r->started_at), "result",
                        gp_verdict_to_string(r->verdict), "code", str_or_null(r->code), "stage",
                        str_or_null(r->stage), "reason", str_or_null(r->reason), "duration_ms",
                        gp_json_ms(r->duration), "sessions", sessions);
        return doc;
}

char *gp_transcript_dir(const gp_config *c) {
        const char *slash;

        if (!c || c->transcripts == 0 || isempty(c->state_file))
                return NULL;
        slash = strrchr(c->state_file, '/');
        if (!slash)
                return NULL;
        return strdup_printf("%.*s/%s.transcripts", (int) (slash - c->state_file), c->state_file, c->name);
}

bool gp_transcript_run_id_valid(const char *s) {
        if (!s || strlen(s) != 36)
                return false;
        for (size_t i = 0; i < 36; i++)
                if (i == 8 || i == 13 || i == 18 || i == 23 ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
                        return false;
        return true;
}
