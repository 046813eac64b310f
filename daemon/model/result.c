/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "json-util.h"
#include "result.h"
#include "transcript.h"
#include "util.h"

static const char * const verdict_table[] = {
        [GP_VERDICT_PASS] = "pass",
        [GP_VERDICT_DEGRADED] = "degraded",
        [GP_VERDICT_FAIL] = "fail",
        [GP_VERDICT_CANCELLED] = "cancelled",
};

const char *gp_verdict_to_string(gp_verdict v) {
        return (unsigned) v < ELEMENTSOF(verdict_table) ? verdict_table[v] : "invalid";
}

static const char * const phase_table[_GP_PHASE_MAX] = {
        [GP_PHASE_PREFLIGHT] = "preflight",
        [GP_PHASE_LOGIN] = "login",
        [GP_PHASE_WS_CONNECT] = "ws_connect",
        [GP_PHASE_FIRST_EVENT] = "first_event",
        [GP_PHASE_COMPLETE] = "complete",
};

const char *gp_phase_to_string(gp_phase p) {
        return (unsigned) p < ELEMENTSOF(phase_table) ? phase_table[p] : "invalid";
}

static void phases_init(usec_t *phases) {
        for (size_t i = 0; i < _GP_PHASE_MAX; i++)
                phases[i] = USEC_INFINITY;
}

gp_result *gp_result_new(unsigned users) {
        gp_result *r = calloc(1, sizeof(*r));

        if (!r)
                return NULL;
        r->sessions = calloc(users, sizeof(gp_session_result));
        if (!r->sessions) {
                free(r);
                return NULL;
        }
        r->users = users;
        r->n_sessions = users;
        r->ws_dns = USEC_INFINITY;
        phases_init(r->phases);
        for (unsigned i = 0; i < users; i++) {
                r->sessions[i].index = i + 1;
                phases_init(r->sessions[i].phases);
                r->sessions[i].ws_timing = (gp_ws_timing) { USEC_INFINITY, USEC_INFINITY, USEC_INFINITY,
                                                            USEC_INFINITY };
                gp_stream_init(&r->sessions[i].stream);
        }
        return r;
}

static void session_done(gp_session_result *s) {
        free(s->code);
        free(s->reason);
        for (size_t i = 0; i < s->n_events; i++)
                free(s->events[i].type);
        free(s->events);
        gp_stream_done(&s->stream);
}

gp_result *gp_result_free(gp_result *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_sessions; i++)
                session_done(&r->sessions[i]);
        free(r->sessions);
        free(r->code);
        free(r->reason);
        strv_free(r->warnings);
        gp_transcript_free(r->transcript);
        free(r->transcript_path);
        free(r);
        return NULL;
}

void gp_session_fail(gp_session_result *s, const char *stage, const char *code, const char *fmt, ...) {
        va_list ap;
        char *reason;

        if (s->verdict == GP_VERDICT_FAIL)
                return;
        va_start(ap, fmt);
        reason = strdup_vprintf(fmt, ap);
        va_end(ap);
        s->verdict = GP_VERDICT_FAIL;
        s->stage = stage;
        free(s->code);
        s->code = strdup(code);
        free(s->reason);
        s->reason = reason;
}

int gp_result_stream_figures(const gp_result *r, gp_stream_figures *ret) {
        _cleanup_free_ const gp_stream **v = calloc(r->n_sessions ? r->n_sessions : 1, sizeof(gp_stream *));

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < r->n_sessions; i++)
                v[i] = &r->sessions[i].stream;
        return gp_stream_figures_of(v, r->n_sessions, ret);
}

static json_t *stream_to_json(const gp_stream * const *s, size_t n, bool with_sessions) {
        gp_stream_figures f;

        if (gp_stream_figures_of(s, n, &f) < 0)
                return NULL;
        return gp_stream_figures_to_json(&f, with_sessions);
}

json_t *gp_json_ms(usec_t u) {
        if (u == USEC_INFINITY)
                return json_null();
        return json_real(usec_to_ms(u));
}

