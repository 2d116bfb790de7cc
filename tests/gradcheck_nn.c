/* gradcheck_nn.c — gradcheck entries (e_*) of the fused nn ops: norms, rotary embedding, losses,
 * attention, convolution, pooling, LSTM, with their input-class helpers.
 * Part of tests/test_gradcheck (registry and driver: tests/test_gradcheck.c). */
#include "gradcheck_entries.h"

/* ==== fused nn ops ============================================================================== */
static nb_tensor *f_layer_norm(nb_tensor *const *x, int n, void *c)
{
    (void)c;
    return nb_layer_norm(x[0], n > 1 ? x[1] : NULL, n > 2 ? x[2] : NULL, 1e-5);
}
static nb_tensor *f_cross_entropy(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    return nb_cross_entropy(x[0], x[1], c);
}
static nb_tensor *f_dropout(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    P *p = c;
    nb_generator g; /* re-seeded per call: every evaluation draws the same mask */
    nb_generator_seed(&g, 4242);
    return nb_dropout(x[0], p->s, p->a, &g);
}

void e_layer_norm(gc_run *r)
{
    if (layout_class(r)) {
        CHECK(r, f_layer_norm, NULL, 7, U(r, -2, 2, 3, 4), U(r, 0.5, 1.5, 4), U(r, -1, 1, 4));
        CHECK(r, f_layer_norm, NULL, 7, U(r, -2, 2, 2, 3, 5), U(r, 0.5, 1.5, 5), U(r, -1, 1, 5));
        CHECK(r, f_layer_norm, NULL, 1, U(r, -2, 2, 3, 4)); /* no affine */
    } else {
        CHECK(r, f_layer_norm, NULL, 7, U(r, -2, 2, 0, 4), U(r, 0.5, 1.5, 4), U(r, -1, 1, 4));
    }
}

void e_cross_entropy(gc_run *r)
{
    nb_cross_entropy_opts o = nb_cross_entropy_opts_default();
    nb_tensor *t3 = IDX(NB_I64, NB_DIMS(3), 4, 0, 4);
    if (layout_class(r)) {
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 3, 5), t3);
        o.reduction = NB_REDUCTION_SUM;
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 3, 5), t3);
        o.reduction = NB_REDUCTION_NONE;
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 3, 5), IDX(NB_I32, NB_DIMS(3), 1, 2, 3));
        o.reduction = NB_REDUCTION_MEAN, o.ignore_index = 0;
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 3, 5), t3);
        o.ignore_index = -100, o.label_smoothing = 0.1;
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 3, 5), t3);
    } else if (r->cls == C_ZERO) {
        o.reduction = NB_REDUCTION_SUM;
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 0, 5), IDX(NB_I64, NB_DIMS(0), 0));
        o.reduction = NB_REDUCTION_NONE;
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 0, 5), IDX(NB_I64, NB_DIMS(0), 0));
    } else { /* logits [C] against a 0-dim target */
        CHECK(r, f_cross_entropy, &o, 1, U(r, -2, 2, 5), IDX(NB_I64, NB_SCALAR, 3));
    }
}

void e_dropout(gc_run *r)
{
    P p = {.s = 0.4, .a = 1};
    unary_shapes(r, f_dropout, &p, K_UNIF, -1, 1);
    p.a = 0; /* eval mode: the identity */
    unary_shapes(r, f_dropout, &p, K_UNIF, -1, 1);
}

/* nb_linear: x [..., in], weight [out, in], bias [out] (when given) */
static nb_tensor *f_fused_linear(nb_tensor *const *x, int n, void *c)
{
    (void)c;
    return nb_linear(x[0], x[1], n > 2 ? x[2] : NULL);
}

void e_fused_linear(gc_run *r)
{
    if (layout_class(r)) {
        CHECK(r, f_fused_linear, NULL, 7, U(r, -1, 1, 3, 4), U(r, -1, 1, 5, 4), U(r, -1, 1, 5));
        CHECK(r, f_fused_linear, NULL, 3, U(r, -1, 1, 2, 3, 4), U(r, -1, 1, 2, 4)); /* no bias */
        CHECK(r, f_fused_linear, NULL, 7, U(r, -1, 1, 4), U(r, -1, 1, 3, 4), U(r, -1, 1, 3)); /* 1-D x */
        CHECK(r, f_fused_linear, NULL, 5, U(r, -1, 1, 3, 4), U(r, -1, 1, 5, 4), U(r, -1, 1, 5)); /* fixed W */
    } else {
        CHECK(r, f_fused_linear, NULL, 7, U(r, -1, 1, 0, 4), U(r, -1, 1, 3, 4), U(r, -1, 1, 3));
        CHECK(r, f_fused_linear, NULL, 7, U(r, -1, 1, 2, 0), U(r, -1, 1, 3, 0), U(r, -1, 1, 3));
        CHECK(r, f_fused_linear, NULL, 3, U(r, -1, 1, 2, 4), U(r, -1, 1, 0, 4));
    }
}

