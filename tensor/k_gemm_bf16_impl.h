/* k_gemm_bf16_impl.h — autocast's bfloat16 GEMM on bfloat16 dot-product instructions
 * (nb__gemm_batched_bf16 with the kind NB__BF16_DP or NB__BF16_AMX, or their software models):
 * A and B are packed as bfloat16 (two k per 32-bit word, half the bytes of the float32 panels),
 * multiplied by vdpbf16ps (14 x 32 tiles in AVX-512 registers) or tdpbf16ps (32 x 32 tiles in AMX
 * tile registers) with float32 accumulation, and written back with alpha/beta as the float32
 * kernels do. Included by k_gemm.c once, after the float32 driver (it uses prob_float,
 * split_threads, split_range, threads_for_fmas, thread_id and tile_store_float) and after the
 * kernel sets of k_gemm_bf16_kset_impl.h.
 *
 * Blocking and threads follow the float32 driver: threads split C into rectangles, never K, and
 * K's blocks depend only on K and the kernel, so the results are the same bits for any thread
 * count. They are not the bits of the rounded float32 kernels (NB__BF16_ROUNDED): the
 * instructions add the two products of a pair in their own order, read subnormal bfloat16 as zero
 * and flush subnormal sums; they agree with them within float32 rounding of the sums. */

typedef struct {
    int mr, kalign; /* rows of a micro-panel; the packed depth is a multiple of kalign */
    void (*pack_a)(int64_t mc, int64_t kc, int64_t kcp, const float *A, int64_t rs, int64_t cs, uint32_t *dst);
    void (*pack_b)(int64_t kc, int64_t kcp, int64_t nc, const float *B, int64_t rs, int64_t cs, uint32_t *dst);
    void (*ukr)(int64_t kcp, const uint32_t *a, const uint32_t *b, float *c, int64_t ldc, int mr, int nr, float alpha,
                float beta);
    void (*begin)(void), (*end)(void); /* around a thread's share (the tile configuration) */
} bk_kern;

static void bk_nothing(void) {}

static bk_kern bk_kern_for(nb__bf16_kind kind)
{
    switch (kind) {
#ifdef NB__GEMM_X86
    case NB__BF16_DP:
        return (bk_kern){BK_DP_MR, 2, bk_pack_a_dp_hw, bk_pack_b_hw, bk_dp_ukr_hw, bk_nothing, bk_nothing};
    case NB__BF16_AMX:
        return (bk_kern){32, 32, bk_pack_a_amx_hw, bk_pack_b_hw, bk_amx_ukr_hw, bk_amx_begin_hw, bk_amx_end_hw};
#endif
    case NB__BF16_DP_EMU:
        return (bk_kern){BK_DP_MR, 2, bk_pack_a_dp_emu, bk_pack_b_emu, bk_dp_ukr_emu, bk_nothing, bk_nothing};
    default: /* NB__BF16_AMX_EMU */
        return (bk_kern){32, 32, bk_pack_a_amx_emu, bk_pack_b_emu, bk_amx_ukr_emu, bk_amx_begin_emu,
                         bk_amx_end_emu};
    }
}

typedef struct {
    int64_t kc, mc, nc; /* kc: K's block (a multiple of kalign unless it is all of K) */
} bk_blocking;

/* K in equal blocks of at most BK_KC_MAX; A blocks of ~256 KB and B panels of ~512 KB of bfloat16. */
static bk_blocking bk_blocking_for(const bk_kern *k, int64_t K)
{
    bk_blocking b;
    int64_t nk = (K + BK_KC_MAX - 1) / BK_KC_MAX;
    b.kc = round_up((K + nk - 1) / nk, k->kalign);
    int64_t kcp = b.kc; /* bytes per packed row or column: 2 * kcp */
    b.mc = (256 << 10) / (2 * kcp) / k->mr * k->mr;
    b.nc = (512 << 10) / (2 * kcp) / BK_NR * BK_NR;
    b.mc = b.mc < k->mr ? k->mr : b.mc;
    b.nc = b.nc < BK_NR ? BK_NR : b.nc;
    return b;
}

/* The micro-kernels of one packed A block (mc rows) against one packed B panel (nc columns). */
static void bk_block(const bk_kern *k, const prob_float *P, int64_t ic, int64_t mc, int64_t jc, int64_t nc, int64_t kcp,
                     float beta, const uint32_t *abuf, const uint32_t *bbuf)
{
    for (int64_t ir = 0; ir < mc; ir += k->mr)
        for (int64_t jr = 0; jr < nc; jr += BK_NR)
            k->ukr(kcp, abuf + ir * kcp / 2, bbuf + jr * kcp / 2, P->C + (ic + ir) * P->ldc + jc + jr, P->ldc,
                   (int)min64(k->mr, mc - ir), (int)min64(BK_NR, nc - jr), P->alpha, beta);
}

/* The product on the rectangle rows [m0, m1) x columns [n0, n1) of C: per B panel and K block, one
 * packed B panel; per A block, the micro-panels of A (kept in L1) against every B micro-panel.
 * When the rows fit one A block (training's activations: M = B*T), K blocks go outside B panels so
 * A is packed once per K block, not once per panel: each element of C still adds its K blocks in
 * the same order, so the bits are the same. */
