/* bench_rmsnorm.c — nb_rms_norm forward + backward on x [768, 128] float32 (12 heads x 64 rows
 * of 128, the size) with a [128] weight, both requiring grad.
 *
 * Build and run (not part of make check):
 *     make bench/bench_rmsnorm && bench/bench_rmsnorm [iterations] [threads]   (default 2000, 1)
 * bench/torch_rmsnorm.py runs it interleaved with PyTorch's composed RMSNorm and prints both, the
 * ratio and the CPU model. One iteration: y = rms_norm(x, w); backward(y, dy); drop the grads.
 * Best of 5 runs; prints
 *     RESULT impl=nabla case=rmsnorm_768x128 us_per_iter=... */
#include "config.h"
#include "nabla.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void step(nb_tensor *x, nb_tensor *w, const nb_tensor *dy)
{
    int scope = nb_scope_begin();
    nb_backward(nb_rms_norm(x, 1, w, 1e-6), dy, false);
    nb_tensor_set_grad(x, NULL);
    nb_tensor_set_grad(w, NULL);
    nb_scope_end(scope);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    if (n <= 0 || threads <= 0) {
        fprintf(stderr, "usage: bench_rmsnorm [iterations > 0] [threads > 0]\n");
        return 2;
    }
    nb_set_num_threads(threads);
    nb_tensor *x = nb_tensor_requires_grad_(nb_randn(NB_DIMS(768, 128), NB_F32, NULL), true);
    nb_tensor *w = nb_tensor_requires_grad_(nb_rand(NB_DIMS(128), NB_F32, NULL), true);
    nb_tensor *dy = nb_randn(NB_DIMS(768, 128), NB_F32, NULL);
    for (long i = 0; i < n / 10 + 1; i++) /* warm-up */
        step(x, w, dy);
    double best = 1e300;
    for (int run = 0; run < 5; run++) {
        double t0 = now_s();
        for (long i = 0; i < n; i++)
            step(x, w, dy);
        double us = (now_s() - t0) * 1e6 / (double)n;
        best = us < best ? us : best;
    }
    printf("nabla: rms_norm [768, 128] f32 forward+backward, %d thread(s), best of 5 x %ld: %.2f us/iter\n",
           threads, n, best);
    printf("RESULT impl=nabla case=rmsnorm_768x128 us_per_iter=%.2f\n", best);
    nb_tensor_release(x);
    nb_tensor_release(w);
    nb_tensor_release(dy);
    return 0;
}
