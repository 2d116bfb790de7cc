/* test_optim_sched.c — LR schedulers (MultiStep, Step, Exponential, CosineAnnealing, Linear,
 * Constant, Lambda, Sequential) against PyTorch 1.13 (tests/ref_optim.py): trajectories, state
 * save/restore, step(epoch) closed forms and misuse messages. Part of tests/test_optim. */
#include "testutil.h"

#include "nb_lr_scheduler.h"
#include "nb_optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref_optim.h"
#include "test_optim.h"

/* ---- LR schedulers -------------------------------------------------------------------------- */
static double lam(int64_t e, void *ctx)
{
    (void)ctx;
    return 1.0 / (1.0 + 0.1 * (double)e);
}

static nb_lr_scheduler *s_multistep(nb_optimizer *o) { return nb_multi_step_lr_new(o, (const int64_t[]){5, 10, 15, 20, 25}, 5, 0.5); }
static nb_lr_scheduler *s_step(nb_optimizer *o) { return nb_step_lr_new(o, 7, 0.3); }
static nb_lr_scheduler *s_exponential(nb_optimizer *o) { return nb_exponential_lr_new(o, 0.9); }
static nb_lr_scheduler *s_cosine(nb_optimizer *o) { return nb_cosine_annealing_lr_new(o, 10, 0.001); }
static nb_lr_scheduler *s_linear(nb_optimizer *o) { return nb_linear_lr_new(o, 0.25, 1.0, 8); }
static nb_lr_scheduler *s_linear_decay(nb_optimizer *o) { return nb_linear_lr_new(o, 1.0, 0.1, 10); }
static nb_lr_scheduler *s_constant(nb_optimizer *o) { return nb_constant_lr_new(o, 0.5, 4); }
static nb_lr_scheduler *s_lambda(nb_optimizer *o) { return nb_lambda_lr_new(o, lam, NULL); }
static nb_lr_scheduler *s_seq_warmup_cosine(nb_optimizer *o)
{
    nb_lr_scheduler *sub[2] = {nb_linear_lr_new(o, 0.1, 1.0, 5), nb_cosine_annealing_lr_new(o, 25, 0.005)};
    return nb_sequential_lr_new(o, sub, 2, (const int64_t[]){5});
}
static nb_lr_scheduler *s_seq_three(nb_optimizer *o)
{
    nb_lr_scheduler *sub[3] = {nb_constant_lr_new(o, 0.5, 2), nb_exponential_lr_new(o, 0.8),
                               nb_step_lr_new(o, 4, 0.5)};
    return nb_sequential_lr_new(o, sub, 3, (const int64_t[]){3, 12});
}

static const struct {
    const char *name;
    nb_lr_scheduler *(*make)(nb_optimizer *o);
    const double (*ref)[2];
} scheds[] = {
    {"MultiStepLR", s_multistep, ref_lr_multistep},
    {"StepLR", s_step, ref_lr_step},
    {"ExponentialLR", s_exponential, ref_lr_exponential},
    {"CosineAnnealingLR", s_cosine, ref_lr_cosine},
    {"LinearLR", s_linear, ref_lr_linear},
    {"LinearLR", s_linear_decay, ref_lr_linear_decay},
    {"ConstantLR", s_constant, ref_lr_constant},
    {"LambdaLR", s_lambda, ref_lr_lambda},
    {"SequentialLR", s_seq_warmup_cosine, ref_lr_seq_warmup_cosine},
    {"SequentialLR", s_seq_three, ref_lr_seq_three},
};
enum { NSCHEDS = sizeof scheds / sizeof scheds[0] };

/* SGD with groups lr 0.1 and 0.02, as sched_opt() in ref_optim.py. */
static nb_optimizer *sched_opt(nb_tensor **ps)
{
    make_params(ps, NB_F64, TU_CONTIGUOUS);
    nb_optimizer *opt = nb_sgd_new(NULL, 0, NULL);
    nb_param_group_opts g = nb_param_group_opts_inherit();
    g.lr = 0.1;
    nb_optimizer_add_param_group(opt, ps, 1, &g);
    g.lr = 0.02;
    nb_optimizer_add_param_group(opt, ps + 1, 1, &g);
    return opt;
}

static void check_lrs(const nb_lr_scheduler *s, const nb_optimizer *opt, const double *want, int t)
{
    for (int g = 0; g < 2; g++) {
        check_close(nb_lr_scheduler_name(s), t, g, nb_lr_scheduler_last_lr(s, g), want[g], 1e-12, 0);
        ck_assert(nb_optimizer_get_lr(opt, g) == nb_lr_scheduler_last_lr(s, g));
    }
}

