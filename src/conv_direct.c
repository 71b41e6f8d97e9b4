/*
 * conv_direct.c — direct convolution with AVX-512: outputs accumulated in registers straight
 * from the (padded) input, with no unfolded matrix and no GEMM packing.
 *
 * im2col + GEMM spends as much time writing and packing the unfolded matrix as multiplying on
 * the small images of patch networks (11×11): profiled, unfolding alone was a sixth of an
 * inference and OpenBLAS's packing another twelfth. Here a register tile of 6 output positions ×
 * 64 output channels (24 zmm accumulators) walks the input channels and kernel taps: per step,
 * four weight vectors (16 output channels each, weights packed [in][tap][out]) and six broadcast
 * input values feed 24 FMAs, the shape of a GEMM micro-kernel whose second operand is read in
 * place. The tap offsets inside the padded input are the same for every output position, so a
 * tile of positions may cross row ends; positions past the last are computed on a copy of the
 * last one and not stored. Tiles go in groups of 8 and input channels in blocks of 8, so that
 * while a block is summed for a group, its weights and the group's partial sums stay in L1.
 *
 * The same kernel gives a stride-1 convolution's input gradient, as the convolution of dY padded
 * by d·(k − 1) − p with the kernel flipped and the channel axes swapped. The weight gradient
 * stays im2col + GEMM (conv_chunks.c). Used on CPUs with AVX-512F (checked at run time; the build
 * needs no -march flag); everything else takes the im2col path, and tests run both.
 */
#include "conv_impl.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_DIRECT 1
#include <immintrin.h>
#else
#define HAVE_DIRECT 0
#endif

static bool force_generic;

void cn_conv_force_generic(bool on) { force_generic = on; }

