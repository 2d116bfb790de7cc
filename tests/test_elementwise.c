/* test_elementwise.c — elementwise ops against plain-C reference loops over doubles (computed
 * here, independently of the library), on contiguous, transposed, sliced (NaN gaps), broadcast,
 * expanded (stride 0), zero-size and 0-dim inputs; backward against hand-derived derivatives;
 * GELU against recorded PyTorch values (tests/ref_elementwise.py); misuse messages.
 * Each test runs inside a scope (tu_scope_setup/teardown fixture) that frees its tensors, so nothing
 * is released by hand and the sanitizer build sees no leaks. */
#include "testutil.h"
/* tu_relayout's result joins the test's scope like every other tensor */
#define tu_relayout(src, layout) tu_adopt(tu_relayout(src, layout))

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const nb_dtype all_dtypes[] = {NB_F32, NB_F64, NB_I32, NB_I64};

static double atol_of(nb_dtype dt) { return dt == NB_F32 ? 2e-6 : dt == NB_F64 ? 1e-12 : 0; }
static double rtol_of(nb_dtype dt) { return dt == NB_F32 ? 1e-5 : dt == NB_F64 ? 1e-12 : 0; }

/* Random test input; ints get a wider range, `ties` rounds to small integers so equal values occur. */
static nb_tensor *rnd(nb_dtype dt, const int64_t *sh, int nd, double lo, double hi, uint64_t seed, bool ties)
{
    bool is_float = dt == NB_F32 || dt == NB_F64;
    nb_tensor *t = tu_random(NB_F64, sh, nd, is_float ? lo : 7 * lo, is_float ? hi : 7 * hi, seed);
    double *v = tu_values(t);
    for (int64_t i = 0; i < nb_tensor_numel(t); i++)
        v[i] = ties ? round(v[i] / 2) : is_float ? v[i] : trunc(v[i]);
    nb_tensor *r = tu_tensor(dt, sh, nd, v);
    free(v);
    return r;
}

/* ---- independent broadcasting reference -------------------------------------------------- */
static int ref_bshape(int an, const int64_t *as, int bn, const int64_t *bs, int64_t *out)
{
    int n = an > bn ? an : bn;
    for (int i = 0; i < n; i++) {
        int64_t a = i - (n - an) >= 0 ? as[i - (n - an)] : 1, b = i - (n - bn) >= 0 ? bs[i - (n - bn)] : 1;
        ck_assert_msg(a == b || a == 1 || b == 1, "test bug: shapes not broadcastable");
        out[i] = a == 1 ? b : a;
    }
    return n;
}

/* Row-major index into (nd, sh) of output element i of shape (ond, osh) under broadcasting. */
static int64_t bidx(int64_t i, int ond, const int64_t *osh, int nd, const int64_t *sh)
{
    int64_t idx = 0, stride = 1;
    for (int d = ond - 1; d >= 0; d--) {
        int64_t c = i % osh[d];
        i /= osh[d];
        int td = d - (ond - nd);
        if (td >= 0) {
            if (sh[td] != 1)
                idx += c * stride;
            stride *= sh[td];
        }
    }
    return idx;
}

typedef double (*fn3)(double, double, double);

/* out[i] = f(x[i'], y[i'], z[i']) over the broadcast shape of up to three tensors (NULL = absent). */
static nb_tensor *ref_apply(fn3 f, const nb_tensor *x, const nb_tensor *y, const nb_tensor *z)
{
    const nb_tensor *in[3] = {x, y, z};
    int ond = 0;
    int64_t osh[NB_MAX_DIMS] = {0};
    double *v[3] = {0};
    for (int k = 0; k < 3; k++) {
        if (!in[k])
            continue;
        int64_t tmp[NB_MAX_DIMS];
        ond = ref_bshape(ond, osh, nb_tensor_ndim(in[k]), nb_tensor_shape(in[k]), tmp);
        memcpy(osh, tmp, sizeof tmp);
        v[k] = tu_values(in[k]);
    }
    int64_t n = 1;
    for (int d = 0; d < ond; d++)
        n *= osh[d];
    double *o = malloc((size_t)(n ? n : 1) * sizeof *o);
    for (int64_t i = 0; i < n; i++) {
        double a[3] = {0};
        for (int k = 0; k < 3; k++)
            if (in[k])
                a[k] = v[k][bidx(i, ond, osh, nb_tensor_ndim(in[k]), nb_tensor_shape(in[k]))];
        o[i] = f(a[0], a[1], a[2]);
    }
    nb_tensor *r = tu_tensor(NB_F64, osh, ond, o);
    for (int k = 0; k < 3; k++)
        free(v[k]);
    free(o);
    return r;
}

static void expect(const nb_tensor *got, const nb_tensor *want, nb_dtype dt)
{
    ck_assert_msg(nb_tensor_dtype(got) == dt, "dtype %s, expected %s", nb_dtype_name(nb_tensor_dtype(got)),
                  nb_dtype_name(dt));
    ck_assert(nb_tensor_is_contiguous(got));
    tu_assert_close(got, want, atol_of(dt), rtol_of(dt));
}

/* ==== unary ops ============================================================================== */
static double g_p0, g_p1; /* parameters of the unary case under test, for the reference */
#define P0 g_p0
#define P1 g_p1

static double r_neg(double x, double y, double z) { (void)y, (void)z; return -x; }
static double r_abs(double x, double y, double z) { (void)y, (void)z; return fabs(x); }
static double r_exp(double x, double y, double z) { (void)y, (void)z; return exp(x); }
static double r_log(double x, double y, double z) { (void)y, (void)z; return log(x); }
static double r_sqrt(double x, double y, double z) { (void)y, (void)z; return sqrt(x); }
static double r_rsqrt(double x, double y, double z) { (void)y, (void)z; return 1 / sqrt(x); }
static double r_tanh(double x, double y, double z) { (void)y, (void)z; return tanh(x); }
static double r_sigmoid(double x, double y, double z) { (void)y, (void)z; return 1 / (1 + exp(-x)); }
static double r_relu(double x, double y, double z) { (void)y, (void)z; return x > 0 ? x : 0; }
static double r_gelu_erf(double x, double y, double z)
{
    (void)y, (void)z;
    return 0.5 * x * (1 + erf(x / sqrt(2)));
}
static double r_gelu_tanh(double x, double y, double z)
{
    (void)y, (void)z;
    return 0.5 * x * (1 + tanh(sqrt(2 / acos(-1)) * (x + 0.044715 * x * x * x)));
}
static double r_pow(double x, double y, double z) { (void)y, (void)z; return pow(x, P0); }
static double r_clamp(double x, double y, double z) { (void)y, (void)z; return x < P0 ? P0 : x > P1 ? P1 : x; }
static double r_add_s(double x, double y, double z) { (void)y, (void)z; return x + P0; }
static double r_mul_s(double x, double y, double z) { (void)y, (void)z; return x * P0; }
static double r_div_s(double x, double y, double z) { (void)y, (void)z; return x / P0; }

