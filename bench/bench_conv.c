/* bench_conv.c — conv2d forward and forward + backward on the case: x [32, 64, 32, 32],
 * weight [64, 64, 3, 3], bias [64], padding 1, float32 (im2col + GEMM, tensor/k_conv.c).
 *
 * Build and run (not part of make check): make bench/bench_conv && bench/bench_conv [threads] [reps]
 * (defaults 2 and 5). threads N >= 1 runs exactly N threads (dynamic threads off); 0 runs the
 * library's default (every core, fewer while other processes keep them busy). Times each phase `reps` times and keeps the best, after one warm-up. Prints
 * one machine-readable line per phase, as bench/torch_conv.py does for PyTorch:
 *     RESULT impl=nabla threads=2 case=fwd ms=... cpu_ms=...
 *     RESULT impl=nabla threads=2 case=fwdbwd ms=... cpu_ms=...
 * ms is wall time; cpu_ms the process's CPU time (all threads): on a host shared with other busy
 * processes, 1-thread CPU times are the steadier comparison (time spent descheduled not counted).
 * bench/conv.sh runs both interleaved and prints them side by side with the ratio. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime clocks */
#include "config.h"
#include "nabla.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One forward (and backward of sum(y * g) when bwd) in its own scope; returns wall seconds and
 * sets *cpu to the process's CPU seconds (all threads). */
static double step(nb_tensor *x, nb_tensor *w, nb_tensor *b, nb_tensor *g, const nb_conv_opts *o, bool bwd,
                   double *cpu)
{
    int s = nb_scope_begin();
    double t0 = now_s(CLOCK_MONOTONIC), c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
    nb_tensor *y = nb_conv2d(x, w, b, o);
    if (bwd)
        nb_backward(y, g, false);
    double t = now_s(CLOCK_MONOTONIC) - t0;
    *cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    nb_scope_end(s);
    if (bwd) {
        nb_tensor_zero_grad(x, true);
        nb_tensor_zero_grad(w, true);
        nb_tensor_zero_grad(b, true);
    }
    return t;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2, reps = argc > 2 ? atoi(argv[2]) : 5;
    if (threads < 0 || reps < 1) {
        fprintf(stderr, "usage: bench_conv [threads >= 0] [reps >= 1]\n");
        return 2;
    }
    if (threads > 0) {
        nb_set_num_threads(threads);
        nb_set_dynamic_threads(false);
    }
    nb_generator gen;
    nb_generator_seed(&gen, 1);
    nb_tensor *x = nb_tensor_requires_grad_(nb_randn(NB_DIMS(32, 64, 32, 32), NB_F32, &gen), true);
    nb_tensor *w = nb_tensor_requires_grad_(nb_randn(NB_DIMS(64, 64, 3, 3), NB_F32, &gen), true);
    nb_tensor *b = nb_tensor_requires_grad_(nb_randn(NB_DIMS(64), NB_F32, &gen), true);
    nb_tensor *g = nb_randn(NB_DIMS(32, 64, 32, 32), NB_F32, &gen);
    nb_conv_opts o = nb_conv_opts_default();
    o.padding[0] = o.padding[1] = 1;
    double c, best[2] = {1e300, 1e300}, cbest[2] = {1e300, 1e300};
    step(x, w, b, g, &o, true, &c); /* warm-up */
    for (int r = 0; r < reps; r++) /* interleaved: both phases see the same machine load */
        for (int k = 0; k < 2; k++) {
            double t = step(x, w, b, g, &o, k == 1, &c);
            best[k] = t < best[k] ? t : best[k];
            cbest[k] = c < cbest[k] ? c : cbest[k];
        }
    for (int k = 0; k < 2; k++)
        printf("RESULT impl=nabla threads=%d case=%s ms=%.2f cpu_ms=%.2f\n", threads, k ? "fwdbwd" : "fwd",
               best[k] * 1e3, cbest[k] * 1e3);
    nb_tensor_release(x), nb_tensor_release(w), nb_tensor_release(b), nb_tensor_release(g);
    return 0;
}
