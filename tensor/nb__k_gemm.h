/* nb__k_gemm.h — internal GEMM kernels (no autograd):
 *
 *     C = alpha * op(A) @ op(B) + beta * C        float32 and float64, row-major
 *
 * op(A) is M x K and op(B) is K x N. With ta false, A is stored M x K (A[i*lda + p]); with ta
 * true, A is stored K x M (A[p*lda + i]) and used transposed. Likewise B: tb false → K x N
 * (B[p*ldb + j]); tb true → N x K (B[j*ldb + p]). C is M x N with row stride ldc and unit column
 * stride. Leading dimensions may be anything (even 0, for a broadcast row); the kernels only
 * index with them. Zero-size: M or N == 0 does nothing; K == 0 (or alpha == 0) sets C = beta*C.
 * beta == 0 overwrites C without reading it (NaN/garbage in C is ignored), as BLAS does.
 *
 * Fast path: packed, register-blocked GEMM (AVX-512 / AVX2+FMA / portable vectors, chosen at
 * run time). Threads split C into tiles (never K), so results are bit-identical for any thread
 * count. With NB_HAVE_BLAS (configure --with-blas) large products with BLAS-valid leading
 * dimensions call cblas_sgemm/dgemm instead, unless a kernel set is forced.
 * The kernel set follows NB_KERNELS (nb__kv.h); the test oracle is tests/testutil.c's
 * tu_gemm_oracle, independent of the library. */
#ifndef NB__K_GEMM_H
#define NB__K_GEMM_H

#include "nb__tensor.h"

/* ---- single product ------------------------------------------------------------------------- */
NB__INTERNAL void nb__gemm_f32(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                               const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                               float *C, int64_t ldc);
NB__INTERNAL void nb__gemm_f64(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                               const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                               double *C, int64_t ldc);

/* ---- batch of products of one geometry ------------------------------------------------------ */
/* Product i uses A + aoff[i], B + boff[i], C + coff[i] (ELEMENT offsets; a NULL array means all
 * zero). Offsets may repeat for A and B (broadcast batches); C blocks must not overlap.
 * Small products run one per thread in parallel, large ones one after another, each threaded. */
NB__INTERNAL void nb__gemm_batched(nb_dtype dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                                   double alpha, const void *A, int64_t lda, const int64_t *aoff,
                                   const void *B, int64_t ldb, const int64_t *boff, double beta,
                                   void *C, int64_t ldc, const int64_t *coff, int64_t nbatch);

/* Same, float32 only (other dtypes are misuse), with every element of op(A) and op(B) rounded to
 * bfloat16 (nb__bf16.h: nearest, ties to even) before it is multiplied; products and sums stay
 * float32. BLAS is never used. The kernel is nb__gemm_bf16_active()'s: with NB__BF16_ROUNDED
 * (every CPU without AVX512_BF16) the result equals, bit for bit, nb__gemm_batched on explicitly
 * rounded copies of A and B (the rounding happens on the packed panels, one pass over data
 * already in cache); with the instructions, see nb__bf16_kind. Used by nb_matmul and
 * nb_linear_mod inside nb_autocast_begin/end. */
NB__INTERNAL void nb__gemm_batched_bf16(nb_dtype dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                                        double alpha, const void *A, int64_t lda, const int64_t *aoff,
                                        const void *B, int64_t ldb, const int64_t *boff, double beta,
                                        void *C, int64_t ldc, const int64_t *coff, int64_t nbatch);

/* Which kernel multiplies nb__gemm_batched_bf16's matrices (vector, empty and alpha == 0 products
 * always take the rounded float32 loops). Within each kind the results are the same bits for any
 * thread count; between kinds they agree within float32 rounding of the sums, not bit for bit:
 * the instructions add a pair's two products in their own order, read subnormal bfloat16 inputs
 * as zero and flush subnormal sums (nearest-even rounding of the operands is the same in all). */
