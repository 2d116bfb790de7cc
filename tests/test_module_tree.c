/* test_module_tree.c — the module tree (parameter names, tied parameters, zero_grad, train/eval,
 * misuse), the default dtype, and module state dicts: safetensors round trip, strict and
 * non-strict loading, shape and dtype handling, tied weights. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ==== the module tree ========================================================================== */
typedef struct {
    nb_module base;
    nb_linear_mod *fc;
    nb_tensor *scale;
    nb_module_list_mod *blocks;
    nb_layer_norm_mod *ln;
} net;
static int g_net_frees;
static void net_free(nb_module *m)
{
    (void)m;
    g_net_frees++;
}
static const nb_module_type net_type = {"Net", NULL, net_free};

/* fc Linear(7, 5); scale [5] (registered after fc, listed first as torch does); blocks: Linear(5, 5),
 * Linear(5, 3, no bias); ln LayerNorm(3). 96 parameter elements. */
static net *net_new(uint64_t seed)
{
    nb_generator g;
    nb_generator_seed(&g, seed);
    net *n = calloc(1, sizeof *n);
    nb_module_init(&n->base, &net_type);
    n->fc = nb_linear_new(&n->base, "fc", 7, 5, true, &g);
    int scope = nb_scope_begin();
    n->scale = nb_tensor_requires_grad_(nb_randn(NB_DIMS(5), nb_get_default_dtype(), &g), true);
    nb_module_register_parameter(&n->base, "scale", n->scale);
    nb_scope_end(scope);
    n->blocks = nb_module_list_new(&n->base, "blocks");
    nb_module_list_append(n->blocks, &nb_linear_new(NULL, NULL, 5, 5, true, &g)->base);
    nb_module_list_append(n->blocks, &nb_linear_new(NULL, NULL, 5, 3, false, &g)->base);
    n->ln = nb_layer_norm_new(&n->base, "ln", 3, 1e-5, true, true);
    NB_NO_GRAD
    {
        NB_NO_GRAD { nb_uniform_(n->ln->weight, 0.5, 1.5, &g); }
        NB_NO_GRAD { nb_uniform_(n->ln->bias, -1, 1, &g); }
    }
    return n;
}
static const char *const NET_NAMES[8] = {"scale",          "fc.weight", "fc.bias", "blocks.0.weight",
                                         "blocks.0.bias", "blocks.1.weight", "ln.weight", "ln.bias"};

START_TEST(test_tree_names)
{
    net *n = net_new(181);
    nb_param_list pl;
    nb_module_parameters(&n->base, false, &pl);
    ck_assert_int_eq(pl.n, 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_str_eq(pl.names[i], NET_NAMES[i]);
        ck_assert_ptr_eq(nb_module_get_parameter(&n->base, NET_NAMES[i]), pl.params[i]);
    }
    ck_assert_ptr_eq(pl.params[0], n->scale);
    ck_assert_ptr_eq(pl.params[1], n->fc->weight);
    ck_assert_ptr_eq(pl.params[5], ((nb_linear_mod *)nb_module_list_at(n->blocks, 1))->weight);
    nb_param_list_free(&pl);
    ck_assert_int_eq(nb_module_parameter_numel(&n->base), 96);
    ck_assert_ptr_null(nb_module_get_parameter(&n->base, "blocks.2.weight"));
    ck_assert_ptr_null(nb_module_get_parameter(&n->base, "blocks.1.bias"));
    ck_assert_ptr_null(nb_module_get_parameter(&n->base, "fc"));
    ck_assert_ptr_null(nb_module_get_parameter(&n->base, "nope.weight"));
    ck_assert_ptr_null(nb_module_get_parameter(&n->base, "fc.weight.x"));
    g_net_frees = 0;
    nb_module_free(&n->base);
    ck_assert_int_eq(g_net_frees, 1);
    nb_module_free(NULL);
}
END_TEST

