/* test_autocast.c — bfloat16 autocast (nb_autocast_begin/end, nb_bf16_round).
 *
 * 1. nb_bf16_round against an independent oracle of round-to-nearest-even written from the
 *    definition (the two neighbouring bfloat16 values compared in exact double arithmetic; ties to
 *    the even mantissa; overflow rounds as if the exponent were unbounded) on hand-picked bit
 *    patterns (ties both ways, NaN payloads, infinities, overflow, subnormals) and a million
 *    random ones.
 * 2. Inside autocast, with the rounded float32 GEMM (NB__BF16_ROUNDED, forced here; the default
 *    on CPUs without AVX512_BF16), nb_matmul and nb_linear (forward and backward) give exactly the
 *    bits of the float32 ops applied outside autocast to explicitly rounded operands: the rounding
 *    is done where the GEMM packs, but a product of two bfloat16 values is exact in float32, so
 *    both run the same float32 FMA chains on the same values. With the AVX512_BF16 and AMX
 *    kernels (where the CPU has them, and their code on the model of the instructions everywhere)
 *    the same graphs agree within float32 rounding of the sums (tests/test_gemm_bf16.c checks the
 *    kernels themselves).
 * 3. Inside autocast, nb_scaled_dot_product_attention (forward and backward) against the same
 *    math composed from float32 ops on rounded operands (S = scale rQ rK^T, P = softmax(S) in
 *    float32, O = round(P) rV; dV = round(P)^T round(dO), dP = round(dO) rV^T,
 *    dS = P (dP - rowsum(P dP)), dQ = scale round(dS) rK, dK = scale round(dS)^T rQ), to 1e-5:
 *    the fused kernel's exp is a polynomial, nb_softmax's is libm's (1-2 float ulps apart), and the
 *    products are summed in a different order; with these inputs no P or dS lands within that
 *    distance of a bfloat16 rounding midpoint, so the rounded operands agree and what remains is
 *    float32 summation-order noise (measured ~1e-7). The same with a bool or an additive mask
 *    (with its gradient) and with dropout from a generator (issue #18).
 * 4. Gradients under autocast against float64 references at bfloat16 tolerance (relative error
 *    of the whole gradient below 1e-2, and above 1e-6 so the rounding did take place).
 * 5. Regions nest; an unmatched end is misuse; nb_recover turns autocast off and restores grad
 *    mode and scopes; float64 ops are unaffected; a graph recorded outside autocast keeps float32
 *    products when nb_backward is called inside a region. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "nb__k_gemm.h"

/* ---- 1. the rounding rule ----------------------------------------------------------------- */
static uint32_t bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static float float_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The oracle: nearest of the two bfloat16 neighbours of x (exact in double), ties to even. */
static uint32_t oracle_bits(uint32_t u)
{
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return 0; /* NaN: checked separately */
    if ((u & 0x7fffffffu) == 0x7f800000u)
        return u;
    uint32_t sign = u & 0x80000000u, mag = u & 0x7fffffffu;
    uint32_t lo = mag & 0xffff0000u, hi = lo + 0x10000u; /* neighbours toward and away from zero */
    if (lo == mag)
        return u;
    double x = (double)float_of(mag), vlo = (double)float_of(lo);
    double vhi = hi == 0x7f800000u ? ldexp(1.0, 128) : (double)float_of(hi); /* unbounded exponent */
    double dlo = x - vlo, dhi = vhi - x;
    uint32_t pick = dlo < dhi ? lo : dhi < dlo ? hi : ((lo >> 16) & 1u) ? hi : lo;
    return sign | pick;
}

static void check_round(uint32_t u)
{
    uint32_t got = bits_of(nb_bf16_round(float_of(u)));
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        ck_assert_msg(isnan(float_of(got)) && (got & 0xffffu) == 0 && (got >> 31) == (u >> 31),
                      "NaN 0x%08x rounded to 0x%08x", u, got);
        return;
    }
    ck_assert_msg(got == oracle_bits(u), "0x%08x: got 0x%08x, want 0x%08x", u, got, oracle_bits(u));
}

