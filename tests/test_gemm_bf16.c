/* test_gemm_bf16.c — autocast's bfloat16 GEMM (nb__gemm_batched_bf16) on each of its kernels:
 * the rounded float32 kernels (every CPU), the AVX512_BF16 and AMX kernels where the CPU has them,
 * and, on every CPU, the same AVX512_BF16 and AMX kernel code running on a software model of the
 * instructions (tensor/k_gemm_bf16_emu.h), so the packing, tiling, tile configuration and
 * write-back of the instruction kernels are checked even where the instructions cannot run.
 *
 * Each kernel is checked against a double-precision oracle on the operands rounded to bfloat16
 * (nearest, ties to even; subnormals to zero for the instruction kernels, which read them as
 * zero): within float32 rounding of the sums, (K + 4) * 2^-23 times the sum of |terms|, on odd
 * shapes (edge tiles in M and N, odd K, K over one block), every transpose pair, alpha/beta,
 * a leading dimension wider than N (the gap must stay untouched), and batches with offsets. On
 * small-integer operands every product and sum is exact, so every kernel must give the oracle's
 * value bit for bit (a misplaced element cannot hide in a tolerance there). Each kernel gives the
 * same bits on 1 and 2 threads; a NaN (payload only in the low bits) and an infinity go through the
 * vector packers as a NaN and an infinity. Where the CPU has an instruction, its kernel is also
 * compared with its model. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nb__bf16.h"
#include "nb__k_gemm.h"
#include "nb__kv.h"

static const nb__bf16_kind k_kinds[] = {NB__BF16_ROUNDED, NB__BF16_DP_EMU, NB__BF16_AMX_EMU, NB__BF16_DP,
                                        NB__BF16_AMX};
enum { N_KINDS = sizeof k_kinds / sizeof k_kinds[0] };
static nb__bf16_kind g_avail[N_KINDS]; /* the kinds this CPU runs (main fills it; the rest are SKIP lines) */
static int g_n_avail;

static bool kind_available(nb__bf16_kind kind)
{
    nb__bf16_kind prev = nb__gemm_bf16_force(kind);
    bool have = nb__gemm_bf16_active() == kind;
    nb__gemm_bf16_force(prev);
    return have;
}

static uint64_t rng_state;
static double urand(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) * 0x1p-53;
}

/* The value an instruction kernel (flush) or the rounded kernels read for x. */
static double operand(float x, bool flush)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if (flush && (u & 0x7f800000u) == 0)
        return 0.0;
    return (double)nb_bf16_round(x);
}

typedef struct {
    bool ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
} gcase;

/* Runs case g on kind with nbatch products (offsets spread the operands apart) and checks every
 * element against the oracle; returns C (caller frees) for the thread and model comparisons. */
