/* ops_elementwise.c — elementwise ops: each checks its inputs, runs a kernel of
 * tensor/k_elementwise.c, records its node, and has its backward formula right above it.
 * Broadcast inputs get their gradient summed back with nb__sum_to. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__k_elementwise.h"

#include <math.h>

_Static_assert((int)NB_CMP_EQ == (int)NB__CMP_EQ && (int)NB_CMP_NE == (int)NB__CMP_NE &&
                   (int)NB_CMP_LT == (int)NB__CMP_LT && (int)NB_CMP_LE == (int)NB__CMP_LE &&
                   (int)NB_CMP_GT == (int)NB__CMP_GT && (int)NB_CMP_GE == (int)NB__CMP_GE,
               "nb_cmp and nb__cmp must list the comparisons in one order");

/* ---- helpers -------------------------------------------------------------------------------- */
static void check_numeric(const char *op, const nb_tensor *t)
{
    if (t->dtype == NB_BOOL)
        nb__fail("%s: expected a float32, float64, int32 or int64 tensor, got bool", op);
}

/* Integer tensors take only integral scalars (no silent truncation of 0.5). */
static void check_scalar(const char *op, const nb_tensor *t, const char *what, double v, bool inf_ok)
{
    if (nb_dtype_is_float(t->dtype))
        return;
    if (isnan(v) || (isinf(v) && !inf_ok) || (isfinite(v) && v != trunc(v)))
        nb__fail("%s: %s %g is not an integer, as a %s tensor needs", op, what, v, nb_dtype_name(t->dtype));
}

static nb_tensor *unary(nb__unary_op k, const nb_tensor *t, double p0, double p1)
{
    nb_tensor *out = nb__tensor_new(t->dtype, t->ndim, t->shape);
    nb__k_unary(k, out, t, p0, p1);
    return out;
}

/* New tensor of g's shape: k(g, x) for backward formulas. */
static nb_tensor *grad_kernel(nb__binary_op k, nb_tensor *g, const nb_tensor *x, double p0, double p1)
{
    nb_tensor *r = nb__tensor_new(g->dtype, g->ndim, g->shape);
    nb__k_binary(k, r, g, x, p0, p1);
    return r;
}

static nb_tensor *binary(const char *op, nb__binary_op k, const nb_tensor *a, const nb_tensor *b, bool float_only)
{
    nb__check_same_dtype(op, a, b);
    if (float_only)
        nb__check_float(op, a);
    else
        check_numeric(op, a);
    int64_t sh[NB_MAX_DIMS];
    int nd = nb__broadcast_shape(op, a->ndim, a->shape, b->ndim, b->shape, sh);
    nb_tensor *out = nb__tensor_new(a->dtype, nd, sh);
    nb__k_binary(k, out, a, b, 0, 0);
    return out;
}

/* ---- unary ops ------------------------------------------------------------------------------ */
static void neg_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    (void)n;
    gin[0] = nb_neg(g);
}
NB__DEFINE_OP(neg, neg_backward);

nb_tensor *nb_neg(const nb_tensor *t)
{
    check_numeric("nb_neg", t);
    nb_tensor *out = unary(NB__U_NEG, t, 0, 0);
    NB__RECORD(neg, out, t);
    return out;
}

static void abs_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    gin[0] = grad_kernel(NB__B_ABS_BWD, g, nb__saved(n, 0), 0, 0);
}
NB__DEFINE_OP(abs, abs_backward);

nb_tensor *nb_abs(const nb_tensor *t)
{
    check_numeric("nb_abs", t);
    nb_tensor *out = unary(NB__U_ABS, t, 0, 0);
    nb__node *n = NB__RECORD(abs, out, t);
    if (n)
        nb__save(n, t);
    return out;
}

static void exp_backward(nb__node *n, nb_tensor *g, nb_tensor **gin) { gin[0] = nb_mul(g, nb__saved(n, 0)); }
NB__DEFINE_OP(exp, exp_backward);

nb_tensor *nb_exp(const nb_tensor *t)
{
    nb__check_float("nb_exp", t);
    nb_tensor *out = unary(NB__U_EXP, t, 0, 0);
    nb__node *n = NB__RECORD(exp, out, t);
    if (n)
        nb__save_output(n, out);
    return out;
}

static void log_backward(nb__node *n, nb_tensor *g, nb_tensor **gin) { gin[0] = nb_div(g, nb__saved(n, 0)); }
NB__DEFINE_OP(log, log_backward);

