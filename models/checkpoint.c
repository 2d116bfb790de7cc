/* checkpoint.c — model checkpoints and resume state for chargpt, in safetensors. */
#define _DEFAULT_SOURCE /* POSIX: truncate, fork, mkstemp, sigaction */
#include "config.h"
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_FORMAT "nabla-chargpt-1"

/* nb_error(st, "PATH: WHAT<last error>"). The last error is copied first: nb_error formats into
 * the very buffer nb_last_error() points to, so passing it as an argument garbles the message. */
static nb_status prefix_error(nb_status st, const char *path, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", nb_last_error());
    return nb_error(st, "%s: %s%s", path, what, msg);
}

static void meta_i64(nb_state_dict *sd, const char *k, int64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%" PRId64, v);
    nb_state_dict_set_meta(sd, k, b);
}

static void meta_f64(nb_state_dict *sd, const char *k, double v)
{
    char b[64];
    snprintf(b, sizeof b, "%.17g", v);
    nb_state_dict_set_meta(sd, k, b);
}

static nb_status get_i64(const nb_state_dict *sd, const char *path, const char *k, int64_t *out)
{
    const char *s = nb_state_dict_get_meta(sd, k);
    char *end;
    if (!s)
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"%s\" is missing", path, k);
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"%s\" = \"%s\" is not an integer", path, k, s);
    *out = v;
    return NB_OK;
}

static nb_status get_f64(const nb_state_dict *sd, const char *path, const char *k, double *out)
{
    const char *s = nb_state_dict_get_meta(sd, k);
    char *end;
    if (!s)
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"%s\" is missing", path, k);
    *out = strtod(s, &end);
    if (end == s || *end)
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"%s\" = \"%s\" is not a number", path, k, s);
    return NB_OK;
}

/* The model's config: its JSON ("config", with "model") for every kind; a GPT keeps the flat keys
 * older readers know. Then the vocabulary. */
static void put_config(nb_state_dict *sd, const nb_lm_config *lc, const nb_vocab *v)
{
    nb_state_dict_set_meta(sd, "format", CKPT_FORMAT);
    nb_state_dict_set_meta(sd, "model", nb_lm_kind_name(lc->model));
    char *js = nb_lm_config_to_json(lc);
    nb_state_dict_set_meta(sd, "config", js);
    free(js);
    if (lc->model == NB_LM_GPT) {
        nb_gpt_config gc = nb_lm_gpt_config(lc), *c = &gc;
        meta_i64(sd, "n_layer", c->n_layer);
        meta_i64(sd, "n_head", c->n_head);
        meta_i64(sd, "n_embd", c->n_embd);
        meta_i64(sd, "block_size", c->block_size);
        meta_i64(sd, "vocab_size", c->vocab_size);
        meta_f64(sd, "dropout", c->dropout);
        nb_state_dict_set_meta(sd, "bias", c->bias ? "true" : "false");
        nb_state_dict_set_meta(sd, "gelu", c->gelu == NB_GELU_TANH ? "tanh" : "erf");
    }
    char *vs = nb_vocab_to_utf8(v);
    nb_state_dict_set_meta(sd, "vocab", vs);
    free(vs);
}

/* A GPT checkpoint written before the "config" key: the flat keys. */
static nb_status get_legacy_gpt(const nb_state_dict *sd, const char *path, nb_lm_config *lc)
{
    nb_status st;
    nb_gpt_config cc = nb_gpt_config_default(), *c = &cc;
    if ((st = get_i64(sd, path, "n_layer", &c->n_layer)) || (st = get_i64(sd, path, "n_head", &c->n_head)) ||
        (st = get_i64(sd, path, "n_embd", &c->n_embd)) || (st = get_i64(sd, path, "block_size", &c->block_size)) ||
        (st = get_i64(sd, path, "vocab_size", &c->vocab_size)) || (st = get_f64(sd, path, "dropout", &c->dropout)))
        return st;
    const char *bias = nb_state_dict_get_meta(sd, "bias"), *gelu = nb_state_dict_get_meta(sd, "gelu");
    if (!bias || (strcmp(bias, "true") && strcmp(bias, "false")))
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"bias\" must be true or false", path);
    if (!gelu || (strcmp(gelu, "tanh") && strcmp(gelu, "erf")))
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"gelu\" must be tanh or erf", path);
    c->bias = !strcmp(bias, "true");
    c->gelu = !strcmp(gelu, "tanh") ? NB_GELU_TANH : NB_GELU_ERF;
    if (nb_gpt_config_validate(c) != NB_OK)
        return prefix_error(NB_ERR_FORMAT, path, "invalid config: ");
    *lc = nb_lm_config_default(NB_LM_GPT);
    lc->n_layer = c->n_layer, lc->n_head = c->n_head, lc->n_embd = c->n_embd, lc->block_size = c->block_size;
    lc->vocab_size = c->vocab_size, lc->dropout = c->dropout, lc->bias = c->bias, lc->gelu = c->gelu;
    return NB_OK;
}

