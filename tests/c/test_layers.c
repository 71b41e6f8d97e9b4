/*
 * test_layers.c — every dense layer's forward against hand-computed values and its backward pass
 * against central finite differences (gradcheck.h: input and parameter gradients), plus shape
 * errors that name both sizes.
 */
#include "check.h"
#include "cropnet.h"
#include "gradcheck.h"

#include <stdlib.h>
#include <string.h>

static void check_layer_gradients(cn_layer *layer, int64_t n, int64_t d)
{
    gc_check(layer, 2, (int64_t[]){n, d}, 99);
}

static cn_layer *activation(cn_layer_kind kind, float param)
{
    cn_layer *l = NULL;
    CHECK_OK(cn_activation_new(kind, param, &l));
    return l;
}

static void test_linear_gradients(void)
{
    cn_layer *l;
    CHECK_OK(cn_linear_new(7, 5, &l));
    check_layer_gradients(l, 4, 7);
    cn_layer_release(l);
}

static void test_activation_gradients(void)
{
    cn_layer_kind kinds[] = {CN_LAYER_SIGMOID, CN_LAYER_TANH, CN_LAYER_RELU, CN_LAYER_LEAKY_RELU,
                             CN_LAYER_ELU, CN_LAYER_STEP};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        check_current = cn_layer_kind_name(kinds[i]);
        cn_layer *l = activation(kinds[i], kinds[i] == CN_LAYER_ELU ? 0.7f : 0.05f);
        check_layer_gradients(l, 3, 6);
        cn_layer_release(l);
    }
}

static void test_sequential_mlp_gradients(void)
{
    cn_layer *seq, *inner, *a, *b;
    CHECK_OK(cn_sequential_new(&seq));
    CHECK_OK(cn_sequential_new(&inner));
    CHECK_OK(cn_linear_new(6, 8, &a));
    CHECK_OK(cn_linear_new(8, 3, &b));
    cn_layer *t = activation(CN_LAYER_TANH, 0), *e = activation(CN_LAYER_ELU, 1.0f);
    CHECK_OK(cn_sequential_add(seq, a));
    CHECK_OK(cn_sequential_add(inner, t));
    CHECK_OK(cn_sequential_add(inner, b));
    CHECK_OK(cn_sequential_add(seq, inner));
    CHECK_OK(cn_sequential_add(seq, e));
    CHECK(cn_layer_params(seq, NULL, NULL, 0) == 4);
    CHECK(cn_layer_param_numel(seq) == 6 * 8 + 8 + 8 * 3 + 3);
    check_layer_gradients(seq, 5, 6);
    /* cycles and double use are refused */
    CHECK(cn_sequential_add(inner, seq) == CN_EINVAL);
    CHECK(cn_sequential_add(seq, a) == CN_EINVAL);
    cn_layer_release(a);
    cn_layer_release(b);
    cn_layer_release(t);
    cn_layer_release(e);
    cn_layer_release(inner);
    cn_layer_release(seq);
}

