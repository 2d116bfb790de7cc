/* char_rnn.c — Karpathy's char-rnn (see char_rnn.h). */
#include "config.h"
#include "char_rnn.h"

#include <stdlib.h>

static const nb_module_type char_rnn_type = {"CharRNN", NULL, NULL};

nb_char_rnn *nb_char_rnn_new(const nb_char_rnn_config *cfg, nb_generator *gen)
{
    if (cfg->vocab_size <= 0 || cfg->n_embd <= 0 || cfg->hidden <= 0 || cfg->n_layers <= 0)
        nb_fail("nb_char_rnn_new: sizes must be positive (vocab %lld, n_embd %lld, hidden %lld, n_layers %d)",
                (long long)cfg->vocab_size, (long long)cfg->n_embd, (long long)cfg->hidden, cfg->n_layers);
    nb_char_rnn *m = calloc(1, sizeof *m);
    if (!m)
        nb_fail("nb_char_rnn_new: out of memory");
    nb_module_init(&m->base, &char_rnn_type);
    m->cfg = *cfg;
    m->embedding = nb_embedding_new(&m->base, "embedding", cfg->vocab_size, cfg->n_embd, gen);
    m->rnn = cfg->cell == NB_CHAR_RNN_GRU
                 ? nb_gru_new(&m->base, "rnn", cfg->n_embd, cfg->hidden, cfg->n_layers, true, true, gen)
                 : nb_lstm_new(&m->base, "rnn", cfg->n_embd, cfg->hidden, cfg->n_layers, true, true, gen);
    m->head = nb_linear_new(&m->base, "head", cfg->hidden, cfg->vocab_size, true, gen);
    return m;
}

nb_tensor *nb_char_rnn_forward(nb_char_rnn *m, const nb_tensor *ids, nb_char_rnn_state *state)
{
    if (nb_tensor_ndim(ids) != 2)
        nb_fail("nb_char_rnn_forward: ids must be [B, T], got %d dims", nb_tensor_ndim(ids));
    int scope = nb_scope_begin();
    nb_tensor *h0 = state ? state->h : NULL, *c0 = state ? state->c : NULL;
    nb_tensor *x = nb_embedding_forward(m->embedding, ids); /* [B, T, E] */
    nb_tensor *hn = NULL, *cn = NULL, *y;
    if (m->rnn->is_lstm)
        y = nb_lstm_forward(m->rnn, x, h0, c0, &hn, &cn); /* [B, T, H]; hn, cn [L, B, H] */
    else
        y = nb_gru_forward(m->rnn, x, h0, &hn);
    nb_tensor *logits = nb_linear_forward(m->head, y); /* [B, T, V] */
    if (state) {                                       /* carried to the next window, no history */
        nb_detach_carry(&state->h, hn);
        nb_detach_carry(&state->c, cn);
    }
    return nb_scope_return(scope, logits);
}

void nb_char_rnn_state_clear(nb_char_rnn_state *s)
{
    nb_detach_carry(&s->h, NULL);
    nb_detach_carry(&s->c, NULL);
}

void nb_char_rnn_generate(nb_char_rnn *m, int64_t *ids, int64_t n_ids, const nb_sample_opts *o, nb_generator *gen)
{
    if (n_ids < 1)
        nb_fail("nb_char_rnn_generate: need at least one prompt id, got %lld", (long long)n_ids);
    bool prev = nb_set_grad_enabled(false), was_training = m->base.training;
    nb_module_train(&m->base, false);
    nb_char_rnn_state st = {NULL, NULL};
    int64_t from = 0, len = n_ids; /* the whole prompt first, then one id at a time */
    for (int64_t i = 0; i < o->max_new_tokens; i++) {
        int scope = nb_scope_begin();
        nb_tensor *x = nb_from_data(ids + from, NB_DIMS(1, len), NB_I64);
        nb_tensor *logits = nb_char_rnn_forward(m, x, &st);                /* [1, len, V] */
        ids[n_ids + i] = nb_sample_logits(nb_select(nb_select(logits, 0, 0), 0, len - 1), o, gen);
        nb_scope_end(scope);
        from = n_ids + i, len = 1;
    }
    nb_char_rnn_state_clear(&st);
    nb_module_train(&m->base, was_training);
    nb_set_grad_enabled(prev);
}
