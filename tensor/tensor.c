/* tensor.c — dtype table, tensor lifecycle (refcounts, scopes), geometry and accessors. */
#include "config.h"
#include "nb__tensor.h"

#include <pthread.h>
#include <stdlib.h>

/* ---- dtypes --------------------------------------------------------------------------------- */
static const struct { const char *name; size_t size; } k_dtypes[] = {
#define NB_X(e, name, ctype, size) {#name, size},
    NB_DTYPE_LIST(NB_X)
#undef NB_X
};
_Static_assert(sizeof k_dtypes / sizeof *k_dtypes == NB_DTYPE_COUNT, "dtype table");

const char *nb_dtype_name(nb_dtype dt) { return (unsigned)dt < NB_DTYPE_COUNT ? k_dtypes[dt].name : "?"; }
size_t nb_dtype_size(nb_dtype dt) { return (unsigned)dt < NB_DTYPE_COUNT ? k_dtypes[dt].size : 0; }
bool nb_dtype_is_float(nb_dtype dt) { return dt == NB_F32 || dt == NB_F64; }
bool nb_dtype_is_storage_only(nb_dtype dt) { return dt == NB_BF16 || dt == NB_F16; }

double nb__load(nb_dtype dt, const void *p)
{
    switch (dt) {
    case NB_F32: return *(const float *)p;
    case NB_F64: return *(const double *)p;
    case NB_I32: return *(const int32_t *)p;
    case NB_I64: return (double)*(const int64_t *)p;
    case NB_BOOL: return *(const uint8_t *)p;
    case NB_BF16: return nb_bf16_to_float(*(const uint16_t *)p);
    case NB_F16: return nb_f16_to_float(*(const uint16_t *)p);
    default: return 0;
    }
}

/* [lo, hi): the doubles whose truncation fits dt (exact bounds: powers of two and their
 * neighbours are doubles). */
static bool int_bounds(nb_dtype dt, double *lo, double *hi)
{
    if (dt == NB_I32) {
        *lo = -2147483649.0, *hi = 2147483648.0; /* open below: -2^31 - 1 truncates out of range */
        return true;
    }
    if (dt == NB_I64) {
        *lo = -9223372036854777856.0, *hi = 9223372036854775808.0; /* next double below -2^63 */
        return true;
    }
    return false;
}

bool nb__fits(nb_dtype dt, double v)
{
    double lo, hi;
    return !int_bounds(dt, &lo, &hi) || (v > lo && v < hi);
}

void nb__check_fits(const char *op, nb_dtype dt, double v)
{
    if (!nb__fits(dt, v))
        nb__fail("%s: value %g cannot be converted to %s without overflow", op, v, nb_dtype_name(dt));
}

/* v truncated and saturated to [min, max] of dt (NaN: 0): defined for every double. */
static int64_t saturate(nb_dtype dt, double v, int64_t min, int64_t max)
{
    double lo, hi;
    int_bounds(dt, &lo, &hi);
    if (v != v)
        return 0;
    return v <= lo ? min : v >= hi ? max : (int64_t)v;
}

void nb__store(nb_dtype dt, void *p, double v)
{
    switch (dt) {
    case NB_F32: *(float *)p = (float)v; break;
    case NB_F64: *(double *)p = v; break;
    case NB_I32: *(int32_t *)p = (int32_t)saturate(dt, v, INT32_MIN, INT32_MAX); break;
    case NB_I64: *(int64_t *)p = saturate(dt, v, INT64_MIN, INT64_MAX); break;
    case NB_BOOL: *(uint8_t *)p = v != 0; break;
    case NB_BF16: *(uint16_t *)p = nb_float_to_bf16(v); break;
    case NB_F16: *(uint16_t *)p = nb_float_to_f16(v); break;
    default: break;
    }
}

int64_t nb__load_i64(nb_dtype dt, const void *p)
{
    switch (dt) {
    case NB_I32: return *(const int32_t *)p;
    case NB_I64: return *(const int64_t *)p;
    case NB_BOOL: return *(const uint8_t *)p;
    default: return saturate(NB_I64, nb__load(dt, p), INT64_MIN, INT64_MAX);
    }
}