START_TEST(test_round_rules)
{
    /* ties: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 (odd) -> 1; 1 + 3*2^-8 -> 1 + 2^-6 (even) */
    ck_assert_float_eq(nb_bf16_round(1.0f + 0x1p-8f), 1.0f);
    ck_assert_float_eq(nb_bf16_round(1.0f + 3 * 0x1p-8f), 1.0f + 0x1p-6f);
    ck_assert_float_eq(nb_bf16_round(-(1.0f + 3 * 0x1p-8f)), -(1.0f + 0x1p-6f));
    /* just off a tie: to the nearest */
    ck_assert_float_eq(nb_bf16_round(1.0f + 0x1p-8f + 0x1p-23f), 1.0f + 0x1p-7f);
    ck_assert_float_eq(nb_bf16_round(1.0f + 0x1p-8f - 0x1p-23f), 1.0f);
    ck_assert_float_eq(nb_bf16_round(3.14159265f), 3.140625f);
    /* infinities stay, the largest bfloat16 stays, past it rounds to infinity */
    ck_assert_uint_eq(bits_of(nb_bf16_round(INFINITY)), 0x7f800000u);
    ck_assert_uint_eq(bits_of(nb_bf16_round(-INFINITY)), 0xff800000u);
    ck_assert_uint_eq(bits_of(nb_bf16_round(float_of(0x7f7f0000u))), 0x7f7f0000u);
    ck_assert_uint_eq(bits_of(nb_bf16_round(float_of(0x7f7f7fffu))), 0x7f7f0000u);
    ck_assert_uint_eq(bits_of(nb_bf16_round(float_of(0x7f7f8000u))), 0x7f800000u); /* tie, odd -> inf */
    ck_assert_uint_eq(bits_of(nb_bf16_round(FLT_MAX)), 0x7f800000u);
    ck_assert_uint_eq(bits_of(nb_bf16_round(-FLT_MAX)), 0xff800000u);
    /* NaN stays NaN, even with a payload only in the low 16 bits, and keeps its sign */
    ck_assert(isnan(nb_bf16_round(NAN)));
    ck_assert_uint_eq(bits_of(nb_bf16_round(float_of(0x7f800001u))) & 0x7f800000u, 0x7f800000u);
    ck_assert(isnan(nb_bf16_round(float_of(0x7f800001u))));
    ck_assert(isnan(nb_bf16_round(float_of(0xff80ffffu))));
    ck_assert_uint_eq(bits_of(nb_bf16_round(float_of(0xff800001u))) >> 31, 1);
    /* zeros and subnormals */
    ck_assert_uint_eq(bits_of(nb_bf16_round(0.0f)), 0u);
    ck_assert_uint_eq(bits_of(nb_bf16_round(-0.0f)), 0x80000000u);
    ck_assert_uint_eq(bits_of(nb_bf16_round(float_of(0x00008000u))), 0u);          /* tie, even 0 */
    ck_assert_uint_eq(bits_of(nb_bf16_round(float_of(0x00018000u))), 0x00020000u); /* tie, odd -> up */
    ck_assert_uint_eq(bits_of(nb_bf16_round(float_of(0x00008001u))), 0x00010000u);
    ck_assert_uint_eq(bits_of(nb_bf16_round(float_of(0x80000001u))), 0x80000000u);
    ck_assert_uint_eq(bits_of(nb_bf16_round(float_of(0x007fffffu))), 0x00800000u); /* to the smallest normal */
    const uint32_t edge[] = {0x00000000u, 0x00007fffu, 0x00008000u, 0x00008001u, 0x0000ffffu, 0x00017fffu,
                             0x00018000u, 0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x7f7f7fffu, 0x7f7f8000u,
                             0x7f7effffu, 0x7f800000u, 0x7f800001u, 0x7fc00000u, 0x7fffffffu, 0xffffffffu};
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
        check_round(edge[i]);
        check_round(edge[i] | 0x80000000u);
    }
}
END_TEST

START_TEST(test_round_random_bits)
{
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 1000000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        uint32_t u = (uint32_t)(s >> 11);
        if (i % 4 == 1) /* exact ties and near-ties are rare in random bits: make a quarter of them */
            u = (u & 0xffff0000u) | 0x8000u | (uint32_t)((s >> 3) & 1u);
        check_round(u);
    }
}
END_TEST

/* The vector rounding of packed GEMM panels against the scalar rule: random finite bit patterns
 * (a quarter of them exact ties) times the identity inside autocast give the rounded values back
 * exactly (x*1 and x + 0 are exact; zeros compared by value: -0 + 0 is +0). */
START_TEST(test_round_in_gemm_panels)
{
    nb__bf16_kind prev = nb__gemm_bf16_force(NB__BF16_ROUNDED);
    int s = nb_scope_begin();
    const int64_t n = 96;
    nb_tensor *a = nb_empty(NB_DIMS(n, n), NB_F32), *eye = nb_zeros(NB_DIMS(n, n), NB_F32);
    float *av = nb_tensor_data(a), *ev = nb_tensor_data(eye);
    uint64_t st = 12345;
    for (int64_t i = 0; i < n * n; i++) {
        st ^= st << 13, st ^= st >> 7, st ^= st << 17;
        uint32_t u = (uint32_t)(st >> 11) & 0xbfffffffu; /* exponent below 128: finite, no overflow */
        if (i % 4 == 1)
            u = (u & 0xffff0000u) | 0x8000u;
        av[i] = float_of(u);
    }
    for (int64_t i = 0; i < n; i++)
        ev[i * n + i] = 1;
    nb_autocast_begin();
    nb_tensor *p = nb_matmul(a, eye);
    nb_autocast_end();
    const float *pv = nb_tensor_data(p);
    for (int64_t i = 0; i < n * n; i++)
        ck_assert_msg(pv[i] == nb_bf16_round(av[i]), "element %lld: 0x%08x -> %.9g, want %.9g", (long long)i,
                      bits_of(av[i]), (double)pv[i], (double)nb_bf16_round(av[i]));
    nb_scope_end(s);
    nb__gemm_bf16_force(prev);
}
END_TEST

/* ---- helpers ------------------------------------------------------------------------------ */
/* A new contiguous float32 tensor holding t's values rounded to bfloat16. */
static nb_tensor *rnd(const nb_tensor *t)
{
    nb_tensor *c = nb_clone(nb_detach(t));
    float *d = nb_tensor_data(c);
    for (int64_t i = 0, n = nb_tensor_numel(c); i < n; i++)
        d[i] = nb_bf16_round(d[i]);
    return c;
}

