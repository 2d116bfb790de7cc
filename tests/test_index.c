/* test_index.c — index_select, embedding, gather, scatter_add, cat, stack, tril/triu and
 * multinomial: values against plain loops over doubles written here, on every layout (contiguous,
 * transposed, sliced with NaN/-7 gaps, stride-0 expanded), zero-size and 0-dim inputs, both float
 * dtypes and both index dtypes; backward against hand-derived gradients; misuse messages. */
#include "testutil.h"

#include "nb__tensor.h" /* nb__numel */

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const nb_dtype k_fdt[2] = {NB_F32, NB_F64};
static const nb_dtype k_idt[2] = {NB_I32, NB_I64};

/* ---- helpers -------------------------------------------------------------------------------- */
/* Asserts got has dtype dt, the given shape, and exactly the values want (row-major). */
#define expect_exact(got, dt, nd, sh, want) expect_exact_at(got, dt, nd, sh, want, __LINE__)
static void expect_exact_at(const nb_tensor *got, nb_dtype dt, int nd, const int64_t *sh, const double *want,
                            int line)
{
    ck_assert_msg(nb_tensor_dtype(got) == dt, "line %d: dtype %s, expected %s", line,
                  nb_dtype_name(nb_tensor_dtype(got)), nb_dtype_name(dt));
    tu_assert_shape(got, sh, nd);
    int64_t n = nb__numel(nd, sh);
    double *g = tu_values(got);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(g[i] == want[i] || (isnan(g[i]) && isnan(want[i])),
                      "line %d: element %lld: got %.17g, expected %.17g", line, (long long)i, g[i], want[i]);
    free(g);
}

/* ---- reference loops ------------------------------------------------------------------------ */
static void ref_index_select(const double *t, int nd, const int64_t *sh, int d, const int64_t *ix, int64_t nix,
                             double *out)
{
    int64_t osh[NB_MAX_DIMS], i[NB_MAX_DIMS];
    memcpy(osh, sh, (size_t)nd * sizeof *sh);
    osh[d] = nix;
    for (int64_t lin = 0; lin < nb__numel(nd, osh); lin++) {
        tu_unravel(lin, nd, osh, i);
        i[d] = ix[i[d]];
        out[lin] = t[tu_ravel(nd, sh, i)];
    }
}

/* out has index's shape ish; out[p] = t[p with coord d = ix[p]] */
static void ref_gather(const double *t, int nd, const int64_t *sh, int d, const int64_t *ix, const int64_t *ish,
                       double *out)
{
    int64_t i[NB_MAX_DIMS];
    for (int64_t lin = 0; lin < nb__numel(nd, ish); lin++) {
        tu_unravel(lin, nd, ish, i);
        i[d] = ix[lin];
        out[lin] = t[tu_ravel(nd, sh, i)];
    }
}

/* acc (shape sh) += src (shape ssh) at index positions (shape ish) */
static void ref_scatter_add(double *acc, int nd, const int64_t *sh, int d, const int64_t *ix, const int64_t *ish,
                            const double *src, const int64_t *ssh)
{
    int64_t i[NB_MAX_DIMS];
    for (int64_t lin = 0; lin < nb__numel(nd, ish); lin++) {
        tu_unravel(lin, nd, ish, i);
        double v = src[tu_ravel(nd, ssh, i)];
        i[d] = ix[lin];
        acc[tu_ravel(nd, sh, i)] += v;
    }
}

/* ---- index_select --------------------------------------------------------------------------- */
START_TEST(test_index_select_layouts)
{
    const int64_t sh[3] = {4, 5, 3};
    for (int f = 0; f < 2; f++)
        for (int q = 0; q < 2; q++)
            for (int lay = 0; lay < TU_LAYOUT_COUNT; lay++)
                for (int ilay = 0; ilay < TU_LAYOUT_COUNT; ilay += 2)
                    for (int dim = -1; dim < 3; dim++) {
                        int scope = nb_scope_begin();
                        int d = dim < 0 ? dim + 3 : dim;
                        nb_tensor *base = tu_random(k_fdt[f], sh, 3, -2, 2, 11 + (uint64_t)lay);
                        nb_tensor *t = tu_relayout_scoped(base, (tu_layout)lay);
                        int64_t iv[6] = {sh[d] - 1, 0, 2, sh[d] - 1, 1, 0}; /* duplicates */
                        nb_tensor *ix = tu_relayout_scoped(tu_ints(k_idt[q], NB_DIMS(6), iv), (tu_layout)ilay);
                        nb_tensor *out = nb_index_select(t, dim, ix);
                        double *tv = tu_values(base), want[6 * 20];
                        ref_index_select(tv, 3, sh, d, iv, 6, want);
                        int64_t osh[3] = {sh[0], sh[1], sh[2]};
                        osh[d] = 6;
                        expect_exact(out, k_fdt[f], 3, osh, want);
                        ck_assert(nb_tensor_is_contiguous(out));
                        free(tv);
                        nb_scope_end(scope);
                    }
}
END_TEST

