/* ops_scan.c — scans, products, amax/amin, norms, sorting and any/all: checks, the kernel call
 * (tensor/k_scan.c), the recorded node, and each backward formula right above its forward.
 * Ops along one dim view the input as lines [outer, n, inner] of a contiguous copy; reductions
 * over a dim list work on the lines [outer, nred, inner] when the reduced dims are adjacent, else
 * on a copy with them moved last. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__k_index.h"
#include "nb__k_reduce.h"
#include "nb__k_scan.h"

#include <math.h>

/* ---- helpers -------------------------------------------------------------------------------- */
/* t itself when contiguous, else a contiguous copy (scope-owned). */
static nb_tensor *contig(const nb_tensor *t)
{
    return nb_tensor_is_contiguous(t) ? (nb_tensor *)t : nb__contiguous_copy(t);
}

static nb_tensor *new_like_input(const nb__node *n, int i)
{
    return nb__tensor_new(n->inputs[i].dtype, n->inputs[i].shape, n->inputs[i].ndim);
}

/* Shape of t with dim d of size len (d < 0: t's shape). */
static void shape_with(const nb_tensor *t, int d, int64_t len, int64_t *sh)
{
    memcpy(sh, t->shape, sizeof t->shape);
    if (d >= 0 && t->ndim)
        sh[d] = len;
}

/* A dim list (nb__parse_dims, autograd/ops_reduce.c). */
typedef nb__red_dims red_dims;

/* The reduction as lines [outer, nred, inner] of a contiguous tensor whose output order is
 * (outer, inner) row-major: t itself (or its contiguous copy) when the reduced dims of size != 1
 * are adjacent, else a copy with the kept dims first and the reduced dims last (inner 1). */
static nb_tensor *reduce_lines(const nb_tensor *t, const red_dims *r, nb__lines *l)
{
    int first = -1, last = -1;
    for (int d = 0; d < t->ndim; d++)
        if (r->mask[d] && t->shape[d] != 1)
            last = d, first = first < 0 ? d : first;
    bool block = true;
    for (int d = first + 1; d < last; d++)
        block &= r->mask[d] || t->shape[d] == 1;
    if (block) {
        *l = (nb__lines){1, r->nred, 1};
        for (int d = 0; d < t->ndim && first >= 0; d++) {
            if (d < first)
                l->outer *= t->shape[d];
            else if (d > last)
                l->inner *= t->shape[d];
        }
        if (first < 0)
            l->outer = r->nout;
        return contig(t);
    }
    int64_t sh[NB_MAX_DIMS], st[NB_MAX_DIMS];
    int m = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int d = 0; d < t->ndim; d++)
            if (r->mask[d] == (pass == 1))
                sh[m] = t->shape[d], st[m++] = t->strides[d];
    *l = (nb__lines){r->nout, r->nred, 1};
    return nb__contiguous_copy(nb__tensor_view(t, t->ndim, sh, st, t->offset));
}

/* View of the contiguous t (a reduction's result or its gradient) with the input's ndim: the
 * reduced dims (bits) of size 1. */
static nb_tensor *keep_view(const nb_tensor *t, const nb__edge *e, int64_t bits)
{
    int64_t sh[NB_MAX_DIMS], st[NB_MAX_DIMS];
    for (int d = 0; d < e->ndim; d++)
        sh[d] = (bits >> d) & 1 ? 1 : e->shape[d];
    nb__contiguous_strides(e->ndim, sh, st);
    return nb__tensor_view(t, e->ndim, sh, st, t->offset);
}

/* How many elements of each reduced group satisfy `hit` (bool, input shape), in x's float dtype
 * with the reduced dims kept as size 1. */
static nb_tensor *count_hits(const nb_tensor *hit, int64_t bits, nb_dtype dt)
{
    int dims[NB_MAX_DIMS], nd = 0;
    for (int d = 0; d < hit->ndim; d++)
        if ((bits >> d) & 1)
            dims[nd++] = d;
    if (nd == 0) /* a 0-dim input: one element per group */
        return nb_to_dtype(hit, dt);
    return nb_to_dtype(nb_sum(hit, dims, nd, true), dt);
}

static bool is_int_like(nb_dtype dt) { return dt == NB_I32 || dt == NB_I64 || dt == NB_BOOL; }

