/* ops_index.c — indexing, joining, masks and sampling: index_select, embedding, gather,
 * scatter_add, cat, stack, tril/triu (differentiable) and multinomial (not). Each op checks its
 * arguments (before opening its scope, so a misuse leaves no scope behind), runs its kernel
 * (tensor/k_index.c), records its node, and has its backward right below. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__k_index.h"

#include <math.h>

/* ---- helpers -------------------------------------------------------------------------------- */
static nb_tensor *zeros_of_input(const nb__node *n, int i)
{
    return nb_zeros(n->inputs[i].shape, n->inputs[i].ndim, n->inputs[i].dtype);
}

/* g as a contiguous tensor (the engine passes it contiguous; this only guards the contract). */
static nb_tensor *contiguous_grad(nb_tensor *g)
{
    return nb_tensor_is_contiguous(g) ? g : nb__contiguous_copy(g);
}

/* A view of t with dim d restricted to [start, start + len). */
static nb_tensor *narrow_view(const nb_tensor *t, int d, int64_t start, int64_t len)
{
    int64_t sh[NB_MAX_DIMS];
    memcpy(sh, t->shape, sizeof sh);
    sh[d] = len;
    return nb__tensor_view(t, t->ndim, sh, t->strides, t->offset + (len ? start * t->strides[d] : 0));
}

/* A view of t at index i of dim d, the dim removed. */
static nb_tensor *select_view(const nb_tensor *t, int d, int64_t i)
{
    int64_t sh[NB_MAX_DIMS], st[NB_MAX_DIMS];
    int m = 0;
    for (int k = 0; k < t->ndim; k++)
        if (k != d)
            sh[m] = t->shape[k], st[m++] = t->strides[k];
    return nb__tensor_view(t, m, sh, st, t->offset + i * t->strides[d]);
}

static const int64_t *index_data(const nb_tensor *idx) { return nb_tensor_data(idx); }

/* ---- index_select --------------------------------------------------------------------------- */
/* out[..., j, ...] = t[..., index[j], ...]  ⇒  dt = zeros, then dt[..., index[j], ...] += g[..., j, ...] */
static void index_select_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *idx = nb__saved(n, 0), *z = zeros_of_input(n, 0);
    g = contiguous_grad(g);
    if (z->ndim == 0) { /* a 0-dim input is a [1] tensor picked once */
        gin[0] = nb__new_ref(g);
        return;
    }
    nb__k_index_add(z, (int)n->iargs[0], index_data(idx), nb_tensor_numel(idx), g);
    gin[0] = z;
}
NB__DEFINE_OP(index_select, index_select_backward);

nb_tensor *nb_index_select(const nb_tensor *t, int dim, const nb_tensor *index)
{
    int d = nb__wrap_dim("nb_index_select", dim, t->ndim);
    if (index->ndim > 1)
        nb__fail("nb_index_select: index must be 0-dim or 1-D, got shape %s", NB__SHAPE(index));
    int64_t size = t->ndim ? t->shape[d] : 1, nidx = nb_tensor_numel(index);
    nb__k_index_check("nb_index_select", index, d, size);
    if (t->ndim == 0 && nidx != 1)
        nb__fail("nb_index_select: a 0-dim input takes an index of one element, got shape %s",
                 NB__SHAPE(index));
    int scope = nb_scope_begin();
    nb_tensor *idx = nb__k_index_i64(index), *out;
    if (t->ndim == 0) {
        out = nb__contiguous_copy(t);
    } else {
        int64_t sh[NB_MAX_DIMS];
        memcpy(sh, t->shape, sizeof sh);
        sh[d] = nidx;
        out = nb__tensor_new(t->dtype, sh, t->ndim);
        nb__k_index_select(out, t, d, index_data(idx), nidx);
    }
    nb__node *n = NB__RECORD(index_select, out, t);
    if (n) {
        nb__save(n, idx);
        n->iargs[0] = d;
    }
    return nb__scope_return(scope, out);
}

