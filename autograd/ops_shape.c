/* ops_shape.c — creation and shape ops: linspace, outer, one_hot (creation), and pad, repeat,
 * flip, roll as index-map copies (tensor/k_shape.c): every output coordinate i along dim k reads
 * input coordinate map_k[i] (the pad value where it is -1). Their common backward adds the
 * gradient back through the same maps, saved in the node as one int64 tensor. nb_split_sizes
 * returns narrow views. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__k_scan.h"
#include "nb__k_shape.h"

/* ---- index maps ----------------------------------------------------------------------------- */
/* The maps of an output of shape (nd, sh), all in one int64 tensor `store`. */
typedef struct {
    nb_tensor *store;
    int64_t *m[NB_MAX_DIMS];
} maps_t;

static void maps_point(maps_t *mp, int nd, const int64_t *sh)
{
    int64_t *p = nb_tensor_data(mp->store);
    for (int k = 0; k < nd; k++) {
        mp->m[k] = p;
        p += sh[k];
    }
}

static void maps_new(maps_t *mp, int nd, const int64_t *sh)
{
    int64_t total = 0;
    for (int k = 0; k < nd; k++)
        total += sh[k];
    mp->store = nb__tensor_new(NB_I64, &total, 1);
    maps_point(mp, nd, sh);
}

static nb_tensor *contig(const nb_tensor *t)
{
    return nb_tensor_is_contiguous(t) ? (nb_tensor *)t : nb__contiguous_copy(t);
}

/* Contiguous view of the contiguous t with shape (nd, sh) (same numel). */
static nb_tensor *review(const nb_tensor *t, int nd, const int64_t *sh)
{
    int64_t st[NB_MAX_DIMS];
    nb__contiguous_strides(nd, sh, st);
    return nb__tensor_view(t, nd, sh, st, t->offset);
}

/* gin = zeros of the source geometry, g added back through the maps. The source geometry is the
 * input's shape left-padded with size-1 dims to the output's ndim (repeat adds leading dims), or
 * the flattened input (iargs[0] set: roll without dims). */
static void remap_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    const nb__edge *e = &n->inputs[0];
    bool flat = n->iargs[0] != 0;
    int nd = flat ? 1 : n->out_ndim, lead = nd - e->ndim;
    int64_t msh[NB_MAX_DIMS], ssh[NB_MAX_DIMS];
    for (int k = 0; k < nd; k++) {
        msh[k] = flat ? nb__numel(e->ndim, e->shape) : n->out_shape[k];
        ssh[k] = flat ? msh[k] : k < lead ? 1 : e->shape[k - lead];
    }
    maps_t mp = {.store = nb__saved(n, 0)};
    maps_point(&mp, nd, msh);
    nb_tensor *z = nb_zeros(ssh, nd, e->dtype);
    nb__k_remap_add(z, review(contig(g), nd, msh), (const int64_t *const *)mp.m);
    gin[0] = review(z, e->ndim, e->shape);
}
NB__DEFINE_OP(pad, remap_backward);
NB__DEFINE_OP(repeat, remap_backward);
NB__DEFINE_OP(flip, remap_backward);
NB__DEFINE_OP(roll, remap_backward);

/* Records op for out (input t) with the maps; returns out through the scope. */
static nb_tensor *remap_finish(const nb__op *op, int scope, nb_tensor *out, const nb_tensor *t, const maps_t *mp,
                               bool flat)
{
    nb__node *n = nb__record(op, out, 1, &t);
    if (n) {
        n->iargs[0] = flat;
        nb__save(n, mp->store);
    }
    return nb__scope_return(scope, out);
}

static int64_t checked_add(const char *op, int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        nb__fail("%s: size %lld + %lld overflows", op, (long long)a, (long long)b);
    return r;
}

