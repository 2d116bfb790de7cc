/* test_tensor.c — the tensor core: dtypes, creation, element access, contiguity, conversion,
 * scopes, misuse messages and the thread count (the generator: test_random.c; printing:
 * test_print.c).
 *
 * Expected values come from plain loops in this file, from the C standard's conversion rules,
 * or from PyTorch 1.13 (tests/ref_tensor.py prints the repr strings and the generator's
 * regression vector from an independent Python implementation of xoshiro256**). */
#define _DEFAULT_SOURCE /* setenv, fork, kill, nanosleep */
#include "testutil.h"

#include "nb__tensor.h" /* refcounts, to observe what scopes release */

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define D(...) ((const double[]){__VA_ARGS__})
#define S(...) ((const int64_t[]){__VA_ARGS__})

static void assert_strides(const nb_tensor *t, int ndim, const int64_t *strides)
{
    ck_assert_int_eq(nb_tensor_ndim(t), ndim);
    for (int i = 0; i < ndim; i++)
        ck_assert_msg(nb_tensor_strides(t)[i] == strides[i], "stride %d: %lld != %lld", i,
                      (long long)nb_tensor_strides(t)[i], (long long)strides[i]);
}

/* ---- dtypes ------------------------------------------------------------------------------- */
START_TEST(test_dtype_table)
{
    static const char *names[] = {"float32", "float64", "int32", "int64", "bool", "bfloat16", "float16"};
    static const size_t sizes[] = {4, 8, 4, 8, 1, 2, 2};
    ck_assert_int_eq(NB_DTYPE_COUNT, 7);
    for (int dt = 0; dt < NB_DTYPE_COUNT; dt++) {
        ck_assert_str_eq(nb_dtype_name((nb_dtype)dt), names[dt]);
        ck_assert_uint_eq(nb_dtype_size((nb_dtype)dt), sizes[dt]);
        ck_assert(nb_dtype_is_float((nb_dtype)dt) == (dt == NB_F32 || dt == NB_F64));
        ck_assert(nb_dtype_is_storage_only((nb_dtype)dt) == (dt == NB_BF16 || dt == NB_F16));
    }
    ck_assert_str_eq(nb_dtype_name(NB_DTYPE_COUNT), "?");
    ck_assert_uint_eq(nb_dtype_size(NB_DTYPE_COUNT), 0);
}
END_TEST

/* ---- creation ----------------------------------------------------------------------------- */
START_TEST(test_empty_geometry)
{
    nb_tensor *t = nb_empty(NB_DIMS(2, 3, 4), NB_F64);
    tu_assert_shape(t, NB_DIMS(2, 3, 4));
    assert_strides(t, 3, S(12, 4, 1));
    ck_assert_int_eq(nb_tensor_offset(t), 0);
    ck_assert_int_eq(nb_tensor_numel(t), 24);
    ck_assert_int_eq(nb_tensor_dtype(t), NB_F64);
    ck_assert_int_eq(nb_tensor_size(t, 1), 3);
    ck_assert_int_eq(nb_tensor_size(t, -1), 4);
    ck_assert(nb_tensor_is_contiguous(t));
    nb_tensor_release(t);

    nb_tensor *s = nb_empty(NB_SCALAR, NB_I32);
    ck_assert_int_eq(nb_tensor_ndim(s), 0);
    ck_assert_int_eq(nb_tensor_numel(s), 1);
    nb_tensor_release(s);

    nb_tensor *z = nb_empty(NB_DIMS(0, 3), NB_F32);
    ck_assert_int_eq(nb_tensor_numel(z), 0);
    assert_strides(z, 2, S(3, 1));
    ck_assert(nb_tensor_is_contiguous(z));
    nb_tensor_release(z);

    nb_tensor *m = nb_empty(NB_DIMS(1, 1, 1, 1, 1, 1, 1, 2), NB_BOOL); /* NB_MAX_DIMS dims */
    ck_assert_int_eq(nb_tensor_ndim(m), NB_MAX_DIMS);
    nb_tensor_release(m);
}
END_TEST

START_TEST(test_zeros_ones_full)
{
    for (int dt = 0; dt < NB_DTYPE_COUNT; dt++) {
        int scope = nb_scope_begin();
        nb_tensor *z = nb_zeros(NB_DIMS(2, 3), (nb_dtype)dt);
        nb_tensor *o = nb_ones(NB_DIMS(3, 2), (nb_dtype)dt);
        nb_tensor *f = nb_full(NB_DIMS(4), -2.75, (nb_dtype)dt);
        tu_assert_shape(z, NB_DIMS(2, 3));
        tu_assert_shape(o, NB_DIMS(3, 2));
        ck_assert_int_eq(nb_tensor_dtype(f), dt);
        tu_assert_values(z, D(0, 0, 0, 0, 0, 0), 0);
        tu_assert_values(o, D(1, 1, 1, 1, 1, 1), 0);
        /* -2.75 converted as a C cast: floats keep it, ints truncate toward zero, bool is true */
        bool fp = nb_dtype_is_float((nb_dtype)dt) || nb_dtype_is_storage_only((nb_dtype)dt);
        double want = fp ? -2.75 : dt == NB_BOOL ? 1 : -2;
        tu_assert_shape_values(f, NB_DIMS(4), D(want, want, want, want), 0);
        nb_scope_end(scope);
    }
    nb_tensor *s = nb_full(NB_SCALAR, 7.5, NB_F32);
    ck_assert_int_eq(nb_tensor_ndim(s), 0);
    ck_assert_double_eq(nb_tensor_item(s), 7.5);
    nb_tensor_release(s);
    nb_tensor *zs = nb_ones(NB_DIMS(3, 0), NB_F64);
    ck_assert_int_eq(nb_tensor_numel(zs), 0);
    nb_tensor_release(zs);
}
END_TEST

