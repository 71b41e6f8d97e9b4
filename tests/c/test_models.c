/*
 * test_models.c — the lecture's models, composed from the core, learn what they should:
 * linear regression recovers known weights and matches the closed-form least-squares solution,
 * logistic regression separates separable data, the perceptron follows Rosenblatt's rule, and a
 * multilayer perceptron learns XOR and a spiral that a linear model cannot. Also: training is
 * reproducible bit for bit, and the epoch callback can stop it.
 */
#include "check.h"
#include "cropnet.h"

#include <stdlib.h>
#include <string.h>

static cn_layer *chain(int n, cn_layer **layers)
{
    cn_layer *seq;
    if (cn_sequential_new(&seq))
        return NULL;
    for (int i = 0; i < n; i++) {
        cn_sequential_add(seq, layers[i]);
        cn_layer_release(layers[i]);
    }
    return seq;
}

static cn_layer *linear(int64_t in, int64_t out)
{
    cn_layer *l = NULL;
    cn_linear_new(in, out, &l);
    return l;
}

static cn_layer *act(cn_layer_kind kind)
{
    cn_layer *l = NULL;
    cn_activation_new(kind, kind == CN_LAYER_ELU ? 1.0f : 0.01f, &l);
    return l;
}

static cn_optim *optimizer(cn_optim_kind kind, double lr)
{
    cn_optim_config c;
    cn_optim_defaults(kind, &c);
    c.lr = lr;
    cn_optim *o = NULL;
    cn_optim_new(kind, &c, &o);
    return o;
}

static double accuracy(cn_layer *net, const cn_tensor *x, const cn_tensor *y, cn_loss_kind loss)
{
    cn_tensor *out, *ids;
    if (cn_layer_forward(net, x, &out) || cn_tensor_new(1, (int64_t[]){1}, &ids))
        return -1;
    int64_t n = cn_tensor_dim(x, 0), correct = 0;
    if (loss == CN_LOSS_SOFTMAX_CE) {
        cn_argmax_rows(out, ids);
        for (int64_t i = 0; i < n; i++)
            correct += cn_tensor_data(ids)[i] == cn_tensor_cdata(y)[i];
    } else {
        float th = loss == CN_LOSS_BCE ? 0.5f : 0.0f;
        for (int64_t i = 0; i < n; i++)
            correct += (cn_tensor_data(out)[i] > th) == (cn_tensor_cdata(y)[i] > 0.5f);
    }
    cn_tensor_release(ids);
    return (double)correct / (double)n;
}

/* Solves the 4×4 system a·β = b in place (Gaussian elimination with partial pivoting). */
enum { SOLVE_DIM = 4 };
static void solve(double a[SOLVE_DIM][SOLVE_DIM], double *b)
{
    const int d = SOLVE_DIM;
    for (int c = 0; c < d; c++) {
        int p = c;
        for (int r = c + 1; r < d; r++)
            if (fabs(a[r][c]) > fabs(a[p][c]))
                p = r;
        for (int k = 0; k < d; k++) {
            double t = a[c][k]; a[c][k] = a[p][k]; a[p][k] = t;
        }
        double t = b[c]; b[c] = b[p]; b[p] = t;
        for (int r = 0; r < d; r++)
            if (r != c) {
                double f = a[r][c] / a[c][c];
                for (int k = 0; k < d; k++)
                    a[r][k] -= f * a[c][k];
                b[r] -= f * b[c];
            }
    }
    for (int c = 0; c < d; c++)
        b[c] /= a[c][c];
}

static void test_linear_regression_matches_least_squares(void)
{
    enum { N = 256, D = 3 };
    const float w_true[D] = {1.5f, -2.0f, 0.5f}, b_true = 0.75f;
    cn_rng rng;
    cn_rng_seed(&rng, 11);
    cn_tensor *x, *y;
    CHECK_OK(cn_tensor_new2(N, D, &x));
    CHECK_OK(cn_tensor_new2(N, 1, &y));
    for (int i = 0; i < N; i++) {
        double t = b_true + 0.05 * cn_rng_normal(&rng);
        for (int j = 0; j < D; j++) {
            float v = (float)cn_rng_normal(&rng);
            cn_tensor_data(x)[i * D + j] = v;
            t += w_true[j] * v;
        }
        cn_tensor_data(y)[i] = (float)t;
    }
    /* closed form on [x, 1] */
    double a[D + 1][D + 1] = {{0}}, b[D + 1] = {0};
    for (int i = 0; i < N; i++) {
        double row[D + 1];
        for (int j = 0; j < D; j++)
            row[j] = cn_tensor_data(x)[i * D + j];
        row[D] = 1;
        for (int r = 0; r <= D; r++) {
            b[r] += row[r] * cn_tensor_data(y)[i];
            for (int c = 0; c <= D; c++)
                a[r][c] += row[r] * row[c];
        }
    }
    solve(a, b);
    cn_layer *net = linear(D, 1);
    cn_optim *o = optimizer(CN_OPTIM_SGD, 0.05);
    cn_train_config tc = {.epochs = 200, .batch = 32, .seed = 1, .shuffle = true, .loss = CN_LOSS_MSE};
    CHECK_OK(cn_train(net, o, x, y, &tc, NULL));
    cn_tensor *p[2];
    cn_layer_params(net, p, NULL, 2);
    for (int j = 0; j < D; j++) {
        CHECK_NEAR(cn_tensor_data(p[0])[j], b[j], 0.01);
        CHECK_NEAR(cn_tensor_data(p[0])[j], w_true[j], 0.05);
    }
    CHECK_NEAR(cn_tensor_data(p[1])[0], b[D], 0.01);
    cn_optim_free(o);
    cn_layer_release(net);
    cn_tensor_release(x);
    cn_tensor_release(y);
}

