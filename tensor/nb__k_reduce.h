/* nb__k_reduce.h — reduction and softmax kernels (internal to libnabla; no autograd).
 *
 * Reductions: `reduce[d]` (d < in->ndim) marks the input dims that are reduced. `out` is a fresh
 * contiguous tensor whose elements are the kept dims in row-major order (with or without keepdim
 * the layout is the same). Every output element is reduced by one thread in a fixed order, so
 * results do not depend on the thread count. Float inputs accumulate in double. */
#ifndef NB__K_REDUCE_H
#define NB__K_REDUCE_H

#include "nb__tensor.h"

/* out = scale * sum(in) over the reduced dims. out's dtype is in's for floats (scale applies),
 * int64 for int32/int64/bool inputs (scale ignored). An empty reduction gives 0 (times scale). */
NB__INTERNAL void nb__k_sum(nb_tensor *out, const nb_tensor *in, const bool *reduce, double scale);
/* Two-pass variance (mean first, both in double) with divisor max(n - correction, 0); its square
 * root when take_sqrt. Float dtypes; out has in's dtype. */
NB__INTERNAL void nb__k_var(nb_tensor *out, const nb_tensor *in, const bool *reduce, int correction,
                            bool take_sqrt);
/* log(sum(exp(in))) shifted by the maximum (an infinite maximum shifts by 0, as PyTorch). Float. */
NB__INTERNAL void nb__k_logsumexp(nb_tensor *out, const nb_tensor *in, const bool *reduce);
/* Max (is_max) or min of in along dim, whose size must be > 0 (a 0-dim input counts as size 1).
 * First occurrence wins; NaN counts as the extreme (first NaN). vals (in's dtype) and idx (int64)
 * are contiguous outputs of the reduced shape; either may be NULL. Any dtype. */
NB__INTERNAL void nb__k_maxmin(nb_tensor *vals, nb_tensor *idx, const nb_tensor *in, int dim, bool is_max);

/* Softmax (or log-softmax when log) of in along dim into out (contiguous, in's shape). Float. */
NB__INTERNAL void nb__k_softmax(nb_tensor *out, const nb_tensor *in, int dim, bool log);
/* Gradient of softmax / log-softmax along dim: gin = y*(g - sum(g*y)) or g - exp(y)*sum(g).
 * gin, g and y (the forward output) are contiguous with equal shape and dtype. */
NB__INTERNAL void nb__k_softmax_backward(nb_tensor *gin, const nb_tensor *g, const nb_tensor *y, int dim,
                                         bool log);

/* gin (contiguous, already zero) receives g at position idx along dim:
 * gin[o, idx[o, i], i] = g[o, i]; g (gin's float dtype) and idx (int64) are contiguous with gin's
 * shape minus dim. */
NB__INTERNAL void nb__k_scatter_dim(nb_tensor *gin, const nb_tensor *g, const nb_tensor *idx, int dim);

typedef enum {
    NB__RGRAD_DEV, /* out = (x - p) * q * scale   (var / std backward) */
    NB__RGRAD_EXP  /* out = q * exp(x - p)        (logsumexp backward) */
} nb__rgrad_kind;
/* Elementwise over out's shape; x has out's shape (any strides), p and q broadcast to it. All
 * operands have one float dtype. */
NB__INTERNAL void nb__k_reduce_grad(nb__rgrad_kind kind, nb_tensor *out, const nb_tensor *x, const nb_tensor *p,
                                    const nb_tensor *q, double scale);
/* out[i] = a[i] * scale / b[i] (b NULL: / 1) over contiguous float tensors of one dtype and numel. */
NB__INTERNAL void nb__k_scale_div(nb_tensor *out, const nb_tensor *a, const nb_tensor *b, double scale);

#endif /* NB__K_REDUCE_H */
