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
 * a swapped stride pair: no transpose copy ever. nb__gemm_packed_b takes B's packing from a
 * callback instead (implicit GEMM: the convolution packs its unfolded input straight from x),
 * and then, with one A block in BLIS order, packs each kc x NR micro-panel right before use. Partial tiles are zero-padded in the packed
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
 *
 * The type-generic code is in implementation files included below once per type / kernel set:
 * k_gemm_scalar_impl.h (reference, edge write-back, portable vectors), k_gemm_kset_impl.h with
 * k_gemm_ukr_impl.h (micro-kernels, packing), k_gemm_driver_impl.h (blocking loops, threads).
 */
#include "config.h"
#include "nb__bf16.h"
#include "nb__k_gemm.h"
#include "nb__kv.h"
#include "nb__paste.h"

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
    /* a forced kernel set (tests) overrides NB_KERNELS; the CPU still bounds both */
    nb__kv_set kv = nb__kernels();
    nb__gemm_isa want = g_force != NB__GEMM_AUTO ? g_force
                        : kv >= NB__KV_AVX512    ? NB__GEMM_AVX512
                        : kv >= NB__KV_AVX2      ? NB__GEMM_AVX2
                                                 : NB__GEMM_GENERIC;
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

/* ==== kernel sets: micro-kernels and packers, written once (k_gemm_kset_impl.h) ============= */
static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Per type: the reference kernel, tile_store_<T> and the portable vector ops gv_<T>_<op>
 * (k_gemm_scalar_impl.h), then the kernel sets: generic (GCC vector extensions, 16-byte vectors:
 * SSE2 / NEON, no FMA contraction), AVX2+FMA and AVX-512F (intrinsics). */
#define NB_T float
#define NB_SFX f32
#include "k_gemm_scalar_impl.h"
#define NB_KSET generic
#define NB_V gv_float
#define NB_VL 4
#define NB_MR 4
#define NB_NR 8
#define NB_TGT
#define NB_VOP(op) gv_float_##op
#include "k_gemm_kset_impl.h"
#ifdef NB__GEMM_X86
#define NB_KSET avx2
#define NB_V __m256
#define NB_VL 8
#define NB_MR 6
#define NB_NR 16
#define NB_TGT NB__TGT_AVX2
#define NB_VOP(op) _mm256_##op##_ps
#include "k_gemm_kset_impl.h"
#define NB_KSET avx512
#define NB_V __m512
#define NB_VL 16
#define NB_MR 14
#define NB_NR 32
#define NB_TGT NB__TGT_AVX512
#define NB_VOP(op) _mm512_##op##_ps
#include "k_gemm_kset_impl.h"
#endif
#undef NB_T
#undef NB_SFX

#define NB_T double
#define NB_SFX f64
#include "k_gemm_scalar_impl.h"
#define NB_KSET generic
#define NB_V gv_double
#define NB_VL 2
#define NB_MR 4
#define NB_NR 4
#define NB_TGT
#define NB_VOP(op) gv_double_##op
#include "k_gemm_kset_impl.h"
#ifdef NB__GEMM_X86
#define NB_KSET avx2
#define NB_V __m256d
#define NB_VL 4
#define NB_MR 6
#define NB_NR 8
#define NB_TGT NB__TGT_AVX2
#define NB_VOP(op) _mm256_##op##_pd
#include "k_gemm_kset_impl.h"
#define NB_KSET avx512
#define NB_V __m512d
#define NB_VL 8
#define NB_MR 14
#define NB_NR 16
#define NB_TGT NB__TGT_AVX512
#define NB_VOP(op) _mm512_##op##_pd
#include "k_gemm_kset_impl.h"
#endif
#undef NB_T
#undef NB_SFX


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
    if (g_force != NB__GEMM_AUTO || nb__kernels_forced() || (double)M * N * K < 128.0 * 128 * 128)
        return false;
    if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || lda > INT32_MAX || ldb > INT32_MAX ||
        ldc > INT32_MAX)
        return false;
    int64_t acols = ta ? M : K, bcols = tb ? K : N;
    return lda >= (acols > 1 ? acols : 1) && ldb >= (bcols > 1 ? bcols : 1) && ldc >= (N > 1 ? N : 1);
}
#endif

/* ==== bfloat16 operands (nb__gemm_batched_bf16): float only ================================== */
static void round_panel_float(float *buf, int64_t n) { nb__bf16_round_buf(buf, buf, n); }
static float round_elem_float(float x) { return nb__bf16_round(x); }
static void round_panel_double(double *buf, int64_t n) { (void)buf, (void)n; } /* never bf16 */
static double round_elem_double(double x) { return x; }