static nb_status get_config(const nb_state_dict *sd, const char *path, nb_lm_config *c, nb_vocab *v)
{
    const char *fmt = nb_state_dict_get_meta(sd, "format");
    if (!fmt || strcmp(fmt, CKPT_FORMAT))
        return nb_error(NB_ERR_FORMAT, "%s: not a chargpt checkpoint (metadata format \"%s\", expected \"%s\")", path,
                        fmt ? fmt : "(none)", CKPT_FORMAT);
    nb_status st;
    const char *js = nb_state_dict_get_meta(sd, "config"), *model = nb_state_dict_get_meta(sd, "model");
    if (!js) /* no "config": a GPT of an earlier version */
        st = get_legacy_gpt(sd, path, c);
    else if ((st = nb_lm_config_from_json(js, c)) != NB_OK)
        return prefix_error(st, path, "metadata: ");
    if (st != NB_OK)
        return st;
    if (js && c->model == NB_LM_GPT && nb_state_dict_get_meta(sd, "n_layer")) { /* both forms: they must agree */
        nb_lm_config flat;
        if ((st = get_legacy_gpt(sd, path, &flat)) != NB_OK)
            return st;
        char *a = nb_lm_config_to_json(&flat), *b = nb_lm_config_to_json(c);
        bool same = !strcmp(a, b);
        free(a);
        free(b);
        if (!same)
            return nb_error(NB_ERR_FORMAT, "%s: metadata \"config\" and the keys n_layer, n_head, ... describe "
                            "different models", path);
    }
    if (model && strcmp(model, nb_lm_kind_name(c->model)))
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"model\" is \"%s\" but the config's model is \"%s\"", path, model,
                        nb_lm_kind_name(c->model));
    const char *vs = nb_state_dict_get_meta(sd, "vocab");
    if (!vs)
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"vocab\" is missing", path);
    if ((st = nb_vocab_from_utf8(v, vs)) != NB_OK)
        return prefix_error(st, path, "");
    if (v->n != c->vocab_size)
        return nb_error(NB_ERR_FORMAT, "%s: vocabulary has %d characters but vocab_size is %lld", path, v->n,
                        (long long)c->vocab_size);
    return NB_OK;
}

nb_status nb_ckpt_save_lm(const char *path, nb_lm *m, const nb_vocab *v, int64_t iter, double val_loss)
{
    return nb_ckpt_save_lm_ex(path, m, v, iter, val_loss, NULL);
}

nb_status nb_ckpt_save_lm_ex(const char *path, nb_lm *m, const nb_vocab *v, int64_t iter, double val_loss,
                             const char *train_dtype)
{
    nb_state_dict *sd = nb_module_state_dict(m->module);
    put_config(sd, &m->config, v);
    meta_i64(sd, "iter", iter);
    meta_f64(sd, "val_loss", val_loss);
    if (train_dtype)
        nb_state_dict_set_meta(sd, "train_dtype", train_dtype);
    nb_status st = nb_safetensors_save(sd, path);
    nb_state_dict_free(sd);
    return st;
}

nb_status nb_ckpt_save(const char *path, nb_gpt *g, const nb_vocab *v, int64_t iter, double val_loss)
{
    nb_lm m = nb_lm_wrap_gpt(g);
    return nb_ckpt_save_lm(path, &m, v, iter, val_loss);
}

/* The file must hold at least the values of the model its config describes (a lower bound on
 * the parameter count, computed without building it): a corrupt config such as n_embd 65536 in
 * a small file is rejected instead of allocating gigabytes for a model that cannot load. */
