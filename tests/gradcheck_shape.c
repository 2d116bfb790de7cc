/* gradcheck_shape.c — gradcheck entries (e_*) of the views, reductions, softmax, indexing, scans,
 * products, sorting and shape ops, with their input-class helpers.
 * Part of tests/test_gradcheck (registry and driver: tests/test_gradcheck.c). */
#include "gradcheck_entries.h"

/* ==== views ===================================================================================== */
FN(f_view, nb_view(x[0], p->shape, p->nd))
FN(f_reshape, nb_reshape(x[0], p->shape, p->nd))
FN(f_transpose, nb_transpose(x[0], p->a, p->b))
FN(f_permute, nb_permute(x[0], p->dims))
FN(f_narrow, nb_narrow(x[0], p->a, p->b, p->c))
FN(f_slice, nb_slice(x[0], p->a, p->b, p->c, (int64_t)p->s))
FN(f_select, nb_select(x[0], p->a, p->b))
FN(f_expand, nb_expand(x[0], p->shape, p->nd))
FN(f_squeeze, nb_squeeze(x[0], p->a))
FN(f_unsqueeze, nb_unsqueeze(x[0], p->a))
FN(f_flatten, nb_flatten(x[0], p->a, p->b))
FN(f_contiguous, nb_contiguous(x[0]))
FN(f_clone, nb_clone(x[0]))
FN(f_to_f64, nb_to_dtype(x[0], NB_F64))

void e_view(gc_run *r)
{
    P p = {0};
    if (layout_class(r)) {
        SH(p, 3, 2, 2);
        CHECK(r, f_view, &p, 1, U(r, -1, 1, 3, 4));
        SH(p, 3, 1, 4);
        CHECK(r, f_view, &p, 1, U(r, -1, 1, 3, 4));
    } else if (r->cls == C_ZERO) {
        SH(p, 0, 2, 2);
        CHECK(r, f_view, &p, 1, U(r, -1, 1, 0, 4));
    } else {
        SH(p, 1);
        CHECK(r, f_view, &p, 1, U0(r, -1, 1));
    }
}

void e_reshape(gc_run *r)
{
    P p = {0};
    if (layout_class(r)) {
        SH(p, 2, 6);
        CHECK(r, f_reshape, &p, 1, U(r, -1, 1, 3, 4));
        SH(p, -1);
        CHECK(r, f_reshape, &p, 1, U(r, -1, 1, 2, 3, 2));
    } else if (r->cls == C_ZERO) {
        SH(p, 2, 0, 2);
        CHECK(r, f_reshape, &p, 1, U(r, -1, 1, 0, 4));
    } else {
        SH(p, 1, 1);
        CHECK(r, f_reshape, &p, 1, U0(r, -1, 1));
    }
}

void e_transpose(gc_run *r)
{
    P p = {.a = 0, .b = 2};
    if (layout_class(r)) {
        CHECK(r, f_transpose, &p, 1, U(r, -1, 1, 3, 4, 2));
        p.a = -1, p.b = 1;
        CHECK(r, f_transpose, &p, 1, U(r, -1, 1, 3, 4));
    } else if (r->cls == C_ZERO) {
        p.a = 0, p.b = 1;
        CHECK(r, f_transpose, &p, 1, U(r, -1, 1, 0, 3));
    } else {
        p.a = 0, p.b = -1;
        CHECK(r, f_transpose, &p, 1, U0(r, -1, 1));
    }
}

void e_permute(gc_run *r)
{
    P p = {.dims = {2, 0, 1}};
    if (layout_class(r))
        CHECK(r, f_permute, &p, 1, U(r, -1, 1, 2, 3, 4));
    else if (r->cls == C_ZERO)
        CHECK(r, f_permute, &p, 1, U(r, -1, 1, 2, 0, 3));
    else
        CHECK(r, f_permute, &p, 1, U0(r, -1, 1));
}

