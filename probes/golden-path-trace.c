/* SPDX-License-Identifier: MIT */
/* W3C trace context on a session's requests (issue 12): the headers every HTTP request and the
 * WebSocket upgrade carry. The ids themselves are made in gp_engine_run (trace-context.c). */
#include <errno.h>
#include <strings.h>

#include "golden-path-internal.h"
#include "trace-context.h"

void gp_session_trace_init(session *s) {
        const char *trace_id = s->run->result->trace_id;

        if (trace_id[0] && gp_span_id_new(s->res->index, s->res->span_id) == 0 &&
            gp_traceparent_format(trace_id, s->res->span_id, s->traceparent) < 0)
                s->traceparent[0] = '\0';
}

static bool has_header(char * const *headers, const char *name) {
        size_t n = strlen(name);

        STRV_FOREACH(h, headers)
                if (strncasecmp(*h, name, n) == 0 && (*h)[n] == ':')
                        return true;
        return false;
}

int gp_session_trace_headers(const session *s, char ***headers) {
        const gp_config *c = s->run->cfg;
        int k;

        if (!c->trace_context || !s->traceparent[0])
                return 0;
        if (!has_header(*headers, "traceparent")) {
                k = strv_consume(headers, strdup_printf("traceparent: %s", s->traceparent));
                if (k < 0)
                        return k;
        }
        if (c->trace_state && !has_header(*headers, "tracestate")) {
                k = strv_consume(headers, strdup_printf("tracestate: %s", c->trace_state));
                if (k < 0)
                        return k;
        }
        return 0;
}
