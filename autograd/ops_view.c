/* ops_view.c — views and shape ops: each builds new geometry over the input's storage, records
 * its node, and has its backward right below. */
#include "config.h"
#include "nb__autograd.h"

/* ---- helpers -------------------------------------------------------------------------------- */
/* Resolves a single -1 and checks the element count. */
static void infer_shape(const char *op, const nb_tensor *t, int ndim, const int64_t *shape, int64_t *out)
{
    if (ndim < 0 || ndim > NB_MAX_DIMS)
        nb__fail("%s: %d dims requested, nabla supports 0..%d", op, ndim, NB_MAX_DIMS);
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1) {
            if (infer >= 0)
                nb__fail("%s: only one dim can be inferred (-1) in shape %s", op, nb__shape_text(ndim, shape).s);
            infer = i;
        } else if (shape[i] < 0) {
            nb__fail("%s: invalid size %lld in shape %s", op, (long long)shape[i], nb__shape_text(ndim, shape).s);
        } else if (__builtin_mul_overflow(known, shape[i], &known)) {
            nb__fail("%s: shape %s has too many elements", op, nb__shape_text(ndim, shape).s);
        }
        out[i] = shape[i];
    }
    int64_t numel = nb__numel(t->ndim, t->shape);
    if (infer >= 0) {
        if (known == 0 || numel % known)
            nb__fail("%s: shape %s is invalid for input of size %lld", op, nb__shape_text(ndim, shape).s,
                     (long long)numel);
        out[infer] = numel / known;
    } else if (known != numel) {
        nb__fail("%s: shape %s is invalid for input of size %lld", op, nb__shape_text(ndim, shape).s,
                 (long long)numel);
    }
    nb__check_shape(op, ndim, out); /* a size-0 result too: [0, 2^63-1, 2^63-1] has no valid strides */
}

/* Strides for viewing (shape, strides) as new_shape without a copy, as PyTorch's computeStride;
 * false when impossible. */