START_TEST(test_scheduler_matches_torch)
{
    nb_tensor *ps[NP];
    nb_optimizer *opt = sched_opt(ps);
    nb_lr_scheduler *s = scheds[_i].make(opt);
    ck_assert_str_eq(nb_lr_scheduler_name(s), scheds[_i].name);
    ck_assert_int_eq(nb_lr_scheduler_group_count(s), 2);
    ck_assert_int_eq(nb_lr_scheduler_last_epoch(s), 0);
    ck_assert(nb_optimizer_get_initial_lr(opt, 0) == 0.1 && nb_optimizer_get_initial_lr(opt, 1) == 0.02);
    check_lrs(s, opt, scheds[_i].ref[0], 0);
    for (int t = 1; t <= SCHED_STEPS; t++) {
        nb_optimizer_step(opt);
        nb_lr_scheduler_step(s);
        check_lrs(s, opt, scheds[_i].ref[t], t);
    }
    ck_assert_int_eq(nb_lr_scheduler_last_epoch(s), SCHED_STEPS);
    nb_lr_scheduler_free(s);
    nb_optimizer_free(opt);
    for (int i = 0; i < NP; i++)
        nb_tensor_release(ps[i]);
}
END_TEST

/* Save mid-trajectory, rebuild optimizer and scheduler, restore lrs and state: identical. */
START_TEST(test_scheduler_state_restore)
{
    enum { MID = 12 };
    nb_tensor *pa[NP], *pb[NP];
    nb_optimizer *oa = sched_opt(pa), *ob = sched_opt(pb);
    nb_lr_scheduler *a = scheds[_i].make(oa);
    for (int t = 1; t <= MID; t++)
        nb_lr_scheduler_step(a);
    int n = nb_lr_scheduler_state_count(a);
    double st[128], lr[2] = {nb_optimizer_get_lr(oa, 0), nb_optimizer_get_lr(oa, 1)};
    ck_assert_int_le(n, 128);
    nb_lr_scheduler_state_get(a, st);
    char key[64];
    ck_assert_str_eq(nb_lr_scheduler_state_key(a, 3, key, sizeof key), "last_epoch");
    ck_assert_str_eq(nb_lr_scheduler_state_key(a, 6, key, sizeof key), "base_lr.1");
    ck_assert_str_eq(nb_lr_scheduler_state_key(a, 8, key, sizeof key), "last_lr.1");
    if (n > 9)
        ck_assert_str_eq(nb_lr_scheduler_state_key(a, 12, key, sizeof key), "schedulers.0.last_epoch");
    ck_assert(st[3] == MID);
    nb_lr_scheduler *b = scheds[_i].make(ob);
    nb_optimizer_set_lr(ob, 0, lr[0]);
    nb_optimizer_set_lr(ob, 1, lr[1]);
    ck_assert_int_eq(nb_lr_scheduler_state_set(b, st, n), NB_OK);
    for (int t = MID + 1; t <= SCHED_STEPS; t++) {
        nb_lr_scheduler_step(a);
        nb_lr_scheduler_step(b);
        check_lrs(b, ob, scheds[_i].ref[t], t);
        for (int g = 0; g < 2; g++)
            ck_assert(nb_lr_scheduler_last_lr(a, g) == nb_lr_scheduler_last_lr(b, g));
    }
    /* a state that does not fit */
    ck_assert_int_eq(nb_lr_scheduler_state_set(b, st, n - 1), NB_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nb_last_error(), "values"));
    st[0] += 1;
    ck_assert_int_eq(nb_lr_scheduler_state_set(b, st, n), NB_ERR_MISMATCH);
    ck_assert_ptr_nonnull(strstr(nb_last_error(), "kind"));
    nb_lr_scheduler_free(a);
    nb_lr_scheduler_free(b);
    nb_optimizer_free(oa);
    nb_optimizer_free(ob);
    for (int i = 0; i < NP; i++)
        nb_tensor_release(pa[i]), nb_tensor_release(pb[i]);
}
END_TEST

/* step(epoch): closed forms (PyTorch's _get_closed_form_lr). */
START_TEST(test_scheduler_step_to)
{
    nb_tensor *ps[NP];
    nb_optimizer *opt = sched_opt(ps);
    nb_lr_scheduler *s = nb_step_lr_new(opt, 3, 0.5);
    nb_lr_scheduler_step_to(s, 7);
    ck_assert(nb_lr_scheduler_last_lr(s, 0) == 0.1 * 0.25 && nb_lr_scheduler_last_epoch(s) == 7);
    nb_lr_scheduler_free(s);
    s = nb_cosine_annealing_lr_new(opt, 10, 0.0);
    nb_lr_scheduler_step_to(s, 5);
    ck_assert_double_eq_tol(nb_lr_scheduler_last_lr(s, 1), 0.01, 1e-17);
    nb_lr_scheduler_free(s);
    s = nb_multi_step_lr_new(opt, (const int64_t[]){8, 2, 8}, 3, 0.1);
    nb_lr_scheduler_step_to(s, 9);
    ck_assert_double_eq_tol(nb_lr_scheduler_last_lr(s, 0), 0.1 * 1e-3, 1e-18);
    /* at and just before the milestones (torch: bisect_right, so a milestone counts at its epoch) */
    const int64_t at[] = {1, 2, 7, 8};
    const double want[] = {0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 1e-3};
    for (int i = 0; i < 4; i++) {
        nb_lr_scheduler_step_to(s, at[i]);
        ck_assert_msg(fabs(nb_lr_scheduler_last_lr(s, 0) - want[i]) <= 1e-18, "MultiStepLR step_to(%lld): lr %g, "
                      "expected %g", (long long)at[i], nb_lr_scheduler_last_lr(s, 0), want[i]);
    }
    nb_lr_scheduler_free(s);
    nb_optimizer_free(opt);
    for (int i = 0; i < NP; i++)
        nb_tensor_release(ps[i]);
}
END_TEST

