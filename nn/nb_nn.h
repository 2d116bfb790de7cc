/* nb_nn.h — neural-network modules and fused functional ops (torch.nn / torch.nn.functional).
 *
 * Modules
 *   A module is a struct whose FIRST member is `nb_module base`, like a PyTorch nn.Module
 *   subclass. It owns its submodules and holds references to its parameters, each registered
 *   under a name, so the tree yields hierarchical names ("transformer.h.0.attn.c_attn.weight").
 *   A C user writes a model the same way (see README "Writing a new model in C"):
 *
 *     typedef struct { nb_module base; nb_linear_mod *fc1, *fc2; } mlp;
 *     static void mlp_free(nb_module *m) { (void)m; }          // children are freed for you
 *     static const nb_module_type mlp_type = {"MLP", NULL, mlp_free};
 *     mlp *m = calloc(1, sizeof *m);
 *     nb_module_init(&m->base, &mlp_type);
 *     m->fc1 = nb_linear_new(&m->base, "fc1", 4, 16, true, gen);   // registered as child "fc1"
 *
 *   nb_module_free(root) frees the whole tree (each module's type->free, then its struct).
 *
 * Names (README "API rules")
 *   torch.nn.functional.x is the function nb_x(...) (nb_linear, nb_layer_norm, nb_dropout); the
 *   module torch.nn.X is the struct nb_x_mod, created by nb_x_new(parent, name, ...) and run by its
 *   typed forward nb_x_forward(m, x, ...) (every module has one; nb_module_forward(&m->base, x) is
 *   the untyped single-input forward that nb_sequential_forward uses). nb_module_list_mod, like
 *   torch's ModuleList, has no forward.
 *
 * Functional ops
 *   nb_layer_norm, nb_cross_entropy, nb_dropout, nb_linear, nb_scaled_dot_product_attention
 *   (nn/functional.c, nn/attention.c) and the norms, losses, convolutions and poolings below are
 *   single autograd ops (family "nn") with analytic backward formulas (no chain of small ops),
 *   gradchecked like every op.
 *
 * Errors: a shape that does not fit a module names both shapes; an out-of-range token id or
 * target names the value and the bound.
 */
#ifndef NB_NN_H
#define NB_NN_H

#include "nb_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== the module tree ======================================================================== */
typedef struct nb_module nb_module;

typedef struct nb_module_type {
    const char *name; /* "Linear" */
    /* Optional single-input forward (used by nb_sequential_mod and nb_module_forward); NULL if none. */
    nb_tensor *(*forward)(nb_module *self, const nb_tensor *x);
    /* Optional: frees what the subtype owns beyond parameters/children (not the struct itself). */
    void (*free)(nb_module *self);
} nb_module_type;

struct nb_module {
    const nb_module_type *type;
    bool training;
    int n_params, cap_params;
    char **param_names;
    nb_tensor **params; /* strong references */
    int n_children, cap_children;
    char **child_names;
    nb_module **children; /* owned */
    int n_buffers, cap_buffers;
    char **buffer_names;
    nb_tensor **buffers;    /* strong references */
    bool *buffer_persistent;
};

/* Initializes an embedded base (training mode, no params/children). */
NB_API void nb_module_init(nb_module *m, const nb_module_type *type);
/* Registers `child` (owned from now on) under `name`. parent NULL is allowed (no-op). Misuse on a
 * duplicate name. Returns child. */
NB_API nb_module *nb_module_register_module(nb_module *parent, const char *name, nb_module *child);
/* Registers a parameter under `name` (retained; the tensor should be a leaf requiring grad).
 * The same tensor may be registered under several names (tied weights). Returns p. */
NB_API nb_tensor *nb_module_register_parameter(nb_module *m, const char *name, nb_tensor *p);
/* Replaces the tensor registered as parameter `name` of m (weight tying, as PyTorch's
 * `self.lm_head.weight = self.transformer.wte.weight`). Misuse if m has no such parameter or the
 * shapes differ. Returns p. The module's typed field (e.g. nb_linear_mod.weight) still points at the
 * old tensor, which this call releases: assign the result to it,
 *   lin->weight = nb_module_set_parameter(&lin->base, "weight", shared); */
NB_API nb_tensor *nb_module_set_parameter(nb_module *m, const char *name, nb_tensor *p);
/* Frees the module tree rooted at m (NULL is a no-op): type->free, children, parameter refs,
 * then free(m). Modules must have been allocated with malloc/calloc. */
NB_API void nb_module_free(nb_module *m);
/* Calls type->forward (misuse if the type has none). */
NB_API nb_tensor *nb_module_forward(nb_module *m, const nb_tensor *x);
/* Sets training mode on the whole tree (train(true) / eval = train(false)). */
NB_API void nb_module_train(nb_module *m, bool training);

/* Named parameters of the tree in registration order, depth first, each tensor once (the first
 * name of a tied tensor wins, as torch's named_parameters). */
typedef struct nb_param_list {
    int n;
    char **names;       /* owned by the list */
    nb_tensor **params; /* borrowed from the module */
} nb_param_list;
/* Fills *out (free with nb_param_list_free). with_aliases also lists every extra name of a tied
 * tensor (as torch's state_dict keys do). */
NB_API void nb_module_parameters(nb_module *m, bool with_aliases, nb_param_list *out);
NB_API void nb_param_list_free(nb_param_list *l);
/* Total number of parameter elements (tied tensors counted once). */
NB_API int64_t nb_module_parameter_numel(nb_module *m);
/* Zeroes (set_to_none=false) or drops (true) every parameter's gradient. */
NB_API void nb_module_zero_grad(nb_module *m, bool set_to_none);
/* The parameter with this full name ("h.0.attn.c_attn.weight"), borrowed, or NULL. */
NB_API nb_tensor *nb_module_get_parameter(nb_module *m, const char *name);

/* ---- buffers (torch.nn.Module.register_buffer) ---------------------------------------------- */
/* Registers t (retained; any dtype; it never requires grad) as buffer `name` of m: state that is
 * not a parameter and is not trained (BatchNorm's running statistics, a RoPE table, a mask).
 * Buffers are listed by nb_module_buffers, converted by nb_module_to_dtype and, when persistent,
 * saved and loaded by the state dict under their full names. t NULL registers an empty slot (as
 * torch's None buffer: listed nowhere until set). Misuse: a name taken by a child, parameter or
 * buffer, or t requiring grad. Returns t. */
NB_API nb_tensor *nb_module_register_buffer(nb_module *m, const char *name, nb_tensor *t, bool persistent);
/* Replaces buffer `name` of m by t (retained; the old one is released; any shape). Misuse when m
 * has no such buffer. Returns t: assign it to the module's typed field. */
NB_API nb_tensor *nb_module_set_buffer(nb_module *m, const char *name, nb_tensor *t);
/* The buffer with this full name ("layers.0.attention.freqs_cos"), borrowed, or NULL. */
NB_API nb_tensor *nb_module_get_buffer(nb_module *m, const char *name);
/* Named buffers of the tree (torch's named_buffers), depth first, each tensor once; only the
 * persistent ones when persistent_only. Fills *out (free with nb_param_list_free; its `params`
 * are the buffers, borrowed). */
NB_API void nb_module_buffers(nb_module *m, bool persistent_only, nb_param_list *out);
/* Converts every floating-point parameter and buffer of the tree to dt (a float dtype, or the
 * storage-only NB_BF16 / NB_F16 to store or save a model; convert back before computing), in place
 * (torch's module.to(dtype)): the tensor objects stay the same, so typed fields such as
 * nb_linear_mod.weight remain valid; gradients are dropped. Integer and bool buffers are kept.
 * Misuse: dt not a float dtype, or a parameter/buffer that is a view sharing storage with another
 * tensor. */
NB_API void nb_module_to_dtype(nb_module *m, nb_dtype dt);

