/*
 * parallel.h — splitting the memory-bound loops of the layers (unfolding, folding, regrouping,
 * pooling) over the threads of cn_set_threads. Not part of the public API.
 */
#ifndef CROPNET_PARALLEL_H
#define CROPNET_PARALLEL_H

#include <stdint.h>

typedef void (*cn_range_fn)(void *ctx, int64_t begin, int64_t end);

/* Runs fn over [0, n) cut into at most cn_get_threads() contiguous parts of at least grain items
 * each; the calling thread runs the first part, pool threads the others, and the call returns
 * when all are done. The parts must write disjoint outputs: then the result does not depend on
 * the thread count. Runs everything on the caller when one thread is set, when n is small, or
 * when another thread is using the pool (so concurrent callers stay correct, just serial). */
void cn_parallel_for(int64_t n, int64_t grain, cn_range_fn fn, void *ctx);

#endif
