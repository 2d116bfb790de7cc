/* test_reduce.c — reductions and softmax against plain-C reference loops over doubles, on every
 * layout (contiguous, transposed, sliced with NaN gaps, stride-0 expanded), zero-size and 0-dim
 * inputs, float32/float64 (and ints where supported); numerical edge cases; gradients against
 * hand-derived formulas; misuse messages; thread-count independence. */
#include "testutil.h"

#include "nb__tensor.h" /* nb__numel */

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the reference ---------------------------------------------------------------------------- */
typedef enum { R_SUM, R_MEAN, R_VAR, R_STD, R_LSE, R_MAX, R_MIN, R_KIND_COUNT } rkind;
static const char *const k_kind_names[R_KIND_COUNT] = {"sum", "mean", "var", "std", "logsumexp", "max", "min"};

/* Output index (row-major over the kept dims) of input element i. */
static int64_t out_index(int64_t i, int nd, const int64_t *shape, const bool *mask)
{
    int64_t o = 0, mul = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int64_t k = i % shape[d];
        i /= shape[d];
        if (!mask[d]) {
            o += k * mul;
            mul *= shape[d];
        }
    }
    return o;
}

/* Reduces v (row-major over shape) over the masked dims into out (and, for max/min, the position
 * of the first extreme within each output's elements into idx). Returns the output count. */
static int64_t ref_reduce(rkind k, const double *v, int nd, const int64_t *shape, const bool *mask, int corr,
                          double *out, int64_t *idx)
{
    int64_t numel = 1, nout = 1, nred = 1;
    for (int d = 0; d < nd; d++) {
        numel *= shape[d];
        if (mask[d])
            nred *= shape[d];
        else
            nout *= shape[d];
    }
    double *b = malloc((size_t)(numel ? numel : 1) * sizeof *b);
    int64_t *cnt = calloc((size_t)(nout ? nout : 1), sizeof *cnt);
    for (int64_t i = 0; i < numel; i++) {
        int64_t o = out_index(i, nd, shape, mask);
        b[o * nred + cnt[o]++] = v[i];
    }
    for (int64_t o = 0; o < nout; o++) {
        const double *e = b + o * nred;
        double s = 0, r = 0;
        for (int64_t j = 0; j < nred; j++)
            s += e[j];
        double mean = s / (double)nred;
        if (k == R_SUM) {
            r = s;
        } else if (k == R_MEAN) {
            r = mean;
        } else if (k == R_VAR || k == R_STD) {
            double ss = 0, div = (double)nred - corr;
            for (int64_t j = 0; j < nred; j++)
                ss += (e[j] - mean) * (e[j] - mean);
            r = ss / (div > 0 ? div : 0);
            if (k == R_STD)
                r = sqrt(r);
        } else if (k == R_LSE) {
            double m = -INFINITY, t = 0;
            for (int64_t j = 0; j < nred; j++)
                m = e[j] > m ? e[j] : m;
            double shift = isinf(m) ? 0 : m;
            for (int64_t j = 0; j < nred; j++)
                t += exp(e[j] - shift);
            r = log(t) + shift;
        } else {
            int64_t best = 0;
            for (int64_t j = 1; j < nred; j++)
                if (k == R_MAX ? e[j] > e[best] : e[j] < e[best])
                    best = j;
            r = e[best];
            if (idx)
                idx[o] = best;
        }
        out[o] = r;
    }
    free(b);
    free(cnt);
    return nout;
}

/* Softmax / log-softmax of v (row-major over shape) along dim into out (same layout). */
static void ref_softmax(const double *v, int nd, const int64_t *shape, int dim, bool lg, double *out)
{
    int64_t outer = 1, size = 1, inner = 1;
    for (int d = 0; d < nd; d++) {
        if (d < dim)
            outer *= shape[d];
        else if (d == dim)
            size = shape[d];
        else
            inner *= shape[d];
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const double *x = v + o * size * inner + i;
            double *y = out + o * size * inner + i, m = -INFINITY, s = 0;
            for (int64_t j = 0; j < size; j++)
                m = x[j * inner] > m ? x[j * inner] : m;
            for (int64_t j = 0; j < size; j++)
                s += exp(x[j * inner] - m);
            for (int64_t j = 0; j < size; j++)
                y[j * inner] = lg ? x[j * inner] - m - log(s) : exp(x[j * inner] - m) / s;
        }
}

/* ---- helpers ---------------------------------------------------------------------------------- */
static void make_mask(int nd, int ndims, const int *dims, bool *mask)
{
    for (int d = 0; d < NB_MAX_DIMS; d++)
        mask[d] = ndims == 0;
    for (int i = 0; i < ndims; i++)
        if (nd)
            mask[dims[i] < 0 ? dims[i] + nd : dims[i]] = true;
}

static int reduced_shape(int nd, const int64_t *shape, const bool *mask, bool keepdim, int64_t *out)
{
    int n = 0;
    for (int d = 0; d < nd; d++) {
        if (!mask[d])
            out[n++] = shape[d];
        else if (keepdim)
            out[n++] = 1;
    }
    return n;
}

