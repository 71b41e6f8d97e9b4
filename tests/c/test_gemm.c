/*
 * test_gemm.c — cn_gemm (OpenBLAS) agrees with the reference loop on random shapes, including
 * odd sizes, size 1, both transpositions, strided leading dimensions, alpha and beta.
 */
#include "check.h"
#include "cn_gdal.h"
#include "cropnet.h"

#include <strings.h>

#include <stdlib.h>
#include <string.h>

static void fill(float *p, int64_t n, cn_rng *rng)
{
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)(2.0 * cn_rng_uniform(rng) - 1.0);
}

static void compare_one(cn_rng *rng, bool ta, bool tb, int64_t m, int64_t n, int64_t k,
                        float alpha, float beta)
{
    int64_t pad = (int64_t)cn_rng_below(rng, 3); /* strides wider than the rows */
    int64_t ar = ta ? k : m, ac = (ta ? m : k) + pad;
    int64_t br = tb ? n : k, bc = (tb ? k : n) + pad;
    int64_t ldc = n + pad;
    float *a = malloc(sizeof(float) * (size_t)(ar * ac + 1));
    float *b = malloc(sizeof(float) * (size_t)(br * bc + 1));
    float *c1 = malloc(sizeof(float) * (size_t)(m * ldc + 1));
    float *c2 = malloc(sizeof(float) * (size_t)(m * ldc + 1));
    fill(a, ar * ac, rng);
    fill(b, br * bc, rng);
    fill(c1, m * ldc, rng);
    for (int64_t i = 0; i < m * ldc; i++)
        c2[i] = c1[i];
    cn_gemm(ta, tb, m, n, k, alpha, a, ac, b, bc, beta, c1, ldc);
    cn_gemm_ref(ta, tb, m, n, k, alpha, a, ac, b, bc, beta, c2, ldc);
    double worst = 0;
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double d = fabs((double)c1[i * ldc + j] - c2[i * ldc + j]);
            worst = d > worst ? d : worst;
        }
    /* float accumulation over k terms of magnitude <= 1 */
    CHECK_NEAR(worst, 0.0, 1e-5 * (double)(k + 1) * (fabs(alpha) + 1));
    free(a);
    free(b);
    free(c1);
    free(c2);
}

static void test_random_shapes_match_reference(void)
{
    cn_rng rng;
    cn_rng_seed(&rng, 42);
    for (int trial = 0; trial < 300; trial++) {
        int64_t m = 1 + (int64_t)cn_rng_below(&rng, 70), n = 1 + (int64_t)cn_rng_below(&rng, 70);
        int64_t k = 1 + (int64_t)cn_rng_below(&rng, 90);
        compare_one(&rng, cn_rng_below(&rng, 2), cn_rng_below(&rng, 2), m, n, k,
                    trial % 3 ? 1.0f : -0.5f, trial % 4 == 0 ? 0.0f : trial % 4 == 1 ? 1.0f : 0.25f);
    }
}

static void test_size_one_and_odd_sizes(void)
{
    cn_rng rng;
    cn_rng_seed(&rng, 7);
    const int64_t sizes[] = {1, 2, 3, 7, 17, 31, 65, 129, 257};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        for (size_t j = 0; j < sizeof sizes / sizeof *sizes; j += 2)
            for (int t = 0; t < 4; t++)
                compare_one(&rng, t & 1, t & 2, sizes[i], sizes[j], sizes[(i + j) % 9], 1.0f, 0.0f);
}

static void test_beta_zero_ignores_nan_in_c(void)
{
    float a[2] = {1, 2}, b[2] = {3, 4}, c[1] = {NAN}, r[1] = {NAN};
    cn_gemm(false, false, 1, 1, 2, 1.0f, a, 2, b, 1, 0.0f, c, 1);
    cn_gemm_ref(false, false, 1, 1, 2, 1.0f, a, 2, b, 1, 0.0f, r, 1);
    CHECK_NEAR(c[0], 11.0, 1e-6);
    CHECK_NEAR(r[0], 11.0, 1e-6);
}

static void test_two_threads_match_reference(void)
{
    cn_set_threads(2);
    CHECK(cn_get_threads() == 2);
    cn_rng rng;
    cn_rng_seed(&rng, 3);
    compare_one(&rng, false, true, 128, 256, 204, 1.0f, 1.0f);
    compare_one(&rng, true, false, 256, 204, 128, 1.0f, 1.0f);
    cn_set_threads(1);
}

/* GDAL is linked in, so its OpenBLAS (through liblapack) is loaded before main with whatever
 * kernels it picked; the core must still end up on the kernels this CPU supports. */
static void test_openblas_is_loaded_with_this_cpus_kernels(void)
{
    cn_gdal_init();
    const char *core = cn_blas_info();
    printf("     BLAS: %s\n", core);
    CHECK(strstr(core, "reference") == NULL);
    __builtin_cpu_init();
    if (!getenv("OPENBLAS_CORETYPE") && __builtin_cpu_supports("avx2"))
        CHECK(strcasecmp(core, "Prescott") != 0);
}

int main(void)
{
    RUN(test_openblas_is_loaded_with_this_cpus_kernels);
    RUN(test_random_shapes_match_reference);
    RUN(test_size_one_and_odd_sizes);
    RUN(test_beta_zero_ignores_nan_in_c);
    RUN(test_two_threads_match_reference);
    return CHECK_EXIT();
}
