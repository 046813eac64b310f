/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-util.h"
#include "result.h"  /* gp_json_ms */
#include "stream.h"
#include "util.h"

/* A type name cut to the buffer without a partial UTF-8 character at its end (it came from valid
 * JSON, but may have been cut before). */
static void copy_type(char dst[GP_STREAM_TYPE_MAX], const char *src) {
        size_t n = MIN(strlen(src), (size_t) GP_STREAM_TYPE_MAX - 1), lead = n;
        unsigned char c;

        while (lead > 0 && ((unsigned char) src[lead - 1] & 0xC0) == 0x80)
                lead--;
        if (lead > 0) {
                c = (unsigned char) src[lead - 1];
                if (c >= 0xC0 && n - (lead - 1) < (size_t) (c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2))
                        n = lead - 1;
        }
        memcpy(dst, src, n);
        dst[n] = 0;
}

static void gaps_init(gp_stream_gaps *g) {
        *g = (gp_stream_gaps) { .last_at = USEC_INFINITY };
}

static void gaps_add(gp_stream_gaps *g, usec_t at) {
        usec_t gap;

        if (g->last_at == USEC_INFINITY) {
                g->last_at = at;
                return;
        }
        gap = at > g->last_at ? at - g->last_at : 0;
        g->last_at = at;
        g->total++;
        g->max = MAX(g->max, gap);
        if (g->n >= GP_STREAM_GAPS_MAX)
                return;
        if (g->n == g->allocated) {
                size_t m = g->allocated ? MIN(g->allocated * 2, (size_t) GP_STREAM_GAPS_MAX) : 16;
                usec_t *v = realloc(g->v, m * sizeof(usec_t));

                if (!v)
                        return;
                g->v = v;
                g->allocated = m;
        }
        g->v[g->n++] = gap;
}

void gp_stream_init(gp_stream *s) {
        *s = (gp_stream) { .first_partial = USEC_INFINITY, .last_partial = USEC_INFINITY };
        gaps_init(&s->frame_gaps);
        gaps_init(&s->event_gaps);
}

void gp_stream_done(gp_stream *s) {
        free(s->frame_gaps.v);
        free(s->event_gaps.v);
        gp_stream_init(s);
}

void gp_stream_start(gp_stream *s) {
        s->started = true;
        s->ended = false;
        s->last_frame = 0;
}

/* The silence that ends at `at` (a frame, or the end of the stream). */
static void silence_until(gp_stream *s, usec_t at) {
        usec_t quiet = at > s->last_frame ? at - s->last_frame : 0;

        if (quiet > s->silence) {
                s->silence = quiet;
                memcpy(s->silence_after, s->last_type, sizeof(s->silence_after));
        }
}

void gp_stream_frame(gp_stream *s, usec_t at, size_t bytes, const char *type, bool partial) {
        if (!s->started || s->ended)
                return;
        silence_until(s, at);
        s->frames++;
        s->bytes += bytes;
        gaps_add(&s->frame_gaps, at);
        s->last_frame = MAX(s->last_frame, at);
        copy_type(s->last_type, type ? type : "(untyped)");
        if (partial) {
                s->partials++;
                if (s->first_partial == USEC_INFINITY)
                        s->first_partial = at;
                s->last_partial = at;
        }
}

void gp_stream_event(gp_stream *s, usec_t at) {
        if (!s->started || s->ended)
                return;
        gaps_add(&s->event_gaps, at);
}

void gp_stream_end(gp_stream *s, usec_t at) {
        if (!s->started || s->ended)
                return;
        silence_until(s, at);
        s->ended = true;
}

double gp_stream_partials_per_s(const gp_stream *s) {
        if (s->partials < 2 || s->last_partial <= s->first_partial)
                return -1;
        return (double) (s->partials - 1) * (double) USEC_PER_SEC / (double) (s->last_partial - s->first_partial);
}

/* The p50 of the kept gaps of every stream pooled; USEC_INFINITY when there is none. -ENOMEM. */
static int pooled_p50(const gp_stream * const *s, size_t n, size_t offset, usec_t *ret) {
        _cleanup_free_ usec_t *v = NULL;
        size_t total = 0, k = 0;

        for (size_t i = 0; i < n; i++)
                total += ((const gp_stream_gaps *) ((const char *) s[i] + offset))->n;
        *ret = USEC_INFINITY;
        if (total == 0)
                return 0;
        v = malloc(total * sizeof(usec_t));
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const gp_stream_gaps *g = (const gp_stream_gaps *) ((const char *) s[i] + offset);

                if (g->n == 0)
                        continue;  /* g->v may be NULL */
                memcpy(v + k, g->v, g->n * sizeof(usec_t));
                k += g->n;
        }
        qsort(v, total, sizeof(usec_t), usec_compare);
        *ret = usec_percentile(v, total, 50);
        return 0;
}

