/* test_mlp_lm.c — the second model (Bengio-style char MLP LM, README "Writing a new model in C"):
 * structure, and that it learns a deterministic text well enough to continue it exactly. */
#include "testutil.h"

#include "mlp_lm.h"

#include <math.h>

START_TEST(test_structure)
{
    nb_mlp_lm *m = nb_mlp_lm_new(10, 3, 4, 16, NULL);
    nb_param_list l;
    nb_module_parameters(&m->base, false, &l);
    const char *names[] = {"emb.weight", "hidden.weight", "hidden.bias", "out.weight", "out.bias"};
    ck_assert_int_eq(l.n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(l.names[i], names[i]);
    nb_param_list_free(&l);
    ck_assert_int_eq(nb_module_parameter_numel(&m->base), 10 * 4 + 12 * 16 + 16 + 16 * 10 + 10);
    int scope = nb_scope_begin();
    nb_tensor *idx = nb_zeros(NB_DIMS(7, 3), NB_I64);
    tu_assert_shape(nb_mlp_lm_forward(m, idx), NB_DIMS(7, 10));
    TU_EXPECT_ERROR("idx must be [B, 3]", nb_mlp_lm_forward(m, nb_zeros(NB_DIMS(7, 4), NB_I64)));
    nb_scope_end(scope);
    nb_module_free(&m->base);
}
END_TEST

START_TEST(test_learns_and_continues_a_sequence)
{
    /* "the text": a repeating 9-character cycle over 6 symbols; 3 characters of context determine
     * the next one, so a trained model continues it exactly (greedy-like, low temperature). */
    const int64_t cycle[9] = {0, 1, 2, 3, 1, 4, 5, 2, 0};
    enum { N = 900, CTX = 3 };
    int64_t text[N];
    for (int i = 0; i < N; i++)
        text[i] = cycle[i % 9];
    nb_generator gen;
    nb_generator_seed(&gen, 1);
    nb_mlp_lm *m = nb_mlp_lm_new(6, CTX, 8, 32, &gen);
    nb_param_list l;
    nb_module_parameters(&m->base, false, &l);
    nb_adam_opts o = nb_adamw_opts_default();
    o.lr = 1e-2;
    nb_optimizer *opt = nb_adamw_new(l.params, l.n, &o);
    double first = 0, last = 0;
    for (int step = 0; step < 300; step++) {
        int scope = nb_scope_begin();
        nb_tensor *x = nb_empty(NB_DIMS(32, CTX), NB_I64), *y = nb_empty(NB_DIMS(32), NB_I64);
        int64_t *xv = nb_tensor_data(x), *yv = nb_tensor_data(y);
        for (int b = 0; b < 32; b++) {
            int64_t s = (int64_t)nb_generator_below(&gen, N - CTX);
            for (int t = 0; t < CTX; t++)
                xv[b * CTX + t] = text[s + t];
            yv[b] = text[s + CTX];
        }
        nb_tensor *loss = nb_cross_entropy(nb_mlp_lm_forward(m, x), y, NULL);
        if (step == 0)
            first = nb_tensor_item(loss);
        last = nb_tensor_item(loss);
        nb_optimizer_zero_grad(opt, true);
        nb_backward(loss, NULL, false);
        nb_optimizer_step(opt);
        nb_scope_end(scope);
    }
    ck_assert_msg(first > 1.5 && last < 0.05, "loss %g -> %g", first, last);
    int64_t ids[40] = {0, 1, 2};
    nb_mlp_lm_generate(m, ids, 3, 30, 0.05, &gen);
    for (int i = 0; i < 33; i++)
        ck_assert_msg(ids[i] == cycle[i % 9], "position %d: %lld, expected %lld", i, (long long)ids[i],
                      (long long)cycle[i % 9]);
    nb_optimizer_free(opt);
    nb_param_list_free(&l);
    nb_module_free(&m->base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mlp_lm");
    TCase *tc = tcase_create("model");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_structure);
    tcase_add_test(tc, test_learns_and_continues_a_sequence);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
