/* SPDX-License-Identifier: MIT */
#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>

#include "codes.h"
#include "event-cond.h"
#include "jsonpath.h"
#include "matcher.h"
#include "utf8.h"
#include "util.h"

/* Reasons end up in the journal, the status file and alerts: one printable line, bounded. */
#define REASON_MAX 300
#define QUOTE_MAX 80
#define ELLIPSIS "..."

struct gp_matcher {
        const gp_matcher_rules *rules;
        size_t n_expect;
        gp_event_cond *end;          /* parsed End= conditions */
        size_t n_end;
        char *own_id;                /* NULL: not known yet (learned) or no correlation check */
        char *learned_from;          /* the type that taught own_id */
        unsigned own_index;
        gp_session_lookup lookup;
        void *userdata;

        gp_match_state state;
        const char *code;
        const char *stage;
        char reason[REASON_MAX + 1];
        size_t reason_len;
        bool reason_cut;
        char *response;
        unsigned foreign_session;

        gp_event_stat *events;       /* expected and fail types, in first-seen order */
        size_t n_events;
        size_t max_events;
        usec_t first_event_at;
        usec_t complete_at;
        unsigned n_ignored;
        unsigned n_malformed;
        char last_type[64];          /* of the last frame fed; "" when it had none */
};

static void reason_put(gp_matcher *m, const char *s, size_t n) {
        if (m->reason_cut)
                return;
        if (m->reason_len + n > REASON_MAX - strlen(ELLIPSIS)) {
                s = ELLIPSIS;
                n = strlen(ELLIPSIS);
                m->reason_cut = true;
        }
        memcpy(m->reason + m->reason_len, s, n);
        m->reason_len += n;
        m->reason[m->reason_len] = '\0';
}

/* Appends at most max bytes of s (never a partial character), escaping whatever is not printable
 * on one line, and "..." when s was longer. */
static void reason_add(gp_matcher *m, const char *s, size_t n, size_t max) {
        for (size_t i = 0, k; i < n; i += k) {
                const char *out = NULL;
                char esc[16];
                uint32_t c;

                k = gp_utf8_decode(s + i, n - i, &c);
                if (i + MAX(k, (size_t) 1) > max) {
                        reason_put(m, ELLIPSIS, strlen(ELLIPSIS));
                        return;
                }
                if (k == 0) {
                        k = 1;
                        snprintf(esc, sizeof esc, "\\x%02x", (unsigned char) s[i]);
                } else if (c == '\n')
                        out = "\\n";
                else if (c == '\r')
                        out = "\\r";
                else if (c == '\t')
                        out = "\\t";
                else if (c < 0x20 || c == 0x7f)
                        snprintf(esc, sizeof esc, "\\x%02x", (unsigned) c);
                else if ((c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029)
                        snprintf(esc, sizeof esc, "\\u%04x", (unsigned) c);
                else {
                        reason_put(m, s + i, k);
                        continue;
                }
                if (!out)
                        out = esc;
                reason_put(m, out, strlen(out));
        }
}

static void reason_quote(gp_matcher *m, const char *s, size_t max) {
        reason_add(m, s, strlen(s), max);
}

_printf_(2, 3) static void reason_text(gp_matcher *m, const char *fmt, ...) {
        char buf[REASON_MAX + 1];
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        if (r > 0)
                reason_add(m, buf, MIN((size_t) r, sizeof buf - 1), SIZE_MAX);
}

static gp_match_state fail_start(gp_matcher *m, const char *code, const char *stage) {
        m->state = GP_MATCH_FAILED;
        m->code = code;
        m->stage = stage;
        m->reason_len = 0;
        m->reason_cut = false;
        m->reason[0] = '\0';
        return m->state;
}

static gp_match_state fail_oom(gp_matcher *m) {
        fail_start(m, GP_CODE_INTERNAL, "events");
        reason_text(m, "out of memory");
        return m->state;
}

gp_matcher *gp_matcher_new(const gp_matcher_rules *rules, const char *own_id, unsigned own_index,
                           gp_session_lookup lookup, void *userdata) {
        _cleanup_(gp_matcher_freep) gp_matcher *m = NULL;
        gp_matcher *result;

        if (!rules || strv_length(rules->expect) == 0 || gp_json_path_validate(rules->type_path) < 0) {
                errno = EINVAL;
                return NULL;
        }
        m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        m->rules = rules;
        m->n_expect = strv_length(rules->expect);
        m->own_index = own_index;
        m->lookup = lookup;
        m->userdata = userdata;
        m->state = GP_MATCH_RUNNING;
        m->first_event_at = m->complete_at = USEC_INFINITY;
        m->max_events = m->n_expect + strv_length(rules->fail);
        m->events = calloc(m->max_events, sizeof(gp_event_stat));
        if (!m->events)
                return NULL;
        if (!isempty(own_id) && !rules->correlate_learned) {
                m->own_id = strdup(own_id);
                if (!m->own_id)
                        return NULL;
        }
        m->end = calloc(strv_length(rules->end) + 1, sizeof(gp_event_cond));
        if (!m->end)
                return NULL;
        STRV_FOREACH(e, rules->end) {
                int r = gp_event_cond_parse(*e, &m->end[m->n_end], NULL);

                if (r < 0) {
                        errno = -r;
                        return NULL;
                }
                m->n_end++;
        }
        result = m;
        m = NULL;
        return result;
}

gp_matcher *gp_matcher_free(gp_matcher *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_events; i++)
                free(m->events[i].type);
        free(m->events);
        for (size_t i = 0; i < m->n_end; i++)
                gp_event_cond_done(&m->end[i]);
        free(m->end);
        free(m->own_id);
        free(m->learned_from);
        free(m->response);
        free(m);
        return NULL;
}

