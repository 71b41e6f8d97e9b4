/*
 * bench_conv.c — the 2-D patch network of ../shared/peers/torch_nets.py "cnn2d": 204 bands ×
 * 11×11 patch → 1×1 conv 32 → 3×3 conv 64 (pad 1) → ReLU → 3×3 conv 64 → ReLU → max-pool 2
 * (floor, 9 → 4) → dense 1024 → 16, batch 128, softmax cross-entropy.
 *
 * Two parts:
 *  - "net": training (SGD momentum 0.9, Adam) and inference samples/s at each thread count,
 *    rounds interleaved as in bench_mlp.c (both timed by bench_rates.c); one line per
 *    (mode, threads) with key=value fields.
 *  - "gemm": each convolution layer's forward and backward as GFLOP/s of its GEMM-equivalent
 *    work (the flops of the GEMMs an im2col convolution would run, over the layer's whole time:
 *    unfolding or padding, regrouping and bias included), beside one plain cn_gemm (OpenBLAS
 *    SGEMM) call of the same batched shapes; the fraction says how much of OpenBLAS's speed the
 *    layer keeps (above 100% where the direct kernels beat it). Best of several runs each.
 *
 * usage: bench_conv [--threads 1,2] [--rounds 5] [--round-sec 1.5] [--modes sgd,adam,infer]
 *                   [--parts net,gemm]
 */
#include "bench_harness.h"
#include "bench_rates.h"
#include "cropnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BANDS = 204, PATCH = 11, CLASSES = 16, BATCH = 128 };

static void die(const char *what)
{
    fprintf(stderr, "bench_conv: %s: %s\n", what, cn_last_error());
    exit(1);
}

static cn_layer *conv(int64_t in, int64_t out, int64_t k, int64_t pad)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, in, out, k);
    s.padding[0] = s.padding[1] = pad;
    cn_layer *l = NULL;
    if (cn_conv_new(&s, &l))
        die("conv");
    return l;
}

static void add(cn_layer *net, cn_layer *l)
{
    if (cn_sequential_add(net, l))
        die("add");
    cn_layer_release(l);
}

static cn_layer *make_cnn(void)
{
    cn_layer *net = NULL, *l = NULL;
    cn_sequential_new(&net);
    add(net, conv(BANDS, 32, 1, 0));
    add(net, conv(32, 64, 3, 1));
    cn_activation_new(CN_LAYER_RELU, 0, &l);
    add(net, l);
    add(net, conv(64, 64, 3, 0));
    cn_activation_new(CN_LAYER_RELU, 0, &l);
    add(net, l);
    cn_pool_spec pool = {{2, 2}, {2, 2}, {0, 0}, true};
    cn_pool_new(CN_LAYER_MAX_POOL2D, &pool, &l);
    add(net, l);
    cn_flatten_new(&l);
    add(net, l);
    int64_t p = (PATCH - 2) / 2;
    cn_linear_new(64 * p * p, CLASSES, &l);
    add(net, l);
    cn_rng rng;
    cn_rng_seed(&rng, 0);
    cn_layer_init(net, CN_INIT_HE_UNIFORM, 0, &rng);
    return net;
}

typedef struct layer_case {
    const char *name;
    int64_t in, out, k, pad, size; /* channels, kernel, padding, input side */
} layer_case;

typedef struct timing_ctx {
    cn_layer *l;
    cn_tensor *x, *y, *gy;
    float *a, *b, *c; /* plain GEMM operands */
    int64_t m, n, k;  /* forward GEMM: out × (N·P) × (in·k²) */
    bool first;       /* the network's first layer: no input gradient in training */
} timing_ctx;

/* Best (least) seconds of fn over reps runs after one warm-up: on a shared machine the least
 * time is the one least disturbed by other work, and both sides of a ratio are taken alike. */
static double best_time(void (*fn)(timing_ctx *), timing_ctx *c, int reps)
{
    double best = 1e30;
    fn(c);
    for (int i = 0; i < reps; i++) {
        double t0 = bench_now();
        fn(c);
        double t = bench_now() - t0;
        best = t < best ? t : best;
    }
    return best;
}

static void run_forward(timing_ctx *c)
{
    if (cn_layer_forward(c->l, c->x, &c->y))
        die("forward");
}

static void run_backward(timing_ctx *c)
{
    cn_tensor *gx;
    if (cn_layer_backward(c->l, c->x, c->gy, c->first ? NULL : &gx))
        die("backward");
}

/* The GEMMs of the layer as plain calls on the batched shapes: forward O × NP × K. */
static void gemm_forward(timing_ctx *c)
{
    cn_gemm(false, false, c->m, c->n, c->k, 1.0f, c->a, c->k, c->b, c->n, 0.0f, c->c, c->n);
}

