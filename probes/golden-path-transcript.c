/* SPDX-License-Identifier: MIT */
/* The failure transcript as the sessions record it (daemon/model/transcript.h): what each one
 * sent and heard, cleaned here, where the secrets are known, before anything is kept. A run
 * without a transcript pays one NULL test per call. */
#include <errno.h>

#include "golden-path-internal.h"
#include "redact.h"
#include "transcript.h"

void gp_engine_set_transcripts(gp_engine *e, gp_engine_transcripts t) {
        e->transcripts = t;
}

static bool wanted(const gp_engine *e, const gp_config *cfg) {
        switch (e->transcripts) {
        case GP_ENGINE_TRANSCRIPTS_ALWAYS:
                return true;
        case GP_ENGINE_TRANSCRIPTS_NEVER:
                return false;
        default:
                return cfg->transcripts > 0 && !isempty(cfg->state_file);
        }
}

gp_transcript *gp_tx_new(const gp_engine *e, const gp_config *cfg, usec_t start) {
        if (!wanted(e, cfg))
                return NULL;
        return gp_transcript_new(cfg->users, start, GP_TRANSCRIPT_SESSION_MAX, GP_TRANSCRIPT_TOTAL_MAX);
}

static gp_transcript *tx(const session *s) {
        return s->run->result->transcript;
}

/* The longest form a secret of the session may take in a text (JSON's \uXXXX for each byte at
 * worst), so that a window of the text that long past the excerpt holds every secret the
 * excerpt could show a part of. */
static size_t longest_form(const session *s) {
        const gp_config *c = s->run->cfg;
        size_t n = MAX(strlen(strempty(c->password)), MAX(strlen(strempty(s->token)), strlen(strempty(c->token))));

        STRV_FOREACH(v, s->secret_values)
                n = MAX(n, strlen(*v));
        return 6 * n + 16;
}

/* data (len bytes) as the transcript may show its start: the TranscriptRedact= values replaced
 * (JSON only), then every form of the secrets. Only a window of a long text is redacted: the
 * excerpt plus the longest form; when redactions shrank the window so far that its unsafe tail
 * (where a secret may be cut in two) could reach the excerpt, the whole text is. NULL on ENOMEM. */
static char *tx_clean(const session *s, const char *data, size_t len, const char *token_path) {
        char *login_paths[] = { (char *) token_path, NULL };
        _cleanup_free_ char *json = gp_json_text_redact_paths(data, len, s->run->cfg->transcript_redact);
        _cleanup_free_ char *login = token_path ? gp_json_text_redact_paths(json ? json : data,
                                                                             json ? strlen(json) : len,
                                                                             login_paths) : NULL;
        size_t reserve = longest_form(s), window = GP_TRANSCRIPT_EXCERPT + reserve;
        char *text;

        if (login || json) {
                data = login ? login : json;
                len = strlen(data);
        }
        if (len <= window)
                return gp_redact_secrets(s, data, len);
        /* The window's last `reserve` bytes may hold a secret cut in two; what was before them
         * is clean. Redactions shift that tail, but it stays the last `reserve` bytes. */
        text = gp_redact_secrets(s, data, window);
        if (text && strlen(text) >= GP_TRANSCRIPT_EXCERPT + reserve)
                return text;
        free(text);
        return gp_redact_secrets(s, data, len);
}

static void url_without_query(char *buf, size_t size, const char *url) {
        snprintf(buf, size, "%.*s%s", (int) strcspn(url, "?"), url, strchr(url, '?') ? "?(query omitted)" : "");
}

/* What a session recorded, as it was given: kept until the run's verdict says whether a
 * transcript is kept at all, and only then cleaned and made into entries, in the order they
 * came. A passing run (most runs) so pays a copy of a few hundred bytes per entry instead of the
 * redaction and the JSON. Borrowed pointers while an entry is being recorded; owned copies
 * once deferred. */
typedef enum tx_kind {
        TX_HTTP,
        TX_UPGRADE,
        TX_FRAME,
        TX_CLOSE,
        TX_MARK,
} tx_kind;

typedef struct tx_entry {
        tx_kind kind;
        session *s;
        usec_t at;
        bool clean;             /* text and data need no redaction (or have had it) */
        bool incoming, binary;  /* frame */
        bool has_timing;        /* http */
        long status;            /* http and upgrade: the status; close: the code */
        gp_http_timing timing;  /* http */
        size_t size;            /* http: the reply's size; frame: the frame's */
        char *name;             /* http: the step; close: who closed; mark: its kind */
        char *method;           /* http */
        char *url;              /* http, upgrade: without its query */
        char *text;             /* http: the error; upgrade: the subprotocol; close: the reason;
                                 * mark: its text */
        char *extra;            /* upgrade: the reply's headers */
        char *error;            /* upgrade: why it failed */
        char *data;             /* http: the reply's body; frame: its data (len bytes) */
        size_t len;
        bool login;             /* http: the login's reply, whose TokenPath= is redacted too */
} tx_entry;

