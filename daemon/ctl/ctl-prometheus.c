/* SPDX-License-Identifier: MIT */
/* gpprobectl gate --prometheus: a gate across hosts. Instant queries on the metrics gpprobed exports
 * (SPEC section 7), one series per host (the `instance` label, and `region` when there is one);
 * each host is judged by the rules of the single-host gate, in the same order (fresh data, a run
 * recent enough, not alerting, the last run, the window's success ratio), then --min-hosts or
 * --min-ratio of the hosts must pass (all of them by default). Fails closed: an unreachable
 * Prometheus, an error reply, a host whose data is stale or gone, too few hosts reporting: exit 2. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl-internal.h"
#include "escape.h"

#define DEFAULT_LOOKBACK (60 * 60 * USEC_PER_SEC)
#define PROM_REPLY_MAX ((size_t) 16 * 1024 * 1024)
#define MAX_HOSTS 10000

typedef enum query_kind {
        Q_SEEN,           /* hosts with any sample within --lookback */
        Q_SCRAPED,        /* when the newest sample was scraped */
        Q_LAST_RUN,
        Q_INTERVAL,
        Q_ALERTING,
        Q_SUCCESS,
        Q_RATIO,
        Q_WINDOW_RUNS,
        _Q_MAX,
} query_kind;

typedef struct host {
        char *instance, *region;
        bool have[_Q_MAX];
        double v[_Q_MAX];
        int verdict;              /* EXIT_OPEN, EXIT_CLOSED, EXIT_UNKNOWN */
        char *why;
} host;

typedef struct prom {
        const gp_ctl_args *args;
        const char *name;
        host *hosts;
        size_t n_hosts;
        double now;               /* Prometheus' evaluation time, seconds */
} prom;

static void prom_done(prom *p) {
        for (size_t i = 0; i < p->n_hosts; i++) {
                free(p->hosts[i].instance);
                free(p->hosts[i].region);
                free(p->hosts[i].why);
        }
        free(p->hosts);
}

/* The PromQL for a kind; selector is {probe="NAME"}. Several series of a host (two jobs scraping
 * it) collapse to the value that is the harder on the gate. */
static char *query_text(const prom *p, query_kind k, const char *sel) {
        char lb[64];

        switch (k) {
        case Q_SEEN:
                /* PromQL durations have no "min": seconds always parse. */
                snprintf(lb, sizeof(lb), "%llus",
                         (unsigned long long) ((p->args->lookback > 0 ? p->args->lookback : DEFAULT_LOOKBACK) /
                                               USEC_PER_SEC));
                return strdup_printf("max by (instance, region) (max_over_time(gpprobe_up%s[%s]))", sel, lb);
        case Q_SCRAPED:
                return strdup_printf("min by (instance, region) (timestamp(gpprobe_up%s))", sel);
        case Q_LAST_RUN:
                return strdup_printf("min by (instance, region) (gpprobe_last_run_timestamp_seconds%s)", sel);
        case Q_INTERVAL:
                return strdup_printf("max by (instance, region) (gpprobe_interval_seconds%s)", sel);
        case Q_ALERTING:
                return strdup_printf("max by (instance, region) (gpprobe_alerting%s)", sel);
        case Q_SUCCESS:
                return strdup_printf("min by (instance, region) (gpprobe_success%s)", sel);
        case Q_RATIO:
                return strdup_printf("min by (instance, region) (gpprobe_window_success_ratio%s)", sel);
        case Q_WINDOW_RUNS:
                return strdup_printf("min by (instance, region) (gpprobe_window_runs%s)", sel);
        default:
                return NULL;
        }
}

static host *find_host(prom *p, const char *instance, const char *region, bool add) {
        host *h;

        for (size_t i = 0; i < p->n_hosts; i++)
                if (streq(p->hosts[i].instance, instance) && streq(p->hosts[i].region, region))
                        return &p->hosts[i];
        if (!add || p->n_hosts >= MAX_HOSTS)
                return NULL;
        h = realloc(p->hosts, (p->n_hosts + 1) * sizeof(host));
        if (!h)
                return NULL;
        p->hosts = h;
        h = &p->hosts[p->n_hosts];
        *h = (host) { .instance = strdup(instance), .region = strdup(region) };
        if (!h->instance || !h->region) {
                free(h->instance);
                free(h->region);
                return NULL;
        }
        p->n_hosts++;
        return h;
}

