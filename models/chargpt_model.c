/* chargpt_model.c — one interface over chargpt's models (see chargpt_model.h): a table of
 * operations per kind, the config's JSON form for the checkpoint metadata. */
#include "config.h"
#include "chargpt_model.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- config --------------------------------------------------------------------------------- */
nb_lm_config nb_lm_config_default(nb_lm_kind kind)
{
    nb_gpt_config g = nb_gpt_config_default();
    nb_llama_config l = nb_llama_config_default();
    nb_lm_config c = {.model = kind, .n_layer = g.n_layer, .n_head = g.n_head, .n_kv_head = l.n_kv_heads,
                      .n_embd = g.n_embd, .block_size = g.block_size, .vocab_size = g.vocab_size,
                      .multiple_of = l.multiple_of, .cell = NB_CHAR_RNN_LSTM, .norm_eps = l.norm_eps,
                      .rope_theta = l.rope_theta, .dropout = g.dropout, .bias = g.bias, .gelu = g.gelu};
    if (kind == NB_LM_LSTM)
        c.n_layer = 2; /* char-rnn's num_layers 2, rnn_size 128 */
    return c;
}

static const char *const k_kind_names[] = {"gpt", "llama", "lstm"};

const char *nb_lm_kind_name(nb_lm_kind kind)
{
    return kind >= NB_LM_GPT && kind <= NB_LM_LSTM ? k_kind_names[kind] : "?";
}

bool nb_lm_kind_parse(const char *name, nb_lm_kind *kind)
{
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, k_kind_names[k])) {
            *kind = (nb_lm_kind)k;
            return true;
        }
    return false;
}

nb_gpt_config nb_lm_gpt_config(const nb_lm_config *c)
{
    nb_gpt_config g = nb_gpt_config_default();
    g.n_layer = c->n_layer, g.n_head = c->n_head, g.n_embd = c->n_embd, g.block_size = c->block_size;
    g.vocab_size = c->vocab_size, g.dropout = c->dropout, g.bias = c->bias, g.gelu = c->gelu;
    return g;
}

nb_llama_config nb_lm_llama_config(const nb_lm_config *c)
{
    nb_llama_config l = nb_llama_config_default();
    l.dim = c->n_embd, l.n_layers = c->n_layer, l.n_heads = c->n_head, l.n_kv_heads = c->n_kv_head;
    l.vocab_size = c->vocab_size, l.multiple_of = c->multiple_of, l.max_seq_len = c->block_size;
    l.norm_eps = c->norm_eps, l.rope_theta = c->rope_theta, l.dropout = c->dropout;
    return l;
}

nb_char_rnn_config nb_lm_rnn_config(const nb_lm_config *c)
{
    return (nb_char_rnn_config){.vocab_size = c->vocab_size, .n_embd = c->n_embd, .hidden = c->n_embd,
                                .n_layers = (int)c->n_layer, .cell = c->cell};
}

nb_status nb_lm_config_validate(const nb_lm_config *c)
{
    if (c->model == NB_LM_GPT) {
        nb_gpt_config g = nb_lm_gpt_config(c);
        return nb_gpt_config_validate(&g);
    }
    if (c->model == NB_LM_LLAMA) {
        nb_llama_config l = nb_lm_llama_config(c);
        return nb_llama_config_validate(&l);
    }
    if (c->model != NB_LM_LSTM)
        return nb_error(NB_ERR_INVALID, "unknown model kind %d", (int)c->model);
    if (c->n_layer <= 0 || c->n_embd <= 0 || c->block_size <= 0 || c->vocab_size <= 0)
        return nb_error(NB_ERR_INVALID,
                        "n_layer %lld, n_embd %lld, block_size %lld, vocab_size %lld must all be positive",
                        (long long)c->n_layer, (long long)c->n_embd, (long long)c->block_size,
                        (long long)c->vocab_size);
    if (c->n_layer > 1024 || c->n_embd > 1 << 16 || c->block_size > 1 << 20 || c->vocab_size > 1 << 24)
        return nb_error(NB_ERR_INVALID, "config too large");
    if (c->cell != NB_CHAR_RNN_LSTM && c->cell != NB_CHAR_RNN_GRU)
        return nb_error(NB_ERR_INVALID, "cell %d is neither lstm nor gru", (int)c->cell);
    return NB_OK;
}

