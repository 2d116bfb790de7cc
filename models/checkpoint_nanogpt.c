/* checkpoint_nanogpt.c — reading GPT checkpoints written by PyTorch with nanoGPT's parameter names
 * (safetensors), with the config and vocabulary in the metadata or supplied by the user. */
#include "config.h"
#include "checkpoint.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPILE_PREFIX "_orig_mod." /* torch.compile's wrapper, kept in nanoGPT's ckpt.pt keys */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The tensors under nanoGPT's names: the torch.compile prefix stripped, the causal-mask buffers
 * (attn.bias of 4 dims, as nanoGPT registers without flash attention; HF's attn.masked_bias)
 * dropped. A new dict in *out. */
static nb_status gather_weights(const nb_state_dict *sd, const char *path, nb_state_dict **out)
{
    nb_state_dict *w = nb_state_dict_new();
    for (int i = 0, n = nb_state_dict_count(sd); i < n; i++) {
        const char *name = nb_state_dict_name_at(sd, i);
        nb_tensor *t = nb_state_dict_tensor_at(sd, i);
        if (!strncmp(name, COMPILE_PREFIX, strlen(COMPILE_PREFIX)))
            name += strlen(COMPILE_PREFIX);
        if ((ends_with(name, ".attn.bias") && nb_tensor_ndim(t) == 4) || ends_with(name, ".attn.masked_bias"))
            continue;
        if (nb_state_dict_contains(w, name)) {
            nb_state_dict_free(w);
            return nb_error(NB_ERR_FORMAT, "%s: tensor \"%s\" appears twice (with and without \"" COMPILE_PREFIX "\")",
                            path, name);
        }
        nb_state_dict_add(w, name, t);
    }
    *out = w;
    return NB_OK;
}

/* a and b hold the same values (shapes already equal). */
static bool same_values(const nb_tensor *a, const nb_tensor *b)
{
    int scope = nb_scope_begin();
    nb_tensor *bb = nb_tensor_dtype(a) == nb_tensor_dtype(b) ? (nb_tensor *)b : nb_to_dtype(b, nb_tensor_dtype(a));
    size_t bytes = (size_t)nb_tensor_numel(a) * nb_dtype_size(nb_tensor_dtype(a));
    bool same = !nb_dtype_is_float(nb_tensor_dtype(a)) && !nb_dtype_is_storage_only(nb_tensor_dtype(a))
                    ? false
                    : !memcmp(nb_tensor_data(a), nb_tensor_data(nb_contiguous(bb)), bytes);
    nb_scope_end(scope);
    return same;
}

/* A 2-dim float tensor of the dict or NULL; *st set when it is there but not a matrix. */
static nb_tensor *matrix(const nb_state_dict *w, const char *path, const char *name, nb_status *st)
{
    nb_tensor *t = nb_state_dict_get(w, name);
    if (t && (nb_tensor_ndim(t) != 2 || !(nb_dtype_is_float(nb_tensor_dtype(t)) || nb_dtype_is_storage_only(nb_tensor_dtype(t))))) {
        *st = nb_error(NB_ERR_FORMAT, "%s: tensor \"%s\" is not a float matrix", path, name);
        return NULL;
    }
    return t;
}

/* The sizes the tensors determine: vocab_size, n_embd, block_size, n_layer, bias. */
static nb_status shapes_config(const nb_state_dict *w, const char *path, nb_gpt_config *c)
{
    nb_status st = NB_OK;
    nb_tensor *wte = matrix(w, path, "transformer.wte.weight", &st), *lm = matrix(w, path, "lm_head.weight", &st);
    nb_tensor *wpe = matrix(w, path, "transformer.wpe.weight", &st);
    if (st != NB_OK)
        return st;
    if (!wte && !lm)
        return nb_error(NB_ERR_FORMAT, "%s: not a chargpt checkpoint (no metadata format \"nabla-chargpt-1\") nor a nanoGPT GPT: "
                        "tensor \"transformer.wte.weight\" (or its tied \"lm_head.weight\") is missing", path);
    if (wte && lm && (!nb_tensor_same_shape(wte, lm) || !same_values(wte, lm)))
        return nb_error(NB_ERR_FORMAT, "%s: \"lm_head.weight\" differs from \"transformer.wte.weight\": an untied "
                        "output layer is not supported (nanoGPT ties them)", path);
    nb_tensor *e = wte ? wte : lm;
    c->vocab_size = nb_tensor_size(e, 0), c->n_embd = nb_tensor_size(e, 1);
    if (!wpe)
        return nb_error(NB_ERR_FORMAT, "%s: not a GPT checkpoint: tensor \"transformer.wpe.weight\" is missing", path);
    if (nb_tensor_size(wpe, 1) != c->n_embd)
        return nb_error(NB_ERR_FORMAT, "%s: \"transformer.wpe.weight\" has %lld columns, the embedding %lld", path,
                        (long long)nb_tensor_size(wpe, 1), (long long)c->n_embd);
    c->block_size = nb_tensor_size(wpe, 0);
    char name[96];
    c->n_layer = 0;
    for (;; c->n_layer++) {
        snprintf(name, sizeof name, "transformer.h.%lld.ln_1.weight", (long long)c->n_layer);
        if (!nb_state_dict_contains(w, name))
            break;
    }
    if (c->n_layer == 0)
        return nb_error(NB_ERR_FORMAT, "%s: not a GPT checkpoint: tensor \"transformer.h.0.ln_1.weight\" is missing",
                        path);
    c->bias = nb_state_dict_contains(w, "transformer.ln_f.bias") ||
              nb_state_dict_contains(w, "transformer.h.0.attn.c_attn.bias");
    return NB_OK;
}

static nb_status json_int(json_t *o, const char *path, const char *k, int64_t *out)
{
    json_t *v = json_object_get(o, k);
    if (!v)
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"config\" lacks \"%s\"", path, k);
    if (!json_is_integer(v))
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"config\": \"%s\" is not an integer", path, k);
    *out = json_integer_value(v);
    return NB_OK;
}

