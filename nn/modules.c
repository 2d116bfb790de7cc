/* modules.c — the standard layers (Linear, Embedding, LayerNorm, GELU, Dropout, Softmax, ReLU,
 * Tanh) and the containers (Sequential, ModuleList). */
#include "config.h"
#include "nb__autograd.h"
#include "nb_nn.h"
#include "nb__module.h"

#include <math.h>
#include <stdlib.h>

/* ---- Linear --------------------------------------------------------------------------------- */
static nb_tensor *linear_fwd(nb_module *m, const nb_tensor *x) { return nb_linear_forward((nb_linear_mod *)m, x); }
static const nb_module_type linear_type = {"Linear", linear_fwd, NULL};

nb_linear_mod *nb_linear_new(nb_module *parent, const char *name, int64_t in, int64_t out, bool bias, nb_generator *gen)
{
    if (in <= 0 || out <= 0)
        nb__fail("nb_linear_new: in_features %lld and out_features %lld must be positive", (long long)in,
                 (long long)out);
    nb_linear_mod *l = nb__module_alloc(sizeof *l, &linear_type);
    l->in_features = in, l->out_features = out;
    double bound = 1.0 / sqrt((double)in);
    l->weight = nb__module_new_param(&l->base, "weight", NB_DIMS(out, in));
    NB_NO_GRAD { nb_uniform_(l->weight, -bound, bound, gen); }
    if (bias) {
        l->bias = nb__module_new_param(&l->base, "bias", NB_DIMS(out));
        NB_NO_GRAD { nb_uniform_(l->bias, -bound, bound, gen); }
    }
    nb_module_register_module(parent, name, &l->base);
    return l;
}

nb_tensor *nb_linear_forward(nb_linear_mod *l, const nb_tensor *x)
{
    if (nb_tensor_ndim(x) == 0 || nb_tensor_size(x, -1) != l->in_features) {
        char a[96];
        nb__fail("nb_linear_forward: input of shape %s does not fit Linear(%lld, %lld) (weight %s)",
                 nb_shape_str(nb_tensor_shape(x), nb_tensor_ndim(x), a, sizeof a), (long long)l->in_features,
                 (long long)l->out_features, NB__SHAPE(l->weight));
    }
    return nb_linear(x, l->weight, l->bias); /* one op: x W^T + b, analytic backward */
}

/* ---- Embedding ------------------------------------------------------------------------------ */
static nb_tensor *embedding_fwd(nb_module *m, const nb_tensor *x)
{
    return nb_embedding_forward((nb_embedding_mod *)m, x);
}
static const nb_module_type embedding_type = {"Embedding", embedding_fwd, NULL};

nb_embedding_mod *nb_embedding_new(nb_module *parent, const char *name, int64_t num, int64_t dim, nb_generator *gen)
{
    if (num <= 0 || dim <= 0)
        nb__fail("nb_embedding_new: num_embeddings %lld and embedding_dim %lld must be positive", (long long)num,
                 (long long)dim);
    nb_embedding_mod *e = nb__module_alloc(sizeof *e, &embedding_type);
    e->num_embeddings = num, e->embedding_dim = dim;
    e->weight = nb__module_new_param(&e->base, "weight", NB_DIMS(num, dim));
    NB_NO_GRAD { nb_normal_(e->weight, 0.0, 1.0, gen); }
    nb_module_register_module(parent, name, &e->base);
    return e;
}

nb_tensor *nb_embedding_forward(nb_embedding_mod *e, const nb_tensor *ids) { return nb_embedding(e->weight, ids); }

/* ---- LayerNorm ------------------------------------------------------------------------------ */
static nb_tensor *layer_norm_fwd(nb_module *m, const nb_tensor *x)
{
    return nb_layer_norm_forward((nb_layer_norm_mod *)m, x);
}
static const nb_module_type layer_norm_type = {"LayerNorm", layer_norm_fwd, NULL};

nb_layer_norm_mod *nb_layer_norm_new(nb_module *parent, const char *name, int64_t dim, double eps,
                                     bool elementwise_affine, bool bias)
{
    if (dim <= 0)
        nb__fail("nb_layer_norm_new: normalized dim %lld must be positive", (long long)dim);
    nb_layer_norm_mod *ln = nb__module_alloc(sizeof *ln, &layer_norm_type);
    ln->dim = dim, ln->eps = eps;
    if (elementwise_affine) {
        NB_NO_GRAD { ln->weight = nb_fill_(nb__module_new_param(&ln->base, "weight", NB_DIMS(dim)), 1); }
        if (bias)
            ln->bias = nb__module_new_param(&ln->base, "bias", NB_DIMS(dim));
    }
    nb_module_register_module(parent, name, &ln->base);
    return ln;
}

nb_tensor *nb_layer_norm_forward(nb_layer_norm_mod *ln, const nb_tensor *x)
{
    if (nb_tensor_ndim(x) == 0 || nb_tensor_size(x, -1) != ln->dim) {
        char a[96];
        nb__fail("nb_layer_norm_forward: input of shape %s does not fit LayerNorm(%lld)",
                 nb_shape_str(nb_tensor_shape(x), nb_tensor_ndim(x), a, sizeof a), (long long)ln->dim);
    }
    return nb_layer_norm(x, ln->weight, ln->bias, ln->eps);
}