/* ---- cumsum / cumprod ----------------------------------------------------------------------- */
/* cumsum: gin = reverse cumsum of g along dim. */
static void cumsum_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    int d = (int)n->iargs[0];
    gin[0] = new_like_input(n, 0);
    nb__k_cumulative(gin[0], contig(g), nb__lines_of(g->ndim, g->shape, d), false, true);
}
NB__DEFINE_OP(cumsum, cumsum_backward);

/* cumprod: gin_i = sum_{j >= i} g_j prod_{k <= j, k != i} x_k (exact with zeros; see the kernel). */
static void cumprod_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    int d = (int)n->iargs[0];
    nb_tensor *x = contig(nb__saved(n, 0));
    gin[0] = new_like_input(n, 0);
    nb__k_cumprod_grad(gin[0], x, contig(g), nb__lines_of(x->ndim, x->shape, d));
}
NB__DEFINE_OP(cumprod, cumprod_backward);

static nb_tensor *cumulative(const nb__op *op, const nb_tensor *t, int dim, bool prod)
{
    nb__check_compute(op->name, t);
    int d = nb__wrap_dim(op->name, dim, t->ndim);
    int scope = nb_scope_begin();
    nb_tensor *x = is_int_like(t->dtype) && t->dtype != NB_I64 ? nb__convert(t, NB_I64) : contig(t);
    nb_tensor *out = nb__tensor_new(x->dtype, t->shape, t->ndim);
    nb__k_cumulative(out, x, nb__lines_of(t->ndim, t->shape, d), prod, false);
    if (nb_dtype_is_float(t->dtype)) {
        nb__node *n = nb__record(op, out, 1, &t);
        if (n) {
            n->iargs[0] = d;
            if (prod)
                nb__save(n, t);
        }
    }
    return nb__scope_return(scope, out);
}

nb_tensor *nb_cumsum(const nb_tensor *t, int dim) { return cumulative(&nb__op_cumsum, t, dim, false); }
nb_tensor *nb_cumprod(const nb_tensor *t, int dim) { return cumulative(&nb__op_cumprod, t, dim, true); }

/* ---- prod ----------------------------------------------------------------------------------- */
/* gin_j = g * prod_{k != j} x_k along the reduced line (prefix/suffix products: zeros exact). */
static void prod_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = contig(nb__saved(n, 0));
    int d = (int)n->iargs[0];
    nb__lines l = d < 0 ? (nb__lines){1, nb__numel(x->ndim, x->shape), 1} : nb__lines_of(x->ndim, x->shape, d);
    gin[0] = new_like_input(n, 0);
    nb__k_prod_grad(gin[0], x, contig(g), l);
}
NB__DEFINE_OP(prod, prod_backward);

/* d < 0: over every element (0-dim result). */
static nb_tensor *prod_impl(const nb_tensor *t, int d, bool keepdim)
{
    nb__check_compute(d < 0 ? "nb_prod_all" : "nb_prod", t);
    int64_t sh[NB_MAX_DIMS];
    int nd = 0;
    for (int k = 0; k < t->ndim && d >= 0; k++)
        if (k != d || keepdim)
            sh[nd++] = k == d ? 1 : t->shape[k];
    int scope = nb_scope_begin();
    nb_tensor *x = is_int_like(t->dtype) && t->dtype != NB_I64 ? nb__convert(t, NB_I64) : contig(t);
    nb_tensor *out = nb__tensor_new(x->dtype, sh, nd);
    nb__lines l = d < 0 ? (nb__lines){1, nb__numel(t->ndim, t->shape), 1} : nb__lines_of(t->ndim, t->shape, d);
    nb__k_prod(out, x, l);
    if (nb_dtype_is_float(t->dtype)) {
        nb__node *n = NB__RECORD(prod, out, t);
        if (n) {
            n->iargs[0] = d;
            nb__save(n, t);
        }
    }
    return nb__scope_return(scope, out);
}

nb_tensor *nb_prod(const nb_tensor *t, int dim, bool keepdim)
{
    return prod_impl(t, nb__wrap_dim("nb_prod", dim, t->ndim), keepdim);
}

nb_tensor *nb_prod_all(const nb_tensor *t) { return prod_impl(t, -1, false); }

