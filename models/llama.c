/* llama.c — a LLaMA decoder from nabla modules, read side by side with llama2.c's model.py. */
#include "config.h"
#include "llama.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

nb_llama_config nb_llama_config_default(void)
{
    return (nb_llama_config){.dim = 128, .n_layers = 4, .n_heads = 4, .n_kv_heads = 4, .vocab_size = 65,
                             .multiple_of = 32, .max_seq_len = 64, .norm_eps = 1e-5, .rope_theta = 10000.0,
                             .dropout = 0.0, .tie_embeddings = true};
}

nb_status nb_llama_config_validate(const nb_llama_config *c)
{
    if (c->dim <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 || c->vocab_size <= 0 ||
        c->multiple_of <= 0 || c->max_seq_len <= 0)
        return nb_error(NB_ERR_INVALID,
                        "dim %lld, n_layers %lld, n_heads %lld, n_kv_heads %lld, vocab_size %lld, multiple_of %lld, "
                        "max_seq_len %lld must all be positive",
                        (long long)c->dim, (long long)c->n_layers, (long long)c->n_heads, (long long)c->n_kv_heads,
                        (long long)c->vocab_size, (long long)c->multiple_of, (long long)c->max_seq_len);
    if (c->dim > 1 << 16 || c->vocab_size > 1 << 24 || c->n_layers > 1024 || c->max_seq_len > 1 << 20 ||
        c->multiple_of > 1 << 16)
        return nb_error(NB_ERR_INVALID, "config too large");
    if (c->dim % c->n_heads)
        return nb_error(NB_ERR_INVALID, "dim %lld is not divisible by n_heads %lld", (long long)c->dim,
                        (long long)c->n_heads);
    if ((c->dim / c->n_heads) % 2)
        return nb_error(NB_ERR_INVALID, "head size %lld must be even for rotary embeddings",
                        (long long)(c->dim / c->n_heads));
    if (c->n_heads % c->n_kv_heads)
        return nb_error(NB_ERR_INVALID, "n_heads %lld is not divisible by n_kv_heads %lld", (long long)c->n_heads,
                        (long long)c->n_kv_heads);
    if (!(c->norm_eps >= 0))
        return nb_error(NB_ERR_INVALID, "norm_eps %g must be >= 0", c->norm_eps);
    if (!(c->rope_theta > 0) || isinf(c->rope_theta))
        return nb_error(NB_ERR_INVALID, "rope_theta %g must be positive and finite", c->rope_theta);
    if (!(c->dropout >= 0 && c->dropout < 1))
        return nb_error(NB_ERR_INVALID, "dropout %g must be in [0, 1)", c->dropout);
    return NB_OK;
}

int64_t nb_llama_hidden_dim(const nb_llama_config *c)
{
    int64_t hidden = 2 * 4 * c->dim / 3; /* int(2 * (4 * dim) / 3): floor, dim > 0 */
    return c->multiple_of * ((hidden + c->multiple_of - 1) / c->multiple_of);
}


/* ---- modules -------------------------------------------------------------------------------- */
static const nb_module_type attention_type = {"Attention", NULL, NULL};
static const nb_module_type feed_forward_type = {"FeedForward", NULL, NULL};
static const nb_module_type block_type = {"TransformerBlock", NULL, NULL};
static const nb_module_type llama_type = {"Transformer", NULL, NULL};

static void *new_module(size_t size, const nb_module_type *t, nb_module *parent, const char *name)
{
    nb_module *m = calloc(1, size);
    if (!m)
        nb_fail("nb_llama_new: out of memory");
    nb_module_init(m, t);
    nb_module_register_module(parent, name, m);
    return m;
}

