/* functional_norm.c — fused RMSNorm, rotary embedding, GroupNorm and BatchNorm: shape checks,
 * kernel calls (tensor/k_norm.c), node recording, each backward formula right above its forward. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__k_norm.h"
#include "nb_nn.h"

#include <math.h>

/* t itself when contiguous, else a contiguous copy owned by the open scope; NULL stays NULL. */
static const nb_tensor *dense(const nb_tensor *t)
{
    return !t || nb_tensor_is_contiguous(t) ? t : nb__contiguous_copy(t);
}
static const void *data_or_null(const nb_tensor *t) { return t ? nb_tensor_data((nb_tensor *)t) : NULL; }
static void *out_or_null(nb_tensor *t) { return t ? nb_tensor_data(t) : NULL; }

/* Misuse unless p is NULL or a [C] tensor of x's dtype. */
static void check_channel_vec(const char *op, const char *what, const nb_tensor *p, const nb_tensor *x, int64_t C)
{
    if (!p)
        return;
    if (p->ndim != 1 || p->shape[0] != C)
        nb__fail("%s: %s of shape %s does not fit input of shape %s (expected [%lld])", op, what, NB__SHAPE(p),
                 NB__SHAPE(x), (long long)C);
    nb__check_same_dtype(op, x, p);
}

/* ---- rms_norm ------------------------------------------------------------------------------- */
/* saved: 0 x (contiguous), 1 rstd [N] f64, 2 weight (iargs[0] = has weight) */
static void rms_norm_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *rstd = nb__saved(n, 1);
    nb_tensor *w = n->iargs[0] ? nb__saved(n, 2) : NULL;
    int64_t N = rstd->shape[0], C = N ? nb_tensor_numel(x) / N : 0;
    nb_tensor *dx = nb__needs_grad(n, 0) ? nb_empty_like(x) : NULL;
    nb_tensor *dw = w && nb__needs_grad(n, 1) ? nb__tensor_new(w->dtype, w->shape, w->ndim) : NULL;
    if (dw && !N)
        nb__fill(dw, 0);
    if (N)
        nb__k_rms_norm_backward(x->dtype, N, C, nb_tensor_data(x), data_or_null(w), nb_tensor_data(rstd),
                                nb_tensor_data(g), out_or_null(dx), out_or_null(dw));
    gin[0] = dx, gin[1] = dw;
}
NB__DEFINE_OP(rms_norm, rms_norm_backward);

nb_tensor *nb_rms_norm(const nb_tensor *x, int normalized_ndim, const nb_tensor *weight, double eps)
{
    nb__check_float("nb_rms_norm", x);
    if (normalized_ndim < 1 || normalized_ndim > x->ndim)
        nb__fail("nb_rms_norm: normalized_ndim %d out of range for input of shape %s (1..%d)", normalized_ndim,
                 NB__SHAPE(x), x->ndim);
    if (!(eps >= 0))
        nb__fail("nb_rms_norm: eps must be >= 0, got %g", eps);
    const int64_t *nshape = x->shape + (x->ndim - normalized_ndim);
    if (weight) {
        nb__check_same_dtype("nb_rms_norm", x, weight);
        if (weight->ndim != normalized_ndim ||
            memcmp(weight->shape, nshape, (size_t)normalized_ndim * sizeof *nshape) != 0)
            nb__fail("nb_rms_norm: weight of shape %s does not fit the last %d dim(s) of input of shape %s",
                     NB__SHAPE(weight), normalized_ndim, NB__SHAPE(x));
    }
    int64_t C = nb__numel(normalized_ndim, nshape), N = nb__numel(x->ndim - normalized_ndim, x->shape);
    if (!C)
        N = 0;
    int scope = nb_scope_begin();
    const nb_tensor *xc = dense(x), *wc = dense(weight);
    nb_tensor *y = nb__tensor_new(x->dtype, x->shape, x->ndim);
    nb_tensor *rstd = nb_empty(NB_DIMS(N), NB_F64);
    if (N)
        nb__k_rms_norm_forward(x->dtype, N, C, data_or_null(xc), data_or_null(wc), eps, nb_tensor_data(y),
                               nb_tensor_data(rstd));
    nb__node *n = NB__RECORD(rms_norm, y, x, weight);
    if (n) {
        nb__save(n, xc);
        nb__save(n, rstd);
        n->iargs[0] = weight != NULL;
        if (weight)
            nb__save(n, wc);
    }
    return nb__scope_return(scope, y);
}

/* ---- rope ----------------------------------------------------------------------------------- */
/* The rotation is orthogonal: the gradient is g rotated back. iargs 0 offset; fargs 0 theta. */
static void rope_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    int nd = n->out_ndim;
    int64_t T = n->out_shape[nd - 2], D = n->out_shape[nd - 1], numel = nb__numel(nd, n->out_shape);
    nb_tensor *dx = nb__tensor_new(g->dtype, n->out_shape, nd);
    if (numel)
        nb__k_rope(g->dtype, numel / (T * D), T, D, n->iargs[0], n->fargs[0], true, nb_tensor_data(g),
                   nb_tensor_data(dx));
    gin[0] = dx;
}
NB__DEFINE_OP(rope, rope_backward);

