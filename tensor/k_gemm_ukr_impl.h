/* k_gemm_ukr_impl.h — one GEMM micro-kernel, included (twice) by k_gemm_kset_impl.h with the
 * kernel set's NB_T, NB_V, NB_VL, NB_MR, NB_NR, NB_TGT, NB_VOP(op) and, per inclusion,
 * NB_UKR_NAME and NB_UKR_NV (vectors per row: NB_NR / NB_VL, or 1 for the half-width kernel);
 * undefines the last two. No include guard.
 *
 * NAME(kc, a, b, c, ldc, mr, nr, alpha, beta): a is a packed MR x kc micro-panel (MR values per
 * k), b a packed kc x NR one (NB_NR values per k, of which the kernel uses NV*VL). Computes the
 * full MR x NV*VL product in registers, then writes its mr x nr top-left part to c with
 * alpha/beta. The k loop is unrolled 4 times: rolled, the AVX2 loop body (~120 bytes) ran 3-5%
 * faster or slower depending on where the linker put it relative to 64-byte fetch blocks;
 * unrolled it is 2-5% faster than the best placement and no longer sensitive to it (sgemm
 * 1024^3, A/B runs). */
NB_TGT static void NB_UKR_NAME(int64_t kc, const NB_T *restrict a, const NB_T *restrict b,
                               NB_T *restrict c, int64_t ldc, int mr, int nr, NB_T alpha, NB_T beta)
{
    NB_V acc[NB_MR][NB_UKR_NV];
#pragma GCC unroll 16
    for (int i = 0; i < NB_MR; i++) {
        __builtin_prefetch(c + i * ldc, 1);
        __builtin_prefetch(c + i * ldc + NB_UKR_NV * NB_VL - 1, 1);
#pragma GCC unroll 4
        for (int v = 0; v < NB_UKR_NV; v++)
            acc[i][v] = NB_VOP(setzero)();
    }
#pragma GCC unroll 4
    for (int64_t p = 0; p < kc; p++, a += NB_MR, b += NB_NR) {
        NB_V bv[NB_UKR_NV];
#pragma GCC unroll 4
        for (int v = 0; v < NB_UKR_NV; v++)
            bv[v] = NB_VOP(loadu)(b + v * NB_VL);
#pragma GCC unroll 16
        for (int i = 0; i < NB_MR; i++) {
            NB_V av = NB_VOP(set1)(a[i]);
#pragma GCC unroll 4
            for (int v = 0; v < NB_UKR_NV; v++)
                acc[i][v] = NB_VOP(fmadd)(av, bv[v], acc[i][v]);
        }
    }
    if (mr == NB_MR && nr == NB_UKR_NV * NB_VL) {
        NB_V va = NB_VOP(set1)(alpha), vb = NB_VOP(set1)(beta);
#pragma GCC unroll 16
        for (int i = 0; i < NB_MR; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NB_UKR_NV; v++) {
                NB_V r = acc[i][v];
                NB_T *cp = c + i * ldc + v * NB_VL;
                if (alpha != 1)
                    r = NB_VOP(mul)(r, va);
                if (beta == 0) {
                    NB_VOP(storeu)(cp, r);
                } else {
                    NB_V o = NB_VOP(loadu)(cp);
                    if (beta != 1)
                        o = NB_VOP(mul)(o, vb);
                    NB_VOP(storeu)(cp, NB_VOP(add)(o, r));
                }
            }
    } else {
        NB_T tmp[NB_MR * NB_UKR_NV * NB_VL];
#pragma GCC unroll 16
        for (int i = 0; i < NB_MR; i++)
#pragma GCC unroll 4
            for (int v = 0; v < NB_UKR_NV; v++)
                NB_VOP(storeu)(tmp + i * NB_UKR_NV * NB_VL + v * NB_VL, acc[i][v]);
        NB__PASTE(tile_store_, NB_T)(tmp, NB_UKR_NV * NB_VL, c, ldc, mr, nr, alpha, beta);
    }
}

#undef NB_UKR_NAME
#undef NB_UKR_NV