static nb_tensor *call_reduce(rkind k, const nb_tensor *x, int ndims, const int *dims, bool keepdim, int corr)
{
    const int *dl = ndims ? dims : NULL;
    switch (k) {
    case R_SUM: return nb_sum(x, dl, ndims, keepdim);
    case R_MEAN: return nb_mean(x, dl, ndims, keepdim);
    case R_VAR: return nb_var(x, dl, ndims, corr, keepdim);
    case R_STD: return nb_std(x, dl, ndims, corr, keepdim);
    case R_LSE: return nb_logsumexp(x, dl, ndims, keepdim);
    case R_MAX: return nb_max(x, dims[0], keepdim, NULL);
    case R_MIN: return nb_min(x, dims[0], keepdim, NULL);
    default: return NULL;
    }
}

static double atol_of(nb_dtype dt) { return dt == NB_F32 ? 2e-5 : 1e-11; }
static double rtol_of(nb_dtype dt) { return dt == NB_F32 ? 2e-5 : 1e-11; }

/* Checks op k on x (any layout) against the reference on the contiguous values of `logical`. */
static void check_reduce(rkind k, const nb_tensor *x, const nb_tensor *logical, int ndims, const int *dims,
                         bool keepdim, int corr)
{
    int nd = nb_tensor_ndim(logical);
    const int64_t *shape = nb_tensor_shape(logical);
    bool mask[NB_MAX_DIMS];
    make_mask(nd, ndims, dims, mask);
    int64_t oshape[NB_MAX_DIMS];
    int ond = reduced_shape(nd, shape, mask, keepdim, oshape);
    double *v = tu_values(logical);
    int64_t nout = nb__numel(ond, oshape);
    double *want = malloc((size_t)(nout ? nout : 1) * sizeof *want);
    ref_reduce(k, v, nd, shape, mask, corr, want, NULL);
    nb_dtype dt = nb_tensor_dtype(x);
    nb_dtype odt = (k == R_SUM && !nb_dtype_is_float(dt)) ? NB_I64 : dt;
    nb_tensor *got = call_reduce(k, x, ndims, dims, keepdim, corr);
    ck_assert_int_eq(nb_tensor_dtype(got), odt);
    nb_tensor *exp_t = nb_from_doubles(want, oshape, ond, NB_F64);
    tu_assert_close(got, exp_t, atol_of(dt), rtol_of(dt));
    free(v);
    free(want);
}

/* ---- forward: every reduction, layout, dtype, dim list, keepdim -------------------------------- */
typedef struct {
    int nd;
    int64_t shape[4];
    int ndims; /* 0: every dim */
    int dims[3];
} rcase;

static const rcase k_cases[] = {
    {3, {3, 4, 5}, 1, {1}},     {3, {3, 4, 5}, 2, {0, 2}},   {3, {3, 4, 5}, 1, {-1}},   {3, {3, 4, 5}, 0, {0}},
    {3, {3, 4, 5}, 2, {2, 0}},  {3, {3, 4, 5}, 2, {-3, -2}}, {3, {3, 4, 5}, 3, {0, 1, 2}},
    {2, {6, 7}, 1, {0}},        {2, {6, 7}, 1, {1}},         {2, {6, 7}, 0, {0}},
    {2, {37, 300}, 1, {0}},     {2, {300, 37}, 1, {1}},      {2, {37, 300}, 1, {-1}},
    {4, {2, 1, 3, 2}, 2, {1, 3}}, {1, {1}, 1, {0}},          {1, {9}, 1, {0}},
    {0, {0}, 1, {0}},           {0, {0}, 1, {-1}},           {0, {0}, 0, {0}},
    {2, {0, 3}, 1, {0}},        {2, {0, 3}, 1, {1}},         {3, {2, 0, 3}, 1, {1}},    {3, {2, 0, 3}, 2, {0, 2}},
    {2, {0, 3}, 0, {0}},
};
#define N_CASES ((int)(sizeof k_cases / sizeof k_cases[0]))

static const nb_dtype k_float_types[2] = {NB_F32, NB_F64};

/* One reduction kind over every case, layout, dtype and keepdim. */
static void check_kind_all(rkind k, int corr)
{
    int scope = nb_scope_begin();
    for (int c = 0; c < N_CASES; c++)
        for (int di = 0; di < 2; di++) {
            const rcase *rc = &k_cases[c];
            nb_tensor *src = tu_random(k_float_types[di], rc->shape, rc->nd, -2, 2, 100 + (uint64_t)c);
            for (int l = 0; l < TU_LAYOUT_COUNT; l++) {
                nb_tensor *x = tu_relayout(src, (tu_layout)l);
                for (int keep = 0; keep < 2; keep++)
                    check_reduce(k, x, src, rc->ndims, rc->dims, keep, corr);
                nb_tensor_release(x);
            }
        }
    nb_scope_end(scope);
}

START_TEST(test_sum_all_layouts) { check_kind_all(R_SUM, 0); }
END_TEST
START_TEST(test_mean_all_layouts) { check_kind_all(R_MEAN, 0); }
END_TEST
START_TEST(test_var_all_layouts)
{
    check_kind_all(R_VAR, 1);
    check_kind_all(R_VAR, 0);
}
END_TEST
START_TEST(test_std_all_layouts)
{
    check_kind_all(R_STD, 1);
    check_kind_all(R_STD, 0);
}
END_TEST
START_TEST(test_logsumexp_all_layouts) { check_kind_all(R_LSE, 0); }
END_TEST

