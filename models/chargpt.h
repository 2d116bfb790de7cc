/* chargpt.h — the chargpt program's options and subcommands (internal to the program). */
#ifndef NB_CHARGPT_H
#define NB_CHARGPT_H

#include "checkpoint.h"

#define CHARGPT_MAX_MILESTONES 256
#define CHARGPT_MAX_LABELS 256

typedef enum { CHARGPT_LR_COSINE, CHARGPT_LR_MULTISTEP, CHARGPT_LR_CONSTANT } chargpt_lr_schedule;

typedef struct chargpt_opts {
    /* train */
    const char *data, *out_dir;
    int64_t n_layer, n_head, n_embd, block_size, batch_size;
    double dropout;
    bool bias;
    nb_gelu_approx gelu;
    int64_t max_iters, eval_interval, eval_iters;
    double learning_rate, min_lr;
    int64_t warmup_iters, lr_decay_iters;
    double weight_decay, beta1, beta2, grad_clip;
    uint64_t seed;
    chargpt_lr_schedule lr_schedule;
    int n_milestones;
    int64_t milestones[CHARGPT_MAX_MILESTONES];
    double gamma;
    int threads;
    int64_t grad_accum; /* --gradient-accumulation-steps: micro-batches per optimizer step per rank */
    bool debug_dist;    /* --debug-dist: check that every rank holds the same weights at each eval */
    bool resume, epoch_sampling, quiet, plot;
    bool always_save;   /* --always-save-checkpoint: save at every eval, not only when val improves */
    int64_t log_interval; /* --log-interval: stdout not a terminal: a progress line every N iterations */
    bool overwrite;     /* --overwrite: a new run may replace the files of an earlier one in out_dir */
    bool allow_nonfinite; /* sample --allow-nonfinite: sample from weights holding NaN/Inf */
    uint64_t given;     /* the options present on the command line (a bit per option, chargpt_args.c) */
    /* sample / eval */
    const char *checkpoint, *prompt, *split;
    int64_t max_new_tokens, top_k, num_samples;
    double temperature, top_p;
    bool no_kv_cache;
    /* plot: --label NAME, the i-th for the i-th run directory (interop) */
    int n_labels;
    const char *labels[CHARGPT_MAX_LABELS];
    int eval_digits; /* eval: --digits N decimals of the printed loss (0: 4) */
    /* train --model gpt|llama|lstm and the options of one model */
    nb_lm_kind model;
    int64_t n_kv_head;     /* llama: 0 = n_head */
    int64_t multiple_of;   /* llama */
    nb_char_rnn_cell cell; /* lstm: lstm|gru */
    bool sequential;       /* --sampling sequential: each batch row walks its own contiguous stream */
    bool bf16;       /* --dtype bfloat16: forwards inside nb_autocast_begin/end (train, sample, eval) */
} chargpt_opts;

/* chargpt_opts.given: --n-layer was on the command line (chargpt_args.c keeps the bit in step) */
#define CHARGPT_GIVEN_N_LAYER (UINT64_C(1) << 2)

/* nanoGPT's CPU shakespeare_char defaults (DESIGN-NOTES §5). */
void chargpt_opts_default(chargpt_opts *o);
/* The --help text. */
extern const char chargpt_usage[];
/* Parses the options in argv[1..argc-1] (argv[0] is the subcommand) into o (start from
 * chargpt_opts_default); *output gets --output, *milestones_given whether --milestones was seen.
 * Returns 0; 2 after printing why to stderr (unknown option, value out of range); -1 after
 * printing the usage for --help. Non-option arguments are left at argv[optind..] (getopt_long
 * permutes them to the end). Reusable: every call parses from scratch (chargpt_args.c). */
int chargpt_parse_args(int argc, char **argv, chargpt_opts *o, const char **output, bool *milestones_given);
/* After chargpt_parse_args, for subcommand cmd: refuses (2, after printing why) positional
 * arguments (args[0..n_args-1]; plot takes them), options cmd does not read, and --milestones or
 * --gamma without the multistep schedule. Returns 0 when all is well. */
int chargpt_check_command(const char *cmd, const chargpt_opts *o, char *const *args, int n_args);
nb_gpt_config chargpt_model_config(const chargpt_opts *o, int64_t vocab_size);
/* The config of --model (its defaults where an option is not given; gpt: chargpt_model_config). */
nb_lm_config chargpt_lm_config(const chargpt_opts *o, int64_t vocab_size);

int chargpt_train(const chargpt_opts *o);
/* The number of NaN/Inf values in g's parameters. */
int64_t chargpt_nonfinite_weights(nb_module *m);

/* ---- several MPI ranks (chargpt_dist.c; with one process these do nothing or the obvious) ---- */
/* The largest rc over the ranks: a failure on any rank stops all of them at the same point. */
int chargpt_dist_agree(int rc);
/* This rank's micro-batch (new references in *x, *y): draws one batch per rank from the shared
 * stream rng (or the epoch order, or the sequential streams: one rank only), keeps the rank's own.
 * Returns true when a sequential batch starts a pass (the carried state restarts from zeros). */
bool chargpt_dist_draw(nb_char_data *d, const chargpt_opts *o, nb_generator *rng, nb_tensor **x, nb_tensor **y);
/* After rank 0 alone loaded the resume state: weights, optimizer state, scheduler, counters,
 * generators and data position from rank 0 to every rank. 0, or 1 (message printed). */
int chargpt_dist_share_state(nb_lm *g, nb_optimizer *opt, nb_lr_scheduler *sched, nb_char_data *d,
                             nb_train_state *ts);
/* --debug-dist: 0 when weights and optimizer state are bitwise identical on every rank (rank 0
 * prints the checksum), else 1 (rank 0 prints which rank differs). */
int chargpt_dist_check(nb_lm *g, nb_optimizer *opt, int64_t iter);
/* Plots the log.csv of each directory into `out_png` with gnuplot; the legend names run i
 * labels[i] (labels NULL or labels[i] NULL: the directory's base name, followed by " (MODEL)"
 * when DIR/ckpt.safetensors's metadata "model" names it: "run1 (llama)"). Names and paths never
 * enter the gnuplot script as text (octal-escaped strings); a failure leaves out_png untouched.
 * 0, or 1 after printing why. */
int chargpt_plot(char *const *dirs, int n_dirs, const char *const *labels, const char *out_png);

#endif
