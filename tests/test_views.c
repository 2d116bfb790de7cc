/* test_views.c — views and shape ops (autograd/ops_view.c): geometry (shape, strides, offset),
 * values against index arithmetic written out here, storage sharing and writes through views,
 * views of views, zero-size and 0-dim inputs, misuse messages, and the backward of every op.
 *
 * Inputs are "sequence" tensors whose value is their element's linear index, so a view's values
 * name the base elements it reaches; the expected ones are computed by plain loops. Strides and
 * Python-style slice bounds were checked against PyTorch 1.13. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define D(...) ((const double[]){__VA_ARGS__})
#define S(...) ((const int64_t[]){__VA_ARGS__})

/* A contiguous tensor holding 0, 1, 2, ... (row-major). */
static nb_tensor *seq(nb_dtype dt, const int64_t *shape, int ndim)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= shape[i];
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = (double)i;
    nb_tensor *t = nb_from_doubles(v, shape, ndim, dt);
    free(v);
    return t;
}

static void assert_geometry(const nb_tensor *t, int ndim, const int64_t *shape, const int64_t *strides, int64_t offset)
{
    tu_assert_shape(t, shape, ndim);
    for (int i = 0; i < ndim; i++)
        ck_assert_msg(nb_tensor_strides(t)[i] == strides[i], "stride %d: %lld != %lld", i,
                      (long long)nb_tensor_strides(t)[i], (long long)strides[i]);
    ck_assert_int_eq(nb_tensor_offset(t), offset);
}

#define GEOM(t, shape, strides, offset) \
    assert_geometry(t, (int)(sizeof(shape) / sizeof(int64_t)), shape, strides, offset)

/* ---- view / reshape ----------------------------------------------------------------------- */
START_TEST(test_view)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F32, NB_DIMS(2, 3, 4));
    nb_tensor *v = nb_view(x, NB_DIMS(4, -1));
    GEOM(v, S(4, 6), S(6, 1), 0);
    ck_assert(nb_tensor_shares_storage(v, x));
    double want[24];
    for (int i = 0; i < 24; i++)
        want[i] = i;
    tu_assert_values(v, want, 0);
    GEOM(nb_view(x, NB_DIMS(-1)), S(24), S(1), 0);
    GEOM(nb_view(x, NB_DIMS(2, 1, 12, 1)), S(2, 1, 12, 1), S(12, 12, 1, 1), 0);
    /* a non-contiguous tensor whose strides still allow the view: rows of a column narrow */
    nb_tensor *n = nb_narrow(nb_view(x, NB_DIMS(4, 6)), 1, 2, 3); /* [4, 3] strides [6, 1] */
    nb_tensor *nv = nb_view(n, NB_DIMS(2, 2, 3));
    GEOM(nv, S(2, 2, 3), S(12, 6, 1), 2);
    tu_assert_values(nv, D(2, 3, 4, 8, 9, 10, 14, 15, 16, 20, 21, 22), 0);
    /* a transposed matrix can split its dims but not merge them */
    nb_tensor *t = nb_transpose(nb_view(x, NB_DIMS(4, 6)), 0, 1); /* [6, 4] strides [1, 6] */
    GEOM(nb_view(t, NB_DIMS(2, 3, 4)), S(2, 3, 4), S(3, 1, 6), 0);
    /* 0-dim and one-element tensors */
    nb_tensor *s = nb_scalar(5, NB_F64);
    GEOM(nb_view(s, NB_DIMS(1)), S(1), S(1), 0);
    ck_assert_int_eq(nb_tensor_ndim(nb_view(s, NB_DIMS(-1, 1))), 2);
    ck_assert_int_eq(nb_tensor_ndim(nb_view(nb_view(s, NB_DIMS(1, 1)), NB_SCALAR)), 0);
    nb_tensor *one = nb_narrow(nb_narrow(nb_narrow(x, 0, 1, 1), 1, 2, 1), 2, 3, 1); /* [1, 1, 1] = 23 */
    ck_assert_double_eq(nb_tensor_item(nb_view(one, NB_DIMS(-1, 1))), 23);
    GEOM(nb_view(one, NB_DIMS(1)), S(1), S(1), 23);
    /* zero-size */
    nb_tensor *z = nb_zeros(NB_DIMS(0, 3), NB_F32);
    GEOM(nb_view(z, NB_DIMS(3, 0)), S(3, 0), S(1, 1), 0);
    tu_assert_shape(nb_view(z, NB_DIMS(-1, 3)), NB_DIMS(0, 3));
    tu_assert_shape(nb_view(nb_transpose(z, 0, 1), NB_DIMS(0)), NB_DIMS(0));
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_view_misuse)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F32, NB_DIMS(2, 3));
    TU_EXPECT_ERROR("nb_view: a tensor of shape [3, 2] and strides [1, 3] cannot be viewed as [6]; use nb_reshape",
                    nb_view(nb_transpose(x, 0, 1), NB_DIMS(6)));
    TU_EXPECT_ERROR("use nb_reshape", nb_view(nb_expand(nb_narrow(x, 0, 0, 1), NB_DIMS(4, 3)), NB_DIMS(12)));
    TU_EXPECT_ERROR("nb_view: shape [5] is invalid for input of size 6", nb_view(x, NB_DIMS(5)));
    TU_EXPECT_ERROR("nb_view: shape [4, -1] is invalid for input of size 6", nb_view(x, NB_DIMS(4, -1)));
    TU_EXPECT_ERROR("nb_view: only one dim can be inferred (-1) in shape [-1, -1]", nb_view(x, NB_DIMS(-1, -1)));
    TU_EXPECT_ERROR("nb_view: invalid size -2 in shape [-2, -3]", nb_view(x, NB_DIMS(-2, -3)));
    TU_EXPECT_ERROR("nb_view: shape [] is invalid for input of size 6", nb_view(x, NB_SCALAR));
    TU_EXPECT_ERROR("nb_view: shape [-1, 0] is invalid for input of size 0",
                    nb_view(nb_zeros(NB_DIMS(0, 3), NB_F32), NB_DIMS(-1, 0)));
    TU_EXPECT_ERROR("nb_view: 9 dims requested", nb_view(x, S(1, 1, 1, 1, 1, 1, 1, 2, 3), 9));
    TU_EXPECT_ERROR("nb_reshape: shape [7] is invalid for input of size 6", nb_reshape(x, NB_DIMS(7)));
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_reshape)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F64, NB_DIMS(3, 4));
    nb_tensor *r = nb_reshape(x, NB_DIMS(2, 6)); /* possible as a view: is a view */
    ck_assert(nb_tensor_shares_storage(r, x));
    GEOM(r, S(2, 6), S(6, 1), 0);
    nb_tensor *rows = nb_reshape(nb_narrow(x, 0, 1, 2), NB_DIMS(-1));
    ck_assert(nb_tensor_shares_storage(rows, x));
    GEOM(rows, S(8), S(1), 4);

    nb_tensor *t = nb_transpose(x, 0, 1); /* [4, 3]: flattening it needs a copy */
    nb_tensor *c = nb_reshape(t, NB_DIMS(12));
    ck_assert(!nb_tensor_shares_storage(c, x));
    ck_assert(nb_tensor_is_contiguous(c));
    double want[12];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            want[i * 3 + j] = j * 4 + i; /* t[i][j] = x[j][i] */
    tu_assert_shape_values(c, NB_DIMS(12), want, 0);
    tu_assert_shape_values(nb_reshape(t, NB_DIMS(2, 6)), NB_DIMS(2, 6), want, 0);

    /* expanded (stride 0): merging copies, splitting an expanded dim stays a view */
    nb_tensor *row = nb_narrow(x, 0, 2, 1); /* [1, 4] = 8 9 10 11 */
    nb_tensor *e = nb_expand(row, NB_DIMS(2, 4));
    nb_tensor *ec = nb_reshape(e, NB_DIMS(8));
    ck_assert(!nb_tensor_shares_storage(ec, x));
    tu_assert_shape_values(ec, NB_DIMS(8), D(8, 9, 10, 11, 8, 9, 10, 11), 0);
    nb_tensor *col = nb_expand(nb_narrow(nb_view(x, NB_DIMS(12, 1)), 0, 0, 3), NB_DIMS(3, 4));
    nb_tensor *split = nb_reshape(col, NB_DIMS(3, 2, 2));
    ck_assert(nb_tensor_shares_storage(split, x));
    GEOM(split, S(3, 2, 2), S(1, 0, 0), 0);
    tu_assert_values(split, D(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2), 0);
    /* the sliced layout (NaN gaps) reshaped by copy reads no gap */
    nb_tensor *sl = tu_relayout(x, TU_SLICED);
    for (int i = 0; i < 12; i++)
        want[i] = i;
    tu_assert_shape_values(nb_reshape(sl, NB_DIMS(12)), NB_DIMS(12), want, 0);
    tu_assert_shape_values(nb_reshape(sl, NB_DIMS(6, 2)), NB_DIMS(6, 2), want, 0);
    nb_tensor_release(sl); /* tu_relayout's result is the caller's, scope or not */
    /* zero-size and 0-dim */
    tu_assert_shape(nb_reshape(nb_transpose(nb_zeros(NB_DIMS(2, 0), NB_F32), 0, 1), NB_DIMS(0, 5)), NB_DIMS(0, 5));
    ck_assert_int_eq(nb_tensor_ndim(nb_reshape(nb_scalar(2, NB_F32), NB_DIMS(1, 1, 1))), 3);
    ck_assert_double_eq(nb_tensor_item(nb_reshape(nb_view(nb_scalar(2, NB_F32), NB_DIMS(1)), NB_SCALAR)), 2);
    nb_scope_end(scope);
}
END_TEST

