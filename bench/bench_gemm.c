/* bench_gemm.c — sgemm throughput of nabla's packed kernels vs OpenBLAS (cblas_sgemm).
 *
 * Build and run (not part of make check):
 *     make bench/bench_gemm && bench/bench_gemm [threads...]      (default: 1 2)
 * Shapes: 1024^3, and the GPT-ish products (M x N x K) 768x384x128, 768x128x512, 768x65x128, each
 * in the four transposition cases (NN forward, NT = g @ W^T / x @ W^T, TN = x^T @ g, TT).
 * Prints GFLOP/s (2*M*N*K per product, best of 9 alternating timed runs) and nabla/OpenBLAS, and
 * the largest difference between the two results. */
#include "config.h"
#include "nb__k_gemm.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    int64_t M, N, K;
    bool ta, tb;
} shape;

typedef void (*gemm_fn)(const shape *s, const float *A, const float *B, float *C);

static void run_nabla(const shape *s, const float *A, const float *B, float *C)
{
    nb__gemm_f32(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, s->ta ? s->M : s->K, B, s->tb ? s->K : s->N,
                 0.0f, C, s->N);
}

static void run_openblas(const shape *s, const float *A, const float *B, float *C)
{
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                (int)s->M, (int)s->N, (int)s->K, 1.0f, A, (int)(s->ta ? s->M : s->K), B,
                (int)(s->tb ? s->K : s->N), 0.0f, C, (int)s->N);
}

/* Repetitions of fn that take >= 40 ms (after a warm-up call). */
static int calibrate(gemm_fn fn, const shape *s, const float *A, const float *B, float *C)
{
    fn(s, A, B, C);
    int reps = 1;
    for (;;) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            fn(s, A, B, C);
        if (now() - t0 >= 0.04 || reps >= (1 << 20))
            return reps;
        reps *= 2;
    }
}

/* Best GFLOP/s of each of nabla and OpenBLAS over 9 alternating timed runs (the best run is the
 * one least disturbed by other processes on a shared machine). */
static void measure(const shape *s, const float *A, const float *B, float *C, float *C2, double *gn, double *gb)
{
    double flops = 2.0 * (double)s->M * (double)s->N * (double)s->K;
    int rn = calibrate(run_nabla, s, A, B, C), rb = calibrate(run_openblas, s, A, B, C2);
    *gn = *gb = 0;
    for (int run = 0; run < 9; run++) {
        double t0 = now();
        for (int r = 0; r < rn; r++)
            run_nabla(s, A, B, C);
        double g = flops * rn / (now() - t0) / 1e9;
        *gn = g > *gn ? g : *gn;
        t0 = now();
        for (int r = 0; r < rb; r++)
            run_openblas(s, A, B, C2);
        g = flops * rb / (now() - t0) / 1e9;
        *gb = g > *gb ? g : *gb;
    }
}

int main(int argc, char **argv)
{
    static const int64_t dims[][3] = {{1024, 1024, 1024}, {768, 384, 128}, {768, 128, 512}, {768, 65, 128}};
    int threads[8] = {1, 2}, nthreads = 2;
    if (argc > 1) {
        nthreads = 0;
        for (int i = 1; i < argc && nthreads < 8; i++)
            threads[nthreads++] = atoi(argv[i]);
    }
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("nabla kernels: %s; OpenBLAS %s, OPENBLAS_CORETYPE=%s\n", nb__gemm_isa_name(nb__gemm_active_isa()),
           openblas_get_config(), ct ? ct : "(unset)");
    size_t cap = 1024 * 1024;
    float *A = malloc(cap * sizeof *A), *B = malloc(cap * sizeof *B), *C = malloc(cap * sizeof *C),
          *C2 = malloc(cap * sizeof *C2);
    if (!A || !B || !C || !C2)
        return 1;
    nb_generator g;
    nb_generator_seed(&g, 1);
    for (size_t i = 0; i < cap; i++) {
        A[i] = (float)(nb_generator_uniform(&g) - 0.5);
        B[i] = (float)(nb_generator_uniform(&g) - 0.5);
    }
    for (int ti = 0; ti < nthreads; ti++) {
        nb_set_num_threads(threads[ti]);
        openblas_set_num_threads(threads[ti]);
        printf("\nthreads %d\n%-22s %10s %10s %7s %10s\n", threads[ti], "M x N x K  op", "nabla",
               "OpenBLAS", "ratio", "max|diff|");
        for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
            for (int t = 0; t < (d == 0 ? 1 : 4); t++) {
                shape s = {dims[d][0], dims[d][1], dims[d][2], t & 2, t & 1};
                double gn, gb;
                measure(&s, A, B, C, C2, &gn, &gb);
                double diff = 0;
                for (int64_t i = 0; i < s.M * s.N; i++)
                    diff = fmax(diff, fabs((double)C[i] - (double)C2[i]));
                char name[64];
                snprintf(name, sizeof name, "%lldx%lldx%lld %c%c", (long long)s.M, (long long)s.N,
                         (long long)s.K, s.ta ? 'T' : 'N', s.tb ? 'T' : 'N');
                printf("%-22s %10.1f %10.1f %7.2f %10.2g\n", name, gn, gb, gn / gb, diff);
            }
        }
    }
    free(A);
    free(B);
    free(C);
    free(C2);
    return 0;
}
