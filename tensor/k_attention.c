/* k_attention.c — fused scaled-dot-product attention, forward and backward, written once per
 * element type T. One (b, h) pair at a time per thread, in row blocks over a thread-local score
 * tile: the products are small unpacked register-tiled loops, the softmax rows vector loops with
 * a polynomial exp; both come in an AVX2+FMA and a generic (16-byte vector) version, chosen at run
 * time like the GEMM's kernels. */
#include "config.h"
#include "nb__k_attention.h"
#include "nb__k_gemm.h"

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

/* ==== small products without packing ========================================================== */
/* C[i][j] = alpha * sum_p A[i*rsa + p*csa] * B[p*ldb + j] (+ C[i][j] when acc), i < M, j < N.
 * The attention products are small (K is D or a row block), so packing them as the general GEMM
 * does would cost as much as the arithmetic: here A's elements are broadcast straight from memory
 * (either storage order: rsa/csa) and B's rows are read as vectors. 6-row x 2-vector register tiles,
 * then 1-vector panels, then single columns. Each element of C is one chain over p in order. The
 * p loop is unrolled 4 times, as the GEMM micro-kernel's (A/B: 3-7% faster attention). */
#define NB__MM_PANEL(NV, T, V, VL, LOAD, STORE, SET1, ZERO, FMA, MUL, ADD)                          \
    for (int64_t i0 = 0; i0 < M; i0 += 6) {                                                         \
        int mr = M - i0 < 6 ? (int)(M - i0) : 6;                                                    \
        const T *a[6];                                                                              \
        for (int i = 0; i < 6; i++) /* rows past M repeat row 0 (computed, never stored) */         \
            a[i] = A + (i0 + (i < mr ? i : 0)) * rsa;                                               \
        V c[6][NV];                                                                                 \
        _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++)                                         \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) c[i][v] = ZERO();                  \
        _Pragma("GCC unroll 4") for (int64_t p = 0; p < K; p++) {                                   \
            const T *b = B + p * ldb + j0;                                                          \
            V bv[NV];                                                                               \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) bv[v] = LOAD(b + v * VL);          \
            int64_t ap = p * csa;                                                                   \
            _Pragma("GCC unroll 6") for (int i = 0; i < 6; i++) {                                   \
                V av = SET1(a[i][ap]);                                                              \
                _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) c[i][v] = FMA(av, bv[v], c[i][v]); \
            }                                                                                       \
        }                                                                                           \
        V va = SET1(alpha);                                                                         \
        for (int i = 0; i < mr; i++)                                                                \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) {                                  \
                T *cp = C + (i0 + i) * ldc + j0 + v * VL;                                           \
                V r = MUL(c[i][v], va);                                                             \
                STORE(cp, acc ? ADD(LOAD(cp), r) : r);                                              \
            }                                                                                       \
    }

#define NB__MM(NAME, TGT, T, V, VL, LOAD, STORE, SET1, ZERO, FMA, MUL, ADD)                         \
    TGT static void NAME(int64_t M, int64_t N, int64_t K, T alpha, const T *A, int64_t rsa,         \
                         int64_t csa, const T *B, int64_t ldb, bool acc, T *C, int64_t ldc)         \
    {                                                                                               \
        int64_t j0 = 0;                                                                             \
        for (; j0 + 2 * VL <= N; j0 += 2 * VL)                                                      \
            NB__MM_PANEL(2, T, V, VL, LOAD, STORE, SET1, ZERO, FMA, MUL, ADD)                       \
        for (; j0 + VL <= N; j0 += VL)                                                              \
            NB__MM_PANEL(1, T, V, VL, LOAD, STORE, SET1, ZERO, FMA, MUL, ADD)                       \
        for (; j0 < N; j0++)                                                                        \
            for (int64_t i = 0; i < M; i++) {                                                       \
                T s = 0;                                                                            \
                for (int64_t p = 0; p < K; p++)                                                     \
                    s += A[i * rsa + p * csa] * B[p * ldb + j0];                                    \
                T *cp = C + i * ldc + j0;                                                           \
                *cp = acc ? *cp + alpha * s : alpha * s;                                            \
            }                                                                                       \
    }

