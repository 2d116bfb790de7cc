/* iter.c — broadcasting shapes and the strided N-d iterator used by elementwise kernels. */
#include "config.h"
#include "nb__tensor.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int nb__broadcast_shape(const char *op, int an, const int64_t *as, int bn, const int64_t *bs, int64_t *out)
{
    int n = an > bn ? an : bn;
    for (int i = 0; i < n; i++) {
        int ai = an - n + i, bi = bn - n + i;
        int64_t a = ai >= 0 ? as[ai] : 1, b = bi >= 0 ? bs[bi] : 1;
        if (a != b && a != 1 && b != 1)
            nb__fail("%s: shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)", op,
                     nb__shape_text(an, as).s, nb__shape_text(bn, bs).s, i - n, (long long)a, (long long)b);
        out[i] = a == 1 ? b : a;
    }
    return n;
}

bool nb__broadcastable_to(int n, const int64_t *s, int on, const int64_t *os)
{
    if (n > on)
        return false;
    for (int i = 0; i < n; i++) {
        int64_t a = s[n - 1 - i], b = os[on - 1 - i];
        if (a != b && a != 1)
            return false;
    }
    return true;
}

void nb__iter_init(nb__iter *it, nb_tensor *out, int nin, const nb_tensor *const *ins)
{
    int nd = out->ndim;
    it->nops = 1 + nin;
    it->cost = 1;
    it->numel = nb__numel(nd, out->shape);
    const nb_tensor *ops[NB__ITER_MAX_OPS];
    ops[0] = out;
    for (int k = 0; k < nin; k++)
        ops[1 + k] = ins[k];
    /* fast path: every operand contiguous with out's shape: one run of numel elements */
    bool flat = it->numel > 0;
    for (int k = 0; k < it->nops && flat; k++) {
        bool same = k == 0 || (ops[k]->ndim == nd && !memcmp(ops[k]->shape, out->shape, (size_t)nd * sizeof(int64_t)));
        flat = same && nb_tensor_is_contiguous(ops[k]);
    }
    if (flat) {
        it->ndim = 1;
        it->shape[0] = it->numel;
        for (int k = 0; k < it->nops; k++) {
            int64_t es = (int64_t)nb_dtype_size(ops[k]->dtype);
            it->base[k] = (char *)ops[k]->storage->data + ops[k]->offset * es;
            it->strides[k][0] = it->numel > 1 ? es : 0;
        }
        return;
    }
    /* broadcast every operand to out's shape: missing/size-1 dims get stride 0 */
    int64_t shape[NB_MAX_DIMS], strides[NB__ITER_MAX_OPS][NB_MAX_DIMS];
    for (int d = 0; d < nd; d++)
        shape[d] = out->shape[d];
    for (int k = 0; k < it->nops; k++) {
        const nb_tensor *t = ops[k];
        int64_t es = (int64_t)nb_dtype_size(t->dtype);
        it->base[k] = (char *)t->storage->data + t->offset * es;
        for (int d = 0; d < nd; d++) {
            int td = t->ndim - nd + d;
            strides[k][d] = (td >= 0 && t->shape[td] != 1) ? t->strides[td] * es : 0;
        }
    }
    /* drop size-1 dims, then coalesce dim pairs that are contiguous for every operand */
    int m = 0;
    for (int d = 0; d < nd; d++) {
        if (shape[d] == 1)
            continue;
        if (m > 0) {
            bool merge = true;
            for (int k = 0; k < it->nops && merge; k++)
                merge = strides[k][m - 1] == strides[k][d] * shape[d];
            if (merge) {
                it->shape[m - 1] *= shape[d];
                for (int k = 0; k < it->nops; k++)
                    it->strides[k][m - 1] = strides[k][d];
                continue;
            }
        }
        it->shape[m] = shape[d];
        for (int k = 0; k < it->nops; k++)
            it->strides[k][m] = strides[k][d];
        m++;
    }
    if (m == 0) { /* 0-dim or all size-1: one element */
        it->shape[0] = it->numel ? 1 : 0;
        for (int k = 0; k < it->nops; k++)
            it->strides[k][0] = 0;
        m = 1;
    }
    it->ndim = m;
}

/* Runs elements [begin, end) in row-major order over the coalesced shape. */
static void iter_range(const nb__iter *it, int64_t begin, int64_t end, nb__loop_fn fn, void *ctx)
{
    int nd = it->ndim, last = nd - 1;
    int64_t idx[NB_MAX_DIMS];
    int64_t rem = begin;
    for (int d = last; d >= 0; d--) {
        idx[d] = rem % it->shape[d];
        rem /= it->shape[d];
    }
    char *ptrs[NB__ITER_MAX_OPS];
    int64_t inner[NB__ITER_MAX_OPS];
    for (int k = 0; k < it->nops; k++)
        inner[k] = it->strides[k][last];
    int64_t pos = begin;
    while (pos < end) {
        for (int k = 0; k < it->nops; k++) {
            char *p = it->base[k];
            for (int d = 0; d < nd; d++)
                p += idx[d] * it->strides[k][d];
            ptrs[k] = p;
        }
        int64_t n = it->shape[last] - idx[last];
        if (n > end - pos)
            n = end - pos;
        fn(ptrs, inner, n, ctx);
        pos += n;
        idx[last] += n;
        for (int d = last; d > 0 && idx[d] >= it->shape[d]; d--) {
            idx[d] = 0;
            idx[d - 1]++;
        }
    }
}

void nb__iter_run(const nb__iter *it, nb__loop_fn fn, void *ctx)
{
    if (it->numel == 0)
        return;
    double w = (double)it->numel * it->cost;
    int nt = nb__threads_for(w < 9e18 ? (int64_t)w : INT64_MAX);
    if (nt <= 1) {
        iter_range(it, 0, it->numel, fn, ctx);
        return;
    }
    int64_t chunk = (it->numel + nt - 1) / nt;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nt) schedule(static)
#endif
    for (int c = 0; c < nt; c++) {
        int64_t b = c * chunk, e = b + chunk < it->numel ? b + chunk : it->numel;
        if (b < e)
            iter_range(it, b, e, fn, ctx);
    }
}
