/* bench_gemm.c — sgemm throughput of nabla's packed kernels vs OpenBLAS (cblas_sgemm), and against
 * the machine's measured FMA peak.
 *
 * Build and run (not part of make check):
 *     make bench/bench_gemm && bench/bench_gemm [--quick] [threads...]      (default: 1 2)
 * Shapes (M x N x K, row-major, op = transposition of A and B):
 *   1024^3 NN;
 *   the char GPT's products 768x384x128, 768x128x512, 768x65x128, each in the four transposition
 *   cases (NN forward, NT = g @ W^T / x @ W^T, TN = x^T @ g, TT);
 *   GPT-2 124M's at B*T = 256 (--quick leaves them out): c_attn 256x2304x768 NT, MLP c_proj
 *   256x768x3072 NT, lm_head forward 256x50257x768 NT, its input grad 256x768x50257 NN and its
 *   weight grad 50257x768x256 TN.
 * Columns: GFLOP/s (2*M*N*K per product, best of ROUNDS rounds, ROUNDS_HEADLINE for 1024^3; in
 * each round nabla and the two OpenBLAS sides take one timed run of >= 40 ms in turn, each after a
 * pause that lets the previous side's threads go idle) of nabla, of OpenBLAS with
 * OPENBLAS_CORETYPE=Haswell (what the reference machines set) and with it unset (OpenBLAS picks
 * the kernel for the CPU), nabla / each (best / best), "paired" = the median over the rounds of
 * nabla / OpenBLAS-Haswell within one round (the two runs next to each other in time, so the
 * host's drift cancels), nabla as a share of the FMA peak (the best of one short peak run per
 * round of that shape: one peak for the whole table, taken at another moment, gave shares over
 * 100% when the host sped up), and the largest difference between nabla's and OpenBLAS's results.
 * nabla runs with a fixed team of the row's thread count (dynamic threads off).
 * OpenBLAS reads OPENBLAS_CORETYPE once, when it is loaded, so each OpenBLAS column is measured by
 * a child process (this program with --openblas-child, under the core type's environment, driven
 * through pipes); the
 * peak is a loop of independent FMAs on every thread (12 accumulators, 2 FMA pipes), 512-bit ones
 * when nabla's GEMM runs its AVX-512 kernel, else 256-bit.
 *
 * bfloat16 rows (1024^3 and the GPT-2 shapes), each under the float32 row of its shape: autocast's
 * GEMM (nb__gemm_batched_bf16: operands rounded to bfloat16, float32 sums) with the kernel in force
 * (nb__gemm_bf16_active(): amx, avx512bf16 or rounded-fp32, printed in the header), measured in the
 * same rounds as the float32 sides; "bf16/f32" = its GFLOP/s over nabla float32's (best / best, and
 * the median of the per-round pairs), and max|diff| from OpenBLAS's float32 result. Beside it
 * PyTorch's bfloat16 matmul (torch.matmul on bfloat16 tensors, into a preallocated output; a Python
 * child with torch.set_num_threads(threads), driven through pipes like the OpenBLAS children) with
 * nabla / PyTorch (best / best and paired), on CPUs whose /proc/cpuinfo flags include avx512_bf16 or
 * amx_bf16 (elsewhere PyTorch has no bf16 instructions either and one line says it was not run).
 * Environment: PYTHON (default /usr/bin/python3), BENCH_TORCH=0 or BENCH_TORCH_BF16=0 skips PyTorch,
 * BENCH_TORCH_BF16=1 runs it on any CPU (slow there: to check that the column prints). */
#define _DEFAULT_SOURCE /* popen, setenv */
#include "config.h"
#include "nb__k_gemm.h"

#include <cblas.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Rounds per shape: nabla, OpenBLAS-Haswell and OpenBLAS-auto each measured once per round, in
 * turn, so that all three meet the host's drifting speed alike. */
#define ROUNDS 5
/* ... and for the first shape, 1024^3, the target's: more rounds, so that its paired median holds
 * still on a host whose speed drifts 10-30% within seconds */
