/* attention.c — fused scaled-dot-product attention (torch.nn.functional.scaled_dot_product_attention
 * with an optional attention mask and dropout): shape checks, the kernel call, node recording, and
 * the backward right below. Flash-attention style: the forward keeps q, k, v and the per-row
 * logsumexp, never the T x T probabilities (with dropout it keeps the T x T keep flags, one byte
 * each); the backward recomputes them (tensor/k_attention.c). */
#include "config.h"
#include "nb__autograd.h"
#include "nb__bf16.h"
#include "nb__k_attention.h"
#include "nb_nn.h"

#include <math.h>

#define OP "nb_scaled_dot_product_attention"

/* A new [B, H, T, W] tensor laid out like `like` (same shape in dims 0-1): when like's heads are
 * inside its time steps (a [B, H, T, D] view of a [B, T, H, D] buffer, as GPT splits heads from one
 * projection), the [B, H, T, W] view of a new contiguous [B, T, H, W] tensor, else a contiguous
 * one. PyTorch keeps such layouts too; here it spares the copies of GPT's transpose + reshape of
 * the output and of the head gradients. */
static nb_tensor *new_like_layout(nb_dtype dt, const nb_tensor *like, int64_t T, int64_t W)
{
    int64_t B = like->shape[0], H = like->shape[1];
    if (!(H > 1 && T > 1 && like->strides[1] < like->strides[2]))
        return nb__tensor_new(dt, (const int64_t[]){B, H, T, W}, 4);
    nb_tensor *base = nb__tensor_new(dt, (const int64_t[]){B, T, H, W}, 4);
    return nb__tensor_view(base, 4, (const int64_t[]){B, H, T, W}, (const int64_t[]){T * H * W, W, H * W, 1}, 0);
}

static void strides3(const nb_tensor *t, int64_t st[3])
{
    for (int i = 0; i < 3; i++)
        st[i] = t->strides[i];
}

/* Geometry of q [B, H, Tq, D], k [B, H, Tk, D], v [B, H, Tk, Dv] (unit last strides). */
static nb__attn_geom geom_of(const nb_tensor *q, const nb_tensor *k, const nb_tensor *v, bool causal, double scale)
{
    nb__attn_geom g = {.B = q->shape[0], .H = q->shape[1], .Tq = q->shape[2], .Tk = k->shape[2],
                       .D = q->shape[3], .Dv = v->shape[3], .causal = causal, .scale = scale};
    for (int i = 0; i < 3; i++)
        g.qs[i] = q->strides[i], g.ks[i] = k->strides[i], g.vs[i] = v->strides[i];
    return g;
}

/* The mask (read in place through its strides, 0 along broadcast dims) and the dropout flags. */
static void set_mask(nb__attn_geom *g, const nb_tensor *m, int kind, const nb_tensor *keep, double keep_scale)
{
    if (m) {
        g->mask_kind = kind;
        g->mask = nb_tensor_data(m);
        for (int i = 0; i < 4; i++) {
            int d = m->ndim - 4 + i;
            g->ms[i] = d >= 0 && m->shape[d] > 1 ? m->strides[d] : 0;
        }
    }
    if (keep) {
        g->keep = nb_tensor_data(keep);
        g->keep_scale = keep_scale;
    }
}

/* saved: 0 q, 1 k, 2 v (as the kernel read them: unit last stride), 3 lse [B, H, Tq] f64, then the
 * attention mask when given, then the dropout keep flags [B, H, Tq, Tk] (bool) when dropout_p > 0.
 * iargs 0: causal, 1: mask kind (NB__ATTN_MASK_*), 2: dropout on; fargs 0: the scale actually
 * used, 1: the keep scale 1/(1-p). Inputs: q, k, v, mask (NULL when none). */
