/* nb_ops.h — nabla's tensor operations, each differentiable op recording into autograd.
 *
 * Common contract (unless a function says otherwise):
 *   - Inputs are borrowed and may have any strides (views, offsets, stride-0 broadcast dims,
 *     zero-size, 0-dim); results equal those on a contiguous copy.
 *   - The result is a NEW reference (registered in the open scope, if any): a fresh contiguous
 *     tensor, except the view functions, whose result shares the input's storage.
 *   - Binary ops broadcast as NumPy/PyTorch do and need equal dtypes ("nb_add: dtype mismatch").
 *   - Float-only ops (exp, softmax, matmul, ...) reject integer tensors; comparisons return bool.
 *   - Dims may be negative (counted from the end). A bad dim/shape/index is misuse that names the
 *     op and the values.
 *   - Ops ending in '_' work in place and return their first argument (borrowed, no new ref);
 *     they are misuse on a tensor that requires grad while grad mode is on.
 */
#ifndef NB_OPS_H
#define NB_OPS_H

#include "nb_autograd.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Dim list literal: nb_sum(x, NB_AXES(0, 2), false). NB_ALL_AXES reduces over every dim. */
#define NB_AXES(...) \
    (const int[]){__VA_ARGS__}, (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int))
#define NB_ALL_AXES NULL, 0

/* ==== views and shape (autograd/ops_view.c) ================================================= */
/* View with a new shape (one entry may be -1, inferred). Misuse when the element count differs or
 * the strides do not allow a view (use nb_reshape). */
NB_API nb_tensor *nb_view(const nb_tensor *t, const int64_t *shape, int ndim);
/* Like nb_view, but copies when a view is impossible. */
NB_API nb_tensor *nb_reshape(const nb_tensor *t, const int64_t *shape, int ndim);
/* Swaps dims d0 and d1 (view). */
NB_API nb_tensor *nb_transpose(const nb_tensor *t, int d0, int d1);
/* Permutes dims: result dim i is input dim perm[i] (view). perm has t's ndim entries. */
NB_API nb_tensor *nb_permute(const nb_tensor *t, const int *perm);
/* Elements [start, start+length) of dim (view). start may be negative (from the end). */
NB_API nb_tensor *nb_narrow(const nb_tensor *t, int dim, int64_t start, int64_t length);
/* Python slice t[start:end:step] along dim (view); start/end are clamped as in Python, negative
 * values count from the end, step > 0. */
NB_API nb_tensor *nb_slice(const nb_tensor *t, int dim, int64_t start, int64_t end, int64_t step);
/* Index `index` of dim, removing the dim (view). */
NB_API nb_tensor *nb_select(const nb_tensor *t, int dim, int64_t index);
/* Broadcasts to shape (view, stride 0 on new/expanded dims); -1 keeps a size. */
NB_API nb_tensor *nb_expand(const nb_tensor *t, const int64_t *shape, int ndim);
/* Removes dim if its size is 1 (else returns a view of the same shape). */
NB_API nb_tensor *nb_squeeze(const nb_tensor *t, int dim);
/* Inserts a size-1 dim at position dim (in 0..ndim, negative allowed). */
NB_API nb_tensor *nb_unsqueeze(const nb_tensor *t, int dim);
/* Merges dims start..end (inclusive) into one (view when possible, else copy). */
NB_API nb_tensor *nb_flatten(const nb_tensor *t, int start_dim, int end_dim);
/* Splits dim into pieces of split_size (last may be smaller). Writes up to max_out NEW references
 * into out and returns the number of pieces (misuse when more than max_out). */
