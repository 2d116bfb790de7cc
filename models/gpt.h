/* gpt.h — a GPT-2 decoder-only transformer written from nabla modules, as nanoGPT's model.py.
 *
 * Parameter names are nanoGPT's (transformer.wte.weight, transformer.h.0.attn.c_attn.weight,
 * lm_head.weight tied to transformer.wte.weight, ...), so checkpoints exchange with PyTorch.
 * Shapes: idx [B, T] int64 token ids with T <= block_size; logits [B, T, vocab_size].
 */
#ifndef NB_GPT_H
#define NB_GPT_H

#include "nb_nn.h"
#include "nb_optim.h"

typedef struct nb_gpt_config {
    int64_t block_size, vocab_size, n_layer, n_head, n_embd;
    double dropout;
    bool bias;           /* biases in Linear and LayerNorm */
    nb_gelu_approx gelu; /* default NB_GELU_TANH (GPT-2); NB_GELU_ERF as current nanoGPT */
} nb_gpt_config;

/* nanoGPT's CPU shakespeare_char config: 4 layers, 4 heads, 128 channels, block 64, no bias,
 * dropout 0, vocab 65. */
nb_gpt_config nb_gpt_config_default(void);
/* NB_OK, or NB_ERR_INVALID with a message naming the bad value (n_embd % n_head != 0, ...). */
nb_status nb_gpt_config_validate(const nb_gpt_config *c);

typedef struct nb_gpt_attn {
    nb_module base;
    nb_linear_mod *c_attn, *c_proj;
    nb_dropout_mod *attn_dropout, *resid_dropout;
    int64_t n_head;
} nb_gpt_attn;

typedef struct nb_gpt_mlp {
    nb_module base;
    nb_linear_mod *c_fc, *c_proj;
    nb_gelu_mod *gelu;
    nb_dropout_mod *dropout;
} nb_gpt_mlp;

typedef struct nb_gpt_block {
    nb_module base;
    nb_layer_norm_mod *ln_1, *ln_2;
    nb_gpt_attn *attn;
    nb_gpt_mlp *mlp;
} nb_gpt_block;

typedef struct nb_gpt {
    nb_module base;
    nb_gpt_config config;
    nb_module *transformer;
    nb_embedding_mod *wte, *wpe;
    nb_dropout_mod *drop;
    nb_module_list_mod *h;
    nb_layer_norm_mod *ln_f;
    nb_linear_mod *lm_head; /* weight is wte's (tied) */
    nb_generator dropout_gen;
} nb_gpt;

/* Builds the model with GPT-2 init (N(0, 0.02), zero biases, c_proj N(0, 0.02/sqrt(2 n_layer)))
 * drawn from gen (NULL = default). Misuse on an invalid config (validate first for user input).
 * Free with nb_module_free(&g->base). */
nb_gpt *nb_gpt_new(const nb_gpt_config *c, nb_generator *gen);

/* logits [B, T, V] for idx [B, T] (int64). Misuse if T > block_size or an id is out of range. */
nb_tensor *nb_gpt_forward(nb_gpt *g, const nb_tensor *idx);
/* Mean cross-entropy of logits [B, T, V] against targets [B, T] (0-dim). */
nb_tensor *nb_gpt_loss(const nb_tensor *logits, const nb_tensor *targets);

/* nanoGPT's configure_optimizers: AdamW (eps 1e-8) with weight decay on every parameter of two or
 * more dims (matmul weights, embeddings) and none on the rest (LayerNorm weights, biases): group 0
 * decays, group 1 (if any) does not. Free with nb_optimizer_free. */
nb_optimizer *nb_gpt_configure_optimizers(nb_gpt *g, double weight_decay, double lr, double beta1, double beta2);

/* ---- generation ----------------------------------------------------------------------------- */
typedef struct nb_sample_opts {
    int64_t max_new_tokens;
    double temperature; /* > 0 */
    int64_t top_k;      /* 0 = off */
    double top_p;       /* 1 = off */
    bool use_kv_cache;  /* default true; identical tokens either way */
} nb_sample_opts;
nb_sample_opts nb_sample_opts_default(void);

/* One id drawn from logits `row` (any shape, read as V = numel values; any float dtype) with one
 * uniform draw of gen (NULL = default): softmax(logits / temperature), restricted first to the
 * top_k largest logits (ties with the k-th kept; 0 = off), then to the smallest set of the largest
 * probabilities whose mass reaches top_p (1 = off), renormalized. max_new_tokens and use_kv_cache
 * are ignored. Misuse: temperature <= 0, top_p outside (0, 1], top_k < 0, no logits. */
int64_t nb_sample_logits(const nb_tensor *row, const nb_sample_opts *o, nb_generator *gen);

/* Appends max_new_tokens sampled ids to `ids` (n_ids given; the buffer holds n_ids +
 * max_new_tokens). The context is cropped to block_size as nanoGPT does. Runs in eval mode with
 * grad off. */
void nb_gpt_generate(nb_gpt *g, int64_t *ids, int64_t n_ids, const nb_sample_opts *o, nb_generator *gen);

#endif
