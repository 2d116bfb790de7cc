/* nb_lr_scheduler.h — learning-rate schedulers that drive an optimizer's group lrs
 * (torch.optim.lr_scheduler, PyTorch 1.13 semantics and arithmetic).
 *
 * Counting
 *   As in PyTorch, constructing a scheduler performs its initial step: last_epoch becomes 0 and
 *   the groups get the epoch-0 lr. Call nb_lr_scheduler_step() once per epoch/iteration AFTER
 *   nb_optimizer_step(). step() uses PyTorch's chainable (recursive) form, which reads the
 *   groups' current lr, so the values match torch to the last bit in the usual use (the
 *   scheduler alone sets the lr). nb_lr_scheduler_step_to() is torch's deprecated
 *   step(epoch): it jumps to `epoch` with the closed form (SequentialLR uses it at milestones).
 *
 * Base lrs
 *   The first scheduler attached to an optimizer sets each group's initial_lr to its lr
 *   (PyTorch's setdefault); every scheduler takes its base lrs from initial_lr. The optimizer is
 *   BORROWED and must outlive the scheduler; groups added after the scheduler was created are
 *   misuse at the next step.
 *
 * State (for checkpoints)
 *   A scheduler's mutable state is a flat array of doubles (kind, group count, last_epoch,
 *   step count, base lrs, last lrs; SequentialLR appends its sub-schedulers' arrays), with a
 *   name per entry. Hyper-parameters are not state: re-create the scheduler with the same
 *   arguments, restore the optimizer's group lrs, then nb_lr_scheduler_state_set(); the
 *   continuation is then bit-identical.
 *
 * Errors
 *   Bad arguments (step_size < 1, T_max < 1, factors outside their range, milestone counts) are
 *   misuse naming the function and value. A state array that does not fit the scheduler is
 *   outside data: nb_lr_scheduler_state_set returns NB_ERR_MISMATCH with a message.
 */
#ifndef NB_LR_SCHEDULER_H
#define NB_LR_SCHEDULER_H

#include "nb_optim.h"
#include "nb_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_lr_scheduler nb_lr_scheduler;

/* StepLR: lr = base * gamma^(epoch // step_size). step_size >= 1; gamma finite. */
NB_API nb_lr_scheduler *nb_step_lr_new(nb_optimizer *opt, int64_t step_size, double gamma);
/* MultiStepLR: lr = base * gamma^(number of milestones <= epoch). n >= 0 milestones in any
 * order (duplicates count twice, as in PyTorch's Counter); copied. */
NB_API nb_lr_scheduler *nb_multi_step_lr_new(nb_optimizer *opt, const int64_t *milestones, int n,
                                            double gamma);
/* ExponentialLR: lr = base * gamma^epoch. */
NB_API nb_lr_scheduler *nb_exponential_lr_new(nb_optimizer *opt, double gamma);
/* CosineAnnealingLR: lr = eta_min + (base - eta_min)*(1 + cos(pi*epoch/t_max))/2 (recursive
 * form in step(), continuing past t_max as PyTorch does). t_max >= 1; eta_min finite. */
NB_API nb_lr_scheduler *nb_cosine_annealing_lr_new(nb_optimizer *opt, int64_t t_max, double eta_min);
/* LinearLR: factor goes linearly from start_factor (epoch 0) to end_factor (epoch total_iters)
 * and stays. 0 < start_factor <= 1 (PyTorch's recursive form divides by it), 0 <= end_factor
 * <= 1, total_iters >= 1. PyTorch's defaults: 1/3, 1.0, 5. */
NB_API nb_lr_scheduler *nb_linear_lr_new(nb_optimizer *opt, double start_factor, double end_factor,
                                         int64_t total_iters);
/* ConstantLR: lr = base * factor before epoch total_iters, base after. 0 < factor <= 1,
 * total_iters >= 0. PyTorch's defaults: 1/3, 5. */
