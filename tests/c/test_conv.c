/*
 * test_conv.c — 2-D and 3-D convolution: forward against a plain nested-loop reference for
 * kernels, strides, padding and dilation (and the direct 1×1 path), backward against finite
 * differences, output sizes by (N − F + 2P)/S + 1, and the refusals with Torch's wording.
 */
#include "conv_impl.h" /* cn_conv_force_generic: both paths are tested */
#include "gradcheck.h"

/* The reference: out[n][o][z][y][x] = b[o] + Σ w[o][c][i][j][k] · in[n][c][z·s − p + i·d]...,
 * for 2-D or 3-D (2-D as depth 1), straight from the definition. */
static void reference(const cn_conv_spec *s, const cn_tensor *in, const cn_tensor *w,
                      const cn_tensor *b, const cn_tensor *out)
{
    int off = 3 - s->dims;
    int64_t k[3] = {1, 1, 1}, st[3] = {1, 1, 1}, p[3] = {0, 0, 0}, d[3] = {1, 1, 1};
    int64_t isz[3] = {1, 1, 1}, osz[3] = {1, 1, 1};
    for (int i = 0; i < s->dims; i++) {
        k[off + i] = s->kernel[i];
        st[off + i] = s->stride[i];
        p[off + i] = s->padding[i];
        d[off + i] = s->dilation[i];
        isz[off + i] = cn_tensor_dim(in, 2 + i);
        osz[off + i] = cn_tensor_dim(out, 2 + i);
    }
    const float *x = cn_tensor_cdata(in), *wv = cn_tensor_cdata(w), *y = cn_tensor_cdata(out);
    int64_t N = cn_tensor_dim(in, 0), C = s->in, O = s->out;
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t z = 0; z < osz[0]; z++)
                for (int64_t yy = 0; yy < osz[1]; yy++)
                    for (int64_t xx = 0; xx < osz[2]; xx++) {
                        double sum = b ? cn_tensor_cdata(b)[o] : 0.0;
                        for (int64_t c = 0; c < C; c++)
                            for (int64_t i = 0; i < k[0]; i++)
                                for (int64_t j = 0; j < k[1]; j++)
                                    for (int64_t l = 0; l < k[2]; l++) {
                                        int64_t iz = z * st[0] - p[0] + i * d[0];
                                        int64_t iy = yy * st[1] - p[1] + j * d[1];
                                        int64_t ix = xx * st[2] - p[2] + l * d[2];
                                        if (iz < 0 || iz >= isz[0] || iy < 0 || iy >= isz[1] ||
                                            ix < 0 || ix >= isz[2])
                                            continue;
                                        sum += (double)wv[(((o * C + c) * k[0] + i) * k[1] + j) *
                                                              k[2] + l] *
                                               x[(((n * C + c) * isz[0] + iz) * isz[1] + iy) *
                                                     isz[2] + ix];
                                    }
                        float got = y[(((n * O + o) * osz[0] + z) * osz[1] + yy) * osz[2] + xx];
                        if (!(fabs(got - sum) <= 1e-4 + 1e-4 * fabs(sum))) {
                            fprintf(stderr, "%s: output (%lld,%lld,%lld,%lld,%lld) = %g, "
                                    "reference %g\n", check_current, (long long)n, (long long)o,
                                    (long long)z, (long long)yy, (long long)xx, (double)got, sum);
                            check_failures++;
                            return;
                        }
                    }
}

static cn_layer *conv(const cn_conv_spec *s)
{
    cn_layer *l = NULL;
    CHECK_OK(cn_conv_new(s, &l));
    return l;
}