/* Expanded (stride-0) inputs: [3, 1, 5] broadcast to [3, 4, 5], and a 0-dim value to [2, 3]. */
START_TEST(test_reduce_expanded)
{
    int scope = nb_scope_begin();
    static const int dl[][2] = {{1, 0}, {0, 1}, {2, 0}, {-1, 1}};
    static const int dn[] = {1, 2, 1, 2};
    for (int di = 0; di < 2; di++) {
        nb_tensor *base = tu_random(k_float_types[di], NB_DIMS(3, 1, 5), -1, 1, 7);
        nb_tensor *x = nb_expand(base, NB_DIMS(3, 4, 5));
        ck_assert_int_eq(nb_tensor_strides(x)[1], 0);
        nb_tensor *s0 = nb_expand(nb_scalar(1.5, k_float_types[di]), NB_DIMS(2, 3));
        for (int k = 0; k < R_MAX; k++)
            for (int keep = 0; keep < 2; keep++) {
                for (int i = 0; i < 4; i++)
                    check_reduce((rkind)k, x, x, dn[i], dl[i], keep, 1);
                check_reduce((rkind)k, x, x, 0, NULL, keep, 1);
                check_reduce((rkind)k, s0, s0, 0, NULL, keep, 0);
            }
        for (int d = 0; d < 3; d++)
            for (int keep = 0; keep < 2; keep++) {
                check_reduce(R_MAX, x, x, 1, &d, keep, 0);
                check_reduce(R_MIN, x, x, 1, &d, keep, 0);
            }
    }
    nb_scope_end(scope);
}
END_TEST

/* Integer (and bool) sums give int64, exactly. */
START_TEST(test_sum_int)
{
    int scope = nb_scope_begin();
    static const nb_dtype dts[3] = {NB_I32, NB_I64, NB_BOOL};
    for (int c = 0; c < N_CASES; c++)
        for (int di = 0; di < 3; di++) {
            const rcase *rc = &k_cases[c];
            nb_tensor *src = nb_randint(dts[di] == NB_BOOL ? 0 : -50, dts[di] == NB_BOOL ? 2 : 50, rc->shape, rc->nd,
                                        dts[di] == NB_BOOL ? NB_I32 : dts[di], NULL);
            if (dts[di] == NB_BOOL)
                src = nb_to_dtype(src, NB_BOOL);
            for (int l = 0; l < TU_LAYOUT_COUNT; l++) {
                nb_tensor *x = tu_relayout(src, (tu_layout)l);
                for (int keep = 0; keep < 2; keep++) {
                    check_reduce(R_SUM, x, src, rc->ndims, rc->dims, keep, 0);
                    int d0 = rc->dims[0] < 0 ? rc->dims[0] + rc->nd : rc->dims[0];
                    if (nb_tensor_numel(x) > 0 && rc->nd > 0 && nb_tensor_shape(x)[d0] > 0) {
                        check_reduce(R_MAX, x, src, 1, rc->dims, keep, 0);
                        check_reduce(R_MIN, x, src, 1, rc->dims, keep, 0);
                    }
                }
                nb_tensor_release(x);
            }
        }
    /* exact beyond 2^53 for int64 */
    int64_t big[2] = {(int64_t)1 << 60, 3};
    nb_tensor *b = nb_from_data(big, NB_DIMS(2), NB_I64);
    nb_tensor *s = nb_sum(b, NB_ALL_AXES, false);
    ck_assert(*(const int64_t *)nb_tensor_data(s) == ((int64_t)1 << 60) + 3);
    nb_scope_end(scope);
}
END_TEST

/* ---- max / min / argmax / argmin ---------------------------------------------------------------- */
typedef struct {
    int nd;
    int64_t shape[3];
    int dim;
} mcase;
static const mcase k_mcases[] = {
    {3, {3, 4, 5}, 0}, {3, {3, 4, 5}, 1}, {3, {3, 4, 5}, 2}, {3, {3, 4, 5}, -1}, {2, {6, 7}, 0}, {2, {37, 300}, 0},
    {2, {37, 300}, 1}, {1, {1}, 0},       {0, {0}, 0},       {0, {0}, -1},       {2, {0, 3}, 1}, {3, {2, 1, 3}, 1},
};

