/* test_autograd.c — the autograd engine's semantics (PyTorch's): leaves and requires_grad,
 * accumulation, zero_grad, grad mode, detach, retain_grad, explicit grad_output, misuse messages,
 * the saved-tensor version check, gradients through views to their base (hand-checked values),
 * and memory staying flat over a 10,000-step training loop. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T(dt, shape, ...) tu_tensor(dt, shape, (const double[]){__VA_ARGS__})
#define VALS(...) ((const double[]){__VA_ARGS__})
#define LEAF(t) nb_tensor_requires_grad_((t), true)
#define SUM(t) nb_sum((t), NB_ALL_AXES, false)

/* A misuse raised inside nb_backward longjmps out of it (TU_EXPECT_ERROR) while it had grad mode
 * off and its own scope open: put both back as the test had them. */
static void after_backward_error(int scope)
{
    nb_set_grad_enabled(true);
    while (nb_scope_depth() > scope)
        nb_scope_end(nb_scope_depth());
}

/* ---- leaves, requires_grad, grad_fn --------------------------------------------------------- */
START_TEST(test_leaf_and_requires_grad)
{
    int s = nb_scope_begin();
    nb_tensor *x = T(NB_F64, NB_DIMS(3), 1, 2, 3);
    ck_assert(!nb_tensor_requires_grad(x));
    ck_assert(nb_tensor_is_leaf(x));
    ck_assert_ptr_null(nb_tensor_grad_fn_name(x));
    ck_assert_ptr_eq(LEAF(x), x);
    ck_assert(nb_tensor_requires_grad(x) && nb_tensor_is_leaf(x));

    nb_tensor *y = nb_mul(x, x);
    ck_assert(nb_tensor_requires_grad(y));
    ck_assert(!nb_tensor_is_leaf(y));
    ck_assert_str_eq(nb_tensor_grad_fn_name(y), "nb_mul");
    ck_assert_str_eq(nb_tensor_grad_fn_name(SUM(y)), "nb_sum");
    ck_assert_str_eq(nb_tensor_grad_fn_name(nb_transpose(nb_unsqueeze(x, 0), 0, 1)), "nb_transpose");

    /* an op on tensors that do not require grad records nothing: its result is a leaf */
    nb_tensor *c = T(NB_F64, NB_DIMS(3), 4, 5, 6);
    nb_tensor *d = nb_mul(c, c);
    ck_assert(!nb_tensor_requires_grad(d) && nb_tensor_is_leaf(d));
    ck_assert_ptr_null(nb_tensor_grad_fn_name(d));
    /* requires_grad can be switched off again on a leaf */
    nb_tensor_requires_grad_(c, true);
    nb_tensor_requires_grad_(c, false);
    ck_assert(!nb_tensor_requires_grad(c));
    nb_scope_end(s);
}
END_TEST

START_TEST(test_requires_grad_misuse)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F32, NB_DIMS(2), 1, 2));
    nb_tensor *y = nb_mul_scalar(x, 2);
    TU_EXPECT_ERROR("only leaf tensors", nb_tensor_requires_grad_(y, false));
    TU_EXPECT_ERROR("only float tensors", nb_tensor_requires_grad_(T(NB_I64, NB_DIMS(2), 1, 2), true));
    TU_EXPECT_ERROR("does not require grad", nb_tensor_retain_grad(T(NB_F32, NB_DIMS(1), 1)));
    TU_EXPECT_ERROR("does not match", nb_tensor_set_grad(x, T(NB_F32, NB_DIMS(3), 1, 2, 3)));
    TU_EXPECT_ERROR("does not require grad", nb_backward(T(NB_F32, NB_SCALAR, 1), NULL, false));
    TU_EXPECT_ERROR("grad_output of shape [3]", nb_backward(y, T(NB_F32, NB_DIMS(3), 1, 2, 3), false));
    nb_scope_end(s);
}
END_TEST

/* ---- accumulation and zero_grad ------------------------------------------------------------- */
START_TEST(test_accumulates_across_backward_calls)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(3), 1, 2, 3));
    nb_backward(SUM(nb_mul(x, x)), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(3), VALS(2, 4, 6), 0);
    nb_backward(SUM(nb_mul_scalar(x, 10)), NULL, false); /* a second, different graph */
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(3), VALS(12, 14, 16), 0);
    ck_assert(nb_tensor_is_leaf(nb_tensor_get_grad(x)) && !nb_tensor_requires_grad(nb_tensor_get_grad(x)));
    nb_scope_end(s);
}
END_TEST