/* Runs forward on a random input of the given shape and compares with the reference. */
static void expect_matches_reference(const cn_conv_spec *s, int ndim, const int64_t *dims,
                                     int ndim_out, const int64_t *want_out)
{
    cn_layer *l = conv(s);
    cn_rng rng;
    cn_rng_seed(&rng, 7);
    CHECK_OK(cn_layer_init(l, CN_INIT_XAVIER_UNIFORM, 0, &rng));
    cn_tensor *p[2] = {NULL, NULL};
    size_t np = cn_layer_params(l, p, NULL, 2);
    if (np > 1)
        for (int64_t i = 0; i < cn_tensor_numel(p[1]); i++)
            cn_tensor_data(p[1])[i] = (float)cn_rng_normal(&rng);
    cn_tensor *x = gc_random(ndim, dims, &rng), *y = NULL;
    CHECK_OK(cn_layer_forward(l, x, &y));
    CHECK(cn_tensor_ndim(y) == ndim_out);
    for (int i = 0; i < ndim_out; i++)
        CHECK(cn_tensor_dim(y, i) == want_out[i]);
    if (cn_tensor_ndim(y) == ndim_out)
        reference(s, x, p[0], np > 1 ? p[1] : NULL, y);
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void conv2d_matches_the_definition(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 3, 4, 3);
    expect_matches_reference(&s, 4, (int64_t[]){2, 3, 7, 6}, 4, (int64_t[]){2, 4, 5, 4});
}

static void padding_keeps_the_size(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 2, 3, 3);
    s.padding[0] = s.padding[1] = 1;
    expect_matches_reference(&s, 4, (int64_t[]){3, 2, 5, 5}, 4, (int64_t[]){3, 3, 5, 5});
}

static void stride_padding_and_dilation_combine(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 2, 3, 3);
    s.kernel[1] = 2;               /* non-square 3 x 2 */
    s.stride[0] = 2;               /* rows: (9 - 5 + 2)/2 + 1 = 4 with dilation 2 */
    s.padding[0] = 1;
    s.dilation[0] = 2;
    s.stride[1] = 3;               /* cols: (8 - 2 + 0)/3 + 1 = 3 */
    expect_matches_reference(&s, 4, (int64_t[]){2, 2, 9, 8}, 4, (int64_t[]){2, 3, 4, 3});
}

static void pointwise_conv_matches_the_definition(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 5, 3, 1);
    expect_matches_reference(&s, 4, (int64_t[]){4, 5, 3, 2}, 4, (int64_t[]){4, 3, 3, 2});
}

static void conv_without_bias_has_one_parameter(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 2, 3, 3);
    s.bias = false;
    cn_layer *l = conv(&s);
    CHECK(cn_layer_params(l, NULL, NULL, 0) == 1);
    CHECK(cn_layer_param_numel(l) == 3 * 2 * 3 * 3);
    cn_layer_release(l);
    expect_matches_reference(&s, 4, (int64_t[]){1, 2, 4, 4}, 4, (int64_t[]){1, 3, 2, 2});
}

static void conv3d_matches_the_definition(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 3, 2, 3, 3);
    s.kernel[0] = 5;               /* along the bands */
    s.stride[0] = 2;               /* (9 - 5)/2 + 1 = 3 */
    s.padding[2] = 1;
    expect_matches_reference(&s, 5, (int64_t[]){2, 2, 9, 5, 4}, 5, (int64_t[]){2, 3, 3, 3, 4});
}

static void conv2d_gradients_match_finite_differences(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 2, 3, 3);
    s.padding[0] = s.padding[1] = 1;
    s.stride[1] = 2;
    cn_layer *l = conv(&s);
    gc_check(l, 4, (int64_t[]){2, 2, 5, 5}, 1);
    cn_layer_release(l);
}

static void dilated_conv_gradients_match_finite_differences(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 2, 2, 2);
    s.dilation[0] = s.dilation[1] = 2;
    cn_layer *l = conv(&s);
    gc_check(l, 4, (int64_t[]){2, 2, 5, 6}, 2);
    cn_layer_release(l);
}

static void pointwise_gradients_match_finite_differences(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 4, 3, 1);
    cn_layer *l = conv(&s);
    gc_check(l, 4, (int64_t[]){3, 4, 3, 3}, 3);
    cn_layer_release(l);
}

static void conv3d_gradients_match_finite_differences(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 3, 2, 2, 3);
    s.kernel[0] = 2;
    s.padding[1] = 1;
    s.stride[2] = 2;
    cn_layer *l = conv(&s);
    gc_check(l, 5, (int64_t[]){2, 2, 4, 4, 5}, 4);
    cn_layer_release(l);
}

