/* k_elementwise.c — elementwise kernels: unary, binary, compare, where, maximum/minimum grads.
 *
 * Each op is one expression macro EX(T, ...) instantiated per C type T (NB__NUMERIC_TYPES or
 * NB__FLOAT_TYPES; <tgmath.h> picks expf/exp etc.). A generated inner loop gets byte strides
 * from nb__iter_run and takes a unit-stride path (the common contiguous and "row + broadcast
 * vector" cases, where one operand has stride 0) that the compiler vectorizes; other strides
 * go through a plain strided loop. No autograd here. */
#include "config.h"
/* Lets GCC if-convert (and so vectorize) loops with selects such as the clamps of the vector
 * exp below; results are unchanged (IEEE semantics, NaN and signed zeros kept; only the
 * floating-point exception flags are not preserved). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "nb__k_elementwise.h"
#include "nb__vmath.h"

#include <tgmath.h>

#ifdef _OPENMP
#define NB__SIMD _Pragma("omp simd")
#else
#define NB__SIMD _Pragma("GCC ivdep")
#endif
/* Per op: SIMD_YES marks loops the compiler can vectorize; libm calls (exp, tanh, ...) cannot be,
 * so those loops carry no pragma (clang would warn that the requested vectorization failed). */
#define SIMD_YES NB__SIMD
#define SIMD_NO
/* The unary and binary loops are built for AVX2 and the baseline (NB__TARGET_CLONES); both
 * compute every element with the same operations, so results are bit-identical. */
#define NB__CLONES NB__TARGET_CLONES

typedef struct {
    double p0, p1;
    int op;
    int which;
} ew_ctx;

/* ---- per-type helpers: saturating scalar conversion, composite formulas --------------------- */
static inline float sat_float(double v) { return (float)v; }
static inline double sat_double(double v) { return v; }
static inline bool isnan_float(float v) { return isnan(v); }
static inline bool isnan_double(double v) { return isnan(v); }
static inline bool isnan_int32_t(int32_t v) { (void)v; return false; }
static inline bool isnan_int64_t(int64_t v) { (void)v; return false; }
static inline int32_t sat_int32_t(double v)
{
    return v != v ? 0 : v <= (double)INT32_MIN ? INT32_MIN : v >= (double)INT32_MAX ? INT32_MAX : (int32_t)v;
}
static inline int64_t sat_int64_t(double v)
{
    return v != v ? 0 : v <= (double)INT64_MIN ? INT64_MIN : v >= (double)INT64_MAX ? INT64_MAX : (int64_t)v;
}

#define K_SQRT1_2 0.70710678118654752440    /* 1/sqrt(2) */
#define K_INV_SQRT_2PI 0.39894228040143267794 /* 1/sqrt(2 pi) */
#define K_SQRT_2_PI 0.79788456080286535588  /* sqrt(2/pi) */
#define K_GELU_C 0.044715

/* The tanh GELU uses 0.5 (1 + tanh(u)) = sigmoid(2u) = 1 / (1 + exp(-2u)): one exp instead of a
 * tanh (several times faster with glibc) and no cancellation in 1 + tanh(u) for negative x.
 * Its derivative: s + x s (1 - s) 2 sqrt(2/pi) (1 + 3 c x^2), with s (1 - s) = (e s) s. */
