/* k_attention_rows_impl.h — the softmax-row kernels of k_attention.c for one (element type,
 * instruction set), included once per pair with
 *   NB_T      element type (float, double)      NB_U    unsigned integer of its width
 *   NB_VB     vector bytes (16, 32)             NB_TGT  target attribute (or nothing)
 *   NB_KSET   the set's name (generic, avx2)    NB_FMA(a, b, c)  a * b + c on vectors
 * defined; defines the vector types rv_<KSET>_<T>, ru_<KSET>_<T> and rload, rsum, rexp,
 * softmax, exps, ds _<KSET>_<T>; undefines all of the above but NB_T. No include guard.
 *
 * Row ii of a block of r rows (stride ld) has lim = min(base + ii, n) visible keys; entries
 * [lim, n) are set to 0. Sums are accumulated in double (4 partial sums, fixed order).
 *   softmax: s = exp(s - max) / sum, lse[ii] = max + log(sum)           (forward)
 *            (a row whose max is -inf, every key masked: s = 0, lse[ii] = -inf)
 *   exps:    s = exp(s - lse[ii])                                        (backward: P again)
 *            (lse[ii] = -inf: s = 0)
 *   ds:      d = s * (d - sum_j s*d)                                     (backward: dS from P, dP) */
#define NB_FN(name) NB__PASTE4(name, _, NB_KSET, NB__PASTE(_, NB_T))
#define NB_V NB__PASTE4(rv_, NB_KSET, _, NB_T)
#define NB_RU NB__PASTE4(ru_, NB_KSET, _, NB_T)
#define NB_VL ((int)(NB_VB / sizeof(NB_T)))
typedef NB_T NB_V __attribute__((vector_size(NB_VB)));
typedef NB_U NB_RU __attribute__((vector_size(NB_VB)));

NB_TGT static inline NB_V NB_FN(rload)(const NB_T *p)
{
    NB_V v;
    memcpy(&v, p, sizeof v);
    return v;
}
NB_TGT static inline double NB_FN(rsum)(const NB_T *s, const NB_T *d, int64_t n)
{
    double a[4] = {0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 4 <= n; j += 4)
        for (int l = 0; l < 4; l++)
            a[l] += d ? (double)s[j + l] * (double)d[j + l] : (double)s[j + l];
    for (; j < n; j++)
        a[0] += d ? (double)s[j] * (double)d[j] : (double)s[j];
    return (a[0] + a[1]) + (a[2] + a[3]);
}
/* s[0, lim) = exp(s - sh) */
NB_TGT static inline void NB_FN(rexp)(NB_T *s, int64_t lim, NB_T sh)
{
    int64_t j = 0;
    for (; j + NB_VL <= lim; j += NB_VL) {
        NB_V x = NB_FN(rload)(s + j) - sh;
#include "k_attention_vexp_impl.h"
        memcpy(s + j, &x, sizeof x);
    }
    if (j < lim) { /* the tail through a zero-padded vector: the same arithmetic */
        NB_T buf[NB_VL];
        memset(buf, 0, sizeof buf);
        memcpy(buf, s + j, (size_t)(lim - j) * sizeof(NB_T));
        NB_V x = NB_FN(rload)(buf) - sh;
#include "k_attention_vexp_impl.h"
        memcpy(s + j, &x, (size_t)(lim - j) * sizeof(NB_T));
    }
}
NB_TGT static void NB_FN(softmax)(NB_T *S, int64_t r, int64_t ld, int64_t n, int64_t base,
                                  double *lse)
{
    for (int64_t ii = 0; ii < r; ii++) {
        NB_T *s = S + ii * ld, m = -INFINITY;
        int64_t lim = base + ii < n ? base + ii : n, j = 0;
        if (lim >= NB_VL) {
            NB_V mv = NB_FN(rload)(s);
            for (j = NB_VL; j + NB_VL <= lim; j += NB_VL) {
                NB_V x = NB_FN(rload)(s + j);
                NB_RU gt = (NB_RU)(x > mv);
                mv = (NB_V)(((NB_RU)x & gt) | ((NB_RU)mv & ~gt));
            }
            for (int l = 0; l < NB_VL; l++)
                m = mv[l] > m ? mv[l] : m;
        }
        for (; j < lim; j++)
            m = s[j] > m ? s[j] : m;
        if (m == -INFINITY) { /* no key takes part (a mask's empty row): P = 0 */
            memset(s, 0, (size_t)n * sizeof(NB_T));
            lse[ii] = -INFINITY;
            continue;
        }
        NB_FN(rexp)(s, lim, m);
        double sum = NB_FN(rsum)(s, NULL, lim);
        NB_T inv = (NB_T)(1.0 / sum);
        for (j = 0; j + NB_VL <= lim; j += NB_VL) {
            NB_V x = NB_FN(rload)(s + j) * inv;
            memcpy(s + j, &x, sizeof x);
        }
        for (; j < lim; j++)
            s[j] *= inv;
        memset(s + lim, 0, (size_t)(n - lim) * sizeof(NB_T));
        lse[ii] = (double)m + log(sum);
    }
}
NB_TGT static void NB_FN(exps)(NB_T *S, int64_t r, int64_t ld, int64_t n, int64_t base,
                               const double *lse)
{
    for (int64_t ii = 0; ii < r; ii++) {
        int64_t lim = base + ii < n ? base + ii : n;
        if (lse[ii] == -INFINITY) { /* the forward's empty row */
            memset(S + ii * ld, 0, (size_t)n * sizeof(NB_T));
            continue;
        }
        NB_FN(rexp)(S + ii * ld, lim, (NB_T)lse[ii]);
        memset(S + ii * ld + lim, 0, (size_t)(n - lim) * sizeof(NB_T));
    }
}
NB_TGT static void NB_FN(ds)(const NB_T *S, NB_T *dP, int64_t r, int64_t ld, int64_t n,
                             int64_t base)
{
    for (int64_t ii = 0; ii < r; ii++) {
        const NB_T *s = S + ii * ld;
        NB_T *d = dP + ii * ld;
        int64_t lim = base + ii < n ? base + ii : n, j = 0;
        NB_T di = (NB_T)NB_FN(rsum)(s, d, lim);
        for (; j + NB_VL <= lim; j += NB_VL) {
            NB_V x = NB_FN(rload)(s + j) * (NB_FN(rload)(d + j) - di);
            memcpy(d + j, &x, sizeof x);
        }
        for (; j < lim; j++)
            d[j] = s[j] * (d[j] - di);
        memset(d + lim, 0, (size_t)(n - lim) * sizeof(NB_T));
    }
}

#undef NB_FN
#undef NB_V
#undef NB_RU
#undef NB_VL
#undef NB_U
#undef NB_VB
#undef NB_TGT
#undef NB_KSET
#undef NB_FMA