/* ---- amax / amin ---------------------------------------------------------------------------- */
/* gin = g / (ties in the group) where x equals the result, 0 elsewhere (ties share evenly). */
static void amaxmin_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *v = keep_view(nb__saved(n, 1), &n->inputs[0], n->iargs[0]);
    nb_tensor *cnt = count_hits(nb_compare(x, v, NB_CMP_EQ), n->iargs[0], x->dtype);
    nb_tensor *q = nb_div(keep_view(contig(g), &n->inputs[0], n->iargs[0]), cnt);
    gin[0] = new_like_input(n, 0);
    nb__k_select_grad(NB__SGRAD_EQ, gin[0], x, v, q);
}
NB__DEFINE_OP(amax, amaxmin_backward);
NB__DEFINE_OP(amin, amaxmin_backward);

static nb_tensor *amaxmin_impl(const nb__op *op, const nb_tensor *t, int ndims, const int *dims, bool keepdim,
                               bool is_max)
{
    red_dims r;
    nb__parse_dims(op->name, t, ndims, dims, keepdim, &r);
    if (r.nred == 0 && r.nout > 0)
        nb__fail("%s: cannot reduce over a dim of size 0 (shape %s): the operation has no identity", op->name,
                 NB__SHAPE(t));
    int scope = nb_scope_begin();
    nb_tensor *out = nb__tensor_new(t->dtype, r.out_shape, r.out_ndim);
    if (r.nout > 0) {
        nb__lines l;
        nb_tensor *x = reduce_lines(t, &r, &l);
        nb_tensor *x3 = nb__tensor_view(x, 3, (const int64_t[]){l.outer, l.n, l.inner},
                                        (const int64_t[]){l.n * l.inner, l.inner, 1}, x->offset);
        nb_tensor *o2 = nb__tensor_view(out, 2, (const int64_t[]){l.outer, l.inner}, (const int64_t[]){l.inner, 1}, 0);
        nb__k_maxmin(o2, NULL, x3, 1, is_max);
    }
    nb__node *n = nb__record(op, out, 1, &t);
    if (n) {
        n->iargs[0] = r.bits;
        nb__save(n, t);
        nb__save_output(n, out);
    }
    return nb__scope_return(scope, out);
}

nb_tensor *nb_amax(const nb_tensor *t, const int *dims, int ndims, bool keepdim)
{
    return amaxmin_impl(&nb__op_amax, t, ndims, dims, keepdim, true);
}

nb_tensor *nb_amin(const nb_tensor *t, const int *dims, int ndims, bool keepdim)
{
    return amaxmin_impl(&nb__op_amin, t, ndims, dims, keepdim, false);
}

/* ---- norm ----------------------------------------------------------------------------------- */
/* p = 1: sgn(x) g;  p = 2: x g / norm (0 where norm == 0);  p = inf: sgn(x) g / ties where
 * |x| == norm (as torch). */
static void norm_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *v = keep_view(nb__saved(n, 1), &n->inputs[0], n->iargs[0]);
    nb_tensor *q = keep_view(contig(g), &n->inputs[0], n->iargs[0]);
    double p = n->fargs[0];
    if (isinf(p))
        q = nb_div(q, count_hits(nb_compare(nb_abs(x), v, NB_CMP_EQ), n->iargs[0], x->dtype));
    gin[0] = new_like_input(n, 0);
    nb__k_select_grad(p == 1 ? NB__SGRAD_L1 : p == 2 ? NB__SGRAD_L2 : NB__SGRAD_LINF, gin[0], x, v, q);
}
NB__DEFINE_OP(norm, norm_backward);

nb_tensor *nb_norm(const nb_tensor *t, double p, const int *dims, int ndims, bool keepdim)
{
    nb__check_float("nb_norm", t);
    if (!(p == 1 || p == 2 || (isinf(p) && p > 0)))
        nb__fail("nb_norm: p must be 1, 2 or INFINITY, got %g", p);
    red_dims r;
    nb__parse_dims("nb_norm", t, ndims, dims, keepdim, &r);
    if (isinf(p) && r.nred == 0 && r.nout > 0)
        nb__fail("nb_norm: the inf-norm of a dim of size 0 is undefined (shape %s)", NB__SHAPE(t));
    int scope = nb_scope_begin();
    nb_tensor *out = nb__tensor_new(t->dtype, r.out_shape, r.out_ndim);
    nb__lines l;
    nb_tensor *x = reduce_lines(t, &r, &l);
    nb__k_norm(out, x, l, p);
    nb__node *n = NB__RECORD(norm, out, t);
    if (n) {
        n->iargs[0] = r.bits;
        n->fargs[0] = p;
        nb__save(n, t);
        nb__save_output(n, out);
    }
    return nb__scope_return(scope, out);
}

