/* k_gemm.c — GEMM kernels: C = alpha * op(A) @ op(B) + beta * C, row-major float32/float64.
 *
 * The fast path is a Goto/BLIS-style packed GEMM, written once over the element type T:
 *
 *   for jc over N, step nc                 B panel (kc x nc), packed
 *     for pc over K, step kc
 *       pack B panel
 *       for ic over M, step mc             A block (mc x kc), packed
 *         for jr / ir over the block       micro-kernel: MR x NR accumulators in registers
 *
 * The two innermost loops run in the order that keeps one micro-panel in L1 (cache_plan): AVX2
 * and generic run jr outside ir (BLIS order: the kc x NR B micro-panel stays in L1, A micro-panels
 * stream from the L2-resident A block); AVX-512, whose 32-wide B micro-panel is too big for L1,
 * runs ir outside jr (the MR x kc A micro-panel stays in L1, B streams from an L2-sized panel).
 * Packing reads A and B through (row, column) element strides, so a transposed operand is just
 * a swapped stride pair: no transpose copy ever. Partial tiles are zero-padded in the packed
 * buffers, so the micro-kernel always runs full tiles; only the write-back of an edge tile goes
 * through a small scalar loop that does the same arithmetic as the vector write-back.
 *
 * Micro-kernels (chosen at run time with __builtin_cpu_supports):
 *   AVX-512F   float 14x32, double 14x16   (28 zmm accumulators)
 *   AVX2+FMA   float  6x16, double  6x8    (12 ymm accumulators)
 *   generic    float  4x8,  double  4x4    (GCC vector extensions, 16-byte vectors)
 *
 * Determinism: threads split C into rectangles (never K). The K blocking depends only on K and
 * the micro-kernel, and every element of C is the same chain of FMAs in k order plus the same
 * write-back, whatever rectangle or thread computes it: results are bit-identical for any
 * thread count. Small products of a batch run one per thread, with the same arithmetic.
 * (Built with BLAS, large products go to cblas_?gemm, whose determinism is the BLAS's.)
 */
#include "config.h"
#include "nb__k_gemm.h"

#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#define NB__OMP(x) _Pragma(x)
#else
#define NB__OMP(x)
#endif

#include "nb__simd.h"
#ifdef NB__X86
#define NB__GEMM_X86 1
#endif

#ifdef NB_HAVE_BLAS
#include <cblas.h>
#endif

/* ==== reference kernel (the test oracle: plain triple loop, double accumulation) ============== */
#define NB__GEMM_REF(T, SFX)                                                                        \
    void nb__gemm_ref_##SFX(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, \
                            int64_t lda, const T *B, int64_t ldb, T beta, T *C, int64_t ldc)        \
    {                                                                                               \
        for (int64_t i = 0; i < M; i++)                                                             \
            for (int64_t j = 0; j < N; j++) {                                                       \
                double acc = 0;                                                                     \
                for (int64_t p = 0; p < K; p++)                                                     \
                    acc += (double)A[ta ? p * lda + i : i * lda + p] *                              \
                           (double)B[tb ? j * ldb + p : p * ldb + j];                               \
                double c = alpha == 0 ? 0.0 : (double)alpha * acc;                                  \
                if (beta != 0)                                                                      \
                    c += (double)beta * (double)C[i * ldc + j];                                     \
                C[i * ldc + j] = (T)c;                                                              \
            }                                                                                       \
    }
NB__GEMM_REF(float, f32)
NB__GEMM_REF(double, f64)

/* ==== kernel selection ======================================================================== */
static nb__gemm_isa g_force = NB__GEMM_AUTO;

nb__gemm_isa nb__gemm_force_isa(nb__gemm_isa isa)
{
    nb__gemm_isa prev = g_force;
    g_force = (isa >= NB__GEMM_AUTO && isa < NB__GEMM_ISA_COUNT) ? isa : NB__GEMM_AUTO;
    return prev;
}

nb__gemm_isa nb__gemm_active_isa(void)
{
    nb__gemm_isa want = g_force == NB__GEMM_AUTO ? NB__GEMM_AVX512 : g_force;
#ifdef NB__GEMM_X86
    if (want >= NB__GEMM_AVX512 && __builtin_cpu_supports("avx512f"))
        return NB__GEMM_AVX512;
    if (want >= NB__GEMM_AVX2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return NB__GEMM_AVX2;
#else
    (void)want;
#endif
    return NB__GEMM_GENERIC;
}

const char *nb__gemm_isa_name(nb__gemm_isa isa)
{
    static const char *const names[NB__GEMM_ISA_COUNT] = {"auto", "generic", "avx2", "avx512"};
    return (isa >= 0 && isa < NB__GEMM_ISA_COUNT) ? names[isa] : "?";
}

/* ==== edge-tile write-back (scalar; same operations as the vector write-back) ================= */
/* c[i][j] = alpha*t[i][j] + beta*c[i][j] as: r = t (*alpha unless 1); c = r (beta 0, C unread),
 * else c = (c (*beta unless 1)) + r. */
#define NB__GEMM_TILE_STORE(T)                                                                      \
    static void tile_store_##T(const T *t, int ldt, T *c, int64_t ldc, int mr, int nr, T alpha,     \
                               T beta)                                                              \
    {                                                                                               \
        for (int i = 0; i < mr; i++)                                                                \
            for (int j = 0; j < nr; j++) {                                                          \
                T r = t[i * ldt + j];                                                               \
                if (alpha != 1)                                                                     \
                    r = r * alpha;                                                                  \
                T *cp = c + i * ldc + j;                                                            \
                if (beta == 0) {                                                                    \
                    *cp = r;                                                                        \
                } else {                                                                            \
                    T o = *cp;                                                                      \
                    if (beta != 1)                                                                  \
                        o = o * beta;                                                               \
                    *cp = o + r;                                                                    \
                }                                                                                   \
            }                                                                                       \
    }
