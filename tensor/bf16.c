/* bf16.c — rounding float32 buffers and tensors to bfloat16 precision (nb__bf16.h), and the
 * public scalar rounding nb_bf16_round (nb_tensor.h). */
#include "config.h"
#include "nb__bf16.h"

float nb_bf16_round(float x) { return nb__bf16_round(x); }

/* (static: a target_clones function's resolver would otherwise be exported) */
static NB__TARGET_CLONES void round_loop(float *dst, const float *src, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
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
