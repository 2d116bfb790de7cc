/* nb__vmath.h — scalar math written so that loops over it vectorize (no libm calls), shared by
 * the kernels. Include after config.h; the including file should be built with
 * -fno-trapping-math semantics (`#pragma GCC optimize("no-trapping-math")`) so that GCC can
 * if-convert the clamps. */
#ifndef NB__VMATH_H
#define NB__VMATH_H

#include <stdint.h>
#include <string.h>

/* exp for float without a libm call, so loops over it vectorize: Cephes' expf (degree-6
 * polynomial on x - n ln2, |error| <= 1 ulp against glibc over the whole range), 2^n built in
 * two halves so results from 2^-150 to overflow are right. exp(+-inf) and NaN as libm. */
static inline float nb__exp_vec_f32(float x)
{
    float xc = x > 88.8f ? 88.8f : x; /* above: overflow to inf; below: 0 (NaN passes) */
    xc = xc < -104.0f ? -104.0f : xc;
    const float shift = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float t = xc * 1.44269504088896341f + shift, n = t - shift;
    int32_t ti;
    memcpy(&ti, &t, sizeof ti);
    int32_t ni = ti - 0x4B400000; /* n as an integer, from t's mantissa bits */
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * (r * r) + r + 1.0f;
    int32_t n1 = ni / 2, n2 = ni - n1;
    uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return y * s1 * s2;
}

#endif /* NB__VMATH_H */
