/* test_matmul.c — the GEMM kernels against the naive oracle (every kernel set the CPU supports,
 * odd shapes, all four transposition cases, alpha/beta, padded leading dims, float32/float64),
 * thread-count determinism, and nb_matmul (1-D/2-D/batched/broadcast, strided and zero-size
 * operands, misuse) against an independent plain loop in this file, and its backward against
 * hand-derived g @ B^T and A^T @ g. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "testutil.h"
/* tu_relayout's result joins the open scope like every other tensor (freed with it) */
#define tu_relayout(src, layout) tu_adopt(tu_relayout(src, layout))

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nb__k_gemm.h"
#include "nb__kv.h"

#define VALS(...) ((const double[]){__VA_ARGS__})

/* ==== plain double helpers (independent of the library) ====================================== */
static double *rand_doubles(int64_t n, uint64_t seed)
{
    nb_generator g;
    nb_generator_seed(&g, seed);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = 2 * nb_generator_uniform(&g) - 1;
    return v;
}

/* C (M x N) = op(A) @ op(B) on row-major doubles; op(A)[i][p] = ta ? A[p][i] : A[i][p] etc. */
static void mm(const double *A, bool ta, const double *B, bool tb, double *C, int64_t M, int64_t N, int64_t K)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t p = 0; p < K; p++)
                s += A[ta ? p * M + i : i * K + p] * B[tb ? j * K + p : p * N + j];
            C[i * N + j] = s;
        }
}

static double *values_of(const nb_tensor *t)
{
    int64_t n = nb_tensor_numel(t);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    nb_tensor_to_doubles(t, v);
    return v;
}

/* torch.matmul written out: 1-D promotion, broadcast batch dims, triple loop over doubles. */
static nb_tensor *ref_matmul(const nb_tensor *a, const nb_tensor *b)
{
    int an = nb_tensor_ndim(a), bn = nb_tensor_ndim(b);
    int64_t as[NB_MAX_DIMS], bs[NB_MAX_DIMS];
    int and_ = an == 1 ? 2 : an, bnd_ = bn == 1 ? 2 : bn;
    if (an == 1)
        as[0] = 1, as[1] = nb_tensor_shape(a)[0];
    else
        memcpy(as, nb_tensor_shape(a), (size_t)an * sizeof *as);
    if (bn == 1)
        bs[0] = nb_tensor_shape(b)[0], bs[1] = 1;
    else
        memcpy(bs, nb_tensor_shape(b), (size_t)bn * sizeof *bs);
    int64_t M = as[and_ - 2], K = as[and_ - 1], N = bs[bnd_ - 1];
    ck_assert_int_eq(K, bs[bnd_ - 2]);
    int nb = (and_ > bnd_ ? and_ : bnd_) - 2;
    int64_t bat[NB_MAX_DIMS], nbatch = 1;
    for (int d = 0; d < nb; d++) {
        int ad = d - (nb - (and_ - 2)), bd = d - (nb - (bnd_ - 2));
        int64_t x = ad >= 0 ? as[ad] : 1, y = bd >= 0 ? bs[bd] : 1;
        ck_assert(x == y || x == 1 || y == 1);
        bat[d] = x == 1 ? y : x;
        nbatch *= bat[d];
    }
    double *va = values_of(a), *vb = values_of(b);
    int64_t nc = nbatch * M * N;
    double *vc = malloc((size_t)(nc > 0 ? nc : 1) * sizeof *vc);
    for (int64_t bi = 0; bi < nbatch; bi++) {
        int64_t rest = bi, ia = 0, ib = 0, sa = 1, sb = 1;
        for (int d = nb - 1; d >= 0; d--) {
            int64_t idx = rest % bat[d];
            rest /= bat[d];
            int ad = d - (nb - (and_ - 2)), bd = d - (nb - (bnd_ - 2));
            if (ad >= 0) {
                ia += (as[ad] == 1 ? 0 : idx) * sa;
                sa *= as[ad];
            }
            if (bd >= 0) {
                ib += (bs[bd] == 1 ? 0 : idx) * sb;
                sb *= bs[bd];
            }
        }
        mm(va + ia * M * K, false, vb + ib * K * N, false, vc + bi * M * N, M, N, K);
    }
    int64_t os[NB_MAX_DIMS];
    int ond = nb;
    memcpy(os, bat, (size_t)nb * sizeof *os);
    if (an > 1)
        os[ond++] = M;
    if (bn > 1)
        os[ond++] = N;
    nb_tensor *out = nb_from_doubles(vc, os, ond, nb_tensor_dtype(a));
    free(va);
    free(vb);
    free(vc);
    return out;
}

/* ==== kernels vs the oracle ================================================================== */
typedef struct {
    nb_dtype dt;
    nb__gemm_isa isa;
} kcase;

/* Runs one product through nb__gemm_<dt> with the given kernel set and through the oracle;
 * operands are stored with `pad` extra NaN columns, C's padding must stay NaN, and with beta 0
 * C starts as NaN (it must not be read). */
