/* pool.c — nb_max_pool1d/2d (and their _with_indices forms) and nb_avg_pool1d/2d: argument
 * checks (as torch's), the plane kernels of tensor/k_conv.c, node recording, and each backward
 * right above its forwards. A 1-D pool runs as the 2-D one over [1, L] planes with a 1 x k
 * window. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__k_conv.h"
#include "nb_nn.h"

nb_pool_opts nb_pool_opts_default(void) { return (nb_pool_opts){{0, 0}, {0, 0}, {1, 1}, false, true, 0}; }

/* iargs of a pool node: the geometry (input sizes come from the input's edge) */
enum { IA_KH, IA_KW, IA_SH, IA_SW, IA_PH, IA_PW, IA_DH, IA_DW, IA_OH, IA_OW, IA_INCLUDE_PAD, IA_ND, IA_DIVISOR };

/* The kernels' geometry of a pool node and its plane count. */
static nb__conv_geom geom_of(const nb__node *n, int64_t *planes)
{
    const nb__edge *e = &n->inputs[0];
    const int64_t *ia = n->iargs;
    int nd = (int)ia[IA_ND];
    *planes = nb__numel(e->ndim - nd, e->shape);
    return (nb__conv_geom){nd == 2 ? e->shape[e->ndim - 2] : 1, e->shape[e->ndim - 1], ia[IA_KH], ia[IA_KW],
                           ia[IA_SH], ia[IA_SW], ia[IA_PH], ia[IA_PW], ia[IA_DH], ia[IA_DW], ia[IA_OH], ia[IA_OW]};
}

/* Floor division for a possibly negative numerator (positive d). */
static int64_t floor_div(int64_t a, int64_t d) { return a >= 0 ? a / d : -((-a + d - 1) / d); }

/* Output size of one dim, as torch's pooling_output_shape; misuse when the pad exceeds half the
 * kernel or the output is empty. */
static int64_t pool_out(const char *op, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode,
                        const nb_tensor *x)
{
    if (p > k / 2)
        nb__fail("%s: padding %lld must be at most half the kernel size %lld", op, (long long)p, (long long)k);
    int64_t span; /* p <= k/2 and in, k are sizes: only the dilation and stride can overflow */
    if (__builtin_mul_overflow(d, k - 1, &span) || span > INT64_MAX / 4 || s > INT64_MAX / 4)
        nb__fail("%s: dilation %lld or stride %lld overflows the size arithmetic", op, (long long)d, (long long)s);
    int64_t o = floor_div(in + 2 * p - span - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
    if (ceil_mode && o > 0 && (o - 1) * s >= in + p)
        o--;
    if (o < 1)
        nb__fail("%s: input of shape %s is too small: kernel %lld, stride %lld, padding %lld, dilation %lld give "
                 "output size %lld",
                 op, NB__SHAPE(x), (long long)k, (long long)s, (long long)p, (long long)d, (long long)o);
    return o;
}

/* Validates x and the options for a pool of `nd` spatial dims with kernel k[nd], fills iargs, the
 * 2-D geometry and the plane count; returns the output shape's ndim (in `oshape`). */
static int pool_setup(const char *op, int nd, const nb_tensor *x, const int64_t *k, const nb_pool_opts *o,
                      bool is_max, int64_t *ia, nb__conv_geom *g, int64_t *planes, int64_t *oshape)
{
    nb__check_float(op, x);
    if (x->ndim != nd + 1 && x->ndim != nd + 2)
        nb__fail("%s: expected a %d-D or %d-D input ([N, C, %s] or [C, %s]), got shape %s", op, nd + 1, nd + 2,
                 nd == 2 ? "H, W" : "L", nd == 2 ? "H, W" : "L", NB__SHAPE(x));
    for (int i = 0; i < nd; i++) {
        if (k[i] < 1 || o->stride[i] < 0 || o->dilation[i] < 1)
            nb__fail("%s: kernel size %lld and dilation %lld must be >= 1 and stride %lld >= 0 (0: the kernel size)",
                     op, (long long)k[i], (long long)o->dilation[i], (long long)o->stride[i]);
        if (o->padding[i] < 0)
            nb__fail("%s: padding must be >= 0, got %lld", op, (long long)o->padding[i]);
        if (!is_max && o->dilation[i] != 1)
            nb__fail("%s: average pooling has no dilation, got %lld", op, (long long)o->dilation[i]);
    }
    if (o->divisor_override < 0)
        nb__fail("%s: divisor_override must be >= 0 (0: none), got %lld", op, (long long)o->divisor_override);
    if (is_max && o->divisor_override != 0)
        nb__fail("%s: max pooling has no divisor_override, got %lld", op, (long long)o->divisor_override);
    int64_t v[2][5]; /* per 2-D dim (h, w): in, k, stride, pad, dilation */
    for (int i = 0; i < 2; i++) {
        bool real = nd == 2 || i == 1;
        int oi = nd == 2 ? i : 0;
        v[i][0] = real ? x->shape[x->ndim - nd + oi] : 1, v[i][1] = real ? k[oi] : 1;
        v[i][2] = !real ? 1 : o->stride[oi] ? o->stride[oi] : k[oi];
        v[i][3] = real ? o->padding[oi] : 0, v[i][4] = real ? o->dilation[oi] : 1;
        ia[IA_OH + i] = pool_out(op, v[i][0], v[i][1], v[i][2], v[i][3], v[i][4], o->ceil_mode, x);
        ia[IA_KH + i] = v[i][1], ia[IA_SH + i] = v[i][2], ia[IA_PH + i] = v[i][3], ia[IA_DH + i] = v[i][4];
    }
    ia[IA_INCLUDE_PAD] = o->count_include_pad, ia[IA_ND] = nd, ia[IA_DIVISOR] = o->divisor_override;
    *g = (nb__conv_geom){v[0][0], v[1][0], ia[IA_KH], ia[IA_KW], ia[IA_SH], ia[IA_SW], ia[IA_PH], ia[IA_PW],
                         ia[IA_DH], ia[IA_DW], ia[IA_OH], ia[IA_OW]};
    int lead = x->ndim - nd;
    *planes = nb__numel(lead, x->shape);
    memcpy(oshape, x->shape, (size_t)lead * sizeof *oshape);
    if (nd == 2)
        oshape[lead] = g->OH;
    oshape[x->ndim - 1] = g->OW;
    return x->ndim;
}

/* ---- max pooling ---------------------------------------------------------------------------- */
/* saved: 0 the argmax indices (int64, the output's shape, flat within each plane) */
static void max_pool_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    int64_t planes;
    nb__conv_geom geo = geom_of(n, &planes);
    const nb__edge *e = &n->inputs[0];
    nb_tensor *dx = nb__tensor_new(e->dtype, e->shape, e->ndim);
    nb__k_max_pool_backward(e->dtype, &geo, planes, nb_tensor_data(nb__saved(n, 0)), nb_tensor_data(g),
                            nb_tensor_data(dx));
    gin[0] = dx;
}
NB__DEFINE_OP(max_pool1d, max_pool_backward);
NB__DEFINE_OP(max_pool2d, max_pool_backward);

