/* test_debug.c — debug mode (NB_DEBUG=1, set by main before the first tensor exists): a tensor
 * used after its last reference was released stops with "<op>: tensor used after it was
 * released (created as tensor #N)" at the op that receives it, for ops of every family and the
 * accessors; freed storage is poisoned; a double release is reported. And nb_recover() after a
 * misuse longjmp'd out of the library: grad mode back on, the scopes opened since closed. */
#define _XOPEN_SOURCE 700 /* setenv */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define UAR "tensor used after it was released (created as tensor #"

/* A tensor that is released (its only reference) and returned dangling. */
static nb_tensor *dead(const int64_t *shape, int ndim)
{
    nb_tensor *t = nb_ones(shape, ndim, NB_F32);
    nb_tensor_release(t);
    return t;
}

START_TEST(test_use_after_release_names_the_op)
{
    ck_assert(nb_debug_checks());
    nb_tensor *b = nb_ones(NB_DIMS(2, 2), NB_F32);
    nb_tensor *a = dead(NB_DIMS(2, 2));
    TU_EXPECT_ERROR("nb_mul: " UAR, nb_mul(a, b));
    TU_EXPECT_ERROR("nb_mul: " UAR, nb_mul(b, a));
    TU_EXPECT_ERROR("nb_add_: " UAR, nb_add_(b, a));
    TU_EXPECT_ERROR("nb_add_: " UAR, nb_add_(a, b));
    TU_EXPECT_ERROR("nb_matmul: " UAR, nb_matmul(a, b));
    TU_EXPECT_ERROR("nb_sum: " UAR, nb_sum(a, NB_ALL_AXES, false));
    TU_EXPECT_ERROR("nb_exp: " UAR, nb_exp(a));
    TU_EXPECT_ERROR("nb_transpose: " UAR, nb_transpose(a, 0, 1));
    TU_EXPECT_ERROR("nb_reshape: " UAR, nb_reshape(a, NB_DIMS(4)));
    TU_EXPECT_ERROR("nb_narrow: " UAR, nb_narrow(a, 0, 0, 1));
    TU_EXPECT_ERROR("nb_contiguous: " UAR, nb_contiguous(a));
    TU_EXPECT_ERROR("nb_to_dtype: " UAR, nb_to_dtype(a, NB_F64));
    TU_EXPECT_ERROR("nb_copy_: " UAR, nb_copy_(b, a));
    TU_EXPECT_ERROR("nb_zeros_like: " UAR, nb_zeros_like(a));
    TU_EXPECT_ERROR("nb_tensor_item: " UAR, nb_tensor_item(a));
    TU_EXPECT_ERROR("nb_tensor_get: " UAR, nb_tensor_get(a, (const int64_t[]){0, 0}));
    TU_EXPECT_ERROR("nb_tensor_to_doubles: " UAR, nb_tensor_to_doubles(a, (double[4]){0}));
    TU_EXPECT_ERROR("nb_tensor_retain: " UAR, nb_tensor_retain(a));
    TU_EXPECT_ERROR("nb_tensor_set_grad: " UAR, nb_tensor_set_grad(b, a));
    TU_EXPECT_ERROR("nb_tensor_requires_grad_: " UAR, nb_tensor_requires_grad_(a, true));
    TU_EXPECT_ERROR("nb_tensor_zero_grad: " UAR, nb_tensor_zero_grad(a, true));
    TU_EXPECT_ERROR("nb_detach: " UAR, nb_detach(a));
    TU_EXPECT_ERROR("nb_max: " UAR, nb_max(a, 0, false, NULL));
    TU_EXPECT_ERROR("nb_softmax: " UAR, nb_softmax(a, 1));
    TU_EXPECT_ERROR("nb_where: " UAR, nb_where(nb_zeros(NB_DIMS(2, 2), NB_BOOL), a, b));
    TU_EXPECT_ERROR("nb_stack: " UAR, nb_stack((nb_tensor *[]){a, b}, 2, 0));
    TU_EXPECT_ERROR("nb_backward: " UAR, nb_backward(a, NULL, false));
    nb_tensor_release(b);
}
END_TEST

START_TEST(test_released_twice)
{
    nb_tensor *a = nb_zeros(NB_DIMS(3), NB_F64);
    nb_tensor_release(a);
    TU_EXPECT_ERROR("nb_tensor_release: " UAR, nb_tensor_release(a));
}
END_TEST

START_TEST(test_creation_number_is_reported)
{
    nb_tensor *a = nb_zeros(NB_DIMS(3), NB_F32);
    uint64_t id = nb_tensor_debug_id(a);
    ck_assert(id > 0);
    nb_tensor *b = nb_zeros(NB_DIMS(3), NB_F32);
    ck_assert(nb_tensor_debug_id(b) == id + 1);
    nb_tensor_release(a);
    char want[128];
    snprintf(want, sizeof want, "nb_neg: " UAR "%llu, shape [3], float32)", (unsigned long long)id);
    TU_EXPECT_ERROR(want, nb_neg(a));
    nb_tensor_release(b);
}
END_TEST

