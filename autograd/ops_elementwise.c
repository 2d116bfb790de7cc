/* ops_elementwise.c — elementwise ops: the pointwise table's ops (tensor/nb_pointwise.def, whose
 * rows hold each op's forward and backward formulas; generated here), gelu, comparisons, where,
 * masked_fill and the in-place ops. Each checks its inputs, runs a kernel of
 * tensor/k_elementwise.c and records its node. Broadcast inputs get their gradient summed back
 * with nb__sum_to. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__k_elementwise.h"

#include <math.h>
#include <string.h>

_Static_assert((int)NB_CMP_EQ == (int)NB__CMP_EQ && (int)NB_CMP_NE == (int)NB__CMP_NE &&
                   (int)NB_CMP_LT == (int)NB__CMP_LT && (int)NB_CMP_LE == (int)NB__CMP_LE &&
                   (int)NB_CMP_GT == (int)NB__CMP_GT && (int)NB_CMP_GE == (int)NB__CMP_GE,
               "nb_cmp and nb__cmp must list the comparisons in one order");

/* ---- helpers -------------------------------------------------------------------------------- */
static void check_numeric(const char *op, const nb_tensor *t)
{
    nb__check_compute(op, t);
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

static void check_bool(const char *op, const char *what, const nb_tensor *t)
{
    if (t->dtype != NB_BOOL)
        nb__fail("%s: %s must be a bool tensor, got %s", op, what, nb_dtype_name(t->dtype));
}

/* ---- the pointwise table (tensor/nb_pointwise.def) ------------------------------------------- */
/* Every row's op is generated here: its descriptor (one backward function per arity, the formula
 * being the row's gradient kernel), a public one-line nb_<name> calling pw_unary / pw_binary, and
 * the row's facts in k_pw. Parameter checks named by the rows: */
static void chk_none(const char *op, const nb_tensor *t, double p0, double p1) { (void)op, (void)t, (void)p0, (void)p1; }

static void chk_int_params(const char *op, const nb_tensor *t, double p0, double p1)
{
    (void)p1;
    check_scalar(op, t, "scalar", p0, false);
}

static void chk_clamp_bounds(const char *op, const nb_tensor *t, double lo, double hi)
{
    if (isnan(lo) || isnan(hi))
        nb__fail("%s: bound %s is NaN (lo %g, hi %g)", op, isnan(lo) ? "lo" : "hi", lo, hi);
    check_scalar(op, t, "bound", lo, true);
    check_scalar(op, t, "bound", hi, true);
}

enum { PW_NUM, PW_FLT, PW_BOOL };
enum { PW_SAVES_NONE, PW_SAVES_X, PW_SAVES_Y };
/* Binary rows: which inputs each gradient reads (bit 0 a, bit 1 b). */
#define PW_NEEDS(da, db) {PW_M_##da, PW_M_##db}
#define PW_M_NONE 0
#define PW_M_A 1
#define PW_M_B 2
#define PW_M_AB 3
typedef struct {
    const char *name;  /* "nb_neg" */
    const nb__op *op;  /* NULL: not differentiable, or kernels of a hand-written op */
    int cls, saves;    /* saves: unary rows */
    int needs[2];      /* binary rows: what da and db read */
    bool bool_out;
    const char *da, *db; /* the gradient expressions as the table writes them */
    void (*check)(const char *op, const nb_tensor *t, double p0, double p1);
} pw_desc;

static void pw_unary_backward(nb__node *n, nb_tensor *g, nb_tensor **gin);
static void pw_binary_backward(nb__node *n, nb_tensor *g, nb_tensor **gin);
#define NB_PW_UNARY(name, ...) NB__DEFINE_OP(name, pw_unary_backward);
#define NB_PW_BINARY(name, ...) NB__DEFINE_OP(name, pw_binary_backward);
#include "nb_pointwise.def"

static const pw_desc k_pw[NB__PW_COUNT] = {
#define NB_PW_UNARY(name, dt, np, pa, pb, chk, fwd, fk, sv, dx, bk, test) \
    [NB__PW_##name] = {"nb_" #name, &nb__op_##name, PW_##dt, PW_SAVES_##sv, {0, 0}, false, #dx, NULL, chk_##chk},
#define NB_PW_UNARY_K(name, dt, np, pa, pb, chk, fwd, fk, sv, dx, bk, test) \
    [NB__PW_##name] = {"nb_" #name, NULL, PW_##dt, PW_SAVES_##sv, {0, 0}, false, #dx, NULL, chk_##chk},
#define NB_PW_UNARY_ND(name, dt, out, fwd, fk) \
    [NB__PW_##name] = {"nb_" #name, NULL, PW_##dt, 0, {0, 0}, PW_BOOL_##out, NULL, NULL, chk_none},
#define NB_PW_BINARY(name, dt, fwd, fk, sv, da, db, bk, test) \
    [NB__PW_##name] = {"nb_" #name, &nb__op_##name, PW_##dt, 0, PW_NEEDS sv, false, #da, #db, chk_none},
#define NB_PW_BINARY_K(name, dt, fwd, fk, sv, da, db, bk, test) \
    [NB__PW_##name] = {"nb_" #name, NULL, PW_##dt, 0, PW_NEEDS sv, false, #da, #db, chk_none},
#define NB_PW_BINARY_ND(name, dt, fwd, fk) [NB__PW_##name] = {"nb_" #name, NULL, PW_##dt, 0, {0, 0}, false, NULL, NULL, chk_none},
#define PW_BOOL_SAME false
#define PW_BOOL_BOOL true
#include "nb_pointwise.def"
};

static void check_class(const pw_desc *d, const nb_tensor *t)
{
    nb__check_live(d->name, t); /* debug mode: a released tensor is misuse */
    if (d->cls == PW_FLT)
        nb__check_float(d->name, t);
    else if (d->cls == PW_BOOL)
        check_bool(d->name, "the input", t);
    else
        check_numeric(d->name, t);
}

/* A gradient written exactly `g` in the table is g itself: no kernel runs. */
static bool grad_is_g(const char *expr) { return expr[0] == 'g' && expr[1] == '\0'; }

/* Unary rows: iargs[0] the row, fargs[0..1] its parameters, saved 0 the row's x or y (if any). */
static void pw_unary_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb__pw_op k = (nb__pw_op)n->iargs[0];
    if (grad_is_g(k_pw[k].da)) {
        gin[0] = nb__new_ref(g);
        return;
    }
    nb_tensor *r = nb__tensor_new(g->dtype, g->shape, g->ndim);
    nb__k_pointwise_grad(k, 0, r, g, n->n_saved ? nb__saved(n, 0) : g, NULL, n->fargs[0], n->fargs[1]);
    gin[0] = r;
}

static nb_tensor *pw_unary_op(const nb__op *op, nb__pw_op k, const nb_tensor *t, double p0, double p1)
{
    const pw_desc *d = &k_pw[k];
    check_class(d, t);
    d->check(d->name, t, p0, p1);
    nb_tensor *out = nb__tensor_new(d->bool_out ? NB_BOOL : t->dtype, t->shape, t->ndim);
    nb__k_pointwise(k, out, t, NULL, p0, p1);
    nb__node *n = op ? nb__record(op, out, 1, &t) : NULL;
    if (n) {
        n->iargs[0] = k;
        n->fargs[0] = p0;
        n->fargs[1] = p1;
        if (d->saves == PW_SAVES_X)
            nb__save(n, t);
        else if (d->saves == PW_SAVES_Y)
            nb__save_output(n, out);
    }
    return out;
}
static nb_tensor *pw_unary(nb__pw_op k, const nb_tensor *t, double p0, double p1)
{
    return pw_unary_op(k_pw[k].op, k, t, p0, p1);
}

/* Binary rows: iargs[0] the row, iargs[1] / iargs[2] the saved slots of a / b (or -1): an input is
 * saved when the gradient of an input that needs one reads it. A broadcast input gets its
 * gradient summed back with nb__sum_to. */
static void pw_binary_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb__pw_op k = (nb__pw_op)n->iargs[0];
    for (int i = 0; i < 2; i++) {
        if (!nb__needs_grad(n, i))
            continue;
        if (grad_is_g(i ? k_pw[k].db : k_pw[k].da)) {
            gin[i] = nb__sum_to(g, n, i);
            continue;
        }
        int need = k_pw[k].needs[i];
        const nb_tensor *a = need & PW_M_A ? nb__saved(n, (int)n->iargs[1]) : g;
        const nb_tensor *b = need & PW_M_B ? nb__saved(n, (int)n->iargs[2]) : g;
        nb_tensor *r = nb__tensor_new(g->dtype, g->shape, g->ndim);
        nb__k_pointwise_grad(k, i, r, g, a, b, 0, 0);
        gin[i] = nb__sum_to(r, n, i);
    }
}

static nb_tensor *pw_binary(nb__pw_op k, const nb_tensor *a, const nb_tensor *b)
{
    const pw_desc *d = &k_pw[k];
    nb__check_live(d->name, b);
    nb__check_same_dtype(d->name, a, b);
    check_class(d, a);
    int64_t sh[NB_MAX_DIMS];
    int nd = nb__broadcast_shape(d->name, a->ndim, a->shape, b->ndim, b->shape, sh);
    nb_tensor *out = nb__tensor_new(a->dtype, sh, nd);
    nb__k_pointwise(k, out, a, b, 0, 0);
    nb__node *n = d->op ? nb__record(d->op, out, 2, (const nb_tensor *[]){a, b}) : NULL;
    if (n) {
        n->iargs[0] = k;
        int need = (nb__needs_grad(n, 0) ? d->needs[0] : 0) | (nb__needs_grad(n, 1) ? d->needs[1] : 0);
        const nb_tensor *ins[2] = {a, b};
        for (int j = 0; j < 2; j++) {
            n->iargs[1 + j] = -1;
            if (need & (1 << j)) {
                n->iargs[1 + j] = n->n_saved;
                nb__save(n, ins[j]);
            }
        }
    }
    return out;
}

/* The public functions, one line per row. */
#define PW_DECL_0(a, b)
#define PW_DECL_1(a, b) , double a
#define PW_DECL_2(a, b) , double a, double b
#define PW_VAL_0(a, b) 0, 0
#define PW_VAL_1(a, b) a, 0
#define PW_VAL_2(a, b) a, b
#define NB_PW_UNARY(name, dt, np, pa, pb, ...) \
    nb_tensor *nb_##name(const nb_tensor *t PW_DECL_##np(pa, pb)) { return pw_unary(NB__PW_##name, t, PW_VAL_##np(pa, pb)); }
#define NB_PW_UNARY_ND(name, ...) \
    nb_tensor *nb_##name(const nb_tensor *t) { return pw_unary(NB__PW_##name, t, 0, 0); }
#define NB_PW_BINARY(name, ...) \
    nb_tensor *nb_##name(const nb_tensor *a, const nb_tensor *b) { return pw_binary(NB__PW_##name, a, b); }
#define NB_PW_BINARY_ND NB_PW_BINARY
#include "nb_pointwise.def"

/* ---- hand-written ops on table kernels -------------------------------------------------------- */
/* gelu: the rows gelu_erf / gelu_tanh; the backward is theirs (pw_unary_backward). */
NB__DEFINE_OP(gelu, pw_unary_backward);

nb_tensor *nb_gelu(const nb_tensor *t, nb_gelu_approx approx)
{
    nb__check_float("nb_gelu", t);
    if (approx != NB_GELU_ERF && approx != NB_GELU_TANH)
        nb__fail("nb_gelu: invalid approximation %d (NB_GELU_ERF or NB_GELU_TANH)", (int)approx);
    return pw_unary_op(&nb__op_gelu, approx == NB_GELU_ERF ? NB__PW_gelu_erf : NB__PW_gelu_tanh, t, 0, 0);
}

nb_tensor *nb_eq(const nb_tensor *a, const nb_tensor *b) { return nb_compare(a, b, NB_CMP_EQ); }
nb_tensor *nb_ne(const nb_tensor *a, const nb_tensor *b) { return nb_compare(a, b, NB_CMP_NE); }
nb_tensor *nb_lt(const nb_tensor *a, const nb_tensor *b) { return nb_compare(a, b, NB_CMP_LT); }
nb_tensor *nb_le(const nb_tensor *a, const nb_tensor *b) { return nb_compare(a, b, NB_CMP_LE); }
nb_tensor *nb_gt(const nb_tensor *a, const nb_tensor *b) { return nb_compare(a, b, NB_CMP_GT); }
nb_tensor *nb_ge(const nb_tensor *a, const nb_tensor *b) { return nb_compare(a, b, NB_CMP_GE); }

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
    nb_tensor *out = nb__tensor_new(NB_BOOL, sh, nd);
    nb__k_compare((nb__cmp)op, out, a, b);
    return out;
}

nb_tensor *nb_compare_scalar(const nb_tensor *a, double s, nb_cmp op)
{
    nb__check_compute("nb_compare_scalar", a);
    check_cmp("nb_compare_scalar", op);
    nb_tensor *out = nb__tensor_new(NB_BOOL, a->shape, a->ndim);
    nb__k_compare_scalar((nb__cmp)op, out, a, s);
    return out;
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
    nb_tensor *out = nb__tensor_new(a->dtype, sh, nd);
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
    nb__check_compute("nb_masked_fill", t);
    check_bool("nb_masked_fill", "mask", mask);
    if (!nb__broadcastable_to(mask->ndim, mask->shape, t->ndim, t->shape))
        nb__fail("nb_masked_fill: mask of shape %s cannot be broadcast to shape %s", NB__SHAPE(mask),
                 NB__SHAPE(t));
    if (t->dtype != NB_BOOL)
        check_scalar("nb_masked_fill", t, "value", value, false);
    int scope = nb_scope_begin();
    nb_tensor *v = nb_scalar(value, t->dtype);
    nb_tensor *out = nb__tensor_new(t->dtype, t->shape, t->ndim);
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
    nb__k_pointwise(scaled ? NB__PW_add_scaled : NB__PW_add, a, a, unaliased(a, b), alpha, 0);
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
    nb__k_pointwise(NB__PW_mul_scalar, a, a, NULL, s, 0);
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