START_TEST(test_zero_grad)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(2), 1, 2));
    nb_tensor_zero_grad(x, true); /* no grad yet: a no-op */
    ck_assert_ptr_null(nb_tensor_get_grad(x));
    nb_backward(SUM(nb_mul(x, x)), NULL, false);
    nb_tensor *g = nb_tensor_get_grad(x);
    tu_assert_shape_values(g, NB_DIMS(2), VALS(2, 4), 0);
    nb_tensor_zero_grad(x, false); /* zeroed in place: same buffer */
    ck_assert_ptr_eq(nb_tensor_get_grad(x), g);
    tu_assert_shape_values(g, NB_DIMS(2), VALS(0, 0), 0);
    nb_backward(SUM(nb_mul_scalar(x, 3)), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2), VALS(3, 3), 0);
    nb_tensor_zero_grad(x, true); /* set to none */
    ck_assert_ptr_null(nb_tensor_get_grad(x));
    nb_backward(SUM(nb_mul_scalar(x, 5)), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2), VALS(5, 5), 0);
    nb_scope_end(s);
}
END_TEST

/* ---- grad mode, detach ---------------------------------------------------------------------- */
START_TEST(test_no_grad)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(2), 1, 2)), *y = NULL, *z = NULL;
    ck_assert(nb_is_grad_enabled());
    NB_NO_GRAD
    {
        ck_assert(!nb_is_grad_enabled());
        y = nb_mul(x, x);
        NB_NO_GRAD { z = nb_exp(x); } /* nested: restores "off" */
        ck_assert(!nb_is_grad_enabled());
    }
    ck_assert(nb_is_grad_enabled());
    ck_assert(!nb_tensor_requires_grad(y) && nb_tensor_is_leaf(y) && !nb_tensor_requires_grad(z));
    ck_assert_ptr_null(nb_tensor_grad_fn_name(y));
    tu_assert_shape_values(y, NB_DIMS(2), VALS(1, 4), 0);

    ck_assert(nb_set_grad_enabled(false) == true);
    nb_tensor *w = nb_add(x, x);
    ck_assert(nb_set_grad_enabled(true) == false);
    ck_assert(!nb_tensor_requires_grad(w) && nb_tensor_is_leaf(w));
    ck_assert(nb_tensor_requires_grad(nb_add(x, x)));
    nb_scope_end(s);
}
END_TEST

START_TEST(test_detach)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(2), 1, 2));
    nb_tensor *y = nb_mul(x, x);
    nb_tensor *d = nb_detach(y);
    ck_assert(nb_tensor_shares_storage(d, y));
    ck_assert(!nb_tensor_requires_grad(d) && nb_tensor_is_leaf(d));
    tu_assert_shape_values(d, NB_DIMS(2), VALS(1, 4), 0);
    /* d is a constant for the graph: d(y * d)/dx = d * 2x */
    nb_backward(SUM(nb_mul(y, d)), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2), VALS(2, 16), 0);
    ck_assert(!nb_tensor_requires_grad(nb_mul(d, d)));
    nb_scope_end(s);
}
END_TEST

/* ---- retain_grad, explicit grad_output, graph shapes ---------------------------------------- */
START_TEST(test_retain_grad_non_leaf)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(3), 1, 2, 3));
    nb_tensor *h = nb_mul_scalar(x, 3), *k = nb_mul_scalar(x, 2);
    nb_tensor_retain_grad(h);
    nb_backward(SUM(nb_add(nb_mul(h, h), k)), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(h), NB_DIMS(3), VALS(6, 12, 18), 0); /* 2h */
    ck_assert_ptr_null(nb_tensor_get_grad(k));                  /* not retained */
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(3), VALS(20, 38, 56), 0); /* 18x + 2 */
    nb_tensor_retain_grad(x); /* on a leaf: a no-op */
    nb_scope_end(s);
}
END_TEST

START_TEST(test_backward_explicit_grad_output)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(2, 3), 1, 2, 3, 4, 5, 6));
    nb_tensor *c = T(NB_F64, NB_DIMS(3), 10, 20, 30);
    nb_tensor *y = nb_mul(x, c);
    nb_backward(y, T(NB_F64, NB_DIMS(2, 3), 1, 0, -1, 2, 0.5, 0), false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 3), VALS(10, 0, -30, 20, 10, 0), 0);
    ck_assert_ptr_null(nb_tensor_get_grad(c)); /* inputs not requiring grad get none */
    ck_assert(!nb_tensor_requires_grad(c));
    /* a leaf as root: its gradient is grad_output */
    nb_tensor *z = LEAF(T(NB_F64, NB_DIMS(2), 1, 2));
    nb_backward(z, T(NB_F64, NB_DIMS(2), 7, 8), false);
    tu_assert_shape_values(nb_tensor_get_grad(z), NB_DIMS(2), VALS(7, 8), 0);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_diamond_accumulates)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(2), 1, -2));
    nb_tensor *y = nb_mul_scalar(x, 2);
    nb_backward(SUM(nb_add(nb_mul(y, y), y)), NULL, false); /* dz/dx = (2y + 1) * 2 */
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2), VALS(10, -14), 0);
    nb_scope_end(s);
}
END_TEST

