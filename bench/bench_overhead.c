/* bench_overhead.c — framework overhead per tiny op: y = x + x on a 4-element float32 tensor.
 *
 * Build and run (not part of make check; `make bench` runs the comparison with PyTorch):
 *     make bench/bench_overhead && bench/bench_overhead [iterations]      (default 200000)
 * Cases: x requires grad (the add records an autograd node), and x plain (no recording). Each
 * result is released at once (as a Python `y = x + x` loop drops the previous y). Best of 5 runs.
 * Prints one machine-readable line per case:
 *     RESULT impl=nabla case=add4_grad ns_per_op=...
 * bench/torch_overhead.py prints the same lines for PyTorch. */
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

/* Best ns per op over 5 runs of n adds. */
static double time_add(const nb_tensor *x, long n)
{
    double best = 1e300;
    for (int run = 0; run < 5; run++) {
        double t0 = now_s();
        for (long i = 0; i < n; i++)
            nb_tensor_release(nb_add(x, x));
        double ns = (now_s() - t0) * 1e9 / (double)n;
        best = ns < best ? ns : best;
    }
    return best;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    if (n <= 0) {
        fprintf(stderr, "usage: bench_overhead [iterations > 0]\n");
        return 2;
    }
    nb_set_num_threads(1);
    nb_tensor *x = nb_randn(NB_DIMS(4), NB_F32, NULL);
    nb_tensor *xg = nb_tensor_requires_grad_(nb_randn(NB_DIMS(4), NB_F32, NULL), true);
    time_add(xg, n / 10 + 1); /* warm-up: allocator caches, code paths */
    double grad = time_add(xg, n), plain = time_add(x, n);
    printf("nabla: y = x + x, 4 floats, best of 5 x %ld ops: %.1f ns/op with autograd recording, "
           "%.1f ns/op without\n",
           n, grad, plain);
    printf("RESULT impl=nabla case=add4_grad ns_per_op=%.1f\n", grad);
    printf("RESULT impl=nabla case=add4_nograd ns_per_op=%.1f\n", plain);
    nb_tensor_release(x);
    nb_tensor_release(xg);
    return 0;
}
