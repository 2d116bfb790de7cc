/* k_conv.c — convolution (im2col + GEMM) and pooling kernels; see nb__k_conv.h for the scheme.
 * The per-dtype loops are in k_conv_impl.h, included once per element type; this file holds the
 * drivers: the GEMM calls, the thread split, and the dtype dispatch. */
#include "config.h"
#include "nb__k_conv.h"
#include "nb__k_gemm.h"

#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Output positions ow in [*lo, *hi) (within [0, OW)) whose tap column ow*s + off lies in [0, W). */
static void conv_valid(int64_t off, int64_t s, int64_t W, int64_t OW, int64_t *lo, int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = W - 1 - off < 0 ? 0 : (W - 1 - off) / s + 1;
    h = h < OW ? h : OW;
    *lo = l < h ? l : h;
    *hi = h;
}

/* What an implicit GEMM's B packing reads (pack_col in k_conv_impl.h): the unfold of the plane
 * stack x [C, H, W] over geometry g. */
typedef struct {
    const nb__conv_geom *g;
    const void *x;
} conv_pack_ctx;

#define NB_T float
#define NB_SFX f32
#include "k_conv_impl.h"
#undef NB_T
#undef NB_SFX
#define NB_T double
#define NB_SFX f64
#include "k_conv_impl.h"
#undef NB_T
#undef NB_SFX

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* ==== convolution ============================================================================= */
/* Output columns unfolded at a time: whole output rows, about this many columns (a part of
 * 64 channels x 3x3 taps x 256 columns is 590 KB: it stays in L2 for the GEMM that packs it). */
#define PART_COLS 256

/* One convolution's derived sizes and the per-group GEMM offsets (in elements). */
typedef struct {
    const nb__conv_shape *s;
    nb_dtype dt;
    size_t esz;
    int64_t Cig, Cog, CK, OHW, HW; /* CK = Cig*kh*kw: one group's col rows */
    int64_t kk, rows;              /* kh*kw; output rows per unfolded part */
    bool direct;                   /* 1x1, stride 1, no padding: col is the input itself */
    bool same;   /* stride 1, no dilation, odd window, padding (k-1)/2: dx is a convolution of dy */
    bool implicit_fwd, implicit_dx; /* the forward / the same-geometry dx GEMMs pack col's panels
                                       straight from x / dy (nb__gemm_packed_b), no unfold */
    int64_t *offw, *offy, *offx, *offwf; /* [groups]: g*Cog*CK (weight), g*Cog*OHW (y), g*Cig*HW (x),
                                            g*Cig*Cog*kk (flipped weight) */
} plan;

static void plan_init(plan *p, nb_dtype dt, const nb__conv_shape *s)
{
    const nb__conv_geom *g = &s->g;
    p->s = s, p->dt = dt, p->esz = dt == NB_F32 ? sizeof(float) : sizeof(double);
    p->Cig = s->Cin / s->groups, p->Cog = s->Cout / s->groups;
    p->kk = g->kh * g->kw;
    p->CK = p->Cig * p->kk, p->OHW = g->OH * g->OW, p->HW = g->H * g->W;
    p->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 &&
                g->OH == g->H && g->OW == g->W;
    p->same = !p->direct && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 && g->OH == g->H &&
              g->OW == g->W && 2 * g->ph == g->kh - 1 && 2 * g->pw == g->kw - 1;
    p->rows = p->direct ? g->OH : (g->OW >= PART_COLS ? 1 : PART_COLS / (g->OW > 0 ? g->OW : 1));
    /* nb__gemm_batched runs a one-row or one-column product unpacked (other arithmetic): the
     * implicit path, which keeps the bits of the unfold + GEMM one, needs M >= 2 and no part of
     * the unfold path with a single column (OW == 1 and a last part of one row) */
    bool col1 = g->OW == 1 && g->OH % p->rows == 1;
    p->implicit_fwd = !p->direct && p->Cog >= 2 && !col1;
    p->implicit_dx = p->same && p->Cig >= 2 && !col1;
    size_t n = (size_t)s->groups * sizeof(int64_t);
    p->offw = nb__alloc(4 * n);
    p->offy = p->offw + s->groups, p->offx = p->offy + s->groups, p->offwf = p->offx + s->groups;
    for (int64_t i = 0; i < s->groups; i++) {
        p->offw[i] = i * p->Cog * p->CK, p->offy[i] = i * p->Cog * p->OHW, p->offx[i] = i * p->Cig * p->HW;
        p->offwf[i] = i * p->Cig * p->Cog * p->kk;
    }
}