/* Deferred raw bytes a run may hold, and the largest text deferred: past them an entry is
 * cleaned and made at once, as before. */
#define TX_DEFER_BYTES (4u * 1024 * 1024)
#define TX_DEFER_ONE (16u * 1024)

static char *cleaned(const session *s, const char *text) {
        return text ? gp_redact_secrets(s, text, strlen(text)) : NULL;
}

static void make_entry(const tx_entry *e) {
        session *s = e->s;
        _cleanup_free_ char *data = NULL, *text = NULL, *extra = NULL, *error = NULL;
        const char *d = e->data, *t = e->text, *x = e->extra, *why = e->error;
        size_t len = e->len;

        if (!e->clean) {
                if (e->data) {
                        data = tx_clean(s, e->data, e->len, e->login ? s->run->cfg->token_path : NULL);
                        d = data;
                        len = data ? strlen(data) : 0;
                }
                t = text = cleaned(s, e->text);
                x = extra = cleaned(s, e->extra);
                why = error = cleaned(s, e->error);
        }
        switch (e->kind) {
        case TX_HTTP:
                gp_transcript_http(tx(s), s->res->index, e->at, e->name, e->method, e->url, e->status,
                                   e->has_timing ? &e->timing : NULL, t, d, d ? len : 0, e->size);
                break;
        case TX_UPGRADE:
                gp_transcript_upgrade(tx(s), s->res->index, e->at, e->url, e->status, t, x, why);
                break;
        case TX_FRAME:
                gp_transcript_frame(tx(s), s->res->index, e->at, e->incoming, e->binary ? "binary" : "text", e->size,
                                    d, d ? len : 0);
                break;
        case TX_CLOSE:
                gp_transcript_close(tx(s), s->res->index, e->at, e->name, (int) e->status, t);
                break;
        case TX_MARK:
                gp_transcript_mark(tx(s), s->res->index, e->at, e->name, t);
                break;
        }
}

static void entry_done(tx_entry *e) {
        free(e->name);
        free(e->method);
        free(e->url);
        secret_free(e->text);
        secret_free(e->extra);
        secret_free(e->error);
        if (e->data)
                explicit_bzero(e->data, e->len);
        free(e->data);
        *e = (tx_entry) {0};
}

static char *copy_bytes(const char *data, size_t len) {
        char *c = malloc(len + 1);

        if (c) {
                memcpy(c, data, len);
                c[len] = '\0';
        }
        return c;
}

static int dup_into(char **to, const char *from) {
        if (!from)
                return 0;
        *to = strdup(from);
        return *to ? 0 : -ENOMEM;
}

/* Keeps a copy of e for gp_tx_settle; false when it is to be made at once (over the bounds, or
 * out of memory: then the entry is made now, as it would have been). */
static bool defer(session *s, const tx_entry *e) {
        run *r = s->run;
        size_t bytes = e->len + strlen(strempty(e->text)) + strlen(strempty(e->extra)) + strlen(strempty(e->error));
        tx_entry c;

        if (r->tx_settled || bytes > TX_DEFER_ONE || r->tx_bytes + bytes > TX_DEFER_BYTES)
                return false;
        if (r->n_tx == r->n_tx_alloc) {
                size_t n = MAX(r->n_tx_alloc * 2, (size_t) 16);
                tx_entry *more = realloc(r->tx, n * sizeof(*more));

                if (!more)
                        return false;
                r->tx = more;
                r->n_tx_alloc = n;
        }
        c = *e;
        c.name = c.method = c.url = c.text = c.extra = c.error = c.data = NULL;
        if (dup_into(&c.name, e->name) < 0 || dup_into(&c.method, e->method) < 0 || dup_into(&c.url, e->url) < 0 ||
            dup_into(&c.text, e->text) < 0 || dup_into(&c.extra, e->extra) < 0 || dup_into(&c.error, e->error) < 0 ||
            (e->data && !(c.data = copy_bytes(e->data, e->len)))) {
                entry_done(&c);
                return false;
        }
        r->tx[r->n_tx++] = c;
        r->tx_bytes += bytes;
        return true;
}

static void record(session *s, const tx_entry *e) {
        if (!defer(s, e))
                make_entry(e);
}