double nb_lm_min_params(const nb_lm_config *c)
{
    double C = (double)c->n_embd, L = (double)c->n_layer, V = (double)c->vocab_size;
    if (c->model == NB_LM_GPT) /* per layer: c_attn 3CC, c_proj CC, mlp 8CC; wte, wpe */
        return 12.0 * L * C * C + (V + (double)c->block_size) * C;
    if (c->model == NB_LM_LLAMA) /* per layer at least wq and wo; the embedding */
        return 2.0 * L * C * C + V * C;
    return 3.0 * L * C * C + 2.0 * V * C; /* GRU's weight_hh 3HH per layer (LSTM 4HH); embedding, head */
}

/* ---- JSON ------------------------------------------------------------------------------------ */
char *nb_lm_config_to_json(const nb_lm_config *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(nb_lm_kind_name(c->model)));
    json_object_set_new(o, "n_layer", json_integer(c->n_layer));
    if (c->model != NB_LM_LSTM)
        json_object_set_new(o, "n_head", json_integer(c->n_head));
    if (c->model == NB_LM_LLAMA)
        json_object_set_new(o, "n_kv_head", json_integer(c->n_kv_head));
    json_object_set_new(o, "n_embd", json_integer(c->n_embd));
    json_object_set_new(o, "block_size", json_integer(c->block_size));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    if (c->model == NB_LM_LSTM)
        json_object_set_new(o, "cell", json_string(c->cell == NB_CHAR_RNN_GRU ? "gru" : "lstm"));
    if (c->model == NB_LM_LLAMA) {
        json_object_set_new(o, "norm_eps", json_real(c->norm_eps));
        json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
        json_object_set_new(o, "multiple_of", json_integer(c->multiple_of));
    }
    if (c->model != NB_LM_LSTM)
        json_object_set_new(o, "dropout", json_real(c->dropout));
    if (c->model == NB_LM_GPT) {
        json_object_set_new(o, "bias", json_boolean(c->bias));
        json_object_set_new(o, "gelu", json_string(c->gelu == NB_GELU_TANH ? "tanh" : "erf"));
    }
    char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    if (!s)
        nb_fail("nb_lm_config_to_json: out of memory");
    return s;
}

/* An optional integer key (absent: *out unchanged). */
static nb_status get_int(json_t *o, const char *k, int64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!v)
        return NB_OK;
    if (!json_is_integer(v))
        return nb_error(NB_ERR_FORMAT, "config \"%s\" is not an integer", k);
    *out = json_integer_value(v);
    return NB_OK;
}

static nb_status get_num(json_t *o, const char *k, double *out)
{
    json_t *v = json_object_get(o, k);
    if (!v)
        return NB_OK;
    if (!json_is_number(v))
        return nb_error(NB_ERR_FORMAT, "config \"%s\" is not a number", k);
    *out = json_number_value(v);
    return NB_OK;
}

/* An optional string key whose value is one of a / b: *out = 0 or 1. */
static nb_status get_choice(json_t *o, const char *k, const char *a, const char *b, int *out)
{
    json_t *v = json_object_get(o, k);
    if (!v)
        return NB_OK;
    const char *s = json_is_string(v) ? json_string_value(v) : NULL;
    if (!s || (strcmp(s, a) && strcmp(s, b)))
        return nb_error(NB_ERR_FORMAT, "config \"%s\" must be \"%s\" or \"%s\"", k, a, b);
    *out = strcmp(s, a) != 0;
    return NB_OK;
}

