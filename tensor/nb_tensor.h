/* nb_tensor.h — nabla's tensor layer: dtypes, strided tensors, storage, errors, scopes, RNG.
 *
 * Overview
 *   A tensor is a dtype, a shape and element strides in PyTorch dim order (last dim varies
 *   fastest in a contiguous tensor), an element offset, and a refcounted storage. Views
 *   (transpose, narrow, expand, ...) share storage with their base. Shapes are int64_t.
 *
 * Ownership
 *   Every function that returns an nb_tensor* returns a NEW reference; arguments are borrowed.
 *   Release a reference with nb_tensor_release(). When a scope is open (nb_scope_begin), the
 *   new reference belongs to the scope instead, and nb_scope_end() releases it: code inside a
 *   scope never releases results by hand, and keeps a tensor past the scope with
 *   nb_tensor_retain() (then it owns that extra reference and releases it later).
 *
 * Errors
 *   Misuse (shape/dtype/dim mismatch, index out of range) calls the error handler with one line
 *   naming the op and the values, e.g.
 *     "nb_matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)".
 *   The default handler prints the line to stderr and calls abort(); nb_set_error_handler()
 *   replaces it (a handler must not return; if it does, abort() follows). Failures caused by
 *   outside data (files, user text, options) never go through the handler: those functions
 *   return an nb_status and leave a message in nb_last_error(). The library never calls exit().
 *
 *   Out of memory: a function that returns an nb_status (files, checkpoints, tokenizing, MPI)
 *   returns NB_ERR_NOMEM with a message in nb_last_error() when a buffer of its own cannot be
 *   allocated (often sized by the outside data: a file's header). Everything else, which has no
 *   status to return (tensor storage, including the tensors a loader creates, autograd nodes,
 *   modules, optimizer state), reports through the handler like misuse, in one line saying "out
 *   of memory" and the size ("nb_alloc: out of memory allocating 8589934592 bytes").
 *
 *   After a handler longjmp's out of a failed call, the library's data structures are intact
 *   (misuse is reported outside locks and parallel regions; running out of memory inside a
 *   multithreaded kernel is the exception: the process cannot go on after it) and the call's
 *   arguments are unchanged, except an in-place op's destination, which may be partly written.
 *   Three things stay as the failure left them: scopes the call opened stay open (their tensors
 *   alive), grad mode may be off (a failure inside nb_backward or an NB_NO_GRAD block), and
 *   tensors the call created outside any scope are leaked. nb_recover(depth) (nb_autograd.h)
 *   closes the scopes and turns grad mode back on; then the program can go on.
 *
 *   Sizes, strides and offsets are computed with checked arithmetic: a shape whose element count
 *   (or the product of its nonzero sizes) exceeds 2^59 - 1, or a view reaching outside its
 *   storage, is misuse. A float value that does not fit an integer dtype (NaN, +-inf, out of
 *   range, e.g. nb_full(..., 1e30, NB_I32)) is misuse; finite ones are truncated toward zero.
 *   Integer narrowing (int64 -> int32) and integer arithmetic wrap (two's complement), as
 *   PyTorch's.
 *
 *   Debug mode (NB_DEBUG=1 in the environment, read at the first allocation; or a build with
 *   CPPFLAGS=-DNB_DEBUG_CHECKS_DEFAULT, where NB_DEBUG=0 turns it off): the ops check that the
 *   tensors they receive are alive, so a use after release stops with "nb_mul: tensor used after
 *   it was released (created as tensor #N, shape [2, 2], float32)". Checked: every recorded
 *   (differentiable) op, in-place op, view, copy, conversion and creation *_like, nb_backward,
 *   the autograd state functions, the element accessors, retain and release (a double release);
 *   not the geometry accessors and nb_tensor_data (kernels call them first; the op then reports).
 *   Released tensor headers and storage are quarantined (not reused for the next 65536 tensors /
 *   4096 storages or 256 MiB) and freed storage is filled with 0xFF bytes (NaN, -1). Slower, and
 *   memory is not reused at once; for finding bugs.
 *
 * Threads
 *   Kernels use OpenMP internally. Tensors and their refcounts are not thread-safe: one thread
 *   uses a given tensor graph at a time. Scopes and grad mode are per thread.
 */
