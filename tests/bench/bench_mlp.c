/*
 * bench_mlp.c — training and inference throughput of the per-pixel MLP 204→256→128→16 (ReLU,
 * softmax cross-entropy, Adam, batch 128), the network of ../shared/peers/torch_nets.py "mlp".
 *
 * Thread counts are interleaved round by round, as the PyTorch peer does, so drift in machine
 * load hits every configuration alike; the median samples/s over rounds is reported. Output: one
 * line per (mode, threads), machine-readable "key=value" fields after a readable part (the timing
 * and the lines are bench_rates.c's, shared with bench_conv.c).
 *
 * usage: bench_mlp [--threads 1,2] [--rounds 5] [--round-sec 1.5] [--modes adam,sgd,infer]
 */
#include "bench_harness.h"
#include "bench_rates.h"
#include "cropnet.h"

#include <stdio.h>

enum { BANDS = 204, H1 = 256, H2 = 128, CLASSES = 16, BATCH = 128 };

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

int main(int argc, char **argv)
{
    bench_rate_options o;
    bench_rate_options_default(&o, "adam,sgd,infer");
    for (int i = 1; i < argc; i++)
        if (!bench_rate_option(&o, argc, argv, &i)) {
            fprintf(stderr, "usage: bench_mlp [--threads 1,2] [--rounds N] [--round-sec S] "
                            "[--modes adam,sgd,infer]\n");
            return 2;
        }
    printf("# cropnet %s mlp %d-%d-%d-%d batch %d, rounds %d x %.1f s, blas %s\n",
           CN_VERSION_STRING, BANDS, H1, H2, CLASSES, BATCH, o.rounds, o.round_sec, cn_blas_info());
    const bench_net mlp = {.program = "bench_mlp", .name = "mlp", .make = make_mlp, .ndim = 2,
                           .x_shape = (int64_t[]){BATCH, BANDS}, .classes = CLASSES, .warmup = 3};
    return bench_rates(&mlp, &o);
}