static nb_status config_fields(json_t *o, nb_lm_config *c)
{
    nb_status st;
    int cell = c->cell == NB_CHAR_RNN_GRU, gelu = c->gelu != NB_GELU_TANH;
    json_t *bias = json_object_get(o, "bias");
    if ((st = get_int(o, "n_layer", &c->n_layer)) || (st = get_int(o, "n_head", &c->n_head)) ||
        (st = get_int(o, "n_kv_head", &c->n_kv_head)) || (st = get_int(o, "n_embd", &c->n_embd)) ||
        (st = get_int(o, "block_size", &c->block_size)) || (st = get_int(o, "vocab_size", &c->vocab_size)) ||
        (st = get_int(o, "multiple_of", &c->multiple_of)) || (st = get_num(o, "norm_eps", &c->norm_eps)) ||
        (st = get_num(o, "rope_theta", &c->rope_theta)) || (st = get_num(o, "dropout", &c->dropout)) ||
        (st = get_choice(o, "cell", "lstm", "gru", &cell)) || (st = get_choice(o, "gelu", "tanh", "erf", &gelu)))
        return st;
    if (bias && !json_is_boolean(bias))
        return nb_error(NB_ERR_FORMAT, "config \"bias\" is not true or false");
    c->bias = bias ? json_is_true(bias) : c->bias;
    c->cell = cell ? NB_CHAR_RNN_GRU : NB_CHAR_RNN_LSTM;
    c->gelu = gelu ? NB_GELU_ERF : NB_GELU_TANH;
    return NB_OK;
}

nb_status nb_lm_config_from_json(const char *text, nb_lm_config *c)
{
    json_error_t jerr;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return nb_error(NB_ERR_FORMAT, "config is not a JSON object (%s)", o ? "another JSON value" : jerr.text);
    }
    nb_lm_kind kind = NB_LM_GPT;
    json_t *m = json_object_get(o, "model");
    nb_status st = NB_OK;
    if (m && (!json_is_string(m) || !nb_lm_kind_parse(json_string_value(m), &kind)))
        st = nb_error(NB_ERR_FORMAT, "config \"model\" must be \"gpt\", \"llama\" or \"lstm\"");
    if (st == NB_OK) {
        *c = nb_lm_config_default(kind);
        st = config_fields(o, c);
    }
    json_decref(o);
    if (st == NB_OK && nb_lm_config_validate(c) != NB_OK) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", nb_last_error());
        st = nb_error(NB_ERR_FORMAT, "invalid %s config: %s", nb_lm_kind_name(c->model), msg);
    }
    return st;
}

/* ---- the operations of each kind ------------------------------------------------------------ */
typedef struct lm_ops {
    void (*build)(nb_lm *m, nb_generator *gen);
    nb_tensor *(*forward)(nb_lm *m, const nb_tensor *idx, bool carry);
    nb_tensor *(*loss)(const nb_tensor *logits, const nb_tensor *targets);
    void (*generate)(nb_lm *m, int64_t *ids, int64_t n_ids, const nb_sample_opts *o, nb_generator *gen);
} lm_ops;

static void gpt_build(nb_lm *m, nb_generator *gen)
{
    nb_gpt_config c = nb_lm_gpt_config(&m->config);
    m->gpt = nb_gpt_new(&c, gen);
    m->module = &m->gpt->base;
}
static nb_tensor *gpt_forward(nb_lm *m, const nb_tensor *idx, bool carry)
{
    (void)carry;
    return nb_gpt_forward(m->gpt, idx);
}
static void gpt_generate(nb_lm *m, int64_t *ids, int64_t n_ids, const nb_sample_opts *o, nb_generator *gen)
{
    nb_gpt_generate(m->gpt, ids, n_ids, o, gen);
}

static void llama_build(nb_lm *m, nb_generator *gen)
{
    nb_llama_config c = nb_lm_llama_config(&m->config);
    m->llama = nb_llama_new(&c, gen);
    m->module = &m->llama->base;
}
static nb_tensor *llama_forward(nb_lm *m, const nb_tensor *idx, bool carry)
{
    (void)carry;
    return nb_llama_forward(m->llama, idx);
}
static void llama_generate(nb_lm *m, int64_t *ids, int64_t n_ids, const nb_sample_opts *o, nb_generator *gen)
{
    nb_llama_generate(m->llama, ids, n_ids, o, gen);
}

