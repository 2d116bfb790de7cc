/* test_attention.c — nb_scaled_dot_product_attention: the forward against a plain double loop in
 * this file and against the composite ops softmax(q k^T * scale + mask) v (causal and not, T = 1,
 * D = 1, odd T, Tq != Tk, Dv != D, B*H up to 48, row counts past one score tile, float32/float64),
 * every input layout (the GPT's narrow + view + transpose of one [B, T, 3C] buffer, transposed,
 * sliced with NaN gaps, broadcast by nb_expand), zero-size inputs; the backward against the
 * composite ops' gradients and nb_gradcheck; both kernel sets (AVX2+FMA and generic vectors);
 * thread-count determinism; misuse messages. */
#include "testutil.h"
/* tu_relayout's result joins the open scope like every other tensor (freed with it) */
#define tu_relayout(src, layout) tu_adopt(tu_relayout(src, layout))

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nb__k_gemm.h" /* nb__gemm_force_isa: the attention kernels follow the GEMM's kernel set */

#define OP "nb_scaled_dot_product_attention"

/* The op without a mask or dropout (tests/test_sdpa.c covers those). */
static nb_tensor *sdpa(const nb_tensor *q, const nb_tensor *k, const nb_tensor *v, bool causal, double scale)
{
    return nb_scaled_dot_product_attention(q, k, v, NULL, 0, causal, scale, NULL);
}

typedef struct {
    int64_t B, H, Tq, Tk, D, Dv;
    bool causal;
    double scale; /* <= 0: 1/sqrt(D) */
} cfg;

static double *values_of(const nb_tensor *t)
{
    int64_t n = nb_tensor_numel(t);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    nb_tensor_to_doubles(t, v);
    return v;
}

static double eff_scale(const cfg *c) { return c->scale > 0 ? c->scale : c->D > 0 ? 1.0 / sqrt((double)c->D) : 1.0; }

/* True when query i must not see key j (mask aligned bottom-right: Tk - Tq cached keys). */
static bool masked(const cfg *c, int64_t i, int64_t j) { return c->causal && j > i + (c->Tk - c->Tq); }

/* ==== the independent reference: a plain loop over doubles ==================================== */
static nb_tensor *ref_attention(const cfg *c, const nb_tensor *q, const nb_tensor *k, const nb_tensor *v)
{
    double *qv = values_of(q), *kv = values_of(k), *vv = values_of(v), sc = eff_scale(c);
    int64_t n = c->B * c->H * c->Tq * c->Dv;
    double *o = calloc((size_t)(n ? n : 1), sizeof *o), *p = malloc((size_t)(c->Tk ? c->Tk : 1) * sizeof *p);
    for (int64_t bh = 0; bh < c->B * c->H; bh++)
        for (int64_t i = 0; i < c->Tq; i++) {
            const double *qi = qv + (bh * c->Tq + i) * c->D;
            double mx = -INFINITY, s = 0;
            for (int64_t j = 0; j < c->Tk; j++) {
                double d = 0;
                for (int64_t e = 0; e < c->D; e++)
                    d += qi[e] * kv[(bh * c->Tk + j) * c->D + e];
                p[j] = masked(c, i, j) ? -INFINITY : d * sc;
                mx = p[j] > mx ? p[j] : mx;
            }
            for (int64_t j = 0; j < c->Tk; j++)
                s += (p[j] = exp(p[j] - mx));
            double *oi = o + (bh * c->Tq + i) * c->Dv;
            for (int64_t j = 0; j < c->Tk; j++)
                for (int64_t e = 0; e < c->Dv; e++)
                    oi[e] += p[j] / s * vv[(bh * c->Tk + j) * c->Dv + e];
        }
    nb_tensor *t = nb_from_doubles(o, (int64_t[]){c->B, c->H, c->Tq, c->Dv}, 4, NB_F64);
    free(qv), free(kv), free(vv), free(o), free(p);
    return t;
}

/* ==== the composite ops (what models/gpt.c computed before the fused op) ====================== */
static nb_tensor *composite(const cfg *c, const nb_tensor *q, const nb_tensor *k, const nb_tensor *v)
{
    nb_tensor *s = nb_mul_scalar(nb_matmul(q, nb_transpose(k, -2, -1)), eff_scale(c));
    if (c->causal) {
        double *m = malloc((size_t)(c->Tq * c->Tk > 0 ? c->Tq * c->Tk : 1) * sizeof *m);
        for (int64_t i = 0; i < c->Tq; i++)
            for (int64_t j = 0; j < c->Tk; j++)
                m[i * c->Tk + j] = masked(c, i, j);
        s = nb_masked_fill(s, nb_from_doubles(m, (int64_t[]){c->Tq, c->Tk}, 2, NB_BOOL), -INFINITY);
        free(m);
    }
    return nb_matmul(nb_softmax(s, -1), v);
}