void e_narrow(gc_run *r)
{
    P p = {.a = 1, .b = 1, .c = 3};
    if (layout_class(r)) {
        CHECK(r, f_narrow, &p, 1, U(r, -1, 1, 4, 5));
        p.a = 0, p.b = -2, p.c = 2;
        CHECK(r, f_narrow, &p, 1, U(r, -1, 1, 4, 5));
    } else {
        CHECK(r, f_narrow, &p, 1, U(r, -1, 1, 0, 5));
        p.c = 0;
        CHECK(r, f_narrow, &p, 1, U(r, -1, 1, 3, 5));
    }
}

void e_slice(gc_run *r)
{
    P p = {.a = 1, .b = 1, .c = 6, .s = 2};
    if (layout_class(r)) {
        CHECK(r, f_slice, &p, 1, U(r, -1, 1, 4, 6));
        p.a = 0, p.b = -3, p.c = 100, p.s = 1;
        CHECK(r, f_slice, &p, 1, U(r, -1, 1, 4, 6));
    } else {
        CHECK(r, f_slice, &p, 1, U(r, -1, 1, 0, 6));
        p.b = 4, p.c = 2;
        CHECK(r, f_slice, &p, 1, U(r, -1, 1, 3, 6));
    }
}

void e_select(gc_run *r)
{
    P p = {.a = 1, .b = 2};
    if (layout_class(r)) {
        CHECK(r, f_select, &p, 1, U(r, -1, 1, 3, 4));
        p.a = 0, p.b = -1;
        CHECK(r, f_select, &p, 1, U(r, -1, 1, 3, 4));
        CHECK(r, f_select, &p, 1, U(r, -1, 1, 3)); /* 0-dim result */
    } else {
        CHECK(r, f_select, &p, 1, U(r, -1, 1, 0, 4));
    }
}

void e_expand(gc_run *r)
{
    P p = {0};
    if (layout_class(r)) {
        SH(p, 4, 3, 2);
        CHECK(r, f_expand, &p, 1, U(r, -1, 1, 3, 2));
        SH(p, 3, -1, 4);
        CHECK(r, f_expand, &p, 1, U(r, -1, 1, 3, 2, 1));
    } else if (r->cls == C_BCAST) {
        SH(p, 2, 3, 4);
        CHECK(r, f_expand, &p, 1, U(r, -1, 1, 3, 1));
        SH(p, 2, 3, 4);
        CHECK(r, f_expand, &p, 1, U(r, -1, 1, 1, 3, 1));
    } else if (r->cls == C_ZERO) {
        SH(p, 0, 4);
        CHECK(r, f_expand, &p, 1, U(r, -1, 1, 0, 1));
        SH(p, 3, 0);
        CHECK(r, f_expand, &p, 1, U(r, -1, 1, 3, 1));
    } else {
        SH(p, 2, 3);
        CHECK(r, f_expand, &p, 1, U0(r, -1, 1));
    }
}

void e_squeeze(gc_run *r)
{
    P p = {.a = 1};
    if (layout_class(r)) {
        CHECK(r, f_squeeze, &p, 1, U(r, -1, 1, 3, 1, 4));
        CHECK(r, f_squeeze, &p, 1, U(r, -1, 1, 3, 4)); /* not size 1: same shape */
    } else if (r->cls == C_ZERO) {
        CHECK(r, f_squeeze, &p, 1, U(r, -1, 1, 0, 1));
    } else {
        p.a = 0;
        CHECK(r, f_squeeze, &p, 1, U0(r, -1, 1));
    }
}

void e_unsqueeze(gc_run *r)
{
    P p = {.a = 1};
    if (layout_class(r)) {
        CHECK(r, f_unsqueeze, &p, 1, U(r, -1, 1, 3, 4));
        p.a = -1;
        CHECK(r, f_unsqueeze, &p, 1, U(r, -1, 1, 3, 4));
    } else if (r->cls == C_ZERO) {
        CHECK(r, f_unsqueeze, &p, 1, U(r, -1, 1, 0, 3));
    } else {
        p.a = 0;
        CHECK(r, f_unsqueeze, &p, 1, U0(r, -1, 1));
    }
}