START_TEST(test_scalar)
{
    nb_tensor *s = nb_scalar(3.25, NB_F64);
    ck_assert_int_eq(nb_tensor_ndim(s), 0);
    ck_assert_int_eq(nb_tensor_numel(s), 1);
    ck_assert_double_eq(nb_tensor_item(s), 3.25);
    ck_assert_double_eq(nb_tensor_get(s, NULL), 3.25);
    nb_tensor_release(s);
    nb_tensor *i = nb_scalar(-9.9, NB_I64);
    ck_assert_double_eq(nb_tensor_item(i), -9);
    nb_tensor_release(i);
}
END_TEST

static void check_arange(double start, double end, double step, nb_dtype dt, int64_t n, const double *want)
{
    nb_tensor *t = nb_arange(start, end, step, dt);
    tu_assert_shape(t, NB_DIMS(n));
    ck_assert_int_eq(nb_tensor_dtype(t), dt);
    if (n > 0) /* (an empty result: its shape above is the whole check) */
        tu_assert_values_n(t, n, want, 1e-12);
    nb_tensor_release(t);
}

START_TEST(test_arange)
{
    /* sizes and values as torch.arange */
    check_arange(0, 5, 1, NB_I64, 5, D(0, 1, 2, 3, 4));
    check_arange(5, 0, -1, NB_I64, 5, D(5, 4, 3, 2, 1));
    check_arange(0, 1, 0.25, NB_F64, 4, D(0, 0.25, 0.5, 0.75));
    check_arange(-3, 3, 1.5, NB_F32, 4, D(-3, -1.5, 0, 1.5));
    check_arange(1, 2.01, 0.5, NB_F64, 3, D(1, 1.5, 2));
    check_arange(2, -1, -0.75, NB_F64, 4, D(2, 1.25, 0.5, -0.25));
    check_arange(0, 5, 1.5, NB_I32, 4, D(0, 1, 3, 4)); /* 1.5 and 4.5 truncate */
    check_arange(0, 0, 1, NB_F32, 0, NULL);
    check_arange(0, 5, -1, NB_F32, 0, NULL);
    check_arange(3, 1, 1, NB_I64, 0, NULL);
}
END_TEST

START_TEST(test_eye)
{
    nb_tensor *a = nb_eye(3, -1, NB_F32);
    tu_assert_shape(a, NB_DIMS(3, 3));
    tu_assert_values(a, D(1, 0, 0, 0, 1, 0, 0, 0, 1), 0);
    nb_tensor *b = nb_eye(2, 4, NB_I64);
    tu_assert_shape(b, NB_DIMS(2, 4));
    tu_assert_values(b, D(1, 0, 0, 0, 0, 1, 0, 0), 0);
    nb_tensor *c = nb_eye(4, 2, NB_F64);
    tu_assert_shape(c, NB_DIMS(4, 2));
    tu_assert_values(c, D(1, 0, 0, 1, 0, 0, 0, 0), 0);
    nb_tensor *z = nb_eye(0, 3, NB_F32);
    tu_assert_shape(z, NB_DIMS(0, 3));
    nb_tensor_release(a);
    nb_tensor_release(b);
    nb_tensor_release(c);
    nb_tensor_release(z);
}
END_TEST

START_TEST(test_from_data)
{
    int scope = nb_scope_begin();
    const int32_t i32[] = {1, -2, 3, 2147483647, -2147483647 - 1, 0};
    nb_tensor *a = nb_from_data(i32, NB_DIMS(2, 3), NB_I32);
    tu_assert_shape(a, NB_DIMS(2, 3));
    ck_assert(nb_tensor_data(a) != (const void *)i32); /* a copy */
    ck_assert(!memcmp(nb_tensor_data(a), i32, sizeof i32));
    tu_assert_values(a, D(1, -2, 3, 2147483647.0, -2147483648.0, 0), 0);

    const int64_t i64[] = {INT64_C(1) << 62, -5};
    nb_tensor *b = nb_from_data(i64, NB_DIMS(2), NB_I64);
    ck_assert(!memcmp(nb_tensor_data(b), i64, sizeof i64));

    const uint8_t bl[] = {1, 0, 1};
    nb_tensor *c = nb_from_data(bl, NB_DIMS(3), NB_BOOL);
    tu_assert_shape_values(c, NB_DIMS(3), D(1, 0, 1), 0);

    const float f[] = {0.1f, -2.5f};
    nb_tensor *d = nb_from_data(f, NB_DIMS(1, 2), NB_F32);
    float back[2];
    nb_tensor_to_floats(d, back);
    ck_assert(back[0] == 0.1f && back[1] == -2.5f);

    nb_tensor *e = nb_from_data(NULL, NB_DIMS(0, 4), NB_F64); /* zero-size: data unused */
    ck_assert_int_eq(nb_tensor_numel(e), 0);

    double one = 42;
    nb_tensor *s = nb_from_data(&one, NB_SCALAR, NB_F64);
    ck_assert_double_eq(nb_tensor_item(s), 42);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_from_doubles_converts)
{
    int scope = nb_scope_begin();
    const double v[] = {2.7, -2.7, 0.5, -0.5, 3.0, 0.0};
    nb_tensor *i = nb_from_doubles(v, NB_DIMS(6), NB_I32);
    int32_t *ip = nb_tensor_data(i);
    const int32_t want_i[] = {2, -2, 0, 0, 3, 0}; /* C casts truncate toward zero */
    for (int k = 0; k < 6; k++)
        ck_assert_int_eq(ip[k], want_i[k]);
    nb_tensor *b = nb_from_doubles(v, NB_DIMS(6), NB_BOOL);
    uint8_t *bp = nb_tensor_data(b);
    const uint8_t want_b[] = {1, 1, 1, 1, 1, 0};
    for (int k = 0; k < 6; k++)
        ck_assert_uint_eq(bp[k], want_b[k]);
    const double w[] = {0.1, 1e-50};
    nb_tensor *f = nb_from_doubles(w, NB_DIMS(2), NB_F32);
    float *fp = nb_tensor_data(f);
    ck_assert(fp[0] == (float)0.1 && fp[1] == 0.0f);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_like)
{
    int scope = nb_scope_begin();
    nb_tensor *src = nb_full(NB_DIMS(2, 1, 3), 5, NB_I32);
    nb_tensor *t = nb_transpose(src, 0, 2); /* [3, 1, 2], non-contiguous */
    nb_tensor *z = nb_zeros_like(t), *o = nb_ones_like(t), *e = nb_empty_like(t);
    nb_tensor *all[] = {z, o, e};
    for (int k = 0; k < 3; k++) {
        tu_assert_shape(all[k], NB_DIMS(3, 1, 2));
        ck_assert_int_eq(nb_tensor_dtype(all[k]), NB_I32);
        ck_assert(nb_tensor_is_contiguous(all[k]));
        ck_assert(!nb_tensor_shares_storage(all[k], src));
    }
    tu_assert_shape_values(z, NB_DIMS(3, 1, 2), D(0, 0, 0, 0, 0, 0), 0);
    tu_assert_shape_values(o, NB_DIMS(3, 1, 2), D(1, 1, 1, 1, 1, 1), 0);
    nb_tensor *s = nb_zeros_like(nb_scalar(2, NB_F64));
    ck_assert_int_eq(nb_tensor_ndim(s), 0);
    ck_assert_int_eq(nb_tensor_dtype(s), NB_F64);
    nb_scope_end(scope);
}
END_TEST