static nb_tensor *fused(const cfg *c, const nb_tensor *q, const nb_tensor *k, const nb_tensor *v)
{
    return sdpa(q, k, v, c->causal, c->scale);
}

static void inputs(const cfg *c, nb_dtype dt, uint64_t seed, nb_tensor **q, nb_tensor **k, nb_tensor **v)
{
    *q = tu_random(dt, (int64_t[]){c->B, c->H, c->Tq, c->D}, 4, -2, 2, seed);
    *k = tu_random(dt, (int64_t[]){c->B, c->H, c->Tk, c->D}, 4, -2, 2, seed + 1);
    *v = tu_random(dt, (int64_t[]){c->B, c->H, c->Tk, c->Dv}, 4, -2, 2, seed + 2);
}

static double tol(nb_dtype dt) { return dt == NB_F64 ? 1e-12 : 1e-5; }

/* Forward on (q, k, v): against the loop and the composite ops; returns the fused output. */
static nb_tensor *check_forward(const cfg *c, const nb_tensor *q, const nb_tensor *k, const nb_tensor *v)
{
    nb_dtype dt = nb_tensor_dtype(q);
    nb_tensor *out = fused(c, q, k, v);
    /* contiguous, or laid out as q when q's heads are inside its time steps (GPT's split of one
     * [B, T, 3C] projection): then out is the [B, H, T, Dv] view of a contiguous [B, T, H, Dv] */
    bool heads_inside = c->H > 1 && c->Tq > 1 && nb_tensor_strides(q)[1] < nb_tensor_strides(q)[2];
    ck_assert(heads_inside ? nb_tensor_is_contiguous(nb_transpose(out, 1, 2)) : nb_tensor_is_contiguous(out));
    ck_assert_int_eq(nb_tensor_dtype(out), dt);
    tu_assert_shape(out, (int64_t[]){c->B, c->H, c->Tq, c->Dv}, 4);
    tu_assert_close(out, ref_attention(c, q, k, v), tol(dt), dt == NB_F64 ? 1e-10 : 1e-4);
    if (c->Tk > 0)
        tu_assert_close(out, composite(c, q, k, v), tol(dt), dt == NB_F64 ? 1e-10 : 1e-4);
    return out;
}

/* ==== forward =================================================================================== */
static const cfg k_shapes[] = {
    {1, 1, 1, 1, 1, 1, true, 0},      {1, 1, 1, 1, 1, 1, false, 0},    {2, 3, 7, 7, 5, 5, true, 0},
    {2, 3, 7, 7, 5, 5, false, 0.37}, {1, 2, 13, 13, 1, 1, true, 0},   {3, 1, 13, 13, 1, 4, false, 0},
    {12, 4, 64, 64, 32, 32, true, 0}, {4, 12, 64, 64, 64, 64, true, 0}, {2, 2, 5, 9, 4, 3, true, 0},
    {2, 2, 1, 9, 4, 3, true, 0},      {3, 1, 9, 4, 6, 2, false, 0},    {1, 1, 100, 100, 8, 8, true, 0},
    {1, 2, 33, 33, 3, 3, false, 2.5}, {1, 1, 50, 3000, 2, 3, false, 0}, {1, 1, 40, 3000, 2, 2, true, 0},
    {2, 1, 129, 129, 4, 4, true, 0},  {2, 2, 21, 21, 12, 10, true, 0}, /* 8 x 8 transpose blocks + tails */
    {1, 1, 19, 26, 17, 9, false, 0},
};
#define N_SHAPES ((int)(sizeof k_shapes / sizeof *k_shapes))

START_TEST(test_forward_shapes)
{
    nb_dtype dt = _i % 2 ? NB_F32 : NB_F64;
    const cfg *c = &k_shapes[_i / 2];
    int s = nb_scope_begin();
    nb_tensor *q, *k, *v;
    inputs(c, dt, 100 + (uint64_t)_i, &q, &k, &v);
    check_forward(c, q, k, v);
    nb_scope_end(s);
}
END_TEST