START_TEST(test_index_select_special)
{
    int scope = nb_scope_begin();
    /* expanded (stride-0) source: rows of a [1, 4] broadcast to [3, 4] */
    nb_tensor *row = tu_tensor(NB_F64, NB_DIMS(1, 4), (const double[]){1, 2, 3, 4});
    nb_tensor *ex = nb_expand(row, NB_DIMS(3, 4));
    int64_t iv[3] = {2, 0, 2};
    nb_tensor *ix = tu_ints(NB_I64, NB_DIMS(3), iv);
    expect_exact(nb_index_select(ex, 0, ix), NB_F64, 2, ((const int64_t[]){3, 4}),
                 ((const double[]){1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}));
    expect_exact(nb_index_select(ex, 1, ix), NB_F64, 2, ((const int64_t[]){3, 3}),
                 ((const double[]){3, 1, 3, 3, 1, 3, 3, 1, 3}));
    /* 0-dim index keeps the dim with size 1 */
    nb_tensor *m = tu_tensor(NB_F32, NB_DIMS(2, 3), (const double[]){0, 1, 2, 3, 4, 5});
    nb_tensor *i0 = tu_ints(NB_I32, NB_SCALAR, (const int64_t[]){2});
    expect_exact(nb_index_select(m, 1, i0), NB_F32, 2, ((const int64_t[]){2, 1}), ((const double[]){2, 5}));
    /* 0-dim source with a one-element index */
    nb_tensor *s = nb_scalar(7.5, NB_F64);
    expect_exact(nb_index_select(s, 0, tu_ints(NB_I64, NB_DIMS(1), (const int64_t[]){0})), NB_F64, 0, NULL,
                 ((const double[]){7.5}));
    /* zero-size: empty index, empty source */
    nb_tensor *e = nb_index_select(m, 0, tu_ints(NB_I64, NB_DIMS(0), NULL));
    tu_assert_shape(e, NB_DIMS(0, 3));
    nb_tensor *z = nb_zeros(NB_DIMS(0, 3), NB_F32);
    tu_assert_shape(nb_index_select(z, 1, tu_ints(NB_I32, NB_DIMS(2), (const int64_t[]){2, 0})), NB_DIMS(0, 2));
    /* integer and bool values */
    nb_tensor *mi = tu_tensor(NB_I32, NB_DIMS(2, 3), (const double[]){0, -1, 2, -3, 4, -5});
    expect_exact(nb_index_select(mi, 1, tu_ints(NB_I64, NB_DIMS(2), (const int64_t[]){2, 1})), NB_I32, 2,
                 ((const int64_t[]){2, 2}), ((const double[]){2, -1, -5, 4}));
    nb_tensor *mb = tu_tensor(NB_BOOL, NB_DIMS(3), (const double[]){1, 0, 1});
    expect_exact(nb_index_select(mb, 0, tu_ints(NB_I64, NB_DIMS(3), (const int64_t[]){1, 2, 1})), NB_BOOL, 1,
                 ((const int64_t[]){3}), ((const double[]){0, 1, 0}));
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_index_select_large_parallel)
{
    /* enough work for the kernel's thread split over indices; compare with the reference */
    int scope = nb_scope_begin();
    const int64_t sh[2] = {50, 700};
    nb_tensor *t = tu_random(NB_F32, sh, 2, -1, 1, 5);
    int64_t iv[300];
    for (int i = 0; i < 300; i++)
        iv[i] = (i * 37 + 11) % 50;
    nb_tensor *ix = tu_ints(NB_I64, NB_DIMS(300), iv);
    double *tv = tu_values(t), *want = malloc(300 * 700 * sizeof *want);
    ref_index_select(tv, 2, sh, 0, iv, 300, want);
    for (int nt = 1; nt <= 2; nt++) {
        nb_set_num_threads(nt);
        expect_exact(nb_index_select(t, 0, ix), NB_F32, 2, ((const int64_t[]){300, 700}), want);
    }
    nb_set_num_threads(0);
    /* along the last dim of a transposed source */
    nb_tensor *tt = tu_relayout_scoped(t, TU_TRANSPOSED);
    int64_t iv2[40];
    for (int i = 0; i < 40; i++)
        iv2[i] = (i * 101) % 700;
    double *want2 = malloc(50 * 40 * sizeof *want2);
    ref_index_select(tv, 2, sh, 1, iv2, 40, want2);
    expect_exact(nb_index_select(tt, 1, tu_ints(NB_I32, NB_DIMS(40), iv2)), NB_F32, 2, ((const int64_t[]){50, 40}),
                 want2);
    free(tv);
    free(want);
    free(want2);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_index_select_backward)
{
    for (int f = 0; f < 2; f++) {
        int scope = nb_scope_begin();
        /* t [4, 2], rows picked [2, 0, 2]: row 2 gets g0 + g2, row 0 gets g1, rows 1 and 3 nothing */
        nb_tensor *t = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(4, 2), k_fdt[f]), true);
        nb_tensor *out = nb_index_select(t, 0, tu_ints(NB_I32, NB_DIMS(3), (const int64_t[]){2, 0, 2}));
        ck_assert_str_eq(nb_tensor_grad_fn_name(out), "nb_index_select");
        nb_tensor *g = tu_tensor(k_fdt[f], NB_DIMS(3, 2), (const double[]){1, 2, 3, 4, 5, 6});
        nb_backward(out, g, false);
        expect_exact(nb_tensor_get_grad(t), k_fdt[f], 2, ((const int64_t[]){4, 2}),
                     ((const double[]){3, 4, 0, 0, 6, 8, 0, 0}));
        /* along dim 1 of a [2, 3]: columns [1, 1, 0] */
        nb_tensor *u = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(2, 3), k_fdt[f]), true);
        nb_tensor *o2 = nb_index_select(u, 1, tu_ints(NB_I64, NB_DIMS(3), (const int64_t[]){1, 1, 0}));
        nb_backward(o2, tu_tensor(k_fdt[f], NB_DIMS(2, 3), (const double[]){1, 2, 3, 4, 5, 6}), false);
        expect_exact(nb_tensor_get_grad(u), k_fdt[f], 2, ((const int64_t[]){2, 3}),
                     ((const double[]){3, 3, 0, 6, 9, 0}));
        nb_scope_end(scope);
    }
}
END_TEST

/* ---- embedding ------------------------------------------------------------------------------ */
START_TEST(test_embedding_layouts)
{
    const int64_t wsh[2] = {7, 5}, ish[2] = {2, 3};
    const int64_t iv[6] = {1, 6, 1, 0, 3, 6};
    for (int f = 0; f < 2; f++)
        for (int q = 0; q < 2; q++)
            for (int lay = 0; lay < TU_LAYOUT_COUNT; lay++)
                for (int ilay = 0; ilay < TU_LAYOUT_COUNT; ilay++) {
                    int scope = nb_scope_begin();
                    nb_tensor *w = tu_random(k_fdt[f], wsh, 2, -1, 1, 3);
                    nb_tensor *ix = tu_relayout_scoped(tu_ints(k_idt[q], ish, 2, iv), (tu_layout)ilay);
                    nb_tensor *out = nb_embedding(tu_relayout_scoped(w, (tu_layout)lay), ix);
                    double *wv = tu_values(w), want[30];
                    ref_index_select(wv, 2, wsh, 0, iv, 6, want);
                    expect_exact(out, k_fdt[f], 3, ((const int64_t[]){2, 3, 5}), want);
                    free(wv);
                    nb_scope_end(scope);
                }
}
END_TEST

START_TEST(test_embedding_special)
{
    int scope = nb_scope_begin();
    nb_tensor *w = tu_tensor(NB_F32, NB_DIMS(3, 2), (const double[]){1, 2, 3, 4, 5, 6});
    /* 0-dim indices → [C] */
    expect_exact(nb_embedding(w, tu_ints(NB_I64, NB_SCALAR, (const int64_t[]){2})), NB_F32, 1,
                 ((const int64_t[]){2}), ((const double[]){5, 6}));
    /* zero-size indices and zero-size embedding dim */
    tu_assert_shape(nb_embedding(w, tu_ints(NB_I32, NB_DIMS(0, 4), NULL)), NB_DIMS(0, 4, 2));
    tu_assert_shape(nb_embedding(nb_zeros(NB_DIMS(3, 0), NB_F64), tu_ints(NB_I32, NB_DIMS(2), (const int64_t[]){0, 2})),
                    NB_DIMS(2, 0));
    /* expanded weight: every row equal */
    nb_tensor *ex = nb_expand(tu_tensor(NB_F64, NB_DIMS(1, 3), (const double[]){7, 8, 9}), NB_DIMS(4, 3));
    expect_exact(nb_embedding(ex, tu_ints(NB_I64, NB_DIMS(2), (const int64_t[]){3, 0})), NB_F64, 2,
                 ((const int64_t[]){2, 3}), ((const double[]){7, 8, 9, 7, 8, 9}));
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_embedding_backward)
{
    for (int f = 0; f < 2; f++) {
        int scope = nb_scope_begin();
        /* hand-derived: indices [0, 2, 0] on a [3, 2] table; row 0 gets g0 + g2, row 2 gets g1 */
        nb_tensor *w = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(3, 2), k_fdt[f]), true);
        nb_tensor *out = nb_embedding(w, tu_ints(NB_I32, NB_DIMS(3), (const int64_t[]){0, 2, 0}));
        ck_assert_str_eq(nb_tensor_grad_fn_name(out), "nb_embedding");
        nb_backward(out, tu_tensor(k_fdt[f], NB_DIMS(3, 2), (const double[]){1, 2, 3, 4, 5, 6}), false);
        expect_exact(nb_tensor_get_grad(w), k_fdt[f], 2, ((const int64_t[]){3, 2}), ((const double[]){6, 8, 0, 0, 3, 4}));
        /* 2-D indices with duplicates: dW[v] = sum of g rows whose index is v */
        nb_tensor *w2 = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(4, 3), k_fdt[f]), true);
        nb_tensor *o2 = nb_embedding(w2, tu_ints(NB_I64, NB_DIMS(2, 2), (const int64_t[]){3, 3, 1, 3}));
        nb_backward(o2, tu_tensor(k_fdt[f], NB_DIMS(2, 2, 3), (const double[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}),
                    false);
        expect_exact(nb_tensor_get_grad(w2), k_fdt[f], 2, ((const int64_t[]){4, 3}),
                     ((const double[]){0, 0, 0, 7, 8, 9, 0, 0, 0, 15, 18, 21}));
        nb_scope_end(scope);
    }
}
END_TEST

