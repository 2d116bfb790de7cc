/* test_gradcheck.c — the gradient-check suite.
 *
 * Every op of the registry (nb_op_count / nb_op_name_at) has an entry below that builds the op from
 * its inputs and gradchecks it (nb_gradcheck, float64, PyTorch's settings) on each input class it
 * lists: contiguous, transposed, sliced with an offset (NaN in the gaps), broadcast (the input is
 * small and the op broadcasts it; both sides for binary ops), zero-size and 0-dim; plus a float32
 * pass (nb_gradcheck_opts_f32) on contiguous inputs. A registered op without an entry fails the
 * suite, so no op lands without its gradient check.
 *
 *   tests/test_gradcheck           the Check suite
 *   tests/test_gradcheck --table   one row per op: classes checked, max abs / rel error
 */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"
#include "nb_nn.h"
#include "nb__tensor.h" /* refcounts: nb_gradcheck must leave none behind */

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ==== input classes and the run state ========================================================= */
enum { C_CONTIG, C_TRANSP, C_SLICED, C_BCAST, C_ZERO, C_0DIM, C_COUNT };
#define CB(c) (1u << (c))
#define LAYOUTS (CB(C_CONTIG) | CB(C_TRANSP) | CB(C_SLICED))
#define ALL (LAYOUTS | CB(C_BCAST) | CB(C_ZERO) | CB(C_0DIM))
#define NO_BCAST (ALL & ~CB(C_BCAST))
static const char *const k_class_names[C_COUNT] = {"contig", "transp", "sliced", "bcast", "zero", "0dim"};

typedef struct {
    int cls;
    nb_dtype dt;
    uint64_t seed;
    int checks;
    double max_abs, max_rel;
    bool failed;
    char msg[700];
} gc_run;

typedef struct {
    const char *name;
    unsigned classes;
    void (*run)(gc_run *r);
} gc_entry;

/* ==== inputs ==================================================================================== */
enum { K_UNIF, K_GRID5, K_GRID0, K_DISTINCT };

/* Values of kind k in [lo, hi): uniform; on a 0.1 grid +0.05 (never within 0.05 of a multiple of
 * 0.1: away from kinks at 0, clamp bounds and ties with K_GRID0); on the grid; all distinct with
 * gaps >= (hi-lo)/n (no ties for max/min). */
static nb_tensor *vals(gc_run *r, const int64_t *sh, int nd, int k, double lo, double hi)
{
    nb_generator g;
    nb_generator_seed(&g, 1000 + 7919 * ++r->seed);
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= sh[i];
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        double u = lo + (hi - lo) * nb_generator_uniform(&g);
        v[i] = k == K_GRID5 ? floor(u * 10) / 10 + 0.05 : k == K_GRID0 ? round(u * 10) / 10 : u;
        if (k == K_DISTINCT)
            v[i] = lo + (hi - lo) * ((double)i + 0.5) / (double)n;
    }
    if (k == K_DISTINCT)
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)nb_generator_below(&g, (uint64_t)i + 1);
            double t = v[i];
            v[i] = v[j], v[j] = t;
        }
    nb_tensor *t = nb_from_doubles(v, sh, nd, r->dt);
    free(v);
    return t;
}
#define U(r, lo, hi, ...) vals(r, NB_DIMS(__VA_ARGS__), K_UNIF, lo, hi)
#define U0(r, lo, hi) vals(r, NB_SCALAR, K_UNIF, lo, hi)

static nb_tensor *ints(nb_dtype dt, const int64_t *sh, int nd, const double *v)
{
    return tu_tensor(dt, sh, nd, v);
}

static nb_tensor *mask(gc_run *r, const int64_t *sh, int nd)
{
    nb_generator g;
    nb_generator_seed(&g, 77 + ++r->seed);
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= sh[i];
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = nb_generator_uniform(&g) < 0.5;
    nb_tensor *t = nb_from_doubles(v, sh, nd, NB_BOOL);
    free(v);
    return t;
}

static void shape_text(const nb_tensor *t, char *buf, size_t n)
{
    nb_shape_str(nb_tensor_shape(t), nb_tensor_ndim(t), buf, n);
}

/* Lays the inputs out for the run's class, marks the float inputs in `diff` as requiring grad,
 * gradchecks f and records the errors. Inputs are borrowed (scope-owned plain tensors). */
static void check(gc_run *r, nb_gradcheck_fn f, void *ctx, int n, nb_tensor **in, unsigned diff)
{
    nb_tensor *args[8], *own[8] = {0};
    if (n > 8) /* no ck_assert here: --table runs this outside Check */
        abort();
    for (int i = 0; i < n; i++) {
        args[i] = in[i];
        if ((r->cls == C_TRANSP || r->cls == C_SLICED) && nb_tensor_ndim(in[i]) >= 1)
            args[i] = own[i] = tu_relayout(in[i], r->cls == C_TRANSP ? TU_TRANSPOSED : TU_SLICED);
        if (diff & (1u << i))
            nb_tensor_requires_grad_(args[i], true);
    }
    nb_gradcheck_opts o32 = nb_gradcheck_opts_f32();
    nb_gradcheck_result res = nb_gradcheck(f, ctx, args, n, r->dt == NB_F32 ? &o32 : NULL);
    r->checks++;
    if (res.max_abs_err > r->max_abs)
        r->max_abs = res.max_abs_err;
    if (res.max_rel_err > r->max_rel)
        r->max_rel = res.max_rel_err;
    if (!res.ok && !r->failed) {
        char shapes[300] = "", one[64];
        for (int i = 0; i < n; i++) {
            shape_text(args[i], one, sizeof one);
            strncat(shapes, i ? " x " : "", sizeof shapes - strlen(shapes) - 1);
            strncat(shapes, one, sizeof shapes - strlen(shapes) - 1);
        }
        r->failed = true;
        snprintf(r->msg, sizeof r->msg, "%s %s check #%d, inputs %s: %s", k_class_names[r->cls],
                 nb_dtype_name(r->dt), r->checks, shapes, res.message);
    }
    for (int i = 0; i < n; i++)
        nb_tensor_release(own[i]);
}
#define CHECK(r, f, ctx, diff, ...) \
    check(r, f, ctx, (int)(sizeof((nb_tensor *[]){__VA_ARGS__}) / sizeof(nb_tensor *)), \
          (nb_tensor *[]){__VA_ARGS__}, diff)

/* Op parameters passed to the gradcheck functions. */
typedef struct {
    int nd;
    int64_t shape[NB_MAX_DIMS];
    int a, b, c;
    int ndims;
    int dims[4];
    bool keep;
    double s, s2;
    nb_tensor *(*u)(const nb_tensor *);
    nb_tensor *(*bin)(const nb_tensor *, const nb_tensor *);
    nb_tensor *(*red)(const nb_tensor *, const int *, int, bool);
} P;

static bool layout_class(const gc_run *r) { return r->cls == C_CONTIG || r->cls == C_TRANSP || r->cls == C_SLICED; }

/* A gradcheck function of the inputs x[0..n) and the op parameters p. */
#define FN(name, expr)                                                       \
    static nb_tensor *name(nb_tensor *const *x, int n, void *c)             \
    {                                                                        \
        P *p = c;                                                            \
        (void)x, (void)n, (void)p;                                           \
        return expr;                                                         \
    }

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

#define SH(p, ...)                                                          \
    ((p).nd = (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),    \
     memcpy((p).shape, (int64_t[]){__VA_ARGS__}, sizeof((int64_t[]){__VA_ARGS__})))

static void e_view(gc_run *r)
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

static void e_reshape(gc_run *r)
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

static void e_transpose(gc_run *r)
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

static void e_permute(gc_run *r)
{
    P p = {.dims = {2, 0, 1}};
    if (layout_class(r))
        CHECK(r, f_permute, &p, 1, U(r, -1, 1, 2, 3, 4));
    else if (r->cls == C_ZERO)
        CHECK(r, f_permute, &p, 1, U(r, -1, 1, 2, 0, 3));
    else
        CHECK(r, f_permute, &p, 1, U0(r, -1, 1));
}

static void e_narrow(gc_run *r)
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

static void e_slice(gc_run *r)
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

static void e_select(gc_run *r)
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

static void e_expand(gc_run *r)
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

static void e_squeeze(gc_run *r)
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

static void e_unsqueeze(gc_run *r)
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

static void e_flatten(gc_run *r)
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
static void e_contiguous(gc_run *r) { simple_unary_shapes(r, f_contiguous, NULL); }
static void e_clone(gc_run *r) { simple_unary_shapes(r, f_clone, NULL); }
static void e_to_dtype(gc_run *r) { simple_unary_shapes(r, f_to_f64, NULL); }

/* ==== elementwise =============================================================================== */
FN(f_binary, p->bin(x[0], x[1]))
FN(f_gelu, nb_gelu(x[0], (nb_gelu_approx)p->a))
FN(f_pow, nb_pow_scalar(x[0], p->s))
FN(f_clamp, nb_clamp(x[0], p->s, p->s2))
FN(f_where, nb_where(x[0], x[1], x[2]))
FN(f_masked_fill, nb_masked_fill(x[0], x[1], p->s))

