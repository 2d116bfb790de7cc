/* functional.c — fused nn ops (LayerNorm, cross-entropy, dropout): shape checks, kernel calls,
 * node recording, and each backward formula right below its forward. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__functional_loss.h"
#include "nb__k_gemm.h"
#include "nb__k_nn.h"
#include "nb_nn.h"

#include <math.h>
#include <stdlib.h>

/* ---- layer_norm ----------------------------------------------------------------------------- */
/* saved: 0 x (contiguous), 1 mean [N] f64, 2 rstd [N] f64, 3 weight (iargs[0] = has weight) */
static void layer_norm_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *mean = nb__saved(n, 1), *rstd = nb__saved(n, 2);
    nb_tensor *w = n->iargs[0] ? nb__saved(n, 3) : NULL;
    int64_t C = x->shape[x->ndim - 1], N = C ? nb_tensor_numel(x) / C : 0;
    nb_tensor *dx = nb__needs_grad(n, 0) ? nb_empty_like(x) : NULL;
    nb_tensor *dw = nb__needs_grad(n, 1) ? nb_empty(NB_DIMS(C), x->dtype) : NULL;
    nb_tensor *db = nb__needs_grad(n, 2) ? nb_empty(NB_DIMS(C), x->dtype) : NULL;
    nb__k_layer_norm_backward(x->dtype, N, C, nb_tensor_data(x), w ? nb_tensor_data(w) : NULL,
                              nb_tensor_data(mean), nb_tensor_data(rstd), nb_tensor_data(g),
                              dx ? nb_tensor_data(dx) : NULL, dw ? nb_tensor_data(dw) : NULL,
                              db ? nb_tensor_data(db) : NULL);
    gin[0] = dx, gin[1] = dw, gin[2] = db;
}
NB__DEFINE_OP(layer_norm, layer_norm_backward);

static void check_param_vec(const char *what, const nb_tensor *p, const nb_tensor *x, int64_t C)
{
    if (!p)
        return;
    if (p->ndim != 1 || p->shape[0] != C)
        nb__fail("nb_layer_norm: %s of shape %s does not fit input of shape %s (expected [%lld])", what,
                 NB__SHAPE(p), NB__SHAPE(x), (long long)C);
    nb__check_same_dtype("nb_layer_norm", x, p);
}

nb_tensor *nb_layer_norm(const nb_tensor *x, const nb_tensor *weight, const nb_tensor *bias, double eps)
{
    nb__check_float("nb_layer_norm", x);
    if (x->ndim == 0)
        nb__fail("nb_layer_norm: input must have at least 1 dim, got a 0-dim tensor");
    if (!(eps >= 0))
        nb__fail("nb_layer_norm: eps must be >= 0, got %g", eps);
    int64_t C = x->shape[x->ndim - 1];
    check_param_vec("weight", weight, x, C);
    check_param_vec("bias", bias, x, C);
    int scope = nb_scope_begin();
    nb_tensor *xc = nb_contiguous(x);
    nb_tensor *wc = weight ? nb_contiguous(weight) : NULL, *bc = bias ? nb_contiguous(bias) : NULL;
    int64_t N = C ? nb_tensor_numel(x) / C : 0;
    nb_tensor *y = nb__tensor_new(x->dtype, x->shape, x->ndim);
    nb_tensor *mean = nb_empty(NB_DIMS(N), NB_F64), *rstd = nb_empty(NB_DIMS(N), NB_F64);
    if (N && C)
        nb__k_layer_norm_forward(x->dtype, N, C, nb_tensor_data(xc), wc ? nb_tensor_data(wc) : NULL,
                                 bc ? nb_tensor_data(bc) : NULL, eps, nb_tensor_data(y), nb_tensor_data(mean),
                                 nb_tensor_data(rstd));
    nb__node *n = NB__RECORD(layer_norm, y, x, weight, bias);
    if (n) {
        nb__save(n, xc);
        nb__save(n, mean);
        nb__save(n, rstd);
        n->iargs[0] = weight != NULL;
        if (weight)
            nb__save(n, wc);
    }
    return nb__scope_return(scope, y);
}

/* ---- fused_linear --------------------------------------------------------------------------- */
/* How the GEMM kernel reads a weight [out, in]: *rowmajor when its in-dim has unit stride (or
 * size 1), else its out-dim; *ld the other stride. False when neither dim has unit stride. */
