/* nb__bf16.h — internal: rounding float32 values to bfloat16 precision (the portable path of
 * bfloat16 autocast; see nb_autocast_begin in nb_autograd.h). No autograd.
 *
 * A bfloat16 is the top 16 bits of a float32 (sign, 8 exponent bits, 7 mantissa bits). Rounding
 * keeps a float32 whose low 16 bits are zero: round-to-nearest, ties to even, on the bit pattern
 * (so a value past the largest bfloat16 rounds to infinity, subnormals round like any other
 * value, infinities stay); a NaN stays a NaN of the same sign (its quiet bit is set, so a NaN whose
 * payload was only in the low bits does not become an infinity). A product of two such values is
 * exact in float32 (8 + 8 mantissa bits), so a float32 GEMM on rounded operands is a bfloat16 GEMM
 * with float32 accumulation. */
#ifndef NB__BF16_H
#define NB__BF16_H

#include "nb__tensor.h"

#include <string.h>

static inline uint32_t nb__bf16_round_bits(uint32_t u)
{
    uint32_t rne = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    uint32_t nan = (u | 0x00400000u) & 0xffff0000u;
    return (u & 0x7fffffffu) > 0x7f800000u ? nan : rne;
}

static inline float nb__bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = nb__bf16_round_bits(u);
    memcpy(&x, &u, sizeof x);
    return x;
}

/* dst[i] = nb__bf16_round(src[i]), i < n (dst == src allowed). Single-threaded. */
NB__INTERNAL void nb__bf16_round_buf(float *dst, const float *src, int64_t n);

/* A new contiguous float32 tensor: t's values rounded to bfloat16 (t must be float32). Threaded
 * over large tensors. */
NB__INTERNAL nb_tensor *nb__bf16_round_copy(const nb_tensor *t);

#endif /* NB__BF16_H */
