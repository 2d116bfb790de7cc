/* modules_more.c — more of torch.nn's common layers as modules: the activations SiLU, Sigmoid,
 * Softplus, LeakyReLU, Identity, Flatten, LogSoftmax; the norms GroupNorm, BatchNorm1d and
 * BatchNorm2d (running statistics as persistent buffers); typed forwards of the activation
 * modules in modules.c. Each forward is one call of a functional op (autograd/, nn/). */
#include "config.h"
#include "nb__autograd.h"
#include "nb_nn.h"
#include "nb__module.h"

#include <math.h>
#include <stdlib.h>

/* A new leaf parameter [n] (default dtype) requiring grad, filled with v, owned by the module. */
static nb_tensor *new_param(nb_module *m, const char *name, int64_t n, double v)
{
    int scope = nb_scope_begin();
    nb_tensor *p = nb_tensor_requires_grad_(nb_full(NB_DIMS(n), v, nb_get_default_dtype()), true);
    nb_module_register_parameter(m, name, p);
    nb_scope_end(scope); /* the module now holds the only reference */
    return p;
}

/* A new buffer filled with v, owned by the module (persistent). */
static nb_tensor *new_buffer(nb_module *m, const char *name, const int64_t *shape, int ndim, double v, nb_dtype dt)
{
    int scope = nb_scope_begin();
    nb_tensor *b = nb_module_register_buffer(m, name, nb_full(shape, ndim, v, dt), true);
    nb_scope_end(scope);
    return b;
}

static void *add_to(nb_module *parent, const char *name, nb_module *m)
{
    nb_module_register_module(parent, name, m);
    return m;
}

/* ---- typed forwards of modules.c's activations --------------------------------------------- */
nb_tensor *nb_gelu_forward(nb_gelu_mod *m, const nb_tensor *x) { return nb_gelu(x, m->approx); }
nb_tensor *nb_dropout_forward(nb_dropout_mod *m, const nb_tensor *x)
{
    return nb_dropout(x, m->p, m->base.training, m->gen);
}
nb_tensor *nb_softmax_forward(nb_softmax_mod *m, const nb_tensor *x) { return nb_softmax(x, m->dim); }
nb_tensor *nb_relu_forward(nb_relu_mod *m, const nb_tensor *x)
{
    (void)m;
    return nb_relu(x);
}
nb_tensor *nb_tanh_forward(nb_tanh_mod *m, const nb_tensor *x)
{
    (void)m;
    return nb_tanh(x);
}

/* ---- activations without state -------------------------------------------------------------- */
static nb_tensor *silu_fwd(nb_module *m, const nb_tensor *x) { return nb_silu_forward((nb_silu_mod *)m, x); }
static const nb_module_type silu_type = {"SiLU", silu_fwd, NULL};
nb_silu_mod *nb_silu_new(nb_module *parent, const char *name)
{
    return add_to(parent, name, nb__module_alloc(sizeof(nb_silu_mod), &silu_type));
}
nb_tensor *nb_silu_forward(nb_silu_mod *m, const nb_tensor *x)
{
    (void)m;
    return nb_silu(x);
}

static nb_tensor *sigmoid_fwd(nb_module *m, const nb_tensor *x)
{
    return nb_sigmoid_forward((nb_sigmoid_mod *)m, x);
}
static const nb_module_type sigmoid_type = {"Sigmoid", sigmoid_fwd, NULL};
nb_sigmoid_mod *nb_sigmoid_new(nb_module *parent, const char *name)
{
    return add_to(parent, name, nb__module_alloc(sizeof(nb_sigmoid_mod), &sigmoid_type));
}
nb_tensor *nb_sigmoid_forward(nb_sigmoid_mod *m, const nb_tensor *x)
{
    (void)m;
    return nb_sigmoid(x);
}

static nb_tensor *identity_fwd(nb_module *m, const nb_tensor *x)
{
    return nb_identity_forward((nb_identity_mod *)m, x);
}
static const nb_module_type identity_type = {"Identity", identity_fwd, NULL};
nb_identity_mod *nb_identity_new(nb_module *parent, const char *name)
{
    return add_to(parent, name, nb__module_alloc(sizeof(nb_identity_mod), &identity_type));
}
nb_tensor *nb_identity_forward(nb_identity_mod *m, const nb_tensor *x)
{
    (void)m;
    return nb__new_ref((nb_tensor *)x); /* a new reference, tracked by the open scope */
}