/* derivatives (hand-derived) */
static double d_neg(double x) { (void)x; return -1; }
static double d_abs(double x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }
static double d_exp(double x) { return exp(x); }
static double d_log(double x) { return 1 / x; }
static double d_sqrt(double x) { return 0.5 / sqrt(x); }
static double d_rsqrt(double x) { return -0.5 * pow(x, -1.5); }
static double d_tanh(double x) { return 1 - tanh(x) * tanh(x); }
static double d_sigmoid(double x) { double s = 1 / (1 + exp(-x)); return s * (1 - s); }
static double d_relu(double x) { return x > 0; }
static double d_gelu_erf(double x)
{
    return 0.5 * (1 + erf(x / sqrt(2))) + x * exp(-x * x / 2) / sqrt(2 * acos(-1));
}
static double d_gelu_tanh(double x)
{
    double k = sqrt(2 / acos(-1)), t = tanh(k * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
}
static double d_pow(double x) { return P0 == 0 ? 0 : P0 * pow(x, P0 - 1); }
static double d_clamp(double x) { return x >= P0 && x <= P1; }
static double d_add_s(double x) { (void)x; return 1; }
static double d_mul_s(double x) { (void)x; return P0; }
static double d_div_s(double x) { (void)x; return 1 / P0; }

static nb_tensor *o_neg(const nb_tensor *t) { return nb_neg(t); }
static nb_tensor *o_abs(const nb_tensor *t) { return nb_abs(t); }
static nb_tensor *o_exp(const nb_tensor *t) { return nb_exp(t); }
static nb_tensor *o_log(const nb_tensor *t) { return nb_log(t); }
static nb_tensor *o_sqrt(const nb_tensor *t) { return nb_sqrt(t); }
static nb_tensor *o_rsqrt(const nb_tensor *t) { return nb_rsqrt(t); }
static nb_tensor *o_tanh(const nb_tensor *t) { return nb_tanh(t); }
static nb_tensor *o_sigmoid(const nb_tensor *t) { return nb_sigmoid(t); }
static nb_tensor *o_relu(const nb_tensor *t) { return nb_relu(t); }
static nb_tensor *o_gelu_erf(const nb_tensor *t) { return nb_gelu(t, NB_GELU_ERF); }
static nb_tensor *o_gelu_tanh(const nb_tensor *t) { return nb_gelu(t, NB_GELU_TANH); }
static nb_tensor *o_pow(const nb_tensor *t) { return nb_pow_scalar(t, P0); }
static nb_tensor *o_clamp(const nb_tensor *t) { return nb_clamp(t, P0, P1); }
static nb_tensor *o_add_s(const nb_tensor *t) { return nb_add_scalar(t, P0); }
static nb_tensor *o_mul_s(const nb_tensor *t) { return nb_mul_scalar(t, P0); }
static nb_tensor *o_div_s(const nb_tensor *t) { return nb_div_scalar(t, P0); }

typedef struct {
    const char *name;
    nb_tensor *(*op)(const nb_tensor *);
    fn3 ref;
    double (*dref)(double);
    double lo, hi, p0, p1;
    bool ints;
} unary_case;

static const unary_case unary_cases[] = {
    {"neg", o_neg, r_neg, d_neg, -3, 3, 0, 0, true},
    {"abs", o_abs, r_abs, d_abs, -3, 3, 0, 0, true},
    {"exp", o_exp, r_exp, d_exp, -3, 3, 0, 0, false},
    {"log", o_log, r_log, d_log, 0.1, 4, 0, 0, false},
    {"sqrt", o_sqrt, r_sqrt, d_sqrt, 0.1, 4, 0, 0, false},
    {"rsqrt", o_rsqrt, r_rsqrt, d_rsqrt, 0.1, 4, 0, 0, false},
    {"tanh", o_tanh, r_tanh, d_tanh, -3, 3, 0, 0, false},
    {"sigmoid", o_sigmoid, r_sigmoid, d_sigmoid, -8, 8, 0, 0, false},
    {"relu", o_relu, r_relu, d_relu, -3, 3, 0, 0, true},
    {"gelu_erf", o_gelu_erf, r_gelu_erf, d_gelu_erf, -4, 4, 0, 0, false},
    {"gelu_tanh", o_gelu_tanh, r_gelu_tanh, d_gelu_tanh, -4, 4, 0, 0, false},
    {"pow2.5", o_pow, r_pow, d_pow, 0.2, 2, 2.5, 0, false},
    {"pow-1.5", o_pow, r_pow, d_pow, 0.2, 2, -1.5, 0, false},
    {"pow3", o_pow, r_pow, d_pow, -2, 2, 3, 0, false},
    {"pow0", o_pow, r_pow, d_pow, -2, 2, 0, 0, false},
    {"clamp", o_clamp, r_clamp, d_clamp, -3, 3, -1, 2, true},
    {"clamp_frac", o_clamp, r_clamp, d_clamp, -3, 3, -0.5, 0.25, false},
    {"clamp_lo", o_clamp, r_clamp, d_clamp, -3, 3, -1, INFINITY, true},
    {"clamp_hi", o_clamp, r_clamp, d_clamp, -3, 3, -INFINITY, 1, true},
    {"add_scalar", o_add_s, r_add_s, d_add_s, -3, 3, 2, 0, true},
    {"add_scalar_frac", o_add_s, r_add_s, d_add_s, -3, 3, -0.37, 0, false},
    {"mul_scalar", o_mul_s, r_mul_s, d_mul_s, -3, 3, -3, 0, true},
    {"mul_scalar_frac", o_mul_s, r_mul_s, d_mul_s, -3, 3, 0.37, 0, false},
    {"div_scalar", o_div_s, r_div_s, d_div_s, -3, 3, 0.7, 0, false},
};
#define N_UNARY ((int)(sizeof unary_cases / sizeof unary_cases[0]))

static void unary_check(const unary_case *c, const nb_tensor *src, const nb_tensor *x)
{
    nb_tensor *want = ref_apply(c->ref, src, NULL, NULL);
    nb_tensor *got = c->op(x);
    tu_assert_shape(got, nb_tensor_shape(x), nb_tensor_ndim(x));
    expect(got, want, nb_tensor_dtype(src));
}

START_TEST(test_unary_forward)
{
    const unary_case *c = &unary_cases[_i];
    g_p0 = c->p0, g_p1 = c->p1;
    for (size_t di = 0; di < 4; di++) {
        nb_dtype dt = all_dtypes[di];
        if (!c->ints && (dt == NB_I32 || dt == NB_I64))
            continue;
        nb_tensor *src = rnd(dt, NB_DIMS(2, 3, 4), c->lo, c->hi, 11 + di, false);
        for (int l = 0; l < TU_LAYOUT_COUNT; l++)
            unary_check(c, src, tu_relayout(src, (tu_layout)l));
        nb_tensor *s0 = rnd(dt, NB_SCALAR, c->lo, c->hi, 12, false); /* 0-dim */
        unary_check(c, s0, s0);
        nb_tensor *z = rnd(dt, NB_DIMS(0, 3), c->lo, c->hi, 13, false); /* zero-size */
        unary_check(c, z, z);
        nb_tensor *col = rnd(dt, NB_DIMS(3, 1), c->lo, c->hi, 14, false); /* stride-0 view */
        nb_tensor *ex = nb_expand(col, NB_DIMS(3, 4));
        nb_tensor *want = ref_apply(c->ref, nb_expand(col, NB_DIMS(3, 4)), NULL, NULL);
        expect(c->op(ex), want, dt);
    }
}
END_TEST

/* d op(x) / dx == hand-derived derivative, on a transposed leaf, float64 and float32. */
START_TEST(test_unary_backward)
{
    const unary_case *c = &unary_cases[_i];
    g_p0 = c->p0, g_p1 = c->p1;
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k ? NB_F32 : NB_F64;
        nb_tensor *src = rnd(dt, NB_DIMS(3, 5), c->lo, c->hi, 21, false);
        nb_tensor *x = tu_relayout(src, TU_TRANSPOSED);
        nb_tensor_requires_grad_(x, true);
        nb_tensor *y = c->op(x);
        ck_assert(nb_tensor_requires_grad(y));
        nb_backward(y, nb_ones(NB_DIMS(3, 5), dt), false);
        double *xv = tu_values(src), d[15];
        for (int i = 0; i < 15; i++)
            d[i] = c->dref(xv[i]);
        free(xv);
        nb_tensor *g = nb_tensor_get_grad(x);
        ck_assert_ptr_nonnull(g);
        ck_assert(nb_tensor_dtype(g) == dt);
        bool f32 = dt == NB_F32;
        tu_assert_close(g, tu_tensor(NB_F64, NB_DIMS(3, 5), d), f32 ? 1e-5 : 1e-12, f32 ? 1e-4 : 1e-10);
    }
}
END_TEST

