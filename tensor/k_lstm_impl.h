/* k_lstm_impl.h — the per-dtype pointwise passes of k_lstm.c, included once per element type with
 *     #define NB_T float      (the element type)
 *     #define NB_SFX f32      (the name suffix)
 * Rows [b0, b1) of one timestep; no threading (k_lstm.c splits rows). The activations are k_lstm.c's
 * sigm_<sfx> and tanh_<sfx> (float: on nb__exp_vec_f32, so the loops vectorize; double: libm). */
#ifndef NB_T
#error "define NB_T and NB_SFX before including k_lstm_impl.h"
#endif

#define NB__CC2(a, b) a##_##b
#define NB__CC(a, b) NB__CC2(a, b)
#define FN(name) NB__CC(name, NB_SFX)
#define SIMD NB__CC(LSTM_SIMD, NB_SFX) /* k_lstm.c: omp simd for float */

/* One step forward. gx, a [B, 4H] (a = h_{t-1} W_hh^T, or NULL for a zero h_{t-1}); cprev row r
 * at cprev + r*cs (NULL: zeros); hc [B, 2H]; act [B, 5H]. */
NB__KV_TARGET static void NB__KV_NAME(FN(cell_fwd))(int64_t H, int64_t b0, int64_t b1, const NB_T *gx, const NB_T *a, const NB_T *bhh,
                         const NB_T *cprev, int64_t cs, NB_T *hc, NB_T *act)
{
    for (int64_t r = b0; r < b1; r++) {
        const NB_T *gr = gx + r * 4 * H, *ar = a ? a + r * 4 * H : NULL, *cp = cprev ? cprev + r * cs : NULL;
        NB_T *h = hc + r * 2 * H, *c = h + H, *ac = act + r * 5 * H;
        SIMD for (int64_t q = 0; q < 4 * H; q++) { /* pre-activation: gx + (h W^T + b), as the composed ops */
            NB_T v = ar ? ar[q] : (NB_T)0;
            if (bhh)
                v = v + bhh[q];
            ac[q] = gr[q] + v;
        }
        SIMD for (int64_t q = 0; q < 2 * H; q++) /* i, f */
            ac[q] = FN(sigm)(ac[q]);
        SIMD for (int64_t q = 2 * H; q < 3 * H; q++) /* g */
            ac[q] = FN(tanhx)(ac[q]);
        SIMD for (int64_t q = 3 * H; q < 4 * H; q++) /* o */
            ac[q] = FN(sigm)(ac[q]);
        SIMD for (int64_t j = 0; j < H; j++) {
            NB_T i = ac[j], f = ac[H + j], g = ac[2 * H + j], o = ac[3 * H + j];
            NB_T cn = cp ? f * cp[j] + i * g : i * g;
            NB_T tc = FN(tanhx)(cn);
            c[j] = cn, h[j] = o * tc, ac[4 * H + j] = tc;
        }
    }
}

/* One step backward. ghc [B, 2H] (gradient of this step's h and c from outside), dh [B, H] the
 * gradient reaching h_t through the next step (NULL: none), dc [B, H] in: the gradient reaching
 * c_t through the next step (zeros at the last step), out: the gradient of c_{t-1}. Writes
 * da [B, 4H], the gradient of the pre-activations. */
NB__KV_TARGET static void NB__KV_NAME(FN(cell_bwd))(int64_t H, int64_t b0, int64_t b1, const NB_T *act, const NB_T *cprev, int64_t cs,
                         const NB_T *ghc, const NB_T *dh, NB_T *dc, NB_T *da)
{
    for (int64_t r = b0; r < b1; r++) {
        const NB_T *ac = act + r * 5 * H, *gr = ghc + r * 2 * H, *dhr = dh ? dh + r * H : NULL;
        const NB_T *cp = cprev ? cprev + r * cs : NULL;
        NB_T *dcr = dc + r * H, *dar = da + r * 4 * H;
        SIMD for (int64_t j = 0; j < H; j++) {
            NB_T i = ac[j], f = ac[H + j], g = ac[2 * H + j], o = ac[3 * H + j], tc = ac[4 * H + j];
            NB_T dht = dhr ? gr[j] + dhr[j] : gr[j];
            NB_T dct = gr[H + j] + dcr[j] + dht * o * ((NB_T)1 - tc * tc);
            NB_T cpv = cp ? cp[j] : (NB_T)0;
            dar[j] = dct * g * i * ((NB_T)1 - i);
            dar[H + j] = dct * cpv * f * ((NB_T)1 - f);
            dar[2 * H + j] = dct * i * ((NB_T)1 - g * g);
            dar[3 * H + j] = dht * tc * o * ((NB_T)1 - o);
            dcr[j] = dct * f;
        }
    }
}

#undef SIMD
#undef FN
#undef NB__CC
#undef NB__CC2