static void assert_bits_equal(const nb_tensor *got, const nb_tensor *want, const char *what)
{
    ck_assert_int_eq(nb_tensor_numel(got), nb_tensor_numel(want));
    nb_tensor *g = nb_contiguous(got), *w = nb_contiguous(want);
    const float *a = nb_tensor_data(g), *b = nb_tensor_data(w);
    for (int64_t i = 0, n = nb_tensor_numel(g); i < n; i++)
        ck_assert_msg(bits_of(a[i]) == bits_of(b[i]), "%s: element %lld: %.9g, want %.9g", what, (long long)i,
                      (double)a[i], (double)b[i]);
}

/* The largest |got - want| over the elements. */
static double max_abs_diff(const nb_tensor *got, const nb_tensor *want)
{
    double *a = tu_values(got), *b = tu_values(want), m = 0;
    for (int64_t i = 0, n = nb_tensor_numel(got); i < n; i++)
        m = fmax(m, fabs(a[i] - b[i]));
    free(a);
    free(b);
    return m;
}

/* ||got - want|| / ||want|| over all elements. */
static double rel_err(const nb_tensor *got, const nb_tensor *want)
{
    double *a = tu_values(got), *b = tu_values(want), d = 0, w = 0;
    for (int64_t i = 0, n = nb_tensor_numel(got); i < n; i++)
        d += (a[i] - b[i]) * (a[i] - b[i]), w += b[i] * b[i];
    free(a);
    free(b);
    return sqrt(d / w);
}

static nb_tensor *leaf(nb_tensor *t) { return nb_tensor_requires_grad_(t, true); }

/* sum(y * c): its gradient with respect to y is c exactly. */
static nb_tensor *weighted_sum(const nb_tensor *y, const nb_tensor *c)
{
    return nb_sum(nb_mul(y, c), NB_ALL_AXES, false);
}

/* ---- 2. matmul and linear: exactly the float32 ops on rounded operands -------------------- */
typedef struct {
    int an, bn;
    int64_t ashape[4], bshape[4];
    bool bt; /* b given as a transposed view */
} mm_case;

static const mm_case k_mm[] = {
    {3, 2, {3, 5, 37}, {37, 29}, false},      /* batch folded into one GEMM */
    {2, 2, {64, 300}, {300, 70}, true},       /* packed panels, several K blocks, b transposed */
    {4, 3, {2, 1, 7, 33}, {3, 33, 9}, false}, /* broadcast batch */
    {2, 1, {6, 40}, {40}, false},             /* matrix-vector: the unpacked path */
    {1, 2, {40}, {40, 6}, false},             /* vector-matrix */
};

/* The autocast graph and a float32 graph on explicitly rounded leaves, each followed by a
 * weighted sum whose weights reach the product as its gradient: c for the autocast graph (its
 * backward rounds it), round(c) for the float32 one. Same shapes, layouts and backward formulas:
 * the gradients must agree bit for bit. */
START_TEST(test_matmul_exact)
{
    nb__bf16_kind prev = nb__gemm_bf16_force(NB__BF16_ROUNDED);
    const mm_case *c = &k_mm[_i];
    int s = nb_scope_begin();
    nb_tensor *a = leaf(tu_random(NB_F32, c->ashape, c->an, -2, 2, 100 + (uint64_t)_i)), *bl, *b, *rbl, *rb;
    if (c->bt) { /* b [K, N] as the transposed view of a [N, K] leaf */
        bl = leaf(tu_random(NB_F32, (int64_t[]){c->bshape[1], c->bshape[0]}, 2, -2, 2, 200 + (uint64_t)_i));
        b = nb_transpose(bl, 0, 1);
        rbl = leaf(rnd(bl));
        rb = nb_transpose(rbl, 0, 1);
    } else {
        bl = b = leaf(tu_random(NB_F32, c->bshape, c->bn, -2, 2, 200 + (uint64_t)_i));
        rbl = rb = leaf(rnd(bl));
    }
    nb_tensor *ra = leaf(rnd(a));
    nb_autocast_begin();
    nb_tensor *y = nb_matmul(a, b);
    nb_autocast_end();
    nb_tensor *want = nb_matmul(ra, rb);
    assert_bits_equal(y, want, "forward");
    ck_assert_msg(max_abs_diff(y, nb_matmul(a, b)) > 0, "autocast changed nothing");
    nb_tensor *cw = tu_random(NB_F32, nb_tensor_shape(y), nb_tensor_ndim(y), -1, 1, 7);
    nb_backward(weighted_sum(y, cw), NULL, false);
    nb_backward(weighted_sum(want, rnd(cw)), NULL, false);
    assert_bits_equal(nb_tensor_get_grad(a), nb_tensor_get_grad(ra), "dA");
    assert_bits_equal(nb_tensor_get_grad(bl), nb_tensor_get_grad(rbl), "dB");
    nb_scope_end(s);
    nb__gemm_bf16_force(prev);
}
END_TEST

/* The instruction kernels (AVX512_BF16, AMX where the CPU has them; their code on the model of
 * the instructions on every CPU) under autocast: forward and both gradients of the packed cases
 * of k_mm within float32 rounding of the sums (|terms| <= 4, K <= 300) of the float32 ops on
 * rounded operands. */
static const nb__bf16_kind k_instr_kinds[] = {NB__BF16_DP_EMU, NB__BF16_AMX_EMU, NB__BF16_DP, NB__BF16_AMX};

