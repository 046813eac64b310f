/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

#include "golden-path.h"
#include "runner.h"

struct gp_runner {
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int efd;
        gp_engine *engine;       /* created and used by the thread only; cancel is thread-safe */
        char *init_error;
        bool ready;
        bool quit;
        gp_config *request;      /* set by the loop, taken by the thread */
        char run_id[37];         /* the request's */
        bool cancel;             /* the queued or running request is cancelled */
        gp_result *result;       /* set by the thread, taken by the loop */
        int result_errno;
        atomic_bool busy;
};

static void *thread_main(void *p) {
        gp_runner *r = p;
        gp_engine *engine = NULL;
        char *err = NULL;
        int k;

        k = gp_engine_new(&engine, &err);
        pthread_mutex_lock(&r->lock);
        r->engine = engine;
        r->init_error = k < 0 ? (err ? err : strdup("creating the network engine failed")) : NULL;
        r->ready = true;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
        if (k < 0)
                return NULL;

        for (;;) {
                gp_config *cfg;
                gp_result *res = NULL;
                uint64_t one = 1;

                pthread_mutex_lock(&r->lock);
                while (!r->quit && !r->request)
                        pthread_cond_wait(&r->cond, &r->lock);
                if (r->quit) {
                        pthread_mutex_unlock(&r->lock);
                        break;
                }
                cfg = r->request;
                r->request = NULL;
                gp_engine_set_run_id(engine, r->run_id);
                /* Under the lock: a cancel after this point reaches the engine's flag. */
                if (!r->cancel)
                        gp_engine_reset_cancel(engine);
                pthread_mutex_unlock(&r->lock);

                k = gp_engine_run(engine, cfg, NULL, NULL, &res);
                gp_config_unref(cfg);

                pthread_mutex_lock(&r->lock);
                r->result = res;
                r->result_errno = k < 0 ? -k : 0;
                pthread_mutex_unlock(&r->lock);
                if (write(r->efd, &one, sizeof(one)) < 0) {
                        /* eventfd writes only fail on counter overflow: cannot happen here */
                }
        }
        gp_engine_free(engine);
        return NULL;
}

int gp_runner_new(gp_runner **ret, char **ret_error) {
        gp_runner *r = calloc(1, sizeof(*r));
        int k;

        if (!r)
                return -ENOMEM;
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->cond, NULL);
        r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (r->efd < 0) {
                k = -errno;
                free(r);
                return k;
        }
        k = pthread_create(&r->thread, NULL, thread_main, r);
        if (k != 0) {
                close(r->efd);
                free(r);
                return -k;
        }
        pthread_mutex_lock(&r->lock);
        while (!r->ready)
                pthread_cond_wait(&r->cond, &r->lock);
        pthread_mutex_unlock(&r->lock);
        if (r->init_error) {
                pthread_join(r->thread, NULL);
                *ret_error = r->init_error;
                close(r->efd);
                free(r);
                return -EIO;
        }
        *ret = r;
        return 0;
}

gp_runner *gp_runner_free(gp_runner *r) {
        if (!r)
                return NULL;
        pthread_mutex_lock(&r->lock);
        r->quit = true;
        gp_engine_cancel(r->engine);
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
        gp_config_unref(r->request);
        gp_result_free(r->result);
        close(r->efd);
        pthread_mutex_destroy(&r->lock);
        pthread_cond_destroy(&r->cond);
        free(r);
        return NULL;
}

int gp_runner_fd(const gp_runner *r) {
        return r->efd;
}

int gp_runner_start(gp_runner *r, gp_config *cfg, const char *run_id) {
        if (atomic_load(&r->busy))
                return -EBUSY;
        atomic_store(&r->busy, true);
        pthread_mutex_lock(&r->lock);
        r->cancel = false;
        r->request = gp_config_ref(cfg);
        snprintf(r->run_id, sizeof(r->run_id), "%s", strempty(run_id));
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
        return 0;
}

bool gp_runner_busy(const gp_runner *r) {
        return atomic_load(&r->busy);
}

void gp_runner_cancel(gp_runner *r) {
        pthread_mutex_lock(&r->lock);
        if (atomic_load(&r->busy)) {
                r->cancel = true;
                gp_engine_cancel(r->engine);
        }
        pthread_mutex_unlock(&r->lock);
}

gp_result *gp_runner_take(gp_runner *r, int *ret_errno) {
        gp_result *res;
        uint64_t v;

        if (read(r->efd, &v, sizeof(v)) < 0 && errno == EAGAIN)
                return NULL;
        pthread_mutex_lock(&r->lock);
        res = r->result;
        r->result = NULL;
        *ret_errno = r->result_errno;
        pthread_mutex_unlock(&r->lock);
        atomic_store(&r->busy, false);
        return res;
}