/* ==== the driver, written once over T (k_gemm_driver_impl.h) ================================= */
/* The micro-kernel for a column panel with `left` columns: the half-width one when it suffices. */
#define NB__UKR_FOR(k, left) ((left) * 2 <= (k)->nr ? (k)->ukr_half : (k)->ukr)

#define NB_T float
#define NB_SFX f32
#define NB_BLASFN cblas_sgemm
#define NB_GMR 4
#define NB_GNR 8
#define NB_XMR 6
#define NB_XNR 16
#define NB_ZMR 14
#define NB_ZNR 32
#include "k_gemm_driver_impl.h"

#define NB_T double
#define NB_SFX f64
#define NB_BLASFN cblas_dgemm
#define NB_GMR 4
#define NB_GNR 4
#define NB_XMR 6
#define NB_XNR 8
#define NB_ZMR 14
#define NB_ZNR 16
#include "k_gemm_driver_impl.h"


void nb__gemm_batched(nb_dtype dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                      const void *A, int64_t lda, const int64_t *aoff, const void *B, int64_t ldb,
                      const int64_t *boff, double beta, void *C, int64_t ldc, const int64_t *coff,
                      int64_t nbatch)
{
    switch (dt) {
    case NB_F32:
        batched_float(ta, tb, M, N, K, (float)alpha, A, lda, aoff, B, ldb, boff, (float)beta, C, ldc,
                      coff, nbatch, false);
        break;
    case NB_F64:
        batched_double(ta, tb, M, N, K, alpha, A, lda, aoff, B, ldb, boff, beta, C, ldc, coff, nbatch,
                       false);
        break;
    default:
        nb__fail("nb__gemm_batched: unsupported dtype %s", nb_dtype_name(dt));
    }
}

void nb__gemm_packed_b(nb_dtype dt, int64_t M, int64_t N, int64_t K, const void *A, int64_t lda,
                       nb__gemm_pack_b_fn pack, void *ctx, double beta, void *C, int64_t ldc)
{
    if (dt == NB_F32)
        packed_b_float(M, N, K, A, lda, pack, ctx, (float)beta, C, ldc);
    else if (dt == NB_F64)
        packed_b_double(M, N, K, A, lda, pack, ctx, beta, C, ldc);
    else
        nb__fail("nb__gemm_packed_b: unsupported dtype %s", nb_dtype_name(dt));
}

/* ==== bfloat16 GEMM on bfloat16 instructions ================================================= */
static nb__bf16_kind g_bf16_force = NB__BF16_AUTO;

nb__bf16_kind nb__gemm_bf16_force(nb__bf16_kind kind)
{
    nb__bf16_kind prev = g_bf16_force;
    g_bf16_force = (kind > NB__BF16_AUTO && kind < NB__BF16_KIND_COUNT) ? kind : NB__BF16_AUTO;
    return prev;
}

nb__bf16_kind nb__gemm_bf16_active(void)
{
    nb__bf16_kind want = g_bf16_force;
    if (want == NB__BF16_AUTO) {
        nb__kv_set kv = nb__kernels();
        want = kv == NB__KV_AMX ? NB__BF16_AMX : kv == NB__KV_AVX512BF16 ? NB__BF16_DP : NB__BF16_ROUNDED;
    }
    if ((want == NB__BF16_AMX && !nb__kernels_cpu_has(NB__KV_AMX)) ||
        (want == NB__BF16_DP && !nb__kernels_cpu_has(NB__KV_AVX512BF16)))
        return NB__BF16_ROUNDED;
    return want;
}

const char *nb__gemm_bf16_name(nb__bf16_kind kind)
{
    static const char *const names[NB__BF16_KIND_COUNT] = {"auto", "rounded-fp32", "avx512bf16", "amx",
                                                           "avx512bf16-model", "amx-model"};
    return (kind >= 0 && kind < NB__BF16_KIND_COUNT) ? names[kind] : "?";
}

/* The bfloat16 GEMM's tiles: C in 32-column micro-tiles of BK_DP_MR (dot products) or 32 rows
 * (tiles); K in blocks of at most BK_KC_MAX. */
enum { BK_DP_MR = 14, BK_NR = 32, BK_KC_MAX = 512 };

