/* nb__kv.h — kernel variants: which instruction-set builds of the kernels run, and how a kernel
 * is built once per variant and dispatched explicitly (no ifunc: the choice can be forced).
 *
 * The variant set in force is the best the CPU supports, or what the environment variable
 * NB_KERNELS names (read once, at the first kernel call): portable (no x86 extension: the
 * generic GEMM, the baseline builds of the loops), avx2 (AVX2+FMA GEMM, AVX2 loops), avx512
 * (AVX-512F GEMM, AVX2 loops), avx512bf16 (avx512, with autocast's bfloat16 GEMM on AVX512_BF16
 * dot products), amx (avx512, with the bfloat16 GEMM on AMX tiles; Linux is asked for the tile
 * state once, when the CPU has AMX). A name the CPU lacks, or an unknown one, stops through the
 * misuse handler with one line naming it and what this CPU offers. New variants: one row in
 * kernels.c's table and one enumerator here, in order of preference (higher = preferred).
 *
 * A hot loop with a built-for-AVX2 copy (a loop without reductions whose order follows the
 * vector width, so both copies give identical results; FMA contraction is off in ISO C mode):
 * the file holding it is included once with NB__KV_AVX2 defined to 1 and once to 0, and
 *     NB__KV_TARGET static void NB__KV_NAME(f)(...)    defines f_kv1 (AVX2) / f_kv0 (baseline)
 *     NB__KV_PICK(f)                                     the copy in force (an expression)
 * NB__KV_HAVE_AVX2 says whether AVX2 copies are built at all (GCC or Clang on x86-64); without
 * them, NB__KV_PICK(f) is f_kv0 and the includer skips the NB__KV_AVX2 = 1 inclusion. */
#ifndef NB__KV_H
#define NB__KV_H

#include "nb__tensor.h"

typedef enum {
    NB__KV_PORTABLE, /* baseline x86-64 (SSE2) or any other CPU: no extension used */
    NB__KV_AVX2,     /* AVX2 + FMA */
    NB__KV_AVX512,   /* AVX-512F (GEMM and attention); loops stay AVX2 */
    NB__KV_AVX512BF16, /* avx512, and the bfloat16 GEMM on AVX512_BF16 (vdpbf16ps) */
    NB__KV_AMX,      /* avx512bf16, and the bfloat16 GEMM on AMX-BF16 tiles */
    NB__KV_COUNT
} nb__kv_set;

/* The variant set in force: NB_KERNELS's (checked against the CPU) or the best supported. */
NB__INTERNAL nb__kv_set nb__kernels(void);
/* Whether this CPU can run variant set v. */
NB__INTERNAL bool nb__kernels_cpu_has(nb__kv_set v);
/* "portable", "avx2", "avx512", "avx512bf16", "amx" (NB_KERNELS's spelling); "?" out of range. */
NB__INTERNAL const char *nb__kernels_name(nb__kv_set v);
/* Whether the AVX2 copies of the loops run (the set in force is avx2 or above). */
NB__INTERNAL bool nb__kv_avx2(void);
/* Whether NB_KERNELS chose the set (then BLAS is not used either). */
NB__INTERNAL bool nb__kernels_forced(void);
/* For tests: read NB_KERNELS again at the next kernel call. */
NB__INTERNAL void nb__kernels_reread_env(void);

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define NB__KV_HAVE_AVX2 1
#define NB__KV_PICK(f) NB__KV_PICK_(f)
#define NB__KV_PICK_(f) (nb__kv_avx2() ? f##_kv1 : f##_kv0)
#else
#define NB__KV_PICK(f) NB__KV_PICK_(f)
#define NB__KV_PICK_(f) f##_kv0
#endif
#define NB__KV_NAME(f) NB__KV_NAME_(f, NB__KV_AVX2)
#define NB__KV_NAME_(f, v) NB__KV_NAME__(f, v)
#define NB__KV_NAME__(f, v) f##_kv##v
#define NB__KV_TARGET NB__KV_TARGET_(NB__KV_AVX2)
#define NB__KV_TARGET_(v) NB__KV_TARGET__(v)
#define NB__KV_TARGET__(v) NB__KV_TGT_##v
#define NB__KV_TGT_0
#define NB__KV_TGT_1 __attribute__((target("avx2")))

#endif /* NB__KV_H */
