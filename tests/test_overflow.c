/* test_overflow.c — size/stride/offset arithmetic at extreme values, and value conversions that
 * C leaves undefined (issue #16). Every view and creation function is called with sizes, starts,
 * steps and values near INT64_MAX / INT64_MIN: each either gives the mathematically right result
 * (Python's slice semantics; PyTorch 1.13 values where it defines them, printed by
 * /usr/bin/python3 -c "import torch; ...", quoted at each check) or stops through the misuse
 * handler naming the op. The sanitizer build (UBSan with float-cast-overflow) runs this suite
 * too, so a silent signed overflow or an out-of-range float-to-int cast fails it there. Also
 * the gradient a released tensor had asked to retain (a write through a dangling pointer). */
#include "testutil.h"

#include "nb__tensor.h" /* nb__numel, nb__fits */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define S(...) ((const int64_t[]){__VA_ARGS__})
#define BIG ((int64_t)1 << 62)

static nb_tensor *seq10(void) { return nb_arange(0, 10, 1, NB_F32); }

/* ---- views ----------------------------------------------------------------------------------- */
START_TEST(test_narrow_extremes)
{
    nb_tensor *t = seq10();
    /* start + length overflowed and passed the bounds check */
    TU_EXPECT_ERROR("nb_narrow", nb_narrow(t, 0, INT64_MAX - 1, 2));
    TU_EXPECT_ERROR("nb_narrow", nb_narrow(t, 0, 8, INT64_MAX - 7));
    TU_EXPECT_ERROR("nb_narrow", nb_narrow(t, 0, INT64_MIN, 1));
    TU_EXPECT_ERROR("nb_narrow", nb_narrow(t, 0, 0, INT64_MAX));
    nb_tensor *n = nb_narrow(t, 0, 8, 2); /* the edge itself is fine */
    tu_assert_shape_values(n, NB_DIMS(2), VALS(8, 9), 0);
}
END_TEST

START_TEST(test_slice_extremes)
{
    nb_tensor *t = seq10();
    /* Python: list(range(10))[0:10:2**63-1] == [0] (PyTorch 1.13 overflows and gives []) */
    nb_tensor *s = nb_slice(t, 0, 0, 10, INT64_MAX);
    tu_assert_shape(s, NB_DIMS(1));
    tu_assert_values(s, VALS(0), 0);
    s = nb_slice(t, 0, 3, INT64_MAX, INT64_MAX - 1); /* [3::huge] == [3] */
    tu_assert_values(s, VALS(3), 0);
    s = nb_slice(t, 0, INT64_MIN, INT64_MAX, 4); /* [::4] */
    tu_assert_values(s, VALS(0, 4, 8), 0);
    s = nb_slice(t, 0, INT64_MAX, INT64_MIN, 1); /* empty */
    tu_assert_shape(s, NB_DIMS(0));
    s = nb_slice(t, 0, -INT64_MAX, -1, 3); /* [:-1:3] */
    tu_assert_values(s, VALS(0, 3, 6), 0);
    /* a strided base: the step multiplies a stride of 2 */
    nb_tensor *m = nb_reshape(nb_arange(0, 20, 1, NB_F32), NB_DIMS(10, 2));
    s = nb_slice(nb_transpose(m, 0, 1), 1, 1, 10, INT64_MAX / 2);
    tu_assert_shape(s, NB_DIMS(2, 1));
    tu_assert_values(s, VALS(2, 3), 0);
}
END_TEST

START_TEST(test_expand_extremes)
{
    nb_tensor *t = nb_zeros(NB_DIMS(1, 4), NB_F32);
    /* numel 2^64 wrapped to 0 */
    TU_EXPECT_ERROR("nb_expand", nb_expand(t, NB_DIMS(BIG, 4)));
    TU_EXPECT_ERROR("nb_expand", nb_expand(t, NB_DIMS(INT64_MAX, 4)));
    TU_EXPECT_ERROR("nb_expand", nb_expand(t, NB_DIMS(4, 4, BIG, 4)));
    TU_EXPECT_ERROR("nb_expand", nb_expand(t, NB_DIMS(INT64_MAX, INT64_MAX, 0, 4)));
    nb_tensor *e = nb_expand(t, NB_DIMS(1000, 4));
    ck_assert_int_eq(nb_tensor_numel(e), 4000);
}
END_TEST

