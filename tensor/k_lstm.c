/* k_lstm.c — the fused LSTM recurrence (see nb__k_lstm.h): per-step GEMMs, the pointwise passes
 * of k_lstm_impl.h (included once per element type), the row split over threads and the dtype
 * dispatch. */
#include "config.h"
/* lets GCC if-convert the clamps of nb__exp_vec_f32 (no change to results; see k_elementwise.c) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "nb__k_gemm.h"
#include "nb__k_lstm.h"
#include "nb__k_nn.h"

#include "nb__vmath.h"
#include "nb__kv.h"

#include <math.h>
#include <string.h>

/* The gate activations. float: on nb__exp_vec_f32 (<= 1 ulp), so the pointwise loops vectorize;
 * tanh(x) = 1 - 2 / (exp(2x) + 1) (its absolute error stays within a few ulp of 1; exp(2x)
 * overflowing gives 1). double: libm. */
static inline float sigm_f32(float x) { return 1.0f / (1.0f + nb__exp_vec_f32(-x)); }
static inline float tanhx_f32(float x) { return 1.0f - 2.0f / (nb__exp_vec_f32(2.0f * x) + 1.0f); }
static inline double sigm_f64(double x) { return 1.0 / (1.0 + exp(-x)); }
static inline double tanhx_f64(double x) { return tanh(x); }
/* 'omp simd' for the float loops only (the double ones call libm) */
#define LSTM_SIMD_f32 _Pragma("omp simd")
#define LSTM_SIMD_f64

/* once per kernel variant (nb__kv.h): cell_fwd_f32_kv0 (baseline), cell_fwd_f32_kv1 (AVX2), ... */
#define NB__KV_AVX2 0
#include "k_lstm_types.h"
#undef NB__KV_AVX2
#ifdef NB__KV_HAVE_AVX2
#define NB__KV_AVX2 1
#include "k_lstm_types.h"
#undef NB__KV_AVX2
#endif

/* Pointwise cost of one row in the thread rule's units (transcendentals dominate). */
#define ROW_COST(H) (40 * (H))

/* Threads for B rows of a step; rows are independent, so any split gives the same values. */
static int row_threads(int64_t B, int64_t H)
{
    int nt = nb__threads_for(B * ROW_COST(H));
    return nt > B ? (int)(B > 0 ? B : 1) : nt;
}

typedef struct {
    nb_dtype dt;
    size_t esz;
    int64_t T, B, H;
} geom;

static const char *at(const geom *g, const void *base, int64_t elems)
{
    return (const char *)base + (size_t)elems * g->esz;
}

static void fwd_rows(const geom *g, int64_t b0, int64_t b1, const void *gx, const void *a, const void *bhh,
                     const void *cprev, int64_t cs, void *hc, void *act)
{
    if (g->dt == NB_F32)
        NB__KV_PICK(cell_fwd_f32)(g->H, b0, b1, gx, a, bhh, cprev, cs, hc, act);
    else
        NB__KV_PICK(cell_fwd_f64)(g->H, b0, b1, gx, a, bhh, cprev, cs, hc, act);
}

static void bwd_rows(const geom *g, int64_t b0, int64_t b1, const void *act, const void *cprev, int64_t cs,
                     const void *ghc, const void *dh, void *dc, void *da)
{
    if (g->dt == NB_F32)
        NB__KV_PICK(cell_bwd_f32)(g->H, b0, b1, act, cprev, cs, ghc, dh, dc, da);
    else
        NB__KV_PICK(cell_bwd_f64)(g->H, b0, b1, act, cprev, cs, ghc, dh, dc, da);
}

