/*
 * parallel.h — splitting the layers' work over the threads of cn_set_threads: the memory-bound
 * loops (pooling, regrouping) and the chunked convolutions, whose chunks each run unfold, GEMM
 * and regroup on one thread. Not part of the public API.
 */
#ifndef CROPNET_PARALLEL_H
#define CROPNET_PARALLEL_H

#include <stdbool.h>
#include <stdint.h>

/* Work on items [begin, end) as logical part `part` (0 .. parts − 1). */
typedef void (*cn_range_fn)(void *ctx, int part, int64_t begin, int64_t end);

/* The most parts work is ever cut into (per-part scratch can be sized by it). */
#define CN_PARALLEL_MAX_PARTS 64

/* How many parts cn_parallel_for would cut n items into: at most cn_get_threads() and
 * CN_PARALLEL_MAX_PARTS, each of at least grain items, at least 1. */
int cn_parallel_parts(int64_t n, int64_t grain);

/* Runs fn over [0, n) cut into `parts` contiguous logical parts (part p gets
 * [n·p/parts, n·(p+1)/parts)); the calling thread runs part 0, pool threads the others, and the
 * call returns when all are done. Parts must write disjoint outputs (or per-part buffers the
 * caller combines in part order): then the result depends only on `parts`, never on which thread
 * ran what. When another thread is using the pool, the parts run one after the other on the
 * caller — the same parts, so the same result. With single_blas, OpenBLAS is held to one thread
 * while the parts run (each part calls cn_gemm itself: one threading layer at a time). */
void cn_parallel_run(int parts, int64_t n, cn_range_fn fn, void *ctx, bool single_blas);

/* cn_parallel_run(cn_parallel_parts(n, grain), n, fn, ctx, false). */
void cn_parallel_for(int64_t n, int64_t grain, cn_range_fn fn, void *ctx);

#endif