/* The gradient of a large embedding is bit-identical for 1 and 2 threads and matches a loop. */
START_TEST(test_embedding_backward_threads)
{
    const int64_t v = 40, c = 3000, ntok = 600;
    int64_t *iv = malloc((size_t)ntok * sizeof *iv);
    for (int64_t i = 0; i < ntok; i++)
        iv[i] = (i * i + 3 * i) % v; /* many duplicates */
    float *res[2];
    for (int nt = 1; nt <= 2; nt++) {
        nb_set_num_threads(nt);
        int scope = nb_scope_begin();
        nb_tensor *w = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(v, c), NB_F32), true);
        nb_tensor *ix = tu_ints(NB_I64, NB_DIMS(ntok), iv);
        nb_tensor *g = tu_random(NB_F32, NB_DIMS(ntok, c), -1, 1, 9);
        nb_backward(nb_embedding(w, ix), g, false);
        res[nt - 1] = malloc((size_t)(v * c) * sizeof(float));
        nb_tensor_to_floats(nb_tensor_get_grad(w), res[nt - 1]);
        if (nt == 1) { /* reference: the same float additions in token order */
            float *gv = malloc((size_t)(ntok * c) * sizeof(float)), *want = calloc((size_t)(v * c), sizeof(float));
            nb_tensor_to_floats(g, gv);
            for (int64_t s = 0; s < ntok; s++)
                for (int64_t k = 0; k < c; k++)
                    want[iv[s] * c + k] += gv[s * c + k];
            ck_assert(memcmp(want, res[0], (size_t)(v * c) * sizeof(float)) == 0);
            free(gv);
            free(want);
        }
        nb_scope_end(scope);
    }
    nb_set_num_threads(0);
    ck_assert(memcmp(res[0], res[1], (size_t)(v * c) * sizeof(float)) == 0);
    free(res[0]);
    free(res[1]);
    free(iv);
}
END_TEST

/* A GPT-sized lookup (768 tokens x 128) takes the parallel row-copy path. */
START_TEST(test_embedding_large_forward)
{
    int scope = nb_scope_begin();
    const int64_t wsh[2] = {65, 128};
    nb_tensor *w = tu_random(NB_F32, wsh, 2, -1, 1, 21);
    int64_t iv[12 * 64];
    for (int i = 0; i < 12 * 64; i++)
        iv[i] = (i * 7 + 3) % 65;
    double *wv = tu_values(w), *want = malloc(12 * 64 * 128 * sizeof *want);
    ref_index_select(wv, 2, wsh, 0, iv, 12 * 64, want);
    for (int nt = 1; nt <= 2; nt++) {
        nb_set_num_threads(nt);
        expect_exact(nb_embedding(w, tu_ints(NB_I64, NB_DIMS(12, 64), iv)), NB_F32, 3,
                     ((const int64_t[]){12, 64, 128}), want);
    }
    nb_set_num_threads(0);
    free(wv);
    free(want);
    nb_scope_end(scope);
}
END_TEST

/* ---- gather / scatter_add ------------------------------------------------------------------- */
START_TEST(test_gather_layouts)
{
    const int64_t sh[3] = {3, 4, 5};
    for (int f = 0; f < 2; f++)
        for (int q = 0; q < 2; q++)
            for (int lay = 0; lay < TU_LAYOUT_COUNT; lay++)
                for (int ilay = 0; ilay < TU_LAYOUT_COUNT; ilay++)
                    for (int d = 0; d < 3; d++) {
                        int scope = nb_scope_begin();
                        nb_tensor *base = tu_random(k_fdt[f], sh, 3, -2, 2, 17);
                        int64_t ish[3] = {2, 3, 4}; /* smaller than sh outside d, any size along d */
                        ish[d] = 6;
                        int64_t n = nb__numel(3, ish), iv[6 * 12];
                        for (int64_t i = 0; i < n; i++)
                            iv[i] = (i * 5 + 2) % sh[d];
                        nb_tensor *ix = tu_relayout_scoped(tu_ints(k_idt[q], ish, 3, iv), (tu_layout)ilay);
                        nb_tensor *out = nb_gather(tu_relayout_scoped(base, (tu_layout)lay), d - 3 * (d == 2), ix);
                        double *tv = tu_values(base), want[6 * 12];
                        ref_gather(tv, 3, sh, d, iv, ish, want);
                        expect_exact(out, k_fdt[f], 3, ish, want);
                        free(tv);
                        nb_scope_end(scope);
                    }
}
END_TEST

START_TEST(test_gather_special)
{
    int scope = nb_scope_begin();
    /* expanded source */
    nb_tensor *ex = nb_expand(tu_tensor(NB_F64, NB_DIMS(3, 1), (const double[]){1, 2, 3}), NB_DIMS(3, 4));
    nb_tensor *ix = tu_ints(NB_I64, NB_DIMS(2, 2), (const int64_t[]){2, 0, 1, 1});
    expect_exact(nb_gather(ex, 0, ix), NB_F64, 2, ((const int64_t[]){2, 2}), ((const double[]){3, 1, 2, 2}));
    expect_exact(nb_gather(ex, 1, ix), NB_F64, 2, ((const int64_t[]){2, 2}), ((const double[]){1, 1, 2, 2}));
    /* 0-dim */
    expect_exact(nb_gather(nb_scalar(4, NB_F32), 0, tu_ints(NB_I32, NB_SCALAR, (const int64_t[]){0})), NB_F32, 0, NULL,
                 ((const double[]){4}));
    /* zero-size index; a zero-size source dim with an empty index */
    tu_assert_shape(nb_gather(ex, 1, tu_ints(NB_I64, NB_DIMS(0, 4), NULL)), NB_DIMS(0, 4));
    tu_assert_shape(nb_gather(nb_zeros(NB_DIMS(3, 0), NB_F32), 1, tu_ints(NB_I64, NB_DIMS(2, 0), NULL)), NB_DIMS(2, 0));
    /* integer values */
    nb_tensor *ti = tu_tensor(NB_I64, NB_DIMS(2, 3), (const double[]){10, 11, 12, 13, 14, 15});
    expect_exact(nb_gather(ti, 1, tu_ints(NB_I32, NB_DIMS(2, 2), (const int64_t[]){2, 2, 0, 1})), NB_I64, 2,
                 ((const int64_t[]){2, 2}), ((const double[]){12, 12, 13, 14}));
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_gather_backward)
{
    for (int f = 0; f < 2; f++) {
        int scope = nb_scope_begin();
        /* t [2, 3], index [[0, 0, 2], [1, 1, 1]] along dim 1, g = [[1, 2, 3], [4, 5, 6]]:
         * row 0: col 0 gets 1 + 2, col 2 gets 3; row 1: col 1 gets 4 + 5 + 6 */
        nb_tensor *t = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(2, 3), k_fdt[f]), true);
        nb_tensor *out = nb_gather(t, 1, tu_ints(NB_I64, NB_DIMS(2, 3), (const int64_t[]){0, 0, 2, 1, 1, 1}));
        ck_assert_str_eq(nb_tensor_grad_fn_name(out), "nb_gather");
        nb_backward(out, tu_tensor(k_fdt[f], NB_DIMS(2, 3), (const double[]){1, 2, 3, 4, 5, 6}), false);
        expect_exact(nb_tensor_get_grad(t), k_fdt[f], 2, ((const int64_t[]){2, 3}), ((const double[]){3, 0, 3, 0, 15, 0}));
        nb_scope_end(scope);
    }
}
END_TEST

