/* k_interp_impl.h — per-dtype interpolation loops, included by k_interp.c once per element type:
 *     #define NB_T float      (the element type)
 *     #define NB_SFX f32      (the name suffix)
 * Defines static functions named <name>_<sfx>. No autograd, no threading (the caller splits
 * planes). The coordinate arithmetic is torch 1.13's (see nb__k_interp.h): its scale and source
 * index are computed in NB_T, the linear source coordinate (i + 0.5) * scale - 0.5 in double and
 * rounded to NB_T, the nearest one rounded to float before the floor. */
#ifndef NB_T
#error "define NB_T and NB_SFX before including k_interp_impl.h"
#endif

#define NB__CC2(a, b) a##_##b
#define NB__CC(a, b) NB__CC2(a, b)
#define FN(name) NB__CC(name, NB_SFX)

/* Source positions and weights of one axis (see axis_table in k_interp.c for the layout). */
typedef struct {
    int64_t *i0, *i1; /* source index per output index (nearest: i0 only) */
    NB_T *l0, *l1;    /* their weights (linear only) */
} FN(axis);

static NB_T FN(axis_scale)(int64_t in, int64_t out, double s, bool align_corners)
{
    if (align_corners)
        return out > 1 ? (NB_T)(in - 1) / (NB_T)(out - 1) : (NB_T)0;
    return s > 0 ? (NB_T)(1.0 / s) : (NB_T)in / (NB_T)out;
}

static void FN(axis_fill)(FN(axis) *a, int64_t in, int64_t out, double s, bool linear, bool align_corners)
{
    NB_T scale = FN(axis_scale)(in, out, s, align_corners);
    for (int64_t i = 0; i < out; i++) {
        if (!linear) {
            int64_t src = (int64_t)floorf((float)(scale * (NB_T)i));
            a->i0[i] = src < in - 1 ? src : in - 1;
            continue;
        }
        if (out == in) { /* torch copies (whatever the scale factor) */
            a->i0[i] = a->i1[i] = i, a->l0[i] = 1, a->l1[i] = 0;
            continue;
        }
        NB_T r = align_corners ? scale * (NB_T)i : (NB_T)((double)scale * ((double)i + 0.5) - 0.5);
        if (r < 0)
            r = 0;
        int64_t i0 = (int64_t)r;
        NB_T l1 = r - (NB_T)i0;
        l1 = l1 < 0 ? 0 : l1 > 1 ? 1 : l1;
        a->i0[i] = i0, a->i1[i] = i0 < in - 1 ? i0 + 1 : i0;
        a->l1[i] = l1, a->l0[i] = (NB_T)1 - l1;
    }
}

/* ---- nearest ------------------------------------------------------------------------------ */
static void FN(nearest_plane)(const nb__interp_geom *g, const FN(axis) *ah, const FN(axis) *aw, const NB_T *x,
                              NB_T *y)
{
    for (int64_t oh = 0; oh < g->OH; oh++) {
        const NB_T *row = x + ah->i0[oh] * g->W;
        NB_T *yr = y + oh * g->OW;
        for (int64_t ow = 0; ow < g->OW; ow++)
            yr[ow] = row[aw->i0[ow]];
    }
}

static void FN(nearest_plane_back)(const nb__interp_geom *g, const FN(axis) *ah, const FN(axis) *aw, const NB_T *dy,
                                   NB_T *dx)
{
    memset(dx, 0, (size_t)(g->H * g->W) * sizeof *dx);
    for (int64_t oh = 0; oh < g->OH; oh++) {
        NB_T *row = dx + ah->i0[oh] * g->W;
        const NB_T *dr = dy + oh * g->OW;
        for (int64_t ow = 0; ow < g->OW; ow++)
            row[aw->i0[ow]] += dr[ow];
    }
}

/* ---- (bi)linear --------------------------------------------------------------------------- */
/* One input row blended along w at output column ow (a zero weight's tap is not read). */
static inline NB_T FN(blend_w)(const FN(axis) *aw, const NB_T *row, int64_t ow)
{
    NB_T t = row[aw->i0[ow]] * aw->l0[ow];
    return aw->l1[ow] != 0 ? t + row[aw->i1[ow]] * aw->l1[ow] : t;
}

static void FN(linear_plane)(const nb__interp_geom *g, const FN(axis) *ah, const FN(axis) *aw, const NB_T *x,
                             NB_T *y)
{
    for (int64_t oh = 0; oh < g->OH; oh++) {
        const NB_T *r0 = x + ah->i0[oh] * g->W, *r1 = x + ah->i1[oh] * g->W;
        NB_T h0 = ah->l0[oh], h1 = ah->l1[oh], *yr = y + oh * g->OW;
        if (h1 == 0) /* then h0 == 1: the row itself (all of 1-D, whose h axis is a copy) */
            for (int64_t ow = 0; ow < g->OW; ow++)
                yr[ow] = FN(blend_w)(aw, r0, ow) * h0;
        else
            for (int64_t ow = 0; ow < g->OW; ow++)
                yr[ow] = FN(blend_w)(aw, r0, ow) * h0 + FN(blend_w)(aw, r1, ow) * h1;
    }
}

/* dy[oh][ow] spread to its (up to four) taps with the product of their weights, in output order. */
static void FN(linear_plane_back)(const nb__interp_geom *g, const FN(axis) *ah, const FN(axis) *aw, const NB_T *dy,
                                  NB_T *dx)
{
    memset(dx, 0, (size_t)(g->H * g->W) * sizeof *dx);
    for (int64_t oh = 0; oh < g->OH; oh++) {
        NB_T *r0 = dx + ah->i0[oh] * g->W, *r1 = dx + ah->i1[oh] * g->W;
        NB_T h0 = ah->l0[oh], h1 = ah->l1[oh];
        const NB_T *dr = dy + oh * g->OW;
        for (int64_t ow = 0; ow < g->OW; ow++) {
            NB_T d = dr[ow], w0 = aw->l0[ow], w1 = aw->l1[ow];
            int64_t c0 = aw->i0[ow], c1 = aw->i1[ow];
            r0[c0] += h0 * w0 * d;
            if (w1 != 0)
                r0[c1] += h0 * w1 * d;
            if (h1 != 0) {
                r1[c0] += h1 * w0 * d;
                if (w1 != 0)
                    r1[c1] += h1 * w1 * d;
            }
        }
    }
}

#undef FN
#undef NB__CC
#undef NB__CC2
