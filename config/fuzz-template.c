/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as a template, expanded in every mode. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "template.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const gp_template_vars vars = {
                .user = "u\"\\\n", .password = "p\x01", .token = "t é", .run_id = "r", .thread_id = "h",
                .prompt = "$${x}", .name = "n", .index = 3,
        };
        _cleanup_free_ char *tmpl = strndup((const char *) data, size);
        int valid;

        if (!tmpl)
                return 0;
        valid = gp_template_validate(tmpl, NULL) == 0;
        (void) gp_template_uses(tmpl, "token");
        (void) gp_template_is_json(tmpl);
        for (int flags = 0; flags < 4; flags++) {
                char *out = NULL, *err = NULL;
                int r = gp_template_expand(tmpl, &vars, (gp_template_flags) flags, &out, &err);

                /* Expansion and validation agree, apart from ${env:VAR} being unset. */
                if (valid && r < 0 && r != -ENOMEM)
                        abort();
                free(out);
                free(err);
        }
        return 0;
}
