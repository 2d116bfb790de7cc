/* test_print.c — nb_tensor_repr and printing: PyTorch 1.13's repr strings (tests/ref_tensor.py)
 * with nabla's dtype names, scientific notation, every dtype, 0-dim and empty tensors, non-finite
 * values, strided layouts, summarized large tensors and printing to a FILE. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define D(...) ((const double[]){__VA_ARGS__})
#define S(...) ((const int64_t[]){__VA_ARGS__})

/* ---- printing ----------------------------------------------------------------------------- */
/* Expected strings: PyTorch 1.13's repr (tests/ref_tensor.py), with nabla's dtype names. */
static void check_repr(nb_tensor *t, const char *want)
{
    char *got = nb_tensor_repr(t);
    ck_assert_msg(got != NULL, "nb_tensor_repr returned NULL");
    ck_assert_msg(strcmp(got, want) == 0, "repr mismatch:\n--- got ---\n%s\n--- want ---\n%s", got, want);
    free(got);
}

START_TEST(test_print_basic)
{
    int scope = nb_scope_begin();
    check_repr(tu_tensor(NB_F32, NB_DIMS(2, 2), D(1.0, 2.5, 3.0, 4.0)),
               "tensor([[1.0000, 2.5000],\n"
               "        [3.0000, 4.0000]])");
    check_repr(tu_tensor(NB_F32, NB_DIMS(3), D(1, 2, 3)), "tensor([1., 2., 3.])");
    check_repr(tu_tensor(NB_F32, NB_DIMS(2), D(-0.0, 1)), "tensor([-0., 1.])");
    check_repr(tu_tensor(NB_F32, NB_DIMS(2, 2), D(-1.25, 10.5, 100, 0)),
               "tensor([[ -1.2500,  10.5000],\n"
               "        [100.0000,   0.0000]])");
    check_repr(tu_tensor(NB_F32, NB_DIMS(2), D(0, 0)), "tensor([0., 0.])");
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_print_sci)
{
    int scope = nb_scope_begin();
    check_repr(tu_tensor(NB_F32, NB_DIMS(2), D(1e5, 1.0)), "tensor([1.0000e+05, 1.0000e+00])");
    check_repr(tu_tensor(NB_F32, NB_DIMS(2), D(1e-5, 1.0)), "tensor([1.0000e-05, 1.0000e+00])");
    check_repr(tu_tensor(NB_F32, NB_DIMS(1), D(1e9)), "tensor([1.0000e+09])");
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_print_dtypes)
{
    int scope = nb_scope_begin();
    check_repr(tu_tensor(NB_I64, NB_DIMS(3), D(1, -20, 300)), "tensor([  1, -20, 300])");
    check_repr(tu_tensor(NB_I32, NB_DIMS(2, 2), D(7, -8, 9, 10)),
               "tensor([[ 7, -8],\n"
               "        [ 9, 10]], dtype=int32)");
    check_repr(tu_tensor(NB_F64, NB_DIMS(2), D(0.5, -1.0)), "tensor([ 0.5000, -1.0000], dtype=float64)");
    /* like PyTorch, bool (as int64 and float32) is a default dtype: True/False show it */
    check_repr(tu_tensor(NB_BOOL, NB_DIMS(3), D(1, 0, 1)), "tensor([ True, False,  True])");
    const int64_t big[] = {INT64_MAX, -3};
    check_repr(nb_from_data(big, NB_DIMS(2), NB_I64), "tensor([9223372036854775807,                  -3])");
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_print_0dim_and_empty)
{
    int scope = nb_scope_begin();
    check_repr(nb_scalar(3.5, NB_F32), "tensor(3.5000)");
    check_repr(nb_scalar(7, NB_I64), "tensor(7)");
    check_repr(nb_scalar(-2, NB_F64), "tensor(-2., dtype=float64)");
    check_repr(nb_zeros(NB_DIMS(0, 3), NB_F32), "tensor([], size=(0, 3))");
    check_repr(nb_zeros(NB_DIMS(0), NB_F32), "tensor([])");
    check_repr(nb_zeros(NB_DIMS(0), NB_I32), "tensor([], dtype=int32)");
    check_repr(nb_zeros(NB_DIMS(2, 0), NB_I64), "tensor([], size=(2, 0), dtype=int64)");
    check_repr(nb_zeros(NB_DIMS(0), NB_BOOL), "tensor([], dtype=bool)");
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_print_nonfinite)
{
    int scope = nb_scope_begin();
    check_repr(tu_tensor(NB_F32, NB_DIMS(3), D(1.5, NAN, -INFINITY)), "tensor([1.5000,    nan,   -inf])");
    check_repr(tu_tensor(NB_F32, NB_DIMS(3), D(NAN, 1, INFINITY)), "tensor([nan, 1., inf])");
    check_repr(tu_tensor(NB_F64, NB_DIMS(1), D(-NAN)), "tensor([nan], dtype=float64)");
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_print_layout)
{
    int scope = nb_scope_begin();
    check_repr(nb_reshape(nb_arange(0, 8, 1, NB_F32), NB_DIMS(2, 2, 2)),
               "tensor([[[0., 1.],\n"
               "         [2., 3.]],\n"
               "\n"
               "        [[4., 5.],\n"
               "         [6., 7.]]])");
    check_repr(nb_arange(0, 30, 1, NB_F32),
               "tensor([ 0.,  1.,  2.,  3.,  4.,  5.,  6.,  7.,  8.,  9., 10., 11., 12., 13.,\n"
               "        14., 15., 16., 17., 18., 19., 20., 21., 22., 23., 24., 25., 26., 27.,\n"
               "        28., 29.])");
    nb_tensor *row = nb_empty(NB_DIMS(1, 7), NB_F64);
    for (int64_t i = 0; i < 7; i++)
        nb_tensor_set(row, S(0, i), (double)i * 1000.5);
    check_repr(row, "tensor([[   0.0000, 1000.5000, 2001.0000, 3001.5000, 4002.0000, 5002.5000,\n"
                    "         6003.0000]], dtype=float64)");
    check_repr(nb_reshape(nb_arange(10, 46, 1, NB_I64), NB_DIMS(1, 2, 18)),
               "tensor([[[10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,\n"
               "          27],\n"
               "         [28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44,\n"
               "          45]]])");
    nb_tensor *wide = nb_empty(NB_DIMS(6), NB_F64);
    for (int64_t i = 0; i < 6; i++)
        nb_tensor_set(wide, S(i), (double)i * 1000.5 + 1000.25);
    check_repr(wide, "tensor([1000.2500, 2000.7500, 3001.2500, 4001.7500, 5002.2500, 6002.7500],\n"
                     "       dtype=float64)");
    check_repr(nb_tensor_requires_grad_(tu_tensor(NB_F64, NB_DIMS(2), D(1.5, 2)), true),
               "tensor([1.5000, 2.0000], dtype=float64, requires_grad=True)");
    /* a non-contiguous tensor prints in logical order */
    nb_tensor *m = tu_tensor(NB_F32, NB_DIMS(2, 3), D(1, 2, 3, 4, 5, 6));
    check_repr(nb_transpose(m, 0, 1),
               "tensor([[1., 4.],\n"
               "        [2., 5.],\n"
               "        [3., 6.]])");
    nb_tensor *sliced = tu_relayout(m, TU_SLICED);
    check_repr(sliced,
               "tensor([[1., 2., 3.],\n"
               "        [4., 5., 6.]])");
    nb_tensor_release(sliced);
    check_repr(nb_expand(nb_narrow(m, 0, 1, 1), NB_DIMS(2, 3)),
               "tensor([[4., 5., 6.],\n"
               "        [4., 5., 6.]])");
    nb_tensor *leaf = nb_tensor_requires_grad_(nb_scalar(3.5, NB_F32), true);
    check_repr(leaf, "tensor(3.5000, requires_grad=True)");
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_print_summarized)
{
    int scope = nb_scope_begin();
    /* 1000 elements: printed in full (PyTorch's repr is 6672 characters long) */
    char *full = nb_tensor_repr(nb_arange(0, 1000, 1, NB_F32));
    ck_assert_uint_eq(strlen(full), 6672);
    ck_assert(strstr(full, "...") == NULL);
    ck_assert_str_eq(full + strlen(full) - 40, ", 995.,\n        996., 997., 998., 999.])");
    free(full);
    check_repr(nb_arange(0, 1001, 1, NB_F32), "tensor([   0.,    1.,    2.,  ...,  998.,  999., 1000.])");
    check_repr(nb_reshape(nb_arange(0, 2000, 1, NB_I64), NB_DIMS(40, 50)),
               "tensor([[   0,    1,    2,  ...,   47,   48,   49],\n"
               "        [  50,   51,   52,  ...,   97,   98,   99],\n"
               "        [ 100,  101,  102,  ...,  147,  148,  149],\n"
               "        ...,\n"
               "        [1850, 1851, 1852,  ..., 1897, 1898, 1899],\n"
               "        [1900, 1901, 1902,  ..., 1947, 1948, 1949],\n"
               "        [1950, 1951, 1952,  ..., 1997, 1998, 1999]])");
    /* (torch.arange(1200.) - 600).reshape(10, 12, 10) / 8 */
    nb_tensor *c = nb_empty(NB_DIMS(10, 12, 10), NB_F32);
    for (int64_t i = 0; i < 10; i++)
        for (int64_t j = 0; j < 12; j++)
            for (int64_t k = 0; k < 10; k++)
                nb_tensor_set(c, S(i, j, k), ((double)(i * 120 + j * 10 + k) - 600) / 8);
    check_repr(c,
               "tensor([[[-75.0000, -74.8750, -74.7500,  ..., -74.1250, -74.0000, -73.8750],\n"
               "         [-73.7500, -73.6250, -73.5000,  ..., -72.8750, -72.7500, -72.6250],\n"
               "         [-72.5000, -72.3750, -72.2500,  ..., -71.6250, -71.5000, -71.3750],\n"
               "         ...,\n"
               "         [-63.7500, -63.6250, -63.5000,  ..., -62.8750, -62.7500, -62.6250],\n"
               "         [-62.5000, -62.3750, -62.2500,  ..., -61.6250, -61.5000, -61.3750],\n"
               "         [-61.2500, -61.1250, -61.0000,  ..., -60.3750, -60.2500, -60.1250]],\n"
               "\n"
               "        [[-60.0000, -59.8750, -59.7500,  ..., -59.1250, -59.0000, -58.8750],\n"
               "         [-58.7500, -58.6250, -58.5000,  ..., -57.8750, -57.7500, -57.6250],\n"
               "         [-57.5000, -57.3750, -57.2500,  ..., -56.6250, -56.5000, -56.3750],\n"
               "         ...,\n"
               "         [-48.7500, -48.6250, -48.5000,  ..., -47.8750, -47.7500, -47.6250],\n"
               "         [-47.5000, -47.3750, -47.2500,  ..., -46.6250, -46.5000, -46.3750],\n"
               "         [-46.2500, -46.1250, -46.0000,  ..., -45.3750, -45.2500, -45.1250]],\n"
               "\n"
               "        [[-45.0000, -44.8750, -44.7500,  ..., -44.1250, -44.0000, -43.8750],\n"
               "         [-43.7500, -43.6250, -43.5000,  ..., -42.8750, -42.7500, -42.6250],\n"
               "         [-42.5000, -42.3750, -42.2500,  ..., -41.6250, -41.5000, -41.3750],\n"
               "         ...,\n"
               "         [-33.7500, -33.6250, -33.5000,  ..., -32.8750, -32.7500, -32.6250],\n"
               "         [-32.5000, -32.3750, -32.2500,  ..., -31.6250, -31.5000, -31.3750],\n"
               "         [-31.2500, -31.1250, -31.0000,  ..., -30.3750, -30.2500, -30.1250]],\n"
               "\n"
               "        ...,\n"
               "\n"
               "        [[ 30.0000,  30.1250,  30.2500,  ...,  30.8750,  31.0000,  31.1250],\n"
               "         [ 31.2500,  31.3750,  31.5000,  ...,  32.1250,  32.2500,  32.3750],\n"
               "         [ 32.5000,  32.6250,  32.7500,  ...,  33.3750,  33.5000,  33.6250],\n"
               "         ...,\n"
               "         [ 41.2500,  41.3750,  41.5000,  ...,  42.1250,  42.2500,  42.3750],\n"
               "         [ 42.5000,  42.6250,  42.7500,  ...,  43.3750,  43.5000,  43.6250],\n"
               "         [ 43.7500,  43.8750,  44.0000,  ...,  44.6250,  44.7500,  44.8750]],\n"
               "\n"
               "        [[ 45.0000,  45.1250,  45.2500,  ...,  45.8750,  46.0000,  46.1250],\n"
               "         [ 46.2500,  46.3750,  46.5000,  ...,  47.1250,  47.2500,  47.3750],\n"
               "         [ 47.5000,  47.6250,  47.7500,  ...,  48.3750,  48.5000,  48.6250],\n"
               "         ...,\n"
               "         [ 56.2500,  56.3750,  56.5000,  ...,  57.1250,  57.2500,  57.3750],\n"
               "         [ 57.5000,  57.6250,  57.7500,  ...,  58.3750,  58.5000,  58.6250],\n"
               "         [ 58.7500,  58.8750,  59.0000,  ...,  59.6250,  59.7500,  59.8750]],\n"
               "\n"
               "        [[ 60.0000,  60.1250,  60.2500,  ...,  60.8750,  61.0000,  61.1250],\n"
               "         [ 61.2500,  61.3750,  61.5000,  ...,  62.1250,  62.2500,  62.3750],\n"
               "         [ 62.5000,  62.6250,  62.7500,  ...,  63.3750,  63.5000,  63.6250],\n"
               "         ...,\n"
               "         [ 71.2500,  71.3750,  71.5000,  ...,  72.1250,  72.2500,  72.3750],\n"
               "         [ 72.5000,  72.6250,  72.7500,  ...,  73.3750,  73.5000,  73.6250],\n"
               "         [ 73.7500,  73.8750,  74.0000,  ...,  74.6250,  74.7500,  74.8750]]])");
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_print_to_file)
{
    FILE *f = tmpfile();
    ck_assert(f != NULL);
    nb_tensor *t = tu_tensor(NB_I64, NB_DIMS(2), D(4, 5));
    nb_tensor_print(t, f);
    rewind(f);
    char buf[64] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    ck_assert_uint_eq(n, strlen("tensor([4, 5])\n"));
    ck_assert_str_eq(buf, "tensor([4, 5])\n");
    nb_tensor_release(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("print");
    TCase *pr = tcase_create("print");
    tcase_add_test(pr, test_print_basic);
    tcase_add_test(pr, test_print_sci);
    tcase_add_test(pr, test_print_dtypes);
    tcase_add_test(pr, test_print_0dim_and_empty);
    tcase_add_test(pr, test_print_nonfinite);
    tcase_add_test(pr, test_print_layout);
    tcase_add_test(pr, test_print_summarized);
    tcase_add_test(pr, test_print_to_file);
    suite_add_tcase(s, pr);
    return tu_run_suite(s);
}
