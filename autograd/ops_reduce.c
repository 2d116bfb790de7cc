/* ops_reduce.c — reductions (sum, mean, var, std, logsumexp, max/min, argmax/argmin) and
 * softmax / log-softmax: checks, the kernel call, the recorded node, and each backward formula
 * right below its forward. Kernels live in tensor/k_reduce.c. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__k_reduce.h"

/* ---- dim lists ------------------------------------------------------------------------------ */
typedef nb__red_dims red_dims;

void nb__parse_dims(const char *op, const nb_tensor *t, int ndims, const int *dims, bool keepdim, nb__red_dims *r)
{
    nb__check_compute(op, t);
    memset(r, 0, sizeof *r);
    if (ndims < 0 || (ndims > 0 && !dims))
        nb__fail("%s: invalid dim list (%d dims%s)", op, ndims, dims ? "" : ", NULL array");
    bool seen[NB_MAX_DIMS] = {0};
    for (int i = 0; i < ndims; i++) {
        int d = nb__wrap_dim(op, dims[i], t->ndim);
        if (seen[d])
            nb__fail("%s: dim %d appears more than once in the dim list", op, d);
        seen[d] = true;
    }
    r->nout = r->nred = 1;
    for (int d = 0; d < t->ndim; d++) {
        r->mask[d] = ndims == 0 || seen[d];
        if (r->mask[d]) {
            r->bits |= (int64_t)1 << d;
            r->nred *= t->shape[d];
            if (keepdim)
                r->out_shape[r->out_ndim++] = 1;
        } else {
            r->nout *= t->shape[d];
            r->out_shape[r->out_ndim++] = t->shape[d];
        }
    }
}

static void mask_of(const nb__node *n, bool *mask)
{
    for (int d = 0; d < NB_MAX_DIMS; d++)
        mask[d] = (n->iargs[0] >> d) & 1;
}

/* Views the contiguous tensor t (the op's output shape) with the input's dims: reduced dims get
 * size 1 (full false, broadcastable) or the input's size with stride 0 (full true, expanded). */
static nb_tensor *back_view(const nb_tensor *t, const nb__node *n, bool full)
{
    const nb__edge *e = &n->inputs[0];
    int64_t sh[NB_MAX_DIMS], st[NB_MAX_DIMS], stride = 1;
    for (int d = e->ndim - 1; d >= 0; d--) {
        if ((n->iargs[0] >> d) & 1) {
            sh[d] = full ? e->shape[d] : 1;
            st[d] = 0;
        } else {
            sh[d] = e->shape[d];
            st[d] = stride;
            stride *= e->shape[d];
        }
    }
    return nb__tensor_view(t, e->ndim, sh, st, t->offset);
}

static nb_tensor *new_like_output(const nb__node *n)
{
    return nb__tensor_new(n->out_dtype, n->out_shape, n->out_ndim);
}

static nb_tensor *new_like_input(const nb__node *n)
{
    return nb__tensor_new(n->inputs[0].dtype, n->inputs[0].shape, n->inputs[0].ndim);
}

/* Elements reduced per output, from the recorded input shape. */
static int64_t reduced_count(const nb__node *n)
{
    int64_t c = 1;
    for (int d = 0; d < n->inputs[0].ndim; d++)
        if ((n->iargs[0] >> d) & 1)
            c *= n->inputs[0].shape[d];
    return c;
}

/* ---- sum / mean ----------------------------------------------------------------------------- */
static void sum_backward(nb__node *n, nb_tensor *g, nb_tensor **gin) { gin[0] = back_view(g, n, true); }
NB__DEFINE_OP(sum, sum_backward);

nb_tensor *nb_sum(const nb_tensor *t, const int *dims, int ndims, bool keepdim)
{
    red_dims r;
    nb__parse_dims("nb_sum", t, ndims, dims, keepdim, &r);
    nb_tensor *out = nb__tensor_new(nb_dtype_is_float(t->dtype) ? t->dtype : NB_I64, r.out_shape, r.out_ndim);
    nb__k_sum(out, t, r.mask, 1.0);
    nb__node *n = NB__RECORD(sum, out, t);
    if (n)
        n->iargs[0] = r.bits;
    return out;
}

static void mean_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *gs = new_like_output(n);
    nb__k_scale_div(gs, g, NULL, 1.0 / (double)reduced_count(n));
    gin[0] = back_view(gs, n, true);
}
NB__DEFINE_OP(mean, mean_backward);

