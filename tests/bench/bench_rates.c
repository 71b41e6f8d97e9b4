/*
 * bench_rates.c — samples/s of a network's training and inference steps (bench_rates.h).
 */
#include "bench_rates.h"

#include <stdio.h>
#include <string.h>

enum { NBATCH = 4 }; /* batches cycled through, so a step does not always see the same data */

typedef struct bench_state {
    cn_layer *net;
    cn_optim *opt; /* NULL for inference */
    cn_tensor *x[NBATCH], *y[NBATCH], *grad;
    int64_t batch; /* samples a step */
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

/* The optimiser of a training mode into *opt, NULL for "infer". Returns -1 for any other mode. */
static int optim_of_mode(const char *mode, cn_optim **opt)
{
    *opt = NULL;
    if (!strcmp(mode, "infer"))
        return 0;
    if (strcmp(mode, "adam") && strcmp(mode, "sgd"))
        return -1;
    cn_optim_kind k = !strcmp(mode, "adam") ? CN_OPTIM_ADAM : CN_OPTIM_SGD;
    cn_optim_config c;
    cn_optim_defaults(k, &c);
    if (k == CN_OPTIM_SGD) { /* the peer's SGD: torch.optim.SGD(lr=0.01, momentum=0.9) */
        c.lr = 0.01;
        c.momentum = 0.9;
        c.dampening = 0;
    }
    cn_optim_new(k, &c, opt);
    return 0;
}

/* Warm-up, then per[t][r] = samples/s of round r at thread count t. Returns -1 if a step fails. */
static int time_rounds(bench_state *s, const bench_rate_options *o, int warmup,
                       double per[][BENCH_MAX_ROUNDS])
{
    for (int t = 0; t < o->nthreads; t++) {
        cn_set_threads(o->threads[t]);
        for (int i = 0; i < warmup; i++)
            if (step(s, i))
                return -1;
    }
    for (int r = 0; r < o->rounds; r++)
        for (int t = 0; t < o->nthreads; t++) {
            cn_set_threads(o->threads[t]);
            int it = 0;
            double t0 = bench_now(), el;
            do { /* at least three steps, so a slow step still gives a rate */
                if (step(s, it++))
                    return -1;
                el = bench_now() - t0;
            } while (el < o->round_sec || it < 3);
            per[t][r] = it * (double)s->batch / el;
        }
    return 0;
}

static void print_rates(const char *name, const char *mode, const bench_rate_options *o,
                        double per[][BENCH_MAX_ROUNDS])
{
    int n = o->rounds;
    for (int t = 0; t < o->nthreads; t++) {
        bench_sort(per[t], n);
        printf("cropnet %s %-5s threads %d  median %10.1f samples/s (min %.1f, max %.1f)  "
               "mode=%s threads=%d samples_per_s=%.1f\n",
               name, mode, o->threads[t], per[t][n / 2], per[t][0], per[t][n - 1], mode,
               o->threads[t], per[t][n / 2]);
    }
    fflush(stdout);
}

int bench_rates(const bench_net *net, const bench_rate_options *o)
{
    bench_state s = {.batch = net->x_shape[0]};
    cn_rng rng;
    cn_rng_seed(&rng, 1);
    for (int b = 0; b < NBATCH; b++) {
        cn_tensor_new(net->ndim, net->x_shape, &s.x[b]);
        cn_tensor_new(1, (int64_t[]){s.batch}, &s.y[b]);
        for (int64_t i = 0; i < cn_tensor_numel(s.x[b]); i++)
            cn_tensor_data(s.x[b])[i] = (float)cn_rng_normal(&rng);
        for (int64_t i = 0; i < s.batch; i++)
            cn_tensor_data(s.y[b])[i] = (float)cn_rng_below(&rng, net->classes);
    }
    cn_tensor_new(1, (int64_t[]){1}, &s.grad);
    int rc = 0;
    char modes[64];
    snprintf(modes, sizeof modes, "%s", o->modes);
    for (char *mode = strtok(modes, ","); mode && !rc; mode = strtok(NULL, ",")) {
        if (optim_of_mode(mode, &s.opt)) {
            fprintf(stderr, "%s: unknown mode %s\n", net->program, mode);
            rc = 2;
            break;
        }
        s.net = net->make();
        cn_layer_set_training(s.net, s.opt != NULL);
        double per[BENCH_MAX_THREADS][BENCH_MAX_ROUNDS];
        if (time_rounds(&s, o, net->warmup, per)) {
            fprintf(stderr, "%s: %s: %s\n", net->program, mode, cn_last_error());
            rc = 1;
        } else {
            print_rates(net->name, mode, o, per);
        }
        cn_optim_free(s.opt);
        cn_layer_release(s.net);
    }
    for (int b = 0; b < NBATCH; b++) {
        cn_tensor_release(s.x[b]);
        cn_tensor_release(s.y[b]);
    }
    cn_tensor_release(s.grad);
    return rc;
}
