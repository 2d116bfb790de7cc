/* nb__simd.h — x86-64 vector building blocks shared by the kernels (GEMM packing, attention).
 * Defines NB__X86 (GCC/Clang on x86-64) and, there, the AVX2+FMA target attribute and an 8 x 8
 * float transpose in registers. Include after config.h. */
#ifndef NB__SIMD_H
#define NB__SIMD_H

#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define NB__X86 1
#include <immintrin.h>

#define NB__TGT_AVX2 __attribute__((target("avx2,fma")))
#define NB__TGT_AVX512 __attribute__((target("avx512f")))

/* r[q] = column q of the 8 x 8 block whose rows are r[0..7], in place. */
NB__TGT_AVX2 static inline void nb__transpose8_ps(__m256 r[8])
{
    __m256 t[8], u[8];
    _Pragma("GCC unroll 16") for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    _Pragma("GCC unroll 16") for (int i = 0; i < 2; i++) {
        u[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    _Pragma("GCC unroll 16") for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}
#endif

#endif /* NB__SIMD_H */