/* Mask and scale semantics on hand-checkable values: one query, keys with known scores. */
START_TEST(test_forward_known_values)
{
    int s = nb_scope_begin();
    /* q = [1, 0], k rows [1, 0], [0, 1], [2, 0] -> scores (scale 1) 1, 0, 2; v = identity-ish */
    nb_tensor *q = tu_tensor(NB_F64, (int64_t[]){1, 1, 1, 2}, 4, (const double[]){1, 0});
    nb_tensor *k = tu_tensor(NB_F64, (int64_t[]){1, 1, 3, 2}, 4, (const double[]){1, 0, 0, 1, 2, 0});
    nb_tensor *v = tu_tensor(NB_F64, (int64_t[]){1, 1, 3, 1}, 4, (const double[]){1, 10, 100});
    double e1 = exp(1), e0 = 1, e2 = exp(2), z = e1 + e0 + e2;
    tu_assert_shape_values(sdpa(q, k, v, false, 1.0), NB_DIMS(1, 1, 1, 1),
                           VALS((e1 * 1 + e0 * 10 + e2 * 100) / z), 1e-12);
    /* causal with Tq 1, Tk 3: the single (newest) query sees every key */
    tu_assert_shape_values(sdpa(q, k, v, true, 1.0), NB_DIMS(1, 1, 1, 1),
                           VALS((e1 * 1 + e0 * 10 + e2 * 100) / z), 1e-12);
    /* default scale 1/sqrt(2) */
    double a = exp(1 / sqrt(2.0)), b = 1, c2 = exp(2 / sqrt(2.0));
    tu_assert_shape_values(sdpa(q, k, v, false, 0), NB_DIMS(1, 1, 1, 1),
                           VALS((a * 1 + b * 10 + c2 * 100) / (a + b + c2)), 1e-12);
    tu_assert_shape_values(sdpa(q, k, v, false, -3), NB_DIMS(1, 1, 1, 1),
                           VALS((a * 1 + b * 10 + c2 * 100) / (a + b + c2)), 1e-12);
    /* causal, Tq == Tk: row 0 sees only key 0 -> v[0] exactly */
    nb_tensor *q3 = tu_random(NB_F64, (int64_t[]){1, 1, 3, 2}, 4, -1, 1, 5);
    nb_tensor *o = sdpa(q3, k, v, true, 1.0);
    ck_assert_double_eq(nb_tensor_item(nb_narrow(nb_narrow(o, 2, 0, 1), 3, 0, 1)), 1.0);
    nb_scope_end(s);
}
END_TEST

/* ==== layouts =================================================================================== */
/* The GPT's q, k, v: narrow + view + transpose of one [B, T, 3C] buffer (unit last stride). */
static void gpt_views(nb_tensor *qkv, int64_t B, int64_t T, int64_t H, int64_t D, nb_tensor **q, nb_tensor **k,
                      nb_tensor **v)
{
    int64_t C = H * D;
    nb_tensor **out[3] = {q, k, v};
    for (int i = 0; i < 3; i++)
        *out[i] = nb_transpose(nb_view(nb_narrow(qkv, 2, i * C, C), (int64_t[]){B, T, H, D}, 4), 1, 2);
}

START_TEST(test_forward_layouts)
{
    nb_dtype dt = _i % 2 ? NB_F32 : NB_F64;
    const cfg c = {2, 3, 9, 9, 4, 4, _i / 2 == 0, 0};
    int s = nb_scope_begin();
    nb_tensor *qkv = tu_random(dt, (int64_t[]){c.B, c.Tq, 3 * c.H * c.D}, 3, -2, 2, 7);
    nb_tensor *q, *k, *v;
    gpt_views(qkv, c.B, c.Tq, c.H, c.D, &q, &k, &v);
    ck_assert(!nb_tensor_is_contiguous(q));
    nb_tensor *want = check_forward(&c, q, k, v);
    nb_tensor *qc = nb_contiguous(q), *kc = nb_contiguous(k), *vc = nb_contiguous(v);
    tu_assert_close(fused(&c, qc, kc, vc), want, 0, 0); /* the same arithmetic whatever the strides */
    for (int l = TU_TRANSPOSED; l <= TU_SLICED; l++) {
        nb_tensor *ql = tu_relayout(qc, l), *kl = tu_relayout(kc, l), *vl = tu_relayout(vc, l);
        tu_assert_close(fused(&c, ql, kl, vl), want, 0, 0);
        tu_assert_close(fused(&c, ql, kc, vc), want, 0, 0);
        tu_assert_close(fused(&c, qc, kl, vc), want, 0, 0);
        tu_assert_close(fused(&c, qc, kc, vl), want, 0, 0);
        tu_assert_close(fused(&c, ql, k, vl), want, 0, 0);
    }
    nb_scope_end(s);
}
END_TEST