/* ==== state dicts ============================================================================ */
struct nb_state_dict; /* nn/nb_state_dict.h */
/* A new state dict holding (references to) every parameter and persistent buffer under its full
 * name, in torch's order (module by module: its parameters, its persistent buffers, then its
 * children's); a tied tensor appears once, under its first name (as safetensors stores shared
 * tensors once). */
NB_API struct nb_state_dict *nb_module_state_dict(nb_module *m);
/* Copies values from sd into the module's parameters and persistent buffers (dtype converted).
 * strict: every parameter and persistent buffer must be present (under any of its names) and
 * every key must name one, else
 * NB_ERR_MISMATCH listing the missing and unexpected keys; non-strict loads what matches and
 * leaves the lists in nb_last_error(). A shape mismatch is always NB_ERR_MISMATCH naming the key
 * and both shapes. Nothing is modified unless the result is NB_OK. */
NB_API nb_status nb_module_load_state_dict(nb_module *m, const struct nb_state_dict *sd, bool strict);

/* ==== modules ================================================================================ */
/* Each constructor allocates the module, initializes it with PyTorch's default init drawn from
 * gen (NULL = default generator), registers it as child `name` of parent (if not NULL) and
 * returns it (owned by parent, or by the caller when parent is NULL: free with nb_module_free). */

/* y = x W^T + b; x [..., in] → [..., out]. weight [out, in], bias [out] (optional).
 * Init: U(-1/sqrt(in), 1/sqrt(in)) for both, as torch.nn.Linear. */
typedef struct nb_linear_mod {
    nb_module base;
    int64_t in_features, out_features;
    nb_tensor *weight, *bias; /* bias NULL when disabled */
} nb_linear_mod;
NB_API nb_linear_mod *nb_linear_new(nb_module *parent, const char *name, int64_t in, int64_t out, bool bias,
                                nb_generator *gen);
NB_API nb_tensor *nb_linear_forward(nb_linear_mod *l, const nb_tensor *x);

/* Lookup table: int ids of any shape S → S + [dim]. weight [num, dim] ~ N(0, 1). */
typedef struct nb_embedding_mod {
    nb_module base;
    int64_t num_embeddings, embedding_dim;
    nb_tensor *weight;
} nb_embedding_mod;
NB_API nb_embedding_mod *nb_embedding_new(nb_module *parent, const char *name, int64_t num, int64_t dim,
                                          nb_generator *gen);
NB_API nb_tensor *nb_embedding_forward(nb_embedding_mod *e, const nb_tensor *ids);

/* LayerNorm over the last dim of size `dim`: weight ones, bias zeros (each optional). */
typedef struct nb_layer_norm_mod {
    nb_module base;
    int64_t dim;
    double eps;
    nb_tensor *weight, *bias; /* NULL when disabled */
} nb_layer_norm_mod;
NB_API nb_layer_norm_mod *nb_layer_norm_new(nb_module *parent, const char *name, int64_t dim, double eps,
                                            bool elementwise_affine, bool bias);
NB_API nb_tensor *nb_layer_norm_forward(nb_layer_norm_mod *ln, const nb_tensor *x);

typedef struct nb_gelu_mod {
    nb_module base;
    nb_gelu_approx approx;
} nb_gelu_mod;
NB_API nb_gelu_mod *nb_gelu_new(nb_module *parent, const char *name, nb_gelu_approx approx);

/* Dropout with probability p (identity in eval mode or p == 0); masks drawn from gen (kept by
 * pointer; NULL = default generator). */
typedef struct nb_dropout_mod {
    nb_module base;
    double p;
    nb_generator *gen;
} nb_dropout_mod;
NB_API nb_dropout_mod *nb_dropout_new(nb_module *parent, const char *name, double p, nb_generator *gen);

typedef struct nb_softmax_mod {
    nb_module base;
    int dim;
} nb_softmax_mod;
NB_API nb_softmax_mod *nb_softmax_new(nb_module *parent, const char *name, int dim);

typedef struct nb_relu_mod {
    nb_module base;
} nb_relu_mod;
NB_API nb_relu_mod *nb_relu_new(nb_module *parent, const char *name);

typedef struct nb_tanh_mod {
    nb_module base;
} nb_tanh_mod;
NB_API nb_tanh_mod *nb_tanh_new(nb_module *parent, const char *name);

/* Sequential: runs its children's forward in order; children named "0", "1", ... */
typedef struct nb_sequential_mod {
    nb_module base;
} nb_sequential_mod;
NB_API nb_sequential_mod *nb_sequential_new(nb_module *parent, const char *name);
/* Appends m (owned from now on; its type must have a forward). Returns m. */
NB_API nb_module *nb_sequential_append(nb_sequential_mod *s, nb_module *m);
/* Runs x through the children in order (their single-input forwards) and returns the last result,
 * a new reference (x itself, retained, when s has no children; as torch). */
NB_API nb_tensor *nb_sequential_forward(nb_sequential_mod *s, const nb_tensor *x);

/* ModuleList: an indexable list of children named "0", "1", ... (no forward). */
typedef struct nb_module_list_mod {
    nb_module base;
} nb_module_list_mod;
NB_API nb_module_list_mod *nb_module_list_new(nb_module *parent, const char *name);
NB_API nb_module *nb_module_list_append(nb_module_list_mod *l, nb_module *m);
NB_API nb_module *nb_module_list_at(nb_module_list_mod *l, int i);
NB_API int nb_module_list_count(const nb_module_list_mod *l);

/* Options of the functional nb_cross_entropy (there is no cross-entropy module). */
typedef enum { NB_REDUCTION_MEAN, NB_REDUCTION_SUM, NB_REDUCTION_NONE } nb_reduction;
typedef struct nb_cross_entropy_opts {
    nb_reduction reduction;  /* default mean */
    int64_t ignore_index;    /* default -100 */
    double label_smoothing;  /* default 0 */
} nb_cross_entropy_opts;
NB_API nb_cross_entropy_opts nb_cross_entropy_opts_default(void);

/* ==== init schemes (torch.nn.init; in place, return t borrowed) =============================== */
/* Filling a tensor in place has one spelling: nb_fill_, nb_zero_ (nb_ops.h), nb_normal_,
 * nb_uniform_ (nb_tensor.h), the tensor methods; on a parameter that requires grad call them
 * inside NB_NO_GRAD, as torch.no_grad(). What torch.nn.init adds beyond them are the schemes that
 * compute their bound from the tensor's fans, below; they write under no-grad themselves. */
/* fan_in/fan_out of a [out, in, ...] weight as torch computes them. */
NB_API nb_tensor *nb_init_xavier_uniform_(nb_tensor *t, double gain, nb_generator *gen);
NB_API nb_tensor *nb_init_xavier_normal_(nb_tensor *t, double gain, nb_generator *gen);
/* kaiming_uniform_/normal_ with leaky-relu slope a, fan_in mode (torch defaults). */
NB_API nb_tensor *nb_init_kaiming_uniform_(nb_tensor *t, double a, nb_generator *gen);
NB_API nb_tensor *nb_init_kaiming_normal_(nb_tensor *t, double a, nb_generator *gen);

/* ==== fused functional ops (nn/functional.c, nn/attention.c; autograd family "nn") ============= */
/* LayerNorm over the last dim: (x - mean) / sqrt(var + eps) * weight + bias. weight, bias: [C]
 * or NULL; x [..., C]. Statistics in double-accumulated two-pass form; one op, analytic backward. */
NB_API nb_tensor *nb_layer_norm(const nb_tensor *x, const nb_tensor *weight, const nb_tensor *bias, double eps);
/* Cross-entropy of logits [N, C] (or [C]) against int targets [N] (or 0-dim), fused log-softmax +
 * NLL with an analytic backward. Targets equal to ignore_index contribute nothing (and are not
 * counted by the mean). Out-of-range targets: "nb_cross_entropy: target 70 out of range for 65
 * classes". Returns a 0-dim tensor (mean/sum) or [N] (none). opts NULL = defaults. */
