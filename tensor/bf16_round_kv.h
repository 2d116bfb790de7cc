/* bf16_round_kv.h — the bfloat16 rounding loop of bf16.c, included once per kernel variant
 * (NB__KV_AVX2 = 0 baseline, 1 AVX2; see nb__kv.h). No include guard on purpose. */
/* Eight lanes at a time in GCC vector extensions (one AVX2 register in the avx2 clone, two SSE2
 * ones otherwise), the scalar rule on the tail; the same bits either way. (GCC -O2 left the
 * plain loop scalar, which made rounding packed panels cost as much as a thin GEMM itself.)
 * Built once per kernel variant (nb__kv.h): bf16_round_kv.h is included with NB__KV_AVX2 0 and 1. */
NB__KV_TARGET static void NB__KV_NAME(round_loop)(float *dst, const float *src, int64_t n)
{
    const nb__u32x8 bias = {0x7fff, 0x7fff, 0x7fff, 0x7fff, 0x7fff, 0x7fff, 0x7fff, 0x7fff};
    const nb__u32x8 hi = bias ^ bias ^ 0xffff0000u, one = bias ^ bias ^ 1u;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        nb__u32x8 u;
        memcpy(&u, src + i, sizeof u);
        nb__u32x8 rne = (u + bias + ((u >> 16) & one)) & hi;
        nb__u32x8 nan = (u | 0x00400000u) & hi;
        nb__u32x8 isnan = (nb__u32x8)((u & 0x7fffffffu) > 0x7f800000u); /* all ones where NaN */
        u = (nan & isnan) | (rne & ~isnan);
        memcpy(dst + i, &u, sizeof u);
    }
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, src + i, sizeof u);
        u = nb__bf16_round_bits(u);
        memcpy(dst + i, &u, sizeof u);
    }
}

