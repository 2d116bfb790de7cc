/* k_pointwise_impl.h — the kernels of tensor/nb_pointwise.def for one element type (no include
 * guard: tensor/k_elementwise.c includes it once per dtype).
 *
 * The includer defines NB_T (the C type), NB_PW_NUM / NB_PW_FLT / NB_PW_BOOL (1 when NB_T is in
 * that dtype class, else 0) and NB_PW_F32 (1 for float), and provides ew_ctx, sat_<T>, PW_CAT,
 * PW_VEC, NB__SIMD and NB__CLONES. It gets, for T = NB_T:
 *   pw_f_<op>_T, pw_d_<op>_T, pw_da_<op>_T, pw_db_<op>_T   one small inline function per
 *       expression of a row (forward, unary gradient, binary gradients); gradients for float
 *       types only;
 *   pw_unary_T, pw_pred_T, pw_binary_T, pw_unary_grad_T, pw_binary_grad_T   nb__loop_fn loops
 *       that switch on ew_ctx.op once per run and then loop over the row's expression: a
 *       unit-stride path (vectorized where the row says VEC) and a strided one. */
#define T NB_T
#define PW_FN(f) PW_CAT(f, NB_T)
#define PW_U __attribute__((unused))

#if NB_PW_NUM
#define PW_IF_NUM(...) __VA_ARGS__
#else
#define PW_IF_NUM(...)
#endif
#if NB_PW_FLT
#define PW_IF_FLT(...) __VA_ARGS__
#else
#define PW_IF_FLT(...)
#endif
#if NB_PW_BOOL
#define PW_IF_BOOL(...) __VA_ARGS__
#else
#define PW_IF_BOOL(...)
#endif
#if NB_PW_F32
#define PW_VEC_VECF NB__SIMD
#else
#define PW_VEC_VECF
#endif

/* ---- helpers the rows call (float types; k_elementwise.c declares them and picks by type) ---- */
#if NB_PW_FLT && !NB__KV_AVX2 /* (defined once, by the baseline inclusion, which comes first) */
/* The tanh GELU uses 0.5 (1 + tanh(u)) = sigmoid(2u) = 1 / (1 + exp(-2u)): one exp instead of a
 * tanh (several times faster with glibc) and no cancellation in 1 + tanh(u) for negative x.
 * Its derivative: s + x s (1 - s) 2 sqrt(2/pi) (1 + 3 c x^2), with s (1 - s) = (e s) s.
 * (float uses the vectorizable versions of k_elementwise.c for the tanh GELU.) */
PW_U static inline T PW_FN(gelu_tanh)(T x)
{
    T u = (T)K_SQRT_2_PI * (x + (T)K_GELU_C * x * x * x);
    return x / ((T)1 + exp((T)-2 * u));
}
static inline T PW_FN(gelu_erf_grad)(T x)
{
    T cdf = (T)0.5 * ((T)1 + erf(x * (T)K_SQRT1_2));
    return cdf + x * exp((T)-0.5 * x * x) * (T)K_INV_SQRT_2PI;
}
PW_U static inline T PW_FN(gelu_tanh_grad)(T x)
{
    T x2 = x * x;
    T ex = exp((T)-2 * (T)K_SQRT_2_PI * (x + (T)K_GELU_C * x2 * x));
    T s = (T)1 / ((T)1 + ex);
    T s1s = isinf(ex) ? (T)0 : ex * s * s; /* s (1 - s) */
    if (s1s == 0) /* |x| large: the second term underflowed (and x2 may be inf: 0 * inf) */
        return s;
    return s + x * s1s * (T)(2 * K_SQRT_2_PI) * ((T)1 + (T)(3 * K_GELU_C) * x2);
}
static inline T PW_FN(sigmoid_of)(T x) { return (T)1 / ((T)1 + exp(-x)); }
#endif