NB_API nb_tensor *nb_cross_entropy(const nb_tensor *logits, const nb_tensor *targets,
                                   const nb_cross_entropy_opts *opts);
/* Linear layer as one op: y = x weight^T + bias (torch.nn.functional.linear). x [..., in],
 * weight [out, in], bias [out] or NULL; returns [..., out]. One GEMM forward; the backward is
 * analytic: dx = dy weight, dweight = dy^T x (leading dims of x flattened into rows), dbias =
 * column sums of dy; no transposed copies, no broadcast reduction. Misuse (shapes that do not
 * fit, non-float or mixed dtypes) names the op and the shapes.
 * Inside nb_autocast_begin/end (nb_autograd.h), float32: x and weight rounded to bfloat16 in both
 * GEMMs and the backward's, float32 accumulation; the bias added in float32. */
NB_API nb_tensor *nb_linear(const nb_tensor *x, const nb_tensor *weight, const nb_tensor *bias);
/* Inverted dropout: zeroes each element with probability p, scales the rest by 1/(1-p).
 * training false or p == 0 returns x itself (a new reference). */
NB_API nb_tensor *nb_dropout(const nb_tensor *x, double p, bool training, nb_generator *gen);
/* Scaled-dot-product attention, fused (torch.nn.functional.scaled_dot_product_attention(query,
 * key, value, attn_mask, dropout_p, is_causal, scale) with an explicit generator):
 *     out = dropout(softmax(q k^T * scale + mask), dropout_p) v, per (batch, head).
 * q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv], same float dtype, any strides (a last dim
 * without unit stride is copied once); returns a new [B, H, Tq, Dv]. scale <= 0 means 1/sqrt(D).
 * attn_mask: NULL, or broadcastable to [B, H, Tq, Tk] (right-aligned, size-1 dims repeat, any
 * strides, read in place): bool, true = the key takes part (PyTorch's convention), or q's float
 * dtype, added to the scores (-inf removes a key). A row whose keys are all removed gives output 0
 * and gradients 0 (PyTorch gives NaN there). A float mask that requires grad gets its gradient
 * (the scores' gradient summed over its broadcast dims); a bool mask has none.
 * is_causal masks key j for query i when j > i + (Tk - Tq): the usual lower triangle when
 * Tq == Tk, and with a KV cache (Tk > Tq) the new queries see every cached key; needs Tk >= Tq.
 * dropout_p in [0, 1): inverted dropout on the probabilities (kept ones scaled by 1/(1-p)), one
 * draw per element of the [B, H, Tq, Tk] probabilities from gen (NULL: the default generator) in
 * row-major order, exactly as nb_dropout(probs, dropout_p, true, gen) draws (masked entries draw
 * too); 0 draws nothing (pass 0 in eval mode). Tk == 0 (not causal) gives zeros.
 * One autograd op (inputs q, k, v, attn_mask): the forward keeps q, k, v, the per-row logsumexp,
 * the mask and, with dropout, one byte per probability (not the probabilities themselves); the
 * backward recomputes the probabilities. Parallel over (b, h) pairs; bit-identical for any thread
 * count. Misuse names the op and the values: q, k, v not 4-D, shapes that do not fit, non-float or
 * mixed dtypes, causal with Tk < Tq, non-finite scale, is_causal together with attn_mask, a mask
 * that does not broadcast or is neither bool nor q's dtype, dropout_p outside [0, 1).
 * Inside nb_autocast_begin/end (nb_autograd.h), float32: q, k, v and the probabilities (after mask
 * and dropout; in the backward also dout and dS) rounded to bfloat16 for the products; scores,
 * softmax in float32. */
NB_API nb_tensor *nb_scaled_dot_product_attention(const nb_tensor *q, const nb_tensor *k, const nb_tensor *v,
                                                  const nb_tensor *attn_mask, double dropout_p, bool is_causal,
                                                  double scale, nb_generator *gen);

/* ---- norms, rotary embedding, losses (nn/functional_norm.c, nn/functional_loss.c) ---------- */
/* RMSNorm over the last normalized_ndim dims (1..ndim): y = x / sqrt(mean(x^2) + eps) * weight.
 * weight: NULL or the shape of those dims. One op: the forward keeps the per-row 1/rms (double,
 * accumulated in double), the backward is analytic. */
NB_API nb_tensor *nb_rms_norm(const nb_tensor *x, int normalized_ndim, const nb_tensor *weight, double eps);
/* Rotary position embedding (LLaMA / llama2.c): x [..., T, hs] (usually [B, n_head, T, hs]), hs
 * even; the pair (x[2i], x[2i+1]) at row t is rotated as a complex number by the angle
 * (pos_offset + t) * theta^(-2i/hs) (theta usually 10000). Returns a new contiguous tensor; the
 * backward rotates the gradient back. */
NB_API nb_tensor *nb_rope(const nb_tensor *x, int64_t pos_offset, double theta);
/* GroupNorm: x [N, C, *], C divisible by groups; statistics per (sample, group) over its C/groups
 * channels and all of *; weight, bias [C] or NULL (per channel). */
NB_API nb_tensor *nb_group_norm(const nb_tensor *x, int64_t groups, const nb_tensor *weight, const nb_tensor *bias,
                                double eps);
/* BatchNorm: x [N, C, *]; weight, bias, running_mean, running_var [C] or NULL, x's dtype.
 * training: normalizes with the batch mean and biased variance per channel (over N and *) and,
 * when given, updates running_mean / running_var in place: r = (1 - momentum) r + momentum s with
 * the UNBIASED batch variance (as torch); misuse when a channel has a single value or a running
 * tensor requires grad. Eval: normalizes with the running statistics (both required). The output
 * is differentiable in x, weight and bias (running statistics are constants). */
NB_API nb_tensor *nb_batch_norm(const nb_tensor *x, nb_tensor *running_mean, nb_tensor *running_var,
                                const nb_tensor *weight, const nb_tensor *bias, bool training, double momentum,
                                double eps);

/* Losses (torch.nn.functional). input and target of one shape and float dtype (no broadcasting
 * between them); reduction mean (over all elements), sum or none (the elementwise losses, the
 * input's shape). Each is one op, differentiable in input and target; misuse names the op. */
/* kl_div's reduction only: the sum divided by input's first dim (torch's 'batchmean'). */
#define NB_REDUCTION_BATCHMEAN ((nb_reduction)(NB_REDUCTION_NONE + 1))
/* (x - y)^2 */
NB_API nb_tensor *nb_mse_loss(const nb_tensor *input, const nb_tensor *target, nb_reduction reduction);
/* |x - y| (gradient 0 at x == y) */
NB_API nb_tensor *nb_l1_loss(const nb_tensor *input, const nb_tensor *target, nb_reduction reduction);
/* 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (beta >= 0; 0 gives l1) */
NB_API nb_tensor *nb_smooth_l1_loss(const nb_tensor *input, const nb_tensor *target, nb_reduction reduction,
                                    double beta);
/* 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (delta > 0) */
NB_API nb_tensor *nb_huber_loss(const nb_tensor *input, const nb_tensor *target, nb_reduction reduction,
                                double delta);
/* -w [pos_weight t log sigmoid(x) + (1 - t) log sigmoid(-x)] in the stable form
 * w [(1 - t) x + (1 + (pos_weight - 1) t) softplus(-x)]. weight and pos_weight (NULL or
 * broadcastable to input, e.g. pos_weight [C] for input [N, C]) are differentiable too (torch 1.13
 * refuses a gradient for them; these are checked by finite differences). */
NB_API nb_tensor *nb_binary_cross_entropy_with_logits(const nb_tensor *input, const nb_tensor *target,
                                                      const nb_tensor *weight, const nb_tensor *pos_weight,
                                                      nb_reduction reduction);
/* KL divergence of log-probabilities input from target: t (log t - x) (0 where t == 0), or with
 * log_target exp(t) (t - x). Also accepts NB_REDUCTION_BATCHMEAN (input with >= 1 dim). */
