/* nb_optim.h — optimizers (SGD, Adam, AdamW) over parameter groups, and gradient clipping.
 *
 * Semantics are PyTorch 1.13's single-tensor ("for-loop") implementations, formula for
 * formula, so a run matches torch.optim step by step:
 *   SGD    d = g (+ wd*p); with momentum: buf = d on a parameter's first update, later
 *          buf = momentum*buf + (1-dampening)*d; d = nesterov ? d + momentum*buf : buf;
 *          p -= lr*d.
 *   Adam   t += 1; d = g (+ wd*p, L2 added to the gradient); m = b1*m + (1-b1)*d;
 *          v = b2*v + (1-b2)*d*d; (amsgrad: vmax = max(vmax, v), used for v below);
 *          p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 *   AdamW  as Adam without the L2 term, after the decoupled decay p *= 1 - lr*wd.
 *   maximize negates the gradient first (all three).
 * A parameter whose gradient is NULL at step() is skipped entirely (no decay, no state
 * change, its step count stays). Gradients are never modified by step().
 *
 * Parameters and groups
 *   An optimizer holds parameter groups; each group has its parameters and its own
 *   hyper-parameters (the optimizer's defaults, optionally overridden per group, e.g. no weight
 *   decay for 1-D parameters). Parameters must be float32/float64 LEAF tensors; a tensor may
 *   appear only once in an optimizer. The optimizer RETAINS each parameter (and releases it in
 *   nb_optimizer_free). Any layout works: contiguous parameters take a fast loop, others are
 *   updated through a contiguous copy written back in place. Updates are written straight into
 *   the parameters' storage (no autograd node is ever recorded, whatever the grad mode) and
 *   bump their version counters. A gradient must have its parameter's dtype. Parameters must
 *   not overlap in memory (contiguous ones are updated together in one parallel loop; the
 *   result does not depend on the thread count).
 *
 * State (for checkpoints)
 *   Every parameter has an int64 0-dim "step" tensor (number of updates it received), plus
 *   "momentum_buffer" (SGD with momentum != 0), "exp_avg" and "exp_avg_sq" (Adam/AdamW) and
 *   "max_exp_avg_sq" (amsgrad), all contiguous, shaped and typed like the parameter. State is
 *   allocated (zeros) when the parameter is added, so a loader can write saved values into it
 *   before the first step. SGD treats the momentum buffer as absent (PyTorch's None) while the
 *   parameter's step is 0. Parameters are numbered over all groups in order (PyTorch's
 *   state_dict numbering): a writer may name entries "state.<param>.<name>". Group learning
 *   rates (and initial_lr, set by LR schedulers) are the mutable group state to save too.
 *
 * Errors
 *   Bad hyper-parameters (negative lr, betas outside [0, 1), ...), non-float or non-leaf
 *   parameters, duplicates, out-of-range indices and gradient dtype/shape mismatches are
 *   misuse: the handler gets one line naming the function and the value.
 */
#ifndef NB_OPTIM_H
#define NB_OPTIM_H

#include "nb_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_optimizer nb_optimizer;

/* ---- options -------------------------------------------------------------------------------- */
/* torch.optim.SGD. nb_sgd_opts_default(): lr 1e-3 (PyTorch 1.13 has no default; later versions
 * use 1e-3), momentum 0, dampening 0, weight_decay 0, nesterov false, maximize false.
 * Valid: lr >= 0, momentum >= 0, weight_decay >= 0, finite dampening; nesterov needs
 * momentum > 0 and dampening == 0. */
typedef struct nb_sgd_opts {
    double lr, momentum, dampening, weight_decay;
    bool nesterov, maximize;
} nb_sgd_opts;
NB_API nb_sgd_opts nb_sgd_opts_default(void);

/* torch.optim.Adam / AdamW. nb_adam_opts_default(): lr 1e-3, betas (0.9, 0.999), eps 1e-8,
 * weight_decay 0, amsgrad false, maximize false. nb_adamw_opts_default(): the same with
 * weight_decay 1e-2. Valid: lr >= 0, eps >= 0, 0 <= beta1, beta2 < 1, weight_decay >= 0. */
typedef struct nb_adam_opts {
    double lr, beta1, beta2, eps, weight_decay;
    bool amsgrad, maximize;
} nb_adam_opts;
NB_API nb_adam_opts nb_adam_opts_default(void);
NB_API nb_adam_opts nb_adamw_opts_default(void);

/* Per-group overrides of the optimizer's defaults. nb_param_group_opts_inherit() leaves every
 * field unset: NaN for doubles, -1 for the flags (0 = false, 1 = true). Fields that do not
 * apply to the optimizer (beta1 for SGD) must stay unset. Merged values are validated like the
 * constructor's. */
typedef struct nb_param_group_opts {
    double lr, weight_decay;
    double momentum, dampening;  /* SGD */
    double beta1, beta2, eps;    /* Adam, AdamW */
    int nesterov;                /* SGD */
    int amsgrad;                 /* Adam, AdamW */
    int maximize;
} nb_param_group_opts;
NB_API nb_param_group_opts nb_param_group_opts_inherit(void);

/* ---- construction --------------------------------------------------------------------------- */
/* A new optimizer; opts NULL means the defaults. When n > 0 the n params become group 0 (with
 * the defaults); n == 0 (params may be NULL) creates no group: add them with
 * nb_optimizer_add_param_group. Free with nb_optimizer_free. */