/* wte Embedding(10, 4) and head Linear(4, 10, no bias) sharing one weight (GPT's tying). */
typedef struct {
    nb_module base;
    nb_embedding_mod *wte;
    nb_linear_mod *head;
} tied;
static const nb_module_type tied_type = {"Tied", NULL, NULL};
static tied *tied_new(uint64_t seed)
{
    nb_generator g;
    nb_generator_seed(&g, seed);
    tied *t = calloc(1, sizeof *t);
    nb_module_init(&t->base, &tied_type);
    t->wte = nb_embedding_new(&t->base, "wte", 10, 4, &g);
    t->head = nb_linear_new(&t->base, "head", 4, 10, false, &g);
    t->head->weight = nb_module_set_parameter(&t->head->base, "weight", t->wte->weight);
    return t;
}

START_TEST(test_tied_parameters)
{
    tied *t = tied_new(191);
    ck_assert_ptr_eq(t->head->weight, t->wte->weight);
    nb_param_list pl;
    nb_module_parameters(&t->base, false, &pl);
    ck_assert_int_eq(pl.n, 1);
    ck_assert_str_eq(pl.names[0], "wte.weight");
    nb_param_list_free(&pl);
    nb_module_parameters(&t->base, true, &pl);
    ck_assert_int_eq(pl.n, 2);
    ck_assert_str_eq(pl.names[0], "wte.weight");
    ck_assert_str_eq(pl.names[1], "head.weight");
    ck_assert_ptr_eq(pl.params[0], pl.params[1]);
    nb_param_list_free(&pl);
    ck_assert_int_eq(nb_module_parameter_numel(&t->base), 40);
    ck_assert_ptr_eq(nb_module_get_parameter(&t->base, "head.weight"), t->wte->weight);
    /* both uses accumulate into the one gradient: d/dW sum(head(wte(ids))) */
    int scope = nb_scope_begin();
    nb_tensor *ids = nb_from_doubles((const double[]){2, 5}, NB_DIMS(2), NB_I64);
    nb_backward(nb_sum(nb_linear_forward(t->head, nb_embedding_forward(t->wte, ids)), NB_ALL_AXES, false), NULL,
                false);
    double *wv = tu_values(t->wte->weight), *gv = tu_values(nb_tensor_get_grad(t->wte->weight)), want[40];
    for (int v = 0; v < 10; v++)
        for (int c = 0; c < 4; c++) { /* head: sum_r e_r[c] for every row v; wte: sum_v W[v][c] at ids */
            want[v * 4 + c] = wv[2 * 4 + c] + wv[5 * 4 + c];
            if (v == 2 || v == 5)
                for (int u = 0; u < 10; u++)
                    want[v * 4 + c] += wv[u * 4 + c];
        }
    tu_assert_values_rel(nb_tensor_get_grad(t->wte->weight), want, 1e-5, 1e-5);
    free(wv), free(gv);
    nb_scope_end(scope);
    TU_EXPECT_ERROR("nb_module_set_parameter: Linear.weight has shape [10, 4], the new tensor [3, 3]",
                    nb_module_set_parameter(&t->head->base, "weight", nb_zeros(NB_DIMS(3, 3), NB_F32)));
    TU_EXPECT_ERROR("nb_module_set_parameter: Linear has no parameter named \"bias\"",
                    nb_module_set_parameter(&t->head->base, "bias", nb_zeros(NB_DIMS(10), NB_F32)));
    nb_module_free(&t->base);
}
END_TEST

START_TEST(test_zero_grad)
{
    net *n = net_new(201);
    int scope = nb_scope_begin();
    nb_tensor *x = tu_random(NB_F32, NB_DIMS(2, 7), -1, 1, 202);
    nb_tensor *h = nb_mul(nb_linear_forward(n->fc, x), n->scale);
    for (int i = 0; i < 2; i++)
        h = nb_module_forward(nb_module_list_at(n->blocks, i), h);
    nb_backward(nb_sum(nb_layer_norm_forward(n->ln, nb_tanh(h)), NB_ALL_AXES, false), NULL, false);
    nb_param_list pl;
    nb_module_parameters(&n->base, false, &pl);
    for (int i = 0; i < pl.n; i++)
        ck_assert_msg(nb_tensor_get_grad(pl.params[i]) != NULL, "%s has no grad", pl.names[i]);
    nb_tensor *g0 = nb_tensor_get_grad(pl.params[1]);
    nb_module_zero_grad(&n->base, false);
    for (int i = 0; i < pl.n; i++) {
        nb_tensor *g = nb_tensor_get_grad(pl.params[i]);
        ck_assert_msg(g != NULL, "%s: grad dropped by zero_grad(false)", pl.names[i]);
        double *gv = tu_values(g);
        for (int64_t k = 0; k < nb_tensor_numel(g); k++)
            ck_assert_msg(gv[k] == 0, "%s[%lld] = %g", pl.names[i], (long long)k, gv[k]);
        free(gv);
    }
    ck_assert_ptr_eq(nb_tensor_get_grad(pl.params[1]), g0); /* zeroed in place */
    nb_module_zero_grad(&n->base, true);
    for (int i = 0; i < pl.n; i++)
        ck_assert_ptr_null(nb_tensor_get_grad(pl.params[i]));
    nb_param_list_free(&pl);
    nb_scope_end(scope);
    nb_module_free(&n->base);
}
END_TEST

