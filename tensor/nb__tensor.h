/* nb__tensor.h — internal to libnabla: tensor/storage layout, error helpers, dtype dispatch,
 * the strided N-d iterator and the kernel entry points. Not installed. */
#ifndef NB__TENSOR_H
#define NB__TENSOR_H

#include "nb_tensor.h"

#include <stdarg.h>
#include <string.h>

#define NB__INTERNAL __attribute__((visibility("hidden")))

/* ---- layout --------------------------------------------------------------------------------- */
typedef struct nb__storage {
    int64_t refcount;
    void *data;
    size_t nbytes;
    uint64_t version; /* bumped by every in-place write; shared by all views */
} nb__storage;

/* A refcounted object the tensor layer can release without knowing its type (autograd nodes). */
typedef struct nb__object {
    int64_t refcount;
    void (*free_fn)(struct nb__object *self);
    /* weak: the tensor whose grad_fn this is, when it asked to retain its gradient; cleared by
     * that tensor's release (the object may live on in the graph) */
    struct nb_tensor *retained_out;
} nb__object;

struct nb_tensor {
    int64_t refcount;
    uint32_t live;   /* NB__TENSOR_LIVE from creation until the last release (debug checks) */
    uint64_t serial; /* creation number, 1, 2, ... per process: "created as tensor #N" */
    nb_dtype dtype;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    int64_t strides[NB_MAX_DIMS]; /* in elements */
    int64_t offset;               /* in elements */
    nb__storage *storage;
    /* autograd state: written by autograd/, only released here */
    bool requires_grad;
    bool retains_grad;
    nb_tensor *grad;
    nb__object *grad_fn;
};

/* ---- errors --------------------------------------------------------------------------------- */
/* Formats one line and calls the misuse handler; never returns. */
NB__INTERNAL NB_NORETURN NB_PRINTF(1, 2) void nb__fail(const char *fmt, ...);
/* Records a detailed message for nb_last_error() and returns st. */
NB__INTERNAL NB_PRINTF(2, 3) nb_status nb__status(nb_status st, const char *fmt, ...);
/* Shape text into a small static-per-call buffer helper: use with NB__SHAPE(t). */
typedef struct { char s[160]; } nb__shape_buf;
NB__INTERNAL nb__shape_buf nb__shape_text(int ndim, const int64_t *shape);
#define NB__SHAPE(t) (nb__shape_text((t)->ndim, (t)->shape).s)
/* Normalizes a possibly negative dim against ndim; out-of-range is misuse naming `op`. */
NB__INTERNAL int nb__wrap_dim(const char *op, int dim, int ndim);
/* ---- checked size arithmetic ----------------------------------------------------------------
 * Every size, stride, offset and element count goes through these (or nb__check_shape /
 * nb__check_view, which use them): an int64 overflow is misuse naming the op and the operands,
 * never a silent wrap. Every tensor, view or not, has at most NB__MAX_NUMEL elements (also the
 * product of its nonzero sizes), so numel * element size fits int64 too. */
#define NB__MAX_NUMEL (INT64_MAX / 16)
NB__INTERNAL NB_NORETURN void nb__overflow(const char *op, int64_t a, char how, int64_t b);
static inline int64_t nb__mul_ck(const char *op, int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        nb__overflow(op, a, '*', b);
    return r;
}
static inline int64_t nb__add_ck(const char *op, int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        nb__overflow(op, a, '+', b);
    return r;
}
static inline int64_t nb__sub_ck(const char *op, int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_sub_overflow(a, b, &r))
        nb__overflow(op, a, '-', b);
    return r;
}

/* ---- debug checks (NB_DEBUG=1, read once at the first allocation) ---------------------------
 * Tensors carry a live tag from creation to their last release; in debug mode every public op
 * checks it on the tensors it receives (through nb__check_live, called by the nb__check_*
 * helpers, nb__record, nb__check_inplace, the accessors and the view/creation functions), freed
 * storage is poisoned, and freed tensor headers and storage are quarantined (not reused) for a
 * while so the check reads valid memory. */