typedef enum {
    NB__BF16_AUTO,    /* from the kernel set in force (nb__kernels): amx → AMX, avx512bf16 → DP */
    NB__BF16_ROUNDED, /* the float32 kernels on operands rounded as they are packed (any CPU) */
    NB__BF16_DP,      /* AVX512_BF16: vdpbf16ps on 14 x 32 tiles of C */
    NB__BF16_AMX,     /* AMX-BF16: tdpbf16ps on 32 x 32 tiles of C */
    NB__BF16_DP_EMU,  /* DP's kernel code on a software model of vdpbf16ps (tests; any CPU) */
    NB__BF16_AMX_EMU, /* AMX's kernel code on a software model of the tiles (tests; any CPU) */
    NB__BF16_KIND_COUNT
} nb__bf16_kind;

/* Forces `kind` for the bfloat16 GEMM (NB__BF16_AUTO restores the default). As nb__gemm_force_isa,
 * a forced kind overrides NB_KERNELS and the CPU still bounds it: a kind whose instructions this
 * CPU lacks runs as NB__BF16_ROUNDED. Process-wide, not thread-safe. Returns the previous setting. */
NB__INTERNAL nb__bf16_kind nb__gemm_bf16_force(nb__bf16_kind kind);
/* The kind a bfloat16 product would use now (never NB__BF16_AUTO). */
NB__INTERNAL nb__bf16_kind nb__gemm_bf16_active(void);
/* "auto", "rounded-fp32", "avx512bf16", "amx", "avx512bf16-model", "amx-model". */
NB__INTERNAL const char *nb__gemm_bf16_name(nb__bf16_kind kind);

/* ---- one product whose B is computed while it is packed (implicit GEMM) -------------------- */
/* pack(ctx, p0, kc, j0, nc, nr, dst) writes rows [p0, p0 + kc) x columns [j0, j0 + nc) of the
 * K x N matrix B as ceil(nc / nr) panels of kc x nr elements, dst[(j / nr)*kc*nr + p*nr + j % nr]
 * (p, j relative to p0, j0), the columns of the last panel past nc set to 0. It is called from
 * several threads at once (each with its own dst). */
typedef void (*nb__gemm_pack_b_fn)(void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, void *dst);

/* C = A @ B + beta * C (A M x K row-major, A[i*lda + p]; C as above) with B given by `pack`: the
 * same tiles, FMA chains and write-back as nb__gemm_batched(dt, false, false, M, N, K, 1.0, ...)
 * on B stored explicitly, so the results are bit-identical to it (never BLAS). The caller skips
 * the unfold into a B matrix (convolution: k_conv.c). Needs M >= 2, N >= 2, K >= 1 (nb__fail
 * otherwise: nb__gemm_batched runs vector products unpacked). Threads split C as for one large
 * product (one thread inside a parallel region). */
NB__INTERNAL void nb__gemm_packed_b(nb_dtype dt, int64_t M, int64_t N, int64_t K, const void *A, int64_t lda,
                                    nb__gemm_pack_b_fn pack, void *ctx, double beta, void *C, int64_t ldc);

/* ---- kernel selection (for tests and benchmarks) -------------------------------------------- */
typedef enum {
    NB__GEMM_AUTO,    /* best the CPU supports (and BLAS for large products when built with it) */
    NB__GEMM_GENERIC, /* portable GCC vector code */
    NB__GEMM_AVX2,    /* AVX2 + FMA intrinsics */
    NB__GEMM_AVX512,  /* AVX-512F intrinsics */
    NB__GEMM_ISA_COUNT
} nb__gemm_isa;

/* Restricts the kernels to `isa` or below (an unsupported one falls back to the best supported
 * below it); NB__GEMM_AUTO restores the default. Process-wide, not thread-safe. Returns the
 * previous setting. */
NB__INTERNAL nb__gemm_isa nb__gemm_force_isa(nb__gemm_isa isa);
/* The kernel set a product would use now (never NB__GEMM_AUTO). */
NB__INTERNAL nb__gemm_isa nb__gemm_active_isa(void);
/* "auto", "generic", "avx2", "avx512". */
NB__INTERNAL const char *nb__gemm_isa_name(nb__gemm_isa isa);

#endif /* NB__K_GEMM_H */
