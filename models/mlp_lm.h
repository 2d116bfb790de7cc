/* mlp_lm.h — a character-level MLP language model in the style of Bengio et al. (2003):
 * the previous `context` characters are embedded, concatenated, passed through a tanh hidden
 * layer, and a linear layer gives the logits of the next character.
 *
 * It is the example of README's "Writing a new model in C": a struct whose first member is an
 * nb_module, submodules registered by name, a forward written with nabla ops, nothing freed by
 * hand inside a scope. Shapes: idx [B, context] int64 → logits [B, vocab]. */
#ifndef NB_MLP_LM_H
#define NB_MLP_LM_H

#include "nabla.h"

typedef struct nb_mlp_lm {
    nb_module base;          /* first member: the model IS a module */
    int64_t context, vocab, n_embd, n_hidden;
    nb_embedding_mod *emb;   /* [vocab, n_embd] */
    nb_linear_mod *hidden;       /* [context * n_embd] -> [n_hidden] */
    nb_linear_mod *out;          /* [n_hidden] -> [vocab] */
} nb_mlp_lm;

/* Builds the model with PyTorch default init from gen (NULL = default). Free with
 * nb_module_free(&m->base). Non-positive sizes are misuse. */
nb_mlp_lm *nb_mlp_lm_new(int64_t vocab, int64_t context, int64_t n_embd, int64_t n_hidden, nb_generator *gen);
/* logits [B, vocab] for idx [B, context]. */
nb_tensor *nb_mlp_lm_forward(nb_mlp_lm *m, const nb_tensor *idx);
/* Samples n characters after `ids[0..n_ctx)` (n_ctx >= context) into ids[n_ctx..). */
void nb_mlp_lm_generate(nb_mlp_lm *m, int64_t *ids, int64_t n_ctx, int64_t n, double temperature,
                        nb_generator *gen);

#endif
