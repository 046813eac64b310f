/* SPDX-License-Identifier: MIT */
/* The failure transcript as the sessions record it (daemon/model/transcript.h): what each one
 * sent and heard, cleaned here, where the secrets are known, before anything is kept. A run
 * without a transcript pays one NULL test per call. */
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

void gp_tx_http(session *s, usec_t at, const char *step, const char *method, const char *url,
                const gp_http_reply *rep) {
        _cleanup_free_ char *body = NULL, *error = NULL;
        char bare[512];

        if (!tx(s))
                return;
        url_without_query(bare, sizeof bare, url);
        if (rep->body)  /* the login reply: its TokenPath= too, found or not */
                body = tx_clean(s, rep->body, rep->len, streq(step, "login") ? s->run->cfg->token_path : NULL);
        if (rep->error)
                error = gp_redact_secrets(s, rep->error, strlen(rep->error));
        gp_transcript_http(tx(s), s->res->index, at, step, method, bare, rep->status,
                           rep->error_code ? NULL : &rep->timing, error, body, body ? strlen(body) : 0, rep->len);
}

void gp_tx_upgrade(session *s, const char *selected, const char *error) {
        const char *headers = gp_ws_conn_response_headers(s->conn);
        _cleanup_free_ char *proto = NULL, *hdrs = NULL;
        int status = gp_ws_conn_http_status(s->conn);
        char bare[512];

        if (!tx(s))
                return;
        url_without_query(bare, sizeof bare, s->run->cfg->ws_url);
        if (!isempty(selected))
                proto = gp_redact_secrets(s, selected, strlen(selected));
        if (headers)
                hdrs = gp_redact_secrets(s, headers, strlen(headers));
        gp_transcript_upgrade(tx(s), s->res->index, now_usec(CLOCK_MONOTONIC), bare,
                              !error && status <= 0 ? 101 : status, proto, hdrs, error);
}

void gp_tx_frame(session *s, usec_t at, bool incoming, bool binary, const char *data, size_t len) {
        _cleanup_free_ char *text = NULL;

        if (!tx(s))
                return;
        text = tx_clean(s, data, len, NULL);
        gp_transcript_frame(tx(s), s->res->index, at, incoming, binary ? "binary" : "text", len, text,
                            text ? strlen(text) : 0);
}

void gp_tx_close(session *s, const char *by, int code, const char *reason) {
        _cleanup_free_ char *clean = NULL;

        if (!tx(s))
                return;
        if (!isempty(reason))
                clean = gp_redact_secrets(s, reason, strlen(reason));
        gp_transcript_close(tx(s), s->res->index, now_usec(CLOCK_MONOTONIC), by, code, clean);
}

void gp_tx_mark(session *s, const char *kind, const char *text) {
        _cleanup_free_ char *clean = NULL;

        if (!tx(s))
                return;
        if (text)
                clean = gp_redact_secrets(s, text, strlen(text));
        gp_transcript_mark(tx(s), s->res->index, now_usec(CLOCK_MONOTONIC), kind, clean);
}

void gp_tx_fail(session *s, const char *code, const char *stage, const char *reason) {
        _cleanup_free_ char *note = NULL;

        if (!tx(s))
                return;
        note = strdup_printf("%s (%s): %s", code, stage, strempty(reason));
        if (note)
                gp_transcript_mark(tx(s), s->res->index, now_usec(CLOCK_MONOTONIC), "fail", note);
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
        gp_transcript_mark(tx(s), s->res->index, now_usec(CLOCK_MONOTONIC), "await", what);
}
