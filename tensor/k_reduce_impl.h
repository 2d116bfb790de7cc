/* k_reduce_impl.h — the reduction kernels of k_reduce.c for one element type, included once per
 * type with
 *   NB_T     element type                NB_ACC  accumulator of sums (double; uint64_t for integers, wrapping)
 *   NB_OUT   element type of sums (NB_T; int64_t for integers)
 *   NB_FIN(acc)  a sum's final value (FIN_FLOAT: acc * scale; FIN_INT: acc)
 *   NB_FLOAT defined for float types: adds max_run, var / std / logsumexp, softmax and the
 *            backward helpers
 * defined; undefines them all. Defines sum_<T>, maxmin_<T> and (float) var_<T>, lse_<T>,
 * softmax_<T>, scatter_<T>, rgrad_dev_<T>, rgrad_exp_<T>, scale_div_<T>, with their helpers.
 * No include guard. */
#define NB_FN(name) NB__PASTE3(name, _, NB_T)

#ifdef NB_FLOAT
/* Maximum of n elements q[i*s] (NaN ignored; -inf for n == 0), in LANES partial maxima. */
static ALWAYS_INLINE NB_T NB_FN(max_run)(const NB_T *q, int64_t n, int64_t s)
{
    NB_T a[LANES], m = -INFINITY;
    for (int l = 0; l < LANES; l++)
        a[l] = -INFINITY;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        SIMD for (int l = 0; l < LANES; l++) a[l] = q[(i + l) * s] > a[l] ? q[(i + l) * s] : a[l];
    for (int l = 0; l < LANES; l++)
        m = a[l] > m ? a[l] : m;
    for (; i < n; i++)
        m = q[i * s] > m ? q[i * s] : m;
    return m;
}
#endif

/* ---- sum / mean ------------------------------------------------------------------------- */
/* Sum of n elements q[i*s] in LANES partial sums (s == 1 is inlined as a constant). */
static ALWAYS_INLINE NB_ACC NB_FN(sum_run)(const NB_T *q, int64_t n, int64_t s)
{
    NB_ACC a[LANES] = {0}, tail = 0;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        SIMD for (int l = 0; l < LANES; l++) a[l] += (NB_ACC)q[(i + l) * s];
    for (; i < n; i++)
        tail += (NB_ACC)q[i * s];
    return (((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))) + tail;
}
static NB_ACC NB_FN(sum_all)(const rplan *p, const NB_T *b)
{
    NB_ACC acc = 0;
    run_it it = {{0}, 0};
    for (int64_t r = 0; r < p->nruns; r++, run_next(p, &it))
        acc += p->rstep == 1 ? NB_FN(sum_run)(b + it.off, p->rlen, 1)
                             : NB_FN(sum_run)(b + it.off, p->rlen, p->rstep);
    return acc;
}
/* Scheme B: outputs in blocks of consecutive columns, whole rows accumulated at once. The
 * block width only splits work: each column still adds its rows in order. */
static void NB_FN(sum_rows)(const rplan *p, const NB_T *x, NB_OUT *out, double scale)
{
    (void)scale;
    int64_t cols = p->ksh[p->nk - 1];
    int nt = threads_for(p->nout * p->nred, p->nout / cols * ((cols + 15) / 16));
    int64_t bw = row_block_width(cols, p->nout / cols, nt), nchunk = (cols + bw - 1) / bw;
    int64_t nblk = p->nout / cols * nchunk;
    OMP_FOR_NT
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t o0 = blk / nchunk * cols + blk % nchunk * bw;
        int64_t cw = cols - blk % nchunk * bw;
        if (cw > bw)
            cw = bw;
        const NB_T *b = x + kept_offset(p, o0);
        NB_ACC acc[ROW_BLOCK];
        for (int64_t j = 0; j < cw; j++)
            acc[j] = 0;
        run_it it = {{0}, 0};
        for (int64_t r = 0; r < p->nruns; r++, run_next(p, &it))
            for (int64_t i = 0; i < p->rlen; i++) {
                const NB_T *row = b + it.off + i * p->rstep;
                SIMD for (int64_t j = 0; j < cw; j++) acc[j] += (NB_ACC)row[j];
            }
        for (int64_t j = 0; j < cw; j++)
            out[o0 + j] = (NB_OUT)NB_FIN(acc[j]);
    }
}
static void NB_FN(sum)(const rplan *p, const NB_T *x, NB_OUT *out, double scale)
{
    (void)scale;
    if (p->nk > 0 && p->kst[p->nk - 1] == 1 && p->rstep != 1 && p->nred > 1) {
        NB_FN(sum_rows)(p, x, out, scale);
        return;
    }
    int nt = threads_for(p->nout * p->nred, p->nout);
    OMP_FOR_NT
    for (int64_t o = 0; o < p->nout; o++)
        out[o] = (NB_OUT)NB_FIN(NB_FN(sum_all)(p, x + kept_offset(p, o)));
}

