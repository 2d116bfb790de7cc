#define _DEFAULT_SOURCE /* mkstemp, mkdtemp, strdup */
/* test_gpt.c — the GPT model (structure, names, init, forward, generation with and without KV
 * cache), the char tokenizer and data loader, and chargpt checkpoints. */
#include "testutil.h"

#include "checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static nb_gpt_config tiny_config(void)
{
    return (nb_gpt_config){.block_size = 16, .vocab_size = 13, .n_layer = 2, .n_head = 2, .n_embd = 16,
                           .dropout = 0, .bias = false, .gelu = NB_GELU_TANH};
}

/* ---- model structure ------------------------------------------------------------------------ */
START_TEST(test_default_config_has_nanogpt_parameter_count)
{
    nb_gpt_config c = nb_gpt_config_default();
    nb_gpt *g = nb_gpt_new(&c, NULL);
    /* nanoGPT's shakespeare_char CPU model without biases: 804,096 parameters (wte tied) */
    ck_assert_int_eq(nb_module_parameter_numel(&g->base), 804096);
    nb_module_free(&g->base);
}
END_TEST

START_TEST(test_parameter_names_are_nanogpts)
{
    nb_gpt_config c = tiny_config();
    c.bias = true;
    nb_gpt *g = nb_gpt_new(&c, NULL);
    nb_param_list l;
    nb_module_parameters(&g->base, true, &l);
    const char *expect[] = {"transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight",
                            "transformer.h.0.ln_1.bias", "transformer.h.0.attn.c_attn.weight",
                            "transformer.h.0.attn.c_attn.bias", "transformer.h.0.attn.c_proj.weight",
                            "transformer.h.0.attn.c_proj.bias", "transformer.h.0.ln_2.weight",
                            "transformer.h.0.ln_2.bias", "transformer.h.0.mlp.c_fc.weight",
                            "transformer.h.0.mlp.c_fc.bias", "transformer.h.0.mlp.c_proj.weight",
                            "transformer.h.0.mlp.c_proj.bias"};
    for (int i = 0; i < 14; i++)
        ck_assert_str_eq(l.names[i], expect[i]);
    ck_assert_str_eq(l.names[l.n - 3], "transformer.ln_f.weight");
    ck_assert_str_eq(l.names[l.n - 1], "lm_head.weight");
    ck_assert_ptr_eq(l.params[l.n - 1], l.params[0]); /* tied to wte */
    nb_param_list_free(&l);
    nb_module_parameters(&g->base, false, &l); /* the tied tensor once */
    ck_assert_str_eq(l.names[l.n - 1], "transformer.ln_f.bias");
    nb_param_list_free(&l);
    nb_module_free(&g->base);
}
END_TEST

START_TEST(test_init_matches_gpt2)
{
    nb_gpt_config c = nb_gpt_config_default();
    nb_gpt *g = nb_gpt_new(&c, NULL);
    double sd_proj = 0.02 / sqrt(2.0 * 4);
    struct { const char *name; double std; } cases[] = {
        {"transformer.h.0.attn.c_attn.weight", 0.02},
        {"transformer.h.1.mlp.c_fc.weight", 0.02},
        {"transformer.h.2.attn.c_proj.weight", sd_proj},
        {"transformer.h.3.mlp.c_proj.weight", sd_proj},
        {"transformer.wpe.weight", 0.02},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        nb_tensor *p = nb_module_get_parameter(&g->base, cases[k].name);
        ck_assert_ptr_nonnull(p);
        int64_t n = nb_tensor_numel(p);
        double *v = malloc((size_t)n * sizeof *v), s = 0, s2 = 0;
        nb_tensor_to_doubles(p, v);
        for (int64_t i = 0; i < n; i++)
            s += v[i], s2 += v[i] * v[i];
        double mean = s / (double)n, sd = sqrt(s2 / (double)n - mean * mean);
        /* the sample std of n normal draws has a relative standard error of 1/sqrt(2n): allow 6 */
        double tol = 6.0 / sqrt(2.0 * (double)n);
        ck_assert_msg(fabs(sd - cases[k].std) < tol * cases[k].std, "%s: std %g, expected %g (tolerance %.2f%%)",
                      cases[k].name, sd, cases[k].std, 100 * tol);
        ck_assert_msg(fabs(mean) < 6.0 * cases[k].std / sqrt((double)n), "%s: mean %g", cases[k].name, mean);
        free(v);
    }
    nb_tensor *ln = nb_module_get_parameter(&g->base, "transformer.h.0.ln_1.weight");
    ck_assert_double_eq(nb_tensor_get(ln, (int64_t[]){5}), 1.0);
    nb_module_free(&g->base);
}
END_TEST

START_TEST(test_config_validation_names_the_problem)
{
    nb_gpt_config c = tiny_config();
    c.n_embd = 15;
    ck_assert_int_eq(nb_gpt_config_validate(&c), NB_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(nb_last_error(), "n_embd 15 is not divisible by n_head 2"));
    c = tiny_config();
    c.dropout = 1.5;
    ck_assert_int_eq(nb_gpt_config_validate(&c), NB_ERR_INVALID);
    c = tiny_config();
    ck_assert_int_eq(nb_gpt_config_validate(&c), NB_OK);
}
END_TEST