#ifndef NB_TENSOR_H
#define NB_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define NB_API __attribute__((visibility("default")))
#define NB_NORETURN __attribute__((noreturn))
#define NB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NB_API
#define NB_NORETURN
#define NB_PRINTF(a, b)
#endif

/* Maximum number of dimensions of a tensor. */
#define NB_MAX_DIMS 8

/* ---- dtypes --------------------------------------------------------------------------------- */
#define NB_DTYPE_LIST(X) \
    X(NB_F32, float32, float, 4) \
    X(NB_F64, float64, double, 8) \
    X(NB_I32, int32, int32_t, 4) \
    X(NB_I64, int64, int64_t, 8) \
    X(NB_BOOL, bool, uint8_t, 1) \
    X(NB_BF16, bfloat16, uint16_t, 2) \
    X(NB_F16, float16, uint16_t, 2)

typedef enum {
#define NB_X(e, name, ctype, size) e,
    NB_DTYPE_LIST(NB_X)
#undef NB_X
    NB_DTYPE_COUNT
} nb_dtype;

/* Storage-only dtypes: NB_BF16 (bfloat16: 1 sign, 8 exponent, 7 fraction bits, the top half of a
 * float32) and NB_F16 (IEEE 754 binary16: 1, 5, 10) hold data (creation, copies, views,
 * nb_to_dtype, printing, element access, safetensors "BF16"/"F16", nb_module_to_dtype); compute
 * ops on them are misuse ("nb_add: bfloat16 is a storage-only dtype; convert with nb_to_dtype to
 * float32 first"). Their elements are uint16_t bit patterns (nb_tensor_data). Converting into
 * them rounds to nearest, ties to even, once (from float64 too, not through float32), with
 * gradual underflow to subnormals and +-0; a finite value beyond the largest one (bfloat16
 * 3.3895e38, float16 65504) rounds to +-inf as IEEE 754 says; NaN stays NaN (quiet, sign and top
 * payload bits kept), +-inf and -0 are kept. Converting out of them is exact. */

/* "float32", "float64", "int32", "int64", "bool", "bfloat16", "float16". */
NB_API const char *nb_dtype_name(nb_dtype dt);
/* Size of one element in bytes. */
NB_API size_t nb_dtype_size(nb_dtype dt);
/* True for NB_F32 and NB_F64, the float dtypes ops compute in (not the storage-only ones). */
NB_API bool nb_dtype_is_float(nb_dtype dt);
/* bfloat16 mixed precision (nb_autocast_begin in nb_autograd.h): x rounded to the nearest
 * bfloat16 value, ties to even, returned as a float32 (low 16 bits zero). Past the largest
 * bfloat16 rounds to +-inf; infinities stay; a NaN stays a NaN of the same sign (quiet). */
NB_API float nb_bf16_round(float x);
/* True for the storage-only dtypes NB_BF16 and NB_F16 (see above). */
NB_API bool nb_dtype_is_storage_only(nb_dtype dt);
/* The 16-bit patterns of a value rounded to bfloat16 / float16 (as described above), and the
 * exact value of a pattern. */
NB_API uint16_t nb_float_to_bf16(double v);
NB_API uint16_t nb_float_to_f16(double v);
NB_API double nb_bf16_to_float(uint16_t bits);
NB_API double nb_f16_to_float(uint16_t bits);

/* ---- status codes (outside-data failures) ----------------------------------------------------- */
#define NB_STATUS_LIST(X) \
    X(NB_OK, "ok") \
    X(NB_ERR_IO, "input/output error") \
    X(NB_ERR_FORMAT, "invalid file format") \
    X(NB_ERR_INVALID, "invalid argument") \
    X(NB_ERR_MISMATCH, "does not match the model") \
    X(NB_ERR_NOMEM, "out of memory") \
    X(NB_ERR_NOT_FOUND, "not found")

typedef enum {
#define NB_X(e, msg) e,
    NB_STATUS_LIST(NB_X)
#undef NB_X
    NB_STATUS_COUNT
} nb_status;

/* Short generic text of a status code ("invalid file format"). */
NB_API const char *nb_status_str(nb_status st);
/* The detailed message of the last failure that returned a status on this thread
 * (e.g. "ckpt.safetensors: header length 9223372036854775808 exceeds 100000000"); "" if none. */
NB_API const char *nb_last_error(void);