/* relu at 0 and clamp at its bounds follow PyTorch: relu'(0) = 0, clamp passes the bounds. */
START_TEST(test_unary_grad_edges)
{
    nb_tensor *x = tu_tensor(NB_F64, NB_DIMS(5), (const double[]){-1, 0, 0.5, 1, 2});
    nb_tensor_requires_grad_(x, true);
    nb_backward(nb_relu(x), nb_ones(NB_DIMS(5), NB_F64), false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(5), VALS(0, 0, 1, 1, 1), 0);
    nb_tensor_zero_grad(x, true);
    nb_backward(nb_clamp(x, 0, 1), nb_ones(NB_DIMS(5), NB_F64), false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(5), VALS(0, 1, 1, 1, 0), 0);
    nb_tensor_zero_grad(x, true);
    nb_backward(nb_abs(x), nb_ones(NB_DIMS(5), NB_F64), false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(5), VALS(-1, 0, 1, 1, 1), 0);
    /* NaN propagates through relu, clamp, maximum, minimum */
    nb_tensor *n = tu_tensor(NB_F64, NB_DIMS(2), (const double[]){NAN, 1});
    ck_assert(isnan(nb_tensor_get(nb_relu(n), (const int64_t[]){0})));
    ck_assert(isnan(nb_tensor_get(nb_clamp(n, 0, 0.5), (const int64_t[]){0})));
    nb_tensor *one = nb_ones(NB_SCALAR, NB_F64);
    ck_assert(isnan(nb_tensor_get(nb_maximum(n, one), (const int64_t[]){0})));
    ck_assert(isnan(nb_tensor_get(nb_minimum(one, n), (const int64_t[]){0})));
}
END_TEST

/* GELU forward and backward against PyTorch 1.13 (tests/ref_elementwise.py). */
static const double gelu_x[] = {-4.0, -2.5, -1.0, -0.5, -0.001, 0.0, 0.3, 1.0, 1.7, 3.0};
static const double gelu_erf_y[] = {-0.00012668496733247991, -0.015524163314440398, -0.15865525393145702, -0.15426876936299344, -0.00049960105778608897, 0, 0.1853734266566858, 0.84134474606854304, 1.6242387133104768, 2.9959503059051098};
static const double gelu_erf_dy[] = {-0.00050364966122642149, -0.037611085908145193, -0.083315470587686347, 0.13250487534383712, 0.4992021157051586, 0.5, 0.73232776682710987, 1.0833154705876864, 1.1153179687821648, 1.0119456472041839};
static const double gelu_tanh_y[] = {-7.0245948192271257e-05, -0.015084266089998577, -0.15880800939172329, -0.15428599017485606, -0.00049960105778641803, 0, 0.18537092354275922, 0.84119199060827676, 1.624105895551156, 2.9963626079182268};
static const double gelu_tanh_dy[] = {-0.00033512319712218684, -0.037951576212666177, -0.082964083845782577, 0.13263009646535764, 0.49920211570647499, 0.5, 0.73229545163880183, 1.0829640838457826, 1.1159146314526049, 1.0115841666309695};

START_TEST(test_gelu_torch)
{
    for (int k = 0; k < 4; k++) {
        nb_dtype dt = k & 1 ? NB_F32 : NB_F64;
        nb_gelu_approx ap = k & 2 ? NB_GELU_TANH : NB_GELU_ERF;
        double atol = dt == NB_F32 ? 1e-6 : 1e-14;
        nb_tensor *x = tu_tensor(dt, NB_DIMS(10), gelu_x);
        nb_tensor_requires_grad_(x, true);
        nb_tensor *y = nb_gelu(x, ap);
        ck_assert_str_eq(nb_tensor_grad_fn_name(y), "nb_gelu");
        tu_assert_values_n(y, 10, ap == NB_GELU_TANH ? gelu_tanh_y : gelu_erf_y, atol);
        nb_backward(y, nb_ones(NB_DIMS(10), dt), false);
        tu_assert_values_n(nb_tensor_get_grad(x), 10, ap == NB_GELU_TANH ? gelu_tanh_dy : gelu_erf_dy, atol);
    }
}
END_TEST

/* ==== binary ops ============================================================================= */
static double r_where(double c, double a, double b);
static double r_add(double a, double b, double z) { (void)z; return a + b; }
static double r_sub(double a, double b, double z) { (void)z; return a - b; }
static double r_mul(double a, double b, double z) { (void)z; return a * b; }
static double r_div(double a, double b, double z) { (void)z; return a / b; }
static double r_max(double a, double b, double z) { (void)z; return a > b ? a : b; }
static double r_min(double a, double b, double z) { (void)z; return a < b ? a : b; }
static double r_eq(double a, double b, double z) { (void)z; return a == b; }
static double r_ne(double a, double b, double z) { (void)z; return a != b; }
static double r_lt(double a, double b, double z) { (void)z; return a < b; }
static double r_le(double a, double b, double z) { (void)z; return a <= b; }
static double r_gt(double a, double b, double z) { (void)z; return a > b; }
static double r_ge(double a, double b, double z) { (void)z; return a >= b; }