static float *run_case(nb__bf16_kind kind, const gcase *g, int64_t nbatch, bool ints, uint64_t seed)
{
    int64_t arows = g->ta ? g->K : g->M, brows = g->tb ? g->N : g->K;
    int64_t asz = arows * g->lda, bsz = brows * g->ldb, csz = g->M * g->ldc;
    float *A = malloc((size_t)(asz * nbatch) * sizeof *A), *B = malloc((size_t)(bsz * nbatch) * sizeof *B);
    float *C = malloc((size_t)(csz * nbatch) * sizeof *C), *C0 = malloc((size_t)(csz * nbatch) * sizeof *C0);
    rng_state = seed;
    for (int64_t i = 0; i < asz * nbatch; i++)
        A[i] = ints ? (float)(int)(urand() * 9 - 4) : (float)(urand() * 2 - 1);
    for (int64_t i = 0; i < bsz * nbatch; i++)
        B[i] = ints ? (float)(int)(urand() * 9 - 4) : (float)(urand() * 2 - 1);
    for (int64_t i = 0; i < csz * nbatch; i++)
        C0[i] = C[i] = ints ? (float)(int)(urand() * 9 - 4) : (float)(urand() * 2 - 1);
    int64_t aoff[8], boff[8], coff[8];
    for (int64_t b = 0; b < nbatch; b++)
        aoff[b] = (nbatch - 1 - b) * asz, boff[b] = b * bsz, coff[b] = b * csz;
    nb__bf16_kind prev = nb__gemm_bf16_force(kind);
    ck_assert_int_eq(nb__gemm_bf16_active(), kind);
    nb__gemm_batched_bf16(NB_F32, g->ta, g->tb, g->M, g->N, g->K, g->alpha, A, g->lda, nbatch > 1 ? aoff : NULL, B,
                          g->ldb, nbatch > 1 ? boff : NULL, g->beta, C, g->ldc, nbatch > 1 ? coff : NULL, nbatch);
    nb__gemm_bf16_force(prev);
    bool flush = kind != NB__BF16_ROUNDED;
    for (int64_t b = 0; b < nbatch; b++)
        for (int64_t i = 0; i < g->M; i++)
            for (int64_t j = 0; j < g->ldc; j++) {
                int64_t ci = b * csz + i * g->ldc + j;
                if (j >= g->N) { /* the gap between rows */
                    ck_assert_msg(memcmp(&C[ci], &C0[ci], sizeof(float)) == 0, "%s: wrote the gap C[%lld][%lld]",
                                  nb__gemm_bf16_name(kind), (long long)i, (long long)j);
                    continue;
                }
                double ref = 0, mag = 0;
                for (int64_t p = 0; p < g->K; p++) {
                    const float *a = A + aoff[b] + (g->ta ? p * g->lda + i : i * g->lda + p);
                    const float *bb = B + boff[b] + (g->tb ? j * g->ldb + p : p * g->ldb + j);
                    double t = operand(*a, flush) * operand(*bb, flush);
                    ref += t, mag += fabs(t);
                }
                ref = g->alpha * ref + (g->beta != 0 ? g->beta * (double)C0[ci] : 0);
                mag = fabs(g->alpha) * mag + fabs(g->beta * (double)C0[ci]);
                double tol = ints ? 0 : (double)(g->K + 4) * 0x1p-23 * mag + 1e-30;
                ck_assert_msg(fabs((double)C[ci] - ref) <= tol,
                              "%s %c%c %lldx%lldx%lld alpha %g beta %g batch %lld: C[%lld][%lld] = %.9g, want %.9g "
                              "(tolerance %.3g)",
                              nb__gemm_bf16_name(kind), g->ta ? 'T' : 'N', g->tb ? 'T' : 'N', (long long)g->M,
                              (long long)g->N, (long long)g->K, (double)g->alpha, (double)g->beta, (long long)b,
                              (long long)i, (long long)j, (double)C[ci], ref, tol);
            }
    free(A), free(B), free(C0);
    return C;
}

static const int64_t k_shapes[][3] = {
    {2, 2, 1},   {3, 5, 2},    {14, 32, 32}, {15, 33, 33}, {29, 31, 7},  {32, 32, 64},
    {33, 65, 63}, {47, 70, 97}, {64, 40, 513}, {5, 100, 1030}, {100, 3, 40},
    {400, 20, 1030}, /* more rows than one A block (K blocks inside B panels) */
};
enum { N_SHAPES = sizeof k_shapes / sizeof k_shapes[0] };