/* Unary elementwise shapes: [3, 4] and [2, 3, 2] for the layouts, [0, 3], []. */
static void unary_shapes(gc_run *r, nb_gradcheck_fn f, P *p, int k, double lo, double hi)
{
    if (layout_class(r)) {
        CHECK(r, f, p, 1, vals(r, NB_DIMS(3, 4), k, lo, hi));
        CHECK(r, f, p, 1, vals(r, NB_DIMS(2, 3, 2), k, lo, hi));
    } else if (r->cls == C_ZERO) {
        CHECK(r, f, p, 1, vals(r, NB_DIMS(0, 3), k, lo, hi));
    } else {
        CHECK(r, f, p, 1, vals(r, NB_SCALAR, k, lo, hi));
    }
}
static void e_gelu(gc_run *r)
{
    P p = {.a = NB_GELU_ERF};
    unary_shapes(r, f_gelu, &p, K_UNIF, -3, 3);
    p.a = NB_GELU_TANH;
    unary_shapes(r, f_gelu, &p, K_UNIF, -3, 3);
}

static void e_pow_scalar(gc_run *r)
{
    P p = {.s = 2.5};
    unary_shapes(r, f_pow, &p, K_UNIF, 0.5, 2);
    p.s = -1.5;
    unary_shapes(r, f_pow, &p, K_UNIF, 0.5, 2);
    p.s = 3;
    unary_shapes(r, f_pow, &p, K_UNIF, -2, 2);
}

static void e_clamp(gc_run *r)
{
    P p = {.s = -0.5, .s2 = 0.3}; /* bounds on the 0.1 grid; values at x.x5 */
    unary_shapes(r, f_clamp, &p, K_GRID5, -1, 1);
    p.s = -INFINITY;
    unary_shapes(r, f_clamp, &p, K_GRID5, -1, 1);
    p.s = -0.2, p.s2 = INFINITY;
    unary_shapes(r, f_clamp, &p, K_GRID5, -1, 1);
}

/* Binary shapes: same shape for the layouts; (S,1)x(S,), (M,1,S)x(1,M,S), ()x(S,S), (S,S)x()
 * broadcast; (0,3)x(0,3), (0,1,3)x(0,4,3), (0,3)x(3) zero-size; ()x(). */
static void binary_shapes(gc_run *r, P *p, int ka, double la, double ha, int kb, double lb, double hb)
{
    nb_gradcheck_fn f = f_binary;
#define AB(sa, sb) CHECK(r, f, p, 3, vals(r, sa, ka, la, ha), vals(r, sb, kb, lb, hb))
    if (layout_class(r)) {
        AB(NB_DIMS(3, 4), NB_DIMS(3, 4));
        AB(NB_DIMS(2, 3, 2), NB_DIMS(2, 3, 2));
    } else if (r->cls == C_BCAST) {
        AB(NB_DIMS(3, 1), NB_DIMS(3));
        AB(NB_DIMS(3), NB_DIMS(3, 1));
        AB(NB_DIMS(2, 1, 3), NB_DIMS(1, 2, 3));
        AB(NB_SCALAR, NB_DIMS(3, 3));
        AB(NB_DIMS(3, 3), NB_SCALAR);
        AB(NB_DIMS(2, 3, 4), NB_DIMS(3, 1));
    } else if (r->cls == C_ZERO) {
        AB(NB_DIMS(0, 3), NB_DIMS(0, 3));
        AB(NB_DIMS(0, 1, 3), NB_DIMS(0, 4, 3));
        AB(NB_DIMS(0, 3), NB_DIMS(3));
    } else {
        AB(NB_SCALAR, NB_SCALAR);
    }
#undef AB
}
/* The rows of tensor/nb_pointwise.def: an e_<name> per differentiable row from its test domain
 * (unary: NO_BCAST classes on unary_shapes; binary: every class on binary_shapes), except rows
 * whose domain is CUSTOM (their e_<name> is written above). */
#define PW_K_SMOOTH K_UNIF
#define PW_K_KINKS K_GRID5
#define PW_K_GRID K_GRID0
#define PW_TARGS_0
#define PW_TARGS_1 , p->s
#define PW_TARGS_2 , p->s, p->s2
#define PW_CALL(m, ...) m(__VA_ARGS__)
#define PW_UNPACK(...) __VA_ARGS__
#define PW_UTEST(name, np, kind, lo, hi, t0, t1) PW_UTEST_##kind(name, np, kind, lo, hi, t0, t1)
#define PW_UTEST_CUSTOM(...)
#define PW_UTEST_SMOOTH(name, np, kind, lo, hi, t0, t1) \
    FN(f_pw_##name, nb_##name(x[0] PW_TARGS_##np)) \
    static void e_##name(gc_run *r) { P p = {.s = t0, .s2 = t1}; unary_shapes(r, f_pw_##name, &p, PW_K_##kind, lo, hi); }
#define PW_UTEST_KINKS PW_UTEST_SMOOTH
#define PW_BTEST(name, ka, la, ha, kb, lb, hb) \
    static void e_##name(gc_run *r) { P p = {.bin = nb_##name}; binary_shapes(r, &p, PW_K_##ka, la, ha, PW_K_##kb, lb, hb); }
#define NB_PW_UNARY(name, dt, np, pa, pb, chk, fwd, fk, sv, dx, bk, test) PW_CALL(PW_UTEST, name, np, PW_UNPACK test)
#define NB_PW_BINARY(name, dt, fwd, fk, sv, da, db, bk, test) PW_CALL(PW_BTEST, name, PW_UNPACK test)
#include "nb_pointwise.def"

static void e_where(gc_run *r)
{
    P p = {0};
#define W(sc, sa, sb) CHECK(r, f_where, &p, 6, mask(r, sc), vals(r, sa, K_UNIF, -1, 1), vals(r, sb, K_UNIF, -1, 1))
    if (layout_class(r)) {
        W(NB_DIMS(3, 4), NB_DIMS(3, 4), NB_DIMS(3, 4));
    } else if (r->cls == C_BCAST) {
        W(NB_DIMS(3, 1), NB_DIMS(4), NB_DIMS(3, 4));
        W(NB_DIMS(3, 4), NB_SCALAR, NB_DIMS(1, 4));
        W(NB_DIMS(4), NB_DIMS(3, 1), NB_SCALAR);
    } else if (r->cls == C_ZERO) {
        W(NB_DIMS(0, 4), NB_DIMS(0, 4), NB_DIMS(4));
    } else {
        W(NB_SCALAR, NB_SCALAR, NB_SCALAR);
    }
#undef W
}

static void e_masked_fill(gc_run *r)
{
    P p = {.s = 0.25};
    if (layout_class(r)) {
        CHECK(r, f_masked_fill, &p, 1, U(r, -1, 1, 3, 4), mask(r, NB_DIMS(3, 4)));
    } else if (r->cls == C_BCAST) {
        CHECK(r, f_masked_fill, &p, 1, U(r, -1, 1, 3, 4), mask(r, NB_DIMS(4)));
        CHECK(r, f_masked_fill, &p, 1, U(r, -1, 1, 3, 4), mask(r, NB_DIMS(3, 1)));
        CHECK(r, f_masked_fill, &p, 1, U(r, -1, 1, 3, 4), mask(r, NB_SCALAR));
    } else if (r->cls == C_ZERO) {
        CHECK(r, f_masked_fill, &p, 1, U(r, -1, 1, 0, 4), mask(r, NB_DIMS(4)));
    } else {
        CHECK(r, f_masked_fill, &p, 1, U0(r, -1, 1), mask(r, NB_SCALAR));
    }
}

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

#define DIMS(p, ...)                                                      \
    ((p).ndims = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)),       \
     memcpy((p).dims, (int[]){__VA_ARGS__}, sizeof((int[]){__VA_ARGS__})))

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
static void e_sum(gc_run *r)
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
static void e_mean(gc_run *r) { reduce_shapes(r, f_reduce, (P){.red = nb_mean}); }
static void e_logsumexp(gc_run *r) { reduce_shapes(r, f_reduce, (P){.red = nb_logsumexp}); }

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
static void e_var(gc_run *r) { var_shapes(r, 0); }
static void e_std(gc_run *r) { var_shapes(r, 1); }

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
static void e_max(gc_run *r) { max_shapes(r, 0); }
static void e_min(gc_run *r) { max_shapes(r, 1); }

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
static void e_softmax(gc_run *r) { softmax_shapes(r, 0); }
static void e_log_softmax(gc_run *r) { softmax_shapes(r, 1); }

/* ==== matmul ==================================================================================== */
FN(f_matmul, nb_matmul(x[0], x[1]))

static void e_matmul(gc_run *r)
{
#define MM(sa, sb) CHECK(r, f_matmul, NULL, 3, vals(r, sa, K_UNIF, -1, 1), vals(r, sb, K_UNIF, -1, 1))
    if (layout_class(r)) {
        MM(NB_DIMS(3, 4), NB_DIMS(4, 5));
        MM(NB_DIMS(4), NB_DIMS(4)); /* dot → 0-dim */
        MM(NB_DIMS(4), NB_DIMS(4, 5));
        MM(NB_DIMS(3, 4), NB_DIMS(4));
        MM(NB_DIMS(2, 3, 4), NB_DIMS(2, 4, 5));
    } else if (r->cls == C_BCAST) {
        MM(NB_DIMS(2, 1, 3, 4), NB_DIMS(1, 2, 4, 5));
        MM(NB_DIMS(3, 4), NB_DIMS(2, 4, 5));
        MM(NB_DIMS(2, 3, 4), NB_DIMS(4, 5));
        MM(NB_DIMS(2, 3, 4), NB_DIMS(4));
    } else {
        MM(NB_DIMS(0, 4), NB_DIMS(4, 5));
        MM(NB_DIMS(3, 0), NB_DIMS(0, 5));
        MM(NB_DIMS(3, 4), NB_DIMS(4, 0));
        MM(NB_DIMS(0, 3, 4), NB_DIMS(4, 2));
    }
#undef MM
}