/* nb_scaled_dot_product_attention: q, k, v [B, H, T, D], attn_mask x[3] when given; p.a causal,
 * p.s scale (<= 0: 1/sqrt(D)), p.s2 dropout_p from a generator re-seeded per call (every
 * evaluation draws the same keep flags) */
static nb_tensor *f_sdpa(nb_tensor *const *x, int n, void *c)
{
    P *p = c;
    nb_generator g;
    nb_generator_seed(&g, 4243);
    return nb_scaled_dot_product_attention(x[0], x[1], x[2], n > 3 ? x[3] : NULL, p->s2, p->a, p->s, &g);
}

void e_sdpa(gc_run *r)
{
    P p = {.a = 1};
    if (layout_class(r)) {
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 2, 2, 3, 4), U(r, -1, 1, 2, 2, 3, 4), U(r, -1, 1, 2, 2, 3, 4));
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 1, 2, 2, 3), U(r, -1, 1, 1, 2, 4, 3), U(r, -1, 1, 1, 2, 4, 3));
        p.s2 = 0.4; /* causal with dropout (GPT's training attention) */
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 2, 2, 3, 4), U(r, -1, 1, 2, 2, 3, 4), U(r, -1, 1, 2, 2, 3, 4));
        p.a = 0, p.s = 0.7, p.s2 = 0; /* no mask, Tq != Tk, Dv != D */
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 1, 2, 3, 2), U(r, -1, 1, 1, 2, 5, 2), U(r, -1, 1, 1, 2, 5, 3));
        CHECK(r, f_sdpa, &p, 5, U(r, -1, 1, 2, 1, 3, 2), U(r, -1, 1, 2, 1, 3, 2), U(r, -1, 1, 2, 1, 3, 2));
        /* full-shape bool mask (some rows lose every key: 0 out, 0 gradient), float mask with its gradient */
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 2, 2, 3, 2), U(r, -1, 1, 2, 2, 4, 2), U(r, -1, 1, 2, 2, 4, 3),
              mask(r, NB_DIMS(2, 2, 3, 4)));
        CHECK(r, f_sdpa, &p, 15, U(r, -1, 1, 1, 2, 3, 2), U(r, -1, 1, 1, 2, 4, 2), U(r, -1, 1, 1, 2, 4, 3),
              U(r, -2, 2, 1, 2, 3, 4));
        p.s2 = 0.3; /* dropout with a bool mask, with a float mask */
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 2, 2, 3, 2), U(r, -1, 1, 2, 2, 4, 2), U(r, -1, 1, 2, 2, 4, 3),
              mask(r, NB_DIMS(2, 2, 3, 4)));
        CHECK(r, f_sdpa, &p, 15, U(r, -1, 1, 1, 2, 3, 2), U(r, -1, 1, 1, 2, 4, 2), U(r, -1, 1, 1, 2, 4, 3),
              U(r, -2, 2, 1, 2, 3, 4));
    } else if (r->cls == C_BCAST) { /* masks broadcast over batch, heads, queries; float ones summed back */
        p.a = 0, p.s = 0.6;
        CHECK(r, f_sdpa, &p, 15, U(r, -1, 1, 2, 2, 3, 2), U(r, -1, 1, 2, 2, 4, 2), U(r, -1, 1, 2, 2, 4, 3),
              U(r, -2, 2, 3, 4));
        CHECK(r, f_sdpa, &p, 15, U(r, -1, 1, 2, 2, 3, 2), U(r, -1, 1, 2, 2, 4, 2), U(r, -1, 1, 2, 2, 4, 3),
              U(r, -2, 2, 2, 1, 1, 4));
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 2, 2, 3, 2), U(r, -1, 1, 2, 2, 4, 2), U(r, -1, 1, 2, 2, 4, 3),
              mask(r, NB_DIMS(1, 2, 1, 4)));
        p.s2 = 0.3;
        CHECK(r, f_sdpa, &p, 15, U(r, -1, 1, 2, 2, 3, 2), U(r, -1, 1, 2, 2, 4, 2), U(r, -1, 1, 2, 2, 4, 3),
              U0(r, -2, 2));
    } else {
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 0, 2, 3, 4), U(r, -1, 1, 0, 2, 3, 4), U(r, -1, 1, 0, 2, 3, 4));
        CHECK(r, f_sdpa, &p, 7, U(r, -1, 1, 1, 2, 0, 4), U(r, -1, 1, 1, 2, 0, 4), U(r, -1, 1, 1, 2, 0, 4));
        p.a = 0, p.s2 = 0.3; /* no keys: every row masked, 0 out */
        CHECK(r, f_sdpa, &p, 15, U(r, -1, 1, 1, 2, 3, 4), U(r, -1, 1, 1, 2, 0, 4), U(r, -1, 1, 1, 2, 0, 4),
              U(r, -1, 1, 3, 0));
    }
}

