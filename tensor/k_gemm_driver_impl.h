/* k_gemm_driver_impl.h — the GEMM driver of k_gemm.c for one element type: kernel-set choice,
 * the blocked loops over one rectangle of C, the unpacked path, the batch/thread split and
 * nb__gemm_<SFX>. Included by k_gemm.c once per type, after the kernel sets and the blocking
 * helpers, with
 *   NB_T, NB_SFX          element type and suffix (float f32, double f64)
 *   NB_BLASFN             cblas_sgemm / cblas_dgemm (used only with NB_HAVE_BLAS)
 *   NB_GMR/GNR, NB_XMR/XNR, NB_ZMR/ZNR  micro-tile of the generic, AVX2 and AVX-512 kernels
 * defined; undefines them all. Defines kern_<T>, prob_<T>, region_<T>, simple_<T>, batched_<T>,
 * packed_b_<T>.
 * No include guard. */
#define NB_FN(name) NB__PASTE3(name, _, NB_T)

typedef struct {
    int mr, nr;
    const cache_plan *plan;
    void (*ukr)(int64_t, const NB_T *, const NB_T *, NB_T *, int64_t, int, int, NB_T, NB_T);
    void (*ukr_half)(int64_t, const NB_T *, const NB_T *, NB_T *, int64_t, int, int, NB_T, NB_T);
    void (*pack_a)(int64_t, int64_t, const NB_T *, int64_t, int64_t, NB_T *);
    void (*pack_b)(int64_t, int64_t, const NB_T *, int64_t, int64_t, NB_T *);
} NB_FN(kern);

/* op(A)[i][p] = A[i*rsa + p*csa], op(B)[p][j] = B[p*rsb + j*csb], C[i][j] = C[i*ldc + j]. */
typedef struct {
    int64_t M, N, K;
    const NB_T *A;
    int64_t rsa, csa;
    const NB_T *B;
    int64_t rsb, csb;
    NB_T *C;
    int64_t ldc;
    NB_T alpha, beta;
    bool bf16; /* operands rounded to bfloat16 as they are packed (float only) */
    nb__gemm_pack_b_fn packb; /* when set, computes op(B)'s packed panels (B, rsb, csb unused) */
    void *ctx;                /* packb's context */
} NB_FN(prob);

static NB_FN(kern) NB_FN(kern_select)(void)
{
    switch (nb__gemm_active_isa()) {
#ifdef NB__GEMM_X86
    case NB__GEMM_AVX512:
        return (NB_FN(kern)){NB_ZMR, NB_ZNR, &plan_l1_a, NB__PASTE(ukr_avx512_, NB_T),
                             NB__PASTE3(ukr_avx512_, NB_T, _half),
                             NB__PASTE4(pack_a_, NB_T, _, NB_ZMR),
                             NB__PASTE4(pack_b_, NB_T, _, NB_ZNR)};
    case NB__GEMM_AVX2:
        return (NB_FN(kern)){NB_XMR, NB_XNR, &plan_l1_b, NB__PASTE(ukr_avx2_, NB_T),
                             NB__PASTE3(ukr_avx2_, NB_T, _half),
                             NB__PASTE4(pack_a_x_, NB_T, _, NB_XMR),
                             NB__PASTE4(pack_b_x_, NB_T, _, NB_XNR)};
#endif
    default:
        return (NB_FN(kern)){NB_GMR, NB_GNR, &plan_l1_b, NB__PASTE(ukr_generic_, NB_T),
                             NB__PASTE3(ukr_generic_, NB_T, _half),
                             NB__PASTE4(pack_a_, NB_T, _, NB_GMR),
                             NB__PASTE4(pack_b_, NB_T, _, NB_GNR)};
    }
}

/* region (below) when B's panels come from P->packb and the rows are one A block in BLIS order:
 * each kc x NR micro-panel is computed right before the column of micro-kernels that reads it,
 * so it never leaves L1 (and no nc-wide B panel is written). The same tiles and FMA chains. */