/* ==== indexing ================================================================================== */
FN(f_index_select, nb_index_select(x[0], p->a, x[1]))
FN(f_gather, nb_gather(x[0], p->a, x[1]))
FN(f_scatter_add, nb_scatter_add(x[0], p->a, x[1], x[2]))
FN(f_embedding, nb_embedding(x[0], x[1]))
FN(f_cat, nb_cat(x, n, p->a))
FN(f_stack, nb_stack(x, n, p->a))
FN(f_tril, (p->b ? nb_triu : nb_tril)(x[0], p->a))

#define IDX(dt, sh, ...) ints(dt, sh, (const double[]){__VA_ARGS__})

static void e_index_select(gc_run *r)
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

static void e_gather(gc_run *r)
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

static void e_scatter_add(gc_run *r)
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

static void e_embedding(gc_run *r)
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

static void e_cat(gc_run *r)
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

static void e_stack(gc_run *r)
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
static void e_tril(gc_run *r) { tri_shapes(r, 0); }
static void e_triu(gc_run *r) { tri_shapes(r, 1); }

/* ==== fused nn ops ============================================================================== */
static nb_tensor *f_layer_norm(nb_tensor *const *x, int n, void *c)
{
    (void)c;
    return nb_layer_norm(x[0], n > 1 ? x[1] : NULL, n > 2 ? x[2] : NULL, 1e-5);
}
static nb_tensor *f_cross_entropy(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    return nb_cross_entropy(x[0], x[1], c);
}
static nb_tensor *f_dropout(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    P *p = c;
    nb_generator g; /* re-seeded per call: every evaluation draws the same mask */
    nb_generator_seed(&g, 4242);
    return nb_dropout(x[0], p->s, p->a, &g);
}

static void e_layer_norm(gc_run *r)
{
    if (layout_class(r)) {
        CHECK(r, f_layer_norm, NULL, 7, U(r, -2, 2, 3, 4), U(r, 0.5, 1.5, 4), U(r, -1, 1, 4));
        CHECK(r, f_layer_norm, NULL, 7, U(r, -2, 2, 2, 3, 5), U(r, 0.5, 1.5, 5), U(r, -1, 1, 5));
        CHECK(r, f_layer_norm, NULL, 1, U(r, -2, 2, 3, 4)); /* no affine */
    } else {
        CHECK(r, f_layer_norm, NULL, 7, U(r, -2, 2, 0, 4), U(r, 0.5, 1.5, 4), U(r, -1, 1, 4));
    }
}

static void e_cross_entropy(gc_run *r)
{
    nb_cross_entropy_opts o = nb_cross_entropy_opts_default();
    nb_tensor *t3 = IDX(NB_I64, NB_DIMS(3), 4, 0, 4);
    if (layout_class(r)) {
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 3, 5), t3);
        o.reduction = NB_REDUCTION_SUM;
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 3, 5), t3);
        o.reduction = NB_REDUCTION_NONE;
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 3, 5), IDX(NB_I32, NB_DIMS(3), 1, 2, 3));
        o.reduction = NB_REDUCTION_MEAN, o.ignore_index = 0;
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 3, 5), t3);
        o.ignore_index = -100, o.label_smoothing = 0.1;
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 3, 5), t3);
    } else if (r->cls == C_ZERO) {
        o.reduction = NB_REDUCTION_SUM;
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 0, 5), IDX(NB_I64, NB_DIMS(0), 0));
        o.reduction = NB_REDUCTION_NONE;
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 0, 5), IDX(NB_I64, NB_DIMS(0), 0));
    } else { /* logits [C] against a 0-dim target */
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 5), IDX(NB_I64, NB_SCALAR, 3));
    }
}

static void e_dropout(gc_run *r)
{
    P p = {.s = 0.4, .a = 1};
    unary_shapes(r, f_dropout, &p, K_UNIF, -1, 1);
    p.a = 0; /* eval mode: the identity */
    unary_shapes(r, f_dropout, &p, K_UNIF, -1, 1);
}

/* nb_linear: x [..., in], weight [out, in], bias [out] (when given) */
static nb_tensor *f_fused_linear(nb_tensor *const *x, int n, void *c)
{
    (void)c;
    return nb_linear(x[0], x[1], n > 2 ? x[2] : NULL);
}

static void e_fused_linear(gc_run *r)
{
    if (layout_class(r)) {
        CHECK(r, f_fused_linear, NULL, 7, U(r, -1, 1, 3, 4), U(r, -1, 1, 5, 4), U(r, -1, 1, 5));
        CHECK(r, f_fused_linear, NULL, 3, U(r, -1, 1, 2, 3, 4), U(r, -1, 1, 2, 4)); /* no bias */
        CHECK(r, f_fused_linear, NULL, 7, U(r, -1, 1, 4), U(r, -1, 1, 3, 4), U(r, -1, 1, 3)); /* 1-D x */
        CHECK(r, f_fused_linear, NULL, 5, U(r, -1, 1, 3, 4), U(r, -1, 1, 5, 4), U(r, -1, 1, 5)); /* fixed W */
    } else {
        CHECK(r, f_fused_linear, NULL, 7, U(r, -1, 1, 0, 4), U(r, -1, 1, 3, 4), U(r, -1, 1, 3));
        CHECK(r, f_fused_linear, NULL, 7, U(r, -1, 1, 2, 0), U(r, -1, 1, 3, 0), U(r, -1, 1, 3));
        CHECK(r, f_fused_linear, NULL, 3, U(r, -1, 1, 2, 4), U(r, -1, 1, 0, 4));
    }
}

/* nb_scaled_dot_product_attention: q, k, v [B, H, T, D], attn_mask x[3] when given; p.a causal,
 * p.s scale (<= 0: 1/sqrt(D)), p.s2 dropout_p from a generator re-seeded per call (every
 * evaluation draws the same keep flags) */
static nb_tensor *f_sdpa(nb_tensor *const *x, int n, void *c)
{
    P *p = c;
    nb_generator g;
    nb_generator_seed(&g, 4243);
    return nb_scaled_dot_product_attention(x[0], x[1], x[2], n > 3 ? x[3] : NULL, p->s2, p->a, p->s, &g);
}

static void e_sdpa(gc_run *r)
{
    P p = {.a = 1};
    if (layout_class(r)) {
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 2, 2, 3, 4), U(r, -1, 1, 2, 2, 3, 4), U(r, -1, 1, 2, 2, 3, 4));
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 1, 2, 2, 3), U(r, -1, 1, 1, 2, 4, 3), U(r, -1, 1, 1, 2, 4, 3));
        p.s2 = 0.4; /* causal with dropout (GPT's training attention) */
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 2, 2, 3, 4), U(r, -1, 1, 2, 2, 3, 4), U(r, -1, 1, 2, 2, 3, 4));
        p.a = 0, p.s = 0.7, p.s2 = 0; /* no mask, Tq != Tk, Dv != D */
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 1, 2, 3, 2), U(r, -1, 1, 1, 2, 5, 2), U(r, -1, 1, 1, 2, 5, 3));
        CHECK(r, f_sdpa, &p, 5, U(r, -1, 1, 2, 1, 3, 2), U(r, -1, 1, 2, 1, 3, 2), U(r, -1, 1, 2, 1, 3, 2));
        /* full-shape bool mask (some rows lose every key: 0 out, 0 gradient), float mask with its gradient */
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 2, 2, 3, 2), U(r, -1, 1, 2, 2, 4, 2), U(r, -1, 1, 2, 2, 4, 3),
              mask(r, NB_DIMS(2, 2, 3, 4)));
        CHECK(r, f_sdpa, &p, 15, U(r, -1, 1, 1, 2, 3, 2), U(r, -1, 1, 1, 2, 4, 2), U(r, -1, 1, 1, 2, 4, 3),
              U(r, -2, 2, 1, 2, 3, 4));
        p.s2 = 0.3; /* dropout with a bool mask, with a float mask */
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 2, 2, 3, 2), U(r, -1, 1, 2, 2, 4, 2), U(r, -1, 1, 2, 2, 4, 3),
              mask(r, NB_DIMS(2, 2, 3, 4)));
        CHECK(r, f_sdpa, &p, 15, U(r, -1, 1, 1, 2, 3, 2), U(r, -1, 1, 1, 2, 4, 2), U(r, -1, 1, 1, 2, 4, 3),
              U(r, -2, 2, 1, 2, 3, 4));
    } else if (r->cls == C_BCAST) { /* masks broadcast over batch, heads, queries; float ones summed back */
        p.a = 0, p.s = 0.6;
        CHECK(r, f_sdpa, &p, 15, U(r, -1, 1, 2, 2, 3, 2), U(r, -1, 1, 2, 2, 4, 2), U(r, -1, 1, 2, 2, 4, 3),
              U(r, -2, 2, 3, 4));
        CHECK(r, f_sdpa, &p, 15, U(r, -1, 1, 2, 2, 3, 2), U(r, -1, 1, 2, 2, 4, 2), U(r, -1, 1, 2, 2, 4, 3),
              U(r, -2, 2, 2, 1, 1, 4));
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 2, 2, 3, 2), U(r, -1, 1, 2, 2, 4, 2), U(r, -1, 1, 2, 2, 4, 3),
              mask(r, NB_DIMS(1, 2, 1, 4)));
        p.s2 = 0.3;
        CHECK(r, f_sdpa, &p, 15, U(r, -1, 1, 2, 2, 3, 2), U(r, -1, 1, 2, 2, 4, 2), U(r, -1, 1, 2, 2, 4, 3),
              U0(r, -2, 2));
    } else {
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 0, 2, 3, 4), U(r, -1, 1, 0, 2, 3, 4), U(r, -1, 1, 0, 2, 3, 4));
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 1, 2, 0, 4), U(r, -1, 1, 1, 2, 0, 4), U(r, -1, 1, 1, 2, 0, 4));
        p.a = 0, p.s2 = 0.3; /* no keys: every row masked, 0 out */
        CHECK(r, f_sdpa, &p, 15, U(r, -1, 1, 1, 2, 3, 4), U(r, -1, 1, 1, 2, 0, 4), U(r, -1, 1, 1, 2, 0, 4),
              U(r, -1, 1, 3, 0));
    }
}

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
static void e_cumsum(gc_run *r) { scan_shapes(r, f_cumsum, false); }
static void e_cumprod(gc_run *r) { scan_shapes(r, f_cumprod, true); }