/* ==== norms, rotary embedding, losses =========================================================== */
#define G5(r, lo, hi, ...) vals(r, NB_DIMS(__VA_ARGS__), K_GRID5, lo, hi)
#define G0(r, lo, hi, ...) vals(r, NB_DIMS(__VA_ARGS__), K_GRID0, lo, hi)
/* p.a normalized_ndim; weight when n > 1 */
static nb_tensor *f_rms_norm(nb_tensor *const *x, int n, void *c)
{
    return nb_rms_norm(x[0], ((P *)c)->a, n > 1 ? x[1] : NULL, 1e-5);
}
void e_rms_norm(gc_run *r)
{
    P p = {.a = 1};
    if (layout_class(r)) {
        CHECK(r, f_rms_norm, &p, 3, U(r, -2, 2, 3, 4), U(r, 0.5, 1.5, 4));
        CHECK(r, f_rms_norm, &p, 1, U(r, -2, 2, 2, 3, 5)); /* no weight */
        p.a = 2;
        CHECK(r, f_rms_norm, &p, 3, U(r, -2, 2, 2, 3, 4), U(r, 0.5, 1.5, 3, 4));
    } else {
        CHECK(r, f_rms_norm, &p, 3, U(r, -2, 2, 0, 4), U(r, 0.5, 1.5, 4));
    }
}

/* p.a position offset, p.s theta */
static nb_tensor *f_rope(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    return nb_rope(x[0], ((P *)c)->a, ((P *)c)->s);
}
void e_rope(gc_run *r)
{
    P p = {.a = 0, .s = 10000};
    if (layout_class(r)) {
        CHECK(r, f_rope, &p, 1, U(r, -1, 1, 2, 2, 3, 4));
        p.a = 5, p.s = 100;
        CHECK(r, f_rope, &p, 1, U(r, -1, 1, 1, 2, 3, 6));
    } else {
        CHECK(r, f_rope, &p, 1, U(r, -1, 1, 2, 0, 3, 4));
    }
}

/* p.a groups; weight, bias when n > 2 */
static nb_tensor *f_group_norm(nb_tensor *const *x, int n, void *c)
{
    return nb_group_norm(x[0], ((P *)c)->a, n > 2 ? x[1] : NULL, n > 2 ? x[2] : NULL, 1e-5);
}
void e_group_norm(gc_run *r)
{
    P p = {.a = 2};
    if (layout_class(r)) {
        CHECK(r, f_group_norm, &p, 7, U(r, -2, 2, 2, 4, 3), U(r, 0.5, 1.5, 4), U(r, -1, 1, 4));
        p.a = 3;
        CHECK(r, f_group_norm, &p, 7, U(r, -2, 2, 2, 6, 2, 2), U(r, 0.5, 1.5, 6), U(r, -1, 1, 6));
        p.a = 1;
        CHECK(r, f_group_norm, &p, 1, U(r, -2, 2, 3, 4)); /* no affine, [N, C] */
    } else {
        CHECK(r, f_group_norm, &p, 7, U(r, -2, 2, 0, 4, 3), U(r, 0.5, 1.5, 4), U(r, -1, 1, 4));
    }
}

/* p.a training; running statistics x[3], x[4] when n > 3 (eval), weight, bias x[1], x[2] */
static nb_tensor *f_batch_norm(nb_tensor *const *x, int n, void *c)
{
    return nb_batch_norm(x[0], n > 3 ? x[3] : NULL, n > 3 ? x[4] : NULL, n > 2 ? x[1] : NULL, n > 2 ? x[2] : NULL,
                         ((P *)c)->a, 0.1, 1e-5);
}
void e_batch_norm(gc_run *r)
{
    P p = {.a = 1};
    if (layout_class(r)) {
        CHECK(r, f_batch_norm, &p, 7, U(r, -2, 2, 4, 3), U(r, 0.5, 1.5, 3), U(r, -1, 1, 3));
        CHECK(r, f_batch_norm, &p, 7, U(r, -2, 2, 2, 3, 4), U(r, 0.5, 1.5, 3), U(r, -1, 1, 3));
        CHECK(r, f_batch_norm, &p, 1, U(r, -2, 2, 3, 2, 2)); /* no affine */
        p.a = 0; /* eval: running statistics */
        CHECK(r, f_batch_norm, &p, 7, U(r, -2, 2, 2, 3, 4), U(r, 0.5, 1.5, 3), U(r, -1, 1, 3), U(r, -1, 1, 3),
              U(r, 0.5, 2, 3));
    } else {
        CHECK(r, f_batch_norm, &p, 7, U(r, -2, 2, 0, 3, 2), U(r, 0.5, 1.5, 3), U(r, -1, 1, 3));
    }
}