nb_tensor *nb_log(const nb_tensor *t)
{
    nb__check_float("nb_log", t);
    nb_tensor *out = unary(NB__U_LOG, t, 0, 0);
    nb__node *n = NB__RECORD(log, out, t);
    if (n)
        nb__save(n, t);
    return out;
}

/* Unary float ops whose backward is k(g, y) of the saved output y. */
static void output_grad_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    gin[0] = grad_kernel((nb__binary_op)n->iargs[0], g, nb__saved(n, 0), 0, 0);
}
NB__DEFINE_OP(sqrt, output_grad_backward);
NB__DEFINE_OP(rsqrt, output_grad_backward);
NB__DEFINE_OP(tanh, output_grad_backward);
NB__DEFINE_OP(sigmoid, output_grad_backward);
NB__DEFINE_OP(relu, output_grad_backward);

static nb_tensor *unary_saving_output(const nb__op *op, nb__unary_op k, nb__binary_op kb, const nb_tensor *t)
{
    nb_tensor *out = unary(k, t, 0, 0);
    nb__node *n = nb__record(op, out, 1, &t);
    if (n) {
        n->iargs[0] = kb;
        nb__save_output(n, out);
    }
    return out;
}

nb_tensor *nb_sqrt(const nb_tensor *t)
{
    nb__check_float("nb_sqrt", t);
    return unary_saving_output(&nb__op_sqrt, NB__U_SQRT, NB__B_SQRT_BWD, t);
}

nb_tensor *nb_rsqrt(const nb_tensor *t)
{
    nb__check_float("nb_rsqrt", t);
    return unary_saving_output(&nb__op_rsqrt, NB__U_RSQRT, NB__B_RSQRT_BWD, t);
}

nb_tensor *nb_tanh(const nb_tensor *t)
{
    nb__check_float("nb_tanh", t);
    return unary_saving_output(&nb__op_tanh, NB__U_TANH, NB__B_TANH_BWD, t);
}

nb_tensor *nb_sigmoid(const nb_tensor *t)
{
    nb__check_float("nb_sigmoid", t);
    return unary_saving_output(&nb__op_sigmoid, NB__U_SIGMOID, NB__B_SIGMOID_BWD, t);
}

nb_tensor *nb_relu(const nb_tensor *t)
{
    check_numeric("nb_relu", t);
    return unary_saving_output(&nb__op_relu, NB__U_RELU, NB__B_RELU_BWD, t);
}

/* Unary float ops whose backward is k(g, x, p0, p1) of the saved input x. */
static void input_grad_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    gin[0] = grad_kernel((nb__binary_op)n->iargs[0], g, nb__saved(n, 0), n->fargs[0], n->fargs[1]);
}
NB__DEFINE_OP(gelu, input_grad_backward);
NB__DEFINE_OP(pow_scalar, input_grad_backward);
NB__DEFINE_OP(clamp, input_grad_backward);

static nb_tensor *unary_saving_input(const nb__op *op, nb__unary_op k, nb__binary_op kb, const nb_tensor *t,
                                     double p0, double p1)
{
    nb_tensor *out = unary(k, t, p0, p1);
    nb__node *n = nb__record(op, out, 1, &t);
    if (n) {
        n->iargs[0] = kb;
        n->fargs[0] = p0;
        n->fargs[1] = p1;
        nb__save(n, t);
    }
    return out;
}

nb_tensor *nb_gelu(const nb_tensor *t, nb_gelu_approx approx)
{
    nb__check_float("nb_gelu", t);
    if (approx != NB_GELU_ERF && approx != NB_GELU_TANH)
        nb__fail("nb_gelu: invalid approximation %d (NB_GELU_ERF or NB_GELU_TANH)", (int)approx);
    bool erf_ = approx == NB_GELU_ERF;
    return unary_saving_input(&nb__op_gelu, erf_ ? NB__U_GELU_ERF : NB__U_GELU_TANH,
                              erf_ ? NB__B_GELU_ERF_BWD : NB__B_GELU_TANH_BWD, t, 0, 0);
}

nb_tensor *nb_pow_scalar(const nb_tensor *t, double p)
{
    nb__check_float("nb_pow_scalar", t);
    return unary_saving_input(&nb__op_pow_scalar, NB__U_POW, NB__B_POW_BWD, t, p, 0);
}

nb_tensor *nb_clamp(const nb_tensor *t, double lo, double hi)
{
    check_numeric("nb_clamp", t);
    check_scalar("nb_clamp", t, "bound", lo, true);
    check_scalar("nb_clamp", t, "bound", hi, true);
    return unary_saving_input(&nb__op_clamp, NB__U_CLAMP, NB__B_CLAMP_BWD, t, lo, hi);
}

