/* k_gemm_bf16_kset_impl.h — the micro-kernels of autocast's bfloat16 GEMM on bfloat16 dot-product
 * instructions (k_gemm_bf16_impl.h), written once over a set of operations and included by
 * k_gemm.c once per implementation of them:
 *   hw   the instructions themselves: AVX-512F vectors, AVX512_BF16 vdpbf16ps, AMX-BF16 tiles
 *        (x86-64 with GCC or Clang only)
 *   emu  a software model of each instruction as the Intel SDM's pseudo-code defines it
 *        (k_gemm_bf16_emu.h): the same kernel code runs on any CPU, so the tests check the
 *        tiling, packing, tile configuration and write-back on machines without the instructions
 * with defined:
 *   NB_BK            name suffix (hw, emu)
 *   NB_BK_DP_TGT     target attribute of the dot-product kernel (empty for emu)
 *   NB_BK_AMX_TGT    target attribute of the tile kernel (empty for emu)
 *   NB_BF, NB_BFOP(op)   a 16-float vector and its loadu, storeu, set1, setzero, mul, add
 *   NB_BI, NB_BI_LOAD(p), NB_BI_SET1(u)   16 bfloat16 pairs (32-bit words): load 16 words, broadcast one
 *   NB_BI_DOT(acc, a, b) acc[l] += a.hi[l]*b.hi[l] then += a.lo[l]*b.lo[l] (vdpbf16ps)
 *   NB_TILE_CFG(p), NB_TILE_RELEASE(), NB_TILE_ZERO(t), NB_TILE_LOAD(t, p, stride),
 *   NB_TILE_STORE(t, p, stride), NB_TILE_DOT(c, a, b)   the AMX operations (tdpbf16ps for DOT)
 * and undefines them all. Defines the packers bk_pack_b_<BK>, bk_pack_a_dp_<BK>, bk_pack_a_amx_<BK>
 * (and their helpers), bk_wb_<BK>, bk_dp_ukr_<BK>, bk_amx_ukr_<BK>, bk_amx_begin_<BK>,
 * bk_amx_end_<BK>. No include guard.
 *
 * Packed layouts (kcp, the packed depth, is even, and a
 * multiple of 32 for AMX; one word holds the bfloat16 of k = 2q in its low half and of k = 2q+1 in
 * its high half, which is the pair order both instructions read):
 *   B micro-panel, 32 columns:  word [q][j]           q < kcp/2, j < 32
 *   A, dot-product kernel:      word [q][i]           i < BK_DP_MR (row i's pair q: one broadcast)
 *   A, tile kernel:             word [q/16][i][q%16]  i < 32 (a 16 x 64-byte tile row per row i)
 */
#define NB_BK_FN(name) NB__PASTE3(name, _, NB_BK)

/* c (mr x nr of ldc) = alpha*t + beta*c for the 32-column tile t (ldt 32), vectors for full rows:
 * the same operations as tile_store_float, so a full and an edge tile round alike. */
NB_BK_DP_TGT static void NB_BK_FN(bk_wb)(const float *t, float *c, int64_t ldc, int mr, int nr, float alpha,
                                         float beta)
{
    if (nr != 32) {
        tile_store_float(t, 32, c, ldc, mr, nr, alpha, beta);
        return;
    }
    NB_BF va = NB_BFOP(set1)(alpha), vb = NB_BFOP(set1)(beta);
    for (int i = 0; i < mr; i++)
        for (int h = 0; h < 32; h += 16) {
            NB_BF r = NB_BFOP(loadu)(t + i * 32 + h);
            float *cp = c + i * ldc + h;
            if (alpha != 1)
                r = NB_BFOP(mul)(r, va);
            if (beta == 0) {
                NB_BFOP(storeu)(cp, r);
            } else {
                NB_BF o = NB_BFOP(loadu)(cp);
                if (beta != 1)
                    o = NB_BFOP(mul)(o, vb);
                NB_BFOP(storeu)(cp, NB_BFOP(add)(o, r));
            }
        }
}

