/* bf16.c — rounding float32 buffers and tensors to bfloat16 precision (nb__bf16.h), and the
 * public scalar rounding nb_bf16_round (nb_tensor.h). */
#include "config.h"
#include "nb__bf16.h"

float nb_bf16_round(float x) { return nb__bf16_round(x); }

/* Eight lanes at a time in GCC vector extensions (one AVX2 register in the avx2 clone, two SSE2
 * ones otherwise), the scalar rule on the tail; the same bits either way. (GCC -O2 left the
 * plain loop scalar, which made rounding packed panels cost as much as a thin GEMM itself.)
 * Static: a target_clones function's resolver would otherwise be exported. */
typedef uint32_t nb__u32x8 __attribute__((vector_size(32)));
static NB__TARGET_CLONES void round_loop(float *dst, const float *src, int64_t n)
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

void nb__bf16_round_buf(float *dst, const float *src, int64_t n) { round_loop(dst, src, n); }

nb_tensor *nb__bf16_round_copy(const nb_tensor *t)
{
    if (t->dtype != NB_F32)
        nb__fail("nb__bf16_round_copy: needs a float32 tensor, got %s", nb_dtype_name(t->dtype));
    nb_tensor *c = nb__contiguous_copy(t); /* always a new tensor: rounded in place below */
    float *d = nb_tensor_data(c);
    int64_t n = nb_tensor_numel(c);
    enum { CHUNK = 16384 };
    int64_t chunks = (n + CHUNK - 1) / CHUNK;
    int nt = nb__threads_for(n * 2);
    if (nt > chunks)
        nt = chunks > 0 ? (int)chunks : 1;
    NB__OMP_PARALLEL_FOR(nt)
    for (int64_t c0 = 0; c0 < chunks; c0++) {
        int64_t lo = c0 * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
        nb__bf16_round_buf(d + lo, d + lo, len);
    }
    return c;
}
