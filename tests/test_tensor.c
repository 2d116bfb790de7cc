/* test_tensor.c — the tensor core: dtypes, creation, element access, contiguity, conversion,
 * the random generator, scopes, misuse messages and printing.
 *
 * Expected values come from plain loops in this file, from the C standard's conversion rules,
 * or from PyTorch 1.13 (tests/ref_tensor.py prints the repr strings and the generator's
 * regression vector from an independent Python implementation of xoshiro256**). */
#include "testutil.h"

#include "nb__tensor.h" /* refcounts, to observe what scopes release */

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

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
    static const char *names[] = {"float32", "float64", "int32", "int64", "bool"};
    static const size_t sizes[] = {4, 8, 4, 8, 1};
    ck_assert_int_eq(NB_DTYPE_COUNT, 5);
    for (int dt = 0; dt < NB_DTYPE_COUNT; dt++) {
        ck_assert_str_eq(nb_dtype_name((nb_dtype)dt), names[dt]);
        ck_assert_uint_eq(nb_dtype_size((nb_dtype)dt), sizes[dt]);
        ck_assert(nb_dtype_is_float((nb_dtype)dt) == (dt == NB_F32 || dt == NB_F64));
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
        double want = nb_dtype_is_float((nb_dtype)dt) ? -2.75 : dt == NB_BOOL ? 1 : -2;
        tu_assert_values(f, D(want, want, want, want), 0);
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
    tu_assert_values(t, want, 1e-12);
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
    tu_assert_values(c, D(1, 0, 1), 0);

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
    tu_assert_values(z, D(0, 0, 0, 0, 0, 0), 0);
    tu_assert_values(o, D(1, 1, 1, 1, 1, 1), 0);
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
    tu_assert_values(t, D(0, 1, 2, -0.5, 4, 5), 0);

    nb_tensor *i = nb_zeros(NB_DIMS(2), NB_I64);
    nb_tensor_set(i, S(0), 3.9);
    nb_tensor_set(i, S(1), -3.9);
    tu_assert_values(i, D(3, -3), 0);
    nb_tensor *b = nb_zeros(NB_DIMS(3), NB_BOOL);
    nb_tensor_set(b, S(0), 0.5);
    nb_tensor_set(b, S(2), -2);
    tu_assert_values(b, D(1, 0, 1), 0);

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
    ck_assert_str_eq(nb_shape_str(0, NULL, buf, sizeof buf), "[]");
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
    tu_assert_values(f, D(-3, 0, 7, 16777217), 0);
    nb_tensor *f32 = nb_to_dtype(i, NB_F32);
    ck_assert_float_eq(((float *)nb_tensor_data(f32))[3], (float)16777217); /* rounds as a C cast */
    tu_assert_values(nb_to_dtype(i, NB_BOOL), D(1, 0, 1, 1), 0);
    tu_assert_values(nb_to_dtype(i, NB_I32), D(-3, 0, 7, 16777217), 0);

    nb_tensor *fl = tu_tensor(NB_F64, NB_DIMS(4), D(0.1, -0.0, NAN, 0.0));
    tu_assert_values(nb_to_dtype(fl, NB_BOOL), D(1, 0, 1, 0), 0); /* NaN is nonzero: true */
    nb_tensor *b = tu_tensor(NB_BOOL, NB_DIMS(3), D(1, 0, 1));
    tu_assert_values(nb_to_dtype(b, NB_F32), D(1, 0, 1), 0);
    tu_assert_values(nb_to_dtype(b, NB_I64), D(1, 0, 1), 0);
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
        tu_assert_values(i, D(1, -2, 3, -4, 5, 6), 0);
        nb_tensor *c = nb_clone(v);
        ck_assert(nb_tensor_is_contiguous(c));
        ck_assert(!nb_tensor_shares_storage(c, v));
        tu_assert_close(c, src, 0, 0);
        nb_tensor *t = nb_to_dtype(nb_transpose(v, 0, 1), NB_F32);
        tu_assert_values(t, D(1.5, -4.5, -2.5, 5.5, 3.5, 6.5), 0);
        nb_tensor_release(v); /* tu_relayout's result is the caller's, scope or not */
    }
    nb_scope_end(scope);
}
END_TEST

/* ---- random numbers ----------------------------------------------------------------------- */
/* These pin nabla's random stream (xoshiro256** seeded by splitmix64) across machines,
 * compilers and releases: initializations and data order depend on it, so it must never change
 * silently. Computed once by an independent Python implementation (tests/ref_tensor.py). */
static const uint64_t k_seed1337_stream[5] = {
    0xad0aa0a04f822edcULL,
    0xd0815851ce885defULL,
    0xc70b17471e263e43ULL,
    0xee4d7f13899de194ULL,
    0x2de1af701a887873ULL,
};