static nb_llama_block *block_new(const nb_llama_config *c, nb_llama *m, nb_generator *gen)
{
    int64_t D = c->dim, hs = c->dim / c->n_heads, H = nb_llama_hidden_dim(c);
    nb_llama_block *b = new_module(sizeof *b, &block_type, NULL, NULL);
    nb_llama_attention *a = b->attention = new_module(sizeof *a, &attention_type, &b->base, "attention");
    a->n_heads = c->n_heads, a->n_kv_heads = c->n_kv_heads, a->rope_theta = c->rope_theta;
    a->wq = nb_linear_new(&a->base, "wq", D, c->n_heads * hs, false, gen);
    a->wk = nb_linear_new(&a->base, "wk", D, c->n_kv_heads * hs, false, gen);
    a->wv = nb_linear_new(&a->base, "wv", D, c->n_kv_heads * hs, false, gen);
    a->wo = nb_linear_new(&a->base, "wo", c->n_heads * hs, D, false, gen);
    a->attn_dropout = nb_dropout_new(&a->base, "attn_dropout", c->dropout, &m->dropout_gen);
    a->resid_dropout = nb_dropout_new(&a->base, "resid_dropout", c->dropout, &m->dropout_gen);
    nb_llama_feed_forward *f = b->feed_forward = new_module(sizeof *f, &feed_forward_type, &b->base, "feed_forward");
    f->w1 = nb_linear_new(&f->base, "w1", D, H, false, gen);
    f->w2 = nb_linear_new(&f->base, "w2", H, D, false, gen);
    f->w3 = nb_linear_new(&f->base, "w3", D, H, false, gen);
    f->dropout = nb_dropout_new(&f->base, "dropout", c->dropout, &m->dropout_gen);
    b->attention_norm = nb_rms_norm_new(&b->base, "attention_norm", D, c->norm_eps);
    b->ffn_norm = nb_rms_norm_new(&b->base, "ffn_norm", D, c->norm_eps);
    return b;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* llama2.c's _init_weights: Linear/Embedding weights N(0, 0.02); then w3 and wo (the projections
 * into the residual stream) N(0, 0.02/sqrt(2 n_layers)). RMSNorm weights (1-D) keep their ones. */
static void llama_init(nb_llama *m, nb_generator *gen)
{
    nb_param_list l;
    nb_module_parameters(&m->base, false, &l);
    double proj_std = 0.02 / sqrt(2.0 * (double)m->config.n_layers);
    for (int i = 0; i < l.n; i++) {
        if (nb_tensor_ndim(l.params[i]) < 2)
            continue;
        bool proj = ends_with(l.names[i], "w3.weight") || ends_with(l.names[i], "wo.weight");
        NB_NO_GRAD { nb_normal_(l.params[i], 0.0, proj ? proj_std : 0.02, gen); }
    }
    nb_param_list_free(&l);
}

nb_llama *nb_llama_new(const nb_llama_config *c, nb_generator *gen)
{
    if (nb_llama_config_validate(c) != NB_OK)
        nb_fail("nb_llama_new: invalid config: %s", nb_last_error());
    nb_llama *m = new_module(sizeof *m, &llama_type, NULL, NULL);
    m->config = *c;
    nb_generator_seed(&m->dropout_gen, 0x11a3u);
    m->tok_embeddings = nb_embedding_new(&m->base, "tok_embeddings", c->vocab_size, c->dim, gen);
    m->dropout = nb_dropout_new(&m->base, "dropout", c->dropout, &m->dropout_gen);
    m->layers = nb_module_list_new(&m->base, "layers");
    for (int64_t i = 0; i < c->n_layers; i++)
        nb_module_list_append(m->layers, &block_new(c, m, gen)->base);
    m->norm = nb_rms_norm_new(&m->base, "norm", c->dim, c->norm_eps);
    m->output = nb_linear_new(&m->base, "output", c->dim, c->vocab_size, false, gen);
    if (c->tie_embeddings) /* llama2.c: self.tok_embeddings.weight = self.output.weight */
        m->output->weight = nb_module_set_parameter(&m->output->base, "weight", m->tok_embeddings->weight);
    llama_init(m, gen);
    return m;
}

/* ---- forward -------------------------------------------------------------------------------- */
/* llama2.c's repeat_kv as torch.repeat_interleave on the head dim: [B, kvh, T, hs] ->
 * [B, kvh * n_rep, T, hs], head h of the result being kv head h / n_rep. */
static nb_tensor *repeat_kv(const nb_tensor *x, int64_t n_rep)
{
    if (n_rep == 1)
        return (nb_tensor *)x;
    int64_t B = nb_tensor_size(x, 0), kvh = nb_tensor_size(x, 1), T = nb_tensor_size(x, 2), hs = nb_tensor_size(x, 3);
    nb_tensor *e = nb_expand(nb_unsqueeze(x, 2), NB_DIMS(B, kvh, n_rep, T, hs)); /* [B, kvh, n_rep, T, hs] */
    return nb_reshape(e, NB_DIMS(B, kvh * n_rep, T, hs));                        /* [B, nh, T, hs] */
}

