/* k_nn_impl.h — the LayerNorm, cross-entropy and linear-bias kernels of k_nn.c for one element
 * type, included once per type with NB_T (float, double) defined; undefines it. Defines
 * ln_forward_<T>, ln_backward_<T>, ce_forward_<T>, ce_backward_<T>, bias_add_<T>, col_sum_<T>
 * with their row helpers. No include guard. */
#define NB_FN(name) NB__PASTE3(name, _, NB_T)

/* ---- LayerNorm -------------------------------------------------------------------------- */
NB__KV_TARGET static void NB__KV_NAME(NB_FN(ln_row_forward))(int64_t C, const NB_T *restrict xi, const NB_T *w,
                                                    const NB_T *b, double eps, NB_T *restrict yi,
                                                    double *mean, double *rstd)
{
    double a[LN_LANES] = {0};
    int64_t j = 0;
    for (; j + LN_LANES <= C; j += LN_LANES)
        for (int l = 0; l < LN_LANES; l++)
            a[l] += xi[j + l];
    for (int l = 0; j + l < C; l++)
        a[l] += xi[j + l];
    double m = lanes_total(a) / (double)C;
    double q[LN_LANES] = {0};
    for (j = 0; j + LN_LANES <= C; j += LN_LANES)
        for (int l = 0; l < LN_LANES; l++) {
            double d = xi[j + l] - m;
            q[l] += d * d;
        }
    for (int l = 0; j + l < C; l++) {
        double d = xi[j + l] - m;
        q[l] += d * d;
    }
    double r = 1.0 / sqrt(lanes_total(q) / (double)C + eps);
    *mean = m;
    *rstd = r;
    NB_T mt = (NB_T)m, rt = (NB_T)r;
    if (w && b) {
        _Pragma("omp simd") for (int64_t k = 0; k < C; k++) yi[k] = (xi[k] - mt) * rt * w[k] + b[k];
    } else if (w) {
        _Pragma("omp simd") for (int64_t k = 0; k < C; k++) yi[k] = (xi[k] - mt) * rt * w[k] + (NB_T)0;
    } else if (b) {
        _Pragma("omp simd") for (int64_t k = 0; k < C; k++) yi[k] = (xi[k] - mt) * rt + b[k];
    } else {
        _Pragma("omp simd") for (int64_t k = 0; k < C; k++) yi[k] = (xi[k] - mt) * rt + (NB_T)0;
    }
}
#if !NB__KV_AVX2
static void NB_FN(ln_forward)(int64_t N, int64_t C, const NB_T *x, const NB_T *w, const NB_T *b,
                              double eps, NB_T *y, double *mean, double *rstd)
{
    int nt = nb__threads_for(N * C);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t i = 0; i < N; i++)
        NB__KV_PICK(NB_FN(ln_row_forward))(C, x + i * C, w, b, eps, y + i * C, mean + i, rstd + i);
}
#endif

NB__KV_TARGET static void NB__KV_NAME(NB_FN(ln_dx_row))(int64_t C, const NB_T *xi, const NB_T *gi,
                                               const NB_T *w, NB_T mt, NB_T rt, NB_T *o)
{
    double a1[LN_LANES] = {0}, a2[LN_LANES] = {0};
    int64_t j = 0;
    for (; j + LN_LANES <= C; j += LN_LANES)
        for (int l = 0; l < LN_LANES; l++) {
            NB_T h = (xi[j + l] - mt) * rt;
            NB_T gw = w ? gi[j + l] * w[j + l] : gi[j + l];
            a1[l] += gw;
            a2[l] += gw * h;
        }
    for (int l = 0; j + l < C; l++) {
        NB_T h = (xi[j + l] - mt) * rt;
        NB_T gw = w ? gi[j + l] * w[j + l] : gi[j + l];
        a1[l] += gw;
        a2[l] += gw * h;
    }
    NB_T m1 = (NB_T)(lanes_total(a1) / (double)C), m2 = (NB_T)(lanes_total(a2) / (double)C);
    if (w) {
        _Pragma("omp simd") for (int64_t k = 0; k < C; k++) {
            NB_T h = (xi[k] - mt) * rt;
            o[k] = rt * (gi[k] * w[k] - m1 - h * m2);
        }
    } else {
        _Pragma("omp simd") for (int64_t k = 0; k < C; k++) {
            NB_T h = (xi[k] - mt) * rt;
            o[k] = rt * (gi[k] - m1 - h * m2);
        }
    }
}
/* aw[j] += dy[j] * xhat[j], ab[j] += dy[j] over one row (double: the dw/db partial sums) */
NB__KV_TARGET static void NB__KV_NAME(NB_FN(ln_dwb_row))(int64_t C, const NB_T *xi, const NB_T *gi, double mi,
                                                double ri, double *restrict aw, double *restrict ab)
{
    _Pragma("omp simd") for (int64_t j = 0; j < C; j++) {
        aw[j] += gi[j] * ((xi[j] - mi) * ri);
        ab[j] += gi[j];
    }
}
#if !NB__KV_AVX2
static void NB_FN(ln_backward)(int64_t N, int64_t C, const NB_T *x, const NB_T *w, const double *mean,
                               const double *rstd, const NB_T *dy, NB_T *dx, NB_T *dw, NB_T *db)
{
    int64_t nch = (N + LN_CHUNK - 1) / LN_CHUNK;
    bool sums = dw || db;
    size_t psz = sums ? (size_t)nch * 2 * (size_t)C * sizeof(double) : 0;
    double *part = sums ? nb__alloc(psz) : NULL;
    int nt = nb__threads_for(N * C * 2);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t ch = 0; ch < nch; ch++) {
        double *aw = sums ? part + ch * 2 * C : NULL, *ab = sums ? aw + C : NULL;
        for (int64_t j = 0; sums && j < 2 * C; j++)
            aw[j] = 0;
        int64_t i1 = (ch + 1) * LN_CHUNK < N ? (ch + 1) * LN_CHUNK : N;
        for (int64_t i = ch * LN_CHUNK; i < i1; i++) {
            const NB_T *xi = x + i * C, *gi = dy + i * C;
            if (dx)
                NB__KV_PICK(NB_FN(ln_dx_row))(C, xi, gi, w, (NB_T)mean[i], (NB_T)rstd[i], dx + i * C);
            if (!sums)
                continue;
            NB__KV_PICK(NB_FN(ln_dwb_row))(C, xi, gi, mean[i], rstd[i], aw, ab);
        }
    }
    if (!sums)
        return;
    for (int64_t j = 0; j < C; j++) {
        double sw = 0, sb = 0;
        for (int64_t ch = 0; ch < nch; ch++) {
            sw += part[ch * 2 * C + j];
            sb += part[ch * 2 * C + C + j];
        }
        if (dw)
            dw[j] = (NB_T)sw;
        if (db)
            db[j] = (NB_T)sb;
    }
    nb__free(part, psz);
}
#endif