void e_flatten(gc_run *r)
{
    P p = {.a = 0, .b = 1};
    if (layout_class(r)) {
        CHECK(r, f_flatten, &p, 1, U(r, -1, 1, 2, 3, 4));
        p.a = 1, p.b = -1;
        CHECK(r, f_flatten, &p, 1, U(r, -1, 1, 2, 3, 4));
    } else if (r->cls == C_ZERO) {
        CHECK(r, f_flatten, &p, 1, U(r, -1, 1, 2, 0, 3));
    } else {
        CHECK(r, f_flatten, &p, 1, U0(r, -1, 1));
    }
}

static void simple_unary_shapes(gc_run *r, nb_gradcheck_fn f, void *ctx)
{
    if (layout_class(r))
        CHECK(r, f, ctx, 1, U(r, -1, 1, 3, 4));
    else if (r->cls == C_ZERO)
        CHECK(r, f, ctx, 1, U(r, -1, 1, 0, 3));
    else
        CHECK(r, f, ctx, 1, U0(r, -1, 1));
}
void e_contiguous(gc_run *r) { simple_unary_shapes(r, f_contiguous, NULL); }
void e_clone(gc_run *r) { simple_unary_shapes(r, f_clone, NULL); }
void e_to_dtype(gc_run *r) { simple_unary_shapes(r, f_to_f64, NULL); }

/* ==== reductions ================================================================================ */
static nb_tensor *f_reduce(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    P *p = c;
    return p->red(x[0], p->ndims ? p->dims : NULL, p->ndims, p->keep);
}
static nb_tensor *f_var(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    P *p = c;
    return (p->a ? nb_std : nb_var)(x[0], p->ndims ? p->dims : NULL, p->ndims, p->b, p->keep);
}
static nb_tensor *f_max(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    P *p = c;
    nb_tensor *idx = NULL; /* gradcheck calls f inside a scope: the scope owns idx */
    return (p->b ? nb_min : nb_max)(x[0], p->a, p->keep, p->c ? &idx : NULL);
}
static nb_tensor *f_softmax(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    P *p = c;
    return (p->b ? nb_log_softmax : nb_softmax)(x[0], p->a);
}

/* sum / mean / logsumexp: all dims, one dim, two dims with keepdim. */
static void reduce_shapes(gc_run *r, nb_gradcheck_fn f, P p)
{
    if (layout_class(r)) {
        p.ndims = 0, p.keep = false;
        CHECK(r, f, &p, 1, U(r, -1, 1, 3, 4));
        DIMS(p, 1);
        CHECK(r, f, &p, 1, U(r, -1, 1, 3, 4));
        DIMS(p, 0, 2);
        p.keep = true;
        CHECK(r, f, &p, 1, U(r, -1, 1, 2, 3, 4));
        DIMS(p, -1);
        CHECK(r, f, &p, 1, U(r, -1, 1, 2, 3, 4));
    } else if (r->cls == C_ZERO) {
        DIMS(p, 1);
        CHECK(r, f, &p, 1, U(r, -1, 1, 0, 4));
        p.keep = true;
        CHECK(r, f, &p, 1, U(r, -1, 1, 0, 4));
    } else {
        p.ndims = 0;
        CHECK(r, f, &p, 1, U0(r, -1, 1));
        DIMS(p, 0);
        CHECK(r, f, &p, 1, U0(r, -1, 1));
    }
}
void e_sum(gc_run *r)
{
    reduce_shapes(r, f_reduce, (P){.red = nb_sum});
    if (r->cls == C_ZERO) { /* reducing the empty dim: zeros */
        P p = {.red = nb_sum};
        DIMS(p, 0);
        CHECK(r, f_reduce, &p, 1, U(r, -1, 1, 0, 4));
        p.ndims = 0;
        CHECK(r, f_reduce, &p, 1, U(r, -1, 1, 0, 4));
    }
}
void e_mean(gc_run *r) { reduce_shapes(r, f_reduce, (P){.red = nb_mean}); }
void e_logsumexp(gc_run *r) { reduce_shapes(r, f_reduce, (P){.red = nb_logsumexp}); }