static gp_event_stat *find_event(const gp_matcher *m, const char *type) {
        for (size_t i = 0; i < m->n_events; i++)
                if (streq(m->events[i].type, type))
                        return &m->events[i];
        return NULL;
}

static int record_event(gp_matcher *m, const char *type, usec_t at) {
        gp_event_stat *e = find_event(m, type);
        char *t;

        if (e) {
                if (e->count < UINT_MAX)
                        e->count++;
                return 0;
        }
        if (m->n_events >= m->max_events)
                return -ENOBUFS;
        t = strdup(type);
        if (!t)
                return -ENOMEM;
        m->events[m->n_events++] = (gp_event_stat) { .type = t, .first_at = at, .count = 1 };
        return 0;
}

static gp_match_state malformed(gp_matcher *m, const char *data, size_t len, const char *what,
                                const char *path) {
        if (!m->rules->strict) {
                m->n_malformed++;
                return m->state;
        }
        fail_start(m, GP_CODE_EVENTS_MALFORMED, "events");
        reason_text(m, "frame %s%s (Strict=yes): '", what, path);
        reason_add(m, data, len, QUOTE_MAX);
        reason_text(m, "'");
        return m->state;
}

static void reason_crosstalk(gp_matcher *m, const char *type, const char *field, const char *id) {
        if (type)
                reason_quote(m, type, QUOTE_MAX);
        else
                reason_text(m, "a frame without a type");
        reason_text(m, " carried %s%s ", m->foreign_session > 0 ? "" : "unknown ", field);
        reason_quote(m, id, QUOTE_MAX);
}

/* Learns the session's id from the first expected event that carries one; fails with
 * events.crosstalk when another session already has it (two sessions given one run). */
static gp_match_state learn_id(gp_matcher *m, const char *type, const char *field, const char *id) {
        unsigned owner = m->lookup ? m->lookup(id, m->userdata) : 0;

        if (owner > 0 && owner != m->own_index) {
                m->foreign_session = owner;
                fail_start(m, GP_CODE_EVENTS_CROSSTALK, "events");
                reason_crosstalk(m, type, field, id);
                reason_text(m, " that session %u learned first (this is session %u): two sessions were given one run",
                            owner, m->own_index);
                return m->state;
        }
        m->own_id = strdup(id);
        m->learned_from = strdup(strempty(type));
        if (!m->own_id || !m->learned_from)
                return fail_oom(m);
        return m->state;
}

/* Fails with events.crosstalk when the frame carries a correlation id that is not ours.
 * expected: the frame's type is in Expect= (only those teach a learned id). */