NB_API nb_tensor *nb_kl_div(const nb_tensor *input, const nb_tensor *target, nb_reduction reduction,
                            bool log_target);
/* Negative log-likelihood of log-probabilities input [N, C], [N, C, d1, ...] or [C] against int
 * targets [N], [N, d1, ...] or []: -weight[t] * input[n, t, ...]. Targets equal to ignore_index
 * count for nothing; mean divides by the sum of weight[t] over the others (NaN when none);
 * none returns the target's shape. weight [C] or NULL, gets no gradient (misuse if it requires
 * grad). Out-of-range target: "nb_nll_loss: target 7 out of range for 5 classes". */
NB_API nb_tensor *nb_nll_loss(const nb_tensor *input, const nb_tensor *target, const nb_tensor *weight,
                              nb_reduction reduction, int64_t ignore_index);
/* nb_cross_entropy also takes (as torch 1.13):
 *   logits [N, C, d1, ...] with int targets [N, d1, ...] (none returns [N, d1, ...]);
 *   float probability targets of the logits' shape and dtype ([C], [N, C] or [N, C, d1, ...]):
 *   loss = -sum_c p'_c log_softmax(x)_c with p' = (1 - label_smoothing) p + label_smoothing / C,
 *   mean over the N*d1*... items; ignore_index does not apply; differentiable in the targets too. */

/* ==== convolution and pooling (nn/conv.c, nn/pool.c; autograd family "nn") ==================== */
/* Options of nb_conv1d/nb_conv2d, as torch.nn.functional.conv1d/conv2d. Arrays are per spatial dim
 * ({h, w} for 2-D; the 1-D ops read [0] only). */
typedef struct nb_conv_opts {
    int64_t stride[2];   /* >= 1; default 1 */
    int64_t padding[2];  /* zeros on both sides, >= 0; default 0 */
    int64_t dilation[2]; /* >= 1; default 1 */
    int64_t groups;      /* >= 1, dividing both channel counts; default 1 */
    /* torch's padding="same" (stride 1 only): padding is ignored; each dim is padded by
     * dilation*(k-1) in total, half before, the odd one extra after (right/bottom), so the output
     * has the input's size. */
    bool padding_same;
} nb_conv_opts;
NB_API nb_conv_opts nb_conv_opts_default(void);
/* 2-D convolution (cross-correlation, as torch): x [N, Cin, H, W] (or unbatched [Cin, H, W] →
 * [Cout, OH, OW]), weight [Cout, Cin/groups, kh, kw], bias [Cout] or NULL → [N, Cout, OH, OW] with OH = (H + 2*padding - dilation*(kh-1) - 1) /
 * stride + 1 (likewise OW). opts NULL = defaults. Same float dtype throughout, any strides. One
 * autograd op: im2col + GEMM forward, analytic backward (dx by col2im of W^T dy, dweight = dy
 * col^T, dbias = sums of dy). Results are bit-identical for any thread count. Misuse (names the
 * op and the values): wrong ndim, channels not divisible by groups or not matching the weight,
 * bias shape, stride/dilation < 1, padding < 0, padding_same with stride != 1, a dilated kernel
 * larger than the padded input, dtype mismatch. */
NB_API nb_tensor *nb_conv2d(const nb_tensor *x, const nb_tensor *weight, const nb_tensor *bias,
                            const nb_conv_opts *opts);
/* 1-D convolution: x [N, Cin, L] (or unbatched [Cin, L]), weight [Cout, Cin/groups, k], bias [Cout] or NULL →
 * [N, Cout, OL]; opts index [0] only. Otherwise as nb_conv2d. */
NB_API nb_tensor *nb_conv1d(const nb_tensor *x, const nb_tensor *weight, const nb_tensor *bias,
                            const nb_conv_opts *opts);

/* Options of the pooling ops, as torch.nn.functional.max_pool*d / avg_pool*d (arrays as in
 * nb_conv_opts). Output size: floor (ceil with ceil_mode) of (size + 2*padding -
 * dilation*(k-1) - 1) / stride, plus 1; with ceil_mode the last window must start inside the
 * input or the left padding (else it is dropped), as torch. */
typedef struct nb_pool_opts {
    int64_t stride[2];      /* >= 1, or 0 for the kernel size (torch's default); default 0 */
    int64_t padding[2];     /* 0 <= padding <= kernel/2; default 0 */
    int64_t dilation[2];    /* max pooling only (avg pooling needs 1); default 1 */
    bool ceil_mode;         /* default false */
    bool count_include_pad; /* avg pooling: divide by the window's size including padding
                               (clipped to the padded input) or only its in-bounds part; default true */
    /* avg pooling: > 0 divides every window's sum by this number instead (count_include_pad is
     * then ignored), as torch's divisor_override; 0 = none (default); < 0 is misuse, and so is
     * != 0 for max pooling. The 1-D average pooling takes it too, although torch's avg_pool1d has
     * none: it is avg_pool2d(divisor_override=d) over [..., 1, L] with a 1 x k window. */
    int64_t divisor_override;
} nb_pool_opts;
NB_API nb_pool_opts nb_pool_opts_default(void);
/* Max pooling over the last two dims of x [N, C, H, W] or [C, H, W]: padding is ignored (never
 * the max). The backward routes each output's gradient to its window's first maximum (a NaN
 * wins), as torch. opts NULL = defaults. Misuse: wrong ndim, kernel/stride/dilation < 1 (stride
 * 0 = kernel), padding outside [0, kernel/2], an empty output. */
NB_API nb_tensor *nb_max_pool2d(const nb_tensor *x, int64_t kh, int64_t kw, const nb_pool_opts *opts);
/* Max pooling over the last dim of x [N, C, L] or [C, L] (opts index [0]). */
NB_API nb_tensor *nb_max_pool1d(const nb_tensor *x, int64_t k, const nb_pool_opts *opts);
/* Average pooling over the last two dims of x [N, C, H, W] or [C, H, W] (see count_include_pad
 * and divisor_override); sums in double. The backward spreads each output's gradient evenly (by
 * the same divisor) over its window's in-bounds elements. Misuse as nb_max_pool2d, dilation != 1,
 * divisor_override < 0. */
NB_API nb_tensor *nb_avg_pool2d(const nb_tensor *x, int64_t kh, int64_t kw, const nb_pool_opts *opts);
/* Average pooling over the last dim of x [N, C, L] or [C, L] (opts index [0]; divisor_override
 * as nb_pool_opts says, an extension over torch's avg_pool1d). */
NB_API nb_tensor *nb_avg_pool1d(const nb_tensor *x, int64_t k, const nb_pool_opts *opts);
/* -- max pooling with indices, max unpooling (issue #15) -- */
/* torch.nn.functional.max_pool2d_with_indices (max_pool2d(..., return_indices=True)): returns
 * nb_max_pool2d's values (differentiable as there) and, when indices is not NULL, stores in
 * *indices a NEW int64 tensor of the output's shape (not differentiable, the caller releases it
 * or its scope does): each output's argmax as a flat index h*W + w into its [H, W] plane, as
 * torch gives it: the first maximum in window scan order (row by row), the last NaN if the window
 * has one (a NaN is the max), the window's first in-bounds element when all are -inf. The
 * backward keeps its own reference (an in-place write to *indices is caught there as to any
 * saved tensor). A window with no in-bounds element at all (dilation > 1 and padding, e.g.
 * L = 2, k = 2, padding 1, dilation 3) gives -inf and index -1, where torch 1.13 gives an index
 * past the plane's end. Misuse as nb_max_pool2d. */
NB_API nb_tensor *nb_max_pool2d_with_indices(const nb_tensor *x, int64_t kh, int64_t kw, const nb_pool_opts *opts,
                                             nb_tensor **indices);