/* p.a loss (0 mse, 1 l1, 2 smooth_l1, 3 huber, 4 kl_div, 5 kl_div log_target), p.b reduction,
 * p.s beta / delta */
static nb_tensor *f_pointwise_loss(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    P *p = c;
    switch (p->a) {
    case 0: return nb_mse_loss(x[0], x[1], p->b);
    case 1: return nb_l1_loss(x[0], x[1], p->b);
    case 2: return nb_smooth_l1_loss(x[0], x[1], p->b, p->s);
    case 3: return nb_huber_loss(x[0], x[1], p->b, p->s);
    case 4: return nb_kl_div(x[0], x[1], p->b, false);
    default: return nb_kl_div(x[0], x[1], p->b, true);
    }
}
/* Input on the 0.1 grid + 0.05, target on the grid: |x - t| stays 0.05 away from the kinks at 0
 * and at beta / delta (multiples of 0.1). */
static void pointwise_loss_shapes(gc_run *r, int loss, double s)
{
    P p = {.a = loss, .s = s};
    double tlo = loss == 4 ? 0.1 : -2, thi = loss == 4 ? 1 : loss == 5 ? 0 : 2;
    if (layout_class(r)) {
        for (p.b = 0; p.b < 3; p.b++)
            CHECK(r, f_pointwise_loss, &p, 3, G5(r, -2, 2, 3, 4), G0(r, tlo, thi, 3, 4));
        p.b = NB_REDUCTION_SUM;
        CHECK(r, f_pointwise_loss, &p, 1, G5(r, -2, 2, 2, 3, 2), G0(r, tlo, thi, 2, 3, 2));
        if (loss >= 4) {
            p.b = NB_REDUCTION_BATCHMEAN;
            CHECK(r, f_pointwise_loss, &p, 3, G5(r, -2, 2, 3, 4), G0(r, tlo, thi, 3, 4));
        }
    } else if (r->cls == C_ZERO) {
        p.b = NB_REDUCTION_SUM;
        CHECK(r, f_pointwise_loss, &p, 3, G5(r, -2, 2, 0, 4), G0(r, tlo, thi, 0, 4));
        p.b = NB_REDUCTION_NONE;
        CHECK(r, f_pointwise_loss, &p, 3, G5(r, -2, 2, 0, 4), G0(r, tlo, thi, 0, 4));
    } else {
        CHECK(r, f_pointwise_loss, &p, 3, vals(r, NB_SCALAR, K_GRID5, -2, 2), vals(r, NB_SCALAR, K_GRID0, tlo, thi));
    }
}
void e_mse_loss(gc_run *r) { pointwise_loss_shapes(r, 0, 0); }
void e_l1_loss(gc_run *r) { pointwise_loss_shapes(r, 1, 0); }
void e_smooth_l1_loss(gc_run *r)
{
    pointwise_loss_shapes(r, 2, 0.5);
    pointwise_loss_shapes(r, 2, 0); /* l1 */
}
void e_huber_loss(gc_run *r) { pointwise_loss_shapes(r, 3, 0.7); }
void e_kl_div(gc_run *r)
{
    pointwise_loss_shapes(r, 4, 0);
    pointwise_loss_shapes(r, 5, 0);
}

/* p.b reduction; x[2] weight and x[3] pos_weight when p.a bit 0 / bit 1 */
static nb_tensor *f_bce_logits(nb_tensor *const *x, int n, void *c)
{
    P *p = c;
    nb_tensor *w = (p->a & 1) ? x[2] : NULL, *pw = (p->a & 2) ? x[n - 1] : NULL;
    return nb_binary_cross_entropy_with_logits(x[0], x[1], w, pw, p->b);
}
void e_bce_logits(gc_run *r)
{
    P p = {.a = 0};
    if (layout_class(r)) {
        for (p.b = 0; p.b < 3; p.b++)
            CHECK(r, f_bce_logits, &p, 3, U(r, -3, 3, 3, 4), U(r, 0, 1, 3, 4));
        p.a = 3, p.b = 0;
        CHECK(r, f_bce_logits, &p, 15, U(r, -3, 3, 3, 4), U(r, 0, 1, 3, 4), U(r, 0.5, 1.5, 3, 1), U(r, 0.5, 3, 4));
        p.a = 2, p.b = 2;
        CHECK(r, f_bce_logits, &p, 7, U(r, -3, 3, 2, 3, 4), U(r, 0, 1, 2, 3, 4), U(r, 0.5, 3, 4));
    } else if (r->cls == C_ZERO) {
        p.a = 3, p.b = NB_REDUCTION_SUM;
        CHECK(r, f_bce_logits, &p, 15, U(r, -3, 3, 0, 4), U(r, 0, 1, 0, 4), U(r, 0.5, 1.5, 4), U(r, 0.5, 3, 4));
    } else {
        CHECK(r, f_bce_logits, &p, 3, U0(r, -3, 3), U0(r, 0, 1));
    }
}