/* generic: GCC vector extensions, 16-byte vectors (SSE2 / NEON) */
#define NB__ATTN_GV(T, VL)                                                                          \
    typedef T av_##T __attribute__((vector_size(16)));                                              \
    static inline av_##T av_load_##T(const T *p)                                                    \
    {                                                                                               \
        av_##T v;                                                                                   \
        memcpy(&v, p, sizeof v);                                                                    \
        return v;                                                                                   \
    }                                                                                               \
    static inline void av_store_##T(T *p, av_##T v) { memcpy(p, &v, sizeof v); }                    \
    static inline av_##T av_set1_##T(T x)                                                           \
    {                                                                                               \
        av_##T v = {0};                                                                             \
        for (int i = 0; i < VL; i++)                                                                \
            v[i] = x;                                                                               \
        return v;                                                                                   \
    }                                                                                               \
    static inline av_##T av_zero_##T(void) { return av_set1_##T(0); }                               \
    static inline av_##T av_fma_##T(av_##T a, av_##T b, av_##T c) { return a * b + c; }             \
    static inline av_##T av_mul_##T(av_##T a, av_##T b) { return a * b; }                           \
    static inline av_##T av_add_##T(av_##T a, av_##T b) { return a + b; }                           \
    NB__MM(mm_generic_##T, , T, av_##T, VL, av_load_##T, av_store_##T, av_set1_##T, av_zero_##T,    \
           av_fma_##T, av_mul_##T, av_add_##T)
NB__ATTN_GV(float, 4)
NB__ATTN_GV(double, 2)

#ifdef NB__ATTN_X86
NB__MM(mm_avx2_float, NB__TGT_AVX2, float, __m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_set1_ps,
       _mm256_setzero_ps, _mm256_fmadd_ps, _mm256_mul_ps, _mm256_add_ps)
NB__MM(mm_avx2_double, NB__TGT_AVX2, double, __m256d, 4, _mm256_loadu_pd, _mm256_storeu_pd, _mm256_set1_pd,
       _mm256_setzero_pd, _mm256_fmadd_pd, _mm256_mul_pd, _mm256_add_pd)
#endif

#define NB__MM_FN(T)                                                                                \
    typedef void (*mm_fn_##T)(int64_t, int64_t, int64_t, T, const T *, int64_t, int64_t, const T *, \
                              int64_t, bool, T *, int64_t);
NB__MM_FN(float)
NB__MM_FN(double)

/* dst[d*ld + j] = src[j*rs + d]: the D x n transpose of n rows of D (a pair's K or V); columns
 * [n, ld) are zero. */
#define NB__TRANSPOSE(T)                                                                            \
    static void transpose_##T(int64_t n, int64_t D, const T *src, int64_t rs, T *dst, int64_t ld)   \
    {                                                                                               \
        for (int64_t j0 = 0; j0 < n; j0 += 8) { /* 8 source rows at a time: short write runs */     \
            int64_t jn = n - j0 < 8 ? n - j0 : 8;                                                   \
            for (int64_t d = 0; d < D; d++)                                                         \
                for (int64_t j = j0; j < j0 + jn; j++)                                              \
                    dst[d * ld + j] = src[j * rs + d];                                              \
        }                                                                                           \
        for (int64_t d = 0; d < D && n < ld; d++)                                                   \
            memset(dst + d * ld + n, 0, (size_t)(ld - n) * sizeof(T));                              \
    }
NB__TRANSPOSE(float)
NB__TRANSPOSE(double)
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
/* exp(x) on a vector x of T (in place): x = n ln2 + r (Cody-Waite split of ln2, n rounded with the
 * 1.5*2^mant trick), exp(r) by a polynomial (float: Cephes expf, ~1 ulp; double: Taylor to r^13,
 * error < 1e-17 on |r| <= ln2/2), times 2^n built in the exponent bits. Arguments are clamped to
 * the normal range (below it the result is ~1e-38 / ~1e-308 instead of 0); NaN stays NaN. */
static const float k_exp_coef_float[] = {1.9875691500E-4f, 1.3981999507E-3f, 8.3334519073E-3f, 4.1665795894E-2f,
                                         1.6666665459E-1f, 5.0000001201E-1f, 1.0f, 1.0f};
static const double k_exp_coef_double[] = {
    1.6059043836821613e-10, 2.08767569878681e-09, 2.505210838544172e-08, 2.755731922398589e-07,
    2.7557319223985893e-06, 2.48015873015873e-05, 0.0001984126984126984, 0.001388888888888889,
    0.008333333333333333, 0.041666666666666664, 0.16666666666666666, 0.5, 1.0, 1.0};
#define NB__VEXP(V, U, T, FMA, x)                                                                   \
    do {                                                                                            \
        const bool f_ = sizeof(T) == 4;                                                             \
        const T lo_ = f_ ? (T)-87.3 : (T)-708.3, hi_ = f_ ? (T)88.3 : (T)709.0;                     \
        const T mg_ = f_ ? (T)12582912.0 : (T)6755399441055744.0;                                   \
        const T c1_ = f_ ? (T)0.693359375 : (T)6.93145751953125E-1;                                 \
        const T c2_ = f_ ? (T)-2.12194440e-4 : (T)1.42860682030941723212E-6;                        \
        U lm_ = (U)(x < lo_), hm_ = (U)(x > hi_);                                                   \
        x = (V)(((U)x & ~(lm_ | hm_)) | ((U)((V){0} + lo_) & lm_) | ((U)((V){0} + hi_) & hm_));     \
        V t_ = x * (T)1.4426950408889634 + mg_, n_ = t_ - mg_;                                      \
        U e_ = (U)t_ - (U)((V){0} + mg_);                                                           \
        V r_ = x - n_ * c1_ - n_ * c2_, p_ = (V){0} + k_exp_coef_##T[0];                            \
        _Pragma("GCC unroll 14") for (int c_ = 1; c_ < (int)(sizeof k_exp_coef_##T / sizeof(T)); c_++) \
            p_ = FMA(p_, r_, (V){0} + k_exp_coef_##T[c_]);                                          \
        x = p_ * (V)((e_ + (f_ ? 127u : 1023u)) << (f_ ? 23 : 52));                                 \
    } while (0)

/* Row ii of a block of r rows (stride ld) has lim = min(base + ii, n) visible keys; entries
 * [lim, n) are set to 0. Sums are accumulated in double (4 partial sums, fixed order).
 *   softmax: s = exp(s - max) / sum, lse[ii] = max + log(sum)           (forward)
 *   exps:    s = exp(s - lse[ii])                                        (backward: P again)
 *   ds:      d = s * (d - sum_j s*d)                                     (backward: dS from P, dP) */
#define NB__ROWS(SFX, TGT, T, UI, VB, FMA)                                                          \
    typedef T rv_##SFX##_##T __attribute__((vector_size(VB)));                                      \
    typedef UI ru_##SFX##_##T __attribute__((vector_size(VB)));                                     \
    NB__ROWS_BODY(SFX, TGT, T, rv_##SFX##_##T, ru_##SFX##_##T, (int)(VB / sizeof(T)), FMA)
#define NB__ROWS_BODY(SFX, TGT, T, V, U, VL, FMA)                                                   \
    TGT static inline V rload_##SFX##_##T(const T *p)                                               \
    {                                                                                               \
        V v;                                                                                        \
        memcpy(&v, p, sizeof v);                                                                    \
        return v;                                                                                   \
    }                                                                                               \
    TGT static inline double rsum_##SFX##_##T(const T *s, const T *d, int64_t n)                    \
    {                                                                                               \
        double a[4] = {0, 0, 0, 0};                                                                 \
        int64_t j = 0;                                                                              \
        for (; j + 4 <= n; j += 4)                                                                  \
            for (int l = 0; l < 4; l++)                                                             \
                a[l] += d ? (double)s[j + l] * (double)d[j + l] : (double)s[j + l];                 \
        for (; j < n; j++)                                                                          \
            a[0] += d ? (double)s[j] * (double)d[j] : (double)s[j];                                 \
        return (a[0] + a[1]) + (a[2] + a[3]);                                                       \
    }                                                                                               \
    /* s[0, lim) = exp(s - sh) */                                                                   \
    TGT static inline void rexp_##SFX##_##T(T *s, int64_t lim, T sh)                                \
    {                                                                                               \
        int64_t j = 0;                                                                              \
        for (; j + VL <= lim; j += VL) {                                                            \
            V x = rload_##SFX##_##T(s + j) - sh;                                                    \
            NB__VEXP(V, U, T, FMA, x);                                                              \
            memcpy(s + j, &x, sizeof x);                                                            \
        }                                                                                           \
        if (j < lim) { /* the tail through a zero-padded vector: the same arithmetic */             \
            T buf[VL];                                                                              \
            memset(buf, 0, sizeof buf);                                                             \
            memcpy(buf, s + j, (size_t)(lim - j) * sizeof(T));                                      \
            V x = rload_##SFX##_##T(buf) - sh;                                                      \
            NB__VEXP(V, U, T, FMA, x);                                                              \
            memcpy(s + j, &x, (size_t)(lim - j) * sizeof(T));                                       \
        }                                                                                           \
    }                                                                                               \
    TGT static void softmax_##SFX##_##T(T *S, int64_t r, int64_t ld, int64_t n, int64_t base,       \
                                        double *lse)                                                \
    {                                                                                               \
        for (int64_t ii = 0; ii < r; ii++) {                                                        \
            T *s = S + ii * ld, m = -INFINITY;                                                      \
            int64_t lim = base + ii < n ? base + ii : n, j = 0;                                     \
            if (lim >= VL) {                                                                        \
                V mv = rload_##SFX##_##T(s);                                                        \
                for (j = VL; j + VL <= lim; j += VL) {                                              \
                    V x = rload_##SFX##_##T(s + j);                                                 \
                    U gt = (U)(x > mv);                                                             \
                    mv = (V)(((U)x & gt) | ((U)mv & ~gt));                                          \
                }                                                                                   \
                for (int l = 0; l < VL; l++)                                                        \
                    m = mv[l] > m ? mv[l] : m;                                                      \
            }                                                                                       \
            for (; j < lim; j++)                                                                    \
                m = s[j] > m ? s[j] : m;                                                            \
            rexp_##SFX##_##T(s, lim, m);                                                            \
            double sum = rsum_##SFX##_##T(s, NULL, lim);                                            \
            T inv = (T)(1.0 / sum);                                                                 \
            for (j = 0; j + VL <= lim; j += VL) {                                                   \
                V x = rload_##SFX##_##T(s + j) * inv;                                               \
                memcpy(s + j, &x, sizeof x);                                                        \
            }                                                                                       \
            for (; j < lim; j++)                                                                    \
                s[j] *= inv;                                                                        \
            memset(s + lim, 0, (size_t)(n - lim) * sizeof(T));                                      \
            lse[ii] = (double)m + log(sum);                                                         \
        }                                                                                           \
    }                                                                                               \
    TGT static void exps_##SFX##_##T(T *S, int64_t r, int64_t ld, int64_t n, int64_t base,          \
                                     const double *lse)                                             \
    {                                                                                               \
        for (int64_t ii = 0; ii < r; ii++) {                                                        \
            int64_t lim = base + ii < n ? base + ii : n;                                            \
            rexp_##SFX##_##T(S + ii * ld, lim, (T)lse[ii]);                                         \
            memset(S + ii * ld + lim, 0, (size_t)(n - lim) * sizeof(T));                            \
        }                                                                                           \
    }                                                                                               \
    TGT static void ds_##SFX##_##T(const T *S, T *dP, int64_t r, int64_t ld, int64_t n,             \
                                   int64_t base)                                                    \
    {                                                                                               \
        for (int64_t ii = 0; ii < r; ii++) {                                                        \
            const T *s = S + ii * ld;                                                               \
            T *d = dP + ii * ld;                                                                    \
            int64_t lim = base + ii < n ? base + ii : n, j = 0;                                     \
            T di = (T)rsum_##SFX##_##T(s, d, lim);                                                  \
            for (; j + VL <= lim; j += VL) {                                                        \
                V x = rload_##SFX##_##T(s + j) * (rload_##SFX##_##T(d + j) - di);                   \
                memcpy(d + j, &x, sizeof x);                                                        \
            }                                                                                       \
            for (; j < lim; j++)                                                                    \
                d[j] = s[j] * (d[j] - di);                                                          \
            memset(d + lim, 0, (size_t)(n - lim) * sizeof(T));                                      \
        }                                                                                           \
    }
#define NB__GFMA(a, b, c) ((a) * (b) + (c))
NB__ROWS(generic, , float, uint32_t, 16, NB__GFMA)
NB__ROWS(generic, , double, uint64_t, 16, NB__GFMA)
#ifdef NB__ATTN_X86
NB__ROWS(avx2, NB__TGT_AVX2, float, uint32_t, 32, _mm256_fmadd_ps)
NB__ROWS(avx2, NB__TGT_AVX2, double, uint64_t, 32, _mm256_fmadd_pd)
#endif

/* The kernel set for T: AVX2+FMA where the GEMM would use AVX2 or better (so forcing the GEMM's
 * kernel set, as the tests do, selects the generic one here too), else the generic one. */
#define NB__KSET(T)                                                                                 \
    typedef struct {                                                                                \
        mm_fn_##T mm;                                                                               \
        void (*softmax)(T *, int64_t, int64_t, int64_t, int64_t, double *);                         \
        void (*exps)(T *, int64_t, int64_t, int64_t, int64_t, const double *);                      \
        void (*ds)(const T *, T *, int64_t, int64_t, int64_t, int64_t);                             \
        void (*transpose)(int64_t, int64_t, const T *, int64_t, T *, int64_t);                      \
    } kset_##T;                                                                                     \
    static kset_##T kset_pick_##T(void)                                                             \
    {                                                                                               \
        NB__KSET_X86(T)                                                                             \
        return (kset_##T){mm_generic_##T, softmax_generic_##T, exps_generic_##T, ds_generic_##T,    \
                          transpose_##T};                                                           \
    }
#ifdef NB__ATTN_X86
#define NB__KSET_X86(T)                                                                             \
    if (nb__gemm_active_isa() >= NB__GEMM_AVX2)                                                     \
        return (kset_##T){mm_avx2_##T, softmax_avx2_##T, exps_avx2_##T, ds_avx2_##T, transpose_avx2_##T};
#else
#define NB__KSET_X86(T)
#endif
NB__KSET(float)
NB__KSET(double)

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

#define NB__ATTN(E, T)                                                                              \
    /* One pair: Kt = K^T once (ldk = pad8(Tk) columns); per row block of r rows seeing n keys:     \
     * S = scale Q Kt (ld = pad8(n) columns), softmax rows in place, O = P V.                       \
     * ws: R*ldk (S) + D*ldk (Kt). */                                                               \
    static void fwd_pair_##T(const kset_##T *ks, const nb__attn_geom *g, int64_t R, const T *q,     \
                             const T *k, const T *v, T *o, double *lse, T *ws)                      \
    {                                                                                               \
        int64_t qt = g->qs[2], vt = g->vs[2], ot = g->os[2], ldk = pad8(g->Tk);                     \
        T *S = ws, *Kt = ws + R * ldk;                                                              \
        ks->transpose(g->Tk, g->D, k, g->ks[2], Kt, ldk);                                           \
        for (int64_t i0 = 0; i0 < g->Tq; i0 += R) {                                                 \
            int64_t r = R < g->Tq - i0 ? R : g->Tq - i0, n = visible(g, i0 + r - 1), ld = pad8(n);  \
            int64_t base = g->causal ? i0 + 1 + (g->Tk - g->Tq) : n;                                \
            ks->mm(r, ld, g->D, (T)g->scale, q + i0 * qt, qt, 1, Kt, ldk, false, S, ld);            \
            ks->softmax(S, r, ld, n, base, lse + i0);                                               \
            ks->mm(r, g->Dv, n, 1, S, ld, 1, v, vt, false, o + i0 * ot, ot);                        \
        }                                                                                           \
    }                                                                                               \
                                                                                                    \
    static void fwd_##T(const nb__attn_geom *g, const T *q, const T *k, const T *v, T *o,           \
                        double *lse)                                                                \
    {                                                                                               \
        int64_t BH = g->B * g->H, R = block_rows(g), ldk = pad8(g->Tk);                             \
        int nt = threads_for_pairs(g);                                                              \
        kset_##T ks = kset_pick_##T();                                                              \
        NB__OMP_PARALLEL_FOR(nt)                                                                    \
        for (int64_t t = 0; t < nt; t++) {                                                          \
            int64_t p0, p1;                                                                         \
            chunk(BH, nt, t, &p0, &p1);                                                             \
            size_t sz = (size_t)((R + g->D) * ldk) * sizeof(T);                                     \
            T *ws = nb__alloc(sz);                                                                  \
            for (int64_t p = p0; p < p1; p++) {                                                     \
                int64_t b = p / g->H, h = p % g->H;                                                 \
                fwd_pair_##T(&ks, g, R, q + b * g->qs[0] + h * g->qs[1], k + b * g->ks[0] + h * g->ks[1], \
                             v + b * g->vs[0] + h * g->vs[1], o + b * g->os[0] + h * g->os[1], lse + p * g->Tq, ws); \
            }                                                                                       \
            nb__free(ws, sz);                                                                       \
        }                                                                                           \
    }                                                                                               \
                                                                                                    \
    /* One pair, per row block: P from lse; dV += P^T dO; dP = dO Vt; dS = P (dP - rowsum(P dP));   \
     * dQ = scale dS K; dK += scale dS^T Q. ws: 2*R*ldk (S, dP) + D*ldk (Kt) + Dv*ldk (Vt). */      \
    static void bwd_pair_##T(const kset_##T *ks, const nb__attn_geom *g, int64_t R, const T *q,     \
                             const T *k, const T *v, const double *lse, const T *dO, T *dq, T *dk,  \
                             T *dv, T *ws)                                                          \
    {                                                                                               \
        int64_t qt = g->qs[2], kt = g->ks[2], Tk = g->Tk, D = g->D, Dv = g->Dv, ldk = pad8(Tk);     \
        int64_t dot = g->dos[2], dqt = g->dqs[2], dkt = g->dks[2], dvt = g->dvs[2];                 \
        T *S = ws, *dP = ws + R * ldk, *Kt = dP + R * ldk, *Vt = Kt + D * ldk, sc = (T)g->scale;    \
        ks->transpose(Tk, D, k, kt, Kt, ldk);                                                       \
        if (dq || dk)                                                                               \
            ks->transpose(Tk, Dv, v, g->vs[2], Vt, ldk);                                            \
        for (int64_t j = 0; dk && j < Tk; j++)                                                      \
            memset(dk + j * dkt, 0, (size_t)D * sizeof(T));                                         \
        for (int64_t j = 0; dv && j < Tk; j++)                                                      \
            memset(dv + j * dvt, 0, (size_t)Dv * sizeof(T));                                        \
        for (int64_t i0 = 0; i0 < g->Tq; i0 += R) {                                                 \
            int64_t r = R < g->Tq - i0 ? R : g->Tq - i0, n = visible(g, i0 + r - 1), ld = pad8(n);  \
            int64_t base = g->causal ? i0 + 1 + (Tk - g->Tq) : n;                                   \
            const T *dOb = dO + i0 * dot;                                                           \
            ks->mm(r, ld, D, sc, q + i0 * qt, qt, 1, Kt, ldk, false, S, ld);                        \
            ks->exps(S, r, ld, n, base, lse + i0);                                                  \
            if (dv) /* dV[0:n] += P^T dO: A(j, i) = S[i*ld + j] */                                  \
                ks->mm(n, Dv, r, 1, S, 1, ld, dOb, dot, true, dv, dvt);                             \
            if (!dq && !dk)                                                                         \
                continue;                                                                           \
            ks->mm(r, ld, Dv, 1, dOb, dot, 1, Vt, ldk, false, dP, ld);                              \
            ks->ds(S, dP, r, ld, n, base);                                                          \
            if (dq)                                                                                 \
                ks->mm(r, D, n, sc, dP, ld, 1, k, kt, false, dq + i0 * dqt, dqt);                   \
            if (dk) /* dK[0:n] += scale dS^T Q */                                                   \
                ks->mm(n, D, r, sc, dP, 1, ld, q + i0 * qt, qt, true, dk, dkt);                     \
        }                                                                                           \
    }                                                                                               \
                                                                                                    \
    static void bwd_##T(const nb__attn_geom *g, const T *q, const T *k, const T *v, const double *lse, \
                        const T *dO, T *dq, T *dk, T *dv)                                           \
    {                                                                                               \
        int64_t BH = g->B * g->H, R = block_rows(g), ldk = pad8(g->Tk);                             \
        int nt = threads_for_pairs(g);                                                              \
        kset_##T ks = kset_pick_##T();                                                              \
        NB__OMP_PARALLEL_FOR(nt)                                                                    \
        for (int64_t t = 0; t < nt; t++) {                                                          \
            int64_t p0, p1;                                                                         \
            chunk(BH, nt, t, &p0, &p1);                                                             \
            size_t sz = (size_t)((2 * R + g->D + g->Dv) * ldk) * sizeof(T);                         \
            T *ws = nb__alloc(sz);                                                                  \
            for (int64_t p = p0; p < p1; p++) {                                                     \
                int64_t b = p / g->H, h = p % g->H;                                                 \
                bwd_pair_##T(&ks, g, R, q + b * g->qs[0] + h * g->qs[1], k + b * g->ks[0] + h * g->ks[1], \
                             v + b * g->vs[0] + h * g->vs[1], lse + p * g->Tq,                  \
                             dO + b * g->dos[0] + h * g->dos[1],                                    \
                             dq ? dq + b * g->dqs[0] + h * g->dqs[1] : NULL,                        \
                             dk ? dk + b * g->dks[0] + h * g->dks[1] : NULL,                        \
                             dv ? dv + b * g->dvs[0] + h * g->dvs[1] : NULL, ws);                   \
            }                                                                                       \
            nb__free(ws, sz);                                                                       \
        }                                                                                           \
    }
NB__FLOAT_TYPES(NB__ATTN)
#undef NB__ATTN

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
    switch (dt) {
#define NB_X(E, T) case E: fwd_##T(g, q, k, v, out, lse); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_scaled_dot_product_attention: unsupported dtype %s", nb_dtype_name(dt));
    }
}

void nb__k_attention_backward(nb_dtype dt, const nb__attn_geom *g0, const void *q, const void *k, const void *v,
                              const double *lse, const void *dout, void *dq, void *dk, void *dv)
{
    if (g0->B * g0->H == 0)
        return;
    nb__attn_geom geo = *g0, *g = &geo;
    default_strides(geo.dos, g->H, g->Tq, g->Dv);
    default_strides(geo.dqs, g->H, g->Tq, g->D);
    default_strides(geo.dks, g->H, g->Tk, g->D);
    default_strides(geo.dvs, g->H, g->Tk, g->Dv);
    switch (dt) {
#define NB_X(E, T) case E: bwd_##T(g, q, k, v, lse, dout, dq, dk, dv); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_scaled_dot_product_attention: unsupported dtype %s", nb_dtype_name(dt));
    }
}