/* ---- misuse handler ------------------------------------------------------------------------- */
/* Called with one line (no trailing newline) on misuse. Must not return (longjmp or abort). */
typedef void (*nb_error_handler)(const char *msg, void *user);
/* Installs `h` (NULL restores the default: print to stderr, abort()). Returns the previous one. */
NB_API nb_error_handler nb_set_error_handler(nb_error_handler h, void *user);
/* Reports misuse from user code (a model's own shape check) through the handler, like the
 * library's ops do: one printf-style line naming the function and the values. Never returns. */
NB_API NB_NORETURN NB_PRINTF(1, 2) void nb_fail(const char *fmt, ...);
/* Records a detailed message for nb_last_error() and returns st (for outside-data failures). */
NB_API NB_PRINTF(2, 3) nb_status nb_error(nb_status st, const char *fmt, ...);

/* ---- tensors -------------------------------------------------------------------------------- */
typedef struct nb_tensor nb_tensor;

/* Shape literal helper: nb_zeros(NB_DIMS(2, 3), NB_F32) expands to the shape array, ndim. */
#define NB_DIMS(...) \
    (const int64_t[]){__VA_ARGS__}, (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
/* A 0-dim (scalar) shape for the creation functions: nb_zeros(NB_SCALAR, NB_F32). */
#define NB_SCALAR NULL, 0

/* True in debug mode (see Errors above). */
NB_API bool nb_debug_checks(void);
/* t's creation number (1 for the process's first tensor, then 2, ...): the N of the debug-mode
 * message "created as tensor #N". */
NB_API uint64_t nb_tensor_debug_id(const nb_tensor *t);

/* Adds a reference to t and returns t (NULL passes through). */
NB_API nb_tensor *nb_tensor_retain(nb_tensor *t);
/* Drops a reference; frees the tensor (and its storage if last) at zero. NULL is a no-op. */
NB_API void nb_tensor_release(nb_tensor *t);

NB_API nb_dtype nb_tensor_dtype(const nb_tensor *t);
NB_API int nb_tensor_ndim(const nb_tensor *t);
/* Size of dim `dim` (negative counts from the end). Out-of-range dim is misuse. */
NB_API int64_t nb_tensor_size(const nb_tensor *t, int dim);
/* Pointer to ndim sizes / element strides, valid while t lives. */
NB_API const int64_t *nb_tensor_shape(const nb_tensor *t);
NB_API const int64_t *nb_tensor_strides(const nb_tensor *t);
/* Element offset of the first element in the storage. */
NB_API int64_t nb_tensor_offset(const nb_tensor *t);
/* Number of elements (1 for 0-dim, 0 for zero-size). */
NB_API int64_t nb_tensor_numel(const nb_tensor *t);
/* True when the strides are the row-major strides of the shape (size-1 dims ignored). */
NB_API bool nb_tensor_is_contiguous(const nb_tensor *t);
/* Pointer to the first element (storage data + offset); cast according to dtype. */
NB_API void *nb_tensor_data(const nb_tensor *t);
/* True when a and b share one storage (a is a view of b or both views of one base). */
NB_API bool nb_tensor_shares_storage(const nb_tensor *a, const nb_tensor *b);
/* Reads one element as double. `idx` has ndim entries; out-of-range is misuse. */
NB_API double nb_tensor_get(const nb_tensor *t, const int64_t *idx);
/* Writes one element (converted to t's dtype). Bumps the version counter. */
NB_API void nb_tensor_set(nb_tensor *t, const int64_t *idx, double v);
/* The single value of a 1-element tensor as double; other numel is misuse. */
NB_API double nb_tensor_item(const nb_tensor *t);
/* Copies all elements (in row-major order) into `dst` as doubles; dst holds numel entries. */
NB_API void nb_tensor_to_doubles(const nb_tensor *t, double *dst);
/* Copies all elements (in row-major order) into `dst` as floats. */
NB_API void nb_tensor_to_floats(const nb_tensor *t, float *dst);
/* True when shapes are equal. */
NB_API bool nb_tensor_same_shape(const nb_tensor *a, const nb_tensor *b);
/* Writes "[2, 3]" into buf (always NUL-terminated); returns buf. */
NB_API char *nb_shape_str(const int64_t *shape, int ndim, char *buf, size_t n);

/* The dtype nn modules give new parameters (torch.set_default_dtype): NB_F32 unless changed.
 * Only float dtypes are accepted (else misuse). Per process. */
NB_API void nb_set_default_dtype(nb_dtype dt);
NB_API nb_dtype nb_get_default_dtype(void);

/* ---- creation (new contiguous tensors; requires_grad false) ----------------------------------- */
/* Uninitialized contents. Negative sizes, more than 2^59 - 1 elements or ndim outside
 * 0..NB_MAX_DIMS are misuse. For integer dtypes a value (nb_full, nb_scalar, nb_from_doubles,
 * nb_arange's values) that does not fit is misuse; finite ones are truncated toward zero. */
NB_API nb_tensor *nb_empty(const int64_t *shape, int ndim, nb_dtype dt);
NB_API nb_tensor *nb_zeros(const int64_t *shape, int ndim, nb_dtype dt);
NB_API nb_tensor *nb_ones(const int64_t *shape, int ndim, nb_dtype dt);
NB_API nb_tensor *nb_full(const int64_t *shape, int ndim, double value, nb_dtype dt);
/* Same shape and dtype as t. */
NB_API nb_tensor *nb_zeros_like(const nb_tensor *t);
NB_API nb_tensor *nb_ones_like(const nb_tensor *t);
NB_API nb_tensor *nb_empty_like(const nb_tensor *t);
/* 0-dim tensor holding v. */
NB_API nb_tensor *nb_scalar(double v, nb_dtype dt);
/* 1-D [start, start+step, ...) up to (not including) end. step 0 is misuse. */
NB_API nb_tensor *nb_arange(double start, double end, double step, nb_dtype dt);
/* n x m identity (m = n when m < 0). */
NB_API nb_tensor *nb_eye(int64_t n, int64_t m, nb_dtype dt);
/* Copies numel elements of type `dt` from `data` (row-major) into a new tensor. */
NB_API nb_tensor *nb_from_data(const void *data, const int64_t *shape, int ndim, nb_dtype dt);
/* Converts doubles into a new tensor of dtype dt. */
NB_API nb_tensor *nb_from_doubles(const double *data, const int64_t *shape, int ndim, nb_dtype dt);

/* ---- random numbers ------------------------------------------------------------------------- */
/* A seedable generator (xoshiro256** seeded by splitmix64). The stream depends only on the seed
 * and the order of calls: identical on every machine and thread count. */
typedef struct nb_generator {
    uint64_t s[4];
    double spare_normal; /* Box-Muller second value */
    bool has_spare;
} nb_generator;

NB_API void nb_generator_seed(nb_generator *g, uint64_t seed);
/* Uniform 64-bit value. */
NB_API uint64_t nb_generator_next(nb_generator *g);
/* Uniform double in [0, 1) with 53 random bits. */
NB_API double nb_generator_uniform(nb_generator *g);
/* Standard normal (Box-Muller). */
NB_API double nb_generator_normal(nb_generator *g);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
NB_API uint64_t nb_generator_below(nb_generator *g, uint64_t n);
/* The process-wide default generator used when a function takes gen == NULL. */
NB_API nb_generator *nb_default_generator(void);
/* Seeds the default generator (torch.manual_seed). */
NB_API void nb_manual_seed(uint64_t seed);

/* Creation from the generator (gen NULL = default). Float dtypes only unless stated. */
NB_API nb_tensor *nb_rand(const int64_t *shape, int ndim, nb_dtype dt, nb_generator *gen);
NB_API nb_tensor *nb_randn(const int64_t *shape, int ndim, nb_dtype dt, nb_generator *gen);
/* Integers uniform in [low, high) (any numeric dtype; any int64 range, INT64_MIN..INT64_MAX
 * too); low >= high, or an int32 dtype with a range outside int32, is misuse. */
NB_API nb_tensor *nb_randint(int64_t low, int64_t high, const int64_t *shape, int ndim, nb_dtype dt,
                             nb_generator *gen);
/* In place: fills t with N(mean, std^2) / U[low, high). Returns t (borrowed, not a new ref).
 * With nb_fill_ and nb_zero_ (nb_ops.h) the one way to fill a tensor in place (nb_nn.h's nb_init_*
 * are only the fan-based schemes). Fill a parameter that requires grad inside NB_NO_GRAD, as the
 * other in-place ops need; these two, of the tensor layer, do not see grad mode and record
 * nothing either way. */
NB_API nb_tensor *nb_normal_(nb_tensor *t, double mean, double std, nb_generator *gen);
NB_API nb_tensor *nb_uniform_(nb_tensor *t, double low, double high, nb_generator *gen);

/* ---- scopes (autorelease pools) ------------------------------------------------------------- */
/* Opens a scope on this thread; scopes nest. Every tensor created while it is innermost is
 * released by the matching nb_scope_end(). Returns a depth token for nb_scope_end. */
NB_API int nb_scope_begin(void);
/* Releases the scope's references and closes it. `token` must be the innermost scope's. */
NB_API void nb_scope_end(int token);
/* Ends scope `token` keeping `result` alive: the returned reference (result itself) belongs to
 * the enclosing scope, or to the caller when none is open. The way a function that opens a scope
 * for its temporaries returns its result. */
NB_API nb_tensor *nb_scope_return(int token, nb_tensor *result);
/* Number of open scopes on this thread. */
NB_API int nb_scope_depth(void);

/* ---- printing ------------------------------------------------------------------------------- */
/* Formats like PyTorch's repr: "tensor([[1.0000, 2.0000], ...], dtype=float64)"; more than 1000
 * elements are summarized with "..." (3 items per edge). Returns a malloc'd string (free()). */
NB_API char *nb_tensor_repr(const nb_tensor *t);
/* Writes nb_tensor_repr(t) and a newline to f. */
NB_API void nb_tensor_print(const nb_tensor *t, FILE *f);

/* ---- memory: the caching allocator --------------------------------------------------------- */
/* Tensor storage (and kernel scratch memory) released to the library goes to a cache of free
 * blocks by size class (rounded up by at most 25%) and is reused by the next block of that
 * class; tensor headers and autograd nodes are reused likewise. So a loop that repeats the same
 * computation (a training step) allocates nothing from the system after its first iteration.
 * The cache is off (every release frees) when NB_NO_CACHING_ALLOCATOR=1 is set in the
 * environment before the first tensor is made, and in AddressSanitizer builds. */
typedef struct nb_alloc_stats {
    uint64_t storages;     /* storages created */
    uint64_t fresh_allocs; /* blocks allocated from the system (cache misses): storage and the
                            * kernels' scratch memory */
    uint64_t cache_hits;   /* blocks reused from the cache */
    uint64_t fresh_objects; /* tensor headers and autograd nodes taken from the system */
    size_t cached_bytes;   /* bytes of free blocks held in the cache now */
    size_t cache_limit;    /* the cap on cached bytes */
    bool caching;          /* false when the cache is off */
} nb_alloc_stats;
/* Counters since the start of the process (thread-safe). */
NB_API nb_alloc_stats nb_get_alloc_stats(void);
/* Frees every cached block (like torch.cuda.empty_cache), and the free tensor headers and
 * autograd nodes kept for reuse (at most 16 MiB of those); live tensors are not affected. */
NB_API void nb_empty_cache(void);
/* Caps the cached bytes (default 2 GiB; blocks released beyond the cap are freed); 0 disables
 * caching of further releases. Empties the cache if it holds more. Returns the previous cap. */
NB_API size_t nb_set_cache_limit(size_t bytes);

/* ---- threads -------------------------------------------------------------------------------- */
/* Sets the number of threads kernels use; n <= 0 restores the default, which is, first that is
 * set: the NB_NUM_THREADS environment variable, OMP_NUM_THREADS (its first entry), the cores this
 * process may run on (invalid environment values are ignored). nb_get_num_threads() returns the
 * count in force; kernels may use fewer (small work, dynamic threads). */
NB_API void nb_set_num_threads(int n);
NB_API int nb_get_num_threads(void);
/* Dynamic threads (default on; NB_DYNAMIC_THREADS=0 in the environment or
 * nb_set_dynamic_threads(false) turns them off): kernels use at most the cores that other
 * processes left free over the last 250 ms (all CPUs' busy time in /proc/stat minus this
 * process's CPU time), at least one. Beside a busy process, a two-thread parallel region stalls at
 * every barrier for a descheduled worker and a step runs several times slower than on one
 * thread; this keeps it at one-thread speed there and at full speed on an idle machine.
 * Results do not depend on the thread count, so only timings change. */
NB_API void nb_set_dynamic_threads(bool on);
NB_API bool nb_get_dynamic_threads(void);

#ifdef __cplusplus
}
#endif
#endif /* NB_TENSOR_H */