/* Stride-0 inputs from nb_expand: one query set for every batch, keys shared across heads. */
START_TEST(test_forward_broadcast)
{
    nb_dtype dt = _i ? NB_F32 : NB_F64;
    const cfg c = {3, 2, 6, 6, 4, 5, true, 0};
    int s = nb_scope_begin();
    nb_tensor *q1 = tu_random(dt, (int64_t[]){1, 2, 6, 4}, 4, -2, 2, 11);
    nb_tensor *k1 = tu_random(dt, (int64_t[]){3, 1, 6, 4}, 4, -2, 2, 12);
    nb_tensor *v1 = tu_random(dt, (int64_t[]){1, 1, 6, 1}, 4, -2, 2, 13);
    nb_tensor *q = nb_expand(q1, (int64_t[]){3, 2, 6, 4}, 4), *k = nb_expand(k1, (int64_t[]){3, 2, 6, 4}, 4);
    nb_tensor *v = nb_expand(v1, (int64_t[]){3, 2, 6, 5}, 4); /* stride 0 in the last dim too */
    check_forward(&c, q, k, v);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_forward_zero_size)
{
    int s = nb_scope_begin();
    const cfg zs[] = {{0, 2, 3, 3, 4, 4, true, 0}, {2, 0, 3, 3, 4, 4, true, 0}, {2, 2, 0, 0, 4, 4, true, 0},
                      {2, 2, 0, 3, 4, 4, false, 0}, {2, 2, 3, 3, 4, 0, true, 0}};
    for (int i = 0; i < (int)(sizeof zs / sizeof *zs); i++) {
        nb_tensor *q, *k, *v;
        inputs(&zs[i], NB_F64, 1, &q, &k, &v);
        check_forward(&zs[i], q, k, v);
    }
    /* no keys (not causal): softmax over nothing, output 0 */
    cfg c = {2, 2, 3, 0, 4, 5, false, 0};
    nb_tensor *q, *k, *v;
    inputs(&c, NB_F32, 1, &q, &k, &v);
    tu_assert_close(fused(&c, q, k, v), nb_zeros((int64_t[]){2, 2, 3, 5}, 4, NB_F32), 0, 0);
    /* D == 0: every score is 0, the output is the mean of the visible values */
    c = (cfg){1, 2, 4, 4, 0, 3, true, 0};
    inputs(&c, NB_F64, 1, &q, &k, &v);
    check_forward(&c, q, k, v);
    nb_scope_end(s);
}
END_TEST

/* ==== backward ================================================================================== */
/* d(sum(f(q, k, v) * w)) for f fused and composite, on fresh leaves copied from q, k, v; the
 * leaves in `which` (bit 0 q, 1 k, 2 v) require grad. Compares every gradient. */
static void check_backward(const cfg *c, const nb_tensor *q, const nb_tensor *k, const nb_tensor *v, unsigned which,
                           double atol, double rtol)
{
    nb_dtype dt = nb_tensor_dtype(q);
    nb_tensor *w = tu_random(dt, (int64_t[]){c->B, c->H, c->Tq, c->Dv}, 4, -1, 1, 99);
    nb_tensor *grads[2][3];
    for (int pass = 0; pass < 2; pass++) {
        nb_tensor *in[3] = {nb_clone(q), nb_clone(k), nb_clone(v)};
        for (int i = 0; i < 3; i++)
            nb_tensor_requires_grad_(in[i], (which >> i) & 1);
        nb_tensor *out = pass ? composite(c, in[0], in[1], in[2]) : fused(c, in[0], in[1], in[2]);
        if (!pass)
            ck_assert_str_eq(nb_tensor_grad_fn_name(out), OP);
        nb_backward(nb_sum(nb_mul(out, w), NULL, 0, false), NULL, false);
        for (int i = 0; i < 3; i++) {
            grads[pass][i] = nb_tensor_get_grad(in[i]);
            ck_assert_msg((grads[pass][i] != NULL) == (((which >> i) & 1) != 0), "input %d grad presence", i);
        }
    }
    for (int i = 0; i < 3; i++)
        if (grads[0][i]) {
            ck_assert(nb_tensor_same_shape(grads[0][i], i == 0 ? q : i == 1 ? k : v));
            tu_assert_close(grads[0][i], grads[1][i], atol, rtol);
        }
}

