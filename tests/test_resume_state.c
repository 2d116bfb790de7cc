/* test_resume_state.c — nb_resume_load (models/checkpoint.c) validates every field of a resume
 * state against its real range before it changes anything: a valid state (saved after one AdamW
 * step of a tiny GPT) is edited one field at a time — NaN learning rates, a negative scheduler
 * epoch or base lr, negative counters, a NaN best loss, a negative optimizer step or second moment,
 * an all-zero generator, a bool or int32 weight — and each edit must be refused with NB_ERR_FORMAT
 * and a message naming the field, with the live model, optimizer and scheduler bit-identical. */
#define _XOPEN_SOURCE 700 /* mkdtemp */
#include "testutil.h"

#include "checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[64], good[128], bad[128];
    nb_char_data data;
    nb_gpt *g;
    nb_optimizer *opt;
    nb_lr_scheduler *sched;
} live;

static double constant_lr(int64_t it, void *ctx)
{
    (void)it, (void)ctx;
    return 1.0;
}

/* A tiny GPT after one AdamW step, and its valid resume state in s->good. */
static void live_init(live *s)
{
    snprintf(s->dir, sizeof s->dir, "/tmp/nb_resume_XXXXXX");
    ck_assert(mkdtemp(s->dir) != NULL);
    char text[160];
    snprintf(text, sizeof text, "%s/text.txt", s->dir);
    snprintf(s->good, sizeof s->good, "%s/good.safetensors", s->dir);
    snprintf(s->bad, sizeof s->bad, "%s/bad.safetensors", s->dir);
    FILE *f = fopen(text, "w");
    for (int i = 0; i < 20; i++)
        fputs("the cat sat on the mat. ", f);
    fclose(f);
    ck_assert_msg(nb_char_data_load(&s->data, text, NULL, 4) == NB_OK, "%s", nb_last_error());
    unlink(text);
    nb_gpt_config c = nb_gpt_config_default();
    c.n_layer = 1, c.n_head = 2, c.n_embd = 8, c.block_size = 4, c.vocab_size = s->data.vocab.n;
    nb_generator gen;
    nb_generator_seed(&gen, 5);
    s->g = nb_gpt_new(&c, &gen);
    s->opt = nb_gpt_configure_optimizers(s->g, 0.1, 1e-3, 0.9, 0.99);
    s->sched = nb_lambda_lr_new(s->opt, constant_lr, NULL);
    int scope = nb_scope_begin();
    nb_tensor *x, *y;
    nb_char_data_batch(&s->data, NB_SPLIT_TRAIN, 2, 4, &gen, &x, &y);
    nb_backward(nb_gpt_loss(nb_gpt_forward(s->g, x), y), NULL, false);
    nb_optimizer_step(s->opt);
    nb_optimizer_zero_grad(s->opt, true);
    nb_lr_scheduler_step(s->sched);
    nb_scope_end(scope);
    nb_train_state ts = {.iter = 1, .best_val_loss = 3.5, .log_rows = 1, .world_size = 1, .grad_accum = 1};
    nb_generator_seed(&ts.rng, 7);
    ck_assert_msg(nb_resume_save(s->good, s->g, &s->data.vocab, s->opt, s->sched, &s->data, &ts) == NB_OK, "%s",
                  nb_last_error());
}

static void live_free(live *s)
{
    unlink(s->good);
    unlink(s->bad);
    rmdir(s->dir);
    nb_lr_scheduler_free(s->sched);
    nb_optimizer_free(s->opt);
    nb_module_free(&s->g->base);
    nb_char_data_free(&s->data);
}

/* A hash of everything nb_resume_load may change: weights, optimizer state, lrs, scheduler. */
static uint64_t live_hash(live *s)
{
    nb_param_list pl;
    nb_module_parameters(&s->g->base, false, &pl);
    int n = nb_optimizer_state_count(s->opt);
    nb_tensor **st = malloc((size_t)n * sizeof *st);
    for (int k = 0; k < n; k++)
        st[k] = nb_optimizer_state_at(s->opt, k).tensor;
    uint64_t h = nb_dist_checksum(pl.params, pl.n) ^ (nb_dist_checksum(st, n) * 3);
    free(st);
    nb_param_list_free(&pl);
    double v[64];
    int ns = nb_lr_scheduler_state_count(s->sched), ng = nb_optimizer_group_count(s->opt);
    ck_assert(ns + ng <= 64);
    nb_lr_scheduler_state_get(s->sched, v);
    for (int i = 0; i < ng; i++)
        v[ns + i] = nb_optimizer_get_lr(s->opt, i);
    for (int i = 0; i < ns + ng; i++) { /* FNV-1a over the bytes */
        const unsigned char *b = (const unsigned char *)&v[i];
        for (size_t k = 0; k < sizeof v[i]; k++)
            h = (h ^ b[k]) * 1099511628211ULL;
    }
    return h;
}