START_TEST(test_view_reshape_extremes)
{
    nb_tensor *z = nb_zeros(NB_DIMS(0), NB_F32);
    /* strides INT64_MAX * INT64_MAX overflowed */
    TU_EXPECT_ERROR("nb_view", nb_view(z, NB_DIMS(0, INT64_MAX, INT64_MAX)));
    TU_EXPECT_ERROR("nb_reshape", nb_reshape(z, NB_DIMS(0, INT64_MAX, INT64_MAX)));
    TU_EXPECT_ERROR("nb_reshape", nb_reshape(z, NB_DIMS(INT64_MAX, INT64_MAX, 0)));
    TU_EXPECT_ERROR("nb_reshape", nb_reshape(z, NB_DIMS(BIG, BIG, -1)));
    nb_tensor *t = seq10();
    /* 13 * 1418980313362273202 == 2^64 + 10 wrapped to 10 and passed the element count check */
    TU_EXPECT_ERROR("nb_view", nb_view(t, NB_DIMS(13, 1418980313362273202)));
    TU_EXPECT_ERROR("nb_view", nb_view(t, NB_DIMS((int64_t)1 << 32, (int64_t)1 << 32, 10, -1)));
    tu_assert_shape(nb_reshape(z, NB_DIMS(0, 5)), NB_DIMS(0, 5));
    /* torch: "the unspecified dimension size -1 can be any value and is ambiguous" */
    TU_EXPECT_ERROR("nb_reshape", nb_reshape(z, NB_DIMS(0, 5, -1)));
}
END_TEST

START_TEST(test_select_unsqueeze_flatten_extremes)
{
    nb_tensor *t = seq10();
    TU_EXPECT_ERROR("nb_select", nb_select(t, 0, INT64_MIN));
    TU_EXPECT_ERROR("nb_select", nb_select(t, 0, INT64_MAX));
    nb_tensor *e = nb_expand(nb_zeros(NB_DIMS(1), NB_F32), NB_DIMS(1 << 20, 1 << 20));
    nb_tensor *u = nb_unsqueeze(e, 0);
    tu_assert_shape(u, NB_DIMS(1, 1 << 20, 1 << 20));
    tu_assert_shape(nb_flatten(e, 0, -1), NB_DIMS((int64_t)1 << 40));
}
END_TEST

START_TEST(test_split_extremes)
{
    nb_tensor *t = seq10();
    nb_tensor *out[4];
    /* torch.arange(10.).split(2**63-1) is one piece of 10 */
    ck_assert_int_eq(nb_split(t, INT64_MAX, 0, out, 4), 1);
    tu_assert_shape(out[0], NB_DIMS(10));
    ck_assert_int_eq(nb_split(t, INT64_MAX - 8, 0, out, 4), 1);
    TU_EXPECT_ERROR("nb_split", nb_chunk(t, 1 << 30, 0, out, 4)); /* 10 pieces of 1 */
    ck_assert_int_eq(nb_chunk(t, 3, 0, out, 4), 3);
}
END_TEST

START_TEST(test_tensor_index_extremes)
{
    nb_tensor *t = seq10();
    TU_EXPECT_ERROR("nb_tensor_get", nb_tensor_get(t, S(INT64_MIN)));
    TU_EXPECT_ERROR("nb_tensor_set", nb_tensor_set(t, S(INT64_MAX), 1));
}
END_TEST

/* ---- creation --------------------------------------------------------------------------------- */
START_TEST(test_creation_extremes)
{
    TU_EXPECT_ERROR("nb_empty", nb_empty(NB_DIMS(BIG, 4), NB_F32));
    /* every creation function's shape is checked as nb_empty's (test_tensor's messages) */
    TU_EXPECT_ERROR("nb_empty: shape [9223372036854775807, 9223372036854775807, 0] has too many elements",
                    nb_zeros(NB_DIMS(INT64_MAX, INT64_MAX, 0), NB_F32));
    TU_EXPECT_ERROR("nb_empty", nb_eye(INT64_MAX, INT64_MAX, NB_F32));
    TU_EXPECT_ERROR("nb_empty: negative size", nb_eye(INT64_MIN, 2, NB_F32));
    TU_EXPECT_ERROR("nb_empty", nb_from_doubles((const double[]){1}, NB_DIMS(BIG, BIG), NB_F64));
    /* (int64_t)ceil(1e30) is undefined */
    TU_EXPECT_ERROR("nb_arange", nb_arange(0, 1e30, 1, NB_F32));
    TU_EXPECT_ERROR("nb_arange", nb_arange(-1e300, 1e300, 1e-300, NB_F64));
    TU_EXPECT_ERROR("nb_empty", nb_empty(NB_DIMS(BIG / 2, 2), NB_F32));
    nb_tensor *z = nb_zeros(NB_DIMS(0, INT64_MAX / 16), NB_F32); /* the documented limit: 2^59 - 1 */
    ck_assert_int_eq(nb_tensor_numel(z), 0);
    TU_EXPECT_ERROR("nb_empty", nb_zeros(NB_DIMS(0, INT64_MAX / 16 + 1), NB_F32));
}
END_TEST