static void check_gemm(nb_dtype dt, nb__gemm_isa isa, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                       double alpha, double beta, int64_t pad, uint64_t seed)
{
    int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    int64_t lda = ac + pad, ldb = bc + pad, ldc = N + pad;
    int64_t na = ar * lda, nbb = br * ldb, nc = M * ldc;
    double *ra = rand_doubles(na, seed), *rb = rand_doubles(nbb, seed + 1), *rc = rand_doubles(nc, seed + 2);
    for (int64_t i = 0; i < na; i++)
        if (i % lda >= ac)
            ra[i] = NAN;
    for (int64_t i = 0; i < nbb; i++)
        if (i % ldb >= bc)
            rb[i] = NAN;
    for (int64_t i = 0; i < nc; i++)
        if (i % ldc >= N || beta == 0)
            rc[i] = NAN;
    size_t es = nb_dtype_size(dt);
    void *A = malloc((size_t)(na + 1) * es), *B = malloc((size_t)(nbb + 1) * es);
    void *C = malloc((size_t)(nc + 1) * es);
    /* the operands as the kernel sees them (rounded to float for float32), for the oracle */
    for (int64_t i = 0; i < na; i++)
        dt == NB_F32 ? (void)(ra[i] = ((float *)A)[i] = (float)ra[i]) : (void)(((double *)A)[i] = ra[i]);
    for (int64_t i = 0; i < nbb; i++)
        dt == NB_F32 ? (void)(rb[i] = ((float *)B)[i] = (float)rb[i]) : (void)(((double *)B)[i] = rb[i]);
    for (int64_t i = 0; i < nc; i++)
        dt == NB_F32 ? (void)(rc[i] = ((float *)C)[i] = (float)rc[i]) : (void)(((double *)C)[i] = rc[i]);
    double *R = malloc((size_t)(nc + 1) * sizeof *R);
    memcpy(R, rc, (size_t)nc * sizeof *R);
    tu_gemm_oracle(ta, tb, M, N, K, alpha, ra, lda, rb, ldb, beta, R, ldc);
    nb__gemm_isa prev = nb__gemm_force_isa(isa);
    if (dt == NB_F32)
        nb__gemm_f32(ta, tb, M, N, K, (float)alpha, A, lda, B, ldb, (float)beta, C, ldc);
    else
        nb__gemm_f64(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    nb__gemm_force_isa(prev);
    double eps = dt == NB_F32 ? 1e-6 : 1e-14;
    double tol = eps * (double)(K + 1) * (fabs(alpha) + fabs(beta) + 1);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < ldc; j++) {
            double got = dt == NB_F32 ? ((float *)C)[i * ldc + j] : ((double *)C)[i * ldc + j];
            double want = R[i * ldc + j];
            /* plain ifs: Check records every passing ck_assert, far too slow per element */
            if (j >= N && !isnan(got))
                ck_abort_msg("%s %s %c%c %lldx%lldx%lld: wrote padding C[%lld][%lld]", nb__gemm_isa_name(isa),
                             nb_dtype_name(dt), ta ? 'T' : 'N', tb ? 'T' : 'N', (long long)M, (long long)N,
                             (long long)K, (long long)i, (long long)j);
            if (j < N && !(fabs(got - want) <= tol))
                ck_abort_msg("%s %s %c%c %lldx%lldx%lld alpha %g beta %g pad %lld: C[%lld][%lld] = %.9g, "
                             "oracle %.9g",
                             nb__gemm_isa_name(isa), nb_dtype_name(dt), ta ? 'T' : 'N', tb ? 'T' : 'N',
                             (long long)M, (long long)N, (long long)K, alpha, beta, (long long)pad,
                             (long long)i, (long long)j, got, want);
        }
    free(ra), free(rb), free(rc), free(A), free(B), free(C), free(R);
}

/* The kernel sets, in order; main registers the loop tests only over those this CPU has (a
 * prefix: each set's CPU needs include the previous one's) and prints the others as SKIP. */
static const nb__gemm_isa k_isas[] = {NB__GEMM_GENERIC, NB__GEMM_AVX2, NB__GEMM_AVX512};
enum { N_ISAS = sizeof k_isas / sizeof k_isas[0] };

static bool isa_available(nb__gemm_isa isa)
{
    nb__gemm_isa prev = nb__gemm_force_isa(isa);
    bool have = nb__gemm_active_isa() == isa;
    nb__gemm_force_isa(prev);
    return have;
}

/* The loop index picks (dtype, kernel set). */
static void kcase_of(int i, kcase *kc)
{
    kc->dt = i % 2 ? NB_F64 : NB_F32;
    kc->isa = k_isas[i / 2];
    ck_assert_msg(isa_available(kc->isa), "kernel set %s registered but not available", nb__gemm_isa_name(kc->isa));
}

START_TEST(test_kernel_odd_shapes)
{
    kcase kc;
    kcase_of(_i, &kc);
    static const int64_t sz[] = {1, 7, 33, 65, 127, 129};
    static const double ab[][2] = {{1, 0}, {0.5, 2}, {-1.5, 1}, {2, 0}};
    int n = 0;
    for (int t = 0; t < 4; t++)
        for (int mi = 0; mi < 6; mi++)
            for (int ni = 0; ni < 6; ni++)
                for (int ki = 0; ki < 6; ki++, n++)
                    check_gemm(kc.dt, kc.isa, t & 2, t & 1, sz[mi], sz[ni], sz[ki], ab[n % 4][0], ab[n % 4][1],
                               (n / 4) % 2 ? 3 : 0, (uint64_t)n);
}
END_TEST

