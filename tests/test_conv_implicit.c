/* test_conv_implicit.c — the convolution kernels' implicit GEMM (tensor/k_conv.c packs the GEMM's
 * B panels straight from x, and from dy for a "same" convolution's dx, through
 * nb__gemm_packed_b) against an explicit unfold written here: on odd shapes (padding at every
 * edge, stride 2, dilation, groups, depthwise, 1-wide and 1x1 outputs, panels that cross output
 * rows, windows with more taps than the packer's table, more output channels than one A block),
 * y and dx must equal, bit for bit, nb__gemm_batched on that unfold (what the kernels computed
 * before the implicit path), and lie within rounding of tu_gemm_oracle in double. Every GEMM
 * kernel set this CPU has, float32 and float64, 1 and 2 threads. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nb__k_conv.h"
#include "nb__k_gemm.h"

typedef struct {
    int64_t N, C, O, G, H, W, kh, kw, sh, sw, ph, pw, dh, dw;
} shape;

static const shape shapes[] = {
    {2, 5, 7, 1, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1},   /* "same", 11-wide rows: panels cross rows */
    {2, 6, 4, 2, 7, 5, 3, 3, 2, 2, 1, 1, 1, 1},    /* stride 2, groups */
    {2, 4, 6, 2, 10, 9, 3, 3, 1, 1, 2, 2, 2, 2},   /* dilation 2, groups */
    {1, 3, 4, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1},    /* 1x1 plane: one output column */
    {2, 3, 5, 1, 5, 1, 3, 1, 1, 1, 1, 0, 1, 1},    /* 1-wide output */
    {1, 3, 2, 1, 40, 1, 3, 1, 2, 1, 1, 0, 1, 1},   /* 1-wide, stride 2 down */
    {2, 4, 4, 4, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1},    /* depthwise (one output channel per group) */
    {2, 8, 9, 1, 13, 17, 5, 5, 1, 1, 2, 2, 1, 1},  /* 5x5 "same" */
    {2, 4, 8, 1, 12, 40, 3, 5, 1, 2, 1, 2, 1, 1},  /* stride 2 across only */
    {2, 4, 8, 1, 20, 20, 3, 3, 1, 1, 0, 0, 1, 1},  /* no padding */
    {2, 2, 3, 1, 3, 33, 3, 3, 1, 1, 1, 1, 1, 1},   /* 33-wide rows: a partial panel per row */
    {1, 16, 40, 1, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1},  /* 40 output channels */
    {1, 64, 300, 1, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1}, /* more rows than one A block */
    {1, 2, 3, 1, 10, 12, 9, 9, 1, 1, 4, 4, 1, 1},  /* 81 taps */
    {2, 3, 4, 1, 8, 8, 1, 1, 1, 1, 0, 0, 1, 1},    /* 1x1 window: the input is its own unfold */
};
enum { N_SHAPES = sizeof shapes / sizeof shapes[0] };

static nb__conv_shape conv_shape(const shape *s)
{
    nb__conv_shape c = {{s->H, s->W, s->kh, s->kw, s->sh, s->sw, s->ph, s->pw, s->dh, s->dw, 0, 0}, s->N, s->C, s->O,
                        s->G};
    c.g.OH = (s->H + 2 * s->ph - s->dh * (s->kh - 1) - 1) / s->sh + 1;
    c.g.OW = (s->W + 2 * s->pw - s->dw * (s->kw - 1) - 1) / s->sw + 1;
    return c;
}

/* col [C*kh*kw, OH*OW] of the planes x [C, H, W]: row (c, ki, kj), column (oh, ow), 0 in the padding. */
static void unfold(const nb__conv_geom *g, int64_t C, const double *x, double *col)
{
    int64_t n = g->OH * g->OW;
    for (int64_t c = 0; c < C; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++)
                for (int64_t oh = 0; oh < g->OH; oh++)
                    for (int64_t ow = 0; ow < g->OW; ow++) {
                        int64_t ih = oh * g->sh - g->ph + ki * g->dh, iw = ow * g->sw - g->pw + kj * g->dw;
                        bool in = ih >= 0 && ih < g->H && iw >= 0 && iw < g->W;
                        double v = in ? x[(c * g->H + ih) * g->W + iw] : 0;
                        col[((c * g->kh + ki) * g->kw + kj) * n + oh * g->OW + ow] = v;
                    }
}

/* n values in [-1, 1) rounded to dt, as doubles (v) and as dt (raw). */
static void random_vals(nb_dtype dt, int64_t n, uint64_t seed, double *v, void *raw)
{
    nb_generator gen;
    nb_generator_seed(&gen, seed);
    for (int64_t i = 0; i < n; i++) {
        v[i] = 2 * nb_generator_uniform(&gen) - 1;
        if (dt == NB_F32)
            v[i] = ((float *)raw)[i] = (float)v[i];
        else
            ((double *)raw)[i] = v[i];
    }
}

