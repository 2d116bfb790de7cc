/* bench_rnn.c — training throughput of a char LSTM (models/char_rnn), nabla vs PyTorch 1.13.
 *
 *   make bench/bench_rnn && bench/bench_rnn [--rounds 3] [--steps 10] [--cell lstm|gru]
 *       [--threads N] [--torch bench/torch_rnn.py | --no-torch]   (PYTHON=/usr/bin/python3 by default)
 * --threads N runs only that thread count (both sides); default: 1 and 2.
 *
 * Model: Embedding(65, 64) -> 2-layer LSTM(64 -> 256) -> Linear(256, 65), B=32, T=64. A step:
 * forward with the state carried (detached) from the previous step, mean cross-entropy, backward,
 * Adam (lr 1e-3), zero_grad. Random ids from a seeded generator. nabla runs with 1 and 2 threads,
 * PyTorch (bench/torch_rnn.py, started from here) with 1 and 2 threads (torch.set_num_threads and
 * OPENBLAS_NUM_THREADS); every configuration runs once per round, interleaved, and the table takes
 * each configuration's best round (the shared machine's speed drifts). Prints tokens/s side by
 * side, the ratio nabla best / PyTorch best and the CPU model, and per round a line
 *     RESULT impl=nabla threads=N tokens_per_s=X loss=L
 * (bench/run.sh's lstm section runs it with --no-torch --rounds 1 and PyTorch beside it). Not part of
 * make check. */
#define _POSIX_C_SOURCE 200809L
#include "char_rnn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { V = 65, E = 64, HID = 256, LAYERS = 2, BATCH = 32, SEQ = 64 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Mean tokens/s of `steps` timed steps after `warmup`, with `threads` threads. */
static double run_nabla(int threads, int steps, int warmup, nb_char_rnn_cell cell, double *loss_out)
{
    nb_set_num_threads(threads);
    nb_generator gen;
    nb_generator_seed(&gen, 0);
    nb_char_rnn_config cfg = {.vocab_size = V, .n_embd = E, .hidden = HID, .n_layers = LAYERS, .cell = cell};
    nb_char_rnn *m = nb_char_rnn_new(&cfg, &gen);
    nb_param_list l;
    nb_module_parameters(&m->base, false, &l);
    nb_adam_opts o = nb_adam_opts_default();
    o.lr = 1e-3;
    nb_optimizer *opt = nb_adam_new(l.params, l.n, &o);
    nb_char_rnn_state st = {NULL, NULL};
    double total = 0;
    for (int step = 0; step < warmup + steps; step++) {
        int scope = nb_scope_begin();
        nb_tensor *x = nb_empty(NB_DIMS(BATCH, SEQ), NB_I64), *y = nb_empty(NB_DIMS(BATCH * SEQ), NB_I64);
        int64_t *xv = nb_tensor_data(x), *yv = nb_tensor_data(y);
        for (int i = 0; i < BATCH * SEQ; i++)
            xv[i] = (int64_t)nb_generator_below(&gen, V), yv[i] = (int64_t)nb_generator_below(&gen, V);
        double t0 = now();
        nb_tensor *logits = nb_char_rnn_forward(m, x, &st);
        nb_tensor *loss = nb_cross_entropy(nb_reshape(logits, NB_DIMS(BATCH * SEQ, V)), y, NULL);
        nb_optimizer_zero_grad(opt, true);
        nb_backward(loss, NULL, false);
        nb_optimizer_step(opt);
        *loss_out = nb_tensor_item(loss);
        nb_scope_end(scope);
        if (step >= warmup)
            total += now() - t0;
    }
    nb_char_rnn_state_clear(&st);
    nb_optimizer_free(opt);
    nb_param_list_free(&l);
    nb_module_free(&m->base);
    return BATCH * SEQ * steps / total;
}