static const cfg k_bw_shapes[] = {
    {2, 3, 7, 7, 5, 5, true, 0},   {2, 3, 7, 7, 5, 5, false, 0},    {1, 2, 5, 9, 4, 3, true, 0},
    {2, 1, 6, 4, 3, 2, false, 0.6}, {2, 2, 1, 1, 1, 1, true, 0},     {1, 1, 70, 70, 3, 3, true, 0},
    {1, 1, 45, 45, 2, 3, false, 0}, {12, 4, 16, 16, 8, 8, true, 0}, {1, 1, 30, 2100, 2, 2, true, 0},
    {2, 2, 21, 21, 12, 10, true, 0}, {1, 1, 19, 26, 17, 9, false, 0}, /* 8 x 8 transposes + tails */
};
#define N_BW ((int)(sizeof k_bw_shapes / sizeof *k_bw_shapes))

START_TEST(test_backward_vs_composite)
{
    const cfg *c = &k_bw_shapes[_i];
    int s = nb_scope_begin();
    nb_tensor *q, *k, *v;
    inputs(c, NB_F64, 300 + (uint64_t)_i, &q, &k, &v);
    check_backward(c, q, k, v, 7, 1e-12, 1e-9);
    nb_tensor *q32, *k32, *v32;
    inputs(c, NB_F32, 300 + (uint64_t)_i, &q32, &k32, &v32);
    check_backward(c, q32, k32, v32, 7, 1e-4, 1e-3);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_backward_partial)
{
    const cfg c = {2, 2, 6, 6, 3, 4, true, 0};
    int s = nb_scope_begin();
    nb_tensor *q, *k, *v;
    inputs(&c, NB_F64, 5, &q, &k, &v);
    for (unsigned which = 1; which < 8; which++)
        check_backward(&c, q, k, v, which, 1e-12, 1e-9);
    nb_scope_end(s);
}
END_TEST

/* Gradients reach the shared [B, T, 3C] buffer through the GPT's views, as with the composite;
 * _i = 1 also goes on as GPT does, y = out.transpose(1, 2).reshape(B, T, C), so the output
 * gradient reaches the op as a strided view (and the forward's reshape needs no copy). */
START_TEST(test_backward_gpt_views)
{
    const int64_t B = 2, T = 9, H = 3, D = 4;
    const cfg c = {B, H, T, T, D, D, true, 0};
    int s = nb_scope_begin();
    nb_tensor *base = tu_random(NB_F64, (int64_t[]){B, T, 3 * H * D}, 3, -2, 2, 21);
    nb_tensor *w = tu_random(NB_F64, (int64_t[]){B, H, T, D}, 4, -1, 1, 22);
    nb_tensor *w2 = tu_random(NB_F64, (int64_t[]){B, T, H * D}, 3, -1, 1, 23);
    nb_tensor *g[2];
    for (int pass = 0; pass < 2; pass++) {
        nb_tensor *qkv = nb_tensor_requires_grad_(nb_clone(base), true), *q, *k, *v;
        gpt_views(qkv, B, T, H, D, &q, &k, &v);
        nb_tensor *out = pass ? composite(&c, q, k, v) : fused(&c, q, k, v), *loss;
        if (_i) {
            nb_tensor *y = nb_reshape(nb_transpose(out, 1, 2), (int64_t[]){B, T, H * D}, 3);
            if (!pass)
                ck_assert(nb_tensor_data(y) == nb_tensor_data(out)); /* a view: no copy */
            loss = nb_sum(nb_mul(nb_mul(y, y), w2), NULL, 0, false);
        } else {
            loss = nb_sum(nb_mul(out, w), NULL, 0, false);
        }
        nb_backward(loss, NULL, false);
        g[pass] = nb_tensor_get_grad(qkv);
    }
    tu_assert_close(g[0], g[1], 1e-12, 1e-9);
    nb_scope_end(s);
}
END_TEST

