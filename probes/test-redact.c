/* SPDX-License-Identifier: MIT */
/* TranscriptRedact=: every value at the paths is replaced, whatever its type; nothing else is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "redact.h"
#include "util.h"

static void test_values_at_paths_are_redacted(void **state) {
        char *paths[] = { (char *) "payload.api_key", (char *) "items.*.secret", (char *) "list.1",
                          (char *) "nested.obj", NULL };
        json_t *root = json_loads("{\"payload\":{\"api_key\":\"k-123456\",\"keep\":\"ok\"},"
                                  "\"items\":[{\"secret\":1},{\"secret\":\"two\"},{\"other\":3}],"
                                  "\"list\":[\"a\",\"b\"],\"nested\":{\"obj\":{\"x\":\"deep\"}}}", 0, NULL);
        _cleanup_free_ char *out = NULL;

        assert_non_null(root);
        assert_int_equal(gp_json_redact_paths(root, paths), 5);
        out = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(out, "{\"items\":[{\"secret\":\"(redacted)\"},{\"secret\":\"(redacted)\"},{\"other\":3}],"
                                 "\"list\":[\"a\",\"(redacted)\"],\"nested\":{\"obj\":\"(redacted)\"},"
                                 "\"payload\":{\"api_key\":\"(redacted)\",\"keep\":\"ok\"}}");
        /* twice: nothing left to replace */
        assert_int_equal(gp_json_redact_paths(root, paths), 0);
        json_decref(root);
}

static void test_text_redaction_leaves_other_text_alone(void **state) {
        char *paths[] = { (char *) "token", NULL };
        _cleanup_free_ char *a = gp_json_text_redact_paths("{\"token\":\"abc\",\"n\":1}", 21, paths);

        assert_string_equal(a, "{\"token\":\"(redacted)\",\"n\":1}");
        assert_null(gp_json_text_redact_paths("not json token", 14, paths));
        assert_null(gp_json_text_redact_paths("{\"n\":1}", 7, paths));
        assert_null(gp_json_text_redact_paths("{\"token\":1}", 11, NULL));
        assert_null(gp_json_text_redact_paths("[1,2]", 5, (char *[]) { (char *) "a.b.c", NULL }));
        /* a key written with an escape is still found */
        _cleanup_free_ char *b = gp_json_text_redact_paths("{\"t\\u006fken\":\"abc\"}", 20, paths);
        assert_string_equal(b, "{\"token\":\"(redacted)\"}");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_values_at_paths_are_redacted),
                cmocka_unit_test(test_text_redaction_leaves_other_text_alone),
        };

        return cmocka_run_group_tests_name("redact", tests, NULL, NULL);
}