/* ---- max / min / argmax / argmin -------------------------------------------------------- */
static void NB_FN(maxmin)(const rplan *p, const NB_T *x, NB_T *vals, int64_t *idx, bool is_max)
{
    int nt = threads_for(p->nout * p->nred, p->nout);
    OMP_FOR_NT
    for (int64_t o = 0; o < p->nout; o++) {
        const NB_T *q = x + kept_offset(p, o);
        NB_T best = q[0];
        int64_t bi = 0;
        if (!IS_NAN(best))
            for (int64_t i = 1; i < p->rlen; i++) {
                NB_T v = q[i * p->rstep];
                if (IS_NAN(v)) {
                    best = v, bi = i;
                    break;
                }
                if (is_max ? v > best : v < best)
                    best = v, bi = i;
            }
        if (vals)
            vals[o] = best;
        if (idx)
            idx[o] = bi;
    }
}

#ifdef NB_FLOAT
/* ---- var / std / logsumexp (float, per output, two passes) ------------------------------ */
/* Sum of (q[i*s] - mean)^2 in LANES partial sums. */
static ALWAYS_INLINE double NB_FN(sqdev_run)(const NB_T *q, int64_t n, int64_t s, double mean)
{
    double a[LANES] = {0}, tail = 0;
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        SIMD for (int l = 0; l < LANES; l++) a[l] += ((double)q[(i + l) * s] - mean) *
                                                     ((double)q[(i + l) * s] - mean);
    for (; i < n; i++)
        tail += ((double)q[i * s] - mean) * ((double)q[i * s] - mean);
    return (((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))) + tail;
}
static void NB_FN(var)(const rplan *p, const NB_T *x, NB_T *out, int correction, bool take_sqrt)
{
    double div = (double)p->nred - correction;
    if (div < 0)
        div = 0;
    int nt = threads_for(2 * p->nout * p->nred, p->nout);
    OMP_FOR_NT
    for (int64_t o = 0; o < p->nout; o++) {
        const NB_T *b = x + kept_offset(p, o);
        double mean = NB_FN(sum_all)(p, b) / (double)p->nred, ss = 0;
        run_it it = {{0}, 0};
        for (int64_t r = 0; r < p->nruns; r++, run_next(p, &it))
            ss += p->rstep == 1 ? NB_FN(sqdev_run)(b + it.off, p->rlen, 1, mean)
                                : NB_FN(sqdev_run)(b + it.off, p->rlen, p->rstep, mean);
        double v = ss / div;
        out[o] = (NB_T)(take_sqrt ? sqrt(v) : v);
    }
}
/* NaN needs no care: it reaches the result through exp(NaN - m). */
static void NB_FN(lse)(const rplan *p, const NB_T *x, NB_T *out)
{
    int nt = threads_for(8 * p->nout * p->nred, p->nout);
    OMP_FOR_NT
    for (int64_t o = 0; o < p->nout; o++) {
        const NB_T *b = x + kept_offset(p, o);
        NB_T m = -INFINITY;
        run_it it = {{0}, 0};
        for (int64_t r = 0; r < p->nruns; r++, run_next(p, &it)) {
            NB_T rm = p->rstep == 1 ? NB_FN(max_run)(b + it.off, p->rlen, 1)
                                 : NB_FN(max_run)(b + it.off, p->rlen, p->rstep);
            m = rm > m ? rm : m;
        }
        NB_T shift = isinf(m) ? 0 : m;
        double s = 0;
        it = (run_it){{0}, 0};
        for (int64_t r = 0; r < p->nruns; r++, run_next(p, &it))
            for (int64_t i = 0; i < p->rlen; i++)
                s += (double)exp(b[it.off + i * p->rstep] - shift);
        out[o] = (NB_T)(log(s) + (double)shift);
    }
}

