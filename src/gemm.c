/*
 * gemm.c — the one matrix-multiply entry point of the core, its reference twin, and the loading
 * of OpenBLAS.
 *
 * Every dense and convolutional kernel goes through cn_gemm, so the BLAS call, its threading and
 * the choice of kernel live in one place. cn_gemm_ref is the plain triple loop (double
 * accumulator) that tests compare against; it is never used on a hot path.
 *
 * Why OpenBLAS is loaded here with dlopen instead of linked: OpenBLAS picks its kernels once, in
 * a constructor that runs when the library is loaded, from the CPU model number. Debian 12's
 * OpenBLAS 0.3.21 does not know recent Intel models (e.g. family 6 model 207) and falls back to
 * its SSE3 "Prescott" kernels, four to five times slower than the AVX-512 ones the CPU can run.
 * It honours OPENBLAS_CORETYPE, but only if the variable is set before it loads. So the core
 * names the core type from the CPU's feature flags (unless the user set OPENBLAS_CORETYPE, which
 * is always respected) and loads OpenBLAS on first use. Where another library loaded OpenBLAS
 * before us with the wrong kernels (GDAL does: libgdal → liblapack → libopenblas, so in gdal_translate
 * and in any process using GDAL it is there before our first call), a private copy is loaded
 * into its own link-map namespace with dlmopen, so its constructor runs again and sees the
 * variable; the other library keeps its own instance.
 */
#define _GNU_SOURCE /* dlmopen, LM_ID_NEWLM */
#include "cropnet.h"

#include <assert.h>
#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef CROPNET_OPENBLAS_SONAME
#define CROPNET_OPENBLAS_SONAME "libopenblas.so.0"
#endif

typedef void (*sgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint,
                         blasint, blasint, float, const float *, blasint, const float *, blasint,
                         float, float *, blasint);
typedef void (*set_threads_fn)(int);
typedef char *(*corename_fn)(void);

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static sgemm_fn blas_sgemm;            /* NULL when OpenBLAS could not be loaded */
static set_threads_fn blas_set_threads;
static corename_fn blas_corename;
static _Atomic int blas_threads = 1;

/* The OpenBLAS kernel family for this CPU's vector extensions, or NULL to let OpenBLAS decide. */
static const char *core_for_cpu(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return "SkylakeX"; /* Cooperlake adds only bfloat16 kernels; 0.3.21 does not take its name */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
#endif
    return NULL;
}

/* Binds our function pointers to an OpenBLAS handle; false when a symbol is missing. */
static bool bind(void *lib)
{
    *(void **)&blas_sgemm = dlsym(lib, "cblas_sgemm");
    *(void **)&blas_set_threads = dlsym(lib, "openblas_set_num_threads");
    *(void **)&blas_corename = dlsym(lib, "openblas_get_corename");
    return blas_sgemm != NULL;
}

static void load_blas(void)
{
    const char *want = core_for_cpu();
    bool user_choice = getenv("OPENBLAS_CORETYPE") != NULL;
    if (want && !user_choice)
        setenv("OPENBLAS_CORETYPE", want, 0);
    void *lib = dlopen(CROPNET_OPENBLAS_SONAME, RTLD_NOW | RTLD_NOLOAD);
    if (lib) { /* already loaded by someone else: are its kernels the ones we want? */
        if (bind(lib) && (user_choice || !want || !blas_corename ||
                          strcasecmp(blas_corename(), want) == 0))
            goto ready;
        void *own = dlmopen(LM_ID_NEWLM, CROPNET_OPENBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
        if (own && bind(own))
            goto ready;
        if (!bind(lib)) /* keep the slow instance rather than none */
            return;
        goto ready;
    }
    lib = dlopen(CROPNET_OPENBLAS_SONAME, RTLD_NOW | RTLD_GLOBAL);
    if (!lib || !bind(lib)) {
        blas_sgemm = NULL;
        return;
    }
ready:
    if (blas_set_threads)
        blas_set_threads(blas_threads);
}

const char *cn_blas_info(void)
{
    pthread_once(&blas_once, load_blas);
    if (!blas_sgemm)
        return "reference kernel (OpenBLAS not found)";
    return blas_corename ? blas_corename() : "OpenBLAS";
}

void cn_set_threads(int threads)
{
    if (threads < 1)
        threads = 1;
    pthread_once(&blas_once, load_blas);
    blas_threads = threads;
    if (blas_set_threads)
        blas_set_threads(threads);
}

int cn_get_threads(void) { return blas_threads; }

void cn_gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
             const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
             int64_t ldc)
{
    assert(m >= 0 && n >= 0 && k >= 0);
    if (m == 0 || n == 0)
        return;
    pthread_once(&blas_once, load_blas);
    if (!blas_sgemm) {
        cn_gemm_ref(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    blas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
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
