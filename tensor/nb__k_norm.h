/* nb__k_norm.h — internal: RMSNorm, rotary embedding, GroupNorm, BatchNorm and pointwise/NLL loss
 * kernels over contiguous buffers. No autograd. Statistics are double (accumulated in double over
 * fixed lanes: the results do not depend on the thread count or the vector width). Pointer
 * arguments documented "may be NULL" are skipped when NULL. */
#ifndef NB__K_NORM_H
#define NB__K_NORM_H

#include "nb__tensor.h"

/* ---- RMSNorm over rows x [N, C]: y = x * rstd * w, rstd = 1/sqrt(mean_j x^2 + eps) ---------- */
/* w [C] may be NULL; writes rstd[N]. */
NB__INTERNAL void nb__k_rms_norm_forward(nb_dtype dt, int64_t N, int64_t C, const void *x, const void *w,
                                         double eps, void *y, double *rstd);
/* xhat = x * rstd, gw = dy * w: dx = rstd * (gw - xhat * mean_j(gw * xhat)); dw = sum_rows dy * xhat.
 * dx, dw may be NULL (overwritten, not accumulated). */
NB__INTERNAL void nb__k_rms_norm_backward(nb_dtype dt, int64_t N, int64_t C, const void *x, const void *w,
                                          const double *rstd, const void *dy, void *dx, void *dw);

/* ---- rotary embedding: x [R, T, D] (D even), position of row t is offset + t ---------------- */
/* Pairs (2i, 2i+1) rotated by angle pos * theta^(-2i/D) (inverse: by minus that angle). y may
 * not alias x. */
NB__INTERNAL void nb__k_rope(nb_dtype dt, int64_t R, int64_t T, int64_t D, int64_t offset, double theta,
                             bool inverse, const void *x, void *y);

/* ---- GroupNorm: x [N, C, S], G groups of C/G channels; stats per (n, g) over (C/G)*S -------- */
/* w, b [C] may be NULL; writes mean, rstd [N*G]. */
NB__INTERNAL void nb__k_group_norm_forward(nb_dtype dt, int64_t N, int64_t C, int64_t S, int64_t G,
                                           const void *x, const void *w, const void *b, double eps, void *y,
                                           double *mean, double *rstd);
/* dx = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)) per group (gw = dy * w[c]);
 * dw[c] = sum dy * xhat, db[c] = sum dy over n and S. dx, dw, db may be NULL. */
NB__INTERNAL void nb__k_group_norm_backward(nb_dtype dt, int64_t N, int64_t C, int64_t S, int64_t G,
                                            const void *x, const void *w, const double *mean,
                                            const double *rstd, const void *dy, void *dx, void *dw, void *db);

/* ---- BatchNorm: x [N, C, S], statistics per channel over N and S ----------------------------- */
/* mean[c] and biased var[c] of x (two-pass, double). */
NB__INTERNAL void nb__k_batch_norm_stats(nb_dtype dt, int64_t N, int64_t C, int64_t S, const void *x, double *mean,
                                         double *var);
/* y = (x - mean[c]) * rstd[c] * w[c] + b[c]; w, b may be NULL. */
NB__INTERNAL void nb__k_batch_norm_apply(nb_dtype dt, int64_t N, int64_t C, int64_t S, const void *x,
                                         const double *mean, const double *rstd, const void *w, const void *b,
                                         void *y);
/* xhat = (x - mean) * rstd, gw = dy * w[c]. training: dx = rstd*(gw - mean(gw) - xhat*mean(gw*xhat))
 * (means over N and S); eval: dx = rstd * gw. dw[c] = sum dy * xhat, db[c] = sum dy. Any of dx, dw,
 * db may be NULL. */
NB__INTERNAL void nb__k_batch_norm_backward(nb_dtype dt, int64_t N, int64_t C, int64_t S, const void *x,
                                            const void *w, const double *mean, const double *rstd, bool training,
                                            const void *dy, void *dx, void *dw, void *db);

/* ---- pointwise losses ------------------------------------------------------------------------ */
typedef enum {
    NB__LOSS_MSE,
    NB__LOSS_L1,
    NB__LOSS_SMOOTH_L1, /* param: beta */
    NB__LOSS_HUBER,     /* param: delta */
    NB__LOSS_BCE_LOGITS,
    NB__LOSS_KL_DIV,
    NB__LOSS_KL_DIV_LOG /* kl_div with log_target */
} nb__loss_kind;
/* loss[i] (double) of input x[i] and target t[i], all [n] of x's dtype. w, pw (BCE only: weight
 * and pos_weight, already broadcast to [n]) may be NULL. */
NB__INTERNAL void nb__k_loss_forward(nb_dtype dt, nb__loss_kind kind, int64_t n, const void *x, const void *t,
                                     const void *w, const void *pw, double param, double *loss);
/* Gradients of the element losses scaled by g[i] (g NULL: by gs): into dx, dt, dw, dpw ([n] each,
 * may be NULL; dw and dpw only for BCE). */
NB__INTERNAL void nb__k_loss_backward(nb_dtype dt, nb__loss_kind kind, int64_t n, const void *x, const void *t,
                                      const void *w, const void *pw, double param, const void *g, double gs,
                                      void *dx, void *dt_, void *dw, void *dpw);

/* ---- class losses over x [N, C, D] (class c of item (n, d) at (n*C + c)*D + d) ---------------- */
/* NLL: loss[n*D+d] = -w[t] * x[n, t, d] and wsum[n*D+d] = w[t] (both 0 where t == ignore);
 * t [N*D] int64 in range (checked by the caller); w [C] may be NULL (ones). */
NB__INTERNAL void nb__k_nll_forward(nb_dtype dt, int64_t N, int64_t C, int64_t D, const void *x, const int64_t *t,
                                    const void *w, int64_t ignore, double *loss, double *wsum);
/* dx (zeroed here) [n, t, d] = -w[t] * scale[n*D+d]. */
NB__INTERNAL void nb__k_nll_backward(nb_dtype dt, int64_t N, int64_t C, int64_t D, const int64_t *t, const void *w,
                                     int64_t ignore, const double *scale, void *dx);
/* Cross-entropy with probability targets p (smoothed p' = (1-eps) p + eps/C):
 * loss[n*D+d] = -sum_c p'_c (x_c - lse), lse[n*D+d] the log-sum-exp over classes. */
NB__INTERNAL void nb__k_ce_prob_forward(nb_dtype dt, int64_t N, int64_t C, int64_t D, const void *x, const void *p,
                                        double eps, double *loss, double *lse);
/* dx = s * (softmax * sum_c p'_c - p'), dp = -s * (1-eps) * (x - lse), s = scale[n*D+d]; dx, dp may be NULL. */
NB__INTERNAL void nb__k_ce_prob_backward(nb_dtype dt, int64_t N, int64_t C, int64_t D, const void *x, const void *p,
                                         double eps, const double *lse, const double *scale, void *dx, void *dp);

#endif
