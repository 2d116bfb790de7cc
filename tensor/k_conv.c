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
/* One convolution's derived sizes and the per-group GEMM offsets (in elements). */
typedef struct {
    const nb__conv_shape *s;
    nb_dtype dt;
    size_t esz;
    int64_t Cig, Cog, CK, OHW, HW; /* CK = Cig*kh*kw: one group's col rows */
    bool direct;                   /* 1x1, stride 1, no padding: col is the input itself */
    int64_t *offw, *offy, *offc;   /* [groups]: g*Cog*CK (weight), g*Cog*OHW (y), g*CK*OHW (col) */
} plan;

static void plan_init(plan *p, nb_dtype dt, const nb__conv_shape *s)
{
    const nb__conv_geom *g = &s->g;
    p->s = s, p->dt = dt, p->esz = dt == NB_F32 ? sizeof(float) : sizeof(double);
    p->Cig = s->Cin / s->groups, p->Cog = s->Cout / s->groups;
    p->CK = p->Cig * g->kh * g->kw, p->OHW = g->OH * g->OW, p->HW = g->H * g->W;
    p->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 &&
                g->OH == g->H && g->OW == g->W;
    size_t n = (size_t)s->groups * sizeof(int64_t);
    p->offw = nb__alloc(3 * n);
    p->offy = p->offw + s->groups, p->offc = p->offy + s->groups;
    for (int64_t i = 0; i < s->groups; i++)
        p->offw[i] = i * p->Cog * p->CK, p->offy[i] = i * p->Cog * p->OHW, p->offc[i] = i * p->CK * p->OHW;
}

static void plan_free(plan *p) { nb__free(p->offw, 3 * (size_t)p->s->groups * sizeof(int64_t)); }

/* Bytes of one unfolded sample (0 when the input is used directly). */
static size_t col_bytes(const plan *p) { return p->direct ? 0 : (size_t)(p->s->groups * p->CK * p->OHW) * p->esz; }

/* Address of sample n of a [N, rows] tensor. */
static const char *sample(const plan *p, const void *base, int64_t rows, int64_t n)
{
    return (const char *)base + (size_t)(n * rows) * p->esz;
}

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

static void im2col(const plan *p, const void *x, void *col)
{
    if (p->dt == NB_F32)
        im2col_f32(&p->s->g, p->s->Cin, x, col);
    else
        im2col_f64(&p->s->g, p->s->Cin, x, col);
}

static void col2im(const plan *p, void *col, void *dx)
{
    if (p->dt == NB_F32)
        col2im_f32(&p->s->g, p->s->Cin, col, dx);
    else
        col2im_f64(&p->s->g, p->s->Cin, col, dx);
}

/* y[n] = W @ col(x[n]) (+ b), one GEMM per group. */
static void forward_sample(const plan *p, int64_t n, const void *x, const void *w, const void *b, void *y,
                           void *colbuf)
{
    const nb__conv_shape *s = p->s;
    const void *col = sample(p, x, s->Cin * p->HW, n);
    if (!p->direct) {
        im2col(p, col, colbuf);
        col = colbuf;
    }
    void *yn = (void *)sample(p, y, s->Cout * p->OHW, n);
    nb__gemm_batched(p->dt, false, false, p->Cog, p->OHW, p->CK, 1.0, w, p->CK, p->offw, col, p->OHW, p->offc,
                     0.0, yn, p->OHW, p->offy, s->groups);
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
    size_t cb = col_bytes(&p);
    char *ws = cb ? nb__alloc((size_t)nt * cb) : NULL;
    if (nt > 1) {
        NB__OMP_PARALLEL_FOR(nt)
        for (int64_t n = 0; n < s->N; n++)
            forward_sample(&p, n, x, w, b, y, ws + (size_t)thread_id() * cb);
    } else { /* no region around the GEMMs: each uses every thread */
        for (int64_t n = 0; n < s->N; n++)
            forward_sample(&p, n, x, w, b, y, ws);
    }
    if (ws)
        nb__free(ws, (size_t)nt * cb);
    plan_free(&p);
}

/* The backward of samples [n0, n1): dw_part = the sum of (dy[n] @ col(x[n])^T)^T per group, as
 * [groups, CK, Cog] (when wanted), and
 * dx[n] = col2im(W^T @ dy[n]) (when wanted). buf holds one unfolded sample, then its gradient. */