/* ---- embedding ------------------------------------------------------------------------------ */
/* out[s, :] = weight[indices[s], :]  ⇒  dweight = zeros [V, C], then dweight[indices[s], :] += g[s, :]
 * over the token positions s in order (for each element of dweight the sum runs in ascending s,
 * whatever the thread count). */
static void embedding_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *idx = nb__saved(n, 0), *z = zeros_of_input(n, 0);
    g = contiguous_grad(g);
    int64_t ntok = nb_tensor_numel(idx), c = z->shape[1];
    nb_tensor *g2 = nb__tensor_view(g, 2, (const int64_t[]){ntok, c}, (const int64_t[]){c, 1}, g->offset);
    nb__k_index_add(z, 0, index_data(idx), ntok, g2);
    gin[0] = z;
}
/* The weight already has a gradient the engine owns (a tied weight: GPT's lm_head runs first in
 * backward): add the rows into it instead of building a zero [V, C] gradient and adding that. */
static void embedding_accumulate(nb__node *n, nb_tensor *g, nb_tensor *acc)
{
    nb_tensor *idx = nb__saved(n, 0);
    g = contiguous_grad(g);
    int64_t ntok = nb_tensor_numel(idx), c = acc->shape[1];
    nb_tensor *g2 = nb__tensor_view(g, 2, (const int64_t[]){ntok, c}, (const int64_t[]){c, 1}, g->offset);
    nb__k_index_add(acc, 0, index_data(idx), ntok, g2);
}
NB__DEFINE_OP_ACC(embedding, embedding_backward, embedding_accumulate);

nb_tensor *nb_embedding(const nb_tensor *weight, const nb_tensor *indices)
{
    if (weight->ndim != 2)
        nb__fail("nb_embedding: weight must be 2-D [V, C], got shape %s", NB__SHAPE(weight));
    if (indices->ndim + 1 > NB_MAX_DIMS)
        nb__fail("nb_embedding: indices of shape %s leave no room for the embedding dim (max %d dims)",
                 NB__SHAPE(indices), NB_MAX_DIMS);
    nb__k_index_check("nb_embedding", indices, 0, weight->shape[0]);
    int scope = nb_scope_begin();
    nb_tensor *idx = nb__k_index_i64(indices);
    int64_t ntok = nb_tensor_numel(idx), c = weight->shape[1], sh[NB_MAX_DIMS];
    int nd = indices->ndim;
    memcpy(sh, indices->shape, (size_t)nd * sizeof *sh);
    sh[nd] = c;
    nb_tensor *out = nb__tensor_new(weight->dtype, sh, nd + 1);
    /* rows of a contiguous weight are single memcpys (the iterator coalesces the C run) */
    nb_tensor *out2 = nb__tensor_view(out, 2, (const int64_t[]){ntok, c}, (const int64_t[]){c, 1}, 0);
    nb__k_index_select(out2, weight, 0, index_data(idx), ntok);
    nb__node *n = NB__RECORD(embedding, out, weight);
    if (n)
        nb__save(n, idx);
    return nb__scope_return(scope, out);
}

/* ---- gather / scatter_add ------------------------------------------------------------------- */
/* out[p] = t[p with coord d := index[p]]  ⇒  dt = scatter_add(zeros, d, index, g) */
static void gather_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *z = zeros_of_input(n, 0);
    nb__k_scatter_add(z, (int)n->iargs[0], nb__saved(n, 0), g);
    gin[0] = z;
}
NB__DEFINE_OP(gather, gather_backward);

/* Misuse unless index has t's ndim and index->shape[k] <= t->shape[k] for every k (k != d when
 * skip_d). */
static void check_index_fits(const char *op, const nb_tensor *index, const char *what, const nb_tensor *t, int d,
                             bool skip_d)
{
    if (index->ndim != t->ndim)
        nb__fail("%s: index of shape %s must have as many dims as %s of shape %s", op, NB__SHAPE(index), what,
                 NB__SHAPE(t));
    for (int k = 0; k < t->ndim; k++)
        if ((k != d || !skip_d) && index->shape[k] > t->shape[k])
            nb__fail("%s: index of shape %s exceeds %s of shape %s at dim %d (%lld > %lld)", op,
                     NB__SHAPE(index), what, NB__SHAPE(t), k, (long long)index->shape[k],
                     (long long)t->shape[k]);
}

