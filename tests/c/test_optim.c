/*
 * test_optim.c — the optimizers follow Torch optim's update formulas step by step, validate their
 * configuration as Torch does, decrease the loss on a fixed problem, and the learning-rate
 * schedules give the documented rates.
 */
#include "check.h"
#include "cropnet.h"

#include <string.h>

/* A one-weight network (Linear 1 → 1) whose parameters and gradients we set by hand. */
typedef struct { cn_layer *net; cn_tensor *p[2], *g[2]; } scalar_net;

static scalar_net make_scalar(float w, float b)
{
    scalar_net s;
    cn_linear_new(1, 1, &s.net);
    cn_layer_params(s.net, s.p, s.g, 2);
    cn_tensor_data(s.p[0])[0] = w;
    cn_tensor_data(s.p[1])[0] = b;
    return s;
}

static void set_grads(scalar_net *s, float gw, float gb)
{
    cn_tensor_data(s->g[0])[0] = gw;
    cn_tensor_data(s->g[1])[0] = gb;
}

static double weight(scalar_net *s) { return cn_tensor_data(s->p[0])[0]; }

static void test_sgd_momentum_uses_torch_dampening(void)
{
    cn_optim_config c;
    cn_optim_defaults(CN_OPTIM_SGD, &c);
    c.lr = 0.1;
    c.momentum = 0.9; /* dampening left at Torch's default: equal to momentum */
    cn_optim *o;
    CHECK_OK(cn_optim_new(CN_OPTIM_SGD, &c, &o));
    CHECK_NEAR(cn_optim_get_config(o)->dampening, 0.9, 1e-12);
    scalar_net s = make_scalar(1.0f, 0.0f);
    set_grads(&s, 2.0f, 0.0f);
    CHECK_OK(cn_optim_step(o, s.net)); /* buf = g = 2; w = 1 - 0.1·2 */
    CHECK_NEAR(weight(&s), 0.8, 1e-6);
    set_grads(&s, 1.0f, 0.0f);
    CHECK_OK(cn_optim_step(o, s.net)); /* buf = 0.9·2 + 0.1·1 = 1.9; w = 0.8 - 0.19 */
    CHECK_NEAR(weight(&s), 0.61, 1e-6);
    cn_optim_free(o);
    cn_layer_release(s.net);
}

static void test_nesterov_and_weight_decay(void)
{
    cn_optim_config c;
    cn_optim_defaults(CN_OPTIM_SGD, &c);
    c.lr = 0.1;
    c.momentum = 0.5;
    c.dampening = 0;
    c.nesterov = true;
    c.weight_decay = 0.1;
    cn_optim *o;
    CHECK_OK(cn_optim_new(CN_OPTIM_SGD, &c, &o));
    scalar_net s = make_scalar(2.0f, 0.0f);
    set_grads(&s, 1.0f, 0.0f);
    /* d = 1 + 0.1·2 = 1.2; buf = 1.2; d' = 1.2 + 0.5·1.2 = 1.8; w = 2 - 0.18 */
    CHECK_OK(cn_optim_step(o, s.net));
    CHECK_NEAR(weight(&s), 1.82, 1e-6);
    set_grads(&s, 1.0f, 0.0f);
    /* d = 1 + 0.182 = 1.182; buf = 0.6 + 1.182 = 1.782; d' = 1.182 + 0.891 = 2.073 */
    CHECK_OK(cn_optim_step(o, s.net));
    CHECK_NEAR(weight(&s), 1.82 - 0.2073, 1e-6);
    cn_optim_free(o);
    cn_layer_release(s.net);
}

static void test_learning_rate_decay(void)
{
    cn_optim_config c;
    cn_optim_defaults(CN_OPTIM_SGD, &c);
    c.lr = 1.0;
    c.lr_decay = 1.0;
    cn_optim *o;
    CHECK_OK(cn_optim_new(CN_OPTIM_SGD, &c, &o));
    scalar_net s = make_scalar(0.0f, 0.0f);
    set_grads(&s, 1.0f, 0.0f);
    CHECK_OK(cn_optim_step(o, s.net)); /* lr 1/(1+0) */
    CHECK_OK(cn_optim_step(o, s.net)); /* lr 1/(1+1) */
    CHECK_NEAR(weight(&s), -1.5, 1e-6);
    cn_optim_free(o);
    cn_layer_release(s.net);
}