NB_API int nb_split(const nb_tensor *t, int64_t split_size, int dim, nb_tensor **out, int max_out);
/* Splits dim into `chunks` pieces as torch.chunk does; returns the count written to out. */
NB_API int nb_chunk(const nb_tensor *t, int chunks, int dim, nb_tensor **out, int max_out);
/* t itself (a new reference) when contiguous, else a contiguous copy. */
NB_API nb_tensor *nb_contiguous(const nb_tensor *t);
/* Contiguous copy (differentiable). */
NB_API nb_tensor *nb_clone(const nb_tensor *t);
/* Converted copy (differentiable between float dtypes). Same dtype returns a clone. */
NB_API nb_tensor *nb_to_dtype(const nb_tensor *t, nb_dtype dt);

/* ==== elementwise (autograd/ops_elementwise.c) =============================================== */
/* The pointwise ops, one per row of nb_pointwise.def (whose comment above each row is that op's
 * contract), declared here from the table:
 *   unary:   nb_<name>(const nb_tensor *t [, double p0 [, double p1]]), e.g. nb_exp(t),
 *            nb_clamp(t, lo, hi), nb_softplus(t, beta, threshold); the result has t's shape and
 *            dtype (bool for isnan / isfinite);
 *   binary:  nb_<name>(const nb_tensor *a, const nb_tensor *b), e.g. nb_add, nb_atan2: a and b
 *            broadcast, one dtype.
 * A row's dtype class is NUM (float32, float64, int32, int64), FLT (float only; others are misuse)
 * or BOOL (bool only). NUM rows with a scalar (add_scalar, mul_scalar, clamp's finite bounds)
 * need an integral scalar on integer tensors. Rows in the "not differentiable" sections (sign,
 * floor, ceil, round, isnan, isfinite, logical_*) record nothing: their result never requires
 * grad. */
#define NB_PW_DECL_0(a, b)
#define NB_PW_DECL_1(a, b) , double a
#define NB_PW_DECL_2(a, b) , double a, double b
#define NB_PW_UNARY(name, dtypes, np, pa, pb, ...) NB_API nb_tensor *nb_##name(const nb_tensor *t NB_PW_DECL_##np(pa, pb));
#define NB_PW_UNARY_ND(name, ...) NB_API nb_tensor *nb_##name(const nb_tensor *t);
#define NB_PW_BINARY(name, ...) NB_API nb_tensor *nb_##name(const nb_tensor *a, const nb_tensor *b);
#define NB_PW_BINARY_ND(name, ...) NB_API nb_tensor *nb_##name(const nb_tensor *a, const nb_tensor *b);
#include "nb_pointwise.def"
#undef NB_PW_DECL_0
#undef NB_PW_DECL_1
#undef NB_PW_DECL_2

typedef enum { NB_GELU_ERF, NB_GELU_TANH } nb_gelu_approx;
/* GELU: x*Phi(x) (NB_GELU_ERF, exact) or the tanh approximation of GPT-2 (NB_GELU_TANH).
 * One op with an analytic backward (the table's gelu_erf / gelu_tanh rows). */
NB_API nb_tensor *nb_gelu(const nb_tensor *t, nb_gelu_approx approx);

typedef enum { NB_CMP_EQ, NB_CMP_NE, NB_CMP_LT, NB_CMP_LE, NB_CMP_GT, NB_CMP_GE } nb_cmp;
/* a <op> b elementwise (broadcast) → bool tensor. Not differentiable. */
NB_API nb_tensor *nb_compare(const nb_tensor *a, const nb_tensor *b, nb_cmp op);
NB_API nb_tensor *nb_compare_scalar(const nb_tensor *a, double s, nb_cmp op);
/* Shorthands: nb_compare(a, b, NB_CMP_EQ) ... NB_CMP_GE. */
NB_API nb_tensor *nb_eq(const nb_tensor *a, const nb_tensor *b);
NB_API nb_tensor *nb_ne(const nb_tensor *a, const nb_tensor *b);
NB_API nb_tensor *nb_lt(const nb_tensor *a, const nb_tensor *b);
NB_API nb_tensor *nb_le(const nb_tensor *a, const nb_tensor *b);
NB_API nb_tensor *nb_gt(const nb_tensor *a, const nb_tensor *b);
NB_API nb_tensor *nb_ge(const nb_tensor *a, const nb_tensor *b);
/* cond ? a : b, with cond a bool tensor; all three broadcast together. */
NB_API nb_tensor *nb_where(const nb_tensor *cond, const nb_tensor *a, const nb_tensor *b);
/* Copy of t with `value` where mask (bool, broadcastable to t) is true. */
NB_API nb_tensor *nb_masked_fill(const nb_tensor *t, const nb_tensor *mask, double value);