/* Per-layer KV cache for generation: keys (already rotated) and values of the positions so far. */
typedef struct kv_cache {
    nb_tensor *k, *v; /* [1, n_kv_heads, max_seq_len, hs] */
    int64_t len;
} kv_cache;

/* x [B, T, D] at positions pos0 .. pos0+T-1 (pos0 = kv->len with a cache, else 0). */
static nb_tensor *attention_forward(nb_llama_attention *a, const nb_tensor *x, kv_cache *kv)
{
    int64_t B = nb_tensor_size(x, 0), T = nb_tensor_size(x, 1), D = nb_tensor_size(x, 2);
    int64_t nh = a->n_heads, kvh = a->n_kv_heads, hs = D / nh;
    nb_tensor *q = nb_view(nb_linear_forward(a->wq, x), NB_DIMS(B, T, nh, hs));  /* [B, T, nh, hs] */
    nb_tensor *k = nb_view(nb_linear_forward(a->wk, x), NB_DIMS(B, T, kvh, hs)); /* [B, T, kvh, hs] */
    nb_tensor *v = nb_view(nb_linear_forward(a->wv, x), NB_DIMS(B, T, kvh, hs)); /* [B, T, kvh, hs] */
    int64_t P = kv ? kv->len : 0;                                                /* cached positions */
    q = nb_rope(nb_transpose(q, 1, 2), P, a->rope_theta);                      /* [B, nh, T, hs], rotated */
    k = nb_rope(nb_transpose(k, 1, 2), P, a->rope_theta);                      /* [B, kvh, T, hs], rotated */
    v = nb_transpose(v, 1, 2);                                                   /* [B, kvh, T, hs] */
    if (kv) { /* append, then attend over all P + T positions */
        nb_copy_(nb_narrow(kv->k, 2, P, T), k);
        nb_copy_(nb_narrow(kv->v, 2, P, T), v);
        kv->len += T;
        k = nb_narrow(kv->k, 2, 0, P + T); /* [1, kvh, P + T, hs] */
        v = nb_narrow(kv->v, 2, 0, P + T);
    }
    k = repeat_kv(k, nh / kvh);                                                  /* [B, nh, T, hs] */
    v = repeat_kv(v, nh / kvh);                                                  /* [B, nh, T, hs] */
    double scale = 1.0 / sqrt((double)hs);
    nb_dropout_mod *ad = a->attn_dropout; /* dropout on the probabilities in training */
    nb_tensor *y = nb_scaled_dot_product_attention(q, k, v, NULL, ad->base.training ? ad->p : 0, true, scale,
                                                   ad->gen); /* [B, nh, T, hs] */
    y = nb_reshape(nb_transpose(y, 1, 2), NB_DIMS(B, T, D)); /* [B, T, D], heads side by side */
    return nb_dropout_forward(a->resid_dropout, nb_linear_forward(a->wo, y));
}

/* SwiGLU: w2(silu(w1 x) * w3 x). */
static nb_tensor *feed_forward(nb_llama_feed_forward *f, const nb_tensor *x)
{
    nb_tensor *h = nb_mul(nb_silu(nb_linear_forward(f->w1, x)), nb_linear_forward(f->w3, x)); /* [B, T, hidden] */
    return nb_dropout_forward(f->dropout, nb_linear_forward(f->w2, h));              /* [B, T, D] */
}

static nb_tensor *block_forward(nb_llama_block *b, nb_tensor *x, kv_cache *kv)
{
    nb_tensor *h = nb_add(x, attention_forward(b->attention, nb_rms_norm_forward(b->attention_norm, x), kv));
    return nb_add(h, feed_forward(b->feed_forward, nb_rms_norm_forward(b->ffn_norm, h)));
}