START_TEST(test_freed_storage_is_poisoned)
{
    /* the storage dies with its last tensor; its bytes are overwritten (0xFF: NaN for floats, -1
     * for integers) so a stale data pointer reads garbage, not the old values. The header and the
     * storage stay mapped (quarantined) so this read is itself defined. */
    nb_tensor *a = nb_full(NB_DIMS(4), 3.0, NB_F32);
    const float *p = nb_tensor_data(a);
    nb_tensor *v = nb_narrow(a, 0, 1, 2); /* a view keeps the storage alive */
    nb_tensor_release(a);
    ck_assert(p[0] == 3.0f); /* still owned by the view */
    nb_tensor_release(v);
    for (int i = 0; i < 4; i++)
        ck_assert_msg(isnan(p[i]), "element %d = %g after release", i, (double)p[i]);
}
END_TEST

START_TEST(test_live_views_and_scopes_unaffected)
{
    int scope = nb_scope_begin();
    nb_tensor *x = nb_tensor_requires_grad_(nb_ones(NB_DIMS(2, 3), NB_F32), true);
    nb_tensor *y = nb_sum(nb_mul(nb_transpose(x, 0, 1), nb_transpose(x, 0, 1)), NB_ALL_AXES, false);
    nb_backward(y, NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 3), VALS(2, 2, 2, 2, 2, 2), 0);
    nb_scope_end(scope);
}
END_TEST

/* ---- nb_recover ----------------------------------------------------------------------------- */
START_TEST(test_recover_restores_grad_mode_and_scopes)
{
    int depth = nb_scope_depth();
    nb_tensor *a = nb_ones(NB_DIMS(2, 3), NB_F32);
    nb_tensor *volatile kept = NULL; /* assigned between setjmp and longjmp */
    /* a misuse inside NB_NO_GRAD and two scopes: the longjmp skips their ends */
    TU_EXPECT_ERROR("nb_matmul", {
        nb_set_grad_enabled(false);
        nb_scope_begin();
        kept = nb_zeros(NB_DIMS(5), NB_F32);
        nb_scope_begin();
        nb_matmul(a, a);
    });
    ck_assert(!nb_is_grad_enabled());
    ck_assert_int_eq(nb_scope_depth(), depth + 2);
    nb_recover(depth);
    ck_assert(nb_is_grad_enabled());
    ck_assert_int_eq(nb_scope_depth(), depth);
    /* the scopes' tensors were released with them */
    TU_EXPECT_ERROR("nb_tensor_get: " UAR, nb_tensor_get(kept, (const int64_t[]){0}));
    /* the library works as before */
    int work = nb_scope_begin(); /* (frees the intermediates: the sanitizer build checks leaks) */
    nb_tensor *x = nb_tensor_requires_grad_(nb_full(NB_DIMS(2), 3.0, NB_F32), true);
    nb_tensor *y = nb_sum(nb_mul(x, x), NB_ALL_AXES, false);
    nb_backward(y, NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2), VALS(6, 6), 0);
    nb_scope_end(work);
    nb_tensor_release(a);
    TU_EXPECT_ERROR("nb_recover", nb_recover(depth + 1));
    TU_EXPECT_ERROR("nb_recover", nb_recover(-1));
}
END_TEST

START_TEST(test_recover_after_backward_misuse)
{
    /* a misuse inside backward (a saved tensor modified in place) leaves grad mode off and the
     * engine's scopes open */
    int work = nb_scope_begin(); /* the test's own tensors (the sanitizer build checks leaks) */
    int depth = nb_scope_depth();
    nb_tensor *x = nb_tensor_requires_grad_(nb_ones(NB_DIMS(3), NB_F32), true);
    nb_tensor *h = nb_exp(x);
    nb_tensor *y = nb_sum(nb_mul(h, h), NB_ALL_AXES, false);
    NB_NO_GRAD { nb_add_(h, h); }
    TU_EXPECT_ERROR("modified", nb_backward(y, NULL, false));
    ck_assert(!nb_is_grad_enabled());
    ck_assert_int_gt(nb_scope_depth(), depth);
    nb_recover(depth);
    ck_assert(nb_is_grad_enabled());
    ck_assert_int_eq(nb_scope_depth(), depth);
    nb_scope_end(work);
}
END_TEST

int main(void)
{
    setenv("NB_DEBUG", "1", 1); /* read once, at the first tensor */
    Suite *s = suite_create("debug");
    TCase *tc = tcase_create("debug");
    tcase_add_test(tc, test_use_after_release_names_the_op);
    tcase_add_test(tc, test_released_twice);
    tcase_add_test(tc, test_creation_number_is_reported);
    tcase_add_test(tc, test_freed_storage_is_poisoned);
    tcase_add_test(tc, test_live_views_and_scopes_unaffected);
    tcase_add_test(tc, test_recover_restores_grad_mode_and_scopes);
    tcase_add_test(tc, test_recover_after_backward_misuse);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
