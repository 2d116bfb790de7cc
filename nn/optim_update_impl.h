/* optim_update_impl.h — the parameter-update kernels of optim.c for one element type, included
 * once per type with NB_T (float, double) defined; undefines it. Defines the tables sgd_<T>[16]
 * and adam_<T>[4] of upd_fn, indexed by variant (SGD wd | momentum << 1 | first << 2 |
 * nesterov << 3; Adam l2 | amsgrad << 1). Each variant is a copy of the range function with its
 * flags constant, so the loops have no branches. Included once per kernel variant too (NB__KV_AVX2
 * 0 / 1, nb__kv.h): the AVX2 build and the baseline. No include guard. */
/* names carry the kernel variant (nb__kv.h): sgd_float_kv0 (baseline) / sgd_float_kv1 (AVX2) */
#define NB_FN(name) NB__KV_NAME(NB__PASTE3(name, _, NB_T))
#define NB_VAR(kind, n) NB__KV_NAME(NB__PASTE4(kind, _, NB_T, _##n))

/* torch: d = g (+ wd*p); buf = d | buf*mom + (1-damp)*d; d = d + mom*buf | buf; p = p + (-lr)*d */
static inline __attribute__((always_inline)) void
NB_FN(sgd_range)(int64_t lo, int64_t hi, const upd_bufs *bf, const upd_args *a, bool has_wd,
                 bool has_mom, bool first, bool nest)
{
    NB_T *restrict p = bf->p, *restrict buf = bf->s[0];
    const NB_T *restrict g = bf->g;
    const NB_T wd = (NB_T)a->wd, mom = (NB_T)a->momentum, omd = (NB_T)(1 - a->dampening),
            nlr = (NB_T)(-a->lr), sgn = a->maximize ? (NB_T)-1 : (NB_T)1;
    (void)wd, (void)mom, (void)omd, (void)buf;
    _Pragma("omp simd")
    for (int64_t i = lo; i < hi; i++) {
        NB_T d = sgn * g[i];
        if (has_wd)
            d = d + wd * p[i];
        if (has_mom) {
            NB_T b = first ? d : buf[i] * mom + omd * d;
            buf[i] = b;
            d = nest ? d + mom * b : b;
        }
        p[i] = p[i] + nlr * d;
    }
}

NB__KV_TARGET static void NB_VAR(sgd, 0)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                             const upd_args *a)
{
    NB_FN(sgd_range)(lo, hi, bf, a, 0, 0, 0, 0);
}
NB__KV_TARGET static void NB_VAR(sgd, 1)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                             const upd_args *a)
{
    NB_FN(sgd_range)(lo, hi, bf, a, 1, 0, 0, 0);
}
NB__KV_TARGET static void NB_VAR(sgd, 2)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                             const upd_args *a)
{
    NB_FN(sgd_range)(lo, hi, bf, a, 0, 1, 0, 0);
}
NB__KV_TARGET static void NB_VAR(sgd, 3)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                             const upd_args *a)
{
    NB_FN(sgd_range)(lo, hi, bf, a, 1, 1, 0, 0);
}
NB__KV_TARGET static void NB_VAR(sgd, 6)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                             const upd_args *a)
{
    NB_FN(sgd_range)(lo, hi, bf, a, 0, 1, 1, 0);
}
NB__KV_TARGET static void NB_VAR(sgd, 7)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                             const upd_args *a)
{
    NB_FN(sgd_range)(lo, hi, bf, a, 1, 1, 1, 0);
}
NB__KV_TARGET static void NB_VAR(sgd, 10)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                              const upd_args *a)
{
    NB_FN(sgd_range)(lo, hi, bf, a, 0, 1, 0, 1);
}
NB__KV_TARGET static void NB_VAR(sgd, 11)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                              const upd_args *a)
{
    NB_FN(sgd_range)(lo, hi, bf, a, 1, 1, 0, 1);
}
NB__KV_TARGET static void NB_VAR(sgd, 14)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                              const upd_args *a)
{
    NB_FN(sgd_range)(lo, hi, bf, a, 0, 1, 1, 1);
}
NB__KV_TARGET static void NB_VAR(sgd, 15)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                              const upd_args *a)
{
    NB_FN(sgd_range)(lo, hi, bf, a, 1, 1, 1, 1);
}
static const upd_fn NB_FN(sgd)[16] = {
    [0] = NB_VAR(sgd, 0),   [1] = NB_VAR(sgd, 1),   [2] = NB_VAR(sgd, 2),   [3] = NB_VAR(sgd, 3),
    [6] = NB_VAR(sgd, 6),   [7] = NB_VAR(sgd, 7),   [10] = NB_VAR(sgd, 10), [11] = NB_VAR(sgd, 11),
    [14] = NB_VAR(sgd, 14), [15] = NB_VAR(sgd, 15)};