NB_API nb_lr_scheduler *nb_constant_lr_new(nb_optimizer *opt, double factor, int64_t total_iters);
/* LambdaLR: lr = base * fn(epoch, ctx) for every group. fn non-NULL; ctx is passed through
 * (borrowed; must live as long as the scheduler). */
typedef double (*nb_lr_lambda)(int64_t epoch, void *ctx);
NB_API nb_lr_scheduler *nb_lambda_lr_new(nb_optimizer *opt, nb_lr_lambda fn, void *ctx);
/* SequentialLR: runs schedulers[0] until milestones[0], then schedulers[1] (restarted at its
 * epoch 0 with its closed form), ... n >= 1 schedulers of the same optimizer `opt`, n - 1
 * non-decreasing milestones (copied). TAKES OWNERSHIP of the sub-schedulers (freed with the
 * sequential one; do not step or free them yourself). Nesting a SequentialLR is misuse.
 * Example, nanoGPT-style warmup then cosine decay:
 *   nb_lr_scheduler *sub[2] = {nb_linear_lr_new(opt, 0.01, 1.0, warmup),
 *                              nb_cosine_annealing_lr_new(opt, total - warmup, min_lr)};
 *   nb_lr_scheduler *s = nb_sequential_lr_new(opt, sub, 2, (int64_t[]){warmup}); */
NB_API nb_lr_scheduler *nb_sequential_lr_new(nb_optimizer *opt, nb_lr_scheduler *const *schedulers,
                                             int n,
                                             const int64_t *milestones);
/* Frees the scheduler (and a SequentialLR's sub-schedulers). The optimizer is untouched. */
NB_API void nb_lr_scheduler_free(nb_lr_scheduler *s);

/* One scheduler step: last_epoch += 1, the groups get the new lrs. */
NB_API void nb_lr_scheduler_step(nb_lr_scheduler *s);
/* torch's step(epoch): last_epoch = epoch, closed-form lrs (LambdaLR: its formula). Not
 * available for SequentialLR (misuse), as in PyTorch. */
NB_API void nb_lr_scheduler_step_to(nb_lr_scheduler *s, int64_t epoch);
/* The lr of group g set by the last step (get_last_lr()[g]); g out of range is misuse. */
NB_API double nb_lr_scheduler_last_lr(const nb_lr_scheduler *s, int g);
/* Number of groups the scheduler drives. */
NB_API int nb_lr_scheduler_group_count(const nb_lr_scheduler *s);
NB_API int64_t nb_lr_scheduler_last_epoch(const nb_lr_scheduler *s);
/* "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "ConstantLR",
 * "LambdaLR", "SequentialLR". */
NB_API const char *nb_lr_scheduler_name(const nb_lr_scheduler *s);

/* ---- state ---------------------------------------------------------------------------------- */
/* Number of doubles in the state. */
NB_API int nb_lr_scheduler_state_count(const nb_lr_scheduler *s);
/* Writes the state into out[0 .. size). */
NB_API void nb_lr_scheduler_state_get(const nb_lr_scheduler *s, double *out);
/* Name of state entry i ("last_epoch", "base_lr.1", "schedulers.0.last_epoch", ...) written
 * into buf (always NUL-terminated); returns buf. i out of range is misuse. */
NB_API char *nb_lr_scheduler_state_key(const nb_lr_scheduler *s, int i, char *buf, size_t n);
/* Restores a state written by nb_lr_scheduler_state_get of a scheduler built the same way.
 * Does not touch the optimizer's lrs (restore those with nb_optimizer_set_lr). Returns NB_OK,
 * or NB_ERR_MISMATCH with a message in nb_last_error() (nothing changed) when n, the kind, the
 * group count or the number of sub-schedulers differ, a count is not an integer, or an lr is
 * not finite. */
NB_API nb_status nb_lr_scheduler_state_set(nb_lr_scheduler *s, const double *in, int n);

#ifdef __cplusplus
}
#endif
#endif /* NB_LR_SCHEDULER_H */