START_TEST(test_randint_full_range)
{
    /* high - low overflowed for ranges wider than INT64_MAX; values above 2^53 went through double */
    nb_generator g, ref;
    nb_generator_seed(&g, 7);
    nb_generator_seed(&ref, 7);
    nb_tensor *t = nb_randint(INT64_MIN, INT64_MAX, NB_DIMS(256), NB_I64, &g);
    const int64_t *v = nb_tensor_data(t);
    int neg = 0, pos = 0;
    for (int i = 0; i < 256; i++) {
        uint64_t want = (uint64_t)INT64_MIN + nb_generator_below(&ref, UINT64_MAX);
        ck_assert_msg((uint64_t)v[i] == want, "element %d: %lld != %llu", i, (long long)v[i],
                      (unsigned long long)want);
        neg += v[i] < 0, pos += v[i] > 0;
        ck_assert(v[i] != INT64_MAX);
    }
    ck_assert(neg > 64 && pos > 64);
    /* odd exact values above 2^53 survive (they were rounded through double) */
    nb_generator_seed(&g, 9);
    nb_generator_seed(&ref, 9);
    t = nb_randint(((int64_t)1 << 60) + 1, ((int64_t)1 << 60) + 3, NB_DIMS(64), NB_I64, &g);
    v = nb_tensor_data(t);
    for (int i = 0; i < 64; i++)
        ck_assert_int_eq(v[i], ((int64_t)1 << 60) + 1 + (int64_t)nb_generator_below(&ref, 2));
    /* torch.randint(0, 2**40, (1,), dtype=torch.int32): "to - 1 is out of bounds for int" */
    TU_EXPECT_ERROR("nb_randint", nb_randint(0, (int64_t)1 << 40, NB_DIMS(4), NB_I32, NULL));
    TU_EXPECT_ERROR("nb_randint", nb_randint(INT64_MIN, 0, NB_DIMS(4), NB_I32, NULL));
    t = nb_randint(INT32_MIN, (int64_t)INT32_MAX + 1, NB_DIMS(64), NB_I32, NULL); /* the full int32 range */
    ck_assert_int_eq(nb_tensor_dtype(t), NB_I32);
}
END_TEST

/* ---- float -> integer conversions -------------------------------------------------------------- */
START_TEST(test_full_scalar_fill_conversions)
{
    /* torch.full((1,), 1e30, dtype=torch.int32): "value cannot be converted to type int without
     * overflow"; likewise NaN and +-Inf to any integer dtype */
    TU_EXPECT_ERROR("nb_full: value 1e+30 cannot be converted to int32", nb_full(NB_DIMS(2), 1e30, NB_I32));
    TU_EXPECT_ERROR("nb_full", nb_full(NB_DIMS(2), 2147483648.0, NB_I32));
    TU_EXPECT_ERROR("nb_full", nb_full(NB_DIMS(2), -2147483649.0, NB_I32));
    TU_EXPECT_ERROR("nb_full", nb_full(NB_DIMS(2), 9223372036854775808.0, NB_I64));
    TU_EXPECT_ERROR("nb_scalar: value nan cannot be converted to int64", nb_scalar(NAN, NB_I64));
    TU_EXPECT_ERROR("nb_scalar", nb_scalar(-INFINITY, NB_I32));
    nb_tensor *i = nb_zeros(NB_DIMS(3), NB_I32);
    TU_EXPECT_ERROR("nb_fill_", nb_fill_(i, INFINITY));
    TU_EXPECT_ERROR("nb_tensor_set", nb_tensor_set(i, S(0), 1e10));
    TU_EXPECT_ERROR("nb_from_doubles", nb_from_doubles((const double[]){1, NAN}, NB_DIMS(2), NB_I64));
    /* torch.arange(2147483640, 2147483650, dtype=torch.int32) overflows int32 */
    TU_EXPECT_ERROR("nb_arange", nb_arange(2147483640.0, 2147483650.0, 1, NB_I32));
    /* torch.full((1,), 2.7 / -2.7, dtype=torch.int32) == 2 / -2: truncation toward zero */
    tu_assert_shape_values(nb_full(NB_DIMS(1), 2.7, NB_I32), NB_DIMS(1), VALS(2), 0);
    tu_assert_shape_values(nb_full(NB_DIMS(1), -2.7, NB_I32), NB_DIMS(1), VALS(-2), 0);
    tu_assert_shape_values(nb_full(NB_DIMS(1), 2147483647.9, NB_I32), NB_DIMS(1), VALS(2147483647), 0);
    tu_assert_shape_values(nb_full(NB_DIMS(1), -2147483648.9, NB_I32), NB_DIMS(1), VALS(-2147483648.0), 0);
    nb_tensor *m = nb_scalar(-9223372036854775808.0, NB_I64);
    ck_assert(*(const int64_t *)nb_tensor_data(m) == INT64_MIN);
    /* bool: any nonzero (NaN too) is true, as torch.tensor(float('nan')).bool() */
    tu_assert_shape_values(nb_full(NB_DIMS(1), NAN, NB_BOOL), NB_DIMS(1), VALS(1), 0);
    /* float64 -> float32 overflow rounds to inf as IEEE-754 (and PyTorch) do */
    ck_assert(isinf(nb_tensor_item(nb_scalar(1e300, NB_F32))));
    ck_assert(!nb__fits(NB_I64, 9223372036854775808.0) && nb__fits(NB_I64, 9223372036854774784.0));
}
END_TEST

