/* conv.c — nb_conv1d / nb_conv2d: shape checks, the im2col + GEMM kernels (tensor/k_conv.c), node
 * recording, and the backward right above the forwards. A 1-D convolution runs as the 2-D one
 * with H = 1 and a 1 x k kernel. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__k_conv.h"
#include "nb_nn.h"

nb_conv_opts nb_conv_opts_default(void) { return (nb_conv_opts){{1, 1}, {0, 0}, {1, 1}, 1, false}; }

/* iargs of a conv node: the nb__conv_shape's geometry (x and w are saved, contiguous; their
 * shapes give N, Cin, Cout, kernel and input sizes). */
enum { IA_SH, IA_SW, IA_PH, IA_PW, IA_DH, IA_DW, IA_OH, IA_OW, IA_GROUPS, IA_ND };

/* The kernels' view of a conv of `nd` spatial dims (x, w as saved or given, any layout). */
static nb__conv_shape conv_shape(int nd, const nb_tensor *x, const nb_tensor *w, const int64_t *ia)
{
    nb__conv_shape s;
    s.N = x->shape[0], s.Cin = x->shape[1], s.Cout = w->shape[0], s.groups = ia[IA_GROUPS];
    s.g.H = nd == 2 ? x->shape[2] : 1, s.g.W = x->shape[nd + 1];
    s.g.kh = nd == 2 ? w->shape[2] : 1, s.g.kw = w->shape[nd + 1];
    s.g.sh = ia[IA_SH], s.g.sw = ia[IA_SW], s.g.ph = ia[IA_PH], s.g.pw = ia[IA_PW];
    s.g.dh = ia[IA_DH], s.g.dw = ia[IA_DW], s.g.OH = ia[IA_OH], s.g.OW = ia[IA_OW];
    return s;
}

/* saved: 0 x, 1 weight (both contiguous); iargs as above. */
static void conv_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *w = nb__saved(n, 1);
    nb__conv_shape s = conv_shape((int)n->iargs[IA_ND], x, w, n->iargs);
    nb_tensor *dx = nb__needs_grad(n, 0) ? nb__tensor_new(x->dtype, x->shape, x->ndim) : NULL;
    nb_tensor *dw = nb__needs_grad(n, 1) ? nb__tensor_new(w->dtype, w->shape, w->ndim) : NULL;
    nb_tensor *db = n->n_inputs > 2 && nb__needs_grad(n, 2) ? nb__tensor_new(w->dtype, NB_DIMS(s.Cout)) : NULL;
    nb__k_conv_backward(x->dtype, &s, nb_tensor_data(x), nb_tensor_data(w), nb_tensor_data(g),
                        dx ? nb_tensor_data(dx) : NULL, dw ? nb_tensor_data(dw) : NULL,
                        db ? nb_tensor_data(db) : NULL);
    gin[0] = dx, gin[1] = dw;
    if (n->n_inputs > 2)
        gin[2] = db;
}
NB__DEFINE_OP(conv1d, conv_backward);
NB__DEFINE_OP(conv2d, conv_backward);

/* Output size of one spatial dim; misuse when the dilated kernel exceeds the padded input. */
static int64_t conv_out(const char *op, int64_t in, int64_t k, int64_t s, int64_t plo, int64_t phi, int64_t d,
                        const char *dim)
{
    int64_t span, padded;
    if (__builtin_mul_overflow(d, k - 1, &span) || __builtin_add_overflow(span, 1, &span) ||
        __builtin_add_overflow(in, plo, &padded) || __builtin_add_overflow(padded, phi, &padded))
        nb__fail("%s: dilation %lld or padding %lld + %lld along %s overflows the size arithmetic", op, (long long)d,
                 (long long)plo, (long long)phi, dim);
    if (span > padded)
        nb__fail("%s: kernel size %lld (dilated to %lld) along %s exceeds the padded input size %lld "
                 "(%lld + padding %lld + %lld)",
                 op, (long long)k, (long long)span, dim, (long long)padded, (long long)in, (long long)plo,
                 (long long)phi);
    return (padded - span) / s + 1;
}

/* Validates the arguments and fills the node's iargs (geometry, output size), and the padding
 * after the data, phi (differs from before only with padding_same). */