/* ---- element access ----------------------------------------------------------------------- */
START_TEST(test_get_set_item)
{
    int scope = nb_scope_begin();
    nb_tensor *t = tu_tensor(NB_F32, NB_DIMS(2, 3), D(0, 1, 2, 3, 4, 5));
    ck_assert_double_eq(nb_tensor_get(t, S(1, 2)), 5);
    ck_assert_double_eq(nb_tensor_get(t, S(0, 1)), 1);
    nb_tensor_set(t, S(1, 0), -0.5);
    tu_assert_shape_values(t, NB_DIMS(2, 3), D(0, 1, 2, -0.5, 4, 5), 0);

    nb_tensor *i = nb_zeros(NB_DIMS(2), NB_I64);
    nb_tensor_set(i, S(0), 3.9);
    nb_tensor_set(i, S(1), -3.9);
    tu_assert_shape_values(i, NB_DIMS(2), D(3, -3), 0);
    nb_tensor *b = nb_zeros(NB_DIMS(3), NB_BOOL);
    nb_tensor_set(b, S(0), 0.5);
    nb_tensor_set(b, S(2), -2);
    tu_assert_shape_values(b, NB_DIMS(3), D(1, 0, 1), 0);

    /* get/set/item on a non-contiguous view address the logical element */
    nb_tensor *tt = nb_transpose(t, 0, 1); /* [3, 2] */
    ck_assert_double_eq(nb_tensor_get(tt, S(2, 1)), 5);
    ck_assert_double_eq(nb_tensor_get(tt, S(0, 1)), -0.5);
    nb_tensor_set(tt, S(1, 1), 40);
    ck_assert_double_eq(nb_tensor_get(t, S(1, 1)), 40);
    ck_assert_double_eq(nb_tensor_item(nb_narrow(nb_narrow(tt, 0, 2, 1), 1, 1, 1)), 5);

    ck_assert_double_eq(nb_tensor_item(nb_full(NB_DIMS(1, 1, 1), 2.5, NB_F64)), 2.5);
    ck_assert_double_eq(nb_tensor_item(nb_scalar(-1, NB_I32)), -1);
    ck_assert_double_eq(nb_tensor_item(nb_scalar(1, NB_BOOL)), 1);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_to_doubles_logical_order)
{
    int scope = nb_scope_begin();
    nb_tensor *t = tu_tensor(NB_F64, NB_DIMS(2, 3), D(0, 1, 2, 3, 4, 5));
    double d[6];
    float f[6];
    nb_tensor_to_doubles(nb_transpose(t, 0, 1), d);
    nb_tensor_to_floats(nb_transpose(t, 0, 1), f);
    const double want[] = {0, 3, 1, 4, 2, 5};
    for (int k = 0; k < 6; k++) {
        ck_assert_double_eq(d[k], want[k]);
        ck_assert_float_eq(f[k], (float)want[k]);
    }
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_shape_helpers)
{
    char buf[64];
    ck_assert_str_eq(nb_shape_str(NB_DIMS(2, 3), buf, sizeof buf), "[2, 3]");
    ck_assert_str_eq(nb_shape_str(NULL, 0, buf, sizeof buf), "[]");
    ck_assert_str_eq(nb_shape_str(NB_DIMS(7), buf, sizeof buf), "[7]");
    char small[5];
    nb_shape_str(NB_DIMS(1000, 2000), small, sizeof small); /* truncated, still terminated */
    ck_assert_uint_eq(strlen(small), 4);
    int scope = nb_scope_begin();
    ck_assert(nb_tensor_same_shape(nb_zeros(NB_DIMS(2, 3), NB_F32), nb_ones(NB_DIMS(2, 3), NB_I64)));
    ck_assert(!nb_tensor_same_shape(nb_zeros(NB_DIMS(2, 3), NB_F32), nb_zeros(NB_DIMS(3, 2), NB_F32)));
    ck_assert(!nb_tensor_same_shape(nb_zeros(NB_DIMS(1), NB_F32), nb_scalar(0, NB_F32)));
    ck_assert(nb_tensor_same_shape(nb_scalar(1, NB_F32), nb_scalar(0, NB_F64)));
    nb_scope_end(scope);
}
END_TEST