START_TEST(test_matmul_instruction_kernels)
{
    int s = nb_scope_begin();
    for (int ki = 0; ki < 4; ki++) {
        nb__bf16_kind prev = nb__gemm_bf16_force(k_instr_kinds[ki]);
        if (nb__gemm_bf16_active() != k_instr_kinds[ki]) { /* this CPU lacks the instructions */
            nb__gemm_bf16_force(prev);
            continue;
        }
        const mm_case *c = &k_mm[_i];
        nb_tensor *a = leaf(tu_random(NB_F32, c->ashape, c->an, -2, 2, 300 + (uint64_t)_i));
        nb_tensor *bl = leaf(tu_random(NB_F32, c->bt ? (int64_t[]){c->bshape[1], c->bshape[0]} : c->bshape, c->bn,
                                       -2, 2, 400 + (uint64_t)_i));
        nb_tensor *rbl = leaf(rnd(bl)), *ra = leaf(rnd(a));
        nb_tensor *b = c->bt ? nb_transpose(bl, 0, 1) : bl, *rb = c->bt ? nb_transpose(rbl, 0, 1) : rbl;
        nb_autocast_begin();
        nb_tensor *y = nb_matmul(a, b);
        nb_autocast_end();
        nb__gemm_bf16_force(prev);
        nb_tensor *want = nb_matmul(ra, rb);
        int64_t K = c->ashape[c->an - 1];
        double atol = (double)(K + 4) * 0x1p-23 * 4.0 * (double)K;
        tu_assert_close(y, want, atol, 0);
        nb_tensor *cw = tu_random(NB_F32, nb_tensor_shape(y), nb_tensor_ndim(y), -1, 1, 8);
        nb__gemm_bf16_force(k_instr_kinds[ki]);
        nb_backward(weighted_sum(y, cw), NULL, false);
        nb__gemm_bf16_force(prev);
        nb_backward(weighted_sum(want, rnd(cw)), NULL, false);
        /* dA sums N products of |dY| <= 1 and |B| <= 2, dB sums M (times the batch) of them */
        int64_t N = nb_tensor_size(y, -1), L = N > nb_tensor_numel(y) / N ? N : nb_tensor_numel(y) / N;
        double gtol = (double)(L + 4) * 0x1p-23 * 2.0 * (double)L;
        tu_assert_close(nb_tensor_get_grad(a), nb_tensor_get_grad(ra), gtol, 0);
        tu_assert_close(nb_tensor_get_grad(bl), nb_tensor_get_grad(rbl), gtol, 0);
    }
    nb_scope_end(s);
}
END_TEST

START_TEST(test_linear_exact)
{
    nb__bf16_kind prev = nb__gemm_bf16_force(NB__BF16_ROUNDED);
    int s = nb_scope_begin();
    const int64_t xs[3] = {4, 6, 40};
    for (int withbias = 0; withbias < 2; withbias++) {
        nb_tensor *x = leaf(tu_random(NB_F32, xs, 3, -2, 2, 11));
        nb_tensor *w = leaf(tu_random(NB_F32, (int64_t[]){24, 40}, 2, -0.5, 0.5, 12));
        nb_tensor *b = withbias ? leaf(tu_random(NB_F32, (int64_t[]){24}, 1, -1, 1, 13)) : NULL;
        nb_tensor *rx = leaf(rnd(x)), *rw = leaf(rnd(w));
        nb_autocast_begin();
        nb_tensor *y = nb_linear(x, w, b);
        nb_autocast_end();
        nb_tensor *want = nb_linear(rx, rw, NULL);
        if (b) /* the bias is added in float32 after the product */
            want = nb_add(want, b);
        assert_bits_equal(y, want, "linear forward");
        ck_assert_msg(max_abs_diff(y, nb_linear(x, w, b)) > 0, "autocast changed nothing");
        nb_tensor *cw = tu_random(NB_F32, (int64_t[]){4, 6, 24}, 3, -1, 1, 14);
        nb_backward(weighted_sum(y, cw), NULL, false);
        nb_backward(weighted_sum(nb_linear(rx, rw, NULL), rnd(cw)), NULL, false);
        assert_bits_equal(nb_tensor_get_grad(x), nb_tensor_get_grad(rx), "linear dx");
        assert_bits_equal(nb_tensor_get_grad(w), nb_tensor_get_grad(rw), "linear dW");
        if (b) /* the bias gradient is a float32 column sum of the (unrounded) output gradient */
            tu_assert_close(nb_tensor_get_grad(b), nb_sum(cw, NB_AXES(0, 1), false), 1e-5, 1e-5);
    }
    nb_scope_end(s);
    nb__gemm_bf16_force(prev);
}
END_TEST

/* ---- 3. attention ------------------------------------------------------------------------- */
/* S = scale rQ rK^T with the causal mask; P = softmax(S) in float32. */
static nb_tensor *ref_probs(const nb_tensor *rq, const nb_tensor *rk, bool causal, double scale)
{
    nb_tensor *S = nb_mul_scalar(nb_matmul(rq, nb_transpose(rk, -1, -2)), scale);
    if (causal) {
        int64_t Tq = nb_tensor_size(rq, 2), Tk = nb_tensor_size(rk, 2);
        nb_tensor *keep = nb_tril(nb_ones(NB_DIMS(Tq, Tk), NB_F32), Tk - Tq);
        S = nb_masked_fill(S, nb_eq(keep, nb_zeros(NB_DIMS(1), NB_F32)), -INFINITY);
    }
    return nb_softmax(S, -1);
}

