/* k_attention_impl.h — the attention driver of k_attention.c for one element type: kernel-set
 * choice, forward and backward of one (b, h) pair and over all pairs. Included by k_attention.c
 * once per type, after the kernels, with NB_T (float, double) defined; undefines it. Defines
 * kset_<T>, kset_pick_<T>, fwd_pair_<T>, fwd_<T>, bwd_pair_<T>, bwd_<T>. No include guard. */
#define NB_FN(name) NB__PASTE3(name, _, NB_T)

/* The kernel set for T: AVX2+FMA where the GEMM would use AVX2 or better (so forcing the GEMM's
 * kernel set, as the tests do, selects the generic one here too), else the generic one. */
typedef struct {
    NB_FN(mm_fn) mm;
    void (*softmax)(NB_T *, int64_t, int64_t, int64_t, int64_t, double *);
    void (*exps)(NB_T *, int64_t, int64_t, int64_t, int64_t, const double *);
    void (*ds)(const NB_T *, NB_T *, int64_t, int64_t, int64_t, int64_t);
    void (*transpose)(int64_t, int64_t, const NB_T *, int64_t, NB_T *, int64_t);
} NB_FN(kset);
static NB_FN(kset) NB_FN(kset_pick)(void)
{
#ifdef NB__ATTN_X86
    if (nb__gemm_active_isa() >= NB__GEMM_AVX2)
        return (NB_FN(kset)){NB_FN(mm_avx2), NB_FN(softmax_avx2), NB_FN(exps_avx2), NB_FN(ds_avx2),
                             NB_FN(transpose_avx2)};
#endif
    return (NB_FN(kset)){NB_FN(mm_generic), NB_FN(softmax_generic), NB_FN(exps_generic),
                         NB_FN(ds_generic), NB_FN(transpose)};
}

/* ---- mask and dropout rows (only with an attention mask / dropout; scalar loops) ---- */
/* Rows [i0, i0 + r) of a pair's score block (stride ld, keys [0, n)), moff = the mask's offset
 * of this (b, h): bool mask s = m ? s : -inf, additive s += m. */
static void NB_FN(mask_rows)(const nb__attn_geom *g, int64_t moff, int64_t i0, int64_t r, NB_T *S, int64_t ld,
                             int64_t n)
{
    int64_t js = g->ms[3];
    for (int64_t ii = 0; ii < r; ii++) {
        NB_T *s = S + ii * ld;
        int64_t o = moff + (i0 + ii) * g->ms[2];
        if (g->mask_kind == NB__ATTN_MASK_BOOL) {
            const uint8_t *m = (const uint8_t *)g->mask + o;
            for (int64_t j = 0; j < n; j++)
                s[j] = m[j * js] ? s[j] : -INFINITY;
        } else {
            const NB_T *m = (const NB_T *)g->mask + o;
            for (int64_t j = 0; j < n; j++)
                s[j] += m[j * js];
        }
    }
}
/* After the softmax (or exps): P = 0 exactly at the keys the mask removes (false, or -inf added;
 * the vector exp leaves ~1e-38 there). */
static void NB_FN(mask_zero)(const nb__attn_geom *g, int64_t moff, int64_t i0, int64_t r, NB_T *S, int64_t ld,
                             int64_t n)
{
    int64_t js = g->ms[3];
    for (int64_t ii = 0; ii < r; ii++) {
        NB_T *s = S + ii * ld;
        int64_t o = moff + (i0 + ii) * g->ms[2];
        if (g->mask_kind == NB__ATTN_MASK_BOOL) {
            const uint8_t *m = (const uint8_t *)g->mask + o;
            for (int64_t j = 0; j < n; j++)
                s[j] = m[j * js] ? s[j] : 0;
        } else {
            const NB_T *m = (const NB_T *)g->mask + o;
            for (int64_t j = 0; j < n; j++)
                s[j] = m[j * js] == -INFINITY ? 0 : s[j];
        }
    }
}
/* Dropout on rows [0, r) of a block (each row's visible keys): s = keep ? s * keep_scale : 0, as
 * nb_dropout's x * mask. z: the keep flags of the block's first row (rows Tk apart). */
static void NB_FN(drop_rows)(const nb__attn_geom *g, const uint8_t *z, int64_t r, NB_T *S, int64_t ld, int64_t n,
                             int64_t base)
{
    NB_T c = (NB_T)g->keep_scale;
    for (int64_t ii = 0; ii < r; ii++) {
        NB_T *s = S + ii * ld;
        const uint8_t *zi = z + ii * g->Tk;
        int64_t lim = base + ii < n ? base + ii : n;
        for (int64_t j = 0; j < lim; j++)
            s[j] = zi[j] ? s[j] * c : 0;
    }
}