START_TEST(test_scatter_add_layouts)
{
    const int64_t sh[3] = {3, 4, 5};
    for (int f = 0; f < 2; f++)
        for (int q = 0; q < 2; q++)
            for (int lay = 0; lay < TU_LAYOUT_COUNT; lay++)
                for (int d = 0; d < 3; d++) {
                    int scope = nb_scope_begin();
                    int64_t ish[3] = {2, 3, 4}, ssh[3] = {3, 4, 5};
                    ish[d] = 6;
                    ssh[d] = 7; /* src at least index's size everywhere */
                    int64_t n = nb__numel(3, ish), iv[6 * 12];
                    for (int64_t i = 0; i < n; i++)
                        iv[i] = (i * 3 + 1) % sh[d];
                    nb_tensor *tb = tu_random(k_fdt[f], sh, 3, -2, 2, 23), *sb = tu_random(k_fdt[f], ssh, 3, -2, 2, 29);
                    nb_tensor *ix = tu_relayout_scoped(tu_ints(k_idt[q], ish, 3, iv), (tu_layout)lay);
                    nb_tensor *out = nb_scatter_add(tu_relayout_scoped(tb, (tu_layout)lay), d, ix, tu_relayout_scoped(sb, (tu_layout)lay));
                    double *want = tu_values(tb), *sv = tu_values(sb);
                    ref_scatter_add(want, 3, sh, d, iv, ish, sv, ssh);
                    tu_assert_close(out, tu_tensor(k_fdt[f], sh, 3, want), f ? 1e-12 : 1e-5, 0);
                    free(want);
                    free(sv);
                    nb_scope_end(scope);
                }
}
END_TEST

START_TEST(test_scatter_add_special)
{
    int scope = nb_scope_begin();
    /* hand-derived, dim 0: out[index[i][j]][j] += src[i][j] */
    nb_tensor *t = tu_tensor(NB_F64, NB_DIMS(3, 2), (const double[]){1, 1, 1, 1, 1, 1});
    nb_tensor *ix = tu_ints(NB_I64, NB_DIMS(2, 2), (const int64_t[]){2, 0, 2, 2});
    nb_tensor *src = tu_tensor(NB_F64, NB_DIMS(2, 2), (const double[]){10, 20, 30, 40});
    expect_exact(nb_scatter_add(t, 0, ix, src), NB_F64, 2, ((const int64_t[]){3, 2}),
                 ((const double[]){1, 21, 1, 1, 41, 41}));
    /* expanded t and src (stride 0) */
    nb_tensor *te = nb_expand(nb_scalar(1, NB_F32), NB_DIMS(3, 2));
    nb_tensor *se = nb_expand(tu_tensor(NB_F32, NB_DIMS(1, 2), (const double[]){5, 7}), NB_DIMS(2, 2));
    expect_exact(nb_scatter_add(te, 0, ix, se), NB_F32, 2, ((const int64_t[]){3, 2}),
                 ((const double[]){1, 8, 1, 1, 11, 8}));
    /* 0-dim */
    expect_exact(nb_scatter_add(nb_scalar(1, NB_F64), 0, tu_ints(NB_I32, NB_SCALAR, (const int64_t[]){0}),
                                nb_scalar(2.5, NB_F64)),
                 NB_F64, 0, NULL, ((const double[]){3.5}));
    /* zero-size index: a copy of t */
    expect_exact(nb_scatter_add(t, 1, tu_ints(NB_I64, NB_DIMS(0, 2), NULL), src), NB_F64, 2, ((const int64_t[]){3, 2}),
                 ((const double[]){1, 1, 1, 1, 1, 1}));
    /* integers */
    nb_tensor *ti = tu_tensor(NB_I32, NB_DIMS(4), (const double[]){0, 0, 0, 0});
    nb_tensor *si = tu_tensor(NB_I32, NB_DIMS(5), (const double[]){1, 2, 3, 4, 5});
    expect_exact(nb_scatter_add(ti, 0, tu_ints(NB_I32, NB_DIMS(5), (const int64_t[]){3, 3, 0, 3, 1}), si), NB_I32, 1,
                 ((const int64_t[]){4}), ((const double[]){3, 5, 0, 7}));
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_scatter_add_backward)
{
    for (int f = 0; f < 2; f++) {
        int scope = nb_scope_begin();
        /* t [3, 2], src [2, 3] (bigger than index [2, 2] in dim 1), dim 0, index [[2, 0], [2, 2]]:
         * dt = g; dsrc[i][j] = g[index[i][j]][j] for j < 2, 0 in src's extra column */
        nb_tensor *t = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(3, 2), k_fdt[f]), true);
        nb_tensor *src = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(2, 3), k_fdt[f]), true);
        nb_tensor *ix = tu_ints(NB_I32, NB_DIMS(2, 2), (const int64_t[]){2, 0, 2, 2});
        nb_tensor *out = nb_scatter_add(t, 0, ix, src);
        ck_assert_str_eq(nb_tensor_grad_fn_name(out), "nb_scatter_add");
        nb_backward(out, tu_tensor(k_fdt[f], NB_DIMS(3, 2), (const double[]){1, 2, 3, 4, 5, 6}), false);
        expect_exact(nb_tensor_get_grad(t), k_fdt[f], 2, ((const int64_t[]){3, 2}), ((const double[]){1, 2, 3, 4, 5, 6}));
        expect_exact(nb_tensor_get_grad(src), k_fdt[f], 2, ((const int64_t[]){2, 3}), ((const double[]){5, 2, 0, 5, 6, 0}));
        nb_scope_end(scope);
    }
}
END_TEST

