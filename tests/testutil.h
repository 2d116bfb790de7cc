/* testutil.h — shared helpers for nabla's Check suites: tensors from literals, the input layouts
 * every op is tested on, tolerant comparisons, and capture of misuse errors. */
#ifndef NB_TESTUTIL_H
#define NB_TESTUTIL_H

#include <check.h>
#include <setjmp.h>
#include <stdbool.h>

#include "nabla.h"

/* New tensor of shape/dtype filled from `vals` (row-major). */
nb_tensor *tu_tensor(nb_dtype dt, const int64_t *shape, int ndim, const double *vals);
/* Deterministic pseudo-random values in [lo, hi) (own generator, seed). */
nb_tensor *tu_random(nb_dtype dt, const int64_t *shape, int ndim, double lo, double hi, uint64_t seed);

/* Memory layouts with equal logical contents, for "same result on any strides" tests. */
typedef enum {
    TU_CONTIGUOUS, /* a plain contiguous copy */
    TU_TRANSPOSED, /* stored with dims in reverse order, viewed back: non-contiguous strides */
    TU_SLICED,     /* inside a larger NaN-filled buffer at an offset, step 2 on the last dim */
    TU_LAYOUT_COUNT
} tu_layout;
extern const char *const tu_layout_names[TU_LAYOUT_COUNT];
/* Copy of src's values in the given layout (a new tensor; a view into a fresh buffer). */
nb_tensor *tu_relayout(const nb_tensor *src, tu_layout layout);
/* tu_relayout's copy, owned by the innermost open scope (tu_adopt(tu_relayout(src, layout))). */
nb_tensor *tu_relayout_scoped(const nb_tensor *src, tu_layout layout);
/* Hands an owned reference (e.g. tu_relayout's) to the innermost open scope, as library functions
 * return tensors; without an open scope the caller keeps owning it. Returns t. */
nb_tensor *tu_adopt(nb_tensor *t);
/* Checked fixture: each test of a TCase runs inside a scope, closed afterwards together with any
 * scope a misuse error left open (LeakSanitizer sees no test garbage):
 *   tcase_add_checked_fixture(tc, tu_scope_setup, tu_scope_teardown); */
void tu_scope_setup(void);
void tu_scope_teardown(void);

/* Asserts equal shapes and |got - want| <= atol + rtol*|want| elementwise (NaN == NaN, equal
 * infinities equal); the failure message names the first differing index and both values. */
#define tu_assert_close(got, want, atol, rtol) tu_assert_close_at(got, want, atol, rtol, __FILE__, __LINE__)
void tu_assert_close_at(const nb_tensor *got, const nb_tensor *want, double atol, double rtol,
                        const char *file, int line);
/* Asserts t's shape equals the given one. */
void tu_assert_shape(const nb_tensor *t, const int64_t *shape, int ndim);
/* An array of doubles from literals, for the value assertions below (a macro argument with its
 * commas inside parentheses). */
#define VALS(...) ((const double[]){__VA_ARGS__})
/* Asserts t has exactly as many elements as the array `vals` and that its values (row-major) equal
 * them within atol: an empty or wrongly sized result fails. `vals` must be an array (a compound
 * literal VALS(...) / (const double[]){...}, or a named array) whose length the macro takes with
 * sizeof; a pointer does not compile (say the count with tu_assert_values_n). A tensor without
 * elements fails (assert an empty result with tu_assert_shape). */
#define tu_assert_values(t, vals, atol) tu_assert_values_n(t, TU_COUNT(vals), vals, atol)
/* The same within atol + rtol*|val| (NaN matches NaN). */
#define tu_assert_values_rel(t, vals, atol, rtol) tu_assert_values_rel_n(t, TU_COUNT(vals), vals, atol, rtol)
/* The same with the element count n said by the caller (vals points to n values). */
#define tu_assert_values_n(t, n, vals, atol) tu_assert_values_at(t, NULL, -1, n, vals, atol, 0, __FILE__, __LINE__)
#define tu_assert_values_rel_n(t, n, vals, atol, rtol)                                                     \
    tu_assert_values_at(t, NULL, -1, n, vals, atol, rtol, __FILE__, __LINE__)