/* p.b reduction, p.c ignore_index; weight x[2] when n > 2 */
static nb_tensor *f_nll_loss(nb_tensor *const *x, int n, void *c)
{
    P *p = c;
    return nb_nll_loss(x[0], x[1], n > 2 ? x[2] : NULL, p->b, p->c);
}
void e_nll_loss(gc_run *r)
{
    P p = {.b = 0, .c = -100};
    nb_tensor *t3 = IDX(NB_I64, NB_DIMS(3), 4, 0, 2);
    if (layout_class(r)) {
        for (p.b = 0; p.b < 3; p.b++)
            CHECK(r, f_nll_loss, &p, 1, U(r, -3, 0, 3, 5), t3, U(r, 0.5, 2, 5));
        p.b = 0, p.c = 0;
        CHECK(r, f_nll_loss, &p, 1, U(r, -3, 0, 3, 5), t3);
        p.c = -100;
        CHECK(r, f_nll_loss, &p, 1, U(r, -3, 0, 2, 4, 3), IDX(NB_I32, NB_DIMS(2, 3), 3, 0, 1, 2, 2, 3), U(r, 0.5, 2, 4));
        CHECK(r, f_nll_loss, &p, 1, U(r, -3, 0, 4), IDX(NB_I64, NB_SCALAR, 2)); /* [C] input */
    } else {
        p.b = NB_REDUCTION_SUM;
        CHECK(r, f_nll_loss, &p, 1, U(r, -3, 0, 0, 5), IDX(NB_I64, NB_DIMS(0), 0));
    }
}

/* nb_cross_entropy with probability targets (and label smoothing p.s); p.b reduction */
static nb_tensor *f_ce_prob(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    P *p = c;
    nb_cross_entropy_opts o = {p->b, -100, p->s};
    return nb_cross_entropy(x[0], x[1], &o);
}
void e_ce_prob(gc_run *r)
{
    P p = {.b = 0};
    if (layout_class(r)) {
        for (p.b = 0; p.b < 3; p.b++)
            CHECK(r, f_ce_prob, &p, 3, U(r, -2, 2, 3, 5), U(r, 0, 1, 3, 5));
        p.b = 0, p.s = 0.2;
        CHECK(r, f_ce_prob, &p, 3, U(r, -2, 2, 2, 4, 3), U(r, 0, 1, 2, 4, 3));
        p.b = 2;
        CHECK(r, f_ce_prob, &p, 3, U(r, -2, 2, 5), U(r, 0, 1, 5)); /* [C] */
    } else {
        p.b = NB_REDUCTION_SUM;
        CHECK(r, f_ce_prob, &p, 3, U(r, -2, 2, 0, 5), U(r, 0, 1, 0, 5));
    }
}
/* ==== convolution and pooling ================================================================== */
/* nb_conv1d/2d: x, weight, bias (when given); ctx an nb_conv_opts */
static nb_tensor *f_conv2d(nb_tensor *const *x, int n, void *c) { return nb_conv2d(x[0], x[1], n > 2 ? x[2] : NULL, c); }
static nb_tensor *f_conv1d(nb_tensor *const *x, int n, void *c) { return nb_conv1d(x[0], x[1], n > 2 ? x[2] : NULL, c); }

void e_conv2d(gc_run *r)
{
    nb_conv_opts o = {{2, 1}, {1, 0}, {1, 2}, 2, false}; /* groups 2, strided, padded, dilated */
    if (layout_class(r)) {
        CHECK(r, f_conv2d, &o, 7, U(r, -1, 1, 2, 4, 5, 6), U(r, -1, 1, 6, 2, 3, 2), U(r, -1, 1, 6));
        CHECK(r, f_conv2d, &o, 5, U(r, -1, 1, 1, 4, 4, 5), U(r, -1, 1, 2, 2, 2, 2), U(r, -1, 1, 2)); /* fixed W */
        nb_conv_opts same = nb_conv_opts_default(); /* even kernel: the extra pad goes right/bottom */
        same.padding_same = true, same.dilation[1] = 2;
        CHECK(r, f_conv2d, &same, 7, U(r, -1, 1, 2, 2, 4, 5), U(r, -1, 1, 3, 2, 2, 4), U(r, -1, 1, 3));
        nb_conv_opts one = nb_conv_opts_default(); /* 1x1: the input is its own im2col */
        CHECK(r, f_conv2d, &one, 3, U(r, -1, 1, 2, 3, 3, 4), U(r, -1, 1, 2, 3, 1, 1));
    } else {
        CHECK(r, f_conv2d, &o, 7, U(r, -1, 1, 0, 4, 5, 6), U(r, -1, 1, 6, 2, 3, 2), U(r, -1, 1, 6));
    }
}

