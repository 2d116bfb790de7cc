/* k_norm.c — RMSNorm, rotary embedding, GroupNorm, BatchNorm and loss kernels (nb__k_norm.h).
 * The loops are written once in k_norm_impl.h and instantiated per float type. Parallel loops
 * split rows, groups or channels (each written by one thread; cross-row sums in a fixed order),
 * so results are bit-identical for any thread count. */
#include "config.h"
#include "nb__k_norm.h"
#include "nb__kv.h"

#include <math.h>

/* Row sums in double over KN_LANES fixed lanes (element j to lane j % 8, lanes combined in one
 * fixed tree): the loops vectorize and the result does not depend on the vector width. */
#define KN_LANES 8
#define KN_CHUNK 32
static inline double kn_lanes_total(const double *a)
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* log(1 + exp(z)) without overflow */
static double kn_softplus(double z) { return fmax(z, 0.0) + log1p(exp(-fabs(z))); }

/* The loss of one element (w: weight, pw: pos_weight; both 1 unless BCE). */
static double kn_loss(nb__loss_kind kind, double x, double t, double w, double pw, double param)
{
    double d = x - t, a = fabs(d);
    switch (kind) {
    case NB__LOSS_MSE: return d * d;
    case NB__LOSS_L1: return a;
    case NB__LOSS_SMOOTH_L1: return param == 0 || a >= param ? a - 0.5 * param : 0.5 * d * d / param;
    case NB__LOSS_HUBER: return a < param ? 0.5 * d * d : param * (a - 0.5 * param);
    case NB__LOSS_BCE_LOGITS: return w * ((1 - t) * x + (1 + (pw - 1) * t) * kn_softplus(-x));
    case NB__LOSS_KL_DIV: return (t > 0 ? t * log(t) : 0.0) - t * x;
    case NB__LOSS_KL_DIV_LOG: return exp(t) * (t - x);
    }
    return 0;
}

/* d[0..3] = the element loss's derivatives in x, t, w, pw. */
static void kn_loss_grad(nb__loss_kind kind, double x, double t, double w, double pw, double param, double *d)
{
    double df = x - t, a = fabs(df), sg = (df > 0) - (df < 0);
    d[2] = d[3] = 0;
    switch (kind) {
    case NB__LOSS_MSE: d[0] = 2 * df; break;
    case NB__LOSS_L1: d[0] = sg; break;
    case NB__LOSS_SMOOTH_L1: d[0] = param == 0 || a >= param ? sg : df / param; break;
    case NB__LOSS_HUBER: d[0] = a < param ? df : param * sg; break;
    case NB__LOSS_BCE_LOGITS: {
        double lw = 1 + (pw - 1) * t, sp = kn_softplus(-x), sig = 1 / (1 + exp(x)); /* sigmoid(-x) */
        d[0] = w * ((1 - t) - lw * sig);
        d[1] = w * (-x + (pw - 1) * sp);
        d[2] = (1 - t) * x + lw * sp;
        d[3] = w * t * sp;
        return;
    }
    case NB__LOSS_KL_DIV:
        d[0] = -t;
        d[1] = (t > 0 ? log(t) + 1 : 0.0) - x;
        return;
    case NB__LOSS_KL_DIV_LOG:
        d[0] = -exp(t);
        d[1] = exp(t) * (t - x + 1);
        return;
    }
    d[1] = -d[0];
}

#define KN(name) KN_(name, NB_T)
#define KN_(a, b) KN__(a, b)
#define KN__(a, b) a##_##b
/* The row loops once built for AVX2 (NB__KV_AVX2 1: only them), then the baseline with the rest,
 * which calls the copy in force (nb__kv.h). */
#ifdef NB__KV_HAVE_AVX2
#define NB__KV_AVX2 1
#define NB_T float
#include "k_norm_impl.h"
#undef NB_T
#define NB_T double
#include "k_norm_impl.h"
#undef NB_T
#undef NB__KV_AVX2
#endif
#define NB__KV_AVX2 0
#define NB_T float
#include "k_norm_impl.h"
#undef NB_T
#define NB_T double
#include "k_norm_impl.h"
#undef NB_T
#undef NB__KV_AVX2

/* ---- dtype dispatch ------------------------------------------------------------------------- */
#define KN_DISPATCH(op, call_f, call_d)                                                  \
    switch (dt) {                                                                        \
    case NB_F32: call_f; break;                                                          \
    case NB_F64: call_d; break;                                                          \
    default: nb__fail("%s: unsupported dtype %s", op, nb_dtype_name(dt));                \
    }

void nb__k_rms_norm_forward(nb_dtype dt, int64_t N, int64_t C, const void *x, const void *w, double eps, void *y,
                            double *rstd)
{
    KN_DISPATCH("nb_rms_norm", rms_forward_float(N, C, x, w, eps, y, rstd),
                rms_forward_double(N, C, x, w, eps, y, rstd))
}

void nb__k_rms_norm_backward(nb_dtype dt, int64_t N, int64_t C, const void *x, const void *w, const double *rstd,
                             const void *dy, void *dx, void *dw)
{
    KN_DISPATCH("nb_rms_norm", rms_backward_float(N, C, x, w, rstd, dy, dx, dw),
                rms_backward_double(N, C, x, w, rstd, dy, dx, dw))
}

