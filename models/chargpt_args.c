/* chargpt_args.c — chargpt's command line: the defaults, the usage text and the strict option
 * parser (getopt_long plus range-checked value parsers). Separate from main so the fuzz target
 * tests/fuzz/fuzz_options.c can drive it. */
#define _DEFAULT_SOURCE
#include "config.h"
#include "chargpt.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void chargpt_opts_default(chargpt_opts *o)
{
    memset(o, 0, sizeof *o);
    o->n_layer = 4, o->n_head = 4, o->n_embd = 128, o->block_size = 64, o->batch_size = 12;
    o->dropout = 0.0, o->bias = false, o->gelu = NB_GELU_TANH;
    o->max_iters = 2000, o->eval_interval = 250, o->eval_iters = 20;
    o->learning_rate = 1e-3, o->min_lr = 1e-4, o->warmup_iters = 100, o->lr_decay_iters = 2000;
    o->weight_decay = 0.1, o->beta1 = 0.9, o->beta2 = 0.99, o->grad_clip = 1.0, o->seed = 1337;
    o->lr_schedule = CHARGPT_LR_COSINE, o->gamma = 0.5;
    o->threads = 0;
    o->grad_accum = 1;
    o->log_interval = 10;
    o->split = "val";
    o->prompt = "\n", o->max_new_tokens = 500, o->temperature = 0.8, o->top_k = 200, o->top_p = 1.0;
    o->num_samples = 1;
    o->model = NB_LM_GPT, o->n_kv_head = 0, o->multiple_of = 32, o->cell = NB_CHAR_RNN_LSTM;
}

const char chargpt_usage[] =
    "usage: chargpt train --data FILE --out-dir DIR [options]\n"
    "       chargpt sample --checkpoint FILE [--prompt TEXT] [options]\n"
    "       chargpt eval --checkpoint FILE --data FILE [--split val|train]\n"
    "       chargpt plot DIR [DIR ...] [--output PNG] [--label NAME ...]\n"
    "\n"
    "train (nanoGPT's CPU shakespeare_char defaults in brackets):\n"
    "  --n-layer N [4]  --n-head N [4]  --n-embd N [128]  --block-size N [64]  --batch-size N [12]\n"
    "  --dropout P [0]  --bias (Linear/LayerNorm biases)  --gelu tanh|erf [tanh]\n"
    "  --max-iters N [2000]  --eval-interval N [250]  --eval-iters N [20]\n"
    "  --learning-rate LR [1e-3]  --min-lr LR [1e-4]  --warmup-iters N [100]  --lr-decay-iters N [2000]\n"
    "  --lr-schedule cosine|multistep|constant [cosine]  --milestones 50,100,... [every 50]  --gamma G [0.5]\n"
    "  --weight-decay W [0.1]  --beta1 B [0.9]  --beta2 B [0.99]  --grad-clip C [1.0] (0 = off)\n"
    "  --seed S [1337]  --threads N [cores]  --sampling random|epoch|sequential [random]  --resume  --plot\n"
    "  --quiet  (sequential: batch row b walks its own contiguous stream of the train split, window after\n"
    "  window; the lstm model carries its state from one window to the next: truncated BPTT)\n"
    "  --log-interval N [10] (progress on a terminal: one line redrawn; otherwise a line every N iters)\n"
    "  --always-save-checkpoint (save ckpt.safetensors at every eval, not only when val loss improves;\n"
    "  never a checkpoint with NaN/Inf)  --overwrite (replace the run already in --out-dir)\n"
    "  --gradient-accumulation-steps K [1] (K micro-batches of --batch-size per step, loss/K each)\n"
    "  several processes: mpirun -np N chargpt train ... (N ranks x K micro-batches per step; rank 0\n"
    "  writes the files; threads default to cores/ranks per host)  --debug-dist (check every eval that\n"
    "  all ranks hold identical weights)\n"
    "  --dtype float32|bfloat16 [float32] (bfloat16: nanoGPT's mixed precision: matmul, Linear and attention\n"
    "  take bfloat16 operands with float32 accumulation; weights, gradients, AdamW state, LayerNorm, softmax\n"
    "  and the loss stay float32; sample and eval take it too)\n"
    "models (--model gpt|llama|lstm [gpt]; the options keep one meaning across models):\n"
    "  gpt    GPT-2 (nanoGPT): --n-layer --n-head --n-embd --block-size --dropout --bias --gelu\n"
    "  llama  LLaMA-style (llama2.c names; RMSNorm, RoPE, SwiGLU, tied output): --n-layer --n-head\n"
    "         --n-kv-head N [= n-head] (grouped-query attention)  --multiple-of N [32] (SwiGLU hidden size\n"
    "         rounded up to it)  --n-embd --block-size --dropout\n"
    "  lstm   char-rnn (embedding, LSTM or GRU, linear head): --n-layer N [2]  --n-embd N [128] (embedding\n"
    "         and hidden size)  --block-size N [64] (BPTT length)  --cell lstm|gru [lstm]\n"
    "  an option another model uses is refused; sample and eval read the model from the checkpoint\n"
    "sample:\n"
    "  --checkpoint FILE  --prompt TEXT [\\n]  --max-new-tokens N [500]  --temperature T [0.8]\n"
    "  --top-k K [200] (0 = off)  --top-p P [1.0]  --seed S [1337]  --num-samples M [1]  --no-kv-cache\n"
    "  --allow-nonfinite (sample even from a checkpoint whose weights hold NaN/Inf)\n"
    "eval:\n"
    "  --checkpoint FILE  --data FILE  --split val|train [val]: mean loss over all non-overlapping windows\n"
    "  --digits N [4] decimals printed\n"
    "sample/eval of a checkpoint written by PyTorch with nanoGPT's names and no config/vocab metadata:\n"
    "  --n-head N  --data FILE (its sorted characters are the vocabulary, as nanoGPT's prepare.py)\n"
    "plot:\n"
    "  --output PNG [first DIR/loss.png]  --label NAME (once per DIR, in order) [DIR's base name (model)]\n"
    "exit status: 0 done, 1 failure, 2 bad usage, 3 training diverged, 130 / 143 interrupted by SIGINT /\n"
    "SIGTERM (the resume state is saved: continue with --resume)\n";

