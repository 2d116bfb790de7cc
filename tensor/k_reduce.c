/* k_reduce.c — reduction and softmax kernels (see nb__k_reduce.h).
 *
 * A reduction is planned by splitting the input's dims into kept dims (in output order) and
 * reduced dims, dropping size-1 dims and coalescing neighbours whose strides allow. Two schemes:
 *   A (per output): each output walks the reduction space in row-major order, as runs along
 *     the innermost reduced dim (unit-stride runs are specialized so they vectorize);
 *   B (rows): when the innermost kept dim has unit stride and the reduced dims do not ([N, C]
 *     -> [C]), a block of consecutive outputs accumulates whole rows at once.
 * Both parallelize over outputs only, so results are independent of the thread count. */
#include "config.h"
#include "nb__k_reduce.h"

#include <tgmath.h>

/* OMP_FOR_NT before a loop over outputs: static schedule on `nt` threads (a variable in scope). */
#ifdef _OPENMP
#define OMP_FOR_NT _Pragma("omp parallel for num_threads(nt) if(nt > 1) schedule(static)")
#define SIMD _Pragma("omp simd")
#else
#define OMP_FOR_NT (void)nt;
#define SIMD _Pragma("GCC ivdep")
#endif
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Independent partial sums per run: a fixed combination order, whatever the thread count. */
#define LANES 8

/* ---- plan ----------------------------------------------------------------------------------- */
typedef struct {
    int nk, nr;
    int64_t ksh[NB_MAX_DIMS], kst[NB_MAX_DIMS]; /* kept dims (element strides of the input) */
    int64_t rsh[NB_MAX_DIMS], rst[NB_MAX_DIMS]; /* reduced dims */
    int64_t nout, nred;                        /* outputs, elements per output */
    int64_t rlen, rstep, nruns;                /* innermost reduced dim as runs */
} rplan;

static void plan_add(int *n, int64_t *sh, int64_t *st, int64_t size, int64_t stride)
{
    if (*n > 0 && st[*n - 1] == stride * size) {
        sh[*n - 1] *= size;
        st[*n - 1] = stride;
        return;
    }
    sh[*n] = size;
    st[*n] = stride;
    (*n)++;
}

static void plan_init(rplan *p, const nb_tensor *in, const bool *reduce)
{
    p->nk = p->nr = 0;
    for (int d = 0; d < in->ndim; d++) {
        if (in->shape[d] == 1)
            continue;
        if (reduce[d])
            plan_add(&p->nr, p->rsh, p->rst, in->shape[d], in->strides[d]);
        else
            plan_add(&p->nk, p->ksh, p->kst, in->shape[d], in->strides[d]);
    }
    p->nout = nb__numel(p->nk, p->ksh);
    p->nred = nb__numel(p->nr, p->rsh);
    p->rlen = p->nr ? p->rsh[p->nr - 1] : 1;
    p->rstep = p->nr ? p->rst[p->nr - 1] : 0;
    p->nruns = p->rlen ? p->nred / p->rlen : 0;
}

/* Threads for `work` operations spread over `units` independent outputs / blocks. */
static int threads_for(int64_t work, int64_t units)
{
    int nt = nb__threads_for(work);
    return units < nt ? (int)(units > 0 ? units : 1) : nt;
}

/* Input element offset of output o (row-major over the kept dims). */
static inline int64_t kept_offset(const rplan *p, int64_t o)
{
    int64_t off = 0;
    for (int d = p->nk - 1; d >= 0; d--) {
        off += (o % p->ksh[d]) * p->kst[d];
        o /= p->ksh[d];
    }
    return off;
}

/* Odometer over the reduced dims other than the innermost: `off` is the current run's offset. */
typedef struct {
    int64_t idx[NB_MAX_DIMS];
    int64_t off;
} run_it;

static inline void run_next(const rplan *p, run_it *it)
{
    for (int d = p->nr - 2; d >= 0; d--) {
        it->off += p->rst[d];
        if (++it->idx[d] < p->rsh[d])
            return;
        it->off -= p->rst[d] * p->rsh[d];
        it->idx[d] = 0;
    }
}

static inline bool nan_f(float v) { return isnan(v); }
static inline bool nan_d(double v) { return isnan(v); }
static inline bool nan_never(int64_t v)
{
    (void)v;
    return false;
}
#define IS_NAN(v) _Generic((v), float: nan_f, double: nan_d, default: nan_never)(v)

