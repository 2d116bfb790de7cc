/* chargpt_model.h — the character language models chargpt trains, behind one interface: the GPT
 * (gpt.h), the LLaMA-style decoder (llama.h) and the char-RNN (char_rnn.h, LSTM or GRU).
 *
 * nb_lm is a small "model vtable": build, forward, loss, generate, optimizer and the config as the
 * checkpoint's JSON, dispatched on the model kind, so the trainer, `sample`, `eval` and the
 * checkpoint code hold one type. Each call does exactly what the wrapped model's own function does
 * (the GPT path is nb_gpt_new / nb_gpt_forward / nb_gpt_loss / nb_gpt_configure_optimizers).
 *
 * Config names are nanoGPT's and mean the same for every model: n_layer (layers), n_embd (the
 * embedding width; also the RNN's hidden size), n_head (transformers), n_kv_head, multiple_of,
 * norm_eps, rope_theta (llama), block_size (context; the RNN's BPTT length), cell (lstm).
 */
#ifndef NB_CHARGPT_MODEL_H
#define NB_CHARGPT_MODEL_H

#include "char_rnn.h"
#include "gpt.h"
#include "llama.h"

typedef enum { NB_LM_GPT, NB_LM_LLAMA, NB_LM_LSTM } nb_lm_kind;

typedef struct nb_lm_config {
    nb_lm_kind model;
    int64_t n_layer, n_head, n_kv_head, n_embd, block_size, vocab_size, multiple_of;
    nb_char_rnn_cell cell; /* lstm: NB_CHAR_RNN_LSTM or NB_CHAR_RNN_GRU */
    double norm_eps, rope_theta; /* llama */
    double dropout;              /* gpt, llama */
    bool bias;                   /* gpt */
    nb_gelu_approx gelu;         /* gpt */
} nb_lm_config;

/* The defaults of a kind, vocab_size 65: gpt = nb_gpt_config_default; llama =
 * nb_llama_config_default (n_kv_head 4, multiple_of 32, eps 1e-5, theta 10000, tied); lstm = 2
 * layers, n_embd 128 (Karpathy's char-rnn), block_size 64, LSTM cell. */
nb_lm_config nb_lm_config_default(nb_lm_kind kind);
/* "gpt", "llama", "lstm"; and back (false for an unknown name). */
const char *nb_lm_kind_name(nb_lm_kind kind);
bool nb_lm_kind_parse(const char *name, nb_lm_kind *kind);
/* NB_OK, or NB_ERR_INVALID with a message naming the bad value (the wrapped model's rules). */
nb_status nb_lm_config_validate(const nb_lm_config *c);
/* The wrapped models' configs (fields a kind does not use are ignored). */
nb_gpt_config nb_lm_gpt_config(const nb_lm_config *c);
nb_llama_config nb_lm_llama_config(const nb_lm_config *c);
nb_char_rnn_config nb_lm_rnn_config(const nb_lm_config *c);
/* A lower bound on the parameter count of the config (without building it). */
double nb_lm_min_params(const nb_lm_config *c);

/* The config as a JSON object (malloc'd string) with the keys the kind uses: always model,
 * n_layer, n_embd, block_size, vocab_size; gpt adds n_head, dropout, bias, gelu; llama adds
 * n_head, n_kv_head, multiple_of, norm_eps, rope_theta, dropout; lstm adds cell ("lstm"/"gru"). */
char *nb_lm_config_to_json(const nb_lm_config *c);
/* Parses such a JSON text (no "model" key: gpt; a missing key takes the kind's default); validates.
 * NB_ERR_FORMAT (message names the key) for malformed text, wrong types or an invalid config. */
nb_status nb_lm_config_from_json(const char *text, nb_lm_config *c);

/* A model of any kind. Exactly one of gpt / llama / rnn is set; module is its base. carry is the
 * RNN's state carried across consecutive training windows (owned; NULL tensors: zeros). */
typedef struct nb_lm {
    nb_lm_config config;
    nb_module *module;
    nb_gpt *gpt;
    nb_llama *llama;
    nb_char_rnn *rnn;
    nb_char_rnn_state carry;
    nb_generator rnn_gen; /* stands in for the dropout generator of the RNN (it has no dropout) */
} nb_lm;

/* Builds the model (init drawn from gen, NULL = default) into *m. Misuse on an invalid config
 * (validate first for user input). Free with nb_lm_free. */
void nb_lm_init(nb_lm *m, const nb_lm_config *c, nb_generator *gen);
/* An nb_lm view of an existing GPT (borrowed: nb_lm_free on it frees the GPT too, so callers that
 * keep the GPT must not free the view). */
nb_lm nb_lm_wrap_gpt(nb_gpt *g);
/* Frees the model and the carried state; *m is zeroed. */
void nb_lm_free(nb_lm *m);
/* The generator the model's dropout draws from (the RNN: a private one, never drawn from). */
nb_generator *nb_lm_dropout_gen(nb_lm *m);

/* logits [B, T, V] for idx [B, T] int64 (T <= block_size for transformers). carry: the RNN
 * starts from m->carry and leaves its detached final state there (truncated BPTT); false: from
 * zeros, nothing kept. Transformers ignore carry. Misuse as the wrapped forward. */
nb_tensor *nb_lm_forward(nb_lm *m, const nb_tensor *idx, bool carry);
/* Mean cross-entropy of logits [B, T, V] against targets [B, T] (0-dim); the wrapped model's loss. */
nb_tensor *nb_lm_loss(const nb_lm *m, const nb_tensor *logits, const nb_tensor *targets);
/* AdamW with decay on >= 2-dim parameters (nb_module_adamw_new; gpt: nb_gpt_configure_optimizers). */
nb_optimizer *nb_lm_configure_optimizers(nb_lm *m, double weight_decay, double lr, double beta1, double beta2);
/* The wrapped model's generate (nb_gpt_generate, nb_llama_generate, nb_char_rnn_generate: the
 * prompt once, then one id per step with carried state), all with nb_sample_logits. */
void nb_lm_generate(nb_lm *m, int64_t *ids, int64_t n_ids, const nb_sample_opts *o, nb_generator *gen);

#endif