static bool view_strides(int ndim, const int64_t *shape, const int64_t *strides, int nnew,
                         const int64_t *new_shape, int64_t *new_strides)
{
    if (nb__numel(ndim, shape) == 0) {
        nb__contiguous_strides(nnew, new_shape, new_strides);
        return true;
    }
    static const int64_t one = 1;
    if (ndim == 0) {
        ndim = 1;
        shape = &one;
        strides = &one;
    }
    int view_d = nnew - 1;
    int64_t chunk_base = strides[ndim - 1], tensor_numel = 1, view_numel = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        tensor_numel *= shape[d];
        if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base)) {
            while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
                new_strides[view_d] = nb__mul_ck("nb_view", view_numel, chunk_base);
                view_numel *= new_shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel)
                return false;
            if (d > 0) {
                chunk_base = strides[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

/* Every view op's geometry goes through here: nb__check_view proves it in bounds of the storage. */
static nb_tensor *make_view(const char *op, const nb_tensor *t, int ndim, const int64_t *shape,
                            const int64_t *strides, int64_t offset)
{
    return nb__tensor_view_op(op, t, ndim, shape, strides, offset);
}

/* Backward shared by every op whose output is a reshaping of its input. */
static void reshape_like_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    gin[0] = nb_reshape(g, n->inputs[0].shape, n->inputs[0].ndim);
}

/* ---- view / reshape / flatten / squeeze / unsqueeze ------------------------------------------ */
/* These backward formulas (and transpose's and permute's) are views of g, or a copy where the
 * layout needs one: they take g with any strides, so a strided gradient (e.g. attention's, laid
 * out like its inputs) passes through without the engine's contiguous copy. */
NB__DEFINE_OP_STRIDED_GRAD(view, reshape_like_backward);
NB__DEFINE_OP_STRIDED_GRAD(reshape, reshape_like_backward);
NB__DEFINE_OP_STRIDED_GRAD(flatten, reshape_like_backward);
NB__DEFINE_OP_STRIDED_GRAD(squeeze, reshape_like_backward);
NB__DEFINE_OP_STRIDED_GRAD(unsqueeze, reshape_like_backward);

static nb_tensor *view_as(const nb__op *op, const nb_tensor *t, const int64_t *shape, int ndim, bool copy_ok)
{
    nb__check_live(op->name, t);
    int64_t sh[NB_MAX_DIMS], st[NB_MAX_DIMS];
    infer_shape(op->name, t, ndim, shape, sh);
    nb_tensor *out;
    if (view_strides(t->ndim, t->shape, t->strides, ndim, sh, st)) {
        out = make_view(op->name, t, ndim, sh, st, t->offset);
    } else if (copy_ok) { /* copy in row-major order into a fresh tensor of the new shape */
        int scope = nb_scope_begin();
        out = nb__tensor_new(t->dtype, sh, ndim);
        int64_t cst[NB_MAX_DIMS];
        nb__contiguous_strides(t->ndim, t->shape, cst);
        nb__copy_into(nb__tensor_view(out, t->ndim, t->shape, cst, 0), t);
        out = nb__scope_return(scope, out);
    } else {
        nb__fail("%s: a tensor of shape %s and strides %s cannot be viewed as %s; use nb_reshape",
                 op->name, NB__SHAPE(t), nb__shape_text(t->ndim, t->strides).s, nb__shape_text(ndim, sh).s);
    }
    nb__record(op, out, 1, &t);
    return out;
}

nb_tensor *nb_view(const nb_tensor *t, const int64_t *shape, int ndim)
{
    return view_as(&nb__op_view, t, shape, ndim, false);
}

nb_tensor *nb_reshape(const nb_tensor *t, const int64_t *shape, int ndim)
{
    return view_as(&nb__op_reshape, t, shape, ndim, true);
}

nb_tensor *nb_flatten(const nb_tensor *t, int start_dim, int end_dim)
{
    nb__check_live("nb_flatten", t);
    if (t->ndim == 0)
        return view_as(&nb__op_flatten, t, NB_DIMS(1), true);
    int s = nb__wrap_dim("nb_flatten", start_dim, t->ndim), e = nb__wrap_dim("nb_flatten", end_dim, t->ndim);
    if (s > e)
        nb__fail("nb_flatten: start_dim %d must not come after end_dim %d", start_dim, end_dim);
    int64_t sh[NB_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < s; d++)
        sh[nd++] = t->shape[d];
    int64_t m = 1;
    for (int d = s; d <= e; d++)
        m = nb__mul_ck("nb_flatten", m, t->shape[d]);
    sh[nd++] = m;
    for (int d = e + 1; d < t->ndim; d++)
        sh[nd++] = t->shape[d];
    return view_as(&nb__op_flatten, t, sh, nd, true);
}

nb_tensor *nb_squeeze(const nb_tensor *t, int dim)
{
    nb__check_live("nb_squeeze", t);
    int d = nb__wrap_dim("nb_squeeze", dim, t->ndim);
    int64_t sh[NB_MAX_DIMS], st[NB_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (i == d && t->shape[i] == 1)
            continue;
        sh[nd] = t->shape[i];
        st[nd++] = t->strides[i];
    }
    nb_tensor *out = make_view("nb_squeeze", t, nd, sh, st, t->offset);
    nb__record(&nb__op_squeeze, out, 1, &t);
    return out;
}

nb_tensor *nb_unsqueeze(const nb_tensor *t, int dim)
{
    nb__check_live("nb_unsqueeze", t);
    if (t->ndim >= NB_MAX_DIMS)
        nb__fail("nb_unsqueeze: a tensor of %d dims cannot gain one (max %d)", t->ndim, NB_MAX_DIMS);
    int d = nb__wrap_dim("nb_unsqueeze", dim, t->ndim + 1);
    int64_t sh[NB_MAX_DIMS], st[NB_MAX_DIMS];
    int nd = 0;
    for (int i = 0; i <= t->ndim; i++) {
        if (i == d) {
            sh[nd] = 1;
            st[nd++] = (i < t->ndim) ? nb__mul_ck("nb_unsqueeze", t->strides[i], t->shape[i]) : 1;
        }
        if (i < t->ndim) {
            sh[nd] = t->shape[i];
            st[nd++] = t->strides[i];
        }
    }
    nb_tensor *out = make_view("nb_unsqueeze", t, nd, sh, st, t->offset);
    nb__record(&nb__op_unsqueeze, out, 1, &t);
    return out;
}

/* ---- transpose / permute -------------------------------------------------------------------- */
static void transpose_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    gin[0] = nb_transpose(g, (int)n->iargs[0], (int)n->iargs[1]);
}
NB__DEFINE_OP_STRIDED_GRAD(transpose, transpose_backward);

