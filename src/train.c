/*
 * train.c — the mini-batch training loop and the row-wise argmax.
 *
 * One loop for every model: shuffle (Fisher–Yates from the seed), gather a batch, optionally
 * augment it (cn_train_config.augment, with its own seeded generator), forward, loss,
 * backward (without the useless gradient of the data), optimizer step, per-epoch statistics and
 * callback. Nothing here depends on time or thread timing, so a seed and a thread count fix the
 * weights bit for bit. The net trains in training mode (dropout, batch statistics) and is left in
 * evaluation mode, as its epoch callback sees it, so what comes out of training predicts.
 */
#include "cropnet.h"

#include <math.h>
#include <stdlib.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

cn_status cn_argmax_rows(const cn_tensor *scores, cn_tensor *out)
{
    int nd = cn_tensor_ndim(scores);
    if (nd > 2)
        return cn_set_error(CN_ESHAPE, "argmax: scores must be 1-D or 2-D");
    int64_t n = nd == 2 ? cn_tensor_dim(scores, 0) : 1, k = cn_tensor_dim(scores, nd - 1);
    cn_status st = cn_tensor_resize(out, 1, &n);
    if (st)
        return st;
    const float *s = cn_tensor_cdata(scores);
    float *o = cn_tensor_data(out);
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (s[i * k + j] > s[i * k + best])
                best = j;
        o[i] = (float)best;
    }
    return CN_OK;
}

/* Correct predictions in a batch, by the loss's notion of a class decision. */
static int64_t count_correct(cn_loss_kind loss, const cn_tensor *pred, const cn_tensor *target)
{
    const float *p = cn_tensor_cdata(pred), *t = cn_tensor_cdata(target);
    int64_t n = cn_tensor_numel(target), correct = 0;
    if (loss == CN_LOSS_SOFTMAX_CE) {
        int64_t k = cn_tensor_numel(pred) / (n ? n : 1);
        for (int64_t i = 0; i < n; i++) {
            int64_t best = 0;
            for (int64_t j = 1; j < k; j++)
                if (p[i * k + j] > p[i * k + best])
                    best = j;
            correct += (float)best == t[i];
        }
    } else {
        float threshold = loss == CN_LOSS_BCE ? 0.5f : 0.0f;
        for (int64_t i = 0; i < n; i++)
            correct += (p[i] > threshold) == (t[i] > 0.5f);
    }
    return correct;
}

static cn_status check_config(const cn_tensor *x, const cn_tensor *y, const cn_train_config *c)
{
    if (!c || c->epochs < 1 || c->batch < 1 || (unsigned)c->loss >= CN_LOSS_KIND_COUNT)
        return cn_set_error(CN_EINVAL, "train: epochs and batch must be >= 1 and the loss known");
    if (c->schedule.kind != CN_SCHEDULE_NONE &&
        (!(c->schedule.gamma > 0 && isfinite(c->schedule.gamma)) ||
         (c->schedule.kind == CN_SCHEDULE_STEP && c->schedule.step_size < 1)))
        return cn_set_error(CN_EINVAL, "train: schedule needs gamma > 0 and step size >= 1");
    int64_t n = cn_tensor_dim(x, 0);
    if (n < 1)
        return cn_set_error(CN_EINVAL, "train: no training samples");
    if (cn_tensor_ndim(x) < 2 && n != cn_tensor_numel(x))
        return cn_set_error(CN_ESHAPE, "train: inputs must be N x D");
    if (cn_tensor_dim(y, 0) != n) {
        char a[96], b[96];
        return cn_set_error(CN_ESHAPE, "train: inputs %s and targets %s differ in sample count",
                            cn_tensor_shape_str(x, a, sizeof a), cn_tensor_shape_str(y, b, sizeof b));
    }
    return CN_OK;
}

cn_status cn_train(cn_layer *net, cn_optim *opt, const cn_tensor *x, const cn_tensor *y,
                   const cn_train_config *config, cn_epoch_stats *stats)
{
    if (!net || !opt || !x || !y)
        return cn_set_error(CN_EINVAL, "train: NULL argument");
    cn_status st = check_config(x, y, config);
    if (st)
        return st;
    int64_t n = cn_tensor_dim(x, 0), zero = 0;
    int64_t *order = malloc((size_t)n * sizeof *order);
    cn_tensor *xb = NULL, *yb = NULL, *grad = NULL;
    if (!order || cn_tensor_new(1, &zero, &xb) || cn_tensor_new(1, &zero, &yb) ||
        cn_tensor_new(1, &zero, &grad)) {
        st = cn_set_error(CN_ENOMEM, "train: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    cn_rng rng, aug_rng; /* augmentation draws from its own stream: shuffles stay as without */
    cn_rng_seed(&rng, config->seed);
    cn_rng_seed(&aug_rng, config->seed ^ UINT64_C(0x9e3779b97f4a7c15));
    double lr0 = cn_optim_get_lr(opt);
    for (int e = 0; e < config->epochs && !st; e++) {
        cn_layer_set_training(net, true);
        double t0 = now_seconds(), loss_sum = 0;
        int64_t correct = 0;
        cn_optim_set_lr(opt, cn_schedule_lr(&config->schedule, lr0, e));
        if (config->shuffle)
            for (int64_t i = n - 1; i > 0; i--) {
                int64_t j = (int64_t)cn_rng_below(&rng, (uint64_t)i + 1), tmp = order[i];
                order[i] = order[j];
                order[j] = tmp;
            }
        for (int64_t start = 0; start < n && !st; start += config->batch) {
            int64_t count = n - start < config->batch ? n - start : config->batch;
            cn_tensor *out;
            double loss;
            if ((st = cn_tensor_gather_rows(xb, x, order + start, count)) ||
                (st = cn_tensor_gather_rows(yb, y, order + start, count)) ||
                (config->augment && (st = config->augment(xb, yb, e, start / config->batch,
                                                          &aug_rng, config->augment_data))) ||
                (st = cn_layer_forward(net, xb, &out)) ||
                (st = cn_loss_forward(config->loss, out, yb, &loss)) ||
                (st = cn_loss_backward(config->loss, out, yb, grad)))
                break;
            loss_sum += loss * (double)count;
            correct += count_correct(config->loss, out, yb);
            cn_layer_zero_grad(net);
            if ((st = cn_layer_backward(net, xb, grad, NULL)) || (st = cn_optim_step(opt, net)))
                break;
        }
        if (st)
            break;
        cn_epoch_stats s = {e + 1, loss_sum / (double)n,
                            config->loss == CN_LOSS_MSE ? NAN : (double)correct / (double)n,
                            cn_optim_get_lr(opt), n, now_seconds() - t0};
        if (stats)
            *stats = s;
        /* the callback measures the net as it will predict (dropout off, running statistics) */
        cn_layer_set_training(net, false);
        if (config->on_epoch && config->on_epoch(&s, config->user_data))
            st = cn_set_error(CN_ECANCELLED, "train: stopped by the epoch callback after epoch %d",
                              e + 1);
    }
    cn_optim_set_lr(opt, lr0);
    cn_layer_set_training(net, false);
done:
    free(order);
    cn_tensor_release(xb);
    cn_tensor_release(yb);
    cn_tensor_release(grad);
    return st;
}
