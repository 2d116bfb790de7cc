/* k_gemm_scalar_impl.h — the scalar pieces of k_gemm.c for one element type: the edge-tile
 * write-back and the portable 16-byte vector operations (the test oracle is tests/testutil.c's
 * tu_gemm_oracle). Included by k_gemm.c once per type with NB_T (float, double) and NB_SFX (f32,
 * f64) defined; defines tile_store_<T>, the vector type gv_<T> and gv_<T>_<op> for op in loadu,
 * storeu, set1, setzero, fmadd, mul, add (the AVX intrinsics' names, so the micro-kernel is
 * written once over them; no FMA contraction: fmadd is a * b + c). No include guard. */

/* ==== edge-tile write-back (scalar; same operations as the vector write-back) ================= */
/* c[i][j] = alpha*t[i][j] + beta*c[i][j] as: r = t (*alpha unless 1); c = r (beta 0, C unread),
 * else c = (c (*beta unless 1)) + r. */
static void NB__PASTE(tile_store_, NB_T)(const NB_T *t, int ldt, NB_T *c, int64_t ldc, int mr,
                                         int nr, NB_T alpha, NB_T beta)
{
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            NB_T r = t[i * ldt + j];
            if (alpha != 1)
                r = r * alpha;
            NB_T *cp = c + i * ldc + j;
            if (beta == 0) {
                *cp = r;
            } else {
                NB_T o = *cp;
                if (beta != 1)
                    o = o * beta;
                *cp = o + r;
            }
        }
}

/* ==== generic: GCC vector extensions (16-byte vectors: SSE2 / NEON), no FMA contraction ===== */
#define NB_GV NB__PASTE(gv_, NB_T)
#define NB_GVOP(op) NB__PASTE3(gv_, NB_T, _##op)
typedef NB_T NB_GV __attribute__((vector_size(16)));
static inline NB_GV NB_GVOP(loadu)(const NB_T *p)
{
    NB_GV v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void NB_GVOP(storeu)(NB_T *p, NB_GV v) { memcpy(p, &v, sizeof v); }
static inline NB_GV NB_GVOP(set1)(NB_T x)
{
    NB_GV v;
    for (int i = 0; i < (int)(sizeof v / sizeof(NB_T)); i++)
        v[i] = x;
    return v;
}
static inline NB_GV NB_GVOP(setzero)(void) { return NB_GVOP(set1)(0); }
static inline NB_GV NB_GVOP(fmadd)(NB_GV a, NB_GV b, NB_GV c) { return a * b + c; }
static inline NB_GV NB_GVOP(mul)(NB_GV a, NB_GV b) { return a * b; }
static inline NB_GV NB_GVOP(add)(NB_GV a, NB_GV b) { return a + b; }
#undef NB_GV
#undef NB_GVOP