#define NB__TENSOR_LIVE 0x6e626c76u
NB__INTERNAL extern bool nb__debug_on;
NB__INTERNAL NB_NORETURN void nb__dead_tensor(const char *op, const nb_tensor *t);
/* Misuse "op: tensor used after it was released (created as tensor #N, ...)" in debug mode. */
static inline void nb__check_live(const char *op, const nb_tensor *t)
{
    if (__builtin_expect(nb__debug_on, 0) && t && t->live != NB__TENSOR_LIVE)
        nb__dead_tensor(op, t);
}
/* Misuse unless t's dtype is float32/float64. */
NB__INTERNAL void nb__check_float(const char *op, const nb_tensor *t);
/* Misuse unless a and b have the same dtype (and it is not a storage-only one: nb__check_compute). */
NB__INTERNAL void nb__check_same_dtype(const char *op, const nb_tensor *a, const nb_tensor *b);
/* ---- storage-only dtypes (bfloat16, float16; tensor/half.c) ----------------------------------
 * Every op that computes on its input's values (not a view, copy or conversion) rejects them:
 * "op: bfloat16 is a storage-only dtype; convert with nb_to_dtype to float32 first". */
NB__INTERNAL void nb__check_compute(const char *op, const nb_tensor *t);
NB__INTERNAL NB_NORETURN void nb__storage_only(const char *op, nb_dtype dt);
/* True for float32, float64 and the storage-only floats (values that are not integers). */
static inline bool nb__dtype_is_fp(nb_dtype dt) { return nb_dtype_is_float(dt) || nb_dtype_is_storage_only(dt); }
/* nb__copy_into's loop between float32 and a storage-only dtype (either way), when
 * nb__half_copy_fast(dst, src); p, s, n as an nb__loop_fn's, operand 0 the destination. */
NB__INTERNAL bool nb__half_copy_fast(nb_dtype dst, nb_dtype src);
/* v as a double rounded to odd (truncated, the last bit set when inexact): rounding that double
 * to a format of at most 51 fraction bits gives the correctly rounded v (no double rounding). */
NB__INTERNAL double nb__i64_to_double_odd(int64_t v);
NB__INTERNAL void nb__half_copy_loop(nb_dtype dst, nb_dtype src, char **p, const int64_t *s, int64_t n);

/* ---- allocation (the one choke point; OOM is reported through the handler) ------------------- */
NB__INTERNAL void *nb__alloc(size_t nbytes);
NB__INTERNAL void nb__free(void *p, size_t nbytes);
NB__INTERNAL nb__storage *nb__storage_new(size_t nbytes);
NB__INTERNAL void nb__storage_release(nb__storage *s);
/* Small objects (tensor headers, autograd nodes): a zeroed block of `size` bytes, reused from a
 * free list by 64-byte class (off like the storage cache: ASan, NB_NO_CACHING_ALLOCATOR=1).
 * nb__obj_free takes the same size. */
NB__INTERNAL void *nb__obj_alloc(size_t size);
NB__INTERNAL void nb__obj_free(void *p, size_t size);

/* ---- construction --------------------------------------------------------------------------- */
/* New contiguous tensor with fresh storage (uninitialized); registered in the current scope. */
NB__INTERNAL nb_tensor *nb__tensor_new(nb_dtype dt, const int64_t *shape, int ndim);
/* New tensor viewing base's storage with the given geometry; registered in the current scope. */
NB__INTERNAL nb_tensor *nb__tensor_view(const nb_tensor *base, int ndim, const int64_t *shape,
                                        const int64_t *strides, int64_t offset);
/* Returns t as a new reference of the caller: retained, and owned by the open scope if any.
 * Use when an op returns an existing tensor (nb_contiguous of a contiguous input). */
NB__INTERNAL nb_tensor *nb__new_ref(nb_tensor *t);
/* Ends scope `token` (opened by the library function for its temporaries) keeping `result`:
 * the returned reference is owned by the caller's scope, or by the caller if none is open. */
NB__INTERNAL nb_tensor *nb__scope_return(int token, nb_tensor *result);
/* Same, with a misuse in the geometry check (nb__check_view) naming op. */
NB__INTERNAL nb_tensor *nb__tensor_view_op(const char *op, const nb_tensor *base, int ndim, const int64_t *shape,
                                           const int64_t *strides, int64_t offset);
