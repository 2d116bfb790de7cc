/* nb_autograd.h — define-by-run reverse-mode autograd (PyTorch semantics).
 *
 * An op whose input requires grad (and grad mode is on) records a node holding what its
 * backward needs; the output gets that node as grad_fn. nb_backward() walks the graph in an
 * iterative topological order (no recursion: chains of any length work) and accumulates into
 * the .grad of leaf tensors that require grad. Gradients of broadcast inputs are summed back
 * to the input's shape; gradients through views reach the base.
 *
 * Saved tensors are released once backward has passed their node, unless retain_graph is set;
 * a second backward through a released node is misuse naming the op. Writing in place to a
 * tensor that a node saved is detected by a version counter at backward time.
 * In-place ops on tensors that require grad while grad mode is on are misuse.
 *
 * Grad mode is per thread. Backward itself runs with grad mode off (no higher-order grads).
 */
#ifndef NB_AUTOGRAD_H
#define NB_AUTOGRAD_H

#include "nb_tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- grad mode ------------------------------------------------------------------------------ */
NB_API bool nb_is_grad_enabled(void);
/* Sets grad mode on this thread; returns the previous mode (torch.set_grad_enabled). */
NB_API bool nb_set_grad_enabled(bool enabled);
/* Runs a block with grad mode off (torch.no_grad):  NB_NO_GRAD { ... }  (no break/return out). */
#define NB_NO_GRAD \
    for (bool nb__ng_prev = nb_set_grad_enabled(false), nb__ng_once = true; nb__ng_once; \
         nb__ng_once = false, nb_set_grad_enabled(nb__ng_prev))
/* Puts this thread back in a known state after a misuse handler longjmp'd out of the library
 * (see "Errors" in nb_tensor.h): ends every scope opened since nb_scope_depth() returned
 * `scope_depth` (save it next to the setjmp), releasing the tensors they own, and turns grad
 * mode on. A scope_depth outside 0..nb_scope_depth() is misuse. Tensors the failed call created
 * outside any scope, and references it held, are not recovered (a leak, not a corruption). */
NB_API void nb_recover(int scope_depth);

/* ---- bfloat16 autocast (mixed precision; torch.autocast("cpu", dtype=torch.bfloat16)) -------- */
/* Between nb_autocast_begin() and nb_autocast_end() on this thread, nb_matmul, nb_linear_mod (and
 * nb_linear) and nb_scaled_dot_product_attention on float32 tensors round the operands of
 * their matrix products to bfloat16 (nb_bf16_round: nearest, ties to even) and accumulate in
 * float32; attention also rounds its probabilities before P V. Outputs are float32 tensors, and
 * every other op (LayerNorm, softmax, cross-entropy, the loss, optimizers) is unchanged, as is any
 * float64 op. A node recorded inside the region remembers it: its backward products round their
 * operands too (gradients flow through the rounding unchanged, as through PyTorch's casts),
 * wherever nb_backward is called. Parameters, gradients and optimizer state stay float32.
 * Outside any region every result is bit-identical to a build without autocast.
 * Regions nest (a depth counter); nb_autocast_end without an open region is misuse. nb_recover
 * closes every region of the thread (autocast off), as it turns grad mode on. Per thread. */
NB_API void nb_autocast_begin(void);
NB_API void nb_autocast_end(void);
/* True inside an autocast region on this thread. */
NB_API bool nb_is_autocast_enabled(void);

/* ---- tensor autograd state ------------------------------------------------------------------ */
/* Marks a leaf tensor as requiring grad. Non-float dtype or a non-leaf is misuse. Returns t. */
NB_API nb_tensor *nb_tensor_requires_grad_(nb_tensor *t, bool requires_grad);
NB_API bool nb_tensor_requires_grad(const nb_tensor *t);
/* True for tensors without grad_fn (created by the user, or results of ops not recorded). */
NB_API bool nb_tensor_is_leaf(const nb_tensor *t);
/* The accumulated gradient, or NULL. BORROWED: valid until the next zero_grad or release of t. */
NB_API nb_tensor *nb_tensor_get_grad(const nb_tensor *t);
/* Replaces t's gradient by g (retained; NULL clears). Shape must match t's. */
NB_API void nb_tensor_set_grad(nb_tensor *t, nb_tensor *g);
/* Sets the gradient to none (set_to_none=true), or zeroes it in place keeping the buffer. */
NB_API void nb_tensor_zero_grad(nb_tensor *t, bool set_to_none);
/* Asks backward to keep the gradient of a non-leaf tensor in its .grad. */
NB_API void nb_tensor_retain_grad(nb_tensor *t);
/* Name of the op that produced t ("nb_mul"), or NULL for leaves. */
NB_API const char *nb_tensor_grad_fn_name(const nb_tensor *t);
/* New tensor sharing t's storage, without grad_fn and not requiring grad. */
NB_API nb_tensor *nb_detach(const nb_tensor *t);

/* ---- backward ------------------------------------------------------------------------------- */
/* Computes gradients of `root` w.r.t. the leaves of its graph and accumulates them in their
 * .grad. grad_output has root's shape and dtype; NULL means ones and is allowed only when root
 * has one element. root must require grad. retain_graph keeps saved tensors for another pass. */
NB_API void nb_backward(nb_tensor *root, const nb_tensor *grad_output, bool retain_graph);

/* ---- op registry ---------------------------------------------------------------------------- */
/* Every differentiable op that records a node: count, public name ("nb_mul") and family
 * ("elementwise"). Index out of range is misuse. The gradient-check suite iterates these. */
NB_API int nb_op_count(void);
NB_API const char *nb_op_name_at(int i);
NB_API const char *nb_op_family_name_at(int i);

/* ---- anomaly mode --------------------------------------------------------------------------- */
/* When on (or NB_DETECT_ANOMALY=1 in the environment), every recorded op checks its output and
 * every backward its gradients for NaN/Inf, and the first one found is misuse naming the op. */
NB_API void nb_set_detect_anomaly(bool on);
NB_API bool nb_is_anomaly_enabled(void);

#ifdef __cplusplus
}
#endif
#endif /* NB_AUTOGRAD_H */