START_TEST(test_to_dtype_conversions)
{
    nb_tensor *f = nb_from_doubles((const double[]){1.5, NAN}, NB_DIMS(2), NB_F32);
    TU_EXPECT_ERROR("nb_to_dtype: value nan cannot be converted to int32", nb_to_dtype(f, NB_I32));
    f = nb_from_doubles((const double[]){INFINITY}, NB_DIMS(1), NB_F64);
    TU_EXPECT_ERROR("nb_to_dtype: value inf cannot be converted to int64", nb_to_dtype(f, NB_I64));
    f = nb_from_doubles((const double[]){-3e9}, NB_DIMS(1), NB_F64);
    TU_EXPECT_ERROR("nb_to_dtype", nb_to_dtype(f, NB_I32));
    nb_tensor *dst = nb_zeros(NB_DIMS(1), NB_I64);
    TU_EXPECT_ERROR("nb_copy_", nb_copy_(dst, nb_scalar(1e19, NB_F64)));
    f = nb_from_doubles((const double[]){-2.9, 2.9, 2147483647.5}, NB_DIMS(3), NB_F64);
    tu_assert_shape_values(nb_to_dtype(f, NB_I32), NB_DIMS(3), VALS(-2, 2, 2147483647), 0);
    /* torch.tensor([2**40+5, -(2**40)-7, 2**31]).to(torch.int32) == [5, -7, -2147483648]: integer
     * narrowing wraps */
    int64_t w[3] = {((int64_t)1 << 40) + 5, -((int64_t)1 << 40) - 7, (int64_t)1 << 31};
    nb_tensor *n = nb_to_dtype(nb_from_data(w, NB_DIMS(3), NB_I64), NB_I32);
    const int32_t *nv = nb_tensor_data(n);
    ck_assert(nv[0] == 5 && nv[1] == -7 && nv[2] == INT32_MIN);
    /* torch.tensor([9007199791611905]).to(torch.float32).item() == 9007200328482816.0: one
     * rounding, not two through double (which gives 9007199254740992) */
    int64_t big = 9007199791611905;
    nb_tensor *g = nb_to_dtype(nb_from_data(&big, NB_DIMS(1), NB_I64), NB_F32);
    ck_assert(*(const float *)nb_tensor_data(g) == 9007200328482816.0f);
    /* int64 values above 2^53 copy exactly between int64 tensors of other layouts */
    int64_t e[2] = {INT64_MAX, ((int64_t)1 << 53) + 1};
    nb_tensor *src = nb_from_data(e, NB_DIMS(2), NB_I64);
    nb_tensor *i32 = nb_zeros(NB_DIMS(2), NB_I32);
    nb_copy_(i32, src); /* wraps: [-1, 1] */
    ck_assert(((const int32_t *)nb_tensor_data(i32))[0] == -1 && ((const int32_t *)nb_tensor_data(i32))[1] == 1);
}
END_TEST

