/* nabla.h — the umbrella header of libnabla: include this one.
 *   nb_tensor.h   tensors, storage, creation, RNG, scopes, errors, printing
 *   nb_autograd.h grad mode, backward, gradient state
 *   nb_ops.h      tensor operations (differentiable)
 *   nb_gradcheck.h finite-difference gradient checking
 */
#ifndef NABLA_H
#define NABLA_H
#include "nb_tensor.h"
#include "nb_autograd.h"
#include "nb_ops.h"
#include "nb_gradcheck.h"
#endif
