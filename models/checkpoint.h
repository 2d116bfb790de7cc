/* checkpoint.h — chargpt's files: the model checkpoint (weights + config + vocabulary in the
 * safetensors metadata, loadable by PyTorch) and the resume state (model, optimizer moments and
 * steps, scheduler, RNG, data position, log position). Every function returns an nb_status with
 * a message in nb_last_error(); saves are atomic (nothing half-written, previous file intact). */
#ifndef NB_CHECKPOINT_H
#define NB_CHECKPOINT_H

#include "chardata.h"
#include "chargpt_model.h"
#include "gpt.h"
#include "nb_lr_scheduler.h"
#include "nb_optim.h"
#include "nb_safetensors.h"
#include "nb_state_dict.h"

nb_status nb_ckpt_save(const char *path, nb_gpt *g, const nb_vocab *v, int64_t iter, double val_loss);
/* Loads a checkpoint: builds the model from its config (*g, free with nb_module_free) and vocab.
 * Same as nb_ckpt_load_ex(path, NULL, g, v). */
nb_status nb_ckpt_load(const char *path, nb_gpt **g, nb_vocab *v);

/* What a foreign checkpoint may lack: the number of heads, and the training text whose sorted
 * distinct characters are the vocabulary (as nanoGPT's prepare.py builds meta.pkl). */
typedef struct nb_ckpt_hints {
    int64_t n_head;        /* 0: unknown */
    const char *data_path; /* NULL: unknown */
} nb_ckpt_hints;

/* Loads chargpt's own checkpoints (metadata format "nabla-chargpt-1") and GPT checkpoints
 * written by PyTorch with nanoGPT's parameter names: transformer.wte/wpe.weight,
 * transformer.h.N.{ln_1,attn.c_attn,attn.c_proj,ln_2,mlp.c_fc,mlp.c_proj}.{weight,bias},
 * transformer.ln_f.*, lm_head.weight (absent, or equal to wte: tied), with or without biases,
 * keys possibly prefixed "_orig_mod." (torch.compile), causal-mask buffers ignored. Their sizes
 * come from the shapes; n_head (and optional dropout, gelu) from metadata "config" (JSON of
 * nanoGPT's model_args: n_layer, n_head, n_embd, block_size, vocab_size, bias — checked against
 * the shapes) or else h->n_head; the vocabulary from metadata "vocab" (the characters in id order,
 * sorted) or else the text at h->data_path. GELU is erf (nanoGPT's) unless config says "tanh".
 * h may be NULL. NB_ERR_FORMAT naming the missing tensor or key for anything that is not a GPT
 * (a chargpt llama or lstm checkpoint: "a llama checkpoint, not a GPT"; see nb_ckpt_load_lm);
 * NB_ERR_IO for unreadable files. *g is NULL on failure. */
nb_status nb_ckpt_load_ex(const char *path, const nb_ckpt_hints *h, nb_gpt **g, nb_vocab *v);

/* checkpoint_nanogpt.c, for nb_ckpt_load_ex: the config, vocabulary and nanoGPT-named weights
 * (a new dict in *weights, sharing sd's tensors) of a foreign checkpoint's loaded dict. */
/* ---- any chargpt model (chargpt_model.h): the GPT functions above and below are these on a GPT ---- */
/* The checkpoint of m: its weights, metadata "format", "model" (gpt|llama|lstm), "config" (the
 * JSON of nb_lm_config_to_json; a GPT also keeps the flat keys n_layer, n_head, ... of earlier
 * versions), "vocab", "iter", "val_loss". */
nb_status nb_ckpt_save_lm(const char *path, nb_lm *m, const nb_vocab *v, int64_t iter, double val_loss);
/* Same, also recording the training's compute dtype ("float32", "bfloat16": chargpt --dtype) as
 * metadata "train_dtype" (NULL: none). The weights are float32 either way. */
nb_status nb_ckpt_save_lm_ex(const char *path, nb_lm *m, const nb_vocab *v, int64_t iter, double val_loss,
                             const char *train_dtype);
/* Loads any chargpt checkpoint into *m (nb_lm_init'ed, free with nb_lm_free; zeroed on failure):
 * "config" names the model (a file without it is a GPT of an earlier version; a foreign file is
 * read as nb_ckpt_load_ex does). Errors as nb_ckpt_load_ex. */
nb_status nb_ckpt_load_lm(const char *path, const nb_ckpt_hints *h, nb_lm *m, nb_vocab *v);

/* The string metadata value `key` of the safetensors file at `path`, from its JSON header only
 * (the tensor data is not read): copied into out (cap >= 1 bytes, truncated to cap - 1). false,
 * with out "", when the file cannot be opened, is not a regular file, its header is malformed or
 * over NB_SAFETENSORS_MAX_HEADER, or it has no such string; never an error message (callers use
 * it for optional information, e.g. `chargpt plot`'s default labels). */
bool nb_ckpt_peek_meta(const char *path, const char *key, char *out, size_t cap);

nb_status nb__ckpt_nanogpt_config(const nb_state_dict *sd, const char *path, const nb_ckpt_hints *h,
                                  nb_gpt_config *c, nb_vocab *v, nb_state_dict **weights);

typedef struct nb_train_state {
    int64_t iter;         /* next iteration to run */
    double best_val_loss;
    int64_t log_rows;     /* data rows in log.csv at this point */
    nb_generator rng;     /* batch sampling generator */
    nb_generator dropout_rng;
    int64_t data_cursor, data_epoch;
    int64_t world_size, grad_accum; /* ranks x micro-batches per step of the run (1 when absent) */
    char options[512];    /* the run's training options as "name value" lines ("" when absent) */
} nb_train_state;

nb_status nb_resume_save(const char *path, nb_gpt *g, const nb_vocab *v, nb_optimizer *opt,
                         nb_lr_scheduler *sched, const nb_char_data *d, const nb_train_state *ts);
/* Restores into an already built model/optimizer/scheduler of the same config (checked: a
 * different config or vocabulary is NB_ERR_MISMATCH) and the data position. */
nb_status nb_resume_load(const char *path, nb_gpt *g, const nb_vocab *v, nb_optimizer *opt,
                         nb_lr_scheduler *sched, nb_char_data *d, nb_train_state *ts);
/* The same for any model. The RNN's carried state m->carry (when set) is saved as carry.h,
 * carry.c and restored; a config that differs from m's (compared as nb_lm_config_to_json) is
 * NB_ERR_MISMATCH naming both. */
nb_status nb_resume_save_lm(const char *path, nb_lm *m, const nb_vocab *v, nb_optimizer *opt,
                            nb_lr_scheduler *sched, const nb_char_data *d, const nb_train_state *ts);
nb_status nb_resume_load_lm(const char *path, nb_lm *m, const nb_vocab *v, nb_optimizer *opt,
                            nb_lr_scheduler *sched, nb_char_data *d, nb_train_state *ts);

#endif
