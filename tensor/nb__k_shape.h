/* nb__k_shape.h — kernels of the shape family (internal to libnabla; no autograd): index-map
 * copies that implement pad, flip, roll and repeat, their adjoint (scatter-add) for the
 * backward, and one_hot. Shapes and maps are built and checked by autograd/ops_shape.c. */
#ifndef NB__K_SHAPE_H
#define NB__K_SHAPE_H

#include "nb__tensor.h"

/* out[i_0, ..., i_{n-1}] = in[maps[0][i_0], ..., maps[n-1][i_{n-1}]], or `fill` when any map
 * entry is -1. out is contiguous; in has out's ndim and any strides and dtype out's; maps[k] has
 * out->shape[k] entries in [-1, in->shape[k]). A 0-dim out copies the one element. */
NB__INTERNAL void nb__k_remap(nb_tensor *out, const nb_tensor *in, const int64_t *const *maps, double fill);
/* The adjoint: gin[maps[0][i_0], ...] += g[i_0, ...] over every i with no -1 entry, in
 * row-major order of i (deterministic). gin contiguous (already zero), g contiguous with the
 * maps' shape; one float dtype. */
NB__INTERNAL void nb__k_remap_add(nb_tensor *gin, const nb_tensor *g, const int64_t *const *maps);
/* out (int64, contiguous, shape of idx + [c]) = one_hot(idx): idx contiguous int64 with values
 * in [0, c). */
NB__INTERNAL void nb__k_one_hot(nb_tensor *out, const nb_tensor *idx, int64_t c);

#endif /* NB__K_SHAPE_H */