static void backward_chunk(const plan *p, int64_t n0, int64_t n1, const void *x, const void *w, const void *dy,
                           void *dx, void *dw_part, void *buf)
{
    const nb__conv_shape *s = p->s;
    for (int64_t n = n0; n < n1; n++) {
        const void *dyn = sample(p, dy, s->Cout * p->OHW, n);
        if (dw_part) {
            const void *col = sample(p, x, s->Cin * p->HW, n);
            if (!p->direct) {
                im2col(p, col, buf);
                col = buf;
            }
            /* dW_g^T [CK, Cog] = col_g @ dy_g^T: the unfolded sample is A (packed as stored) and the
             * small dy the transposed B (~15% faster than dW_g = dy_g @ col_g^T, measured) */
            nb__gemm_batched(p->dt, false, true, p->CK, p->Cog, p->OHW, 1.0, col, p->OHW, p->offc, dyn, p->OHW,
                             p->offy, n == n0 ? 0.0 : 1.0, dw_part, p->Cog, p->offw, s->groups);
        }
        if (dx) {
            void *dxn = (void *)sample(p, dx, s->Cin * p->HW, n);
            void *cg = p->direct ? dxn : buf;
            nb__gemm_batched(p->dt, true, false, p->CK, p->OHW, p->Cog, 1.0, w, p->CK, p->offw, dyn, p->OHW,
                             p->offy, 0.0, cg, p->OHW, p->offc, s->groups);
            if (!p->direct)
                col2im(p, cg, dxn);
        }
    }
}

static void bias_grad(nb_dtype dt, const nb__conv_shape *s, const void *dy, void *db)
{
    int64_t n = s->g.OH * s->g.OW;
    int nt = nb__threads_for(s->N * s->Cout * n / 4);
    nt = nt > s->Cout ? (int)(s->Cout > 0 ? s->Cout : 1) : nt;
    if (nt > 1) {
        NB__OMP_PARALLEL_FOR(nt)
        for (int t = 0; t < nt; t++) {
            int64_t c0 = s->Cout * t / nt, c1 = s->Cout * (t + 1) / nt;
            if (dt == NB_F32)
                bias_grad_f32(s->N, s->Cout, n, dy, db, c0, c1);
            else
                bias_grad_f64(s->N, s->Cout, n, dy, db, c0, c1);
        }
    } else if (dt == NB_F32) {
        bias_grad_f32(s->N, s->Cout, n, dy, db, 0, s->Cout);
    } else {
        bias_grad_f64(s->N, s->Cout, n, dy, db, 0, s->Cout);
    }
}

/* Chunks of samples the weight gradient is summed over separately (then added in order): a
 * function of the batch size only, so results do not depend on the thread count. */
#define DW_CHUNKS 8

void nb__k_conv_backward(nb_dtype dt, const nb__conv_shape *s, const void *x, const void *w, const void *dy,
                         void *dx, void *dw, void *db)
{
    if (db)
        bias_grad(dt, s, dy, db);
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
    size_t cb = col_bytes(&p);
    char *ws = cb ? nb__alloc((size_t)nt * cb) : NULL;
    char *parts = dw ? nb__alloc((size_t)chunks * wbytes) : NULL;
    if (nt > 1) {
        NB__OMP_PARALLEL_FOR(nt)
        for (int64_t k = 0; k < chunks; k++)
            backward_chunk(&p, s->N * k / chunks, s->N * (k + 1) / chunks, x, w, dy, dx,
                           parts ? parts + (size_t)k * wbytes : NULL, ws + (size_t)thread_id() * cb);
    } else {
        for (int64_t k = 0; k < chunks; k++)
            backward_chunk(&p, s->N * k / chunks, s->N * (k + 1) / chunks, x, w, dy, dx,
                           parts ? parts + (size_t)k * wbytes : NULL, ws);
    }
    if (parts) {
        if (dt == NB_F32)
            sum_parts_f32(chunks, s->groups, p.CK, p.Cog, (const float *)parts, dw);
        else
            sum_parts_f64(chunks, s->groups, p.CK, p.Cog, (const double *)parts, dw);
        nb__free(parts, (size_t)chunks * wbytes);
    }
    if (ws)
        nb__free(ws, (size_t)nt * cb);
    plan_free(&p);
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

void nb__k_avg_pool_forward(nb_dtype dt, const nb__conv_geom *g, int64_t P, bool count_include_pad, const void *x,
                            void *y)
{
    int64_t in = g->H * g->W, out = g->OH * g->OW;
    int nt = plane_threads(P, out * g->kh * g->kw);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t p = 0; p < P; p++) {
        if (dt == NB_F32)
            avg_plane_f32(g, count_include_pad, (const float *)x + p * in, (float *)y + p * out);
        else
            avg_plane_f64(g, count_include_pad, (const double *)x + p * in, (double *)y + p * out);
    }
}

void nb__k_avg_pool_backward(nb_dtype dt, const nb__conv_geom *g, int64_t P, bool count_include_pad,
                             const void *dy, void *dx)
{
    int64_t in = g->H * g->W, out = g->OH * g->OW;
    int nt = plane_threads(P, in + out * g->kh * g->kw);
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t p = 0; p < P; p++) {
        if (dt == NB_F32)
            avg_plane_back_f32(g, count_include_pad, (const float *)dy + p * out, (float *)dx + p * in);
        else
            avg_plane_back_f64(g, count_include_pad, (const double *)dy + p * out, (double *)dx + p * in);
    }
}