/* ---- contiguity --------------------------------------------------------------------------- */
START_TEST(test_is_contiguous)
{
    int scope = nb_scope_begin();
    nb_tensor *m = nb_zeros(NB_DIMS(4, 3), NB_F32);
    ck_assert(nb_tensor_is_contiguous(m));
    ck_assert(!nb_tensor_is_contiguous(nb_transpose(m, 0, 1)));
    ck_assert(nb_tensor_is_contiguous(nb_narrow(m, 0, 1, 2)));    /* rows: offset only */
    ck_assert(!nb_tensor_is_contiguous(nb_narrow(m, 1, 0, 2)));   /* columns: gaps */
    ck_assert(nb_tensor_is_contiguous(nb_narrow(m, 1, 1, 1)) == false);
    ck_assert(nb_tensor_is_contiguous(nb_select(m, 0, 2)));
    ck_assert(!nb_tensor_is_contiguous(nb_select(m, 1, 2)));      /* stride 3 */
    ck_assert(!nb_tensor_is_contiguous(nb_slice(m, 0, 0, 4, 2)));
    ck_assert(!nb_tensor_is_contiguous(nb_expand(nb_narrow(m, 0, 0, 1), NB_DIMS(5, 3)))); /* stride 0 */
    ck_assert(nb_tensor_is_contiguous(nb_unsqueeze(m, 0)));
    ck_assert(nb_tensor_is_contiguous(nb_unsqueeze(m, 2)));
    /* size-1 dims do not count, whatever their stride */
    nb_tensor *row = nb_zeros(NB_DIMS(1, 3), NB_F32);
    ck_assert(nb_tensor_is_contiguous(nb_transpose(nb_transpose(row, 0, 1), 0, 1)));
    nb_tensor *col = nb_zeros(NB_DIMS(3, 1), NB_F32);
    ck_assert(nb_tensor_is_contiguous(nb_transpose(col, 0, 1))); /* [1, 3] with strides [1, 1] */
    ck_assert(nb_tensor_is_contiguous(nb_expand(nb_zeros(NB_DIMS(1), NB_F32), NB_DIMS(1))));
    /* zero-size and 0-dim are contiguous */
    ck_assert(nb_tensor_is_contiguous(nb_transpose(nb_zeros(NB_DIMS(0, 3), NB_F32), 0, 1)));
    ck_assert(nb_tensor_is_contiguous(nb_scalar(1, NB_F32)));
    ck_assert(nb_tensor_is_contiguous(nb_select(nb_zeros(NB_DIMS(3), NB_F32), 0, 1)));
    nb_scope_end(scope);
}
END_TEST

/* ---- copies and dtype conversion ---------------------------------------------------------- */
START_TEST(test_convert_float_to_int)
{
    int scope = nb_scope_begin();
    nb_tensor *f = tu_tensor(NB_F32, NB_DIMS(7), D(2.7, -2.7, 0.5, -0.5, 3.0, -0.0, 1e6 + 0.75));
    nb_tensor *i = nb_to_dtype(f, NB_I32);
    ck_assert_int_eq(nb_tensor_dtype(i), NB_I32);
    ck_assert(!nb_tensor_shares_storage(i, f));
    const int32_t want[] = {2, -2, 0, 0, 3, 0, 1000000};
    for (int k = 0; k < 7; k++)
        ck_assert_int_eq(((int32_t *)nb_tensor_data(i))[k], want[k]);
    nb_tensor *big = tu_tensor(NB_F64, NB_DIMS(2), D(1099511627776.5, -1099511627776.5)); /* ±2^40 + .5 */
    nb_tensor *l = nb_to_dtype(big, NB_I64);
    ck_assert(((int64_t *)nb_tensor_data(l))[0] == INT64_C(1099511627776));
    ck_assert(((int64_t *)nb_tensor_data(l))[1] == -INT64_C(1099511627776));
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_convert_int_bool_float)
{
    int scope = nb_scope_begin();
    nb_tensor *i = tu_tensor(NB_I64, NB_DIMS(4), D(-3, 0, 7, 16777217));
    nb_tensor *f = nb_to_dtype(i, NB_F64);
    tu_assert_shape_values(f, NB_DIMS(4), D(-3, 0, 7, 16777217), 0);
    nb_tensor *f32 = nb_to_dtype(i, NB_F32);
    ck_assert_float_eq(((float *)nb_tensor_data(f32))[3], (float)16777217); /* rounds as a C cast */
    tu_assert_shape_values(nb_to_dtype(i, NB_BOOL), NB_DIMS(4), D(1, 0, 1, 1), 0);
    tu_assert_shape_values(nb_to_dtype(i, NB_I32), NB_DIMS(4), D(-3, 0, 7, 16777217), 0);

    nb_tensor *fl = tu_tensor(NB_F64, NB_DIMS(4), D(0.1, -0.0, NAN, 0.0));
    tu_assert_shape_values(nb_to_dtype(fl, NB_BOOL), NB_DIMS(4), D(1, 0, 1, 0), 0); /* NaN is nonzero: true */
    nb_tensor *b = tu_tensor(NB_BOOL, NB_DIMS(3), D(1, 0, 1));
    tu_assert_shape_values(nb_to_dtype(b, NB_F32), NB_DIMS(3), D(1, 0, 1), 0);
    tu_assert_shape_values(nb_to_dtype(b, NB_I64), NB_DIMS(3), D(1, 0, 1), 0);
    nb_tensor *d = tu_tensor(NB_F64, NB_DIMS(2), D(0.1, 1e300));
    nb_tensor *s = nb_to_dtype(d, NB_F32);
    ck_assert(((float *)nb_tensor_data(s))[0] == (float)0.1);
    ck_assert(isinf(((float *)nb_tensor_data(s))[1]));
    /* same dtype: a copy, not the same storage */
    nb_tensor *same = nb_to_dtype(d, NB_F64);
    ck_assert(!nb_tensor_shares_storage(same, d));
    tu_assert_close(same, d, 0, 0);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_convert_strided)
{
    int scope = nb_scope_begin();
    nb_tensor *src = tu_tensor(NB_F64, NB_DIMS(2, 3), D(1.5, -2.5, 3.5, -4.5, 5.5, 6.5));
    for (int layout = 0; layout < TU_LAYOUT_COUNT; layout++) {
        nb_tensor *v = tu_relayout(src, (tu_layout)layout);
        nb_tensor *i = nb_to_dtype(v, NB_I32);
        ck_assert(nb_tensor_is_contiguous(i));
        tu_assert_shape_values(i, NB_DIMS(2, 3), D(1, -2, 3, -4, 5, 6), 0);
        nb_tensor *c = nb_clone(v);
        ck_assert(nb_tensor_is_contiguous(c));
        ck_assert(!nb_tensor_shares_storage(c, v));
        tu_assert_close(c, src, 0, 0);
        nb_tensor *t = nb_to_dtype(nb_transpose(v, 0, 1), NB_F32);
        tu_assert_shape_values(t, NB_DIMS(3, 2), D(1.5, -4.5, -2.5, 5.5, 3.5, 6.5), 0);
        nb_tensor_release(v); /* tu_relayout's result is the caller's, scope or not */
    }
    nb_scope_end(scope);
}
END_TEST

