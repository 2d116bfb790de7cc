/* nb__k_elementwise.h — internal to libnabla: elementwise kernels (no autograd).
 *
 * Every kernel writes `out` (any strided view, including a view of one of the inputs when every
 * element is read before it is written at the same position) from inputs broadcastable to out's
 * shape. Dtypes: out and the value inputs share one dtype (except compare, whose out is bool, and
 * the bool cond of where). Callers check shapes and dtypes; an op/dtype pair without a kernel is
 * an internal error. Scalar parameters arrive as double and are converted to the element type
 * (saturating for integer types). */
#ifndef NB__K_ELEMENTWISE_H
#define NB__K_ELEMENTWISE_H

#include "nb__tensor.h"

/* out = f(in), same dtype. p0/p1 are the op's parameters (unused ones are ignored). */
typedef enum {
    /* numeric (float32, float64, int32, int64) */
    NB__U_NEG,
    NB__U_ABS,
    NB__U_RELU,
    NB__U_ADD_S,   /* x + p0 */
    NB__U_MUL_S,   /* x * p0 */
    NB__U_CLAMP,   /* min(max(x, p0), p1); NaN stays NaN */
    /* float only */
    NB__U_DIV_S,   /* x / p0 */
    NB__U_EXP,
    NB__U_LOG,
    NB__U_SQRT,
    NB__U_RSQRT,
    NB__U_TANH,
    NB__U_SIGMOID,
    NB__U_GELU_ERF,  /* x * Phi(x) */
    NB__U_GELU_TANH, /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    NB__U_POW,       /* x ** p0 */
    NB__U_COUNT
} nb__unary_op;

NB__INTERNAL void nb__k_unary(nb__unary_op op, nb_tensor *out, const nb_tensor *in, double p0, double p1);

/* out = f(a, b), all one dtype; a and b broadcast to out's shape. */
typedef enum {
    /* numeric */
    NB__B_ADD,
    NB__B_SUB,
    NB__B_MUL,
    NB__B_MAX,        /* NaN propagates */
    NB__B_MIN,
    NB__B_ADD_SCALED, /* a + p0 * b */
    /* float only */
    NB__B_DIV,
    /* backward helpers (float only): a is the output gradient g, b the saved x or y */
    NB__B_ABS_BWD,       /* g * sign(x) */
    NB__B_RELU_BWD,      /* y > 0 ? g : 0  (y the output) */
    NB__B_SQRT_BWD,      /* g / (2 y) */
    NB__B_RSQRT_BWD,     /* -0.5 g y^3 */
    NB__B_TANH_BWD,      /* g (1 - y^2) */
    NB__B_SIGMOID_BWD,   /* g y (1 - y) */
    NB__B_GELU_ERF_BWD,  /* g (Phi(x) + x phi(x)) */
    NB__B_GELU_TANH_BWD, /* g d/dx of the tanh approximation */
    NB__B_POW_BWD,       /* p0 == 0 ? 0 : g p0 x^(p0-1) */
    NB__B_CLAMP_BWD,     /* p0 <= x <= p1 ? g : 0 */
    NB__B_COUNT
} nb__binary_op;

NB__INTERNAL void nb__k_binary(nb__binary_op op, nb_tensor *out, const nb_tensor *a, const nb_tensor *b,
                               double p0, double p1);

/* Comparisons, in the order of nb_cmp (autograd/nb_ops.h; the op layer asserts they agree). */
typedef enum { NB__CMP_EQ, NB__CMP_NE, NB__CMP_LT, NB__CMP_LE, NB__CMP_GT, NB__CMP_GE, NB__CMP_COUNT } nb__cmp;

/* out (bool) = a <cmp> b; a and b of one dtype (any, bool included). */
NB__INTERNAL void nb__k_compare(nb__cmp op, nb_tensor *out, const nb_tensor *a, const nb_tensor *b);
/* out (bool) = a <cmp> s. Float tensors compare with s converted to their type, integer ones
 * compare exactly in double. */
NB__INTERNAL void nb__k_compare_scalar(nb__cmp op, nb_tensor *out, const nb_tensor *a, double s);

/* out = cond ? a : b; cond bool, a/b/out one dtype (any). */
NB__INTERNAL void nb__k_where(nb_tensor *out, const nb_tensor *cond, const nb_tensor *a, const nb_tensor *b);

/* Gradient of maximum (is_max) / minimum for input `which` (0: a, 1: b), in out's shape:
 * out = g * w with w = 1 where that input was selected, 0.5 at ties, 0 otherwise (NaN: 1). */
NB__INTERNAL void nb__k_maxmin_grad(nb_tensor *out, const nb_tensor *g, const nb_tensor *a, const nb_tensor *b,
                                    bool is_max, int which);

#endif /* NB__K_ELEMENTWISE_H */
