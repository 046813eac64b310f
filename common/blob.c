/* SPDX-License-Identifier: MIT */
#include <stdatomic.h>

#include "blob.h"
#include "util.h"

struct gp_blob {
        atomic_uint refs;
        size_t len;
        char data[];
};

gp_blob *gp_blob_new(const void *data, size_t len) {
        gp_blob *b = malloc(sizeof(*b) + len + 1);

        if (!b)
                return NULL;
        atomic_init(&b->refs, 1);
        b->len = len;
        if (len > 0)
                memcpy(b->data, data, len);
        b->data[len] = 0;
        return b;
}

gp_blob *gp_blob_ref(gp_blob *b) {
        if (b)
                atomic_fetch_add(&b->refs, 1);
        return b;
}

gp_blob *gp_blob_unref(gp_blob *b) {
        if (b && atomic_fetch_sub(&b->refs, 1) == 1)
                free(b);
        return NULL;
}

const char *gp_blob_data(const gp_blob *b) {
        return b->data;
}

size_t gp_blob_size(const gp_blob *b) {
        return b->len;
}