static nb_status check_size(const nb_state_dict *sd, const char *path, const nb_lm_config *c)
{
    double have = 0, need = nb_lm_min_params(c);
    for (int i = 0, n = nb_state_dict_count(sd); i < n; i++)
        have += (double)nb_tensor_numel(nb_state_dict_tensor_at(sd, i));
    if (have < need)
        return nb_error(NB_ERR_FORMAT, "%s: the config (n_layer %lld, n_embd %lld, block_size %lld, vocab_size %lld) "
                        "needs at least %.0f parameters, the file holds %.0f values", path, (long long)c->n_layer,
                        (long long)c->n_embd, (long long)c->block_size, (long long)c->vocab_size, need, have);
    return NB_OK;
}

nb_status nb_ckpt_load(const char *path, nb_gpt **g, nb_vocab *v)
{
    return nb_ckpt_load_ex(path, NULL, g, v);
}

nb_status nb_ckpt_load_lm(const char *path, const nb_ckpt_hints *h, nb_lm *out, nb_vocab *v)
{
    memset(out, 0, sizeof *out);
    nb_state_dict *sd, *w = NULL;
    nb_status st = nb_safetensors_load(path, &sd);
    if (st != NB_OK)
        return st;
    nb_lm_config c;
    const char *fmt = nb_state_dict_get_meta(sd, "format");
    if (nb_state_dict_get_meta(sd, "log_rows")) /* resume.safetensors: weights are named model.* */
        st = nb_error(NB_ERR_FORMAT, "%s: a training resume state, not a model checkpoint (use ckpt.safetensors)", path);
    else if (fmt && !strncmp(fmt, "nabla-", 6)) /* ours, or another version of ours */
        st = get_config(sd, path, &c, v);
    else { /* written by PyTorch (nanoGPT's names), with or without metadata */
        nb_gpt_config gc;
        st = nb__ckpt_nanogpt_config(sd, path, h, &gc, v, &w);
        if (st == NB_OK) {
            c = nb_lm_config_default(NB_LM_GPT);
            c.n_layer = gc.n_layer, c.n_head = gc.n_head, c.n_embd = gc.n_embd, c.block_size = gc.block_size;
            c.vocab_size = gc.vocab_size, c.dropout = gc.dropout, c.bias = gc.bias, c.gelu = gc.gelu;
        }
    }
    const nb_state_dict *weights = w ? w : sd;
    if (st == NB_OK && (st = check_size(weights, path, &c)) == NB_OK) {
        nb_lm m;
        nb_lm_init(&m, &c, NULL);
        if ((st = nb_module_load_state_dict(m.module, weights, true)) != NB_OK) {
            st = prefix_error(st, path, "");
            nb_lm_free(&m);
        } else {
            *out = m;
        }
    }
    nb_state_dict_free(w);
    nb_state_dict_free(sd);
    return st;
}

nb_status nb_ckpt_load_ex(const char *path, const nb_ckpt_hints *h, nb_gpt **g, nb_vocab *v)
{
    *g = NULL;
    nb_lm m;
    nb_status st = nb_ckpt_load_lm(path, h, &m, v);
    if (st != NB_OK)
        return st;
    if (!m.gpt) {
        st = nb_error(NB_ERR_FORMAT, "%s: a %s checkpoint, not a GPT", path, nb_lm_kind_name(m.config.model));
        nb_lm_free(&m);
        return st;
    }
    *g = m.gpt;
    return NB_OK;
}

/* ---- resume state --------------------------------------------------------------------------- */
static void put_rng(nb_state_dict *sd, const char *k, const nb_generator *r)
{
    char b[160];
    uint64_t spare;
    memcpy(&spare, &r->spare_normal, sizeof spare);
    snprintf(b, sizeof b, "%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64 ",%016" PRIx64 ",%d,%016" PRIx64, r->s[0],
             r->s[1], r->s[2], r->s[3], (int)r->has_spare, spare);
    nb_state_dict_set_meta(sd, k, b);
}

static nb_status get_rng(const nb_state_dict *sd, const char *path, const char *k, nb_generator *r)
{
    const char *s = nb_state_dict_get_meta(sd, k);
    uint64_t spare;
    int has;
    if (!s || sscanf(s, "%16" SCNx64 ",%16" SCNx64 ",%16" SCNx64 ",%16" SCNx64 ",%d,%16" SCNx64, &r->s[0], &r->s[1],
                     &r->s[2], &r->s[3], &has, &spare) != 6)
        return nb_error(NB_ERR_FORMAT, "%s: metadata \"%s\" is not a generator state", path, k);
    r->has_spare = has != 0;
    memcpy(&r->spare_normal, &spare, sizeof spare);
    return NB_OK;
}