static bool weight_layout(const nb_tensor *w, bool *rowmajor, int64_t *ld)
{
    int64_t out = w->shape[0], in = w->shape[1];
    if (w->strides[1] == 1 || in <= 1) {
        *rowmajor = true;
        *ld = out <= 1 ? (in > 1 ? in : 1) : w->strides[0];
        return true;
    }
    if (w->strides[0] == 1 || out <= 1) {
        *rowmajor = false;
        *ld = in <= 1 ? (out > 1 ? out : 1) : w->strides[1];
        return true;
    }
    return false;
}

#define FUSED_LINEAR_TASKS 2.5e8

/* saved: 0 x contiguous, 1 weight (kernel-readable layout). With x as [R, in] and g as [R, out]:
 * dx = g W (one GEMM), dW = g^T x (one GEMM, straight into [out, in]), db = column sums of g. */
/* Task 0: dx = g W (into dx, when wanted); task 1: dW = g^T x (into dw, when wanted). */
static void fused_linear_grad(int task, nb__node *n, nb_tensor *g, nb_tensor *dx, nb_tensor *dw)
{
    nb_tensor *x = nb__saved(n, 0), *w = nb__saved(n, 1);
    int64_t out = w->shape[0], in = w->shape[1], R = nb__numel(x->ndim - 1, x->shape);
    bool rowmajor = true;
    int64_t ld = 0;
    weight_layout(w, &rowmajor, &ld);
    /* recorded under autocast: both products take bfloat16 operands, as the forward's */
    void (*gemm)(nb_dtype, bool, bool, int64_t, int64_t, int64_t, double, const void *, int64_t,
                 const int64_t *, const void *, int64_t, const int64_t *, double, void *, int64_t,
                 const int64_t *, int64_t) =
        n->autocast && x->dtype == NB_F32 ? nb__gemm_batched_bf16 : nb__gemm_batched;
    if (task == 0 && dx)
        gemm(x->dtype, false, !rowmajor, R, in, out, 1.0, nb_tensor_data(g), out, NULL, nb_tensor_data(w), ld,
             NULL, 0.0, nb_tensor_data(dx), in, NULL, 1);
    if (task == 1 && dw)
        gemm(x->dtype, true, false, out, in, R, 1.0, nb_tensor_data(g), out, NULL, nb_tensor_data(x), in, NULL,
             0.0, nb_tensor_data(dw), in, NULL, 1);
}

static void fused_linear_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *w = nb__saved(n, 1);
    int64_t out = w->shape[0], in = w->shape[1], R = nb__numel(x->ndim - 1, x->shape);
    nb_tensor *dx = nb__needs_grad(n, 0) ? nb__tensor_new(x->dtype, x->shape, x->ndim) : NULL;
    nb_tensor *dw = nb__needs_grad(n, 1) ? nb__tensor_new(w->dtype, w->shape, 2) : NULL;
    /* dx and dW are the same number of multiply-adds: below FUSED_LINEAR_TASKS of them each, two
     * threads do better computing one each (no split, no barrier, no packing done twice) than
     * sharing each in turn. Each GEMM's values do not depend on its thread count. */
    double fmas = (double)R * (double)in * (double)out;
    int nt = dx && dw && fmas <= FUSED_LINEAR_TASKS ? nb__threads_for((int64_t)fmas) : 1;
    if (nt >= 2) {
#ifdef _OPENMP
#pragma omp parallel for num_threads(2) schedule(static, 1)
#endif
        for (int task = 0; task < 2; task++)
            fused_linear_grad(task, n, g, dx, dw);
    } else { /* no enclosing region: each GEMM uses the whole team (a nested one would spawn threads) */
        fused_linear_grad(0, n, g, dx, dw);
        fused_linear_grad(1, n, g, dx, dw);
    }
    gin[0] = dx, gin[1] = dw;
    if (nb__needs_grad(n, 2)) {
        nb_tensor *db = nb__tensor_new(w->dtype, NB_DIMS(out));
        nb__k_col_sum(g->dtype, R, out, nb_tensor_data(g), nb_tensor_data(db));
        gin[2] = db;
    }
}
NB__DEFINE_OP(linear, fused_linear_backward);