/* ---- transpose / permute ------------------------------------------------------------------ */
START_TEST(test_transpose_permute)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F64, NB_DIMS(2, 3, 4));
    nb_tensor *t = nb_transpose(x, 0, -1);
    GEOM(t, S(4, 3, 2), S(1, 4, 12), 0);
    ck_assert(nb_tensor_shares_storage(t, x));
    double want[24];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++)
                want[(i * 3 + j) * 2 + k] = k * 12 + j * 4 + i;
    tu_assert_values(t, want, 0);
    GEOM(nb_transpose(x, 1, 1), S(2, 3, 4), S(12, 4, 1), 0);
    GEOM(nb_transpose(nb_transpose(x, 2, 0), -1, 0), S(2, 3, 4), S(12, 4, 1), 0);

    nb_tensor *p = nb_permute(x, (const int[]){2, 0, 1});
    GEOM(p, S(4, 2, 3), S(1, 12, 4), 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 3; k++)
                want[(i * 2 + j) * 3 + k] = j * 12 + k * 4 + i; /* p[i][j][k] = x[j][k][i] */
    tu_assert_values(p, want, 0);
    GEOM(nb_permute(x, (const int[]){-1, -2, -3}), S(4, 3, 2), S(1, 4, 12), 0);
    GEOM(nb_permute(x, (const int[]){0, 1, 2}), S(2, 3, 4), S(12, 4, 1), 0);
    /* 0-dim and zero-size */
    nb_tensor *s = nb_scalar(3, NB_F32);
    ck_assert_int_eq(nb_tensor_ndim(nb_transpose(s, 0, -1)), 0);
    ck_assert_int_eq(nb_tensor_ndim(nb_permute(s, NULL)), 0);
    GEOM(nb_transpose(nb_zeros(NB_DIMS(0, 3), NB_F32), 0, 1), S(3, 0), S(1, 3), 0);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_transpose_permute_misuse)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F32, NB_DIMS(2, 3, 4));
    TU_EXPECT_ERROR("nb_permute: dim 0 appears twice in the permutation", nb_permute(x, (const int[]){0, 2, 0}));
    TU_EXPECT_ERROR("nb_permute: dim 2 appears twice", nb_permute(x, (const int[]){-1, 2, 0}));
    TU_EXPECT_ERROR("nb_permute: dim 3 out of range for a tensor of 3 dims (expected -3..2)",
                    nb_permute(x, (const int[]){0, 1, 3}));
    TU_EXPECT_ERROR("nb_transpose: dim 3 out of range for a tensor of 3 dims", nb_transpose(x, 0, 3));
    TU_EXPECT_ERROR("nb_transpose: dim -4 out of range", nb_transpose(x, -4, 0));
    TU_EXPECT_ERROR("nb_transpose: dim 1 out of range for a tensor of 0 dims",
                    nb_transpose(nb_scalar(1, NB_F32), 0, 1));
    nb_scope_end(scope);
}
END_TEST