/* ---- forward -------------------------------------------------------------------------------- */
START_TEST(test_forward_shapes_and_initial_loss)
{
    nb_gpt_config c = nb_gpt_config_default();
    nb_gpt *g = nb_gpt_new(&c, NULL);
    int scope = nb_scope_begin();
    nb_generator gen;
    nb_generator_seed(&gen, 3);
    nb_tensor *x = nb_randint(0, 65, NB_DIMS(3, 64), NB_I64, &gen), *y = nb_randint(0, 65, NB_DIMS(3, 64), NB_I64, &gen);
    nb_tensor *logits = nb_gpt_forward(g, x);
    tu_assert_shape(logits, NB_DIMS(3, 64, 65));
    double loss = nb_tensor_item(nb_gpt_loss(logits, y));
    /* small init: predictions close to uniform, loss close to ln(65) = 4.174 */
    ck_assert_msg(fabs(loss - log(65.0)) < 0.05, "initial loss %g", loss);
    nb_scope_end(scope);
    nb_module_free(&g->base);
}
END_TEST

START_TEST(test_forward_is_causal)
{
    /* changing a later token must not change earlier positions' logits */
    nb_gpt_config c = tiny_config();
    nb_gpt *g = nb_gpt_new(&c, NULL);
    int scope = nb_scope_begin();
    int64_t a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[8] = {1, 2, 3, 4, 5, 9, 10, 11};
    nb_tensor *la = nb_gpt_forward(g, nb_from_data(a, NB_DIMS(1, 8), NB_I64));
    nb_tensor *lb = nb_gpt_forward(g, nb_from_data(b, NB_DIMS(1, 8), NB_I64));
    tu_assert_close(nb_narrow(la, 1, 0, 5), nb_narrow(lb, 1, 0, 5), 0, 0);
    double d = fabs(nb_tensor_get(la, (int64_t[]){0, 6, 0}) - nb_tensor_get(lb, (int64_t[]){0, 6, 0}));
    ck_assert_msg(d > 0, "later position did not see the changed tokens");
    nb_scope_end(scope);
    nb_module_free(&g->base);
}
END_TEST

START_TEST(test_forward_rejects_long_sequences)
{
    nb_gpt_config c = tiny_config();
    nb_gpt *g = nb_gpt_new(&c, NULL);
    nb_tensor *x = nb_zeros(NB_DIMS(1, 17), NB_I64);
    TU_EXPECT_ERROR("block size is only 16", nb_gpt_forward(g, x));
    int64_t bad[2] = {0, 13};
    nb_tensor *y = nb_from_data(bad, NB_DIMS(1, 2), NB_I64);
    TU_EXPECT_ERROR("index 13 out of range for dim 0 of size 13", nb_gpt_forward(g, y));
    nb_tensor_release(x);
    nb_tensor_release(y);
    nb_module_free(&g->base);
}
END_TEST

START_TEST(test_backward_reaches_every_parameter)
{
    nb_gpt_config c = tiny_config();
    c.bias = true;
    nb_gpt *g = nb_gpt_new(&c, NULL);
    int scope = nb_scope_begin();
    nb_tensor *x = nb_randint(0, 13, NB_DIMS(2, 16), NB_I64, NULL), *y = nb_randint(0, 13, NB_DIMS(2, 16), NB_I64, NULL);
    nb_backward(nb_gpt_loss(nb_gpt_forward(g, x), y), NULL, false);
    nb_param_list l;
    nb_module_parameters(&g->base, false, &l);
    for (int i = 0; i < l.n; i++) {
        nb_tensor *gr = nb_tensor_get_grad(l.params[i]);
        ck_assert_msg(gr != NULL, "%s has no gradient", l.names[i]);
        double s = nb_tensor_item(nb_sum(nb_abs(gr), NB_ALL_AXES, false));
        ck_assert_msg(s > 0 && isfinite(s), "%s: |grad| sum %g", l.names[i], s);
    }
    nb_param_list_free(&l);
    nb_scope_end(scope);
    nb_module_free(&g->base);
}
END_TEST

/* ---- generation ----------------------------------------------------------------------------- */
static void generate(nb_gpt *g, bool cache, uint64_t seed, int64_t *out, int64_t n_new, double top_p, int64_t top_k)
{
    int64_t prompt[3] = {1, 5, 2};
    memcpy(out, prompt, sizeof prompt);
    nb_sample_opts o = nb_sample_opts_default();
    o.max_new_tokens = n_new, o.use_kv_cache = cache, o.top_p = top_p, o.top_k = top_k, o.temperature = 1.0;
    nb_generator gen;
    nb_generator_seed(&gen, seed);
    nb_gpt_generate(g, out, 3, &o, &gen);
}