void nb__store_i64(nb_dtype dt, void *p, int64_t v)
{
    switch (dt) {
    case NB_F32: *(float *)p = (float)v; break;
    case NB_F64: *(double *)p = (double)v; break;
    case NB_I32: *(int32_t *)p = (int32_t)(uint32_t)(uint64_t)v; break; /* wraps (GCC/Clang: modulo) */
    case NB_I64: *(int64_t *)p = v; break;
    case NB_BOOL: *(uint8_t *)p = v != 0; break;
    case NB_BF16: *(uint16_t *)p = nb_float_to_bf16(nb__i64_to_double_odd(v)); break;
    case NB_F16: *(uint16_t *)p = nb_float_to_f16(nb__i64_to_double_odd(v)); break;
    default: break;
    }
}

/* ---- scopes --------------------------------------------------------------------------------- */
static _Thread_local struct {
    nb_tensor **items;
    size_t n, cap;
    size_t *marks;
    int depth, mark_cap;
} t_scope;

static void scope_register(nb_tensor *t)
{
    if (t_scope.depth == 0)
        return;
    if (t_scope.n == t_scope.cap) {
        size_t cap = t_scope.cap ? 2 * t_scope.cap : 256;
        nb_tensor **items = realloc(t_scope.items, cap * sizeof *items);
        if (!items)
            nb__fail("nb_scope: out of memory");
        t_scope.items = items;
        t_scope.cap = cap;
    }
    t_scope.items[t_scope.n++] = t; /* the scope owns the new reference */
}

int nb_scope_begin(void)
{
    if (t_scope.depth == t_scope.mark_cap) {
        int cap = t_scope.mark_cap ? 2 * t_scope.mark_cap : 16;
        size_t *marks = realloc(t_scope.marks, (size_t)cap * sizeof *marks);
        if (!marks)
            nb__fail("nb_scope_begin: out of memory");
        t_scope.marks = marks;
        t_scope.mark_cap = cap;
    }
    t_scope.marks[t_scope.depth++] = t_scope.n;
    return t_scope.depth;
}

void nb_scope_end(int token)
{
    if (token != t_scope.depth || token <= 0)
        nb__fail("nb_scope_end: token %d does not match the innermost open scope (%d)", token,
                 t_scope.depth);
    size_t mark = t_scope.marks[--t_scope.depth];
    while (t_scope.n > mark)
        nb_tensor_release(t_scope.items[--t_scope.n]);
    if (t_scope.depth == 0 && t_scope.cap > 4096) { /* give back a burst's worth of slots */
        free(t_scope.items);
        t_scope.items = NULL;
        t_scope.cap = 0;
    }
}

int nb_scope_depth(void) { return t_scope.depth; }

void nb__scope_unwind(const char *op, int depth)
{
    if (depth < 0 || depth > t_scope.depth)
        nb__fail("%s: scope depth %d is not between 0 and the %d open scopes", op, depth, t_scope.depth);
    while (t_scope.depth > depth)
        nb_scope_end(t_scope.depth);
}

nb_tensor *nb__new_ref(nb_tensor *t)
{
    t->refcount++;
    scope_register(t);
    return t;
}

nb_tensor *nb_scope_return(int token, nb_tensor *result) { return nb__scope_return(token, result); }

nb_tensor *nb__scope_return(int token, nb_tensor *result)
{
    result->refcount++;
    nb_scope_end(token);
    scope_register(result);
    return result;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */
int64_t nb__numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n = nb__mul_ck("nb__numel", n, shape[i]);
    return n;
}

int64_t nb__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s = nb__mul_ck("nb__contiguous_strides", s, shape[i] > 0 ? shape[i] : 1);
    }
    return nb__numel(ndim, shape);
}

void nb__check_shape(const char *op, int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > NB_MAX_DIMS)
        nb__fail("%s: %d dims requested, nabla supports 0..%d", op, ndim, NB_MAX_DIMS);
    int64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            nb__fail("%s: negative size %lld at dim %d of shape %s", op, (long long)shape[i], i,
                     nb__shape_text(ndim, shape).s);
        /* a size-0 dim too: the strides must not overflow */
        if (shape[i] > 0 && (__builtin_mul_overflow(total, shape[i], &total) || total > NB__MAX_NUMEL))
            nb__fail("%s: shape %s has too many elements (at most %lld)", op, nb__shape_text(ndim, shape).s,
                     (long long)NB__MAX_NUMEL);
    }
}

