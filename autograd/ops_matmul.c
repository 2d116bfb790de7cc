/* ops_matmul.c — nb_matmul (torch.matmul semantics) on the GEMM kernels, and its backward.
 *
 * Forward: both operands are promoted to >= 2 dims (a 1-D a is [1, K], a 1-D b is [K, 1]); their
 * batch dims (all but the last two) broadcast. Each matrix operand goes to the kernel without a
 * copy when its last two dims have a unit column stride (row stride = leading dimension) or a
 * unit row stride (used as a transposed operand); only other layouts are copied. Batch dims are
 * walked with per-batch element offsets (a broadcast batch dim is stride 0: no copy). When b has
 * no batch dims and a's batch and row dims merge into one stride, the whole product is a single
 * GEMM of (batch*M) x K by K x N (as PyTorch folds it).
 *
 * Backward: dA = g @ B^T, dB = A^T @ g, computed by nb_matmul on transposed views, broadcast batch
 * dims summed back with nb__sum_to_shape, 1-D promotions undone with a reshape.
 *
 * bfloat16 autocast (nb_autocast_begin): a float32 product rounds its operands as the GEMM packs
 * them (nb__gemm_batched_bf16); the node remembers it and its backward's two products do the same. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__k_gemm.h"

/* One operand as the kernel sees it: matrices rows x cols, batch dims aligned to the output's. */
typedef struct {
    int nd;                      /* dims after promotion (>= 2) */
    int64_t shape[NB_MAX_DIMS];  /* promoted shape */
    int64_t stride[NB_MAX_DIMS]; /* promoted element strides */
    bool trans;                  /* kernel transpose flag */
    int64_t ld;                  /* kernel leading dimension */
} operand;

/* Promotes t (1-D: a size-1 dim at `pos` 0 for a, 1 for b) into op's shape/strides. */
static void promote(const nb_tensor *t, int pos, operand *op)
{
    if (t->ndim == 1) {
        op->nd = 2;
        op->shape[pos] = 1, op->stride[pos] = t->shape[0] * t->strides[0];
        op->shape[1 - pos] = t->shape[0], op->stride[1 - pos] = t->strides[0];
        return;
    }
    op->nd = t->ndim;
    memcpy(op->shape, t->shape, (size_t)t->ndim * sizeof *t->shape);
    memcpy(op->stride, t->strides, (size_t)t->ndim * sizeof *t->strides);
}

/* Kernel layout of the last two dims; false when they need a contiguous copy. */
static bool matrix_layout(operand *op)
{
    int64_t rows = op->shape[op->nd - 2], cols = op->shape[op->nd - 1];
    int64_t rs = op->stride[op->nd - 2], cs = op->stride[op->nd - 1];
    if (cs == 1 || cols <= 1) {
        op->trans = false;
        op->ld = rows <= 1 ? (cols > 1 ? cols : 1) : rs;
        return true;
    }
    if (rs == 1 || rows <= 1) {
        op->trans = true;
        op->ld = cols <= 1 ? (rows > 1 ? rows : 1) : cs;
        return true;
    }
    return false;
}

/* Element offset of batch `bi` (row-major over bshape) in operand op, whose batch dims are
 * right-aligned to bshape (missing or size-1 dims broadcast). */
static int64_t batch_offset(const operand *op, int bnd, const int64_t *bshape, int64_t bi)
{
    int64_t off = 0;
    int own = op->nd - 2;
    for (int d = bnd - 1; d >= 0; d--) {
        int64_t idx = bi % bshape[d];
        bi /= bshape[d];
        int od = d - (bnd - own);
        if (od >= 0 && op->shape[od] != 1)
            off += idx * op->stride[od];
    }
    return off;
}

/* When a's batch dims and row dim merge into one dim of stride rs (row-major nesting), sets
 * *rs and returns true. */
static bool rows_fold(const operand *a, int64_t *rs)
{
    int prev = -1;
    *rs = a->ld;
    for (int d = 0; d <= a->nd - 2; d++) {
        if (a->shape[d] == 1)
            continue;
        if (prev >= 0 && a->stride[prev] != a->stride[d] * a->shape[d])
            return false;
        prev = d;
    }
    if (prev >= 0)
        *rs = a->stride[prev];
    return true;
}

static void matmul_backward(nb__node *n, nb_tensor *g, nb_tensor **gin);
NB__DEFINE_OP(matmul, matmul_backward);

