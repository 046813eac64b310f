/* SPDX-License-Identifier: MIT */
#include "codes.h"

static const char * const stage_table[_GP_STAGE_MAX] = {
        [GP_STAGE_PREFLIGHT] = "preflight",
        [GP_STAGE_LOGIN] = "login",
        [GP_STAGE_STEP] = "step",
        [GP_STAGE_WS_CONNECT] = "ws_connect",
        [GP_STAGE_REQUEST] = "request",
        [GP_STAGE_EVENTS] = "events",
        [GP_STAGE_RESPONSE] = "response",
};

const char *gp_stage_to_string(gp_stage s) {
        return (unsigned) s < ELEMENTSOF(stage_table) ? stage_table[s] : NULL;
}

#define ROW(name, code, kind, stages, blame, meaning) { GP_CODE_##name, kind, stages, blame, meaning },
static const gp_code_info code_table[] = { GP_CODE_TABLE(ROW) };
#undef ROW

const gp_code_info *gp_codes(size_t *ret_n) {
        *ret_n = ELEMENTSOF(code_table);
        return code_table;
}

const gp_code_info *gp_code_lookup(const char *code) {
        for (size_t i = 0; code && i < ELEMENTSOF(code_table); i++)
                if (streq(code_table[i].code, code))
                        return &code_table[i];
        return NULL;
}
