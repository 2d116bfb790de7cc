/* k_attention_mm_impl.h — one small-product kernel of k_attention.c, included once per
 * (element type, instruction set) with
 *   NB_T     element type            NB_V    its vector type      NB_VL  elements per vector
 *   NB_TGT   target attribute (or nothing)                        NB_KSET  generic / avx2
 *   NB_VOP(op)  the vector operation op: loadu, storeu, set1, setzero, fmadd, mul, add
 * defined; defines mm_<KSET>_<T> and undefines all of the above but NB_T.
 * No include guard.
 *
 * C[i][j] = alpha * sum_p A[i*rsa + p*csa] * B[p*ldb + j] (+ C[i][j] when acc), i < M, j < N:
 * 2-vector panels, then 1-vector panels, then single columns. */
NB_TGT static void NB__PASTE4(mm_, NB_KSET, _, NB_T)(int64_t M, int64_t N, int64_t K, NB_T alpha,
                                                     const NB_T *A, int64_t rsa, int64_t csa,
                                                     const NB_T *B, int64_t ldb, bool acc, NB_T *C,
                                                     int64_t ldc)
{
    int64_t j0 = 0;
    for (; j0 + 2 * NB_VL <= N; j0 += 2 * NB_VL) {
#define NB_PANEL_NV 2
#include "k_attention_panel_impl.h"
    }
    for (; j0 + NB_VL <= N; j0 += NB_VL) {
#define NB_PANEL_NV 1
#include "k_attention_panel_impl.h"
    }
    for (; j0 < N; j0++)
        for (int64_t i = 0; i < M; i++) {
            NB_T s = 0;
            for (int64_t p = 0; p < K; p++)
                s += A[i * rsa + p * csa] * B[p * ldb + j0];
            NB_T *cp = C + i * ldc + j0;
            *cp = acc ? *cp + alpha * s : alpha * s;
        }
}

#undef NB_V
#undef NB_VL
#undef NB_TGT
#undef NB_KSET
#undef NB_VOP