/* ---- narrow / slice / select -------------------------------------------------------------- */
START_TEST(test_narrow)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F32, NB_DIMS(3, 4));
    nb_tensor *n = nb_narrow(x, 1, 1, 2);
    GEOM(n, S(3, 2), S(4, 1), 1);
    tu_assert_values(n, D(1, 2, 5, 6, 9, 10), 0);
    GEOM(nb_narrow(x, -1, -3, 2), S(3, 2), S(4, 1), 1); /* negative dim and start */
    GEOM(nb_narrow(x, 0, 2, 1), S(1, 4), S(4, 1), 8);
    GEOM(nb_narrow(x, 0, -1, 1), S(1, 4), S(4, 1), 8);
    GEOM(nb_narrow(x, 0, 0, 3), S(3, 4), S(4, 1), 0);
    GEOM(nb_narrow(x, 1, 4, 0), S(3, 0), S(4, 1), 0); /* empty at the end is allowed */
    /* narrow of a narrow: offsets add */
    nb_tensor *nn = nb_narrow(nb_narrow(x, 0, 1, 2), 1, 2, 2);
    GEOM(nn, S(2, 2), S(4, 1), 6);
    tu_assert_values(nn, D(6, 7, 10, 11), 0);
    nb_scope_end(scope);
}
END_TEST

/* Python: list(range(7))[start:end:step] */
static const struct {
    int64_t start, end, step, n;
    int64_t idx[7];
} k_slices[] = {
    {0, 7, 1, 7, {0, 1, 2, 3, 4, 5, 6}},
    {1, 6, 2, 3, {1, 3, 5}},
    {-3, 7, 1, 3, {4, 5, 6}},
    {-100, 100, 3, 3, {0, 3, 6}},
    {5, 2, 1, 0, {0}},
    {2, -1, 2, 2, {2, 4}},
    {7, 10, 1, 0, {0}},
    {-1, 7, 1, 1, {6}},
    {0, -8, 1, 0, {0}},
    {3, 3, 1, 0, {0}},
    {0, 7, 3, 3, {0, 3, 6}},
    {1, INT64_MAX, 3, 2, {1, 4}},
};

START_TEST(test_slice_python_bounds)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F64, NB_DIMS(2, 7));
    for (size_t c = 0; c < sizeof k_slices / sizeof *k_slices; c++) {
        nb_tensor *s = nb_slice(x, 1, k_slices[c].start, k_slices[c].end, k_slices[c].step);
        int64_t n = k_slices[c].n;
        ck_assert_msg(nb_tensor_size(s, 1) == n, "case %zu: %lld elements, expected %lld", c,
                      (long long)nb_tensor_size(s, 1), (long long)n);
        ck_assert_int_eq(nb_tensor_strides(s)[1], k_slices[c].step);
        ck_assert_int_eq(nb_tensor_strides(s)[0], 7);
        if (n > 0)
            ck_assert_int_eq(nb_tensor_offset(s), k_slices[c].idx[0]);
        double want[14];
        for (int r = 0; r < 2; r++)
            for (int64_t i = 0; i < n; i++)
                want[r * n + i] = (double)(r * 7 + k_slices[c].idx[i]);
        if (n > 0) /* (an empty slice: its size above is the whole check) */
            tu_assert_values_n(s, 2 * n, want, 0);
    }
    /* dim 0, and a slice of a slice (step 2 of step 2 = stride 4) */
    nb_tensor *col = nb_view(seq(NB_I64, NB_DIMS(12)), NB_DIMS(12, 1));
    nb_tensor *ss = nb_slice(nb_slice(col, 0, 1, 12, 2), 0, 1, 6, 2);
    GEOM(ss, S(3, 1), S(4, 1), 3);
    tu_assert_values(ss, D(3, 7, 11), 0);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_select)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F32, NB_DIMS(2, 3, 4));
    nb_tensor *s = nb_select(x, 1, -1);
    GEOM(s, S(2, 4), S(12, 1), 8);
    tu_assert_values(s, D(8, 9, 10, 11, 20, 21, 22, 23), 0);
    GEOM(nb_select(x, 0, 1), S(3, 4), S(4, 1), 12);
    GEOM(nb_select(x, -1, 2), S(2, 3), S(12, 4), 2);
    nb_tensor *e = nb_select(nb_select(nb_select(x, 2, 3), 0, 1), 0, 2); /* down to 0-dim */
    ck_assert_int_eq(nb_tensor_ndim(e), 0);
    ck_assert_int_eq(nb_tensor_offset(e), 23);
    ck_assert_double_eq(nb_tensor_item(e), 23);
    /* zero-size: selecting along another dim keeps the empty dim */
    tu_assert_shape(nb_select(nb_zeros(NB_DIMS(0, 3), NB_F32), 1, 2), NB_DIMS(0));
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_narrow_slice_select_misuse)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F32, NB_DIMS(3, 4));
    TU_EXPECT_ERROR("nb_narrow: start 3, length 2 out of range for dim 1 of size 4", nb_narrow(x, 1, 3, 2));
    TU_EXPECT_ERROR("nb_narrow: start -5, length 1 out of range for dim 0 of size 3", nb_narrow(x, 0, -5, 1));
    TU_EXPECT_ERROR("nb_narrow: start 0, length -1 out of range", nb_narrow(x, 0, 0, -1));
    TU_EXPECT_ERROR("nb_narrow: dim 2 out of range for a tensor of 2 dims", nb_narrow(x, 2, 0, 1));
    TU_EXPECT_ERROR("nb_narrow: cannot slice a 0-dim tensor", nb_narrow(nb_scalar(1, NB_F32), 0, 0, 1));
    TU_EXPECT_ERROR("nb_slice: step must be positive, got 0", nb_slice(x, 0, 0, 3, 0));
    TU_EXPECT_ERROR("nb_slice: step must be positive, got -1", nb_slice(x, 0, 3, 0, -1));
    TU_EXPECT_ERROR("nb_slice: dim -3 out of range", nb_slice(x, -3, 0, 1, 1));
    TU_EXPECT_ERROR("nb_select: index 3 out of range for dim 0 of size 3", nb_select(x, 0, 3));
    TU_EXPECT_ERROR("nb_select: index -5 out of range for dim 1 of size 4", nb_select(x, 1, -5));
    TU_EXPECT_ERROR("nb_select: cannot select from a 0-dim tensor", nb_select(nb_scalar(1, NB_F32), 0, 0));
    TU_EXPECT_ERROR("nb_select: index 0 out of range for dim 0 of size 0",
                    nb_select(nb_zeros(NB_DIMS(0, 3), NB_F32), 0, 0));
    nb_scope_end(scope);
}
END_TEST

