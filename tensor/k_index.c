/* k_index.c — indexing kernels: index_select / index_add along a dim, gather / scatter_add,
 * triangle masks, multinomial sampling. See nb__k_index.h for the contracts.
 *
 * The "position" technique: an op along dim d loops over the positions of the other dims with
 * the strided iterator (an alias of each operand with dim d removed) and, inside each run of
 * positions, over the indices along d. Pure copies move elements by size (any dtype); additions
 * are written once as a macro over T and instantiated per numeric dtype. */
#include "config.h"
#include "nb__k_index.h"
#include "nb__paste.h"

/* ---- helpers -------------------------------------------------------------------------------- */
/* Geometry-only aliases: stack copies of a tensor header that nb__iter_init reads. They are never
 * retained, released or registered in a scope, and never outlive the kernel call. */

/* t with its sizes replaced by `shape` (ndim entries, same ndim as t) and dim d removed; a 0-dim
 * t stays 0-dim. */
static nb_tensor alias_drop(const nb_tensor *t, const int64_t *shape, int d)
{
    nb_tensor a = *t;
    if (t->ndim == 0)
        return a;
    int m = 0;
    for (int k = 0; k < t->ndim; k++) {
        if (k == d)
            continue;
        a.shape[m] = shape[k];
        a.strides[m++] = t->strides[k];
    }
    a.ndim = m;
    return a;
}

/* Byte stride of t along dim d (0 for a 0-dim tensor). */
static int64_t byte_stride(const nb_tensor *t, int d)
{
    return t->ndim ? t->strides[d] * (int64_t)nb_dtype_size(t->dtype) : 0;
}

/* Copies n elements of es bytes between strided runs (memcpy of fixed size compiles to a move). */
static void copy_elems(char *dst, int64_t ds, const char *src, int64_t ss, int64_t n, size_t es)
{
    if (ds == (int64_t)es && ss == (int64_t)es) {
        memcpy(dst, src, (size_t)n * es);
        return;
    }
    switch (es) {
    case 8:
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + i * ds, src + i * ss, 8);
        break;
    case 4:
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + i * ds, src + i * ss, 4);
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            memcpy(dst + i * ds, src + i * ss, es);
        break;
    }
}

