/* nb__k_elementwise.h — internal to libnabla: elementwise kernels (no autograd).
 *
 * Every kernel writes `out` (any strided view, including a view of one of the inputs when every
 * element is read before it is written at the same position) from inputs broadcastable to out's
 * shape. Dtypes: out and the value inputs share one dtype (except the bool results of compare and
 * of the BOOL-out rows, and the bool cond of where). Callers check shapes and dtypes; an op/dtype
 * pair without a kernel is an internal error. Scalar parameters arrive as double and are
 * converted to the element type (saturating for integer types). */
#ifndef NB__K_ELEMENTWISE_H
#define NB__K_ELEMENTWISE_H

#include "nb__tensor.h"

/* The pointwise ops: one per row of tensor/nb_pointwise.def, in its order. */
typedef enum {
#define NB_PW_UNARY(name, ...) NB__PW_##name,
#define NB_PW_UNARY_K(name, ...) NB__PW_##name,
#define NB_PW_UNARY_ND(name, ...) NB__PW_##name,
#define NB_PW_BINARY(name, ...) NB__PW_##name,
#define NB_PW_BINARY_K(name, ...) NB__PW_##name,
#define NB_PW_BINARY_ND(name, ...) NB__PW_##name,
#include "nb_pointwise.def"
    NB__PW_COUNT
} nb__pw_op;

/* Forward of a row: out = f(a) (unary rows; b is NULL) or f(a, b) (binary rows), with the row's
 * parameters p0, p1. out has a's dtype, or bool for a BOOL-out row. */
NB__INTERNAL void nb__k_pointwise(nb__pw_op op, nb_tensor *out, const nb_tensor *a, const nb_tensor *b, double p0,
                                  double p1);
/* Gradient of a differentiable row (float dtypes) in out (g's shape). Unary rows: out = dx(g, s)
 * with s the saved x or y (g itself when the row saves nothing); binary rows: out = da (which 0)
 * or db (which 1) of (g, a, b), with a and b broadcast to g's shape (g itself when not saved). */
NB__INTERNAL void nb__k_pointwise_grad(nb__pw_op op, int which, nb_tensor *out, const nb_tensor *g,
                                       const nb_tensor *a, const nb_tensor *b, double p0, double p1);

/* Comparisons, in the order of nb_cmp (autograd/nb_ops.h; the op layer asserts they agree). */
typedef enum { NB__CMP_EQ, NB__CMP_NE, NB__CMP_LT, NB__CMP_LE, NB__CMP_GT, NB__CMP_GE, NB__CMP_COUNT } nb__cmp;

/* out (bool) = a <cmp> b; a and b of one dtype (any, bool included). */
NB__INTERNAL void nb__k_compare(nb__cmp op, nb_tensor *out, const nb_tensor *a, const nb_tensor *b);
/* out (bool) = a <cmp> s. Float tensors compare with s converted to their type, integer ones
 * compare exactly in double. */
NB__INTERNAL void nb__k_compare_scalar(nb__cmp op, nb_tensor *out, const nb_tensor *a, double s);

/* out = cond ? a : b; cond bool, a/b/out one dtype (any). */
NB__INTERNAL void nb__k_where(nb_tensor *out, const nb_tensor *cond, const nb_tensor *a, const nb_tensor *b);

#endif /* NB__K_ELEMENTWISE_H */