static gp_match_state check_correlation(gp_matcher *m, json_t *root, const char *type, bool expected) {
        const char *id = NULL, *field = NULL;

        if (!m->own_id && !m->rules->correlate_learned)
                return m->state;
        STRV_FOREACH(p, m->rules->correlate_paths) {
                json_t *v = gp_json_path_get(root, *p);

                if (json_is_string(v)) {
                        id = json_string_value(v);
                        field = strrchr(*p, '.') ? strrchr(*p, '.') + 1 : *p;
                        break;
                }
        }
        if (!id)
                return m->state;
        if (!m->own_id)
                return expected ? learn_id(m, type, field, id) : m->state;
        if (streq(id, m->own_id))
                return m->state;

        m->foreign_session = m->lookup ? m->lookup(id, m->userdata) : 0;
        if (m->foreign_session == m->own_index)
                m->foreign_session = 0;
        fail_start(m, GP_CODE_EVENTS_CROSSTALK, "events");
        reason_crosstalk(m, type, field, id);
        if (m->foreign_session > 0)
                reason_text(m, " of session %u (this is session %u)", m->foreign_session, m->own_index);
        else {
                reason_text(m, " (expected ");
                reason_quote(m, m->own_id, QUOTE_MAX);
                if (m->learned_from) {
                        reason_text(m, ", learned from ");
                        reason_quote(m, m->learned_from, QUOTE_MAX);
                }
                reason_text(m, ")");
        }
        return m->state;
}

static gp_match_state on_fail_event(gp_matcher *m, json_t *root, const char *type, usec_t at) {
        const char *message;

        if (record_event(m, type, at) < 0)
                return fail_oom(m);
        fail_start(m, GP_CODE_EVENTS_ERROR, "events");
        message = gp_json_path_first_string(root, m->rules->error_paths, true);
        if (message) {
                reason_text(m, "%s: ", type);
                reason_quote(m, message, REASON_MAX);
        } else
                reason_text(m, "%s (no message)", type);
        return m->state;
}

/* What a sub-agent's error looks like inside the end event: anything but null, false, "", {}
 * or []. */
static bool is_error_value(json_t *v) {
        if (!v || json_is_null(v) || json_is_false(v))
                return false;
        if (json_is_string(v))
                return json_string_length(v) > 0;
        if (json_is_object(v))
                return json_object_size(v) > 0;
        if (json_is_array(v))
                return json_array_size(v) > 0;
        return true;
}

static gp_match_state check_result_errors(gp_matcher *m, json_t *root, const char *terminal) {
        _cleanup_free_ char *where = NULL, *dump = NULL;
        json_t *v = gp_json_path_find(root, m->rules->response_error_paths, is_error_value, &where);

        if (!v)
                return m->state;
        fail_start(m, GP_CODE_EVENTS_ERROR, "events");
        reason_text(m, "%s reports an error at %s: ", terminal, strempty(where));
        if (json_is_string(v))
                reason_quote(m, json_string_value(v), REASON_MAX);
        else {
                dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                reason_quote(m, dump ? dump : "(a value)", REASON_MAX);
        }
        return m->state;
}

static gp_match_state check_response(gp_matcher *m, json_t *root, const char *terminal) {
        const gp_matcher_rules *r = m->rules;
        const char *response;

        if (check_result_errors(m, root, terminal) != GP_MATCH_RUNNING)
                return m->state;
        response = gp_json_path_first_string(root, r->response_paths, true);
        if (!response) {
                fail_start(m, GP_CODE_RESPONSE_EMPTY, "response");
                reason_text(m, "%s carried no response (no non-empty string at ResponsePath=", terminal);
                STRV_FOREACH(p, r->response_paths)
                        reason_text(m, "%s%s", p == r->response_paths ? "" : " ", *p);
                reason_text(m, ")");
                return m->state;
        }
        if (r->response_reject && regexec(r->response_reject, response, 0, NULL, 0) == 0) {
                fail_start(m, GP_CODE_RESPONSE_EMPTY, "response");
                reason_text(m, "%s carried the placeholder '", terminal);
                reason_quote(m, response, QUOTE_MAX);
                reason_text(m, "', not an answer (ResponseReject=");
                reason_quote(m, strempty(r->response_reject_src), QUOTE_MAX);
                reason_text(m, ")");
                return m->state;
        }
        if (r->response_regex && regexec(r->response_regex, response, 0, NULL, 0) != 0) {
                fail_start(m, GP_CODE_RESPONSE_MISMATCH, "response");
                reason_text(m, "response '");
                reason_quote(m, response, QUOTE_MAX);
                reason_text(m, "' does not match '");
                reason_quote(m, strempty(r->response_match), QUOTE_MAX);
                reason_text(m, "'");
                return m->state;
        }
        m->response = strdup(response);
        if (!m->response)
                return fail_oom(m);
        m->state = GP_MATCH_PASSED;
        return m->state;
}