/* backward: dW (O × K over NP) and, unless first, dX (K × NP over O) */
static void gemm_backward(timing_ctx *c)
{
    cn_gemm(false, true, c->m, c->k, c->n, 1.0f, c->c, c->n, c->b, c->n, 1.0f, c->a, c->k);
    if (!c->first)
        cn_gemm(true, false, c->k, c->n, c->m, 1.0f, c->a, c->k, c->c, c->n, 0.0f, c->b, c->n);
}

static void bench_gemm(const int *threads, int nthreads, int reps)
{
    static const layer_case cases[] = {
        {"conv1x1 204->32", BANDS, 32, 1, 0, PATCH},
        {"conv3x3 32->64 pad 1", 32, 64, 3, 1, PATCH},
        {"conv3x3 64->64", 64, 64, 3, 0, PATCH},
    };
    cn_rng rng;
    cn_rng_seed(&rng, 2);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const layer_case *lc = &cases[i];
        timing_ctx c = {.l = conv(lc->in, lc->out, lc->k, lc->pad), .first = i == 0};
        cn_layer_init(c.l, CN_INIT_HE_UNIFORM, 0, &rng);
        int64_t o = lc->size - lc->k + 2 * lc->pad + 1;
        cn_tensor_new(4, (int64_t[]){BATCH, lc->in, lc->size, lc->size}, &c.x);
        cn_tensor_new(4, (int64_t[]){BATCH, lc->out, o, o}, &c.gy);
        for (int64_t j = 0; j < cn_tensor_numel(c.x); j++)
            cn_tensor_data(c.x)[j] = (float)cn_rng_normal(&rng);
        for (int64_t j = 0; j < cn_tensor_numel(c.gy); j++)
            cn_tensor_data(c.gy)[j] = (float)cn_rng_normal(&rng);
        c.m = lc->out;
        c.n = BATCH * o * o;
        c.k = lc->in * lc->k * lc->k;
        c.a = calloc((size_t)(c.m * c.k), sizeof(float));
        c.b = calloc((size_t)(c.k * c.n), sizeof(float));
        c.c = calloc((size_t)(c.m * c.n), sizeof(float));
        double fwd_flops = 2.0 * (double)c.m * (double)c.n * (double)c.k;
        double bwd_flops = fwd_flops * (c.first ? 1 : 2);
        for (int t = 0; t < nthreads; t++) {
            cn_set_threads(threads[t]);
            double lf = best_time(run_forward, &c, reps);
            double gf = best_time(gemm_forward, &c, reps);
            double lb = best_time(run_backward, &c, reps);
            double gb = best_time(gemm_backward, &c, reps);
            printf("cropnet gemm %-22s threads %d  forward %6.1f GFLOP/s (sgemm %6.1f, %3.0f%%)  "
                   "backward%s %6.1f GFLOP/s (sgemm %6.1f, %3.0f%%)  M=%lld N=%lld K=%lld  "
                   "layer=%zu threads=%d fwd_frac=%.3f bwd_frac=%.3f\n",
                   lc->name, threads[t], fwd_flops / lf * 1e-9, fwd_flops / gf * 1e-9,
                   100 * gf / lf, c.first ? " (dW only)" : "", bwd_flops / lb * 1e-9,
                   bwd_flops / gb * 1e-9, 100 * gb / lb, (long long)c.m, (long long)c.n,
                   (long long)c.k, i, threads[t], gf / lf, gb / lb);
            fflush(stdout);
        }
        free(c.a);
        free(c.b);
        free(c.c);
        cn_tensor_release(c.x);
        cn_tensor_release(c.gy);
        cn_layer_release(c.l);
    }
}

int main(int argc, char **argv)
{
    bench_rate_options o;
    bench_rate_options_default(&o, "sgd,adam,infer");
    const char *parts = "net,gemm";
    for (int i = 1; i < argc; i++) {
        if (bench_rate_option(&o, argc, argv, &i))
            continue;
        if (!strcmp(argv[i], "--parts") && i + 1 < argc) {
            parts = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_conv [--threads 1,2] [--rounds N] [--round-sec S] "
                            "[--modes sgd,adam,infer] [--parts net,gemm]\n");
            return 2;
        }
    }
    printf("# cropnet %s cnn2d %d bands x %dx%d, batch %d, rounds %d x %.1f s, blas %s\n",
           CN_VERSION_STRING, BANDS, PATCH, PATCH, BATCH, o.rounds, o.round_sec, cn_blas_info());
    const bench_net cnn = {.program = "bench_conv", .name = "cnn2d", .make = make_cnn, .ndim = 4,
                           .x_shape = (int64_t[]){BATCH, BANDS, PATCH, PATCH},
                           .classes = CLASSES, .warmup = 2};
    if (strstr(parts, "net")) {
        int rc = bench_rates(&cnn, &o);
        if (rc)
            return rc;
    }
    if (strstr(parts, "gemm"))
        bench_gemm(o.threads, o.nthreads, 4 * o.rounds + 1);
    return 0;
}
