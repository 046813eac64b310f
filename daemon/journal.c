/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h>
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "journal-ids.h"
#include "journal.h"

#define MAX_FIELDS 64

static bool use_journal = true;

void gp_log_set_journal(bool on) {
        use_journal = on;
}

/* stderr is the journal when JOURNAL_STREAM names its device and inode (systemd.exec(5)). */
static bool stderr_is_journal(void) {
        static int cached = -1;
        const char *e;
        struct stat st;
        unsigned long long dev, ino;

        if (cached >= 0)
                return cached;
        cached = 0;
        e = getenv("JOURNAL_STREAM");
        if (e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0)
                cached = (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
        return cached;
}

static void add_iov(struct iovec *iov, size_t *n, char *s) {
        if (s && *n < MAX_FIELDS) {
                iov[*n].iov_base = s;
                iov[*n].iov_len = strlen(s);
                (*n)++;
        } else
                free(s);
}

static void logv(const char *message_id, int priority, const gp_log_field *fields, const char *message) {
        struct iovec iov[MAX_FIELDS];
        size_t n = 0;
        bool sent = false;

        if (use_journal) {
                add_iov(iov, &n, strdup_printf("MESSAGE=%s", message));
                add_iov(iov, &n, strdup_printf("PRIORITY=%d", priority));
                add_iov(iov, &n, strdup("SYSLOG_IDENTIFIER=gpprobed"));
                if (message_id)
                        add_iov(iov, &n, strdup_printf("MESSAGE_ID=%s", message_id));
                for (const gp_log_field *f = fields; f && f->name; f++)
                        if (f->value)
                                add_iov(iov, &n, strdup_printf("%s=%s", f->name, f->value));
                sent = sd_journal_sendv(iov, (int) n) >= 0;
                for (size_t i = 0; i < n; i++)
                        free(iov[i].iov_base);
        }
        if (!sent || !stderr_is_journal()) {
                /* <N> prefixes are understood by journald should stderr end up there anyway. */
                fprintf(stderr, "%s%s\n", stderr_is_journal() ? (const char *[]) {
                        "<0>", "<1>", "<2>", "<3>", "<4>", "<5>", "<6>", "<7>" }[priority & 7] : "", message);
                fflush(stderr);
        }
}

void gp_log(const char *message_id, int priority, const gp_log_field *fields, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = strdup_vprintf(fmt, ap);
        va_end(ap);
        logv(message_id, priority, fields, msg ? msg : fmt);
}

static char *ms_string(usec_t u) {
        /* Rounded as the status file rounds: both say 1210.4 for one run. */
        return u == USEC_INFINITY ? NULL : strdup_printf("%.1f", usec_to_ms(u));
}

/* GPPROBE_EVENT_<TYPE>_MS: the type upper-cased, anything but [A-Z0-9] as '_'. */
static char *event_field_name(const char *type) {
        char *s = strdup_printf("GPPROBE_EVENT_%.40s_MS", type);

        for (char *p = s ? s + strlen("GPPROBE_EVENT_") : NULL; p && strcmp(p, "_MS") != 0; p++)
                *p = isalnum((unsigned char) *p) ? (char) toupper((unsigned char) *p) : '_';
        return s;
}

static char *summary(const gp_report *rep) {
        const gp_result *r = rep->last;
        char d[32];

        format_duration(d, sizeof(d), r->duration);
        switch (r->verdict) {
        case GP_VERDICT_PASS:
                return strdup_printf("%s: pass in %s", rep->name, d);
        case GP_VERDICT_DEGRADED:
                return strdup_printf("%s: degraded (%s) in %s: %s", rep->name, strempty(r->code), d, strempty(r->reason));
        default:
                return strdup_printf("%s: FAIL %s at %s in %s: %s (%u in a row)", rep->name, strempty(r->code),
                                     r->stage ? r->stage : "-", d, strempty(r->reason), rep->consecutive_failures);
        }
}

void gp_log_run(const gp_report *rep) {
        static const char * const phase_fields[_GP_PHASE_MAX] = {
                [GP_PHASE_PREFLIGHT] = "GPPROBE_PREFLIGHT_MS",
                [GP_PHASE_LOGIN] = "GPPROBE_LOGIN_MS",
                [GP_PHASE_WS_CONNECT] = "GPPROBE_WS_CONNECT_MS",
                [GP_PHASE_FIRST_EVENT] = "GPPROBE_FIRST_EVENT_MS",
                [GP_PHASE_COMPLETE] = "GPPROBE_COMPLETE_MS",
        };
        gp_log_field f[MAX_FIELDS] = {0};
        char *owned[MAX_FIELDS] = {0};
        size_t n = 0, o = 0;
        const gp_result *r = rep->last;
        _cleanup_free_ char *msg = summary(rep), *silenced = NULL;
        const gp_silence *z = rep->daemon.silence;
        char until[32];
        const gp_session_result *s = r->n_sessions > 0 ? &r->sessions[0] : NULL;
        const char *mid;
        gp_stream_figures sf;
        int prio;

#define OWN(x) (owned[o++] = (x))
        f[n++] = (gp_log_field) { "GPPROBE_NAME", rep->name };
        f[n++] = (gp_log_field) { "GPPROBE_RESULT", gp_verdict_to_string(r->verdict) };
        f[n++] = (gp_log_field) { "GPPROBE_STAGE", r->stage };
        f[n++] = (gp_log_field) { "GPPROBE_CODE", r->code };
        f[n++] = (gp_log_field) { "GPPROBE_REASON", r->reason };
        f[n++] = (gp_log_field) { "GPPROBE_RUN_ID", r->run_id };
        if (r->trace_id[0])
                f[n++] = (gp_log_field) { "GPPROBE_TRACE_ID", r->trace_id };
        if (r->transcript_path)
                f[n++] = (gp_log_field) { "GPPROBE_TRANSCRIPT", r->transcript_path };
        f[n++] = (gp_log_field) { "GPPROBE_USERS", OWN(strdup_printf("%u", r->users)) };
        f[n++] = (gp_log_field) { "GPPROBE_DURATION_MS", OWN(ms_string(r->duration)) };
        f[n++] = (gp_log_field) { "GPPROBE_CONSECUTIVE_FAILURES",
                                  OWN(strdup_printf("%u", rep->consecutive_failures)) };
        for (size_t p = 0; p < _GP_PHASE_MAX; p++)
                f[n++] = (gp_log_field) { phase_fields[p], OWN(ms_string(r->phases[p])) };
        if (s && r->ws_dns != USEC_INFINITY) {  /* issue 12: the WebSocket connect's phases */
                f[n++] = (gp_log_field) { "GPPROBE_WS_DNS_MS", OWN(ms_string(r->ws_dns)) };
                f[n++] = (gp_log_field) { "GPPROBE_WS_TCP_MS", OWN(ms_string(s->ws_timing.connect)) };
                f[n++] = (gp_log_field) { "GPPROBE_WS_TLS_MS", OWN(ms_string(s->ws_timing.tls)) };
                f[n++] = (gp_log_field) { "GPPROBE_WS_UPGRADE_MS", OWN(ms_string(s->ws_timing.upgrade)) };
                f[n++] = (gp_log_field) { "GPPROBE_WS_READY_MS", OWN(ms_string(s->ws_timing.ready)) };
        }
        if (gp_result_stream_figures(r, &sf) == 0 && sf.present) {  /* issue 12: streaming quality */
                f[n++] = (gp_log_field) { "GPPROBE_FRAMES", OWN(strdup_printf("%" PRIu64, sf.frames)) };
                f[n++] = (gp_log_field) { "GPPROBE_LONGEST_SILENCE_MS", OWN(ms_string(sf.silence)) };
                f[n++] = (gp_log_field) { "GPPROBE_SILENCE_AFTER",
                                          isempty(sf.silence_after) ? "request" : sf.silence_after };
                f[n++] = (gp_log_field) { "GPPROBE_FIRST_PARTIAL_MS", OWN(ms_string(sf.first_partial)) };
                f[n++] = (gp_log_field) { "GPPROBE_PARTIALS_PER_S", sf.partials_per_s < 0 ? NULL :
                                          OWN(strdup_printf("%.2f", sf.partials_per_s)) };
        }
        for (size_t i = 0; s && i < s->n_events && n < MAX_FIELDS - 8 && o < MAX_FIELDS - 2; i++) {
                char *name = OWN(event_field_name(s->events[i].type));
                if (name)
                        f[n++] = (gp_log_field) { name, OWN(ms_string(s->events[i].first_at)) };
        }
        if (z) {
                /* While silenced (issue 13): the run is said as usual, and the silence with it. */
                format_rfc3339(until, sizeof(until), z->until);
                f[n++] = (gp_log_field) { "GPPROBE_SILENCED_UNTIL", until };
                f[n++] = (gp_log_field) { "GPPROBE_SILENCE_REASON", z->reason };
                silenced = strdup_printf("%s (silenced until %s: %s)", strempty(msg), until, z->reason);
        }
        STRV_FOREACH(w, r->warnings)
                if (n < MAX_FIELDS - 2) {
                        f[n++] = (gp_log_field) { "GPPROBE_WARNING", *w };
                        break;
                }
#undef OWN

        switch (r->verdict) {
        case GP_VERDICT_PASS:
                mid = GP_MID_RUN_PASSED;
                prio = LOG_INFO;
                break;
        case GP_VERDICT_DEGRADED:
                mid = GP_MID_RUN_DEGRADED;
                prio = LOG_WARNING;
                break;
        default:
                mid = GP_MID_RUN_FAILED;
                prio = LOG_ERR;
                break;
        }
        STRV_FOREACH(w, r->warnings)
                gp_log(NULL, LOG_WARNING, (gp_log_field[]) { { "GPPROBE_NAME", rep->name }, { 0 } },
                       "%s: warning: %s", rep->name, *w);
        logv(mid, prio, f, silenced ? silenced : msg ? msg : "run finished");
        for (size_t i = 0; i < o; i++)
                free(owned[i]);
}

void gp_log_transition(const gp_report *rep, gp_transition t) {
        const gp_result *r = rep->last;
        _cleanup_free_ char *count = strdup_printf("%u", rep->consecutive_failures);
        gp_log_field f[] = {
                { "GPPROBE_NAME", rep->name },
                { "GPPROBE_CODE", r->code },
                { "GPPROBE_REASON", r->reason },
                { "GPPROBE_RUN_ID", r->run_id },
                { "GPPROBE_TRACE_ID", r->trace_id[0] ? r->trace_id : NULL },
                { "GPPROBE_CONSECUTIVE_FAILURES", count },
                { 0 },
        };

        if (t == GP_TRANSITION_ALERT_RAISED)
                gp_log(GP_MID_ALERT_RAISED, LOG_CRIT, f, "%s: ALERT: %u consecutive failures; last %s: %s", rep->name,
                       rep->consecutive_failures, strempty(r->code), strempty(r->reason));
        else if (t == GP_TRANSITION_RECOVERED)
                gp_log(GP_MID_RECOVERED, LOG_NOTICE, f, "%s: recovered: %u consecutive passes", rep->name,
                       rep->consecutive_passes);
}

void gp_log_cert_expiring(const gp_report *rep, const char *endpoint, const gp_cert_expiry *c, usec_t now) {
        const gp_result *r = rep->last;
        char leaf[32], earliest[32];
        double days = ((double) c->earliest - (double) now / USEC_PER_SEC) / 86400.0;
        _cleanup_free_ char *left = strdup_printf("%.1f", days);
        gp_log_field f[] = {
                { "GPPROBE_NAME", rep->name },
                { "GPPROBE_ENDPOINT", endpoint },
                { "GPPROBE_CERT_EXPIRES_AT", format_rfc3339(earliest, sizeof(earliest),
                                                            (usec_t) c->earliest * USEC_PER_SEC) },
                { "GPPROBE_CERT_LEAF_EXPIRES_AT", format_rfc3339(leaf, sizeof(leaf), (usec_t) c->leaf * USEC_PER_SEC) },
                { "GPPROBE_CERT_DAYS_LEFT", left },
                { "GPPROBE_RUN_ID", r->run_id },
                { 0 },
        };

        gp_log(GP_MID_CERT_EXPIRING, LOG_WARNING, f, "%s: the %s endpoint's TLS certificate%s %s %s (%s days)",
               rep->name, endpoint, c->earliest < c->leaf ? " chain" : "", days < 0 ? "expired" : "expires",
               earliest, strempty(left));
}

char *gp_status_line(const gp_report *rep) {
        const gp_result *r = rep->last;
        char d[32];

        format_duration(d, sizeof(d), r->duration);
        if (r->verdict == GP_VERDICT_FAIL)
                return strdup_printf("fail %s in %s; %u in a row%s", strempty(r->code), d, rep->consecutive_failures,
                                     rep->alerting ? "; ALERTING" : "");
        return strdup_printf("%s in %s; %u in a row", gp_verdict_to_string(r->verdict), d, rep->consecutive_passes);
}