START_TEST(test_sdpa_composed)
{
    int s = nb_scope_begin();
    const int64_t B = 2, H = 3, T = 19, D = 16;
    bool causal = _i == 0;
    double scale = 1.0 / sqrt((double)D);
    nb_tensor *q = leaf(tu_random(NB_F32, (int64_t[]){B, H, T, D}, 4, -2, 2, 21));
    nb_tensor *k = leaf(tu_random(NB_F32, (int64_t[]){B, H, T, D}, 4, -2, 2, 22));
    nb_tensor *v = leaf(tu_random(NB_F32, (int64_t[]){B, H, T, D}, 4, -2, 2, 23));
    nb_autocast_begin();
    nb_tensor *o = nb_scaled_dot_product_attention(q, k, v, NULL, 0, causal, 0, NULL);
    nb_autocast_end();
    nb_tensor *rq = rnd(q), *rk = rnd(k), *rv = rnd(v);
    nb_tensor *P = ref_probs(rq, rk, causal, scale);
    nb_tensor *want = nb_matmul(rnd(P), rv);
    tu_assert_close(o, want, 1e-5, 0);
    /* the rounding did take place: float32 attention differs by far more than the tolerance */
    ck_assert_msg(max_abs_diff(o, nb_scaled_dot_product_attention(q, k, v, NULL, 0, causal, 0, NULL)) > 1e-3,
                  "autocast changed nothing");
    nb_tensor *cw = tu_random(NB_F32, (int64_t[]){B, H, T, D}, 4, -1, 1, 24);
    nb_backward(weighted_sum(o, cw), NULL, false);
    nb_tensor *rdo = rnd(cw);
    nb_tensor *dV = nb_matmul(nb_transpose(rnd(P), -1, -2), rdo);
    nb_tensor *dP = nb_matmul(rdo, nb_transpose(rv, -1, -2));
    nb_tensor *dS = nb_mul(P, nb_sub(dP, nb_sum(nb_mul(P, dP), NB_AXES(-1), true)));
    nb_tensor *dQ = nb_mul_scalar(nb_matmul(rnd(dS), rk), scale);
    nb_tensor *dK = nb_mul_scalar(nb_matmul(nb_transpose(rnd(dS), -1, -2), rq), scale);
    tu_assert_close(nb_tensor_get_grad(v), dV, 1e-5, 0);
    tu_assert_close(nb_tensor_get_grad(q), dQ, 1e-5, 0);
    tu_assert_close(nb_tensor_get_grad(k), dK, 1e-5, 0);
    nb_scope_end(s);
}
END_TEST

/* With an attention mask (bool [B, 1, Tq, Tk], or additive [Tq, Tk] holding -inf entries and
 * requiring grad) and/or dropout from a generator (issue #18): the same composed math, with the
 * mask applied to S in float32, the dropout factors Z (0 or 1/(1-p) in float32, drawn by
 * nb_dropout from an identically seeded generator: the op draws exactly as it does) applied
 * before P is rounded, dP = (round(dO) rV^T) Z, dS = P (dP - rowsum(P dP)), and the additive
 * mask's gradient the float32 dS summed over the batch and head dims. Every row keeps a key. */
/* How many of t's float32 values lie within 4 float ulps of a bfloat16 rounding midpoint: there the
 * kernel's and the composed reference's summation orders may round to different neighbours. */
static int near_midpoints(const nb_tensor *t)
{
    nb_tensor *c = nb_contiguous(t);
    const float *d = nb_tensor_data(c);
    int n = 0;
    for (int64_t i = 0, m = nb_tensor_numel(c); i < m; i++)
        n += abs((int)(bits_of(d[i]) & 0xffff) - 0x8000) <= 4;
    return n;
}

typedef struct {
    int mask; /* 0 none, 1 bool, 2 additive */
    double p; /* dropout */
} sdpa_mcase;
static const sdpa_mcase k_sdpa_m[] = {{1, 0}, {2, 0}, {0, 0.25}, {1, 0.25}, {2, 0.25}};