/* Maximum of n elements q[i*s] (NaN ignored; -inf for n == 0), in LANES partial maxima. */
#define MAX_RUN(E, T)                                                                                \
    static ALWAYS_INLINE T max_run_##T(const T *q, int64_t n, int64_t s)                             \
    {                                                                                                \
        T a[LANES], m = -INFINITY;                                                                   \
        for (int l = 0; l < LANES; l++)                                                              \
            a[l] = -INFINITY;                                                                        \
        int64_t i = 0;                                                                               \
        for (; i + LANES <= n; i += LANES)                                                           \
            SIMD for (int l = 0; l < LANES; l++) a[l] = q[(i + l) * s] > a[l] ? q[(i + l) * s] : a[l]; \
        for (int l = 0; l < LANES; l++)                                                              \
            m = a[l] > m ? a[l] : m;                                                                 \
        for (; i < n; i++)                                                                           \
            m = q[i * s] > m ? q[i * s] : m;                                                         \
        return m;                                                                                    \
    }
NB__FLOAT_TYPES(MAX_RUN)

/* ---- sum / mean ----------------------------------------------------------------------------- */
#define FIN_FLOAT(acc) ((acc) * scale)
#define FIN_INT(acc) (acc)
#define ROW_BLOCK 1024

/* Column block width for scheme B: wide (long contiguous row reads) but split enough to give
 * every thread work. Any width gives the same results. */
static int64_t row_block_width(int64_t cols, int64_t outer, int nt)
{
    int64_t want = (cols * outer + nt - 1) / nt / (outer ? outer : 1);
    want = (want + 15) / 16 * 16;
    return want < 16 ? 16 : want > ROW_BLOCK ? ROW_BLOCK : want;
}