START_TEST(test_maxmin_all_layouts)
{
    int scope = nb_scope_begin();
    for (size_t c = 0; c < sizeof k_mcases / sizeof k_mcases[0]; c++)
        for (int di = 0; di < 2; di++) {
            const mcase *mc = &k_mcases[c];
            nb_tensor *src = tu_random(k_float_types[di], mc->shape, mc->nd, -3, 3, 300 + c);
            double *v = tu_values(src);
            bool mask[NB_MAX_DIMS];
            make_mask(mc->nd, 1, &mc->dim, mask);
            int64_t n = nb__numel(mc->nd, mc->shape);
            double *want = malloc((size_t)(n ? n : 1) * sizeof *want);
            int64_t *widx = malloc((size_t)(n ? n : 1) * sizeof *widx);
            for (int l = 0; l < TU_LAYOUT_COUNT; l++) {
                nb_tensor *x = tu_relayout(src, (tu_layout)l);
                for (int keep = 0; keep < 2; keep++)
                    for (int is_max = 0; is_max < 2; is_max++) {
                        int64_t osh[NB_MAX_DIMS];
                        int ond = reduced_shape(mc->nd, mc->shape, mask, keep, osh);
                        int64_t nout = ref_reduce(is_max ? R_MAX : R_MIN, v, mc->nd, mc->shape, mask, 0, want, widx);
                        nb_tensor *idx = NULL;
                        nb_tensor *got = is_max ? nb_max(x, mc->dim, keep, &idx) : nb_min(x, mc->dim, keep, &idx);
                        nb_tensor *arg = is_max ? nb_argmax(x, mc->dim, keep) : nb_argmin(x, mc->dim, keep);
                        tu_assert_close(got, nb_from_doubles(want, osh, ond, NB_F64), 0, 0);
                        ck_assert_int_eq(nb_tensor_dtype(idx), NB_I64);
                        ck_assert_int_eq(nb_tensor_dtype(arg), NB_I64);
                        ck_assert_int_eq(nb_tensor_dtype(got), k_float_types[di]);
                        double *wi = malloc((size_t)(nout ? nout : 1) * sizeof *wi);
                        for (int64_t o = 0; o < nout; o++)
                            wi[o] = (double)widx[o];
                        tu_assert_close(idx, nb_from_doubles(wi, osh, ond, NB_F64), 0, 0);
                        tu_assert_close(arg, nb_from_doubles(wi, osh, ond, NB_F64), 0, 0);
                        free(wi);
                    }
                nb_tensor_release(x);
            }
            free(v);
            free(want);
            free(widx);
        }
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_maxmin_ties_and_nan)
{
    int scope = nb_scope_begin();
    for (int di = 0; di < 2; di++) {
        nb_dtype dt = k_float_types[di];
        nb_tensor *t = tu_tensor(dt, NB_DIMS(2, 4), (const double[]){1, 3, 3, 2, 5, 1, 1, 5});
        nb_tensor *i = NULL;
        tu_assert_shape_values(nb_max(t, 1, false, &i), NB_DIMS(2), VALS(3, 5), 0);
        tu_assert_shape_values(i, NB_DIMS(2), VALS(1, 0), 0);
        tu_assert_shape_values(nb_argmin(t, -1, false), NB_DIMS(2), VALS(0, 1), 0);
        tu_assert_shape_values(nb_argmax(t, 0, true), NB_DIMS(1, 4), VALS(1, 0, 0, 1), 0);
        /* NaN is the extreme for both, as in PyTorch */
        nb_tensor *n = tu_tensor(dt, NB_DIMS(4), (const double[]){1, NAN, 7, NAN});
        ck_assert(isnan(nb_tensor_item(nb_max(n, 0, false, NULL))));
        ck_assert(isnan(nb_tensor_item(nb_min(n, 0, false, NULL))));
        ck_assert_int_eq((int)nb_tensor_item(nb_argmax(n, 0, false)), 1);
        ck_assert_int_eq((int)nb_tensor_item(nb_argmin(n, 0, false)), 1);
        ck_assert(isnan(nb_tensor_item(nb_logsumexp(n, NB_ALL_AXES, false))));
        ck_assert(isnan(nb_tensor_item(nb_sum(n, NB_ALL_AXES, false))));
    }
    nb_tensor *t = tu_tensor(NB_I32, NB_DIMS(5), (const double[]){4, -2, 9, 9, -2});
    nb_tensor *i = NULL;
    nb_tensor *m = nb_max(t, 0, true, &i);
    ck_assert_int_eq(nb_tensor_dtype(m), NB_I32);
    tu_assert_shape_values(m, NB_DIMS(1), VALS(9), 0);
    tu_assert_shape_values(i, NB_DIMS(1), VALS(2), 0);
    tu_assert_values(nb_argmin(t, 0, false), VALS(1), 0);
    nb_scope_end(scope);
}
END_TEST

/* ---- softmax / log_softmax ---------------------------------------------------------------------- */
START_TEST(test_softmax_all_layouts)
{
    int scope = nb_scope_begin();
    for (size_t c = 0; c < sizeof k_mcases / sizeof k_mcases[0]; c++)
        for (int di = 0; di < 2; di++) {
            const mcase *mc = &k_mcases[c];
            nb_tensor *src = tu_random(k_float_types[di], mc->shape, mc->nd, -8, 8, 500 + c);
            double *v = tu_values(src);
            int64_t n = nb__numel(mc->nd, mc->shape);
            double *want = malloc((size_t)(n ? n : 1) * sizeof *want);
            int dim = mc->nd == 0 ? 0 : (mc->dim < 0 ? mc->dim + mc->nd : mc->dim);
            for (int lg = 0; lg < 2; lg++) {
                ref_softmax(v, mc->nd, mc->shape, dim, lg, want);
                nb_tensor *w = nb_from_doubles(want, mc->shape, mc->nd, NB_F64);
                for (int l = 0; l < TU_LAYOUT_COUNT; l++) {
                    nb_tensor *x = tu_relayout(src, (tu_layout)l);
                    nb_tensor *got = lg ? nb_log_softmax(x, mc->dim) : nb_softmax(x, mc->dim);
                    ck_assert_int_eq(nb_tensor_dtype(got), k_float_types[di]);
                    ck_assert(nb_tensor_is_contiguous(got));
                    tu_assert_close(got, w, atol_of(k_float_types[di]), rtol_of(k_float_types[di]));
                    nb_tensor_release(x);
                }
                /* expanded along the softmax dim and across it */
                nb_tensor *b = tu_random(k_float_types[di], NB_DIMS(3, 1), -2, 2, 9);
                nb_tensor *e = nb_expand(b, NB_DIMS(3, 6));
                for (int d = 0; d < 2; d++) {
                    double ev[18], ew[18];
                    nb_tensor_to_doubles(e, ev);
                    ref_softmax(ev, 2, (const int64_t[]){3, 6}, d, lg, ew);
                    tu_assert_close(lg ? nb_log_softmax(e, d) : nb_softmax(e, d),
                                    nb_from_doubles(ew, NB_DIMS(3, 6), NB_F64),
                                    atol_of(k_float_types[di]), rtol_of(k_float_types[di]));
                }
            }
            free(v);
            free(want);
        }
    nb_tensor *zs = nb_softmax(nb_zeros(NB_DIMS(3, 0), NB_F32), 1);
    tu_assert_shape(zs, NB_DIMS(3, 0));
    tu_assert_shape(nb_log_softmax(nb_zeros(NB_DIMS(0, 4), NB_F64), 0), NB_DIMS(0, 4));
    ck_assert(nb_tensor_item(nb_softmax(nb_scalar(3, NB_F32), 0)) == 1.0);
    ck_assert(nb_tensor_item(nb_log_softmax(nb_scalar(3, NB_F64), -1)) == 0.0);
    nb_scope_end(scope);
}
END_TEST