/* Broadcast and sliced (NaN-gapped) inputs: gradients flow back through expand / the views. */
START_TEST(test_backward_layouts)
{
    const cfg c = {3, 2, 5, 5, 3, 3, true, 0};
    int s = nb_scope_begin();
    nb_tensor *w = tu_random(NB_F64, (int64_t[]){3, 2, 5, 3}, 4, -1, 1, 31);
    for (int l = 0; l < 2; l++) {
        nb_tensor *g[2][3];
        for (int pass = 0; pass < 2; pass++) {
            nb_tensor *q1 = tu_random(NB_F64, (int64_t[]){1, 2, 5, 3}, 4, -2, 2, 32);
            nb_tensor *k1 = tu_random(NB_F64, (int64_t[]){3, 2, 5, 3}, 4, -2, 2, 33);
            nb_tensor *v1 = tu_random(NB_F64, (int64_t[]){3, 1, 5, 3}, 4, -2, 2, 34);
            nb_tensor *leaf[3] = {q1, l ? tu_relayout(k1, TU_SLICED) : k1, l ? tu_relayout(v1, TU_TRANSPOSED) : v1};
            for (int i = 0; i < 3; i++)
                nb_tensor_requires_grad_(leaf[i], true);
            nb_tensor *q = nb_expand(leaf[0], (int64_t[]){3, 2, 5, 3}, 4);
            nb_tensor *v = nb_expand(leaf[2], (int64_t[]){3, 2, 5, 3}, 4);
            nb_tensor *out = pass ? composite(&c, q, leaf[1], v) : fused(&c, q, leaf[1], v);
            nb_backward(nb_sum(nb_mul(out, w), NULL, 0, false), NULL, false);
            for (int i = 0; i < 3; i++)
                g[pass][i] = nb_tensor_get_grad(leaf[i]);
        }
        for (int i = 0; i < 3; i++)
            tu_assert_close(g[0][i], g[1][i], 1e-12, 1e-9);
    }
    nb_scope_end(s);
}
END_TEST

START_TEST(test_backward_zero_size)
{
    int s = nb_scope_begin();
    const cfg zs[] = {{0, 2, 3, 3, 4, 4, true, 0}, {2, 2, 0, 0, 4, 4, true, 0}, {2, 2, 0, 3, 4, 2, false, 0},
                      {2, 2, 3, 0, 4, 2, false, 0}, {2, 2, 3, 3, 0, 2, true, 0}};
    for (int i = 0; i < (int)(sizeof zs / sizeof *zs); i++) {
        nb_tensor *q, *k, *v;
        inputs(&zs[i], NB_F64, 1, &q, &k, &v);
        nb_tensor *in[3] = {q, k, v};
        for (int j = 0; j < 3; j++)
            nb_tensor_requires_grad_(in[j], true);
        nb_backward(nb_sum(fused(&zs[i], q, k, v), NULL, 0, false), NULL, false);
        for (int j = 0; j < 3; j++) {
            nb_tensor *g = nb_tensor_get_grad(in[j]);
            ck_assert(g && nb_tensor_same_shape(g, in[j]));
            /* with no query rows (or no keys) nothing flows back */
            if (zs[i].Tq == 0 || zs[i].Tk == 0)
                tu_assert_close(g, nb_zeros_like(g), 0, 0);
        }
    }
    nb_scope_end(s);
}
END_TEST

/* ==== gradcheck (finite differences, float64, PyTorch's settings) ============================= */
typedef struct {
    bool causal;
    double scale;
} gc_ctx;

static nb_tensor *gc_fn(nb_tensor *const *x, int n, void *ctx)
{
    (void)n;
    gc_ctx *c = ctx;
    return sdpa(x[0], x[1], x[2], c->causal, c->scale);
}

START_TEST(test_gradcheck)
{
    const cfg cs[] = {{2, 2, 4, 4, 3, 3, true, 0}, {1, 2, 3, 5, 2, 4, false, 0.8}, {1, 1, 2, 5, 3, 2, true, 0},
                      {1, 1, 40, 40, 2, 2, true, 0}};
    int s = nb_scope_begin();
    for (int i = 0; i < (int)(sizeof cs / sizeof *cs); i++)
        for (int l = 0; l < TU_LAYOUT_COUNT; l++) {
            nb_tensor *q, *k, *v;
            inputs(&cs[i], NB_F64, 40 + (uint64_t)i, &q, &k, &v);
            nb_tensor *in[3] = {tu_relayout(q, l), tu_relayout(k, l), tu_relayout(v, l)};
            for (int j = 0; j < 3; j++)
                nb_tensor_requires_grad_(in[j], true);
            gc_ctx ctx = {cs[i].causal, cs[i].scale};
            nb_gradcheck_result r = nb_gradcheck(gc_fn, &ctx, in, 3, NULL);
            ck_assert_msg(r.ok, "shape #%d, layout %s: %s", i, tu_layout_names[l], r.message);
        }
    nb_scope_end(s);
}
END_TEST