static void a_stride_that_does_not_fit_is_refused_with_the_formula(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 3, 8, 3);
    s.stride[0] = s.stride[1] = 2;
    cn_layer *l = conv(&s);
    cn_tensor *x = NULL, *y = NULL;
    CHECK_OK(cn_tensor_new(4, (int64_t[]){1, 3, 10, 11}, &x));
    CHECK(cn_layer_forward(l, x, &y) == CN_ESHAPE);
    /* rows: (10 - 3 + 2*0) / 2 + 1 = 7/2 + 1 */
    CHECK(gc_message_has((const char *const[]){"conv2d", "stride 2", "height",
                                               "(10 - 3 + 2*0) / 2 + 1", "7/2", NULL}));
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void floor_mode_drops_the_windows_that_do_not_fit(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 3, 2, 3);
    s.stride[0] = s.stride[1] = 2;
    s.floor = true;
    expect_matches_reference(&s, 4, (int64_t[]){1, 3, 10, 11}, 4, (int64_t[]){1, 2, 4, 5});
}

static void an_output_too_small_is_refused_in_torch_words(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 3, 64, 5);
    cn_layer *l = conv(&s);
    cn_tensor *x = NULL, *y = NULL;
    CHECK_OK(cn_tensor_new(4, (int64_t[]){2, 3, 4, 4}, &x));
    CHECK(cn_layer_forward(l, x, &y) == CN_ESHAPE);
    CHECK(gc_message_has((const char *const[]){
        "Given input size: (3 x 4 x 4). Calculated output size: (64 x 0 x 0). Output size is too "
        "small", NULL}));
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void wrong_channels_name_both_sizes(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 204, 32, 1);
    cn_layer *l = conv(&s);
    cn_tensor *x = NULL, *y = NULL;
    CHECK_OK(cn_tensor_new(4, (int64_t[]){8, 200, 11, 11}, &x));
    CHECK(cn_layer_forward(l, x, &y) == CN_ESHAPE);
    CHECK(gc_message_has((const char *const[]){"(8 x 200 x 11 x 11)", "(N x 204 x H x W)", NULL}));
    cn_tensor_release(x);
    cn_layer_release(l);
}

static void backward_refuses_an_input_that_does_not_give_the_gradient(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 2, 2, 3);
    cn_layer *l = conv(&s);
    cn_tensor *a = NULL, *b = NULL, *y = NULL, *gx = NULL;
    CHECK_OK(cn_tensor_new(4, (int64_t[]){2, 2, 5, 5}, &a));
    CHECK_OK(cn_tensor_new(4, (int64_t[]){3, 2, 5, 5}, &b));
    CHECK_OK(cn_layer_forward(l, a, &y));
    CHECK(cn_layer_backward(l, b, y, &gx) == CN_ESHAPE);
    cn_tensor_release(a);
    cn_tensor_release(b);
    cn_layer_release(l);
}

static void bad_specs_are_refused(void)
{
    cn_conv_spec s;
    cn_layer *l = NULL;
    cn_conv_spec_default(&s, 4, 3, 3, 3);
    CHECK(cn_conv_new(&s, &l) == CN_EINVAL);
    cn_conv_spec_default(&s, 2, 0, 3, 3);
    CHECK(cn_conv_new(&s, &l) == CN_EINVAL);
    cn_conv_spec_default(&s, 2, 3, 3, 3);
    s.stride[1] = 0;
    CHECK(cn_conv_new(&s, &l) == CN_EINVAL);
    cn_conv_spec_default(&s, 2, 3, 3, 3);
    s.padding[0] = -1;
    CHECK(cn_conv_new(&s, &l) == CN_EINVAL);
    CHECK(l == NULL);
}

static void the_spec_reads_back(void)
{
    cn_conv_spec s, t;
    cn_conv_spec_default(&s, 3, 1, 8, 3);
    s.kernel[0] = 7;
    s.padding[2] = 1;
    cn_layer *l = conv(&s);
    CHECK(cn_layer_kind_of(l) == CN_LAYER_CONV3D);
    CHECK(cn_conv_get_spec(l, &t));
    CHECK(t.dims == 3 && t.in == 1 && t.out == 8 && t.kernel[0] == 7 && t.kernel[1] == 3 &&
          t.padding[2] == 1 && t.bias && !t.floor);
    CHECK(strcmp(cn_layer_kind_name(CN_LAYER_CONV3D), "conv3d") == 0);
    CHECK(cn_layer_kind_from_name("conv2d") == CN_LAYER_CONV2D);
    cn_layer_release(l);
}