/* ---- numerical safety ----------------------------------------------------------------------------- */
START_TEST(test_numerics)
{
    int scope = nb_scope_begin();
    for (int di = 0; di < 2; di++) {
        nb_dtype dt = k_float_types[di];
        nb_tensor *z = tu_tensor(dt, NB_DIMS(3), (const double[]){1000, 0, -1000});
        double sm[3], ls[3];
        nb_tensor_to_doubles(nb_softmax(z, 0), sm);
        nb_tensor_to_doubles(nb_log_softmax(z, 0), ls);
        ck_assert(sm[0] == 1.0 && sm[1] == 0.0 && sm[2] == 0.0);
        ck_assert(ls[0] == 0.0 && ls[1] == -1000.0 && ls[2] == -2000.0);
        /* long rows / columns with a large spread: every max-shift path (rows, lanes, columns) */
        double wide[120], ws[120];
        for (int i = 0; i < 120; i++)
            wide[i] = 50.0 * (i / 3) - 1000 + (i % 3);
        for (int d = 0; d < 2; d++)
            for (int lg = 0; lg < 2; lg++) {
                const int64_t *sh = d ? (const int64_t[]){3, 40} : (const int64_t[]){40, 3};
                nb_tensor *w = tu_tensor(dt, sh, 2, wide);
                nb_tensor_to_doubles(w, ws);
                double want[120];
                ref_softmax(ws, 2, sh, d, lg, want);
                nb_tensor *got = lg ? nb_log_softmax(w, d) : nb_softmax(w, d);
                tu_assert_close(got, nb_from_doubles(want, sh, 2, NB_F64), 1e-6, 1e-6);
                double lw[40];
                ref_reduce(R_LSE, ws, 2, sh, (const bool[]){d == 0, d == 1}, 0, lw, NULL);
                tu_assert_close(nb_logsumexp(w, NB_AXES(d), false),
                                nb_from_doubles(lw, (const int64_t[]){3}, 1, NB_F64),
                                1e-6, 1e-6);
            }
        nb_tensor *big = tu_tensor(dt, NB_DIMS(2), (const double[]){1000, 1000});
        double l = nb_tensor_item(nb_logsumexp(big, NB_AXES(0), false));
        ck_assert_msg(fabs(l - (1000 + log(2.0))) <= (dt == NB_F32 ? 1e-4 : 1e-12), "logsumexp %.17g", l);
        /* infinities as PyTorch: all -inf -> -inf; an inf -> inf */
        nb_tensor *ninf = tu_tensor(dt, NB_DIMS(2), (const double[]){-INFINITY, -INFINITY});
        ck_assert(nb_tensor_item(nb_logsumexp(ninf, NB_ALL_AXES, false)) == -INFINITY);
        nb_tensor *pinf = tu_tensor(dt, NB_DIMS(2), (const double[]){INFINITY, 1});
        ck_assert(nb_tensor_item(nb_logsumexp(pinf, NB_ALL_AXES, false)) == INFINITY);
        /* variance of a row with mean 1e4 and std 1e-2 (two-pass in double) */
        nb_generator g;
        nb_generator_seed(&g, 42);
        double vals[1000];
        for (int i = 0; i < 1000; i++)
            vals[i] = 1e4 + 1e-2 * nb_generator_normal(&g);
        nb_tensor *row = tu_tensor(dt, NB_DIMS(1, 1000), vals);
        double stored[1000];
        nb_tensor_to_doubles(row, stored);
        long double s = 0, ss = 0;
        for (int i = 0; i < 1000; i++)
            s += stored[i];
        long double mean = s / 1000;
        for (int i = 0; i < 1000; i++)
            ss += (stored[i] - mean) * (stored[i] - mean);
        double want = (double)(ss / 999);
        double got = nb_tensor_item(nb_var(row, NB_AXES(1), 1, false));
        ck_assert_msg(fabs(got - want) <= 1e-6 * want, "var %.17g, want %.17g", got, want);
        double gs = nb_tensor_item(nb_std(row, NB_AXES(-1), 1, true));
        ck_assert_msg(fabs(gs - sqrt(want)) <= 1e-6 * sqrt(want), "std %.17g", gs);
        /* torch semantics at the edges: var of one element (correction 1) and mean of nothing are NaN */
        ck_assert(isnan(nb_tensor_item(nb_var(nb_ones(NB_DIMS(1), dt), NB_ALL_AXES, 1, false))));
        ck_assert(nb_tensor_item(nb_var(nb_ones(NB_DIMS(1), dt), NB_ALL_AXES, 0, false)) == 0.0);
        ck_assert(isnan(nb_tensor_item(nb_mean(nb_zeros(NB_DIMS(0), dt), NB_ALL_AXES, false))));
        ck_assert(nb_tensor_item(nb_sum(nb_zeros(NB_DIMS(0), dt), NB_ALL_AXES, false)) == 0.0);
        ck_assert(nb_tensor_item(nb_logsumexp(nb_zeros(NB_DIMS(0), dt), NB_ALL_AXES, false)) == -INFINITY);
    }
    nb_scope_end(scope);
}
END_TEST

