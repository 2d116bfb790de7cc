/* gradcheck_pointwise.c — gradcheck entries (e_*) of the elementwise ops (the rows of
 * tensor/nb_pointwise.def, where, masked_fill) and matmul, with their input-class helpers.
 * Part of tests/test_gradcheck (registry and driver: tests/test_gradcheck.c). */
#include "gradcheck_entries.h"

/* ==== elementwise =============================================================================== */
FN(f_binary, p->bin(x[0], x[1]))
FN(f_gelu, nb_gelu(x[0], (nb_gelu_approx)p->a))
FN(f_pow, nb_pow_scalar(x[0], p->s))
FN(f_clamp, nb_clamp(x[0], p->s, p->s2))
FN(f_where, nb_where(x[0], x[1], x[2]))
FN(f_masked_fill, nb_masked_fill(x[0], x[1], p->s))

/* Unary elementwise shapes: [3, 4] and [2, 3, 2] for the layouts, [0, 3], []. */
void unary_shapes(gc_run *r, nb_gradcheck_fn f, P *p, int k, double lo, double hi)
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
void e_gelu(gc_run *r)
{
    P p = {.a = NB_GELU_ERF};
    unary_shapes(r, f_gelu, &p, K_UNIF, -3, 3);
    p.a = NB_GELU_TANH;
    unary_shapes(r, f_gelu, &p, K_UNIF, -3, 3);
}

void e_pow_scalar(gc_run *r)
{
    P p = {.s = 2.5};
    unary_shapes(r, f_pow, &p, K_UNIF, 0.5, 2);
    p.s = -1.5;
    unary_shapes(r, f_pow, &p, K_UNIF, 0.5, 2);
    p.s = 3;
    unary_shapes(r, f_pow, &p, K_UNIF, -2, 2);
}

void e_clamp(gc_run *r)
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
    void e_##name(gc_run *r) { P p = {.s = t0, .s2 = t1}; unary_shapes(r, f_pw_##name, &p, PW_K_##kind, lo, hi); }
#define PW_UTEST_KINKS PW_UTEST_SMOOTH
#define PW_BTEST(name, ka, la, ha, kb, lb, hb) \
    void e_##name(gc_run *r) { P p = {.bin = nb_##name}; binary_shapes(r, &p, PW_K_##ka, la, ha, PW_K_##kb, lb, hb); }
#define NB_PW_UNARY(name, dt, np, pa, pb, chk, fwd, fk, sv, dx, bk, test) PW_CALL(PW_UTEST, name, np, PW_UNPACK test)
#define NB_PW_BINARY(name, dt, fwd, fk, sv, da, db, bk, test) PW_CALL(PW_BTEST, name, PW_UNPACK test)
#include "nb_pointwise.def"

void e_where(gc_run *r)
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

void e_masked_fill(gc_run *r)
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

/* ==== matmul ==================================================================================== */
FN(f_matmul, nb_matmul(x[0], x[1]))

void e_matmul(gc_run *r)
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