/* ---- packing: 16 float32 at a time to bfloat16 (GCC vector extensions: zmm in the hw build) -- */
typedef uint32_t bk_v32 __attribute__((vector_size(64)));
typedef uint16_t bk_v16 __attribute__((vector_size(32)));
/* *u: each lane's float32 bits to bk_bits (a subnormal is zero first, then nearest even; a NaN
 * stays a NaN). */
NB_BK_DP_TGT static inline void NB_BK_FN(bk_round_v)(bk_v32 *u)
{
    bk_v32 x = *u;
    bk_v32 sub = (bk_v32)((x & 0x7f800000u) == 0);
    x = (x & ~sub) | (x & sub & 0x80000000u);
    bk_v32 nan = (bk_v32)((x & 0x7fffffffu) > 0x7f800000u);
    *u = (((x + 0x7fffu + ((x >> 16) & 1u)) & ~nan) | ((x | 0x00400000u) & nan)) & 0xffff0000u;
}

/* dst[i] = the bfloat16 of src[i] (bk_bits), i < n. */
NB_BK_DP_TGT static void NB_BK_FN(bk_cvt)(const float *restrict src, int64_t n, uint16_t *restrict dst)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        bk_v32 u;
        memcpy(&u, src + i, sizeof u);
        NB_BK_FN(bk_round_v)(&u);
        bk_v16 h = __builtin_convertvector(u >> 16, bk_v16);
        memcpy(dst + i, &h, sizeof h);
    }
    for (; i < n; i++)
        dst[i] = (uint16_t)(bk_bits(src[i]) >> 16);
}

/* dst[i] = the word of (r0[i], r1[i]), i < n (r1 NULL: the high halves zero, k past the end). */
NB_BK_DP_TGT static void NB_BK_FN(bk_pairs)(const float *restrict r0, const float *restrict r1, int64_t n,
                                            uint32_t *restrict dst)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        bk_v32 lo, hi = {0};
        memcpy(&lo, r0 + i, sizeof lo);
        NB_BK_FN(bk_round_v)(&lo);
        if (r1) {
            memcpy(&hi, r1 + i, sizeof hi);
            NB_BK_FN(bk_round_v)(&hi);
        }
        lo = (lo >> 16) | hi;
        memcpy(dst + i, &lo, sizeof lo);
    }
    for (; i < n; i++)
        dst[i] = (bk_bits(r0[i]) >> 16) | (r1 ? bk_bits(r1[i]) : 0);
}

/* B's kc x nc block (op(B)[p][j] = B[p*rs + j*cs], cs == 1 or rs == 1) as 32-column micro-panels
 * of kcp/2 x 32 words (columns past nc and pairs past kc zero). Rows of B contiguous (cs == 1): two
 * rows make a line of words; columns contiguous (rs == 1: x @ W^T): a column's bfloat16 in k order
 * are its words. */
NB_BK_DP_TGT static void NB_BK_FN(bk_pack_b)(int64_t kc, int64_t kcp, int64_t nc, const float *B, int64_t rs,
                                             int64_t cs, uint32_t *dst)
{
    uint16_t h[BK_KC_MAX + 64];
    for (int64_t j0 = 0; j0 < nc; j0 += BK_NR, dst += kcp / 2 * BK_NR) {
        int64_t nj = min64(BK_NR, nc - j0);
        if (nj < BK_NR)
            memset(dst, 0, (size_t)(kcp / 2 * BK_NR) * sizeof *dst);
        if (cs == 1) {
            for (int64_t q = 0; q < kcp / 2; q++) {
                const float *r0 = B + 2 * q * rs + j0;
                if (2 * q < kc)
                    NB_BK_FN(bk_pairs)(r0, 2 * q + 1 < kc ? r0 + rs : NULL, nj, dst + q * BK_NR);
                else
                    memset(dst + q * BK_NR, 0, BK_NR * sizeof *dst);
            }
        } else { /* rs == 1 */
            for (int64_t j = 0; j < nj; j++) {
                NB_BK_FN(bk_cvt)(B + (j0 + j) * cs, kc, h);
                for (int64_t p = kc; p < kcp; p++)
                    h[p] = 0;
                for (int64_t q = 0; q < kcp / 2; q++)
                    dst[q * BK_NR + j] = (uint32_t)h[2 * q] | (uint32_t)h[2 * q + 1] << 16;
            }
        }
    }
}