static void test_activation_values(void)
{
    float xs[4] = {-2.0f, -0.5f, 0.0f, 1.5f};
    cn_tensor *x, *y;
    CHECK_OK(cn_tensor_new(1, (int64_t[]){4}, &x));
    memcpy(cn_tensor_data(x), xs, sizeof xs);
    struct { cn_layer_kind kind; float param; float want[4]; } cases[] = {
        {CN_LAYER_SIGMOID, 0, {0.11920292f, 0.37754067f, 0.5f, 0.81757448f}},
        {CN_LAYER_TANH, 0, {-0.96402758f, -0.46211716f, 0.0f, 0.90514825f}},
        {CN_LAYER_RELU, 0, {0, 0, 0, 1.5f}},
        {CN_LAYER_LEAKY_RELU, 0.01f, {-0.02f, -0.005f, 0, 1.5f}},
        {CN_LAYER_ELU, 1.0f, {-0.86466472f, -0.39346934f, 0, 1.5f}},
        {CN_LAYER_STEP, 0, {0, 0, 0, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        cn_layer *l = activation(cases[c].kind, cases[c].param);
        CHECK_OK(cn_layer_forward(l, x, &y));
        for (int i = 0; i < 4; i++)
            CHECK_NEAR(cn_tensor_data(y)[i], cases[c].want[i], 1e-6);
        cn_layer_release(l);
    }
    cn_tensor_release(x);
}

static void test_linear_forward_values(void)
{
    cn_layer *l;
    CHECK_OK(cn_linear_new(2, 2, &l));
    cn_tensor *p[2], *x, *y;
    cn_layer_params(l, p, NULL, 2);
    float w[4] = {1, 2, 3, 4}, b[2] = {0.5f, -1};
    memcpy(cn_tensor_data(p[0]), w, sizeof w);
    memcpy(cn_tensor_data(p[1]), b, sizeof b);
    CHECK_OK(cn_tensor_new(1, (int64_t[]){2}, &x));
    cn_tensor_data(x)[0] = 1;
    cn_tensor_data(x)[1] = -1;
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK(cn_tensor_ndim(y) == 1);
    CHECK_NEAR(cn_tensor_data(y)[0], -0.5, 1e-6); /* 1 - 2 + 0.5 */
    CHECK_NEAR(cn_tensor_data(y)[1], -2.0, 1e-6); /* 3 - 4 - 1 */
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void test_shape_errors_name_both_sizes(void)
{
    cn_layer *l;
    CHECK_OK(cn_linear_new(204, 16, &l));
    cn_tensor *x, *y = NULL;
    CHECK_OK(cn_tensor_new2(8, 200, &x));
    CHECK(cn_layer_forward(l, x, &y) == CN_ESHAPE);
    CHECK(strstr(cn_last_error(), "(8 x 200)") && strstr(cn_last_error(), "204"));
    CHECK(cn_linear_new(0, 3, &l) == CN_EINVAL);
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void test_bad_activation_parameters_are_refused(void)
{
    cn_layer *l = NULL;
    CHECK(cn_activation_new(CN_LAYER_ELU, -1.0f, &l) == CN_EINVAL);
    CHECK(cn_activation_new(CN_LAYER_LEAKY_RELU, NAN, &l) == CN_EINVAL);
    CHECK(cn_activation_new(CN_LAYER_LINEAR, 0, &l) == CN_EINVAL);
    CHECK(l == NULL);
}

static void test_initialisers_have_their_variance(void)
{
    cn_layer *l;
    CHECK_OK(cn_linear_new(300, 200, &l));
    cn_tensor *p[2];
    cn_layer_params(l, p, NULL, 2);
    cn_rng rng;
    cn_rng_seed(&rng, 5);
    struct { cn_init_kind kind; double var; double bound; } cases[] = {
        {CN_INIT_GAUSSIAN, 0.25, 0},
        {CN_INIT_XAVIER_UNIFORM, 2.0 / 500, sqrt(6.0 / 500)},
        {CN_INIT_XAVIER_NORMAL, 2.0 / 500, 0},
        {CN_INIT_HE_NORMAL, 2.0 / 300, 0},
        {CN_INIT_HE_UNIFORM, 2.0 / 300, sqrt(6.0 / 300)},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        CHECK_OK(cn_layer_init(l, cases[c].kind, 0.5f, &rng));
        double s = 0, s2 = 0, worst = 0;
        int64_t n = cn_tensor_numel(p[0]);
        for (int64_t i = 0; i < n; i++) {
            double v = cn_tensor_data(p[0])[i];
            s += v;
            s2 += v * v;
            worst = fabs(v) > worst ? fabs(v) : worst;
        }
        CHECK_NEAR(s / n, 0.0, 0.01 * sqrt(cases[c].var) * 10);
        CHECK_NEAR(s2 / n, cases[c].var, 0.03 * cases[c].var);
        if (cases[c].bound > 0)
            CHECK(worst <= cases[c].bound);
        CHECK(cn_tensor_data(p[1])[0] == 0);
    }
    cn_layer_release(l);
}

static void test_backward_refuses_an_input_of_another_batch(void)
{
    cn_layer *seq, *a, *r;
    CHECK_OK(cn_sequential_new(&seq));
    CHECK_OK(cn_linear_new(3, 4, &a));
    CHECK_OK(cn_activation_new(CN_LAYER_RELU, 0, &r));
    CHECK_OK(cn_sequential_add(seq, a));
    CHECK_OK(cn_sequential_add(seq, r));
    cn_tensor *x, *big, *y, *gx;
    CHECK_OK(cn_tensor_new2(2, 3, &x));
    CHECK_OK(cn_tensor_new2(50, 3, &big));
    CHECK_OK(cn_layer_forward(seq, x, &y));
    cn_tensor *g;
    CHECK_OK(cn_tensor_new2(2, 4, &g));
    CHECK_OK(cn_layer_forward(a, big, &y)); /* the child alone, on another batch */
    CHECK(cn_layer_backward(seq, x, g, &gx) == CN_ESHAPE);
    CHECK(cn_layer_backward(a, x, g, &gx) == CN_ESHAPE);
    cn_tensor_release(x);
    cn_tensor_release(big);
    cn_tensor_release(g);
    cn_layer_release(a);
    cn_layer_release(r);
    cn_layer_release(seq);
}

static void test_sequential_from_shares_the_children_from_an_index(void)
{
    cn_layer *seq, *l[3], *tail;
    CHECK_OK(cn_sequential_new(&seq));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(cn_activation_new(CN_LAYER_RELU, 0, &l[i]));
        CHECK_OK(cn_sequential_add(seq, l[i]));
        cn_layer_release(l[i]);
    }
    CHECK_OK(cn_sequential_from(seq, 1, &tail));
    CHECK(cn_sequential_count(tail) == 2);
    CHECK(cn_sequential_child(tail, 0) == l[1] && cn_sequential_child(tail, 1) == l[2]);
    cn_layer_release(seq); /* the tail holds its own references */
    CHECK(cn_layer_kind_of(cn_sequential_child(tail, 1)) == CN_LAYER_RELU);
    cn_layer *empty;
    CHECK_OK(cn_sequential_from(tail, 5, &empty));
    CHECK(cn_sequential_count(empty) == 0);
    cn_layer *out = NULL;
    CHECK(cn_sequential_from(cn_sequential_child(tail, 0), 0, &out) == CN_EINVAL && !out);
    cn_layer_release(empty);
    cn_layer_release(tail);
}

int main(void)
{
    RUN(test_backward_refuses_an_input_of_another_batch);
    RUN(test_linear_gradients);
    RUN(test_activation_gradients);
    RUN(test_sequential_mlp_gradients);
    RUN(test_sequential_from_shares_the_children_from_an_index);
    RUN(test_activation_values);
    RUN(test_linear_forward_values);
    RUN(test_shape_errors_name_both_sizes);
    RUN(test_bad_activation_parameters_are_refused);
    RUN(test_initialisers_have_their_variance);
    return CHECK_EXIT();
}