/* Doubles as exact hex floats, comma-separated. */
static char *doubles_text(int n, const double *v)
{
    char *s = malloc((size_t)n * 32 + 1);
    if (!s)
        nb_fail("nb_resume_save: out of memory");
    size_t k = 0;
    s[0] = '\0';
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(s + k, 32, "%s%a", i ? "," : "", v[i]);
    return s;
}

static int parse_doubles(const char *s, double *v, int cap)
{
    int n = 0;
    while (s && *s && n < cap) {
        char *end;
        v[n++] = strtod(s, &end);
        if (end == s)
            return -1;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return -1;
    }
    return n;
}

nb_status nb_resume_save(const char *path, nb_gpt *g, const nb_vocab *v, nb_optimizer *opt,
                         nb_lr_scheduler *sched, const nb_char_data *d, const nb_train_state *ts)
{
    nb_lm m = nb_lm_wrap_gpt(g);
    return nb_resume_save_lm(path, &m, v, opt, sched, d, ts);
}

nb_status nb_resume_save_lm(const char *path, nb_lm *g, const nb_vocab *v, nb_optimizer *opt,
                            nb_lr_scheduler *sched, const nb_char_data *d, const nb_train_state *ts)
{
    int scope = nb_scope_begin();
    nb_state_dict *sd = nb_state_dict_new();
    nb_param_list l;
    nb_module_parameters(g->module, false, &l);
    char name[512];
    for (int i = 0; i < l.n; i++) {
        snprintf(name, sizeof name, "model.%s", l.names[i]);
        nb_state_dict_add(sd, name, l.params[i]);
    }
    if (g->carry.h) /* the RNN's state carried into the next window */
        nb_state_dict_add(sd, "carry.h", nb_contiguous(g->carry.h));
    if (g->carry.c)
        nb_state_dict_add(sd, "carry.c", nb_contiguous(g->carry.c));
    nb_param_list_free(&l);
    for (int k = 0; k < nb_optimizer_state_count(opt); k++) {
        nb_optimizer_state s = nb_optimizer_state_at(opt, k);
        snprintf(name, sizeof name, "optim.%d.%s", s.param, s.name);
        nb_state_dict_add(sd, name, s.tensor);
    }
    if (d->perm)
        nb_state_dict_add(sd, "data.perm", nb_from_data(d->perm, NB_DIMS(d->n_perm), NB_I64));
    put_config(sd, &g->config, v);
    meta_i64(sd, "iter", ts->iter);
    meta_f64(sd, "best_val_loss", ts->best_val_loss);
    meta_i64(sd, "log_rows", ts->log_rows);
    meta_i64(sd, "world_size", ts->world_size > 0 ? ts->world_size : 1);
    meta_i64(sd, "grad_accum", ts->grad_accum > 0 ? ts->grad_accum : 1);
    meta_i64(sd, "data_cursor", d->cursor);
    meta_i64(sd, "data_epoch", d->epoch);
    put_rng(sd, "rng", &ts->rng);
    put_rng(sd, "dropout_rng", nb_lm_dropout_gen(g));
    if (ts->options[0])
        nb_state_dict_set_meta(sd, "train_options", ts->options);
    int ns = nb_lr_scheduler_state_count(sched);
    double *sv = malloc((size_t)(ns ? ns : 1) * sizeof *sv);
    if (!sv)
        nb_fail("nb_resume_save: out of memory");
    nb_lr_scheduler_state_get(sched, sv);
    char *txt = doubles_text(ns, sv);
    free(sv);
    nb_state_dict_set_meta(sd, "scheduler", txt);
    free(txt);
    double lrs[64];
    int ng = nb_optimizer_group_count(opt);
    for (int i = 0; i < ng && i < 64; i++)
        lrs[i] = nb_optimizer_get_lr(opt, i);
    txt = doubles_text(ng, lrs);
    nb_state_dict_set_meta(sd, "group_lrs", txt);
    free(txt);
    nb_status st = nb_safetensors_save(sd, path);
    nb_state_dict_free(sd);
    nb_scope_end(scope);
    return st;
}

/* ---- resume state validation: every field against its real range, before anything changes ---- */
/* A tensor of the file against the live one it will be copied into: the same dtype, and values in
 * range — weights and first moments finite, second moments finite and >= 0, step counts >= 0. */