/* The same for nb_max_pool1d: indices index the [L] row. */
NB_API nb_tensor *nb_max_pool1d_with_indices(const nb_tensor *x, int64_t k, const nb_pool_opts *opts,
                                             nb_tensor **indices);
/* torch.nn.functional.max_unpool2d: the partial inverse of nb_max_pool2d_with_indices. x [N, C, H,
 * W] or [C, H, W] (float, any strides) and indices (int64, x's shape: flat h*W + w positions in the
 * output plane, as nb_max_pool2d_with_indices gives them) → [..., OH, OW], zero but for
 * out[plane][indices[i]] = x[i] (a repeated index: the last in x's row-major order wins, as torch's
 * CPU kernel on one thread; on several its winner is undefined). OH = (H - 1)*stride - 2*padding +
 * kh (likewise OW), with opts' stride (0 = the kernel) and padding (its other fields are not read;
 * NULL = defaults); output_size ({oh, ow}, NULL = that default) overrides it within (default -
 * stride, default + stride), as torch (e.g. the pooled input's size when ceil_mode or an odd size
 * made the default differ). Differentiable in x: dx[i] = dy[plane][indices[i]] (a gather, as torch:
 * each of a repeated index's inputs gets that gradient); the node keeps a reference to indices (a
 * contiguous copy if they are not contiguous): an in-place write to them is caught by the backward.
 * Misuse: wrong ndim, non-float x, indices not int64 or not of x's shape, kernel < 1, stride or
 * padding < 0, output_size out of range, an output size < 1, an index outside [0, OH*OW) (names it
 * and its element). */
NB_API nb_tensor *nb_max_unpool2d(const nb_tensor *x, const nb_tensor *indices, int64_t kh, int64_t kw,
                                  const nb_pool_opts *opts, const int64_t *output_size);
/* The same over the last dim: x and indices [N, C, L] or [C, L] → [..., OL], OL = (L - 1)*stride
 * - 2*padding + k (opts index [0]) or output_size[0]. */
NB_API nb_tensor *nb_max_unpool1d(const nb_tensor *x, const nb_tensor *indices, int64_t k, const nb_pool_opts *opts,
                                  const int64_t *output_size);
/* -- transposed convolution (nn/conv_transpose.c) -- */
/* Options of nb_conv_transpose1d/2d, as torch.nn.functional.conv_transpose1d/2d (arrays per
 * spatial dim as in nb_conv_opts: {h, w}, the 1-D ops read [0] only). */
typedef struct nb_conv_transpose_opts {
    int64_t stride[2];         /* >= 1; default 1 */
    int64_t padding[2];        /* >= 0, cut from both sides of the output; default 0 */
    int64_t output_padding[2]; /* >= 0, added to one side (bottom/right) of the output, smaller
                                  than the stride or the dilation (as torch); default 0 */
    int64_t dilation[2];       /* >= 1; default 1 */
    int64_t groups;            /* >= 1, dividing the input channels; default 1 */
} nb_conv_transpose_opts;
NB_API nb_conv_transpose_opts nb_conv_transpose_opts_default(void);
/* 2-D transposed convolution (torch's conv_transpose2d, the gradient of nb_conv2d with respect to
 * its input): x [N, Cin, H, W] (or unbatched [Cin, H, W] → [Cout, OH, OW]), weight [Cin,
 * Cout/groups, kh, kw], bias [Cout] or NULL → a new [N, Cout, OH, OW] with OH = (H - 1)*stride -
 * 2*padding + dilation*(kh - 1) + output_padding + 1 (likewise OW). opts NULL = defaults. Same
 * float dtype throughout, any strides; arguments borrowed. One autograd op: the forward is
 * nb_conv2d's input gradient (GEMM + col2im), dx is nb_conv2d's forward of dy with the same
 * weight, dweight its weight gradient with x and dy swapped, dbias the sums of dy; bit-identical
 * for any thread count. Misuse (names the op and the values): wrong ndim, input channels not
 * matching weight's dim 0 or not divisible by groups, bias shape, stride/dilation < 1,
 * padding/output_padding < 0, output_padding not smaller than stride or dilation, an output size
 * < 1, dtype mismatch, size overflow. */
NB_API nb_tensor *nb_conv_transpose2d(const nb_tensor *x, const nb_tensor *weight, const nb_tensor *bias,
                                      const nb_conv_transpose_opts *opts);
/* 1-D transposed convolution: x [N, Cin, L] (or unbatched [Cin, L]), weight [Cin, Cout/groups,
 * k], bias [Cout] or NULL → [N, Cout, OL]; opts index [0] only. Otherwise as nb_conv_transpose2d. */
NB_API nb_tensor *nb_conv_transpose1d(const nb_tensor *x, const nb_tensor *weight, const nb_tensor *bias,
                                      const nb_conv_transpose_opts *opts);
/* -- interpolation (nn/interp.c) -- */
/* Modes of nb_interpolate, as torch's mode strings: "nearest" (3-D or 4-D input), "linear"
 * (3-D), "bilinear" (4-D). */
typedef enum nb_interp_mode { NB_INTERP_NEAREST, NB_INTERP_LINEAR, NB_INTERP_BILINEAR } nb_interp_mode;
/* Options of nb_interpolate, as torch.nn.functional.interpolate's. Exactly one of size and scale
 * is given (nonzero) for the used dims ({h, w} in 2-D; [0] only in 1-D, [1] must stay 0). */
typedef struct nb_interp_opts {
    nb_interp_mode mode;         /* default NB_INTERP_NEAREST */
    int64_t size[2];             /* output sizes (>= 1), or 0 = not given (default) */
    double scale[2];             /* scale factors (finite, > 0), or 0 = not given (default) */
    bool align_corners;          /* linear/bilinear only (true with nearest is misuse); default false */
    bool recompute_scale_factor; /* with scale: map coordinates by in/out instead of 1/scale; default false */
} nb_interp_opts;
NB_API nb_interp_opts nb_interp_opts_default(void);
/* torch.nn.functional.interpolate (PyTorch 1.13) for modes nearest, linear and bilinear: x [N, C,
 * L] (nearest, linear) or [N, C, H, W] (nearest, bilinear), float32/float64, any strides →
 * [N, C, OL] / [N, C, OH, OW], a new tensor. Output size: opts->size, else floor(in * scale).
 * Source coordinate of output index i along a dim, with r = in/out, or 1/scale when a scale is
 * given (and recompute_scale_factor is not set): nearest min(floor(i * r), in - 1); linear
 * (i + 0.5) * r - 0.5 clamped at 0 (align_corners: i * (in - 1)/(out - 1), the scale unused),
 * blending its two neighbours; out == in copies. Differentiable in x: nearest adds each output's
 * gradient into its source, (bi)linear spreads it with the forward's weights; bit-identical for
 * any thread count. (torch 1.13's nearest backward, and its nearest forward of a 4-D input with
 * C == 1, which takes its channels-last kernel, map out == in and out == 2*in as if the scale were
 * 1 or 2 even when a scale factor such as 1.1 on 8 or 2.1 on 5 gave those sizes, unlike its
 * generic forward; here the forward is always the generic one and the backward its transpose.)
 * Misuse (names the op and the values): opts NULL, an unknown mode, a rank the mode does not
 * take, align_corners with nearest, both or neither of size and scale, a size < 1, a scale <= 0
 * or not finite, an unused [1] entry set in 1-D, recompute_scale_factor with a size, an input
 * spatial size 0, an output size < 1 or overflowing, a non-float dtype. N or C may be 0 (an empty
 * result). */
NB_API nb_tensor *nb_interpolate(const nb_tensor *x, const nb_interp_opts *opts);
/* Upsample(size or scale_factor, mode, align_corners, recompute_scale_factor) as torch.nn.Upsample:
 * opts (copied, not NULL) as nb_interp_opts, checked at construction as far as they go without an
 * input (a nearest module is 2-D when size[1] or scale[1] is set, else 1-D). No parameters or
 * buffers. Misuse: as nb_interpolate's options. */