/* nanoGPT's model_args as JSON: n_layer, n_head, n_embd, block_size, vocab_size, bias; optional
 * dropout and gelu ("erf", nanoGPT's nn.GELU(), or "tanh"). Each must agree with the shapes. */
#define CONFIG_MAX 65536
static nb_status json_config(const char *text, const char *path, const nb_gpt_config *shapes, nb_gpt_config *c)
{
    json_error_t jerr;
    /* a few hundred bytes in nanoGPT; a longer one could cost jansson ~50 bytes per byte */
    if (strlen(text) > CONFIG_MAX)
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"config\" is %zu bytes, more than %d", path, strlen(text),
                        CONFIG_MAX);
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!o && json_error_code(&jerr) == json_error_out_of_memory)
        return nb_error(NB_ERR_NOMEM, "%s: out of memory parsing metadata \"config\"", path);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"config\" is not a JSON object", path);
    }
    nb_status st;
    json_t *bias = json_object_get(o, "bias"), *dropout = json_object_get(o, "dropout"),
           *gelu = json_object_get(o, "gelu");
    if ((st = json_int(o, path, "n_layer", &c->n_layer)) || (st = json_int(o, path, "n_head", &c->n_head)) ||
        (st = json_int(o, path, "n_embd", &c->n_embd)) || (st = json_int(o, path, "block_size", &c->block_size)) ||
        (st = json_int(o, path, "vocab_size", &c->vocab_size)))
        ;
    else if (!json_is_boolean(bias))
        st = nb_error(NB_ERR_FORMAT, "%s: metadata \"config\": \"bias\" is %s", path, bias ? "not true/false" : "missing");
    else if (dropout && !json_is_number(dropout))
        st = nb_error(NB_ERR_FORMAT, "%s: metadata \"config\": \"dropout\" is not a number", path);
    else if (gelu && (!json_is_string(gelu) || (strcmp(json_string_value(gelu), "erf") &&
                                                strcmp(json_string_value(gelu), "tanh"))))
        st = nb_error(NB_ERR_FORMAT, "%s: metadata \"config\": \"gelu\" must be \"erf\" or \"tanh\"", path);
    if (st == NB_OK) {
        c->bias = json_is_true(bias);
        c->dropout = dropout ? json_number_value(dropout) : 0.0;
        c->gelu = gelu && !strcmp(json_string_value(gelu), "tanh") ? NB_GELU_TANH : NB_GELU_ERF;
    }
    json_decref(o);
    if (st != NB_OK)
        return st;
    const char *what = c->n_layer != shapes->n_layer       ? "n_layer"
                       : c->n_embd != shapes->n_embd         ? "n_embd"
                       : c->block_size != shapes->block_size ? "block_size"
                       : c->vocab_size != shapes->vocab_size ? "vocab_size"
                       : c->bias != shapes->bias             ? "bias"
                                                             : NULL;
    if (what)
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"config\": \"%s\" disagrees with the tensors (n_layer %lld, "
                        "n_embd %lld, block_size %lld, vocab_size %lld, bias %s)", path, what,
                        (long long)shapes->n_layer, (long long)shapes->n_embd, (long long)shapes->block_size,
                        (long long)shapes->vocab_size, shapes->bias ? "true" : "false");
    return NB_OK;
}

