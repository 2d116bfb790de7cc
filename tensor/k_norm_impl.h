/* k_norm_impl.h — the kernels of k_norm.c for one element type: included once per dtype with
 * NB_T (float, double) defined; KN(name) gives the type-suffixed name. No include guard. */

/* ---- RMSNorm -------------------------------------------------------------------------------- */
/* sum_j a[j] * b[j] (* w[j] when w is not NULL) in double over fixed lanes; one loop per case
 * so that each vectorizes. */
NB__KV_TARGET static double NB__KV_NAME(KN(dot_lanes))(int64_t C, const NB_T *restrict a, const NB_T *restrict b,
                                              const NB_T *restrict w)
{
    double s[KN_LANES] = {0};
    int64_t j = 0;
    if (w) {
        for (; j + KN_LANES <= C; j += KN_LANES)
            for (int l = 0; l < KN_LANES; l++)
                s[l] += (double)(a[j + l] * w[j + l]) * (double)b[j + l];
        for (int l = 0; j + l < C; l++)
            s[l] += (double)(a[j + l] * w[j + l]) * (double)b[j + l];
    } else {
        for (; j + KN_LANES <= C; j += KN_LANES)
            for (int l = 0; l < KN_LANES; l++)
                s[l] += (double)a[j + l] * (double)b[j + l];
        for (int l = 0; j + l < C; l++)
            s[l] += (double)a[j + l] * (double)b[j + l];
    }
    return kn_lanes_total(s);
}

NB__KV_TARGET static void NB__KV_NAME(KN(rms_row_forward))(int64_t C, const NB_T *restrict xi, const NB_T *w, double eps,
                                                  NB_T *restrict yi, double *rstd)
{
    double r = 1.0 / sqrt(NB__KV_NAME(KN(dot_lanes))(C, xi, xi, NULL) / (double)C + eps);
    *rstd = r;
    NB_T rt = (NB_T)r;
    if (w) {
        _Pragma("omp simd") for (int64_t k = 0; k < C; k++) yi[k] = xi[k] * rt * w[k];
    } else {
        _Pragma("omp simd") for (int64_t k = 0; k < C; k++) yi[k] = xi[k] * rt;
    }
}

#if !NB__KV_AVX2
static void KN(rms_forward)(int64_t N, int64_t C, const NB_T *x, const NB_T *w, double eps, NB_T *y, double *rstd)
{
    int nt = nb__threads_for(N * C);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t i = 0; i < N; i++)
        NB__KV_PICK(KN(rms_row_forward))(C, x + i * C, w, eps, y + i * C, rstd + i);
}
#endif

/* dx row: r * (gw - xhat * mean(gw * xhat)) = r * gw - x * (r^3 * sum(gw * x) / C) */
NB__KV_TARGET static void NB__KV_NAME(KN(rms_dx_row))(int64_t C, const NB_T *restrict xi, const NB_T *restrict gi,
                                             const NB_T *w, double r, NB_T *restrict o)
{
    NB_T rt = (NB_T)r, c = (NB_T)(r * r * r * NB__KV_NAME(KN(dot_lanes))(C, gi, xi, w) / (double)C);
    if (w) {
        _Pragma("omp simd") for (int64_t k = 0; k < C; k++) o[k] = rt * (gi[k] * w[k]) - xi[k] * c;
    } else {
        _Pragma("omp simd") for (int64_t k = 0; k < C; k++) o[k] = rt * gi[k] - xi[k] * c;
    }
}

NB__KV_TARGET static void NB__KV_NAME(KN(rms_dw_row))(int64_t C, const NB_T *restrict xi, const NB_T *restrict gi, double r,
                                             double *restrict aw)
{
    _Pragma("omp simd") for (int64_t j = 0; j < C; j++) aw[j] += (double)gi[j] * ((double)xi[j] * r);
}

/* Fixed chunks of KN_CHUNK rows in parallel, each with its dw partial (double), summed in chunk
 * order afterwards: one order for any thread count. */
#if !NB__KV_AVX2
static void KN(rms_backward)(int64_t N, int64_t C, const NB_T *x, const NB_T *w, const double *rstd, const NB_T *dy,
                             NB_T *dx, NB_T *dw)
{
    int64_t nch = (N + KN_CHUNK - 1) / KN_CHUNK;
    size_t psz = dw ? (size_t)(nch ? nch : 1) * (size_t)C * sizeof(double) : 0;
    double *part = dw ? nb__alloc(psz ? psz : sizeof(double)) : NULL;
    int nt = nb__threads_for(N * C * 2);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t ch = 0; ch < nch; ch++) {
        double *aw = dw ? part + ch * C : NULL;
        for (int64_t j = 0; aw && j < C; j++)
            aw[j] = 0;
        int64_t i1 = (ch + 1) * KN_CHUNK < N ? (ch + 1) * KN_CHUNK : N;
        for (int64_t i = ch * KN_CHUNK; i < i1; i++) {
            if (dx)
                NB__KV_PICK(KN(rms_dx_row))(C, x + i * C, dy + i * C, w, rstd[i], dx + i * C);
            if (aw)
                NB__KV_PICK(KN(rms_dw_row))(C, x + i * C, dy + i * C, rstd[i], aw);
        }
    }
    if (!dw)
        return;
    for (int64_t j = 0; j < C; j++) {
        double s = 0;
        for (int64_t ch = 0; ch < nch; ch++)
            s += part[ch * C + j];
        dw[j] = (NB_T)s;
    }
    nb__free(part, psz ? psz : sizeof(double));
}
#endif

