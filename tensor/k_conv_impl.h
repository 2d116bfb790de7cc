/* k_conv_impl.h — the per-dtype loops of k_conv.c, included once per element type with
 *     #define NB_T float      (the element type)
 *     #define NB_SFX f32      (the name suffix)
 * Defines static functions named <name>_<sfx>. No autograd, no threading (callers split planes
 * or samples over threads). */
#ifndef NB_T
#error "define NB_T and NB_SFX before including k_conv_impl.h"
#endif

#define NB__CC2(a, b) a##_##b
#define NB__CC(a, b) NB__CC2(a, b)
#define FN(name) NB__CC(name, NB_SFX)

/* im2col_part for stride 1 with OW == W (e.g. "same" padding): a tap's row of the part is the
 * plane shifted by one offset, so its in-bounds run is one contiguous copy; then the columns that
 * wrapped around a row edge (the horizontal padding) are zeroed. */
static void FN(im2col_rows_part)(const nb__conv_geom *g, int64_t C, const NB_T *x, NB_T *col, int64_t oh0,
                                 int64_t oh1)
{
    int64_t W = g->W, HW = g->H * g->W, n = (oh1 - oh0) * W, base = oh0 * W;
    for (int64_t c = 0; c < C; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                NB_T *row = col + ((c * g->kh + ki) * g->kw + kj) * n;
                const NB_T *xc = x + c * HW;
                int64_t offw = kj * g->dw - g->pw, offh = ki * g->dh - g->ph, v0, v1, lo, hi;
                conv_valid(offh, 1, g->H, g->OH, &v0, &v1);
                conv_valid(offw, 1, W, W, &lo, &hi);
                int64_t a0 = v0 > oh0 ? v0 : oh0, a1 = v1 < oh1 ? v1 : oh1;
                a1 = a1 < a0 ? a0 : a1;
                int64_t shift = offh * W + offw, d0 = a0 * W, d1 = a1 * W;
                int64_t c0 = d0 > -shift ? d0 : -shift, c1 = d1 < HW - shift ? d1 : HW - shift;
                if (c1 < c0)
                    c0 = c1 = d0;
                memset(row, 0, (size_t)(c0 - base) * sizeof *row);
                memcpy(row + c0 - base, xc + c0 + shift, (size_t)(c1 - c0) * sizeof *row);
                memset(row + c1 - base, 0, (size_t)(oh1 * W - c1) * sizeof *row);
                if (lo > 0 || hi < W)
                    for (int64_t oh = a0; oh < a1; oh++) {
                        NB_T *r = row + (oh - oh0) * W;
                        for (int64_t ow = 0; ow < lo; ow++)
                            r[ow] = 0;
                        for (int64_t ow = hi; ow < W; ow++)
                            r[ow] = 0;
                    }
            }
}

/* Output rows [oh0, oh1) of the unfolded x [C, H, W]: col [C*kh*kw, (oh1 - oh0)*OW], row
 * (c, ki, kj), column (oh - oh0, ow). Each row of col is the input plane shifted by its tap: for
 * stride 1 an in-bounds run is one memcpy, the padding a run of zeros. A part of a few output
 * rows stays in cache for the GEMM that reads it (k_conv.c). */
static void FN(im2col_part)(const nb__conv_geom *g, int64_t C, const NB_T *x, NB_T *col, int64_t oh0, int64_t oh1)
{
    int64_t OW = g->OW, n = (oh1 - oh0) * OW;
    if (g->sh == 1 && g->sw == 1 && OW == g->W) {
        FN(im2col_rows_part)(g, C, x, col, oh0, oh1);
        return;
    }
    for (int64_t c = 0; c < C; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                NB_T *row = col + ((c * g->kh + ki) * g->kw + kj) * n;
                const NB_T *xc = x + c * g->H * g->W;
                int64_t offw = kj * g->dw - g->pw, lo, hi;
                conv_valid(offw, g->sw, g->W, OW, &lo, &hi);
                for (int64_t oh = oh0; oh < oh1; oh++) {
                    NB_T *r = row + (oh - oh0) * OW;
                    int64_t ih = oh * g->sh + ki * g->dh - g->ph;
                    if (ih < 0 || ih >= g->H || lo >= hi) {
                        memset(r, 0, (size_t)OW * sizeof *r);
                        continue;
                    }
                    const NB_T *src = xc + ih * g->W + offw;
                    memset(r, 0, (size_t)lo * sizeof *r);
                    if (g->sw == 1)
                        memcpy(r + lo, src + lo, (size_t)(hi - lo) * sizeof *r);
                    else
                        for (int64_t ow = lo; ow < hi; ow++)
                            r[ow] = src[ow * g->sw];
                    memset(r + hi, 0, (size_t)(OW - hi) * sizeof *r);
                }
            }
}