/* In place (see the '_' rule above). b broadcasts to a's shape. A destination with a stride-0
 * dim of size > 1 (from nb_expand) is misuse, except for fill_/zero_. */
NB_API nb_tensor *nb_add_(nb_tensor *a, const nb_tensor *b);
/* a += alpha * b. */
NB_API nb_tensor *nb_add_scaled_(nb_tensor *a, const nb_tensor *b, double alpha);
NB_API nb_tensor *nb_mul_scalar_(nb_tensor *a, double s);
/* dst[...] = src (broadcast, dtype converted). */
NB_API nb_tensor *nb_copy_(nb_tensor *dst, const nb_tensor *src);
NB_API nb_tensor *nb_fill_(nb_tensor *t, double v);
NB_API nb_tensor *nb_zero_(nb_tensor *t);

/* ==== reductions and softmax (autograd/ops_reduce.c) ========================================= */
/* Reductions take a dim list (NB_AXES(...), or NB_ALL_AXES for every dim). A dim listed twice is
 * misuse. keepdim keeps reduced dims with size 1. Float sums accumulate in double; integer sums
 * wrap on overflow as PyTorch's int64 sums do. nb_sum of an int32,
 * int64 or bool tensor gives int64; mean, var, std and logsumexp take float tensors only. */
NB_API nb_tensor *nb_sum(const nb_tensor *t, const int *dims, int ndims, bool keepdim);
NB_API nb_tensor *nb_mean(const nb_tensor *t, const int *dims, int ndims, bool keepdim);
/* Variance with Bessel-style `correction` (1 = unbiased, 0 = population); two-pass. */
NB_API nb_tensor *nb_var(const nb_tensor *t, const int *dims, int ndims, int correction, bool keepdim);
NB_API nb_tensor *nb_std(const nb_tensor *t, const int *dims, int ndims, int correction, bool keepdim);
/* log(sum(exp(t))) over dims, computed stably (max-shifted). */
NB_API nb_tensor *nb_logsumexp(const nb_tensor *t, const int *dims, int ndims, bool keepdim);
/* Max/min along one dim. If indices is not NULL it receives a NEW int64 tensor of the argmax
 * (first occurrence). Gradient flows to the selected element. Zero-size dim is misuse. */
NB_API nb_tensor *nb_max(const nb_tensor *t, int dim, bool keepdim, nb_tensor **indices);
NB_API nb_tensor *nb_min(const nb_tensor *t, int dim, bool keepdim, nb_tensor **indices);
/* Argmax/argmin along dim (int64, not differentiable). */
NB_API nb_tensor *nb_argmax(const nb_tensor *t, int dim, bool keepdim);
NB_API nb_tensor *nb_argmin(const nb_tensor *t, int dim, bool keepdim);
/* Softmax / log-softmax along dim, numerically stable (max-shifted). */
NB_API nb_tensor *nb_softmax(const nb_tensor *t, int dim);
NB_API nb_tensor *nb_log_softmax(const nb_tensor *t, int dim);

/* ==== matrix products (autograd/ops_matmul.c) ================================================ */
/* torch.matmul: 1-D·1-D → 0-dim dot; 2-D·2-D → matrix product; 1-D operands are promoted by a
 * size-1 dim that is removed afterwards; N-D operands are batches of matrices whose batch dims
 * broadcast. Transposed views are used without a copy. Shape mismatch names both shapes:
 * "nb_matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)". */