bool cn_conv_direct_available(void)
{
#if HAVE_DIRECT
    return !force_generic && __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

int64_t cn_conv_direct_ptrs(int64_t P, int64_t rows) { return (P > rows ? P : rows) + 6; }

int64_t cn_conv_direct_offs(int64_t n, int64_t P, int64_t taps)
{
    return n * P > taps ? n * P : taps;
}

/* ---------------------------------------------------------------- packing */

void cn_conv_direct_pack(const float *w, int64_t O, int64_t C, int64_t taps, bool transpose,
                         float *out)
{
    /* forward: out[c][t][o] = w[o][c][t], o padded to a multiple of 16 with zeros;
     * transpose (input gradient): out[o][t][c] = w[o][c][taps − 1 − t], c padded likewise */
    int64_t rows = transpose ? O : C, lanes = transpose ? C : O;
    int64_t padded = (lanes + 15) / 16 * 16;
    memset(out, 0, (size_t)(rows * taps * padded) * sizeof *out);
    for (int64_t o = 0; o < O; o++)
        for (int64_t c = 0; c < C; c++)
            for (int64_t t = 0; t < taps; t++) {
                float v = w[(o * C + c) * taps + t];
                if (transpose)
                    out[(o * taps + (taps - 1 - t)) * padded + c] = v;
                else
                    out[(c * taps + t) * padded + o] = v;
            }
}

/* ---------------------------------------------------------------- padding */

void cn_conv_direct_pad(const cn_conv_geom *g, const int64_t pad[3], const float *x, float *xp)
{
    const int64_t D = g->in[0], H = g->in[1], W = g->in[2];
    const int64_t Dp = D + 2 * pad[0], Hp = H + 2 * pad[1], Wp = W + 2 * pad[2];
    const int64_t planes = g->n * g->c;
    for (int64_t q = 0; q < planes; q++) {
        const float *src = x + q * D * H * W;
        float *dst = xp + q * Dp * Hp * Wp;
        memset(dst, 0, (size_t)(Dp * Hp * Wp) * sizeof *dst);
        for (int64_t z = 0; z < D; z++)
            for (int64_t y = 0; y < H; y++)
                memcpy(dst + ((z + pad[0]) * Hp + y + pad[1]) * Wp + pad[2],
                       src + (z * H + y) * W, (size_t)W * sizeof *dst);
    }
}

/* ---------------------------------------------------------------- the kernel */

#if HAVE_DIRECT

#define TILE CN_DIRECT_TILE /* output positions per register tile */

/* One tile: NB blocks of 16 output channels × TILE positions, summed over ch input channels
 * and taps; in[j] points at position j's window origin in channel 0 of the padded input. */
#define DEFINE_TILE(NB)                                                                      \
    __attribute__((target("avx512f"))) static void tile_##NB(                                \
        const float *const *in, int64_t plane, const int64_t *toff, int64_t taps, int64_t c0, \
        int64_t c1, const float *wp, int64_t wstride, bool more, float *acc_io)               \
    {                                                                                        \
        __m512 acc[NB][TILE];                                                                \
        for (int b = 0; b < NB; b++)                                                         \
            for (int j = 0; j < TILE; j++)                                                   \
                acc[b][j] = more ? _mm512_loadu_ps(acc_io + (b * TILE + j) * 16)             \
                                 : _mm512_setzero_ps();                                      \
        for (int64_t c = c0; c < c1; c++) {                                                  \
            const float *wc = wp + c * taps * wstride;                                       \
            for (int64_t t = 0; t < taps; t++) {                                             \
                const float *wt = wc + t * wstride;                                          \
                __m512 w[NB];                                                                \
                for (int b = 0; b < NB; b++)                                                 \
                    w[b] = _mm512_loadu_ps(wt + 16 * b);                                     \
                const int64_t off = c * plane + toff[t];                                     \
                for (int j = 0; j < TILE; j++) {                                             \
                    __m512 v = _mm512_set1_ps(in[j][off]);                                   \
                    for (int b = 0; b < NB; b++)                                             \
                        acc[b][j] = _mm512_fmadd_ps(w[b], v, acc[b][j]);                     \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
        for (int b = 0; b < NB; b++)                                                         \
            for (int j = 0; j < TILE; j++)                                                   \
                _mm512_storeu_ps(acc_io + (b * TILE + j) * 16, acc[b][j]);                   \
    }

DEFINE_TILE(1)
DEFINE_TILE(2)
DEFINE_TILE(3)
DEFINE_TILE(4)

typedef void (*tile_fn)(const float *const *, int64_t, const int64_t *, int64_t, int64_t,
                        int64_t, const float *, int64_t, bool, float *);

/* Tiles per group and input channels per block: a group's accumulators (8 tiles × 384 floats)
 * and a block's weights (8 channels × taps × 64 floats) stay in L1 while the block's channels
 * are summed for every tile of the group. */
#define GROUP_TILES 8
#define BLOCK_CHANNELS 8

/* Where the results go: output channel o of position p at base[o · ostride + p] (a sample's
 * output, positions in order) or, when base is NULL, at dst[p][o · ostride] (anywhere). */
typedef struct tile_store {
    float *base;         /* run: the sample's output; points: NULL */
    float *const *dst;   /* points: each position's channel-0 output; run: NULL */
    int64_t ostride;     /* between output channels */
    const float *bias;   /* o values, or NULL */
} tile_store;

/* The outputs of npos positions whose window origins (in input channel 0) are win[0 .. npos)
 * (win has TILE more entries, set here to the last origin), input channels cstride apart, tap
 * offsets tof, weights wp as packed, o output channels: 64-channel groups, groups of tiles, blocks
 * of input channels. Each output is one FMA chain over (channel, tap) in that order, whatever the
 * other positions of its tile: a position's value depends on its window alone. */
static void positions(const float **win, int64_t npos, int64_t cstride, const int64_t *tof,
                      int64_t taps, int64_t c, int64_t o, const float *wp, const tile_store *st)
{
    static const tile_fn tiles[5] = {NULL, tile_1, tile_2, tile_3, tile_4};
    const int64_t opad = (o + 15) / 16 * 16;
    const int64_t cb = taps <= 9 ? BLOCK_CHANNELS : 1 + 72 / taps;
    float acc[GROUP_TILES][4 * TILE * 16] __attribute__((aligned(64)));
    for (int64_t p = npos; p < npos + TILE; p++) /* tail: copies of the last position */
        win[p] = win[npos - 1];
    for (int64_t og = 0; og < o; og += 64) {
        int nb = (int)((opad - og) / 16 < 4 ? (opad - og) / 16 : 4);
        int64_t olim = o - og < 64 ? o - og : 64;
        for (int64_t g0 = 0; g0 < npos; g0 += GROUP_TILES * TILE) {
            int64_t g1 = g0 + GROUP_TILES * TILE < npos ? g0 + GROUP_TILES * TILE : npos;
            for (int64_t c0 = 0; c0 < c; c0 += cb)
                for (int64_t p0 = g0, i = 0; p0 < g1; p0 += TILE, i++)
                    tiles[nb](win + p0, cstride, tof, taps, c0, c0 + cb < c ? c0 + cb : c,
                              wp + og, opad, c0 > 0, acc[i]);
            for (int64_t p0 = g0, i = 0; p0 < g1; p0 += TILE, i++) {
                int64_t valid = npos - p0 < TILE ? npos - p0 : TILE;
                for (int b = 0; b < nb; b++)
                    for (int64_t l = 0; l < 16 && b * 16 + l < olim; l++) {
                        int64_t oc = og + b * 16 + l;
                        float bias = st->bias ? st->bias[oc] : 0.0f;
                        const float *src = acc[i] + b * TILE * 16 + l;
                        if (st->base) {
                            float *dst = st->base + oc * st->ostride + p0;
                            for (int64_t j = 0; j < valid; j++)
                                dst[j] = src[j * 16] + bias;
                        } else {
                            for (int64_t j = 0; j < valid; j++)
                                st->dst[p0 + j][oc * st->ostride] = src[j * 16] + bias;
                        }
                    }
            }
        }
    }
}

void cn_conv_direct_run(const cn_conv_direct_args *a)
{
    const int64_t *k = a->k, *s = a->s, *d = a->d, *in = a->in, *out = a->out;
    const int64_t plane = in[0] * in[1] * in[2], P = out[0] * out[1] * out[2];
    const int64_t taps = k[0] * k[1] * k[2];
    int64_t *tof = a->offs;
    for (int64_t z = 0, t = 0; z < k[0]; z++)
        for (int64_t y = 0; y < k[1]; y++)
            for (int64_t x = 0; x < k[2]; x++, t++)
                tof[t] = (z * d[0] * in[1] + y * d[1]) * in[2] + x * d[2];
    const float **win = a->ptrs;
    for (int64_t n = 0; n < a->n; n++) {
        const float *xn = a->x + n * a->c * plane;
        /* every output position's window origin, walked once per sample (no divisions) */
        for (int64_t oz = 0, p = 0; oz < out[0]; oz++)
            for (int64_t oy = 0; oy < out[1]; oy++)
                for (int64_t ox = 0; ox < out[2]; ox++, p++)
                    win[p] = xn + ((oz * s[0]) * in[1] + oy * s[1]) * in[2] + ox * s[2];
        tile_store st = {.base = a->y + n * a->o * P, .ostride = P, .bias = a->bias};
        positions(win, P, plane, tof, taps, a->c, a->o, a->wp, &st);
    }
}

void cn_conv_direct_points(const cn_conv_points *a)
{
    if (a->npos < 1)
        return;
    tile_store st = {.dst = a->dst, .ostride = a->ostride, .bias = a->bias};
    positions(a->origins, a->npos, a->cstride, a->toff, a->taps, a->c, a->o, a->wp, &st);
}

/* dW tile: NB blocks of 16 output channels × TILE (input channel, tap) pairs, summed over npos
 * positions: dyt holds dY transposed (positions × padded channels), src[j] points at pair j's
 * tap in its channel of the padded input, porig[q] is position q's window origin. */
#define DEFINE_DW_TILE(NB)                                                                    \
    __attribute__((target("avx512f"))) static void dw_tile_##NB(                              \
        const float *dyt, int64_t dstride, const float *const *src, const int64_t *porig,     \
        int64_t npos, float *acc_out)                                                         \
    {                                                                                         \
        __m512 acc[NB][TILE];                                                                 \
        for (int b = 0; b < NB; b++)                                                          \
            for (int j = 0; j < TILE; j++)                                                    \
                acc[b][j] = _mm512_setzero_ps();                                              \
        for (int64_t q = 0; q < npos; q++) {                                                  \
            __m512 w[NB];                                                                     \
            for (int b = 0; b < NB; b++)                                                      \
                w[b] = _mm512_loadu_ps(dyt + q * dstride + 16 * b);                           \
            const int64_t off = porig[q];                                                     \
            for (int j = 0; j < TILE; j++) {                                                  \
                __m512 v = _mm512_set1_ps(src[j][off]);                                       \
                for (int b = 0; b < NB; b++)                                                  \
                    acc[b][j] = _mm512_fmadd_ps(w[b], v, acc[b][j]);                          \
            }                                                                                 \
        }                                                                                     \
        for (int b = 0; b < NB; b++)                                                          \
            for (int j = 0; j < TILE; j++)                                                    \
                _mm512_storeu_ps(acc_out + (b * TILE + j) * 16, acc[b][j]);                   \
    }

DEFINE_DW_TILE(1)
DEFINE_DW_TILE(2)
DEFINE_DW_TILE(3)
DEFINE_DW_TILE(4)

typedef void (*dw_tile_fn)(const float *, int64_t, const float *const *, const int64_t *,
                           int64_t, float *);

void cn_conv_direct_dw(const cn_conv_direct_args *a, const float *dyt, float *dw)
{
    static const dw_tile_fn tiles[5] = {NULL, dw_tile_1, dw_tile_2, dw_tile_3, dw_tile_4};
    const int64_t *k = a->k, *s = a->s, *d = a->d, *in = a->in, *out = a->out;
    const int64_t plane = in[0] * in[1] * in[2], P = out[0] * out[1] * out[2];
    const int64_t taps = k[0] * k[1] * k[2], rows = a->c * taps, opad = (a->o + 15) / 16 * 16;
    const int64_t npos = a->n * P;
    int64_t *porig = a->offs;
    const float **src = a->ptrs;
    for (int64_t n = 0, q = 0; n < a->n; n++)
        for (int64_t oz = 0; oz < out[0]; oz++)
            for (int64_t oy = 0; oy < out[1]; oy++)
                for (int64_t ox = 0; ox < out[2]; ox++, q++)
                    porig[q] = n * a->c * plane + ((oz * s[0]) * in[1] + oy * s[1]) * in[2] +
                               ox * s[2];
    for (int64_t c = 0, r = 0; c < a->c; c++)
        for (int64_t z = 0; z < k[0]; z++)
            for (int64_t y = 0; y < k[1]; y++)
                for (int64_t x = 0; x < k[2]; x++, r++)
                    src[r] = a->x + c * plane + (z * d[0] * in[1] + y * d[1]) * in[2] + x * d[2];
    for (int64_t r = rows; r < rows + TILE; r++) /* tail: copies of the last pair */
        src[r] = src[rows - 1];
    float acc[4 * TILE * 16] __attribute__((aligned(64)));
    for (int64_t og = 0; og < a->o; og += 64) {
        int nb = (int)((opad - og) / 16 < 4 ? (opad - og) / 16 : 4);
        int64_t olim = a->o - og < 64 ? a->o - og : 64;
        for (int64_t r0 = 0; r0 < rows; r0 += TILE) {
            tiles[nb](dyt + og, opad, src + r0, porig, npos, acc);
            int64_t valid = rows - r0 < TILE ? rows - r0 : TILE;
            for (int b = 0; b < nb; b++)
                for (int64_t l = 0; l < 16 && b * 16 + l < olim; l++) {
                    float *dst = dw + (og + b * 16 + l) * rows + r0;
                    const float *from = acc + b * TILE * 16 + l;
                    for (int64_t j = 0; j < valid; j++)
                        dst[j] += from[j * 16];
                }
        }
    }
}

#else

void cn_conv_direct_run(const cn_conv_direct_args *a) { (void)a; }

void cn_conv_direct_points(const cn_conv_points *a) { (void)a; }

void cn_conv_direct_dw(const cn_conv_direct_args *a, const float *dyt, float *dw)
{
    (void)a;
    (void)dyt;
    (void)dw;
}

#endif