void e_conv1d(gc_run *r)
{
    nb_conv_opts o = {{2, 1}, {1, 0}, {2, 1}, 2, false};
    if (layout_class(r)) {
        CHECK(r, f_conv1d, &o, 7, U(r, -1, 1, 2, 4, 9), U(r, -1, 1, 6, 2, 3), U(r, -1, 1, 6));
        nb_conv_opts same = nb_conv_opts_default();
        same.padding_same = true;
        CHECK(r, f_conv1d, &same, 7, U(r, -1, 1, 2, 3, 6), U(r, -1, 1, 2, 3, 4), U(r, -1, 1, 2));
        CHECK(r, f_conv1d, NULL, 3, U(r, -1, 1, 1, 3, 5), U(r, -1, 1, 4, 3, 2)); /* defaults, no bias */
    } else {
        CHECK(r, f_conv1d, &o, 7, U(r, -1, 1, 0, 4, 9), U(r, -1, 1, 6, 2, 3), U(r, -1, 1, 6));
    }
}

/* pooling: ctx a pool_ctx; distinct values (no ties for the max) */
typedef struct {
    int64_t k[2];
    nb_pool_opts o;
} pool_ctx;
static nb_tensor *f_max_pool2d(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    pool_ctx *p = c;
    return nb_max_pool2d(x[0], p->k[0], p->k[1], &p->o);
}
static nb_tensor *f_max_pool1d(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    pool_ctx *p = c;
    return nb_max_pool1d(x[0], p->k[0], &p->o);
}
static nb_tensor *f_avg_pool2d(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    pool_ctx *p = c;
    return nb_avg_pool2d(x[0], p->k[0], p->k[1], &p->o);
}
static nb_tensor *f_avg_pool1d(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    pool_ctx *p = c;
    return nb_avg_pool1d(x[0], p->k[0], &p->o);
}

#define DPV(r, ...) vals(r, NB_DIMS(__VA_ARGS__), K_DISTINCT, -1, 1)

static void pool_shapes(gc_run *r, nb_gradcheck_fn f, bool is_max, bool two_d)
{
    pool_ctx p = {{3, 2}, nb_pool_opts_default()};
    p.o.stride[0] = 2, p.o.padding[0] = 1, p.o.padding[1] = 1;
    if (is_max)
        p.o.dilation[1] = 2;
    if (!layout_class(r)) {
        CHECK(r, f, &p, 1, two_d ? DPV(r, 0, 2, 5, 6) : DPV(r, 0, 2, 7));
        return;
    }
    CHECK(r, f, &p, 1, two_d ? DPV(r, 2, 3, 5, 6) : DPV(r, 2, 3, 7));
    p.o.ceil_mode = true, p.o.count_include_pad = false;
    CHECK(r, f, &p, 1, two_d ? DPV(r, 2, 2, 6, 7) : DPV(r, 2, 2, 8));
    if (!is_max) { /* divisor_override (issue #15), with and without count_include_pad */
        p.o.divisor_override = 5;
        CHECK(r, f, &p, 1, two_d ? DPV(r, 2, 2, 6, 7) : DPV(r, 2, 2, 8));
        p.o.count_include_pad = true, p.o.ceil_mode = false, p.o.divisor_override = 2;
        CHECK(r, f, &p, 1, two_d ? DPV(r, 1, 2, 5, 6) : DPV(r, 1, 2, 7));
    }
    pool_ctx q = {{2, 2}, nb_pool_opts_default()}; /* stride = kernel, ceil mode, unbatched */
    q.o.ceil_mode = true;
    CHECK(r, f, &q, 1, two_d ? DPV(r, 3, 5, 5) : DPV(r, 3, 5));
}
/* the _with_indices forms record the same op: their values checked alongside (issue #15) */
static nb_tensor *f_max_pool2d_idx(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    pool_ctx *p = c;
    nb_tensor *idx;
    return nb_max_pool2d_with_indices(x[0], p->k[0], p->k[1], &p->o, &idx);
}
static nb_tensor *f_max_pool1d_idx(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    pool_ctx *p = c;
    return nb_max_pool1d_with_indices(x[0], p->k[0], &p->o, NULL);
}
void e_max_pool2d(gc_run *r)
{
    pool_shapes(r, f_max_pool2d, true, true);
    pool_shapes(r, f_max_pool2d_idx, true, true);
}
void e_max_pool1d(gc_run *r)
{
    pool_shapes(r, f_max_pool1d, true, false);
    pool_shapes(r, f_max_pool1d_idx, true, false);
}
void e_avg_pool2d(gc_run *r) { pool_shapes(r, f_avg_pool2d, false, true); }
void e_avg_pool1d(gc_run *r) { pool_shapes(r, f_avg_pool1d, false, false); }
#undef DPV

/* max unpooling (issue #15): x, indices; ctx a pool_ctx (kernel, stride, padding) and, when its
 * size[0] is set, an output_size. Distinct indices within each plane (a repeated one would get
 * torch's gather gradient, not the derivative of the forward's last write). */