/* ---- cat / stack ---------------------------------------------------------------------------- */
START_TEST(test_cat_layouts)
{
    for (int f = 0; f < 2; f++)
        for (int lay = 0; lay < TU_LAYOUT_COUNT; lay++)
            for (int d = 0; d < 3; d++) {
                int scope = nb_scope_begin();
                const int64_t lens[3] = {2, 1, 3};
                nb_tensor *parts[3], *bases[3];
                double *pv[3];
                int64_t total = 0;
                for (int i = 0; i < 3; i++) {
                    int64_t sh[3] = {2, 3, 4};
                    sh[d] = lens[i];
                    bases[i] = tu_random(k_fdt[f], sh, 3, -1, 1, 31 + (uint64_t)i);
                    parts[i] = tu_relayout_scoped(bases[i], (tu_layout)((lay + i) % TU_LAYOUT_COUNT));
                    pv[i] = tu_values(bases[i]);
                    total += lens[i];
                }
                int64_t osh[3] = {2, 3, 4}, idx[3];
                osh[d] = total;
                nb_tensor *out = nb_cat(parts, 3, d - 3 * (d == 1));
                double want[6 * 12];
                for (int64_t lin = 0; lin < nb__numel(3, osh); lin++) {
                    tu_unravel(lin, 3, osh, idx);
                    int i = 0;
                    while (idx[d] >= lens[i])
                        idx[d] -= lens[i++];
                    want[lin] = pv[i][tu_ravel(3, nb_tensor_shape(bases[i]), idx)];
                }
                expect_exact(out, k_fdt[f], 3, osh, want);
                for (int i = 0; i < 3; i++)
                    free(pv[i]);
                nb_scope_end(scope);
            }
}
END_TEST

START_TEST(test_cat_special)
{
    int scope = nb_scope_begin();
    nb_tensor *a = tu_tensor(NB_F32, NB_DIMS(2, 2), (const double[]){1, 2, 3, 4});
    nb_tensor *ex = nb_expand(tu_tensor(NB_F32, NB_DIMS(2, 1), (const double[]){8, 9}), NB_DIMS(2, 3));
    nb_tensor *empty = nb_zeros(NB_DIMS(2, 0), NB_F32), *legacy = nb_zeros(NB_DIMS(0), NB_F32);
    /* expanded input, zero-size along the cat dim, a legacy [0] tensor */
    expect_exact(nb_cat((nb_tensor *[]){a, empty, legacy, ex}, 4, 1), NB_F32, 2, ((const int64_t[]){2, 5}),
                 ((const double[]){1, 2, 8, 8, 8, 3, 4, 9, 9, 9}));
    /* all parts empty along the dim; a single input */
    tu_assert_shape(nb_cat((nb_tensor *[]){empty, empty}, 2, 1), NB_DIMS(2, 0));
    tu_assert_shape(nb_cat((nb_tensor *[]){nb_zeros(NB_DIMS(0, 3), NB_F64), nb_zeros(NB_DIMS(0, 3), NB_F64)}, 2, 0),
                    NB_DIMS(0, 3));
    expect_exact(nb_cat((nb_tensor *[]){a}, 1, 0), NB_F32, 2, ((const int64_t[]){2, 2}),
                 ((const double[]){1, 2, 3, 4}));
    /* 1-D and integers */
    nb_tensor *i1 = tu_tensor(NB_I64, NB_DIMS(2), (const double[]){1, 2});
    nb_tensor *i2 = tu_tensor(NB_I64, NB_DIMS(3), (const double[]){3, 4, 5});
    expect_exact(nb_cat((nb_tensor *[]){i2, nb_zeros(NB_DIMS(0), NB_I64), i1}, 3, 0), NB_I64, 1,
                 ((const int64_t[]){5}), ((const double[]){3, 4, 5, 1, 2}));
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_cat_backward)
{
    for (int f = 0; f < 2; f++) {
        int scope = nb_scope_begin();
        nb_tensor *a = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(2, 1), k_fdt[f]), true);
        nb_tensor *b = nb_zeros(NB_DIMS(2, 2), k_fdt[f]); /* no grad */
        nb_tensor *c = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(2, 2), k_fdt[f]), true);
        nb_tensor *l = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(0), k_fdt[f]), true);
        nb_tensor *out = nb_cat((nb_tensor *[]){a, b, l, c}, 4, -1);
        ck_assert_str_eq(nb_tensor_grad_fn_name(out), "nb_cat");
        /* g = [[1..5], [6..10]]: a gets column 0, c columns 3-4, l an empty gradient */
        nb_backward(out, tu_tensor(k_fdt[f], NB_DIMS(2, 5), (const double[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10}), false);
        expect_exact(nb_tensor_get_grad(a), k_fdt[f], 2, ((const int64_t[]){2, 1}), ((const double[]){1, 6}));
        expect_exact(nb_tensor_get_grad(c), k_fdt[f], 2, ((const int64_t[]){2, 2}), ((const double[]){4, 5, 9, 10}));
        tu_assert_shape(nb_tensor_get_grad(l), NB_DIMS(0));
        ck_assert_ptr_null(nb_tensor_get_grad(b));
        nb_scope_end(scope);
    }
}
END_TEST

START_TEST(test_stack_layouts)
{
    for (int f = 0; f < 2; f++)
        for (int lay = 0; lay < TU_LAYOUT_COUNT; lay++)
            for (int dim = -1; dim < 3; dim++) {
                int scope = nb_scope_begin();
                const int64_t sh[2] = {2, 3};
                nb_tensor *parts[3];
                double *pv[3];
                for (int i = 0; i < 3; i++) {
                    nb_tensor *b = tu_random(k_fdt[f], sh, 2, -1, 1, 41 + (uint64_t)i);
                    parts[i] = tu_relayout_scoped(b, (tu_layout)((lay + i) % TU_LAYOUT_COUNT));
                    pv[i] = tu_values(b);
                }
                int d = dim < 0 ? dim + 3 : dim;
                int64_t osh[3], idx[3], in[2];
                for (int k = 0, m = 0; k < 3; k++)
                    osh[k] = k == d ? 3 : sh[m++];
                double want[18];
                for (int64_t lin = 0; lin < 18; lin++) {
                    tu_unravel(lin, 3, osh, idx);
                    for (int k = 0, m = 0; k < 3; k++)
                        if (k != d)
                            in[m++] = idx[k];
                    want[lin] = pv[idx[d]][tu_ravel(2, sh, in)];
                }
                expect_exact(nb_stack(parts, 3, dim), k_fdt[f], 3, osh, want);
                for (int i = 0; i < 3; i++)
                    free(pv[i]);
                nb_scope_end(scope);
            }
}
END_TEST

