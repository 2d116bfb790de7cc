/* bench_sdpa.c — nb_scaled_dot_product_attention with an attention mask and / or dropout against
 * the composite ops it replaces (matmul, scale, masked_fill / add, softmax, nb_dropout, matmul),
 * forward + backward of q, k, v [B, nh, T, hs] float32 requiring grad.
 *
 * Build and run (not part of make check):
 *     make bench/bench_sdpa && bench/bench_sdpa [iterations] [threads] [repeats]   (default 50, 1, 7)
 * Each case times `iterations` steps of the fused op, then of the composite, `repeats` times
 * interleaved (so a load change on a shared machine hits both alike), and prints the medians,
 * the ratio composite / fused and the CPU model; one line per case. Times are the process's CPU
 * time (robust on a shared machine with 1 thread; with more threads, the sum over threads):
 *     RESULT case=... fused_us=... composite_us=... speedup=... */
#include "config.h"
#include "nabla.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *name;
    int64_t B, H, T, D;
    int mask; /* 0 none (causal), 1 bool [T, T], 2 float [B, 1, T, T] */
    double p;
} bcase;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static nb_tensor *composite(const bcase *c, nb_tensor *q, nb_tensor *k, nb_tensor *v, const nb_tensor *m,
                            const nb_tensor *removed, nb_generator *g)
{
    nb_tensor *s = nb_mul_scalar(nb_matmul(q, nb_transpose(k, -2, -1)), 1.0 / sqrt((double)c->D));
    s = c->mask == 2 ? nb_add(s, m) : nb_masked_fill(s, removed, -INFINITY);
    return nb_matmul(nb_dropout(nb_softmax(s, -1), c->p, true, g), v);
}

static double run(const bcase *c, bool fused, long n, nb_tensor **x, const nb_tensor *m, const nb_tensor *removed,
                  const nb_tensor *dy)
{
    nb_generator g;
    nb_generator_seed(&g, 1);
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        int scope = nb_scope_begin();
        nb_tensor *y = fused ? nb_scaled_dot_product_attention(x[0], x[1], x[2], c->mask ? m : NULL, c->p,
                                                               c->mask == 0, 1.0 / sqrt((double)c->D), &g)
                             : composite(c, x[0], x[1], x[2], m, removed, &g);
        nb_backward(y, dy, false);
        for (int j = 0; j < 3; j++)
            nb_tensor_set_grad(x[j], NULL);
        nb_scope_end(scope);
    }
    return (now_s() - t0) * 1e6 / (double)n;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void cpu_model(char *buf, size_t n)
{
    snprintf(buf, n, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(buf, n, "%s", strchr(line, ':') + 2);
            buf[strcspn(buf, "\n")] = 0;
            break;
        }
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 50;
    int threads = argc > 2 ? atoi(argv[2]) : 1, reps = argc > 3 ? atoi(argv[3]) : 7;
    if (n <= 0 || threads <= 0 || reps <= 0 || reps > 99) {
        fprintf(stderr, "usage: bench_sdpa [iterations > 0] [threads > 0] [repeats 1..99]\n");
        return 2;
    }
    nb_set_num_threads(threads);
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    printf("fused sdpa vs composite ops, f32 forward+backward, CPU time, %d thread(s), %s, median of %d x %ld\n",
           threads, cpu, reps, n);
    const bcase cases[] = {
        {"gpt_causal_dropout0.1", 12, 4, 64, 32, 0, 0.1}, /* chargpt's default size, --dropout 0.1 */
        {"bool_mask_dropout0.1", 12, 4, 64, 32, 1, 0.1},
        {"float_mask_no_dropout", 12, 4, 64, 32, 2, 0.0},
        {"causal_dropout0.2_T256", 4, 4, 256, 32, 0, 0.2},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const bcase *c = &cases[ci];
        int scope = nb_scope_begin();
        nb_tensor *x[3];
        for (int j = 0; j < 3; j++)
            x[j] = nb_tensor_requires_grad_(nb_randn(NB_DIMS(c->B, c->H, c->T, c->D), NB_F32, NULL), true);
        nb_tensor *dy = nb_randn(NB_DIMS(c->B, c->H, c->T, c->D), NB_F32, NULL);
        nb_tensor *u = nb_rand(NB_DIMS(c->T, c->T), NB_F32, NULL), *cut = nb_scalar(0.8, NB_F32);
        nb_tensor *m = c->mask == 2 ? nb_randn(NB_DIMS(c->B, 1, c->T, c->T), NB_F32, NULL) : nb_lt(u, cut);
        nb_tensor *removed = c->mask == 0 ? nb_triu(nb_ones(NB_DIMS(c->T, c->T), NB_BOOL), 1) : nb_ge(u, cut);
        double tf[99], tc[99];
        run(c, true, n / 5 + 1, x, m, removed, dy); /* warm-up */
        run(c, false, n / 5 + 1, x, m, removed, dy);
        for (int r = 0; r < reps; r++) {
            tf[r] = run(c, true, n, x, m, removed, dy);
            tc[r] = run(c, false, n, x, m, removed, dy);
        }
        qsort(tf, (size_t)reps, sizeof *tf, cmp);
        qsort(tc, (size_t)reps, sizeof *tc, cmp);
        double f = tf[reps / 2], co = tc[reps / 2];
        printf("%-24s [%lld, %lld, %lld, %lld]: fused %9.1f us  composite %9.1f us  composite/fused %.2fx\n",
               c->name, (long long)c->B, (long long)c->H, (long long)c->T, (long long)c->D, f, co, co / f);
        printf("RESULT case=%s fused_us=%.1f composite_us=%.1f speedup=%.3f\n", c->name, f, co, co / f);
        nb_scope_end(scope); /* frees the case's tensors */
    }
    return 0;
}