static gp_match_state on_terminal(gp_matcher *m, json_t *root, const char *terminal) {
        bool missing = false;

        for (size_t j = 0; j < m->n_expect; j++) {
                const char *t = m->rules->expect[j];

                if (find_event(m, t))
                        continue;
                if (!missing)
                        fail_start(m, GP_CODE_EVENTS_MISSING, "events");
                reason_text(m, missing ? " %s" : "%s arrived but never saw %s", missing ? t : terminal, t);
                missing = true;
        }
        return missing ? m->state : check_response(m, root, terminal);
}

static bool is_end_event(const gp_matcher *m, json_t *root, const char *type) {
        for (size_t i = 0; i < m->n_end; i++)
                if (gp_json_event_cond_holds(&m->end[i], root, type))
                        return true;
        return false;
}

static bool is_end_type(const gp_matcher *m, const char *type) {
        for (size_t i = 0; i < m->n_end; i++)
                if (streq(m->end[i].type, type))
                        return true;
        return false;
}

static gp_match_state on_expected(gp_matcher *m, json_t *root, size_t i, usec_t at) {
        const char *type = m->rules->expect[i];
        bool again = find_event(m, type);
        bool ends = m->n_end > 0 ? is_end_event(m, root, type) : i + 1 == m->n_expect;

        if (record_event(m, type, at) < 0)
                return fail_oom(m);
        if (m->first_event_at == USEC_INFINITY)
                m->first_event_at = at;
        if (ends) {
                m->complete_at = at;
                return on_terminal(m, root, type);
        }
        if (again) {
                if (strv_contains(m->rules->repeatable, type))
                        return m->state;
                fail_start(m, GP_CODE_EVENTS_ORDER, "events");
                reason_text(m, "%s repeated (not Repeatable=)", type);
                return m->state;
        }
        if (m->n_end > 0 && is_end_type(m, type)) {
                /* A sub-agent's cycle ended: not the end of the run, and not bound to the order of
                 * first appearance, but no cycle ends before anything started. */
                if (i > 0 && !find_event(m, m->rules->expect[0])) {
                        fail_start(m, GP_CODE_EVENTS_ORDER, "events");
                        reason_text(m, "%s arrived before %s", type, m->rules->expect[0]);
                }
                return m->state;
        }
        for (size_t j = 0; j < i; j++) {
                if (m->n_end > 0 && is_end_type(m, m->rules->expect[j]))
                        continue;
                if (!find_event(m, m->rules->expect[j])) {
                        fail_start(m, GP_CODE_EVENTS_ORDER, "events");
                        reason_text(m, "%s arrived before %s", type, m->rules->expect[j]);
                        return m->state;
                }
        }
        return m->state;
}

static gp_match_state on_unlisted(gp_matcher *m, const char *type) {
        if (!m->rules->strict) {
                m->n_ignored++;
                return m->state;
        }
        fail_start(m, GP_CODE_EVENTS_UNEXPECTED, "events");
        reason_text(m, "unexpected event type '");
        reason_quote(m, type, QUOTE_MAX);
        reason_text(m, "' (Strict=yes)");
        return m->state;
}