/* ---- softmax / log-softmax -------------------------------------------------------------- */
/* A contiguous row of n (the hot case: softmax over the last dim). NaN propagates via exp. */
static void NB_FN(softmax_row)(const NB_T *x, NB_T *y, int64_t n, bool lg)
{
    NB_T m = NB_FN(max_run)(x, n, 1);
    double sum = 0;
    if (lg) {
        for (int64_t j = 0; j < n; j++)
            sum += (double)exp(x[j] - m);
        NB_T ls = (NB_T)log(sum);
        SIMD for (int64_t j = 0; j < n; j++) y[j] = (x[j] - m) - ls;
    } else {
        for (int64_t j = 0; j < n; j++) {
            NB_T e = exp(x[j] - m);
            y[j] = e;
            sum += (double)e;
        }
        NB_T inv = (NB_T)(1.0 / sum);
        SIMD for (int64_t j = 0; j < n; j++) y[j] *= inv;
    }
}
/* cw (<= COL_BLOCK) neighbouring columns of a [size, inner] block, swept row by row. */
static void NB_FN(softmax_cols)(const NB_T *x, NB_T *y, int64_t size, int64_t inner, int64_t cw,
                                bool lg)
{
    NB_T m[COL_BLOCK], c[COL_BLOCK];
    double sum[COL_BLOCK];
    for (int64_t j = 0; j < cw; j++)
        m[j] = -INFINITY, sum[j] = 0;
    for (int64_t r = 0; r < size; r++) {
        const NB_T *xr = x + r * inner;
        SIMD for (int64_t j = 0; j < cw; j++) m[j] = xr[j] > m[j] ? xr[j] : m[j];
    }
    for (int64_t r = 0; r < size; r++) {
        const NB_T *xr = x + r * inner;
        NB_T *yr = y + r * inner;
        for (int64_t j = 0; j < cw; j++) {
            NB_T e = exp(xr[j] - m[j]);
            if (!lg)
                yr[j] = e;
            sum[j] += (double)e;
        }
    }
    for (int64_t j = 0; j < cw; j++)
        c[j] = lg ? (NB_T)log(sum[j]) : (NB_T)(1.0 / sum[j]);
    for (int64_t r = 0; r < size; r++) {
        const NB_T *xr = x + r * inner;
        NB_T *yr = y + r * inner;
        if (lg)
            SIMD for (int64_t j = 0; j < cw; j++) yr[j] = (xr[j] - m[j]) - c[j];
        else
            SIMD for (int64_t j = 0; j < cw; j++) yr[j] *= c[j];
    }
}
/* Backward of a contiguous row: dot in double, then elementwise. */
static void NB_FN(softmax_bwd_row)(const NB_T *g, const NB_T *y, NB_T *gi, int64_t n, bool lg)
{
    double acc = 0;
    for (int64_t j = 0; j < n; j++)
        acc += lg ? (double)g[j] : (double)g[j] * (double)y[j];
    NB_T a = (NB_T)acc;
    if (lg)
        for (int64_t j = 0; j < n; j++)
            gi[j] = g[j] - exp(y[j]) * a;
    else
        SIMD for (int64_t j = 0; j < n; j++) gi[j] = y[j] * (g[j] - a);
}
static void NB_FN(softmax_bwd_cols)(const NB_T *g, const NB_T *y, NB_T *gi, int64_t size,
                                    int64_t inner, int64_t cw, bool lg)
{
    double acc[COL_BLOCK];
    NB_T a[COL_BLOCK];
    for (int64_t j = 0; j < cw; j++)
        acc[j] = 0;
    for (int64_t r = 0; r < size; r++) {
        const NB_T *gr = g + r * inner, *yr = y + r * inner;
        SIMD for (int64_t j = 0; j < cw; j++) acc[j] += lg ? (double)gr[j]
                                                            : (double)gr[j] * (double)yr[j];
    }
    for (int64_t j = 0; j < cw; j++)
        a[j] = (NB_T)acc[j];
    for (int64_t r = 0; r < size; r++) {
        const NB_T *gr = g + r * inner, *yr = y + r * inner;
        NB_T *go = gi + r * inner;
        for (int64_t j = 0; j < cw; j++)
            go[j] = lg ? gr[j] - exp(yr[j]) * a[j] : yr[j] * (gr[j] - a[j]);
    }
}
/* Over [outer, size, inner]: rows when inner == 1, else blocks of columns; parallel over
 * rows / blocks (each output written by one thread). Forward (g NULL): dst = softmax(src);
 * backward: dst = gradient from g and src = the forward output. */