START_TEST(test_kv_cache_gives_identical_tokens)
{
    nb_gpt_config c = tiny_config();
    nb_generator init;
    nb_generator_seed(&init, 5);
    nb_gpt *g = nb_gpt_new(&c, &init);
    /* sharpen the distribution a little so samples depend on the logits */
    nb_param_list l;
    nb_module_parameters(&g->base, false, &l);
    NB_NO_GRAD { nb_mul_scalar_(l.params[0], 4.0); }
    nb_param_list_free(&l);
    int64_t a[64], b[64]; /* 3 + 40 tokens: crosses block_size 16, so cropping is exercised */
    generate(g, true, 99, a, 40, 1.0, 0);
    generate(g, false, 99, b, 40, 1.0, 0);
    for (int i = 0; i < 43; i++)
        ck_assert_msg(a[i] == b[i], "token %d: with cache %lld, without %lld", i, (long long)a[i], (long long)b[i]);
    int distinct = 0;
    for (int i = 4; i < 43; i++)
        distinct += a[i] != a[i - 1];
    ck_assert_msg(distinct > 5, "samples look degenerate");
    nb_module_free(&g->base);
}
END_TEST

START_TEST(test_top_k_1_is_greedy_and_seeds_repeat)
{
    nb_gpt_config c = tiny_config();
    nb_gpt *g = nb_gpt_new(&c, NULL);
    int64_t a[32], b[32], p[32];
    generate(g, true, 1, a, 10, 1.0, 1);
    generate(g, true, 2, b, 10, 1.0, 1);
    generate(g, true, 3, p, 10, 1e-9, 0); /* tiny nucleus: the single most likely token */
    for (int i = 0; i < 13; i++) {
        ck_assert_int_eq(a[i], b[i]); /* greedy ignores the seed */
        ck_assert_int_eq(a[i], p[i]);
    }
    /* greedy token equals the argmax of the logits */
    int scope = nb_scope_begin();
    nb_tensor *logits = nb_gpt_forward(g, nb_from_data(a, NB_DIMS(1, 3), NB_I64));
    nb_tensor *am = nb_argmax(nb_select(nb_select(logits, 0, 0), 0, 2), 0, false);
    ck_assert_int_eq((int64_t)nb_tensor_item(am), a[3]);
    nb_scope_end(scope);
    int64_t s1[32], s2[32];
    generate(g, true, 7, s1, 10, 0.9, 0);
    generate(g, true, 7, s2, 10, 0.9, 0);
    for (int i = 0; i < 13; i++)
        ck_assert_int_eq(s1[i], s2[i]);
    nb_module_free(&g->base);
}
END_TEST

/* ---- sampling semantics ---------------------------------------------------------------------- */
/* The exact distribution of nb_sample_logits for logits l: softmax(l / T), top-k (ties with the
 * k-th kept), then the nucleus (smallest set of largest probabilities with mass >= top_p). */
static void expected_probs(const double *l, int V, double T, int k, double top_p, double *p)
{
    double mx = -INFINITY, s = 0;
    for (int j = 0; j < V; j++)
        mx = fmax(mx, l[j] / T);
    for (int j = 0; j < V; j++) {
        int above = 0; /* logits strictly larger than l[j] */
        for (int i = 0; i < V; i++)
            above += l[i] > l[j];
        p[j] = (k > 0 && above >= k) ? 0 : exp(l[j] / T - mx);
        s += p[j];
    }
    for (int j = 0; j < V; j++)
        p[j] /= s;
    if (top_p < 1) {
        double q[64];
        for (int j = 0; j < V; j++) { /* mass of the probabilities at least p[j] */
            double m = 0;
            for (int i = 0; i < V; i++)
                m += p[i] > p[j] ? p[i] : 0;
            q[j] = m; /* p[j] is kept when the larger ones do not reach top_p yet */
        }
        s = 0;
        for (int j = 0; j < V; j++)
            s += (p[j] = q[j] < top_p ? p[j] : 0);
        for (int j = 0; j < V; j++)
            p[j] /= s;
    }
}

/* 40,000 seeded draws per case against the exact probabilities: excluded ids never drawn, and a
 * chi-square far below what a wrong rule gives (dividing vs multiplying by the temperature, top-k
 * off by one, the nucleus one token too large or small all move it past 10^3). */
START_TEST(test_sampling_matches_exact_distribution)
{
    const double l[6] = {2.0, 1.0, 0.5, 0.0, -1.0, -3.0};
    struct { double T; int k; double top_p; } cases[] = {
        {1.0, 0, 1.0}, {0.5, 0, 1.0}, {2.0, 0, 1.0}, {1.0, 3, 1.0},
        {1.0, 0, 0.7}, {0.8, 4, 0.9}, {3.0, 2, 1.0}, {1.0, 0, 0.5},
    };
    int scope = nb_scope_begin();
    nb_tensor *row = nb_from_doubles(l, NB_DIMS(6), NB_F32);
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        nb_sample_opts o = nb_sample_opts_default();
        o.temperature = cases[c].T, o.top_k = cases[c].k, o.top_p = cases[c].top_p;
        double p[6];
        expected_probs(l, 6, o.temperature, cases[c].k, o.top_p, p);
        nb_generator gen;
        nb_generator_seed(&gen, 4242 + c);
        const int N = 40000;
        long count[6] = {0};
        for (int i = 0; i < N; i++) {
            int64_t id = nb_sample_logits(row, &o, &gen);
            ck_assert(id >= 0 && id < 6);
            count[id]++;
        }
        double chi2 = 0;
        int df = -1;
        for (int j = 0; j < 6; j++) {
            if (p[j] == 0) {
                ck_assert_msg(count[j] == 0, "case %zu: id %d drawn %ld times, probability 0", c, j, count[j]);
                continue;
            }
            double e = p[j] * N;
            chi2 += (count[j] - e) * (count[j] - e) / e;
            df++;
        }
        /* 1e-6 upper quantiles of chi-square: df <= 5 stays below 36 */
        ck_assert_msg(chi2 < 36, "case %zu (T %g, k %d, top_p %g): chi-square %.1f with %d dof", c, o.temperature,
                      cases[c].k, o.top_p, chi2, df);
    }
    nb_scope_end(scope);
}
END_TEST

