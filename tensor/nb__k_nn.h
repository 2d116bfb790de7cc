/* nb__k_nn.h — internal: fused neural-network kernels over contiguous rows. No autograd.
 * Shapes: x, y, dy, dx are [N, C] row-major; weight, bias, dw, db [C] (may be NULL);
 * mean, rstd [N] (always double); logits [N, V]; targets [N] (int32/int64 as int64 here). */
#ifndef NB__K_NN_H
#define NB__K_NN_H

#include "nb__tensor.h"

/* y = (x - mean) * rstd * w + b per row; writes mean and rstd (two-pass, double accumulation). */
NB__INTERNAL void nb__k_layer_norm_forward(nb_dtype dt, int64_t N, int64_t C, const void *x, const void *w,
                                           const void *b, double eps, void *y, double *mean, double *rstd);
/* dx (if not NULL) = rstd*(dy*w - mean(dy*w) - xhat*mean(dy*w*xhat)); dw += sum_rows dy*xhat and
 * db += sum_rows dy (when not NULL; they are overwritten, not accumulated). */
NB__INTERNAL void nb__k_layer_norm_backward(nb_dtype dt, int64_t N, int64_t C, const void *x, const void *w,
                                            const double *mean, const double *rstd, const void *dy, void *dx,
                                            void *dw, void *db);

/* Per-row loss (ignored rows: 0) and per-row logsumexp, with label smoothing eps_ls:
 * loss = lse - (1-eps) x[t] - eps * mean_j x[j]. Returns via loss[N] (double) and lse[N]. */
NB__INTERNAL void nb__k_cross_entropy_forward(nb_dtype dt, int64_t N, int64_t V, const void *logits,
                                              const int64_t *targets, int64_t ignore_index, double eps_ls,
                                              double *loss, double *lse);
/* dlogits[i, j] = scale[i] * (softmax_ij - (1-eps)[j==t_i] - eps/V); rows with scale 0 get 0. */
NB__INTERNAL void nb__k_cross_entropy_backward(nb_dtype dt, int64_t N, int64_t V, const void *logits,
                                               const int64_t *targets, const double *lse, double eps_ls,
                                               const double *scale, void *dlogits);

/* y[i, :] += b for every row i of y [N, C] (a linear layer's bias). */
NB__INTERNAL void nb__k_bias_add_rows(nb_dtype dt, int64_t N, int64_t C, void *y, const void *b);
/* out[j] = sum over rows i of g[i, j] (g [N, C]), accumulated in double in row order. */
NB__INTERNAL void nb__k_col_sum(nb_dtype dt, int64_t N, int64_t C, const void *g, void *out);

#endif