nb_tensor *nb_gather(const nb_tensor *t, int dim, const nb_tensor *index)
{
    int d = nb__wrap_dim("nb_gather", dim, t->ndim);
    check_index_fits("nb_gather", index, "input", t, d, true);
    nb__k_index_check("nb_gather", index, d, t->ndim ? t->shape[d] : 1);
    int scope = nb_scope_begin();
    nb_tensor *idx = nb__k_index_i64(index);
    nb_tensor *out = nb__tensor_new(t->dtype, index->shape, index->ndim);
    nb__k_gather(out, t, d, idx);
    nb__node *n = NB__RECORD(gather, out, t);
    if (n) {
        nb__save(n, idx);
        n->iargs[0] = d;
    }
    return nb__scope_return(scope, out);
}

/* out = t + scatter(src)  ⇒  dt = g;  dsrc[p] = g[p with coord d := index[p]] on index's
 * positions, 0 on the rest of src */
static void scatter_add_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *idx = nb__saved(n, 0);
    if (nb__needs_grad(n, 0))
        gin[0] = nb__new_ref(g);
    if (nb__needs_grad(n, 1)) {
        nb_tensor *z = zeros_of_input(n, 1);
        nb_tensor *part = nb__tensor_view(z, idx->ndim, idx->shape, z->strides, 0);
        nb__k_gather(part, g, (int)n->iargs[0], idx);
        gin[1] = z;
    }
}
NB__DEFINE_OP(scatter_add, scatter_add_backward);

nb_tensor *nb_scatter_add(const nb_tensor *t, int dim, const nb_tensor *index, const nb_tensor *src)
{
    int d = nb__wrap_dim("nb_scatter_add", dim, t->ndim);
    nb__check_same_dtype("nb_scatter_add", t, src);
    if (t->dtype == NB_BOOL)
        nb__fail("nb_scatter_add: bool tensors cannot be added");
    check_index_fits("nb_scatter_add", index, "input", t, d, true);
    check_index_fits("nb_scatter_add", index, "src", src, d, false);
    nb__k_index_check("nb_scatter_add", index, d, t->ndim ? t->shape[d] : 1);
    int scope = nb_scope_begin();
    nb_tensor *idx = nb__k_index_i64(index);
    nb_tensor *out = nb__contiguous_copy(t);
    nb__k_scatter_add(out, d, idx, src);
    nb__node *n = NB__RECORD(scatter_add, out, t, src);
    if (n) {
        nb__save(n, idx);
        n->iargs[0] = d;
    }
    return nb__scope_return(scope, out);
}

/* ---- cat ------------------------------------------------------------------------------------ */
/* A 1-D tensor of shape [0] is skipped by cat whatever the other shapes (legacy torch rule). */
static bool cat_legacy_empty(int ndim, const int64_t *shape) { return ndim == 1 && shape[0] == 0; }

/* out = [t0; t1; ...] along d  ⇒  dti = g[off_i : off_i + len_i] along d */
static void cat_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    int d = (int)n->iargs[0];
    int64_t off = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        const nb__edge *e = &n->inputs[i];
        bool legacy = cat_legacy_empty(e->ndim, e->shape);
        int64_t len = legacy ? 0 : e->shape[d];
        if (nb__needs_grad(n, i))
            gin[i] = legacy ? zeros_of_input(n, i) : nb__contiguous_copy(narrow_view(g, d, off, len));
        off += len;
    }
}
NB__DEFINE_OP(cat, cat_backward);

