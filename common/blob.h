/* SPDX-License-Identifier: MIT */
#pragma once

/* An immutable byte buffer shared between threads by reference counting: one thread builds
 * it, others read it for as long as they hold a reference. Always NUL-terminated. */

#include <stddef.h>

typedef struct gp_blob gp_blob;

/* A copy of data (len bytes), with one reference. NULL on ENOMEM. */
gp_blob *gp_blob_new(const void *data, size_t len);
gp_blob *gp_blob_ref(gp_blob *b);
gp_blob *gp_blob_unref(gp_blob *b);  /* NULL-safe; returns NULL */
const char *gp_blob_data(const gp_blob *b);
size_t gp_blob_size(const gp_blob *b);