/* A's mc x kc block (op(A)[i][p] = A[i*rs + p*cs], cs == 1 or rs == 1) as micro-panels (rows past
 * mc and pairs past kc zero). Rows
 * contiguous (cs == 1): a row's bfloat16 in k order are its words; columns contiguous (rs == 1,
 * a transposed A): two columns make a line of words. */
NB_BK_DP_TGT static void NB_BK_FN(bk_pack_a)(bool amx, int64_t mc, int64_t kc, int64_t kcp, const float *A,
                                             int64_t rs, int64_t cs, uint32_t *dst)
{
    int mr = amx ? 32 : BK_DP_MR;
    int64_t mp = round_up(mc, mr);
    if (cs == 1) {
        uint16_t h[BK_KC_MAX + 64];
        for (int64_t i = 0; i < mp; i++) {
            if (i < mc)
                NB_BK_FN(bk_cvt)(A + i * rs, kc, h);
            for (int64_t p = i < mc ? kc : 0; p < kcp; p++)
                h[p] = 0;
            uint32_t *d = dst + bk_a_row(amx, kcp, i);
            for (int64_t q = 0; q < kcp / 2; q++)
                d[bk_a_q(amx, q)] = (uint32_t)h[2 * q] | (uint32_t)h[2 * q + 1] << 16;
        }
        return;
    }
    enum { CH = 256 };
    uint32_t line[CH];
    for (int64_t q = 0; q < kcp / 2; q++)
        for (int64_t i0 = 0; i0 < mp; i0 += CH) {
            int64_t n = min64(CH, mp - i0), nin = min64(n, mc - i0 > 0 ? mc - i0 : 0);
            const float *r0 = A + i0 + 2 * q * cs; /* rs == 1 */
            int64_t nw = 2 * q < kc ? nin : 0;
            if (nw)
                NB_BK_FN(bk_pairs)(r0, 2 * q + 1 < kc ? r0 + cs : NULL, nw, line);
            for (int64_t i = nw; i < n; i++)
                line[i] = 0;
            for (int64_t i = 0; i < n; i++)
                dst[bk_a_row(amx, kcp, i0 + i) + bk_a_q(amx, q)] = line[i];
        }
}
NB_BK_DP_TGT static void NB_BK_FN(bk_pack_a_dp)(int64_t mc, int64_t kc, int64_t kcp, const float *A, int64_t rs,
                                                int64_t cs, uint32_t *dst)
{
    NB_BK_FN(bk_pack_a)(false, mc, kc, kcp, A, rs, cs, dst);
}
NB_BK_DP_TGT static void NB_BK_FN(bk_pack_a_amx)(int64_t mc, int64_t kc, int64_t kcp, const float *A, int64_t rs,
                                                 int64_t cs, uint32_t *dst)
{
    NB_BK_FN(bk_pack_a)(true, mc, kc, kcp, A, rs, cs, dst);
}

/* The dot-product kernel: a BK_DP_MR x 32 tile of C in 2 * BK_DP_MR accumulators; per pair of k,
 * two 16-column words of B and one broadcast word of A per row. */