static nb_tensor *o_eq(const nb_tensor *a, const nb_tensor *b) { return nb_compare(a, b, NB_CMP_EQ); }
static nb_tensor *o_ne(const nb_tensor *a, const nb_tensor *b) { return nb_compare(a, b, NB_CMP_NE); }
static nb_tensor *o_lt(const nb_tensor *a, const nb_tensor *b) { return nb_compare(a, b, NB_CMP_LT); }
static nb_tensor *o_le(const nb_tensor *a, const nb_tensor *b) { return nb_compare(a, b, NB_CMP_LE); }
static nb_tensor *o_gt(const nb_tensor *a, const nb_tensor *b) { return nb_compare(a, b, NB_CMP_GT); }
static nb_tensor *o_ge(const nb_tensor *a, const nb_tensor *b) { return nb_compare(a, b, NB_CMP_GE); }

typedef struct {
    const char *name;
    nb_tensor *(*op)(const nb_tensor *, const nb_tensor *);
    fn3 ref;
    double blo, bhi;
    bool ints, ties, to_bool;
} binary_case;

static const binary_case binary_cases[] = {
    {"add", nb_add, r_add, -3, 3, true, false, false},
    {"sub", nb_sub, r_sub, -3, 3, true, false, false},
    {"mul", nb_mul, r_mul, -3, 3, true, false, false},
    {"div", nb_div, r_div, 0.5, 2, false, false, false},
    {"div_neg", nb_div, r_div, -2, -0.5, false, false, false},
    {"maximum", nb_maximum, r_max, -3, 3, true, true, false},
    {"minimum", nb_minimum, r_min, -3, 3, true, true, false},
    {"eq", o_eq, r_eq, -3, 3, true, true, true},
    {"ne", o_ne, r_ne, -3, 3, true, true, true},
    {"lt", o_lt, r_lt, -3, 3, true, true, true},
    {"le", o_le, r_le, -3, 3, true, true, true},
    {"gt", o_gt, r_gt, -3, 3, true, true, true},
    {"ge", o_ge, r_ge, -3, 3, true, true, true},
};
#define N_BINARY ((int)(sizeof binary_cases / sizeof binary_cases[0]))

static const struct {
    int an;
    int64_t as[3];
    int bn;
    int64_t bs[3];
} bshapes[] = {
    {2, {3, 4}, 2, {3, 4}},       {2, {5, 1}, 1, {5}},         {3, {3, 1, 4}, 3, {1, 3, 4}},
    {0, {0}, 2, {3, 4}},          {2, {3, 4}, 0, {0}},         {0, {0}, 0, {0}},
    {2, {6, 8}, 1, {8}},          {2, {6, 1}, 2, {6, 8}},      {1, {7}, 2, {2, 7}},
    {2, {0, 3}, 2, {0, 3}},       {3, {0, 1, 3}, 3, {0, 10, 3}}, {3, {2, 1, 3}, 2, {5, 1}},
};
static const int layout_pairs[][2] = {{0, 0}, {1, 1}, {2, 2}, {0, 2}, {1, 0}};

static void binary_check(const binary_case *c, const nb_tensor *as, const nb_tensor *bs, const nb_tensor *a,
                         const nb_tensor *b)
{
    nb_tensor *want = ref_apply(c->ref, as, bs, NULL);
    nb_tensor *got = c->op(a, b);
    tu_assert_shape(got, nb_tensor_shape(want), nb_tensor_ndim(want));
    expect(got, want, c->to_bool ? NB_BOOL : nb_tensor_dtype(as));
}

START_TEST(test_binary_forward)
{
    const binary_case *c = &binary_cases[_i];
    for (size_t di = 0; di < 4; di++) {
        nb_dtype dt = all_dtypes[di];
        if (!c->ints && (dt == NB_I32 || dt == NB_I64))
            continue;
        for (size_t si = 0; si < sizeof bshapes / sizeof bshapes[0]; si++) {
            nb_tensor *as = rnd(dt, bshapes[si].as, bshapes[si].an, -3, 3, 100 + si, c->ties);
            nb_tensor *bs = rnd(dt, bshapes[si].bs, bshapes[si].bn, c->blo, c->bhi, 200 + si, c->ties);
            for (size_t l = 0; l < sizeof layout_pairs / sizeof layout_pairs[0]; l++)
                binary_check(c, as, bs, tu_relayout(as, (tu_layout)layout_pairs[l][0]),
                             tu_relayout(bs, (tu_layout)layout_pairs[l][1]));
        }
        /* nb_expand'ed (stride-0) operands, on either side and on both */
        nb_tensor *row = rnd(dt, NB_DIMS(1, 4), -3, 3, 300, c->ties);
        nb_tensor *col = rnd(dt, NB_DIMS(3, 1), c->blo, c->bhi, 301, c->ties);
        nb_tensor *m = rnd(dt, NB_DIMS(3, 4), c->blo, c->bhi, 302, c->ties);
        nb_tensor *rowx = nb_expand(row, NB_DIMS(3, 4)), *colx = nb_expand(col, NB_DIMS(3, 4));
        binary_check(c, rowx, m, rowx, tu_relayout(m, TU_SLICED));
        binary_check(c, m, colx, tu_relayout(m, TU_TRANSPOSED), colx);
        binary_check(c, rowx, colx, rowx, colx);
        /* an operand aliasing the other */
        binary_check(c, m, m, m, m);
    }
}
END_TEST

/* Tensors above the threading threshold run in parallel chunks over the coalesced iteration;
 * the chunking does not depend on the op, so a few ops cover it (spin-waiting OpenMP threads
 * make many big cases slow on a loaded machine). */
START_TEST(test_parallel)
{
    static const int64_t shapes[][2][2] = {
        {{300, 130}, {1, 130}}, {{300, 1}, {300, 130}}, {{300, 130}, {300, 130}}};
    static const int bin[] = {0, 2, 3, 5, 9}; /* add, mul, div, maximum, lt */
    static const int un[] = {0, 2, 10};       /* neg, exp, gelu_tanh */
    for (int di = 0; di < 3; di++) {
        nb_dtype dt = all_dtypes[di];
        for (int si = 0; si < 3; si++) {
            nb_tensor *as = rnd(dt, shapes[si][0], 2, -3, 3, 1000 + si, false);
            nb_tensor *bs = rnd(dt, shapes[si][1], 2, 0.5, 2, 1100 + si, false);
            nb_tensor *a = tu_relayout(as, si == 2 ? TU_SLICED : TU_CONTIGUOUS);
            nb_tensor *b = tu_relayout(bs, TU_TRANSPOSED);
            for (size_t k = 0; k < sizeof bin / sizeof bin[0]; k++)
                if (binary_cases[bin[k]].ints || nb_dtype_is_float(dt))
                    binary_check(&binary_cases[bin[k]], as, bs, a, b);
            for (size_t k = 0; k < sizeof un / sizeof un[0]; k++)
                if (unary_cases[un[k]].ints || nb_dtype_is_float(dt))
                    unary_check(&unary_cases[un[k]], as, a);
            nb_tensor *c = nb_compare_scalar(bs, 1, NB_CMP_LT);
            expect(nb_where(c, a, b), ref_apply(r_where, c, as, bs), dt);
        }
    }
}
END_TEST