/* One sample of an instant vector: its host's labels and its value. */
static int take_sample(prom *p, query_kind k, json_t *s, char **ret_error) {
        json_t *metric = json_object_get(s, "metric"), *value = json_object_get(s, "value");
        const char *instance = json_string_value(json_object_get(metric, "instance"));
        const char *region = json_string_value(json_object_get(metric, "region"));
        const char *text = json_string_value(json_array_get(value, 1));
        char *end;
        double v;
        host *h;

        if (!json_is_object(metric) || !json_is_array(value) || json_array_size(value) != 2 || !text ||
            !json_is_number(json_array_get(value, 0)))
                return set_errorf(ret_error, "a sample that is not [time, \"value\"]");
        if (!instance)
                return set_errorf(ret_error, "a series without an instance label");
        p->now = json_number_value(json_array_get(value, 0));
        errno = 0;
        v = strtod(text, &end);
        if (errno != 0 || *end != '\0' || !isfinite(v))
                return 0;  /* NaN, Inf: no usable value, as if absent */
        h = find_host(p, instance, strempty(region), k == Q_SEEN || k == Q_SCRAPED);
        if (!h)
                return p->n_hosts >= MAX_HOSTS ? set_errorf(ret_error, "more than %d hosts", MAX_HOSTS) : 0;
        h->have[k] = true;
        h->v[k] = v;
        return 0;
}

static int run_query(prom *p, query_kind k, const char *sel, char **ret_error) {
        _cleanup_(gp_ctl_reply_done) gp_ctl_reply rep = {0};
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *expr = query_text(p, k, sel), *err = NULL;
        gp_buf path = {0};
        json_t *data, *result;
        const char *status;
        json_error_t e;
        size_t i;
        json_t *s;
        int r;

        if (!expr || gp_buf_printf(&path, "/api/v1/query?query=") < 0 || gp_buf_append_url_encoded(&path, expr) < 0) {
                gp_buf_free(&path);
                return -ENOMEM;
        }
        r = gp_ctl_http(p->args, p->args->prometheus, "GET", path.data, PROM_REPLY_MAX, &rep, ret_error);
        gp_buf_free(&path);
        if (r < 0)
                return r;
        j = json_loadb(rep.body, rep.len, JSON_REJECT_DUPLICATES, &e);
        status = json_string_value(json_object_get(j, "status"));
        if (rep.status == 401 || rep.status == 403)
                return set_errorf(ret_error, "Prometheus refused the credentials (HTTP %ld)", rep.status);
        if (streq_ptr(status, "error"))
                return set_errorf(ret_error, "Prometheus answered %s: %s (HTTP %ld, query %s)",
                                  strempty(json_string_value(json_object_get(j, "errorType"))),
                                  strempty(json_string_value(json_object_get(j, "error"))), rep.status, expr);
        if (rep.status != 200 || !streq_ptr(status, "success"))
                return set_errorf(ret_error, "Prometheus answered HTTP %ld %s", rep.status,
                                  j ? "without \"status\": \"success\"" : "with a body that is not JSON");
        data = json_object_get(j, "data");
        result = json_object_get(data, "result");
        if (!streq_ptr(json_string_value(json_object_get(data, "resultType")), "vector") || !json_is_array(result))
                return set_errorf(ret_error, "Prometheus answered without an instant vector (query %s)", expr);
        json_array_foreach(result, i, s) {
                r = take_sample(p, k, s, &err);
                if (r < 0)
                        return set_errorf(ret_error, "Prometheus' reply to %s: %s", expr, err ? err : "out of memory");
        }
        return 0;
}