/* ---- binary ops ----------------------------------------------------------------------------- */
static void add_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    if (nb__needs_grad(n, 0))
        gin[0] = nb__sum_to(g, n, 0);
    if (nb__needs_grad(n, 1))
        gin[1] = nb__sum_to(g, n, 1);
}
NB__DEFINE_OP(add, add_backward);

nb_tensor *nb_add(const nb_tensor *a, const nb_tensor *b)
{
    nb_tensor *out = binary("nb_add", NB__B_ADD, a, b, false);
    NB__RECORD(add, out, a, b);
    return out;
}

static void sub_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    if (nb__needs_grad(n, 0))
        gin[0] = nb__sum_to(g, n, 0);
    if (nb__needs_grad(n, 1))
        gin[1] = nb_neg(nb__sum_to(g, n, 1));
}
NB__DEFINE_OP(sub, sub_backward);

nb_tensor *nb_sub(const nb_tensor *a, const nb_tensor *b)
{
    nb_tensor *out = binary("nb_sub", NB__B_SUB, a, b, false);
    NB__RECORD(sub, out, a, b);
    return out;
}

/* mul: iargs[i] is the saved slot of the OTHER input (what input i's gradient needs), or -1. */
static void mul_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    for (int i = 0; i < 2; i++)
        if (nb__needs_grad(n, i))
            gin[i] = nb__sum_to(nb_mul(g, nb__saved(n, (int)n->iargs[i])), n, i);
}
NB__DEFINE_OP(mul, mul_backward);

nb_tensor *nb_mul(const nb_tensor *a, const nb_tensor *b)
{
    nb_tensor *out = binary("nb_mul", NB__B_MUL, a, b, false);
    nb__node *n = NB__RECORD(mul, out, a, b);
    if (n) {
        const nb_tensor *ins[2] = {a, b};
        for (int i = 0; i < 2; i++) {
            n->iargs[i] = -1;
            if (nb__needs_grad(n, i)) {
                n->iargs[i] = n->n_saved;
                nb__save(n, ins[1 - i]);
            }
        }
    }
    return out;
}

/* div: saved 0 is b; saved 1 is a when b needs a gradient.
 * d/da = g / b, d/db = -g a / b^2. */
static void div_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *b = nb__saved(n, 0);
    if (nb__needs_grad(n, 0))
        gin[0] = nb__sum_to(nb_div(g, b), n, 0);
    if (nb__needs_grad(n, 1))
        gin[1] = nb__sum_to(nb_neg(nb_div(nb_mul(g, nb__saved(n, 1)), nb_mul(b, b))), n, 1);
}
NB__DEFINE_OP(div, div_backward);

nb_tensor *nb_div(const nb_tensor *a, const nb_tensor *b)
{
    nb_tensor *out = binary("nb_div", NB__B_DIV, a, b, true);
    nb__node *n = NB__RECORD(div, out, a, b);
    if (n) {
        nb__save(n, b);
        if (nb__needs_grad(n, 1))
            nb__save(n, a);
    }
    return out;
}

/* maximum/minimum: the selected input gets g, ties split it equally (as PyTorch). */
static void maxmin_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *a = nb__saved(n, 0), *b = nb__saved(n, 1);
    for (int i = 0; i < 2; i++) {
        if (!nb__needs_grad(n, i))
            continue;
        nb_tensor *r = nb__tensor_new(g->dtype, g->ndim, g->shape);
        nb__k_maxmin_grad(r, g, a, b, n->op->id == NB_OP_maximum, i);
        gin[i] = nb__sum_to(r, n, i);
    }
}
NB__DEFINE_OP(maximum, maxmin_backward);
NB__DEFINE_OP(minimum, maxmin_backward);

static nb_tensor *maxmin(const nb__op *op, nb__binary_op k, const nb_tensor *a, const nb_tensor *b)
{
    nb_tensor *out = binary(op->name, k, a, b, false);
    nb__node *n = nb__record(op, out, 2, (const nb_tensor *[]){a, b});
    if (n) {
        nb__save(n, a);
        nb__save(n, b);
    }
    return out;
}

nb_tensor *nb_maximum(const nb_tensor *a, const nb_tensor *b) { return maxmin(&nb__op_maximum, NB__B_MAX, a, b); }
nb_tensor *nb_minimum(const nb_tensor *a, const nb_tensor *b) { return maxmin(&nb__op_minimum, NB__B_MIN, a, b); }