nb_tensor *nb_matmul(const nb_tensor *a, const nb_tensor *b)
{
    nb__check_float("nb_matmul", a);
    nb__check_float("nb_matmul", b);
    nb__check_same_dtype("nb_matmul", a, b);
    if (a->ndim == 0 || b->ndim == 0)
        nb__fail("nb_matmul: both arguments need at least 1 dim, got shapes %s and %s", NB__SHAPE(a),
                 NB__SHAPE(b));
    int64_t ka = a->shape[a->ndim - 1], kb = b->shape[b->ndim == 1 ? 0 : b->ndim - 2];
    if (ka != kb)
        nb__fail("nb_matmul: shapes %s and %s cannot be multiplied (%lld != %lld)", NB__SHAPE(a),
                 NB__SHAPE(b), (long long)ka, (long long)kb);

    operand A, B;
    promote(a, 0, &A);
    promote(b, 1, &B);

    /* broadcast batch shape */
    int an = A.nd - 2, bn = B.nd - 2, bnd = an > bn ? an : bn;
    int64_t bshape[NB_MAX_DIMS], nbatch = 1;
    for (int i = 0; i < bnd; i++) {
        int ai = an - bnd + i, bi = bn - bnd + i;
        int64_t x = ai >= 0 ? A.shape[ai] : 1, y = bi >= 0 ? B.shape[bi] : 1;
        if (x != y && x != 1 && y != 1)
            nb__fail("nb_matmul: batch dims of shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)",
                     NB__SHAPE(a), NB__SHAPE(b), i - bnd - 2, (long long)x, (long long)y);
        bshape[i] = x == 1 ? y : x;
        nbatch *= bshape[i];
    }

    int scope = nb_scope_begin();
    const nb_tensor *ac = a, *bc = b;
    if (!matrix_layout(&A)) {
        ac = nb__contiguous_copy(a);
        promote(ac, 0, &A);
        matrix_layout(&A);
    }
    if (!matrix_layout(&B)) {
        bc = nb__contiguous_copy(b);
        promote(bc, 1, &B);
        matrix_layout(&B);
    }
    int64_t M = A.shape[A.nd - 2], K = ka, N = B.shape[B.nd - 1];

    /* result: batch + [M] (unless a is 1-D) + [N] (unless b is 1-D) */
    int64_t oshape[NB_MAX_DIMS];
    int ond = bnd;
    memcpy(oshape, bshape, (size_t)bnd * sizeof *bshape);
    if (a->ndim > 1)
        oshape[ond++] = M;
    if (b->ndim > 1)
        oshape[ond++] = N;
    nb_tensor *out = nb__tensor_new(a->dtype, oshape, ond);

    const char *pa = nb_tensor_data(ac), *pb = nb_tensor_data(bc);
    int64_t rs;
    void (*gemm)(nb_dtype, bool, bool, int64_t, int64_t, int64_t, double, const void *, int64_t,
                 const int64_t *, const void *, int64_t, const int64_t *, double, void *, int64_t,
                 const int64_t *, int64_t) =
        nb__autocast_for(a->dtype) ? nb__gemm_batched_bf16 : nb__gemm_batched;
    if (nbatch * M * N == 0) {
        /* nothing to compute */
    } else if (bn == 0 && !A.trans && rows_fold(&A, &rs)) {
        gemm(a->dtype, false, B.trans, nbatch * M, N, K, 1.0, pa, rs, NULL, pb, B.ld, NULL, 0.0,
             nb_tensor_data(out), N, NULL, 1);
    } else {
        int64_t *offs = nb__alloc(3 * (size_t)nbatch * sizeof *offs);
        for (int64_t i = 0; i < nbatch; i++) {
            offs[i] = batch_offset(&A, bnd, bshape, i);
            offs[nbatch + i] = batch_offset(&B, bnd, bshape, i);
            offs[2 * nbatch + i] = i * M * N;
        }
        gemm(a->dtype, A.trans, B.trans, M, N, K, 1.0, pa, A.ld, offs, pb, B.ld, offs + nbatch, 0.0,
             nb_tensor_data(out), N, offs + 2 * nbatch, nbatch);
        nb__free(offs, 3 * (size_t)nbatch * sizeof *offs);
    }
    out = nb__scope_return(scope, out);

    nb__node *node = NB__RECORD(matmul, out, a, b);
    if (node) {
        nb__save(node, a);
        nb__save(node, b);
    }
    return out;
}

/* dA = g @ B^T summed to A's shape; dB = A^T @ g summed to B's shape (on the promoted shapes,
 * reshaped back for 1-D operands). g's shape is the promoted result's with the 1-D dims removed. */
static void matmul_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *a = nb__saved(n, 0), *b = nb__saved(n, 1);
    nb_tensor *a2 = a->ndim == 1 ? nb_unsqueeze(a, 0) : a;  /* [1, K] */
    nb_tensor *b2 = b->ndim == 1 ? nb_unsqueeze(b, 1) : b;  /* [K, 1] */
    int64_t gs[NB_MAX_DIMS];
    int gbatch = g->ndim - (a->ndim > 1) - (b->ndim > 1), gnd = gbatch + 2;
    memcpy(gs, g->shape, (size_t)gbatch * sizeof *gs);
    gs[gbatch] = a2->shape[a2->ndim - 2];
    gs[gbatch + 1] = b2->shape[b2->ndim - 1];
    nb_tensor *g2 = nb_reshape(g, gs, gnd);
    int prev_autocast = nb__autocast_swap(n->autocast); /* the products below, as the forward's */

    if (nb__needs_grad(n, 0)) {
        nb_tensor *da = nb_matmul(g2, nb_transpose(b2, -1, -2));
        da = nb__sum_to_shape(da, a2->ndim, a2->shape);
        gin[0] = nb_reshape(da, a->shape, a->ndim);
    }
    if (nb__needs_grad(n, 1)) {
        nb_tensor *db;
        if (b2->ndim == 2 && gnd > 2) { /* batch folded into the rows: one GEMM, no batch sum */
            int64_t rows = 1;
            for (int d = 0; d < gnd - 1; d++)
                rows *= gs[d];
            nb_tensor *af = nb_reshape(a2, NB_DIMS(rows, a2->shape[a2->ndim - 1]));
            nb_tensor *gf = nb_reshape(g2, NB_DIMS(rows, gs[gbatch + 1]));
            db = nb_matmul(nb_transpose(af, 0, 1), gf);
        } else {
            db = nb_matmul(nb_transpose(a2, -1, -2), g2);
            db = nb__sum_to_shape(db, b2->ndim, b2->shape);
        }
        gin[1] = nb_reshape(db, b->shape, b->ndim);
    }
    nb__autocast_swap(prev_autocast);
}