/* (float uses the vectorizable versions below for the tanh GELU: `unused` keeps clang quiet) */
#define NB__FLOAT_HELPERS(e, T)                                                                    \
    __attribute__((unused)) static inline T gelu_tanh_##T(T x)                                     \
    {                                                                                              \
        T u = (T)K_SQRT_2_PI * (x + (T)K_GELU_C * x * x * x);                                      \
        return x / ((T)1 + exp((T)-2 * u));                                                        \
    }                                                                                              \
    static inline T gelu_erf_grad_##T(T x)                                                         \
    {                                                                                              \
        T cdf = (T)0.5 * ((T)1 + erf(x * (T)K_SQRT1_2));                                           \
        return cdf + x * exp((T)-0.5 * x * x) * (T)K_INV_SQRT_2PI;                                 \
    }                                                                                              \
    __attribute__((unused)) static inline T gelu_tanh_grad_##T(T x)                                \
    {                                                                                              \
        T x2 = x * x;                                                                              \
        T ex = exp((T)-2 * (T)K_SQRT_2_PI * (x + (T)K_GELU_C * x2 * x));                           \
        T s = (T)1 / ((T)1 + ex);                                                                  \
        T s1s = isinf(ex) ? (T)0 : ex * s * s; /* s (1 - s) */                                     \
        if (s1s == 0) /* |x| large: the second term underflowed (and x2 may be inf: 0 * inf) */    \
            return s;                                                                              \
        return s + x * s1s * (T)(2 * K_SQRT_2_PI) * ((T)1 + (T)(3 * K_GELU_C) * x2);               \
    }
NB__FLOAT_TYPES(NB__FLOAT_HELPERS)
#undef NB__FLOAT_HELPERS

/* Branch-free float tanh GELU and its derivative on exp_vec_float (vectorized loops); float64
 * keeps the libm versions above. The derivative clamps x to [-20, 20] (beyond, it is 1 or
 * below 1e-30 in magnitude) and the exp argument to 80, so no inf * 0 arises. */
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
static inline double gelu_tanh_vec_double(double x) { return gelu_tanh_double(x); }
static inline double gelu_tanh_grad_vec_double(double x) { return gelu_tanh_grad_double(x); }
/* Vectorize the loop for float only (the double helpers call libm). */
#define SIMD_FLOAT_float NB__SIMD
#define SIMD_FLOAT_double

/* ---- unary expressions: x the element, p0/p1 the parameters as T ---------------------------- */
#define EX_NEG(T, x, p0, p1) (-(x))
#define EX_ABS(T, x, p0, p1) ((x) <= 0 ? (T)0 - (x) : (x)) /* +0 for -0, NaN stays NaN */
#define EX_RELU(T, x, p0, p1) ((x) < 0 ? (T)0 : (x))       /* NaN stays NaN (as PyTorch) */
#define EX_ADD_S(T, x, p0, p1) ((x) + (p0))
#define EX_MUL_S(T, x, p0, p1) ((x) * (p0))
#define EX_CLAMP(T, x, p0, p1) (((x) < (p0) ? (p0) : (x)) > (p1) ? (p1) : ((x) < (p0) ? (p0) : (x)))
#define EX_DIV_S(T, x, p0, p1) ((x) / (p0))
#define EX_EXP(T, x, p0, p1) exp(x)
#define EX_LOG(T, x, p0, p1) log(x)
#define EX_SQRT(T, x, p0, p1) sqrt(x)
#define EX_RSQRT(T, x, p0, p1) ((T)1 / sqrt(x))
#define EX_TANH(T, x, p0, p1) tanh(x)
#define EX_SIGMOID(T, x, p0, p1) ((T)1 / ((T)1 + exp(-(x))))
#define EX_GELU_ERF(T, x, p0, p1) ((x) * (T)0.5 * ((T)1 + erf((x) * (T)K_SQRT1_2)))
#define EX_GELU_TANH(T, x, p0, p1) gelu_tanh_vec_##T(x)
#define EX_POW(T, x, p0, p1) pow(x, p0)

#define UNARY_NUMERIC_OPS(X, e, T) \
    X(NEG, EX_NEG, SIMD_YES, e, T) X(ABS, EX_ABS, SIMD_YES, e, T) \
    X(RELU, EX_RELU, SIMD_YES, e, T) X(ADD_S, EX_ADD_S, SIMD_YES, e, T) \
    X(MUL_S, EX_MUL_S, SIMD_YES, e, T) X(CLAMP, EX_CLAMP, SIMD_YES, e, T)
