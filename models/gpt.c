/* gpt.c — GPT-2 from nabla modules, read side by side with nanoGPT's model.py. */
#include "config.h"
#include "gpt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

nb_gpt_config nb_gpt_config_default(void)
{
    return (nb_gpt_config){.block_size = 64, .vocab_size = 65, .n_layer = 4, .n_head = 4, .n_embd = 128,
                           .dropout = 0.0, .bias = false, .gelu = NB_GELU_TANH};
}

nb_status nb_gpt_config_validate(const nb_gpt_config *c)
{
    if (c->block_size <= 0 || c->vocab_size <= 0 || c->n_layer <= 0 || c->n_head <= 0 || c->n_embd <= 0)
        return nb_error(NB_ERR_INVALID,
                          "block_size %lld, vocab_size %lld, n_layer %lld, n_head %lld, n_embd %lld must all be positive",
                          (long long)c->block_size, (long long)c->vocab_size, (long long)c->n_layer,
                          (long long)c->n_head, (long long)c->n_embd);
    if (c->n_embd % c->n_head)
        return nb_error(NB_ERR_INVALID, "n_embd %lld is not divisible by n_head %lld", (long long)c->n_embd,
                          (long long)c->n_head);
    if (!(c->dropout >= 0 && c->dropout < 1))
        return nb_error(NB_ERR_INVALID, "dropout %g must be in [0, 1)", c->dropout);
    if (c->block_size > 1 << 20 || c->n_embd > 1 << 16 || c->vocab_size > 1 << 24 || c->n_layer > 1024)
        return nb_error(NB_ERR_INVALID, "config too large");
    return NB_OK;
}

/* ---- modules -------------------------------------------------------------------------------- */
static const nb_module_type attn_type = {"CausalSelfAttention", NULL, NULL};
static const nb_module_type mlp_type = {"MLP", NULL, NULL};
static const nb_module_type block_type = {"Block", NULL, NULL};
static const nb_module_type gpt_type = {"GPT", NULL, NULL};
static const nb_module_type container_type = {"ModuleDict", NULL, NULL};

static void *new_module(size_t size, const nb_module_type *t, nb_module *parent, const char *name)
{
    nb_module *m = calloc(1, size);
    if (!m)
        nb_fail("nb_gpt_new: out of memory");
    nb_module_init(m, t);
    nb_module_register_module(parent, name, m);
    return m;
}

static nb_gpt_block *block_new(const nb_gpt_config *c, nb_gpt *g, nb_module *parent, const char *name,
                               nb_generator *gen)
{
    int64_t C = c->n_embd;
    nb_gpt_block *b = new_module(sizeof *b, &block_type, parent, name);
    b->ln_1 = nb_layer_norm_new(&b->base, "ln_1", C, 1e-5, true, c->bias);
    b->attn = new_module(sizeof *b->attn, &attn_type, &b->base, "attn");
    b->attn->n_head = c->n_head;
    b->attn->c_attn = nb_linear_new(&b->attn->base, "c_attn", C, 3 * C, c->bias, gen);
    b->attn->c_proj = nb_linear_new(&b->attn->base, "c_proj", C, C, c->bias, gen);
    b->attn->attn_dropout = nb_dropout_new(&b->attn->base, "attn_dropout", c->dropout, &g->dropout_gen);
    b->attn->resid_dropout = nb_dropout_new(&b->attn->base, "resid_dropout", c->dropout, &g->dropout_gen);
    b->ln_2 = nb_layer_norm_new(&b->base, "ln_2", C, 1e-5, true, c->bias);
    b->mlp = new_module(sizeof *b->mlp, &mlp_type, &b->base, "mlp");
    b->mlp->c_fc = nb_linear_new(&b->mlp->base, "c_fc", C, 4 * C, c->bias, gen);
    b->mlp->gelu = nb_gelu_new(&b->mlp->base, "gelu", c->gelu);
    b->mlp->c_proj = nb_linear_new(&b->mlp->base, "c_proj", 4 * C, C, c->bias, gen);
    b->mlp->dropout = nb_dropout_new(&b->mlp->base, "dropout", c->dropout, &g->dropout_gen);
    return b;
}