/* ---- scalar ops ----------------------------------------------------------------------------- */
static void add_scalar_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    (void)n;
    gin[0] = nb__new_ref(g);
}
NB__DEFINE_OP(add_scalar, add_scalar_backward);

nb_tensor *nb_add_scalar(const nb_tensor *t, double s)
{
    check_numeric("nb_add_scalar", t);
    check_scalar("nb_add_scalar", t, "scalar", s, false);
    nb_tensor *out = unary(NB__U_ADD_S, t, s, 0);
    NB__RECORD(add_scalar, out, t);
    return out;
}

static void mul_scalar_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    gin[0] = nb_mul_scalar(g, n->fargs[0]);
}
NB__DEFINE_OP(mul_scalar, mul_scalar_backward);

nb_tensor *nb_mul_scalar(const nb_tensor *t, double s)
{
    check_numeric("nb_mul_scalar", t);
    check_scalar("nb_mul_scalar", t, "scalar", s, false);
    nb_tensor *out = unary(NB__U_MUL_S, t, s, 0);
    nb__node *n = NB__RECORD(mul_scalar, out, t);
    if (n)
        n->fargs[0] = s;
    return out;
}

static void div_scalar_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    gin[0] = nb_div_scalar(g, n->fargs[0]);
}
NB__DEFINE_OP(div_scalar, div_scalar_backward);

nb_tensor *nb_div_scalar(const nb_tensor *t, double s)
{
    nb__check_float("nb_div_scalar", t);
    nb_tensor *out = unary(NB__U_DIV_S, t, s, 0);
    nb__node *n = NB__RECORD(div_scalar, out, t);
    if (n)
        n->fargs[0] = s;
    return out;
}

/* ---- comparisons, where, masked_fill -------------------------------------------------------- */
static void check_cmp(const char *op, nb_cmp c)
{
    if ((unsigned)c > (unsigned)NB_CMP_GE)
        nb__fail("%s: invalid comparison %d (NB_CMP_EQ..NB_CMP_GE)", op, (int)c);
}

nb_tensor *nb_compare(const nb_tensor *a, const nb_tensor *b, nb_cmp op)
{
    check_cmp("nb_compare", op);
    nb__check_same_dtype("nb_compare", a, b);
    int64_t sh[NB_MAX_DIMS];
    int nd = nb__broadcast_shape("nb_compare", a->ndim, a->shape, b->ndim, b->shape, sh);
    nb_tensor *out = nb__tensor_new(NB_BOOL, nd, sh);
    nb__k_compare((nb__cmp)op, out, a, b);
    return out;
}

nb_tensor *nb_compare_scalar(const nb_tensor *a, double s, nb_cmp op)
{
    check_cmp("nb_compare_scalar", op);
    nb_tensor *out = nb__tensor_new(NB_BOOL, a->ndim, a->shape);
    nb__k_compare_scalar((nb__cmp)op, out, a, s);
    return out;
}

static void check_bool(const char *op, const char *what, const nb_tensor *t)
{
    if (t->dtype != NB_BOOL)
        nb__fail("%s: %s must be a bool tensor, got %s", op, what, nb_dtype_name(t->dtype));
}

/* where: inputs (cond, a, b); saved 0 is cond. */
static void where_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *cond = nb__saved(n, 0), *zero = nb_zeros(NB_SCALAR, g->dtype);
    if (nb__needs_grad(n, 1))
        gin[1] = nb__sum_to(nb_where(cond, g, zero), n, 1);
    if (nb__needs_grad(n, 2))
        gin[2] = nb__sum_to(nb_where(cond, zero, g), n, 2);
}
NB__DEFINE_OP(where, where_backward);

nb_tensor *nb_where(const nb_tensor *cond, const nb_tensor *a, const nb_tensor *b)
{
    check_bool("nb_where", "cond", cond);
    nb__check_same_dtype("nb_where", a, b);
    int64_t sab[NB_MAX_DIMS], sh[NB_MAX_DIMS];
    int nab = nb__broadcast_shape("nb_where", a->ndim, a->shape, b->ndim, b->shape, sab);
    int nd = nb__broadcast_shape("nb_where", cond->ndim, cond->shape, nab, sab, sh);
    nb_tensor *out = nb__tensor_new(a->dtype, nd, sh);
    nb__k_where(out, cond, a, b);
    nb__node *n = NB__RECORD(where, out, cond, a, b);
    if (n)
        nb__save(n, cond);
    return out;
}

/* masked_fill: inputs (t, mask); saved 0 is mask. */
static void masked_fill_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    gin[0] = nb_where(nb__saved(n, 0), nb_zeros(NB_SCALAR, g->dtype), g);
}
NB__DEFINE_OP(masked_fill, masked_fill_backward);

