/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <sys/random.h>
#include <syslog.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "cert-warn.h"
#include "gp-build.h"
#include "history.h"
#include "journal-ids.h"
#include "journal.h"
#include "manager.h"
#include "metrics-exporter.h"
#include "report.h"
#include "runner.h"
#include "silencer.h"
#include "status.h"
#include "transcripts.h"
#include "uuid.h"

/* How long SIGTERM waits for a cancelled run before leaving anyway (SPEC: stop within 2 s). */
#define STOP_GRACE (1500 * USEC_PER_MSEC)

struct gp_manager {
        sd_event *event;
        char *config_path;
        gp_config *cfg;
        gp_runner *runner;
        gp_history *history;
        gp_result *last;
        gp_metrics_exporter *metrics;  /* NULL when it could not start: the probe runs on */
        gp_silencer *silencer;      /* NULL when it could not start: no silences */
        bool alert_announced;       /* the alert entry was raised (not held back by a silence) */
        sd_event_source *runner_source;
        sd_event_source *timer;
        sd_event_source *stop_timer;
        sd_event_source *api_source;   /* POST /run and authentication failures (api.h) */
        char run_id[GP_UUID_STRING_MAX];  /* the run in progress, or the last */
        gp_daemon_info daemon;      /* made once at start; the interval follows reloads */
        usec_t slot;                /* CLOCK_MONOTONIC: when the current/last run was due */
        usec_t run_started;         /* CLOCK_MONOTONIC */
        unsigned skipped;
        gp_cert_warn_state cert_warn;  /* CertExpiryWarn=: when each endpoint was last warned about */
        unsigned state_appends;     /* runs appended to the state file since its last full save */
        char *state_saved_to;       /* where that save went; NULL: none yet, or it failed */
        bool stopping;
        int exit_code;
};

/* The one report of the state as of now, which every output then says (report.h). NULL on
 * ENOMEM, logged. */
static gp_report *report_now(gp_manager *m) {
        gp_report *rep = NULL;
        int r;

        r = gp_report_new(m->cfg, &m->daemon, m->history, m->last, now_usec(CLOCK_REALTIME), &rep);
        if (r < 0)
                gp_log(NULL, LOG_ERR, NULL, "%s: cannot make the report%s%s: %s", m->cfg->name,
                       m->last ? " of run " : "", m->last ? m->last->run_id : "", strerror(-r));
        return rep;
}

static void status_write(gp_manager *m, const gp_report *rep) {
        _cleanup_free_ char *err = NULL;

        if (gp_report_write_status(rep, m->cfg->status_file, &err) < 0)
                gp_log(NULL, LOG_ERR, NULL, "%s: cannot write the status file: %s", m->cfg->name, strempty(err));
}

/* The run just recorded, appended to the state file (history.h); the whole state rewritten
 * instead at the first save, after History= appends (so O(1) per run, amortised), after a
 * failed write and when StateFile= changed. Either way it is on disk before the next run. */
static void state_save(gp_manager *m) {
        _cleanup_free_ char *err = NULL;

        if (!m->cfg->state_file)
                return;
        if (m->state_saved_to && streq(m->state_saved_to, m->cfg->state_file) &&
            m->state_appends < MAX(m->cfg->history, 16u) &&
            gp_history_append(m->history, m->cfg->state_file, NULL) >= 0) {
                m->state_appends++;
                return;
        }
        free(m->state_saved_to);
        m->state_saved_to = NULL;
        m->state_appends = 0;
        if (gp_history_save(m->history, m->cfg->state_file, &err) < 0)
                gp_log(NULL, LOG_ERR, NULL, "%s: cannot write the state file: %s", m->cfg->name, strempty(err));
        else
                m->state_saved_to = strdup(m->cfg->state_file);  /* NULL: the next save is whole */
}

/* Metrics (MetricsListen=, MetricsFile=) and /status: at start, after each run and reload;
 * up=false at a clean stop. */
static void metrics_update(gp_manager *m, const gp_report *rep, bool up) {
        gp_metrics_exporter_update(m->metrics, m->cfg, rep, m->skipped, up);
}