static void var_shapes(gc_run *r, int is_std)
{
    P p = {.a = is_std, .b = 1};
    if (layout_class(r)) {
        DIMS(p, 1);
        CHECK(r, f_var, &p, 1, U(r, -1, 1, 3, 4));
        p.ndims = 0, p.b = 0;
        CHECK(r, f_var, &p, 1, U(r, -1, 1, 3, 4));
        DIMS(p, 0, 2);
        p.keep = true, p.b = 1;
        CHECK(r, f_var, &p, 1, U(r, -1, 1, 2, 3, 4));
    } else if (r->cls == C_ZERO) {
        DIMS(p, 1);
        CHECK(r, f_var, &p, 1, U(r, -1, 1, 0, 4));
    } else { /* var only: std of one value has a kink at 0 */
        p.b = 0;
        CHECK(r, f_var, &p, 1, U0(r, -1, 1));
    }
}
void e_var(gc_run *r) { var_shapes(r, 0); }
void e_std(gc_run *r) { var_shapes(r, 1); }

static void max_shapes(gc_run *r, int is_min)
{
    P p = {.a = 1, .b = is_min};
#define D(...) vals(r, NB_DIMS(__VA_ARGS__), K_DISTINCT, -2, 2)
    if (layout_class(r)) {
        CHECK(r, f_max, &p, 1, D(3, 4));
        p.a = 0, p.keep = true, p.c = 1;
        CHECK(r, f_max, &p, 1, D(3, 4));
        p.a = -1, p.keep = false;
        CHECK(r, f_max, &p, 1, D(2, 3, 4));
    } else if (r->cls == C_ZERO) {
        CHECK(r, f_max, &p, 1, D(0, 4));
    } else {
        p.a = 0;
        CHECK(r, f_max, &p, 1, vals(r, NB_SCALAR, K_DISTINCT, -2, 2));
    }
#undef D
}
void e_max(gc_run *r) { max_shapes(r, 0); }
void e_min(gc_run *r) { max_shapes(r, 1); }

static void softmax_shapes(gc_run *r, int is_log)
{
    P p = {.a = 1, .b = is_log};
    if (layout_class(r)) {
        CHECK(r, f_softmax, &p, 1, U(r, -2, 2, 3, 4));
        p.a = 0;
        CHECK(r, f_softmax, &p, 1, U(r, -2, 2, 3, 4));
        p.a = -1;
        CHECK(r, f_softmax, &p, 1, U(r, -2, 2, 2, 3, 4));
    } else if (r->cls == C_ZERO) {
        CHECK(r, f_softmax, &p, 1, U(r, -2, 2, 0, 4));
    } else {
        p.a = 0;
        CHECK(r, f_softmax, &p, 1, U0(r, -2, 2));
    }
}
void e_softmax(gc_run *r) { softmax_shapes(r, 0); }
void e_log_softmax(gc_run *r) { softmax_shapes(r, 1); }

/* ==== indexing ================================================================================== */
FN(f_index_select, nb_index_select(x[0], p->a, x[1]))
FN(f_gather, nb_gather(x[0], p->a, x[1]))
FN(f_scatter_add, nb_scatter_add(x[0], p->a, x[1], x[2]))
FN(f_embedding, nb_embedding(x[0], x[1]))
FN(f_cat, nb_cat(x, n, p->a))
FN(f_stack, nb_stack(x, n, p->a))
FN(f_tril, (p->b ? nb_triu : nb_tril)(x[0], p->a))

void e_index_select(gc_run *r)
{
    P p = {.a = 0};
    if (layout_class(r)) {
        CHECK(r, f_index_select, &p, 1, U(r, -1, 1, 5, 3), IDX(NB_I64, NB_DIMS(4), 4, 0, 4, 2));
        p.a = 1;
        CHECK(r, f_index_select, &p, 1, U(r, -1, 1, 3, 5), IDX(NB_I32, NB_DIMS(3), 1, 1, 3));
    } else {
        CHECK(r, f_index_select, &p, 1, U(r, -1, 1, 5, 3), IDX(NB_I64, NB_DIMS(0), 0));
        p.a = 1;
        CHECK(r, f_index_select, &p, 1, U(r, -1, 1, 0, 3), IDX(NB_I64, NB_DIMS(2), 2, 0));
    }
}