static int judge(host *h, int verdict, const char *fmt, ...) _printf_(3, 4);
static int judge(host *h, int verdict, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        h->why = strdup_vprintf(fmt, ap);
        va_end(ap);
        h->verdict = verdict;
        return verdict;
}

/* The single-host gate's rules, as far as the metrics carry them. */
static int judge_host(const prom *p, host *h) {
        const gp_ctl_args *a = p->args;
        double max_age, age;
        char lim[64], ago[64], pct[16], want[16];

        if (!h->have[Q_SCRAPED])
                return judge(h, EXIT_UNKNOWN, "no current data (seen within --lookback; down or not scraped?)");
        if (!h->have[Q_INTERVAL] && a->max_age == 0)
                return judge(h, EXIT_UNKNOWN, "no gpprobe_interval_seconds to derive --max-age from");
        max_age = a->max_age > 0 ? (double) a->max_age / USEC_PER_SEC : MAX_AGE_INTERVALS * h->v[Q_INTERVAL];
        format_duration(lim, sizeof(lim), (usec_t) (max_age * USEC_PER_SEC));
        age = fabs(p->now - h->v[Q_SCRAPED]);
        format_duration(ago, sizeof(ago), (usec_t) (age * USEC_PER_SEC));
        if (age > max_age)
                return judge(h, EXIT_UNKNOWN, "last scraped %s ago, not within --max-age %s", ago, lim);
        if (!h->have[Q_LAST_RUN])
                return judge(h, EXIT_UNKNOWN, "no run yet");
        age = fabs(p->now - h->v[Q_LAST_RUN]);
        format_duration(ago, sizeof(ago), (usec_t) (age * USEC_PER_SEC));
        if (age > max_age)
                return judge(h, EXIT_UNKNOWN, "last run finished %s ago, not within --max-age %s", ago, lim);
        if (h->have[Q_ALERTING] && h->v[Q_ALERTING] != 0)
                return judge(h, EXIT_CLOSED, "alerting (gpprobe_alerting 1)");
        if (!h->have[Q_ALERTING])
                return judge(h, EXIT_UNKNOWN, "no gpprobe_alerting");
        if (a->require_last_pass && (!h->have[Q_SUCCESS] || h->v[Q_SUCCESS] == 0))
                return judge(h, EXIT_CLOSED, "last run failed %s ago (gpprobe_success 0)", ago);
        if (a->min_ratio >= 0) {
                if (!h->have[Q_RATIO] || !h->have[Q_WINDOW_RUNS] || h->v[Q_WINDOW_RUNS] < 1)
                        return judge(h, EXIT_UNKNOWN, "no runs in the window to compute a success ratio");
                if (h->v[Q_RATIO] + 1e-9 < a->min_ratio)
                        return judge(h, EXIT_CLOSED, "success ratio %s over the last %.0f runs is below %s",
                                     gp_ctl_format_percent(pct, sizeof(pct), h->v[Q_RATIO]), h->v[Q_WINDOW_RUNS],
                                     gp_ctl_format_percent(want, sizeof(want), a->min_ratio));
        }
        return judge(h, EXIT_OPEN, "last run %s %s ago; not alerting",
                     h->have[Q_SUCCESS] && h->v[Q_SUCCESS] == 0 ? "failed" : "succeeded", ago);
}

static const char *verdict_word(int v) {
        return v == EXIT_OPEN ? "open" : v == EXIT_CLOSED ? "closed" : "unknown";
}

/* The hosts that did not pass, for the verdict line: "closed: HOST (why); unknown: HOST (why)". */
static char *not_passing(const prom *p) {
        gp_buf b = {0};

        for (size_t i = 0; i < p->n_hosts; i++) {
                const host *h = &p->hosts[i];

                if (h->verdict == EXIT_OPEN)
                        continue;
                if (gp_buf_printf(&b, "; %s %s%s%s: %s", h->instance, *h->region ? "(" : "", h->region,
                                  *h->region ? ")" : "", verdict_word(h->verdict)) < 0 ||
                    gp_buf_printf(&b, ", %s", strempty(h->why)) < 0) {
                        gp_buf_free(&b);
                        return NULL;
                }
        }
        if (!b.data && gp_buf_append(&b, "", 0) < 0)
                return NULL;
        return b.data;
}