START_TEST(test_compare_scalar)
{
    static const nb_cmp ops[] = {NB_CMP_EQ, NB_CMP_NE, NB_CMP_LT, NB_CMP_LE, NB_CMP_GT, NB_CMP_GE};
    static const fn3 refs[] = {r_eq, r_ne, r_lt, r_le, r_gt, r_ge};
    static const double scalars[] = {1, 0.5, -2};
    for (size_t di = 0; di < 4; di++) {
        nb_dtype dt = all_dtypes[di];
        nb_tensor *src = rnd(dt, NB_DIMS(4, 5), -3, 3, 400 + di, true);
        for (int k = 0; k < 6; k++)
            for (int si = 0; si < 3; si++)
                for (int l = 0; l < TU_LAYOUT_COUNT; l++) {
                    nb_tensor *s = nb_full(NB_SCALAR, scalars[si], NB_F64);
                    nb_tensor *got = nb_compare_scalar(tu_relayout(src, (tu_layout)l), scalars[si], ops[k]);
                    expect(got, ref_apply(refs[k], src, s, NULL), NB_BOOL);
                }
        nb_tensor *z = rnd(dt, NB_DIMS(0, 2), -3, 3, 1, false);
        tu_assert_shape(nb_compare_scalar(z, 0, NB_CMP_LT), NB_DIMS(0, 2));
    }
    /* float32 compares against the scalar converted to float32, as PyTorch does */
    nb_tensor *f = nb_full(NB_DIMS(1), 0.1, NB_F32);
    ck_assert_int_eq((int)nb_tensor_item(nb_compare_scalar(f, 0.1, NB_CMP_EQ)), 1);
    /* integers compare exactly against fractional scalars */
    nb_tensor *i = tu_tensor(NB_I64, NB_DIMS(2), (const double[]){0, 1});
    tu_assert_shape_values(nb_compare_scalar(i, 0.5, NB_CMP_GT), NB_DIMS(2), VALS(0, 1), 0);
    /* bool tensors compare too */
    nb_tensor *bo = tu_tensor(NB_BOOL, NB_DIMS(3), (const double[]){1, 0, 1});
    tu_assert_shape_values(nb_compare(bo, tu_tensor(NB_BOOL, NB_DIMS(1), (const double[]){1}), NB_CMP_EQ), NB_DIMS(3),
                           VALS(1, 0, 1), 0);
}
END_TEST

/* ==== where / masked_fill ==================================================================== */
static double r_where(double c, double a, double b) { return c != 0 ? a : b; }
static double g_fill;
static double r_masked(double t, double m, double z) { (void)z; return m != 0 ? g_fill : t; }

static nb_tensor *bool_rnd(const int64_t *sh, int nd, uint64_t seed)
{
    nb_tensor *r = rnd(NB_F64, sh, nd, 0, 1, seed, false);
    double *v = tu_values(r);
    for (int64_t i = 0; i < nb_tensor_numel(r); i++)
        v[i] = v[i] < 0.5;
    nb_tensor *b = tu_tensor(NB_BOOL, sh, nd, v);
    free(v);
    return b;
}

START_TEST(test_where)
{
    static const struct {
        int cn, an, bn;
        int64_t cs[3], as[3], bs[3];
    } sh[] = {
        {2, 2, 2, {3, 4}, {3, 4}, {3, 4}}, {2, 2, 0, {3, 1}, {1, 4}, {0}}, {1, 2, 2, {4}, {3, 4}, {3, 1}},
        {0, 2, 2, {0}, {3, 4}, {3, 4}},    {2, 2, 1, {0, 3}, {0, 3}, {3}}, {3, 3, 3, {2, 1, 3}, {1, 2, 3}, {2, 2, 1}},
    };
    for (size_t di = 0; di < 4; di++) {
        nb_dtype dt = all_dtypes[di];
        for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
            nb_tensor *c = bool_rnd(sh[s].cs, sh[s].cn, 500 + s);
            nb_tensor *a = rnd(dt, sh[s].as, sh[s].an, -3, 3, 600 + s, false);
            nb_tensor *b = rnd(dt, sh[s].bs, sh[s].bn, -3, 3, 700 + s, false);
            nb_tensor *want = ref_apply(r_where, c, a, b);
            for (int l = 0; l < TU_LAYOUT_COUNT; l++) {
                tu_layout L = (tu_layout)l;
                expect(nb_where(tu_relayout(c, L), tu_relayout(a, L), tu_relayout(b, L)), want, dt);
            }
        }
        nb_tensor *c = bool_rnd(NB_DIMS(3, 1), 9);
        nb_tensor *a = rnd(dt, NB_DIMS(3, 4), -3, 3, 10, false);
        expect(nb_where(nb_expand(c, NB_DIMS(3, 4)), a, nb_zeros(NB_DIMS(4), dt)),
               ref_apply(r_where, c, a, nb_zeros(NB_DIMS(4), NB_F64)), dt);
    }
}
END_TEST

START_TEST(test_masked_fill)
{
    for (size_t di = 0; di < 4; di++) {
        nb_dtype dt = all_dtypes[di];
        g_fill = nb_dtype_is_float(dt) ? -9.5 : -9;
        nb_tensor *t = rnd(dt, NB_DIMS(3, 4), -3, 3, 800, false);
        nb_tensor *masks[] = {bool_rnd(NB_DIMS(3, 4), 801), bool_rnd(NB_DIMS(1, 4), 802), bool_rnd(NB_DIMS(4), 803),
                              tu_tensor(NB_BOOL, NB_SCALAR, (const double[]){1})};
        for (int m = 0; m < 4; m++)
            for (int l = 0; l < TU_LAYOUT_COUNT; l++) {
                nb_tensor *got = nb_masked_fill(tu_relayout(t, (tu_layout)l), tu_relayout(masks[m], (tu_layout)l), g_fill);
                expect(got, ref_apply(r_masked, t, masks[m], NULL), dt);
            }
        nb_tensor *z = rnd(dt, NB_DIMS(0, 3), -3, 3, 1, false);
        tu_assert_shape(nb_masked_fill(z, bool_rnd(NB_DIMS(3), 2), 1), NB_DIMS(0, 3));
        nb_tensor *s = rnd(dt, NB_SCALAR, -3, 3, 3, false);
        expect(nb_masked_fill(s, tu_tensor(NB_BOOL, NB_SCALAR, (const double[]){0}), 1), ref_apply(r_masked, s, nb_zeros(NB_SCALAR, NB_F64), NULL), dt);
    }
}
END_TEST

/* ==== backward of binary ops ================================================================= */
static nb_tensor *leaf(nb_tensor *t) { return nb_tensor_requires_grad_(t, true); }
static nb_tensor *sum_all(nb_tensor *t) { return nb_sum(t, NB_ALL_AXES, false); }