NB__GEMM_TILE_STORE(float)
NB__GEMM_TILE_STORE(double)

/* ==== micro-kernel, written once ============================================================== */
/* NAME(kc, a, b, c, ldc, mr, nr, alpha, beta): a is a packed MR x kc micro-panel (MR values per
 * k), b a packed kc x NR one (BS values per k, of which the kernel uses NR = NV*VL). Computes the
 * full MR x NR product in registers, then writes its mr x nr top-left part to c with alpha/beta.
 * The k loop is unrolled 4 times: rolled, the AVX2 loop body (~120 bytes) ran 3-5% faster or
 * slower depending on where the linker put it relative to 64-byte fetch blocks; unrolled it is
 * 2-5% faster than the best placement and no longer sensitive to it (sgemm 1024^3, A/B runs). */
#define NB__UKR_ONE(NAME, TGT, T, V, VL, MR, NV, BS, LOAD, STORE, SET1, ZERO, FMA, MUL, ADD)       \
    TGT static void NAME(int64_t kc, const T *restrict a, const T *restrict b, T *restrict c,       \
                         int64_t ldc, int mr, int nr, T alpha, T beta)                              \
    {                                                                                               \
        V acc[MR][NV];                                                                              \
        _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                                     \
            __builtin_prefetch(c + i * ldc, 1);                                                     \
            __builtin_prefetch(c + i * ldc + NV * VL - 1, 1);                                       \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[i][v] = ZERO();                \
        }                                                                                           \
        _Pragma("GCC unroll 4") for (int64_t p = 0; p < kc; p++, a += MR, b += BS) {                \
            V bv[NV];                                                                               \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) bv[v] = LOAD(b + v * VL);          \
            _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) {                                 \
                V av = SET1(a[i]);                                                                  \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[i][v] =                    \
                    FMA(av, bv[v], acc[i][v]);                                                      \
            }                                                                                       \
        }                                                                                           \
        if (mr == MR && nr == NV * VL) {                                                            \
            V va = SET1(alpha), vb = SET1(beta);                                                    \
            _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                   \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) {                              \
                    V r = acc[i][v];                                                                \
                    T *cp = c + i * ldc + v * VL;                                                   \
                    if (alpha != 1)                                                                 \
                        r = MUL(r, va);                                                             \
                    if (beta == 0) {                                                                \
                        STORE(cp, r);                                                               \
                    } else {                                                                        \
                        V o = LOAD(cp);                                                             \
                        if (beta != 1)                                                              \
                            o = MUL(o, vb);                                                         \
                        STORE(cp, ADD(o, r));                                                       \
                    }                                                                               \
                }                                                                                   \
        } else {                                                                                    \
            T tmp[MR * NV * VL];                                                                    \
            _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++)                                   \
                _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++)                                \
                    STORE(tmp + i * NV * VL + v * VL, acc[i][v]);                                   \
            tile_store_##T(tmp, NV * VL, c, ldc, mr, nr, alpha, beta);                              \
        }                                                                                           \
    }

/* The full-width kernel NAME (NV vectors per row) and NAME_half (one vector per row, same packed
 * B layout) for column panels at most half full: with NR = 32, N = 65 computes 80 columns, not
 * 96. Each element gets the same FMA chain and write-back from either. */