/* ---- implicit GEMM: col's packed panels straight from x ------------------------------------ */
/* d[0, n) = the tap (ki, kj) of the n output positions (oh, ow), (oh, ow + 1), ... of one row,
 * read from the plane xc (0 where the tap falls in the padding): a run of col's row. */
static inline void FN(pack_seg)(const nb__conv_geom *g, const NB_T *xc, int64_t oh, int64_t ow, int64_t ki,
                                int64_t kj, int64_t n, NB_T *restrict d)
{
    int64_t ih = oh * g->sh - g->ph + ki * g->dh, iw = ow * g->sw - g->pw + kj * g->dw, lo = n, hi = n;
    if (ih >= 0 && ih < g->H) {
        if (g->sw == 1) {
            lo = iw >= 0 ? 0 : -iw < n ? -iw : n;
            hi = g->W - iw < n ? g->W - iw : n;
            hi = hi < lo ? lo : hi;
        } else {
            conv_valid(iw, g->sw, g->W, n, &lo, &hi);
        }
    }
    const NB_T *src = lo < hi ? xc + ih * g->W + iw : xc;
    int64_t q = 0;
    for (; q < lo; q++)
        d[q] = 0;
    if (g->sw == 1)
        for (; q < hi; q++)
            d[q] = src[q];
    else
        for (; q < hi; q++)
            d[q] = src[q * g->sw];
    for (; q < n; q++)
        d[q] = 0;
}

/* One row (c, ki, kj) of an nr-wide panel of col (output columns j .. j + n, n <= nr; xc the
 * plane of c): one run per output row the panel spans, zeros past n. */
static inline void FN(pack_row)(const nb__conv_geom *g, const NB_T *xc, int64_t j, int64_t ki, int64_t kj,
                                int n, int nr, NB_T *restrict d)
{
    int64_t oh = j / g->OW, ow = j % g->OW;
    for (int64_t q = 0, left = n; left > 0; oh++, ow = 0) { /* one run per output row */
        int64_t seg = g->OW - ow < left ? g->OW - ow : left;
        FN(pack_seg)(g, xc, oh, ow, ki, kj, seg, d + q);
        q += seg, left -= seg;
    }
    for (int q = n; q < nr; q++)
        d[q] = 0;
}

/* One tap's run in a panel of nr output columns within one output row (stride 1): the inputs
 * at xc + off + q for q in [lo, hi), zeros elsewhere. */
typedef struct {
    int64_t off;
    int lo, hi;
} FN(tap_run);

/* The panel's runs per tap t = ki*kw + kj, from output position (oh, ow) (stride 1, n columns). */
static void FN(tap_runs)(const nb__conv_geom *g, int64_t oh, int64_t ow, int n, FN(tap_run) *tr)
{
    for (int64_t ki = 0, t = 0; ki < g->kh; ki++)
        for (int64_t kj = 0; kj < g->kw; kj++, t++) {
            int64_t ih = oh * g->sh - g->ph + ki * g->dh, iw = ow - g->pw + kj * g->dw, lo = n, hi = n;
            if (ih >= 0 && ih < g->H) {
                lo = iw >= 0 ? 0 : -iw < n ? -iw : n;
                hi = g->W - iw < n ? g->W - iw : n;
                hi = hi < lo ? lo : hi;
            }
            tr[t] = (FN(tap_run)){lo < hi ? ih * g->W + iw : 0, (int)lo, (int)hi};
        }
}

