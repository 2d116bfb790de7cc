/* k_elementwise.c — elementwise kernels: the pointwise table (tensor/nb_pointwise.def), compare,
 * where.
 *
 * tensor/k_pointwise_impl.h is included once per element type; it turns every row of the table
 * into small inline expression functions and loops that switch on the op once per run. The loops
 * get byte strides from nb__iter_run and take a unit-stride path (the common contiguous and
 * "row + broadcast vector" cases, where one operand has stride 0) that the compiler vectorizes
 * where the row says VEC; other strides go through a plain strided loop. No autograd here. */
#include "config.h"
/* Lets GCC if-convert (and so vectorize) loops with selects such as the clamps of the vector
 * exp below; results are unchanged (IEEE semantics, NaN and signed zeros kept; only the
 * floating-point exception flags are not preserved). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "nb__k_elementwise.h"
#include "nb__vmath.h"
#include "nb__kv.h"

#include <tgmath.h>

#ifdef _OPENMP
#define NB__SIMD _Pragma("omp simd")
#else
#define NB__SIMD _Pragma("GCC ivdep")
#endif
/* A row's (cost, vec) pair: VEC loops are vectorizable; libm calls (exp, tanh, ...) are not, so
 * NOVEC loops carry no pragma (clang would warn that the requested vectorization failed); VECF
 * vectorizes for float only (k_pointwise_impl.h). */
#define PW_VEC(cost, vec) PW_VEC_##vec
#define PW_VEC_VEC NB__SIMD
#define PW_VEC_NOVEC
/* The loops are built for AVX2 and the baseline (nb__kv.h, k_pointwise_kv.h); both compute every
 * element with the same operations, so results are bit-identical. */
#define NB__CLONES NB__KV_TARGET
#define PW_CAT(a, b) PW_CAT_(a, b)
#define PW_CAT_(a, b) a##_##b

typedef struct {
    double p0, p1;
    int op;
    int which;
} ew_ctx;

/* ---- per-type helpers: saturating scalar conversion, composite formulas --------------------- */
static inline float sat_float(double v) { return (float)v; }
static inline double sat_double(double v) { return v; }
static inline int32_t sat_int32_t(double v)
{
    return v != v ? 0 : v <= (double)INT32_MIN ? INT32_MIN : v >= (double)INT32_MAX ? INT32_MAX : (int32_t)v;
}
static inline int64_t sat_int64_t(double v)
{
    return v != v ? 0 : v <= (double)INT64_MIN ? INT64_MIN : v >= (double)INT64_MAX ? INT64_MAX : (int64_t)v;
}
static inline uint8_t sat_uint8_t(double v) { return v != 0; }
static inline bool never_nan(int64_t v) { (void)v; return false; }
static inline bool isnan_float(float v) { return isnan(v); }
static inline bool isnan_double(double v) { return isnan(v); }

#define K_SQRT1_2 0.70710678118654752440    /* 1/sqrt(2) */
#define K_INV_SQRT_2PI 0.39894228040143267794 /* 1/sqrt(2 pi) */
#define K_SQRT_2_PI 0.79788456080286535588  /* sqrt(2/pi) */
#define K_2_SQRTPI 1.12837916709551257390   /* 2/sqrt(pi) */
#define K_GELU_C 0.044715

/* Branch-free float tanh GELU and its derivative on nb__exp_vec_f32 (vectorized loops); float64
 * keeps the libm versions of k_pointwise_impl.h. The derivative clamps x to [-20, 20] (beyond, it
 * is 1 or below 1e-30 in magnitude) and the exp argument to 80, so no inf * 0 arises. */
static inline float gelu_tanh_vec_float(float x)
{
    float u = (float)K_SQRT_2_PI * (x + (float)K_GELU_C * x * x * x);
    return x / (1.0f + nb__exp_vec_f32(-2.0f * u));
}
static inline float gelu_tanh_grad_vec_float(float x)
{
    float xg = x > 20.0f ? 20.0f : x;
    xg = xg < -20.0f ? -20.0f : xg;
    float x2 = xg * xg;
    float a = (float)(-2 * K_SQRT_2_PI) * (xg + (float)K_GELU_C * x2 * xg);
    a = a > 80.0f ? 80.0f : a;
    float ex = nb__exp_vec_f32(a);
    float s = 1.0f / (1.0f + ex);
    float s1s = ex * s * s; /* s (1 - s) */
    return s + xg * s1s * (float)(2 * K_SQRT_2_PI) * (1.0f + (float)(3 * K_GELU_C) * x2);
}

/* The helpers the table's expressions call, by argument type (defined per float type in
 * k_pointwise_impl.h). */