static void NB_FN(region_fused)(const NB_FN(kern) *k, const blocking *bl, const NB_FN(prob) *P, int64_t m0,
                                int64_t m1, int64_t n0, int64_t n1, NB_T *abuf, NB_T *bbuf)
{
    const int MR = k->mr, NR = k->nr;
    int64_t mc = m1 - m0;
    for (int64_t pc = 0; pc < P->K; pc += bl->kc) {
        int64_t kc = min64(bl->kc, P->K - pc);
        NB_T beta = pc == 0 ? P->beta : (NB_T)1;
        k->pack_a(mc, kc, P->A + m0 * P->rsa + pc * P->csa, P->rsa, P->csa, abuf);
        for (int64_t jr = n0; jr < n1; jr += NR) {
            int nr = (int)min64(NR, n1 - jr);
            P->packb(P->ctx, pc, kc, jr, nr, NR, bbuf);
            for (int64_t ir = 0; ir < mc; ir += MR)
                NB__UKR_FOR(k, nr)(kc, abuf + ir * kc, bbuf, P->C + (m0 + ir) * P->ldc + jr, P->ldc,
                                   (int)min64(MR, mc - ir), nr, P->alpha, beta);
        }
    }
}

/* The packed GEMM on the rectangle rows [m0, m1) x cols [n0, n1) of C. */
static void NB_FN(region)(const NB_FN(kern) *k, const blocking *bl, const NB_FN(prob) *P, int64_t m0,
                          int64_t m1, int64_t n0, int64_t n1, NB_T *abuf, NB_T *bbuf)
{
    const int MR = k->mr, NR = k->nr;
    if (P->packb && k->plan->b_outer && m1 - m0 <= bl->mc) {
        NB_FN(region_fused)(k, bl, P, m0, m1, n0, n1, abuf, bbuf);
        return;
    }
    int64_t nblk = (n1 - n0 + bl->nc - 1) / bl->nc;
    int64_t nstep = round_up((n1 - n0 + nblk - 1) / nblk, NR);
    for (int64_t jc = n0; jc < n1; jc += nstep) {
        int64_t nc = min64(nstep, n1 - jc);
        for (int64_t pc = 0; pc < P->K; pc += bl->kc) {
            int64_t kc = min64(bl->kc, P->K - pc);
            NB_T beta = pc == 0 ? P->beta : (NB_T)1;
            if (P->packb)
                P->packb(P->ctx, pc, kc, jc, nc, NR, bbuf);
            else
                k->pack_b(kc, nc, P->B + pc * P->rsb + jc * P->csb, P->rsb, P->csb, bbuf);
            if (P->bf16) /* the packed panel is in cache: rounding it costs one pass there */
                NB_FN(round_panel)(bbuf, round_up(nc, NR) * kc);
            for (int64_t ic = m0; ic < m1; ic += bl->mc) {
                int64_t mc = min64(bl->mc, m1 - ic);
                k->pack_a(mc, kc, P->A + ic * P->rsa + pc * P->csa, P->rsa, P->csa, abuf);
                if (P->bf16)
                    NB_FN(round_panel)(abuf, round_up(mc, MR) * kc);
                NB_T *c = P->C + ic * P->ldc + jc;
                if (k->plan->b_outer) {
                    for (int64_t jr = 0; jr < nc; jr += NR)
                        for (int64_t ir = 0; ir < mc; ir += MR)
                            NB__UKR_FOR(k, nc - jr)(kc, abuf + ir * kc, bbuf + jr * kc,
                                                    c + ir * P->ldc + jr, P->ldc,
                                                    (int)min64(MR, mc - ir),
                                                    (int)min64(NR, nc - jr), P->alpha, beta);
                } else {
                    for (int64_t ir = 0; ir < mc; ir += MR)
                        for (int64_t jr = 0; jr < nc; jr += NR)
                            NB__UKR_FOR(k, nc - jr)(kc, abuf + ir * kc, bbuf + jr * kc,
                                                    c + ir * P->ldc + jr, P->ldc,
                                                    (int)min64(MR, mc - ir),
                                                    (int)min64(NR, nc - jr), P->alpha, beta);
                }
            }
        }
    }
}

/* Unpacked loops for K == 0, alpha == 0 and vector shapes (M == 1 or N == 1): each c[i][j]
 * accumulates a[i][p]*b[p][j] in k order in NB_T, then the same write-back as the tiles. With
 * bf16, each operand element is rounded as it is read. */
