/* nb__k_interp.h — internal interpolation (upsampling) kernels over P = N*C contiguous planes (no
 * autograd): nearest and (bi)linear, with the source coordinates as PyTorch 1.13's CPU kernels.
 *
 * Everything is 2-D: a 1-D op is the 2-D one with H = OH = 1 (its h axis is the identity and its
 * rows are computed once, never blended with weight 0). Per axis of input size `in`, output size
 * `out` and the caller's scale factor s (0 = none):
 *   scale   = align_corners ? (out > 1 ? (in - 1) / (out - 1) : 0)
 *                           : (s > 0 ? 1 / s : in / out)         (in the element type)
 *   nearest : src(i) = min(floor((float)(i * scale)), in - 1)
 *   linear  : out == in: src(i) = i (a copy); else r = align_corners ? i * scale
 *             : max((i + 0.5) * scale - 0.5, 0); i0 = (int)r, i1 = min(i0 + 1, in - 1),
 *             l1 = clamp(r - i0, 0, 1), l0 = 1 - l1
 *   y = l0 * x[i0] + l1 * x[i1] per axis; 2-D: y = (row h0 blended over w) * lh0 + (row h1 ...) * lh1.
 * The backwards are the exact transposes (nearest: dx[src] += dy; linear: each dy spread with the
 * same weights), summed per plane in output order, so results are bit-identical for any thread
 * count (threads split planes). */
#ifndef NB__K_INTERP_H
#define NB__K_INTERP_H

#include "nb__tensor.h"

typedef struct nb__interp_geom {
    int64_t H, W, OH, OW;    /* input and output plane; 1-D: H = OH = 1 */
    double scale_h, scale_w; /* the caller's scale factors, 0 = none (1-D: scale_h 0) */
    bool linear;             /* (bi)linear, else nearest */
    bool align_corners;      /* linear only */
} nb__interp_geom;

/* y [P, OH, OW] from x [P, H, W]; both contiguous, y overwritten. */
NB__INTERNAL void nb__k_interp_forward(nb_dtype dt, const nb__interp_geom *g, int64_t P, const void *x, void *y);
/* dx [P, H, W] (overwritten) = the forward's transpose applied to dy [P, OH, OW]. */
NB__INTERNAL void nb__k_interp_backward(nb_dtype dt, const nb__interp_geom *g, int64_t P, const void *dy, void *dx);

#endif /* NB__K_INTERP_H */