static void bk_region(const bk_kern *k, const bk_blocking *bl, const prob_float *P, int64_t m0, int64_t m1, int64_t n0,
                      int64_t n1, uint32_t *abuf, uint32_t *bbuf)
{
    k->begin();
    if (m1 - m0 <= bl->mc) {
        for (int64_t pc = 0; pc < P->K; pc += bl->kc) {
            int64_t kc = min64(bl->kc, P->K - pc), kcp = round_up(kc, k->kalign);
            k->pack_a(m1 - m0, kc, kcp, P->A + m0 * P->rsa + pc * P->csa, P->rsa, P->csa, abuf);
            for (int64_t jc = n0; jc < n1; jc += bl->nc) {
                int64_t nc = min64(bl->nc, n1 - jc);
                k->pack_b(kc, kcp, nc, P->B + pc * P->rsb + jc * P->csb, P->rsb, P->csb, bbuf);
                bk_block(k, P, m0, m1 - m0, jc, nc, kcp, pc == 0 ? P->beta : 1.0f, abuf, bbuf);
            }
        }
        k->end();
        return;
    }
    for (int64_t jc = n0; jc < n1; jc += bl->nc) {
        int64_t nc = min64(bl->nc, n1 - jc);
        for (int64_t pc = 0; pc < P->K; pc += bl->kc) {
            int64_t kc = min64(bl->kc, P->K - pc), kcp = round_up(kc, k->kalign);
            float beta = pc == 0 ? P->beta : 1.0f;
            k->pack_b(kc, kcp, nc, P->B + pc * P->rsb + jc * P->csb, P->rsb, P->csb, bbuf);
            for (int64_t ic = m0; ic < m1; ic += bl->mc) {
                int64_t mc = min64(bl->mc, m1 - ic);
                k->pack_a(mc, kc, kcp, P->A + ic * P->rsa + pc * P->csa, P->rsa, P->csa, abuf);
                bk_block(k, P, ic, mc, jc, nc, kcp, beta, abuf, bbuf);
            }
        }
    }
    k->end();
}

/* Thread t's rectangle of a product split over tm x tn threads, on its slice of ws. */
static void bk_thread_region(const bk_kern *k, const bk_blocking *bl, const prob_float *P, int t, int tm, int tn,
                             uint32_t *ws, size_t asz, size_t bsz)
{
    int64_t m0, m1, n0, n1;
    split_range((P->M + k->mr - 1) / k->mr, tm, t / tn, k->mr, P->M, &m0, &m1);
    split_range((P->N + BK_NR - 1) / BK_NR, tn, t % tn, BK_NR, P->N, &n0, &n1);
    uint32_t *w = ws + (size_t)t * (asz + bsz);
    if (m0 < m1 && n0 < n1)
        bk_region(k, bl, P, m0, m1, n0, n1, w, w + asz);
}

/* nb__gemm_batched_bf16 on kernel `kind` (M, N >= 2, K >= 1, alpha != 0): as batched_float. */
static void bk_batched(nb__bf16_kind kind, const prob_float *P0, const int64_t *aoff, const int64_t *boff,
                       const int64_t *coff, int64_t nbatch)
{
    const bk_kern k = bk_kern_for(kind);
    const bk_blocking bl = bk_blocking_for(&k, P0->K);
    int64_t M = P0->M, N = P0->N;
    size_t asz = (size_t)round_up(round_up(min64(bl.mc, M), k.mr) * bl.kc / 2, 16);
    size_t bsz = (size_t)round_up(round_up(min64(bl.nc, N), BK_NR) * bl.kc / 2, 16);
    double fmas = (double)M * (double)N * (double)P0->K;
    int nt1 = threads_for_fmas(fmas);
    prob_float P = *P0;
    if (nt1 > 1 || nbatch == 1) { /* one product at a time, each split over threads */
        int tm, tn;
        int nt = split_threads(nt1, (M + k.mr - 1) / k.mr, (N + BK_NR - 1) / BK_NR, k.mr, BK_NR, bl.nc, &tm, &tn);
        size_t wsz = (size_t)nt * (asz + bsz) * sizeof(uint32_t);
        uint32_t *ws = nb__alloc(wsz);
        for (int64_t bi = 0; bi < nbatch; bi++) {
            P.A = P0->A + (aoff ? aoff[bi] : 0), P.B = P0->B + (boff ? boff[bi] : 0);
            P.C = P0->C + (coff ? coff[bi] : 0);
            NB__OMP("omp parallel num_threads(nt) if (nt > 1)")
            bk_thread_region(&k, &bl, &P, thread_id(), tm, tn, ws, asz, bsz);
        }
        nb__free(ws, wsz);
    } else { /* small products: one per thread */
        int nt = threads_for_fmas(fmas * (double)nbatch);
        nt = nt > nbatch ? (int)nbatch : nt;
        size_t wsz = (size_t)nt * (asz + bsz) * sizeof(uint32_t);
        uint32_t *ws = nb__alloc(wsz);
        NB__OMP("omp parallel for num_threads(nt) schedule(static) if (nt > 1)")
        for (int64_t bi = 0; bi < nbatch; bi++) {
            prob_float Q = *P0;
            Q.A = P0->A + (aoff ? aoff[bi] : 0), Q.B = P0->B + (boff ? boff[bi] : 0);
            Q.C = P0->C + (coff ? coff[bi] : 0);
            bk_thread_region(&k, &bl, &Q, 0, 1, 1, ws + (size_t)thread_id() * (asz + bsz), asz, bsz);
        }
        nb__free(ws, wsz);
    }
}
