/*
 * bench_harness.h — what the benchmark programs of tests/bench share: the clock, thread lists
 * from the command line, sorting of timings, and the options of the samples/s benchmarks
 * (bench_mlp, bench_conv: --threads, --rounds, --round-sec, --modes).
 *
 * tests/bench/run parses the programs' output with awk; nothing here prints, so each program's
 * lines stay where their shape is written.
 */
#ifndef CN_BENCH_HARNESS_H
#define CN_BENCH_HARNESS_H

#include <stdbool.h>

enum {
    BENCH_MAX_THREADS = 8, /* thread counts a list may give; further ones are ignored */
    BENCH_MAX_ROUNDS = 100 /* rounds a samples/s benchmark may run */
};

/* Seconds on the monotonic clock, from an arbitrary origin: differences only. */
double bench_now(void);

/* Sorts v[0..n) ascending (the median, least and greatest of a set of timings). */
void bench_sort(double *v, int n);

/*
 * Reads a comma-separated list of thread counts ("1,2") into threads[0..max); entries past max
 * are ignored. Each value is atoi's reading of its entry, unchecked: 0 or a negative count is the
 * caller's to reject or to give a meaning. list is modified (strtok); not reentrant.
 * Returns the number of entries stored.
 */
int bench_threads_parse(char *list, int *threads, int max);

/* The options of a samples/s benchmark: interleaved rounds at each thread count, per mode. */
typedef struct bench_rate_options {
    int threads[BENCH_MAX_THREADS]; /* thread counts, each at least 1 */
    int nthreads;                   /* how many of threads[] are set */
    int rounds;                     /* timed rounds per (mode, threads), 1..BENCH_MAX_ROUNDS */
    double round_sec;               /* least seconds of a round */
    const char *modes;              /* comma-separated: adam, sgd, infer (not owned) */
} bench_rate_options;

/* Threads 1,2; 5 rounds of 1.5 s; modes as given (a literal or argv string, not copied). */
void bench_rate_options_default(bench_rate_options *o, const char *modes);

/*
 * Reads argv[*i] into o if it is one of --threads LIST, --rounds N, --round-sec S, --modes LIST
 * followed by its value, and advances *i past the value. A thread count below 1 becomes 1; a
 * round count outside 1..BENCH_MAX_ROUNDS becomes 5. --threads and --modes keep pointers into
 * argv (the thread list is split in place).
 * Returns true if argv[*i] was read, false (o and *i untouched) if it is not one of these options
 * or has no value: the caller then tries its own options or prints its usage.
 */
bool bench_rate_option(bench_rate_options *o, int argc, char **argv, int *i);

#endif