/* Forward output and input gradient of l at x with the given thread count (fresh copies). */
static void run_with_threads(cn_layer *l, cn_tensor *x, int threads, cn_tensor **y,
                             cn_tensor **gx)
{
    cn_set_threads(threads);
    cn_tensor *out = NULL, *g = NULL;
    CHECK_OK(cn_tensor_new(1, (int64_t[]){0}, y));
    CHECK_OK(cn_tensor_new(1, (int64_t[]){0}, gx));
    CHECK_OK(cn_layer_forward(l, x, &out));
    CHECK_OK(cn_tensor_copy(*y, out));
    cn_layer_zero_grad(l);
    CHECK_OK(cn_layer_backward(l, x, out, &g)); /* dY = Y: any fixed gradient will do */
    CHECK_OK(cn_tensor_copy(*gx, g));
    cn_set_threads(1);
}

static bool same_bits(const cn_tensor *a, const cn_tensor *b)
{
    return cn_tensor_same_shape(a, b) &&
           memcmp(cn_tensor_cdata(a), cn_tensor_cdata(b),
                  (size_t)cn_tensor_numel(a) * sizeof(float)) == 0;
}

static void threads_do_not_change_the_results(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 16, 24, 3);
    s.padding[0] = s.padding[1] = 1;
    cn_layer *c = conv(&s), *p = NULL, *r = NULL;
    cn_pool_spec ps = {{2, 2}, {2, 2}, {0, 0}, true};
    CHECK_OK(cn_pool_new(CN_LAYER_MAX_POOL2D, &ps, &p));
    CHECK_OK(cn_activation_new(CN_LAYER_ELU, 1.0f, &r)); /* activations split large maps too */
    cn_rng rng;
    cn_rng_seed(&rng, 9);
    CHECK_OK(cn_layer_init(c, CN_INIT_HE_UNIFORM, 0, &rng));
    cn_tensor *x = gc_random(4, (int64_t[]){64, 16, 11, 11}, &rng);
    cn_layer *layers[3] = {c, p, r};
    for (int i = 0; i < 3; i++) {
        cn_tensor *y1, *g1, *y3, *g3;
        run_with_threads(layers[i], x, 1, &y1, &g1);
        run_with_threads(layers[i], x, 3, &y3, &g3);
        CHECK(same_bits(y1, y3));
        CHECK(same_bits(g1, g3));
        cn_tensor_release(y1);
        cn_tensor_release(g1);
        cn_tensor_release(y3);
        cn_tensor_release(g3);
    }
    cn_tensor_release(x);
    cn_layer_release(c);
    cn_layer_release(p);
    cn_layer_release(r);
}

/* A batch large enough to run in several chunks over several threads, and channel counts that
 * are not multiples of 16 (70 outputs: two register groups and a partial block): the weight, bias
 * and input gradients against their definitions, e.g.
 * dW[o][c][i][j] = Σ dY[n][o][y][x] · x[n][c][y+i-1][x+j-1]. */