/* ---- strict option value parsing ------------------------------------------------------------ */
static bool parse_i64(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "chargpt: --%s expects an integer in [%lld, %lld], got '%s'\n", opt, (long long)lo,
                (long long)hi, s);
        return false;
    }
    *out = v;
    return true;
}

/* A number in the interval lo..hi; lo_open / hi_open exclude the bound (the message writes the
 * interval as [lo, hi], (lo, hi], [lo, hi)). A value strtod cannot represent is called too small
 * or too large, not out of the interval. */
static bool parse_real(const char *opt, const char *s, double lo, bool lo_open, double hi, bool hi_open, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end != s && !*end && errno == ERANGE) {
        fprintf(stderr, "chargpt: --%s: '%s' is too %s to represent as a double\n", opt, s,
                fabs(v) <= 1.0 ? "small" : "large");
        return false;
    }
    if (errno || end == s || *end || !(lo_open ? v > lo : v >= lo) || !(hi_open ? v < hi : v <= hi)) {
        fprintf(stderr, "chargpt: --%s expects a number in %c%g, %g%c, got '%s'\n", opt, lo_open ? '(' : '[', lo, hi,
                hi_open ? ')' : ']', s);
        return false;
    }
    *out = v;
    return true;
}

static bool parse_f64(const char *opt, const char *s, double lo, double hi, double *out)
{
    return parse_real(opt, s, lo, false, hi, false, out);
}

/* A file or directory name: not empty. */
static bool parse_path(const char *opt, const char *s, const char **out)
{
    if (!*s) {
        fprintf(stderr, "chargpt: --%s expects a file name, got ''\n", opt);
        return false;
    }
    *out = s;
    return true;
}

static bool parse_milestones(const char *s, chargpt_opts *o)
{
    o->n_milestones = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (errno || end == p || v < 0 || (*end && *end != ',') || o->n_milestones == CHARGPT_MAX_MILESTONES ||
            (o->n_milestones && v < o->milestones[o->n_milestones - 1])) {
            fprintf(stderr, "chargpt: --milestones expects up to %d non-decreasing integers like 50,100,150, got '%s'\n",
                    CHARGPT_MAX_MILESTONES, s);
            return false;
        }
        o->milestones[o->n_milestones++] = v;
        p = *end ? end + 1 : end;
    }
    if (!o->n_milestones) {
        fprintf(stderr, "chargpt: --milestones is empty\n");
        return false;
    }
    return true;
}

