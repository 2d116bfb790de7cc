/* nb_gradcheck.h — finite-difference gradient checking (torch.autograd.gradcheck).
 *
 * nb_gradcheck() compares the analytic gradient that nb_backward() computes for f with central
 * differences. For float64 inputs it uses PyTorch's settings (eps 1e-6, atol 1e-5, rtol 1e-3);
 * it also checks that
 *   - backward is deterministic (two passes give bit-identical gradients),
 *   - a zero upstream gradient gives zero input gradients,
 *   - every gradient has its input's shape and dtype,
 * and it refuses inputs with a stride-0 dim (perturbing one element would move its aliases).
 * For float32 inputs use nb_gradcheck_opts_f32(): a larger eps and a relative-error metric.
 */
#ifndef NB_GRADCHECK_H
#define NB_GRADCHECK_H

#include "nb_autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The function under test: builds an output from the inputs with nabla ops and returns it
 * (a new reference; any shape). ctx is passed through. */
typedef nb_tensor *(*nb_gradcheck_fn)(nb_tensor *const *inputs, int n_inputs, void *ctx);

typedef struct nb_gradcheck_opts {
    double eps;  /* finite-difference step */
    double atol; /* pass when |analytic - numeric| <= atol + rtol * |numeric| */
    double rtol;
    bool check_determinism;
    bool check_zero_grad;
} nb_gradcheck_opts;

/* PyTorch's float64 defaults: eps 1e-6, atol 1e-5, rtol 1e-3, all checks on. */
NB_API nb_gradcheck_opts nb_gradcheck_opts_default(void);
/* Float32 settings: eps 1e-3, atol 1e-3, rtol 2e-2 (relative metric). */
NB_API nb_gradcheck_opts nb_gradcheck_opts_f32(void);

typedef struct nb_gradcheck_result {
    bool ok;
    double max_abs_err; /* over every input element that requires grad */
    double max_rel_err; /* |a - n| / max(|n|, atol) */
    char message[512];  /* why it failed ("input 1, element 3: analytic 0.5, numeric 0.25"), or "" */
} nb_gradcheck_result;

/* Checks d(sum(f(inputs) * v))/d(input) for every input that requires grad, with v a fixed
 * pseudo-random upstream gradient (so non-scalar outputs are covered). Inputs are borrowed;
 * their values are restored after perturbation; their .grad is left as it was. Never aborts
 * on a mismatch: the result says what failed. Misuse (stride-0 input, non-float input that
 * requires grad) is reported in the result too. opts NULL = defaults for the inputs' dtype. */
NB_API nb_gradcheck_result nb_gradcheck(nb_gradcheck_fn f, void *ctx, nb_tensor *const *inputs, int n_inputs,
                                        const nb_gradcheck_opts *opts);

#ifdef __cplusplus
}
#endif
#endif /* NB_GRADCHECK_H */
