/* bench_train.c — training throughput of nabla's GPT on random tokens (no dataset needed).
 *
 * Build and run (not part of make check; `make bench` runs the whole comparison):
 *     make bench/bench_train && bench/bench_train --preset char --threads 1
 * Each step is chargpt's: forward, mean cross-entropy, backward, global grad-norm clip, AdamW
 * (weight decay on >= 2-D params only), zero_grad. Inputs and targets are random ids drawn from a
 * seeded generator. --dtype bfloat16 runs forward and loss inside nb_autocast_begin/end, as
 * `chargpt train --dtype bfloat16` does (bf16 GEMM operands, fp32 master weights and AdamW state).
 * Prints a human-readable summary and one machine-readable line:
 *     RESULT impl=nabla preset=... threads=N tokens_per_s=... s_per_step=... best_s_per_step=...
 *            peak_rss_mb=... params=... loss_first=... loss_last=... rss_start_mb=... init_s=...
 *            dtype=float32|bfloat16 kernels=... bf16_kernel=...
 * bench/torch_train.py prints the same line for the PyTorch reference.
 * `bench_train --print-kernels` prints only "kernels=SET bf16_kernel=KIND": the kernel set in force
 * (NB_KERNELS or the CPU's best) and the kind of autocast's bfloat16 GEMM (amx, avx512bf16 or
 * rounded-fp32), for bench/run.sh and bench/autocast_speed.sh. */
#include "config.h"
#include "gpt.h"
#include "nabla.h"
#include "nb__k_gemm.h" /* nb__gemm_bf16_active, nb__gemm_bf16_name: which bf16 kernel ran */
#include "nb__kv.h"     /* nb__kernels, nb__kernels_name */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Peak resident set size of this process in MiB (Linux reports ru_maxrss in KiB). */
static double peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return NAN;
    return (double)ru.ru_maxrss / 1024.0;
}

static const char *k_usage =
    "usage: bench_train [--preset char|gpt2] [options]\n"
    "  --preset char   nanoGPT CPU shakespeare_char: 4 layers, 4 heads, 128 channels, block 64,\n"
    "                  vocab 65, B=12, T=64 (the default)\n"
    "  --preset gpt2   GPT-2 124M: 12 layers, 12 heads, 768 channels, block 1024, vocab 50257,\n"
    "                  B=4, T=64\n"
    "  --n-layer N --n-head N --n-embd N --block-size N --vocab N --batch N --seq T\n"
    "                  override single values of the preset (give --preset first)\n"
    "  --gelu tanh|erf [tanh]  --threads N [1; 0 = the library default]  --warmup N [5]  --steps N [20]  --seed S [1337]\n"
    "  --lr LR [1e-3]  --weight-decay W [0.1]  --grad-clip C [1.0]  --name NAME (label in RESULT)\n"
    "  --dtype float32|bfloat16 [float32]  bfloat16: forward and loss under nb_autocast_begin/end\n"
    "  --print-kernels  print the kernel set and the bf16 GEMM kernel in force, then exit\n";

typedef struct bench_opts {
    const char *preset, *name;
    nb_gpt_config c;
    int64_t batch, seq;
    int threads, warmup, steps;
    bool bf16; /* --dtype bfloat16 */
    uint64_t seed;
    double lr, weight_decay, grad_clip;
} bench_opts;

static bool parse_int(const char *s, int64_t lo, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo)
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static bool set_preset(bench_opts *o, const char *p)
{
    o->preset = p;
    o->c = nb_gpt_config_default(); /* dropout 0, no bias, tanh GELU */
    if (!strcmp(p, "char")) {
        o->batch = 12, o->seq = 64;
        return true;
    }
    if (!strcmp(p, "gpt2")) {
        o->c.n_layer = 12, o->c.n_head = 12, o->c.n_embd = 768, o->c.block_size = 1024, o->c.vocab_size = 50257;
        o->batch = 4, o->seq = 64;
        return true;
    }
    return false;
}

