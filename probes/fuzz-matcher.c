/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any sequence of frames through the event matcher, with the SPEC defaults.
 *
 * Input: one flags byte, then frames separated by '\n'. A frame "#b" is a binary frame, "#t" an
 * EventTimeout= passing, anything else a text frame. Flags: bit 0 Strict=yes, bit 1
 * ResponseMatch=^ready$, bit 2 no correlation id, bit 3 the real product's rules (learned
 * ids, every type repeatable, End= conditions, ResponseReject=, ResponseErrorPath= with "*"),
 * bits 4-7 the time step between frames.
 *
 * Checks the invariants the golden path relies on: a verdict never changes once given; a failure
 * has a known code, a stage and a bounded one-line UTF-8 reason; a pass saw every expected type
 * and has a non-empty response; the events seen are distinct listed types in time order. */
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>

#include "matcher.h"
#include "utf8.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *expect[] = { "agent_started", "agent_thinking", "tool_executing", "tool_completed",
                          "agent_completed", NULL };
static char *repeatable[] = { "agent_thinking", "tool_executing", "tool_completed", NULL };
static char *fail_types[] = { "agent_error", "agent_death", "error_message", "error", NULL };
static char *error_paths[] = { "data.error_message", "error_message", "message", NULL };
static char *correlate[] = { "run_id", "data.run_id", "payload.run_id", NULL };
static char *response[] = { "final_response", "result", "data.result", "payload.result", NULL };
static char *all_repeat[] = { "agent_started", "agent_thinking", "tool_executing", "tool_completed",
                              "agent_completed", NULL };
static char *end_conds[] = { "agent_completed[payload.supervisor_result]", "agent_completed[supervisor_result=completed]",
                             NULL };
static char *netra_response[] = { "payload.results.reporting.data.report", "final_response", NULL };
static char *result_errors[] = { "payload.results.*.error", NULL };
static const char * const codes[] = { "events.error", "events.order", "events.missing", "events.timeout",
                                      "events.unexpected", "events.malformed", "events.crosstalk",
                                      "response.empty", "response.mismatch", "internal" };

static unsigned lookup(const char *id, void *userdata) {
        return streq(id, "run-2") ? 2 : 0;
}

static bool listed(const char *type) {
        return strv_contains(expect, type) || strv_contains(fail_types, type);
}

static void check_reason(const char *reason) {
        size_t n;

        if (!reason)
                abort();
        n = strlen(reason);
        if (n > 300 || gp_utf8_invalid_at(reason, n) != n)
                abort();
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) reason[i] < 0x20 || reason[i] == 0x7f)
                        abort();
}

