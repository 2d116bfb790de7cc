/* nb__k_conv.h — internal convolution and pooling kernels over contiguous NCHW data (no autograd).
 *
 * Everything is 2-D: a 1-D op is the 2-D one with H = 1 and a 1 x k window (kh = 1, sh = dh = 1,
 * ph = 0). A window's tap (ki, kj) at output (oh, ow) reads input row oh*sh - ph + ki*dh and column
 * ow*sw - pw + kj*dw; taps outside [0, H) x [0, W) are padding (zero for convolution, ignored by
 * max pooling, counted or not by average pooling).
 *
 * Convolution is im2col + GEMM (nb__gemm_batched, one product per group): for each sample the
 * input [C, H, W] is unfolded into col [C*kh*kw, OH*OW] (row (c, ki, kj), column (oh, ow)), then
 *     forward       y[n]_g  = W_g @ col_g                       (Cout/G x OH*OW)
 *     input grad    col'_g  = W_g^T @ dy[n]_g, folded back into dx[n] (col2im)
 *     weight grad   dW_g^T += col_g @ dy[n]_g^T   (transposed: col is packed as stored; the
 *                                                 sum is transposed back once at the end)
 * A 1x1 window with stride 1 and no padding uses the input itself as col. The forward and the
 * "same" input gradient never store col: nb__gemm_packed_b packs its panels straight from x (dy),
 * the same values, so the results are those of the unfold + GEMM bit for bit (implicit GEMM; not
 * for one output channel per group or a one-column part, which the GEMM runs unpacked). The
 * weight gradient and other input gradients unfold x in parts of whole output rows. Samples are
 * split over threads (each thread unfolds into its own buffer and runs single-threaded GEMMs) when
 * there are enough of them, else they run one after another with the GEMM threaded. The weight gradient is
 * summed per chunk of samples (chunks fixed by the batch size, not the thread count) and the chunk
 * sums are added in order, so every result is bit-identical for any thread count. */
#ifndef NB__K_CONV_H
#define NB__K_CONV_H

#include "nb__tensor.h"

/* Window geometry over one [H, W] plane. pw/ph are the padding before the data (left/top); the
 * padding after it is implied by OH/OW (so "same" padding may be asymmetric). */
typedef struct nb__conv_geom {
    int64_t H, W;   /* input plane */
    int64_t kh, kw; /* window */
    int64_t sh, sw; /* stride (>= 1) */
    int64_t ph, pw; /* padding before (>= 0) */
    int64_t dh, dw; /* dilation (>= 1) */
    int64_t OH, OW; /* output plane */
} nb__conv_geom;

/* A whole convolution: x [N, Cin, H, W], w [Cout, Cin/groups, kh, kw], y [N, Cout, OH, OW]. */
typedef struct nb__conv_shape {
    nb__conv_geom g;
    int64_t N, Cin, Cout, groups;
} nb__conv_shape;

/* y = conv(x, w) + b (b [Cout] or NULL). All contiguous; y is overwritten. */
NB__INTERNAL void nb__k_conv_forward(nb_dtype dt, const nb__conv_shape *s, const void *x, const void *w,
                                     const void *b, void *y);
/* Gradients from dy [N, Cout, OH, OW]: dx (like x), dw (like w), db [Cout], each overwritten, each
 * skipped when NULL. db is summed in double. */
NB__INTERNAL void nb__k_conv_backward(nb_dtype dt, const nb__conv_shape *s, const void *x, const void *w,
                                      const void *dy, void *dx, void *dw, void *db);

/* ---- transposed convolution ---------------------------------------------------------------- */
/* The adjoint of the convolution s, which maps the transposed convolution's output y [N, s->Cin,
 * H, W] back to its input x [N, s->Cout, OH, OW] (geometry as s's: H, W from s->g.H/W, x's plane
 * s->g.OH/OW); w [s->Cout, s->Cin/groups, kh, kw] is torch's ConvTranspose weight [in, out/groups,
 * kh, kw] as stored. y = s's input gradient for dy = x, plus b [s->Cin] (or NULL) per channel. */
NB__INTERNAL void nb__k_conv_transpose_forward(nb_dtype dt, const nb__conv_shape *s, const void *x, const void *w,
                                               const void *b, void *y);
/* Gradients from dy (like y): dx (like x) = s's forward of dy (no bias), dw (like w) = s's weight
 * gradient with dy as its input and x as its output gradient, db [s->Cin] = sums of dy (in
 * double); each overwritten, each skipped when NULL. Bit-identical for any thread count. */
NB__INTERNAL void nb__k_conv_transpose_backward(nb_dtype dt, const nb__conv_shape *s, const void *x, const void *w,
                                                const void *dy, void *dx, void *dw, void *db);

/* ---- pooling over P = N*C independent planes ------------------------------------------------ */
/* y [P, OH, OW] = max over each window's in-bounds taps; idx (same shape) = the flat h*W + w index
 * of the first maximum in tap order (as torch: a NaN wins, the last one), -1 for a window with no in-bounds tap. */
NB__INTERNAL void nb__k_max_pool_forward(nb_dtype dt, const nb__conv_geom *g, int64_t P, const void *x, void *y,
                                         int64_t *idx);
/* dx [P, H, W] = 0, then dx[p][idx] += dy for every output element. */
NB__INTERNAL void nb__k_max_pool_backward(nb_dtype dt, const nb__conv_geom *g, int64_t P, const int64_t *idx,
                                          const void *dy, void *dx);
/* Average pooling as torch: the window [oh*sh - ph, + kh) is clipped to the padded extent
 * [-ph, H + ph) (ceil mode can run past it) and divided by that clipped size when
 * count_include_pad, else by its in-bounds size; by `divisor` instead when it is > 0 (torch's
 * divisor_override; 0 = none). Sums in double. (No dilation: dh = dw = 1.) */
NB__INTERNAL void nb__k_avg_pool_forward(nb_dtype dt, const nb__conv_geom *g, int64_t P, bool count_include_pad,
                                         int64_t divisor, const void *x, void *y);
/* dx [P, H, W] = the transpose of the forward: each dy spread over its window's in-bounds taps. */
NB__INTERNAL void nb__k_avg_pool_backward(nb_dtype dt, const nb__conv_geom *g, int64_t P, bool count_include_pad,
                                          int64_t divisor, const void *dy, void *dx);
/* Max unpooling over P planes of n input and m output elements: y [P, m] = 0, then
 * y[p][idx[p][i]] = x[p][i] in i's order (a repeated index: the last one wins); every index must
 * be in [0, m) (the caller checks). */
NB__INTERNAL void nb__k_max_unpool_forward(nb_dtype dt, int64_t P, int64_t n, int64_t m, const int64_t *idx,
                                           const void *x, void *y);
/* dx [P, n]: dx[p][i] = dy[p][idx[p][i]] (a gather: a repeated index gives each its gradient). */
NB__INTERNAL void nb__k_max_unpool_backward(nb_dtype dt, int64_t P, int64_t n, int64_t m, const int64_t *idx,
                                            const void *dy, void *dx);

#endif /* NB__K_CONV_H */
