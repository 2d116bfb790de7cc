/* test_char_rnn.c — the char-rnn model (models/char_rnn.c): parameter names and shapes, carried
 * state, and that truncated-BPTT training on consecutive windows learns a small text well enough
 * to continue it exactly. */
#include "testutil.h"

#include "char_rnn.h"

#include <math.h>
#include <string.h>

START_TEST(test_structure)
{
    nb_char_rnn_config cfg = {.vocab_size = 11, .n_embd = 5, .hidden = 7, .n_layers = 2, .cell = NB_CHAR_RNN_LSTM};
    nb_char_rnn *m = nb_char_rnn_new(&cfg, NULL);
    const char *names[] = {"embedding.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                           "rnn.bias_hh_l0", "rnn.weight_ih_l1", "rnn.weight_hh_l1", "rnn.bias_ih_l1",
                           "rnn.bias_hh_l1", "head.weight", "head.bias"};
    nb_param_list l;
    nb_module_parameters(&m->base, false, &l);
    ck_assert_int_eq(l.n, 11);
    for (int i = 0; i < 11; i++)
        ck_assert_str_eq(l.names[i], names[i]);
    nb_param_list_free(&l);
    ck_assert_int_eq(nb_module_parameter_numel(&m->base),
                     11 * 5 + (28 * 5 + 28 * 7 + 56) + (28 * 7 + 28 * 7 + 56) + 7 * 11 + 11);
    nb_char_rnn_state st = {NULL, NULL};
    nb_tensor *ids = nb_zeros(NB_DIMS(3, 4), NB_I64);
    tu_assert_shape(nb_char_rnn_forward(m, ids, &st), NB_DIMS(3, 4, 11));
    tu_assert_shape(st.h, NB_DIMS(2, 3, 7));
    tu_assert_shape(st.c, NB_DIMS(2, 3, 7));
    ck_assert(!nb_tensor_requires_grad(st.h));
    /* the carried state changes the result: a second window differs from a fresh start */
    nb_tensor *again = nb_char_rnn_forward(m, ids, &st), *fresh = nb_char_rnn_forward(m, ids, NULL);
    double diff = nb_tensor_item(nb_sum(nb_abs(nb_sub(again, fresh)), NB_ALL_AXES, false));
    ck_assert(diff > 1e-6);
    TU_EXPECT_ERROR("initial state", nb_char_rnn_forward(m, nb_zeros(NB_DIMS(2, 4), NB_I64), &st));
    nb_char_rnn_state_clear(&st);
    ck_assert_ptr_null(st.h);
    nb_module_free(&m->base);
}
END_TEST

/* "the text": a sentence repeated; after "the " comes "quick" or "lazy", which only the carried
 * state (more than one window back at times) can tell apart. */
static const char sentence[] = "the quick brown fox jumps over the lazy dog. ";

static int64_t char_id(char ch, const char *vocab) { return (int64_t)(strchr(vocab, ch) - vocab); }

static void train_and_continue(nb_char_rnn_cell cell, double bound)
{
    enum { N = 1600, NB = 4, T = 16, STEPS = 300 };
    char vocab[64] = "";
    size_t nv = 0;
    for (const char *p = sentence; *p; p++)
        if (!strchr(vocab, *p))
            vocab[nv++] = *p;
    int64_t V = (int64_t)strlen(vocab), text[N];
    int64_t len = (int64_t)strlen(sentence);
    for (int i = 0; i < N; i++)
        text[i] = char_id(sentence[i % len], vocab);
    nb_generator gen;
    nb_generator_seed(&gen, 11);
    nb_char_rnn_config cfg = {.vocab_size = V, .n_embd = 16, .hidden = 48, .n_layers = 2, .cell = cell};
    nb_char_rnn *m = nb_char_rnn_new(&cfg, &gen);
    nb_param_list l;
    nb_module_parameters(&m->base, false, &l);
    nb_adam_opts o = nb_adam_opts_default();
    o.lr = 1e-2;
    nb_optimizer *opt = nb_adam_new(l.params, l.n, &o);
    nb_char_rnn_state st = {NULL, NULL};
    const int64_t stream = N / NB, windows = (stream - 1) / T; /* NB streams of consecutive windows */
    double first = 0, last = 0;
    for (int step = 0; step < STEPS; step++) {
        int64_t w = step % windows;
        if (w == 0)
            nb_char_rnn_state_clear(&st); /* a new pass over the text starts from zeros */
        int scope = nb_scope_begin();
        nb_tensor *x = nb_empty(NB_DIMS(NB, T), NB_I64), *y = nb_empty(NB_DIMS(NB * T), NB_I64);
        int64_t *xv = nb_tensor_data(x), *yv = nb_tensor_data(y);
        for (int b = 0; b < NB; b++)
            for (int t = 0; t < T; t++) {
                int64_t at = b * stream + w * T + t;
                xv[b * T + t] = text[at], yv[b * T + t] = text[at + 1];
            }
        nb_tensor *logits = nb_char_rnn_forward(m, x, &st); /* st now carries the detached final state */
        nb_tensor *loss = nb_cross_entropy(nb_reshape(logits, NB_DIMS(NB * T, V)), y, NULL);
        nb_optimizer_zero_grad(opt, true);
        nb_backward(loss, NULL, false);
        nb_optimizer_step(opt);
        if (step == 0)
            first = nb_tensor_item(loss);
        last = nb_tensor_item(loss);
        nb_scope_end(scope);
    }
    ck_assert_msg(first > 2.5 && last < bound, "%s: loss %g -> %g, want < %g", cell == NB_CHAR_RNN_GRU ? "GRU" : "LSTM",
                  first, last, bound);
    /* greedy continuation (top_k 1) of "the " + 40 characters reproduces the text */
    int64_t ids[4 + 40];
    for (int i = 0; i < 4; i++)
        ids[i] = text[i];
    nb_sample_opts so = nb_sample_opts_default();
    so.max_new_tokens = 40, so.top_k = 1;
    nb_char_rnn_generate(m, ids, 4, &so, &gen);
    ck_assert(m->base.training);
    for (int i = 0; i < 44; i++)
        ck_assert_msg(ids[i] == text[i], "generated char %d is '%c', want '%c'", i, vocab[ids[i]], vocab[text[i]]);
    nb_char_rnn_state_clear(&st);
    nb_optimizer_free(opt);
    nb_param_list_free(&l);
    nb_module_free(&m->base);
}

START_TEST(test_lstm_learns_with_carried_state) { train_and_continue(NB_CHAR_RNN_LSTM, 0.05); }
END_TEST
START_TEST(test_gru_learns_with_carried_state) { train_and_continue(NB_CHAR_RNN_GRU, 0.05); }
END_TEST

int main(void)
{
    Suite *s = suite_create("char_rnn");
    TCase *tc = tcase_create("char_rnn");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, tu_scope_setup, tu_scope_teardown);
    tcase_add_test(tc, test_structure);
    tcase_add_test(tc, test_lstm_learns_with_carried_state);
    tcase_add_test(tc, test_gru_learns_with_carried_state);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