/* The values; the argmax indices in *indices (a new reference) unless indices is NULL, when only
 * the node keeps them. */
static nb_tensor *max_pool_nd(const char *op, int nd, const nb_tensor *x, const int64_t *k, const nb_pool_opts *opts,
                              nb_tensor **indices)
{
    nb_pool_opts o = opts ? *opts : nb_pool_opts_default();
    int64_t ia[NB__NODE_IARGS] = {0}, planes, oshape[NB_MAX_DIMS];
    nb__conv_geom geo;
    int ond = pool_setup(op, nd, x, k, &o, true, ia, &geo, &planes, oshape);
    nb_tensor *y = nb__tensor_new(x->dtype, oshape, ond);
    nb_tensor *idx = indices ? nb__tensor_new(NB_I64, oshape, ond) : NULL; /* the caller's scope owns both */
    int scope = nb_scope_begin();
    if (!idx)
        idx = nb__tensor_new(NB_I64, oshape, ond); /* freed with the scope unless the node keeps it */
    const nb_tensor *xc = nb_tensor_is_contiguous(x) ? x : nb__contiguous_copy(x);
    nb__k_max_pool_forward(x->dtype, &geo, planes, nb_tensor_data(xc), nb_tensor_data(y), nb_tensor_data(idx));
    nb__node *n = nd == 2 ? NB__RECORD(max_pool2d, y, x) : NB__RECORD(max_pool1d, y, x);
    if (n) {
        nb__save(n, idx);
        memcpy(n->iargs, ia, sizeof ia);
    }
    nb_scope_end(scope);
    if (indices)
        *indices = idx;
    return y;
}

nb_tensor *nb_max_pool2d(const nb_tensor *x, int64_t kh, int64_t kw, const nb_pool_opts *opts)
{
    return max_pool_nd("nb_max_pool2d", 2, x, (int64_t[]){kh, kw}, opts, NULL);
}

nb_tensor *nb_max_pool1d(const nb_tensor *x, int64_t k, const nb_pool_opts *opts)
{
    return max_pool_nd("nb_max_pool1d", 1, x, (int64_t[]){k}, opts, NULL);
}

