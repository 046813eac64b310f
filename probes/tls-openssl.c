/* SPDX-License-Identifier: MIT */
#include <time.h>

#include "tls-openssl.h"

static int not_after(X509 *cert, int64_t *ret) {
        struct tm tm = {0};
        const ASN1_TIME *t = cert ? X509_get0_notAfter(cert) : NULL;
        time_t s;

        if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
                return -1;
        s = timegm(&tm);
        if (s == (time_t) -1)
                return -1;
        *ret = (int64_t) s;
        return 0;
}

void gp_cert_expiry_from_store(gp_cert_expiry *e, X509_STORE_CTX *store) {
        STACK_OF(X509) *sent = X509_STORE_CTX_get0_untrusted(store);
        X509 *leaf = X509_STORE_CTX_get_current_cert(store);
        int64_t t;

        if (X509_STORE_CTX_get_error_depth(store) != 0)
                return;
        if (not_after(leaf, &t) == 0)
                gp_cert_expiry_note(e, t, true);
        for (int i = 0; sent && i < sk_X509_num(sent); i++)
                if (not_after(sk_X509_value(sent, i), &t) == 0)
                        gp_cert_expiry_note(e, t, false);
}