static void conv_check(const char *op, int nd, const nb_tensor *x, const nb_tensor *w, const nb_tensor *b,
                       const nb_conv_opts *o, int64_t *ia)
{
    nb__check_float(op, x);
    nb__check_same_dtype(op, x, w);
    if (x->ndim != nd + 2 || w->ndim != nd + 2)
        nb__fail("%s: expected input [N, C, %s] and weight [Cout, C/groups, %s] (%d-D), got shapes %s and %s", op,
                 nd == 2 ? "H, W" : "L", nd == 2 ? "kh, kw" : "k", nd + 2, NB__SHAPE(x), NB__SHAPE(w));
    int64_t G = o->groups, Cin = x->shape[1], Cout = w->shape[0];
    if (G < 1)
        nb__fail("%s: groups must be >= 1, got %lld", op, (long long)G);
    if (Cin % G || Cout % G)
        nb__fail("%s: channels must be divisible by groups: in %lld, out %lld, groups %lld", op, (long long)Cin,
                 (long long)Cout, (long long)G);
    if (w->shape[1] * G != Cin)
        nb__fail("%s: weight of shape %s with groups %lld expects %lld input channels, got input of shape %s", op,
                 NB__SHAPE(w), (long long)G, (long long)(w->shape[1] * G), NB__SHAPE(x));
    if (b) {
        nb__check_same_dtype(op, x, b);
        if (b->ndim != 1 || b->shape[0] != Cout)
            nb__fail("%s: bias of shape %s does not fit weight of shape %s (expected [%lld])", op, NB__SHAPE(b),
                     NB__SHAPE(w), (long long)Cout);
    }
    for (int i = 0; i < nd; i++) {
        if (o->stride[i] < 1 || o->dilation[i] < 1 || o->padding[i] < 0)
            nb__fail("%s: stride %lld and dilation %lld must be >= 1 and padding %lld >= 0 (dim %d)", op,
                     (long long)o->stride[i], (long long)o->dilation[i], (long long)o->padding[i], i);
        if (o->padding_same && o->stride[i] != 1)
            nb__fail("%s: padding_same needs stride 1, got stride %lld (dim %d)", op, (long long)o->stride[i], i);
    }
    /* the 2-D geometry's dims (h, w); a 1-D op's h is a size-1 dim with a 1-wide window */
    int64_t sh[2], dh[2], ph[2], phi[2], in[2], k[2];
    for (int i = 0; i < 2; i++) {
        bool real = nd == 2 || i == 1;
        int oi = nd == 2 ? i : 0;
        sh[i] = real ? o->stride[oi] : 1, dh[i] = real ? o->dilation[oi] : 1, ph[i] = real ? o->padding[oi] : 0;
        in[i] = real ? x->shape[2 + oi] : 1, k[i] = real ? w->shape[2 + oi] : 1;
        phi[i] = ph[i];
        if (o->padding_same) {
            int64_t total = dh[i] * (k[i] - 1);
            ph[i] = total / 2, phi[i] = total - ph[i];
        }
    }
    ia[IA_OH] = conv_out(op, in[0], k[0], sh[0], ph[0], phi[0], dh[0], nd == 2 ? "height" : "-");
    ia[IA_OW] = conv_out(op, in[1], k[1], sh[1], ph[1], phi[1], dh[1], nd == 2 ? "width" : "length");
    /* the unfolded sample [Cin * kh * kw, OH * OW] must be addressable */
    nb__check_shape(op, 5, (int64_t[]){Cin, k[0], k[1], ia[IA_OH], ia[IA_OW]});
    ia[IA_SH] = sh[0], ia[IA_SW] = sh[1], ia[IA_PH] = ph[0], ia[IA_PW] = ph[1];
    ia[IA_DH] = dh[0], ia[IA_DW] = dh[1], ia[IA_GROUPS] = G, ia[IA_ND] = nd;
}

static nb_tensor *conv_nd(const char *op, int nd, const nb_tensor *x, const nb_tensor *w, const nb_tensor *b,
                          const nb_conv_opts *opts)
{
    if (x->ndim == nd + 1 && w->ndim == nd + 2) { /* unbatched: a batch of one, dropped again */
        int scope = nb_scope_begin();
        nb_tensor *y = nb_squeeze(conv_nd(op, nd, nb_unsqueeze(x, 0), w, b, opts), 0);
        return nb__scope_return(scope, y);
    }
    nb_conv_opts o = opts ? *opts : nb_conv_opts_default();
    int64_t ia[NB__NODE_IARGS] = {0};
    conv_check(op, nd, x, w, b, &o, ia);
    int scope = nb_scope_begin();
    const nb_tensor *xc = nb_tensor_is_contiguous(x) ? x : nb__contiguous_copy(x);
    const nb_tensor *wc = nb_tensor_is_contiguous(w) ? w : nb__contiguous_copy(w);
    const nb_tensor *bc = !b || nb_tensor_is_contiguous(b) ? b : nb__contiguous_copy(b);
    nb__conv_shape s = conv_shape(nd, xc, wc, ia);
    int64_t shape[4] = {s.N, s.Cout, nd == 2 ? s.g.OH : s.g.OW, s.g.OW};
    nb_tensor *y = nb__tensor_new(x->dtype, shape, nd + 2);
    nb__k_conv_forward(x->dtype, &s, nb_tensor_data(xc), nb_tensor_data(wc), bc ? nb_tensor_data(bc) : NULL,
                       nb_tensor_data(y));
    nb__node *n = nd == 2 ? (b ? NB__RECORD(conv2d, y, x, w, b) : NB__RECORD(conv2d, y, x, w))
                          : (b ? NB__RECORD(conv1d, y, x, w, b) : NB__RECORD(conv1d, y, x, w));
    if (n) {
        nb__save(n, xc);
        nb__save(n, wc);
        memcpy(n->iargs, ia, sizeof ia);
    }
    return nb__scope_return(scope, y);
}

nb_tensor *nb_conv2d(const nb_tensor *x, const nb_tensor *weight, const nb_tensor *bias, const nb_conv_opts *opts)
{
    return conv_nd("nb_conv2d", 2, x, weight, bias, opts);
}

nb_tensor *nb_conv1d(const nb_tensor *x, const nb_tensor *weight, const nb_tensor *bias, const nb_conv_opts *opts)
{
    return conv_nd("nb_conv1d", 1, x, weight, bias, opts);
}