/* nanoGPT's configure_optimizers, by name: every >= 2-dim tensor decays, nothing else does. */
START_TEST(test_optimizer_groups_by_name)
{
    nb_gpt_config c = tiny_config();
    c.bias = true;
    nb_gpt *g = nb_gpt_new(&c, NULL);
    nb_optimizer *opt = nb_gpt_configure_optimizers(g, 0.1, 1e-3, 0.9, 0.99);
    ck_assert_int_eq(nb_optimizer_group_count(opt), 2);
    ck_assert_double_eq(nb_optimizer_group_opts(opt, 0).weight_decay, 0.1);
    ck_assert_double_eq(nb_optimizer_group_opts(opt, 1).weight_decay, 0.0);
    nb_param_list l;
    nb_module_parameters(&g->base, false, &l);
    ck_assert_int_eq(nb_optimizer_param_count(opt), l.n);
    int n0 = nb_optimizer_group_param_count(opt, 0), decayed = 0;
    for (int i = 0; i < l.n; i++) {
        int at = -1;
        for (int j = 0; j < l.n; j++)
            if (nb_optimizer_param_at(opt, j) == l.params[i])
                at = j;
        ck_assert_msg(at >= 0, "%s is in no group", l.names[i]);
        const char *nm = l.names[i];
        size_t len = strlen(nm);
        bool is_bias = len > 5 && !strcmp(nm + len - 5, ".bias");
        bool is_ln = strstr(nm, "ln_") != NULL;
        bool should_decay = !is_bias && !is_ln; /* wte, wpe, c_attn, c_proj, c_fc weights */
        ck_assert_msg((at < n0) == should_decay, "%s: in group %d", nm, at < n0 ? 0 : 1);
        decayed += should_decay;
    }
    ck_assert_int_eq(decayed, 2 + 4 * c.n_layer); /* wte, wpe; c_attn, attn c_proj, c_fc, mlp c_proj */
    nb_param_list_free(&l);
    nb_optimizer_free(opt);
    nb_module_free(&g->base);
}
END_TEST

/* Eval mode switches dropout off: with dropout 0.5 in eval mode the loss equals the same weights'
 * loss with dropout 0 (and in training mode it does not). */
START_TEST(test_eval_mode_disables_dropout)
{
    nb_gpt_config c = tiny_config();
    nb_generator init;
    nb_generator_seed(&init, 31);
    nb_gpt *a = nb_gpt_new(&c, &init);
    c.dropout = 0.5;
    nb_generator_seed(&init, 31);
    nb_gpt *b = nb_gpt_new(&c, &init);
    int scope = nb_scope_begin();
    int64_t ids[2 * 8], tg[2 * 8];
    for (int i = 0; i < 16; i++)
        ids[i] = (i * 5 + 1) % 13, tg[i] = (i * 7 + 3) % 13;
    nb_tensor *x = nb_from_data(ids, NB_DIMS(2, 8), NB_I64), *y = nb_from_data(tg, NB_DIMS(2, 8), NB_I64);
    nb_module_train(&a->base, false);
    nb_module_train(&b->base, false);
    double la = nb_tensor_item(nb_gpt_loss(nb_gpt_forward(a, x), y));
    double lb = nb_tensor_item(nb_gpt_loss(nb_gpt_forward(b, x), y));
    ck_assert_double_eq(la, lb);
    nb_module_train(&b->base, true);
    double lt = nb_tensor_item(nb_gpt_loss(nb_gpt_forward(b, x), y));
    ck_assert_msg(lt != la, "dropout 0.5 in training mode left the loss unchanged (%g)", lt);
    nb_scope_end(scope);
    nb_module_free(&a->base);
    nb_module_free(&b->base);
}
END_TEST

/* ---- attention dropout: the fused op against the composite path ---------------------------- */
/* nanoGPT's forward with the attention written out as its slow path (matmul, causal masked_fill,
 * softmax, attn_dropout, matmul): what models/gpt.c computed in training with dropout before the
 * fused op took the dropout too. Every module draws from the model's dropout generator. */