/* Rows [p0, p0 + kc) of one panel from its tap runs (d: nr values per row). */
static void FN(pack_runs)(const NB_T *x, int64_t HW, int64_t kk, const FN(tap_run) *tr, int64_t p0, int64_t kc,
                          int nr, NB_T *restrict d)
{
    int64_t c = p0 / kk, t = p0 % kk;
    const NB_T *xc = x + c * HW;
    for (int64_t p = 0; p < kc; p++, d += nr) {
        const FN(tap_run) *r = &tr[t];
        const NB_T *src = xc + r->off;
        if (r->lo == 0 && r->hi == nr && nr == 16) {
            memcpy(d, src, 16 * sizeof *d);
        } else if (r->lo == 0 && r->hi == nr && nr == 8) {
            memcpy(d, src, 8 * sizeof *d);
        } else { /* padding: zeros, then the run (written as three loops, GCC calls memset,
                    memmove and memset: slower for 16 values) */
            if (nr == 16)
                memset(d, 0, 16 * sizeof *d);
            else
                memset(d, 0, (size_t)nr * sizeof *d);
            if (r->lo < r->hi)
                memcpy(d + r->lo, src + r->lo, (size_t)(r->hi - r->lo) * sizeof *d);
        }
        if (++t == kk)
            t = 0, xc += HW;
    }
}

/* Most taps of a window a panel's table holds (larger windows take pack_row per row). */
#define NB__CONV_TAPS 64

/* nb__gemm_pack_b_fn over col, the unfolded x [C, H, W] of im2col_part (all output rows; ctx: a
 * conv_pack_ctx): rows [p0, p0 + kc) x columns [j0, j0 + nc) as nr-wide panels, read from x,
 * the same values im2col would have stored. A panel within one output row at stride 1 (the
 * common case) reads one run of an input row per tap, from a table of the window's runs. */
static void FN(pack_col)(void *ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int nr, void *out)
{
    const conv_pack_ctx *cx = ctx;
    const nb__conv_geom *g = cx->g;
    const NB_T *x = cx->x;
    NB_T *dst = out;
    int64_t kk = g->kh * g->kw, HW = g->H * g->W;
    FN(tap_run) tr[NB__CONV_TAPS];
    for (int64_t jr = 0; jr < nc; jr += nr, dst += nr * kc) {
        int n = (int)(nc - jr < nr ? nc - jr : nr);
        int64_t oh = (j0 + jr) / g->OW, ow = (j0 + jr) % g->OW;
        if (g->sw == 1 && ow + n <= g->OW && kk <= NB__CONV_TAPS) {
            FN(tap_runs)(g, oh, ow, n, tr);
            FN(pack_runs)(x, HW, kk, tr, p0, kc, nr, dst);
            continue;
        }
        int64_t c = p0 / kk, ki = p0 % kk / g->kw, kj = p0 % g->kw;
        NB_T *d = dst;
        for (int64_t p = 0; p < kc; p++, d += nr) {
            FN(pack_row)(g, x + c * HW, j0 + jr, ki, kj, n, nr, d);
            if (++kj == g->kw) {
                kj = 0;
                if (++ki == g->kh)
                    ki = 0, c++;
            }
        }
    }
}

/* The weights of the input gradient as a convolution of dy (stride 1, "same" padding): per group,
 * wf [Cig, Cog*kh*kw] with wf[ci][(co, ki, kj)] = w[co][ci][kh-1-ki][kw-1-kj] (w [G*Cog, Cig, kh, kw],
 * wf [G, Cig, Cog*kh*kw]). */
static void FN(flip_weights)(int64_t G, int64_t Cog, int64_t Cig, int64_t kh, int64_t kw, const NB_T *w, NB_T *wf)
{
    int64_t kk = kh * kw;
    for (int64_t g = 0; g < G; g++)
        for (int64_t ci = 0; ci < Cig; ci++)
            for (int64_t co = 0; co < Cog; co++)
                for (int64_t k = 0; k < kk; k++)
                    wf[((g * Cig + ci) * Cog + co) * kk + k] = w[((g * Cog + co) * Cig + ci) * kk + (kk - 1 - k)];
}

/* col2im for stride 1 with OW == W (the transpose of im2col_rows): the wrapped columns of each
 * tap's row are zeroed in col (scratch), then the row is added to the shifted plane in one run. */
