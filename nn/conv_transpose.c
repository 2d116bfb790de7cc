/* conv_transpose.c — nb_conv_transpose1d / nb_conv_transpose2d: shape checks, the kernels
 * (tensor/k_conv.c: a transposed convolution is the adjoint of a convolution, so its forward is
 * that convolution's input gradient and its input gradient that convolution's forward), node
 * recording, and the backward right above the forwards. A 1-D op runs as the 2-D one with H = 1
 * and a 1 x k kernel. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__k_conv.h"
#include "nb_nn.h"

nb_conv_transpose_opts nb_conv_transpose_opts_default(void)
{
    return (nb_conv_transpose_opts){{1, 1}, {0, 0}, {0, 0}, {1, 1}, 1};
}

/* iargs of a node: the geometry (x and w are saved, contiguous; their shapes give N, the channels,
 * the kernel and x's plane). OH, OW: the output plane. */
enum { IA_SH, IA_SW, IA_PH, IA_PW, IA_DH, IA_DW, IA_OH, IA_OW, IA_GROUPS, IA_ND };

/* The kernels' view: the convolution that maps the output [N, Cout, OH, OW] back to x [N, Cin, H,
 * W] with w [Cin, Cout/groups, kh, kw] (a convolution weight [out, in/groups, ...] of that map). */
static nb__conv_shape convt_shape(int nd, const nb_tensor *x, const nb_tensor *w, const int64_t *ia)
{
    nb__conv_shape s;
    s.N = x->shape[0], s.Cout = x->shape[1], s.groups = ia[IA_GROUPS], s.Cin = w->shape[1] * s.groups;
    s.g.OH = nd == 2 ? x->shape[2] : 1, s.g.OW = x->shape[nd + 1];
    s.g.kh = nd == 2 ? w->shape[2] : 1, s.g.kw = w->shape[nd + 1];
    s.g.sh = ia[IA_SH], s.g.sw = ia[IA_SW], s.g.ph = ia[IA_PH], s.g.pw = ia[IA_PW];
    s.g.dh = ia[IA_DH], s.g.dw = ia[IA_DW], s.g.H = ia[IA_OH], s.g.W = ia[IA_OW];
    return s;
}

/* saved: 0 x, 1 weight (both contiguous); iargs as above. */
static void convt_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *x = nb__saved(n, 0), *w = nb__saved(n, 1);
    nb__conv_shape s = convt_shape((int)n->iargs[IA_ND], x, w, n->iargs);
    nb_tensor *dx = nb__needs_grad(n, 0) ? nb__tensor_new(x->dtype, x->shape, x->ndim) : NULL;
    nb_tensor *dw = nb__needs_grad(n, 1) ? nb__tensor_new(w->dtype, w->shape, w->ndim) : NULL;
    nb_tensor *db = n->n_inputs > 2 && nb__needs_grad(n, 2) ? nb__tensor_new(w->dtype, NB_DIMS(s.Cin)) : NULL;
    nb__k_conv_transpose_backward(x->dtype, &s, nb_tensor_data(x), nb_tensor_data(w), nb_tensor_data(g),
                                  dx ? nb_tensor_data(dx) : NULL, dw ? nb_tensor_data(dw) : NULL,
                                  db ? nb_tensor_data(db) : NULL);
    gin[0] = dx, gin[1] = dw;
    if (n->n_inputs > 2)
        gin[2] = db;
}
NB__DEFINE_OP(conv_transpose1d, convt_backward);
NB__DEFINE_OP(conv_transpose2d, convt_backward);

/* Output size of one spatial dim, (in - 1)*s - 2*p + d*(k - 1) + op + 1, checked; misuse when
 * it is below 1. */
static int64_t convt_out(const char *op, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, int64_t opad,
                         const char *dim)
{
    int64_t out = nb__mul_ck(op, in - 1, s);
    out = nb__sub_ck(op, out, nb__mul_ck(op, 2, p));
    out = nb__add_ck(op, out, nb__mul_ck(op, d, k - 1));
    out = nb__add_ck(op, nb__add_ck(op, out, opad), 1);
    if (out < 1)
        nb__fail("%s: output size %lld along %s is too small (input %lld, kernel %lld, stride %lld, padding %lld, "
                 "dilation %lld, output_padding %lld)",
                 op, (long long)out, dim, (long long)in, (long long)k, (long long)s, (long long)p, (long long)d,
                 (long long)opad);
    return out;
}