static void to_dt(nb_dtype dt, int64_t n, const double *v, void *raw)
{
    for (int64_t i = 0; i < n; i++)
        dt == NB_F32 ? (void)(((float *)raw)[i] = (float)v[i]) : (void)(((double *)raw)[i] = v[i]);
}

static double get(nb_dtype dt, const void *raw, int64_t i)
{
    return dt == NB_F32 ? ((const float *)raw)[i] : ((const double *)raw)[i];
}

/* ref [N, M, OHW] = per sample and group: A_g (M x K, at A + g*M*K) @ unfold(src_g) with the
 * library's batched GEMM on the explicit unfold (ref) and the oracle in double (oracle). src
 * holds Csrc planes of Hs x Ws per group, N samples. */
static void reference(nb_dtype dt, const nb__conv_geom *g, int64_t N, int64_t G, int64_t M, int64_t Csrc,
                      const double *A, const double *src, void *ref, double *oracle)
{
    int64_t K = Csrc * g->kh * g->kw, OHW = g->OH * g->OW, HW = g->H * g->W;
    size_t esz = dt == NB_F32 ? sizeof(float) : sizeof(double);
    double *col = malloc((size_t)(K * OHW) * sizeof *col);
    void *colr = malloc((size_t)(K * OHW) * esz), *Ar = malloc((size_t)(G * M * K) * esz);
    to_dt(dt, G * M * K, A, Ar);
    for (int64_t n = 0; n < N; n++)
        for (int64_t gi = 0; gi < G; gi++) {
            unfold(g, Csrc, src + (n * G + gi) * Csrc * HW, col);
            to_dt(dt, K * OHW, col, colr);
            int64_t off = (n * G + gi) * M * OHW;
            nb__gemm_batched(dt, false, false, M, OHW, K, 1.0, (char *)Ar + (size_t)(gi * M * K) * esz, K, NULL, colr,
                             OHW, NULL, 0.0, (char *)ref + (size_t)off * esz, OHW, NULL, 1);
            tu_gemm_oracle(false, false, M, OHW, K, 1.0, A + gi * M * K, K, col, OHW, 0.0, oracle + off, OHW);
        }
    free(col), free(colr), free(Ar);
}

/* got (n values of dt) == ref bit for bit, and within rounding of the oracle (sums of K terms). */
static void check(nb_dtype dt, const char *what, int si, int threads, const void *got, const void *ref,
                  const double *oracle, int64_t n, int64_t K)
{
    size_t esz = dt == NB_F32 ? sizeof(float) : sizeof(double);
    double tol = (dt == NB_F32 ? 1e-6 : 1e-14) * (double)(K + 1);
    for (int64_t i = 0; i < n; i++) {
        double v = get(dt, got, i);
        /* plain ifs: Check records every passing ck_assert, far too slow per element */
        if (memcmp((const char *)got + (size_t)i * esz, (const char *)ref + (size_t)i * esz, esz))
            ck_abort_msg("%s %s shape %d, %d thread(s), %s: [%lld] = %.17g, the explicit unfold gives %.17g",
                         nb__gemm_isa_name(nb__gemm_active_isa()), nb_dtype_name(dt), si, threads, what, (long long)i,
                         v, get(dt, ref, i));
        if (!(fabs(v - oracle[i]) <= tol))
            ck_abort_msg("%s shape %d: %s[%lld] = %.17g, oracle %.17g", nb_dtype_name(dt), si, what, (long long)i, v,
                         oracle[i]);
    }
}

/* wf [G, Cig, Cog*kk]: wf[g][ci][(co, t)] = w[g*Cog + co][ci][kk - 1 - t] (dx of a "same"
 * convolution is the convolution of dy with these). */
static void flip(const shape *s, const double *w, double *wf)
{
    int64_t cig = s->C / s->G, cog = s->O / s->G, kk = s->kh * s->kw;
    for (int64_t g = 0; g < s->G; g++)
        for (int64_t ci = 0; ci < cig; ci++)
            for (int64_t co = 0; co < cog; co++)
                for (int64_t t = 0; t < kk; t++)
                    wf[((g * cig + ci) * cog + co) * kk + t] = w[((g * cog + co) * cig + ci) * kk + kk - 1 - t];
}

static bool is_same(const nb__conv_geom *g)
{
    return g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 && g->OH == g->H && g->OW == g->W &&
           2 * g->ph == g->kh - 1 && 2 * g->pw == g->kw - 1;
}

static const nb__gemm_isa k_isas[] = {NB__GEMM_GENERIC, NB__GEMM_AVX2, NB__GEMM_AVX512};
enum { N_ISAS = sizeof k_isas / sizeof k_isas[0] };

static bool isa_available(nb__gemm_isa isa)
{
    nb__gemm_isa prev = nb__gemm_force_isa(isa);
    bool have = nb__gemm_active_isa() == isa;
    nb__gemm_force_isa(prev);
    return have;
}