void gp_tx_settle(run *r) {
        gp_result *res = r->result;
        bool keep = res->transcript && (r->engine->transcripts == GP_ENGINE_TRANSCRIPTS_ALWAYS ||
                                        res->verdict == GP_VERDICT_FAIL || res->verdict == GP_VERDICT_DEGRADED);

        for (size_t i = 0; i < r->n_tx; i++) {
                if (keep)
                        make_entry(&r->tx[i]);
                entry_done(&r->tx[i]);
        }
        free(r->tx);
        r->tx = NULL;
        r->n_tx = r->n_tx_alloc = r->tx_bytes = 0;
        r->tx_settled = true;
        if (!keep)  /* a pass (or a cancel): the daemon keeps no transcript of it */
                res->transcript = gp_transcript_free(res->transcript);
}

void gp_tx_http(session *s, usec_t at, const char *step, const char *method, const char *url,
                const gp_http_reply *rep) {
        char bare[512];

        if (!tx(s))
                return;
        url_without_query(bare, sizeof bare, url);
        record(s, &(tx_entry) {
                .kind = TX_HTTP, .s = s, .at = at, .name = (char *) step, .method = (char *) method, .url = bare,
                .status = rep->status, .has_timing = !rep->error_code, .timing = rep->timing, .size = rep->len,
                .text = rep->error, .data = rep->body, .len = rep->body ? rep->len : 0,
                /* the login reply: its TokenPath= too, found or not */
                .login = streq(step, "login"),
        });
}

void gp_tx_upgrade(session *s, const char *selected, const char *error) {
        int status = gp_ws_conn_http_status(s->conn);
        char bare[512];

        if (!tx(s))
                return;
        url_without_query(bare, sizeof bare, s->run->cfg->ws_url);
        record(s, &(tx_entry) {
                .kind = TX_UPGRADE, .s = s, .at = now_usec(CLOCK_MONOTONIC), .url = bare,
                .status = !error && status <= 0 ? 101 : status, .text = isempty(selected) ? NULL : (char *) selected,
                .extra = (char *) gp_ws_conn_response_headers(s->conn), .error = (char *) error,
        });
}

void gp_tx_frame(session *s, usec_t at, bool incoming, bool binary, const char *data, size_t len) {
        if (!tx(s))
                return;
        record(s, &(tx_entry) {
                .kind = TX_FRAME, .s = s, .at = at, .incoming = incoming, .binary = binary, .size = len,
                .data = (char *) data, .len = len,
        });
}

void gp_tx_close(session *s, const char *by, int code, const char *reason) {
        if (!tx(s))
                return;
        record(s, &(tx_entry) {
                .kind = TX_CLOSE, .s = s, .at = now_usec(CLOCK_MONOTONIC), .name = (char *) by, .status = code,
                .text = isempty(reason) ? NULL : (char *) reason,
        });
}

void gp_tx_mark(session *s, const char *kind, const char *text) {
        if (!tx(s))
                return;
        record(s, &(tx_entry) { .kind = TX_MARK, .s = s, .at = now_usec(CLOCK_MONOTONIC), .name = (char *) kind,
                                .text = (char *) text });
}

void gp_tx_fail(session *s, const char *code, const char *stage, const char *reason) {
        _cleanup_free_ char *note = NULL;

        if (!tx(s))
                return;
        note = strdup_printf("%s (%s): %s", code, stage, strempty(reason));
        if (note)  /* the reason is already redacted (gp_fail_session) */
                record(s, &(tx_entry) { .kind = TX_MARK, .s = s, .at = now_usec(CLOCK_MONOTONIC), .name = "fail",
                                        .text = note, .clean = true });
}

void gp_tx_await(session *s) {
        const char *what = NULL;

        if (!tx(s))
                return;
        switch (s->state) {
        case S_QUEUED:
                what = "a connect slot";
                break;
        case S_CONNECTING:
                what = "the WebSocket handshake";
                break;
        case S_WAIT_READY:
                what = s->run->cfg->ready ? s->run->cfg->ready[0] : "the welcome";
                break;
        case S_READY:
                what = "the other sessions to connect";
                break;
        case S_SENDING:
                what = "the request to be written";
                break;
        case S_EVENTS:
                what = s->matcher && gp_matcher_awaiting(s->matcher) ? gp_matcher_awaiting(s->matcher)
                                                                      : "the terminal event";
                break;
        case S_CLOSING:
                what = "the server's close";
                break;
        default:
                return;
        }
        record(s, &(tx_entry) { .kind = TX_MARK, .s = s, .at = now_usec(CLOCK_MONOTONIC), .name = "await",
                                .text = (char *) what, .clean = true });
}
