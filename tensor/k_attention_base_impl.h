/* k_attention_base_impl.h — the per-type basics of k_attention.c: the portable 16-byte vector
 * operations av_<T>_<op> (op: loadu, storeu, set1, setzero, fmadd, mul, add: the AVX
 * intrinsics' names, so the product kernel is written once over them; fmadd is a * b + c), the
 * product-kernel type mm_fn_<T> and the element-wise transpose_<T>. Included once per type with
 * NB_T (float, double) defined. No include guard. */
#define NB_AV NB__PASTE(av_, NB_T)
#define NB_AVOP(op) NB__PASTE3(av_, NB_T, _##op)
typedef NB_T NB_AV __attribute__((vector_size(16)));
static inline NB_AV NB_AVOP(loadu)(const NB_T *p)
{
    NB_AV v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void NB_AVOP(storeu)(NB_T *p, NB_AV v) { memcpy(p, &v, sizeof v); }
static inline NB_AV NB_AVOP(set1)(NB_T x)
{
    NB_AV v = {0};
    for (int i = 0; i < (int)(sizeof v / sizeof(NB_T)); i++)
        v[i] = x;
    return v;
}
static inline NB_AV NB_AVOP(setzero)(void) { return NB_AVOP(set1)(0); }
static inline NB_AV NB_AVOP(fmadd)(NB_AV a, NB_AV b, NB_AV c) { return a * b + c; }
static inline NB_AV NB_AVOP(mul)(NB_AV a, NB_AV b) { return a * b; }
static inline NB_AV NB_AVOP(add)(NB_AV a, NB_AV b) { return a + b; }
#undef NB_AV
#undef NB_AVOP

typedef void (*NB__PASTE(mm_fn_, NB_T))(int64_t, int64_t, int64_t, NB_T, const NB_T *, int64_t,
                                        int64_t, const NB_T *, int64_t, bool, NB_T *, int64_t);

/* dst[d*ld + j] = src[j*rs + d]: the D x n transpose of n rows of D (a pair's K or V); columns
 * [n, ld) are zero. */
static void NB__PASTE(transpose_, NB_T)(int64_t n, int64_t D, const NB_T *src, int64_t rs,
                                        NB_T *dst, int64_t ld)
{
    for (int64_t j0 = 0; j0 < n; j0 += 8) { /* 8 source rows at a time: short write runs */
        int64_t jn = n - j0 < 8 ? n - j0 : 8;
        for (int64_t d = 0; d < D; d++)
            for (int64_t j = j0; j < j0 + jn; j++)
                dst[d * ld + j] = src[j * rs + d];
    }
    for (int64_t d = 0; d < D && n < ld; d++)
        memset(dst + d * ld + n, 0, (size_t)(ld - n) * sizeof(NB_T));
}