nb_tensor *nb_max_pool2d_with_indices(const nb_tensor *x, int64_t kh, int64_t kw, const nb_pool_opts *opts,
                                      nb_tensor **indices)
{
    return max_pool_nd("nb_max_pool2d_with_indices", 2, x, (int64_t[]){kh, kw}, opts, indices);
}

nb_tensor *nb_max_pool1d_with_indices(const nb_tensor *x, int64_t k, const nb_pool_opts *opts, nb_tensor **indices)
{
    return max_pool_nd("nb_max_pool1d_with_indices", 1, x, (int64_t[]){k}, opts, indices);
}

/* ---- average pooling ------------------------------------------------------------------------ */
/* nothing saved: the geometry (and divisor_override) is all the backward needs */
static void avg_pool_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    int64_t planes;
    nb__conv_geom geo = geom_of(n, &planes);
    const nb__edge *e = &n->inputs[0];
    nb_tensor *dx = nb__tensor_new(e->dtype, e->shape, e->ndim);
    nb__k_avg_pool_backward(e->dtype, &geo, planes, n->iargs[IA_INCLUDE_PAD], n->iargs[IA_DIVISOR],
                            nb_tensor_data(g), nb_tensor_data(dx));
    gin[0] = dx;
}
NB__DEFINE_OP(avg_pool1d, avg_pool_backward);
NB__DEFINE_OP(avg_pool2d, avg_pool_backward);

static nb_tensor *avg_pool_nd(const char *op, int nd, const nb_tensor *x, const int64_t *k, const nb_pool_opts *opts)
{
    nb_pool_opts o = opts ? *opts : nb_pool_opts_default();
    int64_t ia[NB__NODE_IARGS] = {0}, planes, oshape[NB_MAX_DIMS];
    nb__conv_geom geo;
    int ond = pool_setup(op, nd, x, k, &o, false, ia, &geo, &planes, oshape);
    int scope = nb_scope_begin();
    const nb_tensor *xc = nb_tensor_is_contiguous(x) ? x : nb__contiguous_copy(x);
    nb_tensor *y = nb__tensor_new(x->dtype, oshape, ond);
    nb__k_avg_pool_forward(x->dtype, &geo, planes, o.count_include_pad, o.divisor_override, nb_tensor_data(xc),
                           nb_tensor_data(y));
    nb__node *n = nd == 2 ? NB__RECORD(avg_pool2d, y, x) : NB__RECORD(avg_pool1d, y, x);
    if (n)
        memcpy(n->iargs, ia, sizeof ia);
    return nb__scope_return(scope, y);
}

nb_tensor *nb_avg_pool2d(const nb_tensor *x, int64_t kh, int64_t kw, const nb_pool_opts *opts)
{
    return avg_pool_nd("nb_avg_pool2d", 2, x, (int64_t[]){kh, kw}, opts);
}

nb_tensor *nb_avg_pool1d(const nb_tensor *x, int64_t k, const nb_pool_opts *opts)
{
    return avg_pool_nd("nb_avg_pool1d", 1, x, (int64_t[]){k}, opts);
}

/* ---- max unpooling (issue #15) -------------------------------------------------------------- */
/* saved: 0 the indices (int64, x's shape, contiguous); iargs: the spatial rank, the output plane's
 * size */
enum { UA_ND, UA_OUT_PLANE };
static void max_unpool_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    const nb__edge *e = &n->inputs[0];
    int nd = (int)n->iargs[UA_ND];
    int64_t planes = nb__numel(e->ndim - nd, e->shape), in = nb__numel(nd, e->shape + e->ndim - nd);
    nb_tensor *dx = nb__tensor_new(e->dtype, e->shape, e->ndim);
    nb__k_max_unpool_backward(e->dtype, planes, in, n->iargs[UA_OUT_PLANE], nb_tensor_data(nb__saved(n, 0)),
                              nb_tensor_data(g), nb_tensor_data(dx));
    gin[0] = dx;
}
NB__DEFINE_OP(max_unpool1d, max_unpool_backward);
NB__DEFINE_OP(max_unpool2d, max_unpool_backward);