static void assert_training(const nb_module *m, bool want, const char *path)
{
    ck_assert_msg(m->training == want, "%s (%s): training %d, want %d", path, m->type->name, m->training, want);
    for (int i = 0; i < m->n_children; i++)
        assert_training(m->children[i], want, m->child_names[i]);
}

START_TEST(test_train_eval)
{
    net *n = net_new(211);
    assert_training(&n->base, true, "root");
    nb_module_train(&n->base, false);
    assert_training(&n->base, false, "root");
    nb_module_train(&n->base, true);
    assert_training(&n->base, true, "root");
    /* a subtree added to a parent in eval mode is in eval mode throughout */
    nb_module_train(&n->base, false);
    nb_sequential_mod *s = nb_sequential_new(NULL, NULL);
    nb_sequential_append(s, &nb_dropout_new(NULL, NULL, 0.5, NULL)->base);
    nb_module_register_module(&n->base, "head", &s->base);
    assert_training(&n->base, false, "root");
    nb_module_free(&n->base);
}
END_TEST

START_TEST(test_tree_misuse)
{
    net *n = net_new(221);
    TU_EXPECT_ERROR("nb_module_register_module: Net already has a child named \"fc\"",
                    nb_module_register_module(&n->base, "fc", &nb_relu_new(NULL, NULL)->base));
    TU_EXPECT_ERROR("nb_module_register_module: Net already has a parameter named \"scale\"",
                    nb_module_register_module(&n->base, "scale", &nb_relu_new(NULL, NULL)->base));
    TU_EXPECT_ERROR("nb_module_register_parameter: Net already has a parameter named \"scale\"",
                    nb_module_register_parameter(&n->base, "scale", n->scale));
    TU_EXPECT_ERROR("nb_module_register_parameter: Net already has a child named \"ln\"",
                    nb_module_register_parameter(&n->base, "ln", n->scale));
    TU_EXPECT_ERROR("nb_module_register_module: Net already has a child named \"fc\"", /* via a constructor */
                    nb_linear_new(&n->base, "fc", 2, 2, true, NULL));
    TU_EXPECT_ERROR("invalid name \"a.b\"", nb_module_register_module(&n->base, "a.b", &nb_relu_new(NULL, NULL)->base));
    TU_EXPECT_ERROR("invalid name \"\"", nb_module_register_parameter(&n->base, "", n->scale));
    TU_EXPECT_ERROR("nb_module_forward: module type Net has no single-input forward",
                    nb_module_forward(&n->base, nb_zeros(NB_DIMS(7), NB_F32)));
    nb_module_free(&n->base);
}
END_TEST

/* ==== state dicts ============================================================================== */
/* All parameter values of m (unique tensors, in order) as one malloc'd array; *n gets the count. */
static double *snapshot(nb_module *m, int64_t *n)
{
    nb_param_list pl;
    nb_module_parameters(m, false, &pl);
    *n = nb_module_parameter_numel(m);
    double *all = malloc((size_t)*n * sizeof *all), *p = all;
    for (int i = 0; i < pl.n; i++) {
        nb_tensor_to_doubles(pl.params[i], p);
        p += nb_tensor_numel(pl.params[i]);
    }
    nb_param_list_free(&pl);
    return all;
}