static void gradients_over_many_chunks_match_the_definition(void)
{
    cn_conv_spec s;
    cn_conv_spec_default(&s, 2, 20, 70, 3);
    s.padding[0] = s.padding[1] = 1;
    cn_layer *l = conv(&s);
    cn_rng rng;
    cn_rng_seed(&rng, 10);
    CHECK_OK(cn_layer_init(l, CN_INIT_HE_UNIFORM, 0, &rng));
    const int64_t N = 40, C = 20, O = 70, H = 11;
    cn_tensor *x = gc_random(4, (int64_t[]){N, C, H, H}, &rng);
    cn_tensor *gy = gc_random(4, (int64_t[]){N, O, H, H}, &rng), *y = NULL, *gx = NULL;
    cn_set_threads(3);
    CHECK_OK(cn_layer_forward(l, x, &y));
    cn_layer_zero_grad(l);
    CHECK_OK(cn_layer_backward(l, x, gy, &gx));
    cn_set_threads(1);
    cn_tensor *g[2];
    cn_layer_params(l, NULL, g, 2);
    const float *xv = cn_tensor_cdata(x), *d = cn_tensor_cdata(gy);
    for (int64_t o = 0; o < O; o += 5)
        for (int64_t c = 0; c < C; c += 3)
            for (int64_t i = 0; i < 3; i++)
                for (int64_t j = 0; j < 3; j++) {
                    double sum = 0;
                    for (int64_t n = 0; n < N; n++)
                        for (int64_t yy = 0; yy < H; yy++)
                            for (int64_t xx = 0; xx < H; xx++) {
                                int64_t iy = yy + i - 1, ix = xx + j - 1;
                                if (iy >= 0 && iy < H && ix >= 0 && ix < H)
                                    sum += (double)d[((n * O + o) * H + yy) * H + xx] *
                                           xv[((n * C + c) * H + iy) * H + ix];
                            }
                    CHECK_NEAR(cn_tensor_cdata(g[0])[((o * C + c) * 3 + i) * 3 + j], sum,
                               1e-3 + 1e-4 * fabs(sum));
                }
    for (int64_t o = 0; o < O; o++) {
        double sum = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t q = 0; q < H * H; q++)
                sum += d[(n * O + o) * H * H + q];
        CHECK_NEAR(cn_tensor_cdata(g[1])[o], sum, 1e-3 + 1e-4 * fabs(sum));
    }
    cn_tensor *p[1];
    cn_layer_params(l, p, NULL, 1);
    const float *w = cn_tensor_cdata(p[0]);
    /* dX[n][c][y][x] = Σ W[o][c][i][j] · dY[n][o][y-i+1][x-j+1] */
    for (int64_t n = 0; n < N; n += 13)
        for (int64_t c = 0; c < C; c += 7)
            for (int64_t yy = 0; yy < H; yy += 5)
                for (int64_t xx = 0; xx < H; xx++) {
                    double sum = 0;
                    for (int64_t o = 0; o < O; o++)
                        for (int64_t i = 0; i < 3; i++)
                            for (int64_t j = 0; j < 3; j++) {
                                int64_t oy = yy - i + 1, ox = xx - j + 1;
                                if (oy >= 0 && oy < H && ox >= 0 && ox < H)
                                    sum += (double)w[((o * C + c) * 3 + i) * 3 + j] *
                                           d[((n * O + o) * H + oy) * H + ox];
                            }
                    CHECK_NEAR(cn_tensor_cdata(gx)[((n * C + c) * H + yy) * H + xx], sum,
                               1e-4 + 1e-4 * fabs(sum));
                }
    cn_tensor_release(x);
    cn_tensor_release(gy);
    cn_layer_release(l);
}

int main(void)
{
    /* every property on both paths: the direct AVX-512 kernels (where the CPU has them) and
     * im2col + GEMM */
    for (int generic = 0; generic < 2; generic++) {
        cn_conv_force_generic(generic);
        printf("-- %s\n", generic ? "im2col + GEMM" : "default path (direct kernels if AVX-512)");
        RUN(conv2d_matches_the_definition);
        RUN(padding_keeps_the_size);
        RUN(stride_padding_and_dilation_combine);
        RUN(pointwise_conv_matches_the_definition);
        RUN(conv_without_bias_has_one_parameter);
        RUN(conv3d_matches_the_definition);
        RUN(conv2d_gradients_match_finite_differences);
        RUN(dilated_conv_gradients_match_finite_differences);
        RUN(pointwise_gradients_match_finite_differences);
        RUN(conv3d_gradients_match_finite_differences);
        RUN(a_stride_that_does_not_fit_is_refused_with_the_formula);
        RUN(floor_mode_drops_the_windows_that_do_not_fit);
        RUN(an_output_too_small_is_refused_in_torch_words);
        RUN(wrong_channels_name_both_sizes);
        RUN(backward_refuses_an_input_that_does_not_give_the_gradient);
        RUN(bad_specs_are_refused);
        RUN(the_spec_reads_back);
        RUN(threads_do_not_change_the_results);
        RUN(gradients_over_many_chunks_match_the_definition);
    }
    return CHECK_EXIT();
}
