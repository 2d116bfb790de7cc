/* char_rnn.h — Karpathy's char-rnn: a character language model made of an embedding, a
 * multi-layer LSTM (or GRU) and a linear head, trained with truncated backpropagation through
 * time on consecutive windows whose recurrent state is carried from one window to the next.
 *
 * Parameter names (as a torch module with fields embedding, rnn, head would have them):
 *   embedding.weight [V, E], rnn.weight_ih_l{k}, rnn.weight_hh_l{k}, rnn.bias_ih_l{k},
 *   rnn.bias_hh_l{k}, head.weight [V, H], head.bias [V].
 * Shapes: ids [B, T] int → logits [B, T, V]; state h (and c for LSTM) [n_layers, B, H]. */
#ifndef NB_CHAR_RNN_H
#define NB_CHAR_RNN_H

#include "gpt.h" /* nb_sample_opts, nb_sample_logits */
#include "nabla.h"

typedef enum { NB_CHAR_RNN_LSTM, NB_CHAR_RNN_GRU } nb_char_rnn_cell;

typedef struct nb_char_rnn_config {
    int64_t vocab_size; /* V */
    int64_t n_embd;     /* E */
    int64_t hidden;     /* H */
    int n_layers;
    nb_char_rnn_cell cell;
} nb_char_rnn_config;

typedef struct nb_char_rnn {
    nb_module base; /* first member: the model IS a module */
    nb_char_rnn_config cfg;
    nb_embedding_mod *embedding; /* [V, E] */
    nb_rnn_mod *rnn;                 /* batch_first LSTM or GRU, E -> H, n_layers */
    nb_linear_mod *head;             /* H -> V */
} nb_char_rnn;

/* The carried recurrent state. Its tensors belong to the struct (not to any scope): they are
 * replaced by nb_char_rnn_forward and released by nb_char_rnn_state_clear. Start from {NULL}. */
typedef struct nb_char_rnn_state {
    nb_tensor *h, *c; /* [n_layers, B, H]; c stays NULL for a GRU */
} nb_char_rnn_state;

/* Builds the model with PyTorch default init from gen (NULL = default). Free with
 * nb_module_free(&m->base). Misuse: non-positive sizes. */
nb_char_rnn *nb_char_rnn_new(const nb_char_rnn_config *cfg, nb_generator *gen);
/* logits [B, T, V] (new reference) for int ids [B, T]. state NULL: start from zeros and keep
 * nothing. Otherwise the forward starts from *state (zeros while state->h is NULL) and, when it
 * returns, *state holds the final state DETACHED from the graph (nb_detach_carry), ready for the
 * next window: truncated BPTT needs no other call. Misuse: ids not [B, T], a state whose batch
 * size differs from B, out-of-range ids. */
nb_tensor *nb_char_rnn_forward(nb_char_rnn *m, const nb_tensor *ids, nb_char_rnn_state *state);
/* Releases the state's tensors and sets them to NULL (the next forward starts from zeros). */
void nb_char_rnn_state_clear(nb_char_rnn_state *s);
/* Appends o->max_new_tokens ids sampled with nb_sample_logits (temperature, top_k, top_p) to
 * ids[0..n_ids) (n_ids >= 1; the buffer holds n_ids + max_new_tokens): the prompt is read once,
 * then one character per step with the carried state. Runs in eval mode with grad off, restores
 * the training flag. */
void nb_char_rnn_generate(nb_char_rnn *m, int64_t *ids, int64_t n_ids, const nb_sample_opts *o, nb_generator *gen);

#endif
