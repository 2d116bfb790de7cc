/* k_gemm_kset_impl.h — one GEMM kernel set of k_gemm.c: its two micro-kernels and its packers.
 * Included once per (element type, instruction set) with
 *   NB_T        element type (float, double)           NB_V    its vector type
 *   NB_VL       elements per vector                    NB_TGT  target attribute (or nothing)
 *   NB_MR       micro-tile rows (a literal)            NB_NR   micro-tile columns (a literal)
 *   NB_KSET     the set's name (generic, avx2, avx512) NB_VOP(op)  the vector operation op:
 *               loadu, storeu, set1, setzero, fmadd, mul, add
 * defined; defines
 *   ukr_<KSET>_<T>       the full-width micro-kernel (NB_NR / NB_VL vectors per row)
 *   ukr_<KSET>_<T>_half  one vector per row, same packed B layout, for column panels at most
 *                        half full: with NR = 32, N = 65 computes 80 columns, not 96. Each
 *                        element gets the same FMA chain and write-back from either.
 *   pack_a_<T>_<MR>, pack_b_<T>_<NR>  (compiled without NB_TGT)
 * and undefines all of the above except NB_T. No include guard. */

#define NB_UKR_NAME NB__PASTE4(ukr_, NB_KSET, _, NB_T)
#define NB_UKR_NV (NB_NR / NB_VL)
#include "k_gemm_ukr_impl.h"
#define NB_UKR_NAME NB__PASTE4(ukr_, NB_KSET, _, NB__PASTE(NB_T, _half))
#define NB_UKR_NV 1
#include "k_gemm_ukr_impl.h"

/* MR-row micro-panels of the mc x kc block at A (element (i, p) at A[i*rs + p*cs]):
 * dst[panel][p*MR + i]; rows past mc are zero. Full panels of row-major (cs == 1) or
 * transposed (rs == 1) storage take loops with a constant trip count. */
static void NB__PASTE4(pack_a_, NB_T, _, NB_MR)(int64_t mc, int64_t kc, const NB_T *A, int64_t rs,
                                                int64_t cs, NB_T *restrict dst)
{
    for (int64_t ir = 0; ir < mc; ir += NB_MR, dst += NB_MR * kc) {
        const NB_T *src = A + ir * rs;
        if (mc - ir >= NB_MR && cs == 1) {
            for (int64_t p = 0; p < kc; p++)
#pragma GCC unroll 16
                for (int i = 0; i < NB_MR; i++)
                    dst[p * NB_MR + i] = src[i * rs + p];
        } else if (mc - ir >= NB_MR && rs == 1) {
            for (int64_t p = 0; p < kc; p++)
                memcpy(dst + p * NB_MR, src + p * cs, NB_MR * sizeof(NB_T));
        } else {
            int mr = (int)min64(NB_MR, mc - ir);
            for (int64_t p = 0; p < kc; p++) {
                int i = 0;
                for (; i < mr; i++)
                    dst[p * NB_MR + i] = src[i * rs + p * cs];
                for (; i < NB_MR; i++)
                    dst[p * NB_MR + i] = 0;
            }
        }
    }
}

/* NR-column micro-panels of the kc x nc block at B (element (p, j) at B[p*rs + j*cs]):
 * dst[panel][p*NR + j]; columns past nc are zero. The full panels of a row-major B (cs == 1) are
 * filled row by row, reading B in memory order: panel by panel, each row of a 1024-wide B is a
 * 4 KB stride (a new page, the same L1 set), which made packing B twice as slow. */
static void NB__PASTE4(pack_b_, NB_T, _, NB_NR)(int64_t kc, int64_t nc, const NB_T *B, int64_t rs,
                                                int64_t cs, NB_T *restrict dst)
{
    int64_t full = cs == 1 ? nc / NB_NR * NB_NR : 0;
    for (int64_t p = 0; p < kc; p++) /* full panels of row-major B: row by row */
        for (int64_t jr = 0; jr < full; jr += NB_NR)
            memcpy(dst + jr * kc + p * NB_NR, B + p * rs + jr, NB_NR * sizeof(NB_T));
    dst += full * kc;
    for (int64_t jr = full; jr < nc; jr += NB_NR, dst += NB_NR * kc) {
        const NB_T *src = B + jr * cs;
        int nr = (int)min64(NB_NR, nc - jr);
        if (cs == 1) {
            for (int64_t p = 0; p < kc; p++)
                memcpy(dst + p * NB_NR, src + p * rs, (size_t)nr * sizeof(NB_T));
        } else {
            for (int j = 0; j < nr; j++)
                for (int64_t p = 0; p < kc; p++)
                    dst[p * NB_NR + j] = src[j * cs + p * rs];
        }
        for (int64_t p = 0; nr < NB_NR && p < kc; p++)
            for (int j = nr; j < NB_NR; j++)
                dst[p * NB_NR + j] = 0;
    }
}

#undef NB_V
#undef NB_VL
#undef NB_TGT
#undef NB_MR
#undef NB_NR
#undef NB_KSET
#undef NB_VOP