static void FN(col2im_rows)(const nb__conv_geom *g, int64_t C, NB_T *col, NB_T *restrict dx)
{
    int64_t W = g->W, HW = g->H * g->W, OHW = g->OH * W;
    for (int64_t c = 0; c < C; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                NB_T *restrict row = col + ((c * g->kh + ki) * g->kw + kj) * OHW;
                NB_T *dc = dx + c * HW;
                int64_t offw = kj * g->dw - g->pw, offh = ki * g->dh - g->ph, oh0, oh1, lo, hi;
                conv_valid(offh, 1, g->H, g->OH, &oh0, &oh1);
                conv_valid(offw, 1, W, W, &lo, &hi);
                if (lo > 0 || hi < W)
                    for (int64_t oh = oh0; oh < oh1; oh++) {
                        for (int64_t ow = 0; ow < lo; ow++)
                            row[oh * W + ow] = 0;
                        for (int64_t ow = hi; ow < W; ow++)
                            row[oh * W + ow] = 0;
                    }
                int64_t shift = offh * W + offw, d0 = oh0 * W, d1 = oh1 * W;
                int64_t c0 = d0 > -shift ? d0 : -shift, c1 = d1 < HW - shift ? d1 : HW - shift;
                NB_T *dst = dc + shift;
                for (int64_t d = c0; d < c1; d++)
                    dst[d] += row[d];
            }
}

/* dx [C, H, W] = the sum, over col's entries, of each into the input element it was unfolded from
 * (overwrites dx; taps added in (ki, kj, oh, ow) order). col is scratch: it may be modified. */
static void FN(col2im)(const nb__conv_geom *g, int64_t C, NB_T *col, NB_T *dx)
{
    int64_t OW = g->OW, OHW = g->OH * g->OW;
    memset(dx, 0, (size_t)(C * g->H * g->W) * sizeof *dx);
    if (g->sh == 1 && g->sw == 1 && OW == g->W) {
        FN(col2im_rows)(g, C, col, dx);
        return;
    }
    for (int64_t c = 0; c < C; c++)
        for (int64_t ki = 0; ki < g->kh; ki++)
            for (int64_t kj = 0; kj < g->kw; kj++) {
                const NB_T *row = col + ((c * g->kh + ki) * g->kw + kj) * OHW;
                NB_T *dc = dx + c * g->H * g->W;
                int64_t offw = kj * g->dw - g->pw, lo, hi;
                conv_valid(offw, g->sw, g->W, OW, &lo, &hi);
                for (int64_t oh = 0; oh < g->OH; oh++) {
                    int64_t ih = oh * g->sh + ki * g->dh - g->ph;
                    if (ih < 0 || ih >= g->H)
                        continue;
                    const NB_T *r = row + oh * OW;
                    NB_T *dst = dc + ih * g->W + offw;
                    if (g->sw == 1)
                        for (int64_t ow = lo; ow < hi; ow++)
                            dst[ow] += r[ow];
                    else
                        for (int64_t ow = lo; ow < hi; ow++)
                            dst[ow * g->sw] += r[ow];
                }
            }
}

/* y [C, n] += b[c] per row. */
static void FN(bias_rows)(int64_t C, int64_t n, NB_T *y, const NB_T *b)
{
    for (int64_t c = 0; c < C; c++) {
        NB_T v = b[c], *r = y + c * n;
        for (int64_t i = 0; i < n; i++)
            r[i] += v;
    }
}

/* out [G, Cog, CK] = the sum over k, in k order, of parts[k] [G, CK, Cog] (transposed per group). */
static void FN(sum_parts)(int64_t nparts, int64_t G, int64_t CK, int64_t Cog, const NB_T *parts, NB_T *out)
{
    int64_t n = G * CK * Cog;
    for (int64_t g = 0; g < G; g++)
        for (int64_t k = 0; k < CK; k++)
            for (int64_t o = 0; o < Cog; o++) {
                const NB_T *src = parts + (g * CK + k) * Cog + o;
                NB_T v = src[0];
                for (int64_t p = 1; p < nparts; p++)
                    v += src[p * n];
                out[(g * Cog + o) * CK + k] = v;
            }
}

/* db[c] = sum over samples and positions of dy [N, C, n], in double. Channels c0..c1. */
static void FN(bias_grad)(int64_t N, int64_t C, int64_t n, const NB_T *dy, NB_T *db, int64_t c0, int64_t c1)
{
    for (int64_t c = c0; c < c1; c++) {
        double s = 0;
        for (int64_t b = 0; b < N; b++) {
            const NB_T *r = dy + (b * C + c) * n;
            for (int64_t i = 0; i < n; i++)
                s += (double)r[i];
        }
        db[c] = (NB_T)s;
    }
}