static void rnn_build(nb_lm *m, nb_generator *gen)
{
    nb_char_rnn_config c = nb_lm_rnn_config(&m->config);
    m->rnn = nb_char_rnn_new(&c, gen);
    m->module = &m->rnn->base;
}
static nb_tensor *rnn_forward(nb_lm *m, const nb_tensor *idx, bool carry)
{
    return nb_char_rnn_forward(m->rnn, idx, carry ? &m->carry : NULL);
}
static void rnn_generate(nb_lm *m, int64_t *ids, int64_t n_ids, const nb_sample_opts *o, nb_generator *gen)
{
    nb_char_rnn_generate(m->rnn, ids, n_ids, o, gen);
}

static const lm_ops k_ops[] = {
    [NB_LM_GPT] = {gpt_build, gpt_forward, nb_gpt_loss, gpt_generate},
    [NB_LM_LLAMA] = {llama_build, llama_forward, nb_llama_loss, llama_generate},
    [NB_LM_LSTM] = {rnn_build, rnn_forward, nb_gpt_loss, rnn_generate}, /* plain mean cross-entropy */
};

static const lm_ops *ops(const nb_lm_config *c)
{
    if (c->model < NB_LM_GPT || c->model > NB_LM_LSTM)
        nb_fail("nb_lm: unknown model kind %d", (int)c->model);
    return &k_ops[c->model];
}

void nb_lm_init(nb_lm *m, const nb_lm_config *c, nb_generator *gen)
{
    if (nb_lm_config_validate(c) != NB_OK)
        nb_fail("nb_lm_init: invalid %s config: %s", nb_lm_kind_name(c->model), nb_last_error());
    memset(m, 0, sizeof *m);
    m->config = *c;
    nb_generator_seed(&m->rnn_gen, 0x6e6eu);
    ops(c)->build(m, gen);
}

nb_lm nb_lm_wrap_gpt(nb_gpt *g)
{
    nb_lm m;
    memset(&m, 0, sizeof m);
    m.config = nb_lm_config_default(NB_LM_GPT);
    const nb_gpt_config *gc = &g->config;
    m.config.n_layer = gc->n_layer, m.config.n_head = gc->n_head, m.config.n_embd = gc->n_embd;
    m.config.block_size = gc->block_size, m.config.vocab_size = gc->vocab_size, m.config.dropout = gc->dropout;
    m.config.bias = gc->bias, m.config.gelu = gc->gelu;
    m.gpt = g;
    m.module = &g->base;
    nb_generator_seed(&m.rnn_gen, 0x6e6eu);
    return m;
}

void nb_lm_free(nb_lm *m)
{
    nb_char_rnn_state_clear(&m->carry);
    if (m->module)
        nb_module_free(m->module);
    memset(m, 0, sizeof *m);
}

nb_generator *nb_lm_dropout_gen(nb_lm *m)
{
    return m->gpt ? &m->gpt->dropout_gen : m->llama ? &m->llama->dropout_gen : &m->rnn_gen;
}

nb_tensor *nb_lm_forward(nb_lm *m, const nb_tensor *idx, bool carry)
{
    return ops(&m->config)->forward(m, idx, carry);
}

nb_tensor *nb_lm_loss(const nb_lm *m, const nb_tensor *logits, const nb_tensor *targets)
{
    return ops(&m->config)->loss(logits, targets);
}

nb_optimizer *nb_lm_configure_optimizers(nb_lm *m, double weight_decay, double lr, double beta1, double beta2)
{
    if (m->gpt)
        return nb_gpt_configure_optimizers(m->gpt, weight_decay, lr, beta1, beta2);
    return nb_module_adamw_new(m->module, weight_decay, lr, beta1, beta2);
}

void nb_lm_generate(nb_lm *m, int64_t *ids, int64_t n_ids, const nb_sample_opts *o, nb_generator *gen)
{
    ops(&m->config)->generate(m, ids, n_ids, o, gen);
}