/* ---- expand --------------------------------------------------------------------------------- */
START_TEST(test_expand)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F64, NB_DIMS(3, 1));
    nb_tensor *e = nb_expand(x, NB_DIMS(3, 4));
    GEOM(e, S(3, 4), S(1, 0), 0);
    ck_assert(nb_tensor_shares_storage(e, x));
    tu_assert_values(e, D(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2), 0);
    GEOM(nb_expand(x, NB_DIMS(-1, 4)), S(3, 4), S(1, 0), 0);
    GEOM(nb_expand(x, NB_DIMS(3, 1)), S(3, 1), S(1, 1), 0);
    nb_tensor *lead = nb_expand(x, NB_DIMS(2, -1, 5));
    GEOM(lead, S(2, 3, 5), S(0, 1, 0), 0);
    double want[30];
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 5; k++)
                want[(a * 3 + i) * 5 + k] = i;
    tu_assert_values(lead, want, 0);
    /* 0-dim to any shape; size 1 to size 0 */
    nb_tensor *s = nb_expand(nb_scalar(7, NB_I32), NB_DIMS(2, 2));
    GEOM(s, S(2, 2), S(0, 0), 0);
    tu_assert_values(s, D(7, 7, 7, 7), 0);
    GEOM(nb_expand(nb_zeros(NB_DIMS(1, 3), NB_F32), NB_DIMS(0, 3)), S(0, 3), S(0, 1), 0);
    /* expand of a narrowed row keeps its offset */
    nb_tensor *m = seq(NB_F32, NB_DIMS(3, 4));
    nb_tensor *r = nb_expand(nb_narrow(m, 0, 2, 1), NB_DIMS(2, 4));
    GEOM(r, S(2, 4), S(0, 1), 8);
    tu_assert_values(r, D(8, 9, 10, 11, 8, 9, 10, 11), 0);
    /* a write through a stride-0 view reaches the one shared element */
    nb_tensor_set(e, S(1, 3), -5);
    ck_assert_double_eq(nb_tensor_get(x, S(1, 0)), -5);
    ck_assert_double_eq(nb_tensor_get(e, S(1, 0)), -5);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_expand_misuse)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F32, NB_DIMS(3, 1));
    TU_EXPECT_ERROR("nb_expand: shape [3, 1] cannot be expanded to [2, 4] (dim 0: 3 vs 2)",
                    nb_expand(x, NB_DIMS(2, 4)));
    TU_EXPECT_ERROR("nb_expand: shape [3, 1] cannot be expanded to [3, -2] (dim 1: 1 vs -2)",
                    nb_expand(x, NB_DIMS(3, -2)));
    TU_EXPECT_ERROR("nb_expand: cannot expand shape [3, 1] to 1 dims", nb_expand(x, NB_DIMS(3)));
    TU_EXPECT_ERROR("nb_expand: size -1 not allowed for new leading dim 0", nb_expand(x, NB_DIMS(-1, 3, 1)));
    TU_EXPECT_ERROR("nb_expand: cannot expand shape [3, 1] to 9 dims",
                    nb_expand(x, S(1, 1, 1, 1, 1, 1, 1, 3, 1), 9));
    nb_scope_end(scope);
}
END_TEST

