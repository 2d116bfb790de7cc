/* functional_loss.c — fused losses (torch.nn.functional): mse, l1, smooth_l1, huber,
 * binary_cross_entropy_with_logits, kl_div (one shared pointwise form), nll_loss, and
 * nb_cross_entropy's extended cases (probability targets; [N, C, d1, ...] logits). Each backward
 * sits right above its forward; kernels in tensor/k_norm.c. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__functional_loss.h"
#include "nb__k_norm.h"
#include "nb_nn.h"

#include <math.h>

static const nb_tensor *dense(const nb_tensor *t)
{
    return !t || nb_tensor_is_contiguous(t) ? t : nb__contiguous_copy(t);
}
static const void *data_or_null(const nb_tensor *t) { return t ? nb_tensor_data((nb_tensor *)t) : NULL; }
static void *out_or_null(nb_tensor *t) { return t ? nb_tensor_data(t) : NULL; }

static void check_reduction(const char *op, nb_reduction red, bool batchmean_ok)
{
    if ((unsigned)red > NB_REDUCTION_NONE && !(batchmean_ok && red == NB_REDUCTION_BATCHMEAN))
        nb__fail("%s: invalid reduction %d", op, (int)red);
}

/* The loss tensor from element losses l[n]: shape (nd, shape) for 'none', else the 0-dim sum
 * (divided by denom for mean/batchmean). */
static nb_tensor *reduce_loss(const double *l, int64_t n, nb_reduction red, double denom, nb_dtype dt, int nd,
                              const int64_t *shape)
{
    if (red == NB_REDUCTION_NONE) {
        nb_tensor *out = nb__tensor_new(dt, shape, nd);
        for (int64_t i = 0; i < n; i++)
            nb__store(dt, nb__elem_ptr(out, i), l[i]);
        return out;
    }
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += l[i];
    return nb_scalar(red == NB_REDUCTION_SUM ? s : s / denom, dt);
}

/* The upstream gradient per element: g's values for 'none' (into s[n]), else g / denom (mean) or g. */
static void grad_scale(const nb_tensor *g, int red, double denom, int64_t n, double *s)
{
    double gs = red == NB_REDUCTION_NONE ? 0 : nb_tensor_item(g);
    if (red != NB_REDUCTION_NONE && red != NB_REDUCTION_SUM)
        gs /= denom;
    for (int64_t i = 0; i < n; i++)
        s[i] = red == NB_REDUCTION_NONE ? nb__load(g->dtype, nb__elem_ptr(g, i)) : gs;
}

/* ---- pointwise losses ----------------------------------------------------------------------- */
/* saved: 0 input, 1 target (contiguous), then weight and pos_weight broadcast to the input's shape
 * (iargs 2, 3: present). iargs 0 kind, 1 reduction; fargs 0 param, 1 denominator. */
static void pointwise_loss_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *t = nb__saved(n, 1);
    nb_tensor *w = n->iargs[2] ? nb__saved(n, 2) : NULL, *pw = n->iargs[3] ? nb__saved(n, 2 + (int)n->iargs[2]) : NULL;
    int64_t numel = nb_tensor_numel(x);
    bool none = n->iargs[1] == NB_REDUCTION_NONE;
    double gs = 0;
    if (!none)
        grad_scale(g, (int)n->iargs[1], n->fargs[1], 1, &gs);
    nb_tensor *d[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < 4; i++)
        if (nb__needs_grad(n, i))
            d[i] = nb_empty_like(x);
    nb__k_loss_backward(x->dtype, (nb__loss_kind)n->iargs[0], numel, nb_tensor_data(x), nb_tensor_data(t),
                        data_or_null(w), data_or_null(pw), n->fargs[0], none ? nb_tensor_data(g) : NULL, gs,
                        out_or_null(d[0]), out_or_null(d[1]), out_or_null(d[2]), out_or_null(d[3]));
    for (int i = 0; i < 4; i++)
        gin[i] = d[i] && i >= 2 ? nb__sum_to(d[i], n, i) : d[i];
}
NB__DEFINE_OP(mse_loss, pointwise_loss_backward);
NB__DEFINE_OP(l1_loss, pointwise_loss_backward);
NB__DEFINE_OP(smooth_l1_loss, pointwise_loss_backward);
NB__DEFINE_OP(huber_loss, pointwise_loss_backward);
NB__DEFINE_OP(binary_cross_entropy_with_logits, pointwise_loss_backward);
NB__DEFINE_OP(kl_div, pointwise_loss_backward);

