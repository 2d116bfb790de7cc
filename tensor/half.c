/* half.c — the storage-only dtypes bfloat16 and float16: conversions of values to and from
 * their 16-bit patterns (round to nearest, ties to even, once), and the copy loops between them
 * and float32 that nb_to_dtype uses. */
#include "config.h"
#include "nb__tensor.h"

#include <math.h>

/* The pattern of v rounded to a binary format of 1 sign, ebits exponent and mbits fraction bits
 * (IEEE 754 layout: bias 2^(ebits-1) - 1, subnormals, all-ones exponent for inf/NaN). v's 53-bit
 * significand m is divided by 2^s, where s makes one unit the format's quantum at v's exponent
 * (the subnormal quantum below the normal range), rounding half to even; the exponent field is
 * then added, so a carry out of the fraction moves to the next binade (or to inf) by itself. */
static uint16_t narrow(double v, int ebits, int mbits)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    uint16_t sign = (uint16_t)((u >> 63) << 15);
    int bias = (1 << (ebits - 1)) - 1;
    uint32_t inf = (uint32_t)((1 << ebits) - 1) << mbits;
    int dexp = (int)((u >> 52) & 0x7ff);
    uint64_t frac = u & ((UINT64_C(1) << 52) - 1);
    if (dexp == 0x7ff) { /* inf, or NaN: quiet, keeping the top payload bits */
        if (!frac)
            return (uint16_t)(sign | inf);
        return (uint16_t)(sign | inf | (1u << (mbits - 1)) | (uint32_t)(frac >> (52 - mbits)));
    }
    if (dexp == 0) /* zero, or a float64 subnormal: far below half the smallest subnormal */
        return sign;
    int e = dexp - 1023;
    if (e > bias) /* at least 2^(bias+1): beyond the largest finite value */
        return (uint16_t)(sign | inf);
    uint64_t m = frac | (UINT64_C(1) << 52);
    int q = e < 1 - bias ? 1 - bias : e; /* the binade whose quantum applies */
    int s = 52 - mbits + (q - e);
    if (s > 54) /* m < 2^53 <= half a quantum: rounds to zero */
        return sign;
    uint64_t n = m >> s, rem = m & ((UINT64_C(1) << s) - 1), half = UINT64_C(1) << (s - 1);
    if (rem > half || (rem == half && (n & 1)))
        n++;
    uint32_t bits = ((uint32_t)(q + bias - 1) << mbits) + (uint32_t)n; /* n holds the leading 1 */
    if (bits >= inf)
        return (uint16_t)(sign | inf);
    return (uint16_t)(sign | bits);
}

/* The exact value of a pattern of that format. */
static double widen(uint16_t h, int ebits, int mbits)
{
    int bias = (1 << (ebits - 1)) - 1;
    int exp = (h >> mbits) & ((1 << ebits) - 1);
    uint32_t frac = h & ((1u << mbits) - 1);
    double sign = h & 0x8000 ? -1.0 : 1.0;
    if (exp == (1 << ebits) - 1) {
        if (!frac)
            return sign * INFINITY;
        /* NaN: the quiet float64 NaN with the same sign and payload */
        uint64_t u = ((uint64_t)(h >> 15) << 63) | (UINT64_C(0x7ff) << 52) | ((uint64_t)frac << (52 - mbits)) |
                     (UINT64_C(1) << 51);
        double v;
        memcpy(&v, &u, sizeof v);
        return v;
    }
    if (exp == 0)
        return sign * ldexp((double)frac, 1 - bias - mbits);
    return sign * ldexp((double)(frac | (1u << mbits)), exp - bias - mbits);
}

uint16_t nb_float_to_bf16(double v) { return narrow(v, 8, 7); }
uint16_t nb_float_to_f16(double v) { return narrow(v, 5, 10); }
double nb_bf16_to_float(uint16_t bits) { return widen(bits, 8, 7); }
double nb_f16_to_float(uint16_t bits) { return widen(bits, 5, 10); }

/* ---- float32 <-> bfloat16 / float16 copy loops (nb_to_dtype's common case) ------------------ */
/* A bfloat16 is the top half of a float32: widening is a shift; narrowing from float32 rounds the
 * low 16 bits away (half to even), the same result as narrow() of the exact value. */
static inline float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: quiet, top payload bits kept */
        return (uint16_t)((u >> 16) | 0x40);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16); /* a carry into inf is right */
}

/* float16 -> float32 by bits (exact; a NaN keeps its payload, made quiet). */
static inline float f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (exp == 31) /* inf; NaN made quiet, as the F16C instructions and PyTorch do */
        u = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0);
    else if (exp == 0) { /* zero or subnormal: exact in float32 */
        float f = (float)man * 0x1p-24f;
        memcpy(&u, &f, sizeof u);
        u |= sign;
    } else
        u = sign | ((exp + 112u) << 23) | (man << 13);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void nb__half_copy_loop(nb_dtype dst, nb_dtype src, char **p, const int64_t *s, int64_t n)
{
    if (dst == NB_BF16 && src == NB_F32) {
        for (int64_t i = 0; i < n; i++)
            *(uint16_t *)(void *)(p[0] + i * s[0]) = f32_to_bf16(*(const float *)(void *)(p[1] + i * s[1]));
    } else if (dst == NB_F32 && src == NB_BF16) {
        for (int64_t i = 0; i < n; i++)
            *(float *)(void *)(p[0] + i * s[0]) = bf16_to_f32(*(const uint16_t *)(void *)(p[1] + i * s[1]));
    } else if (dst == NB_F16 && src == NB_F32) {
        for (int64_t i = 0; i < n; i++)
            *(uint16_t *)(void *)(p[0] + i * s[0]) = narrow(*(const float *)(void *)(p[1] + i * s[1]), 5, 10);
    } else { /* NB_F32 <- NB_F16 */
        for (int64_t i = 0; i < n; i++)
            *(float *)(void *)(p[0] + i * s[0]) = f16_to_f32(*(const uint16_t *)(void *)(p[1] + i * s[1]));
    }
}

bool nb__half_copy_fast(nb_dtype dst, nb_dtype src)
{
    return (src == NB_F32 && nb_dtype_is_storage_only(dst)) || (dst == NB_F32 && nb_dtype_is_storage_only(src));
}

void nb__check_compute(const char *op, const nb_tensor *t)
{
    nb__check_live(op, t);
    if (t && nb_dtype_is_storage_only(t->dtype))
        nb__storage_only(op, t->dtype);
}

void nb__storage_only(const char *op, nb_dtype dt)
{
    nb__fail("%s: %s is a storage-only dtype; convert with nb_to_dtype to float32 first", op, nb_dtype_name(dt));
}

double nb__i64_to_double_odd(int64_t v)
{
    uint64_t a = v < 0 ? -(uint64_t)v : (uint64_t)v;
    if (a >> 53) {
        int k = 64 - __builtin_clzll(a) - 53; /* the bits below the 53 a double keeps */
        uint64_t lost = a & ((UINT64_C(1) << k) - 1);
        a = ((a >> k) | (lost != 0)) << k;
    }
    return v < 0 ? -(double)a : (double)a;
}
