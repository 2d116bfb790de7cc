/* testutil.c — see testutil.h. */
#include "testutil.h"

#include "nb__tensor.h" /* nb__numel */

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Under ASan (LeakSanitizer): a statement expected to fail leaves the library by longjmp from the
 * error handler, which by design skips the library's cleanup (scratch buffers, temporaries of
 * unfinished scopes); what it allocated is not reported as leaked. Leaks elsewhere still are. */
#if defined(__SANITIZE_ADDRESS__)
#define TU_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_HAVE_LSAN 1
#endif
#endif
#ifdef TU_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

const char *const tu_layout_names[TU_LAYOUT_COUNT] = {"contiguous", "transposed", "sliced"};

nb_tensor *tu_tensor(nb_dtype dt, const int64_t *shape, int ndim, const double *vals)
{
    return nb_from_doubles(vals, shape, ndim, dt);
}

nb_tensor *tu_random(nb_dtype dt, const int64_t *shape, int ndim, double lo, double hi, uint64_t seed)
{
    nb_generator g;
    nb_generator_seed(&g, seed);
    int64_t n = 1; /* (no temporary tensor: releasing one by hand breaks under an open scope) */
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    double *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = lo + (hi - lo) * nb_generator_uniform(&g);
    nb_tensor *t = nb_from_doubles(v, shape, ndim, dt);
    free(v);
    return t;
}

nb_tensor *tu_relayout(const nb_tensor *src, tu_layout layout)
{
    int nd = nb_tensor_ndim(src);
    const int64_t *sh = nb_tensor_shape(src);
    nb_dtype dt = nb_tensor_dtype(src);
    int scope = nb_scope_begin();
    nb_tensor *view = NULL;
    if (layout == TU_CONTIGUOUS || nd == 0) {
        view = nb_clone(src);
    } else if (layout == TU_TRANSPOSED) {
        int64_t rev[NB_MAX_DIMS];
        int perm[NB_MAX_DIMS];
        for (int i = 0; i < nd; i++)
            rev[i] = sh[nd - 1 - i], perm[i] = nd - 1 - i;
        nb_tensor *store = nb_empty(rev, nd, dt);
        view = nb_permute(store, perm); /* logical shape == src's, strides reversed */
        nb_copy_(view, src);
    } else { /* TU_SLICED: offset 1 in every dim, step 2 in the last, NaN (or -7) in the gaps */
        int64_t big[NB_MAX_DIMS];
        for (int i = 0; i < nd; i++)
            big[i] = sh[i] + 1;
        big[nd - 1] = 2 * sh[nd - 1] + 1;
        nb_tensor *store = nb_full(big, nd, nb_dtype_is_float(dt) ? NAN : -7, dt);
        view = store;
        for (int i = 0; i < nd; i++)
            view = nb_slice(view, i, 1, i == nd - 1 ? big[i] : 1 + sh[i], i == nd - 1 ? 2 : 1);
        nb_copy_(view, src);
    }
    nb_tensor *out = nb_tensor_retain(view);
    nb_scope_end(scope);
    return out;
}

nb_tensor *tu_adopt(nb_tensor *t)
{
    int scope = nb_scope_begin();
    nb_tensor *r = nb_scope_return(scope, t); /* +1 reference, owned by the enclosing scope if any */
    nb_tensor_release(t);                     /* drop the caller's */
    return r;
}

nb_tensor *tu_relayout_scoped(const nb_tensor *src, tu_layout layout) { return tu_adopt(tu_relayout(src, layout)); }

void tu_scope_setup(void) { nb_scope_begin(); }

void tu_scope_teardown(void)
{
    while (nb_scope_depth() > 0)
        nb_scope_end(nb_scope_depth());
}

static bool close_enough(double g, double w, double atol, double rtol)
{
    if (isnan(w) || isnan(g))
        return isnan(w) && isnan(g);
    if (isinf(w) || isinf(g))
        return g == w;
    return fabs(g - w) <= atol + rtol * fabs(w);
}

void tu_assert_close_at(const nb_tensor *got, const nb_tensor *want, double atol, double rtol, const char *file,
                        int line)
{
    char a[128], b[128];
    ck_assert_msg(nb_tensor_same_shape(got, want), "%s:%d: shape %s != expected %s", file, line,
                  nb_shape_str(nb_tensor_shape(got), nb_tensor_ndim(got), a, sizeof a),
                  nb_shape_str(nb_tensor_shape(want), nb_tensor_ndim(want), b, sizeof b));
    int64_t n = nb_tensor_numel(got);
    double *g = malloc((size_t)(n ? n : 1) * sizeof *g), *w = malloc((size_t)(n ? n : 1) * sizeof *w);
    nb_tensor_to_doubles(got, g);
    nb_tensor_to_doubles(want, w);
    for (int64_t i = 0; i < n; i++) {
        if (!close_enough(g[i], w[i], atol, rtol)) {
            double gi = g[i], wi = w[i];
            free(g);
            free(w);
            ck_abort_msg("%s:%d: element %lld: got %.17g, expected %.17g (atol %g, rtol %g)", file, line,
                         (long long)i, gi, wi, atol, rtol);
        }
    }
    free(g);
    free(w);
}