/* p broadcast to x's shape, contiguous (no autograd: the op records p itself); NULL stays NULL. */
static const nb_tensor *broadcast_dense(const char *op, const char *what, const nb_tensor *p, const nb_tensor *x)
{
    if (!p)
        return NULL;
    nb__check_same_dtype(op, x, p);
    if (!nb__broadcastable_to(p->ndim, p->shape, x->ndim, x->shape))
        nb__fail("%s: %s of shape %s does not broadcast to input of shape %s", op, what, NB__SHAPE(p), NB__SHAPE(x));
    bool prev = nb_set_grad_enabled(false);
    nb_tensor *e = nb_expand(p, x->shape, x->ndim);
    nb_set_grad_enabled(prev);
    return nb__contiguous_copy(e);
}

static nb_tensor *pointwise_loss(const nb__op *op, nb__loss_kind kind, const nb_tensor *x, const nb_tensor *t,
                                 const nb_tensor *w, const nb_tensor *pw, double param, nb_reduction red)
{
    const char *name = op->name;
    nb__check_float(name, x);
    nb__check_same_dtype(name, x, t);
    if (x->ndim != t->ndim || memcmp(x->shape, t->shape, (size_t)x->ndim * sizeof *x->shape) != 0)
        nb__fail("%s: input of shape %s and target of shape %s differ", name, NB__SHAPE(x), NB__SHAPE(t));
    check_reduction(name, red, kind == NB__LOSS_KL_DIV || kind == NB__LOSS_KL_DIV_LOG);
    if (red == NB_REDUCTION_BATCHMEAN && x->ndim == 0)
        nb__fail("%s: reduction batchmean needs an input with a batch dim, got a 0-dim tensor", name);
    int64_t numel = nb_tensor_numel(x);
    double denom = red == NB_REDUCTION_BATCHMEAN ? (double)x->shape[0] : (double)numel;
    int scope = nb_scope_begin();
    const nb_tensor *xc = dense(x), *tc = dense(t);
    const nb_tensor *we = broadcast_dense(name, "weight", w, x), *pwe = broadcast_dense(name, "pos_weight", pw, x);
    size_t lsz = (size_t)(numel ? numel : 1) * sizeof(double);
    double *l = nb__alloc(lsz);
    nb__k_loss_forward(x->dtype, kind, numel, data_or_null(xc), data_or_null(tc), data_or_null(we),
                       data_or_null(pwe), param, l);
    nb_tensor *out = reduce_loss(l, numel, red, denom, x->dtype, x->ndim, x->shape);
    nb__free(l, lsz);
    nb__node *n = nb__record(op, out, 4, (const nb_tensor *[]){x, t, w, pw});
    if (n) {
        nb__save(n, xc);
        nb__save(n, tc);
        if (we)
            nb__save(n, we);
        if (pwe)
            nb__save(n, pwe);
        n->iargs[0] = kind, n->iargs[1] = red, n->iargs[2] = we != NULL, n->iargs[3] = pwe != NULL;
        n->fargs[0] = param, n->fargs[1] = denom;
    }
    return nb__scope_return(scope, out);
}

nb_tensor *nb_mse_loss(const nb_tensor *input, const nb_tensor *target, nb_reduction reduction)
{
    return pointwise_loss(&nb__op_mse_loss, NB__LOSS_MSE, input, target, NULL, NULL, 0, reduction);
}

nb_tensor *nb_l1_loss(const nb_tensor *input, const nb_tensor *target, nb_reduction reduction)
{
    return pointwise_loss(&nb__op_l1_loss, NB__LOSS_L1, input, target, NULL, NULL, 0, reduction);
}