/* Two Gaussian blobs at (±2, ±2) with a margin: linearly separable. */
static void make_blobs(cn_tensor **x, cn_tensor **y, int n, uint64_t seed)
{
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    cn_tensor_new2(n, 2, x);
    cn_tensor_new2(n, 1, y);
    for (int i = 0; i < n; i++) {
        int c = i % 2;
        float cx = c ? 2.0f : -2.0f, cy = c ? 1.0f : -1.0f;
        float u = (float)(0.5 * cn_rng_normal(&rng)), v = (float)(0.5 * cn_rng_normal(&rng));
        if (fabsf(u) > 1.2f) u = 1.2f * (u > 0 ? 1 : -1); /* keep the margin */
        cn_tensor_data(*x)[2 * i] = cx + u;
        cn_tensor_data(*x)[2 * i + 1] = cy + v;
        cn_tensor_data(*y)[i] = (float)c;
    }
}

static void test_logistic_regression_separates_separable_data(void)
{
    cn_tensor *x, *y;
    make_blobs(&x, &y, 200, 3);
    cn_layer *parts[2] = {linear(2, 1), act(CN_LAYER_SIGMOID)};
    cn_layer *net = chain(2, parts);
    cn_rng rng;
    cn_rng_seed(&rng, 1);
    CHECK_OK(cn_layer_init(net, CN_INIT_XAVIER_UNIFORM, 0, &rng));
    cn_optim *o = optimizer(CN_OPTIM_SGD, 0.5);
    cn_train_config tc = {.epochs = 50, .batch = 16, .seed = 2, .shuffle = true, .loss = CN_LOSS_BCE};
    cn_epoch_stats st;
    CHECK_OK(cn_train(net, o, x, y, &tc, &st));
    CHECK_NEAR(accuracy(net, x, y, CN_LOSS_BCE), 1.0, 0);
    CHECK_NEAR(st.accuracy, 1.0, 0);
    CHECK(st.loss < 0.05);
    cn_optim_free(o);
    cn_layer_release(net);
    cn_tensor_release(x);
    cn_tensor_release(y);
}

static void test_perceptron_step_is_rosenblatts_rule(void)
{
    /* one sample, batch 1, lr 1: w ← w + (t − step(w·x + b))·x */
    cn_layer *net = linear(2, 1);
    cn_tensor *p[2], *x, *y;
    cn_layer_params(net, p, NULL, 2);
    cn_tensor_data(p[0])[0] = 0.5f;
    cn_tensor_data(p[0])[1] = -1.0f;
    cn_tensor_data(p[1])[0] = 0.0f;
    CHECK_OK(cn_tensor_new2(1, 2, &x));
    CHECK_OK(cn_tensor_new2(1, 1, &y));
    cn_tensor_data(x)[0] = 1.0f;
    cn_tensor_data(x)[1] = 2.0f; /* score 0.5 − 2 = −1.5 → predicts 0 */
    cn_tensor_data(y)[0] = 1.0f;
    cn_optim *o = optimizer(CN_OPTIM_SGD, 1.0);
    cn_train_config tc = {.epochs = 1, .batch = 1, .seed = 1, .loss = CN_LOSS_PERCEPTRON};
    CHECK_OK(cn_train(net, o, x, y, &tc, NULL));
    CHECK_NEAR(cn_tensor_data(p[0])[0], 1.5, 1e-6);
    CHECK_NEAR(cn_tensor_data(p[0])[1], 1.0, 1e-6);
    CHECK_NEAR(cn_tensor_data(p[1])[0], 1.0, 1e-6);
    /* now classified correctly (score 1.5 + 2 + 1 > 0): a second epoch changes nothing */
    CHECK_OK(cn_train(net, o, x, y, &tc, NULL));
    CHECK_NEAR(cn_tensor_data(p[0])[0], 1.5, 1e-6);
    cn_optim_free(o);
    cn_layer_release(net);
    cn_tensor_release(x);
    cn_tensor_release(y);
}

