/* nb__k_scan.h — kernels of the scan / sort / norm family (internal to libnabla; no autograd):
 * cumulative sums and products, products, vector norms, stable sorts, any/all, linspace.
 *
 * Geometry: a kernel works on `lines` of a contiguous tensor viewed as [outer, n, inner]; line
 * (o, i) holds the n elements at o*n*inner + i + j*inner (j < n). A reduction over several dims
 * is handed over as [nout, nred, 1] (the caller moves the reduced dims last). Every line is
 * computed by one thread in a fixed order, so results do not depend on the thread count. Float
 * accumulations run in double. Inputs and outputs are contiguous; shapes are checked by the
 * callers (autograd/ops_scan.c). */
#ifndef NB__K_SCAN_H
#define NB__K_SCAN_H

#include "nb__tensor.h"

typedef struct {
    int64_t outer, n, inner;
} nb__lines;

/* Lines of dim d of a shape (a 0-dim shape is one line of one element). */
NB__INTERNAL nb__lines nb__lines_of(int ndim, const int64_t *shape, int d);

/* Inclusive scan along the lines: y = cumsum(x) (or cumprod when prod); reverse scans from the
 * end (y_j = sum_{k >= j} x_k). x and y have one dtype: float32, float64 or int64. */
NB__INTERNAL void nb__k_cumulative(nb_tensor *y, const nb_tensor *x, nb__lines l, bool prod, bool reverse);
/* Gradient of cumprod, exact with zeros and without division: gin_i = P_{i-1} * R_i with
 * P_{i-1} = prod_{k<i} x_k and R_i = g_i + x_{i+1} R_{i+1}. Float; one dtype. */
NB__INTERNAL void nb__k_cumprod_grad(nb_tensor *gin, const nb_tensor *x, const nb_tensor *g, nb__lines l);
/* out[o, i] = prod of line (o, i) (1 for n == 0). out is [outer, inner]; x float32/64 or int64,
 * out of x's dtype. */
NB__INTERNAL void nb__k_prod(nb_tensor *out, const nb_tensor *x, nb__lines l);
/* gin_j = g[o, i] * prod_{k != j} x_k on each line (prefix and suffix products: zeros are
 * exact). g is [outer, inner]. Float; one dtype. */
NB__INTERNAL void nb__k_prod_grad(nb_tensor *gin, const nb_tensor *x, const nb_tensor *g, nb__lines l);
/* Vector p-norm of each line, p in {1, 2, INFINITY}; the 2-norm is scaled by the line's largest
 * magnitude (no overflow or underflow of the squares). Float; out [outer, inner] of x's dtype. */
NB__INTERNAL void nb__k_norm(nb_tensor *out, const nb_tensor *x, nb__lines l, double p);
/* Stable sort of each line (NaN sorts above +inf, as torch); the first k sorted elements go to
 * vals (x's dtype, may be NULL) and their positions in the line to idx (int64), both laid out as
 * [outer, k, inner]. Any numeric dtype or bool. */
NB__INTERNAL void nb__k_sort(nb_tensor *vals, nb_tensor *idx, const nb_tensor *x, nb__lines l, int64_t k,
                             bool descending);
/* out[o, i] = any (or all) element of the line is nonzero (NaN counts as nonzero). out is bool
 * [outer, inner]; x any dtype. */
NB__INTERNAL void nb__k_any_all(nb_tensor *out, const nb_tensor *x, nb__lines l, bool all);
/* out (1-D, steps elements, float or int dtype) = torch.linspace(start, end, steps): the first
 * half counted from start, the second from end, with step (end - start) / (steps - 1). */
NB__INTERNAL void nb__k_linspace(nb_tensor *out, double start, double end);

/* Elementwise gradients of selection-like reductions over out's shape; x has out's shape (any
 * strides), v (the reduction's result) and q (the output gradient, already divided by the tie
 * count where one applies) broadcast to it. One float dtype. */
typedef enum {
    NB__SGRAD_EQ,   /* out = x == v ? q : 0            (amax / amin) */
    NB__SGRAD_L1,   /* out = sgn(x) q                  (1-norm) */
    NB__SGRAD_L2,   /* out = v == 0 ? 0 : x q / v      (2-norm) */
    NB__SGRAD_LINF  /* out = |x| == v ? sgn(x) q : 0   (inf-norm) */
} nb__sgrad_kind;
NB__INTERNAL void nb__k_select_grad(nb__sgrad_kind kind, nb_tensor *out, const nb_tensor *x, const nb_tensor *v,
                                    const nb_tensor *q);

#endif /* NB__K_SCAN_H */