/* Checks x, indices and the geometry; fills the output shape (x's ndim). */
static void unpool_setup(const char *op, int nd, const nb_tensor *x, const nb_tensor *indices, const int64_t *k,
                         const nb_pool_opts *o, const int64_t *output_size, int64_t *oshape)
{
    nb__check_float(op, x);
    if (x->ndim != nd + 1 && x->ndim != nd + 2)
        nb__fail("%s: expected a %d-D or %d-D input ([N, C, %s] or [C, %s]), got shape %s", op, nd + 1, nd + 2,
                 nd == 2 ? "H, W" : "L", nd == 2 ? "H, W" : "L", NB__SHAPE(x));
    if (indices->dtype != NB_I64 || !nb_tensor_same_shape(x, indices))
        nb__fail("%s: indices must be int64 of the input's shape %s, got %s of shape %s", op, NB__SHAPE(x),
                 nb_dtype_name(indices->dtype), NB__SHAPE(indices));
    int lead = x->ndim - nd;
    memcpy(oshape, x->shape, (size_t)lead * sizeof *oshape);
    for (int i = 0; i < nd; i++) {
        int64_t in = x->shape[lead + i], s = o->stride[i] ? o->stride[i] : k[i], p = o->padding[i], def;
        if (k[i] < 1 || o->stride[i] < 0 || p < 0)
            nb__fail("%s: kernel size %lld must be >= 1, stride %lld >= 0 (0: the kernel size) and padding %lld >= 0",
                     op, (long long)k[i], (long long)o->stride[i], (long long)p);
        if (s > INT64_MAX / 4 || p > INT64_MAX / 4 || __builtin_mul_overflow(in - 1, s, &def) ||
            __builtin_add_overflow(def, k[i], &def) || __builtin_sub_overflow(def, 2 * p, &def) ||
            def > INT64_MAX - s)
            nb__fail("%s: stride %lld, padding %lld and kernel size %lld overflow the size arithmetic", op,
                     (long long)s, (long long)p, (long long)k[i]);
        int64_t out = output_size ? output_size[i] : def;
        if (output_size && (out <= def - s || out >= def + s)) /* torch's range */
            nb__fail("%s: output_size %lld (dim %d) must be between %lld and %lld (exclusive)", op, (long long)out,
                     i, (long long)(def - s), (long long)(def + s));
        if (out < 1)
            nb__fail("%s: output size %lld (dim %d) must be >= 1 (input size %lld, kernel %lld, stride %lld, "
                     "padding %lld)",
                     op, (long long)out, i, (long long)in, (long long)k[i], (long long)s, (long long)p);
        oshape[lead + i] = out;
    }
}

static nb_tensor *max_unpool_nd(const char *op, int nd, const nb_tensor *x, const nb_tensor *indices,
                                const int64_t *k, const nb_pool_opts *opts, const int64_t *output_size)
{
    nb_pool_opts o = opts ? *opts : nb_pool_opts_default();
    int64_t oshape[NB_MAX_DIMS];
    unpool_setup(op, nd, x, indices, k, &o, output_size, oshape);
    int lead = x->ndim - nd;
    int64_t planes = nb__numel(lead, x->shape), in = nb__numel(nd, x->shape + lead);
    int64_t out = nb__numel(nd, oshape + lead);
    (void)nb__numel(x->ndim, oshape); /* misuse if the whole output's size overflows */
    int scope = nb_scope_begin();
    const nb_tensor *xc = nb_tensor_is_contiguous(x) ? x : nb__contiguous_copy(x);
    const nb_tensor *ic = nb_tensor_is_contiguous(indices) ? indices : nb__contiguous_copy(indices);
    const int64_t *iv = nb_tensor_data(ic);
    for (int64_t i = 0; i < planes * in; i++)
        if (iv[i] < 0 || iv[i] >= out) {
            long long bad = (long long)iv[i];
            nb_scope_end(scope); /* a misuse handler may longjmp out: leave no scope open */
            nb__fail("%s: index %lld (element %lld of indices) is outside the output plane of %lld elements", op,
                     bad, (long long)i, (long long)out);
        }
    nb_tensor *y = nb__tensor_new(x->dtype, oshape, x->ndim);
    nb__k_max_unpool_forward(x->dtype, planes, in, out, iv, nb_tensor_data(xc), nb_tensor_data(y));
    nb__node *n = nd == 2 ? NB__RECORD(max_unpool2d, y, x) : NB__RECORD(max_unpool1d, y, x);
    if (n) {
        nb__save(n, ic);
        n->iargs[UA_ND] = nd, n->iargs[UA_OUT_PLANE] = out;
    }
    return nb__scope_return(scope, y);
}

nb_tensor *nb_max_unpool2d(const nb_tensor *x, const nb_tensor *indices, int64_t kh, int64_t kw,
                           const nb_pool_opts *opts, const int64_t *output_size)
{
    return max_unpool_nd("nb_max_unpool2d", 2, x, indices, (int64_t[]){kh, kw}, opts, output_size);
}

nb_tensor *nb_max_unpool1d(const nb_tensor *x, const nb_tensor *indices, int64_t k, const nb_pool_opts *opts,
                           const int64_t *output_size)
{
    return max_unpool_nd("nb_max_unpool1d", 1, x, indices, (int64_t[]){k}, opts, output_size);
}
