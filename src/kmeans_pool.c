/*
 * kmeans_pool.c — a small persistent thread pool for the k-means passes.
 *
 * A fit runs hundreds of short passes (one per Lloyd iteration, one per k-means++ centre), so the
 * workers are started once per fit and woken for each pass, instead of a pthread_create per pass.
 * Tasks (chunks of pixels) are handed out through an atomic counter; each task writes only its own
 * chunk's results, so which worker runs it changes nothing in the outcome. The caller works too
 * (worker 0) and returns once every task is finished.
 */
#include "kmeans_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

struct kpool {
    int threads;                /* workers, the caller included */
    pthread_t *ids;             /* threads - 1 started threads */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    uint64_t generation;        /* bumped for every pass (under mu) */
    int busy;                   /* started threads still in the current pass (under mu) */
    bool quit;                  /* under mu */
    kpool_fn fn;                /* the current pass */
    void *ctx;
    int64_t tasks;
    atomic_int_fast64_t next;   /* next task to hand out */
};

typedef struct worker_arg {
    kpool *p;
    int index;
} worker_arg;

static void drain(kpool *p, int worker)
{
    for (;;) {
        int64_t t = atomic_fetch_add(&p->next, 1);
        if (t >= p->tasks)
            return;
        p->fn(p->ctx, t, worker);
    }
}

static void *worker_main(void *arg)
{
    worker_arg a = *(worker_arg *)arg;
    free(arg);
    kpool *p = a.p;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        drain(p, a.index);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

cn_status kpool_new(int threads, kpool **out)
{
    *out = NULL;
    if (threads < 1)
        threads = 1;
    kpool *p = calloc(1, sizeof *p);
    if (!p || (threads > 1 && !(p->ids = calloc((size_t)threads - 1, sizeof *p->ids)))) {
        free(p);
        return cn_set_error(CN_ENOMEM, "k-means: out of memory for %d threads", threads);
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next, 0);
    p->threads = 1;
    for (int i = 1; i < threads; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a)
            break;
        a->p = p;
        a->index = i;
        if (pthread_create(&p->ids[i - 1], NULL, worker_main, a) != 0) {
            free(a);
            break; /* run with the workers we have */
        }
        p->threads++;
    }
    *out = p;
    return CN_OK;
}

int kpool_threads(const kpool *p) { return p->threads; }

void kpool_run(kpool *p, int64_t tasks, kpool_fn fn, void *ctx)
{
    if (tasks <= 0)
        return;
    if (p->threads == 1 || tasks == 1) {
        for (int64_t t = 0; t < tasks; t++)
            fn(ctx, t, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->tasks = tasks;
    atomic_store(&p->next, 0);
    p->busy = p->threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    drain(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void kpool_free(kpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->threads - 1; i++)
        pthread_join(p->ids[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->ids);
    free(p);
}