typedef struct {
    pool_ctx p;
    int64_t size[2];
} unpool_ctx;
static nb_tensor *f_max_unpool2d(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    unpool_ctx *u = c;
    return nb_max_unpool2d(x[0], x[1], u->p.k[0], u->p.k[1], &u->p.o, u->size[0] ? u->size : NULL);
}
static nb_tensor *f_max_unpool1d(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    unpool_ctx *u = c;
    return nb_max_unpool1d(x[0], x[1], u->p.k[0], &u->p.o, u->size[0] ? u->size : NULL);
}
/* Indices of x [..., H, W] (W = sh[nd-1], H = 1 in 1-D) pooled by a 2 x 2 (1-D: 2) window with
 * stride 2 into rows of `ow` elements: one distinct position per window, varying with the plane. */
static nb_tensor *unpool_idx(const int64_t *sh, int nd, bool two_d, int64_t ow)
{
    int64_t n = 1, W = sh[nd - 1], H = two_d ? sh[nd - 2] : 1;
    for (int i = 0; i < nd; i++)
        n *= sh[i];
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t e = 0; e < n; e++) {
        int64_t j = e % W, i = e / W % H, p = e / (W * H);
        v[e] = (double)((2 * i + (two_d ? (i + j + p) % 2 : 0)) * ow + 2 * j + (j + p + 1) % 2);
    }
    nb_tensor *t = ints(NB_I64, sh, nd, v);
    free(v);
    return t;
}
static void unpool_shapes(gc_run *r, nb_gradcheck_fn f, bool two_d)
{
    unpool_ctx u = {{{2, 2}, nb_pool_opts_default()}, {0, 0}};
    int64_t b = layout_class(r) ? 2 : 0, sh2[4] = {b, 3, 2, 3}, sh1[3] = {b, 3, 4};
    const int64_t *sh = two_d ? sh2 : sh1;
    int nd = two_d ? 4 : 3;
    CHECK(r, f, &u, 1, vals(r, sh, nd, K_UNIF, -1, 1), unpool_idx(sh, nd, two_d, two_d ? 6 : 8));
    if (!layout_class(r))
        return;
    u.size[0] = two_d ? 5 : 9, u.size[1] = 7; /* output_size: the indices stay inside */
    CHECK(r, f, &u, 1, vals(r, sh + 1, nd - 1, K_UNIF, -1, 1), unpool_idx(sh + 1, nd - 1, two_d, two_d ? 7 : 9));
}
void e_max_unpool2d(gc_run *r) { unpool_shapes(r, f_max_unpool2d, true); }
void e_max_unpool1d(gc_run *r) { unpool_shapes(r, f_max_unpool1d, false); }

/* transposed convolution: x, weight [Cin, Cout/groups, k...], bias (when given); ctx an nb_conv_transpose_opts */
static nb_tensor *f_conv_transpose2d(nb_tensor *const *x, int n, void *c)
{
    return nb_conv_transpose2d(x[0], x[1], n > 2 ? x[2] : NULL, c);
}
static nb_tensor *f_conv_transpose1d(nb_tensor *const *x, int n, void *c)
{
    return nb_conv_transpose1d(x[0], x[1], n > 2 ? x[2] : NULL, c);
}
void e_conv_transpose2d(gc_run *r)
{
    /* groups 2, strided with output_padding, padded, dilated */
    nb_conv_transpose_opts o = {{2, 1}, {1, 0}, {1, 0}, {1, 2}, 2};
    if (layout_class(r)) {
        CHECK(r, f_conv_transpose2d, &o, 7, U(r, -1, 1, 2, 4, 3, 4), U(r, -1, 1, 4, 3, 3, 2), U(r, -1, 1, 6));
        /* fixed W */
        CHECK(r, f_conv_transpose2d, &o, 5, U(r, -1, 1, 1, 4, 2, 3), U(r, -1, 1, 4, 1, 2, 2), U(r, -1, 1, 2));
        nb_conv_transpose_opts dil = {{1, 1}, {1, 0}, {1, 0}, {2, 1}, 1}; /* output_padding < dilation */
        CHECK(r, f_conv_transpose2d, &dil, 3, U(r, -1, 1, 2, 2, 3, 3), U(r, -1, 1, 2, 3, 2, 2));
        /* 1x1, defaults */
        CHECK(r, f_conv_transpose2d, NULL, 7, U(r, -1, 1, 2, 3, 3, 2), U(r, -1, 1, 3, 2, 1, 1), U(r, -1, 1, 2));
    } else {
        CHECK(r, f_conv_transpose2d, &o, 7, U(r, -1, 1, 0, 4, 3, 4), U(r, -1, 1, 4, 3, 3, 2), U(r, -1, 1, 6));
    }
}
void e_conv_transpose1d(gc_run *r)
{
    nb_conv_transpose_opts o = {{2, 1}, {1, 0}, {1, 0}, {2, 1}, 3};
    if (layout_class(r)) {
        CHECK(r, f_conv_transpose1d, &o, 7, U(r, -1, 1, 2, 3, 5), U(r, -1, 1, 3, 2, 3), U(r, -1, 1, 6));
        CHECK(r, f_conv_transpose1d, NULL, 3, U(r, -1, 1, 1, 3, 4), U(r, -1, 1, 3, 4, 2)); /* defaults, no bias */
    } else {
        CHECK(r, f_conv_transpose1d, &o, 7, U(r, -1, 1, 0, 3, 5), U(r, -1, 1, 3, 2, 3), U(r, -1, 1, 6));
    }
}

