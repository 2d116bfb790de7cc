/* nabla.h — the umbrella header of libnabla: include this one.
 *   nb_tensor.h   tensors, storage, creation, RNG, scopes, errors, printing
 *   nb_autograd.h grad mode, backward, gradient state
 *   nb_ops.h      tensor operations (differentiable)
 *   nb_gradcheck.h finite-difference gradient checking
 *   nb_nn.h       modules (Linear, Embedding, LayerNorm, ...), init, fused nn ops
 *   nb_optim.h    SGD, Adam, AdamW, gradient clipping
 *   nb_lr_scheduler.h  MultiStepLR, StepLR, cosine, LambdaLR, SequentialLR, ...
 *   nb_state_dict.h, nb_safetensors.h  checkpoints
 *   nb_dist.h     data-parallel training over MPI (a single-process stub without MPI)
 */
#ifndef NABLA_H
#define NABLA_H
#include "nb_tensor.h"
#include "nb_autograd.h"
#include "nb_ops.h"
#include "nb_gradcheck.h"
#include "nb_nn.h"
#include "nb_optim.h"
#include "nb_lr_scheduler.h"
#include "nb_state_dict.h"
#include "nb_safetensors.h"
#include "nb_dist.h"
#endif
