/* bf16.c — rounding float32 buffers and tensors to bfloat16 precision (nb__bf16.h), and the
 * public scalar rounding nb_bf16_round (nb_tensor.h). */
#include "config.h"
#include "nb__bf16.h"
#include "nb__kv.h"

float nb_bf16_round(float x) { return nb__bf16_round(x); }

typedef uint32_t nb__u32x8 __attribute__((vector_size(32)));
#define NB__KV_AVX2 0
#include "bf16_round_kv.h"
#undef NB__KV_AVX2
#ifdef NB__KV_HAVE_AVX2
#define NB__KV_AVX2 1
#include "bf16_round_kv.h"
#undef NB__KV_AVX2
#endif

void nb__bf16_round_buf(float *dst, const float *src, int64_t n) { NB__KV_PICK(round_loop)(dst, src, n); }

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
