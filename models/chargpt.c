/* chargpt.c — train a character-level GPT on a text file, sample from it, evaluate it, plot runs.
 *   chargpt train --data FILE --out-dir DIR [options]
 *   chargpt sample --checkpoint FILE --prompt TEXT [options]
 *   chargpt eval --checkpoint FILE --data FILE [--split val|train]
 *   chargpt plot DIR [DIR ...] [--output PNG] [--label NAME ...]
 * Exit status: 0 success, 1 failure (bad data, file errors), 2 bad usage, 3 training diverged,
 * 130 / 143 training interrupted by SIGINT / SIGTERM (resume state saved: continue with --resume). */
#define _DEFAULT_SOURCE /* POSIX: truncate, fork, mkstemp, sigaction */
#include "config.h"
#include "chargpt.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

nb_gpt_config chargpt_model_config(const chargpt_opts *o, int64_t vocab_size)
{
    nb_gpt_config c = nb_gpt_config_default();
    c.n_layer = o->n_layer, c.n_head = o->n_head, c.n_embd = o->n_embd, c.block_size = o->block_size;
    c.vocab_size = vocab_size, c.dropout = o->dropout, c.bias = o->bias, c.gelu = o->gelu;
    return c;
}

nb_lm_config chargpt_lm_config(const chargpt_opts *o, int64_t vocab_size)
{
    nb_lm_config c = nb_lm_config_default(o->model);
    if (o->model == NB_LM_GPT) { /* exactly the config train built before --model existed */
        nb_gpt_config g = chargpt_model_config(o, vocab_size);
        c.n_layer = g.n_layer, c.n_head = g.n_head, c.n_embd = g.n_embd, c.block_size = g.block_size;
        c.vocab_size = g.vocab_size, c.dropout = g.dropout, c.bias = g.bias, c.gelu = g.gelu;
        return c;
    }
    uint64_t given = o->given; /* the kind's default where an option is absent (lstm: 2 layers) */
    c.n_layer = o->model == NB_LM_LSTM && !(given & CHARGPT_GIVEN_N_LAYER) ? c.n_layer : o->n_layer;
    c.n_head = o->n_head, c.n_embd = o->n_embd, c.block_size = o->block_size, c.vocab_size = vocab_size;
    c.n_kv_head = o->n_kv_head ? o->n_kv_head : o->n_head;
    c.multiple_of = o->multiple_of, c.cell = o->cell, c.dropout = o->model == NB_LM_LSTM ? 0.0 : o->dropout;
    return c;
}

/* chargpt's checkpoints, or nanoGPT-named ones (--n-head and --data fill in missing metadata; the
 * n_head default does not apply here: main leaves it 0 unless --n-head is given). */
static nb_status load_checkpoint(const chargpt_opts *o, nb_lm *m, nb_vocab *v)
{
    nb_ckpt_hints h = {.n_head = o->n_head, .data_path = o->data};
    return nb_ckpt_load_lm(o->checkpoint, &h, m, v);
}

