/* SPDX-License-Identifier: MIT */
#pragma once

/* W3C Trace Context (https://www.w3.org/TR/trace-context/): a run's trace id, a session's span
 * id, and the traceparent header made of them. Pure but for gp_trace_id_new/gp_span_id_new,
 * which read getrandom(). */

#include <stdbool.h>
#include <stdint.h>

#define GP_TRACE_ID_LEN 32     /* hex digits */
#define GP_SPAN_ID_LEN 16
#define GP_TRACEPARENT_LEN 55  /* "00-" 32 "-" 16 "-01" */

/* Lowercase hex of 16 bytes; -EINVAL when they are all zero (W3C: an invalid trace id). */
int gp_trace_id_from_bytes(const uint8_t b[16], char ret[GP_TRACE_ID_LEN + 1]);

/* A span id of 48 random bits and the session's index (1..65535) in the low 16 bits: the
 * sessions of a run have distinct span ids by construction, and none is all-zero. -EINVAL for
 * index 0 or above 65535. */
int gp_span_id_from_bytes(const uint8_t b[6], unsigned index, char ret[GP_SPAN_ID_LEN + 1]);

/* From getrandom(); retried when it came out all-zero. -errno when getrandom fails. */
int gp_trace_id_new(char ret[GP_TRACE_ID_LEN + 1]);
int gp_span_id_new(unsigned index, char ret[GP_SPAN_ID_LEN + 1]);

/* "00-<trace id>-<span id>-01" (version 00, sampled). -EINVAL when either id is not valid. */
int gp_traceparent_format(const char *trace_id, const char *span_id, char ret[GP_TRACEPARENT_LEN + 1]);

/* A version-00 traceparent as W3C defines it: lowercase hex fields of the right lengths,
 * neither id all-zero. */
bool gp_traceparent_valid(const char *s);