/* s->good with tensor `tname` replaced by `t` (when tname) and metadata `key` set to `value`
 * (when key), saved to s->bad. */
static void write_edited(live *s, const char *tname, nb_tensor *t, const char *key, const char *value)
{
    nb_state_dict *in, *out = nb_state_dict_new();
    ck_assert(nb_safetensors_load(s->good, &in) == NB_OK);
    bool replaced = !tname;
    for (int i = 0; i < nb_state_dict_count(in); i++) {
        const char *name = nb_state_dict_name_at(in, i);
        bool hit = tname && !strcmp(name, tname);
        replaced |= hit;
        nb_state_dict_add(out, name, hit ? t : nb_state_dict_tensor_at(in, i));
    }
    ck_assert_msg(replaced, "no tensor %s in the resume state", tname);
    for (int i = 0; i < nb_state_dict_meta_count(in); i++)
        nb_state_dict_set_meta(out, nb_state_dict_meta_key_at(in, i), nb_state_dict_meta_value_at(in, i));
    if (key) {
        ck_assert_msg(nb_state_dict_get_meta(in, key) != NULL, "no metadata %s", key);
        nb_state_dict_set_meta(out, key, value);
    }
    ck_assert(nb_safetensors_save(out, s->bad) == NB_OK);
    nb_state_dict_free(in);
    nb_state_dict_free(out);
    if (t)
        nb_tensor_release(t);
}

/* nb_resume_load of s->bad: NB_ERR_FORMAT naming `want`, the live state unchanged. */
static void expect_refused(live *s, const char *want)
{
    uint64_t before = live_hash(s);
    nb_train_state ts = {0};
    nb_status st = nb_resume_load(s->bad, s->g, &s->data.vocab, s->opt, s->sched, &s->data, &ts);
    ck_assert_msg(st == NB_ERR_FORMAT, "status %d for an edit that should say '%s' (%s)", (int)st, want,
                  st == NB_OK ? "accepted" : nb_last_error());
    ck_assert_msg(strstr(nb_last_error(), want), "message '%s' lacks '%s'", nb_last_error(), want);
    ck_assert_msg(live_hash(s) == before, "the live state changed although the load failed");
}

static void edit_meta(const char *key, const char *value, const char *want)
{
    live s;
    live_init(&s);
    write_edited(&s, NULL, NULL, key, value);
    expect_refused(&s, want);
    live_free(&s);
}

/* The "scheduler" metadata (hex doubles, comma-separated) with entry `idx` set to v. */
static void edit_sched(int idx, double v, const char *want)
{
    live s;
    live_init(&s);
    nb_state_dict *in;
    ck_assert(nb_safetensors_load(s.good, &in) == NB_OK);
    const char *p = nb_state_dict_get_meta(in, "scheduler");
    char text[2048] = "";
    for (int i = 0; *p; i++) {
        char *end;
        double x = strtod(p, &end);
        ck_assert(end != p);
        size_t l = strlen(text);
        snprintf(text + l, sizeof text - l, "%s%a", i ? "," : "", i == idx ? v : x);
        p = *end == ',' ? end + 1 : end;
    }
    nb_state_dict_free(in);
    write_edited(&s, NULL, NULL, "scheduler", text);
    expect_refused(&s, want);
    live_free(&s);
}

static void edit_tensor(const char *name, nb_tensor *(*make)(const nb_tensor *old), const char *want)
{
    live s;
    live_init(&s);
    nb_state_dict *in;
    ck_assert(nb_safetensors_load(s.good, &in) == NB_OK);
    nb_tensor *old = nb_state_dict_get(in, name);
    ck_assert_msg(old != NULL, "no tensor %s", name);
    nb_tensor *t = make(old);
    nb_state_dict_free(in);
    write_edited(&s, name, t, NULL, NULL);
    expect_refused(&s, want);
    live_free(&s);
}

static nb_tensor *step_minus_one(const nb_tensor *old)
{
    nb_tensor *t = nb_empty(nb_tensor_shape(old), nb_tensor_ndim(old), NB_I64);
    *(int64_t *)nb_tensor_data(t) = -1;
    return t;
}