NB_API nb_tensor *nb_matmul(const nb_tensor *a, const nb_tensor *b);

/* ==== indexing, joining, masks, sampling (autograd/ops_index.c) ============================== */
/* Rows of t along dim picked by a 1-D int32/int64 index. Out-of-range is misuse:
 * "nb_index_select: index 70 out of range for dim 0 of size 65". */
NB_API nb_tensor *nb_index_select(const nb_tensor *t, int dim, const nb_tensor *index);
/* torch.gather: out[i][j] = t[index[i][j]][j] (dim 0), index has t's ndim. */
NB_API nb_tensor *nb_gather(const nb_tensor *t, int dim, const nb_tensor *index);
/* Out-of-place torch.scatter_add: a copy of t with src added at index along dim. */
NB_API nb_tensor *nb_scatter_add(const nb_tensor *t, int dim, const nb_tensor *index, const nb_tensor *src);
/* Embedding lookup: weight [V, C], indices of any shape S (int32/int64) → S + [C]. */
NB_API nb_tensor *nb_embedding(const nb_tensor *weight, const nb_tensor *indices);
/* Concatenation along dim of n tensors with equal other dims and dtype. */
NB_API nb_tensor *nb_cat(nb_tensor *const *ts, int n, int dim);
/* Stacks n equal-shaped tensors along a new dim. */
NB_API nb_tensor *nb_stack(nb_tensor *const *ts, int n, int dim);
/* Lower/upper triangle of the last two dims (others zero); k shifts the diagonal. */
NB_API nb_tensor *nb_tril(const nb_tensor *t, int64_t k);
NB_API nb_tensor *nb_triu(const nb_tensor *t, int64_t k);
/* Samples num_samples indices per row of non-negative weights probs ([N] or [B, N]) → int64
 * [num_samples] or [B, num_samples]. Without replacement, num_samples <= N. Not differentiable.
 * All-zero or negative/NaN weights are misuse. gen NULL = default generator. */
NB_API nb_tensor *nb_multinomial(const nb_tensor *probs, int64_t num_samples, bool replacement,
                                 nb_generator *gen);

/* ==== scans, products, norms, sorting, any/all (autograd/ops_scan.c) ========================= */
/* Cumulative sum / product along dim (torch.cumsum / cumprod). int32/int64/bool inputs give
 * int64 (not differentiable); floats keep their dtype and accumulate in double. The cumprod
 * gradient is exact with zeros in the input. */
NB_API nb_tensor *nb_cumsum(const nb_tensor *t, int dim);
NB_API nb_tensor *nb_cumprod(const nb_tensor *t, int dim);
/* Product along dim (keepdim keeps it with size 1) / of every element (0-dim result). Integer
 * and bool inputs give int64. The gradient g * prod of the other elements is exact with zeros. */
NB_API nb_tensor *nb_prod(const nb_tensor *t, int dim, bool keepdim);
NB_API nb_tensor *nb_prod_all(const nb_tensor *t);
/* Max / min over a dim list (NB_AXES / NB_ALL_AXES), keepdim as nb_sum; NaN propagates. The
 * gradient is split evenly among tied elements (torch.amax / amin). A size-0 reduced dim with a
 * non-empty result is misuse. */
NB_API nb_tensor *nb_amax(const nb_tensor *t, const int *dims, int ndims, bool keepdim);
NB_API nb_tensor *nb_amin(const nb_tensor *t, const int *dims, int ndims, bool keepdim);
/* Vector p-norm over a dim list (torch.linalg.vector_norm), p in {1, 2, INFINITY} (else misuse).
 * Float only. The 2-norm is scaled by the largest magnitude (no overflow). Gradients as torch:
 * sgn(x) g (p = 1), x g / norm and 0 at norm 0 (p = 2), split among ties of |x| (p = inf). */