static json_t *phases_to_json(const usec_t *phases) {
        json_t *o = json_object();

        for (size_t i = 0; o && i < _GP_PHASE_MAX; i++)
                json_object_set_new(o, phase_table[i], gp_json_ms(phases[i]));
        return o;
}

static json_t *events_to_json(const gp_session_result *s, bool mono) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < s->n_events; i++) {
                json_t *e = json_pack("{s:s, s:o, s:i}",
                                      "type", s->events[i].type,
                                      "at_ms", gp_json_ms(s->events[i].first_at),
                                      "count", (json_int_t) s->events[i].count);

                if (e && mono && s->t0_mono > 0 && s->events[i].first_at != USEC_INFINITY)
                        json_object_set_new(e, "at_mono_us",
                                            json_integer((json_int_t) (s->t0_mono + s->events[i].first_at)));
                json_array_append_new(a, e);
        }
        return a;
}

/* min, p50, p95 and max of the sessions' complete times (nearest rank), or null when no
 * session completed. */
static json_t *spread_to_json(const gp_result *r) {
        _cleanup_free_ usec_t *v = calloc(r->n_sessions ? r->n_sessions : 1, sizeof(usec_t));
        size_t n = 0;

        if (!v)
                return NULL;
        for (size_t i = 0; i < r->n_sessions; i++)
                if (r->sessions[i].phases[GP_PHASE_COMPLETE] != USEC_INFINITY)
                        v[n++] = r->sessions[i].phases[GP_PHASE_COMPLETE];
        if (n == 0)
                return json_null();
        qsort(v, n, sizeof(usec_t), usec_compare);
        return json_pack("{s:o, s:o, s:o, s:o}",
                         "min", gp_json_ms(v[0]),
                         "p50", gp_json_ms(usec_percentile(v, n, 50)),
                         "p95", gp_json_ms(usec_percentile(v, n, 95)),
                         "max", gp_json_ms(v[n - 1]));
}

static json_t *timing_to_json(const gp_session_result *s) {
        if (!s->have_login_timing)
                return json_null();
        return json_pack("{s:o, s:o, s:o, s:o, s:o}",
                         "dns", gp_json_ms(s->login_timing.dns),
                         "connect", gp_json_ms(s->login_timing.connect),
                         "tls", gp_json_ms(s->login_timing.tls),
                         "first_byte", gp_json_ms(s->login_timing.first_byte),
                         "total", gp_json_ms(s->login_timing.total));
}

/* The WebSocket connect's phases (ws_ms); dns is the run's one lookup, USEC_INFINITY in a
 * session's object. null when there was no WebSocket step. */
static json_t *ws_timing_to_json(usec_t dns, const gp_ws_timing *t) {
        json_t *o;

        if (dns == USEC_INFINITY && t->connect == USEC_INFINITY)
                return json_null();
        o = json_object();
        if (o && dns != USEC_INFINITY)
                json_object_set_new(o, "dns", gp_json_ms(dns));
        if (o) {
                json_object_set_new(o, "connect", gp_json_ms(t->connect));
                json_object_set_new(o, "tls", gp_json_ms(t->tls));
                json_object_set_new(o, "upgrade", gp_json_ms(t->upgrade));
                json_object_set_new(o, "ready", gp_json_ms(t->ready));
        }
        return o;
}

/* One endpoint's certificates: when the leaf and the earliest of the chain expire, and the
 * days left until the earliest does (at the end of the run). null when no handshake showed them. */
static json_t *cert_to_json(const gp_cert_expiry *c, usec_t now) {
        char leaf[32], earliest[32];
        double left;

        if (c->earliest == 0)
                return json_null();
        left = ((double) c->earliest - (double) now / USEC_PER_SEC) / 86400.0;
        return json_pack("{s:s, s:s, s:f}",
                         "leaf_expires_at", format_rfc3339(leaf, sizeof(leaf), (usec_t) c->leaf * USEC_PER_SEC),
                         "earliest_expires_at",
                         format_rfc3339(earliest, sizeof(earliest), (usec_t) c->earliest * USEC_PER_SEC),
                         "days_left", (double) (int64_t) (left * 10) / 10.0);
}