/* Validates the arguments and fills the node's iargs (geometry, output size). */
static void convt_check(const char *op, int nd, const nb_tensor *x, const nb_tensor *w, const nb_tensor *b,
                        const nb_conv_transpose_opts *o, int64_t *ia)
{
    nb__check_float(op, x);
    nb__check_same_dtype(op, x, w);
    if (x->ndim != nd + 2 || w->ndim != nd + 2)
        nb__fail("%s: expected input [N, C, %s] and weight [C, Cout/groups, %s] (%d-D), got shapes %s and %s", op,
                 nd == 2 ? "H, W" : "L", nd == 2 ? "kh, kw" : "k", nd + 2, NB__SHAPE(x), NB__SHAPE(w));
    int64_t G = o->groups, Cin = w->shape[0];
    if (G < 1)
        nb__fail("%s: groups must be >= 1, got %lld", op, (long long)G);
    if (Cin % G)
        nb__fail("%s: input channels %lld (weight of shape %s) must be divisible by groups %lld", op, (long long)Cin,
                 NB__SHAPE(w), (long long)G);
    if (x->shape[1] != Cin)
        nb__fail("%s: weight of shape %s expects %lld input channels, got input of shape %s", op, NB__SHAPE(w),
                 (long long)Cin, NB__SHAPE(x));
    int64_t Cout = nb__mul_ck(op, w->shape[1], G);
    if (b) {
        nb__check_same_dtype(op, x, b);
        if (b->ndim != 1 || b->shape[0] != Cout)
            nb__fail("%s: bias of shape %s does not fit weight of shape %s with groups %lld (expected [%lld])", op,
                     NB__SHAPE(b), NB__SHAPE(w), (long long)G, (long long)Cout);
    }
    for (int i = 0; i < nd; i++) {
        if (o->stride[i] < 1 || o->dilation[i] < 1 || o->padding[i] < 0 || o->output_padding[i] < 0)
            nb__fail("%s: stride %lld and dilation %lld must be >= 1, padding %lld and output_padding %lld >= 0 "
                     "(dim %d)",
                     op, (long long)o->stride[i], (long long)o->dilation[i], (long long)o->padding[i],
                     (long long)o->output_padding[i], i);
        if (o->output_padding[i] >= o->stride[i] && o->output_padding[i] >= o->dilation[i])
            nb__fail("%s: output_padding %lld must be smaller than either stride %lld or dilation %lld (dim %d)", op,
                     (long long)o->output_padding[i], (long long)o->stride[i], (long long)o->dilation[i], i);
    }
    /* the 2-D geometry's dims (h, w); a 1-D op's h is a size-1 dim with a 1-wide window */
    int64_t sh[2], dh[2], ph[2], oph[2], in[2], k[2];
    for (int i = 0; i < 2; i++) {
        bool real = nd == 2 || i == 1;
        int oi = nd == 2 ? i : 0;
        sh[i] = real ? o->stride[oi] : 1, dh[i] = real ? o->dilation[oi] : 1, ph[i] = real ? o->padding[oi] : 0;
        oph[i] = real ? o->output_padding[oi] : 0;
        in[i] = real ? x->shape[2 + oi] : 1, k[i] = real ? w->shape[2 + oi] : 1;
    }
    ia[IA_OH] = convt_out(op, in[0], k[0], sh[0], ph[0], dh[0], oph[0], nd == 2 ? "height" : "-");
    ia[IA_OW] = convt_out(op, in[1], k[1], sh[1], ph[1], dh[1], oph[1], nd == 2 ? "width" : "length");
    /* the output, and the unfolded output sample [Cout * kh * kw, H * W] of the backward */
    nb__check_shape(op, 4, (int64_t[]){x->shape[0], Cout, ia[IA_OH], ia[IA_OW]});
    nb__check_shape(op, 5, (int64_t[]){Cout, k[0], k[1], in[0], in[1]});
    ia[IA_SH] = sh[0], ia[IA_SW] = sh[1], ia[IA_PH] = ph[0], ia[IA_PW] = ph[1];
    ia[IA_DH] = dh[0], ia[IA_DW] = dh[1], ia[IA_GROUPS] = G, ia[IA_ND] = nd;
}

static nb_tensor *convt_nd(const char *op, int nd, const nb_tensor *x, const nb_tensor *w, const nb_tensor *b,
                           const nb_conv_transpose_opts *opts)
{
    if (x->ndim == nd + 1 && w->ndim == nd + 2) { /* unbatched: a batch of one, dropped again */
        int scope = nb_scope_begin();
        nb_tensor *y = nb_squeeze(convt_nd(op, nd, nb_unsqueeze(x, 0), w, b, opts), 0);
        return nb__scope_return(scope, y);
    }
    nb_conv_transpose_opts o = opts ? *opts : nb_conv_transpose_opts_default();
    int64_t ia[NB__NODE_IARGS] = {0};
    convt_check(op, nd, x, w, b, &o, ia);
    int scope = nb_scope_begin();
    const nb_tensor *xc = nb_tensor_is_contiguous(x) ? x : nb__contiguous_copy(x);
    const nb_tensor *wc = nb_tensor_is_contiguous(w) ? w : nb__contiguous_copy(w);
    const nb_tensor *bc = !b || nb_tensor_is_contiguous(b) ? b : nb__contiguous_copy(b);
    nb__conv_shape s = convt_shape(nd, xc, wc, ia);
    int64_t shape[4] = {s.N, s.Cin, nd == 2 ? s.g.H : s.g.W, s.g.W};
    nb_tensor *y = nb__tensor_new(x->dtype, shape, nd + 2);
    nb__k_conv_transpose_forward(x->dtype, &s, nb_tensor_data(xc), nb_tensor_data(wc),
                                 bc ? nb_tensor_data(bc) : NULL, nb_tensor_data(y));
    nb__node *n = nd == 2 ? (b ? NB__RECORD(conv_transpose2d, y, x, w, b) : NB__RECORD(conv_transpose2d, y, x, w))
                          : (b ? NB__RECORD(conv_transpose1d, y, x, w, b) : NB__RECORD(conv_transpose1d, y, x, w));
    if (n) {
        nb__save(n, xc);
        nb__save(n, wc);
        memcpy(n->iargs, ia, sizeof ia);
    }
    return nb__scope_return(scope, y);
}

nb_tensor *nb_conv_transpose2d(const nb_tensor *x, const nb_tensor *weight, const nb_tensor *bias,
                               const nb_conv_transpose_opts *opts)
{
    return convt_nd("nb_conv_transpose2d", 2, x, weight, bias, opts);
}

nb_tensor *nb_conv_transpose1d(const nb_tensor *x, const nb_tensor *weight, const nb_tensor *bias,
                               const nb_conv_transpose_opts *opts)
{
    return convt_nd("nb_conv_transpose1d", 1, x, weight, bias, opts);
}