/* PyTorch's tokens/s from bench/torch_rnn.py's RESULT line, or -1. */
static double run_torch(const char *python, const char *script, int threads, int steps, int warmup, const char *cell)
{
    char cmd[1024], line[512];
    snprintf(cmd, sizeof cmd, "OPENBLAS_NUM_THREADS=%d OMP_NUM_THREADS=%d '%s' '%s' --threads %d --steps %d --warmup %d --cell %s",
             threads, threads, python, script, threads, steps, warmup, cell);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    double tok = -1;
    while (fgets(line, sizeof line, p)) {
        const char *s = strstr(line, "tok_s=");
        if (strncmp(line, "RESULT", 6) == 0 && s)
            tok = atof(s + 6);
    }
    return pclose(p) == 0 ? tok : -1;
}

static void cpu_model(char *buf, size_t n)
{
    snprintf(buf, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            snprintf(buf, n, "%.200s", c ? c + 2 : line);
            buf[strcspn(buf, "\n")] = 0;
            break;
        }
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    int rounds = 3, steps = 10, warmup = 2, only = 0;
    const char *script = "bench/torch_rnn.py", *cell = "lstm";
    const char *python = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--no-torch"))
            script = NULL;
        else if (i + 1 < argc && !strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--steps"))
            steps = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--torch"))
            script = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--threads"))
            only = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--cell"))
            cell = argv[++i];
        else {
            fprintf(stderr, "usage: bench_rnn [--rounds N] [--steps N] [--threads 1|2] [--cell lstm|gru] [--torch FILE | --no-torch]\n");
            return 2;
        }
    }
    if (rounds < 1 || steps < 1 || only < 0 || only > 2 || (strcmp(cell, "lstm") && strcmp(cell, "gru"))) {
        fprintf(stderr, "bench_rnn: bad --rounds, --steps or --cell\n");
        return 2;
    }
    nb_char_rnn_cell kind = strcmp(cell, "gru") ? NB_CHAR_RNN_LSTM : NB_CHAR_RNN_GRU;
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    printf("bench_rnn: char %s, Embedding(%d, %d) -> %d x %s(%d) -> Linear(%d, %d), B=%d T=%d, Adam; %d rounds x "
           "%d timed steps (+%d warm-up)\nCPU: %s\n",
           cell, V, E, LAYERS, cell, HID, HID, V, BATCH, SEQ, rounds, steps, warmup, cpu);
    double best[2][2] = {{0, 0}, {0, 0}}; /* [nabla, torch][threads-1] */
    for (int r = 0; r < rounds; r++)
        for (int t = 1; t <= 2; t++) {
            if (only && t != only)
                continue;
            double loss = 0, a = run_nabla(t, steps, warmup, kind, &loss);
            double b = script ? run_torch(python, script, t, steps, warmup, cell) : -1;
            if (script)
                printf("round %d, %d thread(s): nabla %.0f tok/s (loss %.3f), PyTorch %.0f tok/s\n", r + 1, t, a, loss, b);
            else
                printf("round %d, %d thread(s): nabla %.0f tok/s (loss %.3f)\n", r + 1, t, a, loss);
            printf("RESULT impl=nabla threads=%d tokens_per_s=%.1f loss=%.4f\n", t, a, loss); /* bench/run.sh */
            fflush(stdout);
            if (a > best[0][t - 1])
                best[0][t - 1] = a;
            if (b > best[1][t - 1])
                best[1][t - 1] = b;
        }
    double nb_best = best[0][0] > best[0][1] ? best[0][0] : best[0][1];
    double th_best = best[1][0] > best[1][1] ? best[1][0] : best[1][1];
    printf("\n%-10s %14s %14s %14s\n", "threads", "nabla tok/s", "PyTorch tok/s", "ratio");
    for (int t = 0; t < 2; t++)
        if (!only || t + 1 == only)
            printf("%-10d %14.0f %14.0f %14.2f\n", t + 1, best[0][t], best[1][t], th_best > 0 ? best[0][t] / best[1][t] : 0);
    printf("%-10s %14.0f %14.0f %14.2f   (nabla best / PyTorch best)\n", "best", nb_best, th_best,
           th_best > 0 ? nb_best / th_best : 0);
    if (!script || th_best <= 0)
        printf("(PyTorch side %s)\n", script ? "failed to run" : "skipped");
    return 0;
}