#define NB__UKR(NAME, TGT, T, V, VL, MR, NV, ...)                                                   \
    NB__UKR_ONE(NAME, TGT, T, V, VL, MR, NV, NV * VL, __VA_ARGS__)                                  \
    NB__UKR_ONE(NAME##_half, TGT, T, V, VL, MR, 1, NV * VL, __VA_ARGS__)

/* ---- generic: GCC vector extensions (16-byte vectors: SSE2 / NEON), no FMA contraction ----- */
#define NB__GV_DEFINE(T, VL)                                                                        \
    typedef T gv_##T __attribute__((vector_size(16)));                                              \
    static inline gv_##T gv_load_##T(const T *p)                                                    \
    {                                                                                               \
        gv_##T v;                                                                                   \
        memcpy(&v, p, sizeof v);                                                                    \
        return v;                                                                                   \
    }                                                                                               \
    static inline void gv_store_##T(T *p, gv_##T v) { memcpy(p, &v, sizeof v); }                    \
    static inline gv_##T gv_set1_##T(T x)                                                          \
    {                                                                                               \
        gv_##T v;                                                                                   \
        for (int i = 0; i < VL; i++)                                                                \
            v[i] = x;                                                                               \
        return v;                                                                                   \
    }                                                                                               \
    static inline gv_##T gv_zero_##T(void) { return gv_set1_##T(0); }                              \
    static inline gv_##T gv_fma_##T(gv_##T a, gv_##T b, gv_##T c) { return a * b + c; }             \
    static inline gv_##T gv_mul_##T(gv_##T a, gv_##T b) { return a * b; }                           \
    static inline gv_##T gv_add_##T(gv_##T a, gv_##T b) { return a + b; }
NB__GV_DEFINE(float, 4)
NB__GV_DEFINE(double, 2)

NB__UKR(ukr_generic_float, , float, gv_float, 4, 4, 2, gv_load_float, gv_store_float, gv_set1_float,
        gv_zero_float, gv_fma_float, gv_mul_float, gv_add_float)
NB__UKR(ukr_generic_double, , double, gv_double, 2, 4, 2, gv_load_double, gv_store_double,
        gv_set1_double, gv_zero_double, gv_fma_double, gv_mul_double, gv_add_double)

#ifdef NB__GEMM_X86
NB__UKR(ukr_avx2_float, NB__TGT_AVX2, float, __m256, 8, 6, 2, _mm256_loadu_ps, _mm256_storeu_ps,
        _mm256_set1_ps, _mm256_setzero_ps, _mm256_fmadd_ps, _mm256_mul_ps, _mm256_add_ps)
NB__UKR(ukr_avx2_double, NB__TGT_AVX2, double, __m256d, 4, 6, 2, _mm256_loadu_pd, _mm256_storeu_pd,
        _mm256_set1_pd, _mm256_setzero_pd, _mm256_fmadd_pd, _mm256_mul_pd, _mm256_add_pd)
NB__UKR(ukr_avx512_float, NB__TGT_AVX512, float, __m512, 16, 14, 2, _mm512_loadu_ps, _mm512_storeu_ps,
        _mm512_set1_ps, _mm512_setzero_ps, _mm512_fmadd_ps, _mm512_mul_ps, _mm512_add_ps)
NB__UKR(ukr_avx512_double, NB__TGT_AVX512, double, __m512d, 8, 14, 2, _mm512_loadu_pd,
        _mm512_storeu_pd, _mm512_set1_pd, _mm512_setzero_pd, _mm512_fmadd_pd, _mm512_mul_pd,
        _mm512_add_pd)
#endif

/* ==== packing, written once over (T, MR) and (T, NR) ========================================== */
/* MR-row micro-panels of the mc x kc block at A (element (i, p) at A[i*rs + p*cs]):
 * dst[panel][p*MR + i]; rows past mc are zero. Full panels of row-major (cs == 1) or
 * transposed (rs == 1) storage take loops with a constant trip count. */
#define NB__PACK_A(T, MR)                                                                           \
    static void pack_a_##T##_##MR(int64_t mc, int64_t kc, const T *A, int64_t rs, int64_t cs,       \
                                  T *restrict dst)                                                  \
    {                                                                                               \
        for (int64_t ir = 0; ir < mc; ir += MR, dst += MR * kc) {                                   \
            const T *src = A + ir * rs;                                                             \
            if (mc - ir >= MR && cs == 1) {                                                         \
                for (int64_t p = 0; p < kc; p++)                                                    \
                    _Pragma("GCC unroll 16") for (int i = 0; i < MR; i++) dst[p * MR + i] =         \
                        src[i * rs + p];                                                            \
            } else if (mc - ir >= MR && rs == 1) {                                                  \
                for (int64_t p = 0; p < kc; p++)                                                    \
                    memcpy(dst + p * MR, src + p * cs, MR * sizeof(T));                             \
            } else {                                                                                \
                int mr = (int)min64(MR, mc - ir);                                                   \
                for (int64_t p = 0; p < kc; p++) {                                                  \
                    int i = 0;                                                                      \
                    for (; i < mr; i++)                                                             \
                        dst[p * MR + i] = src[i * rs + p * cs];                                     \
                    for (; i < MR; i++)                                                             \
                        dst[p * MR + i] = 0;                                                        \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }

/* NR-column micro-panels of the kc x nc block at B (element (p, j) at B[p*rs + j*cs]):
 * dst[panel][p*NR + j]; columns past nc are zero. The full panels of a row-major B (cs == 1) are
 * filled row by row, reading B in memory order: panel by panel, each row of a 1024-wide B is a
 * 4 KB stride (a new page, the same L1 set), which made packing B twice as slow. */
#define NB__PACK_B(T, NR)                                                                           \
    static void pack_b_##T##_##NR(int64_t kc, int64_t nc, const T *B, int64_t rs, int64_t cs,       \
                                  T *restrict dst)                                                  \
    {                                                                                               \
        int64_t full = cs == 1 ? nc / NR * NR : 0;                                                  \
        for (int64_t p = 0; p < kc; p++) /* full panels of row-major B: row by row */               \
            for (int64_t jr = 0; jr < full; jr += NR)                                               \
                memcpy(dst + jr * kc + p * NR, B + p * rs + jr, NR * sizeof(T));                    \
        dst += full * kc;                                                                           \
        for (int64_t jr = full; jr < nc; jr += NR, dst += NR * kc) {                                \
            const T *src = B + jr * cs;                                                             \
            int nr = (int)min64(NR, nc - jr);                                                       \
            if (cs == 1) {                                                                          \
                for (int64_t p = 0; p < kc; p++)                                                    \
                    memcpy(dst + p * NR, src + p * rs, (size_t)nr * sizeof(T));                     \
            } else {                                                                                \
                for (int j = 0; j < nr; j++)                                                        \
                    for (int64_t p = 0; p < kc; p++)                                                \
                        dst[p * NR + j] = src[j * cs + p * rs];                                     \
            }                                                                                       \
            for (int64_t p = 0; nr < NR && p < kc; p++)                                             \
                for (int j = nr; j < NR; j++)                                                       \
                    dst[p * NR + j] = 0;                                                            \
        }                                                                                           \
    }

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

NB__PACK_A(float, 4)
NB__PACK_A(float, 6)
NB__PACK_A(float, 14)
NB__PACK_A(double, 4)
NB__PACK_A(double, 6)
NB__PACK_A(double, 14)
NB__PACK_B(float, 8)
NB__PACK_B(float, 16)
NB__PACK_B(float, 32)
NB__PACK_B(double, 4)
NB__PACK_B(double, 8)
NB__PACK_B(double, 16)

#ifdef NB__GEMM_X86
/* pack_b_float_16 for the AVX2 kernel, with full 16-column panels of a transposed B (rs == 1:
 * x @ W^T, where column j of op(B) is row j of W) moved by 8 x 8 AVX2 transposes instead of one
 * element at a time. The packed values are the same. */
NB__TGT_AVX2 static void pack_b_x_float_16(int64_t kc, int64_t nc, const float *B, int64_t rs, int64_t cs,
                                           float *restrict dst)
{
    if (rs != 1) {
        pack_b_float_16(kc, nc, B, rs, cs, dst);
        return;
    }
    int64_t full = nc / 16 * 16;
    for (int64_t jr = 0; jr < full; jr += 16, dst += 16 * kc) {
        const float *src = B + jr * cs;
        int64_t p = 0;
        const float *next = jr + 16 < full ? src + 16 * cs : src; /* the next panel's rows, fetched ahead */
        for (; p + 8 <= kc; p += 8) {
            _Pragma("GCC unroll 16") for (int i = 0; i < 16; i++)
                _mm_prefetch((const char *)(next + i * cs + p), _MM_HINT_T0);
            _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) { /* columns 0-7, then 8-15: 8 registers each */
                __m256 r[8];
                _Pragma("GCC unroll 16") for (int i = 0; i < 8; i++)
                    r[i] = _mm256_loadu_ps(src + (i + 8 * h) * cs + p);
                nb__transpose8_ps(r);
                _Pragma("GCC unroll 16") for (int q = 0; q < 8; q++)
                    _mm256_storeu_ps(dst + (p + q) * 16 + 8 * h, r[q]);
            }
        }
        for (; p < kc; p++)
            for (int j = 0; j < 16; j++)
                dst[p * 16 + j] = src[j * cs + p];
    }
    if (full < nc)
        pack_b_float_16(kc, nc - full, B + full * cs, rs, cs, dst);
}
/* pack_a_float_6 for the AVX2 kernel, with full 6-row panels of a row-major A (cs == 1) moved by
 * 8 x 8 AVX2 transposes (rows 6 and 7 of each block are loads of row 5 again, never stored). */
NB__TGT_AVX2 static void pack_a_x_float_6(int64_t mc, int64_t kc, const float *A, int64_t rs, int64_t cs,
                                          float *restrict dst)
{
    if (cs != 1) {
        pack_a_float_6(mc, kc, A, rs, cs, dst);
        return;
    }
    int64_t full = mc / 6 * 6;
    for (int64_t ir = 0; ir < full; ir += 6, dst += 6 * kc) {
        const float *src = A + ir * rs;
        int64_t p = 0;
        const float *next = ir + 6 < full ? src + 6 * rs : src; /* the next panel's rows, fetched ahead */
        for (; p + 8 <= kc; p += 8) {
            __m256 r[8];
            _Pragma("GCC unroll 16") for (int i = 0; i < 6; i++)
                _mm_prefetch((const char *)(next + i * rs + p), _MM_HINT_T0);
            _Pragma("GCC unroll 16") for (int i = 0; i < 8; i++)
                r[i] = _mm256_loadu_ps(src + (i < 6 ? i : 5) * rs + p);
            nb__transpose8_ps(r);
            _Pragma("GCC unroll 16") for (int q = 0; q < 7; q++) /* 8 floats into a 6-float slot: the next slot is written after */
                _mm256_storeu_ps(dst + (p + q) * 6, r[q]);
            /* the last slot: 4 + 2 floats, nothing written past it */
            _mm_storeu_ps(dst + (p + 7) * 6, _mm256_castps256_ps128(r[7]));
            _mm_storel_pi((__m64 *)(void *)(dst + (p + 7) * 6 + 4), _mm256_extractf128_ps(r[7], 1));
        }
        for (; p < kc; p++)
            _Pragma("GCC unroll 16") for (int i = 0; i < 6; i++)
                dst[p * 6 + i] = src[i * rs + p];
    }
    if (full < mc)
        pack_a_float_6(mc - full, kc, A + full * rs, rs, cs, dst);
}
static void pack_a_x_double_6(int64_t mc, int64_t kc, const double *A, int64_t rs, int64_t cs, double *restrict dst)
{
    pack_a_double_6(mc, kc, A, rs, cs, dst);
}
static void pack_b_x_double_8(int64_t kc, int64_t nc, const double *B, int64_t rs, int64_t cs, double *restrict dst)
{
    pack_b_double_8(kc, nc, B, rs, cs, dst);
}
#endif

/* ==== blocking and thread split (type-independent) ============================================ */
/* Cache blocking of one kernel set: loop order and byte budgets. */
typedef struct {
    bool b_outer;       /* jr outside ir: the B micro-panel stays in L1, A micro-panels stream
                           from the L2-resident A block (BLIS order); else ir outside jr: the A
                           micro-panel stays in L1, B micro-panels stream from the L2-resident
                           B panel */
    int64_t l1_bytes;   /* budget of the micro-panel kept in L1 (sets kc) */
    int64_t mc_bytes;   /* packed A block */
    int64_t nc_bytes;   /* packed B panel */
} cache_plan;

typedef struct {
    int64_t kc, mc, nc;
} blocking;

/* kc splits K into equal blocks no larger than the L1 budget allows: it depends only on K and
 * the kernel, which is what makes results thread-count independent. */
static blocking blocking_for(int64_t K, int mr, int nr, size_t esz, const cache_plan *cp)
{
    blocking b;
    int64_t kc_max = cp->l1_bytes / ((int64_t)(cp->b_outer ? nr : mr) * (int64_t)esz);
    kc_max = kc_max > 384 ? 384 : kc_max < 32 ? 32 : kc_max;
    int64_t nk = (K + kc_max - 1) / kc_max;
    b.kc = (K + nk - 1) / nk;
    b.nc = cp->nc_bytes / (b.kc * (int64_t)esz) / nr * nr;
    b.mc = cp->mc_bytes / (b.kc * (int64_t)esz) / mr * mr;
    if (b.nc < nr)
        b.nc = nr;
    if (b.mc < mr)
        b.mc = mr;
    return b;
}

static const cache_plan plan_l1_b = {true, 16 << 10, 192 << 10, 4 << 20};  /* AVX2, generic */
static const cache_plan plan_l1_a = {false, 16 << 10, 256 << 10, 512 << 10}; /* AVX-512 */

/* Threads for a product of `fmas` multiply-adds (a packed GEMM needs ~2M of them to pay for a
 * parallel region). */
static int threads_for_fmas(double fmas)
{
    double w = fmas / 64;
    return nb__threads_for(w > 1e15 ? (int64_t)1e15 : (int64_t)w);
}

/* Splits nt threads into a tm x tn grid over pm x pn tiles (of mr x nr) minimizing the largest
 * thread's work: its multiply-adds plus its packing, which a grid shape changes (every thread packs
 * the B panel of its own columns and, for each nc-wide panel of them, the A block of its rows).
 * A packed element of A counts as PACK_COST_A multiply-adds, one of B as PACK_COST_B: measured
 * (1024^3, 768^3, 2048x512x512 both ways, NN and NT), row splits, which pack B in every thread,
 * ran 1-2% faster than column splits of the same count with equal weights. For 256 x 50257 x 768
 * (GPT-2's lm_head) this still splits the columns: split rows, both threads would pack the whole
 * 50257 x 768 weight. Ties: more row splits. Returns the threads used. */
#define PACK_COST_A 8
#define PACK_COST_B 4
static int split_threads(int nt, int64_t pm, int64_t pn, int mr, int nr, int64_t nc, int *tm, int *tn)
{
    if ((int64_t)nt > pm * pn)
        nt = (int)(pm * pn);
    int64_t best = INT64_MAX;
    *tm = 1;
    for (int d = 1; d <= nt; d++) {
        if (nt % d)
            continue;
        int64_t rows = (pm + d - 1) / d * mr, cols = (pn + nt / d - 1) / (nt / d) * nr;
        int64_t cost = rows * cols + PACK_COST_A * rows * ((cols + nc - 1) / nc) + PACK_COST_B * cols;
        if (cost <= best)
            best = cost, *tm = d;
    }
    *tn = nt / *tm;
    return nt;
}

/* Part `idx` of `parts` near-equal parts of `panels` tiles of size `tile`, clamped to n. */
static void split_range(int64_t panels, int parts, int idx, int64_t tile, int64_t n, int64_t *lo,
                        int64_t *hi)
{
    int64_t base = panels / parts, rem = panels % parts;
    int64_t p0 = idx * base + (idx < rem ? idx : rem), p1 = p0 + base + (idx < rem);
    *lo = min64(p0 * tile, n);
    *hi = min64(p1 * tile, n);
}

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

#ifdef NB_HAVE_BLAS
/* BLAS is used for large products with BLAS-valid leading dimensions, unless a kernel set is
 * forced (tests compare the own kernels). */
static bool blas_usable(bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb,
                        int64_t ldc)
{
    if (g_force != NB__GEMM_AUTO || (double)M * N * K < 128.0 * 128 * 128)
        return false;
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || lda > INT32_MAX || ldb > INT32_MAX ||
        ldc > INT32_MAX)
        return false;
    int64_t acols = ta ? M : K, bcols = tb ? K : N;
    return lda >= (acols > 1 ? acols : 1) && ldb >= (bcols > 1 ? bcols : 1) && ldc >= (N > 1 ? N : 1);
}
#define NB__GEMM_BLAS_PATH(BLASFN)                                                                  \
    if (blas_usable(ta, tb, M, N, K, lda, ldb, ldc)) {                                              \
        for (int64_t bi = 0; bi < nbatch; bi++)                                                     \
            BLASFN(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,   \
                   (int)M, (int)N, (int)K, alpha, A + (aoff ? aoff[bi] : 0), (int)lda,              \
                   B + (boff ? boff[bi] : 0), (int)ldb, beta, C + (coff ? coff[bi] : 0), (int)ldc); \
        return;                                                                                     \
    }