void e_gather(gc_run *r)
{
    P p = {.a = 1};
    if (layout_class(r)) {
        CHECK(r, f_gather, &p, 1, U(r, -1, 1, 3, 4), IDX(NB_I64, NB_DIMS(3, 2), 3, 0, 1, 1, 2, 0));
        p.a = 0;
        CHECK(r, f_gather, &p, 1, U(r, -1, 1, 3, 4), IDX(NB_I64, NB_DIMS(2, 4), 2, 0, 1, 2, 0, 0, 2, 1));
    } else {
        p.a = 0;
        CHECK(r, f_gather, &p, 1, U(r, -1, 1, 3, 4), IDX(NB_I64, NB_DIMS(0, 4), 0));
    }
}

void e_scatter_add(gc_run *r)
{
    P p = {.a = 1};
    if (layout_class(r)) {
        CHECK(r, f_scatter_add, &p, 5, U(r, -1, 1, 3, 5), IDX(NB_I64, NB_DIMS(3, 2), 4, 0, 1, 1, 2, 4),
              U(r, -1, 1, 3, 3));
        p.a = 0;
        CHECK(r, f_scatter_add, &p, 5, U(r, -1, 1, 4, 3), IDX(NB_I64, NB_DIMS(2, 3), 3, 0, 3, 3, 1, 0),
              U(r, -1, 1, 2, 3));
    } else {
        CHECK(r, f_scatter_add, &p, 5, U(r, -1, 1, 3, 5), IDX(NB_I64, NB_DIMS(0, 2), 0), U(r, -1, 1, 0, 2));
    }
}

void e_embedding(gc_run *r)
{
    if (layout_class(r)) {
        CHECK(r, f_embedding, NULL, 1, U(r, -1, 1, 6, 3), IDX(NB_I64, NB_DIMS(2, 3), 5, 0, 5, 2, 2, 1));
        CHECK(r, f_embedding, NULL, 1, U(r, -1, 1, 6, 3), IDX(NB_I32, NB_DIMS(4), 3, 3, 0, 4));
    } else if (r->cls == C_ZERO) {
        CHECK(r, f_embedding, NULL, 1, U(r, -1, 1, 6, 3), IDX(NB_I64, NB_DIMS(0), 0));
        CHECK(r, f_embedding, NULL, 1, U(r, -1, 1, 6, 0), IDX(NB_I64, NB_DIMS(2), 1, 4));
    } else {
        CHECK(r, f_embedding, NULL, 1, U(r, -1, 1, 6, 3), IDX(NB_I64, NB_SCALAR, 4));
    }
}

void e_cat(gc_run *r)
{
    P p = {.a = 0};
    if (layout_class(r)) {
        CHECK(r, f_cat, &p, 7, U(r, -1, 1, 2, 3), U(r, -1, 1, 1, 3), U(r, -1, 1, 4, 3));
        p.a = -1;
        CHECK(r, f_cat, &p, 3, U(r, -1, 1, 3, 2), U(r, -1, 1, 3, 1));
    } else {
        CHECK(r, f_cat, &p, 7, U(r, -1, 1, 2, 3), U(r, -1, 1, 0, 3), U(r, -1, 1, 1, 3));
        CHECK(r, f_cat, &p, 3, U(r, -1, 1, 0, 3), U(r, -1, 1, 0, 3));
    }
}

void e_stack(gc_run *r)
{
    P p = {.a = 0};
    if (layout_class(r)) {
        CHECK(r, f_stack, &p, 7, U(r, -1, 1, 2, 3), U(r, -1, 1, 2, 3), U(r, -1, 1, 2, 3));
        p.a = 2;
        CHECK(r, f_stack, &p, 3, U(r, -1, 1, 2, 3), U(r, -1, 1, 2, 3));
        p.a = 1;
        CHECK(r, f_stack, &p, 3, U(r, -1, 1, 2, 3), U(r, -1, 1, 2, 3));
    } else if (r->cls == C_ZERO) {
        CHECK(r, f_stack, &p, 3, U(r, -1, 1, 0, 3), U(r, -1, 1, 0, 3));
    } else {
        CHECK(r, f_stack, &p, 7, U0(r, -1, 1), U0(r, -1, 1), U0(r, -1, 1));
    }
}