#define PW_DECLARE_HELPERS(T)                                                                          \
    static inline T gelu_tanh_##T(T x);                                                              \
    static inline T gelu_erf_grad_##T(T x);                                                          \
    static inline T gelu_tanh_grad_##T(T x);                                                         \
    static inline T sigmoid_of_##T(T x);
PW_DECLARE_HELPERS(float)
PW_DECLARE_HELPERS(double)
#define PW_BY_TYPE(x, f32, f64) _Generic((x), float: f32, double: f64)(x)
#define gelu_tanh_vec(x) PW_BY_TYPE(x, gelu_tanh_vec_float, gelu_tanh_double)
#define gelu_tanh_grad_vec(x) PW_BY_TYPE(x, gelu_tanh_grad_vec_float, gelu_tanh_grad_double)
#define gelu_erf_grad(x) PW_BY_TYPE(x, gelu_erf_grad_float, gelu_erf_grad_double)
#define sigmoid_of(x) PW_BY_TYPE(x, sigmoid_of_float, sigmoid_of_double)
/* exp and the logistic function: float on nb__exp_vec_f32 (<= 1 ulp, the loops vectorize), double
 * libm's */
static inline double exp_double(double x) { return exp(x); }
static inline float sigmoid_vec_float(float x) { return 1.0f / (1.0f + nb__exp_vec_f32(-x)); }
#define exp_vec(x) PW_BY_TYPE(x, nb__exp_vec_f32, exp_double)
#define sigmoid_vec(x) PW_BY_TYPE(x, sigmoid_vec_float, sigmoid_of_double)
#define is_nan(x) _Generic((x), float: isnan_float, double: isnan_double, default: never_nan)(x)
/* Integer arithmetic wraps (two's complement, as PyTorch) instead of overflowing, which C leaves
 * undefined; the float versions are the plain expressions, so float results are unchanged. */
static inline float add_float(float a, float b) { return a + b; }
static inline double add_double(double a, double b) { return a + b; }
static inline float sub_float(float a, float b) { return a - b; }
static inline double sub_double(double a, double b) { return a - b; }
static inline float mul_float(float a, float b) { return a * b; }
static inline double mul_double(double a, double b) { return a * b; }
static inline float add_scaled_float(float a, float p, float b) { return a + p * b; }
static inline double add_scaled_double(double a, double p, double b) { return a + p * b; }
static inline int32_t add_scaled_i32(int32_t a, int32_t p, int32_t b) { return nb__wrap_add_i32(a, nb__wrap_mul_i32(p, b)); }
static inline int64_t add_scaled_i64(int64_t a, int64_t p, int64_t b) { return nb__wrap_add_i64(a, nb__wrap_mul_i64(p, b)); }
#define PW_ARITH(x, f32, f64, i32, i64) _Generic((x), float: f32, double: f64, int32_t: i32, int64_t: i64)
#define wadd(a, b) PW_ARITH(a, add_float, add_double, nb__wrap_add_i32, nb__wrap_add_i64)(a, b)
#define wsub(a, b) PW_ARITH(a, sub_float, sub_double, nb__wrap_sub_i32, nb__wrap_sub_i64)(a, b)
#define wmul(a, b) PW_ARITH(a, mul_float, mul_double, nb__wrap_mul_i32, nb__wrap_mul_i64)(a, b)
#define wadd_scaled(a, p, b) PW_ARITH(a, add_scaled_float, add_scaled_double, add_scaled_i32, add_scaled_i64)(a, p, b)

#define PW_CMP_CASES(LOOP)                  \
    switch ((nb__cmp)c->op) {               \
    case NB__CMP_EQ: LOOP(==); break;       \
    case NB__CMP_NE: LOOP(!=); break;       \
    case NB__CMP_LT: LOOP(<); break;        \
    case NB__CMP_LE: LOOP(<=); break;       \
    case NB__CMP_GT: LOOP(>); break;        \
    case NB__CMP_GE: LOOP(>=); break;       \
    default: break;                         \
    }

/* ---- the kernels, once per element type ----------------------------------------------------- */
#define NB_T float
#define NB_PW_NUM 1
#define NB_PW_FLT 1
#define NB_PW_BOOL 0
#define NB_PW_F32 1
#include "k_pointwise_kv.h"
#define NB_T double
#define NB_PW_NUM 1
#define NB_PW_FLT 1
#define NB_PW_BOOL 0
#define NB_PW_F32 0
#include "k_pointwise_kv.h"
#define NB_T int32_t
#define NB_PW_NUM 1
#define NB_PW_FLT 0
#define NB_PW_BOOL 0
#define NB_PW_F32 0
#include "k_pointwise_kv.h"
#define NB_T int64_t
#define NB_PW_NUM 1
#define NB_PW_FLT 0
#define NB_PW_BOOL 0
#define NB_PW_F32 0
#include "k_pointwise_kv.h"
#define NB_T uint8_t
#define NB_PW_NUM 0
#define NB_PW_FLT 0
#define NB_PW_BOOL 1
#define NB_PW_F32 0
#include "k_pointwise_kv.h"