nb_tensor *nb_smooth_l1_loss(const nb_tensor *input, const nb_tensor *target, nb_reduction reduction, double beta)
{
    if (!(beta >= 0) || isinf(beta))
        nb__fail("nb_smooth_l1_loss: beta must be >= 0 and finite, got %g", beta);
    return pointwise_loss(&nb__op_smooth_l1_loss, NB__LOSS_SMOOTH_L1, input, target, NULL, NULL, beta, reduction);
}

nb_tensor *nb_huber_loss(const nb_tensor *input, const nb_tensor *target, nb_reduction reduction, double delta)
{
    if (!(delta > 0) || isinf(delta))
        nb__fail("nb_huber_loss: delta must be > 0 and finite, got %g", delta);
    return pointwise_loss(&nb__op_huber_loss, NB__LOSS_HUBER, input, target, NULL, NULL, delta, reduction);
}

nb_tensor *nb_binary_cross_entropy_with_logits(const nb_tensor *input, const nb_tensor *target,
                                               const nb_tensor *weight, const nb_tensor *pos_weight,
                                               nb_reduction reduction)
{
    return pointwise_loss(&nb__op_binary_cross_entropy_with_logits, NB__LOSS_BCE_LOGITS, input, target, weight,
                          pos_weight, 0, reduction);
}

nb_tensor *nb_kl_div(const nb_tensor *input, const nb_tensor *target, nb_reduction reduction, bool log_target)
{
    return pointwise_loss(&nb__op_kl_div, log_target ? NB__LOSS_KL_DIV_LOG : NB__LOSS_KL_DIV, input, target, NULL,
                          NULL, 0, reduction);
}

/* ---- nll_loss ------------------------------------------------------------------------------- */
/* The input's [N, C, D] view: [C] is one item, [N, C, d1, ...] has D = d1 * ... */
static void ncd(const nb_tensor *x, int64_t *N, int64_t *C, int64_t *D)
{
    bool one = x->ndim == 1;
    *N = one ? 1 : x->shape[0];
    *C = x->shape[one ? 0 : 1];
    *D = one ? 1 : nb__numel(x->ndim - 2, x->shape + 2);
}

/* Misuse unless target (class indices) has the input's shape without the class dim. */
static void check_index_target(const char *op, const char *xname, const char *tname, const nb_tensor *x,
                               const nb_tensor *t)
{
    if (t->dtype != NB_I32 && t->dtype != NB_I64)
        nb__fail("%s: targets must be int32 or int64, got %s", op, nb_dtype_name(t->dtype));
    bool fits = x->ndim >= 1 && t->ndim == x->ndim - 1;
    for (int d = 0; fits && d < t->ndim; d++)
        fits = t->shape[d] == x->shape[d == 0 ? 0 : d + 1];
    if (!fits)
        nb__fail("%s: %s of shape %s and %s of shape %s do not fit (expected [N, C, d1, ...] and "
                 "[N, d1, ...], or [C] and [])", op, xname, NB__SHAPE(x), tname, NB__SHAPE(t));
}

/* saved: 0 target [N*D] int64, 1 weight [C] (iargs[5] has weight).
 * iargs 0 reduction, 1 ignore_index, 2 N, 3 C, 4 D; fargs 0 denominator (total weight) */
static void nll_loss_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *t = nb__saved(n, 0), *w = n->iargs[5] ? nb__saved(n, 1) : NULL;
    int64_t N = n->iargs[2], C = n->iargs[3], D = n->iargs[4], R = N * D;
    size_t ssz = (size_t)(R != 0 ? R : 1) * sizeof(double);
    double *s = nb__alloc(ssz);
    grad_scale(g, (int)n->iargs[0], n->fargs[0], R, s);
    nb_tensor *dx = nb__tensor_new(n->inputs[0].dtype, n->inputs[0].shape, n->inputs[0].ndim);
    nb__k_nll_backward(dx->dtype, N, C, D, nb_tensor_data(t), data_or_null(w), n->iargs[1], s, nb_tensor_data(dx));
    nb__free(s, ssz);
    gin[0] = dx;
}
NB__DEFINE_OP(nll_loss, nll_loss_backward);

