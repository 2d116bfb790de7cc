/* modules_conv.c — convolution and pooling layers as modules (torch.nn.Conv1d, Conv2d, MaxPool1d,
 * MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool2d, ConvTranspose1d, ConvTranspose2d) and the
 * functional nb_adaptive_avg_pool2d. Arguments are checked at construction as torch's constructors
 * do; each forward checks the input against the module and is one call of the functional op
 * (nn/conv.c, nn/pool.c, nn/conv_transpose.c). */
#include "config.h"
#include "nb__autograd.h"
#include "nb_nn.h"
#include "nb__module.h"

#include <math.h>
#include <stdlib.h>

/* ---- Conv1d, Conv2d ------------------------------------------------------------------------- */
static nb_tensor *conv_fwd(nb_module *m, const nb_tensor *x) { return nb_conv_forward((nb_conv_mod *)m, x); }
static const nb_module_type conv1d_type = {"Conv1d", conv_fwd, NULL};
static const nb_module_type conv2d_type = {"Conv2d", conv_fwd, NULL};

static nb_conv_mod *conv_new(nb_module *parent, const char *name, int nd, int64_t cin, int64_t cout,
                             const int64_t *k, const nb_conv_opts *opts, bool bias, nb_generator *gen)
{
    const char *op = nd == 2 ? "nb_conv2d_new" : "nb_conv1d_new";
    nb_conv_opts o = opts ? *opts : nb_conv_opts_default();
    if (cin <= 0 || cout <= 0 || o.groups < 1)
        nb__fail("%s: in_channels %lld, out_channels %lld and groups %lld must be positive", op, (long long)cin,
                 (long long)cout, (long long)o.groups);
    if (cin % o.groups || cout % o.groups)
        nb__fail("%s: in_channels %lld and out_channels %lld must be divisible by groups %lld", op, (long long)cin,
                 (long long)cout, (long long)o.groups);
    for (int i = 0; i < nd; i++) {
        if (k[i] < 1 || o.stride[i] < 1 || o.dilation[i] < 1 || o.padding[i] < 0)
            nb__fail("%s: kernel_size %lld, stride %lld and dilation %lld must be >= 1 and padding %lld >= 0", op,
                     (long long)k[i], (long long)o.stride[i], (long long)o.dilation[i], (long long)o.padding[i]);
        if (o.padding_same && o.stride[i] != 1)
            nb__fail("%s: padding \"same\" is not supported for strided convolutions (stride %lld)", op,
                     (long long)o.stride[i]);
    }
    int64_t wshape[4] = {cout, cin / o.groups, k[0], nd == 2 ? k[1] : 0}, fan_in;
    if (__builtin_mul_overflow(wshape[1], k[0], &fan_in) || (nd == 2 && __builtin_mul_overflow(fan_in, k[1], &fan_in)))
        nb__fail("%s: the kernel of %lld x %lld x %lld elements overflows", op, (long long)wshape[1],
                 (long long)k[0], (long long)(nd == 2 ? k[1] : 1));
    nb_conv_mod *c = nb__module_alloc(sizeof *c, nd == 2 ? &conv2d_type : &conv1d_type);
    c->dims = nd, c->in_channels = cin, c->out_channels = cout, c->opts = o;
    c->kernel_size[0] = k[0], c->kernel_size[1] = nd == 2 ? k[1] : 1;
    if (nd == 1) /* the unused [1] entries as their defaults, so the struct reads like torch's */
        c->opts.stride[1] = 1, c->opts.padding[1] = 0, c->opts.dilation[1] = 1;
    c->weight = nb__module_new_param(&c->base, "weight", wshape, nd + 2);
    /* torch's reset_parameters: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
    nb_init_kaiming_uniform_(c->weight, sqrt(5.0), gen);
    if (bias) {
        double bound = 1.0 / sqrt((double)fan_in);
        c->bias = nb__module_new_param(&c->base, "bias", NB_DIMS(cout));
        NB_NO_GRAD { nb_uniform_(c->bias, -bound, bound, gen); }
    }
    nb_module_register_module(parent, name, &c->base);
    return c;
}

nb_conv_mod *nb_conv1d_new(nb_module *parent, const char *name, int64_t in_channels, int64_t out_channels,
                           int64_t kernel_size, const nb_conv_opts *opts, bool bias, nb_generator *gen)
{
    return conv_new(parent, name, 1, in_channels, out_channels, (int64_t[]){kernel_size}, opts, bias, gen);
}

nb_conv_mod *nb_conv2d_new(nb_module *parent, const char *name, int64_t in_channels, int64_t out_channels,
                           int64_t kh, int64_t kw, const nb_conv_opts *opts, bool bias, nb_generator *gen)
{
    return conv_new(parent, name, 2, in_channels, out_channels, (int64_t[]){kh, kw}, opts, bias, gen);
}

/* Misuse unless x is [N, in, <dims spatial>] or [in, <dims spatial>] (a conv module's input). */
static void check_input(const char *op, const char *type, int dims, int64_t in, int64_t out, const nb_tensor *x)
{
    int nd = nb_tensor_ndim(x);
    if ((nd != dims + 1 && nd != dims + 2) || nb_tensor_size(x, nd - dims - 1) != in)
        nb__fail("%s: input of shape %s does not fit %s(%lld, %lld) (expected [N, %lld, %s] or [%lld, %s])", op,
                 NB__SHAPE(x), type, (long long)in, (long long)out, (long long)in, dims == 2 ? "H, W" : "L",
                 (long long)in, dims == 2 ? "H, W" : "L");
}

nb_tensor *nb_conv_forward(nb_conv_mod *m, const nb_tensor *x)
{
    check_input("nb_conv_forward", m->base.type->name, m->dims, m->in_channels, m->out_channels, x);
    return m->dims == 2 ? nb_conv2d(x, m->weight, m->bias, &m->opts) : nb_conv1d(x, m->weight, m->bias, &m->opts);
}

/* ---- MaxPool1d/2d, AvgPool1d/2d ------------------------------------------------------------- */
static nb_tensor *max_pool_fwd(nb_module *m, const nb_tensor *x) { return nb_max_pool_forward((nb_pool_mod *)m, x); }
static nb_tensor *avg_pool_fwd(nb_module *m, const nb_tensor *x) { return nb_avg_pool_forward((nb_pool_mod *)m, x); }
static const nb_module_type max_pool1d_type = {"MaxPool1d", max_pool_fwd, NULL};
static const nb_module_type max_pool2d_type = {"MaxPool2d", max_pool_fwd, NULL};
static const nb_module_type avg_pool1d_type = {"AvgPool1d", avg_pool_fwd, NULL};
static const nb_module_type avg_pool2d_type = {"AvgPool2d", avg_pool_fwd, NULL};

static nb_pool_mod *pool_new(nb_module *parent, const char *name, int nd, bool is_max, const int64_t *k,
                             const nb_pool_opts *opts)
{
    const nb_module_type *type = is_max ? (nd == 2 ? &max_pool2d_type : &max_pool1d_type)
                                        : (nd == 2 ? &avg_pool2d_type : &avg_pool1d_type);
    nb_pool_opts o = opts ? *opts : nb_pool_opts_default();
    for (int i = 0; i < nd; i++) {
        if (k[i] < 1 || o.stride[i] < 0 || o.dilation[i] < 1)
            nb__fail("nb_%s_pool%dd_new: kernel_size %lld and dilation %lld must be >= 1 and stride %lld >= 0 "
                     "(0: the kernel size)",
                     is_max ? "max" : "avg", nd, (long long)k[i], (long long)o.dilation[i], (long long)o.stride[i]);
        if (o.padding[i] < 0 || o.padding[i] > k[i] / 2)
            nb__fail("nb_%s_pool%dd_new: padding %lld must be in [0, kernel_size / 2] (kernel_size %lld)",
                     is_max ? "max" : "avg", nd, (long long)o.padding[i], (long long)k[i]);
        if (!is_max && o.dilation[i] != 1)
            nb__fail("nb_avg_pool%dd_new: average pooling has no dilation, got %lld", nd, (long long)o.dilation[i]);
        if (o.stride[i] == 0) /* torch's stride=None: the kernel size */
            o.stride[i] = k[i];
    }
    if (o.divisor_override < 0 || (is_max && o.divisor_override != 0))
        nb__fail("nb_%s_pool%dd_new: divisor_override %lld must be %s", is_max ? "max" : "avg", nd,
                 (long long)o.divisor_override, is_max ? "0 (max pooling has none)" : ">= 0 (0: none)");
    if (nd == 1)
        o.stride[1] = 1, o.padding[1] = 0, o.dilation[1] = 1;
    nb_pool_mod *p = nb__module_alloc(sizeof *p, type);
    p->dims = nd, p->is_max = is_max, p->opts = o;
    p->kernel_size[0] = k[0], p->kernel_size[1] = nd == 2 ? k[1] : 1;
    nb_module_register_module(parent, name, &p->base);
    return p;
}

nb_max_pool_mod *nb_max_pool1d_new(nb_module *parent, const char *name, int64_t kernel_size, const nb_pool_opts *opts)
{
    return pool_new(parent, name, 1, true, (int64_t[]){kernel_size}, opts);
}
nb_max_pool_mod *nb_max_pool2d_new(nb_module *parent, const char *name, int64_t kh, int64_t kw,
                                   const nb_pool_opts *opts)
{
    return pool_new(parent, name, 2, true, (int64_t[]){kh, kw}, opts);
}
nb_avg_pool_mod *nb_avg_pool1d_new(nb_module *parent, const char *name, int64_t kernel_size, const nb_pool_opts *opts)
{
    return pool_new(parent, name, 1, false, (int64_t[]){kernel_size}, opts);
}
nb_avg_pool_mod *nb_avg_pool2d_new(nb_module *parent, const char *name, int64_t kh, int64_t kw,
                                   const nb_pool_opts *opts)
{
    return pool_new(parent, name, 2, false, (int64_t[]){kh, kw}, opts);
}

static nb_tensor *pool_forward(const char *op, nb_pool_mod *m, bool is_max, const nb_tensor *x)
{
    if (m->is_max != is_max)
        nb__fail("%s: called on a %s module", op, m->base.type->name);
    if (m->dims == 2)
        return is_max ? nb_max_pool2d(x, m->kernel_size[0], m->kernel_size[1], &m->opts)
                      : nb_avg_pool2d(x, m->kernel_size[0], m->kernel_size[1], &m->opts);
    return is_max ? nb_max_pool1d(x, m->kernel_size[0], &m->opts) : nb_avg_pool1d(x, m->kernel_size[0], &m->opts);
}

nb_tensor *nb_max_pool_forward(nb_max_pool_mod *m, const nb_tensor *x)
{
    return pool_forward("nb_max_pool_forward", m, true, x);
}
nb_tensor *nb_avg_pool_forward(nb_avg_pool_mod *m, const nb_tensor *x)
{
    return pool_forward("nb_avg_pool_forward", m, false, x);
}

/* ---- AdaptiveAvgPool2d ---------------------------------------------------------------------- */
/* Adaptive average over dim d of x (size in) to `out` cells: cell i averages [floor(i*in/out),
 * ceil((i+1)*in/out)). Equal windows (in divisible by out) are one average pooling; otherwise
 * each cell is a narrow + mean, concatenated. Returns a new reference. */
static nb_tensor *adaptive_avg_dim(const nb_tensor *x, int d, int64_t out)
{
    int nd = nb_tensor_ndim(x);
    int64_t in = nb_tensor_size(x, d);
    if (in == out)
        return nb__new_ref((nb_tensor *)x); /* owned by the open scope, as a new tensor would be */
    int scope = nb_scope_begin();
    nb_tensor *y;
    if (in % out == 0) {
        bool rows = d == nd - 2;
        y = nb_avg_pool2d(x, rows ? in / out : 1, rows ? 1 : in / out, NULL);
    } else {
        nb_tensor **cells = malloc((size_t)out * sizeof *cells);
        if (!cells)
            nb__fail("nb_adaptive_avg_pool2d: out of memory for %lld cells", (long long)out);
        for (int64_t i = 0; i < out; i++) {
            int64_t s = i * in / out, e = ((i + 1) * in + out - 1) / out;
            cells[i] = nb_mean(nb_narrow(x, d, s, e - s), NB_AXES(d), true);
        }
        y = nb_cat(cells, (int)out, d);
        free(cells);
    }
    return nb__scope_return(scope, y);
}

nb_tensor *nb_adaptive_avg_pool2d(const nb_tensor *x, int64_t oh, int64_t ow)
{
    nb__check_float("nb_adaptive_avg_pool2d", x);
    int nd = nb_tensor_ndim(x);
    if (nd != 3 && nd != 4)
        nb__fail("nb_adaptive_avg_pool2d: expected a 3-D or 4-D input ([C, H, W] or [N, C, H, W]), got shape %s",
                 NB__SHAPE(x));
    int64_t H = nb_tensor_size(x, -2), W = nb_tensor_size(x, -1);
    if (oh < 0 || ow < 0 || oh > INT32_MAX || ow > INT32_MAX || H == 0 || W == 0)
        nb__fail("nb_adaptive_avg_pool2d: output size %lld x %lld must be >= 0 (0: the input's) and the input %s "
                 "non-empty",
                 (long long)oh, (long long)ow, NB__SHAPE(x));
    oh = oh ? oh : H, ow = ow ? ow : W;
    if (H > INT64_MAX / oh || W > INT64_MAX / ow)
        nb__fail("nb_adaptive_avg_pool2d: output size %lld x %lld for input %s overflows", (long long)oh,
                 (long long)ow, NB__SHAPE(x));
    int scope = nb_scope_begin();
    /* the mean over a window is the mean over its rows of the row means: two separable passes */
    nb_tensor *y = adaptive_avg_dim(adaptive_avg_dim(x, nd - 2, oh), nd - 1, ow);
    return nb__scope_return(scope, y);
}

static nb_tensor *adaptive_fwd(nb_module *m, const nb_tensor *x)
{
    return nb_adaptive_avg_pool2d_forward((nb_adaptive_avg_pool2d_mod *)m, x);
}
static const nb_module_type adaptive_avg_pool2d_type = {"AdaptiveAvgPool2d", adaptive_fwd, NULL};

nb_adaptive_avg_pool2d_mod *nb_adaptive_avg_pool2d_new(nb_module *parent, const char *name, int64_t oh, int64_t ow)
{
    if (oh < 0 || ow < 0)
        nb__fail("nb_adaptive_avg_pool2d_new: output size %lld x %lld must be >= 0 (0: the input's size)",
                 (long long)oh, (long long)ow);
    nb_adaptive_avg_pool2d_mod *p = nb__module_alloc(sizeof *p, &adaptive_avg_pool2d_type);
    p->output_size[0] = oh, p->output_size[1] = ow;
    nb_module_register_module(parent, name, &p->base);
    return p;
}

nb_tensor *nb_adaptive_avg_pool2d_forward(nb_adaptive_avg_pool2d_mod *m, const nb_tensor *x)
{
    return nb_adaptive_avg_pool2d(x, m->output_size[0], m->output_size[1]);
}

/* ---- transposed convolution: ConvTranspose1d, ConvTranspose2d --------------------------------- */
static nb_tensor *convt_fwd(nb_module *m, const nb_tensor *x)
{
    return nb_conv_transpose_forward((nb_conv_transpose_mod *)m, x);
}
static const nb_module_type convt1d_type = {"ConvTranspose1d", convt_fwd, NULL};
static const nb_module_type convt2d_type = {"ConvTranspose2d", convt_fwd, NULL};

static nb_conv_transpose_mod *convt_new(nb_module *parent, const char *name, int nd, int64_t cin, int64_t cout,
                                        const int64_t *k, const nb_conv_transpose_opts *opts, bool bias,
                                        nb_generator *gen)
{
    const char *op = nd == 2 ? "nb_conv_transpose2d_new" : "nb_conv_transpose1d_new";
    nb_conv_transpose_opts o = opts ? *opts : nb_conv_transpose_opts_default();
    if (cin <= 0 || cout <= 0 || o.groups < 1)
        nb__fail("%s: in_channels %lld, out_channels %lld and groups %lld must be positive", op, (long long)cin,
                 (long long)cout, (long long)o.groups);
    if (cin % o.groups || cout % o.groups)
        nb__fail("%s: in_channels %lld and out_channels %lld must be divisible by groups %lld", op, (long long)cin,
                 (long long)cout, (long long)o.groups);
    for (int i = 0; i < nd; i++) {
        if (k[i] < 1 || o.stride[i] < 1 || o.dilation[i] < 1 || o.padding[i] < 0 || o.output_padding[i] < 0)
            nb__fail("%s: kernel_size %lld, stride %lld and dilation %lld must be >= 1, padding %lld and "
                     "output_padding %lld >= 0",
                     op, (long long)k[i], (long long)o.stride[i], (long long)o.dilation[i], (long long)o.padding[i],
                     (long long)o.output_padding[i]);
        if (o.output_padding[i] >= o.stride[i] && o.output_padding[i] >= o.dilation[i])
            nb__fail("%s: output_padding %lld must be smaller than either stride %lld or dilation %lld", op,
                     (long long)o.output_padding[i], (long long)o.stride[i], (long long)o.dilation[i]);
    }
    int64_t wshape[4] = {cin, cout / o.groups, k[0], nd == 2 ? k[1] : 0}, fan_in;
    if (__builtin_mul_overflow(wshape[1], k[0], &fan_in) || (nd == 2 && __builtin_mul_overflow(fan_in, k[1], &fan_in)))
        nb__fail("%s: the kernel of %lld x %lld x %lld elements overflows", op, (long long)wshape[1],
                 (long long)k[0], (long long)(nd == 2 ? k[1] : 1));
    nb_conv_transpose_mod *c = nb__module_alloc(sizeof *c, nd == 2 ? &convt2d_type : &convt1d_type);
    c->dims = nd, c->in_channels = cin, c->out_channels = cout, c->opts = o;
    c->kernel_size[0] = k[0], c->kernel_size[1] = nd == 2 ? k[1] : 1;
    if (nd == 1) /* the unused [1] entries as their defaults */
        c->opts.stride[1] = 1, c->opts.padding[1] = 0, c->opts.output_padding[1] = 0, c->opts.dilation[1] = 1;
    c->weight = nb__module_new_param(&c->base, "weight", wshape, nd + 2);
    /* torch's reset_parameters: kaiming_uniform_(a=sqrt(5)) with the fan_in of [in, out/groups, k...]:
     * out/groups * kernel elements, the bias's bound too */
    nb_init_kaiming_uniform_(c->weight, sqrt(5.0), gen);
    if (bias) {
        double bias_bound = 1.0 / sqrt((double)fan_in);
        c->bias = nb__module_new_param(&c->base, "bias", NB_DIMS(cout));
        NB_NO_GRAD { nb_uniform_(c->bias, -bias_bound, bias_bound, gen); }
    }
    nb_module_register_module(parent, name, &c->base);
    return c;
}

nb_conv_transpose_mod *nb_conv_transpose1d_new(nb_module *parent, const char *name, int64_t in_channels,
                                               int64_t out_channels, int64_t kernel_size,
                                               const nb_conv_transpose_opts *opts, bool bias, nb_generator *gen)
{
    return convt_new(parent, name, 1, in_channels, out_channels, (int64_t[]){kernel_size}, opts, bias, gen);
}

nb_conv_transpose_mod *nb_conv_transpose2d_new(nb_module *parent, const char *name, int64_t in_channels,
                                               int64_t out_channels, int64_t kh, int64_t kw,
                                               const nb_conv_transpose_opts *opts, bool bias, nb_generator *gen)
{
    return convt_new(parent, name, 2, in_channels, out_channels, (int64_t[]){kh, kw}, opts, bias, gen);
}

nb_tensor *nb_conv_transpose_forward(nb_conv_transpose_mod *m, const nb_tensor *x)
{
    check_input("nb_conv_transpose_forward", m->base.type->name, m->dims, m->in_channels, m->out_channels, x);
    return m->dims == 2 ? nb_conv_transpose2d(x, m->weight, m->bias, &m->opts)
                        : nb_conv_transpose1d(x, m->weight, m->bias, &m->opts);
}