static nb_status check_resume_tensor(const char *path, const char *name, const nb_tensor *t, const nb_tensor *live,
                                     bool values)
{
    if (nb_tensor_dtype(t) != nb_tensor_dtype(live))
        return nb_error(NB_ERR_FORMAT, "%s: %s is %s, expected %s", path, name, nb_dtype_name(nb_tensor_dtype(t)),
                        nb_dtype_name(nb_tensor_dtype(live)));
    if (!values)
        return NB_OK;
    int64_t n = nb_tensor_numel(t);
    const char *leaf = strrchr(name, '.') ? strrchr(name, '.') + 1 : name;
    bool nonneg = !strcmp(leaf, "exp_avg_sq") || !strcmp(leaf, "max_exp_avg_sq");
    if (nb_tensor_dtype(t) == NB_I64) { /* step */
        const int64_t *v = nb_tensor_data(t);
        for (int64_t i = 0; i < n; i++)
            if (v[i] < 0)
                return nb_error(NB_ERR_FORMAT, "%s: %s = %lld is negative", path, name, (long long)v[i]);
        return NB_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        double x = nb_tensor_dtype(t) == NB_F32 ? (double)((const float *)nb_tensor_data(t))[i]
                                                : ((const double *)nb_tensor_data(t))[i];
        if (!isfinite(x) || (nonneg && x < 0))
            return nb_error(NB_ERR_FORMAT, "%s: %s[%lld] = %g is not %s", path, name, (long long)i, x,
                            nonneg ? "a finite value >= 0" : "finite");
    }
    return NB_OK;
}

/* One scheduler's state (recursively its sub-schedulers') from sv[*at..ns): counts that are
 * integers, last_epoch and step_count >= 0, learning rates finite and >= 0. The layout is
 * nb_lr_scheduler_state_get's; its shape against the live scheduler is checked by _state_set. */
static nb_status check_sched_state(const char *path, const double *sv, int ns, int *at, int depth)
{
    int p = *at;
    if (depth > 8 || p + 5 > ns)
        return nb_error(NB_ERR_FORMAT, "%s: scheduler state is truncated", path);
    double ng = sv[p + 1], nsubs = sv[p + 2], last_epoch = sv[p + 3], steps = sv[p + 4];
    if (!(ng >= 0 && ng <= 64 && ng == floor(ng)) || !(nsubs >= 0 && nsubs <= 8 && nsubs == floor(nsubs)) ||
        p + 5 + 2 * (int)ng > ns)
        return nb_error(NB_ERR_FORMAT, "%s: scheduler state is malformed (%g groups, %g sub-schedulers)", path, ng,
                        nsubs);
    if (!(last_epoch >= 0 && last_epoch < 9e15 && last_epoch == floor(last_epoch)) ||
        !(steps >= 0 && steps < 9e15 && steps == floor(steps)))
        return nb_error(NB_ERR_FORMAT, "%s: scheduler last_epoch %g / step_count %g are not counts >= 0", path,
                        last_epoch, steps);
    for (int k = 0; k < 2 * (int)ng; k++)
        if (!(isfinite(sv[p + 5 + k]) && sv[p + 5 + k] >= 0))
            return nb_error(NB_ERR_FORMAT, "%s: scheduler %s lr %g is not a finite value >= 0", path,
                            k < (int)ng ? "base" : "last", sv[p + 5 + k]);
    *at = p + 5 + 2 * (int)ng;
    for (int i = 0; i < (int)nsubs; i++) {
        nb_status st = check_sched_state(path, sv, ns, at, depth + 1);
        if (st != NB_OK)
            return st;
    }
    return NB_OK;
}