void nb__check_view(const char *op, const nb_tensor *base, int ndim, const int64_t *shape,
                    const int64_t *strides, int64_t offset)
{
    nb__check_shape(op, ndim, shape);
    int64_t lo = offset, hi = offset;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0)
            return; /* no element is ever addressed */
        int64_t reach = nb__mul_ck(op, shape[i] - 1, strides[i]);
        if (reach < 0)
            lo = nb__add_ck(op, lo, reach);
        else
            hi = nb__add_ck(op, hi, reach);
    }
    int64_t elems = (int64_t)(base->storage->nbytes / nb_dtype_size(base->dtype));
    if (lo < 0 || hi >= elems)
        nb__fail("%s: view of shape %s, strides %s and offset %lld reaches elements %lld..%lld outside its "
                 "storage of %lld",
                 op, nb__shape_text(ndim, shape).s, nb__shape_text(ndim, strides).s, (long long)offset,
                 (long long)lo, (long long)hi, (long long)elems);
}

static uint64_t g_serial;

static nb_tensor *tensor_alloc(void)
{
    nb_tensor *t = nb__obj_alloc(sizeof *t); /* zeroed */
    t->refcount = 1;
    t->live = NB__TENSOR_LIVE;
    t->serial = __atomic_add_fetch(&g_serial, 1, __ATOMIC_RELAXED);
    return t;
}

nb_tensor *nb__tensor_new(nb_dtype dt, const int64_t *shape, int ndim)
{
    nb__check_shape("nb_empty", ndim, shape);
    nb_tensor *t = tensor_alloc();
    t->dtype = dt;
    t->ndim = ndim;
    if (ndim)
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    int64_t n = nb__contiguous_strides(ndim, shape, t->strides);
    t->storage = nb__storage_new((size_t)n * nb_dtype_size(dt));
    scope_register(t);
    return t;
}

nb_tensor *nb__tensor_view_op(const char *op, const nb_tensor *base, int ndim, const int64_t *shape,
                              const int64_t *strides, int64_t offset)
{
    nb__check_live(op, base);
    nb__check_view(op, base, ndim, shape, strides, offset);
    nb_tensor *t = tensor_alloc();
    t->dtype = base->dtype;
    t->ndim = ndim;
    if (ndim) {
        memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
        memcpy(t->strides, strides, (size_t)ndim * sizeof *strides);
    }
    t->offset = offset;
    t->storage = base->storage;
    t->storage->refcount++;
    scope_register(t);
    return t;
}

nb_tensor *nb__tensor_view(const nb_tensor *base, int ndim, const int64_t *shape,
                           const int64_t *strides, int64_t offset)
{
    return nb__tensor_view_op("nb__tensor_view", base, ndim, shape, strides, offset);
}

nb_tensor *nb_tensor_retain(nb_tensor *t)
{
    nb__check_live("nb_tensor_retain", t);
    if (t)
        t->refcount++;
    return t;
}

/* Debug mode: released headers wait in a FIFO before they are freed (and reused), so a use after
 * release finds the tag cleared instead of another tensor. */
#define NB__QUARANTINE 65536
static struct {
    pthread_mutex_t lock;
    nb_tensor *ring[NB__QUARANTINE];
    size_t next;
} g_quarantine = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void header_free(nb_tensor *t)
{
    if (nb__debug_on) {
        pthread_mutex_lock(&g_quarantine.lock);
        nb_tensor *old = g_quarantine.ring[g_quarantine.next];
        g_quarantine.ring[g_quarantine.next] = t;
        g_quarantine.next = (g_quarantine.next + 1) % NB__QUARANTINE;
        pthread_mutex_unlock(&g_quarantine.lock);
        t = old;
    }
    nb__obj_free(t, sizeof *t);
}

void nb_tensor_release(nb_tensor *t)
{
    if (!t)
        return;
    nb__check_live("nb_tensor_release", t);
    if (t->refcount <= 0)
        nb__fail("nb_tensor_release: tensor released more often than retained");
    if (--t->refcount > 0)
        return;
    t->live = 0;
    nb_tensor *grad = t->grad;
    nb__object *fn = t->grad_fn;
    t->grad = NULL;
    t->grad_fn = NULL;
    nb_tensor_release(grad);
    if (fn && fn->retained_out == t)
        fn->retained_out = NULL;
    if (fn && --fn->refcount == 0)
        fn->free_fn(fn);
    nb__storage_release(t->storage);
    header_free(t);
}