static void tri_shapes(gc_run *r, int upper)
{
    P p = {.a = 0, .b = upper};
    if (layout_class(r)) {
        CHECK(r, f_tril, &p, 1, U(r, -1, 1, 4, 4));
        p.a = 1;
        CHECK(r, f_tril, &p, 1, U(r, -1, 1, 3, 5));
        p.a = -1;
        CHECK(r, f_tril, &p, 1, U(r, -1, 1, 2, 5, 3));
    } else {
        CHECK(r, f_tril, &p, 1, U(r, -1, 1, 0, 3));
        CHECK(r, f_tril, &p, 1, U(r, -1, 1, 2, 0, 3));
    }
}
void e_tril(gc_run *r) { tri_shapes(r, 0); }
void e_triu(gc_run *r) { tri_shapes(r, 1); }

/* ==== scans, products, norms, sorting, shape ops (autograd/ops_scan.c, ops_shape.c) ============= */
FN(f_cumsum, nb_cumsum(x[0], p->a))
FN(f_cumprod, nb_cumprod(x[0], p->a))
FN(f_prod, p->b ? nb_prod_all(x[0]) : nb_prod(x[0], p->a, p->keep))
FN(f_amax, (p->b ? nb_amin : nb_amax)(x[0], p->ndims ? p->dims : NULL, p->ndims, p->keep))
FN(f_norm, nb_norm(x[0], p->s, p->ndims ? p->dims : NULL, p->ndims, p->keep))
FN(f_sort, nb_sort(x[0], p->a, p->b, NULL))
FN(f_topk, nb_topk(x[0], p->c, p->a, p->b, true, NULL))
FN(f_outer, nb_outer(x[0], x[1]))
FN(f_pad, nb_pad(x[0], p->shape, p->nd, p->b ? NB_PAD_REFLECT : NB_PAD_CONSTANT, p->s))
FN(f_repeat, nb_repeat(x[0], p->shape, p->nd))
FN(f_flip, nb_flip(x[0], p->ndims ? p->dims : NULL, p->ndims))
FN(f_roll, nb_roll(x[0], p->shape, p->nd, p->ndims ? p->dims : NULL, p->ndims))

/* Distinct values (no ties: max/min, sort and the inf-norm stay differentiable). */
#define DV(r, lo, hi, ...) vals(r, NB_DIMS(__VA_ARGS__), K_DISTINCT, lo, hi)
#define DV0(r, lo, hi) vals(r, NB_SCALAR, K_DISTINCT, lo, hi)

/* cumsum / cumprod along dim 1, 0 and -1; cumprod also with zeros in the input. */
static void scan_shapes(gc_run *r, nb_gradcheck_fn f, bool zeros)
{
    P p = {.a = 1};
    if (layout_class(r)) {
        CHECK(r, f, &p, 1, U(r, -1.5, 1.5, 3, 4));
        p.a = 0;
        CHECK(r, f, &p, 1, U(r, -1.5, 1.5, 3, 4));
        p.a = -1;
        CHECK(r, f, &p, 1, U(r, -1.5, 1.5, 2, 3, 4));
        if (zeros) { /* one zero, then two zeros in a line */
            CHECK(r, f, &p, 1, ints(r->dt, NB_DIMS(2, 5), (const double[]){0.5, 0, 1.5, -2, 0.7, 1.1, 0, -0.9, 0, 1.3}));
        }
    } else if (r->cls == C_ZERO) {
        CHECK(r, f, &p, 1, U(r, -1, 1, 0, 4));
        p.a = 0;
        CHECK(r, f, &p, 1, U(r, -1, 1, 0, 4));
    } else {
        p.a = 0;
        CHECK(r, f, &p, 1, U0(r, -1, 1));
    }
}
void e_cumsum(gc_run *r) { scan_shapes(r, f_cumsum, false); }
void e_cumprod(gc_run *r) { scan_shapes(r, f_cumprod, true); }

