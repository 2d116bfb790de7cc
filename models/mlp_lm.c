/* mlp_lm.c — the Bengio-style MLP language model (see mlp_lm.h). */
#include "config.h"
#include "mlp_lm.h"

#include <math.h>
#include <stdlib.h>

static const nb_module_type mlp_lm_type = {"MLPLanguageModel", NULL, NULL};

nb_mlp_lm *nb_mlp_lm_new(int64_t vocab, int64_t context, int64_t n_embd, int64_t n_hidden, nb_generator *gen)
{
    if (vocab <= 0 || context <= 0 || n_embd <= 0 || n_hidden <= 0)
        nb_fail("nb_mlp_lm_new: sizes must be positive (vocab %lld, context %lld, n_embd %lld, n_hidden %lld)",
                (long long)vocab, (long long)context, (long long)n_embd, (long long)n_hidden);
    nb_mlp_lm *m = calloc(1, sizeof *m);
    if (!m)
        nb_fail("nb_mlp_lm_new: out of memory");
    nb_module_init(&m->base, &mlp_lm_type);
    m->context = context, m->vocab = vocab, m->n_embd = n_embd, m->n_hidden = n_hidden;
    /* children register under their names: parameters become "emb.weight", "hidden.bias", ... */
    m->emb = nb_embedding_new(&m->base, "emb", vocab, n_embd, gen);
    m->hidden = nb_linear_new(&m->base, "hidden", context * n_embd, n_hidden, true, gen);
    m->out = nb_linear_new(&m->base, "out", n_hidden, vocab, true, gen);
    return m;
}

nb_tensor *nb_mlp_lm_forward(nb_mlp_lm *m, const nb_tensor *idx)
{
    if (nb_tensor_ndim(idx) != 2 || nb_tensor_size(idx, 1) != m->context)
        nb_fail("nb_mlp_lm_forward: idx must be [B, %lld], got %d dims", (long long)m->context, nb_tensor_ndim(idx));
    int scope = nb_scope_begin(); /* temporaries below are freed when the scope ends */
    int64_t B = nb_tensor_size(idx, 0);
    nb_tensor *e = nb_embedding_forward(m->emb, idx);                 /* [B, context, n_embd] */
    nb_tensor *x = nb_reshape(e, NB_DIMS(B, m->context * m->n_embd)); /* concatenate the context */
    nb_tensor *h = nb_tanh(nb_linear_forward(m->hidden, x));          /* [B, n_hidden] */
    nb_tensor *logits = nb_linear_forward(m->out, h);                 /* [B, vocab] */
    return nb_scope_return(scope, logits);                            /* keep only the result */
}

void nb_mlp_lm_generate(nb_mlp_lm *m, int64_t *ids, int64_t n_ctx, int64_t n, double temperature, nb_generator *gen)
{
    if (n_ctx < m->context)
        nb_fail("nb_mlp_lm_generate: need at least %lld context ids, got %lld", (long long)m->context, (long long)n_ctx);
    bool prev = nb_set_grad_enabled(false);
    for (int64_t i = 0; i < n; i++) {
        int scope = nb_scope_begin();
        int64_t at = n_ctx + i;
        nb_tensor *idx = nb_from_data(ids + at - m->context, NB_DIMS(1, m->context), NB_I64);
        nb_tensor *probs = nb_softmax(nb_mul_scalar(nb_mlp_lm_forward(m, idx), 1.0 / temperature), -1);
        nb_tensor *pick = nb_multinomial(probs, 1, true, gen);
        ids[at] = (int64_t)nb_tensor_item(pick);
        nb_scope_end(scope);
    }
    nb_set_grad_enabled(prev);
}
