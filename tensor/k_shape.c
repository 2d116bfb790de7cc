/* k_shape.c — index-map copies and their adjoint, one_hot (see nb__k_shape.h). */
#include "config.h"
#include "nb__k_shape.h"

/* Walks the rows of a contiguous [..., last] output: calls row(ctx, src_off, valid, out_row)
 * with the source element offset of the row's outer coordinates (maps applied, in strides). */
typedef struct {
    int nd;
    const int64_t *shape;
    const int64_t *const *maps;
    const int64_t *in_strides; /* elements */
} walk;

/* Source offset of the outer coordinates idx[0..nd-1) and whether none maps to -1. */
static bool outer_offset(const walk *w, const int64_t *idx, int64_t *off)
{
    *off = 0;
    for (int k = 0; k < w->nd - 1; k++) {
        int64_t s = w->maps[k][idx[k]];
        if (s < 0)
            return false;
        *off += s * w->in_strides[k];
    }
    return true;
}

static bool next_row(const walk *w, int64_t *idx)
{
    for (int k = w->nd - 2; k >= 0; k--) {
        if (++idx[k] < w->shape[k])
            return true;
        idx[k] = 0;
    }
    return false;
}

/* One output row: o[j] = src[off + lm[j] * ls] (elements of es bytes), or the fill value. */
static void remap_row(char *o, const char *src, int64_t off, const int64_t *lm, int64_t ls, int64_t n, size_t es,
                      const char *fillv)
{
    if (es == 4) {
        uint32_t f, *d = (uint32_t *)o;
        memcpy(&f, fillv, 4);
        for (int64_t j = 0; j < n; j++)
            d[j] = lm[j] < 0 ? f : ((const uint32_t *)src)[off + lm[j] * ls];
    } else if (es == 8) {
        uint64_t f, *d = (uint64_t *)o;
        memcpy(&f, fillv, 8);
        for (int64_t j = 0; j < n; j++)
            d[j] = lm[j] < 0 ? f : ((const uint64_t *)src)[off + lm[j] * ls];
    } else {
        for (int64_t j = 0; j < n; j++)
            memcpy(o + j * (int64_t)es, lm[j] < 0 ? fillv : src + (off + lm[j] * ls) * (int64_t)es, es);
    }
}

void nb__k_remap(nb_tensor *out, const nb_tensor *in, const int64_t *const *maps, double fill)
{
    size_t es = nb_dtype_size(out->dtype);
    char fillv[8], *o = (char *)out->storage->data + out->offset * (int64_t)es;
    const char *src = (const char *)in->storage->data + in->offset * (int64_t)es;
    nb__store(out->dtype, fillv, fill);
    if (out->ndim == 0) {
        memcpy(o, src, es);
        return;
    }
    int64_t numel = nb__numel(out->ndim, out->shape);
    if (numel == 0)
        return;
    walk w = {out->ndim, out->shape, maps, in->strides};
    int last = out->ndim - 1;
    int64_t n = out->shape[last], ls = in->strides[last], nrows = numel / n;
    int nt = nb__threads_for(numel / 4);
    if (nt > nrows)
        nt = (int)nrows;
    int64_t chunk = (nrows + nt - 1) / nt;
    NB__OMP_PARALLEL_FOR(nt)
    for (int c = 0; c < nt; c++) { /* rows [c*chunk, ...): each written by this thread alone */
        int64_t r0 = c * chunk, r1 = r0 + chunk < nrows ? r0 + chunk : nrows, idx[NB_MAX_DIMS] = {0}, rem = r0;
        for (int k = last - 1; k >= 0; k--) {
            idx[k] = rem % out->shape[k];
            rem /= out->shape[k];
        }
        for (int64_t row = r0; row < r1; row++, next_row(&w, idx)) {
            int64_t off;
            char *orow = o + row * n * (int64_t)es;
            if (outer_offset(&w, idx, &off))
                remap_row(orow, src, off, maps[last], ls, n, es, fillv);
            else
                for (int64_t j = 0; j < n; j++)
                    memcpy(orow + j * (int64_t)es, fillv, es);
        }
    }
}

void nb__k_remap_add(nb_tensor *gin, const nb_tensor *g, const int64_t *const *maps)
{
    bool f32 = gin->dtype == NB_F32;
    char *dst = (char *)gin->storage->data + gin->offset * (int64_t)nb_dtype_size(gin->dtype);
    const char *gp = (const char *)g->storage->data + g->offset * (int64_t)nb_dtype_size(g->dtype);
    if (g->ndim == 0) {
        if (f32)
            *(float *)dst += *(const float *)gp;
        else
            *(double *)dst += *(const double *)gp;
        return;
    }
    if (nb__numel(g->ndim, g->shape) == 0)
        return;
    walk w = {g->ndim, g->shape, maps, gin->strides};
    int last = g->ndim - 1;
    int64_t idx[NB_MAX_DIMS] = {0}, n = g->shape[last], ls = gin->strides[last], row = 0;
    const int64_t *lm = maps[last];
    do {
        int64_t off;
        if (outer_offset(&w, idx, &off)) {
            for (int64_t j = 0; j < n; j++) {
                if (lm[j] < 0)
                    continue;
                int64_t p = off + lm[j] * ls;
                if (f32)
                    ((float *)dst)[p] += ((const float *)gp)[row + j];
                else
                    ((double *)dst)[p] += ((const double *)gp)[row + j];
            }
        }
        row += n;
    } while (next_row(&w, idx));
}

void nb__k_one_hot(nb_tensor *out, const nb_tensor *idx, int64_t c)
{
    int64_t *o = (int64_t *)out->storage->data + out->offset;
    const int64_t *v = (const int64_t *)idx->storage->data + idx->offset;
    int64_t n = nb__numel(idx->ndim, idx->shape);
    memset(o, 0, (size_t)(n * c) * sizeof *o);
    for (int64_t i = 0; i < n; i++)
        o[i * c + v[i]] = 1;
}