START_TEST(test_scheduler_misuse)
{
    nb_tensor *ps[NP], *qs[NP];
    nb_optimizer *opt = sched_opt(ps), *other = sched_opt(qs);
    TU_EXPECT_ERROR("nb_step_lr_new: step_size 0 must be >= 1", nb_step_lr_new(opt, 0, 0.1));
    TU_EXPECT_ERROR("nb_step_lr_new: invalid gamma -0.5", nb_step_lr_new(opt, 2, -0.5));
    TU_EXPECT_ERROR("t_max 0 must be >= 1", nb_cosine_annealing_lr_new(opt, 0, 0));
    TU_EXPECT_ERROR("start_factor 0 must be in (0, 1]", nb_linear_lr_new(opt, 0, 1, 5));
    TU_EXPECT_ERROR("end_factor 1.5 must be in [0, 1]", nb_linear_lr_new(opt, 0.5, 1.5, 5));
    TU_EXPECT_ERROR("total_iters 0 must be >= 1", nb_linear_lr_new(opt, 0.5, 1, 0));
    TU_EXPECT_ERROR("factor 2 must be in (0, 1]", nb_constant_lr_new(opt, 2, 5));
    TU_EXPECT_ERROR("lr lambda is NULL", nb_lambda_lr_new(opt, NULL, NULL));
    nb_lr_scheduler *a = nb_exponential_lr_new(opt, 0.9), *b = nb_step_lr_new(other, 2, 0.5);
    TU_EXPECT_ERROR("2 schedulers need 1 milestones", nb_sequential_lr_new(opt, (nb_lr_scheduler *[]){a, a}, 2, NULL));
    TU_EXPECT_ERROR("scheduler 1 (StepLR) belongs to a different optimizer",
                    nb_sequential_lr_new(opt, (nb_lr_scheduler *[]){a, b}, 2, (const int64_t[]){3}));
    TU_EXPECT_ERROR("scheduler 1 is also scheduler 0",
                    nb_sequential_lr_new(opt, (nb_lr_scheduler *[]){a, a}, 2, (const int64_t[]){3}));
    nb_lr_scheduler *c = nb_exponential_lr_new(opt, 0.5);
    nb_lr_scheduler *seq = nb_sequential_lr_new(opt, (nb_lr_scheduler *[]){a, c}, 2, (const int64_t[]){3});
    TU_EXPECT_ERROR("belongs to a SequentialLR; step the SequentialLR", nb_lr_scheduler_step(a));
    TU_EXPECT_ERROR("belongs to a SequentialLR, which frees it", nb_lr_scheduler_free(c));
    TU_EXPECT_ERROR("cannot be nested", nb_sequential_lr_new(opt, &seq, 1, NULL));
    TU_EXPECT_ERROR("SequentialLR has no step(epoch)", nb_lr_scheduler_step_to(seq, 3));
    TU_EXPECT_ERROR("group 2 out of range", nb_lr_scheduler_last_lr(seq, 2));
    TU_EXPECT_ERROR("index 99 out of range", nb_lr_scheduler_state_key(seq, 99, (char[8]){0}, 8));
    nb_optimizer_add_param_group(opt, ps + 2, 1, NULL);
    TU_EXPECT_ERROR("the optimizer has 3 param groups but the SequentialLR was created with 2",
                    nb_lr_scheduler_step(seq));
    nb_lr_scheduler_free(seq);
    nb_lr_scheduler_free(b);
    nb_optimizer_free(opt);
    nb_optimizer_free(other);
    for (int i = 0; i < NP; i++)
        nb_tensor_release(ps[i]), nb_tensor_release(qs[i]);
}
END_TEST

/* The "schedulers" test case of tests/test_optim (added to the suite by test_optim.c's main). */
TCase *optim_sched_tcase(void)
{
    TCase *ts = tcase_create("schedulers");
    tcase_add_loop_test(ts, test_scheduler_matches_torch, 0, NSCHEDS);
    tcase_add_loop_test(ts, test_scheduler_state_restore, 0, NSCHEDS);
    tcase_add_test(ts, test_scheduler_step_to);
    tcase_add_test(ts, test_scheduler_misuse);
    return ts;
}