typedef struct nb_upsample_mod {
    nb_module base;
    nb_interp_opts opts;
} nb_upsample_mod;
NB_API nb_upsample_mod *nb_upsample_new(nb_module *parent, const char *name, const nb_interp_opts *opts);
/* nb_interpolate(x, &m->opts): a new tensor; misuse as there. */
NB_API nb_tensor *nb_upsample_forward(nb_upsample_mod *m, const nb_tensor *x);

/* ==== more modules: activations, GroupNorm, BatchNorm (nn/modules_more.c) =================== */
/* Each has torch.nn's name (the type name), constructor defaults stated below, PyTorch's default
 * init (norm weights ones, biases zeros), is created like the modules above (registered as child
 * `name` of parent when not NULL) and has a typed forward plus the type's single-input forward
 * (so nb_sequential_mod runs it). Forwards return a new reference; x is borrowed. */

/* Typed forwards of the modules above: nb_gelu(x, approx), nb_dropout(x, p, training, gen),
 * nb_softmax(x, dim), nb_relu(x), nb_tanh(x). */
NB_API nb_tensor *nb_gelu_forward(nb_gelu_mod *m, const nb_tensor *x);
NB_API nb_tensor *nb_dropout_forward(nb_dropout_mod *m, const nb_tensor *x);
NB_API nb_tensor *nb_softmax_forward(nb_softmax_mod *m, const nb_tensor *x);
NB_API nb_tensor *nb_relu_forward(nb_relu_mod *m, const nb_tensor *x);
NB_API nb_tensor *nb_tanh_forward(nb_tanh_mod *m, const nb_tensor *x);

/* SiLU: x * sigmoid(x) (torch.nn.SiLU). */
typedef struct nb_silu_mod {
    nb_module base;
} nb_silu_mod;
NB_API nb_silu_mod *nb_silu_new(nb_module *parent, const char *name);
NB_API nb_tensor *nb_silu_forward(nb_silu_mod *m, const nb_tensor *x);

/* Sigmoid: 1 / (1 + exp(-x)). */
typedef struct nb_sigmoid_mod {
    nb_module base;
} nb_sigmoid_mod;
NB_API nb_sigmoid_mod *nb_sigmoid_new(nb_module *parent, const char *name);
NB_API nb_tensor *nb_sigmoid_forward(nb_sigmoid_mod *m, const nb_tensor *x);

/* Softplus: log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (torch's defaults
 * beta 1, threshold 20). Misuse: beta zero or not finite, threshold NaN. */
typedef struct nb_softplus_mod {
    nb_module base;
    double beta, threshold;
} nb_softplus_mod;
NB_API nb_softplus_mod *nb_softplus_new(nb_module *parent, const char *name, double beta, double threshold);
NB_API nb_tensor *nb_softplus_forward(nb_softplus_mod *m, const nb_tensor *x);

/* LeakyReLU: x where x > 0, else negative_slope * x (torch's default slope 0.01; the gradient at
 * 0 is the slope, as torch). Misuse: a slope that is not finite. */
typedef struct nb_leaky_relu_mod {
    nb_module base;
    double negative_slope;
} nb_leaky_relu_mod;
NB_API nb_leaky_relu_mod *nb_leaky_relu_new(nb_module *parent, const char *name, double negative_slope);
NB_API nb_tensor *nb_leaky_relu_forward(nb_leaky_relu_mod *m, const nb_tensor *x);

/* Identity: returns x itself (a new reference, as torch returns the same tensor). */
typedef struct nb_identity_mod {
    nb_module base;
} nb_identity_mod;
NB_API nb_identity_mod *nb_identity_new(nb_module *parent, const char *name);
NB_API nb_tensor *nb_identity_forward(nb_identity_mod *m, const nb_tensor *x);

/* Flatten dims start_dim..end_dim (negative counts from the end) into one: nb_flatten (torch's
 * defaults start_dim 1, end_dim -1). Dims out of range for x are misuse, at forward. */
typedef struct nb_flatten_mod {
    nb_module base;
    int start_dim, end_dim;
} nb_flatten_mod;
NB_API nb_flatten_mod *nb_flatten_new(nb_module *parent, const char *name, int start_dim, int end_dim);
NB_API nb_tensor *nb_flatten_forward(nb_flatten_mod *m, const nb_tensor *x);

/* LogSoftmax over dim (stable; nb_log_softmax). */
typedef struct nb_log_softmax_mod {
    nb_module base;
    int dim;
} nb_log_softmax_mod;
NB_API nb_log_softmax_mod *nb_log_softmax_new(nb_module *parent, const char *name, int dim);
NB_API nb_tensor *nb_log_softmax_forward(nb_log_softmax_mod *m, const nb_tensor *x);

/* RMSNorm: nb_rms_norm_mod below (nn/modules_norm.c). */

/* GroupNorm(num_groups, num_channels, eps = 1e-5, affine = true): x [N, C, *] with C ==
 * num_channels, statistics per (sample, group); weight [C] ones, bias [C] zeros (NULL without
 * affine). Misuse: num_channels not divisible by num_groups (as torch, at construction); at
 * forward, an input that is not [N, num_channels, *]. */
typedef struct nb_group_norm_mod {
    nb_module base;
    int64_t num_groups, num_channels;
    double eps;
    nb_tensor *weight, *bias; /* NULL when not affine */
} nb_group_norm_mod;
NB_API nb_group_norm_mod *nb_group_norm_new(nb_module *parent, const char *name, int64_t num_groups,
                                            int64_t num_channels, double eps, bool affine);
NB_API nb_tensor *nb_group_norm_forward(nb_group_norm_mod *m, const nb_tensor *x);

/* BatchNorm1d / BatchNorm2d(num_features, eps = 1e-5, momentum = 0.1, affine = true,
 * track_running_stats = true). BatchNorm1d takes [N, C] or [N, C, L], BatchNorm2d [N, C, H, W],
 * C == num_features. Parameters weight [C] ones, bias [C] zeros (NULL without affine); persistent
 * buffers running_mean [C] zeros, running_var [C] ones (default dtype) and num_batches_tracked
 * (int64, 0-dim, 0); without track_running_stats the three are empty (NULL, in no state dict).
 * Training (or no running statistics): batch statistics; with track_running_stats each training
 * forward adds 1 to num_batches_tracked and updates the running statistics in place with
 * momentum (the unbiased batch variance), or, when momentum is NaN (torch's None), with the
 * cumulative average factor 1 / num_batches_tracked. Eval: the running statistics. Misuse:
 * num_features <= 0, eps < 0, momentum outside [0, 1] (NaN allowed); at forward, an input of the
 * wrong rank or channel count (names both), a training batch with one value per channel. */
typedef struct nb_batch_norm_mod {
    nb_module base;
    int64_t num_features;
    int dims; /* 1 (BatchNorm1d) or 2 (BatchNorm2d) */
    double eps, momentum;
    bool affine, track_running_stats;
    nb_tensor *weight, *bias;                                     /* NULL when not affine */
    nb_tensor *running_mean, *running_var, *num_batches_tracked; /* NULL when not tracked */
} nb_batch_norm_mod;
NB_API nb_batch_norm_mod *nb_batch_norm1d_new(nb_module *parent, const char *name, int64_t num_features, double eps,
                                              double momentum, bool affine, bool track_running_stats);
NB_API nb_batch_norm_mod *nb_batch_norm2d_new(nb_module *parent, const char *name, int64_t num_features, double eps,
                                              double momentum, bool affine, bool track_running_stats);
NB_API nb_tensor *nb_batch_norm_forward(nb_batch_norm_mod *m, const nb_tensor *x);

/* ---- RMSNorm module (nn/modules_norm.c; LLaMA) ---------------------------------------------- */
/* torch/llama2.c RMSNorm over the last dim of size `dim`: y = x / sqrt(mean(x^2) + eps) * weight,
 * weight [dim] initialized to ones (parameter "weight"). nb_module_forward works on it. Misuse:
 * dim <= 0 or eps < 0 (new); an input whose last dim is not `dim` (forward, naming the shape). */
