#define _DEFAULT_SOURCE /* mkstemp */
/* test_llama.c — issue #15's LLaMA (models/llama.c): llama2.c's names, sizes and init without
 * torch; with torch, the weights written to safetensors load by name into a llama2.c-style PyTorch
 * model (tests/ref_llama.py) whose forward loss matches within 1e-5 (float32) / 1e-10 (float64) and
 * whose 20 AdamW steps match within 1e-10 (float64), for multi-head and grouped-query attention,
 * tied and untied output; and a tiny llama learns a periodic text (loss bound, greedy continuation). */
#include "testutil.h"

#include "llama.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STEPS 20
#define LEARN_BOUND 0.5

static bool have_torch(void) { return system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }

static nb_llama_config tiny(int64_t n_kv_heads, bool tied)
{
    nb_llama_config c = nb_llama_config_default();
    c.dim = 16, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = n_kv_heads, c.vocab_size = 11, c.multiple_of = 8;
    c.max_seq_len = 8, c.tie_embeddings = tied;
    return c;
}

/* ---- without torch -------------------------------------------------------------------------- */
START_TEST(test_hidden_dim_rule)
{
    nb_llama_config c = nb_llama_config_default();
    ck_assert_int_eq(nb_llama_hidden_dim(&c), 352); /* int(1024 / 3) = 341 -> 11 * 32 */
    c.dim = 4096, c.multiple_of = 256;
    ck_assert_int_eq(nb_llama_hidden_dim(&c), 11008); /* LLaMA-7B's FFN size */
    c.dim = 288, c.multiple_of = 32;
    ck_assert_int_eq(nb_llama_hidden_dim(&c), 768); /* llama2.c's stories15M */
    c.dim = 16, c.multiple_of = 8;
    ck_assert_int_eq(nb_llama_hidden_dim(&c), 48); /* int(128 / 3) = 42 -> 48 */
}
END_TEST

/* nb_rms_norm_mod: ones weight, the closed form x / sqrt(mean(x^2) + eps) * w, misuse. */
START_TEST(test_rms_norm_module)
{
    nb_set_default_dtype(NB_F64);
    nb_rms_norm_mod *n = nb_rms_norm_new(NULL, NULL, 4, 1e-5);
    double ones[4] = {1, 1, 1, 1};
    tu_assert_shape_values(n->weight, NB_DIMS(4), ones, 0);
    ck_assert(nb_tensor_requires_grad(n->weight));
    double xv[8] = {1, 2, 3, 4, -2, 0, 0, 2}, wv[4] = {0.5, 1, 2, -1};
    NB_NO_GRAD { nb_copy_(n->weight, tu_tensor(NB_F64, NB_DIMS(4), wv)); }
    nb_tensor *y = nb_module_forward(&n->base, tu_tensor(NB_F64, NB_DIMS(2, 4), xv));
    double r0 = 1 / sqrt(30.0 / 4 + 1e-5), r1 = 1 / sqrt(8.0 / 4 + 1e-5);
    double want[8] = {0.5 * r0, 2 * r0, 6 * r0, -4 * r0, -1 * r1, 0, 0, -2 * r1};
    tu_assert_shape_values(y, NB_DIMS(2, 4), want, 1e-14);
    TU_EXPECT_ERROR("does not fit RMSNorm(4)", nb_rms_norm_forward(n, nb_zeros(NB_DIMS(2, 3), NB_F64)));
    TU_EXPECT_ERROR("must be positive", nb_rms_norm_new(NULL, NULL, 0, 1e-5));
    nb_module_free(&n->base);
}
END_TEST