/* ---- integer arithmetic wraps (two's complement, as PyTorch) ----------------------------------- */
START_TEST(test_integer_add_sum_wrap)
{
    /* torch.tensor([2**63-1]) + 1 == -2**63; torch.tensor([2**63-1, 1]).sum() == -2**63;
     * int32 2147483647 + 1 == -2147483648. Signed overflow in C is undefined: the kernels must do
     * this arithmetic in unsigned (UBSan reports it otherwise). */
    int64_t a[2] = {INT64_MAX, 1};
    nb_tensor *t = nb_from_data(a, NB_DIMS(2), NB_I64);
    nb_tensor *s = nb_add(nb_narrow(t, 0, 0, 1), nb_narrow(t, 0, 1, 1));
    ck_assert(*(const int64_t *)nb_tensor_data(s) == INT64_MIN);
    nb_tensor *sum = nb_sum(t, NB_ALL_AXES, false);
    ck_assert(*(const int64_t *)nb_tensor_data(sum) == INT64_MIN);
    int32_t b[2] = {INT32_MAX, 1};
    nb_tensor *u = nb_from_data(b, NB_DIMS(2), NB_I32);
    nb_tensor *s32 = nb_add(nb_narrow(u, 0, 0, 1), nb_narrow(u, 0, 1, 1));
    ck_assert(*(const int32_t *)nb_tensor_data(s32) == INT32_MIN);
}
END_TEST

/* ---- gradients: checked where they are set ---------------------------------------------------- */
START_TEST(test_set_grad_checks)
{
    nb_tensor *w = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(2, 3), NB_F32), true);
    /* torch: "assigned grad has data of a different type" */
    TU_EXPECT_ERROR("nb_tensor_set_grad: gradient dtype float64 does not match tensor dtype float32",
                    nb_tensor_set_grad(w, nb_zeros(NB_DIMS(2, 3), NB_F64)));
    TU_EXPECT_ERROR("nb_tensor_set_grad", nb_tensor_set_grad(w, nb_zeros(NB_DIMS(3, 2), NB_F32)));
    TU_EXPECT_ERROR("nb_tensor_set_grad", nb_tensor_set_grad(w, nb_zeros(NB_DIMS(2, 3), NB_I32)));
    nb_tensor_set_grad(w, nb_ones(NB_DIMS(2, 3), NB_F32));
    ck_assert_ptr_nonnull(nb_tensor_get_grad(w));
    nb_tensor_set_grad(w, NULL);
    ck_assert_ptr_null(nb_tensor_get_grad(w));
}
END_TEST

/* ---- a released tensor's retained gradient ---------------------------------------------------- */
START_TEST(test_retain_grad_of_released_tensor)
{
    /* h asks to keep its gradient and is released while y's graph still holds h's node: backward
     * wrote the gradient through the node's pointer to the freed h, i.e. into whatever tensor
     * reused h's header (z here, with the caching allocator; ASan reports it otherwise) */
    nb_tensor *x = nb_tensor_requires_grad_(nb_full(NB_DIMS(2), 3.0, NB_F32), true);
    nb_tensor *h = nb_mul(x, x);
    nb_tensor_retain_grad(h);
    nb_tensor *y = nb_sum(h, NB_ALL_AXES, false);
    nb_tensor_release(h);
    nb_tensor *z = nb_zeros(NB_DIMS(2), NB_F32);
    nb_backward(y, NULL, false);
    ck_assert_ptr_null(nb_tensor_get_grad(z));
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2), VALS(6, 6), 0);
    nb_tensor_release(z);
    nb_tensor_release(y);
    nb_tensor_release(x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("overflow");
    TCase *tc = tcase_create("overflow");
    tcase_add_checked_fixture(tc, tu_scope_setup, tu_scope_teardown);
    tcase_add_test(tc, test_narrow_extremes);
    tcase_add_test(tc, test_slice_extremes);
    tcase_add_test(tc, test_expand_extremes);
    tcase_add_test(tc, test_view_reshape_extremes);
    tcase_add_test(tc, test_select_unsqueeze_flatten_extremes);
    tcase_add_test(tc, test_split_extremes);
    tcase_add_test(tc, test_tensor_index_extremes);
    tcase_add_test(tc, test_creation_extremes);
    tcase_add_test(tc, test_randint_full_range);
    tcase_add_test(tc, test_full_scalar_fill_conversions);
    tcase_add_test(tc, test_to_dtype_conversions);
    tcase_add_test(tc, test_integer_add_sum_wrap);
    tcase_add_test(tc, test_set_grad_checks);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("released"); /* no scope: the test releases by hand */
    tcase_add_test(tr, test_retain_grad_of_released_tensor);
    suite_add_tcase(s, tr);
    return tu_run_suite(s);
}
