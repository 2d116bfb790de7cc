/* nb__functional_loss.h — internal: nb_cross_entropy's cases beyond [N, C] logits with class
 * indices, in functional_loss.c. */
#ifndef NB__FUNCTIONAL_LOSS_H
#define NB__FUNCTIONAL_LOSS_H

#include "nb_nn.h"
#include "nb__tensor.h"

/* True when nb_cross_entropy(logits, targets, o) is one of the extended cases (float probability
 * targets of the logits' shape, or class indices with logits [N, C, d1, ...]): then *out is the
 * result. False for [N, C] / [C] logits with class indices (the original fused path). */
NB__INTERNAL bool nb__cross_entropy_ext(const nb_tensor *logits, const nb_tensor *targets,
                                        const nb_cross_entropy_opts *o, nb_tensor **out);

#endif