/* GPT-2 init: Linear/Embedding weights N(0, 0.02), biases 0, residual projections scaled. */
static void gpt_init(nb_gpt *g, nb_generator *gen)
{
    nb_param_list l;
    nb_module_parameters(&g->base, false, &l);
    double proj_std = 0.02 / sqrt(2.0 * (double)g->config.n_layer);
    for (int i = 0; i < l.n; i++) {
        const char *name = l.names[i];
        size_t n = strlen(name);
        nb_tensor *p = l.params[i];
        bool is_ln = strstr(name, ".ln_") != NULL || strstr(name, "ln_f.") != NULL;
        if (is_ln)
            continue; /* LayerNorm keeps ones/zeros */
        if (n > 5 && !strcmp(name + n - 5, ".bias"))
            NB_NO_GRAD { nb_zero_(p); }
        else if (n >= 13 && !strcmp(name + n - 13, "c_proj.weight"))
            NB_NO_GRAD { nb_normal_(p, 0.0, proj_std, gen); }
        else
            NB_NO_GRAD { nb_normal_(p, 0.0, 0.02, gen); }
    }
    nb_param_list_free(&l);
}

nb_gpt *nb_gpt_new(const nb_gpt_config *c, nb_generator *gen)
{
    if (nb_gpt_config_validate(c) != NB_OK)
        nb_fail("nb_gpt_new: invalid config: %s", nb_last_error());
    nb_gpt *g = new_module(sizeof *g, &gpt_type, NULL, NULL);
    g->config = *c;
    nb_generator_seed(&g->dropout_gen, 0xd207u);
    g->transformer = new_module(sizeof(nb_module), &container_type, &g->base, "transformer");
    g->wte = nb_embedding_new(g->transformer, "wte", c->vocab_size, c->n_embd, gen);
    g->wpe = nb_embedding_new(g->transformer, "wpe", c->block_size, c->n_embd, gen);
    g->drop = nb_dropout_new(g->transformer, "drop", c->dropout, &g->dropout_gen);
    g->h = nb_module_list_new(g->transformer, "h");
    for (int64_t i = 0; i < c->n_layer; i++)
        nb_module_list_append(g->h, &block_new(c, g, NULL, NULL, gen)->base);
    g->ln_f = nb_layer_norm_new(g->transformer, "ln_f", c->n_embd, 1e-5, true, c->bias);
    g->lm_head = nb_linear_new(&g->base, "lm_head", c->n_embd, c->vocab_size, false, gen);
    /* weight tying: lm_head.weight IS transformer.wte.weight */
    g->lm_head->weight = nb_module_set_parameter(&g->lm_head->base, "weight", g->wte->weight);
    gpt_init(g, gen);
    return g;
}

/* ---- forward -------------------------------------------------------------------------------- */
typedef struct kv_cache {
    nb_tensor *k, *v; /* [B, nh, block_size, hs] */
    int64_t len;
} kv_cache;

static nb_tensor *attn_forward(nb_gpt_attn *a, const nb_tensor *x, kv_cache *kv)
{
    int64_t B = nb_tensor_size(x, 0), T = nb_tensor_size(x, 1), C = nb_tensor_size(x, 2);
    int64_t nh = a->n_head, hs = C / nh;
    nb_tensor *qkv = nb_linear_forward(a->c_attn, x); /* [B, T, 3C] */
    nb_tensor *q = nb_transpose(nb_view(nb_narrow(qkv, 2, 0, C), NB_DIMS(B, T, nh, hs)), 1, 2);
    nb_tensor *k = nb_transpose(nb_view(nb_narrow(qkv, 2, C, C), NB_DIMS(B, T, nh, hs)), 1, 2);
    nb_tensor *v = nb_transpose(nb_view(nb_narrow(qkv, 2, 2 * C, C), NB_DIMS(B, T, nh, hs)), 1, 2);
    int64_t P = 0;
    if (kv) { /* append this step's keys/values, attend over everything cached */
        P = kv->len;
        nb_copy_(nb_narrow(kv->k, 2, P, T), k);
        nb_copy_(nb_narrow(kv->v, 2, P, T), v);
        kv->len += T;
        k = nb_narrow(kv->k, 2, 0, P + T);
        v = nb_narrow(kv->v, 2, 0, P + T);
    }
    /* fused softmax(q k^T / sqrt(hs) + causal mask) v, the mask aligned to the P cached keys, with
     * attn_dropout's dropout on the probabilities (drawn as the module would draw it) in training */
    nb_dropout_mod *ad = a->attn_dropout;
    nb_tensor *y = nb_scaled_dot_product_attention(q, k, v, NULL, ad->base.training ? ad->p : 0, true,
                                                   1.0 / sqrt((double)hs), ad->gen); /* [B, nh, T, hs] */
    y = nb_reshape(nb_transpose(y, 1, 2), NB_DIMS(B, T, C));
    y = nb_linear_forward(a->c_proj, y);
    return nb_dropout_forward(a->resid_dropout, y);
}