static void assert_snapshot_eq(nb_module *m, const double *want, int64_t n, const char *what)
{
    int64_t k;
    double *got = snapshot(m, &k);
    ck_assert_int_eq(k, n);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "%s: element %lld: %.17g != %.17g", what, (long long)i, got[i], want[i]);
    free(got);
}

/* A dict with m's entries minus `drop` (NULL: none) plus `extra` (NULL: none). */
static nb_state_dict *sd_edit(nb_module *m, const char *drop, const char *extra, nb_tensor *extra_t)
{
    nb_state_dict *full = nb_module_state_dict(m), *sd = nb_state_dict_new();
    for (int i = 0; i < nb_state_dict_count(full); i++)
        if (!drop || strcmp(nb_state_dict_name_at(full, i), drop))
            nb_state_dict_add(sd, nb_state_dict_name_at(full, i), nb_state_dict_tensor_at(full, i));
    if (extra)
        nb_state_dict_add(sd, extra, extra_t);
    nb_state_dict_free(full);
    return sd;
}

START_TEST(test_sd_round_trip)
{
    net *a = net_new(271), *b = net_new(272);
    nb_state_dict *sd = nb_module_state_dict(&a->base);
    ck_assert_int_eq(nb_state_dict_count(sd), 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_str_eq(nb_state_dict_name_at(sd, i), NET_NAMES[i]);
        ck_assert_ptr_eq(nb_state_dict_tensor_at(sd, i), nb_module_get_parameter(&a->base, NET_NAMES[i]));
    }
    char dir[] = "/tmp/nb-test-nn-XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ck_assert_msg(nb_safetensors_save(sd, path) == NB_OK, "save: %s", nb_last_error());
    nb_state_dict_free(sd);
    nb_state_dict *loaded = NULL;
    ck_assert_msg(nb_safetensors_load(path, &loaded) == NB_OK, "load: %s", nb_last_error());
    int64_t n;
    double *want = snapshot(&a->base, &n), *before = snapshot(&b->base, &n);
    ck_assert(memcmp(want, before, (size_t)n * sizeof *want) != 0);
    ck_assert_msg(nb_module_load_state_dict(&b->base, loaded, true) == NB_OK, "%s", nb_last_error());
    ck_assert_str_eq(nb_last_error(), "");
    assert_snapshot_eq(&b->base, want, n, "after load");
    /* the loaded values are copies: b's parameters stay b's tensors, still leaves requiring grad */
    ck_assert_ptr_ne(nb_module_get_parameter(&b->base, "fc.weight"), nb_state_dict_get(loaded, "fc.weight"));
    ck_assert(nb_tensor_requires_grad(b->fc->weight) && nb_tensor_is_leaf(b->fc->weight));
    nb_state_dict_free(loaded);
    unlink(path);
    rmdir(dir);
    free(want), free(before);
    nb_module_free(&a->base);
    nb_module_free(&b->base);
}
END_TEST

START_TEST(test_sd_strict_errors)
{
    net *a = net_new(281), *b = net_new(282);
    int64_t n;
    double *before = snapshot(&b->base, &n);
    nb_tensor *extra = nb_zeros(NB_DIMS(2), NB_F32);
    nb_state_dict *sd = sd_edit(&a->base, "fc.bias", "extra.weight", extra);
    ck_assert_int_eq(nb_module_load_state_dict(&b->base, sd, true), NB_ERR_MISMATCH);
    const char *e = nb_last_error();
    ck_assert_msg(strstr(e, "missing keys: [fc.bias]") && strstr(e, "unexpected keys: [extra.weight]"), "%s", e);
    assert_snapshot_eq(&b->base, before, n, "after a failed strict load");
    nb_state_dict_free(sd);
    /* missing only; unexpected only */
    sd = sd_edit(&a->base, "ln.weight", NULL, NULL);
    ck_assert_int_eq(nb_module_load_state_dict(&b->base, sd, true), NB_ERR_MISMATCH);
    ck_assert_msg(strstr(nb_last_error(), "missing keys: [ln.weight]"), "%s", nb_last_error());
    nb_state_dict_free(sd);
    sd = sd_edit(&a->base, NULL, "blocks.1.bias", extra);
    ck_assert_int_eq(nb_module_load_state_dict(&b->base, sd, true), NB_ERR_MISMATCH);
    ck_assert_msg(strstr(nb_last_error(), "unexpected keys: [blocks.1.bias]"), "%s", nb_last_error());
    assert_snapshot_eq(&b->base, before, n, "after failed strict loads");
    nb_state_dict_free(sd);
    free(before);
    nb_tensor_release(extra);
    nb_module_free(&a->base);
    nb_module_free(&b->base);
}
END_TEST

