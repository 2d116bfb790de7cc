/* k_nn.c — fused LayerNorm and cross-entropy kernels, written once per element type T.
 * Rows are independent; parallel loops split rows (or columns for dw/db), never one reduction,
 * so results are identical for any thread count. */
#include "config.h"
/* lets GCC if-convert the clamps of nb__exp_vec_f32 (no change to results; see k_elementwise.c) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "nb__k_nn.h"
#include "nb__vmath.h"

#include <math.h>
#include <tgmath.h>

/* ---- LayerNorm ------------------------------------------------------------------------------ */
/* Row sums in double over 8 fixed lanes (element j always goes to lane j % 8, lanes combined in
 * one fixed tree), so the loops vectorize and the result does not depend on the vector width. */
#define LN_LANES 8
static inline double lanes_total(const double *a)
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

#define NB__LN_FORWARD(E, T)                                                                       \
    NB__TARGET_CLONES static void ln_row_forward_##T(int64_t C, const T *restrict xi, const T *w,  \
                                                     const T *b, double eps, T *restrict yi,      \
                                                     double *mean, double *rstd)                   \
    {                                                                                              \
        double a[LN_LANES] = {0};                                                                  \
        int64_t j = 0;                                                                             \
        for (; j + LN_LANES <= C; j += LN_LANES)                                                   \
            for (int l = 0; l < LN_LANES; l++)                                                     \
                a[l] += xi[j + l];                                                                 \
        for (int l = 0; j + l < C; l++)                                                            \
            a[l] += xi[j + l];                                                                     \
        double m = lanes_total(a) / (double)C;                                                     \
        double q[LN_LANES] = {0};                                                                  \
        for (j = 0; j + LN_LANES <= C; j += LN_LANES)                                              \
            for (int l = 0; l < LN_LANES; l++) {                                                   \
                double d = xi[j + l] - m;                                                          \
                q[l] += d * d;                                                                     \
            }                                                                                      \
        for (int l = 0; j + l < C; l++) {                                                          \
            double d = xi[j + l] - m;                                                              \
            q[l] += d * d;                                                                         \
        }                                                                                          \
        double r = 1.0 / sqrt(lanes_total(q) / (double)C + eps);                                   \
        *mean = m;                                                                                 \
        *rstd = r;                                                                                 \
        T mt = (T)m, rt = (T)r;                                                                    \
        if (w && b) {                                                                              \
            _Pragma("omp simd") for (int64_t k = 0; k < C; k++) yi[k] = (xi[k] - mt) * rt * w[k] + b[k]; \
        } else if (w) {                                                                            \
            _Pragma("omp simd") for (int64_t k = 0; k < C; k++) yi[k] = (xi[k] - mt) * rt * w[k] + (T)0; \
        } else if (b) {                                                                            \
            _Pragma("omp simd") for (int64_t k = 0; k < C; k++) yi[k] = (xi[k] - mt) * rt + b[k];  \
        } else {                                                                                   \
            _Pragma("omp simd") for (int64_t k = 0; k < C; k++) yi[k] = (xi[k] - mt) * rt + (T)0;  \
        }                                                                                          \
    }                                                                                              \
    static void ln_forward_##T(int64_t N, int64_t C, const T *x, const T *w, const T *b, double eps,  \
                               T *y, double *mean, double *rstd)                                   \
    {                                                                                              \
        int nt = nb__threads_for(N * C);                                                           \
        NB__OMP_PARALLEL_FOR(nt)                                                                   \
        for (int64_t i = 0; i < N; i++)                                                            \
            ln_row_forward_##T(C, x + i * C, w, b, eps, y + i * C, mean + i, rstd + i);            \
    }
NB__FLOAT_TYPES(NB__LN_FORWARD)
#undef NB__LN_FORWARD

/* One pass over fixed chunks of LN_CHUNK rows, chunks in parallel: each chunk computes its dx rows
 * and its partial dw/db column sums (double); the partials are then added in chunk order. The
 * chunking depends only on N, so every sum has one fixed order whatever the thread count. */
