/*
 * test_norm.c — batch normalisation and dropout, the two layers whose behaviour depends on the
 * mode, and the modes themselves: values, running statistics, gradients against finite
 * differences, determinism of the masks, and the mode cn_train leaves a net in.
 */
#include "gradcheck.h"

static cn_layer *bn(int64_t c)
{
    cn_layer *l = NULL;
    CHECK_OK(cn_batchnorm_new(c, 1e-5f, 0.1f, &l));
    return l;
}

/* Mean and biased variance of channel c of an N×C×S tensor. */
static void channel_stats(const cn_tensor *y, int64_t c, double *mean, double *var)
{
    int64_t n = cn_tensor_dim(y, 0), C = cn_tensor_dim(y, 1), s = cn_tensor_numel(y) / (n * C);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < s; j++)
            sum += cn_tensor_cdata(y)[(i * C + c) * s + j];
    *mean = sum / (double)(n * s);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < s; j++) {
            double d = cn_tensor_cdata(y)[(i * C + c) * s + j] - *mean;
            sq += d * d;
        }
    *var = sq / (double)(n * s);
}

static void training_mode_normalises_each_channel(void)
{
    int64_t shapes[2][4] = {{16, 3}, {4, 3, 5, 5}};
    for (int k = 0; k < 2; k++) {
        cn_layer *l = bn(3);
        cn_rng rng;
        cn_rng_seed(&rng, 11);
        cn_tensor *x = gc_random(k ? 4 : 2, shapes[k], &rng), *y = NULL;
        for (int64_t i = 0; i < cn_tensor_numel(x); i++) /* shift and scale per position */
            cn_tensor_data(x)[i] = 3.0f * cn_tensor_data(x)[i] + 5.0f;
        CHECK_OK(cn_layer_forward(l, x, &y));
        for (int64_t c = 0; c < 3; c++) {
            double m, v;
            channel_stats(y, c, &m, &v);
            CHECK_NEAR(m, 0.0, 1e-5);
            CHECK_NEAR(v, 1.0, 1e-3);
        }
        cn_tensor_release(x);
        cn_layer_release(l);
    }
}