#else
#define NB__GEMM_BLAS_PATH(BLASFN)
#endif

/* ==== the driver, written once over T ========================================================= */
/* The micro-kernel for a column panel with `left` columns: the half-width one when it suffices. */
#define NB__UKR_FOR(k, left) ((left) * 2 <= (k)->nr ? (k)->ukr_half : (k)->ukr)

/* GMR/GNR, XMR/XNR, ZMR/ZNR: micro-tile of the generic, AVX2 and AVX-512 kernels for T. */
#define NB__GEMM_DRIVER(T, SFX, BLASFN, GMR, GNR, XMR, XNR, ZMR, ZNR)                               \
    typedef struct {                                                                                \
        int mr, nr;                                                                                 \
        const cache_plan *plan;                                                                     \
        void (*ukr)(int64_t, const T *, const T *, T *, int64_t, int, int, T, T);                   \
        void (*ukr_half)(int64_t, const T *, const T *, T *, int64_t, int, int, T, T);              \
        void (*pack_a)(int64_t, int64_t, const T *, int64_t, int64_t, T *);                         \
        void (*pack_b)(int64_t, int64_t, const T *, int64_t, int64_t, T *);                         \
    } kern_##T;                                                                                     \
                                                                                                    \
    /* op(A)[i][p] = A[i*rsa + p*csa], op(B)[p][j] = B[p*rsb + j*csb], C[i][j] = C[i*ldc + j]. */  \
    typedef struct {                                                                                \
        int64_t M, N, K;                                                                            \
        const T *A;                                                                                 \
        int64_t rsa, csa;                                                                           \
        const T *B;                                                                                 \
        int64_t rsb, csb;                                                                           \
        T *C;                                                                                       \
        int64_t ldc;                                                                                \
        T alpha, beta;                                                                              \
    } prob_##T;                                                                                     \
                                                                                                    \
    static kern_##T kern_select_##T(void)                                                           \
    {                                                                                               \
        switch (nb__gemm_active_isa()) {                                                            \
        NB__GEMM_X86_CASES(T, XMR, XNR, ZMR, ZNR)                                                   \
        default:                                                                                    \
            return (kern_##T){GMR, GNR, &plan_l1_b, ukr_generic_##T, ukr_generic_##T##_half,      \
                              pack_a_##T##_##GMR, pack_b_##T##_##GNR};                              \
        }                                                                                           \
    }                                                                                               \
                                                                                                    \
    /* The packed GEMM on the rectangle rows [m0, m1) x cols [n0, n1) of C. */                      \
    static void region_##T(const kern_##T *k, const blocking *bl, const prob_##T *P, int64_t m0,    \
                           int64_t m1, int64_t n0, int64_t n1, T *abuf, T *bbuf)                    \
    {                                                                                               \
        const int MR = k->mr, NR = k->nr;                                                           \
        int64_t nblk = (n1 - n0 + bl->nc - 1) / bl->nc;                                             \
        int64_t nstep = round_up((n1 - n0 + nblk - 1) / nblk, NR);                                  \
        for (int64_t jc = n0; jc < n1; jc += nstep) {                                               \
            int64_t nc = min64(nstep, n1 - jc);                                                     \
            for (int64_t pc = 0; pc < P->K; pc += bl->kc) {                                         \
                int64_t kc = min64(bl->kc, P->K - pc);                                              \
                T beta = pc == 0 ? P->beta : (T)1;                                                  \
                k->pack_b(kc, nc, P->B + pc * P->rsb + jc * P->csb, P->rsb, P->csb, bbuf);          \
                for (int64_t ic = m0; ic < m1; ic += bl->mc) {                                      \
                    int64_t mc = min64(bl->mc, m1 - ic);                                            \
                    k->pack_a(mc, kc, P->A + ic * P->rsa + pc * P->csa, P->rsa, P->csa, abuf);      \
                    T *c = P->C + ic * P->ldc + jc;                                                 \
                    if (k->plan->b_outer) {                                                         \
                        for (int64_t jr = 0; jr < nc; jr += NR)                                     \
                            for (int64_t ir = 0; ir < mc; ir += MR)                                 \
                                NB__UKR_FOR(k, nc - jr)(kc, abuf + ir * kc, bbuf + jr * kc,         \
                                                        c + ir * P->ldc + jr, P->ldc,               \
                                                        (int)min64(MR, mc - ir),                    \
                                                        (int)min64(NR, nc - jr), P->alpha, beta);   \
                    } else {                                                                        \
                        for (int64_t ir = 0; ir < mc; ir += MR)                                     \
                            for (int64_t jr = 0; jr < nc; jr += NR)                                 \
                                NB__UKR_FOR(k, nc - jr)(kc, abuf + ir * kc, bbuf + jr * kc,         \
                                                        c + ir * P->ldc + jr, P->ldc,               \
                                                        (int)min64(MR, mc - ir),                    \
                                                        (int)min64(NR, nc - jr), P->alpha, beta);   \
                    }                                                                               \
                }                                                                                   \
            }                                                                                       \
        }                                                                                           \
    }                                                                                               \
                                                                                                    \
    /* Unpacked loops for K == 0, alpha == 0 and vector shapes (M == 1 or N == 1): each c[i][j] \
     * accumulates a[i][p]*b[p][j] in k order in T, then the same write-back as the tiles. */     \
    static void simple_##T(const prob_##T *P)                                                       \
    {                                                                                               \
        enum { W = 256 };                                                                           \
        T acc[W];                                                                                   \
        for (int64_t i = 0; i < P->M; i++)                                                          \
            for (int64_t j0 = 0; j0 < P->N; j0 += W) {                                              \
                int jn = (int)min64(W, P->N - j0);                                                  \
                for (int j = 0; j < jn; j++)                                                        \
                    acc[j] = 0;                                                                     \
                for (int64_t p = 0; P->alpha != 0 && p < P->K; p++) {                               \
                    T a = P->A[i * P->rsa + p * P->csa];                                            \
                    const T *b = P->B + p * P->rsb + j0 * P->csb;                                   \
                    for (int j = 0; j < jn; j++)                                                    \
                        acc[j] = acc[j] + a * b[j * P->csb];                                        \
                }                                                                                   \
                tile_store_##T(acc, W, P->C + i * P->ldc + j0, P->ldc, 1, jn,                       \
                               P->alpha == 0 ? (T)1 : P->alpha, P->beta);                           \
            }                                                                                       \
    }                                                                                               \
                                                                                                    \
    static void batched_##T(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A, \
                            int64_t lda, const int64_t *aoff, const T *B, int64_t ldb,              \
                            const int64_t *boff, T beta, T *C, int64_t ldc, const int64_t *coff,    \
                            int64_t nbatch)                                                         \
    {                                                                                               \
        if (M <= 0 || N <= 0 || nbatch <= 0)                                                        \
            return;                                                                                 \
        const prob_##T P0 = {M, N, K, A, ta ? 1 : lda, ta ? lda : 1, B, tb ? 1 : ldb, tb ? ldb : 1, \
                             C, ldc, alpha, beta};                                                  \
        prob_##T P = P0;                                                                            \
        if (K == 0 || alpha == 0 || M == 1 || N == 1) {                                             \
            for (int64_t bi = 0; bi < nbatch; bi++) {                                               \
                P.A = A + (aoff ? aoff[bi] : 0), P.B = B + (boff ? boff[bi] : 0);                   \
                P.C = C + (coff ? coff[bi] : 0);                                                    \
                simple_##T(&P);                                                                     \
            }                                                                                       \
            return;                                                                                 \
        }                                                                                           \
        NB__GEMM_BLAS_PATH(BLASFN)                                                                  \
        const kern_##T k = kern_select_##T();                                                       \
        const blocking bl = blocking_for(K, k.mr, k.nr, sizeof(T), k.plan);                         \
        size_t asz = (size_t)round_up(round_up(min64(bl.mc, M), k.mr) * bl.kc, 16);                 \
        size_t bsz = (size_t)round_up(round_up(min64(bl.nc, N), k.nr) * bl.kc, 16);                 \
        double fmas = (double)M * (double)N * (double)K;                                            \
        int nt1 = threads_for_fmas(fmas);                                                           \
        if (nt1 > 1 || nbatch == 1) { /* one product at a time, each split over threads */         \
            int tm, tn;                                                                             \
            int64_t pm = (M + k.mr - 1) / k.mr, pn = (N + k.nr - 1) / k.nr;                         \
            int nt = split_threads(nt1, pm, pn, k.mr, k.nr, bl.nc, &tm, &tn);                                          \
            size_t wsz = (size_t)nt * (asz + bsz) * sizeof(T);                                      \
            T *ws = nb__alloc(wsz);                                                                 \
            for (int64_t bi = 0; bi < nbatch; bi++) {                                               \
                P.A = A + (aoff ? aoff[bi] : 0), P.B = B + (boff ? boff[bi] : 0);                   \
                P.C = C + (coff ? coff[bi] : 0);                                                    \
                if (nt == 1) {                                                                      \
                    region_##T(&k, &bl, &P, 0, M, 0, N, ws, ws + asz);                              \
                    continue;                                                                       \
                }                                                                                   \
                NB__OMP("omp parallel num_threads(nt)")                                             \
                {                                                                                   \
                    int t = thread_id();                                                            \
                    int64_t m0, m1, n0, n1;                                                         \
                    split_range(pm, tm, t / tn, k.mr, M, &m0, &m1);                                 \
                    split_range(pn, tn, t % tn, k.nr, N, &n0, &n1);                                 \
                    T *w = ws + (size_t)t * (asz + bsz);                                            \
                    if (m0 < m1 && n0 < n1)                                                         \
                        region_##T(&k, &bl, &P, m0, m1, n0, n1, w, w + asz);                        \
                }                                                                                   \
            }                                                                                       \
            nb__free(ws, wsz);                                                                      \
        } else { /* small products: one per thread */                                              \
            int nt = threads_for_fmas(fmas * (double)nbatch);                                       \
            if (nt > nbatch)                                                                        \
                nt = (int)nbatch;                                                                   \
            size_t wsz = (size_t)nt * (asz + bsz) * sizeof(T);                                      \
            T *ws = nb__alloc(wsz);                                                                 \
            NB__OMP("omp parallel for num_threads(nt) schedule(static) if (nt > 1)")                \
            for (int64_t bi = 0; bi < nbatch; bi++) {                                               \
                prob_##T Q = P0;                                                                    \
                Q.A = A + (aoff ? aoff[bi] : 0), Q.B = B + (boff ? boff[bi] : 0);                   \
                Q.C = C + (coff ? coff[bi] : 0);                                                    \
                T *w = ws + (size_t)thread_id() * (asz + bsz);                                      \
                region_##T(&k, &bl, &Q, 0, M, 0, N, w, w + asz);                                    \
            }                                                                                       \
            nb__free(ws, wsz);                                                                      \
        }                                                                                           \
    }                                                                                               \
                                                                                                    \
    void nb__gemm_##SFX(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T *A,     \
                        int64_t lda, const T *B, int64_t ldb, T beta, T *C, int64_t ldc)            \
    {                                                                                               \
        batched_##T(ta, tb, M, N, K, alpha, A, lda, NULL, B, ldb, NULL, beta, C, ldc, NULL, 1);     \
    }