START_TEST(test_kernel_large_and_blocked)
{
    kcase kc;
    kcase_of(_i, &kc);
    /* several K blocks, several column panels, several row blocks */
    static const int64_t shapes[][3] = {{256, 200, 300}, {64, 80, 1000}, {70, 2100, 64}, {1100, 20, 40}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++)
            check_gemm(kc.dt, kc.isa, t & 2, t & 1, shapes[s][0], shapes[s][1], shapes[s][2], t == 3 ? 0.75 : 1,
                       t == 1 ? 0.5 : 0, t == 2 ? 5 : 0, 100 + s * 4 + (uint64_t)t);
}
END_TEST

START_TEST(test_kernel_degenerate)
{
    for (int dti = 0; dti < 2; dti++) {
        nb_dtype dt = dti ? NB_F64 : NB_F32;
        for (int t = 0; t < 4; t++) {
            check_gemm(dt, NB__GEMM_AUTO, t & 2, t & 1, 5, 6, 0, 1, 0, 0, 1);   /* K = 0: zeros */
            check_gemm(dt, NB__GEMM_AUTO, t & 2, t & 1, 5, 6, 0, 1, 0.5, 2, 2); /* K = 0: beta*C */
            check_gemm(dt, NB__GEMM_AUTO, t & 2, t & 1, 0, 6, 4, 1, 0, 0, 3);   /* M = 0 */
            check_gemm(dt, NB__GEMM_AUTO, t & 2, t & 1, 5, 0, 4, 1, 0, 0, 4);   /* N = 0 */
            check_gemm(dt, NB__GEMM_AUTO, t & 2, t & 1, 1, 1, 500, 1, 0, 1, 5); /* dot */
            check_gemm(dt, NB__GEMM_AUTO, t & 2, t & 1, 1, 300, 70, 2, 1, 0, 6);
            check_gemm(dt, NB__GEMM_AUTO, t & 2, t & 1, 300, 1, 70, 1, 3, 2, 7);
        }
    }
    /* alpha = 0: C = beta*C, A and B (NaN here) are not read */
    float A[4] = {NAN, NAN, NAN, NAN}, B[4] = {NAN, NAN, NAN, NAN}, C[4] = {1, 2, 3, 4};
    nb__gemm_f32(false, false, 2, 2, 2, 0.0f, A, 2, B, 2, 3.0f, C, 2);
    ck_assert(C[0] == 3 && C[1] == 6 && C[2] == 9 && C[3] == 12);
}
END_TEST

START_TEST(test_kernel_batched_offsets)
{
    /* 6 products of 20x30x25: A broadcast over pairs (offsets repeat), B per product */
    int64_t M = 20, N = 30, K = 25, nb = 6;
    double *a = rand_doubles(3 * M * K, 11), *b = rand_doubles(nb * K * N, 12);
    double *c = malloc((size_t)(nb * M * N) * sizeof *c), *want = malloc((size_t)(M * N) * sizeof *want);
    int64_t aoff[6], boff[6], coff[6];
    for (int i = 0; i < nb; i++)
        aoff[i] = (i / 2) * M * K, boff[i] = i * K * N, coff[i] = i * M * N;
    for (int th = 1; th <= 2; th++) {
        nb_set_num_threads(th);
        nb__gemm_batched(NB_F64, false, false, M, N, K, 1.0, a, K, aoff, b, N, boff, 0.0, c, N, coff, nb);
        for (int i = 0; i < nb; i++) {
            mm(a + aoff[i], false, b + boff[i], false, want, M, N, K);
            for (int64_t e = 0; e < M * N; e++)
                if (!(fabs(c[coff[i] + e] - want[e]) <= 1e-12))
                    ck_abort_msg("product %d element %lld: %.17g != %.17g", i, (long long)e, c[coff[i] + e], want[e]);
        }
    }
    nb_set_num_threads(0);
    free(a), free(b), free(c), free(want);
}
END_TEST

/* Bit-identical results for 1 and 2 threads: one large product (split over threads) and a batch
 * of small ones (one per thread), each in all four transposition cases. */
START_TEST(test_kernel_thread_determinism)
{
    int64_t M = 300, N = 200, K = 250, nb = 16, m = 40, n = 50, k = 30;
    double *ra = rand_doubles(M * K, 21), *rb = rand_doubles(K * N, 22);
    float *A = malloc((size_t)(M * K) * sizeof *A), *B = malloc((size_t)(K * N) * sizeof *B);
    for (int64_t i = 0; i < M * K; i++)
        A[i] = (float)ra[i];
    for (int64_t i = 0; i < K * N; i++)
        B[i] = (float)rb[i];
    float *C[2], *D[2];
    int64_t aoff[16], boff[16], coff[16];
    for (int i = 0; i < nb; i++)
        aoff[i] = i * m * k, boff[i] = i * k * n, coff[i] = i * m * n;
    for (int t = 0; t < 4; t++) {
        bool ta = t & 2, tb = t & 1;
        for (int th = 0; th < 2; th++) {
            nb_set_num_threads(th + 1);
            C[th] = malloc((size_t)(M * N) * sizeof(float));
            D[th] = malloc((size_t)(nb * m * n) * sizeof(float));
            nb__gemm_f32(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C[th], N);
            nb__gemm_batched(NB_F32, ta, tb, m, n, k, 1.0, A, ta ? m : k, aoff, B, tb ? k : n, boff, 0.0, D[th],
                             n, coff, nb);
        }
        ck_assert_msg(!memcmp(C[0], C[1], (size_t)(M * N) * sizeof(float)), "product differs (case %d)", t);
        ck_assert_msg(!memcmp(D[0], D[1], (size_t)(nb * m * n) * sizeof(float)), "batch differs (case %d)", t);
        for (int th = 0; th < 2; th++)
            free(C[th]), free(D[th]);
    }
    nb_set_num_threads(0);
    free(ra), free(rb), free(A), free(B);
}
END_TEST