#define UNARY_FLOAT_OPS(X, e, T) \
    X(DIV_S, EX_DIV_S, SIMD_YES, e, T) X(EXP, EX_EXP, SIMD_NO, e, T) \
    X(LOG, EX_LOG, SIMD_NO, e, T) X(SQRT, EX_SQRT, SIMD_NO, e, T) \
    X(RSQRT, EX_RSQRT, SIMD_NO, e, T) X(TANH, EX_TANH, SIMD_NO, e, T) \
    X(SIGMOID, EX_SIGMOID, SIMD_NO, e, T) X(GELU_ERF, EX_GELU_ERF, SIMD_NO, e, T) \
    X(GELU_TANH, EX_GELU_TANH, SIMD_FLOAT_##T, e, T) X(POW, EX_POW, SIMD_NO, e, T)

#define DEF_UNARY(OP, EX, V, e, T)                                                                 \
    NB__CLONES static void u_##OP##_##T(char **p, const int64_t *s, int64_t n, void *ctx)          \
    {                                                                                              \
        const ew_ctx *c = ctx;                                                                     \
        const T p0 = sat_##T(c->p0), p1 = sat_##T(c->p1);                                          \
        (void)p0, (void)p1;                                                                        \
        const int64_t es = (int64_t)sizeof(T);                                                     \
        if (s[0] == es && s[1] == es) {                                                            \
            T *o = (T *)p[0];                                                                      \
            const T *in = (const T *)p[1];                                                         \
            V for (int64_t i = 0; i < n; i++)                                                      \
            {                                                                                      \
                T x = in[i];                                                                       \
                o[i] = (T)(EX(T, x, p0, p1));                                                      \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T x = *(const T *)(p[1] + i * s[1]);                                               \
                *(T *)(p[0] + i * s[0]) = (T)(EX(T, x, p0, p1));                                   \
            }                                                                                      \
        }                                                                                          \
    }
#define DEF_UNARY_NUMERIC(e, T) UNARY_NUMERIC_OPS(DEF_UNARY, e, T)
#define DEF_UNARY_FLOAT(e, T) UNARY_FLOAT_OPS(DEF_UNARY, e, T)
NB__NUMERIC_TYPES(DEF_UNARY_NUMERIC)
NB__FLOAT_TYPES(DEF_UNARY_FLOAT)

#define TAB_UNARY(OP, EX, V, e, T) [NB__U_##OP][e] = u_##OP##_##T,
#define TAB_UNARY_NUMERIC(e, T) UNARY_NUMERIC_OPS(TAB_UNARY, e, T)
#define TAB_UNARY_FLOAT(e, T) UNARY_FLOAT_OPS(TAB_UNARY, e, T)
static const nb__loop_fn unary_table[NB__U_COUNT][NB_DTYPE_COUNT] = {
    NB__NUMERIC_TYPES(TAB_UNARY_NUMERIC) NB__FLOAT_TYPES(TAB_UNARY_FLOAT)};

/* ---- binary expressions: a, b the elements ------------------------------------------------- */
#define EX_ADD(T, a, b, p0, p1) ((a) + (b))
#define EX_SUB(T, a, b, p0, p1) ((a) - (b))
#define EX_MUL(T, a, b, p0, p1) ((a) * (b))
#define EX_MAX(T, a, b, p0, p1) (((a) > (b) || isnan_##T(a)) ? (a) : (b))
#define EX_MIN(T, a, b, p0, p1) (((a) < (b) || isnan_##T(a)) ? (a) : (b))
#define EX_ADD_SCALED(T, a, b, p0, p1) ((a) + (p0) * (b))
#define EX_DIV(T, a, b, p0, p1) ((a) / (b))
#define EX_ABS_BWD(T, a, b, p0, p1) ((b) > 0 ? (a) : (b) < 0 ? -(a) : (T)0)
#define EX_RELU_BWD(T, a, b, p0, p1) ((b) > 0 ? (a) : (T)0)
#define EX_SQRT_BWD(T, a, b, p0, p1) ((a) / ((T)2 * (b)))
#define EX_RSQRT_BWD(T, a, b, p0, p1) ((T)-0.5 * (a) * (b) * (b) * (b))
#define EX_TANH_BWD(T, a, b, p0, p1) ((a) * ((T)1 - (b) * (b)))
#define EX_SIGMOID_BWD(T, a, b, p0, p1) ((a) * ((T)1 - (b)) * (b))
#define EX_GELU_ERF_BWD(T, a, b, p0, p1) ((a) * gelu_erf_grad_##T(b))
#define EX_GELU_TANH_BWD(T, a, b, p0, p1) ((a) * gelu_tanh_grad_vec_##T(b))
#define EX_POW_BWD(T, a, b, p0, p1) ((p0) == 0 ? (T)0 : (a) * (p0) * pow(b, (p0) - (T)1))
#define EX_CLAMP_BWD(T, a, b, p0, p1) (((b) >= (p0) && (b) <= (p1)) ? (a) : (T)0)

#define BINARY_NUMERIC_OPS(X, e, T) \
    X(ADD, EX_ADD, SIMD_YES, e, T) X(SUB, EX_SUB, SIMD_YES, e, T) \
    X(MUL, EX_MUL, SIMD_YES, e, T) X(MAX, EX_MAX, SIMD_YES, e, T) \
    X(MIN, EX_MIN, SIMD_YES, e, T) X(ADD_SCALED, EX_ADD_SCALED, SIMD_YES, e, T)
#define BINARY_FLOAT_OPS(X, e, T) \
    X(DIV, EX_DIV, SIMD_YES, e, T) X(ABS_BWD, EX_ABS_BWD, SIMD_YES, e, T) \
    X(RELU_BWD, EX_RELU_BWD, SIMD_YES, e, T) X(SQRT_BWD, EX_SQRT_BWD, SIMD_YES, e, T) \
    X(RSQRT_BWD, EX_RSQRT_BWD, SIMD_YES, e, T) X(TANH_BWD, EX_TANH_BWD, SIMD_YES, e, T) \
    X(SIGMOID_BWD, EX_SIGMOID_BWD, SIMD_YES, e, T) X(GELU_ERF_BWD, EX_GELU_ERF_BWD, SIMD_NO, e, T) \
    X(GELU_TANH_BWD, EX_GELU_TANH_BWD, SIMD_FLOAT_##T, e, T) X(POW_BWD, EX_POW_BWD, SIMD_NO, e, T) \
    X(CLAMP_BWD, EX_CLAMP_BWD, SIMD_YES, e, T)

/* Fast paths: all unit stride; b broadcast along the run (row op scalar / column bias);
 * a broadcast along the run. Everything else: strided. */
#define DEF_BINARY(OP, EX, V, e, T)                                                                \
    NB__CLONES static void b_##OP##_##T(char **p, const int64_t *s, int64_t n, void *ctx)          \
    {                                                                                              \
        const ew_ctx *c = ctx;                                                                     \
        const T p0 = sat_##T(c->p0), p1 = sat_##T(c->p1);                                          \
        (void)p0, (void)p1;                                                                        \
        const int64_t es = (int64_t)sizeof(T);                                                     \
        T *o = (T *)p[0];                                                                          \
        const T *x = (const T *)p[1], *y = (const T *)p[2];                                        \
        if (s[0] == es && s[1] == es && s[2] == es) {                                              \
            V for (int64_t i = 0; i < n; i++)                                                      \
            {                                                                                      \
                T a = x[i], b = y[i];                                                              \
                o[i] = (T)(EX(T, a, b, p0, p1));                                                   \
            }                                                                                      \
        } else if (s[0] == es && s[1] == es && s[2] == 0) {                                        \
            const T b = *y;                                                                        \
            V for (int64_t i = 0; i < n; i++)                                                      \
            {                                                                                      \
                T a = x[i];                                                                        \
                o[i] = (T)(EX(T, a, b, p0, p1));                                                   \
            }                                                                                      \
        } else if (s[0] == es && s[1] == 0 && s[2] == es) {                                        \
            const T a = *x;                                                                        \
            V for (int64_t i = 0; i < n; i++)                                                      \
            {                                                                                      \
                T b = y[i];                                                                        \
                o[i] = (T)(EX(T, a, b, p0, p1));                                                   \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                T a = *(const T *)(p[1] + i * s[1]), b = *(const T *)(p[2] + i * s[2]);            \
                *(T *)(p[0] + i * s[0]) = (T)(EX(T, a, b, p0, p1));                                \
            }                                                                                      \
        }                                                                                          \
    }
#define DEF_BINARY_NUMERIC(e, T) BINARY_NUMERIC_OPS(DEF_BINARY, e, T)
#define DEF_BINARY_FLOAT(e, T) BINARY_FLOAT_OPS(DEF_BINARY, e, T)
NB__NUMERIC_TYPES(DEF_BINARY_NUMERIC)
NB__FLOAT_TYPES(DEF_BINARY_FLOAT)

#define TAB_BINARY(OP, EX, V, e, T) [NB__B_##OP][e] = b_##OP##_##T,
#define TAB_BINARY_NUMERIC(e, T) BINARY_NUMERIC_OPS(TAB_BINARY, e, T)
#define TAB_BINARY_FLOAT(e, T) BINARY_FLOAT_OPS(TAB_BINARY, e, T)
static const nb__loop_fn binary_table[NB__B_COUNT][NB_DTYPE_COUNT] = {
    NB__NUMERIC_TYPES(TAB_BINARY_NUMERIC) NB__FLOAT_TYPES(TAB_BINARY_FLOAT)};

/* ---- compare ------------------------------------------------------------------------------- */
#define CMP_CASES(LOOP)                  \
    switch ((nb__cmp)c->op) {            \
    case NB__CMP_EQ: LOOP(==); break;    \
    case NB__CMP_NE: LOOP(!=); break;    \
    case NB__CMP_LT: LOOP(<); break;     \
    case NB__CMP_LE: LOOP(<=); break;    \
    case NB__CMP_GT: LOOP(>); break;     \
    case NB__CMP_GE: LOOP(>=); break;    \
    default: break;                      \
    }

#define DEF_COMPARE(e, T)                                                                          \
    static void cmp_##T(char **p, const int64_t *s, int64_t n, void *ctx)                          \
    {                                                                                              \
        typedef T elem_t;                                                                          \
        const ew_ctx *c = ctx;                                                                     \
        const int64_t es = (int64_t)sizeof(T);                                                     \
        uint8_t *o = (uint8_t *)p[0];                                                              \
        if (s[0] == 1 && s[1] == es && s[2] == es) {                                               \
            const T *x = (const T *)p[1], *y = (const T *)p[2];                                    \
            CMP_CASES(CMP_FAST)                                                                    \
        } else {                                                                                   \
            CMP_CASES(CMP_STRIDED)                                                                 \
        }                                                                                          \
    }
#define CMP_FAST(OPER) NB__SIMD for (int64_t i = 0; i < n; i++) o[i] = x[i] OPER y[i]
#define CMP_STRIDED(OPER)                                                                          \
    for (int64_t i = 0; i < n; i++)                                                                \
    o[i * s[0]] = *(const elem_t *)(p[1] + i * s[1]) OPER * (const elem_t *)(p[2] + i * s[2])
NB__ALL_TYPES(DEF_COMPARE)

/* Scalar comparisons: float types compare in their own type (as PyTorch converts the scalar),
 * integer types in double (exact for |x| < 2^53, and right for fractional s). */
#define CMP_TYPE_float float
#define CMP_TYPE_double double
#define CMP_TYPE_int32_t double
#define CMP_TYPE_int64_t double
#define CMP_TYPE_uint8_t double
#define CMP_TYPE(T) CMP_TYPE_##T
#define DEF_COMPARE_SCALAR(e, T)                                                                   \
    static void cmps_##T(char **p, const int64_t *s, int64_t n, void *ctx)                         \
    {                                                                                              \
        typedef T elem_t;                                                                          \
        typedef CMP_TYPE(T) cmp_t;                                                                 \
        const ew_ctx *c = ctx;                                                                     \
        const cmp_t y = (cmp_t)c->p0;                                                              \
        uint8_t *o = (uint8_t *)p[0];                                                              \
        CMP_CASES(CMPS_LOOP)                                                                       \
    }
#define CMPS_LOOP(OPER)                                                                            \
    for (int64_t i = 0; i < n; i++)                                                                \
    o[i * s[0]] = (cmp_t) * (const elem_t *)(p[1] + i * s[1]) OPER y
NB__ALL_TYPES(DEF_COMPARE_SCALAR)

/* ---- where / maximum-minimum grads ---------------------------------------------------------- */
#define DEF_WHERE(e, T)                                                                            \
    static void where_##T(char **p, const int64_t *s, int64_t n, void *ctx)                        \
    {                                                                                              \
        (void)ctx;                                                                                 \
        const int64_t es = (int64_t)sizeof(T);                                                     \
        if (s[0] == es && s[1] == 1 && s[2] == es && s[3] == es) {                                 \
            T *o = (T *)p[0];                                                                      \
            const uint8_t *m = (const uint8_t *)p[1];                                              \
            const T *x = (const T *)p[2], *y = (const T *)p[3];                                    \
            NB__SIMD for (int64_t i = 0; i < n; i++) o[i] = m[i] ? x[i] : y[i];                    \
            return;                                                                                \
        }                                                                                          \
        for (int64_t i = 0; i < n; i++)                                                            \
            *(T *)(p[0] + i * s[0]) = *(const uint8_t *)(p[1] + i * s[1])                          \
                                          ? *(const T *)(p[2] + i * s[2])                          \
                                          : *(const T *)(p[3] + i * s[3]);                         \
    }
NB__ALL_TYPES(DEF_WHERE)

#define DEF_MAXMIN_GRAD(e, T)                                                                      \
    static void mmg_##T(char **p, const int64_t *s, int64_t n, void *ctx)                          \
    {                                                                                              \
        const ew_ctx *c = ctx;                                                                     \
        int mine = c->which == 0 ? 2 : 3, other = c->which == 0 ? 3 : 2;                           \
        bool is_max = c->op != 0;                                                                  \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T g = *(const T *)(p[1] + i * s[1]);                                                   \
            T x = *(const T *)(p[mine] + i * s[mine]), y = *(const T *)(p[other] + i * s[other]);  \
            T w = x == y ? (T)0.5 : (is_max ? x < y : x > y) ? (T)0 : (T)1;                        \
            *(T *)(p[0] + i * s[0]) = g * w;                                                       \
        }                                                                                          \
    }
NB__FLOAT_TYPES(DEF_MAXMIN_GRAD)

/* ---- entry points --------------------------------------------------------------------------- */
static nb__loop_fn pick(nb__loop_fn fn, const char *what, int op, nb_dtype dt)
{
    if (!fn)
        nb__fail("%s: internal error: no kernel for op %d on %s", what, op, nb_dtype_name(dt));
    return fn;
}

/* Work per element for the thread count: memory-bound loops 1/2, libm-class math 4. With 1/2
 * (nb__threads_for allows 2 threads from 32768 units), an add runs on 2 threads from 65536 floats:
 * measured on the 2-core dev machine, 2 threads take 8 us there against 11 on 1 (98304, the char
 * GPT's residual adds: 11 vs 18; 32768: 5 vs 4, still 1 thread). */
#define COST_CHEAP 0.5
#define COST_MATH 4.0

static void run_cost(nb_tensor *out, int nin, const nb_tensor *const *ins, nb__loop_fn fn, ew_ctx *c,
                     double cost)
{
    nb__iter it;
    nb__iter_init(&it, out, nin, ins);
    it.cost = cost;
    nb__iter_run(&it, fn, c);
}

static void run(nb_tensor *out, int nin, const nb_tensor *const *ins, nb__loop_fn fn, ew_ctx *c)
{
    run_cost(out, nin, ins, fn, c, COST_CHEAP);
}

static bool unary_is_math(nb__unary_op op) { return op >= NB__U_EXP && op <= NB__U_POW; }
static bool binary_is_math(nb__binary_op op) { return op >= NB__B_GELU_ERF_BWD && op <= NB__B_POW_BWD; }

void nb__k_unary(nb__unary_op op, nb_tensor *out, const nb_tensor *in, double p0, double p1)
{
    nb__loop_fn fn = (unsigned)op < NB__U_COUNT && in->dtype == out->dtype ? unary_table[op][out->dtype] : NULL;
    ew_ctx c = {p0, p1, (int)op, 0};
    run_cost(out, 1, &in, pick(fn, "nb__k_unary", (int)op, out->dtype), &c,
             unary_is_math(op) ? COST_MATH : COST_CHEAP);
}

void nb__k_binary(nb__binary_op op, nb_tensor *out, const nb_tensor *a, const nb_tensor *b, double p0, double p1)
{
    nb__loop_fn fn = (unsigned)op < NB__B_COUNT && a->dtype == out->dtype && b->dtype == out->dtype
                         ? binary_table[op][out->dtype]
                         : NULL;
    ew_ctx c = {p0, p1, (int)op, 0};
    run_cost(out, 2, (const nb_tensor *[]){a, b}, pick(fn, "nb__k_binary", (int)op, out->dtype), &c,
             binary_is_math(op) ? COST_MATH : COST_CHEAP);
}

static nb__loop_fn compare_fn(nb_dtype dt, bool scalar)
{
    switch (dt) {
#define NB_X(e, T) case e: return scalar ? cmps_##T : cmp_##T;
        NB__ALL_TYPES(NB_X)
#undef NB_X
    default: return NULL;
    }
}

void nb__k_compare(nb__cmp op, nb_tensor *out, const nb_tensor *a, const nb_tensor *b)
{
    nb__loop_fn fn = out->dtype == NB_BOOL && a->dtype == b->dtype && (unsigned)op < NB__CMP_COUNT
                         ? compare_fn(a->dtype, false)
                         : NULL;
    ew_ctx c = {0, 0, (int)op, 0};
    run(out, 2, (const nb_tensor *[]){a, b}, pick(fn, "nb__k_compare", (int)op, a->dtype), &c);
}

void nb__k_compare_scalar(nb__cmp op, nb_tensor *out, const nb_tensor *a, double s)
{
    nb__loop_fn fn = out->dtype == NB_BOOL && (unsigned)op < NB__CMP_COUNT ? compare_fn(a->dtype, true) : NULL;
    ew_ctx c = {s, 0, (int)op, 0};
    run(out, 1, &a, pick(fn, "nb__k_compare_scalar", (int)op, a->dtype), &c);
}

void nb__k_where(nb_tensor *out, const nb_tensor *cond, const nb_tensor *a, const nb_tensor *b)
{
    nb__loop_fn fn = NULL;
    if (cond->dtype == NB_BOOL && a->dtype == out->dtype && b->dtype == out->dtype) {
        switch (out->dtype) {
#define NB_X(e, T) case e: fn = where_##T; break;
            NB__ALL_TYPES(NB_X)
#undef NB_X
        default: break;
        }
    }
    ew_ctx c = {0, 0, 0, 0};
    run(out, 3, (const nb_tensor *[]){cond, a, b}, pick(fn, "nb__k_where", 0, out->dtype), &c);
}

void nb__k_maxmin_grad(nb_tensor *out, const nb_tensor *g, const nb_tensor *a, const nb_tensor *b, bool is_max,
                       int which)
{
    nb__loop_fn fn = NULL;
    if (g->dtype == out->dtype && a->dtype == out->dtype && b->dtype == out->dtype) {
        switch (out->dtype) {
#define NB_X(e, T) case e: fn = mmg_##T; break;
            NB__FLOAT_TYPES(NB_X)
#undef NB_X
        default: break;
        }
    }
    ew_ctx c = {0, 0, is_max, which};
    run(out, 3, (const nb_tensor *[]){g, a, b}, pick(fn, "nb__k_maxmin_grad", is_max, out->dtype), &c);
}
