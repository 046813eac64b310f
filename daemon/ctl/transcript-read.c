/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "transcript-read.h"
#include "util.h"

static int refuse(char **ret_error, const char *what) {
        return set_errorf(ret_error, "not a gpprobe transcript: %s", what);
}

static int check_entry(json_t *e, char **ret_error) {
        json_t *t = json_object_get(e, "t_ms");

        if (!json_is_object(e))
                return refuse(ret_error, "an entry is not an object");
        if (!json_is_number(t) || json_number_value(t) < 0)
                return refuse(ret_error, "an entry has no t_ms");
        if (!json_is_string(json_object_get(e, "kind")))
                return refuse(ret_error, "an entry has no kind");
        return 0;
}

int gp_transcript_parse(const char *data, size_t len, json_t **ret, char **ret_error) {
        json_error_t jerr;
        json_t *doc, *sessions, *s;
        size_t i;
        int r = 0;

        if (len > GP_TRANSCRIPT_FILE_MAX)
                return refuse(ret_error, "too large");
        doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc) {
                /* jansson quotes the text "near" the error: it may hold anything, newlines too */
                char *near = strstr(jerr.text, " near ");

                if (json_error_code(&jerr) == json_error_out_of_memory)
                        return -ENOMEM;
                if (near)
                        *near = '\0';
                for (char *p = jerr.text; *p; p++)
                        if ((unsigned char) *p < 0x20)
                                *p = ' ';
                return set_errorf(ret_error, "not a gpprobe transcript: %s (line %d)", jerr.text, jerr.line);
        }
        if (!json_is_object(doc) || json_integer_value(json_object_get(doc, "schema")) != 1 ||
            !json_is_integer(json_object_get(doc, "schema")))
                r = refuse(ret_error, "no schema 1");
        else if (!json_is_string(json_object_get(doc, "name")) || !json_is_string(json_object_get(doc, "run_id")) ||
                 !json_is_string(json_object_get(doc, "result")))
                r = refuse(ret_error, "no name, run_id or result");
        else if (!json_is_array(sessions = json_object_get(doc, "sessions")))
                r = refuse(ret_error, "no sessions");
        else
                json_array_foreach(sessions, i, s) {
                        json_t *entries = json_object_get(s, "entries"), *e;
                        size_t k;

                        if (!json_is_object(s) || !json_is_integer(json_object_get(s, "index")) ||
                            !json_is_string(json_object_get(s, "result")) || !json_is_array(entries)) {
                                r = refuse(ret_error, "a session has no index, result or entries");
                                break;
                        }
                        json_array_foreach(entries, k, e)
                                if ((r = check_entry(e, ret_error)) < 0)
                                        break;
                        if (r < 0)
                                break;
                }
        if (r < 0) {
                json_decref(doc);
                return r;
        }
        *ret = doc;
        return 0;
}

static const char *str(json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return s ? s : "";
}

static void print_ms(FILE *f, const char *label, json_t *v) {
        if (json_is_number(v))
                fprintf(f, " %s %.1f", label, json_number_value(v));
}

/* Text of several lines (the upgrade reply's headers), each under the entry, indented. */
static void print_lines(FILE *f, const char *s) {
        while (*s) {
                size_t n = strcspn(s, "\n");

                fprintf(f, "\n  %15s  %.*s", "", (int) n, s);
                s += n + (s[n] == '\n');
        }
}

