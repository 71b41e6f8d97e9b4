/*
 * test_tensor.c — tensor life cycle, alignment, resizing, overflow checks and gathering.
 */
#include "check.h"
#include "cropnet.h"

#include <stdint.h>
#include <string.h>

static void test_new_is_zeroed_and_aligned(void)
{
    int64_t dims[3] = {3, 5, 7};
    cn_tensor *t = NULL;
    CHECK_OK(cn_tensor_new(3, dims, &t));
    CHECK(cn_tensor_numel(t) == 105);
    CHECK(((uintptr_t)cn_tensor_data(t) & 63) == 0);
    float sum = 0;
    for (int i = 0; i < 105; i++)
        sum += cn_tensor_data(t)[i];
    CHECK(sum == 0);
    char s[64];
    CHECK(strcmp(cn_tensor_shape_str(t, s, sizeof s), "(3 x 5 x 7)") == 0);
    cn_tensor_release(t);
}

static void test_bad_shapes_are_refused(void)
{
    int64_t neg[2] = {3, -1}, huge[CN_MAX_DIMS + 1] = {INT64_MAX / 2, 4, 4, 4, 4, 4};
    cn_tensor *t = NULL;
    CHECK(cn_tensor_new(2, neg, &t) == CN_EINVAL);
    CHECK(cn_tensor_new(0, neg, &t) == CN_EINVAL);
    CHECK(cn_tensor_new(CN_MAX_DIMS + 1, huge, &t) == CN_EINVAL);
    CHECK(cn_tensor_new(4, huge, &t) == CN_EOVERFLOW);
    CHECK(t == NULL);
    CHECK(strstr(cn_last_error(), "overflow") != NULL);
}

static void test_resize_keeps_storage_when_smaller(void)
{
    cn_tensor *t;
    CHECK_OK(cn_tensor_new2(10, 10, &t));
    float *before = cn_tensor_data(t);
    int64_t d[1] = {50};
    CHECK_OK(cn_tensor_resize(t, 1, d));
    CHECK(cn_tensor_data(t) == before);
    CHECK(cn_tensor_ndim(t) == 1 && cn_tensor_dim(t, 0) == 50 && cn_tensor_dim(t, 1) == 0);
    int64_t big[2] = {100, 100};
    CHECK_OK(cn_tensor_resize(t, 2, big));
    CHECK(cn_tensor_numel(t) == 10000);
    int64_t bad[2] = {-5, 2};
    CHECK(cn_tensor_resize(t, 2, bad) == CN_EINVAL);
    CHECK(cn_tensor_numel(t) == 10000); /* unchanged on error */
    cn_tensor_release(t);
}

static void test_retain_release_counts(void)
{
    cn_tensor *t;
    CHECK_OK(cn_tensor_new2(2, 2, &t));
    CHECK(cn_tensor_retain(t) == t);
    cn_tensor_release(t);
    cn_tensor_data(t)[0] = 1; /* still alive: one reference left (valgrind checks this) */
    cn_tensor_release(t);
    cn_tensor_release(NULL);
}

static void test_gather_rows_by_index(void)
{
    cn_tensor *src, *dst;
    int64_t d3[3] = {4, 2, 3};
    CHECK_OK(cn_tensor_new(3, d3, &src));
    CHECK_OK(cn_tensor_new2(1, 1, &dst));
    for (int i = 0; i < 24; i++)
        cn_tensor_data(src)[i] = (float)i;
    int64_t idx[2] = {3, 1};
    CHECK_OK(cn_tensor_gather_rows(dst, src, idx, 2));
    CHECK(cn_tensor_ndim(dst) == 3 && cn_tensor_dim(dst, 0) == 2 && cn_tensor_dim(dst, 2) == 3);
    CHECK(cn_tensor_data(dst)[0] == 18 && cn_tensor_data(dst)[6] == 6);
    int64_t out_of_range[1] = {4};
    CHECK(cn_tensor_gather_rows(dst, src, out_of_range, 1) == CN_EINVAL);
    cn_tensor_release(src);
    cn_tensor_release(dst);
}

static void test_rng_is_reproducible_and_uniform(void)
{
    cn_rng a, b;
    cn_rng_seed(&a, 123);
    cn_rng_seed(&b, 123);
    for (int i = 0; i < 100; i++)
        CHECK(cn_rng_next(&a) == cn_rng_next(&b));
    double mean = 0, var = 0;
    for (int i = 0; i < 100000; i++) {
        double z = cn_rng_normal(&a);
        mean += z;
        var += z * z;
    }
    CHECK_NEAR(mean / 100000, 0.0, 0.02);
    CHECK_NEAR(var / 100000, 1.0, 0.02);
    int counts[5] = {0};
    for (int i = 0; i < 50000; i++)
        counts[cn_rng_below(&a, 5)]++;
    for (int i = 0; i < 5; i++)
        CHECK_NEAR(counts[i], 10000, 400);
}

int main(void)
{
    RUN(test_new_is_zeroed_and_aligned);
    RUN(test_bad_shapes_are_refused);
    RUN(test_resize_keeps_storage_when_smaller);
    RUN(test_retain_release_counts);
    RUN(test_gather_rows_by_index);
    RUN(test_rng_is_reproducible_and_uniform);
    return CHECK_EXIT();
}