/* A shape mismatch (the last key, so earlier keys validated fine) names the key and both shapes
 * and changes nothing, strict or not; an int tensor for a float parameter likewise. */
START_TEST(test_sd_shape_mismatch)
{
    net *a = net_new(291), *b = net_new(292);
    int64_t n;
    double *before = snapshot(&b->base, &n);
    nb_tensor *bad = nb_zeros(NB_DIMS(3, 3), NB_F32), *ints = nb_zeros(NB_DIMS(3), NB_I64);
    for (int strict = 0; strict < 2; strict++) {
        nb_state_dict *sd = sd_edit(&a->base, "blocks.0.weight", "blocks.0.weight", bad);
        ck_assert_int_eq(nb_module_load_state_dict(&b->base, sd, strict), NB_ERR_MISMATCH);
        const char *e = nb_last_error();
        ck_assert_msg(strstr(e, "blocks.0.weight") && strstr(e, "[3, 3]") && strstr(e, "[5, 5]"), "%s", e);
        assert_snapshot_eq(&b->base, before, n, "after a shape mismatch");
        nb_state_dict_free(sd);
        sd = sd_edit(&a->base, "ln.bias", "ln.bias", ints);
        ck_assert_int_eq(nb_module_load_state_dict(&b->base, sd, strict), NB_ERR_MISMATCH);
        ck_assert_msg(strstr(nb_last_error(), "ln.bias") && strstr(nb_last_error(), "int64"), "%s", nb_last_error());
        assert_snapshot_eq(&b->base, before, n, "after a dtype mismatch");
        nb_state_dict_free(sd);
    }
    free(before);
    nb_tensor_release(bad);
    nb_tensor_release(ints);
    nb_module_free(&a->base);
    nb_module_free(&b->base);
}
END_TEST

START_TEST(test_sd_non_strict)
{
    net *a = net_new(301), *b = net_new(302);
    int64_t n;
    double *va = snapshot(&a->base, &n), *vb = snapshot(&b->base, &n), *want = malloc((size_t)n * sizeof *want);
    nb_tensor *extra = nb_zeros(NB_DIMS(2), NB_F32);
    nb_state_dict *sd = sd_edit(&a->base, "fc.weight", "unknown", extra);
    ck_assert_int_eq(nb_module_load_state_dict(&b->base, sd, false), NB_OK);
    const char *e = nb_last_error();
    ck_assert_msg(strstr(e, "missing keys: [fc.weight]") && strstr(e, "unexpected keys: [unknown]"), "%s", e);
    /* everything but fc.weight (elements 5 .. 39 after scale) comes from a */
    memcpy(want, va, (size_t)n * sizeof *want);
    memcpy(want + 5, vb + 5, 35 * sizeof *want);
    assert_snapshot_eq(&b->base, want, n, "after a non-strict load");
    nb_state_dict_free(sd);
    free(va), free(vb), free(want);
    nb_tensor_release(extra);
    nb_module_free(&a->base);
    nb_module_free(&b->base);
}
END_TEST

START_TEST(test_sd_tied)
{
    tied *a = tied_new(311);
    nb_state_dict *sd = nb_module_state_dict(&a->base);
    ck_assert_int_eq(nb_state_dict_count(sd), 1);
    ck_assert_str_eq(nb_state_dict_name_at(sd, 0), "wte.weight");
    nb_state_dict_free(sd);
    int64_t n;
    double *want = snapshot(&a->base, &n);
    ck_assert_int_eq(n, 40);
    for (int k = 0; k < 3; k++) { /* from "wte.weight", from "head.weight", from both */
        tied *b = tied_new(312 + (uint64_t)k);
        sd = nb_state_dict_new();
        if (k != 1)
            nb_state_dict_add(sd, "wte.weight", a->wte->weight);
        if (k != 0)
            nb_state_dict_add(sd, "head.weight", a->wte->weight);
        ck_assert_msg(nb_module_load_state_dict(&b->base, sd, true) == NB_OK, "%d: %s", k, nb_last_error());
        assert_snapshot_eq(&b->base, want, n, "tied load");
        ck_assert_ptr_eq(b->head->weight, b->wte->weight);
        nb_state_dict_free(sd);
        nb_module_free(&b->base);
    }
    free(want);
    nb_module_free(&a->base);
}
END_TEST