nb_tensor *nb_nll_loss(const nb_tensor *input, const nb_tensor *target, const nb_tensor *weight,
                       nb_reduction reduction, int64_t ignore_index)
{
    nb__check_float("nb_nll_loss", input);
    check_index_target("nb_nll_loss", "input", "target", input, target);
    check_reduction("nb_nll_loss", reduction, false);
    int64_t N, C, D;
    ncd(input, &N, &C, &D);
    if (weight) {
        nb__check_same_dtype("nb_nll_loss", input, weight);
        if (weight->ndim != 1 || weight->shape[0] != C)
            nb__fail("nb_nll_loss: weight of shape %s does not fit %lld classes", NB__SHAPE(weight), (long long)C);
        if (weight->requires_grad && nb_is_grad_enabled())
            nb__fail("nb_nll_loss: weight gets no gradient; detach it (it requires grad)");
    }
    int scope = nb_scope_begin();
    const nb_tensor *xc = dense(input), *wc = dense(weight);
    nb_tensor *t = nb__convert(target, NB_I64);
    const int64_t *tv = nb_tensor_data(t);
    for (int64_t i = 0; i < N * D; i++)
        if (tv[i] != ignore_index && (tv[i] < 0 || tv[i] >= C))
            nb__fail("nb_nll_loss: target %lld out of range for %lld classes", (long long)tv[i], (long long)C);
    size_t lsz = (size_t)(N * D != 0 ? N * D : 1) * sizeof(double);
    double *l = nb__alloc(lsz), *ws = nb__alloc(lsz), total = 0;
    nb__k_nll_forward(input->dtype, N, C, D, data_or_null(xc), tv, data_or_null(wc), ignore_index, l, ws);
    for (int64_t i = 0; i < N * D; i++)
        total += ws[i];
    nb_tensor *out = reduce_loss(l, N * D, reduction, total, input->dtype, target->ndim, target->shape);
    nb__free(l, lsz);
    nb__free(ws, lsz);
    nb__node *n = NB__RECORD(nll_loss, out, input);
    if (n) {
        nb__save(n, t);
        if (wc)
            nb__save(n, wc);
        n->iargs[0] = reduction, n->iargs[1] = ignore_index, n->iargs[2] = N, n->iargs[3] = C, n->iargs[4] = D;
        n->iargs[5] = wc != NULL;
        n->fargs[0] = total;
    }
    return nb__scope_return(scope, out);
}

/* ---- cross-entropy with probability targets -------------------------------------------------- */
/* saved: 0 logits, 1 probabilities (contiguous), 2 lse [N*D] f64.
 * iargs 0 reduction, 1 N, 2 C, 3 D; fargs 0 label smoothing, 1 denominator (N*D) */
static void cross_entropy_prob_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *p = nb__saved(n, 1), *lse = nb__saved(n, 2);
    int64_t N = n->iargs[1], C = n->iargs[2], D = n->iargs[3], R = N * D;
    size_t ssz = (size_t)(R != 0 ? R : 1) * sizeof(double);
    double *s = nb__alloc(ssz);
    grad_scale(g, (int)n->iargs[0], n->fargs[1], R, s);
    nb_tensor *dx = nb__needs_grad(n, 0) ? nb_empty_like(x) : NULL;
    nb_tensor *dp = nb__needs_grad(n, 1) ? nb_empty_like(p) : NULL;
    nb__k_ce_prob_backward(x->dtype, N, C, D, nb_tensor_data(x), nb_tensor_data(p), n->fargs[0],
                           nb_tensor_data(lse), s, out_or_null(dx), out_or_null(dp));
    nb__free(s, ssz);
    gin[0] = dx, gin[1] = dp;
}
NB__DEFINE_OP(cross_entropy_prob, cross_entropy_prob_backward);

