/* k_attention.c — fused scaled-dot-product attention, forward and backward, written once per
 * element type T. One (b, h) pair at a time per thread, in row blocks over a thread-local score
 * tile: the products are small unpacked register-tiled loops, the softmax rows vector loops with
 * a polynomial exp; both come in an AVX2+FMA and a generic (16-byte vector) version, chosen at run
 * time like the GEMM's kernels. The type-generic code is in k_attention_*_impl.h, included below once
 * per type / kernel set. */
#include "config.h"
#include "nb__bf16.h"
#include "nb__k_attention.h"
#include "nb__k_gemm.h"
#include "nb__paste.h"

#include <math.h>
#include <tgmath.h>

#include "nb__simd.h"
#ifdef NB__X86
#define NB__ATTN_X86 1
#endif

/* Score-tile budget in elements (rows x Tk): bounds the thread-local buffers for any T. */
#define NB__ATTN_TILE 65536
/* Row-block height: a causal block computes keys up to its last row only, so shorter blocks skip
 * more of the masked half (at the price of more, smaller products). */
#define NB__ATTN_ROWS_CAUSAL 32
#define NB__ATTN_ROWS_FULL 64

/* Score rows are padded to a multiple of 8 elements (zero keys past Tk), so the products run
 * whole vectors: no single-column tails over the keys. */
static inline int64_t pad8(int64_t n) { return (n + 7) / 8 * 8; }

static int64_t block_rows(const nb__attn_geom *g)
{
    int64_t r = g->causal ? NB__ATTN_ROWS_CAUSAL : NB__ATTN_ROWS_FULL, tk = pad8(g->Tk);
    if (tk > 0 && r * tk > NB__ATTN_TILE)
        r = NB__ATTN_TILE / tk > 0 ? NB__ATTN_TILE / tk : 1;
    return r < g->Tq ? r : (g->Tq > 0 ? g->Tq : 1);
}

/* Keys row i of the query sequence sees (all of them without a mask). */
static inline int64_t visible(const nb__attn_geom *g, int64_t i)
{
    int64_t n = g->causal ? i + 1 + (g->Tk - g->Tq) : g->Tk;
    return n < g->Tk ? n : g->Tk;
}

/* Per type: portable vector ops, the product-kernel type, the element-wise transpose. */
#define NB_T float
#include "k_attention_base_impl.h"
#undef NB_T
#define NB_T double
#include "k_attention_base_impl.h"
#undef NB_T

/* ==== small products without packing ========================================================== */
/* C[i][j] = alpha * sum_p A[i*rsa + p*csa] * B[p*ldb + j] (+ C[i][j] when acc), i < M, j < N.
 * The attention products are small (K is D or a row block), so packing them as the general GEMM
 * does would cost as much as the arithmetic: here A's elements are broadcast straight from memory
 * (either storage order: rsa/csa) and B's rows are read as vectors. 6-row x 2-vector register tiles,
 * then 1-vector panels, then single columns. Each element of C is one chain over p in order. The
 * p loop is unrolled 4 times, as the GEMM micro-kernel's (A/B: 3-7% faster attention). */

#define NB_T float
#define NB_KSET generic
#define NB_V av_float
#define NB_VL 4
#define NB_TGT
#define NB_VOP(op) av_float_##op
#include "k_attention_mm_impl.h"
#ifdef NB__ATTN_X86
#define NB_KSET avx2
#define NB_V __m256
#define NB_VL 8
#define NB_TGT NB__TGT_AVX2
#define NB_VOP(op) _mm256_##op##_ps
#include "k_attention_mm_impl.h"
#endif
#undef NB_T

#define NB_T double
#define NB_KSET generic
#define NB_V av_double
#define NB_VL 2
#define NB_TGT
#define NB_VOP(op) av_double_##op
#include "k_attention_mm_impl.h"
#ifdef NB__ATTN_X86
#define NB_KSET avx2
#define NB_V __m256d
#define NB_VL 4
#define NB_TGT NB__TGT_AVX2
#define NB_VOP(op) _mm256_##op##_pd
#include "k_attention_mm_impl.h"
#endif
#undef NB_T


#ifdef NB__ATTN_X86
/* transpose_float with the full 8 x 8 blocks moved by AVX2 register transposes (the same values;
 * element by element, the transposes took 3% of a char GPT training step). */
NB__TGT_AVX2 static void transpose_avx2_float(int64_t n, int64_t D, const float *src, int64_t rs, float *dst,
                                              int64_t ld)
{
    int64_t n8 = n / 8 * 8, D8 = D / 8 * 8;
    for (int64_t j0 = 0; j0 < n8; j0 += 8) {
        for (int64_t d0 = 0; d0 < D8; d0 += 8) {
            __m256 r[8];
            _Pragma("GCC unroll 8") for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + (j0 + i) * rs + d0);
            nb__transpose8_ps(r);
            _Pragma("GCC unroll 8") for (int q = 0; q < 8; q++) _mm256_storeu_ps(dst + (d0 + q) * ld + j0, r[q]);
        }
        for (int64_t d = D8; d < D; d++)
            for (int64_t j = j0; j < j0 + 8; j++)
                dst[d * ld + j] = src[j * rs + d];
    }
    for (int64_t d = 0; d < D; d++) {
        for (int64_t j = n8; j < n; j++)
            dst[d * ld + j] = src[j * rs + d];
        memset(dst + d * ld + n, 0, (size_t)(ld - n) * sizeof(float));
    }
}
/* (double attention, used by the tests, keeps the element-wise transpose) */
static void transpose_avx2_double(int64_t n, int64_t D, const double *src, int64_t rs, double *dst, int64_t ld)
{
    transpose_double(n, D, src, rs, dst, ld);
}
#endif