nb_tensor *nb_transpose(const nb_tensor *t, int d0, int d1)
{
    nb__check_live("nb_transpose", t);
    int a = nb__wrap_dim("nb_transpose", d0, t->ndim), b = nb__wrap_dim("nb_transpose", d1, t->ndim);
    int64_t sh[NB_MAX_DIMS], st[NB_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    memcpy(st, t->strides, sizeof st);
    if (t->ndim) {
        sh[a] = t->shape[b], sh[b] = t->shape[a];
        st[a] = t->strides[b], st[b] = t->strides[a];
    }
    nb_tensor *out = make_view("nb_transpose", t, t->ndim, sh, st, t->offset);
    nb__node *n = NB__RECORD(transpose, out, t);
    if (n)
        n->iargs[0] = a, n->iargs[1] = b;
    return out;
}

static void permute_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    int inv[NB_MAX_DIMS];
    for (int i = 0; i < n->out_ndim; i++)
        inv[n->iargs[i]] = i;
    gin[0] = nb_permute(g, inv);
}
NB__DEFINE_OP_STRIDED_GRAD(permute, permute_backward);

nb_tensor *nb_permute(const nb_tensor *t, const int *perm)
{
    nb__check_live("nb_permute", t);
    int64_t sh[NB_MAX_DIMS], st[NB_MAX_DIMS];
    bool seen[NB_MAX_DIMS] = {0};
    int p[NB_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) {
        p[i] = nb__wrap_dim("nb_permute", perm[i], t->ndim);
        if (seen[p[i]])
            nb__fail("nb_permute: dim %d appears twice in the permutation", p[i]);
        seen[p[i]] = true;
        sh[i] = t->shape[p[i]];
        st[i] = t->strides[p[i]];
    }
    nb_tensor *out = make_view("nb_permute", t, t->ndim, sh, st, t->offset);
    nb__node *n = NB__RECORD(permute, out, t);
    if (n)
        for (int i = 0; i < t->ndim; i++)
            n->iargs[i] = p[i];
    return out;
}

/* ---- narrow / slice / select: backward scatters g into zeros of the input's shape ----------- */
static nb_tensor *zeros_of_input(const nb__node *n)
{
    return nb_zeros(n->inputs[0].shape, n->inputs[0].ndim, n->inputs[0].dtype);
}

static void narrow_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *z = zeros_of_input(n);
    nb_tensor *part = nb_slice(z, (int)n->iargs[0], n->iargs[1], n->iargs[1] + n->iargs[2], n->iargs[3]);
    nb__copy_into(part, g);
    gin[0] = z;
}
/* A later gradient for the same input: add g into its part of the accumulated gradient. */
static void narrow_accumulate(nb__node *n, nb_tensor *g, nb_tensor *acc)
{
    nb_add_(nb_slice(acc, (int)n->iargs[0], n->iargs[1], n->iargs[1] + n->iargs[2], n->iargs[3]), g);
}
NB__DEFINE_OP_ACC(narrow, narrow_backward, narrow_accumulate);
NB__DEFINE_OP_ACC(slice, narrow_backward, narrow_accumulate);