#ifdef NB__GEMM_X86
#define NB__GEMM_X86_CASES(T, XMR, XNR, ZMR, ZNR)                                                   \
    case NB__GEMM_AVX512:                                                                           \
        return (kern_##T){ZMR, ZNR, &plan_l1_a, ukr_avx512_##T, ukr_avx512_##T##_half,              \
                          pack_a_##T##_##ZMR, pack_b_##T##_##ZNR};                                  \
    case NB__GEMM_AVX2:                                                                             \
        return (kern_##T){XMR, XNR, &plan_l1_b, ukr_avx2_##T, ukr_avx2_##T##_half,                  \
                          pack_a_x_##T##_##XMR, pack_b_x_##T##_##XNR};
#else
#define NB__GEMM_X86_CASES(T, XMR, XNR, ZMR, ZNR)
#endif

NB__GEMM_DRIVER(float, f32, cblas_sgemm, 4, 8, 6, 16, 14, 32)
NB__GEMM_DRIVER(double, f64, cblas_dgemm, 4, 4, 6, 8, 14, 16)

void nb__gemm_batched(nb_dtype dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                      const void *A, int64_t lda, const int64_t *aoff, const void *B, int64_t ldb,
                      const int64_t *boff, double beta, void *C, int64_t ldc, const int64_t *coff,
                      int64_t nbatch)
{
    switch (dt) {
    case NB_F32:
        batched_float(ta, tb, M, N, K, (float)alpha, A, lda, aoff, B, ldb, boff, (float)beta, C, ldc,
                      coff, nbatch);
        break;
    case NB_F64:
        batched_double(ta, tb, M, N, K, alpha, A, lda, aoff, B, ldb, boff, beta, C, ldc, coff, nbatch);
        break;
    default:
        nb__fail("nb__gemm_batched: unsupported dtype %s", nb_dtype_name(dt));
    }
}