#define ROUNDS_HEADLINE 15
/* Pause before each measurement: OpenBLAS's pthreads workers keep spinning for ~0.1 s after a call
 * (its default thread timeout, 2^28 cycles) and libgomp's for a moment, so without it every side
 * would be measured with the previous side's idle threads still burning a core. */
#define SETTLE_S 0.25

static void settle(void)
{
    struct timespec ts = {0, (long)(SETTLE_S * 1e9)};
    nanosleep(&ts, NULL);
}

typedef struct {
    int64_t M, N, K;
    bool ta, tb;
    bool big; /* GPT-2 124M shape (left out by --quick) */
} shape;

#define MAX_SHAPES 32
static shape g_shapes[MAX_SHAPES];
static int g_nshapes;

static void add_shape(int64_t M, int64_t N, int64_t K, bool ta, bool tb, bool big)
{
    g_shapes[g_nshapes++] = (shape){M, N, K, ta, tb, big};
}

static void build_shapes(bool quick)
{
    static const int64_t small[][3] = {{768, 384, 128}, {768, 128, 512}, {768, 65, 128}};
    add_shape(1024, 1024, 1024, false, false, false);
    for (size_t d = 0; d < sizeof small / sizeof small[0]; d++)
        for (int t = 0; t < 4; t++)
            add_shape(small[d][0], small[d][1], small[d][2], t & 2, t & 1, false);
    if (quick)
        return;
    add_shape(256, 2304, 768, false, true, true);
    add_shape(256, 768, 3072, false, true, true);
    add_shape(256, 50257, 768, false, true, true);
    add_shape(256, 768, 50257, false, false, true);
    add_shape(50257, 768, 256, true, false, true);
}

typedef void (*gemm_fn)(const shape *s, const float *A, const float *B, float *C);

static void run_nabla(const shape *s, const float *A, const float *B, float *C)
{
    nb__gemm_f32(s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, s->ta ? s->M : s->K, B, s->tb ? s->K : s->N,
                 0.0f, C, s->N);
}

/* autocast's bfloat16 product (one matrix, threaded), with the bf16 kernel in force */
static void run_nabla_bf16(const shape *s, const float *A, const float *B, float *C)
{
    nb__gemm_batched_bf16(NB_F32, s->ta, s->tb, s->M, s->N, s->K, 1.0, A, s->ta ? s->M : s->K, NULL, B,
                          s->tb ? s->K : s->N, NULL, 0.0, C, s->N, NULL, 1);
}

/* Shapes with a bfloat16 row: 1024^3 and GPT-2's. */
static bool has_bf16_row(int i)
{
    return i == 0 || g_shapes[i].big;
}

static void run_openblas(const shape *s, const float *A, const float *B, float *C)
{
    cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans,
                (int)s->M, (int)s->N, (int)s->K, 1.0f, A, (int)(s->ta ? s->M : s->K), B,
                (int)(s->tb ? s->K : s->N), 0.0f, C, (int)s->N);
}

/* GFLOP/s of fn over one timed run of enough repetitions to take >= 40 ms (after a warm-up call
 * and doubling the repetitions until a run takes that long; that run is the sample). */
static double measure(gemm_fn fn, const shape *s, const float *A, const float *B, float *C)
{
    double flops = 2.0 * (double)s->M * (double)s->N * (double)s->K;
    fn(s, A, B, C); /* warm-up */
    for (int reps = 1;; reps *= 2) {
        double t0 = now();
        for (int r = 0; r < reps; r++)
            fn(s, A, B, C);
        double dt = now() - t0;
        if (dt >= 0.04 || reps >= (1 << 20))
            return flops * reps / dt / 1e9;
    }
}

/* Peak multiply-add throughput of `threads` threads in GFLOP/s (0: not measurable here). */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) static double fma_loop(long n)
{
    __m256 a[12], b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < n; k++) {
        _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
    }
    float v[8], s = 0;
    for (int i = 0; i < 12; i++) {
        _mm256_storeu_ps(v, a[i]);
        s += v[0];
    }
    return (double)s;
}
/* The same with 512-bit FMAs (16 floats each), for when nabla's GEMM runs its AVX-512 kernel: the
 * AVX2 loop's peak is half of what such a CPU can do (and reported GEMM at 167% of "peak"). */