/* ---- misuse --------------------------------------------------------------------------------- */
START_TEST(test_implicit_grad_needs_one_element)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(2), 1, 2));
    TU_EXPECT_ERROR("one-element", nb_backward(nb_mul(x, x), NULL, false));
    nb_tensor *outer = nb_mul(nb_reshape(x, NB_DIMS(2, 1)), T(NB_F64, NB_DIMS(1, 2), 0, 1)); /* [2, 2] */
    nb_backward(outer, T(NB_F64, NB_DIMS(2, 2), 1, 1, 1, 1), false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2), VALS(1, 1), 0);
    /* one element of any shape is fine */
    nb_backward(nb_reshape(nb_narrow(x, 0, 1, 1), NB_DIMS(1, 1)), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2), VALS(1, 2), 0);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_second_backward_through_freed_graph)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(2), 1, 2));
    nb_tensor *z = SUM(nb_mul(x, x));
    nb_backward(z, NULL, false);
    TU_EXPECT_ERROR("a second time (nb_mul)", nb_backward(z, NULL, false));
    after_backward_error(s);

    nb_tensor *w = LEAF(T(NB_F64, NB_DIMS(2), 1, 2));
    nb_tensor *zz = SUM(nb_mul(w, w));
    nb_backward(zz, NULL, true);
    nb_backward(zz, NULL, true);
    nb_backward(zz, NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(w), NB_DIMS(2), VALS(6, 12), 0);
    TU_EXPECT_ERROR("retain_graph", nb_backward(zz, NULL, false));
    after_backward_error(s);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_inplace_on_saved_tensor_detected)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(2), 1, 2));
    nb_tensor *w = T(NB_F64, NB_DIMS(2), 3, 4); /* saved by mul for x's gradient */
    nb_tensor *z = SUM(nb_mul(x, w));
    nb_add_(w, T(NB_F64, NB_SCALAR, 1)); /* allowed: w does not require grad */
    TU_EXPECT_ERROR("modified by an in-place operation", nb_backward(z, NULL, false));
    after_backward_error(s);

    /* a write through a view of the saved tensor is seen too (shared version counter) */
    nb_tensor *v = T(NB_F64, NB_DIMS(2, 2), 1, 2, 3, 4);
    nb_tensor *z2 = SUM(nb_mul(nb_reshape(x, NB_DIMS(2, 1)), v));
    nb_fill_(nb_select(v, 0, 1), 0);
    TU_EXPECT_ERROR("modified by an in-place operation", nb_backward(z2, NULL, false));
    after_backward_error(s);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_inplace_on_leaf_requiring_grad_refused)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(2), 1, 2));
    nb_tensor *one = T(NB_F64, NB_DIMS(2), 1, 1);
    TU_EXPECT_ERROR("in-place operation", nb_add_(x, one));
    TU_EXPECT_ERROR("in-place operation", nb_mul_scalar_(x, 2));
    TU_EXPECT_ERROR("in-place operation", nb_add_scaled_(x, one, -0.1));
    TU_EXPECT_ERROR("in-place operation", nb_add_(nb_mul(x, x), one)); /* non-leaf too */
    tu_assert_shape_values(x, NB_DIMS(2), VALS(1, 2), 0);
    NB_NO_GRAD { nb_add_scaled_(x, one, -0.5); } /* the optimizer's way */
    tu_assert_shape_values(x, NB_DIMS(2), VALS(0.5, 1.5), 0);
    ck_assert(nb_tensor_requires_grad(x) && nb_tensor_is_leaf(x));
    nb_scope_end(s);
}
END_TEST