/* The transformer on idx [B, T]; with caches (one per layer), T new positions after the cached. */
static nb_tensor *llama_logits(nb_llama *m, const nb_tensor *idx, kv_cache *caches)
{
    nb_tensor *h = nb_embedding_forward(m->tok_embeddings, idx); /* [B, T, D] */
    h = nb_dropout_forward(m->dropout, h);
    for (int i = 0; i < nb_module_list_count(m->layers); i++)
        h = block_forward((nb_llama_block *)nb_module_list_at(m->layers, i), h, caches ? &caches[i] : NULL);
    h = nb_rms_norm_forward(m->norm, h);
    return nb_linear(h, m->output->weight, NULL); /* [B, T, V] */
}

nb_tensor *nb_llama_forward(nb_llama *m, const nb_tensor *idx)
{
    if (nb_tensor_ndim(idx) != 2)
        nb_fail("nb_llama_forward: idx must be [B, T], got %d dims", nb_tensor_ndim(idx));
    int64_t T = nb_tensor_size(idx, 1);
    if (T > m->config.max_seq_len)
        nb_fail("nb_llama_forward: cannot forward a sequence of length %lld, max_seq_len is only %lld", (long long)T,
                (long long)m->config.max_seq_len);
    int scope = nb_scope_begin();
    return nb_scope_return(scope, llama_logits(m, idx, NULL));
}

nb_tensor *nb_llama_loss(const nb_tensor *logits, const nb_tensor *targets)
{
    int64_t V = nb_tensor_size(logits, -1), N = nb_tensor_numel(targets);
    int scope = nb_scope_begin();
    nb_cross_entropy_opts o = nb_cross_entropy_opts_default();
    o.ignore_index = -1;
    nb_tensor *l = nb_cross_entropy(nb_reshape(logits, NB_DIMS(N, V)), nb_reshape(targets, NB_DIMS(N)), &o);
    return nb_scope_return(scope, l);
}

nb_optimizer *nb_llama_configure_optimizers(nb_llama *m, double weight_decay, double lr, double beta1, double beta2)
{
    return nb_module_adamw_new(&m->base, weight_decay, lr, beta1, beta2);
}

/* ---- generation ----------------------------------------------------------------------------- */
void nb_llama_generate(nb_llama *m, int64_t *ids, int64_t n_ids, const nb_sample_opts *o, nb_generator *gen)
{
    if (n_ids <= 0)
        nb_fail("nb_llama_generate: need at least one context token");
    if (!gen)
        gen = nb_default_generator();
    bool was_training = m->base.training, prev = nb_set_grad_enabled(false);
    nb_module_train(&m->base, false);
    const nb_llama_config *c = &m->config;
    int64_t L = c->max_seq_len, n_layers = nb_module_list_count(m->layers), n = n_ids, fed = 0;
    kv_cache *caches = NULL;
    int keep = nb_scope_begin();
    if (o->use_kv_cache) {
        caches = calloc((size_t)n_layers, sizeof *caches);
        if (!caches)
            nb_fail("nb_llama_generate: out of memory");
        nb_dtype dt = nb_tensor_dtype(m->tok_embeddings->weight);
        for (int64_t i = 0; i < n_layers; i++) {
            caches[i].k = nb_zeros(NB_DIMS(1, c->n_kv_heads, L, c->dim / c->n_heads), dt);
            caches[i].v = nb_zeros(NB_DIMS(1, c->n_kv_heads, L, c->dim / c->n_heads), dt);
        }
    }
    for (int64_t step = 0; step < o->max_new_tokens; step++) {
        int scope = nb_scope_begin();
        int64_t start = n > L ? n - L : 0; /* crop the context to max_seq_len */
        /* RoPE positions count from the window's start: once it slides, the cache is refilled */
        bool incremental = caches && start == 0 && fed > 0;
        if (caches && !incremental)
            for (int64_t i = 0; i < n_layers; i++)
                caches[i].len = 0;
        int64_t from = incremental ? fed : start;
        nb_tensor *idx = nb_from_data(ids + from, NB_DIMS(1, n - from), NB_I64);
        nb_tensor *logits = llama_logits(m, idx, caches); /* [1, n - from, V] */
        fed = caches && start == 0 ? n : 0;
        int64_t next = nb_sample_logits(nb_select(nb_select(logits, 0, 0), 0, n - from - 1), o, gen);
        ids[n++] = next;
        nb_scope_end(scope);
    }
    nb_scope_end(keep);
    free(caches);
    nb_module_train(&m->base, was_training);
    nb_set_grad_enabled(prev);
}