void e_prod(gc_run *r)
{
    P p = {.a = 1};
    if (layout_class(r)) {
        CHECK(r, f_prod, &p, 1, U(r, -1.5, 1.5, 3, 4));
        p.a = 0, p.keep = true;
        CHECK(r, f_prod, &p, 1, U(r, -1.5, 1.5, 2, 3, 4));
        p.b = 1;
        CHECK(r, f_prod, &p, 1, U(r, -1.5, 1.5, 2, 3));
        p.b = 0, p.a = 1, p.keep = false; /* rows with no, one and two zeros */
        CHECK(r, f_prod, &p, 1, ints(r->dt, NB_DIMS(3, 3), (const double[]){0.5, -1.2, 1.5, 0, 0.7, 1.1, 0, -0.9, 0}));
        p.b = 1;
        CHECK(r, f_prod, &p, 1, ints(r->dt, NB_DIMS(2, 2), (const double[]){0.5, -1.2, 0, 0.7}));
    } else if (r->cls == C_ZERO) {
        CHECK(r, f_prod, &p, 1, U(r, -1, 1, 0, 4));
        p.a = 0;
        CHECK(r, f_prod, &p, 1, U(r, -1, 1, 0, 4));
    } else {
        p.a = 0;
        CHECK(r, f_prod, &p, 1, U0(r, -1, 1));
        p.b = 1;
        CHECK(r, f_prod, &p, 1, U0(r, -1, 1));
    }
}

static void amax_shapes(gc_run *r, int is_min)
{
    P p = {.b = is_min};
    if (layout_class(r)) {
        DIMS(p, 1);
        CHECK(r, f_amax, &p, 1, DV(r, -2, 2, 3, 4));
        DIMS(p, 0, 2);
        p.keep = true;
        CHECK(r, f_amax, &p, 1, DV(r, -2, 2, 2, 3, 4));
        p.ndims = 0, p.keep = false;
        CHECK(r, f_amax, &p, 1, DV(r, -2, 2, 3, 4));
    } else if (r->cls == C_ZERO) {
        DIMS(p, 1);
        CHECK(r, f_amax, &p, 1, DV(r, -2, 2, 0, 4));
    } else {
        CHECK(r, f_amax, &p, 1, DV0(r, -2, 2));
    }
}
void e_amax(gc_run *r) { amax_shapes(r, 0); }
void e_amin(gc_run *r) { amax_shapes(r, 1); }

/* p = 1, 2, inf; inputs away from 0 (the 1-norm's kink) and without ties of |x| (inf-norm). */
void e_norm(gc_run *r)
{
    static const double ps[] = {1, 2, INFINITY};
    for (int i = 0; i < 3; i++) {
        P p = {.s = ps[i]};
        if (layout_class(r)) {
            DIMS(p, 1);
            CHECK(r, f_norm, &p, 1, DV(r, -1.3, 2, 3, 4));
            DIMS(p, 0, 2);
            p.keep = true;
            CHECK(r, f_norm, &p, 1, DV(r, -1.3, 2, 2, 3, 4));
            p.ndims = 0, p.keep = false;
            CHECK(r, f_norm, &p, 1, DV(r, -1.3, 2, 3, 4));
        } else if (r->cls == C_ZERO) {
            DIMS(p, 1);
            CHECK(r, f_norm, &p, 1, DV(r, -1.3, 2, 0, 4));
        } else {
            CHECK(r, f_norm, &p, 1, DV0(r, 0.5, 2));
        }
    }
}

void e_sort(gc_run *r)
{
    P p = {.a = 1};
    if (layout_class(r)) {
        CHECK(r, f_sort, &p, 1, DV(r, -2, 2, 3, 5));
        p.a = 0, p.b = 1;
        CHECK(r, f_sort, &p, 1, DV(r, -2, 2, 4, 3));
    } else if (r->cls == C_ZERO) {
        CHECK(r, f_sort, &p, 1, DV(r, -2, 2, 0, 4));
    } else {
        p.a = 0;
        CHECK(r, f_sort, &p, 1, DV0(r, -2, 2));
    }
}

