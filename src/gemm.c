/*
 * gemm.c — the one matrix-multiply entry point of the core, and its reference twin.
 *
 * Every dense and convolutional kernel goes through cn_gemm, so the BLAS call, its threading and
 * any future blocking live in one place. cn_gemm_ref is the plain triple loop (double accumulator)
 * that tests compare against; it is never used on a hot path.
 */
#include "cropnet.h"

#include <assert.h>
#include <cblas.h>

/* OpenBLAS's own setter; declared in its cblas.h, repeated here for other CBLAS headers. */
void openblas_set_num_threads(int num_threads);

static int blas_threads = 1;

void cn_set_threads(int threads)
{
    if (threads < 1)
        threads = 1;
    blas_threads = threads;
    openblas_set_num_threads(threads);
}

int cn_get_threads(void) { return blas_threads; }

void cn_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
             const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
             int64_t ldc)
{
    assert(m >= 0 && n >= 0 && k >= 0);
    if (m == 0 || n == 0)
        return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

void cn_gemm_ref(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double sum = 0;
            for (int64_t p = 0; p < k; p++) {
                float av = trans_a ? a[p * lda + i] : a[i * lda + p];
                float bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                sum += (double)av * bv;
            }
            /* BLAS semantics: beta == 0 ignores C, so NaN garbage there does not propagate. */
            c[i * ldc + j] = (float)(alpha * sum + (beta == 0 ? 0 : beta * c[i * ldc + j]));
        }
}