/* ==== nb_matmul forward ===================================================================== */
static void check_matmul(nb_dtype dt, const int64_t *as, int an, const int64_t *bs, int bn, uint64_t seed)
{
    int s = nb_scope_begin();
    nb_tensor *a = tu_random(dt, as, an, -1, 1, seed), *b = tu_random(dt, bs, bn, -1, 1, seed + 7);
    nb_tensor *want = ref_matmul(a, b);
    double tol = dt == NB_F32 ? 1e-5 : 1e-12;
    for (int la = 0; la < TU_LAYOUT_COUNT; la++)
        for (int lb = 0; lb < TU_LAYOUT_COUNT; lb++) {
            nb_tensor *got = nb_matmul(tu_relayout(a, la), tu_relayout(b, lb));
            ck_assert(nb_tensor_is_contiguous(got));
            tu_assert_close(got, want, tol, tol);
        }
    nb_scope_end(s);
}

START_TEST(test_matmul_shapes)
{
    for (int d = 0; d < 2; d++) {
        nb_dtype dt = d ? NB_F64 : NB_F32;
        check_matmul(dt, NB_DIMS(5), NB_DIMS(5), 1);                 /* dot → 0-dim */
        check_matmul(dt, NB_DIMS(4), NB_DIMS(4, 3), 2);              /* [4] @ [4, 3] → [3] */
        check_matmul(dt, NB_DIMS(3, 4), NB_DIMS(4), 3);              /* → [3] */
        check_matmul(dt, NB_DIMS(7, 5), NB_DIMS(5, 9), 4);
        check_matmul(dt, NB_DIMS(33, 65), NB_DIMS(65, 17), 5);
        check_matmul(dt, NB_DIMS(3, 4, 5), NB_DIMS(3, 5, 6), 6);     /* batched */
        check_matmul(dt, NB_DIMS(1, 4, 5), NB_DIMS(3, 5, 6), 7);     /* broadcast batch of a */
        check_matmul(dt, NB_DIMS(3, 4, 5), NB_DIMS(5, 6), 8);        /* folded into one GEMM */
        check_matmul(dt, NB_DIMS(3, 4, 5), NB_DIMS(1, 5, 6), 9);
        check_matmul(dt, NB_DIMS(4, 5), NB_DIMS(3, 5, 6), 10);       /* a broadcast over b's batch */
        check_matmul(dt, NB_DIMS(5), NB_DIMS(2, 3, 5, 6), 11);       /* 1-D with batches */
        check_matmul(dt, NB_DIMS(2, 3, 4, 5), NB_DIMS(5), 12);
        check_matmul(dt, NB_DIMS(2, 1, 3, 4), NB_DIMS(1, 3, 4, 5), 13); /* → [2, 3, 3, 5] */
        check_matmul(dt, NB_DIMS(1, 1), NB_DIMS(1, 1), 14);
        check_matmul(dt, NB_DIMS(2, 3, 1, 4), NB_DIMS(4, 1), 15);
    }
    int s = nb_scope_begin();
    nb_tensor *dot = nb_matmul(tu_tensor(NB_F64, NB_DIMS(3), VALS(1, 2, 3)), tu_tensor(NB_F64, NB_DIMS(3), VALS(4, 5, 6)));
    tu_assert_shape(dot, NB_SCALAR);
    ck_assert_double_eq(nb_tensor_item(dot), 32);
    nb_tensor *m = nb_matmul(tu_tensor(NB_F32, NB_DIMS(2, 2), VALS(1, 2, 3, 4)),
                             tu_tensor(NB_F32, NB_DIMS(2, 2), VALS(5, 6, 7, 8)));
    tu_assert_shape_values(m, NB_DIMS(2, 2), VALS(19, 22, 43, 50), 0);
    nb_scope_end(s);
}
END_TEST

/* Views the kernels take without a copy: transposed last dims (also per batch), a narrowed row
 * stride, an offset, stride-0 batch and stride-0 rows from nb_expand; and NaN-gapped slices. */