static void e_prod(gc_run *r)
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
static void e_amax(gc_run *r) { amax_shapes(r, 0); }
static void e_amin(gc_run *r) { amax_shapes(r, 1); }

/* p = 1, 2, inf; inputs away from 0 (the 1-norm's kink) and without ties of |x| (inf-norm). */
static void e_norm(gc_run *r)
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

static void e_sort(gc_run *r)
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

static void e_topk(gc_run *r)
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

static void e_outer(gc_run *r)
{
    P p = {0};
    if (layout_class(r))
        CHECK(r, f_outer, &p, 3, U(r, -1, 1, 3), U(r, -1, 1, 4));
    else
        CHECK(r, f_outer, &p, 3, U(r, -1, 1, 0), U(r, -1, 1, 4));
}

static void e_pad(gc_run *r)
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

static void e_repeat(gc_run *r)
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

static void e_flip(gc_run *r)
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

static void e_roll(gc_run *r)
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

/* ==== norms, rotary embedding, losses =========================================================== */
#define G5(r, lo, hi, ...) vals(r, NB_DIMS(__VA_ARGS__), K_GRID5, lo, hi)
#define G0(r, lo, hi, ...) vals(r, NB_DIMS(__VA_ARGS__), K_GRID0, lo, hi)
/* p.a normalized_ndim; weight when n > 1 */
static nb_tensor *f_rms_norm(nb_tensor *const *x, int n, void *c)
{
    return nb_rms_norm(x[0], ((P *)c)->a, n > 1 ? x[1] : NULL, 1e-5);
}
static void e_rms_norm(gc_run *r)
{
    P p = {.a = 1};
    if (layout_class(r)) {
        CHECK(r, f_rms_norm, &p, 3, U(r, -2, 2, 3, 4), U(r, 0.5, 1.5, 4));
        CHECK(r, f_rms_norm, &p, 1, U(r, -2, 2, 2, 3, 5)); /* no weight */
        p.a = 2;
        CHECK(r, f_rms_norm, &p, 3, U(r, -2, 2, 2, 3, 4), U(r, 0.5, 1.5, 3, 4));
    } else {
        CHECK(r, f_rms_norm, &p, 3, U(r, -2, 2, 0, 4), U(r, 0.5, 1.5, 4));
    }
}

/* p.a position offset, p.s theta */
static nb_tensor *f_rope(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    return nb_rope(x[0], ((P *)c)->a, ((P *)c)->s);
}
static void e_rope(gc_run *r)
{
    P p = {.a = 0, .s = 10000};
    if (layout_class(r)) {
        CHECK(r, f_rope, &p, 1, U(r, -1, 1, 2, 2, 3, 4));
        p.a = 5, p.s = 100;
        CHECK(r, f_rope, &p, 1, U(r, -1, 1, 1, 2, 3, 6));
    } else {
        CHECK(r, f_rope, &p, 1, U(r, -1, 1, 2, 0, 3, 4));
    }
}

/* p.a groups; weight, bias when n > 2 */
static nb_tensor *f_group_norm(nb_tensor *const *x, int n, void *c)
{
    return nb_group_norm(x[0], ((P *)c)->a, n > 2 ? x[1] : NULL, n > 2 ? x[2] : NULL, 1e-5);
}
static void e_group_norm(gc_run *r)
{
    P p = {.a = 2};
    if (layout_class(r)) {
        CHECK(r, f_group_norm, &p, 7, U(r, -2, 2, 2, 4, 3), U(r, 0.5, 1.5, 4), U(r, -1, 1, 4));
        p.a = 3;
        CHECK(r, f_group_norm, &p, 7, U(r, -2, 2, 2, 6, 2, 2), U(r, 0.5, 1.5, 6), U(r, -1, 1, 6));
        p.a = 1;
        CHECK(r, f_group_norm, &p, 1, U(r, -2, 2, 3, 4)); /* no affine, [N, C] */
    } else {
        CHECK(r, f_group_norm, &p, 7, U(r, -2, 2, 0, 4, 3), U(r, 0.5, 1.5, 4), U(r, -1, 1, 4));
    }
}

/* p.a training; running statistics x[3], x[4] when n > 3 (eval), weight, bias x[1], x[2] */
static nb_tensor *f_batch_norm(nb_tensor *const *x, int n, void *c)
{
    return nb_batch_norm(x[0], n > 3 ? x[3] : NULL, n > 3 ? x[4] : NULL, n > 2 ? x[1] : NULL, n > 2 ? x[2] : NULL,
                         ((P *)c)->a, 0.1, 1e-5);
}
static void e_batch_norm(gc_run *r)
{
    P p = {.a = 1};
    if (layout_class(r)) {
        CHECK(r, f_batch_norm, &p, 7, U(r, -2, 2, 4, 3), U(r, 0.5, 1.5, 3), U(r, -1, 1, 3));
        CHECK(r, f_batch_norm, &p, 7, U(r, -2, 2, 2, 3, 4), U(r, 0.5, 1.5, 3), U(r, -1, 1, 3));
        CHECK(r, f_batch_norm, &p, 1, U(r, -2, 2, 3, 2, 2)); /* no affine */
        p.a = 0; /* eval: running statistics */
        CHECK(r, f_batch_norm, &p, 7, U(r, -2, 2, 2, 3, 4), U(r, 0.5, 1.5, 3), U(r, -1, 1, 3), U(r, -1, 1, 3),
              U(r, 0.5, 2, 3));
    } else {
        CHECK(r, f_batch_norm, &p, 7, U(r, -2, 2, 0, 3, 2), U(r, 0.5, 1.5, 3), U(r, -1, 1, 3));
    }
}

/* p.a loss (0 mse, 1 l1, 2 smooth_l1, 3 huber, 4 kl_div, 5 kl_div log_target), p.b reduction,
 * p.s beta / delta */
static nb_tensor *f_pointwise_loss(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    P *p = c;
    switch (p->a) {
    case 0: return nb_mse_loss(x[0], x[1], p->b);
    case 1: return nb_l1_loss(x[0], x[1], p->b);
    case 2: return nb_smooth_l1_loss(x[0], x[1], p->b, p->s);
    case 3: return nb_huber_loss(x[0], x[1], p->b, p->s);
    case 4: return nb_kl_div(x[0], x[1], p->b, false);
    default: return nb_kl_div(x[0], x[1], p->b, true);
    }
}
/* Input on the 0.1 grid + 0.05, target on the grid: |x - t| stays 0.05 away from the kinks at 0
 * and at beta / delta (multiples of 0.1). */
static void pointwise_loss_shapes(gc_run *r, int loss, double s)
{
    P p = {.a = loss, .s = s};
    double tlo = loss == 4 ? 0.1 : -2, thi = loss == 4 ? 1 : loss == 5 ? 0 : 2;
    if (layout_class(r)) {
        for (p.b = 0; p.b < 3; p.b++)
            CHECK(r, f_pointwise_loss, &p, 3, G5(r, -2, 2, 3, 4), G0(r, tlo, thi, 3, 4));
        p.b = NB_REDUCTION_SUM;
        CHECK(r, f_pointwise_loss, &p, 1, G5(r, -2, 2, 2, 3, 2), G0(r, tlo, thi, 2, 3, 2));
        if (loss >= 4) {
            p.b = NB_REDUCTION_BATCHMEAN;
            CHECK(r, f_pointwise_loss, &p, 3, G5(r, -2, 2, 3, 4), G0(r, tlo, thi, 3, 4));
        }
    } else if (r->cls == C_ZERO) {
        p.b = NB_REDUCTION_SUM;
        CHECK(r, f_pointwise_loss, &p, 3, G5(r, -2, 2, 0, 4), G0(r, tlo, thi, 0, 4));
        p.b = NB_REDUCTION_NONE;
        CHECK(r, f_pointwise_loss, &p, 3, G5(r, -2, 2, 0, 4), G0(r, tlo, thi, 0, 4));
    } else {
        CHECK(r, f_pointwise_loss, &p, 3, vals(r, NB_SCALAR, K_GRID5, -2, 2), vals(r, NB_SCALAR, K_GRID0, tlo, thi));
    }
}
static void e_mse_loss(gc_run *r) { pointwise_loss_shapes(r, 0, 0); }
static void e_l1_loss(gc_run *r) { pointwise_loss_shapes(r, 1, 0); }
static void e_smooth_l1_loss(gc_run *r)
{
    pointwise_loss_shapes(r, 2, 0.5);
    pointwise_loss_shapes(r, 2, 0); /* l1 */
}
static void e_huber_loss(gc_run *r) { pointwise_loss_shapes(r, 3, 0.7); }
static void e_kl_div(gc_run *r)
{
    pointwise_loss_shapes(r, 4, 0);
    pointwise_loss_shapes(r, 5, 0);
}