typedef struct nb_rms_norm_mod {
    nb_module base;
    int64_t dim;
    double eps;
    nb_tensor *weight;
} nb_rms_norm_mod;
NB_API nb_rms_norm_mod *nb_rms_norm_new(nb_module *parent, const char *name, int64_t dim, double eps);
/* x [..., dim] -> same shape (nb_rms_norm with normalized_ndim 1). */
NB_API nb_tensor *nb_rms_norm_forward(nb_rms_norm_mod *n, const nb_tensor *x);
/* ==== recurrent layers (nn/rnn.c; torch.nn.LSTMCell, GRUCell, LSTM, GRU) ======================== */
/* A cell: weight_ih [G*H, I], weight_hh [G*H, H], bias_ih, bias_hh [G*H] (NULL without bias),
 * G = 4 for LSTM (gate rows i, f, g, o) and 3 for GRU (r, z, n), exactly torch's layout, so
 * torch weights copy over unchanged. Init: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)) from
 * gen (NULL = default generator) in registration order weight_ih, weight_hh, bias_ih, bias_hh. */
typedef struct nb_rnn_cell_mod {
    nb_module base;
    int64_t input_size, hidden_size;
    nb_tensor *weight_ih, *weight_hh, *bias_ih, *bias_hh;
} nb_rnn_cell_mod;
typedef nb_rnn_cell_mod nb_lstm_cell_mod;
typedef nb_rnn_cell_mod nb_gru_cell_mod;
NB_API nb_lstm_cell_mod *nb_lstm_cell_new(nb_module *parent, const char *name, int64_t input_size, int64_t hidden_size,
                                      bool bias, nb_generator *gen);
/* One LSTM step: x [B, I], h and c [B, H] (each NULL = zeros). Sets *h_out, *c_out to new
 * references [B, H]: c' = f*c + i*g, h' = o*tanh(c'). Misuse: shapes that do not fit. */
NB_API void nb_lstm_cell_forward(nb_lstm_cell_mod *cell, const nb_tensor *x, const nb_tensor *h, const nb_tensor *c,
                                 nb_tensor **h_out, nb_tensor **c_out);
NB_API nb_gru_cell_mod *nb_gru_cell_new(nb_module *parent, const char *name, int64_t input_size, int64_t hidden_size,
                                    bool bias, nb_generator *gen);
/* One GRU step: x [B, I], h [B, H] (NULL = zeros) → new h' [B, H] = (1-z)*n + z*h with
 * n = tanh(W_in x + b_in + r*(W_hn h + b_hn)), as torch. */
NB_API nb_tensor *nb_gru_cell_forward(nb_gru_cell_mod *cell, const nb_tensor *x, const nb_tensor *h);

/* Multi-layer LSTM / GRU (torch.nn.LSTM / GRU without dropout, unidirectional). Layer k has
 * weight_ih_l{k} [G*H, I or H], weight_hh_l{k} [G*H, H], bias_ih_l{k}, bias_hh_l{k} [G*H]
 * (registered in that order, layer by layer; init as the cells). The arrays below hold
 * num_layers borrowed pointers (bias arrays all NULL without bias). */
typedef struct nb_rnn_mod {
    nb_module base;
    bool is_lstm, bias, batch_first;
    int num_layers;
    int64_t input_size, hidden_size;
    nb_tensor **weight_ih, **weight_hh, **bias_ih, **bias_hh;
} nb_rnn_mod;
typedef nb_rnn_mod nb_lstm_mod;
typedef nb_rnn_mod nb_gru_mod;
NB_API nb_lstm_mod *nb_lstm_new(nb_module *parent, const char *name, int64_t input_size, int64_t hidden_size,
                            int num_layers, bool bias, bool batch_first, nb_generator *gen);
NB_API nb_gru_mod *nb_gru_new(nb_module *parent, const char *name, int64_t input_size, int64_t hidden_size,
                          int num_layers, bool bias, bool batch_first, nb_generator *gen);
/* x [B, T, I] (batch_first) or [T, B, I], T, B >= 1, the weights' float dtype. h0, c0: initial
 * state [num_layers, B, H], both or neither (NULL = zeros). Returns the last layer's hidden states
 * [B, T, H] (or [T, B, H]), a new reference; *h_n, *c_n (when not NULL) get the final states
 * [num_layers, B, H] as new references, still attached to the graph (detach them for truncated
 * BPTT with nb_detach_carry). The input of all timesteps is projected by one GEMM per layer; each
 * step computes h W_hh^T + b_hh and the gates. Misuse: shapes or dtypes that do not fit. */
NB_API nb_tensor *nb_lstm_forward(nb_lstm_mod *m, const nb_tensor *x, const nb_tensor *h0, const nb_tensor *c0,
                                  nb_tensor **h_n, nb_tensor **c_n);
NB_API nb_tensor *nb_gru_forward(nb_gru_mod *m, const nb_tensor *x, const nb_tensor *h0, nb_tensor **h_n);
/* Truncated BPTT in one call: replaces *slot by a detached copy-free view of t (nb_detach: same
 * values, no history, no grad) owned by the SLOT, i.e. it outlives every open scope, and releases
 * the tensor *slot held before (NULL allowed). t NULL just clears the slot. Returns the new *slot
 * (borrowed). The caller releases the last one with nb_tensor_release (or nb_detach_carry(slot,
 * NULL)). Typical loop: out = nb_lstm_forward(m, x, h, c, &hn, &cn); nb_detach_carry(&h, hn);
 * nb_detach_carry(&c, cn); */
NB_API nb_tensor *nb_detach_carry(nb_tensor **slot, const nb_tensor *t);
/* perf: the fused LSTM recurrence (nn/lstm_op.c). One LSTM layer over T timesteps as one op, torch.nn.LSTM's
 * equations with gate order (i, f, g, o): a_t = gx[t] + h_{t-1} w_hh^T + b_hh, c_t = f*c_{t-1} + i*g,
 * h_t = o*tanh(c_t). gx [T, B, 4H] is the input already projected (x W_ih^T + b_ih), w_hh [4H, H],
 * b_hh [4H] or NULL, h0 and c0 [B, H] or NULL (zeros). Returns hc [T, B, 2H], a new reference:
 * hc[t, :, :H] = h_t and hc[t, :, H:] = c_t. Differentiable in every input (backward through time in one
 * node: one GEMM per step plus one GEMM for w_hh's gradient). Misuse: shapes or dtypes that do not fit. */
NB_API nb_tensor *nb_lstm_recurrence(const nb_tensor *gx, const nb_tensor *w_hh, const nb_tensor *b_hh,
                                     const nb_tensor *h0, const nb_tensor *c0);

/* ---- convolution and pooling modules, RMSNorm without weight (nn/modules_conv.c, nn/modules_norm.c) ---- */
/* Conv1d / Conv2d(in_channels, out_channels, kernel_size, opts, bias) as torch.nn.Conv1d/Conv2d:
 * opts (NULL = defaults) carries stride, padding, dilation, groups and padding "same"
 * (opts->padding_same) as nb_conv_opts; Conv1d uses index [0] of its arrays (the module stores
 * [1] as the defaults). Parameters weight [out, in/groups, k] (Conv1d) or [out, in/groups, kh,
 * kw] (Conv2d) and bias [out] (NULL without bias). Init as torch's reset_parameters: weight
 * kaiming_uniform_(a = sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in =
 * in/groups * kernel elements, then bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from gen (NULL
 * = default generator) in that order. Misuse (at construction, as torch): a size or groups < 1,
 * channels not divisible by groups, kernel/stride/dilation < 1, padding < 0, padding_same with a
 * stride != 1. */
