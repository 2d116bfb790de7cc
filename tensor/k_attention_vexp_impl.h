/* k_attention_vexp_impl.h — a statement, not a function: x = exp(x) on the vector x of the
 * enclosing scope, included by the rexp kernel of k_attention_rows_impl.h (where NB_T, NB_V,
 * NB_RU and NB_FMA are defined). A fragment rather than an inline function so the compiled code
 * stays the one the statement macro gave (as an inline function, with the panels of
 * k_attention_panel_impl.h as inline functions too, rexp and mm compiled differently and
 * attention forward+backward took 4% more CPU time: paired median of 20 A/B runs). No include
 * guard.
 *
 * x = n ln2 + r (Cody-Waite split of ln2, n rounded with the 1.5*2^mant trick), exp(r) by a
 * polynomial (float: Cephes expf, ~1 ulp; double: Taylor to r^13, error < 1e-17 on
 * |r| <= ln2/2), times 2^n built in the exponent bits. Arguments are clamped to the normal range
 * (below it the result is ~1e-38 / ~1e-308 instead of 0); NaN stays NaN. */
{
    const bool f = sizeof(NB_T) == 4;
    const NB_T lo = f ? (NB_T)-87.3 : (NB_T)-708.3, hi = f ? (NB_T)88.3 : (NB_T)709.0;
    const NB_T mg = f ? (NB_T)12582912.0 : (NB_T)6755399441055744.0;
    const NB_T c1 = f ? (NB_T)0.693359375 : (NB_T)6.93145751953125E-1;
    const NB_T c2 = f ? (NB_T)-2.12194440e-4 : (NB_T)1.42860682030941723212E-6;
    NB_RU lm = (NB_RU)(x < lo), hm = (NB_RU)(x > hi);
    x = (NB_V)(((NB_RU)x & ~(lm | hm)) | ((NB_RU)((NB_V){0} + lo) & lm) |
               ((NB_RU)((NB_V){0} + hi) & hm));
    NB_V t = x * (NB_T)1.4426950408889634 + mg, n = t - mg;
    NB_RU e = (NB_RU)t - (NB_RU)((NB_V){0} + mg);
    NB_V r = x - n * c1 - n * c2, p = (NB_V){0} + NB__PASTE(k_exp_coef_, NB_T)[0];
#pragma GCC unroll 14
    for (int c = 1; c < (int)(sizeof NB__PASTE(k_exp_coef_, NB_T) / sizeof(NB_T)); c++)
        p = NB_FMA(p, r, (NB_V){0} + NB__PASTE(k_exp_coef_, NB_T)[c]);
    x = p * (NB_V)((e + (f ? 127u : 1023u)) << (f ? 23 : 52));
}
