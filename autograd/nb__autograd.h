/* nb__autograd.h — internal to libnabla: autograd nodes and the op-definition contract.
 *
 * How an op is written (one place per op, in autograd/ops_<family>.c):
 *
 *   static void mul_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
 *   {   // g: gradient of the output (contiguous, out's shape). Runs with grad mode off.
 *       // gin[i]: set to a NEW tensor (the gradient for input i, with that input's shape and
 *       // dtype), only where nb__needs_grad(n, i); leave NULL otherwise. Temporaries need no
 *       // release: backward runs inside a scope.
 *       if (nb__needs_grad(n, 0)) gin[0] = nb__sum_to(nb_mul(g, nb__saved(n, 1)), n, 0);
 *       if (nb__needs_grad(n, 1)) gin[1] = nb__sum_to(nb_mul(g, nb__saved(n, 0)), n, 1);
 *   }
 *   NB__DEFINE_OP(mul, mul_backward);      // descriptor nb__op_mul, id NB_OP_mul (ops.def)
 *
 *   nb_tensor *nb_mul(const nb_tensor *a, const nb_tensor *b)
 *   {
 *       ... shape/dtype checks naming "nb_mul" ...
 *       nb_tensor *out = ...; kernel(out, a, b);           // kernels know nothing of autograd
 *       nb__node *n = NB__RECORD(mul, out, a, b);          // NULL when nothing needs grad
 *       if (n) { nb__save(n, a); nb__save(n, b); }
 *       return out;
 *   }
 */
#ifndef NB__AUTOGRAD_H
#define NB__AUTOGRAD_H

#include "nb__tensor.h"
#include "nb_ops.h"

/* ---- op ids --------------------------------------------------------------------------------- */
typedef enum {
#define NB_OP(name, family) NB_OP_##name,
#include "ops.def"
#undef NB_OP
    NB__OP_COUNT
} nb__op_id;

typedef struct nb__node nb__node;
typedef void (*nb__backward_fn)(nb__node *n, nb_tensor *grad_out, nb_tensor **grad_in);

typedef struct nb__op {
    nb__op_id id;
    const char *name;   /* public name, "nb_mul" */
    const char *family; /* from ops.def */
    nb__backward_fn backward;
    /* Optional, for one-input ops whose gradient is g scattered into zeros (narrow, select):
     * adds that gradient straight into acc, the input's gradient accumulated so far (input's
     * shape and dtype, owned by the engine alone). g may be non-contiguous. */
    void (*accumulate_into)(nb__node *n, nb_tensor *g, nb_tensor *acc);
    /* The backward formula takes grad_out with any strides (else the engine passes a contiguous
     * copy of a non-contiguous one). */
    bool strided_grad;
} nb__op;

/* Defines the descriptor nb__op_<name>; fails to compile when <name> is not in ops.def. */
#define NB__DEFINE_OP(name, backward_fn) \
    NB__INTERNAL const nb__op nb__op_##name = {NB_OP_##name, "nb_" #name, NULL, backward_fn, NULL, false}
/* Same, for a backward formula that reads grad_out through its strides (see nb__op). */
#define NB__DEFINE_OP_STRIDED_GRAD(name, backward_fn) \
    NB__INTERNAL const nb__op nb__op_##name = {NB_OP_##name, "nb_" #name, NULL, backward_fn, NULL, true}
/* Same, with an accumulate_into function (see nb__op). */
#define NB__DEFINE_OP_ACC(name, backward_fn, accumulate_fn) \
    NB__INTERNAL const nb__op nb__op_##name = {NB_OP_##name, "nb_" #name, NULL, backward_fn, accumulate_fn, false}

/* All descriptors, indexed by id (autograd/registry.c). */
NB__INTERNAL const nb__op *nb__op_by_id(nb__op_id id);
NB__INTERNAL const char *nb__op_family(nb__op_id id);

/* ---- nodes ---------------------------------------------------------------------------------- */
#define NB__MAX_SAVED 6 /* sdpa: q, k, v, lse, attn_mask, dropout flags */
#define NB__NODE_IARGS 16

typedef struct nb__edge {
    nb__node *fn;     /* strong ref: the input's grad_fn (non-leaf input), or NULL */
    nb_tensor *leaf;  /* strong ref: the input itself when it is a leaf requiring grad */
    nb_dtype dtype;   /* the input's geometry, for grad shapes */
    int ndim;
    int64_t shape[NB_MAX_DIMS];
} nb__edge;