/* ==== the generic kernel set (forced, as on a CPU without AVX2) ================================ */
START_TEST(test_generic_kernels)
{
    nb_dtype dt = _i % 2 ? NB_F32 : NB_F64;
    nb__gemm_isa isas[2] = {NB__GEMM_GENERIC, NB__GEMM_AUTO};
    const cfg cs[] = {{2, 3, 7, 7, 5, 5, true, 0}, {1, 2, 13, 13, 1, 3, false, 0}, {3, 4, 64, 64, 32, 32, true, 0},
                      {1, 2, 5, 9, 4, 3, true, 0}, {1, 1, 100, 100, 8, 8, true, 0}};
    int s = nb_scope_begin();
    for (int i = 0; i < (int)(sizeof cs / sizeof *cs); i++) {
        nb_tensor *q, *k, *v, *out[2];
        inputs(&cs[i], dt, 500 + (uint64_t)i, &q, &k, &v);
        for (int j = 0; j < 2; j++) {
            nb__gemm_force_isa(isas[j]);
            out[j] = check_forward(&cs[i], q, k, v);
            if (dt == NB_F64)
                check_backward(&cs[i], q, k, v, 7, 1e-12, 1e-9);
        }
        /* the two kernel sets round differently, but both are accurate */
        tu_assert_close(out[0], out[1], tol(dt), dt == NB_F64 ? 1e-12 : 1e-5);
    }
    nb__gemm_force_isa(NB__GEMM_AUTO);
    nb_scope_end(s);
}
END_TEST

/* ==== determinism =============================================================================== */
static bool same_values(const nb_tensor *a, const nb_tensor *b)
{
    if (!nb_tensor_same_shape(a, b))
        return false;
    double *x = values_of(a), *y = values_of(b);
    bool same = memcmp(x, y, (size_t)nb_tensor_numel(a) * sizeof *x) == 0;
    free(x), free(y);
    return same;
}

START_TEST(test_thread_determinism)
{
    nb_dtype dt = _i ? NB_F32 : NB_F64;
    const cfg c = {12, 4, 64, 64, 32, 32, true, 0};
    int s = nb_scope_begin();
    nb_tensor *q, *k, *v, *w = tu_random(dt, (int64_t[]){12, 4, 64, 32}, 4, -1, 1, 8);
    inputs(&c, dt, 60, &q, &k, &v);
    nb_tensor *res[3][4];
    const int threads[3] = {1, 2, 3};
    for (int t = 0; t < 3; t++) {
        nb_set_num_threads(threads[t]);
        nb_tensor *in[3] = {nb_clone(q), nb_clone(k), nb_clone(v)};
        for (int j = 0; j < 3; j++)
            nb_tensor_requires_grad_(in[j], true);
        res[t][0] = fused(&c, in[0], in[1], in[2]);
        nb_backward(nb_sum(nb_mul(res[t][0], w), NULL, 0, false), NULL, false);
        for (int j = 0; j < 3; j++)
            res[t][1 + j] = nb_tensor_get_grad(in[j]);
    }
    nb_set_num_threads(0);
    for (int t = 1; t < 3; t++)
        for (int j = 0; j < 4; j++)
            ck_assert_msg(same_values(res[0][j], res[t][j]), "%d threads: result %d differs from 1 thread",
                          threads[t], j);
    nb_scope_end(s);
}
END_TEST