static void NB_FN(softmax)(NB_T *dst, const NB_T *src, const NB_T *g, int64_t outer, int64_t size,
                           int64_t inner, bool lg)
{
    int64_t nchunk = (inner + COL_BLOCK - 1) / COL_BLOCK, nblk = outer * nchunk;
    int nt = threads_for(8 * outer * size * inner, nblk);
    OMP_FOR_NT
    for (int64_t blk = 0; blk < nblk; blk++) {
        int64_t o = blk / nchunk, c0 = blk % nchunk * COL_BLOCK, off = o * size * inner + c0;
        int64_t cw = inner - c0 < COL_BLOCK ? inner - c0 : COL_BLOCK;
        if (!g && inner == 1)
            NB_FN(softmax_row)(src + off, dst + off, size, lg);
        else if (!g)
            NB_FN(softmax_cols)(src + off, dst + off, size, inner, cw, lg);
        else if (inner == 1)
            NB_FN(softmax_bwd_row)(g + off, src + off, dst + off, size, lg);
        else
            NB_FN(softmax_bwd_cols)(g + off, src + off, dst + off, size, inner, cw, lg);
    }
}

/* ---- backward helpers ------------------------------------------------------------------- */
static void NB_FN(scatter)(NB_T *gi, const NB_T *g, const int64_t *idx, int64_t outer, int64_t size,
                           int64_t inner)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++)
            gi[(o * size + idx[o * inner + i]) * inner + i] = g[o * inner + i];
}
static void NB_FN(rgrad_dev)(char **p, const int64_t *s, int64_t n, void *ctx)
{
    double scale = *(const double *)ctx;
    for (int64_t i = 0; i < n; i++) {
        double x = *(const NB_T *)(p[1] + i * s[1]), m = *(const NB_T *)(p[2] + i * s[2]);
        *(NB_T *)(p[0] + i * s[0]) = (NB_T)((x - m) * (double)*(const NB_T *)(p[3] + i * s[3]) * scale);
    }
}
static void NB_FN(rgrad_exp)(char **p, const int64_t *s, int64_t n, void *ctx)
{
    (void)ctx;
    for (int64_t i = 0; i < n; i++) {
        double x = *(const NB_T *)(p[1] + i * s[1]), r = *(const NB_T *)(p[2] + i * s[2]);
        *(NB_T *)(p[0] + i * s[0]) = (NB_T)((double)*(const NB_T *)(p[3] + i * s[3]) * exp(x - r));
    }
}
static void NB_FN(scale_div)(NB_T *o, const NB_T *a, const NB_T *b, int64_t n, double scale)
{
    for (int64_t i = 0; i < n; i++)
        o[i] = (NB_T)((double)a[i] * scale / (b ? (double)b[i] : 1.0));
}
#endif

#undef NB_FN
#undef NB_T
#undef NB_ACC
#undef NB_OUT
#undef NB_FIN
#undef NB_FLOAT