/* ==== perf: fused LSTM recurrence (nn/lstm_op.c) ================================================ */
/* x: gx [T, B, 4H], w_hh [4H, H], then (as n allows) b_hh [4H], h0 and c0 [B, H] */
static nb_tensor *f_lstm_recurrence(nb_tensor *const *x, int n, void *c)
{
    (void)c;
    return nb_lstm_recurrence(x[0], x[1], n > 2 ? x[2] : NULL, n > 3 ? x[3] : NULL, n > 4 ? x[4] : NULL);
}
void e_lstm_recurrence(gc_run *r)
{
    if (layout_class(r)) {
        CHECK(r, f_lstm_recurrence, NULL, 31, U(r, -1, 1, 3, 2, 8), U(r, -1, 1, 8, 2), U(r, -1, 1, 8),
              U(r, -1, 1, 2, 2), U(r, -1, 1, 2, 2));
        CHECK(r, f_lstm_recurrence, NULL, 3, U(r, -1, 1, 2, 3, 12), U(r, -1, 1, 12, 3)); /* zero state, no bias */
        CHECK(r, f_lstm_recurrence, NULL, 29, U(r, -1, 1, 4, 1, 4), U(r, -1, 1, 4, 1), U(r, -1, 1, 4),
              U(r, -1, 1, 1, 1), U(r, -1, 1, 1, 1)); /* fixed w_hh, H = 1 */
    } else {
        CHECK(r, f_lstm_recurrence, NULL, 31, U(r, -1, 1, 0, 2, 8), U(r, -1, 1, 8, 2), U(r, -1, 1, 8),
              U(r, -1, 1, 2, 2), U(r, -1, 1, 2, 2)); /* T = 0 */
        CHECK(r, f_lstm_recurrence, NULL, 31, U(r, -1, 1, 3, 0, 8), U(r, -1, 1, 8, 2), U(r, -1, 1, 8),
              U(r, -1, 1, 0, 2), U(r, -1, 1, 0, 2)); /* B = 0 */
    }
}

/* ==== interpolation (nn/interp.c) ================================================================ */
/* ctx an nb_interp_opts; each mode on 1-D / 2-D inputs, sizes and scale factors, up and down */
static nb_tensor *f_interpolate(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    return nb_interpolate(x[0], c);
}
static nb_interp_opts interp_opts(nb_interp_mode mode, int64_t s0, int64_t s1, double f0, double f1, bool ac)
{
    nb_interp_opts o = nb_interp_opts_default();
    o.mode = mode, o.size[0] = s0, o.size[1] = s1, o.scale[0] = f0, o.scale[1] = f1, o.align_corners = ac;
    return o;
}
void e_interpolate(gc_run *r)
{
    int64_t b = layout_class(r) ? 2 : 0;
    nb_interp_opts o = interp_opts(NB_INTERP_NEAREST, 8, 0, 0, 0, false);
    CHECK(r, f_interpolate, &o, 1, U(r, -1, 1, b, 3, 5));
    o = interp_opts(NB_INTERP_BILINEAR, 0, 0, 2, 0.5, true);
    CHECK(r, f_interpolate, &o, 1, U(r, -1, 1, b, 2, 3, 6));
    if (!layout_class(r))
        return;
    o = interp_opts(NB_INTERP_NEAREST, 0, 0, 1.5, 0.7, false);
    CHECK(r, f_interpolate, &o, 1, U(r, -1, 1, 2, 2, 4, 5));
    o = interp_opts(NB_INTERP_LINEAR, 0, 0, 1.5, 0, false);
    CHECK(r, f_interpolate, &o, 1, U(r, -1, 1, 2, 3, 5));
    o = interp_opts(NB_INTERP_LINEAR, 3, 0, 0, 0, true);
    CHECK(r, f_interpolate, &o, 1, U(r, -1, 1, 1, 2, 7));
    o = interp_opts(NB_INTERP_BILINEAR, 5, 7, 0, 0, false);
    CHECK(r, f_interpolate, &o, 1, U(r, -1, 1, 1, 2, 3, 4));
}