void e_topk(gc_run *r)
{
    P p = {.a = 1, .b = 1, .c = 2};
    if (layout_class(r)) {
        CHECK(r, f_topk, &p, 1, DV(r, -2, 2, 3, 5));
        p.a = 0, p.b = 0, p.c = 3;
        CHECK(r, f_topk, &p, 1, DV(r, -2, 2, 4, 3));
    } else if (r->cls == C_ZERO) {
        CHECK(r, f_topk, &p, 1, DV(r, -2, 2, 0, 4));
    } else {
        p.a = 0, p.c = 1;
        CHECK(r, f_topk, &p, 1, DV0(r, -2, 2));
    }
}

void e_outer(gc_run *r)
{
    P p = {0};
    if (layout_class(r))
        CHECK(r, f_outer, &p, 3, U(r, -1, 1, 3), U(r, -1, 1, 4));
    else
        CHECK(r, f_outer, &p, 3, U(r, -1, 1, 0), U(r, -1, 1, 4));
}

void e_pad(gc_run *r)
{
    P p = {.s = 0.5};
    if (layout_class(r)) {
        SH(p, 1, 2);
        CHECK(r, f_pad, &p, 1, U(r, -1, 1, 3, 4));
        SH(p, 1, -1, 2, 0);
        CHECK(r, f_pad, &p, 1, U(r, -1, 1, 2, 3, 4));
        p.b = 1; /* reflect: edges are summed into */
        SH(p, 2, 3);
        CHECK(r, f_pad, &p, 1, U(r, -1, 1, 3, 4));
        SH(p, 1, 2, 2, 1);
        CHECK(r, f_pad, &p, 1, U(r, -1, 1, 2, 3, 4));
    } else if (r->cls == C_ZERO) {
        SH(p, 1, 2);
        CHECK(r, f_pad, &p, 1, U(r, -1, 1, 0, 4));
    } else {
        p.nd = 0;
        CHECK(r, f_pad, &p, 1, U0(r, -1, 1));
    }
}

void e_repeat(gc_run *r)
{
    P p = {0};
    if (layout_class(r)) {
        SH(p, 2, 1, 3);
        CHECK(r, f_repeat, &p, 1, U(r, -1, 1, 3, 4));
        SH(p, 2, 3);
        CHECK(r, f_repeat, &p, 1, U(r, -1, 1, 3, 4));
    } else if (r->cls == C_ZERO) {
        SH(p, 2, 3);
        CHECK(r, f_repeat, &p, 1, U(r, -1, 1, 0, 4));
    } else {
        SH(p, 2, 3);
        CHECK(r, f_repeat, &p, 1, U0(r, -1, 1));
    }
}

void e_flip(gc_run *r)
{
    P p = {0};
    if (layout_class(r)) {
        DIMS(p, 0, 2);
        CHECK(r, f_flip, &p, 1, U(r, -1, 1, 2, 3, 4));
        DIMS(p, -1);
        CHECK(r, f_flip, &p, 1, U(r, -1, 1, 3, 4));
    } else if (r->cls == C_ZERO) {
        DIMS(p, 0, 1);
        CHECK(r, f_flip, &p, 1, U(r, -1, 1, 0, 4));
    } else {
        DIMS(p, 0);
        CHECK(r, f_flip, &p, 1, U0(r, -1, 1));
    }
}

void e_roll(gc_run *r)
{
    P p = {0};
    if (layout_class(r)) {
        SH(p, 1, -2);
        DIMS(p, 0, 1);
        CHECK(r, f_roll, &p, 1, U(r, -1, 1, 3, 4));
        SH(p, 5); /* flattened */
        p.ndims = 0;
        CHECK(r, f_roll, &p, 1, U(r, -1, 1, 3, 4));
    } else if (r->cls == C_ZERO) {
        SH(p, 1);
        DIMS(p, 1);
        CHECK(r, f_roll, &p, 1, U(r, -1, 1, 0, 4));
    } else {
        SH(p, 3);
        CHECK(r, f_roll, &p, 1, U0(r, -1, 1));
    }
}
#undef DV
#undef DV0