enum {
    O_DATA = 256, O_OUT, O_NLAYER, O_NHEAD, O_NEMBD, O_BLOCK, O_BATCH, O_DROPOUT, O_BIAS, O_GELU, O_MAXIT, O_EVALINT,
    O_EVALIT, O_LR, O_MINLR, O_WARMUP, O_DECAY, O_WD, O_B1, O_B2, O_CLIP, O_SEED, O_SCHED, O_MILE, O_GAMMA, O_THREADS,
    O_RESUME, O_SAMPLING, O_QUIET, O_PLOT, O_CKPT, O_PROMPT, O_MAXNEW, O_TEMP, O_TOPK, O_TOPP, O_NSAMP, O_NOKV,
    O_SPLIT, O_OUTPUT, O_HELP, O_ACCUM, O_DEBUGDIST, O_ALWAYS,
    O_LABEL, O_DIGITS, /* interop */
    O_LOGINT, O_OVERWRITE, O_ALLOWNF,
    O_MODEL, O_NKVHEAD, O_MULTOF, O_CELL, /* models */
    O_DTYPE, /* bfloat16 autocast */
    O_END /* at most O_DATA + 64: chargpt_opts.given is a 64-bit set */
};

static const struct option k_options[] = {
    {"data", required_argument, 0, O_DATA}, {"out-dir", required_argument, 0, O_OUT},
    {"n-layer", required_argument, 0, O_NLAYER}, {"n-head", required_argument, 0, O_NHEAD},
    {"n-embd", required_argument, 0, O_NEMBD}, {"block-size", required_argument, 0, O_BLOCK},
    {"batch-size", required_argument, 0, O_BATCH}, {"dropout", required_argument, 0, O_DROPOUT},
    {"bias", no_argument, 0, O_BIAS}, {"gelu", required_argument, 0, O_GELU},
    {"max-iters", required_argument, 0, O_MAXIT}, {"eval-interval", required_argument, 0, O_EVALINT},
    {"eval-iters", required_argument, 0, O_EVALIT}, {"learning-rate", required_argument, 0, O_LR},
    {"min-lr", required_argument, 0, O_MINLR}, {"warmup-iters", required_argument, 0, O_WARMUP},
    {"lr-decay-iters", required_argument, 0, O_DECAY}, {"weight-decay", required_argument, 0, O_WD},
    {"beta1", required_argument, 0, O_B1}, {"beta2", required_argument, 0, O_B2},
    {"grad-clip", required_argument, 0, O_CLIP}, {"seed", required_argument, 0, O_SEED},
    {"lr-schedule", required_argument, 0, O_SCHED}, {"milestones", required_argument, 0, O_MILE},
    {"gamma", required_argument, 0, O_GAMMA}, {"threads", required_argument, 0, O_THREADS},
    {"resume", no_argument, 0, O_RESUME}, {"sampling", required_argument, 0, O_SAMPLING},
    {"quiet", no_argument, 0, O_QUIET}, {"plot", no_argument, 0, O_PLOT},
    {"checkpoint", required_argument, 0, O_CKPT}, {"prompt", required_argument, 0, O_PROMPT},
    {"max-new-tokens", required_argument, 0, O_MAXNEW}, {"temperature", required_argument, 0, O_TEMP},
    {"top-k", required_argument, 0, O_TOPK}, {"top-p", required_argument, 0, O_TOPP},
    {"num-samples", required_argument, 0, O_NSAMP}, {"no-kv-cache", no_argument, 0, O_NOKV},
    {"split", required_argument, 0, O_SPLIT}, {"output", required_argument, 0, O_OUTPUT},
    {"help", no_argument, 0, O_HELP}, {"gradient-accumulation-steps", required_argument, 0, O_ACCUM},
    {"debug-dist", no_argument, 0, O_DEBUGDIST},
    {"always-save-checkpoint", no_argument, 0, O_ALWAYS}, {"log-interval", required_argument, 0, O_LOGINT},
    {"label", required_argument, 0, O_LABEL}, {"digits", required_argument, 0, O_DIGITS}, /* interop */
    {"overwrite", no_argument, 0, O_OVERWRITE}, {"allow-nonfinite", no_argument, 0, O_ALLOWNF},
    {"model", required_argument, 0, O_MODEL}, {"n-kv-head", required_argument, 0, O_NKVHEAD}, /* models */
    {"multiple-of", required_argument, 0, O_MULTOF}, {"cell", required_argument, 0, O_CELL},
    {"dtype", required_argument, 0, O_DTYPE}, /* bfloat16 autocast */
    {0, 0, 0, 0}};

/* Why getopt_long refused the long option `arg` ("--name" or "--name=value"): unknown, ambiguous
 * (the candidates named), missing its value, or given a value it does not take. */