NB_API nb_optimizer *nb_sgd_new(nb_tensor *const *params, int n, const nb_sgd_opts *opts);
NB_API nb_optimizer *nb_adam_new(nb_tensor *const *params, int n, const nb_adam_opts *opts);
NB_API nb_optimizer *nb_adamw_new(nb_tensor *const *params, int n, const nb_adam_opts *opts);
/* Adds a group of n >= 1 parameters (retained) with the defaults overridden by `overrides`
 * (NULL: none). Returns the group's index. State for the new parameters is allocated now. */
NB_API int nb_optimizer_add_param_group(nb_optimizer *opt, nb_tensor *const *params, int n,
                                        const nb_param_group_opts *overrides);
/* Releases the parameters and the state. NULL is a no-op. */
NB_API void nb_optimizer_free(nb_optimizer *opt);
/* "SGD", "Adam" or "AdamW". */
NB_API const char *nb_optimizer_name(const nb_optimizer *opt);

/* ---- training ------------------------------------------------------------------------------- */
/* One update of every parameter that has a gradient (see the formulas above). */
NB_API void nb_optimizer_step(nb_optimizer *opt);
/* nb_tensor_zero_grad on every parameter: set_to_none drops the gradients (PyTorch 2's
 * default), otherwise they are filled with zeros in place. */
NB_API void nb_optimizer_zero_grad(nb_optimizer *opt, bool set_to_none);

/* ---- groups --------------------------------------------------------------------------------- */
NB_API int nb_optimizer_group_count(const nb_optimizer *opt);
/* Number of parameters in group g. Out-of-range g is misuse (so are the accessors below). */
NB_API int nb_optimizer_group_param_count(const nb_optimizer *opt, int g);
/* Learning rate of group g / sets it (lr >= 0, else misuse). LR schedulers use these. */
NB_API double nb_optimizer_get_lr(const nb_optimizer *opt, int g);
NB_API void nb_optimizer_set_lr(nb_optimizer *opt, int g, double lr);
/* PyTorch's group['initial_lr']: NaN until an LR scheduler is attached (the first one sets it
 * to the group's lr then; schedulers read their base lrs from it). Saved/restored with lr. */
NB_API double nb_optimizer_get_initial_lr(const nb_optimizer *opt, int g);
NB_API void nb_optimizer_set_initial_lr(nb_optimizer *opt, int g, double initial_lr);
/* All hyper-parameters of group g (every field set; fields of other optimizers are NaN / -1). */
NB_API nb_param_group_opts nb_optimizer_group_opts(const nb_optimizer *opt, int g);

/* ---- parameters and state ------------------------------------------------------------------- */
/* Parameters over all groups in order; parameter i is BORROWED (the optimizer holds it). */
NB_API int nb_optimizer_param_count(const nb_optimizer *opt);
NB_API nb_tensor *nb_optimizer_param_at(const nb_optimizer *opt, int i);

/* One state tensor: parameter index (over all groups), name, and the live tensor (BORROWED,
 * valid while the optimizer lives): read it to save, write into it (nb_copy_) to restore. */
typedef struct nb_optimizer_state {
    int param;
    const char *name; /* "step", "momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq" */
    nb_tensor *tensor;
} nb_optimizer_state;
/* Number of state tensors; entry k (0 <= k < count, else misuse), ordered by parameter, and
 * for each parameter "step" first, then the others in the order listed above. */
NB_API int nb_optimizer_state_count(const nb_optimizer *opt);
NB_API nb_optimizer_state nb_optimizer_state_at(const nb_optimizer *opt, int k);
/* The state tensor `name` of parameter i (borrowed), or NULL when that parameter has none. */
NB_API nb_tensor *nb_optimizer_state_find(const nb_optimizer *opt, int param, const char *name);
/* Step count of parameter i (its "step" state) / sets it (>= 0, else misuse). */
NB_API int64_t nb_optimizer_get_param_step(const nb_optimizer *opt, int i);
NB_API void nb_optimizer_set_param_step(nb_optimizer *opt, int i, int64_t step);

/* ---- gradient clipping ---------------------------------------------------------------------- */
/* torch.nn.utils.clip_grad_norm_ (L2): total = sqrt(sum of squares of every element of every
 * gradient), accumulated in double (deterministic for any thread count); when
 * max_norm/(total + 1e-6) < 1 every gradient is scaled by it in place. Parameters without a
 * gradient are skipped; none at all returns 0. Returns total (before clipping; NaN/Inf pass
 * through as in PyTorch). max_norm must be >= 0 (else misuse). */
NB_API double nb_clip_grad_norm(nb_tensor *const *params, int n, double max_norm);
/* The same over all parameters of opt. */
NB_API double nb_optimizer_clip_grad_norm(nb_optimizer *opt, double max_norm);

/* ---- a model's optimizer, as nanoGPT's configure_optimizers (nn/optim_groups.c) --------------- */
struct nb_module;
/* AdamW (eps 1e-8) over every parameter of the module tree m: group 0, with weight_decay, holds
 * the parameters of two or more dims (matmul weights, embeddings); group 1 (when any), without
 * decay, the rest (norm weights, biases). Free with nb_optimizer_free. */
NB_API nb_optimizer *nb_module_adamw_new(struct nb_module *m, double weight_decay, double lr, double beta1,
                                         double beta2);

#ifdef __cplusplus
}
#endif
#endif /* NB_OPTIM_H */