START_TEST(test_rng_regression_vector)
{
    nb_generator g;
    nb_generator_seed(&g, 1337);
    for (int i = 0; i < 5; i++)
        ck_assert_msg(nb_generator_next(&g) == k_seed1337_stream[i], "value %d of seed 1337 changed", i);
    /* uniform takes the top 53 bits of the same stream */
    nb_generator_seed(&g, 1337);
    for (int i = 0; i < 5; i++)
        ck_assert(nb_generator_uniform(&g) == (double)(k_seed1337_stream[i] >> 11) * 0x1.0p-53);
}
END_TEST

START_TEST(test_rng_same_seed_same_stream)
{
    nb_generator a, b;
    nb_generator_seed(&a, 42);
    nb_generator_seed(&b, 42);
    for (int i = 0; i < 1000; i++) {
        ck_assert(nb_generator_next(&a) == nb_generator_next(&b));
        ck_assert(nb_generator_uniform(&a) == nb_generator_uniform(&b));
        ck_assert(nb_generator_normal(&a) == nb_generator_normal(&b));
        ck_assert(nb_generator_below(&a, 1000 + (uint64_t)i) == nb_generator_below(&b, 1000 + (uint64_t)i));
    }
    /* re-seeding restarts the stream and forgets a pending Box-Muller value */
    nb_generator_seed(&a, 9);
    double first = nb_generator_normal(&a);
    nb_generator_seed(&a, 9);
    ck_assert(nb_generator_normal(&a) == first);

    /* tensors: the same seed gives identical tensors, through an explicit or the default generator */
    int scope = nb_scope_begin();
    nb_generator g1, g2;
    nb_generator_seed(&g1, 7);
    nb_generator_seed(&g2, 7);
    tu_assert_close(nb_randn(NB_DIMS(50, 3), NB_F32, &g1), nb_randn(NB_DIMS(50, 3), NB_F32, &g2), 0, 0);
    nb_manual_seed(123);
    nb_tensor *x = nb_rand(NB_DIMS(64), NB_F64, NULL);
    nb_manual_seed(123);
    nb_tensor *y = nb_rand(NB_DIMS(64), NB_F64, NULL);
    nb_generator_seed(&g1, 123);
    nb_tensor *z = nb_rand(NB_DIMS(64), NB_F64, &g1);
    tu_assert_close(x, y, 0, 0);
    tu_assert_close(x, z, 0, 0);
    ck_assert(nb_default_generator() == nb_default_generator());
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_rng_different_seeds_differ)
{
    nb_generator a, b;
    nb_generator_seed(&a, 1337);
    nb_generator_seed(&b, 1338);
    int same = 0;
    for (int i = 0; i < 100; i++)
        same += nb_generator_next(&a) == nb_generator_next(&b);
    ck_assert_int_eq(same, 0);
    nb_generator_seed(&a, 0);
    nb_generator_seed(&b, 1);
    ck_assert(nb_generator_uniform(&a) != nb_generator_uniform(&b));
}
END_TEST

START_TEST(test_rand_uniform_range)
{
    int scope = nb_scope_begin();
    nb_generator g;
    nb_generator_seed(&g, 2024);
    const int64_t n = 100000;
    for (int dt = NB_F32; dt <= NB_F64; dt++) {
        nb_tensor *t = nb_rand(NB_DIMS(n), (nb_dtype)dt, &g);
        double *v = malloc((size_t)n * sizeof *v), sum = 0, sq = 0;
        nb_tensor_to_doubles(t, v);
        for (int64_t i = 0; i < n; i++) {
            ck_assert_msg(v[i] >= 0 && v[i] < 1, "nb_rand value %g outside [0, 1)", v[i]);
            sum += v[i];
            sq += v[i] * v[i];
        }
        double mean = sum / (double)n, var = sq / (double)n - mean * mean;
        ck_assert_msg(fabs(mean - 0.5) < 0.005, "mean %g", mean);          /* ~5 sigma */
        ck_assert_msg(fabs(var - 1.0 / 12) < 0.002, "variance %g", var);
        free(v);
    }
    /* uniform_ on a strided view fills [low, high) and leaves the gaps alone */
    nb_tensor *base = nb_zeros(NB_DIMS(10, 10), NB_F64);
    nb_tensor *v = nb_slice(base, 1, 1, 10, 2);
    ck_assert(nb_uniform_(v, -2, 3, &g) == v);
    for (int64_t r = 0; r < 10; r++)
        for (int64_t c = 0; c < 10; c++) {
            double x = nb_tensor_get(base, S(r, c));
            if (c % 2 == 0)
                ck_assert_double_eq(x, 0);
            else
                ck_assert(x >= -2 && x < 3 && x != 0);
        }
    nb_scope_end(scope);
}
END_TEST