static void bad_option(const char *arg)
{
    const char *name = arg + (strncmp(arg, "--", 2) ? 0 : 2), *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    int n = 0, hit = -1;
    char cands[512] = "";
    for (int i = 0; k_options[i].name; i++) {
        if (strncmp(k_options[i].name, name, len))
            continue;
        if (strlen(k_options[i].name) == len) { /* exact */
            hit = i, n = 1;
            break;
        }
        size_t l = strlen(cands);
        snprintf(cands + l, sizeof cands - l, "%s--%s", n ? ", " : "", k_options[i].name);
        hit = i, n++;
    }
    if (n > 1)
        fprintf(stderr, "chargpt: ambiguous option '--%.*s' (%s)\n", (int)len, name, cands);
    else if (n == 1 && k_options[hit].has_arg == required_argument && !eq)
        fprintf(stderr, "chargpt: option '--%s' needs a value\n", k_options[hit].name);
    else if (n == 1 && k_options[hit].has_arg == no_argument && eq)
        fprintf(stderr, "chargpt: option '--%s' takes no value\n", k_options[hit].name);
    else
        fprintf(stderr, "chargpt: unknown option '%s' (see chargpt --help)\n", arg);
}

static const char *option_name(int c)
{
    for (int i = 0; k_options[i].name; i++)
        if (k_options[i].val == c)
            return k_options[i].name;
    return "?";
}