static void sdpa_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *q = nb__saved(n, 0), *k = nb__saved(n, 1), *v = nb__saved(n, 2), *lse = nb__saved(n, 3);
    nb_tensor *mask = n->iargs[1] ? nb__saved(n, 4) : NULL;
    nb_tensor *keep = n->iargs[2] ? nb__saved(n, n->iargs[1] ? 5 : 4) : NULL;
    nb__attn_geom geo = geom_of(q, k, v, n->iargs[0] != 0, n->fargs[0]);
    set_mask(&geo, mask, (int)n->iargs[1], keep, n->fargs[1]);
    geo.bf16 = n->autocast && q->dtype == NB_F32; /* q, k, v were saved rounded: round dO too */
    nb_tensor *dq = nb__needs_grad(n, 0) ? new_like_layout(q->dtype, q, q->shape[2], q->shape[3]) : NULL;
    nb_tensor *dk = nb__needs_grad(n, 1) ? new_like_layout(k->dtype, k, k->shape[2], k->shape[3]) : NULL;
    nb_tensor *dv = nb__needs_grad(n, 2) ? new_like_layout(v->dtype, v, v->shape[2], v->shape[3]) : NULL;
    nb_tensor *dm = mask && nb__needs_grad(n, 3)
                        ? nb__tensor_new(q->dtype, (const int64_t[]){geo.B, geo.H, geo.Tq, geo.Tk}, 4)
                        : NULL;
    if (geo.bf16)
        g = nb__bf16_round_copy(g);
    else if (g->shape[3] > 1 && g->strides[3] != 1) /* the kernel reads rows of unit stride */
        g = nb__contiguous_copy(g);
    strides3(g, geo.dos);
    if (dq)
        strides3(dq, geo.dqs);
    if (dk)
        strides3(dk, geo.dks);
    if (dv)
        strides3(dv, geo.dvs);
    nb__k_attention_backward(q->dtype, &geo, nb_tensor_data(q), nb_tensor_data(k), nb_tensor_data(v),
                             nb_tensor_data(lse), nb_tensor_data(g), dq ? nb_tensor_data(dq) : NULL,
                             dk ? nb_tensor_data(dk) : NULL, dv ? nb_tensor_data(dv) : NULL,
                             dm ? nb_tensor_data(dm) : NULL);
    gin[0] = dq, gin[1] = dk, gin[2] = dv;
    if (dm) /* the additive mask's gradient: dS summed over the dims it is broadcast along */
        gin[3] = nb__sum_to(dm, n, 3);
}
NB__DEFINE_OP_STRIDED_GRAD(scaled_dot_product_attention, sdpa_backward);

/* t itself when its last dim has unit stride (or size <= 1), else one contiguous copy. */
static nb_tensor *unit_last(const nb_tensor *t)
{
    if (t->shape[3] <= 1 || t->strides[3] == 1 || nb_tensor_numel(t) == 0)
        return (nb_tensor *)t;
    return nb__contiguous_copy(t);
}

static void check_qkv(const nb_tensor *q, const nb_tensor *k, const nb_tensor *v, bool causal, double scale)
{
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4)
        nb__fail(OP ": q, k, v must be 4-D [B, H, T, D], got shapes %s, %s, %s", NB__SHAPE(q), NB__SHAPE(k),
                 NB__SHAPE(v));
    nb__check_float(OP, q);
    if (k->dtype != q->dtype || v->dtype != q->dtype)
        nb__fail(OP ": q, k, v must have the same dtype, got %s, %s, %s", nb_dtype_name(q->dtype),
                 nb_dtype_name(k->dtype), nb_dtype_name(v->dtype));
    if (k->shape[0] != q->shape[0] || v->shape[0] != q->shape[0] || k->shape[1] != q->shape[1] ||
        v->shape[1] != q->shape[1] || v->shape[2] != k->shape[2] || k->shape[3] != q->shape[3])
        nb__fail(OP ": shapes q %s, k %s, v %s do not fit (expected [B, H, Tq, D], [B, H, Tk, D], [B, H, Tk, Dv])",
                 NB__SHAPE(q), NB__SHAPE(k), NB__SHAPE(v));
    if (causal && k->shape[2] < q->shape[2])
        nb__fail(OP ": a causal mask needs at least as many keys as queries, got q %s and k %s", NB__SHAPE(q),
                 NB__SHAPE(k));
    if (isnan(scale) || isinf(scale))
        nb__fail(OP ": scale must be finite, got %g", scale);
}

/* Checks attn_mask against [B, H, Tq, Tk] (broadcast from the right, size-1 dims repeat) and
 * returns its kind. */
