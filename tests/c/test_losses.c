/*
 * test_losses.c — each criterion's value against a hand computation, its gradient against
 * central differences, softmax cross-entropy's stability for huge logits, and target checks.
 */
#include "check.h"
#include "cropnet.h"

#include <string.h>

static cn_tensor *tensor(int ndim, const int64_t *dims, const float *values)
{
    cn_tensor *t = NULL;
    if (cn_tensor_new(ndim, dims, &t))
        return NULL;
    memcpy(cn_tensor_data(t), values, sizeof(float) * (size_t)cn_tensor_numel(t));
    return t;
}

static void check_loss_gradient(cn_loss_kind kind, cn_tensor *pred, cn_tensor *target)
{
    cn_tensor *g;
    CHECK_OK(cn_tensor_new(1, (int64_t[]){1}, &g));
    CHECK_OK(cn_loss_backward(kind, pred, target, g));
    float *p = cn_tensor_data(pred);
    for (int64_t i = 0; i < cn_tensor_numel(pred); i++) {
        float keep = p[i];
        double up, down;
        p[i] = keep + 1e-3f;
        CHECK_OK(cn_loss_forward(kind, pred, target, &up));
        p[i] = keep - 1e-3f;
        CHECK_OK(cn_loss_forward(kind, pred, target, &down));
        p[i] = keep;
        CHECK_NEAR(cn_tensor_data(g)[i], (up - down) / 2e-3, 1e-3 + 1e-2 * fabs((up - down) / 2e-3));
    }
    cn_tensor_release(g);
}

static void test_cross_entropy_value_and_gradient(void)
{
    float logits[6] = {1, 2, 3, 0.5f, -1, 0};
    float ids[2] = {2, 0};
    cn_tensor *x = tensor(2, (int64_t[]){2, 3}, logits), *t = tensor(1, (int64_t[]){2}, ids);
    double loss;
    CHECK_OK(cn_loss_forward(CN_LOSS_SOFTMAX_CE, x, t, &loss));
    double l1 = log(exp(1) + exp(2) + exp(3)) - 3, l2 = log(exp(0.5) + exp(-1) + exp(0)) - 0.5;
    CHECK_NEAR(loss, (l1 + l2) / 2, 1e-6);
    check_loss_gradient(CN_LOSS_SOFTMAX_CE, x, t);
    cn_tensor_release(x);
    cn_tensor_release(t);
}

static void test_cross_entropy_is_stable_for_huge_logits(void)
{
    float logits[3] = {1e4f, -1e4f, 0}, ids[1] = {1};
    cn_tensor *x = tensor(2, (int64_t[]){1, 3}, logits), *t = tensor(1, (int64_t[]){1}, ids), *g;
    double loss;
    CHECK_OK(cn_loss_forward(CN_LOSS_SOFTMAX_CE, x, t, &loss));
    CHECK_NEAR(loss, 2e4, 1e-3);
    CHECK_OK(cn_tensor_new(1, (int64_t[]){1}, &g));
    CHECK_OK(cn_loss_backward(CN_LOSS_SOFTMAX_CE, x, t, g));
    CHECK_NEAR(cn_tensor_data(g)[0], 1.0, 1e-6);
    CHECK_NEAR(cn_tensor_data(g)[1], -1.0, 1e-6);
    CHECK_NEAR(cn_tensor_data(g)[2], 0.0, 1e-6);
    cn_tensor_release(g);
    cn_tensor_release(x);
    cn_tensor_release(t);
}

static void test_cross_entropy_refuses_bad_class_ids(void)
{
    float logits[4] = {0}, bad[2][2] = {{0, 2}, {0, 0.5f}};
    cn_tensor *x = tensor(2, (int64_t[]){2, 2}, logits);
    for (int i = 0; i < 2; i++) {
        cn_tensor *t = tensor(1, (int64_t[]){2}, bad[i]);
        double loss;
        CHECK(cn_loss_forward(CN_LOSS_SOFTMAX_CE, x, t, &loss) == CN_EINVAL);
        CHECK(strstr(cn_last_error(), "row 2") != NULL);
        cn_tensor_release(t);
    }
    cn_tensor *short_t = tensor(1, (int64_t[]){1}, logits);
    double loss;
    CHECK(cn_loss_forward(CN_LOSS_SOFTMAX_CE, x, short_t, &loss) == CN_ESHAPE);
    cn_tensor_release(short_t);
    cn_tensor_release(x);
}

static void test_mse_value_and_gradient(void)
{
    float p[3] = {1, 2, 3}, t[3] = {1.5f, 2, 1};
    cn_tensor *x = tensor(1, (int64_t[]){3}, p), *y = tensor(1, (int64_t[]){3}, t);
    double loss;
    CHECK_OK(cn_loss_forward(CN_LOSS_MSE, x, y, &loss));
    CHECK_NEAR(loss, (0.25 + 0 + 4) / 3, 1e-6);
    check_loss_gradient(CN_LOSS_MSE, x, y);
    cn_tensor_release(x);
    cn_tensor_release(y);
}

static void test_bce_value_and_gradient(void)
{
    float p[4] = {0.9f, 0.2f, 0.6f, 0.3f}, t[4] = {1, 0, 0, 1};
    cn_tensor *x = tensor(1, (int64_t[]){4}, p), *y = tensor(1, (int64_t[]){4}, t);
    double loss;
    CHECK_OK(cn_loss_forward(CN_LOSS_BCE, x, y, &loss));
    CHECK_NEAR(loss, -(log(0.9) + log(0.8) + log(0.4) + log(0.3)) / 4, 1e-6);
    check_loss_gradient(CN_LOSS_BCE, x, y);
    /* saturated probabilities stay finite */
    cn_tensor_data(x)[0] = 0.0f;
    CHECK_OK(cn_loss_forward(CN_LOSS_BCE, x, y, &loss));
    CHECK(isfinite(loss));
    cn_tensor_release(x);
    cn_tensor_release(y);
}

static void test_perceptron_gradient_is_rosenblatt_error(void)
{
    float s[4] = {0.5f, -0.5f, 0.5f, -0.5f}, t[4] = {1, 1, 0, 0};
    cn_tensor *x = tensor(2, (int64_t[]){4, 1}, s), *y = tensor(1, (int64_t[]){4}, t), *g;
    double loss;
    CHECK_OK(cn_loss_forward(CN_LOSS_PERCEPTRON, x, y, &loss));
    CHECK_NEAR(loss, (0 + 0.5 + 0.5 + 0) / 4, 1e-6);
    CHECK_OK(cn_tensor_new(1, (int64_t[]){1}, &g));
    CHECK_OK(cn_loss_backward(CN_LOSS_PERCEPTRON, x, y, g));
    float want[4] = {0, -0.25f, 0.25f, 0}; /* (step(s) - t) / N */
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(cn_tensor_data(g)[i], want[i], 1e-7);
    check_loss_gradient(CN_LOSS_PERCEPTRON, x, y);
    cn_tensor_release(g);
    cn_tensor_release(x);
    cn_tensor_release(y);
}

int main(void)
{
    RUN(test_cross_entropy_value_and_gradient);
    RUN(test_cross_entropy_is_stable_for_huge_logits);
    RUN(test_cross_entropy_refuses_bad_class_ids);
    RUN(test_mse_value_and_gradient);
    RUN(test_bce_value_and_gradient);
    RUN(test_perceptron_gradient_is_rosenblatt_error);
    return CHECK_EXIT();
}
