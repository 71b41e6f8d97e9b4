/*
 * test_pool.c — max and average pooling, global average pooling, flatten and view: values
 * against hand computation, gradients against finite differences, output sizes and refusals.
 */
#include "gradcheck.h"

static cn_layer *pool(cn_layer_kind kind, int64_t k, int64_t s, int64_t p, bool floor)
{
    cn_pool_spec spec = {{k, k}, {s, s}, {p, p}, floor};
    cn_layer *l = NULL;
    CHECK_OK(cn_pool_new(kind, &spec, &l));
    return l;
}

/* A 1 × 1 × 4 × 4 input holding 1 .. 16 in row-major order. */
static cn_tensor *ramp16(void)
{
    cn_tensor *x = NULL;
    CHECK_OK(cn_tensor_new(4, (int64_t[]){1, 1, 4, 4}, &x));
    for (int i = 0; i < 16; i++)
        cn_tensor_data(x)[i] = (float)(i + 1);
    return x;
}

static void max_pool_takes_the_largest_of_each_window(void)
{
    cn_layer *l = pool(CN_LAYER_MAX_POOL2D, 2, 0, 0, false); /* stride 0: the kernel */
    cn_tensor *x = ramp16(), *y = NULL;
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK(cn_tensor_dim(y, 2) == 2 && cn_tensor_dim(y, 3) == 2);
    const float want[4] = {6, 8, 14, 16};
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(cn_tensor_cdata(y)[i], want[i], 0);
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void max_pool_sends_the_gradient_to_the_argmax(void)
{
    cn_layer *l = pool(CN_LAYER_MAX_POOL2D, 2, 2, 0, false);
    cn_tensor *x = ramp16(), *y = NULL, *g = NULL, *gx = NULL;
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK_OK(cn_tensor_new(4, (int64_t[]){1, 1, 2, 2}, &g));
    cn_tensor_fill(g, 1.0f);
    CHECK_OK(cn_layer_backward(l, x, g, &gx));
    for (int i = 0; i < 16; i++) {
        bool hit = i == 5 || i == 7 || i == 13 || i == 15;
        CHECK_NEAR(cn_tensor_cdata(gx)[i], hit ? 1.0 : 0.0, 0);
    }
    cn_tensor_release(x);
    cn_tensor_release(g);
    cn_layer_release(l);
}

static void max_pool_never_picks_padding(void)
{
    /* all values negative: a zero from the padding would win if it were considered */
    cn_layer *l = pool(CN_LAYER_MAX_POOL2D, 3, 1, 1, false);
    cn_tensor *x = ramp16(), *y = NULL;
    for (int i = 0; i < 16; i++)
        cn_tensor_data(x)[i] = -cn_tensor_data(x)[i];
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK(cn_tensor_dim(y, 2) == 4 && cn_tensor_dim(y, 3) == 4);
    CHECK_NEAR(cn_tensor_cdata(y)[0], -1.0, 0);  /* window rows 0-1, cols 0-1 */
    CHECK_NEAR(cn_tensor_cdata(y)[15], -11.0, 0); /* rows 2-3, cols 2-3 */
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void average_pool_divides_by_the_whole_window(void)
{
    cn_layer *l = pool(CN_LAYER_AVG_POOL2D, 2, 2, 0, false);
    cn_tensor *x = ramp16(), *y = NULL;
    CHECK_OK(cn_layer_forward(l, x, &y));
    const float want[4] = {3.5f, 5.5f, 11.5f, 13.5f};
    for (int i = 0; i < 4; i++)
        CHECK_NEAR(cn_tensor_cdata(y)[i], want[i], 1e-6);
    cn_layer_release(l);
    /* padded: the corner window holds 1, 2, 5, 6 and five zeros of padding */
    l = pool(CN_LAYER_AVG_POOL2D, 3, 1, 1, false);
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK_NEAR(cn_tensor_cdata(y)[0], 14.0 / 9.0, 1e-6);
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void pooling_gradients_match_finite_differences(void)
{
    cn_rng rng;
    cn_rng_seed(&rng, 3);
    cn_tensor *x = gc_distinct(4, (int64_t[]){2, 3, 6, 6}, &rng);
    cn_layer *l = pool(CN_LAYER_MAX_POOL2D, 3, 1, 1, false);
    check_current = "max pool 3, stride 1, pad 1";
    gc_check_at(l, x, 1);
    cn_layer_release(l);
    l = pool(CN_LAYER_MAX_POOL2D, 2, 2, 0, true);
    cn_tensor *x9 = gc_distinct(4, (int64_t[]){2, 2, 9, 9}, &rng);
    check_current = "max pool 2, floor, 9 x 9";
    gc_check_at(l, x9, 2);
    cn_layer_release(l);
    l = pool(CN_LAYER_AVG_POOL2D, 2, 2, 1, false); /* (6 - 2 + 2)/2 + 1 = 4 */
    check_current = "average pool 2, stride 2, pad 1";
    gc_check_at(l, x, 3);
    cn_layer_release(l);
    cn_tensor_release(x);
    cn_tensor_release(x9);
}

static void a_pool_stride_that_does_not_fit_is_refused(void)
{
    cn_layer *l = pool(CN_LAYER_MAX_POOL2D, 2, 2, 0, false);
    cn_tensor *x = NULL, *y = NULL;
    CHECK_OK(cn_tensor_new(4, (int64_t[]){1, 64, 9, 9}, &x));
    CHECK(cn_layer_forward(l, x, &y) == CN_ESHAPE);
    CHECK(gc_message_has((const char *const[]){"max_pool2d", "(9 - 2 + 2*0) / 2 + 1", "7/2",
                                               NULL}));
    cn_layer_release(l);
    /* in floor mode, Torch's 9 -> 4 */
    l = pool(CN_LAYER_MAX_POOL2D, 2, 2, 0, true);
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK(cn_tensor_dim(y, 2) == 4 && cn_tensor_dim(y, 3) == 4);
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void a_pool_larger_than_its_input_is_refused_in_torch_words(void)
{
    cn_layer *l = pool(CN_LAYER_AVG_POOL2D, 5, 5, 0, false);
    cn_tensor *x = NULL, *y = NULL;
    CHECK_OK(cn_tensor_new(4, (int64_t[]){1, 3, 4, 4}, &x));
    CHECK(cn_layer_forward(l, x, &y) == CN_ESHAPE);
    CHECK(gc_message_has((const char *const[]){"Given input size: (3 x 4 x 4)",
                                               "Calculated output size: (3 x 0 x 0)",
                                               "Output size is too small", NULL}));
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void pool_specs_are_checked(void)
{
    cn_pool_spec s = {{2, 2}, {0, 0}, {2, 2}, false}; /* padding above half the kernel */
    cn_layer *l = NULL;
    CHECK(cn_pool_new(CN_LAYER_MAX_POOL2D, &s, &l) == CN_EINVAL);
    s.padding[0] = s.padding[1] = 1;
    CHECK(cn_pool_new(CN_LAYER_CONV2D, &s, &l) == CN_EINVAL);
    CHECK(l == NULL);
    CHECK_OK(cn_pool_new(CN_LAYER_AVG_POOL2D, &s, &l));
    cn_pool_spec t;
    CHECK(cn_pool_get_spec(l, &t) && t.stride[0] == 2 && t.stride[1] == 2);
    cn_layer_release(l);
}

static void global_average_pooling_averages_each_plane(void)
{
    cn_layer *l = NULL;
    CHECK_OK(cn_global_avg_pool_new(&l));
    cn_tensor *x = ramp16(), *y = NULL;
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK(cn_tensor_ndim(y) == 2 && cn_tensor_dim(y, 0) == 1 && cn_tensor_dim(y, 1) == 1);
    CHECK_NEAR(cn_tensor_cdata(y)[0], 8.5, 1e-6);
    gc_check(l, 5, (int64_t[]){2, 3, 2, 3, 2}, 4); /* any number of spatial axes */
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void flatten_keeps_the_batch_and_the_values(void)
{
    cn_layer *l = NULL;
    CHECK_OK(cn_flatten_new(&l));
    cn_tensor *x = ramp16(), *y = NULL;
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK(cn_tensor_ndim(y) == 2 && cn_tensor_dim(y, 0) == 1 && cn_tensor_dim(y, 1) == 16);
    CHECK_NEAR(cn_tensor_cdata(y)[9], 10.0, 0);
    gc_check(l, 4, (int64_t[]){3, 2, 2, 2}, 5);
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void view_folds_the_band_axis_into_channels(void)
{
    cn_layer *l = NULL;
    CHECK_OK(cn_view_new(3, (int64_t[]){-1, 3, 3}, &l));
    cn_tensor *x = NULL, *y = NULL;
    CHECK_OK(cn_tensor_new(5, (int64_t[]){2, 4, 5, 3, 3}, &x));
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK(cn_tensor_ndim(y) == 4 && cn_tensor_dim(y, 0) == 2 && cn_tensor_dim(y, 1) == 20 &&
          cn_tensor_dim(y, 2) == 3);
    gc_check(l, 5, (int64_t[]){2, 2, 2, 3, 3}, 6);
    /* 7 values per sample cannot be viewed as (-1 x 3 x 3) */
    cn_tensor_release(x);
    CHECK_OK(cn_tensor_new(2, (int64_t[]){2, 7}, &x));
    CHECK(cn_layer_forward(l, x, &y) == CN_ESHAPE);
    CHECK(gc_message_has((const char *const[]){"(2 x 7)", "7 values per sample", "(-1 x 3 x 3)",
                                               NULL}));
    int64_t dims[4];
    CHECK(cn_view_get_shape(l, dims) == 3 && dims[0] == -1 && dims[2] == 3);
    CHECK(cn_view_new(2, (int64_t[]){-1, -1}, &l) == CN_EINVAL);
    cn_tensor_release(x);
    cn_layer_release(l);
}

int main(void)
{
    RUN(max_pool_takes_the_largest_of_each_window);
    RUN(max_pool_sends_the_gradient_to_the_argmax);
    RUN(max_pool_never_picks_padding);
    RUN(average_pool_divides_by_the_whole_window);
    RUN(pooling_gradients_match_finite_differences);
    RUN(a_pool_stride_that_does_not_fit_is_refused);
    RUN(a_pool_larger_than_its_input_is_refused_in_torch_words);
    RUN(pool_specs_are_checked);
    RUN(global_average_pooling_averages_each_plane);
    RUN(flatten_keeps_the_batch_and_the_values);
    RUN(view_folds_the_band_axis_into_channels);
    return CHECK_EXIT();
}
