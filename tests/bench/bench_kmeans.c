/*
 * bench_kmeans.c — k-means fit and predict times of cropnet on the very .npy files that
 * ../shared/peers/sklearn_kmeans.py clusters (it caches its generated data sets as
 * $PEERS_CACHE/<kind>.npy), so both sides see the same float32 pixels.
 *
 * As the peer: k = 16, one initialisation, at most 100 Lloyd iterations, tol 1e-4 (0 for the
 * "uniform" data, whose file name starts so), seed = repetition number, thread counts interleaved
 * repetition by repetition; medians are reported. "kpp" times k-means++ alone: a fit with
 * max_iter 1 less the same fit started from the centroids k-means++ gave.
 *
 * usage: bench_kmeans FILE.npy... [--k 16] [--threads 1,2] [--reps 5] [--max-iter 100]
 *                     [--algos kpp,kmeans,minibatch] [--threading pixels|blas] [--tol T]
 * Output: one line per (data, algorithm, threads), "cropnet <data> <algo> <T>T fit <s> s predict
 * <s> s n_iter=<n> inertia <v>", the peer's layout.
 */
#include "bench_harness.h"
#include "cropnet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The peer's median (statistics.median): the mean of the two middle values for an even count. */
static double median(double *v, int n)
{
    bench_sort(v, n);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A C-order little-endian float32 2-D .npy; *x malloc'd. */
static int load_npy(const char *path, float **x, int64_t *n, int *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    unsigned char head[12];
    int rc = -1;
    char *hdr = NULL;
    if (fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6) != 0)
        goto out;
    size_t hlen = head[8] | (size_t)head[9] << 8;
    if (head[6] >= 2) {
        if (fread(head + 10, 1, 2, f) != 2)
            goto out;
        hlen |= (size_t)head[10] << 16 | (size_t)head[11] << 24;
    }
    if (hlen > 1 << 20 || !(hdr = calloc(hlen + 1, 1)) || fread(hdr, 1, hlen, f) != hlen)
        goto out;
    long long rows, cols;
    const char *shape = strstr(hdr, "'shape': (");
    if (!strstr(hdr, "'descr': '<f4'") || !strstr(hdr, "'fortran_order': False") || !shape ||
        sscanf(shape, "'shape': (%lld, %lld)", &rows, &cols) != 2 || rows < 1 || cols < 1)
        goto out;
    *x = malloc((size_t)rows * (size_t)cols * sizeof **x);
    if (!*x || fread(*x, sizeof **x, (size_t)(rows * cols), f) != (size_t)(rows * cols)) {
        free(*x);
        goto out;
    }
    *n = rows;
    *d = (int)cols;
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "%s: not a 2-D float32 C-order .npy\n", path);
    free(hdr);
    fclose(f);
    return rc;
}

enum { MAX_REPS = 64, MAX_THREADS = BENCH_MAX_THREADS };

typedef struct figures {
    double fit[MAX_REPS], predict[MAX_REPS], inertia[MAX_REPS];
    int iters[MAX_REPS];
} figures;