/* One shape: y and (same geometry) dx with 1 and 2 threads against the references. */
static void run_shape(nb_dtype dt, int si)
{
    const shape *s = &shapes[si];
    nb__conv_shape cs = conv_shape(s);
    const nb__conv_geom *g = &cs.g;
    int64_t cig = s->C / s->G, cog = s->O / s->G, kk = s->kh * s->kw, OHW = g->OH * g->OW;
    int64_t nx = s->N * s->C * s->H * s->W, nw = s->O * cig * kk, ny = s->N * s->O * OHW;
    size_t esz = dt == NB_F32 ? sizeof(float) : sizeof(double);
    double *x = malloc((size_t)nx * sizeof *x), *w = malloc((size_t)nw * sizeof *w);
    double *dy = malloc((size_t)ny * sizeof *dy), *oy = malloc((size_t)ny * sizeof *oy);
    double *odx = malloc((size_t)nx * sizeof *odx), *wf = malloc((size_t)nw * sizeof *wf);
    void *xr = malloc((size_t)nx * esz), *wr = malloc((size_t)nw * esz), *dyr = malloc((size_t)ny * esz);
    void *y = malloc((size_t)ny * esz), *ry = malloc((size_t)ny * esz), *dx = malloc((size_t)nx * esz),
         *rdx = malloc((size_t)nx * esz);
    random_vals(dt, nx, 10 + (uint64_t)si, x, xr);
    random_vals(dt, nw, 50 + (uint64_t)si, w, wr);
    random_vals(dt, ny, 90 + (uint64_t)si, dy, dyr);
    reference(dt, g, s->N, s->G, cog, cig, w, x, ry, oy);
    bool same = is_same(g);
    if (same) {
        flip(s, w, wf);
        reference(dt, g, s->N, s->G, cig, cog, wf, dy, rdx, odx);
    }
    bool dyn = nb_get_dynamic_threads();
    nb_set_dynamic_threads(false);
    for (int t = 1; t <= 2; t++) {
        nb_set_num_threads(t);
        nb__k_conv_forward(dt, &cs, xr, wr, NULL, y);
        check(dt, "y", si, t, y, ry, oy, ny, cig * kk);
        if (same) {
            nb__k_conv_backward(dt, &cs, xr, wr, dyr, dx, NULL, NULL);
            check(dt, "dx", si, t, dx, rdx, odx, nx, cog * kk);
        }
    }
    nb_set_num_threads(0);
    nb_set_dynamic_threads(dyn);
    free(x), free(w), free(dy), free(oy), free(odx), free(wf), free(xr), free(wr), free(dyr);
    free(y), free(ry), free(dx), free(rdx);
}

/* _i: dtype + 2 * kernel set. */
START_TEST(test_implicit_matches_unfold)
{
    nb_dtype dt = _i % 2 ? NB_F64 : NB_F32;
    nb__gemm_isa isa = k_isas[_i / 2];
    ck_assert_msg(isa_available(isa), "kernel set %s registered but not available", nb__gemm_isa_name(isa));
    nb__gemm_isa prev = nb__gemm_force_isa(isa);
    for (int si = 0; si < N_SHAPES; si++)
        run_shape(dt, si);
    nb__gemm_force_isa(prev);
}
END_TEST

/* The GEMM entry refuses the vector and empty products it has no packed path for. */
static void no_pack(void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, void *dst)
{
    (void)ctx, (void)p0, (void)kc, (void)j0, (void)nc, (void)nr, (void)dst;
}

START_TEST(test_packed_b_misuse)
{
    float a[4] = {0}, c[4] = {0};
    TU_EXPECT_ERROR("nb__gemm_packed_b: M 1", nb__gemm_packed_b(NB_F32, 1, 2, 2, a, 2, no_pack, NULL, 0.0, c, 2));
    TU_EXPECT_ERROR("N 1", nb__gemm_packed_b(NB_F32, 2, 1, 2, a, 2, no_pack, NULL, 0.0, c, 2));
    TU_EXPECT_ERROR("K 0", nb__gemm_packed_b(NB_F32, 2, 2, 0, a, 2, no_pack, NULL, 0.0, c, 2));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv_implicit");
    TCase *k = tcase_create("implicit");
    tcase_set_timeout(k, 60);
    int n_avail = 0;
    while (n_avail < N_ISAS && isa_available(k_isas[n_avail]))
        n_avail++;
    for (int i = 0; i < N_ISAS; i++)
        printf("%s: GEMM kernel set %s, float32 and float64%s\n", i < n_avail ? "RUN " : "SKIP",
               nb__gemm_isa_name(k_isas[i]), i < n_avail ? "" : ": not available on this CPU");
    tcase_add_loop_test(k, test_implicit_matches_unfold, 0, 2 * n_avail);
    tcase_add_test(k, test_packed_b_misuse);
    suite_add_tcase(s, k);
    return tu_run_suite(s);
}