START_TEST(test_stack_special_and_backward)
{
    for (int f = 0; f < 2; f++) {
        int scope = nb_scope_begin();
        /* 0-dim inputs → 1-D; expanded input; zero-size; integers */
        nb_tensor *s1 = nb_tensor_requires_grad_(nb_scalar(1, k_fdt[f]), true), *s2 = nb_scalar(2, k_fdt[f]);
        nb_tensor *s3 = nb_tensor_requires_grad_(nb_scalar(3, k_fdt[f]), true);
        nb_tensor *out = nb_stack((nb_tensor *[]){s1, s2, s3}, 3, -1);
        expect_exact(out, k_fdt[f], 1, ((const int64_t[]){3}), ((const double[]){1, 2, 3}));
        ck_assert_str_eq(nb_tensor_grad_fn_name(out), "nb_stack");
        nb_backward(out, tu_tensor(k_fdt[f], NB_DIMS(3), (const double[]){4, 5, 6}), false);
        expect_exact(nb_tensor_get_grad(s1), k_fdt[f], 0, NULL, ((const double[]){4}));
        expect_exact(nb_tensor_get_grad(s3), k_fdt[f], 0, NULL, ((const double[]){6}));
        /* 2-D along dim 1: grad of input i is g[:, i, :] */
        nb_tensor *a = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(2, 2), k_fdt[f]), true);
        nb_tensor *b = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(2, 2), k_fdt[f]), true);
        nb_tensor *o2 = nb_stack((nb_tensor *[]){a, b}, 2, 1);
        nb_backward(o2, tu_tensor(k_fdt[f], NB_DIMS(2, 2, 2), (const double[]){1, 2, 3, 4, 5, 6, 7, 8}), false);
        expect_exact(nb_tensor_get_grad(a), k_fdt[f], 2, ((const int64_t[]){2, 2}), ((const double[]){1, 2, 5, 6}));
        expect_exact(nb_tensor_get_grad(b), k_fdt[f], 2, ((const int64_t[]){2, 2}), ((const double[]){3, 4, 7, 8}));
        nb_tensor *ex = nb_expand(tu_tensor(k_fdt[f], NB_DIMS(1), (const double[]){9}), NB_DIMS(2));
        expect_exact(nb_stack((nb_tensor *[]){ex, tu_tensor(k_fdt[f], NB_DIMS(2), (const double[]){1, 2})}, 2, 0),
                     k_fdt[f], 2, ((const int64_t[]){2, 2}), ((const double[]){9, 9, 1, 2}));
        nb_tensor *e = nb_zeros(NB_DIMS(0, 3), k_fdt[f]);
        tu_assert_shape(nb_stack((nb_tensor *[]){e, e}, 2, 1), NB_DIMS(0, 2, 3));
        nb_tensor *i1 = tu_tensor(NB_I32, NB_DIMS(2), (const double[]){1, 2});
        nb_tensor *i2 = tu_tensor(NB_I32, NB_DIMS(2), (const double[]){3, 4});
        expect_exact(nb_stack((nb_tensor *[]){i1, i2}, 2, 1), NB_I32, 2, ((const int64_t[]){2, 2}),
                     ((const double[]){1, 3, 2, 4}));
        nb_scope_end(scope);
    }
}
END_TEST

/* ---- tril / triu ---------------------------------------------------------------------------- */
START_TEST(test_triangle_layouts)
{
    const int64_t sh[3] = {2, 3, 4};
    const int64_t ks[5] = {0, 1, -1, 6, -6};
    for (int f = 0; f < 2; f++)
        for (int lay = 0; lay < TU_LAYOUT_COUNT; lay++)
            for (int ki = 0; ki < 5; ki++)
                for (int up = 0; up < 2; up++) {
                    int scope = nb_scope_begin();
                    nb_tensor *b = tu_random(k_fdt[f], sh, 3, -1, 1, 51);
                    nb_tensor *out = (up ? nb_triu : nb_tril)(tu_relayout_scoped(b, (tu_layout)lay), ks[ki]);
                    double *want = tu_values(b);
                    int64_t idx[3];
                    for (int64_t lin = 0; lin < 24; lin++) {
                        tu_unravel(lin, 3, sh, idx);
                        int64_t diff = idx[2] - idx[1];
                        if (up ? diff < ks[ki] : diff > ks[ki])
                            want[lin] = 0;
                    }
                    expect_exact(out, k_fdt[f], 3, sh, want);
                    free(want);
                    nb_scope_end(scope);
                }
}
END_TEST

START_TEST(test_triangle_special_and_backward)
{
    int scope = nb_scope_begin();
    /* hand-checked against torch.tril(torch.arange(12.).view(3, 4), -1) */
    nb_tensor *m = tu_tensor(NB_F64, NB_DIMS(3, 4), (const double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    expect_exact(nb_tril(m, -1), NB_F64, 2, ((const int64_t[]){3, 4}),
                 ((const double[]){0, 0, 0, 0, 4, 0, 0, 0, 8, 9, 0, 0}));
    expect_exact(nb_triu(m, 1), NB_F64, 2, ((const int64_t[]){3, 4}),
                 ((const double[]){0, 1, 2, 3, 0, 0, 6, 7, 0, 0, 0, 11}));
    /* expanded (the causal mask from ones), extreme k, integers, bool, zero-size */
    nb_tensor *ones = nb_expand(nb_scalar(1, NB_F32), NB_DIMS(3, 3));
    expect_exact(nb_tril(ones, 0), NB_F32, 2, ((const int64_t[]){3, 3}), ((const double[]){1, 0, 0, 1, 1, 0, 1, 1, 1}));
    expect_exact(nb_triu(ones, INT64_MIN), NB_F32, 2, ((const int64_t[]){3, 3}),
                 ((const double[]){1, 1, 1, 1, 1, 1, 1, 1, 1}));
    expect_exact(nb_tril(ones, INT64_MIN), NB_F32, 2, ((const int64_t[]){3, 3}),
                 ((const double[]){0, 0, 0, 0, 0, 0, 0, 0, 0}));
    nb_tensor *mi = tu_tensor(NB_I64, NB_DIMS(2, 2), (const double[]){5, 6, 7, 8});
    expect_exact(nb_triu(mi, 0), NB_I64, 2, ((const int64_t[]){2, 2}), ((const double[]){5, 6, 0, 8}));
    nb_tensor *mb = tu_tensor(NB_BOOL, NB_DIMS(2, 2), (const double[]){1, 1, 1, 1});
    expect_exact(nb_tril(mb, 0), NB_BOOL, 2, ((const int64_t[]){2, 2}), ((const double[]){1, 0, 1, 1}));
    tu_assert_shape(nb_tril(nb_zeros(NB_DIMS(0, 3, 3), NB_F32), 0), NB_DIMS(0, 3, 3));
    tu_assert_shape(nb_triu(nb_zeros(NB_DIMS(2, 0, 3), NB_F32), 0), NB_DIMS(2, 0, 3));
    for (int f = 0; f < 2; f++) {
        /* the gradient is the same mask applied to g */
        nb_tensor *t = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(2, 3), k_fdt[f]), true);
        nb_tensor *u = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(2, 3), k_fdt[f]), true);
        nb_tensor *g = tu_tensor(k_fdt[f], NB_DIMS(2, 3), (const double[]){1, 2, 3, 4, 5, 6});
        nb_tensor *lo = nb_tril(t, 0), *hi = nb_triu(u, 1);
        ck_assert_str_eq(nb_tensor_grad_fn_name(lo), "nb_tril");
        ck_assert_str_eq(nb_tensor_grad_fn_name(hi), "nb_triu");
        nb_backward(lo, g, false);
        nb_backward(hi, g, false);
        expect_exact(nb_tensor_get_grad(t), k_fdt[f], 2, ((const int64_t[]){2, 3}), ((const double[]){1, 0, 0, 4, 5, 0}));
        expect_exact(nb_tensor_get_grad(u), k_fdt[f], 2, ((const int64_t[]){2, 3}), ((const double[]){0, 2, 3, 0, 0, 6}));
    }
    nb_scope_end(scope);
}
END_TEST

