/* k_gemm_bf16_emu.h — a software model of the bfloat16 instructions the bfloat16 GEMM uses, for
 * its "emu" kernels (k_gemm_bf16_kset_impl.h): the kernel code that runs on the instructions runs
 * here on functions that do what the Intel SDM's pseudo-code of each says, so tests check that
 * code on every CPU. Included once by k_gemm.c. Not fast: tests only.
 *
 *   vdpbf16ps  per 32-bit lane: acc += hi(a)*hi(b), then acc += lo(a)*lo(b), each step rounded to
 *              nearest even; subnormal inputs read as zero, subnormal results flushed to zero
 *   tdpbf16ps  per row m of C, pair k of A's row and column n: C[m][n] += lo*lo, then += hi*hi,
 *              with the same rounding and flushing (hardware may order or fuse these sums
 *              differently: the tests compare the tile kernel within rounding, not bit for bit)
 *   ldtilecfg / tilezero / tileloadd / tilestored / tilerelease on 8 per-thread tiles of 1 KB,
 *   with the shape checks that make the instructions fault (a wrong configuration stops through
 *   nb__fail here instead of faulting there)
 */
#ifndef NB__K_GEMM_BF16_EMU_H
#define NB__K_GEMM_BF16_EMU_H

#include <float.h>
#include <math.h>
#include <string.h>

/* 16 lanes as plain arrays (vector types of 64 bytes would change the ABI without AVX-512). */
typedef struct {
    float l[16];
} bk_emu_f;
typedef struct {
    uint32_t l[16];
} bk_emu_u;

static inline bk_emu_f bk_emu_loadu(const float *p)
{
    bk_emu_f v;
    memcpy(v.l, p, sizeof v.l);
    return v;
}
static inline void bk_emu_storeu(float *p, bk_emu_f v) { memcpy(p, v.l, sizeof v.l); }
static inline bk_emu_f bk_emu_set1(float x)
{
    bk_emu_f v;
    for (int l = 0; l < 16; l++)
        v.l[l] = x;
    return v;
}
static inline bk_emu_f bk_emu_setzero(void) { return bk_emu_set1(0); }
static inline bk_emu_f bk_emu_mul(bk_emu_f a, bk_emu_f b)
{
    for (int l = 0; l < 16; l++)
        a.l[l] = a.l[l] * b.l[l];
    return a;
}
static inline bk_emu_f bk_emu_add(bk_emu_f a, bk_emu_f b)
{
    for (int l = 0; l < 16; l++)
        a.l[l] = a.l[l] + b.l[l];
    return a;
}
static inline bk_emu_u bk_emu_iload(const uint32_t *p)
{
    bk_emu_u v;
    memcpy(v.l, p, sizeof v.l);
    return v;
}
static inline bk_emu_u bk_emu_iset1(uint32_t u)
{
    bk_emu_u v;
    for (int l = 0; l < 16; l++)
        v.l[l] = u;
    return v;
}

/* The float32 of one bfloat16 (its bits in the low half of h), subnormals read as zero. */
static inline float bk_emu_bf(uint32_t h)
{
    uint32_t u = (h & 0xffffu) << 16;
    if ((u & 0x7f800000u) == 0)
        u &= 0x80000000u;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}
static inline float bk_emu_ftz(float x) { return fabsf(x) < FLT_MIN ? copysignf(0.0f, x) : x; }

static inline bk_emu_f bk_emu_dot(bk_emu_f acc, bk_emu_u a, bk_emu_u b)
{
    for (int l = 0; l < 16; l++) {
        acc.l[l] = bk_emu_ftz(acc.l[l] + bk_emu_bf(a.l[l] >> 16) * bk_emu_bf(b.l[l] >> 16));
        acc.l[l] = bk_emu_ftz(acc.l[l] + bk_emu_bf(a.l[l]) * bk_emu_bf(b.l[l]));
    }
    return acc;
}

/* ---- tiles ---------------------------------------------------------------------------------- */
typedef struct {
    bool configured;
    uint8_t rows[8];
    uint16_t colsb[8];
    unsigned char data[8][1024];
} bk_emu_tiles;
static _Thread_local bk_emu_tiles bk_emu_t;

static inline void bk_emu_need(int t, const char *op)
{
    if (!bk_emu_t.configured)
        nb__fail("tile model: %s of tile %d without a loaded tile configuration", op, t);
}

static inline void bk_emu_tile_cfg(const void *cfg)
{
    const unsigned char *c = cfg;
    if (c[0] != 1)
        nb__fail("tile model: palette %d, want 1", c[0]);
    for (int t = 0; t < 8; t++) {
        uint16_t colsb;
        memcpy(&colsb, c + 16 + 2 * t, sizeof colsb);
        if (colsb > 64 || c[48 + t] > 16)
            nb__fail("tile model: tile %d configured %d rows x %d bytes (at most 16 x 64)", t, c[48 + t], colsb);
        bk_emu_t.colsb[t] = colsb, bk_emu_t.rows[t] = c[48 + t];
    }
    memset(bk_emu_t.data, 0, sizeof bk_emu_t.data);
    bk_emu_t.configured = true;
}
static inline void bk_emu_tile_release(void) { memset(&bk_emu_t, 0, sizeof bk_emu_t); }
static inline void bk_emu_tile_zero(int t)
{
    bk_emu_need(t, "tilezero");
    memset(bk_emu_t.data[t], 0, sizeof bk_emu_t.data[t]);
}
static inline void bk_emu_tile_load(int t, const void *base, int64_t stride)
{
    bk_emu_need(t, "tileloadd");
    memset(bk_emu_t.data[t], 0, sizeof bk_emu_t.data[t]);
    for (int r = 0; r < bk_emu_t.rows[t]; r++)
        memcpy(bk_emu_t.data[t] + 64 * r, (const unsigned char *)base + r * stride, bk_emu_t.colsb[t]);
}
static inline void bk_emu_tile_store(int t, void *base, int64_t stride)
{
    bk_emu_need(t, "tilestored");
    for (int r = 0; r < bk_emu_t.rows[t]; r++)
        memcpy((unsigned char *)base + r * stride, bk_emu_t.data[t] + 64 * r, bk_emu_t.colsb[t]);
}
static inline void bk_emu_tile_dot(int tc, int ta, int tb)
{
    bk_emu_need(tc, "tdpbf16ps");
    const bk_emu_tiles *s = &bk_emu_t;
    int M = s->rows[tc], K = s->colsb[ta] / 4, N = s->colsb[tc] / 4;
    if (s->rows[ta] != M || s->rows[tb] != K || s->colsb[tb] != s->colsb[tc] || s->colsb[ta] % 4 || s->colsb[tc] % 4)
        nb__fail("tile model: tdpbf16ps C %dx%dB, A %dx%dB, B %dx%dB do not fit", M, s->colsb[tc], s->rows[ta],
                 s->colsb[ta], s->rows[tb], s->colsb[tb]);
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++) {
                float c;
                uint32_t a, b;
                memcpy(&c, s->data[tc] + 64 * m + 4 * n, 4);
                memcpy(&a, s->data[ta] + 64 * m + 4 * k, 4);
                memcpy(&b, s->data[tb] + 64 * k + 4 * n, 4);
                c = bk_emu_ftz(c + bk_emu_bf(a) * bk_emu_bf(b));
                c = bk_emu_ftz(c + bk_emu_bf(a >> 16) * bk_emu_bf(b >> 16));
                memcpy(bk_emu_t.data[tc] + 64 * m + 4 * n, &c, 4);
            }
}

#endif /* NB__K_GEMM_BF16_EMU_H */