/* Inverse of an odd number modulo 2^64 (Newton's iteration). */
static uint64_t inv64(uint64_t a)
{
    uint64_t x = a;
    for (int i = 0; i < 6; i++)
        x *= 2 - a * x;
    return x;
}

/* A generator whose next output is UINT64_MAX (the largest uniform double, 1 - 2^-53). */
static void generator_at_max(nb_generator *g)
{
    uint64_t r = UINT64_MAX * inv64(9);         /* rotl(s1 * 5, 7) */
    uint64_t s1x5 = (r >> 7) | (r << 57);       /* rotate right by 7 */
    nb_generator_seed(g, 1);
    g->s[1] = s1x5 * inv64(5);
}

START_TEST(test_rand_upper_bound_after_rounding)
{
    nb_generator g;
    generator_at_max(&g);
    uint64_t probe = nb_generator_next(&g);
    ck_assert(probe == UINT64_MAX);
    int scope = nb_scope_begin();
    /* 1 - 2^-53 rounds to 1.0f in float32: the value must still be below 1 */
    generator_at_max(&g);
    double v = nb_tensor_item(nb_rand(NB_DIMS(1), NB_F32, &g));
    ck_assert_msg(v < 1.0 && v > 0.99, "nb_rand float32 gave %.9g", v);
    generator_at_max(&g);
    v = nb_tensor_item(nb_rand(NB_DIMS(1), NB_F64, &g));
    ck_assert(v == 1.0 - 0x1.0p-53);
    /* low + (high - low) * u can round up to high in double too */
    generator_at_max(&g);
    nb_tensor *t = nb_empty(NB_DIMS(1), NB_F64);
    nb_uniform_(t, 1, 2, &g);
    ck_assert_msg(nb_tensor_item(t) < 2, "nb_uniform_ [1, 2) gave %.17g", nb_tensor_item(t));
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_randn_moments)
{
    int scope = nb_scope_begin();
    const int64_t n = 100000;
    for (int dt = NB_F32; dt <= NB_F64; dt++) {
        nb_generator g;
        nb_generator_seed(&g, 11 + (uint64_t)dt);
        nb_tensor *t = nb_randn(NB_DIMS(100, n / 100), (nb_dtype)dt, &g);
        double *v = malloc((size_t)n * sizeof *v), sum = 0, sq = 0;
        nb_tensor_to_doubles(t, v);
        int beyond4 = 0;
        for (int64_t i = 0; i < n; i++) {
            ck_assert(isfinite(v[i]));
            sum += v[i];
            beyond4 += fabs(v[i]) > 4;
        }
        double mean = sum / (double)n;
        for (int64_t i = 0; i < n; i++)
            sq += (v[i] - mean) * (v[i] - mean);
        double sd = sqrt(sq / (double)(n - 1));
        ck_assert_msg(fabs(mean) < 0.015, "mean %g", mean); /* sigma 0.003 */
        ck_assert_msg(fabs(sd - 1) < 0.015, "std %g", sd);
        ck_assert_int_lt(beyond4, 20); /* expected ~6 */
        free(v);
    }
    /* normal_ with mean/std, drawn in logical row-major order even through a transposed view */
    nb_generator g, ref;
    nb_generator_seed(&g, 5);
    nb_generator_seed(&ref, 5);
    nb_tensor *base = nb_zeros(NB_DIMS(3, 4), NB_F64);
    nb_tensor *tv = nb_transpose(base, 0, 1); /* [4, 3] */
    nb_normal_(tv, 3, 0.5, &g);
    for (int64_t r = 0; r < 4; r++)
        for (int64_t c = 0; c < 3; c++)
            ck_assert_double_eq_tol(nb_tensor_get(tv, S(r, c)), 3 + 0.5 * nb_generator_normal(&ref), 1e-15);
    nb_scope_end(scope);
}
END_TEST

/* nb_normal_ of a contiguous tensor (drawn a block at a time, transformed on several threads) is
 * value for value nb_generator_normal one by one: odd sizes (the pending second value of a pair
 * carries over to the next call), a size over the 8192-pair block, float32 and float64, 1 and 2
 * threads. */