static void plan_free(plan *p) { nb__free(p->offw, 4 * (size_t)p->s->groups * sizeof(int64_t)); }

/* Columns of one unfolded part (whole output rows). */
static int64_t part_cols(const plan *p) { return p->rows * p->s->g.OW; }

/* Per-thread workspace: the unfolded part of x, (same) the unfolded part of dy, or (dx otherwise)
 * one whole unfolded sample, then 2*groups part offsets. */
typedef struct {
    size_t xcol, dcol, offs, total; /* byte offsets / sizes within one thread's block */
} ws_layout;

/* unfold_x: parts of x are unfolded (the forward without the implicit path, the weight gradient) */
static ws_layout ws_for(const plan *p, bool unfold_x, bool dx)
{
    ws_layout l;
    size_t cols = (size_t)part_cols(p), rows = (size_t)(p->s->Cin * p->kk);
    size_t xc = p->direct || !unfold_x ? 0 : rows * cols * p->esz;
    if (dx && !p->direct && !p->same) { /* the GEMM + col2im path unfolds a whole sample */
        size_t full = rows * (size_t)p->OHW * p->esz;
        xc = full > xc ? full : xc;
    }
    size_t dc = dx && p->same && !p->implicit_dx ? (size_t)(p->s->Cout * p->kk) * cols * p->esz : 0;
    l.xcol = 0, l.dcol = (xc + 63) / 64 * 64, l.offs = l.dcol + (dc + 63) / 64 * 64;
    l.total = l.offs + 2 * (size_t)p->s->groups * sizeof(int64_t);
    return l;
}

/* Address of sample n of a [N, rows] tensor. */
static const char *sample(const plan *p, const void *base, int64_t rows, int64_t n)
{
    return (const char *)base + (size_t)(n * rows) * p->esz;
}

static const char *elems(const plan *p, const void *base, int64_t k) { return (const char *)base + (size_t)k * p->esz; }

/* Threads to run `tasks` independent tasks of `fmas` multiply-adds each on, one task per thread
 * at a time (each task's GEMMs then run single-threaded); 1 when the tasks would balance badly,
 * and the caller runs them in turn with the GEMMs threaded instead. */
static int task_threads(int64_t tasks, double fmas)
{
    double w = fmas * (double)tasks / 64;
    int nt = nb__threads_for(w > 1e15 ? (int64_t)1e15 : (int64_t)w);
    if (nt > tasks)
        nt = (int)tasks;
    return nt > 1 && (tasks % nt == 0 || tasks >= 4 * nt) ? nt : 1;
}

/* Output rows [oh0, oh1) of the unfolded sample x [C, H, W] into col. */
static void unfold(const plan *p, int64_t C, const void *x, void *col, int64_t oh0, int64_t oh1)
{
    if (p->dt == NB_F32)
        im2col_part_f32(&p->s->g, C, x, col, oh0, oh1);
    else
        im2col_part_f64(&p->s->g, C, x, col, oh0, oh1);
}

static void col2im(const plan *p, void *col, void *dx)
{
    if (p->dt == NB_F32)
        col2im_f32(&p->s->g, p->s->Cin, col, dx);
    else
        col2im_f64(&p->s->g, p->s->Cin, col, dx);
}

/* offs[g] = g * rows * cols (a part's per-group offsets). */
static int64_t *part_offsets(const plan *p, char *ws, const ws_layout *l, int which, int64_t rows, int64_t cols)
{
    int64_t *o = (int64_t *)(void *)(ws + l->offs) + which * p->s->groups;
    for (int64_t g = 0; g < p->s->groups; g++)
        o[g] = g * rows * cols;
    return o;
}

static nb__gemm_pack_b_fn pack_fn(const plan *p) { return p->dt == NB_F32 ? pack_col_f32 : pack_col_f64; }

/* Per group: C = A @ col(src_g) (beta 0), the whole output plane in one product whose B panels
 * are packed straight from src_g (the group's Csrc planes at src + g*Csrc*HW), with A + offa[g],
 * C + offc[g] (row stride ldc). */