/* ---- activations, dropout, softmax ---------------------------------------------------------- */
static nb_tensor *gelu_fwd(nb_module *m, const nb_tensor *x) { return nb_gelu(x, ((nb_gelu_mod *)m)->approx); }
static const nb_module_type gelu_type = {"GELU", gelu_fwd, NULL};

nb_gelu_mod *nb_gelu_new(nb_module *parent, const char *name, nb_gelu_approx approx)
{
    nb_gelu_mod *g = nb__module_alloc(sizeof *g, &gelu_type);
    g->approx = approx;
    nb_module_register_module(parent, name, &g->base);
    return g;
}

static nb_tensor *dropout_fwd(nb_module *m, const nb_tensor *x)
{
    nb_dropout_mod *d = (nb_dropout_mod *)m;
    return nb_dropout(x, d->p, m->training, d->gen);
}
static const nb_module_type dropout_type = {"Dropout", dropout_fwd, NULL};

nb_dropout_mod *nb_dropout_new(nb_module *parent, const char *name, double p, nb_generator *gen)
{
    if (!(p >= 0 && p <= 1))
        nb__fail("nb_dropout_new: probability must be in [0, 1], got %g", p);
    nb_dropout_mod *d = nb__module_alloc(sizeof *d, &dropout_type);
    d->p = p, d->gen = gen;
    nb_module_register_module(parent, name, &d->base);
    return d;
}

static nb_tensor *softmax_fwd(nb_module *m, const nb_tensor *x) { return nb_softmax(x, ((nb_softmax_mod *)m)->dim); }
static const nb_module_type softmax_type = {"Softmax", softmax_fwd, NULL};

nb_softmax_mod *nb_softmax_new(nb_module *parent, const char *name, int dim)
{
    nb_softmax_mod *s = nb__module_alloc(sizeof *s, &softmax_type);
    s->dim = dim;
    nb_module_register_module(parent, name, &s->base);
    return s;
}

static nb_tensor *relu_fwd(nb_module *m, const nb_tensor *x)
{
    (void)m;
    return nb_relu(x);
}
static const nb_module_type relu_type = {"ReLU", relu_fwd, NULL};

nb_relu_mod *nb_relu_new(nb_module *parent, const char *name)
{
    nb_relu_mod *r = nb__module_alloc(sizeof *r, &relu_type);
    nb_module_register_module(parent, name, &r->base);
    return r;
}

static nb_tensor *tanh_fwd(nb_module *m, const nb_tensor *x)
{
    (void)m;
    return nb_tanh(x);
}
static const nb_module_type tanh_type = {"Tanh", tanh_fwd, NULL};

nb_tanh_mod *nb_tanh_new(nb_module *parent, const char *name)
{
    nb_tanh_mod *t = nb__module_alloc(sizeof *t, &tanh_type);
    nb_module_register_module(parent, name, &t->base);
    return t;
}

/* ---- containers ----------------------------------------------------------------------------- */
static nb_tensor *sequential_fwd(nb_module *m, const nb_tensor *x)
{
    int scope = nb_scope_begin();
    nb_tensor *h = (nb_tensor *)x;
    for (int i = 0; i < m->n_children; i++)
        h = nb_module_forward(m->children[i], h);
    return nb__scope_return(scope, h);
}
static const nb_module_type sequential_type = {"Sequential", sequential_fwd, NULL};

nb_sequential_mod *nb_sequential_new(nb_module *parent, const char *name)
{
    nb_sequential_mod *s = nb__module_alloc(sizeof *s, &sequential_type);
    nb_module_register_module(parent, name, &s->base);
    return s;
}

static nb_module *append_numbered(nb_module *m, nb_module *child)
{
    char name[24];
    snprintf(name, sizeof name, "%d", m->n_children);
    return nb_module_register_module(m, name, child);
}

nb_module *nb_sequential_append(nb_sequential_mod *s, nb_module *m)
{
    if (!m->type->forward)
        nb__fail("nb_sequential_append: module type %s has no single-input forward", m->type->name);
    return append_numbered(&s->base, m);
}

static const nb_module_type module_list_type = {"ModuleList", NULL, NULL};

nb_module_list_mod *nb_module_list_new(nb_module *parent, const char *name)
{
    nb_module_list_mod *l = nb__module_alloc(sizeof *l, &module_list_type);
    nb_module_register_module(parent, name, &l->base);
    return l;
}

nb_module *nb_module_list_append(nb_module_list_mod *l, nb_module *m) { return append_numbered(&l->base, m); }

nb_module *nb_module_list_at(nb_module_list_mod *l, int i)
{
    if (i < 0 || i >= l->base.n_children)
        nb__fail("nb_module_list_at: index %d out of range for a list of %d modules", i, l->base.n_children);
    return l->base.children[i];
}

int nb_module_list_count(const nb_module_list_mod *l) { return l->base.n_children; }

/* ---- typed forward of Sequential (the other modules' are above) ----------------------------- */
nb_tensor *nb_sequential_forward(nb_sequential_mod *s, const nb_tensor *x) { return sequential_fwd(&s->base, x); }