/* ---- pad ------------------------------------------------------------------------------------ */
static void pad_check(const nb_tensor *t, int npad, const int64_t *pad, nb_pad_mode mode)
{
    if (npad < 0 || npad % 2 || npad / 2 > t->ndim || (npad > 0 && !pad))
        nb__fail("nb_pad: pad list of %d entries does not fit a tensor of shape %s (an even count, at most "
                 "2 per dim)", npad, NB__SHAPE(t));
    if (mode != NB_PAD_CONSTANT && mode != NB_PAD_REFLECT)
        nb__fail("nb_pad: unknown mode %d", (int)mode);
    for (int i = 0; i < npad / 2; i++) {
        int d = t->ndim - 1 - i;
        int64_t l = pad[2 * i], r = pad[2 * i + 1], size = t->shape[d];
        if (mode == NB_PAD_REFLECT && (l < 0 || r < 0 || ((l || r) && (l >= size || r >= size))))
            nb__fail("nb_pad: reflect padding (%lld, %lld) of dim %d of size %lld: pads must be in [0, %lld)",
                     (long long)l, (long long)r, d, (long long)size, (long long)size);
        if (checked_add("nb_pad", checked_add("nb_pad", size, l), r) < 0)
            nb__fail("nb_pad: padding (%lld, %lld) of dim %d of size %lld gives a negative size", (long long)l,
                     (long long)r, d, (long long)size);
    }
}

nb_tensor *nb_pad(const nb_tensor *t, const int64_t *pad, int npad, nb_pad_mode mode, double value)
{
    pad_check(t, npad, pad, mode);
    int64_t sh[NB_MAX_DIMS], lo[NB_MAX_DIMS] = {0};
    memcpy(sh, t->shape, sizeof sh);
    for (int i = 0; i < npad / 2; i++) {
        int d = t->ndim - 1 - i;
        lo[d] = pad[2 * i];
        sh[d] = t->shape[d] + pad[2 * i] + pad[2 * i + 1];
    }
    nb__check_shape("nb_pad", t->ndim, sh);
    int scope = nb_scope_begin();
    maps_t mp;
    maps_new(&mp, t->ndim, sh);
    for (int d = 0; d < t->ndim; d++) {
        int64_t size = t->shape[d];
        for (int64_t j = 0; j < sh[d]; j++) {
            int64_t s = j - lo[d];
            if (mode == NB_PAD_REFLECT)
                s = s < 0 ? -s : s >= size ? 2 * (size - 1) - s : s;
            mp.m[d][j] = s >= 0 && s < size ? s : -1;
        }
    }
    nb_tensor *out = nb__tensor_new(t->dtype, sh, t->ndim);
    nb__k_remap(out, t, (const int64_t *const *)mp.m, value);
    return remap_finish(&nb__op_pad, scope, out, t, &mp, false);
}

/* ---- repeat --------------------------------------------------------------------------------- */
nb_tensor *nb_repeat(const nb_tensor *t, const int64_t *reps, int nreps)
{
    if (nreps < t->ndim || nreps > NB_MAX_DIMS || (nreps > 0 && !reps))
        nb__fail("nb_repeat: %d repeat counts for a tensor of shape %s (need %d to %d)", nreps, NB__SHAPE(t),
                 t->ndim, NB_MAX_DIMS);
    int lead = nreps - t->ndim;
    int64_t ssh[NB_MAX_DIMS], sst[NB_MAX_DIMS], sh[NB_MAX_DIMS] = {0};
    for (int k = 0; k < nreps; k++) {
        if (reps[k] < 0)
            nb__fail("nb_repeat: repeat count %lld for dim %d is negative", (long long)reps[k], k);
        ssh[k] = k < lead ? 1 : t->shape[k - lead];
        sst[k] = k < lead ? 0 : t->strides[k - lead];
        if (__builtin_mul_overflow(ssh[k], reps[k], &sh[k]))
            nb__fail("nb_repeat: size %lld * %lld overflows", (long long)ssh[k], (long long)reps[k]);
    }
    nb__check_shape("nb_repeat", nreps, sh);
    int scope = nb_scope_begin();
    maps_t mp;
    maps_new(&mp, nreps, sh);
    for (int k = 0; k < nreps; k++)
        for (int64_t j = 0; j < sh[k]; j++)
            mp.m[k][j] = j % ssh[k];
    nb_tensor *src = nb__tensor_view(t, nreps, ssh, sst, t->offset);
    nb_tensor *out = nb__tensor_new(t->dtype, sh, nreps);
    nb__k_remap(out, src, (const int64_t *const *)mp.m, 0);
    return remap_finish(&nb__op_repeat, scope, out, t, &mp, false);
}