void nb__k_rope(nb_dtype dt, int64_t R, int64_t T, int64_t D, int64_t offset, double theta, bool inverse,
                const void *x, void *y)
{
    KN_DISPATCH("nb_rope", rope_float(R, T, D, offset, theta, inverse, x, y),
                rope_double(R, T, D, offset, theta, inverse, x, y))
}

void nb__k_group_norm_forward(nb_dtype dt, int64_t N, int64_t C, int64_t S, int64_t G, const void *x, const void *w,
                              const void *b, double eps, void *y, double *mean, double *rstd)
{
    KN_DISPATCH("nb_group_norm", gn_forward_float(N, C, S, G, x, w, b, eps, y, mean, rstd),
                gn_forward_double(N, C, S, G, x, w, b, eps, y, mean, rstd))
}

void nb__k_group_norm_backward(nb_dtype dt, int64_t N, int64_t C, int64_t S, int64_t G, const void *x, const void *w,
                               const double *mean, const double *rstd, const void *dy, void *dx, void *dw, void *db)
{
    KN_DISPATCH("nb_group_norm", gn_backward_float(N, C, S, G, x, w, mean, rstd, dy, dx, dw, db),
                gn_backward_double(N, C, S, G, x, w, mean, rstd, dy, dx, dw, db))
}

void nb__k_batch_norm_stats(nb_dtype dt, int64_t N, int64_t C, int64_t S, const void *x, double *mean, double *var)
{
    KN_DISPATCH("nb_batch_norm", bn_stats_float(N, C, S, x, mean, var), bn_stats_double(N, C, S, x, mean, var))
}

void nb__k_batch_norm_apply(nb_dtype dt, int64_t N, int64_t C, int64_t S, const void *x, const double *mean,
                            const double *rstd, const void *w, const void *b, void *y)
{
    KN_DISPATCH("nb_batch_norm", bn_apply_float(N, C, S, x, mean, rstd, w, b, y),
                bn_apply_double(N, C, S, x, mean, rstd, w, b, y))
}

void nb__k_batch_norm_backward(nb_dtype dt, int64_t N, int64_t C, int64_t S, const void *x, const void *w,
                               const double *mean, const double *rstd, bool training, const void *dy, void *dx,
                               void *dw, void *db)
{
    KN_DISPATCH("nb_batch_norm", bn_backward_float(N, C, S, x, w, mean, rstd, training, dy, dx, dw, db),
                bn_backward_double(N, C, S, x, w, mean, rstd, training, dy, dx, dw, db))
}

void nb__k_loss_forward(nb_dtype dt, nb__loss_kind kind, int64_t n, const void *x, const void *t, const void *w,
                        const void *pw, double param, double *loss)
{
    KN_DISPATCH("nb_loss", loss_forward_float(kind, n, x, t, w, pw, param, loss),
                loss_forward_double(kind, n, x, t, w, pw, param, loss))
}

void nb__k_loss_backward(nb_dtype dt, nb__loss_kind kind, int64_t n, const void *x, const void *t, const void *w,
                         const void *pw, double param, const void *g, double gs, void *dx, void *dt_, void *dw,
                         void *dpw)
{
    KN_DISPATCH("nb_loss", loss_backward_float(kind, n, x, t, w, pw, param, g, gs, dx, dt_, dw, dpw),
                loss_backward_double(kind, n, x, t, w, pw, param, g, gs, dx, dt_, dw, dpw))
}

void nb__k_nll_forward(nb_dtype dt, int64_t N, int64_t C, int64_t D, const void *x, const int64_t *t, const void *w,
                       int64_t ignore, double *loss, double *wsum)
{
    KN_DISPATCH("nb_nll_loss", nll_forward_float(N, C, D, x, t, w, ignore, loss, wsum),
                nll_forward_double(N, C, D, x, t, w, ignore, loss, wsum))
}

void nb__k_nll_backward(nb_dtype dt, int64_t N, int64_t C, int64_t D, const int64_t *t, const void *w,
                        int64_t ignore, const double *scale, void *dx)
{
    KN_DISPATCH("nb_nll_loss", nll_backward_float(N, C, D, t, w, ignore, scale, dx),
                nll_backward_double(N, C, D, t, w, ignore, scale, dx))
}

void nb__k_ce_prob_forward(nb_dtype dt, int64_t N, int64_t C, int64_t D, const void *x, const void *p, double eps,
                           double *loss, double *lse)
{
    KN_DISPATCH("nb_cross_entropy", ce_prob_forward_float(N, C, D, x, p, eps, loss, lse),
                ce_prob_forward_double(N, C, D, x, p, eps, loss, lse))
}

void nb__k_ce_prob_backward(nb_dtype dt, int64_t N, int64_t C, int64_t D, const void *x, const void *p, double eps,
                            const double *lse, const double *scale, void *dx, void *dp)
{
    KN_DISPATCH("nb_cross_entropy", ce_prob_backward_float(N, C, D, x, p, eps, lse, scale, dx, dp),
                ce_prob_backward_double(N, C, D, x, p, eps, lse, scale, dx, dp))
}