static void NB_FN(simple)(const NB_FN(prob) *P)
{
    enum { W = 256 };
    NB_T acc[W];
    for (int64_t i = 0; i < P->M; i++)
        for (int64_t j0 = 0; j0 < P->N; j0 += W) {
            int jn = (int)min64(W, P->N - j0);
            for (int j = 0; j < jn; j++)
                acc[j] = 0;
            for (int64_t p = 0; P->alpha != 0 && p < P->K; p++) {
                NB_T a = P->A[i * P->rsa + p * P->csa];
                const NB_T *b = P->B + p * P->rsb + j0 * P->csb;
                if (P->bf16) {
                    a = NB_FN(round_elem)(a);
                    for (int j = 0; j < jn; j++)
                        acc[j] = acc[j] + a * NB_FN(round_elem)(b[j * P->csb]);
                    continue;
                }
                for (int j = 0; j < jn; j++)
                    acc[j] = acc[j] + a * b[j * P->csb];
            }
            NB_FN(tile_store)(acc, W, P->C + i * P->ldc + j0, P->ldc, 1, jn,
                              P->alpha == 0 ? (NB_T)1 : P->alpha, P->beta);
        }
}

/* Thread t's share of a product split over tm x tn threads: its rectangle of whole micro-tiles
 * (rows by t / tn, columns by t % tn), on its own slice of ws (asz + bsz elements per thread). */
static void NB_FN(thread_region)(const NB_FN(kern) *k, const blocking *bl, const NB_FN(prob) *P, int t, int tm,
                                 int tn, NB_T *ws, size_t asz, size_t bsz)
{
    int64_t m0, m1, n0, n1;
    split_range((P->M + k->mr - 1) / k->mr, tm, t / tn, k->mr, P->M, &m0, &m1);
    split_range((P->N + k->nr - 1) / k->nr, tn, t % tn, k->nr, P->N, &n0, &n1);
    NB_T *w = ws + (size_t)t * (asz + bsz);
    if (m0 < m1 && n0 < n1)
        NB_FN(region)(k, bl, P, m0, m1, n0, n1, w, w + asz);
}

static void NB_FN(batched)(bool ta, bool tb, int64_t M, int64_t N, int64_t K, NB_T alpha,
                           const NB_T *A, int64_t lda, const int64_t *aoff, const NB_T *B,
                           int64_t ldb, const int64_t *boff, NB_T beta, NB_T *C, int64_t ldc,
                           const int64_t *coff, int64_t nbatch, bool bf16)
{
    if (M <= 0 || N <= 0 || nbatch <= 0)
        return;
    const NB_FN(prob) P0 = {M, N, K, A, ta ? 1 : lda, ta ? lda : 1, B, tb ? 1 : ldb, tb ? ldb : 1,
                         C, ldc, alpha, beta, bf16, NULL, NULL};
    NB_FN(prob) P = P0;
    if (K == 0 || alpha == 0 || M == 1 || N == 1) {
        for (int64_t bi = 0; bi < nbatch; bi++) {
            P.A = A + (aoff ? aoff[bi] : 0), P.B = B + (boff ? boff[bi] : 0);
            P.C = C + (coff ? coff[bi] : 0);
            NB_FN(simple)(&P);
        }
        return;
    }
#ifdef NB_HAVE_BLAS
    if (!bf16 && blas_usable(ta, tb, M, N, K, lda, ldb, ldc)) {
        for (int64_t bi = 0; bi < nbatch; bi++)
            NB_BLASFN(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                      (int)M, (int)N, (int)K, alpha, A + (aoff ? aoff[bi] : 0), (int)lda,
                      B + (boff ? boff[bi] : 0), (int)ldb, beta, C + (coff ? coff[bi] : 0), (int)ldc);
        return;
    }
#endif
    const NB_FN(kern) k = NB_FN(kern_select)();
    const blocking bl = blocking_for(K, k.mr, k.nr, sizeof(NB_T), k.plan);
    size_t asz = (size_t)round_up(round_up(min64(bl.mc, M), k.mr) * bl.kc, 16);
    size_t bsz = (size_t)round_up(round_up(min64(bl.nc, N), k.nr) * bl.kc, 16);
    double fmas = (double)M * (double)N * (double)K;
    int nt1 = threads_for_fmas(fmas);
    if (nt1 > 1 || nbatch == 1) { /* one product at a time, each split over threads */
        int tm, tn;
        int64_t pm = (M + k.mr - 1) / k.mr, pn = (N + k.nr - 1) / k.nr;
        int nt = split_threads(nt1, pm, pn, k.mr, k.nr, bl.nc, &tm, &tn);
        size_t wsz = (size_t)nt * (asz + bsz) * sizeof(NB_T);
        NB_T *ws = nb__alloc(wsz);
        for (int64_t bi = 0; bi < nbatch; bi++) {
            P.A = A + (aoff ? aoff[bi] : 0), P.B = B + (boff ? boff[bi] : 0);
            P.C = C + (coff ? coff[bi] : 0);
            if (nt == 1) {
                NB_FN(region)(&k, &bl, &P, 0, M, 0, N, ws, ws + asz);
                continue;
            }
            NB__OMP("omp parallel num_threads(nt)")
            NB_FN(thread_region)(&k, &bl, &P, thread_id(), tm, tn, ws, asz, bsz);
        }
        nb__free(ws, wsz);
    } else { /* small products: one per thread */
        int nt = threads_for_fmas(fmas * (double)nbatch);
        if (nt > nbatch)
            nt = (int)nbatch;
        size_t wsz = (size_t)nt * (asz + bsz) * sizeof(NB_T);
        NB_T *ws = nb__alloc(wsz);
        NB__OMP("omp parallel for num_threads(nt) schedule(static) if (nt > 1)")
        for (int64_t bi = 0; bi < nbatch; bi++) {
            NB_FN(prob) Q = P0;
            Q.A = A + (aoff ? aoff[bi] : 0), Q.B = B + (boff ? boff[bi] : 0);
            Q.C = C + (coff ? coff[bi] : 0);
            NB_T *w = ws + (size_t)thread_id() * (asz + bsz);
            NB_FN(region)(&k, &bl, &Q, 0, M, 0, N, w, w + asz);
        }
        nb__free(ws, wsz);
    }
}

