/* test_random.c — the seeded generator (xoshiro256** seeded by splitmix64): its regression vector
 * (from an independent Python implementation in tests/ref_tensor.py), same seed same stream,
 * uniform and normal fills (ranges, moments, bulk fills equal to one-by-one draws), randint and
 * misuse messages. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define D(...) ((const double[]){__VA_ARGS__})
#define S(...) ((const int64_t[]){__VA_ARGS__})

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
    tu_assert_shape_values(f, NB_DIMS(4), D(5, 5, 5, 5), 0);
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

int main(void)
{
    Suite *s = suite_create("random");
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
    return tu_run_suite(s);
}