__attribute__((target("avx512f"))) static double fma_loop512(long n)
{
    __m512 a[12], b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; k++) {
        _Pragma("GCC unroll 12") for (int i = 0; i < 12; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    }
    float s = 0;
    for (int i = 0; i < 12; i++)
        s += _mm512_reduce_add_ps(a[i]);
    return (double)s;
}
static double fma_peak(int threads, int runs)
{
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return 0;
    bool w512 = nb__gemm_active_isa() == NB__GEMM_AVX512 && __builtin_cpu_supports("avx512f");
    const long n = w512 ? 5000000 : 10000000;
    double best = 0;
    for (int run = 0; run < runs; run++) {
        double t0 = now(), sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        sink += w512 ? fma_loop512(n) : fma_loop(n);
        double g = (double)threads * n * 12 * (w512 ? 32 : 16) / (now() - t0) / 1e9;
        best = g > best && sink == sink ? g : best;
    }
    return best;
}
#else
static double fma_peak(int threads, int runs)
{
    (void)threads, (void)runs;
    return 0;
}
#endif

static void fill(float *p, size_t n, nb_generator *g)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(nb_generator_uniform(g) - 0.5);
}

/* The child: reads shape indices from stdin, answers OpenBLAS's GFLOP/s for each on stdout (after
 * a first line with OpenBLAS's configuration), so the parent can alternate nabla and each
 * OpenBLAS shape by shape. */
static int openblas_child(int threads, bool quick, size_t cap)
{
    build_shapes(quick);
    float *A = malloc(cap * sizeof *A), *B = malloc(cap * sizeof *B), *C = malloc(cap * sizeof *C);
    if (!A || !B || !C)
        return 1;
    /* A fixed team: with dynamic threads (the library's default) nabla's 2-thread runs right
     * after an OpenBLAS run counted its spinning workers as another process's load and often ran
     * on one thread (mid-size shapes at the 1-thread speed; first seen in session 7's make bench) */
    nb_set_dynamic_threads(false);
    nb_generator g;
    nb_generator_seed(&g, 1);
    fill(A, cap, &g);
    fill(B, cap, &g);
    openblas_set_num_threads(threads);
    printf("%s\n", openblas_get_config());
    fflush(stdout);
    int i;
    while (scanf("%d", &i) == 1 && i >= 0 && i < g_nshapes) {
        printf("%.3f\n", measure(run_openblas, &g_shapes[i], A, B, C));
        fflush(stdout);
    }
    free(A);
    free(B);
    free(C);
    return 0;
}

typedef struct {
    pid_t pid;
    FILE *to, *from;
    char config[256];
} child;

/* The PyTorch bfloat16 child (run as PYTHON -c k_torch_bf16 THREADS): a first line with its
 * configuration, then for each line "M N K ta tb" on stdin the GFLOP/s of torch.matmul on
 * bfloat16 operands of that shape (op(A) = A^T where ta, stored K x M; likewise B), timed as
 * measure() times nabla (warm-up, then doubling repetitions until a run takes >= 40 ms); "-1" or
 * EOF ends it. Operands: uniform [-0.5, 0.5), made once per shape. */