START_TEST(test_matmul_views)
{
    for (int d = 0; d < 2; d++) {
        nb_dtype dt = d ? NB_F64 : NB_F32;
        double tol = d ? 1e-12 : 1e-5;
        int s = nb_scope_begin();
        nb_tensor *x = tu_random(dt, NB_DIMS(4, 6, 5), -1, 1, 31), *y = tu_random(dt, NB_DIMS(4, 7, 6), -1, 1, 32);
        /* x^T per batch: [4, 5, 6] @ y^T per batch [4, 6, 7] */
        nb_tensor *xt = nb_transpose(x, 1, 2), *yt = nb_transpose(y, 1, 2);
        tu_assert_close(nb_matmul(xt, yt), ref_matmul(nb_contiguous(xt), nb_contiguous(yt)), tol, tol);
        /* narrowed columns (row stride 5 > 3 cols) with an offset */
        nb_tensor *xn = nb_narrow(x, 2, 1, 3);
        nb_tensor *w = tu_random(dt, NB_DIMS(3, 8), -1, 1, 33);
        tu_assert_close(nb_matmul(xn, w), ref_matmul(nb_contiguous(xn), w), tol, tol);
        /* stride-0 batch: [1, 6, 5] expanded to [4, 6, 5] */
        nb_tensor *x1 = tu_random(dt, NB_DIMS(1, 6, 5), -1, 1, 34);
        nb_tensor *xe = nb_expand(x1, NB_DIMS(4, 6, 5));
        nb_tensor *z = tu_random(dt, NB_DIMS(4, 5, 3), -1, 1, 35);
        tu_assert_close(nb_matmul(xe, z), ref_matmul(nb_contiguous(xe), z), tol, tol);
        tu_assert_close(nb_matmul(xe, nb_select(z, 0, 1)), ref_matmul(nb_contiguous(xe), nb_select(z, 0, 1)), tol,
                        tol);
        /* stride-0 rows: [1, 5] expanded to [6, 5] */
        nb_tensor *r = nb_expand(tu_random(dt, NB_DIMS(1, 5), -1, 1, 36), NB_DIMS(6, 5));
        tu_assert_close(nb_matmul(r, nb_select(z, 0, 2)), ref_matmul(nb_contiguous(r), nb_select(z, 0, 2)), tol,
                        tol);
        /* NaN-gapped, transposed views of sliced storage, a permuted batch */
        nb_tensor *xs = tu_relayout(x, TU_SLICED), *ys = tu_relayout(y, TU_SLICED);
        tu_assert_close(nb_matmul(nb_transpose(xs, 1, 2), nb_transpose(ys, 1, 2)),
                        ref_matmul(nb_contiguous(xt), nb_contiguous(yt)), tol, tol);
        nb_tensor *xp = nb_permute(tu_random(dt, NB_DIMS(6, 4, 5), -1, 1, 37), (const int[]){1, 0, 2});
        tu_assert_close(nb_matmul(xp, z), ref_matmul(nb_contiguous(xp), z), tol, tol);
        nb_scope_end(s);
    }
}
END_TEST

START_TEST(test_matmul_zero_size)
{
    int s = nb_scope_begin();
    nb_tensor *r = nb_matmul(nb_ones(NB_DIMS(0, 3), NB_F32), nb_ones(NB_DIMS(3, 4), NB_F32));
    tu_assert_shape(r, NB_DIMS(0, 4));
    r = nb_matmul(nb_ones(NB_DIMS(2, 3), NB_F32), nb_ones(NB_DIMS(3, 0), NB_F32));
    tu_assert_shape(r, NB_DIMS(2, 0));
    r = nb_matmul(nb_ones(NB_DIMS(2, 0), NB_F64), nb_ones(NB_DIMS(0, 3), NB_F64)); /* K = 0 → zeros */
    tu_assert_shape(r, NB_DIMS(2, 3));
    tu_assert_values(r, VALS(0, 0, 0, 0, 0, 0), 0);
    r = nb_matmul(nb_ones(NB_DIMS(4, 2, 0), NB_F32), nb_ones(NB_DIMS(0, 3), NB_F32));
    tu_assert_shape(r, NB_DIMS(4, 2, 3));
    tu_assert_close(r, nb_zeros(NB_DIMS(4, 2, 3), NB_F32), 0, 0);
    r = nb_matmul(nb_ones(NB_DIMS(0, 2, 3), NB_F32), nb_ones(NB_DIMS(3, 5), NB_F32));
    tu_assert_shape(r, NB_DIMS(0, 2, 5));
    r = nb_matmul(nb_ones(NB_DIMS(0), NB_F64), nb_ones(NB_DIMS(0), NB_F64)); /* empty dot = 0 */
    tu_assert_shape(r, NB_SCALAR);
    ck_assert_double_eq(nb_tensor_item(r), 0);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_matmul_thread_determinism)
{
    int s = nb_scope_begin();
    nb_tensor *a = tu_random(NB_F32, NB_DIMS(4, 100, 120), -1, 1, 41);
    nb_tensor *w = tu_random(NB_F32, NB_DIMS(90, 120), -1, 1, 42);
    nb_tensor *q = tu_random(NB_F32, NB_DIMS(8, 64, 48), -1, 1, 43);
    nb_tensor *k = tu_random(NB_F32, NB_DIMS(8, 64, 48), -1, 1, 44);
    nb_tensor *r[2][2];
    for (int th = 0; th < 2; th++) {
        nb_set_num_threads(th + 1);
        r[th][0] = nb_matmul(a, nb_transpose(w, 0, 1));  /* folded: one 400x90x120 GEMM */
        r[th][1] = nb_matmul(q, nb_transpose(k, 1, 2)); /* 8 small products */
    }
    nb_set_num_threads(0);
    for (int i = 0; i < 2; i++) {
        int64_t n = nb_tensor_numel(r[0][i]);
        ck_assert(!memcmp(nb_tensor_data(r[0][i]), nb_tensor_data(r[1][i]), (size_t)n * sizeof(float)));
    }
    nb_scope_end(s);
}
END_TEST