/* ---- rotary embedding ----------------------------------------------------------------------- */
#if !NB__KV_AVX2
static void KN(rope)(int64_t R, int64_t T, int64_t D, int64_t offset, double theta, bool inverse, const NB_T *x,
                     NB_T *y)
{
    int64_t H = D / 2;
    size_t tsz = (size_t)(T * H != 0 ? T * H : 1) * sizeof(NB_T);
    NB_T *cs = nb__alloc(tsz), *sn = nb__alloc(tsz);
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < H; i++) {
            double ang = (double)(offset + t) * (1.0 / pow(theta, (double)(2 * i) / (double)D));
            cs[t * H + i] = (NB_T)cos(ang);
            sn[t * H + i] = (NB_T)(inverse ? -sin(ang) : sin(ang));
        }
    int nt = nb__threads_for(R * T * D * 2);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t r = 0; r < R; r++)
        for (int64_t t = 0; t < T; t++) {
            const NB_T *xi = x + (r * T + t) * D, *c = cs + t * H, *s = sn + t * H;
            NB_T *yi = y + (r * T + t) * D;
            _Pragma("omp simd") for (int64_t i = 0; i < H; i++) {
                NB_T a = xi[2 * i], b = xi[2 * i + 1];
                yi[2 * i] = a * c[i] - b * s[i];
                yi[2 * i + 1] = a * s[i] + b * c[i];
            }
        }
    nb__free(cs, tsz);
    nb__free(sn, tsz);
}
#endif

/* ---- GroupNorm ------------------------------------------------------------------------------ */
/* Mean and rstd of the n contiguous values at v (two-pass, fixed lanes). */
NB__KV_TARGET static void NB__KV_NAME(KN(block_stats))(int64_t n, const NB_T *restrict v, double eps, double *mean,
                                              double *rstd)
{
    double a[KN_LANES] = {0}, q[KN_LANES] = {0};
    int64_t j = 0;
    for (; j + KN_LANES <= n; j += KN_LANES)
        for (int l = 0; l < KN_LANES; l++)
            a[l] += v[j + l];
    for (int l = 0; j + l < n; l++)
        a[l] += v[j + l];
    double m = kn_lanes_total(a) / (double)n;
    for (j = 0; j + KN_LANES <= n; j += KN_LANES)
        for (int l = 0; l < KN_LANES; l++) {
            double d = v[j + l] - m;
            q[l] += d * d;
        }
    for (int l = 0; j + l < n; l++) {
        double d = v[j + l] - m;
        q[l] += d * d;
    }
    *mean = m;
    *rstd = 1.0 / sqrt(kn_lanes_total(q) / (double)n + eps);
}

#if !NB__KV_AVX2
static void KN(gn_forward)(int64_t N, int64_t C, int64_t S, int64_t G, const NB_T *x, const NB_T *w, const NB_T *b,
                           double eps, NB_T *y, double *mean, double *rstd)
{
    int64_t Cg = C / G;
    int nt = nb__threads_for(N * C * S * 2);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t ng = 0; ng < N * G; ng++) {
        int64_t base = ng * Cg * S;
        NB__KV_PICK(KN(block_stats))(Cg * S, x + base, eps, mean + ng, rstd + ng);
        NB_T mt = (NB_T)mean[ng], rt = (NB_T)rstd[ng];
        for (int64_t k = 0; k < Cg; k++) {
            int64_t c = (ng % G) * Cg + k;
            NB_T wc = w ? w[c] : (NB_T)1, bc = b ? b[c] : (NB_T)0;
            const NB_T *xi = x + base + k * S;
            NB_T *yi = y + base + k * S;
            _Pragma("omp simd") for (int64_t s = 0; s < S; s++) yi[s] = (xi[s] - mt) * rt * wc + bc;
        }
    }
}
#endif