/* ---- squeeze / unsqueeze / flatten ------------------------------------------------------- */
START_TEST(test_squeeze_unsqueeze)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F32, NB_DIMS(3, 1, 2));
    GEOM(nb_squeeze(x, 1), S(3, 2), S(2, 1), 0);
    GEOM(nb_squeeze(x, -2), S(3, 2), S(2, 1), 0);
    GEOM(nb_squeeze(x, 0), S(3, 1, 2), S(2, 2, 1), 0); /* size 3: unchanged view */
    ck_assert(nb_tensor_shares_storage(nb_squeeze(x, 0), x));
    ck_assert_int_eq(nb_tensor_ndim(nb_squeeze(nb_scalar(1, NB_F32), 0)), 0);
    ck_assert_int_eq(nb_tensor_ndim(nb_squeeze(nb_zeros(NB_DIMS(1), NB_F32), -1)), 0);
    tu_assert_shape(nb_squeeze(nb_zeros(NB_DIMS(0, 1), NB_F32), 1), NB_DIMS(0));

    nb_tensor *m = seq(NB_F32, NB_DIMS(3, 2));
    GEOM(nb_unsqueeze(m, 0), S(1, 3, 2), S(6, 2, 1), 0);
    GEOM(nb_unsqueeze(m, 1), S(3, 1, 2), S(2, 2, 1), 0);
    GEOM(nb_unsqueeze(m, 2), S(3, 2, 1), S(2, 1, 1), 0);
    GEOM(nb_unsqueeze(m, -1), S(3, 2, 1), S(2, 1, 1), 0);
    GEOM(nb_unsqueeze(m, -3), S(1, 3, 2), S(6, 2, 1), 0);
    GEOM(nb_unsqueeze(nb_transpose(m, 0, 1), 1), S(2, 1, 3), S(1, 6, 2), 0); /* as PyTorch */
    GEOM(nb_unsqueeze(nb_scalar(4, NB_F32), 0), S(1), S(1), 0);
    GEOM(nb_unsqueeze(nb_scalar(4, NB_F32), -1), S(1), S(1), 0);
    tu_assert_values(nb_unsqueeze(m, 1), D(0, 1, 2, 3, 4, 5), 0);
    nb_tensor *n = nb_narrow(m, 0, 1, 2);
    GEOM(nb_squeeze(nb_unsqueeze(n, 1), 1), S(2, 2), S(2, 1), 2);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_flatten)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F64, NB_DIMS(2, 3, 4));
    nb_tensor *f = nb_flatten(x, 0, -1);
    GEOM(f, S(24), S(1), 0);
    ck_assert(nb_tensor_shares_storage(f, x));
    GEOM(nb_flatten(x, 1, 2), S(2, 12), S(12, 1), 0);
    GEOM(nb_flatten(x, 0, 1), S(6, 4), S(4, 1), 0);
    GEOM(nb_flatten(x, 1, 1), S(2, 3, 4), S(12, 4, 1), 0);
    GEOM(nb_flatten(nb_scalar(1, NB_F32), 0, -1), S(1), S(1), 0);
    /* a transposed tensor flattens by copy, in logical order */
    nb_tensor *t = nb_transpose(seq(NB_F64, NB_DIMS(2, 3)), 0, 1);
    nb_tensor *ft = nb_flatten(t, 0, 1);
    ck_assert(!nb_tensor_shares_storage(ft, t));
    tu_assert_shape_values(ft, NB_DIMS(6), D(0, 3, 1, 4, 2, 5), 0);
    /* flattening the non-merged part of a column narrow is still a view */
    nb_tensor *n = nb_narrow(x, 2, 1, 2); /* [2, 3, 2] strides [12, 4, 1] */
    nb_tensor *fn = nb_flatten(n, 0, 1);
    GEOM(fn, S(6, 2), S(4, 1), 1);
    ck_assert(nb_tensor_shares_storage(fn, x));
    tu_assert_shape(nb_flatten(nb_zeros(NB_DIMS(2, 0, 3), NB_F32), 0, 1), NB_DIMS(0, 3));
    TU_EXPECT_ERROR("nb_flatten: start_dim 2 must not come after end_dim 1", nb_flatten(x, 2, 1));
    TU_EXPECT_ERROR("nb_flatten: dim 3 out of range", nb_flatten(x, 0, 3));
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_squeeze_unsqueeze_misuse)
{
    int scope = nb_scope_begin();
    nb_tensor *m = seq(NB_F32, NB_DIMS(3, 2));
    TU_EXPECT_ERROR("nb_unsqueeze: dim 3 out of range for a tensor of 3 dims (expected -3..2)", nb_unsqueeze(m, 3));
    TU_EXPECT_ERROR("nb_unsqueeze: dim -4 out of range", nb_unsqueeze(m, -4));
    TU_EXPECT_ERROR("nb_squeeze: dim 2 out of range for a tensor of 2 dims", nb_squeeze(m, 2));
    nb_tensor *full = nb_zeros(NB_DIMS(1, 1, 1, 1, 1, 1, 1, 1), NB_F32);
    TU_EXPECT_ERROR("nb_unsqueeze: a tensor of 8 dims cannot gain one (max 8)", nb_unsqueeze(full, 0));
    nb_scope_end(scope);
}
END_TEST

/* ---- split / chunk -------------------------------------------------------------------------- */
static void assert_pieces(nb_tensor **p, int n, const int64_t *sizes, int dim, const nb_tensor *base)
{
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        ck_assert_msg(nb_tensor_size(p[i], dim) == sizes[i], "piece %d: size %lld != %lld", i,
                      (long long)nb_tensor_size(p[i], dim), (long long)sizes[i]);
        ck_assert(nb_tensor_shares_storage(p[i], base));
        if (sizes[i])
            ck_assert_int_eq(nb_tensor_offset(p[i]), start * nb_tensor_strides(base)[dim]);
        start += sizes[i];
    }
}

START_TEST(test_split_chunk)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F32, NB_DIMS(2, 7));
    nb_tensor *p[8];
    int n = nb_split(x, 3, 1, p, 8);
    ck_assert_int_eq(n, 3);
    assert_pieces(p, n, S(3, 3, 1), 1, x);
    tu_assert_shape_values(p[1], NB_DIMS(2, 3), D(3, 4, 5, 10, 11, 12), 0);
    tu_assert_shape_values(p[2], NB_DIMS(2, 1), D(6, 13), 0);
    ck_assert_int_eq(nb_split(x, 7, -1, p, 1), 1);
    ck_assert_int_eq(nb_split(x, 100, 1, p, 1), 1);
    tu_assert_shape(p[0], NB_DIMS(2, 7));
    ck_assert_int_eq(nb_split(x, 1, 0, p, 8), 2);
    tu_assert_shape_values(p[1], NB_DIMS(1, 7), D(7, 8, 9, 10, 11, 12, 13), 0);

    nb_tensor *v = seq(NB_F64, NB_DIMS(5));
    n = nb_chunk(v, 3, 0, p, 8); /* torch.chunk: 5 into 3 -> 2, 2, 1 */
    ck_assert_int_eq(n, 3);
    assert_pieces(p, n, S(2, 2, 1), 0, v);
    tu_assert_shape_values(p[2], NB_DIMS(1), D(4), 0);
    ck_assert_int_eq(nb_chunk(seq(NB_F64, NB_DIMS(6)), 4, 0, p, 8), 3); /* 2, 2, 2 */
    ck_assert_int_eq(nb_tensor_size(p[2], 0), 2);
    ck_assert_int_eq(nb_chunk(seq(NB_F64, NB_DIMS(2)), 5, 0, p, 8), 2); /* 1, 1 */
    ck_assert_int_eq(nb_chunk(v, 1, -1, p, 1), 1);
    ck_assert_int_eq(nb_tensor_size(p[0], 0), 5);

    /* zero-size: split gives one empty piece, chunk `chunks` empty pieces (as PyTorch) */
    nb_tensor *z = nb_zeros(NB_DIMS(0, 2), NB_F32);
    ck_assert_int_eq(nb_split(z, 3, 0, p, 8), 1);
    tu_assert_shape(p[0], NB_DIMS(0, 2));
    ck_assert_int_eq(nb_chunk(z, 3, 0, p, 8), 3);
    for (int i = 0; i < 3; i++)
        tu_assert_shape(p[i], NB_DIMS(0, 2));
    /* a transposed input splits into strided pieces */
    nb_tensor *t = nb_transpose(seq(NB_F32, NB_DIMS(3, 2)), 0, 1); /* [2, 3] strides [1, 2] */
    ck_assert_int_eq(nb_split(t, 2, 1, p, 8), 2);
    GEOM(p[1], S(2, 1), S(1, 2), 4);
    tu_assert_values(p[0], D(0, 2, 1, 3), 0);

    TU_EXPECT_ERROR("nb_split: 3 pieces do not fit the 2 output slots", nb_split(x, 3, 1, p, 2));
    TU_EXPECT_ERROR("nb_split: split_size must be positive", nb_split(x, 0, 1, p, 8));
    TU_EXPECT_ERROR("nb_split: split_size must be positive and the tensor at least 1-D",
                    nb_split(nb_scalar(1, NB_F32), 1, 0, p, 8));
    TU_EXPECT_ERROR("nb_chunk: chunks must be positive, got 0", nb_chunk(x, 0, 1, p, 8));
    TU_EXPECT_ERROR("nb_chunk: dim 2 out of range", nb_chunk(x, 2, 2, p, 8));
    TU_EXPECT_ERROR("pieces do not fit the 1 output slots", nb_chunk(z, 2, 0, p, 1));
    nb_scope_end(scope);
}
END_TEST