/* ---- what each row is: its kind, dtype class and cost class (explicit in the table) ---------- */
/* Work per element for the thread count: memory-bound loops 1/2, libm-class math 4. With 1/2
 * (nb__threads_for allows 2 threads from 32768 units), an add runs on 2 threads from 65536 floats:
 * measured on the 2-core dev machine, 2 threads take 8 us there against 11 on 1 (98304, the char
 * GPT's residual adds: 11 vs 18; 32768: 5 vs 4, still 1 thread). */
#define COST_CHEAP 0.5
#define COST_MATH 4.0
#define PW_COST(cost, vec) COST_##cost

enum { PW_UNARY, PW_PRED, PW_BINARY };
enum { PW_NUM, PW_FLT, PW_BOOL };
#define PW_KIND_SAME PW_UNARY
#define PW_KIND_BOOL PW_PRED
typedef struct {
    int kind, cls;
    bool grad;
    double cost, grad_cost;
} pw_info;
static const pw_info k_pw[NB__PW_COUNT] = {
#define NB_PW_UNARY(name, dt, np, pa, pb, chk, fwd, fk, sv, dx, bk, test) \
    [NB__PW_##name] = {PW_UNARY, PW_##dt, true, PW_COST fk, PW_COST bk},
#define NB_PW_UNARY_K NB_PW_UNARY
#define NB_PW_UNARY_ND(name, dt, out, fwd, fk) [NB__PW_##name] = {PW_KIND_##out, PW_##dt, false, PW_COST fk, 0},
#define NB_PW_BINARY(name, dt, fwd, fk, sv, da, db, bk, test) \
    [NB__PW_##name] = {PW_BINARY, PW_##dt, true, PW_COST fk, PW_COST bk},
#define NB_PW_BINARY_K NB_PW_BINARY
#define NB_PW_BINARY_ND(name, dt, fwd, fk) [NB__PW_##name] = {PW_BINARY, PW_##dt, false, PW_COST fk, 0},
#include "nb_pointwise.def"
};

/* ---- entry points --------------------------------------------------------------------------- */
static nb__loop_fn pick(nb__loop_fn fn, const char *what, int op, nb_dtype dt)
{
    if (!fn)
        nb__fail("%s: internal error: no kernel for op %d on %s", what, op, nb_dtype_name(dt));
    return fn;
}

static void run(nb_tensor *out, int nin, const nb_tensor *const *ins, nb__loop_fn fn, ew_ctx *c, double cost)
{
    nb__iter it;
    nb__iter_init(&it, out, nin, ins);
    it.cost = cost;
    nb__iter_run(&it, fn, c);
}

static bool in_class(int cls, nb_dtype dt)
{
    return cls == PW_BOOL ? dt == NB_BOOL : cls == PW_FLT ? nb_dtype_is_float(dt) : dt != NB_BOOL && !nb_dtype_is_storage_only(dt);
}

static nb__loop_fn forward_fn(int kind, nb_dtype dt)
{
    switch (dt) {
    case NB_F32:
        return kind == PW_UNARY  ? NB__KV_PICK(pw_unary_float)
               : kind == PW_PRED ? pw_pred_float
                                 : NB__KV_PICK(pw_binary_float);
    case NB_F64:
        return kind == PW_UNARY  ? NB__KV_PICK(pw_unary_double)
               : kind == PW_PRED ? pw_pred_double
                                 : NB__KV_PICK(pw_binary_double);
    case NB_I32:
        return kind == PW_UNARY  ? NB__KV_PICK(pw_unary_int32_t)
               : kind == PW_PRED ? pw_pred_int32_t
                                 : NB__KV_PICK(pw_binary_int32_t);
    case NB_I64:
        return kind == PW_UNARY  ? NB__KV_PICK(pw_unary_int64_t)
               : kind == PW_PRED ? pw_pred_int64_t
                                 : NB__KV_PICK(pw_binary_int64_t);
    case NB_BOOL:
        return kind == PW_UNARY  ? NB__KV_PICK(pw_unary_uint8_t)
               : kind == PW_PRED ? pw_pred_uint8_t
                                 : NB__KV_PICK(pw_binary_uint8_t);
    default: return NULL;
    }
}

void nb__k_pointwise(nb__pw_op op, nb_tensor *out, const nb_tensor *a, const nb_tensor *b, double p0, double p1)
{
    const pw_info *w = (unsigned)op < NB__PW_COUNT ? &k_pw[op] : NULL;
    nb_dtype odt = w && w->kind == PW_PRED ? NB_BOOL : a->dtype;
    bool ok = w && in_class(w->cls, a->dtype) && out->dtype == odt && (w->kind == PW_BINARY) == (b != NULL) &&
              (!b || b->dtype == a->dtype);
    nb__loop_fn fn = ok ? forward_fn(w->kind, a->dtype) : NULL;
    ew_ctx c = {p0, p1, (int)op, 0};
    const nb_tensor *ins[2] = {a, b};
    run(out, b ? 2 : 1, ins, pick(fn, "nb__k_pointwise", (int)op, a->dtype), &c, ok ? w->cost : 0);
}

void nb__k_pointwise_grad(nb__pw_op op, int which, nb_tensor *out, const nb_tensor *g, const nb_tensor *a,
                          const nb_tensor *b, double p0, double p1)
{
    const pw_info *w = (unsigned)op < NB__PW_COUNT ? &k_pw[op] : NULL;
    bool unary = w && w->kind == PW_UNARY;
    bool ok = w && w->grad && out->dtype == g->dtype && a->dtype == g->dtype && (unary || b->dtype == g->dtype);
    nb__loop_fn fn = NULL;
    if (ok && out->dtype == NB_F32)
        fn = unary ? NB__KV_PICK(pw_unary_grad_float) : NB__KV_PICK(pw_binary_grad_float);
    else if (ok && out->dtype == NB_F64)
        fn = unary ? NB__KV_PICK(pw_unary_grad_double) : NB__KV_PICK(pw_binary_grad_double);
    ew_ctx c = {p0, p1, (int)op, which};
    const nb_tensor *ins[3] = {g, a, b};
    run(out, unary ? 2 : 3, ins, pick(fn, "nb__k_pointwise_grad", (int)op, out->dtype), &c, ok ? w->grad_cost : 0);
}

static nb__loop_fn compare_fn(nb_dtype dt, bool scalar)
{
    switch (dt) {
    case NB_F32: return scalar ? pw_cmps_float : pw_cmp_float;
    case NB_F64: return scalar ? pw_cmps_double : pw_cmp_double;
    case NB_I32: return scalar ? pw_cmps_int32_t : pw_cmp_int32_t;
    case NB_I64: return scalar ? pw_cmps_int64_t : pw_cmp_int64_t;
    case NB_BOOL: return scalar ? pw_cmps_uint8_t : pw_cmp_uint8_t;
    default: return NULL;
    }
}

void nb__k_compare(nb__cmp op, nb_tensor *out, const nb_tensor *a, const nb_tensor *b)
{
    nb__loop_fn fn = out->dtype == NB_BOOL && a->dtype == b->dtype && (unsigned)op < NB__CMP_COUNT
                         ? compare_fn(a->dtype, false)
                         : NULL;
    ew_ctx c = {0, 0, (int)op, 0};
    run(out, 2, (const nb_tensor *[]){a, b}, pick(fn, "nb__k_compare", (int)op, a->dtype), &c, COST_CHEAP);
}

void nb__k_compare_scalar(nb__cmp op, nb_tensor *out, const nb_tensor *a, double s)
{
    nb__loop_fn fn = out->dtype == NB_BOOL && (unsigned)op < NB__CMP_COUNT ? compare_fn(a->dtype, true) : NULL;
    ew_ctx c = {s, 0, (int)op, 0};
    run(out, 1, &a, pick(fn, "nb__k_compare_scalar", (int)op, a->dtype), &c, COST_CHEAP);
}

void nb__k_where(nb_tensor *out, const nb_tensor *cond, const nb_tensor *a, const nb_tensor *b)
{
    nb__loop_fn fn = NULL;
    if (cond->dtype == NB_BOOL && a->dtype == out->dtype && b->dtype == out->dtype) {
        switch (out->dtype) {
        case NB_F32: fn = pw_where_float; break;
        case NB_F64: fn = pw_where_double; break;
        case NB_I32: fn = pw_where_int32_t; break;
        case NB_I64: fn = pw_where_int64_t; break;
        case NB_BOOL: fn = pw_where_uint8_t; break;
        default: break;
        }
    }
    ew_ctx c = {0, 0, 0, 0};
    run(out, 3, (const nb_tensor *[]){cond, a, b}, pick(fn, "nb__k_where", 0, out->dtype), &c, COST_CHEAP);
}