/* ---- flip ----------------------------------------------------------------------------------- */
nb_tensor *nb_flip(const nb_tensor *t, const int *dims, int ndims)
{
    if (ndims < 0 || (ndims > 0 && !dims))
        nb__fail("nb_flip: invalid dim list (%d dims)", ndims);
    bool flip[NB_MAX_DIMS] = {0};
    for (int i = 0; i < ndims; i++) {
        int d = nb__wrap_dim("nb_flip", dims[i], t->ndim);
        if (flip[d])
            nb__fail("nb_flip: dim %d appears more than once in the dim list", d);
        flip[d] = true;
    }
    int scope = nb_scope_begin();
    maps_t mp;
    maps_new(&mp, t->ndim, t->shape);
    for (int d = 0; d < t->ndim; d++)
        for (int64_t j = 0; j < t->shape[d]; j++)
            mp.m[d][j] = flip[d] ? t->shape[d] - 1 - j : j;
    nb_tensor *out = nb__tensor_new(t->dtype, t->shape, t->ndim);
    nb__k_remap(out, t, (const int64_t *const *)mp.m, 0);
    return remap_finish(&nb__op_flip, scope, out, t, &mp, false);
}

/* ---- roll ----------------------------------------------------------------------------------- */
static void roll_map(int64_t *m, int64_t n, int64_t shift)
{
    if (n == 0)
        return;
    int64_t s = shift % n;
    for (int64_t j = 0; j < n; j++)
        m[j] = ((j - s) % n + n) % n;
}

nb_tensor *nb_roll(const nb_tensor *t, const int64_t *shifts, int nshifts, const int *dims, int ndims)
{
    if (nshifts <= 0 || !shifts || (ndims == 0 ? nshifts != 1 : nshifts != ndims) || ndims < 0 ||
        (ndims > 0 && !dims))
        nb__fail("nb_roll: %d shifts for %d dims (need as many shifts as dims, or 1 shift without dims)",
                 nshifts, ndims);
    int64_t total[NB_MAX_DIMS] = {0};
    for (int i = 0; i < ndims; i++) { /* a dim listed twice rolls by the sum */
        int d = nb__wrap_dim("nb_roll", dims[i], t->ndim);
        int64_t n = t->ndim ? t->shape[d] : 1;
        total[d] = n ? (total[d] + shifts[i] % n) % n : 0;
    }
    int scope = nb_scope_begin();
    nb_tensor *out = nb__tensor_new(t->dtype, t->shape, t->ndim);
    maps_t mp;
    bool flat = ndims == 0;
    if (flat) {
        int64_t numel = nb__numel(t->ndim, t->shape);
        maps_new(&mp, 1, &numel);
        roll_map(mp.m[0], numel, shifts[0]);
        nb__k_remap(review(out, 1, &numel), review(contig(t), 1, &numel), (const int64_t *const *)mp.m, 0);
    } else {
        maps_new(&mp, t->ndim, t->shape);
        for (int d = 0; d < t->ndim; d++)
            roll_map(mp.m[d], t->shape[d], total[d]);
        nb__k_remap(out, t, (const int64_t *const *)mp.m, 0);
    }
    return remap_finish(&nb__op_roll, scope, out, t, &mp, flat);
}

/* ---- outer ---------------------------------------------------------------------------------- */
/* out = a b^T  ⇒  ga = g b,  gb = g^T a. */
static void outer_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    if (nb__needs_grad(n, 0))
        gin[0] = nb_matmul(g, nb__saved(n, 1));
    if (nb__needs_grad(n, 1))
        gin[1] = nb_matmul(nb__saved(n, 0), g);
}
NB__DEFINE_OP(outer, outer_backward);

nb_tensor *nb_outer(const nb_tensor *a, const nb_tensor *b)
{
    if (a->ndim != 1 || b->ndim != 1)
        nb__fail("nb_outer: inputs must be 1-D, got shapes %s and %s", NB__SHAPE(a), NB__SHAPE(b));
    nb__check_same_dtype("nb_outer", a, b);
    if (a->dtype == NB_BOOL)
        nb__fail("nb_outer: bool tensors cannot be multiplied");
    int scope = nb_scope_begin();
    nb_tensor *ac = nb__tensor_view(a, 2, (const int64_t[]){a->shape[0], 1}, (const int64_t[]){a->strides[0], 0},
                                    a->offset);
    nb_tensor *br = nb__tensor_view(b, 2, (const int64_t[]){1, b->shape[0]}, (const int64_t[]){0, b->strides[0]},
                                    b->offset);
    bool prev = nb_set_grad_enabled(false); /* the product's kernel, recorded as outer below */
    nb_tensor *out = nb_mul(ac, br);
    nb_set_grad_enabled(prev);
    nb__node *n = NB__RECORD(outer, out, a, b);
    if (n) {
        nb__save(n, a);
        nb__save(n, b);
    }
    return nb__scope_return(scope, out);
}