/* ---- contiguous / clone / to_dtype -------------------------------------------------------- */
START_TEST(test_contiguous_clone_to_dtype)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F32, NB_DIMS(3, 4));
    ck_assert(nb_contiguous(x) == x); /* the same tensor, as a new reference */
    nb_tensor *rows = nb_narrow(x, 0, 1, 2);
    ck_assert(nb_contiguous(rows) == rows);
    nb_tensor *t = nb_transpose(x, 0, 1);
    nb_tensor *c = nb_contiguous(t);
    ck_assert(c != t);
    ck_assert(!nb_tensor_shares_storage(c, x));
    GEOM(c, S(4, 3), S(3, 1), 0);
    tu_assert_values(c, D(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11), 0);
    nb_tensor *e = nb_contiguous(nb_expand(nb_narrow(x, 0, 0, 1), NB_DIMS(2, 4)));
    GEOM(e, S(2, 4), S(4, 1), 0);
    tu_assert_values(e, D(0, 1, 2, 3, 0, 1, 2, 3), 0);

    nb_tensor *k = nb_clone(x); /* a clone is always a new storage */
    ck_assert(!nb_tensor_shares_storage(k, x));
    nb_tensor_set(k, S(0, 0), 99);
    ck_assert_double_eq(nb_tensor_get(x, S(0, 0)), 0);
    nb_tensor *sl = tu_relayout(x, TU_SLICED);
    nb_tensor *ks = nb_clone(sl);
    nb_tensor_release(sl);
    ck_assert(nb_tensor_is_contiguous(ks));
    tu_assert_close(ks, x, 0, 0);
    ck_assert_int_eq(nb_tensor_ndim(nb_clone(nb_scalar(2, NB_I64))), 0);
    tu_assert_shape(nb_clone(nb_zeros(NB_DIMS(0, 2), NB_F32)), NB_DIMS(0, 2));

    nb_tensor *d = nb_to_dtype(t, NB_F64);
    ck_assert_int_eq(nb_tensor_dtype(d), NB_F64);
    ck_assert(nb_tensor_is_contiguous(d));
    tu_assert_shape_values(d, NB_DIMS(4, 3), D(0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11), 0);
    nb_tensor *same = nb_to_dtype(x, NB_F32);
    ck_assert(!nb_tensor_shares_storage(same, x));
    tu_assert_close(same, x, 0, 0);
    TU_EXPECT_ERROR("nb_to_dtype: invalid dtype 17", nb_to_dtype(x, (nb_dtype)17));
    nb_scope_end(scope);
}
END_TEST

/* ---- sharing, writes through views, views of views --------------------------------------- */
START_TEST(test_write_through_views)
{
    int scope = nb_scope_begin();
    nb_tensor *x = nb_zeros(NB_DIMS(4, 6), NB_F64);
    struct {
        nb_tensor *view;
        int64_t idx[3];
        int64_t row, col; /* the element of x reached */
    } cases[] = {
        {nb_view(x, NB_DIMS(2, 12)), {1, 5}, 2, 5},
        {nb_reshape(x, NB_DIMS(24)), {13}, 2, 1},
        {nb_transpose(x, 0, 1), {4, 3}, 3, 4},
        {nb_permute(nb_view(x, NB_DIMS(2, 2, 6)), (const int[]){2, 0, 1}), {5, 1, 0}, 2, 5},
        {nb_narrow(x, 1, 2, 3), {0, 2}, 0, 4},
        {nb_slice(x, 1, 1, 6, 2), {3, 2}, 3, 5},
        {nb_select(x, 0, -2), {1}, 2, 1},
        {nb_expand(nb_narrow(x, 0, 1, 1), NB_DIMS(3, 6)), {2, 0}, 1, 0},
        {nb_squeeze(nb_narrow(x, 0, 3, 1), 0), {2}, 3, 2},
        {nb_unsqueeze(x, 1), {1, 0, 1}, 1, 1},
        {nb_flatten(x, 0, 1), {23}, 3, 5},
        {nb_contiguous(x), {0, 3}, 0, 3},
    };
    double v = 1;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++, v++) {
        ck_assert_msg(nb_tensor_shares_storage(cases[c].view, x), "case %zu does not share storage", c);
        nb_tensor_set(cases[c].view, cases[c].idx, v);
        ck_assert_msg(nb_tensor_get(x, S(cases[c].row, cases[c].col)) == v, "case %zu: write not seen in the base", c);
    }
    /* and writes to the base show in an existing view */
    nb_tensor *tv = nb_transpose(x, 0, 1);
    nb_tensor_set(x, S(3, 0), -1);
    ck_assert_double_eq(nb_tensor_get(tv, S(0, 3)), -1);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_views_of_views)
{
    int scope = nb_scope_begin();
    nb_tensor *x = seq(NB_F64, NB_DIMS(4, 5, 6));
    /* narrow dim 2 to [1, 5), move it first, take every 2nd of dim 1 from -4, select the last */
    nb_tensor *a = nb_narrow(x, 2, 1, 4);                  /* [4, 5, 4] */
    nb_tensor *b = nb_transpose(a, 0, 2);                  /* [4, 5, 4]: b[i][j][k] = a[k][j][i] */
    nb_tensor *c = nb_slice(b, 1, -4, 10, 2);              /* j = 1, 3 */
    nb_tensor *d = nb_select(c, 2, -1);                    /* k = 3: [4, 2] */
    nb_tensor *e = nb_unsqueeze(nb_expand(nb_unsqueeze(d, 0), NB_DIMS(2, 4, 2)), -1);
    tu_assert_shape(e, NB_DIMS(2, 4, 2, 1));
    double want[16];
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < 4; i++)
            for (int jj = 0; jj < 2; jj++)
                want[(r * 4 + i) * 2 + jj] = 3 * 30 + (1 + 2 * jj) * 6 + (1 + i); /* x[3][j][1+i] */
    tu_assert_values(e, want, 0);
    GEOM(d, S(4, 2), S(1, 12), 3 * 30 + 1 * 6 + 1);
    ck_assert(nb_tensor_shares_storage(e, x));
    /* reshape of the chain copies (not viewable) and keeps logical order */
    nb_tensor *r = nb_reshape(e, NB_DIMS(16));
    ck_assert(!nb_tensor_shares_storage(r, x));
    tu_assert_shape_values(r, NB_DIMS(16), want, 0);
    nb_scope_end(scope);
}
END_TEST