int chargpt_parse_args(int argc, char **argv, chargpt_opts *o, const char **output, bool *milestones_given)
{
    const int64_t BIG = INT64_C(1) << 40;
    int64_t v;
#ifdef __GLIBC__
    optind = 0; /* glibc: a full reset, also of its position inside the previous argv */
#else
    optind = 1;
#endif
    opterr = 0;
    int c;
    o->given = 0;
    while ((c = getopt_long(argc, argv, "", k_options, NULL)) != -1) {
        const char *a = optarg;
        bool ok = true;
        if (c >= O_DATA && c < O_END)
            o->given |= UINT64_C(1) << (c - O_DATA);
        switch (c) {
        case O_DATA: ok = parse_path("data", a, &o->data); break;
        case O_OUT: ok = parse_path("out-dir", a, &o->out_dir); break;
        case O_NLAYER: ok = parse_i64("n-layer", a, 1, 1024, &o->n_layer); break;
        case O_NHEAD: ok = parse_i64("n-head", a, 1, 4096, &o->n_head); break;
        case O_NEMBD: ok = parse_i64("n-embd", a, 1, 65536, &o->n_embd); break;
        case O_BLOCK: ok = parse_i64("block-size", a, 1, 1 << 20, &o->block_size); break;
        case O_BATCH: ok = parse_i64("batch-size", a, 1, 1 << 20, &o->batch_size); break;
        case O_DROPOUT: ok = parse_f64("dropout", a, 0, 0.999, &o->dropout); break;
        case O_BIAS: o->bias = true; break;
        case O_GELU:
            if (!strcmp(a, "tanh")) o->gelu = NB_GELU_TANH;
            else if (!strcmp(a, "erf")) o->gelu = NB_GELU_ERF;
            else { fprintf(stderr, "chargpt: --gelu expects tanh or erf, got '%s'\n", a); ok = false; }
            break;
        case O_MAXIT: ok = parse_i64("max-iters", a, 0, BIG, &o->max_iters); break;
        case O_EVALINT: ok = parse_i64("eval-interval", a, 1, BIG, &o->eval_interval); break;
        case O_EVALIT: ok = parse_i64("eval-iters", a, 1, BIG, &o->eval_iters); break;
        case O_LR: ok = parse_real("learning-rate", a, 0, true, 1e3, false, &o->learning_rate); break;
        case O_MINLR: ok = parse_f64("min-lr", a, 0, 1e3, &o->min_lr); break;
        case O_WARMUP: ok = parse_i64("warmup-iters", a, 0, BIG, &o->warmup_iters); break;
        case O_DECAY: ok = parse_i64("lr-decay-iters", a, 1, BIG, &o->lr_decay_iters); break;
        case O_WD: ok = parse_f64("weight-decay", a, 0, 1e3, &o->weight_decay); break;
        case O_B1: ok = parse_real("beta1", a, 0, false, 1, true, &o->beta1); break;
        case O_B2: ok = parse_real("beta2", a, 0, false, 1, true, &o->beta2); break;
        case O_CLIP: ok = parse_f64("grad-clip", a, 0, 1e9, &o->grad_clip); break;
        case O_SEED: ok = parse_i64("seed", a, 0, INT64_MAX, &v); o->seed = (uint64_t)v; break;
        case O_SCHED:
            if (!strcmp(a, "cosine")) o->lr_schedule = CHARGPT_LR_COSINE;
            else if (!strcmp(a, "multistep")) o->lr_schedule = CHARGPT_LR_MULTISTEP;
            else if (!strcmp(a, "constant")) o->lr_schedule = CHARGPT_LR_CONSTANT;
            else { fprintf(stderr, "chargpt: --lr-schedule expects cosine, multistep or constant, got '%s'\n", a); ok = false; }
            break;
        case O_MILE: ok = parse_milestones(a, o); *milestones_given = ok; break;
        case O_GAMMA: ok = parse_f64("gamma", a, 0, 1e3, &o->gamma); break;
        case O_THREADS: ok = parse_i64("threads", a, 1, 1024, &v); o->threads = (int)v; break;
        case O_RESUME: o->resume = true; break;
        case O_SAMPLING:
            if (!strcmp(a, "random")) o->epoch_sampling = false;
            else if (!strcmp(a, "epoch")) o->epoch_sampling = true;
            else if (!strcmp(a, "sequential")) o->sequential = true, o->epoch_sampling = false;
            else { fprintf(stderr, "chargpt: --sampling expects random, epoch or sequential, got '%s'\n", a); ok = false; }
            if (ok && strcmp(a, "sequential")) o->sequential = false;
            break;
        case O_QUIET: o->quiet = true; break;
        case O_PLOT: o->plot = true; break;
        case O_CKPT: ok = parse_path("checkpoint", a, &o->checkpoint); break;
        case O_PROMPT: o->prompt = a; break;
        case O_MAXNEW: ok = parse_i64("max-new-tokens", a, 0, 1 << 24, &o->max_new_tokens); break;
        case O_TEMP: ok = parse_f64("temperature", a, 1e-6, 1e6, &o->temperature); break;
        case O_TOPK: ok = parse_i64("top-k", a, 0, BIG, &o->top_k); break;
        case O_TOPP: ok = parse_real("top-p", a, 0, true, 1.0, false, &o->top_p); break;
        case O_NSAMP: ok = parse_i64("num-samples", a, 1, 100000, &o->num_samples); break;
        case O_NOKV: o->no_kv_cache = true; break;
        case O_SPLIT:
            if (strcmp(a, "val") && strcmp(a, "train")) { fprintf(stderr, "chargpt: --split expects val or train, got '%s'\n", a); ok = false; }
            o->split = a;
            break;
        case O_OUTPUT: ok = parse_path("output", a, output); break;
        case O_HELP: fputs(chargpt_usage, stdout); return -1;
        case O_ACCUM: ok = parse_i64("gradient-accumulation-steps", a, 1, 1 << 20, &o->grad_accum); break;
        case O_DEBUGDIST: o->debug_dist = true; break;
        case O_ALWAYS: o->always_save = true; break;
        case O_LABEL: /* interop: plot legend names */
            if (o->n_labels == CHARGPT_MAX_LABELS) { fprintf(stderr, "chargpt: more than %d --label\n", CHARGPT_MAX_LABELS); ok = false; }
            else o->labels[o->n_labels++] = a;
            break;
        case O_DIGITS: ok = parse_i64("digits", a, 1, 17, &v); o->eval_digits = (int)v; break;
        case O_LOGINT: ok = parse_i64("log-interval", a, 1, BIG, &o->log_interval); break;
        case O_OVERWRITE: o->overwrite = true; break;
        case O_ALLOWNF: o->allow_nonfinite = true; break;
        case O_MODEL: /* models */
            if (!nb_lm_kind_parse(a, &o->model)) {
                fprintf(stderr, "chargpt: --model expects gpt, llama or lstm, got '%s'\n", a);
                ok = false;
            }
            break;
        case O_NKVHEAD: ok = parse_i64("n-kv-head", a, 1, 4096, &o->n_kv_head); break;
        case O_MULTOF: ok = parse_i64("multiple-of", a, 1, 65536, &o->multiple_of); break;
        case O_CELL:
            if (!strcmp(a, "lstm")) o->cell = NB_CHAR_RNN_LSTM;
            else if (!strcmp(a, "gru")) o->cell = NB_CHAR_RNN_GRU;
            else { fprintf(stderr, "chargpt: --cell expects lstm or gru, got '%s'\n", a); ok = false; }
            break;
        case O_DTYPE: /* bfloat16 autocast */
            if (!strcmp(a, "float32")) o->bf16 = false;
            else if (!strcmp(a, "bfloat16")) o->bf16 = true;
            else { fprintf(stderr, "chargpt: --dtype expects float32 or bfloat16, got '%s'\n", a); ok = false; }
            break;
        default: /* optopt: the letter of an unknown short option (optind has not moved past it) */
            if (optopt > 0 && optopt < 256)
                fprintf(stderr, "chargpt: unknown option '-%c' (see chargpt --help)\n", optopt);
            else
                bad_option(argv[optind - 1]);
            return 2;
        }
        if (!ok)
            return 2;
    }
    return 0;
}