static void implicit_gemms(const plan *p, int64_t M, int64_t K, const void *A, const int64_t *offa, const void *src,
                           int64_t Csrc, void *C, int64_t ldc, const int64_t *offc)
{
    for (int64_t g = 0; g < p->s->groups; g++) {
        conv_pack_ctx cx = {&p->s->g, elems(p, src, g * Csrc * p->HW)};
        nb__gemm_packed_b(p->dt, M, p->OHW, K, elems(p, A, offa[g]), K, pack_fn(p), &cx, 0.0,
                          (void *)elems(p, C, offc[g]), ldc);
    }
}

/* y[n] = W @ col(x[n]) (+ b): implicit, or one GEMM per group and part of output rows. */
static void forward_sample(const plan *p, const ws_layout *l, int64_t n, const void *x, const void *w, const void *b,
                           void *y, char *ws)
{
    const nb__conv_shape *s = p->s;
    const void *xn = sample(p, x, s->Cin * p->HW, n);
    void *yn = (void *)sample(p, y, s->Cout * p->OHW, n);
    if (p->implicit_fwd)
        implicit_gemms(p, p->Cog, p->CK, w, p->offw, xn, p->Cig, yn, p->OHW, p->offy);
    for (int64_t oh0 = 0; !p->implicit_fwd && oh0 < s->g.OH; oh0 += p->rows) {
        int64_t oh1 = oh0 + p->rows < s->g.OH ? oh0 + p->rows : s->g.OH, nc = (oh1 - oh0) * s->g.OW;
        const void *col = xn;
        int64_t ldb = p->OHW, *offc = p->offx; /* direct: the input itself (one part) */
        if (!p->direct) {
            unfold(p, s->Cin, xn, ws + l->xcol, oh0, oh1);
            col = ws + l->xcol, ldb = nc, offc = part_offsets(p, ws, l, 0, p->CK, nc);
        }
        nb__gemm_batched(p->dt, false, false, p->Cog, nc, p->CK, 1.0, w, p->CK, p->offw, col, ldb, offc, 0.0,
                         (void *)elems(p, yn, oh0 * s->g.OW), p->OHW, p->offy, s->groups);
    }
    if (!b)
        return;
    if (p->dt == NB_F32)
        bias_rows_f32(s->Cout, p->OHW, yn, b);
    else
        bias_rows_f64(s->Cout, p->OHW, yn, b);
}

void nb__k_conv_forward(nb_dtype dt, const nb__conv_shape *s, const void *x, const void *w, const void *b, void *y)
{
    if (s->N == 0 || s->Cout == 0 || s->g.OH * s->g.OW == 0)
        return;
    plan p;
    plan_init(&p, dt, s);
    int nt = task_threads(s->N, (double)s->Cout * (double)p.CK * (double)p.OHW);
    ws_layout l = ws_for(&p, !p.implicit_fwd, false);
    char *ws = nb__alloc((size_t)nt * l.total);
    if (nt > 1) {
        NB__OMP_PARALLEL_FOR(nt)
        for (int64_t n = 0; n < s->N; n++)
            forward_sample(&p, &l, n, x, w, b, y, ws + (size_t)thread_id() * l.total);
    } else { /* no region around the GEMMs: each uses every thread */
        for (int64_t n = 0; n < s->N; n++)
            forward_sample(&p, &l, n, x, w, b, y, ws);
    }
    nb__free(ws, (size_t)nt * l.total);
    plan_free(&p);
}

/* dW_part += (dy[n] @ col(x[n])^T)^T per group, as [groups, CK, Cog], one GEMM per part of output
 * rows (the first one of the chunk overwrites: beta 0). */
static void weight_grad_sample(const plan *p, const ws_layout *l, const void *xn, const void *dyn, bool first,
                               void *dw_part, char *ws)
{
    const nb__conv_shape *s = p->s;
    for (int64_t oh0 = 0; oh0 < s->g.OH; oh0 += p->rows) {
        int64_t oh1 = oh0 + p->rows < s->g.OH ? oh0 + p->rows : s->g.OH, nc = (oh1 - oh0) * s->g.OW;
        const void *col = xn;
        int64_t lda = p->OHW, *offc = p->offx;
        if (!p->direct) {
            unfold(p, s->Cin, xn, ws + l->xcol, oh0, oh1);
            col = ws + l->xcol, lda = nc, offc = part_offsets(p, ws, l, 0, p->CK, nc);
        }
        /* dW_g^T [CK, Cog] += col_g @ dy_g^T: the unfolded part is A (packed as stored) and the
         * small dy the transposed B (~15% faster than dW_g = dy_g @ col_g^T, measured) */
        nb__gemm_batched(p->dt, false, true, p->CK, p->Cog, nc, 1.0, col, lda, offc,
                         elems(p, dyn, oh0 * s->g.OW), p->OHW, p->offy, first && oh0 == 0 ? 0.0 : 1.0, dw_part,
                         p->Cog, p->offw, s->groups);
    }
}

