/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "json-util.h"
#include "silence.h"
#include "utf8.h"
#include "util.h"

gp_silence *gp_silence_free(gp_silence *s) {
        if (!s)
                return NULL;
        free(s->reason);
        free(s->by);
        free(s);
        return NULL;
}

gp_silence *gp_silence_copy(const gp_silence *s) {
        _cleanup_silence_ gp_silence *c = NULL;

        if (!s || !(c = calloc(1, sizeof(*c))))
                return NULL;
        c->until = s->until;
        c->created_at = s->created_at;
        c->reason = strdup(strempty(s->reason));
        c->by = s->by ? strdup(s->by) : NULL;
        if (!c->reason || (s->by && !c->by))
                return NULL;
        return TAKE_PTR(c);
}

bool gp_silence_equal(const gp_silence *a, const gp_silence *b) {
        if (!a || !b)
                return a == b;
        return a->until == b->until && a->created_at == b->created_at && streq_ptr(a->reason, b->reason) &&
               streq_ptr(a->by, b->by);
}

/* C0, DEL, C1, U+2028, U+2029: what would break a line of the journal, a terminal or a log. */
static bool is_control(uint32_t c) {
        return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029;
}

int gp_silence_text_check(const char *what, const char *s, size_t max, char **ret_error) {
        size_t len, i = 0;
        bool blank = true;

        if (!s)
                return set_errorf(ret_error, "%s is missing", what), -EINVAL;
        len = strlen(s);
        if (len == 0)
                return set_errorf(ret_error, "%s is empty", what), -EINVAL;
        if (len > max)
                return set_errorf(ret_error, "%s is longer than %zu bytes", what, max), -EINVAL;
        while (i < len) {
                uint32_t c = 0;
                size_t n = gp_utf8_decode(s + i, len - i, &c);

                if (n == 0)
                        return set_errorf(ret_error, "%s is not valid UTF-8 (byte %zu)", what, i + 1), -EINVAL;
                if (is_control(c))
                        return set_errorf(ret_error, "%s contains a control character (U+%04X at byte %zu)", what,
                                          (unsigned) c, i + 1), -EINVAL;
                if (c != ' ')
                        blank = false;
                i += n;
        }
        if (blank)
                return set_errorf(ret_error, "%s is only blanks", what), -EINVAL;
        return 0;
}

static int time_member(const json_t *o, const char *key, bool required, usec_t *ret, char **ret_error) {
        const json_t *v = json_object_get(o, key);

        if (!v) {
                if (required)
                        return set_errorf(ret_error, "\"%s\" is missing", key), -EINVAL;
                *ret = 0;
                return 0;
        }
        if (!json_is_string(v) || parse_rfc3339(json_string_value(v), ret) < 0 || *ret == 0)
                return set_errorf(ret_error, "\"%s\" is not an RFC 3339 time", key), -EINVAL;
        return 0;
}

static int text_member(const json_t *o, const char *key, size_t max, bool required, const char **ret,
                       char **ret_error) {
        const json_t *v = json_object_get(o, key);
        _cleanup_free_ char *what = NULL;

        if (!v && !required) {
                *ret = NULL;
                return 0;
        }
        if (v && !json_is_string(v))
                return set_errorf(ret_error, "\"%s\" is not a string", key), -EINVAL;
        what = strdup_printf("\"%s\"", key);
        if (!what)
                return -ENOMEM;
        *ret = v ? json_string_value(v) : NULL;
        return gp_silence_text_check(what, *ret, max, ret_error);
}

int gp_silence_parse(const void *data, size_t len, usec_t now, gp_silence **ret, char **ret_error) {
        static const char * const known[] = { "until", "reason", "by", "created_at" };
        _cleanup_silence_ gp_silence *s = NULL;
        json_auto_t *root = NULL;
        const char *key, *reason = NULL, *by = NULL;
        json_t *v;
        json_error_t jerr;
        int r;

        if (!ret || (!data && len > 0))
                return set_errorf(ret_error, "invalid arguments"), -EINVAL;
        if (len > GP_SILENCE_FILE_MAX)
                return set_errorf(ret_error, "larger than %zu bytes", GP_SILENCE_FILE_MAX), -EFBIG;
        root = json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return set_errorf(ret_error, "not JSON: %s (line %d)", jerr.text, jerr.line), -EINVAL;
        if (!json_is_object(root))
                return set_errorf(ret_error, "not a JSON object"), -EINVAL;
        json_object_foreach(root, key, v) {
                bool ok = false;
                for (size_t i = 0; i < ELEMENTSOF(known); i++)
                        ok = ok || streq(key, known[i]);
                if (!ok) {
                        _cleanup_free_ char *k = strndup(key, 40);
                        bool printable = k && gp_silence_text_check("", k, 40, NULL) == 0;
                        return set_errorf(ret_error, "unknown member \"%s\"", printable ? k : "?"), -EINVAL;
                }
        }
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = time_member(root, "until", true, &s->until, ret_error);
        if (r >= 0)
                r = time_member(root, "created_at", false, &s->created_at, ret_error);
        if (r >= 0)
                r = text_member(root, "reason", GP_SILENCE_REASON_MAX, true, &reason, ret_error);
        if (r >= 0)
                r = text_member(root, "by", GP_SILENCE_BY_MAX, false, &by, ret_error);
        if (r < 0)
                return r;
        if (s->until > now && s->until - now > GP_SILENCE_MAX_DURATION + GP_SILENCE_CLOCK_SLACK)
                return set_errorf(ret_error, "\"until\" is more than 7 days ahead"), -EINVAL;
        s->reason = strdup(reason);
        s->by = by ? strdup(by) : NULL;
        if (!s->reason || (by && !s->by))
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        return 0;
}

static json_t *time_or_null(usec_t t) {
        char buf[32];

        return t == 0 ? json_null() : json_string(format_rfc3339(buf, sizeof(buf), t));
}

json_t *gp_silence_to_json(const gp_silence *s) {
        json_auto_t *o = NULL;

        if (!s || !(o = json_object()))
                return NULL;
        if (gp_json_set_new(o, "until", time_or_null(s->until)) < 0 ||
            gp_json_set_new(o, "reason", json_string(strempty(s->reason))) < 0 ||
            gp_json_set_new(o, "by", gp_json_string_or_null(s->by)) < 0 ||
            gp_json_set_new(o, "created_at", time_or_null(s->created_at)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

char *gp_silence_serialize(const gp_silence *s, size_t *ret_len) {
        json_auto_t *o = gp_silence_to_json(s);

        /* The file leaves out what it does not know, rather than writing null. */
        if (o && !s->by)
                json_object_del(o, "by");
        if (o && s->created_at == 0)
                json_object_del(o, "created_at");
        return gp_json_dump_line(o, JSON_COMPACT | JSON_PRESERVE_ORDER, ret_len);
}

char *gp_silence_file_path(const char *state_file, const char *status_file, const char *name) {
        const char *file = !isempty(state_file) ? state_file : status_file;
        const char *slash;

        if (isempty(file) || isempty(name))
                return NULL;
        slash = strrchr(file, '/');
        if (!slash)
                return strdup_printf("%s.silence", name);
        return strdup_printf("%.*s/%s.silence", (int) (slash - file), file, name);
}