/* The options each subcommand reads (bits of chargpt_opts.given); --help everywhere. */
#define BIT(c) (UINT64_C(1) << ((c) - O_DATA))
_Static_assert(BIT(O_NLAYER) == CHARGPT_GIVEN_N_LAYER, "chargpt.h names the --n-layer bit");
static uint64_t command_options(const char *cmd)
{
    uint64_t common = BIT(O_HELP) | BIT(O_THREADS) | BIT(O_DTYPE);
    if (!strcmp(cmd, "train"))
        return ~(BIT(O_CKPT) | BIT(O_PROMPT) | BIT(O_MAXNEW) | BIT(O_TEMP) | BIT(O_TOPK) | BIT(O_TOPP) |
                 BIT(O_NSAMP) | BIT(O_NOKV) | BIT(O_SPLIT) | BIT(O_OUTPUT) | BIT(O_ALLOWNF) | BIT(O_LABEL) |
                 BIT(O_DIGITS));
    /* sample and eval: --n-head and --data also describe a nanoGPT checkpoint without metadata */
    uint64_t nanogpt = BIT(O_NHEAD) | BIT(O_DATA);
    if (!strcmp(cmd, "sample"))
        return common | nanogpt | BIT(O_CKPT) | BIT(O_PROMPT) | BIT(O_MAXNEW) | BIT(O_TEMP) | BIT(O_TOPK) |
               BIT(O_TOPP) | BIT(O_SEED) | BIT(O_NSAMP) | BIT(O_NOKV) | BIT(O_ALLOWNF);
    if (!strcmp(cmd, "eval"))
        return common | nanogpt | BIT(O_CKPT) | BIT(O_SPLIT) | BIT(O_DIGITS);
    return BIT(O_HELP) | BIT(O_OUTPUT) | BIT(O_LABEL); /* plot */
}

int chargpt_check_command(const char *cmd, const chargpt_opts *o, char *const *args, int n_args)
{
    if (strcmp(cmd, "plot") && n_args > 0) {
        fprintf(stderr, "chargpt %s: unexpected argument '%s' (options start with --)\n", cmd, args[0]);
        return 2;
    }
    uint64_t extra = o->given & ~command_options(cmd);
    for (int c = O_DATA; c < O_END; c++)
        if (extra & BIT(c)) {
            fprintf(stderr, "chargpt %s: --%s is not a%s %s option (see chargpt --help)\n", cmd, option_name(c),
                    cmd[0] == 'e' ? "n" : "", cmd);
            return 2;
        }
    if (!strcmp(cmd, "train")) { /* models: the options of another model */
        uint64_t other = o->model == NB_LM_GPT     ? BIT(O_NKVHEAD) | BIT(O_MULTOF) | BIT(O_CELL)
                         : o->model == NB_LM_LLAMA ? BIT(O_BIAS) | BIT(O_GELU) | BIT(O_CELL)
                                                   : BIT(O_NHEAD) | BIT(O_NKVHEAD) | BIT(O_MULTOF) | BIT(O_DROPOUT) |
                                                         BIT(O_BIAS) | BIT(O_GELU);
        for (int c = O_DATA; c < O_END; c++)
            if (o->given & other & BIT(c)) {
                fprintf(stderr, "chargpt train: --%s is not an option of --model %s (see chargpt --help)\n",
                        option_name(c), nb_lm_kind_name(o->model));
                return 2;
            }
    }
    if (!strcmp(cmd, "train") && o->lr_schedule != CHARGPT_LR_MULTISTEP && (o->given & (BIT(O_MILE) | BIT(O_GAMMA)))) {
        fprintf(stderr, "chargpt train: --milestones and --gamma need --lr-schedule multistep\n");
        return 2;
    }
    return 0;
}