/* dx[n] (same geometry): the convolution of dy[n] with the flipped weights wf, one GEMM per group
 * and part of rows. Otherwise: col'_g = W_g^T @ dy[n]_g, folded back (col2im). */
static void input_grad_sample(const plan *p, const ws_layout *l, const void *w, const void *wf, const void *dyn,
                              void *dxn, char *ws)
{
    const nb__conv_shape *s = p->s;
    if (p->implicit_dx) {
        implicit_gemms(p, p->Cig, p->Cog * p->kk, wf, p->offwf, dyn, p->Cog, dxn, p->HW, p->offx);
        return;
    }
    if (p->same) {
        int64_t Kd = p->Cog * p->kk;
        for (int64_t oh0 = 0; oh0 < s->g.OH; oh0 += p->rows) {
            int64_t oh1 = oh0 + p->rows < s->g.OH ? oh0 + p->rows : s->g.OH, nc = (oh1 - oh0) * s->g.OW;
            unfold(p, s->Cout, dyn, ws + l->dcol, oh0, oh1);
            int64_t *offd = part_offsets(p, ws, l, 1, Kd, nc);
            nb__gemm_batched(p->dt, false, false, p->Cig, nc, Kd, 1.0, wf, Kd, p->offwf, ws + l->dcol, nc, offd, 0.0,
                             (void *)elems(p, dxn, oh0 * s->g.W), p->HW, p->offx, s->groups);
        }
        return;
    }
    void *cg = p->direct ? dxn : ws + l->xcol;
    int64_t *offc = p->direct ? p->offx : part_offsets(p, ws, l, 0, p->CK, p->OHW);
    nb__gemm_batched(p->dt, true, false, p->CK, p->OHW, p->Cog, 1.0, w, p->CK, p->offw, dyn, p->OHW, p->offy, 0.0,
                     cg, p->OHW, offc, s->groups);
    if (!p->direct)
        col2im(p, cg, dxn);
}

/* The backward of samples [n0, n1): dw_part = the sum of the samples' weight gradients (when
 * wanted), dx[n] (when wanted). */
static void backward_chunk(const plan *p, const ws_layout *l, int64_t n0, int64_t n1, const void *x, const void *w,
                           const void *wf, const void *dy, void *dx, void *dw_part, char *ws)
{
    const nb__conv_shape *s = p->s;
    for (int64_t n = n0; n < n1; n++) {
        const void *dyn = sample(p, dy, s->Cout * p->OHW, n);
        if (dw_part)
            weight_grad_sample(p, l, sample(p, x, s->Cin * p->HW, n), dyn, n == n0, dw_part, ws);
        if (dx)
            input_grad_sample(p, l, w, wf, dyn, (void *)sample(p, dx, s->Cin * p->HW, n), ws);
    }
}

/* db [C] = the sums of dy [N, C, n] over N and n (in double), channels split over threads. */
static void bias_grad(nb_dtype dt, int64_t N, int64_t C, int64_t n, const void *dy, void *db)
{
    int nt = nb__threads_for(N * C * n / 4);
    nt = nt > C ? (int)(C > 0 ? C : 1) : nt;
    if (nt > 1) {
        NB__OMP_PARALLEL_FOR(nt)
        for (int t = 0; t < nt; t++) {
            int64_t c0 = C * t / nt, c1 = C * (t + 1) / nt;
            if (dt == NB_F32)
                bias_grad_f32(N, C, n, dy, db, c0, c1);
            else
                bias_grad_f64(N, C, n, dy, db, c0, c1);
        }
    } else if (dt == NB_F32) {
        bias_grad_f32(N, C, n, dy, db, 0, C);
    } else {
        bias_grad_f64(N, C, n, dy, db, 0, C);
    }
}

