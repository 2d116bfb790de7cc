/* nb__k_attention.h — internal: fused scaled-dot-product attention kernels. No autograd.
 *
 * Per (b, h) pair, with Q [Tq, D], K [Tk, D], V [Tk, Dv]:
 *     S = scale * Q K^T,   P = softmax(S) over keys (masked keys get P = 0),   O = P V
 * causal: query i sees keys j <= i + (Tk - Tq) (the mask is aligned bottom-right, so with a KV
 * cache the Tq new queries see every cached key; Tk == Tq is the usual lower triangle). The caller
 * guarantees Tk >= Tq when causal, so every row sees at least one key. With a mask (below) a row
 * may see none: its P row is 0 (so its output and gradients are 0) and its lse is -inf. Masked
 * keys get P = 0 exactly.
 * With dropout (keep below): O = (P * Z) V, Z the scaled keep mask; lse is still P's.
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
    /* Optional attention mask (never with causal), read through element strides ms of dims
     * b, h, i, j (0 where broadcast): mask_kind NB__ATTN_MASK_BOOL (uint8: nonzero = the key takes
     * part, else S_ij = -inf) or NB__ATTN_MASK_ADD (the element type: S_ij += m_ij). */
    int mask_kind;
    const void *mask;
    int64_t ms[4];
    /* Optional dropout on P: keep contiguous [B, H, Tq, Tk] uint8; P_ij becomes P_ij * keep_scale
     * where keep_ij != 0, else 0 (keep_scale = 1/(1-p), rounded to the element type). */
    const uint8_t *keep;
    double keep_scale;
    /* bfloat16 autocast (float only): the caller passes q, k, v (and dout) already rounded to
     * bfloat16 (nb__bf16.h); the kernels round P before O = P V, and in the backward P and dS
     * (computed in float32 from the float32 P) before dV = (P Z)^T dO, dQ = scale dS K and
     * dK = scale dS^T Q. Scores, softmax and lse stay float32. */
    bool bf16;
} nb__attn_geom;
enum { NB__ATTN_MASK_NONE, NB__ATTN_MASK_BOOL, NB__ATTN_MASK_ADD };

/* out [B, H, Tq, Dv] = attention(q, k, v); lse [B, H, Tq]. Tk == 0: out 0, lse -inf. */
NB__INTERNAL void nb__k_attention_forward(nb_dtype dt, const nb__attn_geom *g, const void *q, const void *k,
                                          const void *v, void *out, double *lse);

/* Gradients from dout [B, H, Tq, Dv], recomputing P from q, k and lse (the forward's):
 *     dV = P^T dO,  dP = dO V^T,  dS = P * (dP - rowsum(P * dP)),  dQ = scale dS K,  dK = scale dS^T Q.
 * (rowsum(P * dP) equals rowsum(dO * O), so the output need not be kept.) dq [B, H, Tq, D],
 * dk [B, H, Tk, D], dv [B, H, Tk, Dv]: each may be NULL (not computed); they are overwritten
 * (each must not overlap the others or the inputs). With dropout, dP = (dO V^T) * Z and
 * dV = (P * Z)^T dO. dmask: NULL, or contiguous [B, H, Tq, Tk] (element type, not causal) receiving
 * dS, the gradient of the masked scores (what an additive mask's gradient sums from). */
NB__INTERNAL void nb__k_attention_backward(nb_dtype dt, const nb__attn_geom *g, const void *q, const void *k,
                                           const void *v, const double *lse, const void *dout, void *dq,
                                           void *dk, void *dv, void *dmask);

#endif /* NB__K_ATTENTION_H */