/* Every shape, transpose pair and alpha/beta on the kind of this loop iteration. */
START_TEST(test_shapes)
{
    nb__bf16_kind kind = g_avail[_i];
    static const float ab[4][2] = {{1, 0}, {1, 1}, {0.5f, -2}, {-1.5f, 0.25f}};
    for (int s = 0; s < N_SHAPES; s++)
        for (int t = 0; t < 4; t++) {
            gcase g = {t & 2, t & 1, k_shapes[s][0], k_shapes[s][1], k_shapes[s][2], 0, 0, 0, ab[(s + t) % 4][0],
                       ab[(s + t) % 4][1]};
            g.lda = (g.ta ? g.M : g.K) + (s % 3);
            g.ldb = (g.tb ? g.K : g.N) + (t % 2);
            g.ldc = g.N + (s % 2) * 3;
            free(run_case(kind, &g, 1, false, 100 + (uint64_t)s * 8 + (uint64_t)t));
            free(run_case(kind, &g, 1, true, 200 + (uint64_t)s * 8 + (uint64_t)t));
        }
}
END_TEST

/* Batches with offsets (A's in reverse order), both the one-product-per-thread and the
 * split-product paths. */
START_TEST(test_batches)
{
    nb__bf16_kind kind = g_avail[_i];
    gcase small = {false, true, 9, 17, 33, 33, 33, 17, 1, 0};
    gcase large = {true, false, 130, 70, 300, 130, 70, 72, 1, 1};
    free(run_case(kind, &small, 5, false, 7));
    free(run_case(kind, &small, 5, true, 8));
    free(run_case(kind, &large, 3, false, 9));
}
END_TEST

/* Same bits on 1 and 2 threads (a product large enough to be split). */
START_TEST(test_threads)
{
    nb__bf16_kind kind = g_avail[_i];
    bool slow = kind == NB__BF16_DP_EMU || kind == NB__BF16_AMX_EMU;
    gcase g = {false, true, slow ? 96 : 300, slow ? 130 : 260, slow ? 200 : 700, 0, 0, 0, 1, 0};
    g.lda = g.K, g.ldb = g.K, g.ldc = g.N;
    float *C[2];
    for (int th = 0; th < 2; th++) {
        nb_set_num_threads(th + 1);
        C[th] = run_case(kind, &g, 1, false, 42);
    }
    nb_set_num_threads(0);
    ck_assert_msg(!memcmp(C[0], C[1], (size_t)(g.M * g.ldc) * sizeof(float)), "%s: 1 and 2 threads differ",
                  nb__gemm_bf16_name(kind));
    free(C[0]), free(C[1]);
}
END_TEST

/* Where the CPU has an instruction: its kernel against the kernel code on the model (within
 * rounding: the model adds a pair's products in the SDM's order, which hardware need not keep). */
START_TEST(test_hardware_vs_model)
{
    nb__bf16_kind hw = g_avail[_i], emu = hw == NB__BF16_DP ? NB__BF16_DP_EMU : NB__BF16_AMX_EMU;
    gcase g = {false, false, 45, 70, 129, 129, 70, 70, 1, 0};
    float *a = run_case(hw, &g, 1, false, 5), *b = run_case(emu, &g, 1, false, 5);
    for (int64_t i = 0; i < g.M * g.N; i++)
        ck_assert_msg(fabsf(a[i] - b[i]) <= 1e-5f * (1 + fabsf(b[i])), "%s vs %s: element %lld: %.9g vs %.9g",
                      nb__gemm_bf16_name(hw), nb__gemm_bf16_name(emu), (long long)i, (double)a[i], (double)b[i]);
    free(a), free(b);
}
END_TEST

/* Special values through the packers: a NaN whose payload is only in the low 16 bits stays a NaN
 * (rounded like a number it would be an infinity), an infinity at the last k of an odd K stays an
 * infinity; B is all ones, so row i of C is the sum of row i of op(A). */