/* ---- pooling, one plane ------------------------------------------------------------------- */
static void FN(max_plane)(const nb__conv_geom *g, const NB_T *x, NB_T *y, int64_t *idx)
{
    for (int64_t oh = 0; oh < g->OH; oh++)
        for (int64_t ow = 0; ow < g->OW; ow++) {
            NB_T best = (NB_T)-INFINITY;
            int64_t at = -1;
            for (int64_t ki = 0; ki < g->kh; ki++) {
                int64_t ih = oh * g->sh - g->ph + ki * g->dh;
                if (ih < 0 || ih >= g->H)
                    continue;
                for (int64_t kj = 0; kj < g->kw; kj++) {
                    int64_t iw = ow * g->sw - g->pw + kj * g->dw;
                    if (iw < 0 || iw >= g->W)
                        continue;
                    NB_T v = x[ih * g->W + iw];
                    if (at < 0 || v > best || isnan(v)) /* as torch: ties keep the first, NaN wins */
                        best = v, at = ih * g->W + iw;
                }
            }
            y[oh * g->OW + ow] = best;
            idx[oh * g->OW + ow] = at;
        }
}

static void FN(max_plane_back)(const nb__conv_geom *g, const int64_t *idx, const NB_T *dy, NB_T *dx)
{
    memset(dx, 0, (size_t)(g->H * g->W) * sizeof *dx);
    for (int64_t o = 0; o < g->OH * g->OW; o++)
        if (idx[o] >= 0)
            dx[idx[o]] += dy[o];
}

/* The window of output (oh, ow) clipped to the data ([h0, h1) x [w0, w1)); returns the divisor
 * (`divisor` itself when > 0). */
static inline double FN(avg_window)(const nb__conv_geom *g, bool include_pad, int64_t divisor, int64_t oh,
                                    int64_t ow, int64_t *h0, int64_t *h1, int64_t *w0, int64_t *w1)
{
    int64_t a = oh * g->sh - g->ph, b = ow * g->sw - g->pw;
    int64_t ae = a + g->kh < g->H + g->ph ? a + g->kh : g->H + g->ph;
    int64_t be = b + g->kw < g->W + g->pw ? b + g->kw : g->W + g->pw;
    int64_t padded = (ae - a) * (be - b);
    *h0 = a < 0 ? 0 : a, *w0 = b < 0 ? 0 : b;
    *h1 = ae < g->H ? ae : g->H, *w1 = be < g->W ? be : g->W;
    int64_t inside = (*h1 - *h0) * (*w1 - *w0);
    return (double)(divisor > 0 ? divisor : include_pad ? padded : inside);
}

static void FN(avg_plane)(const nb__conv_geom *g, bool include_pad, int64_t divisor, const NB_T *x, NB_T *y)
{
    for (int64_t oh = 0; oh < g->OH; oh++)
        for (int64_t ow = 0; ow < g->OW; ow++) {
            int64_t h0, h1, w0, w1;
            double div = FN(avg_window)(g, include_pad, divisor, oh, ow, &h0, &h1, &w0, &w1), s = 0;
            for (int64_t ih = h0; ih < h1; ih++)
                for (int64_t iw = w0; iw < w1; iw++)
                    s += (double)x[ih * g->W + iw];
            y[oh * g->OW + ow] = (NB_T)(s / div);
        }
}

static void FN(avg_plane_back)(const nb__conv_geom *g, bool include_pad, int64_t divisor, const NB_T *dy,
                                NB_T *dx)
{
    memset(dx, 0, (size_t)(g->H * g->W) * sizeof *dx);
    for (int64_t oh = 0; oh < g->OH; oh++)
        for (int64_t ow = 0; ow < g->OW; ow++) {
            int64_t h0, h1, w0, w1;
            double div = FN(avg_window)(g, include_pad, divisor, oh, ow, &h0, &h1, &w0, &w1);
            NB_T v = (NB_T)((double)dy[oh * g->OW + ow] / div);
            for (int64_t ih = h0; ih < h1; ih++)
                for (int64_t iw = w0; iw < w1; iw++)
                    dx[ih * g->W + iw] += v;
        }
}

/* ---- max unpooling, one plane ------------------------------------------------------------ */
static void FN(unpool_plane)(int64_t n, int64_t m, const int64_t *idx, const NB_T *x, NB_T *y)
{
    memset(y, 0, (size_t)m * sizeof *y);
    for (int64_t i = 0; i < n; i++)
        y[idx[i]] = x[i];
}

static void FN(unpool_plane_back)(int64_t n, const int64_t *idx, const NB_T *dy, NB_T *dx)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = dy[idx[i]];
}

#undef FN
#undef NB__CC
#undef NB__CC2