#define SUM_KERNEL(E, T, ACC, OUTT, FIN)                                                             \
    /* Sum of n elements q[i*s] in LANES partial sums (s == 1 is inlined as a constant). */         \
    static ALWAYS_INLINE ACC sum_run_##T(const T *q, int64_t n, int64_t s)                           \
    {                                                                                                \
        ACC a[LANES] = {0}, tail = 0;                                                                \
        int64_t i = 0;                                                                               \
        for (; i + LANES <= n; i += LANES)                                                           \
            SIMD for (int l = 0; l < LANES; l++) a[l] += (ACC)q[(i + l) * s];                        \
        for (; i < n; i++)                                                                           \
            tail += (ACC)q[i * s];                                                                   \
        return (((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))) + tail;           \
    }                                                                                                \
    static ACC sum_all_##T(const rplan *p, const T *b)                                               \
    {                                                                                                \
        ACC acc = 0;                                                                                 \
        run_it it = {{0}, 0};                                                                        \
        for (int64_t r = 0; r < p->nruns; r++, run_next(p, &it))                                     \
            acc += p->rstep == 1 ? sum_run_##T(b + it.off, p->rlen, 1)                               \
                                 : sum_run_##T(b + it.off, p->rlen, p->rstep);                       \
        return acc;                                                                                  \
    }                                                                                                \
    /* Scheme B: outputs in blocks of consecutive columns, whole rows accumulated at once. The  \
     * block width only splits work: each column still adds its rows in order. */                  \
    static void sum_rows_##T(const rplan *p, const T *x, OUTT *out, double scale)                    \
    {                                                                                                \
        (void)scale;                                                                                 \
        int64_t cols = p->ksh[p->nk - 1];                                                            \
        int nt = threads_for(p->nout * p->nred, p->nout / cols * ((cols + 15) / 16));                \
        int64_t bw = row_block_width(cols, p->nout / cols, nt), nchunk = (cols + bw - 1) / bw;       \
        int64_t nblk = p->nout / cols * nchunk;                                                      \
        OMP_FOR_NT                                                                                   \
        for (int64_t blk = 0; blk < nblk; blk++) {                                                   \
            int64_t o0 = blk / nchunk * cols + blk % nchunk * bw;                                    \
            int64_t cw = cols - blk % nchunk * bw;                                                   \
            if (cw > bw)                                                                             \
                cw = bw;                                                                             \
            const T *b = x + kept_offset(p, o0);                                                     \
            ACC acc[ROW_BLOCK];                                                                      \
            for (int64_t j = 0; j < cw; j++)                                                         \
                acc[j] = 0;                                                                          \
            run_it it = {{0}, 0};                                                                    \
            for (int64_t r = 0; r < p->nruns; r++, run_next(p, &it))                                 \
                for (int64_t i = 0; i < p->rlen; i++) {                                              \
                    const T *row = b + it.off + i * p->rstep;                                        \
                    SIMD for (int64_t j = 0; j < cw; j++) acc[j] += (ACC)row[j];                     \
                }                                                                                    \
            for (int64_t j = 0; j < cw; j++)                                                         \
                out[o0 + j] = (OUTT)FIN(acc[j]);                                                     \
        }                                                                                            \
    }                                                                                                \
    static void sum_##T(const rplan *p, const T *x, OUTT *out, double scale)                         \
    {                                                                                                \
        (void)scale;                                                                                 \
        if (p->nk > 0 && p->kst[p->nk - 1] == 1 && p->rstep != 1 && p->nred > 1) {                  \
            sum_rows_##T(p, x, out, scale);                                                          \
            return;                                                                                  \
        }                                                                                            \
        int nt = threads_for(p->nout * p->nred, p->nout);                                            \
        OMP_FOR_NT                                                                                   \
        for (int64_t o = 0; o < p->nout; o++)                                                        \
            out[o] = (OUTT)FIN(sum_all_##T(p, x + kept_offset(p, o)));                               \
    }

#define SUM_FLOAT(E, T) SUM_KERNEL(E, T, double, T, FIN_FLOAT)
#define SUM_INT(E, T) SUM_KERNEL(E, T, int64_t, int64_t, FIN_INT)
NB__FLOAT_TYPES(SUM_FLOAT)
NB__INT_TYPES(SUM_INT)
SUM_INT(NB_BOOL, uint8_t)

void nb__k_sum(nb_tensor *out, const nb_tensor *in, const bool *reduce, double scale)
{
    rplan p;
    plan_init(&p, in, reduce);
    if (p.nout == 0)
        return;
    const void *x = nb_tensor_data(in);
    void *o = nb_tensor_data(out);
    switch (in->dtype) {
#define NB_X(E, T) case E: sum_##T(&p, x, o, scale); break;
        NB__ALL_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_sum: unsupported dtype %s", nb_dtype_name(in->dtype));
    }
    nb__bump_version(out);
}

/* ---- var / std / logsumexp (float, per output, two passes) ---------------------------------- */
#define VAR_LSE_KERNEL(E, T)                                                                         \
    /* Sum of (q[i*s] - mean)^2 in LANES partial sums. */                                            \
    static ALWAYS_INLINE double sqdev_run_##T(const T *q, int64_t n, int64_t s, double mean)         \
    {                                                                                                \
        double a[LANES] = {0}, tail = 0;                                                             \
        int64_t i = 0;                                                                               \
        for (; i + LANES <= n; i += LANES)                                                           \
            SIMD for (int l = 0; l < LANES; l++) a[l] += ((double)q[(i + l) * s] - mean) *           \
                                                         ((double)q[(i + l) * s] - mean);            \
        for (; i < n; i++)                                                                           \
            tail += ((double)q[i * s] - mean) * ((double)q[i * s] - mean);                           \
        return (((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))) + tail;           \
    }                                                                                                \
    static void var_##T(const rplan *p, const T *x, T *out, int correction, bool take_sqrt)          \
    {                                                                                                \
        double div = (double)p->nred - correction;                                                   \
        if (div < 0)                                                                                 \
            div = 0;                                                                                 \
        int nt = threads_for(2 * p->nout * p->nred, p->nout);                                        \
        OMP_FOR_NT                                                                                   \
        for (int64_t o = 0; o < p->nout; o++) {                                                      \
            const T *b = x + kept_offset(p, o);                                                      \
            double mean = sum_all_##T(p, b) / (double)p->nred, ss = 0;                               \
            run_it it = {{0}, 0};                                                                    \
            for (int64_t r = 0; r < p->nruns; r++, run_next(p, &it))                                 \
                ss += p->rstep == 1 ? sqdev_run_##T(b + it.off, p->rlen, 1, mean)                    \
                                    : sqdev_run_##T(b + it.off, p->rlen, p->rstep, mean);            \
            double v = ss / div;                                                                     \
            out[o] = (T)(take_sqrt ? sqrt(v) : v);                                                   \
        }                                                                                            \
    }                                                                                                \
    /* NaN needs no care: it reaches the result through exp(NaN - m). */                             \
    static void lse_##T(const rplan *p, const T *x, T *out)                                          \
    {                                                                                                \
        int nt = threads_for(8 * p->nout * p->nred, p->nout);                                        \
        OMP_FOR_NT                                                                                   \
        for (int64_t o = 0; o < p->nout; o++) {                                                      \
            const T *b = x + kept_offset(p, o);                                                      \
            T m = -INFINITY;                                                                         \
            run_it it = {{0}, 0};                                                                    \
            for (int64_t r = 0; r < p->nruns; r++, run_next(p, &it)) {                               \
                T rm = p->rstep == 1 ? max_run_##T(b + it.off, p->rlen, 1)                           \
                                     : max_run_##T(b + it.off, p->rlen, p->rstep);                   \
                m = rm > m ? rm : m;                                                                 \
            }                                                                                        \
            T shift = isinf(m) ? 0 : m;                                                              \
            double s = 0;                                                                            \
            it = (run_it){{0}, 0};                                                                   \
            for (int64_t r = 0; r < p->nruns; r++, run_next(p, &it))                                 \
                for (int64_t i = 0; i < p->rlen; i++)                                                \
                    s += (double)exp(b[it.off + i * p->rstep] - shift);                              \
            out[o] = (T)(log(s) + (double)shift);                                                    \
        }                                                                                            \
    }
NB__FLOAT_TYPES(VAR_LSE_KERNEL)

void nb__k_var(nb_tensor *out, const nb_tensor *in, const bool *reduce, int correction, bool take_sqrt)
{
    rplan p;
    plan_init(&p, in, reduce);
    if (p.nout == 0)
        return;
    switch (in->dtype) {
#define NB_X(E, T) case E: var_##T(&p, nb_tensor_data(in), nb_tensor_data(out), correction, take_sqrt); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_var: unsupported dtype %s", nb_dtype_name(in->dtype));
    }
    nb__bump_version(out);
}

void nb__k_logsumexp(nb_tensor *out, const nb_tensor *in, const bool *reduce)
{
    rplan p;
    plan_init(&p, in, reduce);
    if (p.nout == 0)
        return;
    switch (in->dtype) {
#define NB_X(E, T) case E: lse_##T(&p, nb_tensor_data(in), nb_tensor_data(out)); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_logsumexp: unsupported dtype %s", nb_dtype_name(in->dtype));
    }
    nb__bump_version(out);
}

/* ---- max / min / argmax / argmin ------------------------------------------------------------ */
#define MAXMIN_KERNEL(E, T)                                                                          \
    static void maxmin_##T(const rplan *p, const T *x, T *vals, int64_t *idx, bool is_max)           \
    {                                                                                                \
        int nt = threads_for(p->nout * p->nred, p->nout);                                            \
        OMP_FOR_NT                                                                                   \
        for (int64_t o = 0; o < p->nout; o++) {                                                      \
            const T *q = x + kept_offset(p, o);                                                      \
            T best = q[0];                                                                           \
            int64_t bi = 0;                                                                          \
            if (!IS_NAN(best))                                                                       \
                for (int64_t i = 1; i < p->rlen; i++) {                                              \
                    T v = q[i * p->rstep];                                                           \
                    if (IS_NAN(v)) {                                                                 \
                        best = v, bi = i;                                                            \
                        break;                                                                       \
                    }                                                                                \
                    if (is_max ? v > best : v < best)                                                \
                        best = v, bi = i;                                                            \
                }                                                                                    \
            if (vals)                                                                                \
                vals[o] = best;                                                                      \
            if (idx)                                                                                 \
                idx[o] = bi;                                                                         \
        }                                                                                            \
    }
NB__ALL_TYPES(MAXMIN_KERNEL)

void nb__k_maxmin(nb_tensor *vals, nb_tensor *idx, const nb_tensor *in, int dim, bool is_max)
{
    bool reduce[NB_MAX_DIMS] = {0};
    if (in->ndim)
        reduce[dim] = true;
    rplan p;
    plan_init(&p, in, reduce);
    if (p.nout == 0)
        return;
    if (p.nred == 0)
        nb__fail("nb_max: cannot reduce over an empty dim");
    void *v = vals ? nb_tensor_data(vals) : NULL;
    int64_t *ix = idx ? nb_tensor_data(idx) : NULL;
    switch (in->dtype) {
#define NB_X(E, T) case E: maxmin_##T(&p, nb_tensor_data(in), v, ix, is_max); break;
        NB__ALL_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_max: unsupported dtype %s", nb_dtype_name(in->dtype));
    }
    if (vals)
        nb__bump_version(vals);
    if (idx)
        nb__bump_version(idx);
}

/* ---- softmax / log-softmax ------------------------------------------------------------------ */
/* A contiguous tensor seen as [outer, size, inner] around dim. */
static void split_at(const nb_tensor *t, int dim, int64_t *outer, int64_t *size, int64_t *inner)
{
    *outer = *size = *inner = 1;
    if (t->ndim == 0)
        return;
    for (int d = 0; d < dim; d++)
        *outer *= t->shape[d];
    *size = t->shape[dim];
    for (int d = dim + 1; d < t->ndim; d++)
        *inner *= t->shape[d];
}

#define COL_BLOCK 64

#define SOFTMAX_KERNEL(E, T)                                                                         \
    /* A contiguous row of n (the hot case: softmax over the last dim). NaN propagates via exp. */   \
    static void softmax_row_##T(const T *x, T *y, int64_t n, bool lg)                                \
    {                                                                                                \
        T m = max_run_##T(x, n, 1);                                                                  \
        double sum = 0;                                                                              \
        if (lg) {                                                                                    \
            for (int64_t j = 0; j < n; j++)                                                          \
                sum += (double)exp(x[j] - m);                                                        \
            T ls = (T)log(sum);                                                                      \
            SIMD for (int64_t j = 0; j < n; j++) y[j] = (x[j] - m) - ls;                             \
        } else {                                                                                     \
            for (int64_t j = 0; j < n; j++) {                                                        \
                T e = exp(x[j] - m);                                                                 \
                y[j] = e;                                                                            \
                sum += (double)e;                                                                    \
            }                                                                                        \
            T inv = (T)(1.0 / sum);                                                                  \
            SIMD for (int64_t j = 0; j < n; j++) y[j] *= inv;                                        \
        }                                                                                            \
    }                                                                                                \
    /* cw (<= COL_BLOCK) neighbouring columns of a [size, inner] block, swept row by row. */         \
    static void softmax_cols_##T(const T *x, T *y, int64_t size, int64_t inner, int64_t cw, bool lg) \
    {                                                                                                \
        T m[COL_BLOCK], c[COL_BLOCK];                                                                \
        double sum[COL_BLOCK];                                                                       \
        for (int64_t j = 0; j < cw; j++)                                                             \
            m[j] = -INFINITY, sum[j] = 0;                                                            \
        for (int64_t r = 0; r < size; r++) {                                                         \
            const T *xr = x + r * inner;                                                             \
            SIMD for (int64_t j = 0; j < cw; j++) m[j] = xr[j] > m[j] ? xr[j] : m[j];                \
        }                                                                                            \
        for (int64_t r = 0; r < size; r++) {                                                         \
            const T *xr = x + r * inner;                                                             \
            T *yr = y + r * inner;                                                                   \
            for (int64_t j = 0; j < cw; j++) {                                                       \
                T e = exp(xr[j] - m[j]);                                                             \
                if (!lg)                                                                             \
                    yr[j] = e;                                                                       \
                sum[j] += (double)e;                                                                 \
            }                                                                                        \
        }                                                                                            \
        for (int64_t j = 0; j < cw; j++)                                                             \
            c[j] = lg ? (T)log(sum[j]) : (T)(1.0 / sum[j]);                                          \
        for (int64_t r = 0; r < size; r++) {                                                         \
            const T *xr = x + r * inner;                                                             \
            T *yr = y + r * inner;                                                                   \
            if (lg)                                                                                  \
                SIMD for (int64_t j = 0; j < cw; j++) yr[j] = (xr[j] - m[j]) - c[j];                 \
            else                                                                                     \
                SIMD for (int64_t j = 0; j < cw; j++) yr[j] *= c[j];                                 \
        }                                                                                            \
    }                                                                                                \
    /* Backward of a contiguous row: dot in double, then elementwise. */                             \
    static void softmax_bwd_row_##T(const T *g, const T *y, T *gi, int64_t n, bool lg)               \
    {                                                                                                \
        double acc = 0;                                                                              \
        for (int64_t j = 0; j < n; j++)                                                              \
            acc += lg ? (double)g[j] : (double)g[j] * (double)y[j];                                  \
        T a = (T)acc;                                                                                \
        if (lg)                                                                                      \
            for (int64_t j = 0; j < n; j++)                                                          \
                gi[j] = g[j] - exp(y[j]) * a;                                                        \
        else                                                                                         \
            SIMD for (int64_t j = 0; j < n; j++) gi[j] = y[j] * (g[j] - a);                          \
    }                                                                                                \
    static void softmax_bwd_cols_##T(const T *g, const T *y, T *gi, int64_t size, int64_t inner,     \
                                     int64_t cw, bool lg)                                            \
    {                                                                                                \
        double acc[COL_BLOCK];                                                                       \
        T a[COL_BLOCK];                                                                              \
        for (int64_t j = 0; j < cw; j++)                                                             \
            acc[j] = 0;                                                                              \
        for (int64_t r = 0; r < size; r++) {                                                         \
            const T *gr = g + r * inner, *yr = y + r * inner;                                        \
            SIMD for (int64_t j = 0; j < cw; j++) acc[j] += lg ? (double)gr[j]                       \
                                                                : (double)gr[j] * (double)yr[j];     \
        }                                                                                            \
        for (int64_t j = 0; j < cw; j++)                                                             \
            a[j] = (T)acc[j];                                                                        \
        for (int64_t r = 0; r < size; r++) {                                                         \
            const T *gr = g + r * inner, *yr = y + r * inner;                                        \
            T *go = gi + r * inner;                                                                  \
            for (int64_t j = 0; j < cw; j++)                                                         \
                go[j] = lg ? gr[j] - exp(yr[j]) * a[j] : yr[j] * (gr[j] - a[j]);                     \
        }                                                                                            \
    }                                                                                                \
    /* Over [outer, size, inner]: rows when inner == 1, else blocks of columns; parallel over   \
     * rows / blocks (each output written by one thread). Forward (g NULL): dst = softmax(src);   \
     * backward: dst = gradient from g and src = the forward output. */                            \
    static void softmax_##T(T *dst, const T *src, const T *g, int64_t outer, int64_t size,          \
                            int64_t inner, bool lg)                                                  \
    {                                                                                                \
        int64_t nchunk = (inner + COL_BLOCK - 1) / COL_BLOCK, nblk = outer * nchunk;                 \
        int nt = threads_for(8 * outer * size * inner, nblk);                                         \
        OMP_FOR_NT                                                                                   \
        for (int64_t blk = 0; blk < nblk; blk++) {                                                   \
            int64_t o = blk / nchunk, c0 = blk % nchunk * COL_BLOCK, off = o * size * inner + c0;    \
            int64_t cw = inner - c0 < COL_BLOCK ? inner - c0 : COL_BLOCK;                            \
            if (!g && inner == 1)                                                                    \
                softmax_row_##T(src + off, dst + off, size, lg);                                     \
            else if (!g)                                                                             \
                softmax_cols_##T(src + off, dst + off, size, inner, cw, lg);                         \
            else if (inner == 1)                                                                     \
                softmax_bwd_row_##T(g + off, src + off, dst + off, size, lg);                        \
            else                                                                                     \
                softmax_bwd_cols_##T(g + off, src + off, dst + off, size, inner, cw, lg);            \
        }                                                                                            \
    }