/* ==== softmax rows ============================================================================= */
static const float k_exp_coef_float[] = {1.9875691500E-4f, 1.3981999507E-3f, 8.3334519073E-3f, 4.1665795894E-2f,
                                         1.6666665459E-1f, 5.0000001201E-1f, 1.0f, 1.0f};
static const double k_exp_coef_double[] = {
    1.6059043836821613e-10, 2.08767569878681e-09, 2.505210838544172e-08, 2.755731922398589e-07,
    2.7557319223985893e-06, 2.48015873015873e-05, 0.0001984126984126984, 0.001388888888888889,
    0.008333333333333333, 0.041666666666666664, 0.16666666666666666, 0.5, 1.0, 1.0};

/* The softmax rows: generic (16-byte GCC vectors) and AVX2+FMA (32-byte), per type
 * (k_attention_rows_impl.h). */
#define NB__GFMA(a, b, c) ((a) * (b) + (c))
#define NB_T float
#define NB_U uint32_t
#define NB_KSET generic
#define NB_VB 16
#define NB_TGT
#define NB_FMA NB__GFMA
#include "k_attention_rows_impl.h"
#ifdef NB__ATTN_X86
#define NB_U uint32_t
#define NB_KSET avx2
#define NB_VB 32
#define NB_TGT NB__TGT_AVX2
#define NB_FMA _mm256_fmadd_ps
#include "k_attention_rows_impl.h"
#endif
#undef NB_T

#define NB_T double
#define NB_U uint64_t
#define NB_KSET generic
#define NB_VB 16
#define NB_TGT
#define NB_FMA NB__GFMA
#include "k_attention_rows_impl.h"
#ifdef NB__ATTN_X86
#define NB_U uint64_t
#define NB_KSET avx2
#define NB_VB 32
#define NB_TGT NB__TGT_AVX2
#define NB_FMA _mm256_fmadd_pd
#include "k_attention_rows_impl.h"
#endif
#undef NB_T


/* Pairs [p0, p1) of thread t of nt: contiguous chunks, so each thread allocates its tile once. */
static inline void chunk(int64_t n, int nt, int64_t t, int64_t *p0, int64_t *p1)
{
    *p0 = n * t / nt;
    *p1 = n * (t + 1) / nt;
}

static int threads_for_pairs(const nb__attn_geom *g)
{
    int64_t BH = g->B * g->H;
    int nt = nb__threads_for(BH * g->Tq * (g->Tk + 1) * (g->D + g->Dv + 1));
    return nt < BH ? nt : (int)(BH > 0 ? BH : 1);
}

/* bfloat16 operands (g->bf16): float only; a double geometry never has it set. */
static void round_tile_float(float *t, int64_t n) { nb__bf16_round_buf(t, t, n); }
static void round_tile_double(double *t, int64_t n) { (void)t, (void)n; }

#define NB_T float
#include "k_attention_impl.h"
#define NB_T double
#include "k_attention_impl.h"

/* Zero stride triples -> contiguous [B, H, T, W]. */
static void default_strides(int64_t st[3], int64_t H, int64_t T, int64_t W)
{
    if (st[0] || st[1] || st[2])
        return;
    st[2] = W, st[1] = T * W, st[0] = H * T * W;
}

void nb__k_attention_forward(nb_dtype dt, const nb__attn_geom *g0, const void *q, const void *k, const void *v,
                             void *out, double *lse)
{
    if (g0->B * g0->H == 0 || g0->Tq == 0)
        return;
    nb__attn_geom geo = *g0, *g = &geo;
    default_strides(geo.os, g->H, g->Tq, g->Dv);
    if (g->bf16 && dt != NB_F32)
        nb__fail("nb_scaled_dot_product_attention: bfloat16 operands need float32, got %s", nb_dtype_name(dt));
    switch (dt) {
#define NB_X(E, T) case E: fwd_##T(g, q, k, v, out, lse); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_scaled_dot_product_attention: unsupported dtype %s", nb_dtype_name(dt));
    }
}

void nb__k_attention_backward(nb_dtype dt, const nb__attn_geom *g0, const void *q, const void *k, const void *v,
                              const double *lse, const void *dout, void *dq, void *dk, void *dv, void *dmask)
{
    if (g0->B * g0->H == 0)
        return;
    nb__attn_geom geo = *g0, *g = &geo;
    default_strides(geo.dos, g->H, g->Tq, g->Dv);
    default_strides(geo.dqs, g->H, g->Tq, g->D);
    default_strides(geo.dks, g->H, g->Tk, g->D);
    default_strides(geo.dvs, g->H, g->Tk, g->Dv);
    if (g->bf16 && dt != NB_F32)
        nb__fail("nb_scaled_dot_product_attention: bfloat16 operands need float32, got %s", nb_dtype_name(dt));
    switch (dt) {
#define NB_X(E, T) case E: bwd_##T(g, q, k, v, lse, dout, dq, dk, dv, dmask); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_scaled_dot_product_attention: unsupported dtype %s", nb_dtype_name(dt));
    }
}