static nb_tensor *composite_logits(nb_gpt *g, const nb_tensor *idx)
{
    int64_t B = nb_tensor_size(idx, 0), T = nb_tensor_size(idx, 1), C = g->config.n_embd;
    int64_t nh = g->config.n_head, hs = C / nh;
    nb_tensor *pos = nb_arange(0, (double)T, 1, NB_I64);
    nb_tensor *x = nb_add(nb_embedding_forward(g->wte, idx), nb_embedding_forward(g->wpe, pos));
    x = nb_dropout_forward(g->drop, x);
    nb_tensor *removed = nb_triu(nb_ones(NB_DIMS(T, T), NB_BOOL), 1); /* key j > query i */
    for (int i = 0; i < nb_module_list_count(g->h); i++) {
        nb_gpt_block *b = (nb_gpt_block *)nb_module_list_at(g->h, i);
        nb_gpt_attn *a = b->attn;
        nb_tensor *qkv = nb_linear_forward(a->c_attn, nb_layer_norm_forward(b->ln_1, x)), *hd[3];
        for (int j = 0; j < 3; j++)
            hd[j] = nb_transpose(nb_view(nb_narrow(qkv, 2, j * C, C), NB_DIMS(B, T, nh, hs)), 1, 2);
        nb_tensor *att = nb_mul_scalar(nb_matmul(hd[0], nb_transpose(hd[1], -2, -1)), 1.0 / sqrt((double)hs));
        att = nb_dropout_forward(a->attn_dropout, nb_softmax(nb_masked_fill(att, removed, -INFINITY), -1));
        nb_tensor *y = nb_reshape(nb_transpose(nb_matmul(att, hd[2]), 1, 2), NB_DIMS(B, T, C));
        x = nb_add(x, nb_dropout_forward(a->resid_dropout, nb_linear_forward(a->c_proj, y)));
        nb_tensor *h = nb_linear_forward(b->mlp->c_fc, nb_layer_norm_forward(b->ln_2, x));
        h = nb_linear_forward(b->mlp->c_proj, nb_gelu_forward(b->mlp->gelu, h));
        x = nb_add(x, nb_dropout_forward(b->mlp->dropout, h));
    }
    return nb_linear(nb_layer_norm_forward(g->ln_f, x), g->lm_head->weight, NULL);
}

/* Training with dropout 0.2: three AdamW steps through nb_gpt_forward (fused attention with
 * dropout) give the losses and weights of three steps through the composite path from the same
 * weights and the same dropout generator state (the same keep masks: drawn in the same order). */
START_TEST(test_dropout_training_matches_composite)
{
    nb_gpt_config c = tiny_config();
    c.dropout = 0.2;
    nb_gpt *m[2];
    nb_optimizer *opt[2];
    for (int k = 0; k < 2; k++) {
        nb_generator init;
        nb_generator_seed(&init, 77);
        m[k] = nb_gpt_new(&c, &init);
        opt[k] = nb_gpt_configure_optimizers(m[k], 0.1, 1e-2, 0.9, 0.99);
    }
    int64_t ids[2 * 12], tg[2 * 12];
    for (int i = 0; i < 24; i++)
        ids[i] = (i * 5 + 1) % 13, tg[i] = (i * 7 + 3) % 13;
    for (int step = 0; step < 3; step++) {
        double loss[2];
        for (int k = 0; k < 2; k++) {
            int scope = nb_scope_begin();
            nb_tensor *x = nb_from_data(ids, NB_DIMS(2, 12), NB_I64), *y = nb_from_data(tg, NB_DIMS(2, 12), NB_I64);
            nb_optimizer_zero_grad(opt[k], true);
            nb_tensor *l = nb_gpt_loss(k ? composite_logits(m[k], x) : nb_gpt_forward(m[k], x), y);
            loss[k] = nb_tensor_item(l);
            nb_backward(l, NULL, false);
            nb_optimizer_step(opt[k]);
            nb_scope_end(scope);
        }
        ck_assert_msg(fabs(loss[0] - loss[1]) <= 1e-6, "step %d: fused loss %.9g, composite %.9g", step, loss[0],
                      loss[1]);
        ck_assert(nb_generator_next(&m[0]->dropout_gen) == nb_generator_next(&m[1]->dropout_gen));
    }
    nb_param_list l0, l1;
    nb_module_parameters(&m[0]->base, false, &l0);
    nb_module_parameters(&m[1]->base, false, &l1);
    for (int i = 0; i < l0.n; i++)
        tu_assert_close(l0.params[i], l1.params[i], 1e-5, 1e-5);
    nb_param_list_free(&l0);
    nb_param_list_free(&l1);
    for (int k = 0; k < 2; k++) {
        nb_optimizer_free(opt[k]);
        nb_module_free(&m[k]->base);
    }
}
END_TEST

/* ---- tokenizer and data --------------------------------------------------------------------- */
START_TEST(test_vocab_and_round_trip)
{
    nb_vocab v;
    const char *text = "hello, w\xc3\xb6rld\n"; /* ö is two bytes, one character */
    ck_assert_int_eq(nb_vocab_build(&v, text, strlen(text)), NB_OK);
    ck_assert_int_eq(v.n, 11); /* \n space , d e h l o r w ö */
    ck_assert_int_eq(v.cp[0], '\n');
    ck_assert_int_eq(v.cp[10], 0xF6);
    int64_t *ids, n;
    ck_assert_int_eq(nb_vocab_encode(&v, text, strlen(text), &ids, &n), NB_OK);
    ck_assert_int_eq(n, 13);
    char *back = nb_vocab_decode(&v, ids, n);
    ck_assert_str_eq(back, text);
    free(back);
    free(ids);
    char *s = nb_vocab_to_utf8(&v);
    nb_vocab v2;
    ck_assert_int_eq(nb_vocab_from_utf8(&v2, s), NB_OK);
    ck_assert_int_eq(v2.n, v.n);
    ck_assert_int_eq(memcmp(v2.cp, v.cp, sizeof(uint32_t) * (size_t)v.n), 0);
    free(s);
    ck_assert_int_eq(nb_vocab_from_utf8(&v2, "ba"), NB_ERR_FORMAT); /* not sorted */
}
END_TEST