static void test_perceptron_converges_on_separable_data(void)
{
    cn_tensor *x, *y;
    make_blobs(&x, &y, 200, 8);
    cn_layer *net = linear(2, 1);
    cn_optim *o = optimizer(CN_OPTIM_SGD, 1.0);
    cn_train_config tc = {.epochs = 100, .batch = 1, .seed = 4, .shuffle = true, .loss = CN_LOSS_PERCEPTRON};
    cn_epoch_stats st;
    CHECK_OK(cn_train(net, o, x, y, &tc, &st));
    CHECK_NEAR(accuracy(net, x, y, CN_LOSS_PERCEPTRON), 1.0, 0);
    cn_optim_free(o);
    cn_layer_release(net);
    cn_tensor_release(x);
    cn_tensor_release(y);
}

static cn_layer *mlp(int64_t in, int64_t hidden, int64_t out, uint64_t seed)
{
    cn_layer *parts[5] = {linear(in, hidden), act(CN_LAYER_TANH), linear(hidden, hidden),
                          act(CN_LAYER_RELU), linear(hidden, out)};
    cn_layer *net = chain(5, parts);
    cn_rng rng;
    cn_rng_seed(&rng, seed);
    cn_layer_init(net, CN_INIT_XAVIER_UNIFORM, 0, &rng);
    return net;
}

static void test_mlp_learns_xor(void)
{
    float xs[8] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[4] = {0, 1, 1, 0};
    cn_tensor *x, *y;
    CHECK_OK(cn_tensor_new2(4, 2, &x));
    CHECK_OK(cn_tensor_new(1, (int64_t[]){4}, &y));
    memcpy(cn_tensor_data(x), xs, sizeof xs);
    memcpy(cn_tensor_data(y), ys, sizeof ys);
    cn_layer *net = mlp(2, 8, 2, 1);
    cn_optim *o = optimizer(CN_OPTIM_ADAM, 0.05);
    cn_train_config tc = {.epochs = 300, .batch = 4, .seed = 1, .loss = CN_LOSS_SOFTMAX_CE};
    CHECK_OK(cn_train(net, o, x, y, &tc, NULL));
    CHECK_NEAR(accuracy(net, x, y, CN_LOSS_SOFTMAX_CE), 1.0, 0);
    cn_optim_free(o);
    cn_layer_release(net);
    cn_tensor_release(x);
    cn_tensor_release(y);
}

/* Three interleaved spiral arms (the cs231n toy problem), 100 points each. */
static void make_spiral(cn_tensor **x, cn_tensor **y)
{
    cn_rng rng;
    cn_rng_seed(&rng, 5);
    cn_tensor_new2(300, 2, x);
    cn_tensor_new(1, (int64_t[]){300}, y);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 100; i++) {
            double r = i / 99.0, t = c * 4.0 + 4.0 * r + 0.2 * cn_rng_normal(&rng);
            cn_tensor_data(*x)[2 * (c * 100 + i)] = (float)(r * sin(t));
            cn_tensor_data(*x)[2 * (c * 100 + i) + 1] = (float)(r * cos(t));
            cn_tensor_data(*y)[c * 100 + i] = (float)c;
        }
}

static void test_mlp_learns_spiral_linear_model_cannot(void)
{
    cn_tensor *x, *y;
    make_spiral(&x, &y);
    cn_layer *lin = linear(2, 3), *net = mlp(2, 64, 3, 2);
    cn_optim *o1 = optimizer(CN_OPTIM_ADAM, 0.02), *o2 = optimizer(CN_OPTIM_ADAM, 0.01);
    cn_train_config tc = {.epochs = 300, .batch = 32, .seed = 3, .shuffle = true, .loss = CN_LOSS_SOFTMAX_CE};
    CHECK_OK(cn_train(lin, o1, x, y, &tc, NULL));
    CHECK_OK(cn_train(net, o2, x, y, &tc, NULL));
    double acc_lin = accuracy(lin, x, y, CN_LOSS_SOFTMAX_CE), acc_mlp = accuracy(net, x, y, CN_LOSS_SOFTMAX_CE);
    printf("     spiral accuracy: linear softmax %.3f, MLP %.3f\n", acc_lin, acc_mlp);
    CHECK(acc_lin < 0.7);
    CHECK(acc_mlp > 0.97);
    cn_optim_free(o1);
    cn_optim_free(o2);
    cn_layer_release(lin);
    cn_layer_release(net);
    cn_tensor_release(x);
    cn_tensor_release(y);
}