START_TEST(test_specials)
{
    nb__bf16_kind kind = g_avail[_i];
    enum { M = 20, N = 40, K = 37 };
    static float A[M * K], At[K * M], B[K * N], C[M * N];
    uint32_t nanbits = 0x7f800001u;
    for (int i = 0; i < M * K; i++)
        A[i] = (float)((i * 7) % 11) - 5;
    memcpy(&A[3 * K + 5], &nanbits, sizeof nanbits);
    A[7 * K + K - 1] = INFINITY;
    for (int i = 0; i < M; i++)
        for (int p = 0; p < K; p++)
            At[p * M + i] = A[i * K + p];
    for (int i = 0; i < K * N; i++)
        B[i] = 1;
    nb__bf16_kind prev = nb__gemm_bf16_force(kind);
    for (int ta = 0; ta < 2; ta++) {
        nb__gemm_batched_bf16(NB_F32, ta, false, M, N, K, 1.0, ta ? At : A, ta ? M : K, NULL, B, N, NULL, 0.0, C, N,
                              NULL, 1);
        for (int i = 0; i < M; i++) {
            double want = 0;
            for (int p = 0; p < K; p++)
                want += A[i * K + p];
            for (int j = 0; j < N; j++) {
                float c = C[i * N + j];
                if (i == 3)
                    ck_assert_msg(isnan(c), "%s ta %d: C[3][%d] = %g, want NaN", nb__gemm_bf16_name(kind), ta, j,
                                  (double)c);
                else if (i == 7)
                    ck_assert_msg(isinf(c) && c > 0, "%s ta %d: C[7][%d] = %g, want inf", nb__gemm_bf16_name(kind),
                                  ta, j, (double)c);
                else
                    ck_assert_msg(c == (float)want, "%s ta %d: C[%d][%d] = %g, want %g", nb__gemm_bf16_name(kind),
                                  ta, i, j, (double)c, want);
            }
        }
    }
    nb__gemm_bf16_force(prev);
}
END_TEST

/* The kind follows the kernel set in force: amx → AMX, avx512bf16 → DP, anything lower → the
 * rounded float32 kernels; a forced kind the CPU lacks falls back to them. */
START_TEST(test_kind_selection)
{
    nb__kv_set kv = nb__kernels();
    nb__bf16_kind want = kv == NB__KV_AMX         ? NB__BF16_AMX
                         : kv == NB__KV_AVX512BF16 ? NB__BF16_DP
                                                   : NB__BF16_ROUNDED;
    ck_assert_str_eq(nb__gemm_bf16_name(nb__gemm_bf16_active()), nb__gemm_bf16_name(want));
    nb__bf16_kind prev = nb__gemm_bf16_force(NB__BF16_AMX);
    ck_assert_int_eq(nb__gemm_bf16_active(), nb__kernels_cpu_has(NB__KV_AMX) ? NB__BF16_AMX : NB__BF16_ROUNDED);
    nb__gemm_bf16_force(NB__BF16_DP_EMU);
    ck_assert_int_eq(nb__gemm_bf16_active(), NB__BF16_DP_EMU);
    nb__gemm_bf16_force(prev);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gemm_bf16");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 120);
    printf("bfloat16 GEMM kernel in force: %s (kernel set %s)\n", nb__gemm_bf16_name(nb__gemm_bf16_active()),
           nb__kernels_name(nb__kernels()));
    for (int i = 0; i < N_KINDS; i++) {
        bool have = kind_available(k_kinds[i]);
        printf("%s: bfloat16 GEMM kernel %s%s\n", have ? "RUN " : "SKIP", nb__gemm_bf16_name(k_kinds[i]),
               have ? "" : ": this CPU lacks the instructions (their kernel code runs on the model above)");
        if (have)
            g_avail[g_n_avail++] = k_kinds[i];
    }
    tcase_add_loop_test(tc, test_shapes, 0, g_n_avail);
    tcase_add_loop_test(tc, test_batches, 0, g_n_avail);
    tcase_add_loop_test(tc, test_threads, 0, g_n_avail);
    tcase_add_loop_test(tc, test_specials, 0, g_n_avail);
    /* the instruction kinds come last in k_kinds: compare each present one with its model */
    tcase_add_loop_test(tc, test_hardware_vs_model, 3, g_n_avail);
    tcase_add_test(tc, test_kind_selection);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