/* Chunks of samples the weight gradient is summed over separately (then added in order): a
 * function of the batch size only, so results do not depend on the thread count. */
#define DW_CHUNKS 8

void nb__k_conv_backward(nb_dtype dt, const nb__conv_shape *s, const void *x, const void *w, const void *dy,
                         void *dx, void *dw, void *db)
{
    if (db)
        bias_grad(dt, s->N, s->Cout, s->g.OH * s->g.OW, dy, db);
    plan p;
    plan_init(&p, dt, s);
    size_t wbytes = (size_t)(s->Cout * p.CK) * p.esz;
    bool empty = s->N == 0 || s->Cout == 0 || p.OHW == 0;
    if (empty || (!dx && !dw)) { /* no products: the gradients are zero */
        if (dx)
            memset(dx, 0, (size_t)(s->N * s->Cin * p.HW) * p.esz);
        if (dw)
            memset(dw, 0, wbytes);
        plan_free(&p);
        return;
    }
    int64_t chunks = dw ? (s->N < DW_CHUNKS ? s->N : DW_CHUNKS) : s->N;
    double fmas = (double)s->Cout * (double)p.CK * (double)p.OHW * (double)(s->N / chunks);
    fmas *= (dx != NULL) + (dw != NULL);
    int nt = task_threads(chunks, fmas);
    ws_layout l = ws_for(&p, dw != NULL, dx != NULL);
    char *ws = nb__alloc((size_t)nt * l.total);
    char *parts = dw ? nb__alloc((size_t)chunks * wbytes) : NULL;
    char *wf = dx && p.same ? nb__alloc(wbytes) : NULL; /* the flipped weights of the input gradient */
    if (wf && dt == NB_F32)
        flip_weights_f32(s->groups, p.Cog, p.Cig, s->g.kh, s->g.kw, w, (float *)(void *)wf);
    else if (wf)
        flip_weights_f64(s->groups, p.Cog, p.Cig, s->g.kh, s->g.kw, w, (double *)(void *)wf);
    if (nt > 1) {
        NB__OMP_PARALLEL_FOR(nt)
        for (int64_t k = 0; k < chunks; k++)
            backward_chunk(&p, &l, s->N * k / chunks, s->N * (k + 1) / chunks, x, w, wf, dy, dx,
                           parts ? parts + (size_t)k * wbytes : NULL, ws + (size_t)thread_id() * l.total);
    } else {
        for (int64_t k = 0; k < chunks; k++)
            backward_chunk(&p, &l, s->N * k / chunks, s->N * (k + 1) / chunks, x, w, wf, dy, dx,
                           parts ? parts + (size_t)k * wbytes : NULL, ws);
    }
    if (wf)
        nb__free(wf, wbytes);
    if (parts) {
        if (dt == NB_F32)
            sum_parts_f32(chunks, s->groups, p.CK, p.Cog, (const float *)parts, dw);
        else
            sum_parts_f64(chunks, s->groups, p.CK, p.Cog, (const double *)parts, dw);
        nb__free(parts, (size_t)chunks * wbytes);
    }
    nb__free(ws, (size_t)nt * l.total);
    plan_free(&p);
}

/* ==== transposed convolution: the adjoint of the convolution s ================================ */
void nb__k_conv_transpose_forward(nb_dtype dt, const nb__conv_shape *s, const void *x, const void *w, const void *b,
                                  void *y)
{
    nb__k_conv_backward(dt, s, NULL, w, x, y, NULL, NULL); /* y = the input gradient of s for dy = x */
    if (!b)
        return;
    int64_t n = s->g.H * s->g.W;
    size_t esz = dt == NB_F32 ? sizeof(float) : sizeof(double);
    for (int64_t i = 0; i < s->N; i++) {
        char *yi = (char *)y + (size_t)(i * s->Cin * n) * esz;
        if (dt == NB_F32)
            bias_rows_f32(s->Cin, n, (float *)(void *)yi, b);
        else
            bias_rows_f64(s->Cin, n, (double *)(void *)yi, b);
    }
}