/* At start and after a reload: no run to log, the status file and the metrics. */
static void publish_state(gp_manager *m) {
        _cleanup_report_ gp_report *rep = report_now(m);

        gp_metrics_exporter_configure_api(m->metrics, m->cfg);
        if (!rep)
                return;
        status_write(m, rep);
        metrics_update(m, rep, true);
}

static void metrics_start(gp_manager *m) {
        _cleanup_free_ char *err = NULL;

        if (gp_metrics_exporter_new(&m->metrics, &err) < 0)
                gp_log(NULL, LOG_ERR, NULL, "%s: metrics disabled: %s", m->cfg->name, strempty(err));
}

/* Interval= plus the random Jitter=, as config/ computes and tests it. */
static usec_t next_run_delay(const gp_config *c) {
        uint64_t r = 0;

        if (getrandom(&r, sizeof(r), 0) != sizeof(r))
                r = now_usec(CLOCK_MONOTONIC);
        return gp_config_run_delay(c, r);
}

static int start_run(gp_manager *m, const char *why, const char *run_id);

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        gp_manager *m = userdata;

        if (start_run(m, "scheduled", NULL) == 0)
                m->slot = usec;
        return 0;
}

/* Arms the timer for the slot after the last one: Interval= plus a random Jitter=. Slots that
 * already passed (a run overran them) are skipped, counted and logged; the next run then
 * starts at once. Does not move the last slot, so re-arming (on reload) never postpones. */
static void schedule_next(gp_manager *m) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        usec_t next = m->slot + next_run_delay(m->cfg);

        if (next < now) {
                unsigned missed = (unsigned) ((now - m->slot) / m->cfg->interval);
                char d[32];

                if (missed > 0) {
                        _cleanup_free_ char *count = NULL;
                        m->skipped += missed;
                        count = strdup_printf("%u", m->skipped);
                        gp_log(GP_MID_RUN_SKIPPED, LOG_WARNING,
                               (gp_log_field[]) { { "GPPROBE_NAME", m->cfg->name }, { "GPPROBE_SKIPPED_TOTAL", count }, { 0 } },
                               "%s: run skipped: the previous run took %s, longer than Interval=; next run starts now",
                               m->cfg->name, format_duration(d, sizeof(d), now - m->run_started));
                }
                next = now;
        }
        if (sd_event_source_set_time(m->timer, next) < 0 || sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT) < 0)
                gp_log(NULL, LOG_ERR, NULL, "%s: cannot arm the run timer", m->cfg->name);
}

/* run_id: the one POST /run answered with; NULL: a new one. */
static int start_run(gp_manager *m, const char *why, const char *run_id) {
        char id[GP_UUID_STRING_MAX];
        int r;

        if (m->stopping)
                return -ESHUTDOWN;
        if (gp_runner_busy(m->runner)) {
                gp_log(NULL, LOG_NOTICE, (gp_log_field[]) { { "GPPROBE_NAME", m->cfg->name }, { 0 } },
                       "%s: %s run ignored: a run is in progress", m->cfg->name, why);
                return -EBUSY;
        }
        if (run_id)
                snprintf(id, sizeof(id), "%s", run_id);
        else
                gp_uuid4(id);
        r = gp_runner_start(m->runner, m->cfg, id);
        if (r < 0)
                return r;
        memcpy(m->run_id, id, sizeof(id));
        if (gp_metrics_exporter_api(m->metrics))
                gp_api_run_started(gp_metrics_exporter_api(m->metrics), id);
        m->run_started = now_usec(CLOCK_MONOTONIC);
        sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
        return 0;
}

/* The alert and recovery entries, as a silence allows (SPEC section 8, issue 13): a silence holds
 * back the alert entry (the alert state itself changes: the status and gates stay truthful); an
 * alert held back is raised as soon as no silence is in force (at its end, or at the next run
 * when the end came before any run of this daemon), and a recovery is announced only after an
 * announced alert. */