/* ---- results independent of the thread count ------------------------------------------------------ */
static void same_bits(nb_tensor *a, nb_tensor *b)
{
    ck_assert(nb_tensor_same_shape(a, b));
    int64_t n = nb_tensor_numel(a);
    ck_assert(memcmp(nb_tensor_data(a), nb_tensor_data(b), (size_t)n * nb_dtype_size(nb_tensor_dtype(a))) == 0);
}

START_TEST(test_thread_independence)
{
    int scope = nb_scope_begin();
    nb_tensor *x = tu_random(NB_F32, NB_DIMS(600, 300), -1, 1, 77);
    nb_tensor *xt = tu_relayout(x, TU_TRANSPOSED);
    nb_tensor *r[2][10];
    for (int k = 0; k < 2; k++) {
        nb_set_num_threads(k == 0 ? 1 : 4);
        r[k][0] = nb_sum(x, NB_AXES(0), false);
        r[k][1] = nb_sum(x, NB_AXES(1), false);
        r[k][2] = nb_sum(x, NB_ALL_AXES, false);
        r[k][3] = nb_var(x, NB_AXES(0), 1, false);
        r[k][4] = nb_softmax(x, -1);
        r[k][5] = nb_log_softmax(x, 0);
        r[k][6] = nb_max(x, 0, false, NULL);
        r[k][7] = nb_mean(xt, NB_AXES(1), true);
        r[k][8] = nb_logsumexp(xt, NB_AXES(0), false);
        r[k][9] = nb_softmax(xt, 1);
    }
    nb_set_num_threads(0);
    for (int i = 0; i < 10; i++)
        same_bits(r[0][i], r[1][i]);
    nb_tensor_release(xt);
    nb_scope_end(scope);
}
END_TEST

/* ---- gradients ------------------------------------------------------------------------------------ */
/* Hand-derived input gradient of reduction k for upstream gradient g (over the output). */
static void ref_grad(rkind k, const double *v, int nd, const int64_t *shape, const bool *mask, int corr,
                     const double *g, double *gin)
{
    int64_t numel = nb__numel(nd, shape), nred = 1;
    for (int d = 0; d < nd; d++)
        nred *= mask[d] ? shape[d] : 1;
    int64_t nout = nred ? numel / nred : 0;
    size_t m = (size_t)(nout ? nout : 1);
    double *mean = malloc(m * sizeof *mean), *r = malloc(m * sizeof *r);
    int64_t *idx = malloc(m * sizeof *idx), *cnt = calloc(m, sizeof *cnt);
    ref_reduce(R_MEAN, v, nd, shape, mask, corr, mean, NULL);
    ref_reduce(k, v, nd, shape, mask, corr, r, idx);
    double div = (double)nred - corr;
    for (int64_t i = 0; i < numel; i++) {
        int64_t o = out_index(i, nd, shape, mask), pos = cnt[o]++;
        switch (k) {
        case R_SUM: gin[i] = g[o]; break;
        case R_MEAN: gin[i] = g[o] / (double)nred; break;
        case R_VAR: gin[i] = 2 * (v[i] - mean[o]) * g[o] / div; break;
        case R_STD: gin[i] = (v[i] - mean[o]) * g[o] / (div * r[o]); break;
        case R_LSE: gin[i] = g[o] * exp(v[i] - r[o]); break;
        default: gin[i] = pos == idx[o] ? g[o] : 0; break;
        }
    }
    free(mean);
    free(r);
    free(idx);
    free(cnt);
}

static void check_grad(rkind k, nb_dtype dt, tu_layout l, const rcase *rc, bool keepdim, int corr, uint64_t seed)
{
    int scope = nb_scope_begin();
    nb_tensor *src = tu_random(dt, rc->shape, rc->nd, -2, 2, seed);
    nb_tensor *x = nb_tensor_requires_grad_(tu_relayout(src, l), true);
    nb_tensor *y = call_reduce(k, x, rc->ndims, rc->dims, keepdim, corr);
    char name[32];
    snprintf(name, sizeof name, "nb_%s", k_kind_names[k]);
    ck_assert_str_eq(nb_tensor_grad_fn_name(y), name);
    nb_tensor *g = tu_random(dt, nb_tensor_shape(y), nb_tensor_ndim(y), -1, 1, seed + 1);
    nb_backward(y, g, false);
    bool mask[NB_MAX_DIMS];
    make_mask(rc->nd, rc->ndims, rc->dims, mask);
    double *v = tu_values(src), *gv = tu_values(g);
    int64_t n = nb_tensor_numel(src);
    double *want = malloc((size_t)(n ? n : 1) * sizeof *want);
    ref_grad(k, v, rc->nd, rc->shape, mask, corr, gv, want);
    ck_assert_ptr_nonnull(nb_tensor_get_grad(x));
    tu_assert_close(nb_tensor_get_grad(x), nb_from_doubles(want, rc->shape, rc->nd, NB_F64), atol_of(dt) * 10,
                    rtol_of(dt) * 10);
    free(v);
    free(gv);
    free(want);
    nb_tensor_release(x);
    nb_scope_end(scope);
}