static void print_entry(FILE *f, json_t *e) {
        const char *kind = str(e, "kind");
        json_t *status = json_object_get(e, "status");

        fprintf(f, "  %+12.3f ms  ", json_number_value(json_object_get(e, "t_ms")));
        if (streq(kind, "http")) {
                json_t *ms = json_object_get(e, "ms");

                fprintf(f, "HTTP %s %s %s", str(e, "step"), str(e, "method"), str(e, "url"));
                if (json_is_integer(status))
                        fprintf(f, " -> %lld", (long long) json_integer_value(status));
                if (json_is_object(ms)) {
                        fprintf(f, " (ms:");
                        print_ms(f, "dns", json_object_get(ms, "dns"));
                        print_ms(f, "connect", json_object_get(ms, "connect"));
                        print_ms(f, "tls", json_object_get(ms, "tls"));
                        print_ms(f, "first byte", json_object_get(ms, "first_byte"));
                        print_ms(f, "total", json_object_get(ms, "total"));
                        fprintf(f, ")");
                }
                if (*str(e, "error"))
                        fprintf(f, " error: %s", str(e, "error"));
                if (*str(e, "body"))
                        fprintf(f, "\n  %15s  %s", "", str(e, "body"));
        } else if (streq(kind, "upgrade")) {
                fprintf(f, "UPGRADE %s", str(e, "url"));
                if (json_is_integer(status))
                        fprintf(f, " -> %lld", (long long) json_integer_value(status));
                if (*str(e, "subprotocol"))
                        fprintf(f, ", subprotocol %s", str(e, "subprotocol"));
                if (*str(e, "error"))
                        fprintf(f, " error: %s", str(e, "error"));
                print_lines(f, str(e, "headers"));
        } else if (streq(kind, "frame"))
                fprintf(f, "%s %s %lld B  %s", streq(str(e, "dir"), "in") ? "<<" : ">>", str(e, "opcode"),
                        (long long) json_integer_value(json_object_get(e, "size")), str(e, "data"));
        else if (streq(kind, "close")) {
                fprintf(f, "CLOSE by %s", str(e, "by"));
                if (json_is_integer(json_object_get(e, "code")))
                        fprintf(f, " %lld", (long long) json_integer_value(json_object_get(e, "code")));
                if (*str(e, "reason"))
                        fprintf(f, ": %s", str(e, "reason"));
        } else if (streq(kind, "await"))
                fprintf(f, "--> the deadline passed here, awaiting %s", str(e, "text"));
        else if (streq(kind, "t0"))
                fprintf(f, "== %s", str(e, "text"));
        else if (streq(kind, "abort"))
                fprintf(f, "-- %s", str(e, "text"));
        else if (streq(kind, "fail"))
                fprintf(f, "!! FAIL %s", str(e, "text"));
        else
                fprintf(f, "%s %s", kind, str(e, "text"));
        fputc('\n', f);
}

void gp_transcript_print(json_t *doc, FILE *f) {
        json_t *sessions = json_object_get(doc, "sessions"), *s;
        size_t i;

        fprintf(f, "%s run %s started %s: %s", str(doc, "name"), str(doc, "run_id"), str(doc, "started_at"),
                str(doc, "result"));
        if (*str(doc, "code"))
                fprintf(f, " %s (%s): %s", str(doc, "code"), str(doc, "stage"), str(doc, "reason"));
        fputc('\n', f);
        if (*str(doc, "trace_id"))
                fprintf(f, "trace id %s (the backend's trace of this run)\n", str(doc, "trace_id"));
        json_array_foreach(sessions, i, s) {
                json_t *entries = json_object_get(s, "entries"), *e;
                size_t k;

                fprintf(f, "\nsession %lld: %s", (long long) json_integer_value(json_object_get(s, "index")),
                        str(s, "result"));
                if (*str(s, "span_id"))
                        fprintf(f, " (span %s)", str(s, "span_id"));
                if (*str(s, "code"))
                        fprintf(f, " %s: %s", str(s, "code"), str(s, "reason"));
                fputc('\n', f);
                json_array_foreach(entries, k, e)
                        print_entry(f, e);
                if (json_integer_value(json_object_get(s, "dropped")) > 0)
                        fprintf(f, "  (%lld more entries dropped: the transcript's bound)\n",
                                (long long) json_integer_value(json_object_get(s, "dropped")));
        }
}