/* ---- multinomial ---------------------------------------------------------------------------- */
START_TEST(test_multinomial_frequencies)
{
    const double w[5] = {1, 0, 3, 2, 4}; /* normalized: 0.1 0 0.3 0.2 0.4 */
    for (int f = 0; f < 2; f++)
        for (int lay = 0; lay < TU_LAYOUT_COUNT; lay++) {
            int scope = nb_scope_begin();
            nb_tensor *p = tu_relayout_scoped(tu_tensor(k_fdt[f], NB_DIMS(5), w), (tu_layout)lay);
            nb_generator g;
            nb_generator_seed(&g, 1234);
            const int64_t ns = 20000;
            nb_tensor *s = nb_multinomial(p, ns, true, &g);
            ck_assert_int_eq(nb_tensor_dtype(s), NB_I64);
            tu_assert_shape(s, NB_DIMS(20000));
            const int64_t *sv = nb_tensor_data(s);
            int64_t count[5] = {0};
            for (int64_t i = 0; i < ns; i++) {
                ck_assert(sv[i] >= 0 && sv[i] < 5);
                count[sv[i]]++;
            }
            ck_assert_int_eq(count[1], 0);
            for (int c = 0; c < 5; c++)
                ck_assert_msg(fabs((double)count[c] / ns - w[c] / 10) < 0.02, "category %d: %lld of %lld", c,
                              (long long)count[c], (long long)ns);
            /* same seed, same samples */
            nb_generator_seed(&g, 1234);
            nb_tensor *s2 = nb_multinomial(p, ns, true, &g);
            ck_assert(memcmp(sv, nb_tensor_data(s2), (size_t)ns * sizeof *sv) == 0);
            nb_scope_end(scope);
        }
}
END_TEST

START_TEST(test_multinomial_rows_and_no_replacement)
{
    int scope = nb_scope_begin();
    /* 2 rows: row 1 only category 2; with and without replacement */
    nb_tensor *p = tu_tensor(NB_F64, NB_DIMS(2, 4), (const double[]){0.5, 0.5, 0, 1, 0, 0, 7, 0});
    nb_generator g;
    nb_generator_seed(&g, 7);
    nb_tensor *s = nb_multinomial(p, 1000, true, &g);
    tu_assert_shape(s, NB_DIMS(2, 1000));
    const int64_t *sv = nb_tensor_data(s);
    int64_t c0[4] = {0};
    for (int i = 0; i < 1000; i++) {
        c0[sv[i]]++;
        ck_assert_int_eq(sv[1000 + i], 2);
    }
    ck_assert_int_eq(c0[2], 0);
    ck_assert(c0[0] > 150 && c0[1] > 150 && c0[3] > 400);
    /* without replacement: the 3 positive categories, each once, in every draw */
    for (int rep = 0; rep < 50; rep++) {
        nb_tensor *q = nb_multinomial(nb_select(p, 0, 0), 3, false, &g);
        const int64_t *qv = nb_tensor_data(q);
        ck_assert(qv[0] != qv[1] && qv[0] != qv[2] && qv[1] != qv[2]);
        for (int i = 0; i < 3; i++)
            ck_assert(qv[i] == 0 || qv[i] == 1 || qv[i] == 3);
    }
    /* without replacement, first draw follows the weights: weight 8 of 10 first ~80% */
    nb_tensor *pw = tu_tensor(NB_F32, NB_DIMS(3), (const double[]){1, 8, 1});
    int first1 = 0;
    nb_tensor *all = nb_multinomial(nb_expand(nb_unsqueeze(pw, 0), NB_DIMS(4000, 3)), 2, false, &g);
    const int64_t *av = nb_tensor_data(all);
    for (int r = 0; r < 4000; r++) {
        ck_assert(av[2 * r] != av[2 * r + 1]);
        first1 += av[2 * r] == 1;
    }
    ck_assert_msg(fabs(first1 / 4000.0 - 0.8) < 0.03, "first draw was category 1 in %d of 4000", first1);
    /* zero rows; the default generator reseeded gives the same samples */
    tu_assert_shape(nb_multinomial(nb_zeros(NB_DIMS(0, 3), NB_F32), 2, true, NULL), NB_DIMS(0, 2));
    nb_manual_seed(99);
    nb_tensor *d1 = nb_multinomial(pw, 50, true, NULL);
    nb_manual_seed(99);
    nb_tensor *d2 = nb_multinomial(pw, 50, true, NULL);
    ck_assert(memcmp(nb_tensor_data(d1), nb_tensor_data(d2), 50 * sizeof(int64_t)) == 0);
    nb_scope_end(scope);
}
END_TEST