static json_t *session_to_json(const gp_session_result *s, bool mono) {
        json_t *o = json_pack("{s:i, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:i, s:i}",
                              "index", (json_int_t) s->index,
                              "run_id", s->run_id,
                              "result", gp_verdict_to_string(s->verdict),
                              "stage", gp_json_string_or_null(s->stage),
                              "code", gp_json_string_or_null(s->code),
                              "reason", gp_json_string_or_null(s->reason),
                              "phases_ms", phases_to_json(s->phases),
                              "login_ms", timing_to_json(s),
                              "events", events_to_json(s, mono),
                              "ignored_frames", (json_int_t) s->ignored,
                              "malformed_frames", (json_int_t) s->malformed);

        if (o) {
                json_object_set_new(o, "span_id", s->span_id[0] ? json_string(s->span_id) : json_null());
                json_object_set_new(o, "ws_ms", ws_timing_to_json(USEC_INFINITY, &s->ws_timing));
        }
        if (o && mono && s->t0_mono > 0)
                json_object_set_new(o, "t0_mono_us", json_integer((json_int_t) s->t0_mono));
        if (o && gp_json_set_new(o, "stream", stream_to_json((const gp_stream *[]) { &s->stream }, 1, false)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

json_t *gp_result_to_json(const gp_result *r) {
        char started[32], finished[32];
        json_t *o, *sessions;

        o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:i, s:o}",
                      "run_id", r->run_id,
                      "started_at", format_rfc3339(started, sizeof(started), r->started_at),
                      "finished_at", format_rfc3339(finished, sizeof(finished), r->finished_at),
                      "result", gp_verdict_to_string(r->verdict),
                      "stage", gp_json_string_or_null(r->stage),
                      "code", gp_json_string_or_null(r->code),
                      "reason", gp_json_string_or_null(r->reason),
                      "duration_ms", gp_json_ms(r->duration),
                      "users", (json_int_t) r->users,
                      "phases_ms", phases_to_json(r->phases));
        if (!o)
                return NULL;
        if (r->n_sessions > 0) {
                json_object_set_new(o, "events", events_to_json(&r->sessions[0], r->mono_times));
                json_object_set_new(o, "login_ms", timing_to_json(&r->sessions[0]));
                json_object_set_new(o, "ws_ms", ws_timing_to_json(r->ws_dns, &r->sessions[0].ws_timing));
                if (r->mono_times && r->sessions[0].t0_mono > 0)
                        json_object_set_new(o, "t0_mono_us", json_integer((json_int_t) r->sessions[0].t0_mono));
        }
        if (r->n_sessions > 0) {
                gp_stream_figures f;

                if (gp_result_stream_figures(r, &f) < 0 ||
                    gp_json_set_new(o, "stream", gp_stream_figures_to_json(&f, r->n_sessions > 1)) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        if (r->n_sessions > 1) {
                unsigned slowest = r->slowest[GP_PHASE_COMPLETE];

                json_object_set_new(o, "spread_ms", spread_to_json(r));
                json_object_set_new(o, "slowest_session", slowest > 0 ? json_integer(slowest) : json_null());
                sessions = json_array();
                for (size_t i = 0; sessions && i < r->n_sessions; i++)
                        json_array_append_new(sessions, session_to_json(&r->sessions[i], r->mono_times));
                json_object_set_new(o, "sessions", sessions);
        }
        json_object_set_new(o, "trace_id", r->trace_id[0] ? json_string(r->trace_id) : json_null());
        if (r->login_cert.earliest != 0 || r->ws_cert.earliest != 0)
                json_object_set_new(o, "tls_certs", json_pack("{s:o, s:o}",
                                                              "login", cert_to_json(&r->login_cert, r->finished_at),
                                                              "websocket", cert_to_json(&r->ws_cert, r->finished_at)));
        if (r->transcript_path)
                json_object_set_new(o, "transcript", json_string(r->transcript_path));
        if (r->warnings) {
                json_t *w = json_array();
                STRV_FOREACH(i, r->warnings)
                        json_array_append_new(w, json_string(*i));
                json_object_set_new(o, "warnings", w);
        }
        return o;
}