uint64_t nb_tensor_debug_id(const nb_tensor *t) { return t->serial; }

/* ---- accessors ------------------------------------------------------------------------------
 * The geometry accessors and nb_tensor_data do not check the live tag: kernels call them before
 * the op's own checks, which then name the op (nb__record checks every differentiable op's
 * inputs). The element accessors and the lifecycle functions check. */
nb_dtype nb_tensor_dtype(const nb_tensor *t) { return t->dtype; }
int nb_tensor_ndim(const nb_tensor *t) { return t->ndim; }
const int64_t *nb_tensor_shape(const nb_tensor *t) { return t->shape; }
const int64_t *nb_tensor_strides(const nb_tensor *t) { return t->strides; }
int64_t nb_tensor_offset(const nb_tensor *t) { return t->offset; }
int64_t nb_tensor_numel(const nb_tensor *t) { return nb__numel(t->ndim, t->shape); }

int64_t nb_tensor_size(const nb_tensor *t, int dim)
{
    nb__check_live("nb_tensor_size", t);
    if (t->ndim == 0)
        nb__fail("nb_tensor_size: a 0-dim tensor has no dim %d", dim);
    return t->shape[nb__wrap_dim("nb_tensor_size", dim, t->ndim)];
}

bool nb_tensor_is_contiguous(const nb_tensor *t)
{
    int64_t expect = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 0)
            return true;
        if (t->shape[i] != 1 && t->strides[i] != expect)
            return false;
        expect *= t->shape[i];
    }
    return true;
}

void *nb_tensor_data(const nb_tensor *t)
{
    return (char *)t->storage->data + t->offset * (int64_t)nb_dtype_size(t->dtype);
}

bool nb_tensor_shares_storage(const nb_tensor *a, const nb_tensor *b) { return a->storage == b->storage; }

bool nb_tensor_same_shape(const nb_tensor *a, const nb_tensor *b)
{
    return a->ndim == b->ndim && (a->ndim == 0 || !memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof(int64_t)));
}

static char *elem_at(const char *op, const nb_tensor *t, const int64_t *idx)
{
    nb__check_live(op, t);
    int64_t off = t->offset;
    for (int i = 0; i < t->ndim; i++) {
        if (idx[i] < 0 || idx[i] >= t->shape[i])
            nb__fail("%s: index %lld out of range for dim %d of size %lld", op, (long long)idx[i], i,
                     (long long)t->shape[i]);
        off += idx[i] * t->strides[i];
    }
    return (char *)t->storage->data + off * (int64_t)nb_dtype_size(t->dtype);
}

char *nb__elem_ptr(const nb_tensor *t, int64_t linear)
{
    int64_t off = t->offset;
    for (int i = t->ndim - 1; i >= 0; i--) {
        off += (linear % t->shape[i]) * t->strides[i];
        linear /= t->shape[i];
    }
    return (char *)t->storage->data + off * (int64_t)nb_dtype_size(t->dtype);
}

double nb_tensor_get(const nb_tensor *t, const int64_t *idx)
{
    return nb__load(t->dtype, elem_at("nb_tensor_get", t, idx));
}

void nb_tensor_set(nb_tensor *t, const int64_t *idx, double v)
{
    nb__check_live("nb_tensor_set", t);
    nb__check_fits("nb_tensor_set", t->dtype, v);
    nb__store(t->dtype, elem_at("nb_tensor_set", t, idx), v);
    nb__bump_version(t);
}

double nb_tensor_item(const nb_tensor *t)
{
    nb__check_live("nb_tensor_item", t);
    if (nb_tensor_numel(t) != 1)
        nb__fail("nb_tensor_item: a tensor of shape %s has %lld elements, item() needs exactly 1",
                 NB__SHAPE(t), (long long)nb_tensor_numel(t));
    return nb__load(t->dtype, nb_tensor_data(t));
}

void nb_tensor_to_doubles(const nb_tensor *t, double *dst)
{
    nb__check_live("nb_tensor_to_doubles", t);
    int64_t n = nb_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        dst[i] = nb__load(t->dtype, nb__elem_ptr(t, i));
}

void nb_tensor_to_floats(const nb_tensor *t, float *dst)
{
    nb__check_live("nb_tensor_to_floats", t);
    int64_t n = nb_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        dst[i] = (float)nb__load(t->dtype, nb__elem_ptr(t, i));
}
