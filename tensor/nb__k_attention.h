/* nb__k_attention.h — internal: fused scaled-dot-product attention kernels. No autograd.
 *
 * Per (b, h) pair, with Q [Tq, D], K [Tk, D], V [Tk, Dv]:
 *     S = scale * Q K^T,   P = softmax(S) over keys (masked keys get P = 0),   O = P V
 * causal: query i sees keys j <= i + (Tk - Tq) (the mask is aligned bottom-right, so with a KV
 * cache the Tq new queries see every cached key; Tk == Tq is the usual lower triangle). The caller
 * guarantees Tk >= Tq when causal, so every row sees at least one key.
 *
 * Layout: q, k, v, out, dout, dq, dk and dv are read and written through element strides of their
 * b, h and t dims (a stride triple of zeros means contiguous [B, H, T*, *]); every last dim has unit
 * stride (the caller copies otherwise). So a [B, H, T, D] view of a [B, T, H, D] buffer (heads
 * split from one projection, as GPT does) is used in place, and outputs can be written in that
 * layout too. lse is contiguous [B, H, Tq] in double: lse = log(sum_j exp(S_ij)) over visible keys.
 *
 * Work is split over (b, h) pairs, one pair processed whole by one thread in row blocks of a
 * thread-local score tile (block rows x Tk, so any T fits); with a causal mask a row block only
 * computes the keys its last row can see. Every pair's arithmetic is the same whatever thread
 * runs it: results are bit-identical for any thread count. */
#ifndef NB__K_ATTENTION_H
#define NB__K_ATTENTION_H

#include "nb__tensor.h"

typedef struct nb__attn_geom {
    int64_t B, H, Tq, Tk, D, Dv;
    int64_t qs[3], ks[3], vs[3]; /* element strides of dims b, h, t of q, k, v */
    int64_t os[3], dos[3];       /* of out (forward) and dout (backward); zeros: contiguous */
    int64_t dqs[3], dks[3], dvs[3]; /* of dq, dk, dv (backward); zeros: contiguous */
    bool causal;
    double scale;
} nb__attn_geom;

/* out [B, H, Tq, Dv] = attention(q, k, v); lse [B, H, Tq]. Tk == 0: out 0, lse -inf. */
NB__INTERNAL void nb__k_attention_forward(nb_dtype dt, const nb__attn_geom *g, const void *q, const void *k,
                                          const void *v, void *out, double *lse);

/* Gradients from dout [B, H, Tq, Dv], recomputing P from q, k and lse (the forward's):
 *     dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(P * dP)),  dQ = scale dS K,  dK = scale dS^T Q.
 * (rowsum(P * dP) equals rowsum(dO * O), so the output need not be kept.) dq [B, H, Tq, D],
 * dk [B, H, Tk, D], dv [B, H, Tk, Dv]: each may be NULL (not computed); they are overwritten
 * (each must not overlap the others or the inputs). */
NB__INTERNAL void nb__k_attention_backward(nb_dtype dt, const nb__attn_geom *g, const void *q, const void *k,
                                           const void *v, const double *lse, const void *dout, void *dq,
                                           void *dk, void *dv);

#endif /* NB__K_ATTENTION_H */