/* p.b reduction; x[2] weight and x[3] pos_weight when p.a bit 0 / bit 1 */
static nb_tensor *f_bce_logits(nb_tensor *const *x, int n, void *c)
{
    P *p = c;
    nb_tensor *w = (p->a & 1) ? x[2] : NULL, *pw = (p->a & 2) ? x[n - 1] : NULL;
    return nb_binary_cross_entropy_with_logits(x[0], x[1], w, pw, p->b);
}
static void e_bce_logits(gc_run *r)
{
    P p = {.a = 0};
    if (layout_class(r)) {
        for (p.b = 0; p.b < 3; p.b++)
            CHECK(r, f_bce_logits, &p, 3, U(r, -3, 3, 3, 4), U(r, 0, 1, 3, 4));
        p.a = 3, p.b = 0;
        CHECK(r, f_bce_logits, &p, 15, U(r, -3, 3, 3, 4), U(r, 0, 1, 3, 4), U(r, 0.5, 1.5, 3, 1), U(r, 0.5, 3, 4));
        p.a = 2, p.b = 2;
        CHECK(r, f_bce_logits, &p, 7, U(r, -3, 3, 2, 3, 4), U(r, 0, 1, 2, 3, 4), U(r, 0.5, 3, 4));
    } else if (r->cls == C_ZERO) {
        p.a = 3, p.b = NB_REDUCTION_SUM;
        CHECK(r, f_bce_logits, &p, 15, U(r, -3, 3, 0, 4), U(r, 0, 1, 0, 4), U(r, 0.5, 1.5, 4), U(r, 0.5, 3, 4));
    } else {
        CHECK(r, f_bce_logits, &p, 3, U0(r, -3, 3), U0(r, 0, 1));
    }
}

/* p.b reduction, p.c ignore_index; weight x[2] when n > 2 */
static nb_tensor *f_nll_loss(nb_tensor *const *x, int n, void *c)
{
    P *p = c;
    return nb_nll_loss(x[0], x[1], n > 2 ? x[2] : NULL, p->b, p->c);
}
static void e_nll_loss(gc_run *r)
{
    P p = {.b = 0, .c = -100};
    nb_tensor *t3 = IDX(NB_I64, NB_DIMS(3), 4, 0, 2);
    if (layout_class(r)) {
        for (p.b = 0; p.b < 3; p.b++)
            CHECK(r, f_nll_loss, &p, 1, U(r, -3, 0, 3, 5), t3, U(r, 0.5, 2, 5));
        p.b = 0, p.c = 0;
        CHECK(r, f_nll_loss, &p, 1, U(r, -3, 0, 3, 5), t3);
        p.c = -100;
        CHECK(r, f_nll_loss, &p, 1, U(r, -3, 0, 2, 4, 3), IDX(NB_I32, NB_DIMS(2, 3), 3, 0, 1, 2, 2, 3), U(r, 0.5, 2, 4));
        CHECK(r, f_nll_loss, &p, 1, U(r, -3, 0, 4), IDX(NB_I64, NB_SCALAR, 2)); /* [C] input */
    } else {
        p.b = NB_REDUCTION_SUM;
        CHECK(r, f_nll_loss, &p, 1, U(r, -3, 0, 0, 5), IDX(NB_I64, NB_DIMS(0), 0));
    }
}

/* nb_cross_entropy with probability targets (and label smoothing p.s); p.b reduction */
static nb_tensor *f_ce_prob(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    P *p = c;
    nb_cross_entropy_opts o = {p->b, -100, p->s};
    return nb_cross_entropy(x[0], x[1], &o);
}
static void e_ce_prob(gc_run *r)
{
    P p = {.b = 0};
    if (layout_class(r)) {
        for (p.b = 0; p.b < 3; p.b++)
            CHECK(r, f_ce_prob, &p, 3, U(r, -2, 2, 3, 5), U(r, 0, 1, 3, 5));
        p.b = 0, p.s = 0.2;
        CHECK(r, f_ce_prob, &p, 3, U(r, -2, 2, 2, 4, 3), U(r, 0, 1, 2, 4, 3));
        p.b = 2;
        CHECK(r, f_ce_prob, &p, 3, U(r, -2, 2, 5), U(r, 0, 1, 5)); /* [C] */
    } else {
        p.b = NB_REDUCTION_SUM;
        CHECK(r, f_ce_prob, &p, 3, U(r, -2, 2, 0, 5), U(r, 0, 1, 0, 5));
    }
}
/* ==== convolution and pooling ================================================================== */
/* nb_conv1d/2d: x, weight, bias (when given); ctx an nb_conv_opts */
static nb_tensor *f_conv2d(nb_tensor *const *x, int n, void *c) { return nb_conv2d(x[0], x[1], n > 2 ? x[2] : NULL, c); }
static nb_tensor *f_conv1d(nb_tensor *const *x, int n, void *c) { return nb_conv1d(x[0], x[1], n > 2 ? x[2] : NULL, c); }

static void e_conv2d(gc_run *r)
{
    nb_conv_opts o = {{2, 1}, {1, 0}, {1, 2}, 2, false}; /* groups 2, strided, padded, dilated */
    if (layout_class(r)) {
        CHECK(r, f_conv2d, &o, 7, U(r, -1, 1, 2, 4, 5, 6), U(r, -1, 1, 6, 2, 3, 2), U(r, -1, 1, 6));
        CHECK(r, f_conv2d, &o, 5, U(r, -1, 1, 1, 4, 4, 5), U(r, -1, 1, 2, 2, 2, 2), U(r, -1, 1, 2)); /* fixed W */
        nb_conv_opts same = nb_conv_opts_default(); /* even kernel: the extra pad goes right/bottom */
        same.padding_same = true, same.dilation[1] = 2;
        CHECK(r, f_conv2d, &same, 7, U(r, -1, 1, 2, 2, 4, 5), U(r, -1, 1, 3, 2, 2, 4), U(r, -1, 1, 3));
        nb_conv_opts one = nb_conv_opts_default(); /* 1x1: the input is its own im2col */
        CHECK(r, f_conv2d, &one, 3, U(r, -1, 1, 2, 3, 3, 4), U(r, -1, 1, 2, 3, 1, 1));
    } else {
        CHECK(r, f_conv2d, &o, 7, U(r, -1, 1, 0, 4, 5, 6), U(r, -1, 1, 6, 2, 3, 2), U(r, -1, 1, 6));
    }
}

static void e_conv1d(gc_run *r)
{
    nb_conv_opts o = {{2, 1}, {1, 0}, {2, 1}, 2, false};
    if (layout_class(r)) {
        CHECK(r, f_conv1d, &o, 7, U(r, -1, 1, 2, 4, 9), U(r, -1, 1, 6, 2, 3), U(r, -1, 1, 6));
        nb_conv_opts same = nb_conv_opts_default();
        same.padding_same = true;
        CHECK(r, f_conv1d, &same, 7, U(r, -1, 1, 2, 3, 6), U(r, -1, 1, 2, 3, 4), U(r, -1, 1, 2));
        CHECK(r, f_conv1d, NULL, 3, U(r, -1, 1, 1, 3, 5), U(r, -1, 1, 4, 3, 2)); /* defaults, no bias */
    } else {
        CHECK(r, f_conv1d, &o, 7, U(r, -1, 1, 0, 4, 9), U(r, -1, 1, 6, 2, 3), U(r, -1, 1, 6));
    }
}

/* pooling: ctx a pool_ctx; distinct values (no ties for the max) */
typedef struct {
    int64_t k[2];
    nb_pool_opts o;
} pool_ctx;
static nb_tensor *f_max_pool2d(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    pool_ctx *p = c;
    return nb_max_pool2d(x[0], p->k[0], p->k[1], &p->o);
}
static nb_tensor *f_max_pool1d(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    pool_ctx *p = c;
    return nb_max_pool1d(x[0], p->k[0], &p->o);
}
static nb_tensor *f_avg_pool2d(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    pool_ctx *p = c;
    return nb_avg_pool2d(x[0], p->k[0], p->k[1], &p->o);
}
static nb_tensor *f_avg_pool1d(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    pool_ctx *p = c;
    return nb_avg_pool1d(x[0], p->k[0], &p->o);
}

#define DPV(r, ...) vals(r, NB_DIMS(__VA_ARGS__), K_DISTINCT, -1, 1)

static void pool_shapes(gc_run *r, nb_gradcheck_fn f, bool is_max, bool two_d)
{
    pool_ctx p = {{3, 2}, nb_pool_opts_default()};
    p.o.stride[0] = 2, p.o.padding[0] = 1, p.o.padding[1] = 1;
    if (is_max)
        p.o.dilation[1] = 2;
    if (!layout_class(r)) {
        CHECK(r, f, &p, 1, two_d ? DPV(r, 0, 2, 5, 6) : DPV(r, 0, 2, 7));
        return;
    }
    CHECK(r, f, &p, 1, two_d ? DPV(r, 2, 3, 5, 6) : DPV(r, 2, 3, 7));
    p.o.ceil_mode = true, p.o.count_include_pad = false;
    CHECK(r, f, &p, 1, two_d ? DPV(r, 2, 2, 6, 7) : DPV(r, 2, 2, 8));
    pool_ctx q = {{2, 2}, nb_pool_opts_default()}; /* stride = kernel, ceil mode, unbatched */
    q.o.ceil_mode = true;
    CHECK(r, f, &q, 1, two_d ? DPV(r, 3, 5, 5) : DPV(r, 3, 5));
}
static void e_max_pool2d(gc_run *r) { pool_shapes(r, f_max_pool2d, true, true); }
static void e_max_pool1d(gc_run *r) { pool_shapes(r, f_max_pool1d, true, false); }
static void e_avg_pool2d(gc_run *r) { pool_shapes(r, f_avg_pool2d, false, true); }
static void e_avg_pool1d(gc_run *r) { pool_shapes(r, f_avg_pool1d, false, false); }
#undef DPV