/* ---- sample --------------------------------------------------------------------------------- */
static int cmd_sample(const chargpt_opts *o)
{
    if (!o->checkpoint) {
        fprintf(stderr, "chargpt sample: --checkpoint FILE is required\n");
        return 2;
    }
    nb_lm g;
    nb_vocab v;
    if (load_checkpoint(o, &g, &v) != NB_OK) {
        fprintf(stderr, "chargpt sample: %s\n", nb_last_error());
        return 1;
    }
    int64_t bad = chargpt_nonfinite_weights(g.module);
    if (bad && !o->allow_nonfinite) {
        fprintf(stderr, "chargpt sample: %s: %lld non-finite weights (NaN/Inf): refusing to sample (--allow-nonfinite "
                "samples anyway)\n", o->checkpoint, (long long)bad);
        nb_lm_free(&g);
        return 1;
    }
    if (bad)
        fprintf(stderr, "chargpt sample: warning: %s: %lld non-finite weights (NaN/Inf)\n", o->checkpoint, (long long)bad);
    int64_t *ids, n;
    if (nb_vocab_encode(&v, o->prompt, strlen(o->prompt), &ids, &n) != NB_OK || n == 0) {
        fprintf(stderr, "chargpt sample: prompt: %s\n", n == 0 && ids ? "the prompt is empty" : nb_last_error());
        free(ids);
        nb_lm_free(&g);
        return 1;
    }
    if (o->threads)
        nb_set_num_threads(o->threads);
    nb_sample_opts so = nb_sample_opts_default();
    so.max_new_tokens = o->max_new_tokens, so.temperature = o->temperature, so.top_k = o->top_k;
    so.top_p = o->top_p, so.use_kv_cache = !o->no_kv_cache;
    nb_generator gen;
    nb_generator_seed(&gen, o->seed);
    int64_t *buf = malloc((size_t)(n + so.max_new_tokens) * sizeof *buf);
    if (!buf)
        nb_fail("chargpt sample: out of memory");
    for (int64_t s = 0; s < o->num_samples; s++) {
        memcpy(buf, ids, (size_t)n * sizeof *buf);
        if (o->bf16)
            nb_autocast_begin();
        nb_lm_generate(&g, buf, n, &so, &gen);
        if (o->bf16)
            nb_autocast_end();
        char *text = nb_vocab_decode(&v, buf, n + so.max_new_tokens);
        printf("%s\n---------------\n", text);
        free(text);
    }
    free(buf);
    free(ids);
    nb_lm_free(&g);
    return 0;
}