nb_tensor *nb_rope(const nb_tensor *x, int64_t pos_offset, double theta)
{
    nb__check_float("nb_rope", x);
    if (x->ndim < 2)
        nb__fail("nb_rope: input must be [..., T, head_size], got shape %s", NB__SHAPE(x));
    int64_t T = x->shape[x->ndim - 2], D = x->shape[x->ndim - 1], numel = nb_tensor_numel(x);
    if (D % 2)
        nb__fail("nb_rope: head size %lld of input of shape %s is odd", (long long)D, NB__SHAPE(x));
    if (pos_offset < 0 || pos_offset > ((int64_t)1 << 40))
        nb__fail("nb_rope: position offset %lld out of range", (long long)pos_offset);
    if (!(theta > 0) || isinf(theta))
        nb__fail("nb_rope: theta must be positive and finite, got %g", theta);
    int scope = nb_scope_begin();
    const nb_tensor *xc = dense(x);
    nb_tensor *y = nb__tensor_new(x->dtype, x->shape, x->ndim);
    if (numel)
        nb__k_rope(x->dtype, numel / (T * D), T, D, pos_offset, theta, false, data_or_null(xc), nb_tensor_data(y));
    nb__node *n = NB__RECORD(rope, y, x);
    if (n)
        n->iargs[0] = pos_offset, n->fargs[0] = theta;
    return nb__scope_return(scope, y);
}

/* ---- group_norm ----------------------------------------------------------------------------- */
/* saved: 0 x (contiguous), 1 mean [N*G] f64, 2 rstd [N*G] f64, 3 weight (iargs[0] has weight);
 * iargs 1 groups */
static void group_norm_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *mean = nb__saved(n, 1), *rstd = nb__saved(n, 2);
    nb_tensor *w = n->iargs[0] ? nb__saved(n, 3) : NULL;
    int64_t N = x->shape[0], C = x->shape[1], numel = nb_tensor_numel(x), S = N * C != 0 ? numel / (N * C) : 0;
    nb_tensor *dx = nb__needs_grad(n, 0) ? nb_empty_like(x) : NULL;
    nb_tensor *dw = nb__needs_grad(n, 1) ? nb_zeros(NB_DIMS(C), x->dtype) : NULL;
    nb_tensor *db = nb__needs_grad(n, 2) ? nb_zeros(NB_DIMS(C), x->dtype) : NULL;
    if (numel)
        nb__k_group_norm_backward(x->dtype, N, C, S, n->iargs[1], nb_tensor_data(x), data_or_null(w),
                                  nb_tensor_data(mean), nb_tensor_data(rstd), nb_tensor_data(g), out_or_null(dx),
                                  out_or_null(dw), out_or_null(db));
    gin[0] = dx, gin[1] = dw, gin[2] = db;
}
NB__DEFINE_OP(group_norm, group_norm_backward);

nb_tensor *nb_group_norm(const nb_tensor *x, int64_t groups, const nb_tensor *weight, const nb_tensor *bias,
                         double eps)
{
    nb__check_float("nb_group_norm", x);
    if (x->ndim < 2)
        nb__fail("nb_group_norm: input must be [N, C, *], got shape %s", NB__SHAPE(x));
    int64_t N = x->shape[0], C = x->shape[1], numel = nb_tensor_numel(x);
    if (groups <= 0 || C % groups)
        nb__fail("nb_group_norm: %lld channels of input of shape %s do not split into %lld groups", (long long)C,
                 NB__SHAPE(x), (long long)groups);
    if (!(eps >= 0))
        nb__fail("nb_group_norm: eps must be >= 0, got %g", eps);
    check_channel_vec("nb_group_norm", "weight", weight, x, C);
    check_channel_vec("nb_group_norm", "bias", bias, x, C);
    int64_t S = numel ? numel / (N * C) : 0;
    int scope = nb_scope_begin();
    const nb_tensor *xc = dense(x), *wc = dense(weight), *bc = dense(bias);
    nb_tensor *y = nb__tensor_new(x->dtype, x->shape, x->ndim);
    nb_tensor *mean = nb_empty(NB_DIMS(N * groups), NB_F64), *rstd = nb_empty(NB_DIMS(N * groups), NB_F64);
    if (numel)
        nb__k_group_norm_forward(x->dtype, N, C, S, groups, data_or_null(xc), data_or_null(wc), data_or_null(bc),
                                 eps, nb_tensor_data(y), nb_tensor_data(mean), nb_tensor_data(rstd));
    nb__node *n = NB__RECORD(group_norm, y, x, weight, bias);
    if (n) {
        nb__save(n, xc);
        nb__save(n, mean);
        nb__save(n, rstd);
        n->iargs[0] = weight != NULL, n->iargs[1] = groups;
        if (weight)
            nb__save(n, wc);
    }
    return nb__scope_return(scope, y);
}

/* ---- batch_norm ----------------------------------------------------------------------------- */
/* saved: 0 x (contiguous), 1 mean [C] f64, 2 rstd [C] f64 (batch or running statistics),
 * 3 weight (iargs[0] has weight); iargs 1 training (the statistics depend on x) */