START_TEST(test_sdpa_mask_dropout)
{
    const sdpa_mcase *c = &k_sdpa_m[_i];
    int s = nb_scope_begin();
    enum { B = 2, H = 3, Tq = 13, Tk = 19, D = 16 };
    double scale = 1.0 / sqrt((double)D), keepv[B * Tq * Tk], dropv[B * Tq * Tk], addv[Tq * Tk];
    nb_tensor *q = leaf(tu_random(NB_F32, (int64_t[]){B, H, Tq, D}, 4, -2, 2, 200 + (uint64_t)_i));
    nb_tensor *k = leaf(tu_random(NB_F32, (int64_t[]){B, H, Tk, D}, 4, -2, 2, 210 + (uint64_t)_i));
    nb_tensor *v = leaf(tu_random(NB_F32, (int64_t[]){B, H, Tk, D}, 4, -2, 2, 220 + (uint64_t)_i));
    for (int b = 0; b < B; b++)
        for (int i = 0; i < Tq; i++)
            for (int j = 0; j < Tk; j++) {
                int at = (b * Tq + i) * Tk + j;
                keepv[at] = j == 0 || (b * 5 + i * 3 + j * 7) % 4 != 0;
                dropv[at] = !keepv[at];
                if (b == 0)
                    addv[i * Tk + j] = j && (i + 2 * j) % 5 == 0 ? -INFINITY : 1.5 * sin(0.7 * (i * Tk + j));
            }
    nb_tensor *mask = NULL, *drop = NULL;
    if (c->mask == 1) {
        mask = nb_from_doubles(keepv, NB_DIMS(B, 1, Tq, Tk), NB_BOOL);
        drop = nb_from_doubles(dropv, NB_DIMS(B, 1, Tq, Tk), NB_BOOL);
    } else if (c->mask == 2) {
        mask = leaf(nb_from_doubles(addv, NB_DIMS(Tq, Tk), NB_F32));
    }
    nb_generator g1, g2, g3;
    nb_generator_seed(&g1, 77), nb_generator_seed(&g2, 77), nb_generator_seed(&g3, 77);
    nb_autocast_begin();
    nb_tensor *o = nb_scaled_dot_product_attention(q, k, v, mask, c->p, false, 0, &g1);
    nb_autocast_end();
    nb_tensor *rq = rnd(q), *rk = rnd(k), *rv = rnd(v);
    nb_tensor *S = nb_mul_scalar(nb_matmul(rq, nb_transpose(rk, -1, -2)), scale);
    if (c->mask == 1)
        S = nb_masked_fill(S, drop, -INFINITY);
    else if (c->mask == 2)
        S = nb_add(S, nb_detach(mask));
    nb_tensor *P = nb_softmax(S, -1), *Z = NULL, *Pz = P;
    if (c->p > 0) {
        Z = nb_dropout(nb_ones(NB_DIMS(B, H, Tq, Tk), NB_F32), c->p, true, &g2);
        Pz = nb_mul(P, Z);
    }
    ck_assert_msg(near_midpoints(Pz) == 0, "inputs: %d probabilities near a bfloat16 midpoint", near_midpoints(Pz));
    tu_assert_close(o, nb_matmul(rnd(Pz), rv), 1e-5, 0);
    ck_assert_msg(max_abs_diff(o, nb_scaled_dot_product_attention(q, k, v, mask, c->p, false, 0, &g3)) > 1e-3,
                  "autocast changed nothing");
    nb_tensor *cw = tu_random(NB_F32, (int64_t[]){B, H, Tq, D}, 4, -1, 1, 230 + (uint64_t)_i);
    nb_backward(weighted_sum(o, cw), NULL, false);
    nb_tensor *rdo = rnd(cw);
    nb_tensor *dV = nb_matmul(nb_transpose(rnd(Pz), -1, -2), rdo);
    nb_tensor *dP = nb_matmul(rdo, nb_transpose(rv, -1, -2));
    if (Z)
        dP = nb_mul(dP, Z);
    nb_tensor *dS = nb_mul(P, nb_sub(dP, nb_sum(nb_mul(P, dP), NB_AXES(-1), true)));
    ck_assert_msg(near_midpoints(dS) == 0, "inputs: %d of dS near a bfloat16 midpoint", near_midpoints(dS));
    nb_tensor *dQ = nb_mul_scalar(nb_matmul(rnd(dS), rk), scale);
    nb_tensor *dK = nb_mul_scalar(nb_matmul(nb_transpose(rnd(dS), -1, -2), rq), scale);
    tu_assert_close(nb_tensor_get_grad(v), dV, 1e-5, 0);
    tu_assert_close(nb_tensor_get_grad(q), dQ, 1e-5, 0);
    tu_assert_close(nb_tensor_get_grad(k), dK, 1e-5, 0);
    if (c->mask == 2)
        tu_assert_close(nb_tensor_get_grad(mask), nb_sum(dS, NB_AXES(0, 1), false), 1e-5, 0);
    nb_scope_end(s);
}
END_TEST

/* ---- 4. against float64 at bfloat16 tolerance --------------------------------------------- */
/* A small attention block: y = sdpa(split(x Wqkv^T)) Wo^T, then (y @ x^T)'s weighted sum. */
static nb_tensor *block_loss(nb_tensor *const *in, const nb_tensor *cw)
{
    const nb_tensor *x = in[0], *wqkv = in[1], *wo = in[2];
    int64_t B = nb_tensor_size(x, 0), T = nb_tensor_size(x, 1), C = nb_tensor_size(x, 2), H = 2;
    nb_tensor *qkv = nb_linear(x, wqkv, NULL); /* [B, T, 3C] */
    nb_tensor *hs[3];
    for (int i = 0; i < 3; i++)
        hs[i] = nb_transpose(nb_reshape(nb_narrow(qkv, 2, i * C, C), NB_DIMS(B, T, H, C / H)), 1, 2);
    nb_tensor *y = nb_scaled_dot_product_attention(hs[0], hs[1], hs[2], NULL, 0, true, 0, NULL);
    y = nb_linear(nb_reshape(nb_contiguous(nb_transpose(y, 1, 2)), NB_DIMS(B, T, C)), wo, NULL);
    nb_tensor *z = nb_matmul(y, nb_transpose(x, 1, 2)); /* [B, T, T] */
    return weighted_sum(z, nb_tensor_dtype(z) == nb_tensor_dtype(cw) ? cw : nb_to_dtype(cw, nb_tensor_dtype(z)));
}