/* One pair: Kt = K^T once (ldk = pad8(Tk) columns); per row block of r rows seeing n keys:
 * S = scale Q Kt (ld = pad8(n) columns), softmax rows in place, O = P V.
 * ws: R*ldk (S) + D*ldk (Kt). */
static void NB_FN(fwd_pair)(const NB_FN(kset) *ks, const nb__attn_geom *g, int64_t R, const NB_T *q,
                            const NB_T *k, const NB_T *v, NB_T *o, double *lse, int64_t moff,
                            const uint8_t *keep, NB_T *ws)
{
    int64_t qt = g->qs[2], vt = g->vs[2], ot = g->os[2], ldk = pad8(g->Tk);
    NB_T *S = ws, *Kt = ws + R * ldk;
    ks->transpose(g->Tk, g->D, k, g->ks[2], Kt, ldk);
    for (int64_t i0 = 0; i0 < g->Tq; i0 += R) {
        int64_t r = R < g->Tq - i0 ? R : g->Tq - i0, n = visible(g, i0 + r - 1), ld = pad8(n);
        int64_t base = g->causal ? i0 + 1 + (g->Tk - g->Tq) : n;
        ks->mm(r, ld, g->D, (NB_T)g->scale, q + i0 * qt, qt, 1, Kt, ldk, false, S, ld);
        if (g->mask)
            NB_FN(mask_rows)(g, moff, i0, r, S, ld, n);
        ks->softmax(S, r, ld, n, base, lse + i0);
        if (g->mask)
            NB_FN(mask_zero)(g, moff, i0, r, S, ld, n);
        if (keep)
            NB_FN(drop_rows)(g, keep + i0 * g->Tk, r, S, ld, n, base);
        if (g->bf16) /* P's bfloat16 operand for P V (after mask and dropout) */
            NB_FN(round_tile)(S, r * ld);
        ks->mm(r, g->Dv, n, 1, S, ld, 1, v, vt, false, o + i0 * ot, ot);
    }
}

static void NB_FN(fwd)(const nb__attn_geom *g, const NB_T *q, const NB_T *k, const NB_T *v, NB_T *o,
                       double *lse)
{
    int64_t BH = g->B * g->H, R = block_rows(g), ldk = pad8(g->Tk);
    int nt = threads_for_pairs(g);
    NB_FN(kset) ks = NB_FN(kset_pick)();
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t t = 0; t < nt; t++) {
        int64_t p0, p1;
        chunk(BH, nt, t, &p0, &p1);
        size_t sz = (size_t)((R + g->D) * ldk) * sizeof(NB_T);
        NB_T *ws = nb__alloc(sz);
        for (int64_t p = p0; p < p1; p++) {
            int64_t b = p / g->H, h = p % g->H;
            NB_FN(fwd_pair)(&ks, g, R, q + b * g->qs[0] + h * g->qs[1],
                            k + b * g->ks[0] + h * g->ks[1], v + b * g->vs[0] + h * g->vs[1],
                            o + b * g->os[0] + h * g->os[1], lse + p * g->Tq, b * g->ms[0] + h * g->ms[1],
                            g->keep ? g->keep + p * g->Tq * g->Tk : NULL, ws);
        }
        nb__free(ws, sz);
    }
}

/* One pair, per row block: P from lse; dP = dO Vt (times Z with dropout); dS = P (dP - rowsum(P dP))
 * (copied to dm when given); dQ = scale dS K; dK += scale dS^T Q; dV += (P Z)^T dO.
 * ws: 2*R*ldk (S, dP) + D*ldk (Kt) + Dv*ldk (Vt). */