static void announce(gp_manager *m, const gp_report *rep, gp_transition t) {
        if (t == GP_TRANSITION_RECOVERED && m->alert_announced) {
                gp_log_transition(rep, t);
                m->alert_announced = false;
        } else if (rep->alerting && !rep->daemon.silence && !m->alert_announced && rep->last) {
                gp_log_transition(rep, GP_TRANSITION_ALERT_RAISED);
                m->alert_announced = true;
        } else if (!rep->alerting)
                m->alert_announced = false;  /* nothing left to announce, whatever cleared it */
        gp_silencer_set_held(m->silencer, rep->alerting && !m->alert_announced);
}

/* A silence began, was replaced or ended: the status and metrics say so at once, and an alert
 * it held back is raised now if the probe is still alerting. */
static void on_silence_changed(gp_silencer *s, const gp_silence *old, void *userdata) {
        gp_manager *m = userdata;
        _cleanup_report_ gp_report *rep = NULL;

        m->daemon.silence = gp_silencer_current(s);
        rep = report_now(m);
        if (!rep)
                return;
        announce(m, rep, GP_TRANSITION_NONE);
        status_write(m, rep);
        metrics_update(m, rep, true);
}

/* The silencer of the file that the configuration names (NAME.silence beside StateFile=); a
 * reload that moves it starts a new one. */
static void silence_follow_config(gp_manager *m) {
        _cleanup_free_ char *path = gp_silence_file_path(m->cfg->state_file, m->cfg->status_file, m->cfg->name);
        int r;

        if (!path || streq_ptr(path, gp_silencer_path(m->silencer)))
                return;
        m->silencer = gp_silencer_free(m->silencer);
        m->daemon.silence = NULL;
        r = gp_silencer_new(m->event, m->cfg->name, path, on_silence_changed, m, &m->silencer);
        if (r < 0)
                gp_log(NULL, LOG_ERR, NULL, "%s: silences disabled: %s", m->cfg->name, strerror(-r));
        m->daemon.silence = gp_silencer_current(m->silencer);
}

static void cert_warn(gp_manager *m, const gp_report *rep) {
        const gp_cert_expiry *certs[_GP_CERT_ENDPOINT_MAX] = { &m->last->login_cert, &m->last->ws_cert };
        usec_t now = now_usec(CLOCK_REALTIME);

        for (gp_cert_endpoint e = 0; e < _GP_CERT_ENDPOINT_MAX; e++)
                if (gp_cert_warn_due(&m->cert_warn, e, certs[e]->earliest, (int64_t) (now / USEC_PER_SEC),
                                     m->cfg->cert_expiry_warn))
                        gp_log_cert_expiring(rep, gp_cert_endpoint_to_string(e), certs[e], now);
}

/* A failed or degraded run's transcript, to the state directory; the status file and the journal
 * then name it (last.transcript, GPPROBE_TRANSCRIPT=). */
static void transcript_save(gp_manager *m, gp_result *res) {
        _cleanup_free_ char *err = NULL;

        if (gp_transcripts_save(m->cfg, res, &err) < 0)
                gp_log(NULL, LOG_ERR, NULL, "%s: cannot keep the transcript of run %s: %s", m->cfg->name, res->run_id,
                       strempty(err));
}

/* GET /runs/ID: the run's result as the status document's "last" says it. */
static void api_run_finished(gp_manager *m, const char *run_id, const gp_report *rep) {
        gp_api *api = gp_metrics_exporter_api(m->metrics);

        /* Without MetricsListen= no GET /runs/ID can come: nothing to keep. */
        if (api)
                gp_api_run_finished(api, run_id, rep && gp_metrics_exporter_listening(m->metrics) ? rep->last_json : NULL);
}