void nb__k_conv_transpose_backward(nb_dtype dt, const nb__conv_shape *s, const void *x, const void *w,
                                   const void *dy, void *dx, void *dw, void *db)
{
    if (db)
        bias_grad(dt, s->N, s->Cin, s->g.H * s->g.W, dy, db);
    if (dx && s->Cin == 0) /* no taps: the forward below would not write dx */
        memset(dx, 0, (size_t)(s->N * s->Cout * s->g.OH * s->g.OW) * (dt == NB_F32 ? sizeof(float) : sizeof(double)));
    else if (dx)
        nb__k_conv_forward(dt, s, dy, w, NULL, dx); /* dx = s applied to dy */
    if (dw) /* s's weight gradient with dy as its input and x as its output gradient */
        nb__k_conv_backward(dt, s, dy, w, x, NULL, dw, NULL);
}

/* ==== pooling ================================================================================= */
/* Threads for P planes of `per` operations each (planes are independent: any split gives the
 * same values). */
static int plane_threads(int64_t P, int64_t per)
{
    int nt = nb__threads_for(P * per);
    return nt > P ? (int)(P > 0 ? P : 1) : nt;
}

void nb__k_max_pool_forward(nb_dtype dt, const nb__conv_geom *g, int64_t P, const void *x, void *y, int64_t *idx)
{
    int64_t in = g->H * g->W, out = g->OH * g->OW;
    int nt = plane_threads(P, out * g->kh * g->kw);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t p = 0; p < P; p++) {
        if (dt == NB_F32)
            max_plane_f32(g, (const float *)x + p * in, (float *)y + p * out, idx + p * out);
        else
            max_plane_f64(g, (const double *)x + p * in, (double *)y + p * out, idx + p * out);
    }
}

void nb__k_max_pool_backward(nb_dtype dt, const nb__conv_geom *g, int64_t P, const int64_t *idx, const void *dy,
                             void *dx)
{
    int64_t in = g->H * g->W, out = g->OH * g->OW;
    int nt = plane_threads(P, in + out);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t p = 0; p < P; p++) {
        if (dt == NB_F32)
            max_plane_back_f32(g, idx + p * out, (const float *)dy + p * out, (float *)dx + p * in);
        else
            max_plane_back_f64(g, idx + p * out, (const double *)dy + p * out, (double *)dx + p * in);
    }
}

void nb__k_avg_pool_forward(nb_dtype dt, const nb__conv_geom *g, int64_t P, bool count_include_pad, int64_t divisor,
                            const void *x, void *y)
{
    int64_t in = g->H * g->W, out = g->OH * g->OW;
    int nt = plane_threads(P, out * g->kh * g->kw);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t p = 0; p < P; p++) {
        if (dt == NB_F32)
            avg_plane_f32(g, count_include_pad, divisor, (const float *)x + p * in, (float *)y + p * out);
        else
            avg_plane_f64(g, count_include_pad, divisor, (const double *)x + p * in, (double *)y + p * out);
    }
}

void nb__k_avg_pool_backward(nb_dtype dt, const nb__conv_geom *g, int64_t P, bool count_include_pad,
                             int64_t divisor, const void *dy, void *dx)
{
    int64_t in = g->H * g->W, out = g->OH * g->OW;
    int nt = plane_threads(P, in + out * g->kh * g->kw);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t p = 0; p < P; p++) {
        if (dt == NB_F32)
            avg_plane_back_f32(g, count_include_pad, divisor, (const float *)dy + p * out, (float *)dx + p * in);
        else
            avg_plane_back_f64(g, count_include_pad, divisor, (const double *)dy + p * out, (double *)dx + p * in);
    }
}

void nb__k_max_unpool_forward(nb_dtype dt, int64_t P, int64_t n, int64_t m, const int64_t *idx, const void *x,
                              void *y)
{
    int nt = plane_threads(P, n + m);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t p = 0; p < P; p++) {
        if (dt == NB_F32)
            unpool_plane_f32(n, m, idx + p * n, (const float *)x + p * n, (float *)y + p * m);
        else
            unpool_plane_f64(n, m, idx + p * n, (const double *)x + p * n, (double *)y + p * m);
    }
}

void nb__k_max_unpool_backward(nb_dtype dt, int64_t P, int64_t n, int64_t m, const int64_t *idx, const void *dy,
                               void *dx)
{
    int nt = plane_threads(P, n);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t p = 0; p < P; p++) {
        if (dt == NB_F32)
            unpool_plane_back_f32(n, idx + p * n, (const float *)dy + p * m, (float *)dx + p * n);
        else
            unpool_plane_back_f64(n, idx + p * n, (const double *)dy + p * m, (double *)dx + p * n);
    }
}