static nb_tensor *block_forward(nb_gpt_block *b, nb_tensor *x, kv_cache *kv)
{
    x = nb_add(x, attn_forward(b->attn, nb_layer_norm_forward(b->ln_1, x), kv));
    nb_tensor *h = nb_linear_forward(b->mlp->c_fc, nb_layer_norm_forward(b->ln_2, x));
    h = nb_gelu_forward(b->mlp->gelu, h);
    h = nb_linear_forward(b->mlp->c_proj, h);
    return nb_add(x, nb_dropout_forward(b->mlp->dropout, h));
}

/* Runs the transformer on idx [B, T] starting at position `pos0` (KV-cached generation). */
static nb_tensor *gpt_logits(nb_gpt *g, const nb_tensor *idx, int64_t pos0, kv_cache *caches)
{
    int64_t T = nb_tensor_size(idx, 1);
    nb_tensor *pos = nb_arange((double)pos0, (double)(pos0 + T), 1, NB_I64);
    nb_tensor *x = nb_add(nb_embedding_forward(g->wte, idx), nb_embedding_forward(g->wpe, pos));
    x = nb_dropout_forward(g->drop, x);
    for (int i = 0; i < nb_module_list_count(g->h); i++)
        x = block_forward((nb_gpt_block *)nb_module_list_at(g->h, i), x, caches ? &caches[i] : NULL);
    x = nb_layer_norm_forward(g->ln_f, x);
    return nb_linear(x, g->lm_head->weight, NULL); /* lm_head, tied to wte */
}

nb_tensor *nb_gpt_forward(nb_gpt *g, const nb_tensor *idx)
{
    if (nb_tensor_ndim(idx) != 2)
        nb_fail("nb_gpt_forward: idx must be [B, T], got %d dims", nb_tensor_ndim(idx));
    int64_t T = nb_tensor_size(idx, 1);
    if (T > g->config.block_size)
        nb_fail("nb_gpt_forward: cannot forward a sequence of length %lld, block size is only %lld", (long long)T,
                (long long)g->config.block_size);
    int scope = nb_scope_begin();
    return nb_scope_return(scope, gpt_logits(g, idx, 0, NULL));
}

nb_tensor *nb_gpt_loss(const nb_tensor *logits, const nb_tensor *targets)
{
    int64_t V = nb_tensor_size(logits, -1), N = nb_tensor_numel(targets);
    int scope = nb_scope_begin();
    nb_tensor *l = nb_cross_entropy(nb_reshape(logits, NB_DIMS(N, V)), nb_reshape(targets, NB_DIMS(N)), NULL);
    return nb_scope_return(scope, l);
}

nb_optimizer *nb_gpt_configure_optimizers(nb_gpt *g, double weight_decay, double lr, double beta1, double beta2)
{
    return nb_module_adamw_new(&g->base, weight_decay, lr, beta1, beta2);
}

