/* k_reduce.c — reduction and softmax kernels (see nb__k_reduce.h).
 *
 * A reduction is planned by splitting the input's dims into kept dims (in output order) and
 * reduced dims, dropping size-1 dims and coalescing neighbours whose strides allow. Two schemes:
 *   A (per output): each output walks the reduction space in row-major order, as runs along
 *     the innermost reduced dim (unit-stride runs are specialized so they vectorize);
 *   B (rows): when the innermost kept dim has unit stride and the reduced dims do not ([N, C]
 *     -> [C]), a block of consecutive outputs accumulates whole rows at once.
 * Both parallelize over outputs only, so results are independent of the thread count.
 * The kernels are written once in k_reduce_impl.h, included once per element type. */
#include "config.h"
#include "nb__k_reduce.h"
#include "nb__paste.h"

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

/* ---- sum / mean ----------------------------------------------------------------------------- */
#define FIN_FLOAT(acc) ((acc) * scale)
/* integer sums accumulate in uint64_t: they wrap as PyTorch's int64 sums do, where signed
 * overflow would be undefined */
#define FIN_INT(acc) ((int64_t)(acc))
#define ROW_BLOCK 1024

/* Column block width for scheme B: wide (long contiguous row reads) but split enough to give
 * every thread work. Any width gives the same results. */
static int64_t row_block_width(int64_t cols, int64_t outer, int nt)
{
    int64_t want = (cols * outer + nt - 1) / nt / (outer ? outer : 1);
    want = (want + 15) / 16 * 16;
    return want < 16 ? 16 : want > ROW_BLOCK ? ROW_BLOCK : want;
}

/* softmax: a contiguous tensor seen as [outer, size, inner] around dim. */
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

/* ---- the kernels, written once per type (k_reduce_impl.h) ----------------------------------- */
#define NB_T float
#define NB_ACC double
#define NB_OUT float
#define NB_FIN FIN_FLOAT
#define NB_FLOAT 1
#include "k_reduce_impl.h"
#define NB_T double
#define NB_ACC double
#define NB_OUT double
#define NB_FIN FIN_FLOAT
#define NB_FLOAT 1
#include "k_reduce_impl.h"
#define NB_T int32_t
#define NB_ACC uint64_t
#define NB_OUT int64_t
#define NB_FIN FIN_INT
#include "k_reduce_impl.h"
#define NB_T int64_t
#define NB_ACC uint64_t
#define NB_OUT int64_t
#define NB_FIN FIN_INT
#include "k_reduce_impl.h"
#define NB_T uint8_t
#define NB_ACC uint64_t
#define NB_OUT int64_t
#define NB_FIN FIN_INT
#include "k_reduce_impl.h"

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