/* Trains a fresh MLP on the spiral and returns a copy of all its weights. */
static float *train_and_copy(uint64_t seed, int threads, int64_t *count)
{
    cn_set_threads(threads);
    cn_tensor *x, *y;
    make_spiral(&x, &y);
    cn_layer *net = mlp(2, 64, 3, 7);
    cn_optim *o = optimizer(CN_OPTIM_ADAM, 0.01);
    cn_train_config tc = {.epochs = 5, .batch = 16, .seed = seed, .shuffle = true, .loss = CN_LOSS_SOFTMAX_CE};
    cn_train(net, o, x, y, &tc, NULL);
    *count = cn_layer_param_numel(net);
    float *w = malloc(sizeof(float) * (size_t)*count);
    cn_tensor *p[8];
    size_t np = cn_layer_params(net, p, NULL, 8), at = 0;
    for (size_t i = 0; i < np; i++) {
        memcpy(w + at, cn_tensor_data(p[i]), sizeof(float) * (size_t)cn_tensor_numel(p[i]));
        at += (size_t)cn_tensor_numel(p[i]);
    }
    cn_optim_free(o);
    cn_layer_release(net);
    cn_tensor_release(x);
    cn_tensor_release(y);
    cn_set_threads(1);
    return w;
}

static void test_same_seed_and_threads_give_identical_weights(void)
{
    for (int threads = 1; threads <= 2; threads++) {
        int64_t n1, n2, n3;
        float *a = train_and_copy(9, threads, &n1), *b = train_and_copy(9, threads, &n2);
        float *c = train_and_copy(10, threads, &n3);
        CHECK(n1 == n2 && memcmp(a, b, sizeof(float) * (size_t)n1) == 0);
        CHECK(memcmp(a, c, sizeof(float) * (size_t)n1) != 0);
        free(a);
        free(b);
        free(c);
    }
}

static int stop_after_three(const cn_epoch_stats *s, void *ud)
{
    *(int *)ud = s->epoch;
    return s->epoch >= 3;
}

static void test_callback_stops_training(void)
{
    cn_tensor *x, *y;
    make_spiral(&x, &y);
    cn_layer *net = mlp(2, 8, 3, 1);
    cn_optim *o = optimizer(CN_OPTIM_SGD, 0.1);
    int last = 0;
    cn_train_config tc = {.epochs = 50, .batch = 64, .seed = 1, .loss = CN_LOSS_SOFTMAX_CE,
                          .on_epoch = stop_after_three, .user_data = &last,
                          .schedule = {CN_SCHEDULE_STEP, 2, 0.1}};
    cn_epoch_stats st;
    CHECK(cn_train(net, o, x, y, &tc, &st) == CN_ECANCELLED);
    CHECK(last == 3 && st.epoch == 3);
    CHECK_NEAR(st.lr, 0.01, 1e-12); /* epoch 3 (index 2) of a step-2 schedule */
    CHECK_NEAR(cn_optim_get_lr(o), 0.1, 1e-12); /* base rate restored */
    cn_optim_free(o);
    cn_layer_release(net);
    cn_tensor_release(x);
    cn_tensor_release(y);
}

static void test_bad_training_input_is_refused(void)
{
    cn_tensor *x, *y;
    CHECK_OK(cn_tensor_new2(10, 2, &x));
    CHECK_OK(cn_tensor_new(1, (int64_t[]){9}, &y));
    cn_layer *net = linear(2, 2);
    cn_optim *o = optimizer(CN_OPTIM_SGD, 0.1);
    cn_train_config tc = {.epochs = 1, .batch = 4, .loss = CN_LOSS_SOFTMAX_CE};
    CHECK(cn_train(net, o, x, y, &tc, NULL) == CN_ESHAPE);
    tc.batch = 0;
    CHECK(cn_train(net, o, x, x, &tc, NULL) == CN_EINVAL);
    cn_optim_free(o);
    cn_layer_release(net);
    cn_tensor_release(x);
    cn_tensor_release(y);
}

int main(void)
{
    RUN(test_linear_regression_matches_least_squares);
    RUN(test_logistic_regression_separates_separable_data);
    RUN(test_perceptron_step_is_rosenblatts_rule);
    RUN(test_perceptron_converges_on_separable_data);
    RUN(test_mlp_learns_xor);
    RUN(test_mlp_learns_spiral_linear_model_cannot);
    RUN(test_same_seed_and_threads_give_identical_weights);
    RUN(test_callback_stops_training);
    RUN(test_bad_training_input_is_refused);
    return CHECK_EXIT();
}