static const char k_torch_bf16[] =
    "import sys, time, torch\n"
    "torch.set_num_threads(int(sys.argv[1]))\n"
    "print(f'PyTorch {torch.__version__}, {torch.get_num_threads()} threads, '\n"
    "      f'oneDNN {torch.backends.mkldnn.is_available()}', flush=True)\n"
    "ops = {}\n"
    "for line in sys.stdin:\n"
    "    if line.strip() == '-1':\n"
    "        break\n"
    "    if line not in ops:\n"
    "        M, N, K, ta, tb = (int(v) for v in line.split())\n"
    "        g = torch.Generator().manual_seed(1)\n"
    "        A = (torch.rand((K, M) if ta else (M, K), generator=g) - 0.5).bfloat16()\n"
    "        B = (torch.rand((N, K) if tb else (K, N), generator=g) - 0.5).bfloat16()\n"
    "        ops[line] = (A.t() if ta else A, B.t() if tb else B, torch.empty(M, N, dtype=torch.bfloat16),\n"
    "                     2.0 * M * N * K)\n"
    "    A, B, C, flops = ops[line]\n"
    "    torch.matmul(A, B, out=C)\n"
    "    reps = 1\n"
    "    while True:\n"
    "        t0 = time.perf_counter()\n"
    "        for _ in range(reps):\n"
    "            torch.matmul(A, B, out=C)\n"
    "        dt = time.perf_counter() - t0\n"
    "        if dt >= 0.04 or reps >= 1 << 20:\n"
    "            break\n"
    "        reps *= 2\n"
    "    print(f'{flops * reps / dt / 1e9:.3f}', flush=True)\n";

/* Starts argv[0] (searched in PATH) as a child reading requests on its stdin and answering on its
 * stdout, with the environment variable env_name set to env_value (NULL: unset); reads the first
 * line it writes (its configuration). */
static bool child_exec(child *c, char *const argv[], const char *env_name, const char *env_value)
{
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return false;
    c->pid = fork();
    if (c->pid < 0)
        return false;
    if (c->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        for (int fd = 3; fd < 1024; fd++) /* the other child's pipes too: it must see EOF */
            close(fd);
        if (env_value)
            setenv(env_name, env_value, 1);
        else
            unsetenv(env_name);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c->to = fdopen(in[1], "w");
    c->from = fdopen(out[0], "r");
    if (!c->to || !c->from || !fgets(c->config, sizeof c->config, c->from))
        return false;
    c->config[strcspn(c->config, "\n")] = 0;
    return true;
}

/* Starts this program as an OpenBLAS child under OPENBLAS_CORETYPE=coretype (NULL: unset). */
static bool child_start(child *c, const char *self, const char *coretype, int threads, bool quick)
{
    char nt[16];
    snprintf(nt, sizeof nt, "%d", threads);
    char *argv[] = {(char *)self, "--openblas-child", nt, quick ? "--quick" : NULL, NULL};
    return child_exec(c, argv, "OPENBLAS_CORETYPE", coretype);
}

/* Starts the PyTorch bfloat16 child (k_torch_bf16) with `threads` threads (OPENBLAS_NUM_THREADS too,
 * as bench/run.sh runs PyTorch). */
static bool torch_start(child *c, int threads)
{
    char nt[16];
    snprintf(nt, sizeof nt, "%d", threads);
    const char *py = getenv("PYTHON") && *getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    char *argv[] = {(char *)py, "-c", (char *)k_torch_bf16, nt, NULL};
    return child_exec(c, argv, "OPENBLAS_NUM_THREADS", nt);
}

/* Whether the first "flags" line of /proc/cpuinfo lists `flag`. */
static bool cpu_flag(const char *flag)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    bool found = false;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5)) {
            for (char *t = strtok(strchr(line, ':') ? strchr(line, ':') + 1 : line, " \t\n"); t && !found;
                 t = strtok(NULL, " \t\n"))
                found = !strcmp(t, flag);
            break;
        }
    if (f)
        fclose(f);
    return found;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double child_measure(child *c, int i)
{
    double g;
    fprintf(c->to, "%d\n", i);
    fflush(c->to);
    return fscanf(c->from, "%lf", &g) == 1 ? g : NAN;
}

/* The PyTorch child's GFLOP/s for shape s (NAN when it did not answer). */
static double torch_measure(child *c, const shape *s)
{
    double g;
    fprintf(c->to, "%lld %lld %lld %d %d\n", (long long)s->M, (long long)s->N, (long long)s->K, s->ta, s->tb);
    fflush(c->to);
    return fscanf(c->from, "%lf", &g) == 1 ? g : NAN;
}

static void child_stop(child *c)
{
    if (c->to) {
        fprintf(c->to, "-1\n"); /* quit */
        fclose(c->to);
    }
    if (c->from)
        fclose(c->from);
    if (c->pid > 0)
        waitpid(c->pid, NULL, 0);
}

