/* k_scan_impl.h — the per-dtype bodies of tensor/k_scan.c, included once per dtype with
 *   NB_T (element type), NB_SFX (name suffix), NB_ACC (accumulator: double for floats, uint64_t
 *   for integers: wrapping), NB_IS_FLOAT (1 for float32/float64), NB_SCAN_ARITH (1 when the
 *   scans, products and linspace are instantiated).
 * No include guard: included several times on purpose. */

#define NB__CAT2(a, b) a##_##b
#define NB__CAT(a, b) NB__CAT2(a, b)
#define FN(name) NB__CAT(name, NB_SFX)

#if NB_IS_FLOAT
static inline bool FN(is_nan)(NB_T v) { return v != v; }
#else
static inline bool FN(is_nan)(NB_T v) { (void)v; return false; }
#endif

/* a sorts before b ascending: NaN above everything (NaNs are equal). */
static inline bool FN(less)(NB_T a, NB_T b)
{
    if (FN(is_nan)(a))
        return false;
    return FN(is_nan)(b) || a < b;
}

#if NB_SCAN_ARITH
static void FN(cumulative)(NB_T *y, const NB_T *x, nb__lines l, bool prod, bool reverse)
{
    int64_t nl = l.outer * l.inner;
    int nt = nb__threads_for(nl * l.n);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t line = 0; line < nl; line++) {
        int64_t base = line / l.inner * l.n * l.inner + line % l.inner;
        NB_ACC acc = (NB_ACC)(prod ? 1 : 0);
        for (int64_t k = 0; k < l.n; k++) {
            int64_t j = reverse ? l.n - 1 - k : k, p = base + j * l.inner;
            acc = prod ? acc * (NB_ACC)x[p] : acc + (NB_ACC)x[p];
            y[p] = (NB_T)acc;
        }
    }
}

static void FN(prod)(NB_T *out, const NB_T *x, nb__lines l)
{
    int64_t nl = l.outer * l.inner;
    int nt = nb__threads_for(nl * l.n);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t line = 0; line < nl; line++) {
        int64_t base = line / l.inner * l.n * l.inner + line % l.inner;
        NB_ACC acc = (NB_ACC)1;
        for (int64_t j = 0; j < l.n; j++)
            acc *= (NB_ACC)x[base + j * l.inner];
        out[line] = (NB_T)acc;
    }
}

static void FN(linspace)(NB_T *out, int64_t steps, double start, double end)
{
    if (steps == 1) {
        out[0] = (NB_T)start;
        return;
    }
#if NB_IS_FLOAT
    typedef NB_T step_t;
#else
    typedef double step_t;
#endif
    step_t s0 = (step_t)start, s1 = (step_t)end, step = (s1 - s0) / (step_t)(steps - 1);
    int64_t half = steps / 2;
    for (int64_t i = 0; i < steps; i++)
        out[i] = (NB_T)(i < half ? s0 + step * (step_t)i : s1 - step * (step_t)(steps - 1 - i));
}
#endif /* NB_SCAN_ARITH */

#if NB_IS_FLOAT
static void FN(cumprod_grad)(NB_T *gin, const NB_T *x, const NB_T *g, nb__lines l)
{
    int64_t nl = l.outer * l.inner;
    int nt = nb__threads_for(nl * l.n * 2);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t line = 0; line < nl; line++) {
        int64_t base = line / l.inner * l.n * l.inner + line % l.inner;
        double r = 0; /* R_i, stored into gin on the way down */
        for (int64_t i = l.n - 1; i >= 0; i--) {
            int64_t p = base + i * l.inner;
            r = i == l.n - 1 ? (double)g[p] : (double)g[p] + (double)x[p + l.inner] * r;
            gin[p] = (NB_T)r;
        }
        /* gin_i = P_{i-1} R_i (R_i read back from gin: rounded to NB_T once) */
        double prefix = 1;
        for (int64_t i = 0; i < l.n; i++) {
            int64_t p = base + i * l.inner;
            double ri = (double)gin[p];
            gin[p] = (NB_T)(prefix * ri);
            prefix *= (double)x[p];
        }
    }
}

static void FN(prod_grad)(NB_T *gin, const NB_T *x, const NB_T *g, nb__lines l)
{
    int64_t nl = l.outer * l.inner;
    int nt = nb__threads_for(nl * l.n * 2);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t line = 0; line < nl; line++) {
        int64_t base = line / l.inner * l.n * l.inner + line % l.inner;
        double suffix = 1;
        for (int64_t j = l.n - 1; j >= 0; j--) { /* gin_j = prod_{k > j} x_k first */
            int64_t p = base + j * l.inner;
            gin[p] = (NB_T)suffix;
            suffix *= (double)x[p];
        }
        double prefix = (double)g[line];
        for (int64_t j = 0; j < l.n; j++) {
            int64_t p = base + j * l.inner;
            gin[p] = (NB_T)(prefix * (double)gin[p]);
            prefix *= (double)x[p];
        }
    }
}