/* The counters, generators and learning rates of a resume state against their ranges. */
static nb_status check_resume_counters(const char *path, const nb_train_state *ts, const double *lrs, int ng,
                                       int64_t cursor, int64_t epoch)
{
    if (ts->iter < 0 || ts->log_rows < 0 || cursor < 0 || epoch < 0)
        return nb_error(NB_ERR_FORMAT, "%s: iter %lld, log_rows %lld, data_cursor %lld, data_epoch %lld: counts must "
                        "be >= 0", path, (long long)ts->iter, (long long)ts->log_rows, (long long)cursor,
                        (long long)epoch);
    if (!(ts->best_val_loss >= 0)) /* a cross-entropy: NaN and negative values are corrupt (+inf: none yet) */
        return nb_error(NB_ERR_FORMAT, "%s: best_val_loss %g is not a loss (>= 0)", path, ts->best_val_loss);
    if (ts->world_size < 1 || ts->world_size > (1 << 24) || ts->grad_accum < 1 || ts->grad_accum > (1 << 20))
        return nb_error(NB_ERR_FORMAT, "%s: world_size %lld / grad_accum %lld out of range (>= 1)", path,
                        (long long)ts->world_size, (long long)ts->grad_accum);
    const nb_generator *r[2] = {&ts->rng, &ts->dropout_rng};
    for (int k = 0; k < 2; k++)
        if ((r[k]->s[0] | r[k]->s[1] | r[k]->s[2] | r[k]->s[3]) == 0)
            return nb_error(NB_ERR_FORMAT, "%s: %s is the all-zero generator state (it would draw only zeros)", path,
                            k ? "dropout_rng" : "rng");
    for (int i = 0; i < ng; i++)
        if (!(isfinite(lrs[i]) && lrs[i] >= 0))
            return nb_error(NB_ERR_FORMAT, "%s: group_lrs[%d] = %g is not a finite learning rate >= 0", path, i, lrs[i]);
    return NB_OK;
}

nb_status nb_resume_load(const char *path, nb_gpt *g, const nb_vocab *v, nb_optimizer *opt,
                         nb_lr_scheduler *sched, nb_char_data *d, nb_train_state *ts)
{
    nb_lm m = nb_lm_wrap_gpt(g);
    return nb_resume_load_lm(path, &m, v, opt, sched, d, ts);
}

/* The saved carried state (or NULL) against the model: [n_layer, B, n_embd], the weights' dtype,
 * both h and c for an LSTM, h alone for a GRU, none for a transformer. */
static nb_status check_carry(const nb_state_dict *sd, const char *path, const nb_lm *g, nb_tensor **h, nb_tensor **c)
{
    *h = nb_state_dict_get(sd, "carry.h"), *c = nb_state_dict_get(sd, "carry.c");
    bool lstm = g->rnn && g->config.cell == NB_CHAR_RNN_LSTM;
    if (!*h && !*c)
        return NB_OK;
    if (!g->rnn || !*h || (lstm != (*c != NULL)))
        return nb_error(NB_ERR_FORMAT, "%s: carried state (carry.h, carry.c) does not fit a %s model", path,
                        nb_lm_kind_name(g->config.model));
    for (int k = 0; k < 2; k++) {
        nb_tensor *t = k ? *c : *h;
        if (t && (nb_tensor_ndim(t) != 3 || nb_tensor_size(t, 0) != g->config.n_layer ||
                  nb_tensor_size(t, 2) != g->config.n_embd || nb_tensor_size(t, 1) < 1 ||
                  (k && nb_tensor_size(t, 1) != nb_tensor_size(*h, 1))))
            return nb_error(NB_ERR_FORMAT, "%s: carry.%c is not [n_layer %lld, B, n_embd %lld]", path, k ? 'c' : 'h',
                            (long long)g->config.n_layer, (long long)g->config.n_embd);
        nb_status st = t ? check_resume_tensor(path, k ? "carry.c" : "carry.h", t, g->rnn->head->weight, true) : NB_OK;
        if (st != NB_OK)
            return st;
    }
    return NB_OK;
}