START_TEST(test_grads_vs_float64)
{
    int s = nb_scope_begin();
    const int64_t B = 2, T = 12, C = 32;
    nb_tensor *in32[3] = {tu_random(NB_F32, (int64_t[]){B, T, C}, 3, -1, 1, 31),
                          tu_random(NB_F32, (int64_t[]){3 * C, C}, 2, -0.3, 0.3, 32),
                          tu_random(NB_F32, (int64_t[]){C, C}, 2, -0.3, 0.3, 33)};
    nb_tensor *in64[3], *in32b[3];
    for (int i = 0; i < 3; i++) {
        in64[i] = leaf(nb_to_dtype(in32[i], NB_F64));
        in32b[i] = leaf(nb_clone(in32[i]));
        leaf(in32[i]);
    }
    nb_tensor *cw = tu_random(NB_F64, (int64_t[]){B, T, T}, 3, -1, 1, 34);
    nb_autocast_begin();
    nb_tensor *l16 = block_loss(in32, cw);
    nb_autocast_end();
    nb_tensor *l32 = block_loss(in32b, cw);
    nb_tensor *l64 = block_loss(in64, cw);
    nb_backward(l16, NULL, false);
    nb_backward(l32, NULL, false);
    nb_backward(l64, NULL, false);
    double e16 = fabs(nb_tensor_item(l16) - nb_tensor_item(l64)) / fabs(nb_tensor_item(l64));
    ck_assert_msg(e16 < 1e-2 && e16 > 1e-6, "loss relative error %g", e16);
    for (int i = 0; i < 3; i++) {
        double r16 = rel_err(nb_tensor_get_grad(in32[i]), nb_tensor_get_grad(in64[i]));
        double r32 = rel_err(nb_tensor_get_grad(in32b[i]), nb_tensor_get_grad(in64[i]));
        /* bfloat16 keeps 8 significant bits (relative rounding error <= 2^-9 per operand) */
        ck_assert_msg(r16 < 1e-2, "input %d: autocast gradient relative error %g", i, r16);
        ck_assert_msg(r16 > 1e-6 && r16 > 10 * r32, "input %d: autocast error %g vs float32 %g: no rounding?", i,
                      r16, r32);
    }
    nb_scope_end(s);
}
END_TEST

/* Finite differences of the float64 function checked against autocast's analytic gradient. */
static nb_tensor *fd_fn(nb_tensor *const *in, int n, void *ctx)
{
    (void)n;
    return block_loss(in, ctx);
}

START_TEST(test_gradcheck_bf16_tolerance)
{
    int s = nb_scope_begin();
    const int64_t B = 1, T = 5, C = 8;
    nb_tensor *in32[3] = {leaf(tu_random(NB_F32, (int64_t[]){B, T, C}, 3, -1, 1, 41)),
                          leaf(tu_random(NB_F32, (int64_t[]){3 * C, C}, 2, -0.5, 0.5, 42)),
                          leaf(tu_random(NB_F32, (int64_t[]){C, C}, 2, -0.5, 0.5, 43))};
    nb_tensor *cw = tu_random(NB_F64, (int64_t[]){B, T, T}, 3, -1, 1, 44);
    nb_autocast_begin();
    nb_tensor *l = block_loss(in32, cw);
    nb_autocast_end();
    nb_backward(l, NULL, false);
    /* central differences of the float64 function, one input element at a time */
    for (int i = 0; i < 3; i++) {
        nb_tensor *x64 = nb_to_dtype(in32[i], NB_F64);
        double *xv = nb_tensor_data(x64), *g = tu_values(nb_tensor_get_grad(in32[i]));
        double err = 0, norm = 0;
        for (int64_t j = 0, n = nb_tensor_numel(x64); j < n; j++) {
            double x0 = xv[j], h = 1e-6, f[2];
            for (int sgn = 0; sgn < 2; sgn++) {
                nb_tensor *args[3];
                for (int m = 0; m < 3; m++)
                    args[m] = m == i ? x64 : nb_to_dtype(in32[m], NB_F64);
                xv[j] = x0 + (sgn ? -h : h);
                NB_NO_GRAD { f[sgn] = nb_tensor_item(fd_fn(args, 3, cw)); }
            }
            xv[j] = x0;
            double fd = (f[0] - f[1]) / (2 * h);
            err += (g[j] - fd) * (g[j] - fd), norm += fd * fd;
        }
        free(g);
        ck_assert_msg(sqrt(err / norm) < 2e-2, "input %d: relative error %g vs finite differences", i,
                      sqrt(err / norm));
    }
    nb_scope_end(s);
}
END_TEST

/* ---- 5. regions, recovery, other dtypes ---------------------------------------------------- */
START_TEST(test_nesting_and_misuse)
{
    ck_assert(!nb_is_autocast_enabled());
    nb_autocast_begin();
    nb_autocast_begin();
    ck_assert(nb_is_autocast_enabled());
    nb_autocast_end();
    ck_assert(nb_is_autocast_enabled());
    nb_autocast_end();
    ck_assert(!nb_is_autocast_enabled());
    TU_EXPECT_ERROR("nb_autocast_end", nb_autocast_end());
}
END_TEST