static void FN(norm)(NB_T *out, const NB_T *x, nb__lines l, double pn)
{
    int64_t nl = l.outer * l.inner;
    int nt = nb__threads_for(nl * l.n * 2);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t line = 0; line < nl; line++) {
        int64_t base = line / l.inner * l.n * l.inner + line % l.inner;
        double m = 0, s = 0;
        bool nan = false;
        for (int64_t j = 0; j < l.n; j++) {
            double a = fabs((double)x[base + j * l.inner]);
            nan |= a != a;
            m = a > m ? a : m;
            s += a;
        }
        if (pn == 2 && m > 0 && !isinf(m)) {
            s = 0;
            for (int64_t j = 0; j < l.n; j++) {
                double a = (double)x[base + j * l.inner] / m;
                s += a * a;
            }
            s = m * sqrt(s);
        } else if (pn == 2) {
            s = m; /* all zero, or an infinite element */
        } else if (isinf(pn)) {
            s = m;
        }
        out[line] = (NB_T)(nan ? NAN : s);
    }
}

static void FN(sgrad_loop)(char **ptrs, const int64_t *st, int64_t n, void *ctx)
{
    nb__sgrad_kind kind = *(const nb__sgrad_kind *)ctx;
    for (int64_t i = 0; i < n; i++) {
        NB_T x = *(const NB_T *)(ptrs[1] + i * st[1]), v = *(const NB_T *)(ptrs[2] + i * st[2]);
        NB_T q = *(const NB_T *)(ptrs[3] + i * st[3]), sg = (NB_T)((x > 0) - (x < 0)), r;
        switch (kind) {
        case NB__SGRAD_EQ: r = x == v ? q : 0; break;
        case NB__SGRAD_L1: r = sg * q; break;
        case NB__SGRAD_L2: r = v == 0 ? 0 : x * q / v; break;
        default: r = fabs(x) == v ? sg * q : 0; break;
        }
        *(NB_T *)(ptrs[0] + i * st[0]) = r;
    }
}
#endif /* NB_IS_FLOAT */

/* Stable merge sort of the positions ix[0..n) by the values v (buffers ix, tmp of n entries). */
static void FN(merge_sort)(const NB_T *v, int64_t *ix, int64_t *tmp, int64_t n, bool desc)
{
    for (int64_t w = 1; w < n; w *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * w) {
            int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int64_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) { /* take b only when strictly before a */
                bool before = desc ? FN(less)(v[ix[a]], v[ix[b]]) : FN(less)(v[ix[b]], v[ix[a]]);
                tmp[o++] = before ? ix[b++] : ix[a++];
            }
            while (a < mid)
                tmp[o++] = ix[a++];
            while (b < hi)
                tmp[o++] = ix[b++];
        }
        memcpy(ix, tmp, (size_t)n * sizeof *ix);
    }
}

static void FN(sort)(NB_T *vals, int64_t *idx, const NB_T *x, nb__lines l, int64_t k, bool desc)
{
    int64_t nl = l.outer * l.inner;
    int nt = nb__threads_for(nl * l.n * 8);
    if (nt > nl)
        nt = nl > 0 ? (int)nl : 1;
    size_t nb = (size_t)(l.n ? l.n : 1);
    int64_t chunk = (nl + nt - 1) / nt;
    NB__OMP_PARALLEL_FOR(nt)
    for (int c = 0; c < nt; c++) { /* one scratch per chunk of lines */
        NB_T *v = nb__alloc(nb * sizeof *v);
        int64_t *ix = nb__alloc(2 * nb * sizeof *ix);
        int64_t end = (c + 1) * chunk < nl ? (c + 1) * chunk : nl;
        for (int64_t line = c * chunk; line < end; line++) {
            int64_t o = line / l.inner, in = line % l.inner, base = o * l.n * l.inner + in;
            for (int64_t j = 0; j < l.n; j++) {
                v[j] = x[base + j * l.inner];
                ix[j] = j;
            }
            FN(merge_sort)(v, ix, ix + nb, l.n, desc);
            int64_t ob = o * k * l.inner + in;
            for (int64_t j = 0; j < k; j++) {
                if (vals)
                    vals[ob + j * l.inner] = v[ix[j]];
                if (idx)
                    idx[ob + j * l.inner] = ix[j];
            }
        }
        nb__free(ix, 2 * nb * sizeof *ix);
        nb__free(v, nb * sizeof *v);
    }
}

static void FN(any_all)(uint8_t *out, const NB_T *x, nb__lines l, bool all)
{
    int64_t nl = l.outer * l.inner;
    int nt = nb__threads_for(nl * l.n);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t line = 0; line < nl; line++) {
        int64_t base = line / l.inner * l.n * l.inner + line % l.inner;
        bool r = all;
        for (int64_t j = 0; j < l.n && r == all; j++)
            r = x[base + j * l.inner] != 0;
        out[line] = r;
    }
}

#undef FN
#undef NB__CAT
#undef NB__CAT2