START_TEST(test_names_and_count)
{
    for (int tied = 0; tied < 2; tied++) {
        nb_llama_config c = tiny(2, tied);
        nb_llama *m = nb_llama_new(&c, NULL);
        nb_param_list l;
        nb_module_parameters(&m->base, false, &l);
        const char *want[] = {"tok_embeddings.weight",
                              "layers.0.attention.wq.weight", "layers.0.attention.wk.weight",
                              "layers.0.attention.wv.weight", "layers.0.attention.wo.weight",
                              "layers.0.feed_forward.w1.weight", "layers.0.feed_forward.w2.weight",
                              "layers.0.feed_forward.w3.weight", "layers.0.attention_norm.weight",
                              "layers.0.ffn_norm.weight",
                              "layers.1.attention.wq.weight", "layers.1.attention.wk.weight",
                              "layers.1.attention.wv.weight", "layers.1.attention.wo.weight",
                              "layers.1.feed_forward.w1.weight", "layers.1.feed_forward.w2.weight",
                              "layers.1.feed_forward.w3.weight", "layers.1.attention_norm.weight",
                              "layers.1.ffn_norm.weight", "norm.weight", "output.weight"};
        int n_want = tied ? 20 : 21;
        ck_assert_int_eq(l.n, n_want);
        for (int i = 0; i < n_want; i++)
            ck_assert_str_eq(l.names[i], want[i]);
        ck_assert_int_eq(nb_tensor_size(nb_module_get_parameter(&m->base, "layers.0.attention.wk.weight"), 0), 8);
        ck_assert_int_eq(nb_tensor_size(nb_module_get_parameter(&m->base, "layers.1.feed_forward.w2.weight"), 1),
                         48);
        /* V D (+ V D untied) + L (D^2 q + 2 D (kvh hs) + D^2 o + 3 D hidden + 2 D) + D */
        int64_t D = 16, V = 11, H = 48, kv = 2 * 4;
        int64_t want_n = V * D * (tied ? 1 : 2) + 2 * (D * D + 2 * D * kv + D * D + 3 * D * H + 2 * D) + D;
        ck_assert_int_eq(nb_module_parameter_numel(&m->base), want_n);
        if (tied)
            ck_assert_ptr_eq(m->output->weight, m->tok_embeddings->weight);
        else
            ck_assert_ptr_ne(m->output->weight, m->tok_embeddings->weight);
        nb_param_list_free(&l);
        nb_module_free(&m->base);
    }
}
END_TEST

static double std_of(nb_tensor *t, double *mean)
{
    int64_t n = nb_tensor_numel(t);
    double *v = tu_values(t), s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++)
        s += v[i];
    *mean = s / (double)n;
    for (int64_t i = 0; i < n; i++)
        s2 += (v[i] - *mean) * (v[i] - *mean);
    free(v);
    return sqrt(s2 / (double)n);
}

START_TEST(test_init)
{
    nb_llama_config c = nb_llama_config_default(); /* dim 128, 4 layers: 0.02 / sqrt(8) = 0.00707 */
    c.tie_embeddings = false;
    nb_generator gen;
    nb_generator_seed(&gen, 3);
    nb_llama *m = nb_llama_new(&c, &gen);
    nb_param_list l;
    nb_module_parameters(&m->base, false, &l);
    for (int i = 0; i < l.n; i++) {
        double mean, sd = std_of(l.params[i], &mean);
        const char *n = l.names[i];
        if (nb_tensor_ndim(l.params[i]) == 1) {
            ck_assert_msg(mean == 1.0 && sd == 0.0, "%s: RMSNorm weight not ones", n);
            continue;
        }
        bool proj = strstr(n, "w3.weight") || strstr(n, "wo.weight");
        double want = proj ? 0.02 / sqrt(8.0) : 0.02;
        ck_assert_msg(fabs(sd - want) < 0.05 * want && fabs(mean) < 0.05 * want, "%s: std %g (want %g), mean %g", n,
                      sd, want, mean);
    }
    nb_param_list_free(&l);
    nb_module_free(&m->base);
}
END_TEST