/* ---- activations with options --------------------------------------------------------------- */
static nb_tensor *softplus_fwd(nb_module *m, const nb_tensor *x)
{
    return nb_softplus_forward((nb_softplus_mod *)m, x);
}
static const nb_module_type softplus_type = {"Softplus", softplus_fwd, NULL};
nb_softplus_mod *nb_softplus_new(nb_module *parent, const char *name, double beta, double threshold)
{
    if (beta == 0 || !isfinite(beta) || isnan(threshold))
        nb__fail("nb_softplus_new: beta must be nonzero and finite and threshold not NaN, got beta %g, threshold %g",
                 beta, threshold);
    nb_softplus_mod *s = nb__module_alloc(sizeof *s, &softplus_type);
    s->beta = beta, s->threshold = threshold;
    return add_to(parent, name, &s->base);
}
nb_tensor *nb_softplus_forward(nb_softplus_mod *m, const nb_tensor *x)
{
    return nb_softplus(x, m->beta, m->threshold);
}

static nb_tensor *leaky_relu_fwd(nb_module *m, const nb_tensor *x)
{
    return nb_leaky_relu_forward((nb_leaky_relu_mod *)m, x);
}
static const nb_module_type leaky_relu_type = {"LeakyReLU", leaky_relu_fwd, NULL};
nb_leaky_relu_mod *nb_leaky_relu_new(nb_module *parent, const char *name, double negative_slope)
{
    if (!isfinite(negative_slope))
        nb__fail("nb_leaky_relu_new: negative_slope must be finite, got %g", negative_slope);
    nb_leaky_relu_mod *l = nb__module_alloc(sizeof *l, &leaky_relu_type);
    l->negative_slope = negative_slope;
    return add_to(parent, name, &l->base);
}
nb_tensor *nb_leaky_relu_forward(nb_leaky_relu_mod *m, const nb_tensor *x)
{
    return nb_leaky_relu(x, m->negative_slope);
}

static nb_tensor *flatten_fwd(nb_module *m, const nb_tensor *x) { return nb_flatten_forward((nb_flatten_mod *)m, x); }
static const nb_module_type flatten_type = {"Flatten", flatten_fwd, NULL};
nb_flatten_mod *nb_flatten_new(nb_module *parent, const char *name, int start_dim, int end_dim)
{
    nb_flatten_mod *f = nb__module_alloc(sizeof *f, &flatten_type);
    f->start_dim = start_dim, f->end_dim = end_dim;
    return add_to(parent, name, &f->base);
}
nb_tensor *nb_flatten_forward(nb_flatten_mod *m, const nb_tensor *x) { return nb_flatten(x, m->start_dim, m->end_dim); }

static nb_tensor *log_softmax_fwd(nb_module *m, const nb_tensor *x)
{
    return nb_log_softmax_forward((nb_log_softmax_mod *)m, x);
}
static const nb_module_type log_softmax_type = {"LogSoftmax", log_softmax_fwd, NULL};
nb_log_softmax_mod *nb_log_softmax_new(nb_module *parent, const char *name, int dim)
{
    nb_log_softmax_mod *l = nb__module_alloc(sizeof *l, &log_softmax_type);
    l->dim = dim;
    return add_to(parent, name, &l->base);
}
nb_tensor *nb_log_softmax_forward(nb_log_softmax_mod *m, const nb_tensor *x) { return nb_log_softmax(x, m->dim); }

/* ---- GroupNorm --------------------------------------------------------------------------- */
static nb_tensor *group_norm_fwd(nb_module *m, const nb_tensor *x)
{
    return nb_group_norm_forward((nb_group_norm_mod *)m, x);
}
static const nb_module_type group_norm_type = {"GroupNorm", group_norm_fwd, NULL};

nb_group_norm_mod *nb_group_norm_new(nb_module *parent, const char *name, int64_t num_groups, int64_t num_channels,
                                     double eps, bool affine)
{
    if (num_groups <= 0 || num_channels <= 0 || num_channels % num_groups || !(eps >= 0))
        nb__fail("nb_group_norm_new: num_channels %lld must be divisible by num_groups %lld (both positive), eps %g "
                 ">= 0",
                 (long long)num_channels, (long long)num_groups, eps);
    nb_group_norm_mod *g = nb__module_alloc(sizeof *g, &group_norm_type);
    g->num_groups = num_groups, g->num_channels = num_channels, g->eps = eps;
    if (affine) {
        g->weight = new_param(&g->base, "weight", num_channels, 1.0);
        g->bias = new_param(&g->base, "bias", num_channels, 0.0);
    }
    return add_to(parent, name, &g->base);
}

nb_tensor *nb_group_norm_forward(nb_group_norm_mod *m, const nb_tensor *x)
{
    if (nb_tensor_ndim(x) < 2 || nb_tensor_size(x, 1) != m->num_channels)
        nb__fail("nb_group_norm_forward: input of shape %s does not fit GroupNorm(%lld, %lld) (expected [N, %lld, *])",
                 NB__SHAPE(x), (long long)m->num_groups, (long long)m->num_channels, (long long)m->num_channels);
    return nb_group_norm(x, m->num_groups, m->weight, m->bias, m->eps);
}