void nb__k_lstm_forward(nb_dtype dt, int64_t T, int64_t B, int64_t H, const void *gx, const void *w_hh,
                        const void *b_hh, const void *h0, const void *c0, void *hc, void *acts)
{
    if (T == 0 || B == 0 || H == 0)
        return;
    geom g = {dt, dt == NB_F32 ? sizeof(float) : sizeof(double), T, B, H};
    size_t step_act = (size_t)(B * 5 * H) * g.esz, abytes = (size_t)(B * 4 * H) * g.esz;
    char *a = nb__alloc(abytes), *own = acts ? NULL : nb__alloc(step_act);
    int nt = row_threads(B, H);
    for (int64_t t = 0; t < T; t++) {
        const void *hprev = t ? at(&g, hc, (t - 1) * B * 2 * H) : h0;
        const void *cprev = t ? at(&g, hc, (t - 1) * B * 2 * H + H) : c0;
        int64_t hs = t ? 2 * H : H; /* row stride of h_{t-1} and c_{t-1} */
        if (hprev) /* a = h_{t-1} W_hh^T */
            nb__gemm_batched(dt, false, true, B, 4 * H, H, 1.0, hprev, hs, NULL, w_hh, H, NULL, 0.0, a, 4 * H, NULL, 1);
        const void *gxt = at(&g, gx, t * B * 4 * H);
        void *hct = (void *)at(&g, hc, t * B * 2 * H), *act = acts ? (void *)at(&g, acts, t * B * 5 * H) : own;
        const void *ap = hprev ? a : NULL;
        if (nt > 1) {
            NB__OMP_PARALLEL_FOR(nt)
            for (int k = 0; k < nt; k++)
                fwd_rows(&g, B * k / nt, B * (k + 1) / nt, gxt, ap, b_hh, cprev, hs, hct, act);
        } else {
            fwd_rows(&g, 0, B, gxt, ap, b_hh, cprev, hs, hct, act);
        }
    }
    nb__free(a, abytes);
    if (own)
        nb__free(own, step_act);
}

void nb__k_lstm_backward(nb_dtype dt, int64_t T, int64_t B, int64_t H, const void *w_hh, const void *h0,
                         const void *c0, const void *hc, const void *acts, const void *ghc, void *dgx, void *dw_hh,
                         void *db_hh, void *dh0, void *dc0)
{
    geom g = {dt, dt == NB_F32 ? sizeof(float) : sizeof(double), T, B, H};
    size_t sbytes = (size_t)(B * H) * g.esz;
    if (T == 0 || B == 0 || H == 0) { /* nothing flows: every gradient is zero */
        if (dw_hh)
            memset(dw_hh, 0, (size_t)(4 * H * H) * g.esz);
        if (db_hh)
            memset(db_hh, 0, (size_t)(4 * H) * g.esz);
        if (dh0)
            memset(dh0, 0, sbytes);
        if (dc0)
            memset(dc0, 0, sbytes);
        return;
    }
    char *dh = nb__alloc(sbytes), *dc = nb__alloc(sbytes);
    memset(dc, 0, sbytes);
    int nt = row_threads(B, H);
    for (int64_t t = T - 1; t >= 0; t--) {
        const void *cprev = t ? at(&g, hc, (t - 1) * B * 2 * H + H) : c0;
        int64_t cs = t ? 2 * H : H;
        const void *act = at(&g, acts, t * B * 5 * H), *gt = at(&g, ghc, t * B * 2 * H);
        const void *dhp = t < T - 1 ? dh : NULL;
        void *da = (void *)at(&g, dgx, t * B * 4 * H);
        if (nt > 1) {
            NB__OMP_PARALLEL_FOR(nt)
            for (int k = 0; k < nt; k++)
                bwd_rows(&g, B * k / nt, B * (k + 1) / nt, act, cprev, cs, gt, dhp, dc, da);
        } else {
            bwd_rows(&g, 0, B, act, cprev, cs, gt, dhp, dc, da);
        }
        if (t > 0 || dh0) /* dh_{t-1} = dA_t W_hh */
            nb__gemm_batched(dt, false, false, B, H, 4 * H, 1.0, da, 4 * H, NULL, w_hh, H, NULL, 0.0, t > 0 ? dh : dh0,
                             H, NULL, 1);
    }
    if (dc0)
        memcpy(dc0, dc, sbytes);
    if (dw_hh) { /* dW_hh = sum_t dA_t^T h_{t-1}: steps 1.. in one GEMM (h_{t-1} rows of hc), then h0's */
        int64_t K = (T - 1) * B;
        nb__gemm_batched(dt, true, false, 4 * H, H, K, 1.0, at(&g, dgx, B * 4 * H), 4 * H, NULL, hc, 2 * H, NULL,
                         0.0, dw_hh, H, NULL, 1);
        if (h0)
            nb__gemm_batched(dt, true, false, 4 * H, H, B, 1.0, dgx, 4 * H, NULL, h0, H, NULL, 1.0, dw_hh, H, NULL, 1);
    }
    if (db_hh)
        nb__k_col_sum(dt, T * B, 4 * H, dgx, db_hh);
    nb__free(dh, sbytes);
    nb__free(dc, sbytes);
}