/* ---- misuse --------------------------------------------------------------------------------- */
START_TEST(test_misuse)
{
    nb_tensor *t = nb_zeros(NB_DIMS(65, 4), NB_F32);
    nb_tensor *bad = tu_ints(NB_I64, NB_DIMS(3), (const int64_t[]){1, 70, 2});
    nb_tensor *neg = tu_ints(NB_I32, NB_DIMS(2), (const int64_t[]){0, -1});
    nb_tensor *fidx = nb_zeros(NB_DIMS(2), NB_F32);
    TU_EXPECT_ERROR("nb_index_select: index 70 out of range for dim 0 of size 65", nb_index_select(t, 0, bad));
    TU_EXPECT_ERROR("nb_index_select: index -1 out of range for dim 0 of size 65", nb_index_select(t, 0, neg));
    TU_EXPECT_ERROR("nb_index_select: index 4 out of range for dim 1 of size 4",
                    nb_index_select(t, 1, tu_ints(NB_I64, NB_DIMS(1), (const int64_t[]){4})));
    TU_EXPECT_ERROR("nb_index_select: index tensor must be int32 or int64, got float32", nb_index_select(t, 0, fidx));
    TU_EXPECT_ERROR("nb_index_select: index must be 0-dim or 1-D, got shape [1, 1]",
                    nb_index_select(t, 0, nb_zeros(NB_DIMS(1, 1), NB_I64)));
    TU_EXPECT_ERROR("nb_index_select: dim 2 out of range", nb_index_select(t, 2, bad));
    TU_EXPECT_ERROR("nb_embedding: index 70 out of range for dim 0 of size 65", nb_embedding(t, bad));
    TU_EXPECT_ERROR("nb_embedding: index tensor must be int32 or int64, got bool",
                    nb_embedding(t, nb_zeros(NB_DIMS(2), NB_BOOL)));
    TU_EXPECT_ERROR("nb_embedding: weight must be 2-D [V, C], got shape [4]",
                    nb_embedding(nb_zeros(NB_DIMS(4), NB_F32), bad));
    TU_EXPECT_ERROR("nb_gather: index 70 out of range for dim 0 of size 65",
                    nb_gather(t, 0, tu_ints(NB_I64, NB_DIMS(1, 1), (const int64_t[]){70})));
    TU_EXPECT_ERROR("nb_gather: index tensor must be int32 or int64, got float64",
                    nb_gather(t, 0, nb_zeros(NB_DIMS(1, 1), NB_F64)));
    TU_EXPECT_ERROR("nb_gather: index of shape [1] must have as many dims as input of shape [65, 4]",
                    nb_gather(t, 0, tu_ints(NB_I64, NB_DIMS(1), (const int64_t[]){0})));
    TU_EXPECT_ERROR("nb_gather: index of shape [1, 5] exceeds input of shape [65, 4] at dim 1",
                    nb_gather(t, 0, nb_zeros(NB_DIMS(1, 5), NB_I64)));
    nb_tensor *src = nb_zeros(NB_DIMS(2, 2), NB_F32);
    TU_EXPECT_ERROR("nb_scatter_add: index 9 out of range for dim 1 of size 4",
                    nb_scatter_add(t, 1, tu_ints(NB_I32, NB_DIMS(1, 1), (const int64_t[]){9}), src));
    TU_EXPECT_ERROR("nb_scatter_add: index of shape [3, 1] exceeds src of shape [2, 2] at dim 0",
                    nb_scatter_add(t, 1, nb_zeros(NB_DIMS(3, 1), NB_I64), src));
    TU_EXPECT_ERROR("nb_scatter_add: dtype mismatch (float32 and float64)",
                    nb_scatter_add(t, 1, nb_zeros(NB_DIMS(1, 1), NB_I64), nb_zeros(NB_DIMS(2, 2), NB_F64)));
    TU_EXPECT_ERROR("nb_scatter_add: index tensor must be int32 or int64, got float32",
                    nb_scatter_add(t, 1, nb_zeros(NB_DIMS(1, 1), NB_F32), src));
    /* cat / stack */
    nb_tensor *a = nb_zeros(NB_DIMS(2, 3), NB_F32), *b = nb_zeros(NB_DIMS(2, 4), NB_F32);
    TU_EXPECT_ERROR("nb_cat: shapes [2, 3] (tensor 0) and [2, 4] (tensor 1) must match outside dim 0 (dim 1: 3 vs 4)",
                    nb_cat((nb_tensor *[]){a, b}, 2, 0));
    TU_EXPECT_ERROR("nb_cat: tensor 0 of shape [2, 3] and tensor 1 of shape [6] have different numbers of dims",
                    nb_cat((nb_tensor *[]){a, nb_zeros(NB_DIMS(6), NB_F32)}, 2, 0));
    TU_EXPECT_ERROR("nb_cat: dtype mismatch (float32 at position 0 and float64 at position 1)",
                    nb_cat((nb_tensor *[]){a, nb_zeros(NB_DIMS(2, 3), NB_F64)}, 2, 0));
    TU_EXPECT_ERROR("nb_cat: zero-dimensional tensor (at position 1) cannot be concatenated",
                    nb_cat((nb_tensor *[]){a, nb_scalar(1, NB_F32)}, 2, 0));
    TU_EXPECT_ERROR("nb_cat: expected at least one tensor, got 0", nb_cat(NULL, 0, 0));
    TU_EXPECT_ERROR("nb_cat: dim 2 out of range", nb_cat((nb_tensor *[]){a, a}, 2, 2));
    TU_EXPECT_ERROR("nb_stack: tensor 1 of shape [2, 4] differs from tensor 0 of shape [2, 3]",
                    nb_stack((nb_tensor *[]){a, b}, 2, 0));
    TU_EXPECT_ERROR("nb_stack: dtype mismatch (float32 and int64)",
                    nb_stack((nb_tensor *[]){a, nb_zeros(NB_DIMS(2, 3), NB_I64)}, 2, 0));
    TU_EXPECT_ERROR("nb_stack: dim 3 out of range", nb_stack((nb_tensor *[]){a, a}, 2, 3));
    TU_EXPECT_ERROR("nb_stack: expected at least one tensor, got 0", nb_stack(NULL, 0, 0));
    /* tril / triu */
    TU_EXPECT_ERROR("nb_tril: expected a tensor of at least 2 dims, got shape [6]",
                    nb_tril(nb_zeros(NB_DIMS(6), NB_F32), 0));
    TU_EXPECT_ERROR("nb_triu: expected a tensor of at least 2 dims, got shape []", nb_triu(nb_scalar(1, NB_F32), 0));
    /* multinomial */
    TU_EXPECT_ERROR("nb_multinomial: weight -1 at row 0, category 1 is negative",
                    nb_multinomial(tu_tensor(NB_F32, NB_DIMS(2), (const double[]){1, -1}), 1, true, NULL));
    TU_EXPECT_ERROR("nb_multinomial: weight nan at row 1, category 0",
                    nb_multinomial(tu_tensor(NB_F64, NB_DIMS(2, 2), (const double[]){1, 1, NAN, 1}), 1, true, NULL));
    TU_EXPECT_ERROR("nb_multinomial: row 0 of probs has no positive weight",
                    nb_multinomial(nb_zeros(NB_DIMS(3), NB_F32), 1, true, NULL));
    TU_EXPECT_ERROR("nb_multinomial: cannot draw 4 samples without replacement from 3 categories",
                    nb_multinomial(nb_ones(NB_DIMS(3), NB_F32), 4, false, NULL));
    TU_EXPECT_ERROR("nb_multinomial: row 0 has 1 categories of positive weight, too few to draw 2",
                    nb_multinomial(tu_tensor(NB_F32, NB_DIMS(3), (const double[]){0, 1, 0}), 2, false, NULL));
    TU_EXPECT_ERROR("nb_multinomial: expected a float32 or float64 tensor, got int64",
                    nb_multinomial(nb_ones(NB_DIMS(3), NB_I64), 1, true, NULL));
    TU_EXPECT_ERROR("nb_multinomial: probs must be 1-D or 2-D, got shape [1, 1, 3]",
                    nb_multinomial(nb_ones(NB_DIMS(1, 1, 3), NB_F32), 1, true, NULL));
    TU_EXPECT_ERROR("nb_multinomial: num_samples must be positive, got 0",
                    nb_multinomial(nb_ones(NB_DIMS(3), NB_F32), 0, true, NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("index");
    TCase *tc = tcase_create("index");
    tcase_set_timeout(tc, 15);
    tcase_add_checked_fixture(tc, tu_scope_setup, tu_scope_teardown); /* frees what tests leave */
    tcase_add_test(tc, test_index_select_layouts);
    tcase_add_test(tc, test_index_select_special);
    tcase_add_test(tc, test_index_select_large_parallel);
    tcase_add_test(tc, test_index_select_backward);
    tcase_add_test(tc, test_embedding_layouts);
    tcase_add_test(tc, test_embedding_special);
    tcase_add_test(tc, test_embedding_backward);
    tcase_add_test(tc, test_embedding_backward_threads);
    tcase_add_test(tc, test_embedding_large_forward);
    tcase_add_test(tc, test_gather_layouts);
    tcase_add_test(tc, test_gather_special);
    tcase_add_test(tc, test_gather_backward);
    tcase_add_test(tc, test_scatter_add_layouts);
    tcase_add_test(tc, test_scatter_add_special);
    tcase_add_test(tc, test_scatter_add_backward);
    tcase_add_test(tc, test_cat_layouts);
    tcase_add_test(tc, test_cat_special);
    tcase_add_test(tc, test_cat_backward);
    tcase_add_test(tc, test_stack_layouts);
    tcase_add_test(tc, test_stack_special_and_backward);
    tcase_add_test(tc, test_triangle_layouts);
    tcase_add_test(tc, test_triangle_special_and_backward);
    tcase_add_test(tc, test_multinomial_frequencies);
    tcase_add_test(tc, test_multinomial_rows_and_no_replacement);
    tcase_add_test(tc, test_misuse);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