NB_BK_DP_TGT static void NB_BK_FN(bk_dp_ukr)(int64_t kcp, const uint32_t *restrict a, const uint32_t *restrict b,
                                             float *restrict c, int64_t ldc, int mr, int nr, float alpha, float beta)
{
    NB_BF acc[BK_DP_MR][2];
#pragma GCC unroll 16
    for (int i = 0; i < BK_DP_MR; i++)
        acc[i][0] = acc[i][1] = NB_BFOP(setzero)();
#pragma GCC unroll 2
    for (int64_t q = 0; q < kcp / 2; q++, a += BK_DP_MR, b += 32) {
        NB_BI b0 = NB_BI_LOAD(b), b1 = NB_BI_LOAD(b + 16);
#pragma GCC unroll 16
        for (int i = 0; i < BK_DP_MR; i++) {
            NB_BI av = NB_BI_SET1(a[i]);
            acc[i][0] = NB_BI_DOT(acc[i][0], av, b0);
            acc[i][1] = NB_BI_DOT(acc[i][1], av, b1);
        }
    }
    float t[BK_DP_MR * 32];
#pragma GCC unroll 16
    for (int i = 0; i < BK_DP_MR; i++) {
        NB_BFOP(storeu)(t + i * 32, acc[i][0]);
        NB_BFOP(storeu)(t + i * 32 + 16, acc[i][1]);
    }
    NB_BK_FN(bk_wb)(t, c, ldc, mr, nr, alpha, beta);
}

/* The tile configuration every thread loads before the tile kernel (palette 1): tiles 0-3 hold a
 * 32 x 32 block of C as 2 x 2 tiles of 16 rows x 16 floats, tiles 4-5 the 16-row halves of A's
 * 32 rows x 32 k, tiles 6-7 the 16-column halves of B's 16 pairs x 32 columns; every tile is 16
 * rows of 64 bytes. */
#ifndef NB__BK_TILE_CFG_DEFINED
#define NB__BK_TILE_CFG_DEFINED
static const struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((aligned(64))) bk_tile_cfg = {1, 0, {0}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};
#endif

NB_BK_AMX_TGT static void NB_BK_FN(bk_amx_begin)(void) { NB_TILE_CFG(&bk_tile_cfg); }
NB_BK_AMX_TGT static void NB_BK_FN(bk_amx_end)(void) { NB_TILE_RELEASE(); }

/* The tile kernel: a 32 x 32 tile of C in tiles 0-3, 32 k per step (four tdpbf16ps of 16 pairs). */
NB_BK_AMX_TGT static void NB_BK_FN(bk_amx_ukr)(int64_t kcp, const uint32_t *restrict a, const uint32_t *restrict b,
                                               float *restrict c, int64_t ldc, int mr, int nr, float alpha,
                                               float beta)
{
    float t[32 * 32];
    NB_TILE_ZERO(0);
    NB_TILE_ZERO(1);
    NB_TILE_ZERO(2);
    NB_TILE_ZERO(3);
    for (int64_t p = 0; p < kcp; p += 32, a += 32 * 16, b += 16 * 32) {
        NB_TILE_LOAD(4, a, 64);           /* rows 0-15: 16 words each */
        NB_TILE_LOAD(5, a + 16 * 16, 64); /* rows 16-31 */
        NB_TILE_LOAD(6, b, 128);          /* pairs 0-15 x columns 0-15 (rows of 32 words) */
        NB_TILE_LOAD(7, b + 16, 128);     /* pairs 0-15 x columns 16-31 */
        NB_TILE_DOT(0, 4, 6);
        NB_TILE_DOT(1, 4, 7);
        NB_TILE_DOT(2, 5, 6);
        NB_TILE_DOT(3, 5, 7);
    }
    NB_TILE_STORE(0, t, 128);
    NB_TILE_STORE(1, t + 16, 128);
    NB_TILE_STORE(2, t + 16 * 32, 128);
    NB_TILE_STORE(3, t + 16 * 32 + 16, 128);
    NB_BK_FN(bk_wb)(t, c, ldc, mr, nr, alpha, beta);
}

#undef NB_BK_FN
#undef NB_BK
#undef NB_BK_DP_TGT
#undef NB_BK_AMX_TGT
#undef NB_BF
#undef NB_BFOP
#undef NB_BI
#undef NB_BI_LOAD
#undef NB_BI_SET1
#undef NB_BI_DOT
#undef NB_TILE_CFG
#undef NB_TILE_RELEASE
#undef NB_TILE_ZERO
#undef NB_TILE_LOAD
#undef NB_TILE_STORE
#undef NB_TILE_DOT