gp_match_state gp_matcher_feed(gp_matcher *m, const char *data, size_t len, usec_t at) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        json_error_t error;
        const char *type;

        assert(m);
        m->last_type[0] = 0;
        if (m->state != GP_MATCH_RUNNING)
                return m->state;
        if (!data)
                data = "", len = 0;

        /* Numbers are never looked at: do not fail a frame on an integer too large for json_int_t. */
        root = json_loadb(data, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &error);
        if (!root) {
                if (json_error_code(&error) == json_error_out_of_memory)
                        return fail_oom(m);
                return malformed(m, data, len, "is not JSON", "");
        }
        if (!json_is_object(root))
                return malformed(m, data, len, "is not a JSON object", "");

        type = json_string_value(gp_json_path_get(root, m->rules->type_path));
        if (type)
                snprintf(m->last_type, sizeof(m->last_type), "%s", type);
        if (check_correlation(m, root, type, type && strv_contains(m->rules->expect, type)) != GP_MATCH_RUNNING)
                return m->state;
        if (!type)
                return malformed(m, data, len, "has no string at ", m->rules->type_path);

        if (strv_contains(m->rules->fail, type))
                return on_fail_event(m, root, type, at);
        for (size_t i = 0; i < m->n_expect; i++)
                if (streq(m->rules->expect[i], type))
                        return on_expected(m, root, i, at);
        return on_unlisted(m, type);
}

gp_match_state gp_matcher_feed_binary(gp_matcher *m, size_t len, usec_t at) {
        assert(m);
        m->last_type[0] = 0;
        if (m->state != GP_MATCH_RUNNING)
                return m->state;
        if (!m->rules->strict) {
                m->n_malformed++;
                return m->state;
        }
        fail_start(m, GP_CODE_EVENTS_MALFORMED, "events");
        reason_text(m, "binary frame of %zu bytes (Strict=yes)", len);
        return m->state;
}

void gp_matcher_timeout(gp_matcher *m, usec_t waited) {
        const char *awaiting;
        char d[64];

        assert(m);
        if (m->state != GP_MATCH_RUNNING)
                return;
        awaiting = gp_matcher_awaiting(m);
        if (!awaiting)
                /* every kind arrived; the end did not */
                awaiting = m->n_end > 0 ? m->rules->end[0] : m->rules->expect[m->n_expect - 1];
        fail_start(m, GP_CODE_EVENTS_TIMEOUT, "events");
        reason_text(m, "no %s within %s; saw", awaiting, format_duration(d, sizeof d, waited));
        for (size_t i = 0; i < m->n_events; i++)
                reason_text(m, " %s", m->events[i].type);
        if (m->n_events == 0)
                reason_text(m, " nothing");
}

const char *gp_matcher_last_type(const gp_matcher *m) {
        assert(m);
        return m->last_type[0] ? m->last_type : NULL;
}

gp_match_state gp_matcher_state(const gp_matcher *m) {
        assert(m);
        return m->state;
}

const char *gp_matcher_code(const gp_matcher *m) {
        assert(m);
        return m->state == GP_MATCH_FAILED ? m->code : NULL;
}

const char *gp_matcher_stage(const gp_matcher *m) {
        assert(m);
        return m->state == GP_MATCH_FAILED ? m->stage : NULL;
}

const char *gp_matcher_reason(const gp_matcher *m) {
        assert(m);
        return m->state == GP_MATCH_FAILED ? m->reason : NULL;
}

const char *gp_matcher_awaiting(const gp_matcher *m) {
        assert(m);
        STRV_FOREACH(t, m->rules->expect)
                if (!find_event(m, *t))
                        return *t;
        return NULL;
}

const char *gp_matcher_response(const gp_matcher *m) {
        assert(m);
        return m->state == GP_MATCH_PASSED ? m->response : NULL;
}

unsigned gp_matcher_foreign_session(const gp_matcher *m) {
        assert(m);
        return m->foreign_session;
}

const char *gp_matcher_own_id(const gp_matcher *m) {
        assert(m);
        return m->own_id;
}

size_t gp_matcher_n_events(const gp_matcher *m) {
        assert(m);
        return m->n_events;
}

const gp_event_stat *gp_matcher_event(const gp_matcher *m, size_t i) {
        assert(m);
        return i < m->n_events ? &m->events[i] : NULL;
}

usec_t gp_matcher_first_event_at(const gp_matcher *m) {
        assert(m);
        return m->first_event_at;
}

usec_t gp_matcher_complete_at(const gp_matcher *m) {
        assert(m);
        return m->complete_at;
}

unsigned gp_matcher_n_ignored(const gp_matcher *m) {
        assert(m);
        return m->n_ignored;
}

unsigned gp_matcher_n_malformed(const gp_matcher *m) {
        assert(m);
        return m->n_malformed;
}