int main(int argc, char **argv)
{
    int threads[8] = {1, 2}, nthreads = 0;
    bool quick = false;
    size_t cap = (size_t)50257 * 768; /* the largest operand (GPT-2's tied weight) */
    if (argc >= 3 && !strcmp(argv[1], "--openblas-child")) {
        quick = argc > 3 && !strcmp(argv[3], "--quick");
        return openblas_child(atoi(argv[2]), quick, quick ? 1024 * 1024 : cap);
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (nthreads < 8)
            threads[nthreads++] = atoi(argv[i]);
    }
    if (nthreads == 0)
        nthreads = 2;
    if (quick)
        cap = 1024 * 1024;
    build_shapes(quick);
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) {
        fprintf(stderr, "bench_gemm: cannot find its own executable\n");
        return 1;
    }
    self[sl] = 0;
    signal(SIGPIPE, SIG_IGN); /* a child that died: its answers read as NAN, not a killed benchmark */
    printf("nabla kernels: %s; bf16 GEMM (autocast) kernel: %s; OPENBLAS_CORETYPE in the environment: %s\n",
           nb__gemm_isa_name(nb__gemm_active_isa()), nb__gemm_bf16_name(nb__gemm_bf16_active()),
           getenv("OPENBLAS_CORETYPE") ? getenv("OPENBLAS_CORETYPE") : "(unset)");
    const char *bt = getenv("BENCH_TORCH"), *btb = getenv("BENCH_TORCH_BF16");
    bool cpu_bf16 = cpu_flag("avx512_bf16") || cpu_flag("amx_bf16");
    bool no_torch = (bt && !strcmp(bt, "0")) || (btb && !strcmp(btb, "0"));
    bool want_torch = !no_torch && (cpu_bf16 || (btb && !strcmp(btb, "1")));
    if (!want_torch)
        printf("PyTorch bf16 matmul not run: %s\n",
               no_torch ? "BENCH_TORCH=0 or BENCH_TORCH_BF16=0"
                        : "this CPU lacks bf16 (no avx512_bf16 or amx_bf16 in /proc/cpuinfo's flags)");
    else if (!cpu_bf16)
        printf("PyTorch bf16 matmul runs although this CPU lacks bf16 (BENCH_TORCH_BF16=1): its figures are not "
               "PyTorch's bf16 speed on a CPU that has it\n");
    float *A = malloc(cap * sizeof *A), *B = malloc(cap * sizeof *B), *C = malloc(cap * sizeof *C),
          *C2 = malloc(cap * sizeof *C2), *Cb = malloc(cap * sizeof *Cb);
    if (!A || !B || !C || !C2 || !Cb)
        return 1;
    /* A fixed team: with dynamic threads (the library's default) nabla's 2-thread runs right
     * after an OpenBLAS run counted its spinning workers as another process's load and often ran
     * on one thread (mid-size shapes at the 1-thread speed; first seen in session 7's make bench) */
    nb_set_dynamic_threads(false);
    nb_generator g;
    nb_generator_seed(&g, 1);
    fill(A, cap, &g);
    fill(B, cap, &g);
    for (int ti = 0; ti < nthreads; ti++) {
        int nt = threads[ti];
        nb_set_num_threads(nt);
        openblas_set_num_threads(nt);
        double peak = fma_peak(nt, 5);
        child ch = {0}, cu = {0}, cp = {0};
        bool okh = child_start(&ch, self, "Haswell", nt, quick), oku = child_start(&cu, self, NULL, nt, quick);
        bool okp = want_torch && torch_start(&cp, nt);
        printf("\nthreads %d: FMA peak %.1f GFLOP/s; OpenBLAS Haswell = %s; OpenBLAS auto = %s\n", nt, peak,
               okh ? ch.config : "(failed)", oku ? cu.config : "(failed)");
        if (want_torch)
            printf("PyTorch bf16 = %s\n", okp ? cp.config : "(failed to start: is torch installed for PYTHON?)");
        printf("bf16 rows: nabla's autocast GEMM (kernel %s); bf16/f32 = over nabla float32, best/best (paired "
               "median); nb/PT = over PyTorch bf16 matmul; max|diff| from OpenBLAS float32\n",
               nb__gemm_bf16_name(nb__gemm_bf16_active()));
        printf("%-22s %8s %8s %8s %7s %7s %7s %6s %9s\n", "M x N x K  op", "nabla", "OB-Hasw", "OB-auto", "nb/Hsw",
               "paired", "nb/auto", "%peak", "max|diff|");
        for (int i = 0; i < g_nshapes; i++) {
            const shape *s = &g_shapes[i];
            int rounds = i == 0 ? ROUNDS_HEADLINE : ROUNDS;
            double gn = 0, gh = 0, gu = 0, pk = 0, pr[ROUNDS_HEADLINE];
            bool bf = has_bf16_row(i);
            double gb = 0, gp = okp ? 0 : NAN, prb[ROUNDS_HEADLINE], prp[ROUNDS_HEADLINE];
            for (int round = 0; round < rounds; round++) { /* alternating; best of each, and paired ratios */
                settle();
                pk = fmax(pk, fma_peak(nt, 1));
                double n1 = measure(run_nabla, s, A, B, C);
                settle();
                double h1 = okh ? child_measure(&ch, i) : NAN;
                settle();
                gn = fmax(gn, n1);
                gh = okh ? fmax(gh, h1) : NAN;
                gu = oku ? fmax(gu, child_measure(&cu, i)) : NAN;
                pr[round] = n1 / h1;
                if (!bf)
                    continue;
                settle();
                double b1 = measure(run_nabla_bf16, s, A, B, Cb);
                double p1 = NAN;
                if (okp) {
                    settle();
                    p1 = torch_measure(&cp, s);
                    gp = fmax(gp, p1);
                }
                gb = fmax(gb, b1);
                prb[round] = b1 / n1;
                prp[round] = b1 / p1;
            }
            qsort(pr, (size_t)rounds, sizeof pr[0], cmp_double);
            run_openblas(s, A, B, C2);
            double diff = 0;
            for (int64_t k = 0; k < s->M * s->N; k++)
                diff = fmax(diff, fabs((double)C[k] - (double)C2[k]));
            char name[64];
            snprintf(name, sizeof name, "%lldx%lldx%lld %c%c", (long long)s->M, (long long)s->N, (long long)s->K,
                     s->ta ? 'T' : 'N', s->tb ? 'T' : 'N');
            printf("%-22s %8.1f %8.1f %8.1f %7.2f %7.2f %7.2f %5.0f%% %9.2g\n", name, gn, gh, gu, gn / gh,
                   pr[rounds / 2], gn / gu, pk > 0 ? 100 * gn / pk : NAN, diff);
            if (bf) {
                qsort(prb, (size_t)rounds, sizeof prb[0], cmp_double);
                qsort(prp, (size_t)rounds, sizeof prp[0], cmp_double);
                double diffb = 0;
                for (int64_t k = 0; k < s->M * s->N; k++)
                    diffb = fmax(diffb, fabs((double)Cb[k] - (double)C2[k]));
                char pt[64] = "PyTorch-bf16 -";
                if (okp)
                    snprintf(pt, sizeof pt, "PyTorch-bf16 %.1f  nb/PT %.2f (%.2f)", gp, gb / gp, prp[rounds / 2]);
                strcat(name, " bf16");
                printf("%-22s %8.1f  bf16/f32 %.2f (%.2f)  %-36s max|diff| %.2g\n", name, gb, gb / gn,
                       prb[rounds / 2], pt, diffb);
            }
            if (fflush(stdout) == EOF) /* the reader is gone (SIGPIPE is ignored): stop; children see EOF */
                exit(1);
        }
        child_stop(&ch);
        child_stop(&cu);
        if (want_torch)
            child_stop(&cp);
    }
    free(A);
    free(B);
    free(C);
    free(C2);
    free(Cb);
    return 0;
}