nb_status nb_resume_load_lm(const char *path, nb_lm *g, const nb_vocab *v, nb_optimizer *opt,
                            nb_lr_scheduler *sched, nb_char_data *d, nb_train_state *ts)
{
    nb_state_dict *sd;
    nb_status st = nb_safetensors_load(path, &sd);
    if (st != NB_OK)
        return st;
    nb_lm_config c;
    nb_vocab fv;
    if ((st = get_config(sd, path, &c, &fv)) != NB_OK)
        goto out;
    char *js_file = nb_lm_config_to_json(&c), *js_live = nb_lm_config_to_json(&g->config);
    bool same = !strcmp(js_file, js_live); /* the keys the kind uses, compared as their JSON */
    if (!same)
        st = nb_error(NB_ERR_MISMATCH, "%s: the resume state is for another model config or vocabulary: it holds %s, "
                      "this run asks for %s", path, js_file, js_live);
    else if (fv.n != v->n || memcmp(fv.cp, v->cp, (size_t)v->n * sizeof v->cp[0]))
        st = nb_error(NB_ERR_MISMATCH, "%s: the resume state is for another model config or vocabulary (the "
                      "vocabulary differs)", path);
    free(js_file);
    free(js_live);
    if (st != NB_OK)
        goto out;
    nb_tensor *carry_h, *carry_c;
    if ((st = check_carry(sd, path, g, &carry_h, &carry_c)) != NB_OK)
        goto out;
    /* validate everything before touching the live state */
    nb_param_list l;
    nb_module_parameters(g->module, false, &l);
    char name[512];
    for (int i = 0; i < l.n && st == NB_OK; i++) {
        snprintf(name, sizeof name, "model.%s", l.names[i]);
        nb_tensor *t = nb_state_dict_get(sd, name);
        if (!t || !nb_tensor_same_shape(t, l.params[i]))
            st = nb_error(NB_ERR_MISMATCH, "%s: %s is missing or has the wrong shape", path, name);
        else
            st = check_resume_tensor(path, name, t, l.params[i], false);
    }
    int nst = nb_optimizer_state_count(opt);
    for (int k = 0; k < nst && st == NB_OK; k++) {
        nb_optimizer_state s = nb_optimizer_state_at(opt, k);
        snprintf(name, sizeof name, "optim.%d.%s", s.param, s.name);
        nb_tensor *t = nb_state_dict_get(sd, name);
        if (!t || !nb_tensor_same_shape(t, s.tensor))
            st = nb_error(NB_ERR_MISMATCH, "%s: %s is missing or has the wrong shape", path, name);
        else
            st = check_resume_tensor(path, name, t, s.tensor, false);
    }
    nb_train_state nts = *ts;
    int64_t cursor = 0, epoch = 0;
    double sv[256], lrs[64];
    int ns = 0, ng = 0;
    if (st == NB_OK)
        st = get_i64(sd, path, "iter", &nts.iter);
    if (st == NB_OK)
        st = get_f64(sd, path, "best_val_loss", &nts.best_val_loss);
    if (st == NB_OK)
        st = get_i64(sd, path, "log_rows", &nts.log_rows);
    nts.world_size = nts.grad_accum = 1; /* optional: older files trained one process, K = 1 */
    if (st == NB_OK && nb_state_dict_get_meta(sd, "world_size"))
        st = get_i64(sd, path, "world_size", &nts.world_size);
    if (st == NB_OK && nb_state_dict_get_meta(sd, "grad_accum"))
        st = get_i64(sd, path, "grad_accum", &nts.grad_accum);
    const char *topts = nb_state_dict_get_meta(sd, "train_options"); /* optional: for warnings only */
    snprintf(nts.options, sizeof nts.options, "%s", topts ? topts : "");
    if (st == NB_OK)
        st = get_i64(sd, path, "data_cursor", &cursor);
    if (st == NB_OK)
        st = get_i64(sd, path, "data_epoch", &epoch);
    if (st == NB_OK)
        st = get_rng(sd, path, "rng", &nts.rng);
    if (st == NB_OK)
        st = get_rng(sd, path, "dropout_rng", &nts.dropout_rng);
    if (st == NB_OK) {
        ns = parse_doubles(nb_state_dict_get_meta(sd, "scheduler"), sv, 256);
        ng = parse_doubles(nb_state_dict_get_meta(sd, "group_lrs"), lrs, 64);
        if (ns < 0 || ng != nb_optimizer_group_count(opt))
            st = nb_error(NB_ERR_FORMAT, "%s: scheduler or learning-rate state is malformed", path);
    }
    int at = 0;
    if (st == NB_OK && (st = check_sched_state(path, sv, ns, &at, 0)) == NB_OK && at != ns)
        st = nb_error(NB_ERR_FORMAT, "%s: scheduler state has %d values, its layout %d", path, ns, at);
    if (st == NB_OK)
        st = check_resume_counters(path, &nts, lrs, ng, cursor, epoch);
    nb_tensor *perm = nb_state_dict_get(sd, "data.perm");
    if (st == NB_OK && perm && (nb_tensor_ndim(perm) != 1 || nb_tensor_dtype(perm) != NB_I64 || cursor < 0 ||
                                cursor > nb_tensor_size(perm, 0)))
        st = nb_error(NB_ERR_FORMAT, "%s: data position is malformed", path);
    if (st == NB_OK && perm) { /* window starts: a batch reads ids[start .. start + block_size] */
        const int64_t *pv = nb_tensor_data(perm), hi = d->n_train - 1 - g->config.block_size;
        for (int64_t i = 0; i < nb_tensor_size(perm, 0) && st == NB_OK; i++)
            if (pv[i] < 0 || pv[i] > hi)
                st = nb_error(NB_ERR_FORMAT, "%s: data.perm[%lld] = %lld is not a window start in [0, %lld]", path,
                              (long long)i, (long long)pv[i], (long long)hi);
    }
    for (int i = 0; i < l.n && st == NB_OK; i++) { /* values last: the cheap checks name the problem first */
        snprintf(name, sizeof name, "model.%s", l.names[i]);
        st = check_resume_tensor(path, name, nb_state_dict_get(sd, name), l.params[i], true);
    }
    for (int k = 0; k < nst && st == NB_OK; k++) {
        nb_optimizer_state s = nb_optimizer_state_at(opt, k);
        snprintf(name, sizeof name, "optim.%d.%s", s.param, s.name);
        st = check_resume_tensor(path, name, nb_state_dict_get(sd, name), s.tensor, true);
    }
    if (st == NB_OK) {
        if ((st = nb_lr_scheduler_state_set(sched, sv, ns)) != NB_OK)
            st = prefix_error(st, path, "");
        else
            for (int i = 0; i < ng; i++)
                nb_optimizer_set_lr(opt, i, lrs[i]);
    }
    if (st == NB_OK) {
        NB_NO_GRAD
        {
            for (int i = 0; i < l.n; i++) {
                snprintf(name, sizeof name, "model.%s", l.names[i]);
                nb_copy_(l.params[i], nb_state_dict_get(sd, name));
            }
            for (int k = 0; k < nst; k++) {
                nb_optimizer_state s = nb_optimizer_state_at(opt, k);
                snprintf(name, sizeof name, "optim.%d.%s", s.param, s.name);
                nb_copy_(s.tensor, nb_state_dict_get(sd, name));
            }
        }
        if (perm) {
            free(d->perm);
            d->n_perm = nb_tensor_size(perm, 0);
            d->perm = malloc((size_t)(d->n_perm ? d->n_perm : 1) * sizeof *d->perm);
            if (!d->perm)
                nb_fail("nb_resume_load: out of memory");
            memcpy(d->perm, nb_tensor_data(perm), (size_t)d->n_perm * sizeof *d->perm);
        }
        d->cursor = cursor;
        d->epoch = epoch;
        *nb_lm_dropout_gen(g) = nts.dropout_rng;
        nb_char_rnn_state_clear(&g->carry);
        int cs = nb_scope_begin(); /* copies: the file's tensors go with sd */
        if (carry_h)
            nb_detach_carry(&g->carry.h, nb_clone(carry_h));
        if (carry_c)
            nb_detach_carry(&g->carry.c, nb_clone(carry_c));
        nb_scope_end(cs);
        *ts = nts;
    }
    nb_param_list_free(&l);
out:
    nb_state_dict_free(sd);
    return st;
}

/* ---- a metadata value from the header alone (chargpt plot's labels) ------------------------- */
bool nb_ckpt_peek_meta(const char *path, const char *key, char *out, size_t cap)
{
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_NONBLOCK); /* a FIFO must not block */
    struct stat sb;
    if (fd < 0)
        return false;
    FILE *f = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? fdopen(fd, "rb") : NULL;
    if (!f) {
        close(fd);
        return false;
    }
    unsigned char b[8];
    uint64_t n = 0;
    bool ok = fread(b, 1, 8, f) == 8;
    for (int i = 7; ok && i >= 0; i--)
        n = n << 8 | b[i];
    ok = ok && n <= NB_SAFETENSORS_MAX_HEADER && n <= (uint64_t)sb.st_size - 8;
    char *h = ok ? malloc(n ? n : 1) : NULL;
    ok = h && fread(h, 1, n, f) == n;
    fclose(f);
    json_t *root = ok ? json_loadb(h, n, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(h);
    const char *v = json_string_value(json_object_get(json_object_get(root, "__metadata__"), key));
    if (v)
        snprintf(out, cap, "%s", v);
    json_decref(root);
    return v != NULL;
}