/* float64 values load into a float32 model (converted). */
START_TEST(test_sd_dtype_conversion)
{
    nb_set_default_dtype(NB_F64);
    net *a = net_new(321);
    nb_set_default_dtype(NB_F32);
    net *b = net_new(322);
    int64_t n;
    double *want = snapshot(&a->base, &n);
    for (int64_t i = 0; i < n; i++)
        want[i] = (float)want[i];
    nb_state_dict *sd = nb_module_state_dict(&a->base);
    ck_assert_int_eq(nb_module_load_state_dict(&b->base, sd, true), NB_OK);
    assert_snapshot_eq(&b->base, want, n, "f64 -> f32 load");
    ck_assert_int_eq(nb_tensor_dtype(b->fc->weight), NB_F32);
    nb_state_dict_free(sd);
    free(want);
    nb_module_free(&a->base);
    nb_module_free(&b->base);
}
END_TEST

/* ==== default dtype ============================================================================ */
START_TEST(test_default_dtype)
{
    ck_assert_int_eq(nb_get_default_dtype(), NB_F32);
    nb_set_default_dtype(NB_F64);
    ck_assert_int_eq(nb_get_default_dtype(), NB_F64);
    net *n = net_new(261);
    nb_embedding_mod *e = nb_embedding_new(NULL, NULL, 5, 3, NULL);
    nb_param_list pl;
    nb_module_parameters(&n->base, false, &pl);
    for (int i = 0; i < pl.n; i++)
        ck_assert_msg(nb_tensor_dtype(pl.params[i]) == NB_F64, "%s is %s", pl.names[i],
                      nb_dtype_name(nb_tensor_dtype(pl.params[i])));
    nb_param_list_free(&pl);
    ck_assert_int_eq(nb_tensor_dtype(e->weight), NB_F64);
    nb_set_default_dtype(NB_F32);
    nb_linear_mod *l = nb_linear_new(NULL, NULL, 2, 2, true, NULL);
    ck_assert_int_eq(nb_tensor_dtype(l->weight), NB_F32);
    ck_assert_int_eq(nb_tensor_dtype(n->fc->weight), NB_F64); /* existing modules keep theirs */
    nb_module_free(&n->base);
    nb_module_free(&e->base);
    nb_module_free(&l->base);
    TU_EXPECT_ERROR("nb_set_default_dtype: the default dtype must be float32 or float64, got int32",
                    nb_set_default_dtype(NB_I32));
    TU_EXPECT_ERROR("got bool", nb_set_default_dtype(NB_BOOL));
    ck_assert_int_eq(nb_get_default_dtype(), NB_F32);
}
END_TEST

/* ==== buffers ==================================================================================== */
typedef struct {
    nb_module base;
    nb_linear_mod *fc;
    nb_tensor *running, *count, *scratch; /* buffers: persistent f32, persistent i64, non-persistent */
} buffered;
static const nb_module_type buffered_type = {"Buffered", NULL, NULL};

static buffered *buffered_new(uint64_t seed, nb_module *parent)
{
    nb_generator g;
    nb_generator_seed(&g, seed);
    buffered *b = calloc(1, sizeof *b);
    nb_module_init(&b->base, &buffered_type);
    b->fc = nb_linear_new(&b->base, "fc", 3, 2, true, &g);
    int scope = nb_scope_begin();
    b->running = nb_module_register_buffer(&b->base, "running", nb_randn(NB_DIMS(2), NB_F32, &g), true);
    b->count = nb_module_register_buffer(&b->base, "count", nb_full(NB_SCALAR, (double)seed, NB_I64), true);
    b->scratch = nb_module_register_buffer(&b->base, "scratch", nb_ones(NB_DIMS(4), NB_F32), false);
    nb_scope_end(scope); /* the module holds its own references */
    if (parent)
        nb_module_register_module(parent, "inner", &b->base);
    return b;
}