/* ---- scopes ------------------------------------------------------------------------------- */
START_TEST(test_scope_releases_and_retains)
{
    ck_assert_int_eq(nb_scope_depth(), 0);
    nb_tensor *base = nb_zeros(NB_DIMS(4, 4), NB_F32); /* no scope: owned here */
    ck_assert_int_eq(base->refcount, 1);
    ck_assert_int_eq(base->storage->refcount, 1);

    int s = nb_scope_begin();
    ck_assert_int_eq(nb_scope_depth(), 1);
    nb_tensor *v1 = nb_transpose(base, 0, 1);
    nb_tensor *v2 = nb_narrow(base, 0, 1, 2);
    (void)v1;
    ck_assert_int_eq(base->storage->refcount, 3); /* the views hold the storage */
    nb_tensor *keep = nb_full(NB_DIMS(3), 2.5, NB_F64);
    ck_assert_int_eq(keep->refcount, 1);
    ck_assert(nb_tensor_retain(keep) == keep);
    ck_assert_int_eq(keep->refcount, 2);
    nb_tensor *keep_view = nb_tensor_retain(nb_select(v2, 0, 0));
    nb_scope_end(s);

    ck_assert_int_eq(nb_scope_depth(), 0);
    ck_assert_int_eq(base->storage->refcount, 2); /* v1 and v2 released, keep_view survives */
    ck_assert_int_eq(keep->refcount, 1);
    tu_assert_shape_values(keep, NB_DIMS(3), D(2.5, 2.5, 2.5), 0);
    nb_tensor_set(base, S(1, 2), 9);
    ck_assert_double_eq(nb_tensor_get(keep_view, S(2)), 9);
    nb_tensor_release(keep_view);
    ck_assert_int_eq(base->storage->refcount, 1);
    nb_tensor_release(keep);
    nb_tensor_release(base);
    nb_tensor_release(NULL); /* no-op */
    ck_assert(nb_tensor_retain(NULL) == NULL);
}
END_TEST

START_TEST(test_scope_nested)
{
    nb_tensor *base = nb_zeros(NB_DIMS(6), NB_F64);
    int outer = nb_scope_begin();
    nb_tensor *a = nb_narrow(base, 0, 0, 3);
    ck_assert_int_eq(base->storage->refcount, 2);
    int inner = nb_scope_begin();
    ck_assert_int_eq(nb_scope_depth(), 2);
    ck_assert_int_ne(inner, outer);
    for (int i = 0; i < 10; i++)
        nb_narrow(a, 0, 1, 2);
    ck_assert_int_eq(base->storage->refcount, 12);
    nb_scope_end(inner);
    ck_assert_int_eq(nb_scope_depth(), 1);
    ck_assert_int_eq(base->storage->refcount, 2); /* only the inner scope's views went */
    ck_assert_int_eq(a->refcount, 1);             /* a still alive, owned by the outer scope */
    int again = nb_scope_begin();                 /* a scope can be reopened at the same depth */
    ck_assert_int_eq(again, inner);
    nb_select(a, 0, 0);
    nb_scope_end(again);
    nb_scope_end(outer);
    ck_assert_int_eq(nb_scope_depth(), 0);
    ck_assert_int_eq(base->storage->refcount, 1);
    nb_tensor_release(base);
}
END_TEST