/* ---- expression functions --------------------------------------------------------------------- */
#define PW_SAVED_X x
#define PW_SAVED_Y y
#define PW_SAVED_NONE saved_unused_
#define PW_UFN(name, fwd) \
    static inline T PW_FN(pw_f_##name)(T x, PW_U T p0, PW_U T p1) { return (T)(fwd); }
#define PW_DFN(name, sv, dx) \
    static inline T PW_FN(pw_d_##name)(PW_U T g, PW_U T PW_SAVED_##sv, PW_U T p0, PW_U T p1) { return (T)(dx); }
#define PW_BFN(name, fwd) \
    static inline T PW_FN(pw_f_##name)(T a, T b, PW_U T p0, PW_U T p1) { return (T)(fwd); }
#define PW_GFN(fn, dx) \
    static inline T PW_FN(fn)(PW_U T g, PW_U T a, PW_U T b, PW_U T p0, PW_U T p1) { return (T)(dx); }
#define PW_PFN(name, fwd) static inline uint8_t PW_FN(pw_f_##name)(T x) { return (uint8_t)(fwd); }
#define PW_IF_SAME_SAME(...) __VA_ARGS__
#define PW_IF_SAME_BOOL(...)
#define PW_IF_BOOL_SAME(...)
#define PW_IF_BOOL_BOOL(...) __VA_ARGS__

#define NB_PW_UNARY(name, dt, np, pa, pb, chk, fwd, fk, sv, dx, bk, test) \
    PW_IF_##dt(PW_UFN(name, fwd)) PW_IF_FLT(PW_IF_##dt(PW_DFN(name, sv, dx)))
#define NB_PW_UNARY_K NB_PW_UNARY
#define NB_PW_UNARY_ND(name, dt, out, fwd, fk) \
    PW_IF_SAME_##out(PW_IF_##dt(PW_UFN(name, fwd))) PW_IF_BOOL_##out(PW_IF_##dt(PW_PFN(name, fwd)))
#define NB_PW_BINARY(name, dt, fwd, fk, sv, da, db, bk, test) \
    PW_IF_##dt(PW_BFN(name, fwd)) PW_IF_FLT(PW_IF_##dt(PW_GFN(pw_da_##name, da) PW_GFN(pw_db_##name, db)))
#define NB_PW_BINARY_K NB_PW_BINARY
#define NB_PW_BINARY_ND(name, dt, fwd, fk) PW_IF_##dt(PW_BFN(name, fwd))
#if !NB__KV_AVX2 /* (defined once, by the baseline inclusion) */
#include "nb_pointwise.def"
#else
#undef NB_PW_UNARY
#undef NB_PW_UNARY_K
#undef NB_PW_UNARY_ND
#undef NB_PW_BINARY
#undef NB_PW_BINARY_K
#undef NB_PW_BINARY_ND
#endif

/* ---- loops: one switch per run, then the row's loop ----------------------------------------- */
/* One input x = p[1] (or two: a = p[1], b = p[2]; or g, a, b = p[1..3]); o = p[0]; es the size. */
#define PW_LOOP1(F, V)                                                                               \
    if (s[0] == es && s[1] == es) {                                                                  \
        V for (int64_t i = 0; i < n; i++) o[i] = F(x[i], p0, p1);                                    \
    } else {                                                                                         \
        for (int64_t i = 0; i < n; i++)                                                              \
            *(T *)(p[0] + i * s[0]) = F(*(const T *)(p[1] + i * s[1]), p0, p1);                      \
    }
/* Fast paths: all unit stride; b broadcast along the run (row op scalar / column bias); a
 * broadcast along the run. Everything else: strided. */
#define PW_LOOP2(F, V)                                                                               \
    if (s[0] == es && s[1] == es && s[2] == es) {                                                    \
        V for (int64_t i = 0; i < n; i++) o[i] = F(xa[i], xb[i], p0, p1);                            \
    } else if (s[0] == es && s[1] == es && s[2] == 0) {                                              \
        const T b0 = *xb;                                                                            \
        V for (int64_t i = 0; i < n; i++) o[i] = F(xa[i], b0, p0, p1);                               \
    } else if (s[0] == es && s[1] == 0 && s[2] == es) {                                              \
        const T a0 = *xa;                                                                            \
        V for (int64_t i = 0; i < n; i++) o[i] = F(a0, xb[i], p0, p1);                               \
    } else PW_STRIDED2(F)
#define PW_STRIDED2(F)                                                                               \
    for (int64_t i = 0; i < n; i++)                                                                  \
        *(T *)(p[0] + i * s[0]) = F(*(const T *)(p[1] + i * s[1]), *(const T *)(p[2] + i * s[2]), p0, p1);
/* g = p[1], a = p[2], b = p[3]; unit stride everywhere (b may be broadcast), else strided. */
#define PW_LOOP3(F, V)                                                                               \
    if (s[0] == es && s[1] == es && s[2] == es && (s[3] == es || s[3] == 0)) {                       \
        if (s[3] == es) {                                                                            \
            V for (int64_t i = 0; i < n; i++) o[i] = F(xg[i], xa[i], xb[i], p0, p1);                 \
        } else {                                                                                     \
            V for (int64_t i = 0; i < n; i++) o[i] = F(xg[i], xa[i], *xb, p0, p1);                   \
        }                                                                                            \
    } else PW_STRIDED3(F)
#define PW_STRIDED3(F)                                                                               \
    for (int64_t i = 0; i < n; i++)                                                                  \
        *(T *)(p[0] + i * s[0]) = F(*(const T *)(p[1] + i * s[1]), *(const T *)(p[2] + i * s[2]),    \
                                    *(const T *)(p[3] + i * s[3]), p0, p1);
#define PW_CASE(name, loop, fn, fk) \
    case NB__PW_##name: loop(PW_FN(fn), PW_VEC fk); break;

NB__CLONES static void NB__KV_NAME(PW_FN(pw_unary))(char **p, const int64_t *s, int64_t n, void *ctx)
{
    const ew_ctx *c = ctx;
    const T p0 = PW_FN(sat)(c->p0), p1 = PW_FN(sat)(c->p1);
    const int64_t es = (int64_t)sizeof(T);
    T *o = (T *)p[0];
    const T *x = (const T *)p[1];
    (void)p0, (void)p1, (void)o, (void)x, (void)es;
    switch ((nb__pw_op)c->op) {
#define NB_PW_UNARY(name, dt, np, pa, pb, chk, fwd, fk, sv, dx, bk, test) \
    PW_IF_##dt(PW_CASE(name, PW_LOOP1, pw_f_##name, fk))
#define NB_PW_UNARY_K NB_PW_UNARY
#define NB_PW_UNARY_ND(name, dt, out, fwd, fk) PW_IF_SAME_##out(PW_IF_##dt(PW_CASE(name, PW_LOOP1, pw_f_##name, fk)))
#include "nb_pointwise.def"
    default: break;
    }
}

/* Unary ops with a bool result (out is uint8_t). */
#if !NB__KV_AVX2 /* (no AVX2 copy: defined once) */
static void PW_FN(pw_pred)(char **p, const int64_t *s, int64_t n, void *ctx)
{
    const ew_ctx *c = ctx;
    (void)p, (void)s, (void)n;
    switch ((nb__pw_op)c->op) {
#define NB_PW_UNARY_ND(name, dt, out, fwd, fk)                                                       \
    PW_IF_BOOL_##out(PW_IF_##dt(case NB__PW_##name                                                   \
                                : for (int64_t i = 0; i < n; i++) p[0][i * s[0]] =                   \
                                      PW_FN(pw_f_##name)(*(const T *)(p[1] + i * s[1]));             \
                                break;))
#include "nb_pointwise.def"
    default: break;
    }
}
#endif

NB__CLONES static void NB__KV_NAME(PW_FN(pw_binary))(char **p, const int64_t *s, int64_t n, void *ctx)
{
    const ew_ctx *c = ctx;
    const T p0 = PW_FN(sat)(c->p0), p1 = PW_FN(sat)(c->p1);
    const int64_t es = (int64_t)sizeof(T);
    T *o = (T *)p[0];
    const T *xa = (const T *)p[1], *xb = (const T *)p[2];
    (void)p0, (void)p1, (void)o, (void)xa, (void)xb, (void)es;
    switch ((nb__pw_op)c->op) {
#define NB_PW_BINARY(name, dt, fwd, fk, sv, da, db, bk, test) PW_IF_##dt(PW_CASE(name, PW_LOOP2, pw_f_##name, fk))
#define NB_PW_BINARY_K NB_PW_BINARY
#define NB_PW_BINARY_ND(name, dt, fwd, fk) PW_IF_##dt(PW_CASE(name, PW_LOOP2, pw_f_##name, fk))
#include "nb_pointwise.def"
    default: break;
    }
}

#if NB_PW_FLT
/* Gradient of a unary row: out = d(g, saved) with g = p[1], saved = p[2] (x, y, or g again). */
NB__CLONES static void NB__KV_NAME(PW_FN(pw_unary_grad))(char **p, const int64_t *s, int64_t n, void *ctx)
{
    const ew_ctx *c = ctx;
    const T p0 = PW_FN(sat)(c->p0), p1 = PW_FN(sat)(c->p1);
    const int64_t es = (int64_t)sizeof(T);
    T *o = (T *)p[0];
    const T *xa = (const T *)p[1], *xb = (const T *)p[2];
    switch ((nb__pw_op)c->op) {
#define NB_PW_UNARY(name, dt, np, pa, pb, chk, fwd, fk, sv, dx, bk, test) \
    PW_IF_##dt(PW_CASE(name, PW_LOOP2, pw_d_##name, bk))
#define NB_PW_UNARY_K NB_PW_UNARY
#include "nb_pointwise.def"
    default: break;
    }
}

/* Gradient of a binary row for input c->which: out = da / db(g, a, b), p[1..3] = g, a, b. */
NB__CLONES static void NB__KV_NAME(PW_FN(pw_binary_grad))(char **p, const int64_t *s, int64_t n, void *ctx)
{
    const ew_ctx *c = ctx;
    const T p0 = PW_FN(sat)(c->p0), p1 = PW_FN(sat)(c->p1);
    const int64_t es = (int64_t)sizeof(T);
    T *o = (T *)p[0];
    const T *xg = (const T *)p[1], *xa = (const T *)p[2], *xb = (const T *)p[3];
    if (c->which == 0) {
        switch ((nb__pw_op)c->op) {
#define NB_PW_BINARY(name, dt, fwd, fk, sv, da, db, bk, test) PW_IF_##dt(PW_CASE(name, PW_LOOP3, pw_da_##name, bk))
#define NB_PW_BINARY_K NB_PW_BINARY
#include "nb_pointwise.def"
        default: break;
        }
    } else {
        switch ((nb__pw_op)c->op) {
#define NB_PW_BINARY(name, dt, fwd, fk, sv, da, db, bk, test) PW_IF_##dt(PW_CASE(name, PW_LOOP3, pw_db_##name, bk))
#define NB_PW_BINARY_K NB_PW_BINARY
#include "nb_pointwise.def"
        default: break;
        }
    }
}
#endif

/* ---- compare and where (written out here, not table rows: their own entry points) ------------ */
#define PW_CMP_FAST(OPER) NB__SIMD for (int64_t i = 0; i < n; i++) o[i] = x[i] OPER y[i]
#define PW_CMP_STRIDED(OPER)                                                                         \
    for (int64_t i = 0; i < n; i++)                                                                  \
    o[i * s[0]] = *(const T *)(p[1] + i * s[1]) OPER * (const T *)(p[2] + i * s[2])
#if !NB__KV_AVX2 /* (no AVX2 copy: defined once) */
static void PW_FN(pw_cmp)(char **p, const int64_t *s, int64_t n, void *ctx)
{
    const ew_ctx *c = ctx;
    const int64_t es = (int64_t)sizeof(T);
    uint8_t *o = (uint8_t *)p[0];
    if (s[0] == 1 && s[1] == es && s[2] == es) {
        const T *x = (const T *)p[1], *y = (const T *)p[2];
        PW_CMP_CASES(PW_CMP_FAST)
    } else {
        PW_CMP_CASES(PW_CMP_STRIDED)
    }
}
#endif

/* Scalar comparisons: float types compare in their own type (as PyTorch converts the scalar),
 * integer types in double (exact for |x| < 2^53, and right for fractional s). */
#define PW_CMPS_LOOP(OPER) \
    for (int64_t i = 0; i < n; i++) o[i * s[0]] = (cmp_t) * (const T *)(p[1] + i * s[1]) OPER y
#if !NB__KV_AVX2 /* (no AVX2 copy: defined once) */
static void PW_FN(pw_cmps)(char **p, const int64_t *s, int64_t n, void *ctx)
{
#if NB_PW_FLT
    typedef T cmp_t;
#else
    typedef double cmp_t;
#endif
    const ew_ctx *c = ctx;
    const cmp_t y = (cmp_t)c->p0;
    uint8_t *o = (uint8_t *)p[0];
    PW_CMP_CASES(PW_CMPS_LOOP)
}
#endif

#if !NB__KV_AVX2 /* (no AVX2 copy: defined once) */
static void PW_FN(pw_where)(char **p, const int64_t *s, int64_t n, void *ctx)
{
    (void)ctx;
    const int64_t es = (int64_t)sizeof(T);
    if (s[0] == es && s[1] == 1 && s[2] == es && s[3] == es) {
        T *o = (T *)p[0];
        const uint8_t *m = (const uint8_t *)p[1];
        const T *x = (const T *)p[2], *y = (const T *)p[3];
        NB__SIMD for (int64_t i = 0; i < n; i++) o[i] = m[i] ? x[i] : y[i];
        return;
    }
    for (int64_t i = 0; i < n; i++)
        *(T *)(p[0] + i * s[0]) = *(const uint8_t *)(p[1] + i * s[1]) ? *(const T *)(p[2] + i * s[2])
                                                                       : *(const T *)(p[3] + i * s[3]);
}
#endif
#undef PW_CMP_FAST
#undef PW_CMP_STRIDED
#undef PW_CMPS_LOOP

#undef PW_CASE
#undef PW_LOOP1
#undef PW_LOOP2
#undef PW_STRIDED2
#undef PW_LOOP3
#undef PW_STRIDED3
#undef PW_UFN
#undef PW_DFN
#undef PW_BFN
#undef PW_GFN
#undef PW_PFN
#undef PW_SAVED_X
#undef PW_SAVED_Y
#undef PW_SAVED_NONE
#undef PW_IF_SAME_SAME
#undef PW_IF_SAME_BOOL
#undef PW_IF_BOOL_SAME
#undef PW_IF_BOOL_BOOL
#undef PW_IF_NUM
#undef PW_IF_FLT
#undef PW_IF_BOOL
#undef PW_VEC_VECF
#undef PW_U
#undef PW_FN
#undef T
/* (NB_T and NB_PW_*: k_pointwise_kv.h undefines them after the last inclusion) */