static nb_tensor *negative_second_moment(const nb_tensor *old)
{
    nb_tensor *t = nb_empty(nb_tensor_shape(old), nb_tensor_ndim(old), NB_F32);
    memcpy(nb_tensor_data(t), nb_tensor_data(old), (size_t)nb_tensor_numel(old) * sizeof(float));
    ((float *)nb_tensor_data(t))[nb_tensor_numel(t) - 1] = -1e-8f;
    return t;
}

static nb_tensor *as_bool(const nb_tensor *old)
{
    nb_tensor *t = nb_empty(nb_tensor_shape(old), nb_tensor_ndim(old), NB_BOOL);
    memset(nb_tensor_data(t), 1, (size_t)nb_tensor_numel(t));
    return t;
}

static nb_tensor *as_i32(const nb_tensor *old)
{
    nb_tensor *t = nb_empty(nb_tensor_shape(old), nb_tensor_ndim(old), NB_I32);
    memset(nb_tensor_data(t), 0, (size_t)nb_tensor_numel(t) * 4);
    return t;
}

START_TEST(test_valid_state_loads)
{
    live s;
    live_init(&s);
    nb_train_state ts = {0};
    ck_assert_msg(nb_resume_load(s.good, s.g, &s.data.vocab, s.opt, s.sched, &s.data, &ts) == NB_OK, "%s",
                  nb_last_error());
    ck_assert_int_eq(ts.iter, 1);
    ck_assert(ts.best_val_loss == 3.5);
    live_free(&s);
}
END_TEST

START_TEST(test_group_lrs_nan) { edit_meta("group_lrs", "nan,nan", "group_lrs[0] = nan"); }
END_TEST
START_TEST(test_group_lrs_negative) { edit_meta("group_lrs", "0x1p-10,-0x1p-10", "group_lrs[1] = -0.000976562"); }
END_TEST
START_TEST(test_sched_last_epoch_negative) { edit_sched(3, -1000, "last_epoch -1000"); }
END_TEST
START_TEST(test_sched_base_lr_negative) { edit_sched(5, -1e-3, "base lr -0.001"); }
END_TEST
START_TEST(test_log_rows_negative) { edit_meta("log_rows", "-3", "log_rows -3"); }
END_TEST
START_TEST(test_best_val_loss_nan) { edit_meta("best_val_loss", "nan", "best_val_loss nan"); }
END_TEST
START_TEST(test_iter_negative) { edit_meta("iter", "-5", "iter -5"); }
END_TEST
START_TEST(test_world_size_negative) { edit_meta("world_size", "-4", "world_size -4"); }
END_TEST
START_TEST(test_rng_all_zero)
{
    edit_meta("rng", "0000000000000000,0000000000000000,0000000000000000,0000000000000000,0,0000000000000000",
              "rng is the all-zero generator state");
}
END_TEST
START_TEST(test_optimizer_step_negative) { edit_tensor("optim.0.step", step_minus_one, "optim.0.step = -1"); }
END_TEST
START_TEST(test_exp_avg_sq_negative)
{
    edit_tensor("optim.0.exp_avg_sq", negative_second_moment, "optim.0.exp_avg_sq[");
}
END_TEST
START_TEST(test_bool_weight) { edit_tensor("model.transformer.wpe.weight", as_bool, "model.transformer.wpe.weight is bool, expected float32"); }
END_TEST
START_TEST(test_i32_weight) { edit_tensor("model.transformer.wpe.weight", as_i32, "model.transformer.wpe.weight is int32, expected float32"); }
END_TEST

int main(void)
{
    Suite *s = suite_create("resume_state");
    TCase *t = tcase_create("validation");
    tcase_set_timeout(t, 30);
    tcase_add_test(t, test_valid_state_loads);
    tcase_add_test(t, test_group_lrs_nan);
    tcase_add_test(t, test_group_lrs_negative);
    tcase_add_test(t, test_sched_last_epoch_negative);
    tcase_add_test(t, test_sched_base_lr_negative);
    tcase_add_test(t, test_log_rows_negative);
    tcase_add_test(t, test_best_val_loss_nan);
    tcase_add_test(t, test_iter_negative);
    tcase_add_test(t, test_world_size_negative);
    tcase_add_test(t, test_rng_all_zero);
    tcase_add_test(t, test_optimizer_step_negative);
    tcase_add_test(t, test_exp_avg_sq_negative);
    tcase_add_test(t, test_bool_weight);
    tcase_add_test(t, test_i32_weight);
    suite_add_tcase(s, t);
    return tu_run_suite(s);
}