int main(int argc, char **argv)
{
    int threads[MAX_THREADS] = {1, 2}, nthreads = 2, reps = 5, k = 16, max_iter = 100;
    const char *algos = "kpp,kmeans,minibatch", *files[16];
    double tol = -1;
    int nfiles = 0;
    cn_kmeans_threading how = CN_KMEANS_SPLIT_PIXELS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--threads") && v) {
            /* unchecked: 0 asks k-means for its default count, a negative one is its error */
            nthreads = bench_threads_parse(argv[++i], threads, MAX_THREADS);
        } else if (!strcmp(a, "--reps") && v) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(a, "--k") && v) {
            k = atoi(argv[++i]);
        } else if (!strcmp(a, "--max-iter") && v) {
            max_iter = atoi(argv[++i]);
        } else if (!strcmp(a, "--tol") && v) {
            tol = atof(argv[++i]);
        } else if (!strcmp(a, "--algos") && v) {
            algos = argv[++i];
        } else if (!strcmp(a, "--threading") && v) {
            how = !strcmp(argv[++i], "blas") ? CN_KMEANS_SPLIT_BLAS : CN_KMEANS_SPLIT_PIXELS;
        } else if (a[0] != '-' && nfiles < 16) {
            files[nfiles++] = a;
        } else {
            fprintf(stderr, "usage: bench_kmeans FILE.npy... [--k 16] [--threads 1,2] [--reps 5] "
                            "[--max-iter 100] [--algos kpp,kmeans,minibatch] "
                            "[--threading pixels|blas] [--tol T]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS || nfiles == 0 || k < 1) {
        fprintf(stderr, "bench_kmeans: need a .npy file, 1..%d reps and k >= 1\n", MAX_REPS);
        return 2;
    }
    printf("# cropnet %s, BLAS %s, threading %s, k = %d\n", CN_VERSION_STRING, cn_blas_info(),
           how == CN_KMEANS_SPLIT_BLAS ? "blas" : "pixels", k);
    for (int fi = 0; fi < nfiles; fi++) {
        float *x;
        int64_t n;
        int d;
        if (load_npy(files[fi], &x, &n, &d))
            return 1;
        const char *base = strrchr(files[fi], '/') ? strrchr(files[fi], '/') + 1 : files[fi];
        char kind[64];
        snprintf(kind, sizeof kind, "%.*s", (int)strcspn(base, "."), base);
        double data_tol = tol >= 0 ? tol : strncmp(kind, "uniform", 7) == 0 ? 0.0 : 1e-4;
        printf("# data %s: (%lld, %d) float32, tol %g\n", kind, (long long)n, d, data_tol);
        int32_t *labels = malloc((size_t)n * sizeof *labels);
        static figures fig[MAX_THREADS];
        char list[16][32];
        int nalgo = 0;
        char algo_buf[256];
        snprintf(algo_buf, sizeof algo_buf, "%s", algos);
        for (char *s = algo_buf, *tok; (tok = strtok(s, ",")) && nalgo < 16; s = NULL)
            snprintf(list[nalgo++], sizeof list[0], "%s", tok);
        for (int ai = 0; ai < nalgo; ai++) {
            const char *algo = list[ai];
            for (int r = 0; r < reps; r++)
                for (int ti = 0; ti < nthreads; ti++) {
                    cn_kmeans_options o;
                    cn_kmeans_defaults(&o);
                    o.k = k;
                    o.seed = (uint64_t)r;
                    o.threads = threads[ti];
                    o.threading = how;
                    o.max_iter = max_iter;
                    o.tol = data_tol;
                    cn_kmeans *km = NULL;
                    cn_status st;
                    double t0 = bench_now();
                    if (!strcmp(algo, "kpp")) {
                        o.max_iter = 1; /* the init and one Lloyd pass; the pass is subtracted */
                        o.tol = 0;
                        st = cn_kmeans_fit(x, n, d, &o, NULL, &km);
                        double t1 = bench_now();
                        cn_kmeans_options g = o;
                        g.init = CN_KMEANS_INIT_GIVEN;
                        g.init_centroids = km ? cn_kmeans_centroids(km) : NULL;
                        cn_kmeans *km2 = NULL;
                        double t2 = bench_now();
                        if (!st)
                            st = cn_kmeans_fit(x, n, d, &g, NULL, &km2);
                        double t3 = bench_now();
                        cn_kmeans_free(km2);
                        fig[ti].fit[r] = (t1 - t0) - (t3 - t2);
                    } else if (!strcmp(algo, "kmeans")) {
                        st = cn_kmeans_fit(x, n, d, &o, NULL, &km);
                        fig[ti].fit[r] = bench_now() - t0;
                    } else if (!strcmp(algo, "minibatch")) {
                        st = cn_kmeans_fit_minibatch(x, n, d, &o, 1024, 0, NULL, &km);
                        fig[ti].fit[r] = bench_now() - t0;
                    } else {
                        fprintf(stderr, "bench_kmeans: unknown algorithm %s\n", algo);
                        return 2;
                    }
                    if (st) {
                        fprintf(stderr, "bench_kmeans: %s\n", cn_last_error());
                        return 1;
                    }
                    t0 = bench_now();
                    double inertia;
                    st = cn_kmeans_predict(km, x, n, d, threads[ti], labels, NULL, &inertia);
                    fig[ti].predict[r] = bench_now() - t0;
                    fig[ti].inertia[r] = cn_kmeans_inertia(km);
                    if (isnan(fig[ti].inertia[r]))
                        fig[ti].inertia[r] = inertia;
                    fig[ti].iters[r] = cn_kmeans_iterations(km);
                    cn_kmeans_free(km);
                }
            double med_fit[MAX_THREADS];
            for (int ti = 0; ti < nthreads; ti++) {
                figures *f = &fig[ti];
                char its[512] = "";
                for (int r = 0; r < reps; r++)
                    snprintf(its + strlen(its), sizeof its - strlen(its), "%s%d", r ? ", " : "",
                             f->iters[r]);
                med_fit[ti] = median(f->fit, reps);
                if (!strcmp(algo, "kpp")) {
                    printf("cropnet %-7s %-9s %dT fit %7.3f s\n", kind, algo, threads[ti],
                           med_fit[ti]);
                } else {
                    double pm = median(f->predict, reps), im = median(f->inertia, reps);
                    printf("cropnet %-7s %-9s %dT fit %7.3f s  predict %6.3f s  n_iter=[%s]  "
                           "inertia %.6g (%.10g)\n", kind, algo, threads[ti], med_fit[ti], pm, its,
                           im, im);
                }
                fflush(stdout);
            }
            if (nthreads == 2)
                printf("cropnet %-7s %-9s fit ratio 1T/2T time = %.2f\n", kind, algo,
                       med_fit[0] / med_fit[1]);
        }
        free(labels);
        free(x);
    }
    return 0;
}