/* ==== perf: fused LSTM recurrence (nn/lstm_op.c) ================================================ */
/* x: gx [T, B, 4H], w_hh [4H, H], then (as n allows) b_hh [4H], h0 and c0 [B, H] */
static nb_tensor *f_lstm_recurrence(nb_tensor *const *x, int n, void *c)
{
    (void)c;
    return nb_lstm_recurrence(x[0], x[1], n > 2 ? x[2] : NULL, n > 3 ? x[3] : NULL, n > 4 ? x[4] : NULL);
}
static void e_lstm_recurrence(gc_run *r)
{
    if (layout_class(r)) {
        CHECK(r, f_lstm_recurrence, NULL, 31, U(r, -1, 1, 3, 2, 8), U(r, -1, 1, 8, 2), U(r, -1, 1, 8),
              U(r, -1, 1, 2, 2), U(r, -1, 1, 2, 2));
        CHECK(r, f_lstm_recurrence, NULL, 3, U(r, -1, 1, 2, 3, 12), U(r, -1, 1, 12, 3)); /* zero state, no bias */
        CHECK(r, f_lstm_recurrence, NULL, 29, U(r, -1, 1, 4, 1, 4), U(r, -1, 1, 4, 1), U(r, -1, 1, 4),
              U(r, -1, 1, 1, 1), U(r, -1, 1, 1, 1)); /* fixed w_hh, H = 1 */
    } else {
        CHECK(r, f_lstm_recurrence, NULL, 31, U(r, -1, 1, 0, 2, 8), U(r, -1, 1, 8, 2), U(r, -1, 1, 8),
              U(r, -1, 1, 2, 2), U(r, -1, 1, 2, 2)); /* T = 0 */
        CHECK(r, f_lstm_recurrence, NULL, 31, U(r, -1, 1, 3, 0, 8), U(r, -1, 1, 8, 2), U(r, -1, 1, 8),
              U(r, -1, 1, 0, 2), U(r, -1, 1, 0, 2)); /* B = 0 */
    }
}

/* ==== the registry ============================================================================== */
static const gc_entry k_entries[] = {
    {"nb_view", NO_BCAST, e_view},
    {"nb_reshape", NO_BCAST, e_reshape},
    {"nb_transpose", NO_BCAST, e_transpose},
    {"nb_permute", NO_BCAST, e_permute},
    {"nb_narrow", LAYOUTS | CB(C_ZERO), e_narrow}, /* a 0-dim tensor has no dim to narrow */
    {"nb_slice", LAYOUTS | CB(C_ZERO), e_slice},
    {"nb_select", LAYOUTS | CB(C_ZERO), e_select},
    {"nb_expand", ALL, e_expand},
    {"nb_squeeze", NO_BCAST, e_squeeze},
    {"nb_unsqueeze", NO_BCAST, e_unsqueeze},
    {"nb_flatten", NO_BCAST, e_flatten},
    {"nb_contiguous", NO_BCAST, e_contiguous},
    {"nb_clone", NO_BCAST, e_clone},
    {"nb_to_dtype", NO_BCAST, e_to_dtype},
    {"nb_gelu", NO_BCAST, e_gelu},
#define NB_PW_UNARY(name, ...) {"nb_" #name, NO_BCAST, e_##name},
#define NB_PW_BINARY(name, ...) {"nb_" #name, ALL, e_##name},
#include "nb_pointwise.def"
    {"nb_where", ALL, e_where},
    {"nb_masked_fill", ALL, e_masked_fill},
    {"nb_sum", NO_BCAST, e_sum},
    {"nb_mean", NO_BCAST, e_mean},
    {"nb_var", NO_BCAST, e_var},
    {"nb_std", LAYOUTS | CB(C_ZERO), e_std}, /* 0-dim: std 0 is a kink */
    {"nb_logsumexp", NO_BCAST, e_logsumexp},
    {"nb_max", NO_BCAST, e_max},
    {"nb_min", NO_BCAST, e_min},
    {"nb_softmax", NO_BCAST, e_softmax},
    {"nb_log_softmax", NO_BCAST, e_log_softmax},
    {"nb_matmul", LAYOUTS | CB(C_BCAST) | CB(C_ZERO), e_matmul}, /* matmul needs >= 1 dim */
    {"nb_index_select", LAYOUTS | CB(C_ZERO), e_index_select},
    {"nb_gather", LAYOUTS | CB(C_ZERO), e_gather},
    {"nb_scatter_add", LAYOUTS | CB(C_ZERO), e_scatter_add},
    {"nb_embedding", NO_BCAST, e_embedding},
    {"nb_cat", LAYOUTS | CB(C_ZERO), e_cat},
    {"nb_stack", NO_BCAST, e_stack},
    {"nb_tril", LAYOUTS | CB(C_ZERO), e_tril}, /* needs >= 2 dims */
    {"nb_triu", LAYOUTS | CB(C_ZERO), e_triu},
    {"nb_layer_norm", LAYOUTS | CB(C_ZERO), e_layer_norm}, /* needs a last dim */
    {"nb_cross_entropy", NO_BCAST, e_cross_entropy},
    {"nb_dropout", NO_BCAST, e_dropout},
    {"nb_linear", LAYOUTS | CB(C_ZERO), e_fused_linear}, /* weight is 2-D */
    {"nb_scaled_dot_product_attention", LAYOUTS | CB(C_BCAST) | CB(C_ZERO), e_sdpa}, /* 4-D; masks broadcast */
    /* scans, products, norms, sorting, shape ops */
    {"nb_cumsum", NO_BCAST, e_cumsum},
    {"nb_cumprod", NO_BCAST, e_cumprod},
    {"nb_prod", NO_BCAST, e_prod},
    {"nb_amax", NO_BCAST, e_amax},
    {"nb_amin", NO_BCAST, e_amin},
    {"nb_norm", NO_BCAST, e_norm},
    {"nb_sort", NO_BCAST, e_sort},
    {"nb_topk", NO_BCAST, e_topk},
    {"nb_outer", LAYOUTS | CB(C_ZERO), e_outer}, /* 1-D inputs only */
    {"nb_pad", NO_BCAST, e_pad},
    {"nb_repeat", NO_BCAST, e_repeat},
    {"nb_flip", NO_BCAST, e_flip},
    {"nb_roll", NO_BCAST, e_roll},
    /* norms, rotary embedding, losses */
    {"nb_rms_norm", LAYOUTS | CB(C_ZERO), e_rms_norm},
    {"nb_rope", LAYOUTS | CB(C_ZERO), e_rope}, /* [..., T, hs] */
    {"nb_group_norm", LAYOUTS | CB(C_ZERO), e_group_norm}, /* [N, C, *] */
    {"nb_batch_norm", LAYOUTS | CB(C_ZERO), e_batch_norm},
    {"nb_mse_loss", NO_BCAST, e_mse_loss},
    {"nb_l1_loss", NO_BCAST, e_l1_loss},
    {"nb_smooth_l1_loss", NO_BCAST, e_smooth_l1_loss},
    {"nb_huber_loss", NO_BCAST, e_huber_loss},
    {"nb_binary_cross_entropy_with_logits", NO_BCAST, e_bce_logits},
    {"nb_kl_div", NO_BCAST, e_kl_div},
    {"nb_nll_loss", LAYOUTS | CB(C_ZERO), e_nll_loss},
    {"nb_cross_entropy_prob", LAYOUTS | CB(C_ZERO), e_ce_prob},
    /* convolution and pooling (nn/conv.c, nn/pool.c) */
    {"nb_conv1d", LAYOUTS | CB(C_ZERO), e_conv1d}, /* 3-D / 4-D inputs only */
    {"nb_conv2d", LAYOUTS | CB(C_ZERO), e_conv2d},
    {"nb_max_pool1d", LAYOUTS | CB(C_ZERO), e_max_pool1d},
    {"nb_max_pool2d", LAYOUTS | CB(C_ZERO), e_max_pool2d},
    {"nb_avg_pool1d", LAYOUTS | CB(C_ZERO), e_avg_pool1d},
    {"nb_avg_pool2d", LAYOUTS | CB(C_ZERO), e_avg_pool2d},
    /* perf: fused LSTM recurrence (nn/lstm_op.c) */
    {"nb_lstm_recurrence", LAYOUTS | CB(C_ZERO), e_lstm_recurrence}, /* [T, B, 4H] only */
};
#define N_ENTRIES ((int)(sizeof k_entries / sizeof *k_entries))

static const gc_entry *find_entry(const char *name)
{
    for (int i = 0; i < N_ENTRIES; i++)
        if (!strcmp(k_entries[i].name, name))
            return &k_entries[i];
    return NULL;
}

/* The outcome of every class (float64) plus the float32 contiguous pass of one entry. */
typedef struct {
    unsigned checked; /* classes with at least one passing-or-failing check */
    bool f32;
    int checks;
    double max_abs, max_rel;         /* float64 classes */
    double max_abs_f32, max_rel_f32; /* the float32 pass */
    bool failed;
    char msg[700];
} entry_result;