START_TEST(test_matmul_misuse)
{
    int s = nb_scope_begin();
    nb_tensor *a = nb_ones(NB_DIMS(2, 3), NB_F32), *b = nb_ones(NB_DIMS(4, 5), NB_F32);
    TU_EXPECT_ERROR("nb_matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)", nb_matmul(a, b));
    TU_EXPECT_ERROR("nb_matmul: shapes [3] and [4] cannot be multiplied (3 != 4)",
                    nb_matmul(nb_ones(NB_DIMS(3), NB_F32), nb_ones(NB_DIMS(4), NB_F32)));
    TU_EXPECT_ERROR("nb_matmul: shapes [2, 3] and [2] cannot be multiplied (3 != 2)",
                    nb_matmul(a, nb_ones(NB_DIMS(2), NB_F32)));
    TU_EXPECT_ERROR("nb_matmul: batch dims of shapes [2, 3, 4] and [3, 4, 5] cannot be broadcast",
                    nb_matmul(nb_ones(NB_DIMS(2, 3, 4), NB_F32), nb_ones(NB_DIMS(3, 4, 5), NB_F32)));
    TU_EXPECT_ERROR("nb_matmul: dtype mismatch (float32 and float64)",
                    nb_matmul(a, nb_ones(NB_DIMS(3, 2), NB_F64)));
    TU_EXPECT_ERROR("nb_matmul: expected a float32 or float64 tensor, got int64",
                    nb_matmul(nb_ones(NB_DIMS(2, 3), NB_I64), nb_ones(NB_DIMS(3, 2), NB_I64)));
    TU_EXPECT_ERROR("nb_matmul: both arguments need at least 1 dim, got shapes [] and [3]",
                    nb_matmul(nb_scalar(1, NB_F32), nb_ones(NB_DIMS(3), NB_F32)));
    nb_scope_end(s);
}
END_TEST

/* ==== backward =============================================================================== */
/* y = a @ b with a, b made leaves requiring grad; backward with upstream g. */
static void run_backward(nb_tensor *a, nb_tensor *b, nb_tensor *g)
{
    nb_tensor_requires_grad_(a, true);
    nb_tensor_requires_grad_(b, true);
    nb_tensor *y = nb_matmul(a, b);
    ck_assert_str_eq(nb_tensor_grad_fn_name(y), "nb_matmul");
    nb_backward(y, g, false);
    ck_assert_ptr_nonnull(nb_tensor_get_grad(a));
    ck_assert_ptr_nonnull(nb_tensor_get_grad(b));
}

START_TEST(test_backward_2d)
{
    int s = nb_scope_begin();
    int64_t M = 3, K = 4, N = 5;
    nb_tensor *a = tu_random(NB_F64, NB_DIMS(M, K), -1, 1, 51), *b = tu_random(NB_F64, NB_DIMS(K, N), -1, 1, 52);
    nb_tensor *g = tu_random(NB_F64, NB_DIMS(M, N), -1, 1, 53);
    double *va = values_of(a), *vb = values_of(b), *vg = values_of(g), da[12], db[20];
    run_backward(a, b, g);
    mm(vg, false, vb, true, da, M, K, N); /* g @ B^T */
    mm(va, true, vg, false, db, K, N, M); /* A^T @ g */
    tu_assert_close(nb_tensor_get_grad(a), tu_tensor(NB_F64, NB_DIMS(M, K), da), 1e-12, 1e-12);
    tu_assert_close(nb_tensor_get_grad(b), tu_tensor(NB_F64, NB_DIMS(K, N), db), 1e-12, 1e-12);
    free(va), free(vb), free(vg);
    nb_scope_end(s);
}
END_TEST

/* a [1, M, K] broadcast against b [B, K, N]: dA = sum_b g_b B_b^T, dB_b = A^T g_b; and
 * a [B, M, K] with b [K, N] (folded): dA_b = g_b B^T, dB = sum_b A_b^T g_b. */
START_TEST(test_backward_broadcast_batch)
{
    int s = nb_scope_begin();
    enum { NB = 3, M = 2, K = 4, N = 3 };
    for (int c = 0; c < 2; c++) {
        nb_tensor *a = c == 0 ? tu_random(NB_F64, NB_DIMS(1, M, K), -1, 1, 61) : tu_random(NB_F64, NB_DIMS(NB, M, K), -1, 1, 61);
        nb_tensor *b = c == 0 ? tu_random(NB_F64, NB_DIMS(NB, K, N), -1, 1, 62) : tu_random(NB_F64, NB_DIMS(K, N), -1, 1, 62);
        nb_tensor *g = tu_random(NB_F64, NB_DIMS(NB, M, N), -1, 1, 63);
        double *va = values_of(a), *vb = values_of(b), *vg = values_of(g), t[M * K > K * N ? M * K : K * N];
        double da[NB * M * K] = {0}, db[NB * K * N] = {0};
        run_backward(a, b, g);
        for (int bi = 0; bi < NB; bi++) {
            const double *ab = va + (c == 0 ? 0 : bi * M * K), *bb = vb + (c == 0 ? bi * K * N : 0);
            mm(vg + bi * M * N, false, bb, true, t, M, K, N);
            for (int e = 0; e < M * K; e++)
                da[(c == 0 ? 0 : bi * M * K) + e] += t[e];
            mm(ab, true, vg + bi * M * N, false, t, K, N, M);
            for (int e = 0; e < K * N; e++)
                db[(c == 0 ? bi * K * N : 0) + e] += t[e];
        }
        tu_assert_close(nb_tensor_get_grad(a), tu_tensor(NB_F64, nb_tensor_shape(a), nb_tensor_ndim(a), da), 1e-12, 1e-12);
        tu_assert_close(nb_tensor_get_grad(b), tu_tensor(NB_F64, nb_tensor_shape(b), nb_tensor_ndim(b), db), 1e-12, 1e-12);
        free(va), free(vb), free(vg);
    }
    nb_scope_end(s);
}
END_TEST