static int decide(prom *p) {
        const gp_ctl_args *a = p->args;
        size_t pass = 0, fresh = 0, need;
        _cleanup_free_ char *others = NULL, *rule = NULL;

        if (p->n_hosts == 0)
                return gp_ctl_verdict(EXIT_UNKNOWN, p->name,
                                      "Prometheus has no gpprobe_up{probe=\"%s\"} within --lookback: no host reports",
                                      p->name);
        for (size_t i = 0; i < p->n_hosts; i++) {
                host *h = &p->hosts[i];
                int v = judge_host(p, h);

                fprintf(stderr, "%s%s%s%s: %s: %s\n", h->instance, *h->region ? " (" : "", h->region,
                        *h->region ? ")" : "", verdict_word(v), strempty(h->why));
                pass += v == EXIT_OPEN;
                fresh += v != EXIT_UNKNOWN;
        }
        if (a->min_hosts > 0) {
                need = a->min_hosts;
                rule = strdup_printf("--min-hosts %u", a->min_hosts);
        } else if (a->min_host_ratio >= 0) {
                char pct[16];

                need = (size_t) ceil(a->min_host_ratio * (double) p->n_hosts - 1e-9);
                rule = strdup_printf("--min-ratio %s of %zu", gp_ctl_format_percent(pct, sizeof(pct), a->min_host_ratio),
                                     p->n_hosts);
        } else {
                need = p->n_hosts;
                rule = strdup_printf("all hosts");
        }
        need = MAX(need, (size_t) 1);
        others = not_passing(p);
        if (!rule || !others)
                return EXIT_UNKNOWN;
        if (pass >= need)
                return gp_ctl_verdict(EXIT_OPEN, p->name, "%zu of %zu hosts pass, %zu required (%s)%s", pass,
                                      p->n_hosts, need, rule, others);
        if (fresh < need)
                return gp_ctl_verdict(EXIT_UNKNOWN, p->name,
                                      "only %zu of %zu hosts report usable data, %zu required (%s)%s", fresh,
                                      p->n_hosts, need, rule, others);
        return gp_ctl_verdict(EXIT_CLOSED, p->name, "%zu of %zu hosts pass, %zu required (%s)%s", pass, p->n_hosts,
                              need, rule, others);
}

int gp_ctl_gate_prometheus(const gp_ctl_args *a) {
        prom p = { .args = a };
        _cleanup_free_ char *sel = NULL, *err = NULL;
        gp_buf esc = {0};
        int r = 0;

        if (!streq(a->command, "gate"))
                return gp_ctl_usage_error(a->command, "--prometheus is an option of gate");
        if (a->n_names != 1)
                return gp_ctl_usage_error("gate", "expects exactly one probe NAME");
        if (a->require_last_pass && !a->allow_degraded)
                return gp_ctl_usage_error("gate", "--require-last-pass through Prometheus needs --allow-degraded: "
                                          "gpprobe_success is 1 for a pass and for a degraded run alike");
        p.name = a->names[0];
        /* A PromQL string: the JSON escapes of '"' and '\' are PromQL's too. */
        if (gp_buf_append_json_escaped(&esc, p.name, GP_JSON_ESCAPE_PLAIN) < 0 ||
            !(sel = strdup_printf("{probe=\"%s\"}", esc.data))) {
                gp_buf_free(&esc);
                return EXIT_UNKNOWN;
        }
        gp_buf_free(&esc);
        for (query_kind k = 0; k < _Q_MAX && r >= 0; k++)
                r = run_query(&p, k, sel, &err);
        if (r < 0) {
                prom_done(&p);
                return gp_ctl_verdict(EXIT_UNKNOWN, p.name, "%s", err ? err : "out of memory");
        }
        r = decide(&p);
        prom_done(&p);
        return r;
}