START_TEST(test_shapes_and_misuse)
{
    nb_llama_config c = tiny(1, true);
    nb_llama *m = nb_llama_new(&c, NULL);
    nb_tensor *x = nb_randint(0, 11, NB_DIMS(3, 5), NB_I64, NULL);
    nb_tensor *logits = nb_llama_forward(m, x);
    tu_assert_shape(logits, NB_DIMS(3, 5, 11));
    nb_tensor *loss = nb_llama_loss(logits, x);
    ck_assert_int_eq(nb_tensor_ndim(loss), 0);
    ck_assert(isfinite(nb_tensor_item(loss)));
    nb_tensor *long_x = nb_zeros(NB_DIMS(1, 9), NB_I64);
    TU_EXPECT_ERROR("max_seq_len is only 8", nb_llama_forward(m, long_x));
    c.n_kv_heads = 3;
    ck_assert_int_eq(nb_llama_config_validate(&c), NB_ERR_INVALID);
    ck_assert(strstr(nb_last_error(), "n_heads 4 is not divisible by n_kv_heads 3"));
    c.n_kv_heads = 4, c.dim = 12; /* head size 3 */
    ck_assert_int_eq(nb_llama_config_validate(&c), NB_ERR_INVALID);
    ck_assert(strstr(nb_last_error(), "must be even"));
    TU_EXPECT_ERROR("invalid config", nb_llama_new(&c, NULL));
    nb_module_free(&m->base);
}
END_TEST

/* Positions matter only through RoPE: a causal model's logits at t do not depend on tokens after t. */
START_TEST(test_causal)
{
    nb_set_default_dtype(NB_F64);
    nb_llama_config c = tiny(2, false);
    nb_llama *m = nb_llama_new(&c, NULL);
    int64_t a[8] = {1, 2, 3, 4, 5, 6, 7, 8}, b[8] = {1, 2, 3, 4, 0, 0, 9, 10};
    nb_tensor *la = nb_llama_forward(m, nb_from_data(a, NB_DIMS(1, 8), NB_I64));
    nb_tensor *lb = nb_llama_forward(m, nb_from_data(b, NB_DIMS(1, 8), NB_I64));
    tu_assert_close(nb_narrow(la, 1, 0, 4), nb_narrow(lb, 1, 0, 4), 0, 0);
    nb_tensor *d = nb_sub(nb_narrow(la, 1, 4, 1), nb_narrow(lb, 1, 4, 1));
    ck_assert(nb_tensor_item(nb_sum(nb_abs(d), NB_ALL_AXES, false)) > 1e-6);
    nb_module_free(&m->base);
}
END_TEST

/* Generation with the KV cache draws the same tokens as full forwards (sampling at temperature 1,
 * same seed), also after the window slides past max_seq_len 8; f64 and GQA (kvh 2). */
START_TEST(test_generate_kv_cache)
{
    nb_set_default_dtype(NB_F64);
    nb_llama_config c = tiny(2, false);
    nb_generator gen;
    nb_generator_seed(&gen, 9);
    nb_llama *m = nb_llama_new(&c, &gen);
    /* larger weights than the 0.02 init, so that the logits (and the draws) depend on every input */
    nb_param_list l;
    nb_module_parameters(&m->base, false, &l);
    for (int i = 0; i < l.n; i++)
        if (nb_tensor_ndim(l.params[i]) == 2)
            NB_NO_GRAD { nb_normal_(l.params[i], 0.0, 0.5, &gen); }
    nb_param_list_free(&l);
    int64_t a[3 + 20] = {1, 2, 3}, b[3 + 20] = {1, 2, 3};
    nb_sample_opts o = nb_sample_opts_default();
    o.max_new_tokens = 20;
    nb_generator g1, g2;
    nb_generator_seed(&g1, 4);
    nb_generator_seed(&g2, 4);
    o.use_kv_cache = true;
    nb_llama_generate(m, a, 3, &o, &g1);
    o.use_kv_cache = false;
    nb_llama_generate(m, b, 3, &o, &g2);
    int distinct = 0;
    for (int i = 0; i < 23; i++) {
        ck_assert_msg(a[i] == b[i], "token %d: %lld with the cache, %lld without", i, (long long)a[i], (long long)b[i]);
        ck_assert(a[i] >= 0 && a[i] < 11);
        distinct += i > 3 && a[i] != a[i - 1];
    }
    ck_assert_int_gt(distinct, 3); /* sampled, not one token repeated */
    ck_assert(m->base.training);
    nb_module_free(&m->base);
}
END_TEST