/* Resident set size in pages (/proc/self/statm, second field). */
static long rss_pages(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, rss = -1;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &rss) != 2)
            rss = -1;
        fclose(f);
    }
    return rss;
}

static void scope_iteration(const nb_tensor *base)
{
    int s = nb_scope_begin();
    nb_tensor *a = nb_zeros(NB_DIMS(64), NB_F32);
    nb_full(NB_DIMS(8, 8), 1, NB_F64);
    nb_arange(0, 16, 1, NB_I64);
    nb_transpose(base, 0, 1);
    nb_contiguous(nb_narrow(base, 1, 1, 2));
    nb_tensor_set(a, S(3), 1);
    nb_scope_end(s);
}

/* Under valgrind (its preload library is in LD_PRELOAD), whose allocator keeps freed blocks
 * resident in a quarantine of ~20 MB, like ASan's. */
static bool under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload");
}

START_TEST(test_scope_loop_rss_flat)
{
#ifdef __SANITIZE_ADDRESS__
    return; /* ASan's quarantine keeps freed memory resident */
#endif
    if (under_valgrind()) /* the same (valgrind reports real leaks itself); make check measures RSS */
        return;
    nb_tensor *base = nb_zeros(NB_DIMS(8, 8), NB_F32);
    for (int i = 0; i < 2000; i++) /* warm up the allocator and the scope's slot array */
        scope_iteration(base);
    long before = rss_pages();
    ck_assert_int_gt(before, 0);
    for (int i = 0; i < 100000; i++)
        scope_iteration(base);
    long after = rss_pages();
    /* leaking even one 64-float tensor per iteration would add > 25 MB */
    ck_assert_msg(after - before < 256, "RSS grew by %ld pages over 100k scopes", after - before);
    ck_assert_int_eq(base->storage->refcount, 1);
    ck_assert_int_eq(nb_scope_depth(), 0);
    nb_tensor_release(base);
}
END_TEST

START_TEST(test_scope_misuse)
{
    int outer = nb_scope_begin();
    nb_scope_begin();
    TU_EXPECT_ERROR("nb_scope_end: token 1 does not match the innermost open scope (2)", nb_scope_end(outer));
}
END_TEST

START_TEST(test_scope_end_without_scope)
{
    TU_EXPECT_ERROR("nb_scope_end: token 0 does not match the innermost open scope (0)", nb_scope_end(0));
    TU_EXPECT_ERROR("nb_scope_end: token 1 does not match", nb_scope_end(1));
}
END_TEST

START_TEST(test_release_too_often)
{
    nb_tensor *t = nb_zeros(NB_DIMS(2), NB_F32);
    nb_tensor_retain(t);
    nb_tensor_release(t);
    ck_assert_int_eq(t->refcount, 1);
    t->refcount = 0; /* simulate a double release without touching freed memory */
    TU_EXPECT_ERROR("nb_tensor_release: tensor released more often than retained", nb_tensor_release(t));
}
END_TEST

/* ---- misuse messages ---------------------------------------------------------------------- */
START_TEST(test_creation_misuse)
{
    TU_EXPECT_ERROR("nb_empty: negative size -1 at dim 1 of shape [2, -1]", nb_zeros(NB_DIMS(2, -1), NB_F32));
    TU_EXPECT_ERROR("nb_empty: 9 dims requested, nabla supports 0..8",
                    nb_ones(S(1, 1, 1, 1, 1, 1, 1, 1, 1), 9, NB_F32));
    TU_EXPECT_ERROR("nb_empty: -1 dims requested", nb_empty(NULL, -1, NB_F32));
    TU_EXPECT_ERROR("nb_empty: invalid dtype 99", nb_empty(NB_DIMS(2), (nb_dtype)99));
    TU_EXPECT_ERROR("has too many elements", nb_empty(NB_DIMS(INT64_C(1) << 40, INT64_C(1) << 40), NB_F32));
    TU_EXPECT_ERROR("nb_arange: invalid range start=0 end=5 step=0", nb_arange(0, 5, 0, NB_F32));
    TU_EXPECT_ERROR("nb_arange: invalid range", nb_arange(0, INFINITY, 1, NB_F32));
    TU_EXPECT_ERROR("nb_empty: negative size -2 at dim 0", nb_eye(-2, 3, NB_F32));
    TU_EXPECT_ERROR("nb_empty: negative size", nb_full(NB_DIMS(-5), 1, NB_I32));
}
END_TEST

START_TEST(test_access_misuse)
{
    int scope = nb_scope_begin();
    nb_tensor *t = nb_zeros(NB_DIMS(3), NB_F32);
    TU_EXPECT_ERROR("nb_tensor_item: a tensor of shape [3] has 3 elements, item() needs exactly 1",
                    nb_tensor_item(t));
    TU_EXPECT_ERROR("nb_tensor_item: a tensor of shape [0, 2] has 0 elements",
                    nb_tensor_item(nb_zeros(NB_DIMS(0, 2), NB_F32)));
    TU_EXPECT_ERROR("nb_tensor_get: index 5 out of range for dim 0 of size 3", nb_tensor_get(t, S(5)));
    TU_EXPECT_ERROR("nb_tensor_get: index -1 out of range for dim 0 of size 3", nb_tensor_get(t, S(-1)));
    TU_EXPECT_ERROR("nb_tensor_set: index 3 out of range for dim 0 of size 3", nb_tensor_set(t, S(3), 1));
    nb_tensor *m = nb_zeros(NB_DIMS(2, 4), NB_I64);
    TU_EXPECT_ERROR("nb_tensor_get: index 4 out of range for dim 1 of size 4", nb_tensor_get(m, S(1, 4)));
    TU_EXPECT_ERROR("nb_tensor_size: dim 2 out of range for a tensor of 2 dims (expected -2..1)",
                    nb_tensor_size(m, 2));
    TU_EXPECT_ERROR("nb_tensor_size: dim -3 out of range", nb_tensor_size(m, -3));
    TU_EXPECT_ERROR("nb_tensor_size: a 0-dim tensor has no dim 0", nb_tensor_size(nb_scalar(1, NB_F32), 0));
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_default_handler_aborts)
{
    nb_set_error_handler(NULL, NULL);
    nb_tensor *t = nb_zeros(NB_DIMS(3), NB_F32);
    nb_tensor_item(t); /* misuse: prints the message and aborts */
}
END_TEST