void tu_assert_shape(const nb_tensor *t, const int64_t *shape, int ndim)
{
    char a[128], b[128];
    bool same = nb_tensor_ndim(t) == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = nb_tensor_shape(t)[i] == shape[i];
    ck_assert_msg(same, "shape %s != expected %s", nb_shape_str(nb_tensor_shape(t), nb_tensor_ndim(t), a, sizeof a),
                  nb_shape_str(shape, ndim, b, sizeof b));
}

double *tu_values(const nb_tensor *t)
{
    int64_t n = nb_tensor_numel(t);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    ck_assert_ptr_nonnull(v);
    nb_tensor_to_doubles(t, v);
    return v;
}

void tu_assert_values_at(const nb_tensor *t, const int64_t *shape, int ndim, int64_t n, const double *vals,
                         double atol, double rtol, const char *file, int line)
{
    char sh[128], want_sh[128];
    nb_shape_str(nb_tensor_shape(t), nb_tensor_ndim(t), sh, sizeof sh);
    if (ndim >= 0) {
        bool same = nb_tensor_ndim(t) == ndim;
        for (int i = 0; same && i < ndim; i++)
            same = nb_tensor_shape(t)[i] == shape[i];
        nb_shape_str(shape, ndim, want_sh, sizeof want_sh);
        if (!same)
            ck_abort_msg("%s:%d: shape %s != expected %s", file, line, sh, want_sh);
        if (nb__numel(ndim, shape) != n)
            ck_abort_msg("%s:%d: the expected shape %s has %lld elements, the values %lld", file, line, want_sh,
                         (long long)nb__numel(ndim, shape), (long long)n);
    }
    int64_t got_n = nb_tensor_numel(t);
    /* comparing no element would pass anything: assert an empty result's shape instead. (Plain ifs:
     * Check records every passing ck_assert, slow in the suites' loops.) */
    if (got_n == 0)
        ck_abort_msg("%s:%d: tu_assert_values: the tensor of shape %s has no elements to compare (use "
                     "tu_assert_shape)", file, line, sh);
    if (got_n != n)
        ck_abort_msg("%s:%d: tu_assert_values: the tensor of shape %s has %lld elements, %lld expected", file, line,
                     sh, (long long)got_n, (long long)n);
    double *g = tu_values(t);
    for (int64_t i = 0; i < n; i++) {
        if (!close_enough(g[i], vals[i], atol, rtol)) {
            double gi = g[i];
            free(g);
            ck_abort_msg("%s:%d: element %lld: got %.17g, expected %.17g (atol %g, rtol %g)", file, line,
                         (long long)i, gi, vals[i], atol, rtol);
        }
    }
    free(g);
}

jmp_buf tu_error_jmp;
char tu_error_msg[1024];

static void capture_handler(const char *msg, void *user)
{
    (void)user;
    snprintf(tu_error_msg, sizeof tu_error_msg, "%s", msg);
    longjmp(tu_error_jmp, 1);
}

void tu_error_capture_begin(void)
{
    tu_error_msg[0] = '\0';
#ifdef TU_HAVE_LSAN
    __lsan_disable();
#endif
    nb_set_error_handler(capture_handler, NULL);
}

void tu_error_capture_end(void)
{
    nb_set_error_handler(NULL, NULL);
#ifdef TU_HAVE_LSAN
    __lsan_enable();
#endif
}

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

int tu_skipped(const char *what)
{
    const char *req = getenv("NB_REQUIRE_TORCH");
    if (req && *req && strcmp(req, "0") != 0) {
        printf("FAIL: %s, but NB_REQUIRE_TORCH is set (CI installs PyTorch and expects no skip)\n", what);
        return 1;
    }
    printf("SKIP: %s\n", what);
    return 77;
}

nb_tensor *tu_ints(nb_dtype dt, const int64_t *shape, int ndim, const int64_t *vals)
{
    int64_t n = nb__numel(ndim, shape);
    double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    for (int64_t i = 0; i < n; i++)
        d[i] = (double)vals[i];
    nb_tensor *t = nb_from_doubles(d, shape, ndim, dt);
    free(d);
    return t;
}

void tu_gemm_oracle(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t lda,
                    const double *B, int64_t ldb, double beta, double *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t p = 0; p < K; p++)
                s += A[ta ? p * lda + i : i * lda + p] * B[tb ? j * ldb + p : p * ldb + j];
            C[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * C[i * ldc + j]);
        }
}

int64_t tu_numel(int ndim, const int64_t *shape) { return nb__numel(ndim, shape); }

void tu_unravel(int64_t lin, int ndim, const int64_t *shape, int64_t *idx)
{
    for (int i = ndim - 1; i >= 0; i--) {
        idx[i] = lin % shape[i];
        lin /= shape[i];
    }
}

int64_t tu_ravel(int ndim, const int64_t *shape, const int64_t *idx)
{
    int64_t lin = 0;
    for (int i = 0; i < ndim; i++)
        lin = lin * shape[i] + idx[i];
    return lin;
}