/* Row-major strides of shape (a valid one: nb__check_shape); returns numel. */
NB__INTERNAL int64_t nb__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
/* Product of the sizes (checked: an overflow is misuse). */
NB__INTERNAL int64_t nb__numel(int ndim, const int64_t *shape);
/* Validates a shape (0..NB_MAX_DIMS dims, sizes >= 0, product of the nonzero sizes at most
 * NB__MAX_NUMEL); misuse names op. */
NB__INTERNAL void nb__check_shape(const char *op, int ndim, const int64_t *shape);
/* Validates a view's geometry over base's storage: a valid shape, and (unless it has no
 * elements) every reachable element inside the storage; misuse names op. */
NB__INTERNAL void nb__check_view(const char *op, const nb_tensor *base, int ndim, const int64_t *shape,
                                 const int64_t *strides, int64_t offset);
/* Closes the open scopes of this thread down to `depth` (nb_recover). */
NB__INTERNAL void nb__scope_unwind(const char *op, int depth);
/* Marks t's storage as written (version counter for autograd's in-place checks). */
static inline void nb__bump_version(nb_tensor *t) { t->storage->version++; }
/* Address of element with linear (row-major over t's shape) index i. */
NB__INTERNAL char *nb__elem_ptr(const nb_tensor *t, int64_t linear);

/* ---- dtype dispatch ------------------------------------------------------------------------- */
/* Kernels are written once as a macro body over a C type T and instantiated per dtype with
 * these lists (C11 <tgmath.h> picks expf/exp etc. from T). Never copy a kernel per dtype. */
#define NB__FLOAT_TYPES(X) X(NB_F32, float) X(NB_F64, double)
#define NB__INT_TYPES(X) X(NB_I32, int32_t) X(NB_I64, int64_t)
#define NB__NUMERIC_TYPES(X) NB__FLOAT_TYPES(X) NB__INT_TYPES(X)
#define NB__ALL_TYPES(X) NB__NUMERIC_TYPES(X) X(NB_BOOL, uint8_t)

/* ---- value conversion: the one place a double or an integer becomes an element ------------------
 * double -> float32/float64: rounds to nearest (overflow gives +-inf, as IEEE 754 and PyTorch);
 * -> bool: v != 0 (NaN is true); -> int32/int64: truncates toward zero. Converting a double that
 * does not fit an integer dtype (NaN, +-inf, out of range) is undefined in C: the functions that
 * take a user's value check nb__fits first and report misuse (PyTorch: "value cannot be converted
 * to type int without overflow"); nb__store itself saturates such a value (NaN gives 0) so no
 * path has undefined behaviour. Integer -> integer conversions wrap modulo 2^bits (two's
 * complement, as PyTorch's); integer -> float rounds once (nb__store_i64). */
NB__INTERNAL double nb__load(nb_dtype dt, const void *p);
NB__INTERNAL void nb__store(nb_dtype dt, void *p, double v);
/* True when v converts to dt without overflow (always, for float and bool dtypes). */
NB__INTERNAL bool nb__fits(nb_dtype dt, double v);
/* Misuse "op: value 1e+30 cannot be converted to int32 without overflow" unless nb__fits. */
NB__INTERNAL void nb__check_fits(const char *op, nb_dtype dt, double v);
/* Integer and bool elements as int64 (exact) / an int64 stored into any dtype (see above). */
NB__INTERNAL int64_t nb__load_i64(nb_dtype dt, const void *p);
NB__INTERNAL void nb__store_i64(nb_dtype dt, void *p, int64_t v);
/* Two's-complement wrapping integer arithmetic (signed overflow is undefined in C): integer
 * kernels that can overflow (add, sub, mul, sums) compute through these, as PyTorch wraps. */
static inline int64_t nb__wrap_add_i64(int64_t a, int64_t b) { return (int64_t)((uint64_t)a + (uint64_t)b); }
static inline int64_t nb__wrap_sub_i64(int64_t a, int64_t b) { return (int64_t)((uint64_t)a - (uint64_t)b); }
static inline int64_t nb__wrap_mul_i64(int64_t a, int64_t b) { return (int64_t)((uint64_t)a * (uint64_t)b); }
static inline int32_t nb__wrap_add_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a + (uint32_t)b); }
static inline int32_t nb__wrap_sub_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a - (uint32_t)b); }
static inline int32_t nb__wrap_mul_i32(int32_t a, int32_t b) { return (int32_t)((uint32_t)a * (uint32_t)b); }

