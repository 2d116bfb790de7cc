/* interp.c — nb_interpolate (torch.nn.functional.interpolate: nearest 1-D/2-D, linear 1-D,
 * bilinear 2-D) and the Upsample module: argument checks and output sizes as torch 1.13's, the
 * plane kernels of tensor/k_interp.c, node recording, and the backward right above the forward. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__k_interp.h"
#include "nb__module.h"
#include "nb_nn.h"

#include <math.h>

nb_interp_opts nb_interp_opts_default(void)
{
    return (nb_interp_opts){NB_INTERP_NEAREST, {0, 0}, {0, 0}, false, false};
}

static const char *mode_name(nb_interp_mode m)
{
    return m == NB_INTERP_NEAREST ? "nearest" : m == NB_INTERP_LINEAR ? "linear" : "bilinear";
}

/* The spatial rank of a mode: 2 for bilinear, 1 for linear, 0 for nearest (either). Misuse for an
 * unknown mode. */
static int mode_rank(const char *op, nb_interp_mode m)
{
    if (m != NB_INTERP_NEAREST && m != NB_INTERP_LINEAR && m != NB_INTERP_BILINEAR)
        nb__fail("%s: unknown mode %d (NB_INTERP_NEAREST, NB_INTERP_LINEAR or NB_INTERP_BILINEAR)", op, (int)m);
    return m == NB_INTERP_BILINEAR ? 2 : m == NB_INTERP_LINEAR ? 1 : 0;
}

/* The checks that need no input: mode, align_corners, exactly one of size and scale, their values
 * over the first nd dims (nd 0: the mode's rank, or either for nearest), the unused entries 0.
 * Shared with nb_upsample_new. */
static void check_opts(const char *op, const nb_interp_opts *o, int nd)
{
    if (!o)
        nb__fail("%s: opts must not be NULL (set a size or scale factors)", op);
    int rank = mode_rank(op, o->mode);
    if (o->align_corners && !rank)
        nb__fail("%s: align_corners can only be set with the interpolating modes linear and bilinear, not %s", op,
                 mode_name(o->mode));
    nd = nd ? nd : rank ? rank : (o->size[1] || o->scale[1]) ? 2 : 1;
    bool has_size = o->size[0] || (nd == 2 && o->size[1]), has_scale = o->scale[0] || (nd == 2 && o->scale[1]);
    if (has_size == has_scale)
        nb__fail("%s: %s (size %lld x %lld, scale %g x %g)", op,
                 has_size ? "only one of size or scale factor should be given" : "either size or scale factor "
                 "should be given", (long long)o->size[0], (long long)o->size[1], o->scale[0], o->scale[1]);
    if (nd == 1 && (o->size[1] || o->scale[1]))
        nb__fail("%s: a 1-D interpolation uses size[0] / scale[0] only, got size[1] %lld, scale[1] %g", op,
                 (long long)o->size[1], o->scale[1]);
    for (int i = 0; i < nd; i++) {
        if (has_size && o->size[i] < 1)
            nb__fail("%s: output size %lld (dim %d) must be >= 1", op, (long long)o->size[i], i);
        if (has_scale && !(isfinite(o->scale[i]) && o->scale[i] > 0))
            nb__fail("%s: scale factor %g (dim %d) must be finite and > 0", op, o->scale[i], i);
    }
    if (has_size && o->recompute_scale_factor)
        nb__fail("%s: recompute_scale_factor is not meaningful with an explicit size (%lld x %lld)", op,
                 (long long)o->size[0], (long long)o->size[1]);
}

/* ---- the op ----------------------------------------------------------------------------------- */
/* iargs: the spatial rank, linear, align_corners; fargs: the scale factors (h, w) the kernel uses
 * (0 = none). The input's sizes come from its edge, the output's from the gradient. */
enum { IA_ND, IA_LINEAR, IA_ALIGN };

static void interpolate_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    const nb__edge *e = &n->inputs[0];
    int nd = (int)n->iargs[IA_ND], lead = e->ndim - nd;
    nb__interp_geom geo = {nd == 2 ? e->shape[lead] : 1, e->shape[e->ndim - 1], nd == 2 ? g->shape[lead] : 1,
                           g->shape[g->ndim - 1], n->fargs[0], n->fargs[1], n->iargs[IA_LINEAR] != 0,
                           n->iargs[IA_ALIGN] != 0};
    nb_tensor *dx = nb__tensor_new(e->dtype, e->shape, e->ndim);
    nb__k_interp_backward(e->dtype, &geo, nb__numel(lead, e->shape), nb_tensor_data(g), nb_tensor_data(dx));
    gin[0] = dx;
}
NB__DEFINE_OP(interpolate, interpolate_backward);