/* part [N, C, 2]: per (n, c) sums of dy * xhat and dy over S; then summed over n in order. */
#if !NB__KV_AVX2
static void KN(gn_backward)(int64_t N, int64_t C, int64_t S, int64_t G, const NB_T *x, const NB_T *w,
                            const double *mean, const double *rstd, const NB_T *dy, NB_T *dx, NB_T *dw, NB_T *db)
{
    int64_t Cg = C / G;
    size_t psz = (size_t)(N * C != 0 ? N * C * 2 : 1) * sizeof(double);
    double *part = nb__alloc(psz);
    int nt = nb__threads_for(N * C * S * 3);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t ng = 0; ng < N * G; ng++) {
        int64_t base = ng * Cg * S, n = ng / G;
        double m = mean[ng], r = rstd[ng], s1 = 0, s2 = 0;
        for (int64_t k = 0; k < Cg; k++) {
            int64_t c = (ng % G) * Cg + k;
            const NB_T *xi = x + base + k * S, *gi = dy + base + k * S;
            double sh = 0, sg = 0;
            for (int64_t s = 0; s < S; s++) {
                double h = ((double)xi[s] - m) * r;
                sh += (double)gi[s] * h;
                sg += (double)gi[s];
            }
            part[(n * C + c) * 2] = sh;
            part[(n * C + c) * 2 + 1] = sg;
            double wc = w ? (double)w[c] : 1.0;
            s1 += wc * sg;
            s2 += wc * sh;
        }
        if (!dx)
            continue;
        double cnt = (double)(Cg * S), m1 = s1 / cnt, m2 = s2 / cnt;
        for (int64_t k = 0; k < Cg; k++) {
            int64_t c = (ng % G) * Cg + k;
            double wc = w ? (double)w[c] : 1.0;
            const NB_T *xi = x + base + k * S, *gi = dy + base + k * S;
            NB_T *o = dx + base + k * S;
            for (int64_t s = 0; s < S; s++)
                o[s] = (NB_T)(r * (wc * (double)gi[s] - m1 - ((double)xi[s] - m) * r * m2));
        }
    }
    for (int64_t c = 0; c < C; c++) {
        double sw = 0, sb = 0;
        for (int64_t n = 0; n < N; n++)
            sw += part[(n * C + c) * 2], sb += part[(n * C + c) * 2 + 1];
        if (dw)
            dw[c] = (NB_T)sw;
        if (db)
            db[c] = (NB_T)sb;
    }
    nb__free(part, psz);
}
#endif

/* ---- BatchNorm ------------------------------------------------------------------------------ */
#if !NB__KV_AVX2
static void KN(bn_stats)(int64_t N, int64_t C, int64_t S, const NB_T *x, double *mean, double *var)
{
    int nt = nb__threads_for(N * C * S * 2);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t c = 0; c < C; c++) {
        double a = 0, q = 0, cnt = (double)(N * S);
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++)
                a += (double)x[(n * C + c) * S + s];
        double m = a / cnt;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) {
                double d = (double)x[(n * C + c) * S + s] - m;
                q += d * d;
            }
        mean[c] = m;
        var[c] = q / cnt;
    }
}
#endif

#if !NB__KV_AVX2
static void KN(bn_apply)(int64_t N, int64_t C, int64_t S, const NB_T *x, const double *mean, const double *rstd,
                         const NB_T *w, const NB_T *b, NB_T *y)
{
    int nt = nb__threads_for(N * C * S);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t nc = 0; nc < N * C; nc++) {
        int64_t c = nc % C;
        NB_T mt = (NB_T)mean[c], rt = (NB_T)rstd[c], wc = w ? w[c] : (NB_T)1, bc = b ? b[c] : (NB_T)0;
        const NB_T *xi = x + nc * S;
        NB_T *yi = y + nc * S;
        _Pragma("omp simd") for (int64_t s = 0; s < S; s++) yi[s] = (xi[s] - mt) * rt * wc + bc;
    }
}
#endif

#if !NB__KV_AVX2
static void KN(bn_backward)(int64_t N, int64_t C, int64_t S, const NB_T *x, const NB_T *w, const double *mean,
                            const double *rstd, bool training, const NB_T *dy, NB_T *dx, NB_T *dw, NB_T *db)
{
    int nt = nb__threads_for(N * C * S * 3);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t c = 0; c < C; c++) {
        double m = mean[c], r = rstd[c], sh = 0, sg = 0, cnt = (double)(N * S);
        double wc = w ? (double)w[c] : 1.0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) {
                int64_t k = (n * C + c) * S + s;
                sh += (double)dy[k] * (((double)x[k] - m) * r);
                sg += (double)dy[k];
            }
        if (dw)
            dw[c] = (NB_T)sh;
        if (db)
            db[c] = (NB_T)sg;
        if (!dx)
            continue;
        double m1 = training ? sg / cnt : 0, m2 = training ? sh / cnt : 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t s = 0; s < S; s++) {
                int64_t k = (n * C + c) * S + s;
                dx[k] = (NB_T)(r * wc * ((double)dy[k] - m1 - ((double)x[k] - m) * r * m2));
            }
    }
}
#endif

