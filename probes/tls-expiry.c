/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "tls-expiry.h"

void gp_cert_expiry_note(gp_cert_expiry *e, int64_t not_after, bool leaf) {
        if (leaf)
                e->leaf = not_after;
        if (e->earliest == 0 || not_after < e->earliest)
                e->earliest = not_after;
}

int gp_cert_date_parse(const char *s, int64_t *ret) {
        struct tm tm = {0};
        const char *end;
        time_t t;

        if (!s)
                return -EINVAL;
        /* %d takes the space-padded day of ASN1_TIME_print ("Jan  2"). */
        end = strptime(s, "%b %d %H:%M:%S %Y GMT", &tm);
        if (!end || *end != '\0' || tm.tm_year < 70)
                return -EINVAL;
        t = timegm(&tm);
        if (t == (time_t) -1)
                return -EINVAL;
        *ret = (int64_t) t;
        return 0;
}
