/* nb__k_lstm.h — internal kernels of the fused LSTM recurrence (nn/lstm_op.c; no autograd).
 *
 * One layer over T timesteps, torch.nn.LSTM's equations with gate rows (i, f, g, o):
 *     a_t  = gx_t + (h_{t-1} W_hh^T + b_hh)          [B, 4H]  (gx_t = x_t W_ih^T + b_ih, given)
 *     i, f, o = sigmoid(a_i, a_f, a_o), g = tanh(a_g)
 *     c_t  = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
 * h_{-1} = h0, c_{-1} = c0 (NULL: zeros). The output hc [T, B, 2H] holds h_t in [..., :H] and c_t
 * in [..., H:]. Each step is one GEMM (threaded by its own rule) and one pointwise pass over the
 * batch rows (rows split over threads). The backward runs the steps in reverse with one GEMM per
 * step (dh_{t-1} = dA_t W_hh) and then the weight gradient of all steps as ONE GEMM
 * (dW_hh = sum_t dA_t^T h_{t-1}, K = T*B). Every value is computed in one fixed order whatever
 * the thread count (GEMMs split C, never K; rows are independent), so results are bit-identical
 * for any number of threads. */
#ifndef NB__K_LSTM_H
#define NB__K_LSTM_H

#include "nb__tensor.h"

/* gx [T, B, 4H], w_hh [4H, H], b_hh [4H] (or NULL), h0, c0 [B, H] (or NULL), all contiguous.
 * Writes hc [T, B, 2H] and, when acts is not NULL, the activations the backward needs,
 * acts [T, B, 5H] = (i, f, g, o, tanh(c_t)) per row. */
NB__INTERNAL void nb__k_lstm_forward(nb_dtype dt, int64_t T, int64_t B, int64_t H, const void *gx, const void *w_hh,
                                     const void *b_hh, const void *h0, const void *c0, void *hc, void *acts);
/* Gradients from ghc [T, B, 2H] (the gradient of hc): dgx [T, B, 4H] (always written: it is
 * dA, the gradient of the pre-activations, which the weight gradients are computed from), and
 * when not NULL dw_hh [4H, H], db_hh [4H] (summed in double), dh0 and dc0 [B, H]. w_hh, h0, c0,
 * hc, acts as given to / written by the forward. */
NB__INTERNAL void nb__k_lstm_backward(nb_dtype dt, int64_t T, int64_t B, int64_t H, const void *w_hh, const void *h0,
                                      const void *c0, const void *hc, const void *acts, const void *ghc, void *dgx,
                                      void *dw_hh, void *db_hh, void *dh0, void *dc0);

#endif /* NB__K_LSTM_H */