/* torch: (AdamW: p = p*(1 - lr*wd)) (Adam: d = g + wd*p); m = m*b1 + (1-b1)*d;
 * v = v*b2 + (1-b2)*d*d; (vmax = max(vmax, v), NaN propagating); denom = sqrt(v)/sqrt(bc2) + eps;
 * p = p + (-step_size)*m/denom. AdamW's decay factor is 1 (exact) for Adam. In blocks of
 * ADAM_BLOCK: the moments pass (keeping v for the root), the roots, the parameter pass. */
static inline __attribute__((always_inline)) void
NB_FN(adam_range)(int64_t lo, int64_t hi, const upd_bufs *bf, const upd_args *a, bool l2, bool ams)
{
    NB_T *restrict p = bf->p, *restrict m = bf->s[0], *restrict v = bf->s[1],
      *restrict vmax = bf->s[2];
    const NB_T *restrict g = bf->g;
    const NB_T decay = a->decoupled ? (NB_T)(1 - a->lr * a->wd) : (NB_T)1, wd = (NB_T)a->wd,
            b1 = (NB_T)a->beta1, omb1 = (NB_T)(1 - a->beta1), b2 = (NB_T)a->beta2,
            omb2 = (NB_T)(1 - a->beta2), bc2s = (NB_T)a->bc2_sqrt, eps = (NB_T)a->eps,
            nss = (NB_T)(-a->step_size), sgn = a->maximize ? (NB_T)-1 : (NB_T)1;
    (void)wd, (void)vmax;
    NB_T root[ADAM_BLOCK];
    for (int64_t b0 = lo; b0 < hi; b0 += ADAM_BLOCK) {
        int64_t n = hi - b0 < ADAM_BLOCK ? hi - b0 : ADAM_BLOCK;
        NB_T *restrict pb = p + b0, *restrict mb = m + b0, *restrict vb = v + b0;
        NB_T *restrict xb = ams ? vmax + b0 : NULL;
        const NB_T *restrict gb = g + b0;
        (void)xb;
        _Pragma("omp simd")
        for (int64_t i = 0; i < n; i++) {
            NB_T d = sgn * gb[i];
            NB_T pi = pb[i] * decay;
            if (l2)
                d = d + wd * pi;
            NB_T mi = mb[i] * b1 + omb1 * d;
            NB_T vi = vb[i] * b2 + omb2 * d * d;
            mb[i] = mi;
            vb[i] = vi;
            if (ams) {
                NB_T x = xb[i];
                vi = (x > vi || x != x) ? x : vi;
                xb[i] = vi;
            }
            pb[i] = pi;
            root[i] = vi;
        }
        NB__PASTE(sqrt_block_, NB_T)(root, n);
        _Pragma("omp simd")
        for (int64_t i = 0; i < n; i++) {
            NB_T denom = root[i] / bc2s + eps;
            pb[i] = pb[i] + nss * mb[i] / denom;
        }
    }
}

NB__KV_TARGET static void NB_VAR(adam, 0)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                              const upd_args *a)
{
    NB_FN(adam_range)(lo, hi, bf, a, 0, 0);
}
NB__KV_TARGET static void NB_VAR(adam, 1)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                              const upd_args *a)
{
    NB_FN(adam_range)(lo, hi, bf, a, 1, 0);
}
NB__KV_TARGET static void NB_VAR(adam, 2)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                              const upd_args *a)
{
    NB_FN(adam_range)(lo, hi, bf, a, 0, 1);
}
NB__KV_TARGET static void NB_VAR(adam, 3)(int64_t lo, int64_t hi, const upd_bufs *bf,
                                              const upd_args *a)
{
    NB_FN(adam_range)(lo, hi, bf, a, 1, 1);
}
static const upd_fn NB_FN(adam)[4] = {NB_VAR(adam, 0), NB_VAR(adam, 1), NB_VAR(adam, 2),
                                      NB_VAR(adam, 3)};

#undef NB_FN
#undef NB_VAR
#undef NB_T