NB__FLOAT_TYPES(SOFTMAX_KERNEL)

void nb__k_softmax(nb_tensor *out, const nb_tensor *in, int dim, bool log)
{
    int scope = nb_scope_begin();
    const nb_tensor *x = nb_tensor_is_contiguous(in) ? in : nb__contiguous_copy(in);
    int64_t outer, size, inner;
    split_at(x, dim, &outer, &size, &inner);
    if (outer * size * inner > 0) {
        switch (in->dtype) {
#define NB_X(E, T) case E: softmax_##T(nb_tensor_data(out), nb_tensor_data(x), NULL, outer, size, inner, log); break;
            NB__FLOAT_TYPES(NB_X)
#undef NB_X
        default: nb__fail("nb_softmax: unsupported dtype %s", nb_dtype_name(in->dtype));
        }
    }
    nb_scope_end(scope);
    nb__bump_version(out);
}

void nb__k_softmax_backward(nb_tensor *gin, const nb_tensor *g, const nb_tensor *y, int dim, bool log)
{
    int64_t outer, size, inner;
    split_at(gin, dim, &outer, &size, &inner);
    if (outer * size * inner > 0) {
        switch (gin->dtype) {
#define NB_X(E, T) \
    case E: softmax_##T(nb_tensor_data(gin), nb_tensor_data(y), nb_tensor_data(g), outer, size, inner, log); break;
            NB__FLOAT_TYPES(NB_X)
#undef NB_X
        default: nb__fail("nb_softmax: unsupported dtype %s", nb_dtype_name(gin->dtype));
        }
    }
    nb__bump_version(gin);
}