/* ---- with torch ----------------------------------------------------------------------------- */
static void save(nb_llama *m, nb_tensor *x, nb_tensor *y, const char *path)
{
    const nb_llama_config *c = &m->config;
    nb_state_dict *sd = nb_module_state_dict(&m->base);
    nb_state_dict_add(sd, "data.x", x);
    nb_state_dict_add(sd, "data.y", y);
    char b[64];
    const char *keys[] = {"dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "multiple_of", "max_seq_len"};
    int64_t vals[] = {c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->multiple_of, c->max_seq_len};
    for (int i = 0; i < 7; i++) {
        snprintf(b, sizeof b, "%lld", (long long)vals[i]);
        nb_state_dict_set_meta(sd, keys[i], b);
    }
    snprintf(b, sizeof b, "%.17g", c->norm_eps);
    nb_state_dict_set_meta(sd, "norm_eps", b);
    snprintf(b, sizeof b, "%.17g", c->rope_theta);
    nb_state_dict_set_meta(sd, "rope_theta", b);
    nb_state_dict_set_meta(sd, "tie_embeddings", c->tie_embeddings ? "true" : "false");
    ck_assert_msg(nb_safetensors_save(sd, path) == NB_OK, "save: %s", nb_last_error());
    nb_state_dict_free(sd);
}

/* Runs ref_llama.py CMD on path and reads n losses. */
static void torch_losses(const char *cmd, const char *path, int n, double *out)
{
    char line[1024];
    snprintf(line, sizeof line, "/usr/bin/python3 %s/tests/ref_llama.py %s %s", NB_SRCDIR, cmd, path);
    FILE *p = popen(line, "r");
    ck_assert_ptr_nonnull(p);
    for (int i = 0; i < n; i++)
        ck_assert_msg(fscanf(p, "%lf", &out[i]) == 1, "ref_llama.py %s printed fewer than %d losses", cmd, n);
    ck_assert_int_eq(pclose(p), 0);
}

typedef struct variant {
    int64_t n_kv_heads;
    bool tied;
} variant;
static const variant variants[4] = {{4, true}, {2, true}, {4, false}, {1, false}};

static nb_llama *setup(const variant *v, nb_dtype dt, uint64_t seed, nb_tensor **x, nb_tensor **y, char *path)
{
    nb_set_default_dtype(dt);
    nb_llama_config c = tiny(v->n_kv_heads, v->tied);
    nb_generator gen;
    nb_generator_seed(&gen, seed);
    nb_llama *m = nb_llama_new(&c, &gen);
    /* random RMSNorm weights, so a wrong weight placement cannot hide behind ones */
    nb_param_list l;
    nb_module_parameters(&m->base, false, &l);
    for (int i = 0; i < l.n; i++)
        if (nb_tensor_ndim(l.params[i]) == 1)
            NB_NO_GRAD { nb_uniform_(l.params[i], 0.5, 1.5, &gen); }
    nb_param_list_free(&l);
    *x = nb_randint(0, 11, NB_DIMS(4, 8), NB_I64, &gen);
    *y = nb_randint(0, 11, NB_DIMS(4, 8), NB_I64, &gen);
    int fd = mkstemp(path);
    close(fd);
    save(m, *x, *y, path);
    return m;
}

START_TEST(test_forward_loss_matches_pytorch)
{
    const variant *v = &variants[_i];
    nb_dtype dts[2] = {NB_F32, NB_F64};
    for (int d = 0; d < 2; d++) {
        nb_tensor *x, *y;
        char path[] = "/tmp/nb-llama-XXXXXX";
        nb_llama *m = setup(v, dts[d], 100 + (uint64_t)_i, &x, &y, path);
        double loss = nb_tensor_item(nb_llama_loss(nb_llama_forward(m, x), y)), want;
        torch_losses("loss", path, 1, &want);
        double tol = dts[d] == NB_F32 ? 1e-5 : 1e-10;
        printf("llama kvh %lld %s %s: loss %.12f, torch %.12f, |diff| %.3g\n", (long long)v->n_kv_heads,
               v->tied ? "tied" : "untied", dts[d] == NB_F32 ? "f32" : "f64", loss, want, fabs(loss - want));
        ck_assert_msg(fabs(loss - want) <= tol, "nabla %.12f vs torch %.12f", loss, want);
        unlink(path);
        nb_module_free(&m->base);
    }
}
END_TEST

START_TEST(test_training_matches_pytorch)
{
    const variant *v = &variants[_i];
    nb_tensor *x, *y;
    char path[] = "/tmp/nb-llama-XXXXXX";
    nb_llama *m = setup(v, NB_F64, 200 + (uint64_t)_i, &x, &y, path);
    nb_optimizer *opt = nb_llama_configure_optimizers(m, 0.1, 1e-2, 0.9, 0.99);
    double losses[STEPS], want[STEPS], maxdiff = 0;
    for (int s = 0; s < STEPS; s++) {
        int scope = nb_scope_begin();
        nb_tensor *loss = nb_llama_loss(nb_llama_forward(m, x), y);
        losses[s] = nb_tensor_item(loss);
        nb_optimizer_zero_grad(opt, true);
        nb_backward(loss, NULL, false);
        nb_optimizer_clip_grad_norm(opt, 1.0);
        nb_optimizer_step(opt);
        nb_scope_end(scope);
    }
    torch_losses("train", path, STEPS, want);
    for (int s = 0; s < STEPS; s++) {
        double d = fabs(losses[s] - want[s]);
        maxdiff = d > maxdiff ? d : maxdiff;
        ck_assert_msg(d <= 1e-10, "step %d: nabla %.12f, torch %.12f", s, losses[s], want[s]);
    }
    printf("llama kvh %lld %s: 20 AdamW steps, loss %.6f -> %.6f, max |nabla - torch| %.3g\n",
           (long long)v->n_kv_heads, v->tied ? "tied" : "untied", losses[0], losses[STEPS - 1], maxdiff);
    ck_assert(losses[STEPS - 1] < losses[0]);
    nb_optimizer_free(opt);
    unlink(path);
    nb_module_free(&m->base);
}
END_TEST

/* ---- trainability --------------------------------------------------------------------------- */
static const char text[] = "the quick brown fox jumps over the lazy dog. ";

/* A tiny llama (GQA, 2 layers) learns the periodic text from random windows: every next char is
 * determined by 5 chars of context, so the loss falls far below the uniform ln(V) = 3.33; greedy
 * sampling from a prompt then continues the text. */
START_TEST(test_learns_periodic_text)
{
    nb_set_default_dtype(NB_F32);
    int64_t n_text = (int64_t)strlen(text), V = 0, code[256];
    char chars[256];
    memset(code, -1, sizeof code);
    for (int64_t i = 0; i < n_text; i++)
        if (code[(unsigned char)text[i]] < 0)
            chars[V] = text[i], code[(unsigned char)text[i]] = V++;
    nb_llama_config c = nb_llama_config_default();
    c.dim = 32, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.vocab_size = V, c.multiple_of = 16;
    c.max_seq_len = 16;
    nb_generator gen;
    nb_generator_seed(&gen, 5);
    nb_llama *m = nb_llama_new(&c, &gen);
    nb_optimizer *opt = nb_llama_configure_optimizers(m, 0.1, 1e-2, 0.9, 0.99);
    enum { B = 8, T = 16, ITERS = 300 };
    int64_t xb[B * T], yb[B * T];
    double first = 0, last = 0;
    for (int it = 0; it < ITERS; it++) {
        int scope = nb_scope_begin();
        for (int b = 0; b < B; b++) {
            int64_t s = (int64_t)(nb_generator_uniform(&gen) * (double)n_text);
            for (int t = 0; t < T; t++) {
                xb[b * T + t] = code[(unsigned char)text[(s + t) % n_text]];
                yb[b * T + t] = code[(unsigned char)text[(s + t + 1) % n_text]];
            }
        }
        nb_tensor *loss = nb_llama_loss(nb_llama_forward(m, nb_from_data(xb, NB_DIMS(B, T), NB_I64)),
                                        nb_from_data(yb, NB_DIMS(B, T), NB_I64));
        double l = nb_tensor_item(loss);
        if (it == 0)
            first = l;
        last = it >= ITERS - 10 ? last + l / 10 : last;
        nb_optimizer_zero_grad(opt, true);
        nb_backward(loss, NULL, false);
        nb_optimizer_clip_grad_norm(opt, 1.0);
        nb_optimizer_step(opt);
        nb_scope_end(scope);
    }
    printf("tiny llama on a %lld-char periodic text (V %lld): loss %.4f -> %.4f (mean of the last 10 of %d steps)\n",
           (long long)n_text, (long long)V, first, last, ITERS);
    ck_assert_msg(first > 3.0, "initial loss %g should be near ln(%lld)", first, (long long)V);
    ck_assert_msg(last < LEARN_BOUND, "loss %g did not fall below %g", last, LEARN_BOUND);
    /* greedy continuation of a 10-char prompt */
    int64_t ids[10 + 30];
    for (int i = 0; i < 10; i++)
        ids[i] = code[(unsigned char)text[i]];
    nb_sample_opts so = nb_sample_opts_default();
    so.max_new_tokens = 30, so.top_k = 1;
    nb_llama_generate(m, ids, 10, &so, &gen);
    char got[41], want[41];
    for (int i = 0; i < 40; i++)
        got[i] = chars[ids[i]], want[i] = text[i % n_text];
    got[40] = want[40] = 0;
    printf("greedy: \"%s\"\n", got);
    ck_assert_str_eq(got, want);
    nb_optimizer_free(opt);
    nb_module_free(&m->base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("llama");
    TCase *tc = tcase_create("model");
    tcase_add_checked_fixture(tc, tu_scope_setup, tu_scope_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_hidden_dim_rule);
    tcase_add_test(tc, test_rms_norm_module);
    tcase_add_test(tc, test_names_and_count);
    tcase_add_test(tc, test_init);
    tcase_add_test(tc, test_shapes_and_misuse);
    tcase_add_test(tc, test_causal);
    tcase_add_test(tc, test_generate_kv_cache);
    tcase_add_test(tc, test_learns_periodic_text);
    suite_add_tcase(s, tc);
    bool torch = have_torch();
    if (torch) {
        TCase *tt = tcase_create("pytorch");
        tcase_add_checked_fixture(tt, tu_scope_setup, tu_scope_teardown);
        tcase_set_timeout(tt, 120);
        tcase_add_loop_test(tt, test_forward_loss_matches_pytorch, 0, 4);
        tcase_add_loop_test(tt, test_training_matches_pytorch, 0, 4);
        suite_add_tcase(s, tt);
    }
    int rc = tu_run_suite(s);
    if (rc == 0 && !torch)
        return tu_skipped("LLaMA parity with PyTorch (no torch in /usr/bin/python3; ./setup.sh --tests installs it)");
    return rc;
}
