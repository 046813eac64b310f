/* SPDX-License-Identifier: MIT */
/* libFuzzer target: any bytes as a configuration file. Checks that parsing never crashes and
 * that a valid configuration survives print -> parse unchanged (when it holds no secret,
 * which printing redacts). */
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        gp_config_source src = { "fuzz.conf", (const char *) data, size };
        _cleanup_config_ gp_config *c = NULL, *c2 = NULL;
        gp_diags d = { 0 };
        char *printed = NULL;
        size_t len = 0;
        FILE *f;

        if (gp_config_parse("fuzz.conf", &src, 1, &c, &d) < 0) {
                gp_diags_clear(&d);
                return 0;
        }
        gp_diags_clear(&d);
        f = open_memstream(&printed, &len);
        if (!f)
                return 0;
        gp_config_print(c, f);
        fclose(f);
        if (!strstr(printed, "(redacted)")) {
                gp_config_source again = { "fuzz.conf", printed, len };
                if (gp_config_parse("fuzz.conf", &again, 1, &c2, &d) < 0 || !gp_config_equal(c, c2))
                        abort();
                gp_diags_clear(&d);
        }
        free(printed);
        return 0;
}