/* ---- strided iteration ---------------------------------------------------------------------- */
#define NB__ITER_MAX_OPS 4

/* Iterates over the elements of out and up to 3 inputs broadcast to out's shape. Dims are
 * coalesced where every operand allows; strides are in BYTES. */
typedef struct nb__iter {
    int nops;  /* operand 0 is the output */
    int ndim;  /* >= 1 after init (a 0-dim tensor iterates as [1]) */
    int64_t numel;
    int64_t shape[NB_MAX_DIMS];
    int64_t strides[NB__ITER_MAX_OPS][NB_MAX_DIMS];
    char *base[NB__ITER_MAX_OPS];
    /* Work per element for the thread count (nb__threads_for(numel * cost)): 1 after init;
     * kernels lower it for memory-bound loops (a copy, an add: a parallel region does not pay
     * below ~64 K elements) and raise it for transcendental ones. */
    double cost;
} nb__iter;

/* Inner loop: ptrs[k] points at operand k's first element of a run of n elements along the
 * innermost dim; strides[k] is that operand's byte stride along it. */
typedef void (*nb__loop_fn)(char **ptrs, const int64_t *strides, int64_t n, void *ctx);

/* Sets up iteration; inputs must be broadcastable to out's shape (checked by the caller). */
NB__INTERNAL void nb__iter_init(nb__iter *it, nb_tensor *out, int nin, const nb_tensor *const *ins);
/* Runs fn over all elements; parallel over chunks when large (results independent of thread
 * count because every element is written by exactly one call). */
NB__INTERNAL void nb__iter_run(const nb__iter *it, nb__loop_fn fn, void *ctx);

/* Broadcast shape of a and b into out (returns ndim); incompatible shapes are misuse naming op. */
NB__INTERNAL int nb__broadcast_shape(const char *op, int an, const int64_t *as, int bn,
                                     const int64_t *bs, int64_t *out);
/* True when shape (n, s) broadcasts to (on, os). */
NB__INTERNAL bool nb__broadcastable_to(int n, const int64_t *s, int on, const int64_t *os);

/* ---- basic kernels (tensor/copy.c) ---------------------------------------------------------- */
/* dst[...] = src[...] (src broadcast to dst's shape, converting dtype). dst may be any view. A
 * float value that does not fit an integer dst (NaN, inf, out of range) is misuse naming
 * "nb_copy_" / op. */
NB__INTERNAL void nb__copy_into(nb_tensor *dst, const nb_tensor *src);
NB__INTERNAL void nb__copy_into_op(const char *op, nb_tensor *dst, const nb_tensor *src);
/* Fills every element of the (possibly strided) view with v. */
NB__INTERNAL void nb__fill(nb_tensor *t, double v);
/* New contiguous copy of t (same dtype) / converted copy. No autograd. */
NB__INTERNAL nb_tensor *nb__contiguous_copy(const nb_tensor *t);
NB__INTERNAL nb_tensor *nb__convert(const nb_tensor *t, nb_dtype dt);

/* ---- threads -------------------------------------------------------------------------------- */
/* `NB__OMP_PARALLEL_FOR(nt)` before a for loop: a static-schedule OpenMP loop on nt threads
 * (nothing without OpenMP). Use only where each iteration writes its own outputs. */
#ifdef _OPENMP
#define NB__PRAGMA(x) _Pragma(#x)
#define NB__OMP_PARALLEL_FOR(nt) NB__PRAGMA(omp parallel for num_threads(nt) schedule(static))
#else
#define NB__OMP_PARALLEL_FOR(nt) (void)(nt);
#endif
/* Threads to use for a job of `work` scalar operations (1 below a threshold). */
NB__INTERNAL int nb__threads_for(int64_t work);
/* Dynamic threads' rule: the cores left free when, over a window of wall_ns, all CPUs were busy
 * busy_ns and this process used own_ns of them (the rest is other processes'); at least 1. */
NB__INTERNAL int nb__free_cores_from(long long busy_ns, long long own_ns, long long wall_ns, int n_cores);
/* For tests: read NB_NUM_THREADS / OMP_NUM_THREADS / NB_DYNAMIC_THREADS again at the next use. */
NB__INTERNAL void nb__threads_reread_env(void);

#endif /* NB__TENSOR_H */