nb_tensor *nb_mean(const nb_tensor *t, const int *dims, int ndims, bool keepdim)
{
    nb__check_float("nb_mean", t);
    red_dims r;
    nb__parse_dims("nb_mean", t, ndims, dims, keepdim, &r);
    nb_tensor *out = nb__tensor_new(t->dtype, r.out_shape, r.out_ndim);
    nb__k_sum(out, t, r.mask, 1.0 / (double)r.nred); /* nred == 0: 0 * inf = NaN, as PyTorch */
    nb__node *n = NB__RECORD(mean, out, t);
    if (n)
        n->iargs[0] = r.bits;
    return out;
}

/* ---- var / std ------------------------------------------------------------------------------ */
/* d var / dx = 2 (x - mean) g / (n - correction);  d std / dx = (x - mean) g / ((n - correction) std). */
static double var_divisor(const nb__node *n)
{
    double div = (double)reduced_count(n) - (double)n->iargs[1];
    return div > 0 ? div : 0;
}

static nb_tensor *saved_mean(nb__node *n, nb_tensor *x)
{
    bool mask[NB_MAX_DIMS];
    mask_of(n, mask);
    nb_tensor *m = new_like_output(n);
    nb__k_sum(m, x, mask, 1.0 / (double)reduced_count(n));
    return m;
}

static void var_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0);
    nb_tensor *m = saved_mean(n, x);
    gin[0] = new_like_input(n);
    nb__k_reduce_grad(NB__RGRAD_DEV, gin[0], x, back_view(m, n, false), back_view(g, n, false), 2.0 / var_divisor(n));
}
NB__DEFINE_OP(var, var_backward);

static void std_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *sd = nb__saved(n, 1);
    nb_tensor *m = saved_mean(n, x);
    nb_tensor *q = new_like_output(n);
    nb__k_scale_div(q, g, sd, 1.0); /* g / std */
    gin[0] = new_like_input(n);
    nb__k_reduce_grad(NB__RGRAD_DEV, gin[0], x, back_view(m, n, false), back_view(q, n, false), 1.0 / var_divisor(n));
}
NB__DEFINE_OP(std, std_backward);

static nb_tensor *var_impl(const nb__op *op, const nb_tensor *t, int ndims, const int *dims, int correction,
                           bool keepdim, bool take_sqrt)
{
    nb__check_float(op->name, t);
    red_dims r;
    nb__parse_dims(op->name, t, ndims, dims, keepdim, &r);
    nb_tensor *out = nb__tensor_new(t->dtype, r.out_shape, r.out_ndim);
    nb__k_var(out, t, r.mask, correction, take_sqrt);
    nb__node *n = nb__record(op, out, 1, &t);
    if (n) {
        n->iargs[0] = r.bits;
        n->iargs[1] = correction;
        nb__save(n, t);
        if (take_sqrt)
            nb__save_output(n, out);
    }
    return out;
}

nb_tensor *nb_var(const nb_tensor *t, const int *dims, int ndims, int correction, bool keepdim)
{
    return var_impl(&nb__op_var, t, ndims, dims, correction, keepdim, false);
}

nb_tensor *nb_std(const nb_tensor *t, const int *dims, int ndims, int correction, bool keepdim)
{
    return var_impl(&nb__op_std, t, ndims, dims, correction, keepdim, true);
}

/* ---- logsumexp ------------------------------------------------------------------------------ */
/* d/dx = g * exp(x - result). */
static void logsumexp_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *res = nb__saved(n, 1);
    gin[0] = new_like_input(n);
    nb__k_reduce_grad(NB__RGRAD_EXP, gin[0], x, back_view(res, n, false), back_view(g, n, false), 1.0);
}
NB__DEFINE_OP(logsumexp, logsumexp_backward);

nb_tensor *nb_logsumexp(const nb_tensor *t, const int *dims, int ndims, bool keepdim)
{
    nb__check_float("nb_logsumexp", t);
    red_dims r;
    nb__parse_dims("nb_logsumexp", t, ndims, dims, keepdim, &r);
    nb_tensor *out = nb__tensor_new(t->dtype, r.out_shape, r.out_ndim);
    nb__k_logsumexp(out, t, r.mask);
    nb__node *n = NB__RECORD(logsumexp, out, t);
    if (n) {
        n->iargs[0] = r.bits;
        nb__save(n, t);
        nb__save_output(n, out);
    }
    return out;
}

/* ---- max / min / argmax / argmin ------------------------------------------------------------ */
/* The gradient goes to the selected element: zeros with g scattered at the saved indices. */
static void maxmin_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *idx = nb__saved(n, 0);
    gin[0] = nb_zeros(n->inputs[0].shape, n->inputs[0].ndim, n->inputs[0].dtype);
    nb__k_scatter_dim(gin[0], g, idx, (int)n->iargs[1]);
}
NB__DEFINE_OP(max, maxmin_backward);
NB__DEFINE_OP(min, maxmin_backward);