/* ---- backward ------------------------------------------------------------------------------- */
/* leaf holds 0, 1, 2, ... (a seq); y is computed from it by views (and copies). Backward with
 * grad_output g = 1, 2, 3, ... must give leaf.grad[m] = sum of g[i] over the elements i of y
 * that read leaf element m, which y's own values name. */
static void check_backward(nb_tensor *leaf, nb_tensor *y, const char *grad_fn)
{
    int scope = nb_scope_begin();
    if (grad_fn)
        ck_assert_str_eq(nb_tensor_grad_fn_name(y), grad_fn);
    int64_t nx = nb_tensor_numel(leaf), ny = nb_tensor_numel(y);
    double *yv = malloc((size_t)(ny + 1) * sizeof *yv), *gv = malloc((size_t)(ny + 1) * sizeof *gv);
    double *want = calloc((size_t)(nx + 1), sizeof *want);
    nb_tensor_to_doubles(y, yv);
    for (int64_t i = 0; i < ny; i++) {
        gv[i] = (double)(i + 1);
        want[(int64_t)yv[i]] += gv[i];
    }
    nb_tensor *g = nb_from_doubles(gv, nb_tensor_shape(y), nb_tensor_ndim(y), nb_tensor_dtype(y));
    nb_tensor_zero_grad(leaf, true);
    nb_backward(y, g, false);
    nb_tensor *gr = nb_tensor_get_grad(leaf);
    ck_assert_msg(gr != NULL, "no gradient reached the leaf");
    ck_assert(nb_tensor_same_shape(gr, leaf));
    ck_assert_int_eq(nb_tensor_dtype(gr), nb_tensor_dtype(leaf));
    if (nb_tensor_numel(gr) > 0) /* (an empty gradient: its shape above is the whole check) */
        tu_assert_values_n(gr, nx, want, 0);
    free(yv);
    free(gv);
    free(want);
    nb_scope_end(scope);
}

static nb_tensor *leaf_seq(nb_dtype dt, const int64_t *shape, int ndim)
{
    return nb_tensor_requires_grad_(seq(dt, shape, ndim), true);
}

