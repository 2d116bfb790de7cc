/* k_nn.c — fused LayerNorm and cross-entropy kernels, written once per element type T (k_nn_impl.h).
 * Rows are independent; parallel loops split rows (or columns for dw/db), never one reduction,
 * so results are identical for any thread count. */
#include "config.h"
/* lets GCC if-convert the clamps of nb__exp_vec_f32 (no change to results; see k_elementwise.c) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "nb__k_nn.h"
#include "nb__vmath.h"
#include "nb__paste.h"
#include "nb__kv.h"

#include <math.h>
#include <tgmath.h>

/* ---- helpers -------------------------------------------------------------------------------- */
/* LayerNorm: row sums in double over 8 fixed lanes (element j always goes to lane j % 8, lanes combined in
 * one fixed tree), so the loops vectorize and the result does not depend on the vector width. */
#define LN_LANES 8
static inline double lanes_total(const double *a)
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* One pass over fixed chunks of LN_CHUNK rows, chunks in parallel: each chunk computes its dx rows
 * and its partial dw/db column sums (double); the partials are then added in chunk order. The
 * chunking depends only on N, so every sum has one fixed order whatever the thread count. */
#define LN_CHUNK 32

/* Cross-entropy: one row of V logits. float computes exp with nb__exp_vec_f32 (vectorizes;
 * <= 1 ulp), double with libm. Sums are in double over CE_LANES fixed lanes (element j to lane j % 8, one fixed
 * combination), so the AVX2 and baseline builds (nb__kv.h) give identical results. */
#define CE_LANES 8
static inline float ce_exp_float(float x) { return nb__exp_vec_f32(x); }
static inline double ce_exp_double(double x) { return exp(x); }
/* 'omp simd' for the float loops only: the double ones call libm (clang warns when a requested
 * vectorization fails). */
#define CE_SIMD_float _Pragma("omp simd")
#define CE_SIMD_double

/* ---- the kernels, written once per type (k_nn_impl.h) --------------------------------------- */
/* The row loops once built for AVX2 (NB__KV_AVX2 1: only them), then the baseline with the rest,
 * which calls the copy in force (nb__kv.h). */
#ifdef NB__KV_HAVE_AVX2
#define NB__KV_AVX2 1
#define NB_T float
#include "k_nn_impl.h"
#define NB_T double
#include "k_nn_impl.h"
#undef NB__KV_AVX2
#endif
#define NB__KV_AVX2 0
#define NB_T float
#include "k_nn_impl.h"
#define NB_T double
#include "k_nn_impl.h"
#undef NB__KV_AVX2

/* ---- LayerNorm ------------------------------------------------------------------------------ */
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

void nb__k_bias_add_rows(nb_dtype dt, int64_t N, int64_t C, void *y, const void *b)
{
    switch (dt) {
#define NB_X(E, T) case E: bias_add_##T(N, C, y, b); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_linear: unsupported dtype %s", nb_dtype_name(dt));
    }
}

void nb__k_col_sum(nb_dtype dt, int64_t N, int64_t C, const void *g, void *out)
{
    switch (dt) {
#define NB_X(E, T) case E: col_sum_##T(N, C, g, out); break;
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default: nb__fail("nb_linear: unsupported dtype %s", nb_dtype_name(dt));
    }
}