/* 1-D promotions undone: [K]·[K] (g scalar), [K]·[K, N], [M, K]·[K]; float32. */
START_TEST(test_backward_vectors)
{
    int s = nb_scope_begin();
    nb_tensor *a = tu_tensor(NB_F32, NB_DIMS(3), VALS(1, 2, 3)), *b = tu_tensor(NB_F32, NB_DIMS(3), VALS(4, 5, 6));
    run_backward(a, b, nb_scalar(2, NB_F32));
    tu_assert_shape(nb_tensor_get_grad(a), NB_DIMS(3));
    tu_assert_values(nb_tensor_get_grad(a), VALS(8, 10, 12), 0);
    tu_assert_shape_values(nb_tensor_get_grad(b), NB_DIMS(3), VALS(2, 4, 6), 0);

    /* a [2] @ B [2, 3], g [3]: dA = B g, dB = a g^T */
    a = tu_tensor(NB_F32, NB_DIMS(2), VALS(1, -1));
    nb_tensor *B = tu_tensor(NB_F32, NB_DIMS(2, 3), VALS(1, 2, 3, 4, 5, 6));
    run_backward(a, B, tu_tensor(NB_F32, NB_DIMS(3), VALS(1, 0, 2)));
    tu_assert_values(nb_tensor_get_grad(a), VALS(7, 16), 1e-6);
    tu_assert_shape_values(nb_tensor_get_grad(B), NB_DIMS(2, 3), VALS(1, 0, 2, -1, 0, -2), 1e-6);

    /* A [3, 2] @ b [2], g [3]: dA = g b^T, dB = A^T g */
    nb_tensor *A = tu_tensor(NB_F32, NB_DIMS(3, 2), VALS(1, 2, 3, 4, 5, 6));
    b = tu_tensor(NB_F32, NB_DIMS(2), VALS(2, -1));
    run_backward(A, b, tu_tensor(NB_F32, NB_DIMS(3), VALS(1, 1, -1)));
    tu_assert_shape_values(nb_tensor_get_grad(A), NB_DIMS(3, 2), VALS(2, -1, 2, -1, -2, 1), 1e-6);
    tu_assert_shape_values(nb_tensor_get_grad(b), NB_DIMS(2), VALS(-1, 0), 1e-6);

    /* A [2, 2, 2] @ b [2], g [2, 2]: dA[n] = g[n] b^T, dB = sum_n A[n]^T g[n] (batch folded) */
    A = tu_tensor(NB_F64, NB_DIMS(2, 2, 2), VALS(1, 2, 3, 4, 5, 6, 7, 8));
    b = tu_tensor(NB_F64, NB_DIMS(2), VALS(1, -2));
    run_backward(A, b, tu_tensor(NB_F64, NB_DIMS(2, 2), VALS(1, 2, 3, -1)));
    tu_assert_shape_values(nb_tensor_get_grad(A), NB_DIMS(2, 2, 2), VALS(1, -2, 2, -4, 3, -6, -1, 2), 1e-12);
    tu_assert_shape_values(nb_tensor_get_grad(b), NB_DIMS(2), VALS(1 + 6 + 15 - 7, 2 + 8 + 18 - 8), 1e-12);

    /* a [2] @ B [2, 2, 3] (B batched), g [2, 3]: dA = sum_n B[n] g[n], dB[n] = a g[n]^T */
    a = tu_tensor(NB_F64, NB_DIMS(2), VALS(2, -1));
    B = tu_tensor(NB_F64, NB_DIMS(2, 2, 3), VALS(1, 0, 0, 0, 1, 0, 1, 1, 1, 2, 2, 2));
    run_backward(a, B, tu_tensor(NB_F64, NB_DIMS(2, 3), VALS(1, 2, 3, 1, 0, -1)));
    tu_assert_shape_values(nb_tensor_get_grad(a), NB_DIMS(2), VALS(1 + 0, 2 + 0), 1e-12);
    tu_assert_shape_values(nb_tensor_get_grad(B), NB_DIMS(2, 2, 3),
                           VALS(2, 4, 6, -1, -2, -3, 2, 0, -2, -1, 0, 1), 1e-12);
    nb_scope_end(s);
}
END_TEST

/* y = x @ W^T (the Linear layer: W^T is a transposed view): dW = g^T x reaches W through the
 * view; dX = g W. */