#define LN_CHUNK 32
#define NB__LN_BACKWARD(E, T)                                                                      \
    NB__TARGET_CLONES static void ln_dx_row_##T(int64_t C, const T *xi, const T *gi, const T *w, T mt, T rt, \
                                     T *o)                                                         \
    {                                                                                              \
        double a1[LN_LANES] = {0}, a2[LN_LANES] = {0};                                             \
        int64_t j = 0;                                                                             \
        for (; j + LN_LANES <= C; j += LN_LANES)                                                   \
            for (int l = 0; l < LN_LANES; l++) {                                                   \
                T h = (xi[j + l] - mt) * rt;                                                       \
                T gw = w ? gi[j + l] * w[j + l] : gi[j + l];                                       \
                a1[l] += gw;                                                                       \
                a2[l] += gw * h;                                                                   \
            }                                                                                      \
        for (int l = 0; j + l < C; l++) {                                                          \
            T h = (xi[j + l] - mt) * rt;                                                           \
            T gw = w ? gi[j + l] * w[j + l] : gi[j + l];                                           \
            a1[l] += gw;                                                                           \
            a2[l] += gw * h;                                                                       \
        }                                                                                          \
        T m1 = (T)(lanes_total(a1) / (double)C), m2 = (T)(lanes_total(a2) / (double)C);            \
        if (w) {                                                                                   \
            _Pragma("omp simd") for (int64_t k = 0; k < C; k++) {                                  \
                T h = (xi[k] - mt) * rt;                                                           \
                o[k] = rt * (gi[k] * w[k] - m1 - h * m2);                                          \
            }                                                                                      \
        } else {                                                                                   \
            _Pragma("omp simd") for (int64_t k = 0; k < C; k++) {                                  \
                T h = (xi[k] - mt) * rt;                                                           \
                o[k] = rt * (gi[k] - m1 - h * m2);                                                 \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    /* aw[j] += dy[j] * xhat[j], ab[j] += dy[j] over one row (double: the dw/db partial sums) */    \
    NB__TARGET_CLONES static void ln_dwb_row_##T(int64_t C, const T *xi, const T *gi, double mi,     \
                                                 double ri, double *restrict aw, double *restrict ab) \
    {                                                                                              \
        _Pragma("omp simd") for (int64_t j = 0; j < C; j++) {                                      \
            aw[j] += gi[j] * ((xi[j] - mi) * ri);                                                  \
            ab[j] += gi[j];                                                                        \
        }                                                                                          \
    }                                                                                              \
    static void ln_backward_##T(int64_t N, int64_t C, const T *x, const T *w, const double *mean,    \
                                const double *rstd, const T *dy, T *dx, T *dw, T *db)              \
    {                                                                                              \
        int64_t nch = (N + LN_CHUNK - 1) / LN_CHUNK;                                               \
        bool sums = dw || db;                                                                      \
        size_t psz = sums ? (size_t)nch * 2 * (size_t)C * sizeof(double) : 0;                      \
        double *part = sums ? nb__alloc(psz) : NULL;                                               \
        int nt = nb__threads_for(N * C * 2);                                                       \
        NB__OMP_PARALLEL_FOR(nt)                                                                   \
        for (int64_t ch = 0; ch < nch; ch++) {                                                     \
            double *aw = sums ? part + ch * 2 * C : NULL, *ab = sums ? aw + C : NULL;              \
            for (int64_t j = 0; sums && j < 2 * C; j++)                                            \
                aw[j] = 0;                                                                         \
            int64_t i1 = (ch + 1) * LN_CHUNK < N ? (ch + 1) * LN_CHUNK : N;                        \
            for (int64_t i = ch * LN_CHUNK; i < i1; i++) {                                         \
                const T *xi = x + i * C, *gi = dy + i * C;                                         \
                if (dx)                                                                            \
                    ln_dx_row_##T(C, xi, gi, w, (T)mean[i], (T)rstd[i], dx + i * C);               \
                if (!sums)                                                                         \
                    continue;                                                                      \
                ln_dwb_row_##T(C, xi, gi, mean[i], rstd[i], aw, ab);                               \
            }                                                                                      \
        }                                                                                          \
        if (!sums)                                                                                 \
            return;                                                                                \
        for (int64_t j = 0; j < C; j++) {                                                          \
            double sw = 0, sb = 0;                                                                 \
            for (int64_t ch = 0; ch < nch; ch++) {                                                 \
                sw += part[ch * 2 * C + j];                                                        \
                sb += part[ch * 2 * C + C + j];                                                    \
            }                                                                                      \
            if (dw)                                                                                \
                dw[j] = (T)sw;                                                                     \
            if (db)                                                                                \
                db[j] = (T)sb;                                                                     \
        }                                                                                          \
        nb__free(part, psz);                                                                       \
    }
NB__FLOAT_TYPES(NB__LN_BACKWARD)
#undef NB__LN_BACKWARD

void nb__k_layer_norm_forward(nb_dtype dt, int64_t N, int64_t C, const void *x, const void *w, const void *b,
                              double eps, void *y, double *mean, double *rstd)
{
    switch (dt) {
#define NB_X(E, T) case E: ln_forward_##T(N, C, x, w, b, eps, y, mean, rstd); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_layer_norm: unsupported dtype %s", nb_dtype_name(dt));
    }
}

void nb__k_layer_norm_backward(nb_dtype dt, int64_t N, int64_t C, const void *x, const void *w, const double *mean,
                               const double *rstd, const void *dy, void *dx, void *dw, void *db)
{
    switch (dt) {
#define NB_X(E, T) case E: ln_backward_##T(N, C, x, w, mean, rstd, dy, dx, dw, db); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_layer_norm: unsupported dtype %s", nb_dtype_name(dt));
    }
}

/* ---- cross-entropy -------------------------------------------------------------------------- */
/* One row of V logits. float computes exp with nb__exp_vec_f32 (vectorizes; <= 1 ulp), double
 * with libm. Sums are in double over CE_LANES fixed lanes (element j to lane j % 8, one fixed
 * combination), so the AVX2 and baseline builds (NB__TARGET_CLONES) give identical results. */
#define CE_LANES 8
static inline float ce_exp_float(float x) { return nb__exp_vec_f32(x); }
static inline double ce_exp_double(double x) { return exp(x); }
/* 'omp simd' for the float loops only: the double ones call libm (clang warns when a requested
 * vectorization fails). */
#define CE_SIMD_float _Pragma("omp simd")
#define CE_SIMD_double
#define NB__CE(E, T)                                                                               \
    /* *lse = log-sum-exp of the row, *sx = its sum */                                            \
    NB__TARGET_CLONES static void ce_row_forward_##T(int64_t V, const T *restrict xi, double *lse,  \
                                                     double *sx)                                   \
    {                                                                                              \
        T mx = -INFINITY;                                                                          \
        for (int64_t j = 0; j < V; j++)                                                            \
            mx = xi[j] > mx ? xi[j] : mx;                                                          \
        double s[CE_LANES] = {0}, a[CE_LANES] = {0};                                               \
        int64_t j = 0;                                                                             \
        for (; j + CE_LANES <= V; j += CE_LANES)                                                   \
            CE_SIMD_##T for (int l = 0; l < CE_LANES; l++) {                                       \
                s[l] += (double)ce_exp_##T(xi[j + l] - mx);                                        \
                a[l] += (double)xi[j + l];                                                         \
            }                                                                                      \
        for (int l = 0; j < V; j++, l++) {                                                         \
            s[l] += (double)ce_exp_##T(xi[j] - mx);                                                \
            a[l] += (double)xi[j];                                                                 \
        }                                                                                          \
        *lse = (double)mx + log(lanes_total(s));                                                   \
        *sx = lanes_total(a);                                                                      \
    }                                                                                              \
    /* o = sc * (exp(x - l) - off) */                                                              \
    NB__TARGET_CLONES static void ce_row_backward_##T(int64_t V, const T *restrict xi, T *restrict o, \
                                                      T sc, T l, T off)                            \
    {                                                                                              \
        CE_SIMD_##T for (int64_t j = 0; j < V; j++)                                                \
            o[j] = sc * (ce_exp_##T(xi[j] - l) - off);                                             \
    }                                                                                              \
    static void ce_forward_##T(int64_t N, int64_t V, const T *x, const int64_t *t, int64_t ignore,   \
                               double eps, double *loss, double *lse)                              \
    {                                                                                              \
        int nt = nb__threads_for(N * V * 4);                                                       \
        NB__OMP_PARALLEL_FOR(nt)                                                                   \
        for (int64_t i = 0; i < N; i++) {                                                          \
            const T *xi = x + i * V;                                                               \
            double l, sx;                                                                          \
            ce_row_forward_##T(V, xi, &l, &sx);                                                    \
            lse[i] = l;                                                                            \
            if (t[i] == ignore) {                                                                  \
                loss[i] = 0;                                                                       \
                continue;                                                                          \
            }                                                                                      \
            loss[i] = l - (1 - eps) * (double)xi[t[i]] - eps * sx / (double)V;                     \
        }                                                                                          \
    }                                                                                              \
    static void ce_backward_##T(int64_t N, int64_t V, const T *x, const int64_t *t, const double *lse,  \
                                double eps, const double *scale, T *dx)                            \
    {                                                                                              \
        int nt = nb__threads_for(N * V * 4);                                                       \
        NB__OMP_PARALLEL_FOR(nt)                                                                   \
        for (int64_t i = 0; i < N; i++) {                                                          \
            const T *xi = x + i * V;                                                               \
            T *o = dx + i * V;                                                                     \
            if (scale[i] == 0) {                                                                   \
                for (int64_t j = 0; j < V; j++)                                                    \
                    o[j] = 0;                                                                      \
                continue;                                                                          \
            }                                                                                      \
            ce_row_backward_##T(V, xi, o, (T)scale[i], (T)lse[i], (T)(eps / (double)V));          \
            o[t[i]] -= (T)scale[i] * (T)(1 - eps);                                                 \
        }                                                                                          \
    }