static void run_entry(const gc_entry *e, entry_result *out)
{
    memset(out, 0, sizeof *out);
    for (int pass = 0; pass <= C_COUNT; pass++) {
        bool f32 = pass == C_COUNT;
        if (!f32 && !(e->classes & CB(pass)))
            continue;
        gc_run r = {.cls = f32 ? C_CONTIG : pass, .dt = f32 ? NB_F32 : NB_F64};
        int s = nb_scope_begin();
        e->run(&r);
        nb_scope_end(s);
        if (r.checks == 0 && !out->failed) {
            out->failed = true;
            snprintf(out->msg, sizeof out->msg, "class %s is listed but checked nothing", k_class_names[r.cls]);
        }
        if (f32)
            out->f32 = r.checks > 0;
        else if (r.checks)
            out->checked |= CB(pass);
        out->checks += r.checks;
        if (f32) {
            out->max_abs_f32 = r.max_abs;
            out->max_rel_f32 = r.max_rel;
        } else {
            out->max_abs = fmax(out->max_abs, r.max_abs);
            out->max_rel = fmax(out->max_rel, r.max_rel);
        }
        if (r.failed && !out->failed) {
            out->failed = true;
            memcpy(out->msg, r.msg, sizeof out->msg);
        }
    }
}

static void classes_text(const entry_result *er, char *buf, size_t n)
{
    buf[0] = '\0';
    for (int c = 0; c < C_COUNT; c++)
        if (er->checked & CB(c)) {
            strncat(buf, buf[0] ? "," : "", n - strlen(buf) - 1);
            strncat(buf, k_class_names[c], n - strlen(buf) - 1);
        }
    if (er->f32)
        strncat(buf, buf[0] ? ",f32" : "f32", n - strlen(buf) - 1);
}

/* ==== Check tests: registry coverage and one gradcheck per op ================================== */
START_TEST(test_every_op_has_entry)
{
    char missing[2048] = "";
    for (int i = 0; i < nb_op_count(); i++)
        if (!find_entry(nb_op_name_at(i))) {
            strncat(missing, " ", sizeof missing - strlen(missing) - 1);
            strncat(missing, nb_op_name_at(i), sizeof missing - strlen(missing) - 1);
        }
    ck_assert_msg(missing[0] == '\0', "registered ops without a gradcheck entry:%s", missing);
    for (int i = 0; i < N_ENTRIES; i++) { /* and no stale entry */
        bool found = false;
        for (int j = 0; j < nb_op_count() && !found; j++)
            found = !strcmp(nb_op_name_at(j), k_entries[i].name);
        ck_assert_msg(found, "gradcheck entry %s names no registered op", k_entries[i].name);
        ck_assert_msg(k_entries[i].classes & CB(C_CONTIG), "%s: no contiguous class", k_entries[i].name);
    }
}
END_TEST

START_TEST(test_op_gradcheck)
{
    const char *name = nb_op_name_at(_i);
    const gc_entry *e = find_entry(name);
    ck_assert_msg(e != NULL, "%s (%s) has no gradcheck entry", name, nb_op_family_name_at(_i));
    entry_result er;
    run_entry(e, &er);
    ck_assert_msg(!er.failed, "%s: %s", name, er.msg);
    ck_assert_msg(er.checked == e->classes, "%s: classes checked 0x%x, listed 0x%x", name, er.checked, e->classes);
    ck_assert_msg(er.f32, "%s: no float32 pass", name);
    ck_assert_int_eq(nb_scope_depth(), 0);
}
END_TEST

/* ==== composite graphs ========================================================================== */
static nb_gradcheck_result gc1(nb_gradcheck_fn f, void *ctx, nb_tensor *x)
{
    nb_tensor_requires_grad_(x, true);
    return nb_gradcheck(f, ctx, &x, 1, NULL);
}
#define ASSERT_GC_OK(res) ck_assert_msg((res).ok, "gradcheck failed: %s", (res).message)

/* y = tanh(x) used 50 times, x itself 49 more times. */
static nb_tensor *f_reuse(nb_tensor *const *x, int n, void *c)
{
    (void)n, (void)c;
    nb_tensor *y = nb_tanh(x[0]), *acc = y;
    for (int i = 1; i < 50; i++)
        acc = nb_add(acc, nb_mul_scalar(nb_mul(y, x[0]), 0.02 * i));
    return acc;
}

START_TEST(test_node_reused_50_times)
{
    int s = nb_scope_begin();
    ASSERT_GC_OK(gc1(f_reuse, NULL, tu_random(NB_F64, NB_DIMS(2, 3), -1, 1, 11)));
    nb_scope_end(s);
}
END_TEST

/* Diamond: y = exp(x); z = tanh(y) + y*y. */
static nb_tensor *f_diamond(nb_tensor *const *x, int n, void *c)
{
    (void)n, (void)c;
    nb_tensor *y = nb_exp(x[0]);
    return nb_add(nb_tanh(y), nb_mul(y, y));
}

START_TEST(test_diamond)
{
    int s = nb_scope_begin();
    ASSERT_GC_OK(gc1(f_diamond, NULL, tu_random(NB_F64, NB_DIMS(3, 2), -1, 1, 12)));
    nb_scope_end(s);
}
END_TEST

/* transpose of a slice of an expand; select of a narrow of a permute of a reshape. */
static nb_tensor *f_views_of_views(nb_tensor *const *x, int n, void *c)
{
    (void)n, (void)c;
    nb_tensor *a = nb_expand(x[0], NB_DIMS(3, 5, 4));                /* x: (3, 1, 4) */
    nb_tensor *b = nb_transpose(nb_slice(a, 1, 1, 5, 2), 0, 2);      /* (4, 2, 3) */
    nb_tensor *r = nb_reshape(x[0], NB_DIMS(2, 6));
    nb_tensor *q = nb_permute(nb_reshape(r, NB_DIMS(2, 2, 3)), (const int[]){2, 0, 1}); /* (3, 2, 2) */
    nb_tensor *d = nb_select(nb_narrow(q, 0, 1, 2), 1, 1);                                 /* (2, 2) */
    nb_tensor *e = nb_mul(b, nb_unsqueeze(nb_sum(d, NB_ALL_AXES, false), 0)); /* (4, 2, 3) */
    return nb_mul(e, b);
}

START_TEST(test_views_of_views)
{
    int s = nb_scope_begin();
    ASSERT_GC_OK(gc1(f_views_of_views, NULL, tu_random(NB_F64, NB_DIMS(3, 1, 4), -1, 1, 13)));
    nb_tensor *sl = tu_relayout(tu_random(NB_F64, NB_DIMS(3, 1, 4), -1, 1, 14), TU_SLICED);
    ASSERT_GC_OK(gc1(f_views_of_views, NULL, sl));
    nb_tensor_release(sl);
    nb_scope_end(s);
}
END_TEST

/* 10,000 cheap ops, then a nonlinearity. */
static nb_tensor *f_chain(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    int len = *(int *)c;
    nb_tensor *y = x[0];
    for (int i = 0; i < len; i++)
        y = i % 2 ? nb_mul_scalar(y, 0.9999) : nb_add_scalar(y, 1e-4);
    return nb_mul(y, nb_tanh(y));
}

START_TEST(test_chain_10000_gradcheck)
{
    int s = nb_scope_begin(), len = 10000;
    ASSERT_GC_OK(gc1(f_chain, &len, tu_random(NB_F64, NB_DIMS(2), -1, 1, 15)));
    nb_scope_end(s);
}
END_TEST

START_TEST(test_chain_100000_backward)
{
    int s = nb_scope_begin();
    nb_tensor *x = nb_tensor_requires_grad_(nb_scalar(1.0, NB_F64), true), *y = x;
    for (int i = 0; i < 100000; i++)
        y = nb_mul_scalar(y, 1.0001);
    nb_backward(y, NULL, false);
    double want = 1.0;
    for (int i = 0; i < 100000; i++)
        want *= 1.0001;
    ck_assert_double_eq_tol(want, pow(1.0001, 100000), want * 1e-9);
    ck_assert_msg(fabs(nb_tensor_item(nb_tensor_get_grad(x)) - want) <= want * 1e-9, "dy/dx %.17g, expected %.17g",
                  nb_tensor_item(nb_tensor_get_grad(x)), want);
    ck_assert_msg(fabs(nb_tensor_item(y) - want) <= want * 1e-9, "y %.17g", nb_tensor_item(y));
    nb_scope_end(s); /* frees the 100,000-node graph (iteratively) */
}
END_TEST

/* ==== nb_gradcheck itself ======================================================================= */
FN(f_exp_mul, nb_mul(nb_exp(x[0]), x[0]))
FN(f_wrong, nb_mul(x[0], nb_detach(x[0])))
static nb_tensor *f_drift(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    return nb_mul_scalar(x[0], 1.0 + 1e-3 * (*(int *)c)++);
}
FN(f_mul2, nb_mul(x[0], x[1]))
FN(f_tanh1, nb_tanh(x[0]))

START_TEST(test_gc_options)
{
    nb_gradcheck_opts d = nb_gradcheck_opts_default(), f = nb_gradcheck_opts_f32();
    ck_assert(d.eps == 1e-6 && d.atol == 1e-5 && d.rtol == 1e-3 && d.check_determinism && d.check_zero_grad);
    ck_assert(f.eps == 1e-3 && f.atol == 1e-3 && f.rtol == 2e-2 && f.check_determinism && f.check_zero_grad);
}
END_TEST

