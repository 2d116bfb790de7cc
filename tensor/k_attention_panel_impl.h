/* k_attention_panel_impl.h — a statement, not a function: one column panel of the attention's
 * small product, included twice in the body of mm_<KSET>_<T> (k_attention_mm_impl.h) with
 * NB_PANEL_NV (vectors per row: 2, then 1) defined; undefines it. Uses the enclosing function's
 * M, K, alpha, A, rsa, csa, B, ldb, acc, C, ldc and the panel's first column j0. A fragment so
 * the compiled kernel stays the one the statement macro gave (as always-inline functions the
 * panels compiled to different branch layouts). No include guard.
 *
 * Columns [j0, j0 + NV*VL) of C: 6-row x NV-vector register tiles over all M rows. */
for (int64_t i0 = 0; i0 < M; i0 += 6) {
    int mr = M - i0 < 6 ? (int)(M - i0) : 6;
    const NB_T *a[6];
    for (int i = 0; i < 6; i++) /* rows past M repeat row 0 (computed, never stored) */
        a[i] = A + (i0 + (i < mr ? i : 0)) * rsa;
    NB_V c[6][NB_PANEL_NV];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++)
#pragma GCC unroll 2
        for (int v = 0; v < NB_PANEL_NV; v++)
            c[i][v] = NB_VOP(setzero)();
#pragma GCC unroll 4
    for (int64_t p = 0; p < K; p++) {
        const NB_T *b = B + p * ldb + j0;
        NB_V bv[NB_PANEL_NV];
#pragma GCC unroll 2
        for (int v = 0; v < NB_PANEL_NV; v++)
            bv[v] = NB_VOP(loadu)(b + v * NB_VL);
        int64_t ap = p * csa;
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            NB_V av = NB_VOP(set1)(a[i][ap]);
#pragma GCC unroll 2
            for (int v = 0; v < NB_PANEL_NV; v++)
                c[i][v] = NB_VOP(fmadd)(av, bv[v], c[i][v]);
        }
    }
    NB_V va = NB_VOP(set1)(alpha);
    for (int i = 0; i < mr; i++)
#pragma GCC unroll 2
        for (int v = 0; v < NB_PANEL_NV; v++) {
            NB_T *cp = C + (i0 + i) * ldc + j0 + v * NB_VL;
            NB_V r = NB_VOP(mul)(c[i][v], va);
            NB_VOP(storeu)(cp, acc ? NB_VOP(add)(NB_VOP(loadu)(cp), r) : r);
        }
}

#undef NB_PANEL_NV
