/*
 * bench_mlp.c — training and inference throughput of the per-pixel MLP 204→256→128→16 (ReLU,
 * softmax cross-entropy, Adam, batch 128), the network of ../shared/peers/torch_nets.py "mlp".
 *
 * Thread counts are interleaved round by round, as the PyTorch peer does, so drift in machine
 * load hits every configuration alike; the median samples/s over rounds is reported. Output: one
 * line per (mode, threads), machine-readable "key=value" fields after a readable part.
 *
 * usage: bench_mlp [--threads 1,2] [--rounds 5] [--round-sec 1.5] [--modes adam,sgd,infer]
 */
#include "cropnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BANDS = 204, H1 = 256, H2 = 128, CLASSES = 16, BATCH = 128, NBATCH = 4 };

static double now(void)
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

static cn_layer *make_mlp(void)
{
    cn_layer *net, *l;
    cn_sequential_new(&net);
    const int64_t sizes[4] = {BANDS, H1, H2, CLASSES};
    for (int i = 0; i < 3; i++) {
        cn_linear_new(sizes[i], sizes[i + 1], &l);
        cn_sequential_add(net, l);
        cn_layer_release(l);
        if (i < 2) {
            cn_activation_new(CN_LAYER_RELU, 0, &l);
            cn_sequential_add(net, l);
            cn_layer_release(l);
        }
    }
    cn_rng rng;
    cn_rng_seed(&rng, 0);
    cn_layer_init(net, CN_INIT_XAVIER_UNIFORM, 0, &rng);
    return net;
}

typedef struct {
    cn_layer *net;
    cn_optim *opt; /* NULL for inference */
    cn_tensor *x[NBATCH], *y[NBATCH], *grad;
} bench_state;

/* One training step (forward, loss, backward, update) or one inference forward. */
static int step(bench_state *s, int i)
{
    cn_tensor *out;
    if (cn_layer_forward(s->net, s->x[i % NBATCH], &out))
        return -1;
    if (!s->opt)
        return 0;
    if (cn_loss_backward(CN_LOSS_SOFTMAX_CE, out, s->y[i % NBATCH], s->grad))
        return -1;
    cn_layer_zero_grad(s->net);
    if (cn_layer_backward(s->net, s->x[i % NBATCH], s->grad, NULL) || cn_optim_step(s->opt, s->net))
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    int threads[8] = {1, 2}, nthreads = 2, rounds = 5;
    double round_sec = 1.5;
    const char *modes = "adam,sgd,infer";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            nthreads = 0;
            for (char *t = strtok(argv[++i], ","); t && nthreads < 8; t = strtok(NULL, ","))
                threads[nthreads++] = atoi(t) > 0 ? atoi(t) : 1;
        } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--round-sec") && i + 1 < argc) {
            round_sec = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--modes") && i + 1 < argc) {
            modes = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_mlp [--threads 1,2] [--rounds N] [--round-sec S] "
                            "[--modes adam,sgd,infer]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > 100)
        rounds = 5;
    bench_state s = {0};
    cn_rng rng;
    cn_rng_seed(&rng, 1);
    for (int b = 0; b < NBATCH; b++) {
        cn_tensor_new2(BATCH, BANDS, &s.x[b]);
        cn_tensor_new(1, (int64_t[]){BATCH}, &s.y[b]);
        for (int i = 0; i < BATCH * BANDS; i++)
            cn_tensor_data(s.x[b])[i] = (float)cn_rng_normal(&rng);
        for (int i = 0; i < BATCH; i++)
            cn_tensor_data(s.y[b])[i] = (float)cn_rng_below(&rng, CLASSES);
    }
    cn_tensor_new(1, (int64_t[]){1}, &s.grad);
    printf("# cropnet %s mlp %d-%d-%d-%d batch %d, rounds %d x %.1f s, blas %s\n",
           CN_VERSION_STRING, BANDS, H1, H2, CLASSES, BATCH, rounds, round_sec, cn_blas_info());
    char modes_copy[64];
    snprintf(modes_copy, sizeof modes_copy, "%s", modes);
    for (char *mode = strtok(modes_copy, ","); mode; mode = strtok(NULL, ",")) {
        s.net = make_mlp();
        s.opt = NULL;
        cn_optim_config c;
        if (!strcmp(mode, "adam") || !strcmp(mode, "sgd")) {
            cn_optim_kind k = !strcmp(mode, "adam") ? CN_OPTIM_ADAM : CN_OPTIM_SGD;
            cn_optim_defaults(k, &c);
            if (k == CN_OPTIM_SGD) {
                c.lr = 0.01;
                c.momentum = 0.9;
                c.dampening = 0;
            }
            cn_optim_new(k, &c, &s.opt);
        } else if (strcmp(mode, "infer")) {
            fprintf(stderr, "bench_mlp: unknown mode %s\n", mode);
            return 2;
        }
        double per[8][100];
        for (int t = 0; t < nthreads; t++) { /* warm-up */
            cn_set_threads(threads[t]);
            for (int i = 0; i < 3; i++)
                step(&s, i);
        }
        for (int r = 0; r < rounds; r++)
            for (int t = 0; t < nthreads; t++) {
                cn_set_threads(threads[t]);
                int it = 0;
                double t0 = now(), el;
                do {
                    if (step(&s, it++)) {
                        fprintf(stderr, "bench_mlp: %s\n", cn_last_error());
                        return 1;
                    }
                    el = now() - t0;
                } while (el < round_sec || it < 3);
                per[t][r] = it * (double)BATCH / el;
            }
        for (int t = 0; t < nthreads; t++) {
            qsort(per[t], (size_t)rounds, sizeof(double), cmp_double);
            printf("cropnet mlp %-5s threads %d  median %10.1f samples/s (min %.1f, max %.1f)  "
                   "mode=%s threads=%d samples_per_s=%.1f\n",
                   mode, threads[t], per[t][rounds / 2], per[t][0], per[t][rounds - 1], mode,
                   threads[t], per[t][rounds / 2]);
        }
        fflush(stdout);
        cn_optim_free(s.opt);
        cn_layer_release(s.net);
    }
    for (int b = 0; b < NBATCH; b++) {
        cn_tensor_release(s.x[b]);
        cn_tensor_release(s.y[b]);
    }
    cn_tensor_release(s.grad);
    return 0;
}