/* Shared by the four: wraps dim, rejects an empty dim, computes the result shape. */
static void maxmin_prepare(const char *op, const nb_tensor *t, int dim, bool keepdim, int *d, int *nd,
                           int64_t *shape)
{
    nb__check_compute(op, t);
    *d = nb__wrap_dim(op, dim, t->ndim);
    if (t->ndim && t->shape[*d] == 0)
        nb__fail("%s: cannot reduce over dim %d of size 0 (shape %s): the operation has no identity", op, *d,
                 NB__SHAPE(t));
    *nd = 0;
    for (int k = 0; k < t->ndim; k++) {
        if (k != *d)
            shape[(*nd)++] = t->shape[k];
        else if (keepdim)
            shape[(*nd)++] = 1;
    }
}

static nb_tensor *maxmin_impl(const nb__op *op, const nb_tensor *t, int dim, bool keepdim, nb_tensor **indices,
                              bool is_max)
{
    int d, nd;
    int64_t shape[NB_MAX_DIMS];
    maxmin_prepare(op->name, t, dim, keepdim, &d, &nd, shape);
    nb_tensor *vals = nb__tensor_new(t->dtype, shape, nd);
    int scope = indices ? -1 : nb_scope_begin(); /* indices kept only by the node */
    nb_tensor *idx = nb__tensor_new(NB_I64, shape, nd);
    nb__k_maxmin(vals, idx, t, d, is_max);
    nb__node *n = nb__record(op, vals, 1, &t);
    if (n) {
        n->iargs[0] = t->ndim ? (int64_t)1 << d : 0;
        n->iargs[1] = d;
        nb__save(n, idx);
    }
    if (indices)
        *indices = idx;
    else
        nb_scope_end(scope);
    return vals;
}

nb_tensor *nb_max(const nb_tensor *t, int dim, bool keepdim, nb_tensor **indices)
{
    return maxmin_impl(&nb__op_max, t, dim, keepdim, indices, true);
}

nb_tensor *nb_min(const nb_tensor *t, int dim, bool keepdim, nb_tensor **indices)
{
    return maxmin_impl(&nb__op_min, t, dim, keepdim, indices, false);
}

static nb_tensor *arg_impl(const char *op, const nb_tensor *t, int dim, bool keepdim, bool is_max)
{
    nb__check_compute(op, t);
    int d, nd;
    int64_t shape[NB_MAX_DIMS];
    maxmin_prepare(op, t, dim, keepdim, &d, &nd, shape);
    nb_tensor *idx = nb__tensor_new(NB_I64, shape, nd);
    nb__k_maxmin(NULL, idx, t, d, is_max);
    return idx;
}

nb_tensor *nb_argmax(const nb_tensor *t, int dim, bool keepdim)
{
    return arg_impl("nb_argmax", t, dim, keepdim, true);
}

nb_tensor *nb_argmin(const nb_tensor *t, int dim, bool keepdim)
{
    return arg_impl("nb_argmin", t, dim, keepdim, false);
}

/* ---- softmax / log_softmax ------------------------------------------------------------------ */
/* softmax: gin = y * (g - sum(g * y));  log_softmax: gin = g - exp(y) * sum(g)  (sums along dim). */
static void softmax_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    gin[0] = new_like_input(n);
    nb__k_softmax_backward(gin[0], g, nb__saved(n, 0), (int)n->iargs[0], n->op->id == NB_OP_log_softmax);
}
NB__DEFINE_OP(softmax, softmax_backward);
NB__DEFINE_OP(log_softmax, softmax_backward);

static nb_tensor *softmax_impl(const nb__op *op, const nb_tensor *t, int dim, bool log)
{
    nb__check_float(op->name, t);
    int d = nb__wrap_dim(op->name, dim, t->ndim);
    nb_tensor *out = nb__tensor_new(t->dtype, t->shape, t->ndim);
    nb__k_softmax(out, t, d, log);
    nb__node *n = nb__record(op, out, 1, &t);
    if (n) {
        n->iargs[0] = d;
        nb__save_output(n, out);
    }
    return out;
}

nb_tensor *nb_softmax(const nb_tensor *t, int dim) { return softmax_impl(&nb__op_softmax, t, dim, false); }
nb_tensor *nb_log_softmax(const nb_tensor *t, int dim) { return softmax_impl(&nb__op_log_softmax, t, dim, true); }
