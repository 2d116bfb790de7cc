/* k_nn.c — fused LayerNorm and cross-entropy kernels, written once per element type T.
 * Rows are independent; parallel loops split rows (or columns for dw/db), never one reduction,
 * so results are identical for any thread count. */
#include "config.h"
#include "nb__k_nn.h"

#include <math.h>
#include <tgmath.h>

/* ---- LayerNorm ------------------------------------------------------------------------------ */
#define NB__LN_FORWARD(E, T)                                                                       \
    static void ln_forward_##T(int64_t N, int64_t C, const T *x, const T *w, const T *b, double eps,  \
                               T *y, double *mean, double *rstd)                                   \
    {                                                                                              \
        int nt = nb__threads_for(N * C);                                                           \
        NB__OMP_PARALLEL_FOR(nt)                               \
        for (int64_t i = 0; i < N; i++) {                                                          \
            const T *xi = x + i * C;                                                               \
            T *yi = y + i * C;                                                                     \
            double s = 0;                                                                          \
            for (int64_t j = 0; j < C; j++)                                                        \
                s += xi[j];                                                                        \
            double m = s / (double)C, v = 0;                                                       \
            for (int64_t j = 0; j < C; j++) {                                                      \
                double d = xi[j] - m;                                                              \
                v += d * d;                                                                        \
            }                                                                                      \
            double r = 1.0 / sqrt(v / (double)C + eps);                                            \
            mean[i] = m;                                                                           \
            rstd[i] = r;                                                                           \
            T mt = (T)m, rt = (T)r;                                                                \
            for (int64_t j = 0; j < C; j++) {                                                      \
                T h = (xi[j] - mt) * rt;                                                           \
                yi[j] = h * (w ? w[j] : (T)1) + (b ? b[j] : (T)0);                                 \
            }                                                                                      \
        }                                                                                          \
    }
NB__FLOAT_TYPES(NB__LN_FORWARD)
#undef NB__LN_FORWARD

#define NB__LN_BACKWARD(E, T)                                                                      \
    static void ln_backward_##T(int64_t N, int64_t C, const T *x, const T *w, const double *mean,    \
                                const double *rstd, const T *dy, T *dx, T *dw, T *db)              \
    {                                                                                              \
        int nt = nb__threads_for(N * C);                                                           \
        if (dx) {                                                                                  \
            NB__OMP_PARALLEL_FOR(nt)                           \
            for (int64_t i = 0; i < N; i++) {                                                      \
                const T *xi = x + i * C, *gi = dy + i * C;                                         \
                T *o = dx + i * C;                                                                 \
                T mt = (T)mean[i], rt = (T)rstd[i];                                                \
                double s1 = 0, s2 = 0;                                                             \
                for (int64_t j = 0; j < C; j++) {                                                  \
                    T h = (xi[j] - mt) * rt;                                                       \
                    T gw = gi[j] * (w ? w[j] : (T)1);                                              \
                    s1 += gw;                                                                      \
                    s2 += gw * h;                                                                  \
                }                                                                                  \
                T m1 = (T)(s1 / (double)C), m2 = (T)(s2 / (double)C);                              \
                for (int64_t j = 0; j < C; j++) {                                                  \
                    T h = (xi[j] - mt) * rt;                                                       \
                    T gw = gi[j] * (w ? w[j] : (T)1);                                              \
                    o[j] = rt * (gw - m1 - h * m2);                                                \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        if (dw || db) {                                                                            \
            NB__OMP_PARALLEL_FOR(nt)                           \
            for (int64_t j0 = 0; j0 < C; j0 += 16) {                                               \
                int64_t j1 = j0 + 16 < C ? j0 + 16 : C;                                            \
                double aw[16] = {0}, ab[16] = {0};                                                 \
                for (int64_t i = 0; i < N; i++) {                                                  \
                    const T *xi = x + i * C, *gi = dy + i * C;                                     \
                    double mi = mean[i], ri = rstd[i];                                             \
                    for (int64_t j = j0; j < j1; j++) {                                            \
                        aw[j - j0] += gi[j] * ((xi[j] - mi) * ri);                                 \
                        ab[j - j0] += gi[j];                                                       \
                    }                                                                              \
                }                                                                                  \
                for (int64_t j = j0; j < j1; j++) {                                                \
                    if (dw)                                                                        \
                        dw[j] = (T)aw[j - j0];                                                     \
                    if (db)                                                                        \
                        db[j] = (T)ab[j - j0];                                                     \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
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
#define NB__CE(E, T)                                                                               \
    static void ce_forward_##T(int64_t N, int64_t V, const T *x, const int64_t *t, int64_t ignore,   \
                               double eps, double *loss, double *lse)                              \
    {                                                                                              \
        int nt = nb__threads_for(N * V);                                                           \
        NB__OMP_PARALLEL_FOR(nt)                               \
        for (int64_t i = 0; i < N; i++) {                                                          \
            const T *xi = x + i * V;                                                               \
            double mx = -INFINITY;                                                                 \
            for (int64_t j = 0; j < V; j++)                                                        \
                mx = xi[j] > mx ? xi[j] : mx;                                                      \
            double s = 0, sx = 0;                                                                  \
            for (int64_t j = 0; j < V; j++) {                                                      \
                s += exp((double)xi[j] - mx);                                                      \
                sx += xi[j];                                                                       \
            }                                                                                      \
            double l = mx + log(s);                                                                \
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
        int nt = nb__threads_for(N * V);                                                           \
        NB__OMP_PARALLEL_FOR(nt)                               \
        for (int64_t i = 0; i < N; i++) {                                                          \
            const T *xi = x + i * V;                                                               \
            T *o = dx + i * V;                                                                     \
            if (scale[i] == 0) {                                                                   \
                for (int64_t j = 0; j < V; j++)                                                    \
                    o[j] = 0;                                                                      \
                continue;                                                                          \
            }                                                                                      \
            T sc = (T)scale[i], l = (T)lse[i], off = (T)(eps / (double)V);                         \
            for (int64_t j = 0; j < V; j++)                                                        \
                o[j] = sc * (exp(xi[j] - l) - off);                                                \
            o[t[i]] -= sc * (T)(1 - eps);                                                          \
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
