/* SPDX-License-Identifier: MIT */
/* An empty program linking the libraries gpprobed links (libcurl, libwebsockets, jansson,
 * libsystemd, OpenSSL) and initialising them as any of their users must (curl_global_init,
 * which initialises OpenSSL; an sd-event loop; a JSON value): the RSS floor that shared library
 * pages put under any such process. Then it sleeps until killed. */
#include <curl/curl.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <systemd/sd-event.h>
#include <unistd.h>

int main(void) {
        sd_event *e = NULL;
        json_t *j;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || sd_event_default(&e) < 0)
                return 1;
        j = json_object();
        volatile const char *v = lws_get_library_version();

        (void) v;
        (void) OPENSSL_init_ssl(0, NULL);
        pause();
        json_decref(j);
        sd_event_unref(e);
        curl_global_cleanup();
        return 0;
}