static nb_tensor *slice_impl(const nb__op *op, const nb_tensor *t, int dim, int64_t start, int64_t length,
                             int64_t step)
{
    int d = nb__wrap_dim(op->name, dim, t->ndim);
    if (t->ndim == 0)
        nb__fail("%s: cannot slice a 0-dim tensor", op->name);
    int64_t sh[NB_MAX_DIMS], st[NB_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    memcpy(st, t->strides, sizeof st);
    sh[d] = length;
    /* one element or none: the step never applies (and stride * step may not fit) */
    st[d] = length > 1 ? nb__mul_ck(op->name, t->strides[d], step) : t->strides[d];
    int64_t off = length ? nb__add_ck(op->name, t->offset, nb__mul_ck(op->name, start, t->strides[d])) : t->offset;
    nb_tensor *out = make_view(op->name, t, t->ndim, sh, st, off);
    nb__node *n = nb__record(op, out, 1, &t);
    if (n) /* the span of the input the result covers: start .. start + (length - 1) * step */
        n->iargs[0] = d, n->iargs[1] = start, n->iargs[3] = length > 1 ? step : 1,
        n->iargs[2] = length ? (length - 1) * n->iargs[3] + 1 : 0;
    return out;
}

nb_tensor *nb_narrow(const nb_tensor *t, int dim, int64_t start, int64_t length)
{
    nb__check_live("nb_narrow", t);
    int d = nb__wrap_dim("nb_narrow", dim, t->ndim);
    int64_t size = t->ndim ? t->shape[d] : 1, s = start < 0 && start >= -size ? start + size : start;
    if (s < 0 || s > size || length < 0 || length > size - s)
        nb__fail("nb_narrow: start %lld, length %lld out of range for dim %d of size %lld", (long long)start,
                 (long long)length, d, (long long)size);
    return slice_impl(&nb__op_narrow, t, d, s, length, 1);
}

nb_tensor *nb_slice(const nb_tensor *t, int dim, int64_t start, int64_t end, int64_t step)
{
    nb__check_live("nb_slice", t);
    int d = nb__wrap_dim("nb_slice", dim, t->ndim);
    if (step <= 0)
        nb__fail("nb_slice: step must be positive, got %lld", (long long)step);
    int64_t size = t->ndim ? t->shape[d] : 1;
    if (start < 0) /* Python's bounds: negative counts from the end, then clamp to [0, size] */
        start = start < -size ? 0 : start + size;
    if (end < 0)
        end = end < -size ? 0 : end + size;
    start = start > size ? size : start;
    end = end < start ? start : end > size ? size : end;
    int64_t length = end > start ? (end - start - 1) / step + 1 : 0; /* ceil without overflow */
    return slice_impl(&nb__op_slice, t, d, start, length, step);
}

static void select_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *z = zeros_of_input(n);
    nb_tensor *part = nb_select(z, (int)n->iargs[0], n->iargs[1]);
    nb__copy_into(part, g);
    gin[0] = z;
}
static void select_accumulate(nb__node *n, nb_tensor *g, nb_tensor *acc)
{
    nb_add_(nb_select(acc, (int)n->iargs[0], n->iargs[1]), g);
}
NB__DEFINE_OP_ACC(select, select_backward, select_accumulate);

nb_tensor *nb_select(const nb_tensor *t, int dim, int64_t index)
{
    nb__check_live("nb_select", t);
    if (t->ndim == 0)
        nb__fail("nb_select: cannot select from a 0-dim tensor");
    int d = nb__wrap_dim("nb_select", dim, t->ndim);
    int64_t size = t->shape[d], i = index < 0 && index >= -size ? index + size : index;
    if (i < 0 || i >= size)
        nb__fail("nb_select: index %lld out of range for dim %d of size %lld", (long long)index, d, (long long)size);
    int64_t sh[NB_MAX_DIMS], st[NB_MAX_DIMS];
    int nd = 0;
    for (int k = 0; k < t->ndim; k++)
        if (k != d)
            sh[nd] = t->shape[k], st[nd++] = t->strides[k];
    nb_tensor *out = make_view("nb_select", t, nd, sh, st,
                               nb__add_ck("nb_select", t->offset, nb__mul_ck("nb_select", i, t->strides[d])));
    nb__node *n = NB__RECORD(select, out, t);
    if (n)
        n->iargs[0] = d, n->iargs[1] = i;
    return out;
}

/* ---- expand --------------------------------------------------------------------------------- */
static void expand_backward(nb__node *n, nb_tensor *g, nb_tensor **gin) { gin[0] = nb__sum_to(g, n, 0); }
NB__DEFINE_OP(expand, expand_backward);