NB_API nb_tensor *nb_norm(const nb_tensor *t, double p, const int *dims, int ndims, bool keepdim);
/* Stable sort along dim (ascending, or descending), NaN above +inf (torch.sort(stable=True)).
 * If indices is not NULL it receives a NEW int64 tensor of the source positions. Values are
 * differentiable (the gradient goes back to the source positions). Any dtype. */
NB_API nb_tensor *nb_sort(const nb_tensor *t, int dim, bool descending, nb_tensor **indices);
/* The int64 positions nb_sort would return (not differentiable). */
NB_API nb_tensor *nb_argsort(const nb_tensor *t, int dim, bool descending);
/* The k largest (or smallest) values along dim, always sorted (best first; equal values in index
 * order); *indices (when not NULL) receives a NEW int64 tensor of their positions. 0 <= k <= the
 * dim's size, else misuse. `sorted` is accepted for torch parity: the result is always sorted.
 * Values are differentiable (as nb_sort's). */
NB_API nb_tensor *nb_topk(const nb_tensor *t, int64_t k, int dim, bool largest, bool sorted, nb_tensor **indices);
/* Bool tensor: whether all / any element over the dim list is nonzero (NaN counts as nonzero).
 * Empty groups give true (all) / false (any). Any dtype; not differentiable. */
NB_API nb_tensor *nb_all(const nb_tensor *t, const int *dims, int ndims, bool keepdim);
NB_API nb_tensor *nb_any(const nb_tensor *t, const int *dims, int ndims, bool keepdim);

/* ==== creation and shape (autograd/ops_shape.c) ============================================== */
/* 1-D tensor of `steps` values from start to end inclusive (torch.linspace; steps >= 0; float or
 * integer dtype, integers truncated). Not differentiable. */
NB_API nb_tensor *nb_linspace(double start, double end, int64_t steps, nb_dtype dt);
/* Outer product of 1-D a [n] and b [m] (same dtype) → [n, m]. */
NB_API nb_tensor *nb_outer(const nb_tensor *a, const nb_tensor *b);
/* int64 indices of any shape S → int64 S + [num_classes] (torch.nn.functional.one_hot);
 * num_classes == -1 uses max + 1. A non-int64 input or a value outside [0, num_classes) is misuse. */
NB_API nb_tensor *nb_one_hot(const nb_tensor *t, int64_t num_classes);
typedef enum { NB_PAD_CONSTANT, NB_PAD_REFLECT } nb_pad_mode;
/* torch.nn.functional.pad: pad has 2k entries (k <= ndim), (left, right) for the last dim, then
 * the one before, ... Constant mode fills with value (negative pads crop); reflect mirrors
 * without repeating the edge and needs 0 <= pad < size (any number of trailing dims). */
NB_API nb_tensor *nb_pad(const nb_tensor *t, const int64_t *pad, int npad, nb_pad_mode mode, double value);
/* torch.Tensor.repeat: tiles t reps[k] times along dim k; nreps >= ndim (extra leading dims are
 * new), reps >= 0. */
NB_API nb_tensor *nb_repeat(const nb_tensor *t, const int64_t *reps, int nreps);
/* Reverses the listed dims (torch.flip; a copy). */
NB_API nb_tensor *nb_flip(const nb_tensor *t, const int *dims, int ndims);
/* torch.roll: shifts[i] along dims[i] (elements leaving one end come in at the other); with
 * ndims == 0 the tensor is rolled flattened by shifts[0] (nshifts must be 1) and keeps its shape.
 * nshifts must equal ndims otherwise. */
NB_API nb_tensor *nb_roll(const nb_tensor *t, const int64_t *shifts, int nshifts, const int *dims, int ndims);
/* torch.split with a list of sizes: n views along dim with the given lengths (their sum must be
 * the dim's size). Writes n NEW references into out (misuse when n > max_out); returns n. */
NB_API int nb_split_sizes(const nb_tensor *t, const int64_t *sizes, int n, int dim, nb_tensor **out, int max_out);

#ifdef __cplusplus
}
#endif
#endif /* NB_OPS_H */