/* ---- gradients through views reach the base (hand-checked) ---------------------------------- */
START_TEST(test_grad_through_slice)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(2, 4), 1, 2, 3, 4, 5, 6, 7, 8));
    nb_tensor *sl = nb_slice(x, 1, 1, 4, 2); /* columns 1 and 3 */
    ck_assert(nb_tensor_shares_storage(sl, x));
    nb_backward(SUM(nb_mul(sl, T(NB_F64, NB_DIMS(2, 2), 1, 2, 3, 4))), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 4), VALS(0, 1, 0, 2, 0, 3, 0, 4), 0);
    nb_tensor_zero_grad(x, true);
    nb_backward(SUM(nb_mul(nb_narrow(nb_select(x, 0, 1), 0, 1, 2), T(NB_F64, NB_DIMS(2), 5, 6))), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 4), VALS(0, 0, 0, 0, 0, 5, 6, 0), 0);
    nb_scope_end(s);
}
END_TEST

/* Several narrows/selects of one tensor (q, k, v split from one projection): later gradients are
 * added straight into the part of the gradient accumulated so far, for a leaf and a non-leaf,
 * with transposed (non-contiguous) incoming gradients too. */
START_TEST(test_grad_through_several_narrows)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(2, 6), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
    for (int nonleaf = 0; nonleaf < 2; nonleaf++) {
        nb_tensor *b = nonleaf ? nb_mul_scalar(x, 2) : x;
        nb_tensor *q = nb_narrow(b, 1, 0, 2), *k = nb_narrow(b, 1, 2, 2), *v = nb_narrow(b, 1, 4, 2);
        nb_tensor *l = nb_add(SUM(nb_mul(q, T(NB_F64, NB_DIMS(2, 2), 1, 2, 3, 4))),
                              SUM(nb_mul(nb_transpose(k, 0, 1), T(NB_F64, NB_DIMS(2, 2), 5, 6, 7, 8))));
        l = nb_add(l, SUM(nb_mul(v, T(NB_F64, NB_DIMS(2, 2), 9, 10, 11, 12))));
        l = nb_add(l, SUM(nb_mul_scalar(nb_select(b, 0, 1), 100))); /* overlaps all three */
        l = nb_add(l, SUM(nb_narrow(b, 1, 1, 2)));                  /* overlaps q and k */
        nb_backward(l, NULL, false);
        double f = nonleaf ? 2 : 1;
        tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 6),
                               VALS(f * 1, f * 3, f * 6, f * 7, f * 9, f * 10, f * 103, f * 105, f * 107, f * 108,
                                    f * 111, f * 112),
                               0);
        nb_tensor_zero_grad(x, true);
    }
    nb_scope_end(s);
}
END_TEST

START_TEST(test_grad_through_transpose_and_reshape)
{
    int s = nb_scope_begin();
    nb_tensor *x = LEAF(T(NB_F64, NB_DIMS(2, 3), 1, 2, 3, 4, 5, 6));
    nb_tensor *w = T(NB_F64, NB_DIMS(3, 2), 10, 20, 30, 40, 50, 60);
    nb_backward(SUM(nb_mul(nb_transpose(x, 0, 1), w)), NULL, false); /* grad = w^T */
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 3), VALS(10, 30, 50, 20, 40, 60), 0);
    nb_tensor_zero_grad(x, true);
    nb_backward(SUM(nb_mul(nb_reshape(x, NB_DIMS(3, 2)), w)), NULL, false); /* grad = w, row-major */
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 3), VALS(10, 20, 30, 40, 50, 60), 0);
    nb_tensor_zero_grad(x, true);
    /* reshape of a transpose (a copy): gradient still reaches x, transposed back */
    nb_tensor *flat = nb_reshape(nb_transpose(x, 0, 1), NB_DIMS(6));
    nb_backward(SUM(nb_mul(flat, T(NB_F64, NB_DIMS(6), 1, 2, 3, 4, 5, 6))), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 3), VALS(1, 3, 5, 2, 4, 6), 0);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_grad_through_expand)
{
    int s = nb_scope_begin();
    nb_tensor *b = LEAF(T(NB_F64, NB_DIMS(3, 1), 1, 2, 3));
    nb_tensor *e = nb_expand(b, NB_DIMS(2, 3, 4));
    nb_tensor *w = nb_reshape(nb_arange(0, 24, 1, NB_F64), NB_DIMS(2, 3, 4));
    nb_backward(SUM(nb_mul(e, w)), NULL, false);
    /* d/db[i] = sum over batch and columns of w[:, i, :]: rows 0..3+12..15 etc. */
    tu_assert_shape_values(nb_tensor_get_grad(b), NB_DIMS(3, 1),
                           VALS(0 + 1 + 2 + 3 + 12 + 13 + 14 + 15, 4 + 5 + 6 + 7 + 16 + 17 + 18 + 19,
                                8 + 9 + 10 + 11 + 20 + 21 + 22 + 23),
                           0);
    /* broadcasting in a binary op reduces the same way */
    nb_tensor *r = LEAF(T(NB_F64, NB_DIMS(4), 1, 1, 1, 1));
    nb_backward(SUM(nb_mul(r, w)), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(r), NB_DIMS(4), VALS(60, 66, 72, 78), 0);
    nb_scope_end(s);
}
END_TEST