/* ---- linspace / one_hot / split_sizes ------------------------------------------------------- */
nb_tensor *nb_linspace(double start, double end, int64_t steps, nb_dtype dt)
{
    if (steps < 0)
        nb__fail("nb_linspace: steps must be non-negative, got %lld", (long long)steps);
    if (dt != NB_F32 && dt != NB_F64 && dt != NB_I32 && dt != NB_I64)
        nb__fail("nb_linspace: dtype %s not supported (float or integer)", nb_dtype_name(dt));
    if (dt == NB_I32) {
        int scope = nb_scope_begin();
        return nb__scope_return(scope, nb__convert(nb_linspace(start, end, steps, NB_I64), NB_I32));
    }
    nb_tensor *out = nb__tensor_new(dt, &steps, 1);
    if (steps > 0)
        nb__k_linspace(out, start, end);
    return out;
}

nb_tensor *nb_one_hot(const nb_tensor *t, int64_t num_classes)
{
    if (t->dtype != NB_I64)
        nb__fail("nb_one_hot: input must be int64, got %s", nb_dtype_name(t->dtype));
    if (t->ndim + 1 > NB_MAX_DIMS)
        nb__fail("nb_one_hot: input of shape %s leaves no room for the class dim", NB__SHAPE(t));
    if (num_classes < -1)
        nb__fail("nb_one_hot: num_classes must be -1 or non-negative, got %lld", (long long)num_classes);
    int64_t numel = nb__numel(t->ndim, t->shape), lo = INT64_MAX, hi = INT64_MIN;
    for (int64_t i = 0; i < numel; i++) { /* checked before any allocation: misuse leaves no scope */
        int64_t v = *(const int64_t *)nb__elem_ptr(t, i);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (num_classes == -1 && numel == 0)
        nb__fail("nb_one_hot: cannot infer num_classes from an empty tensor (shape %s)", NB__SHAPE(t));
    int64_t c = num_classes == -1 ? (hi < INT64_MAX ? hi + 1 : hi) : num_classes;
    if (numel > 0 && (lo < 0 || hi >= c))
        nb__fail("nb_one_hot: class value %lld out of range [0, %lld)", (long long)(lo < 0 ? lo : hi),
                 (long long)c);
    int64_t sh[NB_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    sh[t->ndim] = c;
    nb__check_shape("nb_one_hot", t->ndim + 1, sh);
    int scope = nb_scope_begin();
    nb_tensor *out = nb__tensor_new(NB_I64, sh, t->ndim + 1);
    nb__k_one_hot(out, contig(t), c);
    return nb__scope_return(scope, out);
}

int nb_split_sizes(const nb_tensor *t, const int64_t *sizes, int n, int dim, nb_tensor **out, int max_out)
{
    int d = nb__wrap_dim("nb_split_sizes", dim, t->ndim);
    if (t->ndim == 0 || n < 0 || (n > 0 && !sizes))
        nb__fail("nb_split_sizes: need a tensor of at least 1 dim and a size list (shape %s, %d sizes)",
                 NB__SHAPE(t), n);
    if (n > max_out)
        nb__fail("nb_split_sizes: %d pieces do not fit the %d output slots", n, max_out);
    int64_t sum = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0)
            nb__fail("nb_split_sizes: size %lld at position %d is negative", (long long)sizes[i], i);
        sum = checked_add("nb_split_sizes", sum, sizes[i]);
    }
    if (sum != t->shape[d])
        nb__fail("nb_split_sizes: sizes sum to %lld, but dim %d has size %lld", (long long)sum, d,
                 (long long)t->shape[d]);
    for (int64_t i = 0, start = 0; i < n; start += sizes[i++])
        out[i] = nb_narrow(t, d, start, sizes[i]);
    return n;
}