static void max_gap(const gp_stream_gaps *g, usec_t *max) {
        if (g->total > 0 && (*max == USEC_INFINITY || g->max > *max))
                *max = g->max;
}

int gp_stream_figures_of(const gp_stream * const *s, size_t n, gp_stream_figures *ret) {
        gp_stream_figures f = {
                .frame_gap_p50 = USEC_INFINITY, .frame_gap_max = USEC_INFINITY,
                .event_gap_p50 = USEC_INFINITY, .event_gap_max = USEC_INFINITY,
                .first_partial = USEC_INFINITY, .partials_per_s = -1, .silence_after = "",
        };
        int r;

        for (size_t i = 0; i < n; i++) {
                const gp_stream *x = s[i];
                double rate;

                if (!x->started)
                        continue;
                if (!f.present || x->silence > f.silence) {
                        f.silence = x->silence;
                        f.silence_after = x->silence_after;
                        f.silence_session = (unsigned) i + 1;
                }
                f.present = true;
                f.frames += x->frames;
                f.bytes += x->bytes;
                f.partials += x->partials;
                max_gap(&x->frame_gaps, &f.frame_gap_max);
                max_gap(&x->event_gaps, &f.event_gap_max);
                if (x->first_partial != USEC_INFINITY &&
                    (f.first_partial == USEC_INFINITY || x->first_partial > f.first_partial)) {
                        f.first_partial = x->first_partial;
                        f.first_partial_session = (unsigned) i + 1;
                }
                rate = gp_stream_partials_per_s(x);
                if (rate >= 0 && (f.partials_per_s < 0 || rate < f.partials_per_s)) {
                        f.partials_per_s = rate;
                        f.partials_per_s_session = (unsigned) i + 1;
                }
        }
        r = pooled_p50(s, n, offsetof(gp_stream, frame_gaps), &f.frame_gap_p50);
        if (r == 0)
                r = pooled_p50(s, n, offsetof(gp_stream, event_gaps), &f.event_gap_p50);
        if (r < 0)
                return r;
        /* A gap was seen but none could be kept (ENOMEM): the max stands for the p50. */
        if (f.frame_gap_p50 == USEC_INFINITY)
                f.frame_gap_p50 = f.frame_gap_max;
        if (f.event_gap_p50 == USEC_INFINITY)
                f.event_gap_p50 = f.event_gap_max;
        *ret = f;
        return 0;
}

static json_t *gaps_to_json(usec_t p50, usec_t max) {
        if (max == USEC_INFINITY)
                return json_null();
        return json_pack("{s:o, s:o}", "p50", gp_json_ms(p50), "max", gp_json_ms(max));
}

static json_t *session_or_null(unsigned i) {
        return i > 0 ? json_integer(i) : json_null();
}

json_t *gp_stream_figures_to_json(const gp_stream_figures *f, bool with_sessions) {
        json_auto_t *o = NULL;

        if (!f->present)
                return json_null();
        o = json_pack("{s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}",
                      "frames", (json_int_t) MIN(f->frames, (uint64_t) INT64_MAX),
                      "bytes", (json_int_t) MIN(f->bytes, (uint64_t) INT64_MAX),
                      "partials", (json_int_t) f->partials,
                      "frame_gap_ms", gaps_to_json(f->frame_gap_p50, f->frame_gap_max),
                      "event_gap_ms", gaps_to_json(f->event_gap_p50, f->event_gap_max),
                      "longest_silence_ms", gp_json_ms(f->silence),
                      "silence_after", isempty(f->silence_after) ? json_null() : json_string(f->silence_after),
                      "first_partial_ms", gp_json_ms(f->first_partial),
                      "partials_per_s", f->partials_per_s < 0 ? json_null() :
                                        json_real((double) (long long) (f->partials_per_s * 100 + 0.5) / 100));
        if (o && with_sessions &&
            (gp_json_set_new(o, "longest_silence_session", session_or_null(f->silence_session)) < 0 ||
             gp_json_set_new(o, "first_partial_session", session_or_null(f->first_partial_session)) < 0 ||
             gp_json_set_new(o, "partials_per_s_session", session_or_null(f->partials_per_s_session)) < 0))
                return NULL;
        return TAKE_PTR(o);
}
