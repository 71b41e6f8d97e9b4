/*
 * bench_harness.c — the clock, thread lists, sorting and samples/s options the benchmark programs
 * share (bench_harness.h).
 */
#include "bench_harness.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void bench_sort(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
}

int bench_threads_parse(char *list, int *threads, int max)
{
    int n = 0;
    for (char *t = strtok(list, ","); t && n < max; t = strtok(NULL, ","))
        threads[n++] = atoi(t);
    return n;
}

void bench_rate_options_default(bench_rate_options *o, const char *modes)
{
    *o = (bench_rate_options){.threads = {1, 2}, .nthreads = 2, .rounds = 5, .round_sec = 1.5,
                              .modes = modes};
}

bool bench_rate_option(bench_rate_options *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (*i + 1 >= argc)
        return false;
    char *v = argv[*i + 1];
    if (!strcmp(a, "--threads")) {
        o->nthreads = bench_threads_parse(v, o->threads, BENCH_MAX_THREADS);
        for (int t = 0; t < o->nthreads; t++) /* a samples/s run at 0 threads means nothing */
            o->threads[t] = o->threads[t] > 0 ? o->threads[t] : 1;
    } else if (!strcmp(a, "--rounds")) {
        o->rounds = atoi(v);
        if (o->rounds < 1 || o->rounds > BENCH_MAX_ROUNDS)
            o->rounds = 5;
    } else if (!strcmp(a, "--round-sec")) {
        o->round_sec = atof(v);
    } else if (!strcmp(a, "--modes")) {
        o->modes = v;
    } else {
        return false;
    }
    *i += 1;
    return true;
}