/* ---- sort / argsort / topk ------------------------------------------------------------------ */
/* values = x gathered at idx along dim  ⇒  gin = zeros with g scattered (added) back at idx. */
static void sort_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    gin[0] = nb_zeros(n->inputs[0].shape, n->inputs[0].ndim, n->inputs[0].dtype);
    nb__k_scatter_add(gin[0], (int)n->iargs[0], nb__saved(n, 0), contig(g));
}
NB__DEFINE_OP(sort, sort_backward);
NB__DEFINE_OP(topk, sort_backward);

/* The first k of each line sorted (ascending, or descending when desc) along d: values (unless
 * vals_out is NULL) and int64 positions. Records `op` when op is not NULL. */
static nb_tensor *sorted_impl(const nb__op *op, const nb_tensor *t, int d, int64_t k, bool desc, bool want_vals,
                              nb_tensor **indices)
{
    nb__check_compute(op ? op->name : "nb_argsort", t);
    int64_t sh[NB_MAX_DIMS];
    shape_with(t, d, k, sh);
    int scope = nb_scope_begin();
    nb_tensor *vals = want_vals ? nb__tensor_new(t->dtype, sh, t->ndim) : NULL;
    nb_tensor *idx = nb__tensor_new(NB_I64, sh, t->ndim);
    nb__k_sort(vals, idx, contig(t), nb__lines_of(t->ndim, t->shape, d), k, desc);
    if (!want_vals)
        return nb__scope_return(scope, idx);
    nb__node *n = nb__record(op, vals, 1, &t);
    if (n) {
        n->iargs[0] = d;
        nb__save(n, idx);
    }
    if (indices)
        nb_tensor_retain(idx); /* survives the scope; handed to the caller's scope below */
    vals = nb__scope_return(scope, vals);
    if (indices) {
        *indices = nb__new_ref(idx);
        nb_tensor_release(idx);
    }
    return vals;
}

nb_tensor *nb_sort(const nb_tensor *t, int dim, bool descending, nb_tensor **indices)
{
    int d = nb__wrap_dim("nb_sort", dim, t->ndim);
    return sorted_impl(&nb__op_sort, t, d, t->ndim ? t->shape[d] : 1, descending, true, indices);
}

nb_tensor *nb_argsort(const nb_tensor *t, int dim, bool descending)
{
    int d = nb__wrap_dim("nb_argsort", dim, t->ndim);
    return sorted_impl(NULL, t, d, t->ndim ? t->shape[d] : 1, descending, false, NULL);
}

nb_tensor *nb_topk(const nb_tensor *t, int64_t k, int dim, bool largest, bool sorted, nb_tensor **indices)
{
    (void)sorted; /* always sorted: torch leaves the order of sorted=false unspecified */
    int d = nb__wrap_dim("nb_topk", dim, t->ndim);
    int64_t size = t->ndim ? t->shape[d] : 1;
    if (k < 0 || k > size)
        nb__fail("nb_topk: k %lld out of range for dim %d of size %lld (shape %s)", (long long)k, d,
                 (long long)size, NB__SHAPE(t));
    return sorted_impl(&nb__op_topk, t, d, k, largest, true, indices);
}

/* ---- all / any ------------------------------------------------------------------------------ */
static nb_tensor *any_all_impl(const char *op, const nb_tensor *t, int ndims, const int *dims, bool keepdim,
                               bool all)
{
    nb__check_compute(op, t);
    red_dims r;
    nb__parse_dims(op, t, ndims, dims, keepdim, &r);
    int scope = nb_scope_begin();
    nb_tensor *out = nb__tensor_new(NB_BOOL, r.out_shape, r.out_ndim);
    nb__lines l;
    nb_tensor *x = reduce_lines(t, &r, &l);
    nb__k_any_all(out, x, l, all);
    return nb__scope_return(scope, out);
}

nb_tensor *nb_all(const nb_tensor *t, const int *dims, int ndims, bool keepdim)
{
    return any_all_impl("nb_all", t, ndims, dims, keepdim, true);
}

nb_tensor *nb_any(const nb_tensor *t, const int *dims, int ndims, bool keepdim)
{
    return any_all_impl("nb_any", t, ndims, dims, keepdim, false);
}
