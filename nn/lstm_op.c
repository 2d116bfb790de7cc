/* lstm_op.c — nb_lstm_recurrence: one LSTM layer's recurrence over all timesteps as one
 * differentiable op (kernels in tensor/k_lstm.c): shape checks, the kernel call, node recording,
 * and the backward right above the forward. nn/rnn.c's LSTM and LSTMCell run through it. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__k_lstm.h"
#include "nb_nn.h"

/* iargs of the node: which of h0 and c0 were given. */
enum { IA_H0, IA_C0 };

/* saved: 0 w_hh, 1 hc (the output), 2 acts, 3 (when h0 or c0 was given) s0 [2, B, H] = h0, c0 (a
 * missing one as zeros); all contiguous.
 * dgx = dA (the pre-activation gradient) and the other gradients from it (k_lstm.c). */
static void lstm_recurrence_backward(nb__node *n, nb_tensor *g, nb_tensor **gin)
{
    nb_tensor *w = nb__saved(n, 0), *hc = nb__saved(n, 1), *acts = nb__saved(n, 2);
    int64_t T = hc->shape[0], B = hc->shape[1], H = w->shape[1];
    nb_dtype dt = w->dtype;
    nb_tensor *s0 = n->iargs[IA_H0] || n->iargs[IA_C0] ? nb__saved(n, 3) : NULL;
    const char *h0 = n->iargs[IA_H0] ? nb_tensor_data(s0) : NULL;
    const char *c0 = n->iargs[IA_C0] ? (const char *)nb_tensor_data(s0) + (size_t)(B * H) * nb_dtype_size(dt) : NULL;
    nb_tensor *dgx = nb__tensor_new(dt, NB_DIMS(T, B, 4 * H)); /* always computed: dW and db come from it */
    nb_tensor *dw = nb__needs_grad(n, 1) ? nb__tensor_new(dt, NB_DIMS(4 * H, H)) : NULL;
    nb_tensor *db = nb__needs_grad(n, 2) ? nb__tensor_new(dt, NB_DIMS(4 * H)) : NULL;
    nb_tensor *dh0 = nb__needs_grad(n, 3) ? nb__tensor_new(dt, NB_DIMS(B, H)) : NULL;
    nb_tensor *dc0 = nb__needs_grad(n, 4) ? nb__tensor_new(dt, NB_DIMS(B, H)) : NULL;
#define DATA(t) ((t) ? nb_tensor_data(t) : NULL)
    nb__k_lstm_backward(dt, T, B, H, nb_tensor_data(w), h0, c0, nb_tensor_data(hc), nb_tensor_data(acts),
                        nb_tensor_data(g), nb_tensor_data(dgx), DATA(dw), DATA(db), DATA(dh0), DATA(dc0));
#undef DATA
    gin[0] = nb__needs_grad(n, 0) ? dgx : NULL;
    gin[1] = dw, gin[2] = db, gin[3] = dh0, gin[4] = dc0;
}
NB__DEFINE_OP(lstm_recurrence, lstm_recurrence_backward);

static const nb_tensor *dense(const nb_tensor *t)
{
    return !t || nb_tensor_is_contiguous(t) ? t : nb__contiguous_copy(t);
}

static void check_args(const nb_tensor *gx, const nb_tensor *w_hh, const nb_tensor *b_hh, const nb_tensor *h0,
                       const nb_tensor *c0)
{
    const char *op = "nb_lstm_recurrence";
    nb__check_float(op, gx);
    nb__check_same_dtype(op, gx, w_hh);
    if (w_hh->ndim != 2 || w_hh->shape[0] != 4 * w_hh->shape[1])
        nb__fail("%s: w_hh must be [4H, H], got shape %s", op, NB__SHAPE(w_hh));
    int64_t H = w_hh->shape[1];
    if (gx->ndim != 3 || gx->shape[2] != 4 * H)
        nb__fail("%s: gx of shape %s does not fit w_hh of shape %s (want [T, B, %lld])", op, NB__SHAPE(gx),
                 NB__SHAPE(w_hh), (long long)(4 * H));
    if (b_hh) {
        nb__check_same_dtype(op, gx, b_hh);
        if (b_hh->ndim != 1 || b_hh->shape[0] != 4 * H)
            nb__fail("%s: b_hh of shape %s does not fit w_hh of shape %s (want [%lld])", op, NB__SHAPE(b_hh),
                     NB__SHAPE(w_hh), (long long)(4 * H));
    }
    const nb_tensor *st[2] = {h0, c0};
    for (int k = 0; k < 2; k++)
        if (st[k]) {
            nb__check_same_dtype(op, gx, st[k]);
            if (st[k]->ndim != 2 || st[k]->shape[0] != gx->shape[1] || st[k]->shape[1] != H)
                nb__fail("%s: %s of shape %s does not fit [B %lld, H %lld]", op, k ? "c0" : "h0", NB__SHAPE(st[k]),
                         (long long)gx->shape[1], (long long)H);
        }
    nb__check_shape(op, 3, (int64_t[]){gx->shape[0], gx->shape[1], 5 * H}); /* the saved activations */
}

nb_tensor *nb_lstm_recurrence(const nb_tensor *gx, const nb_tensor *w_hh, const nb_tensor *b_hh, const nb_tensor *h0,
                              const nb_tensor *c0)
{
    check_args(gx, w_hh, b_hh, h0, c0);
    int64_t T = gx->shape[0], B = gx->shape[1], H = w_hh->shape[1];
    int scope = nb_scope_begin();
    const nb_tensor *gxc = dense(gx), *wc = dense(w_hh), *bc = dense(b_hh), *hc0 = dense(h0), *cc0 = dense(c0);
    nb_tensor *hc = nb__tensor_new(gx->dtype, NB_DIMS(T, B, 2 * H));
    bool grad = nb__any_requires_grad(5, (const nb_tensor *[]){gx, w_hh, b_hh, h0, c0});
    nb_tensor *acts = grad ? nb__tensor_new(gx->dtype, NB_DIMS(T, B, 5 * H)) : NULL;
#define DATA(t) ((t) ? nb_tensor_data(t) : NULL)
    nb__k_lstm_forward(gx->dtype, T, B, H, DATA(gxc), DATA(wc), DATA(bc), DATA(hc0), DATA(cc0), DATA(hc), DATA(acts));
#undef DATA
    nb__node *n = NB__RECORD(lstm_recurrence, hc, gx, w_hh, b_hh, h0, c0);
    if (n) {
        nb__save(n, wc);
        nb__save_output(n, hc);
        nb__save(n, acts);
        n->iargs[IA_H0] = h0 != NULL, n->iargs[IA_C0] = c0 != NULL;
        if (h0 || c0) {
            nb_tensor *s0 = nb_zeros(NB_DIMS(2, B, H), gx->dtype);
            size_t sb = (size_t)(B * H) * nb_dtype_size(gx->dtype);
            if (h0 && sb)
                memcpy(nb_tensor_data(s0), nb_tensor_data(hc0), sb);
            if (c0 && sb)
                memcpy((char *)nb_tensor_data(s0) + sb, nb_tensor_data(cc0), sb);
            nb__save(n, s0);
        }
    }
    return nb__scope_return(scope, hc);
}
