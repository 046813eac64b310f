/* SPDX-License-Identifier: MIT */
#include "config-internal.h"
#include "util.h"

/* A header whose value is a literal credential ("X-Api-Key: abc") is shown as
 * "X-Api-Key: (redacted)"; "Authorization: Bearer ${token}" shows no secret and is kept. */
static void print_header(FILE *f, const char *key, const char *header) {
        if (gp_header_is_sensitive(header) && !gp_header_value_is_template_only(header))
                fprintf(f, "%s=%.*s: " GP_REDACTED "\n", key, (int) strcspn(header, ":"), header);
        else
                fprintf(f, "%s=%s\n", key, header);
}

/* Repeatable keys start with an empty assignment, so that reading the output back replaces
 * the defaults instead of adding to them. */
static void print_repeatable(FILE *f, const gp_config *c, key_id k) {
        const key_def *d = &gp_config_keys[k];

        fprintf(f, "%s=\n", d->name);
        STRV_FOREACH(i, *KEY_FIELD_CONST(c, k, strv_t)) {
                if (d->check == gp_check_header)
                        print_header(f, d->name, *i);
                else
                        fprintf(f, "%s=%s\n", d->name, *i);
        }
}

/* A default resolved from the environment is shown as a comment: written back as a value it
 * would become explicit (and gpprobed --once writes a status file only when it is). */
static void print_output_file(FILE *f, const char *key, const char *value, bool explicit) {
        if (explicit)
                fprintf(f, "%s=%s\n", key, value);
        else
                fprintf(f, "# default: %s\n%s=\n", value ? value : "none", key);
}

void gp_config_print(const gp_config *c, FILE *f) {
        const char *section = NULL;

        fprintf(f, "# gpprobe: effective configuration of %s; secrets are redacted\n", c->path);
        for (size_t i = 0; i < _K_MAX; i++) {
                key_id k = (key_id) i;
                const key_def *d = &gp_config_keys[k];
                _cleanup_free_ char *v = NULL;

                if (!streq_ptr(section, d->section)) {
                        section = d->section;
                        fprintf(f, "\n[%s]\n", section);
                }
                switch (k) {
                case K_LOGIN_PASSWORD:
                        /* Only an inline secret: a loaded one comes from the key that names it. */
                        fprintf(f, "%s=%s\n", d->name, c->password_inline ? GP_REDACTED : "");
                        continue;
                case K_LOGIN_TOKEN:
                        fprintf(f, "%s=%s\n", d->name, c->token ? GP_REDACTED : "");
                        continue;
                case K_OUTPUT_STATUS_FILE:
                        print_output_file(f, d->name, c->status_file, c->status_file_explicit);
                        continue;
                case K_OUTPUT_STATE_FILE:
                        print_output_file(f, d->name, c->state_file, c->state_file_explicit);
                        continue;
                default:
                        break;
                }
                if (d->kind == KIND_REPEATABLE) {
                        print_repeatable(f, c, k);
                        continue;
                }
                v = gp_config_key_format(c, k);
                fprintf(f, "%s=%s\n", d->name, v ? v : "(out of memory)");
        }
        gp_config_steps_print(c, f, print_header);
}