START_TEST(test_randn_bulk_equals_one_by_one)
{
    static const int64_t sizes[] = {1, 7, 2, 16385, 3, 40000};
    int scope = nb_scope_begin();
    for (int th = 1; th <= 2; th++) {
        nb_set_num_threads(th);
        for (int d = 0; d < 2; d++) {
            nb_dtype dt = d ? NB_F64 : NB_F32;
            nb_generator g, ref;
            nb_generator_seed(&g, 77);
            nb_generator_seed(&ref, 77);
            for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
                nb_tensor *t = nb_normal_(nb_empty(NB_DIMS(sizes[k]), dt), -1.5, 0.25, &g);
                for (int64_t i = 0; i < sizes[k]; i++) {
                    double want = -1.5 + 0.25 * nb_generator_normal(&ref);
                    if (dt == NB_F32)
                        want = (double)(float)want;
                    double got = nb_tensor_get(t, S(i));
                    ck_assert_msg(got == want, "size %lld element %lld: %.17g != %.17g", (long long)sizes[k],
                                  (long long)i, got, want);
                }
            }
            ck_assert(nb_generator_next(&g) == nb_generator_next(&ref)); /* streams still in step */
        }
    }
    nb_set_num_threads(0);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_randint)
{
    int scope = nb_scope_begin();
    nb_generator g;
    nb_generator_seed(&g, 77);
    const int64_t n = 100000;
    nb_tensor *t = nb_randint(-3, 7, NB_DIMS(n), NB_I64, &g);
    ck_assert_int_eq(nb_tensor_dtype(t), NB_I64);
    const int64_t *p = nb_tensor_data(t);
    int64_t count[10] = {0};
    for (int64_t i = 0; i < n; i++) {
        ck_assert_msg(p[i] >= -3 && p[i] < 7, "randint value %lld", (long long)p[i]);
        count[p[i] + 3]++;
    }
    double chi2 = 0, e = (double)n / 10;
    for (int k = 0; k < 10; k++)
        chi2 += (count[k] - e) * (count[k] - e) / e;
    ck_assert_msg(chi2 < 33.7, "chi-square %g over 10 bins (p < 1e-4 for uniform)", chi2);

    nb_tensor *i32 = nb_randint(0, 2, NB_DIMS(1000), NB_I32, &g);
    int ones = 0;
    for (int i = 0; i < 1000; i++) {
        int32_t x = ((int32_t *)nb_tensor_data(i32))[i];
        ck_assert(x == 0 || x == 1);
        ones += x;
    }
    ck_assert(ones > 400 && ones < 600);
    nb_tensor *f = nb_randint(5, 6, NB_DIMS(4), NB_F32, &g); /* a single possible value */
    tu_assert_values(f, D(5, 5, 5, 5), 0);
    nb_tensor *big = nb_randint(INT64_C(1) << 40, (INT64_C(1) << 40) + 3, NB_DIMS(100), NB_I64, &g);
    for (int i = 0; i < 100; i++) {
        int64_t x = ((int64_t *)nb_tensor_data(big))[i] - (INT64_C(1) << 40);
        ck_assert(x >= 0 && x < 3);
    }
    ck_assert_uint_eq(nb_generator_below(&g, 1), 0);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_rng_misuse)
{
    nb_generator g;
    nb_generator_seed(&g, 1);
    int scope = nb_scope_begin(); /* frees what the failing calls allocated before failing */
    TU_EXPECT_ERROR("nb_randint: empty range [3, 3)", nb_randint(3, 3, NB_DIMS(2), NB_I64, &g));
    TU_EXPECT_ERROR("nb_randint: dtype bool is not supported", nb_randint(0, 2, NB_DIMS(2), NB_BOOL, &g));
    TU_EXPECT_ERROR("nb_uniform_: expected a float32 or float64 tensor, got int64",
                    nb_rand(NB_DIMS(2), NB_I64, &g));
    TU_EXPECT_ERROR("nb_normal_: expected a float32 or float64 tensor, got bool",
                    nb_randn(NB_DIMS(2), NB_BOOL, &g));
    TU_EXPECT_ERROR("nb_generator_below: n must be > 0", nb_generator_below(&g, 0));
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
    tu_assert_values(keep, D(2.5, 2.5, 2.5), 0);
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

START_TEST(test_scope_loop_rss_flat)
{
#ifdef __SANITIZE_ADDRESS__
    return; /* ASan's quarantine keeps freed memory resident */
#endif
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
                    nb_ones(9, S(1, 1, 1, 1, 1, 1, 1, 1, 1), NB_F32));
    TU_EXPECT_ERROR("nb_empty: -1 dims requested", nb_empty(-1, NULL, NB_F32));
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
    suite_add_tcase(s, tc);

    TCase *rng = tcase_create("random");
    tcase_set_timeout(rng, 10);
    tcase_add_test(rng, test_rng_regression_vector);
    tcase_add_test(rng, test_rng_same_seed_same_stream);
    tcase_add_test(rng, test_rng_different_seeds_differ);
    tcase_add_test(rng, test_rand_uniform_range);
    tcase_add_test(rng, test_rand_upper_bound_after_rounding);
    tcase_add_test(rng, test_randn_moments);
    tcase_add_test(rng, test_randn_bulk_equals_one_by_one);
    tcase_add_test(rng, test_randint);
    tcase_add_test(rng, test_rng_misuse);
    suite_add_tcase(s, rng);

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