/* ---- index validation ----------------------------------------------------------------------- */
static int64_t load_index(nb_dtype dt, const char *p)
{
    if (dt == NB_I32) {
        int32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    int64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

void nb__k_index_check(const char *op, const nb_tensor *index, int dim, int64_t size)
{
    if (index->dtype != NB_I32 && index->dtype != NB_I64)
        nb__fail("%s: index tensor must be int32 or int64, got %s", op, nb_dtype_name(index->dtype));
    int64_t n = nb_tensor_numel(index);
    if (n == 0)
        return;
    /* serial row-major walk with an odometer over the raw strides */
    int nd = index->ndim;
    int64_t es = (int64_t)nb_dtype_size(index->dtype), idx[NB_MAX_DIMS] = {0};
    int64_t inner_n = nd ? index->shape[nd - 1] : 1, inner_s = nd ? index->strides[nd - 1] * es : 0;
    const char *base = (const char *)index->storage->data + index->offset * es;
    for (int64_t done = 0; done < n; done += inner_n) {
        const char *p = base;
        for (int k = 0; k < nd - 1; k++)
            p += idx[k] * index->strides[k] * es;
        for (int64_t i = 0; i < inner_n; i++) {
            int64_t v = load_index(index->dtype, p + i * inner_s);
            if (v < 0 || v >= size)
                nb__fail("%s: index %lld out of range for dim %d of size %lld", op, (long long)v, dim,
                         (long long)size);
        }
        for (int k = nd - 2; k >= 0; k--) {
            if (++idx[k] < index->shape[k])
                break;
            idx[k] = 0;
        }
    }
}

nb_tensor *nb__k_index_i64(const nb_tensor *index)
{
    if (index->dtype == NB_I64 && nb_tensor_is_contiguous(index))
        return nb__new_ref((nb_tensor *)index);
    return nb__convert(index, NB_I64);
}

/* ---- index_select --------------------------------------------------------------------------- */
typedef struct {
    const int64_t *idx;
    int64_t j0, j1; /* index range handled by this call */
    int64_t od, td; /* byte strides of out and t along d */
    size_t es;
} select_ctx;

/* p[0]: run of out positions, p[1]: the matching run of t positions. */
static void select_loop(char **p, const int64_t *s, int64_t n, void *vctx)
{
    const select_ctx *c = vctx;
    for (int64_t j = c->j0; j < c->j1; j++)
        copy_elems(p[0] + j * c->od, s[0], p[1] + c->idx[j] * c->td, s[1], n, c->es);
}

void nb__k_index_select(nb_tensor *out, const nb_tensor *t, int d, const int64_t *idx, int64_t nidx)
{
    int64_t numel = nb_tensor_numel(out);
    if (numel == 0)
        return;
    nb_tensor op = alias_drop(out, out->shape, d), tp = alias_drop(t, t->shape, d);
    const nb_tensor *in = &tp;
    nb__iter it;
    nb__iter_init(&it, &op, 1, &in);
    select_ctx c = {idx, 0, nidx, byte_stride(out, d), byte_stride(t, d), nb_dtype_size(t->dtype)};
    int nt = nb__threads_for(numel);
    if (nt <= 1 || nidx < nt) { /* few indices: the iterator splits the positions instead */
        nb__iter_run(&it, select_loop, &c);
    } else { /* split the indices: each thread writes its own slices of out */
        int64_t chunk = (nidx + nt - 1) / nt;
        NB__OMP_PARALLEL_FOR(nt)
        for (int w = 0; w < nt; w++) {
            select_ctx lc = c;
            lc.j0 = w * chunk;
            lc.j1 = lc.j0 + chunk < nidx ? lc.j0 + chunk : nidx;
            if (lc.j0 < lc.j1)
                nb__iter_run(&it, select_loop, &lc);
        }
    }
    nb__bump_version(out);
}

/* ---- index_add ------------------------------------------------------------------------------ */
typedef struct {
    const int64_t *idx;
    int64_t nidx;
    int64_t dd, sd; /* byte strides of dst and src along d */
} add_ctx;

/* index_add_<T> for each numeric type (k_index_add_impl.h). */
#define NB_T float
#include "k_index_add_impl.h"
#define NB_T double
#include "k_index_add_impl.h"
#define NB_T int32_t
#include "k_index_add_impl.h"
#define NB_T int64_t
#include "k_index_add_impl.h"

void nb__k_index_add(nb_tensor *dst, int d, const int64_t *idx, int64_t nidx, const nb_tensor *src)
{
    if (nb_tensor_numel(src) == 0)
        return;
    nb__loop_fn fn = NULL;
    switch (dst->dtype) {
#define NB_X(e, T) case e: fn = index_add_##T; break;
        NB__NUMERIC_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_index_add: unsupported dtype %s", nb_dtype_name(dst->dtype));
    }
    nb_tensor dp = alias_drop(dst, dst->shape, d), sp = alias_drop(src, src->shape, d);
    const nb_tensor *in = &sp;
    nb__iter it;
    nb__iter_init(&it, &dp, 1, &in);
    add_ctx c = {idx, nidx, byte_stride(dst, d), byte_stride(src, d)};
    nb__iter_run(&it, fn, &c); /* runs are disjoint sets of positions: no two threads share a row */
    nb__bump_version(dst);
}

/* ---- gather --------------------------------------------------------------------------------- */
typedef struct {
    int64_t td; /* byte stride of t along d */
    size_t es;
} gather_ctx;

/* p[0]: out, p[1]: int64 index, p[2]: t at the position with coordinate d = 0. */
static void gather_loop(char **p, const int64_t *s, int64_t n, void *vctx)
{
    const gather_ctx *c = vctx;
    for (int64_t i = 0; i < n; i++) {
        int64_t v;
        memcpy(&v, p[1] + i * s[1], sizeof v);
        copy_elems(p[0] + i * s[0], 0, p[2] + i * s[2] + v * c->td, 0, 1, c->es);
    }
}

void nb__k_gather(nb_tensor *out, const nb_tensor *t, int d, const nb_tensor *index)
{
    if (nb_tensor_numel(out) == 0)
        return;
    nb_tensor tv = *t; /* t's strides over index's sizes, coordinate d fixed at 0 */
    for (int k = 0; k < t->ndim; k++)
        tv.shape[k] = index->shape[k];
    if (t->ndim)
        tv.strides[d] = 0;
    const nb_tensor *ins[2] = {index, &tv};
    nb__iter it;
    nb__iter_init(&it, out, 2, ins);
    gather_ctx c = {byte_stride(t, d), nb_dtype_size(t->dtype)};
    nb__iter_run(&it, gather_loop, &c);
    nb__bump_version(out);
}

/* ---- scatter_add ---------------------------------------------------------------------------- */
typedef struct {
    int64_t k;          /* index size along d */
    int64_t dd, id, sd; /* byte strides along d of dst, index, src */
} scatter_ctx;

/* p[0]: dst, p[1]: index, p[2]: src, each at the position with coordinate d = 0. Distinct
 * positions hit distinct destination elements, so runs can go to any thread; within a position
 * the contributions are added in ascending coordinate d. */
#define NB__SCATTER_ADD(e, T)                                                                \
    static void scatter_add_##T(char **p, const int64_t *s, int64_t n, void *vctx)            \
    {                                                                                        \
        const scatter_ctx *c = vctx;                                                         \
        for (int64_t k = 0; k < c->k; k++)                                                   \
            for (int64_t i = 0; i < n; i++) {                                                \
                int64_t v;                                                                   \
                memcpy(&v, p[1] + i * s[1] + k * c->id, sizeof v);                           \
                *(T *)(p[0] + i * s[0] + v * c->dd) += *(const T *)(p[2] + i * s[2] + k * c->sd); \
            }                                                                                \
    }
NB__NUMERIC_TYPES(NB__SCATTER_ADD)
#undef NB__SCATTER_ADD

void nb__k_scatter_add(nb_tensor *dst, int d, const nb_tensor *index, const nb_tensor *src)
{
    if (nb_tensor_numel(index) == 0)
        return;
    nb__loop_fn fn = NULL;
    switch (dst->dtype) {
#define NB_X(e, T) case e: fn = scatter_add_##T; break;
        NB__NUMERIC_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_scatter_add: unsupported dtype %s", nb_dtype_name(dst->dtype));
    }
    nb_tensor dp = alias_drop(dst, index->shape, d), ip = alias_drop(index, index->shape, d),
              sp = alias_drop(src, index->shape, d);
    const nb_tensor *ins[2] = {&ip, &sp};
    nb__iter it;
    nb__iter_init(&it, &dp, 2, ins);
    scatter_ctx c = {index->ndim ? index->shape[d] : 1, byte_stride(dst, d), byte_stride(index, d),
                     byte_stride(src, d)};
    nb__iter_run(&it, fn, &c);
    nb__bump_version(dst);
}

/* ---- tril / triu ---------------------------------------------------------------------------- */
void nb__k_triangle(nb_tensor *out, const nb_tensor *t, int64_t k, bool upper)
{
    nb__copy_into(out, t);
    int nd = out->ndim;
    int64_t rows = out->shape[nd - 2], cols = out->shape[nd - 1];
    int64_t total_rows = (rows > 0 && cols > 0) ? nb_tensor_numel(out) / cols : 0;
    if (total_rows == 0)
        return;
    /* clamp k so that r + k cannot overflow; beyond +-(rows + cols) nothing changes */
    int64_t lim = rows + cols;
    k = k < -lim ? -lim : k > lim ? lim : k;
    size_t es = nb_dtype_size(out->dtype);
    char *base = nb_tensor_data(out);
    int nt = nb__threads_for(nb_tensor_numel(out));
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t q = 0; q < total_rows; q++) {
        int64_t r = q % rows, lo, hi; /* zero the columns [lo, hi) of this row */
        if (upper)
            lo = 0, hi = r + k; /* keep col >= r + k */
        else
            lo = r + k + 1, hi = cols; /* keep col <= r + k */
        lo = lo < 0 ? 0 : lo > cols ? cols : lo;
        hi = hi < 0 ? 0 : hi > cols ? cols : hi;
        if (lo < hi) /* all-zero bytes are 0 in every dtype */
            memset(base + (q * cols + lo) * (int64_t)es, 0, (size_t)(hi - lo) * es);
    }
}

/* ---- multinomial ---------------------------------------------------------------------------- */
/* First index i with cdf[i] > u (cdf non-decreasing), or n when none. */
static int64_t upper_bound(const double *cdf, int64_t n, double u)
{
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cdf[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void nb__k_multinomial(int64_t *out, const double *w, int64_t rows, int64_t n, int64_t ns, bool replacement,
                       nb_generator *gen)
{
    if (rows == 0 || ns == 0 || n == 0)
        return;
    double *buf = nb__alloc((size_t)n * sizeof *buf);
    for (int64_t r = 0; r < rows; r++) {
        const double *wr = w + r * n;
        int64_t *o = out + r * ns, last = 0;
        if (replacement) {
            double acc = 0;
            for (int64_t i = 0; i < n; i++) {
                acc += wr[i];
                buf[i] = acc;
                if (wr[i] > 0)
                    last = i;
            }
            for (int64_t s = 0; s < ns; s++) {
                int64_t i = upper_bound(buf, n, nb_generator_uniform(gen) * acc);
                o[s] = i < n ? i : last; /* u rounded up to the total: the last positive category */
            }
        } else {
            memcpy(buf, wr, (size_t)n * sizeof *buf);
            for (int64_t s = 0; s < ns; s++) {
                double total = 0;
                for (int64_t i = 0; i < n; i++)
                    total += buf[i];
                double u = nb_generator_uniform(gen) * total, acc = 0;
                int64_t pick = -1;
                for (int64_t i = 0; i < n; i++) {
                    if (buf[i] <= 0)
                        continue;
                    acc += buf[i];
                    pick = i;
                    if (u < acc)
                        break;
                }
                o[s] = pick; /* >= 0: the caller guarantees ns positive weights */
                buf[pick] = 0;
            }
        }
    }
    nb__free(buf, (size_t)n * sizeof *buf);
}