static void finish_run(gp_manager *m, gp_result *res) {
        gp_transition t = GP_TRANSITION_NONE;
        _cleanup_report_ gp_report *rep = NULL;
        _cleanup_free_ char *status = NULL;

        gp_silencer_refresh(m->silencer);
        if (gp_history_record(m->history, res, m->cfg->alert_after, m->cfg->recover_after, &t) < 0) {
                gp_log(NULL, LOG_ERR, NULL, "%s: internal: the run %s could not be recorded", m->cfg->name, res->run_id);
                gp_result_free(res);
                return;
        }
        gp_result_free(m->last);
        m->last = res;
        transcript_save(m, res);
        state_save(m);
        /* One report, and every output says it: journal, status file, metrics, /status, STATUS=. */
        rep = report_now(m);
        if (!rep) {
                api_run_finished(m, res->run_id, NULL);
                return;
        }
        gp_log_run(rep);
        announce(m, rep, t);
        cert_warn(m, rep);
        /* First: once the status file says the run is done, GET /runs/ID says it too. */
        api_run_finished(m, res->run_id, rep);
        status_write(m, rep);
        metrics_update(m, rep, true);
        status = gp_status_line(rep);
        if (status)
                sd_notifyf(false, "STATUS=%s", status);
        /* The report of a run of many sessions (its status document, journal entries and
         * metrics) is megabytes freed by now: give them back, as the engine does with its TLS
         * state, rather than keep the peak in the main heap until the next run. */
        if (m->cfg->users > 16) {
                gp_report_free(TAKE_PTR(rep));
                malloc_trim(0);
        }
}

static int on_runner(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        gp_manager *m = userdata;
        gp_result *res;
        int err = 0;

        res = gp_runner_take(m->runner, &err);
        if (!res || res->verdict == GP_VERDICT_CANCELLED)
                api_run_finished(m, m->run_id, NULL);
        if (!res) {
                if (err)
                        gp_log(NULL, LOG_ERR, NULL, "%s: the run could not complete: %s", m->cfg->name, strerror(err));
        } else if (res->verdict == GP_VERDICT_CANCELLED)
                gp_result_free(res);  /* a cancelled run is not a failure of staging: not recorded */
        else
                finish_run(m, res);

        if (m->stopping) {
                sd_event_exit(m->event, m->exit_code);
                return 0;
        }
        schedule_next(m);
        return 0;
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        gp_manager *m = userdata;

        gp_log(NULL, LOG_WARNING, NULL, "the cancelled run did not end in time; exiting anyway");
        sd_event_exit(m->event, m->exit_code);
        return 0;
}

static int on_terminate(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        gp_manager *m = userdata;

        if (m->stopping)
                return 0;
        m->stopping = true;
        sd_notify(false, "STOPPING=1");
        gp_log(GP_MID_STOPPED, LOG_INFO, (gp_log_field[]) { { "GPPROBE_NAME", m->cfg->name }, { 0 } },
               "gpprobed stopping (%s)%s", strsignal((int) si->ssi_signo),
               gp_runner_busy(m->runner) ? "; cancelling the run in progress" : "");
        if (!gp_runner_busy(m->runner))
                return sd_event_exit(m->event, m->exit_code);
        gp_runner_cancel(m->runner);
        return sd_event_add_time_relative(m->event, &m->stop_timer, CLOCK_MONOTONIC, STOP_GRACE, 1,
                                          on_stop_timeout, m);
}

static int on_usr1(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        gp_manager *m = userdata;

        if (start_run(m, "SIGUSR1", NULL) == 0) {
                gp_log(NULL, LOG_INFO, (gp_log_field[]) { { "GPPROBE_NAME", m->cfg->name }, { 0 } },
                       "%s: run started on SIGUSR1", m->cfg->name);
                m->slot = now_usec(CLOCK_MONOTONIC);
        }
        return 0;
}