NB__FLOAT_TYPES(NB__CE)
#undef NB__CE

void nb__k_cross_entropy_forward(nb_dtype dt, int64_t N, int64_t V, const void *logits, const int64_t *targets,
                                 int64_t ignore_index, double eps_ls, double *loss, double *lse)
{
    switch (dt) {
#define NB_X(E, T) case E: ce_forward_##T(N, V, logits, targets, ignore_index, eps_ls, loss, lse); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_cross_entropy: unsupported dtype %s", nb_dtype_name(dt));
    }
}

void nb__k_cross_entropy_backward(nb_dtype dt, int64_t N, int64_t V, const void *logits, const int64_t *targets,
                                  const double *lse, double eps_ls, const double *scale, void *dlogits)
{
    switch (dt) {
#define NB_X(E, T) case E: ce_backward_##T(N, V, logits, targets, lse, eps_ls, scale, dlogits); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_cross_entropy: unsupported dtype %s", nb_dtype_name(dt));
    }
}

/* ---- linear: bias rows and column sums ------------------------------------------------------ */
#define NB__BIAS(E, T)                                                                             \
    static void bias_add_##T(int64_t N, int64_t C, T *y, const T *b)                               \
    {                                                                                              \
        for (int64_t i = 0; i < N; i++) {                                                          \
            T *yi = y + i * C;                                                                     \
            _Pragma("omp simd") for (int64_t j = 0; j < C; j++) yi[j] += b[j];                     \
        }                                                                                          \
    }                                                                                              \
    static void col_sum_##T(int64_t N, int64_t C, const T *g, T *out)                              \
    {                                                                                              \
        double *acc = nb__alloc((size_t)(C ? C : 1) * sizeof *acc);                                \
        for (int64_t j = 0; j < C; j++)                                                            \
            acc[j] = 0;                                                                            \
        for (int64_t i = 0; i < N; i++) { /* rows in order: independent of the thread count */    \
            const T *gi = g + i * C;                                                               \
            _Pragma("omp simd") for (int64_t j = 0; j < C; j++) acc[j] += (double)gi[j];           \
        }                                                                                          \
        for (int64_t j = 0; j < C; j++)                                                            \
            out[j] = (T)acc[j];                                                                    \
        nb__free(acc, (size_t)(C ? C : 1) * sizeof *acc);                                          \
    }
NB__FLOAT_TYPES(NB__BIAS)
#undef NB__BIAS

void nb__k_bias_add_rows(nb_dtype dt, int64_t N, int64_t C, void *y, const void *b)
{
    switch (dt) {
#define NB_X(E, T) case E: bias_add_##T(N, C, y, b); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_fused_linear: unsupported dtype %s", nb_dtype_name(dt));
    }
}

void nb__k_col_sum(nb_dtype dt, int64_t N, int64_t C, const void *g, void *out)
{
    switch (dt) {
#define NB_X(E, T) case E: col_sum_##T(N, C, g, out); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_fused_linear: unsupported dtype %s", nb_dtype_name(dt));
    }
}