/* ---- pointwise losses (element formulas in k_norm.c, in double) ----------------------------- */
#if !NB__KV_AVX2
static void KN(loss_forward)(nb__loss_kind kind, int64_t n, const NB_T *x, const NB_T *t, const NB_T *w,
                             const NB_T *pw, double param, double *loss)
{
    int nt = nb__threads_for(n * 8);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t i = 0; i < n; i++)
        loss[i] = kn_loss(kind, x[i], t[i], w ? (double)w[i] : 1.0, pw ? (double)pw[i] : 1.0, param);
}
#endif

#if !NB__KV_AVX2
static void KN(loss_backward)(nb__loss_kind kind, int64_t n, const NB_T *x, const NB_T *t, const NB_T *w,
                              const NB_T *pw, double param, const NB_T *g, double gs, NB_T *dx, NB_T *dt, NB_T *dw,
                              NB_T *dpw)
{
    int nt = nb__threads_for(n * 8);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t i = 0; i < n; i++) {
        double d[4];
        kn_loss_grad(kind, x[i], t[i], w ? (double)w[i] : 1.0, pw ? (double)pw[i] : 1.0, param, d);
        double s = g ? (double)g[i] : gs;
        if (dx)
            dx[i] = (NB_T)(s * d[0]);
        if (dt)
            dt[i] = (NB_T)(s * d[1]);
        if (dw)
            dw[i] = (NB_T)(s * d[2]);
        if (dpw)
            dpw[i] = (NB_T)(s * d[3]);
    }
}
#endif

/* ---- NLL and probability-target cross-entropy over [N, C, D] --------------------------------- */
#if !NB__KV_AVX2
static void KN(nll_forward)(int64_t N, int64_t C, int64_t D, const NB_T *x, const int64_t *t, const NB_T *w,
                            int64_t ignore, double *loss, double *wsum)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) {
            int64_t i = n * D + d, c = t[i];
            if (c == ignore) {
                loss[i] = wsum[i] = 0;
                continue;
            }
            double wc = w ? (double)w[c] : 1.0;
            loss[i] = -wc * (double)x[(n * C + c) * D + d];
            wsum[i] = wc;
        }
}
#endif

#if !NB__KV_AVX2
static void KN(nll_backward)(int64_t N, int64_t C, int64_t D, const int64_t *t, const NB_T *w, int64_t ignore,
                             const double *scale, NB_T *dx)
{
    for (int64_t k = 0; k < N * C * D; k++)
        dx[k] = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t d = 0; d < D; d++) {
            int64_t i = n * D + d, c = t[i];
            if (c != ignore)
                dx[(n * C + c) * D + d] = (NB_T)(-(w ? (double)w[c] : 1.0) * scale[i]);
        }
}
#endif

#if !NB__KV_AVX2
static void KN(ce_prob_forward)(int64_t N, int64_t C, int64_t D, const NB_T *x, const NB_T *p, double eps,
                                double *loss, double *lse)
{
    int nt = nb__threads_for(N * C * D * 8);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t i = 0; i < N * D; i++) {
        int64_t base = (i / D) * C * D + i % D;
        double mx = -INFINITY, s = 0, l = 0;
        for (int64_t c = 0; c < C; c++)
            mx = fmax(mx, (double)x[base + c * D]);
        for (int64_t c = 0; c < C; c++)
            s += exp((double)x[base + c * D] - mx);
        double ls = mx + log(s);
        for (int64_t c = 0; c < C; c++)
            l -= ((1 - eps) * (double)p[base + c * D] + eps / (double)C) * ((double)x[base + c * D] - ls);
        lse[i] = ls;
        loss[i] = l;
    }
}
#endif

#if !NB__KV_AVX2
static void KN(ce_prob_backward)(int64_t N, int64_t C, int64_t D, const NB_T *x, const NB_T *p, double eps,
                                 const double *lse, const double *scale, NB_T *dx, NB_T *dp)
{
    int nt = nb__threads_for(N * C * D * 8);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t i = 0; i < N * D; i++) {
        int64_t base = (i / D) * C * D + i % D;
        double sp = 0, s = scale[i];
        for (int64_t c = 0; c < C; c++)
            sp += (1 - eps) * (double)p[base + c * D] + eps / (double)C;
        for (int64_t c = 0; c < C; c++) {
            int64_t k = base + c * D;
            double lp = (double)x[k] - lse[i];
            if (dx)
                dx[k] = (NB_T)(s * (exp(lp) * sp - ((1 - eps) * (double)p[k] + eps / (double)C)));
            if (dp)
                dp[k] = (NB_T)(-s * (1 - eps) * lp);
        }
    }
}
#endif