/* ==== misuse and graph behaviour ================================================================ */
START_TEST(test_misuse)
{
    int s = nb_scope_begin();
    nb_tensor *q = nb_zeros((int64_t[]){2, 3, 4, 5}, 4, NB_F32);
    nb_tensor *k = nb_zeros((int64_t[]){2, 3, 4, 5}, 4, NB_F32);
    nb_tensor *v = nb_zeros((int64_t[]){2, 3, 4, 5}, 4, NB_F32);
    TU_EXPECT_ERROR(OP ": q, k, v must be 4-D [B, H, T, D], got shapes [2, 3, 4], [2, 3, 4, 5], [2, 3, 4, 5]",
                    sdpa(nb_zeros((int64_t[]){2, 3, 4}, 3, NB_F32), k, v, true, 0));
    TU_EXPECT_ERROR("[6, 4, 5]", sdpa(q, k, nb_zeros((int64_t[]){6, 4, 5}, 3, NB_F32),
                                                                 true, 0));
    TU_EXPECT_ERROR(OP ": expected a float32 or float64 tensor, got int32",
                    sdpa(nb_zeros((int64_t[]){2, 3, 4, 5}, 4, NB_I32), k, v, true, 0));
    TU_EXPECT_ERROR(OP ": q, k, v must have the same dtype, got float32, float64, float32",
                    sdpa(q, nb_zeros((int64_t[]){2, 3, 4, 5}, 4, NB_F64), v, true, 0));
    const char *fit = OP ": shapes q [2, 3, 4, 5], k [2, 3, 4, 6], v [2, 3, 4, 5] do not fit";
    TU_EXPECT_ERROR(fit, sdpa(q, nb_zeros((int64_t[]){2, 3, 4, 6}, 4, NB_F32), v, false, 0));
    TU_EXPECT_ERROR("k [2, 2, 4, 5]",
                    sdpa(q, nb_zeros((int64_t[]){2, 2, 4, 5}, 4, NB_F32), v, false, 0));
    TU_EXPECT_ERROR("k [1, 3, 4, 5]",
                    sdpa(q, nb_zeros((int64_t[]){1, 3, 4, 5}, 4, NB_F32), v, false, 0));
    TU_EXPECT_ERROR("v [2, 3, 3, 5]",
                    sdpa(q, k, nb_zeros((int64_t[]){2, 3, 3, 5}, 4, NB_F32), false, 0));
    TU_EXPECT_ERROR(OP ": a causal mask needs at least as many keys as queries, got q [2, 3, 4, 5] and k [2, 3, 3, 5]",
                    sdpa(q, nb_zeros((int64_t[]){2, 3, 3, 5}, 4, NB_F32),
                                                    nb_zeros((int64_t[]){2, 3, 3, 5}, 4, NB_F32), true, 0));
    TU_EXPECT_ERROR(OP ": scale must be finite, got nan", sdpa(q, k, v, true, NAN));
    TU_EXPECT_ERROR(OP ": scale must be finite, got inf", sdpa(q, k, v, true, INFINITY));
    nb_scope_end(s);
}
END_TEST

START_TEST(test_graph)
{
    int s = nb_scope_begin();
    const cfg c = {1, 2, 4, 4, 3, 3, true, 0};
    nb_tensor *q, *k, *v;
    inputs(&c, NB_F64, 3, &q, &k, &v);
    nb_tensor_requires_grad_(q, true);
    /* no grad mode: nothing recorded */
    bool prev = nb_set_grad_enabled(false);
    nb_tensor *o = fused(&c, q, k, v);
    nb_set_grad_enabled(prev);
    ck_assert(!nb_tensor_requires_grad(o));
    /* nothing requires grad: nothing recorded */
    nb_tensor_requires_grad_(q, false);
    ck_assert(!nb_tensor_requires_grad(fused(&c, q, k, v)));
    /* a saved input modified in place before backward is reported */
    nb_tensor *kk = nb_clone(k);
    nb_tensor_requires_grad_(q, true);
    o = fused(&c, q, kk, v);
    nb_mul_scalar_(kk, 2.0);
    TU_EXPECT_ERROR("modified by an in-place operation", nb_backward(nb_sum(o, NULL, 0, false), NULL, false));
    (void)s; /* the error left nb_backward's own scope open: the forked test just ends */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("attention");
    TCase *f = tcase_create("forward");
    tcase_set_timeout(f, 20);
    tcase_add_loop_test(f, test_forward_shapes, 0, 2 * N_SHAPES);
    tcase_add_test(f, test_forward_known_values);
    tcase_add_loop_test(f, test_forward_layouts, 0, 4);
    tcase_add_loop_test(f, test_forward_broadcast, 0, 2);
    tcase_add_test(f, test_forward_zero_size);
    suite_add_tcase(s, f);
    TCase *b = tcase_create("backward");
    tcase_set_timeout(b, 20);
    tcase_add_loop_test(b, test_backward_vs_composite, 0, N_BW);
    tcase_add_test(b, test_backward_partial);
    tcase_add_loop_test(b, test_backward_gpt_views, 0, 2);
    tcase_add_test(b, test_backward_layouts);
    tcase_add_test(b, test_backward_zero_size);
    tcase_add_test(b, test_gradcheck);
    tcase_add_loop_test(b, test_generic_kernels, 0, 2);
    tcase_add_loop_test(b, test_thread_determinism, 0, 2);
    suite_add_tcase(s, b);
    TCase *m = tcase_create("misuse");
    tcase_add_test(m, test_misuse);
    tcase_add_test(m, test_graph);
    suite_add_tcase(s, m);
    return tu_run_suite(s);
}