/* Every parameter the config needs is there (named in the error), before a model is built. */
static nb_status check_names(const nb_state_dict *w, const char *path, const nb_gpt_config *c)
{
    static const char *const mods[] = {"ln_1", "attn.c_attn", "attn.c_proj", "ln_2", "mlp.c_fc", "mlp.c_proj"};
    char name[128];
    for (int64_t i = 0; i <= c->n_layer; i++)
        for (int m = 0; m < (i < c->n_layer ? 6 : 1); m++)
            for (int b = 0; b < (c->bias ? 2 : 1); b++) {
                if (i < c->n_layer)
                    snprintf(name, sizeof name, "transformer.h.%lld.%s.%s", (long long)i, mods[m], b ? "bias" : "weight");
                else
                    snprintf(name, sizeof name, "transformer.ln_f.%s", b ? "bias" : "weight");
                if (!nb_state_dict_contains(w, name))
                    return nb_error(NB_ERR_FORMAT, "%s: not a GPT checkpoint: tensor \"%s\" is missing", path, name);
            }
    return NB_OK;
}

static nb_status prefixed(nb_status st, const char *path)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", nb_last_error());
    return nb_error(st, "%s: %s", path, msg);
}

nb_status nb__ckpt_nanogpt_config(const nb_state_dict *sd, const char *path, const nb_ckpt_hints *h,
                                  nb_gpt_config *c, nb_vocab *v, nb_state_dict **weights)
{
    *weights = NULL;
    nb_state_dict *w = NULL;
    nb_status st = gather_weights(sd, path, &w);
    if (st != NB_OK)
        return st;
    nb_gpt_config shapes = nb_gpt_config_default();
    if ((st = shapes_config(w, path, &shapes)) != NB_OK)
        goto fail;
    *c = shapes;
    c->dropout = 0.0, c->gelu = NB_GELU_ERF; /* nanoGPT's nn.GELU() */
    const char *cfg = nb_state_dict_get_meta(sd, "config");
    if (cfg) {
        if ((st = json_config(cfg, path, &shapes, c)) != NB_OK)
            goto fail;
    } else if (h && h->n_head > 0) {
        c->n_head = h->n_head;
    } else {
        st = nb_error(NB_ERR_FORMAT, "%s: no metadata \"config\" (nanoGPT's model_args): give the number of heads "
                      "(--n-head N)", path);
        goto fail;
    }
    if (nb_gpt_config_validate(c) != NB_OK) {
        st = prefixed(NB_ERR_FORMAT, path);
        goto fail;
    }
    if ((st = check_names(w, path, c)) != NB_OK)
        goto fail;
    const char *vs = nb_state_dict_get_meta(sd, "vocab");
    if (vs) {
        if ((st = nb_vocab_from_utf8(v, vs)) != NB_OK) {
            st = prefixed(st, path);
            goto fail;
        }
    } else if (h && h->data_path) { /* nanoGPT's prepare.py: the sorted characters of the text */
        nb_char_data d;
        if ((st = nb_char_data_load(&d, h->data_path, NULL, 0)) != NB_OK)
            goto fail;
        *v = d.vocab;
        nb_char_data_free(&d);
    } else {
        st = nb_error(NB_ERR_FORMAT, "%s: no metadata \"vocab\": give the training text (--data FILE), whose sorted "
                      "characters are the vocabulary", path);
        goto fail;
    }
    if (v->n != c->vocab_size) {
        st = nb_error(NB_ERR_FORMAT, "%s: the vocabulary has %d characters but the model %lld (rows of "
                      "transformer.wte.weight)", path, v->n, (long long)c->vocab_size);
        goto fail;
    }
    *weights = w;
    return NB_OK;
fail:
    nb_state_dict_free(w);
    return st;
}