nb_tensor *nb_masked_fill(const nb_tensor *t, const nb_tensor *mask, double value)
{
    check_bool("nb_masked_fill", "mask", mask);
    if (!nb__broadcastable_to(mask->ndim, mask->shape, t->ndim, t->shape))
        nb__fail("nb_masked_fill: mask of shape %s cannot be broadcast to shape %s", NB__SHAPE(mask),
                 NB__SHAPE(t));
    if (t->dtype != NB_BOOL)
        check_scalar("nb_masked_fill", t, "value", value, false);
    int scope = nb_scope_begin();
    nb_tensor *v = nb_scalar(value, t->dtype);
    nb_tensor *out = nb__tensor_new(t->dtype, t->ndim, t->shape);
    nb__k_where(out, mask, v, t);
    out = nb__scope_return(scope, out);
    nb__node *n = NB__RECORD(masked_fill, out, t, mask);
    if (n)
        nb__save(n, mask);
    return out;
}

/* ---- in place ------------------------------------------------------------------------------- */
/* The destination must not require grad (with grad mode on) and must not have several elements
 * at one address (stride 0 from nb_expand), since each would be written more than once. */
static void check_dest(const char *op, const nb_tensor *t)
{
    nb__check_inplace(op, t);
    for (int d = 0; d < t->ndim; d++)
        if (t->strides[d] == 0 && t->shape[d] > 1)
            nb__fail("%s: the destination of shape %s has stride 0 on dim %d (an expanded view); several "
                     "elements share one memory location",
                     op, NB__SHAPE(t), d);
}

/* src itself, or a private copy when it overlaps dst in another layout (a += a^T). */
static const nb_tensor *unaliased(const nb_tensor *dst, const nb_tensor *src)
{
    if (!nb_tensor_shares_storage(dst, src))
        return src;
    if (dst->dtype == src->dtype && dst->ndim == src->ndim && dst->offset == src->offset &&
        !memcmp(dst->shape, src->shape, (size_t)dst->ndim * sizeof(int64_t)) &&
        !memcmp(dst->strides, src->strides, (size_t)dst->ndim * sizeof(int64_t)))
        return src; /* element i reads and writes the same address: safe */
    return nb__contiguous_copy(src);
}

static nb_tensor *add_scaled_inplace(const char *op, nb_tensor *a, const nb_tensor *b, double alpha, bool scaled)
{
    check_dest(op, a);
    nb__check_same_dtype(op, a, b);
    check_numeric(op, a);
    if (scaled)
        check_scalar(op, a, "alpha", alpha, false);
    if (!nb__broadcastable_to(b->ndim, b->shape, a->ndim, a->shape))
        nb__fail("%s: shape %s cannot be broadcast to shape %s", op, NB__SHAPE(b), NB__SHAPE(a));
    int scope = nb_scope_begin();
    nb__k_binary(scaled ? NB__B_ADD_SCALED : NB__B_ADD, a, a, unaliased(a, b), alpha, 0);
    nb_scope_end(scope);
    nb__bump_version(a);
    return a;
}

nb_tensor *nb_add_(nb_tensor *a, const nb_tensor *b) { return add_scaled_inplace("nb_add_", a, b, 1, false); }

nb_tensor *nb_add_scaled_(nb_tensor *a, const nb_tensor *b, double alpha)
{
    return add_scaled_inplace("nb_add_scaled_", a, b, alpha, true);
}

nb_tensor *nb_mul_scalar_(nb_tensor *a, double s)
{
    check_dest("nb_mul_scalar_", a);
    check_numeric("nb_mul_scalar_", a);
    check_scalar("nb_mul_scalar_", a, "scalar", s, false);
    nb__k_unary(NB__U_MUL_S, a, a, s, 0);
    nb__bump_version(a);
    return a;
}

nb_tensor *nb_copy_(nb_tensor *dst, const nb_tensor *src)
{
    check_dest("nb_copy_", dst);
    int scope = nb_scope_begin();
    nb__copy_into(dst, unaliased(dst, src)); /* checks the shapes, bumps the version */
    nb_scope_end(scope);
    return dst;
}

nb_tensor *nb_fill_(nb_tensor *t, double v)
{
    nb__check_inplace("nb_fill_", t);
    nb__fill(t, v); /* bumps the version */
    return t;
}

nb_tensor *nb_zero_(nb_tensor *t)
{
    nb__check_inplace("nb_zero_", t);
    nb__fill(t, 0.0);
    return t;
}