static int check_mask(const nb_tensor *m, const nb_tensor *q, const nb_tensor *k, bool causal)
{
    if (!m)
        return NB__ATTN_MASK_NONE;
    if (causal)
        nb__fail(OP ": is_causal and attn_mask are exclusive, got is_causal true and an attn_mask %s", NB__SHAPE(m));
    if (m->dtype != NB_BOOL && m->dtype != q->dtype)
        nb__fail(OP ": attn_mask must be bool or q's dtype %s, got %s", nb_dtype_name(q->dtype),
                 nb_dtype_name(m->dtype));
    int64_t want[4] = {q->shape[0], q->shape[1], q->shape[2], k->shape[2]};
    bool fits = m->ndim <= 4;
    for (int i = 0; fits && i < m->ndim; i++) {
        int64_t s = m->shape[m->ndim - 1 - i];
        fits = s == 1 || s == want[3 - i];
    }
    if (!fits)
        nb__fail(OP ": attn_mask %s does not broadcast to [B, H, Tq, Tk] = [%lld, %lld, %lld, %lld]", NB__SHAPE(m),
                 (long long)want[0], (long long)want[1], (long long)want[2], (long long)want[3]);
    return m->dtype == NB_BOOL ? NB__ATTN_MASK_BOOL : NB__ATTN_MASK_ADD;
}

/* The keep flags of dropout on the [B, H, Tq, Tk] probabilities, drawn exactly as nb_dropout
 * draws its mask on a tensor of that shape: one uniform per element in row-major order, the
 * element dropped when it is < p. */
static nb_tensor *draw_keep(const int64_t shape[4], double p, nb_generator *gen)
{
    nb_tensor *keep = nb__tensor_new(NB_BOOL, shape, 4);
    uint8_t *z = nb_tensor_data(keep);
    int64_t numel = nb_tensor_numel(keep);
    for (int64_t i = 0; i < numel; i++)
        z[i] = !(nb_generator_uniform(gen) < p);
    return keep;
}

nb_tensor *nb_scaled_dot_product_attention(const nb_tensor *q, const nb_tensor *k, const nb_tensor *v,
                                           const nb_tensor *attn_mask, double dropout_p, bool is_causal,
                                           double scale, nb_generator *gen)
{
    check_qkv(q, k, v, is_causal, scale);
    int kind = check_mask(attn_mask, q, k, is_causal);
    if (!(dropout_p >= 0 && dropout_p < 1))
        nb__fail(OP ": dropout_p must be in [0, 1), got %g", dropout_p);
    int64_t D = q->shape[3];
    if (scale <= 0)
        scale = D > 0 ? 1.0 / sqrt((double)D) : 1.0;
    int scope = nb_scope_begin();
    bool bf16 = nb__autocast_for(q->dtype);
    nb_tensor *qc, *kc, *vc;
    if (bf16) /* autocast: bfloat16 copies of q, k, v (contiguous), saved for the backward */
        qc = nb__bf16_round_copy(q), kc = nb__bf16_round_copy(k), vc = nb__bf16_round_copy(v);
    else
        qc = unit_last(q), kc = unit_last(k), vc = unit_last(v);
    nb__attn_geom g = geom_of(qc, kc, vc, is_causal, scale);
    g.bf16 = bf16;
    nb_tensor *keep = NULL;
    if (dropout_p > 0)
        keep = draw_keep((const int64_t[]){g.B, g.H, g.Tq, g.Tk}, dropout_p, gen ? gen : nb_default_generator());
    set_mask(&g, attn_mask, kind, keep, 1.0 / (1.0 - dropout_p));
    int64_t oshape[4] = {g.B, g.H, g.Tq, g.Dv};
    nb_tensor *out = new_like_layout(q->dtype, qc, g.Tq, g.Dv);
    nb_tensor *lse = nb__tensor_new(NB_F64, oshape, 3);
    strides3(out, g.os);
    nb__k_attention_forward(q->dtype, &g, nb_tensor_data(qc), nb_tensor_data(kc), nb_tensor_data(vc),
                            nb_tensor_data(out), nb_tensor_data(lse));
    nb__node *n = NB__RECORD(scaled_dot_product_attention, out, q, k, v, attn_mask);
    if (n) {
        nb__save(n, qc);
        nb__save(n, kc);
        nb__save(n, vc);
        nb__save(n, lse);
        if (attn_mask)
            nb__save(n, attn_mask);
        if (keep)
            nb__save(n, keep);
        n->iargs[0] = is_causal;
        n->iargs[1] = kind;
        n->iargs[2] = keep != NULL;
        n->fargs[0] = scale;
        n->fargs[1] = 1.0 / (1.0 - dropout_p);
    }
    return nb__scope_return(scope, out);
}