/* POST /run (the server thread waits for the answer) and authentication failures to log. */
static int on_api(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        gp_manager *m = userdata;
        gp_api *api = gp_metrics_exporter_api(m->metrics);
        char id[GP_UUID_STRING_MAX];
        unsigned suppressed = 0;
        char *line;

        while (gp_api_take_run_request(api, id) == 0) {
                int r = start_run(m, "API", id);
                if (r == 0) {
                        gp_log(NULL, LOG_INFO, (gp_log_field[]) { { "GPPROBE_NAME", m->cfg->name }, { "GPPROBE_RUN_ID", id }, { 0 } },
                               "%s: run %s started on POST /run", m->cfg->name, id);
                        m->slot = now_usec(CLOCK_MONOTONIC);
                }
                gp_api_answer_run(api, r);
        }
        while (gp_api_take_auth_failure(api, &line, &suppressed) == 0) {
                _cleanup_free_ char *n = strdup_printf("%u", suppressed);
                gp_log(GP_MID_API_AUTH_FAILED, LOG_WARNING,
                       (gp_log_field[]) { { "GPPROBE_NAME", m->cfg->name }, { "GPPROBE_API_FAILURE", line },
                                          { "GPPROBE_API_SUPPRESSED", n }, { 0 } },
                       "%s: API authentication failed from %s%s%s%s", m->cfg->name, line,
                       suppressed ? " (" : "", suppressed ? n : "", suppressed ? " more not logged)" : "");
                free(line);
        }
        return 0;
}

static char *diags_text(const gp_diags *d) {
        gp_buf b = {0};

        for (size_t i = 0; i < d->n; i++) {
                const gp_diag *g = &d->items[i];
                if (g->warning)
                        continue;
                if (g->line > 0)
                        gp_buf_printf(&b, "%s%s:%u: %s", b.len ? "; " : "", g->file, g->line, g->message);
                else
                        gp_buf_printf(&b, "%s%s: %s", b.len ? "; " : "", g->file, g->message);
        }
        return b.data ? b.data : strdup("invalid configuration");
}

static void log_warnings(const gp_diags *d) {
        for (size_t i = 0; i < d->n; i++)
                if (d->items[i].warning)
                        gp_log(NULL, LOG_WARNING, NULL, "%s:%u: warning: %s", d->items[i].file, d->items[i].line,
                               d->items[i].message);
}

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        gp_manager *m = userdata;
        gp_config *cfg = NULL;
        gp_diags diags = {0};
        int r;

        sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu", (unsigned long long) now_usec(CLOCK_MONOTONIC));
        r = gp_config_load(m->config_path, &cfg, &diags);
        if (r < 0) {
                _cleanup_free_ char *why = diags_text(&diags);
                gp_log(GP_MID_RELOAD_REJECTED, LOG_ERR,
                       (gp_log_field[]) { { "GPPROBE_NAME", m->cfg->name }, { "GPPROBE_CONFIG_ERRORS", why }, { 0 } },
                       "%s: configuration reload rejected, keeping the running configuration: %s", m->cfg->name, why);
        } else {
                log_warnings(&diags);
                if (gp_history_set_capacity(m->history, cfg->history) < 0) {
                        gp_config_unref(cfg);
                        gp_log(NULL, LOG_ERR, NULL, "reload: out of memory");
                } else {
                        gp_config_unref(m->cfg);
                        m->cfg = cfg;
                        m->daemon.interval = cfg->interval;
                        gp_log_set_journal(cfg->journal);
                        silence_follow_config(m);
                        gp_log(GP_MID_RELOADED, LOG_INFO,
                               (gp_log_field[]) { { "GPPROBE_NAME", cfg->name }, { 0 } },
                               "%s: configuration reloaded from %s", cfg->name, m->config_path);
                        publish_state(m);
                        if (!gp_runner_busy(m->runner))
                                schedule_next(m);  /* a new Interval= applies from the last slot */
                }
        }
        gp_diags_clear(&diags);
        sd_notify(false, "READY=1\nSTATUS=configuration reloaded");
        return 0;
}

static void restore_state(gp_manager *m) {
        _cleanup_free_ char *err = NULL;
        int r;

        if (!m->cfg->state_file)
                return;
        r = gp_history_load(m->history, m->cfg->state_file, &err);
        if (r == -ENOENT)
                return;
        if (r < 0)
                gp_log(NULL, LOG_WARNING, NULL, "%s: ignoring the state file %s: %s", m->cfg->name, m->cfg->state_file,
                       strempty(err));
}