nb_tensor *nb_cat(nb_tensor *const *ts, int n, int dim)
{
    if (n <= 0)
        nb__fail("nb_cat: expected at least one tensor, got %d", n);
    int ref = 0; /* the first tensor that is not a legacy [0] */
    while (ref < n - 1 && cat_legacy_empty(ts[ref]->ndim, ts[ref]->shape))
        ref++;
    const nb_tensor *r = ts[ref];
    for (int i = 0; i < n; i++)
        if (ts[i]->ndim == 0)
            nb__fail("nb_cat: zero-dimensional tensor (at position %d) cannot be concatenated", i);
    int d = nb__wrap_dim("nb_cat", dim, r->ndim);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const nb_tensor *t = ts[i];
        if (t->dtype != r->dtype)
            nb__fail("nb_cat: dtype mismatch (%s at position %d and %s at position %d)", nb_dtype_name(r->dtype),
                     ref, nb_dtype_name(t->dtype), i);
        if (cat_legacy_empty(t->ndim, t->shape) && r->ndim != 1)
            continue;
        if (t->ndim != r->ndim)
            nb__fail("nb_cat: tensor %d of shape %s and tensor %d of shape %s have different numbers of dims", ref,
                     NB__SHAPE(r), i, NB__SHAPE(t));
        for (int k = 0; k < r->ndim; k++)
            if (k != d && t->shape[k] != r->shape[k])
                nb__fail("nb_cat: shapes %s (tensor %d) and %s (tensor %d) must match outside dim %d "
                         "(dim %d: %lld vs %lld)",
                         NB__SHAPE(r), ref, NB__SHAPE(t), i, d, k, (long long)r->shape[k], (long long)t->shape[k]);
        total += t->shape[d];
    }
    int scope = nb_scope_begin();
    int64_t sh[NB_MAX_DIMS];
    memcpy(sh, r->shape, sizeof sh);
    sh[d] = total;
    nb_tensor *out = nb__tensor_new(r->dtype, sh, r->ndim);
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        const nb_tensor *t = ts[i];
        if (cat_legacy_empty(t->ndim, t->shape) && r->ndim != 1)
            continue;
        if (t->shape[d] > 0 && nb_tensor_numel(t) > 0)
            nb__copy_into(narrow_view(out, d, off, t->shape[d]), t);
        off += t->shape[d];
    }
    nb__node *node = nb__record(&nb__op_cat, out, n, (const nb_tensor *const *)ts);
    if (node)
        node->iargs[0] = d;
    return nb__scope_return(scope, out);
}

/* ---- stack ---------------------------------------------------------------------------------- */
/* out[..., i, ...] = ti  ⇒  dti = g[..., i, ...] */
static void stack_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    int d = (int)n->iargs[0];
    for (int i = 0; i < n->n_inputs; i++)
        if (nb__needs_grad(n, i))
            gin[i] = nb__contiguous_copy(select_view(g, d, i));
}
NB__DEFINE_OP(stack, stack_backward);

nb_tensor *nb_stack(nb_tensor *const *ts, int n, int dim)
{
    if (n <= 0)
        nb__fail("nb_stack: expected at least one tensor, got %d", n);
    const nb_tensor *r = ts[0];
    nb__check_live("nb_stack", r);
    if (r->ndim + 1 > NB_MAX_DIMS)
        nb__fail("nb_stack: tensors of shape %s cannot gain a dim (max %d dims)", NB__SHAPE(r), NB_MAX_DIMS);
    int d = nb__wrap_dim("nb_stack", dim, r->ndim + 1);
    for (int i = 1; i < n; i++) {
        nb__check_live("nb_stack", ts[i]);
        if (ts[i]->dtype != r->dtype) /* any dtype: stacking moves bits (storage-only ones too) */
            nb__fail("nb_stack: dtype mismatch (%s and %s)", nb_dtype_name(r->dtype), nb_dtype_name(ts[i]->dtype));
        if (!nb_tensor_same_shape(r, ts[i]))
            nb__fail("nb_stack: tensor %d of shape %s differs from tensor 0 of shape %s", i, NB__SHAPE(ts[i]),
                     NB__SHAPE(r));
    }
    int scope = nb_scope_begin();
    int64_t sh[NB_MAX_DIMS];
    for (int k = 0, m = 0; k <= r->ndim; k++)
        sh[k] = k == d ? n : r->shape[m++];
    nb_tensor *out = nb__tensor_new(r->dtype, sh, r->ndim + 1);
    if (nb_tensor_numel(out) > 0)
        for (int i = 0; i < n; i++)
            nb__copy_into(select_view(out, d, i), ts[i]);
    nb__node *node = nb__record(&nb__op_stack, out, n, (const nb_tensor *const *)ts);
    if (node)
        node->iargs[0] = d;
    return nb__scope_return(scope, out);
}