START_TEST(test_binary_backward)
{
    /* d sum(a*b)/da == b, d/db == a; a transposed leaf */
    nb_tensor *as = rnd(NB_F64, NB_DIMS(3, 4), -2, 2, 1, false), *b = rnd(NB_F64, NB_DIMS(3, 4), -2, 2, 2, false);
    nb_tensor *a = leaf(tu_relayout(as, TU_TRANSPOSED));
    leaf(b);
    nb_backward(sum_all(nb_mul(a, b)), NULL, false);
    tu_assert_close(nb_tensor_get_grad(a), b, 0, 0);
    tu_assert_close(nb_tensor_get_grad(b), as, 0, 0);

    /* b not requiring grad gets none; a's grad is still b */
    nb_tensor *a2 = leaf(rnd(NB_F32, NB_DIMS(2, 3), -2, 2, 3, false)), *b2 = rnd(NB_F32, NB_DIMS(2, 3), -2, 2, 4, false);
    nb_backward(sum_all(nb_mul(a2, b2)), NULL, false);
    tu_assert_close(nb_tensor_get_grad(a2), b2, 0, 0);
    ck_assert_ptr_null(nb_tensor_get_grad(b2));

    /* broadcast add (S,1) + (S,) summed: each grad is S ones in its own shape */
    nb_tensor *c = leaf(rnd(NB_F64, NB_DIMS(5, 1), -1, 1, 5, false)), *d = leaf(rnd(NB_F64, NB_DIMS(5), -1, 1, 6, false));
    nb_backward(sum_all(nb_add(c, d)), NULL, false);
    tu_assert_close(nb_tensor_get_grad(c), nb_full(NB_DIMS(5, 1), 5, NB_F64), 0, 0);
    tu_assert_close(nb_tensor_get_grad(d), nb_full(NB_DIMS(5), 5, NB_F64), 0, 0);

    /* broadcast sub and mul: (3,1) op (1,4) */
    double cv[3] = {1, 2, 3}, rv[4] = {-1, 0.5, 2, 4};
    nb_tensor *col = leaf(tu_tensor(NB_F64, NB_DIMS(3, 1), cv)), *row = leaf(tu_tensor(NB_F64, NB_DIMS(1, 4), rv));
    nb_backward(sum_all(nb_sub(col, row)), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(col), NB_DIMS(3, 1), VALS(4, 4, 4), 0);
    tu_assert_shape_values(nb_tensor_get_grad(row), NB_DIMS(1, 4), VALS(-3, -3, -3, -3), 0);
    nb_tensor_zero_grad(col, true), nb_tensor_zero_grad(row, true);
    nb_backward(sum_all(nb_mul(col, row)), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(col), NB_DIMS(3, 1), VALS(5.5, 5.5, 5.5), 1e-15); /* sum of row */
    tu_assert_shape_values(nb_tensor_get_grad(row), NB_DIMS(1, 4), VALS(6, 6, 6, 6), 1e-15);     /* sum of col */

    /* div: d/da = 1/b, d/db = -a/b^2, with b broadcast (4,) */
    nb_tensor *x = leaf(tu_tensor(NB_F64, NB_DIMS(2, 4), (const double[]){1, 2, 3, 4, 5, 6, 7, 8}));
    nb_tensor *y = leaf(tu_tensor(NB_F64, NB_DIMS(4), (const double[]){2, -4, 0.5, 8}));
    nb_backward(sum_all(nb_div(x, y)), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 4),
                           VALS(0.5, -0.25, 2, 0.125, 0.5, -0.25, 2, 0.125), 1e-15);
    tu_assert_shape_values(nb_tensor_get_grad(y), NB_DIMS(4), VALS(-6.0 / 4, -8.0 / 16, -10 / 0.25, -12.0 / 64), 1e-12);

    /* maximum / minimum: ties split the gradient equally */
    nb_tensor *p = leaf(tu_tensor(NB_F64, NB_DIMS(3), (const double[]){1, 2, 3}));
    nb_tensor *q = leaf(tu_tensor(NB_F64, NB_DIMS(3), (const double[]){1, 3, 2}));
    nb_backward(nb_maximum(p, q), nb_ones(NB_DIMS(3), NB_F64), false);
    tu_assert_shape_values(nb_tensor_get_grad(p), NB_DIMS(3), VALS(0.5, 0, 1), 0);
    tu_assert_shape_values(nb_tensor_get_grad(q), NB_DIMS(3), VALS(0.5, 1, 0), 0);
    nb_tensor_zero_grad(p, true), nb_tensor_zero_grad(q, true);
    nb_backward(nb_minimum(p, q), tu_tensor(NB_F64, NB_DIMS(3), (const double[]){2, 4, 8}), false);
    tu_assert_shape_values(nb_tensor_get_grad(p), NB_DIMS(3), VALS(1, 4, 0), 0);
    tu_assert_shape_values(nb_tensor_get_grad(q), NB_DIMS(3), VALS(1, 0, 8), 0);
    /* maximum with a broadcast 0-dim operand: its grad sums the positions it won */
    nb_tensor *s = leaf(nb_full(NB_SCALAR, 2, NB_F64));
    nb_tensor_zero_grad(p, true);
    nb_backward(sum_all(nb_maximum(p, s)), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(p), NB_DIMS(3), VALS(0, 0.5, 1), 0);
    tu_assert_values(nb_tensor_get_grad(s), VALS(1.5), 0);

    /* where: a gets g where cond, b (broadcast (1,)) the sum elsewhere; masked_fill zeroes the mask */
    nb_tensor *cond = tu_tensor(NB_BOOL, NB_DIMS(4), (const double[]){1, 0, 0, 1});
    nb_tensor *wa = leaf(rnd(NB_F64, NB_DIMS(4), -1, 1, 7, false)), *wb = leaf(nb_zeros(NB_DIMS(1), NB_F64));
    nb_backward(nb_where(cond, wa, wb), tu_tensor(NB_F64, NB_DIMS(4), (const double[]){1, 2, 3, 4}), false);
    tu_assert_shape_values(nb_tensor_get_grad(wa), NB_DIMS(4), VALS(1, 0, 0, 4), 0);
    tu_assert_shape_values(nb_tensor_get_grad(wb), NB_DIMS(1), VALS(5), 0);
    nb_tensor *mt = leaf(rnd(NB_F32, NB_DIMS(2, 4), -1, 1, 8, false));
    nb_backward(sum_all(nb_masked_fill(mt, cond, 7)), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(mt), NB_DIMS(2, 4), VALS(0, 1, 1, 0, 0, 1, 1, 0), 0);

    /* a 0-dim operand broadcast over a matrix gets the sum of the gradient */
    nb_tensor *k = leaf(nb_full(NB_SCALAR, 3, NB_F32)), *mm = rnd(NB_F32, NB_DIMS(2, 3), -1, 1, 9, false);
    nb_backward(sum_all(nb_mul(k, mm)), NULL, false);
    double *mv = tu_values(mm), tot = 0;
    for (int i = 0; i < 6; i++)
        tot += mv[i];
    free(mv);
    tu_assert_values(nb_tensor_get_grad(k), VALS(tot), 1e-6);
}
END_TEST