/* Returns 0, or 2 after printing the problem and the usage. */
static int parse_args(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){.threads = 1, .warmup = 5, .steps = 20, .seed = 1337, .lr = 1e-3, .weight_decay = 0.1,
                      .grad_clip = 1.0};
    set_preset(o, "char");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(k_usage, stdout);
            exit(0);
        }
        if (!strcmp(a, "--print-kernels")) {
            printf("kernels=%s bf16_kernel=%s\n", nb__kernels_name(nb__kernels()),
                   nb__gemm_bf16_name(nb__gemm_bf16_active()));
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_train: %s needs a value (or is unknown)\n%s", a, k_usage);
            return 2;
        }
        const char *v = argv[++i];
        int64_t n = 0;
        bool ok = true;
        if (!strcmp(a, "--preset"))
            ok = set_preset(o, v);
        else if (!strcmp(a, "--name"))
            o->name = v;
        else if (!strcmp(a, "--dtype")) {
            ok = !strcmp(v, "float32") || !strcmp(v, "bfloat16");
            o->bf16 = !strcmp(v, "bfloat16");
        }
        else if (!strcmp(a, "--gelu")) {
            if (!strcmp(v, "tanh"))
                o->c.gelu = NB_GELU_TANH;
            else if (!strcmp(v, "erf"))
                o->c.gelu = NB_GELU_ERF;
            else
                ok = false;
        } else if (!strcmp(a, "--lr"))
            ok = parse_double(v, &o->lr);
        else if (!strcmp(a, "--weight-decay"))
            ok = parse_double(v, &o->weight_decay);
        else if (!strcmp(a, "--grad-clip"))
            ok = parse_double(v, &o->grad_clip);
        else if (!strcmp(a, "--seed")) {
            ok = parse_int(v, 0, &n);
            o->seed = (uint64_t)n;
        } else {
            int64_t *dst = NULL;
            int *idst = NULL;
            int64_t lo = 1;
            if (!strcmp(a, "--n-layer"))
                dst = &o->c.n_layer;
            else if (!strcmp(a, "--n-head"))
                dst = &o->c.n_head;
            else if (!strcmp(a, "--n-embd"))
                dst = &o->c.n_embd;
            else if (!strcmp(a, "--block-size"))
                dst = &o->c.block_size;
            else if (!strcmp(a, "--vocab"))
                dst = &o->c.vocab_size;
            else if (!strcmp(a, "--batch"))
                dst = &o->batch;
            else if (!strcmp(a, "--seq"))
                dst = &o->seq;
            else if (!strcmp(a, "--threads"))
                idst = &o->threads, lo = 0; /* 0: the library default (env, cores, dynamic) */
            else if (!strcmp(a, "--warmup"))
                idst = &o->warmup, lo = 0;
            else if (!strcmp(a, "--steps"))
                idst = &o->steps;
            else {
                fprintf(stderr, "bench_train: unknown option %s\n%s", a, k_usage);
                return 2;
            }
            ok = parse_int(v, lo, &n) && n <= (1 << 30);
            if (ok && dst)
                *dst = n;
            else if (ok)
                *idst = (int)n;
        }
        if (!ok) {
            fprintf(stderr, "bench_train: bad value '%s' for %s\n%s", v, a, k_usage);
            return 2;
        }
    }
    if (nb_gpt_config_validate(&o->c) != NB_OK) {
        fprintf(stderr, "bench_train: %s\n", nb_last_error());
        return 2;
    }
    if (o->seq > o->c.block_size) {
        fprintf(stderr, "bench_train: --seq %lld exceeds the block size %lld\n", (long long)o->seq,
                (long long)o->c.block_size);
        return 2;
    }
    return 0;
}


/* Seconds spent in each phase of the timed steps: forward + loss, backward, clip + AdamW + zero. */
static double g_phase[3];

/* One training step on a fresh random batch; returns the loss before the update. */
static double train_step(nb_gpt *g, nb_optimizer *opt, const bench_opts *o, nb_generator *data_gen)
{
    int scope = nb_scope_begin();
    double t0 = now_s();
    nb_tensor *x = nb_randint(0, o->c.vocab_size, NB_DIMS(o->batch, o->seq), NB_I64, data_gen);
    nb_tensor *y = nb_randint(0, o->c.vocab_size, NB_DIMS(o->batch, o->seq), NB_I64, data_gen);
    if (o->bf16) /* as chargpt train --dtype bfloat16: forward and loss under autocast */
        nb_autocast_begin();
    nb_tensor *loss = nb_gpt_loss(nb_gpt_forward(g, x), y);
    if (o->bf16)
        nb_autocast_end();
    double lv = nb_tensor_item(loss), t1 = now_s();
    nb_backward(loss, NULL, false);
    double t2 = now_s();
    if (o->grad_clip > 0)
        nb_optimizer_clip_grad_norm(opt, o->grad_clip);
    nb_optimizer_step(opt);
    nb_optimizer_zero_grad(opt, true);
    nb_scope_end(scope);
    double t3 = now_s();
    g_phase[0] += t1 - t0, g_phase[1] += t2 - t1, g_phase[2] += t3 - t2;
    return lv;
}