int gp_manager_new(const char *config_path, gp_config *cfg, gp_manager **ret) {
        gp_manager *m;
        _cleanup_free_ char *err = NULL;
        sigset_t mask;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->cfg = gp_config_ref(cfg);
        m->config_path = strdup(config_path);
        m->history = gp_history_new(cfg->history);
        m->daemon = gp_daemon_info_self(now_usec(CLOCK_REALTIME), cfg->interval);
        if (!m->config_path || !m->history) {
                gp_manager_free(m);
                return -ENOMEM;
        }
        gp_log_set_journal(cfg->journal);
        restore_state(m);

        /* Blocked before the network thread exists, so that it inherits the mask and every
         * signal is read by sd-event in this thread. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGUSR1);
        sigprocmask(SIG_BLOCK, &mask, NULL);

        /* Its libwebsockets context must exist before the network thread's first TLS handshake. */
        metrics_start(m);
        r = gp_runner_new(&m->runner, &err);
        if (r < 0) {
                gp_log(NULL, LOG_ERR, NULL, "cannot start the network thread: %s", strempty(err));
                gp_manager_free(m);
                return r;
        }
        r = sd_event_default(&m->event);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGTERM, on_terminate, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_terminate, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGHUP, on_reload, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGUSR1, on_usr1, m);
        if (r >= 0)
                r = sd_event_add_io(m->event, &m->runner_source, gp_runner_fd(m->runner), EPOLLIN, on_runner, m);
        if (r >= 0)
                r = sd_event_add_time(m->event, &m->timer, CLOCK_MONOTONIC, 0, 1, on_timer, m);  /* accuracy 1us: not the 250ms default */
        if (r >= 0 && m->metrics)
                r = gp_metrics_exporter_attach(m->metrics, m->event);
        if (r >= 0 && m->metrics)
                r = sd_event_add_io(m->event, &m->api_source, gp_api_fd(gp_metrics_exporter_api(m->metrics)),
                                    EPOLLIN, on_api, m);
        if (r >= 0)
                /* WATCHDOG=1 from the loop itself: a stuck loop stops the pings. */
                r = sd_event_set_watchdog(m->event, true);
        if (r < 0) {
                gp_manager_free(m);
                return r;
        }
        silence_follow_config(m);
        /* An alert restored from StateFile= was announced before the restart, unless a silence
         * held it back (the silencer's PATH.held): then it is raised once no silence is in force. */
        m->alert_announced = gp_history_alerting(m->history) && !gp_silencer_held(m->silencer);
        *ret = m;
        return 0;
}

gp_manager *gp_manager_free(gp_manager *m) {
        if (!m)
                return NULL;
        gp_runner_free(m->runner);  /* before the loop: its thread may still be finishing */
        gp_metrics_exporter_free(m->metrics);
        gp_silencer_free(m->silencer);
        sd_event_source_unref(m->runner_source);
        sd_event_source_unref(m->timer);
        sd_event_source_unref(m->stop_timer);
        sd_event_source_unref(m->api_source);
        sd_event_unref(m->event);
        gp_history_free(m->history);
        gp_result_free(m->last);
        gp_config_unref(m->cfg);
        free(m->config_path);
        free(m->state_saved_to);
        free(m);
        return NULL;
}

int gp_manager_run(gp_manager *m) {
        _cleanup_report_ gp_report *last_word = NULL;
        char d[32];
        int r;

        publish_state(m);
        m->slot = now_usec(CLOCK_MONOTONIC);
        start_run(m, "first", NULL);
        gp_log(GP_MID_STARTED, LOG_INFO, (gp_log_field[]) { { "GPPROBE_NAME", m->cfg->name }, { 0 } },
               "gpprobed %s started: probe %s every %s, status in %s", GP_VERSION, m->cfg->name,
               format_duration(d, sizeof(d), m->cfg->interval), m->cfg->status_file);
        sd_notifyf(false, "READY=1\nSTATUS=first run in progress\nMAINPID=%d", (int) getpid());
        r = sd_event_loop(m->event);
        /* The MetricsFile= left behind says gpprobe_up 0. */
        last_word = report_now(m);
        if (last_word)
                metrics_update(m, last_word, false);
        return r < 0 ? r : m->exit_code;
}