static void test_rmsprop_formula(void)
{
    cn_optim_config c;
    cn_optim_defaults(CN_OPTIM_RMSPROP, &c);
    CHECK_NEAR(c.lr, 1e-2, 1e-12);
    CHECK_NEAR(c.alpha, 0.99, 1e-12);
    cn_optim *o;
    CHECK_OK(cn_optim_new(CN_OPTIM_RMSPROP, &c, &o));
    scalar_net s = make_scalar(1.0f, 0.0f);
    set_grads(&s, 2.0f, 0.0f);
    CHECK_OK(cn_optim_step(o, s.net)); /* m = 0.01·4 = 0.04; w -= 0.01·2/(0.2 + 1e-8) */
    CHECK_NEAR(weight(&s), 0.9, 1e-6);
    cn_optim_free(o);
    cn_layer_release(s.net);
}

static void test_adam_formula(void)
{
    cn_optim_config c;
    cn_optim_defaults(CN_OPTIM_ADAM, &c);
    CHECK_NEAR(c.lr, 1e-3, 1e-12);
    CHECK_NEAR(c.beta1, 0.9, 1e-12);
    CHECK_NEAR(c.beta2, 0.999, 1e-12);
    CHECK_NEAR(c.eps, 1e-8, 1e-20);
    cn_optim *o;
    CHECK_OK(cn_optim_new(CN_OPTIM_ADAM, &c, &o));
    scalar_net s = make_scalar(1.0f, 0.0f);
    double w = 1, m = 0, v = 0;
    float grads[3] = {0.5f, -1.0f, 2.0f};
    for (int t = 1; t <= 3; t++) {
        set_grads(&s, grads[t - 1], 0.0f);
        CHECK_OK(cn_optim_step(o, s.net));
        m = 0.9 * m + 0.1 * grads[t - 1];
        v = 0.999 * v + 0.001 * grads[t - 1] * grads[t - 1];
        double step = 1e-3 * sqrt(1 - pow(0.999, t)) / (1 - pow(0.9, t));
        w -= step * m / (sqrt(v) + 1e-8);
        CHECK_NEAR(weight(&s), w, 1e-6);
    }
    cn_optim_free(o);
    cn_layer_release(s.net);
}

static void test_invalid_configurations_are_refused(void)
{
    cn_optim_config c;
    cn_optim *o = NULL;
    cn_optim_defaults(CN_OPTIM_SGD, &c);
    c.nesterov = true; /* without momentum */
    CHECK(cn_optim_new(CN_OPTIM_SGD, &c, &o) == CN_EINVAL);
    CHECK(strstr(cn_last_error(), "Nesterov") != NULL);
    c.momentum = 0.9; /* dampening defaults to 0.9: still refused, as in Torch */
    CHECK(cn_optim_new(CN_OPTIM_SGD, &c, &o) == CN_EINVAL);
    cn_optim_defaults(CN_OPTIM_ADAM, &c);
    c.lr = -1;
    CHECK(cn_optim_new(CN_OPTIM_ADAM, &c, &o) == CN_EINVAL);
    cn_optim_defaults(CN_OPTIM_ADAM, &c);
    c.beta2 = 1.0;
    CHECK(cn_optim_new(CN_OPTIM_ADAM, &c, &o) == CN_EINVAL);
    CHECK(o == NULL);
}