/* Asserts t's shape is `dims` (NB_DIMS(...): ndim and the sizes) and its values equal the array
 * `vals` (count from sizeof, which must equal the shape's element count) within atol. */
#define tu_assert_shape_values(t, dims, vals, atol) TU_ASSERT_SHAPE_VALUES_(t, vals, atol, dims)
#define TU_ASSERT_SHAPE_VALUES_(t, vals, atol, ...) /* (the shape literal holds commas) */           \
    tu_assert_values_at(t, __VA_ARGS__, TU_COUNT(vals), vals, atol, 0, __FILE__, __LINE__)
/* Implementation of the above: ndim < 0 skips the shape check. The failure message names the
 * caller's file:line, the first differing element and both values, or the two counts / shapes. */
void tu_assert_values_at(const nb_tensor *t, const int64_t *shape, int ndim, int64_t n, const double *vals,
                         double atol, double rtol, const char *file, int line);
/* Element count of an array; does not compile for a pointer (whose sizeof would say nothing). */
#define TU_IS_POINTER(a)                                                                                   \
    _Generic(&(a), double **: 1, const double **: 1, double *const *: 1, const double *const *: 1, default: 0)
#define TU_COUNT(a)                                                                                        \
    ((int64_t)(sizeof(a) / sizeof((a)[0])) + 0 * (int64_t)sizeof(char[1 - 2 * TU_IS_POINTER(a)]))
/* (For a pointer the array size above is -1: "size of array is negative" at compile time. Not a
 * _Static_assert inside a struct: clang refuses a compound literal with run-time values there.) */
/* All values of t (row-major) as a new malloc'd double array: the caller frees it. */
double *tu_values(const nb_tensor *t);
/* Index tensor of dtype dt (NB_I32 / NB_I64) from int64 values (row-major). */
nb_tensor *tu_ints(nb_dtype dt, const int64_t *shape, int ndim, const int64_t *vals);
/* Element count of a shape (the product of its sizes; 1 for 0 dims). */
int64_t tu_numel(int ndim, const int64_t *shape);
/* Row-major linear index <-> coordinates (element counts: nb__numel of nb__tensor.h). */
void tu_unravel(int64_t lin, int ndim, const int64_t *shape, int64_t *idx);
int64_t tu_ravel(int ndim, const int64_t *shape, const int64_t *idx);

/* Independent GEMM oracle (a plain triple loop in double, no blocking, no library code):
 * C = alpha * op(A) @ op(B) + beta * C on row-major doubles with leading dims lda, ldb, ldc, where
 * op(A)[i][p] = ta ? A[p*lda + i] : A[i*lda + p] (M x K) and likewise B (K x N); beta == 0
 * overwrites C without reading it (BLAS semantics: NaN in C is ignored). */
void tu_gemm_oracle(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                    const double *B, int64_t ldb, double beta, double *C, int64_t ldc);

/* ---- misuse errors -------------------------------------------------------------------------- */
/* Runs `stmt`, which must call the misuse handler with a message containing `substr`.
 * (Check forks each test, so the longjmp out of library code is harmless.) */
extern jmp_buf tu_error_jmp;
extern char tu_error_msg[1024];
void tu_error_capture_begin(void);
void tu_error_capture_end(void);
#define TU_EXPECT_ERROR(substr, stmt)                                                          \
    do {                                                                                       \
        tu_error_capture_begin();                                                              \
        if (setjmp(tu_error_jmp) == 0) {                                                       \
            stmt;                                                                              \
            tu_error_capture_end();                                                            \
            ck_abort_msg("expected an error containing \"%s\", none was raised", substr);      \
        } else {                                                                               \
            tu_error_capture_end();                                                            \
            ck_assert_msg(strstr(tu_error_msg, substr) != NULL,                                \
                          "error \"%s\" does not contain \"%s\"", tu_error_msg, substr);       \
        }                                                                                      \
    } while (0)

/* Runs a suite (CK_NORMAL output) and returns the process exit code. */
int tu_run_suite(Suite *s);
/* A test that could not run because PyTorch is missing: prints "SKIP: what" and returns 77 (the
 * automake SKIP status), or, when NB_REQUIRE_TORCH is set (CI sets it), prints a failure and
 * returns 1. Use as main()'s return value, after running whatever did not need it. */
int tu_skipped(const char *what);

#endif