START_TEST(test_gc_passes_and_reports_small_error)
{
    int s = nb_scope_begin();
    nb_gradcheck_result res = gc1(f_exp_mul, NULL, tu_random(NB_F64, NB_DIMS(3, 4), -1, 1, 21));
    ASSERT_GC_OK(res);
    ck_assert_str_eq(res.message, "");
    ck_assert_msg(res.max_abs_err < 1e-7 && res.max_rel_err < 1e-5, "errors %g %g", res.max_abs_err, res.max_rel_err);
    res = gc1(f_exp_mul, NULL, tu_random(NB_F32, NB_DIMS(3, 4), -1, 1, 22)); /* NULL opts: float32 settings */
    ASSERT_GC_OK(res);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_gc_detects_wrong_gradient)
{
    int s = nb_scope_begin();
    nb_gradcheck_result res = gc1(f_wrong, NULL, tu_random(NB_F64, NB_DIMS(2, 2), 0.5, 1, 23));
    ck_assert(!res.ok);
    ck_assert_msg(strstr(res.message, "input 0, element 0: analytic") && strstr(res.message, "numeric"), "%s",
                  res.message);
    ck_assert(res.max_abs_err > 0.1);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_gc_detects_nondeterminism)
{
    int s = nb_scope_begin(), calls = 0;
    nb_gradcheck_result res = gc1(f_drift, &calls, tu_random(NB_F64, NB_DIMS(3), -1, 1, 24));
    ck_assert(!res.ok);
    ck_assert_msg(strstr(res.message, "not deterministic"), "%s", res.message);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_gc_refuses_stride0_and_no_grad)
{
    int s = nb_scope_begin();
    nb_tensor *base = tu_random(NB_F64, NB_DIMS(3, 1), -1, 1, 25);
    nb_tensor *e = nb_tensor_requires_grad_(nb_detach(nb_expand(base, NB_DIMS(3, 4))), true);
    nb_gradcheck_result res = nb_gradcheck(f_tanh1, NULL, &e, 1, NULL);
    ck_assert(!res.ok);
    ck_assert_msg(strstr(res.message, "stride-0"), "%s", res.message);
    nb_tensor *plain = tu_random(NB_F64, NB_DIMS(3), -1, 1, 26);
    res = nb_gradcheck(f_tanh1, NULL, &plain, 1, NULL);
    ck_assert(!res.ok);
    ck_assert_msg(strstr(res.message, "no input requires grad"), "%s", res.message);
    nb_scope_end(s);
}
END_TEST

/* A strided input with NaN gaps and an existing .grad: values (and gaps) restored bit for bit,
 * .grad untouched, no scope left open. */
START_TEST(test_gc_restores_inputs_and_grad)
{
    int s = nb_scope_begin();
    nb_tensor *base = nb_full(NB_DIMS(4, 9), NAN, NB_F64);
    nb_tensor *x = nb_slice(nb_slice(base, 0, 1, 4, 1), 1, 1, 9, 2); /* (3, 4), offset 10 */
    nb_copy_(x, tu_random(NB_F64, NB_DIMS(3, 4), -1, 1, 27));
    nb_tensor_requires_grad_(x, true);
    nb_tensor *g = nb_full(NB_DIMS(3, 4), 7.0, NB_F64);
    nb_tensor_set_grad(x, g);
    unsigned char before[36 * 8], after[36 * 8];
    memcpy(before, nb_tensor_data(base), sizeof before);
    int depth = nb_scope_depth();
    int64_t refs = x->refcount, storage_refs = x->storage->refcount, grad_refs = g->refcount;
    ASSERT_GC_OK(nb_gradcheck(f_exp_mul, NULL, &x, 1, NULL));
    ck_assert_int_eq(nb_scope_depth(), depth);
    ck_assert_int_eq(x->refcount, refs); /* its aliases and every graph were freed */
    ck_assert_int_eq(x->storage->refcount, storage_refs);
    ck_assert_int_eq(g->refcount, grad_refs);
    memcpy(after, nb_tensor_data(base), sizeof after);
    ck_assert_msg(!memcmp(before, after, sizeof before), "input storage not restored exactly");
    ck_assert_ptr_eq(nb_tensor_get_grad(x), g);
    tu_assert_values(g, VALS(7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7), 0);
    nb_scope_end(s);
}
END_TEST

/* A non-leaf input is checked without disturbing its graph; an input passed twice is one input. */
START_TEST(test_gc_nonleaf_and_duplicate_inputs)
{
    int s = nb_scope_begin();
    nb_tensor *leaf = nb_tensor_requires_grad_(tu_random(NB_F64, NB_DIMS(2, 3), -1, 1, 28), true);
    nb_tensor *h = nb_mul_scalar(leaf, 2.0);
    int64_t fn_refs = h->grad_fn->refcount;
    ASSERT_GC_OK(nb_gradcheck(f_tanh1, NULL, &h, 1, NULL));
    ck_assert_int_eq(h->grad_fn->refcount, fn_refs);
    ck_assert_ptr_null(nb_tensor_get_grad(h));
    ck_assert_str_eq(nb_tensor_grad_fn_name(h), "nb_mul_scalar");
    nb_backward(nb_sum(h, NB_ALL_AXES, false), NULL, false);
    tu_assert_values(nb_tensor_get_grad(leaf), VALS(2, 2, 2, 2, 2, 2), 0);
    nb_tensor *two[2] = {leaf, leaf};
    ASSERT_GC_OK(nb_gradcheck(f_mul2, NULL, two, 2, NULL));
    tu_assert_values(nb_tensor_get_grad(leaf), VALS(2, 2, 2, 2, 2, 2), 0);
    nb_scope_end(s);
}
END_TEST

/* ==== --table ================================================================================== */
static int print_table(void)
{
    int fails = 0, missing = 0, w = 16; /* op column: as wide as the longest name */
    for (int i = 0; i < nb_op_count(); i++)
        if ((int)strlen(nb_op_name_at(i)) > w)
            w = (int)strlen(nb_op_name_at(i));
    printf("%-*s %-12s %-40s %10s %10s %10s %10s  %s\n", w, "op", "family", "classes checked (f64 + f32 pass)",
           "f64 abs", "f64 rel", "f32 abs", "f32 rel", "status");
    for (int i = 0; i < nb_op_count(); i++) {
        const char *name = nb_op_name_at(i), *fam = nb_op_family_name_at(i);
        const gc_entry *e = find_entry(name);
        if (!e) {
            printf("%-*s %-12s %-40s %10s %10s %10s %10s  MISSING (no gradcheck entry)\n", w, name, fam, "-", "-",
                   "-", "-", "-");
            missing++;
            continue;
        }
        entry_result er;
        memset(&er, 0, sizeof er);
        int fd[2];
        fflush(stdout);
        if (pipe(fd) != 0)
            return 2;
        pid_t pid = fork();
        if (pid == 0) { /* the child runs the entry: a misuse abort takes down only this row */
            close(fd[0]);
            run_entry(e, &er);
            ssize_t w = write(fd[1], &er, sizeof er);
            _exit(w == (ssize_t)sizeof er ? 0 : 1);
        }
        close(fd[1]);
        size_t got = 0;
        ssize_t k;
        while (got < sizeof er && (k = read(fd[0], (char *)&er + got, sizeof er - got)) > 0)
            got += (size_t)k;
        close(fd[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        char cls[128];
        if (got != sizeof er) {
            printf("%-*s %-12s %-40s %10s %10s %10s %10s  CRASHED (%s %d)\n", w, name, fam, "-", "-", "-", "-", "-",
                   WIFSIGNALED(status) ? "signal" : "exit",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            fails++;
            continue;
        }
        classes_text(&er, cls, sizeof cls);
        printf("%-*s %-12s %-40s %10.2e %10.2e %10.2e %10.2e  %s%s\n", w, name, fam, cls, er.max_abs, er.max_rel,
               er.max_abs_f32, er.max_rel_f32, er.failed ? "FAIL: " : "ok", er.failed ? er.msg : "");
        fails += er.failed;
    }
    printf("%d ops: %d ok, %d failed, %d without an entry\n", nb_op_count(), nb_op_count() - fails - missing, fails,
           missing);
    return fails || missing ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--table"))
        return print_table();
    Suite *s = suite_create("gradcheck");
    TCase *reg = tcase_create("registry");
    tcase_add_test(reg, test_every_op_has_entry);
    suite_add_tcase(s, reg);
    TCase *ops = tcase_create("ops");
    tcase_set_timeout(ops, 30);
    tcase_add_loop_test(ops, test_op_gradcheck, 0, nb_op_count());
    suite_add_tcase(s, ops);
    TCase *comp = tcase_create("composite");
    tcase_set_timeout(comp, 60);
    tcase_add_test(comp, test_node_reused_50_times);
    tcase_add_test(comp, test_diamond);
    tcase_add_test(comp, test_views_of_views);
    tcase_add_test(comp, test_chain_10000_gradcheck);
    tcase_add_test(comp, test_chain_100000_backward);
    suite_add_tcase(s, comp);
    TCase *gc = tcase_create("nb_gradcheck");
    tcase_add_test(gc, test_gc_options);
    tcase_add_test(gc, test_gc_passes_and_reports_small_error);
    tcase_add_test(gc, test_gc_detects_wrong_gradient);
    tcase_add_test(gc, test_gc_detects_nondeterminism);
    tcase_add_test(gc, test_gc_refuses_stride0_and_no_grad);
    tcase_add_test(gc, test_gc_restores_inputs_and_grad);
    tcase_add_test(gc, test_gc_nonleaf_and_duplicate_inputs);
    suite_add_tcase(s, gc);
    return tu_run_suite(s);
}