/* ---- backward helpers ----------------------------------------------------------------------- */
#define SCATTER_KERNEL(E, T)                                                                         \
    static void scatter_##T(T *gi, const T *g, const int64_t *idx, int64_t outer, int64_t size,      \
                            int64_t inner)                                                           \
    {                                                                                                \
        for (int64_t o = 0; o < outer; o++)                                                          \
            for (int64_t i = 0; i < inner; i++)                                                      \
                gi[(o * size + idx[o * inner + i]) * inner + i] = g[o * inner + i];                  \
    }
NB__FLOAT_TYPES(SCATTER_KERNEL)

void nb__k_scatter_dim(nb_tensor *gin, const nb_tensor *g, const nb_tensor *idx, int dim)
{
    int64_t outer, size, inner;
    split_at(gin, dim, &outer, &size, &inner);
    if (outer * size * inner == 0)
        return;
    switch (gin->dtype) {
#define NB_X(E, T) \
    case E: scatter_##T(nb_tensor_data(gin), nb_tensor_data(g), nb_tensor_data(idx), outer, size, inner); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_max: unsupported gradient dtype %s", nb_dtype_name(gin->dtype));
    }
    nb__bump_version(gin);
}

#define RGRAD_KERNEL(E, T)                                                                           \
    static void rgrad_dev_##T(char **p, const int64_t *s, int64_t n, void *ctx)                      \
    {                                                                                                \
        double scale = *(const double *)ctx;                                                         \
        for (int64_t i = 0; i < n; i++) {                                                            \
            double x = *(const T *)(p[1] + i * s[1]), m = *(const T *)(p[2] + i * s[2]);             \
            *(T *)(p[0] + i * s[0]) = (T)((x - m) * (double)*(const T *)(p[3] + i * s[3]) * scale);  \
        }                                                                                            \
    }                                                                                                \
    static void rgrad_exp_##T(char **p, const int64_t *s, int64_t n, void *ctx)                      \
    {                                                                                                \
        (void)ctx;                                                                                   \
        for (int64_t i = 0; i < n; i++) {                                                            \
            double x = *(const T *)(p[1] + i * s[1]), r = *(const T *)(p[2] + i * s[2]);             \
            *(T *)(p[0] + i * s[0]) = (T)((double)*(const T *)(p[3] + i * s[3]) * exp(x - r));       \
        }                                                                                            \
    }