/* Output size of spatial dim i (input size in) and the scale factor the kernel uses (0: none). */
static int64_t out_size(const char *op, const nb_interp_opts *o, int i, int64_t in, double *kscale)
{
    *kscale = 0;
    if (o->size[i])
        return o->size[i];
    double v = floor((double)in * o->scale[i]); /* torch: (int64_t)(in * scale) */
    if (!(v >= 1) || v > (double)INT64_MAX / 2)
        nb__fail("%s: input size %lld (spatial dim %d) times scale factor %g gives output size %.0f, outside "
                 "[1, 2^62)",
                 op, (long long)in, i, o->scale[i], v);
    if (!o->recompute_scale_factor)
        *kscale = o->scale[i];
    return (int64_t)v;
}

nb_tensor *nb_interpolate(const nb_tensor *x, const nb_interp_opts *opts)
{
    const char *op = "nb_interpolate";
    nb__check_float(op, x);
    if (!opts)
        check_opts(op, opts, 1);
    int rank = mode_rank(op, opts->mode), nd = x->ndim - 2;
    if ((rank && nd != rank) || (!rank && nd != 1 && nd != 2))
        nb__fail("%s: mode %s needs a %s input ([N, C, %s]), got shape %s", op, mode_name(opts->mode),
                 rank == 2 ? "4-D" : rank == 1 ? "3-D" : "3-D or 4-D",
                 rank == 2 ? "H, W" : rank ? "L" : "L] or [N, C, H, W", NB__SHAPE(x));
    check_opts(op, opts, nd);
    int64_t oshape[NB_MAX_DIMS];
    double ks[2] = {0, 0};
    memcpy(oshape, x->shape, 2 * sizeof *oshape);
    for (int i = 0; i < nd; i++) {
        if (x->shape[2 + i] < 1)
            nb__fail("%s: input spatial sizes must be >= 1, got shape %s", op, NB__SHAPE(x));
        oshape[2 + i] = out_size(op, opts, i, x->shape[2 + i], &ks[i]);
    }
    int64_t numel = 1;
    for (int i = 0; i < x->ndim; i++)
        if (__builtin_mul_overflow(numel, oshape[i], &numel) || numel > INT64_MAX / 8)
            nb__fail("%s: output shape %s of input %s overflows the size arithmetic", op,
                     nb__shape_text(x->ndim, oshape).s, NB__SHAPE(x));
    bool linear = opts->mode != NB_INTERP_NEAREST;
    nb__interp_geom geo = {nd == 2 ? x->shape[2] : 1, x->shape[x->ndim - 1], nd == 2 ? oshape[2] : 1,
                           oshape[x->ndim - 1], nd == 2 ? ks[0] : 0, ks[nd - 1], linear,
                           opts->align_corners};
    int scope = nb_scope_begin();
    const nb_tensor *xc = nb_tensor_is_contiguous(x) ? x : nb__contiguous_copy(x);
    nb_tensor *y = nb__tensor_new(x->dtype, oshape, x->ndim);
    nb__k_interp_forward(x->dtype, &geo, x->shape[0] * x->shape[1], nb_tensor_data(xc), nb_tensor_data(y));
    nb__node *n = NB__RECORD(interpolate, y, x);
    if (n) {
        n->iargs[IA_ND] = nd, n->iargs[IA_LINEAR] = linear, n->iargs[IA_ALIGN] = opts->align_corners;
        n->fargs[0] = geo.scale_h, n->fargs[1] = geo.scale_w;
    }
    return nb__scope_return(scope, y);
}

/* ---- Upsample ----------------------------------------------------------------------------------- */
static nb_tensor *upsample_fwd(nb_module *m, const nb_tensor *x)
{
    return nb_upsample_forward((nb_upsample_mod *)m, x);
}
static const nb_module_type upsample_type = {"Upsample", upsample_fwd, NULL};

nb_upsample_mod *nb_upsample_new(nb_module *parent, const char *name, const nb_interp_opts *opts)
{
    check_opts("nb_upsample_new", opts, 0);
    nb_upsample_mod *u = nb__module_alloc(sizeof *u, &upsample_type);
    u->opts = *opts;
    nb_module_register_module(parent, name, &u->base);
    return u;
}

nb_tensor *nb_upsample_forward(nb_upsample_mod *m, const nb_tensor *x) { return nb_interpolate(x, &m->opts); }
