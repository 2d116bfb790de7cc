/* fuzz_checkpoint.c — libFuzzer target: chargpt's checkpoint and resume files (models/checkpoint.c).
 * Each input is written to a file and read by nb_ckpt_load (which builds the model its metadata
 * describes) and by nb_resume_load into a live tiny model/optimizer/scheduler/dataset, the state
 * chargpt train --resume restores into. Either must fail with a status or succeed; after a
 * successful resume the next epoch batch is drawn (it reads the restored data permutation).
 * Never abort, crash, leak, or allocate beyond what the file justifies. Seeds: make_seeds.py,
 * whose FUZZ_TEXT and options must match the config below. Built by `make fuzz`. */
#define _DEFAULT_SOURCE
#include "config.h"
#include "checkpoint.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_TEXT_PART "the cat sat on the mat. "
#define BLOCK 4

static char g_path[512];
static nb_gpt *g_model;
static nb_optimizer *g_opt;
static nb_lr_scheduler *g_sched;
static nb_char_data g_data;
static nb_vocab g_vocab;

static double constant(int64_t it, void *ctx)
{
    (void)it, (void)ctx;
    return 1.0;
}

static void die(const char *what)
{
    fprintf(stderr, "fuzz_checkpoint: %s: %s\n", what, nb_last_error());
    abort();
}

static void write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        die("cannot write the input file");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    char text_path[512], text[10 * sizeof FUZZ_TEXT_PART];
    snprintf(text_path, sizeof text_path, "%s/nb_fuzz_ckpt_%ld.txt", dir, (long)getpid());
    snprintf(g_path, sizeof g_path, "%s/nb_fuzz_ckpt_%ld.safetensors", dir, (long)getpid());
    text[0] = '\0';
    for (int i = 0; i < 10; i++)
        strcat(text, FUZZ_TEXT_PART);
    write_file(text_path, text, strlen(text));
    if (nb_char_data_load(&g_data, text_path, NULL, BLOCK) != NB_OK)
        die("cannot load the text");
    unlink(text_path);
    /* chargpt train --n-layer 1 --n-head 2 --n-embd 4 --block-size 4 (make_seeds.py CKPT_ARGS) */
    nb_gpt_config c = nb_gpt_config_default();
    c.n_layer = 1, c.n_head = 2, c.n_embd = 4, c.block_size = BLOCK, c.vocab_size = g_data.vocab.n;
    g_model = nb_gpt_new(&c, NULL);
    nb_param_list pl; /* AdamW groups as chargpt_train.c: decay on >= 2-D params, none on the rest */
    nb_module_parameters(&g_model->base, false, &pl);
    nb_tensor **decay = calloc((size_t)pl.n, sizeof *decay), **rest = calloc((size_t)pl.n, sizeof *rest);
    int nd = 0, nr = 0;
    for (int i = 0; i < pl.n; i++) {
        if (nb_tensor_ndim(pl.params[i]) >= 2)
            decay[nd++] = pl.params[i];
        else
            rest[nr++] = pl.params[i];
    }
    nb_adam_opts ao = nb_adamw_opts_default();
    g_opt = nb_adamw_new(decay, nd, &ao);
    nb_param_group_opts go = nb_param_group_opts_inherit();
    go.weight_decay = 0.0;
    nb_optimizer_add_param_group(g_opt, rest, nr, &go);
    free(decay);
    free(rest);
    nb_param_list_free(&pl);
    g_sched = nb_lambda_lr_new(g_opt, constant, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    write_file(g_path, data, size);
    nb_gpt *g = (nb_gpt *)1;
    if (nb_ckpt_load(g_path, &g, &g_vocab) == NB_OK) {
        if (g_vocab.n != g->config.vocab_size)
            die("loaded vocabulary and config disagree");
        nb_module_free(&g->base);
    } else if (g != NULL) {
        die("nb_ckpt_load failed but did not clear *g");
    }
    /* a fresh process's data state: no permutation yet (nb_char_data_load leaves none) */
    free(g_data.perm);
    g_data.perm = NULL;
    g_data.n_perm = g_data.cursor = g_data.epoch = 0;
    nb_train_state ts = {0};
    if (nb_resume_load(g_path, g_model, &g_data.vocab, g_opt, g_sched, &g_data, &ts) == NB_OK) {
        int scope = nb_scope_begin();
        nb_tensor *x, *y;
        nb_generator gen;
        nb_generator_seed(&gen, 1);
        nb_char_data_batch_epoch(&g_data, 2, BLOCK, &ts.rng, &x, &y);
        nb_char_data_batch(&g_data, NB_SPLIT_TRAIN, 2, BLOCK, &gen, &x, &y);
        nb_scope_end(scope);
    }
    unlink(g_path);
    return 0;
}