NB__FLOAT_TYPES(RGRAD_KERNEL)

void nb__k_reduce_grad(nb__rgrad_kind kind, nb_tensor *out, const nb_tensor *x, const nb_tensor *p,
                       const nb_tensor *q, double scale)
{
    nb__iter it;
    const nb_tensor *ins[3] = {x, p, q};
    nb__iter_init(&it, out, 3, ins);
    nb__loop_fn fn = NULL;
    switch (out->dtype) {
#define NB_X(E, T) case E: fn = kind == NB__RGRAD_DEV ? rgrad_dev_##T : rgrad_exp_##T; break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_var: unsupported gradient dtype %s", nb_dtype_name(out->dtype));
    }
    nb__iter_run(&it, fn, &scale);
    nb__bump_version(out);
}

#define SCALE_DIV_KERNEL(E, T)                                                                       \
    static void scale_div_##T(T *o, const T *a, const T *b, int64_t n, double scale)                 \
    {                                                                                                \
        for (int64_t i = 0; i < n; i++)                                                              \
            o[i] = (T)((double)a[i] * scale / (b ? (double)b[i] : 1.0));                             \
    }
NB__FLOAT_TYPES(SCALE_DIV_KERNEL)

void nb__k_scale_div(nb_tensor *out, const nb_tensor *a, const nb_tensor *b, double scale)
{
    int64_t n = nb_tensor_numel(out);
    switch (out->dtype) {
#define NB_X(E, T) \
    case E: scale_div_##T(nb_tensor_data(out), nb_tensor_data(a), b ? nb_tensor_data(b) : NULL, n, scale); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_mean: unsupported gradient dtype %s", nb_dtype_name(out->dtype));
    }
    nb__bump_version(out);
}