nb_tensor *nb_linear(const nb_tensor *x, const nb_tensor *weight, const nb_tensor *bias)
{
    nb__check_float("nb_linear", x);
    nb__check_same_dtype("nb_linear", x, weight);
    if (weight->ndim != 2)
        nb__fail("nb_linear: weight must be [out_features, in_features], got shape %s",
                 NB__SHAPE(weight));
    if (x->ndim == 0 || x->shape[x->ndim - 1] != weight->shape[1])
        nb__fail("nb_linear: input of shape %s does not fit weight of shape %s (last dim must be %lld)",
                 NB__SHAPE(x), NB__SHAPE(weight), (long long)weight->shape[1]);
    int64_t out = weight->shape[0], in = weight->shape[1];
    if (bias) {
        nb__check_same_dtype("nb_linear", x, bias);
        if (bias->ndim != 1 || bias->shape[0] != out)
            nb__fail("nb_linear: bias of shape %s does not fit weight of shape %s (expected [%lld])",
                     NB__SHAPE(bias), NB__SHAPE(weight), (long long)out);
    }
    int scope = nb_scope_begin();
    const nb_tensor *xc = nb_tensor_is_contiguous(x) ? x : nb__contiguous_copy(x);
    const nb_tensor *wc = weight;
    bool rowmajor = true;
    int64_t ld = 0;
    if (!weight_layout(weight, &rowmajor, &ld)) {
        wc = nb__contiguous_copy(weight);
        weight_layout(wc, &rowmajor, &ld);
    }
    int64_t shape[NB_MAX_DIMS];
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
    shape[x->ndim - 1] = out;
    nb_tensor *y = nb__tensor_new(x->dtype, shape, x->ndim);
    int64_t R = nb__numel(x->ndim - 1, x->shape);
    /* y = x W^T: A = x [R, in], op(B) = W^T [in, out] (W row-major: B stored [out, in], transposed) */
    /* (inside nb_autocast_begin/end: x and W rounded to bfloat16 as they are packed) */
    (nb__autocast_for(x->dtype) ? nb__gemm_batched_bf16 : nb__gemm_batched)(
        x->dtype, false, rowmajor, R, out, in, 1.0, nb_tensor_data(xc), in, NULL, nb_tensor_data(wc), ld, NULL,
        0.0, nb_tensor_data(y), out, NULL, 1);
    if (bias && R && out) {
        const nb_tensor *bc = nb_tensor_is_contiguous(bias) ? bias : nb__contiguous_copy(bias);
        nb__k_bias_add_rows(x->dtype, R, out, nb_tensor_data(y), nb_tensor_data(bc));
    }
    nb__node *n = NB__RECORD(linear, y, x, weight, bias);
    if (n) {
        nb__save(n, xc);
        nb__save(n, wc);
    }
    return nb__scope_return(scope, y);
}

/* ---- cross_entropy -------------------------------------------------------------------------- */
nb_cross_entropy_opts nb_cross_entropy_opts_default(void)
{
    return (nb_cross_entropy_opts){NB_REDUCTION_MEAN, -100, 0.0};
}

/* saved: 0 logits [N, V] contiguous, 1 targets [N] int64, 2 lse [N] f64.
 * iargs: 0 reduction, 1 ignore_index, 2 count of non-ignored rows, 3 input was 1-D; fargs 0 eps */
static void cross_entropy_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *t = nb__saved(n, 1), *lse = nb__saved(n, 2);
    int64_t N = x->shape[0], V = x->shape[1];
    const int64_t *tv = nb_tensor_data(t);
    double *scale = nb__alloc((size_t)(N ? N : 1) * sizeof *scale);
    double gs = n->iargs[0] == NB_REDUCTION_NONE ? 0 : nb_tensor_item(g);
    for (int64_t i = 0; i < N; i++) {
        double gi = n->iargs[0] == NB_REDUCTION_NONE ? nb__load(g->dtype, nb__elem_ptr(g, i)) : gs;
        if (n->iargs[0] == NB_REDUCTION_MEAN)
            gi /= (double)n->iargs[2];
        scale[i] = tv[i] == n->iargs[1] ? 0 : gi;
    }
    nb_tensor *dx = nb_empty_like(x);
    nb__k_cross_entropy_backward(x->dtype, N, V, nb_tensor_data(x), tv, nb_tensor_data(lse), n->fargs[0], scale,
                                 nb_tensor_data(dx));
    nb__free(scale, (size_t)(N ? N : 1) * sizeof *scale);
    gin[0] = n->iargs[3] ? nb_reshape(dx, NB_DIMS(V)) : dx;
}
NB__DEFINE_OP(cross_entropy, cross_entropy_backward);

