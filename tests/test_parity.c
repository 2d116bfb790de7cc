#define _DEFAULT_SOURCE /* mkstemp, mkdtemp, strdup */
/* test_parity.c — issue #4's acceptance test: a three-layer MLP and a tiny transformer (GPT with
 * 2 blocks) built from nabla modules train 20 AdamW steps, and their losses match the same models
 * in PyTorch 1.13 started from the same initial weights (written here, read by
 * tests/ref_parity.py) within 1e-10 (both run in float64; measured 2e-16 for the MLP and 2e-14 for
 * the GPT, so a wrong constant such as a GELU coefficient, which moves the losses by ~5e-7, fails). */
#include "testutil.h"

#include "gpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define STEPS 20

static bool have_torch(void) { return system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0; }

/* AdamW (lr 1e-2, betas 0.9/0.99, wd 0.1 on >= 2-D params), clip 1.0; returns losses. */
typedef nb_tensor *(*loss_fn)(nb_module *m, nb_tensor *x, nb_tensor *y);

static void train(nb_module *m, nb_tensor *x, nb_tensor *y, loss_fn f, double *losses)
{
    nb_param_list l;
    nb_module_parameters(m, false, &l);
    nb_tensor *dec[64], *nodec[64];
    int nd = 0, nn = 0;
    for (int i = 0; i < l.n; i++) {
        if (nb_tensor_ndim(l.params[i]) >= 2)
            dec[nd++] = l.params[i];
        else
            nodec[nn++] = l.params[i];
    }
    nb_adam_opts o = nb_adamw_opts_default();
    o.lr = 1e-2, o.beta1 = 0.9, o.beta2 = 0.99, o.weight_decay = 0.1;
    nb_optimizer *opt = nb_adamw_new(dec, nd, &o);
    nb_param_group_opts g = nb_param_group_opts_inherit();
    g.weight_decay = 0.0;
    if (nn)
        nb_optimizer_add_param_group(opt, nodec, nn, &g);
    for (int s = 0; s < STEPS; s++) {
        int scope = nb_scope_begin();
        nb_tensor *loss = f(m, x, y);
        losses[s] = nb_tensor_item(loss);
        nb_optimizer_zero_grad(opt, true);
        nb_backward(loss, NULL, false);
        nb_optimizer_clip_grad_norm(opt, 1.0);
        nb_optimizer_step(opt);
        nb_scope_end(scope);
    }
    nb_optimizer_free(opt);
    nb_param_list_free(&l);
}

static void save_init(nb_module *m, nb_tensor *x, nb_tensor *y, const char *path, const nb_gpt_config *c)
{
    nb_state_dict *sd = nb_module_state_dict(m);
    nb_state_dict_add(sd, "data.x", x);
    nb_state_dict_add(sd, "data.y", y);
    if (c) {
        char b[32];
        const char *keys[] = {"vocab_size", "block_size", "n_layer", "n_head", "n_embd"};
        int64_t vals[] = {c->vocab_size, c->block_size, c->n_layer, c->n_head, c->n_embd};
        for (int i = 0; i < 5; i++) {
            snprintf(b, sizeof b, "%lld", (long long)vals[i]);
            nb_state_dict_set_meta(sd, keys[i], b);
        }
        nb_state_dict_set_meta(sd, "bias", c->bias ? "true" : "false");
    }
    ck_assert_msg(nb_safetensors_save(sd, path) == NB_OK, "save: %s", nb_last_error());
    nb_state_dict_free(sd);
}

static void compare_with_torch(const char *kind, const char *path, const double *losses)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref_parity.py %s %s", NB_SRCDIR, kind, path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    double maxdiff = 0;
    for (int s = 0; s < STEPS; s++) {
        double t;
        ck_assert_msg(fscanf(p, "%lf", &t) == 1, "%s: PyTorch printed fewer than %d losses", kind, STEPS);
        double d = fabs(t - losses[s]);
        maxdiff = d > maxdiff ? d : maxdiff;
        ck_assert_msg(d <= 1e-10, "%s step %d: nabla loss %.12f, PyTorch %.12f", kind, s, losses[s], t);
    }
    ck_assert_int_eq(pclose(p), 0);
    printf("parity %s: 20 steps, losses %.6f -> %.6f, max |nabla - torch| = %.3g\n", kind, losses[0],
           losses[STEPS - 1], maxdiff);
    ck_assert_msg(losses[STEPS - 1] < losses[0], "%s did not learn", kind);
}

static nb_tensor *mlp_loss(nb_module *m, nb_tensor *x, nb_tensor *y)
{
    return nb_cross_entropy(nb_module_forward(m, x), y, NULL);
}

START_TEST(test_mlp_matches_pytorch)
{
    nb_set_default_dtype(NB_F64);
    nb_generator gen;
    nb_generator_seed(&gen, 7);
    nb_sequential_mod *s = nb_sequential_new(NULL, NULL);
    nb_sequential_append(s, &nb_linear_new(NULL, NULL, 8, 32, true, &gen)->base);
    nb_sequential_append(s, &nb_tanh_new(NULL, NULL)->base);
    nb_sequential_append(s, &nb_linear_new(NULL, NULL, 32, 32, true, &gen)->base);
    nb_sequential_append(s, &nb_relu_new(NULL, NULL)->base);
    nb_sequential_append(s, &nb_linear_new(NULL, NULL, 32, 5, true, &gen)->base);
    int scope = nb_scope_begin();
    nb_tensor *x = nb_randn(NB_DIMS(16, 8), NB_F64, &gen);
    nb_tensor *y = nb_randint(0, 5, NB_DIMS(16), NB_I64, &gen);
    char path[] = "/tmp/nb-parity-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    save_init(&s->base, x, y, path, NULL);
    double losses[STEPS];
    train(&s->base, x, y, mlp_loss, losses);
    compare_with_torch("mlp", path, losses);
    unlink(path);
    nb_scope_end(scope);
    nb_module_free(&s->base);
}
END_TEST

static nb_tensor *gpt_loss(nb_module *m, nb_tensor *x, nb_tensor *y)
{
    return nb_gpt_loss(nb_gpt_forward((nb_gpt *)m, x), y);
}

START_TEST(test_transformer_matches_pytorch)
{
    nb_set_default_dtype(NB_F64);
    nb_gpt_config c = {.block_size = 8, .vocab_size = 11, .n_layer = 2, .n_head = 2, .n_embd = 16, .dropout = 0,
                       .bias = true, .gelu = NB_GELU_TANH};
    nb_generator gen;
    nb_generator_seed(&gen, 11);
    nb_gpt *g = nb_gpt_new(&c, &gen);
    int scope = nb_scope_begin();
    nb_tensor *x = nb_randint(0, 11, NB_DIMS(4, 8), NB_I64, &gen);
    nb_tensor *y = nb_randint(0, 11, NB_DIMS(4, 8), NB_I64, &gen);
    char path[] = "/tmp/nb-parity-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    save_init(&g->base, x, y, path, &c);
    double losses[STEPS];
    train(&g->base, x, y, gpt_loss, losses);
    compare_with_torch("gpt", path, losses);
    unlink(path);
    nb_scope_end(scope);
    nb_module_free(&g->base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parity");
    TCase *tc = tcase_create("pytorch");
    tcase_set_timeout(tc, 60);
    if (!have_torch())
        return tu_skipped("PyTorch parity tests (no torch in /usr/bin/python3; ./setup.sh --tests installs it)");
    tcase_add_test(tc, test_mlp_matches_pytorch);
    tcase_add_test(tc, test_transformer_matches_pytorch);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