/* C = A @ B + beta * C with B's panels computed by packb (nb__gemm_packed_b): one product, its
 * tiles split over threads as batched splits a large one. */
static void NB_FN(packed_b)(int64_t M, int64_t N, int64_t K, const NB_T *A, int64_t lda, nb__gemm_pack_b_fn packb,
                            void *ctx, NB_T beta, NB_T *C, int64_t ldc)
{
    if (M < 2 || N < 2 || K < 1) /* batched's vector and empty products take the unpacked loops */
        nb__fail("nb__gemm_packed_b: M %lld, N %lld, K %lld: needs M, N >= 2 and K >= 1", (long long)M,
                 (long long)N, (long long)K);
    const NB_FN(prob) P = {M, N, K, A, lda, 1, NULL, 0, 0, C, ldc, 1, beta, false, packb, ctx};
    const NB_FN(kern) k = NB_FN(kern_select)();
    const blocking bl = blocking_for(K, k.mr, k.nr, sizeof(NB_T), k.plan);
    size_t asz = (size_t)round_up(round_up(min64(bl.mc, M), k.mr) * bl.kc, 16);
    size_t bsz = (size_t)round_up(round_up(min64(bl.nc, N), k.nr) * bl.kc, 16);
    int tm, tn;
    int64_t pm = (M + k.mr - 1) / k.mr, pn = (N + k.nr - 1) / k.nr;
    int nt = split_threads(threads_for_fmas((double)M * (double)N * (double)K), pm, pn, k.mr, k.nr, bl.nc, &tm, &tn);
    size_t wsz = (size_t)nt * (asz + bsz) * sizeof(NB_T);
    NB_T *ws = nb__alloc(wsz);
    NB__OMP("omp parallel num_threads(nt) if (nt > 1)")
    NB_FN(thread_region)(&k, &bl, &P, thread_id(), tm, tn, ws, asz, bsz);
    nb__free(ws, wsz);
}

void NB__PASTE(nb__gemm_, NB_SFX)(bool ta, bool tb, int64_t M, int64_t N, int64_t K, NB_T alpha,
                                  const NB_T *A, int64_t lda, const NB_T *B, int64_t ldb, NB_T beta,
                                  NB_T *C, int64_t ldc)
{
    NB_FN(batched)(ta, tb, M, N, K, alpha, A, lda, NULL, B, ldb, NULL, beta, C, ldc, NULL, 1, false);
}

#undef NB_FN
#undef NB_T
#undef NB_SFX
#undef NB_BLASFN
#undef NB_GMR
#undef NB_GNR
#undef NB_XMR
#undef NB_XNR
#undef NB_ZMR
#undef NB_ZNR