/* ---- tril / triu ---------------------------------------------------------------------------- */
static nb_tensor *triangle(const nb__op *op, const nb_tensor *t, int64_t k, bool upper)
{
    if (t->ndim < 2)
        nb__fail("%s: expected a tensor of at least 2 dims, got shape %s", op->name, NB__SHAPE(t));
    nb_tensor *out = nb__tensor_new(t->dtype, t->shape, t->ndim);
    nb__k_triangle(out, t, k, upper);
    nb__node *n = nb__record(op, out, 1, &t);
    if (n)
        n->iargs[0] = k;
    return out;
}

/* the mask is linear  ⇒  dt = tril(g, k) / triu(g, k) */
static void tril_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    gin[0] = nb__tensor_new(g->dtype, g->shape, g->ndim);
    nb__k_triangle(gin[0], g, n->iargs[0], false);
}
NB__DEFINE_OP(tril, tril_backward);

static void triu_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    gin[0] = nb__tensor_new(g->dtype, g->shape, g->ndim);
    nb__k_triangle(gin[0], g, n->iargs[0], true);
}
NB__DEFINE_OP(triu, triu_backward);

nb_tensor *nb_tril(const nb_tensor *t, int64_t k) { return triangle(&nb__op_tril, t, k, false); }
nb_tensor *nb_triu(const nb_tensor *t, int64_t k) { return triangle(&nb__op_triu, t, k, true); }

/* ---- multinomial (not differentiable) -------------------------------------------------------- */
nb_tensor *nb_multinomial(const nb_tensor *probs, int64_t num_samples, bool replacement, nb_generator *gen)
{
    nb__check_float("nb_multinomial", probs);
    if (probs->ndim != 1 && probs->ndim != 2)
        nb__fail("nb_multinomial: probs must be 1-D or 2-D, got shape %s", NB__SHAPE(probs));
    if (num_samples <= 0)
        nb__fail("nb_multinomial: num_samples must be positive, got %lld", (long long)num_samples);
    int64_t rows = probs->ndim == 2 ? probs->shape[0] : 1, n = probs->shape[probs->ndim - 1];
    if (!replacement && num_samples > n)
        nb__fail("nb_multinomial: cannot draw %lld samples without replacement from %lld categories",
                 (long long)num_samples, (long long)n);
    int scope = nb_scope_begin();
    nb_tensor *w = nb__convert(probs, NB_F64); /* contiguous rows x n doubles */
    const double *wd = nb_tensor_data(w);
    for (int64_t r = 0; r < rows; r++) {
        double sum = 0;
        int64_t positive = 0;
        for (int64_t i = 0; i < n; i++) {
            double v = wd[r * n + i];
            if (!(v >= 0) || isinf(v)) {
                nb_scope_end(scope);
                nb__fail("nb_multinomial: weight %g at row %lld, category %lld is negative, NaN or infinite", v,
                         (long long)r, (long long)i);
            }
            sum += v;
            positive += v > 0;
        }
        if (!(sum > 0) || isinf(sum)) {
            nb_scope_end(scope);
            nb__fail("nb_multinomial: row %lld of probs has no positive weight (or its sum overflows)",
                     (long long)r);
        }
        if (!replacement && positive < num_samples) {
            nb_scope_end(scope);
            nb__fail("nb_multinomial: row %lld has %lld categories of positive weight, too few to draw %lld "
                     "samples without replacement",
                     (long long)r, (long long)positive, (long long)num_samples);
        }
    }
    int64_t sh[2] = {rows, num_samples};
    nb_tensor *out = probs->ndim == 2 ? nb__tensor_new(NB_I64, sh, 2) : nb__tensor_new(NB_I64, &sh[1], 1);
    nb__k_multinomial(nb_tensor_data(out), wd, rows, n, num_samples, replacement,
                      gen ? gen : nb_default_generator());
    return nb__scope_return(scope, out);
}
