/*
 * bench_rates.h — training and inference samples/s of a network on random batches, the part of
 * bench_mlp and bench_conv that differs only in the network.
 *
 * Per mode (adam, sgd with momentum 0.9, infer) a fresh network is built and timed at each thread
 * count; thread counts are interleaved round by round, as the PyTorch peer does, so drift in
 * machine load hits every configuration alike. One line per (mode, threads):
 *
 *   cropnet <name> <mode> threads <T>  median <x> samples/s (min <x>, max <x>)  mode=<mode>
 *   threads=<T> samples_per_s=<x>
 *
 * (on one line) — tests/bench/run reads it with awk: its words, order and number formats are
 * fixed. The median is the middle round (the upper of the two middle ones for an even count).
 */
#ifndef CN_BENCH_RATES_H
#define CN_BENCH_RATES_H

#include "bench_harness.h"
#include "cropnet.h"

/* What bench_rates times. */
typedef struct bench_net {
    const char *program;     /* for messages on stderr: "bench_mlp" */
    const char *name;        /* the second word of each line: "mlp" */
    cn_layer *(*make)(void); /* a new initialised network, the caller's to release; not NULL */
    int ndim;                /* dimensions of one input batch, 1..8 */
    const int64_t *x_shape;  /* its shape; x_shape[0] is the batch size */
    int classes;             /* targets are drawn from 0..classes-1 */
    int warmup;              /* untimed steps at each thread count before the rounds */
} bench_net;

/*
 * Times net's steps in each of o->modes and prints a line per (mode, threads) to stdout, flushed
 * after each mode. Inputs are a few fixed batches of normal noise (seed 1), reused in turn.
 * Returns 0; or, after a message on stderr, 2 for an unknown mode (the modes before it printed)
 * and 1 when a step fails (cn_last_error says why).
 */
int bench_rates(const bench_net *net, const bench_rate_options *o);

#endif