nb_tensor *nb_expand(const nb_tensor *t, const int64_t *shape, int ndim)
{
    nb__check_live("nb_expand", t);
    if (ndim < t->ndim || ndim > NB_MAX_DIMS)
        nb__fail("nb_expand: cannot expand shape %s to %d dims", NB__SHAPE(t), ndim);
    int64_t sh[NB_MAX_DIMS], st[NB_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++) {
        int td = d - lead;
        int64_t want = shape[d];
        if (td < 0) {
            if (want < 0)
                nb__fail("nb_expand: size -1 not allowed for new leading dim %d", d);
            sh[d] = want, st[d] = 0;
        } else if (want == -1 || want == t->shape[td]) {
            sh[d] = t->shape[td], st[d] = t->strides[td];
        } else if (t->shape[td] == 1 && want >= 0) {
            sh[d] = want, st[d] = 0;
        } else {
            nb__fail("nb_expand: shape %s cannot be expanded to %s (dim %d: %lld vs %lld)", NB__SHAPE(t),
                     nb__shape_text(ndim, shape).s, d, (long long)t->shape[td], (long long)want);
        }
    }
    nb_tensor *out = make_view("nb_expand", t, ndim, sh, st, t->offset); /* checks the element count */
    NB__RECORD(expand, out, t);
    return out;
}

/* ---- split / chunk (pieces are narrows) ----------------------------------------------------- */
int nb_split(const nb_tensor *t, int64_t split_size, int dim, nb_tensor **out, int max_out)
{
    nb__check_live("nb_split", t);
    int d = nb__wrap_dim("nb_split", dim, t->ndim);
    if (t->ndim == 0 || split_size <= 0)
        nb__fail("nb_split: split_size must be positive and the tensor at least 1-D (got %lld, shape %s)",
                 (long long)split_size, NB__SHAPE(t));
    int64_t size = t->shape[d];
    int64_t count = size == 0 ? 1 : (size - 1) / split_size + 1; /* ceil without overflow */
    if (count > max_out)
        nb__fail("nb_split: %lld pieces do not fit the %d output slots", (long long)count, max_out);
    for (int64_t i = 0; i < count; i++) {
        int64_t start = i * split_size, len = size - start < split_size ? size - start : split_size;
        out[i] = nb_narrow(t, d, start, len);
    }
    return (int)count;
}

int nb_chunk(const nb_tensor *t, int chunks, int dim, nb_tensor **out, int max_out)
{
    nb__check_live("nb_chunk", t);
    if (chunks <= 0)
        nb__fail("nb_chunk: chunks must be positive, got %d", chunks);
    int d = nb__wrap_dim("nb_chunk", dim, t->ndim);
    int64_t size = t->ndim ? t->shape[d] : 1;
    if (size == 0) { /* as torch.chunk: `chunks` empty pieces (split would give one) */
        if (chunks > max_out)
            nb__fail("nb_chunk: %d pieces do not fit the %d output slots", chunks, max_out);
        for (int i = 0; i < chunks; i++)
            out[i] = nb_narrow(t, d, 0, 0);
        return chunks;
    }
    int64_t piece = (size - 1) / chunks + 1;
    return nb_split(t, piece, d, out, max_out);
}

/* ---- contiguous / clone / to_dtype ---------------------------------------------------------- */
static void identity_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    (void)n;
    gin[0] = nb__new_ref(g);
}
NB__DEFINE_OP(contiguous, identity_backward);
NB__DEFINE_OP(clone, identity_backward);

nb_tensor *nb_contiguous(const nb_tensor *t)
{
    nb__check_live("nb_contiguous", t);
    if (nb_tensor_is_contiguous(t))
        return nb__new_ref((nb_tensor *)t);
    nb_tensor *out = nb__contiguous_copy(t);
    NB__RECORD(contiguous, out, t);
    return out;
}

nb_tensor *nb_clone(const nb_tensor *t)
{
    nb__check_live("nb_clone", t);
    nb_tensor *out = nb__contiguous_copy(t);
    NB__RECORD(clone, out, t);
    return out;
}

static void to_dtype_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    gin[0] = nb__convert(g, n->inputs[0].dtype);
}
NB__DEFINE_OP(to_dtype, to_dtype_backward);

nb_tensor *nb_to_dtype(const nb_tensor *t, nb_dtype dt)
{
    nb__check_live("nb_to_dtype", t);
    if ((unsigned)dt >= NB_DTYPE_COUNT)
        nb__fail("nb_to_dtype: invalid dtype %d", (int)dt);
    nb_tensor *out = nb__convert(t, dt);
    if (nb_dtype_is_float(dt))
        NB__RECORD(to_dtype, out, t);
    return out;
}