/* ---- BatchNorm1d, BatchNorm2d --------------------------------------------------------------- */
static nb_tensor *batch_norm_fwd(nb_module *m, const nb_tensor *x)
{
    return nb_batch_norm_forward((nb_batch_norm_mod *)m, x);
}
static const nb_module_type batch_norm1d_type = {"BatchNorm1d", batch_norm_fwd, NULL};
static const nb_module_type batch_norm2d_type = {"BatchNorm2d", batch_norm_fwd, NULL};

static nb_batch_norm_mod *batch_norm_new(nb_module *parent, const char *name, int dims, int64_t num_features,
                                         double eps, double momentum, bool affine, bool track)
{
    if (num_features <= 0 || !(eps >= 0) || (!isnan(momentum) && !(momentum >= 0 && momentum <= 1)))
        nb__fail("nb_batch_norm%dd_new: num_features %lld must be positive, eps %g >= 0, momentum %g in [0, 1] or NaN",
                 dims, (long long)num_features, eps, momentum);
    nb_batch_norm_mod *b = nb__module_alloc(sizeof *b, dims == 1 ? &batch_norm1d_type : &batch_norm2d_type);
    b->num_features = num_features, b->dims = dims, b->eps = eps, b->momentum = momentum;
    b->affine = affine, b->track_running_stats = track;
    if (affine) {
        b->weight = new_param(&b->base, "weight", num_features, 1.0);
        b->bias = new_param(&b->base, "bias", num_features, 0.0);
    }
    if (track) {
        nb_dtype dt = nb_get_default_dtype();
        b->running_mean = new_buffer(&b->base, "running_mean", NB_DIMS(num_features), 0.0, dt);
        b->running_var = new_buffer(&b->base, "running_var", NB_DIMS(num_features), 1.0, dt);
        b->num_batches_tracked = new_buffer(&b->base, "num_batches_tracked", NB_SCALAR, 0.0, NB_I64);
    } else { /* torch registers None buffers: listed nowhere */
        nb_module_register_buffer(&b->base, "running_mean", NULL, true);
        nb_module_register_buffer(&b->base, "running_var", NULL, true);
        nb_module_register_buffer(&b->base, "num_batches_tracked", NULL, true);
    }
    return add_to(parent, name, &b->base);
}

nb_batch_norm_mod *nb_batch_norm1d_new(nb_module *parent, const char *name, int64_t num_features, double eps,
                                       double momentum, bool affine, bool track_running_stats)
{
    return batch_norm_new(parent, name, 1, num_features, eps, momentum, affine, track_running_stats);
}

nb_batch_norm_mod *nb_batch_norm2d_new(nb_module *parent, const char *name, int64_t num_features, double eps,
                                       double momentum, bool affine, bool track_running_stats)
{
    return batch_norm_new(parent, name, 2, num_features, eps, momentum, affine, track_running_stats);
}

nb_tensor *nb_batch_norm_forward(nb_batch_norm_mod *m, const nb_tensor *x)
{
    int nd = nb_tensor_ndim(x);
    bool rank_ok = m->dims == 1 ? nd == 2 || nd == 3 : nd == 4;
    if (!rank_ok)
        nb__fail("nb_batch_norm_forward: %s expects %s input, got shape %s", m->base.type->name,
                 m->dims == 1 ? "2-D [N, C] or 3-D [N, C, L]" : "4-D [N, C, H, W]", NB__SHAPE(x));
    if (nb_tensor_size(x, 1) != m->num_features)
        nb__fail("nb_batch_norm_forward: input of shape %s does not fit %s(%lld) (channel dim 1)", NB__SHAPE(x),
                 m->base.type->name, (long long)m->num_features);
    double factor = isnan(m->momentum) ? 0.0 : m->momentum;
    bool update = m->base.training && m->track_running_stats;
    if (update) { /* as torch: counted before the batch is normalized */
        double n = nb_tensor_item(m->num_batches_tracked) + 1;
        nb_fill_(m->num_batches_tracked, n);
        if (isnan(m->momentum))
            factor = 1.0 / n;
    }
    /* eval without running statistics (not tracked) normalizes with the batch's, as torch */
    bool batch_stats = m->base.training || !m->track_running_stats;
    bool running = update || !batch_stats; /* updated in training, read in eval */
    return nb_batch_norm(x, running ? m->running_mean : NULL, running ? m->running_var : NULL, m->weight, m->bias,
                         batch_stats, factor, m->eps);
}