int main(int argc, char **argv)
{
    bench_opts o;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    nb_set_num_threads(o.threads);
    double rss0 = peak_rss_mb();
    nb_generator init_gen, data_gen;
    nb_generator_seed(&init_gen, o.seed);
    nb_generator_seed(&data_gen, o.seed ^ 0x5eed5eed5eedULL);
    double t_init = now_s();
    nb_gpt *g = nb_gpt_new(&o.c, &init_gen);
    nb_optimizer *opt = nb_gpt_configure_optimizers(g, o.weight_decay, o.lr, 0.9, 0.99); /* as chargpt */
    t_init = now_s() - t_init;
    long long params = (long long)nb_module_parameter_numel(&g->base);
    int64_t tokens = o.batch * o.seq;
    printf("nabla bench_train: %s, %lld layers, %lld heads, %lld channels, block %lld, vocab %lld, B=%lld T=%lld, "
           "%lld params, %d threads, %s (kernels %s, bf16 GEMM %s); built in %.2f s\n",
           o.preset, (long long)o.c.n_layer, (long long)o.c.n_head, (long long)o.c.n_embd, (long long)o.c.block_size,
           (long long)o.c.vocab_size, (long long)o.batch, (long long)o.seq, params, nb_get_num_threads(),
           o.bf16 ? "bfloat16 autocast" : "float32", nb__kernels_name(nb__kernels()),
           nb__gemm_bf16_name(nb__gemm_bf16_active()), t_init);

    double loss_first = NAN, loss_last = NAN, t_warm = now_s();
    for (int i = 0; i < o.warmup; i++) {
        double lv = train_step(g, opt, &o, &data_gen);
        if (i == 0)
            loss_first = lv;
    }
    t_warm = now_s() - t_warm;
    g_phase[0] = g_phase[1] = g_phase[2] = 0;
    double best = INFINITY, t0 = now_s();
    for (int i = 0; i < o.steps; i++) {
        double ts = now_s();
        loss_last = train_step(g, opt, &o, &data_gen);
        if (isnan(loss_first))
            loss_first = loss_last;
        ts = now_s() - ts;
        best = ts < best ? ts : best;
    }
    double total = now_s() - t0, per = total / o.steps, rss = peak_rss_mb();
    if (!isfinite(loss_last)) {
        fprintf(stderr, "bench_train: loss is not finite (%g)\n", loss_last);
        rc = 1;
    }
    printf("warm-up %d steps %.2f s; %d timed steps %.3f s: %.4f s/step (best %.4f), %.0f tokens/s; "
           "loss %.4f -> %.4f; peak RSS %.1f MiB (%.1f at start)\n",
           o.warmup, t_warm, o.steps, total, per, best, (double)tokens / per, loss_first, loss_last, rss, rss0);
    printf("phases per step: forward+loss %.2f ms, backward %.2f ms, clip+AdamW+zero_grad %.2f ms\n",
           1e3 * g_phase[0] / o.steps, 1e3 * g_phase[1] / o.steps, 1e3 * g_phase[2] / o.steps);
    printf("RESULT impl=nabla name=%s preset=%s n_layer=%lld n_head=%lld n_embd=%lld B=%lld T=%lld threads=%d "
           "steps=%d tokens_per_s=%.1f s_per_step=%.5f best_s_per_step=%.5f peak_rss_mb=%.1f params=%lld "
           "loss_first=%.4f loss_last=%.4f rss_start_mb=%.1f init_s=%.3f dtype=%s kernels=%s bf16_kernel=%s\n",
           o.name ? o.name : o.preset, o.preset, (long long)o.c.n_layer, (long long)o.c.n_head, (long long)o.c.n_embd,
           (long long)o.batch, (long long)o.seq, nb_get_num_threads(), o.steps, (double)tokens / per, per, best, rss,
           params, loss_first, loss_last, rss0, t_init, o.bf16 ? "bfloat16" : "float32",
           nb__kernels_name(nb__kernels()), nb__gemm_bf16_name(nb__gemm_bf16_active()));
    nb_optimizer_free(opt);
    nb_module_free(&g->base);
    return rc;
}