static nb_tensor *cross_entropy_prob(const nb_tensor *x, const nb_tensor *p, const nb_cross_entropy_opts *o)
{
    nb__check_same_dtype("nb_cross_entropy", x, p);
    if (x->ndim == 0 || x->ndim != p->ndim || memcmp(x->shape, p->shape, (size_t)x->ndim * sizeof *x->shape))
        nb__fail("nb_cross_entropy: targets must be int32 or int64, got %s, or probabilities of the logits' shape "
                 "%s, got shape %s", nb_dtype_name(p->dtype), NB__SHAPE(x), NB__SHAPE(p));
    int64_t N, C, D;
    ncd(x, &N, &C, &D);
    int scope = nb_scope_begin();
    const nb_tensor *xc = dense(x), *pc = dense(p);
    nb_tensor *lse = nb_empty(NB_DIMS(N * D), NB_F64);
    size_t lsz = (size_t)(N * D != 0 ? N * D : 1) * sizeof(double);
    double *l = nb__alloc(lsz);
    if (C)
        nb__k_ce_prob_forward(x->dtype, N, C, D, data_or_null(xc), data_or_null(pc), o->label_smoothing, l,
                              nb_tensor_data(lse));
    else
        for (int64_t i = 0; i < N * D; i++)
            l[i] = 0;
    int64_t oshape[NB_MAX_DIMS];
    int ond = x->ndim == 1 ? 0 : x->ndim - 1;
    for (int d = 0; d < ond; d++)
        oshape[d] = x->shape[d == 0 ? 0 : d + 1];
    nb_tensor *out = reduce_loss(l, N * D, o->reduction, (double)(N * D), x->dtype, ond, oshape);
    nb__free(l, lsz);
    nb__node *n = NB__RECORD(cross_entropy_prob, out, x, p);
    if (n) {
        nb__save(n, xc);
        nb__save(n, pc);
        nb__save(n, lse);
        n->iargs[0] = o->reduction, n->iargs[1] = N, n->iargs[2] = C, n->iargs[3] = D;
        n->fargs[0] = o->label_smoothing, n->fargs[1] = (double)(N * D);
    }
    return nb__scope_return(scope, out);
}

/* Class indices with logits [N, C, d1, ...]: the classes moved last, rows [N*d1*..., C] through the
 * fused [N, C] path, the 'none' result reshaped to the targets' shape. */
static nb_tensor *cross_entropy_spatial(const nb_tensor *x, const nb_tensor *t, const nb_cross_entropy_opts *o)
{
    check_index_target("nb_cross_entropy", "logits", "targets", x, t);
    int64_t N, C, D;
    ncd(x, &N, &C, &D);
    int perm[NB_MAX_DIMS];
    perm[0] = 0, perm[x->ndim - 1] = 1;
    for (int d = 2; d < x->ndim; d++)
        perm[d - 1] = d;
    int scope = nb_scope_begin();
    nb_tensor *rows = nb_reshape(nb_permute(x, perm), NB_DIMS(N * D, C));
    nb_tensor *out = nb_cross_entropy(rows, nb_reshape(t, NB_DIMS(N * D)), o);
    if (o->reduction == NB_REDUCTION_NONE)
        out = nb_reshape(out, t->shape, t->ndim);
    return nb__scope_return(scope, out);
}

bool nb__cross_entropy_ext(const nb_tensor *logits, const nb_tensor *targets, const nb_cross_entropy_opts *o,
                           nb_tensor **out)
{
    bool prob = nb_dtype_is_float(targets->dtype);
    if (!prob && logits->ndim <= 2)
        return false;
    nb__check_float("nb_cross_entropy", logits);
    if (!(o->label_smoothing >= 0 && o->label_smoothing <= 1))
        nb__fail("nb_cross_entropy: label_smoothing must be in [0, 1], got %g", o->label_smoothing);
    check_reduction("nb_cross_entropy", o->reduction, false);
    *out = prob ? cross_entropy_prob(logits, targets, o) : cross_entropy_spatial(logits, targets, o);
    return true;
}