/* An output saved for backward (exp saves its result) modified in place is caught at backward. */
START_TEST(test_saved_output_version)
{
    nb_tensor *x = leaf(rnd(NB_F64, NB_DIMS(3), -1, 1, 1, false));
    nb_tensor *y = nb_exp(x);
    NB_NO_GRAD { nb_mul_scalar_(y, 2); }
    TU_EXPECT_ERROR("modified by an in-place", nb_backward(y, nb_ones(NB_DIMS(3), NB_F64), false));
    nb_set_grad_enabled(true); /* the failed backward was left by longjmp with grad mode off */
    nb_tensor *a = leaf(rnd(NB_F64, NB_DIMS(3), -1, 1, 2, false)), *b = rnd(NB_F64, NB_DIMS(3), -1, 1, 3, false);
    nb_tensor *z = nb_mul(a, b);
    nb_add_(b, b);
    TU_EXPECT_ERROR("modified by an in-place", nb_backward(z, nb_ones(NB_DIMS(3), NB_F64), false));
}
END_TEST

/* ==== in-place ops =========================================================================== */
START_TEST(test_inplace)
{
    for (size_t di = 0; di < 4; di++) {
        nb_dtype dt = all_dtypes[di];
        bool fl = nb_dtype_is_float(dt);
        double alpha = fl ? -0.5 : 2, sc = fl ? 0.37 : -3;
        nb_tensor *as = rnd(dt, NB_DIMS(3, 4), -3, 3, 900, false);
        nb_tensor *bs[] = {rnd(dt, NB_DIMS(3, 4), -3, 3, 901, false), rnd(dt, NB_DIMS(4), -3, 3, 902, false),
                           rnd(dt, NB_SCALAR, -3, 3, 903, false)};
        for (int k = 0; k < 3; k++)
            for (int l = 0; l < TU_LAYOUT_COUNT; l++) {
                nb_tensor *a = tu_relayout(as, (tu_layout)l), *b = tu_relayout(bs[k], (tu_layout)l);
                ck_assert_ptr_eq(nb_add_(a, b), a);
                expect(nb_contiguous(a), ref_apply(r_add, as, bs[k], NULL), dt);
                a = tu_relayout(as, (tu_layout)l);
                ck_assert_ptr_eq(nb_add_scaled_(a, b, alpha), a);
                g_p0 = alpha;
                double *av = tu_values(as), *bv = NULL;
                nb_tensor *bx = nb_contiguous(nb_expand(bs[k], NB_DIMS(3, 4)));
                bv = tu_values(bx);
                double w[12];
                for (int i = 0; i < 12; i++)
                    w[i] = av[i] + alpha * bv[i];
                free(av), free(bv);
                tu_assert_close(a, tu_tensor(NB_F64, NB_DIMS(3, 4), w), atol_of(dt), rtol_of(dt));
            }
        for (int l = 0; l < TU_LAYOUT_COUNT; l++) {
            nb_tensor *a = tu_relayout(as, (tu_layout)l);
            ck_assert_ptr_eq(nb_mul_scalar_(a, sc), a);
            g_p0 = sc;
            tu_assert_close(a, ref_apply(r_mul_s, as, NULL, NULL), atol_of(dt), rtol_of(dt));
        }
        /* zero-size and 0-dim destinations */
        nb_tensor *z = nb_zeros(NB_DIMS(0, 3), dt);
        nb_add_(z, nb_ones(NB_DIMS(3), dt));
        tu_assert_shape(z, NB_DIMS(0, 3));
        nb_tensor *s = nb_full(NB_SCALAR, 2, dt);
        nb_add_scaled_(s, nb_full(NB_SCALAR, 3, dt), 2);
        ck_assert_double_eq(nb_tensor_item(s), 8);
    }
    /* a += a^T reads the original values (the overlapping source is copied first) */
    nb_tensor *m = tu_tensor(NB_F64, NB_DIMS(2, 2), (const double[]){1, 2, 3, 4});
    nb_add_(m, nb_transpose(m, 0, 1));
    tu_assert_shape_values(m, NB_DIMS(2, 2), VALS(2, 5, 5, 8), 0);
    nb_add_(m, m);
    tu_assert_shape_values(m, NB_DIMS(2, 2), VALS(4, 10, 10, 16), 0);
}
END_TEST

/* Writes through a sliced view touch only its elements: the NaN gaps of the buffer survive. */
START_TEST(test_inplace_views)
{
    nb_tensor *store = nb_full(NB_DIMS(3, 9), NAN, NB_F64);
    nb_tensor *v = nb_slice(nb_slice(store, 0, 1, 3, 1), 1, 1, 9, 2); /* (2, 4), offset 10, stride 2 */
    nb_fill_(v, 1.5);
    nb_add_(v, tu_tensor(NB_F64, NB_DIMS(4), (const double[]){1, 2, 3, 4}));
    nb_mul_scalar_(v, 2);
    double *sv = tu_values(store);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 9; c++) {
            bool in = r >= 1 && c % 2 == 1;
            double want = in ? 2 * (1.5 + (c / 2 + 1)) : NAN;
            ck_assert_msg(in ? sv[r * 9 + c] == want : isnan(sv[r * 9 + c]), "store[%d][%d] = %g", r, c, sv[r * 9 + c]);
        }
    free(sv);
    /* copy_: broadcast and dtype conversion into a transposed view; zero_ */
    nb_tensor *d = tu_relayout(nb_zeros(NB_DIMS(3, 2), NB_F32), TU_TRANSPOSED);
    ck_assert_ptr_eq(nb_copy_(d, tu_tensor(NB_F64, NB_DIMS(2), (const double[]){0.25, -7})), d);
    tu_assert_shape_values(d, NB_DIMS(3, 2), VALS(0.25, -7, 0.25, -7, 0.25, -7), 0);
    ck_assert_ptr_eq(nb_zero_(d), d);
    tu_assert_shape_values(d, NB_DIMS(3, 2), VALS(0, 0, 0, 0, 0, 0), 0);
    nb_tensor *iv = nb_zeros(NB_DIMS(2), NB_I32);
    nb_copy_(iv, tu_tensor(NB_F64, NB_DIMS(2), (const double[]){3, -4}));
    tu_assert_shape_values(iv, NB_DIMS(2), VALS(3, -4), 0);
    ck_assert_ptr_eq(nb_fill_(iv, 5), iv);
    tu_assert_shape_values(iv, NB_DIMS(2), VALS(5, 5), 0);
    /* in-place ops are allowed on grad-requiring tensors with grad mode off */
    nb_tensor *w = leaf(nb_ones(NB_DIMS(2), NB_F32));
    NB_NO_GRAD { nb_add_scaled_(w, nb_ones(NB_DIMS(2), NB_F32), -0.5); }
    tu_assert_shape_values(w, NB_DIMS(2), VALS(0.5, 0.5), 0);
}
END_TEST