START_TEST(test_buffers_listed_and_found)
{
    buffered *top = calloc(1, sizeof *top);
    nb_module_init(&top->base, &buffered_type);
    buffered *b = buffered_new(5, &top->base);
    nb_param_list l;
    nb_module_buffers(&top->base, false, &l);
    ck_assert_int_eq(l.n, 3);
    ck_assert_str_eq(l.names[0], "inner.running");
    ck_assert_str_eq(l.names[1], "inner.count");
    ck_assert_str_eq(l.names[2], "inner.scratch");
    nb_param_list_free(&l);
    nb_module_buffers(&top->base, true, &l);
    ck_assert_int_eq(l.n, 2);
    nb_param_list_free(&l);
    ck_assert_ptr_eq(nb_module_get_buffer(&top->base, "inner.count"), b->count);
    ck_assert_ptr_null(nb_module_get_buffer(&top->base, "inner.fc.weight"));
    /* buffers are not parameters: the optimizer never sees them */
    nb_module_parameters(&top->base, false, &l);
    ck_assert_int_eq(l.n, 2);
    nb_param_list_free(&l);
    ck_assert(!nb_tensor_requires_grad(b->running));
    /* set_buffer replaces and returns the new tensor */
    nb_tensor *r2 = nb_zeros(NB_DIMS(2), NB_F32);
    b->running = nb_module_set_buffer(&b->base, "running", r2);
    nb_tensor_release(r2); /* the module's reference remains */
    ck_assert_ptr_eq(nb_module_get_buffer(&top->base, "inner.running"), r2);
    ck_assert_double_eq(nb_tensor_get(b->running, (int64_t[]){1}), 0);
    nb_module_free(&top->base);
}
END_TEST

START_TEST(test_buffers_in_state_dict)
{
    buffered *a = buffered_new(7, NULL), *b = buffered_new(8, NULL);
    nb_state_dict *sd = nb_module_state_dict(&a->base);
    ck_assert_int_eq(nb_state_dict_count(sd), 4); /* running, count, fc.weight, fc.bias; not scratch */
    /* torch's order: the module's own parameters (none), its buffers, then its children's */
    ck_assert_str_eq(nb_state_dict_name_at(sd, 0), "running");
    ck_assert_str_eq(nb_state_dict_name_at(sd, 1), "count");
    ck_assert_str_eq(nb_state_dict_name_at(sd, 2), "fc.weight");
    ck_assert_str_eq(nb_state_dict_name_at(sd, 3), "fc.bias");
    ck_assert(!nb_state_dict_contains(sd, "scratch"));
    nb_fill_(b->scratch, 3);
    ck_assert_msg(nb_module_load_state_dict(&b->base, sd, true) == NB_OK, "%s", nb_last_error());
    ck_assert_double_eq(nb_tensor_get(b->count, NULL), 7);
    ck_assert_double_eq(nb_tensor_get(b->running, (int64_t[]){0}), nb_tensor_get(a->running, (int64_t[]){0}));
    ck_assert_double_eq(nb_tensor_get(b->running, (int64_t[]){1}), nb_tensor_get(a->running, (int64_t[]){1}));
    ck_assert_double_eq(nb_tensor_get(b->scratch, (int64_t[]){0}), 3); /* non-persistent: untouched */
    nb_state_dict_free(sd);
    /* strict: a missing persistent buffer is named */
    sd = nb_module_state_dict(&a->base);
    nb_state_dict *partial = nb_state_dict_new();
    for (int i = 0; i < 4; i++)
        if (strcmp(nb_state_dict_name_at(sd, i), "count") != 0)
            nb_state_dict_add(partial, nb_state_dict_name_at(sd, i), nb_state_dict_tensor_at(sd, i));
    ck_assert_int_eq(nb_module_load_state_dict(&b->base, partial, true), NB_ERR_MISMATCH);
    ck_assert_msg(strstr(nb_last_error(), "missing keys: [count]") != NULL, "%s", nb_last_error());
    nb_state_dict_free(partial);
    nb_state_dict_free(sd);
    nb_module_free(&a->base);
    nb_module_free(&b->base);
}
END_TEST

