/*
 * test_residual.c — the residual block: the sum of its branches, gradients through both
 * (identity and projection shortcuts) against finite differences, and the refusals of branches
 * that do not fit together.
 */
#include "gradcheck.h"

static cn_layer *conv2(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t pad)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, in, out, k);
    s.stride[0] = s.stride[1] = stride;
    s.padding[0] = s.padding[1] = pad;
    cn_layer *l = NULL;
    CHECK_OK(cn_conv_new(&s, &l));
    return l;
}

static void the_identity_block_adds_its_input(void)
{
    cn_layer *inner = conv2(2, 2, 3, 1, 1), *r = NULL;
    CHECK_OK(cn_residual_new(inner, NULL, &r));
    cn_rng rng;
    cn_rng_seed(&rng, 1);
    CHECK_OK(cn_layer_init(r, CN_INIT_HE_NORMAL, 0, &rng));
    cn_tensor *x = gc_random(4, (int64_t[]){2, 2, 4, 4}, &rng), *yr = NULL, *yi = NULL;
    CHECK_OK(cn_layer_forward(r, x, &yr));
    CHECK_OK(cn_layer_forward(inner, x, &yi));
    for (int64_t i = 0; i < cn_tensor_numel(x); i++)
        CHECK_NEAR(cn_tensor_cdata(yr)[i], cn_tensor_cdata(yi)[i] + cn_tensor_cdata(x)[i], 1e-6);
    CHECK(cn_residual_inner(r) == inner && cn_residual_projection(r) == NULL);
    cn_tensor_release(x);
    cn_layer_release(inner);
    cn_layer_release(r);
}

static void identity_block_gradients_match_finite_differences(void)
{
    cn_layer *inner = NULL, *r = NULL, *a = conv2(3, 3, 3, 1, 1), *t = NULL;
    CHECK_OK(cn_sequential_new(&inner));
    CHECK_OK(cn_activation_new(CN_LAYER_TANH, 0, &t));
    CHECK_OK(cn_sequential_add(inner, a));
    CHECK_OK(cn_sequential_add(inner, t));
    CHECK_OK(cn_residual_new(inner, NULL, &r));
    gc_check(r, 4, (int64_t[]){2, 3, 4, 4}, 1);
    cn_layer_release(a);
    cn_layer_release(t);
    cn_layer_release(inner);
    cn_layer_release(r);
}

static void projection_block_gradients_match_finite_differences(void)
{
    /* downsampling: 3 × 3 stride 2 beside a 1 × 1 stride-2 projection, 5 × 5 → 3 × 3 */
    cn_layer *inner = conv2(2, 4, 3, 2, 1), *proj = conv2(2, 4, 1, 2, 0), *r = NULL;
    CHECK_OK(cn_residual_new(inner, proj, &r));
    CHECK(cn_layer_params(r, NULL, NULL, 0) == 4);
    gc_check(r, 4, (int64_t[]){2, 2, 5, 5}, 2);
    cn_layer_release(inner);
    cn_layer_release(proj);
    cn_layer_release(r);
}

static void branches_of_different_sizes_are_refused_naming_both(void)
{
    cn_layer *inner = conv2(2, 4, 3, 1, 0), *r = NULL;
    CHECK_OK(cn_residual_new(inner, NULL, &r));
    cn_tensor *x = NULL, *y = NULL;
    CHECK_OK(cn_tensor_new(4, (int64_t[]){1, 2, 5, 5}, &x));
    CHECK(cn_layer_forward(r, x, &y) == CN_ESHAPE);
    CHECK(gc_message_has((const char *const[]){"(1 x 4 x 3 x 3)", "(1 x 2 x 5 x 5)", NULL}));
    cn_tensor_release(x);
    cn_layer_release(inner);
    cn_layer_release(r);
}

static void blocks_that_would_share_a_layer_are_refused(void)
{
    cn_layer *a = conv2(2, 2, 1, 1, 0), *seq = NULL, *r = NULL;
    CHECK(cn_residual_new(NULL, a, &r) == CN_EINVAL);
    CHECK(cn_residual_new(a, a, &r) == CN_EINVAL);
    CHECK_OK(cn_sequential_new(&seq));
    CHECK_OK(cn_sequential_add(seq, a));
    CHECK(cn_residual_new(seq, a, &r) == CN_EINVAL); /* a inside inner */
    CHECK(r == NULL);
    /* a container may not hold a block that holds the container */
    CHECK_OK(cn_residual_new(seq, NULL, &r));
    CHECK(cn_sequential_add(seq, r) == CN_EINVAL);
    cn_layer_release(r);
    cn_layer_release(seq);
    cn_layer_release(a);
}

int main(void)
{
    RUN(the_identity_block_adds_its_input);
    RUN(identity_block_gradients_match_finite_differences);
    RUN(projection_block_gradients_match_finite_differences);
    RUN(branches_of_different_sizes_are_refused_naming_both);
    RUN(blocks_that_would_share_a_layer_are_refused);
    return CHECK_EXIT();
}