static int g_returning_calls;
static void returning_handler(const char *msg, void *user)
{
    (void)msg;
    (void)user;
    g_returning_calls++;
}

START_TEST(test_returning_handler_aborts)
{
    nb_set_error_handler(returning_handler, NULL);
    nb_tensor *t = nb_zeros(NB_DIMS(3), NB_F32);
    nb_tensor_get(t, S(7)); /* the handler returns: abort() follows */
}
END_TEST

static char g_seen[256];
static void recording_handler(const char *msg, void *user)
{
    snprintf(g_seen, sizeof g_seen, "%s|%s", msg, (const char *)user);
    longjmp(tu_error_jmp, 1);
}

START_TEST(test_error_handler_install)
{
    static char tag[] = "user-data";
    ck_assert(nb_set_error_handler(recording_handler, tag) == NULL); /* default was installed */
    nb_tensor *t = nb_zeros(NB_DIMS(2), NB_F32);
    if (setjmp(tu_error_jmp) == 0) {
        nb_tensor_get(t, S(2));
        ck_abort_msg("no error raised");
    }
    ck_assert_str_eq(g_seen, "nb_tensor_get: index 2 out of range for dim 0 of size 2|user-data");
    ck_assert(nb_set_error_handler(NULL, NULL) == recording_handler);
    ck_assert(nb_set_error_handler(NULL, NULL) == NULL);
    nb_tensor_release(t);
}
END_TEST

START_TEST(test_status_and_last_error)
{
    static const char *want[] = {"ok", "input/output error", "invalid file format", "invalid argument",
                                 "does not match the model", "out of memory", "not found"};
    ck_assert_int_eq(NB_STATUS_COUNT, 7);
    for (int s = 0; s < NB_STATUS_COUNT; s++)
        ck_assert_str_eq(nb_status_str((nb_status)s), want[s]);
    ck_assert_str_eq(nb_status_str(NB_STATUS_COUNT), "unknown status");
    ck_assert_str_eq(nb_status_str((nb_status)-1), "unknown status");
    ck_assert_str_eq(nb_last_error(), "");
    ck_assert_int_eq(nb__status(NB_ERR_FORMAT, "file.bin: header length %d exceeds %d", 9, 8), NB_ERR_FORMAT);
    ck_assert_str_eq(nb_last_error(), "file.bin: header length 9 exceeds 8");
}
END_TEST

/* ---- threads ------------------------------------------------------------------------------ */
START_TEST(test_threads)
{
    int def = nb_get_num_threads();
    ck_assert_int_ge(def, 1);
    nb_set_num_threads(3);
    ck_assert_int_eq(nb_get_num_threads(), 3);
    nb_set_num_threads(1);
    ck_assert_int_eq(nb_get_num_threads(), 1);
    nb_set_num_threads(0);
    ck_assert_int_eq(nb_get_num_threads(), def);
    nb_set_num_threads(5);
    nb_set_num_threads(-1);
    ck_assert_int_eq(nb_get_num_threads(), def);
}
END_TEST

/* A kernel called inside any OpenMP region, even a one-thread (inactive) one, runs on that one
 * thread: a nested region would get a team of its own, with threads created for every call. */
START_TEST(test_threads_never_nested)
{
    nb_set_num_threads(2);
    nb_set_dynamic_threads(false); /* a busy machine must not lower the count asserted below */
#ifdef _OPENMP
    ck_assert_int_eq(nb__threads_for(1 << 30), 2);
    int inner1 = -1, inner2[2] = {-1, -1};
#pragma omp parallel num_threads(1)
    inner1 = nb__threads_for(1 << 30);
    ck_assert_int_eq(inner1, 1);
#pragma omp parallel for num_threads(2) schedule(static, 1)
    for (int i = 0; i < 2; i++)
        inner2[i] = nb__threads_for(1 << 30);
    ck_assert_int_eq(inner2[0], 1);
    ck_assert_int_eq(inner2[1], 1);
#endif
    ck_assert_int_eq(nb__threads_for(100), 1); /* too little work to share */
    nb_set_num_threads(0);
}
END_TEST

/* The requested count: nb_set_num_threads > NB_NUM_THREADS > OMP_NUM_THREADS (first entry) > cores;
 * invalid environment values are ignored. */