START_TEST(test_vocab_errors)
{
    nb_vocab v;
    ck_assert_int_eq(nb_vocab_build(&v, "abc", 3), NB_OK);
    int64_t *ids, n;
    ck_assert_int_eq(nb_vocab_encode(&v, "abZ", 3, &ids, &n), NB_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(nb_last_error(), "character 'Z' (U+005A) at offset 2 is not in the vocabulary"));
    ck_assert_ptr_null(ids);
    ck_assert_int_eq(nb_vocab_build(&v, "a\0b", 3), NB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(nb_last_error(), "NUL byte at offset 1"));
    ck_assert_int_eq(nb_vocab_build(&v, "a\xff", 2), NB_ERR_FORMAT);
    ck_assert_int_eq(nb_vocab_build(&v, "a\xc3", 2), NB_ERR_FORMAT); /* truncated sequence */
    ck_assert_int_eq(nb_vocab_build(&v, "\xc0\xaf", 2), NB_ERR_FORMAT); /* overlong */
    ck_assert_int_eq(nb_vocab_build(&v, "", 0), NB_ERR_INVALID);
}
END_TEST

static char *write_temp(const char *text, size_t len)
{
    char *path = strdup("/tmp/nb-data-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

START_TEST(test_data_split_and_batches)
{
    char text[2000];
    for (int i = 0; i < 2000; i++)
        text[i] = (char)('a' + (i * 7 + i / 13) % 26);
    char *path = write_temp(text, sizeof text);
    nb_char_data d;
    ck_assert_int_eq(nb_char_data_load(&d, path, NULL, 8), NB_OK);
    ck_assert_int_eq(d.n, 2000);
    ck_assert_int_eq(d.n_train, 1800);
    nb_generator g1, g2;
    nb_generator_seed(&g1, 4);
    nb_generator_seed(&g2, 4);
    int scope = nb_scope_begin();
    nb_tensor *x, *y, *x2, *y2;
    nb_char_data_batch(&d, NB_SPLIT_VAL, 5, 8, &g1, &x, &y);
    nb_char_data_batch(&d, NB_SPLIT_VAL, 5, 8, &g2, &x2, &y2);
    tu_assert_close(x, x2, 0, 0);
    const int64_t *xv = nb_tensor_data(x), *yv = nb_tensor_data(y);
    for (int b = 0; b < 5; b++) {
        for (int t = 0; t < 7; t++)
            ck_assert_int_eq(yv[b * 8 + t], xv[b * 8 + t + 1]);
        /* rows come from the val split: find the window in the val ids */
        bool found = false;
        for (int64_t s = d.n_train; s + 8 < d.n && !found; s++)
            found = !memcmp(d.ids + s, xv + b * 8, 8 * sizeof(int64_t));
        ck_assert(found);
    }
    /* epoch mode: every non-overlapping train window exactly once per epoch */
    int64_t windows = (d.n_train - 1) / 8;
    int *seen = calloc((size_t)windows, sizeof *seen);
    for (int64_t k = 0; k < windows; k++) {
        nb_char_data_batch_epoch(&d, 1, 8, &g1, &x, &y);
        for (int64_t w = 0; w < windows; w++)
            if (!memcmp(d.ids + w * 8, nb_tensor_data(x), 8 * sizeof(int64_t)) && !seen[w]) {
                seen[w] = 1;
                break;
            }
    }
    for (int64_t w = 0; w < windows; w++)
        ck_assert_msg(seen[w], "window %lld not visited in the epoch", (long long)w);
    ck_assert_int_eq(d.epoch, 1);
    free(seen);
    nb_scope_end(scope);
    nb_char_data_free(&d);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(test_data_errors)
{
    nb_char_data d;
    ck_assert_int_eq(nb_char_data_load(&d, "/nonexistent/file.txt", NULL, 8), NB_ERR_IO);
    ck_assert_ptr_nonnull(strstr(nb_last_error(), "/nonexistent/file.txt"));
    char *empty = write_temp("", 0);
    ck_assert_int_eq(nb_char_data_load(&d, empty, NULL, 8), NB_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(nb_last_error(), "empty"));
    char *shorty = write_temp("to be or not to be", 18);
    ck_assert_int_eq(nb_char_data_load(&d, shorty, NULL, 8), NB_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(nb_last_error(), "too few for block_size 8"));
    char *binary = write_temp("abc\0\1\2def", 9);
    ck_assert_int_eq(nb_char_data_load(&d, binary, NULL, 1), NB_ERR_FORMAT);
    unlink(empty), unlink(shorty), unlink(binary);
    free(empty), free(shorty), free(binary);
}
END_TEST

/* ---- checkpoints ---------------------------------------------------------------------------- */
START_TEST(test_checkpoint_round_trip)
{
    nb_gpt_config c = tiny_config();
    c.bias = true;
    nb_gpt *g = nb_gpt_new(&c, NULL);
    nb_vocab v = {.n = 13};
    for (int i = 0; i < 13; i++)
        v.cp[i] = (uint32_t)('a' + i);
    char dir[] = "/tmp/nb-ckpt-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/ckpt.safetensors", dir);
    ck_assert_int_eq(nb_ckpt_save(path, g, &v, 10, 2.5), NB_OK);
    nb_gpt *h;
    nb_vocab w;
    ck_assert_msg(nb_ckpt_load(path, &h, &w) == NB_OK, "%s", nb_last_error());
    /* field by field: memcmp would also compare the struct's padding bytes (indeterminate) */
    ck_assert_int_eq(h->config.block_size, g->config.block_size);
    ck_assert_int_eq(h->config.vocab_size, g->config.vocab_size);
    ck_assert_int_eq(h->config.n_layer, g->config.n_layer);
    ck_assert_int_eq(h->config.n_head, g->config.n_head);
    ck_assert_int_eq(h->config.n_embd, g->config.n_embd);
    ck_assert(h->config.dropout == g->config.dropout);
    ck_assert(h->config.bias == g->config.bias);
    ck_assert_int_eq(h->config.gelu, g->config.gelu);
    ck_assert_int_eq(w.n, 13);
    int scope = nb_scope_begin();
    nb_tensor *x = nb_randint(0, 13, NB_DIMS(2, 16), NB_I64, NULL);
    tu_assert_close(nb_gpt_forward(h, x), nb_gpt_forward(g, x), 0, 0);
    nb_scope_end(scope);
    nb_module_free(&h->base);
    /* a corrupt file is an error, never a crash */
    FILE *f = fopen(path, "r+b");
    fseek(f, 20, SEEK_SET);
    fputc('#', f);
    fclose(f);
    ck_assert_int_ne(nb_ckpt_load(path, &h, &w), NB_OK);
    ck_assert_ptr_null(h);
    /* a safetensors file that is not a chargpt checkpoint */
    nb_state_dict *sd = nb_state_dict_new();
    nb_tensor *z = nb_zeros(NB_DIMS(2), NB_F32);
    nb_state_dict_add(sd, "w", z); /* the dict retains z */
    nb_tensor_release(z);
    ck_assert_int_eq(nb_safetensors_save(sd, path), NB_OK);
    nb_state_dict_free(sd);
    ck_assert_int_eq(nb_ckpt_load(path, &h, &w), NB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(nb_last_error(), "not a chargpt checkpoint"));
    unlink(path);
    rmdir(dir);
    nb_module_free(&g->base);
}
END_TEST

/* ---- PyTorch-free guards: LayerNorm's eps and attention's scale in closed form ------------- */
/* LayerNorm of a row that is constant but for one outlier: row [0, 0, 0, d] has mean d/4 and
 * (biased) variance 3 d^2 / 16, so y = (x - d/4) / sqrt(3 d^2 / 16 + eps). With d = 0.01 the
 * variance (1.875e-5) is of eps's size: a wrong eps moves y by far more than rounding. Every
 * LayerNorm of the model (ln_1, ln_2, ln_f) must use eps 1e-5. */
START_TEST(test_layer_norm_eps_closed_form)
{
    nb_gpt_config c = tiny_config();
    c.n_embd = 4, c.n_head = 2, c.n_layer = 1, c.bias = true;
    nb_gpt *g = nb_gpt_new(&c, NULL);
    nb_module_to_dtype(&g->base, NB_F64);
    nb_gpt_block *b = (nb_gpt_block *)nb_module_list_at(g->h, 0);
    const double d = 0.01, r = 1 / sqrt(3 * d * d / 16 + 1e-5);
    int s = nb_scope_begin();
    nb_tensor *x = tu_tensor(NB_F64, NB_DIMS(1, 4), VALS(0, 0, 0, d));
    nb_layer_norm_mod *lns[] = {b->ln_1, b->ln_2, g->ln_f};
    for (int i = 0; i < 3; i++)
        tu_assert_shape_values(nb_layer_norm_forward(lns[i], x), NB_DIMS(1, 4),
                               VALS(-d / 4 * r, -d / 4 * r, -d / 4 * r, 3 * d / 4 * r), 1e-12);
    nb_scope_end(s);
    nb_module_free(&g->base);
}
END_TEST

/* Sets t (float64) to v[k] = sin(a k + b) * m. */
static void fill_sin(nb_tensor *t, double a, double b, double m)
{
    double *v = nb_tensor_data(t);
    for (int64_t k = 0; k < nb_tensor_numel(t); k++)
        v[k] = sin(a * (double)k + b) * m;
}

/* LayerNorm (weight 1, bias 0, eps 1e-5) of C values, in place. */
static void ln_plain(double *x, int C)
{
    double m = 0, v = 0;
    for (int j = 0; j < C; j++)
        m += x[j] / C;
    for (int j = 0; j < C; j++)
        v += (x[j] - m) * (x[j] - m) / C;
    for (int j = 0; j < C; j++)
        x[j] = (x[j] - m) / sqrt(v + 1e-5);
}

/* A one-block GPT (n_embd 4, 2 heads of size 2, T = 2) whose MLP outputs zero and whose c_proj is
 * the identity: the logits follow from embeddings, c_attn and the causal softmax with scale
 * 1/sqrt(head size) = 1/sqrt(2), written out here. Position 1 attends to two keys with dot
 * products of order 1, so a scale of 1/sqrt(n_embd) or 1 is far off. */
START_TEST(test_attention_scale_closed_form)
{
    enum { C = 4, V = 3, T = 2 };
    nb_gpt_config c = tiny_config();
    c.n_embd = C, c.n_head = 2, c.n_layer = 1, c.vocab_size = V, c.bias = true;
    nb_gpt *g = nb_gpt_new(&c, NULL);
    nb_module_to_dtype(&g->base, NB_F64);
    nb_gpt_block *b = (nb_gpt_block *)nb_module_list_at(g->h, 0);
    fill_sin(g->wte->weight, 1.3, 0.2, 1.0);
    fill_sin(g->wpe->weight, 0.7, 0.5, 0.5);
    fill_sin(b->attn->c_attn->weight, 0.9, 0.1, 1.5);
    fill_sin(b->attn->c_attn->bias, 0, 0, 0);
    fill_sin(b->attn->c_proj->weight, 0, 0, 0);
    for (int i = 0; i < C; i++)
        ((double *)nb_tensor_data(b->attn->c_proj->weight))[i * C + i] = 1;
    fill_sin(b->attn->c_proj->bias, 0, 0, 0);
    fill_sin(b->mlp->c_fc->weight, 0, 0, 0), fill_sin(b->mlp->c_fc->bias, 0, 0, 0);
    fill_sin(b->mlp->c_proj->weight, 0, 0, 0), fill_sin(b->mlp->c_proj->bias, 0, 0, 0);
    const double *wte = nb_tensor_data(g->wte->weight), *wpe = nb_tensor_data(g->wpe->weight);
    const double *wa = nb_tensor_data(b->attn->c_attn->weight); /* [3C, C] */
    const int64_t ids[T] = {2, 0};
    double x[T][C], qkv[T][3 * C], want[T * V];
    for (int t = 0; t < T; t++) {
        double h[C];
        for (int j = 0; j < C; j++)
            h[j] = x[t][j] = wte[ids[t] * C + j] + wpe[t * C + j];
        ln_plain(h, C);
        for (int o = 0; o < 3 * C; o++) {
            qkv[t][o] = 0;
            for (int j = 0; j < C; j++)
                qkv[t][o] += wa[o * C + j] * h[j];
        }
    }
    for (int t = 0; t < T; t++) {
        for (int hd = 0; hd < 2; hd++) { /* softmax over keys 0..t of q.k / sqrt(2), then the v mix */
            double sc[T], mx = -INFINITY, z = 0;
            for (int u = 0; u <= t; u++) {
                sc[u] = (qkv[t][2 * hd] * qkv[u][C + 2 * hd] + qkv[t][2 * hd + 1] * qkv[u][C + 2 * hd + 1]) / sqrt(2.0);
                mx = fmax(mx, sc[u]);
            }
            for (int u = 0; u <= t; u++)
                z += sc[u] = exp(sc[u] - mx);
            for (int e = 0; e < 2; e++)
                for (int u = 0; u <= t; u++)
                    x[t][2 * hd + e] += sc[u] / z * qkv[u][2 * C + 2 * hd + e];
        }
        ln_plain(x[t], C); /* ln_f (the MLP added zero) */
        for (int vv = 0; vv < V; vv++) {
            want[t * V + vv] = 0;
            for (int j = 0; j < C; j++)
                want[t * V + vv] += wte[vv * C + j] * x[t][j];
        }
    }
    int s = nb_scope_begin();
    nb_tensor *idx = tu_ints(NB_I64, NB_DIMS(1, T), ids);
    tu_assert_shape_values(nb_gpt_forward(g, idx), NB_DIMS(1, T, V), want, 1e-12);
    nb_scope_end(s);
    nb_module_free(&g->base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gpt");
    TCase *m = tcase_create("model");
    tcase_set_timeout(m, 30);
    tcase_add_test(m, test_default_config_has_nanogpt_parameter_count);
    tcase_add_test(m, test_parameter_names_are_nanogpts);
    tcase_add_test(m, test_init_matches_gpt2);
    tcase_add_test(m, test_config_validation_names_the_problem);
    tcase_add_test(m, test_forward_shapes_and_initial_loss);
    tcase_add_test(m, test_forward_is_causal);
    tcase_add_test(m, test_forward_rejects_long_sequences);
    tcase_add_test(m, test_layer_norm_eps_closed_form);
    tcase_add_test(m, test_attention_scale_closed_form);
    tcase_add_test(m, test_backward_reaches_every_parameter);
    tcase_add_test(m, test_kv_cache_gives_identical_tokens);
    tcase_add_test(m, test_top_k_1_is_greedy_and_seeds_repeat);
    tcase_add_test(m, test_sampling_matches_exact_distribution);
    tcase_add_test(m, test_optimizer_groups_by_name);
    tcase_add_test(m, test_eval_mode_disables_dropout);
    tcase_add_test(m, test_dropout_training_matches_composite);
    suite_add_tcase(s, m);
    TCase *d = tcase_create("data");
    tcase_add_test(d, test_vocab_and_round_trip);
    tcase_add_test(d, test_vocab_errors);
    tcase_add_test(d, test_data_split_and_batches);
    tcase_add_test(d, test_data_errors);
    tcase_add_test(d, test_checkpoint_round_trip);
    suite_add_tcase(s, d);
    return tu_run_suite(s);
}