START_TEST(test_backward_hand_checked)
{
    int scope = nb_scope_begin();
    /* the gradient of a narrow is 1 on the narrowed elements and 0 elsewhere */
    nb_tensor *x = leaf_seq(NB_F64, NB_DIMS(2, 4));
    nb_tensor *y = nb_narrow(x, 1, 1, 2);
    nb_backward(y, nb_ones(NB_DIMS(2, 2), NB_F64), false);
    tu_assert_shape_values(nb_tensor_get_grad(x), NB_DIMS(2, 4), D(0, 1, 1, 0, 0, 1, 1, 0), 0);
    /* transpose: the gradient comes back transposed */
    nb_tensor *w = leaf_seq(NB_F32, NB_DIMS(2, 3));
    nb_backward(nb_transpose(w, 0, 1), tu_tensor(NB_F32, NB_DIMS(3, 2), D(1, 2, 3, 4, 5, 6)), false);
    tu_assert_shape_values(nb_tensor_get_grad(w), NB_DIMS(2, 3), D(1, 3, 5, 2, 4, 6), 0);
    /* expand [3, 1] -> [2, 3, 2]: summed over the broadcast dims */
    nb_tensor *b = leaf_seq(NB_F64, NB_DIMS(3, 1));
    nb_tensor *gb = seq(NB_F64, NB_DIMS(2, 3, 2)); /* g[a][i][k] = 6a + 2i + k */
    nb_backward(nb_expand(b, NB_DIMS(2, 3, 2)), gb, false);
    tu_assert_shape_values(nb_tensor_get_grad(b), NB_DIMS(3, 1), D(0 + 1 + 6 + 7, 2 + 3 + 8 + 9, 4 + 5 + 10 + 11), 0);
    /* select of a row, twice: the gradients accumulate in the leaf */
    nb_tensor *s = leaf_seq(NB_F64, NB_DIMS(3, 2));
    nb_backward(nb_select(s, 0, 1), tu_tensor(NB_F64, NB_DIMS(2), D(5, 6)), false);
    nb_backward(nb_select(s, 0, -1), tu_tensor(NB_F64, NB_DIMS(2), D(7, 8)), false);
    nb_backward(nb_select(s, 1, 0), tu_tensor(NB_F64, NB_DIMS(3), D(1, 1, 1)), false);
    tu_assert_shape_values(nb_tensor_get_grad(s), NB_DIMS(3, 2), D(1, 0, 6, 6, 8, 8), 0);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_backward_each_view_op)
{
    int scope = nb_scope_begin();
    nb_tensor *x = leaf_seq(NB_F64, NB_DIMS(3, 4));
    check_backward(x, nb_view(x, NB_DIMS(2, -1)), "nb_view");
    check_backward(x, nb_reshape(x, NB_DIMS(4, 3)), "nb_reshape");
    check_backward(x, nb_transpose(x, 0, 1), "nb_transpose");
    check_backward(x, nb_permute(x, (const int[]){1, 0}), "nb_permute");
    check_backward(x, nb_narrow(x, 1, -3, 2), "nb_narrow");
    check_backward(x, nb_slice(x, 1, 0, 4, 3), "nb_slice");
    check_backward(x, nb_slice(x, 0, 1, 100, 2), "nb_slice");
    check_backward(x, nb_slice(x, 1, 3, 1, 1), "nb_slice"); /* empty */
    check_backward(x, nb_select(x, 1, -1), "nb_select");
    check_backward(x, nb_select(nb_select(x, 0, 2), 0, 1), "nb_select"); /* 0-dim output */
    check_backward(x, nb_expand(nb_unsqueeze(x, 0), NB_DIMS(3, 3, 4)), "nb_expand");
    check_backward(x, nb_expand(nb_narrow(x, 0, 1, 1), NB_DIMS(5, 4)), "nb_expand");
    check_backward(x, nb_squeeze(nb_unsqueeze(x, 1), 1), "nb_squeeze");
    check_backward(x, nb_unsqueeze(x, -1), "nb_unsqueeze");
    check_backward(x, nb_flatten(x, 0, 1), "nb_flatten");
    check_backward(x, nb_contiguous(nb_transpose(x, 0, 1)), "nb_contiguous");
    check_backward(x, nb_contiguous(x), NULL); /* x itself, a leaf */
    check_backward(x, nb_clone(x), "nb_clone");
    /* copies on the way: reshape/flatten of a transposed input */
    check_backward(x, nb_reshape(nb_transpose(x, 0, 1), NB_DIMS(12)), "nb_reshape");
    check_backward(x, nb_flatten(nb_transpose(x, 0, 1), 0, -1), "nb_flatten");
    check_backward(x, nb_view(nb_clone(nb_transpose(x, 0, 1)), NB_DIMS(2, 6)), "nb_view");
    /* pieces of split and chunk */
    nb_tensor *p[4];
    ck_assert_int_eq(nb_split(x, 3, 1, p, 4), 2);
    check_backward(x, p[1], "nb_narrow");
    ck_assert_int_eq(nb_chunk(x, 2, 0, p, 4), 2);
    check_backward(x, p[0], "nb_narrow");
    nb_tensor *x3 = leaf_seq(NB_F64, NB_DIMS(2, 3, 4));
    check_backward(x3, nb_permute(x3, (const int[]){2, 0, 1}), "nb_permute"); /* not its own inverse */
    check_backward(x3, nb_permute(x3, (const int[]){-2, -1, 0}), "nb_permute");
    check_backward(x3, nb_transpose(x3, 0, 2), "nb_transpose");
    /* a chain of views */
    check_backward(x, nb_select(nb_slice(nb_transpose(nb_narrow(x, 0, 1, 2), 0, 1), 0, 1, 4, 2), 1, 0), NULL);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_backward_dtype_and_edge_shapes)
{
    int scope = nb_scope_begin();
    /* to_dtype float32 -> float64: the gradient is float32 again */
    nb_tensor *f = leaf_seq(NB_F32, NB_DIMS(2, 3));
    nb_tensor *d = nb_to_dtype(nb_transpose(f, 0, 1), NB_F64);
    ck_assert_int_eq(nb_tensor_dtype(d), NB_F64);
    check_backward(f, d, "nb_to_dtype");
    check_backward(f, nb_to_dtype(f, NB_F32), "nb_to_dtype");
    /* float -> int is not differentiable */
    ck_assert(!nb_tensor_requires_grad(nb_to_dtype(f, NB_I32)));
    /* 0-dim leaf */
    nb_tensor *s = leaf_seq(NB_F64, NB_SCALAR);
    check_backward(s, nb_expand(s, NB_DIMS(2, 3)), "nb_expand");
    check_backward(s, nb_view(s, NB_DIMS(1, 1)), "nb_view");
    check_backward(s, nb_unsqueeze(s, 0), "nb_unsqueeze");
    check_backward(s, nb_flatten(s, 0, 0), "nb_flatten");
    /* zero-size leaf: an all-zero (empty) gradient of the right shape */
    nb_tensor *z = leaf_seq(NB_F32, NB_DIMS(0, 3));
    check_backward(z, nb_transpose(z, 0, 1), "nb_transpose");
    check_backward(z, nb_reshape(z, NB_DIMS(3, 0)), "nb_reshape");
    /* views of a tensor that does not require grad record nothing */
    nb_tensor *plain = seq(NB_F64, NB_DIMS(2, 2));
    ck_assert(nb_tensor_grad_fn_name(nb_transpose(plain, 0, 1)) == NULL);
    ck_assert(!nb_tensor_requires_grad(nb_narrow(plain, 0, 0, 1)));
    NB_NO_GRAD
    {
        ck_assert(!nb_tensor_requires_grad(nb_transpose(f, 0, 1)));
    }
    nb_scope_end(scope);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("views");
    TCase *tc = tcase_create("forward");
    tcase_add_test(tc, test_view);
    tcase_add_test(tc, test_view_misuse);
    tcase_add_test(tc, test_reshape);
    tcase_add_test(tc, test_transpose_permute);
    tcase_add_test(tc, test_transpose_permute_misuse);
    tcase_add_test(tc, test_narrow);
    tcase_add_test(tc, test_slice_python_bounds);
    tcase_add_test(tc, test_select);
    tcase_add_test(tc, test_narrow_slice_select_misuse);
    tcase_add_test(tc, test_expand);
    tcase_add_test(tc, test_expand_misuse);
    tcase_add_test(tc, test_squeeze_unsqueeze);
    tcase_add_test(tc, test_squeeze_unsqueeze_misuse);
    tcase_add_test(tc, test_flatten);
    tcase_add_test(tc, test_split_chunk);
    tcase_add_test(tc, test_contiguous_clone_to_dtype);
    tcase_add_test(tc, test_write_through_views);
    tcase_add_test(tc, test_views_of_views);
    suite_add_tcase(s, tc);

    TCase *bw = tcase_create("backward");
    tcase_add_test(bw, test_backward_hand_checked);
    tcase_add_test(bw, test_backward_each_view_op);
    tcase_add_test(bw, test_backward_dtype_and_edge_shapes);
    suite_add_tcase(s, bw);
    return tu_run_suite(s);
}
