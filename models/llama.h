/* llama.h — a LLaMA-style decoder-only transformer written from nabla modules, read side by side
 * with Karpathy's llama2.c model.py: RMSNorm pre-norm blocks, rotary position embeddings (no
 * position table), grouped-query attention, SwiGLU feed-forward, no biases anywhere.
 *
 * Parameter names are llama2.c's: tok_embeddings.weight, layers.{i}.attention.{wq,wk,wv,wo}.weight,
 * layers.{i}.feed_forward.{w1,w2,w3}.weight, layers.{i}.attention_norm.weight,
 * layers.{i}.ffn_norm.weight, norm.weight, output.weight (tied to tok_embeddings.weight unless
 * tie_embeddings is false), so a checkpoint loads into a llama2.c-style PyTorch model by name.
 * Shapes: idx [B, T] int64 token ids with T <= max_seq_len; logits [B, T, vocab_size].
 */
#ifndef NB_LLAMA_H
#define NB_LLAMA_H

#include "gpt.h" /* nb_sample_opts, nb_sample_logits */
#include "nb_nn.h"
#include "nb_optim.h"

typedef struct nb_llama_config {
    int64_t dim;         /* n_embd */
    int64_t n_layers, n_heads;
    int64_t n_kv_heads;  /* divides n_heads; each k/v head serves n_heads / n_kv_heads query heads */
    int64_t vocab_size;
    int64_t multiple_of; /* the SwiGLU hidden size is rounded up to a multiple of this */
    int64_t max_seq_len; /* block_size */
    double norm_eps;     /* RMSNorm eps, 1e-5 */
    double rope_theta;   /* 10000 */
    double dropout;      /* 0 */
    bool tie_embeddings; /* output.weight IS tok_embeddings.weight (llama2.c); false: its own */
} nb_llama_config;

/* The char-level size of nb_gpt_config_default: dim 128, 4 layers, 4 heads, 4 kv heads, vocab 65,
 * multiple_of 32 (hidden 352), max_seq_len 64, eps 1e-5, theta 10000, dropout 0, tied. */
nb_llama_config nb_llama_config_default(void);
/* NB_OK, or NB_ERR_INVALID with a message naming the bad value (dim % n_heads, n_heads % n_kv_heads,
 * an odd head size, ...). */
nb_status nb_llama_config_validate(const nb_llama_config *c);
/* llama2.c's FeedForward size: hidden = int(2 * 4 * dim / 3), rounded up to a multiple of
 * multiple_of. */
int64_t nb_llama_hidden_dim(const nb_llama_config *c);

typedef struct nb_llama_attention {
    nb_module base;
    nb_linear_mod *wq, *wk, *wv, *wo;
    nb_dropout_mod *attn_dropout, *resid_dropout;
    int64_t n_heads, n_kv_heads;
    double rope_theta;
} nb_llama_attention;

typedef struct nb_llama_feed_forward {
    nb_module base;
    nb_linear_mod *w1, *w2, *w3;
    nb_dropout_mod *dropout;
} nb_llama_feed_forward;

typedef struct nb_llama_block {
    nb_module base;
    nb_llama_attention *attention;
    nb_llama_feed_forward *feed_forward;
    nb_rms_norm_mod *attention_norm, *ffn_norm;
} nb_llama_block;

typedef struct nb_llama {
    nb_module base;
    nb_llama_config config;
    nb_embedding_mod *tok_embeddings;
    nb_dropout_mod *dropout;
    nb_module_list_mod *layers;
    nb_rms_norm_mod *norm;
    nb_linear_mod *output; /* weight is tok_embeddings.weight when tied */
    nb_generator dropout_gen;
} nb_llama;

/* Builds the model with llama2.c's init drawn from gen (NULL = default): N(0, 0.02) for every
 * Linear and Embedding weight, N(0, 0.02/sqrt(2 n_layers)) for w3 and wo, RMSNorm weights 1.
 * Misuse on an invalid config (validate first for user input). Free with nb_module_free(&m->base). */
nb_llama *nb_llama_new(const nb_llama_config *c, nb_generator *gen);

/* logits [B, T, V] for idx [B, T] (int64), positions 0..T-1. Misuse if T > max_seq_len. */
nb_tensor *nb_llama_forward(nb_llama *m, const nb_tensor *idx);
/* Mean cross-entropy of logits [B, T, V] against targets [B, T] (0-dim); targets equal to -1 are
 * ignored (llama2.c's ignore_index). */
nb_tensor *nb_llama_loss(const nb_tensor *logits, const nb_tensor *targets);

/* llama2.c's configure_optimizers: AdamW (eps 1e-8) with weight decay on every parameter of two or
 * more dims and none on the RMSNorm weights: group 0 decays, group 1 does not. Free with
 * nb_optimizer_free. */
nb_optimizer *nb_llama_configure_optimizers(nb_llama *m, double weight_decay, double lr, double beta1,
                                            double beta2);

/* Appends o->max_new_tokens sampled ids (nb_sample_logits: temperature, top_k, top_p) to `ids`
 * (n_ids >= 1 given; the buffer holds n_ids + max_new_tokens). The context is cropped to
 * max_seq_len as llama2.c's generate does. o->use_kv_cache keeps each layer's rotated keys and
 * values, so a step runs one new position (the same tokens as without it, up to rounding); when
 * the window slides past max_seq_len the cache is refilled from the cropped context (RoPE
 * positions restart at the window). Runs in eval mode with grad off. */
void nb_llama_generate(nb_llama *m, int64_t *ids, int64_t n_ids, const nb_sample_opts *o, nb_generator *gen);

#endif
