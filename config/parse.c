/* SPDX-License-Identifier: MIT */
/* The parsers of plain values, used by the configuration and by gpprobectl: booleans,
 * bounded numbers, systemd-style durations (and their formatting), Jitter=. Pure. */
#include <errno.h>
#include <limits.h>
#include <strings.h>

#include "config.h"
#include "util.h"
#include "values.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

int gp_parse_bool(const char *s, bool *ret) {
        static const char * const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char * const no[] = { "0", "no", "n", "false", "f", "off" };

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcaseeq(s, yes[i])) {
                        *ret = true;
                        return 0;
                }
                if (strcaseeq(s, no[i])) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

int gp_parse_unsigned(const char *s, unsigned min, unsigned max, unsigned *ret) {
        unsigned long long v = 0;

        if (!is_digit(*s))
                return -EINVAL;
        for (; *s; s++) {
                if (!is_digit(*s))
                        return -EINVAL;
                v = v * 10 + (unsigned) (*s - '0');
                if (v > UINT_MAX)
                        return -EINVAL;
        }
        if (v < min || v > max)
                return -EINVAL;
        *ret = (unsigned) v;
        return 0;
}

static const struct {
        const char *name;
        usec_t usec;
} duration_units[] = {
        { "us", 1 },
        { "usec", 1 },
        { "ms", USEC_PER_MSEC },
        { "msec", USEC_PER_MSEC },
        { "s", USEC_PER_SEC },
        { "sec", USEC_PER_SEC },
        { "second", USEC_PER_SEC },
        { "seconds", USEC_PER_SEC },
        { "m", 60 * USEC_PER_SEC },
        { "min", 60 * USEC_PER_SEC },
        { "minute", 60 * USEC_PER_SEC },
        { "minutes", 60 * USEC_PER_SEC },
        { "h", 3600 * USEC_PER_SEC },
        { "hr", 3600 * USEC_PER_SEC },
        { "hour", 3600 * USEC_PER_SEC },
        { "hours", 3600 * USEC_PER_SEC },
        { "d", 86400 * USEC_PER_SEC },
        { "day", 86400 * USEC_PER_SEC },
        { "days", 86400 * USEC_PER_SEC },
};

/* One "<number>[.<fraction>] [unit]" component; a missing unit means seconds. */
static int parse_duration_component(const char **p, usec_t *ret) {
        const char *s = *p, *unit;
        usec_t whole = 0, frac = 0, frac_scale = 1, mult = USEC_PER_SEC, v;
        size_t ulen;

        if (!is_digit(*s))
                return -EINVAL;
        for (; is_digit(*s); s++) {
                usec_t digit = (usec_t) (*s - '0');
                if (whole > (UINT64_MAX - digit) / 10)
                        return -ERANGE;
                whole = whole * 10 + digit;
        }
        if (*s == '.') {
                s++;
                if (!is_digit(*s))
                        return -EINVAL;
                /* Nine digits are more than microseconds of a day need; the rest are dropped. */
                for (unsigned i = 0; is_digit(*s); s++, i++)
                        if (i < 9) {
                                frac = frac * 10 + (usec_t) (*s - '0');
                                frac_scale *= 10;
                        }
        }
        while (is_blank(*s))
                s++;
        unit = s;
        while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
                s++;
        ulen = (size_t) (s - unit);
        if (ulen > 0) {
                size_t i;
                for (i = 0; i < ELEMENTSOF(duration_units); i++)
                        if (strlen(duration_units[i].name) == ulen &&
                            strncmp(duration_units[i].name, unit, ulen) == 0)
                                break;
                if (i == ELEMENTSOF(duration_units))
                        return -EINVAL;
                mult = duration_units[i].usec;
        } else if (*s && !is_blank(*s) && !is_digit(*s))
                return -EINVAL;

        if (whole > UINT64_MAX / mult)
                return -ERANGE;
        v = whole * mult;
        /* frac < frac_scale, so frac * (mult / frac_scale) < mult: no overflow. */
        frac = frac * (mult / frac_scale) + frac * (mult % frac_scale) / frac_scale;
        if (v > UINT64_MAX - frac)
                return -ERANGE;
        *ret = v + frac;
        *p = s;
        return 0;
}

int gp_parse_duration_full(const char *s, usec_t *ret) {
        usec_t total = 0;
        const char *p = s;

        while (is_blank(*p))
                p++;
        if (!*p)
                return -EINVAL;
        while (*p) {
                usec_t c;
                int r = parse_duration_component(&p, &c);
                if (r < 0)
                        return r;
                if (c == UINT64_MAX || total > UINT64_MAX - 1 - c)  /* USEC_INFINITY is not a duration */
                        return -ERANGE;
                total += c;
                while (is_blank(*p))
                        p++;
        }
        *ret = total;
        return 0;
}

int gp_parse_duration(const char *s, usec_t *ret) {
        return gp_parse_duration_full(s, ret) < 0 ? -EINVAL : 0;
}

char *gp_format_duration(char *buf, size_t len, usec_t d) {
        static const struct {
                const char *name;
                usec_t usec;
        } units[] = {
                { "d", 86400 * USEC_PER_SEC }, { "h", 3600 * USEC_PER_SEC }, { "min", 60 * USEC_PER_SEC },
                { "s", USEC_PER_SEC }, { "ms", USEC_PER_MSEC }, { "us", 1 },
        };
        size_t n = 0;

        if (len == 0)
                return buf;
        buf[0] = '\0';
        if (d == 0) {
                snprintf(buf, len, "0");
                return buf;
        }
        for (size_t i = 0; i < ELEMENTSOF(units) && d > 0; i++) {
                usec_t q = d / units[i].usec;
                int w;

                if (q == 0)
                        continue;
                d -= q * units[i].usec;
                w = snprintf(buf + n, len - n, "%s%llu%s", n > 0 ? " " : "", (unsigned long long) q,
                             units[i].name);
                if (w < 0 || (size_t) w >= len - n)
                        break;
                n += (size_t) w;
        }
        return buf;
}

int gp_parse_jitter(const char *s, bool *ret_is_percent, unsigned *ret_percent, usec_t *ret_duration) {
        size_t n = strlen(s);
        usec_t d;
        int r;

        if (n > 0 && s[n - 1] == '%') {
                _cleanup_free_ char *num = strndup(s, n - 1);
                unsigned pct;

                if (!num)
                        return -ENOMEM;
                r = gp_parse_unsigned(num, 0, 100, &pct);
                if (r < 0)
                        return r;
                *ret_is_percent = true;
                *ret_percent = pct;
                *ret_duration = 0;
                return 0;
        }
        r = gp_parse_duration_full(s, &d);
        if (r < 0)
                return r;
        *ret_is_percent = false;
        *ret_percent = 0;
        *ret_duration = d;
        return 0;
}