/* ---- eval: mean loss over every non-overlapping block_size window of a split ---------------- */
static int cmd_eval(const chargpt_opts *o)
{
    if (!o->checkpoint || !o->data) {
        fprintf(stderr, "chargpt eval: --checkpoint FILE and --data FILE are required\n");
        return 2;
    }
    nb_lm g;
    nb_vocab v;
    if (load_checkpoint(o, &g, &v) != NB_OK) {
        fprintf(stderr, "chargpt eval: %s\n", nb_last_error());
        return 1;
    }
    int64_t bad = chargpt_nonfinite_weights(g.module);
    if (bad)
        fprintf(stderr, "chargpt eval: warning: %s: %lld non-finite weights (NaN/Inf)\n", o->checkpoint, (long long)bad);
    nb_char_data d;
    int64_t T = g.config.block_size;
    if (nb_char_data_load(&d, o->data, &v, T) != NB_OK) {
        fprintf(stderr, "chargpt eval: %s\n", nb_last_error());
        nb_lm_free(&g);
        return 1;
    }
    if (o->threads)
        nb_set_num_threads(o->threads);
    bool val = !strcmp(o->split, "val");
    const int64_t *data = val ? d.ids + d.n_train : d.ids;
    int64_t len = val ? d.n - d.n_train : d.n_train, windows = (len - 1) / T, B = 32;
    double total = 0;
    bool prev = nb_set_grad_enabled(false);
    nb_module_train(g.module, false); /* an RNN: every window from a zero state */
    for (int64_t w0 = 0; w0 < windows; w0 += B) {
        int scope = nb_scope_begin();
        int64_t nb = windows - w0 < B ? windows - w0 : B;
        nb_tensor *x = nb_empty(NB_DIMS(nb, T), NB_I64), *y = nb_empty(NB_DIMS(nb, T), NB_I64);
        int64_t *xv = nb_tensor_data(x), *yv = nb_tensor_data(y);
        for (int64_t b = 0; b < nb; b++) {
            memcpy(xv + b * T, data + (w0 + b) * T, (size_t)T * sizeof *xv);
            memcpy(yv + b * T, data + (w0 + b) * T + 1, (size_t)T * sizeof *yv);
        }
        if (o->bf16)
            nb_autocast_begin();
        total += nb_tensor_item(nb_lm_loss(&g, nb_lm_forward(&g, x, false), y)) * (double)(nb * T);
        if (o->bf16)
            nb_autocast_end();
        nb_scope_end(scope);
    }
    nb_set_grad_enabled(prev);
    printf("%s_loss %.*f\n", val ? "val" : "train", o->eval_digits ? o->eval_digits : 4, total / (double)(windows * T));
    nb_char_data_free(&d);
    nb_lm_free(&g);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(chargpt_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    chargpt_opts o;
    chargpt_opts_default(&o);
    const char *output = NULL;
    bool milestones_given = false;
    if (!strcmp(cmd, "sample") || !strcmp(cmd, "eval"))
        o.n_head = 0; /* given only by --n-head (for a checkpoint without a config) */
    int rc = chargpt_parse_args(argc - 1, argv + 1, &o, &output, &milestones_given);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (strcmp(cmd, "train") && strcmp(cmd, "sample") && strcmp(cmd, "eval") && strcmp(cmd, "plot")) {
        fprintf(stderr, "chargpt: unknown command '%s' (train, sample, eval, plot)\n", cmd);
        return 2;
    }
    if ((rc = chargpt_check_command(cmd, &o, argv + 1 + optind, argc - 1 - optind)) != 0)
        return rc;
    if (!strcmp(cmd, "train")) {
        if (!o.data || !o.out_dir) {
            fprintf(stderr, "chargpt train: --data FILE and --out-dir DIR are required\n");
            return 2;
        }
        nb_lm_config lc = chargpt_lm_config(&o, 65); /* the sizes' rules (the vocabulary comes later) */
        if (o.model != NB_LM_GPT && nb_lm_config_validate(&lc) != NB_OK) {
            fprintf(stderr, "chargpt train: --model %s: %s\n", nb_lm_kind_name(o.model), nb_last_error());
            return 2;
        }
        if (o.model == NB_LM_GPT && o.n_embd % o.n_head) {
            fprintf(stderr, "chargpt train: --n-embd %lld is not divisible by --n-head %lld\n", (long long)o.n_embd,
                    (long long)o.n_head);
            return 2;
        }
        if (o.lr_schedule == CHARGPT_LR_COSINE && (o.warmup_iters >= o.lr_decay_iters || o.min_lr > o.learning_rate)) {
            fprintf(stderr, "chargpt train: cosine schedule needs --warmup-iters < --lr-decay-iters and --min-lr <= "
                            "--learning-rate\n");
            return 2;
        }
        if (o.lr_schedule == CHARGPT_LR_MULTISTEP && !milestones_given) { /* every 50 steps */
            o.n_milestones = 0;
            for (int64_t m = 50; m < o.max_iters && o.n_milestones < CHARGPT_MAX_MILESTONES; m += 50)
                o.milestones[o.n_milestones++] = m;
        }
        if (nb_dist_init(&argc, &argv) != NB_OK) { /* several ranks under mpirun, else one process */
            fprintf(stderr, "chargpt train: %s\n", nb_last_error());
            return 1;
        }
        rc = chargpt_train(&o);
        bool lead = nb_dist_rank() == 0;
        nb_dist_finalize();
        if (rc == 0 && o.plot && lead) {
            char png[4096];
            snprintf(png, sizeof png, "%s/loss.png", o.out_dir);
            char *dirs[1] = {(char *)o.out_dir};
            rc = chargpt_plot(dirs, 1, o.n_labels ? o.labels : NULL, png);
        }
        return rc;
    }
    if (!strcmp(cmd, "sample"))
        return cmd_sample(&o);
    if (!strcmp(cmd, "eval"))
        return cmd_eval(&o);
    if (!strcmp(cmd, "plot")) {
        int n = argc - 1 - optind;
        if (n <= 0) {
            fprintf(stderr, "chargpt plot: give one or more run directories\n");
            return 2;
        }
        if (o.n_labels > n) {
            fprintf(stderr, "chargpt plot: %d --label for %d run directories\n", o.n_labels, n);
            return 2;
        }
        char png[4096];
        if (!output)
            snprintf(png, sizeof png, "%s/loss.png", argv[1 + optind]);
        return chargpt_plot(argv + 1 + optind, n, o.labels, output ? output : png);
    }
    fprintf(stderr, "chargpt: unknown command '%s' (train, sample, eval, plot)\n", cmd);
    return 2;
}
