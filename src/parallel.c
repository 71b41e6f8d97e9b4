/*
 * parallel.c — a small persistent thread pool for the layers' memory-bound loops.
 *
 * OpenBLAS threads the GEMMs of a convolution; what lies between them — im2col, col2im, the
 * regrouping of N×O×P outputs and the pooling — would otherwise run on one core while the other
 * idles, and on a patch network that is a third of a training step. Regions are short (a
 * millisecond or so) and many, so the workers are started once and woken for each region
 * instead of a pthread_create per region. The BLAS and these loops never run at the same time,
 * so the two thread sets do not compete (STYLE: one threading layer at a time).
 *
 * Convolutions go further: their batch is cut into chunks small enough for the unfolded matrix
 * to stay in the core's L2 cache, and each part runs unfold, GEMM and regroup on its chunks with
 * a single-threaded BLAS — data parallelism inside the layer, without OpenBLAS's own threading.
 *
 * One region at a time: a caller that finds the pool busy (another thread running a network)
 * runs the same parts one after the other, which gives the same result, only slower.
 */
#include "parallel.h"

#include "cropnet.h"

#include <pthread.h>
#include <stdbool.h>

#define MAX_PARTS CN_PARALLEL_MAX_PARTS

static struct {
    pthread_mutex_t use;        /* held by the caller owning the current region */
    pthread_mutex_t mu;         /* guards everything below */
    pthread_cond_t wake, done;
    int started;                /* worker threads running */
    uint64_t generation;        /* bumped for each region */
    int pending;                /* parts not finished in the current region */
    cn_range_fn fn;
    void *ctx;
    int parts;                  /* parts of the current region, the caller's included */
    int64_t bounds[MAX_PARTS + 1];
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
          PTHREAD_COND_INITIALIZER, 0, 0, 0, NULL, NULL, 0, {0}};

static void *worker(void *arg)
{
    int index = (int)(intptr_t)arg; /* this worker runs part index (1-based: 0 is the caller's) */
    uint64_t seen = 0;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (pool.generation == seen)
            pthread_cond_wait(&pool.wake, &pool.mu);
        seen = pool.generation;
        if (index >= pool.parts)
            continue;
        cn_range_fn fn = pool.fn;
        void *ctx = pool.ctx;
        int64_t b = pool.bounds[index], e = pool.bounds[index + 1];
        pthread_mutex_unlock(&pool.mu);
        fn(ctx, index, b, e);
        pthread_mutex_lock(&pool.mu);
        if (--pool.pending == 0)
            pthread_cond_signal(&pool.done);
    }
    return NULL;
}

/* Starts workers up to want (under pool.mu); returns how many run. */
static int start_workers(int want)
{
    while (pool.started < want && pool.started < MAX_PARTS - 1) {
        pthread_t id;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&id, &attr, worker, (void *)(intptr_t)(pool.started + 1));
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;
        pool.started++;
    }
    return pool.started;
}

int cn_parallel_parts(int64_t n, int64_t grain)
{
    if (grain < 1)
        grain = 1;
    int64_t parts = cn_get_threads();
    if (parts > n / grain)
        parts = n / grain;
    if (parts > MAX_PARTS)
        parts = MAX_PARTS;
    return parts < 1 ? 1 : (int)parts;
}

static int64_t bound(int64_t n, int parts, int p) { return n * p / parts; }

void cn_parallel_run(int parts, int64_t n, cn_range_fn fn, void *ctx, bool single_blas)
{
    if (n <= 0)
        return;
    if (parts < 1)
        parts = 1;
    if (parts > MAX_PARTS)
        parts = MAX_PARTS;
    if (parts == 1 || pthread_mutex_trylock(&pool.use) != 0) {
        for (int p = 0; p < parts; p++) /* the same parts, one after the other */
            fn(ctx, p, bound(n, parts, p), bound(n, parts, p + 1));
        return;
    }
    pthread_mutex_lock(&pool.mu);
    int workers = start_workers(parts - 1);
    pthread_mutex_unlock(&pool.mu);
    if (workers < parts - 1) { /* could not start threads: run the parts here */
        pthread_mutex_unlock(&pool.use);
        for (int p = 0; p < parts; p++)
            fn(ctx, p, bound(n, parts, p), bound(n, parts, p + 1));
        return;
    }
    int blas = cn_get_threads();
    if (single_blas && blas != 1)
        cn_set_threads(1);
    pthread_mutex_lock(&pool.mu);
    for (int p = 0; p <= parts; p++)
        pool.bounds[p] = bound(n, parts, p);
    pool.fn = fn;
    pool.ctx = ctx;
    pool.parts = parts;
    pool.pending = parts - 1;
    pool.generation++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    fn(ctx, 0, bound(n, parts, 0), bound(n, parts, 1));
    pthread_mutex_lock(&pool.mu);
    while (pool.pending > 0)
        pthread_cond_wait(&pool.done, &pool.mu);
    pthread_mutex_unlock(&pool.mu);
    if (single_blas && blas != 1)
        cn_set_threads(blas);
    pthread_mutex_unlock(&pool.use);
}

void cn_parallel_for(int64_t n, int64_t grain, cn_range_fn fn, void *ctx)
{
    cn_parallel_run(cn_parallel_parts(n, grain), n, fn, ctx, false);
}