static const rcase k_grad_cases[] = {
    {3, {3, 4, 5}, 1, {1}}, {3, {3, 4, 5}, 2, {0, 2}}, {3, {3, 4, 5}, 0, {0}}, {2, {37, 300}, 1, {0}},
    {2, {6, 7}, 1, {-1}},   {0, {0}, 1, {0}},          {2, {0, 3}, 1, {1}},
};

START_TEST(test_reduce_grads)
{
    for (size_t c = 0; c < sizeof k_grad_cases / sizeof k_grad_cases[0]; c++)
        for (int k = 0; k < R_KIND_COUNT; k++)
            for (int di = 0; di < 2; di++)
                for (int l = 0; l < TU_LAYOUT_COUNT; l++)
                    for (int keep = 0; keep < 2; keep++) {
                        const rcase *rc = &k_grad_cases[c];
                        bool single = rc->ndims == 1;
                        if ((k == R_MAX || k == R_MIN) && (!single || nb__numel(rc->nd, rc->shape) == 0))
                            continue;
                        if ((k == R_VAR || k == R_STD) && rc->nd == 0)
                            continue; /* one element: NaN gradient by definition */
                        check_grad((rkind)k, k_float_types[di], (tu_layout)l, rc, keep, (int)(c % 2), 900 + c);
                    }
}
END_TEST

START_TEST(test_softmax_grads)
{
    for (size_t c = 0; c < sizeof k_mcases / sizeof k_mcases[0]; c++)
        for (int di = 0; di < 2; di++)
            for (int lg = 0; lg < 2; lg++)
                for (int l = 0; l < TU_LAYOUT_COUNT; l++) {
                    int scope = nb_scope_begin();
                    const mcase *mc = &k_mcases[c];
                    nb_dtype dt = k_float_types[di];
                    nb_tensor *src = tu_random(dt, mc->shape, mc->nd, -3, 3, 40 + c);
                    nb_tensor *x = nb_tensor_requires_grad_(tu_relayout(src, (tu_layout)l), true);
                    nb_tensor *y = lg ? nb_log_softmax(x, mc->dim) : nb_softmax(x, mc->dim);
                    ck_assert_str_eq(nb_tensor_grad_fn_name(y), lg ? "nb_log_softmax" : "nb_softmax");
                    nb_tensor *g = tu_random(dt, mc->shape, mc->nd, -1, 1, 41 + c);
                    nb_backward(y, g, false);
                    int64_t n = nb__numel(mc->nd, mc->shape), outer = 1, size = 1, inner = 1;
                    int dim = mc->nd == 0 ? 0 : (mc->dim < 0 ? mc->dim + mc->nd : mc->dim);
                    for (int d = 0; d < mc->nd; d++)
                        *(d < dim ? &outer : d == dim ? &size : &inner) *= mc->shape[d];
                    double *v = tu_values(src), *gv = tu_values(g);
                    double *yv = malloc((size_t)(n ? n : 1) * sizeof *yv);
                    double *want = malloc((size_t)(n ? n : 1) * sizeof *want);
                    ref_softmax(v, mc->nd, mc->shape, dim, lg, yv);
                    for (int64_t o = 0; o < outer; o++)
                        for (int64_t i = 0; i < inner; i++) {
                            int64_t b = o * size * inner + i;
                            double s = 0;
                            for (int64_t j = 0; j < size; j++)
                                s += lg ? gv[b + j * inner] : gv[b + j * inner] * yv[b + j * inner];
                            for (int64_t j = 0; j < size; j++) {
                                int64_t e = b + j * inner;
                                want[e] = lg ? gv[e] - exp(yv[e]) * s : yv[e] * (gv[e] - s);
                            }
                        }
                    tu_assert_close(nb_tensor_get_grad(x), nb_from_doubles(want, mc->shape, mc->nd, NB_F64),
                                    atol_of(dt) * 10, rtol_of(dt) * 10);
                    free(v);
                    free(gv);
                    free(yv);
                    free(want);
                    nb_tensor_release(x);
                    nb_scope_end(scope);
                }
}
END_TEST