/* The bfloat16 the instructions read for a float32, in the high half of a word: a subnormal is
 * zero first (the instructions read subnormal inputs as zero), then nearest, ties to even. */
static inline uint32_t bk_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0)
        u &= 0x80000000u;
    return nb__bf16_round_bits(u);
}

/* Word q of row i of the A micro-panels: [q][i] (mr 14, the dot-product kernel) or
 * [q/16][i][q%16] (mr 32, the tile kernel); offset of row i's word 0 and the step per q. */
static inline int64_t bk_a_row(bool amx, int64_t kcp, int64_t i)
{
    return amx ? i / 32 * (kcp / 2 * 32) + i % 32 * 16 : i / BK_DP_MR * (kcp / 2 * BK_DP_MR) + i % BK_DP_MR;
}
static inline int64_t bk_a_q(bool amx, int64_t q) { return amx ? q / 16 * 512 + q % 16 : q * BK_DP_MR; }

#include "k_gemm_bf16_emu.h"
#define NB_BK emu
#define NB_BK_DP_TGT
#define NB_BK_AMX_TGT
#define NB_BF bk_emu_f
#define NB_BFOP(op) bk_emu_##op
#define NB_BI bk_emu_u
#define NB_BI_LOAD(p) bk_emu_iload(p)
#define NB_BI_SET1(u) bk_emu_iset1(u)
#define NB_BI_DOT(acc, a, b) bk_emu_dot(acc, a, b)
#define NB_TILE_CFG(p) bk_emu_tile_cfg(p)
#define NB_TILE_RELEASE() bk_emu_tile_release()
#define NB_TILE_ZERO(t) bk_emu_tile_zero(t)
#define NB_TILE_LOAD(t, p, stride) bk_emu_tile_load(t, p, stride)
#define NB_TILE_STORE(t, p, stride) bk_emu_tile_store(t, p, stride)
#define NB_TILE_DOT(c, a, b) bk_emu_tile_dot(c, a, b)
#include "k_gemm_bf16_kset_impl.h"
#ifdef NB__GEMM_X86
#define NB_BK hw
#define NB_BK_DP_TGT __attribute__((target("avx512f,avx512bf16")))
#define NB_BK_AMX_TGT __attribute__((target("avx512f,avx512bf16,amx-tile,amx-bf16")))
#define NB_BF __m512
#define NB_BFOP(op) _mm512_##op##_ps
#define NB_BI __m512i
#define NB_BI_LOAD(p) _mm512_loadu_si512((const void *)(p))
#define NB_BI_SET1(u) _mm512_set1_epi32((int)(u))
#define NB_BI_DOT(acc, a, b) _mm512_dpbf16_ps(acc, (__m512bh)(a), (__m512bh)(b))
#define NB_TILE_CFG(p) _tile_loadconfig(p)
#define NB_TILE_RELEASE() _tile_release()
#define NB_TILE_ZERO(t) _tile_zero(t)
#define NB_TILE_LOAD(t, p, stride) _tile_loadd(t, p, stride)
#define NB_TILE_STORE(t, p, stride) _tile_stored(t, p, stride)
#define NB_TILE_DOT(c, a, b) _tile_dpbf16ps(c, a, b)
#include "k_gemm_bf16_kset_impl.h"
#endif
#include "k_gemm_bf16_impl.h"

void nb__gemm_batched_bf16(nb_dtype dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                           const void *A, int64_t lda, const int64_t *aoff, const void *B, int64_t ldb,
                           const int64_t *boff, double beta, void *C, int64_t ldc, const int64_t *coff,
                           int64_t nbatch)
{
    if (dt != NB_F32)
        nb__fail("nb__gemm_batched_bf16: bfloat16 operands need float32 tensors, got %s", nb_dtype_name(dt));
    nb__bf16_kind kind = nb__gemm_bf16_active();
    if (kind == NB__BF16_ROUNDED || K == 0 || alpha == 0 || M < 2 || N < 2 || nbatch <= 0) {
        batched_float(ta, tb, M, N, K, (float)alpha, A, lda, aoff, B, ldb, boff, (float)beta, C, ldc, coff,
                      nbatch, true);
        return;
    }
    const prob_float P = {M, N, K, A, ta ? 1 : lda, ta ? lda : 1, B, tb ? 1 : ldb, tb ? ldb : 1,
                          C, ldc, (float)alpha, (float)beta, true, NULL, NULL};
    bk_batched(kind, &P, aoff, boff, coff, nbatch);
}