START_TEST(test_recover_turns_autocast_off)
{
    int depth = nb_scope_depth();
    nb_tensor *a = nb_ones(NB_DIMS(2, 3), NB_F32);
    TU_EXPECT_ERROR("nb_matmul", {
        nb_autocast_begin();
        nb_autocast_begin();
        nb_set_grad_enabled(false);
        nb_scope_begin();
        nb_matmul(a, a);
    });
    ck_assert(nb_is_autocast_enabled());
    ck_assert(!nb_is_grad_enabled());
    nb_recover(depth);
    ck_assert(!nb_is_autocast_enabled());
    ck_assert(nb_is_grad_enabled());
    ck_assert_int_eq(nb_scope_depth(), depth);
    TU_EXPECT_ERROR("nb_autocast_end", nb_autocast_end());
    /* and float32 products are float32 again */
    int s = nb_scope_begin();
    nb_tensor *x = tu_random(NB_F32, (int64_t[]){5, 7}, 2, -1, 1, 51);
    nb_tensor *y = tu_random(NB_F32, (int64_t[]){7, 4}, 2, -1, 1, 52);
    nb_tensor *p = nb_matmul(x, y);
    ck_assert(max_abs_diff(p, nb_matmul(rnd(x), rnd(y))) > 0);
    nb_scope_end(s);
    (void)a; /* created in the fixture's scope, which releases it */
}
END_TEST

START_TEST(test_float64_untouched)
{
    int s = nb_scope_begin();
    nb_tensor *a = leaf(tu_random(NB_F64, (int64_t[]){2, 9, 17}, 3, -1, 1, 61));
    nb_tensor *w = leaf(tu_random(NB_F64, (int64_t[]){5, 17}, 2, -1, 1, 62));
    nb_tensor *q = tu_random(NB_F64, (int64_t[]){1, 2, 6, 4}, 4, -1, 1, 63);
    nb_tensor *y0 = nb_linear(a, w, NULL), *m0 = nb_matmul(a, nb_transpose(w, 0, 1));
    nb_tensor *s0 = nb_scaled_dot_product_attention(q, q, q, NULL, 0, true, 0, NULL);
    nb_autocast_begin();
    nb_tensor *y1 = nb_linear(a, w, NULL), *m1 = nb_matmul(a, nb_transpose(w, 0, 1));
    nb_tensor *s1 = nb_scaled_dot_product_attention(q, q, q, NULL, 0, true, 0, NULL);
    nb_autocast_end();
    tu_assert_close(y1, y0, 0, 0);
    tu_assert_close(m1, m0, 0, 0);
    tu_assert_close(s1, s0, 0, 0);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_backward_follows_the_node)
{
    /* recorded outside autocast, backward called inside a region: float32 products */
    int s = nb_scope_begin();
    nb_tensor *x = leaf(tu_random(NB_F32, (int64_t[]){6, 20}, 2, -1, 1, 71));
    nb_tensor *w = leaf(tu_random(NB_F32, (int64_t[]){9, 20}, 2, -1, 1, 72));
    nb_tensor *x2 = leaf(nb_clone(nb_detach(x))), *w2 = leaf(nb_clone(nb_detach(w)));
    nb_tensor *cw = tu_random(NB_F32, (int64_t[]){6, 9}, 2, -1, 1, 73);
    nb_tensor *l1 = weighted_sum(nb_matmul(nb_linear(x, w, NULL), nb_ones(NB_DIMS(9, 9), NB_F32)), cw);
    nb_tensor *l2 = weighted_sum(nb_matmul(nb_linear(x2, w2, NULL), nb_ones(NB_DIMS(9, 9), NB_F32)), cw);
    nb_autocast_begin();
    nb_backward(l1, NULL, false);
    ck_assert(nb_is_autocast_enabled()); /* restored after the backward */
    nb_autocast_end();
    nb_backward(l2, NULL, false);
    assert_bits_equal(nb_tensor_get_grad(x), nb_tensor_get_grad(x2), "dx");
    assert_bits_equal(nb_tensor_get_grad(w), nb_tensor_get_grad(w2), "dW");
    nb_scope_end(s);
}
END_TEST

static Suite *autocast_suite(void)
{
    Suite *s = suite_create("autocast");
    TCase *tc = tcase_create("autocast");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, tu_scope_setup, tu_scope_teardown);
    tcase_add_test(tc, test_round_rules);
    tcase_add_test(tc, test_round_random_bits);
    tcase_add_test(tc, test_round_in_gemm_panels);
    tcase_add_loop_test(tc, test_matmul_exact, 0, (int)(sizeof k_mm / sizeof *k_mm));
    tcase_add_loop_test(tc, test_matmul_instruction_kernels, 0, 3); /* the packed cases of k_mm */
    tcase_add_test(tc, test_linear_exact);
    tcase_add_loop_test(tc, test_sdpa_composed, 0, 2);
    tcase_add_loop_test(tc, test_sdpa_mask_dropout, 0, (int)(sizeof k_sdpa_m / sizeof *k_sdpa_m));
    tcase_add_test(tc, test_grads_vs_float64);
    tcase_add_test(tc, test_gradcheck_bf16_tolerance);
    tcase_add_test(tc, test_nesting_and_misuse);
    tcase_add_test(tc, test_recover_turns_autocast_off);
    tcase_add_test(tc, test_float64_untouched);
    tcase_add_test(tc, test_backward_follows_the_node);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tu_run_suite(autocast_suite()); }