/* The classic hand-derived ones: d sum = ones, d mean = 1/n, d max = one-hot. */
START_TEST(test_simple_grads)
{
    int scope = nb_scope_begin();
    nb_tensor *x = nb_tensor_requires_grad_(tu_tensor(NB_F64, NB_DIMS(2, 3), (const double[]){1, 9, 2, 8, 3, 7}), true);
    nb_backward(nb_sum(x, NB_ALL_AXES, false), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 3), VALS(1, 1, 1, 1, 1, 1), 0);
    nb_tensor_zero_grad(x, true);
    nb_backward(nb_mean(x, NB_ALL_AXES, false), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 3),
                           VALS(1. / 6, 1. / 6, 1. / 6, 1. / 6, 1. / 6, 1. / 6), 1e-15);
    nb_tensor_zero_grad(x, true);
    nb_backward(nb_sum(nb_max(x, 1, false, NULL), NB_ALL_AXES, false), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 3), VALS(0, 1, 0, 1, 0, 0), 0);
    nb_tensor_zero_grad(x, true);
    nb_backward(nb_sum(nb_min(x, 0, true, NULL), NB_ALL_AXES, false), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 3), VALS(1, 0, 1, 0, 1, 0), 0);
    /* bias-gradient shape: [N, C] -> [C] through a broadcast add is reduced by nb_sum */
    nb_tensor *b = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(3), NB_F32), true);
    nb_tensor *a = tu_random(NB_F32, NB_DIMS(5, 3), -1, 1, 3);
    nb_backward(nb_sum(nb_add(a, b), NB_ALL_AXES, false), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(b), NB_DIMS(3), VALS(5, 5, 5), 0);
    /* argmax / argmin and integer sums are not recorded */
    ck_assert_ptr_null(nb_tensor_grad_fn_name(nb_argmax(x, 0, false)));
    ck_assert(!nb_tensor_requires_grad(nb_argmin(x, 1, true)));
    nb_scope_end(scope);
}
END_TEST

/* ---- misuse ----------------------------------------------------------------------------------------- */
START_TEST(test_misuse)
{
    int scope = nb_scope_begin();
    nb_tensor *x = nb_zeros(NB_DIMS(2, 3), NB_F32);
    TU_EXPECT_ERROR("nb_sum: dim 3 out of range", nb_sum(x, NB_AXES(3), false));
    TU_EXPECT_ERROR("nb_mean: dim -3 out of range", nb_mean(x, NB_AXES(-3), false));
    TU_EXPECT_ERROR("nb_sum: dim 1 appears more than once", nb_sum(x, NB_AXES(1, -1), false));
    TU_EXPECT_ERROR("nb_var: dim 0 appears more than once", nb_var(x, NB_AXES(0, 1, 0), 1, false));
    TU_EXPECT_ERROR("nb_logsumexp: dim 0 appears more than once",
                    nb_logsumexp(nb_scalar(1, NB_F32), NB_AXES(0, -1), false));
    TU_EXPECT_ERROR("nb_max: dim 2 out of range", nb_max(x, 2, false, NULL));
    TU_EXPECT_ERROR("nb_softmax: dim -3 out of range", nb_softmax(x, -3));
    nb_tensor *xi = nb_zeros(NB_DIMS(2, 3), NB_I32);
    TU_EXPECT_ERROR("nb_softmax: expected a float32 or float64 tensor, got int32", nb_softmax(xi, 1));
    TU_EXPECT_ERROR("nb_log_softmax: expected a float32 or float64 tensor, got int32", nb_log_softmax(xi, 0));
    TU_EXPECT_ERROR("nb_mean: expected a float32 or float64 tensor, got int32", nb_mean(xi, NB_ALL_AXES, false));
    TU_EXPECT_ERROR("nb_std: expected a float32", nb_std(xi, NB_ALL_AXES, 1, false));
    TU_EXPECT_ERROR("nb_logsumexp: expected a float32", nb_logsumexp(xi, NB_ALL_AXES, false));
    nb_tensor *e = nb_zeros(NB_DIMS(2, 0), NB_F32);
    TU_EXPECT_ERROR("nb_max: cannot reduce over dim 1 of size 0", nb_max(e, 1, false, NULL));
    TU_EXPECT_ERROR("nb_min: cannot reduce over dim 1 of size 0", nb_min(e, -1, true, NULL));
    TU_EXPECT_ERROR("nb_argmax: cannot reduce over dim 1 of size 0", nb_argmax(e, 1, false));
    TU_EXPECT_ERROR("nb_argmin: cannot reduce over dim 1 of size 0", nb_argmin(e, 1, false));
    /* not misuse: reducing the non-empty dim of a zero-size tensor */
    tu_assert_shape(nb_max(e, 0, false, NULL), NB_DIMS(0));
    nb_scope_end(scope);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reduce");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_sum_all_layouts);
    tcase_add_test(tc, test_mean_all_layouts);
    tcase_add_test(tc, test_var_all_layouts);
    tcase_add_test(tc, test_std_all_layouts);
    tcase_add_test(tc, test_logsumexp_all_layouts);
    tcase_add_test(tc, test_reduce_expanded);
    tcase_add_test(tc, test_sum_int);
    tcase_add_test(tc, test_maxmin_all_layouts);
    tcase_add_test(tc, test_maxmin_ties_and_nan);
    tcase_add_test(tc, test_softmax_all_layouts);
    tcase_add_test(tc, test_numerics);
    tcase_add_test(tc, test_thread_independence);
    suite_add_tcase(s, tc);
    TCase *tg = tcase_create("backward");
    tcase_set_timeout(tg, 20);
    tcase_add_test(tg, test_reduce_grads);
    tcase_add_test(tg, test_softmax_grads);
    tcase_add_test(tg, test_simple_grads);
    suite_add_tcase(s, tg);
    TCase *tm = tcase_create("misuse");
    tcase_add_test(tm, test_misuse);
    suite_add_tcase(s, tm);
    return tu_run_suite(s);
}