typedef struct nb_conv_mod {
    nb_module base;
    int dims; /* 1 (Conv1d) or 2 (Conv2d) */
    int64_t in_channels, out_channels;
    int64_t kernel_size[2]; /* {kh, kw}; Conv1d {k, 1} */
    nb_conv_opts opts;
    nb_tensor *weight, *bias; /* bias NULL when disabled */
} nb_conv_mod;
NB_API nb_conv_mod *nb_conv1d_new(nb_module *parent, const char *name, int64_t in_channels, int64_t out_channels,
                                  int64_t kernel_size, const nb_conv_opts *opts, bool bias, nb_generator *gen);
NB_API nb_conv_mod *nb_conv2d_new(nb_module *parent, const char *name, int64_t in_channels, int64_t out_channels,
                                  int64_t kh, int64_t kw, const nb_conv_opts *opts, bool bias, nb_generator *gen);
/* x [N, in, L] or [in, L] (Conv1d), [N, in, H, W] or [in, H, W] (Conv2d) → nb_conv1d/nb_conv2d
 * with the module's weight, bias and opts (output sizes there). Misuse: another rank or channel
 * count (names the shape and the module), then the op's own checks. */
NB_API nb_tensor *nb_conv_forward(nb_conv_mod *m, const nb_tensor *x);

/* MaxPool1d/2d and AvgPool1d/2d(kernel_size, opts) as torch.nn's: opts (NULL = defaults) as
 * nb_pool_opts (stride 0 = the kernel size, torch's default, resolved at construction;
 * padding in [0, kernel/2]; dilation for max pooling only; ceil_mode; count_include_pad and
 * divisor_override for average pooling, default true and 0 (none) as torch). No parameters or
 * buffers. Misuse at construction: kernel or dilation < 1, stride < 0, padding outside
 * [0, kernel/2], dilation != 1 for average pooling, divisor_override < 0, or != 0 for max
 * pooling; at forward, the op's checks (nb_max_pool2d …). */
typedef struct nb_pool_mod {
    nb_module base;
    int dims; /* 1 or 2 */
    bool is_max;
    int64_t kernel_size[2]; /* {kh, kw}; 1-D {k, 1} */
    nb_pool_opts opts;      /* stride resolved (never 0) */
} nb_pool_mod;
typedef nb_pool_mod nb_max_pool_mod;
typedef nb_pool_mod nb_avg_pool_mod;
NB_API nb_max_pool_mod *nb_max_pool1d_new(nb_module *parent, const char *name, int64_t kernel_size,
                                          const nb_pool_opts *opts);
NB_API nb_max_pool_mod *nb_max_pool2d_new(nb_module *parent, const char *name, int64_t kh, int64_t kw,
                                          const nb_pool_opts *opts);
NB_API nb_avg_pool_mod *nb_avg_pool1d_new(nb_module *parent, const char *name, int64_t kernel_size,
                                          const nb_pool_opts *opts);
NB_API nb_avg_pool_mod *nb_avg_pool2d_new(nb_module *parent, const char *name, int64_t kh, int64_t kw,
                                          const nb_pool_opts *opts);
/* x [N, C, L] or [C, L] (1-D), [N, C, H, W] or [C, H, W] (2-D) → nb_max_pool1d/2d or
 * nb_avg_pool1d/2d. Misuse: a max module given to nb_avg_pool_forward or the reverse. */
NB_API nb_tensor *nb_max_pool_forward(nb_max_pool_mod *m, const nb_tensor *x);
NB_API nb_tensor *nb_avg_pool_forward(nb_avg_pool_mod *m, const nb_tensor *x);

/* torch.nn.functional.adaptive_avg_pool2d: x [N, C, H, W] or [C, H, W] (float) → [..., oh, ow];
 * output cell (i, j) averages rows [floor(i*H/oh), ceil((i+1)*H/oh)) and the same columns of W;
 * oh or ow 0 keeps that size (torch's None). Not an op of its own: per dim, one nb_avg_pool2d
 * when the size divides evenly (oh = 1 included), else a nb_narrow + nb_mean per cell and a
 * nb_cat; differentiable through those. Misuse: rank, non-float, an empty input, a negative
 * size. */
NB_API nb_tensor *nb_adaptive_avg_pool2d(const nb_tensor *x, int64_t oh, int64_t ow);
/* AdaptiveAvgPool2d((oh, ow)) (oh = ow = 1: global average pooling); 0 keeps the input's size. */
typedef struct nb_adaptive_avg_pool2d_mod {
    nb_module base;
    int64_t output_size[2];
} nb_adaptive_avg_pool2d_mod;
NB_API nb_adaptive_avg_pool2d_mod *nb_adaptive_avg_pool2d_new(nb_module *parent, const char *name, int64_t oh,
                                                              int64_t ow);
NB_API nb_tensor *nb_adaptive_avg_pool2d_forward(nb_adaptive_avg_pool2d_mod *m, const nb_tensor *x);
/* -- transposed convolution modules (nn/modules_conv.c) -- */
/* ConvTranspose1d / ConvTranspose2d(in_channels, out_channels, kernel_size, opts, bias) as
 * torch.nn's: opts (NULL = defaults) carries stride, padding, output_padding, dilation and groups
 * as nb_conv_transpose_opts; the 1-D module uses index [0] (it stores [1] as the defaults).
 * Parameters "weight" [in, out/groups, k] or [in, out/groups, kh, kw] and "bias" [out] (NULL
 * without bias). Init as torch's reset_parameters: weight kaiming_uniform_(a = sqrt(5)), i.e.
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with torch's fan_in of that weight = out/groups * kernel
 * elements, then bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn from gen (NULL = default
 * generator) in that order. Misuse at construction: a size or groups < 1, channels not divisible
 * by groups, kernel/stride/dilation < 1, padding or output_padding < 0, output_padding not
 * smaller than stride or dilation. torch's forward(x, output_size) is not offered: set
 * output_padding instead. */
typedef struct nb_conv_transpose_mod {
    nb_module base;
    int dims; /* 1 (ConvTranspose1d) or 2 (ConvTranspose2d) */
    int64_t in_channels, out_channels;
    int64_t kernel_size[2]; /* {kh, kw}; 1-D {k, 1} */
    nb_conv_transpose_opts opts;
    nb_tensor *weight, *bias; /* bias NULL when disabled */
} nb_conv_transpose_mod;
NB_API nb_conv_transpose_mod *nb_conv_transpose1d_new(nb_module *parent, const char *name, int64_t in_channels,
                                                      int64_t out_channels, int64_t kernel_size,
                                                      const nb_conv_transpose_opts *opts, bool bias,
                                                      nb_generator *gen);
NB_API nb_conv_transpose_mod *nb_conv_transpose2d_new(nb_module *parent, const char *name, int64_t in_channels,
                                                      int64_t out_channels, int64_t kh, int64_t kw,
                                                      const nb_conv_transpose_opts *opts, bool bias,
                                                      nb_generator *gen);
/* x [N, in, L] or [in, L] (1-D), [N, in, H, W] or [in, H, W] (2-D) → nb_conv_transpose1d/2d with
 * the module's weight, bias and opts (output sizes there). Misuse: another rank or channel count
 * (names the shape and the module), then the op's own checks. */
NB_API nb_tensor *nb_conv_transpose_forward(nb_conv_transpose_mod *m, const nb_tensor *x);

/* RMSNorm(dim, eps, elementwise_affine) as torch.nn.RMSNorm (torch >= 2.4): as
 * nb_rms_norm_new, and without elementwise_affine no weight parameter (n->weight NULL,
 * y = x / sqrt(mean(x^2) + eps)). eps NaN is torch's eps=None: the machine epsilon of the input's
 * dtype (FLT_EPSILON, DBL_EPSILON), chosen at each forward. Misuse: dim <= 0, eps < 0. */
NB_API nb_rms_norm_mod *nb_rms_norm_new_ex(nb_module *parent, const char *name, int64_t dim, double eps,
                                               bool elementwise_affine);

#ifdef __cplusplus
}
#endif
#endif /* NB_NN_H */
