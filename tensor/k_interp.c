/* k_interp.c — interpolation kernels (see nb__k_interp.h): the per-axis source tables, the
 * plane split over threads and the dtype dispatch. The per-dtype loops are in k_interp_impl.h,
 * included once per element type. */
#include "config.h"
#include "nb__k_interp.h"

#include <math.h>
#include <string.h>

#define NB_T float
#define NB_SFX f32
#include "k_interp_impl.h"
#undef NB_T
#undef NB_SFX
#define NB_T double
#define NB_SFX f64
#include "k_interp_impl.h"
#undef NB_T
#undef NB_SFX

/* One buffer for both axes' tables: per axis of n outputs, i0[n], i1[n] (int64) then l0[n],
 * l1[n] (8 bytes each, either dtype fits). */
typedef struct {
    void *buf;
    size_t bytes;
    int64_t *i[2][2];
    void *l[2][2];
} tables;

static axis_f32 axis32(const tables *t, int a) { return (axis_f32){t->i[a][0], t->i[a][1], t->l[a][0], t->l[a][1]}; }
static axis_f64 axis64(const tables *t, int a) { return (axis_f64){t->i[a][0], t->i[a][1], t->l[a][0], t->l[a][1]}; }

static void tables_init(tables *t, nb_dtype dt, const nb__interp_geom *g)
{
    int64_t n[2] = {g->OH, g->OW};
    t->bytes = (size_t)(n[0] + n[1]) * 4 * 8; /* sizes are checked by the op (numel-bounded) */
    t->buf = nb__alloc(t->bytes);
    char *p = t->buf;
    size_t esz = dt == NB_F32 ? sizeof(float) : sizeof(double);
    for (int a = 0; a < 2; a++) {
        t->i[a][0] = (int64_t *)p, t->i[a][1] = (int64_t *)p + n[a];
        p += 2 * (size_t)n[a] * 8;
        t->l[a][0] = p, t->l[a][1] = p + (size_t)n[a] * esz;
        p += 2 * (size_t)n[a] * 8;
    }
    if (dt == NB_F32) {
        axis_f32 ah = axis32(t, 0), aw = axis32(t, 1);
        axis_fill_f32(&ah, g->H, g->OH, g->scale_h, g->linear, g->align_corners);
        axis_fill_f32(&aw, g->W, g->OW, g->scale_w, g->linear, g->align_corners);
    } else {
        axis_f64 ah = axis64(t, 0), aw = axis64(t, 1);
        axis_fill_f64(&ah, g->H, g->OH, g->scale_h, g->linear, g->align_corners);
        axis_fill_f64(&aw, g->W, g->OW, g->scale_w, g->linear, g->align_corners);
    }
}

/* Threads for P planes of `per` operations each (planes are independent: any split gives the
 * same values). */
static int plane_threads(int64_t P, int64_t per)
{
    int nt = nb__threads_for(P * per);
    return nt > P ? (int)(P > 0 ? P : 1) : nt;
}

static void run(nb_dtype dt, const nb__interp_geom *g, int64_t P, const void *src, void *dst, bool back)
{
    tables t;
    tables_init(&t, dt, g);
    int64_t in = g->H * g->W, out = g->OH * g->OW;
    int nt = plane_threads(P, in + out * (g->linear ? 8 : 1));
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t p = 0; p < P; p++) {
        if (dt == NB_F32) {
            axis_f32 ah = axis32(&t, 0), aw = axis32(&t, 1);
            const float *s = (const float *)src + p * (back ? out : in);
            float *d = (float *)dst + p * (back ? in : out);
            if (back)
                (g->linear ? linear_plane_back_f32 : nearest_plane_back_f32)(g, &ah, &aw, s, d);
            else
                (g->linear ? linear_plane_f32 : nearest_plane_f32)(g, &ah, &aw, s, d);
        } else {
            axis_f64 ah = axis64(&t, 0), aw = axis64(&t, 1);
            const double *s = (const double *)src + p * (back ? out : in);
            double *d = (double *)dst + p * (back ? in : out);
            if (back)
                (g->linear ? linear_plane_back_f64 : nearest_plane_back_f64)(g, &ah, &aw, s, d);
            else
                (g->linear ? linear_plane_f64 : nearest_plane_f64)(g, &ah, &aw, s, d);
        }
    }
    nb__free(t.buf, t.bytes);
}

void nb__k_interp_forward(nb_dtype dt, const nb__interp_geom *g, int64_t P, const void *x, void *y)
{
    run(dt, g, P, x, y, false);
}

void nb__k_interp_backward(nb_dtype dt, const nb__interp_geom *g, int64_t P, const void *dy, void *dx)
{
    run(dt, g, P, dy, dx, true);
}
