/* nb__k_attention.h — internal: fused scaled-dot-product attention kernels. No autograd.
 *
 * Per (b, h) pair, with Q [Tq, D], K [Tk, D], V [Tk, Dv]:
 *     S = scale * Q K^T,   P = softmax(S) over keys (masked keys get P = 0),   O = P V
 * causal: query i sees keys j <= i + (Tk - Tq) (the mask is aligned bottom-right, so with a KV
 * cache the Tq new queries see every cached key; Tk == Tq is the usual lower triangle). The caller
 * guarantees Tk >= Tq when causal, so every row sees at least one key.
 *
 * Layout: q, k, v are read through element strides of their b, h and t dims; their last dim has
 * unit stride (the caller copies otherwise). out, dout, dq, dk, dv are contiguous [B, H, T*, *];
 * lse is contiguous [B, H, Tq] in double: lse = log(sum_j exp(S_ij)) over visible keys.
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
    bool causal;
    double scale;
} nb__attn_geom;

/* out [B, H, Tq, Dv] = attention(q, k, v); lse [B, H, Tq]. Tk == 0: out 0, lse -inf. */
NB__INTERNAL void nb__k_attention_forward(nb_dtype dt, const nb__attn_geom *g, const void *q, const void *k,
                                          const void *v, void *out, double *lse);

/* Gradients from dout [B, H, Tq, Dv], recomputing P from q, k and lse (the forward's):
 *     dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(P * dP)),  dQ = scale dS K,  dK = scale dS^T Q.
 * (rowsum(P * dP) equals rowsum(dO * O), so the output need not be kept.) dq [B, H, Tq, D],
 * dk [B, H, Tk, D], dv [B, H, Tk, Dv]: each may be NULL (not computed); they are overwritten. */
NB__INTERNAL void nb__k_attention_backward(nb_dtype dt, const nb__attn_geom *g, const void *q, const void *k,
                                           const void *v, const double *lse, const void *dout, void *dq,
                                           void *dk, void *dv);

#endif /* NB__K_ATTENTION_H */