static void running_statistics_follow_the_momentum(void)
{
    cn_layer *l = bn(1);
    cn_tensor *x = NULL, *y = NULL;
    CHECK_OK(cn_tensor_new(2, (int64_t[]){4, 1}, &x));
    const float v[4] = {1, 2, 3, 6}; /* mean 3, unbiased variance 14/3 */
    memcpy(cn_tensor_data(x), v, sizeof v);
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK_NEAR(cn_tensor_cdata(cn_batchnorm_running_mean(l))[0], 0.1 * 3.0, 1e-6);
    CHECK_NEAR(cn_tensor_cdata(cn_batchnorm_running_var(l))[0], 0.9 + 0.1 * 14.0 / 3.0, 1e-6);
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void evaluation_mode_uses_the_running_statistics(void)
{
    cn_layer *l = bn(2);
    cn_tensor *p[2];
    cn_layer_params(l, p, NULL, 2);
    cn_tensor_data(p[0])[1] = 2.0f;  /* γ */
    cn_tensor_data(p[1])[1] = -1.0f; /* β */
    cn_tensor_data(cn_batchnorm_running_mean(l))[1] = 4.0f;
    cn_tensor_data(cn_batchnorm_running_var(l))[1] = 9.0f;
    cn_layer_set_training(l, false);
    cn_tensor *x = NULL, *y = NULL;
    CHECK_OK(cn_tensor_new(2, (int64_t[]){1, 2}, &x)); /* one sample: fine in evaluation */
    cn_tensor_data(x)[1] = 10.0f;
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK_NEAR(cn_tensor_cdata(y)[1], 2.0 * (10.0 - 4.0) / sqrt(9.0 + 1e-5) - 1.0, 1e-5);
    CHECK_NEAR(cn_tensor_cdata(cn_batchnorm_running_mean(l))[1], 4.0, 0); /* untouched */
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void batchnorm_gradients_match_finite_differences(void)
{
    cn_layer *l = bn(3);
    check_current = "batchnorm, training, N x C";
    gc_check(l, 2, (int64_t[]){6, 3}, 1);
    check_current = "batchnorm, training, N x C x H x W";
    gc_check(l, 4, (int64_t[]){3, 3, 2, 3}, 2);
    cn_layer_set_training(l, false);
    check_current = "batchnorm, evaluation";
    gc_check(l, 4, (int64_t[]){3, 3, 2, 3}, 3);
    cn_layer_release(l);
}

static void training_on_one_value_per_channel_is_refused(void)
{
    cn_layer *l = bn(4);
    cn_tensor *x = NULL, *y = NULL;
    CHECK_OK(cn_tensor_new(2, (int64_t[]){1, 4}, &x));
    CHECK(cn_layer_forward(l, x, &y) == CN_ESHAPE);
    CHECK(gc_message_has((const char *const[]){"more than one value per channel", "(1 x 4)",
                                               NULL}));
    CHECK_OK(cn_tensor_resize(x, 2, (int64_t[]){2, 5}));
    CHECK(cn_layer_forward(l, x, &y) == CN_ESHAPE);
    CHECK(gc_message_has((const char *const[]){"(2 x 5)", "(N x 4)", NULL}));
    CHECK(cn_batchnorm_new(4, 0.0f, 0.1f, &l) == CN_EINVAL);
    cn_tensor_release(x);
    cn_layer_release(l);
}

/* ---------------------------------------------------------------- dropout */

static cn_layer *dropout(float p, uint64_t seed)
{
    cn_layer *l = NULL;
    CHECK_OK(cn_dropout_new(p, seed, &l));
    return l;
}

static void dropout_zeroes_about_p_and_scales_the_rest(void)
{
    cn_layer *l = dropout(0.3f, 5);
    cn_tensor *x = NULL, *y = NULL;
    CHECK_OK(cn_tensor_new(2, (int64_t[]){100, 100}, &x));
    cn_tensor_fill(x, 2.0f);
    CHECK_OK(cn_layer_forward(l, x, &y));
    int64_t zeros = 0;
    for (int64_t i = 0; i < 10000; i++) {
        float v = cn_tensor_cdata(y)[i];
        zeros += v == 0.0f;
        CHECK(v == 0.0f || fabsf(v - 2.0f / 0.7f) < 1e-6f);
    }
    CHECK(zeros > 2700 && zeros < 3300);
    CHECK_NEAR(cn_layer_param(l), 0.3, 1e-7);
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void dropout_is_the_identity_in_evaluation_mode(void)
{
    cn_layer *l = dropout(0.5f, 5);
    cn_layer_set_training(l, false);
    gc_check(l, 2, (int64_t[]){4, 5}, 1);
    cn_rng rng;
    cn_rng_seed(&rng, 2);
    cn_tensor *x = gc_random(2, (int64_t[]){4, 5}, &rng), *y = NULL;
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK(memcmp(cn_tensor_cdata(x), cn_tensor_cdata(y), 20 * sizeof(float)) == 0);
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void dropout_backward_uses_the_forward_mask(void)
{
    cn_layer *l = dropout(0.5f, 9);
    cn_rng rng;
    cn_rng_seed(&rng, 3);
    cn_tensor *x = gc_random(2, (int64_t[]){8, 8}, &rng);
    cn_tensor *g = gc_random(2, (int64_t[]){8, 8}, &rng);
    cn_tensor *y = NULL, *gx = NULL;
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK_OK(cn_layer_backward(l, x, g, &gx));
    for (int64_t i = 0; i < 64; i++) {
        double scale = cn_tensor_cdata(y)[i] / cn_tensor_cdata(x)[i]; /* 0 or 2 */
        CHECK_NEAR(cn_tensor_cdata(gx)[i], scale * cn_tensor_cdata(g)[i], 1e-6);
    }
    cn_tensor_release(x);
    cn_tensor_release(g);
    cn_layer_release(l);
}

static void a_seed_fixes_the_masks(void)
{
    cn_layer *a = dropout(0.5f, 42), *b = dropout(0.5f, 42), *c = dropout(0.5f, 43);
    cn_tensor *x = NULL, *ya, *yb, *yc;
    CHECK_OK(cn_tensor_new(1, (int64_t[]){256}, &x));
    cn_tensor_fill(x, 1.0f);
    CHECK_OK(cn_layer_forward(a, x, &ya));
    CHECK_OK(cn_layer_forward(b, x, &yb));
    CHECK_OK(cn_layer_forward(c, x, &yc));
    CHECK(memcmp(cn_tensor_cdata(ya), cn_tensor_cdata(yb), 256 * sizeof(float)) == 0);
    CHECK(memcmp(cn_tensor_cdata(ya), cn_tensor_cdata(yc), 256 * sizeof(float)) != 0);
    /* cn_layer_init reseeds from its generator: the same generator state, the same masks */
    cn_rng r1, r2;
    cn_rng_seed(&r1, 7);
    cn_rng_seed(&r2, 7);
    CHECK_OK(cn_layer_init(a, CN_INIT_HE_NORMAL, 0, &r1));
    CHECK_OK(cn_layer_init(c, CN_INIT_HE_NORMAL, 0, &r2));
    CHECK_OK(cn_layer_forward(a, x, &ya));
    CHECK_OK(cn_layer_forward(c, x, &yc));
    CHECK(memcmp(cn_tensor_cdata(ya), cn_tensor_cdata(yc), 256 * sizeof(float)) == 0);
    CHECK(cn_dropout_new(1.0f, 0, &a) == CN_EINVAL);
    cn_tensor_release(x);
    cn_layer_release(a);
    cn_layer_release(b);
    cn_layer_release(c);
}

/* ---------------------------------------------------------------- modes */

static void modes_reach_every_layer_inside(void)
{
    cn_layer *seq = NULL, *inner = NULL, *res = NULL, *d = dropout(0.1f, 1), *b = bn(2);
    CHECK_OK(cn_sequential_new(&seq));
    CHECK_OK(cn_sequential_new(&inner));
    CHECK_OK(cn_sequential_add(inner, d));
    CHECK_OK(cn_residual_new(inner, b, &res));
    CHECK_OK(cn_sequential_add(seq, res));
    CHECK(cn_layer_is_training(seq) && cn_layer_is_training(d)); /* Torch's default */
    cn_layer_set_training(seq, false);
    CHECK(!cn_layer_is_training(seq) && !cn_layer_is_training(res));
    CHECK(!cn_layer_is_training(d) && !cn_layer_is_training(b));
    cn_layer_set_training(seq, true);
    CHECK(cn_layer_is_training(d) && cn_layer_is_training(b));
    cn_layer *c[2];
    CHECK(cn_layer_children(res, c, 2) == 2 && c[0] == inner && c[1] == b);
    cn_layer_release(seq);
    cn_layer_release(inner);
    cn_layer_release(res);
    cn_layer_release(d);
    cn_layer_release(b);
}

static int saw_training;
static int note_mode(const cn_epoch_stats *s, void *net)
{
    (void)s;
    saw_training |= cn_layer_is_training(net);
    return 0;
}

static void cn_train_trains_in_training_mode_and_leaves_evaluation_mode(void)
{
    cn_layer *net = NULL, *lin = NULL, *b = bn(3);
    CHECK_OK(cn_sequential_new(&net));
    CHECK_OK(cn_linear_new(4, 3, &lin));
    CHECK_OK(cn_sequential_add(net, lin));
    CHECK_OK(cn_sequential_add(net, b));
    cn_rng rng;
    cn_rng_seed(&rng, 1);
    CHECK_OK(cn_layer_init(net, CN_INIT_XAVIER_UNIFORM, 0, &rng));
    cn_tensor *x = gc_random(2, (int64_t[]){32, 4}, &rng), *y = NULL;
    CHECK_OK(cn_tensor_new(1, (int64_t[]){32}, &y));
    for (int i = 0; i < 32; i++)
        cn_tensor_data(y)[i] = (float)(i % 3);
    cn_optim *opt = NULL;
    cn_optim_config oc;
    cn_optim_defaults(CN_OPTIM_ADAM, &oc);
    CHECK_OK(cn_optim_new(CN_OPTIM_ADAM, &oc, &opt));
    cn_train_config tc = {.epochs = 2, .batch = 8, .seed = 1, .shuffle = true,
                          .loss = CN_LOSS_SOFTMAX_CE, .on_epoch = note_mode, .user_data = net};
    saw_training = 0;
    CHECK_OK(cn_train(net, opt, x, y, &tc, NULL));
    CHECK(!saw_training);             /* the callback sees evaluation mode */
    CHECK(!cn_layer_is_training(net)); /* and so does the caller */
    /* the batches ran in training mode: only then do the running statistics move */
    CHECK(cn_tensor_cdata(cn_batchnorm_running_mean(b))[0] != 0.0f);
    cn_optim_free(opt);
    cn_tensor_release(x);
    cn_tensor_release(y);
    cn_layer_release(lin);
    cn_layer_release(b);
    cn_layer_release(net);
}

int main(void)
{
    RUN(training_mode_normalises_each_channel);
    RUN(running_statistics_follow_the_momentum);
    RUN(evaluation_mode_uses_the_running_statistics);
    RUN(batchnorm_gradients_match_finite_differences);
    RUN(training_on_one_value_per_channel_is_refused);
    RUN(dropout_zeroes_about_p_and_scales_the_rest);
    RUN(dropout_is_the_identity_in_evaluation_mode);
    RUN(dropout_backward_uses_the_forward_mask);
    RUN(a_seed_fixes_the_masks);
    RUN(modes_reach_every_layer_inside);
    RUN(cn_train_trains_in_training_mode_and_leaves_evaluation_mode);
    return CHECK_EXIT();
}