static void test_state_layout_change_is_refused(void)
{
    cn_optim_config c;
    cn_optim_defaults(CN_OPTIM_ADAM, &c);
    cn_optim *o;
    CHECK_OK(cn_optim_new(CN_OPTIM_ADAM, &c, &o));
    scalar_net a = make_scalar(1, 0);
    cn_layer *b;
    CHECK_OK(cn_linear_new(3, 2, &b));
    CHECK_OK(cn_optim_step(o, a.net));
    CHECK(cn_optim_step(o, b) == CN_ESHAPE);
    cn_optim_free(o);
    cn_layer_release(a.net);
    cn_layer_release(b);
}

/* y = 3x - 1 on 64 points; the loss after 30 epochs must be below the loss before. */
static void test_every_optimizer_decreases_the_loss(void)
{
    cn_tensor *x, *y;
    CHECK_OK(cn_tensor_new2(64, 1, &x));
    CHECK_OK(cn_tensor_new2(64, 1, &y));
    for (int i = 0; i < 64; i++) {
        cn_tensor_data(x)[i] = (float)i / 32.0f - 1.0f;
        cn_tensor_data(y)[i] = 3.0f * cn_tensor_data(x)[i] - 1.0f;
    }
    struct { cn_optim_kind kind; double lr, momentum, dampening; bool nesterov; const char *name; } cases[] = {
        {CN_OPTIM_SGD, 0.05, 0, -1, false, "sgd"},
        {CN_OPTIM_SGD, 0.05, 0.9, 0, false, "momentum"},
        {CN_OPTIM_SGD, 0.05, 0.9, 0, true, "nesterov"},
        {CN_OPTIM_RMSPROP, 0.01, 0, -1, false, "rmsprop"},
        {CN_OPTIM_ADAM, 0.05, 0, -1, false, "adam"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        check_current = cases[k].name;
        scalar_net s = make_scalar(0, 0);
        cn_optim_config c;
        cn_optim_defaults(cases[k].kind, &c);
        c.lr = cases[k].lr;
        c.momentum = cases[k].momentum;
        c.dampening = cases[k].dampening;
        c.nesterov = cases[k].nesterov;
        cn_optim *o;
        CHECK_OK(cn_optim_new(cases[k].kind, &c, &o));
        cn_tensor *out;
        double before, after;
        CHECK_OK(cn_layer_forward(s.net, x, &out));
        CHECK_OK(cn_loss_forward(CN_LOSS_MSE, out, y, &before));
        cn_train_config tc = {.epochs = 30, .batch = 8, .seed = 1, .shuffle = true, .loss = CN_LOSS_MSE};
        CHECK_OK(cn_train(s.net, o, x, y, &tc, NULL));
        CHECK_OK(cn_layer_forward(s.net, x, &out));
        CHECK_OK(cn_loss_forward(CN_LOSS_MSE, out, y, &after));
        CHECK(after < 0.1 * before);
        cn_optim_free(o);
        cn_layer_release(s.net);
    }
    cn_tensor_release(x);
    cn_tensor_release(y);
}

static void test_schedules(void)
{
    cn_schedule step = {CN_SCHEDULE_STEP, 10, 0.5}, ex = {CN_SCHEDULE_EXP, 0, 0.9};
    CHECK_NEAR(cn_schedule_lr(&step, 1.0, 0), 1.0, 1e-12);
    CHECK_NEAR(cn_schedule_lr(&step, 1.0, 9), 1.0, 1e-12);
    CHECK_NEAR(cn_schedule_lr(&step, 1.0, 10), 0.5, 1e-12);
    CHECK_NEAR(cn_schedule_lr(&step, 1.0, 25), 0.25, 1e-12);
    CHECK_NEAR(cn_schedule_lr(&ex, 2.0, 3), 2.0 * 0.729, 1e-12);
}

int main(void)
{
    RUN(test_sgd_momentum_uses_torch_dampening);
    RUN(test_nesterov_and_weight_decay);
    RUN(test_learning_rate_decay);
    RUN(test_rmsprop_formula);
    RUN(test_adam_formula);
    RUN(test_invalid_configurations_are_refused);
    RUN(test_state_layout_change_is_refused);
    RUN(test_every_optimizer_decreases_the_loss);
    RUN(test_schedules);
    return CHECK_EXIT();
}