static void NB_FN(bwd_pair)(const NB_FN(kset) *ks, const nb__attn_geom *g, int64_t R, const NB_T *q,
                            const NB_T *k, const NB_T *v, const double *lse, const NB_T *dO,
                            NB_T *dq, NB_T *dk, NB_T *dv, int64_t moff, const uint8_t *keep, NB_T *dm,
                            NB_T *ws)
{
    int64_t qt = g->qs[2], kt = g->ks[2], Tk = g->Tk, D = g->D, Dv = g->Dv, ldk = pad8(Tk);
    int64_t dot = g->dos[2], dqt = g->dqs[2], dkt = g->dks[2], dvt = g->dvs[2];
    NB_T *S = ws, *dP = ws + R * ldk, *Kt = dP + R * ldk, *Vt = Kt + D * ldk, sc = (NB_T)g->scale;
    ks->transpose(Tk, D, k, kt, Kt, ldk);
    bool need_ds = dq || dk || dm;
    if (need_ds)
        ks->transpose(Tk, Dv, v, g->vs[2], Vt, ldk);
    for (int64_t j = 0; dk && j < Tk; j++)
        memset(dk + j * dkt, 0, (size_t)D * sizeof(NB_T));
    for (int64_t j = 0; dv && j < Tk; j++)
        memset(dv + j * dvt, 0, (size_t)Dv * sizeof(NB_T));
    for (int64_t i0 = 0; i0 < g->Tq; i0 += R) {
        int64_t r = R < g->Tq - i0 ? R : g->Tq - i0, n = visible(g, i0 + r - 1), ld = pad8(n);
        int64_t base = g->causal ? i0 + 1 + (Tk - g->Tq) : n;
        const NB_T *dOb = dO + i0 * dot;
        ks->mm(r, ld, D, sc, q + i0 * qt, qt, 1, Kt, ldk, false, S, ld);
        if (g->mask)
            NB_FN(mask_rows)(g, moff, i0, r, S, ld, n);
        ks->exps(S, r, ld, n, base, lse + i0);
        if (g->mask)
            NB_FN(mask_zero)(g, moff, i0, r, S, ld, n);
        if (need_ds) {
            ks->mm(r, ld, Dv, 1, dOb, dot, 1, Vt, ldk, false, dP, ld);
            if (keep)
                NB_FN(drop_rows)(g, keep + i0 * Tk, r, dP, ld, n, base);
            ks->ds(S, dP, r, ld, n, base);
            for (int64_t ii = 0; dm && ii < r; ii++) /* not causal: n == Tk */
                memcpy(dm + (i0 + ii) * Tk, dP + ii * ld, (size_t)Tk * sizeof(NB_T));
            if (g->bf16) /* dS's bfloat16 operand for dQ and dK (dm got the float32 dS) */
                NB_FN(round_tile)(dP, r * ld);
            if (dq)
                ks->mm(r, D, n, sc, dP, ld, 1, k, kt, false, dq + i0 * dqt, dqt);
            if (dk) /* dK[0:n] += scale dS^T Q */
                ks->mm(n, D, r, sc, dP, 1, ld, q + i0 * qt, qt, true, dk, dkt);
        }
        if (dv && keep)
            NB_FN(drop_rows)(g, keep + i0 * Tk, r, S, ld, n, base);
        if (dv && g->bf16) /* (P Z)'s bfloat16 operand for dV */
            NB_FN(round_tile)(S, r * ld);
        if (dv) /* dV[0:n] += (P Z)^T dO: A(j, i) = S[i*ld + j] */
            ks->mm(n, Dv, r, 1, S, 1, ld, dOb, dot, true, dv, dvt);
    }
}

static void NB_FN(bwd)(const nb__attn_geom *g, const NB_T *q, const NB_T *k, const NB_T *v,
                       const double *lse, const NB_T *dO, NB_T *dq, NB_T *dk, NB_T *dv, NB_T *dm)
{
    int64_t BH = g->B * g->H, R = block_rows(g), ldk = pad8(g->Tk);
    int nt = threads_for_pairs(g);
    NB_FN(kset) ks = NB_FN(kset_pick)();
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t t = 0; t < nt; t++) {
        int64_t p0, p1;
        chunk(BH, nt, t, &p0, &p1);
        size_t sz = (size_t)((2 * R + g->D + g->Dv) * ldk) * sizeof(NB_T);
        NB_T *ws = nb__alloc(sz);
        for (int64_t p = p0; p < p1; p++) {
            int64_t b = p / g->H, h = p % g->H;
            NB_FN(bwd_pair)(&ks, g, R, q + b * g->qs[0] + h * g->qs[1],
                            k + b * g->ks[0] + h * g->ks[1], v + b * g->vs[0] + h * g->vs[1],
                            lse + p * g->Tq, dO + b * g->dos[0] + h * g->dos[1],
                            dq ? dq + b * g->dqs[0] + h * g->dqs[1] : NULL,
                            dk ? dk + b * g->dks[0] + h * g->dks[1] : NULL,
                            dv ? dv + b * g->dvs[0] + h * g->dvs[1] : NULL, b * g->ms[0] + h * g->ms[1],
                            g->keep ? g->keep + p * g->Tq * g->Tk : NULL, dm ? dm + p * g->Tq * g->Tk : NULL,
                            ws);
        }
        nb__free(ws, sz);
    }
}

#undef NB_FN
#undef NB_T