/* ---- generation ----------------------------------------------------------------------------- */
nb_sample_opts nb_sample_opts_default(void)
{
    return (nb_sample_opts){.max_new_tokens = 500, .temperature = 1.0, .top_k = 0, .top_p = 1.0, .use_kv_cache = true};
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

int64_t nb_sample_logits(const nb_tensor *row, const nb_sample_opts *o, nb_generator *gen)
{
    if (!(o->temperature > 0))
        nb_fail("nb_sample_logits: temperature must be > 0, got %g", o->temperature);
    if (!(o->top_p > 0 && o->top_p <= 1))
        nb_fail("nb_sample_logits: top_p must be in (0, 1], got %g", o->top_p);
    if (o->top_k < 0)
        nb_fail("nb_sample_logits: top_k must be >= 0, got %lld", (long long)o->top_k);
    int64_t V = nb_tensor_numel(row);
    if (V < 1)
        nb_fail("nb_sample_logits: no logits (an empty row)");
    if (!gen)
        gen = nb_default_generator();
    double *p = malloc((size_t)V * sizeof *p), *sorted = malloc((size_t)V * sizeof *sorted);
    if (!p || !sorted)
        nb_fail("nb_gpt_generate: out of memory");
    nb_tensor_to_doubles(row, p);
    double mx = -INFINITY;
    for (int64_t j = 0; j < V; j++) {
        p[j] /= o->temperature;
        mx = p[j] > mx ? p[j] : mx;
    }
    if (o->top_k > 0 && o->top_k < V) { /* keep the k largest logits */
        memcpy(sorted, p, (size_t)V * sizeof *p);
        qsort(sorted, (size_t)V, sizeof *sorted, cmp_desc);
        double kth = sorted[o->top_k - 1];
        for (int64_t j = 0; j < V; j++)
            if (p[j] < kth)
                p[j] = -INFINITY;
    }
    double s = 0;
    for (int64_t j = 0; j < V; j++)
        s += (p[j] = exp(p[j] - mx));
    for (int64_t j = 0; j < V; j++)
        p[j] /= s;
    if (o->top_p < 1.0) { /* nucleus: smallest set of largest probs with mass >= top_p */
        memcpy(sorted, p, (size_t)V * sizeof *p);
        qsort(sorted, (size_t)V, sizeof *sorted, cmp_desc);
        double mass = 0, cut = 0;
        for (int64_t j = 0; j < V; j++) {
            mass += sorted[j];
            cut = sorted[j];
            if (mass >= o->top_p)
                break;
        }
        s = 0;
        for (int64_t j = 0; j < V; j++)
            s += (p[j] = p[j] >= cut ? p[j] : 0);
        for (int64_t j = 0; j < V; j++)
            p[j] /= s;
    }
    double u = nb_generator_uniform(gen), c = 0;
    int64_t pick = V - 1;
    for (int64_t j = 0; j < V; j++) {
        c += p[j];
        if (u < c && p[j] > 0) {
            pick = j;
            break;
        }
    }
    while (pick > 0 && p[pick] == 0) /* rounding at the top end: last nonzero */
        pick--;
    free(p);
    free(sorted);
    return pick;
}

void nb_gpt_generate(nb_gpt *g, int64_t *ids, int64_t n_ids, const nb_sample_opts *o, nb_generator *gen)
{
    if (n_ids <= 0)
        nb_fail("nb_gpt_generate: need at least one context token");
    if (!(o->temperature > 0))
        nb_fail("nb_gpt_generate: temperature must be > 0, got %g", o->temperature);
    if (!(o->top_p > 0 && o->top_p <= 1))
        nb_fail("nb_gpt_generate: top_p must be in (0, 1], got %g", o->top_p);
    if (!gen)
        gen = nb_default_generator();
    bool was_training = g->base.training, prev = nb_set_grad_enabled(false);
    nb_module_train(&g->base, false);
    const nb_gpt_config *c = &g->config;
    int64_t L = nb_module_list_count(g->h), hs = c->n_embd / c->n_head;
    kv_cache *caches = NULL;
    int keep = nb_scope_begin();
    if (o->use_kv_cache) {
        caches = calloc((size_t)L, sizeof *caches);
        if (!caches)
            nb_fail("nb_gpt_generate: out of memory");
        for (int64_t i = 0; i < L; i++) {
            nb_dtype dt = nb_tensor_dtype(g->wte->weight);
            caches[i].k = nb_zeros(NB_DIMS(1, c->n_head, c->block_size, hs), dt);
            caches[i].v = nb_zeros(NB_DIMS(1, c->n_head, c->block_size, hs), dt);
        }
    }
    int64_t n = n_ids, fed = 0; /* fed: tokens already in the cache */
    for (int64_t step = 0; step < o->max_new_tokens; step++) {
        int scope = nb_scope_begin();
        int64_t start = n > c->block_size ? n - c->block_size : 0;
        bool incremental = caches && start == 0 && fed > 0;
        if (caches && !incremental) /* (re)fill the cache from the cropped context */
            for (int64_t i = 0; i < L; i++)
                caches[i].len = 0;
        int64_t from = incremental ? fed : start;
        nb_tensor *idx = nb_from_data(ids + from, NB_DIMS(1, n - from), NB_I64);
        nb_tensor *logits = gpt_logits(g, idx, incremental ? fed : 0, caches);
        fed = caches && start == 0 ? n : 0;
        nb_tensor *last = nb_select(nb_select(logits, 0, 0), 0, n - from - 1);
        ids[n++] = nb_sample_logits(last, o, gen);
        nb_scope_end(scope);
    }
    nb_scope_end(keep);
    free(caches);
    nb_module_train(&g->base, was_training);
    nb_set_grad_enabled(prev);
}