START_TEST(test_backward_transposed_view)
{
    int s = nb_scope_begin();
    enum { NB = 2, T = 3, C = 4, O = 5 };
    nb_tensor *x = nb_tensor_requires_grad_(tu_random(NB_F64, NB_DIMS(NB, T, C), -1, 1, 71), true);
    nb_tensor *W = nb_tensor_requires_grad_(tu_random(NB_F64, NB_DIMS(O, C), -1, 1, 72), true);
    nb_tensor *g = tu_random(NB_F64, NB_DIMS(NB, T, O), -1, 1, 73);
    nb_backward(nb_matmul(x, nb_transpose(W, 0, 1)), g, false);
    double *vx = values_of(x), *vw = values_of(W), *vg = values_of(g), dx[NB * T * C], dw[O * C];
    mm(vg, false, vw, false, dx, NB * T, C, O); /* g @ W */
    mm(vg, true, vx, false, dw, O, C, NB * T);  /* g^T @ x, summed over the batch */
    tu_assert_close(nb_tensor_get_grad(x), tu_tensor(NB_F64, NB_DIMS(NB, T, C), dx), 1e-12, 1e-12);
    tu_assert_close(nb_tensor_get_grad(W), tu_tensor(NB_F64, NB_DIMS(O, C), dw), 1e-12, 1e-12);
    free(vx), free(vw), free(vg);
    nb_scope_end(s);
}
END_TEST

/* NB_KERNELS: each name the CPU has forces that set (GEMM and loops); an unknown name, or one the
 * CPU lacks, stops with one line naming it and what the CPU can run. */
START_TEST(test_kernels_env)
{
    for (int v = 0; v < NB__KV_COUNT; v++) {
        setenv("NB_KERNELS", nb__kernels_name((nb__kv_set)v), 1);
        nb__kernels_reread_env();
        if (nb__kernels_cpu_has((nb__kv_set)v)) {
            ck_assert_int_eq(nb__kernels(), v);
            ck_assert(nb__kernels_forced());
            ck_assert(nb__kv_avx2() == (v >= NB__KV_AVX2));
            ck_assert_str_eq(nb__gemm_isa_name(nb__gemm_active_isa()), v == NB__KV_PORTABLE ? "generic"
                                                                       : v == NB__KV_AVX2   ? "avx2"
                                                                                            : "avx512");
        } else {
            TU_EXPECT_ERROR("this CPU lacks", nb__kernels());
            ck_assert_msg(strstr(tu_error_msg, nb__kernels_name((nb__kv_set)v)) && strstr(tu_error_msg, "portable"),
                          "%s", tu_error_msg);
        }
    }
    setenv("NB_KERNELS", "sse9", 1);
    nb__kernels_reread_env();
    TU_EXPECT_ERROR("NB_KERNELS=sse9: unknown kernel set (this CPU can run: portable", nb__kernels());
    unsetenv("NB_KERNELS");
    nb__kernels_reread_env();
    ck_assert(!nb__kernels_forced());
    ck_assert(nb__kernels_cpu_has(nb__kernels()));
    ck_assert(nb__kernels() == NB__KV_COUNT - 1 || !nb__kernels_cpu_has(nb__kernels() + 1));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("matmul");
    TCase *k = tcase_create("kernels");
    tcase_set_timeout(k, 30);
    /* which kernel sets run here: the others are SKIPs, printed, not counted as passed checks */
    int n_avail = 0;
    while (n_avail < N_ISAS && isa_available(k_isas[n_avail]))
        n_avail++;
    printf("kernel variant set in force: %s (%s); nabla's ops use the %s GEMM and the %s loops\n",
           nb__kernels_name(nb__kernels()), nb__kernels_forced() ? "NB_KERNELS" : "the best this CPU has",
           nb__gemm_isa_name(nb__gemm_active_isa()), nb__kv_avx2() ? "AVX2" : "baseline");
    for (int i = 0; i < N_ISAS; i++)
        printf("%s: GEMM kernel set %s, float32 and float64 (test_kernel_odd_shapes, "
               "test_kernel_large_and_blocked)%s\n",
               i < n_avail ? "RUN " : "SKIP", nb__gemm_isa_name(k_isas[i]),
               i < n_avail ? "" : ": not available on this CPU");
    tcase_add_loop_test(k, test_kernel_odd_shapes, 0, 2 * n_avail);
    tcase_add_loop_test(k, test_kernel_large_and_blocked, 0, 2 * n_avail);
    tcase_add_test(k, test_kernel_degenerate);
    tcase_add_test(k, test_kernels_env);
    tcase_add_test(k, test_kernel_batched_offsets);
    tcase_add_test(k, test_kernel_thread_determinism);
    suite_add_tcase(s, k);
    TCase *m = tcase_create("matmul");
    tcase_set_timeout(m, 10);
    tcase_add_test(m, test_matmul_shapes);
    tcase_add_test(m, test_matmul_views);
    tcase_add_test(m, test_matmul_zero_size);
    tcase_add_test(m, test_matmul_thread_determinism);
    tcase_add_test(m, test_matmul_misuse);
    tcase_add_test(m, test_backward_2d);
    tcase_add_test(m, test_backward_broadcast_batch);
    tcase_add_test(m, test_backward_vectors);
    tcase_add_test(m, test_backward_transposed_view);
    suite_add_tcase(s, m);
    return tu_run_suite(s);
}