START_TEST(test_module_to_dtype)
{
    buffered *b = buffered_new(9, NULL);
    nb_tensor *w = b->fc->weight;
    double w01 = nb_tensor_get(w, (int64_t[]){0, 1}), r1 = nb_tensor_get(b->running, (int64_t[]){1});
    nb_module_to_dtype(&b->base, NB_F64);
    ck_assert_ptr_eq(b->fc->weight, w); /* the same tensor object: typed fields stay valid */
    ck_assert_int_eq(nb_tensor_dtype(w), NB_F64);
    ck_assert_int_eq(nb_tensor_dtype(b->fc->bias), NB_F64);
    ck_assert_int_eq(nb_tensor_dtype(b->running), NB_F64);
    ck_assert_int_eq(nb_tensor_dtype(b->scratch), NB_F64);
    ck_assert_int_eq(nb_tensor_dtype(b->count), NB_I64); /* integer buffers are kept */
    ck_assert_double_eq(nb_tensor_get(w, (int64_t[]){0, 1}), w01); /* float32 values are exact in float64 */
    ck_assert_double_eq(nb_tensor_get(b->running, (int64_t[]){1}), r1);
    ck_assert(nb_tensor_requires_grad(w) && nb_tensor_is_leaf(w));
    /* it still trains: a backward reaches the converted weight */
    int scope = nb_scope_begin();
    nb_tensor *y = nb_sum(nb_linear_forward(b->fc, nb_ones(NB_DIMS(1, 3), NB_F64)), NB_ALL_AXES, false);
    nb_backward(y, NULL, false);
    ck_assert_int_eq(nb_tensor_dtype(nb_tensor_get_grad(w)), NB_F64);
    nb_scope_end(scope);
    TU_EXPECT_ERROR("nb_module_to_dtype: int32 is not a floating-point dtype", nb_module_to_dtype(&b->base, NB_I32));
    nb_module_free(&b->base);
}
END_TEST

START_TEST(test_buffer_misuse)
{
    buffered *b = buffered_new(10, NULL);
    nb_tensor *t = nb_zeros(NB_DIMS(2), NB_F32);
    TU_EXPECT_ERROR("nb_module_register_buffer: Buffered already has a buffer named \"running\"",
                    nb_module_register_buffer(&b->base, "running", t, true));
    TU_EXPECT_ERROR("already has a child named \"fc\"", nb_module_register_buffer(&b->base, "fc", t, true));
    TU_EXPECT_ERROR("nb_module_set_buffer: Buffered has no buffer named \"nope\"",
                    nb_module_set_buffer(&b->base, "nope", t));
    nb_tensor *p = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(2), NB_F32), true);
    TU_EXPECT_ERROR("requires grad", nb_module_register_buffer(&b->base, "grad_buf", p, true));
    TU_EXPECT_ERROR("already has a buffer named \"count\"", nb_module_register_parameter(&b->base, "count", p));
    nb_tensor_release(p);
    nb_tensor_release(t);
    nb_module_free(&b->base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("module_tree");
    TCase *tc = tcase_create("tree");
    tcase_add_checked_fixture(tc, tu_scope_setup, tu_scope_teardown); /* frees what tests leave */
    tcase_add_test(tc, test_tree_names);
    tcase_add_test(tc, test_tied_parameters);
    tcase_add_test(tc, test_zero_grad);
    tcase_add_test(tc, test_train_eval);
    tcase_add_test(tc, test_tree_misuse);
    tcase_add_test(tc, test_default_dtype);
    suite_add_tcase(s, tc);
    tc = tcase_create("state_dict");
    tcase_add_test(tc, test_sd_round_trip);
    tcase_add_test(tc, test_sd_strict_errors);
    tcase_add_test(tc, test_sd_shape_mismatch);
    tcase_add_test(tc, test_sd_non_strict);
    tcase_add_test(tc, test_sd_tied);
    tcase_add_test(tc, test_sd_dtype_conversion);
    tcase_add_test(tc, test_buffers_listed_and_found);
    tcase_add_test(tc, test_buffers_in_state_dict);
    tcase_add_test(tc, test_module_to_dtype);
    tcase_add_test(tc, test_buffer_misuse);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
