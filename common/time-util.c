/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "time-util.h"

usec_t now_usec(clockid_t clock) {
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / NSEC_PER_USEC;
}

double usec_to_ms(usec_t u) {
        /* In integers: (u + 50) / 100 is the count of 0.1 ms, rounded half up, for any u. */
        return (double) (u / 100 + (u % 100 >= 50)) / 10.0;
}

int usec_compare(const void *a, const void *b) {
        usec_t x = *(const usec_t *) a, y = *(const usec_t *) b;

        return x < y ? -1 : x > y;
}

usec_t usec_percentile(const usec_t *sorted, size_t n, unsigned p) {
        size_t rank = ((size_t) p * n + 99) / 100;

        return sorted[(rank > 0 ? rank : 1) - 1];
}

char *format_rfc3339(char *buf, size_t len, usec_t realtime) {
        time_t sec = (time_t) (realtime / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&sec, &tm) ||
            snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (unsigned) (realtime % USEC_PER_SEC / USEC_PER_MSEC)) < 0)
                snprintf(buf, len, "invalid");
        return buf;
}

static int parse_digits(const char **p, int n, int *ret) {
        int v = 0;

        for (int i = 0; i < n; i++) {
                if (**p < '0' || **p > '9')
                        return -EINVAL;
                v = v * 10 + (**p - '0');
                (*p)++;
        }
        *ret = v;
        return 0;
}

int parse_rfc3339(const char *s, usec_t *ret) {
        int Y, M, D, h, m, sec, oh = 0, om = 0;
        usec_t frac = 0;
        struct tm tm = {0};
        const char *p = s;
        time_t t;
        long off = 0;

        if (parse_digits(&p, 4, &Y) < 0 || *p++ != '-' || parse_digits(&p, 2, &M) < 0 || *p++ != '-' ||
            parse_digits(&p, 2, &D) < 0 || (*p != 'T' && *p != 't' && *p != ' ') || !*p++ ||
            parse_digits(&p, 2, &h) < 0 || *p++ != ':' || parse_digits(&p, 2, &m) < 0 || *p++ != ':' ||
            parse_digits(&p, 2, &sec) < 0)
                return -EINVAL;
        if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
                return -EINVAL;
        if (*p == '.') {
                usec_t scale = 100000;
                p++;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                for (; *p >= '0' && *p <= '9'; p++) {
                        frac += (usec_t) (*p - '0') * scale;
                        scale /= 10;
                }
        }
        if (*p == 'Z' || *p == 'z')
                p++;
        else if (*p == '+' || *p == '-') {
                int sign = *p == '-' ? -1 : 1;
                p++;
                if (parse_digits(&p, 2, &oh) < 0 || *p++ != ':' || parse_digits(&p, 2, &om) < 0 ||
                    oh > 23 || om > 59)
                        return -EINVAL;
                off = sign * (oh * 3600L + om * 60L);
        } else
                return -EINVAL;
        if (*p)
                return -EINVAL;

        tm.tm_year = Y - 1900;
        tm.tm_mon = M - 1;
        tm.tm_mday = D;
        tm.tm_hour = h;
        tm.tm_min = m;
        tm.tm_sec = sec;
        t = timegm(&tm);
        if (t == (time_t) -1 || t - off < 0)
                return -EINVAL;
        *ret = (usec_t) (t - off) * USEC_PER_SEC + frac;
        return 0;
}

/* whole.frac with frac's trailing zeros dropped: "30", "1.5". */
static int format_amount(char *buf, size_t len, usec_t whole, usec_t frac, const char *unit) {
        char f[24];
        size_t k;

        if (frac == 0)
                return snprintf(buf, len, "%llu%s", (unsigned long long) whole, unit);
        snprintf(f, sizeof f, "%03llu", (unsigned long long) frac);
        for (k = strlen(f); k > 0 && f[k - 1] == '0'; k--)
                f[k - 1] = '\0';
        return snprintf(buf, len, "%llu.%s%s", (unsigned long long) whole, f, unit);
}

/* The configuration's own notation: "500ms", "1.5s", "30s", "2min", "1h 1min 30s". */
char *format_duration(char *buf, size_t len, usec_t d) {
        const usec_t min = 60 * USEC_PER_SEC, hour = 60 * min;
        size_t o = 0;

        /* Below a second, three significant digits are plenty for a human: 908ms, 9.65ms. */
        if (d >= USEC_PER_MSEC && d < USEC_PER_SEC) {
                usec_t unit = d >= 100 * USEC_PER_MSEC ? 1000 : d >= 10 * USEC_PER_MSEC ? 100 : 10;
                d = (d + unit / 2) / unit * unit;
        }

        if (d == USEC_INFINITY)
                snprintf(buf, len, "infinity");
        else if (d < USEC_PER_MSEC)
                format_amount(buf, len, d, 0, "us");
        else if (d < USEC_PER_SEC)
                format_amount(buf, len, d / USEC_PER_MSEC, d % USEC_PER_MSEC, "ms");
        else if (d < min)
                format_amount(buf, len, d / USEC_PER_SEC, d % USEC_PER_SEC / USEC_PER_MSEC, "s");
        else {
                if (d >= hour)
                        o += (size_t) snprintf(buf + o, len - o, "%lluh", (unsigned long long) (d / hour));
                if (d % hour >= min && o < len)
                        o += (size_t) snprintf(buf + o, len - o, "%s%llumin", o > 0 ? " " : "",
                                               (unsigned long long) (d % hour / min));
                if (d % min >= USEC_PER_MSEC && o + 1 < len) {
                        buf[o++] = ' ';
                        format_amount(buf + o, len - o, d % min / USEC_PER_SEC,
                                      d % USEC_PER_SEC / USEC_PER_MSEC, "s");
                }
        }
        return buf;
}