struct nb__node {
    nb__object obj; /* refcount + free_fn: tensors hold their grad_fn through this */
    const nb__op *op;
    int n_inputs;
    nb__edge *inputs;
    int n_saved;
    nb_tensor *saved[NB__MAX_SAVED];
    uint64_t saved_version[NB__MAX_SAVED];
    bool released; /* saved tensors freed after a backward without retain_graph */
    bool autocast; /* recorded inside nb_autocast_begin/end: its backward products take bf16 operands */
    /* op parameters, set by the forward for its backward */
    int64_t iargs[NB__NODE_IARGS];
    double fargs[4];
    /* the output's geometry */
    nb_dtype out_dtype;
    int out_ndim;
    int64_t out_shape[NB_MAX_DIMS];
    /* (the output whose gradient is retained: obj.retained_out) */
    /* engine scratch */
    uint64_t visit;
    int64_t deps;
    nb_tensor *grad_acc;
};

/* True when grad mode is on and any of the n inputs requires grad. */
NB__INTERNAL bool nb__any_requires_grad(int n, const nb_tensor *const *ins);
/* Records a node for `out` (n inputs) when nb__any_requires_grad; returns it, else NULL.
 * Sets out->grad_fn and out->requires_grad. */
NB__INTERNAL nb__node *nb__record(const nb__op *op, nb_tensor *out, int n, const nb_tensor *const *ins);
#define NB__RECORD(name, out, ...)                                                         \
    nb__record(&nb__op_##name, (out), (int)(sizeof((const nb_tensor *[]){__VA_ARGS__}) /   \
                                            sizeof(const nb_tensor *)),                    \
               (const nb_tensor *[]){__VA_ARGS__})
/* Saves an input (or any tensor other than the output) for backward. */
NB__INTERNAL void nb__save(nb__node *n, const nb_tensor *t);
/* Saves the op's own output (as a detached alias: no reference cycle). */
NB__INTERNAL void nb__save_output(nb__node *n, const nb_tensor *out);
/* Saved tensor i (borrowed). Misuse if it was released or modified in place since saving. */
NB__INTERNAL nb_tensor *nb__saved(nb__node *n, int i);
/* True when input i needs a gradient. */
static inline bool nb__needs_grad(const nb__node *n, int i) { return n->inputs[i].fn || n->inputs[i].leaf; }
/* Reduces g (broadcast result) by summing to input i's shape (returns g retained if equal). */
NB__INTERNAL nb_tensor *nb__sum_to(nb_tensor *g, const nb__node *n, int i);
/* Same, to an explicit shape. */
NB__INTERNAL nb_tensor *nb__sum_to_shape(nb_tensor *g, int ndim, const int64_t *shape);

/* ---- bfloat16 autocast ---------------------------------------------------------------------- */
/* True when autocast is on on this thread and dt is float32 (autocast leaves float64 alone): the
 * op then rounds its product operands to bfloat16 (nb__gemm_batched_bf16, nb__attn_geom.bf16). */
NB__INTERNAL bool nb__autocast_for(nb_dtype dt);
/* Sets this thread's autocast depth (0: off); returns the previous one. nb_backward runs with 0;
 * a backward formula whose products follow its node's mode wraps them in
 * prev = nb__autocast_swap(n->autocast) ... nb__autocast_swap(prev). */
NB__INTERNAL int nb__autocast_swap(int depth);

/* ---- in-place guard ------------------------------------------------------------------------- */
/* Misuse when grad mode is on and t requires grad ("op: in-place operation on a tensor that
 * requires grad"). Call at the top of every '_' op. */
NB__INTERNAL void nb__check_inplace(const char *op, const nb_tensor *t);

/* ---- anomaly -------------------------------------------------------------------------------- */
/* With anomaly mode on, misuse when t has a NaN/Inf, naming `what` (e.g. "nb_log forward"). */
NB__INTERNAL void nb__anomaly_check(const char *what, const nb_tensor *t);

/* ---- dim lists of reductions (autograd/ops_reduce.c; used by ops_reduce.c and ops_scan.c) -------- */
typedef struct nb__red_dims {
    bool mask[NB_MAX_DIMS]; /* reduced input dims */
    int64_t bits;           /* the same as a bit mask, kept in a node's iargs */
    int out_ndim;
    int64_t out_shape[NB_MAX_DIMS];
    int64_t nout, nred; /* output elements; input elements reduced into each output */
} nb__red_dims;
/* Parses a dim list (ndims == 0: every dim). Dims may be negative; a 0-dim tensor accepts 0 and -1
 * (reducing nothing). An invalid list or a dim listed twice is misuse naming op. */
NB__INTERNAL void nb__parse_dims(const char *op, const nb_tensor *t, int ndims, const int *dims, bool keepdim,
                                 nb__red_dims *r);

#endif /* NB__AUTOGRAD_H */