/* ==== misuse ================================================================================= */
START_TEST(test_misuse)
{
    nb_tensor *f32 = nb_ones(NB_DIMS(2, 3), NB_F32), *f64 = nb_ones(NB_DIMS(2, 3), NB_F64);
    nb_tensor *i32 = nb_ones(NB_DIMS(2, 3), NB_I32), *bo = nb_ones(NB_DIMS(2, 3), NB_BOOL);
    TU_EXPECT_ERROR("nb_add: dtype mismatch (float32 and float64)", nb_add(f32, f64));
    TU_EXPECT_ERROR("nb_mul: dtype mismatch (int32 and float32)", nb_mul(i32, f32));
    TU_EXPECT_ERROR("nb_where: dtype mismatch", nb_where(bo, f32, f64));
    TU_EXPECT_ERROR("nb_compare: dtype mismatch", nb_compare(f32, i32, NB_CMP_LT));
    TU_EXPECT_ERROR("nb_add_: dtype mismatch", nb_add_(f32, f64));
    TU_EXPECT_ERROR("nb_sub: shapes [2, 3] and [4] cannot be broadcast", nb_sub(f32, nb_ones(NB_DIMS(4), NB_F32)));
    TU_EXPECT_ERROR("cannot be broadcast", nb_maximum(f32, nb_ones(NB_DIMS(3, 3), NB_F32)));
    TU_EXPECT_ERROR("cannot be broadcast", nb_where(nb_ones(NB_DIMS(5), NB_BOOL), f32, f32));
    TU_EXPECT_ERROR("nb_add_: shape [4, 2, 3] cannot be broadcast to shape [2, 3]",
                    nb_add_(f32, nb_ones(NB_DIMS(4, 2, 3), NB_F32)));
    TU_EXPECT_ERROR("nb_masked_fill: mask of shape [2] cannot be broadcast", nb_masked_fill(f32, nb_ones(NB_DIMS(2), NB_BOOL), 0));
    TU_EXPECT_ERROR("cannot be broadcast", nb_copy_(f32, nb_ones(NB_DIMS(2), NB_F32)));
    TU_EXPECT_ERROR("nb_exp: expected a float32 or float64 tensor, got int32", nb_exp(i32));
    TU_EXPECT_ERROR("nb_gelu: expected a float32 or float64", nb_gelu(i32, NB_GELU_TANH));
    TU_EXPECT_ERROR("nb_div: expected a float32 or float64 tensor, got int32", nb_div(i32, i32));
    TU_EXPECT_ERROR("nb_div_scalar: expected a float32", nb_div_scalar(i32, 2));
    TU_EXPECT_ERROR("nb_pow_scalar: expected a float32", nb_pow_scalar(i32, 2));
    TU_EXPECT_ERROR("nb_add: expected a float32, float64, int32 or int64 tensor, got bool", nb_add(bo, bo));
    TU_EXPECT_ERROR("nb_neg: expected", nb_neg(bo));
    TU_EXPECT_ERROR("nb_gelu: invalid approximation 7", nb_gelu(f32, (nb_gelu_approx)7));
    TU_EXPECT_ERROR("nb_compare: invalid comparison 9", nb_compare(f32, f32, (nb_cmp)9));
    TU_EXPECT_ERROR("nb_add_scalar: scalar 0.5 is not an integer, as a int32 tensor needs", nb_add_scalar(i32, 0.5));
    TU_EXPECT_ERROR("nb_clamp: bound 1.5 is not an integer", nb_clamp(i32, 0, 1.5));
    TU_EXPECT_ERROR("nb_where: cond must be a bool tensor, got float32", nb_where(f32, f32, f32));
    TU_EXPECT_ERROR("nb_masked_fill: mask must be a bool tensor, got int32", nb_masked_fill(i32, i32, 0));
    nb_tensor *g = leaf(nb_ones(NB_DIMS(2, 3), NB_F32));
    TU_EXPECT_ERROR("nb_add_: in-place operation on a tensor of shape [2, 3] that requires grad", nb_add_(g, f32));
    TU_EXPECT_ERROR("nb_add_scaled_: in-place operation", nb_add_scaled_(g, f32, 2));
    TU_EXPECT_ERROR("nb_mul_scalar_: in-place operation", nb_mul_scalar_(g, 2));
    TU_EXPECT_ERROR("nb_copy_: in-place operation", nb_copy_(g, f32));
    TU_EXPECT_ERROR("nb_fill_: in-place operation", nb_fill_(g, 2));
    TU_EXPECT_ERROR("nb_zero_: in-place operation", nb_zero_(g));
    TU_EXPECT_ERROR("nb_add_: in-place operation", nb_add_(nb_mul_scalar(g, 2), f32)); /* non-leaf */
    nb_tensor *ex = nb_expand(nb_ones(NB_DIMS(1, 3), NB_F32), NB_DIMS(2, 3));
    TU_EXPECT_ERROR("nb_add_: the destination of shape [2, 3] has stride 0 on dim 0", nb_add_(ex, f32));
}
END_TEST

/* Non-float results do not record; float ones do, and name their op. */
START_TEST(test_recording)
{
    nb_tensor *x = leaf(nb_ones(NB_DIMS(2), NB_F32));
    ck_assert_str_eq(nb_tensor_grad_fn_name(nb_add(x, x)), "nb_add");
    ck_assert_str_eq(nb_tensor_grad_fn_name(nb_mul_scalar(x, 2)), "nb_mul_scalar");
    ck_assert_str_eq(nb_tensor_grad_fn_name(nb_where(nb_compare(x, x, NB_CMP_EQ), x, x)), "nb_where");
    ck_assert(!nb_tensor_requires_grad(nb_compare(x, x, NB_CMP_EQ)));
    ck_assert(!nb_tensor_requires_grad(nb_compare_scalar(x, 0, NB_CMP_GT)));
    NB_NO_GRAD { ck_assert(!nb_tensor_requires_grad(nb_exp(x))); }
    ck_assert(!nb_tensor_requires_grad(nb_exp(nb_ones(NB_DIMS(2), NB_F32))));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("elementwise");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 20);
    tcase_add_checked_fixture(tc, tu_scope_setup, tu_scope_teardown);
    tcase_add_loop_test(tc, test_unary_forward, 0, N_UNARY);
    tcase_add_loop_test(tc, test_binary_forward, 0, N_BINARY);
    tcase_add_test(tc, test_parallel);
    tcase_add_test(tc, test_compare_scalar);
    tcase_add_test(tc, test_where);
    tcase_add_test(tc, test_masked_fill);
    tcase_add_test(tc, test_gelu_torch);
    suite_add_tcase(s, tc);
    TCase *tb = tcase_create("backward");
    tcase_add_checked_fixture(tb, tu_scope_setup, tu_scope_teardown);
    tcase_add_loop_test(tb, test_unary_backward, 0, N_UNARY);
    tcase_add_test(tb, test_unary_grad_edges);
    tcase_add_test(tb, test_binary_backward);
    tcase_add_test(tb, test_saved_output_version);
    tcase_add_test(tb, test_recording);
    suite_add_tcase(s, tb);
    TCase *ti = tcase_create("inplace_and_misuse");
    tcase_add_checked_fixture(ti, tu_scope_setup, tu_scope_teardown);
    tcase_add_test(ti, test_inplace);
    tcase_add_test(ti, test_inplace_views);
    tcase_add_test(ti, test_misuse);
    suite_add_tcase(s, ti);
    return tu_run_suite(s);
}