static void batch_norm_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *mean = nb__saved(n, 1), *rstd = nb__saved(n, 2);
    nb_tensor *w = n->iargs[0] ? nb__saved(n, 3) : NULL;
    int64_t N = x->shape[0], C = x->shape[1], numel = nb_tensor_numel(x), S = N * C != 0 ? numel / (N * C) : 0;
    nb_tensor *dx = nb__needs_grad(n, 0) ? nb_empty_like(x) : NULL;
    nb_tensor *dw = nb__needs_grad(n, 1) ? nb_zeros(NB_DIMS(C), x->dtype) : NULL;
    nb_tensor *db = nb__needs_grad(n, 2) ? nb_zeros(NB_DIMS(C), x->dtype) : NULL;
    if (numel)
        nb__k_batch_norm_backward(x->dtype, N, C, S, nb_tensor_data(x), data_or_null(w), nb_tensor_data(mean),
                                  nb_tensor_data(rstd), n->iargs[1], nb_tensor_data(g), out_or_null(dx),
                                  out_or_null(dw), out_or_null(db));
    gin[0] = dx, gin[1] = dw, gin[2] = db;
}
NB__DEFINE_OP(batch_norm, batch_norm_backward);

/* running = (1 - momentum) * running + momentum * v * scale, in place, for each of the C channels */
static void update_running(nb_tensor *running, const double *v, double scale, int64_t C, double momentum)
{
    for (int64_t c = 0; c < C; c++) {
        char *p = nb__elem_ptr(running, c);
        nb__store(running->dtype, p, (1 - momentum) * nb__load(running->dtype, p) + momentum * (v[c] * scale));
    }
    nb__bump_version(running);
}

nb_tensor *nb_batch_norm(const nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var,
                         const nb_tensor *weight, const nb_tensor *bias, bool training, double momentum, double eps)
{
    nb__check_float("nb_batch_norm", x);
    if (x->ndim < 2)
        nb__fail("nb_batch_norm: input must be [N, C, *], got shape %s", NB__SHAPE(x));
    int64_t N = x->shape[0], C = x->shape[1], numel = nb_tensor_numel(x), S = numel ? numel / (N * C) : 0;
    check_channel_vec("nb_batch_norm", "weight", weight, x, C);
    check_channel_vec("nb_batch_norm", "bias", bias, x, C);
    check_channel_vec("nb_batch_norm", "running_mean", running_mean, x, C);
    check_channel_vec("nb_batch_norm", "running_var", running_var, x, C);
    if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1))
        nb__fail("nb_batch_norm: eps must be >= 0 and momentum in [0, 1], got eps %g, momentum %g", eps, momentum);
    if (!training && (!running_mean || !running_var))
        nb__fail("nb_batch_norm: eval mode needs running_mean and running_var");
    if (training && numel && N * S < 2)
        nb__fail("nb_batch_norm: training needs more than 1 value per channel, got input of shape %s", NB__SHAPE(x));
    if (training && running_mean)
        nb__check_inplace("nb_batch_norm", running_mean);
    if (training && running_var)
        nb__check_inplace("nb_batch_norm", running_var);
    int scope = nb_scope_begin();
    const nb_tensor *xc = dense(x), *wc = dense(weight), *bc = dense(bias);
    nb_tensor *y = nb__tensor_new(x->dtype, x->shape, x->ndim);
    nb_tensor *mean = nb_empty(NB_DIMS(C), NB_F64), *rstd = nb_empty(NB_DIMS(C), NB_F64);
    double *mv = nb_tensor_data(mean), *rv = nb_tensor_data(rstd);
    if (training && numel) {
        nb__k_batch_norm_stats(x->dtype, N, C, S, data_or_null(xc), mv, rv); /* rv: biased variance */
        double cnt = (double)(N * S);
        if (running_mean)
            update_running(running_mean, mv, 1.0, C, momentum);
        if (running_var) /* the unbiased variance, as torch */
            update_running(running_var, rv, cnt / (cnt - 1), C, momentum);
        for (int64_t c = 0; c < C; c++)
            rv[c] = 1.0 / sqrt(rv[c] + eps);
    } else if (!training) {
        for (int64_t c = 0; c < C; c++) {
            mv[c] = nb__load(running_mean->dtype, nb__elem_ptr(running_mean, c));
            rv[c] = 1.0 / sqrt(nb__load(running_var->dtype, nb__elem_ptr(running_var, c)) + eps);
        }
    }
    if (numel)
        nb__k_batch_norm_apply(x->dtype, N, C, S, data_or_null(xc), mv, rv, data_or_null(wc), data_or_null(bc),
                               nb_tensor_data(y));
    nb__node *n = NB__RECORD(batch_norm, y, x, weight, bias);
    if (n) {
        nb__save(n, xc);
        nb__save(n, mean);
        nb__save(n, rstd);
        n->iargs[0] = weight != NULL, n->iargs[1] = training;
        if (weight)
            nb__save(n, wc);
    }
    return nb__scope_return(scope, y);
}