START_TEST(test_thread_count_precedence)
{
    int cores = nb_get_num_threads();
    unsetenv("NB_NUM_THREADS");
    unsetenv("OMP_NUM_THREADS");
    nb__threads_reread_env();
    nb_set_num_threads(0);
    int def = nb_get_num_threads();
    ck_assert_int_ge(def, 1);
    setenv("OMP_NUM_THREADS", "3,2", 1);
    nb__threads_reread_env();
    ck_assert_int_eq(nb_get_num_threads(), 3);
    setenv("NB_NUM_THREADS", "5", 1);
    nb__threads_reread_env();
    ck_assert_int_eq(nb_get_num_threads(), 5);
    nb_set_num_threads(7);
    ck_assert_int_eq(nb_get_num_threads(), 7);
    nb_set_num_threads(0);
    ck_assert_int_eq(nb_get_num_threads(), 5);
    setenv("NB_NUM_THREADS", "lots", 1); /* ignored: OMP_NUM_THREADS applies */
    nb__threads_reread_env();
    ck_assert_int_eq(nb_get_num_threads(), 3);
    setenv("OMP_NUM_THREADS", "-2", 1);
    nb__threads_reread_env();
    ck_assert_int_eq(nb_get_num_threads(), def);
    unsetenv("NB_NUM_THREADS");
    unsetenv("OMP_NUM_THREADS");
    nb__threads_reread_env();
    (void)cores;
}
END_TEST

/* Dynamic threads: on by default, off with NB_DYNAMIC_THREADS=0; the rule's arithmetic. */
START_TEST(test_dynamic_threads_rule)
{
    unsetenv("NB_DYNAMIC_THREADS");
    nb__threads_reread_env();
    ck_assert(nb_get_dynamic_threads());
    setenv("NB_DYNAMIC_THREADS", "0", 1);
    nb__threads_reread_env();
    ck_assert(!nb_get_dynamic_threads());
    unsetenv("NB_DYNAMIC_THREADS");
    nb__threads_reread_env();
    const long long s = 1000000000LL; /* a 1 s window */
    ck_assert_int_eq(nb__free_cores_from(2 * s, 2 * s, s, 2), 2);        /* only us, both cores */
    ck_assert_int_eq(nb__free_cores_from(s / 20, 0, s, 2), 2);           /* idle but for noise */
    ck_assert_int_eq(nb__free_cores_from(2 * s, s, s, 2), 1);            /* a neighbour holds a core */
    ck_assert_int_eq(nb__free_cores_from(s + s / 2, s, s, 2), 1);        /* a neighbour at 50% */
    ck_assert_int_eq(nb__free_cores_from(s + s / 5, s, s, 2), 2);        /* a neighbour at 20% */
    ck_assert_int_eq(nb__free_cores_from(2 * s, 0, s, 2), 1);            /* both held: still 1 */
    ck_assert_int_eq(nb__free_cores_from(3 * s, s, s, 8), 6);
    ck_assert_int_eq(nb__free_cores_from(s, 2 * s, s, 2), 2);            /* accounting skew: clamp */
}
END_TEST

#if defined(_OPENMP) && defined(__linux__)
/* With a CPU-bound process on every core but one, kernels soon use one thread. */
START_TEST(test_dynamic_threads_see_a_busy_machine)
{
    int n = nb_get_num_threads();
    if (n < 2)
        return; /* one core: nothing to lower (the count is 1 already) */
    nb_set_dynamic_threads(true);
    pid_t kids[64];
    int nk = n - 1 < 64 ? n - 1 : 64;
    for (int i = 0; i < nk; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            for (volatile unsigned long x = 0;; x++) {
            }
    }
    int got = n;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do { /* samples are taken every 250 ms by whichever call comes then */
        got = nb__threads_for(1 << 30);
        struct timespec d = {0, 20000000};
        nanosleep(&d, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (got > 1 && (t.tv_sec - t0.tv_sec) < 3);
    for (int i = 0; i < nk; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    ck_assert_msg(got == 1, "nb__threads_for gave %d threads beside %d busy processes on %d cores", got, nk, n);
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_dtype_table);
    tcase_add_test(tc, test_empty_geometry);
    tcase_add_test(tc, test_zeros_ones_full);
    tcase_add_test(tc, test_scalar);
    tcase_add_test(tc, test_arange);
    tcase_add_test(tc, test_eye);
    tcase_add_test(tc, test_from_data);
    tcase_add_test(tc, test_from_doubles_converts);
    tcase_add_test(tc, test_like);
    tcase_add_test(tc, test_get_set_item);
    tcase_add_test(tc, test_to_doubles_logical_order);
    tcase_add_test(tc, test_shape_helpers);
    tcase_add_test(tc, test_is_contiguous);
    tcase_add_test(tc, test_convert_float_to_int);
    tcase_add_test(tc, test_convert_int_bool_float);
    tcase_add_test(tc, test_convert_strided);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_threads_never_nested);
    tcase_add_test(tc, test_thread_count_precedence);
    tcase_add_test(tc, test_dynamic_threads_rule);
#if defined(_OPENMP) && defined(__linux__)
    tcase_add_test(tc, test_dynamic_threads_see_a_busy_machine);
#endif
    suite_add_tcase(s, tc);

    TCase *sc = tcase_create("scopes");
    tcase_set_timeout(sc, 10);
    tcase_add_test(sc, test_scope_releases_and_retains);
    tcase_add_test(sc, test_scope_nested);
    tcase_add_test(sc, test_scope_loop_rss_flat);
    tcase_add_test(sc, test_scope_misuse);
    tcase_add_test(sc, test_scope_end_without_scope);
    tcase_add_test(sc, test_release_too_often);
    suite_add_tcase(s, sc);

    TCase *err = tcase_create("errors");
    tcase_add_test(err, test_creation_misuse);
    tcase_add_test(err, test_access_misuse);
    tcase_add_test_raise_signal(err, test_default_handler_aborts, SIGABRT);
    tcase_add_test_raise_signal(err, test_returning_handler_aborts, SIGABRT);
    tcase_add_test(err, test_error_handler_install);
    tcase_add_test(err, test_status_and_last_error);
    suite_add_tcase(s, err);
    return tu_run_suite(s);
}