/* ---- memory: a PyTorch-style training loop stays flat --------------------------------------- */
static long rss_pages(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident;
}

START_TEST(test_training_loop_memory_flat)
{
    int outer = nb_scope_begin(); /* owns the data and the parameters */
    nb_generator g;
    nb_generator_seed(&g, 7);
    nb_tensor *X = nb_randn(NB_DIMS(16, 4), NB_F32, &g), *Y = nb_randn(NB_DIMS(16, 2), NB_F32, &g);
    nb_tensor *params[4] = {
        LEAF(nb_mul_scalar(nb_randn(NB_DIMS(4, 8), NB_F32, &g), 0.5)), LEAF(nb_zeros(NB_DIMS(8), NB_F32)),
        LEAF(nb_mul_scalar(nb_randn(NB_DIMS(8, 2), NB_F32, &g), 0.5)), LEAF(nb_zeros(NB_DIMS(2), NB_F32))};
    double first = 0, last = 0;
    long warm = 0, end = 0; /* peak RSS over steps 1000..2999 and over the last 2000 steps */
    const int steps = 10000;
    for (int step = 0; step < steps; step++) {
        int s = nb_scope_begin();
        nb_tensor *h = nb_tanh(nb_add(nb_matmul(X, params[0]), params[1]));
        nb_tensor *out = nb_add(nb_matmul(h, params[2]), params[3]);
        nb_tensor *d = nb_sub(out, Y);
        nb_tensor *loss = nb_mean(nb_mul(d, d), NB_ALL_AXES, false);
        nb_backward(loss, NULL, false);
        NB_NO_GRAD
        {
            for (int i = 0; i < 4; i++)
                nb_add_scaled_(params[i], nb_tensor_get_grad(params[i]), -0.05);
        }
        for (int i = 0; i < 4; i++)
            nb_tensor_zero_grad(params[i], step % 2 == 0); /* both flavours */
        if (step == 0)
            first = nb_tensor_item(loss);
        last = nb_tensor_item(loss);
        nb_scope_end(s);
        if (step % 100 == 0 && step >= 1000) {
            long now = rss_pages();
            if (step < 3000 && now > warm)
                warm = now;
            if (step >= steps - 2000 && now > end)
                end = now;
        }
    }
    ck_assert_int_gt(warm, 0);
#ifndef __SANITIZE_ADDRESS__ /* ASan's quarantine and metadata grow RSS; LeakSanitizer checks leaks there */
    ck_assert_msg((double)(end - warm) < 0.01 * (double)warm, "RSS grew from %ld to %ld pages", warm, end);
#endif
    ck_assert_msg(last < 0.8 * first, "loss did not fall: %g -> %g", first, last);
    ck_assert_int_eq(nb_scope_depth(), 1);
    nb_scope_end(outer);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("autograd");
    TCase *tc = tcase_create("engine");
    tcase_add_test(tc, test_leaf_and_requires_grad);
    tcase_add_test(tc, test_requires_grad_misuse);
    tcase_add_test(tc, test_accumulates_across_backward_calls);
    tcase_add_test(tc, test_zero_grad);
    tcase_add_test(tc, test_no_grad);
    tcase_add_test(tc, test_detach);
    tcase_add_test(tc, test_retain_grad_non_leaf);
    tcase_add_test(tc, test_backward_explicit_grad_output);
    tcase_add_test(tc, test_diamond_accumulates);
    tcase_add_test(tc, test_implicit_grad_needs_one_element);
    tcase_add_test(tc, test_second_backward_through_freed_graph);
    tcase_add_test(tc, test_inplace_on_saved_tensor_detected);
    tcase_add_test(tc, test_inplace_on_leaf_requiring_grad_refused);
    tcase_add_test(tc, test_grad_through_slice);
    tcase_add_test(tc, test_grad_through_several_narrows);
    tcase_add_test(tc, test_grad_through_transpose_and_reshape);
    tcase_add_test(tc, test_grad_through_expand);
    suite_add_tcase(s, tc);
    TCase *mem = tcase_create("memory");
    tcase_set_timeout(mem, 20);
    tcase_add_test(mem, test_training_loop_memory_flat);
    suite_add_tcase(s, mem);
    return tu_run_suite(s);
}