/* reject is set exactly with the real product's rules (flag bit 3), End= among them. */
static void check(const gp_matcher *m, gp_match_state st, size_t fed, bool strict, const regex_t *re,
                  const regex_t *reject) {
        unsigned total = 0;

        if (gp_matcher_state(m) != st)
                abort();
        for (size_t i = 0; i < gp_matcher_n_events(m); i++) {
                const gp_event_stat *e = gp_matcher_event(m, i);

                if (!e || !listed(e->type) || e->count == 0)
                        abort();
                for (size_t j = 0; j < i; j++)
                        if (streq(gp_matcher_event(m, j)->type, e->type) ||
                            gp_matcher_event(m, j)->first_at > e->first_at)
                                abort();
                total += e->count;
        }
        if (gp_matcher_event(m, gp_matcher_n_events(m)) != NULL)
                abort();
        if ((size_t) total + gp_matcher_n_ignored(m) + gp_matcher_n_malformed(m) > fed)
                abort();
        if (strict && (gp_matcher_n_ignored(m) || gp_matcher_n_malformed(m)))
                abort();

        switch (st) {
        case GP_MATCH_RUNNING:
                /* with End=, every kind may have arrived while the end has not */
                if (gp_matcher_code(m) || gp_matcher_reason(m) || gp_matcher_response(m) ||
                    (!gp_matcher_awaiting(m) && !reject) || gp_matcher_complete_at(m) != USEC_INFINITY ||
                    gp_matcher_foreign_session(m) != 0)
                        abort();
                break;
        case GP_MATCH_PASSED: {
                const char *resp = gp_matcher_response(m);

                if (gp_matcher_code(m) || isempty(resp) || gp_matcher_awaiting(m) ||
                    gp_matcher_complete_at(m) == USEC_INFINITY ||
                    gp_matcher_first_event_at(m) > gp_matcher_complete_at(m))
                        abort();
                if (re && regexec(re, resp, 0, NULL, 0) != 0)
                        abort();
                /* a placeholder is never an answer */
                if (reject && regexec(reject, resp, 0, NULL, 0) == 0)
                        abort();
                break;
        }
        case GP_MATCH_FAILED: {
                const char *code = gp_matcher_code(m);
                bool known = false;

                for (size_t i = 0; code && i < ELEMENTSOF(codes); i++)
                        known = known || streq(code, codes[i]);
                if (!known || gp_matcher_response(m))
                        abort();
                if (!streq(gp_matcher_stage(m), startswith(code, "response.") ? "response" : "events"))
                        abort();
                /* Only crosstalk names another session, and only the one lookup() knows. */
                if (gp_matcher_foreign_session(m) != 0 &&
                    (!streq(code, "events.crosstalk") || gp_matcher_foreign_session(m) != 2))
                        abort();
                check_reason(gp_matcher_reason(m));
                break;
        }
        default:
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static regex_t re, placeholder;
        static bool re_ready;
        gp_matcher_rules rules = {
                .type_path = "type", .expect = expect, .repeatable = repeatable, .fail = fail_types,
                .error_paths = error_paths, .correlate_paths = correlate, .response_paths = response,
        };
        _cleanup_(gp_matcher_freep) gp_matcher *m = NULL;
        gp_match_state st = GP_MATCH_RUNNING;
        const char *p, *end;
        _cleanup_free_ char *reason = NULL;
        const char *code = NULL;
        usec_t at = 0, step;
        size_t fed = 0;
        uint8_t flags;

        if (size < 1)
                return 0;
        if (!re_ready) {
                if (regcomp(&re, "^ready$", REG_EXTENDED | REG_NOSUB) != 0 ||
                    regcomp(&placeholder, "^[[:space:]]*(Task completed\\.?)?[[:space:]]*$", REG_EXTENDED | REG_NOSUB) != 0)
                        abort();
                re_ready = true;
        }
        flags = data[0];
        rules.strict = flags & 1;
        if (flags & 2) {
                rules.response_regex = &re;
                rules.response_match = "^ready$";
        }
        if (flags & 8) {
                rules.correlate_learned = true;
                rules.repeatable = all_repeat;
                rules.end = end_conds;
                rules.response_paths = netra_response;
                rules.response_error_paths = result_errors;
                rules.response_reject = &placeholder;
                rules.response_reject_src = "^Task completed$";
        }
        step = (usec_t) (flags >> 4) * 1000;
        m = gp_matcher_new(&rules, flags & 4 ? NULL : "run-1", 1, lookup, NULL);
        if (!m)
                abort();

        p = (const char *) data + 1;
        end = (const char *) data + size;
        while (p <= end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = (size_t) ((nl ? nl : end) - p);
                gp_match_state before = st;

                at += step;
                if (len == 2 && memcmp(p, "#t", 2) == 0) {
                        gp_matcher_timeout(m, 30 * USEC_PER_SEC);
                        if (before == GP_MATCH_RUNNING && !streq_ptr(gp_matcher_code(m), "events.timeout"))
                                abort();
                }
                else if (len == 2 && memcmp(p, "#b", 2) == 0) {
                        st = gp_matcher_feed_binary(m, len, at);
                        fed++;
                } else {
                        st = gp_matcher_feed(m, p, len, at);
                        fed++;
                }
                st = gp_matcher_state(m);
                if (before != GP_MATCH_RUNNING) {
                        /* A verdict is final: the same code and reason whatever follows. */
                        if (st != before || !streq_ptr(code, gp_matcher_code(m)) ||
                            !streq_ptr(reason, gp_matcher_reason(m)))
                                abort();
                } else if (st != GP_MATCH_RUNNING) {
                        code = gp_matcher_code(m);
                        reason = gp_matcher_reason(m) ? strdup(gp_matcher_reason(m)) : NULL;
                }
                check(m, st, fed, rules.strict, rules.response_regex, rules.response_reject);
                if (!nl)
                        break;
                p = nl + 1;
        }
        return 0;
}