/* ---- cross-entropy ---------------------------------------------------------------------- */
/* *lse = log-sum-exp of the row, *sx = its sum */
NB__KV_TARGET static void NB__KV_NAME(NB_FN(ce_row_forward))(int64_t V, const NB_T *restrict xi, double *lse,
                                                    double *sx)
{
    NB_T mx = -INFINITY;
    for (int64_t j = 0; j < V; j++)
        mx = xi[j] > mx ? xi[j] : mx;
    double s[CE_LANES] = {0}, a[CE_LANES] = {0};
    int64_t j = 0;
    for (; j + CE_LANES <= V; j += CE_LANES)
        NB__PASTE(CE_SIMD_, NB_T) for (int l = 0; l < CE_LANES; l++) {
            s[l] += (double)NB__PASTE(ce_exp_, NB_T)(xi[j + l] - mx);
            a[l] += (double)xi[j + l];
        }
    for (int l = 0; j < V; j++, l++) {
        s[l] += (double)NB__PASTE(ce_exp_, NB_T)(xi[j] - mx);
        a[l] += (double)xi[j];
    }
    *lse = (double)mx + log(lanes_total(s));
    *sx = lanes_total(a);
}
/* o = sc * (exp(x - l) - off) */
NB__KV_TARGET static void NB__KV_NAME(NB_FN(ce_row_backward))(int64_t V, const NB_T *restrict xi,
                                                     NB_T *restrict o, NB_T sc, NB_T l, NB_T off)
{
    NB__PASTE(CE_SIMD_, NB_T) for (int64_t j = 0; j < V; j++)
        o[j] = sc * (NB__PASTE(ce_exp_, NB_T)(xi[j] - l) - off);
}
#if !NB__KV_AVX2
static void NB_FN(ce_forward)(int64_t N, int64_t V, const NB_T *x, const int64_t *t, int64_t ignore,
                              double eps, double *loss, double *lse)
{
    int nt = nb__threads_for(N * V * 4);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t i = 0; i < N; i++) {
        const NB_T *xi = x + i * V;
        double l, sx;
        NB__KV_PICK(NB_FN(ce_row_forward))(V, xi, &l, &sx);
        lse[i] = l;
        if (t[i] == ignore) {
            loss[i] = 0;
            continue;
        }
        loss[i] = l - (1 - eps) * (double)xi[t[i]] - eps * sx / (double)V;
    }
}
#endif
#if !NB__KV_AVX2
static void NB_FN(ce_backward)(int64_t N, int64_t V, const NB_T *x, const int64_t *t,
                               const double *lse, double eps, const double *scale, NB_T *dx)
{
    int nt = nb__threads_for(N * V * 4);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t i = 0; i < N; i++) {
        const NB_T *xi = x + i * V;
        NB_T *o = dx + i * V;
        if (scale[i] == 0) {
            for (int64_t j = 0; j < V; j++)
                o[j] = 0;
            continue;
        }
        NB__KV_PICK(NB_FN(ce_row_backward))(V, xi, o, (NB_T)scale[i], (NB_T)lse[i], (NB_T)(eps / (double)V));
        o[t[i]] -= (NB_T)scale[i] * (NB_T)(1 - eps);
    }
}
#endif

/* ---- linear: bias rows and column sums -------------------------------------------------- */
#if !NB__KV_AVX2
static void NB_FN(bias_add)(int64_t N, int64_t C, NB_T *y, const NB_T *b)
{
    for (int64_t i = 0; i < N; i++) {
        NB_T *yi = y + i * C;
        _Pragma("omp simd") for (int64_t j = 0; j < C; j++) yi[j] += b[j];
    }
}
#endif
#if !NB__KV_AVX2
static void NB_FN(col_sum)(int64_t N, int64_t C, const NB_T *g, NB_T *out)
{
    double *acc = nb__alloc((size_t)(C ? C : 1) * sizeof *acc);
    for (int64_t j = 0; j < C; j++)
        acc[j] = 0;
    for (int64_t i = 0; i < N; i++) { /* rows in order: independent of the thread count */
        const NB_T *gi = g + i * C;
        _Pragma("omp simd") for (int64_t j = 0; j < C; j++) acc[j] += (double)gi[j];
    }
    for (int64_t j = 0; j < C; j++)
        out[j] = (NB_T)acc[j];
    nb__free(acc, (size_t)(C ? C : 1) * sizeof *acc);
}
#endif

#undef NB_FN
#undef NB_T