nb_tensor *nb_cross_entropy(const nb_tensor *logits, const nb_tensor *targets, const nb_cross_entropy_opts *opts)
{
    nb_cross_entropy_opts o = opts ? *opts : nb_cross_entropy_opts_default();
    nb_tensor *ext; /* probability targets, or logits [N, C, d1, ...]: functional_loss.c */
    if (nb__cross_entropy_ext(logits, targets, &o, &ext))
        return ext;
    nb__check_float("nb_cross_entropy", logits);
    if (targets->dtype != NB_I32 && targets->dtype != NB_I64)
        nb__fail("nb_cross_entropy: targets must be int32 or int64, got %s", nb_dtype_name(targets->dtype));
    bool one = logits->ndim == 1;
    if (!(logits->ndim == 2 || one) || targets->ndim != (one ? 0 : 1) ||
        (!one && targets->shape[0] != logits->shape[0]))
        nb__fail("nb_cross_entropy: logits of shape %s and targets of shape %s do not fit (expected [N, C] and [N])",
                 NB__SHAPE(logits), NB__SHAPE(targets));
    if (!(o.label_smoothing >= 0 && o.label_smoothing <= 1))
        nb__fail("nb_cross_entropy: label_smoothing must be in [0, 1], got %g", o.label_smoothing);
    if ((unsigned)o.reduction > NB_REDUCTION_NONE)
        nb__fail("nb_cross_entropy: invalid reduction %d", (int)o.reduction);
    int scope = nb_scope_begin();
    int64_t V = logits->shape[logits->ndim - 1], N = one ? 1 : logits->shape[0];
    nb_tensor *x = one ? nb_reshape(logits, NB_DIMS(1, V)) : nb_contiguous(logits);
    if (!nb_tensor_is_contiguous(x))
        x = nb__contiguous_copy(x);
    nb_tensor *t = nb__convert(targets, NB_I64);
    const int64_t *tv = nb_tensor_data(t);
    int64_t count = 0;
    for (int64_t i = 0; i < N; i++) {
        if (tv[i] == o.ignore_index)
            continue;
        if (tv[i] < 0 || tv[i] >= V)
            nb__fail("nb_cross_entropy: target %lld out of range for %lld classes", (long long)tv[i], (long long)V);
        count++;
    }
    nb_tensor *lse = nb_empty(NB_DIMS(N), NB_F64), *rows = nb_empty(NB_DIMS(N), NB_F64);
    if (N)
        nb__k_cross_entropy_forward(x->dtype, N, V, nb_tensor_data(x), tv, o.ignore_index, o.label_smoothing,
                                    nb_tensor_data(rows), nb_tensor_data(lse));
    const double *lv = nb_tensor_data(rows);
    nb_tensor *out;
    if (o.reduction == NB_REDUCTION_NONE) {
        out = one ? nb_empty(NB_SCALAR, logits->dtype) : nb_empty(NB_DIMS(N), logits->dtype);
        for (int64_t i = 0; i < N; i++)
            nb__store(out->dtype, nb__elem_ptr(out, i), lv[i]);
    } else {
        double s = 0;
        for (int64_t i = 0; i < N; i++)
            s += lv[i];
        if (o.reduction == NB_REDUCTION_MEAN)
            s = count ? s / (double)count : NAN;
        out = nb_scalar(s, logits->dtype);
    }
    nb__node *n = NB__RECORD(cross_entropy, out, logits, targets);
    if (n) {
        nb__save(n, x);
        nb__save(n, t);
        nb__save(n, lse);
        n->iargs[0] = o.reduction, n->iargs[1] = o.ignore_index, n->iargs[2] = count, n->iargs[3] = one;
        n->fargs[0] = o.label_smoothing;
    }
    return nb__scope_return(scope, out);
}

/* ---- dropout -------------------------------------------------------------------------------- */
/* saved: 0 mask (0 or 1/(1-p), x's dtype) */
static void dropout_backward(nb__node *n, nb_tensor *g, nb_tensor **gin) { gin[0] = nb_mul(g, nb__saved(n, 0)); }
NB__DEFINE_OP(dropout, dropout_backward);

nb_tensor *nb_dropout(const nb_tensor *x, double p, bool training, nb_generator *gen)
{
    if (!(p >= 0 && p <= 1))
        nb__fail("nb_dropout: probability must be in [0, 1], got %g", p);
    if (!training || p == 0)
        return nb__new_ref((nb_tensor *)x);
    nb__check_float("nb_dropout", x);
    if (!gen)
        gen = nb_default_generator();
    int scope = nb_scope_begin();
    nb_tensor *mask = nb__tensor_new(x->dtype, x->shape, x->ndim);
    int64_t numel = nb_tensor_numel(x);
    double keep = p >= 1 ? 0 : 1.0 / (1.0 - p);
    for (int64_t i = 0; i < numel; i++) /* sequential draws: the stream depends only on the seed */
        nb__store(x->dtype, nb__elem_ptr(mask, i), nb_generator_uniform(gen) < p ? 0.0 : keep);
    bool prev = nb_set_grad_enabled(false);
    nb_tensor *out = nb_mul(x, mask);
    nb_set_grad_enabled(prev);
    nb__node *n = NB__RECORD(dropout, out, x);
    if (n)
        nb__save(n, mask);
    return nb__scope_return(scope, out);
}
